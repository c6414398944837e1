/* krt_movement.h — kernels of the movement family: data movement
 * (krt_movement.c), indexing (krt_movement_index.c), and generators,
 * detection and signal ops (krt_movement_signal.c).
 *
 * Conventions shared by every kernel here:
 *   - Tensors are dense C-order buffers; shapes are int64 arrays of `rank`
 *     entries (rank <= KRT_MAX_RANK); sizes and strides count elements.
 *   - Pure data movement is dtype-agnostic: it moves `esize`-byte elements
 *     and never looks at their values. Kernels that compute (reductions,
 *     comparisons, transforms) take a krt_dtype and return KRT_EDTYPE for a
 *     dtype they have no variant for.
 *   - Index inputs may be i32 or i64 (`idx_dt`); negative indices count from
 *     the end where the ONNX spec allows it. An index out of range returns
 *     KRT_EINDEX and, when `err` is not NULL, fills it so the caller can say
 *     which value was bad. Nothing is read or written out of bounds.
 *   - No allocation: kernels that need memory take `scratch`, sized by the
 *     matching *_scratch_size function.
 */
#ifndef KRT_MOVEMENT_H
#define KRT_MOVEMENT_H

#include "runtime/krt.h"
#include "runtime/krt_kernel.h"

/* Which index was bad, for the caller's message. */
typedef struct krt_index_error {
    int64_t value;  /* the offending index */
    int64_t lo, hi; /* the allowed range [lo, hi) */
    int64_t pos;    /* its flat position in the index tensor */
} krt_index_error;

/* ---- data movement (krt_movement.c) ------------------------------------ */

/* Kernel `copy`: ops {src, dst}, nbytes bytes. Units are 64 KiB chunks, so
 * large copies split across threads. Identity, Reshape, Flatten, Squeeze,
 * Unsqueeze and Dropout's data output lower to it. */
typedef struct krt_copy_desc {
    int64_t nbytes;
} krt_copy_desc;

/* Largest rank of a strided view (Tile doubles the rank of its input). */
#define KRT_VIEW_MAX_RANK (2 * KRT_MAX_RANK)

/* dst[i...] = src[i...] over the index space `dims`, both sides addressed by
 * strides in elements (any sign; 0 repeats an element). Contiguous inner
 * runs are copied with memcpy. */
void krt_copy_strided(void *dst, const int64_t *dst_strides, const void *src,
                      const int64_t *src_strides, size_t esize, int rank, const int64_t *dims);

/* out[j...] = in[permuted], out dims[k] = dims[perm[k]]. */
void krt_transpose(void *dst, const void *src, size_t esize, int rank, const int64_t *dims,
                   const int64_t *perm);

/* One Slice axis by the ONNX rules: negative start/end count from the end,
 * then both are clamped ([0, dim] for step > 0, [-1, dim - 1] for step < 0).
 * Returns the number of elements taken (>= 0); *first is the first index
 * read (meaningful when the count is > 0). step != 0. */
int64_t krt_slice_axis(int64_t dim, int64_t start, int64_t end, int64_t step, int64_t *first);

/* Per axis: starts[k] already clamped into range, steps[k] != 0, out_dims[k]
 * elements. */
void krt_slice(void *dst, const void *src, size_t esize, int rank, const int64_t *in_dims,
               const int64_t *starts, const int64_t *steps, const int64_t *out_dims);

/* Numpy broadcast of src (in_rank <= rank, aligned right) to out_dims. */
void krt_expand(void *dst, const void *src, size_t esize, int rank, const int64_t *out_dims,
                int in_rank, const int64_t *in_dims);

/* Concat along an axis: outer = product of the dims before it, inner = of
 * those after it; input i has axis_dims[i] along the axis. */
void krt_concat(void *dst, const void *const *srcs, const int64_t *axis_dims, int n,
                size_t esize, int64_t outer, int64_t inner);
/* The inverse; dsts[i] may be NULL (an output nobody reads). */
void krt_split(void *const *dsts, const void *src, const int64_t *axis_dims, int n,
               size_t esize, int64_t outer, int64_t inner);

void krt_tile(void *dst, const void *src, size_t esize, int rank, const int64_t *in_dims,
              const int64_t *repeats);

typedef enum krt_pad_mode { KRT_PAD_CONSTANT, KRT_PAD_REFLECT, KRT_PAD_EDGE, KRT_PAD_MODE_COUNT } krt_pad_mode;

/* pads: rank begins then rank ends; negative pads crop the input first,
 * then reflect/edge pad relative to what is left. value: one element
 * (constant mode; NULL means zero). KRT_EVALUE when reflect/edge must pad
 * an axis that is empty after cropping. */
krt_status krt_pad(void *dst, const void *src, size_t esize, int rank, const int64_t *in_dims,
                   const int64_t *pads, krt_pad_mode mode, const void *value);

/* dims = (N, C, H, W) of the input. crd: 1 for CRD mode, 0 for DCR. */
void krt_depth_to_space(void *dst, const void *src, size_t esize, const int64_t *dims,
                        int64_t bs, int crd);
void krt_space_to_depth(void *dst, const void *src, size_t esize, const int64_t *dims,
                        int64_t bs);

/* batch matrices of rows x cols; keeps j - i >= k (upper) or <= k (lower),
 * zeroes the rest. dst may equal src. */
void krt_trilu(void *dst, const void *src, size_t esize, int64_t batch, int64_t rows,
               int64_t cols, int64_t k, int upper);

/* Input of rank >= 2 whose first two dims are the batch and time axes in
 * the order given by time_axis (0: [T, B, ...], 1: [B, T, ...]); inner is
 * the product of the remaining dims. lens[b] must be in [0, T]. */
krt_status krt_reverse_sequence(void *dst, const void *src, size_t esize, int64_t d0,
                                int64_t d1, int64_t inner, int time_axis,
                                const int64_t *lens, krt_index_error *err);

/* ---- indexing (krt_movement_index.c) ----------------------------------- */

typedef enum krt_reduction {
    KRT_RED_NONE, KRT_RED_ADD, KRT_RED_MUL, KRT_RED_MAX, KRT_RED_MIN, KRT_RED_COUNT
} krt_reduction;

/* data viewed as [outer, axis_dim, inner]; out is [outer, n_idx, inner]. */
krt_status krt_gather(void *dst, const void *src, size_t esize, int64_t outer,
                      int64_t axis_dim, int64_t inner, const void *indices, krt_dtype idx_dt,
                      int64_t n_idx, krt_index_error *err);

/* out has the indices' shape (idx_dims, same rank as data, no dim larger
 * than data's except along axis: KRT_EVALUE otherwise). The same walk
 * serves krt_scatter_elements. */
krt_status krt_gather_elements(void *dst, const void *src, size_t esize, int rank,
                               const int64_t *data_dims, const int64_t *idx_dims, int axis,
                               const void *indices, krt_dtype idx_dt, krt_index_error *err);

/* batch = product of data_dims[0..b); per batch n_tuples index tuples of
 * k entries each; each selects a slab of product(data_dims[b+k..]). */
krt_status krt_gather_nd(void *dst, const void *src, size_t esize, int rank,
                         const int64_t *data_dims, int b, int64_t n_tuples, int k,
                         const void *indices, krt_dtype idx_dt, krt_index_error *err);

/* dst = data with updates scattered in, combined by `red`. dst may equal
 * data. Reductions other than NONE need a numeric dt (KRT_EDTYPE else). */
krt_status krt_scatter_elements(void *dst, const void *data, krt_dtype dt, int rank,
                                const int64_t *data_dims, const int64_t *idx_dims, int axis,
                                const void *indices, krt_dtype idx_dt, const void *updates,
                                krt_reduction red, krt_index_error *err);
krt_status krt_scatter_nd(void *dst, const void *data, krt_dtype dt, int rank,
                          const int64_t *data_dims, int64_t n_tuples, int k,
                          const void *indices, krt_dtype idx_dt, const void *updates,
                          krt_reduction red, krt_index_error *err);

/* out [outer, depth, inner] = on where the index at [outer, inner] (taken
 * modulo depth when negative) equals the depth position, else off.
 * off_on: two elements. Indices outside [-depth, depth) give all off. */
void krt_one_hot(void *dst, size_t esize, const void *off_on, const void *indices,
                 krt_dtype idx_dt, int64_t outer, int64_t depth, int64_t inner);

/* Number of true entries of cond[0..n). */
int64_t krt_count_true(const uint8_t *cond, int64_t n);
/* data viewed as [outer, axis_dim, inner]; keeps the slices whose cond is
 * true (cond has n_cond entries; a true entry at or beyond axis_dim is
 * KRT_EINDEX). */
krt_status krt_compress(void *dst, const void *src, size_t esize, int64_t outer,
                        int64_t axis_dim, int64_t inner, const uint8_t *cond, int64_t n_cond,
                        krt_index_error *err);

/* Number of non-zero elements (-1: no variant for dt). */
int64_t krt_nonzero_count(const void *src, krt_dtype dt, int64_t n);
/* dst [max(rank,1), count]: coordinates of the non-zero elements, row major. */
krt_status krt_nonzero(int64_t *dst, const void *src, krt_dtype dt, int rank,
                       const int64_t *dims, int64_t count);

/* Stable merge sort (bottom-up) of the keys a[0..n) by cmp(ctx, x, y)
 * (negative: x before y); tmp holds n entries. */
void krt_sort_stable(int64_t *a, int64_t *tmp, int64_t n,
                     int (*cmp)(const void *ctx, int64_t x, int64_t y), const void *ctx);

/* Unique slices of data viewed as [outer, n, inner] along the middle axis
 * (the flattened tensor: outer = inner = 1). First call with y == NULL to
 * get *n_unique; then again with y (outer x n_unique x inner) and the
 * optional first/inverse/counts (NULL to skip). */
size_t krt_unique_scratch_size(int64_t n);
krt_status krt_unique(const void *src, krt_dtype dt, int64_t outer, int64_t n, int64_t inner,
                      int sorted, void *scratch, int64_t *n_unique, void *y, int64_t *first,
                      int64_t *inverse, int64_t *counts);

/* ---- generators, detection, signal (krt_movement_signal.c) ------------- */

void krt_fill(void *dst, size_t esize, int64_t n, const void *value);
/* max(ceil((limit - start) / delta), 0); ints exactly, floats in double.
 * -1 when delta is 0. */
int64_t krt_range_count(krt_dtype dt, const void *start, const void *limit, const void *delta);
/* dst[i] = start + i * delta for n elements (f32 f64 i16 i32 i64). */
krt_status krt_range(void *dst, krt_dtype dt, const void *start, const void *delta, int64_t n);
/* Ones on the diagonal j = i + k of a rows x cols matrix, zeros elsewhere. */
void krt_eye_like(void *dst, krt_dtype dt, int64_t rows, int64_t cols, int64_t k);

typedef enum krt_window { KRT_WIN_HANN, KRT_WIN_HAMMING, KRT_WIN_BLACKMAN, KRT_WIN_COUNT } krt_window;
void krt_window_fn(void *dst, krt_dtype dt, krt_window kind, int64_t size, int periodic);
/* [dft_length/2 + 1, num_mel_bins] triangular filters (ONNX reference
 * formula); KRT_EVALUE when a band edge falls outside the spectrum. */
krt_status krt_mel_weight_matrix(void *dst, krt_dtype dt, int64_t num_mel_bins,
                                 int64_t dft_length, int64_t sample_rate, double lower_hz,
                                 double upper_hz);

/* Selected boxes per (batch, class) in score order, as (b, c, box) rows
 * into selected (NULL to only count). Returns the number of rows. */
size_t krt_nms_scratch_size(int64_t n_boxes);
int64_t krt_nms(int64_t *selected, const float *boxes, const float *scores, int64_t batches,
                int64_t classes, int64_t n_boxes, int64_t max_per_class, float iou_threshold,
                float score_threshold, int has_score_threshold, int center_point_box,
                void *scratch);

/* DFT of signals laid out as [outer, sig_len, inner, c_in] (c_in 1: real,
 * 2: complex) into [outer, n_out, inner, 2]: the signal is truncated or
 * zero-padded to n_fft, bins 0..n_out-1 are written. inverse scales by
 * 1/n_fft. dt: f32 f64 f16 bf16. O(n log n) for every n_fft (radix-2 FFT,
 * Bluestein's chirp-z for lengths that are not powers of two). */
size_t krt_dft_scratch_size(int64_t n_fft);
krt_status krt_dft(void *dst, const void *src, krt_dtype dt, int64_t outer, int64_t sig_len,
                   int64_t inner, int c_in, int64_t n_fft, int64_t n_out, int inverse,
                   void *scratch);
/* STFT of signal [batch, sig_len, c_in] into [batch, n_frames, n_out, 2];
 * frame f starts at f * step and has frame_len samples, multiplied by
 * window[frame_len] when not NULL (same dt as the signal). */
krt_status krt_stft(void *dst, const void *signal, krt_dtype dt, int64_t batch,
                    int64_t sig_len, int c_in, int64_t step, int64_t frame_len,
                    const void *window, int64_t n_frames, int64_t n_out, void *scratch);

#endif /* KRT_MOVEMENT_H */
