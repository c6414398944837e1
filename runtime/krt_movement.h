/* krt_movement.h — kernels of the movement family: data movement
 * (krt_movement.c), indexing (krt_movement_index.c), and generators,
 * detection and signal ops (krt_movement_signal.c).
 *
 * Each op runs as a kernel (runtime/krt_kernel.h): `krt_kernel_<name>`,
 * listed in krt_kernels.def, takes a `krt_<name>_desc` (kernels of one
 * group share one: concat/split, gather_elements/scatter_elements,
 * gather_nd/scatter_nd) — plain data that ir/lower_movement.c fills and a
 * code generator can emit as a constant — and its operands in the order
 * the descriptor's comment gives (inputs, then outputs).
 *
 * Conventions shared by every kernel here:
 *   - Tensors are dense C-order buffers; shapes are int64 arrays of `rank`
 *     entries (rank <= KRT_MAX_RANK); sizes and strides count elements.
 *   - Pure data movement is dtype-agnostic: it moves `esize`-byte elements
 *     and never looks at their values. Kernels that compute (reductions,
 *     comparisons, transforms) take a krt_dtype and return KRT_EDTYPE for a
 *     dtype they have no variant for.
 *   - Index inputs may be i32 or i64 (`idx_dtype`); negative indices count
 *     from the end where the ONNX spec allows it. An index out of range
 *     returns KRT_EINDEX and fills the krt_error with the operand, value,
 *     valid range and position. Nothing is read or written out of bounds.
 *   - No allocation: scratch comes from the caller, sized by the kernel.
 *   - Big copies split into work units (blocks of the output); the
 *     data-dependent and sequential kernels (scatters, unique, nonzero,
 *     NMS, DFT...) are one unit.
 *
 * A few plain functions stay public for shape inference, which needs the
 * same answers before anything runs (slice bounds, counts, Range length,
 * Unique and NMS sizes).
 */
#ifndef KRT_MOVEMENT_H
#define KRT_MOVEMENT_H

#include "runtime/krt.h"
#include "runtime/krt_kernel.h"

/* ---- data movement (krt_movement.c) ------------------------------------ */

/* Kernel `copy`: ops {src, dst}, nbytes bytes. Units are 64 KiB chunks, so
 * large copies split across threads. Identity, Reshape, Flatten, Squeeze,
 * Unsqueeze and Dropout's data output lower to it. */
typedef struct krt_copy_desc {
    int64_t nbytes;
} krt_copy_desc;

/* Largest rank of a strided view (Tile doubles the rank of its input). */
#define KRT_VIEW_MAX_RANK (2 * KRT_MAX_RANK)

/* Kernel `strided`: ops {X, Y}. Y, dense over the index space `dims`,
 * takes X's element at offset + sum_k i_k * strides[k]. Transpose, Slice,
 * Expand, Tile, DepthToSpace and SpaceToDepth are each one such view,
 * built by the krt_view_* functions below. Units: blocks of about 64 KiB
 * along the outermost dim left after dropping size-1 dims and merging
 * dims contiguous on both sides. */
typedef struct krt_strided_desc {
    int64_t esize;                        /* element bytes */
    int rank;                             /* <= KRT_VIEW_MAX_RANK */
    int32_t pad0;  /* explicit padding: a descriptor has no hidden bytes */
    int64_t offset;                       /* X's element at index 0 */
    int64_t dims[KRT_VIEW_MAX_RANK];      /* Y's index space */
    int64_t strides[KRT_VIEW_MAX_RANK];   /* X's stride per dim, elements; any sign, 0 repeats */
} krt_strided_desc;

/* Y[j...] = X[permuted], Y's dims[k] = dims[perm[k]]. */
void krt_view_transpose(krt_strided_desc *d, size_t esize, int rank, const int64_t *dims,
                        const int64_t *perm);
/* Per axis: starts[k] already clamped into range (krt_slice_axis), steps[k]
 * != 0, out_dims[k] elements. */
void krt_view_slice(krt_strided_desc *d, size_t esize, int rank, const int64_t *in_dims,
                    const int64_t *starts, const int64_t *steps, const int64_t *out_dims);
/* Numpy broadcast of X (in_rank <= rank, aligned right) to out_dims. */
void krt_view_expand(krt_strided_desc *d, size_t esize, int rank, const int64_t *out_dims,
                     int in_rank, const int64_t *in_dims);
void krt_view_tile(krt_strided_desc *d, size_t esize, int rank, const int64_t *in_dims,
                   const int64_t *repeats);
/* dims = (N, C, H, W) of the input. crd: 1 for CRD mode, 0 for DCR. */
void krt_view_depth_to_space(krt_strided_desc *d, size_t esize, const int64_t *dims, int64_t bs,
                             int crd);
void krt_view_space_to_depth(krt_strided_desc *d, size_t esize, const int64_t *dims, int64_t bs);

/* One Slice axis by the ONNX rules: negative start/end count from the end,
 * then both are clamped ([0, dim] for step > 0, [-1, dim - 1] for step < 0).
 * Returns the number of elements taken (>= 0); *first is the first index
 * read (meaningful when the count is > 0). step != 0. */
int64_t krt_slice_axis(int64_t dim, int64_t start, int64_t end, int64_t step, int64_t *first);

/* Most parts one concat / split call takes (a node with more is several
 * calls, each told where its first part starts). */
#define KRT_CONCAT_MAX_PARTS 64

/* Kernels `concat`, ops {X_0 .. X_{n-1}, Y}, and `split`, ops {X, Y_0 ..
 * Y_{n-1}} (a NULL Y_i is skipped): the concatenated tensor viewed as
 * (outer, total, inner), part i (outer, axis_dims[i], inner) placed along
 * the axis at first + axis_dims[0] + ... + axis_dims[i-1]. Units: outer x
 * n part rows. */
typedef struct krt_concat_desc {
    int64_t esize;                    /* element bytes */
    int64_t outer, inner;             /* products of the dims before / after the axis */
    int64_t total;                    /* the concatenated size along the axis */
    int64_t first;                    /* where this call's part 0 starts along the axis */
    int n;                            /* parts in this call, <= KRT_CONCAT_MAX_PARTS */
    int32_t pad0;  /* explicit padding: a descriptor has no hidden bytes */
    int64_t axis_dims[KRT_CONCAT_MAX_PARTS];
} krt_concat_desc;

typedef enum krt_pad_mode { KRT_PAD_CONSTANT, KRT_PAD_REFLECT, KRT_PAD_EDGE, KRT_PAD_MODE_COUNT } krt_pad_mode;

/* Kernel `pad`: ops {X, value, Y}, value (constant mode: one element;
 * NULL means zero) may be NULL. pads: rank begins then rank ends; negative
 * pads crop the input first, then reflect/edge pad relative to what is
 * left. KRT_EVALUE when reflect/edge must pad an axis left empty by the
 * cropping. One unit. */
typedef struct krt_pad_desc {
    int64_t esize;                    /* element bytes */
    krt_pad_mode mode;
    int rank;
    int64_t in[KRT_MAX_RANK];         /* X's dims */
    int64_t pads[2 * KRT_MAX_RANK];
} krt_pad_desc;

/* Kernel `trilu`: ops {X, k, Y}, k (i64 scalar) may be NULL (0). batch
 * matrices of rows x cols; keeps j - i >= k (upper) or <= k (lower), zeroes
 * the rest. Y may be X. Units: matrices. */
typedef struct krt_trilu_desc {
    int64_t esize;                    /* element bytes */
    int64_t batch, rows, cols;
    int upper;
    int32_t pad0;  /* explicit padding: a descriptor has no hidden bytes */
} krt_trilu_desc;

/* Kernel `reverse_sequence`: ops {X, lens, Y}. X's first two dims are the
 * batch and time axes in the order time_axis gives (0: [T, B, ...], 1:
 * [B, T, ...]); inner is the product of the others. lens i64 (B): each in
 * [0, T], else KRT_EINDEX (operand 1). One unit. */
typedef struct krt_reverse_sequence_desc {
    int64_t esize;                    /* element bytes */
    int64_t d0, d1, inner;
    int time_axis;
    int32_t pad0;  /* explicit padding: a descriptor has no hidden bytes */
} krt_reverse_sequence_desc;

/* ---- indexing (krt_movement_index.c) ----------------------------------- */

typedef enum krt_reduction {
    KRT_RED_NONE, KRT_RED_ADD, KRT_RED_MUL, KRT_RED_MAX, KRT_RED_MIN, KRT_RED_COUNT
} krt_reduction;

/* Kernel `gather`: ops {X, indices, Y}. X viewed as (outer, axis_dim,
 * inner), Y (outer, n_idx, inner); indices i32/i64 in [-axis_dim,
 * axis_dim), else KRT_EINDEX (operand 1). Units: the outer x n_idx slabs. */
typedef struct krt_gather_desc {
    int64_t esize;                    /* element bytes */
    krt_dtype idx_dtype;
    int32_t pad0;  /* explicit padding: a descriptor has no hidden bytes */
    int64_t outer, axis_dim, inner, n_idx;
} krt_gather_desc;

/* Kernels `gather_elements`, ops {X, indices, Y}, and `scatter_elements`,
 * ops {X, indices, updates, Y} (Y may be X; updates shaped as indices).
 * The indices (idx_dims, same rank as X, no dim larger than X's except
 * along axis: KRT_EVALUE otherwise) address X with their axis coordinate
 * replaced by the index (KRT_EINDEX, operand 1, outside [-dim, dim)).
 * Scatter reductions other than NONE need a numeric dtype (KRT_EDTYPE).
 * One unit (scatters apply in order). */
typedef struct krt_elements_desc {
    krt_dtype dtype;                  /* of X, updates and Y */
    krt_dtype idx_dtype;
    krt_reduction reduction;          /* scatter only */
    int rank, axis;
    int32_t pad0;  /* explicit padding: a descriptor has no hidden bytes */
    int64_t data_dims[KRT_MAX_RANK];
    int64_t idx_dims[KRT_MAX_RANK];
} krt_elements_desc;

/* Kernels `gather_nd`, ops {X, indices, Y}, and `scatter_nd`, ops {X,
 * indices, updates, Y} (Y may be X). batch = product of data_dims[0..b);
 * per batch n_tuples index tuples of k entries (i32/i64), each selecting a
 * slab of product(data_dims[b+k..]); scatter_nd has b = 0. KRT_EINDEX
 * (operand 1) for an index out of range. One unit. */
typedef struct krt_nd_desc {
    krt_dtype dtype;                  /* of X, updates and Y */
    krt_dtype idx_dtype;
    krt_reduction reduction;          /* scatter only */
    int rank, batch_dims, k;
    int64_t n_tuples;
    int64_t data_dims[KRT_MAX_RANK];
} krt_nd_desc;

/* Kernel `one_hot`: ops {indices, values, Y}. Y (outer, depth, inner) =
 * values[1] where the index at (outer, inner) (taken modulo depth when
 * negative) equals the depth position, else values[0]. Indices outside
 * [-depth, depth) give all values[0]. Units: outer rows. */
typedef struct krt_one_hot_desc {
    int64_t esize;                    /* element bytes of values and Y */
    krt_dtype idx_dtype;              /* any integer or float dtype */
    int32_t pad0;  /* explicit padding: a descriptor has no hidden bytes */
    int64_t outer, depth, inner;
} krt_one_hot_desc;

/* Kernel `compress`: ops {X, condition, Y}. X viewed as (outer, axis_dim,
 * inner); keeps the slices whose condition (bool, n_cond entries) is true;
 * a true entry at or beyond axis_dim is KRT_EINDEX (operand 1). One unit. */
typedef struct krt_compress_desc {
    int64_t esize;                    /* element bytes */
    int64_t outer, axis_dim, inner, n_cond;
} krt_compress_desc;

/* Kernel `nonzero`: ops {X, Y}. Y i64 (max(rank, 1), count): coordinates
 * of the non-zero elements, row major (floats by value). One unit. */
typedef struct krt_nonzero_desc {
    krt_dtype dtype;                  /* of X */
    int rank;
    int64_t dims[KRT_MAX_RANK];
    int64_t count;                    /* Y's columns (inference counted them) */
} krt_nonzero_desc;

/* Kernel `unique`: ops {X, Y, indices, inverse, counts}, any output may be
 * NULL. Unique slices of X viewed as (outer, n, inner) along the middle
 * axis (the flattened tensor: outer = inner = 1), sorted or in order of
 * first occurrence. One unit. */
typedef struct krt_unique_desc {
    krt_dtype dtype;                  /* of X and Y */
    int32_t pad0;  /* explicit padding: a descriptor has no hidden bytes */
    int64_t outer, n, inner;
    int sorted;
    int32_t pad1;  /* explicit padding: a descriptor has no hidden bytes */
} krt_unique_desc;

/* Number of true entries of cond[0..n). */
int64_t krt_count_true(const uint8_t *cond, int64_t n);
/* Number of non-zero elements (-1: no variant for dt). */
int64_t krt_nonzero_count(const void *src, krt_dtype dt, int64_t n);

/* Stable merge sort (bottom-up) of the keys a[0..n) by cmp(ctx, x, y)
 * (negative: x before y); tmp holds n entries. */
void krt_sort_stable(int64_t *a, int64_t *tmp, int64_t n,
                     int (*cmp)(const void *ctx, int64_t x, int64_t y), const void *ctx);

/* Unique slices of data viewed as [outer, n, inner] (the unique kernel's
 * body, public for shape inference): first call with y == NULL to get
 * *n_unique; then again with y (outer x n_unique x inner) and the optional
 * first/inverse/counts (NULL to skip). */
size_t krt_unique_scratch_size(int64_t n);
krt_status krt_unique(const void *src, krt_dtype dt, int64_t outer, int64_t n, int64_t inner,
                      int sorted, void *scratch, int64_t *n_unique, void *y, int64_t *first,
                      int64_t *inverse, int64_t *counts);

/* ---- generators, detection, signal (krt_movement_signal.c) ------------- */

/* Kernel `fill`: ops {Y}. Y's nbytes bytes repeat the first `period`
 * bytes of pattern: ConstantOfShape (one element), Shape and Size (their
 * int64 values, computed when lowering). Units: 64 KiB chunks. */
typedef struct krt_fill_desc {
    int64_t nbytes;
    int64_t period;                   /* 1..64 */
    uint8_t pattern[64];
} krt_fill_desc;

/* Kernel `range`: ops {start, delta, Y}: Y[i] = start + i * delta for n
 * elements (f32 f64 i16 i32 i64; start and delta scalars of that dtype).
 * One unit. */
typedef struct krt_range_desc {
    krt_dtype dtype;
    int32_t pad0;  /* explicit padding: a descriptor has no hidden bytes */
    int64_t n;
} krt_range_desc;

/* max(ceil((limit - start) / delta), 0); ints exactly, floats in double.
 * -1 when delta is 0. */
int64_t krt_range_count(krt_dtype dt, const void *start, const void *limit, const void *delta);

/* Kernel `eye_like`: ops {Y}: ones on the diagonal j = i + k of a rows x
 * cols matrix, zeros elsewhere (any dtype). One unit. */
typedef struct krt_eye_like_desc {
    krt_dtype dtype;
    int32_t pad0;  /* explicit padding: a descriptor has no hidden bytes */
    int64_t rows, cols, k;
} krt_eye_like_desc;

typedef enum krt_window { KRT_WIN_HANN, KRT_WIN_HAMMING, KRT_WIN_BLACKMAN, KRT_WIN_COUNT } krt_window;

/* Kernel `window`: ops {Y}: a Hann, Hamming or Blackman window of `size`
 * samples (any float or integer dtype). One unit. */
typedef struct krt_window_desc {
    krt_dtype dtype;
    krt_window kind;
    int64_t size;
    int periodic;
    int32_t pad0;  /* explicit padding: a descriptor has no hidden bytes */
} krt_window_desc;

/* Kernel `mel_weights` (MelWeightMatrix): ops {Y}: [dft_length/2 + 1,
 * num_mel_bins] triangular filters (ONNX reference formula); KRT_EVALUE
 * when a band edge falls outside the spectrum. One unit. */
typedef struct krt_mel_weights_desc {
    krt_dtype dtype;
    int32_t pad0;  /* explicit padding: a descriptor has no hidden bytes */
    int64_t num_mel_bins, dft_length, sample_rate;
    double lower_hz, upper_hz;
} krt_mel_weights_desc;

/* Kernel `nms` (NonMaxSuppression): ops {boxes, scores, Y}. Boxes (batches,
 * n_boxes, 4), scores (batches, classes, n_boxes), f32; Y i64 (rows, 3):
 * the selected (batch, class, box) per (batch, class) in score order.
 * KRT_EVALUE when the selection does not fill exactly `rows` rows (the
 * count inference made). One unit. */
typedef struct krt_nms_desc {
    krt_dtype dtype;                  /* of boxes and scores: KRT_F32 */
    int32_t pad0;  /* explicit padding: a descriptor has no hidden bytes */
    int64_t batches, classes, n_boxes, max_per_class;
    float iou_threshold, score_threshold;
    int has_score_threshold, center_point_box;
    int64_t rows;
} krt_nms_desc;

/* Selected boxes per (batch, class) in score order, as (b, c, box) rows
 * into selected (NULL to only count: shape inference). Returns the number
 * of rows. */
size_t krt_nms_scratch_size(int64_t n_boxes);
int64_t krt_nms(int64_t *selected, const float *boxes, const float *scores, int64_t batches,
                int64_t classes, int64_t n_boxes, int64_t max_per_class, float iou_threshold,
                float score_threshold, int has_score_threshold, int center_point_box,
                void *scratch);

/* Kernel `dft`: ops {X, Y}. Signals laid out as (outer, sig_len, inner,
 * c_in) (c_in 1: real, 2: complex) into (outer, n_out, inner, 2): each is
 * truncated or zero-padded to n_fft, bins 0..n_out-1 are written; inverse
 * scales by 1/n_fft. f32 f64 f16 bf16 (computed in double). O(n log n) for
 * every n_fft (radix-2 FFT, Bluestein's chirp-z otherwise). One unit. */
typedef struct krt_dft_desc {
    krt_dtype dtype;
    int32_t pad0;  /* explicit padding: a descriptor has no hidden bytes */
    int64_t outer, sig_len, inner;
    int c_in, inverse;
    int64_t n_fft, n_out;
} krt_dft_desc;

/* Kernel `stft`: ops {signal, window, Y}, window (frame_len samples) may be
 * NULL. Signal (batch, sig_len, c_in) into (batch, n_frames, n_out, 2):
 * frame f starts at f * step. Dtypes as dft. One unit. */
typedef struct krt_stft_desc {
    krt_dtype dtype;
    int32_t pad0;  /* explicit padding: a descriptor has no hidden bytes */
    int64_t batch, sig_len;
    int c_in;
    int32_t pad1;  /* explicit padding: a descriptor has no hidden bytes */
    int64_t step, frame_len, n_frames, n_out;
} krt_stft_desc;

#endif /* KRT_MOVEMENT_H */
