#!/bin/sh
# run.sh KILN [DIR] — kiln's text-IR golden tests, in the style of cproc:
#
#   X.kir + X.kir.expected  `kiln dump X.kir` prints exactly X.kir.expected;
#                           that output is a fixed point of the printer and
#                           parser (dumping it with -O0 gives it again), and
#                           so is saving X.kir with -o (weights in a
#                           sidecar) and dumping the saved file with -O0
#   X.kir + X.kir.dot       `kiln dump --format dot X.kir` prints X.kir.dot
#   X.kir + X.kir.info      `kiln info X.kir` prints X.kir.info
#   X.kir + X.kir.err       `kiln dump X.kir` fails: its stderr followed by
#                           "exit N" is X.kir.err, and stdout is empty
#   X.kir.args              extra arguments for every command (e.g. --shape,
#                           -O0 for tests of the graph as imported)
#
# Tests run inside DIR, so messages name files as "X.kir". Exit status is
# the number of failures (0: all passed).
set -u
kiln=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
cd "${2:-$(dirname "$0")}" || exit 1
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
pass=0
fail=0

# check NAME EXPECTED-FILE ACTUAL-FILE
check() {
	if cmp -s "$2" "$3"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL $1"
		diff -u "$2" "$3" | head -40
	fi
}

for t in *.kir; do
	args=
	[ -f "$t.args" ] && args=$(cat "$t.args")
	if [ -f "$t.err" ]; then
		# shellcheck disable=SC2086
		"$kiln" dump "$t" $args >"$tmp/out" 2>"$tmp/err"
		echo "exit $?" >>"$tmp/err"
		check "$t (diagnostic)" "$t.err" "$tmp/err"
		check "$t (no output on error)" /dev/null "$tmp/out"
		continue
	fi
	# shellcheck disable=SC2086
	"$kiln" dump "$t" $args >"$tmp/out" 2>&1
	check "$t" "$t.expected" "$tmp/out"
	"$kiln" dump -O0 "$tmp/out" >"$tmp/again" 2>&1
	check "$t (round trip)" "$tmp/out" "$tmp/again"
	# shellcheck disable=SC2086
	"$kiln" dump "$t" $args -o "$tmp/saved.kir" >"$tmp/again" 2>&1 &&
		"$kiln" dump -O0 "$tmp/saved.kir" >>"$tmp/again" 2>&1
	check "$t (saved with -o)" "$tmp/out" "$tmp/again"
	for kind in dot info; do
		[ -f "$t.$kind" ] || continue
		if [ $kind = dot ]; then set -- dump --format dot; else set -- info; fi
		# shellcheck disable=SC2086
		"$kiln" "$@" "$t" $args >"$tmp/out" 2>&1
		check "$t ($kind)" "$t.$kind" "$tmp/out"
	done
done
echo "ir golden tests: $pass passed, $fail failed"
exit $fail
