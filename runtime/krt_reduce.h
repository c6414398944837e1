/* krt_reduce.h — kernels of the reduce family: reductions, arg-reductions,
 * cumulative sums, softmax / log-softmax / hardmax, normalizations, losses,
 * TopK, Einsum and Det.
 *
 * Sources, one per sub-family (dtype variants by macro inside each):
 *   krt_reduce.c          Reduce*, ArgMax/ArgMin, CumSum, MeanVarianceNormalization
 *   krt_reduce_softmax.c  Softmax, LogSoftmax, Hardmax, NLL and softmax cross-entropy losses
 *   krt_reduce_norm.c     BatchNormalization, InstanceNormalization, LayerNormalization,
 *                         LpNormalization, LRN
 *   krt_reduce_topk.c     TopK
 *   krt_reduce_einsum.c   Einsum (equation parsing and evaluation), Det
 *
 * Conventions shared by every kernel here:
 *   - Tensors are dense, C order. An op "along one axis" sees its input as
 *     (outer, n, inner): outer = product of the dims before the axis, n the
 *     axis length, inner = product of the dims after it.
 *   - f16 and bf16 are stored as raw 16-bit patterns and computed in float;
 *     f32 in float; f64 in double; integers in int64 / uint64.
 *   - Kernels that have no variant for a dtype return KRT_EDTYPE; kernels
 *     that meet a bad value (a class label out of range...) return KRT_EINDEX
 *     or KRT_EVALUE and, where an OUT parameter is given, the bad value.
 *   - Scratch memory, when needed, comes from the caller, sized by the
 *     matching *_scratch_size function and aligned to 8 bytes at least.
 */
#ifndef KRT_REDUCE_H
#define KRT_REDUCE_H

#include "runtime/krt.h"

#include <stdbool.h>

/* ===== reductions (krt_reduce.c) ======================================= */

typedef enum krt_reduce_op {
    KRT_REDUCE_SUM,
    KRT_REDUCE_MEAN,
    KRT_REDUCE_MAX,
    KRT_REDUCE_MIN,
    KRT_REDUCE_PROD,
    KRT_REDUCE_L1,
    KRT_REDUCE_L2,
    KRT_REDUCE_LOGSUM,
    KRT_REDUCE_LOGSUMEXP,
    KRT_REDUCE_SUMSQUARE,
    KRT_REDUCE_OP_COUNT
} krt_reduce_op;

/* x has `rank` dims; the axes whose bit is set in `mask` are reduced. y
 * holds the kept dims in order (keepdims does not change the layout).
 * A reduction over no element gives the op's identity: 0 for the sums,
 * 1 for prod, -inf / +inf (integers: the type's min / max) for max / min,
 * NaN for mean of floats, -inf for log-sum and log-sum-exp.
 * Variants: f32 f64 f16 bf16 i8 u8 i32 i64 u32 u64 (log-sum-exp: floats
 * only). Max and min propagate NaN. */
size_t krt_reduce_scratch_size(krt_reduce_op op, krt_dtype dt, int rank, const int64_t *dims,
                               uint32_t mask);
krt_status krt_reduce(krt_reduce_op op, krt_dtype dt, int rank, const int64_t *dims, uint32_t mask,
                      const void *x, void *y, void *scratch);

/* ArgMax (is_min = false) / ArgMin along the axis of (outer, n, inner):
 * y (outer, inner) receives the first (select_last: the last) index of the
 * extreme value; NaN counts as the extreme, as in numpy. KRT_EVALUE when
 * n == 0 and there is something to compute. All numeric dtypes. */
krt_status krt_argreduce(bool is_min, bool select_last, krt_dtype dt, int64_t outer, int64_t n,
                         int64_t inner, const void *x, int64_t *y);

/* Cumulative sum along the axis of (outer, n, inner); y may not alias x.
 * Variants: f32 f64 f16 bf16 i32 i64 u32 u64. */
krt_status krt_cumsum(krt_dtype dt, int64_t outer, int64_t n, int64_t inner, bool exclusive,
                      bool reverse, const void *x, void *y);

/* MeanVarianceNormalization: y = (x - mean) / (sqrt(var) + 1e-9), mean and
 * (population) variance over the axes in `mask`. Floats only. */
size_t krt_mvn_scratch_size(krt_dtype dt, int rank, const int64_t *dims, uint32_t mask);
krt_status krt_mvn(krt_dtype dt, int rank, const int64_t *dims, uint32_t mask, const void *x,
                   void *y, void *scratch);

/* ===== softmax family and losses (krt_reduce_softmax.c) =================== */

typedef enum krt_softmax_kind {
    KRT_SOFTMAX,    /* exp(x - max) / sum */
    KRT_LOGSOFTMAX, /* x - max - log(sum) */
    KRT_HARDMAX,    /* 1 at the first maximum, 0 elsewhere */
    KRT_SOFTMAX_KIND_COUNT
} krt_softmax_kind;

/* Along the axis of (outer, n, inner). y may alias x. Floats only. */
krt_status krt_softmax(krt_softmax_kind kind, krt_dtype dt, int64_t outer, int64_t n, int64_t inner,
                       const void *x, void *y);

typedef enum krt_loss_reduction {
    KRT_LOSS_NONE, /* loss has the target's shape */
    KRT_LOSS_SUM,  /* loss is a scalar */
    KRT_LOSS_MEAN, /* sum(loss) / sum(weight[target]) over the samples not ignored */
    KRT_LOSS_REDUCTION_COUNT
} krt_loss_reduction;

/* Input (n, c, inner) where inner = d1*...*dk; target (n, inner). */
typedef struct krt_loss_desc {
    krt_dtype dt;        /* input, weight and loss: f32 f64 f16 bf16 */
    krt_dtype target_dt; /* i32 or i64 */
    int64_t n, c, inner;
    krt_loss_reduction reduction;
    bool has_ignore; /* ignore_index given */
    int64_t ignore_index;
} krt_loss_desc;

/* NegativeLogLikelihoodLoss. weight: [c] or NULL. A target that is neither
 * ignore_index nor in [0, c) gives KRT_EINDEX with the value in *bad. */
krt_status krt_nll_loss(const krt_loss_desc *d, const void *input, const void *target,
                        const void *weight, void *loss, int64_t *bad /* OUT */);
/* SoftmaxCrossEntropyLoss: log_prob (n, c, inner) receives
 * LogSoftmax(scores, axis 1) (an output, or scratch the caller provides),
 * then the NLL loss of it. Same errors as krt_nll_loss. */
krt_status krt_softmax_cross_entropy(const krt_loss_desc *d, const void *scores, const void *target,
                                     const void *weight, void *loss, void *log_prob,
                                     int64_t *bad /* OUT */);

/* ===== normalizations (krt_reduce_norm.c) ================================= */

/* BatchNormalization, inference form, x (n, c, spatial):
 * y = (x - mean[c]) / sqrt(var[c] + epsilon) * scale[c] + bias[c].
 * scale/bias have dtype param_dt, mean/var stat_dt (each f32 f64 f16 bf16). */
krt_status krt_batchnorm(krt_dtype dt, krt_dtype param_dt, krt_dtype stat_dt, int64_t n, int64_t c,
                         int64_t spatial, const void *x, const void *scale, const void *bias,
                         const void *mean, const void *var, float epsilon, void *y);

/* InstanceNormalization, x (n, c, spatial): mean and variance per (n, c). */
krt_status krt_instancenorm(krt_dtype dt, int64_t n, int64_t c, int64_t spatial, const void *x,
                            const void *scale, const void *bias, float epsilon, void *y);

/* LayerNormalization over rows of `inner` contiguous elements, x (outer, inner).
 * scale [inner] (dtype dt), bias [inner] or NULL. mean and inv_std (outer),
 * of dtype stash_dt (f32 or bf16), may be NULL. Floats only. */
krt_status krt_layernorm(krt_dtype dt, krt_dtype stash_dt, int64_t outer, int64_t inner,
                         const void *x, const void *scale, const void *bias, float epsilon, void *y,
                         void *mean, void *inv_std);

/* Copy p (p_rank dims, each 1 or equal to the matching trailing dim of
 * dims) broadcast to the dense shape dims[0..rank): how LayerNormalization's
 * scale and bias of a smaller shape become [inner] arrays. Any dtype. */
void krt_broadcast_to(size_t elem_size, int rank, const int64_t *dims, int p_rank,
                      const int64_t *p_dims, const void *p, void *out);

/* LpNormalization along the axis of (outer, n, inner), p = 1 or 2:
 * y = x / ||x||_p; a zero norm gives 0. Floats only. */
krt_status krt_lpnorm(krt_dtype dt, int p, int64_t outer, int64_t n, int64_t inner, const void *x,
                      void *y);

/* LRN across channels, x (n, c, spatial). Floats only. */
krt_status krt_lrn(krt_dtype dt, int64_t n, int64_t c, int64_t spatial, int64_t size, float alpha,
                   float beta, float bias, const void *x, void *y);

/* ===== TopK (krt_reduce_topk.c) ============================================ */

/* The k largest (or smallest) along the axis of (outer, n, inner), in order;
 * equal values by lower index first; NaN counts as larger than any number.
 * values and indices are (outer, k, inner). KRT_EVALUE if k > n.
 * All numeric dtypes. */
size_t krt_topk_scratch_size(int64_t n, int64_t k);
krt_status krt_topk(krt_dtype dt, int64_t outer, int64_t n, int64_t inner, int64_t k, bool largest,
                    const void *x, void *values, int64_t *indices, void *scratch);

/* ===== Einsum and Det (krt_reduce_einsum.c) ================================ */

#define KRT_EINSUM_MAX_INPUTS 16
#define KRT_EINSUM_MAX_LABELS (52 + KRT_MAX_RANK)

/* A parsed equation. Labels are numbered so that the output's come first,
 * in output order (0 .. out_rank-1), then the summed ones. Ellipsis dims
 * get labels of their own. */
typedef struct krt_einsum_spec {
    int n_in;
    int n_labels;
    int out_rank;
    int in_rank[KRT_EINSUM_MAX_INPUTS];
    int8_t in_label[KRT_EINSUM_MAX_INPUTS][KRT_MAX_RANK]; /* label of each input axis */
} krt_einsum_spec;

/* Parse `equation` for n_in inputs of the given ranks. KRT_EVALUE with a
 * reason in *why (a string literal) when the equation is malformed or does
 * not fit the ranks. */
krt_status krt_einsum_parse(const char *equation, int n_in, const int *ranks,
                            krt_einsum_spec *spec /* OUT */, const char **why /* OUT */);
/* Size of every label: the dims carrying it must agree, or be 1 (broadcast).
 * KRT_EVALUE on a mismatch, with *bad_label set. */
krt_status krt_einsum_sizes(const krt_einsum_spec *spec, const int64_t *const *in_dims,
                            int64_t *sizes /* OUT [n_labels] */, int *bad_label /* OUT */);
/* out (dims = sizes of labels 0..out_rank-1) = sum over the other labels of
 * the product of the inputs. Variants: f32 f64 f16 i32 i64 u32 u64. */
krt_status krt_einsum(krt_dtype dt, const krt_einsum_spec *spec, const int64_t *const *in_dims,
                      const void *const *in, void *out);

/* Determinants of `batch` m x m matrices by LU with partial pivoting (in
 * double). Floats only. */
size_t krt_det_scratch_size(int64_t m);
krt_status krt_det(krt_dtype dt, int64_t batch, int64_t m, const void *x, void *y, void *scratch);

/* ===== for the family's own sources ====================================== */
#ifdef KRT_REDUCE_SOURCE
/* The conversions the dtype-generic macros use: KRT_LD_*(A, x) turns a
 * stored element into the compute type A, KRT_ST_*(T, a) stores a as the
 * storage type T; f16 and bf16 go through float. */
#define KRT_LD_CAST(A, x) ((A)(x))
#define KRT_LD_F16(A, x)  krt_f16_to_f32(x)
#define KRT_LD_BF16(A, x) krt_bf16_to_f32(x)
#define KRT_ST_CAST(T, a) ((T)(a))
#define KRT_ST_F16(T, a)  krt_f32_to_f16(a)
#define KRT_ST_BF16(T, a) krt_f32_to_bf16(a)
#endif

#endif /* KRT_REDUCE_H */
