/* test_movement_eval.c — the movement family through the interpreter
 * (ir/lower_movement.c + kernels): small graphs run with kiln_interp_run and compared
 * with values worked out by hand; runtime errors must name the node, the
 * input and the bad index; shape sub-graphs fold at compile time. */
#include "cunit_main.h"
#include "ir/interp.h"

#include <stdio.h>
#include <string.h>

static kiln_graph *g;
static kiln_ctx *ctx;

static void begin(void)
{
    if (!ctx)
        ctx = kiln_ctx_create();
    kiln_ctx_clear(ctx);
    kiln_graph_destroy(g);
    g = kiln_graph_create("t", "t.onnx");
}

static int suite_end(void)
{
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
    g = NULL, ctx = NULL;
    return 0;
}

static uint32_t ints(const int64_t *v, int n)
{
    kiln_shape s = kiln_shape_make(1, (int64_t[]){n});
    return kiln_const_add(g, "c", KILN_DT_I64, &s, v, (size_t)n * sizeof *v, true);
}
#define I(...) ints((int64_t[]){__VA_ARGS__}, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))

static uint32_t node_n(kiln_op op, const char *name, uint32_t n_out, const uint32_t *ins, uint32_t n_in,
                       uint32_t *outs)
{
    for (uint32_t i = 0; i < n_out; i++)
        outs[i] = kiln_value_add(g, "");
    return kiln_node_add(g, op, name, ins, n_in, outs, n_out);
}
/* One-output node; returns the output value. */
#define OP(op, name, ...)                                                                              \
    op1(op, name, (uint32_t[]){__VA_ARGS__}, (uint32_t)(sizeof((uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t)))
static uint32_t last_node;
static uint32_t op1(kiln_op op, const char *name, const uint32_t *ins, uint32_t n_in)
{
    uint32_t out;
    last_node = node_n(op, name, 1, ins, n_in, &out);
    return out;
}

static kiln_tensor tensor(kiln_dtype dt, int rank, const int64_t *dims, const void *data)
{
    kiln_tensor t = {.dtype = dt, .shape = kiln_shape_make(rank, dims), .data = data};
    int64_t n;
    kiln_shape_numel(&t.shape, &n);
    t.nbytes = (size_t)n * kiln_dtype_size(dt);
    return t;
}

/* ---- shape sub-graph ---------------------------------------------------------- */

/* x[N, 6] -> Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [2, 3])) */
static uint32_t build_shape_chain(const char *x_dims_sym)
{
    kiln_shape xs = kiln_shape_make(2, (int64_t[]){2, 6});
    if (x_dims_sym)
        xs.dim[0] = KILN_DIM_SYM(kiln_graph_symbol(g, x_dims_sym));
    uint32_t x = kiln_input_add(g, "x", KILN_DT_F32, &xs);
    uint32_t shape = OP(KILN_OP_SHAPE, "shape", x);
    kiln_shape scalar = {.rank = 0};
    int64_t zero = 0;
    uint32_t idx = kiln_const_add(g, "zero", KILN_DT_I64, &scalar, &zero, 8, true);
    uint32_t n = OP(KILN_OP_GATHER, "gather", shape, idx);
    uint32_t n1 = OP(KILN_OP_UNSQUEEZE, "unsq", n, I(0));
    uint32_t cat = OP(KILN_OP_CONCAT, "cat", n1, I(2, 3));
    kiln_attr_set_int(g, last_node, "axis", 0);
    uint32_t y = OP(KILN_OP_RESHAPE, "reshape", x, cat);
    kiln_output_add(g, y);
    return y;
}

static void test_shape_chain_folds_at_compile_time(void)
{
    char buf[64];
    begin();
    uint32_t y = build_shape_chain(NULL);
    CU_ASSERT_EQUAL_FATAL(kiln_graph_infer(ctx, g), KILN_OK);
    CU_ASSERT_STRING_EQUAL(kiln_shape_format(g, &kiln_value_at(g, y)->shape, buf, sizeof buf), "[2,2,3]");
}

static void test_shape_chain_runs_with_symbolic_batch(void)
{
    begin();
    build_shape_chain("N");
    CU_ASSERT_EQUAL_FATAL(kiln_graph_infer(ctx, g), KILN_OK);
    float x[24];
    for (int i = 0; i < 24; i++)
        x[i] = (float)i * 0.5f;
    kiln_tensor in = tensor(KILN_DT_F32, 2, (int64_t[]){4, 6}, x), out;
    kiln_status st = kiln_interp_run(ctx, g, &in, 1, &out);
    if (st)
        fprintf(stderr, "\n  %s", kiln_ctx_message(ctx));
    CU_ASSERT_EQUAL_FATAL(st, KILN_OK);
    CU_ASSERT_EQUAL(out.shape.rank, 3);
    CU_ASSERT_EQUAL(out.shape.dim[0], 4);
    CU_ASSERT_EQUAL(out.shape.dim[2], 3);
    CU_ASSERT_EQUAL(memcmp(out.data, x, sizeof x), 0);
    kiln_interp_free_outputs(&out, 1);
}

/* ---- runtime errors ------------------------------------------------------------- */

static void test_gather_index_out_of_range(void)
{
    begin();
    kiln_shape xs = kiln_shape_make(2, (int64_t[]){5, 2}), is = kiln_shape_make(1, (int64_t[]){3});
    uint32_t x = kiln_input_add(g, "x", KILN_DT_F32, &xs);
    uint32_t idx = kiln_input_add(g, "indices", KILN_DT_I64, &is);
    kiln_output_add(g, OP(KILN_OP_GATHER, "embed", x, idx));
    float xd[10] = {0};
    int64_t id[3] = {1, 7, 0};
    kiln_tensor ins[2] = {tensor(KILN_DT_F32, 2, (int64_t[]){5, 2}, xd), tensor(KILN_DT_I64, 1, (int64_t[]){3}, id)};
    kiln_tensor out;
    CU_ASSERT_EQUAL(kiln_interp_run(ctx, g, ins, 2, &out), KILN_ERR_RUNTIME);
    const char *msg = kiln_ctx_message(ctx);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "node 'embed' (Gather)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "index 7 out of range [-5, 5) in input 1 ('indices') at position 1"));
}

static void test_scatter_nd_index_error(void)
{
    begin();
    kiln_shape xs = kiln_shape_make(1, (int64_t[]){4}), is = kiln_shape_make(2, (int64_t[]){2, 1});
    kiln_shape us = kiln_shape_make(1, (int64_t[]){2});
    uint32_t x = kiln_input_add(g, "x", KILN_DT_F32, &xs), idx = kiln_input_add(g, "where", KILN_DT_I64, &is);
    uint32_t u = kiln_input_add(g, "u", KILN_DT_F32, &us);
    kiln_output_add(g, OP(KILN_OP_SCATTERND, "sc", x, idx, u));
    float xd[4] = {1, 2, 3, 4}, ud[2] = {10, 20};
    int64_t good[2] = {-1, 1}, bad[2] = {0, -5};
    kiln_tensor ins[3] = {tensor(KILN_DT_F32, 1, (int64_t[]){4}, xd), tensor(KILN_DT_I64, 2, (int64_t[]){2, 1}, good),
                          tensor(KILN_DT_F32, 1, (int64_t[]){2}, ud)}, out;
    CU_ASSERT_EQUAL_FATAL(kiln_interp_run(ctx, g, ins, 3, &out), KILN_OK);
    float want[4] = {1, 20, 3, 10};
    CU_ASSERT_EQUAL(memcmp(out.data, want, sizeof want), 0);
    kiln_interp_free_outputs(&out, 1);
    ins[1].data = bad;
    CU_ASSERT_EQUAL(kiln_interp_run(ctx, g, ins, 3, &out), KILN_ERR_RUNTIME);
    CU_ASSERT_PTR_NOT_NULL(strstr(kiln_ctx_message(ctx), "index -5 out of range [-4, 4) in input 1 ('where')"));
}

/* ---- data-dependent outputs ------------------------------------------------------- */

static void test_unique_four_outputs(void)
{
    begin();
    kiln_shape xs = kiln_shape_make(1, (int64_t[]){6});
    uint32_t x = kiln_input_add(g, "x", KILN_DT_I32, &xs), outs[4];
    uint32_t n = node_n(KILN_OP_UNIQUE, "u", 4, &x, 1, outs);
    kiln_attr_set_int(g, n, "sorted", 0);
    for (int i = 0; i < 4; i++)
        kiln_output_add(g, outs[i]);
    CU_ASSERT_EQUAL_FATAL(kiln_graph_infer(ctx, g), KILN_OK);
    int32_t xd[6] = {2, 1, 1, 3, 4, 3};  /* the spec's example 1 */
    kiln_tensor in = tensor(KILN_DT_I32, 1, (int64_t[]){6}, xd), out[4];
    CU_ASSERT_EQUAL_FATAL(kiln_interp_run(ctx, g, &in, 1, out), KILN_OK);
    int32_t y[4] = {2, 1, 3, 4};
    int64_t first[4] = {0, 1, 3, 4}, inv[6] = {0, 1, 1, 2, 3, 2}, counts[4] = {1, 2, 2, 1};
    CU_ASSERT_EQUAL(out[0].shape.dim[0], 4);
    CU_ASSERT_EQUAL(memcmp(out[0].data, y, sizeof y), 0);
    CU_ASSERT_EQUAL(memcmp(out[1].data, first, sizeof first), 0);
    CU_ASSERT_EQUAL(memcmp(out[2].data, inv, sizeof inv), 0);
    CU_ASSERT_EQUAL(memcmp(out[3].data, counts, sizeof counts), 0);
    kiln_interp_free_outputs(out, 4);
}

static void test_nonzero_then_transpose(void)
{
    begin();
    kiln_shape xs = kiln_shape_make(2, (int64_t[]){2, 3});
    uint32_t x = kiln_input_add(g, "x", KILN_DT_BOOL, &xs);
    uint32_t nz = OP(KILN_OP_NONZERO, "nz", x);
    kiln_output_add(g, OP(KILN_OP_TRANSPOSE, "t", nz));
    CU_ASSERT_EQUAL_FATAL(kiln_graph_infer(ctx, g), KILN_OK);
    uint8_t xd[6] = {0, 1, 0, 1, 0, 1};
    kiln_tensor in = tensor(KILN_DT_BOOL, 2, (int64_t[]){2, 3}, xd), out;
    CU_ASSERT_EQUAL_FATAL(kiln_interp_run(ctx, g, &in, 1, &out), KILN_OK);
    int64_t want[6] = {0, 1, 1, 0, 1, 2};  /* (row, col) of each true */
    CU_ASSERT_EQUAL(out.shape.dim[0], 3);
    CU_ASSERT_EQUAL(out.shape.dim[1], 2);
    CU_ASSERT_EQUAL(memcmp(out.data, want, sizeof want), 0);
    kiln_interp_free_outputs(&out, 1);
}

static void test_split_pad_slice_chain(void)
{
    /* x [2, 5] -> Split(axis 1, [2, 3]) -> second part -> Pad(reflect, axis 1 by 2 at the
     * front) -> Slice(::-1 on axis 1) */
    begin();
    kiln_shape xs = kiln_shape_make(2, (int64_t[]){2, 5});
    uint32_t x = kiln_input_add(g, "x", KILN_DT_F32, &xs), parts[2];
    uint32_t sp = node_n(KILN_OP_SPLIT, "split", 2, (uint32_t[]){x, I(2, 3)}, 2, parts);
    kiln_attr_set_int(g, sp, "axis", 1);
    uint32_t pad = OP(KILN_OP_PAD, "pad", parts[1], I(2, 0), 0, I(1));
    kiln_attr_set_string(g, last_node, "mode", "reflect");
    uint32_t y = OP(KILN_OP_SLICE, "rev", pad, I(-1), I(INT64_MIN), I(1), I(-1));
    kiln_output_add(g, y);
    CU_ASSERT_EQUAL_FATAL(kiln_graph_infer(ctx, g), KILN_OK);
    float xd[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    kiln_tensor in = tensor(KILN_DT_F32, 2, (int64_t[]){2, 5}, xd), out;
    kiln_status st = kiln_interp_run(ctx, g, &in, 1, &out);
    if (st)
        fprintf(stderr, "\n  %s", kiln_ctx_message(ctx));
    CU_ASSERT_EQUAL_FATAL(st, KILN_OK);
    /* part [[2,3,4],[7,8,9]] -> reflect pad 2 in front [[4,3,2,3,4],...] -> reversed */
    float want[10] = {4, 3, 2, 3, 4, 9, 8, 7, 8, 9};
    CU_ASSERT_EQUAL(out.shape.dim[1], 5);
    CU_ASSERT_EQUAL(memcmp(out.data, want, sizeof want), 0);
    kiln_interp_free_outputs(&out, 1);
}

static void test_range_one_hot(void)
{
    /* Range(0, 3, 1) as i64 -> OneHot(depth 4, values i32 [0, 5]): a graph with no inputs */
    begin();
    kiln_shape scalar = {.rank = 0}, two = kiln_shape_make(1, (int64_t[]){2});
    int64_t s = 0, l = 3, d = 1, depth = 4;
    int32_t vals[2] = {0, 5};
    uint32_t r = OP(KILN_OP_RANGE, "range", kiln_const_add(g, "s", KILN_DT_I64, &scalar, &s, 8, true),
                    kiln_const_add(g, "l", KILN_DT_I64, &scalar, &l, 8, true),
                    kiln_const_add(g, "d", KILN_DT_I64, &scalar, &d, 8, true));
    uint32_t oh = OP(KILN_OP_ONEHOT, "oh", r, kiln_const_add(g, "depth", KILN_DT_I64, &scalar, &depth, 8, true),
                     kiln_const_add(g, "vals", KILN_DT_I32, &two, vals, 8, true));
    kiln_output_add(g, oh);
    CU_ASSERT_EQUAL_FATAL(kiln_graph_infer(ctx, g), KILN_OK);
    kiln_tensor out;
    CU_ASSERT_EQUAL_FATAL(kiln_interp_run(ctx, g, NULL, 0, &out), KILN_OK);
    int32_t want[12] = {5, 0, 0, 0, 0, 5, 0, 0, 0, 0, 5, 0};
    CU_ASSERT_EQUAL(out.dtype, KILN_DT_I32);
    CU_ASSERT_EQUAL(memcmp(out.data, want, sizeof want), 0);
    kiln_interp_free_outputs(&out, 1);
}

static CU_TestInfo eval_tests[] = {
    {"Shape->Gather->Concat->Reshape folds at compile time", test_shape_chain_folds_at_compile_time},
    {"the same chain runs with a symbolic batch", test_shape_chain_runs_with_symbolic_batch},
    {"gather: index out of range names node, input, value", test_gather_index_out_of_range},
    {"scatter-nd: negative indices and a bad one", test_scatter_nd_index_error},
    {"unique: four outputs, first-occurrence order", test_unique_four_outputs},
    {"nonzero feeds a transpose", test_nonzero_then_transpose},
    {"split, reflect pad with axes, reversing slice", test_split_pad_slice_chain},
    {"range, one-hot (constants only)", test_range_one_hot},
    {NULL, NULL},
};

static CU_SuiteInfo suites[] = {
    {"movement through the interpreter", NULL, suite_end, NULL, NULL, eval_tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
