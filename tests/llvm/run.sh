#!/bin/sh
# tests/llvm/run.sh KILN NPYCMP — the LLVM backend's own checks, on this x86
# machine (samples end to end are in tests/e2e, paths llvm-exe/llvm-aarch64):
#   - the SIMD the emitted assembly of a MatMul uses, per --cpu / --target
#   - deterministic .ll and .o bytes
#   - an object exports only the NAME_ ABI symbols (runtime/kiln_model.h)
#   - a library runs through `kiln run LIB.so`, bit-identical to the interpreter
#   - `kiln run MODEL --backend llvm` (the JIT) likewise, and with --shape
#     binding a symbolic batch (vit-dynbatch at batch 1 and 3)
#   - one-line errors for a bad --cpu, --target, --emit, link failure; nothing
#     left behind on failure
set -u
KILN=$1
NPYCMP=$2
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
T=$(mktemp -d /tmp/kiln-llvm-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0

ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
# check NAME COMMAND...: the command must succeed
check() { name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }
count() { grep -cE "$1" "$2" || true; }

MM=$HERE/matmul.kir
asm() { "$KILN" compile "$MM" --backend llvm --quiet -o "$T/$1.s" $2; }

# ---- SIMD per CPU -------------------------------------------------------------
if asm v4 "--cpu x86-64-v4"; then
  check "x86-64-v4: vfmadd*ps on zmm" test "$(count 'vfmadd[0-9]+ps.*zmm' "$T/v4.s")" -gt 0
else bad "x86-64-v4: compile"; fi
for cpu in haswell x86-64-v3; do
  if asm "$cpu" "--cpu $cpu"; then
    check "$cpu: vfmadd*ps on ymm" test "$(count 'vfmadd[0-9]+ps.*ymm' "$T/$cpu.s")" -gt 0
    check "$cpu: no zmm" test "$(count 'zmm' "$T/$cpu.s")" -eq 0
  else bad "$cpu: compile"; fi
done
if asm base "--cpu x86-64"; then
  check "x86-64: no FMA, no ymm" test "$(count 'vfmadd|ymm|zmm' "$T/base.s")" -eq 0
else bad "x86-64: compile"; fi
if asm a64 "--target aarch64"; then
  check "aarch64: fmla on v*.4s" test "$(count 'fmla[[:space:]]+v[0-9]+\.4s' "$T/a64.s")" -gt 0
else bad "aarch64: compile"; fi
# the .s extension picks asm, .ll IR with the CPU on every function
if "$KILN" compile "$MM" --backend llvm --quiet --cpu haswell -o "$T/mm.ll"; then
  check ".ll: target-cpu on every definition" test "$(count '^define' "$T/mm.ll")" -eq \
    "$(grep '^define' "$T/mm.ll" | sed 's/.*#\([0-9]*\).*/\1/' | while read -r a; do
         grep "^attributes #$a " "$T/mm.ll"; done | count '"target-cpu"="haswell"' -)"
else bad ".ll: compile"; fi

# ---- determinism ----------------------------------------------------------------
FM=$ROOT/samples/fmnist-vit/model.onnx
for ext in ll o; do
  "$KILN" compile "$FM" --backend llvm --quiet --cpu x86-64-v3 --name m -o "$T/a.$ext" &&
  "$KILN" compile "$FM" --backend llvm --quiet --cpu x86-64-v3 --name m -o "$T/b.$ext"
  check "deterministic .$ext" cmp -s "$T/a.$ext" "$T/b.$ext"
done
check "weights in .rodata of the .o" sh -c "objdump -h '$T/a.o' | grep -q rodata"
check ".o exports only m_info, m_profile, m_run, m_run_profiled, m_workspace_size" test \
  "$(nm -g --defined-only "$T/a.o" | awk '{print $3}' | sort | tr '\n' ' ')" = "m_info m_profile m_run m_run_profiled m_workspace_size "

# ---- a library through kiln run LIB.so, against the interpreter --------------------
FFI=$ROOT/tests/ffi
if "$KILN" compile "$FFI/tiny_add.onnx" --backend llvm --quiet -o "$T/libtiny.so"; then
  mkdir -p "$T/lib" "$T/interp"
  "$KILN" run "$T/libtiny.so" -i "$FFI/a_2x3.npy" -i "$FFI/b_2x3.npy" -o "$T/lib" >/dev/null &&
  "$KILN" run "$FFI/tiny_add.onnx" -i "$FFI/a_2x3.npy" -i "$FFI/b_2x3.npy" -o "$T/interp" >/dev/null
  check "kiln run LIB.so equals the interpreter" "$NPYCMP" "$T/lib/y.npy" "$T/interp/y.npy"
else bad "lib: compile"; fi

# ---- kiln run MODEL --backend llvm: compiled in memory (JIT), no files --------
mkdir -p "$T/jit"
"$KILN" run "$FFI/tiny_add.onnx" --backend llvm -i "$FFI/a_2x3.npy" -i "$FFI/b_2x3.npy" -o "$T/jit" >/dev/null
check "JIT equals the interpreter (an Add: bit for bit)" "$NPYCMP" "$T/jit/y.npy" "$T/interp/y.npy"
if command -v strace >/dev/null 2>&1; then
  strace -f -qq -e trace=open,openat,creat,mkdir,mkdirat,rename,renameat,renameat2 -o "$T/trace" \
    "$KILN" run "$FFI/tiny_add.onnx" --backend llvm -i "$FFI/a_2x3.npy" -i "$FFI/b_2x3.npy" >/dev/null
  check "JIT writes no file (strace)" test -z "$(grep -E 'O_WRONLY|O_RDWR|O_CREAT|mkdir|rename|creat\(' \
    "$T/trace" | grep -v '= -1')"
else
  echo "skip JIT writes no file: no strace"
fi
"$KILN" run "$FFI/tiny_add.onnx" --backend llvm -i "$FFI/a_2x3.npy" -i "$FFI/b_2x3.npy" --bench 3 \
  >"$T/jit.out" 2>"$T/jit.err"
check "JIT --bench" grep -q "tiny_add: 3 runs, mean" "$T/jit.err"

# ---- the JIT with --shape: a symbolic batch bound as the interpreter binds it ------
# (samples/zoo/vit-dynbatch: image f32[batch,3,56,56]; inputs at batch 1 and 3
# made from the sample's batch-2 input by dynbatch_inputs.kir; compared with
# the interpreter at the same --shape within the sample's tolerance)
DB=$ROOT/samples/zoo/vit-dynbatch
mkdir -p "$T/db"
if "$KILN" run "$HERE/dynbatch_inputs.kir" -i "$DB/input_0.npy" -o "$T/db" >/dev/null; then
  for b in 1 3; do
    mkdir -p "$T/db/jit$b" "$T/db/interp$b"
    if "$KILN" run "$DB/model.onnx" --backend llvm --shape "image=${b}x3x56x56" -i "$T/db/x$b.npy" \
         -o "$T/db/jit$b" >/dev/null &&
       "$KILN" run "$DB/model.onnx" --shape "image=${b}x3x56x56" -i "$T/db/x$b.npy" -o "$T/db/interp$b" >/dev/null; then
      check "JIT --shape image=${b}x3x56x56 (vit-dynbatch) equals the interpreter (atol 1e-4, rtol 1e-3)" \
        "$NPYCMP" "$T/db/jit$b/logits.npy" "$T/db/interp$b/logits.npy" 1e-4 1e-3
    else bad "vit-dynbatch at batch $b: kiln run"; fi
  done
else bad "dynbatch_inputs.kir: kiln run"; fi

# ---- the token-reduction kernels (runtime/krt_token.c) through the JIT -------------
TK=$HERE/token_ops.kir
mkdir -p "$T/tok-jit" "$T/tok-interp"
if "$KILN" run "$TK" --backend llvm -i "$HERE/token_x.npy" -i "$HERE/token_p.npy" -o "$T/tok-jit" >/dev/null &&
   "$KILN" run "$TK" -i "$HERE/token_x.npy" -i "$HERE/token_p.npy" -o "$T/tok-interp" >/dev/null; then
  for o in y s m ms m2 ms2; do
    check "JIT TokenPrune/TokenMerge output $o equals the interpreter (bit for bit)" \
      "$NPYCMP" "$T/tok-jit/$o.npy" "$T/tok-interp/$o.npy"
  done
else bad "token ops: kiln run"; fi

# ---- fused elementwise chains: the LLVM backend's own vector loops --------------
# (fused_ew.kir: kiln.FusedElementwise through backends/llvm/llvm_fused.c in
# the JIT, against the interpreter's generic kernel and the unfused graph:
# equal values, NaN for NaN; IEEE leaves a NaN's sign to the hardware and
# compilers may commute a product, so NaN bits are not compared)
FE=$HERE/fused_ew.kir
FEI="-i $HERE/few_x.npy -i $HERE/few_z.npy -i $HERE/few_b.npy"
mkdir -p "$T/fe-jit" "$T/fe-interp" "$T/fe-o0"
check "fused_ew.kir: 4 kiln.FusedElementwise at -O2" test "$("$KILN" dump "$FE" | grep -c 'kiln.FusedElementwise')" -eq 4
# shellcheck disable=SC2086
if "$KILN" run "$FE" --backend llvm $FEI -o "$T/fe-jit" >/dev/null &&
   "$KILN" run "$FE" $FEI -o "$T/fe-interp" >/dev/null && "$KILN" run "$FE" -O0 $FEI -o "$T/fe-o0" >/dev/null; then
  if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
    for o in y1 y2 y3 y4; do
      check "JIT fused chain $o equals the interpreter's fused kernel and the unfused graph" /usr/bin/python3 -c "
import numpy as np, sys
a, b, c = (np.load('$T/fe-%s/$o.npy' % d) for d in ('jit', 'interp', 'o0'))
sys.exit(0 if np.array_equal(a, b, equal_nan=True) and np.array_equal(b, c, equal_nan=True) else 1)"
    done
  else
    echo "skip fused chain values: /usr/bin/python3 has no numpy"
  fi
else bad "fused_ew.kir: kiln run"; fi
if "$KILN" compile "$FE" --backend llvm --quiet --cpu x86-64-v4 -o "$T/fe.ll"; then
  check "fused chain: kiln's own <16 x float> loop, not the generic kernel" sh -c \
    "grep -q 'masked.store.v16f32' '$T/fe.ll' && ! grep -q 'fused_ew_run' '$T/fe.ll'"
else bad "fused_ew.kir: compile"; fi

# ---- errors: one line naming what to change, exit 1 or 2, nothing left ----------
# expect NAME STATUS PATTERN COMMAND...
expect() {
  name=$1 want=$2 pat=$3; shift 3
  "$@" >"$T/out" 2>"$T/err"; rc=$?
  if [ "$rc" -eq "$want" ] && grep -q -- "$pat" "$T/err" && [ "$(wc -l <"$T/err")" -le 2 ]; then
    ok "$name"
  else
    bad "$name (status $rc, stderr:)"; cat "$T/err"
  fi
}
expect "bad --cpu" 1 "--cpu 'pentium9': not an x86_64 CPU LLVM knows" \
  "$KILN" compile "$MM" --backend llvm -o "$T/x.o" --cpu pentium9
expect "bad --cpu for aarch64" 1 "--cpu 'haswell': not an aarch64 CPU" \
  "$KILN" compile "$MM" --backend llvm -o "$T/x.o" --target aarch64 --cpu haswell
expect "bad --target" 1 "--target 'sparc': kiln has kernels for x86_64 and aarch64" \
  "$KILN" compile "$MM" --backend llvm -o "$T/x.o" --target sparc
expect "bad triple" 1 "--target 'x86_64-apple-darwin'" \
  "$KILN" compile "$MM" --backend llvm -o "$T/x.o" --target x86_64-apple-darwin
expect "asm needs --backend llvm" 2 "needs --backend llvm" \
  "$KILN" compile "$MM" -o "$T/x.s"
expect "llvm makes no C" 2 "not C sources" \
  "$KILN" compile "$MM" --backend llvm -o "$T/dir/"
expect "unknown backend" 2 "available: c, llvm" \
  "$KILN" compile "$MM" --backend gcc -o "$T/x.o"
expect "JIT: wrong input shape" 1 "input 'a'" \
  "$KILN" run "$FFI/tiny_add.onnx" --backend llvm -i "$FFI/x_3.npy" -i "$FFI/b_2x3.npy"
expect "JIT: symbolic batch without --shape" 1 "bind its dimensions with --shape image=" \
  "$KILN" run "$DB/model.onnx" --backend llvm -i "$DB/input_0.npy"
expect "run: unknown backend" 2 "available: interp, c, llvm" \
  "$KILN" run "$FFI/tiny_add.onnx" --backend jit -i "$FFI/a_2x3.npy" -i "$FFI/b_2x3.npy"
CC=false expect "link failure" 1 "linking with false failed" \
  "$KILN" compile "$MM" --backend llvm -o "$T/fail.so"
check "nothing left after a failed link" test -z "$(ls "$T" | grep '^fail')"

echo "llvm: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
