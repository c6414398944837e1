#!/bin/sh
# run_lib_options.sh KILN NPYCMP ROOT — `kiln run LIB.so` on libraries
# compiled with --weights file and with --threads N.
#
#   1. samples/fmnist-vit as a library with the weights inline (the
#      reference bytes) and with --weights file: `kiln run LIB.so` finds
#      NAME.weights beside the library (run from another directory), or
#      takes --weights PATH; the outputs are the inline library's, bit for
#      bit, also with --bench;
#   2. a missing weights file (beside the library, or given), one with a
#      flipped bit, truncated, zeroed, or another model's: exit 1, one
#      message naming the file and what is wrong, no output written;
#      --weights on a library with its weights compiled in: exit 1;
#      --weights on a model (not a library): exit 2;
#   3. a --threads 2 library run with --threads 1, 2 and the default (2)
#      writes the inline library's bytes; a pool of 2 starts a thread and
#      --threads 1 none (strace, when installed); --threads 3 is refused
#      naming the compiled count; --threads 2 on a library compiled without
#      --threads is refused, --threads 1 runs;
#   4. both at once: --weights file --threads 2.
# Exit status: the number of failures.
set -u
abs() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
kiln=$(abs "$1") npycmp=$(abs "$2")
root=$(cd "$3" && pwd)
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
model=$root/samples/fmnist-vit/model.onnx
in=$root/samples/fmnist-vit/input_0.npy

compile() {  # compile DIR ARGS...: DIR/libfm.so
	d=$1
	shift
	"$kiln" compile "$model" -o "$tmp/$d/libfm.so" --name fm --quiet "$@" 2>"$tmp/err" ||
		{ bad "kiln compile $*: $(cat "$tmp/err")"; return 1; }
}
compile inline
compile file --weights file
compile pool --threads 2
compile both --weights file --threads 2
"$kiln" compile "$root/tests/cbackend/golden/linear.kir" -o "$tmp/other/liblinear.so" --name linear \
	--weights file --quiet || bad "compile linear.kir"
"$kiln" run "$tmp/inline/libfm.so" -i "$in" -o "$tmp/ref" 2>"$tmp/err" || bad "inline library: $(cat "$tmp/err")"

same() {  # same DIR WHAT: DIR/logits.npy is the inline library's
	if "$npycmp" "$1"/*.npy "$tmp"/ref/*.npy >"$tmp/cmp" 2>&1; then ok; else bad "$2: outputs differ: $(cat "$tmp/cmp")"; fi
}

# 1. the weights file beside the library, or --weights PATH
if (cd / && "$kiln" run "$tmp/file/libfm.so" -i "$in" -o "$tmp/o_beside" 2>"$tmp/err"); then
	same "$tmp/o_beside" "fm.weights beside the library, run from /"
else bad "fm.weights beside the library: $(cat "$tmp/err")"; fi
mv "$tmp/file/fm.weights" "$tmp/moved.weights"
if "$kiln" run "$tmp/file/libfm.so" -i "$in" -o "$tmp/o_moved" --weights "$tmp/moved.weights" \
	--bench 2 2>"$tmp/err"; then
	same "$tmp/o_moved" "--weights PATH"
	grep -q '^fm: 2 runs' "$tmp/err" && ok || bad "--bench with a weights file: $(cat "$tmp/err")"
else bad "--weights PATH: $(cat "$tmp/err")"; fi

# 2. bad weights files: exit 1, one message naming the file, nothing written
/usr/bin/python3 - "$tmp/moved.weights" "$tmp" <<'PY'
import sys
src, out = sys.argv[1], sys.argv[2]
d = bytearray(open(src, 'rb').read())
f = bytearray(d); f[len(d) // 2] ^= 0x10
open(out + '/flip.weights', 'wb').write(f)
open(out + '/trunc.weights', 'wb').write(d[:len(d) - 64])
open(out + '/zeros.weights', 'wb').write(bytes(len(d)))
PY
expect() {  # expect STATUS MESSAGE WHAT ARGS...: kiln run ARGS fails so, nothing written
	want=$1 msg=$2 what=$3
	shift 3
	"$kiln" run "$@" -i "$in" -o "$tmp/o_bad" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	# one line (a usage error adds "(see 'kiln run --help')")
	if [ "$rc" = "$want" ] && grep -qF -- "$msg" "$tmp/err" && [ "$(grep -vc "^(see" "$tmp/err")" = 1 ]; then ok
	else bad "$what: exit $rc (want $want), message: $(cat "$tmp/err") (want: $msg)"; fi
	if [ -e "$tmp/o_bad" ]; then bad "$what: outputs written"; rm -rf "$tmp/o_bad"; else ok; fi
}
fix="pass the fm.weights that kiln compile --weights file wrote with"
expect 1 "kiln: $tmp/file/fm.weights: the weights file cannot be opened: No such file or directory; $fix" \
	"no fm.weights beside the library" "$tmp/file/libfm.so"
expect 1 "kiln: $tmp/missing.weights: the weights file cannot be opened: No such file" \
	"--weights of a missing file" "$tmp/file/libfm.so" --weights "$tmp/missing.weights"
expect 1 "kiln: $tmp/flip.weights: the weights file is corrupted" "a flipped bit" \
	"$tmp/file/libfm.so" --weights "$tmp/flip.weights"
expect 1 "kiln: $tmp/trunc.weights: the weights file is truncated" "a truncated file" \
	"$tmp/file/libfm.so" --weights "$tmp/trunc.weights"
expect 1 "kiln: $tmp/zeros.weights: the weights file is not a weights file written by kiln" "zeros" \
	"$tmp/file/libfm.so" --weights "$tmp/zeros.weights"
expect 1 "kiln: $tmp/other/linear.weights: the weights file holds the weights of another model" \
	"another model's weights" "$tmp/file/libfm.so" --weights "$tmp/other/linear.weights"
expect 1 "has its weights compiled in (it was not compiled with --weights file): drop --weights" \
	"--weights on an inline library" "$tmp/inline/libfm.so" --weights "$tmp/moved.weights"
expect 2 "--weights PATH is for a library compiled with --weights file" "--weights on a model" \
	"$model" --weights "$tmp/moved.weights"

# 3. --threads
for t in 1 2 default; do
	arg="--threads $t"
	[ $t = default ] && arg=
	# shellcheck disable=SC2086
	if "$kiln" run "$tmp/pool/libfm.so" -i "$in" -o "$tmp/o_t$t" $arg --bench 2 2>"$tmp/err"; then
		same "$tmp/o_t$t" "--threads 2 library run with --threads $t"
	else bad "--threads 2 library, --threads $t: $(cat "$tmp/err")"; fi
done
if command -v strace >/dev/null 2>&1; then
	# threads started by kiln run: clone with CLONE_THREAD (LeakSanitizer
	# cannot run under ptrace: off for this run in the sanitizer build)
	for t in 1 2; do
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace -f -e trace=clone,clone3 -o "$tmp/strace$t" "$kiln" run "$tmp/pool/libfm.so" -i "$in" \
			--threads $t >/dev/null 2>&1 || bad "strace --threads $t"
		eval "n$t=\$(grep -c CLONE_THREAD \"\$tmp/strace$t\")"
	done
	# shellcheck disable=SC2154
	if [ "$n1" = 0 ] && [ "$n2" -ge 1 ]; then ok; else bad "threads started: --threads 1: $n1, --threads 2: $n2"; fi
else
	echo "note: no strace: not checking that a pool of 2 starts a thread"
fi
expect 1 "kiln: $tmp/pool/libfm.so: model 'fm' was compiled with --threads 2: --threads takes 1 to 2, not 3" \
	"--threads 3 on a --threads 2 library" "$tmp/pool/libfm.so" --threads 3
expect 1 "kiln: $tmp/inline/libfm.so: model 'fm' was compiled without --threads: it runs on one thread" \
	"--threads 2 on a library without a pool" "$tmp/inline/libfm.so" --threads 2
if "$kiln" run "$tmp/inline/libfm.so" -i "$in" -o "$tmp/o_one" --threads 1 2>"$tmp/err"; then
	same "$tmp/o_one" "--threads 1 on a library without a pool"
else bad "--threads 1 on a library without a pool: $(cat "$tmp/err")"; fi

# 4. a weights file and a pool
if (cd "$tmp" && "$kiln" run both/libfm.so -i "$in" -o "$tmp/o_both" --threads 2 2>"$tmp/err"); then
	same "$tmp/o_both" "--weights file --threads 2, relative path"
else bad "--weights file --threads 2: $(cat "$tmp/err")"; fi

echo "lib options: $pass passed, $fail failed"
exit "$fail"
