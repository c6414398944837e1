/* krt_linalg.h — kernels of the linalg family: matrix products, convolution,
 * pooling, recurrent cells, resize and sampling.
 *
 * Sources, one per sub-family:
 *   krt_linalg_gemm.c    GEMM (blocked f32, generic dtypes), MatMul, Gemm,
 *                        MatMulInteger, QLinearMatMul
 *   krt_linalg_conv.c    window geometry, Conv, ConvTranspose, ConvInteger,
 *                        QLinearConv
 *   krt_linalg_pool.c    MaxPool, AveragePool, LpPool, global pools, MaxUnpool
 *   krt_linalg_rnn.c     RNN, GRU, LSTM
 *   krt_linalg_sample.c  Resize, GridSample, RoiAlign
 *   krt_attention.c      kiln.Attention (docs/attention.md)
 *
 * Each op runs as a kernel (runtime/krt_kernel.h): `krt_kernel_<name>`,
 * listed in krt_kernels.def, takes a `krt_<name>_desc` — plain data (the
 * dtype, shapes, attributes; no pointers) that ir/lower_linalg.c fills and
 * a code generator can emit as a constant — and its operands in the order
 * each descriptor documents (inputs, then outputs). Heavy kernels (matmul,
 * gemm, conv, pool...) split into work units that are independent blocks
 * of the output, so any split over threads gives bit-identical results.
 *
 * Conventions (see krt.h): dense C-order buffers, element counts in int64_t.
 * No allocation: scratch comes from the caller, sized by the kernel's
 * scratch_size (bytes, 64-byte aligned, per thread). Kernels that can meet
 * bad data return a krt_status; they never read or write out of bounds.
 * Dtype variants share one generic body per file (a macro); a kernel
 * returns KRT_EDTYPE for a dtype with no variant. The building blocks
 * other kernels share (GEMM, window geometry, half conversions) stay
 * public functions.
 */
#ifndef KRT_LINALG_H
#define KRT_LINALG_H

#include "runtime/krt.h"
#include "runtime/krt_kernel.h"

#include <stdbool.h>

/* Spatial dims of conv/pool descriptors (N and C take the other two). */
#define KRT_MAX_SPATIAL (KRT_MAX_RANK - 2)

/* ===== GEMM and matrix products (krt_linalg_gemm.c) ===================== */

/* C = alpha * A * B + beta * C for an M x K matrix A and a K x N matrix B,
 * each addressed through a row and a column stride (elements), so that a
 * transposed operand is only a swap of strides: A(i,k) = A[i*rs_a + k*cs_a].
 * C is row-major with leading dimension ldc. beta == 0 overwrites C (NaNs
 * in C do not survive). Cache-blocked with packed panels and a register-
 * blocked micro-kernel; scratch from krt_sgemm_scratch_size. */
size_t krt_sgemm_scratch_size(int64_t M, int64_t N, int64_t K);
void krt_sgemm(int64_t M, int64_t N, int64_t K, float alpha,
               const float *A, int64_t rs_a, int64_t cs_a,
               const float *B, int64_t rs_b, int64_t cs_b,
               float beta, float *C, int64_t ldc, void *scratch);

/* krt_sgemm with an epilogue applied in registers before C is stored:
 *   C = act(alpha * A * B + beta * C + bias_scale * bias)
 * bias(i, j) = bias[i * bias_rs + j * bias_cs] with bias_cs 0 or 1, so a
 * per-column bias is (rs 0, cs 1), a per-row bias (1, 0), a full matrix
 * (N, 1), a scalar (0, 0); bias may be C itself (each element is read
 * before it is written). epi may be NULL (no bias, no activation). */
/* The activations the epilogue applies (the vector math of krt_vmath.h for
 * the transcendental ones, within its bounds): GELU_ERF x Phi(x),
 * GELU_TANH its tanh form, SILU x sigmoid(x), HARDSWISH x clamp(x/6 +
 * 1/2, 0, 1). After the activation, an optional residual is added:
 *   C = act(alpha * A * B + beta * C + bias_scale * bias) + residual
 * residual(i, j) = residual[i * residual_ld + j], applied on the last K
 * slice only (like the activation). */
typedef enum krt_gemm_act {
    KRT_GEMM_ACT_NONE, KRT_GEMM_ACT_RELU, KRT_GEMM_ACT_CLIP, KRT_GEMM_ACT_GELU_ERF,
    KRT_GEMM_ACT_GELU_TANH, KRT_GEMM_ACT_SIGMOID, KRT_GEMM_ACT_SILU, KRT_GEMM_ACT_HARDSWISH,
    KRT_GEMM_ACT_COUNT
} krt_gemm_act;
typedef struct krt_sgemm_epilogue {
    const float *bias;                /* NULL: no bias */
    int64_t bias_rs, bias_cs;
    float bias_scale;
    krt_gemm_act act;
    float lo, hi;                     /* KRT_GEMM_ACT_CLIP: clamp to [lo, hi] */
    const float *residual;            /* NULL: none; may not be C */
    int64_t residual_ld;
} krt_sgemm_epilogue;
void krt_sgemm_ex(int64_t M, int64_t N, int64_t K, float alpha,
                  const float *A, int64_t rs_a, int64_t cs_a,
                  const float *B, int64_t rs_b, int64_t cs_b,
                  float beta, float *C, int64_t ldc, const krt_sgemm_epilogue *epi,
                  void *scratch);

/* B packed ahead of time (the pack-weights pass): the micro-panels the
 * kernel with register width nr and K slice kc reads, laid end to end
 * (layout: runtime/krt_linalg_gemm.c, "B packed ahead of time";
 * docs/compiler-core.md, "Packed weights"). krt_sgemm_pack_geometry
 * gives a kernel's (nr, kc) by its name's first word ("avx512", "avx2", "avx", "neon", "vec4", "scalar";
 * false for another), or with kernel NULL those of the kernel krt_sgemm
 * picks on this CPU. krt_sgemm_packed_numel is the packed size in floats
 * (K x N rounded up to nr; 0 when N, K or nr is not positive), and
 * krt_sgemm_pack_b packs B (K x N, strided as in krt_sgemm) into it.
 * krt_sgemm_packed_ex is krt_sgemm_ex reading such a B: in place when
 * the kernel it picks has that nr and kc, else repacked per slice into
 * its own layout; either way bit-identical to krt_sgemm_ex on the
 * unpacked B. Same scratch as krt_sgemm. */
bool krt_sgemm_pack_geometry(const char *kernel, int *nr, int *kc);
int64_t krt_sgemm_packed_numel(int64_t N, int64_t K, int nr);
void krt_sgemm_pack_b(int64_t K, int64_t N, const float *B, int64_t rs_b, int64_t cs_b, int nr,
                      int kc, float *out);
void krt_sgemm_packed_ex(int64_t M, int64_t N, int64_t K, float alpha,
                         const float *A, int64_t rs_a, int64_t cs_a,
                         const float *packed_b, int nr, int kc,
                         float beta, float *C, int64_t ldc, const krt_sgemm_epilogue *epi,
                         void *scratch);

/* The micro-kernel krt_sgemm runs on this CPU ("avx512 6x64", ...). */
const char *krt_sgemm_kernel_name(void);

/* For tests and benchmarks: the i-th kernel this build has that this CPU
 * runs (best first; NULL past the end), and forcing one by name for every
 * later call in the process (NULL: back to the best; false, and back to
 * the best, for a name not on the list). Not thread-safe: call it while
 * no GEMM runs. */
const char *krt_sgemm_kernel(int i);
bool krt_sgemm_use_kernel(const char *name);

/* The same contract for every dtype MatMul and Gemm accept (f32 goes to
 * krt_sgemm; f16/bf16 accumulate in f32, integers in their own type with
 * wrap-around, f64 in f64). alpha/beta other than 1/0 scale in double. */
size_t krt_gemm_scratch_size(krt_dtype dt, int64_t M, int64_t N, int64_t K);
krt_status krt_gemm(krt_dtype dt, int64_t M, int64_t N, int64_t K, double alpha,
                    const void *A, int64_t rs_a, int64_t cs_a,
                    const void *B, int64_t rs_b, int64_t cs_b,
                    double beta, void *C, int64_t ldc, void *scratch);

/* Kernel `matmul`: ops {A, B, Y}. Batched matrix product with numpy
 * broadcasting of the batch dims; Y dense (batch dims, M, N). Units: when
 * B is one matrix for every batch item and A's items are dense (the batch
 * folds into M), a grid of blocks of 12 rows x 64 columns of the
 * (batch x M) x N product, numbered down each column block; otherwise
 * blocks of 12 output rows over batch x M. Each unit computes whole
 * elements (the full K sum), so any split gives bit-identical results.
 * f32, f64, f16, bf16, i32, i64, u32, u64. */
typedef struct krt_matmul_desc {
    krt_dtype dtype;                  /* of A, B and Y */
    int batch_rank;                   /* rank of the output's batch dims */
    int64_t batch[KRT_MAX_RANK];      /* output batch dims */
    int64_t a_stride[KRT_MAX_RANK];   /* A's element stride per batch dim; 0 = broadcast */
    int64_t b_stride[KRT_MAX_RANK];
    int64_t M, N, K;                  /* A (M, K) @ B (K, N) per batch */
} krt_matmul_desc;

/* Kernel `matmul_epi` (kiln.FusedMatMul, from the fuse-epilogue pass):
 * ops {A, B, bias, residual, Y}, bias and residual may be NULL. f32 only.
 *   Y = act(A @ B + bias) + residual
 * with A @ B batched as `matmul` (mm), bias [N] broadcast over every row,
 * residual dense of Y's shape; all of it applied per register tile by the
 * GEMM's epilogue (krt_sgemm_ex), never as a pass over Y. Units as
 * matmul (with b_nr > 0 the grid's column blocks are b_nr rounded up to a
 * multiple of b_nr >= 64 wide, whole packed panels). With b_nr > 0, B is packed (krt_sgemm_pack_b)
 * and must be one matrix (no batch dims); KRT_EVALUE otherwise. */
typedef struct krt_matmul_epi_desc {
    krt_matmul_desc mm;               /* mm.dtype KRT_F32 */
    krt_gemm_act act;
    float lo, hi;                     /* KRT_GEMM_ACT_CLIP */
    int32_t has_bias, has_residual;   /* 1: ops[2] / ops[3] given */
    int32_t b_nr, b_kc;               /* b_nr > 0: B (ops[1]) is one K x N matrix packed for
                                         (b_nr, b_kc) by krt_sgemm_pack_b (pack-weights) */
    int32_t pad0;  /* explicit padding: a descriptor has no hidden bytes */
} krt_matmul_epi_desc;

/* Fills d's shape fields from the operand shapes (numpy matmul rules: a
 * 1-D A is a row [1,K], a 1-D B a column [K,1]); d->dtype is left 0 for
 * the caller. KRT_EVALUE on a K mismatch or batch dims that do not
 * broadcast, or a rank above KRT_MAX_RANK. */
krt_status krt_matmul_desc_init(krt_matmul_desc *d, int a_rank, const int64_t *a_dims,
                                int b_rank, const int64_t *b_dims);

/* Kernel `gemm` (ONNX Gemm): ops {A, B, C, Y}, C may be NULL.
 * Y[M,N] = alpha * op(A) * op(B) + beta * C, op = transpose when trans_*;
 * A is stored [M,K] or [K,M], B [K,N] or [N,K]; C is broadcast from
 * c_rows x c_cols (each 1 or M / N). Units are blocks of rows of Y. */
typedef struct krt_gemm_desc {
    krt_dtype dtype;                  /* of A, B, C and Y */
    int32_t pad0;  /* explicit padding: a descriptor has no hidden bytes */
    int64_t M, N, K;
    int trans_a, trans_b;
    double alpha, beta;
    int64_t c_rows, c_cols;           /* C's shape; 0 x 0 when there is no C */
} krt_gemm_desc;

/* Kernel `qmatmul`: MatMulInteger and QLinearMatMul, ops in QLinearMatMul's
 * order {A, a_scale, a_zp, B, b_scale, b_zp, y_scale, y_zp, Y}; every
 * scale and zero point may be NULL (MatMulInteger has no scales). A and B
 * are u8 or i8 with zero points per tensor or per row of A / per column
 * of B (the n_* counts, 0 when absent); scales are f32.
 *   y_dtype KRT_I32: Y = (A - a_zp) @ (B - b_zp), wrapping modulo 2^32;
 *   y_dtype u8/i8:   Y = saturate(round_half_even(acc * a_scale * b_scale /
 *                    y_scale) + y_zp), y's scale and zero point per tensor
 *                    or per row of Y.
 * Batched as matmul (mm.dtype is A's dtype). Units: batch items. */
typedef struct krt_qmatmul_desc {
    krt_matmul_desc mm;               /* shapes; mm.dtype = A's dtype */
    krt_dtype b_dtype, y_dtype;
    int64_t n_a_zp, n_b_zp, n_y_zp;   /* zero-point counts: 1, M (A, Y) or N (B); 0 none */
    int64_t n_a_scale, n_b_scale, n_y_scale;
} krt_qmatmul_desc;

/* f16 / bf16 <-> f32 for the kernels whose half-precision variants compute
 * in f32 (Conv, ConvTranspose, Resize): n elements. */
void krt_widen_f32(krt_dtype dt, const void *src, float *dst, int64_t n);
void krt_narrow_f32(krt_dtype dt, const float *src, void *dst, int64_t n);

/* Round half to even and saturate into u8/i8 (QuantizeLinear's rule). */
int32_t krt_quant_round(float v, int32_t zp, int32_t lo, int32_t hi);

/* ===== sliding windows: geometry (krt_linalg_conv.c) ===================== */

typedef enum krt_auto_pad {
    KRT_PAD_NOTSET,                   /* explicit pads */
    KRT_PAD_SAME_UPPER,               /* out = ceil(in / stride), extra pad at the end */
    KRT_PAD_SAME_LOWER,               /* same, extra pad at the beginning */
    KRT_PAD_VALID,                    /* no padding */
    KRT_AUTO_PAD_COUNT
} krt_auto_pad;

/* One spatial dim of a Conv / pool window: from the input size, kernel,
 * stride, dilation and (for NOTSET) the explicit pads, computes the output
 * size and the pads actually used (*pad_begin / *pad_end in and out).
 * ceil_mode rounds the output size up (pools). KRT_EVALUE when the dilated
 * kernel does not fit the padded input, or an argument is not positive or
 * above 2^31 (pads: negative or above 2^31). */
krt_status krt_window_dim(int64_t in, int64_t kernel, int64_t stride, int64_t dilation,
                          krt_auto_pad auto_pad, int ceil_mode,
                          int64_t *pad_begin, int64_t *pad_end, int64_t *out);

/* ConvTranspose's output size and pads for one dim. With out_shape > 0 the
 * output size is given and the pads follow from it; SAME_* give out =
 * in * stride; otherwise out comes from the explicit pads. KRT_EVALUE when
 * the size would not be positive. */
krt_status krt_convtranspose_dim(int64_t in, int64_t kernel, int64_t stride, int64_t dilation,
                                 int64_t out_padding, krt_auto_pad auto_pad, int64_t out_shape,
                                 int64_t *pad_begin, int64_t *pad_end, int64_t *out);

/* ===== convolution (krt_linalg_conv.c) =================================== */

/* Kernels `conv` and `conv_transpose`: ops {X, W, B, Y}, B (out_ch) may be
 * NULL. Conv: X (batch, in_ch, in...), W (out_ch, in_ch/group, kernel...),
 * Y (batch, out_ch, out...). ConvTranspose: W (in_ch, out_ch/group,
 * kernel...). f32, f64, and f16 (computed in f32).
 * Units: conv, batch x group x output-channel blocks x output-position
 * blocks (each unit owns a block of Y); conv_transpose, batch x group
 * (col2im sums into the whole output planes of a group). */
typedef struct krt_conv_desc {
    krt_dtype dtype;                  /* of X, W, B and Y */
    int nd;                           /* spatial dims, 1..KRT_MAX_SPATIAL */
    int64_t batch, in_ch, out_ch, group;
    int64_t in[KRT_MAX_SPATIAL];
    int64_t out[KRT_MAX_SPATIAL];
    int64_t kernel[KRT_MAX_SPATIAL];
    int64_t stride[KRT_MAX_SPATIAL];
    int64_t dilation[KRT_MAX_SPATIAL];
    int64_t pad[KRT_MAX_SPATIAL];     /* pad at the beginning (end follows from out) */
} krt_conv_desc;

/* Kernel `conv_epi` (kiln.FusedConv, from the fuse-epilogue pass): ops
 * {X, W, B, R, Y}, B (out_ch) and R may be NULL. f32 only.
 *   Y = act(conv(X, W) + B) + R
 * with R dense of Y's shape. The activation and the residual are applied
 * to each block of Y while it is in cache: by the GEMM's epilogue in
 * registers (krt_sgemm_ex) on the GEMM paths, on the finished block on
 * the depthwise one, never as a pass over the whole output. Units and
 * results as `conv` (bit-identical to conv followed by the activation
 * kernel and the Add for Relu, Clip and the Adds). */
typedef struct krt_conv_epi_desc {
    krt_conv_desc conv;               /* conv.dtype KRT_F32 */
    krt_gemm_act act;
    float lo, hi;                     /* KRT_GEMM_ACT_CLIP */
    int32_t has_residual;             /* 1: ops[3] given */
} krt_conv_epi_desc;

/* Kernel `qconv`: ConvInteger and QLinearConv, ops in QLinearConv's order
 * {X, x_scale, x_zp, W, w_scale, w_zp, y_scale, y_zp, B, Y}; scales, zero
 * points and B may be NULL (ConvInteger has no scales and no B). X and W
 * are u8 or i8; x's zero point is per tensor (it is also the padding
 * value, so padding adds 0), w's per tensor or per output channel, B i32.
 *   y_dtype KRT_I32: Y = conv(X - x_zp, W - w_zp), wrapping modulo 2^32;
 *   y_dtype u8/i8:   Y requantized from that plus B, as QLinearMatMul
 *                    (w's scale per tensor or per output channel).
 * Units: batch x group. */
typedef struct krt_qconv_desc {
    krt_conv_desc conv;               /* geometry; conv.dtype = X's dtype */
    krt_dtype w_dtype, y_dtype;
    int64_t n_w_zp, n_w_scale;        /* 1 or out_ch; 0 when absent */
} krt_qconv_desc;

/* ===== pooling (krt_linalg_pool.c) ======================================= */

typedef enum krt_pool_kind { KRT_POOL_MAX, KRT_POOL_AVG, KRT_POOL_LP, KRT_POOL_KIND_COUNT } krt_pool_kind;

/* Kernel `pool`: ops {X, Y, Indices}, Indices (MaxPool only) may be NULL.
 * X (batch, channels, in...) -> Y (batch, channels, out...). Units: the
 * batch x channels planes.
 *   max: over the window's in-bounds elements (pads never win). Indices
 *        are flat offsets into X, the spatial part row-major
 *        (storage_order 0) or column-major (1). A window with no in-bounds
 *        element gives the dtype's lowest value and index -1.
 *        f32, f64, f16, i8, u8.
 *   avg: divides by the in-bounds count, or with count_include_pad by the
 *        count inside the padded extent. f32, f64, f16 (computed in f32).
 *   lp:  (sum |x|^p)^(1/p) over the in-bounds elements. f32, f64, f16.
 * global: the window is the whole plane (GlobalAveragePool & co: nd may
 * be 0, out/kernel/stride... unused; sums in double). f32, f64, f16. */
typedef struct krt_pool_desc {
    krt_dtype dtype;                  /* of X and Y */
    krt_pool_kind kind;
    int global;                       /* 1: one window per plane */
    int storage_order;                /* max: order of the Indices */
    int count_include_pad;            /* avg */
    int32_t pad0;  /* explicit padding: a descriptor has no hidden bytes */
    double p;                         /* lp */
    int nd;                           /* spatial dims */
    int32_t pad1;  /* explicit padding: a descriptor has no hidden bytes */
    int64_t batch, channels;
    int64_t in[KRT_MAX_SPATIAL];
    int64_t out[KRT_MAX_SPATIAL];
    int64_t kernel[KRT_MAX_SPATIAL];
    int64_t stride[KRT_MAX_SPATIAL];
    int64_t dilation[KRT_MAX_SPATIAL];
    int64_t pad[KRT_MAX_SPATIAL];     /* begin */
    int64_t pad_end[KRT_MAX_SPATIAL];
} krt_pool_desc;

/* Kernel `max_unpool`: ops {X, I, Y}. X's n elements go to the flat
 * positions I (i64) of a tensor of shape `unpooled` (batch and channels
 * included); Y (shape `out`, each dim >= unpooled's: ONNX's output_shape)
 * holds that tensor in its leading corner and zeros elsewhere. KRT_EINDEX
 * (operand 1) when an index is outside [0, numel(unpooled)). Any dtype. */
typedef struct krt_max_unpool_desc {
    krt_dtype dtype;                  /* of X and Y */
    int rank;
    int64_t unpooled[KRT_MAX_RANK];
    int64_t out[KRT_MAX_RANK];
    int64_t n;                        /* elements of X and I */
} krt_max_unpool_desc;

/* ===== recurrent cells (krt_linalg_rnn.c) ================================= */

typedef enum krt_act {
    KRT_ACT_RELU, KRT_ACT_TANH, KRT_ACT_SIGMOID, KRT_ACT_AFFINE, KRT_ACT_LEAKYRELU,
    KRT_ACT_THRESHOLDEDRELU, KRT_ACT_SCALEDTANH, KRT_ACT_HARDSIGMOID, KRT_ACT_ELU,
    KRT_ACT_SOFTSIGN, KRT_ACT_SOFTPLUS, KRT_ACT_COUNT
} krt_act;

typedef struct krt_activation {
    krt_act kind;
    float alpha, beta;                /* as the ONNX RNN activation attributes */
} krt_activation;

/* The ONNX default alpha/beta of an activation (0 when it has none). */
krt_activation krt_activation_default(krt_act kind);
float krt_activation_apply(krt_activation a, float x);

typedef enum krt_rnn_kind { KRT_RNN, KRT_GRU, KRT_LSTM } krt_rnn_kind;

/* Kernel `rnn`: RNN, GRU and LSTM (f32), ops {X, W, R, B, seq_lens,
 * initial_h, initial_c, P, Y, Y_h, Y_c} in ONNX's LSTM order (RNN and GRU
 * have no initial_c and P, and no Y_c); all but X, W, R may be NULL.
 * W (dir, gates*hidden, input), R (dir, gates*hidden, hidden), seq_lens
 * i32 (batch). KRT_EINDEX (operand 4, "sequence length") when a sequence
 * length is outside [0, seq]. One unit (the time steps are sequential). */
typedef struct krt_rnn_desc {
    krt_dtype dtype;                  /* KRT_F32 */
    krt_rnn_kind kind;
    int64_t seq, batch, input, hidden;
    int num_dir;                      /* 1 or 2 */
    int reverse;                      /* num_dir == 1: run backwards in time */
    int layout;                       /* 0: X (seq, batch, input); 1: (batch, seq, input) */
    float clip;                       /* clip gate inputs to [-clip, clip]; <= 0: none */
    int linear_before_reset;          /* GRU */
    int input_forget;                 /* LSTM: couple input and forget gates */
    krt_activation act[2][3];         /* per direction: f, g, h (as many as the cell uses) */
} krt_rnn_desc;

/* ===== resize and sampling (krt_linalg_sample.c) ========================== */

typedef enum krt_resize_mode { KRT_RESIZE_NEAREST, KRT_RESIZE_LINEAR, KRT_RESIZE_CUBIC } krt_resize_mode;
typedef enum krt_coord_mode {
    KRT_COORD_HALF_PIXEL, KRT_COORD_PYTORCH_HALF_PIXEL, KRT_COORD_ALIGN_CORNERS,
    KRT_COORD_ASYMMETRIC, KRT_COORD_TF_HALF_PIXEL_FOR_NN, KRT_COORD_TF_CROP_AND_RESIZE,
    KRT_COORD_COUNT
} krt_coord_mode;
typedef enum krt_nearest_mode {
    KRT_NEAREST_ROUND_PREFER_FLOOR, KRT_NEAREST_ROUND_PREFER_CEIL, KRT_NEAREST_FLOOR,
    KRT_NEAREST_CEIL, KRT_NEAREST_COUNT
} krt_nearest_mode;

/* Kernel `resize`: ops {X, Y}. Nearest works for any dtype (elements
 * copied); linear and cubic for f32, f64 and f16 (computed in f32).
 * KRT_EVALUE when an input dim is empty but the output is not. One unit. */
typedef struct krt_resize_desc {
    krt_dtype dtype;                  /* of X and Y */
    int rank;
    int64_t in[KRT_MAX_RANK], out[KRT_MAX_RANK];
    double scale[KRT_MAX_RANK];       /* out/in ratio used by the coordinate maps */
    double length[KRT_MAX_RANK];      /* "resized length" of align_corners & co: in*scale */
    double roi_start[KRT_MAX_RANK], roi_end[KRT_MAX_RANK]; /* tf_crop_and_resize */
    krt_resize_mode mode;
    krt_coord_mode coord;
    krt_nearest_mode nearest;
    float cubic_a;
    int exclude_outside;
    float extrapolation;              /* tf_crop_and_resize outside the image */
} krt_resize_desc;


typedef enum krt_grid_mode { KRT_GRID_BILINEAR, KRT_GRID_NEAREST, KRT_GRID_BICUBIC } krt_grid_mode;
typedef enum krt_grid_padding { KRT_GRID_ZEROS, KRT_GRID_BORDER, KRT_GRID_REFLECTION } krt_grid_padding;

/* GridSample's geometry and modes (ir/infer_linalg.c fills it). */
typedef struct krt_gridsample_desc {
    int64_t batch, channels, in_h, in_w, out_h, out_w;
    krt_grid_mode mode;
    krt_grid_padding padding;
    int align_corners;
    int32_t pad0;  /* explicit padding: a descriptor has no hidden bytes */
} krt_gridsample_desc;

/* Kernel `grid_sample`: ops {X, grid, Y}. X (N,C,H,W), grid (N,out_h,
 * out_w,2) of (x,y) in [-1,1] -> Y (N,C,out_h,out_w). f32, f64, f16
 * (computed in double). Units: batch items. */
typedef struct krt_grid_sample_desc {
    krt_dtype dtype;                  /* of X, grid and Y */
    int32_t pad0;  /* explicit padding: a descriptor has no hidden bytes */
    krt_gridsample_desc g;
} krt_grid_sample_desc;


/* Kernel `roialign`: ops {X, rois, batch_indices, Y}. X (N,C,H,W), rois
 * (num_rois, 4) as (x1,y1,x2,y2), batch_indices i64 (num_rois) -> Y
 * (num_rois, C, out_h, out_w). KRT_EINDEX (operand 2, "batch index") when
 * a batch index is outside [0, N); KRT_EVALUE for an empty image (H or W
 * 0). f32, f64, f16 (computed in double). Units: rois. */
typedef struct krt_roialign_desc {
    krt_dtype dtype;                  /* of X, rois and Y */
    int32_t pad0;  /* explicit padding: a descriptor has no hidden bytes */
    int64_t batch, channels, height, width, num_rois, out_h, out_w;
    int64_t sampling_ratio;           /* 0: adaptive */
    float spatial_scale;
    int half_pixel;                   /* coordinate_transformation_mode */
    int max_mode;                     /* 0: avg */
    int32_t pad1;  /* explicit padding: a descriptor has no hidden bytes */
} krt_roialign_desc;


/* ===== fused attention (krt_attention.c) ==================================== */

/* Kernel `attention` (kiln.Attention, docs/attention.md): ops {Q, K, V,
 * bias, p_in, mix, mix_scale, mix_shift, Y, P}; bias, p_in, the mix
 * inputs and P may be NULL, and Q and K are NULL when p_in is given.
 * All f32. For every batch b, head h and query n:
 *   P[b,h,n,:] = softmax(scale * Q(b,h,n) . K(b,h,:) + bias)   (or p_in)
 *   re-attention: P[b,g,n,:] = mix_scale[g] * sum_h P[b,h,n,:] mix[h,g] + mix_shift[g]
 *   Y(b,h,n) = P[b,h,n,:] . V(b,h,:)
 * where row (b,h,n) of Q, K, V starts at layout[0] + b*layout[1] +
 * h*layout[2] + n*layout[3] and holds head_dim contiguous elements, and
 * row (b,h,n) of Y starts at b*y_layout[0] + h*y_layout[1] + n*y_layout[2].
 * Bias element (b,h,n,j) is at (b % bias_batches)*bias_stride[0] +
 * h*bias_stride[1] + n*bias_stride[2] + j*bias_stride[3] (stride 0:
 * broadcast). P, when written, is dense [B, H, Nq, Nk].
 * Units: (batch, head, query tile) triples, or (batch, query tile) pairs
 * when the probabilities of every head are needed together
 * (re-attention); each unit writes its own rows of Y and P, so any split
 * gives bit-identical results. KRT_EVALUE when an operand the flags
 * require is NULL. */
typedef struct krt_attention_desc {
    int64_t batch, heads, head_dim;   /* B, H, D */
    int64_t q_tokens, kv_tokens;      /* Nq, Nk */
    int64_t q_layout[4];              /* offset, batch, head, token strides (elements) */
    int64_t k_layout[4];
    int64_t v_layout[4];
    int64_t y_layout[3];              /* batch, head, token strides of Y (offset 0) */
    int64_t bias_batches;             /* Bb (query batch b reads b % Bb); 0: no bias */
    int64_t bias_stride[4];           /* batch, head, query, key; 0 = broadcast */
    float scale;                      /* scores are scale * (q . k) */
    int32_t causal;                   /* 1: key j > query n is masked */
    int32_t p_in;                     /* 1: probabilities from ops[4]; Q, K, bias absent */
    int32_t reattention;              /* 1: mix, mix_scale, mix_shift given */
    int32_t p_out;                    /* 1: write P (ops[9]) */
    int32_t pad0;  /* explicit padding: a descriptor has no hidden bytes */
} krt_attention_desc;

/* The vector width (floats) the attention kernel runs at on this CPU: the
 * widest of its instances this build has and this CPU runs (x86-64: 16
 * with AVX-512, 8 with AVX2, else the compile target's). For tests and
 * benchmarks, krt_attention_use_width forces one for every later call in
 * the process (0: back to the widest; false, and back to the widest, for
 * a width this build or CPU does not have). Not thread-safe: call it
 * while no attention runs. */
int krt_attention_width(void);
bool krt_attention_use_width(int width);

/* kiln.TokenMerge and kiln.TokenPrune (runtime/krt_token.c). */
#include "runtime/krt_token.h"

#endif /* KRT_LINALG_H */
