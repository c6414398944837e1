/* blocks.c — the transformer blocks around each kiln.Attention
 * (passes/blocks.h has the definition). Every question is a flood over
 * the node order: which values depend on a value (forward), which values
 * a node depends on (backward); one of each per block.
 */
#include "passes/blocks.h"

#include <stdlib.h>
#include <string.h>

/* mark[v] for every value computed from a marked one; stop_at_attention:
 * a kiln.Attention node does not pass the mark on. */
static void flood_forward(const kiln_graph *g, bool *mark, uint32_t from_node, bool stop_at_attention)
{
    for (uint32_t id = from_node; id < g->n_nodes; id++) {
        const kiln_node *n = &g->nodes[id];
        bool hit = false;
        for (uint32_t i = 0; i < n->n_in && !hit; i++)
            hit = mark[kiln_node_input(g, n, i)];
        if (!hit || (stop_at_attention && n->op == KILN_OP_ATTENTION))
            continue;
        for (uint32_t o = 0; o < n->n_out; o++)
            mark[kiln_node_output(g, n, o)] = true;
    }
}

/* anc[v] for every value node `a` depends on. */
static void flood_backward(const kiln_graph *g, bool *anc, uint32_t a)
{
    const kiln_node *an = &g->nodes[a];
    for (uint32_t i = 0; i < an->n_in; i++)
        anc[kiln_node_input(g, an, i)] = true;
    for (uint32_t id = a; id-- > 1;) {
        const kiln_node *n = &g->nodes[id];
        bool used = false;
        for (uint32_t o = 0; o < n->n_out && !used; o++)
            used = anc[kiln_node_output(g, n, o)];
        for (uint32_t i = 0; used && i < n->n_in; i++)
            anc[kiln_node_input(g, n, i)] = true;
    }
    anc[0] = false;
}

/* The only user of v when it is a LayerNormalization, else 0. */
static uint32_t post_norm(const kiln_graph *g, uint32_t v, uint32_t after)
{
    uint32_t user = 0, uses = 0;
    for (uint32_t id = after + 1; id < g->n_nodes; id++) {
        const kiln_node *n = &g->nodes[id];
        for (uint32_t i = 0; i < n->n_in; i++)
            if (kiln_node_input(g, n, i) == v)
                user = id, uses++;
    }
    for (uint32_t i = 0; i < g->n_outputs; i++)
        uses += g->outputs[i] == v;
    return uses == 1 && g->nodes[user].op == KILN_OP_LAYERNORMALIZATION ? user : 0;
}

/* A residual add's operands, way k: (the computed value u, the residual
 * o). An Add either way round (k 0, 1); a kiln.FusedMatMul with a residual
 * (fuse-epilogue) one way: u its A, o its residual input. */
static bool residual_pair(const kiln_graph *g, const kiln_node *n, uint32_t k, uint32_t *u,
                          uint32_t *o)
{
    if (n->op == KILN_OP_ADD && n->n_in == 2 && k < 2) {
        *u = kiln_node_input(g, n, k), *o = kiln_node_input(g, n, 1 - k);
        return true;
    }
    if (n->op == KILN_OP_FUSEDMATMUL && k == 0 && kiln_node_input(g, n, 3)) {
        *u = kiln_node_input(g, n, 0), *o = kiln_node_input(g, n, 3);
        return true;
    }
    return false;
}

/* R2 after `last`: an Add of r and a value computed from r without an
 * attention in between. */
static uint32_t mlp_residual(const kiln_graph *g, bool *mark, uint32_t r, uint32_t last)
{
    memset(mark, 0, g->n_values * sizeof *mark);
    mark[r] = true;
    flood_forward(g, mark, last + 1, true);
    for (uint32_t id = last + 1; id < g->n_nodes; id++) {
        uint32_t u, o;
        for (uint32_t k = 0; residual_pair(g, &g->nodes[id], k, &u, &o); k++)
            if (o == r && u != r && mark[u])
                return id;
    }
    return 0;
}

/* The kiln.TokenPrune or kiln.TokenMerge that is v's only user, else 0. */
static uint32_t token_reducer(const kiln_graph *g, uint32_t v, uint32_t after)
{
    uint32_t user = 0, uses = 0;
    for (uint32_t id = after + 1; id < g->n_nodes; id++) {
        const kiln_node *n = &g->nodes[id];
        for (uint32_t i = 0; i < n->n_in; i++)
            if (kiln_node_input(g, n, i) == v)
                user = id, uses++;
    }
    return uses == 1 && (g->nodes[user].op == KILN_OP_TOKEN_PRUNE || g->nodes[user].op == KILN_OP_TOKEN_MERGE)
               ? user
               : 0;
}

static void delimit(const kiln_graph *g, uint32_t a, bool *dep, bool *anc, bool *dx, kiln_block *blk)
{
    const kiln_node *an = &g->nodes[a];
    blk->first = blk->last = a;
    memset(dep, 0, g->n_values * sizeof *dep);
    memset(anc, 0, g->n_values * sizeof *anc);
    for (uint32_t o = 0; o < an->n_out; o++)
        dep[kiln_node_output(g, an, o)] = true;
    flood_forward(g, dep, a + 1, false);
    flood_backward(g, anc, a);
    uint32_t r1 = 0, x = 0;
    for (uint32_t id = a + 1; id < g->n_nodes && !r1; id++) {
        uint32_t u, o;
        for (uint32_t k = 0; !r1 && residual_pair(g, &g->nodes[id], k, &u, &o); k++)
            if (dep[u] && !dep[o] && anc[o])
                r1 = id, x = o;
    }
    if (!r1)
        return;
    blk->x = x;
    blk->r1 = r1;
    memset(dx, 0, g->n_values * sizeof *dx);
    dx[x] = true;
    flood_forward(g, dx, 1, false);
    for (uint32_t id = 1; id <= a; id++) {
        const kiln_node *n = &g->nodes[id];
        bool reads = false, feeds = id == a;
        for (uint32_t i = 0; i < n->n_in && !reads; i++)
            reads = dx[kiln_node_input(g, n, i)];
        for (uint32_t o = 0; o < n->n_out && !feeds; o++)
            feeds = anc[kiln_node_output(g, n, o)];
        if (reads && feeds) {
            blk->first = id;
            break;
        }
    }
    uint32_t last = r1, ln = post_norm(g, kiln_node_output(g, &g->nodes[r1], 0), r1);
    if (ln)
        last = ln;
    blk->post_norm = ln != 0;
    /* a token reduction between the attention and the MLP (token-prune,
     * token-merge) is part of the block: the MLP residual adds its output */
    uint32_t r = kiln_node_output(g, &g->nodes[last], 0), reducer = token_reducer(g, r, last);
    if (reducer)
        last = reducer, r = kiln_node_output(g, &g->nodes[reducer], 0);
    uint32_t r2 = mlp_residual(g, dx, r, last);
    if (r2) {
        last = r2;
        blk->r2 = r2;
        /* post-norm (R1 went through its LayerNorm): so does R2 */
        uint32_t ln2 = ln ? post_norm(g, kiln_node_output(g, &g->nodes[r2], 0), r2) : 0;
        if (ln2)
            last = ln2;
    }
    blk->last = last;
}

uint32_t kiln_blocks_find(const kiln_graph *g, kiln_block *out, uint32_t max)
{
    uint32_t n = 0;
    bool *dep = NULL, *anc = NULL, *dx = NULL;
    for (uint32_t id = 1; id < g->n_nodes; id++) {
        const kiln_node *nd = &g->nodes[id];
        if (nd->op != KILN_OP_ATTENTION)
            continue;
        if (n < max) {
            if (!dep) {
                dep = kiln_xcalloc(g->n_values, sizeof *dep);
                anc = kiln_xcalloc(g->n_values, sizeof *anc);
                dx = kiln_xcalloc(g->n_values, sizeof *dx);
            }
            kiln_block *b = &out[n];
            *b = (kiln_block){.attention = id,
                              .batch = kiln_attr_int(g, nd, "batch", 0),
                              .heads = kiln_attr_int(g, nd, "heads", 0),
                              .head_dim = kiln_attr_int(g, nd, "head_dim", 0),
                              .q_tokens = kiln_attr_int(g, nd, "q_tokens", 0),
                              .kv_tokens = kiln_attr_int(g, nd, "kv_tokens", 0)};
            delimit(g, id, dep, anc, dx, b);
        }
        n++;
    }
    free(dep);
    free(anc);
    free(dx);
    return n;
}
