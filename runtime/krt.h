/* krt.h — kiln runtime: the common definitions every kernel family uses.
 *
 * The runtime is the single source of each operator's arithmetic: the
 * reference interpreter calls these kernels natively, the C backend emits
 * calls to them, the LLVM backend links them as bitcode and inlines them.
 * So kernels are plain C11 over flat buffers with explicit shapes and
 * strides: no compiler (kiln_*) types, no allocation inside (scratch is
 * passed in, its size given by a *_scratch_size function), no globals.
 *
 * Families (one header + one source each): krt_elementwise, krt_reduce,
 * krt_linalg (matmul/gemm/conv/pool/rnn/resize), krt_movement (data
 * movement and indexing), krt_npy (.npy files).
 *
 * Kernels that can meet bad values (indices out of range...) return
 * KRT_OK or a KRT_E* code; the caller turns that into a message naming
 * the node. Kernels that cannot fail return void.
 */
#ifndef KRT_H
#define KRT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define KRT_MAX_RANK 8

typedef enum krt_dtype {
#define KRT_DTYPE(e, text, size, ctype) KRT_##e,
#include "runtime/krt_dtypes.def"
#undef KRT_DTYPE
    KRT_DTYPE_COUNT
} krt_dtype;

typedef enum krt_status {
    KRT_OK = 0,
    KRT_EINDEX,   /* an index input is out of range */
    KRT_EVALUE,   /* a value makes the operation impossible (e.g. bad reshape) */
    KRT_EDTYPE,   /* the kernel has no variant for this dtype */
} krt_status;

size_t krt_dtype_size(krt_dtype dt);
const char *krt_dtype_name(krt_dtype dt);

/* ---- element access for scalars and index inputs of any dtype (krt_common.c) */

/* Element k as int64 (floats truncated toward zero, saturated; NaN -> 0). */
int64_t krt_load_i64(krt_dtype dt, const void *p, int64_t k);
double krt_load_f64(krt_dtype dt, const void *p, int64_t k);
/* Store v as element k (ints truncated and saturated, bool as v != 0). */
void krt_store_f64(krt_dtype dt, void *p, int64_t k, double v);
/* Store an integer exactly where the dtype can hold it (i32 wraps). */
void krt_store_i64(krt_dtype dt, void *p, int64_t k, int64_t v);

/* ---- half-precision conversions (round to nearest even) --------------- */

static inline float krt_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);          /* inf / nan */
    } else if (exp == 0) {
        if (man == 0) {
            bits = sign;                                    /* +-0 */
        } else {                                            /* subnormal */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline uint16_t krt_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t exp = (x >> 23) & 0xff, man = x & 0x7fffff;
    if (exp == 0xff)                                        /* inf / nan */
        return (uint16_t)(sign | 0x7c00 | (man ? 0x200 | (man >> 13) : 0));
    int e = (int)exp - 127 + 15;
    if (e >= 0x1f)
        return (uint16_t)(sign | 0x7c00);                   /* overflow -> inf */
    if (e <= 0) {                                           /* subnormal or zero */
        if (e < -10)
            return (uint16_t)sign;
        man |= 0x800000;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t half = 1u << (shift - 1);
        uint32_t r = man >> shift, rem = man & ((1u << shift) - 1);
        if (rem > half || (rem == half && (r & 1)))
            r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = (uint32_t)e << 10 | (man >> 13), rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (r & 1)))
        r++;                                                /* may carry into exp: fine */
    return (uint16_t)(sign | r);
}

static inline float krt_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline uint16_t krt_f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000)
        return (uint16_t)((x >> 16) | 0x40);                /* quiet nan */
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

/* Strides (in elements) of a dense C-order tensor: strides[rank-1] = 1. */
static inline void krt_strides(int rank, const int64_t *dims, int64_t *strides)
{
    int64_t s = 1;
    for (int i = rank - 1; i >= 0; i--) {
        strides[i] = s;
        s *= dims[i];
    }
}

static inline int64_t krt_numel(int rank, const int64_t *dims)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= dims[i];
    return n;
}

#endif /* KRT_H */
