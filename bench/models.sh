#!/bin/sh
# bench/models.sh — one command per model: compile it with kiln's C backend
# (--threads 2) and LLVM backend, check both executables' outputs against the
# exported reference, then time side by side in one run (models.js): ONNX
# Runtime and PyTorch eager at 1 and 2 threads, the C executable at 1 and 2
# threads, the LLVM executable at 1 (it plans for one thread), with CPU time
# per run. `uptime` before and after: the machine is shared.
#
#   bench/models.sh MODEL_DIR [ROUNDS] [EXE_DIR]
#
# MODEL_DIR is one samples/zoo/export_big.py wrote (model.onnx, input_<k>.npy
# for each graph input, output_<k>.npy, torch_state.pt; its manifest.json in
# the parent directory); executables go to EXE_DIR (default /tmp/kiln-bench)
# as NAME-c2 and NAME-llvm2 (both compiled with --threads 2, run at 1 and
# 2 threads), and are reused when already there (delete them
# after changing kiln). Needs `npm install` in bench/ (see README.md).
# Environment: KILN (default build/kiln), MODELS_JSON=FILE (models.js also
# writes its table there as JSON: bench/all_models.sh collects them).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
kiln=${KILN:-$here/../build/kiln}
dir=${1:?usage: bench/models.sh MODEL_DIR [ROUNDS] [EXE_DIR]}
rounds=${2:-20} out=${3:-/tmp/kiln-bench}
dir=$(cd "$dir" && pwd)
name=$(basename "$dir")
mkdir -p "$out"

# The graph inputs in order: input_0.npy, input_1.npy, ... (ConvBERT: int64
# token ids and mask). models.js takes them comma-separated, the executables
# as one -i each.
inputs="" iargs="" k=0
while [ -f "$dir/input_$k.npy" ]; do
    inputs="$inputs${inputs:+,}$dir/input_$k.npy"
    iargs="$iargs -i $dir/input_$k.npy"
    k=$((k + 1))
done
[ "$k" -gt 0 ] || { echo "models.sh: $dir: no input_0.npy (export it with samples/zoo/export_big.py)" >&2; exit 1; }

# Compile into EXE_DIR/.partial and rename, so that an interrupted compile
# never leaves an executable that the next run would reuse.
compile() {  # EXE, kiln compile options...
    exe=$1; shift
    [ -x "$exe" ] && return 0
    echo "compiling $exe ($*)"
    mkdir -p "$out/.partial"
    "$kiln" compile "$dir/model.onnx" "$@" -o "$out/.partial/${exe##*/}"
    mv "$out/.partial/${exe##*/}" "$exe"
}
compile "$out/$name-c2" --threads 2
compile "$out/$name-llvm2" --backend llvm --threads 2

# Never time an executable that computes something else.
check=$(mktemp -d "${TMPDIR:-/tmp}/kiln-bench-check.XXXXXX")
trap 'rm -rf "$check"' EXIT
for cfg in "$name-c2:" "$name-c2:--threads 1" "$name-llvm2:" "$name-llvm2:--threads 1"; do
    exe=${cfg%%:*} opt=${cfg#*:}
    rm -rf "$check/out"
    # shellcheck disable=SC2086  # iargs and opt are word lists
    "$out/$exe" $iargs $opt -o "$check/out"
    /usr/bin/python3 "$here/check_outputs.py" "$dir" "$check/out" "$exe${opt:+ $opt}"
done

json=""
[ -z "${MODELS_JSON:-}" ] || json="--json $MODELS_JSON"
echo "load before: $(uptime)"
# shellcheck disable=SC2086
node "$here/models.js" --torch "$dir" --no-interp --cpu $json "$dir/model.onnx" "$inputs" \
    "C backend=$out/$name-c2@1,C backend=$out/$name-c2@2,LLVM backend=$out/$name-llvm2@1,LLVM backend=$out/$name-llvm2@2" "$rounds"
echo "load after: $(uptime)"
