#!/bin/sh
# tests/cbackend/run_cache.sh KILN — the object cache of `kiln compile`
# (KILN_CACHE_DIR): a second model compiled with the same compiler and flags
# takes the runtime objects the first one built (the model's own NAME.h is
# not part of their key), and what it builds from them still runs right.
set -u
abs() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
kiln=$(abs "$1")
cd "$(dirname "$0")/../err" || exit 2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export KILN_CACHE_DIR="$work/cache"
fail=0
cached() { sed -n 's/.*(\([0-9]*\) runtime objects cached).*/\1/p' "$1"; }

"$kiln" compile gather.onnx --name first -o "$work/first" 2>"$work/log1" || { cat "$work/log1"; exit 1; }
"$kiln" compile gather.onnx --name second -o "$work/second" 2>"$work/log2" || { cat "$work/log2"; exit 1; }
n1=$(cached "$work/log1") n2=$(cached "$work/log2")
[ "$n1" = 0 ] || { echo "FAIL an empty cache gave $n1 cached objects"; fail=1; }
[ -n "$n2" ] && [ "$n2" -gt 0 ] || { echo "FAIL the second model took no object from the cache (${n2:-?})"; cat "$work/log2"; fail=1; }
"$work/first" -i x=x_2x3.npy -i idx=idx_ok.npy -o "$work/o1" >/dev/null &&
    "$work/second" -i x=x_2x3.npy -i idx=idx_ok.npy -o "$work/o2" >/dev/null &&
    cmp -s "$work/o1/y.npy" "$work/o2/y.npy" || { echo "FAIL the cached build's output differs or it failed"; fail=1; }
[ $fail = 0 ] && echo "object cache: 2nd model took $n2 runtime objects, same output"
exit $fail
