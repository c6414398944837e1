/* token_plan.h — the token-reduction options (TOKEN-REDUCTION.md) turned
 * into a per-block plan with static token counts, before any graph edit.
 *
 * The command line hands the four options over as the strings the user
 * wrote (kiln_token_options); kiln_token_plan_parse checks their syntax and
 * kiln_token_plan_resolve checks the combination rules against the model's
 * block count and the tokens entering block 0, and computes every block's
 * token counts. The passes token-prune, token-pool, token-merge and
 * attention-share then only edit the graph as the plan says, so every
 * refusal is decided here, once, with one message naming the block and the
 * rule (the same messages as samples/fmnist-vit/reduce_ref.py).
 */
#ifndef KILN_TOKEN_PLAN_H
#define KILN_TOKEN_PLAN_H

#include "ir/ir.h"

#include <stdbool.h>
#include <stdint.h>

/* The options as given on the command line; NULL: not given. */
typedef struct kiln_token_options {
    const char *prune;        /* --token-prune L=KEEP[,L=KEEP...][,fuse] */
    const char *pool;         /* --token-pool L=avg|max[,L=...] */
    const char *merge;        /* --token-merge R | L=R[,L=R...] */
    const char *share;        /* --attention-share SRC:DST[,SRC:DST...] */
    bool no_proportional;     /* --no-proportional-attention */
} kiln_token_options;

/* True when any token-reduction option is given. */
bool kiln_token_options_any(const kiln_token_options *o);

typedef enum kiln_token_pool_kind {
    KILN_TOKEN_POOL_NONE,
    KILN_TOKEN_POOL_AVG,
    KILN_TOKEN_POOL_MAX,
} kiln_token_pool_kind;

/* One block's part of the plan. */
typedef struct kiln_token_block {
    int32_t share_src;        /* -1: the block computes its own map; else the block
                                 whose map it reuses, resolved through chains */
    int64_t prune_num, prune_den; /* KEEP as the exact decimal written (num/den); den 0: no pruning */
    int64_t prune_kept;       /* kept non-class tokens, ceil(KEEP*(N-1)) clamped to [1, N-1] */
    bool prune_fused;         /* one fused token appended (fuse given and something dropped) */
    int64_t merge_r;          /* tokens merged here, min(R, (N-1)//2); 0: none */
    kiln_token_pool_kind pool;/* pooling after this block's MLP residual */
    int64_t grid;             /* with pooling: the G of the G x G grid pooled */
    int64_t n_attn;           /* tokens entering the block's attention */
    int64_t n_mlp;            /* tokens entering the MLP (after pruning / merging) */
    int64_t n_out;            /* tokens leaving the block (after pooling) */
    int32_t share_direct;     /* -1, or the SRC written for this DST (before chains are
                                 resolved): the sharing rules are checked pair by pair */
    int64_t merge_req;        /* R as written (0: no merging); merge_r is it clamped */
} kiln_token_block;

typedef struct kiln_token_plan {
    uint32_t n_blocks;
    kiln_token_block *block;  /* [n_blocks], owned by the plan */
    bool fuse;                /* --token-prune ...,fuse */
    bool track_sizes;         /* some block merges: sizes are carried, from 1 at the input */
    bool proportional;        /* add log(size) to the logits (only when track_sizes) */
} kiln_token_plan;

/* Syntax only (no model needed): KILN_ERR_INVALID with the message of
 * reduce_ref.py's parse_options for a bad option; n_blocks is the model's
 * block count (block numbers are checked against it). On success *out
 * holds the requested per-block settings (counts not yet computed). */
kiln_status kiln_token_plan_parse(kiln_ctx *ctx, const kiln_token_options *opts, uint32_t n_blocks,
                                  kiln_token_plan *out /* OUT */);

/* The combination rules and the static counts, given the tokens entering
 * block 0 (class token included); KILN_ERR_INVALID naming the block and
 * the rule, as reduce_ref.py's validate. */
kiln_status kiln_token_plan_resolve(kiln_ctx *ctx, kiln_token_plan *plan, int64_t n_tokens0);

void kiln_token_plan_free(kiln_token_plan *plan);

#endif /* KILN_TOKEN_PLAN_H */
