/* token_common.h — what the four token-reduction passes (attention-share,
 * token-pool, token-prune, token-merge; TOKEN-REDUCTION.md) share.
 *
 * Each pass starts with kiln_token_begin: it turns the options into the
 * plan (passes/token_plan.h), finds the transformer blocks and checks that
 * the model has the shape the spec defines (a class token, pre-norm
 * blocks with both residual adds, as many keys as queries); every refusal
 * names the block and the rule. It also snapshots every value's shape.
 * The pass then edits (new nodes appended, named "<pass>.b<L>..." so the
 * text dump shows who made them) and ends with kiln_token_finish, which
 * puts the nodes in order and re-lays-out everything downstream of a
 * changed token count (kiln_token_relayout).
 *
 * Token counts and sizes: the sizes chain (a [B, N] f32 value, the number
 * of original tokens each token stands for) exists only when some block
 * merges. The value leaving block L is named "<pass>.b<L>.sizes" (at most
 * one pass produces sizes per block), so a later pass finds it by name;
 * none means every size is 1. The sizes after a pooling are constants
 * (pooling precedes every pruning and merging), made on demand.
 */
#ifndef KILN_TOKEN_COMMON_H
#define KILN_TOKEN_COMMON_H

#include "passes/blocks.h"
#include "passes/pass.h"
#include "passes/token_plan.h"

/* One block as the token passes see it. */
typedef struct kiln_token_site {
    kiln_block b;             /* attention, first, last, sizes (passes/blocks.h) */
    uint32_t x;               /* the residual stream entering the block, [B, N, D] */
    uint32_t r1, r2;          /* the attention residual Add and the MLP residual Add */
    int64_t batch, tokens, dim;
} kiln_token_site;

typedef struct kiln_token_ctx {
    kiln_token_plan plan;
    uint32_t n_blocks;
    kiln_token_site *site;    /* [n_blocks] */
    kiln_shape *old_shape;    /* every value's shape when the pass began */
    uint32_t n_old;
    const char *pass;         /* the running pass: prefixes node names */
} kiln_token_ctx;

/* Nothing to do (*active = false, KILN_OK) without token options;
 * otherwise the plan, the blocks and the checks. The caller calls
 * kiln_token_end in any case. */
kiln_status kiln_token_begin(kiln_pass_ctx *pc, kiln_graph *g, kiln_token_ctx *t, bool *active);
/* Toposort, then kiln_token_relayout against the snapshot. */
kiln_status kiln_token_finish(kiln_pass_ctx *pc, kiln_graph *g, kiln_token_ctx *t);
void kiln_token_end(kiln_token_ctx *t);

/* Re-infer every node in order after token counts changed. Before a node
 * is inferred, the attributes that encode a token count are rewritten for
 * its inputs' new shapes: kiln.Attention (q_tokens, kv_tokens, the batch
 * and any other stride of q/k/v_layout over the token axis, y_shape,
 * y_layout), kiln.TokenMerge (k_layout), and a Reshape whose constant
 * shape names the old count. old_shape[v] is v's shape before the edits
 * (rank -1: a value the edits created). KILN_ERR_UNSUPPORTED naming the
 * node when a count cannot be followed (a constant attention bias over the
 * old count, a reshape that does not name it). */
kiln_status kiln_token_relayout(kiln_ctx *ctx, kiln_graph *g, const kiln_shape *old_shape, uint32_t n_old);

/* "<pass>.b<block>.<what>", interned in g. */
const char *kiln_token_name(kiln_graph *g, const char *pass, uint32_t block, const char *what);
/* A new anonymous-typed value named like kiln_token_name. */
uint32_t kiln_token_value(kiln_graph *g, const char *pass, uint32_t block, const char *what);
/* An i64 constant [n] named "<pass>.b<block>.<what>". */
uint32_t kiln_token_ints(kiln_graph *g, const char *pass, uint32_t block, const char *what,
                         const int64_t *v, uint32_t n);

/* Every use of `from` except by node `except` reads `to`. */
void kiln_token_replace_uses(kiln_graph *g, uint32_t from, uint32_t to, uint32_t except);

/* The sizes entering block `block`'s attention: the last
 * "token-merge.b<L>.sizes" or "token-prune.b<L>.sizes" with L < block, or
 * the constant window sums of a pooling after block L
 * ("token-pool.b<L>.sizes", made when first asked for); 0 when every size
 * is 1 or sizes are not tracked (no block merges). */
uint32_t kiln_token_sizes_before(kiln_graph *g, const kiln_token_ctx *t, uint32_t block);

/* The probabilities of kiln.Attention node *node: its P output, which is
 * added when missing (the node is replaced by one with two outputs; *node
 * becomes the new one). With p_in, the shared map itself. */
uint32_t kiln_token_probs(kiln_graph *g, uint32_t *node);

/* ---- MAC accounting (TOKEN-REDUCTION.md, "MAC accounting") ------------- */

#define KILN_TOKEN_MAX_BLOCKS 64

/* What the compile summary and `kiln info` report about a graph. */
typedef struct kiln_token_census {
    double macs;              /* MatMul, Gemm, Conv, kiln.Attention (q kᵀ unless shared, A v),
                                 kiln.TokenMerge's metric product, kiln.TokenPrune's fused
                                 token; per image (divided by the blocks' batch) */
    uint32_t n_blocks;
    int64_t tokens[KILN_TOKEN_MAX_BLOCKS]; /* tokens entering each block's attention */
} kiln_token_census;

void kiln_token_census_take(const kiln_graph *g, kiln_token_census *out);

#endif /* KILN_TOKEN_COMMON_H */
