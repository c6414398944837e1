/* test_kiln_ops.c — kiln's own ops (domain "kiln", ops.def's last
 * section): they print and parse as kiln.<Name>, infer, lower and run like
 * any other op. Expected values are from Python's math module (erf, tanh)
 * in double precision, independent of kiln's kernels. */
#include "cunit_main.h"
#include "ir/interp.h"
#include "ir/text.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static const float xs[8] = {-3.0f, -1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 2.0f, 4.0f};

/* 0.5 x (1 + erf(x / sqrt 2)) */
static const double gelu_erf[8] = {
    -0.00404969409489031, -0.15865525393145707, -0.15426876936299344, 0.0,
    0.34573123063700656,  0.8413447460685429,   1.9544997361036416,   3.9998733150326675,
};
/* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
static const double gelu_tanh[8] = {
    -0.0036373920817729943, -0.15880800939172324, -0.15428599017485606, 0.0,
    0.34571400982514394,    0.8411919906082768,   1.954597694087775,    3.9999297540518075,
};

static kiln_graph *parse(kiln_ctx *ctx, const char *text, kiln_status want)
{
    kiln_graph *g = NULL;
    kiln_status st = kiln_text_parse(ctx, text, strlen(text), "t.kir", &g);
    if (st == KILN_OK)
        st = kiln_graph_infer(ctx, g);
    if (st != want)
        fprintf(stderr, "\n  %s\n", kiln_ctx_message(ctx));
    CU_ASSERT_EQUAL(st, want);
    return g;
}

static void run_gelu(const char *attrs, const double *want)
{
    char text[512];
    snprintf(text, sizeof text,
             "kiln-ir 1\ngraph @g (%%x: f32[8]) -> (%%y) {\n  %%y = kiln.Gelu(%%x)%s\n}\n", attrs);
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = parse(ctx, text, KILN_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    kiln_tensor in = {.dtype = KILN_DT_F32, .shape = kiln_shape_make(1, (int64_t[]){8}),
                      .data = xs, .nbytes = sizeof xs}, out;
    CU_ASSERT_EQUAL_FATAL(kiln_interp_run(ctx, g, &in, 1, &out), KILN_OK);
    const float *y = out.data;
    for (int i = 0; i < 8; i++)
        CU_ASSERT_DOUBLE_EQUAL(y[i], want[i], 1e-6);
    kiln_interp_free_outputs(&out, 1);
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
}

static void test_gelu_erf(void)
{
    run_gelu("", gelu_erf);
    run_gelu(" {approximate = \"none\"}", gelu_erf);
}

static void test_gelu_tanh(void)
{
    run_gelu(" {approximate = \"tanh\"}", gelu_tanh);
}

/* The text IR spells it kiln.Gelu both ways; a bare "Gelu" is not an op
 * (kiln reads ONNX opsets up to 18, which have none). */
static void test_gelu_text_round_trip(void)
{
    const char *text = "kiln-ir 1\n"
                       "graph @g (%x: f32[2,3]) -> (%y) {\n"
                       "  %y: f32[2,3] = kiln.Gelu(%x) {approximate = \"tanh\"}\n"
                       "}\n";
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = parse(ctx, text, KILN_OK);
    char *printed = kiln_text_format(g);
    CU_ASSERT_STRING_EQUAL(printed, text);
    free(printed);
    kiln_graph_destroy(g);
    g = parse(ctx, "kiln-ir 1\ngraph @g (%x: f32[2]) -> (%y) {\n  %y = Gelu(%x)\n}\n",
              KILN_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(kiln_ctx_message(ctx), "unknown operator 'Gelu'"));
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
}

static void test_gelu_bad_attribute(void)
{
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = parse(ctx,
                          "kiln-ir 1\ngraph @g (%x: f32[2]) -> (%y) {\n"
                          "  %y = kiln.Gelu(%x) {approximate = \"fast\"} #act\n}\n",
                          KILN_ERR_INVALID);
    CU_ASSERT_STRING_EQUAL(kiln_ctx_message(ctx), "t.kir: node 'act' (kiln.Gelu): attribute 'approximate' "
                                                  "must be \"none\" or \"tanh\", got \"fast\"");
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
}

static CU_TestInfo gelu_tests[] = {
    {"kiln.Gelu exact (erf)", test_gelu_erf},
    {"kiln.Gelu tanh approximation", test_gelu_tanh},
    {"kiln.Gelu text round trip", test_gelu_text_round_trip},
    {"kiln.Gelu bad attribute", test_gelu_bad_attribute},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"kiln ops", NULL, NULL, NULL, NULL, gelu_tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
