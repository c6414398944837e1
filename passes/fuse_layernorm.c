/* fuse_layernorm.c — pass `fuse-layernorm`: the LayerNorm that exporters
 * decompose at opset <= 16 becomes one LayerNormalization.
 *
 * Pattern (the table below; Add and Mul commute): d = x - ReduceMean(x),
 * v = ReduceMean(Pow(d, 2) or d * d), n = d / Sqrt(v + eps) or
 * d * Reciprocal(Sqrt(v + eps)), optionally n * gamma + beta. Both means
 * take the same constant axes, a suffix of x's dims, keepdims = 1; eps is
 * one constant element; gamma and beta are constants over the normalized
 * dims; no inner value is used outside. Needs: inferred types. Produces:
 * LayerNormalization(x, gamma or ones, beta) {axis, epsilon} in the root's
 * place. One change per fused LayerNorm.
 *   before: %m = ReduceMean(%x, %last)   %d = Sub(%x, %m)      (%x: f32[2,3,4])
 *           %p = Pow(%d, %two)           %v = ReduceMean(%p, %last)
 *           %e = Add(%v, %eps)           %s = Sqrt(%e)          %n = Div(%d, %s)
 *           %g = Mul(%n, %gamma)         %y = Add(%g, %beta)
 *   after:  %y = LayerNormalization(%x, %gamma, %beta) {axis = 2, epsilon = 1e-06}
 * (tests/ir/pass_fuse_layernorm.kir, tests/unit/test_fusion.c)
 */
#include "passes/pass.h"
#include "passes/pattern.h"

#include <stdio.h>
#include <string.h>

/* Capture variables. */
enum { X, AXES_MEAN, AXES_VAR, EPS, GAMMA, BETA };

#define N(k) PAT_NODE(k)
#define V(k) PAT_VAR(k)
#define C(k) PAT_CONST(k)
#define RM(arg, axes) \
    {.op = KILN_OP_REDUCEMEAN, .in = {arg, C(axes)}, .attr = "keepdims", .attr_dflt = 1, .attr_want = 1}

/* The normalization from entry b: the divide at b, then the sub, sqrt, both
 * means, the eps add and the square at b+1..b+6 (a Reciprocal at b+7). */
#define BY_DIV(b) PAT(DIV, N(b + 1), N(b + 2))
#define BY_RECIP(b) PAT(MUL, N(b + 1), N(b + 7))
#define SQ_POW(b) PAT(POW, N(b + 1), PAT_SCALAR(2.0))
#define SQ_MUL(b) PAT(MUL, N(b + 1), N(b + 1))
#define NORM(b, DIVIDE, SQUARE)                                                   \
    DIVIDE(b), PAT(SUB, V(X), N(b + 3)), PAT(SQRT, N(b + 4)),        \
        RM(V(X), AXES_MEAN), PAT(ADD, N(b + 5), C(EPS)), RM(N(b + 6), AXES_VAR), \
        SQUARE(b)
#define RECIP(b) PAT(RECIPROCAL, N(b + 2))
#define AFFINE PAT(ADD, N(1), C(BETA)), PAT(MUL, N(2), C(GAMMA))

static const kiln_pattern spellings[] = {
    {"Pow, Div, affine", {AFFINE, NORM(2, BY_DIV, SQ_POW)}},
    {"d*d, Div, affine", {AFFINE, NORM(2, BY_DIV, SQ_MUL)}},
    {"Pow, Reciprocal, affine", {AFFINE, NORM(2, BY_RECIP, SQ_POW), RECIP(2)}},
    {"d*d, Reciprocal, affine", {AFFINE, NORM(2, BY_RECIP, SQ_MUL), RECIP(2)}},
    {"Pow, Div", {NORM(0, BY_DIV, SQ_POW)}},
    {"d*d, Div", {NORM(0, BY_DIV, SQ_MUL)}},
    {"Pow, Reciprocal", {NORM(0, BY_RECIP, SQ_POW), RECIP(0)}},
    {"d*d, Reciprocal", {NORM(0, BY_RECIP, SQ_MUL), RECIP(0)}},
};
enum { N_SPELLINGS = sizeof spellings / sizeof spellings[0] };

/* The normalized dims [*axis, rank) from an axes constant: a suffix of
 * x's dims, each once. False otherwise. */
static bool suffix_axes(const kiln_value *axes, int rank, int *axis)
{
    if (!axes || axes->dtype != KILN_DT_I64 || axes->nbytes == 0 ||
        axes->nbytes > KILN_MAX_RANK * sizeof(int64_t))
        return false;
    int64_t a[KILN_MAX_RANK];
    int k = (int)(axes->nbytes / sizeof a[0]);
    bool seen[KILN_MAX_RANK] = {false};
    memcpy(a, axes->data, axes->nbytes);
    for (int i = 0; i < k; i++) {
        int64_t d = a[i] < 0 ? a[i] + rank : a[i];
        if (d < rank - k || d >= rank || seen[d])
            return false;
        seen[d] = true;
    }
    *axis = rank - k;
    return true;
}

/* A scale or bias for the normalized dims [axis, rank) of x: the constant
 * itself, or the same data without leading 1s when it has more dims than
 * the normalized ones; 0 when it would broadcast over other dims. */
static uint32_t ln_param(kiln_graph *g, uint32_t p, const kiln_value *x, int axis)
{
    const kiln_value *c = &g->values[p];
    int nr = x->shape.rank - axis, extra = c->shape.rank - nr;
    if (c->dtype != x->dtype || !kiln_shape_is_static(&c->shape) || c->shape.rank < 0)
        return 0;
    for (int i = 0; i < extra; i++)
        if (c->shape.dim[i] != 1)
            return 0;
    for (int i = extra > 0 ? extra : 0; i < c->shape.rank; i++) {
        kiln_dim d = c->shape.dim[i], xd = x->shape.dim[x->shape.rank - c->shape.rank + i];
        if (d != 1 && d != xd)
            return 0;
    }
    if (extra <= 0)
        return p;
    kiln_shape s = kiln_shape_make(nr, c->shape.dim + extra);
    return kiln_const_add(g, "", c->dtype, &s, c->data, c->nbytes, true);
}

/* A ones scale of the normalized dims (LayerNormalization needs one),
 * named after the output y when that name is free. */
static uint32_t ones(kiln_graph *g, const kiln_value *x, int axis, const char *y)
{
    char name[256] = "";
    if (y[0]) {
        snprintf(name, sizeof name, "%s_scale", y);
        if (kiln_graph_find_value(g, name))
            name[0] = '\0';
    }
    kiln_shape s = kiln_shape_make(x->shape.rank - axis, x->shape.dim + axis);
    int64_t n = 0;
    KILN_ASSERT(kiln_shape_numel(&s, &n) && x->dtype == KILN_DT_F32);
    float *one = kiln_arena_alloc(g->arena, (size_t)n * sizeof *one, 16);
    for (int64_t i = 0; i < n; i++)
        one[i] = 1.0f;
    return kiln_const_add(g, name, KILN_DT_F32, &s, one, (size_t)n * sizeof *one, false);
}

/* Everything the table cannot say: types, axes, eps, parameter shapes.
 * False with the reason in why (for --remarks). */
static bool check(const kiln_graph *g, uint32_t root, const kiln_pat_match *m, int *axis,
                  double *eps, char *why, size_t size)
{
    const kiln_value *x = &g->values[m->var[X]], *y = kiln_out(g, &g->nodes[root], 0);
    int a2;
    if (x->dtype != KILN_DT_F32)
        return snprintf(why, size, "x '%s' is not f32", x->name), false;
    if (!kiln_shape_is_static(&x->shape) || x->shape.rank < 1)
        return snprintf(why, size, "x '%s' has no static shape (bind it with --shape)", x->name), false;
    if (y->dtype != x->dtype || !kiln_shape_equal(&x->shape, &y->shape))
        return snprintf(why, size, "the result '%s' differs from x '%s' in type or shape "
                        "(a parameter broadcasts it)", y->name, x->name), false;
    if (!suffix_axes(&g->values[m->var[AXES_MEAN]], x->shape.rank, axis))
        return snprintf(why, size, "the mean's axes are not the last dims of x, each once"), false;
    if (!suffix_axes(&g->values[m->var[AXES_VAR]], x->shape.rank, &a2) || a2 != *axis)
        return snprintf(why, size, "the variance is taken over other axes than the mean"), false;
    if (!kiln_pattern_scalar(&g->values[m->var[EPS]], eps) || *eps < 0)
        return snprintf(why, size, "epsilon '%s' is not one non-negative float",
                        g->values[m->var[EPS]].name), false;
    return true;
}

static bool fuse_at(kiln_graph *g, const kiln_users *users, uint32_t root)
{
    kiln_pat_match m;
    int axis;
    double eps;
    char why[256];
    if (kiln_pattern_match_any(g, users, spellings, N_SPELLINGS, root, &m) < 0 ||
        !check(g, root, &m, &axis, &eps, why, sizeof why))
        return false;
    uint32_t x = m.var[X], ins[3] = {x, 0, 0};
    if (m.var[GAMMA] && !(ins[1] = ln_param(g, m.var[GAMMA], &g->values[x], axis)))
        return false;
    if (m.var[BETA] && !(ins[2] = ln_param(g, m.var[BETA], &g->values[x], axis)))
        return false;
    if (!ins[1])
        ins[1] = ones(g, &g->values[x], axis, kiln_out(g, &g->nodes[root], 0)->name);
    kiln_pattern_rewrite_root(g, root, KILN_OP_LAYERNORMALIZATION, ins, ins[2] ? 3 : 2);
    kiln_attr_set_int(g, root, "axis", axis);
    kiln_attr_set_float(g, root, "epsilon", (float)eps);
    kiln_pattern_remove_inner(g, &m);
    return true;
}

/* d = x - ReduceMean(x): the centering every spelling starts with. */
static bool is_centering(const kiln_graph *g, uint32_t id)
{
    const kiln_node *n = &g->nodes[id];
    if (n->op != KILN_OP_SUB || n->n_in != 2)
        return false;
    uint32_t mean = kiln_match_op(g, kiln_node_input(g, n, 1), KILN_OP_REDUCEMEAN);
    return mean && g->nodes[mean].n_in >= 1 &&
           kiln_node_input(g, &g->nodes[mean], 0) == kiln_node_input(g, n, 0);
}

/* --remarks: a centering left after the pass is a LayerNorm that did not
 * fuse; say why, from the closest spelling that reached it. A chain
 * that matches but fails a check gets the check's reason; a gamma or
 * beta the fused op cannot take gets its own. */
static void remark_near_misses(kiln_pass_ctx *pc, kiln_graph *g)
{
    kiln_users *users = kiln_users_build(g);
    for (uint32_t id = 1; id < g->n_nodes; id++) {
        kiln_pat_why w;
        if (!is_centering(g, id) ||
            !kiln_pattern_explain_from(g, users, spellings, N_SPELLINGS, id, 6, &w) || !w.reached)
            continue;
        char why[320], root[300];
        int axis;
        double eps;
        if (w.text[0])
            snprintf(why, sizeof why, "%s", w.text);
        else if (check(g, w.root, &w.m, &axis, &eps, why, sizeof why))
            snprintf(why, sizeof why, "gamma or beta broadcasts over other dims than the normalized ones");
        kiln_pass_remark(pc, g, id,
                         "not fused into LayerNormalization: the closest spelling, '%s' from node %s, "
                         "checked %d of its %d nodes: %s",
                         spellings[w.spelling].name, kiln_node_describe(g, w.root, root, sizeof root),
                         w.checked, w.size, why);
    }
    kiln_users_destroy(users);
}

kiln_status kiln_pass_fuse_layernorm(kiln_pass_ctx *pc, kiln_graph *g)
{
    kiln_users *users = kiln_users_build(g);
    /* Roots last to first: the affine Add is tried before the Div inside
     * it. Constants added on the way are values only, the snapshot's
     * indices stay valid. */
    for (uint32_t id = g->n_nodes; id-- > 1;) {
        kiln_op op = g->nodes[id].op;
        if ((op == KILN_OP_ADD || op == KILN_OP_MUL || op == KILN_OP_DIV) && fuse_at(g, users, id))
            pc->changes++;
    }
    kiln_users_destroy(users);
    if (pc->remarks)
        remark_near_misses(pc, g);
    return KILN_OK;
}
