/* test_passes.c — the canonical passes (dce, cse, cleanup): text IR in,
 * pipeline run with the verifier after every pass, exact text out.
 *
 * The golden pairs in tests/ir (pass_X.kir with .args "--passes X" and
 * .expected) run here the way `kiln dump pass_X.kir --passes X` runs them
 * (load, infer, pipeline, print), so the unit test and the CLI golden test
 * check the same text. Inline cases add the negative ones: what a pass must
 * leave alone. Expected texts were written by hand from each pass's rules.
 * Last, every sample model runs through cse,cleanup,dce: it must verify,
 * and the interpreter must give the same bits before and after.
 */
#include "cunit_main.h"
#include "sample_run.h"
#include "frontend/frontend.h"
#include "ir/edit.h"
#include "ir/interp.h"
#include "ir/text.h"
#include "passes/pass.h"
#include "runtime/krt_npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------------- */

static void report(kiln_ctx *ctx, kiln_status st)
{
    if (st != KILN_OK)
        fprintf(stderr, "\n  %s\n", kiln_ctx_message(ctx));
}

static kiln_graph *parse(kiln_ctx *ctx, const char *text)
{
    kiln_graph *g = NULL;
    kiln_status st = kiln_text_parse(ctx, text, strlen(text), "t.kir", &g);
    if (st == KILN_OK)
        st = kiln_graph_infer(ctx, g);
    report(ctx, st);
    CU_ASSERT_EQUAL_FATAL(st, KILN_OK);
    return g;
}

/* Runs `pipeline` on g with the verifier (and the density check) after
 * every pass. */
static kiln_status run(kiln_ctx *ctx, kiln_graph *g, const char *pipeline)
{
    kiln_pipeline p;
    kiln_pipeline_run_opts opts = {.verify = true};
    kiln_status st = kiln_pipeline_parse(ctx, pipeline, &p);
    if (st == KILN_OK)
        st = kiln_pipeline_run(ctx, g, &p, &opts);
    report(ctx, st);
    return st;
}

static void expect_text(const kiln_graph *g, const char *want, const char *what)
{
    char *got = kiln_text_format(g);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "\n%s\n--- want\n%s--- got\n%s", what, want, got);
    CU_ASSERT_STRING_EQUAL(got, want);
    free(got);
}

/* text -> pipeline -> want; and, run once more, the pipeline changes
 * nothing (each pass reaches its fixed point in one run). */
static void check(const char *text, const char *pipeline, const char *want)
{
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = parse(ctx, text);
    CU_ASSERT_EQUAL(run(ctx, g, pipeline), KILN_OK);
    expect_text(g, want, pipeline);
    CU_ASSERT_EQUAL(run(ctx, g, pipeline), KILN_OK);
    expect_text(g, want, "(second run)");
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
}

/* pc->changes of one pass called directly (then compacted and checked). */
static uint32_t changes_of(const char *text, kiln_pass_fn pass)
{
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = parse(ctx, text);
    kiln_pass_ctx pc = {.ctx = ctx};
    CU_ASSERT_EQUAL(pass(&pc, g), KILN_OK);
    kiln_graph_compact(g);
    kiln_status st = kiln_graph_verify(ctx, g);
    if (st == KILN_OK)
        st = kiln_graph_check_dense(ctx, g);
    report(ctx, st);
    CU_ASSERT_EQUAL(st, KILN_OK);
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
    return pc.changes;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0, got;
    do {
        buf = kiln_xrealloc(buf, cap += 4096);
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
    } while (got);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* ---- the golden pairs of tests/ir ----------------------------------------------------- */

/* What `kiln dump tests/ir/NAME.kir --passes PASS` prints must be NAME.kir.expected. */
static void golden(const char *name)
{
    char path[256], *args, *want;
    snprintf(path, sizeof path, "tests/ir/%s.kir.args", name);
    CU_ASSERT_PTR_NOT_NULL_FATAL(args = read_text(path));
    snprintf(path, sizeof path, "tests/ir/%s.kir.expected", name);
    CU_ASSERT_PTR_NOT_NULL_FATAL(want = read_text(path));
    char *pipeline = strstr(args, "--passes ");
    CU_ASSERT_PTR_NOT_NULL_FATAL(pipeline);
    pipeline += strlen("--passes ");
    pipeline[strcspn(pipeline, " \n")] = '\0';
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = NULL;
    snprintf(path, sizeof path, "tests/ir/%s.kir", name);
    kiln_status st = kiln_text_load(ctx, path, &g);
    if (st == KILN_OK)
        st = kiln_graph_infer(ctx, g);
    if (st == KILN_OK)
        st = run(ctx, g, pipeline);
    report(ctx, st);
    CU_ASSERT_EQUAL(st, KILN_OK);
    if (st == KILN_OK)
        expect_text(g, want, path);
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
    free(args);
    free(want);
}

static char *golden_input(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "tests/ir/%s.kir", name);
    char *text = read_text(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    return text;
}

static void test_golden_dce(void) { golden("pass_dce"); }
static void test_golden_cse(void) { golden("pass_cse"); }
static void test_golden_cleanup(void) { golden("pass_cleanup"); }

/* One change per node removed or merged (constants merged count too). */
static void test_golden_change_counts(void)
{
    char *t = golden_input("pass_dce");
    CU_ASSERT_EQUAL(changes_of(t, kiln_pass_dce), 4);      /* t, u, v, d */
    free(t);
    t = golden_input("pass_cse");
    CU_ASSERT_EQUAL(changes_of(t, kiln_pass_cse), 5);      /* w2, m2, e2, l2, r */
    free(t);
    t = golden_input("pass_cleanup");
    CU_ASSERT_EQUAL(changes_of(t, kiln_pass_cleanup), 8);  /* a c d b e f g h */
    free(t);
}

/* ---- dce --------------------------------------------------------------------------------- */

static const char all_live[] =
    "kiln-ir 1\n"
    "graph @live (%x: f32[4]) -> (%y, %r) {\n"
    "  %r: f32[4] = Relu(%x)\n"
    "  %y: f32[4] = Neg(%r)\n"
    "}\n";

static void test_dce_keeps_live_graph(void)
{
    check(all_live, "dce", all_live);
    CU_ASSERT_EQUAL(changes_of(all_live, kiln_pass_dce), 0);
}

/* ---- cse ---------------------------------------------------------------------------------- */

static void test_cse_attributes_deep(void)
{
    /* ints lists, strings and tensors compare by content; one element apart
     * is apart */
    check("kiln-ir 1\n"
          "graph @attrs (%x: f32[1,1,4,4]) -> (%ab, %c, %d, %k) {\n"
          "  %a = MaxPool(%x) {kernel_shape = [2, 2], strides = [2, 2]}\n"
          "  %b = MaxPool(%x) {kernel_shape = [2, 2], strides = [2, 2]}\n"
          "  %c = MaxPool(%x) {kernel_shape = [2, 2], strides = [1, 2]}\n"
          "  %d = MaxPool(%x) {auto_pad = \"VALID\", kernel_shape = [2, 2], strides = [2, 2]}\n"
          "  %ab = Add(%a, %b)\n"
          "  %s: i64[4] = Shape(%x)\n"
          "  %k1 = ConstantOfShape(%s) {value = f32[1] [0.5]}\n"
          "  %k2 = ConstantOfShape(%s) {value = f32[1] [0.5]}\n"
          "  %k3 = ConstantOfShape(%s) {value = f32[1] [-0.5]}\n"
          "  %k = Sum(%k1, %k2, %k3)\n"
          "}\n",
          "cse",
          "kiln-ir 1\n"
          "graph @attrs (%x: f32[1,1,4,4]) -> (%ab, %c, %d, %k) {\n"
          "  %a: f32[1,1,2,2] = MaxPool(%x) {kernel_shape = [2, 2], strides = [2, 2]}\n"
          "  %c: f32[1,1,3,2] = MaxPool(%x) {kernel_shape = [2, 2], strides = [1, 2]}\n"
          "  %d: f32[1,1,2,2] = MaxPool(%x) {auto_pad = \"VALID\", kernel_shape = [2, 2], strides = [2, 2]}\n"
          "  %ab: f32[1,1,2,2] = Add(%a, %a)\n"
          "  %s: i64[4] = Shape(%x)\n"
          "  %k1: f32[1,1,4,4] = ConstantOfShape(%s) {value = f32[1] [0.5]}\n"
          "  %k3: f32[1,1,4,4] = ConstantOfShape(%s) {value = f32[1] [-0.5]}\n"
          "  %k: f32[1,1,4,4] = Sum(%k1, %k1, %k3)\n"
          "}\n");
}

static void test_cse_constants(void)
{
    /* same bytes, other dtype or shape: apart; elided bytes: by digest */
    check("kiln-ir 1\n"
          "graph @consts (%x: f32[2,2], %i: i32[4]) -> (%y, %j) {\n"
          "  const %f: f32[2,2] = [1.0, 1.0, 1.0, 1.0]\n"
          "  const %f2: f32[4] = [1.0, 1.0, 1.0, 1.0]\n"
          "  const %n: i32[4] = [1065353216, 1065353216, 1065353216, 1065353216]\n"
          "  const %big1: f32[20] digest 0123456789abcdef\n"
          "  const %big2: f32[20] digest 0123456789abcdef\n"
          "  const %big3: f32[20] digest fedcba9876543210\n"
          "  %a = Add(%x, %f)\n"
          "  %b = Reshape(%f2, %s)\n"
          "  const %s: i64[2] = [2, 2]\n"
          "  %y = Add(%a, %b)\n"
          "  %j = Add(%i, %n)\n"
          "  %c1 = Concat(%big1, %big2, %big3) {axis = 0}\n"
          "}\n",
          "cse",
          "kiln-ir 1\n"
          "graph @consts (%x: f32[2,2], %i: i32[4]) -> (%y, %j) {\n"
          "  const %f: f32[2,2] = [1.0, 1.0, 1.0, 1.0]\n"
          "  const %f2: f32[4] = [1.0, 1.0, 1.0, 1.0]\n"
          "  const %s: i64[2] = [2, 2]\n"
          "  const %n: i32[4] = [1065353216, 1065353216, 1065353216, 1065353216]\n"
          "  const %big1: f32[20] digest 0123456789abcdef\n"
          "  const %big3: f32[20] digest fedcba9876543210\n"
          "  %a: f32[2,2] = Add(%x, %f)\n"
          "  %b: f32[2,2] = Reshape(%f2, %s)\n"
          "  %y: f32[2,2] = Add(%a, %b)\n"
          "  %j: i32[4] = Add(%i, %n)\n"
          "  %c1: f32[60] = Concat(%big1, %big1, %big3) {axis = 0}\n"
          "}\n");
}

static void test_cse_keeps_outputs_and_random(void)
{
    /* a constant that is a graph output keeps its name; a Dropout that may
     * train is not merged, one that cannot is */
    check("kiln-ir 1\n"
          "graph @keep (%x: f32[3], %train: bool[]) -> (%c1, %c2, %e, %f) {\n"
          "  const %c1: f32[1] = [2.0]\n"
          "  const %c2: f32[1] = [2.0]\n"
          "  %t1 = Dropout(%x, _, %train)\n"
          "  %t2 = Dropout(%x, _, %train)\n"
          "  %d1 = Dropout(%x)\n"
          "  %d2 = Dropout(%x)\n"
          "  %e = Add(%d1, %d2)\n"
          "  %f = Add(%t1, %t2)\n"
          "}\n",
          "cse",
          "kiln-ir 1\n"
          "graph @keep (%x: f32[3], %train: bool[]) -> (%c1, %c2, %e, %f) {\n"
          "  const %c1: f32[1] = [2.0]\n"
          "  const %c2: f32[1] = [2.0]\n"
          "  %t1: f32[3] = Dropout(%x, _, %train)\n"
          "  %t2: f32[3] = Dropout(%x, _, %train)\n"
          "  %d1: f32[3] = Dropout(%x)\n"
          "  %e: f32[3] = Add(%d1, %d1)\n"
          "  %f: f32[3] = Add(%t1, %t2)\n"
          "}\n");
}

/* ---- cleanup --------------------------------------------------------------------------------- */

static void test_cleanup_identity_and_output_names(void)
{
    check("kiln-ir 1\n"
          "graph @ids (%x: f32[2,3]) -> (%y, %z, %w, %v) {\n"
          "  const %c: f32[3] = [1.0, 2.0, 3.0]\n"
          "  %a = Relu(%x)\n"
          "  %b = Identity(%a)\n"
          "  %e = Add(%b, %c)\n"
          "  %y = Identity(%e)\n"   /* goes: the Add's output takes the name y */
          "  %z = Identity(%y)\n"   /* stays: y is a graph output too */
          "  %w = Identity(%x)\n"   /* stays: x is a graph input */
          "  %v = Identity(%c)\n"   /* stays: c is a constant */
          "}\n",
          "cleanup",
          "kiln-ir 1\n"
          "graph @ids (%x: f32[2,3]) -> (%y, %z, %w, %v) {\n"
          "  const %c: f32[3] = [1.0, 2.0, 3.0]\n"
          "  %a: f32[2,3] = Relu(%x)\n"
          "  %y: f32[2,3] = Add(%a, %c)\n"
          "  %z: f32[2,3] = Identity(%y)\n"
          "  %w: f32[2,3] = Identity(%x)\n"
          "  %v: f32[3] = Identity(%c)\n"
          "}\n");
}

static void test_cleanup_dropout_and_cast(void)
{
    check("kiln-ir 1\n"
          "graph @drop (%x: f32[2,3], %train: bool[]) -> (%y, %m, %t, %u) {\n"
          "  const %no: bool[] = [false]\n"
          "  %d = Dropout(%x)\n"                 /* goes */
          "  %c = Cast(%d) {to = \"f32\"}\n"     /* goes: f32 already */
          "  %k, %m = Dropout(%c)\n"             /* stays: its mask is a graph output */
          "  %h = Cast(%k) {to = \"f16\"}\n"     /* stays, and so does the Cast back */
          "  %y = Cast(%h) {to = \"f32\"}\n"
          "  %t = Dropout(%x, _, %train)\n"      /* stays: may be training */
          "  %n = Dropout(%x, _, %no)\n"         /* goes: training_mode is false */
          "  %u = CastLike(%n, %x)\n"            /* stays: u is a graph output, x an input */
          "}\n",
          "cleanup",
          "kiln-ir 1\n"
          "graph @drop (%x: f32[2,3], %train: bool[]) -> (%y, %m, %t, %u) {\n"
          "  %k: f32[2,3], %m: bool[2,3] = Dropout(%x)\n"
          "  %h: f16[2,3] = Cast(%k) {to = \"f16\"}\n"
          "  %y: f32[2,3] = Cast(%h) {to = \"f32\"}\n"
          "  %t: f32[2,3] = Dropout(%x, _, %train)\n"
          "  %u: f32[2,3] = CastLike(%x, %x)\n"
          "}\n");
}

static void test_cleanup_symbolic_and_dynamic_shapes(void)
{
    /* a Reshape that keeps a symbolic shape goes; a chain over a symbolic
     * shape does not become one Reshape (no static shape to give it) */
    check("kiln-ir 1\n"
          "graph @sym (%x: f32[N,4]) -> (%y, %z) {\n"
          "  const %keep: i64[2] = [0, 4]\n"
          "  const %ax: i64[1] = [1]\n"
          "  %a = Reshape(%x, %keep)\n"
          "  %y = Relu(%a)\n"
          "  %b = Unsqueeze(%x, %ax)\n"
          "  %z = Flatten(%b) {axis = 2}\n"
          "}\n",
          "cleanup",
          "kiln-ir 1\n"
          "graph @sym (%x: f32[N,4]) -> (%y, %z) {\n"
          "  const %ax: i64[1] = [1]\n"
          "  %y: f32[N,4] = Relu(%x)\n"
          "  %b: f32[N,1,4] = Unsqueeze(%x, %ax)\n"
          "  %z: f32[N,4] = Flatten(%b) {axis = 2}\n"
          "}\n");
}

/* ---- together ------------------------------------------------------------------------------ */

static void test_canonical_pipeline(void)
{
    /* cleanup exposes a duplicate (b is a), cse merges it, dce drops what
     * is left over */
    check("kiln-ir 1\n"
          "graph @all (%x: f32[4]) -> (%y) {\n"
          "  %i = Identity(%x)\n"
          "  %a = Relu(%x)\n"
          "  %b = Relu(%i)\n"
          "  %dead = Exp(%b)\n"
          "  %y = Add(%a, %b)\n"
          "}\n",
          "cleanup,cse,dce",
          "kiln-ir 1\n"
          "graph @all (%x: f32[4]) -> (%y) {\n"
          "  %a: f32[4] = Relu(%x)\n"
          "  %y: f32[4] = Add(%a, %a)\n"
          "}\n");
}

/* ---- every sample --------------------------------------------------------------------------- */


/* The passes are exact: the same kernels on the same data give the same bits. */
static void expect_same_outputs(const kiln_tensor *a, const kiln_tensor *b, uint32_t n, const char *dir)
{
    for (uint32_t i = 0; i < n; i++) {
        bool same = a[i].nbytes == b[i].nbytes && memcmp(a[i].data, b[i].data, a[i].nbytes) == 0;
        if (!same)
            fprintf(stderr, "\n  %s: output %u changed after cse,cleanup,dce", dir, i);
        CU_ASSERT_TRUE(same);
    }
}

static void sample(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = NULL;
    kiln_tensor before[8], after[8];
    kiln_status st = kiln_onnx_load(ctx, path, &g);
    if (st == KILN_OK)
        st = kiln_graph_infer(ctx, g);
    if (st == KILN_OK && (st = interpret(ctx, g, dir, before)) == KILN_OK) {
        uint32_t nodes = g->n_nodes - 1;
        st = run(ctx, g, "cse,cleanup,dce");
        if (st == KILN_OK && (st = interpret(ctx, g, dir, after)) == KILN_OK) {
            expect_same_outputs(before, after, g->n_outputs, dir);
            kiln_interp_free_outputs(after, g->n_outputs);
        }
        kiln_interp_free_outputs(before, g->n_outputs);
        if (st == KILN_OK && getenv("KILN_TEST_VERBOSE"))
            fprintf(stderr, "\n  %-34s %5u -> %5u nodes", dir, nodes, g->n_nodes - 1);
    }
    if (st != KILN_OK)
        fprintf(stderr, "\n  %s: %s\n", dir, kiln_ctx_message(ctx));
    CU_ASSERT_EQUAL(st, KILN_OK);
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
}

/* The manifest: a header line, then "name<TAB>dir<TAB>...". Node counts
 * before and after: KILN_TEST_VERBOSE=1. */
static void test_samples(void)
{
    char *m = read_text("samples/zoo/manifest.tsv");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    int n = 0;
    for (char *line = strchr(m, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
        char *dir = strchr(line + 1, '\t');
        if (!dir)
            continue;
        char buf[256];
        snprintf(buf, sizeof buf, "%.*s", (int)strcspn(dir + 1, "\t\n"), dir + 1);
        sample(buf);
        n++;
    }
    CU_ASSERT(n > 0);
    free(m);
}

static CU_TestInfo golden_tests[] = {
    {"tests/ir/pass_dce", test_golden_dce},
    {"tests/ir/pass_cse", test_golden_cse},
    {"tests/ir/pass_cleanup", test_golden_cleanup},
    {"change counts", test_golden_change_counts},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo pass_tests[] = {
    {"dce keeps a live graph", test_dce_keeps_live_graph},
    {"cse compares attributes deeply", test_cse_attributes_deep},
    {"cse merges equal constants only", test_cse_constants},
    {"cse keeps output constants and random nodes", test_cse_keeps_outputs_and_random},
    {"cleanup: identity and output names", test_cleanup_identity_and_output_names},
    {"cleanup: dropout and cast", test_cleanup_dropout_and_cast},
    {"cleanup: symbolic shapes", test_cleanup_symbolic_and_dynamic_shapes},
    {"cleanup,cse,dce together", test_canonical_pipeline},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo sample_tests[] = {
    {"every sample verifies and computes the same after cse,cleanup,dce", test_samples},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"golden", NULL, NULL, NULL, NULL, golden_tests},
    {"passes", NULL, NULL, NULL, NULL, pass_tests},
    {"samples", NULL, NULL, NULL, NULL, sample_tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
