/* test_vmath.c — the accuracy of the vector math (runtime/krt_vmath.h)
 * against libm's double-precision functions, for every instruction set
 * this build has that this CPU runs (krt_vmath_f32 with each forced), and
 * for one instance compiled here with FMA contraction on (as the GEMM
 * epilogue runs it: krt_linalg_gemm.c contracts).
 *
 * The reference is the double result, not rounded to float: the error is
 * |y - ref| in units of the float ulp at ref (2^-149 for subnormals), so
 * a 0.5 ulp rounding error already shows as 0.5. Inputs: every 257th
 * float bit pattern over the whole range (both signs, subnormals, huge
 * values), every float in the ranges where the methods change branch,
 * and the special values (+-0, +-inf, NaN, the overflow edge).
 */
#include "cunit_main.h"
#include "runtime/krt_elementwise.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- an instance compiled with contraction on ----------------------------- */

/* x86-64: AVX2 + FMA, so that there is an FMA to contract to (baseline
 * x86-64 has none); run only where the CPU has them. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CONTRACT __attribute__((optimize("fp-contract=fast"), target("avx2,fma")))
#define CONTRACT_RUNS() (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
#elif defined(__x86_64__)
#define CONTRACT __attribute__((target("avx2,fma")))   /* clang contracts by default */
#define CONTRACT_RUNS() (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
#else
#define CONTRACT
#define CONTRACT_RUNS() 1
#endif
typedef float c4f __attribute__((vector_size(32)));
typedef int32_t c4i __attribute__((vector_size(32)));
#define VM_VEC c4f
#define VM_VECI c4i
#define VM_NAME(f) vmc_##f
#define VM_TARGET CONTRACT
#include "runtime/krt_vmath.h"

#define CONTRACT_LOOP(E, f)                                                   \
    CONTRACT static void contract_##f(const float *x, float *y, int64_t n)    \
    {                                                                         \
        for (int64_t i = 0; i < n; i += 8) {                                  \
            c4f v = {0};                                                      \
            int64_t m = n - i < 8 ? n - i : 8;                                \
            memcpy(&v, x + i, (size_t)m * 4);                                 \
            v = vmc_##f(v);                                                   \
            memcpy(y + i, &v, (size_t)m * 4);                                 \
        }                                                                     \
    }
#define FUNCS(X) X(EXP, exp) X(ERF, erf) X(TANH, tanh) X(SIGMOID, sigmoid) \
    X(GELU_ERF, gelu_erf) X(GELU_TANH, gelu_tanh)
FUNCS(CONTRACT_LOOP)
typedef void (*loop_fn)(const float *, float *, int64_t);
#define CONTRACT_ENTRY(E, f) [KRT_VM_##E] = contract_##f,
static const loop_fn contract_loops[KRT_VM_COUNT] = {FUNCS(CONTRACT_ENTRY)};

/* ---- references and bounds ----------------------------------------------- */

static double ref_sigmoid(double x) { return 1 / (1 + exp(-x)); }
static double ref_gelu_erf(double x) { return 0.5 * x * erfc(-x * 0.70710678118654752440); }
static double ref_gelu_tanh(double x)
{
    double u = 0.79788456080286535588 * (x + 0.044715 * x * x * x);
    return x / (1 + exp(-2 * u));   /* 0.5 x (1 + tanh u), without the cancellation */
}

typedef struct func {
    krt_vmath_op op;
    const char *name;
    double (*ref)(double);
    double ulps;       /* bound in ulp of the reference */
    double abs_x;      /* plus abs_x * |x| absolute (GELU: the rounding of 1 + erf) */
} func;

static const func funcs[] = {
    {KRT_VM_EXP, "exp", exp, 1.5, 0},
    {KRT_VM_ERF, "erf", erf, 1.5, 0},
    {KRT_VM_TANH, "tanh", tanh, 1.5, 0},
    {KRT_VM_SIGMOID, "sigmoid", ref_sigmoid, 2.5, 0},
    {KRT_VM_GELU_ERF, "gelu_erf", ref_gelu_erf, 2.5, 0x1p-24},
    {KRT_VM_GELU_TANH, "gelu_tanh", ref_gelu_tanh, 2.5, 0x1p-24},
};
enum { N_FUNCS = sizeof funcs / sizeof funcs[0] };

/* The float ulp at v (v finite). */
static double ulp_at(double v)
{
    v = fabs(v);
    if (v < FLT_MIN)
        return 0x1p-149;
    if (v >= FLT_MAX)
        return ldexp(1.0, 104);
    int e;
    frexp(v, &e);   /* v = m 2^e, m in [0.5, 1) */
    return ldexp(1.0, e - 24);
}

/* The error of y for input x in ulps (0 when both are NaN or the same
 * infinity; +inf when one is NaN and the other not). A reference beyond
 * FLT_MAX rounds to inf: y may be inf or FLT_MAX (within one ulp). */
static double ulp_error(const func *f, float x, float y, double ref)
{
    if (isnan(ref) || isnan(y))
        return isnan(ref) && isnan(y) ? 0 : INFINITY;
    if (fabs(ref) > FLT_MAX || isinf(y)) {
        double r = (double)(float)ref;   /* rounds to +-inf beyond the edge */
        return y == r || (isinf(r) && fabsf(y) == FLT_MAX) ? 0 : INFINITY;
    }
    double err = fabs((double)y - ref) - f->abs_x * fabs((double)x);
    return err <= 0 ? 0 : err / ulp_at(ref);
}

/* ---- the inputs ---------------------------------------------------------------- */

enum { STRIDE = 257, BATCH = 4096 };

typedef struct worst {
    double err;
    float x, y;
    double ref;
    long long count;
} worst;

/* Runs f over inputs xs[0..n) with loop (NULL: krt_vmath_f32), updating w. */
static void check_batch(const func *f, loop_fn loop, const float *xs, int64_t n, worst *w)
{
    float ys[BATCH];
    if (loop)
        loop(xs, ys, n);
    else
        krt_vmath_f32(f->op, xs, ys, n);
    for (int64_t i = 0; i < n; i++) {
        double ref = f->ref((double)xs[i]);
        double e = ulp_error(f, xs[i], ys[i], ref);
        w->count++;
        if (e > w->err || (isinf(e) && !isinf(w->err)))
            *w = (worst){e, xs[i], ys[i], ref, w->count};
    }
}

/* Every STRIDE-th bit pattern, every float of the branch ranges, specials. */
static void sweep(const func *f, loop_fn loop, worst *w)
{
    float xs[BATCH];
    int64_t n = 0;
#define PUSH(v)                                    \
    do {                                           \
        xs[n++] = (v);                             \
        if (n == BATCH) {                          \
            check_batch(f, loop, xs, n, w);        \
            n = 0;                                 \
        }                                          \
    } while (0)
    for (uint64_t b = 0; b <= 0xffffffffu; b += STRIDE) {
        uint32_t u = (uint32_t)b;
        float v;
        memcpy(&v, &u, 4);
        PUSH(v);
    }
    /* Dense where the methods switch: erf / GELU at 0.92 and 4, tanh at
     * 0.625, exp near overflow and in its subnormal range. */
    static const float ranges[][2] = {
        {0.85f, 1.0f}, {3.8f, 4.2f}, {0.6f, 0.65f}, {88.0f, 89.0f}, {-104.0f, -86.0f},
        {1.25f, 1.35f}, {-6.0f, -5.5f},
    };
    for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++)
        for (float v = ranges[r][0]; v <= ranges[r][1]; v = nextafterf(v, INFINITY)) {
            PUSH(v);
            PUSH(-v);
        }
    static const float specials[] = {
        0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, FLT_MIN, -FLT_MIN, 0x1p-149f, -0x1p-149f,
        FLT_MAX, -FLT_MAX, 88.72283935546875f, 88.7228470f, -103.972084f, -87.33654f, 1.0f, -1.0f,
    };
    for (size_t s = 0; s < sizeof specials / sizeof specials[0]; s++)
        PUSH(specials[s]);
    if (n)
        check_batch(f, loop, xs, n, w);
#undef PUSH
}

static void report_and_check(const char *isa, const func *f, const worst *w)
{
    printf("\n    %-9s %-10s max %.3f ulp (bound %.1f) at x = %a: got %a, want %.17g",
           isa, f->name, w->err, f->ulps, (double)w->x, (double)w->y, w->ref);
    CU_ASSERT(w->err <= f->ulps);
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_every_isa(void)
{
    const char *isa;
    for (int i = 0; (isa = krt_vmath_isa(i)) != NULL; i++) {
        CU_ASSERT_FATAL(krt_vmath_use_isa(isa));
        for (int k = 0; k < N_FUNCS; k++) {
            worst w = {0};
            sweep(&funcs[k], NULL, &w);
            report_and_check(isa, &funcs[k], &w);
        }
    }
    CU_ASSERT(krt_vmath_use_isa(NULL));
    CU_ASSERT(!krt_vmath_use_isa("no-such-isa"));
}

static void test_contracted(void)
{
    if (!CONTRACT_RUNS())
        return;
    for (int k = 0; k < N_FUNCS; k++) {
        worst w = {0};
        sweep(&funcs[k], contract_loops[funcs[k].op], &w);
        report_and_check("contract", &funcs[k], &w);
    }
}

/* Exact values the functions must give (not within a bound: equal). */
static void test_special_values(void)
{
    static const struct {
        krt_vmath_op op;
        float x, want;
    } cases[] = {
        {KRT_VM_EXP, 0.0f, 1.0f},       {KRT_VM_EXP, -0.0f, 1.0f},
        {KRT_VM_EXP, INFINITY, INFINITY}, {KRT_VM_EXP, -INFINITY, 0.0f},
        {KRT_VM_EXP, 100.0f, INFINITY}, {KRT_VM_EXP, -110.0f, 0.0f},
        {KRT_VM_ERF, INFINITY, 1.0f},   {KRT_VM_ERF, -INFINITY, -1.0f},
        {KRT_VM_ERF, -0.0f, -0.0f},     {KRT_VM_ERF, 5.0f, 1.0f},
        {KRT_VM_TANH, INFINITY, 1.0f},  {KRT_VM_TANH, -INFINITY, -1.0f},
        {KRT_VM_TANH, -0.0f, -0.0f},    {KRT_VM_SIGMOID, INFINITY, 1.0f},
        {KRT_VM_SIGMOID, -INFINITY, 0.0f}, {KRT_VM_SIGMOID, 0.0f, 0.5f},
        {KRT_VM_GELU_ERF, INFINITY, INFINITY}, {KRT_VM_GELU_ERF, -0.0f, -0.0f},
        {KRT_VM_GELU_TANH, INFINITY, INFINITY}, {KRT_VM_GELU_TANH, 0.0f, 0.0f},
    };
    const char *isa;
    for (int i = 0; (isa = krt_vmath_isa(i)) != NULL; i++) {
        krt_vmath_use_isa(isa);
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            float y;
            krt_vmath_f32(cases[c].op, &cases[c].x, &y, 1);
            int ok = memcmp(&y, &cases[c].want, 4) == 0;
            if (!ok)
                fprintf(stderr, "\n  %s op %d: f(%a) = %a, want %a", isa, (int)cases[c].op,
                        (double)cases[c].x, (double)y, (double)cases[c].want);
            CU_ASSERT(ok);
        }
        float nan = NAN, y = 0;
        for (int op = 0; op < KRT_VM_COUNT; op++) {
            krt_vmath_f32((krt_vmath_op)op, &nan, &y, 1);
            CU_ASSERT(isnan(y));
        }
    }
    krt_vmath_use_isa(NULL);
}

/* An element's result does not depend on its position or on the array's
 * length (the tail runs as a padded vector). */
static void test_position_independent(void)
{
    enum { N = 203 };
    float x[N], whole[N], part[N];
    for (int i = 0; i < N; i++)
        x[i] = (float)(i - 100) * 0.0731f;
    for (int op = 0; op < KRT_VM_COUNT; op++) {
        krt_vmath_f32((krt_vmath_op)op, x, whole, N);
        for (int i = 0; i < N; i += 37)
            krt_vmath_f32((krt_vmath_op)op, x + i, part + i, i + 37 < N ? 37 : N - i);
        CU_ASSERT(memcmp(whole, part, sizeof whole) == 0);
    }
}

static CU_TestInfo tests[] = {
    {"ulp bounds, every ISA this CPU runs", test_every_isa},
    {"ulp bounds with FMA contraction", test_contracted},
    {"special values exactly", test_special_values},
    {"position and length independent", test_position_independent},
    CU_TEST_INFO_NULL,
};
static CU_SuiteInfo suites[] = {
    {"vmath", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
