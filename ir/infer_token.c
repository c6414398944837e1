/* infer_token.c — node readers and shape inference of kiln.TokenMerge and
 * kiln.TokenPrune (docs/token-reduction.md), members of the linalg family
 * (their rows are in ir/infer_linalg.c's and ir/lower_linalg.c's tables;
 * the readers are declared in ir/infer_linalg.h and shared by both).
 *
 *   %y, %sizes_out = kiln.TokenMerge(%x, %k, %sizes?) {r, heads, head_dim, k_layout}
 *   %y, %sizes_out = kiln.TokenPrune(%x, %p, %sizes?) {keep, fuse}
 *
 * x is f32 [B, N, D]; sizes f32 [B, N]. The token count N must be known
 * (the outputs' counts follow from it and the attribute); B and D may be
 * symbolic and pass through. Every error names the node.
 */
#include "ir/infer_linalg.h"

#include <string.h>

#define ATTR_MAX ((int64_t)1 << 31)

static bool known(kiln_dim d) { return !KILN_DIM_IS_SYM(d); }

/* An int attribute in [lo, hi]; required ones must be present. */
static kiln_status attr_int(kiln_infer *c, const char *name, bool required, int64_t dflt, int64_t lo,
                            int64_t hi, int64_t *out)
{
    const kiln_attr *a = kiln_attr_find(c->g, c->n, name);
    if (!a && required)
        return kiln_infer_fail(c, "attribute '%s' is required", name);
    if (a && a->kind != KILN_ATTR_INT)
        return kiln_infer_fail(c, "attribute '%s' must be an int", name);
    *out = a ? a->u.i : dflt;
    if (*out < lo || *out > hi)
        return kiln_infer_fail(c, "attribute '%s' is %lld, need %lld to %lld", name, (long long)*out,
                               (long long)lo, (long long)hi);
    return KILN_OK;
}

/* Input i, present, f32, of the given rank. */
static kiln_status need_f32(kiln_infer *c, uint32_t i, const char *what, int rank, kiln_value **v)
{
    kiln_status st = kiln_infer_need(c, i, v);
    if (st)
        return st;
    if ((*v)->dtype != KILN_DT_F32)
        return kiln_infer_fail(c, "input %u (%s, '%s') has dtype %s, need f32", i, what, (*v)->name,
                               kiln_dtype_name((*v)->dtype));
    if (rank >= 0 && (*v)->shape.rank != rank)
        return kiln_infer_fail(c, "input %u (%s, '%s') has rank %d, need %d", i, what, (*v)->name,
                               (*v)->shape.rank, rank);
    return KILN_OK;
}

/* x [B, N, D] with N known, and sizes [B, N] (f32) when given. */
static kiln_status read_tokens(kiln_infer *c, kiln_value **x)
{
    kiln_status st = need_f32(c, 0, "x", 3, x);
    if (st)
        return st;
    const kiln_dim *xd = (*x)->shape.dim;
    if (!known(xd[1]))
        return kiln_infer_fail(c, "input 0 (x, '%s') has a symbolic token count; the token count must "
                               "be static", (*x)->name);
    if (xd[1] < 1)
        return kiln_infer_fail(c, "input 0 (x, '%s') has no tokens", (*x)->name);
    kiln_value *s = kiln_infer_in(c, 2);
    if (!s)
        return KILN_OK;
    if ((st = need_f32(c, 2, "sizes", 2, &s)))
        return st;
    const kiln_dim *sd = s->shape.dim;
    if ((known(sd[0]) && known(xd[0]) && sd[0] != xd[0]) || (known(sd[1]) && sd[1] != xd[1])) {
        char a[128], b[128];
        return kiln_infer_fail(c, "input 2 (sizes, '%s') has shape %s, need [B, N] of x's %s", s->name,
                               kiln_shape_format(c->g, &s->shape, a, sizeof a),
                               kiln_shape_format(c->g, &(*x)->shape, b, sizeof b));
    }
    return KILN_OK;
}

static void token_shapes(const kiln_value *x, int64_t n_out, kiln_shape *y, kiln_shape *sizes)
{
    *y = (kiln_shape){.rank = 3, .dim = {x->shape.dim[0], n_out, x->shape.dim[2]}};
    *sizes = (kiln_shape){.rank = 2, .dim = {x->shape.dim[0], n_out}};
}

kiln_status kiln_linalg_token_merge(kiln_infer *c, krt_token_merge_desc *d, kiln_shape *y,
                                    kiln_shape *sizes)
{
    memset(d, 0, sizeof *d);
    kiln_value *x, *k;
    kiln_status st = read_tokens(c, &x);
    if (!st) st = need_f32(c, 1, "k", -1, &k);
    if (!st) st = attr_int(c, "heads", true, 0, 1, ATTR_MAX, &d->heads);
    if (!st) st = attr_int(c, "head_dim", true, 0, 1, ATTR_MAX, &d->head_dim);
    if (st)
        return st;
    const kiln_attr *kl = kiln_attr_find(c->g, c->n, "k_layout");
    if (!kl)
        return kiln_infer_fail(c, "attribute 'k_layout' is required");
    if (kl->kind != KILN_ATTR_INTS || kl->n != 4)
        return kiln_infer_fail(c, "attribute 'k_layout' must be 4 ints [offset, batch_stride, "
                               "head_stride, token_stride]");
    for (int i = 0; i < 4; i++) {
        if (kl->u.ints[i] < 0 || kl->u.ints[i] > ATTR_MAX)
            return kiln_infer_fail(c, "attribute 'k_layout' has %lld at position %d, need 0 to 2^31",
                                   (long long)kl->u.ints[i], i);
        d->k_layout[i] = kl->u.ints[i];
    }
    const kiln_dim *xd = x->shape.dim;
    d->tokens = xd[1];
    d->batch = known(xd[0]) ? xd[0] : 1;  /* placeholders with symbols; lowering sees static shapes */
    d->dim = known(xd[2]) ? xd[2] : 1;
    int64_t cap = (d->tokens - 1) / 2;
    if ((st = attr_int(c, "r", true, 0, INT64_MIN, INT64_MAX, &d->r)))
        return st;
    if (d->r < 0 || d->r > cap)
        return kiln_infer_fail(c, "attribute 'r' is %lld, but %lld tokens allow merging 0 to (N-1)//2 "
                               "= %lld", (long long)d->r, (long long)d->tokens, (long long)cap);
    /* every key row (b, h, n) the layout addresses lies inside k */
    int64_t numel;
    if (known(xd[0]) && kiln_shape_numel(&k->shape, &numel)) {
        uint64_t end = (uint64_t)d->k_layout[0] + (uint64_t)(d->batch - 1) * (uint64_t)d->k_layout[1] +
                       (uint64_t)(d->heads - 1) * (uint64_t)d->k_layout[2] +
                       (uint64_t)(d->tokens - 1) * (uint64_t)d->k_layout[3] + (uint64_t)d->head_dim;
        if (end > (uint64_t)numel) {
            char s[128];
            return kiln_infer_fail(c, "attribute 'k_layout' = [%lld, %lld, %lld, %lld] addresses elements "
                                   "up to %llu, but input 1 (k, '%s') has shape %s (%lld elements)",
                                   (long long)d->k_layout[0], (long long)d->k_layout[1],
                                   (long long)d->k_layout[2], (long long)d->k_layout[3],
                                   (unsigned long long)end - 1, k->name,
                                   kiln_shape_format(c->g, &k->shape, s, sizeof s), (long long)numel);
        }
    }
    token_shapes(x, d->tokens - d->r, y, sizes);
    return KILN_OK;
}

kiln_status kiln_linalg_token_prune(kiln_infer *c, krt_token_prune_desc *d, kiln_shape *y,
                                    kiln_shape *sizes)
{
    memset(d, 0, sizeof *d);
    kiln_value *x, *p;
    kiln_status st = read_tokens(c, &x);
    if (!st) st = need_f32(c, 1, "p", 4, &p);
    if (st)
        return st;
    const kiln_dim *xd = x->shape.dim, *pd = p->shape.dim;
    d->tokens = xd[1];
    d->batch = known(xd[0]) ? xd[0] : 1;
    d->dim = known(xd[2]) ? xd[2] : 1;
    d->heads = known(pd[1]) ? pd[1] : 1;
    d->q_tokens = known(pd[2]) ? pd[2] : 1;
    if ((known(pd[0]) && known(xd[0]) && pd[0] != xd[0]) || (known(pd[3]) && pd[3] != xd[1]) ||
        (known(pd[1]) && pd[1] < 1) || (known(pd[2]) && pd[2] < 1)) {
        char a[128], b[128];
        return kiln_infer_fail(c, "input 1 (p, '%s') has shape %s, need [B, H, Nq, N] with x's B and N "
                               "(x is %s)", p->name, kiln_shape_format(c->g, &p->shape, a, sizeof a),
                               kiln_shape_format(c->g, &x->shape, b, sizeof b));
    }
    if (d->tokens < 2)
        return kiln_infer_fail(c, "input 0 (x, '%s') has %lld token: pruning needs a class token and at "
                               "least one other", x->name, (long long)d->tokens);
    if ((st = attr_int(c, "keep", true, 0, INT64_MIN, INT64_MAX, &d->keep)))
        return st;
    if (d->keep < 1 || d->keep > d->tokens - 1)
        return kiln_infer_fail(c, "attribute 'keep' is %lld, but %lld tokens allow keeping 1 to N-1 = "
                               "%lld", (long long)d->keep, (long long)d->tokens,
                               (long long)(d->tokens - 1));
    if ((st = attr_int(c, "fuse", false, 0, 0, 1, &d->fuse)))
        return st;
    bool fused = d->fuse && d->keep < d->tokens - 1;
    token_shapes(x, 1 + d->keep + (fused ? 1 : 0), y, sizes);
    return KILN_OK;
}

kiln_status kiln_infer_token_merge(kiln_infer *c)
{
    krt_token_merge_desc d;
    kiln_shape y, s;
    kiln_status st = kiln_linalg_token_merge(c, &d, &y, &s);
    if (!st) {
        kiln_infer_set(c, 0, KILN_DT_F32, &y);
        kiln_infer_set(c, 1, KILN_DT_F32, &s);
    }
    return st;
}

kiln_status kiln_infer_token_prune(kiln_infer *c)
{
    krt_token_prune_desc d;
    kiln_shape y, s;
    kiln_status st = kiln_linalg_token_prune(c, &d, &y, &s);
    if (!st) {
        kiln_infer_set(c, 0, KILN_DT_F32, &y);
        kiln_infer_set(c, 1, KILN_DT_F32, &s);
    }
    return st;
}
