/* test_token_plan.c — the token-reduction option plan (passes/token_plan.h)
 * against samples/fmnist-vit/reduce_ref.py, the PyTorch reference.
 *
 * Refusals: every rule of the reference's parse_options and validate, with
 * the message text the reference prints for the same options (the table
 * below was taken from reduce_ref.make_plan on a 4-block, 197-token model;
 * the pooling case uses 16 tokens). Counts: every configuration of the
 * reference's manifest (reduce_ref/manifest.tsv, read at run time) gives the
 * tokens entering each block's attention listed there; plus the exact
 * decimal ceiling, clamping, fusion and attention-share chains.
 */
#include "cunit_main.h"
#include "passes/token_plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static kiln_ctx *ctx;

static int setup(void)
{
    ctx = kiln_ctx_create();
    return ctx ? 0 : 1;
}

static int cleanup(void)
{
    kiln_ctx_destroy(ctx);
    ctx = NULL;
    return 0;
}

/* Parses and resolves; returns the status, the plan in *plan on success. */
static kiln_status make_plan(const kiln_token_options *o, uint32_t depth, int64_t n0,
                             kiln_token_plan *plan)
{
    kiln_ctx_clear(ctx);
    kiln_status st = kiln_token_plan_parse(ctx, o, depth, plan);
    if (st)
        return st;
    st = kiln_token_plan_resolve(ctx, plan, n0);
    if (st)
        kiln_token_plan_free(plan);
    return st;
}

/* ---- refusals ------------------------------------------------------------------- */

static const struct refusal {
    const char *prune, *pool, *merge, *share;
    int64_t n0;
    const char *message;
} refusals[] = {
    {"1=0.7", "2=avg", NULL, NULL, 197,
     "--token-pool 2=avg: pooling after pruning or merging is refused (the grid is gone)"},
    {NULL, "1=avg", "1=4", NULL, 197,
     "--token-pool 1=avg: pooling after pruning or merging is refused (the grid is gone)"},
    {"1=0.7", NULL, "1=8", NULL, 197,
     "block 1: pruning and merging in the same block is refused"},
    {NULL, NULL, "8", "1:2", 197,
     "block 2: --token-merge and --attention-share into the same block (a block that reuses block 1's map has no keys to merge with)"},
    {"2=0.5", NULL, NULL, "1:3", 197,
     "--attention-share 1:3: pruning in block 2 (blocks 1..2 must keep every token)"},
    {NULL, "1=max", NULL, "1:2", 197,
     "--attention-share 1:2: pooling in block 1 (blocks 1..1 must keep every token)"},
    {"2=0.5", NULL, NULL, "1:2,2:3", 197,
     "--attention-share 2:3: pruning in block 2 (blocks 2..2 must keep every token)"},
    {NULL, NULL, "0=3", "0:1", 197,
     "--attention-share 0:1: merging in block 0 (blocks 0..0 must keep every token)"},
    {NULL, "3=avg", NULL, NULL, 197,
     "--token-pool 3=avg: pooling after the last block is refused, it cannot change the output"},
    {"4=0.5", NULL, NULL, NULL, 197,
     "--token-prune: block 4 does not exist (the model has blocks 0..3)"},
    {"1=0", NULL, NULL, NULL, 197,
     "--token-prune: keep ratio 0 of block 1 is outside (0, 1]"},
    {"2=1.5", NULL, NULL, NULL, 197,
     "--token-prune: keep ratio 1.5 of block 2 is outside (0, 1]"},
    {"2=-0.5", NULL, NULL, NULL, 197,
     "--token-prune: keep ratio -0.5 of block 2 is outside (0, 1]"},
    {"1=abc", NULL, NULL, NULL, 197,
     "--token-prune: keep ratio 'abc' of block 1 is not a number"},
    {"1=1/0", NULL, NULL, NULL, 197,
     "--token-prune: keep ratio '1/0' of block 1 is not a number"},
    {"x=0.5", NULL, NULL, NULL, 197,
     "--token-prune: 'x' is not a block number (blocks are 0..3)"},
    {"0.5", NULL, NULL, NULL, 197,
     "--token-prune: '0.5' is not L=KEEP or fuse"},
    {"1=0.5,1=0.6", NULL, NULL, NULL, 197,
     "--token-prune: block 1 listed twice"},
    {"fuse", NULL, NULL, NULL, 197,
     "--token-prune: fuse given without any L=KEEP"},
    {NULL, "1=min", NULL, NULL, 197,
     "--token-pool: pooling kind 'min' after block 1 is not avg or max"},
    {NULL, "1", NULL, NULL, 197,
     "--token-pool: pooling kind '' after block 1 is not avg or max"},
    {NULL, "1=avg,1=max", NULL, NULL, 197,
     "--token-pool: block 1 listed twice"},
    {NULL, "avg", NULL, NULL, 197,
     "--token-pool: 'avg' is not a block number (blocks are 0..3)"},
    {NULL, NULL, NULL, "2:1", 197,
     "--attention-share: 2:1: the source must be an earlier block than the destination"},
    {NULL, NULL, NULL, "2:2", 197,
     "--attention-share: 2:2: the source must be an earlier block than the destination"},
    {NULL, NULL, NULL, "0:2,1:2", 197,
     "--attention-share: block 2 is given two sources (0 and 1)"},
    {NULL, NULL, NULL, "1-2", 197,
     "--attention-share: '1-2' is not SRC:DST"},
    {NULL, NULL, NULL, "1:9", 197,
     "--attention-share: block 9 does not exist (the model has blocks 0..3)"},
    {NULL, NULL, "-3", NULL, 197,
     "--token-merge: token count -3 is negative"},
    {NULL, NULL, "x", NULL, 197,
     "--token-merge: 'x' is not a token count"},
    {NULL, NULL, "1=x", NULL, 197,
     "--token-merge: 'x' is not a token count"},
    {NULL, NULL, "1=-2", NULL, 197,
     "--token-merge: token count -2 is negative"},
    {NULL, NULL, "1=2,1=3", NULL, 197,
     "--token-merge: block 1 listed twice"},
    {NULL, NULL, "7=2", NULL, 197,
     "--token-merge: block 7 does not exist (the model has blocks 0..3)"},
    {NULL, NULL, "-1=2", NULL, 197,
     "--token-merge: block -1 does not exist (the model has blocks 0..3)"},
    {NULL, "0=avg", NULL, NULL, 16,
     "--token-pool 0=avg: block 0 ends with 15 patch tokens, not a square grid"},
    /* beyond the reference's own list: texts as its code formats them */
    {"1=1e-40", NULL, NULL, NULL, 197,
     "--token-prune: keep ratio '1e-40' of block 1 has too many digits (at most 18)"},
    {"1=0.5,", NULL, NULL, NULL, 197, "--token-prune: '' is not L=KEEP or fuse"},
    {NULL, NULL, "", NULL, 197, "--token-merge: '' is not a token count"},
    {NULL, NULL, "99999999999999999999=1", NULL, 197,
     "--token-merge: block 99999999999999999999 does not exist (the model has blocks 0..3)"},
};

static void test_refusals(void)
{
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
        const struct refusal *r = &refusals[i];
        kiln_token_options o = {.prune = r->prune, .pool = r->pool, .merge = r->merge, .share = r->share};
        kiln_token_plan plan;
        kiln_status st = make_plan(&o, 4, r->n0, &plan);
        CU_ASSERT_EQUAL(st, KILN_ERR_INVALID);
        if (strcmp(kiln_ctx_message(ctx), r->message))
            fprintf(stderr, "\ncase %zu: got '%s'\n  expected '%s'\n", i, kiln_ctx_message(ctx),
                    r->message);
        CU_ASSERT_STRING_EQUAL(kiln_ctx_message(ctx), r->message);
        if (!st)
            kiln_token_plan_free(&plan);
    }
}

/* ---- the manifest's configurations -------------------------------------------------- */

/* "--token-prune 1=0.7 --token-merge 2=16,3=16" into options (pointers into buf). */
static void split_options(char *buf, kiln_token_options *o)
{
    memset(o, 0, sizeof *o);
    for (char *opt = strtok(buf, " "); opt; opt = strtok(NULL, " ")) {
        if (!strcmp(opt, "--no-proportional-attention")) {
            o->no_proportional = true;
            continue;
        }
        char *v = strtok(NULL, " ");
        CU_ASSERT_PTR_NOT_NULL_FATAL(v);
        if (!strcmp(opt, "--token-prune"))
            o->prune = v;
        else if (!strcmp(opt, "--token-pool"))
            o->pool = v;
        else if (!strcmp(opt, "--token-merge"))
            o->merge = v;
        else if (!strcmp(opt, "--attention-share"))
            o->share = v;
        else
            CU_FAIL_FATAL("unknown option in the manifest");
    }
}

static void test_manifest_counts(void)
{
    FILE *f = fopen("samples/fmnist-vit/reduce_ref/manifest.tsv", "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    char line[1024];
    int configs = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#')
            continue;
        line[strcspn(line, "\n")] = '\0';
        char *field[6] = {0};
        int nf = 0;
        for (char *p = line; nf < 6; nf++) {
            field[nf] = p;
            char *tab = strchr(p, '\t');
            if (!tab) {
                nf++;
                break;
            }
            *tab = '\0';
            p = tab + 1;
        }
        CU_ASSERT_EQUAL_FATAL(nf, 6);
        kiln_token_options o;
        split_options(field[1], &o);
        kiln_token_plan plan;
        kiln_status st = make_plan(&o, 4, 197, &plan);
        CU_ASSERT_EQUAL_FATAL(st, KILN_OK);
        char got[128] = "";
        for (uint32_t l = 0; l < plan.n_blocks; l++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", l ? "," : "",
                     (long long)plan.block[l].n_attn);
        if (strcmp(got, field[5]))
            fprintf(stderr, "\n%s: tokens %s, the reference %s\n", field[0], got, field[5]);
        CU_ASSERT_STRING_EQUAL(got, field[5]);
        kiln_token_plan_free(&plan);
        configs++;
    }
    fclose(f);
    CU_ASSERT(configs >= 11);
}

/* The counts of the two combinations, block by block (reduce_ref's validate). */
static void test_combination_counts(void)
{
    kiln_token_options o = {.pool = "0=avg", .share = "1:2", .prune = "2=0.5,fuse", .merge = "3=8"};
    kiln_token_plan p;
    CU_ASSERT_EQUAL_FATAL(make_plan(&o, 4, 197, &p), KILN_OK);
    CU_ASSERT_EQUAL(p.block[0].pool, KILN_TOKEN_POOL_AVG);
    CU_ASSERT_EQUAL(p.block[0].grid, 14);
    CU_ASSERT_EQUAL(p.block[0].n_out, 50);
    CU_ASSERT_EQUAL(p.block[2].share_src, 1);
    CU_ASSERT_EQUAL(p.block[2].prune_kept, 25); /* ceil(0.5 * 49) */
    CU_ASSERT(p.block[2].prune_fused);
    CU_ASSERT_EQUAL(p.block[2].n_mlp, 27);
    CU_ASSERT_EQUAL(p.block[3].n_attn, 27);
    CU_ASSERT_EQUAL(p.block[3].merge_r, 8);
    CU_ASSERT_EQUAL(p.block[3].n_mlp, 19);
    CU_ASSERT(p.fuse && p.track_sizes && p.proportional);
    kiln_token_plan_free(&p);

    kiln_token_options q = {.prune = "1=0.7", .merge = "2=16,3=16", .no_proportional = true};
    CU_ASSERT_EQUAL_FATAL(make_plan(&q, 4, 197, &p), KILN_OK);
    CU_ASSERT_EQUAL(p.block[1].prune_kept, 138); /* ceil(0.7 * 196) = ceil(137.2) */
    CU_ASSERT_EQUAL(p.block[1].n_mlp, 139);
    CU_ASSERT_EQUAL(p.block[2].n_attn, 139);
    CU_ASSERT_EQUAL(p.block[2].merge_r, 16);
    CU_ASSERT(p.track_sizes && !p.proportional);
    kiln_token_plan_free(&p);
}

/* ---- random option strings against the reference ------------------------------------------- */

/* kiln's plan in the format of make_token_plan_cases.py's result column. */
static void format_result(kiln_status st, const kiln_token_plan *p, char *out, size_t size)
{
    if (st) {
        snprintf(out, size, "ERR %s", kiln_ctx_message(ctx));
        return;
    }
    size_t at = (size_t)snprintf(out, size, "OK %d %d", p->track_sizes, p->proportional);
    for (uint32_t l = 0; l < p->n_blocks && at < size; l++) {
        const kiln_token_block *b = &p->block[l];
        at += (size_t)snprintf(out + at, size - at, " %lld/%lld/%lld/%lld/%d/%lld/%lld/%d",
                               (long long)b->n_attn, (long long)b->n_mlp, (long long)b->n_out,
                               (long long)b->prune_kept, b->prune_fused, (long long)b->merge_r,
                               (long long)b->grid, b->share_src);
    }
}

/* tests/unit/fixtures/token_plan_cases.tsv: random option strings (plausible
 * and broken) with what reduce_ref.py's parse_options + validate make of
 * them (make_token_plan_cases.py); kiln must refuse the same ones with the
 * same message and compute the same counts for the rest. */
static void test_random_cases_match_reference(void)
{
    FILE *f = fopen("tests/unit/fixtures/token_plan_cases.tsv", "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    static char line[8192], got[8192];
    int cases = 0, accepted = 0, bad = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#')
            continue;
        line[strcspn(line, "\n")] = '\0';
        char *field[8];
        int nf = 0;
        for (char *p = line; nf < 8;) {
            field[nf++] = p;
            char *tab = strchr(p, '\t');
            if (!tab)
                break;
            *tab = '\0';
            p = tab + 1;
        }
        CU_ASSERT_EQUAL_FATAL(nf, 8);
        kiln_token_options o = {
            .merge = strcmp(field[0], "-") ? field[0] : NULL,
            .prune = strcmp(field[1], "-") ? field[1] : NULL,
            .pool = strcmp(field[2], "-") ? field[2] : NULL,
            .share = strcmp(field[3], "-") ? field[3] : NULL,
            .no_proportional = field[4][0] == '1',
        };
        kiln_token_plan p;
        kiln_status st = make_plan(&o, (uint32_t)atoi(field[5]), atoll(field[6]), &p);
        format_result(st, &p, got, sizeof got);
        if (!st)
            kiln_token_plan_free(&p);
        if (strcmp(got, field[7]) && bad++ < 10)
            fprintf(stderr, "\n  merge '%s' prune '%s' pool '%s' share '%s' depth %s n0 %s:\n"
                    "    kiln      %s\n    reference %s", field[0], field[1], field[2], field[3],
                    field[5], field[6], got, field[7]);
        accepted += !st;
        cases++;
    }
    fclose(f);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT(cases >= 500 && accepted >= 100);
}

/* ---- exact decimals, clamping, fusion, chains -------------------------------------------- */

static void test_exact_ceil_and_clamps(void)
{
    kiln_token_plan p;
    /* 101 tokens: 100 candidates, 0.07 of them is exactly 7 (double gives 8) */
    kiln_token_options o = {.prune = "0=0.07"};
    CU_ASSERT_EQUAL_FATAL(make_plan(&o, 2, 101, &p), KILN_OK);
    CU_ASSERT_EQUAL(p.block[0].prune_num, 7);
    CU_ASSERT_EQUAL(p.block[0].prune_den, 100);
    CU_ASSERT_EQUAL(p.block[0].prune_kept, 7);
    CU_ASSERT_EQUAL(p.block[0].n_mlp, 8);
    kiln_token_plan_free(&p);
    /* the same ratio written as a fraction and with an exponent */
    static const char *const same[] = {"0=7/100", "0=7e-2", "0=.07", "0=0.070", "0= 0.07 "};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        kiln_token_options s = {.prune = same[i]};
        CU_ASSERT_EQUAL_FATAL(make_plan(&s, 2, 101, &p), KILN_OK);
        CU_ASSERT_EQUAL(p.block[0].prune_kept, 7);
        kiln_token_plan_free(&p);
    }
    /* 0.071 of 100 is 7.1: up to 8 */
    kiln_token_options up = {.prune = "0=0.071"};
    CU_ASSERT_EQUAL_FATAL(make_plan(&up, 2, 101, &p), KILN_OK);
    CU_ASSERT_EQUAL(p.block[0].prune_kept, 8);
    kiln_token_plan_free(&p);
    /* a tiny ratio clamps to 1 token */
    kiln_token_options tiny = {.prune = "0=0.001"};
    CU_ASSERT_EQUAL_FATAL(make_plan(&tiny, 4, 197, &p), KILN_OK);
    CU_ASSERT_EQUAL(p.block[0].prune_kept, 1);
    kiln_token_plan_free(&p);
    /* merging clamps R to (N-1)//2 in each block, on the reduced count */
    kiln_token_options m = {.merge = "99"};
    CU_ASSERT_EQUAL_FATAL(make_plan(&m, 4, 197, &p), KILN_OK);
    CU_ASSERT_EQUAL(p.block[0].merge_req, 99);
    CU_ASSERT_EQUAL(p.block[0].merge_r, 98);
    CU_ASSERT_EQUAL(p.block[1].n_attn, 99);
    CU_ASSERT_EQUAL(p.block[1].merge_r, 49);
    CU_ASSERT_EQUAL(p.block[2].merge_r, 24);
    CU_ASSERT_EQUAL(p.block[3].merge_r, 12);
    CU_ASSERT_EQUAL(p.block[3].n_mlp, 14); /* 197 -98 -49 -24 -12 */
    kiln_token_plan_free(&p);
    /* R = 0 in a list is no merging (and tracks no sizes) */
    kiln_token_options z = {.merge = "1=0"};
    CU_ASSERT_EQUAL_FATAL(make_plan(&z, 4, 197, &p), KILN_OK);
    CU_ASSERT(!p.track_sizes && !p.proportional);
    CU_ASSERT_EQUAL(p.block[1].n_mlp, 197);
    kiln_token_plan_free(&p);
}

static void test_fuse(void)
{
    kiln_token_plan p;
    /* KEEP = 1 drops nothing: no fused token (reduce_ref's CHOICE) */
    kiln_token_options o = {.prune = "fuse,1=1,2=0.5"};
    CU_ASSERT_EQUAL_FATAL(make_plan(&o, 4, 197, &p), KILN_OK);
    CU_ASSERT_EQUAL(p.block[1].prune_kept, 196);
    CU_ASSERT(!p.block[1].prune_fused);
    CU_ASSERT_EQUAL(p.block[1].n_mlp, 197);
    CU_ASSERT_EQUAL(p.block[2].prune_kept, 98);
    CU_ASSERT(p.block[2].prune_fused);
    CU_ASSERT_EQUAL(p.block[2].n_mlp, 100);
    /* the fused token is a candidate at the next pruning: 99 of them */
    CU_ASSERT_EQUAL(p.block[3].n_attn, 100);
    kiln_token_plan_free(&p);
    /* without fuse nothing is appended */
    kiln_token_options n = {.prune = "2=0.5"};
    CU_ASSERT_EQUAL_FATAL(make_plan(&n, 4, 197, &p), KILN_OK);
    CU_ASSERT(!p.block[2].prune_fused);
    CU_ASSERT_EQUAL(p.block[2].n_mlp, 99);
    kiln_token_plan_free(&p);
}

static void test_chains_and_pooling(void)
{
    static const char *const chains[] = {"1:2,2:3", "1:2,1:3", "2:3,1:2"};
    kiln_token_plan p;
    for (size_t i = 0; i < sizeof chains / sizeof chains[0]; i++) {
        kiln_token_options o = {.share = chains[i]};
        CU_ASSERT_EQUAL_FATAL(make_plan(&o, 4, 197, &p), KILN_OK);
        CU_ASSERT_EQUAL(p.block[0].share_src, -1);
        CU_ASSERT_EQUAL(p.block[1].share_src, -1);
        CU_ASSERT_EQUAL(p.block[2].share_src, 1);
        CU_ASSERT_EQUAL(p.block[3].share_src, 1);
        kiln_token_plan_free(&p);
    }
    kiln_token_options deep = {.share = "0:1,1:2,2:3"};
    CU_ASSERT_EQUAL_FATAL(make_plan(&deep, 4, 197, &p), KILN_OK);
    CU_ASSERT_EQUAL(p.block[3].share_src, 0);
    CU_ASSERT_EQUAL(p.block[3].share_direct, 2);
    kiln_token_plan_free(&p);
    /* pruning in DST is allowed and ranks with the shared map */
    kiln_token_options dst = {.share = "1:2", .prune = "2=0.5"};
    CU_ASSERT_EQUAL_FATAL(make_plan(&dst, 4, 197, &p), KILN_OK);
    CU_ASSERT_EQUAL(p.block[2].share_src, 1);
    CU_ASSERT_EQUAL(p.block[2].prune_kept, 98);
    kiln_token_plan_free(&p);
    /* pooling twice: 14x14 -> 7x7 -> 4x4 (ceil mode) */
    kiln_token_options pool = {.pool = "0=avg,1=max"};
    CU_ASSERT_EQUAL_FATAL(make_plan(&pool, 4, 197, &p), KILN_OK);
    CU_ASSERT_EQUAL(p.block[1].grid, 7);
    CU_ASSERT_EQUAL(p.block[1].pool, KILN_TOKEN_POOL_MAX);
    CU_ASSERT_EQUAL(p.block[2].n_attn, 17);
    kiln_token_plan_free(&p);
}

static void test_options_any(void)
{
    kiln_token_options none = {0}, one = {.pool = "1=avg"}, flag = {.no_proportional = true};
    CU_ASSERT(!kiln_token_options_any(&none));
    CU_ASSERT(!kiln_token_options_any(NULL));
    CU_ASSERT(kiln_token_options_any(&one));
    CU_ASSERT(kiln_token_options_any(&flag));
}

static CU_TestInfo plan_tests[] = {
    {"every refusal with the reference's message", test_refusals},
    {"the manifest's token counts", test_manifest_counts},
    {"the combinations block by block", test_combination_counts},
    {"1000 random option strings as the reference reads them", test_random_cases_match_reference},
    {"exact decimal ceiling and clamps", test_exact_ceil_and_clamps},
    {"EViT fusion only when something is dropped", test_fuse},
    {"attention-share chains and pooling grids", test_chains_and_pooling},
    {"kiln_token_options_any", test_options_any},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"token_plan", setup, cleanup, NULL, NULL, plan_tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
