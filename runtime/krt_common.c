/* krt_common.c — dtype facts and element access shared by all kernel
 * families: reading or writing one element of any dtype through a table,
 * for scalars, index inputs and the slow generic paths. */
#include "runtime/krt.h"

static const struct {
    const char *name;
    size_t size;
} dtypes[KRT_DTYPE_COUNT] = {
#define KRT_DTYPE(e, text, size, ctype) [KRT_##e] = {text, size},
#include "runtime/krt_dtypes.def"
#undef KRT_DTYPE
};

size_t krt_dtype_size(krt_dtype dt)
{
    return (unsigned)dt < KRT_DTYPE_COUNT ? dtypes[dt].size : 0;
}

const char *krt_dtype_name(krt_dtype dt)
{
    return (unsigned)dt < KRT_DTYPE_COUNT ? dtypes[dt].name : "?";
}

/* ---- element access ------------------------------------------------------ */

static int64_t sat_i64(double v)
{
    if (v != v)
        return 0;
    if (v >= 9223372036854775807.0)
        return INT64_MAX;
    if (v <= -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)v;
}

static double clampd(double v, double lo, double hi)
{
    if (v != v)
        return 0;
    return v < lo ? lo : v > hi ? hi : v;
}

#define INT_ACCESS(name, T, lo, hi)                                                   \
    static double load_##name(const void *p, int64_t k) { return (double)((const T *)p)[k]; } \
    static int64_t loadi_##name(const void *p, int64_t k) { return (int64_t)((const T *)p)[k]; } \
    static void store_##name(void *p, int64_t k, double v) { ((T *)p)[k] = (T)clampd(v, lo, hi); }
INT_ACCESS(i8, int8_t, -128.0, 127.0)
INT_ACCESS(i16, int16_t, -32768.0, 32767.0)
INT_ACCESS(i32, int32_t, -2147483648.0, 2147483647.0)
INT_ACCESS(u8, uint8_t, 0.0, 255.0)
INT_ACCESS(u16, uint16_t, 0.0, 65535.0)
INT_ACCESS(u32, uint32_t, 0.0, 4294967295.0)
#undef INT_ACCESS

static double load_i64(const void *p, int64_t k) { return (double)((const int64_t *)p)[k]; }
static int64_t loadi_i64(const void *p, int64_t k) { return ((const int64_t *)p)[k]; }
static void store_i64(void *p, int64_t k, double v) { ((int64_t *)p)[k] = sat_i64(v); }
static double load_u64(const void *p, int64_t k) { return (double)((const uint64_t *)p)[k]; }
static int64_t loadi_u64(const void *p, int64_t k) { return (int64_t)((const uint64_t *)p)[k]; }
static void store_u64(void *p, int64_t k, double v)
{
    ((uint64_t *)p)[k] = v >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)clampd(v, 0, 1e300);
}
static double load_bool(const void *p, int64_t k) { return ((const uint8_t *)p)[k] != 0; }
static int64_t loadi_bool(const void *p, int64_t k) { return ((const uint8_t *)p)[k] != 0; }
static void store_bool(void *p, int64_t k, double v) { ((uint8_t *)p)[k] = v != 0; }
static double load_f32(const void *p, int64_t k) { return ((const float *)p)[k]; }
static void store_f32(void *p, int64_t k, double v) { ((float *)p)[k] = (float)v; }
static double load_f64(const void *p, int64_t k) { return ((const double *)p)[k]; }
static void store_f64(void *p, int64_t k, double v) { ((double *)p)[k] = v; }
static double load_f16(const void *p, int64_t k) { return krt_f16_to_f32(((const uint16_t *)p)[k]); }
static void store_f16(void *p, int64_t k, double v) { ((uint16_t *)p)[k] = krt_f32_to_f16((float)v); }
static double load_bf16(const void *p, int64_t k) { return krt_bf16_to_f32(((const uint16_t *)p)[k]); }
static void store_bf16(void *p, int64_t k, double v) { ((uint16_t *)p)[k] = krt_f32_to_bf16((float)v); }

static const struct access {
    double (*load)(const void *p, int64_t k);
    int64_t (*load_int)(const void *p, int64_t k);  /* exact, integer dtypes only */
    void (*store)(void *p, int64_t k, double v);
} access[KRT_DTYPE_COUNT] = {
    [KRT_F32] = {load_f32, NULL, store_f32},    [KRT_F64] = {load_f64, NULL, store_f64},
    [KRT_F16] = {load_f16, NULL, store_f16},    [KRT_BF16] = {load_bf16, NULL, store_bf16},
    [KRT_I8] = {load_i8, loadi_i8, store_i8},   [KRT_I16] = {load_i16, loadi_i16, store_i16},
    [KRT_I32] = {load_i32, loadi_i32, store_i32}, [KRT_I64] = {load_i64, loadi_i64, store_i64},
    [KRT_U8] = {load_u8, loadi_u8, store_u8},   [KRT_U16] = {load_u16, loadi_u16, store_u16},
    [KRT_U32] = {load_u32, loadi_u32, store_u32}, [KRT_U64] = {load_u64, loadi_u64, store_u64},
    [KRT_BOOL] = {load_bool, loadi_bool, store_bool},
};

int64_t krt_load_i64(krt_dtype dt, const void *p, int64_t k)
{
    if ((unsigned)dt >= KRT_DTYPE_COUNT || !access[dt].load)
        return 0;
    return access[dt].load_int ? access[dt].load_int(p, k) : sat_i64(access[dt].load(p, k));
}

double krt_load_f64(krt_dtype dt, const void *p, int64_t k)
{
    return (unsigned)dt < KRT_DTYPE_COUNT && access[dt].load ? access[dt].load(p, k) : 0.0;
}

void krt_store_f64(krt_dtype dt, void *p, int64_t k, double v)
{
    if ((unsigned)dt < KRT_DTYPE_COUNT && access[dt].store)
        access[dt].store(p, k, v);
}

void krt_store_i64(krt_dtype dt, void *p, int64_t k, int64_t v)
{
    switch (dt) {
    case KRT_I64: ((int64_t *)p)[k] = v; break;
    case KRT_I32: ((int32_t *)p)[k] = (int32_t)v; break;
    case KRT_U64: ((uint64_t *)p)[k] = (uint64_t)v; break;
    case KRT_BOOL: ((uint8_t *)p)[k] = v != 0; break;
    default: krt_store_f64(dt, p, k, (double)v); break;
    }
}
