/* lower_reduce.c — lowering of the reduce family: node -> kernel calls
 * (ir/lower.h; the kernels and their descriptors are in
 * runtime/krt_reduce.h).
 *
 * Shape inference has run on the node, so attributes, axes and K are
 * valid and the outputs have their final shapes; a lowering function reads
 * the attributes with their ONNX defaults, normalizes axes, computes the
 * (outer, n, inner) views and fills the descriptor. Inputs that carry axes
 * or K must be known now: they become descriptor fields, not operands.
 * A dtype no kernel variant covers, or a descriptor the kernel rejects, is
 * found here (the kernel is asked over an empty range) and reported naming
 * the node, so that no executor meets it at run time. Softmax, LogSoftmax,
 * Hardmax and BatchNormalization (flagged INPLACE in ops.def) may write y
 * over x: their kernels read every element before writing it.
 */
#include "ir/infer.h"
#include "ir/lower.h"
#include "runtime/krt_reduce.h"

#include <string.h>

static krt_dtype kdt(kiln_dtype dt)
{
    return (krt_dtype)dt;
}

static int64_t attr_i(const kiln_lower *l, const char *name, int64_t dflt)
{
    return kiln_attr_int(l->g, l->n, name, dflt);
}

static int64_t prod(const kiln_dim *d, int from, int to)
{
    int64_t p = 1;
    for (int i = from; i < to; i++)
        p *= d[i];
    return p;
}

/* ---- emitting ------------------------------------------------------------------ */

/* Emit a call to k after asking the kernel, over an empty range, whether
 * it has a variant for desc's dtypes and accepts its sizes. */
static kiln_status emit(kiln_lower *l, krt_kernel_id k, const void *desc, const uint32_t *ops,
                        uint32_t n)
{
    void *none[KRT_EINSUM_MAX_INPUTS + 1] = {0};
    krt_error err = {.operand = -1};
    const kiln_value *x = kiln_lower_in(l, 0);
    KILN_ASSERT(n <= sizeof none / sizeof none[0]);
    krt_status st = krt_kernels[k]->run(desc, none, NULL, (krt_span){0, 0}, &err);
    if (st == KRT_EDTYPE)
        return kiln_lower_unsupported(l, "kiln has no %s kernel for %s", kiln_op_name(l->n->op),
                                      kiln_dtype_name(x->dtype));
    if (st != KRT_OK)
        return kiln_lower_fail(l, "the %s kernel cannot run %s", krt_kernels[k]->name,
                               err.what ? err.what : "these operands");
    kiln_lower_emit(l, k, desc, ops, n);
    return KILN_OK;
}

/* The (outer, n, inner) view of a shape around `axis`. */
static void axis_view(const kiln_shape *s, int axis, int64_t v[3])
{
    v[0] = prod(s->dim, 0, axis);
    v[1] = s->dim[axis];
    v[2] = prod(s->dim, axis + 1, s->rank);
}

/* The `axis` attribute, normalized (inference checked the range). */
static kiln_status axis_attr(kiln_lower *l, int64_t dflt, int rank, int *axis)
{
    int64_t a = attr_i(l, "axis", dflt);
    if (!kiln_norm_axis(a, rank, axis))
        return kiln_lower_fail(l, "attribute 'axis' = %lld is out of range [%d, %d)", (long long)a,
                               -rank, rank);
    return KILN_OK;
}

/* Inputs x and y: the ops of the kernels with one input and one output. */
static kiln_status emit_xy(kiln_lower *l, krt_kernel_id k, const void *desc)
{
    uint32_t ops[] = {kiln_lower_in_id(l, 0), kiln_lower_out_id(l, 0)};
    return emit(l, k, desc, ops, 2);
}

/* ---- Reduce* ------------------------------------------------------------------------ */

static const krt_reduce_op reduce_ops[KILN_OP_COUNT] = {
    [KILN_OP_REDUCESUM] = KRT_REDUCE_SUM,
    [KILN_OP_REDUCEMEAN] = KRT_REDUCE_MEAN,
    [KILN_OP_REDUCEMAX] = KRT_REDUCE_MAX,
    [KILN_OP_REDUCEMIN] = KRT_REDUCE_MIN,
    [KILN_OP_REDUCEPROD] = KRT_REDUCE_PROD,
    [KILN_OP_REDUCEL1] = KRT_REDUCE_L1,
    [KILN_OP_REDUCEL2] = KRT_REDUCE_L2,
    [KILN_OP_REDUCELOGSUM] = KRT_REDUCE_LOGSUM,
    [KILN_OP_REDUCELOGSUMEXP] = KRT_REDUCE_LOGSUMEXP,
    [KILN_OP_REDUCESUMSQUARE] = KRT_REDUCE_SUMSQUARE,
};

/* Reduced axes as a bit mask: input 1, or all (none with noop_with_empty_axes). */
static kiln_status reduce_mask(kiln_lower *l, int rank, uint32_t *mask)
{
    int64_t axes[KILN_MAX_RANK];
    int64_t n = kiln_lower_in(l, 1) ? kiln_lower_ints(l, 1, axes, KILN_MAX_RANK) : 0;
    int axis;
    *mask = 0;
    if (n < 0)
        return kiln_lower_fail(l, "input 1 (axes) must be known when the node is compiled");
    if (n == 0)
        *mask = attr_i(l, "noop_with_empty_axes", 0) ? 0 : (1u << rank) - 1;
    for (int64_t k = 0; k < n; k++) {
        if (!kiln_norm_axis(axes[k], rank, &axis))
            return kiln_lower_fail(l, "input 1 (axes): axis %lld is out of range [%d, %d)",
                                   (long long)axes[k], -rank, rank);
        *mask |= 1u << axis;
    }
    return KILN_OK;
}

static kiln_status lower_reduce(kiln_lower *l)
{
    const kiln_value *x = kiln_lower_in(l, 0);
    krt_reduce_desc d = {.op = reduce_ops[l->n->op], .dt = kdt(x->dtype), .rank = x->shape.rank};
    kiln_status st = reduce_mask(l, x->shape.rank, &d.mask);
    memcpy(d.dims, x->shape.dim, sizeof d.dims);
    return st != KILN_OK ? st : emit_xy(l, KRT_K_REDUCE, &d);
}

static kiln_status lower_mvn(kiln_lower *l)
{
    static const int64_t dflt[] = {0, 2, 3};
    const kiln_value *x = kiln_lower_in(l, 0);
    krt_mvn_desc d = {.dt = kdt(x->dtype), .rank = x->shape.rank};
    uint32_t n = 3;
    const int64_t *axes = kiln_attr_ints(l->g, l->n, "axes", &n);
    int axis;
    if (!axes)
        axes = dflt, n = 3;
    for (uint32_t k = 0; k < n; k++)
        if (kiln_norm_axis(axes[k], x->shape.rank, &axis))
            d.mask |= 1u << axis;
    memcpy(d.dims, x->shape.dim, sizeof d.dims);
    return emit_xy(l, KRT_K_MVN, &d);
}

/* ---- ArgMax, ArgMin, CumSum ------------------------------------------------------------ */

static kiln_status lower_arg(kiln_lower *l)
{
    const kiln_value *x = kiln_lower_in(l, 0);
    krt_argreduce_desc d = {.dt = kdt(x->dtype), .is_min = l->n->op == KILN_OP_ARGMIN,
                            .select_last = attr_i(l, "select_last_index", 0) != 0};
    int64_t v[3];
    int axis;
    kiln_status st = axis_attr(l, 0, x->shape.rank, &axis);
    if (st != KILN_OK)
        return st;
    axis_view(&x->shape, axis, v);
    d.outer = v[0], d.n = v[1], d.inner = v[2];
    return emit_xy(l, KRT_K_ARGREDUCE, &d);
}

static kiln_status lower_cumsum(kiln_lower *l)
{
    const kiln_value *x = kiln_lower_in(l, 0);
    krt_cumsum_desc d = {.dt = kdt(x->dtype), .exclusive = attr_i(l, "exclusive", 0) != 0,
                         .reverse = attr_i(l, "reverse", 0) != 0};
    int64_t a, v[3];
    int axis;
    if (kiln_lower_ints(l, 1, &a, 1) != 1)
        return kiln_lower_fail(l, "input 1 (axis) must be one integer known when the node is compiled");
    if (!kiln_norm_axis(a, x->shape.rank, &axis))
        return kiln_lower_fail(l, "input 1 (axis) = %lld is out of range [%d, %d)", (long long)a,
                               -x->shape.rank, x->shape.rank);
    axis_view(&x->shape, axis, v);
    d.outer = v[0], d.n = v[1], d.inner = v[2];
    return emit_xy(l, KRT_K_CUMSUM, &d);
}

/* ---- Softmax, LogSoftmax, Hardmax --------------------------------------------------------- */

static kiln_status lower_softmax(kiln_lower *l)
{
    static const krt_softmax_kind kinds[KILN_OP_COUNT] = {
        [KILN_OP_SOFTMAX] = KRT_SOFTMAX,
        [KILN_OP_LOGSOFTMAX] = KRT_LOGSOFTMAX,
        [KILN_OP_HARDMAX] = KRT_HARDMAX,
    };
    const kiln_value *x = kiln_lower_in(l, 0);
    krt_softmax_desc d = {.kind = kinds[l->n->op], .dt = kdt(x->dtype)};
    int64_t v[3];
    int axis;
    kiln_status st = axis_attr(l, -1, x->shape.rank, &axis);
    if (st != KILN_OK)
        return st;
    axis_view(&x->shape, axis, v);
    d.outer = v[0], d.n = v[1], d.inner = v[2];
    st = emit_xy(l, KRT_K_SOFTMAX, &d);
    if (st == KILN_OK)
        l->out->calls[0].inplace = 0;  /* y over x (same dtype and shape) */
    return st;
}

/* ---- normalizations ------------------------------------------------------------------------ */

/* x (n, c, spatial...) as n, c and the product of the rest. */
static kiln_status nchw(kiln_lower *l, const kiln_value *x, int64_t *n, int64_t *c, int64_t *sp)
{
    if (x->shape.rank < 2)
        return kiln_lower_fail(l, "input 0 has rank %d, need >= 2", x->shape.rank);
    *n = x->shape.dim[0];
    *c = x->shape.dim[1];
    *sp = prod(x->shape.dim, 2, x->shape.rank);
    return KILN_OK;
}

static kiln_status lower_batchnorm(kiln_lower *l)
{
    const kiln_value *x = kiln_lower_in(l, 0);
    krt_batchnorm_desc d = {.dt = kdt(x->dtype), .param_dt = kdt(kiln_lower_in(l, 1)->dtype),
                            .stat_dt = kdt(kiln_lower_in(l, 3)->dtype),
                            .epsilon = kiln_attr_float(l->g, l->n, "epsilon", 1e-5f)};
    uint32_t ops[6];
    for (uint32_t i = 0; i < 5; i++)
        ops[i] = kiln_lower_in_id(l, i);
    ops[5] = kiln_lower_out_id(l, 0);
    kiln_status st = nchw(l, x, &d.n, &d.c, &d.spatial);
    if (st == KILN_OK)
        st = emit(l, KRT_K_BATCHNORM, &d, ops, 6);
    if (st == KILN_OK)
        l->out->calls[0].inplace = 0;  /* y over x (same dtype and shape) */
    return st;
}

static kiln_status lower_instancenorm(kiln_lower *l)
{
    const kiln_value *x = kiln_lower_in(l, 0);
    krt_instancenorm_desc d = {.dt = kdt(x->dtype),
                               .epsilon = kiln_attr_float(l->g, l->n, "epsilon", 1e-5f)};
    uint32_t ops[] = {kiln_lower_in_id(l, 0), kiln_lower_in_id(l, 1), kiln_lower_in_id(l, 2),
                      kiln_lower_out_id(l, 0)};
    kiln_status st = nchw(l, x, &d.n, &d.c, &d.spatial);
    return st != KILN_OK ? st : emit(l, KRT_K_INSTANCENORM, &d, ops, 4);
}

/* Scale or bias (input i) of LayerNormalization: its dims, aligned with
 * the normalized ones (rank 0 when absent). */
static kiln_status ln_param(kiln_lower *l, uint32_t i, int norm_rank, int32_t *rank, int64_t *dims)
{
    const kiln_value *p = kiln_lower_in(l, i);
    *rank = p ? p->shape.rank : 0;
    if (p && p->shape.rank > norm_rank)
        return kiln_lower_fail(l, "input %u ('%s') has rank %d, more than the %d normalized dims",
                               i, p->name, p->shape.rank, norm_rank);
    for (int k = 0; k < *rank; k++)
        dims[k] = p->shape.dim[k];
    return KILN_OK;
}

static kiln_status lower_layernorm(kiln_lower *l)
{
    const kiln_value *x = kiln_lower_in(l, 0);
    krt_layernorm_desc d = {.dt = kdt(x->dtype),
                            .stash_dt = attr_i(l, "stash_type", 1) == 16 ? KRT_BF16 : KRT_F32,
                            .epsilon = kiln_attr_float(l->g, l->n, "epsilon", 1e-5f)};
    uint32_t ops[] = {kiln_lower_in_id(l, 0),  kiln_lower_in_id(l, 1),  kiln_lower_in_id(l, 2),
                      kiln_lower_out_id(l, 0), kiln_lower_out_id(l, 1), kiln_lower_out_id(l, 2)};
    int axis;
    kiln_status st = axis_attr(l, -1, x->shape.rank, &axis);
    if (st != KILN_OK)
        return st;
    d.outer = prod(x->shape.dim, 0, axis);
    d.inner = prod(x->shape.dim, axis, x->shape.rank);
    d.norm_rank = x->shape.rank - axis;
    memcpy(d.norm_dims, x->shape.dim + axis, (size_t)d.norm_rank * sizeof d.norm_dims[0]);
    st = ln_param(l, 1, d.norm_rank, &d.scale_rank, d.scale_dims);
    if (st == KILN_OK)
        st = ln_param(l, 2, d.norm_rank, &d.bias_rank, d.bias_dims);
    return st != KILN_OK ? st : emit(l, KRT_K_LAYERNORM, &d, ops, 6);
}

static kiln_status lower_lpnorm(kiln_lower *l)
{
    const kiln_value *x = kiln_lower_in(l, 0);
    krt_lpnorm_desc d = {.dt = kdt(x->dtype), .p = (int32_t)attr_i(l, "p", 2)};
    int64_t v[3];
    int axis;
    kiln_status st = axis_attr(l, -1, x->shape.rank, &axis);
    if (st != KILN_OK)
        return st;
    axis_view(&x->shape, axis, v);
    d.outer = v[0], d.n = v[1], d.inner = v[2];
    return emit_xy(l, KRT_K_LPNORM, &d);
}

static kiln_status lower_lrn(kiln_lower *l)
{
    const kiln_value *x = kiln_lower_in(l, 0);
    krt_lrn_desc d = {.dt = kdt(x->dtype), .size = attr_i(l, "size", 1),
                      .alpha = kiln_attr_float(l->g, l->n, "alpha", 1e-4f),
                      .beta = kiln_attr_float(l->g, l->n, "beta", 0.75f),
                      .bias = kiln_attr_float(l->g, l->n, "bias", 1.0f)};
    kiln_status st = nchw(l, x, &d.n, &d.c, &d.spatial);
    return st != KILN_OK ? st : emit_xy(l, KRT_K_LRN, &d);
}

/* ---- losses ------------------------------------------------------------------------------- */

static kiln_status lower_loss(kiln_lower *l)
{
    const kiln_value *x = kiln_lower_in(l, 0);
    const char *r = kiln_attr_string(l->g, l->n, "reduction", "mean");
    const kiln_attr *ii = kiln_attr_find(l->g, l->n, "ignore_index");
    krt_loss_desc d = {
        .kind = l->n->op == KILN_OP_NEGATIVELOGLIKELIHOODLOSS ? KRT_LOSS_NLL : KRT_LOSS_SOFTMAX_CE,
        .dt = kdt(x->dtype),
        .target_dt = kdt(kiln_lower_in(l, 1)->dtype),
        .reduction = strcmp(r, "none") == 0  ? KRT_LOSS_NONE
                     : strcmp(r, "sum") == 0 ? KRT_LOSS_SUM
                                             : KRT_LOSS_MEAN,
        .has_ignore = ii != NULL,
        .ignore_index = ii ? ii->u.i : 0,
    };
    uint32_t ops[] = {kiln_lower_in_id(l, 0), kiln_lower_in_id(l, 1), kiln_lower_in_id(l, 2),
                      kiln_lower_out_id(l, 0), kiln_lower_out_id(l, 1)};
    kiln_status st = nchw(l, x, &d.n, &d.c, &d.inner);
    return st != KILN_OK ? st : emit(l, KRT_K_LOSS, &d, ops, 5);
}

/* ---- TopK, Einsum, Det ------------------------------------------------------------------------ */

static kiln_status lower_topk(kiln_lower *l)
{
    const kiln_value *x = kiln_lower_in(l, 0);
    krt_topk_desc d = {.dt = kdt(x->dtype), .largest = attr_i(l, "largest", 1) != 0};
    uint32_t ops[] = {kiln_lower_in_id(l, 0), kiln_lower_out_id(l, 0), kiln_lower_out_id(l, 1)};
    int64_t v[3];
    int axis;
    kiln_status st = axis_attr(l, -1, x->shape.rank, &axis);
    if (st != KILN_OK)
        return st;
    if (kiln_lower_ints(l, 1, &d.k, 1) != 1)
        return kiln_lower_fail(l, "input 1 (K) must be one integer known when the node is compiled");
    axis_view(&x->shape, axis, v);
    d.outer = v[0], d.n = v[1], d.inner = v[2];
    if (d.k < 0 || d.k > d.n)
        return kiln_lower_fail(l, "K = %lld is out of range [0, %lld] in input 1", (long long)d.k,
                               (long long)d.n);
    return emit(l, KRT_K_TOPK, &d, ops, 3);
}

static kiln_status lower_einsum(kiln_lower *l)
{
    int n_in = (int)l->n->n_in, ranks[KRT_EINSUM_MAX_INPUTS];
    const char *eq = kiln_attr_string(l->g, l->n, "equation", ""), *why;
    krt_einsum_desc d = {.dt = kdt(kiln_lower_in(l, 0)->dtype)};
    uint32_t ops[KRT_EINSUM_MAX_INPUTS + 1];
    for (int i = 0; i < n_in && i < KRT_EINSUM_MAX_INPUTS; i++) {
        const kiln_value *v = kiln_lower_in(l, (uint32_t)i);
        ranks[i] = v->shape.rank;
        memcpy(d.in_dims[i], v->shape.dim, sizeof d.in_dims[i]);
        ops[i] = kiln_lower_in_id(l, (uint32_t)i);
    }
    if (krt_einsum_parse(eq, n_in, ranks, &d.spec, &why))
        return kiln_lower_fail(l, "equation '%s' has %s", eq, why);
    ops[n_in] = kiln_lower_out_id(l, 0);
    return emit(l, KRT_K_EINSUM, &d, ops, (uint32_t)n_in + 1);
}

static kiln_status lower_det(kiln_lower *l)
{
    const kiln_value *x = kiln_lower_in(l, 0);
    krt_det_desc d = {.dt = kdt(x->dtype)};
    if (x->shape.rank < 2)
        return kiln_lower_fail(l, "input 0 has rank %d, need >= 2", x->shape.rank);
    d.batch = prod(x->shape.dim, 0, x->shape.rank - 2);
    d.m = x->shape.dim[x->shape.rank - 1];
    return emit_xy(l, KRT_K_DET, &d);
}

const kiln_lower_fn kiln_lower_reduce[KILN_OP_COUNT] = {
    [KILN_OP_REDUCESUM] = lower_reduce,
    [KILN_OP_REDUCEMEAN] = lower_reduce,
    [KILN_OP_REDUCEMAX] = lower_reduce,
    [KILN_OP_REDUCEMIN] = lower_reduce,
    [KILN_OP_REDUCEPROD] = lower_reduce,
    [KILN_OP_REDUCEL1] = lower_reduce,
    [KILN_OP_REDUCEL2] = lower_reduce,
    [KILN_OP_REDUCELOGSUM] = lower_reduce,
    [KILN_OP_REDUCELOGSUMEXP] = lower_reduce,
    [KILN_OP_REDUCESUMSQUARE] = lower_reduce,
    [KILN_OP_ARGMAX] = lower_arg,
    [KILN_OP_ARGMIN] = lower_arg,
    [KILN_OP_CUMSUM] = lower_cumsum,
    [KILN_OP_SOFTMAX] = lower_softmax,
    [KILN_OP_LOGSOFTMAX] = lower_softmax,
    [KILN_OP_HARDMAX] = lower_softmax,
    [KILN_OP_BATCHNORMALIZATION] = lower_batchnorm,
    [KILN_OP_INSTANCENORMALIZATION] = lower_instancenorm,
    [KILN_OP_LAYERNORMALIZATION] = lower_layernorm,
    [KILN_OP_LPNORMALIZATION] = lower_lpnorm,
    [KILN_OP_LRN] = lower_lrn,
    [KILN_OP_MEANVARIANCENORMALIZATION] = lower_mvn,
    [KILN_OP_NEGATIVELOGLIKELIHOODLOSS] = lower_loss,
    [KILN_OP_SOFTMAXCROSSENTROPYLOSS] = lower_loss,
    [KILN_OP_TOPK] = lower_topk,
    [KILN_OP_EINSUM] = lower_einsum,
    [KILN_OP_DET] = lower_det,
};
