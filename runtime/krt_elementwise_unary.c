/* krt_elementwise_unary.c — kernels `unary` (every unary op) and `clip`.
 *
 * Each op is written once, as an expression on one element `x` of the
 * compute type `real` (float for f32/f16/bf16, double for f64), in the
 * FLOAT_OPS list. Macros turn each (op, dtype) pair into a plain loop and
 * fill the dispatch table krt_unary reads; the integer variants that the
 * ONNX spec allows are listed separately. f16/bf16 go through f32: load,
 * compute, round back (what every ONNX runtime does for these ops).
 * <tgmath.h> picks expf for float and exp for double from the same text.
 * The f32 Exp, Erf, Tanh, Sigmoid and Gelu go to the vector math instead
 * (krt_vmath_f32: runtime/krt_vmath.h, within 2 ulp); the loops here
 * serve the other dtypes.
 */
#define KRT_ELEMENTWISE_SOURCE
#include "runtime/krt_elementwise.h"

#include <math.h>
#include <stdbool.h>
#include <tgmath.h>

typedef void (*unary_fn)(const void *x, void *y, int64_t n, const krt_unary_params *p);

/* Load/store of one element in its compute type. */
#define LD_SAME(v) (v)
#define ST_SAME(v) (v)

/* One loop: y[i] = STORE(EXPR) with x = LOAD(xs[i]) of type C. */
#define DEF_LOOP(name, TI, TO, C, LOAD, STORE, EXPR)                          \
    static void name(const void *xv, void *yv, int64_t n, const krt_unary_params *p) \
    {                                                                         \
        typedef C real;                                                       \
        const TI *xs = xv;                                                    \
        TO *ys = yv;                                                          \
        for (int64_t i = 0; i < n; i++) {                                     \
            real x = LOAD(xs[i]);                                             \
            ys[i] = STORE(EXPR);                                              \
        }                                                                     \
    }

#define K(v) ((real)(v))

/* ---- the float ops: one expression each ---------------------------------- */

#define SIGMOID_(x) ((x) >= 0 ? 1 / (1 + exp(-(x))) : exp(x) / (1 + exp(x)))
#define CLAMP01_(v) ((v) < 0 ? K(0) : (v) > 1 ? K(1) : (v))
/* Gelu (Hendrycks & Gimpel): x * Phi(x) exactly, or the tanh form
 * 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), as ONNX Gelu-20 defines. */
#define GELU_ERF_(x) (K(0.5) * (x) * (1 + erf((x) * K(0.70710678118654752440))))
#define GELU_TANH_(x) \
    (K(0.5) * (x) * (1 + tanh(K(0.79788456080286535588) * ((x) + K(0.044715) * (x) * (x) * (x)))))

#define FLOAT_OPS(X)                                                                  \
    X(ABS, fabs(x))                                                                   \
    X(ACOS, acos(x))                                                                  \
    X(ACOSH, acosh(x))                                                                \
    X(ASIN, asin(x))                                                                  \
    X(ASINH, asinh(x))                                                                \
    X(ATAN, atan(x))                                                                  \
    X(ATANH, atanh(x))                                                                \
    X(CEIL, ceil(x))                                                                  \
    X(COS, cos(x))                                                                    \
    X(COSH, cosh(x))                                                                  \
    X(ERF, erf(x))                                                                    \
    X(EXP, exp(x))                                                                    \
    X(FLOOR, floor(x))                                                                \
    X(LOG, log(x))                                                                    \
    X(NEG, -x)                                                                        \
    X(RECIPROCAL, 1 / x)                                                              \
    X(RELU, x < 0 ? K(0) : x)                                                         \
    X(ROUND, nearbyint(x)) /* half to even in the default rounding mode */            \
    X(SIGMOID, SIGMOID_(x))                                                           \
    X(SIGN, x > 0 ? K(1) : x < 0 ? K(-1) : x)                                         \
    X(SIN, sin(x))                                                                    \
    X(SINH, sinh(x))                                                                  \
    X(SOFTPLUS, x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)))                           \
    X(SOFTSIGN, x / (1 + fabs(x)))                                                    \
    X(SQRT, sqrt(x))                                                                  \
    X(TAN, tan(x))                                                                    \
    X(TANH, tanh(x))                                                                  \
    X(HARDSWISH, x * CLAMP01_(K(1.0 / 6) * x + K(0.5)))                              \
    X(ELU, x < 0 ? K(p->alpha) * expm1(x) : x)                                        \
    X(SELU, K(p->gamma) * (x > 0 ? x : K(p->alpha) * expm1(x)))                       \
    X(CELU, (x > 0 ? x : 0) + (x < 0 ? K(p->alpha) * expm1(x / K(p->alpha)) : 0))     \
    X(LEAKYRELU, x < 0 ? K(p->alpha) * x : x)                                         \
    X(HARDSIGMOID, CLAMP01_(K(p->alpha) * x + K(p->beta)))                            \
    X(THRESHOLDEDRELU, x > K(p->alpha) ? x : K(0))                                    \
    X(SHRINK, x < -K(p->lambd) ? x + K(p->bias) : x > K(p->lambd) ? x - K(p->bias) : K(0)) \
    X(GELU, p->approximate ? GELU_TANH_(x) : GELU_ERF_(x))

/* Float -> bool classifiers. */
#define ISINF_(x) (isinf(x) && ((x) > 0 ? p->detect_positive : p->detect_negative))
#define CLASSIFY_OPS(X) X(ISNAN, isnan(x) != 0) X(ISINF, ISINF_(x))

/* The four float dtypes: (suffix, storage type, compute type, load, store). */
#define FLOAT_TYPES(X, OP, EXPR, TO_BOOL)                                              \
    X(OP, EXPR, f32, F32, float, float, LD_SAME, ST_SAME, TO_BOOL)                     \
    X(OP, EXPR, f64, F64, double, double, LD_SAME, ST_SAME, TO_BOOL)                   \
    X(OP, EXPR, f16, F16, uint16_t, float, krt_f16_to_f32, krt_f32_to_f16, TO_BOOL)    \
    X(OP, EXPR, bf16, BF16, uint16_t, float, krt_bf16_to_f32, krt_f32_to_bf16, TO_BOOL)

#define LOOP_SAME(OP, EXPR, sfx, DT, T, C, LD, ST, B) DEF_LOOP(OP##_##sfx, T, T, C, LD, ST, EXPR)
#define LOOP_BOOL(OP, EXPR, sfx, DT, T, C, LD, ST, B) DEF_LOOP(OP##_##sfx, T, uint8_t, C, LD, ST_SAME, EXPR)
#define DEF_FLOAT_OP(OP, EXPR) FLOAT_TYPES(LOOP_SAME, OP, EXPR, 0)
#define DEF_CLASSIFY_OP(OP, EXPR) FLOAT_TYPES(LOOP_BOOL, OP, EXPR, 1)
FLOAT_OPS(DEF_FLOAT_OP)
CLASSIFY_OPS(DEF_CLASSIFY_OP)

/* ---- the integer and bool variants ----------------------------------------- */

/* (suffix, ENUM, type, saturating conversion from double) */
#define SINT_TYPES(X) \
    X(i8, I8, int8_t, krt_f2i8) X(i16, I16, int16_t, krt_f2i16) \
    X(i32, I32, int32_t, krt_f2i32) X(i64, I64, int64_t, krt_f2i64)
#define UINT_TYPES(X) \
    X(u8, U8, uint8_t, krt_f2u8) X(u16, U16, uint16_t, krt_f2u16) \
    X(u32, U32, uint32_t, krt_f2u32) X(u64, U64, uint64_t, krt_f2u64)

/* Negation through uint64_t: wraps (INT_MIN stays INT_MIN) instead of UB. */
#define WRAP_NEG_(T, x) ((T)(0u - (uint64_t)(x)))
#define SHRINK_INT_(x) \
    ((x) < -(double)p->lambd ? (x) + p->bias : (x) > (double)p->lambd ? (x) - p->bias : 0.0)

#define DEF_SINT(sfx, DT, T, F2I)                                                  \
    DEF_LOOP(ABS_##sfx, T, T, T, LD_SAME, ST_SAME, x < 0 ? WRAP_NEG_(T, x) : x)    \
    DEF_LOOP(NEG_##sfx, T, T, T, LD_SAME, ST_SAME, WRAP_NEG_(T, x))                \
    DEF_LOOP(SIGN_##sfx, T, T, T, LD_SAME, ST_SAME, (T)((x > 0) - (x < 0)))        \
    DEF_LOOP(RELU_##sfx, T, T, T, LD_SAME, ST_SAME, x < 0 ? (T)0 : x)              \
    DEF_LOOP(SHRINK_##sfx, T, T, double, LD_SAME, F2I, SHRINK_INT_(x))
#define DEF_UINT(sfx, DT, T, F2I)                                                  \
    DEF_LOOP(ABS_##sfx, T, T, T, LD_SAME, ST_SAME, x)                              \
    DEF_LOOP(SIGN_##sfx, T, T, T, LD_SAME, ST_SAME, (T)(x != 0))                   \
    DEF_LOOP(SHRINK_##sfx, T, T, double, LD_SAME, F2I, SHRINK_INT_(x))
SINT_TYPES(DEF_SINT)
UINT_TYPES(DEF_UINT)
DEF_LOOP(NOT_bool, uint8_t, uint8_t, uint8_t, LD_SAME, ST_SAME, (uint8_t)!x)

/* ---- dispatch table ---------------------------------------------------------- */

#define ENTRY(OP, sfx, DT) [KRT_UN_##OP][KRT_##DT] = OP##_##sfx,
#define FLOAT_ENTRIES(OP, EXPR) \
    ENTRY(OP, f32, F32) ENTRY(OP, f64, F64) ENTRY(OP, f16, F16) ENTRY(OP, bf16, BF16)
#define SINT_ENTRIES(sfx, DT, T, F2I) \
    ENTRY(ABS, sfx, DT) ENTRY(NEG, sfx, DT) ENTRY(SIGN, sfx, DT) ENTRY(RELU, sfx, DT) ENTRY(SHRINK, sfx, DT)
#define UINT_ENTRIES(sfx, DT, T, F2I) ENTRY(ABS, sfx, DT) ENTRY(SIGN, sfx, DT) ENTRY(SHRINK, sfx, DT)

static const unary_fn unary_table[KRT_UNARY_COUNT][KRT_DTYPE_COUNT] = {
    FLOAT_OPS(FLOAT_ENTRIES)
    CLASSIFY_OPS(FLOAT_ENTRIES)
    SINT_TYPES(SINT_ENTRIES)
    UINT_TYPES(UINT_ENTRIES)
    [KRT_UN_NOT][KRT_BOOL] = NOT_bool,
};

static unary_fn unary_lookup(krt_unary_op op, krt_dtype dt)
{
    if ((unsigned)op >= KRT_UNARY_COUNT || (unsigned)dt >= KRT_DTYPE_COUNT)
        return NULL;
    return unary_table[op][dt];
}

/* ---- kernel `unary` ----------------------------------------------------------- */

/* The f32 ops the vector math computes: krt_vmath_op + 1 (0: none). Gelu
 * takes the tanh form when p.approximate is set. */
static const uint8_t vmath_ops[KRT_UNARY_COUNT] = {
    [KRT_UN_EXP] = KRT_VM_EXP + 1, [KRT_UN_ERF] = KRT_VM_ERF + 1,
    [KRT_UN_TANH] = KRT_VM_TANH + 1, [KRT_UN_SIGMOID] = KRT_VM_SIGMOID + 1,
    [KRT_UN_GELU] = KRT_VM_GELU_ERF + 1,
};

static int vmath_op(const krt_unary_desc *d)
{
    int v = (unsigned)d->op < KRT_UNARY_COUNT && d->dt == KRT_F32 ? vmath_ops[d->op] - 1 : -1;
    return v == KRT_VM_GELU_ERF && d->p.approximate ? KRT_VM_GELU_TANH : v;
}

static int64_t unary_units(const void *desc)
{
    return krt_ew_units(((const krt_unary_desc *)desc)->n);
}

static krt_status unary_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                            krt_error *err)
{
    const krt_unary_desc *d = desc;
    unary_fn fn = unary_lookup(d->op, d->dt);
    bool classify = d->op == KRT_UN_ISNAN || d->op == KRT_UN_ISINF;
    int64_t lo, hi;
    if (!fn || d->y_dt != (classify ? KRT_BOOL : d->dt))
        return KRT_EDTYPE;
    krt_ew_slice(r, d->n, &lo, &hi);
    if (hi > lo && vmath_op(d) >= 0)
        krt_vmath_f32((krt_vmath_op)vmath_op(d), (const float *)ops[0] + lo, (float *)ops[1] + lo,
                      hi - lo);
    else if (hi > lo)
        fn((const char *)ops[0] + lo * (int64_t)krt_dtype_size(d->dt),
           (char *)ops[1] + lo * (int64_t)krt_dtype_size(d->y_dt), hi - lo, &d->p);
    return KRT_OK;
}

const krt_kernel_info krt_kernel_unary = {
    "unary", unary_run, NULL, unary_units, sizeof(krt_unary_desc),
};

/* ---- Clip ------------------------------------------------------------------- */

typedef void (*clip_fn)(const void *x, void *y, int64_t n, const void *lo, const void *hi);

#define DEF_CLIP(sfx, T, C, LOAD, STORE, LOWEST, HIGHEST)                          \
    static void clip_##sfx(const void *xv, void *yv, int64_t n, const void *lov,   \
                           const void *hiv)                                        \
    {                                                                              \
        const T *xs = xv;                                                          \
        T *ys = yv;                                                                \
        C lo = lov ? LOAD(*(const T *)lov) : (LOWEST);                             \
        C hi = hiv ? LOAD(*(const T *)hiv) : (HIGHEST);                            \
        for (int64_t i = 0; i < n; i++) {                                          \
            C x = LOAD(xs[i]);                                                     \
            C t = x < lo ? lo : x;                                                 \
            ys[i] = STORE(t > hi ? hi : t);                                        \
        }                                                                          \
    }

DEF_CLIP(f32, float, float, LD_SAME, ST_SAME, -INFINITY, INFINITY)
DEF_CLIP(f64, double, double, LD_SAME, ST_SAME, -INFINITY, INFINITY)
DEF_CLIP(f16, uint16_t, float, krt_f16_to_f32, krt_f32_to_f16, -INFINITY, INFINITY)
DEF_CLIP(bf16, uint16_t, float, krt_bf16_to_f32, krt_f32_to_bf16, -INFINITY, INFINITY)
DEF_CLIP(i8, int8_t, int8_t, LD_SAME, ST_SAME, INT8_MIN, INT8_MAX)
DEF_CLIP(i16, int16_t, int16_t, LD_SAME, ST_SAME, INT16_MIN, INT16_MAX)
DEF_CLIP(i32, int32_t, int32_t, LD_SAME, ST_SAME, INT32_MIN, INT32_MAX)
DEF_CLIP(i64, int64_t, int64_t, LD_SAME, ST_SAME, INT64_MIN, INT64_MAX)
DEF_CLIP(u8, uint8_t, uint8_t, LD_SAME, ST_SAME, 0, UINT8_MAX)
DEF_CLIP(u16, uint16_t, uint16_t, LD_SAME, ST_SAME, 0, UINT16_MAX)
DEF_CLIP(u32, uint32_t, uint32_t, LD_SAME, ST_SAME, 0, UINT32_MAX)
DEF_CLIP(u64, uint64_t, uint64_t, LD_SAME, ST_SAME, 0, UINT64_MAX)

static const clip_fn clip_table[KRT_DTYPE_COUNT] = {
    [KRT_F32] = clip_f32, [KRT_F64] = clip_f64, [KRT_F16] = clip_f16, [KRT_BF16] = clip_bf16,
    [KRT_I8] = clip_i8,   [KRT_I16] = clip_i16, [KRT_I32] = clip_i32, [KRT_I64] = clip_i64,
    [KRT_U8] = clip_u8,   [KRT_U16] = clip_u16, [KRT_U32] = clip_u32, [KRT_U64] = clip_u64,
};

/* ---- kernel `clip` -------------------------------------------------------------- */

static int64_t clip_units(const void *desc)
{
    return krt_ew_units(((const krt_clip_desc *)desc)->n);
}

static krt_status clip_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                           krt_error *err)
{
    const krt_clip_desc *d = desc;
    int64_t lo, hi;
    if ((unsigned)d->dt >= KRT_DTYPE_COUNT || !clip_table[d->dt])
        return KRT_EDTYPE;
    krt_ew_slice(r, d->n, &lo, &hi);
    if (hi > lo) {
        int64_t es = (int64_t)krt_dtype_size(d->dt);
        clip_table[d->dt]((const char *)ops[0] + lo * es, (char *)ops[3] + lo * es, hi - lo,
                          ops[1], ops[2]);
    }
    return KRT_OK;
}

const krt_kernel_info krt_kernel_clip = {
    "clip", clip_run, NULL, clip_units, sizeof(krt_clip_desc),
};
