#!/bin/sh
# tests/llvm/filecheck/run.sh KILN FILECHECK — FileCheck on the LLVM
# backend's output per target: every NAME.kir here is compiled to optimized
# IR (.ll) and assembly (.s) for AVX-512 (--cpu x86-64-v4, prefix V4),
# AVX2 (--cpu x86-64-v3, V3) and AArch64 NEON (--target aarch64, A64), and
# FileCheck checks the file's `; V4-LL:`, `; V4-ASM:` ... lines against
# them. A target without AArch64 kernels (no cross headers at kiln's build)
# skips A64 and says so.
set -u
KILN=$1
FILECHECK=$2
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d /tmp/kiln-filecheck.XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
for kir in "$HERE"/*.kir; do
  name=$(basename "$kir" .kir)
  for target in "V4|--cpu x86-64-v4" "V3|--cpu x86-64-v3" "A64|--target aarch64"; do
    prefix=${target%%|*}
    flags=${target#*|}
    for kind in LL ASM; do
      ext=ll; [ "$kind" = ASM ] && ext=s
      out="$T/$name-$prefix.$ext"
      # shellcheck disable=SC2086
      if ! "$KILN" compile "$kir" --backend llvm --quiet --name "$name" $flags -o "$out" 2>"$T/err"; then
        if [ "$prefix" = A64 ] && grep -q "AArch64" "$T/err"; then
          echo "skip $name $prefix-$kind: $(cat "$T/err")"
          continue
        fi
        fail=$((fail + 1)); echo "FAIL $name $prefix-$kind: compile"; cat "$T/err"; continue
      fi
      if "$FILECHECK" --check-prefix="$prefix-$kind" "$kir" --input-file="$out" 2>"$T/fc"; then
        pass=$((pass + 1)); echo "ok   $name $prefix-$kind"
      else
        fail=$((fail + 1)); echo "FAIL $name $prefix-$kind"; head -30 "$T/fc"
      fi
    done
  done
done
echo "filecheck: $pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
