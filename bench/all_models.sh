#!/bin/sh
# bench/all_models.sh — issue 11's model list in one run: each model through
# bench/models.sh (kiln C at 1 and 2 threads, kiln LLVM, ONNX Runtime and
# PyTorch eager at 1 and 2 threads; outputs checked first), then one combined
# markdown table (bench/combine.js).
#
#   bench/all_models.sh [ROUNDS] [EXE_DIR] [BIG_DIR]
#
# ROUNDS default 20; EXE_DIR (default /tmp/kiln-bench) holds the compiled
# executables, reused when present (delete them after changing kiln);
# BIG_DIR (default /work/big) is where samples/zoo/export_big.py exported
# the models. Environment: MODELS (default below) picks and orders the
# models; RESULTS (default EXE_DIR/results-DATE) receives NAME.log (all of
# models.sh's output), NAME.json and the table, table.md. KILN as models.sh.
#
# A model that is not exported, fails to compile, computes the wrong output
# or fails while timed gets a FAILED row (and its log says why); the others
# still run. Exit status 1 when any model failed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
rounds=${1:-20} out=${2:-/tmp/kiln-bench} big=${3:-/work/big}
models=${MODELS:-deit-tiny deit-small swin-t resnet18 mbv2-coordatt convbert}
results=${RESULTS:-$out/results-$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$results" || exit 1
[ -d "$here/node_modules/onnxruntime-node" ] || {
    echo "all_models.sh: no $here/node_modules/onnxruntime-node:" \
         "cd bench && npm install --ignore-scripts onnxruntime-node@1.30.0" >&2
    exit 1
}

failed=0
start=$(date -u +%s)
{
    echo "# issue 11 models, $(date -u '+%Y-%m-%d %H:%M') UTC"
    echo
    echo "kiln $(git -C "$here/.." rev-parse --short HEAD 2>/dev/null || echo '?')" \
         "($(git -C "$here/.." status --porcelain 2>/dev/null | grep -qv '^??' && echo 'with local changes' || echo 'clean'));" \
         "$rounds rounds per model; load before: $(uptime | sed 's/.*load average: //')"
    echo
} > "$results/head.md"
for name in $models; do
    t0=$(date -u +%s)
    echo "== $name ($(date -u +%H:%M:%S) UTC)"
    rm -f "$results/$name.json" "$results/$name.error"
    if [ ! -f "$big/$name/model.onnx" ]; then
        echo "not exported: /usr/bin/python3 samples/zoo/export_big.py $big $name" > "$results/$name.error"
    elif ! MODELS_JSON="$results/$name.json" "$here/models.sh" "$big/$name" "$rounds" "$out" \
             > "$results/$name.log" 2>&1; then
        rm -f "$results/$name.json"
        # The last line models.sh or a tool it ran printed says what failed.
        echo "$(grep -v '^round ' "$results/$name.log" | tr '\r' '\n' | grep . | tail -1) (log: $results/$name.log)" \
            > "$results/$name.error"
    fi
    if [ -f "$results/$name.error" ]; then
        failed=1
        echo "   FAILED: $(cat "$results/$name.error")"
    else
        echo "   done in $(($(date -u +%s) - t0)) s"
    fi
done
{
    cat "$results/head.md"
    # shellcheck disable=SC2086  # models is a word list
    node "$here/combine.js" "$results" $models
    echo
    echo "Load after: $(uptime | sed 's/.*load average: //'); $(($(date -u +%s) - start)) s in all" \
         "(logs, the compile summaries and each model's own table: $results/NAME.log)."
} > "$results/table.md"
cat "$results/table.md"
exit $failed
