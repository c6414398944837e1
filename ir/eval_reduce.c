/* eval_reduce.c — interpreter entries for the reduce family: unpack the
 * node (attributes, shapes, data), call the runtime kernel
 * (runtime/krt_reduce.h), turn a krt_status into a message naming the node.
 *
 * Shape inference has already run on this node with every input's data
 * known (ir/interp.c), so attributes, axes and K are valid here and the
 * outputs are allocated with their final shapes; the entries only
 * normalize axes and compute the (outer, n, inner) views.
 */
#include "ir/infer.h"
#include "ir/interp.h"
#include "runtime/krt_reduce.h"

#include <string.h>

/* ---- helpers ------------------------------------------------------------ */

static int64_t attr_i(const kiln_eval *e, const char *name, int64_t dflt)
{
    return kiln_attr_int(e->g, e->n, name, dflt);
}

static int64_t numel(const kiln_value *v)
{
    int64_t n = 0;
    kiln_shape_numel(&v->shape, &n);
    return n;
}

static int64_t prod(const kiln_dim *d, int from, int to)
{
    int64_t p = 1;
    for (int i = from; i < to; i++)
        p *= d[i];
    return p;
}

/* The (outer, n, inner) view of a shape around `axis`. */
static void axis_view(const kiln_shape *s, int axis, int64_t v[3])
{
    v[0] = prod(s->dim, 0, axis);
    v[1] = s->dim[axis];
    v[2] = prod(s->dim, axis + 1, s->rank);
}

/* An axis attribute, normalized (inference checked the range). */
static int axis_attr(const kiln_eval *e, int64_t dflt, int rank)
{
    int axis = 0;
    kiln_norm_axis(attr_i(e, "axis", dflt), rank, &axis);
    return axis;
}

/* Element k of an i32 / i64 input. */
static int64_t index_at(const kiln_value *v, int64_t k)
{
    return krt_load_i64((krt_dtype)v->dtype, v->data, k);
}

/* A krt_status for this node: no variant for the dtype is "unsupported";
 * bad values that inference could not see are runtime errors. */
static kiln_status check(kiln_eval *e, krt_status st, kiln_dtype dt)
{
    if (st == KRT_OK)
        return KILN_OK;
    if (st == KRT_EDTYPE)
        return kiln_eval_unsupported(e, "the interpreter has no %s kernel for %s",
                                     kiln_op_name(e->n->op), kiln_dtype_name(dt));
    return kiln_eval_fail(e, "the %s kernel rejected its input values (%s)", kiln_op_name(e->n->op),
                          st == KRT_EINDEX ? "index out of range" : "bad value");
}

/* ---- Reduce* ----------------------------------------------------------------- */

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
static uint32_t reduce_mask(const kiln_eval *e, int rank)
{
    const kiln_value *a = kiln_eval_in(e, 1);
    int64_t n = a ? numel(a) : 0;
    uint32_t mask = 0;
    int axis;
    if (n == 0)
        return attr_i(e, "noop_with_empty_axes", 0) ? 0 : (1u << rank) - 1;
    for (int64_t k = 0; k < n; k++)
        if (kiln_norm_axis(((const int64_t *)a->data)[k], rank, &axis))
            mask |= 1u << axis;
    return mask;
}

static kiln_status eval_reduce(kiln_eval *e)
{
    const kiln_value *x = kiln_eval_in(e, 0);
    krt_reduce_op op = reduce_ops[e->n->op];
    krt_dtype dt = (krt_dtype)x->dtype;
    int rank = x->shape.rank;
    uint32_t mask = reduce_mask(e, rank);
    void *scratch = kiln_eval_scratch(e, krt_reduce_scratch_size(op, dt, rank, x->shape.dim, mask));
    return check(
        e, krt_reduce(op, dt, rank, x->shape.dim, mask, x->data, kiln_eval_out_data(e, 0), scratch),
        x->dtype);
}

/* ---- ArgMax, ArgMin, CumSum ---------------------------------------------------- */

static kiln_status eval_arg(kiln_eval *e)
{
    const kiln_value *x = kiln_eval_in(e, 0);
    int64_t v[3];
    axis_view(&x->shape, axis_attr(e, 0, x->shape.rank), v);
    return check(e,
                 krt_argreduce(e->n->op == KILN_OP_ARGMIN, attr_i(e, "select_last_index", 0),
                               (krt_dtype)x->dtype, v[0], v[1], v[2], x->data,
                               kiln_eval_out_data(e, 0)),
                 x->dtype);
}

static kiln_status eval_cumsum(kiln_eval *e)
{
    const kiln_value *x = kiln_eval_in(e, 0);
    int64_t v[3];
    int axis = 0;
    kiln_norm_axis(index_at(kiln_eval_in(e, 1), 0), x->shape.rank, &axis);
    axis_view(&x->shape, axis, v);
    return check(e,
                 krt_cumsum((krt_dtype)x->dtype, v[0], v[1], v[2], attr_i(e, "exclusive", 0),
                            attr_i(e, "reverse", 0), x->data, kiln_eval_out_data(e, 0)),
                 x->dtype);
}

/* ---- Softmax, LogSoftmax, Hardmax ------------------------------------------------- */

static kiln_status eval_softmax(kiln_eval *e)
{
    const kiln_value *x = kiln_eval_in(e, 0);
    krt_softmax_kind kind = e->n->op == KILN_OP_SOFTMAX      ? KRT_SOFTMAX
                            : e->n->op == KILN_OP_LOGSOFTMAX ? KRT_LOGSOFTMAX
                                                             : KRT_HARDMAX;
    int64_t v[3];
    axis_view(&x->shape, axis_attr(e, -1, x->shape.rank), v);
    return check(
        e,
        krt_softmax(kind, (krt_dtype)x->dtype, v[0], v[1], v[2], x->data, kiln_eval_out_data(e, 0)),
        x->dtype);
}

/* ---- normalizations ------------------------------------------------------------------ */

static kiln_status eval_batchnorm(kiln_eval *e)
{
    const kiln_value *x = kiln_eval_in(e, 0);
    const kiln_dim *d = x->shape.dim;
    return check(
        e,
        krt_batchnorm((krt_dtype)x->dtype, (krt_dtype)kiln_eval_in(e, 1)->dtype,
                      (krt_dtype)kiln_eval_in(e, 3)->dtype, d[0], d[1], prod(d, 2, x->shape.rank),
                      x->data, kiln_eval_in(e, 1)->data, kiln_eval_in(e, 2)->data,
                      kiln_eval_in(e, 3)->data, kiln_eval_in(e, 4)->data,
                      kiln_attr_float(e->g, e->n, "epsilon", 1e-5f), kiln_eval_out_data(e, 0)),
        x->dtype);
}

static kiln_status eval_instancenorm(kiln_eval *e)
{
    const kiln_value *x = kiln_eval_in(e, 0);
    const kiln_dim *d = x->shape.dim;
    return check(e,
                 krt_instancenorm((krt_dtype)x->dtype, d[0], d[1], prod(d, 2, x->shape.rank),
                                  x->data, kiln_eval_in(e, 1)->data, kiln_eval_in(e, 2)->data,
                                  kiln_attr_float(e->g, e->n, "epsilon", 1e-5f),
                                  kiln_eval_out_data(e, 0)),
                 x->dtype);
}

/* LayerNormalization's Scale / B as an [inner] array: the data itself, or
 * a broadcast copy in scratch when the parameter has a smaller shape. */
static const void *ln_param(kiln_eval *e, uint32_t i, const kiln_shape *x, int axis)
{
    const kiln_value *p = kiln_eval_in(e, i);
    int64_t inner = prod(x->dim, axis, x->rank);
    if (!p || numel(p) == inner)
        return p ? p->data : NULL;
    size_t es = kiln_dtype_size(p->dtype);
    void *buf = kiln_eval_scratch(e, (size_t)inner * es);
    krt_broadcast_to(es, x->rank - axis, &x->dim[axis], p->shape.rank, p->shape.dim, p->data, buf);
    return buf;
}

static kiln_status eval_layernorm(kiln_eval *e)
{
    const kiln_value *x = kiln_eval_in(e, 0);
    int axis = axis_attr(e, -1, x->shape.rank);
    krt_dtype stash = attr_i(e, "stash_type", 1) == 16 ? KRT_BF16 : KRT_F32;
    return check(e,
                 krt_layernorm((krt_dtype)x->dtype, stash, prod(x->shape.dim, 0, axis),
                               prod(x->shape.dim, axis, x->shape.rank), x->data,
                               ln_param(e, 1, &x->shape, axis), ln_param(e, 2, &x->shape, axis),
                               kiln_attr_float(e->g, e->n, "epsilon", 1e-5f),
                               kiln_eval_out_data(e, 0), kiln_eval_out_data(e, 1),
                               kiln_eval_out_data(e, 2)),
                 x->dtype);
}

static kiln_status eval_lpnorm(kiln_eval *e)
{
    const kiln_value *x = kiln_eval_in(e, 0);
    int64_t v[3];
    axis_view(&x->shape, axis_attr(e, -1, x->shape.rank), v);
    return check(e,
                 krt_lpnorm((krt_dtype)x->dtype, (int)attr_i(e, "p", 2), v[0], v[1], v[2], x->data,
                            kiln_eval_out_data(e, 0)),
                 x->dtype);
}

static kiln_status eval_lrn(kiln_eval *e)
{
    const kiln_value *x = kiln_eval_in(e, 0);
    const kiln_dim *d = x->shape.dim;
    return check(e,
                 krt_lrn((krt_dtype)x->dtype, d[0], d[1], prod(d, 2, x->shape.rank),
                         attr_i(e, "size", 1), kiln_attr_float(e->g, e->n, "alpha", 1e-4f),
                         kiln_attr_float(e->g, e->n, "beta", 0.75f),
                         kiln_attr_float(e->g, e->n, "bias", 1.0f), x->data,
                         kiln_eval_out_data(e, 0)),
                 x->dtype);
}

static kiln_status eval_mvn(kiln_eval *e)
{
    static const int64_t dflt[] = {0, 2, 3};
    const kiln_value *x = kiln_eval_in(e, 0);
    uint32_t n = 3, mask = 0;
    const int64_t *axes = kiln_attr_ints(e->g, e->n, "axes", &n);
    int axis;
    if (!axes)
        axes = dflt, n = 3;
    for (uint32_t k = 0; k < n; k++)
        if (kiln_norm_axis(axes[k], x->shape.rank, &axis))
            mask |= 1u << axis;
    krt_dtype dt = (krt_dtype)x->dtype;
    void *scratch =
        kiln_eval_scratch(e, krt_mvn_scratch_size(dt, x->shape.rank, x->shape.dim, mask));
    return check(
        e,
        krt_mvn(dt, x->shape.rank, x->shape.dim, mask, x->data, kiln_eval_out_data(e, 0), scratch),
        x->dtype);
}

/* ---- losses ------------------------------------------------------------------------------ */

static krt_loss_desc loss_desc(const kiln_eval *e)
{
    const kiln_value *x = kiln_eval_in(e, 0);
    const char *r = kiln_attr_string(e->g, e->n, "reduction", "mean");
    const kiln_attr *ii = kiln_attr_find(e->g, e->n, "ignore_index");
    return (krt_loss_desc){
        .dt = (krt_dtype)x->dtype,
        .target_dt = (krt_dtype)kiln_eval_in(e, 1)->dtype,
        .n = x->shape.dim[0],
        .c = x->shape.dim[1],
        .inner = prod(x->shape.dim, 2, x->shape.rank),
        .reduction = strcmp(r, "none") == 0  ? KRT_LOSS_NONE
                     : strcmp(r, "sum") == 0 ? KRT_LOSS_SUM
                                             : KRT_LOSS_MEAN,
        .has_ignore = ii != NULL,
        .ignore_index = ii ? ii->u.i : 0,
    };
}

static kiln_status eval_loss(kiln_eval *e)
{
    const kiln_value *x = kiln_eval_in(e, 0), *t = kiln_eval_in(e, 1), *w = kiln_eval_in(e, 2);
    krt_loss_desc d = loss_desc(e);
    int64_t bad = 0;
    krt_status st;
    if (e->n->op == KILN_OP_NEGATIVELOGLIKELIHOODLOSS) {
        st = krt_nll_loss(&d, x->data, t->data, w ? w->data : NULL, kiln_eval_out_data(e, 0), &bad);
    } else {
        void *log_prob = kiln_eval_out_data(e, 1);
        if (!log_prob)
            log_prob = kiln_eval_scratch(e, (size_t)numel(x) * kiln_dtype_size(x->dtype));
        st = krt_softmax_cross_entropy(&d, x->data, t->data, w ? w->data : NULL,
                                       kiln_eval_out_data(e, 0), log_prob, &bad);
    }
    if (st == KRT_EINDEX)
        return kiln_eval_fail(e, "class %lld out of range [0, %lld) in input 1 ('%s')",
                              (long long)bad, (long long)d.c, t->name);
    return check(e, st, x->dtype);
}

/* ---- TopK, Einsum, Det ------------------------------------------------------------------------
 */

static kiln_status eval_topk(kiln_eval *e)
{
    const kiln_value *x = kiln_eval_in(e, 0);
    int64_t v[3], k = index_at(kiln_eval_in(e, 1), 0);
    axis_view(&x->shape, axis_attr(e, -1, x->shape.rank), v);
    void *scratch = kiln_eval_scratch(e, krt_topk_scratch_size(v[1], k));
    krt_status st = krt_topk((krt_dtype)x->dtype, v[0], v[1], v[2], k, attr_i(e, "largest", 1),
                             x->data, kiln_eval_out_data(e, 0), kiln_eval_out_data(e, 1), scratch);
    if (st == KRT_EVALUE)
        return kiln_eval_fail(e, "K = %lld is out of range [0, %lld] in input 1", (long long)k,
                              (long long)v[1]);
    return check(e, st, x->dtype);
}

static kiln_status eval_einsum(kiln_eval *e)
{
    int n_in = (int)e->n->n_in, ranks[KRT_EINSUM_MAX_INPUTS];
    const int64_t *dims[KRT_EINSUM_MAX_INPUTS];
    const void *data[KRT_EINSUM_MAX_INPUTS];
    const char *eq = kiln_attr_string(e->g, e->n, "equation", ""), *why;
    krt_einsum_spec spec;
    for (int i = 0; i < n_in && i < KRT_EINSUM_MAX_INPUTS; i++) {
        const kiln_value *v = kiln_eval_in(e, (uint32_t)i);
        ranks[i] = v->shape.rank;
        dims[i] = v->shape.dim;
        data[i] = v->data;
    }
    if (krt_einsum_parse(eq, n_in, ranks, &spec, &why))
        return kiln_eval_fail(e, "equation '%s' has %s", eq, why);
    kiln_dtype dt = kiln_eval_in(e, 0)->dtype;
    return check(e, krt_einsum((krt_dtype)dt, &spec, dims, data, kiln_eval_out_data(e, 0)), dt);
}

static kiln_status eval_det(kiln_eval *e)
{
    const kiln_value *x = kiln_eval_in(e, 0);
    int64_t m = x->shape.dim[x->shape.rank - 1];
    void *scratch = kiln_eval_scratch(e, krt_det_scratch_size(m));
    return check(e,
                 krt_det((krt_dtype)x->dtype, prod(x->shape.dim, 0, x->shape.rank - 2), m, x->data,
                         kiln_eval_out_data(e, 0), scratch),
                 x->dtype);
}

const kiln_eval_fn kiln_eval_reduce[KILN_OP_COUNT] = {
    [KILN_OP_REDUCESUM] = eval_reduce,
    [KILN_OP_REDUCEMEAN] = eval_reduce,
    [KILN_OP_REDUCEMAX] = eval_reduce,
    [KILN_OP_REDUCEMIN] = eval_reduce,
    [KILN_OP_REDUCEPROD] = eval_reduce,
    [KILN_OP_REDUCEL1] = eval_reduce,
    [KILN_OP_REDUCEL2] = eval_reduce,
    [KILN_OP_REDUCELOGSUM] = eval_reduce,
    [KILN_OP_REDUCELOGSUMEXP] = eval_reduce,
    [KILN_OP_REDUCESUMSQUARE] = eval_reduce,
    [KILN_OP_ARGMAX] = eval_arg,
    [KILN_OP_ARGMIN] = eval_arg,
    [KILN_OP_CUMSUM] = eval_cumsum,
    [KILN_OP_SOFTMAX] = eval_softmax,
    [KILN_OP_LOGSOFTMAX] = eval_softmax,
    [KILN_OP_HARDMAX] = eval_softmax,
    [KILN_OP_BATCHNORMALIZATION] = eval_batchnorm,
    [KILN_OP_INSTANCENORMALIZATION] = eval_instancenorm,
    [KILN_OP_LAYERNORMALIZATION] = eval_layernorm,
    [KILN_OP_LPNORMALIZATION] = eval_lpnorm,
    [KILN_OP_LRN] = eval_lrn,
    [KILN_OP_MEANVARIANCENORMALIZATION] = eval_mvn,
    [KILN_OP_NEGATIVELOGLIKELIHOODLOSS] = eval_loss,
    [KILN_OP_SOFTMAXCROSSENTROPYLOSS] = eval_loss,
    [KILN_OP_TOPK] = eval_topk,
    [KILN_OP_EINSUM] = eval_einsum,
    [KILN_OP_DET] = eval_det,
};
