/* test_flops.c — ir/flops.c: every op has a row, and the counts on small
 * graphs whose FLOPs are worked out by hand below (not by kiln). The
 * e2e profile test (tests/e2e/profile.sh) runs the graph of
 * tests/e2e/profile.kir through every backend and checks its FLOP column
 * against the same numbers.
 */
#include "cunit_main.h"
#include "ir/flops.h"
#include "ir/text.h"

#include <stdio.h>
#include <string.h>

static void test_every_op_has_a_row(void)
{
    int missing = 0;
    for (int op = 0; op < KILN_OP_COUNT; op++)
        if (!kiln_flops_has_row((kiln_op)op)) {
            fprintf(stderr, "\n  op %s: no row in ir/flops.c", kiln_op_name((kiln_op)op));
            missing++;
        }
    CU_ASSERT_EQUAL(missing, 0);
    CU_ASSERT_PTR_NULL(kiln_flops_rule(KILN_OP_RESHAPE));   /* no arithmetic */
    CU_ASSERT_PTR_NOT_NULL(kiln_flops_rule(KILN_OP_MATMUL));
}

static kiln_graph *parse(kiln_ctx *ctx, const char *text)
{
    kiln_graph *g = NULL;
    kiln_status st = kiln_text_parse(ctx, text, strlen(text), "test.kir", &g);
    if (st == KILN_OK)
        st = kiln_graph_infer(ctx, g);
    if (st != KILN_OK)
        fprintf(stderr, "\n  %s\n", kiln_ctx_message(ctx));
    CU_ASSERT_FATAL(st == KILN_OK);
    return g;
}

/* The FLOPs of the node producing `out`. */
static double flops_of(const kiln_graph *g, const char *out, bool *sym_used)
{
    for (uint32_t id = 1; id < g->n_nodes; id++) {
        const kiln_value *y = kiln_out(g, &g->nodes[id], 0);
        if (y && strcmp(y->name, out) == 0)
            return kiln_node_flops(g, g->values, id, sym_used);
    }
    CU_FAIL("no such node");
    return -2;
}

/* The same graph as tests/e2e/profile.kir (that file's comment repeats
 * these numbers; keep the two in step). */
static const char graph_text[] =
    "kiln-ir 1\n"
    "graph @flops opset(\"\"=17) (%a: f32[2,3,8], %b: f32[8,6], %m: f32[3,8], %c: f32[6],\n"
    "    %img: f32[1,4,9,9], %w: f32[6,2,3,3], %bias: f32[6], %qkv: f32[2,4,24], %g: f32[8], %be: f32[8])\n"
    "    -> (%mm, %gm, %cv, %att, %sm, %ln, %ge, %ad, %tr, %s3, %mp, %fm) {\n"
    "  %mm = MatMul(%a, %b)\n"
    "  %gm = Gemm(%m, %b, %c)\n"
    "  %cv = Conv(%img, %w, %bias) {group = 2, kernel_shape = [3, 3], pads = [1, 1, 1, 1]}\n"
    "  %att = kiln.Attention(%qkv, %qkv, %qkv) {batch = 2, heads = 2, head_dim = 4, q_tokens = 4, "
    "kv_tokens = 4, scale = 0.5, q_layout = [0, 96, 4, 24], k_layout = [8, 96, 4, 24], "
    "v_layout = [16, 96, 4, 24], y_shape = [2, 2, 4, 4], y_layout = [32, 16, 4]}\n"
    "  %sm = Softmax(%mm)\n"
    "  %ln = LayerNormalization(%a, %g, %be)\n"
    "  %ge = kiln.Gelu(%mm)\n"
    "  %ad = Add(%mm, %mm)\n"
    "  %tr = Transpose(%mm)\n"
    "  %s3 = Sum(%mm, %mm, %mm)\n"
    "  %mp = MaxPool(%img) {kernel_shape = [3, 3], strides = [3, 3]}\n"
    "  %fm = kiln.FusedMatMul(%a, %b, %c, _) {activation = \"relu\"}\n"
    "}\n";

static void test_counts_by_hand(void)
{
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = parse(ctx, graph_text);
    /* MatMul [2,3,8] x [8,6]: 36 outputs, K 8: 2*36*8 */
    CU_ASSERT_DOUBLE_EQUAL(flops_of(g, "mm", NULL), 576, 0);
    /* Gemm [3,8] x [8,6] + c: 2*18*8 + 18 bias adds */
    CU_ASSERT_DOUBLE_EQUAL(flops_of(g, "gm", NULL), 306, 0);
    /* Conv, 4 channels in 2 groups, 6 filters 3x3, same padding: 6*9*9 =
     * 486 outputs, each 2*3*3 = 18 multiply-adds, + 486 bias adds */
    CU_ASSERT_DOUBLE_EQUAL(flops_of(g, "cv", NULL), 2 * 486 * 18 + 486, 0);
    /* Attention B2 H2 Nq4 Nk4 D4: 64 scores, each 2*4 (q.k) + 2*4 (p.v) + 7 */
    CU_ASSERT_DOUBLE_EQUAL(flops_of(g, "att", NULL), 64 * 23, 0);
    /* Softmax over 36 elements, 5 each */
    CU_ASSERT_DOUBLE_EQUAL(flops_of(g, "sm", NULL), 180, 0);
    /* LayerNormalization over 48 elements, 8 each */
    CU_ASSERT_DOUBLE_EQUAL(flops_of(g, "ln", NULL), 384, 0);
    /* Gelu (erf form): 5 per element */
    CU_ASSERT_DOUBLE_EQUAL(flops_of(g, "ge", NULL), 180, 0);
    CU_ASSERT_DOUBLE_EQUAL(flops_of(g, "ad", NULL), 36, 0);
    CU_ASSERT_DOUBLE_EQUAL(flops_of(g, "tr", NULL), 0, 0);
    /* Sum of 3: 2 adds per element */
    CU_ASSERT_DOUBLE_EQUAL(flops_of(g, "s3", NULL), 72, 0);
    /* MaxPool 3x3 stride 3 on 9x9: 4*3*3 outputs, 9 each */
    CU_ASSERT_DOUBLE_EQUAL(flops_of(g, "mp", NULL), 324, 0);
    /* FusedMatMul = the MatMul + bias + relu: 576 + 2*36 */
    CU_ASSERT_DOUBLE_EQUAL(flops_of(g, "fm", NULL), 648, 0);
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
}

/* Shared probabilities (p_in) and re-attention: only p.v (2*D per score)
 * and the head mix (2*H per score). */
static void test_attention_shared(void)
{
    static const char text[] =
        "kiln-ir 1\n"
        "graph @att (%v: f32[2,4,8], %p: f32[2,2,4,4], %mix: f32[2,2], %s: f32[2], %t: f32[2]) -> (%y) {\n"
        "  %y = kiln.Attention(_, _, %v, _, %p, %mix, %s, %t) {batch = 2, heads = 2, head_dim = 4, "
        "q_tokens = 4, kv_tokens = 4, scale = 0.5, q_layout = [0, 0, 0, 0], k_layout = [0, 0, 0, 0], "
        "v_layout = [0, 32, 4, 8], y_shape = [2, 4, 8], y_layout = [32, 4, 8]}\n"
        "}\n";
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = parse(ctx, text);
    CU_ASSERT_DOUBLE_EQUAL(flops_of(g, "y", NULL), 64 * (8 + 4), 0);
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
}

/* A symbolic dimension counts as 1 and is reported; Einsum's loop nest. */
static void test_symbols_and_einsum(void)
{
    static const char text[] =
        "kiln-ir 1\n"
        "graph @sym opset(\"\"=17) (%x: f32[N,8], %w: f32[8,6], %q: f32[2,3,5,4], %k: f32[2,3,7,4]) -> (%y, %e) {\n"
        "  %y = MatMul(%x, %w)\n"
        "  %e = Einsum(%q, %k) {equation = \"bhqd,bhkd->bhqk\"}\n"
        "}\n";
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = parse(ctx, text);
    bool used[8] = {0};
    CU_ASSERT_FATAL(g->n_syms <= 8);
    CU_ASSERT_DOUBLE_EQUAL(flops_of(g, "y", used), 2 * 6 * 8, 0);
    bool any = false;
    for (uint32_t k = 1; k < g->n_syms; k++)
        any |= used[k];
    CU_ASSERT(any);
    /* b2 h3 q5 k7 d4: 2*3*5*7*4 multiply-adds */
    CU_ASSERT_DOUBLE_EQUAL(flops_of(g, "e", NULL), 2.0 * 2 * 3 * 5 * 7 * 4, 0);
    CU_ASSERT_DOUBLE_EQUAL(kiln_node_flops_known(g, g->values, 1), 96, 0);
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
}

static CU_TestInfo tests[] = {
    {"every op has a row", test_every_op_has_a_row},
    {"counts by hand", test_counts_by_hand},
    {"attention with shared probabilities", test_attention_shared},
    {"symbols and einsum", test_symbols_and_einsum},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"flops", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
