/* test_linalg_pool.c — the pooling kernels (runtime/krt_linalg_pool.c)
 * against a naive window walk written here (every kernel position, bounds
 * checked one by one): MaxPool with indices in both storage orders,
 * AveragePool with and without the padding in the count, LpPool, the
 * global pools, MaxUnpool and its index errors. The ONNX maxpool_2d_uint8
 * and with_argmax examples are pasted from onnx/backend/test/case/node. */
#include "cunit_main.h"
#include "kernel_run.h"
#include "runtime/krt_linalg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint32_t rng = 4242;

static float frand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* The kernels through their kernel-call interface (tests/unit/kernel_run.h). */
static krt_status pool(krt_pool_desc d, krt_pool_kind kind, krt_dtype dt, const void *x, void *y,
                       int64_t *idx)
{
    d.kind = kind, d.dtype = dt;
    return kernel_run(&krt_kernel_pool, &d, OPS((void *)x, y, idx));
}

static krt_status maxpool(const krt_pool_desc *d, krt_dtype dt, const void *x, void *y,
                          int64_t *idx, int order)
{
    krt_pool_desc e = *d;
    e.storage_order = order;
    return pool(e, KRT_POOL_MAX, dt, x, y, idx);
}

static krt_status avgpool(const krt_pool_desc *d, krt_dtype dt, const void *x, void *y, int pad)
{
    krt_pool_desc e = *d;
    e.count_include_pad = pad;
    return pool(e, KRT_POOL_AVG, dt, x, y, NULL);
}

static krt_status lppool(const krt_pool_desc *d, krt_dtype dt, const void *x, void *y, double p)
{
    krt_pool_desc e = *d;
    e.p = p;
    return pool(e, KRT_POOL_LP, dt, x, y, NULL);
}

/* planes of `size` elements each, one window per plane. */
static krt_status global_pool(krt_pool_kind kind, krt_dtype dt, int64_t planes, int64_t size,
                              const void *x, void *y, double p)
{
    krt_pool_desc d = {.global = 1, .p = p, .nd = 1, .batch = planes, .channels = 1, .in = {size}};
    return pool(d, kind, dt, x, y, NULL);
}

static krt_status maxunpool(krt_dtype dt, int rank, const int64_t *unpooled, const int64_t *out,
                            int64_t n, const void *x, const int64_t *idx, void *y, int64_t *bad)
{
    krt_max_unpool_desc d = {.dtype = dt, .rank = rank, .n = n};
    memcpy(d.unpooled, unpooled, (size_t)rank * 8);
    memcpy(d.out, out, (size_t)rank * 8);
    krt_error err = {.operand = -1};
    krt_status st = kernel_run_range(&krt_kernel_max_unpool, &d, OPS((void *)x, (void *)idx, y), 0, 1, &err);
    if (st == KRT_EINDEX)
        *bad = err.operand == 1 ? err.pos : -2;
    return st;
}

/* 2-D pool descriptor; out from the ONNX formula (floor or ceil). */
static krt_pool_desc pool2d(int64_t N, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw,
                            int64_t sh, int64_t sw, int64_t dh, int64_t dw, const int64_t *pads,
                            int ceil)
{
    krt_pool_desc d = {.nd = 2, .batch = N, .channels = C, .in = {H, W}, .kernel = {kh, kw},
                       .stride = {sh, sw}, .dilation = {dh, dw}, .pad = {pads[0], pads[1]},
                       .pad_end = {pads[2], pads[3]}};
    for (int i = 0; i < 2; i++) {
        int64_t span = d.in[i] + d.pad[i] + d.pad_end[i] - ((d.kernel[i] - 1) * d.dilation[i] + 1);
        d.out[i] = (ceil ? (span + d.stride[i] - 1) / d.stride[i] : span / d.stride[i]) + 1;
    }
    return d;
}

typedef struct ref {
    double max, sum, lp2;
    int64_t arg;          /* row-major spatial offset of the max, -1 if none */
    int64_t count, padded_count;
} ref;

/* Naive window walk at output (oh, ow) of one plane. */
static ref naive_window(const krt_pool_desc *d, const float *x, int64_t oh, int64_t ow)
{
    ref r = {-INFINITY, 0, 0, -1, 0, 0};
    for (int64_t kh = 0; kh < d->kernel[0]; kh++)
        for (int64_t kw = 0; kw < d->kernel[1]; kw++) {
            int64_t ih = oh * d->stride[0] - d->pad[0] + kh * d->dilation[0];
            int64_t iw = ow * d->stride[1] - d->pad[1] + kw * d->dilation[1];
            bool in_pad = ih >= -d->pad[0] && ih < d->in[0] + d->pad_end[0] &&
                          iw >= -d->pad[1] && iw < d->in[1] + d->pad_end[1];
            r.padded_count += in_pad;
            if (ih < 0 || ih >= d->in[0] || iw < 0 || iw >= d->in[1])
                continue;
            double v = x[ih * d->in[1] + iw];
            if (r.arg < 0 || v > r.max)
                r.max = v, r.arg = ih * d->in[1] + iw;
            r.sum += v;
            r.lp2 += v * v;
            r.count++;
        }
    return r;
}

static float *plane_data(const krt_pool_desc *d)
{
    int64_t n = d->batch * d->channels * d->in[0] * d->in[1];
    float *x = malloc((size_t)n * sizeof *x);
    for (int64_t i = 0; i < n; i++)
        x[i] = frand();
    return x;
}

/* Runs max/avg/lp pools on d and checks every output against the walk. */
static void check_pools(const krt_pool_desc *d)
{
    int64_t planes = d->batch * d->channels, isz = d->in[0] * d->in[1], osz = d->out[0] * d->out[1];
    float *x = plane_data(d), *mx = malloc((size_t)(planes * osz) * 4), *av = malloc((size_t)(planes * osz) * 4);
    float *avp = malloc((size_t)(planes * osz) * 4), *lp = malloc((size_t)(planes * osz) * 4);
    int64_t *idx = malloc((size_t)(planes * osz) * 8), *idx_c = malloc((size_t)(planes * osz) * 8);
    CU_ASSERT_EQUAL(maxpool(d, KRT_F32, x, mx, idx, 0), KRT_OK);
    CU_ASSERT_EQUAL(maxpool(d, KRT_F32, x, mx, idx_c, 1), KRT_OK);
    CU_ASSERT_EQUAL(avgpool(d, KRT_F32, x, av, 0), KRT_OK);
    CU_ASSERT_EQUAL(avgpool(d, KRT_F32, x, avp, 1), KRT_OK);
    CU_ASSERT_EQUAL(lppool(d, KRT_F32, x, lp, 2.0), KRT_OK);
    for (int64_t p = 0; p < planes; p++)
        for (int64_t o = 0; o < osz; o++) {
            ref r = naive_window(d, x + p * isz, o / d->out[1], o % d->out[1]);
            int64_t k = p * osz + o, col = r.arg < 0 ? -1 : p * isz + (r.arg % d->in[1]) * d->in[0] + r.arg / d->in[1];
            CU_ASSERT_EQUAL(mx[k], r.arg < 0 ? -INFINITY : (float)r.max);
            CU_ASSERT_EQUAL(idx[k], r.arg < 0 ? -1 : p * isz + r.arg);
            CU_ASSERT_EQUAL(idx_c[k], col);
            CU_ASSERT_DOUBLE_EQUAL(av[k], r.count ? r.sum / (double)r.count : 0, 1e-6);
            CU_ASSERT_DOUBLE_EQUAL(avp[k], r.padded_count ? r.sum / (double)r.padded_count : 0, 1e-6);
            CU_ASSERT_DOUBLE_EQUAL(lp[k], sqrt(r.lp2), 1e-6);
        }
    free(x), free(mx), free(av), free(avp), free(lp), free(idx), free(idx_c);
}

static void test_pools_vs_naive(void)
{
    krt_pool_desc a = pool2d(2, 3, 7, 8, 3, 3, 2, 2, 1, 1, (int64_t[]){1, 1, 1, 1}, 0);
    check_pools(&a);
    krt_pool_desc b = pool2d(1, 2, 9, 7, 2, 3, 1, 2, 2, 1, (int64_t[]){0, 1, 2, 0}, 0);  /* dilation */
    check_pools(&b);
    krt_pool_desc c = pool2d(1, 1, 6, 6, 3, 3, 2, 2, 1, 1, (int64_t[]){0, 0, 1, 1}, 1);  /* ceil */
    check_pools(&c);
    krt_pool_desc e = pool2d(1, 1, 5, 5, 5, 5, 1, 1, 1, 1, (int64_t[]){2, 2, 2, 2}, 0);
    check_pools(&e);
}

/* Every pool kernel split over planes gives the whole call's bits. */
static void test_pool_split(void)
{
    krt_pool_desc d = pool2d(2, 3, 9, 8, 3, 2, 2, 1, 1, 2, (int64_t[]){1, 0, 1, 1}, 1);
    int64_t n = 6 * d.out[0] * d.out[1];
    float *x = plane_data(&d), *y = malloc((size_t)n * 4), *y2 = malloc((size_t)n * 4);
    int64_t *i = malloc((size_t)n * 8), *i2 = malloc((size_t)n * 8);
    d.dtype = KRT_F32, d.p = 3;
    for (int g = 0; g < 2; g++)
        for (krt_pool_kind k = KRT_POOL_MAX; k < KRT_POOL_KIND_COUNT; k++) {
            krt_pool_desc e = d;
            e.kind = k, e.global = g;
            CU_ASSERT_EQUAL_FATAL(kernel_units(&krt_kernel_pool, &e), 6);
            CU_ASSERT_EQUAL(kernel_run(&krt_kernel_pool, &e, OPS(x, y, i)), KRT_OK);
            for (int parts = 2; parts <= 5; parts += 3) {
                memset(y2, 0xff, (size_t)n * 4), memset(i2, 0xff, (size_t)n * 8);
                CU_ASSERT_EQUAL(kernel_run_split(&krt_kernel_pool, &e, OPS(x, y2, i2), parts), KRT_OK);
                CU_ASSERT_EQUAL(memcmp(y, y2, (size_t)(g ? 6 : n) * 4), 0);
                if (k == KRT_POOL_MAX && !g)
                    CU_ASSERT_EQUAL(memcmp(i, i2, (size_t)n * 8), 0);
            }
        }
    free(x), free(y), free(y2), free(i), free(i2);
}

static void test_pool_window_in_padding(void)
{
    /* ceil_mode with end padding: the last window lies wholly in the padding */
    krt_pool_desc d = pool2d(1, 1, 1, 4, 1, 2, 1, 2, 1, 1, (int64_t[]){0, 0, 0, 2}, 1);
    float x[4] = {1, 2, 3, 4}, y[4], a[4], ap[4];
    int64_t idx[4];
    CU_ASSERT_EQUAL(d.out[1], 3);
    maxpool(&d, KRT_F32, x, y, idx, 0);
    avgpool(&d, KRT_F32, x, a, 0);
    avgpool(&d, KRT_F32, x, ap, 1);
    CU_ASSERT_EQUAL(y[2], -INFINITY);
    CU_ASSERT_EQUAL(idx[2], -1);
    CU_ASSERT_EQUAL(a[2], 0);
    CU_ASSERT_EQUAL(ap[2], 0);       /* 2 padded elements, sum 0 */
    CU_ASSERT_EQUAL(y[1], 4);
    CU_ASSERT_EQUAL(a[1], 3.5f);
}

static void test_maxpool_onnx_examples(void)
{
    /* maxpool_2d_uint8: 5x5 1..25, kernel 5, pads 2 */
    uint8_t x[25], y[25];
    float xf[25], yf[4];
    int64_t idx[4];
    const uint8_t want[25] = {13, 14, 15, 15, 15, 18, 19, 20, 20, 20, 23, 24, 25, 25, 25,
                              23, 24, 25, 25, 25, 23, 24, 25, 25, 25};
    for (int i = 0; i < 25; i++)
        x[i] = (uint8_t)(i + 1), xf[i] = (float)(i + 1);
    krt_pool_desc d = pool2d(1, 1, 5, 5, 5, 5, 1, 1, 1, 1, (int64_t[]){2, 2, 2, 2}, 0);
    CU_ASSERT_EQUAL(maxpool(&d, KRT_U8, x, y, NULL, 0), KRT_OK);
    CU_ASSERT_EQUAL(memcmp(y, want, 25), 0);
    /* maxpool_with_argmax_2d_precomputed_strides: kernel 2, strides 2, storage_order 1 */
    krt_pool_desc s = pool2d(1, 1, 5, 5, 2, 2, 2, 2, 1, 1, (int64_t[]){0, 0, 0, 0}, 0);
    CU_ASSERT_EQUAL(maxpool(&s, KRT_F32, xf, yf, idx, 1), KRT_OK);
    CU_ASSERT_EQUAL(yf[0], 7);
    CU_ASSERT_EQUAL(yf[3], 19);
    CU_ASSERT_EQUAL(idx[0], 6);
    CU_ASSERT_EQUAL(idx[1], 16);
    CU_ASSERT_EQUAL(idx[2], 8);
    CU_ASSERT_EQUAL(idx[3], 18);
}

static void test_maxpool_dtypes(void)
{
    krt_pool_desc d = {.nd = 1, .batch = 1, .channels = 1, .in = {4}, .out = {2}, .kernel = {2},
                       .stride = {2}, .dilation = {1}};
    int8_t xi[4] = {-5, -7, 3, -128}, yi[2];
    double xd[4] = {0.5, -1, 2, 2.5}, yd[2];
    uint16_t xh[4], yh[2];
    for (int i = 0; i < 4; i++)
        xh[i] = krt_f32_to_f16((float)xd[i]);
    CU_ASSERT_EQUAL(maxpool(&d, KRT_I8, xi, yi, NULL, 0), KRT_OK);
    CU_ASSERT_EQUAL(yi[0], -5);
    CU_ASSERT_EQUAL(yi[1], 3);
    CU_ASSERT_EQUAL(maxpool(&d, KRT_F64, xd, yd, NULL, 0), KRT_OK);
    CU_ASSERT_EQUAL(yd[1], 2.5);
    CU_ASSERT_EQUAL(maxpool(&d, KRT_F16, xh, yh, NULL, 0), KRT_OK);
    CU_ASSERT_EQUAL(krt_f16_to_f32(yh[0]), 0.5f);
    CU_ASSERT_EQUAL(krt_f16_to_f32(yh[1]), 2.5f);
    CU_ASSERT_EQUAL(maxpool(&d, KRT_I64, xd, yd, NULL, 0), KRT_EDTYPE);
    CU_ASSERT_EQUAL(avgpool(&d, KRT_U8, xd, yd, 0), KRT_EDTYPE);
}

static void test_pool_3d_and_lp(void)
{
    /* 3-D average over a 2x2x2 cube of 0..7 (mean 3.5); LpPool p = 1 and 3 */
    float x[8], y[1], l1[1], l3[1];
    for (int i = 0; i < 8; i++)
        x[i] = (float)i - 2;     /* -2..5 */
    krt_pool_desc d = {.nd = 3, .batch = 1, .channels = 1, .in = {2, 2, 2}, .out = {1, 1, 1},
                       .kernel = {2, 2, 2}, .stride = {1, 1, 1}, .dilation = {1, 1, 1}};
    CU_ASSERT_EQUAL(avgpool(&d, KRT_F32, x, y, 0), KRT_OK);
    CU_ASSERT_DOUBLE_EQUAL(y[0], 1.5, 1e-6);
    CU_ASSERT_EQUAL(lppool(&d, KRT_F32, x, l1, 1.0), KRT_OK);
    CU_ASSERT_DOUBLE_EQUAL(l1[0], 2 + 1 + 0 + 1 + 2 + 3 + 4 + 5, 1e-5);
    CU_ASSERT_EQUAL(lppool(&d, KRT_F32, x, l3, 3.0), KRT_OK);
    CU_ASSERT_DOUBLE_EQUAL(l3[0], cbrt(8 + 1 + 0 + 1 + 8 + 27 + 64 + 125), 1e-5);
}

static void test_global_pools(void)
{
    float x[6] = {1, -2, 3, -4, 5, 6}, y[2];
    double xd[3] = {3, 4, 0}, yd[1];
    CU_ASSERT_EQUAL(global_pool(KRT_POOL_AVG, KRT_F32, 2, 3, x, y, 0), KRT_OK);
    CU_ASSERT_DOUBLE_EQUAL(y[0], 2.0 / 3, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(y[1], 7.0 / 3, 1e-6);
    CU_ASSERT_EQUAL(global_pool(KRT_POOL_MAX, KRT_F32, 2, 3, x, y, 0), KRT_OK);
    CU_ASSERT_EQUAL(y[0], 3);
    CU_ASSERT_EQUAL(y[1], 6);
    CU_ASSERT_EQUAL(global_pool(KRT_POOL_LP, KRT_F64, 1, 3, xd, yd, 2), KRT_OK);
    CU_ASSERT_DOUBLE_EQUAL(yd[0], 5, 1e-12);
    CU_ASSERT_EQUAL(global_pool(KRT_POOL_MAX, KRT_I32, 1, 3, xd, yd, 2), KRT_EDTYPE);
}

static void test_pools_f16(void)
{
    /* 2x3 plane of f16-exact values: averages of 2x2 windows (stride 1) and
     * the global average / Lp, rounded once to f16 */
    const float x[6] = {1, 2.5f, -3, 4, 0.5f, 6};
    uint16_t xh[6], y[2], gavg[1], glp[1], lp[2];
    for (int i = 0; i < 6; i++)
        xh[i] = krt_f32_to_f16(x[i]);
    krt_pool_desc d = pool2d(1, 1, 2, 3, 2, 2, 1, 1, 1, 1, (int64_t[]){0, 0, 0, 0}, 0);
    CU_ASSERT_EQUAL(avgpool(&d, KRT_F16, xh, y, 0), KRT_OK);
    CU_ASSERT_EQUAL(y[0], krt_f32_to_f16((1 + 2.5f + 4 + 0.5f) / 4));
    CU_ASSERT_EQUAL(y[1], krt_f32_to_f16((2.5f - 3 + 0.5f + 6) / 4));
    CU_ASSERT_EQUAL(lppool(&d, KRT_F16, xh, lp, 1.0), KRT_OK);
    CU_ASSERT_EQUAL(lp[1], krt_f32_to_f16(2.5f + 3 + 0.5f + 6));
    CU_ASSERT_EQUAL(global_pool(KRT_POOL_AVG, KRT_F16, 1, 6, xh, gavg, 0), KRT_OK);
    CU_ASSERT_EQUAL(gavg[0], krt_f32_to_f16(11.0f / 6));
    CU_ASSERT_EQUAL(global_pool(KRT_POOL_LP, KRT_F16, 1, 6, xh, glp, 2), KRT_OK);
    CU_ASSERT_EQUAL(glp[0], krt_f32_to_f16((float)sqrt(1 + 6.25 + 9 + 16 + 0.25 + 36)));
}

static void test_maxunpool(void)
{
    /* test_maxunpool_export_without/with_output_shape (onnx backend values) */
    float x[4] = {5, 6, 7, 8}, y[25];
    int64_t idx[4] = {5, 7, 13, 15}, bad = -1;
    int64_t unpooled[4] = {1, 1, 4, 4}, out[4] = {1, 1, 5, 5};
    CU_ASSERT_EQUAL(maxunpool(KRT_F32, 4, unpooled, unpooled, 4, x, idx, y, &bad), KRT_OK);
    for (int i = 0; i < 16; i++)
        CU_ASSERT_EQUAL(y[i], i == 5 ? 5 : i == 7 ? 6 : i == 13 ? 7 : i == 15 ? 8 : 0);
    CU_ASSERT_EQUAL(maxunpool(KRT_F32, 4, unpooled, out, 4, x, idx, y, &bad), KRT_OK);
    for (int i = 0; i < 25; i++)
        CU_ASSERT_EQUAL(y[i], i == 6 ? 5 : i == 8 ? 6 : i == 16 ? 7 : i == 18 ? 8 : 0);
    int64_t wrong[4] = {5, 16, 1, 2};
    CU_ASSERT_EQUAL(maxunpool(KRT_F32, 4, unpooled, unpooled, 4, x, wrong, y, &bad), KRT_EINDEX);
    CU_ASSERT_EQUAL(bad, 1);
    wrong[1] = -1;
    CU_ASSERT_EQUAL(maxunpool(KRT_F32, 4, unpooled, unpooled, 4, x, wrong, y, &bad), KRT_EINDEX);
    CU_ASSERT_EQUAL(maxunpool(KRT_F32, 4, out, unpooled, 4, x, idx, y, &bad), KRT_EVALUE);
}

static CU_TestInfo pool_tests[] = {
    {"max/avg/lp pools vs naive walk", test_pools_vs_naive},
    {"window wholly in the padding", test_pool_window_in_padding},
    {"split work ranges are bit-identical", test_pool_split},
    {"maxpool ONNX examples (u8, argmax column-major)", test_maxpool_onnx_examples},
    {"maxpool dtypes", test_maxpool_dtypes},
    {"3-D average, Lp p = 1, 3", test_pool_3d_and_lp},
    {"global pools", test_global_pools},
    {"f16 average, Lp, global pools", test_pools_f16},
    {"maxunpool, output_shape corner, bad indices", test_maxunpool},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"pool", NULL, NULL, NULL, NULL, pool_tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
