/* fuse_elementwise.c — pass `fuse-elementwise`: a chain (a tree or DAG) of
 * f32 elementwise ops whose intermediate values are used only inside it
 * becomes one kiln.FusedElementwise, evaluated in one pass over the output
 * (runtime/krt_elementwise_fused.c; the LLVM backend emits it as its own
 * vector loop) instead of one pass, and one temporary, per op.
 *
 * Members: the ops of `members[]` below with f32 inputs and output of a
 * static shape: Add Sub Mul Div, Max Min of two inputs, Pow by the constant
 * 2, Relu Neg Abs Sqrt Reciprocal Exp Erf Tanh Sigmoid HardSwish, kiln.Gelu
 * (either form), Clip with constant (or absent) scalar bounds, LeakyRelu.
 * Every value inside the group has the output's shape; the group's inputs
 * (leaves) are values of the output's shape, scalars, or rows along the
 * last axis ([..1, N] with N the output's last dim), at most 8 of them,
 * at least one of the output's shape. A node joins the group of the node
 * using its output when every user of that output is in the group and the
 * output is not a graph output. Groups are grown from the last node
 * backwards, so each is as large as these rules allow; a group of one node
 * stays as it is.
 * Needs: inferred types (and fuse-epilogue first: a MatMul's bias and
 * activation belong to its epilogue). Produces: kiln.FusedElementwise in
 * the place of the group's last node, output named as that node's, with
 * the program as attributes: ops (instruction names), args (two operand
 * slots each: 0..n_in-1 the inputs, n_in+k instruction k's result, -1 for
 * none), params (two floats each: clip's bounds, leakyrelu's alpha). The
 * program computes each op's own f32 expression in the original order, so
 * the result equals the unfused graph bit for bit (the transcendental ops
 * use the same vector math, runtime/krt_vmath.h). One change per group.
 *   before: %a = Add(%x, %b)   %s = Sigmoid(%a)   %y = Mul(%a, %s)
 *   after:  %y = kiln.FusedElementwise(%x, %b)
 *             {args = [0, 1, 2, -1, 2, 3], ops = ["add", "sigmoid", "mul"]}
 * (tests/ir/pass_fuse_elementwise.kir, tests/unit/test_fused_ew.c)
 */
#include "passes/pass.h"
#include "ir/edit.h"
#include "runtime/krt_elementwise.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- members: one matcher per op ------------------------------------------------ */

/* What a member computes: the instruction and its data inputs (the others,
 * such as Clip's bounds and Pow's exponent, are read into params). */
typedef struct member {
    krt_few_op op;
    uint32_t n_data;
    float lo, hi;
} member;

static const kiln_value *val(const kiln_graph *g, uint32_t v) { return &g->values[v]; }


typedef bool (*member_fn)(const kiln_graph *g, uint32_t node, member *m);

#define SIMPLE(name, OP, N)                                                    \
    static bool m_##name(const kiln_graph *g, uint32_t node, member *m)        \
    {                                                                          \
        m->op = KRT_FEW_##OP, m->n_data = N;                                   \
        return g->nodes[node].n_in == N;                                       \
    }
SIMPLE(add, ADD, 2)
SIMPLE(sub, SUB, 2)
SIMPLE(mul, MUL, 2)
SIMPLE(div, DIV, 2)
SIMPLE(max, MAX, 2)
SIMPLE(min, MIN, 2)
SIMPLE(relu, RELU, 1)
SIMPLE(neg, NEG, 1)
SIMPLE(abs, ABS, 1)
SIMPLE(sqrt, SQRT, 1)
SIMPLE(recip, RECIP, 1)
SIMPLE(exp, EXP, 1)
SIMPLE(erf, ERF, 1)
SIMPLE(tanh, TANH, 1)
SIMPLE(sigmoid, SIGMOID, 1)
SIMPLE(hardswish, HARDSWISH, 1)
#undef SIMPLE

static bool m_gelu(const kiln_graph *g, uint32_t node, member *m)
{
    const char *a = kiln_attr_string(g, &g->nodes[node], "approximate", "none");
    m->op = strcmp(a, "tanh") == 0 ? KRT_FEW_GELU_TANH : KRT_FEW_GELU_ERF, m->n_data = 1;
    return strcmp(a, "tanh") == 0 || strcmp(a, "none") == 0;
}

static bool m_clip(const kiln_graph *g, uint32_t node, member *m)
{
    m->op = KRT_FEW_CLIP, m->n_data = 1;
    m->lo = -INFINITY, m->hi = INFINITY;
    return kiln_const_input_f32(g, node, 1, &m->lo) && kiln_const_input_f32(g, node, 2, &m->hi);
}

static bool m_leakyrelu(const kiln_graph *g, uint32_t node, member *m)
{
    m->op = KRT_FEW_LEAKYRELU, m->n_data = 1;
    m->lo = kiln_attr_float(g, &g->nodes[node], "alpha", 0.01f);
    return true;
}

/* Pow(x, 2) with the exponent an f32 constant: x * x (the Pow kernel
 * computes in double, where x * x is exact, then rounds once: the same). */
static bool m_pow(const kiln_graph *g, uint32_t node, member *m)
{
    float e = 0;
    m->op = KRT_FEW_SQUARE, m->n_data = 1;
    return kiln_node_input(g, &g->nodes[node], 1) && kiln_const_input_f32(g, node, 1, &e) && e == 2.0f;
}

static const member_fn members[KILN_OP_COUNT] = {
    [KILN_OP_ADD] = m_add,       [KILN_OP_SUB] = m_sub,         [KILN_OP_MUL] = m_mul,
    [KILN_OP_DIV] = m_div,       [KILN_OP_MAX] = m_max,         [KILN_OP_MIN] = m_min,
    [KILN_OP_POW] = m_pow,       [KILN_OP_RELU] = m_relu,       [KILN_OP_NEG] = m_neg,
    [KILN_OP_ABS] = m_abs,       [KILN_OP_SQRT] = m_sqrt,       [KILN_OP_RECIPROCAL] = m_recip,
    [KILN_OP_EXP] = m_exp,       [KILN_OP_ERF] = m_erf,         [KILN_OP_TANH] = m_tanh,
    [KILN_OP_SIGMOID] = m_sigmoid, [KILN_OP_HARDSWISH] = m_hardswish, [KILN_OP_GELU] = m_gelu,
    [KILN_OP_CLIP] = m_clip,     [KILN_OP_LEAKYRELU] = m_leakyrelu,
};

/* ---- groups ------------------------------------------------------------------------ */

typedef struct group {
    const kiln_shape *y;              /* the output's shape */
    uint32_t node[KRT_FEW_MAX_OPS];   /* members, any order */
    member m[KRT_FEW_MAX_OPS];
    uint32_t n;
    uint32_t leaf[KRT_FEW_MAX_IN];
    uint32_t n_leaves;
} group;

/* Whether value v may be a leaf of a group with output shape y. */
static bool leaf_ok(const kiln_value *v, const kiln_shape *y)
{
    int64_t n;
    if (v->dtype != KILN_DT_F32 || !kiln_shape_numel(&v->shape, &n))
        return false;
    if (kiln_shape_equal(&v->shape, y) || n == 1)
        return true;
    if (v->shape.rank < 1 || v->shape.rank > y->rank ||
        v->shape.dim[v->shape.rank - 1] != y->dim[y->rank - 1])
        return false;
    for (int k = 0; k < v->shape.rank - 1; k++)
        if (v->shape.dim[k] != 1)
            return false;
    return true;
}

/* Node as a member of a group with output shape y, into *m. */
static bool member_of(const kiln_graph *g, uint32_t node, const kiln_shape *y, member *m)
{
    const kiln_node *nd = &g->nodes[node];
    member_fn f = kiln_node_is_removed(g, node) ? NULL : members[nd->op];
    int64_t n;
    *m = (member){0};
    if (!f || nd->n_out != 1 || !f(g, node, m))
        return false;
    const kiln_value *out = val(g, kiln_node_output(g, nd, 0));
    if (out->dtype != KILN_DT_F32 || !kiln_shape_numel(&out->shape, &n) || !kiln_shape_equal(&out->shape, y))
        return false;
    for (uint32_t i = 0; i < m->n_data; i++) {
        uint32_t v = kiln_node_input(g, nd, i);
        if (!v || !leaf_ok(val(g, v), y))
            return false;
    }
    return true;
}

static bool in_group(const group *gr, uint32_t node)
{
    for (uint32_t k = 0; k < gr->n; k++)
        if (gr->node[k] == node)
            return true;
    return false;
}

/* The group's leaves (inputs produced outside it), in first-use order of
 * the members sorted by node index; false if more than KRT_FEW_MAX_IN. */
static bool leaves(const kiln_graph *g, group *gr)
{
    gr->n_leaves = 0;
    for (uint32_t k = 0; k < gr->n; k++)
        for (uint32_t i = 0; i < gr->m[k].n_data; i++) {
            uint32_t v = kiln_node_input(g, &g->nodes[gr->node[k]], i), j = 0;
            if (val(g, v)->kind == KILN_VAL_NODE && in_group(gr, val(g, v)->producer))
                continue;
            while (j < gr->n_leaves && gr->leaf[j] != v)
                j++;
            if (j == gr->n_leaves) {
                if (gr->n_leaves == KRT_FEW_MAX_IN)
                    return false;
                gr->leaf[gr->n_leaves++] = v;
            }
        }
    return true;
}

static int by_node(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void sort_members(group *gr)
{
    uint32_t idx[KRT_FEW_MAX_OPS];
    member m[KRT_FEW_MAX_OPS];
    memcpy(idx, gr->node, gr->n * sizeof *idx);
    qsort(idx, gr->n, sizeof *idx, by_node);
    for (uint32_t k = 0; k < gr->n; k++)
        for (uint32_t j = 0; j < gr->n; j++)
            if (gr->node[j] == idx[k])
                m[k] = gr->m[j];
    memcpy(gr->node, idx, gr->n * sizeof *idx);
    memcpy(gr->m, m, gr->n * sizeof *m);
}

/* Whether the producer p of value v can join: a member, v not a graph
 * output, every user of v in the group, and the group stays within the
 * kernel's limits. Adds it if so. */
static bool try_join(const kiln_graph *g, const kiln_users *u, group *gr, uint32_t v)
{
    const kiln_value *x = val(g, v);
    member m;
    if (x->kind != KILN_VAL_NODE || in_group(gr, x->producer) || gr->n == KRT_FEW_MAX_OPS ||
        kiln_users_is_output(u, v) || kiln_users_count(u, v) == 0 ||
        !member_of(g, x->producer, gr->y, &m))
        return false;
    for (uint32_t k = u->first[v]; k < u->first[v + 1]; k++)
        if (!in_group(gr, u->use[k].node))
            return false;
    group t = *gr;
    t.node[t.n] = x->producer, t.m[t.n] = m, t.n++;
    if (!leaves(g, &t))
        return false;
    *gr = t;
    return true;
}

/* Grow the group of `root` backwards as far as the rules allow. */
static void grow(const kiln_graph *g, const kiln_users *u, group *gr)
{
    bool changed = true;
    while (changed) {
        changed = false;
        for (uint32_t k = 0; k < gr->n && !changed; k++)
            for (uint32_t i = 0; i < gr->m[k].n_data && !changed; i++)
                changed = try_join(g, u, gr, kiln_node_input(g, &g->nodes[gr->node[k]], i));
    }
}

/* The group as one kiln.FusedElementwise in place of its last node. */
static void rewrite(kiln_graph *g, group *gr)
{
    uint32_t root = gr->node[gr->n - 1], slot_of[KRT_FEW_MAX_OPS];
    const char *names[KRT_FEW_MAX_OPS];
    int64_t args[2 * KRT_FEW_MAX_OPS];
    float params[2 * KRT_FEW_MAX_OPS];
    bool any_param = false;
    for (uint32_t k = 0; k < gr->n; k++) {
        const kiln_node *nd = &g->nodes[gr->node[k]];
        slot_of[k] = gr->n_leaves + k;
        names[k] = krt_few_names[gr->m[k].op];
        for (uint32_t i = 0; i < 2; i++) {
            uint32_t v = i < gr->m[k].n_data ? kiln_node_input(g, nd, i) : 0;
            int64_t s = -1;
            for (uint32_t j = 0; v && j < gr->n_leaves && s < 0; j++)
                s = gr->leaf[j] == v ? (int64_t)j : -1;
            for (uint32_t j = 0; v && j < k && s < 0; j++)
                s = kiln_node_output(g, &g->nodes[gr->node[j]], 0) == v ? (int64_t)slot_of[j] : -1;
            args[2 * k + i] = s;
        }
        params[2 * k] = gr->m[k].lo, params[2 * k + 1] = gr->m[k].hi;
        any_param |= gr->m[k].op == KRT_FEW_CLIP || gr->m[k].op == KRT_FEW_LEAKYRELU;
    }
    while (g->nodes[root].n_attr)
        kiln_attr_remove(g, root, g->attrs[g->nodes[root].attr].name);
    g->nodes[root].op = KILN_OP_FUSEDELEMENTWISE;
    kiln_node_set_inputs(g, root, gr->leaf, gr->n_leaves);
    kiln_attr_set_strings(g, root, "ops", names, gr->n);
    kiln_attr_set_ints(g, root, "args", args, 2 * gr->n);
    if (any_param)
        kiln_attr_set_floats(g, root, "params", params, 2 * gr->n);
    for (uint32_t k = 0; k + 1 < gr->n; k++)
        kiln_node_remove(g, gr->node[k]);
}

kiln_status kiln_pass_fuse_elementwise(kiln_pass_ctx *pc, kiln_graph *g)
{
    kiln_users *users = kiln_users_build(g);
    for (uint32_t id = g->n_nodes - 1; id >= 1; id--) {
        group gr = {0};
        const kiln_node *nd = &g->nodes[id];
        if (kiln_node_is_removed(g, id) || !members[nd->op] || nd->n_out != 1)
            continue;
        gr.y = &val(g, kiln_node_output(g, nd, 0))->shape;
        if (!member_of(g, id, gr.y, &gr.m[0]) || gr.y->rank < 1)
            continue;
        gr.node[0] = id, gr.n = 1;
        if (!leaves(g, &gr))
            continue;
        grow(g, users, &gr);
        sort_members(&gr);
        if (gr.n < 2 || !leaves(g, &gr))
            continue;
        bool full = false;
        for (uint32_t j = 0; j < gr.n_leaves; j++)
            full |= kiln_shape_equal(&val(g, gr.leaf[j])->shape, gr.y);
        if (!full)
            continue;
        rewrite(g, &gr);
        pc->changes++;
        kiln_users_destroy(users);   /* the rewrite moved uses */
        users = kiln_users_build(g);
    }
    kiln_users_destroy(users);
    return KILN_OK;
}
