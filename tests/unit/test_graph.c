/* test_graph.c — the IR core: arena, shapes, graph building, attributes,
 * topological sort, input binding, error messages. */
#include "cunit_main.h"
#include "ir/ir.h"

#include <stdlib.h>
#include <string.h>

/* ---- arena and shapes ---------------------------------------------------- */

static void test_arena_alignment_and_zeroing(void)
{
    kiln_arena *a = kiln_arena_create();
    for (size_t align = 1; align <= 4096; align *= 2) {
        unsigned char *p = kiln_arena_alloc(a, 100, align);
        CU_ASSERT_EQUAL((uintptr_t)p % align, 0);
        for (int i = 0; i < 100; i++)
            CU_ASSERT_EQUAL(p[i], 0);
        memset(p, 0xab, 100);
    }
    /* larger than a chunk */
    unsigned char *big = kiln_arena_alloc(a, 1 << 20, 64);
    CU_ASSERT_EQUAL((uintptr_t)big % 64, 0);
    CU_ASSERT_EQUAL(big[(1 << 20) - 1], 0);
    CU_ASSERT_STRING_EQUAL(kiln_arena_strndup(a, "abcdef", 3), "abc");
    kiln_arena_reset(a);
    CU_ASSERT_EQUAL(kiln_arena_used(a), 0);
    kiln_arena_destroy(a);
}

static void test_size_overflow(void)
{
    int64_t out;
    CU_ASSERT_TRUE(kiln_mul_size(1 << 20, 1 << 20, &out));
    CU_ASSERT_EQUAL(out, (int64_t)1 << 40);
    CU_ASSERT_FALSE(kiln_mul_size(INT64_MAX / 2, 3, &out));
    CU_ASSERT_FALSE(kiln_mul_size(-1, 3, &out));
    CU_ASSERT_FALSE(kiln_add_size(INT64_MAX, 1, &out));
    int64_t dims[3] = {4096, 4096, 1 << 30};
    kiln_shape s = kiln_shape_make(3, dims);
    CU_ASSERT_TRUE(kiln_shape_numel(&s, &out));
    s.dim[2] = INT64_MAX / 2;
    CU_ASSERT_FALSE(kiln_shape_numel(&s, &out));
    s.dim[2] = KILN_DIM_SYM(1);
    CU_ASSERT_FALSE(kiln_shape_numel(&s, &out));
    CU_ASSERT_FALSE(kiln_shape_is_static(&s));
}

static void test_dtypes(void)
{
    CU_ASSERT_EQUAL(kiln_dtype_size(KILN_DT_F32), 4);
    CU_ASSERT_EQUAL(kiln_dtype_size(KILN_DT_BF16), 2);
    CU_ASSERT_EQUAL(kiln_dtype_size(KILN_DT_BOOL), 1);
    CU_ASSERT_EQUAL(kiln_dtype_from_name("u64"), KILN_DT_U64);
    CU_ASSERT_EQUAL(kiln_dtype_from_name("f128"), KILN_DT_UNDEF);
    for (int dt = 1; dt < KILN_DT_COUNT; dt++)
        CU_ASSERT_EQUAL(kiln_dtype_from_name(kiln_dtype_name((kiln_dtype)dt)), dt);
    CU_ASSERT_TRUE(kiln_dtype_is_float(KILN_DT_F16));
    CU_ASSERT_FALSE(kiln_dtype_is_int(KILN_DT_BOOL));
    CU_ASSERT_TRUE(kiln_dtype_is_signed(KILN_DT_I8));
    CU_ASSERT_FALSE(kiln_dtype_is_signed(KILN_DT_U8));
}

/* ---- building graphs ------------------------------------------------------- */

/* x -> Relu -> r -> Add(r, w) -> y, with nodes added in reverse order. */
static kiln_graph *reversed_graph(void)
{
    kiln_graph *g = kiln_graph_create("t", "t.onnx");
    int64_t d[2] = {2, 3};
    kiln_shape s = kiln_shape_make(2, d);
    float w[6] = {1, 2, 3, 4, 5, 6};
    uint32_t x = kiln_input_add(g, "x", KILN_DT_F32, &s);
    uint32_t wv = kiln_const_add(g, "w", KILN_DT_F32, &s, w, sizeof w, true);
    uint32_t r = kiln_value_add(g, "r"), y = kiln_value_add(g, "y");
    uint32_t add_in[2] = {r, wv};
    kiln_node_add(g, KILN_OP_ADD, "add", add_in, 2, &y, 1);
    kiln_node_add(g, KILN_OP_RELU, "relu", &x, 1, &r, 1);
    kiln_output_add(g, y);
    return g;
}

static void test_toposort_moves_producers_first(void)
{
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = reversed_graph();
    CU_ASSERT_EQUAL(kiln_graph_toposort(ctx, g), KILN_OK);
    CU_ASSERT_EQUAL(g->nodes[1].op, KILN_OP_RELU);
    CU_ASSERT_EQUAL(g->nodes[2].op, KILN_OP_ADD);
    /* producers follow the move */
    uint32_t r = kiln_graph_find_value(g, "r"), y = kiln_graph_find_value(g, "y");
    CU_ASSERT_EQUAL(g->values[r].producer, 1);
    CU_ASSERT_EQUAL(g->values[y].producer, 2);
    /* sorting a sorted graph changes nothing */
    CU_ASSERT_EQUAL(kiln_graph_toposort(ctx, g), KILN_OK);
    CU_ASSERT_EQUAL(g->nodes[1].op, KILN_OP_RELU);
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
}

static void test_toposort_reports_cycle(void)
{
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = kiln_graph_create("t", "cycle.onnx");
    uint32_t a = kiln_value_add(g, "a"), b = kiln_value_add(g, "b");
    kiln_node_add(g, KILN_OP_RELU, "first", &b, 1, &a, 1);
    kiln_node_add(g, KILN_OP_RELU, "second", &a, 1, &b, 1);
    kiln_output_add(g, b);
    CU_ASSERT_EQUAL(kiln_graph_toposort(ctx, g), KILN_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(kiln_ctx_message(ctx), "cycle.onnx: node '"));
    CU_ASSERT_PTR_NOT_NULL(strstr(kiln_ctx_message(ctx), "cycle"));
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
}

static void test_attributes_sorted_replaced_removed(void)
{
    kiln_graph *g = reversed_graph();
    uint32_t n = 1;
    kiln_attr_set_int(g, n, "zeta", 1);
    kiln_attr_set_float(g, n, "alpha", 0.5f);
    kiln_attr_set_string(g, n, "mode", "linear");
    int64_t ints[3] = {1, 2, 3};
    kiln_attr_set_ints(g, n, "pads", ints, 3);
    kiln_attr_set_int(g, n, "zeta", 7);      /* replaces */
    const kiln_node *node = &g->nodes[n];
    CU_ASSERT_EQUAL(node->n_attr, 4);
    CU_ASSERT_STRING_EQUAL(g->attrs[node->attr + 0].name, "alpha");
    CU_ASSERT_STRING_EQUAL(g->attrs[node->attr + 1].name, "mode");
    CU_ASSERT_STRING_EQUAL(g->attrs[node->attr + 2].name, "pads");
    CU_ASSERT_STRING_EQUAL(g->attrs[node->attr + 3].name, "zeta");
    CU_ASSERT_EQUAL(kiln_attr_int(g, node, "zeta", 0), 7);
    CU_ASSERT_EQUAL(kiln_attr_float(g, node, "alpha", 0), 0.5f);
    CU_ASSERT_STRING_EQUAL(kiln_attr_string(g, node, "mode", "x"), "linear");
    uint32_t count;
    const int64_t *p = kiln_attr_ints(g, node, "pads", &count);
    CU_ASSERT_EQUAL(count, 3);
    CU_ASSERT_EQUAL(p[2], 3);
    /* absent, and present with another kind: the default */
    CU_ASSERT_EQUAL(kiln_attr_int(g, node, "missing", -1), -1);
    CU_ASSERT_EQUAL(kiln_attr_int(g, node, "mode", -2), -2);
    CU_ASSERT_PTR_NULL(kiln_attr_ints(g, node, "missing", &count));
    CU_ASSERT_EQUAL(count, 0);
    CU_ASSERT_TRUE(kiln_attr_remove(g, n, "mode"));
    CU_ASSERT_FALSE(kiln_attr_remove(g, n, "mode"));
    CU_ASSERT_EQUAL(g->nodes[n].n_attr, 3);
    /* the other node's attributes are untouched */
    CU_ASSERT_EQUAL(g->nodes[2].n_attr, 0);
    kiln_graph_destroy(g);
}

static void test_node_error_names_file_and_node(void)
{
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = reversed_graph();
    kiln_status st = kiln_node_error(ctx, g, 1, KILN_ERR_INVALID, "input %d is bad", 1);
    CU_ASSERT_EQUAL(st, KILN_ERR_INVALID);
    CU_ASSERT_STRING_EQUAL(kiln_ctx_message(ctx), "t.onnx: node 'add' (Add): input 1 is bad");
    CU_ASSERT_EQUAL(kiln_ctx_status(ctx), KILN_ERR_INVALID);
    kiln_ctx_clear(ctx);
    CU_ASSERT_STRING_EQUAL(kiln_ctx_message(ctx), "");
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
}

static void test_use_counts(void)
{
    kiln_graph *g = reversed_graph();
    uint32_t *uses = kiln_graph_use_counts(g);
    CU_ASSERT_EQUAL(uses[kiln_graph_find_value(g, "x")], 1);
    CU_ASSERT_EQUAL(uses[kiln_graph_find_value(g, "r")], 1);
    CU_ASSERT_EQUAL(uses[kiln_graph_find_value(g, "y")], 1); /* graph output */
    free(uses);
    kiln_graph_destroy(g);
}

/* ---- binding inputs ----------------------------------------------------------- */

static void test_bind_shape_binds_symbol_everywhere(void)
{
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = kiln_graph_create("t", "sym.onnx");
    uint32_t n = kiln_graph_symbol(g, "N");
    CU_ASSERT_EQUAL(kiln_graph_symbol(g, "N"), n);   /* found, not added */
    kiln_shape a = {.rank = 2, .dim = {KILN_DIM_SYM(n), 3}};
    kiln_shape b = {.rank = 1, .dim = {KILN_DIM_SYM(n)}};
    uint32_t x = kiln_input_add(g, "x", KILN_DT_F32, &a);
    uint32_t m = kiln_input_add(g, "m", KILN_DT_I64, &b);
    kiln_shape bad = {.rank = 2, .dim = {4, 5}};
    CU_ASSERT_EQUAL(kiln_graph_bind_shape(ctx, g, x, &bad), KILN_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(kiln_ctx_message(ctx), "input 'x' has shape [N,3], cannot bind it to [4,5]"));
    kiln_shape good = {.rank = 2, .dim = {4, 3}};
    CU_ASSERT_EQUAL(kiln_graph_bind_shape(ctx, g, x, &good), KILN_OK);
    CU_ASSERT_EQUAL(g->values[m].shape.dim[0], 4);
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
}

static void test_bind_input_value(void)
{
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = reversed_graph();
    uint32_t x = kiln_graph_find_value(g, "x");
    float data[6] = {0};
    kiln_tensor wrong = {.dtype = KILN_DT_I64, .shape = g->values[x].shape, .data = data, .nbytes = 48};
    CU_ASSERT_EQUAL(kiln_graph_bind_input(ctx, g, x, &wrong), KILN_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(kiln_ctx_message(ctx), "input 'x' has dtype f32, the data is i64"));
    kiln_tensor t = {.dtype = KILN_DT_F32, .shape = g->values[x].shape, .data = data, .nbytes = sizeof data};
    CU_ASSERT_EQUAL(kiln_graph_bind_input(ctx, g, x, &t), KILN_OK);
    CU_ASSERT_EQUAL(g->values[x].kind, KILN_VAL_CONST);
    CU_ASSERT_EQUAL(g->n_inputs, 0);
    CU_ASSERT_EQUAL(kiln_graph_bind_input(ctx, g, x, &t), KILN_ERR_INVALID); /* no longer an input */
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
}

static CU_TestInfo core_tests[] = {
    {"arena alignment and zeroing", test_arena_alignment_and_zeroing},
    {"size arithmetic overflow", test_size_overflow},
    {"dtype table", test_dtypes},
    {"use counts", test_use_counts},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo graph_tests[] = {
    {"toposort moves producers first", test_toposort_moves_producers_first},
    {"toposort reports a cycle", test_toposort_reports_cycle},
    {"attributes sorted, replaced, removed", test_attributes_sorted_replaced_removed},
    {"node errors name file and node", test_node_error_names_file_and_node},
    {"bind_shape binds a symbol everywhere", test_bind_shape_binds_symbol_everywhere},
    {"bind_input checks and freezes", test_bind_input_value},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"core", NULL, NULL, NULL, NULL, core_tests},
    {"graph", NULL, NULL, NULL, NULL, graph_tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
