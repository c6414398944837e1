#!/bin/sh
# tests/err/run.sh KILN — error tests: each NAME.case holds a command line
# (`kiln ARGS`, where $OUT is a fresh temporary directory), the exit status
# kiln must return, and the exact message it must print on stderr. A failed
# run must also leave nothing in $OUT (no half-written outputs).
# Regenerate the bad inputs with make_cases.py; write a new case by hand.
# A case that needs files git cannot hold (a FIFO, a hard link) has a
# NAME.setup script: it runs in a fresh directory (with this directory as
# $1), and kiln then runs there. Every run is bounded by a timeout, so a
# hang (a FIFO opened without O_NONBLOCK) is a failure, not a stuck test.
set -u
kiln=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
cd "$(dirname "$0")" || exit 2
here=$(pwd)
pass=0 fail=0
for case in *.case; do
    name=${case%.case}
    out=$(mktemp -d) && rmdir "$out"   # must not exist: kiln creates it
    args=$(sed -n '1s/^kiln //p' "$case" | sed "s|\$OUT|$out|g")
    want_rc=$(sed -n '2s/^exit //p' "$case")
    want=$(tail -n +3 "$case")
    work=$here
    if [ -f "$name.setup" ]; then
        work=$(mktemp -d)
        (cd "$work" && sh "$here/$name.setup" "$here") || echo "FAIL $name: setup failed"
    fi
    # shellcheck disable=SC2086
    got=$(cd "$work" && timeout 20 "$kiln" $args 2>&1 >/dev/null)
    rc=$?
    [ "$work" != "$here" ] && rm -rf "$work"
    [ "$rc" = 124 ] && got="(timed out after 20 s)"
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
