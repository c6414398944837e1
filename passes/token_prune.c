/* token_prune.c — pass `token-prune` (--token-prune L=KEEP[,fuse], EViT;
 * TOKEN-REDUCTION.md "Token pruning"): after block L's attention residual
 * add, keep the class token and the ceil(KEEP·(N-1)) tokens the class
 * token attends to most (mean over heads of the map's row 0), in
 * descending score order; with fuse, one more token: the score-weighted
 * sum of the dropped ones.
 *
 * Needs: the blocks and the plan (passes/token_common.h: it has the kept
 * count and refused pruning with merging in one block and pooling after
 * it). Produces: one kiln.TokenPrune per pruned block, named
 * "token-prune.b<L>", reading the block's map: its kiln.Attention's P
 * output (added when missing), or the shared map when the block reuses
 * another's (attention-share ran first). Its output x' "token-prune.b<L>.x"
 * replaces x for the LayerNorm and the MLP residual; with sizes tracked
 * (some block merges), it also carries the sizes ("token-prune.b<L>.sizes").
 * Every downstream count is then re-laid-out. One change per pruned block.
 *   before: %x1 = Add(%x, %proj)  %h = LayerNormalization(%x1, ...)  %x2 = Add(%x1, %mlp)
 *   after:  %y, %p = kiln.Attention(...)
 *           %token-prune.b2.x = kiln.TokenPrune(%x1, %p) {fuse = 0, keep = 137}
 *           %h = LayerNormalization(%token-prune.b2.x, ...)  %x2 = Add(%token-prune.b2.x, %mlp)
 * (tests/ir/pass_token_prune.kir)
 */
#include "passes/token_common.h"
#include "ir/edit.h"

#define PASS "token-prune"

kiln_status kiln_pass_token_prune(kiln_pass_ctx *pc, kiln_graph *g)
{
    kiln_token_ctx t;
    bool active;
    kiln_status st = kiln_token_begin(pc, g, &t, &active);
    for (uint32_t l = 0; active && !st && l < t.n_blocks; l++) {
        const kiln_token_block *pb = &t.plan.block[l];
        if (!pb->prune_den)
            continue;
        uint32_t x = kiln_node_output(g, &g->nodes[t.site[l].r1], 0);
        uint32_t probs = kiln_token_probs(g, &t.site[l].b.attention);
        uint32_t sizes = kiln_token_sizes_before(g, &t, l);
        uint32_t outs[2] = {kiln_token_value(g, PASS, l, "x"),
                            t.plan.track_sizes ? kiln_token_value(g, PASS, l, "sizes") : 0};
        uint32_t node = kiln_node_add(g, KILN_OP_TOKEN_PRUNE, kiln_token_name(g, PASS, l, NULL),
                                      (uint32_t[]){x, probs, sizes}, sizes ? 3 : 2, outs, outs[1] ? 2 : 1);
        kiln_attr_set_int(g, node, "keep", pb->prune_kept);
        kiln_attr_set_int(g, node, "fuse", t.plan.fuse);
        kiln_token_replace_uses(g, x, outs[0], node);
        pc->changes++;
    }
    if (active && !st && pc->changes)
        st = kiln_token_finish(pc, g, &t);
    kiln_token_end(&t);
    return st;
}
