/* test_elementwise_interp.c — the elementwise family's lowering
 * (ir/lower_elementwise.c), run through kiln_interp_run on one-node graphs:
 * attribute defaults and choices reach the kernels, variadic folding,
 * optional inputs and outputs, and the unsupported-dtype message. Expected
 * values are computed by hand or by naive loops here. */
#include "cunit_main.h"
#include "ir/interp.h"

#include <math.h>
#include <string.h>

static kiln_ctx *ctx;
static kiln_graph *g;

static void fresh(void)
{
    if (g)
        kiln_graph_destroy(g);
    if (!ctx)
        ctx = kiln_ctx_create();
    g = kiln_graph_create("t", "t.onnx");
}

static int cleanup(void)
{
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
    g = NULL;
    ctx = NULL;
    return 0;
}

static kiln_tensor tensor(kiln_dtype dt, int rank, const int64_t *dims, const void *data)
{
    kiln_tensor t = {.dtype = dt, .shape = kiln_shape_make(rank, dims), .data = data};
    int64_t n;
    kiln_shape_numel(&t.shape, &n);
    t.nbytes = (size_t)n * kiln_dtype_size(dt);
    return t;
}

/* A graph input per tensor, one node named 'n' with n_out outputs that
 * are all graph outputs; returns the node. in_map[i] = 0 leaves node
 * input i absent, k > 0 uses graph input k-1. */
static uint32_t build(kiln_op op, const kiln_tensor *ins, uint32_t n_ins, const int *in_map,
                      uint32_t n_node_in, uint32_t n_out)
{
    uint32_t gin[8], nin[8], outs[4];
    for (uint32_t i = 0; i < n_ins; i++) {
        char name[16];
        snprintf(name, sizeof name, "x%u", i);
        gin[i] = kiln_input_add(g, name, ins[i].dtype, &ins[i].shape);
    }
    for (uint32_t i = 0; i < n_node_in; i++)
        nin[i] = in_map ? (in_map[i] ? gin[in_map[i] - 1] : 0) : gin[i];
    for (uint32_t i = 0; i < n_out; i++) {
        outs[i] = kiln_value_add(g, i == 0 ? "y" : i == 1 ? "y1" : "y2");
        kiln_output_add(g, outs[i]);
    }
    return kiln_node_add(g, op, "n", nin, n_node_in, outs, n_out);
}

static kiln_status run(const kiln_tensor *ins, uint32_t n_ins, kiln_tensor *outs)
{
    kiln_status st = kiln_interp_run(ctx, g, ins, n_ins, outs);
    if (st)
        fprintf(stderr, "\n  %s", kiln_ctx_message(ctx));
    return st;
}

static void test_unary_attribute_defaults(void)
{
    /* LeakyRelu default alpha 0.01; Elu with alpha 2; HardSigmoid defaults 0.2/0.5 */
    float x[4] = {-2, -0.5f, 0, 3};
    int64_t d = 4;
    kiln_tensor in = tensor(KILN_DT_F32, 1, &d, x), out;
    fresh();
    build(KILN_OP_LEAKYRELU, &in, 1, NULL, 1, 1);
    CU_ASSERT_EQUAL_FATAL(run(&in, 1, &out), KILN_OK);
    const float *y = out.data;
    CU_ASSERT(y[0] == -2 * 0.01f && y[1] == -0.5f * 0.01f && y[2] == 0 && y[3] == 3);
    kiln_interp_free_outputs(&out, 1);

    fresh();
    uint32_t nd = build(KILN_OP_ELU, &in, 1, NULL, 1, 1);
    kiln_attr_set_float(g, nd, "alpha", 2.0f);
    CU_ASSERT_EQUAL_FATAL(run(&in, 1, &out), KILN_OK);
    y = out.data;
    CU_ASSERT(fabsf(y[0] - 2 * (expf(-2) - 1)) < 1e-6f && y[3] == 3);
    kiln_interp_free_outputs(&out, 1);

    fresh();
    build(KILN_OP_HARDSIGMOID, &in, 1, NULL, 1, 1);
    CU_ASSERT_EQUAL_FATAL(run(&in, 1, &out), KILN_OK);
    y = out.data;
    CU_ASSERT(fabsf(y[0] - 0.1f) < 1e-7f && fabsf(y[1] - 0.4f) < 1e-7f && y[2] == 0.5f && y[3] == 1);
    kiln_interp_free_outputs(&out, 1);
}

static void test_mean_of_three_broadcast(void)
{
    float a[3] = {1, 2, 3}, b[6] = {10, 20, 30, 40, 50, 60}, c = 7;
    int64_t da = 3, db[2] = {2, 3};
    kiln_tensor ins[3] = {tensor(KILN_DT_F32, 1, &da, a), tensor(KILN_DT_F32, 2, db, b),
                          tensor(KILN_DT_F32, 0, NULL, &c)};
    kiln_tensor out;
    fresh();
    build(KILN_OP_MEAN, ins, 3, NULL, 3, 1);
    CU_ASSERT_EQUAL_FATAL(run(ins, 3, &out), KILN_OK);
    CU_ASSERT_EQUAL(out.shape.rank, 2);
    const float *y = out.data;
    for (int i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(y[i], (a[i % 3] + b[i] + c) / 3);
    kiln_interp_free_outputs(&out, 1);
}

static void test_max_single_input(void)
{
    int16_t a[3] = {-1, 5, 2};
    int64_t d = 3;
    kiln_tensor in = tensor(KILN_DT_I16, 1, &d, a), out;
    fresh();
    build(KILN_OP_MAX, &in, 1, NULL, 1, 1);
    CU_ASSERT_EQUAL_FATAL(run(&in, 1, &out), KILN_OK);
    CU_ASSERT_EQUAL(memcmp(out.data, a, sizeof a), 0);
    kiln_interp_free_outputs(&out, 1);
}

static void test_mod_and_bitshift_attributes(void)
{
    int32_t a[2] = {-7, 7}, b[2] = {3, -3};
    int64_t d = 2;
    kiln_tensor ins[2] = {tensor(KILN_DT_I32, 1, &d, a), tensor(KILN_DT_I32, 1, &d, b)}, out;
    fresh();
    build(KILN_OP_MOD, ins, 2, NULL, 2, 1);  /* fmod = 0: Python's sign rule */
    CU_ASSERT_EQUAL_FATAL(run(ins, 2, &out), KILN_OK);
    CU_ASSERT(((const int32_t *)out.data)[0] == 2 && ((const int32_t *)out.data)[1] == -2);
    kiln_interp_free_outputs(&out, 1);
    fresh();
    uint32_t nd = build(KILN_OP_MOD, ins, 2, NULL, 2, 1);
    kiln_attr_set_int(g, nd, "fmod", 1);
    CU_ASSERT_EQUAL_FATAL(run(ins, 2, &out), KILN_OK);
    CU_ASSERT(((const int32_t *)out.data)[0] == -1 && ((const int32_t *)out.data)[1] == 1);
    kiln_interp_free_outputs(&out, 1);

    uint8_t x[2] = {0x81, 3}, s[2] = {1, 2};
    kiln_tensor bins[2] = {tensor(KILN_DT_U8, 1, &d, x), tensor(KILN_DT_U8, 1, &d, s)};
    const char *dirs[2] = {"LEFT", "RIGHT"};
    uint8_t want[2][2] = {{0x02, 12}, {0x40, 0}};
    for (int k = 0; k < 2; k++) {
        fresh();
        nd = build(KILN_OP_BITSHIFT, bins, 2, NULL, 2, 1);
        kiln_attr_set_string(g, nd, "direction", dirs[k]);
        CU_ASSERT_EQUAL_FATAL(run(bins, 2, &out), KILN_OK);
        CU_ASSERT_EQUAL(memcmp(out.data, want[k], 2), 0);
        kiln_interp_free_outputs(&out, 1);
    }
}

static void test_clip_with_absent_min(void)
{
    float x[4] = {-5, 0, 5, 10}, hi = 4;
    int64_t d = 4;
    kiln_tensor ins[2] = {tensor(KILN_DT_F32, 1, &d, x), tensor(KILN_DT_F32, 0, NULL, &hi)}, out;
    int map[3] = {1, 0, 2};
    fresh();
    build(KILN_OP_CLIP, ins, 2, map, 3, 1);
    CU_ASSERT_EQUAL_FATAL(run(ins, 2, &out), KILN_OK);
    const float *y = out.data;
    CU_ASSERT(y[0] == -5 && y[1] == 0 && y[2] == 4 && y[3] == 4);
    kiln_interp_free_outputs(&out, 1);
}

static void test_dropout_mask_and_cast(void)
{
    float x[3] = {1.5f, -2.7f, 0};
    int64_t d = 3;
    kiln_tensor in = tensor(KILN_DT_F32, 1, &d, x), outs[2];
    fresh();
    build(KILN_OP_DROPOUT, &in, 1, NULL, 1, 2);
    CU_ASSERT_EQUAL_FATAL(run(&in, 1, outs), KILN_OK);
    CU_ASSERT_EQUAL(memcmp(outs[0].data, x, sizeof x), 0);
    const uint8_t *mask = outs[1].data;
    CU_ASSERT(outs[1].dtype == KILN_DT_BOOL && mask[0] == 1 && mask[1] == 1 && mask[2] == 1);
    kiln_interp_free_outputs(outs, 2);

    fresh();
    uint32_t nd = build(KILN_OP_CAST, &in, 1, NULL, 1, 1);
    kiln_attr_set_string(g, nd, "to", "i64");
    CU_ASSERT_EQUAL_FATAL(run(&in, 1, outs), KILN_OK);
    const int64_t *iy = outs[0].data;
    CU_ASSERT(outs[0].dtype == KILN_DT_I64 && iy[0] == 1 && iy[1] == -2 && iy[2] == 0);
    kiln_interp_free_outputs(outs, 1);
}

static void test_where_and_pow(void)
{
    uint8_t c[2] = {1, 0};
    float a[2] = {1, 2}, b = 9;
    int64_t d = 2;
    kiln_tensor ins[3] = {tensor(KILN_DT_BOOL, 1, &d, c), tensor(KILN_DT_F32, 1, &d, a),
                          tensor(KILN_DT_F32, 0, NULL, &b)}, out;
    fresh();
    build(KILN_OP_WHERE, ins, 3, NULL, 3, 1);
    CU_ASSERT_EQUAL_FATAL(run(ins, 3, &out), KILN_OK);
    CU_ASSERT(((const float *)out.data)[0] == 1 && ((const float *)out.data)[1] == 9);
    kiln_interp_free_outputs(&out, 1);

    int32_t base[2] = {3, -2};
    int64_t e[2] = {4, 3};
    kiln_tensor pins[2] = {tensor(KILN_DT_I32, 1, &d, base), tensor(KILN_DT_I64, 1, &d, e)};
    fresh();
    build(KILN_OP_POW, pins, 2, NULL, 2, 1);
    CU_ASSERT_EQUAL_FATAL(run(pins, 2, &out), KILN_OK);
    CU_ASSERT(out.dtype == KILN_DT_I32);
    CU_ASSERT(((const int32_t *)out.data)[0] == 81 && ((const int32_t *)out.data)[1] == -8);
    kiln_interp_free_outputs(&out, 1);
}

static void test_quantize_axis_and_dynamic(void)
{
    /* x [2,2,2] per axis 1 (negative: -2), scale [2] = {1, 10}, zp {0, 100}:
     * y = sat(round(x / s) + zp), computed by hand */
    float x[8] = {1.4f, 2.5f, 10, 14, -3.5f, 300, -1000, 25};
    float s[2] = {1, 10};
    uint8_t z[2] = {0, 100};
    int64_t dx[3] = {2, 2, 2}, ds = 2;
    kiln_tensor ins[3] = {tensor(KILN_DT_F32, 3, dx, x), tensor(KILN_DT_F32, 1, &ds, s),
                          tensor(KILN_DT_U8, 1, &ds, z)}, outs[3];
    fresh();
    uint32_t nd = build(KILN_OP_QUANTIZELINEAR, ins, 3, NULL, 3, 1);
    kiln_attr_set_int(g, nd, "axis", -2);
    CU_ASSERT_EQUAL_FATAL(run(ins, 3, outs), KILN_OK);
    uint8_t want[8] = {1, 2, 101, 101, 0, 255, 0, 102};
    CU_ASSERT_EQUAL(memcmp(outs[0].data, want, 8), 0);
    kiln_interp_free_outputs(outs, 1);

    float dq[4] = {-1, 0, 1, 2.5f};
    int64_t d4 = 4;
    kiln_tensor din = tensor(KILN_DT_F32, 1, &d4, dq);
    fresh();
    build(KILN_OP_DYNAMICQUANTIZELINEAR, &din, 1, NULL, 1, 3);
    CU_ASSERT_EQUAL_FATAL(run(&din, 1, outs), KILN_OK);
    /* range [-1, 2.5]: scale 3.5/255, zero point round(255/3.5) = 73 */
    float scale = *(const float *)outs[1].data;
    CU_ASSERT(fabsf(scale - 3.5f / 255) < 1e-9f);
    CU_ASSERT_EQUAL(*(const uint8_t *)outs[2].data, 73);
    CU_ASSERT_EQUAL(((const uint8_t *)outs[0].data)[0], 0);
    CU_ASSERT_EQUAL(((const uint8_t *)outs[0].data)[3], 255);
    kiln_interp_free_outputs(outs, 3);
}

static void test_missing_kernel_is_unsupported(void)
{
    int32_t x[2] = {1, 2};
    int64_t d = 2;
    kiln_tensor in = tensor(KILN_DT_I32, 1, &d, x), out;
    fresh();
    build(KILN_OP_ERF, &in, 1, NULL, 1, 1);  /* the spec allows integer Erf; kiln has no kernel */
    CU_ASSERT_EQUAL(kiln_interp_run(ctx, g, &in, 1, &out), KILN_ERR_UNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(kiln_ctx_message(ctx), "node 'n' (Erf)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(kiln_ctx_message(ctx), "no Erf kernel for i32"));
}

static CU_TestInfo tests[] = {
    {"unary attribute defaults", test_unary_attribute_defaults},
    {"Mean of three, broadcast", test_mean_of_three_broadcast},
    {"Max of one input", test_max_single_input},
    {"Mod fmod and BitShift direction", test_mod_and_bitshift_attributes},
    {"Clip without min", test_clip_with_absent_min},
    {"Dropout mask, Cast", test_dropout_mask_and_cast},
    {"Where, Pow", test_where_and_pow},
    {"QuantizeLinear per axis, DynamicQuantizeLinear", test_quantize_axis_and_dynamic},
    {"missing kernel is unsupported", test_missing_kernel_is_unsupported},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"elementwise interpreter", NULL, cleanup, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
