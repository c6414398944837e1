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
 *
 * Conventions (see krt.h): dense C-order buffers, element counts in int64_t,
 * shapes in small descriptor structs that a code generator can emit as
 * constants. No allocation: a kernel that needs scratch says how much with
 * its *_scratch_size function (bytes; the caller passes memory aligned to
 * 64 bytes). Kernels that can meet bad data return a krt_status; they never
 * read or write out of bounds. Dtype variants share one generic body per
 * file (a macro), and a dispatcher taking a krt_dtype returns KRT_EDTYPE
 * for a dtype with no variant.
 */
#ifndef KRT_LINALG_H
#define KRT_LINALG_H

#include "runtime/krt.h"

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

/* The same contract for every dtype MatMul and Gemm accept (f32 goes to
 * krt_sgemm; f16/bf16 accumulate in f32, integers in their own type with
 * wrap-around, f64 in f64). alpha/beta other than 1/0 scale in double. */
size_t krt_gemm_scratch_size(krt_dtype dt, int64_t M, int64_t N, int64_t K);
krt_status krt_gemm(krt_dtype dt, int64_t M, int64_t N, int64_t K, double alpha,
                    const void *A, int64_t rs_a, int64_t cs_a,
                    const void *B, int64_t rs_b, int64_t cs_b,
                    double beta, void *C, int64_t ldc, void *scratch);

/* Batched matrix product with numpy broadcasting of the batch dims. */
typedef struct krt_matmul_desc {
    int batch_rank;                   /* rank of the output's batch dims */
    int64_t batch[KRT_MAX_RANK];      /* output batch dims */
    int64_t a_stride[KRT_MAX_RANK];   /* A's element stride per batch dim; 0 = broadcast */
    int64_t b_stride[KRT_MAX_RANK];
    int64_t M, N, K;
} krt_matmul_desc;

/* Fills d from the operand shapes (numpy matmul rules: a 1-D A is a row
 * [1,K], a 1-D B a column [K,1]). KRT_EVALUE on a K mismatch or batch dims
 * that do not broadcast, or a rank above KRT_MAX_RANK. */
krt_status krt_matmul_desc_init(krt_matmul_desc *d, int a_rank, const int64_t *a_dims,
                                int b_rank, const int64_t *b_dims);
size_t krt_matmul_scratch_size(const krt_matmul_desc *d, krt_dtype dt);
/* C (dense, batch dims then M x N) = A @ B. */
krt_status krt_matmul(const krt_matmul_desc *d, krt_dtype dt, const void *A, const void *B,
                      void *C, void *scratch);

/* ONNX Gemm: Y[M,N] = alpha * op(A) * op(B) + beta * C, op = transpose
 * when trans_*; A is stored [M,K] or [K,M], B [K,N] or [N,K]. C (may be
 * NULL) is broadcast from c_rows x c_cols (each 1 or M / N). */
typedef struct krt_gemm_desc {
    int64_t M, N, K;
    int trans_a, trans_b;
    double alpha, beta;
    int64_t c_rows, c_cols;           /* C's shape; 0 x 0 when there is no C */
} krt_gemm_desc;

size_t krt_gemm_op_scratch_size(const krt_gemm_desc *d, krt_dtype dt);
krt_status krt_gemm_op(const krt_gemm_desc *d, krt_dtype dt, const void *A, const void *B,
                       const void *C, void *Y, void *scratch);

/* Quantized operand: u8 or i8 data with a zero point that is per tensor
 * (n_zp == 1) or per row of A / per column of B (n_zp == M / N). */
typedef struct krt_qtensor {
    krt_dtype dt;                     /* KRT_U8 or KRT_I8 */
    const void *data;
    const void *zp;                   /* same dtype as data; NULL means 0 */
    int64_t n_zp;
    const float *scale;               /* QLinear* only: n_scale scales */
    int64_t n_scale;
} krt_qtensor;

/* MatMulInteger: Y (i32) = (A - a_zp) @ (B - b_zp), batched as in
 * krt_matmul (d from krt_matmul_desc_init). Accumulation wraps modulo 2^32. */
size_t krt_matmul_integer_scratch_size(const krt_matmul_desc *d);
krt_status krt_matmul_integer(const krt_matmul_desc *d, const krt_qtensor *a,
                              const krt_qtensor *b, int32_t *Y, void *scratch);

/* QLinearMatMul: y = saturate(round_half_even(acc * a_scale * b_scale /
 * y_scale) + y_zp) with acc the integer product above; y is y->dt with
 * y->zp / y->scale (per tensor or per row of the output). */
size_t krt_qlinear_matmul_scratch_size(const krt_matmul_desc *d);
krt_status krt_qlinear_matmul(const krt_matmul_desc *d, const krt_qtensor *a,
                              const krt_qtensor *b, const krt_qtensor *y, void *Y,
                              void *scratch);

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

/* X (batch, in_ch, in...), W (out_ch, in_ch/group, kernel...), Y (batch,
 * out_ch, out...). For ConvTranspose: X (batch, in_ch, in...), W (in_ch,
 * out_ch/group, kernel...), Y (batch, out_ch, out...). */
typedef struct krt_conv_desc {
    int nd;                           /* spatial dims, 1..KRT_MAX_SPATIAL */
    int64_t batch, in_ch, out_ch, group;
    int64_t in[KRT_MAX_SPATIAL];
    int64_t out[KRT_MAX_SPATIAL];
    int64_t kernel[KRT_MAX_SPATIAL];
    int64_t stride[KRT_MAX_SPATIAL];
    int64_t dilation[KRT_MAX_SPATIAL];
    int64_t pad[KRT_MAX_SPATIAL];     /* pad at the beginning (end follows from out) */
} krt_conv_desc;

size_t krt_conv_scratch_size(const krt_conv_desc *d, krt_dtype dt);
/* B (out_ch) may be NULL. f32, f64, and f16 (computed in f32). */
krt_status krt_conv(const krt_conv_desc *d, krt_dtype dt, const void *X, const void *W,
                    const void *B, void *Y, void *scratch);

size_t krt_convtranspose_scratch_size(const krt_conv_desc *d, krt_dtype dt);
krt_status krt_convtranspose(const krt_conv_desc *d, krt_dtype dt, const void *X, const void *W,
                             const void *B, void *Y, void *scratch);

/* ConvInteger: Y (i32) = conv(X - x_zp, W - w_zp); x's zero point is per
 * tensor, w's per tensor or per output channel. Padding is x_zp (adds 0). */
size_t krt_conv_integer_scratch_size(const krt_conv_desc *d);
krt_status krt_conv_integer(const krt_conv_desc *d, const krt_qtensor *x, const krt_qtensor *w,
                            int32_t *Y, void *scratch);

/* QLinearConv: requantized ConvInteger plus an i32 bias (may be NULL);
 * w's scale per tensor or per output channel, y's per tensor. */
size_t krt_qlinear_conv_scratch_size(const krt_conv_desc *d);
krt_status krt_qlinear_conv(const krt_conv_desc *d, const krt_qtensor *x, const krt_qtensor *w,
                            const int32_t *bias, const krt_qtensor *y, void *Y, void *scratch);

/* ===== pooling (krt_linalg_pool.c) ======================================= */

typedef struct krt_pool_desc {
    int nd;                           /* spatial dims */
    int64_t batch, channels;
    int64_t in[KRT_MAX_SPATIAL];
    int64_t out[KRT_MAX_SPATIAL];
    int64_t kernel[KRT_MAX_SPATIAL];
    int64_t stride[KRT_MAX_SPATIAL];
    int64_t dilation[KRT_MAX_SPATIAL];
    int64_t pad[KRT_MAX_SPATIAL];     /* begin */
    int64_t pad_end[KRT_MAX_SPATIAL];
} krt_pool_desc;

/* MaxPool over the window's in-bounds elements (pads never win). Indices
 * (may be NULL) are flat offsets into X, with the spatial part in row-major
 * (storage_order 0) or column-major (1) order. A window with no in-bounds
 * element gives the dtype's lowest value and index -1.
 * f32, f64, f16, i8, u8. */
krt_status krt_maxpool(const krt_pool_desc *d, krt_dtype dt, const void *X, void *Y,
                       int64_t *indices, int storage_order);
/* AveragePool: divides by the in-bounds count, or with count_include_pad
 * by the count inside the padded extent. f32, f64, f16 (computed in f32). */
krt_status krt_avgpool(const krt_pool_desc *d, krt_dtype dt, const void *X, void *Y,
                       int count_include_pad);
/* LpPool: (sum |x|^p)^(1/p) over the in-bounds elements. f32, f64, f16. */
krt_status krt_lppool(const krt_pool_desc *d, krt_dtype dt, const void *X, void *Y, double p);

typedef enum krt_global_kind { KRT_GLOBAL_AVG, KRT_GLOBAL_MAX, KRT_GLOBAL_LP } krt_global_kind;
/* X (planes, size) -> Y (planes). f32, f64, f16. p only for KRT_GLOBAL_LP. */
krt_status krt_global_pool(krt_global_kind kind, krt_dtype dt, int64_t planes, int64_t size,
                           const void *X, void *Y, double p);

/* MaxUnpool: X's n elements go to the flat positions `indices` of a tensor
 * of shape `unpooled` (all of its dims, batch and channels included); Y
 * (shape `out`, each dim >= unpooled's: ONNX's output_shape) holds that
 * tensor in its leading corner and zeros elsewhere. KRT_EINDEX when an
 * index is outside [0, numel(unpooled)); *bad then holds its position in X.
 * KRT_EVALUE when out is smaller than unpooled. Any dtype. */
krt_status krt_maxunpool(krt_dtype dt, int rank, const int64_t *unpooled, const int64_t *out,
                         int64_t n, const void *X, const int64_t *indices, void *Y, int64_t *bad);

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

typedef struct krt_rnn_desc {
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

/* Inputs and outputs; every pointer but X, W, R may be NULL (absent). */
typedef struct krt_rnn_io {
    const float *X, *W, *R, *B;       /* W (dir, gates*hidden, input), R (dir, gates*hidden, hidden) */
    const int32_t *seq_lens;          /* (batch) */
    const float *initial_h, *initial_c, *P;
    float *Y, *Y_h, *Y_c;
} krt_rnn_io;

size_t krt_rnn_scratch_size(const krt_rnn_desc *d);
/* KRT_EVALUE when a sequence length is outside [0, seq]. */
krt_status krt_rnn(const krt_rnn_desc *d, const krt_rnn_io *io, void *scratch);

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

typedef struct krt_resize_desc {
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

size_t krt_resize_scratch_size(const krt_resize_desc *d, krt_dtype dt);
/* Nearest works for any dtype (elements copied); linear and cubic for f32,
 * f64 and f16 (computed in f32). KRT_EVALUE when an input dim is empty but
 * the output is not. */
krt_status krt_resize(const krt_resize_desc *d, krt_dtype dt, const void *X, void *Y, void *scratch);

typedef enum krt_grid_mode { KRT_GRID_BILINEAR, KRT_GRID_NEAREST, KRT_GRID_BICUBIC } krt_grid_mode;
typedef enum krt_grid_padding { KRT_GRID_ZEROS, KRT_GRID_BORDER, KRT_GRID_REFLECTION } krt_grid_padding;

typedef struct krt_gridsample_desc {
    int64_t batch, channels, in_h, in_w, out_h, out_w;
    krt_grid_mode mode;
    krt_grid_padding padding;
    int align_corners;
} krt_gridsample_desc;

/* X (N,C,H,W), grid (N,out_h,out_w,2) of (x,y) in [-1,1] -> Y (N,C,out_h,out_w).
 * f32, f64, f16 (computed in double). */
krt_status krt_gridsample(const krt_gridsample_desc *d, krt_dtype dt, const void *X,
                          const void *grid, void *Y);

typedef struct krt_roialign_desc {
    int64_t batch, channels, height, width, num_rois, out_h, out_w;
    int64_t sampling_ratio;           /* 0: adaptive */
    float spatial_scale;
    int half_pixel;                   /* coordinate_transformation_mode */
    int max_mode;                     /* 0: avg */
} krt_roialign_desc;

/* X (N,C,H,W), rois (num_rois, 4) as (x1,y1,x2,y2), batch_indices
 * (num_rois) -> Y (num_rois, C, out_h, out_w). KRT_EINDEX when a batch
 * index is outside [0, N); *bad then holds the roi. KRT_EVALUE for an
 * empty image (H or W 0). f32, f64, f16 (computed in double). */
krt_status krt_roialign(const krt_roialign_desc *d, krt_dtype dt, const void *X, const void *rois,
                        const int64_t *batch_indices, void *Y, int64_t *bad);

#endif /* KRT_LINALG_H */
