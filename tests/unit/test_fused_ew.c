/* test_fused_ew.c — fuse-elementwise and the fused_ew kernel.
 *
 * - The kernel against a naive loop (the same float operations written out
 *   by hand) for FULL, SCALAR and ROW inputs, whole and split into units
 *   at every boundary: bit-equal.
 * - Graphs of every instruction, with a bias row and scalars, at lengths
 *   0, 1, 15, 16, 17 and 1000 (around every vector width) and with NaN,
 *   infinities and signed zeros in the data: the interpreter's result after
 *   fuse-elementwise equals the unfused graph's bit for bit (the fused
 *   kernel uses the unfused kernels' expressions and vector math), and the
 *   pass fused each chain into exactly one node.
 * - Programs the verifier of shape inference must refuse.
 */
#include "cunit_main.h"
#include "ir/interp.h"
#include "ir/text.h"
#include "passes/pass.h"
#include "runtime/krt_elementwise.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float uniform(uint32_t *state, float lo, float hi)
{
    *state = *state * 1664525u + 1013904223u;
    return lo + (hi - lo) * (float)(*state >> 8) / (float)(1u << 24);
}

/* Random values in [-4, 4) with a special value every 7th element. */
static void fill(float *x, size_t n, uint32_t *state)
{
    static const float special[] = {NAN, INFINITY, -INFINITY, -0.0f, 0.0f, 1e-40f, -3.0f};
    for (size_t i = 0; i < n; i++)
        x[i] = i % 7 == 3 ? special[(i / 7) % 7] : uniform(state, -4.0f, 4.0f);
}

static bool same_bits(const float *a, const float *b, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0 && !(isnan(a[i]) && isnan(b[i]))) {
            fprintf(stderr, "\n  %s: element %zu: %.9g (fused) vs %.9g", what, i, a[i], b[i]);
            return false;
        }
    return true;
}

/* ---- the kernel against a naive loop ------------------------------------------ */

static void test_kernel_layouts(void)
{
    enum { ROWS = 5, ROW = 7001, N = ROWS * ROW };   /* 3 units of KRT_EW_CHUNK */
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y), *ys = malloc(N * sizeof *ys);
    float *want = malloc(N * sizeof *want), r[ROW], s = 0.75f;
    uint32_t st = 3;
    fill(x, N, &st);
    fill(r, ROW, &st);
    /* y = max((x + r) * s, x) - relu(x) */
    krt_fused_ew_desc d = {.n_in = 3, .n_ops = 5, .kind = {KRT_FEW_FULL, KRT_FEW_ROW, KRT_FEW_SCALAR},
                           .n = N, .row = ROW};
    d.ins[0] = (krt_few_instr){.op = KRT_FEW_ADD, .a = 0, .b = 1};
    d.ins[1] = (krt_few_instr){.op = KRT_FEW_MUL, .a = 3, .b = 2};
    d.ins[2] = (krt_few_instr){.op = KRT_FEW_MAX, .a = 4, .b = 0};
    d.ins[3] = (krt_few_instr){.op = KRT_FEW_RELU, .a = 0, .b = -1};
    d.ins[4] = (krt_few_instr){.op = KRT_FEW_SUB, .a = 5, .b = 6};
    for (int i = 0; i < N; i++) {
        float t = (x[i] + r[i % ROW]) * s;
        float m = t != t || t > x[i] ? t : x[i];
        want[i] = m - (x[i] < 0 ? 0.0f : x[i]);
    }
    const krt_kernel_info *k = &krt_kernel_fused_ew;
    int64_t units = k->units(&d);
    CU_ASSERT_EQUAL(units, (N + KRT_EW_CHUNK - 1) / KRT_EW_CHUNK);
    void *ops[] = {x, r, &s, y};
    krt_error err = {.operand = -1};
    CU_ASSERT_EQUAL(k->run(&d, ops, NULL, (krt_span){0, units}, &err), KRT_OK);
    CU_ASSERT_TRUE(same_bits(y, want, N, "kernel, whole"));
    void *ops2[] = {x, r, &s, ys};
    for (int64_t u = 0; u < units; u++)
        CU_ASSERT_EQUAL(k->run(&d, ops2, NULL, (krt_span){u, u + 1}, &err), KRT_OK);
    CU_ASSERT_TRUE(same_bits(ys, want, N, "kernel, unit by unit"));
    /* in place over x */
    void *ops3[] = {x, r, &s, x};
    CU_ASSERT_EQUAL(k->run(&d, ops3, NULL, (krt_span){0, units}, &err), KRT_OK);
    CU_ASSERT_TRUE(same_bits(x, want, N, "kernel, in place"));
    /* a slot out of range is refused, not read */
    d.ins[4].b = 8;
    CU_ASSERT_EQUAL(k->run(&d, ops, NULL, (krt_span){0, units}, &err), KRT_EVALUE);
    free(x), free(y), free(ys), free(want);
}

/* ---- fused graphs against unfused ones -------------------------------------------- */

/* One chain per output; every instruction appears. %b is a row, %s a scalar. */
static const char *const chains =
    "  %a1 = Add(%x, %b)\n  %m1 = Mul(%a1, %s)\n  %h1 = HardSwish(%m1)\n"
    "  %y1 = Clip(%h1, %clo, %chi)\n"
    "  %a2 = Sub(%b, %z)\n  %s2 = Sigmoid(%a2)\n  %y2 = Mul(%a2, %s2)\n"
    "  %x3 = Max(%x, %z)\n  %d3 = Div(%x3, %s)\n  %g3 = kiln.Gelu(%d3)\n"
    "  %t3 = kiln.Gelu(%g3) {approximate = \"tanh\"}\n  %p3 = Pow(%t3, %two)\n"
    "  %l3 = LeakyRelu(%p3) {alpha = 0.2}\n  %y3 = Reciprocal(%l3)\n"
    "  %n4 = Neg(%x)\n  %q4 = Sqrt(%n4)\n  %e4 = Exp(%z)\n  %f4 = Erf(%e4)\n  %t4 = Tanh(%f4)\n"
    "  %r4 = Relu(%t4)\n  %m4 = Min(%q4, %r4)\n  %u4 = Abs(%m4)\n  %y4 = Sub(%u4, %x)\n"
    "  %e5 = Exp(%x)\n  %y5 = Div(%b, %e5)\n";

static kiln_graph *parse(kiln_ctx *ctx, const char *text)
{
    kiln_graph *g = NULL;
    kiln_status st = kiln_text_parse(ctx, text, strlen(text), "t.kir", &g);
    if (st == KILN_OK)
        st = kiln_graph_infer(ctx, g);
    if (st != KILN_OK)
        fprintf(stderr, "\n  %s", kiln_ctx_message(ctx));
    return st == KILN_OK ? g : NULL;
}

static void check_length(int n)
{
    char text[4096];
    uint32_t st = (uint32_t)n + 11;
    /* %b, the row along the last axis, is a graph input (a constant of 0
     * elements has no literal) */
    snprintf(text, sizeof text,
             "kiln-ir 1\ngraph @g (%%x: f32[3,%d], %%z: f32[3,%d], %%b: f32[%d]) -> (%%y1, %%y2, %%y3, %%y4, %%y5) {\n"
             "  const %%s: f32[] = [0.75]\n  const %%two: f32[] = [2]\n"
             "  const %%clo: f32[] = [-0.25]\n  const %%chi: f32[] = [2]\n%s}\n",
             n, n, n, chains);
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *a = parse(ctx, text), *b = parse(ctx, text);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    kiln_pipeline p;
    kiln_pipeline_run_opts opts = {.verify = true};
    CU_ASSERT_EQUAL_FATAL(kiln_pipeline_parse(ctx, "fuse-elementwise,dce", &p), KILN_OK);
    CU_ASSERT_EQUAL_FATAL(kiln_pipeline_run(ctx, b, &p, &opts), KILN_OK);
    uint32_t fused = 0, others = 0;
    for (uint32_t id = 1; id < b->n_nodes; id++)
        if (b->nodes[id].op == KILN_OP_FUSEDELEMENTWISE)
            fused++;
        else
            others++;
    if (fused != 5 || others != 0)
        fprintf(stderr, "\n  n = %d: %u fused nodes and %u others, want 5 and 0", n, fused, others);
    CU_ASSERT_EQUAL(fused, 5);
    CU_ASSERT_EQUAL(others, 0);

    size_t count = (size_t)3 * (size_t)n;
    float *x = malloc((count + 1) * sizeof *x), *z = malloc((count + 1) * sizeof *z);
    float *r = malloc(((size_t)n + 1) * sizeof *r);
    fill(x, count, &st);
    fill(z, count, &st);
    for (int i = 0; i < n; i++)
        r[i] = i % 5 == 2 ? 0.0f : uniform(&st, -2.0f, 2.0f);
    kiln_tensor in[3] = {{.dtype = KILN_DT_F32, .shape = a->values[a->inputs[0]].shape, .data = x,
                          .nbytes = count * sizeof *x},
                         {.dtype = KILN_DT_F32, .shape = a->values[a->inputs[1]].shape, .data = z,
                          .nbytes = count * sizeof *z},
                         {.dtype = KILN_DT_F32, .shape = a->values[a->inputs[2]].shape, .data = r,
                          .nbytes = (size_t)n * sizeof *r}};
    kiln_tensor ya[5] = {{0}}, yb[5];
    kiln_status s = kiln_interp_run(ctx, a, in, 3, ya);
    if (s == KILN_OK && (s = kiln_interp_run(ctx, b, in, 3, yb)) == KILN_OK) {
        for (int k = 0; k < 5; k++) {
            char what[64];
            snprintf(what, sizeof what, "n = %d, y%d", n, k + 1);
            CU_ASSERT_EQUAL(ya[k].nbytes, count * sizeof(float));
            CU_ASSERT_TRUE(same_bits(yb[k].data, ya[k].data, count, what));
        }
        kiln_interp_free_outputs(yb, 5);
    }
    if (s != KILN_OK)
        fprintf(stderr, "\n  %s", kiln_ctx_message(ctx));
    CU_ASSERT_EQUAL(s, KILN_OK);
    if (ya[0].data || s == KILN_OK)
        kiln_interp_free_outputs(ya, 5);
    free(x), free(z), free(r);
    kiln_graph_destroy(a), kiln_graph_destroy(b);
    kiln_ctx_destroy(ctx);
}

static void test_fused_equals_unfused(void)
{
    static const int lengths[] = {0, 1, 15, 16, 17, 1000};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++)
        check_length(lengths[i]);
}

/* ---- programs shape inference refuses --------------------------------------------- */

static void test_bad_programs(void)
{
    static const struct {
        const char *attrs, *want;
    } cases[] = {
        {"{args = [0, 1], ops = [\"tan\"]}", "unknown op 'tan'"},
        {"{args = [0, 1], ops = [\"add\"]}", "operands 0, 1"},            /* slot 1 is its own result */
        {"{args = [0, 0], ops = [\"neg\"]}", "'neg' takes 1 operand"},
        {"{args = [0], ops = [\"neg\"]}", "two slots per instruction"},
        {"{args = [0, -1], ops = [\"clip\"], params = [1]}", "two floats per instruction"},
        {"{args = [0, -1]}", "attribute 'ops'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "kiln-ir 1\ngraph @g (%%x: f32[4]) -> (%%y) {\n"
                 "  %%y = kiln.FusedElementwise(%%x) %s\n}\n", cases[i].attrs);
        kiln_ctx *ctx = kiln_ctx_create();
        kiln_graph *g = NULL;
        kiln_status st = kiln_text_parse(ctx, text, strlen(text), "t.kir", &g);
        if (st == KILN_OK)
            st = kiln_graph_infer(ctx, g);
        CU_ASSERT_NOT_EQUAL(st, KILN_OK);
        if (st != KILN_OK && !strstr(kiln_ctx_message(ctx), cases[i].want))
            fprintf(stderr, "\n  case %zu: got \"%s\", want \"%s\"", i, kiln_ctx_message(ctx), cases[i].want);
        CU_ASSERT_PTR_NOT_NULL(strstr(kiln_ctx_message(ctx), cases[i].want));
        kiln_graph_destroy(g);
        kiln_ctx_destroy(ctx);
    }
}

static CU_TestInfo tests[] = {
    {"fused_ew kernel: FULL/ROW/SCALAR, split, in place, against a naive loop", test_kernel_layouts},
    {"fuse-elementwise: every op, lengths 0..1000, bit-equal to the unfused graph", test_fused_equals_unfused},
    {"kiln.FusedElementwise: bad programs are refused by inference", test_bad_programs},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"fused_ew", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
