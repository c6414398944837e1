#!/bin/sh
# tests/fuzz/run.sh SRC BUILD SECONDS [TARGET...] — build kiln's libFuzzer
# targets with clang-19 (ASan + UBSan) in BUILD, replay every committed
# regression input (tests/fuzz/regress/TARGET/), then fuzz each target for
# SECONDS from seed corpora made of the repository's test models. Exit 77
# (ctest: skipped) when clang-19 or its fuzzer runtime (Debian
# libclang-rt-19-dev) is missing; 1 on a finding, whose input libFuzzer
# leaves in BUILD/findings/TARGET/ (commit it under regress/TARGET/ with
# the fix). The corpus grows in BUILD/corpus/TARGET/ across runs.
set -u
src=$(cd "$1" && pwd)
build=$2
seconds=$3
shift 3
targets=${*:-fuzz_onnx fuzz_text fuzz_inputs fuzz_passes}
cc=${KILN_FUZZ_CC:-clang-19}

if ! command -v "$cc" >/dev/null 2>&1; then
    echo "fuzz: $cc not found: skipped (install clang-19 and libclang-rt-19-dev)"
    exit 77
fi
if [ ! -f "$("$cc" -print-file-name=libclang_rt.fuzzer-x86_64.a)" ] &&
   [ ! -f "$("$cc" --print-runtime-dir 2>/dev/null)/libclang_rt.fuzzer.a" ]; then
    echo "fuzz: $cc has no libFuzzer runtime: skipped (install libclang-rt-19-dev)"
    exit 77
fi

mkdir -p "$build"
build=$(cd "$build" && pwd)
if [ ! -f "$build/CMakeCache.txt" ]; then
    CC=$cc cmake -S "$src" -B "$build" -DKILN_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        >"$build/configure.log" 2>&1 || { cat "$build/configure.log"; exit 1; }
fi
# shellcheck disable=SC2086
cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" --target $targets >"$build/build.log" 2>&1 ||
    { tail -30 "$build/build.log"; exit 1; }

# Seeds: the test models and inputs in the repository.
seed() { # target, files...
    t=$1
    shift
    mkdir -p "$build/corpus/$t"
    for f in "$@"; do
        [ -f "$f" ] && [ "$(wc -c <"$f")" -le 200000 ] &&
            cp "$f" "$build/corpus/$t/seed-$(echo "$f" | cksum | cut -d' ' -f1)"
    done
    return 0
}
seed fuzz_onnx "$src"/tests/err/*.onnx "$src"/tests/cbackend/*.onnx "$src"/samples/*/*.onnx \
    "$src"/samples/zoo/*/model.onnx
for d in abs add conv gemm reshape split slice gather concat transpose matmul softmax \
         reduce_sum_default_axes_keepdims_example cumsum_1d resize_upsample_scales_nearest; do
    seed fuzz_onnx /usr/share/libonnx-testdata/data/node/test_$d/model.onnx
    seed fuzz_inputs /usr/share/libonnx-testdata/data/node/test_$d/test_data_set_0/*.pb
done
seed fuzz_text "$src"/tests/ir/*.kir
seed fuzz_passes "$src"/tests/fuzz/regress/fuzz_passes/*   # any bytes make a graph
seed fuzz_inputs "$src"/tests/err/*.npy "$src"/samples/zoo/*/input_0.npy

status=0
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
for t in $targets; do
    exe=$build/tests/fuzz/$t
    if [ -n "$(ls "$src/tests/fuzz/regress/$t" 2>/dev/null)" ]; then
        if ! "$exe" -rss_limit_mb=2048 -timeout=10 "$src"/tests/fuzz/regress/"$t"/* >"$build/$t.regress.log" 2>&1; then
            echo "fuzz: $t: a committed regression input fails again"
            tail -30 "$build/$t.regress.log"
            status=1
            continue
        fi
    fi
    mkdir -p "$build/findings/$t"
    "$exe" "$build/corpus/$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
        -max_len=65536 -artifact_prefix="$build/findings/$t/" -print_final_stats=1 \
        >"$build/$t.log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build/$t.log")
    cov=$(grep -o 'cov: [0-9]*' "$build/$t.log" | tail -1)
    echo "fuzz: $t: ${execs:-?} runs in ${seconds} s, $cov, corpus $(ls "$build/corpus/$t" | wc -l) inputs, exit $rc"
    if [ "$rc" != 0 ]; then
        status=1
        grep -m3 -E 'ERROR|runtime error|SUMMARY' "$build/$t.log"
        ls "$build/findings/$t"
    fi
done
exit $status
