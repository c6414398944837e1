#!/bin/sh
# tests/err/run.sh KILN — error tests: each NAME.case holds a command line
# (`kiln ARGS`, where $OUT is a fresh temporary directory), the exit status
# kiln must return, and the exact message it must print on stderr. A failed
# run must also leave nothing in $OUT (no half-written outputs).
# Regenerate the bad inputs with make_cases.py; write a new case by hand.
set -u
kiln=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
cd "$(dirname "$0")" || exit 2
pass=0 fail=0
for case in *.case; do
    name=${case%.case}
    out=$(mktemp -d) && rmdir "$out"   # must not exist: kiln creates it
    args=$(sed -n '1s/^kiln //p' "$case" | sed "s|\$OUT|$out|g")
    want_rc=$(sed -n '2s/^exit //p' "$case")
    want=$(tail -n +3 "$case")
    # shellcheck disable=SC2086
    got=$("$kiln" $args 2>&1 >/dev/null)
    rc=$?
    problem=""
    [ "$rc" = "$want_rc" ] || problem="exit status $rc, expected $want_rc"
    [ "$got" = "$want" ] || problem="${problem:+$problem; }message differs"
    if [ "$rc" != 0 ] && [ -d "$out" ] && [ -n "$(ls -A "$out")" ]; then
        problem="${problem:+$problem; }files left in the output directory: $(ls -A "$out")"
    fi
    rm -rf "$out"
    if [ -z "$problem" ]; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL $name: $problem"
        if [ "$got" != "$want" ]; then
            echo "  expected: $want" | head -5
            echo "  got:      $got" | head -5
        fi
    fi
done
echo "err: $pass passed, $fail failed"
[ "$fail" = 0 ]
