/* test_fold.c — the fold pass: what it evaluates (through the kernels),
 * the size cap and its note, and what it must leave alone.
 * Expected constants are computed by hand from the inputs. */
#include "cunit_main.h"
#include "ir/text.h"
#include "passes/pass.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fixture {
    kiln_ctx *ctx;
    kiln_graph *g;
} fixture;

static fixture load(const char *text)
{
    fixture f = {.ctx = kiln_ctx_create()};
    kiln_status st = kiln_text_parse(f.ctx, text, strlen(text), "t.kir", &f.g);
    if (st == KILN_OK)
        st = kiln_graph_infer(f.ctx, f.g);
    if (st)
        fprintf(stderr, "\n  %s\n", kiln_ctx_message(f.ctx));
    CU_ASSERT_EQUAL_FATAL(st, KILN_OK);
    return f;
}

static void done(fixture *f)
{
    kiln_graph_destroy(f->g);
    kiln_ctx_destroy(f->ctx);
}

static kiln_status fold(fixture *f, int64_t cap)
{
    kiln_pipeline p;
    kiln_pass_options po = {.fold_max_bytes = cap};
    kiln_pipeline_run_opts run = {.pass = &po, .verify = true};
    kiln_status st = kiln_pipeline_parse(f->ctx, "fold,dce", &p);
    if (st == KILN_OK)
        st = kiln_pipeline_run(f->ctx, f->g, &p, &run);
    if (st)
        fprintf(stderr, "\n  %s\n", kiln_ctx_message(f->ctx));
    return st;
}

/* Number of nodes left (index 0 is unused). */
static uint32_t nodes(const fixture *f)
{
    return f->g->n_nodes - 1;
}

static const kiln_value *find(const fixture *f, const char *name)
{
    uint32_t v = kiln_graph_find_value(f->g, name);
    CU_ASSERT_FATAL(v != 0);
    return &f->g->values[v];
}

/* Expand of a constant to 2^17 elements (too big for inference's inline
 * evaluation) is folded through the kernel: every element is the source's. */
static void test_expand_folds(void)
{
    fixture f = load("kiln-ir 1\n"
                     "graph @t (%x: f32[512,256]) -> (%y) {\n"
                     "  const %v: f32[1] = [2.5]\n"
                     "  const %shape: i64[2] = [512, 256]\n"
                     "  %e = Expand(%v, %shape)\n"
                     "  %y = Add(%x, %e)\n"
                     "}\n");
    CU_ASSERT_EQUAL(nodes(&f), 2);
    CU_ASSERT_EQUAL_FATAL(fold(&f, 0), KILN_OK);
    CU_ASSERT_EQUAL(nodes(&f), 1);
    const kiln_value *e = find(&f, "e");
    CU_ASSERT_EQUAL(e->kind, KILN_VAL_CONST);
    CU_ASSERT_EQUAL_FATAL(e->nbytes, 512 * 256 * sizeof(float));
    const float *d = e->data;
    int wrong = 0;
    for (int i = 0; i < 512 * 256; i++)
        wrong += d[i] != 2.5f;
    CU_ASSERT_EQUAL(wrong, 0);
    CU_ASSERT_STRING_EQUAL(kiln_ctx_notes(f.ctx), "");
    done(&f);
}

/* Over the cap the node stays, and a note names it and the sizes. */
static void test_cap_leaves_node_and_says_so(void)
{
    fixture f = load("kiln-ir 1\n"
                     "graph @t (%x: f32[512,256]) -> (%y) {\n"
                     "  const %v: f32[1] = [2.5]\n"
                     "  const %shape: i64[2] = [512, 256]\n"
                     "  %e = Expand(%v, %shape) #big\n"
                     "  %y = Add(%x, %e)\n"
                     "}\n");
    CU_ASSERT_EQUAL_FATAL(fold(&f, 1000), KILN_OK);
    CU_ASSERT_EQUAL(nodes(&f), 2);
    CU_ASSERT_EQUAL(find(&f, "e")->kind, KILN_VAL_NODE);
    const char *notes = kiln_ctx_notes(f.ctx);
    CU_ASSERT_PTR_NOT_NULL(strstr(notes, "1 node(s) left unfolded"));
    CU_ASSERT_PTR_NOT_NULL(strstr(notes, "1000-byte cap"));
    CU_ASSERT_PTR_NOT_NULL(strstr(notes, "'big' (Expand), 524288 bytes"));
    done(&f);
}

/* A node with an input known only at run time stays; a chain of constant
 * nodes folds all the way (Shape -> Gather -> Mul). */
static void test_shape_chain_folds_runtime_stays(void)
{
    fixture f = load("kiln-ir 1\n"
                     "graph @t (%x: f32[4,6]) -> (%y, %n) {\n"
                     "  const %i: i64[] = [1]\n"
                     "  const %two: i64[] = [2]\n"
                     "  %s = Shape(%x)\n"
                     "  %d = Gather(%s, %i) {axis = 0}\n"
                     "  %n = Mul(%d, %two)\n"
                     "  %y = Relu(%x)\n"
                     "}\n");
    CU_ASSERT_EQUAL_FATAL(fold(&f, 0), KILN_OK);
    CU_ASSERT_EQUAL(nodes(&f), 1);  /* the Relu */
    const kiln_value *n = find(&f, "n");
    CU_ASSERT_EQUAL(n->kind, KILN_VAL_CONST);
    CU_ASSERT_EQUAL(*(const int64_t *)n->data, 12);  /* 6 * 2 */
    CU_ASSERT_EQUAL(find(&f, "y")->kind, KILN_VAL_NODE);
    done(&f);
}

static CU_TestInfo fold_tests[] = {
    {"expand folds through its kernel", test_expand_folds},
    {"cap leaves the node and says so", test_cap_leaves_node_and_says_so},
    {"shape chain folds, run-time input stays", test_shape_chain_folds_runtime_stays},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"fold", NULL, NULL, NULL, NULL, fold_tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
