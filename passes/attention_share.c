/* attention_share.c — pass `attention-share` (--attention-share SRC:DST,
 * PSViT; TOKEN-REDUCTION.md "Attention sharing"): block DST reuses block
 * SRC's post-softmax map, head h to head h, and computes only its values.
 *
 * Needs: the blocks of fuse-attention and the plan (passes/token_common.h;
 * chains are resolved there, so SRC is the block that computes the map).
 * Produces: SRC's kiln.Attention gains its P output (the node is replaced
 * by one with two outputs); DST's kiln.Attention reads it as p_in, and its
 * Q, K and bias inputs go. When DST's V is a column range of a packed qkv
 * projection (MatMul by a constant, plus a constant bias), the projection
 * is narrowed to those columns (nodes "attention-share.b<DST>.v"), so the
 * Q/K weights are dead, as the spec says, and dce removes them. Token
 * counts do not change. One change per shared block.
 *   before: %y2 = kiln.Attention(%qkv2, %qkv2, %qkv2) {v_layout = [128, 0, 32, 192]}
 *   after:  %y1, %p1 = kiln.Attention(%qkv1, %qkv1, %qkv1)
 *           %attention-share.b2.v = Add(%attention-share.b2.bias, %attention-share.b2.v.matmul)
 *           %y2 = kiln.Attention(_, _, %attention-share.b2.v, _, %p1) {v_layout = [0, 0, 32, 64]}
 * (tests/ir/pass_attention_share.kir)
 */
#include "passes/token_common.h"
#include "ir/edit.h"

#include <stdlib.h>
#include <string.h>

/* A constant f32 matrix [rows, cols] or vector [cols] with its data. */
static const kiln_value *f32_const(const kiln_graph *g, uint32_t v, int rank)
{
    const kiln_value *c = v ? &g->values[v] : NULL;
    return c && c->kind == KILN_VAL_CONST && c->data && c->dtype == KILN_DT_F32 && c->shape.rank == rank ? c : NULL;
}

/* Columns [lo, lo + w) of a constant [rows, cols] (rank 2) or [cols]. */
static uint32_t columns(kiln_graph *g, const kiln_value *c, int64_t lo, int64_t w, uint32_t block, const char *what)
{
    int64_t rows = c->shape.rank == 2 ? c->shape.dim[0] : 1, cols = c->shape.dim[c->shape.rank - 1];
    float *out = kiln_xcalloc((size_t)(rows * w), sizeof *out);
    const float *in = c->data;
    for (int64_t r = 0; r < rows; r++)
        memcpy(out + r * w, in + r * cols + lo, (size_t)w * sizeof *out);
    kiln_shape s = c->shape.rank == 2 ? kiln_shape_make(2, (int64_t[]){rows, w}) : kiln_shape_make(1, (int64_t[]){w});
    uint32_t v = kiln_const_add(g, kiln_token_name(g, "attention-share", block, what), KILN_DT_F32, &s, out,
                                (size_t)(rows * w) * sizeof *out, true);
    free(out);
    return v;
}

/* DST's V when it is columns of a packed projection: a narrowed projection
 * and its layout; else V as it is. */
static uint32_t narrow_values(kiln_graph *g, uint32_t node, uint32_t block, int64_t layout[4])
{
    const kiln_node *a = &g->nodes[node];
    uint32_t v = kiln_node_input(g, a, 2), mm = 0, bias = 0;
    uint32_t n_lay = 0;
    const int64_t *vl = kiln_attr_ints(g, a, "v_layout", &n_lay);
    memcpy(layout, vl, 4 * sizeof *layout);
    const kiln_shape *vs = &g->values[v].shape;
    int64_t H = kiln_attr_int(g, a, "heads", 1), D = kiln_attr_int(g, a, "head_dim", 1);
    int64_t N = kiln_attr_int(g, a, "kv_tokens", 1), B = kiln_attr_int(g, a, "batch", 1);
    if (vs->rank != 3 || n_lay != 4)
        return v;
    int64_t C = vs->dim[2], lo = vl[0], w = (H - 1) * vl[2] + D;
    if (vl[3] != C || (B != 1 && vl[1] != N * C) || lo + w > C || w >= C)  /* B 0: run-time batch */
        return v;
    uint32_t p = kiln_match_op(g, v, KILN_OP_ADD);
    if (p) {
        const kiln_node *add = &g->nodes[p];
        for (uint32_t k = 0; k < 2 && !mm; k++)
            if (f32_const(g, kiln_node_input(g, add, k), 1) && kiln_match_op(g, kiln_node_input(g, add, 1 - k), KILN_OP_MATMUL))
                bias = kiln_node_input(g, add, k), mm = kiln_match_op(g, kiln_node_input(g, add, 1 - k), KILN_OP_MATMUL);
    } else {
        mm = kiln_match_op(g, v, KILN_OP_MATMUL);
    }
    if (!mm)
        return v;
    uint32_t h = kiln_node_input(g, &g->nodes[mm], 0), wv = kiln_node_input(g, &g->nodes[mm], 1);
    const kiln_value *W = f32_const(g, wv, 2);
    if (!W || W->shape.dim[1] != C || (bias && g->values[bias].shape.dim[0] != C))
        return v;
    uint32_t w2 = columns(g, W, lo, w, block, "v.weight");
    uint32_t prod = kiln_token_value(g, "attention-share", block, bias ? "v.matmul" : "v");
    kiln_node_add(g, KILN_OP_MATMUL, kiln_token_name(g, "attention-share", block, "v.matmul"), (uint32_t[]){h, w2},
                  2, &prod, 1);
    uint32_t out = prod;
    if (bias) {
        uint32_t b2 = columns(g, &g->values[bias], lo, w, block, "v.bias");
        out = kiln_token_value(g, "attention-share", block, "v");
        kiln_node_add(g, KILN_OP_ADD, kiln_token_name(g, "attention-share", block, "v.bias_add"),
                      (uint32_t[]){prod, b2}, 2, &out, 1);
    }
    layout[0] = 0;
    layout[1] = N * w;
    layout[3] = w;
    return out;
}

kiln_status kiln_pass_attention_share(kiln_pass_ctx *pc, kiln_graph *g)
{
    kiln_token_ctx t;
    bool active;
    kiln_status st = kiln_token_begin(pc, g, &t, &active);
    for (uint32_t d = 0; active && !st && d < t.n_blocks; d++) {
        int32_t s = t.plan.block[d].share_src;
        if (s < 0)
            continue;
        uint32_t probs = kiln_token_probs(g, &t.site[s].b.attention);
        uint32_t node = t.site[d].b.attention;
        int64_t layout[4];
        uint32_t v = narrow_values(g, node, d, layout);
        kiln_node_set_inputs(g, node, (uint32_t[]){0, 0, v, 0, probs}, 5);
        static const int64_t zeros[4] = {0, 0, 0, 0};
        kiln_attr_set_ints(g, node, "q_layout", zeros, 4);
        kiln_attr_set_ints(g, node, "k_layout", zeros, 4);
        kiln_attr_set_ints(g, node, "v_layout", layout, 4);
        kiln_attr_remove(g, node, "causal");
        pc->changes++;
    }
    if (active && !st && pc->changes)
        st = kiln_token_finish(pc, g, &t);
    kiln_token_end(&t);
    return st;
}
