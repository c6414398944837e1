#!/bin/sh
# run_golden.sh KILN DIR — the C backend's golden and build tests.
#
# X.kir with X.kir.err: `kiln compile X.kir -o TMP/X --emit c` fails, its
# stderr followed by "exit N" is X.kir.err, and no X directory is left.
#
# For each other DIR/X.kir (with extra `kiln compile` arguments in X.kir.args):
#   1. `kiln compile X.kir -o TMP/X --emit c --testbench` writes exactly the
#      files in DIR/X.expected/ (X.c, X.h, X_weights.c, X_weights_hex.h, X_weights.bin,
#      main.c, Makefile; the runtime files are copies and are not compared);
#   2. compiling it again gives a byte-identical directory (determinism);
#   3. the generated files compile clean with -std=c99 -Wall -Wextra
#      -Werror -pedantic under gcc and, when installed, clang-19, both with
#      the hex weights and with -DKILN_WEIGHTS_BIN (.incbin of X_weights.bin,
#      assembled for real);
#   4. the directory builds alone (cc -std=c99 -O0 *.c -lm -lpthread: the
#      hex) and with its Makefile (the .incbin), and both executables, run
#      on X.kir.npy, print what `kiln run` prints.
#
# To accept new output after a deliberate change:
#   KILN_UPDATE_GOLDEN=1 sh tests/cbackend/run_golden.sh build/kiln tests/cbackend/golden
# Exit status: the number of failures.
set -u
kiln=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
cd "${2:-$(dirname "$0")/golden}" || exit 1
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

strict() {  # strict CC DIR NAME: the generated files, warnings as errors
	"$1" -std=c99 -Wall -Wextra -Werror -pedantic -O2 -fsyntax-only \
		-I"$2" "$2/$3.c" "$2/${3}_weights.c" "$2/main.c" 2>"$tmp/warn" ||
		{ cat "$tmp/warn"; return 1; }
	(cd "$2" && "$1" -std=c99 -Wall -Wextra -Werror -pedantic -O2 -DKILN_WEIGHTS_BIN="\"${3}_weights.bin\"" \
		-c "${3}_weights.c" -o "$tmp/incbin.o") 2>"$tmp/warn" || { cat "$tmp/warn"; return 1; }
}

for t in *.kir; do
	x=${t%.kir}
	args=
	[ -f "$t.args" ] && args=$(cat "$t.args")
	if [ -f "$t.err" ]; then
		# shellcheck disable=SC2086
		"$kiln" compile "$t" -o "$tmp/$x" --emit c $args >"$tmp/out" 2>"$tmp/err"
		echo "exit $?" >>"$tmp/err"
		[ "${KILN_UPDATE_GOLDEN:-}" = 1 ] && cp "$tmp/err" "$t.err"
		if cmp -s "$t.err" "$tmp/err"; then ok; else bad "$t: diagnostic"; diff -u "$t.err" "$tmp/err"; fi
		if [ ! -e "$tmp/$x" ] && ! ls "$tmp" | grep -q "^$x\."; then ok; else bad "$t: left output behind"; fi
		continue
	fi
	# shellcheck disable=SC2086
	"$kiln" compile "$t" -o "$tmp/$x" --emit c --testbench --quiet $args 2>"$tmp/err" ||
		{ bad "$t: kiln compile failed"; cat "$tmp/err"; continue; }
	if [ "${KILN_UPDATE_GOLDEN:-}" = 1 ]; then
		mkdir -p "$x.expected"
		for f in "$x.c" "$x.h" "${x}_weights.c" "${x}_weights_hex.h" "${x}_weights.bin" main.c Makefile; do
			cp "$tmp/$x/$f" "$x.expected/$f"
		done
		echo "updated $x.expected"
	fi
	for f in "$x.c" "$x.h" "${x}_weights.c" "${x}_weights_hex.h" "${x}_weights.bin" main.c Makefile; do
		if cmp -s "$x.expected/$f" "$tmp/$x/$f"; then ok; else
			bad "$t: $f differs from $x.expected/$f"
			diff -u "$x.expected/$f" "$tmp/$x/$f" | head -30
		fi
	done
	# shellcheck disable=SC2086
	"$kiln" compile "$t" -o "$tmp/again/$x" --emit c --testbench --quiet $args 2>/dev/null
	if diff -r "$tmp/$x" "$tmp/again/$x" >/dev/null; then ok; else bad "$t: not deterministic"; fi
	for cc in gcc clang-19; do
		command -v $cc >/dev/null 2>&1 || continue
		if strict $cc "$tmp/$x" "$x"; then ok; else bad "$t: warnings under $cc"; fi
	done
	if (cd "$tmp/$x" && cc -std=c99 -O0 -o prog ./*.c -lm -lpthread 2>"$tmp/build"); then ok; else
		bad "$t: the directory does not build alone"; cat "$tmp/build"; continue
	fi
	in=
	[ -f "$t.npy" ] && in="-i $t.npy"
	# shellcheck disable=SC2086
	if "$tmp/$x/prog" $in >"$tmp/out" 2>&1; then ok; else bad "$t: the executable failed"; cat "$tmp/out"; fi
	# shellcheck disable=SC2086
	"$kiln" run "$t" $in >"$tmp/want" 2>&1
	if cmp -s "$tmp/want" "$tmp/out"; then ok; else
		bad "$t: the executable's outputs differ from kiln run's"; diff "$tmp/want" "$tmp/out"
	fi
	rm -f "$tmp/$x"/*.o
	if (cd "$tmp/$x" && make -s "$x" >"$tmp/build" 2>&1) && grep -q incbin "$tmp/$x/${x}_weights.c"; then ok; else
		bad "$t: make does not build it"; cat "$tmp/build"; continue
	fi
	# shellcheck disable=SC2086
	"$tmp/$x/$x" $in >"$tmp/out" 2>&1
	if cmp -s "$tmp/want" "$tmp/out"; then ok; else
		bad "$t: the Makefile's (.incbin) executable's outputs differ from kiln run's"; diff "$tmp/want" "$tmp/out"
	fi
done
# --emit obj and lib: a user's program links the object through outputs.h
# alone; the object and the library export exactly the model's symbols.
if "$kiln" compile outputs.kir -o "$tmp/obj/outputs.o" --quiet 2>"$tmp/err" &&
	cc -std=c11 -I"$tmp/outputs" -o "$tmp/user" outputs_user.c "$tmp/obj/outputs.o" -lm -lpthread &&
	"$tmp/user" >/dev/null; then ok; else bad "outputs.kir: --emit obj"; cat "$tmp/err"; fi
nm -g --defined-only "$tmp/obj/outputs.o" | awk '{print $3}' >"$tmp/syms"
printf 'outputs_info\noutputs_profile\noutputs_run\noutputs_run_profiled\noutputs_workspace_size\n' >"$tmp/want"
if cmp -s "$tmp/want" "$tmp/syms"; then ok; else bad "outputs.o exports more than the model"; cat "$tmp/syms" | head; fi
if "$kiln" compile outputs.kir -o "$tmp/lib/liboutputs.so" --name outputs --quiet &&
	nm -D --defined-only "$tmp/lib/liboutputs.so" | grep -q " T outputs_run$"; then ok; else bad "outputs.kir: --emit lib"; fi

echo "cbackend golden: $pass passed, $fail failed"
exit $fail
