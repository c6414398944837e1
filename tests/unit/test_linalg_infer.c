/* test_linalg_infer.c — shape and dtype inference of the linalg family
 * (ir/infer_linalg.c): output types for each op and its attributes,
 * symbolic and data-dependent dims, and the error paths, whose messages
 * must name the node. Expected shapes are worked out from the ONNX spec's
 * formulas by hand (noted beside each case). */
#include "cunit_main.h"
#include "ir/infer.h"

#include <stdlib.h>
#include <string.h>

static kiln_ctx *ctx;
static kiln_graph *g;
static uint32_t last;   /* the node under test */

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

/* "2x3xN" -> shape; "" -> rank 0; letters name symbols. */
static kiln_shape shp(const char *text)
{
    kiln_shape s = {.rank = 0};
    char buf[64];
    for (const char *p = text; *p;) {
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

static uint32_t ints(const char *name, const int64_t *v, int64_t n)
{
    kiln_shape s = {.rank = 1, .dim = {n}};
    return kiln_const_add(g, name, KILN_DT_I64, &s, v, (size_t)n * 8, true);
}

static uint32_t floats(const char *name, const float *v, int64_t n)
{
    kiln_shape s = {.rank = 1, .dim = {n}};
    return kiln_const_add(g, name, KILN_DT_F32, &s, v, (size_t)n * 4, true);
}

/* Node 'n' of op with the given inputs (0 = absent) and n_out outputs. */
static uint32_t node(kiln_op op, const uint32_t *ins, uint32_t n_in, uint32_t n_out)
{
    uint32_t outs[4];
    char name[16];
    for (uint32_t i = 0; i < n_out; i++) {
        snprintf(name, sizeof name, "y%u", i);
        outs[i] = kiln_value_add(g, name);
    }
    last = kiln_node_add(g, op, "n", ins, n_in, outs, n_out);
    return last;
}

#define NODE(op, n_out, ...) node(op, (uint32_t[]){__VA_ARGS__}, \
                                  sizeof((uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t), n_out)

static void set_ints(const char *name, const int64_t *v, uint32_t n) { kiln_attr_set_ints(g, last, name, v, n); }
static void set_int(const char *name, int64_t v) { kiln_attr_set_int(g, last, name, v); }
static void set_str(const char *name, const char *v) { kiln_attr_set_string(g, last, name, v); }
static void set_float(const char *name, float v) { kiln_attr_set_float(g, last, name, v); }

#define INTS(name, ...) set_ints(name, (int64_t[]){__VA_ARGS__}, \
                                 sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t))

static void expect_type(uint32_t i, kiln_dtype dt, const char *shape)
{
    char buf[256];
    kiln_value *v = kiln_out(g, kiln_node_at(g, last), i);
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

#define F32 KILN_DT_F32

/* ---- MatMul and Gemm ------------------------------------------------------------ */

static void matmul_case(const char *a, const char *b, const char *want)
{
    reset();
    NODE(KILN_OP_MATMUL, 1, in("a", F32, a), in("b", F32, b));
    expect_ok();
    expect_type(0, F32, want);
}

static void test_matmul_shapes(void)
{
    matmul_case("2x3x4", "4x5", "[2,3,5]");
    matmul_case("4", "4x5", "[5]");
    matmul_case("3x4", "4", "[3]");
    matmul_case("4", "4", "[]");
    matmul_case("2x1x3x4", "5x4x6", "[2,5,3,6]");
    matmul_case("Nx3x4", "4x5", "[N,3,5]");
    matmul_case("3xK", "Kx2", "[3,2]");
}

static void test_matmul_errors(void)
{
    reset();
    NODE(KILN_OP_MATMUL, 1, in("a", F32, "3x4"), in("b", F32, "5x2"));
    expect_error(KILN_ERR_INVALID, "inner dimensions differ: input 0 has K = 4, input 1 has 5");
    reset();
    NODE(KILN_OP_MATMUL, 1, in("a", KILN_DT_I8, "3x4"), in("b", KILN_DT_I8, "4x2"));
    expect_error(KILN_ERR_INVALID, "input 0 ('a') has dtype i8, need one of f32, f64, f16, bf16, i32, i64, u32, u64");
    reset();
    NODE(KILN_OP_MATMUL, 1, in("a", F32, "3x4"), in("b", KILN_DT_F64, "4x2"));
    expect_error(KILN_ERR_INVALID, "input 1 ('b') has dtype f64, input 0 ('a') has f32: they must match");
    reset();
    NODE(KILN_OP_MATMUL, 1, in("a", F32, "2x3x4"), in("b", F32, "3x4x2"));
    expect_error(KILN_ERR_INVALID, "cannot broadcast");
    reset();
    NODE(KILN_OP_MATMUL, 1, in("a", F32, ""), in("b", F32, "4x2"));
    expect_error(KILN_ERR_INVALID, "input 0 ('a') has rank 0, need 1 to 8");
}

static void test_gemm(void)
{
    reset();
    NODE(KILN_OP_GEMM, 1, in("a", F32, "4x3"), in("b", F32, "5x4"), in("c", F32, "5"));
    set_int("transA", 1);
    set_int("transB", 1);
    expect_ok();
    expect_type(0, F32, "[3,5]");           /* op(A) 3x4, op(B) 4x5 */
    reset();
    NODE(KILN_OP_GEMM, 1, in("a", KILN_DT_I64, "3x4"), in("b", KILN_DT_I64, "4x5"), in("c", KILN_DT_I64, "3x1"));
    expect_ok();
    expect_type(0, KILN_DT_I64, "[3,5]");
    reset();
    NODE(KILN_OP_GEMM, 1, in("a", F32, "3x4"), in("b", F32, "4x5"), in("c", F32, "4"));
    expect_error(KILN_ERR_INVALID, "input 2 ('c') has shape [4], which does not broadcast to [3,5]");
    reset();
    NODE(KILN_OP_GEMM, 1, in("a", F32, "3x4"), in("b", F32, "3x5"));
    expect_error(KILN_ERR_INVALID, "inner dimensions differ");
    reset();
    NODE(KILN_OP_GEMM, 1, in("a", F32, "2x3x4"), in("b", F32, "4x5"));
    expect_error(KILN_ERR_INVALID, "input 0 ('a') has rank 3, need 2");
    reset();
    NODE(KILN_OP_GEMM, 1, in("a", F32, "3x4"), in("b", F32, "4x5"));
    set_int("transA", 2);
    expect_error(KILN_ERR_INVALID, "attribute 'transA' is 2, need 0 to 1");
    reset();
    NODE(KILN_OP_GEMM, 1, in("a", F32, "3x4"), in("b", F32, "4x5"));
    set_int("alpha", 2);
    expect_error(KILN_ERR_INVALID, "attribute 'alpha' must be a float, not an int");
}

static void test_quantized_products(void)
{
    reset();
    NODE(KILN_OP_MATMULINTEGER, 1, in("a", KILN_DT_U8, "2x3x4"), in("b", KILN_DT_I8, "4x5"),
         in("azp", KILN_DT_U8, "3"), in("bzp", KILN_DT_I8, ""));
    expect_ok();
    expect_type(0, KILN_DT_I32, "[2,3,5]");
    reset();
    NODE(KILN_OP_MATMULINTEGER, 1, in("a", KILN_DT_U8, "3x4"), in("b", KILN_DT_U8, "4x5"),
         in("azp", KILN_DT_U8, "2"));
    expect_error(KILN_ERR_INVALID, "input 2 ('azp') has shape [2]; a zero point of A (per row) must be a scalar or have 3 elements");
    reset();
    NODE(KILN_OP_MATMULINTEGER, 1, in("a", KILN_DT_U8, "3x4"), in("b", KILN_DT_U8, "4x5"),
         in("azp", KILN_DT_I8, ""));
    expect_error(KILN_ERR_INVALID, "input 2 ('azp') has dtype i8, input 0 ('a') has u8");
    reset();
    NODE(KILN_OP_QLINEARMATMUL, 1, in("a", KILN_DT_U8, "2x4"), in("as", F32, ""), in("az", KILN_DT_U8, ""),
         in("b", KILN_DT_I8, "4x3"), in("bs", F32, "3"), in("bz", KILN_DT_I8, "3"),
         in("ys", F32, ""), in("yz", KILN_DT_I8, ""));
    expect_ok();
    expect_type(0, KILN_DT_I8, "[2,3]");
    reset();
    NODE(KILN_OP_QLINEARMATMUL, 1, in("a", KILN_DT_U8, "2x4"), in("as", KILN_DT_F64, ""), in("az", KILN_DT_U8, ""),
         in("b", KILN_DT_U8, "4x3"), in("bs", F32, ""), in("bz", KILN_DT_U8, ""),
         in("ys", F32, ""), in("yz", KILN_DT_U8, ""));
    expect_error(KILN_ERR_INVALID, "input 1 ('as') has dtype f64, need one of f32");
}

/* ---- convolutions ----------------------------------------------------------------- */

static void conv_case(const char *x, const char *w, void (*attrs)(void), const char *want)
{
    reset();
    NODE(KILN_OP_CONV, 1, in("x", F32, x), in("w", F32, w));
    if (attrs)
        attrs();
    expect_ok();
    expect_type(0, F32, want);
}

static void pads1(void) { INTS("pads", 1, 1, 1, 1); }
static void stride2(void) { INTS("strides", 2, 2); }
static void same_upper1(void) { set_str("auto_pad", "SAME_UPPER"); }
static void same_upper2(void) { set_str("auto_pad", "SAME_UPPER"); INTS("strides", 2, 2); }
static void valid3(void) { set_str("auto_pad", "VALID"); INTS("strides", 3, 3); }
static void dil2(void) { INTS("dilations", 2, 2); INTS("pads", 0, 1, 2, 3); }
static void group2(void) { set_int("group", 2); }
static void conv1d(void) { INTS("strides", 2); INTS("pads", 1, 0); INTS("kernel_shape", 3); }

static void test_conv_shapes(void)
{
    conv_case("1x3x32x32", "8x3x3x3", pads1, "[1,8,32,32]");
    conv_case("1x3x32x32", "8x3x3x3", stride2, "[1,8,15,15]");      /* (32-3)/2+1 */
    conv_case("1x3x33x33", "8x3x3x3", same_upper2, "[1,8,17,17]");  /* ceil(33/2) */
    conv_case("1x3x32x32", "8x3x5x5", valid3, "[1,8,10,10]");       /* (32-5)/3+1 */
    conv_case("1x3x10x10", "8x3x3x3", dil2, "[1,8,8,10]");          /* 10+2-5+1, 10+4-5+1 */
    conv_case("2x4x7x7", "6x2x3x3", group2, "[2,6,5,5]");
    conv_case("2x4x9", "5x4x3", conv1d, "[2,5,4]");                 /* (9+1-3)/2+1 */
    conv_case("1x2x4x5x6", "3x2x2x3x2", NULL, "[1,3,3,3,5]");
    conv_case("Nx3xHx32", "8x3x3x3", pads1, "[N,8,H,32]");   /* pads cover the window */
    conv_case("Nx3xHx32", "8x3x3x3", stride2, "[N,8,?3,15]"); /* H unknown: a fresh dim */
    conv_case("Nx3xHxW", "8x3x3x3", same_upper1, "[N,8,H,W]");
}

static void test_conv_errors(void)
{
    reset();
    NODE(KILN_OP_CONV, 1, in("x", F32, "1x3x8x8"), in("w", F32, "8x3x3x3"), in("b", F32, "4"));
    expect_error(KILN_ERR_INVALID, "input 2 ('b') has shape [4], expected [8]");
    reset();
    NODE(KILN_OP_CONV, 1, in("x", F32, "1x3x8x8"), in("w", F32, "8x3x3x3"));
    INTS("kernel_shape", 3, 2);
    expect_error(KILN_ERR_INVALID, "attribute 'kernel_shape' has 2 at position 1 but the weights have 3");
    reset();
    NODE(KILN_OP_CONV, 1, in("x", F32, "1x4x8x8"), in("w", F32, "8x3x3x3"));
    expect_error(KILN_ERR_INVALID, "the input has 4 channels but the weights take 3 per group x group 1");
    reset();
    NODE(KILN_OP_CONV, 1, in("x", F32, "1x4x8x8"), in("w", F32, "6x1x3x3"));
    set_int("group", 4);
    expect_error(KILN_ERR_INVALID, "6 output channels are not a multiple of group 4");
    reset();
    NODE(KILN_OP_CONV, 1, in("x", F32, "1x3x8x8"), in("w", F32, "8x3x3x3"));
    INTS("strides", 1, 1, 1);
    expect_error(KILN_ERR_INVALID, "attribute 'strides' has 3 values, need 2");
    reset();
    NODE(KILN_OP_CONV, 1, in("x", F32, "1x3x8x8"), in("w", F32, "8x3x3x3"));
    INTS("pads", 0, -1, 0, 0);
    expect_error(KILN_ERR_INVALID, "attribute 'pads' has -1 at position 1, need 0 to 2^31");
    reset();
    NODE(KILN_OP_CONV, 1, in("x", F32, "1x3x8x8"), in("w", F32, "8x3x3x3"));
    INTS("dilations", 1, (int64_t)1 << 40);
    expect_error(KILN_ERR_INVALID, "attribute 'dilations' has 1099511627776 at position 1, need 1 to 2^31");
    reset();
    NODE(KILN_OP_CONV, 1, in("x", F32, "1x3x8x8"), in("w", F32, "8x3x3x3"));
    set_str("auto_pad", "SAME");
    expect_error(KILN_ERR_INVALID, "attribute 'auto_pad' is 'SAME', need one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
    reset();
    NODE(KILN_OP_CONV, 1, in("x", F32, "1x3x2x8"), in("w", F32, "8x3x3x3"));
    expect_error(KILN_ERR_INVALID, "spatial dim 0: the window (kernel 3, dilation 1) is larger than the padded input");
    reset();
    NODE(KILN_OP_CONV, 1, in("x", F32, "1x3x8x8"), in("w", F32, "8x3x3"));
    expect_error(KILN_ERR_INVALID, "input 1 ('w') has rank 3, need 4");
    reset();
    NODE(KILN_OP_CONV, 1, in("x", KILN_DT_I32, "1x3x8x8"), in("w", KILN_DT_I32, "8x3x3x3"));
    expect_error(KILN_ERR_INVALID, "has dtype i32, need one of f32, f64, f16");
    reset();
    NODE(KILN_OP_CONV, 1, in("x", F32, "1x3x8x8"), in("w", F32, "8x3x3x3"));
    set_int("group", 0);
    expect_error(KILN_ERR_INVALID, "attribute 'group' is 0, need 1 to");
}

static void test_convtranspose(void)
{
    reset();
    NODE(KILN_OP_CONVTRANSPOSE, 1, in("x", F32, "1x1x3x3"), in("w", F32, "1x2x3x3"));
    INTS("strides", 2, 2);
    expect_ok();
    expect_type(0, F32, "[1,2,7,7]");        /* 2*(3-1)+3 */
    reset();
    NODE(KILN_OP_CONVTRANSPOSE, 1, in("x", F32, "1x1x3x3"), in("w", F32, "1x2x3x3"));
    INTS("strides", 3, 2);
    INTS("output_shape", 10, 8);
    expect_ok();
    expect_type(0, F32, "[1,2,10,8]");
    reset();
    NODE(KILN_OP_CONVTRANSPOSE, 1, in("x", F32, "1x1x3x3"), in("w", F32, "1x2x3x3"));
    INTS("strides", 3, 2);
    INTS("output_padding", 1, 1);
    INTS("pads", 1, 2, 1, 2);
    expect_ok();
    expect_type(0, F32, "[1,2,8,4]");        /* 3*2+1+3-1-1 = 8; 2*2+1+3-2-2 = 4 */
    reset();
    NODE(KILN_OP_CONVTRANSPOSE, 1, in("x", F32, "2x4x5"), in("w", F32, "4x3x3"), in("b", F32, "6"));
    set_int("group", 2);
    set_str("auto_pad", "SAME_UPPER");
    INTS("strides", 2);
    expect_ok();
    expect_type(0, F32, "[2,6,10]");         /* M = 3 * group, out = in * stride */
    reset();
    NODE(KILN_OP_CONVTRANSPOSE, 1, in("x", F32, "1x2x3x3"), in("w", F32, "1x2x3x3"));
    expect_error(KILN_ERR_INVALID, "the input has 2 channels but the weights have 1");
    reset();
    NODE(KILN_OP_CONVTRANSPOSE, 1, in("x", F32, "1x1x3x3"), in("w", F32, "1x2x3x3"));
    INTS("output_shape", 10, 8, 3);
    expect_error(KILN_ERR_INVALID, "attribute 'output_shape' has 3 values, need 2");
    reset();
    NODE(KILN_OP_CONVTRANSPOSE, 1, in("x", F32, "1x1x3x3"), in("w", F32, "1x2x3x3"));
    INTS("strides", 2, 2);
    INTS("output_padding", 1, 2);
    expect_error(KILN_ERR_INVALID, "attribute 'output_padding' has 2 for spatial dim 1, need less than the stride (2) or the dilation (1)");
    reset();
    NODE(KILN_OP_CONVTRANSPOSE, 1, in("x", F32, "1x1x1"), in("w", F32, "1x1x1"));
    INTS("pads", 1, 1);
    expect_error(KILN_ERR_INVALID, "spatial dim 0: the pads (1, 1) leave no output");
}

static void test_integer_convs(void)
{
    reset();
    NODE(KILN_OP_CONVINTEGER, 1, in("x", KILN_DT_U8, "1x1x3x3"), in("w", KILN_DT_U8, "1x1x2x2"),
         in("xz", KILN_DT_U8, ""));
    INTS("pads", 1, 1, 1, 1);
    expect_ok();
    expect_type(0, KILN_DT_I32, "[1,1,4,4]");
    reset();
    NODE(KILN_OP_CONVINTEGER, 1, in("x", KILN_DT_U8, "1x1x3x3"), in("w", KILN_DT_I8, "2x1x2x2"),
         0, in("wz", KILN_DT_I8, "3"));
    expect_error(KILN_ERR_INVALID, "a zero point of w (per output channel) must be a scalar or have 2 elements");
    reset();
    NODE(KILN_OP_QLINEARCONV, 1, in("x", KILN_DT_I8, "1x2x5x5"), in("xs", F32, ""), in("xz", KILN_DT_I8, ""),
         in("w", KILN_DT_I8, "4x2x3x3"), in("ws", F32, "4"), in("wz", KILN_DT_I8, "4"),
         in("ys", F32, ""), in("yz", KILN_DT_U8, ""), in("b", KILN_DT_I32, "4"));
    expect_ok();
    expect_type(0, KILN_DT_U8, "[1,4,3,3]");
    reset();
    NODE(KILN_OP_QLINEARCONV, 1, in("x", KILN_DT_I8, "1x2x5x5"), in("xs", F32, ""), in("xz", KILN_DT_I8, ""),
         in("w", KILN_DT_I8, "4x2x3x3"), in("ws", F32, ""), in("wz", KILN_DT_I8, ""),
         in("ys", F32, ""), in("yz", KILN_DT_U8, ""), in("b", F32, "4"));
    expect_error(KILN_ERR_INVALID, "input 8 ('b') has dtype f32, need one of i32");
}

/* ---- pools -------------------------------------------------------------------------- */

static void test_pools(void)
{
    reset();
    NODE(KILN_OP_MAXPOOL, 2, in("x", F32, "1x3x6x6"));
    INTS("kernel_shape", 3, 3);
    INTS("strides", 2, 2);
    set_int("ceil_mode", 1);
    expect_ok();
    expect_type(0, F32, "[1,3,3,3]");        /* ceil((6-3)/2)+1 */
    expect_type(1, KILN_DT_I64, "[1,3,3,3]");
    reset();
    NODE(KILN_OP_MAXPOOL, 1, in("x", KILN_DT_U8, "1x1x5x5"));
    INTS("kernel_shape", 2, 2);
    INTS("dilations", 2, 2);
    expect_ok();
    expect_type(0, KILN_DT_U8, "[1,1,3,3]"); /* 5-3+1 */
    reset();
    NODE(KILN_OP_AVERAGEPOOL, 1, in("x", F32, "2x3x7"));
    INTS("kernel_shape", 3);
    set_str("auto_pad", "SAME_LOWER");
    INTS("strides", 2);
    expect_ok();
    expect_type(0, F32, "[2,3,4]");
    reset();
    NODE(KILN_OP_LPPOOL, 1, in("x", F32, "1x1x4x4x4"));
    INTS("kernel_shape", 2, 2, 2);
    set_int("p", 3);
    expect_ok();
    expect_type(0, F32, "[1,1,3,3,3]");
}

static void test_pool_errors(void)
{
    reset();
    NODE(KILN_OP_MAXPOOL, 1, in("x", F32, "1x3x6x6"));
    expect_error(KILN_ERR_INVALID, "attribute 'kernel_shape' is required");
    reset();
    NODE(KILN_OP_MAXPOOL, 1, in("x", F32, "1x3x6x6"));
    INTS("kernel_shape", 2, 2);
    set_int("storage_order", 2);
    expect_error(KILN_ERR_INVALID, "attribute 'storage_order' is 2, need 0 to 1");
    reset();
    NODE(KILN_OP_AVERAGEPOOL, 1, in("x", KILN_DT_U8, "1x3x6x6"));
    INTS("kernel_shape", 2, 2);
    expect_error(KILN_ERR_INVALID, "input 0 ('x') has dtype u8, need one of f32, f64, f16");
    reset();
    NODE(KILN_OP_LPPOOL, 1, in("x", F32, "1x3x6x6"));
    INTS("kernel_shape", 2, 2);
    set_int("p", 0);
    expect_error(KILN_ERR_INVALID, "attribute 'p' is 0, need 1 to");
    reset();
    NODE(KILN_OP_MAXPOOL, 1, in("x", F32, "1x3"));
    INTS("kernel_shape", 2);
    expect_error(KILN_ERR_INVALID, "input 0 ('x') has rank 2, need 3 to 8");
    reset();
    NODE(KILN_OP_MAXPOOL, 1, in("x", F32, "1x3x6x6"));
    INTS("kernel_shape", 2, 2);
    set_int("ceil_mode", 1);
    set_str("kernel_shape", "2");
    expect_error(KILN_ERR_INVALID, "attribute 'kernel_shape' must be a list of ints, not a string");
}

static void test_global_pools(void)
{
    reset();
    NODE(KILN_OP_GLOBALAVERAGEPOOL, 1, in("x", F32, "2x3x5x7"));
    expect_ok();
    expect_type(0, F32, "[2,3,1,1]");
    reset();
    NODE(KILN_OP_GLOBALLPPOOL, 1, in("x", KILN_DT_F64, "NxCx5"));
    expect_ok();
    expect_type(0, KILN_DT_F64, "[N,C,1]");
    reset();
    NODE(KILN_OP_GLOBALMAXPOOL, 1, in("x", KILN_DT_I8, "2x3x5"));
    expect_error(KILN_ERR_INVALID, "has dtype i8, need one of f32, f64, f16");
}

static void test_maxunpool(void)
{
    reset();
    NODE(KILN_OP_MAXUNPOOL, 1, in("x", F32, "1x1x2x2"), in("i", KILN_DT_I64, "1x1x2x2"));
    INTS("kernel_shape", 2, 2);
    INTS("strides", 2, 2);
    expect_ok();
    expect_type(0, F32, "[1,1,4,4]");
    reset();
    NODE(KILN_OP_MAXUNPOOL, 1, in("x", F32, "1x1x2x2"), in("i", KILN_DT_I64, "1x1x2x2"),
         ints("s", (int64_t[]){1, 1, 5, 5}, 4));
    INTS("kernel_shape", 2, 2);
    INTS("strides", 2, 2);
    expect_ok();
    expect_type(0, F32, "[1,1,5,5]");
    reset();
    NODE(KILN_OP_MAXUNPOOL, 1, in("x", F32, "1x1x2x2"), in("i", KILN_DT_I64, "1x1x2x2"),
         in("s", KILN_DT_I64, "4"));
    INTS("kernel_shape", 2, 2);
    expect_ok();
    expect_type(0, F32, "[?1,?2,?3,?4]");    /* data-dependent: unknown, not guessed */
    reset();
    NODE(KILN_OP_MAXUNPOOL, 1, in("x", F32, "1x1x2x2"), in("i", KILN_DT_I64, "1x1x2x2"),
         ints("s", (int64_t[]){1, 1, 3, 5}, 4));
    INTS("kernel_shape", 2, 2);
    INTS("strides", 2, 2);
    expect_error(KILN_ERR_INVALID, "input 2 ('output_shape') has 3 for dim 2, smaller than the unpooled size 4");
    reset();
    NODE(KILN_OP_MAXUNPOOL, 1, in("x", F32, "1x1x2x2"), in("i", KILN_DT_I64, "1x1x2x3"));
    INTS("kernel_shape", 2, 2);
    expect_error(KILN_ERR_INVALID, "input 1 ('i') has shape [1,1,2,3], expected [1,1,2,2]");
}

/* ---- recurrent -------------------------------------------------------------------------- */

static void test_rnn_shapes(void)
{
    reset();
    NODE(KILN_OP_LSTM, 3, in("x", F32, "5x2x3"), in("w", F32, "1x16x3"), in("r", F32, "1x16x4"),
         in("b", F32, "1x32"), in("len", KILN_DT_I32, "2"), in("h0", F32, "1x2x4"),
         in("c0", F32, "1x2x4"), in("p", F32, "1x12"));
    set_int("hidden_size", 4);
    expect_ok();
    expect_type(0, F32, "[5,1,2,4]");
    expect_type(1, F32, "[1,2,4]");
    expect_type(2, F32, "[1,2,4]");
    reset();
    NODE(KILN_OP_GRU, 2, in("x", F32, "2x5x3"), in("w", F32, "2x12x3"), in("r", F32, "2x12x4"),
         0, 0, in("h0", F32, "2x2x4"));
    set_str("direction", "bidirectional");
    set_int("layout", 1);
    expect_ok();                              /* hidden size from R */
    expect_type(0, F32, "[2,5,2,4]");
    expect_type(1, F32, "[2,2,4]");
    reset();
    NODE(KILN_OP_RNN, 0, in("x", F32, "Tx2x3"), in("w", F32, "1x4x3"), in("r", F32, "1x4x4"));
    expect_ok();                              /* no outputs at all is legal */
    reset();
    NODE(KILN_OP_RNN, 1, in("x", F32, "Tx2x3"), in("w", F32, "1x4x3"), in("r", F32, "1x4x4"));
    kiln_attr_set_strings(g, last, "activations", (const char *[]){"relu"}, 1);
    expect_ok();
    expect_type(0, F32, "[T,1,2,4]");
}

static void test_rnn_errors(void)
{
    reset();
    NODE(KILN_OP_LSTM, 1, in("x", F32, "5x2x3"), in("w", F32, "1x12x3"), in("r", F32, "1x16x4"));
    set_int("hidden_size", 4);
    expect_error(KILN_ERR_INVALID, "input 1 ('w') has shape [1,12,3], expected [1,16,3]");
    reset();
    NODE(KILN_OP_GRU, 1, in("x", F32, "5x2x3"), in("w", F32, "1x12x3"), in("r", F32, "1x12x4"));
    set_str("direction", "sideways");
    expect_error(KILN_ERR_INVALID, "attribute 'direction' is 'sideways', need one of forward, reverse, bidirectional");
    reset();
    NODE(KILN_OP_GRU, 1, in("x", F32, "5x2x3"), in("w", F32, "1x12x3"), in("r", F32, "1x12x4"));
    kiln_attr_set_strings(g, last, "activations", (const char *[]){"Sigmoid", "Tanh", "Tanh"}, 3);
    expect_error(KILN_ERR_INVALID, "attribute 'activations' has 3 names, need 2");
    reset();
    NODE(KILN_OP_RNN, 1, in("x", F32, "5x2x3"), in("w", F32, "1x4x3"), in("r", F32, "1x4x4"));
    kiln_attr_set_strings(g, last, "activations", (const char *[]){"Swish"}, 1);
    expect_error(KILN_ERR_UNSUPPORTED, "activation 'Swish' is not one kiln knows");
    reset();
    NODE(KILN_OP_RNN, 1, in("x", F32, "5x2x3"), in("w", F32, "1x4x3"), in("r", F32, "1x4x4"));
    set_float("clip", -1.0f);
    expect_error(KILN_ERR_INVALID, "attribute 'clip' is -1, need > 0");
    reset();
    NODE(KILN_OP_RNN, 1, in("x", F32, "5x2x3"), in("w", F32, "1x4x3"), in("r", F32, "1x4x4"),
         0, in("len", KILN_DT_I64, "2"));
    expect_error(KILN_ERR_INVALID, "input 4 ('len') has dtype i64, need one of i32");
    reset();
    NODE(KILN_OP_RNN, 1, in("x", F32, "5x2x3"), in("w", F32, "1x4x3"), in("r", F32, "1x4x4"));
    set_int("layout", 2);
    expect_error(KILN_ERR_INVALID, "attribute 'layout' is 2, need 0 to 1");
    reset();
    NODE(KILN_OP_LSTM, 1, in("x", F32, "5x2x3"), in("w", F32, "1x16x3"), in("r", F32, "1x16x4"),
         0, 0, in("h0", F32, "2x1x4"));
    expect_error(KILN_ERR_INVALID, "input 5 ('h0') has shape [2,1,4], expected [1,2,4]");
}

/* ---- Resize and samplers ---------------------------------------------------------------- */

static void test_resize_shapes(void)
{
    reset();
    NODE(KILN_OP_RESIZE, 1, in("x", F32, "1x1x2x4"), 0, floats("s", (float[]){1, 1, 0.6f, 0.6f}, 4));
    expect_ok();
    expect_type(0, F32, "[1,1,1,2]");        /* floor(2*0.6), floor(4*0.6) */
    reset();
    NODE(KILN_OP_RESIZE, 1, in("x", KILN_DT_U8, "1x3x5x5"), 0, 0, ints("z", (int64_t[]){1, 3, 9, 2}, 4));
    set_str("mode", "linear");
    expect_ok();
    expect_type(0, KILN_DT_U8, "[1,3,9,2]");
    reset();
    NODE(KILN_OP_RESIZE, 1, in("x", F32, "1x1x2x4"), 0, in("s", F32, "4"));
    expect_ok();
    expect_type(0, F32, "[?1,?2,?3,?4]");    /* scales not known yet */
    reset();
    NODE(KILN_OP_RESIZE, 1, in("x", F32, "Nx1x2x4"), 0, floats("s", (float[]){1, 1, 2, 2}, 4));
    expect_ok();
    expect_type(0, F32, "[N,1,4,8]");
    reset();                                  /* opset 11 style: empty scales beside sizes */
    NODE(KILN_OP_RESIZE, 1, in("x", F32, "1x1x2x4"), floats("roi", NULL, 0), floats("s", NULL, 0),
         ints("z", (int64_t[]){1, 1, 3, 3}, 4));
    expect_ok();
    expect_type(0, F32, "[1,1,3,3]");
}

static void test_resize_errors(void)
{
    reset();
    NODE(KILN_OP_RESIZE, 1, in("x", F32, "1x1x2x4"), 0, floats("s", (float[]){1, 1, 2, 2}, 4),
         ints("z", (int64_t[]){1, 1, 3, 3}, 4));
    expect_error(KILN_ERR_INVALID, "give 'scales' or 'sizes', not both");
    reset();
    NODE(KILN_OP_RESIZE, 1, in("x", F32, "1x1x2x4"));
    expect_error(KILN_ERR_INVALID, "needs 'scales' (input 2) or 'sizes' (input 3)");
    reset();
    NODE(KILN_OP_RESIZE, 1, in("x", F32, "1x1x2x4"), 0, 0, ints("z", (int64_t[]){3, 3}, 2));
    expect_error(KILN_ERR_INVALID, "input 3 ('sizes') must have 4 values (one per dim)");
    reset();
    NODE(KILN_OP_RESIZE, 1, in("x", F32, "1x1x2x4"), 0, floats("s", (float[]){1, 1, 0, 2}, 4));
    expect_error(KILN_ERR_INVALID, "input 2 ('scales') has 0 for dim 2, need > 0");
    reset();
    NODE(KILN_OP_RESIZE, 1, in("x", F32, "1x1x2x4"), 0, floats("s", (float[]){1, 1, 1e30f, 2}, 4));
    expect_error(KILN_ERR_INVALID, "the output would be too large");
    reset();
    NODE(KILN_OP_RESIZE, 1, in("x", F32, "1x0x2"), 0, 0, ints("z", (int64_t[]){1, 3, 3}, 3));
    expect_error(KILN_ERR_INVALID, "dim 1 of input 0 is empty and cannot be resized to 3");
    reset();
    NODE(KILN_OP_RESIZE, 1, in("x", F32, "1x1x2x4"), 0, floats("s", (float[]){1, 1, 2, 2}, 4));
    set_str("mode", "bilinear");
    expect_error(KILN_ERR_INVALID, "attribute 'mode' is 'bilinear', need one of nearest, linear, cubic");
    reset();
    NODE(KILN_OP_RESIZE, 1, in("x", F32, "1x1x2x4"), 0, floats("s", (float[]){1, 1, 2, 2}, 4));
    set_int("antialias", 1);
    expect_error(KILN_ERR_UNSUPPORTED, "attribute 'antialias' (opset 18) is not supported");
    reset();
    NODE(KILN_OP_RESIZE, 1, in("x", F32, "1x1x2x4"), floats("roi", (float[]){0, 0, 1, 1}, 4), 0,
         ints("z", (int64_t[]){1, 1, 3, 3}, 4));
    set_str("coordinate_transformation_mode", "tf_crop_and_resize");
    expect_error(KILN_ERR_INVALID, "input 1 ('roi') must have 8 values (start and end per dim)");
    reset();
    NODE(KILN_OP_RESIZE, 1, in("x", F32, "1x1x2x4"), 0, in("s", KILN_DT_F64, "4"));
    expect_error(KILN_ERR_INVALID, "input 2 ('s') has dtype f64, need one of f32");
}

static void test_samplers(void)
{
    reset();
    NODE(KILN_OP_GRIDSAMPLE, 1, in("x", F32, "2x3x8x9"), in("g", F32, "2x4x5x2"));
    set_str("mode", "bicubic");
    expect_ok();
    expect_type(0, F32, "[2,3,4,5]");
    reset();
    NODE(KILN_OP_GRIDSAMPLE, 1, in("x", F32, "2x3x8x9"), in("g", F32, "2x4x5x3"));
    expect_error(KILN_ERR_INVALID, "input 1 ('g') has shape [2,4,5,3], expected [2,4,5,2]");
    reset();
    NODE(KILN_OP_GRIDSAMPLE, 1, in("x", F32, "2x3x8x9"), in("g", F32, "2x4x5x2"));
    set_str("padding_mode", "mirror");
    expect_error(KILN_ERR_INVALID, "attribute 'padding_mode' is 'mirror', need one of zeros, border, reflection");
    reset();
    NODE(KILN_OP_ROIALIGN, 1, in("x", F32, "2x3x8x9"), in("r", F32, "Rx4"), in("b", KILN_DT_I64, "R"));
    set_int("output_height", 5);
    set_int("output_width", 4);
    expect_ok();
    expect_type(0, F32, "[R,3,5,4]");
    reset();
    NODE(KILN_OP_ROIALIGN, 1, in("x", F32, "2x3x8x9"), in("r", F32, "7x5"), in("b", KILN_DT_I64, "7"));
    expect_error(KILN_ERR_INVALID, "input 1 ('r') has shape [7,5], expected [7,4]");
    reset();
    NODE(KILN_OP_ROIALIGN, 1, in("x", F32, "2x3x8x9"), in("r", F32, "7x4"), in("b", KILN_DT_I32, "7"));
    expect_error(KILN_ERR_INVALID, "input 2 ('b') has dtype i32, need one of i64");
    reset();
    NODE(KILN_OP_ROIALIGN, 1, in("x", F32, "2x3x8x9"), in("r", F32, "7x4"), in("b", KILN_DT_I64, "7"));
    set_int("output_height", 0);
    expect_error(KILN_ERR_INVALID, "attribute 'output_height' is 0, need 1 to");
    reset();
    NODE(KILN_OP_ROIALIGN, 1, in("x", F32, "2x3x8x9"), in("r", F32, "7x4"), in("b", KILN_DT_I64, "7"));
    set_str("mode", "median");
    expect_error(KILN_ERR_INVALID, "attribute 'mode' is 'median', need one of avg, max");
    reset();
    NODE(KILN_OP_ROIALIGN, 1, in("x", F32, "2x3x0x9"), in("r", F32, "7x4"), in("b", KILN_DT_I64, "7"));
    expect_error(KILN_ERR_INVALID, "input 0 ('x') is an empty image: nothing to sample");
}

static CU_TestInfo product_tests[] = {
    {"matmul shapes", test_matmul_shapes},
    {"matmul errors", test_matmul_errors},
    {"gemm", test_gemm},
    {"matmul integer, qlinear matmul", test_quantized_products},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo conv_tests[] = {
    {"conv shapes", test_conv_shapes},
    {"conv errors", test_conv_errors},
    {"convtranspose", test_convtranspose},
    {"conv integer, qlinear conv", test_integer_convs},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo pool_tests[] = {
    {"pools", test_pools},
    {"pool errors", test_pool_errors},
    {"global pools", test_global_pools},
    {"maxunpool", test_maxunpool},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo rnn_tests[] = {
    {"rnn/gru/lstm shapes", test_rnn_shapes},
    {"rnn errors", test_rnn_errors},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo sample_tests[] = {
    {"resize shapes", test_resize_shapes},
    {"resize errors", test_resize_errors},
    {"gridsample, roialign", test_samplers},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"products", setup, teardown, NULL, NULL, product_tests},
    {"convolutions", setup, teardown, NULL, NULL, conv_tests},
    {"pools", setup, teardown, NULL, NULL, pool_tests},
    {"recurrent", setup, teardown, NULL, NULL, rnn_tests},
    {"sampling", setup, teardown, NULL, NULL, sample_tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
