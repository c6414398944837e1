/* test_movement_infer.c — shape and dtype inference of the movement family
 * (ir/infer_movement.c): one small graph per case, run through
 * kiln_graph_infer; output types are compared as text ("f32[2,12]", a '?'
 * standing for any anonymous symbol), and every error must name the node. */
#include "cunit_main.h"
#include "ir/infer.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
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

/* A graph input; dims like "2,N,3" (letters name symbols), "" for a scalar. */
static uint32_t input(const char *name, kiln_dtype dt, const char *dims)
{
    kiln_shape s = {.rank = 0};
    char buf[64];
    snprintf(buf, sizeof buf, "%s", dims);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ","))
        s.dim[s.rank++] = isdigit((unsigned char)tok[0]) ? atoll(tok) : KILN_DIM_SYM(kiln_graph_symbol(g, tok));
    return kiln_input_add(g, name, dt, &s);
}

/* A 1-D i64 constant. */
static uint32_t ints(const int64_t *v, int n)
{
    kiln_shape s = kiln_shape_make(1, (int64_t[]){n});
    return kiln_const_add(g, "c", KILN_DT_I64, &s, v, (size_t)n * sizeof *v, true);
}
#define I(...) ints((int64_t[]){__VA_ARGS__}, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))

static uint32_t scalar(const char *name, kiln_dtype dt, const void *v)
{
    kiln_shape s = {.rank = 0};
    return kiln_const_add(g, name, dt, &s, v, kiln_dtype_size(dt), true);
}

static uint32_t node_n(kiln_op op, uint32_t n_out, const uint32_t *ins, uint32_t n_in)
{
    uint32_t outs[8];
    for (uint32_t i = 0; i < n_out; i++) {
        char name[16];
        snprintf(name, sizeof name, "y%u", i);
        outs[i] = kiln_value_add(g, name);
    }
    return kiln_node_add(g, op, "n", ins, n_in, outs, n_out);
}
#define NODE(op, n_out, ...) \
    node_n(op, n_out, (uint32_t[]){__VA_ARGS__}, (uint32_t)(sizeof((uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t)))

/* "dtype[dims]" of output i of node; static buffer. */
static const char *type_of(uint32_t node, uint32_t i)
{
    static char buf[300];
    char shape[256];
    const kiln_value *v = kiln_out(g, kiln_node_at(g, node), i);
    snprintf(buf, sizeof buf, "%s%s", kiln_dtype_name(v->dtype), kiln_shape_format(g, &v->shape, shape, sizeof shape));
    return buf;
}

/* want may use '?' for any anonymous symbol ("?12"). */
static int type_matches(const char *got, const char *want)
{
    while (*want) {
        if (*want == '?' && *got == '?') {
            want++, got++;
            while (isdigit((unsigned char)*got))
                got++;
        } else if (*want++ != *got++) {
            return 0;
        }
    }
    return *got == 0;
}

static void expect_type(uint32_t node, uint32_t i, const char *want)
{
    kiln_status st = kiln_graph_infer(ctx, g);
    if (st)
        fprintf(stderr, "\n  unexpected error: %s", kiln_ctx_message(ctx));
    CU_ASSERT_EQUAL_FATAL(st, KILN_OK);
    const char *got = type_of(node, i);
    if (!type_matches(got, want))
        fprintf(stderr, "\n  output %u: got %s, want %s", i, got, want);
    CU_ASSERT_TRUE(type_matches(got, want));
}

static void expect_error(const char *fragment)
{
    kiln_status st = kiln_graph_infer(ctx, g);
    const char *msg = kiln_ctx_message(ctx);
    CU_ASSERT_NOT_EQUAL(st, KILN_OK);
    if (!strstr(msg, fragment) || !strstr(msg, "t.onnx: node 'n' ("))
        fprintf(stderr, "\n  message '%s' lacks '%s'", msg, fragment);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, fragment));
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "t.onnx: node 'n' ("));
}

/* ---- data movement ------------------------------------------------------- */

static void test_reshape(void)
{
    begin();
    uint32_t x = input("x", KILN_DT_F32, "2,3,4");
    uint32_t n = NODE(KILN_OP_RESHAPE, 1, x, I(0, -1));
    expect_type(n, 0, "f32[2,12]");
    begin();
    x = input("x", KILN_DT_F32, "N,197,768");
    n = NODE(KILN_OP_RESHAPE, 1, x, I(0, -1, 12, 64));
    expect_type(n, 0, "f32[N,197,12,64]");  /* the batch symbol cancels */
    begin();
    x = input("x", KILN_DT_F32, "2,0,4");
    n = NODE(KILN_OP_RESHAPE, 1, x, I(0, 4, 2));
    kiln_attr_set_int(g, n, "allowzero", 1);
    expect_type(n, 0, "f32[0,4,2]");
    begin();
    x = input("x", KILN_DT_F32, "2,3");
    n = NODE(KILN_OP_RESHAPE, 1, x, input("s", KILN_DT_I64, "3"));
    expect_type(n, 0, "f32[?,?,?]");  /* shape data unknown: rank known */
}

static void test_reshape_errors(void)
{
    begin();
    NODE(KILN_OP_RESHAPE, 1, input("x", KILN_DT_F32, "2,3"), I(-1, -1));
    expect_error("more than one -1");
    begin();
    NODE(KILN_OP_RESHAPE, 1, input("x", KILN_DT_F32, "2,3"), I(4, 2));
    expect_error("cannot reshape 6 elements");
    begin();
    NODE(KILN_OP_RESHAPE, 1, input("x", KILN_DT_F32, "2,3"), I(4, -1));
    expect_error("cannot reshape 6 elements");
    begin();
    uint32_t n = NODE(KILN_OP_RESHAPE, 1, input("x", KILN_DT_F32, "0,3"), I(0, -1));
    kiln_attr_set_int(g, n, "allowzero", 1);
    expect_error("both 0 and -1");
    begin();
    NODE(KILN_OP_RESHAPE, 1, input("x", KILN_DT_F32, "6"), I(6, 0));
    expect_error("shape entry 1 is 0 (copy) but the input has rank 1");
    begin();
    NODE(KILN_OP_RESHAPE, 1, input("x", KILN_DT_F32, "6"), input("s", KILN_DT_F32, "2"));
    expect_error("input 1 ('s') has dtype f32; Reshape takes i64");
}

static void test_flatten_squeeze_unsqueeze(void)
{
    begin();
    uint32_t n = NODE(KILN_OP_FLATTEN, 1, input("x", KILN_DT_F32, "2,3,4"));
    expect_type(n, 0, "f32[2,12]");
    begin();
    n = NODE(KILN_OP_FLATTEN, 1, input("x", KILN_DT_F32, "2,3,4"));
    kiln_attr_set_int(g, n, "axis", 0);
    expect_type(n, 0, "f32[1,24]");
    begin();
    n = NODE(KILN_OP_FLATTEN, 1, input("x", KILN_DT_F32, "2,3,4"));
    kiln_attr_set_int(g, n, "axis", 4);
    expect_error("attribute 'axis' is 4, must be in [-3, 3]");
    begin();
    n = NODE(KILN_OP_SQUEEZE, 1, input("x", KILN_DT_I8, "1,3,1,2"));
    expect_type(n, 0, "i8[3,2]");
    begin();
    n = NODE(KILN_OP_SQUEEZE, 1, input("x", KILN_DT_F32, "1,3,1,2"), I(-2));
    expect_type(n, 0, "f32[1,3,2]");
    begin();
    n = NODE(KILN_OP_SQUEEZE, 1, input("x", KILN_DT_F32, "1,3,1,2"), input("axes", KILN_DT_I64, "2"));
    expect_type(n, 0, "f32[?,?]");  /* two axes go, which ones is unknown */
    begin();
    NODE(KILN_OP_SQUEEZE, 1, input("x", KILN_DT_F32, "1,3"), I(1));
    expect_error("cannot squeeze axis 1 of size 3");
    begin();
    NODE(KILN_OP_SQUEEZE, 1, input("x", KILN_DT_F32, "1,1"), I(0, -2));
    expect_error("axis -2 repeated");
    begin();
    NODE(KILN_OP_SQUEEZE, 1, input("x", KILN_DT_F32, "N,3"));
    expect_error("Squeeze without axes on a symbolic dimension");
    begin();
    n = NODE(KILN_OP_UNSQUEEZE, 1, input("x", KILN_DT_F32, "2,3"), I(0, -1));
    expect_type(n, 0, "f32[1,2,3,1]");
    begin();
    NODE(KILN_OP_UNSQUEEZE, 1, input("x", KILN_DT_F32, "2,3"), I(3));
    expect_error("axis 3 out of range [-3, 3)");
}

static void test_transpose_concat_split(void)
{
    begin();
    uint32_t n = NODE(KILN_OP_TRANSPOSE, 1, input("x", KILN_DT_F32, "2,3,4"));
    expect_type(n, 0, "f32[4,3,2]");
    begin();
    n = NODE(KILN_OP_TRANSPOSE, 1, input("x", KILN_DT_F32, "2,3,4"));
    kiln_attr_set_ints(g, n, "perm", (int64_t[]){1, 0, 0}, 3);
    expect_error("'perm' is not a permutation");
    begin();
    n = NODE(KILN_OP_CONCAT, 1, input("a", KILN_DT_F32, "2,3"), input("b", KILN_DT_F32, "2,5"));
    kiln_attr_set_int(g, n, "axis", -1);
    expect_type(n, 0, "f32[2,8]");
    begin();
    n = NODE(KILN_OP_CONCAT, 1, input("a", KILN_DT_F32, "2,3"), input("b", KILN_DT_F32, "3,5"));
    kiln_attr_set_int(g, n, "axis", 1);
    expect_error("input 1 has size 3 on axis 0, input 0 has 2");
    begin();
    n = NODE(KILN_OP_CONCAT, 1, input("a", KILN_DT_F32, "2,3"), input("b", KILN_DT_I64, "2,3"));
    kiln_attr_set_int(g, n, "axis", 1);
    expect_error("input 1 ('b') is i64 but input 0 is f32");
    begin();
    NODE(KILN_OP_CONCAT, 1, input("a", KILN_DT_F32, "2,3"));
    expect_error("attribute 'axis' is required");
    begin();
    n = NODE(KILN_OP_SPLIT, 3, input("x", KILN_DT_F32, "6,4"));
    expect_type(n, 2, "f32[2,4]");
    begin();
    n = NODE(KILN_OP_SPLIT, 2, input("x", KILN_DT_F32, "6,4"), I(1, 3));
    kiln_attr_set_int(g, n, "axis", 1);
    expect_type(n, 1, "f32[6,3]");
    begin();
    NODE(KILN_OP_SPLIT, 4, input("x", KILN_DT_F32, "6"));
    expect_error("does not split into 4 equal parts");
    begin();
    NODE(KILN_OP_SPLIT, 2, input("x", KILN_DT_F32, "6"), I(1, 2));
    expect_error("add up to 3, the axis has 6");
}

static void test_slice(void)
{
    begin();
    uint32_t x = input("x", KILN_DT_F32, "10,10");
    uint32_t n = NODE(KILN_OP_SLICE, 1, x, I(1, -3), I(INT64_MAX, -1), I(0, 1), I(2, 1));
    expect_type(n, 0, "f32[5,2]");
    begin();
    x = input("x", KILN_DT_F32, "N,10");
    n = NODE(KILN_OP_SLICE, 1, x, I(-1), I(INT64_MIN), I(1), I(-1));
    expect_type(n, 0, "f32[N,10]");
    begin();
    x = input("x", KILN_DT_F32, "10,10");
    NODE(KILN_OP_SLICE, 1, x, I(0), I(5), I(0), I(0));
    expect_error("input 4 ('steps') entry 0 is 0");
    begin();
    NODE(KILN_OP_SLICE, 1, input("x", KILN_DT_F32, "10,10"), I(0, 0), I(5));
    expect_error("starts, ends, axes and steps have 2, 1, 2 and 2 entries");
}

static void test_pad_tile_expand(void)
{
    begin();
    uint32_t n = NODE(KILN_OP_PAD, 1, input("x", KILN_DT_F32, "2,3"), I(1, 0, 0, 2));
    expect_type(n, 0, "f32[3,5]");
    begin();
    n = NODE(KILN_OP_PAD, 1, input("x", KILN_DT_F32, "2,3,4"), I(1, -1), 0, I(-1));
    expect_type(n, 0, "f32[2,3,4]");
    begin();
    n = NODE(KILN_OP_PAD, 1, input("x", KILN_DT_F32, "2,3"), I(0, 0, 0, -4));
    expect_error("pads on axis 1 crop 4 elements from 3");
    begin();
    n = NODE(KILN_OP_PAD, 1, input("x", KILN_DT_F32, "2,3"), I(0, 0, 0, 1));
    kiln_attr_set_string(g, n, "mode", "mirror");
    expect_error("attribute 'mode' is \"mirror\"");
    begin();
    NODE(KILN_OP_PAD, 1, input("x", KILN_DT_F32, "2,3"), I(0, 0, INT64_MAX, 0));
    expect_error("pads on axis 0 (0, 9223372036854775807) are out of range");
    begin();
    NODE(KILN_OP_PAD, 1, input("x", KILN_DT_F32, "2,3"), I(0, 1));
    expect_error("input 1 ('pads') has 2 entries, need 4");
    begin();
    n = NODE(KILN_OP_TILE, 1, input("x", KILN_DT_F32, "2,3"), I(3, 2));
    expect_type(n, 0, "f32[6,6]");
    begin();
    NODE(KILN_OP_TILE, 1, input("x", KILN_DT_F32, "2,3"), I(3));
    expect_error("input 1 ('repeats') has 1 entries for an input of rank 2");
    begin();
    n = NODE(KILN_OP_EXPAND, 1, input("x", KILN_DT_F32, "3,1"), I(2, 1, 4));
    expect_type(n, 0, "f32[2,3,4]");
    begin();
    NODE(KILN_OP_EXPAND, 1, input("x", KILN_DT_F32, "3,2"), I(2, 4));
    expect_error("cannot broadcast");
}

static void test_depth_space_trilu_reverse(void)
{
    begin();
    uint32_t n = NODE(KILN_OP_DEPTHTOSPACE, 1, input("x", KILN_DT_F32, "1,8,2,3"));
    kiln_attr_set_int(g, n, "blocksize", 2);
    expect_type(n, 0, "f32[1,2,4,6]");
    begin();
    n = NODE(KILN_OP_DEPTHTOSPACE, 1, input("x", KILN_DT_F32, "1,6,2,3"));
    kiln_attr_set_int(g, n, "blocksize", 2);
    expect_error("6 channels do not divide by blocksize^2 = 4");
    begin();
    n = NODE(KILN_OP_DEPTHTOSPACE, 1, input("x", KILN_DT_F32, "1,8,2,3"));
    expect_error("attribute 'blocksize' is 0, must be in [1,");
    begin();
    n = NODE(KILN_OP_SPACETODEPTH, 1, input("x", KILN_DT_F32, "1,2,4,6"));
    kiln_attr_set_int(g, n, "blocksize", 2);
    expect_type(n, 0, "f32[1,8,2,3]");
    begin();
    n = NODE(KILN_OP_TRILU, 1, input("x", KILN_DT_I64, "2,3,4"), I(1));
    expect_type(n, 0, "i64[2,3,4]");
    begin();
    NODE(KILN_OP_TRILU, 1, input("x", KILN_DT_I64, "4"));
    expect_error("input 0 ('x') has rank 1, need 2 to 8");
    begin();
    n = NODE(KILN_OP_REVERSESEQUENCE, 1, input("x", KILN_DT_F32, "4,3"), I(1, 2, 3));
    expect_type(n, 0, "f32[4,3]");
    begin();
    NODE(KILN_OP_REVERSESEQUENCE, 1, input("x", KILN_DT_F32, "4,3"), I(1, 2));
    expect_error("has 2 entries for a batch of 3");
    begin();
    n = NODE(KILN_OP_REVERSESEQUENCE, 1, input("x", KILN_DT_F32, "4,3"), I(1, 2, 3));
    kiln_attr_set_int(g, n, "time_axis", 1);
    expect_error("batch_axis and time_axis are both 1");
}

/* ---- indexing ----------------------------------------------------------------- */

static void test_gathers(void)
{
    begin();
    uint32_t n = NODE(KILN_OP_GATHER, 1, input("x", KILN_DT_F32, "5,4"), input("i", KILN_DT_I32, "2,3"));
    kiln_attr_set_int(g, n, "axis", -1);
    expect_type(n, 0, "f32[5,2,3]");
    begin();
    NODE(KILN_OP_GATHER, 1, input("x", KILN_DT_F32, "5,4"), input("i", KILN_DT_F32, "2"));
    expect_error("input 1 ('i') has dtype f32");
    begin();
    n = NODE(KILN_OP_GATHER, 1, input("x", KILN_DT_F32, "5,4"), input("i", KILN_DT_I64, "2"));
    kiln_attr_set_int(g, n, "axis", 2);
    expect_error("attribute 'axis' is 2, out of range [-2, 2)");
    begin();
    n = NODE(KILN_OP_GATHERELEMENTS, 1, input("x", KILN_DT_F32, "3,3"), input("i", KILN_DT_I64, "5,3"));
    expect_type(n, 0, "f32[5,3]");
    begin();
    NODE(KILN_OP_GATHERELEMENTS, 1, input("x", KILN_DT_F32, "3,3"), input("i", KILN_DT_I64, "2,4"));
    expect_error("has size 4 on axis 1, data only 3");
    begin();
    n = NODE(KILN_OP_GATHERND, 1, input("x", KILN_DT_F32, "2,2,2"), input("i", KILN_DT_I64, "2,1"));
    kiln_attr_set_int(g, n, "batch_dims", 1);
    expect_type(n, 0, "f32[2,2]");
    begin();
    NODE(KILN_OP_GATHERND, 1, input("x", KILN_DT_F32, "2,2"), input("i", KILN_DT_I64, "2,3"));
    expect_error("index tuples of input 1 ('indices') have 3 entries, need 1 to 2");
}

static void test_scatters(void)
{
    begin();
    uint32_t n = NODE(KILN_OP_SCATTERELEMENTS, 1, input("x", KILN_DT_F32, "3,3"), input("i", KILN_DT_I64, "2,3"),
                      input("u", KILN_DT_F32, "2,3"));
    kiln_attr_set_string(g, n, "reduction", "max");
    expect_type(n, 0, "f32[3,3]");
    begin();
    n = NODE(KILN_OP_SCATTERELEMENTS, 1, input("x", KILN_DT_F32, "3,3"), input("i", KILN_DT_I64, "2,3"),
             input("u", KILN_DT_F32, "2,2"));
    expect_error("input 2 ('updates') has shape [2,2], input 1 ('indices') [2,3]");
    begin();
    n = NODE(KILN_OP_SCATTERELEMENTS, 1, input("x", KILN_DT_BOOL, "3"), input("i", KILN_DT_I64, "2"),
             input("u", KILN_DT_BOOL, "2"));
    kiln_attr_set_string(g, n, "reduction", "add");
    expect_error("reduction 'add' needs a numeric dtype");
    begin();
    n = NODE(KILN_OP_SCATTERND, 1, input("x", KILN_DT_F32, "4,4,4"), input("i", KILN_DT_I64, "2,1"),
             input("u", KILN_DT_F32, "2,4,4"));
    expect_type(n, 0, "f32[4,4,4]");
    begin();
    NODE(KILN_OP_SCATTERND, 1, input("x", KILN_DT_F32, "4,4,4"), input("i", KILN_DT_I64, "2,1"),
         input("u", KILN_DT_F32, "2,4"));
    expect_error("input 2 ('updates') has shape [2,4], need [2,4,4]");
}

static void test_data_dependent_counts(void)
{
    float depth = 10;
    begin();
    uint32_t n = NODE(KILN_OP_ONEHOT, 1, input("i", KILN_DT_I64, "2,3"), scalar("d", KILN_DT_F32, &depth),
                      input("v", KILN_DT_I32, "2"));
    kiln_attr_set_int(g, n, "axis", 1);
    expect_type(n, 0, "i32[2,10,3]");
    begin();
    n = NODE(KILN_OP_ONEHOT, 1, input("i", KILN_DT_I64, "3"), input("d", KILN_DT_I64, ""), input("v", KILN_DT_F32, "2"));
    expect_type(n, 0, "f32[3,?]");
    begin();
    uint8_t cond[4] = {1, 0, 1, 1};
    kiln_shape s4 = kiln_shape_make(1, (int64_t[]){4});
    uint32_t c = kiln_const_add(g, "c", KILN_DT_BOOL, &s4, cond, 4, true);
    n = NODE(KILN_OP_COMPRESS, 1, input("x", KILN_DT_F32, "2,4"), c);
    kiln_attr_set_int(g, n, "axis", 1);
    expect_type(n, 0, "f32[2,3]");
    begin();
    n = NODE(KILN_OP_COMPRESS, 1, input("x", KILN_DT_F32, "2,4"), input("c", KILN_DT_BOOL, "8"));
    expect_type(n, 0, "f32[?]");
    begin();
    float vals[6] = {0, 1, 0, 2, -0.0f, 3};
    kiln_shape s23 = kiln_shape_make(2, (int64_t[]){2, 3});
    n = NODE(KILN_OP_NONZERO, 1, kiln_const_add(g, "x", KILN_DT_F32, &s23, vals, sizeof vals, true));
    expect_type(n, 0, "i64[2,3]");
    begin();
    n = NODE(KILN_OP_NONZERO, 1, input("x", KILN_DT_F32, "2,3,4"));
    expect_type(n, 0, "i64[3,?]");
    begin();
    float u[6] = {2, 1, 1, 3, 4, 3};
    kiln_shape s6 = kiln_shape_make(1, (int64_t[]){6});
    n = NODE(KILN_OP_UNIQUE, 4, kiln_const_add(g, "x", KILN_DT_F32, &s6, u, sizeof u, true));
    expect_type(n, 0, "f32[4]");
    CU_ASSERT_STRING_EQUAL(type_of(n, 2), "i64[6]");
    begin();
    n = NODE(KILN_OP_UNIQUE, 4, input("x", KILN_DT_F32, "3,5"));
    kiln_attr_set_int(g, n, "axis", -1);
    expect_type(n, 0, "f32[3,?]");
    CU_ASSERT_TRUE(type_matches(type_of(n, 3), "i64[?]"));
    CU_ASSERT_STRING_EQUAL(type_of(n, 2), "i64[5]");
}

/* ---- generators and shape ops ---------------------------------------------------- */

static void test_range_eye_constant(void)
{
    int32_t s = 10, l = 4, d = -3;
    begin();
    uint32_t n = NODE(KILN_OP_RANGE, 1, scalar("s", KILN_DT_I32, &s), scalar("l", KILN_DT_I32, &l),
                      scalar("d", KILN_DT_I32, &d));
    expect_type(n, 0, "i32[2]");
    begin();
    NODE(KILN_OP_RANGE, 1, scalar("s", KILN_DT_I32, &s), input("l", KILN_DT_I64, ""), scalar("d", KILN_DT_I32, &d));
    expect_error("input 1 ('l') is i64 but input 0 is i32");
    begin();
    int32_t zero = 0;
    NODE(KILN_OP_RANGE, 1, scalar("s", KILN_DT_I32, &s), scalar("l", KILN_DT_I32, &l), scalar("d", KILN_DT_I32, &zero));
    expect_error("delta is 0");
    begin();
    n = NODE(KILN_OP_EYELIKE, 1, input("x", KILN_DT_I32, "3,4"));
    kiln_attr_set_string(g, n, "dtype", "f64");
    expect_type(n, 0, "f64[3,4]");
    begin();
    n = NODE(KILN_OP_EYELIKE, 1, input("x", KILN_DT_I32, "3,4"));
    kiln_attr_set_string(g, n, "dtype", "bf16");
    expect_error("attribute 'dtype' is \"bf16\"");
    begin();
    n = NODE(KILN_OP_CONSTANTOFSHAPE, 1, I(2, 0, 3));
    int32_t seven = 7;
    kiln_tensor t = {.dtype = KILN_DT_I32, .shape = kiln_shape_make(1, (int64_t[]){1}), .data = &seven, .nbytes = 4};
    kiln_attr_set_tensor(g, n, "value", &t);
    expect_type(n, 0, "i32[2,0,3]");
    begin();
    NODE(KILN_OP_CONSTANTOFSHAPE, 1, I(2, -1));
    expect_error("input 0 entry 1 is -1");
}

static void test_shape_size_fold(void)
{
    begin();
    uint32_t n = NODE(KILN_OP_SHAPE, 1, input("x", KILN_DT_F32, "2,3,4,5"));
    kiln_attr_set_int(g, n, "start", -3);
    kiln_attr_set_int(g, n, "end", -1);
    expect_type(n, 0, "i64[2]");
    const kiln_value *v = kiln_out(g, kiln_node_at(g, n), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v->data);
    CU_ASSERT_EQUAL(((const int64_t *)v->data)[0], 3);
    CU_ASSERT_EQUAL(((const int64_t *)v->data)[1], 4);
    begin();
    n = NODE(KILN_OP_SHAPE, 1, input("x", KILN_DT_F32, "N,3"));
    expect_type(n, 0, "i64[2]");
    CU_ASSERT_PTR_NULL(kiln_out(g, kiln_node_at(g, n), 0)->data);  /* N unknown: no data */
    begin();
    n = NODE(KILN_OP_SIZE, 1, input("x", KILN_DT_F32, "2,3,4"));
    expect_type(n, 0, "i64[]");
    CU_ASSERT_EQUAL(*(const int64_t *)kiln_out(g, kiln_node_at(g, n), 0)->data, 24);
}

/* ---- detection and signal ---------------------------------------------------------- */

static void test_nms_dft_stft(void)
{
    begin();
    uint32_t n = NODE(KILN_OP_NONMAXSUPPRESSION, 1, input("b", KILN_DT_F32, "1,6,4"), input("s", KILN_DT_F32, "1,2,6"));
    expect_type(n, 0, "i64[0,3]");  /* max_output_boxes_per_class defaults to 0 */
    begin();
    n = NODE(KILN_OP_NONMAXSUPPRESSION, 1, input("b", KILN_DT_F32, "1,6,4"), input("s", KILN_DT_F32, "1,2,6"),
             input("m", KILN_DT_I64, "1"));
    expect_type(n, 0, "i64[?,3]");
    begin();
    NODE(KILN_OP_NONMAXSUPPRESSION, 1, input("b", KILN_DT_F32, "1,6,4"), input("s", KILN_DT_F32, "1,2,5"));
    expect_error("boxes [1,6,4] and scores [1,2,5] do not match");
    begin();
    n = NODE(KILN_OP_DFT, 1, input("x", KILN_DT_F32, "1,10,10,1"));
    kiln_attr_set_int(g, n, "onesided", 1);
    expect_type(n, 0, "f32[1,6,10,2]");
    begin();
    int64_t len = 16;
    n = NODE(KILN_OP_DFT, 1, input("x", KILN_DT_F32, "1,10,10,2"), scalar("l", KILN_DT_I64, &len));
    kiln_attr_set_int(g, n, "axis", -2);
    expect_type(n, 0, "f32[1,10,16,2]");
    begin();
    n = NODE(KILN_OP_DFT, 1, input("x", KILN_DT_F32, "1,10,3"));
    expect_error("must be 1 (real) or 2 (complex), not 3");
    begin();
    n = NODE(KILN_OP_DFT, 1, input("x", KILN_DT_F32, "1,10,1"));
    kiln_attr_set_int(g, n, "axis", -1);
    expect_error("names the last (real/imaginary) dimension");
    begin();
    int64_t step = 8, frame = 16;
    n = NODE(KILN_OP_STFT, 1, input("x", KILN_DT_F32, "1,128,1"), scalar("st", KILN_DT_I64, &step), 0,
             scalar("fl", KILN_DT_I64, &frame));
    expect_type(n, 0, "f32[1,15,9,2]");
    begin();
    NODE(KILN_OP_STFT, 1, input("x", KILN_DT_F32, "1,128,1"), scalar("st", KILN_DT_I64, &step),
         input("w", KILN_DT_F32, "8"), scalar("fl", KILN_DT_I64, &frame));
    expect_error("the window has 8 samples but frame_length is 16");
}

static void test_windows_mel(void)
{
    int32_t ten = 10;
    begin();
    uint32_t n = NODE(KILN_OP_HANNWINDOW, 1, scalar("n", KILN_DT_I32, &ten));
    expect_type(n, 0, "f32[10]");
    begin();
    n = NODE(KILN_OP_BLACKMANWINDOW, 1, scalar("n", KILN_DT_I32, &ten));
    kiln_attr_set_int(g, n, "output_datatype", 11);  /* ONNX DOUBLE */
    expect_type(n, 0, "f64[10]");
    begin();
    n = NODE(KILN_OP_HAMMINGWINDOW, 1, scalar("n", KILN_DT_I32, &ten));
    kiln_attr_set_int(g, n, "output_datatype", 8);  /* ONNX STRING */
    expect_error("'output_datatype' = 8 is not a numeric ONNX dtype");
    begin();
    n = NODE(KILN_OP_HANNWINDOW, 1, input("n", KILN_DT_F32, ""));
    expect_error("input 0 ('n') has dtype f32");
    int32_t bins = 8, dft = 16, rate = 8192;
    float lo = 0, hi = 4096;
    begin();
    n = NODE(KILN_OP_MELWEIGHTMATRIX, 1, scalar("a", KILN_DT_I32, &bins), scalar("b", KILN_DT_I32, &dft),
             scalar("c", KILN_DT_I32, &rate), scalar("d", KILN_DT_F32, &lo), scalar("e", KILN_DT_F32, &hi));
    expect_type(n, 0, "f32[9,8]");
    begin();
    NODE(KILN_OP_MELWEIGHTMATRIX, 1, scalar("a", KILN_DT_I32, &bins), scalar("b", KILN_DT_I32, &dft),
         scalar("c", KILN_DT_I32, &rate), scalar("d", KILN_DT_F32, &hi), scalar("e", KILN_DT_F32, &lo));
    expect_error("the band [4096, 0] Hz is empty");
}

static CU_TestInfo movement_tests[] = {
    {"reshape", test_reshape},
    {"reshape errors", test_reshape_errors},
    {"flatten, squeeze, unsqueeze", test_flatten_squeeze_unsqueeze},
    {"transpose, concat, split", test_transpose_concat_split},
    {"slice", test_slice},
    {"pad, tile, expand", test_pad_tile_expand},
    {"depth/space, trilu, reverse-sequence", test_depth_space_trilu_reverse},
    {NULL, NULL},
};

static CU_TestInfo index_tests[] = {
    {"gather, gather-elements, gather-nd", test_gathers},
    {"scatter-elements, scatter-nd", test_scatters},
    {"one-hot, compress, nonzero, unique", test_data_dependent_counts},
    {NULL, NULL},
};

static CU_TestInfo generator_tests[] = {
    {"range, eye-like, constant-of-shape", test_range_eye_constant},
    {"shape and size fold at compile time", test_shape_size_fold},
    {"nms, dft, stft", test_nms_dft_stft},
    {"windows, mel matrix", test_windows_mel},
    {NULL, NULL},
};

static CU_SuiteInfo suites[] = {
    {"movement inference", NULL, suite_end, NULL, NULL, movement_tests},
    {"indexing inference", NULL, suite_end, NULL, NULL, index_tests},
    {"generator and signal inference", NULL, suite_end, NULL, NULL, generator_tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
