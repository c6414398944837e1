/* krt_elementwise.h — kernels of the elementwise family: unary math and
 * activations, numpy-broadcasting binary and variadic ops, Where, Clip,
 * Cast, linear (de)quantization, and a byte fill.
 *
 * Every kernel here is called through the one kernel ABI
 * (runtime/krt_kernel.h): a krt_<name>_desc below, the operands in the
 * order its comment gives (inputs, then outputs), a work range.
 *
 * Conventions shared by every kernel here:
 *   - Buffers are dense, C order, of the dtype the descriptor names;
 *     f16/bf16 are raw 16-bit patterns and are computed in f32.
 *   - Broadcasting kernels carry a krt_bcast: the output's dims plus, per
 *     input, its strides (in elements) over those dims, 0 along a broadcast
 *     dimension. The kernels merge dims that are contiguous for every
 *     operand, then run rows with fast paths for the contiguous and scalar
 *     (stride 0) cases, so `x + bias` and `x * 0.5` are plain vector loops.
 *   - The heavy kernels (unary, clip, binary, variadic, where, cast) split
 *     into units of KRT_EW_CHUNK consecutive output elements. Each output
 *     element depends only on the inputs at its own position, so any split
 *     gives the same bytes.
 *   - Descriptors have no padding bytes (`reserved` fields fill the gaps),
 *     so equal descriptors are equal bytes.
 *   - Output 0 may be the same buffer as an input that has the output's
 *     shape and dtype (in place): every kernel reads element i of its
 *     inputs before it writes element i of its output.
 *   - run() checks the descriptor's dtypes before it touches an operand:
 *     a call over an empty range with NULL operands returns KRT_EDTYPE when
 *     the kernel has no variant for them, else KRT_OK (how the lowering
 *     reports a missing kernel at compile time). Kernels never read or
 *     write outside the sizes the descriptor gives.
 *
 * Sources: krt_elementwise_unary.c (unary, clip), krt_elementwise_binary.c
 * (broadcast layout, binary incl. Pow, variadic, where),
 * krt_elementwise_cast.c (cast, (de)quantization, fill).
 */
#ifndef KRT_ELEMENTWISE_H
#define KRT_ELEMENTWISE_H

#include "runtime/krt.h"
#include "runtime/krt_kernel.h"

/* Output elements per work unit of the chunked kernels. */
#define KRT_EW_CHUNK 16384

/* ===== unary ============================================================ */

/* X-macro of the unary ops: X(ENUM). Each is y[i] = f(x[i]). The output
 * dtype is the input's, except ISNAN and ISINF (float -> bool). */
#define KRT_UNARY_OPS(X)                                                      \
    X(ABS) X(ACOS) X(ACOSH) X(ASIN) X(ASINH) X(ATAN) X(ATANH) X(CEIL) X(COS)  \
    X(COSH) X(ERF) X(EXP) X(FLOOR) X(LOG) X(NEG) X(NOT) X(RECIPROCAL) X(RELU) \
    X(ROUND) X(SIGMOID) X(SIGN) X(SIN) X(SINH) X(SOFTPLUS) X(SOFTSIGN)        \
    X(SQRT) X(TAN) X(TANH) X(ISNAN) X(ISINF) X(HARDSWISH) X(ELU) X(SELU)      \
    X(CELU) X(LEAKYRELU) X(HARDSIGMOID) X(THRESHOLDEDRELU) X(SHRINK) X(GELU)

typedef enum krt_unary_op {
#define KRT_X_(e) KRT_UN_##e,
    KRT_UNARY_OPS(KRT_X_)
#undef KRT_X_
    KRT_UNARY_COUNT
} krt_unary_op;

/* The attributes of the unary ops that have some (ONNX names and meaning;
 * the lowering fills in the ONNX defaults for those the node lacks). */
typedef struct krt_unary_params {
    float alpha;          /* Elu Selu Celu LeakyRelu HardSigmoid ThresholdedRelu */
    float beta;           /* HardSigmoid */
    float gamma;          /* Selu */
    float lambd, bias;    /* Shrink */
    int32_t detect_positive;  /* IsInf */
    int32_t detect_negative;  /* IsInf */
    int32_t approximate;      /* Gelu: 0 exact (erf), 1 the tanh approximation */
} krt_unary_params;

/* Kernel `unary`: ops {x, y}, y[i] = op(x[i]). Float ops: f32 f64 f16
 * bf16; ABS SIGN: every numeric type; NEG RELU: floats and signed ints;
 * SHRINK: floats and ints (computed in double, truncated back); NOT: bool.
 * Units: chunks of KRT_EW_CHUNK elements. */
typedef struct krt_unary_desc {
    krt_unary_op op;
    krt_dtype dt;          /* x's dtype */
    krt_dtype y_dt;        /* dt, except BOOL for ISNAN ISINF */
    krt_unary_params p;    /* the op's attributes */
    int32_t pad0;  /* explicit padding: a descriptor has no hidden bytes */
    int64_t n;             /* elements of x and of y */
} krt_unary_desc;

/* Kernel `clip`: ops {x, lo, hi, y}, y = min(max(x, lo), hi) (numpy's
 * order: hi wins when lo > hi). lo / hi hold one element of dt, or are NULL
 * for "no bound". Every numeric dtype; NaN passes through. Units: chunks
 * of KRT_EW_CHUNK elements. */
typedef struct krt_clip_desc {
    krt_dtype dt;          /* x, lo, hi, y */
    int32_t reserved;      /* 0: the descriptor has no padding bytes */
    int64_t n;             /* elements of x and of y */
} krt_clip_desc;

/* ===== broadcasting ======================================================= */

#define KRT_BCAST_MAX_IN 3

typedef struct krt_bcast {
    int32_t rank;                                    /* output rank, 0..KRT_MAX_RANK */
    int32_t n_in;                                    /* inputs added so far */
    int64_t dims[KRT_MAX_RANK];                      /* output dims */
    int64_t strides[KRT_BCAST_MAX_IN][KRT_MAX_RANK]; /* per input, in elements */
} krt_bcast;

/* Start a layout for an output of the given dims (rank <= KRT_MAX_RANK). */
void krt_bcast_init(krt_bcast *bc, int rank, const int64_t *dims);
/* Add the next input (dense, C order), aligned to the output's trailing
 * dims. KRT_EVALUE if it does not broadcast to the output shape (a dim
 * that is neither equal nor 1, a higher rank) or if there are already
 * KRT_BCAST_MAX_IN inputs. */
krt_status krt_bcast_add_input(krt_bcast *bc, int rank, const int64_t *dims);
/* The strides (in elements) over the output dims out[0..out_rank) of a
 * dense input of dims in[0..in_rank), 0 along broadcast dims. KRT_EVALUE
 * if it does not broadcast to out. */
krt_status krt_bcast_strides(int out_rank, const int64_t *out, int in_rank, const int64_t *in,
                             int64_t *strides /* OUT [out_rank] */);
int64_t krt_bcast_numel(const krt_bcast *bc);

/* ===== binary and variadic ================================================ */

/* X-macro of the binary ops: X(ENUM). MOD follows Python's sign rule
 * (result has the divisor's sign), FMOD C's (result has the dividend's
 * sign); ONNX allows only FMOD for floats, kiln has both. Integer
 * Add/Sub/Mul wrap; integer division truncates; a zero integer divisor
 * gives 0 (Div, Mod, FMod). SHL/SHR: unsigned ints, a shift >= the width
 * gives 0. PRELU: y = a < 0 ? a * b : a. MAX/MIN propagate NaN like numpy.
 * POW: y = a ** b with b of its own dtype (below). The comparisons and
 * AND/OR/XOR (every op from AND on) output bool. */
#define KRT_BINARY_OPS(X)                                                       \
    X(ADD) X(SUB) X(MUL) X(DIV) X(MOD) X(FMOD) X(MAX) X(MIN) X(PRELU) X(SHL)    \
    X(SHR) X(POW) X(AND) X(OR) X(XOR) X(EQUAL) X(GREATER) X(GREATER_EQUAL)      \
    X(LESS) X(LESS_EQUAL)

typedef enum krt_binary_op {
#define KRT_X_(e) KRT_BIN_##e,
    KRT_BINARY_OPS(KRT_X_)
#undef KRT_X_
    KRT_BINARY_COUNT
} krt_binary_op;

/* Kernel `binary`: ops {a, b, y}, y = op(a, b) over the layout bc (two
 * inputs: a then b). y is dt, or bool for comparisons and logic ops.
 * Pow: a (= y) i32 i64 f32 f64 f16 bf16, b any numeric dtype; float bases
 * are computed in double; integer bases with an integer exponent exactly
 * (wrapping), with a float exponent in double, then truncated
 * (saturating); a negative integer exponent gives 1/(a**-b) truncated: 0
 * unless |a| == 1. Units: chunks of KRT_EW_CHUNK output elements. */
typedef struct krt_binary_desc {
    krt_binary_op op;
    krt_dtype dt;          /* a's dtype */
    krt_dtype b_dt;        /* b's dtype: dt, except for POW */
    krt_dtype y_dt;        /* dt, or BOOL for the ops from AND on */
    krt_bcast bc;          /* y's dims; strides of a, then of b */
} krt_binary_desc;

/* Kernel `variadic`: ops {x0, ..., x[n_in-1], y}: y = x0 op x1 op ... in
 * that order (Sum, Max, Min; Mean is Sum with `divisor`). Every input
 * broadcasts to y. y may be x0 (a chained call that continues a fold) or
 * x1 when it has y's shape: no input after x1 may share y's buffer.
 * Units: chunks of KRT_EW_CHUNK output elements. */
#define KRT_VARIADIC_MAX_IN 16
typedef struct krt_variadic_desc {
    krt_binary_op op;      /* ADD, MAX or MIN */
    krt_dtype dt;          /* every input and y */
    int32_t rank;          /* y's rank */
    int32_t n_in;          /* 2..KRT_VARIADIC_MAX_IN */
    int64_t dims[KRT_MAX_RANK];                         /* y's dims */
    int64_t strides[KRT_VARIADIC_MAX_IN][KRT_MAX_RANK]; /* input k over y's dims */
    int64_t divisor;       /* y /= divisor at the end (floats); 0: none */
} krt_variadic_desc;

/* Kernel `where`: ops {cond, a, b, y}, y = cond ? a : b over the layout bc
 * (inputs cond (bool), a, b). Any dtype (only its size matters). Units:
 * chunks of KRT_EW_CHUNK output elements. */
typedef struct krt_where_desc {
    krt_dtype dt;          /* a, b, y */
    int32_t reserved;      /* 0: the descriptor has no padding bytes */
    krt_bcast bc;          /* y's dims; strides of cond, a, b */
} krt_where_desc;

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

/* Kernel `cast`: ops {x, y}, y[i] = (to)x[i] for any pair of dtypes.
 * Floats to ints truncate toward zero and saturate (NaN gives 0); ints to
 * narrower ints wrap; anything to bool is x != 0; to f16/bf16 rounds to
 * nearest even (directly from f64, no double rounding). KRT_EDTYPE for
 * UNDEF. Units: chunks of KRT_EW_CHUNK elements. */
typedef struct krt_cast_desc {
    krt_dtype from, to;    /* x's and y's dtypes */
    int64_t n;             /* elements */
} krt_cast_desc;

/* Kernels `quantize_linear` and `dequantize_linear`: ops {x, scale,
 * zero_point, y}. x is viewed as (outer, channels, inner); scale (f32) and
 * zero_point (NULL: 0) have `channels` elements (1 per tensor, with inner
 * = the element count).
 *   quantize:   y = saturate(round_half_even(x / scale) + zero_point);
 *               x f32 or i32, y (and zero_point) u8 or i8; NaN gives the
 *               zero point.
 *   dequantize: y = (x - zero_point) * scale, y f32; x (and zero_point)
 *               u8 i8 i32.
 * One unit. */
typedef struct krt_qlinear_desc {
    krt_dtype x_dt, y_dt;
    int64_t outer, channels, inner;
} krt_qlinear_desc;

/* Kernel `dynamic_quantize_linear`: ops {x (f32), y (u8), scale (f32
 * scalar), zero_point (u8 scalar)}; any output may be NULL. uint8
 * quantization with the range of x widened to include 0:
 * scale = (max - min) / 255, zero_point = saturate(round(-min / scale)),
 * y = saturate(round(x / scale) + zero_point). All zeros (or n = 0) give
 * scale 0, zero point 0, y 0. NaNs are ignored for the range. One unit. */
typedef struct krt_dynamic_quantize_desc {
    int64_t n;             /* elements of x and of y */
} krt_dynamic_quantize_desc;


/* ===== vector math (krt_vmath.c; the functions: krt_vmath.h) =============== */

/* y[i] = f(x[i]) for i < n at the widest vectors this CPU runs, within the
 * bounds krt_vmath.h states (exp, erf, tanh <= 1.5 ulp; sigmoid, GELU
 * <= 2.5). y may be x. Every element gets the same operations whatever its
 * position, so a split over threads gives the same bytes. */
typedef enum krt_vmath_op {
    KRT_VM_EXP, KRT_VM_ERF, KRT_VM_TANH, KRT_VM_SIGMOID, KRT_VM_GELU_ERF, KRT_VM_GELU_TANH,
    KRT_VM_COUNT
} krt_vmath_op;
void krt_vmath_f32(krt_vmath_op op, const float *x, float *y, int64_t n);

/* For tests and benchmarks: the i-th instruction set this build has that
 * this CPU runs, best first ("avx512", "avx2", then the compile target's
 * own: "avx512", "avx", "neon", "vec4" or "libm"; NULL past the end), and
 * forcing one for every later call (NULL: back to the best; false, and
 * back to the best, for a name not on the list). Not thread-safe. */
const char *krt_vmath_isa(int i);
_Bool krt_vmath_use_isa(const char *name);

/* ===== fused elementwise (krt_elementwise_fused.c) ========================= */

/* Kernel `fused_ew` (kiln.FusedElementwise, from the fuse-elementwise
 * pass): a chain of f32 elementwise ops as one pass over the output. The
 * chain is a small program: instruction k reads two slots (0..n_in-1 are
 * the kernel's inputs, n_in + j the result of instruction j < k) and
 * writes slot n_in + k; the last instruction's result is the output.
 * X-macro of the instruction set: X(ENUM, "name", operands, vmath op or
 * -1). Each computes what the unfused op's kernel computes for f32, with
 * the same expression (exact for the arithmetic, Relu, Clip, HardSwish;
 * the same krt_vmath_f32 function for the transcendental ones):
 *   add sub mul div      a OP b
 *   max min              NaN-propagating, as the binary kernel
 *   square               a * a (Pow with the constant exponent 2)
 *   neg abs sqrt recip   -a, |a|, sqrt(a), 1 / a
 *   relu                 a < 0 ? 0 : a
 *   clip                 lo, hi: t = a < lo ? lo : a; t > hi ? hi : t
 *   hardswish            a * clamp01(a / 6 + 0.5), as the unary kernel
 *   leakyrelu            lo is alpha: a < 0 ? alpha * a : a
 *   exp erf tanh sigmoid gelu_erf gelu_tanh: the vector math */
#define KRT_FEW_OPS(X)                                                        \
    X(ADD, "add", 2, -1) X(SUB, "sub", 2, -1) X(MUL, "mul", 2, -1)            \
    X(DIV, "div", 2, -1) X(MAX, "max", 2, -1) X(MIN, "min", 2, -1)            \
    X(SQUARE, "square", 1, -1) X(NEG, "neg", 1, -1) X(ABS, "abs", 1, -1)      \
    X(SQRT, "sqrt", 1, -1) X(RECIP, "recip", 1, -1) X(RELU, "relu", 1, -1)    \
    X(CLIP, "clip", 1, -1) X(HARDSWISH, "hardswish", 1, -1)                   \
    X(LEAKYRELU, "leakyrelu", 1, -1)                                          \
    X(EXP, "exp", 1, KRT_VM_EXP) X(ERF, "erf", 1, KRT_VM_ERF)                 \
    X(TANH, "tanh", 1, KRT_VM_TANH) X(SIGMOID, "sigmoid", 1, KRT_VM_SIGMOID)  \
    X(GELU_ERF, "gelu_erf", 1, KRT_VM_GELU_ERF)                               \
    X(GELU_TANH, "gelu_tanh", 1, KRT_VM_GELU_TANH)

typedef enum krt_few_op {
#define KRT_X_(e, name, arity, vm) KRT_FEW_##e,
    KRT_FEW_OPS(KRT_X_)
#undef KRT_X_
    KRT_FEW_COUNT
} krt_few_op;

#define KRT_FEW_MAX_IN 8      /* kernel inputs */
#define KRT_FEW_MAX_OPS 24    /* instructions */

/* How an input covers the output: every element (its shape is the
 * output's), one element for all (a scalar), or one row of `row` elements
 * repeated along the last axis (shape [..1, row]). */
typedef enum krt_few_kind { KRT_FEW_FULL, KRT_FEW_SCALAR, KRT_FEW_ROW } krt_few_kind;

typedef struct krt_few_instr {
    int32_t op;            /* krt_few_op */
    int32_t a, b;          /* operand slots; b is -1 for a one-operand op */
    int32_t reserved;      /* 0 */
    float lo, hi;          /* clip's bounds, leakyrelu's alpha (lo); else 0 */
} krt_few_instr;

/* Kernel `fused_ew`: ops {x0 .. x(n_in-1), y}, all f32. Units: chunks of
 * KRT_EW_CHUNK output elements. y may be a FULL input (in place). */
typedef struct krt_fused_ew_desc {
    int32_t n_in, n_ops;
    int32_t kind[KRT_FEW_MAX_IN];   /* krt_few_kind per input */
    int64_t n;                      /* output elements */
    int64_t row;                    /* the output's last dim (ROW inputs' length); 1 for a scalar output */
    krt_few_instr ins[KRT_FEW_MAX_OPS];
} krt_fused_ew_desc;

/* The instruction set's facts, indexed by krt_few_op. */
extern const char *const krt_few_names[KRT_FEW_COUNT];
extern const int8_t krt_few_arity[KRT_FEW_COUNT];
extern const int8_t krt_few_vmath[KRT_FEW_COUNT];   /* krt_vmath_op, or -1 */

/* The same vector math, one vector at a time, for code that builds its own
 * loops (the LLVM backend's fused elementwise loops): y[0..VF) = f(x[0..VF))
 * with VF = krt_vmath_block_width, the width the runtime was compiled for
 * (16 AVX-512, 8 AVX, 4 NEON or SSE). Defined when the compiler has vector
 * extensions (krt_vmath_block_width is 0 otherwise). */
extern const int32_t krt_vmath_block_width;
void krt_vmath_block_f32(krt_vmath_op op, const float *x, float *y);

/* ===== for the family's own sources ======================================== */
#ifdef KRT_ELEMENTWISE_SOURCE
/* Units of a chunked kernel over n elements (at least one). */
static inline int64_t krt_ew_units(int64_t n)
{
    return n > KRT_EW_CHUNK ? (n + KRT_EW_CHUNK - 1) / KRT_EW_CHUNK : 1;
}
/* The elements [*lo, *hi) of n that units r cover. */
static inline void krt_ew_slice(krt_span r, int64_t n, int64_t *lo, int64_t *hi)
{
    *lo = r.begin * KRT_EW_CHUNK < n ? r.begin * KRT_EW_CHUNK : n;
    *hi = r.end * KRT_EW_CHUNK < n ? r.end * KRT_EW_CHUNK : n;
    if (*hi < *lo)
        *hi = *lo;
}
#endif

#endif /* KRT_ELEMENTWISE_H */
