/* test_verify.c — the verifier: a well-formed graph passes; graphs broken
 * in each way it checks are rejected with a message naming the node (or
 * the value) and saying what is wrong. The graphs are built through the
 * API and then damaged by hand, the way a buggy pass would.
 */
#include "cunit_main.h"
#include "ir/infer.h"
#include "ir/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static kiln_shape shape2x3(void) { return kiln_shape_make(2, (int64_t[]){2, 3}); }

/* x: f32[2,3] -> Relu 'relu' -> y (graph output), source "v.kir". */
static kiln_graph *relu_graph(uint32_t *x, uint32_t *y)
{
    kiln_graph *g = kiln_graph_create("g", "v.kir");
    kiln_shape s = shape2x3();
    *x = kiln_input_add(g, "x", KILN_DT_F32, &s);
    *y = kiln_value_add(g, "y");
    kiln_node_add(g, KILN_OP_RELU, "relu", x, 1, y, 1);
    kiln_output_add(g, *y);
    return g;
}

/* Verifies g and checks the exact message. */
static void expect_error(kiln_graph *g, const char *message)
{
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_status st = kiln_graph_verify(ctx, g);
    CU_ASSERT_EQUAL(st, KILN_ERR_INVALID);
    if (strcmp(kiln_ctx_message(ctx), message) != 0)
        fprintf(stderr, "\n    want %s\n    got  %s\n", message, kiln_ctx_message(ctx));
    CU_ASSERT_STRING_EQUAL(kiln_ctx_message(ctx), message);
    kiln_ctx_destroy(ctx);
    kiln_graph_destroy(g);
}

static void test_valid_graph_passes(void)
{
    uint32_t x, y;
    kiln_graph *g = relu_graph(&x, &y);
    kiln_ctx *ctx = kiln_ctx_create();
    CU_ASSERT_EQUAL_FATAL(kiln_graph_infer(ctx, g), KILN_OK);
    CU_ASSERT_EQUAL(kiln_graph_verify(ctx, g), KILN_OK);
    /* and a parsed one with constants, absent inputs and several outputs */
    const char *text = "kiln-ir 1\ngraph @g (%x: f32[N,4]) -> (%z, %b) {\n"
                       "  const %c: f32[4] = [1.0, 2.0, 3.0, 4.0]\n"
                       "  %s: f32[N,4] = Add(%x, %c)\n"
                       "  %a: f32[N,2], %b: f32[N,2] = Split(%s, _) {axis = 1}\n"
                       "  %z: f32[N,2] = Relu(%a)\n}\n";
    kiln_graph *p = NULL;
    CU_ASSERT_EQUAL_FATAL(kiln_text_parse(ctx, text, strlen(text), "p.kir", &p), KILN_OK);
    if (kiln_infer_lookup(KILN_OP_SPLIT)) {
        CU_ASSERT_EQUAL(kiln_graph_infer(ctx, p), KILN_OK);
        CU_ASSERT_EQUAL(kiln_graph_verify(ctx, p), KILN_OK);
        if (kiln_ctx_status(ctx))
            fprintf(stderr, "\n  %s\n", kiln_ctx_message(ctx));
    }
    kiln_graph_destroy(p);
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
}

static void test_use_before_definition(void)
{
    kiln_graph *g = kiln_graph_create("g", "v.kir");
    kiln_shape s = shape2x3();
    uint32_t x = kiln_input_add(g, "x", KILN_DT_F32, &s);
    uint32_t t = kiln_value_add(g, "t"), y = kiln_value_add(g, "y");
    kiln_node_add(g, KILN_OP_RELU, "first", &t, 1, &y, 1);
    kiln_node_add(g, KILN_OP_RELU, "second", &x, 1, &t, 1);
    kiln_output_add(g, y);
    expect_error(g, "v.kir: node 'first' (Relu): input 0 ('t') is produced by node 'second' (Relu), "
                    "which comes later (not in topological order)");
}

/* A node that consumes its own output: a cycle of one. */
static void test_self_use(void)
{
    kiln_graph *g = kiln_graph_create("g", "v.kir");
    kiln_shape s = shape2x3();
    kiln_input_add(g, "x", KILN_DT_F32, &s);
    uint32_t y = kiln_value_add(g, "y");
    kiln_node_add(g, KILN_OP_RELU, "", &y, 1, &y, 1);
    kiln_output_add(g, y);
    expect_error(g, "v.kir: node producing 'y' (Relu): input 0 ('y') is this node's own output "
                    "(a node cannot use its result)");
}

/* The structural half runs in release builds on graphs that were never
 * inferred: a graph with no types passes it, a misordered one does not. */
static void test_structure_only(void)
{
    uint32_t x, y;
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = relu_graph(&x, &y);
    CU_ASSERT_EQUAL(kiln_graph_verify_structure(ctx, g), KILN_OK);
    kiln_graph_destroy(g);
    g = kiln_graph_create("g", "v.kir");
    kiln_shape s = shape2x3();
    x = kiln_input_add(g, "x", KILN_DT_F32, &s);
    uint32_t t = kiln_value_add(g, "t");
    y = kiln_value_add(g, "y");
    kiln_node_add(g, KILN_OP_ADD, "", (uint32_t[]){t, x}, 2, &y, 1);
    kiln_node_add(g, KILN_OP_RELU, "", &x, 1, &t, 1);
    kiln_output_add(g, y);
    CU_ASSERT_EQUAL(kiln_graph_verify_structure(ctx, g), KILN_ERR_INVALID);
    CU_ASSERT_STRING_EQUAL(kiln_ctx_message(ctx),
                           "v.kir: node producing 'y' (Add): input 0 ('t') is produced by node producing "
                           "'t' (Relu), which comes later (not in topological order)");
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
}

static void test_input_without_producer(void)
{
    kiln_graph *g = kiln_graph_create("g", "v.kir");
    uint32_t ghost = kiln_value_add(g, "ghost"), y = kiln_value_add(g, "y");
    kiln_node_add(g, KILN_OP_RELU, "relu", &ghost, 1, &y, 1);
    kiln_output_add(g, y);
    expect_error(g, "v.kir: node 'relu' (Relu): input 0 ('ghost') has no producer "
                    "(not a graph input, constant or node output)");
}

static void test_arity(void)
{
    uint32_t x, y;
    kiln_graph *g = relu_graph(&x, &y);
    uint32_t z = kiln_value_add(g, "z");
    kiln_node_add(g, KILN_OP_ADD, "add", &y, 1, &z, 1);
    expect_error(g, "v.kir: node 'add' (Add): has 1 inputs, Add takes 2");

    g = relu_graph(&x, &y);
    z = kiln_value_add(g, "z");
    kiln_node_add(g, KILN_OP_ADD, "add", (uint32_t[]){y, 0}, 2, &z, 1);
    expect_error(g, "v.kir: node 'add' (Add): input 1 is required but absent");

    g = relu_graph(&x, &y);
    uint32_t a = kiln_value_add(g, "a"), b = kiln_value_add(g, "b");
    kiln_node_add(g, KILN_OP_TOPK, "", &y, 1, (uint32_t[]){a, b}, 2);
    expect_error(g, "v.kir: node producing 'a' (TopK): has 1 inputs, TopK takes 2");
}

static void test_produced_twice(void)
{
    uint32_t x, y;
    kiln_graph *g = relu_graph(&x, &y);
    uint32_t z = kiln_value_add(g, "z");
    kiln_node_add(g, KILN_OP_SPLIT, "split", &x, 1, (uint32_t[]){z, z}, 2);
    expect_error(g, "v.kir: node 'split' (Split): output 1 ('z') is produced twice");

    /* a second node claiming y: y's producer now says node 2 */
    g = relu_graph(&x, &y);
    kiln_node_add(g, KILN_OP_RELU, "again", &x, 1, &y, 1);
    expect_error(g, "v.kir: node 'relu' (Relu): output 0 ('y') is also a graph input, a constant or "
                    "another node's output");
}

static void test_cross_references(void)
{
    uint32_t x, y;
    kiln_graph *g = relu_graph(&x, &y);
    uint32_t z = kiln_value_add(g, "z");
    kiln_node_add(g, KILN_OP_RELU, "second", &y, 1, &z, 1);
    g->values[y].producer = 2;  /* points at a node that does not output y */
    expect_error(g, "v.kir: node 'second' (Relu): value 'y' names this node as its producer, "
                    "but is not one of its outputs");

    g = relu_graph(&x, &y);
    g->values[y].producer = 7;
    expect_error(g, "v.kir: value 'y' names node #7 as its producer, the graph has 1 nodes");

    g = relu_graph(&x, &y);
    g->values[x].producer = 1;
    expect_error(g, "v.kir: value 'x' is a graph input or constant but names node #1 as its producer");
}

static void test_ranges(void)
{
    uint32_t x, y;
    kiln_graph *g = relu_graph(&x, &y);
    g->operands[g->nodes[1].in] = 999;
    expect_error(g, "v.kir: node 'relu' (Relu): input 0 refers to value #999, the graph has 2");

    g = relu_graph(&x, &y);
    g->nodes[1].n_attr = 5;
    expect_error(g, "v.kir: node 'relu' (Relu): attribute range out of bounds");

    g = relu_graph(&x, &y);
    g->outputs[0] = 42;
    expect_error(g, "v.kir: graph output 0 refers to value #42, the graph has 2");
}

static void test_graph_output_undefined(void)
{
    uint32_t x, y;
    kiln_graph *g = relu_graph(&x, &y);
    kiln_output_add(g, kiln_value_add(g, "ghost"));
    expect_error(g, "v.kir: graph output 1 ('ghost') is not produced by any node");
}

static void test_attributes_sorted(void)
{
    uint32_t x, y;
    kiln_graph *g = relu_graph(&x, &y);
    kiln_attr_set_int(g, 1, "a", 1);
    kiln_attr_set_int(g, 1, "b", 2);
    kiln_attr tmp = g->attrs[g->nodes[1].attr];
    g->attrs[g->nodes[1].attr] = g->attrs[g->nodes[1].attr + 1];
    g->attrs[g->nodes[1].attr + 1] = tmp;
    expect_error(g, "v.kir: node 'relu' (Relu): attribute 'a' comes after 'b' (not sorted by name)");
}

static void test_constant_size(void)
{
    uint32_t x, y;
    kiln_graph *g = relu_graph(&x, &y);
    kiln_shape s = kiln_shape_make(1, (int64_t[]){3});
    float data[2] = {1, 2};
    kiln_const_add(g, "c", KILN_DT_F32, &s, data, sizeof data, true);
    kiln_ctx *ctx = kiln_ctx_create();
    CU_ASSERT_EQUAL(kiln_graph_infer(ctx, g), KILN_OK);
    kiln_ctx_destroy(ctx);
    expect_error(g, "v.kir: constant 'c' has 8 bytes of data, its type f32[3] needs 12");
}

static void test_types_against_inference(void)
{
    uint32_t x, y;
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = relu_graph(&x, &y);
    /* not inferred at all */
    expect_error(g, "v.kir: node 'relu' (Relu): output 0 ('y') has type ?[*], shape inference gives f32[2,3]");

    g = relu_graph(&x, &y);
    CU_ASSERT_EQUAL_FATAL(kiln_graph_infer(ctx, g), KILN_OK);
    g->values[y].shape.dim[1] = 4;  /* a pass that got a shape wrong */
    expect_error(g, "v.kir: node 'relu' (Relu): output 0 ('y') has type f32[2,4], shape inference gives f32[2,3]");

    g = relu_graph(&x, &y);
    CU_ASSERT_EQUAL_FATAL(kiln_graph_infer(ctx, g), KILN_OK);
    g->values[y].dtype = KILN_DT_F16;
    expect_error(g, "v.kir: node 'relu' (Relu): output 0 ('y') has type f16[2,3], shape inference gives f32[2,3]");

    /* a symbolic input dim must stay the same symbol downstream */
    g = kiln_graph_create("g", "v.kir");
    uint32_t n = kiln_graph_symbol(g, "N"), m = kiln_graph_symbol(g, "M");
    kiln_shape s = {.rank = 1, .dim = {KILN_DIM_SYM(n)}};
    x = kiln_input_add(g, "x", KILN_DT_F32, &s);
    y = kiln_value_add(g, "y");
    kiln_node_add(g, KILN_OP_RELU, "relu", &x, 1, &y, 1);
    kiln_output_add(g, y);
    CU_ASSERT_EQUAL_FATAL(kiln_graph_infer(ctx, g), KILN_OK);
    CU_ASSERT_EQUAL(kiln_graph_verify(ctx, g), KILN_OK);
    g->values[y].shape.dim[0] = KILN_DIM_SYM(m);
    expect_error(g, "v.kir: node 'relu' (Relu): output 0 ('y') has type f32[M], shape inference gives f32[N]");
    kiln_ctx_destroy(ctx);
}

static void test_verify_leaves_graph_alone(void)
{
    uint32_t x, y;
    kiln_graph *g = relu_graph(&x, &y);
    kiln_ctx *ctx = kiln_ctx_create();
    CU_ASSERT_EQUAL_FATAL(kiln_graph_infer(ctx, g), KILN_OK);
    char *before = kiln_text_format(g);
    uint32_t syms = g->n_syms;
    CU_ASSERT_EQUAL(kiln_graph_verify(ctx, g), KILN_OK);
    char *after = kiln_text_format(g);
    CU_ASSERT_STRING_EQUAL(before, after);
    CU_ASSERT_EQUAL(g->n_syms, syms);
    free(before);
    free(after);
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
}

static CU_TestInfo verify_tests[] = {
    {"valid graphs pass", test_valid_graph_passes},
    {"use before definition", test_use_before_definition},
    {"input without a producer", test_input_without_producer},
    {"a node using its own output", test_self_use},
    {"structure only (every build)", test_structure_only},
    {"arity and required inputs", test_arity},
    {"a value produced twice", test_produced_twice},
    {"value/node cross references", test_cross_references},
    {"indices in range", test_ranges},
    {"graph output not defined", test_graph_output_undefined},
    {"attributes sorted", test_attributes_sorted},
    {"constant bytes match the type", test_constant_size},
    {"types agree with a fresh inference", test_types_against_inference},
    {"verify does not modify the graph", test_verify_leaves_graph_alone},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"verify", NULL, NULL, NULL, NULL, verify_tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
