/* test_linalg_conv.c — window geometry by hand, and Conv / ConvTranspose /
 * ConvInteger / QLinearConv (runtime/krt_linalg_conv.c) against naive
 * loops written here over 1-D, 2-D and 3-D cases (groups, depthwise,
 * pointwise, strides, dilations, asymmetric pads, chunked column matrix).
 * QLinearConv is also checked with the ONNX test's values, pasted from
 * onnx/backend/test/case/node/qlinearconv.py. */
#include "cunit_main.h"
#include "kernel_run.h"
#include "runtime/krt_linalg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint32_t rng = 777;

static float frand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static int irand(int lo, int hi)
{
    rng = rng * 1664525u + 1013904223u;
    return lo + (int)((rng >> 8) % (uint32_t)(hi - lo + 1));
}

/* The kernels through their kernel-call interface (tests/unit/kernel_run.h). */
static krt_status conv(krt_conv_desc d, krt_dtype dt, const void *x, const void *w,
                       const void *b, void *y)
{
    d.dtype = dt;
    return kernel_run(&krt_kernel_conv, &d, OPS((void *)x, (void *)w, (void *)b, y));
}

static krt_status convtranspose(krt_conv_desc d, krt_dtype dt, const void *x, const void *w,
                                const void *b, void *y)
{
    d.dtype = dt;
    return kernel_run(&krt_kernel_conv_transpose, &d, OPS((void *)x, (void *)w, (void *)b, y));
}

/* Runs k on d split into 1..7 ranges: each result must equal y bit for bit. */
static void expect_split_identical(const krt_kernel_info *k, const void *d, const void *x,
                                   const void *w, const void *b, const void *y, size_t ybytes)
{
    void *y2 = malloc(ybytes ? ybytes : 1);
    for (int parts = 2; parts <= 7; parts += 5) {
        memset(y2, 0x7f, ybytes);
        CU_ASSERT_EQUAL(kernel_run_split(k, d, OPS((void *)x, (void *)w, (void *)b, y2), parts), KRT_OK);
        CU_ASSERT_EQUAL(memcmp(y, y2, ybytes), 0);
    }
    free(y2);
}

static float *frandv(int64_t n)
{
    float *p = malloc((size_t)(n ? n : 1) * sizeof *p);
    for (int64_t i = 0; i < n; i++)
        p[i] = frand();
    return p;
}

/* ---- geometry -------------------------------------------------------------------- */

static void expect_window(int64_t in, int64_t k, int64_t s, int64_t d, krt_auto_pad ap, int ceil,
                          int64_t pb, int64_t pe, int64_t want_out, int64_t want_pb, int64_t want_pe)
{
    int64_t out = -1;
    CU_ASSERT_EQUAL_FATAL(krt_window_dim(in, k, s, d, ap, ceil, &pb, &pe, &out), KRT_OK);
    CU_ASSERT_EQUAL(out, want_out);
    CU_ASSERT_EQUAL(pb, want_pb);
    CU_ASSERT_EQUAL(pe, want_pe);
}

static void test_window_dim(void)
{
    expect_window(5, 3, 1, 1, KRT_PAD_NOTSET, 0, 1, 1, 5, 1, 1);
    expect_window(5, 3, 2, 1, KRT_PAD_SAME_UPPER, 0, 0, 0, 3, 1, 1);
    expect_window(6, 3, 2, 1, KRT_PAD_SAME_UPPER, 0, 9, 9, 3, 0, 1);  /* pads ignored */
    expect_window(6, 3, 2, 1, KRT_PAD_SAME_LOWER, 0, 0, 0, 3, 1, 0);
    expect_window(4, 1, 2, 1, KRT_PAD_SAME_UPPER, 0, 0, 0, 2, 0, 0);
    expect_window(7, 3, 2, 1, KRT_PAD_VALID, 0, 3, 3, 3, 0, 0);
    expect_window(4, 3, 2, 1, KRT_PAD_NOTSET, 0, 0, 0, 1, 0, 0);
    expect_window(4, 3, 2, 1, KRT_PAD_NOTSET, 1, 0, 0, 2, 0, 0);       /* ceil_mode */
    expect_window(7, 3, 1, 2, KRT_PAD_NOTSET, 0, 0, 0, 3, 0, 0);       /* dilation: span 5 */
    expect_window(5, 5, 1, 1, KRT_PAD_NOTSET, 0, 2, 2, 5, 2, 2);
}

static void test_window_dim_errors(void)
{
    int64_t pb = 0, pe = 0, out;
    CU_ASSERT_EQUAL(krt_window_dim(2, 5, 1, 1, KRT_PAD_NOTSET, 0, &pb, &pe, &out), KRT_EVALUE);
    CU_ASSERT_EQUAL(krt_window_dim(5, 3, 0, 1, KRT_PAD_NOTSET, 0, &pb, &pe, &out), KRT_EVALUE);
    CU_ASSERT_EQUAL(krt_window_dim(5, 0, 1, 1, KRT_PAD_NOTSET, 0, &pb, &pe, &out), KRT_EVALUE);
    CU_ASSERT_EQUAL(krt_window_dim(5, 3, 1, 0, KRT_PAD_NOTSET, 0, &pb, &pe, &out), KRT_EVALUE);
    pb = -1;
    CU_ASSERT_EQUAL(krt_window_dim(5, 3, 1, 1, KRT_PAD_NOTSET, 0, &pb, &pe, &out), KRT_EVALUE);
    pb = 0;
    CU_ASSERT_EQUAL(krt_window_dim(4, 3, 1, 3, KRT_PAD_VALID, 0, &pb, &pe, &out), KRT_EVALUE);
    /* parameters above 2^31 are refused before any product could overflow */
    CU_ASSERT_EQUAL(krt_window_dim(5, 3, 1, INT64_MAX / 2, KRT_PAD_NOTSET, 0, &pb, &pe, &out), KRT_EVALUE);
    pe = INT64_MAX;
    CU_ASSERT_EQUAL(krt_window_dim(5, 3, 1, 1, KRT_PAD_NOTSET, 0, &pb, &pe, &out), KRT_EVALUE);
    pe = 0;
    CU_ASSERT_EQUAL(krt_convtranspose_dim(INT64_MAX / 4, 3, 1 << 30, 1, 0, KRT_PAD_NOTSET, 0, &pb, &pe, &out),
                    KRT_EVALUE);
}

static void expect_convt(int64_t in, int64_t k, int64_t s, int64_t d, int64_t opad, krt_auto_pad ap,
                         int64_t oshape, int64_t pb, int64_t pe, int64_t want_out, int64_t want_pb,
                         int64_t want_pe)
{
    int64_t out = -1;
    CU_ASSERT_EQUAL_FATAL(krt_convtranspose_dim(in, k, s, d, opad, ap, oshape, &pb, &pe, &out), KRT_OK);
    CU_ASSERT_EQUAL(out, want_out);
    CU_ASSERT_EQUAL(pb, want_pb);
    CU_ASSERT_EQUAL(pe, want_pe);
}

static void test_convtranspose_dim(void)
{
    expect_convt(3, 3, 2, 1, 0, KRT_PAD_NOTSET, 0, 0, 0, 7, 0, 0);
    expect_convt(3, 3, 2, 1, 1, KRT_PAD_NOTSET, 0, 0, 0, 8, 0, 0);
    expect_convt(3, 3, 2, 1, 0, KRT_PAD_NOTSET, 0, 1, 1, 5, 1, 1);
    expect_convt(3, 3, 2, 2, 0, KRT_PAD_NOTSET, 0, 0, 0, 9, 0, 0);     /* dilation */
    expect_convt(3, 3, 2, 1, 0, KRT_PAD_SAME_UPPER, 0, 0, 0, 6, 0, 1);
    expect_convt(3, 3, 2, 1, 0, KRT_PAD_SAME_LOWER, 0, 0, 0, 6, 1, 0);
    expect_convt(3, 3, 3, 1, 0, KRT_PAD_NOTSET, 10, 0, 0, 10, 0, 0);    /* bigger than full 9 */
    expect_convt(3, 3, 2, 1, 0, KRT_PAD_NOTSET, 4, 0, 0, 4, 2, 1);      /* total 3: extra at start */
    int64_t pb = 5, pe = 5, out;
    CU_ASSERT_EQUAL(krt_convtranspose_dim(1, 1, 1, 1, 0, KRT_PAD_NOTSET, 0, &pb, &pe, &out), KRT_EVALUE);
}

/* ---- naive references (3 spatial dims; lower ranks pad with size-1 dims) ------------ */

typedef struct geo {
    int64_t N, C, M, G;
    int64_t in[3], out[3], k[3], s[3], d[3], p[3];
} geo;

static krt_conv_desc desc_of(const geo *g, int nd)
{
    krt_conv_desc d = {.nd = nd, .batch = g->N, .in_ch = g->C, .out_ch = g->M, .group = g->G};
    for (int i = 0; i < nd; i++) {
        int j = 3 - nd + i;
        d.in[i] = g->in[j], d.out[i] = g->out[j], d.kernel[i] = g->k[j];
        d.stride[i] = g->s[j], d.dilation[i] = g->d[j], d.pad[i] = g->p[j];
    }
    return d;
}

/* Fills the unused leading dims with 1s and computes out from pads (pb, pe). */
static geo make_geo(int nd, int64_t N, int64_t C, int64_t M, int64_t G, const int64_t *in,
                    const int64_t *k, const int64_t *s, const int64_t *d, const int64_t *pb,
                    const int64_t *pe)
{
    geo g = {N, C, M, G, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}};
    for (int i = 0; i < nd; i++) {
        int j = 3 - nd + i;
        g.in[j] = in[i], g.k[j] = k[i], g.s[j] = s[i], g.d[j] = d[i], g.p[j] = pb[i];
        g.out[j] = (in[i] + pb[i] + pe[i] - ((k[i] - 1) * d[i] + 1)) / s[i] + 1;
    }
    return g;
}

static int64_t vol(const int64_t *v) { return v[0] * v[1] * v[2]; }

/* y[n][m][o] = b[m] + sum_{c in group, kpos} x[n][c][o*s - p + kpos*d] * w[m][c'][kpos] */
static void naive_conv(const geo *g, const float *x, const float *w, const float *b, double *y)
{
    int64_t cg = g->C / g->G, mg = g->M / g->G;
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t m = 0; m < g->M; m++)
            for (int64_t o0 = 0; o0 < g->out[0]; o0++)
                for (int64_t o1 = 0; o1 < g->out[1]; o1++)
                    for (int64_t o2 = 0; o2 < g->out[2]; o2++) {
                        double acc = b ? b[m] : 0;
                        for (int64_t c = 0; c < cg; c++)
                            for (int64_t k0 = 0; k0 < g->k[0]; k0++)
                                for (int64_t k1 = 0; k1 < g->k[1]; k1++)
                                    for (int64_t k2 = 0; k2 < g->k[2]; k2++) {
                                        int64_t i0 = o0 * g->s[0] - g->p[0] + k0 * g->d[0];
                                        int64_t i1 = o1 * g->s[1] - g->p[1] + k1 * g->d[1];
                                        int64_t i2 = o2 * g->s[2] - g->p[2] + k2 * g->d[2];
                                        if (i0 < 0 || i0 >= g->in[0] || i1 < 0 || i1 >= g->in[1] ||
                                            i2 < 0 || i2 >= g->in[2])
                                            continue;
                                        int64_t ci = (m / mg) * cg + c;
                                        double xv = x[(((n * g->C + ci) * g->in[0] + i0) * g->in[1] + i1) * g->in[2] + i2];
                                        double wv = w[(((m * cg + c) * g->k[0] + k0) * g->k[1] + k1) * g->k[2] + k2];
                                        acc += xv * wv;
                                    }
                        y[(((n * g->M + m) * g->out[0] + o0) * g->out[1] + o1) * g->out[2] + o2] = acc;
                    }
}

static void check_conv(int nd, const geo *g, bool bias)
{
    int64_t nx = g->N * g->C * vol(g->in), nw = g->M * (g->C / g->G) * vol(g->k);
    int64_t ny = g->N * g->M * vol(g->out);
    float *x = frandv(nx), *w = frandv(nw), *b = frandv(g->M), *y = frandv(ny);
    double *want = malloc((size_t)ny * sizeof *want);
    krt_conv_desc d = desc_of(g, nd);
    CU_ASSERT_EQUAL(conv(d, KRT_F32, x, w, bias ? b : NULL, y), KRT_OK);
    d.dtype = KRT_F32;
    expect_split_identical(&krt_kernel_conv, &d, x, w, bias ? b : NULL, y, (size_t)ny * 4);
    naive_conv(g, x, w, bias ? b : NULL, want);
    double err = 0;
    for (int64_t i = 0; i < ny; i++)
        err = fmax(err, fabs(y[i] - want[i]) / (1 + fabs(want[i])));
    if (err > 1e-5)
        fprintf(stderr, "\n  conv nd=%d error %g", nd, err);
    CU_ASSERT(err <= 1e-5);
    free(x), free(w), free(b), free(y), free(want);
}

static void test_conv_1d(void)
{
    geo g = make_geo(1, 2, 3, 4, 1, (int64_t[]){11}, (int64_t[]){3}, (int64_t[]){2},
                     (int64_t[]){2}, (int64_t[]){1}, (int64_t[]){2});
    check_conv(1, &g, true);
}

static void test_conv_2d_groups(void)
{
    geo g = make_geo(2, 1, 4, 6, 2, (int64_t[]){9, 8}, (int64_t[]){3, 2}, (int64_t[]){2, 1},
                     (int64_t[]){1, 2}, (int64_t[]){1, 0}, (int64_t[]){0, 2});
    check_conv(2, &g, true);
    geo h = make_geo(2, 2, 3, 5, 1, (int64_t[]){7, 7}, (int64_t[]){3, 3}, (int64_t[]){1, 1},
                     (int64_t[]){1, 1}, (int64_t[]){1, 1}, (int64_t[]){1, 1});
    check_conv(2, &h, false);
}

static void test_conv_2d_depthwise(void)
{
    /* one input channel per group: direct loops; multiplier 2 */
    geo g = make_geo(2, 2, 4, 8, 4, (int64_t[]){6, 7}, (int64_t[]){3, 3}, (int64_t[]){2, 1},
                     (int64_t[]){1, 2}, (int64_t[]){1, 2}, (int64_t[]){1, 1});
    check_conv(2, &g, true);
}

static void test_conv_pointwise(void)
{
    geo g = make_geo(2, 2, 5, 3, 1, (int64_t[]){4, 6}, (int64_t[]){1, 1}, (int64_t[]){1, 1},
                     (int64_t[]){1, 1}, (int64_t[]){0, 0}, (int64_t[]){0, 0});
    check_conv(2, &g, true);
}

static void test_conv_3d(void)
{
    geo g = make_geo(3, 1, 2, 3, 1, (int64_t[]){4, 5, 6}, (int64_t[]){2, 3, 2}, (int64_t[]){1, 2, 1},
                     (int64_t[]){1, 1, 2}, (int64_t[]){0, 1, 1}, (int64_t[]){1, 1, 0});
    check_conv(3, &g, true);
}

static void test_conv_chunked(void)
{
    /* rows 16*9 = 144, positions 128*128: the column matrix goes in chunks */
    geo g = make_geo(2, 1, 16, 4, 1, (int64_t[]){128, 128}, (int64_t[]){3, 3}, (int64_t[]){1, 1},
                     (int64_t[]){1, 1}, (int64_t[]){1, 1}, (int64_t[]){1, 1});
    check_conv(2, &g, true);
}

static void test_conv_f64_and_dtype(void)
{
    /* 1-D, x = [1 2 3 4], w = [1 0 -1], pads 1: y = [-2, -2, -2, 3] + bias 0.5 */
    double x[4] = {1, 2, 3, 4}, w[3] = {1, 0, -1}, b[1] = {0.5}, y[4];
    krt_conv_desc d = {.nd = 1, .batch = 1, .in_ch = 1, .out_ch = 1, .group = 1,
                       .in = {4}, .out = {4}, .kernel = {3}, .stride = {1}, .dilation = {1}, .pad = {1}};
    CU_ASSERT_EQUAL(conv(d, KRT_F64, x, w, b, y), KRT_OK);
    CU_ASSERT_DOUBLE_EQUAL(y[0], -2 + 0.5, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(y[1], -2 + 0.5, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(y[2], -2 + 0.5, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(y[3], 3 + 0.5, 1e-12);
    CU_ASSERT_EQUAL(conv(d, KRT_I32, x, w, b, y), KRT_EDTYPE);
}

/* ---- ConvTranspose ------------------------------------------------------------------ */

/* y[n][g*mg+m][i*s - p + k*d] += x[n][g*cg+c][i] * w[g*cg+c][m][k], plus bias. */
static void naive_convt(const geo *g, const float *x, const float *w, const float *b, double *y)
{
    int64_t cg = g->C / g->G, mg = g->M / g->G, ny = g->N * g->M * vol(g->out);
    for (int64_t i = 0; i < ny; i++)
        y[i] = b ? b[(i / vol(g->out)) % g->M] : 0;
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t ci = 0; ci < g->C; ci++)
            for (int64_t m = 0; m < mg; m++)
                for (int64_t i0 = 0; i0 < g->in[0]; i0++)
                    for (int64_t i1 = 0; i1 < g->in[1]; i1++)
                        for (int64_t i2 = 0; i2 < g->in[2]; i2++)
                            for (int64_t k0 = 0; k0 < g->k[0]; k0++)
                                for (int64_t k1 = 0; k1 < g->k[1]; k1++)
                                    for (int64_t k2 = 0; k2 < g->k[2]; k2++) {
                                        int64_t o0 = i0 * g->s[0] - g->p[0] + k0 * g->d[0];
                                        int64_t o1 = i1 * g->s[1] - g->p[1] + k1 * g->d[1];
                                        int64_t o2 = i2 * g->s[2] - g->p[2] + k2 * g->d[2];
                                        if (o0 < 0 || o0 >= g->out[0] || o1 < 0 || o1 >= g->out[1] ||
                                            o2 < 0 || o2 >= g->out[2])
                                            continue;
                                        int64_t mo = (ci / cg) * mg + m;
                                        double xv = x[(((n * g->C + ci) * g->in[0] + i0) * g->in[1] + i1) * g->in[2] + i2];
                                        double wv = w[(((ci * mg + m) * g->k[0] + k0) * g->k[1] + k1) * g->k[2] + k2];
                                        y[(((n * g->M + mo) * g->out[0] + o0) * g->out[1] + o1) * g->out[2] + o2] += xv * wv;
                                    }
}

static void check_convt(int nd, geo *g, const int64_t *out_dims, bool bias)
{
    for (int i = 0; i < nd; i++)
        g->out[3 - nd + i] = out_dims[i];
    int64_t nx = g->N * g->C * vol(g->in), nw = g->C * (g->M / g->G) * vol(g->k);
    int64_t ny = g->N * g->M * vol(g->out);
    float *x = frandv(nx), *w = frandv(nw), *b = frandv(g->M), *y = frandv(ny);
    double *want = malloc((size_t)ny * sizeof *want);
    krt_conv_desc d = desc_of(g, nd);
    CU_ASSERT_EQUAL(convtranspose(d, KRT_F32, x, w, bias ? b : NULL, y), KRT_OK);
    d.dtype = KRT_F32;
    expect_split_identical(&krt_kernel_conv_transpose, &d, x, w, bias ? b : NULL, y, (size_t)ny * 4);
    naive_convt(g, x, w, bias ? b : NULL, want);
    double err = 0;
    for (int64_t i = 0; i < ny; i++)
        err = fmax(err, fabs(y[i] - want[i]) / (1 + fabs(want[i])));
    CU_ASSERT(err <= 1e-5);
    free(x), free(w), free(b), free(y), free(want);
}

static void test_convtranspose_cases(void)
{
    int64_t one[3] = {1, 1, 1}, zero[3] = {0, 0, 0};
    geo a = make_geo(2, 2, 4, 6, 2, (int64_t[]){3, 4}, (int64_t[]){3, 2}, (int64_t[]){2, 3},
                     (int64_t[]){1, 2}, (int64_t[]){1, 0}, zero);
    check_convt(2, &a, (int64_t[]){6, 12}, true);    /* 2*(3-1)+3-1 = 6; 3*3+3 = 12 */
    geo b = make_geo(1, 1, 3, 2, 1, (int64_t[]){5}, (int64_t[]){4}, (int64_t[]){1}, one, zero, zero);
    check_convt(1, &b, (int64_t[]){8}, false);
    geo c = make_geo(3, 1, 2, 2, 1, (int64_t[]){2, 3, 2}, (int64_t[]){2, 2, 3}, (int64_t[]){2, 1, 2},
                     one, zero, zero);
    check_convt(3, &c, (int64_t[]){5, 4, 7}, true);  /* output larger than full: zeros at the end */
}

static void test_convtranspose_onnx_1d(void)
{
    /* test_convtranspose_1d: x [0 1 2], W (1,2,3) ones -> [[0 1 3 3 2], [0 1 3 3 2]] */
    float x[3] = {0, 1, 2}, w[6] = {1, 1, 1, 1, 1, 1}, y[10];
    const float want[10] = {0, 1, 3, 3, 2, 0, 1, 3, 3, 2};
    krt_conv_desc d = {.nd = 1, .batch = 1, .in_ch = 1, .out_ch = 2, .group = 1,
                       .in = {3}, .out = {5}, .kernel = {3}, .stride = {1}, .dilation = {1}};
    CU_ASSERT_EQUAL(convtranspose(d, KRT_F32, x, w, NULL, y), KRT_OK);
    for (int i = 0; i < 10; i++)
        CU_ASSERT_EQUAL(y[i], want[i]);
}

/* ---- integer convolutions -------------------------------------------------------------- */

static void test_conv_integer(void)
{
    /* i8 x with zero point 3 (padding reads 3, contributing 0), u8 w with
     * per-output-channel zero points */
    enum { C = 2, M = 3, H = 4, W = 5 };
    int8_t x[C * H * W], xzp = 3;
    uint8_t w[M * C * 2 * 2], wzp[M] = {0, 128, 255};
    int32_t y[M * 5 * 6];
    for (int i = 0; i < C * H * W; i++) x[i] = (int8_t)irand(-128, 127);
    for (int i = 0; i < M * C * 4; i++) w[i] = (uint8_t)irand(0, 255);
    krt_conv_desc d = {.nd = 2, .batch = 1, .in_ch = C, .out_ch = M, .group = 1, .in = {H, W},
                       .out = {5, 6}, .kernel = {2, 2}, .stride = {1, 1}, .dilation = {1, 1}, .pad = {1, 1}};
    krt_qconv_desc q = {.conv = d, .w_dtype = KRT_U8, .y_dtype = KRT_I32, .n_w_zp = M};
    q.conv.dtype = KRT_I8;
    CU_ASSERT_EQUAL(kernel_run(&krt_kernel_qconv, &q, OPS(x, NULL, &xzp, w, NULL, wzp, NULL, NULL, NULL, y)),
                    KRT_OK);
    for (int m = 0; m < M; m++)
        for (int oh = 0; oh < 5; oh++)
            for (int ow = 0; ow < 6; ow++) {
                int32_t acc = 0;
                for (int c = 0; c < C; c++)
                    for (int kh = 0; kh < 2; kh++)
                        for (int kw = 0; kw < 2; kw++) {
                            int ih = oh - 1 + kh, iw = ow - 1 + kw;
                            int xv = ih < 0 || ih >= H || iw < 0 || iw >= W ? xzp : x[(c * H + ih) * W + iw];
                            acc += (xv - xzp) * (w[((m * C + c) * 2 + kh) * 2 + kw] - wzp[m]);
                        }
                CU_ASSERT_EQUAL(y[(m * 5 + oh) * 6 + ow], acc);
            }
}

static void test_qlinear_conv_onnx_example(void)
{
    /* test_qlinearconv: values from onnx/backend/test/case/node/qlinearconv.py */
    const uint8_t x[49] = {255, 174, 162, 25, 203, 168, 58, 15, 59, 237, 95, 129, 0, 64,
                           56, 242, 153, 221, 168, 12, 166, 232, 178, 186, 195, 237, 162, 237,
                           188, 39, 124, 77, 80, 102, 43, 127, 230, 21, 83, 41, 40, 134,
                           255, 154, 92, 141, 42, 148, 247};
    const uint8_t want[49] = {0, 81, 93, 230, 52, 87, 197, 240, 196, 18, 160, 126, 255, 191,
                              199, 13, 102, 34, 87, 243, 89, 23, 77, 69, 60, 18, 93, 18,
                              67, 216, 131, 178, 175, 153, 212, 128, 25, 234, 172, 214, 215, 121,
                              0, 101, 163, 114, 213, 107, 8};
    uint8_t w = 0, xzp = 132, wzp = 255, yzp = 123, y[49];
    float xs = 0.00369204697f, ws = 0.00172794575f, ys = 0.00162681262f;
    krt_conv_desc d = {.nd = 2, .batch = 1, .in_ch = 1, .out_ch = 1, .group = 1, .in = {7, 7},
                       .out = {7, 7}, .kernel = {1, 1}, .stride = {1, 1}, .dilation = {1, 1}};
    krt_qconv_desc q = {.conv = d, .w_dtype = KRT_U8, .y_dtype = KRT_U8, .n_w_zp = 1, .n_w_scale = 1};
    q.conv.dtype = KRT_U8;
    CU_ASSERT_EQUAL(kernel_run(&krt_kernel_qconv, &q,
                               OPS((void *)x, &xs, &xzp, &w, &ws, &wzp, &ys, &yzp, NULL, y)), KRT_OK);
    for (int i = 0; i < 49; i++)
        CU_ASSERT_EQUAL(y[i], want[i]);
}

static void test_qlinear_conv_bias_i8(void)
{
    /* 1-D, i8: acc = sum (x - 1) * w + bias; y = round(acc * 0.5 * 0.5 / 0.25) - 2 */
    int8_t x[3] = {3, -1, 5}, w[2] = {2, -1}, y[2], xzp = 1, wzp = 0, yzp = -2;
    int32_t bias[1] = {7};
    float xs = 0.5f, ws = 0.5f, ys = 0.25f;
    krt_conv_desc d = {.nd = 1, .batch = 1, .in_ch = 1, .out_ch = 1, .group = 1, .in = {3},
                       .out = {2}, .kernel = {2}, .stride = {1}, .dilation = {1}};
    krt_qconv_desc q = {.conv = d, .w_dtype = KRT_I8, .y_dtype = KRT_I8, .n_w_zp = 1, .n_w_scale = 1};
    q.conv.dtype = KRT_I8;
    CU_ASSERT_EQUAL(kernel_run(&krt_kernel_qconv, &q, OPS(x, &xs, &xzp, w, &ws, &wzp, &ys, &yzp, bias, y)),
                    KRT_OK);
    CU_ASSERT_EQUAL(y[0], (2 * 2 + -2 * -1 + 7) - 2);   /* 13 * 1.0 = 13 -> 11 */
    CU_ASSERT_EQUAL(y[1], (-2 * 2 + 4 * -1 + 7) - 2);   /* -1 -> -3 */
}

/* f16 (computed in f32): small integers keep every value exact in f16. */
static void test_conv_f16(void)
{
    enum { NX = 2 * 4 * 5, NW = 3 * 2 * 2 * 2, NY = 3 * 4 * 4, NWT = 2 * 3 * 2 * 2, NYT = 3 * 3 * 6 };
    float x[NX], w[NW], b[3] = {1, -2, 3}, y32[NY], yt32[NYT];
    uint16_t xh[NX], wh[NW], bh[3], yh[NY], yth[NYT];
    for (int i = 0; i < NX; i++) x[i] = (float)(i % 5 - 2), xh[i] = krt_f32_to_f16(x[i]);
    for (int i = 0; i < NW; i++) w[i] = (float)(i % 3 - 1), wh[i] = krt_f32_to_f16(w[i]);
    for (int i = 0; i < 3; i++) bh[i] = krt_f32_to_f16(b[i]);
    krt_conv_desc d = {.nd = 2, .batch = 1, .in_ch = 2, .out_ch = 3, .group = 1, .in = {4, 5},
                       .out = {4, 4}, .kernel = {2, 2}, .stride = {1, 1}, .dilation = {1, 1},
                       .pad = {1, 0}};
    CU_ASSERT_EQUAL(conv(d, KRT_F32, x, w, b, y32), KRT_OK);
    CU_ASSERT_EQUAL(conv(d, KRT_F16, xh, wh, bh, yh), KRT_OK);
    for (int i = 0; i < NY; i++)
        CU_ASSERT_EQUAL(krt_f16_to_f32(yh[i]), y32[i]);
    d.dtype = KRT_F16;
    expect_split_identical(&krt_kernel_conv, &d, xh, wh, bh, yh, sizeof yh);
    /* transpose: x (1,2,4,5) -> (1,3,3,6) with W (2,3,2,2), stride (1,1), pads (1,0,1,0) */
    krt_conv_desc t = {.nd = 2, .batch = 1, .in_ch = 2, .out_ch = 3, .group = 1, .in = {4, 5},
                       .out = {3, 6}, .kernel = {2, 2}, .stride = {1, 1}, .dilation = {1, 1},
                       .pad = {1, 0}};
    CU_ASSERT_EQUAL(convtranspose(t, KRT_F32, x, w, NULL, yt32), KRT_OK);
    CU_ASSERT_EQUAL(convtranspose(t, KRT_F16, xh, wh, NULL, yth), KRT_OK);
    for (int i = 0; i < NYT; i++)
        CU_ASSERT_EQUAL(krt_f16_to_f32(yth[i]), yt32[i]);
    (void)NWT;
}

/* Kernel conv_epi (kiln.FusedConv): Relu and Clip with a residual, on
 * the GEMM paths (groups, 1x1, strided and dilated) and the depthwise one
 * (stride 1 and 2, channel multiplier 2): bit-equal to conv followed by
 * the activation and the Add done here (the same operations in the same
 * order), and identical when the units are split over 2 or 7 parts. */
static void check_conv_epi(const geo *g, krt_gemm_act act)
{
    int64_t nx = g->N * g->C * vol(g->in), nw = g->M * (g->C / g->G) * vol(g->k);
    int64_t ny = g->N * g->M * vol(g->out);
    float *x = frandv(nx), *w = frandv(nw), *b = frandv(g->M), *r = frandv(ny);
    float *want = frandv(ny), *y = frandv(ny), *y2 = malloc((size_t)ny * 4);
    krt_conv_epi_desc e = {.conv = desc_of(g, 2), .act = act, .lo = -0.25f, .hi = 0.5f,
                           .has_residual = 1};
    e.conv.dtype = KRT_F32;
    CU_ASSERT_EQUAL(conv(e.conv, KRT_F32, x, w, b, want), KRT_OK);
    for (int64_t i = 0; i < ny; i++) {
        float v = want[i];
        v = act == KRT_GEMM_ACT_RELU ? (v < 0 ? 0 : v) : (v < e.lo ? e.lo : v > e.hi ? e.hi : v);
        want[i] = v + r[i];
    }
    CU_ASSERT_EQUAL(kernel_run(&krt_kernel_conv_epi, &e, OPS(x, w, b, r, y)), KRT_OK);
    CU_ASSERT_EQUAL(memcmp(y, want, (size_t)ny * 4), 0);
    for (int parts = 2; parts <= 7; parts += 5) {
        memset(y2, 0x7f, (size_t)ny * 4);
        CU_ASSERT_EQUAL(kernel_run_split(&krt_kernel_conv_epi, &e, OPS(x, w, b, r, y2), parts), KRT_OK);
        CU_ASSERT_EQUAL(memcmp(y, y2, (size_t)ny * 4), 0);
    }
    free(x), free(w), free(b), free(r), free(want), free(y), free(y2);
}

static void test_conv_epi(void)
{
    static const struct {
        int64_t C, M, G, in[2], k[2], s[2], d[2], p[2];
    } cases[] = {
        {6, 8, 2, {13, 11}, {3, 3}, {1, 1}, {1, 1}, {1, 1}},     /* groups */
        {5, 70, 1, {17, 19}, {3, 3}, {2, 1}, {2, 1}, {2, 1}},    /* strided, dilated */
        {24, 40, 1, {9, 30}, {1, 1}, {1, 1}, {1, 1}, {0, 0}},    /* pointwise */
        {12, 12, 12, {15, 14}, {3, 3}, {1, 1}, {1, 1}, {1, 1}},  /* depthwise */
        {8, 16, 8, {21, 7}, {3, 5}, {2, 2}, {1, 2}, {1, 2}},     /* depthwise x2, strided */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t pe[2] = {cases[i].p[0], cases[i].p[1]};
        geo g = make_geo(2, 1, cases[i].C, cases[i].M, cases[i].G, cases[i].in, cases[i].k,
                         cases[i].s, cases[i].d, cases[i].p, pe);
        check_conv_epi(&g, KRT_GEMM_ACT_RELU);
        check_conv_epi(&g, KRT_GEMM_ACT_CLIP);
    }
    krt_conv_epi_desc e = {.conv = {.dtype = KRT_F64, .nd = 2, .batch = 1, .in_ch = 1,
                                    .out_ch = 1, .group = 1, .in = {1, 1}, .out = {1, 1},
                                    .kernel = {1, 1}, .stride = {1, 1}, .dilation = {1, 1}}};
    double one = 1;
    CU_ASSERT_EQUAL(kernel_run(&krt_kernel_conv_epi, &e, OPS(&one, &one, NULL, NULL, &one)),
                    KRT_EDTYPE);
}

static CU_TestInfo geometry_tests[] = {
    {"window dims: pads, SAME, VALID, ceil, dilation", test_window_dim},
    {"window dims: errors", test_window_dim_errors},
    {"convtranspose dims", test_convtranspose_dim},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo conv_tests[] = {
    {"conv 1-D strided dilated padded", test_conv_1d},
    {"conv 2-D groups", test_conv_2d_groups},
    {"conv 2-D depthwise", test_conv_2d_depthwise},
    {"conv pointwise", test_conv_pointwise},
    {"conv 3-D", test_conv_3d},
    {"conv chunked column matrix", test_conv_chunked},
    {"conv f64, unsupported dtype", test_conv_f64_and_dtype},
    {"convtranspose vs naive", test_convtranspose_cases},
    {"convtranspose ONNX 1-D example", test_convtranspose_onnx_1d},
    {"conv / convtranspose f16", test_conv_f16},
    {"conv_epi: conv + activation + residual, any split", test_conv_epi},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo int_tests[] = {
    {"conv integer with zero points and padding", test_conv_integer},
    {"qlinear conv: ONNX example", test_qlinear_conv_onnx_example},
    {"qlinear conv: i8 with bias", test_qlinear_conv_bias_i8},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"geometry", NULL, NULL, NULL, NULL, geometry_tests},
    {"conv", NULL, NULL, NULL, NULL, conv_tests},
    {"integer conv", NULL, NULL, NULL, NULL, int_tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
