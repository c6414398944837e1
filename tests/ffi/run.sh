#!/bin/sh
# tests/ffi/run.sh KILN LIBDIR NPYCMP OBJECT — `kiln run LIB.so` tests.
# Each NAME.case holds a command line (`kiln ARGS`; $LIB is the directory
# of the model libraries built from tests/ffi/*.c, $OBJ an ELF object
# file, $OUT a fresh directory that does not exist yet), the exit status
# kiln must return and the exact message it must print on stderr (with
# $LIB and $OBJ spelled so, and --bench times as T). Optional companions:
#   NAME.stdout   the exact standard output;
#   NAME.outputs  a directory under expected/ whose .npy files must be
#                 exactly the files in $OUT, with the same dtype, shape and
#                 bytes (numpy computed them: make_inputs.py).
# A failed run must leave nothing in $OUT.
set -u
abs() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
kiln=$(abs "$1") lib=$(cd "$2" && pwd) npycmp=$(abs "$3") obj=$(abs "$4")
cd "$(dirname "$0")" || exit 2
pass=0 fail=0
for case in *.case; do
    name=${case%.case}
    out=$(mktemp -d) && rmdir "$out"
    args=$(sed -n '1s/^kiln //p' "$case" | sed -e "s|\$OUT|$out|g" -e "s|\$LIB|$lib|g" -e "s|\$OBJ|$obj|g")
    want_rc=$(sed -n '2s/^exit //p' "$case")
    want=$(tail -n +3 "$case")
    # shellcheck disable=SC2086
    "$kiln" $args >"$out.stdout" 2>"$out.stderr"
    rc=$?
    got=$(sed -e "s|$lib|\$LIB|g" -e "s|$obj|\$OBJ|g" \
              -e 's/mean [0-9.]* ms, best [0-9.]* ms, CPU [0-9.]* ms/mean T ms, best T ms, CPU T ms/' "$out.stderr")
    problem=""
    [ "$rc" = "$want_rc" ] || problem="exit status $rc, expected $want_rc"
    [ "$got" = "$want" ] || problem="${problem:+$problem; }message differs"
    if [ -f "$name.stdout" ] && ! cmp -s "$name.stdout" "$out.stdout"; then
        problem="${problem:+$problem; }stdout differs: $(head -3 "$out.stdout")"
    fi
    if [ -f "$name.outputs" ]; then
        dir=expected/$(cat "$name.outputs")
        [ "$(ls "$dir")" = "$(ls "$out" 2>/dev/null)" ] ||
            problem="${problem:+$problem; }output files: $(ls "$out" 2>/dev/null | tr '\n' ' ')"
        for f in "$dir"/*.npy; do
            [ -f "$out/$(basename "$f")" ] || continue
            why=$("$npycmp" "$out/$(basename "$f")" "$f" 2>&1) ||
                problem="${problem:+$problem; }$(basename "$f"): $why"
        done
    elif [ "$rc" != 0 ] && [ -d "$out" ] && [ -n "$(ls -A "$out")" ]; then
        problem="${problem:+$problem; }files left in the output directory: $(ls -A "$out")"
    fi
    rm -rf "$out" "$out.stdout" "$out.stderr"
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
echo "ffi: $pass passed, $fail failed"
[ "$fail" = 0 ]
