/* edit.c — editing a graph: uses, rewiring, removal, compaction, pattern
 * helpers and the density check (the API of ir/edit.h).
 *
 * Why edits leave garbage: a pass that rewires and removes in place keeps
 * every index it holds valid while it works. One compaction afterwards
 * pays for all of it in O(graph) and renumbers in a fixed order, so a dump
 * never depends on how a pass happened to edit.
 *
 * After kiln_graph_compact:
 *   - nodes 1..n_nodes-1 are live, in their previous relative order;
 *   - g->operands holds, node after node, the node's inputs then its
 *     outputs; g->attrs holds the nodes' attribute ranges in node order;
 *     nothing lies between or after the ranges;
 *   - values are numbered graph inputs first, then values no live node
 *     produces (constants) by first use (node inputs in node order, then
 *     graph outputs), then node outputs in node order; every value but a
 *     graph input is referred to by a node or a graph output.
 */
#include "ir/edit.h"

#include <stdlib.h>
#include <string.h>

#define TRY(x)                      \
    do {                            \
        kiln_status st_ = (x);      \
        if (st_ != KILN_OK)         \
            return st_;             \
    } while (0)

static bool node_live(const kiln_graph *g, uint32_t id)
{
    return id > 0 && id < g->n_nodes && g->nodes[id].op != KILN_OP_COUNT;
}

/* ===== uses ================================================================ */

/* Count (pos == NULL) or place one use of v. */
static void add_use(kiln_users *u, uint32_t *pos, uint32_t v, uint32_t node, uint32_t slot)
{
    if (!v)
        return;
    KILN_ASSERT(v < u->n_values);
    if (!pos)
        u->first[v + 1]++;
    else
        u->use[pos[v]++] = (kiln_use){.node = node, .slot = slot};
}

/* Every use in CSR order: node inputs in node order, then graph outputs. */
static void visit_uses(const kiln_graph *g, kiln_users *u, uint32_t *pos)
{
    for (uint32_t id = 1; id < g->n_nodes; id++) {
        const kiln_node *n = &g->nodes[id];
        for (uint32_t i = 0; n->op != KILN_OP_COUNT && i < n->n_in; i++)
            add_use(u, pos, g->operands[n->in + i], id, i);
    }
    for (uint32_t i = 0; i < g->n_outputs; i++)
        add_use(u, pos, g->outputs[i], 0, i);
}

kiln_users *kiln_users_build(const kiln_graph *g)
{
    kiln_users *u = kiln_xcalloc(1, sizeof *u);
    u->n_values = g->n_values;
    u->first = kiln_xcalloc((size_t)g->n_values + 1, sizeof *u->first);
    visit_uses(g, u, NULL);
    for (uint32_t v = 0; v < g->n_values; v++)
        u->first[v + 1] += u->first[v];
    u->use = kiln_xcalloc(u->first[g->n_values], sizeof *u->use);
    uint32_t *pos = kiln_xcalloc(g->n_values, sizeof *pos);
    memcpy(pos, u->first, g->n_values * sizeof *pos);
    visit_uses(g, u, pos);
    free(pos);
    return u;
}

void kiln_users_destroy(kiln_users *u)
{
    if (!u)
        return;
    free(u->first);
    free(u->use);
    free(u);
}

/* Graph outputs come last in a value's list, so the last use tells. */
bool kiln_users_is_output(const kiln_users *u, uint32_t v)
{
    if (v == 0 || v >= u->n_values || kiln_users_count(u, v) == 0)
        return false;
    return u->use[u->first[v + 1] - 1].node == 0;
}

/* ===== edits =============================================================== */

void kiln_replace_all_uses(kiln_graph *g, uint32_t from, uint32_t to)
{
    KILN_ASSERT(from > 0 && from < g->n_values && to > 0 && to < g->n_values);
    for (uint32_t id = 1; id < g->n_nodes; id++) {
        const kiln_node *n = &g->nodes[id];
        for (uint32_t i = 0; n->op != KILN_OP_COUNT && i < n->n_in; i++)
            if (g->operands[n->in + i] == from)
                g->operands[n->in + i] = to;
    }
    for (uint32_t i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == from)
            g->outputs[i] = to;
}

static bool is_graph_output(const kiln_graph *g, uint32_t v)
{
    for (uint32_t i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == v)
            return true;
    return false;
}

bool kiln_value_can_forward(const kiln_graph *g, uint32_t from, uint32_t to)
{
    if (from == to || !is_graph_output(g, from))
        return true;
    const kiln_value *t = &g->values[to];
    return t->kind == KILN_VAL_NODE && node_live(g, t->producer) && !is_graph_output(g, to);
}

bool kiln_value_forward(kiln_graph *g, uint32_t from, uint32_t to)
{
    if (!kiln_value_can_forward(g, from, to))
        return false;
    if (from == to)
        return true;
    bool rename = is_graph_output(g, from);
    kiln_replace_all_uses(g, from, to);
    if (rename) {
        g->values[to].name = g->values[from].name;
        g->values[from].name = "";
    }
    return true;
}

void kiln_node_set_input(kiln_graph *g, uint32_t node, uint32_t slot, uint32_t v)
{
    KILN_ASSERT(node_live(g, node) && slot < g->nodes[node].n_in && v < g->n_values);
    g->operands[g->nodes[node].in + slot] = v;
}

void kiln_node_remove(kiln_graph *g, uint32_t node)
{
    KILN_ASSERT(node_live(g, node));
    kiln_node *n = &g->nodes[node];
    for (uint32_t i = 0; i < n->n_out; i++) {
        uint32_t v = g->operands[n->out + i];
        if (v && g->values[v].producer == node)
            g->values[v].producer = 0;
    }
    n->op = KILN_OP_COUNT;
    n->n_in = n->n_out = n->n_attr = 0;
}

/* The producer of v gets a fresh anonymous output of v's type in v's slot,
 * so that it stays well-formed (and verifies) until it is removed. */
static void detach_output(kiln_graph *g, uint32_t node, uint32_t v)
{
    for (uint32_t i = 0; i < g->nodes[node].n_out; i++) {
        if (g->operands[g->nodes[node].out + i] != v)
            continue;
        uint32_t fresh = kiln_value_add(g, "");
        kiln_value *f = &g->values[fresh];
        f->dtype = g->values[v].dtype;
        f->shape = g->values[v].shape;
        f->producer = node;
        g->operands[g->nodes[node].out + i] = fresh;
    }
}

void kiln_value_make_const(kiln_graph *g, uint32_t v, const void *data, size_t nbytes)
{
    KILN_ASSERT(v > 0 && v < g->n_values && g->values[v].kind != KILN_VAL_INPUT);
    uint32_t p = g->values[v].kind == KILN_VAL_NODE ? g->values[v].producer : 0;
    if (node_live(g, p))
        detach_output(g, p, v);
    void *d = kiln_arena_alloc(g->arena, nbytes ? nbytes : 1, 64);
    if (nbytes)
        memcpy(d, data, nbytes);
    kiln_value *val = &g->values[v];
    val->kind = KILN_VAL_CONST;
    val->producer = 0;
    val->data = d;
    val->nbytes = nbytes;
    val->svals = NULL;
    val->digest = 0;
}

void kiln_value_rename(kiln_graph *g, uint32_t v, const char *name)
{
    KILN_ASSERT(v > 0 && v < g->n_values);
    g->values[v].name = kiln_graph_intern(g, name);
}

/* ===== compact ============================================================= */

typedef struct remap {
    uint32_t *node;       /* old node index -> new (0: removed) */
    uint32_t *value;      /* old value index -> new (0: dropped) */
    uint32_t n_nodes;     /* next free new index */
    uint32_t n_values;
} remap;

static void number_value(const kiln_graph *g, remap *m, uint32_t v)
{
    KILN_ASSERT(v < g->n_values);
    if (v && !m->value[v])
        m->value[v] = m->n_values++;
}

/* Values no live node produces, by first use: constants, and whatever a
 * broken graph uses without defining (kept, so the verifier can name it). */
static void number_unproduced(const kiln_graph *g, remap *m, const bool *produced)
{
    for (uint32_t id = 1; id < g->n_nodes; id++) {
        const kiln_node *n = &g->nodes[id];
        for (uint32_t i = 0; n->op != KILN_OP_COUNT && i < n->n_in; i++)
            if (!produced[g->operands[n->in + i]])
                number_value(g, m, g->operands[n->in + i]);
    }
    for (uint32_t i = 0; i < g->n_outputs; i++)
        if (!produced[g->outputs[i]])
            number_value(g, m, g->outputs[i]);
}

static void number_all(const kiln_graph *g, remap *m)
{
    bool *produced = kiln_xcalloc(g->n_values, sizeof *produced);
    m->n_nodes = m->n_values = 1;
    for (uint32_t id = 1; id < g->n_nodes; id++)
        if (g->nodes[id].op != KILN_OP_COUNT)
            m->node[id] = m->n_nodes++;
    for (uint32_t id = 1; id < g->n_nodes; id++)
        for (uint32_t i = 0; m->node[id] && i < g->nodes[id].n_out; i++)
            produced[g->operands[g->nodes[id].out + i]] = true;
    for (uint32_t i = 0; i < g->n_inputs; i++)
        number_value(g, m, g->inputs[i]);
    number_unproduced(g, m, produced);
    for (uint32_t id = 1; id < g->n_nodes; id++)
        for (uint32_t i = 0; m->node[id] && i < g->nodes[id].n_out; i++)
            number_value(g, m, g->operands[g->nodes[id].out + i]);
    free(produced);
}

static void rebuild_values(kiln_graph *g, const remap *m)
{
    kiln_value *vals = kiln_xcalloc(m->n_values, sizeof *vals);
    vals[0] = g->values[0];
    for (uint32_t v = 1; v < g->n_values; v++) {
        if (!m->value[v])
            continue;
        kiln_value *nv = &vals[m->value[v]];
        *nv = g->values[v];
        nv->producer = nv->producer < g->n_nodes ? m->node[nv->producer] : 0;
    }
    free(g->values);
    g->values = vals;
    g->n_values = g->cap_values = m->n_values;
}

/* Append old operands [from, from + n) renumbered; returns where they went. */
static uint32_t copy_operands(uint32_t *dst, uint32_t *at, const uint32_t *src, uint32_t n,
                              const remap *m)
{
    uint32_t start = *at;
    for (uint32_t i = 0; i < n; i++)
        dst[(*at)++] = m->value[src[i]];
    return start;
}

static void rebuild_nodes(kiln_graph *g, const remap *m)
{
    uint32_t n_ops = 0, n_attrs = 0, at_op = 0, at_attr = 0;
    for (uint32_t id = 1; id < g->n_nodes; id++)
        if (m->node[id]) {
            n_ops += g->nodes[id].n_in + g->nodes[id].n_out;
            n_attrs += g->nodes[id].n_attr;
        }
    kiln_node *nodes = kiln_xcalloc(m->n_nodes, sizeof *nodes);
    uint32_t *ops = kiln_xcalloc(n_ops, sizeof *ops);
    kiln_attr *attrs = kiln_xcalloc(n_attrs, sizeof *attrs);
    nodes[0] = g->nodes[0];
    for (uint32_t id = 1; id < g->n_nodes; id++) {
        if (!m->node[id])
            continue;
        kiln_node n = g->nodes[id];
        n.in = copy_operands(ops, &at_op, g->operands + n.in, n.n_in, m);
        n.out = copy_operands(ops, &at_op, g->operands + n.out, n.n_out, m);
        if (n.n_attr)
            memcpy(attrs + at_attr, g->attrs + n.attr, n.n_attr * sizeof *attrs);
        n.attr = at_attr;
        at_attr += n.n_attr;
        nodes[m->node[id]] = n;
    }
    free(g->nodes);
    free(g->operands);
    free(g->attrs);
    g->nodes = nodes;
    g->n_nodes = g->cap_nodes = m->n_nodes;
    g->operands = ops;
    g->n_operands = n_ops;
    g->cap_operands = n_ops ? n_ops : 1;
    g->attrs = attrs;
    g->n_attrs = n_attrs;
    g->cap_attrs = n_attrs ? n_attrs : 1;
}

void kiln_graph_compact(kiln_graph *g)
{
    remap m = {
        .node = kiln_xcalloc(g->n_nodes, sizeof *m.node),
        .value = kiln_xcalloc(g->n_values, sizeof *m.value),
    };
    number_all(g, &m);
    for (uint32_t i = 0; i < g->n_inputs; i++)
        g->inputs[i] = m.value[g->inputs[i]];
    for (uint32_t i = 0; i < g->n_outputs; i++)
        g->outputs[i] = m.value[g->outputs[i]];
    rebuild_values(g, &m);   /* first: it maps producers through the old node count */
    rebuild_nodes(g, &m);
    free(m.node);
    free(m.value);
}

/* ===== pattern helpers ===================================================== */

uint32_t kiln_match_op(const kiln_graph *g, uint32_t v, kiln_op op)
{
    if (v == 0 || v >= g->n_values || g->values[v].kind != KILN_VAL_NODE)
        return 0;
    uint32_t p = g->values[v].producer;
    if (!node_live(g, p) || (op != KILN_OP_COUNT && g->nodes[p].op != op))
        return 0;
    return p;
}

uint32_t kiln_single_user(const kiln_users *u, uint32_t v)
{
    if (v == 0 || v >= u->n_values || kiln_users_count(u, v) != 1)
        return 0;
    return u->use[u->first[v]].node;
}

const kiln_value *kiln_const_input(const kiln_graph *g, uint32_t node, uint32_t i)
{
    const kiln_value *v = kiln_in(g, &g->nodes[node], i);
    return v && v->data ? v : NULL;
}

bool kiln_const_input_f32(const kiln_graph *g, uint32_t node, uint32_t i, float *out)
{
    if (!kiln_node_input(g, &g->nodes[node], i))
        return true;
    const kiln_value *v = kiln_const_input(g, node, i);
    if (!v || v->dtype != KILN_DT_F32 || v->nbytes != sizeof(float))
        return false;
    memcpy(out, v->data, sizeof(float));
    return true;
}

bool kiln_attr_int_equals(const kiln_graph *g, uint32_t node, const char *name, int64_t dflt,
                          int64_t want)
{
    return kiln_attr_int(g, &g->nodes[node], name, dflt) == want;
}

/* ===== the density check =================================================== */

/* A non-empty range must start where the previous one ended (an empty range
 * owns nothing, wherever it points). */
static kiln_status check_range(kiln_ctx *ctx, const kiln_graph *g, uint32_t id, const char *what,
                               uint32_t start, uint32_t count, uint32_t *at, uint32_t total)
{
    if (count == 0)
        return KILN_OK;
    if (start != *at)
        return kiln_node_error(ctx, g, id, KILN_ERR_INVALID,
                               "graph is not dense: its %s range starts at %u, the previous range ends at %u (%s)",
                               what, start, *at, start > *at ? "garbage in between" : "ranges overlap or out of node order");
    if (start > total || count > total - start)
        return kiln_node_error(ctx, g, id, KILN_ERR_INVALID, "graph is not dense: its %s range is out of bounds",
                               what);
    *at += count;
    return KILN_OK;
}

static kiln_status check_node_ranges(kiln_ctx *ctx, const kiln_graph *g, uint32_t *at_op, uint32_t *at_attr)
{
    for (uint32_t id = 1; id < g->n_nodes; id++) {
        const kiln_node *n = &g->nodes[id];
        if (n->op == KILN_OP_COUNT)
            return kiln_error(ctx, KILN_ERR_INVALID,
                              "%s: graph is not dense: node #%u%s%s%s is a tombstone (removed, not compacted)",
                              g->source, id, n->name[0] ? " '" : "", n->name, n->name[0] ? "'" : "");
        TRY(check_range(ctx, g, id, "input", n->in, n->n_in, at_op, g->n_operands));
        TRY(check_range(ctx, g, id, "output", n->out, n->n_out, at_op, g->n_operands));
        TRY(check_range(ctx, g, id, "attribute", n->attr, n->n_attr, at_attr, g->n_attrs));
    }
    return KILN_OK;
}

static kiln_status check_all_referred(kiln_ctx *ctx, const kiln_graph *g)
{
    bool *ref = kiln_xcalloc(g->n_values, sizeof *ref);
    for (uint32_t k = 0; k < g->n_operands; k++)
        if (g->operands[k] < g->n_values)
            ref[g->operands[k]] = true;
    for (uint32_t i = 0; i < g->n_inputs; i++)
        if (g->inputs[i] < g->n_values)
            ref[g->inputs[i]] = true;
    for (uint32_t i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] < g->n_values)
            ref[g->outputs[i]] = true;
    uint32_t v = 1;
    while (v < g->n_values && ref[v])
        v++;
    free(ref);
    if (v == g->n_values)
        return KILN_OK;
    const char *name = g->values[v].name;
    return kiln_error(ctx, KILN_ERR_INVALID,
                      "%s: graph is not dense: value #%u%s%s%s is referred to by no node and no graph output",
                      g->source, v, name[0] ? " '" : "", name, name[0] ? "'" : "");
}

kiln_status kiln_graph_check_dense(kiln_ctx *ctx, const kiln_graph *g)
{
    uint32_t at_op = 0, at_attr = 0;
    TRY(check_node_ranges(ctx, g, &at_op, &at_attr));
    if (at_op != g->n_operands)
        return kiln_error(ctx, KILN_ERR_INVALID,
                          "%s: graph is not dense: the last %u of %u operands belong to no node",
                          g->source, g->n_operands - at_op, g->n_operands);
    if (at_attr != g->n_attrs)
        return kiln_error(ctx, KILN_ERR_INVALID,
                          "%s: graph is not dense: the last %u of %u attributes belong to no node",
                          g->source, g->n_attrs - at_attr, g->n_attrs);
    return check_all_referred(ctx, g);
}
