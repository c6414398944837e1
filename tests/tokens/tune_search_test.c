/* tune_search_test.c — `kiln tune`'s search module (tools/tune_search.c)
 * without a model: the space it generates, the combinations, and the
 * statistics the halving decides with.
 */
#include "cunit_main.h"
#include "tools/tune.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const tune_space vit = {.kinds = TUNE_ALL, .n_blocks = 4, .n_tokens0 = 197};

static uint32_t count_kind(const tune_list *l, int kind)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < l->n; i++)
        n += l->c[i].kind == kind;
    return n;
}

/* Every candidate is one token_plan accepts, and no two are the same text. */
static void test_singles(void)
{
    tune_list l = {0};
    tune_space_singles(&vit, &l);
    CU_ASSERT_FATAL(l.n > 1);
    CU_ASSERT_STRING_EQUAL(l.c[0].text, ""); /* the exact model first */
    CU_ASSERT_EQUAL(l.c[0].kind, 0);
    for (uint32_t i = 1; i < l.n; i++) {
        CU_ASSERT(tune_cand_valid(&vit, &l.c[i]));
        CU_ASSERT(l.c[i].dropped_at == -1 && l.c[i].latency_ms < 0);
        for (uint32_t j = 1; j < i; j++)
            CU_ASSERT(strcmp(l.c[i].text, l.c[j].text) != 0);
    }
    /* 7 uniform merges + 4 front-loaded, 4 blocks x 2 keeps, 3 x 2 poolings,
     * 3 adjacent sharings */
    CU_ASSERT_EQUAL(count_kind(&l, TUNE_MERGE), 11);
    CU_ASSERT_EQUAL(count_kind(&l, TUNE_PRUNE), 8);
    CU_ASSERT_EQUAL(count_kind(&l, TUNE_POOL), 6);
    CU_ASSERT_EQUAL(count_kind(&l, TUNE_SHARE), 3);
    CU_ASSERT_STRING_EQUAL(l.c[1].text, "--token-merge 4");
    tune_list_free(&l);
}

/* Kinds not asked for are absent; pooling needs a square grid (token_plan
 * refuses 97 patch tokens); merges the cap makes equal count once. */
static void test_space_rules(void)
{
    tune_list l = {0};
    tune_space odd = {.kinds = TUNE_POOL | TUNE_SHARE, .n_blocks = 3, .n_tokens0 = 98};
    tune_space_singles(&odd, &l);
    CU_ASSERT_EQUAL(count_kind(&l, TUNE_POOL), 0);
    CU_ASSERT_EQUAL(count_kind(&l, TUNE_SHARE), 2);
    CU_ASSERT_EQUAL(count_kind(&l, TUNE_MERGE), 0);
    tune_list_free(&l);
    /* 11 tokens: (N-1)//2 = 5 caps the merge, so every R >= 5 is one plan;
     * one block has no first half, so no front-loaded schedule */
    tune_space tiny = {.kinds = TUNE_MERGE, .n_blocks = 1, .n_tokens0 = 11};
    tune_space_singles(&tiny, &l);
    CU_ASSERT_EQUAL(count_kind(&l, TUNE_MERGE), 2); /* R = 4, and R = 8 (capped to 5) */
    tune_list_free(&l);
}

/* Combinations respect the rules without asking token_plan to refuse them:
 * merging after a pooling only, not where a block prunes, not in SRC..DST. */
static void test_combine(void)
{
    tune_list l = {0};
    tune_space s = vit;
    s.kinds = TUNE_MERGE | TUNE_PRUNE | TUNE_POOL | TUNE_SHARE;
    tune_space_singles(&s, &l);
    for (uint32_t i = 1; i < l.n; i++) {
        const char *t = l.c[i].text;
        l.c[i].seed = !strcmp(t, "--token-merge 16") || !strcmp(t, "--token-pool 1=avg") ||
                      !strcmp(t, "--token-prune 2=0.7") || !strcmp(t, "--attention-share 1:2");
    }
    uint32_t n0 = l.n, added = tune_space_combine(&s, &l);
    CU_ASSERT_EQUAL(added, 3);
    CU_ASSERT_EQUAL(l.n, n0 + added);
    const char *want[] = {"--token-prune 2=0.7 --token-merge 0=16,1=16,3=16",
                          "--token-pool 1=avg --token-merge 2=16,3=16",
                          "--attention-share 1:2 --token-merge 0=16,3=16"};
    for (size_t k = 0; k < 3; k++) {
        bool found = false;
        for (uint32_t i = n0; i < l.n; i++)
            found |= strcmp(l.c[i].text, want[k]) == 0;
        CU_ASSERT(found);
        if (!found)
            fprintf(stderr, "missing combination: %s\n", want[k]);
    }
    for (uint32_t i = n0; i < l.n; i++) {
        CU_ASSERT(tune_cand_valid(&s, &l.c[i]));
        CU_ASSERT(l.c[i].kind & TUNE_COMBINE);
    }
    /* again: nothing new (no duplicates) */
    CU_ASSERT_EQUAL(tune_space_combine(&s, &l), 0);
    tune_list_free(&l);
}

/* The paired drop and its standard error against hand counts. */
static void test_drop(void)
{
    enum { N = 100 };
    int16_t labels[N], e[N], c[N];
    tune_cand exact = {.top1 = e}, cand = {.top1 = c};
    for (int i = 0; i < N; i++) {
        labels[i] = (int16_t)(i % 10);
        e[i] = c[i] = labels[i];
    }
    double d, se;
    tune_drop(&exact, &cand, N, labels, &d, &se);
    CU_ASSERT_DOUBLE_EQUAL(d, 0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(se, 0, 1e-12);
    /* b = 6 images exact right / candidate wrong, w = 2 the reverse, and one
     * image both wrong (concordant: not counted) */
    for (int i = 0; i < 6; i++)
        c[i] = (int16_t)((labels[i] + 1) % 10);
    for (int i = 10; i < 12; i++)
        e[i] = (int16_t)((labels[i] + 1) % 10);
    e[20] = c[20] = (int16_t)((labels[20] + 1) % 10);
    tune_drop(&exact, &cand, N, labels, &d, &se);
    CU_ASSERT_DOUBLE_EQUAL(d, 4.0, 1e-12);
    /* differences: six +1, two -1, 92 zeros; mean 0.04; sample variance
     * (8 - 100*0.04^2)/99; se = 100*sqrt(var/100) */
    double var = (8.0 - 100 * 0.04 * 0.04) / 99;
    CU_ASSERT_DOUBLE_EQUAL(se, 100 * sqrt(var / 100), 1e-9);
    /* only the first n images count */
    tune_drop(&exact, &cand, 5, labels, &d, &se);
    CU_ASSERT_DOUBLE_EQUAL(d, 100.0, 1e-12);
}

static void test_pareto(void)
{
    tune_cand c[5];
    memset(c, 0, sizeof c);
    /* accuracy = correct / n_done, cost given */
    uint32_t correct[5] = {90, 88, 88, 80, 70};
    double cost[5] = {100, 80, 90, 80, 50};
    for (int i = 0; i < 5; i++)
        c[i].n_done = 100, c[i].correct = correct[i];
    tune_list l = {.c = c, .n = 5, .cap = 5};
    uint32_t idx[5] = {0, 1, 2, 3, 4};
    bool front[5];
    tune_pareto(&l, idx, cost, 5, front);
    CU_ASSERT(front[0]);   /* the most accurate */
    CU_ASSERT(front[1]);   /* 88 at 80 */
    CU_ASSERT(!front[2]);  /* 88 at 90: dominated by 1 */
    CU_ASSERT(!front[3]);  /* 80 at 80: dominated by 1 */
    CU_ASSERT(front[4]);   /* the cheapest */
    /* a tie on both: the first stands for both */
    cost[2] = 80;
    tune_pareto(&l, idx, cost, 5, front);
    CU_ASSERT(front[1] && !front[2]);
}

static CU_TestInfo tests[] = {
    {"the singles of the ViT's space", test_singles},
    {"kinds, square grids, caps", test_space_rules},
    {"combinations follow the rules", test_combine},
    {"paired drop and standard error", test_drop},
    {"Pareto front", test_pareto},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"tune_search", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
