#!/bin/sh
# bench/compile_times.sh — compile time and generated-source size per model.
#
#   bench/compile_times.sh [KILN] [MODEL.onnx ...] > table.md
#
# Default models: every samples/zoo/*/model.onnx, samples/fmnist-vit, and
# /work/big/{deit-tiny,deit-small,vit-b16} when present (samples/zoo/export_big.py writes
# them). Each model is compiled three times:
#   --emit c                 the generated directory: its size (all files, and
#                            NAME_weights.c alone) and kiln's emit time;
#   --emit exe               the same sources through cc: the summary's cc
#                            stage (the runtime objects come from kiln's
#                            cache after the first model, so it is the model's
#                            own NAME.c, NAME_weights.c and main.c);
#   --backend llvm (exe)     module + optimize + codegen + link.
# Times are the compile summary's per-stage wall clock; "CPU s" columns are
# user + system time of the whole kiln process and its children (cc), from
# /usr/bin/time, which a loaded machine inflates less. Prints a Markdown table.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
kiln=${1:-$root/build/kiln}
[ $# -gt 0 ] && shift
if [ $# -eq 0 ]; then
    set -- "$root"/samples/zoo/*/model.onnx "$root"/samples/fmnist-vit/model.onnx
    for m in /work/big/deit-tiny/model.onnx /work/big/deit-small/model.onnx /work/big/vit-b16/model.onnx; do
        [ -f "$m" ] && set -- "$@" "$m"
    done
fi
work=$(mktemp -d /tmp/kiln-compile-times.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM

# field LOG PATTERN: the number before " ms" on the summary line matching PATTERN
ms() { awk -v p="$2" '$1 == p { for (i = 2; i <= NF; i++) if ($(i + 1) == "ms") { print $i; exit } }' "$1"; }
sec() { awk -v x="${1:-0}" 'BEGIN { printf "%.2f", x / 1000 }'; }
mib() { awk -v x="$1" 'BEGIN { printf "%.2f", x / 1048576 }'; }
cpu() { awk '{ printf "%.2f", $1 + $2 }' "$1"; }

echo "| model | weights MiB | generated dir MiB (NAME_weights.c) | kiln emit s | cc s | C exe CPU s | LLVM compile s | LLVM CPU s |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for m in "$@"; do
    name=$(basename "$(dirname "$m")")
    d=$work/$name
    mkdir -p "$d"
    if ! "$kiln" compile "$m" -o "$d/c" --emit c 2>"$d/c.log"; then
        echo "| $name | compile --emit c failed: $(tail -1 "$d/c.log") | | | | | | |"
        continue
    fi
    total=$(du -sb "$d/c" | cut -f1)
    wsrc=$(cat "$d"/c/*_weights.c 2>/dev/null | wc -c)
    weights=$(awk '/weights/ && /tensors/ { for (i = 1; i <= NF; i++) if ($i == "weights") { v = $(i + 1); u = $(i + 2); break } }
                   END { f = u == "MiB" ? 1 : u == "KiB" ? 1 / 1024 : 1 / 1048576; printf "%.2f", v * f }' "$d/c.log")
    emit=$(ms "$d/c.log" emit)
    /usr/bin/time -f "%U %S" -o "$d/exe.time" "$kiln" compile "$m" -o "$d/exe" 2>"$d/exe.log" ||
        { echo "| $name | compile --emit exe failed: $(grep -v '^ ' "$d/exe.log" | tail -1) | | | | | | |"; continue; }
    cc=$(ms "$d/exe.log" cc)
    llvm="failed" llvmcpu=""
    if /usr/bin/time -f "%U %S" -o "$d/llvm.time" "$kiln" compile "$m" --backend llvm -o "$d/llvm" 2>"$d/llvm.log"; then
        llvm=$(awk '$1 ~ /^(module|optimize|codegen|link)$/ { for (i = 2; i <= NF; i++) if ($(i + 1) == "ms") s += $i }
                    END { printf "%.2f", s / 1000 }' "$d/llvm.log")
        llvmcpu=$(cpu "$d/llvm.time")
    fi
    echo "| $name | $weights | $(mib "$total") ($(mib "$wsrc")) | $(sec "$emit") | $(sec "$cc") | $(cpu "$d/exe.time") | $llvm | $llvmcpu |"
    rm -rf "$d"
done
