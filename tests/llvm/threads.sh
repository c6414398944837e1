#!/bin/sh
# tests/llvm/threads.sh KILN — `--threads N` through the LLVM backend
# (every sample at --threads 2 is e2e/samples-llvm-exe, path llvm-exe-threads2):
#   - samples/fmnist-vit compiled with --threads 2: the executable at
#     --threads 1, 2 and its default writes the bytes of the executable
#     compiled without --threads; --threads 3 is refused;
#   - the library exports NAME_set_pool, NAME_max_threads and krt_pool_create;
#     `kiln run LIB.so --threads 1|2` writes the same bytes; --threads 3 is
#     refused naming the compiled count;
#   - an object keeps only the ABI's seven NAME_ symbols global;
#   - `kiln run MODEL --backend llvm --threads 2` (the JIT) writes the same bytes;
#   - a pool of 2 starts a thread and --threads 1 none (strace, when installed),
#     for the library and for the JIT;
#   - a kernel error in a split call (Gather, an index out of range) is the
#     one-thread error.
set -u
KILN=$1
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
T=$(mktemp -d /tmp/kiln-llvm-threads.XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
check() { name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }
# same NAME DIR: DIR's outputs are the one-thread executable's, byte for byte
same() { check "$1" cmp "$2/logits.npy" "$T/o_ref/logits.npy"; }

FM=$ROOT/samples/fmnist-vit/model.onnx
IN=$ROOT/samples/fmnist-vit/input_0.npy
llvm() { "$KILN" compile "$FM" --backend llvm --quiet --name fm "$@"; }

# ---- the executable ---------------------------------------------------------------
if llvm -o "$T/one" && llvm -o "$T/two" --threads 2 && "$T/one" -i "$IN" -o "$T/o_ref"; then
  ok "compile and run"
  for t in 1 2; do
    if "$T/two" -i "$IN" -o "$T/o_exe$t" --threads $t; then same "exe --threads $t" "$T/o_exe$t"
    else bad "exe --threads $t"; fi
  done
  if "$T/two" -i "$IN" -o "$T/o_exe"; then same "exe, default threads" "$T/o_exe"; else bad "exe default"; fi
  if "$T/two" -i "$IN" --threads 3 2>"$T/err"; then bad "exe --threads 3 accepted"
  else check "exe --threads 3 refused" grep -q "not '3'" "$T/err"; fi
else bad "compile and run the executables"; fi

# ---- the library, kiln run LIB.so ---------------------------------------------------
if llvm -o "$T/libfm.so" --threads 2; then
  for sym in fm_set_pool fm_max_threads krt_pool_create krt_pool_destroy; do
    check "lib exports $sym" sh -c "nm -D --defined-only '$T/libfm.so' | grep -qw '$sym'"
  done
  for t in 1 2; do
    if "$KILN" run "$T/libfm.so" -i "$IN" -o "$T/o_lib$t" --threads $t 2>"$T/err"; then
      same "kiln run LIB.so --threads $t" "$T/o_lib$t"
    else bad "kiln run LIB.so --threads $t: $(cat "$T/err")"; fi
  done
  "$KILN" run "$T/libfm.so" -i "$IN" --threads 3 >/dev/null 2>"$T/err"
  check "LIB.so --threads 3 refused" grep -q "model 'fm' was compiled with --threads 2: --threads takes 1 to 2, not 3" "$T/err"
else bad "compile the library"; fi

# ---- the object: the ABI's symbols only ----------------------------------------------
if llvm -o "$T/fm.o" --threads 2; then
  nm --defined-only -g "$T/fm.o" | awk '{print $3}' | sort >"$T/syms"
  printf '%s\n' fm_info fm_max_threads fm_profile fm_run fm_run_profiled fm_set_pool fm_workspace_size >"$T/want"
  check "object: only the seven NAME_ symbols global" cmp -s "$T/syms" "$T/want"
else bad "compile the object"; fi

# ---- the JIT ---------------------------------------------------------------------------
for t in 1 2; do
  if "$KILN" run "$FM" --backend llvm --threads $t -i "$IN" -o "$T/o_jit$t" 2>"$T/err"; then
    same "JIT --threads $t" "$T/o_jit$t"
  else bad "JIT --threads $t: $(cat "$T/err")"; fi
done

# ---- threads started (clone with CLONE_THREAD) -------------------------------------------
threads_started() {  # threads_started ARGS...: how many threads `kiln ARGS` started
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace -f -e trace=clone,clone3 \
    -o "$T/strace" "$KILN" "$@" >/dev/null 2>&1 || echo "strace: kiln $* failed" >&2
  grep -c CLONE_THREAD "$T/strace"
}
if command -v strace >/dev/null 2>&1 && strace -o /dev/null true 2>/dev/null; then
  n1=$(threads_started run "$T/libfm.so" -i "$IN" --threads 1)
  n2=$(threads_started run "$T/libfm.so" -i "$IN" --threads 2)
  check "LIB.so: --threads 2 starts a thread ($n2), --threads 1 none ($n1)" test "$n1" = 0 -a "$n2" -ge 1
  n1=$(threads_started run "$FM" --backend llvm -i "$IN" --threads 1)
  n2=$(threads_started run "$FM" --backend llvm -i "$IN" --threads 2)
  check "JIT: --threads 2 starts one thread more than --threads 1 ($n2, $n1)" test "$n2" -eq $((n1 + 1))
else
  echo "note: no working strace: not checking that a pool of 2 starts a thread"
fi

# ---- a kernel error in a split call ----------------------------------------------------------
ERR=$ROOT/tests/err
"$KILN" run "$ERR/gather.onnx" --backend llvm --threads 2 -i "$ERR/x_2x3.npy" -i "$ERR/idx_bad.npy" \
  >/dev/null 2>"$T/err2"
rc2=$?
"$KILN" run "$ERR/gather.onnx" --backend llvm -i "$ERR/x_2x3.npy" -i "$ERR/idx_bad.npy" >/dev/null 2>"$T/err1"
check "index error at --threads 2: exit 1, the one-thread message" \
  sh -c "[ $rc2 = 1 ] && grep -q KILN_RUN_EINDEX '$T/err2' && cmp -s '$T/err1' '$T/err2'"

echo "llvm threads: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
