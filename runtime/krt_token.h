/* krt_token.h — the token-reduction kernels (runtime/krt_token.c):
 * kiln.TokenMerge (ToMe bipartite soft matching) and kiln.TokenPrune (EViT
 * top-k by class attention). Semantics: ../shared/TOKEN-REDUCTION.md and
 * docs/token-reduction.md; the PyTorch reference is
 * samples/fmnist-vit/reduce_ref.py (merge() and prune()).
 *
 * Both are f32 only. A work unit is one batch element (image), so any
 * split over threads gives the same bytes. Scratch per thread is a few
 * per-token arrays (sized by *_scratch); nothing is allocated.
 *
 * Included by krt_linalg.h, whose family (inference, lowering, the C
 * backend's descriptor table) these kernels belong to.
 */
#ifndef KRT_TOKEN_H
#define KRT_TOKEN_H

#include "runtime/krt.h"

/* kiln.TokenMerge. ops: {x [B,N,D], k (any, read through k_layout),
 * sizes [B,N] or NULL (all ones), y [B,N-r,D], sizes_out [B,N-r] or NULL}.
 * Row (b, h, n) of k is head_dim contiguous floats at
 * k_layout[0] + b·k_layout[1] + h·k_layout[2] + n·k_layout[3].
 * 0 <= r <= (N-1)/2 (checked by inference). */
typedef struct krt_token_merge_desc {
    int64_t batch, tokens, dim;       /* B, N, D of x */
    int64_t heads, head_dim;          /* H, d of the keys */
    int64_t k_layout[4];              /* offset, batch, head, token strides (elements) */
    int64_t r;                        /* tokens merged */
} krt_token_merge_desc;

/* kiln.TokenPrune. ops: {x [B,N,D], p [B,H,Nq,N] (only query row 0 is
 * read), sizes [B,N] or NULL, y [B,1+keep+fused,D], sizes_out or NULL};
 * fused = fuse && keep < N-1. 1 <= keep <= N-1 (checked by inference). */
typedef struct krt_token_prune_desc {
    int64_t batch, tokens, dim;       /* B, N, D of x */
    int64_t heads, q_tokens;          /* H, Nq of p */
    int64_t keep;                     /* kept non-class tokens */
    int64_t fuse;                     /* 1: append the fused token when something is dropped */
} krt_token_prune_desc;

#endif /* KRT_TOKEN_H */
