/* krt_reduce.h — kernels of the reduce family: reductions, arg-reductions,
 * cumulative sums, softmax / log-softmax / hardmax, normalizations, losses,
 * TopK, Einsum and Det.
 *
 * Every kernel here is called through the one kernel ABI
 * (runtime/krt_kernel.h): a krt_<name>_desc below, the operands in the
 * order its comment gives (inputs, then outputs), a work range.
 *
 * Sources, one per sub-family (dtype variants by macro inside each):
 *   krt_reduce.c          reduce (Reduce*), argreduce, cumsum, mvn
 *   krt_reduce_softmax.c  softmax (Softmax, LogSoftmax, Hardmax), loss (NLL, softmax CE)
 *   krt_reduce_norm.c     batchnorm, instancenorm, layernorm, lpnorm, lrn
 *   krt_reduce_topk.c     topk
 *   krt_reduce_einsum.c   einsum (and the equation parser), det
 *
 * Conventions shared by every kernel here:
 *   - Tensors are dense, C order. An op "along one axis" sees its input as
 *     (outer, n, inner): outer = product of the dims before the axis, n the
 *     axis length, inner = product of the dims after it.
 *   - f16 and bf16 are stored as raw 16-bit patterns and computed in float;
 *     f32 in float; f64 in double; integers in int64 / uint64.
 *   - Work units are independent slices of the outputs (outer rows,
 *     (n, c) planes, matrices), grouped so that a unit holds about
 *     KRT_REDUCE_GRAIN input elements. Within a slice the kernel computes
 *     exactly as over the whole tensor, so any split gives the same bytes.
 *     Kernels that would need a different order to split have one unit.
 *   - run() checks the descriptor before it touches an operand: a call over
 *     an empty range with NULL operands returns KRT_EDTYPE when the kernel
 *     has no variant for its dtypes, KRT_EVALUE (err->what says why) when
 *     its sizes or attributes are impossible, else KRT_OK. Bad values met
 *     in the data (a class label out of range) give KRT_EINDEX with `err`
 *     naming the operand, the value and its position.
 *   - Descriptors have no padding bytes (`reserved` fields fill the gaps),
 *     so equal descriptors are equal bytes.
 *   - Scratch, when a kernel needs it, is scratch_size(desc) bytes per
 *     thread from the caller.
 */
#ifndef KRT_REDUCE_H
#define KRT_REDUCE_H

#include "runtime/krt.h"
#include "runtime/krt_kernel.h"

#include <stdbool.h>

/* Input elements per work unit, about. */
#define KRT_REDUCE_GRAIN 16384

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

/* Kernel `reduce`: ops {x, y}. The axes of x whose bit is set in `mask`
 * are reduced; y holds the kept dims in order (keepdims does not change
 * the layout). A reduction over no element gives the op's identity: 0 for
 * the sums, 1 for prod, -inf / +inf (integers: the type's min / max) for
 * max / min, NaN for mean of floats, -inf for log-sum and log-sum-exp.
 * Variants: f32 f64 f16 bf16 i8 u8 i32 i64 u32 u64 (log-sum-exp: floats
 * only). Max and min propagate NaN. Units: rows of the outermost kept
 * dims (after merging adjacent reduced / kept dims); one unit when the
 * outermost dim is reduced. Scratch: accumulators. */
typedef struct krt_reduce_desc {
    krt_reduce_op op;
    krt_dtype dt;                 /* x and y */
    int32_t rank;                 /* x's rank, 0..KRT_MAX_RANK */
    uint32_t mask;                /* bit i: axis i is reduced */
    int64_t dims[KRT_MAX_RANK];   /* x's dims */
} krt_reduce_desc;

/* Kernel `mvn` (MeanVarianceNormalization): ops {x, y}, y = (x - mean) /
 * (sqrt(var) + 1e-9), mean and (population) variance over the axes in
 * `mask`; y has x's shape. Floats only. Units as for `reduce`. Scratch:
 * the statistics. */
typedef struct krt_mvn_desc {
    krt_dtype dt;                 /* x and y */
    int32_t rank;                 /* x's rank */
    uint32_t mask;                /* bit i: axis i is a statistics axis */
    int32_t reserved;             /* 0: the descriptor has no padding bytes */
    int64_t dims[KRT_MAX_RANK];   /* x's dims */
} krt_mvn_desc;

/* Kernel `argreduce` (ArgMax, ArgMin): ops {x, y}, y (outer, inner) i64
 * receives the first (select_last: the last) index of the extreme value
 * along the axis of x (outer, n, inner); NaN counts as the extreme, as in
 * numpy. KRT_EVALUE when n == 0 and there is something to compute. All
 * numeric dtypes. Units: rows of outer. */
typedef struct krt_argreduce_desc {
    krt_dtype dt;                 /* x */
    int32_t is_min;               /* ArgMin */
    int32_t select_last;
    int32_t reserved;             /* 0: the descriptor has no padding bytes */
    int64_t outer, n, inner;      /* x's view around the axis */
} krt_argreduce_desc;

/* Kernel `cumsum`: ops {x, y}, cumulative sum along the axis of x (outer,
 * n, inner); y may not alias x. Variants: f32 f64 f16 bf16 i32 i64 u32
 * u64. Units: rows of outer. */
typedef struct krt_cumsum_desc {
    krt_dtype dt;                 /* x and y */
    int32_t exclusive, reverse;
    int32_t reserved;             /* 0: the descriptor has no padding bytes */
    int64_t outer, n, inner;
} krt_cumsum_desc;

/* ===== softmax family and losses (krt_reduce_softmax.c) =================== */

typedef enum krt_softmax_kind {
    KRT_SOFTMAX,    /* exp(x - max) / sum */
    KRT_LOGSOFTMAX, /* x - max - log(sum) */
    KRT_HARDMAX,    /* 1 at the first maximum, 0 elsewhere */
    KRT_SOFTMAX_KIND_COUNT
} krt_softmax_kind;

/* Kernel `softmax`: ops {x, y} along the axis of (outer, n, inner). y may
 * be x. Floats only. Units: rows of outer. */
typedef struct krt_softmax_desc {
    krt_softmax_kind kind;
    krt_dtype dt;                 /* x and y */
    int64_t outer, n, inner;
} krt_softmax_desc;

typedef enum krt_loss_reduction {
    KRT_LOSS_NONE, /* loss has the target's shape */
    KRT_LOSS_SUM,  /* loss is a scalar */
    KRT_LOSS_MEAN, /* sum(loss) / sum(weight[target]) over the samples not ignored */
    KRT_LOSS_REDUCTION_COUNT
} krt_loss_reduction;

typedef enum krt_loss_kind {
    KRT_LOSS_NLL,           /* NegativeLogLikelihoodLoss of the input */
    KRT_LOSS_SOFTMAX_CE,    /* SoftmaxCrossEntropyLoss: NLL of LogSoftmax(scores, axis 1) */
    KRT_LOSS_KIND_COUNT
} krt_loss_kind;

/* Kernel `loss`: ops {input, target, weight, loss, log_prob}. input
 * (n, c, inner) where inner = d1*...*dk; target (n, inner); weight [c] or
 * NULL; log_prob (n, c, inner) receives LogSoftmax(input) for
 * KRT_LOSS_SOFTMAX_CE (NULL: into scratch). A target that is neither
 * ignore_index nor in [0, c) gives KRT_EINDEX naming operand 1. One unit. */
typedef struct krt_loss_desc {
    krt_loss_kind kind;
    krt_dtype dt;                 /* input, weight, loss, log_prob: f32 f64 f16 bf16 */
    krt_dtype target_dt;          /* i32 or i64 */
    krt_loss_reduction reduction;
    int32_t has_ignore;           /* ignore_index given */
    int32_t reserved;             /* 0: the descriptor has no padding bytes */
    int64_t ignore_index;
    int64_t n, c, inner;
} krt_loss_desc;

/* ===== normalizations (krt_reduce_norm.c) ================================= */

/* Kernel `batchnorm` (BatchNormalization, inference form): ops {x, scale,
 * bias, mean, var, y}, x (n, c, spatial):
 * y = (x - mean[c]) / sqrt(var[c] + epsilon) * scale[c] + bias[c].
 * Units: (n, c) planes. y may be x. */
typedef struct krt_batchnorm_desc {
    krt_dtype dt;                 /* x and y: f32 f64 f16 bf16 */
    krt_dtype param_dt;           /* scale and bias: the same choice */
    krt_dtype stat_dt;            /* mean and var: the same choice */
    float epsilon;
    int64_t n, c, spatial;
} krt_batchnorm_desc;

/* Kernel `instancenorm`: ops {x, scale, bias, y}, x (n, c, spatial): mean
 * and variance per (n, c) plane; scale, bias [c]. Floats only. Units:
 * (n, c) planes. */
typedef struct krt_instancenorm_desc {
    krt_dtype dt;                 /* every operand */
    float epsilon;
    int64_t n, c, spatial;
} krt_instancenorm_desc;

/* Kernel `layernorm`: ops {x, scale, bias, y, mean, inv_std}; x (outer,
 * inner) normalized over rows of `inner` contiguous elements; scale and
 * bias (NULL: none) of dtype dt broadcast to x's trailing dims
 * norm_dims[0..norm_rank) (product inner); mean and inv_std (outer) of
 * stash_dt, each may be NULL. Floats only. Units: rows of outer. Scratch:
 * scale and bias broadcast to [inner] when they are smaller. */
typedef struct krt_layernorm_desc {
    krt_dtype dt;                 /* x, scale, bias, y */
    krt_dtype stash_dt;           /* mean and inv_std: f32 or bf16 */
    float epsilon;
    int32_t norm_rank;                  /* x's rank - axis */
    int32_t scale_rank, bias_rank;      /* <= norm_rank, aligned right */
    int64_t outer, inner;
    int64_t norm_dims[KRT_MAX_RANK];    /* x's dims from the axis on */
    int64_t scale_dims[KRT_MAX_RANK];
    int64_t bias_dims[KRT_MAX_RANK];
} krt_layernorm_desc;

/* Kernel `lpnorm`: ops {x, y}, y = x / ||x||_p along the axis of (outer, n,
 * inner), p = 1 or 2; a zero norm gives 0. Floats only. Units: rows of
 * outer. */
typedef struct krt_lpnorm_desc {
    krt_dtype dt;
    int32_t p;
    int64_t outer, n, inner;
} krt_lpnorm_desc;

/* Kernel `lrn`: ops {x, y}, LRN across channels of x (n, c, spatial).
 * Floats only. Units: rows of n. */
typedef struct krt_lrn_desc {
    krt_dtype dt;
    float alpha, beta, bias;
    int64_t size;                 /* > 0 */
    int64_t n, c, spatial;
} krt_lrn_desc;

/* ===== TopK (krt_reduce_topk.c) ============================================ */

/* Kernel `topk`: ops {x, values, indices}, the k largest (or smallest)
 * along the axis of x (outer, n, inner), in order; equal values by lower
 * index first; NaN counts as larger than any number. values (dtype dt)
 * and indices (i64) are (outer, k, inner). KRT_EVALUE if k > n. All
 * numeric dtypes. Units: rows of outer. Scratch: a heap of k entries. */
typedef struct krt_topk_desc {
    krt_dtype dt;
    int32_t largest;
    int64_t outer, n, inner, k;
} krt_topk_desc;

/* ===== Einsum and Det (krt_reduce_einsum.c) ================================ */

#define KRT_EINSUM_MAX_INPUTS 16
#define KRT_EINSUM_MAX_LABELS (52 + KRT_MAX_RANK)

/* A parsed equation. Labels are numbered so that the output's come first,
 * in output order (0 .. out_rank-1), then the summed ones. Ellipsis dims
 * get labels of their own. */
typedef struct krt_einsum_spec {
    int32_t n_in;
    int32_t n_labels;
    int32_t out_rank;
    int32_t in_rank[KRT_EINSUM_MAX_INPUTS];
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

/* Kernel `einsum`: ops {in[0], ..., in[spec.n_in - 1], out}: out (dims =
 * sizes of labels 0..out_rank-1) = sum over the other labels of the
 * product of the inputs. Variants: f32 f64 f16 i32 i64 u32 u64. One unit. */
typedef struct krt_einsum_desc {
    krt_dtype dt;                 /* every operand */
    krt_einsum_spec spec;
    int64_t in_dims[KRT_EINSUM_MAX_INPUTS][KRT_MAX_RANK]; /* input i's dims */
} krt_einsum_desc;

/* Kernel `det`: ops {x, y}, determinants of `batch` m x m matrices by LU
 * with partial pivoting (in double). Floats only. Units: matrices.
 * Scratch: one matrix in double. */
typedef struct krt_det_desc {
    krt_dtype dt;
    int32_t reserved;             /* 0: the descriptor has no padding bytes */
    int64_t batch, m;
} krt_det_desc;

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

/* Rows of row_elems input elements per unit: about KRT_REDUCE_GRAIN
 * elements a unit, at least one row. */
static inline int64_t krt_rows_per_unit(int64_t row_elems)
{
    return row_elems >= KRT_REDUCE_GRAIN ? 1 : KRT_REDUCE_GRAIN / (row_elems > 0 ? row_elems : 1);
}
/* The units of `rows` rows (at least one). */
static inline int64_t krt_row_units(int64_t rows, int64_t row_elems)
{
    int64_t g = krt_rows_per_unit(row_elems);
    return rows > g ? (rows + g - 1) / g : 1;
}
/* The rows [*first, *end) that units r cover. */
static inline void krt_unit_rows(krt_span r, int64_t rows, int64_t row_elems, int64_t *first,
                                 int64_t *end)
{
    int64_t g = krt_rows_per_unit(row_elems);
    *first = r.begin * g < rows ? r.begin * g : rows;
    *end = r.end * g < rows ? r.end * g : rows;
    if (*end < *first)
        *end = *first;
}
#endif

#endif /* KRT_REDUCE_H */
