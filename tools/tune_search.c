/* tune_search.c — the search space of `kiln tune` and the statistics its
 * successive halving decides with (tools/tune.h; the design is in
 * docs/token-reduction.md, "kiln tune").
 *
 * Candidates are option strings, validated by passes/token_plan.c exactly
 * as `kiln compile` would validate them: the search never decides a rule
 * itself, so it cannot propose what the compiler refuses. Two strings that
 * resolve to the same plan (a merge R above the cap in every block, say)
 * are one candidate: the plan's per-block counts are the identity.
 */
#include "tools/tune.h"
#include "passes/token_common.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the grid of each kind ---------------------------------------------- */

/* Tokens merged per block (uniform R); per-block schedules are built from
 * the same values. */
static const int merge_r[] = {4, 8, 12, 16, 24, 32, 48};
/* R of the front-loaded schedules (2R in the first half of the blocks) */
static const int merge_front[] = {8, 16, 24, 32};
/* Keep ratios for pruning, as written on the command line. */
static const char *const prune_keep[] = {"0.9", "0.7"};
static const char *const pool_kind[] = {"avg", "max"};

void tune_list_free(tune_list *l)
{
    for (uint32_t i = 0; i < l->n; i++)
        free(l->c[i].top1);
    free(l->c);
    memset(l, 0, sizeof *l);
}

static tune_cand *push(tune_list *l)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->c = kiln_xrealloc(l->c, l->cap * sizeof *l->c);
    }
    tune_cand *c = &l->c[l->n++];
    memset(c, 0, sizeof *c);
    c->dropped_at = -1;
    c->latency_ms = -1;
    return c;
}

void tune_cand_format(tune_cand *c)
{
    static const struct {
        const char *flag;
        size_t field;
    } order[] = {
        {"--token-pool", offsetof(tune_cand, pool)},
        {"--attention-share", offsetof(tune_cand, share)},
        {"--token-prune", offsetof(tune_cand, prune)},
        {"--token-merge", offsetof(tune_cand, merge)},
    };
    size_t at = 0;
    c->text[0] = 0;
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
        const char *v = (const char *)c + order[k].field;
        if (v[0])
            at += (size_t)snprintf(c->text + at, sizeof c->text - at, "%s%s %s", at ? " " : "",
                                   order[k].flag, v);
    }
}

static kiln_token_options options_of(const tune_cand *c)
{
    return (kiln_token_options){.merge = c->merge[0] ? c->merge : NULL,
                                .prune = c->prune[0] ? c->prune : NULL,
                                .pool = c->pool[0] ? c->pool : NULL,
                                .share = c->share[0] ? c->share : NULL};
}

/* The resolved plan of c, or false when token_plan refuses it. */
static bool resolve(const tune_space *s, const tune_cand *c, kiln_token_plan *plan)
{
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_token_options o = options_of(c);
    bool ok = kiln_token_plan_parse(ctx, &o, s->n_blocks, plan) == KILN_OK;
    if (ok && kiln_token_plan_resolve(ctx, plan, s->n_tokens0) != KILN_OK) {
        kiln_token_plan_free(plan);
        ok = false;
    }
    kiln_ctx_destroy(ctx);
    return ok;
}

bool tune_cand_valid(const tune_space *s, const tune_cand *c)
{
    kiln_token_plan plan;
    if (!resolve(s, c, &plan))
        return false;
    kiln_token_plan_free(&plan);
    return true;
}

/* What makes two plans the same transformation: per block, the source of
 * its map, the kept count and fusion, the merged count and the pooling. */
static void plan_key(const kiln_token_plan *p, char *key, size_t size)
{
    size_t at = 0;
    key[0] = 0;
    for (uint32_t l = 0; l < p->n_blocks && at < size; l++) {
        const kiln_token_block *b = &p->block[l];
        at += (size_t)snprintf(key + at, size - at, "%d/%lld%c/%lld/%d;", b->share_src,
                               (long long)(b->prune_den ? b->prune_kept : -1),
                               b->prune_fused ? 'f' : '-', (long long)b->merge_r, (int)b->pool);
    }
}

static bool same_plan_listed(const tune_space *s, const tune_list *l, const char *key)
{
    char other[1024];
    for (uint32_t i = 0; i < l->n; i++) {
        kiln_token_plan p;
        if (!resolve(s, &l->c[i], &p))
            continue;
        plan_key(&p, other, sizeof other);
        kiln_token_plan_free(&p);
        if (strcmp(other, key) == 0)
            return true;
    }
    return false;
}

/* Keep the candidate just pushed if valid and new; otherwise pop it. */
static bool settle(const tune_space *s, tune_list *l)
{
    tune_cand *c = &l->c[l->n - 1];
    kiln_token_plan plan;
    char key[1024];
    tune_cand_format(c);
    if (!resolve(s, c, &plan)) {
        l->n--;
        return false;
    }
    plan_key(&plan, key, sizeof key);
    kiln_token_plan_free(&plan);
    l->n--; /* compare with the others only */
    if (same_plan_listed(s, l, key))
        return false;
    l->n++;
    return true;
}

/* "0=a,1=b,..." for the blocks whose r[l] > 0 (empty when none). */
static void merge_schedule(const int *r, uint32_t n_blocks, char *out, size_t size)
{
    size_t at = 0;
    out[0] = 0;
    for (uint32_t l = 0; l < n_blocks && at < size; l++)
        if (r[l] > 0)
            at += (size_t)snprintf(out + at, size - at, "%s%u=%d", at ? "," : "", l, r[l]);
}

static void add_merges(const tune_space *s, tune_list *l)
{
    uint32_t nb = s->n_blocks < KILN_TOKEN_MAX_BLOCKS ? s->n_blocks : KILN_TOKEN_MAX_BLOCKS;
    uint32_t half = nb / 2;
    int r[KILN_TOKEN_MAX_BLOCKS];
    for (size_t k = 0; k < sizeof merge_r / sizeof merge_r[0]; k++) {
        tune_cand *c = push(l);
        c->kind = TUNE_MERGE;
        snprintf(c->merge, sizeof c->merge, "%d", merge_r[k]);
        settle(s, l);
    }
    if (nb < 2)
        return;
    /* per-block schedules: the same total merged in the first half of the
     * blocks only. Early merges save the most MACs (every later block sees
     * fewer tokens); merging late saves little (a search over this model
     * saw 2R in the second half save 1 to 7 % of the MACs), so that side is
     * left out to keep the space small */
    for (size_t k = 0; k < sizeof merge_front / sizeof merge_front[0]; k++) {
        for (uint32_t b = 0; b < nb; b++)
            r[b] = b < half ? 2 * merge_front[k] : 0;
        tune_cand *c = push(l);
        c->kind = TUNE_MERGE;
        merge_schedule(r, nb, c->merge, sizeof c->merge);
        settle(s, l);
    }
}

static void add_prunes(const tune_space *s, tune_list *l)
{
    for (uint32_t b = 0; b < s->n_blocks; b++)
        for (size_t k = 0; k < sizeof prune_keep / sizeof prune_keep[0]; k++) {
            tune_cand *c = push(l);
            c->kind = TUNE_PRUNE;
            snprintf(c->prune, sizeof c->prune, "%u=%s", b, prune_keep[k]);
            settle(s, l);
        }
}

static void add_pools(const tune_space *s, tune_list *l)
{
    for (uint32_t b = 0; b + 1 < s->n_blocks; b++)
        for (size_t k = 0; k < sizeof pool_kind / sizeof pool_kind[0]; k++) {
            tune_cand *c = push(l);
            c->kind = TUNE_POOL;
            snprintf(c->pool, sizeof c->pool, "%u=%s", b, pool_kind[k]);
            settle(s, l);
        }
}

static void add_shares(const tune_space *s, tune_list *l)
{
    for (uint32_t b = 0; b + 1 < s->n_blocks; b++) {
        tune_cand *c = push(l);
        c->kind = TUNE_SHARE;
        snprintf(c->share, sizeof c->share, "%u:%u", b, b + 1);
        settle(s, l);
    }
}

void tune_space_singles(const tune_space *s, tune_list *out)
{
    if (out->n == 0)
        push(out); /* the exact model: no option */
    if (s->kinds & TUNE_MERGE)
        add_merges(s, out);
    if (s->kinds & TUNE_PRUNE)
        add_prunes(s, out);
    if (s->kinds & TUNE_POOL)
        add_pools(s, out);
    if (s->kinds & TUNE_SHARE)
        add_shares(s, out);
}

/* The single-kind seeds that a combination starts from. */
static bool single_seed(const tune_cand *c, int kind)
{
    return c->seed && c->dropped_at < 0 && c->kind == kind;
}

uint32_t tune_space_combine(const tune_space *s, tune_list *l)
{
    uint32_t n0 = l->n, added = 0;
    for (uint32_t i = 1; i < n0; i++) {
        if (!(l->c[i].kind & (TUNE_PRUNE | TUNE_POOL | TUNE_SHARE)) || !single_seed(&l->c[i], l->c[i].kind))
            continue;
        for (uint32_t j = 1; j < n0; j++) {
            /* a uniform merge R that survived: no '=' in its value */
            if (!single_seed(&l->c[j], TUNE_MERGE) || strchr(l->c[j].merge, '='))
                continue;
            kiln_token_plan base;
            if (!resolve(s, &l->c[i], &base))
                continue;
            int r[KILN_TOKEN_MAX_BLOCKS] = {0};
            int R = atoi(l->c[j].merge);
            uint32_t nb = s->n_blocks < KILN_TOKEN_MAX_BLOCKS ? s->n_blocks : KILN_TOKEN_MAX_BLOCKS;
            /* the rules, so that the plan is not refused: merging follows a
             * pooling, never where a block prunes, and not in SRC..DST of a
             * sharing (the tokens must stay, and DST has no keys) */
            bool after_pool = l->c[i].kind != TUNE_POOL;
            for (uint32_t b = 0; b < nb; b++) {
                const kiln_token_block *bb = &base.block[b];
                r[b] = after_pool && !bb->prune_den ? R : 0;
                if (bb->pool != KILN_TOKEN_POOL_NONE)
                    after_pool = true;
            }
            for (uint32_t d = 0; d < nb; d++)
                for (int32_t b = base.block[d].share_direct; b >= 0 && b <= (int32_t)d; b++)
                    r[b] = 0;
            kiln_token_plan_free(&base);
            tune_cand *c = push(l), *src = &l->c[i]; /* after push: it may move the list */
            memcpy(c->prune, src->prune, sizeof c->prune);
            memcpy(c->pool, src->pool, sizeof c->pool);
            memcpy(c->share, src->share, sizeof c->share);
            c->kind = src->kind | TUNE_MERGE | TUNE_COMBINE;
            merge_schedule(r, nb, c->merge, sizeof c->merge);
            if (!c->merge[0]) {
                l->n--;
                continue;
            }
            added += settle(s, l);
        }
    }
    return added;
}

/* ---- statistics ------------------------------------------------------------ */

void tune_drop(const tune_cand *exact, const tune_cand *c, uint32_t n, const int16_t *labels,
               double *drop, double *se)
{
    /* paired: b images the exact model gets right and c wrong, w the reverse */
    double b = 0, w = 0;
    for (uint32_t i = 0; i < n; i++) {
        bool e = exact->top1[i] == labels[i], k = c->top1[i] == labels[i];
        b += e && !k;
        w += !e && k;
    }
    *drop = n ? 100.0 * (b - w) / n : 0;
    /* the variance of the mean of the per-image differences (+1, -1, 0) */
    double var = n > 1 ? ((b + w) - (b - w) * (b - w) / n) / ((double)n * (n - 1)) : 0;
    *se = 100.0 * sqrt(var > 0 ? var : 0);
}

void tune_pareto(const tune_list *l, const uint32_t *idx, const double *cost, uint32_t n, bool *front)
{
    for (uint32_t i = 0; i < n; i++) {
        const tune_cand *a = &l->c[idx[i]];
        double acc_a = a->n_done ? (double)a->correct / a->n_done : 0;
        front[i] = true;
        for (uint32_t j = 0; j < n && front[i]; j++) {
            const tune_cand *b = &l->c[idx[j]];
            double acc_b = b->n_done ? (double)b->correct / b->n_done : 0;
            bool no_worse = acc_b >= acc_a && cost[j] <= cost[i];
            bool better = acc_b > acc_a || cost[j] < cost[i];
            /* equal on both: the earlier one stands for both */
            if (j != i && no_worse && (better || j < i))
                front[i] = false;
        }
    }
}
