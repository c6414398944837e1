/* token_merge.c — pass `token-merge` (--token-merge R | L=R, ToMe;
 * TOKEN-REDUCTION.md "Token merging"): after block L's attention residual
 * add and before its LayerNorm, merge r = min(R, (N-1)//2) tokens by
 * bipartite soft matching of the block's keys, averaging by size; then
 * proportional attention.
 *
 * Needs: the blocks and the plan (passes/token_common.h: merging is
 * refused in a block that prunes or that reuses another's map). Produces:
 *  - one kiln.TokenMerge per merging block, named "token-merge.b<L>", that
 *    reads the block's keys through its kiln.Attention's K input and
 *    k_layout (the kernel averages them over heads and normalises), and
 *    the sizes entering the block (absent while every size is 1); its
 *    outputs "token-merge.b<L>.x" (replacing x for the LayerNorm and the
 *    MLP residual) and "token-merge.b<L>.sizes";
 *  - proportional attention (unless --no-proportional-attention): every
 *    block that computes its own map and is entered by sizes other than
 *    all ones (after a merge, a pooling or a fused token) adds
 *    log(size_j) to the logits of key j: Log, Unsqueeze to [B, 1, 1, N]
 *    ("token-merge.b<L>.logsize"), as the attention's bias input or added
 *    to its bias. Where every size is 1 the term is 0 and is left out.
 * Every downstream count is then re-laid-out. One change per merging
 * block and per bias.
 *   before: %x1 = Add(%x, %proj)  %h = LayerNormalization(%x1, ...)
 *   after:  %token-merge.b0.x, %token-merge.b0.sizes = kiln.TokenMerge(%x1, %qkv) {r = 16, ...}
 *           %h = LayerNormalization(%token-merge.b0.x, ...)
 *           ... block 1: kiln.Attention(%qkv1, %qkv1, %qkv1, %token-merge.b1.logsize)
 * (tests/ir/pass_token_merge.kir)
 */
#include "passes/token_common.h"
#include "ir/edit.h"

#define PASS "token-merge"

/* block l's attention adds log(sizes) to its logits */
static void proportional(kiln_graph *g, uint32_t l, uint32_t node, uint32_t sizes)
{
    uint32_t lg = kiln_token_value(g, PASS, l, "log");
    kiln_node_add(g, KILN_OP_LOG, kiln_token_name(g, PASS, l, "log"), &sizes, 1, &lg, 1);
    uint32_t axes = kiln_token_ints(g, PASS, l, "logsize.axes", (int64_t[]){1, 2}, 2);
    uint32_t bias = kiln_token_value(g, PASS, l, "logsize");
    kiln_node_add(g, KILN_OP_UNSQUEEZE, kiln_token_name(g, PASS, l, "logsize"), (uint32_t[]){lg, axes}, 2, &bias, 1);
    const kiln_node *a = &g->nodes[node];
    uint32_t old = kiln_node_input(g, a, 3);
    if (old) {
        uint32_t sum = kiln_token_value(g, PASS, l, "bias");
        kiln_node_add(g, KILN_OP_ADD, kiln_token_name(g, PASS, l, "bias"), (uint32_t[]){old, bias}, 2, &sum, 1);
        bias = sum;
    }
    a = &g->nodes[node];
    if (a->n_in > 3) {
        kiln_node_set_input(g, node, 3, bias);
        return;
    }
    uint32_t ins[4] = {kiln_node_input(g, a, 0), kiln_node_input(g, a, 1), kiln_node_input(g, a, 2), bias};
    kiln_node_set_inputs(g, node, ins, 4);
}

kiln_status kiln_pass_token_merge(kiln_pass_ctx *pc, kiln_graph *g)
{
    kiln_token_ctx t;
    bool active;
    kiln_status st = kiln_token_begin(pc, g, &t, &active);
    for (uint32_t l = 0; active && !st && l < t.n_blocks; l++) {
        const kiln_token_block *pb = &t.plan.block[l];
        if (pb->merge_r <= 0)
            continue;
        const kiln_node *a = &g->nodes[t.site[l].b.attention];
        uint32_t x = kiln_node_output(g, &g->nodes[t.site[l].r1], 0);
        uint32_t keys = kiln_node_input(g, a, 1), sizes = kiln_token_sizes_before(g, &t, l);
        uint32_t n_lay = 0;
        const int64_t *kl = kiln_attr_ints(g, a, "k_layout", &n_lay);
        int64_t layout[4] = {kl[0], kl[1], kl[2], kl[3]};
        int64_t heads = kiln_attr_int(g, a, "heads", 1), head_dim = kiln_attr_int(g, a, "head_dim", 1);
        uint32_t outs[2] = {kiln_token_value(g, PASS, l, "x"), kiln_token_value(g, PASS, l, "sizes")};
        uint32_t node = kiln_node_add(g, KILN_OP_TOKEN_MERGE, kiln_token_name(g, PASS, l, NULL),
                                      (uint32_t[]){x, keys, sizes}, sizes ? 3 : 2, outs, 2);
        kiln_attr_set_int(g, node, "r", pb->merge_r);
        kiln_attr_set_int(g, node, "heads", heads);
        kiln_attr_set_int(g, node, "head_dim", head_dim);
        kiln_attr_set_ints(g, node, "k_layout", layout, 4);
        kiln_token_replace_uses(g, x, outs[0], node);
        pc->changes++;
    }
    for (uint32_t l = 0; active && !st && t.plan.track_sizes && t.plan.proportional && l < t.n_blocks; l++) {
        uint32_t sizes = kiln_token_sizes_before(g, &t, l);
        if (t.plan.block[l].share_src >= 0 || !sizes)
            continue;
        proportional(g, l, t.site[l].b.attention, sizes);
        pc->changes++;
    }
    if (active && !st && pc->changes)
        st = kiln_token_finish(pc, g, &t);
    kiln_token_end(&t);
    return st;
}
