/* tune.h — `kiln tune`: what the command (tools/cmd_tune.c) and the search
 * (tools/tune_search.c) share.
 *
 * A candidate is one token-reduction configuration: the four option values
 * of TOKEN-REDUCTION.md as `kiln compile` takes them. The search
 * (docs/token-reduction.md, "kiln tune") generates candidates from a space
 * of kinds, drops those passes/token_plan.c refuses, and runs successive
 * halving over the image set: every live candidate is evaluated on a
 * growing prefix of a fixed shuffle of the images, and after each rung
 * the ones whose accuracy drop is confidently over the budget go, and at
 * most half of the rest (by Pareto rank on estimated accuracy and MACs)
 * go on. Evaluation itself (compiling, running) is the command's: the
 * search sees only the top-1 class per image.
 */
#ifndef KILN_TOOLS_TUNE_H
#define KILN_TOOLS_TUNE_H

#include "passes/token_plan.h"

#include <stdbool.h>
#include <stdint.h>

/* The kinds of the search space (--space), a bit each. */
enum {
    TUNE_MERGE = 1 << 0,  /* --token-merge: uniform R, and per-block schedules */
    TUNE_PRUNE = 1 << 1,  /* --token-prune L=KEEP */
    TUNE_POOL = 1 << 2,   /* --token-pool L=avg|max */
    TUNE_SHARE = 1 << 3,  /* --attention-share SRC:DST */
    TUNE_COMBINE = 1 << 4,/* combinations of the singles that survive the first rung */
    TUNE_ALL = 31,
};

typedef struct tune_cand {
    char merge[160], prune[96], pool[64], share[64]; /* option values; "" = not given */
    char text[512];        /* the option string `kiln compile` takes ("" = exact) */
    int kind;              /* TUNE_* bits of the options it gives */
    double macs;           /* per image, from the transformed graph (census) */
    int64_t tokens[16];    /* tokens entering each block's attention (n_blocks of them) */
    /* evaluation state */
    int16_t *top1;         /* [n_images] in shuffled order; only [0, n_done) valid */
    uint32_t n_done;
    uint32_t correct, agree;   /* over [0, n_done): right on the label; same top-1 as exact */
    int dropped_at;        /* -1: alive; else the rung it was dropped after */
    const char *why;       /* why it was dropped (static text) */
    double latency_ms;     /* median batch-1 time; < 0: not measured */
    double best_ms;        /* the fastest of those runs */
    double compile_s;
    bool seed;             /* a combination may start from it (set by the command) */
    void *exec;            /* the command's compiled model (NULL until compiled) */
} tune_cand;

typedef struct tune_space {
    int kinds;             /* TUNE_* */
    uint32_t n_blocks;
    int64_t n_tokens0;     /* tokens entering block 0, class token included */
} tune_space;

typedef struct tune_list {
    tune_cand *c;
    uint32_t n, cap;
} tune_list;

/* Append the single-kind candidates of the space (TUNE_MERGE, _PRUNE,
 * _POOL, _SHARE bits) that token_plan accepts, without duplicates (two
 * option strings with the same resolved plan count once). Candidate 0 of
 * an empty list is the exact model. */
void tune_space_singles(const tune_space *s, tune_list *out);

/* Append combinations of seeds (c->seed, set by the caller) of different
 * kinds: each seed pruning, pooling or sharing with each seed uniform
 * merge R, the merge applied in every block where the rules allow it
 * (after a pooling, not where it prunes or shares into). Only plans
 * token_plan accepts, no duplicates of what the list holds. Returns how
 * many were added. */
uint32_t tune_space_combine(const tune_space *s, tune_list *list);

/* true when token_plan accepts the candidate's options for the space's
 * model (syntax, rules, counts). */
bool tune_cand_valid(const tune_space *s, const tune_cand *c);

/* Fill c->text from its option values. */
void tune_cand_format(tune_cand *c);

void tune_list_free(tune_list *l);

/* ---- statistics over the evaluated prefix ------------------------------ */

/* Accuracy drop against the exact model in points (100 × (exact − cand)
 * over the first n images, both evaluated there), and the standard error
 * of that paired difference. labels are in the same (shuffled) order as
 * the candidates' top1. */
void tune_drop(const tune_cand *exact, const tune_cand *c, uint32_t n, const int16_t *labels,
               double *drop, double *se);

/* The Pareto front of the candidates idx[0..n) on (accuracy over their
 * n_done images, higher better; cost, lower better): front[i] is set for
 * the non-dominated ones. cost[i] is candidate idx[i]'s cost. */
void tune_pareto(const tune_list *l, const uint32_t *idx, const double *cost, uint32_t n,
                 bool *front);

#endif /* KILN_TOOLS_TUNE_H */
