/* krt_elementwise.h — kernels of the elementwise family: unary math and
 * activations, numpy-broadcasting binary and variadic ops, Where, Clip,
 * Cast, and linear (de)quantization.
 *
 * Layout conventions shared by every kernel here:
 *   - Buffers are dense, C order, of the dtype named by the krt_dtype
 *     argument; f16/bf16 are raw 16-bit patterns and are computed in f32.
 *   - Broadcasting kernels take a krt_bcast: the output's dims plus, per
 *     input, its strides (in elements) over those dims, 0 along a broadcast
 *     dimension. The kernels merge dims that are contiguous for every
 *     operand, then run rows with fast paths for the contiguous and scalar
 *     (stride 0) cases, so `x + bias` and `x * 0.5` are plain vector loops.
 *   - Output and input may be the same buffer when the dtypes have the same
 *     size and the input is not broadcast (in-place elementwise).
 *   - Kernels return KRT_EDTYPE for a dtype they have no variant for and
 *     never read or write outside the given sizes.
 *
 * Sources: krt_elementwise_unary.c (unary, Clip), krt_elementwise_binary.c
 * (broadcast layout, binary ops, Pow, Where, Mean), krt_elementwise_cast.c
 * (Cast, QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear).
 */
#ifndef KRT_ELEMENTWISE_H
#define KRT_ELEMENTWISE_H

#include "runtime/krt.h"

/* ===== unary ============================================================ */

/* X-macro of the unary ops: X(ENUM). Each is y[i] = f(x[i]). The output
 * dtype is the input's, except ISNAN and ISINF (float -> bool). */
#define KRT_UNARY_OPS(X)                                                      \
    X(ABS) X(ACOS) X(ACOSH) X(ASIN) X(ASINH) X(ATAN) X(ATANH) X(CEIL) X(COS)  \
    X(COSH) X(ERF) X(EXP) X(FLOOR) X(LOG) X(NEG) X(NOT) X(RECIPROCAL) X(RELU) \
    X(ROUND) X(SIGMOID) X(SIGN) X(SIN) X(SINH) X(SOFTPLUS) X(SOFTSIGN)        \
    X(SQRT) X(TAN) X(TANH) X(ISNAN) X(ISINF) X(HARDSWISH) X(ELU) X(SELU)      \
    X(CELU) X(LEAKYRELU) X(HARDSIGMOID) X(THRESHOLDEDRELU) X(SHRINK)

typedef enum krt_unary_op {
#define KRT_X_(e) KRT_UN_##e,
    KRT_UNARY_OPS(KRT_X_)
#undef KRT_X_
    KRT_UNARY_COUNT
} krt_unary_op;

/* The attributes of the unary ops that have some (ONNX names and meaning;
 * the caller fills in the ONNX defaults for those the node lacks). */
typedef struct krt_unary_params {
    float alpha;          /* Elu Selu Celu LeakyRelu HardSigmoid ThresholdedRelu */
    float beta;           /* HardSigmoid */
    float gamma;          /* Selu */
    float lambd, bias;    /* Shrink */
    int detect_positive;  /* IsInf */
    int detect_negative;  /* IsInf */
} krt_unary_params;

/* y[i] = op(x[i]) for n elements. Float ops: f32 f64 f16 bf16; ABS SIGN:
 * every numeric type; NEG RELU: floats and signed ints; SHRINK: floats and
 * ints (computed in double, truncated back); NOT: bool. p may be NULL for
 * ops without attributes. KRT_EDTYPE for another dtype. */
krt_status krt_unary(krt_unary_op op, krt_dtype dt, const void *x, void *y, int64_t n,
                     const krt_unary_params *p);

/* Clip: y = min(max(x, lo), hi) (numpy's order: hi wins when lo > hi).
 * lo / hi point at one element of dt, or are NULL for "no bound". Every
 * numeric dtype; NaN passes through. */
krt_status krt_clip(krt_dtype dt, const void *x, void *y, int64_t n, const void *lo,
                    const void *hi);

/* ===== broadcasting ======================================================= */

#define KRT_BCAST_MAX_IN 3

typedef struct krt_bcast {
    int rank;                                       /* output rank, 0..KRT_MAX_RANK */
    int n_in;                                       /* inputs added so far */
    int64_t dims[KRT_MAX_RANK];                     /* output dims */
    int64_t strides[KRT_BCAST_MAX_IN][KRT_MAX_RANK];/* per input, in elements */
} krt_bcast;

/* Start a layout for an output of the given dims (rank <= KRT_MAX_RANK). */
void krt_bcast_init(krt_bcast *bc, int rank, const int64_t *dims);
/* Add the next input (dense, C order), aligned to the output's trailing
 * dims. KRT_EVALUE if it does not broadcast to the output shape (a dim
 * that is neither equal nor 1, a higher rank) or if there are already
 * KRT_BCAST_MAX_IN inputs. */
krt_status krt_bcast_add_input(krt_bcast *bc, int rank, const int64_t *dims);
int64_t krt_bcast_numel(const krt_bcast *bc);

/* ===== binary and variadic ================================================ */

/* X-macro of the binary ops: X(ENUM). MOD follows Python's sign rule
 * (result has the divisor's sign), FMOD C's (result has the dividend's
 * sign); ONNX allows only FMOD for floats, kiln has both. Integer Add/Sub/Mul wrap; integer division truncates;
 * a zero integer divisor gives 0 (Div, Mod, FMod). SHL/SHR: unsigned ints,
 * a shift >= the width gives 0. PRELU: y = a < 0 ? a * b : a. MAX/MIN
 * propagate NaN like numpy. The comparisons and AND/OR/XOR output bool. */
#define KRT_BINARY_OPS(X)                                                       \
    X(ADD) X(SUB) X(MUL) X(DIV) X(MOD) X(FMOD) X(MAX) X(MIN) X(PRELU) X(SHL)    \
    X(SHR) X(AND) X(OR) X(XOR) X(EQUAL) X(GREATER) X(GREATER_EQUAL) X(LESS)     \
    X(LESS_EQUAL)

typedef enum krt_binary_op {
#define KRT_X_(e) KRT_BIN_##e,
    KRT_BINARY_OPS(KRT_X_)
#undef KRT_X_
    KRT_BINARY_COUNT
} krt_binary_op;

/* y = op(a, b) over the layout bc (two inputs added: a then b). dt is the
 * inputs' dtype; y is dt, or bool for comparisons and logic ops. y may be a
 * itself when a is not broadcast (how Sum/Max/Min/Mean fold their inputs). */
krt_status krt_binary(krt_binary_op op, krt_dtype dt, const krt_bcast *bc, const void *a,
                      const void *b, void *y);

/* y = a ** b, y of a's dtype (i32 i64 f32 f64 f16 bf16), b any numeric
 * dtype. Float bases are computed in double; integer bases with an integer
 * exponent exactly (wrapping), with a float exponent in double and then
 * truncated (saturating). A negative integer exponent gives 1/(a**-b)
 * truncated: 0 unless |a| == 1. */
krt_status krt_pow(krt_dtype base, krt_dtype exponent, const krt_bcast *bc, const void *a,
                   const void *b, void *y);

/* y = cond ? a : b over the layout bc (inputs cond, a, b); any dtype
 * (only its size matters). */
krt_status krt_where(krt_dtype dt, const krt_bcast *bc, const uint8_t *cond, const void *a,
                     const void *b, void *y);

/* y[i] /= count, in place: the last step of Mean. Floats only. */
krt_status krt_div_count(krt_dtype dt, void *y, int64_t n, int64_t count);

/* ===== cast and quantization ============================================== */

/* Float -> integer as kiln defines it (C leaves out-of-range conversions
 * undefined): truncate toward zero, saturate to the type's range, NaN -> 0.
 * limit is 2^bits (unsigned) or 2^(bits-1) (signed), exact in double. */
#define KRT_DEF_F2I_(name, T, MINV, MAXV, LIMIT)                              \
    static inline T name(double v)                                           \
    {                                                                        \
        if (v != v)                                                          \
            return 0;                                                        \
        if (v <= (double)(MINV))                                             \
            return MINV;                                                     \
        return v >= (LIMIT) ? (T)(MAXV) : (T)v;                              \
    }
KRT_DEF_F2I_(krt_f2i8, int8_t, INT8_MIN, INT8_MAX, 128.0)
KRT_DEF_F2I_(krt_f2i16, int16_t, INT16_MIN, INT16_MAX, 32768.0)
KRT_DEF_F2I_(krt_f2i32, int32_t, INT32_MIN, INT32_MAX, 2147483648.0)
KRT_DEF_F2I_(krt_f2i64, int64_t, INT64_MIN, INT64_MAX, 9223372036854775808.0)
KRT_DEF_F2I_(krt_f2u8, uint8_t, 0, UINT8_MAX, 256.0)
KRT_DEF_F2I_(krt_f2u16, uint16_t, 0, UINT16_MAX, 65536.0)
KRT_DEF_F2I_(krt_f2u32, uint32_t, 0, UINT32_MAX, 4294967296.0)
KRT_DEF_F2I_(krt_f2u64, uint64_t, 0, UINT64_MAX, 18446744073709551616.0)
#undef KRT_DEF_F2I_

/* y[i] = (to)x[i] for any pair of dtypes. Floats to ints truncate toward
 * zero and saturate (NaN gives 0); ints to narrower ints wrap; anything to
 * bool is x != 0; to f16/bf16 rounds to nearest even (directly from f64,
 * no double rounding). KRT_EDTYPE for UNDEF. */
krt_status krt_cast(krt_dtype from, krt_dtype to, const void *x, void *y, int64_t n);

/* Per-axis layout of (de)quantization: x is viewed as (outer, channels,
 * inner); scale and zero point have `channels` elements (1 for per-tensor,
 * with inner = the element count). */
typedef struct krt_qaxis {
    int64_t outer, channels, inner;
} krt_qaxis;

/* y = saturate(round_half_even(x / scale) + zero_point). x: f32 or i32;
 * y (and zero_point): u8 or i8; zero_point may be NULL (0). NaN gives the
 * zero point. KRT_EDTYPE for other dtypes. */
krt_status krt_quantize_linear(krt_dtype xdt, krt_dtype ydt, krt_qaxis ax, const void *x,
                               const float *scale, const void *zero_point, void *y);
/* y = (x - zero_point) * scale, y f32; x (and zero_point): u8 i8 i32. */
krt_status krt_dequantize_linear(krt_dtype xdt, krt_qaxis ax, const void *x,
                                 const float *scale, const void *zero_point, float *y);
/* uint8 quantization with the range of x widened to include 0:
 * scale = (max - min) / 255, zero_point = saturate(round(-min / scale)),
 * y = saturate(round(x / scale) + zero_point). All zeros (or n = 0) give
 * scale 0, zero point 0, y 0. NaNs are ignored for the range. */
void krt_dynamic_quantize_linear(const float *x, int64_t n, uint8_t *y, float *scale,
                                 uint8_t *zero_point);

#endif /* KRT_ELEMENTWISE_H */
