/* krt_elementwise_cast.c — kernels `cast` (between every pair of dtypes),
 * `quantize_linear`, `dequantize_linear` and `dynamic_quantize_linear`.
 *
 * Cast loads each element into its natural C type (f16/bf16 as float,
 * bool as 0/1) and stores it with a conversion chosen by _Generic on that
 * type: float -> int truncates and saturates (C leaves it undefined), int
 * -> int wraps, f64 -> f16/bf16 goes through a round-to-odd f32 so that the
 * result is rounded once (a plain f64 -> f32 -> f16 chain can round twice
 * and miss the nearest f16). One loop per (from, to) pair, from a table.
 */
#define KRT_ELEMENTWISE_SOURCE
#include "runtime/krt_elementwise.h"

#include <math.h>

/* ---- conversions used by the stores ---------------------------------------- */

/* d rounded to f32 with round-to-odd: truncate, then set the last bit if
 * anything was lost. Rounding that to fewer than 23 bits is exact RNE. */
static float f64_to_f32_odd(double d)
{
    if (d != d)
        return (float)d;
    float f = (float)d;
    if (fabs((double)f) > fabs(d))
        f = nextafterf(f, 0.0f);
    if ((double)f != d) {
        uint32_t bits;
        memcpy(&bits, &f, 4);
        bits |= 1;
        memcpy(&f, &bits, 4);
    }
    return f;
}

static uint16_t f64_to_f16(double d) { return krt_f32_to_f16(f64_to_f32_odd(d)); }
static uint16_t f64_to_bf16(double d) { return krt_f32_to_bf16(f64_to_f32_odd(d)); }

/* Stores: v is float, double, an integer type or (bool) uint8_t. */
#define TO_FLOAT_(v, F32FN, F64FN) _Generic((v), float: F32FN, default: F64FN)(v)
#define TO_INT_(v, T, F2I) _Generic((v), float: F2I(v), double: F2I(v), default: (T)(v))
#define ST_f32(v) ((float)(v))
#define ST_f64(v) ((double)(v))
#define ST_f16(v) TO_FLOAT_(v, krt_f32_to_f16, f64_to_f16)
#define ST_bf16(v) TO_FLOAT_(v, krt_f32_to_bf16, f64_to_bf16)
#define ST_i8(v) TO_INT_(v, int8_t, krt_f2i8)
#define ST_i16(v) TO_INT_(v, int16_t, krt_f2i16)
#define ST_i32(v) TO_INT_(v, int32_t, krt_f2i32)
#define ST_i64(v) TO_INT_(v, int64_t, krt_f2i64)
#define ST_u8(v) TO_INT_(v, uint8_t, krt_f2u8)
#define ST_u16(v) TO_INT_(v, uint16_t, krt_f2u16)
#define ST_u32(v) TO_INT_(v, uint32_t, krt_f2u32)
#define ST_u64(v) TO_INT_(v, uint64_t, krt_f2u64)
#define ST_bool(v) ((uint8_t)((v) != 0))

#define LD_SAME(v) (v)
#define LD_BOOL(v) ((uint8_t)((v) != 0))

/* Targets: X(source..., suffix, ENUM, storage type). */
#define CAST_TARGETS(X, ...)                                                  \
    X(__VA_ARGS__, f32, F32, float) X(__VA_ARGS__, f64, F64, double)          \
    X(__VA_ARGS__, f16, F16, uint16_t) X(__VA_ARGS__, bf16, BF16, uint16_t)   \
    X(__VA_ARGS__, i8, I8, int8_t) X(__VA_ARGS__, i16, I16, int16_t)          \
    X(__VA_ARGS__, i32, I32, int32_t) X(__VA_ARGS__, i64, I64, int64_t)       \
    X(__VA_ARGS__, u8, U8, uint8_t) X(__VA_ARGS__, u16, U16, uint16_t)        \
    X(__VA_ARGS__, u32, U32, uint32_t) X(__VA_ARGS__, u64, U64, uint64_t)     \
    X(__VA_ARGS__, bool, BOOL, uint8_t)

/* Sources: X(suffix, ENUM, storage type, load). A second list, because a
 * macro cannot expand itself. */
#define CAST_SOURCES(X)                                                       \
    X(f32, F32, float, LD_SAME) X(f64, F64, double, LD_SAME)                  \
    X(f16, F16, uint16_t, krt_f16_to_f32) X(bf16, BF16, uint16_t, krt_bf16_to_f32) \
    X(i8, I8, int8_t, LD_SAME) X(i16, I16, int16_t, LD_SAME)                  \
    X(i32, I32, int32_t, LD_SAME) X(i64, I64, int64_t, LD_SAME)               \
    X(u8, U8, uint8_t, LD_SAME) X(u16, U16, uint16_t, LD_SAME)                \
    X(u32, U32, uint32_t, LD_SAME) X(u64, U64, uint64_t, LD_SAME)             \
    X(bool, BOOL, uint8_t, LD_BOOL)

typedef void (*cast_fn)(const void *x, void *y, int64_t n);

#define DEF_CAST(fs, FD, FT, FL, ts, TD, TT)                             \
    static void cast_##fs##_##ts(const void *xv, void *yv, int64_t n)   \
    {                                                                    \
        const FT *x = xv;                                                \
        TT *y = yv;                                                      \
        for (int64_t i = 0; i < n; i++)                                  \
            y[i] = ST_##ts(FL(x[i]));                                    \
    }
#define CAST_ENTRY(fs, FD, FT, FL, ts, TD, TT) [KRT_##FD][KRT_##TD] = cast_##fs##_##ts,
#define DEF_CASTS_FROM(fs, FD, FT, FL) CAST_TARGETS(DEF_CAST, fs, FD, FT, FL)
#define CAST_ENTRIES_FROM(fs, FD, FT, FL) CAST_TARGETS(CAST_ENTRY, fs, FD, FT, FL)
CAST_SOURCES(DEF_CASTS_FROM)

static const cast_fn cast_table[KRT_DTYPE_COUNT][KRT_DTYPE_COUNT] = {
    CAST_SOURCES(CAST_ENTRIES_FROM)
};

static int64_t cast_units(const void *desc)
{
    return krt_ew_units(((const krt_cast_desc *)desc)->n);
}

static krt_status cast_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                           krt_error *err)
{
    const krt_cast_desc *d = desc;
    int64_t lo, hi;
    if ((unsigned)d->from >= KRT_DTYPE_COUNT || (unsigned)d->to >= KRT_DTYPE_COUNT ||
        !cast_table[d->from][d->to])
        return KRT_EDTYPE;
    krt_ew_slice(r, d->n, &lo, &hi);
    if (hi > lo)
        cast_table[d->from][d->to]((const char *)ops[0] + lo * (int64_t)krt_dtype_size(d->from),
                                   (char *)ops[1] + lo * (int64_t)krt_dtype_size(d->to), hi - lo);
    return KRT_OK;
}

const krt_kernel_info krt_kernel_cast = {
    "cast", cast_run, NULL, cast_units, sizeof(krt_cast_desc),
};

/* ---- QuantizeLinear / DequantizeLinear -------------------------------------- */

typedef void (*quant_fn)(const krt_qlinear_desc *ax, const void *x, const float *scale,
                         const void *zp, void *y);

/* One (outer, channel) block: `inner` elements sharing a scale and zero point. */
#define DEF_QUANT(name, TX, TY, F2I)                                                 \
    static void name(const krt_qlinear_desc *ax, const void *xv, const float *scale,   \
                     const void *zpv, void *yv)                                      \
    {                                                                                \
        const TX *x = xv;                                                            \
        const TY *zp = zpv;                                                          \
        TY *y = yv;                                                                  \
        for (int64_t o = 0; o < ax->outer; o++)                                      \
            for (int64_t c = 0; c < ax->channels; c++) {                             \
                int64_t base = (o * ax->channels + c) * ax->inner;                   \
                float s = scale[c], z = zp ? (float)zp[c] : 0.0f;                    \
                for (int64_t k = base; k < base + ax->inner; k++) {                  \
                    float q = nearbyintf((float)x[k] / s) + z;                       \
                    y[k] = q == q ? F2I(q) : (TY)z;                                  \
                }                                                                    \
            }                                                                        \
    }
DEF_QUANT(quant_f32_u8, float, uint8_t, krt_f2u8)
DEF_QUANT(quant_f32_i8, float, int8_t, krt_f2i8)
DEF_QUANT(quant_i32_u8, int32_t, uint8_t, krt_f2u8)
DEF_QUANT(quant_i32_i8, int32_t, int8_t, krt_f2i8)

static const quant_fn quant_table[KRT_DTYPE_COUNT][KRT_DTYPE_COUNT] = {
    [KRT_F32][KRT_U8] = quant_f32_u8, [KRT_F32][KRT_I8] = quant_f32_i8,
    [KRT_I32][KRT_U8] = quant_i32_u8, [KRT_I32][KRT_I8] = quant_i32_i8,
};

static krt_status quantize_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                               krt_error *err)
{
    const krt_qlinear_desc *d = desc;
    if ((unsigned)d->x_dt >= KRT_DTYPE_COUNT || (unsigned)d->y_dt >= KRT_DTYPE_COUNT ||
        !quant_table[d->x_dt][d->y_dt])
        return KRT_EDTYPE;
    if (r.end > r.begin)
        quant_table[d->x_dt][d->y_dt](d, ops[0], ops[1], ops[2], ops[3]);
    return KRT_OK;
}

const krt_kernel_info krt_kernel_quantize_linear = {
    "quantize_linear", quantize_run, NULL, NULL, sizeof(krt_qlinear_desc),
};

typedef void (*dequant_fn)(const krt_qlinear_desc *ax, const void *x, const float *scale,
                           const void *zp, float *y);

#define DEF_DEQUANT(name, TX)                                                        \
    static void name(const krt_qlinear_desc *ax, const void *xv, const float *scale,   \
                     const void *zpv, float *y)                                      \
    {                                                                                \
        const TX *x = xv, *zp = zpv;                                                 \
        for (int64_t o = 0; o < ax->outer; o++)                                      \
            for (int64_t c = 0; c < ax->channels; c++) {                             \
                int64_t base = (o * ax->channels + c) * ax->inner;                   \
                int64_t z = zp ? zp[c] : 0;                                          \
                for (int64_t k = base; k < base + ax->inner; k++)                    \
                    y[k] = (float)((int64_t)x[k] - z) * scale[c];                    \
            }                                                                        \
    }
DEF_DEQUANT(dequant_u8, uint8_t)
DEF_DEQUANT(dequant_i8, int8_t)
DEF_DEQUANT(dequant_i32, int32_t)

static const dequant_fn dequant_table[KRT_DTYPE_COUNT] = {
    [KRT_U8] = dequant_u8, [KRT_I8] = dequant_i8, [KRT_I32] = dequant_i32,
};

static krt_status dequantize_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                                 krt_error *err)
{
    const krt_qlinear_desc *d = desc;
    if ((unsigned)d->x_dt >= KRT_DTYPE_COUNT || !dequant_table[d->x_dt] || d->y_dt != KRT_F32)
        return KRT_EDTYPE;
    if (r.end > r.begin)
        dequant_table[d->x_dt](d, ops[0], ops[1], ops[2], ops[3]);
    return KRT_OK;
}

const krt_kernel_info krt_kernel_dequantize_linear = {
    "dequantize_linear", dequantize_run, NULL, NULL, sizeof(krt_qlinear_desc),
};

/* ---- DynamicQuantizeLinear ------------------------------------------------- */

/* Absent outputs (NULL) are not written; the scale and zero point are
 * computed anyway, y needs them. */
static krt_status dynamic_quantize_run(const void *desc, void *const *ops, void *scratch,
                                       krt_span r, krt_error *err)
{
    const krt_dynamic_quantize_desc *d = desc;
    const float *x = ops[0];
    uint8_t *y = ops[1];
    float lo = 0.0f, hi = 0.0f;  /* the range always includes 0 */
    if (r.end <= r.begin)
        return KRT_OK;
    for (int64_t i = 0; i < d->n; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    /* As the ONNX reference: the range in double, the scale rounded to f32,
     * the zero point from double, each element in f32. */
    float s = (float)(((double)hi - (double)lo) / 255.0);
    uint8_t zp = s > 0 ? krt_f2u8(nearbyint(-(double)lo / (double)s)) : 0;
    for (int64_t i = 0; y && i < d->n; i++)
        y[i] = s > 0 ? krt_f2u8(nearbyintf(x[i] / s) + (float)zp) : 0;
    if (ops[2])
        *(float *)ops[2] = s;
    if (ops[3])
        *(uint8_t *)ops[3] = zp;
    return KRT_OK;
}

const krt_kernel_info krt_kernel_dynamic_quantize_linear = {
    "dynamic_quantize_linear", dynamic_quantize_run, NULL, NULL,
    sizeof(krt_dynamic_quantize_desc),
};
