#!/bin/sh
# bench/models.sh — one command per model: compile it with kiln's C backend
# (--threads 2) and LLVM backend, then time side by side in one run (models.js):
# ONNX Runtime and PyTorch eager at 1 and 2 threads, the C executable at 1 and
# 2 threads, the LLVM executable at 1 (it plans for one thread), with CPU time
# per run. `uptime` before and after: the machine is shared.
#
#   bench/models.sh MODEL_DIR [ROUNDS] [EXE_DIR]
#
# MODEL_DIR is one samples/zoo/export_big.py wrote (model.onnx, input_0.npy,
# torch_state.pt); executables go to EXE_DIR (default /tmp/kiln-bench) as
# NAME-c2 and NAME-llvm, and are reused when already there (delete them after
# changing kiln). Needs `npm install` in bench/ (see README.md).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
kiln=${KILN:-$here/../build/kiln}
dir=$1 rounds=${2:-20} out=${3:-/tmp/kiln-bench}
name=$(basename "$dir")
mkdir -p "$out"
[ -x "$out/$name-c2" ] || "$kiln" compile "$dir/model.onnx" --threads 2 -o "$out/$name-c2"
[ -x "$out/$name-llvm" ] || "$kiln" compile "$dir/model.onnx" --backend llvm -o "$out/$name-llvm"
echo "load before: $(uptime)"
node "$here/models.js" --torch "$dir" --no-interp --cpu "$dir/model.onnx" "$dir/input_0.npy" \
    "C backend=$out/$name-c2@1,C backend=$out/$name-c2@2,LLVM backend=$out/$name-llvm" "$rounds"
echo "load after: $(uptime)"
