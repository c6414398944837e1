/* infer_reduce.c — shape and dtype inference for the reduce family:
 * reductions, arg-reductions, CumSum, softmax, normalizations, losses,
 * TopK, Einsum and Det (canonical forms, docs/canonical-forms.md).
 *
 * Every function checks the input dtypes against the ONNX spec (opset <= 18)
 * and every attribute it reads (kind and range), with messages that name
 * the node (kiln_infer_fail adds it). Dimensions that are symbolic stay
 * symbolic; dimensions that depend on input data not known yet (Reduce*
 * axes, TopK's K) become kiln_infer_unknown_dim().
 */
#include "ir/infer.h"
#include "runtime/krt_reduce.h"

#include <stdio.h>
#include <string.h>

/* ---- dtype sets ------------------------------------------------------------ */

typedef uint32_t dtmask;
#define DT(x) (1u << KILN_DT_##x)
enum {
    DT_FLOAT = DT(F16) | DT(BF16) | DT(F32) | DT(F64),
    DT_FLOAT3 = DT(F16) | DT(F32) | DT(F64),                      /* no bf16 */
    DT_REDUCE = DT_FLOAT | DT(I32) | DT(I64) | DT(U32) | DT(U64), /* ReduceSum & co, CumSum */
    DT_MINMAX = DT_REDUCE | DT(I8) | DT(U8),                      /* ReduceMax, ReduceMin */
    DT_INTS = DT(I8) | DT(I16) | DT(I32) | DT(I64) | DT(U8) | DT(U16) | DT(U32) | DT(U64),
    DT_ARG = DT_FLOAT | DT_INTS,   /* ArgMax, ArgMin */
    DT_TOPK = DT_FLOAT3 | DT_INTS, /* TopK, Einsum */
    DT_INDEX = DT(I32) | DT(I64),
};

static const char *mask_text(dtmask m, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int dt = 1; dt < KILN_DT_COUNT; dt++)
        if (m >> dt & 1 && len < size)
            len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? ", " : "",
                                    kiln_dtype_name((kiln_dtype)dt));
    return buf;
}

/* Input i (present) must have a dtype in `ok`. */
static kiln_status need_dt(kiln_infer *c, uint32_t i, dtmask ok)
{
    kiln_value *v = kiln_infer_in(c, i);
    char buf[128];
    if (v->dtype < KILN_DT_COUNT && ok >> v->dtype & 1)
        return KILN_OK;
    return kiln_infer_fail(c, "input %u ('%s') is %s; it must be one of %s", i, v->name,
                           kiln_dtype_name(v->dtype), mask_text(ok, buf, sizeof buf));
}

/* Input j, when present, must have input i's dtype. */
static kiln_status same_dt(kiln_infer *c, uint32_t i, uint32_t j)
{
    kiln_value *a = kiln_infer_in(c, i), *b = kiln_infer_in(c, j);
    if (!b || a->dtype == b->dtype)
        return KILN_OK;
    return kiln_infer_fail(c, "input %u ('%s') is %s but input %u ('%s') is %s; they must match", j,
                           b->name, kiln_dtype_name(b->dtype), i, a->name,
                           kiln_dtype_name(a->dtype));
}

/* Input i exists with known rank in [lo, hi]. */
static kiln_status need_rank(kiln_infer *c, uint32_t i, int lo, int hi, kiln_value **v)
{
    kiln_status st = kiln_infer_need(c, i, v);
    if (st || ((*v)->shape.rank >= lo && (*v)->shape.rank <= hi))
        return st;
    if (lo == hi)
        return kiln_infer_fail(c, "input %u ('%s') has rank %d, need %d", i, (*v)->name,
                               (*v)->shape.rank, lo);
    return kiln_infer_fail(c, "input %u ('%s') has rank %d, need %d to %d", i, (*v)->name,
                           (*v)->shape.rank, lo, hi);
}

/* Two dims that are both concrete and differ. */
static bool conflict(kiln_dim a, kiln_dim b)
{
    return !KILN_DIM_IS_SYM(a) && !KILN_DIM_IS_SYM(b) && a != b;
}

/* ---- attributes ------------------------------------------------------------ */

static kiln_status attr_int(kiln_infer *c, const char *name, int64_t dflt, int64_t lo, int64_t hi,
                            int64_t *out)
{
    const kiln_attr *a = kiln_attr_find(c->g, c->n, name);
    *out = dflt;
    if (!a)
        return KILN_OK;
    if (a->kind != KILN_ATTR_INT)
        return kiln_infer_fail(c, "attribute '%s' must be an int", name);
    if (a->u.i < lo || a->u.i > hi)
        return kiln_infer_fail(c, "attribute '%s' = %lld is out of range [%lld, %lld]", name,
                               (long long)a->u.i, (long long)lo, (long long)hi);
    *out = a->u.i;
    return KILN_OK;
}

static kiln_status attr_flag(kiln_infer *c, const char *name, int64_t dflt)
{
    int64_t v;
    return attr_int(c, name, dflt, 0, 1, &v);
}

static kiln_status attr_float(kiln_infer *c, const char *name)
{
    const kiln_attr *a = kiln_attr_find(c->g, c->n, name);
    if (a && a->kind != KILN_ATTR_FLOAT)
        return kiln_infer_fail(c, "attribute '%s' must be a float", name);
    return KILN_OK;
}

/* An axis attribute for a tensor of this rank, normalized into *axis. */
static kiln_status attr_axis(kiln_infer *c, const char *name, int64_t dflt, int rank, int *axis)
{
    int64_t v;
    kiln_status st = attr_int(c, name, dflt, INT64_MIN, INT64_MAX, &v);
    if (st)
        return st;
    if (!kiln_norm_axis(v, rank, axis))
        return kiln_infer_fail(c, "attribute '%s' = %lld is out of range [%d, %d) for rank %d",
                               name, (long long)v, -rank, rank, rank);
    return KILN_OK;
}

/* Normalize axes[0..n) for `rank` into a bit mask; duplicates are errors. */
static kiln_status axes_mask(kiln_infer *c, const char *what, const int64_t *axes, int64_t n,
                             int rank, uint32_t *mask)
{
    *mask = 0;
    for (int64_t k = 0; k < n; k++) {
        int a;
        if (!kiln_norm_axis(axes[k], rank, &a))
            return kiln_infer_fail(c, "%s: axis %lld is out of range [%d, %d) for rank %d", what,
                                   (long long)axes[k], -rank, rank, rank);
        if (*mask >> a & 1)
            return kiln_infer_fail(c, "%s: axis %lld is given twice", what, (long long)axes[k]);
        *mask |= 1u << a;
    }
    return KILN_OK;
}

/* ---- Reduce* ------------------------------------------------------------------
 * Canonical: (data, axes?) with keepdims and noop_with_empty_axes. */

/* Axes from input 1: *n = -1 when their values are not known yet (then
 * *count is their number if the shape says it, else -1). */
static kiln_status reduce_axes(kiln_infer *c, int rank, uint32_t *mask, int64_t *n, int64_t *count)
{
    kiln_value *a = kiln_infer_in(c, 1);
    int64_t axes[KILN_MAX_RANK];
    *n = 0;
    *count = 0;
    if (!a)
        return KILN_OK;
    if (a->dtype != KILN_DT_I64 || a->shape.rank != 1)
        return kiln_infer_fail(c, "input 1 ('%s', axes) must be a 1-D i64 tensor", a->name);
    *count = KILN_DIM_IS_SYM(a->shape.dim[0]) ? -1 : a->shape.dim[0];
    *n = *count == 0 ? 0 : kiln_infer_ints(c, 1, axes, KILN_MAX_RANK);
    if (*n == -2)
        return kiln_infer_fail(c, "input 1 ('%s', axes) has more axes than the data's rank %d",
                               a->name, rank);
    return *n > 0 ? axes_mask(c, "input 1 (axes)", axes, *n, rank, mask) : KILN_OK;
}

/* Output shape when the axes are not known: with keepdims each dim is
 * itself or 1; without, only the rank is known (from the axes' count). */
static kiln_status reduce_unknown(kiln_infer *c, const kiln_value *x, bool keep, int64_t count)
{
    kiln_shape s = {.rank = keep ? x->shape.rank : (int32_t)(x->shape.rank - count)};
    if (!keep && (count < 0 || count > x->shape.rank))
        return kiln_infer_unsupported(c, "input 1 (axes) is computed at run time and its length "
                                         "is unknown: the output rank cannot be inferred");
    for (int i = 0; i < s.rank; i++)
        s.dim[i] = keep && x->shape.dim[i] == 1 ? 1 : kiln_infer_unknown_dim(c);
    kiln_infer_set(c, 0, x->dtype, &s);
    return KILN_OK;
}

static kiln_status infer_reduce(kiln_infer *c)
{
    kiln_value *x;
    int64_t keep, noop, n, count;
    uint32_t mask = 0;
    dtmask ok =
        c->n->op == KILN_OP_REDUCEMAX || c->n->op == KILN_OP_REDUCEMIN ? DT_MINMAX : DT_REDUCE;
    kiln_status st = kiln_infer_need(c, 0, &x);
    if (!st)
        st = need_dt(c, 0, ok);
    /* ONNX's `axes` attribute (before opset 18) is input 1 in kiln's IR; the
     * ONNX loader moves it and the text-IR parser refuses it (ir/op_attrs.c),
     * but a graph built through the API could still carry it, and ignoring
     * it would reduce over every axis (found by fuzz_passes) */
    if (!st && kiln_attr_find(c->g, c->n, "axes"))
        st = kiln_infer_fail(c, "attribute 'axes' is not part of kiln's IR: give the axes as "
                                "input 1, a 1-D i64 constant (docs/canonical-forms.md)");
    if (!st)
        st = attr_int(c, "keepdims", 1, 0, 1, &keep);
    if (!st)
        st = attr_int(c, "noop_with_empty_axes", 0, 0, 1, &noop);
    if (!st)
        st = reduce_axes(c, x->shape.rank, &mask, &n, &count);
    if (st || n < 0)
        return st ? st : reduce_unknown(c, x, keep, count);
    if (n == 0)
        mask = noop ? 0 : (1u << x->shape.rank) - 1;
    kiln_shape s = {.rank = 0};
    for (int i = 0; i < x->shape.rank; i++)
        if (!(mask >> i & 1) || keep)
            s.dim[s.rank++] = mask >> i & 1 ? 1 : x->shape.dim[i];
    kiln_infer_set(c, 0, x->dtype, &s);
    return KILN_OK;
}

/* ---- ArgMax, ArgMin ------------------------------------------------------------ */

static kiln_status infer_arg(kiln_infer *c)
{
    kiln_value *x;
    int64_t keep;
    int axis;
    kiln_status st = need_rank(c, 0, 1, KILN_MAX_RANK, &x);
    if (!st)
        st = need_dt(c, 0, DT_ARG);
    if (!st)
        st = attr_axis(c, "axis", 0, x->shape.rank, &axis);
    if (!st)
        st = attr_int(c, "keepdims", 1, 0, 1, &keep);
    if (!st)
        st = attr_flag(c, "select_last_index", 0);
    if (st)
        return st;
    if (x->shape.dim[axis] == 0)
        return kiln_infer_fail(c, "axis %d of input 0 ('%s') is empty: no index to return", axis,
                               x->name);
    kiln_shape s = x->shape;
    s.dim[axis] = 1;
    if (!keep) {
        memmove(&s.dim[axis], &s.dim[axis + 1], (size_t)(s.rank - axis - 1) * sizeof s.dim[0]);
        s.rank--;
    }
    kiln_infer_set(c, 0, KILN_DT_I64, &s);
    return KILN_OK;
}

/* ---- CumSum (x, axis) ------------------------------------------------------------ */

static kiln_status infer_cumsum(kiln_infer *c)
{
    kiln_value *x, *ax;
    int64_t v;
    int axis;
    kiln_status st = need_rank(c, 0, 1, KILN_MAX_RANK, &x);
    if (!st)
        st = need_dt(c, 0, DT_REDUCE);
    if (!st)
        st = kiln_infer_need(c, 1, &ax);
    if (!st)
        st = need_dt(c, 1, DT_INDEX);
    if (!st)
        st = attr_flag(c, "exclusive", 0);
    if (!st)
        st = attr_flag(c, "reverse", 0);
    if (st)
        return st;
    if (ax->shape.rank > 1 || (ax->shape.rank == 1 && ax->shape.dim[0] != 1))
        return kiln_infer_fail(c, "input 1 ('%s', axis) must be a scalar", ax->name);
    if (kiln_infer_ints(c, 1, &v, 1) == 1 && !kiln_norm_axis(v, x->shape.rank, &axis))
        return kiln_infer_fail(c, "input 1 (axis) = %lld is out of range [%d, %d)", (long long)v,
                               -x->shape.rank, x->shape.rank);
    kiln_infer_set(c, 0, x->dtype, &x->shape);
    return KILN_OK;
}

/* ---- Softmax, LogSoftmax, Hardmax ---------------------------------------------- */

static kiln_status infer_softmax(kiln_infer *c)
{
    kiln_value *x;
    int axis;
    kiln_status st = kiln_infer_need(c, 0, &x);
    if (!st)
        st = need_dt(c, 0, DT_FLOAT);
    if (!st)
        st = attr_axis(c, "axis", -1, x->shape.rank, &axis);
    if (st)
        return st;
    kiln_infer_set(c, 0, x->dtype, &x->shape);
    return KILN_OK;
}

/* ---- normalizations ----------------------------------------------------------------- */

/* Input i is a 1-D [C] parameter of channel count `ch`. */
static kiln_status need_channel_param(kiln_infer *c, uint32_t i, kiln_dim ch)
{
    kiln_value *p;
    kiln_status st = need_rank(c, i, 1, 1, &p);
    if (!st && conflict(p->shape.dim[0], ch))
        return kiln_infer_fail(c, "input %u ('%s') has %lld elements, need one per channel (%lld)",
                               i, p->name, (long long)p->shape.dim[0], (long long)ch);
    return st;
}

/* X (N, C, ...) and its [C] parameters inputs [first, last]. */
static kiln_status infer_channel_norm(kiln_infer *c, int min_rank, dtmask ok, uint32_t last)
{
    kiln_value *x;
    kiln_status st = need_rank(c, 0, min_rank, KILN_MAX_RANK, &x);
    if (!st)
        st = need_dt(c, 0, ok);
    for (uint32_t i = 1; !st && i <= last; i++)
        st = need_channel_param(c, i, x->shape.dim[1]);
    for (uint32_t i = 1; !st && i <= last; i++)
        st = need_dt(c, i, ok);
    if (!st)
        st = attr_float(c, "epsilon");
    if (!st)
        kiln_infer_set(c, 0, x->dtype, &x->shape);
    return st;
}

/* BatchNormalization (X, scale, B, input_mean, input_var), inference mode:
 * scale and B share a dtype, mean and var another (T1, T2 in the spec). */
static kiln_status infer_batchnorm(kiln_infer *c)
{
    int64_t training;
    kiln_status st = attr_int(c, "training_mode", 0, 0, 1, &training);
    if (!st && training)
        return kiln_infer_unsupported(c, "training_mode = 1 is not supported: kiln runs "
                                         "inference only");
    if (!st)
        st = attr_float(c, "momentum");
    if (!st)
        st = infer_channel_norm(c, 2, DT_FLOAT, 4);
    if (!st)
        st = same_dt(c, 1, 2);
    return st ? st : same_dt(c, 3, 4);
}

static kiln_status infer_instancenorm(kiln_infer *c)
{
    kiln_status st = infer_channel_norm(c, 3, DT_FLOAT3, 2);
    for (uint32_t i = 1; !st && i <= 2; i++)
        st = same_dt(c, 0, i);
    return st;
}

/* Scale / B of LayerNormalization: broadcastable to X.shape[axis:]. */
static kiln_status need_ln_param(kiln_infer *c, uint32_t i, const kiln_value *x, int axis)
{
    kiln_value *p = kiln_infer_in(c, i);
    int nr = x->shape.rank - axis;
    kiln_status st = p ? kiln_infer_need(c, i, &p) : KILN_OK;
    if (!p || st)
        return st;
    st = same_dt(c, 0, i);
    bool fits = p->shape.rank <= nr;
    for (int k = 0; fits && k < p->shape.rank; k++) {
        kiln_dim d = p->shape.dim[p->shape.rank - 1 - k], xd = x->shape.dim[x->shape.rank - 1 - k];
        fits = d == 1 || !conflict(d, xd);
    }
    if (!st && !fits)
        return kiln_infer_fail(c,
                               "input %u ('%s') does not broadcast to the normalized dims "
                               "(axis %d onwards of input 0)",
                               i, p->name, axis);
    return st;
}

static kiln_status infer_layernorm(kiln_infer *c)
{
    kiln_value *x;
    int axis;
    int64_t stash;
    kiln_status st = need_rank(c, 0, 1, KILN_MAX_RANK, &x);
    if (!st)
        st = need_dt(c, 0, DT_FLOAT);
    if (!st)
        st = attr_axis(c, "axis", -1, x->shape.rank, &axis);
    if (!st)
        st = attr_float(c, "epsilon");
    if (!st)
        st = attr_int(c, "stash_type", 1, INT64_MIN, INT64_MAX, &stash);
    if (!st && stash != 1 && stash != 16)
        return kiln_infer_fail(c,
                               "attribute 'stash_type' = %lld: must be 1 (float) or 16 "
                               "(bfloat16)",
                               (long long)stash);
    if (!st)
        st = need_ln_param(c, 1, x, axis);
    if (!st)
        st = need_ln_param(c, 2, x, axis);
    if (st)
        return st;
    kiln_shape stat = x->shape;
    for (int i = axis; i < stat.rank; i++)
        stat.dim[i] = 1;
    kiln_infer_set(c, 0, x->dtype, &x->shape);
    kiln_infer_set(c, 1, stash == 1 ? KILN_DT_F32 : KILN_DT_BF16, &stat);
    kiln_infer_set(c, 2, stash == 1 ? KILN_DT_F32 : KILN_DT_BF16, &stat);
    return KILN_OK;
}

static kiln_status infer_lpnorm(kiln_infer *c)
{
    kiln_value *x;
    int axis;
    int64_t p;
    kiln_status st = need_rank(c, 0, 1, KILN_MAX_RANK, &x);
    if (!st)
        st = need_dt(c, 0, DT_FLOAT3);
    if (!st)
        st = attr_axis(c, "axis", -1, x->shape.rank, &axis);
    if (!st)
        st = attr_int(c, "p", 2, 1, 2, &p);
    if (!st)
        kiln_infer_set(c, 0, x->dtype, &x->shape);
    return st;
}

static kiln_status infer_lrn(kiln_infer *c)
{
    kiln_value *x;
    int64_t size;
    kiln_status st = need_rank(c, 0, 2, KILN_MAX_RANK, &x);
    if (!st)
        st = need_dt(c, 0, DT_FLOAT);
    if (!st && !kiln_attr_find(c->g, c->n, "size"))
        return kiln_infer_fail(c, "attribute 'size' is required");
    if (!st)
        st = attr_int(c, "size", 1, 1, INT32_MAX, &size);
    if (!st)
        st = attr_float(c, "alpha");
    if (!st)
        st = attr_float(c, "beta");
    if (!st)
        st = attr_float(c, "bias");
    if (!st)
        kiln_infer_set(c, 0, x->dtype, &x->shape);
    return st;
}

static kiln_status infer_mvn(kiln_infer *c)
{
    static const int64_t dflt[] = {0, 2, 3};
    kiln_value *x;
    uint32_t n = 3, mask;
    const kiln_attr *a = kiln_attr_find(c->g, c->n, "axes");
    const int64_t *axes = dflt;
    kiln_status st = kiln_infer_need(c, 0, &x);
    if (!st)
        st = need_dt(c, 0, DT_FLOAT);
    if (!st && a && a->kind != KILN_ATTR_INTS)
        return kiln_infer_fail(c, "attribute 'axes' must be a list of ints");
    if (a)
        axes = kiln_attr_ints(c->g, c->n, "axes", &n);
    if (!st)
        st = axes_mask(c, "attribute 'axes'", axes, n, x->shape.rank, &mask);
    if (!st)
        kiln_infer_set(c, 0, x->dtype, &x->shape);
    return st;
}

/* ---- losses ----------------------------------------------------------------------------
 * (input (N, C, d1..dk), target (N, d1..dk), weight? [C]). */

static kiln_status loss_reduction(kiln_infer *c, bool *none)
{
    const kiln_attr *a = kiln_attr_find(c->g, c->n, "reduction");
    const char *r = a && a->kind == KILN_ATTR_STRING ? a->u.s : "mean";
    if (a && a->kind != KILN_ATTR_STRING)
        return kiln_infer_fail(c, "attribute 'reduction' must be a string");
    *none = strcmp(r, "none") == 0;
    if (!*none && strcmp(r, "sum") != 0 && strcmp(r, "mean") != 0)
        return kiln_infer_fail(c, "attribute 'reduction' = '%s': must be 'none', 'sum' or 'mean'",
                               r);
    return KILN_OK;
}

static kiln_status loss_target(kiln_infer *c, const kiln_value *x)
{
    kiln_value *t;
    kiln_status st = need_rank(c, 1, x->shape.rank - 1, x->shape.rank - 1, &t);
    if (!st)
        st = need_dt(c, 1, DT_INDEX);
    for (int i = 0; !st && i < t->shape.rank; i++) {
        int xi = i == 0 ? 0 : i + 1;
        if (conflict(t->shape.dim[i], x->shape.dim[xi]))
            return kiln_infer_fail(c, "input 1 ('%s') dim %d is %lld but input 0 dim %d is %lld",
                                   t->name, i, (long long)t->shape.dim[i], xi,
                                   (long long)x->shape.dim[xi]);
    }
    return st;
}

static kiln_status infer_loss(kiln_infer *c)
{
    kiln_value *x;
    bool none;
    int64_t ii;
    dtmask ok = c->n->op == KILN_OP_NEGATIVELOGLIKELIHOODLOSS ? DT_FLOAT3 : DT_FLOAT;
    kiln_status st = need_rank(c, 0, 2, KILN_MAX_RANK, &x);
    if (!st)
        st = need_dt(c, 0, ok);
    if (!st)
        st = loss_target(c, x);
    if (!st && kiln_infer_in(c, 2))
        st = need_channel_param(c, 2, x->shape.dim[1]);
    if (!st)
        st = same_dt(c, 0, 2);
    if (!st)
        st = loss_reduction(c, &none);
    if (!st)
        st = attr_int(c, "ignore_index", 0, INT64_MIN, INT64_MAX, &ii);
    if (st)
        return st;
    kiln_shape scalar = {.rank = 0};
    kiln_infer_set(c, 0, x->dtype, none ? &kiln_infer_in(c, 1)->shape : &scalar);
    kiln_infer_set(c, 1, x->dtype, &x->shape); /* SoftmaxCrossEntropyLoss log_prob */
    return KILN_OK;
}

/* ---- TopK (X, K) ---------------------------------------------------------------------- */

static kiln_status infer_topk(kiln_infer *c)
{
    kiln_value *x, *kv;
    int axis;
    int64_t k;
    kiln_status st = need_rank(c, 0, 1, KILN_MAX_RANK, &x);
    if (!st)
        st = need_dt(c, 0, DT_TOPK);
    if (!st)
        st = attr_axis(c, "axis", -1, x->shape.rank, &axis);
    if (!st)
        st = attr_flag(c, "largest", 1);
    if (!st)
        st = attr_flag(c, "sorted", 1);
    if (!st)
        st = kiln_infer_need(c, 1, &kv);
    if (st)
        return st;
    if (kv->dtype != KILN_DT_I64 || kv->shape.rank > 1 ||
        (kv->shape.rank == 1 && kv->shape.dim[0] != 1))
        return kiln_infer_fail(c, "input 1 ('%s', K) must be an i64 tensor of one element",
                               kv->name);
    kiln_shape s = x->shape;
    if (kiln_infer_ints(c, 1, &k, 1) != 1) {
        s.dim[axis] = kiln_infer_unknown_dim(c);
    } else if (k < 0 || (!KILN_DIM_IS_SYM(x->shape.dim[axis]) && k > x->shape.dim[axis])) {
        return kiln_infer_fail(c, "K = %lld is out of range [0, %lld] (axis %d of input 0)",
                               (long long)k, (long long)x->shape.dim[axis], axis);
    } else {
        s.dim[axis] = k;
    }
    kiln_infer_set(c, 0, x->dtype, &s);
    kiln_infer_set(c, 1, KILN_DT_I64, &s);
    return KILN_OK;
}

/* ---- Einsum ---------------------------------------------------------------------------- */

/* A label's size: a concrete dim other than 1 wins; two such must agree;
 * else a symbol; else 1. */
static kiln_status einsum_label_dims(kiln_infer *c, const krt_einsum_spec *sp, kiln_dim *size)
{
    for (int l = 0; l < sp->n_labels; l++)
        size[l] = 1;
    for (uint32_t i = 0; i < (uint32_t)sp->n_in; i++)
        for (int a = 0; a < sp->in_rank[i]; a++) {
            kiln_dim d = kiln_infer_in(c, i)->shape.dim[a], *s = &size[sp->in_label[i][a]];
            if (d == 1 || d == *s)
                continue;
            if (conflict(d, *s) && *s != 1)
                return kiln_infer_fail(c,
                                       "input %u dim %d is %lld but the same equation letter "
                                       "has size %lld elsewhere",
                                       i, a, (long long)d, (long long)*s);
            if (*s == 1 || KILN_DIM_IS_SYM(*s))
                *s = d;
        }
    return KILN_OK;
}

static kiln_status infer_einsum(kiln_infer *c)
{
    const kiln_attr *eq = kiln_attr_find(c->g, c->n, "equation");
    int ranks[KRT_EINSUM_MAX_INPUTS];
    int n_in = (int)kiln_infer_n_in(c);
    kiln_dim size[KRT_EINSUM_MAX_LABELS];
    krt_einsum_spec sp;
    const char *why;
    kiln_status st = KILN_OK;
    if (!eq || eq->kind != KILN_ATTR_STRING)
        return kiln_infer_fail(c, "attribute 'equation' (a string) is required");
    if (n_in > KRT_EINSUM_MAX_INPUTS)
        return kiln_infer_unsupported(c, "%d inputs; kiln's Einsum takes at most %d", n_in,
                                      KRT_EINSUM_MAX_INPUTS);
    for (int i = 0; !st && i < n_in; i++) {
        kiln_value *v;
        st = kiln_infer_need(c, (uint32_t)i, &v);
        if (!st)
            st = need_dt(c, (uint32_t)i, DT_TOPK);
        if (!st)
            st = same_dt(c, 0, (uint32_t)i);
        ranks[i] = st ? 0 : v->shape.rank;
    }
    if (st)
        return st;
    if (krt_einsum_parse(eq->u.s, n_in, ranks, &sp, &why))
        return kiln_infer_fail(c, "equation '%s' has %s", eq->u.s, why);
    if ((st = einsum_label_dims(c, &sp, size)))
        return st;
    kiln_shape s = {.rank = sp.out_rank};
    memcpy(s.dim, size, (size_t)sp.out_rank * sizeof s.dim[0]);
    kiln_infer_set(c, 0, kiln_infer_in(c, 0)->dtype, &s);
    return KILN_OK;
}

/* ---- Det ---------------------------------------------------------------------------------- */

static kiln_status infer_det(kiln_infer *c)
{
    kiln_value *x;
    kiln_status st = need_rank(c, 0, 2, KILN_MAX_RANK, &x);
    if (!st)
        st = need_dt(c, 0, DT_FLOAT3);
    if (st)
        return st;
    int r = x->shape.rank;
    if (conflict(x->shape.dim[r - 2], x->shape.dim[r - 1]))
        return kiln_infer_fail(c, "input 0 ('%s') has %lld x %lld matrices; Det needs square ones",
                               x->name, (long long)x->shape.dim[r - 2],
                               (long long)x->shape.dim[r - 1]);
    kiln_shape s = x->shape;
    s.rank -= 2;
    kiln_infer_set(c, 0, x->dtype, &s);
    return KILN_OK;
}

const kiln_infer_fn kiln_infer_reduce[KILN_OP_COUNT] = {
    [KILN_OP_REDUCESUM] = infer_reduce,
    [KILN_OP_REDUCEMEAN] = infer_reduce,
    [KILN_OP_REDUCEMAX] = infer_reduce,
    [KILN_OP_REDUCEMIN] = infer_reduce,
    [KILN_OP_REDUCEPROD] = infer_reduce,
    [KILN_OP_REDUCEL1] = infer_reduce,
    [KILN_OP_REDUCEL2] = infer_reduce,
    [KILN_OP_REDUCELOGSUM] = infer_reduce,
    [KILN_OP_REDUCELOGSUMEXP] = infer_reduce,
    [KILN_OP_REDUCESUMSQUARE] = infer_reduce,
    [KILN_OP_ARGMAX] = infer_arg,
    [KILN_OP_ARGMIN] = infer_arg,
    [KILN_OP_CUMSUM] = infer_cumsum,
    [KILN_OP_SOFTMAX] = infer_softmax,
    [KILN_OP_LOGSOFTMAX] = infer_softmax,
    [KILN_OP_HARDMAX] = infer_softmax,
    [KILN_OP_BATCHNORMALIZATION] = infer_batchnorm,
    [KILN_OP_INSTANCENORMALIZATION] = infer_instancenorm,
    [KILN_OP_LAYERNORMALIZATION] = infer_layernorm,
    [KILN_OP_LPNORMALIZATION] = infer_lpnorm,
    [KILN_OP_LRN] = infer_lrn,
    [KILN_OP_MEANVARIANCENORMALIZATION] = infer_mvn,
    [KILN_OP_NEGATIVELOGLIKELIHOODLOSS] = infer_loss,
    [KILN_OP_SOFTMAXCROSSENTROPYLOSS] = infer_loss,
    [KILN_OP_TOPK] = infer_topk,
    [KILN_OP_EINSUM] = infer_einsum,
    [KILN_OP_DET] = infer_det,
};
