/* test_reduce_kernels.c — the reduce-family kernels (runtime/krt_reduce.h)
 * against independent references: naive loops written here in double
 * (every output recomputed from the definition, by coordinates, without
 * the kernels' merged-axes plans or column chunks), hand-computed values,
 * and a few values from numpy (/usr/bin/python3, noted where used).
 *
 * The kernels are called through the kernel ABI (runtime/krt_kernel.h),
 * one unit at a time with scratch of the size they ask for, by the small
 * helpers below that fill a descriptor: every reference check also checks
 * that the work units tile the outputs.
 */
#include "cunit_main.h"
#include "runtime/krt_reduce.h"

#include <math.h>
#include <stdlib.h>

/* ---- calling the kernels ----------------------------------------------------------- */

/* Run kernel k over all its units, one call per unit; *err as the kernel
 * left it. */
static krt_status call_err(krt_kernel_id k, const void *desc, void *const *ops, krt_error *err)
{
    void *scratch = malloc(krt_kernel_scratch(k, desc) + 64);
    *err = (krt_error){.operand = -1};
    krt_status st = krt_kernels[k]->run(desc, ops, NULL, (krt_span){0, 0}, err);
    for (int64_t u = 0; st == KRT_OK && u < krt_kernel_units(k, desc); u++)
        st = krt_kernels[k]->run(desc, ops, scratch, (krt_span){u, u + 1}, err);
    free(scratch);
    return st;
}

static krt_status call(krt_kernel_id k, const void *desc, void *const *ops)
{
    krt_error err;
    return call_err(k, desc, ops, &err);
}

static krt_status reduce(krt_reduce_op op, krt_dtype dt, int rank, const int64_t *dims,
                         uint32_t mask, const void *x, void *y, void *unused_scratch)
{
    krt_reduce_desc d = {.op = op, .dt = dt, .rank = rank, .mask = mask};
    memcpy(d.dims, dims, (size_t)rank * sizeof *dims);
    return call(KRT_K_REDUCE, &d, (void *[]){(void *)x, y});
}

static krt_status argreduce(bool is_min, bool last, krt_dtype dt, int64_t outer, int64_t n,
                            int64_t inner, const void *x, int64_t *y)
{
    krt_argreduce_desc d = {.dt = dt, .is_min = is_min, .select_last = last, .outer = outer,
                            .n = n, .inner = inner};
    return call(KRT_K_ARGREDUCE, &d, (void *[]){(void *)x, y});
}

static krt_status cumsum(krt_dtype dt, int64_t outer, int64_t n, int64_t inner, bool exclusive,
                         bool reverse, const void *x, void *y)
{
    krt_cumsum_desc d = {.dt = dt, .exclusive = exclusive, .reverse = reverse, .outer = outer,
                         .n = n, .inner = inner};
    return call(KRT_K_CUMSUM, &d, (void *[]){(void *)x, y});
}

static krt_status softmax(krt_softmax_kind kind, krt_dtype dt, int64_t outer, int64_t n,
                          int64_t inner, const void *x, void *y)
{
    krt_softmax_desc d = {.kind = kind, .dt = dt, .outer = outer, .n = n, .inner = inner};
    return call(KRT_K_SOFTMAX, &d, (void *[]){(void *)x, y});
}

static krt_status batchnorm(krt_dtype dt, krt_dtype param_dt, krt_dtype stat_dt, int64_t n,
                            int64_t c, int64_t sp, const void *x, const void *scale,
                            const void *bias, const void *mean, const void *var, float eps,
                            void *y)
{
    krt_batchnorm_desc d = {.dt = dt, .param_dt = param_dt, .stat_dt = stat_dt, .epsilon = eps,
                            .n = n, .c = c, .spatial = sp};
    return call(KRT_K_BATCHNORM, &d,
                (void *[]){(void *)x, (void *)scale, (void *)bias, (void *)mean, (void *)var, y});
}

static krt_status instancenorm(krt_dtype dt, int64_t n, int64_t c, int64_t sp, const void *x,
                               const void *scale, const void *bias, float eps, void *y)
{
    krt_instancenorm_desc d = {.dt = dt, .epsilon = eps, .n = n, .c = c, .spatial = sp};
    return call(KRT_K_INSTANCENORM, &d, (void *[]){(void *)x, (void *)scale, (void *)bias, y});
}

/* Rows of `inner`, scale and bias [inner]. */
static krt_status layernorm(krt_dtype dt, krt_dtype stash, int64_t outer, int64_t inner,
                            const void *x, const void *scale, const void *bias, float eps, void *y,
                            void *mean, void *inv_std)
{
    krt_layernorm_desc d = {.dt = dt, .stash_dt = stash, .epsilon = eps, .outer = outer,
                            .inner = inner, .norm_rank = 1, .scale_rank = 1, .bias_rank = 1,
                            .norm_dims = {inner}, .scale_dims = {inner}, .bias_dims = {inner}};
    return call(KRT_K_LAYERNORM, &d,
                (void *[]){(void *)x, (void *)scale, (void *)bias, y, mean, inv_std});
}

static krt_status lpnorm(krt_dtype dt, int p, int64_t outer, int64_t n, int64_t inner,
                         const void *x, void *y)
{
    krt_lpnorm_desc d = {.dt = dt, .p = p, .outer = outer, .n = n, .inner = inner};
    return call(KRT_K_LPNORM, &d, (void *[]){(void *)x, y});
}

static krt_status lrn(krt_dtype dt, int64_t n, int64_t c, int64_t sp, int64_t size, float alpha,
                      float beta, float bias, const void *x, void *y)
{
    krt_lrn_desc d = {.dt = dt, .alpha = alpha, .beta = beta, .bias = bias, .size = size,
                      .n = n, .c = c, .spatial = sp};
    return call(KRT_K_LRN, &d, (void *[]){(void *)x, y});
}

static krt_status mvn(krt_dtype dt, int rank, const int64_t *dims, uint32_t mask, const void *x,
                      void *y, void *unused_scratch)
{
    krt_mvn_desc d = {.dt = dt, .rank = rank, .mask = mask};
    memcpy(d.dims, dims, (size_t)rank * sizeof *dims);
    return call(KRT_K_MVN, &d, (void *[]){(void *)x, y});
}

/* The loss kernel; on KRT_EINDEX *bad is the bad class. */
static krt_status loss(krt_loss_desc *d, krt_loss_kind kind, const void *input, const void *target,
                       const void *weight, void *out, void *log_prob, int64_t *bad)
{
    krt_error err;
    d->kind = kind;
    krt_status st = call_err(KRT_K_LOSS, d,
                             (void *[]){(void *)input, (void *)target, (void *)weight, out, log_prob},
                             &err);
    if (st == KRT_EINDEX) {
        CU_ASSERT(err.operand == 1 && err.lo == 0 && err.hi == d->c);
        *bad = err.value;
    }
    return st;
}

static krt_status topk(krt_dtype dt, int64_t outer, int64_t n, int64_t inner, int64_t k,
                       bool largest, const void *x, void *values, int64_t *indices,
                       void *unused_scratch)
{
    krt_topk_desc d = {.dt = dt, .largest = largest, .outer = outer, .n = n, .inner = inner, .k = k};
    return call(KRT_K_TOPK, &d, (void *[]){(void *)x, values, indices});
}

static krt_status det(krt_dtype dt, int64_t batch, int64_t m, const void *x, void *y,
                      void *unused_scratch)
{
    krt_det_desc d = {.dt = dt, .batch = batch, .m = m};
    return call(KRT_K_DET, &d, (void *[]){(void *)x, y});
}

/* ---- helpers ---------------------------------------------------------------- */

static uint64_t rng = 88172645463325252u;
static double urand(void) /* [0, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}
static void fill(float *x, int64_t n, double lo, double hi)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(lo + (hi - lo) * urand());
}
static bool near(double got, double want, double rtol)
{
    if (isnan(want))
        return isnan(got);
    if (isinf(want))
        return got == want;
    return fabs(got - want) <= rtol * (1 + fabs(want));
}
/* Coordinates of flat index i in dims. */
static void coords(int rank, const int64_t *dims, int64_t i, int64_t *c)
{
    for (int k = rank - 1; k >= 0; k--) {
        c[k] = i % dims[k];
        i /= dims[k];
    }
}

/* ---- Reduce* ------------------------------------------------------------------- */

/* Reference: out element of input i = flat index over the kept dims. */
static int64_t out_index(int rank, const int64_t *dims, uint32_t mask, int64_t i)
{
    int64_t c[8], o = 0;
    coords(rank, dims, i, c);
    for (int k = 0; k < rank; k++)
        if (!(mask >> k & 1))
            o = o * dims[k] + c[k];
    return o;
}

static double ref_reduce(krt_reduce_op op, const float *x, int rank, const int64_t *dims,
                         uint32_t mask, int64_t o)
{
    int64_t n = krt_numel(rank, dims), cnt = 0;
    double s = 0, a = 0, q = 0, p = 1, mx = -INFINITY, mn = INFINITY, se = 0;
    for (int64_t i = 0; i < n; i++)
        if (out_index(rank, dims, mask, i) == o) {
            double v = x[i];
            s += v, a += fabs(v), q += v * v, p *= v, cnt++;
            mx = v > mx ? v : mx, mn = v < mn ? v : mn;
        }
    for (int64_t i = 0; i < n; i++)
        if (out_index(rank, dims, mask, i) == o)
            se += exp(x[i] - mx);
    switch (op) {
    case KRT_REDUCE_SUM: return s;
    case KRT_REDUCE_MEAN: return s / (double)cnt;
    case KRT_REDUCE_MAX: return mx;
    case KRT_REDUCE_MIN: return mn;
    case KRT_REDUCE_PROD: return p;
    case KRT_REDUCE_L1: return a;
    case KRT_REDUCE_L2: return sqrt(q);
    case KRT_REDUCE_LOGSUM: return log(s);
    case KRT_REDUCE_LOGSUMEXP: return mx + log(se);
    case KRT_REDUCE_SUMSQUARE: return q;
    default: return NAN;
    }
}

static void check_reduce_f32(int rank, const int64_t *dims)
{
    int64_t n = krt_numel(rank, dims);
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y + 4);
    fill(x, n, 0.5, 1.5); /* positive: LogSum is defined; products stay moderate */
    for (uint32_t mask = 0; mask < (1u << rank); mask++)
        for (int op = 0; op < KRT_REDUCE_OP_COUNT; op++) {
            CU_ASSERT_EQUAL_FATAL(reduce(op, KRT_F32, rank, dims, mask, x, y, NULL), KRT_OK);
            int64_t on = 1;
            for (int k = 0; k < rank; k++)
                on *= mask >> k & 1 ? 1 : dims[k];
            int bad = 0;
            for (int64_t o = 0; o < on; o++)
                bad += !near(y[o], ref_reduce(op, x, rank, dims, mask, o), 1e-5);
            if (bad)
                fprintf(stderr, "\n  reduce op %d mask %u rank %d: %d wrong", op, mask, rank, bad);
            CU_ASSERT_EQUAL(bad, 0);
        }
    free(x);
    free(y);
}

static void test_reduce_all_ops_all_masks(void)
{
    static const int64_t s1[] = {7}, s2[] = {3, 5}, s3[] = {2, 3, 4}, s4[] = {3, 1, 4, 2},
                         s5[] = {2, 3, 1, 5, 2}, s6[] = {1, 1, 9};
    check_reduce_f32(1, s1);
    check_reduce_f32(2, s2);
    check_reduce_f32(3, s3);
    check_reduce_f32(4, s4);
    check_reduce_f32(5, s5);
    check_reduce_f32(3, s6);
}

static void test_reduce_long_rows(void)
{
    /* 1000-element rows exercise the four-partial loop and its tail */
    static const int64_t dims[] = {3, 1001};
    float x[3 * 1001], y[3];
    double scratch[3];
    fill(x, 3 * 1001, -1, 1);
    CU_ASSERT_EQUAL(reduce(KRT_REDUCE_SUM, KRT_F32, 2, dims, 2u, x, y, scratch), KRT_OK);
    for (int64_t o = 0; o < 3; o++)
        CU_ASSERT(near(y[o], ref_reduce(KRT_REDUCE_SUM, x, 2, dims, 2u, o), 1e-5));
    CU_ASSERT_EQUAL(reduce(KRT_REDUCE_MAX, KRT_F32, 2, dims, 2u, x, y, scratch), KRT_OK);
    for (int64_t o = 0; o < 3; o++)
        CU_ASSERT_EQUAL(y[o], (float)ref_reduce(KRT_REDUCE_MAX, x, 2, dims, 2u, o));
}

static void test_reduce_empty_and_nan(void)
{
    static const int64_t dims[] = {2, 0};
    float y[3];
    double scratch[4];
    /* over an empty axis: the identities (numpy: sum 0, prod 1, mean nan) */
    CU_ASSERT_EQUAL(reduce(KRT_REDUCE_SUM, KRT_F32, 2, dims, 2u, NULL, y, scratch), KRT_OK);
    CU_ASSERT(y[0] == 0 && y[1] == 0);
    CU_ASSERT_EQUAL(reduce(KRT_REDUCE_PROD, KRT_F32, 2, dims, 2u, NULL, y, scratch), KRT_OK);
    CU_ASSERT(y[0] == 1);
    CU_ASSERT_EQUAL(reduce(KRT_REDUCE_MAX, KRT_F32, 2, dims, 2u, NULL, y, scratch), KRT_OK);
    CU_ASSERT(isinf(y[0]) && y[0] < 0);
    CU_ASSERT_EQUAL(reduce(KRT_REDUCE_MEAN, KRT_F32, 2, dims, 2u, NULL, y, scratch), KRT_OK);
    CU_ASSERT(isnan(y[0]));
    CU_ASSERT_EQUAL(reduce(KRT_REDUCE_LOGSUMEXP, KRT_F32, 2, dims, 2u, NULL, y, scratch),
                    KRT_OK);
    CU_ASSERT(isinf(y[0]) && y[0] < 0);
    /* NaN propagates through max and min wherever it sits */
    static const int64_t d2[] = {2, 3};
    float x[6] = {1, NAN, 3, NAN, 5, 6};
    CU_ASSERT_EQUAL(reduce(KRT_REDUCE_MAX, KRT_F32, 2, d2, 2u, x, y, scratch), KRT_OK);
    CU_ASSERT(isnan(y[0]) && isnan(y[1]));
    CU_ASSERT_EQUAL(reduce(KRT_REDUCE_MIN, KRT_F32, 2, d2, 1u, x, y, scratch), KRT_OK);
    CU_ASSERT(isnan(y[0]) && isnan(y[1]) && y[2] == 3);
    /* log-sum-exp of huge values does not overflow; all -inf gives -inf */
    float big[3] = {1000, 1000, -INFINITY}, ninf[2] = {-INFINITY, -INFINITY};
    static const int64_t d3[] = {3}, d4[] = {2};
    CU_ASSERT_EQUAL(reduce(KRT_REDUCE_LOGSUMEXP, KRT_F32, 1, d3, 1u, big, y, scratch), KRT_OK);
    CU_ASSERT(near(y[0], 1000 + log(2.0), 1e-6));
    CU_ASSERT_EQUAL(reduce(KRT_REDUCE_LOGSUMEXP, KRT_F32, 1, d4, 1u, ninf, y, scratch), KRT_OK);
    CU_ASSERT(isinf(y[0]) && y[0] < 0);
}

static void test_reduce_other_dtypes(void)
{
    static const int64_t dims[] = {2, 3};
    int64_t xi[6] = {1, -2, 3, 4, 5, -6}, yi[3];
    int32_t x32[6] = {7, 2, -3, 4, 5, 6}, y32[2];
    double xd[6] = {0.5, 1, 2, 3, 4, 5}, yd[2], scratch[6];
    uint16_t xh[6], yh[3];
    CU_ASSERT_EQUAL(reduce(KRT_REDUCE_SUM, KRT_I64, 2, dims, 1u, xi, yi, scratch), KRT_OK);
    CU_ASSERT(yi[0] == 5 && yi[1] == 3 && yi[2] == -3);
    CU_ASSERT_EQUAL(reduce(KRT_REDUCE_PROD, KRT_I64, 2, dims, 1u, xi, yi, scratch), KRT_OK);
    CU_ASSERT(yi[0] == 4 && yi[1] == -10 && yi[2] == -18);
    CU_ASSERT_EQUAL(reduce(KRT_REDUCE_MIN, KRT_I64, 2, dims, 1u, xi, yi, scratch), KRT_OK);
    CU_ASSERT(yi[0] == 1 && yi[1] == -2 && yi[2] == -6);
    /* integer mean truncates toward zero like numpy's mean(...).astype(int32) */
    CU_ASSERT_EQUAL(reduce(KRT_REDUCE_MEAN, KRT_I32, 2, dims, 2u, x32, y32, scratch), KRT_OK);
    CU_ASSERT(y32[0] == 2 && y32[1] == 5);
    CU_ASSERT_EQUAL(reduce(KRT_REDUCE_L1, KRT_I32, 2, dims, 2u, x32, y32, scratch), KRT_OK);
    CU_ASSERT(y32[0] == 12 && y32[1] == 15);
    CU_ASSERT_EQUAL(reduce(KRT_REDUCE_LOGSUMEXP, KRT_F64, 2, dims, 2u, xd, yd, scratch),
                    KRT_OK);
    CU_ASSERT(near(yd[0], log(exp(0.5) + exp(1.0) + exp(2.0)), 1e-12));
    CU_ASSERT(near(yd[1], log(exp(3.0) + exp(4.0) + exp(5.0)), 1e-12));
    for (int i = 0; i < 6; i++)
        xh[i] = krt_f32_to_f16((float)xd[i]);
    CU_ASSERT_EQUAL(reduce(KRT_REDUCE_SUMSQUARE, KRT_F16, 2, dims, 1u, xh, yh, scratch),
                    KRT_OK);
    CU_ASSERT(krt_f16_to_f32(yh[0]) == 9.25f && krt_f16_to_f32(yh[2]) == 29.0f);
    CU_ASSERT_EQUAL(reduce(KRT_REDUCE_LOGSUMEXP, KRT_I64, 2, dims, 1u, xi, yi, scratch),
                    KRT_EDTYPE);
    CU_ASSERT_EQUAL(reduce(KRT_REDUCE_SUM, KRT_BOOL, 2, dims, 1u, xi, yi, scratch), KRT_EDTYPE);
}

/* ---- ArgMax / ArgMin, CumSum ------------------------------------------------------- */

static void check_arg(bool is_min, bool last, int64_t outer, int64_t n, int64_t inner)
{
    int64_t total = outer * n * inner, y[256];
    float x[1024];
    for (int64_t i = 0; i < total; i++)
        x[i] = (float)(int)(urand() * 3); /* few values: many ties */
    CU_ASSERT_EQUAL_FATAL(argreduce(is_min, last, KRT_F32, outer, n, inner, x, y), KRT_OK);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < inner; j++) {
            int64_t best = 0;
            for (int64_t k = 1; k < n; k++) {
                float v = x[(o * n + k) * inner + j], b = x[(o * n + best) * inner + j];
                if (is_min ? (v < b || (last && v == b)) : (v > b || (last && v == b)))
                    best = k;
            }
            CU_ASSERT_EQUAL(y[o * inner + j], best);
        }
}

static void test_argreduce(void)
{
    for (int m = 0; m < 4; m++) {
        check_arg(m & 1, m & 2, 3, 7, 1);
        check_arg(m & 1, m & 2, 2, 5, 70); /* more columns than one chunk */
        check_arg(m & 1, m & 2, 1, 1, 4);
    }
    float x[5] = {1, NAN, 7, NAN, 2};
    int64_t y;
    argreduce(false, false, KRT_F32, 1, 5, 1, x, &y);
    CU_ASSERT_EQUAL(y, 1); /* numpy.argmax: the first NaN */
    argreduce(true, true, KRT_F32, 1, 5, 1, x, &y);
    CU_ASSERT_EQUAL(y, 3);
    int64_t xi[4] = {INT64_MIN, 5, 5, -1};
    argreduce(false, true, KRT_I64, 1, 4, 1, xi, &y);
    CU_ASSERT_EQUAL(y, 2);
    CU_ASSERT_EQUAL(argreduce(false, false, KRT_F32, 1, 0, 1, x, &y), KRT_EVALUE);
}

static void test_cumsum(void)
{
    int64_t outer = 2, n = 5, inner = 67;
    double x[2 * 5 * 67], y[2 * 5 * 67];
    for (int i = 0; i < 2 * 5 * 67; i++)
        x[i] = urand();
    for (int m = 0; m < 4; m++) {
        bool excl = m & 1, rev = m & 2;
        CU_ASSERT_EQUAL(cumsum(KRT_F64, outer, n, inner, excl, rev, x, y), KRT_OK);
        int bad = 0;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t k = 0; k < n; k++)
                for (int64_t j = 0; j < inner; j++) {
                    double s = 0;
                    for (int64_t t = 0; t < n; t++) {
                        bool in = rev ? (excl ? t > k : t >= k) : (excl ? t < k : t <= k);
                        s += in ? x[(o * n + t) * inner + j] : 0;
                    }
                    bad += !near(y[(o * n + k) * inner + j], s, 1e-12);
                }
        CU_ASSERT_EQUAL(bad, 0);
    }
    /* test_cumsum_1d_reverse_exclusive: [1,2,3,4,5] -> [14,12,9,5,0] */
    int32_t xi[5] = {1, 2, 3, 4, 5}, yi[5];
    CU_ASSERT_EQUAL(cumsum(KRT_I32, 1, 5, 1, true, true, xi, yi), KRT_OK);
    CU_ASSERT(yi[0] == 14 && yi[1] == 12 && yi[2] == 9 && yi[3] == 5 && yi[4] == 0);
    CU_ASSERT_EQUAL(cumsum(KRT_BOOL, 1, 5, 1, true, true, xi, yi), KRT_EDTYPE);
}

/* ---- Softmax family ---------------------------------------------------------------- */

static void ref_softmax(krt_softmax_kind kind, const float *x, int64_t n, int64_t inner,
                        double *out /* n */)
{
    double m = -INFINITY, s = 0;
    int64_t arg = 0;
    for (int64_t k = 0; k < n; k++)
        if (x[k * inner] > m)
            m = x[k * inner], arg = k;
    for (int64_t k = 0; k < n; k++)
        s += exp(x[k * inner] - m);
    for (int64_t k = 0; k < n; k++)
        out[k] = kind == KRT_SOFTMAX      ? exp(x[k * inner] - m) / s
                 : kind == KRT_LOGSOFTMAX ? x[k * inner] - m - log(s)
                                          : (double)(k == arg);
}

static void check_softmax(krt_softmax_kind kind, int64_t outer, int64_t n, int64_t inner,
                          double scale, bool in_place)
{
    int64_t total = outer * n * inner;
    float *x = malloc((size_t)total * 4), *y = malloc((size_t)total * 4),
          *x0 = malloc((size_t)total * 4);
    double ref[512];
    fill(x, total, -scale, scale);
    memcpy(x0, x, (size_t)total * 4);
    CU_ASSERT_EQUAL(softmax(kind, KRT_F32, outer, n, inner, x, in_place ? x : y), KRT_OK);
    float *got = in_place ? x : y;
    int bad = 0;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < inner; j++) {
            ref_softmax(kind, x0 + o * n * inner + j, n, inner, ref);
            for (int64_t k = 0; k < n; k++)
                bad += !near(got[(o * n + k) * inner + j], ref[k], 2e-6);
        }
    CU_ASSERT_EQUAL(bad, 0);
    free(x);
    free(y);
    free(x0);
}

/* Integer sums and products wrap around (two's complement, as ONNX Runtime
 * does) instead of overflowing: undefined behaviour before, which the
 * sanitizer build reports. Expected values are the exact results mod 2^64
 * (or 2^32), written out by hand. */
static void test_integer_wraparound(void)
{
    const int64_t x64[4] = {INT64_MAX, 1, INT64_MIN, -1};
    const int64_t d4[1] = {4};
    int64_t y;
    /* MAX + 1 + MIN - 1 = -1: MAX + 1 wraps to MIN on the way */
    CU_ASSERT_EQUAL(reduce(KRT_REDUCE_SUM, KRT_I64, 1, d4, 1, x64, &y, NULL), KRT_OK);
    CU_ASSERT_EQUAL(y, -1);
    CU_ASSERT_EQUAL(reduce(KRT_REDUCE_MEAN, KRT_I64, 1, d4, 1, x64, &y, NULL), KRT_OK);
    CU_ASSERT_EQUAL(y, 0); /* -1 / 4 */
    /* |MAX| + 1 + |MIN| (= MIN, wraps) + 1 = MAX + 2 + MIN = 1 */
    CU_ASSERT_EQUAL(reduce(KRT_REDUCE_L1, KRT_I64, 1, d4, 1, x64, &y, NULL), KRT_OK);
    CU_ASSERT_EQUAL(y, 1);
    /* MAX^2 = 1, 1, MIN^2 = 0, 1: 3 (mod 2^64) */
    CU_ASSERT_EQUAL(reduce(KRT_REDUCE_SUMSQUARE, KRT_I64, 1, d4, 1, x64, &y, NULL), KRT_OK);
    CU_ASSERT_EQUAL(y, 3);
    CU_ASSERT_EQUAL(reduce(KRT_REDUCE_L2, KRT_I64, 1, d4, 1, x64, &y, NULL), KRT_OK);
    CU_ASSERT_EQUAL(y, 1); /* (int)sqrt(3) */
    /* MAX * 1 * MIN * -1 = MAX * MIN * -1; MAX * MIN = MIN (mod 2^64), * -1 = MIN */
    CU_ASSERT_EQUAL(reduce(KRT_REDUCE_PROD, KRT_I64, 1, d4, 1, x64, &y, NULL), KRT_OK);
    CU_ASSERT_EQUAL(y, INT64_MIN);
    /* long rows take the four-partials path: 9 * MAX = MAX + 8 * MAX = MAX - 8 (mod 2^64) */
    int64_t many[9];
    for (int i = 0; i < 9; i++)
        many[i] = INT64_MAX;
    CU_ASSERT_EQUAL(reduce(KRT_REDUCE_SUM, KRT_I64, 1, (int64_t[]){9}, 1, many, &y, NULL), KRT_OK);
    CU_ASSERT_EQUAL(y, INT64_MAX - 8);

    /* int32 accumulates in 64 bits: products and squares overflow those */
    const int32_t x32[5] = {INT32_MAX, INT32_MAX, INT32_MAX, INT32_MAX, INT32_MIN};
    const int64_t d5[1] = {5};
    int32_t y32;
    /* MAX^4 = (2^31 - 1)^4 ≡ 1 (mod 2^32); * MIN = MIN */
    CU_ASSERT_EQUAL(reduce(KRT_REDUCE_PROD, KRT_I32, 1, d5, 1, x32, &y32, NULL), KRT_OK);
    CU_ASSERT_EQUAL(y32, INT32_MIN);
    /* 4 * MAX^2 + MIN^2 ≡ 4 * 1 + 0 (mod 2^32) */
    CU_ASSERT_EQUAL(reduce(KRT_REDUCE_SUMSQUARE, KRT_I32, 1, d5, 1, x32, &y32, NULL), KRT_OK);
    CU_ASSERT_EQUAL(y32, 4);
    int32_t big32[5];
    for (int i = 0; i < 5; i++)
        big32[i] = 2000000000; /* 5 * (2e9)^2 = 2e19 > INT64_MAX */
    CU_ASSERT_EQUAL(reduce(KRT_REDUCE_SUMSQUARE, KRT_I32, 1, d5, 1, big32, &y32, NULL), KRT_OK);
    CU_ASSERT_EQUAL(y32, (int32_t)(uint32_t)(5u * (uint32_t)(2000000000u * 2000000000u)));

    /* CumSum: MAX, MAX + 1 = MIN, MIN + MIN = 0, 0 - 1 = -1 */
    const int64_t c64[4] = {INT64_MAX, 1, INT64_MIN, -1};
    int64_t cy[4];
    CU_ASSERT_EQUAL(cumsum(KRT_I64, 1, 4, 1, false, false, c64, cy), KRT_OK);
    CU_ASSERT_EQUAL(cy[0], INT64_MAX);
    CU_ASSERT_EQUAL(cy[1], INT64_MIN);
    CU_ASSERT_EQUAL(cy[2], 0);
    CU_ASSERT_EQUAL(cy[3], -1);
}

static void test_softmax(void)
{
    for (int kind = 0; kind < KRT_SOFTMAX_KIND_COUNT; kind++) {
        check_softmax(kind, 4, 197, 1, 5, false);    /* last axis, ViT-sized rows */
        check_softmax(kind, 3, 6, 100, 5, false);    /* strided axis, two chunks */
        check_softmax(kind, 2, 5, 3, 5, true);       /* in place */
        check_softmax(kind, 2, 10, 1, 10000, false); /* large numbers: no overflow */
    }
    /* test_softmax_example: softmax([-1, 0, 1]) from the ONNX test generator */
    float x[3] = {-1, 0, 1}, y[4];
    softmax(KRT_SOFTMAX, KRT_F32, 1, 3, 1, x, y);
    CU_ASSERT(near(y[0], 0.09003057, 1e-6) && near(y[1], 0.24472847, 1e-6) &&
              near(y[2], 0.66524096, 1e-6));
    /* hardmax ties: the first maximum */
    float t[4] = {3, 1, 3, 2};
    softmax(KRT_HARDMAX, KRT_F32, 1, 4, 1, t, y);
    CU_ASSERT(y[0] == 1 && y[1] == 0 && y[2] == 0);
    CU_ASSERT_EQUAL(softmax(KRT_SOFTMAX, KRT_I32, 1, 4, 1, t, y), KRT_EDTYPE);
}

/* ---- normalizations ------------------------------------------------------------------ */

static void test_batchnorm(void)
{
    float x[2 * 3 * 4], y[24], sc[3] = {1, 1.5f, -2}, b[3] = {0, 1, 2},
                               mean[3] = {0.1f, -0.2f, 0.3f}, var[3] = {1, 0.5f, 2};
    fill(x, 24, -2, 2);
    CU_ASSERT_EQUAL(
        batchnorm(KRT_F32, KRT_F32, KRT_F32, 2, 3, 4, x, sc, b, mean, var, 1e-5f, y), KRT_OK);
    int bad = 0;
    for (int i = 0; i < 24; i++) {
        int c = i / 4 % 3;
        double want = (x[i] - mean[c]) / sqrt(var[c] + 1e-5) * sc[c] + b[c];
        bad += !near(y[i], want, 1e-6);
    }
    CU_ASSERT_EQUAL(bad, 0);
    double md[3] = {0.1, -0.2, 0.3}, vd[3] = {1, 0.5, 2}; /* stats in another dtype (T2) */
    CU_ASSERT_EQUAL(batchnorm(KRT_F32, KRT_F32, KRT_F64, 2, 3, 4, x, sc, b, md, vd, 1e-5f, y),
                    KRT_OK);
    for (int i = 0; i < 24; i++) {
        int c = i / 4 % 3;
        bad += !near(y[i], (x[i] - md[c]) / sqrt(vd[c] + 1e-5) * sc[c] + b[c], 1e-6);
    }
    CU_ASSERT_EQUAL(bad, 0);
}

static void test_instancenorm(void)
{
    float x[2 * 3 * 5], y[30], sc[3] = {1, 2, 3}, b[3] = {-1, 0, 1};
    fill(x, 30, -3, 3);
    CU_ASSERT_EQUAL(instancenorm(KRT_F32, 2, 3, 5, x, sc, b, 1e-5f, y), KRT_OK);
    for (int p = 0; p < 6; p++) {
        double m = 0, v = 0;
        for (int j = 0; j < 5; j++)
            m += x[p * 5 + j] / 5.0;
        for (int j = 0; j < 5; j++)
            v += (x[p * 5 + j] - m) * (x[p * 5 + j] - m) / 5.0;
        for (int j = 0; j < 5; j++)
            CU_ASSERT(near(y[p * 5 + j], (x[p * 5 + j] - m) / sqrt(v + 1e-5) * sc[p % 3] + b[p % 3],
                           1e-5));
    }
}

static void test_layernorm(void)
{
    enum { OUTER = 5, INNER = 768 };
    float *x = malloc(OUTER * INNER * 4), *y = malloc(OUTER * INNER * 4), sc[INNER], b[INNER];
    float mean[OUTER], inv[OUTER];
    fill(x, OUTER * INNER, -4, 6);
    fill(sc, INNER, 0.5, 1.5);
    fill(b, INNER, -1, 1);
    CU_ASSERT_EQUAL(layernorm(KRT_F32, KRT_F32, OUTER, INNER, x, sc, b, 1e-5f, y, mean, inv),
                    KRT_OK);
    int bad = 0;
    for (int r = 0; r < OUTER; r++) {
        double m = 0, v = 0;
        for (int j = 0; j < INNER; j++)
            m += x[r * INNER + j];
        m /= INNER;
        for (int j = 0; j < INNER; j++)
            v += (x[r * INNER + j] - m) * (x[r * INNER + j] - m);
        double is = 1 / sqrt(v / INNER + 1e-5);
        bad += !near(mean[r], m, 1e-5) + !near(inv[r], is, 1e-5);
        for (int j = 0; j < INNER; j++)
            bad += !near(y[r * INNER + j], (x[r * INNER + j] - m) * is * sc[j] + b[j], 1e-5);
    }
    CU_ASSERT_EQUAL(bad, 0);
    /* no bias, no optional outputs */
    CU_ASSERT_EQUAL(
        layernorm(KRT_F32, KRT_F32, OUTER, INNER, x, sc, NULL, 1e-5f, y, NULL, NULL), KRT_OK);
    CU_ASSERT(near(y[3], (x[3] - mean[0]) * inv[0] * sc[3], 1e-5));
    CU_ASSERT_EQUAL(layernorm(KRT_F32, KRT_F64, 1, 4, x, sc, b, 1e-5f, y, NULL, NULL),
                    KRT_EDTYPE);
    free(x);
    free(y);
}

/* Scale [3] and bias [2, 1] of LayerNormalization over the last two dims
 * of x [2, 2, 3]: the same as with them broadcast to [2, 3] by hand. */
static void test_layernorm_broadcast_params(void)
{
    float x[12], sc[3] = {1, 2, 3}, b[2] = {7, 8}, scf[6], bf[6], y[12], want[12];
    fill(x, 12, -1, 1);
    for (int j = 0; j < 6; j++)
        scf[j] = sc[j % 3], bf[j] = b[j / 3];
    CU_ASSERT_EQUAL(layernorm(KRT_F32, KRT_F32, 2, 6, x, scf, bf, 1e-5f, want, NULL, NULL), KRT_OK);
    krt_layernorm_desc d = {.dt = KRT_F32, .stash_dt = KRT_F32, .epsilon = 1e-5f, .outer = 2,
                            .inner = 6, .norm_rank = 2, .scale_rank = 1, .bias_rank = 2,
                            .norm_dims = {2, 3}, .scale_dims = {3}, .bias_dims = {2, 1}};
    CU_ASSERT_EQUAL(krt_kernel_scratch(KRT_K_LAYERNORM, &d), 2 * 6 * sizeof(float));
    CU_ASSERT_EQUAL(call(KRT_K_LAYERNORM, &d, (void *[]){x, sc, b, y, NULL, NULL}), KRT_OK);
    CU_ASSERT_EQUAL(memcmp(y, want, sizeof y), 0);
}

static void test_lpnorm(void)
{
    float x[2 * 3 * 70], y[420];
    fill(x, 420, -1, 1);
    for (int p = 1; p <= 2; p++) {
        CU_ASSERT_EQUAL(lpnorm(KRT_F32, p, 2, 3, 70, x, y), KRT_OK);
        int bad = 0;
        for (int o = 0; o < 2; o++)
            for (int j = 0; j < 70; j++) {
                double s = 0;
                for (int k = 0; k < 3; k++) {
                    double v = x[(o * 3 + k) * 70 + j];
                    s += p == 1 ? fabs(v) : v * v;
                }
                s = p == 1 ? s : sqrt(s);
                for (int k = 0; k < 3; k++)
                    bad += !near(y[(o * 3 + k) * 70 + j], x[(o * 3 + k) * 70 + j] / s, 1e-6);
            }
        CU_ASSERT_EQUAL(bad, 0);
    }
    float z[3] = {0, 0, 0};
    CU_ASSERT_EQUAL(lpnorm(KRT_F32, 2, 1, 3, 1, z, y), KRT_OK);
    CU_ASSERT(y[0] == 0 && y[2] == 0);
    CU_ASSERT_EQUAL(lpnorm(KRT_F32, 3, 1, 3, 1, z, y), KRT_EVALUE);
}

static void test_lrn(void)
{
    enum { N = 2, C = 5, SP = 6 };
    float x[N * C * SP], y[N * C * SP];
    fill(x, N * C * SP, -2, 2);
    for (int64_t size = 1; size <= 4; size++) {
        CU_ASSERT_EQUAL(lrn(KRT_F32, N, C, SP, size, 2e-4f, 0.75f, 2, x, y), KRT_OK);
        int bad = 0;
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++)
                for (int j = 0; j < SP; j++) {
                    double sq = 0;
                    /* the spec: max(0, c - floor((size-1)/2)) .. min(C-1, c + ceil((size-1)/2)) */
                    int lo = c - (int)floor((size - 1) / 2.0), hi = c + (int)ceil((size - 1) / 2.0);
                    for (int i = lo < 0 ? 0 : lo; i <= (hi < C - 1 ? hi : C - 1); i++)
                        sq += (double)x[(n * C + i) * SP + j] * x[(n * C + i) * SP + j];
                    int at = (n * C + c) * SP + j;
                    bad += !near(y[at], x[at] / pow(2 + 2e-4 / (double)size * sq, 0.75), 1e-6);
                }
        CU_ASSERT_EQUAL(bad, 0);
    }
}

static void test_mvn(void)
{
    static const int64_t dims[] = {2, 3, 2, 2};
    float x[24], y[24];
    double scratch[12];
    fill(x, 24, -1, 1);
    uint32_t mask = 1u | 4u | 8u; /* the default axes [0, 2, 3] */
    CU_ASSERT_EQUAL(mvn(KRT_F32, 4, dims, mask, x, y, scratch), KRT_OK);
    for (int c = 0; c < 3; c++) {
        double m = 0, q = 0;
        for (int i = 0; i < 24; i++)
            if (i / 4 % 3 == c)
                m += x[i] / 8.0, q += (double)x[i] * x[i] / 8.0;
        for (int i = 0; i < 24; i++)
            if (i / 4 % 3 ==
                c) /* the spec's function body: (x - E[x]) / (sqrt(E[x^2] - E[x]^2) + 1e-9) */
                CU_ASSERT(near(y[i], (x[i] - m) / (sqrt(q - m * m) + 1e-9), 1e-5));
    }
}

/* ---- losses ---------------------------------------------------------------------------- */

static void test_nll_loss(void)
{
    /* the spec's examples 1-3 (NegativeLogLikelihoodLoss doc) */
    float in[12] = {1, 2, 2, 2, 3, 2, 0, 1, 2, 2, 1, 2}, w[3] = {0.2f, 0.3f, 0.1f}, out[4];
    int64_t tgt[4] = {2, 1, 0, 2}, bad = 0;
    krt_loss_desc d = {.dt = KRT_F32, .target_dt = KRT_I64, .n = 2, .c = 3, .inner = 2,
                       .reduction = KRT_LOSS_NONE};
    CU_ASSERT_EQUAL(loss(&d, KRT_LOSS_NLL, in, tgt, NULL, out, NULL, &bad), KRT_OK);
    CU_ASSERT(out[0] == -3 && out[1] == -2 && out[2] == 0 && out[3] == -2);
    d.reduction = KRT_LOSS_SUM;
    CU_ASSERT_EQUAL(loss(&d, KRT_LOSS_NLL, in, tgt, w, out, NULL, &bad), KRT_OK);
    CU_ASSERT(near(out[0], -1.1, 1e-6));
    d.reduction = KRT_LOSS_MEAN;
    CU_ASSERT_EQUAL(loss(&d, KRT_LOSS_NLL, in, tgt, w, out, NULL, &bad), KRT_OK);
    CU_ASSERT(near(out[0], -1.1 / 0.7, 1e-6)); /* the doc rounds it to -1.57 */
    /* ignore_index: those samples count neither in the sum nor in the weight total */
    d.has_ignore = true;
    d.ignore_index = 2;
    CU_ASSERT_EQUAL(loss(&d, KRT_LOSS_NLL, in, tgt, w, out, NULL, &bad), KRT_OK);
    CU_ASSERT(near(out[0], (-2 * 0.3 - 0 * 0.2) / 0.5, 1e-6));
    d.has_ignore = false;
    int32_t t32[4] = {2, 3, 0, 2};
    d.target_dt = KRT_I32;
    CU_ASSERT_EQUAL(loss(&d, KRT_LOSS_NLL, in, t32, w, out, NULL, &bad), KRT_EINDEX);
    CU_ASSERT_EQUAL(bad, 3);
}

static void test_softmax_cross_entropy(void)
{
    /* test_sce_mean_weight_ii_3d-like case against a naive softmax + NLL */
    enum { N = 3, C = 5, D = 2 };
    float x[N * C * D], lp[N * C * D], w[C] = {0.9f, 0.1f, 0.4f, 1.2f, 0.7f}, out[N * D];
    int64_t t[N * D] = {0, 4, 1, 1, 3, 2}, bad;
    fill(x, N * C * D, -3, 3);
    krt_loss_desc d = {.dt = KRT_F32, .target_dt = KRT_I64, .n = N, .c = C, .inner = D,
                       .reduction = KRT_LOSS_MEAN, .has_ignore = true, .ignore_index = 1};
    CU_ASSERT_EQUAL(loss(&d, KRT_LOSS_SOFTMAX_CE, x, t, w, out, lp, &bad), KRT_OK);
    double num = 0, den = 0;
    for (int n = 0; n < N; n++)
        for (int j = 0; j < D; j++) {
            double m = -INFINITY, s = 0;
            for (int c = 0; c < C; c++)
                m = fmax(m, x[(n * C + c) * D + j]);
            for (int c = 0; c < C; c++)
                s += exp(x[(n * C + c) * D + j] - m);
            for (int c = 0; c < C; c++)
                CU_ASSERT(near(lp[(n * C + c) * D + j], x[(n * C + c) * D + j] - m - log(s), 1e-6));
            int64_t c = t[n * D + j];
            if (c == 1)
                continue;
            num -= (x[(n * C + c) * D + j] - m - log(s)) * w[c];
            den += w[c];
        }
    CU_ASSERT(near(out[0], num / den, 1e-6));
    /* without the log_prob output the kernel works in its scratch */
    float again[1];
    CU_ASSERT_EQUAL(loss(&d, KRT_LOSS_SOFTMAX_CE, x, t, w, again, NULL, &bad), KRT_OK);
    CU_ASSERT_EQUAL(again[0], out[0]);
}

/* ---- TopK ---------------------------------------------------------------------------------- */

static void check_topk(int64_t outer, int64_t n, int64_t inner, int64_t k, bool largest)
{
    int64_t total = outer * n * inner, idx[512], order[64];
    float x[1024], v[512];
    double scratch[128];
    for (int64_t i = 0; i < total; i++)
        x[i] = (float)(int)(urand() * 5); /* ties */
    CU_ASSERT_EQUAL_FATAL(topk(KRT_F32, outer, n, inner, k, largest, x, v, idx, scratch),
                          KRT_OK);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < inner; j++) {
            /* stable insertion sort of the indices by value: ties keep index order */
            for (int64_t a = 0; a < n; a++) {
                int64_t b = a;
                float xa = x[(o * n + a) * inner + j];
                while (b > 0) {
                    float xb = x[(o * n + order[b - 1]) * inner + j];
                    if (largest ? xb >= xa : xb <= xa)
                        break;
                    order[b] = order[b - 1];
                    b--;
                }
                order[b] = a;
            }
            for (int64_t r = 0; r < k; r++) {
                CU_ASSERT_EQUAL(idx[(o * k + r) * inner + j], order[r]);
                CU_ASSERT_EQUAL(v[(o * k + r) * inner + j], x[(o * n + order[r]) * inner + j]);
            }
        }
}

static void test_topk(void)
{
    check_topk(2, 9, 3, 4, true);
    check_topk(2, 9, 3, 4, false);
    check_topk(3, 20, 1, 20, true);
    check_topk(1, 13, 2, 1, false);
    check_topk(1, 5, 1, 0, true);
    /* test_top_k: x = arange(12).reshape(3,4), k = 3, axis 1 -> [[3,2,1],...] */
    float x[12];
    for (int i = 0; i < 12; i++)
        x[i] = (float)i;
    float v[9];
    int64_t idx[9];
    double scratch[16]; /* krt_topk_scratch_size(5, 5) bytes at most */
    CU_ASSERT_EQUAL(topk(KRT_F32, 3, 4, 1, 3, true, x, v, idx, scratch), KRT_OK);
    CU_ASSERT(v[0] == 3 && v[1] == 2 && v[2] == 1 && v[3] == 7 && idx[8] == 1);
    /* NaN above +inf; -0 ties with +0 by index; integers by value */
    float xn[5] = {1, NAN, INFINITY, -0.0f, 0.0f};
    CU_ASSERT_EQUAL(topk(KRT_F32, 1, 5, 1, 5, true, xn, v, idx, scratch), KRT_OK);
    CU_ASSERT(idx[0] == 1 && idx[1] == 2 && idx[2] == 0 && idx[3] == 3 && idx[4] == 4);
    int64_t xi[4] = {-5, INT64_MAX, INT64_MIN, 3}, vi[2];
    CU_ASSERT_EQUAL(topk(KRT_I64, 1, 4, 1, 2, false, xi, vi, idx, scratch), KRT_OK);
    CU_ASSERT(vi[0] == INT64_MIN && vi[1] == -5 && idx[0] == 2);
    uint16_t xh[3] = {krt_f32_to_f16(-2), krt_f32_to_f16(0.5f), krt_f32_to_f16(-0.25f)}, vh[3];
    CU_ASSERT_EQUAL(topk(KRT_F16, 1, 3, 1, 3, true, xh, vh, idx, scratch), KRT_OK);
    CU_ASSERT(idx[0] == 1 && idx[1] == 2 && idx[2] == 0 && vh[2] == xh[0]);
    CU_ASSERT_EQUAL(topk(KRT_F32, 1, 3, 1, 4, true, x, v, idx, scratch), KRT_EVALUE);
}

/* ---- Einsum, Det ----------------------------------------------------------------------------- */

static krt_status einsum(const char *eq, int n_in, const int *ranks, const int64_t *const *dims,
                         const void *const *in, double *out)
{
    krt_einsum_desc d = {.dt = KRT_F64};
    void *ops[KRT_EINSUM_MAX_INPUTS + 1];
    const char *why;
    krt_status st = krt_einsum_parse(eq, n_in, ranks, &d.spec, &why);
    for (int i = 0; i < n_in; i++) {
        memcpy(d.in_dims[i], dims[i], (size_t)ranks[i] * sizeof dims[i][0]);
        ops[i] = (void *)in[i];
    }
    ops[n_in] = out;
    return st ? st : call(KRT_K_EINSUM, &d, ops);
}

static void test_einsum_parse(void)
{
    krt_einsum_spec s;
    const char *why = NULL;
    int r2[2] = {2, 2}, r3[1] = {3};
    CU_ASSERT_EQUAL(krt_einsum_parse("ij,jk", 2, r2, &s, &why), KRT_OK);
    CU_ASSERT(s.out_rank == 2 && s.n_labels == 3);
    CU_ASSERT(s.in_label[0][0] == 0 && s.in_label[1][1] == 1 && s.in_label[0][1] == 2);
    CU_ASSERT_EQUAL(krt_einsum_parse("ba", 1, r2, &s, &why), KRT_OK); /* implicit: "ab" */
    CU_ASSERT(s.in_label[0][0] == 1 && s.in_label[0][1] == 0);
    CU_ASSERT_EQUAL(krt_einsum_parse("...ii ->...i", 1, r3, &s, &why), KRT_OK);
    CU_ASSERT(s.out_rank == 2 && s.in_label[0][0] == 0 && s.in_label[0][2] == 1);
    CU_ASSERT_EQUAL(krt_einsum_parse("ij,jk->ik", 1, r2, &s, &why), KRT_EVALUE);
    CU_ASSERT_STRING_EQUAL(why, "more terms than inputs");
    CU_ASSERT_EQUAL(krt_einsum_parse("ijk", 1, r2, &s, &why), KRT_EVALUE);
    CU_ASSERT_STRING_EQUAL(why, "a term whose letters do not match its input's rank");
    CU_ASSERT_EQUAL(krt_einsum_parse("ij->iz", 1, r2, &s, &why), KRT_EVALUE);
    CU_ASSERT_STRING_EQUAL(why, "an output letter that no input has");
    CU_ASSERT_EQUAL(krt_einsum_parse("ij->ii", 1, r2, &s, &why), KRT_EVALUE);
    CU_ASSERT_STRING_EQUAL(why, "an output letter repeated");
    CU_ASSERT_EQUAL(krt_einsum_parse("i.j", 1, r2, &s, &why), KRT_EVALUE);
    CU_ASSERT_EQUAL(krt_einsum_parse("i1", 1, r2, &s, &why), KRT_EVALUE);
}

static void test_einsum_eval(void)
{
    double a[2 * 3 * 4], b[2 * 4 * 5], out[64];
    for (int i = 0; i < 24; i++)
        a[i] = urand();
    for (int i = 0; i < 40; i++)
        b[i] = urand();
    /* batch matmul against a naive loop */
    int r[2] = {3, 3};
    const int64_t da[3] = {2, 3, 4}, db[3] = {2, 4, 5};
    const int64_t *dims[2] = {da, db};
    const void *in[2] = {a, b};
    CU_ASSERT_EQUAL(einsum("bij,bjk->bik", 2, r, dims, in, out), KRT_OK);
    for (int bb = 0; bb < 2; bb++)
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 5; k++) {
                double s = 0;
                for (int j = 0; j < 4; j++)
                    s += a[(bb * 3 + i) * 4 + j] * b[(bb * 4 + j) * 5 + k];
                CU_ASSERT(near(out[(bb * 3 + i) * 5 + k], s, 1e-12));
            }
    /* transpose + sum over the batch: "bij->ji" */
    CU_ASSERT_EQUAL(einsum("bij->ji", 1, r, dims, in, out), KRT_OK);
    CU_ASSERT(near(out[1 * 3 + 2], a[2 * 4 + 1] + a[(3 + 2) * 4 + 1], 1e-12));
    /* trace (implicit scalar output) and diagonal */
    double m[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    const int64_t dm[2] = {3, 3};
    const int64_t *dmp[1] = {dm};
    const void *mp[1] = {m};
    int r2[1] = {2};
    CU_ASSERT_EQUAL(einsum("ii", 1, r2, dmp, mp, out), KRT_OK);
    CU_ASSERT_EQUAL(out[0], 15);
    CU_ASSERT_EQUAL(einsum("ii->i", 1, r2, dmp, mp, out), KRT_OK);
    CU_ASSERT(out[0] == 1 && out[1] == 5 && out[2] == 9);
    /* broadcasting: numpy.einsum('...ij,...jk', ones-ish (2,1,2,3), (5,3,4)).shape == (2,5,2,4);
     * with x = arange(12).reshape(2,1,2,3), y = arange(60).reshape(5,3,4):
     * numpy gives out[1,4,1,3] = 1658 and out[0,2,0,0] = 92 (/usr/bin/python3) */
    double x[12], y[60], o[80];
    for (int i = 0; i < 12; i++)
        x[i] = i;
    for (int i = 0; i < 60; i++)
        y[i] = i;
    const int64_t dx[4] = {2, 1, 2, 3}, dy[3] = {5, 3, 4};
    const int64_t *dxy[2] = {dx, dy};
    const void *xy[2] = {x, y};
    int rxy[2] = {4, 3};
    CU_ASSERT_EQUAL(einsum("...ij,...jk", 2, rxy, dxy, xy, o), KRT_OK);
    CU_ASSERT_EQUAL(o[((1 * 5 + 4) * 2 + 1) * 4 + 3], 1658);
    CU_ASSERT_EQUAL(o[((0 * 5 + 2) * 2 + 0) * 4 + 0], 92);
    /* size mismatch */
    krt_einsum_spec s;
    const char *why;
    int64_t sizes[8];
    int bad;
    const int64_t d1[2] = {2, 3}, d2[2] = {4, 5};
    const int64_t *dd[2] = {d1, d2};
    int rr[2] = {2, 2};
    krt_einsum_parse("ij,jk", 2, rr, &s, &why);
    CU_ASSERT_EQUAL(krt_einsum_sizes(&s, dd, sizes, &bad), KRT_EVALUE);
}

static void test_det(void)
{
    float m[4 * 9] = {
        1, 2, 3, 4, 5, 6, 7, 8, 10, /* det -3 */
        0, 1, 0, 1, 0, 0, 0, 0, 1,  /* a swap: -1 */
        2, 0, 0, 0, 3, 0, 0, 0, 4,  /* 24 */
        1, 2, 3, 2, 4, 6, 1, 1, 1,  /* singular: 0 */
    };
    float y[4];
    double scratch[9];
    CU_ASSERT_EQUAL(det(KRT_F32, 4, 3, m, y, scratch), KRT_OK);
    CU_ASSERT(near(y[0], -3, 1e-6) && near(y[1], -1, 1e-6) && near(y[2], 24, 1e-6) &&
              near(y[3], 0, 1e-6));
    double d2[4] = {1, 2, 3, 4}, y2; /* test_det_2d: det(arange(4).reshape(2,2) + 1) = -2 */
    CU_ASSERT_EQUAL(det(KRT_F64, 1, 2, d2, &y2, scratch), KRT_OK);
    CU_ASSERT(near(y2, -2, 1e-12));
    CU_ASSERT_EQUAL(det(KRT_I32, 1, 2, d2, &y2, scratch), KRT_EDTYPE);
}

/* ---- 16-bit float variants ----------------------------------------------------------
 * The same data through the f16 / bf16 variants and through the naive f32
 * references above: they agree to the 16-bit type's precision. */

static void to_half(const float *x, uint16_t *h, int64_t n, bool bf)
{
    for (int64_t i = 0; i < n; i++)
        h[i] = bf ? krt_f32_to_bf16(x[i]) : krt_f32_to_f16(x[i]);
}

static double from_half(uint16_t h, bool bf)
{
    return bf ? krt_bf16_to_f32(h) : krt_f16_to_f32(h);
}

static void test_half_variants(void)
{
    enum { OUTER = 3, N = 40, INNER = 2 };
    float x[OUTER * N * INNER], xr[OUTER * N * INNER];
    uint16_t h[OUTER * N * INNER], yh[OUTER * N * INNER];
    double ref[N];
    fill(x, OUTER * N * INNER, -3, 3);
    for (int bf = 0; bf < 2; bf++) {
        double tol = bf ? 2e-2 : 2e-3;
        krt_dtype dt = bf ? KRT_BF16 : KRT_F16;
        to_half(x, h, OUTER * N * INNER, bf);
        for (int i = 0; i < OUTER * N * INNER; i++)
            xr[i] = (float)from_half(h[i], bf); /* the values the variant really sees */
        for (int kind = 0; kind < KRT_SOFTMAX_KIND_COUNT; kind++) {
            CU_ASSERT_EQUAL(softmax(kind, dt, OUTER, N, INNER, h, yh), KRT_OK);
            int bad = 0;
            for (int o = 0; o < OUTER; o++)
                for (int j = 0; j < INNER; j++) {
                    ref_softmax(kind, xr + o * N * INNER + j, N, INNER, ref);
                    for (int k = 0; k < N; k++)
                        bad += !near(from_half(yh[(o * N + k) * INNER + j], bf), ref[k], tol);
                }
            CU_ASSERT_EQUAL(bad, 0);
        }
        /* LayerNormalization over rows of N * INNER, scale 1.5, bias -0.5 */
        uint16_t sc[N * INNER], b[N * INNER];
        float one5 = 1.5f, half = -0.5f;
        for (int j = 0; j < N * INNER; j++) {
            to_half(&one5, &sc[j], 1, bf);
            to_half(&half, &b[j], 1, bf);
        }
        float mean[OUTER], inv[OUTER];
        CU_ASSERT_EQUAL(
            layernorm(dt, KRT_F32, OUTER, N * INNER, h, sc, b, 1e-5f, yh, mean, inv), KRT_OK);
        for (int r = 0; r < OUTER; r++) {
            double m = 0, v = 0;
            for (int j = 0; j < N * INNER; j++)
                m += xr[r * N * INNER + j] / (N * INNER);
            for (int j = 0; j < N * INNER; j++)
                v += (xr[r * N * INNER + j] - m) * (xr[r * N * INNER + j] - m) / (N * INNER);
            CU_ASSERT(near(mean[r], m, 1e-5) && near(inv[r], 1 / sqrt(v + 1e-5), 1e-5));
            for (int j = 0; j < N * INNER; j++)
                CU_ASSERT(near(from_half(yh[r * N * INNER + j], bf),
                               (xr[r * N * INNER + j] - m) / sqrt(v + 1e-5) * 1.5 - 0.5, tol));
        }
        /* CumSum: each output is rounded once from a float running sum */
        CU_ASSERT_EQUAL(cumsum(dt, OUTER, N, INNER, false, false, h, yh), KRT_OK);
        double acc = 0;
        for (int k = 0; k < N; k++) {
            acc += xr[k * INNER + 1];
            CU_ASSERT(fabs(from_half(yh[k * INNER + 1], bf) - acc) <= tol * (1 + fabs(acc)));
        }
    }
}

static CU_TestInfo reduce_tests[] = {
    {"all ops, all axis masks, f32", test_reduce_all_ops_all_masks},
    {"long rows", test_reduce_long_rows},
    {"empty reductions and NaN", test_reduce_empty_and_nan},
    {"other dtypes", test_reduce_other_dtypes},
    {"ArgMax/ArgMin", test_argreduce},
    {"CumSum", test_cumsum},
    {"integer wrap-around", test_integer_wraparound},
    {"f16 and bf16 variants", test_half_variants},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo softmax_tests[] = {
    {"softmax, log-softmax, hardmax", test_softmax},
    {"NLL loss", test_nll_loss},
    {"softmax cross-entropy", test_softmax_cross_entropy},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo norm_tests[] = {
    {"BatchNormalization", test_batchnorm},  {"InstanceNormalization", test_instancenorm},
    {"LayerNormalization", test_layernorm},  {"LayerNormalization broadcast params", test_layernorm_broadcast_params},
    {"LpNormalization", test_lpnorm},        {"LRN", test_lrn},
    {"MeanVarianceNormalization", test_mvn}, CU_TEST_INFO_NULL,
};

static CU_TestInfo misc_tests[] = {
    {"TopK", test_topk},
    {"Einsum parsing", test_einsum_parse},
    {"Einsum evaluation", test_einsum_eval},
    {"Det", test_det},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"reduce kernels", NULL, NULL, NULL, NULL, reduce_tests},
    {"softmax and loss kernels", NULL, NULL, NULL, NULL, softmax_tests},
    {"normalization kernels", NULL, NULL, NULL, NULL, norm_tests},
    {"topk, einsum, det kernels", NULL, NULL, NULL, NULL, misc_tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
