/* token_pool.c — pass `token-pool` (--token-pool L=avg|max, PSViT;
 * TOKEN-REDUCTION.md "Token pooling"): after block L's MLP residual add,
 * the class token passes through and the G x G patch tokens are pooled
 * 2x2, stride 2, ceil mode, to a ceil(G/2) grid.
 *
 * Needs: the blocks and the plan (passes/token_common.h; the plan has
 * refused pooling after the last block, after pruning or merging, and a
 * grid that is not square). Produces, from existing ops (each has its
 * kernel), nodes named "token-pool.b<L>.*":
 *   cls = Slice(x, 0:1 on tokens)        patches = Slice(x, 1: on tokens)
 *   grid = Reshape(Transpose(patches, [0,2,1]), [0, 0, G, G])    [B, D, G, G]
 *   pooled = AveragePool(grid) {kernel 2x2, strides 2, ceil_mode 1, count_include_pad 0}
 *            (MaxPool with the same windows for max)
 *   x' = Concat(cls, Transpose(Reshape(pooled, [0, 0, G'G']), [0,2,1]))  [B, 1+G'G', D]
 * Every later reader of x (the next block's LayerNorm and residual) reads
 * x'. When sizes are tracked (some block merges), a pooled token's size
 * is the sum of its window's sizes: a constant, since pooling comes before
 * any pruning or merging, made by the pass that reads it
 * (kiln_token_sizes_before, "token-pool.b<L>.sizes"). Then every
 * downstream count is re-laid-out (kiln_token_relayout). One change per
 * pooling.
 *   before: %x2 = Add(%x1, %mlp)  ... = LayerNormalization(%x2, ...)
 *   after:  ... = LayerNormalization(%token-pool.b1.x, ...)
 * (tests/ir/pass_token_pool.kir)
 */
#include "passes/token_common.h"
#include "ir/edit.h"

#include <stdio.h>

#define PASS "token-pool"

typedef struct pool_ctx {
    kiln_graph *g;
    uint32_t block;
} pool_ctx;

static uint32_t node1(pool_ctx *c, kiln_op op, const char *what, const uint32_t *ins, uint32_t n_in)
{
    uint32_t out = kiln_token_value(c->g, PASS, c->block, what);
    kiln_node_add(c->g, op, kiln_token_name(c->g, PASS, c->block, what), ins, n_in, &out, 1);
    return out;
}

static uint32_t ints(pool_ctx *c, const char *what, const int64_t *v, uint32_t n)
{
    return kiln_token_ints(c->g, PASS, c->block, what, v, n);
}

/* Tokens [from, to) of x along axis 1 (to = INT64_MAX: to the end). */
static uint32_t slice_tokens(pool_ctx *c, const char *what, uint32_t x, int64_t from, int64_t to)
{
    char s[64], e[64], a[64];
    snprintf(s, sizeof s, "%s.starts", what);
    snprintf(e, sizeof e, "%s.ends", what);
    snprintf(a, sizeof a, "%s.axes", what);
    return node1(c, KILN_OP_SLICE, what,
                 (uint32_t[]){x, ints(c, s, &from, 1), ints(c, e, &to, 1), ints(c, a, (int64_t[]){1}, 1)}, 4);
}

static uint32_t transpose12(pool_ctx *c, const char *what, uint32_t x)
{
    uint32_t y = node1(c, KILN_OP_TRANSPOSE, what, &x, 1);
    kiln_attr_set_ints(c->g, c->g->values[y].producer, "perm", (int64_t[]){0, 2, 1}, 3);
    return y;
}

static uint32_t reshape(pool_ctx *c, const char *what, uint32_t x, const int64_t *dims, uint32_t n)
{
    char s[64];
    snprintf(s, sizeof s, "%s.shape", what);
    return node1(c, KILN_OP_RESHAPE, what, (uint32_t[]){x, ints(c, s, dims, n)}, 2);
}

static void window_attrs(pool_ctx *c, uint32_t node)
{
    kiln_attr_set_ints(c->g, node, "kernel_shape", (int64_t[]){2, 2}, 2);
    kiln_attr_set_ints(c->g, node, "strides", (int64_t[]){2, 2}, 2);
}

kiln_status kiln_pass_token_pool(kiln_pass_ctx *pc, kiln_graph *g)
{
    kiln_token_ctx t;
    bool active;
    kiln_status st = kiln_token_begin(pc, g, &t, &active);
    for (uint32_t l = 0; active && !st && l < t.n_blocks; l++) {
        const kiln_token_block *pb = &t.plan.block[l];
        if (pb->pool == KILN_TOKEN_POOL_NONE)
            continue;
        pool_ctx c = {.g = g, .block = l};
        const kiln_token_site *s = &t.site[l];
        uint32_t x = kiln_node_output(g, &g->nodes[s->r2], 0);
        int64_t G = pb->grid, Go = (G + 1) / 2;
        uint32_t cls = slice_tokens(&c, "cls", x, 0, 1);
        uint32_t patches = slice_tokens(&c, "patches", x, 1, INT64_MAX);
        uint32_t grid = reshape(&c, "grid", transpose12(&c, "patches.t", patches), (int64_t[]){0, 0, G, G}, 4);
        bool avg = pb->pool == KILN_TOKEN_POOL_AVG;
        uint32_t pooled = node1(&c, avg ? KILN_OP_AVERAGEPOOL : KILN_OP_MAXPOOL, avg ? "avgpool" : "maxpool", &grid, 1);
        uint32_t pn = g->values[pooled].producer;
        window_attrs(&c, pn);
        kiln_attr_set_int(g, pn, "ceil_mode", 1);
        if (avg)
            kiln_attr_set_int(g, pn, "count_include_pad", 0);
        uint32_t back = transpose12(&c, "pooled.t", reshape(&c, "pooled.flat", pooled, (int64_t[]){0, 0, Go * Go}, 3));
        uint32_t y = kiln_token_value(g, PASS, l, "x");
        uint32_t cat = kiln_node_add(g, KILN_OP_CONCAT, kiln_token_name(g, PASS, l, "x"), (uint32_t[]){cls, back}, 2, &y, 1);
        kiln_attr_set_int(g, cat, "axis", 1);
        kiln_token_replace_uses(g, x, y, 0);
        /* the slices read x itself */
        kiln_node_set_input(g, g->values[cls].producer, 0, x);
        kiln_node_set_input(g, g->values[patches].producer, 0, x);
        pc->changes++;
    }
    if (active && !st && pc->changes)
        st = kiln_token_finish(pc, g, &t);
    kiln_token_end(&t);
    return st;
}
