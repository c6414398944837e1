/* test_linalg_eval.c — the linalg family through the interpreter
 * (ir/lower_linalg.c + the kernels): small graphs run with kiln_interp_run, outputs
 * checked against values worked out by hand, optional outputs, shapes that
 * depend on data known only at run time, and the run-time errors (bad
 * index, bad batch index, bad sequence length, dtype without a kernel),
 * whose messages must name the node and the bad value. */
#include "cunit_main.h"
#include "ir/interp.h"
#include "runtime/krt.h"

#include <math.h>
#include <string.h>

static kiln_ctx *ctx;
static kiln_graph *g;
static uint32_t last;

static int setup(void)
{
    ctx = kiln_ctx_create();
    g = kiln_graph_create("t", "t.onnx");
    return 0;
}

static int teardown(void)
{
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
    return 0;
}

static void reset(void)
{
    teardown();
    setup();
}

static kiln_shape shape(int rank, const int64_t *dims)
{
    return kiln_shape_make(rank, dims);
}

static uint32_t input(const char *name, kiln_dtype dt, int rank, const int64_t *dims)
{
    kiln_shape s = shape(rank, dims);
    return kiln_input_add(g, name, dt, &s);
}

static uint32_t constant(const char *name, kiln_dtype dt, int rank, const int64_t *dims, const void *data)
{
    kiln_shape s = shape(rank, dims);
    int64_t n = 1;
    kiln_shape_numel(&s, &n);
    return kiln_const_add(g, name, dt, &s, data, (size_t)n * kiln_dtype_size(dt), true);
}

/* Node 'n' with n_out outputs, all graph outputs. */
static void node(kiln_op op, const uint32_t *ins, uint32_t n_in, uint32_t n_out)
{
    uint32_t outs[4];
    char name[16];
    for (uint32_t i = 0; i < n_out; i++) {
        snprintf(name, sizeof name, "y%u", i);
        outs[i] = kiln_value_add(g, name);
    }
    last = kiln_node_add(g, op, "n", ins, n_in, outs, n_out);
    for (uint32_t i = 0; i < n_out; i++)
        kiln_output_add(g, outs[i]);
}

#define NODE(op, n_out, ...) node(op, (uint32_t[]){__VA_ARGS__}, \
                                  sizeof((uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t), n_out)
#define DIMS(...) (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__}

static kiln_tensor tensor(kiln_dtype dt, int rank, const int64_t *dims, const void *data)
{
    kiln_tensor t = {.dtype = dt, .shape = shape(rank, dims), .data = data};
    int64_t n = 1;
    kiln_shape_numel(&t.shape, &n);
    t.nbytes = (size_t)n * kiln_dtype_size(dt);
    return t;
}

/* Infers, then runs; returns the status (outputs in out[] when OK). */
static kiln_status run(const kiln_tensor *ins, uint32_t n_in, kiln_tensor *out)
{
    kiln_status st = kiln_graph_infer(ctx, g);
    if (st == KILN_OK)
        st = kiln_interp_run(ctx, g, ins, n_in, out);
    return st;
}

static void expect_message(kiln_status st, kiln_status want, const char *text)
{
    const char *msg = kiln_ctx_message(ctx);
    CU_ASSERT_EQUAL(st, want);
    if (!strstr(msg, "t.onnx: node 'n'") || !strstr(msg, text))
        fprintf(stderr, "\n  message \"%s\" lacks \"%s\"", msg, text);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "t.onnx: node 'n'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, text));
}

static void expect_floats(const kiln_tensor *t, const float *want, int n)
{
    CU_ASSERT_EQUAL_FATAL(t->nbytes, (size_t)n * 4);
    const float *got = t->data;
    for (int i = 0; i < n; i++) {
        if (fabsf(got[i] - want[i]) > 1e-5f)
            fprintf(stderr, "\n  [%d] got %g want %g", i, got[i], want[i]);
        CU_ASSERT(fabsf(got[i] - want[i]) <= 1e-5f);
    }
}

/* ---- results ------------------------------------------------------------------- */

static void test_conv_graph(void)
{
    /* x (1,1,3,3) = 1..9, w (2,1,2,2) = [[1 0][0 1]] and all 1, bias (10, 20):
     * y0 = x[i][j] + x[i+1][j+1] + 10, y1 = window sum + 20 */
    reset();
    const float w[8] = {1, 0, 0, 1, 1, 1, 1, 1}, b[2] = {10, 20};
    NODE(KILN_OP_CONV, 1, input("x", KILN_DT_F32, DIMS(1, 1, 3, 3)),
         constant("w", KILN_DT_F32, DIMS(2, 1, 2, 2), w), constant("b", KILN_DT_F32, DIMS(2), b));
    const float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    kiln_tensor in = tensor(KILN_DT_F32, DIMS(1, 1, 3, 3), x), out;
    CU_ASSERT_EQUAL_FATAL(run(&in, 1, &out), KILN_OK);
    CU_ASSERT_EQUAL(out.shape.rank, 4);
    CU_ASSERT_EQUAL(out.shape.dim[1], 2);
    expect_floats(&out, (float[]){16, 18, 22, 24, 32, 36, 44, 48}, 8);
    kiln_interp_free_outputs(&out, 1);
}

static void test_maxpool_two_outputs(void)
{
    reset();
    NODE(KILN_OP_MAXPOOL, 2, input("x", KILN_DT_F32, DIMS(1, 1, 2, 4)));
    kiln_attr_set_ints(g, last, "kernel_shape", (int64_t[]){2, 2}, 2);
    kiln_attr_set_ints(g, last, "strides", (int64_t[]){2, 2}, 2);
    const float x[8] = {1, 9, 3, 2, 5, 4, 8, 7};
    kiln_tensor in = tensor(KILN_DT_F32, DIMS(1, 1, 2, 4), x), out[2];
    CU_ASSERT_EQUAL_FATAL(run(&in, 1, out), KILN_OK);
    expect_floats(&out[0], (float[]){9, 8}, 2);
    CU_ASSERT_EQUAL(out[1].dtype, KILN_DT_I64);
    CU_ASSERT_EQUAL(((const int64_t *)out[1].data)[0], 1);
    CU_ASSERT_EQUAL(((const int64_t *)out[1].data)[1], 6);
    kiln_interp_free_outputs(out, 2);
}

static void test_gemm_and_matmul(void)
{
    reset();
    const float b[6] = {1, 0, 0, 1, 1, 1}, c[2] = {100, 200};
    NODE(KILN_OP_GEMM, 1, input("a", KILN_DT_F32, DIMS(2, 3)), constant("b", KILN_DT_F32, DIMS(3, 2), b),
         constant("c", KILN_DT_F32, DIMS(2), c));
    kiln_attr_set_float(g, last, "alpha", 2.0f);
    const float a[6] = {1, 2, 3, 4, 5, 6};
    kiln_tensor in = tensor(KILN_DT_F32, DIMS(2, 3), a), out;
    CU_ASSERT_EQUAL_FATAL(run(&in, 1, &out), KILN_OK);
    expect_floats(&out, (float[]){2 * 4 + 100, 2 * 5 + 200, 2 * 10 + 100, 2 * 11 + 200}, 4);
    kiln_interp_free_outputs(&out, 1);

    reset();
    NODE(KILN_OP_MATMUL, 1, input("a", KILN_DT_I32, DIMS(2, 2)), input("b", KILN_DT_I32, DIMS(2)));
    const int32_t ai[4] = {1, 2, 3, 4}, bi[2] = {-1, 5};
    kiln_tensor ins[2] = {tensor(KILN_DT_I32, DIMS(2, 2), ai), tensor(KILN_DT_I32, DIMS(2), bi)};
    CU_ASSERT_EQUAL_FATAL(run(ins, 2, &out), KILN_OK);
    CU_ASSERT_EQUAL(out.shape.rank, 1);
    CU_ASSERT_EQUAL(((const int32_t *)out.data)[0], 9);
    CU_ASSERT_EQUAL(((const int32_t *)out.data)[1], 17);
    kiln_interp_free_outputs(&out, 1);
}

static void test_resize_scales_at_run_time(void)
{
    /* scales is a graph input: the output shape is known only when running */
    reset();
    NODE(KILN_OP_RESIZE, 1, input("x", KILN_DT_F32, DIMS(1, 2)), 0, input("s", KILN_DT_F32, DIMS(2)));
    const float x[2] = {1, 3}, s[2] = {1, 2};
    kiln_tensor ins[2] = {tensor(KILN_DT_F32, DIMS(1, 2), x), tensor(KILN_DT_F32, DIMS(2), s)}, out;
    CU_ASSERT_EQUAL_FATAL(run(ins, 2, &out), KILN_OK);
    CU_ASSERT_EQUAL(out.shape.dim[1], 4);
    expect_floats(&out, (float[]){1, 1, 3, 3}, 4);   /* nearest, half_pixel, round_prefer_floor */
    kiln_interp_free_outputs(&out, 1);
}

static void test_lstm_output_subsets(void)
{
    /* hidden 1, input 1, all weights 0 except the cell's input weight 1 and
     * no bias: i = f = o = 0.5, c_t = 0.5 c + 0.5 tanh(x_t), h = 0.5 tanh(c) */
    for (uint32_t n_out = 1; n_out <= 3; n_out += 2) {
        reset();
        const float w[4] = {0, 0, 0, 1}, r[4] = {0, 0, 0, 0};
        NODE(KILN_OP_LSTM, n_out, input("x", KILN_DT_F32, DIMS(2, 1, 1)),
             constant("w", KILN_DT_F32, DIMS(1, 4, 1), w), constant("r", KILN_DT_F32, DIMS(1, 4, 1), r));
        const float x[2] = {1, -2};
        kiln_tensor in = tensor(KILN_DT_F32, DIMS(2, 1, 1), x), out[3];
        CU_ASSERT_EQUAL_FATAL(run(&in, 1, out), KILN_OK);
        double c1 = 0.5 * tanh(1.0), c2 = 0.5 * c1 + 0.5 * tanh(-2.0);
        expect_floats(&out[0], (float[]){(float)(0.5 * tanh(c1)), (float)(0.5 * tanh(c2))}, 2);
        if (n_out == 3) {
            expect_floats(&out[1], (float[]){(float)(0.5 * tanh(c2))}, 1);
            expect_floats(&out[2], (float[]){(float)c2}, 1);
        }
        kiln_interp_free_outputs(out, n_out);
    }
}

static void test_quantized_graph(void)
{
    /* ConvInteger with padding, the ONNX example: x 2..10, zero point 1, w ones */
    reset();
    const uint8_t w[4] = {1, 1, 1, 1}, xz = 1;
    NODE(KILN_OP_CONVINTEGER, 1, input("x", KILN_DT_U8, DIMS(1, 1, 3, 3)),
         constant("w", KILN_DT_U8, DIMS(1, 1, 2, 2), w), constant("xz", KILN_DT_U8, 0, NULL, &xz));
    kiln_attr_set_ints(g, last, "pads", (int64_t[]){1, 1, 1, 1}, 4);
    const uint8_t x[9] = {2, 3, 4, 5, 6, 7, 8, 9, 10};
    const int32_t want[16] = {1, 3, 5, 3, 5, 12, 16, 9, 11, 24, 28, 15, 7, 15, 17, 9};
    kiln_tensor in = tensor(KILN_DT_U8, DIMS(1, 1, 3, 3), x), out;
    CU_ASSERT_EQUAL_FATAL(run(&in, 1, &out), KILN_OK);
    CU_ASSERT_EQUAL(out.dtype, KILN_DT_I32);
    CU_ASSERT_EQUAL(memcmp(out.data, want, sizeof want), 0);
    kiln_interp_free_outputs(&out, 1);
}

/* ---- run-time errors ------------------------------------------------------------------ */

static void test_maxunpool_bad_index(void)
{
    reset();
    NODE(KILN_OP_MAXUNPOOL, 1, input("x", KILN_DT_F32, DIMS(1, 1, 2, 2)),
         input("i", KILN_DT_I64, DIMS(1, 1, 2, 2)));
    kiln_attr_set_ints(g, last, "kernel_shape", (int64_t[]){2, 2}, 2);
    kiln_attr_set_ints(g, last, "strides", (int64_t[]){2, 2}, 2);
    const float x[4] = {1, 2, 3, 4};
    const int64_t idx[4] = {0, 17, 3, 4};
    kiln_tensor ins[2] = {tensor(KILN_DT_F32, DIMS(1, 1, 2, 2), x), tensor(KILN_DT_I64, DIMS(1, 1, 2, 2), idx)};
    kiln_tensor out;
    expect_message(run(ins, 2, &out), KILN_ERR_RUNTIME,
                   "index 17 out of range [0, 16) in input 1 ('i') at position 1");
}

static void test_roialign_bad_batch(void)
{
    reset();
    NODE(KILN_OP_ROIALIGN, 1, input("x", KILN_DT_F32, DIMS(2, 1, 4, 4)), input("r", KILN_DT_F32, DIMS(2, 4)),
         input("b", KILN_DT_I64, DIMS(2)));
    float x[32] = {0};
    const float r[8] = {0, 0, 2, 2, 1, 1, 3, 3};
    const int64_t b[2] = {1, 2};
    kiln_tensor ins[3] = {tensor(KILN_DT_F32, DIMS(2, 1, 4, 4), x), tensor(KILN_DT_F32, DIMS(2, 4), r),
                          tensor(KILN_DT_I64, DIMS(2), b)};
    kiln_tensor out;
    expect_message(run(ins, 3, &out), KILN_ERR_RUNTIME,
                   "batch index 2 out of range [0, 2) in input 2 ('b') at position 1");
}

static void test_rnn_bad_length(void)
{
    reset();
    const float w[2] = {1, 1}, r[4] = {0, 0, 0, 0};
    NODE(KILN_OP_RNN, 1, input("x", KILN_DT_F32, DIMS(3, 2, 1)), constant("w", KILN_DT_F32, DIMS(1, 2, 1), w),
         constant("r", KILN_DT_F32, DIMS(1, 2, 2), r), 0, input("len", KILN_DT_I32, DIMS(2)));
    float x[6] = {0};
    const int32_t len[2] = {3, 5};
    kiln_tensor ins[2] = {tensor(KILN_DT_F32, DIMS(3, 2, 1), x), tensor(KILN_DT_I32, DIMS(2), len)};
    kiln_tensor out;
    expect_message(run(ins, 2, &out), KILN_ERR_RUNTIME,
                   "sequence length 5 out of range [0, 4) in input 4 ('len') at position 1");
}

static void test_dtype_without_kernel(void)
{
    /* the recurrent cells have f32 kernels only */
    reset();
    NODE(KILN_OP_RNN, 1, input("x", KILN_DT_F16, DIMS(1, 1, 1)), input("w", KILN_DT_F16, DIMS(1, 1, 1)),
         input("r", KILN_DT_F16, DIMS(1, 1, 1)));
    uint16_t v[1] = {0};
    kiln_tensor ins[3] = {tensor(KILN_DT_F16, DIMS(1, 1, 1), v), tensor(KILN_DT_F16, DIMS(1, 1, 1), v),
                          tensor(KILN_DT_F16, DIMS(1, 1, 1), v)};
    kiln_tensor out;
    expect_message(run(ins, 3, &out), KILN_ERR_UNSUPPORTED,
                   "no RNN kernel for dtype f16");
}

static void test_conv_f16_graph(void)
{
    /* the conv graph above in f16 (every value exact in f16) */
    reset();
    uint16_t w[8], b[2], x[9];
    const float wf[8] = {1, 0, 0, 1, 1, 1, 1, 1}, want[8] = {16, 18, 22, 24, 32, 36, 44, 48};
    for (int i = 0; i < 8; i++)
        w[i] = krt_f32_to_f16(wf[i]);
    for (int i = 0; i < 9; i++)
        x[i] = krt_f32_to_f16((float)(i + 1));
    b[0] = krt_f32_to_f16(10), b[1] = krt_f32_to_f16(20);
    NODE(KILN_OP_CONV, 1, input("x", KILN_DT_F16, DIMS(1, 1, 3, 3)),
         constant("w", KILN_DT_F16, DIMS(2, 1, 2, 2), w), constant("b", KILN_DT_F16, DIMS(2), b));
    kiln_tensor in = tensor(KILN_DT_F16, DIMS(1, 1, 3, 3), x), out;
    CU_ASSERT_EQUAL_FATAL(run(&in, 1, &out), KILN_OK);
    CU_ASSERT_EQUAL(out.dtype, KILN_DT_F16);
    for (int i = 0; i < 8; i++)
        CU_ASSERT_EQUAL(krt_f16_to_f32(((const uint16_t *)out.data)[i]), want[i]);
    kiln_interp_free_outputs(&out, 1);
}

static CU_TestInfo result_tests[] = {
    {"conv graph", test_conv_graph},
    {"maxpool with indices", test_maxpool_two_outputs},
    {"gemm and integer matmul", test_gemm_and_matmul},
    {"resize with scales known at run time", test_resize_scales_at_run_time},
    {"lstm with 1 and 3 outputs", test_lstm_output_subsets},
    {"conv integer graph", test_quantized_graph},
    {"conv f16 graph", test_conv_f16_graph},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo error_tests[] = {
    {"maxunpool index out of range", test_maxunpool_bad_index},
    {"roialign batch index out of range", test_roialign_bad_batch},
    {"rnn sequence length out of range", test_rnn_bad_length},
    {"dtype without a kernel", test_dtype_without_kernel},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"results", setup, teardown, NULL, NULL, result_tests},
    {"errors", setup, teardown, NULL, NULL, error_tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
