/* test_elementwise_kernels.c — the runtime's elementwise kernels against
 * independent references: naive double-precision formulas of the ONNX
 * definitions, a naive multi-index broadcasting loop, and values computed
 * with numpy (/usr/bin/python3, numpy 1.24) where noted.
 *
 * The kernels are called through the kernel ABI (runtime/krt_kernel.h),
 * one unit at a time, by the small helpers below that fill a descriptor:
 * every reference check also checks that the work units tile the output.
 */
#include "cunit_main.h"
#include "runtime/krt_elementwise.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

/* ---- calling the kernels ----------------------------------------------------------- */

/* Run kernel k over all its units, one call per unit. */
static krt_status call(krt_kernel_id k, const void *desc, void *const *ops)
{
    krt_error err = {.operand = -1};
    krt_status st = krt_kernels[k]->run(desc, ops, NULL, (krt_span){0, 0}, &err);
    for (int64_t u = 0; st == KRT_OK && u < krt_kernel_units(k, desc); u++)
        st = krt_kernels[k]->run(desc, ops, NULL, (krt_span){u, u + 1}, &err);
    return st;
}

static krt_status unary(krt_unary_op op, krt_dtype dt, const void *x, void *y, int64_t n,
                        const krt_unary_params *p)
{
    bool classify = op == KRT_UN_ISNAN || op == KRT_UN_ISINF;
    krt_unary_desc d = {.op = op, .dt = dt, .y_dt = classify ? KRT_BOOL : dt, .n = n};
    if (p)
        d.p = *p;
    return call(KRT_K_UNARY, &d, (void *[]){(void *)x, y});
}

static krt_status clip(krt_dtype dt, const void *x, void *y, int64_t n, const void *lo,
                       const void *hi)
{
    krt_clip_desc d = {.dt = dt, .n = n};
    return call(KRT_K_CLIP, &d, (void *[]){(void *)x, (void *)lo, (void *)hi, y});
}

static krt_status binary(krt_binary_op op, krt_dtype dt, const krt_bcast *bc, const void *a,
                         const void *b, void *y)
{
    krt_binary_desc d = {.op = op, .dt = dt, .b_dt = dt, .y_dt = op >= KRT_BIN_AND ? KRT_BOOL : dt,
                         .bc = *bc};
    return call(KRT_K_BINARY, &d, (void *[]){(void *)a, (void *)b, y});
}

static krt_status power(krt_dtype base, krt_dtype exponent, const krt_bcast *bc, const void *a,
                        const void *b, void *y)
{
    krt_binary_desc d = {.op = KRT_BIN_POW, .dt = base, .b_dt = exponent, .y_dt = base, .bc = *bc};
    return call(KRT_K_BINARY, &d, (void *[]){(void *)a, (void *)b, y});
}

static krt_status where(krt_dtype dt, const krt_bcast *bc, const uint8_t *cond, const void *a,
                        const void *b, void *y)
{
    krt_where_desc d = {.dt = dt, .bc = *bc};
    return call(KRT_K_WHERE, &d, (void *[]){(void *)cond, (void *)a, (void *)b, y});
}

static krt_status cast(krt_dtype from, krt_dtype to, const void *x, void *y, int64_t n)
{
    krt_cast_desc d = {.from = from, .to = to, .n = n};
    return call(KRT_K_CAST, &d, (void *[]){(void *)x, y});
}

typedef struct qaxis {
    int64_t outer, channels, inner;
} qaxis;

static krt_status quantize(krt_dtype xdt, krt_dtype ydt, qaxis ax, const void *x,
                           const float *scale, const void *zp, void *y)
{
    krt_qlinear_desc d = {.x_dt = xdt, .y_dt = ydt, .outer = ax.outer, .channels = ax.channels,
                          .inner = ax.inner};
    return call(KRT_K_QUANTIZE_LINEAR, &d, (void *[]){(void *)x, (void *)scale, (void *)zp, y});
}

static krt_status dequantize(krt_dtype xdt, qaxis ax, const void *x, const float *scale,
                             const void *zp, float *y)
{
    krt_qlinear_desc d = {.x_dt = xdt, .y_dt = KRT_F32, .outer = ax.outer,
                          .channels = ax.channels, .inner = ax.inner};
    return call(KRT_K_DEQUANTIZE_LINEAR, &d, (void *[]){(void *)x, (void *)scale, (void *)zp, y});
}

static void dynamic_quantize(const float *x, int64_t n, uint8_t *y, float *scale, uint8_t *zp)
{
    krt_dynamic_quantize_desc d = {.n = n};
    CU_ASSERT_EQUAL(call(KRT_K_DYNAMIC_QUANTIZE_LINEAR, &d, (void *[]){(void *)x, y, scale, zp}),
                    KRT_OK);
}

/* Deterministic pseudo-random floats in [lo, hi). */
static uint32_t rng_state = 12345;
static float frand(float lo, float hi)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return lo + (hi - lo) * (float)(rng_state >> 8) / 16777216.0f;
}

static int close_to(double got, double want, double rtol, double atol)
{
    if (isnan(want))
        return isnan(got);
    if (isinf(want))
        return got == want;
    return fabs(got - want) <= atol + rtol * fabs(want);
}

/* ---- unary, f32 against double references ------------------------------------ */

typedef struct unary_case {
    krt_unary_op op;
    float lo, hi;              /* input range (inside the op's domain) */
    double (*ref)(double x, const krt_unary_params *p);
} unary_case;

static double r_abs(double x, const krt_unary_params *p) { return x < 0 ? -x : x; }
static double r_acos(double x, const krt_unary_params *p) { return acos(x); }
static double r_acosh(double x, const krt_unary_params *p) { return log(x + sqrt(x * x - 1)); }
static double r_asin(double x, const krt_unary_params *p) { return asin(x); }
static double r_asinh(double x, const krt_unary_params *p) { return log(x + sqrt(x * x + 1)); }
static double r_atan(double x, const krt_unary_params *p) { return atan(x); }
static double r_atanh(double x, const krt_unary_params *p) { return 0.5 * log((1 + x) / (1 - x)); }
static double r_ceil(double x, const krt_unary_params *p) { return ceil(x); }
static double r_cos(double x, const krt_unary_params *p) { return cos(x); }
static double r_cosh(double x, const krt_unary_params *p) { return (exp(x) + exp(-x)) / 2; }
static double r_erf(double x, const krt_unary_params *p) { return erf(x); }
static double r_exp(double x, const krt_unary_params *p) { return exp(x); }
static double r_floor(double x, const krt_unary_params *p) { return floor(x); }
static double r_log(double x, const krt_unary_params *p) { return log(x); }
static double r_neg(double x, const krt_unary_params *p) { return -x; }
static double r_recip(double x, const krt_unary_params *p) { return 1 / x; }
static double r_relu(double x, const krt_unary_params *p) { return x > 0 ? x : 0; }
static double r_sigmoid(double x, const krt_unary_params *p) { return 1 / (1 + exp(-x)); }
static double r_sign(double x, const krt_unary_params *p) { return x > 0 ? 1 : x < 0 ? -1 : 0; }
static double r_sin(double x, const krt_unary_params *p) { return sin(x); }
static double r_sinh(double x, const krt_unary_params *p) { return (exp(x) - exp(-x)) / 2; }
static double r_softplus(double x, const krt_unary_params *p) { return log(1 + exp(x)); }
static double r_softsign(double x, const krt_unary_params *p) { return x / (1 + fabs(x)); }
static double r_sqrt(double x, const krt_unary_params *p) { return sqrt(x); }
static double r_tan(double x, const krt_unary_params *p) { return sin(x) / cos(x); }
static double r_tanh(double x, const krt_unary_params *p) { return (exp(2 * x) - 1) / (exp(2 * x) + 1); }
static double r_hardswish(double x, const krt_unary_params *p) { return x * fmax(0, fmin(1, x / 6 + 0.5)); }
static double r_elu(double x, const krt_unary_params *p) { return x >= 0 ? x : p->alpha * (exp(x) - 1); }
static double r_selu(double x, const krt_unary_params *p)
{
    return x > 0 ? p->gamma * x : p->gamma * (p->alpha * exp(x) - p->alpha);
}
static double r_celu(double x, const krt_unary_params *p)
{
    return fmax(0, x) + fmin(0, p->alpha * (exp(x / p->alpha) - 1));
}
static double r_leaky(double x, const krt_unary_params *p) { return x >= 0 ? x : p->alpha * x; }
static double r_hardsig(double x, const krt_unary_params *p) { return fmax(0, fmin(1, p->alpha * x + p->beta)); }
static double r_thresh(double x, const krt_unary_params *p) { return x > p->alpha ? x : 0; }
static double r_shrink(double x, const krt_unary_params *p)
{
    return x < -p->lambd ? x + p->bias : x > p->lambd ? x - p->bias : 0;
}

static const unary_case unary_cases[] = {
    {KRT_UN_ABS, -5, 5, r_abs},        {KRT_UN_ACOS, -0.99f, 0.99f, r_acos},
    {KRT_UN_ACOSH, 1.01f, 9, r_acosh}, {KRT_UN_ASIN, -0.99f, 0.99f, r_asin},
    {KRT_UN_ASINH, -9, 9, r_asinh},    {KRT_UN_ATAN, -9, 9, r_atan},
    {KRT_UN_ATANH, -0.9f, 0.9f, r_atanh}, {KRT_UN_CEIL, -5, 5, r_ceil},
    {KRT_UN_COS, -6, 6, r_cos},        {KRT_UN_COSH, -5, 5, r_cosh},
    {KRT_UN_ERF, -3, 3, r_erf},        {KRT_UN_EXP, -20, 20, r_exp},
    {KRT_UN_FLOOR, -5, 5, r_floor},    {KRT_UN_LOG, 0.01f, 100, r_log},
    {KRT_UN_NEG, -5, 5, r_neg},        {KRT_UN_RECIPROCAL, 0.1f, 10, r_recip},
    {KRT_UN_RELU, -5, 5, r_relu},      {KRT_UN_SIGMOID, -30, 30, r_sigmoid},
    {KRT_UN_SIGN, -5, 5, r_sign},      {KRT_UN_SIN, -6, 6, r_sin},
    {KRT_UN_SINH, -5, 5, r_sinh},      {KRT_UN_SOFTPLUS, -20, 20, r_softplus},
    {KRT_UN_SOFTSIGN, -9, 9, r_softsign}, {KRT_UN_SQRT, 0, 100, r_sqrt},
    {KRT_UN_TAN, -1.4f, 1.4f, r_tan},  {KRT_UN_TANH, -9, 9, r_tanh},
    {KRT_UN_HARDSWISH, -5, 5, r_hardswish}, {KRT_UN_ELU, -5, 5, r_elu},
    {KRT_UN_SELU, -5, 5, r_selu},      {KRT_UN_CELU, -5, 5, r_celu},
    {KRT_UN_LEAKYRELU, -5, 5, r_leaky}, {KRT_UN_HARDSIGMOID, -5, 5, r_hardsig},
    {KRT_UN_THRESHOLDEDRELU, -5, 5, r_thresh}, {KRT_UN_SHRINK, -5, 5, r_shrink},
};

static void test_unary_f32_against_reference(void)
{
    enum { N = 257 };
    float x[N], y[N];
    krt_unary_params p = {.alpha = 0.7f, .beta = 0.4f, .gamma = 1.3f, .lambd = 1.5f, .bias = 0.5f};
    for (size_t c = 0; c < sizeof unary_cases / sizeof unary_cases[0]; c++) {
        const unary_case *u = &unary_cases[c];
        for (int i = 0; i < N; i++)
            x[i] = frand(u->lo, u->hi);
        CU_ASSERT_EQUAL_FATAL(unary(u->op, KRT_F32, x, y, N, &p), KRT_OK);
        int bad = 0;
        for (int i = 0; i < N; i++)
            if (!close_to(y[i], u->ref(x[i], &p), 2e-6, 1e-6) && bad++ == 0)
                fprintf(stderr, "\n  op %d: x=%.9g got %.9g want %.9g", (int)u->op, x[i], y[i],
                        u->ref(x[i], &p));
        CU_ASSERT_EQUAL(bad, 0);
    }
}

static void test_unary_f64_and_in_place(void)
{
    double x[64], y[64];
    for (int i = 0; i < 64; i++)
        x[i] = y[i] = frand(-3, 3);
    CU_ASSERT_EQUAL(unary(KRT_UN_TANH, KRT_F64, x, x, 64, NULL), KRT_OK); /* in place */
    for (int i = 0; i < 64; i++)
        CU_ASSERT(close_to(x[i], r_tanh(y[i], NULL), 1e-14, 1e-15));
}

static void test_unary_f16_bf16(void)
{
    /* exp of f16 1.0 = 2.71828 -> f16 0x4170 (2.71875) per numpy:
     * np.exp(np.float16(1)).view(np.uint16) == 0x4170 */
    uint16_t h = 0x3c00, out;
    CU_ASSERT_EQUAL(unary(KRT_UN_EXP, KRT_F16, &h, &out, 1, NULL), KRT_OK);
    CU_ASSERT_EQUAL(out, 0x4170);
    /* bf16 sqrt(2.0): 1.41421 -> bf16 0x3fb5 (1.4140625) */
    uint16_t b = 0x4000;
    CU_ASSERT_EQUAL(unary(KRT_UN_SQRT, KRT_BF16, &b, &out, 1, NULL), KRT_OK);
    CU_ASSERT_EQUAL(out, 0x3fb5);
}

static void test_unary_round_half_even_and_edges(void)
{
    /* numpy: np.round([-2.5,-1.5,-0.5,0.5,1.5,2.5,2.6,-2.6]) */
    float x[8] = {-2.5f, -1.5f, -0.5f, 0.5f, 1.5f, 2.5f, 2.6f, -2.6f}, y[8];
    float want[8] = {-2, -2, -0.0f, 0, 2, 2, 3, -3};
    unary(KRT_UN_ROUND, KRT_F32, x, y, 8, NULL);
    for (int i = 0; i < 8; i++)
        CU_ASSERT_EQUAL(y[i], want[i]);
    /* sigmoid and softplus do not overflow at the ends */
    float big[2] = {-200, 200}, r[2];
    unary(KRT_UN_SIGMOID, KRT_F32, big, r, 2, NULL);
    CU_ASSERT(r[0] == 0.0f && r[1] == 1.0f);
    unary(KRT_UN_SOFTPLUS, KRT_F32, big, r, 2, NULL);
    CU_ASSERT(r[0] == 0.0f && r[1] == 200.0f);
}

static void test_unary_classify_and_not(void)
{
    float x[5] = {1.0f, NAN, INFINITY, -INFINITY, 0.0f};
    uint8_t y[5];
    unary(KRT_UN_ISNAN, KRT_F32, x, y, 5, NULL);
    CU_ASSERT(y[0] == 0 && y[1] == 1 && y[2] == 0 && y[3] == 0 && y[4] == 0);
    krt_unary_params p = {.detect_positive = 1, .detect_negative = 0};
    unary(KRT_UN_ISINF, KRT_F32, x, y, 5, &p);
    CU_ASSERT(y[0] == 0 && y[1] == 0 && y[2] == 1 && y[3] == 0 && y[4] == 0);
    p.detect_positive = 0, p.detect_negative = 1;
    unary(KRT_UN_ISINF, KRT_F32, x, y, 5, &p);
    CU_ASSERT(y[2] == 0 && y[3] == 1);
    uint8_t b[3] = {0, 1, 0}, nb[3];
    CU_ASSERT_EQUAL(unary(KRT_UN_NOT, KRT_BOOL, b, nb, 3, NULL), KRT_OK);
    CU_ASSERT(nb[0] == 1 && nb[1] == 0 && nb[2] == 1);
}

static void test_unary_integers(void)
{
    int32_t x[5] = {-7, 0, 5, INT32_MIN, INT32_MAX}, y[5];
    CU_ASSERT_EQUAL(unary(KRT_UN_ABS, KRT_I32, x, y, 5, NULL), KRT_OK);
    CU_ASSERT(y[0] == 7 && y[1] == 0 && y[2] == 5 && y[3] == INT32_MIN && y[4] == INT32_MAX);
    unary(KRT_UN_NEG, KRT_I32, x, y, 5, NULL);
    CU_ASSERT(y[0] == 7 && y[2] == -5 && y[3] == INT32_MIN);
    unary(KRT_UN_SIGN, KRT_I32, x, y, 5, NULL);
    CU_ASSERT(y[0] == -1 && y[1] == 0 && y[2] == 1 && y[3] == -1 && y[4] == 1);
    unary(KRT_UN_RELU, KRT_I32, x, y, 5, NULL);
    CU_ASSERT(y[0] == 0 && y[2] == 5 && y[3] == 0);
    /* Shrink on u8 with lambd 1.5, bias 1.5 (numpy reference formula):
     * x=[0,1,2,200] -> [0,0,0.5->0,198.5->198] */
    uint8_t u[4] = {0, 1, 2, 200}, uy[4];
    krt_unary_params p = {.lambd = 1.5f, .bias = 1.5f};
    CU_ASSERT_EQUAL(unary(KRT_UN_SHRINK, KRT_U8, u, uy, 4, &p), KRT_OK);
    CU_ASSERT(uy[0] == 0 && uy[1] == 0 && uy[2] == 0 && uy[3] == 198);
    /* no variant: integer Exp, unsigned Neg */
    CU_ASSERT_EQUAL(unary(KRT_UN_EXP, KRT_I32, x, y, 5, NULL), KRT_EDTYPE);
    CU_ASSERT_EQUAL(unary(KRT_UN_NEG, KRT_U8, u, uy, 4, NULL), KRT_EDTYPE);
}

static void test_clip(void)
{
    float x[6] = {-3, -1, 0, 1, 3, NAN}, y[6], lo = -1.5f, hi = 2;
    CU_ASSERT_EQUAL(clip(KRT_F32, x, y, 6, &lo, &hi), KRT_OK);
    CU_ASSERT(y[0] == -1.5f && y[1] == -1 && y[2] == 0 && y[3] == 1 && y[4] == 2 && isnan(y[5]));
    clip(KRT_F32, x, y, 5, NULL, &hi);
    CU_ASSERT(y[0] == -3 && y[4] == 2);
    /* lo > hi: numpy's np.clip(x, 2, -1.5) gives -1.5 everywhere */
    clip(KRT_F32, x, y, 5, &hi, &lo);
    for (int i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(y[i], -1.5f);
    int8_t ix[4] = {-128, -5, 5, 127}, iy[4], imax = 0;
    CU_ASSERT_EQUAL(clip(KRT_I8, ix, iy, 4, NULL, &imax), KRT_OK);
    CU_ASSERT(iy[0] == -128 && iy[1] == -5 && iy[2] == 0 && iy[3] == 0);
}

/* ---- broadcasting ------------------------------------------------------------------ */

/* Element offset in an input of dims in_dims (rank r_in) of the output
 * multi-index idx (rank r_out), numpy-aligned on the trailing dims. */
static int64_t naive_offset(int r_out, const int64_t *idx, int r_in, const int64_t *in_dims)
{
    int64_t off = 0;
    for (int j = 0; j < r_in; j++) {
        int64_t i = idx[j + r_out - r_in];
        off = off * in_dims[j] + (in_dims[j] == 1 ? 0 : i);
    }
    return off;
}

static void unravel(int64_t flat, int r, const int64_t *dims, int64_t *idx)
{
    for (int d = r - 1; d >= 0; d--) {
        idx[d] = flat % dims[d];
        flat /= dims[d];
    }
}

typedef struct bcase {
    int ra, rb, ry;
    int64_t a[4], b[4], y[4];
} bcase;

static const bcase bcases[] = {
    {3, 1, 3, {2, 3, 4}, {4}, {2, 3, 4}},           /* bias over the last dim */
    {3, 0, 3, {2, 3, 4}, {0}, {2, 3, 4}},           /* scalar */
    {2, 2, 2, {3, 1}, {1, 5}, {3, 5}},              /* outer product */
    {4, 3, 4, {2, 1, 3, 1}, {4, 1, 6}, {2, 4, 3, 6}},
    {3, 3, 3, {2, 3, 4}, {2, 3, 4}, {2, 3, 4}},     /* same shape */
    {1, 3, 3, {7}, {1, 2, 7}, {1, 2, 7}},
    {2, 2, 2, {0, 3}, {1, 3}, {0, 3}},              /* empty */
    {0, 0, 0, {0}, {0}, {0}},                       /* scalars */
};

static void test_binary_broadcast_against_naive(void)
{
    static const krt_binary_op ops[] = {KRT_BIN_ADD, KRT_BIN_SUB, KRT_BIN_MUL, KRT_BIN_DIV,
                                        KRT_BIN_MAX, KRT_BIN_MIN, KRT_BIN_PRELU};
    for (size_t c = 0; c < sizeof bcases / sizeof bcases[0]; c++) {
        const bcase *t = &bcases[c];
        int64_t na = krt_numel(t->ra, t->a), nb = krt_numel(t->rb, t->b), ny = krt_numel(t->ry, t->y);
        float a[256], b[256], y[256];
        for (int64_t i = 0; i < na; i++)
            a[i] = frand(-4, 4);
        for (int64_t i = 0; i < nb; i++)
            b[i] = frand(0.5f, 4);
        krt_bcast bc;
        krt_bcast_init(&bc, t->ry, t->y);
        CU_ASSERT_EQUAL_FATAL(krt_bcast_add_input(&bc, t->ra, t->a), KRT_OK);
        CU_ASSERT_EQUAL_FATAL(krt_bcast_add_input(&bc, t->rb, t->b), KRT_OK);
        CU_ASSERT_EQUAL(krt_bcast_numel(&bc), ny);
        for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
            CU_ASSERT_EQUAL_FATAL(binary(ops[o], KRT_F32, &bc, a, b, y), KRT_OK);
            for (int64_t f = 0; f < ny; f++) {
                int64_t idx[4];
                unravel(f, t->ry, t->y, idx);
                float va = a[naive_offset(t->ry, idx, t->ra, t->a)];
                float vb = b[naive_offset(t->ry, idx, t->rb, t->b)];
                float want = ops[o] == KRT_BIN_ADD ? va + vb : ops[o] == KRT_BIN_SUB ? va - vb
                           : ops[o] == KRT_BIN_MUL ? va * vb : ops[o] == KRT_BIN_DIV ? va / vb
                           : ops[o] == KRT_BIN_MAX ? fmaxf(va, vb) : ops[o] == KRT_BIN_MIN ? fminf(va, vb)
                           : va < 0 ? va * vb : va;
                CU_ASSERT_EQUAL(y[f], want);
            }
        }
    }
}

static void test_bcast_rejects_mismatch(void)
{
    krt_bcast bc;
    int64_t y[2] = {3, 4}, bad[1] = {3}, big[3] = {1, 3, 4};
    krt_bcast_init(&bc, 2, y);
    CU_ASSERT_EQUAL(krt_bcast_add_input(&bc, 1, bad), KRT_EVALUE);
    CU_ASSERT_EQUAL(krt_bcast_add_input(&bc, 3, big), KRT_EVALUE);
    float a[12] = {0}, out[12];
    krt_bcast_add_input(&bc, 2, y);
    CU_ASSERT_EQUAL(binary(KRT_BIN_ADD, KRT_F32, &bc, a, a, out), KRT_EVALUE); /* one input */
}

static void binary_i32(krt_binary_op op, const int32_t *a, const int32_t *b, int32_t *y, int64_t n)
{
    krt_bcast bc;
    krt_bcast_init(&bc, 1, &n);
    krt_bcast_add_input(&bc, 1, &n);
    krt_bcast_add_input(&bc, 1, &n);
    CU_ASSERT_EQUAL(binary(op, KRT_I32, &bc, a, b, y), KRT_OK);
}

static void test_binary_integer_semantics(void)
{
    enum { N = 8 };
    int32_t a[N] = {7, -7, 7, -7, 5, INT32_MIN, INT32_MAX, 3};
    int32_t b[N] = {3, 3, -3, -3, 0, -1, 1, 0};
    int32_t y[N];
    /* C truncation, 0 for a zero divisor, INT_MIN / -1 wraps */
    binary_i32(KRT_BIN_DIV, a, b, y, N);
    int32_t div[N] = {2, -2, -2, 2, 0, INT32_MIN, INT32_MAX, 0};
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL(y[i], div[i]);
    /* Python's a % b (sign of the divisor): numpy np.mod([7,-7,7,-7],[3,3,-3,-3]) */
    binary_i32(KRT_BIN_MOD, a, b, y, N);
    int32_t mod[N] = {1, 2, -2, -1, 0, 0, 0, 0};
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL(y[i], mod[i]);
    /* np.fmod([7,-7,7,-7],[3,3,-3,-3]) */
    binary_i32(KRT_BIN_FMOD, a, b, y, N);
    int32_t fm[N] = {1, -1, 1, -1, 0, 0, 0, 0};
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL(y[i], fm[i]);
    binary_i32(KRT_BIN_ADD, a, b, y, N);
    CU_ASSERT_EQUAL(y[6], INT32_MIN);  /* wraps */
    /* mixed-sign Mod of floats (np.mod) and f16 fmod from the ONNX test data */
    float fa[2] = {-4.3f, 7.2f}, fb[2] = {2.1f, -3.4f}, fy[2];
    int64_t two = 2;
    krt_bcast bc;
    krt_bcast_init(&bc, 1, &two);
    krt_bcast_add_input(&bc, 1, &two);
    krt_bcast_add_input(&bc, 1, &two);
    binary(KRT_BIN_MOD, KRT_F32, &bc, fa, fb, fy);
    CU_ASSERT(close_to(fy[0], 2.0, 1e-5, 1e-6) && close_to(fy[1], -3.0, 1e-5, 1e-6));
    binary(KRT_BIN_FMOD, KRT_F32, &bc, fa, fb, fy);
    CU_ASSERT(close_to(fy[0], -0.1, 1e-4, 1e-6) && close_to(fy[1], 0.4, 1e-4, 1e-6));
}

static void test_binary_shift_compare_logic(void)
{
    int64_t n = 4;
    krt_bcast bc;
    krt_bcast_init(&bc, 1, &n);
    krt_bcast_add_input(&bc, 1, &n);
    krt_bcast_add_input(&bc, 1, &n);
    uint16_t a[4] = {1, 0x8001, 7, 65535}, s[4] = {3, 1, 16, 15}, y[4];
    CU_ASSERT_EQUAL(binary(KRT_BIN_SHL, KRT_U16, &bc, a, s, y), KRT_OK);
    CU_ASSERT(y[0] == 8 && y[1] == 2 && y[2] == 0 && y[3] == 0x8000);
    binary(KRT_BIN_SHR, KRT_U16, &bc, a, s, y);
    CU_ASSERT(y[0] == 0 && y[1] == 0x4000 && y[2] == 0 && y[3] == 1);
    CU_ASSERT_EQUAL(binary(KRT_BIN_SHL, KRT_I32, &bc, a, s, y), KRT_EDTYPE);

    float fa[4] = {1, 2, NAN, -1}, fb[4] = {1, 1, 0, 0};
    uint8_t r[4];
    binary(KRT_BIN_EQUAL, KRT_F32, &bc, fa, fb, r);
    CU_ASSERT(r[0] == 1 && r[1] == 0 && r[2] == 0 && r[3] == 0);
    binary(KRT_BIN_GREATER_EQUAL, KRT_F32, &bc, fa, fb, r);
    CU_ASSERT(r[0] == 1 && r[1] == 1 && r[2] == 0 && r[3] == 0);
    binary(KRT_BIN_LESS, KRT_F32, &bc, fa, fb, r);
    CU_ASSERT(r[0] == 0 && r[1] == 0 && r[2] == 0 && r[3] == 1);
    float m[4];
    binary(KRT_BIN_MAX, KRT_F32, &bc, fb, fa, m);  /* NaN propagates from either side */
    CU_ASSERT(isnan(m[2]) && m[0] == 1 && m[1] == 2);

    uint8_t p[4] = {0, 0, 1, 1}, q[4] = {0, 1, 0, 1};
    binary(KRT_BIN_AND, KRT_BOOL, &bc, p, q, r);
    CU_ASSERT(r[0] == 0 && r[1] == 0 && r[2] == 0 && r[3] == 1);
    binary(KRT_BIN_OR, KRT_BOOL, &bc, p, q, r);
    CU_ASSERT(r[0] == 0 && r[1] == 1 && r[2] == 1 && r[3] == 1);
    binary(KRT_BIN_XOR, KRT_BOOL, &bc, p, q, r);
    CU_ASSERT(r[0] == 0 && r[1] == 1 && r[2] == 1 && r[3] == 0);
}

static void test_binary_f16(void)
{
    /* numpy: (np.float16(1.5) + np.float16(2.25)) -> 3.75 = 0x4380;
     * np.float16(0.1) * np.float16(3) -> 0.2998 = 0x34cc */
    uint16_t a[2] = {0x3e00, 0x2e66}, b[2] = {0x4080, 0x4200}, y[2];
    int64_t n = 1;
    krt_bcast bc;
    krt_bcast_init(&bc, 1, &n);
    krt_bcast_add_input(&bc, 1, &n);
    krt_bcast_add_input(&bc, 1, &n);
    binary(KRT_BIN_ADD, KRT_F16, &bc, a, b, y);
    CU_ASSERT_EQUAL(y[0], 0x4380);
    binary(KRT_BIN_MUL, KRT_F16, &bc, a + 1, b + 1, y + 1);
    CU_ASSERT_EQUAL(y[1], 0x34cc);
}

static void test_pow_mixed_types(void)
{
    int64_t n = 4;
    krt_bcast bc;
    krt_bcast_init(&bc, 1, &n);
    krt_bcast_add_input(&bc, 1, &n);
    krt_bcast_add_input(&bc, 1, &n);
    /* numpy: np.power(np.array([2,3,-2,5],np.int64), np.array([10,3,3,0],np.int64)) */
    int64_t ia[4] = {2, 3, -2, 5}, ib[4] = {10, 3, 3, 0}, iy[4];
    CU_ASSERT_EQUAL(power(KRT_I64, KRT_I64, &bc, ia, ib, iy), KRT_OK);
    CU_ASSERT(iy[0] == 1024 && iy[1] == 27 && iy[2] == -8 && iy[3] == 1);
    /* int base, float exponent: np.power([2,9,4,10], f32 [0.5,0.5,-1,2]).astype(np.int32) */
    int32_t xa[4] = {2, 9, 4, 10}, xy[4];
    float fb[4] = {0.5f, 0.5f, -1.0f, 2.0f};
    CU_ASSERT_EQUAL(power(KRT_I32, KRT_F32, &bc, xa, fb, xy), KRT_OK);
    CU_ASSERT(xy[0] == 1 && xy[1] == 3 && xy[2] == 0 && xy[3] == 100);
    /* float base, unsigned exponent */
    float fa[4] = {1.5f, -2, 10, 0.5f}, fy[4];
    uint64_t ub[4] = {2, 3, 5, 1};
    CU_ASSERT_EQUAL(power(KRT_F32, KRT_U64, &bc, fa, ub, fy), KRT_OK);
    CU_ASSERT(fy[0] == 2.25f && fy[1] == -8 && fy[2] == 100000 && fy[3] == 0.5f);
    /* negative integer exponent: 1/(a**|e|) truncated */
    int32_t na[4] = {1, -1, 2, -1}, ne[4] = {-3, -3, -1, -2}, ny[4];
    power(KRT_I32, KRT_I32, &bc, na, ne, ny);
    CU_ASSERT(ny[0] == 1 && ny[1] == -1 && ny[2] == 0 && ny[3] == 1);
    CU_ASSERT_EQUAL(power(KRT_U8, KRT_U8, &bc, na, ne, ny), KRT_EDTYPE);
}

static void test_where_broadcast(void)
{
    /* cond [2,1], a [1,3], b scalar -> y [2,3] */
    uint8_t cond[2] = {1, 0};
    int64_t a[3] = {1, 2, 3}, b = -9, y[6];
    int64_t dy[2] = {2, 3}, dc[2] = {2, 1}, da[2] = {1, 3};
    krt_bcast bc;
    krt_bcast_init(&bc, 2, dy);
    krt_bcast_add_input(&bc, 2, dc);
    krt_bcast_add_input(&bc, 2, da);
    krt_bcast_add_input(&bc, 0, NULL);
    CU_ASSERT_EQUAL(where(KRT_I64, &bc, cond, a, &b, y), KRT_OK);
    int64_t want[6] = {1, 2, 3, -9, -9, -9};
    for (int i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(y[i], want[i]);
}

/* Mean of three: a [3] + b [1] + c [3], divided by 3. */
static void test_variadic_mean(void)
{
    float a[3] = {1, 2, -1}, b = 2, c[3] = {0, 2, 0}, y[3];
    krt_variadic_desc d = {.op = KRT_BIN_ADD, .dt = KRT_F32, .rank = 1, .n_in = 3,
                           .dims = {3}, .strides = {{1}, {0}, {1}}, .divisor = 3};
    CU_ASSERT_EQUAL(call(KRT_K_VARIADIC, &d, (void *[]){a, &b, c, y}), KRT_OK);
    CU_ASSERT(y[0] == 1 && y[1] == 2 && y[2] == 1.0f / 3);
    int32_t ia[3] = {1, 2, 3}, iy[3];
    d.dt = KRT_I32; /* no integer division variant */
    CU_ASSERT_EQUAL(call(KRT_K_VARIADIC, &d, (void *[]){ia, ia, ia, iy}), KRT_EDTYPE);
    d.divisor = 0; /* Sum of ints is fine */
    d.strides[1][0] = 1;
    CU_ASSERT_EQUAL(call(KRT_K_VARIADIC, &d, (void *[]){ia, ia, ia, iy}), KRT_OK);
    CU_ASSERT(iy[0] == 3 && iy[1] == 6 && iy[2] == 9);
}

/* ---- cast ----------------------------------------------------------------------- */

static void test_cast_float_to_int(void)
{
    float x[7] = {2.9f, -2.9f, 300.0f, -300.0f, NAN, 1e20f, -0.5f};
    int8_t i8[7];
    CU_ASSERT_EQUAL(cast(KRT_F32, KRT_I8, x, i8, 7), KRT_OK);
    int8_t want[7] = {2, -2, 127, -128, 0, 127, 0};
    for (int i = 0; i < 7; i++)
        CU_ASSERT_EQUAL(i8[i], want[i]);
    uint32_t u32[7];
    cast(KRT_F32, KRT_U32, x, u32, 7);
    CU_ASSERT(u32[0] == 2 && u32[1] == 0 && u32[2] == 300 && u32[3] == 0 && u32[5] == UINT32_MAX);
    double big = 9.3e18;
    int64_t i64;
    cast(KRT_F64, KRT_I64, &big, &i64, 1);
    CU_ASSERT_EQUAL(i64, INT64_MAX);
}

static void test_cast_bool_and_ints(void)
{
    float x[4] = {0.0f, -0.0f, 0.1f, NAN};
    uint8_t b[4];
    cast(KRT_F32, KRT_BOOL, x, b, 4);
    CU_ASSERT(b[0] == 0 && b[1] == 0 && b[2] == 1 && b[3] == 1);
    uint8_t bb[2] = {1, 0};
    double d[2];
    cast(KRT_BOOL, KRT_F64, bb, d, 2);
    CU_ASSERT(d[0] == 1.0 && d[1] == 0.0);
    int64_t v[3] = {-1, 256, 70000};
    uint8_t u8[3];
    cast(KRT_I64, KRT_U8, v, u8, 3);  /* wraps like numpy's astype */
    CU_ASSERT(u8[0] == 255 && u8[1] == 0 && u8[2] == 112);
    int16_t i16[3];
    cast(KRT_I64, KRT_I16, v, i16, 3);
    CU_ASSERT(i16[0] == -1 && i16[1] == 256 && i16[2] == 4464);
    int64_t big = (int64_t)1 << 53 | 1;  /* int64 -> f64 rounds to nearest even */
    double bd;
    cast(KRT_I64, KRT_F64, &big, &bd, 1);
    CU_ASSERT_EQUAL(bd, 9007199254740992.0);
}

static void test_cast_half(void)
{
    /* numpy: np.array([1/3, 65519.99, 65520.0, 1e-8, -2.0**-25 * 1.5]).astype(np.float16).view(np.uint16)
     *   -> [0x3555, 0x7bff, 0x7c00, 0x0000, 0x8001] */
    double x[5] = {1.0 / 3, 65519.99, 65520.0, 1e-8, -0x1.8p-25};
    uint16_t h[5];
    CU_ASSERT_EQUAL(cast(KRT_F64, KRT_F16, x, h, 5), KRT_OK);
    uint16_t want[5] = {0x3555, 0x7bff, 0x7c00, 0x0000, 0x8001};
    for (int i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(h[i], want[i]);
    /* double rounding: 1 + 2^-11 + 2^-40 is just above the f16 tie between
     * 1 and 1+2^-10; to f32 it rounds onto the tie (then to even: 1.0), but
     * directly it rounds up: np.float16(1 + 2**-11 + 2**-40) -> 0x3c01 */
    double d = 1.0 + 0x1p-11 + 0x1p-40;
    cast(KRT_F64, KRT_F16, &d, h, 1);
    CU_ASSERT_EQUAL(h[0], 0x3c01);
    /* bf16 from f32 rounds to nearest even; from bf16 back exactly */
    float f[2] = {1.00390625f /* 1 + 2^-8: tie -> 1.0 */, 1.01171875f /* 1+3*2^-8 -> 1+2^-6 */};
    uint16_t bf[2];
    cast(KRT_F32, KRT_BF16, f, bf, 2);
    CU_ASSERT(bf[0] == 0x3f80 && bf[1] == 0x3f82);
    float back[2];
    cast(KRT_BF16, KRT_F32, bf, back, 2);
    CU_ASSERT(back[0] == 1.0f && back[1] == 1.015625f);
    /* f16 -> i32 truncates */
    uint16_t h2 = 0xc0a0; /* -2.3125 */
    int32_t i;
    cast(KRT_F16, KRT_I32, &h2, &i, 1);
    CU_ASSERT_EQUAL(i, -2);
    CU_ASSERT_EQUAL(cast(KRT_UNDEF, KRT_F32, &h2, &i, 1), KRT_EDTYPE);
}

/* ---- quantization ------------------------------------------------------------------- */

static void test_quantize_per_tensor(void)
{
    /* ONNX QuantizeLinear example: x=[0,2,3,1000,-254,-1000], scale 2, zp 128
     * -> [128,129,130,255,1,0] (3/2 = 1.5 rounds to even 2) */
    float x[6] = {0, 2, 3, 1000, -254, -1000}, s = 2;
    uint8_t zp = 128, y[6];
    qaxis ax = {1, 1, 6};
    CU_ASSERT_EQUAL(quantize(KRT_F32, KRT_U8, ax, x, &s, &zp, y), KRT_OK);
    uint8_t want[6] = {128, 129, 130, 255, 1, 0};
    for (int i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(y[i], want[i]);
    /* i8 without zero point: 5/2 = 2.5 -> 2, -5/2 -> -2, 1000 -> 127, NaN -> 0 */
    float x2[4] = {5, -5, 1000, NAN};
    int8_t y2[4];
    quantize(KRT_F32, KRT_I8, (qaxis){1, 1, 4}, x2, &s, NULL, y2);
    CU_ASSERT(y2[0] == 2 && y2[1] == -2 && y2[2] == 127 && y2[3] == 0);
    CU_ASSERT_EQUAL(quantize(KRT_F64, KRT_U8, ax, x, &s, &zp, y), KRT_EDTYPE);
}

static void test_quantize_dequantize_per_axis(void)
{
    /* from the ONNX test test_quantizelinear_axis (x[1,3,3,2], axis 1) */
    float x[18] = {-162, 10, -100, 232, -20, -50, -76, 0, 0, 252, 32, -44,
                   245, -485, -960, -270, -375, -470};
    float scale[3] = {2, 4, 5};
    uint8_t zp[3] = {84, 24, 196}, y[18];
    uint8_t want[18] = {3, 89, 34, 200, 74, 59, 5, 24, 24, 87, 32, 13,
                        245, 99, 4, 142, 121, 102};
    qaxis ax = {1, 3, 6};
    CU_ASSERT_EQUAL(quantize(KRT_F32, KRT_U8, ax, x, scale, zp, y), KRT_OK);
    for (int i = 0; i < 18; i++)
        CU_ASSERT_EQUAL(y[i], want[i]);
    /* dequantize: (y - zp) * scale, checked against the naive formula */
    float back[18];
    CU_ASSERT_EQUAL(dequantize(KRT_U8, ax, y, scale, zp, back), KRT_OK);
    for (int i = 0; i < 18; i++)
        CU_ASSERT_EQUAL(back[i], ((float)y[i] - (float)zp[i / 6]) * scale[i / 6]);
    int32_t big[2] = {INT32_MAX, INT32_MIN};
    float one = 1, out[2];
    dequantize(KRT_I32, (qaxis){1, 1, 2}, big, &one, NULL, out);
    CU_ASSERT(out[0] == 2147483648.0f && out[1] == -2147483648.0f);
}

static void test_dynamic_quantize(void)
{
    /* the three ONNX DynamicQuantizeLinear examples (expected values from
     * the ONNX test data, test_dynamicquantizelinear*) */
    float x1[6] = {0, 2, -3, -2.5f, 1.34f, 0.5f};
    uint8_t w1[6] = {153, 255, 0, 26, 221, 179}, y[12], zp;
    float s;
    dynamic_quantize(x1, 6, y, &s, &zp);
    CU_ASSERT_EQUAL(zp, 153);
    CU_ASSERT(fabsf(s - 0.0196078438f) < 1e-9f);
    for (int i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(y[i], w1[i]);
    float x2[6] = {-1.0f, -2.1f, -1.3f, -2.5f, -3.34f, -4.0f};
    uint8_t w2[6] = {191, 121, 172, 96, 42, 0};
    dynamic_quantize(x2, 6, y, &s, &zp);
    CU_ASSERT_EQUAL(zp, 255);
    for (int i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(y[i], w2[i]);
    float x0[3] = {0, 0, 0};
    dynamic_quantize(x0, 3, y, &s, &zp);
    CU_ASSERT(s == 0 && zp == 0 && y[0] == 0 && y[2] == 0);
}

static CU_TestInfo unary_tests[] = {
    {"f32 against double references", test_unary_f32_against_reference},
    {"f64, in place", test_unary_f64_and_in_place},
    {"f16 and bf16", test_unary_f16_bf16},
    {"round half to even, overflow edges", test_unary_round_half_even_and_edges},
    {"IsNaN IsInf Not", test_unary_classify_and_not},
    {"integer variants", test_unary_integers},
    {"Clip", test_clip},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo binary_tests[] = {
    {"broadcast against a naive loop", test_binary_broadcast_against_naive},
    {"layout rejects mismatches", test_bcast_rejects_mismatch},
    {"integer Div/Mod/FMod semantics", test_binary_integer_semantics},
    {"shifts, comparisons, logic", test_binary_shift_compare_logic},
    {"f16 arithmetic", test_binary_f16},
    {"Pow with mixed dtypes", test_pow_mixed_types},
    {"Where broadcast", test_where_broadcast},
    {"variadic Mean", test_variadic_mean},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo cast_tests[] = {
    {"float to int saturates", test_cast_float_to_int},
    {"bool and int conversions", test_cast_bool_and_ints},
    {"f16 and bf16 rounding", test_cast_half},
    {"QuantizeLinear per tensor", test_quantize_per_tensor},
    {"(De)QuantizeLinear per axis", test_quantize_dequantize_per_axis},
    {"DynamicQuantizeLinear", test_dynamic_quantize},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"elementwise unary kernels", NULL, NULL, NULL, NULL, unary_tests},
    {"elementwise binary kernels", NULL, NULL, NULL, NULL, binary_tests},
    {"cast and quantize kernels", NULL, NULL, NULL, NULL, cast_tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
