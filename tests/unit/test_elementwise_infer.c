/* test_elementwise_infer.c — shape and dtype inference of the elementwise
 * family (ir/infer_elementwise.c): output types, broadcasting, attributes,
 * and every error path, whose message must name the node. */
#include "cunit_main.h"
#include "ir/infer.h"

#include <stdlib.h>
#include <string.h>

static kiln_ctx *ctx;
static kiln_graph *g;

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

/* Fresh graph per test (a CUnit suite shares setup; tests call this). */
static void reset(void)
{
    teardown();
    setup();
}

/* "2x3xN" -> shape; "" -> rank 0; letters name symbols. */
static kiln_shape shp(const char *text)
{
    kiln_shape s = {.rank = 0};
    char buf[64];
    const char *p = text;
    while (*p) {
        size_t len = strcspn(p, "x");
        memcpy(buf, p, len);
        buf[len] = '\0';
        s.dim[s.rank++] = (buf[0] >= '0' && buf[0] <= '9') ? atoll(buf)
                                                          : KILN_DIM_SYM(kiln_graph_symbol(g, buf));
        p += len + (p[len] == 'x');
    }
    return s;
}

static uint32_t in(const char *name, kiln_dtype dt, const char *shape)
{
    kiln_shape s = shp(shape);
    return kiln_input_add(g, name, dt, &s);
}

static uint32_t cst(const char *name, kiln_dtype dt, const char *shape, const void *data)
{
    kiln_shape s = shp(shape);
    int64_t n = 1;
    kiln_shape_numel(&s, &n);
    return kiln_const_add(g, name, dt, &s, data, (size_t)n * kiln_dtype_size(dt), true);
}

/* A node named 'n' with n_out outputs y0, y1, ... */
static uint32_t node(kiln_op op, const uint32_t *ins, uint32_t n_in, uint32_t n_out)
{
    uint32_t outs[4];
    char name[16];
    for (uint32_t i = 0; i < n_out; i++) {
        snprintf(name, sizeof name, "y%u", i);
        outs[i] = kiln_value_add(g, name);
    }
    return kiln_node_add(g, op, "n", ins, n_in, outs, n_out);
}

static uint32_t node1(kiln_op op, uint32_t a)
{
    return node(op, &a, 1, 1);
}

static uint32_t node2(kiln_op op, uint32_t a, uint32_t b)
{
    uint32_t ins[2] = {a, b};
    return node(op, ins, 2, 1);
}

/* Output i of node has dtype dt and shape text (kiln_shape_format). */
static void expect_type(uint32_t nd, uint32_t i, kiln_dtype dt, const char *shape)
{
    char buf[256];
    kiln_value *v = kiln_out(g, kiln_node_at(g, nd), i);
    CU_ASSERT_EQUAL(v->dtype, dt);
    kiln_shape_format(g, &v->shape, buf, sizeof buf);
    if (strcmp(buf, shape) != 0)
        fprintf(stderr, "\n  shape %s, want %s", buf, shape);
    CU_ASSERT_STRING_EQUAL(buf, shape);
}

static void expect_ok(void)
{
    kiln_status st = kiln_graph_infer(ctx, g);
    if (st)
        fprintf(stderr, "\n  unexpected error: %s", kiln_ctx_message(ctx));
    CU_ASSERT_EQUAL(st, KILN_OK);
}

/* Inference fails with `status`; the message names the node and has `text`. */
static void expect_error(kiln_status status, const char *text)
{
    kiln_status st = kiln_graph_infer(ctx, g);
    const char *msg = kiln_ctx_message(ctx);
    CU_ASSERT_EQUAL(st, status);
    if (!strstr(msg, "t.onnx: node 'n'") || !strstr(msg, text))
        fprintf(stderr, "\n  message \"%s\" lacks \"%s\"", msg, text);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "t.onnx: node 'n'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, text));
}

/* ---- unary -------------------------------------------------------------------- */

static void test_unary_keeps_type(void)
{
    static const kiln_op ops[] = {
        KILN_OP_ABS, KILN_OP_ACOS, KILN_OP_ACOSH, KILN_OP_ASIN, KILN_OP_ASINH, KILN_OP_ATAN,
        KILN_OP_ATANH, KILN_OP_CEIL, KILN_OP_COS, KILN_OP_COSH, KILN_OP_ERF, KILN_OP_EXP,
        KILN_OP_FLOOR, KILN_OP_LOG, KILN_OP_NEG, KILN_OP_RECIPROCAL, KILN_OP_RELU, KILN_OP_ROUND,
        KILN_OP_SIGMOID, KILN_OP_SIGN, KILN_OP_SIN, KILN_OP_SINH, KILN_OP_SOFTPLUS,
        KILN_OP_SOFTSIGN, KILN_OP_SQRT, KILN_OP_TAN, KILN_OP_TANH, KILN_OP_IDENTITY,
        KILN_OP_HARDSWISH, KILN_OP_ELU, KILN_OP_SELU, KILN_OP_CELU, KILN_OP_LEAKYRELU,
        KILN_OP_HARDSIGMOID, KILN_OP_THRESHOLDEDRELU, KILN_OP_SHRINK,
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        reset();
        uint32_t nd = node1(ops[i], in("x", KILN_DT_F32, "Nx3x5"));
        expect_ok();
        expect_type(nd, 0, KILN_DT_F32, "[N,3,5]");
    }
    reset();
    uint32_t nd = node1(KILN_OP_NOT, in("x", KILN_DT_BOOL, "4"));
    expect_ok();
    expect_type(nd, 0, KILN_DT_BOOL, "[4]");
    reset();
    nd = node1(KILN_OP_ABS, in("x", KILN_DT_U16, ""));
    expect_ok();
    expect_type(nd, 0, KILN_DT_U16, "[]");
}

static void test_unary_rejects_dtypes(void)
{
    node1(KILN_OP_EXP, in("x", KILN_DT_I32, "2"));
    expect_error(KILN_ERR_INVALID, "input 0 ('x') is i32; Exp takes f32, f64, f16, bf16");
    reset();
    node1(KILN_OP_RELU, in("x", KILN_DT_U8, "2"));
    expect_error(KILN_ERR_INVALID, "Relu takes");
    reset();
    node1(KILN_OP_NOT, in("x", KILN_DT_F32, "2"));
    expect_error(KILN_ERR_INVALID, "Not takes bool");
    reset();
    node1(KILN_OP_CELU, in("x", KILN_DT_F64, "2"));
    expect_error(KILN_ERR_INVALID, "Celu takes f32");
    reset();
    node1(KILN_OP_SIN, in("x", KILN_DT_BF16, "2"));  /* Sin has no bf16 up to opset 17 */
    expect_error(KILN_ERR_INVALID, "is bf16");
}

static void test_classify_ops(void)
{
    uint32_t nd = node1(KILN_OP_ISNAN, in("x", KILN_DT_F16, "2x2"));
    expect_ok();
    expect_type(nd, 0, KILN_DT_BOOL, "[2,2]");
    reset();
    nd = node1(KILN_OP_ISINF, in("x", KILN_DT_F64, "3"));
    kiln_attr_set_int(g, nd, "detect_negative", 0);
    expect_ok();
    expect_type(nd, 0, KILN_DT_BOOL, "[3]");
    reset();
    nd = node1(KILN_OP_ISINF, in("x", KILN_DT_F32, "3"));
    kiln_attr_set_int(g, nd, "detect_positive", 2);
    expect_error(KILN_ERR_INVALID, "attribute 'detect_positive' must be 0 or 1, got 2");
    reset();
    node1(KILN_OP_ISINF, in("x", KILN_DT_F16, "3"));
    expect_error(KILN_ERR_INVALID, "IsInf takes f32, f64");
}

static void test_unary_attributes(void)
{
    uint32_t nd = node1(KILN_OP_ELU, in("x", KILN_DT_F32, "2"));
    kiln_attr_set_int(g, nd, "alpha", 1);
    expect_error(KILN_ERR_INVALID, "attribute 'alpha' must be a float, got an int");
    reset();
    nd = node1(KILN_OP_HARDSIGMOID, in("x", KILN_DT_F32, "2"));
    kiln_attr_set_string(g, nd, "beta", "0.5");
    expect_error(KILN_ERR_INVALID, "attribute 'beta' must be a float, got a string");
    reset();
    nd = node1(KILN_OP_CELU, in("x", KILN_DT_F32, "2"));
    kiln_attr_set_float(g, nd, "alpha", 0.0f);
    expect_error(KILN_ERR_INVALID, "attribute 'alpha' must not be 0");
    reset();
    nd = node1(KILN_OP_SHRINK, in("x", KILN_DT_I16, "2"));
    kiln_attr_set_float(g, nd, "lambd", 2.0f);
    expect_ok();
    expect_type(nd, 0, KILN_DT_I16, "[2]");
}

/* ---- binary and variadic -------------------------------------------------------- */

static void test_binary_broadcast(void)
{
    uint32_t nd = node2(KILN_OP_ADD, in("a", KILN_DT_F32, "2x1x4"), in("b", KILN_DT_F32, "3x1"));
    expect_ok();
    expect_type(nd, 0, KILN_DT_F32, "[2,3,4]");
    reset();
    nd = node2(KILN_OP_MUL, in("a", KILN_DT_I64, "Nx4"), in("b", KILN_DT_I64, "4"));
    expect_ok();
    expect_type(nd, 0, KILN_DT_I64, "[N,4]");
    reset();
    nd = node2(KILN_OP_SUB, in("a", KILN_DT_F32, "Nx1"), in("b", KILN_DT_F32, "1x7"));
    expect_ok();
    expect_type(nd, 0, KILN_DT_F32, "[N,7]");
    reset();
    nd = node2(KILN_OP_LESSOREQUAL, in("a", KILN_DT_U8, "3"), in("b", KILN_DT_U8, ""));
    expect_ok();
    expect_type(nd, 0, KILN_DT_BOOL, "[3]");
    reset();
    nd = node2(KILN_OP_EQUAL, in("a", KILN_DT_BOOL, "3"), in("b", KILN_DT_BOOL, "3"));
    expect_ok();
    expect_type(nd, 0, KILN_DT_BOOL, "[3]");
}

static void test_binary_errors(void)
{
    node2(KILN_OP_ADD, in("a", KILN_DT_I64, "2"), in("b", KILN_DT_F32, "2"));
    expect_error(KILN_ERR_INVALID, "input 0 ('a') is i64 but input 1 ('b') is f32; Add needs one dtype");
    reset();
    node2(KILN_OP_DIV, in("a", KILN_DT_F32, "2x3"), in("b", KILN_DT_F32, "4"));
    expect_error(KILN_ERR_INVALID, "cannot broadcast shapes [2,3] and [4]");
    reset();
    node2(KILN_OP_AND, in("a", KILN_DT_F32, "2"), in("b", KILN_DT_F32, "2"));
    expect_error(KILN_ERR_INVALID, "And takes bool");
    reset();
    node2(KILN_OP_GREATER, in("a", KILN_DT_BOOL, "2"), in("b", KILN_DT_BOOL, "2"));
    expect_error(KILN_ERR_INVALID, "Greater takes");
    reset();
    uint32_t ins[2] = {in("a", KILN_DT_F32, "2"), 0};
    node(KILN_OP_ADD, ins, 2, 1);
    expect_error(KILN_ERR_INVALID, "input 1 is required");
}

static void test_mod_and_bitshift(void)
{
    uint32_t nd = node2(KILN_OP_MOD, in("a", KILN_DT_F32, "2"), in("b", KILN_DT_F32, "2"));
    expect_error(KILN_ERR_INVALID, "Mod of floats needs fmod = 1");
    reset();
    nd = node2(KILN_OP_MOD, in("a", KILN_DT_F16, "2"), in("b", KILN_DT_F16, "1"));
    kiln_attr_set_int(g, nd, "fmod", 1);
    expect_ok();
    expect_type(nd, 0, KILN_DT_F16, "[2]");
    reset();
    nd = node2(KILN_OP_MOD, in("a", KILN_DT_I8, "2"), in("b", KILN_DT_I8, "2"));
    kiln_attr_set_int(g, nd, "fmod", 3);
    expect_error(KILN_ERR_INVALID, "attribute 'fmod' must be 0 or 1, got 3");
    reset();
    nd = node2(KILN_OP_BITSHIFT, in("a", KILN_DT_U32, "2"), in("b", KILN_DT_U32, "2"));
    expect_error(KILN_ERR_INVALID, "attribute 'direction' (\"LEFT\" or \"RIGHT\") is required");
    reset();
    nd = node2(KILN_OP_BITSHIFT, in("a", KILN_DT_U32, "2"), in("b", KILN_DT_U32, "2"));
    kiln_attr_set_string(g, nd, "direction", "UP");
    expect_error(KILN_ERR_INVALID, "must be \"LEFT\" or \"RIGHT\", got \"UP\"");
    reset();
    nd = node2(KILN_OP_BITSHIFT, in("a", KILN_DT_I32, "2"), in("b", KILN_DT_I32, "2"));
    kiln_attr_set_string(g, nd, "direction", "LEFT");
    expect_error(KILN_ERR_INVALID, "BitShift takes u8, u16, u32, u64");
    reset();
    nd = node2(KILN_OP_BITSHIFT, in("a", KILN_DT_U8, "2x2"), in("b", KILN_DT_U8, "2"));
    kiln_attr_set_string(g, nd, "direction", "RIGHT");
    expect_ok();
    expect_type(nd, 0, KILN_DT_U8, "[2,2]");
}

static void test_pow(void)
{
    uint32_t nd = node2(KILN_OP_POW, in("a", KILN_DT_F32, "3"), in("b", KILN_DT_I64, "2x1"));
    expect_ok();
    expect_type(nd, 0, KILN_DT_F32, "[2,3]");
    reset();
    nd = node2(KILN_OP_POW, in("a", KILN_DT_I64, "3"), in("b", KILN_DT_F32, "3"));
    expect_ok();
    expect_type(nd, 0, KILN_DT_I64, "[3]");
    reset();
    node2(KILN_OP_POW, in("a", KILN_DT_U8, "3"), in("b", KILN_DT_U8, "3"));
    expect_error(KILN_ERR_INVALID, "input 0 ('a') is u8; Pow takes");
    reset();
    node2(KILN_OP_POW, in("a", KILN_DT_F32, "3"), in("b", KILN_DT_BOOL, "3"));
    expect_error(KILN_ERR_INVALID, "input 1 ('b') is bool");
}

static void test_prelu(void)
{
    uint32_t nd = node2(KILN_OP_PRELU, in("x", KILN_DT_F32, "2x3x4"), in("s", KILN_DT_F32, "3x1"));
    expect_ok();
    expect_type(nd, 0, KILN_DT_F32, "[2,3,4]");
    reset();
    nd = node2(KILN_OP_PRELU, in("x", KILN_DT_F32, "Nx3"), in("s", KILN_DT_F32, "3"));
    expect_ok();
    expect_type(nd, 0, KILN_DT_F32, "[N,3]");
    reset();
    node2(KILN_OP_PRELU, in("x", KILN_DT_F32, "1x3"), in("s", KILN_DT_F32, "2x3"));
    expect_error(KILN_ERR_INVALID, "slope shape [2,3] does not broadcast to X's shape [1,3]");
    reset();
    node2(KILN_OP_PRELU, in("x", KILN_DT_F32, "3"), in("s", KILN_DT_F32, "1x3"));
    expect_error(KILN_ERR_INVALID, "slope shape [1,3] does not broadcast");
    reset();
    node2(KILN_OP_PRELU, in("x", KILN_DT_I8, "3"), in("s", KILN_DT_I8, "3"));
    expect_error(KILN_ERR_INVALID, "PRelu takes");
}

static void test_variadic(void)
{
    uint32_t ins[3] = {in("a", KILN_DT_F32, "3"), in("b", KILN_DT_F32, "2x3"), in("c", KILN_DT_F32, "")};
    uint32_t nd = node(KILN_OP_SUM, ins, 3, 1);
    expect_ok();
    expect_type(nd, 0, KILN_DT_F32, "[2,3]");
    reset();
    nd = node1(KILN_OP_MAX, in("a", KILN_DT_I32, "5"));
    expect_ok();
    expect_type(nd, 0, KILN_DT_I32, "[5]");
    reset();
    node1(KILN_OP_MEAN, in("a", KILN_DT_I32, "5"));
    expect_error(KILN_ERR_INVALID, "Mean takes f32, f64, f16, bf16");
    reset();
    uint32_t mixed[3] = {in("a", KILN_DT_F32, "3"), in("b", KILN_DT_F32, "3"), in("c", KILN_DT_F64, "3")};
    node(KILN_OP_MIN, mixed, 3, 1);
    expect_error(KILN_ERR_INVALID, "input 2 ('c') is f64; Min needs one dtype");
    reset();
    uint32_t bad[2] = {in("a", KILN_DT_F32, "3"), in("b", KILN_DT_F32, "4")};
    node(KILN_OP_MAX, bad, 2, 1);
    expect_error(KILN_ERR_INVALID, "cannot broadcast");
}

/* ---- Clip, Where, Cast, CastLike, Dropout --------------------------------------------- */

static void test_clip(void)
{
    float lo = 0;
    uint32_t ins[3] = {in("x", KILN_DT_F32, "2x3"), cst("lo", KILN_DT_F32, "1", &lo), 0};
    uint32_t nd = node(KILN_OP_CLIP, ins, 3, 1);
    expect_ok();
    expect_type(nd, 0, KILN_DT_F32, "[2,3]");
    reset();
    uint32_t ins2[3] = {in("x", KILN_DT_I8, "4"), 0, in("hi", KILN_DT_I8, "")};
    nd = node(KILN_OP_CLIP, ins2, 3, 1);
    expect_ok();
    expect_type(nd, 0, KILN_DT_I8, "[4]");
    reset();
    uint32_t ins3[2] = {in("x", KILN_DT_F32, "4"), in("lo", KILN_DT_F32, "2")};
    node(KILN_OP_CLIP, ins3, 2, 1);
    expect_error(KILN_ERR_INVALID, "input 1 ('lo') must be a scalar, got shape [2]");
    reset();
    uint32_t ins4[2] = {in("x", KILN_DT_F32, "4"), in("lo", KILN_DT_F64, "")};
    node(KILN_OP_CLIP, ins4, 2, 1);
    expect_error(KILN_ERR_INVALID, "input 1 ('lo') is f64; Clip needs one dtype");
    reset();
    node1(KILN_OP_CLIP, in("x", KILN_DT_BOOL, "4"));
    expect_error(KILN_ERR_INVALID, "Clip takes");
}

static void test_where(void)
{
    uint32_t ins[3] = {in("c", KILN_DT_BOOL, "2x1"), in("a", KILN_DT_F32, "3"), in("b", KILN_DT_F32, "")};
    uint32_t nd = node(KILN_OP_WHERE, ins, 3, 1);
    expect_ok();
    expect_type(nd, 0, KILN_DT_F32, "[2,3]");
    reset();
    uint32_t ins2[3] = {in("c", KILN_DT_F32, "2"), in("a", KILN_DT_F32, "2"), in("b", KILN_DT_F32, "2")};
    node(KILN_OP_WHERE, ins2, 3, 1);
    expect_error(KILN_ERR_INVALID, "input 0 ('c') is f32; Where takes bool");
    reset();
    uint32_t ins3[3] = {in("c", KILN_DT_BOOL, "2"), in("a", KILN_DT_I64, "2"), in("b", KILN_DT_I32, "2")};
    node(KILN_OP_WHERE, ins3, 3, 1);
    expect_error(KILN_ERR_INVALID, "input 1 ('a') is i64 but input 2 ('b') is i32");
    reset();
    uint32_t ins4[3] = {in("c", KILN_DT_BOOL, "3"), in("a", KILN_DT_I64, "2"), in("b", KILN_DT_I64, "2")};
    node(KILN_OP_WHERE, ins4, 3, 1);
    expect_error(KILN_ERR_INVALID, "cannot broadcast");
}

static void test_cast(void)
{
    uint32_t nd = node1(KILN_OP_CAST, in("x", KILN_DT_F64, "Nx2"));
    kiln_attr_set_string(g, nd, "to", "f16");
    expect_ok();
    expect_type(nd, 0, KILN_DT_F16, "[N,2]");
    reset();
    node1(KILN_OP_CAST, in("x", KILN_DT_F64, "2"));
    expect_error(KILN_ERR_INVALID, "attribute 'to' (the target dtype) is required");
    reset();
    nd = node1(KILN_OP_CAST, in("x", KILN_DT_F64, "2"));
    kiln_attr_set_int(g, nd, "to", 1);
    expect_error(KILN_ERR_INVALID, "attribute 'to' must be a dtype name (a string), got an int");
    reset();
    nd = node1(KILN_OP_CAST, in("x", KILN_DT_F64, "2"));
    kiln_attr_set_string(g, nd, "to", "string");
    expect_error(KILN_ERR_UNSUPPORTED, "names no dtype kiln knows: \"string\"");
    reset();
    nd = node2(KILN_OP_CASTLIKE, in("x", KILN_DT_F32, "2x2"), in("like", KILN_DT_BF16, "7"));
    expect_ok();
    expect_type(nd, 0, KILN_DT_BF16, "[2,2]");
}

static void test_dropout(void)
{
    uint32_t x = in("x", KILN_DT_F32, "3x4");
    uint32_t nd = node(KILN_OP_DROPOUT, &x, 1, 2);
    expect_ok();
    expect_type(nd, 0, KILN_DT_F32, "[3,4]");
    expect_type(nd, 1, KILN_DT_BOOL, "[3,4]");
    reset();
    float r = 1.5f;
    uint32_t ins[2] = {in("x", KILN_DT_F32, "3"), cst("r", KILN_DT_F32, "", &r)};
    node(KILN_OP_DROPOUT, ins, 2, 1);
    expect_error(KILN_ERR_INVALID, "ratio must be in [0, 1), got 1.5");
    reset();
    uint8_t t = 1;
    uint32_t ins2[3] = {in("x", KILN_DT_F32, "3"), 0, cst("t", KILN_DT_BOOL, "", &t)};
    node(KILN_OP_DROPOUT, ins2, 3, 1);
    expect_error(KILN_ERR_UNSUPPORTED, "training_mode is true with a ratio that is not 0");
    reset();
    float zero = 0;
    uint32_t ins5[3] = {in("x", KILN_DT_F32, "3"), cst("r", KILN_DT_F32, "", &zero),
                        cst("t", KILN_DT_BOOL, "", &t)};
    uint32_t nd5 = node(KILN_OP_DROPOUT, ins5, 3, 2);
    expect_ok();  /* training with ratio 0 is the identity */
    expect_type(nd5, 1, KILN_DT_BOOL, "[3]");
    reset();
    uint32_t ins3[2] = {in("x", KILN_DT_F32, "3"), in("r", KILN_DT_F32, "2")};
    node(KILN_OP_DROPOUT, ins3, 2, 1);
    expect_error(KILN_ERR_INVALID, "input 1 ('r') must be a scalar");
    reset();
    uint32_t ins4[2] = {in("x", KILN_DT_F32, "3"), in("r", KILN_DT_I64, "")};
    node(KILN_OP_DROPOUT, ins4, 2, 1);
    expect_error(KILN_ERR_INVALID, "input 1 ('r') is i64");
}

/* ---- quantization ------------------------------------------------------------------- */

static void test_quantize(void)
{
    uint32_t ins[3] = {in("x", KILN_DT_F32, "1x3x2x2"), in("s", KILN_DT_F32, "3"), in("z", KILN_DT_I8, "3")};
    uint32_t nd = node(KILN_OP_QUANTIZELINEAR, ins, 3, 1);
    expect_ok();
    expect_type(nd, 0, KILN_DT_I8, "[1,3,2,2]");
    reset();
    uint32_t ins2[2] = {in("x", KILN_DT_I32, "5"), in("s", KILN_DT_F32, "")};
    nd = node(KILN_OP_QUANTIZELINEAR, ins2, 2, 1);
    expect_ok();
    expect_type(nd, 0, KILN_DT_U8, "[5]");
    reset();
    uint32_t ins3[2] = {in("x", KILN_DT_F32, "2x4"), in("s", KILN_DT_F32, "3")};
    node(KILN_OP_QUANTIZELINEAR, ins3, 2, 1);
    expect_error(KILN_ERR_INVALID, "scale has 3 elements but axis 1 of input 0 has 4");
    reset();
    uint32_t ins4[3] = {in("x", KILN_DT_F32, "2x4"), in("s", KILN_DT_F32, "4"), in("z", KILN_DT_U8, "")};
    node(KILN_OP_QUANTIZELINEAR, ins4, 3, 1);
    expect_error(KILN_ERR_INVALID, "zero point shape [] differs from scale shape [4]");
    reset();
    uint32_t ins5[2] = {in("x", KILN_DT_F32, "2x4"), in("s", KILN_DT_F32, "2")};
    nd = node(KILN_OP_QUANTIZELINEAR, ins5, 2, 1);
    kiln_attr_set_int(g, nd, "axis", 2);
    expect_error(KILN_ERR_INVALID, "axis 2 is out of range for rank 2");
    reset();
    uint32_t ins6[2] = {in("x", KILN_DT_F32, "2x4"), in("s", KILN_DT_F32, "2x4")};
    node(KILN_OP_QUANTIZELINEAR, ins6, 2, 1);
    expect_error(KILN_ERR_INVALID, "scale must be a scalar or 1-D, got shape [2,4]");
    reset();
    uint32_t ins7[3] = {in("x", KILN_DT_F64, "2"), in("s", KILN_DT_F32, ""), in("z", KILN_DT_U8, "")};
    node(KILN_OP_QUANTIZELINEAR, ins7, 3, 1);
    expect_error(KILN_ERR_INVALID, "input 0 ('x') is f64; QuantizeLinear takes f32, i32");
    reset();
    uint32_t ins8[3] = {in("x", KILN_DT_F32, "2"), in("s", KILN_DT_F32, ""), in("z", KILN_DT_I16, "")};
    node(KILN_OP_QUANTIZELINEAR, ins8, 3, 1);
    expect_error(KILN_ERR_INVALID, "input 2 ('z') is i16");
    reset();
    uint32_t ins10[3] = {in("x", KILN_DT_F32, "2x4"), in("s", KILN_DT_F32, ""), in("z", KILN_DT_U8, "1")};
    node(KILN_OP_QUANTIZELINEAR, ins10, 3, 1);
    expect_ok();  /* one-element scale and zero point of different ranks: per tensor */
    reset();
    uint32_t ins9[2] = {in("x", KILN_DT_F32, "2x4"), in("s", KILN_DT_F32, "2")};
    nd = node(KILN_OP_QUANTIZELINEAR, ins9, 2, 1);
    kiln_attr_set_int(g, nd, "axis", -2);  /* negative axes count from the end */
    expect_ok();
}

static void test_dequantize(void)
{
    uint32_t ins[3] = {in("x", KILN_DT_U8, "2x3"), in("s", KILN_DT_F32, "3"), in("z", KILN_DT_U8, "3")};
    uint32_t nd = node(KILN_OP_DEQUANTIZELINEAR, ins, 3, 1);
    kiln_attr_set_int(g, nd, "axis", -1);
    expect_ok();
    expect_type(nd, 0, KILN_DT_F32, "[2,3]");
    reset();
    int32_t z = 3;
    uint32_t ins2[3] = {in("x", KILN_DT_I32, "2"), in("s", KILN_DT_F32, ""), cst("z", KILN_DT_I32, "", &z)};
    node(KILN_OP_DEQUANTIZELINEAR, ins2, 3, 1);
    expect_error(KILN_ERR_INVALID, "an i32 zero point must be 0, got 3");
    reset();
    uint32_t ins3[3] = {in("x", KILN_DT_I8, "2"), in("s", KILN_DT_F32, ""), in("z", KILN_DT_U8, "")};
    node(KILN_OP_DEQUANTIZELINEAR, ins3, 3, 1);
    expect_error(KILN_ERR_INVALID, "input 2 ('z') is u8; DequantizeLinear takes i8");
    reset();
    uint32_t x = in("x", KILN_DT_F32, "Nx3");
    nd = node(KILN_OP_DYNAMICQUANTIZELINEAR, &x, 1, 3);
    expect_ok();
    expect_type(nd, 0, KILN_DT_U8, "[N,3]");
    expect_type(nd, 1, KILN_DT_F32, "[]");
    expect_type(nd, 2, KILN_DT_U8, "[]");
    reset();
    x = in("x", KILN_DT_F64, "3");
    node(KILN_OP_DYNAMICQUANTIZELINEAR, &x, 1, 3);
    expect_error(KILN_ERR_INVALID, "DynamicQuantizeLinear takes f32");
}

/* Constant inputs are folded during inference through the interpreter. */
static void test_constant_folding(void)
{
    int64_t a[3] = {1, 2, 3}, b = 10;
    uint32_t nd = node2(KILN_OP_MUL, cst("a", KILN_DT_I64, "3", a), cst("b", KILN_DT_I64, "", &b));
    expect_ok();
    const int64_t *y = kiln_out(g, kiln_node_at(g, nd), 0)->data;
    CU_ASSERT_PTR_NOT_NULL_FATAL(y);
    CU_ASSERT(y[0] == 10 && y[1] == 20 && y[2] == 30);
}

static CU_TestInfo unary_tests[] = {
    {"unary ops keep type and shape", test_unary_keeps_type},
    {"unary dtype rules", test_unary_rejects_dtypes},
    {"IsNaN / IsInf", test_classify_ops},
    {"unary attributes", test_unary_attributes},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo binary_tests[] = {
    {"broadcasting", test_binary_broadcast},
    {"binary errors", test_binary_errors},
    {"Mod and BitShift attributes", test_mod_and_bitshift},
    {"Pow mixed dtypes", test_pow},
    {"PRelu one-way broadcast", test_prelu},
    {"Sum Max Min Mean", test_variadic},
    {"Clip", test_clip},
    {"Where", test_where},
    {"Cast and CastLike", test_cast},
    {"Dropout", test_dropout},
    {"constant folding", test_constant_folding},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo quant_tests[] = {
    {"QuantizeLinear", test_quantize},
    {"DequantizeLinear, DynamicQuantizeLinear", test_dequantize},
    CU_TEST_INFO_NULL,
};

/* Each test starts from a fresh graph: setup per test via the suite's
 * init/cleanup plus reset() inside multi-case tests. */
static CU_SuiteInfo suites[] = {
    {"elementwise inference: unary", setup, teardown, reset, NULL, unary_tests},
    {"elementwise inference: binary", setup, teardown, reset, NULL, binary_tests},
    {"elementwise inference: quantization", setup, teardown, reset, NULL, quant_tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
