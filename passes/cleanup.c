/* cleanup.c — pass `cleanup`: remove nodes that copy their input, and
 * collapse chains of reshapes.
 *
 * Patterns (the table at the bottom): Identity; Dropout with an unused mask
 * that cannot be training; Cast/CastLike to the input's dtype; Reshape,
 * Flatten, Squeeze, Unsqueeze that keep the input's type: users read the
 * input. One of those four fed by another that has no other user: one
 * Reshape of the first one's input to a constant shape (static shapes only),
 * or nothing when that is the input's. Needs: inferred types. Graph outputs
 * keep their names (kiln_value_forward), so a copy from a graph input or a
 * constant to a graph output stays. Rounds until nothing changes, each over
 * a fresh users snapshot (a stale one only ever says "no"). One change per
 * node removed.
 *   before: %a = Identity(%x)          after: %y = Reshape(%x, %y_shape)
 *           %b = Reshape(%a, %flat)
 *           %c = Dropout(%b)
 *           %d = Flatten(%c) {axis = 0}
 *           %y = Unsqueeze(%d, %ax0)
 * (tests/ir/pass_cleanup.kir, tests/unit/test_passes.c)
 */
#include "ir/edit.h"
#include "passes/pass.h"

#include <stdio.h>
#include <string.h>

typedef struct cleanup {
    kiln_graph *g;
    const kiln_users *users;  /* snapshot at the start of the round */
} cleanup;

static bool same_type(const kiln_value *a, const kiln_value *b)
{
    return a->dtype != KILN_DT_UNDEF && a->dtype == b->dtype && a->shape.rank >= 0 &&
           kiln_shape_equal(&a->shape, &b->shape);
}

/* The node's output 0 is its input 0: users read the input, the node goes. */
static uint32_t forward_out0(cleanup *c, uint32_t id)
{
    kiln_graph *g = c->g;
    uint32_t x = kiln_node_input(g, &g->nodes[id], 0), y = kiln_node_output(g, &g->nodes[id], 0);
    if (!x || !kiln_value_forward(g, y, x))
        return 0;
    kiln_node_remove(g, id);
    return 1;
}

static uint32_t drop_identity(cleanup *c, uint32_t id)
{
    return forward_out0(c, id);
}

/* Training (random) unless training_mode is absent or a constant false. */
static bool dropout_may_train(const kiln_graph *g, uint32_t id)
{
    if (kiln_node_input(g, &g->nodes[id], 2) == 0)
        return false;
    const kiln_value *t = kiln_const_input(g, id, 2);
    return !t || t->nbytes != 1 || *(const unsigned char *)t->data != 0;
}

static uint32_t drop_dropout(cleanup *c, uint32_t id)
{
    uint32_t mask = kiln_node_output(c->g, &c->g->nodes[id], 1);
    if ((mask && kiln_users_count(c->users, mask)) || dropout_may_train(c->g, id))
        return 0;
    return forward_out0(c, id);
}

/* Cast, CastLike, and reshapes that change nothing. */
static uint32_t drop_if_same_type(cleanup *c, uint32_t id)
{
    const kiln_graph *g = c->g;
    const kiln_value *x = kiln_in(g, &g->nodes[id], 0), *y = kiln_out(g, &g->nodes[id], 0);
    return x && y && same_type(x, y) ? forward_out0(c, id) : 0;
}

/* ---- reshape chains ------------------------------------------------------------- */

static const bool reshape_like[KILN_OP_COUNT] = {
    [KILN_OP_RESHAPE] = true, [KILN_OP_FLATTEN] = true,
    [KILN_OP_SQUEEZE] = true, [KILN_OP_UNSQUEEZE] = true,
};

/* A Reshape target with no 0 (which Reshape reads as "copy this dim") and
 * no symbol. */
static bool plain_static(const kiln_shape *s)
{
    if (!kiln_shape_is_static(s))
        return false;
    for (int i = 0; i < s->rank; i++)
        if (s->dim[i] == 0)
            return false;
    return true;
}

/* i64 constant holding v's (static) dims, named after v when that name is free. */
static uint32_t shape_const(kiln_graph *g, uint32_t v)
{
    kiln_shape s = g->values[v].shape;
    kiln_shape one = kiln_shape_make(1, (int64_t[]){s.rank});
    char name[256] = "";
    if (g->values[v].name[0]) {
        snprintf(name, sizeof name, "%s_shape", g->values[v].name);
        if (kiln_graph_find_value(g, name))
            name[0] = '\0';
    }
    return kiln_const_add(g, name, KILN_DT_I64, &one, s.dim, (size_t)s.rank * sizeof s.dim[0], true);
}

/* Node id is a Reshape whose shape input is a constant holding exactly s. */
static bool has_shape_input(const kiln_graph *g, uint32_t id, const kiln_shape *s)
{
    const kiln_value *c = g->nodes[id].op == KILN_OP_RESHAPE ? kiln_const_input(g, id, 1) : NULL;
    size_t bytes = (size_t)s->rank * sizeof s->dim[0];
    return c && c->dtype == KILN_DT_I64 && c->nbytes == bytes && memcmp(c->data, s->dim, bytes) == 0;
}

/* Node id becomes Reshape(src, shape of its output), without attributes;
 * a Reshape that already names that shape keeps its shape input. */
static void become_reshape(kiln_graph *g, uint32_t id, uint32_t src)
{
    uint32_t y = kiln_node_output(g, &g->nodes[id], 0);
    if (has_shape_input(g, id, &g->values[y].shape)) {
        kiln_node_set_input(g, id, 0, src);
        return;
    }
    uint32_t shape = shape_const(g, y);
    kiln_node_set_inputs(g, id, (uint32_t[]){src, shape}, 2);
    g->nodes[id].op = KILN_OP_RESHAPE;
    while (g->nodes[id].n_attr)
        kiln_attr_remove(g, id, g->attrs[g->nodes[id].attr].name);
}

/* Outer reshape `id` of inner reshape of src, the inner one used by id only. */
static uint32_t collapse_chain(cleanup *c, uint32_t id)
{
    kiln_graph *g = c->g;
    uint32_t mid = kiln_node_input(g, &g->nodes[id], 0), y = kiln_node_output(g, &g->nodes[id], 0);
    uint32_t inner = kiln_match_op(g, mid, KILN_OP_COUNT);
    if (!inner || !reshape_like[g->nodes[inner].op] || kiln_single_user(c->users, mid) != id)
        return 0;
    uint32_t src = kiln_node_input(g, &g->nodes[inner], 0);
    if (same_type(&g->values[src], &g->values[y]) && kiln_value_forward(g, y, src)) {
        kiln_node_remove(g, id);
        kiln_node_remove(g, inner);
        return 2;
    }
    if (!plain_static(&g->values[src].shape) || !plain_static(&g->values[y].shape))
        return 0;
    become_reshape(g, id, src);
    kiln_node_remove(g, inner);
    return 1;
}

static uint32_t simplify_reshape(cleanup *c, uint32_t id)
{
    uint32_t n = drop_if_same_type(c, id);
    return n ? n : collapse_chain(c, id);
}

/* ---- the pass --------------------------------------------------------------------- */

/* One rewrite per op; each returns the number of nodes it removed. */
static uint32_t (*const rewrite[KILN_OP_COUNT])(cleanup *, uint32_t) = {
    [KILN_OP_IDENTITY] = drop_identity,
    [KILN_OP_DROPOUT] = drop_dropout,
    [KILN_OP_CAST] = drop_if_same_type,
    [KILN_OP_CASTLIKE] = drop_if_same_type,
    [KILN_OP_RESHAPE] = simplify_reshape,
    [KILN_OP_FLATTEN] = simplify_reshape,
    [KILN_OP_SQUEEZE] = simplify_reshape,
    [KILN_OP_UNSQUEEZE] = simplify_reshape,
};

static uint32_t round_once(kiln_graph *g)
{
    kiln_users *users = kiln_users_build(g);
    cleanup c = {.g = g, .users = users};
    uint32_t removed = 0;
    for (uint32_t id = 1; id < g->n_nodes; id++) {
        kiln_op op = g->nodes[id].op;
        if (op != KILN_OP_COUNT && rewrite[op])
            removed += rewrite[op](&c, id);
    }
    kiln_users_destroy(users);
    return removed;
}

kiln_status kiln_pass_cleanup(kiln_pass_ctx *pc, kiln_graph *g)
{
    uint32_t removed;
    while ((removed = round_once(g)) != 0)
        pc->changes += removed;
    return KILN_OK;
}
