/* blocks.h — the transformer blocks of a graph after fuse-attention: what
 * `kiln info` lists and what the token-reduction passes (issue 12) address
 * by index. The definition (docs/attention.md, "Transformer blocks"):
 *
 *   Block i is the i-th kiln.Attention node A in node (topological) order,
 *   with the residual block around it:
 *   - its residual input x is the other operand of the first Add after A
 *     one of whose operands depends on A's output and whose other operand
 *     does not, but is an input A depends on (the stream the block adds to);
 *     that Add is R1, the attention residual;
 *   - the block starts at the first node, in node order, that reads x (or
 *     a value computed from x) and that A depends on: the pre-norm
 *     LayerNorm, or the Q/K/V projection of a post-norm block;
 *   - it ends at the MLP residual R2 when there is one: the first Add after
 *     R1 that adds r (R1's output, or the LayerNorm of it in a post-norm
 *     block) to a value computed from r without passing through another
 *     kiln.Attention (a kiln.TokenPrune or kiln.TokenMerge that is R1's
 *     only user belongs to the block, and r is then its output); else at
 *     R1. In a post-norm block (R1's only user
 *     is a LayerNormalization, and r is its output) the LayerNormalization
 *     that is the only user of R2 ends the block;
 *   - with no R1, the block is A alone.
 */
#ifndef KILN_BLOCKS_H
#define KILN_BLOCKS_H

#include "ir/ir.h"

typedef struct kiln_block {
    uint32_t attention;       /* the kiln.Attention node */
    uint32_t first, last;     /* the block's first and last node (node order) */
    int64_t batch, heads, head_dim, q_tokens, kv_tokens;   /* the attention's sizes */
    uint32_t x;               /* the residual input x (0: no R1) */
    uint32_t r1, r2;          /* the attention residual and the MLP residual Adds (0: none) */
    bool post_norm;           /* R1's only user is a LayerNormalization */
} kiln_block;

/* The blocks of g in node order: fills out[0 .. min(count, max)) and
 * returns the count. g must be in topological order (as every pass leaves
 * it). Indices are valid until the graph is edited. */
uint32_t kiln_blocks_find(const kiln_graph *g, kiln_block *out, uint32_t max);

#endif /* KILN_BLOCKS_H */
