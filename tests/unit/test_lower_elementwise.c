/* test_lower_elementwise.c — the elementwise family at the kernel-call
 * level (ir/lower_elementwise.c -> runtime/krt_elementwise.h): one-node
 * graphs are lowered with kiln_lower_node and the calls are run here,
 * without the interpreter. Checked: the descriptors carry the node's
 * attributes and layouts, a call split into work ranges (run in reverse
 * order, over outputs poisoned beforehand) writes the same bytes as one
 * call over all units, a call run with its output sharing the buffer of
 * the input it names as `inplace` writes the same bytes as apart, and what
 * no kernel covers fails at lowering with a message naming the node.
 */
#include "cunit_main.h"
#include "ir/lower.h"
#include "runtime/krt_elementwise.h"
#include "runtime/krt_movement.h"

#include <stdlib.h>
#include <string.h>

#define LOWER_HARNESS_MAX_OPS (KRT_VARIADIC_MAX_IN + 2)
#include "lower_harness.h"

static void check_inplace(uint32_t nd, const kiln_lowered *low, int32_t want_k)
{
    CU_ASSERT_EQUAL_FATAL(low->calls[0].inplace, want_k);
    check_alias(nd, low, want_k);
}

/* ---- descriptors ------------------------------------------------------------------- */

static void test_unary_descriptors(void)
{
    static const int64_t d[] = {2, 3};
    kiln_lowered low;
    start();
    uint32_t x = input("x", KILN_DT_F32, 2, d);
    node(KILN_OP_LEAKYRELU, &x, 1, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    CU_ASSERT_EQUAL_FATAL(low.n_calls, 1);
    const krt_unary_desc *u = low.calls[0].desc;
    CU_ASSERT(low.calls[0].kernel == KRT_K_UNARY && u->op == KRT_UN_LEAKYRELU);
    CU_ASSERT(u->dt == KRT_F32 && u->n == 6 && u->p.alpha == 0.01f);
    CU_ASSERT(low.calls[0].n_ops == 2 && low.calls[0].ops[0] == x && low.calls[0].inplace == 0);

    start(); /* IsInf: bool output, never in place; its defaults */
    x = input("x", KILN_DT_F32, 2, d);
    node(KILN_OP_ISINF, &x, 1, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    u = low.calls[0].desc;
    CU_ASSERT(u->p.detect_positive == 1 && u->p.detect_negative == 1);
    CU_ASSERT_EQUAL(low.calls[0].inplace, -1);

    start(); /* Selu with one attribute set keeps the other's default */
    x = input("x", KILN_DT_F64, 2, d);
    uint32_t nd = node(KILN_OP_SELU, &x, 1, 1);
    kiln_attr_set_float(g, nd, "alpha", 2.0f);
    CU_ASSERT_EQUAL_FATAL(lower(nd, &low), KILN_OK);
    u = low.calls[0].desc;
    CU_ASSERT(u->p.alpha == 2.0f && u->p.gamma == 1.05070102214813232421875f);
    finish();
}

static void test_binary_descriptors(void)
{
    static const int64_t dx[] = {4, 5, 6}, db[] = {6}, dc[] = {5, 1};
    kiln_lowered low;
    start();
    uint32_t ins[2] = {input("x", KILN_DT_F32, 3, dx), input("b", KILN_DT_F32, 1, db)};
    node(KILN_OP_ADD, ins, 2, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    const krt_binary_desc *d = low.calls[0].desc;
    CU_ASSERT(low.calls[0].kernel == KRT_K_BINARY && d->op == KRT_BIN_ADD && d->bc.n_in == 2);
    CU_ASSERT(d->bc.rank == 3 && d->bc.dims[2] == 6);
    CU_ASSERT(d->bc.strides[0][0] == 30 && d->bc.strides[0][2] == 1);
    CU_ASSERT(d->bc.strides[1][0] == 0 && d->bc.strides[1][1] == 0 && d->bc.strides[1][2] == 1);
    CU_ASSERT_EQUAL(low.calls[0].inplace, 0);

    start(); /* the full-shape input second: y may take its buffer */
    ins[0] = input("c", KILN_DT_F32, 2, dc);
    ins[1] = input("x", KILN_DT_F32, 3, dx);
    node(KILN_OP_SUB, ins, 2, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    CU_ASSERT_EQUAL(low.calls[0].inplace, 1);

    start(); /* comparisons output bool: no in place; Mod picks fmod */
    ins[0] = input("x", KILN_DT_F32, 3, dx);
    ins[1] = input("y", KILN_DT_F32, 3, dx);
    node(KILN_OP_LESS, ins, 2, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    CU_ASSERT_EQUAL(low.calls[0].inplace, -1);
    start();
    ins[0] = input("x", KILN_DT_F32, 3, dx);
    ins[1] = input("y", KILN_DT_F32, 3, dx);
    uint32_t nd = node(KILN_OP_MOD, ins, 2, 1);
    kiln_attr_set_int(g, nd, "fmod", 1);
    CU_ASSERT_EQUAL_FATAL(lower(nd, &low), KILN_OK);
    CU_ASSERT_EQUAL(((const krt_binary_desc *)low.calls[0].desc)->op, KRT_BIN_FMOD);

    start(); /* Pow keeps the exponent's own dtype */
    ins[0] = input("x", KILN_DT_F32, 3, dx);
    ins[1] = input("e", KILN_DT_I64, 1, db);
    node(KILN_OP_POW, ins, 2, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    d = low.calls[0].desc;
    CU_ASSERT(d->op == KRT_BIN_POW && d->dt == KRT_F32 && d->b_dt == KRT_I64);
    CU_ASSERT_EQUAL(low.calls[0].inplace, 0);
    finish();
}

static void test_identity_and_dropout(void)
{
    static const int64_t d[] = {3, 4};
    kiln_lowered low;
    start();
    uint32_t x = input("x", KILN_DT_F16, 2, d);
    node(KILN_OP_DROPOUT, &x, 1, 2);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    CU_ASSERT_EQUAL_FATAL(low.n_calls, 2);
    CU_ASSERT(low.calls[0].kernel == KRT_K_COPY && low.calls[0].inplace == 0);
    CU_ASSERT_EQUAL(((const krt_copy_desc *)low.calls[0].desc)->nbytes, 24);
    CU_ASSERT(low.calls[1].kernel == KRT_K_FILL);
    exec(&low, false);
    const uint8_t *mask = buf[kiln_node_output(g, &g->nodes[1], 1)];
    CU_ASSERT(mask[0] == 1 && mask[11] == 1);
    CU_ASSERT_EQUAL(memcmp(buf[kiln_node_output(g, &g->nodes[1], 0)], buf[x], 24), 0);
    finish();
}

/* ---- work ranges ---------------------------------------------------------------------- */

static const int64_t big[] = {5, 100, 150}; /* 75000 elements: 5 units, rows cross unit edges */

static void test_split_unary_clip_cast(void)
{
    kiln_lowered low;
    start();
    uint32_t x = input("x", KILN_DT_F32, 3, big);
    node(KILN_OP_TANH, &x, 1, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    check_split(1, &low, 5);

    start();
    x = input("x", KILN_DT_F32, 3, big);
    float lo = -0.5f;
    uint32_t ins[3] = {x, kiln_const_add(g, "lo", KILN_DT_F32, &(kiln_shape){0}, &lo, 4, true), 0};
    buf[ins[1]] = (void *)g->values[ins[1]].data;
    node(KILN_OP_CLIP, ins, 3, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    CU_ASSERT(low.calls[0].ops[2] == 0); /* no max */
    check_split(1, &low, 5);

    start();
    x = input("x", KILN_DT_F64, 3, big);
    uint32_t nd = node(KILN_OP_CAST, &x, 1, 1);
    kiln_attr_set_string(g, nd, "to", "f16");
    CU_ASSERT_EQUAL_FATAL(lower(nd, &low), KILN_OK);
    CU_ASSERT(((const krt_cast_desc *)low.calls[0].desc)->to == KRT_F16);
    check_split(nd, &low, 5);
    finish();
}

static void test_split_broadcasts(void)
{
    static const int64_t col[] = {100, 1}, row[] = {150}, cond[] = {5, 1, 150};
    kiln_lowered low;
    start(); /* b is strided along the rows: the general row path */
    uint32_t ins[3] = {input("x", KILN_DT_F32, 3, big), input("b", KILN_DT_F32, 2, col)};
    node(KILN_OP_MUL, ins, 2, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    check_split(1, &low, 5);

    start(); /* a scalar-broadcast a, integer Pow with a float exponent */
    ins[0] = input("a", KILN_DT_I32, 2, col);
    ins[1] = input("e", KILN_DT_F32, 3, big);
    node(KILN_OP_POW, ins, 2, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    check_split(1, &low, 5);

    start();
    ins[0] = input("c", KILN_DT_BOOL, 3, cond);
    ins[1] = input("a", KILN_DT_F64, 3, big);
    ins[2] = input("b", KILN_DT_F64, 1, row);
    node(KILN_OP_WHERE, ins, 3, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    check_split(1, &low, 5);

    start(); /* Mean of three broadcasts */
    ins[0] = input("a", KILN_DT_F32, 1, row);
    ins[1] = input("b", KILN_DT_F32, 3, big);
    ins[2] = input("c", KILN_DT_F32, 2, col);
    node(KILN_OP_MEAN, ins, 3, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    CU_ASSERT_EQUAL(((const krt_variadic_desc *)low.calls[0].desc)->divisor, 3);
    check_split(1, &low, 5);
    finish();
}

/* ---- in place --------------------------------------------------------------------------- */

static void test_inplace(void)
{
    static const int64_t col[] = {100, 1};
    kiln_lowered low;
    start();
    uint32_t x = input("x", KILN_DT_F32, 3, big);
    node(KILN_OP_SIGMOID, &x, 1, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    check_inplace(1, &low, 0);

    start(); /* y over a while b broadcasts */
    uint32_t ins[3] = {input("a", KILN_DT_F32, 3, big), input("b", KILN_DT_F32, 2, col)};
    node(KILN_OP_DIV, ins, 2, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    check_inplace(1, &low, 0);

    start(); /* y over b while a broadcasts */
    ins[0] = input("a", KILN_DT_F32, 2, col);
    ins[1] = input("b", KILN_DT_F32, 3, big);
    node(KILN_OP_SUB, ins, 2, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    check_inplace(1, &low, 1);

    start(); /* Max over x1 (x0 broadcasts): x1 is read only in the first step */
    ins[0] = input("a", KILN_DT_F32, 2, col);
    ins[1] = input("b", KILN_DT_F32, 3, big);
    ins[2] = input("c", KILN_DT_F32, 3, big);
    node(KILN_OP_MAX, ins, 3, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    check_inplace(1, &low, 1);

    start(); /* ...but not when the same value comes again later */
    ins[0] = input("a", KILN_DT_F32, 3, big);
    ins[1] = input("b", KILN_DT_F32, 3, big);
    ins[2] = ins[0];
    node(KILN_OP_SUM, ins, 3, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    CU_ASSERT_EQUAL(low.calls[0].inplace, 1);

    start();
    x = input("x", KILN_DT_I32, 3, big);
    node(KILN_OP_CLIP, &x, 1, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    check_inplace(1, &low, 0);
    finish();
}

/* "x<i>" (a static buffer). */
static const char *name(int i)
{
    static char s[16];
    snprintf(s, sizeof s, "x%d", i);
    return s;
}

/* ---- many inputs, missing kernels ------------------------------------------------------------- */

static void test_variadic_chain(void)
{
    enum { N = 20 };
    static const int64_t d[] = {3};
    uint32_t ins[N];
    kiln_lowered low;
    start();
    for (int i = 0; i < N; i++)
        ins[i] = input(name(i), KILN_DT_F32, 1, d);
    node(KILN_OP_MEAN, ins, N, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    CU_ASSERT_EQUAL_FATAL(low.n_calls, 2);
    uint32_t y = kiln_node_output(g, &g->nodes[1], 0);
    const krt_variadic_desc *a = low.calls[0].desc, *b = low.calls[1].desc;
    CU_ASSERT(a->n_in == KRT_VARIADIC_MAX_IN && a->divisor == 0);
    CU_ASSERT(b->n_in == N - KRT_VARIADIC_MAX_IN + 1 && b->divisor == N);
    CU_ASSERT(low.calls[1].ops[0] == y && low.calls[1].ops[b->n_in] == y);
    exec(&low, false);
    for (int j = 0; j < 3; j++) {
        float s = ((const float *)buf[ins[0]])[j];
        for (int i = 1; i < N; i++)
            s += ((const float *)buf[ins[i]])[j];
        CU_ASSERT_EQUAL(((const float *)buf[y])[j], s / N);
    }

    start(); /* past what KILN_LOWER_MAX_CALLS calls fold */
    uint32_t many[70];
    for (int i = 0; i < 70; i++)
        many[i] = input(name(i), KILN_DT_F32, 1, d);
    node(KILN_OP_SUM, many, 70, 1);
    CU_ASSERT_EQUAL(lower(1, &low), KILN_ERR_UNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(kiln_ctx_message(ctx), "Sum of 70 inputs: kiln takes at most"));
    finish();
}

static void test_missing_kernel_fails_at_lowering(void)
{
    static const int64_t d[] = {2};
    kiln_lowered low;
    start(); /* the spec allows integer Erf; kiln has no kernel */
    uint32_t x = input("x", KILN_DT_I32, 1, d);
    node(KILN_OP_ERF, &x, 1, 1);
    CU_ASSERT_EQUAL(lower(1, &low), KILN_ERR_UNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(kiln_ctx_message(ctx), "node 'n' (Erf)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(kiln_ctx_message(ctx), "kiln has no Erf kernel for i32"));
    finish();
}

static CU_TestInfo tests[] = {
    {"unary descriptors and defaults", test_unary_descriptors},
    {"binary layouts and in-place choice", test_binary_descriptors},
    {"Identity, Dropout", test_identity_and_dropout},
    {"split ranges: unary, Clip, Cast", test_split_unary_clip_cast},
    {"split ranges: broadcasts, Pow, Where, Mean", test_split_broadcasts},
    {"in place", test_inplace},
    {"variadic over more than 16 inputs", test_variadic_chain},
    {"missing kernel fails at lowering", test_missing_kernel_fails_at_lowering},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"elementwise lowering", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
