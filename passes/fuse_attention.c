/* fuse_attention.c — pass `fuse-attention`: scaled-dot-product attention,
 * with its head split/merge views, becomes one kiln.Attention
 * (docs/attention.md is the op's contract; its "fuse-attention" section
 * lists the recognised forms).
 *
 * Anchor: a Softmax over the last axis. Backwards from its input, the
 * scores chain: Add (a bias or mask), Mul/Div by a one-element constant
 * (the scale), Reshape/Squeeze/Unsqueeze (views that keep the element
 * order), and a Transpose of the last two axes (scores used as Sᵀ), down
 * to the score product: MatMul(Q, Kᵀ) or an Einsum "...id,...jd->...ij".
 * Forwards from the softmax: Identity/inference Dropout, the DeepViT
 * re-attention (an Einsum mixing heads, then BatchNormalization or a
 * per-head Mul/Add), and the product with V (MatMul or Einsum). Q, K and V
 * are traced back through the view ops of the `view_rules` table (Reshape,
 * Transpose, Gather of one index, Slice, Split, Squeeze, Unsqueeze,
 * Expand, and scalar Mul/Div on Q and K, which fold into the scale) to the
 * tensor they are strided views of; Y forwards through Transpose/Reshape
 * to the merged tensor. A second sweep turns P·V products whose P is a
 * fused node's probabilities (attention sharing) into kiln.Attention with
 * p_in. Needs: inferred types, static shapes. Produces: kiln.Attention
 * nodes (the old nodes are left for dce: nothing is removed, so a value
 * another node still reads keeps its producer), placed by a toposort. One
 * change per node created. Every Softmax left unfused gets a reason, which
 * --remarks prints.
 *   before: %s = MatMul(%q, %kt)   %z = Mul(%s, %c)   %p = Softmax(%z)
 *           %o = MatMul(%p, %v)   (%q, %kt, %v: views of %qkv)
 *   after:  %o = kiln.Attention(%qkv, %qkv, %qkv) {heads, scale, layouts...}
 * (tests/ir/pass_fuse_attention*.kir, tests/unit/test_fuse_attention.c)
 */
#include "passes/pass.h"
#include "ir/edit.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_CHAIN = 64, WHY_MAX = 320, MAX_ADDS = 8 };

/* The first reason a match failed (the remark). */
typedef struct why {
    char text[WHY_MAX];
} why;

static bool fail(why *w, const char *fmt, ...) KILN_PRINTF(2, 3);
static bool fail(why *w, const char *fmt, ...)
{
    if (w && !w->text[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->text, sizeof w->text, fmt, ap);
        va_end(ap);
    }
    return false;
}

static const kiln_node *producer(const kiln_graph *g, uint32_t v)
{
    uint32_t p = v && g->values[v].kind == KILN_VAL_NODE ? g->values[v].producer : 0;
    return p && !kiln_node_is_removed(g, p) ? &g->nodes[p] : NULL;
}

static uint32_t producer_id(const kiln_graph *g, uint32_t v)
{
    return producer(g, v) ? g->values[v].producer : 0;
}

static const char *op_of(const kiln_graph *g, uint32_t v)
{
    const kiln_node *p = producer(g, v);
    return p ? kiln_op_name(p->op) : g->values[v].kind == KILN_VAL_CONST ? "a constant" : "a graph input";
}

/* A one-element f32 constant's value. */
static bool scalar_const(const kiln_graph *g, uint32_t v, double *out)
{
    const kiln_value *c = v ? &g->values[v] : NULL;
    float f;
    if (!c || !c->data || c->dtype != KILN_DT_F32 || c->nbytes != sizeof f)
        return false;
    memcpy(&f, c->data, sizeof f);
    *out = f;
    return true;
}

/* Integer elements of a constant (i64 or i32), at most max. */
static int int_const(const kiln_graph *g, uint32_t v, int64_t *out, int max)
{
    const kiln_value *c = v ? &g->values[v] : NULL;
    if (!c || !c->data || (c->dtype != KILN_DT_I64 && c->dtype != KILN_DT_I32))
        return -1;
    size_t es = kiln_dtype_size(c->dtype);
    int n = (int)(c->nbytes / es);
    if (n > max)
        return -1;
    for (int i = 0; i < n; i++) {
        if (c->dtype == KILN_DT_I64) {
            memcpy(&out[i], (const char *)c->data + (size_t)i * es, sizeof out[i]);
        } else {
            int32_t x;
            memcpy(&x, (const char *)c->data + (size_t)i * es, sizeof x);
            out[i] = x;
        }
    }
    return n;
}

/* A dimension that may hold more than one element: a size > 1 or a
 * symbol (whose run-time size may be anything). */
static bool big(int64_t d)
{
    return d > 1 || KILN_DIM_IS_SYM(d);
}

/* Why a symbolic dimension d (the `role` of `what`) stops the match,
 * naming the input it comes from: "the query tokens of the scores:
 * symbolic dimension 'seq' of input 'ids' (...); bind it with --shape
 * ids=..." */
static bool sym_fail(const kiln_graph *g, int64_t d, const char *role, const char *what, why *w)
{
    const char *sym = kiln_graph_symbol_name(g, KILN_DIM_SYM_ID(d));
    for (uint32_t i = 0; i < g->n_inputs; i++) {
        const kiln_shape *is = &g->values[g->inputs[i]].shape;
        for (int j = 0; j < is->rank; j++)
            if (is->dim[j] == d)
                return fail(w, "%s of %s: symbolic dimension '%s' of input '%s' (only a leading batch is "
                            "read at run time); bind it with --shape %s=...", role, what, sym ? sym : "?",
                            g->values[g->inputs[i]].name, g->values[g->inputs[i]].name);
    }
    return fail(w, "%s of %s: a symbolic size computed at run time (only a leading batch is read at run "
                "time); bind the inputs' shapes with --shape", role, what);
}

/* Value v's shape does not do: a dimension other than the leading one
 * (the batch, read at run time) is symbolic, or the rank is unknown. */
static bool symbolic(const kiln_graph *g, uint32_t v, const char *what, why *w)
{
    const kiln_shape *s = &g->values[v].shape;
    char role[64];
    for (int k = 1; k < s->rank; k++) {
        if (!KILN_DIM_IS_SYM(s->dim[k]))
            continue;
        snprintf(role, sizeof role, "dimension %d (not the leading batch)", k);
        return sym_fail(g, s->dim[k], role, what, w);
    }
    return fail(w, "%s has no static shape", what);
}

/* ===== 1. strided views ======================================================== */

/* A tensor read as dim[k] elements of stride[k] from `offset` in the
 * contiguous buffer of another tensor (all in elements). */
typedef struct view {
    int rank;
    int64_t dim[KILN_MAX_RANK], stride[KILN_MAX_RANK];
    int64_t offset;
} view;

/* The tensor itself as a view. Its leading dimension may be symbolic (a
 * batch known at run time): it never enters a stride. */
static bool contiguous(const kiln_shape *s, view *v)
{
    if (s->rank < 0)
        return false;
    *v = (view){.rank = s->rank};
    int64_t st = 1;
    for (int k = s->rank - 1; k >= 0; k--) {
        if (KILN_DIM_IS_SYM(s->dim[k]) ? k > 0 : s->dim[k] < 1)
            return false;
        v->dim[k] = s->dim[k];
        v->stride[k] = s->dim[k] == 1 ? 0 : st;
        if (k > 0)
            st *= s->dim[k];
    }
    return true;
}

/* The same elements in another shape, without a copy (NumPy's
 * attempt_nocopy_reshape for C order): each group of old dims that
 * multiplies to a group of new dims must be contiguous among itself. A
 * symbolic dimension is a group of its own on both sides (the same
 * symbol): the row-major order then agrees for any size it takes. */
static bool reshape_view(view *v, const kiln_shape *to)
{
    int64_t od[KILN_MAX_RANK], os[KILN_MAX_RANK];
    int on = 0;
    if (to->rank < 0)
        return false;
    for (int i = 0; i < v->rank; i++)
        if (v->dim[i] != 1)
            od[on] = v->dim[i], os[on++] = v->stride[i];
    view r = {.rank = to->rank, .offset = v->offset};
    for (int k = 0; k < to->rank; k++)
        if ((r.dim[k] = to->dim[k]) < 1 && !KILN_DIM_IS_SYM(r.dim[k]))
            return false;
    int ni = 0, oi = 0;
    while (ni < r.rank && oi < on) {
        if (r.dim[ni] == 1) {
            r.stride[ni++] = 0;
            continue;
        }
        if (KILN_DIM_IS_SYM(r.dim[ni]) || KILN_DIM_IS_SYM(od[oi])) {
            if (r.dim[ni] != od[oi])
                return false;
            r.stride[ni++] = os[oi++];
            continue;
        }
        int nj = ni + 1, oj = oi + 1;
        int64_t np = r.dim[ni], op = od[oi];
        while (np != op) {
            if (np < op) {
                if (nj >= r.rank || KILN_DIM_IS_SYM(r.dim[nj]))
                    return false;
                np *= r.dim[nj++];
            } else {
                if (oj >= on || KILN_DIM_IS_SYM(od[oj]))
                    return false;
                op *= od[oj++];
            }
        }
        for (int k = oi; k < oj - 1; k++)
            if (os[k] != od[k + 1] * os[k + 1])
                return false;
        r.stride[nj - 1] = os[oj - 1];
        for (int k = nj - 1; k > ni; k--)
            r.stride[k - 1] = r.stride[k] * r.dim[k];
        ni = nj;
        oi = oj;
    }
    for (; ni < r.rank; ni++) {
        if (r.dim[ni] != 1)
            return false;
        r.stride[ni] = 0;
    }
    if (oi < on)
        return false;
    *v = r;
    return true;
}

/* ---- the per-op view rules: how an op's output views its input -------------------- */

/* node's output `out` as a view, given its viewed input as *v; *scale
 * collects scalar factors. False: the op cannot be read as a view here. */
typedef bool (*view_apply)(const kiln_graph *g, const kiln_node *n, uint32_t out, view *v,
                           double *scale);

static const kiln_shape *out_shape(const kiln_graph *g, uint32_t out)
{
    return &g->values[out].shape;
}

/* Reshape, Squeeze, Unsqueeze, Flatten: the output's shape, same order. */
static bool rule_reshape(const kiln_graph *g, const kiln_node *n, uint32_t out, view *v, double *s)
{
    (void)n, (void)s;
    return reshape_view(v, out_shape(g, out));
}

static bool rule_transpose(const kiln_graph *g, const kiln_node *n, uint32_t out, view *v, double *s)
{
    (void)out, (void)s;
    uint32_t np = 0;
    const int64_t *perm = kiln_attr_ints(g, n, "perm", &np);
    view r = *v;
    if (perm && (int)np != v->rank)
        return false;
    for (int k = 0; k < v->rank; k++) {
        int64_t from = perm ? perm[k] : v->rank - 1 - k;
        if (from < 0 || from >= v->rank)
            return false;
        r.dim[k] = v->dim[from];
        r.stride[k] = v->stride[from];
    }
    *v = r;
    return true;
}

/* Gather of one constant index: the axis is fixed at that index (an
 * index tensor of shape [1] keeps it as a dimension of 1). */
static bool rule_gather(const kiln_graph *g, const kiln_node *n, uint32_t out, view *v, double *s)
{
    (void)s;
    int64_t idx;
    int64_t axis = kiln_attr_int(g, n, "axis", 0);
    const kiln_value *iv = kiln_in(g, n, 1);
    if (axis < 0)
        axis += v->rank;
    if (axis < 0 || axis >= v->rank || KILN_DIM_IS_SYM(v->dim[axis]) ||
        int_const(g, kiln_node_input(g, n, 1), &idx, 1) != 1)
        return false;
    if (idx < 0)
        idx += v->dim[axis];
    if (idx < 0 || idx >= v->dim[axis])
        return false;
    v->offset += idx * v->stride[axis];
    view r = {.rank = v->rank - 1 + iv->shape.rank, .offset = v->offset};
    if (r.rank > KILN_MAX_RANK)
        return false;
    int k = 0;
    for (int i = 0; i < v->rank; i++) {
        if (i == axis) {
            for (int j = 0; j < iv->shape.rank; j++)
                r.dim[k] = 1, r.stride[k++] = 0;
            continue;
        }
        r.dim[k] = v->dim[i], r.stride[k++] = v->stride[i];
    }
    *v = r;
    return reshape_view(v, out_shape(g, out));  /* checks the shape it claims */
}

/* Slice with constant starts/ends/axes/steps, positive steps. */
static bool rule_slice(const kiln_graph *g, const kiln_node *n, uint32_t out, view *v, double *s)
{
    (void)s;
    int64_t st[KILN_MAX_RANK], en[KILN_MAX_RANK], ax[KILN_MAX_RANK], sp[KILN_MAX_RANK];
    int k = int_const(g, kiln_node_input(g, n, 1), st, KILN_MAX_RANK);
    if (k < 0 || int_const(g, kiln_node_input(g, n, 2), en, KILN_MAX_RANK) != k)
        return false;
    for (int i = 0; i < k; i++)
        ax[i] = i, sp[i] = 1;
    if (kiln_node_input(g, n, 3) && int_const(g, kiln_node_input(g, n, 3), ax, KILN_MAX_RANK) != k)
        return false;
    if (kiln_node_input(g, n, 4) && int_const(g, kiln_node_input(g, n, 4), sp, KILN_MAX_RANK) != k)
        return false;
    for (int i = 0; i < k; i++) {
        int64_t a = ax[i] < 0 ? ax[i] + v->rank : ax[i], d;
        if (a < 0 || a >= v->rank || sp[i] < 1 || KILN_DIM_IS_SYM(v->dim[a]))
            return false;
        d = v->dim[a];
        int64_t b = st[i] < 0 ? st[i] + d : st[i], e = en[i] < 0 ? en[i] + d : en[i];
        b = b < 0 ? 0 : b > d ? d : b;
        e = e < 0 ? 0 : e > d ? d : e;
        int64_t cnt = e > b ? (e - b + sp[i] - 1) / sp[i] : 0;
        if (cnt < 1)
            return false;
        v->offset += b * v->stride[a];
        v->stride[a] *= sp[i];
        v->dim[a] = cnt;
    }
    return reshape_view(v, out_shape(g, out));
}

/* Split: output `out` starts where the earlier outputs end on the axis. */
static bool rule_split(const kiln_graph *g, const kiln_node *n, uint32_t out, view *v, double *s)
{
    (void)s;
    int64_t axis = kiln_attr_int(g, n, "axis", 0), at = 0;
    if (axis < 0)
        axis += v->rank;
    if (axis < 0 || axis >= v->rank || KILN_DIM_IS_SYM(v->dim[axis]))
        return false;
    for (uint32_t i = 0; i < n->n_out; i++) {
        uint32_t o = kiln_node_output(g, n, i);
        const kiln_shape *os = out_shape(g, o);
        if (os->rank != v->rank || KILN_DIM_IS_SYM(os->dim[axis]))
            return false;
        if (o == out) {
            v->offset += at * v->stride[axis];
            v->dim[axis] = os->dim[axis];
            return reshape_view(v, os);
        }
        at += os->dim[axis];
    }
    return false;
}

/* Expand: broadcast dimensions read with stride 0. */
static bool rule_expand(const kiln_graph *g, const kiln_node *n, uint32_t out, view *v, double *s)
{
    (void)n, (void)s;
    const kiln_shape *os = out_shape(g, out);
    if (os->rank < v->rank)
        return false;
    view r = {.rank = os->rank, .offset = v->offset};
    for (int k = 0; k < os->rank; k++) {
        int i = k - (os->rank - v->rank);
        int64_t d = i >= 0 ? v->dim[i] : 1;
        r.dim[k] = os->dim[k];
        if (d == os->dim[k])          /* the same size, or the same symbol */
            r.stride[k] = i >= 0 ? v->stride[i] : 0;
        else if (d == 1 && (os->dim[k] >= 1 || KILN_DIM_IS_SYM(os->dim[k])))
            r.stride[k] = 0;
        else
            return false;
    }
    *v = r;
    return true;
}

static bool rule_identity(const kiln_graph *g, const kiln_node *n, uint32_t out, view *v, double *s)
{
    (void)g, (void)n, (void)out, (void)v, (void)s;
    return true;
}

/* Dropout is the identity unless it may train with a non-zero ratio. */
static bool dropout_is_identity(const kiln_graph *g, const kiln_node *n)
{
    double ratio;
    const kiln_value *t = kiln_in(g, n, 2);
    bool off = !t || (t->data && t->nbytes >= 1 && ((const uint8_t *)t->data)[0] == 0);
    return off || (scalar_const(g, kiln_node_input(g, n, 1), &ratio) && ratio == 0.0);
}

static bool rule_dropout(const kiln_graph *g, const kiln_node *n, uint32_t out, view *v, double *s)
{
    (void)v, (void)s;
    return out == kiln_node_output(g, n, 0) && dropout_is_identity(g, n);
}

/* Mul or Div by a one-element constant: a factor of the scores (only
 * where the caller allows scales: on Q and K, never on V). */
static bool rule_scale(const kiln_graph *g, const kiln_node *n, uint32_t out, view *v, double *s)
{
    double c;
    bool mul = n->op == KILN_OP_MUL;
    uint32_t a = kiln_node_input(g, n, 0), b = kiln_node_input(g, n, 1);
    const kiln_shape *os = out_shape(g, out);
    if (os->rank != v->rank)
        return false;
    for (int k = 0; k < v->rank; k++)
        if (os->dim[k] != v->dim[k])
            return false;    /* the constant must not broadcast the operand */
    if (scalar_const(g, b, &c) && c != 0.0) {
        *s *= mul ? c : 1.0 / c;
    } else if (mul && scalar_const(g, a, &c)) {
        *s *= c;
    } else {
        return false;
    }
    return true;
}

typedef struct view_rule {
    view_apply apply;
    bool scale;        /* a factor, not a view: Q and K only */
    bool bijective;    /* every element kept once: usable on Y */
} view_rule;

/* The table: one row per op that can be read as a view. */
static const view_rule view_rules[KILN_OP_COUNT] = {
    [KILN_OP_RESHAPE] = {rule_reshape, false, true},
    [KILN_OP_SQUEEZE] = {rule_reshape, false, true},
    [KILN_OP_UNSQUEEZE] = {rule_reshape, false, true},
    [KILN_OP_FLATTEN] = {rule_reshape, false, true},
    [KILN_OP_TRANSPOSE] = {rule_transpose, false, true},
    [KILN_OP_IDENTITY] = {rule_identity, false, true},
    [KILN_OP_DROPOUT] = {rule_dropout, false, true},
    [KILN_OP_GATHER] = {rule_gather, false, false},
    [KILN_OP_SLICE] = {rule_slice, false, false},
    [KILN_OP_SPLIT] = {rule_split, false, false},
    [KILN_OP_EXPAND] = {rule_expand, false, false},
    [KILN_OP_MUL] = {rule_scale, true, false},
    [KILN_OP_DIV] = {rule_scale, true, false},
};

/* The input of node n that the view reads (for Mul/Div: the operand that
 * is not the one-element constant). 0: none (a Mul/Div by a tensor). */
static uint32_t viewed_input(const kiln_graph *g, const kiln_node *n)
{
    double c;
    bool scale = n->op == KILN_OP_MUL || n->op == KILN_OP_DIV;
    if (scale && scalar_const(g, kiln_node_input(g, n, 1), &c))
        return kiln_node_input(g, n, 0);
    if (n->op == KILN_OP_MUL && scalar_const(g, kiln_node_input(g, n, 0), &c))
        return kiln_node_input(g, n, 1);
    return scale ? 0 : kiln_node_input(g, n, 0);
}

/* A value traced back to the tensor it views. */
typedef struct traced {
    uint32_t base;     /* the tensor read */
    view v;            /* the value as a view of base */
    double scale;      /* scalar factors met on the way (1 when none) */
} traced;

/* Follow value v back through view ops to the furthest tensor it is a
 * view of; when a rule does not apply, the view starts after that op. */
static bool trace_back(const kiln_graph *g, uint32_t v, bool allow_scale, const char *what,
                       traced *t, why *w)
{
    uint32_t node[MAX_CHAIN], out[MAX_CHAIN];
    int n = 0;
    for (uint32_t cur = v; n < MAX_CHAIN;) {
        const kiln_node *p = producer(g, cur);
        const view_rule *r = p ? &view_rules[p->op] : NULL;
        if (!r || !r->apply || (r->scale && !allow_scale) || !viewed_input(g, p))
            break;
        node[n] = g->values[cur].producer;
        out[n++] = cur;
        cur = viewed_input(g, p);
    }
    t->base = n ? viewed_input(g, &g->nodes[node[n - 1]]) : v;
    t->scale = 1.0;
    if (!contiguous(&g->values[t->base].shape, &t->v))
        return symbolic(g, t->base, what, w);
    for (int k = n - 1; k >= 0; k--) {
        view before = t->v;
        if (view_rules[g->nodes[node[k]].op].apply(g, &g->nodes[node[k]], out[k], &t->v, &t->scale))
            continue;
        t->v = before;
        t->base = out[k];
        t->scale = 1.0;
        if (!contiguous(&g->values[out[k]].shape, &t->v))
            return symbolic(g, out[k], what, w);
    }
    return true;
}

/* ===== 2. products: MatMul and Einsum ===================================== */

/* One operand of a product: the operand axis of each batch axis of the
 * output (-1: broadcast), of its rows (tokens) and of its features. */
typedef struct operand {
    uint32_t value;
    int lead[KILN_MAX_RANK];
    int row, feat;
} operand;

typedef struct product {
    uint32_t node;
    operand a, b;            /* scores: Q side, K side; P·V: P, V */
    int n_lead;              /* batch axes of the output */
    int64_t lead[KILN_MAX_RANK];
} product;

/* Batch axes of a MatMul operand of rank r against an output of rank R:
 * the operand's axis, -1 when it broadcasts (absent or 1), -2 when the
 * sizes differ otherwise (two symbols inference could not equate). */
static void matmul_lead(const kiln_graph *g, uint32_t v, const kiln_shape *o, operand *op)
{
    const kiln_shape *s = &g->values[v].shape;
    op->value = v;
    for (int k = 0; k < o->rank - 2; k++) {
        int i = k - (o->rank - s->rank);
        op->lead[k] = i >= 0 && s->dim[i] == o->dim[k] ? i : i < 0 || s->dim[i] == 1 ? -1 : -2;
    }
}

static bool classify_matmul(const kiln_graph *g, uint32_t node, bool scores, product *p, why *w)
{
    const kiln_node *n = &g->nodes[node];
    const kiln_shape *o = &kiln_out(g, n, 0)->shape;
    const kiln_shape *a = &kiln_in(g, n, 0)->shape, *b = &kiln_in(g, n, 1)->shape;
    if (a->rank < 2 || b->rank < 2)
        return fail(w, "the %s MatMul has an operand of rank < 2", scores ? "score" : "P·V");
    memset(p, 0, sizeof *p);
    p->node = node;
    p->n_lead = o->rank - 2;
    for (int k = 0; k < p->n_lead; k++)
        p->lead[k] = o->dim[k];
    matmul_lead(g, kiln_node_input(g, n, 0), o, &p->a);
    matmul_lead(g, kiln_node_input(g, n, 1), o, &p->b);
    p->a.row = a->rank - 2, p->a.feat = a->rank - 1;
    p->b.row = scores ? b->rank - 1 : b->rank - 2;
    p->b.feat = scores ? b->rank - 2 : b->rank - 1;
    return true;
}

/* Einsum labels of "x,y->z" with every "..." spelled as digits, right
 * aligned (so broadcast batch axes line up). */
typedef struct einsum {
    char in[2][KILN_MAX_RANK + 1], out[KILN_MAX_RANK + 1];
} einsum;

static bool expand_term(const char *t, size_t len, int rank, int ell, char *out)
{
    const char *dots = NULL;
    int letters = 0;
    for (size_t i = 0; i < len; i++) {
        if (t[i] == '.') {
            if (dots || i + 2 >= len || t[i + 1] != '.' || t[i + 2] != '.')
                return false;
            dots = t + i;
            i += 2;
        } else if ((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z')) {
            letters++;
        } else {
            return false;
        }
    }
    int e = dots ? (rank >= 0 ? rank - letters : ell) : 0;
    if (e < 0 || e > ell || letters + e > KILN_MAX_RANK || (rank >= 0 && letters + e != rank))
        return false;
    int k = 0;
    for (size_t i = 0; i < len; i++) {
        if (t[i] == '.') {
            for (int j = 0; j < e; j++)
                out[k++] = (char)('0' + ell - e + j);
            i += 2;
        } else {
            out[k++] = t[i];
        }
    }
    out[k] = '\0';
    return true;
}

static bool parse_einsum(const kiln_graph *g, const kiln_node *n, einsum *e)
{
    const char *eq = kiln_attr_string(g, n, "equation", NULL);
    char s[64];
    size_t k = 0;
    if (!eq || n->n_in != 2)
        return false;
    for (; *eq && k + 1 < sizeof s; eq++)
        if (*eq != ' ')
            s[k++] = *eq;
    s[k] = '\0';
    char *arrow = strstr(s, "->"), *comma = strchr(s, ',');
    if (!arrow || !comma || comma > arrow)
        return false;
    int r0 = kiln_in(g, n, 0)->shape.rank, r1 = kiln_in(g, n, 1)->shape.rank, ell = 0;
    int l0 = 0, l1 = 0;
    for (char *c = s; c < comma; c++)
        l0 += *c != '.';
    for (char *c = comma + 1; c < arrow; c++)
        l1 += *c != '.';
    if (strchr(s, '.'))
        ell = r0 - l0 > r1 - l1 ? r0 - l0 : r1 - l1;
    return expand_term(s, (size_t)(comma - s), r0, ell, e->in[0]) &&
           expand_term(comma + 1, (size_t)(arrow - comma - 1), r1, ell, e->in[1]) &&
           expand_term(arrow + 2, strlen(arrow + 2), -1, ell, e->out);
}

static int label_at(const char *labels, char c)
{
    const char *p = strchr(labels, c);
    return p && c ? (int)(p - labels) : -1;
}

/* The operand axes of the output batch labels, its row label and the
 * contracted label; every label of the operand must be one of those. */
static bool einsum_operand(const einsum *e, int i, const char *lead, char row, char feat, operand *op)
{
    const char *lab = e->in[i];
    int n_lead = (int)strlen(lead);
    for (int k = 0; k < n_lead; k++)
        op->lead[k] = label_at(lab, lead[k]);
    op->row = label_at(lab, row);
    op->feat = label_at(lab, feat);
    if (op->row < 0 || op->feat < 0)
        return false;
    for (const char *c = lab; *c; c++)
        if (*c != row && *c != feat && !strchr(lead, *c))
            return false;
    return true;
}

/* Scores "...(r)(d),...(c)(d)->...rc" (operands in either order, K
 * possibly written transposed) or P·V "...ij,...jd->...id". */
static bool classify_einsum(const kiln_graph *g, uint32_t node, bool scores, product *p, why *w)
{
    const kiln_node *n = &g->nodes[node];
    einsum e;
    if (!parse_einsum(g, n, &e))
        return fail(w, "Einsum '%s' is not a two-operand equation with an explicit output",
                    kiln_attr_string(g, n, "equation", ""));
    int no = (int)strlen(e.out);
    if (no < 2)
        return fail(w, "Einsum '%s' has an output of rank < 2", kiln_attr_string(g, n, "equation", ""));
    char lead[KILN_MAX_RANK + 1], r = e.out[no - 2], c = e.out[no - 1], d = 0;
    memcpy(lead, e.out, (size_t)(no - 2));
    lead[no - 2] = '\0';
    memset(p, 0, sizeof *p);
    p->node = node;
    p->n_lead = no - 2;
    const kiln_shape *o = &kiln_out(g, n, 0)->shape;
    for (int k = 0; k < p->n_lead; k++)
        p->lead[k] = o->dim[k];
    /* the contracted label: in both operands, not in the output */
    for (const char *x = e.in[0]; *x; x++)
        if (strchr(e.in[1], *x) && !strchr(e.out, *x))
            d = *x;
    int qa = label_at(e.in[0], r) >= 0 ? 0 : 1;
    bool ok = d != 0;
    if (scores) {
        ok = ok && einsum_operand(&e, qa, lead, r, d, &p->a) && einsum_operand(&e, 1 - qa, lead, c, d, &p->b);
    } else {
        /* P carries r (query) and the contracted key label d; V carries d and c */
        ok = ok && einsum_operand(&e, qa, lead, r, d, &p->a) && einsum_operand(&e, 1 - qa, lead, d, c, &p->b);
    }
    if (!ok)
        return fail(w, "Einsum '%s' is not %s", kiln_attr_string(g, n, "equation", ""),
                    scores ? "a score product \"...id,...jd->...ij\"" : "a P·V product \"...ij,...jd->...id\"");
    p->a.value = kiln_node_input(g, n, (uint32_t)qa);
    p->b.value = kiln_node_input(g, n, (uint32_t)(1 - qa));
    return true;
}

static bool classify(const kiln_graph *g, uint32_t node, bool scores, product *p, why *w)
{
    kiln_op op = g->nodes[node].op;
    if (op == KILN_OP_MATMUL)
        return classify_matmul(g, node, scores, p, w);
    if (op == KILN_OP_EINSUM)
        return classify_einsum(g, node, scores, p, w);
    return fail(w, "%s", "no MatMul or Einsum");
}

/* ===== 3. layouts ================================================================= */

/* Rows of an operand: [offset, batch, head, token] strides and its sizes. */
typedef struct rows {
    int64_t layout[4];
    int64_t tokens, feat;
} rows;

/* Batch axes 0..n-2 merged into one batch stride, the last one the heads
 * (one axis: batch only; none: B = H = 1). dims/strides per batch axis;
 * a symbolic dim (the batch) cannot have another axis merged above it. */
static bool merge_lead(const int64_t *dim, const int64_t *stride, int n, int64_t *bs, int64_t *hs)
{
    *bs = *hs = 0;
    if (n == 0)
        return true;
    if (n == 1) {
        *bs = big(dim[0]) ? stride[0] : 0;
        return true;
    }
    *hs = big(dim[n - 1]) ? stride[n - 1] : 0;
    int last = -1;
    for (int k = n - 2; k >= 0; k--) {
        if (dim[k] == 1)
            continue;
        if (last >= 0 && (KILN_DIM_IS_SYM(dim[last]) || stride[k] != stride[last] * dim[last]))
            return false;
        if (last < 0)
            *bs = stride[k];
        last = k;
    }
    return true;
}

/* The rows of operand op (traced as t) over the product's batch axes. */
static bool operand_rows(const kiln_graph *g, const product *p, const operand *op, const traced *t,
                         const char *what, rows *r, why *w)
{
    int64_t st[KILN_MAX_RANK] = {0};
    const kiln_shape *os = &g->values[op->value].shape;
    bool same = os->rank == t->v.rank;
    for (int k = 0; same && k < os->rank; k++)
        same = os->dim[k] == t->v.dim[k];
    if (!same)  /* every rule checks its output's shape; this is the guard */
        return fail(w, "the view of %s does not have its shape", what);
    /* a batch axis the operand has as 1 is broadcast: stride 0 */
    for (int k = 0; k < p->n_lead; k++) {
        if (op->lead[k] == -2)
            return fail(w, "the batch dimensions of %s are not those of the product (symbolic sizes that "
                        "shape inference could not equate): bind the inputs' shapes with --shape", what);
        st[k] = op->lead[k] >= 0 && big(t->v.dim[op->lead[k]]) ? t->v.stride[op->lead[k]] : 0;
    }
    if (!merge_lead(p->lead, st, p->n_lead, &r->layout[1], &r->layout[2]))
        return fail(w, "the batch dimensions of %s cannot be merged into one stride", what);
    r->layout[0] = t->v.offset;
    r->tokens = t->v.dim[op->row];
    r->feat = t->v.dim[op->feat];
    if (KILN_DIM_IS_SYM(r->tokens))
        return sym_fail(g, r->tokens, "the tokens", what, w);
    if (KILN_DIM_IS_SYM(r->feat))
        return sym_fail(g, r->feat, "the head dimension", what, w);
    r->layout[3] = r->tokens > 1 ? t->v.stride[op->row] : 0;
    if (r->feat > 1 && t->v.stride[op->feat] != 1)
        return fail(w, "%s rows are not contiguous: its head dimension has stride %lld in '%s'", what,
                    (long long)t->v.stride[op->feat], g->values[t->base].name);
    return true;
}

/* Where row (b, h, n) of O = [lead..., N, D] (the P·V output) lands in
 * y, the end of the chain node[0..n) of Transpose/Reshape-like ops after
 * O. Each op materializes its output, so O's axes are followed as pieces:
 * every axis of the current tensor is a run of pieces of O's canonical
 * axes B (O's batch axes but the last, possibly several pieces), H, N, D.
 * A Transpose permutes the runs; a reshape regroups the pieces (never
 * splitting one). In y, the pieces of each canonical axis must keep their
 * order and be contiguous among themselves: then that axis has one stride.
 * False otherwise, or when D is not contiguous in y. */
enum { MAX_PIECES = 16 };

typedef struct piece {
    int axis;              /* 0 B, 1 H, 2 N, 3 D */
    int64_t dim;
} piece;

typedef struct placed {
    piece piece[MAX_PIECES];
    int n_pieces;
    int rank;
    int first[KILN_MAX_RANK], count[KILN_MAX_RANK];   /* each axis: a run of `order` */
    int order[MAX_PIECES]; /* pieces in the current tensor's order */
} placed;

/* Regroup the pieces in their current order into the axes of shape s. */
static bool regroup(placed *t, const kiln_shape *s)
{
    int seq[MAX_PIECES], n = 0;
    for (int k = 0; k < t->rank; k++)
        for (int i = 0; i < t->count[k]; i++)
            seq[n++] = t->order[t->first[k] + i];
    if (s->rank < 0)
        return false;
    placed r = *t;
    r.rank = s->rank;
    int at = 0;
    for (int k = 0; k < s->rank; k++) {
        int64_t want = s->dim[k], got = 1;
        r.first[k] = at;
        if (KILN_DIM_IS_SYM(want)) {  /* a symbol is exactly the piece of that symbol */
            if (at >= n || t->piece[seq[at]].dim != want)
                return false;
            r.count[k] = 1;
            at++;
            continue;
        }
        while (got < want && at < n) {
            if (KILN_DIM_IS_SYM(t->piece[seq[at]].dim))
                return false;
            got *= t->piece[seq[at++]].dim;
        }
        if (got != want)
            return false;
        r.count[k] = at - r.first[k];
    }
    if (at != n)
        return false;
    memcpy(r.order, seq, (size_t)n * sizeof *seq);
    *t = r;
    return true;
}

static bool place_transpose(const kiln_graph *g, const kiln_node *nd, placed *t)
{
    uint32_t np = 0;
    const int64_t *perm = kiln_attr_ints(g, nd, "perm", &np);
    placed r = *t;
    if (perm && (int)np != t->rank)
        return false;
    int at = 0;
    for (int k = 0; k < t->rank; k++) {
        int64_t from = perm ? perm[k] : t->rank - 1 - k;
        if (from < 0 || from >= t->rank)
            return false;
        r.first[k] = at;
        r.count[k] = t->count[from];
        for (int i = 0; i < t->count[from]; i++)
            r.order[at++] = t->order[t->first[from] + i];
    }
    *t = r;
    return true;
}

static bool invert_y(const kiln_graph *g, uint32_t o, const uint32_t *node, const uint32_t *outs, int n,
                     int n_lead, int64_t y_layout[3])
{
    const kiln_shape *os = &g->values[o].shape;
    placed t = {.rank = os->rank};
    for (int k = 0; k < os->rank; k++) {
        /* as in the B and H of `layouts`: the last of two or more batch
         * axes is the heads; a single one is the batch (H = 1) */
        int axis = k >= n_lead ? 2 + (k - n_lead) : k == n_lead - 1 && n_lead >= 2 ? 1 : 0;
        t.first[k] = t.n_pieces;
        t.count[k] = big(os->dim[k]);
        if (big(os->dim[k])) {
            t.piece[t.n_pieces] = (piece){axis, os->dim[k]};
            t.order[t.n_pieces] = t.n_pieces;
            t.n_pieces++;
        }
    }
    for (int k = 0; k < n; k++) {
        const kiln_node *nd = &g->nodes[node[k]];
        bool ok = nd->op == KILN_OP_TRANSPOSE ? place_transpose(g, nd, &t)
                                             : regroup(&t, &g->values[outs[k]].shape);
        if (!ok)
            return false;
    }
    /* strides of the pieces in y (contiguous), then one per canonical
     * axis. A symbolic piece (the batch) must be outermost: no stride
     * may depend on its size (unknown marks the strides that would). */
    int64_t pstride[MAX_PIECES], yc = 1, axis_stride[4] = {0, 0, 0, 0}, inner[4] = {0, 0, 0, 0};
    bool unknown[MAX_PIECES], yc_unknown = false, inner_unknown[4] = {false, false, false, false};
    const kiln_shape *ys = &g->values[n ? outs[n - 1] : o].shape;
    for (int k = t.rank - 1; k >= 0; k--) {
        int64_t st = yc;
        bool st_unknown = yc_unknown;
        for (int i = t.count[k] - 1; i >= 0; i--) {
            int p = t.order[t.first[k] + i];
            pstride[p] = st;
            unknown[p] = st_unknown;
            if (KILN_DIM_IS_SYM(t.piece[p].dim))
                st_unknown = true;
            else
                st *= t.piece[p].dim;
        }
        if (KILN_DIM_IS_SYM(ys->dim[k]))
            yc_unknown = true;
        else
            yc *= ys->dim[k];
    }
    /* pieces were created outer to inner per canonical axis */
    for (int p = t.n_pieces - 1; p >= 0; p--) {
        int a = t.piece[p].axis;
        if (unknown[p] || inner_unknown[a])
            return false;
        if (!inner[a])
            axis_stride[a] = pstride[p];
        else if (pstride[p] != inner[a])
            return false;
        inner[a] = pstride[p] * (KILN_DIM_IS_SYM(t.piece[p].dim) ? 1 : t.piece[p].dim);
        inner_unknown[a] = KILN_DIM_IS_SYM(t.piece[p].dim);
    }
    if (inner[3] && axis_stride[3] != 1)
        return false;
    memcpy(y_layout, axis_stride, 3 * sizeof *axis_stride);
    return true;
}

/* The merged output: the longest single-use chain of bijective views
 * after O whose end y takes row (b, h, n) at y_layout. */
static uint32_t find_y(const kiln_graph *g, const kiln_users *u, uint32_t o, int n_lead,
                       int64_t y_layout[3])
{
    uint32_t node[MAX_CHAIN], outs[MAX_CHAIN];
    int n = 0;
    for (uint32_t cur = o; n < MAX_CHAIN && cur < u->n_values;) {
        uint32_t user = kiln_single_user(u, cur);
        const kiln_node *un = user ? &g->nodes[user] : NULL;
        if (!un || !view_rules[un->op].bijective || kiln_node_input(g, un, 0) != cur)
            break;
        node[n] = user;
        outs[n++] = cur = kiln_node_output(g, un, 0);
    }
    for (; n >= 0; n--)
        if (invert_y(g, o, node, outs, n, n_lead, y_layout))
            return n ? outs[n - 1] : o;
    return 0;
}

/* ===== 4. the scores chain: bias, scale, views ====================================== */

typedef struct addend {
    uint32_t value;          /* what is added */
    kiln_shape at;           /* the shape of the scores where it is added */
    double after;            /* the product of the scales applied after it */
} addend;

typedef struct scores {
    product prod;
    double scale;            /* scales on the scores themselves */
    bool transposed;         /* softmax over Sᵀ: Q and K swap */
    addend add[MAX_ADDS];
    int n_add;
} scores;

/* Walk back from the softmax input z to the score product. */
static bool scores_chain(const kiln_graph *g, uint32_t z, scores *sc, why *w)
{
    double factor = 1.0;     /* scales seen so far: applied after what comes earlier */
    memset(sc, 0, sizeof *sc);
    for (uint32_t cur = z, steps = 0; steps < MAX_CHAIN; steps++) {
        const kiln_node *n = producer(g, cur);
        uint32_t id = producer_id(g, cur);
        double c;
        if (!n)
            return fail(w, "the scores come from %s, not a MatMul or Einsum of Q and K", op_of(g, cur));
        switch (n->op) {
        case KILN_OP_MATMUL:
        case KILN_OP_EINSUM:
            if (!classify(g, id, true, &sc->prod, w))
                return false;
            if (sc->transposed) {
                operand t = sc->prod.a;
                sc->prod.a = sc->prod.b;
                sc->prod.b = t;
            }
            sc->scale = factor;
            return true;
        case KILN_OP_MUL:
        case KILN_OP_DIV: {
            uint32_t a = kiln_node_input(g, n, 0), b = kiln_node_input(g, n, 1);
            if (scalar_const(g, b, &c) && c != 0.0) {
                factor *= n->op == KILN_OP_MUL ? c : 1.0 / c;
                cur = a;
            } else if (n->op == KILN_OP_MUL && scalar_const(g, a, &c)) {
                factor *= c;
                cur = b;
            } else {
                return fail(w, "the scores go through %s by a tensor that is not a one-element constant",
                            kiln_op_name(n->op));
            }
            break;
        }
        case KILN_OP_ADD: {
            const kiln_shape *os = &kiln_out(g, n, 0)->shape;
            uint32_t a = kiln_node_input(g, n, 0), b = kiln_node_input(g, n, 1), keep, bias;
            /* the scores are the operand of the output's shape that is not constant */
            bool a_ok = kiln_shape_equal(&g->values[a].shape, os) && !g->values[a].data;
            bool b_ok = kiln_shape_equal(&g->values[b].shape, os) && !g->values[b].data;
            if (a_ok && b_ok) {
                const kiln_node *pa = producer(g, a);
                a_ok = pa && (pa->op == KILN_OP_MATMUL || pa->op == KILN_OP_EINSUM || pa->op == KILN_OP_MUL ||
                              pa->op == KILN_OP_DIV || pa->op == KILN_OP_ADD || view_rules[pa->op].bijective);
                b_ok = !a_ok;
            }
            if (!a_ok && !b_ok)
                return fail(w, "the scores go through an Add where neither operand has the scores' shape");
            keep = a_ok ? a : b;
            bias = a_ok ? b : a;
            if (sc->transposed)
                return fail(w, "a bias is added before the scores are transposed");
            if (sc->n_add == MAX_ADDS)
                return fail(w, "more than %d bias terms", MAX_ADDS);
            if (factor != 1.0 && !g->values[bias].data)
                return fail(w, "scores scaled after the mask: the mask '%s' is not a constant, and a "
                            "scale of %g follows it", g->values[bias].name, factor);
            sc->add[sc->n_add++] = (addend){bias, *os, factor};
            cur = keep;
            break;
        }
        case KILN_OP_TRANSPOSE: {
            uint32_t np = 0;
            const int64_t *perm = kiln_attr_ints(g, n, "perm", &np);
            int r = (int)np;
            bool swap = perm && r >= 2 && perm[r - 1] == r - 2 && perm[r - 2] == r - 1;
            for (int k = 0; swap && k < r - 2; k++)
                swap = perm[k] == k;
            if (!swap)
                return fail(w, "the scores go through a Transpose that is not of the last two axes");
            sc->transposed = !sc->transposed;
            cur = kiln_node_input(g, n, 0);
            break;
        }
        default:
            if (view_rules[n->op].bijective && n->op != KILN_OP_TRANSPOSE) {
                if (n->op == KILN_OP_DROPOUT && !dropout_is_identity(g, n))
                    return fail(w, "the scores go through a Dropout that may train");
                cur = kiln_node_input(g, n, 0);
                break;
            }
            return fail(w, "the scores come from %s, not a MatMul or Einsum of Q and K", kiln_op_name(n->op));
        }
    }
    return fail(w, "the scores chain is longer than %d nodes", MAX_CHAIN);
}

/* ---- the bias: one tensor [Bb, Hb, Nq', Nk'] -------------------------------------------- */

/* Element e (row-major over `at`) of c broadcast to `at`. */
static float broadcast_at(const kiln_value *c, const kiln_shape *at, int64_t e)
{
    int64_t idx = 0, mul = 1;
    const float *d = c->data;
    for (int k = at->rank - 1; k >= 0; k--) {
        int64_t i = e % at->dim[k];
        e /= at->dim[k];
        int ck = k - (at->rank - c->shape.rank);
        if (ck >= 0) {
            if (c->shape.dim[ck] > 1)
                idx += i * mul;
            mul *= c->shape.dim[ck];
        }
    }
    return d[idx];
}

enum { BIAS_MAX_ELEMENTS = 1 << 24 };

static uint32_t new_const(kiln_graph *g, const char *base, const char *suffix, const kiln_shape *s,
                          const void *data, size_t nbytes)
{
    char name[256] = "";
    if (base && base[0]) {
        snprintf(name, sizeof name, "%s%s", base, suffix);
        if (kiln_graph_find_value(g, name))
            name[0] = '\0';
    }
    return kiln_const_add(g, name, KILN_DT_F32, s, data, nbytes, true);
}

/* The dense bias over the scores [B, H, Nq, Nk], compressed to the
 * smallest [Bb, Hb, Nq', Nk'] the kernel broadcasts back exactly. */
static uint32_t compress_bias(kiln_graph *g, const float *dense, const int64_t bhqk[4], const char *name)
{
    int64_t B = bhqk[0], H = bhqk[1], Q = bhqk[2], K = bhqk[3], per = H * Q * K;
    int64_t bb = B;
    for (int64_t c = 1; c < B; c++) {
        if (B % c)
            continue;
        bool periodic = true;
        for (int64_t i = c * per; periodic && i < B * per; i++)
            periodic = dense[i] == dense[i - c * per];
        if (periodic) {
            bb = c;
            break;
        }
    }
    bool same_h = true, same_q = true, same_k = true;
    for (int64_t i = 0; i < bb * per; i++) {
        int64_t k = i % K, q = (i / K) % Q, h = (i / (K * Q)) % H, b = i / per;
        int64_t base = ((b * H) * Q + 0) * K;
        same_h = same_h && dense[i] == dense[base + q * K + k];
        same_q = same_q && dense[i] == dense[((b * H + h) * Q) * K + k];
        same_k = same_k && dense[i] == dense[((b * H + h) * Q + q) * K];
    }
    int64_t dims[4] = {bb, same_h ? 1 : H, same_q ? 1 : Q, same_k ? 1 : K}, n = 1;
    for (int k = 0; k < 4; k++)
        n *= dims[k];
    float *out = kiln_xcalloc((size_t)n, sizeof *out);
    for (int64_t i = 0; i < n; i++) {
        int64_t k = i % dims[3], q = (i / dims[3]) % dims[2], h = (i / (dims[3] * dims[2])) % dims[1];
        int64_t b = i / (dims[1] * dims[2] * dims[3]);
        out[i] = dense[((b * H + h) * Q + q) * K + k];
    }
    kiln_shape s = kiln_shape_make(4, dims);
    uint32_t v = new_const(g, name, "_bias", &s, out, (size_t)n * sizeof *out);
    free(out);
    return v;
}

/* A value added to the scores as is: a constant reshaped to rank 4, or a
 * rank-4 tensor of the bias form. 0 when it does not fit. */
static uint32_t direct_bias(kiln_graph *g, const addend *a, const int64_t bhqk[4], why *w)
{
    const kiln_value *c = &g->values[a->value];
    const kiln_shape *at = &a->at;
    bool shape_ok = c->dtype == KILN_DT_F32 && c->shape.rank >= 0 && c->shape.rank <= at->rank;
    /* a symbolic dimension only where the scores have the same one (the
     * run-time batch: the bias then has B batches, and B % B = 0) */
    for (int k = 0; shape_ok && k < c->shape.rank; k++)
        shape_ok = !KILN_DIM_IS_SYM(c->shape.dim[k]) ||
                   (at->rank - c->shape.rank + k < at->rank - 3 &&
                    c->shape.dim[k] == at->dim[at->rank - c->shape.rank + k]);
    if (!shape_ok)
        return fail(w, "the mask '%s' is not an f32 tensor of static shape (but for the batch) at most the "
                    "scores' rank", c->name), 0;
    /* broadcast c to [lead..., Nq, Nk], then read as [Bb, Hb, Nq', Nk'] */
    int64_t d[KILN_MAX_RANK], bsym = 0;
    int r = at->rank;
    for (int k = 0; k < r; k++) {
        int ck = k - (r - c->shape.rank);
        d[k] = ck >= 0 ? c->shape.dim[ck] : 1;
    }
    int64_t hb = r >= 3 ? d[r - 3] : 1, bb = 1;
    for (int k = 0; k < r - 3; k++) {
        if (KILN_DIM_IS_SYM(d[k]))
            bsym = d[k];
        else
            bb *= d[k];
    }
    int64_t dims[4] = {bsym ? bsym : bb, hb, d[r - 2], d[r - 1]};
    /* the batch axes of c must be all full or all a prefix of 1s, so that
     * b % Bb reads the right element */
    bool ok = bsym ? bsym == bhqk[0] && bb == 1 : bb == 1 || bb == bhqk[0];
    for (int k = 0; ok && k < r - 3; k++)
        ok = d[k] == at->dim[k] || d[k] == 1;
    if ((bb != 1 && bb == bhqk[0]) || bsym)
        for (int k = 0; ok && k < r - 3; k++)
            ok = d[k] == at->dim[k];
    if (!ok || a->after != 1.0)
        return 0;
    if (c->shape.rank == 4 && r == 4)
        return a->value;
    kiln_shape s = kiln_shape_make(4, dims);
    if (c->data)
        return new_const(g, c->name, "_4d", &s, c->data, c->nbytes);
    return fail(w, "the mask '%s' is not a constant and has rank %d, not 4 like the bias input", c->name,
                c->shape.rank), 0;
}

/* The bias input for the scores chain, or 0 when there is none. *ok
 * false (and the reason) when the chain's bias cannot be expressed. */
static uint32_t make_bias(kiln_graph *g, const scores *sc, const kiln_shape *z, const int64_t bhqk[4],
                          const char *name, bool *ok, why *w)
{
    *ok = true;
    if (!sc->n_add)
        return 0;
    if (sc->n_add == 1 && kiln_shape_equal(&sc->add[0].at, z)) {
        uint32_t v = direct_bias(g, &sc->add[0], bhqk, w);
        if (v)
            return v;
        if (w && w->text[0])
            return *ok = false, 0;
    }
    /* with a run-time batch the constants must not vary over it: one
     * batch of the scores is summed (Bb = 1), each term's shape with its
     * symbolic dimensions read as 1 */
    int64_t b1[4] = {KILN_DIM_IS_SYM(bhqk[0]) ? 1 : bhqk[0], bhqk[1], bhqk[2], bhqk[3]}, n = 1;
    addend terms[MAX_ADDS];
    for (int k = 0; k < 4; k++)
        n *= b1[k];
    for (int k = 0; k < sc->n_add; k++) {
        const kiln_value *c = &g->values[sc->add[k].value];
        if (!c->data || c->dtype != KILN_DT_F32)
            return *ok = fail(w, "the mask '%s' is not a constant, and it is not one tensor [Bb, Hb, Nq, Nk] "
                              "added to the scores", c->name), 0;
        terms[k] = sc->add[k];
        int64_t m = 1;
        for (int j = 0; j < terms[k].at.rank; j++) {
            int cj = j - (terms[k].at.rank - c->shape.rank);
            if (KILN_DIM_IS_SYM(terms[k].at.dim[j])) {
                if (cj >= 0 && c->shape.dim[cj] != 1)
                    return *ok = fail(w, "the bias '%s' varies over the symbolic batch", c->name), 0;
                terms[k].at.dim[j] = 1;
            }
            m *= terms[k].at.dim[j];
        }
        if (m != n)
            return *ok = fail(w, "the bias '%s' is added on a view of the scores that splits the symbolic "
                              "batch: bind the inputs' shapes with --shape", c->name), 0;
    }
    if (n > BIAS_MAX_ELEMENTS)
        return *ok = fail(w, "the folded bias would have %lld elements (more than %d)", (long long)n,
                          BIAS_MAX_ELEMENTS), 0;
    /* the scores' element order is the same in every view of the chain */
    float *dense = kiln_xcalloc((size_t)n, sizeof *dense);
    for (int k = 0; k < sc->n_add; k++) {
        const addend *a = &terms[k];
        for (int64_t e = 0; e < n; e++)
            dense[e] = (float)((double)dense[e] + a->after * (double)broadcast_at(&g->values[a->value], &a->at, e));
    }
    uint32_t v = compress_bias(g, dense, b1, name);
    free(dense);
    return v;
}

/* ===== 5. the probabilities: re-attention and the product with V ===================== */

typedef struct probs {
    uint32_t p;              /* the probabilities the product with V reads */
    uint32_t mix, mix_scale, mix_shift;   /* re-attention inputs (0: none) */
    bool need_p;             /* p has users other than the product */
    product pv;
} probs;

/* mix[h, g] from the head-mixing Einsum "bhij,hg->bgij" (any labels;
 * the matrix in either orientation or operand order). */
static bool reattention_mix(kiln_graph *g, const kiln_node *n, uint32_t p, int64_t H, uint32_t *mix)
{
    einsum e;
    if (!parse_einsum(g, n, &e))
        return false;
    int pi = kiln_node_input(g, n, 0) == p ? 0 : 1;
    const kiln_value *t = kiln_in(g, n, (uint32_t)(1 - pi));
    const char *pl = e.in[pi], *tl = e.in[1 - pi];
    if (strlen(pl) != 4 || strlen(tl) != 2 || strlen(e.out) != 4 || !t->data || t->dtype != KILN_DT_F32 ||
        t->nbytes != (size_t)(H * H) * sizeof(float))
        return false;
    char h = pl[1], gg = e.out[1];
    if (e.out[0] != pl[0] || e.out[2] != pl[2] || e.out[3] != pl[3] || gg == h || strchr(pl, gg))
        return false;
    bool direct = tl[0] == h && tl[1] == gg, flipped = tl[0] == gg && tl[1] == h;
    if (!direct && !flipped)
        return false;
    float *m = kiln_xcalloc((size_t)(H * H), sizeof *m);
    const float *td = t->data;
    for (int64_t a = 0; a < H; a++)
        for (int64_t b = 0; b < H; b++)
            m[a * H + b] = direct ? td[a * H + b] : td[b * H + a];
    kiln_shape s = kiln_shape_make(2, (int64_t[]){H, H});
    *mix = new_const(g, t->name, direct ? "_mix" : "_mix_t", &s, m, (size_t)(H * H) * sizeof *m);
    free(m);
    return true;
}

/* A per-head f32 constant over [B, H, N, N] (shape [H,1,1] or [1,H,1,1]
 * or one element): its H values in out. */
static bool per_head(const kiln_value *c, int64_t H, bool bn, float *out)
{
    if (!c || !c->data || c->dtype != KILN_DT_F32)
        return false;
    int64_t n = (int64_t)(c->nbytes / sizeof(float));
    const float *d = c->data;
    if (n == 1) {
        for (int64_t h = 0; h < H; h++)
            out[h] = d[0];
        return true;
    }
    int r = c->shape.rank;
    if (n != H || (bn ? r != 1 : r < 3 || r > 4 || c->shape.dim[r - 3] != H))
        return false;
    memcpy(out, d, (size_t)H * sizeof *out);
    return true;
}

/* The norm after the head mix: BatchNormalization over the heads, or
 * Mul (and Add) by per-head constants. *next: its output. */
static bool reattention_norm(kiln_graph *g, const kiln_users *u, uint32_t in, int64_t H, float *scale,
                             float *shift, uint32_t *next)
{
    uint32_t user = kiln_single_user(u, in);
    const kiln_node *n = user ? &g->nodes[user] : NULL;
    for (int64_t h = 0; h < H; h++)
        scale[h] = 1.0f, shift[h] = 0.0f;
    *next = in;
    if (!n)
        return true;
    if (n->op == KILN_OP_BATCHNORMALIZATION) {
        float sc[256], bi[256], mean[256], var[256];
        if (H > 256 || !per_head(kiln_in(g, n, 1), H, true, sc) || !per_head(kiln_in(g, n, 2), H, true, bi) ||
            !per_head(kiln_in(g, n, 3), H, true, mean) || !per_head(kiln_in(g, n, 4), H, true, var) ||
            !kiln_attr_int_equals(g, user, "training_mode", 0, 0) || n->n_out != 1)
            return false;
        double eps = kiln_attr_float(g, n, "epsilon", 1e-5f);
        for (int64_t h = 0; h < H; h++) {
            double s = (double)sc[h] / sqrt((double)var[h] + eps);
            scale[h] = (float)s;
            shift[h] = (float)((double)bi[h] - (double)mean[h] * s);
        }
        *next = kiln_node_output(g, n, 0);
        return true;
    }
    if (n->op != KILN_OP_MUL)
        return true;
    uint32_t c = kiln_node_input(g, n, 0) == in ? kiln_node_input(g, n, 1) : kiln_node_input(g, n, 0);
    if (!per_head(&g->values[c], H, false, scale))
        return true;
    *next = kiln_node_output(g, n, 0);
    uint32_t add = kiln_single_user(u, *next);
    const kiln_node *an = add ? &g->nodes[add] : NULL;
    if (an && an->op == KILN_OP_ADD) {
        uint32_t c2 = kiln_node_input(g, an, 0) == *next ? kiln_node_input(g, an, 1) : kiln_node_input(g, an, 0);
        if (per_head(&g->values[c2], H, false, shift))
            *next = kiln_node_output(g, an, 0);
    }
    return true;
}

/* The first user of p that multiplies it with V. */
static bool find_pv(const kiln_graph *g, const kiln_users *u, uint32_t p, product *pv, why *w)
{
    for (uint32_t i = u->first[p]; i < u->first[p + 1]; i++) {
        uint32_t node = u->use[i].node;
        kiln_op op = node ? g->nodes[node].op : KILN_OP_COUNT;
        if (op == KILN_OP_MATMUL && kiln_node_input(g, &g->nodes[node], 0) == p &&
            classify(g, node, false, pv, NULL))
            return true;
        if (op == KILN_OP_EINSUM && classify(g, node, false, pv, NULL) && pv->a.value == p)
            return true;
    }
    return fail(w, "no MatMul or Einsum multiplies the probabilities with V");
}

/* From the softmax output forwards: identity ops, re-attention, P·V. */
static bool probs_chain(kiln_graph *g, const kiln_users *u, uint32_t p0, int64_t H, probs *pr, why *w)
{
    uint32_t cur = p0;
    memset(pr, 0, sizeof *pr);
    for (int steps = 0; steps < 8; steps++) {
        if (find_pv(g, u, cur, &pr->pv, NULL)) {
            pr->p = cur;
            pr->need_p = kiln_users_count(u, cur) > 1;
            return true;
        }
        uint32_t user = kiln_single_user(u, cur);
        const kiln_node *n = user ? &g->nodes[user] : NULL;
        if (!n)
            return fail(w, "%s", kiln_users_count(u, cur) > 1
                                     ? "the probabilities are used elsewhere before the product with V"
                                     : "no MatMul or Einsum multiplies the probabilities with V");
        if ((n->op == KILN_OP_IDENTITY || (n->op == KILN_OP_DROPOUT && dropout_is_identity(g, n))) &&
            kiln_node_input(g, n, 0) == cur) {
            cur = kiln_node_output(g, n, 0);
            continue;
        }
        if (n->op == KILN_OP_EINSUM && !pr->mix) {
            float sc[256], sh[256];
            uint32_t next;
            if (H > 256 || !reattention_mix(g, n, cur, H, &pr->mix))
                return fail(w, "the probabilities go through Einsum '%s', which is not a head mix "
                            "\"bhij,hg->bgij\"", kiln_attr_string(g, n, "equation", ""));
            reattention_norm(g, u, kiln_node_output(g, n, 0), H, sc, sh, &next);
            kiln_shape hs = kiln_shape_make(1, &H);
            pr->mix_scale = new_const(g, g->values[pr->mix].name, "_scale", &hs, sc, (size_t)H * sizeof *sc);
            pr->mix_shift = new_const(g, g->values[pr->mix].name, "_shift", &hs, sh, (size_t)H * sizeof *sh);
            cur = next;
            continue;
        }
        return fail(w, "the probabilities go through %s, not a product with V", kiln_op_name(n->op));
    }
    return fail(w, "no MatMul or Einsum multiplies the probabilities with V");
}

/* ===== 6. building the node ========================================================= */

typedef struct attn {
    int64_t B, H, D, Nq, Nk;
    double scale;
    rows q, k, v;
    uint32_t q_base, k_base, v_base, bias, p_in, mix, mix_scale, mix_shift;
    uint32_t y;              /* the value Y replaces */
    int64_t y_layout[3];
    uint32_t p;              /* the probabilities value P replaces (0: no P output) */
    const char *name;
} attn;

static uint32_t new_value_like(kiln_graph *g, uint32_t like, const kiln_shape *s)
{
    uint32_t v = kiln_value_add(g, "");
    g->values[v].dtype = KILN_DT_F32;
    g->values[v].shape = s ? *s : g->values[like].shape;
    return v;
}

/* The new node; the old values' users read its outputs. */
static void emit(kiln_graph *g, const attn *a)
{
    uint32_t ins[8] = {a->q_base, a->k_base, a->v_base, a->bias, a->p_in, a->mix, a->mix_scale, a->mix_shift};
    uint32_t n_in = a->mix ? 8 : a->p_in ? 5 : a->bias ? 4 : 3;
    uint32_t outs[2] = {new_value_like(g, a->y, NULL), 0};
    kiln_shape ps = kiln_shape_make(4, (int64_t[]){a->B, a->H, a->Nq, a->Nk});
    if (a->p)
        outs[1] = new_value_like(g, a->p, &ps);
    uint32_t id = kiln_node_add(g, KILN_OP_ATTENTION, a->name, ins, n_in, outs, a->p ? 2 : 1);
    const kiln_shape *ys = &g->values[a->y].shape;
    kiln_attr_set_int(g, id, "batch", KILN_DIM_IS_SYM(a->B) ? 0 : a->B);  /* 0: V's leading dim */
    kiln_attr_set_int(g, id, "heads", a->H);
    kiln_attr_set_int(g, id, "head_dim", a->D);
    kiln_attr_set_int(g, id, "q_tokens", a->Nq);
    kiln_attr_set_int(g, id, "kv_tokens", a->Nk);
    kiln_attr_set_float(g, id, "scale", (float)a->scale);
    if (!a->p_in)
        kiln_attr_set_ints(g, id, "q_layout", a->q.layout, 4);
    else
        kiln_attr_set_ints(g, id, "q_layout", (int64_t[]){0, 0, 0, 0}, 4);
    kiln_attr_set_ints(g, id, "k_layout", a->p_in ? (int64_t[]){0, 0, 0, 0} : a->k.layout, 4);
    kiln_attr_set_ints(g, id, "v_layout", a->v.layout, 4);
    kiln_attr_set_ints(g, id, "y_layout", a->y_layout, 3);
    int64_t yd[KILN_MAX_RANK];
    for (int k = 0; k < ys->rank; k++)
        yd[k] = KILN_DIM_IS_SYM(ys->dim[k]) ? 0 : ys->dim[k];   /* 0: the run-time batch */
    kiln_attr_set_ints(g, id, "y_shape", yd, (uint32_t)ys->rank);
    /* the merged output keeps its name (and graph-output role) */
    const char *yname = g->values[a->y].name;
    kiln_value_forward(g, a->y, outs[0]);
    if (yname && yname[0] && !g->values[outs[0]].name[0]) {
        g->values[outs[0]].name = yname;
        g->values[a->y].name = "";
    }
    if (a->p) {
        const char *pname = g->values[a->p].name;
        kiln_value_forward(g, a->p, outs[1]);
        if (pname && pname[0] && !g->values[outs[1]].name[0]) {
            g->values[outs[1]].name = pname;
            g->values[a->p].name = "";
        }
    }
}

/* Q, K, V and Y of a match: layouts over the common [B, H] and sizes. */
static bool layouts(kiln_graph *g, const kiln_users *u, const scores *sc, const probs *pr, attn *a, why *w)
{
    traced tq, tk, tv;
    const product *s = sc ? &sc->prod : NULL, *pv = &pr->pv;
    if (s) {
        if (!trace_back(g, s->a.value, true, "Q", &tq, w) || !trace_back(g, s->b.value, true, "K", &tk, w))
            return false;
        if (!operand_rows(g, s, &s->a, &tq, "Q", &a->q, w) || !operand_rows(g, s, &s->b, &tk, "K", &a->k, w))
            return false;
        a->q_base = tq.base, a->k_base = tk.base;
        a->scale = sc->scale * tq.scale * tk.scale;
    }
    if (!trace_back(g, pv->b.value, false, "V", &tv, w) || !operand_rows(g, pv, &pv->b, &tv, "V", &a->v, w))
        return false;
    a->v_base = tv.base;
    /* B and H from the P·V output's batch axes. B may be one symbolic
     * dimension (the others 1): the kernel then reads it at run time as
     * the leading dimension of V, which must be that symbol. */
    int64_t B = 1, H = 1, Bsym = 0;
    int nb = pv->n_lead >= 2 ? pv->n_lead - 1 : pv->n_lead;
    for (int k = 0; k < nb; k++) {
        if (!KILN_DIM_IS_SYM(pv->lead[k]))
            B *= pv->lead[k];
        else if (Bsym)
            return fail(w, "%s", "two batch dimensions of the product with V are symbolic: bind the inputs' "
                        "shapes with --shape");
        else
            Bsym = pv->lead[k];
    }
    if (Bsym && B != 1)
        return fail(w, "the batch is a symbolic size times %lld: only a batch of one symbolic dimension is "
                    "read at run time; bind the inputs' shapes with --shape", (long long)B);
    if (pv->n_lead >= 2)
        H = pv->lead[pv->n_lead - 1];
    if (KILN_DIM_IS_SYM(H))
        return sym_fail(g, H, "the heads", "the product with V", w);
    const kiln_shape *vb = &g->values[a->v_base].shape;
    if (Bsym && (vb->rank < 1 || vb->dim[0] != Bsym))
        return fail(w, "the batch is symbolic and V ('%s') does not have it as its leading dimension, where "
                    "the kernel reads it at run time", g->values[a->v_base].name);
    a->B = Bsym ? Bsym : B, a->H = H, a->D = a->v.feat, a->Nk = a->v.tokens;
    const kiln_shape *ps = &g->values[pr->p].shape;
    a->Nq = ps->dim[ps->rank - 2];
    if (s && (a->q.feat != a->k.feat || a->q.feat != a->D))
        return fail(w, "the head dimensions differ: Q %lld, K %lld, V %lld", (long long)a->q.feat,
                    (long long)a->k.feat, (long long)a->D);
    if (s && (a->q.tokens != a->Nq || a->k.tokens != a->Nk))
        return fail(w, "the token counts of Q/K (%lld, %lld) and P (%lld, %lld) differ",
                    (long long)a->q.tokens, (long long)a->k.tokens, (long long)a->Nq, (long long)a->Nk);
    uint32_t o = kiln_node_output(g, &g->nodes[pv->node], 0);
    if (!(a->y = find_y(g, u, o, pv->n_lead, a->y_layout)))
        return fail(w, "the P·V output has no layout the kernel writes");
    /* y_shape writes the run-time batch as 0: it must be the only symbol */
    const kiln_shape *ys = &g->values[a->y].shape;
    for (int k = 0; k < ys->rank; k++)
        if (KILN_DIM_IS_SYM(ys->dim[k]) && ys->dim[k] != a->B)
            return sym_fail(g, ys->dim[k], "a dimension", "the merged output", w);
    return true;
}

/* Everything about one softmax; the node is emitted only when all fits. */
static bool fuse_softmax(kiln_graph *g, const kiln_users *u, uint32_t sm, why *w)
{
    const kiln_node *n = &g->nodes[sm];
    /* a copy: constants added below move the value array */
    const kiln_value zv = *kiln_in(g, n, 0), *z = &zv;
    const char *name = n->name;
    int64_t axis = kiln_attr_int(g, n, "axis", -1);
    if (z->dtype != KILN_DT_F32)
        return fail(w, "the scores are %s, not f32", kiln_dtype_name(z->dtype));
    if (z->shape.rank < 2 || (axis != -1 && axis != z->shape.rank - 1))
        return fail(w, "softmax over axis %lld of %d, not the last: not attention", (long long)axis,
                    z->shape.rank);
    /* batch dimensions may be symbolic (read at run time); heads and tokens not */
    static const char *const role[3] = {"the heads", "the query tokens", "the key tokens"};
    for (int k = z->shape.rank >= 4 ? z->shape.rank - 3 : z->shape.rank - 2; k < z->shape.rank; k++)
        if (KILN_DIM_IS_SYM(z->shape.dim[k]))
            return sym_fail(g, z->shape.dim[k], role[k - (z->shape.rank - 3)], "the scores", w);
    scores sc;
    probs pr;
    attn a = {0};
    if (!scores_chain(g, kiln_node_input(g, n, 0), &sc, w))
        return false;
    const kiln_shape *so = &kiln_out(g, &g->nodes[sc.prod.node], 0)->shape;
    kiln_shape want = *so;
    if (sc.transposed) {
        want.dim[so->rank - 2] = so->dim[so->rank - 1];
        want.dim[so->rank - 1] = so->dim[so->rank - 2];
    }
    if (!kiln_shape_equal(&want, &z->shape))
        return fail(w, "the softmax reads the scores in another shape than the product gives");
    int64_t H = z->shape.rank >= 3 && !KILN_DIM_IS_SYM(z->shape.dim[z->shape.rank - 3])
                    ? z->shape.dim[z->shape.rank - 3] : 1;
    if (!probs_chain(g, u, kiln_node_output(g, n, 0), H, &pr, w))
        return false;
    if (!kiln_shape_equal(&g->values[pr.p].shape, &z->shape))
        return fail(w, "the probabilities change shape before the product with V");
    if (pr.pv.n_lead != z->shape.rank - 2)
        return fail(w, "the product with V has other batch axes than the scores");
    for (int k = 0; k < pr.pv.n_lead; k++)
        if (pr.pv.lead[k] != z->shape.dim[k])
            return fail(w, "the product with V broadcasts the probabilities");
    if (!layouts(g, u, &sc, &pr, &a, w))
        return false;
    bool ok;
    int64_t bhqk[4] = {a.B, a.H, a.Nq, a.Nk};
    a.bias = make_bias(g, &sc, &z->shape, bhqk, z->name, &ok, w);
    if (!ok)
        return false;
    kiln_shape p4 = kiln_shape_make(4, bhqk);
    if (pr.need_p && !kiln_shape_equal(&g->values[pr.p].shape, &p4))
        return fail(w, "the probabilities are used elsewhere in shape other than [B, H, Nq, Nk]");
    a.mix = pr.mix, a.mix_scale = pr.mix_scale, a.mix_shift = pr.mix_shift;
    a.p = pr.need_p ? pr.p : 0;
    a.name = name;
    emit(g, &a);
    return true;
}

/* Attention sharing: P·V where P is a fused node's probabilities. */
static bool fuse_shared(kiln_graph *g, const kiln_users *u, uint32_t mm)
{
    const kiln_node *n = &g->nodes[mm];
    uint32_t p = kiln_node_input(g, n, 0);
    const kiln_node *pn = producer(g, p);
    probs pr = {.p = p};
    attn a = {0};
    if (!pn || pn->op != KILN_OP_ATTENTION || kiln_node_output(g, pn, 1) != p ||
        !classify(g, mm, false, &pr.pv, NULL) || pr.pv.a.value != p || pr.pv.n_lead != 2)
        return false;
    if (!layouts(g, u, NULL, &pr, &a, NULL))
        return false;
    a.p_in = p;
    a.scale = 1.0;
    a.name = n->name;
    emit(g, &a);
    return true;
}

/* ===== 7. the pass ========================================================= */

kiln_status kiln_pass_fuse_attention(kiln_pass_ctx *pc, kiln_graph *g)
{
    kiln_users *u = kiln_users_build(g);
    uint32_t n0 = g->n_nodes;
    for (uint32_t id = 1; id < n0; id++) {
        if (g->nodes[id].op != KILN_OP_SOFTMAX)
            continue;
        why w = {""};
        if (fuse_softmax(g, u, id, &w)) {
            pc->changes++;
            kiln_users_destroy(u);
            u = kiln_users_build(g);
        } else {
            kiln_pass_remark(pc, g, id, "not fused into kiln.Attention: %s", w.text);
        }
    }
    for (uint32_t id = 1; id < n0; id++) {
        if (g->nodes[id].op == KILN_OP_MATMUL && fuse_shared(g, u, id)) {
            pc->changes++;
            kiln_users_destroy(u);
            u = kiln_users_build(g);
        }
    }
    kiln_users_destroy(u);
    if (pc->changes)
        return kiln_graph_toposort(pc->ctx, g);
    return KILN_OK;
}
