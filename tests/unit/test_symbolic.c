/* test_symbolic.c — shape arithmetic on symbolic values (ir/infer_symbolic.c):
 * the patterns PyTorch exports for a dynamic batch keep the batch symbol and
 * the static sizes through Shape/Gather/Concat/Reshape and Expand. */
#include "cunit_main.h"
#include "ir/ir.h"

#include <stdio.h>
#include <string.h>

static kiln_ctx *ctx;
static kiln_graph *g;
static uint32_t n_sym;  /* the symbol N */

static int setup(void)
{
    ctx = kiln_ctx_create();
    g = kiln_graph_create("t", "sym.onnx");
    n_sym = kiln_graph_symbol(g, "N");
    return 0;
}

static int teardown(void)
{
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
    return 0;
}

static void fresh_graph(void)
{
    teardown();
    setup();
}

static uint32_t input(const char *name, int rank, const int64_t *dims)
{
    kiln_shape s = kiln_shape_make(rank, dims);
    s.dim[0] = KILN_DIM_SYM(n_sym);  /* every test input has batch N first */
    return kiln_input_add(g, name, KILN_DT_F32, &s);
}

static uint32_t i64s(const char *name, int rank, const int64_t *v, int64_t n)
{
    int64_t dims[1] = {n};
    kiln_shape s = kiln_shape_make(rank, dims);
    return kiln_const_add(g, name, KILN_DT_I64, &s, v, (size_t)n * sizeof *v, true);
}

static uint32_t node(kiln_op op, const char *out, const uint32_t *ins, uint32_t n_in)
{
    uint32_t y = kiln_value_add(g, out);
    kiln_node_add(g, op, out, ins, n_in, &y, 1);
    return y;
}

/* The inferred shape of value v as text. */
static const char *shape_of(uint32_t v)
{
    static char buf[256];
    return kiln_shape_format(g, &g->values[v].shape, buf, sizeof buf);
}

static void infer_ok(void)
{
    kiln_status st = kiln_graph_infer(ctx, g);
    if (st)
        fprintf(stderr, "\n  %s", kiln_ctx_message(ctx));
    CU_ASSERT_EQUAL(st, KILN_OK);
}

/* x[N,197,192] -> Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), 197, 3, 2, 32)) */
static uint32_t vit_head_split(uint32_t *x_out)
{
    int64_t d[3] = {0, 197, 192}, zero = 0, axes0 = 0, c197 = 197, c3 = 3, c2 = 2, c32 = 32;
    uint32_t x = input("x", 3, d);
    uint32_t shp = node(KILN_OP_SHAPE, "shape", &x, 1);
    uint32_t gi[2] = {shp, i64s("zero", 0, &zero, 1)};
    uint32_t b = node(KILN_OP_GATHER, "b", gi, 2);
    uint32_t ui[2] = {b, i64s("axes0", 1, &axes0, 1)};
    uint32_t b1 = node(KILN_OP_UNSQUEEZE, "b1", ui, 2);
    uint32_t ci[5] = {b1, i64s("c197", 1, &c197, 1), i64s("c3", 1, &c3, 1), i64s("c2", 1, &c2, 1),
                      i64s("c32", 1, &c32, 1)};
    uint32_t cat = node(KILN_OP_CONCAT, "cat", ci, 5);
    kiln_attr_set_int(g, g->n_nodes - 1, "axis", 0);
    uint32_t ri[2] = {x, cat};
    *x_out = x;
    return node(KILN_OP_RESHAPE, "heads", ri, 2);
}

static void test_head_split_keeps_batch_and_sizes(void)
{
    uint32_t x;
    fresh_graph();
    uint32_t y = vit_head_split(&x);
    infer_ok();
    CU_ASSERT_STRING_EQUAL(shape_of(y), "[N,197,3,2,32]");
    /* the shape tensor itself holds [N, 197, 3, 2, 32] symbolically */
    const kiln_value *cat = &g->values[kiln_graph_find_value(g, "cat")];
    CU_ASSERT_PTR_NULL(cat->data);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cat->svals);
    CU_ASSERT_EQUAL(cat->svals[0].sym, n_sym);
    CU_ASSERT_EQUAL(cat->svals[1].value, 197);
    CU_ASSERT_EQUAL(cat->svals[4].value, 32);
}

static void test_binding_the_symbol_folds_everything(void)
{
    uint32_t x;
    fresh_graph();
    uint32_t y = vit_head_split(&x);
    kiln_shape s = {.rank = 3, .dim = {2, 197, 192}};
    CU_ASSERT_EQUAL(kiln_graph_bind_shape(ctx, g, x, &s), KILN_OK);
    infer_ok();
    CU_ASSERT_STRING_EQUAL(shape_of(y), "[2,197,3,2,32]");
    const kiln_value *cat = &g->values[kiln_graph_find_value(g, "cat")];
    CU_ASSERT_PTR_NOT_NULL_FATAL(cat->data);   /* plain data now, not symbolic */
    CU_ASSERT_EQUAL(((const int64_t *)cat->data)[0], 2);
}

/* Reshape(x[N,14,14,64], Concat(Slice(Shape(x), 0, 1), [-1, 64])): the -1
 * is a plain value next to a symbol, and solves to 196. */
static void test_minus_one_next_to_a_symbol(void)
{
    fresh_graph();
    int64_t d[4] = {0, 14, 14, 64}, st = 0, en = 1, rest[2] = {-1, 64};
    uint32_t x = input("x", 4, d);
    uint32_t shp = node(KILN_OP_SHAPE, "shape", &x, 1);
    uint32_t si[3] = {shp, i64s("st", 1, &st, 1), i64s("en", 1, &en, 1)};
    uint32_t head = node(KILN_OP_SLICE, "head", si, 3);
    uint32_t ci[2] = {head, i64s("rest", 1, rest, 2)};
    uint32_t cat = node(KILN_OP_CONCAT, "cat", ci, 2);
    kiln_attr_set_int(g, g->n_nodes - 1, "axis", 0);
    uint32_t ri[2] = {x, cat};
    uint32_t y = node(KILN_OP_RESHAPE, "y", ri, 2);
    infer_ok();
    CU_ASSERT_STRING_EQUAL(shape_of(y), "[N,196,64]");
}

/* PyTorch's cls_token.expand(N, -1, -1): Where(Equal(s, -1), ones, s). */
static void test_expand_pattern(void)
{
    fresh_graph();
    int64_t d[3] = {0, 196, 64}, zero = 0, axes0 = 0, m1[2] = {-1, -1}, minus[3] = {-1, -1, -1},
            ones[3] = {1, 1, 1}, cls_dims[3] = {1, 1, 64};
    uint32_t x = input("x", 3, d);
    kiln_shape cls_shape = kiln_shape_make(3, cls_dims);
    float cls_data[64] = {0};
    uint32_t cls = kiln_const_add(g, "cls", KILN_DT_F32, &cls_shape, cls_data, sizeof cls_data, true);
    uint32_t shp = node(KILN_OP_SHAPE, "shape", &x, 1);
    uint32_t gi[2] = {shp, i64s("zero", 0, &zero, 1)};
    uint32_t b = node(KILN_OP_GATHER, "b", gi, 2);
    uint32_t ui[2] = {b, i64s("axes0", 1, &axes0, 1)};
    uint32_t b1 = node(KILN_OP_UNSQUEEZE, "b1", ui, 2);
    uint32_t ci[2] = {b1, i64s("m1", 1, m1, 2)};
    uint32_t want = node(KILN_OP_CONCAT, "want", ci, 2);
    kiln_attr_set_int(g, g->n_nodes - 1, "axis", 0);
    uint32_t ei[2] = {want, i64s("minus", 1, minus, 3)};
    uint32_t eq = node(KILN_OP_EQUAL, "eq", ei, 2);
    uint32_t wi[3] = {eq, i64s("ones", 1, ones, 3), want};
    uint32_t sel = node(KILN_OP_WHERE, "sel", wi, 3);
    uint32_t xi[2] = {cls, sel};
    uint32_t y = node(KILN_OP_EXPAND, "y", xi, 2);
    infer_ok();
    CU_ASSERT_STRING_EQUAL(shape_of(y), "[N,1,64]");
    /* N == -1 is decidably false, so Equal's output is plain data */
    const kiln_value *e = &g->values[eq];
    CU_ASSERT_PTR_NOT_NULL_FATAL(e->data);
    CU_ASSERT_EQUAL(((const uint8_t *)e->data)[0], 0);
    CU_ASSERT_EQUAL(((const uint8_t *)e->data)[1], 1);
}

/* N * 197 is not N: it becomes a fresh anonymous size, not a guess. */
static void test_product_is_a_fresh_symbol(void)
{
    fresh_graph();
    int64_t d[3] = {0, 197, 64}, zero = 0, axes0 = 0, c197 = 197, c64 = 64;
    uint32_t x = input("x", 3, d);
    uint32_t shp = node(KILN_OP_SHAPE, "shape", &x, 1);
    uint32_t gi[2] = {shp, i64s("zero", 0, &zero, 1)};
    uint32_t b = node(KILN_OP_GATHER, "b", gi, 2);
    uint32_t mi[2] = {b, i64s("c197", 0, &c197, 1)};
    uint32_t rows = node(KILN_OP_MUL, "rows", mi, 2);
    uint32_t ui[2] = {rows, i64s("axes0", 1, &axes0, 1)};
    uint32_t r1 = node(KILN_OP_UNSQUEEZE, "r1", ui, 2);
    uint32_t ci[2] = {r1, i64s("c64", 1, &c64, 1)};
    uint32_t cat = node(KILN_OP_CONCAT, "cat", ci, 2);
    kiln_attr_set_int(g, g->n_nodes - 1, "axis", 0);
    uint32_t ri[2] = {x, cat};
    uint32_t y = node(KILN_OP_RESHAPE, "y", ri, 2);
    infer_ok();
    const kiln_value *v = &g->values[y];
    CU_ASSERT_EQUAL(v->shape.rank, 2);
    CU_ASSERT_TRUE(KILN_DIM_IS_SYM(v->shape.dim[0]));
    CU_ASSERT_NOT_EQUAL(KILN_DIM_SYM_ID(v->shape.dim[0]), n_sym);
    CU_ASSERT_PTR_NULL(kiln_graph_symbol_name(g, KILN_DIM_SYM_ID(v->shape.dim[0])));
    CU_ASSERT_EQUAL(v->shape.dim[1], 64);
}

static CU_TestInfo tests[] = {
    {"head split keeps N, 197, 3, 2, 32", test_head_split_keeps_batch_and_sizes},
    {"binding N folds the chain to data", test_binding_the_symbol_folds_everything},
    {"-1 next to a symbol solves", test_minus_one_next_to_a_symbol},
    {"Expand(Where(Equal(s, -1), 1, s))", test_expand_pattern},
    {"N * 197 is a fresh symbol", test_product_is_a_fresh_symbol},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"symbolic shapes", setup, teardown, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
