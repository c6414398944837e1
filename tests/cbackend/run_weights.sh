#!/bin/sh
# run_weights.sh KILN NPYCMP ROOT — `kiln compile --weights file`.
#
#   1. samples/fmnist-vit compiled to an executable with the weights inline
#      and with --weights file: the same outputs, bit for bit; the weights
#      file is found beside the executable from any directory, or given
#      with --weights PATH;
#   2. its generated sources (no NAME_weights.c) compile clean with -std=c99
#      -Wall -Wextra -Werror -pedantic under gcc and clang-19; compiling
#      again gives the same NAME.weights and sources;
#   3. a weights file with one flipped bit, truncated, padded, a bare
#      header, zeros, another model's, or missing: exit 1, a message naming
#      the file and what is wrong, and no output written;
#   4. --emit lib and obj write NAME.weights beside the artifact; a failed
#      compile (CC=false) leaves neither behind; --backend llvm refuses.
# Exit status: the number of failures.
set -u
kiln=$1
npycmp=$2
root=$(cd "$3" && pwd)
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
sample=$root/samples/fmnist-vit
in=$sample/input_0.npy
golden=$root/tests/cbackend/golden

# 1. inline vs file
"$kiln" compile "$sample/model.onnx" -o "$tmp/inline/fm" --quiet || bad "compile inline"
"$kiln" compile "$sample/model.onnx" -o "$tmp/file/fm" --weights file --quiet || bad "compile --weights file"
if [ -f "$tmp/file/fm.weights" ] && [ -x "$tmp/file/fm" ]; then ok; else bad "no fm + fm.weights"; ls "$tmp/file"; fi
"$tmp/inline/fm" -i "$in" -o "$tmp/out_inline" || bad "inline executable"
(cd / && "$tmp/file/fm" -i "$in" -o "$tmp/out_file") || bad "executable with fm.weights beside it, run from /"
if "$npycmp" "$tmp"/out_file/*.npy "$tmp"/out_inline/*.npy; then ok; else bad "--weights file changes the outputs"; fi
mv "$tmp/file/fm.weights" "$tmp/moved.weights"
if "$tmp/file/fm" -i "$in" -o "$tmp/out_moved" --weights "$tmp/moved.weights" &&
	"$npycmp" "$tmp"/out_moved/*.npy "$tmp"/out_inline/*.npy; then ok; else bad "--weights PATH"; fi

# 2. sources: strict warnings, determinism
"$kiln" compile "$sample/model.onnx" -o "$tmp/src/fm" --emit c --weights file --testbench --quiet || bad "--emit c"
"$kiln" compile "$sample/model.onnx" -o "$tmp/src2/fm" --emit c --weights file --testbench --quiet
if [ -f "$tmp/src/fm/fm.weights" ] && [ ! -e "$tmp/src/fm/fm_weights.c" ] &&
	! grep -q fm_weights "$tmp/src/fm/Makefile"; then ok; else bad "--emit c: fm.weights, no fm_weights.c"; fi
if diff -r "$tmp/src/fm" "$tmp/src2/fm" >/dev/null; then ok; else bad "--weights file is not deterministic"; fi
if cmp -s "$tmp/src/fm/fm.weights" "$tmp/moved.weights"; then ok; else bad "--emit c and --emit exe weights differ"; fi
for cc in gcc clang-19; do
	command -v $cc >/dev/null 2>&1 || continue
	if $cc -std=c99 -Wall -Wextra -Werror -pedantic -O2 -fsyntax-only -I"$tmp/src/fm" \
		"$tmp/src/fm/fm.c" "$tmp/src/fm/main.c" 2>"$tmp/warn"; then ok; else bad "warnings under $cc"; cat "$tmp/warn"; fi
done

# 3. bad weights files
"$kiln" compile "$golden/linear.kir" -o "$tmp/other/linear.c" --weights file --quiet || bad "compile linear.kir"
/usr/bin/python3 - "$tmp/moved.weights" "$tmp" <<'PY'
import sys
src, out = sys.argv[1], sys.argv[2]
d = bytearray(open(src, 'rb').read())
f = bytearray(d); f[len(d) // 2] ^= 0x10
open(out + '/flip.weights', 'wb').write(f)
open(out + '/trunc.weights', 'wb').write(d[:len(d) - 64])
open(out + '/pad.weights', 'wb').write(d + b'\0')
open(out + '/header.weights', 'wb').write(d[:64])
open(out + '/zeros.weights', 'wb').write(bytes(len(d)))
PY
check_bad() {  # check_bad FILE MESSAGE
	if "$tmp/file/fm" -i "$in" -o "$tmp/out_bad" --weights "$1" >"$tmp/out" 2>"$tmp/err"; then
		bad "$1 accepted"
	elif grep -q "$1: the weights file $2" "$tmp/err" && grep -q "pass the fm.weights" "$tmp/err"; then ok
	else bad "$1: message"; cat "$tmp/err"; fi
	if [ -e "$tmp/out_bad" ]; then bad "$1: outputs written"; rm -rf "$tmp/out_bad"; else ok; fi
}
check_bad "$tmp/flip.weights" "is corrupted"
check_bad "$tmp/trunc.weights" "is truncated"
check_bad "$tmp/pad.weights" "is truncated or has bytes after its end"
check_bad "$tmp/header.weights" "is truncated"
check_bad "$tmp/zeros.weights" "is not a weights file written by kiln"
check_bad "$tmp/other/linear/linear.weights" "holds the weights of another model"
check_bad "$tmp/missing.weights" "cannot be opened: No such file"
if (cd "$tmp" && "$tmp/file/fm" -i "$in" >/dev/null 2>"$tmp/err"); then bad "ran without fm.weights beside it"
elif grep -q "$tmp/file/fm.weights: the weights file cannot be opened" "$tmp/err"; then ok
else bad "default path message"; cat "$tmp/err"; fi

# 4. lib, obj, failures
if "$kiln" compile "$sample/model.onnx" -o "$tmp/lib/libfm.so" --name fm --weights file --quiet &&
	[ -f "$tmp/lib/libfm.so" ] && cmp -s "$tmp/lib/fm.weights" "$tmp/moved.weights" &&
	nm -D --defined-only "$tmp/lib/libfm.so" | grep -q " T fm_load_weights$"; then ok; else bad "--emit lib"; fi
if "$kiln" compile "$sample/model.onnx" -o "$tmp/obj/fm.o" --weights file --quiet &&
	[ -f "$tmp/obj/fm.weights" ]; then ok; else bad "--emit obj"; fi
if CC=false "$kiln" compile "$sample/model.onnx" -o "$tmp/fail/fm" --weights file --quiet 2>/dev/null; then
	bad "CC=false succeeded"
elif [ -z "$(ls -A "$tmp/fail")" ]; then ok; else bad "a failed compile left: $(ls -A "$tmp/fail")"; fi
if "$kiln" compile "$sample/model.onnx" -o "$tmp/llvm/fm" --backend llvm --weights file 2>"$tmp/err"; then
	bad "--backend llvm --weights file accepted"
elif grep -q "weights file is for the C backend" "$tmp/err"; then ok; else bad "llvm message"; cat "$tmp/err"; fi

echo "weights: $pass passed, $fail failed"
exit "$fail"
