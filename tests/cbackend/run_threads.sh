#!/bin/sh
# run_threads.sh KILN ROOT NPYCMP — a generated model, linked through its
# header alone (tests/cbackend/threads_user.c), run from two threads at once
# with two workspaces: every run equals the one-thread run, byte for byte.
#
# samples/fmnist-vit is compiled to C sources three times (weights inline;
# --weights file with one image shared by both workspaces; --threads 2, each
# workspace with its own pool of 2 threads) and the program is built plain
# (-O2) for each, with ThreadSanitizer (file weights, and the pools) and
# with AddressSanitizer + UBSan (inline weights), each sanitizer only when
# the compiler can link it. A sanitizer report fails the test.
#
# Then the executable of `kiln compile --threads 2`: --threads 1 and 2 write
# the same bytes as the executable compiled without --threads; --threads 3
# is refused. (The LLVM backend's --threads: tests/llvm/threads.sh.)
# Exit status: the number of failures.
set -u
kiln=$1
root=$(cd "$2" && pwd)
npycmp=$3
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
cc=${CC:-cc}
model=$root/samples/fmnist-vit/model.onnx

"$kiln" compile "$model" -o "$tmp/inline/fm" --emit c --quiet || { bad "compile inline"; exit 1; }
"$kiln" compile "$model" -o "$tmp/file/fm" --emit c --weights file --quiet || { bad "compile file"; exit 1; }
"$kiln" compile "$model" -o "$tmp/pool/fm" --emit c --threads 2 --quiet || { bad "compile --threads 2"; exit 1; }

# build FLAVOUR MODE FLAGS...: tmp/FLAVOUR-MODE, the runtime compiled with
# FLAGS too (a sanitizer sees the kernels' accesses, not only the program's),
# once per flavour (both modes copy the same runtime files)
build() {
	flavour=$1 mode=$2
	shift 2
	src=$tmp/$mode/fm
	rt=$tmp/obj-$flavour
	mkdir -p "$rt" "$tmp/obj-$flavour-$mode"
	def=
	[ "$mode" = file ] && def=-DWEIGHTS_FILE
	[ "$mode" = pool ] && def=-DPOOL_THREADS=2
	for f in "$src"/krt_*.c; do
		o=$rt/$(basename "$f" .c).o
		[ -f "$o" ] && continue
		"$cc" -std=c11 -g "$@" -I"$src" -c "$f" -o "$o" 2>>"$tmp/build.log" || return 1
	done
	for f in "$src"/fm*.c; do
		"$cc" -std=c11 -g "$@" -I"$src" -c "$f" -o "$tmp/obj-$flavour-$mode/$(basename "$f" .c).o" \
			2>>"$tmp/build.log" || return 1
	done
	"$cc" -std=c11 -g -Wall -Wextra -Werror -pedantic "$@" -pthread -DMODEL=fm $def -I"$src" \
		-o "$tmp/$flavour-$mode" "$here/threads_user.c" "$tmp/obj-$flavour-$mode"/*.o "$rt"/*.o -lm \
		2>>"$tmp/build.log"
}

# run FLAVOUR MODE RUNS
run() {
	args=$3
	[ "$2" = file ] && args="$tmp/file/fm/fm.weights $3"
	# shellcheck disable=SC2086
	if "$tmp/$1-$2" $args >"$tmp/out" 2>&1 && ! grep -q "Sanitizer" "$tmp/out"; then ok; else
		bad "$1 $2: two threads"; cat "$tmp/out"
	fi
}

can() {  # can FLAGS...: the compiler links and runs a program with FLAGS
	printf 'int main(void) { return 0; }\n' >"$tmp/probe.c"
	"$cc" "$@" -o "$tmp/probe" "$tmp/probe.c" 2>/dev/null && "$tmp/probe"
}

for mode in inline file pool; do
	if build plain "$mode" -O2; then ok; run plain "$mode" 20; else bad "build plain $mode"; cat "$tmp/build.log"; fi
done
if can -fsanitize=thread; then
	if build tsan file -O1 -fsanitize=thread; then
		ok
		TSAN_OPTIONS="halt_on_error=1 exitcode=66" run tsan file 3
	else bad "build tsan"; cat "$tmp/build.log"; fi
	if build tsan pool -O1 -fsanitize=thread; then
		ok
		TSAN_OPTIONS="halt_on_error=1 exitcode=66" run tsan pool 3
	else bad "build tsan pool"; cat "$tmp/build.log"; fi
else
	echo "note: $cc cannot link -fsanitize=thread: the ThreadSanitizer run is skipped"
fi
if can -fsanitize=address,undefined; then
	if build asan inline -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined; then
		ok
		run asan inline 3
	else bad "build asan"; cat "$tmp/build.log"; fi
else
	echo "note: $cc cannot link -fsanitize=address,undefined: the ASan run is skipped"
fi

# the testbench of a --threads 2 executable
in=$root/samples/fmnist-vit/input_0.npy
if "$kiln" compile "$model" -o "$tmp/exe/one" --quiet && "$kiln" compile "$model" -o "$tmp/exe/two" --threads 2 --quiet
then ok; else bad "compile the executables"; fi
"$tmp/exe/one" -i "$in" -o "$tmp/o0" || bad "one-thread executable"
for t in 1 2; do
	if "$tmp/exe/two" -i "$in" -o "$tmp/o$t" --threads $t && "$npycmp" "$tmp"/o$t/*.npy "$tmp"/o0/*.npy; then ok; else
		bad "--threads 2 executable run with --threads $t differs"
	fi
done
if "$tmp/exe/two" -i "$in" --threads 3 2>"$tmp/err"; then bad "--threads 3 accepted"
elif grep -q "not '3'" "$tmp/err"; then ok; else bad "--threads 3 message"; cat "$tmp/err"; fi

echo "threads: $pass passed, $fail failed"
exit "$fail"
