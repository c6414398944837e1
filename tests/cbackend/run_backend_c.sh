#!/bin/sh
# tests/cbackend/run_backend_c.sh KILN NPYCMP — `kiln run MODEL --backend c`:
#   1. the outputs (-o) are the interpreter's, byte for byte (tests/err/gather.onnx);
#   2. the input and output messages and exit statuses are the interpreter's
#      (missing, extra, misnamed, mistyped, misshapen inputs; -o on a file);
#   3. --bench prints its line; --threads 2 gives the same bytes (c and llvm);
#   4. the private temporary directory is gone after a success, an input
#      error and compile errors (a data-dependent shape, a symbolic input
#      dimension, which gets the --shape hint), and after kiln is
#      killed by SIGKILL or SIGINT in the middle of its compile.
# Runs in a private TMPDIR, so "nothing left" means that directory is empty.
set -u
abs() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
kiln=$(abs "$1") npycmp=$(abs "$2")
cd "$(dirname "$0")/../err" || exit 2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TMPDIR="$work/tmp"
mkdir "$TMPDIR"
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
leftovers() { ls -A "$TMPDIR" | grep '^kiln_run_' ; }

# 1. outputs
"$kiln" run gather.onnx -i x=x_2x3.npy -i idx=idx_ok.npy -o "$work/interp" 2>"$work/err" ||
    bad "interp run: $(cat "$work/err")"
if "$kiln" run gather.onnx --backend c -i x=x_2x3.npy -i idx=idx_ok.npy -o "$work/c" 2>"$work/err"; then
    "$npycmp" "$work/c/y.npy" "$work/interp/y.npy" >"$work/cmp" && ok || bad "outputs differ: $(cat "$work/cmp")"
else
    bad "--backend c run failed: $(cat "$work/err")"
fi
[ -z "$(leftovers)" ] && ok || bad "left after a success: $(leftovers)"

# 2. the same messages and statuses as the interpreter
for args in "-i x_2x3.npy" \
            "-i x_2x3.npy -i idx_ok.npy -i idx_ok.npy" \
            "-i z=x_2x3.npy -i idx=idx_ok.npy" \
            "-i x=x_2x3_f64.npy -i idx=idx_ok.npy" \
            "-i x=x_3x3.npy -i idx=idx_ok.npy" \
            "-i x=x_truncated.npy -i idx=idx_ok.npy" \
            "-i x=x_2x3.npy -i idx=idx_ok.npy -o gather.onnx"; do
    # shellcheck disable=SC2086
    "$kiln" run gather.onnx $args >/dev/null 2>"$work/want"
    want_rc=$?
    # shellcheck disable=SC2086
    "$kiln" run gather.onnx --backend c $args >/dev/null 2>"$work/got"
    rc=$?
    if [ "$rc" = "$want_rc" ] && [ "$rc" != 0 ] && cmp -s "$work/got" "$work/want"; then
        ok
    else
        bad "'$args': exit $rc (interpreter $want_rc): $(cat "$work/got") / interpreter: $(cat "$work/want")"
    fi
done
[ -z "$(leftovers)" ] && ok || bad "left after input errors: $(leftovers)"

# 3. --bench and --threads
"$kiln" run gather.onnx --backend c -i x_2x3.npy -i idx_ok.npy --bench 3 >/dev/null 2>"$work/err"
grep -q '^gather: 3 runs, mean [0-9.]* ms, best [0-9.]* ms, CPU [0-9.]* ms/run$' "$work/err" && ok || bad "--bench: $(cat "$work/err")"
# --threads 2: compiled with --threads 2, run on a pool of 2: the same bytes
if "$kiln" run gather.onnx --backend c --threads 2 -i x_2x3.npy -i idx_ok.npy -o "$work/c2" 2>"$work/err"; then
    "$npycmp" "$work/c2/y.npy" "$work/interp/y.npy" >"$work/cmp" && ok || bad "--threads 2 outputs differ: $(cat "$work/cmp")"
else
    bad "--backend c --threads 2: $(cat "$work/err")"
fi
if "$kiln" run gather.onnx --backend llvm --threads 2 -i x_2x3.npy -i idx_ok.npy -o "$work/l2" 2>"$work/err"; then
    "$npycmp" "$work/l2/y.npy" "$work/interp/y.npy" >"$work/cmp" && ok || bad "llvm --threads 2 outputs differ: $(cat "$work/cmp")"
else
    bad "--backend llvm --threads 2: $(cat "$work/err")"
fi

# 4. a compile error: Reshape to a shape read from an input
"$kiln" run reshape.onnx --backend c -i x_2x3.npy -i shape_bad.npy >/dev/null 2>"$work/err"
rc=$?
[ "$rc" = 1 ] && grep -q "reshape" "$work/err" && ok || bad "compile error: exit $rc: $(cat "$work/err")"
[ -z "$(leftovers)" ] && ok || bad "left after a compile error: $(leftovers)"
# a symbolic input dimension: the --shape hint, as --backend llvm gives it
dyn=../../samples/zoo/vit-dynbatch/model.onnx
if [ -f "$dyn" ]; then
    "$kiln" run "$dyn" --backend c -i "${dyn%model.onnx}input_0.npy" >/dev/null 2>"$work/err"
    rc=$?
    [ "$rc" = 1 ] && grep -q "bind its dimensions with --shape image=" "$work/err" && ok ||
        bad "symbolic input: exit $rc: $(cat "$work/err")"
    [ -z "$(leftovers)" ] && ok || bad "left after a symbolic input: $(leftovers)"
fi

# ... and killed in the middle of the compile (no object cache: the
# runtime takes seconds to build), by SIGKILL and by SIGINT
for sig in KILL INT; do
    KILN_CACHE_DIR=off "$kiln" run gather.onnx --backend c -i x_2x3.npy -i idx_ok.npy \
        >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 100); do
        [ -n "$(ls "$TMPDIR"/kiln_run_*/build 2>/dev/null)" ] && break
        sleep 0.1
    done
    [ -n "$(leftovers)" ] && ok || bad "SIG$sig: no temporary directory while compiling"
    kill -s "$sig" "$pid"
    wait "$pid" 2>/dev/null
    for _ in $(seq 100); do
        [ -z "$(leftovers)" ] && break
        sleep 0.1
    done
    [ -z "$(leftovers)" ] && ok || bad "left 10 s after SIG$sig: $(leftovers)"
done

echo "run --backend c: $pass passed, $fail failed"
[ "$fail" = 0 ]
