/* test_pool2d_fast.c — the 2-D f32 fast path of the pool kernel
 * (runtime/krt_linalg_pool.c) against the generic window walk
 * (krt_kernel_pool_generic, the same kernel with the fast path off), bit
 * for bit: MaxPool without Indices and AveragePool with and without the
 * padding in the count, over random shapes, kernels, strides, dilations,
 * paddings and floor/ceil output sizes, on data with NaNs, signed zeros,
 * infinities and ties (where the visiting order shows). Buffers are
 * allocated to the exact size so the sanitizer build sees any over-read
 * of the vector loads. */
#include "cunit_main.h"
#include "kernel_run.h"
#include "runtime/krt_linalg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const krt_kernel_info krt_kernel_pool_generic;

static uint32_t rng = 20261208;

static uint32_t next(void)
{
    rng = rng * 1664525u + 1013904223u;
    return rng >> 8;
}

static int64_t pick(int64_t lo, int64_t hi) { return lo + (int64_t)(next() % (uint32_t)(hi - lo + 1)); }

/* Mostly small integers (ties), some NaN, -0, +-inf and fractions. */
static float value(void)
{
    switch (next() % 16) {
    case 0: return NAN;
    case 1: return -0.0f;
    case 2: return 0.0f;
    case 3: return next() % 2 ? INFINITY : -INFINITY;
    case 4: case 5: case 6: return (float)(int)(next() % 2001 - 1000) / 7.0f;
    default: return (float)(int)(next() % 7) - 3.0f;
    }
}

/* Output extent of one dim, as the lowering computes it. */
static int64_t out_dim(int64_t in, int64_t k, int64_t s, int64_t dil, int64_t pb, int64_t pe,
                       int ceil_mode)
{
    int64_t span = (k - 1) * dil + 1, num = in + pb + pe - span;
    if (num < 0)
        return 0;
    int64_t o = (ceil_mode ? (num + s - 1) / s : num / s) + 1;
    if (ceil_mode && (o - 1) * s >= in + pb) /* ONNX: the last window starts inside */
        o--;
    return o;
}

/* Runs d through both paths (and the fast one split over 3 ranges);
 * returns the number of outputs that differ in any bit. */
static int64_t compare(const krt_pool_desc *d, const float *x)
{
    int64_t n = d->batch * d->channels * d->out[0] * d->out[1];
    float *a = malloc((size_t)(n ? n : 1) * sizeof *a), *b = malloc((size_t)(n ? n : 1) * sizeof *b);
    float *c = malloc((size_t)(n ? n : 1) * sizeof *c);
    memset(a, 0x11, (size_t)n * sizeof *a), memset(b, 0x22, (size_t)n * sizeof *b);
    memset(c, 0x33, (size_t)n * sizeof *c);
    int64_t bad = 0;
    CU_ASSERT_EQUAL(kernel_run(&krt_kernel_pool, d, OPS((void *)x, a, NULL)), KRT_OK);
    CU_ASSERT_EQUAL(kernel_run(&krt_kernel_pool_generic, d, OPS((void *)x, b, NULL)), KRT_OK);
    CU_ASSERT_EQUAL(kernel_run_split(&krt_kernel_pool, d, OPS((void *)x, c, NULL), 3), KRT_OK);
    for (int64_t i = 0; i < n; i++)
        bad += memcmp(a + i, b + i, sizeof *a) != 0 || memcmp(c + i, b + i, sizeof *c) != 0;
    free(a), free(b), free(c);
    return bad;
}

static void random_case(krt_pool_kind kind, int include_pad, int64_t max_in)
{
    krt_pool_desc d = {.dtype = KRT_F32, .kind = kind, .count_include_pad = include_pad, .nd = 2,
                       .batch = pick(1, 2), .channels = pick(1, 3)};
    int ceil_mode = (int)(next() % 2);
    for (int i = 0; i < 2; i++) {
        d.in[i] = pick(1, max_in);
        d.kernel[i] = pick(1, 5);
        d.stride[i] = next() % 3 ? pick(1, 2) : pick(1, 4);
        d.dilation[i] = next() % 4 ? 1 : pick(2, 3);
        int64_t span = (d.kernel[i] - 1) * d.dilation[i] + 1;
        d.pad[i] = pick(0, span - 1);
        d.pad_end[i] = next() % 2 ? d.pad[i] : pick(0, span - 1);
        if (d.in[i] + d.pad[i] + d.pad_end[i] < span)
            d.in[i] = span; /* at least one window */
        d.out[i] = out_dim(d.in[i], d.kernel[i], d.stride[i], d.dilation[i], d.pad[i],
                           d.pad_end[i], ceil_mode);
    }
    int64_t n = d.batch * d.channels * d.in[0] * d.in[1];
    float *x = malloc((size_t)n * sizeof *x);
    for (int64_t i = 0; i < n; i++)
        x[i] = value();
    int64_t bad = compare(&d, x);
    if (bad)
        printf("\n%s%s in %lldx%lld k %lldx%lld s %lldx%lld dil %lldx%lld pad %lld,%lld/%lld,%lld "
               "out %lldx%lld: %lld outputs differ\n",
               kind == KRT_POOL_MAX ? "max" : "avg", include_pad ? "(include pad)" : "",
               (long long)d.in[0], (long long)d.in[1], (long long)d.kernel[0],
               (long long)d.kernel[1], (long long)d.stride[0], (long long)d.stride[1],
               (long long)d.dilation[0], (long long)d.dilation[1], (long long)d.pad[0],
               (long long)d.pad[1], (long long)d.pad_end[0], (long long)d.pad_end[1],
               (long long)d.out[0], (long long)d.out[1], (long long)bad);
    CU_ASSERT_EQUAL(bad, 0);
    free(x);
}

static void test_max_random(void)
{
    for (int t = 0; t < 400; t++)
        random_case(KRT_POOL_MAX, 0, t % 4 ? 24 : 70);
}

static void test_avg_random(void)
{
    for (int t = 0; t < 400; t++)
        random_case(KRT_POOL_AVG, 0, t % 4 ? 24 : 70);
}

static void test_avg_include_pad_random(void)
{
    for (int t = 0; t < 400; t++)
        random_case(KRT_POOL_AVG, 1, t % 4 ? 24 : 70);
}

/* The ResNet stem pool (3x3, stride 2, pad 1, 112 -> 56) and a 2x2/2 one,
 * for both kinds. */
static void test_cnn_shapes(void)
{
    static const int64_t shapes[][4] = {{112, 3, 2, 1}, {56, 2, 2, 0}, {32, 3, 1, 1}, {13, 3, 2, 0}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int kind = 0; kind < 3; kind++) {
            krt_pool_desc d = {.dtype = KRT_F32, .kind = kind == 0 ? KRT_POOL_MAX : KRT_POOL_AVG,
                               .count_include_pad = kind == 2, .nd = 2, .batch = 1, .channels = 4};
            for (int i = 0; i < 2; i++) {
                d.in[i] = shapes[s][0], d.kernel[i] = shapes[s][1], d.stride[i] = shapes[s][2];
                d.dilation[i] = 1, d.pad[i] = d.pad_end[i] = shapes[s][3];
                d.out[i] = out_dim(d.in[i], d.kernel[i], d.stride[i], 1, d.pad[i], d.pad_end[i], 0);
            }
            int64_t n = d.channels * d.in[0] * d.in[1];
            float *x = malloc((size_t)n * sizeof *x);
            for (int64_t i = 0; i < n; i++)
                x[i] = value();
            CU_ASSERT_EQUAL(compare(&d, x), 0);
            free(x);
        }
}

/* MaxPool with the Indices output keeps the generic path: Y and I as the
 * generic kernel gives them. */
static void test_max_with_indices(void)
{
    krt_pool_desc d = {.dtype = KRT_F32, .kind = KRT_POOL_MAX, .nd = 2, .batch = 1, .channels = 2,
                       .in = {9, 11}, .out = {5, 6}, .kernel = {3, 3}, .stride = {2, 2},
                       .dilation = {1, 1}, .pad = {1, 1}, .pad_end = {1, 1}};
    float x[2 * 9 * 11], y[60], y2[60];
    int64_t i1[60], i2[60];
    for (int i = 0; i < 2 * 9 * 11; i++)
        x[i] = value();
    CU_ASSERT_EQUAL(kernel_run(&krt_kernel_pool, &d, OPS(x, y, i1)), KRT_OK);
    CU_ASSERT_EQUAL(kernel_run(&krt_kernel_pool_generic, &d, OPS(x, y2, i2)), KRT_OK);
    CU_ASSERT_EQUAL(memcmp(y, y2, sizeof y), 0);
    CU_ASSERT_EQUAL(memcmp(i1, i2, sizeof i1), 0);
}

static CU_TestInfo tests[] = {
    {"max, random shapes", test_max_random},
    {"avg, random shapes", test_avg_random},
    {"avg count_include_pad, random shapes", test_avg_include_pad_random},
    {"CNN pool shapes", test_cnn_shapes},
    {"max with indices", test_max_with_indices},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"pool2d_fast", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
