/* test_lower_reduce.c — the reduce family at the kernel-call level
 * (ir/lower_reduce.c -> runtime/krt_reduce.h): one-node graphs are lowered
 * with kiln_lower_node and the calls are run here, without the
 * interpreter. Checked: the descriptors carry the node's attributes, axes
 * and known inputs (axes, K); a call split into work ranges (run in
 * reverse order, over outputs poisoned beforehand) writes the same bytes
 * as one call over all units; the kernels documented to allow it give the
 * same bytes with y in x's buffer; what no kernel covers fails at
 * lowering with a message naming the node.
 */
#include "cunit_main.h"
#include "ir/lower.h"
#include "runtime/krt_reduce.h"

#include <stdlib.h>
#include <string.h>

#define LOWER_HARNESS_MAX_OPS (KRT_EINSUM_MAX_INPUTS + 1)
#include "lower_harness.h"

/* A constant i64 input (1-D, or a scalar with rank 0). */
static uint32_t ints(const char *name, int rank, const int64_t *v, int64_t n)
{
    kiln_shape s = kiln_shape_make(rank, rank ? &n : NULL);
    uint32_t c = kiln_const_add(g, name, KILN_DT_I64, &s, v, (size_t)n * 8, true);
    buf[c] = (void *)g->values[c].data;
    return c;
}

static const void *desc_of(const kiln_lowered *low, krt_kernel_id k)
{
    CU_ASSERT_FATAL(low->n_calls == 1 && low->calls[0].kernel == k);
    return low->calls[0].desc;
}

/* ---- descriptors ------------------------------------------------------------------- */

static void test_reduce_descriptors(void)
{
    static const int64_t d[] = {2, 3, 4, 5}, axes[] = {-1, 1};
    kiln_lowered low;
    start();
    uint32_t ins[2] = {input("x", KILN_DT_F32, 4, d), ints("axes", 1, axes, 2)};
    node(KILN_OP_REDUCEMEAN, ins, 2, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    const krt_reduce_desc *r = desc_of(&low, KRT_K_REDUCE);
    CU_ASSERT(r->op == KRT_REDUCE_MEAN && r->mask == (2u | 8u) && r->rank == 4 && r->dims[3] == 5);
    CU_ASSERT(low.calls[0].n_ops == 2 && low.calls[0].inplace == -1);
    CU_ASSERT(low.calls[0].scratch >= 8 * 8); /* an accumulator per output */

    start(); /* no axes: all, or none with noop_with_empty_axes */
    ins[0] = input("x", KILN_DT_F32, 4, d);
    uint32_t nd = node(KILN_OP_REDUCEMAX, ins, 1, 1);
    CU_ASSERT_EQUAL_FATAL(lower(nd, &low), KILN_OK);
    CU_ASSERT_EQUAL(((const krt_reduce_desc *)desc_of(&low, KRT_K_REDUCE))->mask, 15u);
    start();
    ins[0] = input("x", KILN_DT_F32, 4, d);
    nd = node(KILN_OP_REDUCEMAX, ins, 1, 1);
    kiln_attr_set_int(g, nd, "noop_with_empty_axes", 1);
    CU_ASSERT_EQUAL_FATAL(lower(nd, &low), KILN_OK);
    CU_ASSERT_EQUAL(((const krt_reduce_desc *)desc_of(&low, KRT_K_REDUCE))->mask, 0u);
    finish();
}

static void test_axis_descriptors(void)
{
    static const int64_t d[] = {2, 3, 4, 5}, k2 = 2, ax = -2;
    kiln_lowered low;
    start(); /* Softmax: axis -1 by default */
    uint32_t x = input("x", KILN_DT_F32, 4, d);
    node(KILN_OP_LOGSOFTMAX, &x, 1, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    const krt_softmax_desc *s = desc_of(&low, KRT_K_SOFTMAX);
    CU_ASSERT(s->kind == KRT_LOGSOFTMAX && s->outer == 24 && s->n == 5 && s->inner == 1);

    start(); /* ArgMin: axis 0 by default, select_last_index */
    x = input("x", KILN_DT_I64, 4, d);
    uint32_t nd = node(KILN_OP_ARGMIN, &x, 1, 1);
    kiln_attr_set_int(g, nd, "select_last_index", 1);
    CU_ASSERT_EQUAL_FATAL(lower(nd, &low), KILN_OK);
    const krt_argreduce_desc *a = desc_of(&low, KRT_K_ARGREDUCE);
    CU_ASSERT(a->is_min && a->select_last && a->outer == 1 && a->n == 2 && a->inner == 60);

    start(); /* TopK: K and the axis from a constant input and the attribute */
    uint32_t ins[2] = {input("x", KILN_DT_F32, 4, d), ints("k", 1, &k2, 1)};
    nd = node(KILN_OP_TOPK, ins, 2, 2);
    kiln_attr_set_int(g, nd, "axis", 1);
    kiln_attr_set_int(g, nd, "largest", 0);
    CU_ASSERT_EQUAL_FATAL(lower(nd, &low), KILN_OK);
    const krt_topk_desc *t = desc_of(&low, KRT_K_TOPK);
    CU_ASSERT(t->k == 2 && !t->largest && t->outer == 2 && t->n == 3 && t->inner == 20);
    CU_ASSERT(low.calls[0].n_ops == 3 && low.calls[0].ops[0] == ins[0]);

    start(); /* CumSum: the axis is a scalar input */
    ins[0] = input("x", KILN_DT_F64, 4, d);
    ins[1] = ints("axis", 0, &ax, 1);
    nd = node(KILN_OP_CUMSUM, ins, 2, 1);
    kiln_attr_set_int(g, nd, "reverse", 1);
    CU_ASSERT_EQUAL_FATAL(lower(nd, &low), KILN_OK);
    const krt_cumsum_desc *c = desc_of(&low, KRT_K_CUMSUM);
    CU_ASSERT(c->reverse && !c->exclusive && c->outer == 6 && c->n == 4 && c->inner == 5);
    finish();
}

static void test_norm_descriptors(void)
{
    static const int64_t d[] = {2, 3, 4}, ds[] = {4}, db[] = {3, 1};
    kiln_lowered low;
    start(); /* LayerNormalization over the last two dims, smaller scale and bias */
    uint32_t ins[3] = {input("x", KILN_DT_F32, 3, d), input("s", KILN_DT_F32, 1, ds),
                       input("b", KILN_DT_F32, 2, db)};
    uint32_t nd = node(KILN_OP_LAYERNORMALIZATION, ins, 3, 3);
    kiln_attr_set_int(g, nd, "axis", -2);
    CU_ASSERT_EQUAL_FATAL(lower(nd, &low), KILN_OK);
    const krt_layernorm_desc *l = desc_of(&low, KRT_K_LAYERNORM);
    CU_ASSERT(l->outer == 2 && l->inner == 12 && l->norm_rank == 2 && l->norm_dims[1] == 4);
    CU_ASSERT(l->scale_rank == 1 && l->scale_dims[0] == 4 && l->bias_rank == 2);
    CU_ASSERT(l->epsilon == 1e-5f && l->stash_dt == KRT_F32);
    CU_ASSERT(low.calls[0].scratch >= 2 * 12 * sizeof(float));
    check_split(nd, &low, 1); /* all three outputs */

    start(); /* LRN defaults */
    ins[0] = input("x", KILN_DT_F32, 3, d);
    nd = node(KILN_OP_LRN, ins, 1, 1);
    kiln_attr_set_int(g, nd, "size", 3);
    CU_ASSERT_EQUAL_FATAL(lower(nd, &low), KILN_OK);
    const krt_lrn_desc *r = desc_of(&low, KRT_K_LRN);
    CU_ASSERT(r->size == 3 && r->alpha == 1e-4f && r->beta == 0.75f && r->bias == 1.0f);
    CU_ASSERT(r->n == 2 && r->c == 3 && r->spatial == 4);
    finish();
}

static void test_einsum_and_loss_descriptors(void)
{
    static const int64_t da[] = {2, 3, 4}, db[] = {2, 4, 5}, dx[] = {3, 4}, t[] = {0, 3, 1};
    kiln_lowered low;
    start();
    uint32_t ins[3] = {input("a", KILN_DT_F64, 3, da), input("b", KILN_DT_F64, 3, db)};
    uint32_t nd = node(KILN_OP_EINSUM, ins, 2, 1);
    kiln_attr_set_string(g, nd, "equation", "bij,bjk->bik");
    CU_ASSERT_EQUAL_FATAL(lower(nd, &low), KILN_OK);
    const krt_einsum_desc *e = desc_of(&low, KRT_K_EINSUM);
    CU_ASSERT(e->spec.n_in == 2 && e->spec.out_rank == 3 && e->spec.n_labels == 4);
    CU_ASSERT(e->in_dims[1][2] == 5 && low.calls[0].n_ops == 3);
    exec(&low, false);
    const double *a = buf[ins[0]], *b = buf[ins[1]], *y = buf[kiln_node_output(g, &g->nodes[nd], 0)];
    double s = 0;
    for (int j = 0; j < 4; j++)
        s += a[(1 * 3 + 2) * 4 + j] * b[(1 * 4 + j) * 5 + 3];
    CU_ASSERT_DOUBLE_EQUAL(y[(1 * 3 + 2) * 5 + 3], s, 1e-12);

    start(); /* SoftmaxCrossEntropyLoss, no weight, log_prob asked for */
    ins[0] = input("x", KILN_DT_F32, 2, dx);
    ins[1] = ints("t", 1, t, 3);
    ins[2] = 0;
    nd = node(KILN_OP_SOFTMAXCROSSENTROPYLOSS, ins, 3, 2);
    kiln_attr_set_string(g, nd, "reduction", "sum");
    CU_ASSERT_EQUAL_FATAL(lower(nd, &low), KILN_OK);
    const krt_loss_desc *l = desc_of(&low, KRT_K_LOSS);
    CU_ASSERT(l->kind == KRT_LOSS_SOFTMAX_CE && l->reduction == KRT_LOSS_SUM && !l->has_ignore);
    CU_ASSERT(l->n == 3 && l->c == 4 && l->inner == 1 && l->target_dt == KRT_I64);
    CU_ASSERT(low.calls[0].n_ops == 5 && low.calls[0].ops[2] == 0 && low.calls[0].ops[4] != 0);
    finish();
}

/* ---- work ranges ---------------------------------------------------------------------- */

/* Node op over x (f32) plus `extra` inputs, with the int attribute
 * attr = val when attr is not NULL, split-checked. */
static void split_case(kiln_op op, int rank, const int64_t *dims, const uint32_t *extra, int n_extra,
                       uint32_t n_out, int64_t min_units, const char *attr, int64_t val)
{
    kiln_lowered low;
    uint32_t ins[6];
    ins[0] = input("x", KILN_DT_F32, rank, dims);
    for (int i = 0; i < n_extra; i++)
        ins[1 + i] = extra[i];
    uint32_t nd = node(op, ins, 1 + (uint32_t)n_extra, n_out);
    if (attr)
        kiln_attr_set_int(g, nd, attr, val);
    CU_ASSERT_EQUAL_FATAL(lower(nd, &low), KILN_OK);
    check_split(nd, &low, min_units);
}

static void test_split_reductions(void)
{
    static const int64_t rows[] = {1200, 64}, mid[] = {200, 30, 10}, last = -1, one = 1;
    static const int64_t outer_red[] = {0};
    static const kiln_op ops[] = {KILN_OP_REDUCESUM, KILN_OP_REDUCEMAX, KILN_OP_REDUCELOGSUMEXP,
                                  KILN_OP_REDUCEL2, KILN_OP_REDUCEMEAN};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        start(); /* rows of 64 reduced: 256 rows a unit */
        uint32_t a = ints("axes", 1, &last, 1);
        split_case(ops[i], 2, rows, &a, 1, 1, 5, NULL, 0);
        start(); /* the middle axis: kept [200] outer, kept [10] inner */
        a = ints("axes", 1, &one, 1);
        split_case(ops[i], 3, mid, &a, 1, 1, 4, NULL, 0);
    }
    start(); /* the outermost axis reduced: one unit */
    uint32_t a = ints("axes", 1, outer_red, 1);
    split_case(KILN_OP_REDUCESUM, 2, rows, &a, 1, 1, 1, NULL, 0);
    finish();
}

static void test_split_axis_ops(void)
{
    static const int64_t rows[] = {1200, 64}, cube[] = {40, 30, 70}, mat[] = {8000, 3, 3};
    static const int64_t axis = 1, k = 5;
    static const kiln_op ops[] = {KILN_OP_SOFTMAX, KILN_OP_LOGSOFTMAX, KILN_OP_HARDMAX,
                                  KILN_OP_ARGMAX, KILN_OP_LPNORMALIZATION};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        start();
        split_case(ops[i], 2, rows, NULL, 0, 1, 5, "axis", 1);
    }
    start(); /* softmax along a strided axis: rows of outer */
    kiln_lowered low;
    uint32_t x = input("x", KILN_DT_F32, 3, cube);
    uint32_t nd = node(KILN_OP_SOFTMAX, &x, 1, 1);
    kiln_attr_set_int(g, nd, "axis", 1);
    CU_ASSERT_EQUAL_FATAL(lower(nd, &low), KILN_OK);
    check_split(nd, &low, 5);
    start();
    uint32_t a = ints("axis", 0, &axis, 1);
    split_case(KILN_OP_CUMSUM, 2, rows, &a, 1, 1, 5, NULL, 0);
    start();
    uint32_t kk = ints("k", 1, &k, 1);
    split_case(KILN_OP_TOPK, 2, rows, &kk, 1, 2, 5, NULL, 0);
    start();
    split_case(KILN_OP_DET, 3, mat, NULL, 0, 1, 4, NULL, 0);
    finish();
}

static void test_split_norms(void)
{
    static const int64_t nchw[] = {4, 16, 32, 32}, c[] = {16}, ln[] = {300, 192}, w[] = {192};
    static const int64_t lrn[] = {16, 16, 16, 16}, hw[] = {2, 3};
    start();
    uint32_t p[4] = {input("s", KILN_DT_F32, 1, c), input("b", KILN_DT_F32, 1, c),
                     input("m", KILN_DT_F32, 1, c), input("v", KILN_DT_F32, 1, c)};
    for (int i = 0; i < 16; i++) /* a positive variance */
        ((float *)buf[p[3]])[i] = 1 + (float)i;
    split_case(KILN_OP_BATCHNORMALIZATION, 4, nchw, p, 4, 1, 4, NULL, 0);
    start();
    p[0] = input("s", KILN_DT_F32, 1, c);
    p[1] = input("b", KILN_DT_F32, 1, c);
    split_case(KILN_OP_INSTANCENORMALIZATION, 4, nchw, p, 2, 1, 4, NULL, 0);
    start();
    p[0] = input("s", KILN_DT_F32, 1, w);
    p[1] = input("b", KILN_DT_F32, 1, w);
    split_case(KILN_OP_LAYERNORMALIZATION, 2, ln, p, 2, 3, 4, NULL, 0);
    start();
    split_case(KILN_OP_LRN, 4, lrn, NULL, 0, 1, 4, "size", 3);
    start(); /* MVN over H, W: units are (n, c) rows */
    kiln_lowered low;
    uint32_t x = input("x", KILN_DT_F32, 4, nchw);
    uint32_t nd = node(KILN_OP_MEANVARIANCENORMALIZATION, &x, 1, 1);
    kiln_attr_set_ints(g, nd, "axes", hw, 2);
    CU_ASSERT_EQUAL_FATAL(lower(nd, &low), KILN_OK);
    CU_ASSERT_EQUAL(((const krt_mvn_desc *)desc_of(&low, KRT_K_MVN))->mask, 12u);
    check_split(nd, &low, 4);
    finish();
}

/* ---- y in x's buffer ------------------------------------------------------------------------ */

static void test_alias(void)
{
    static const int64_t rows[] = {1200, 64}, nchw[] = {4, 16, 32, 32}, c[] = {16};
    kiln_lowered low;
    start(); /* softmax: y may be x */
    uint32_t x = input("x", KILN_DT_F32, 2, rows);
    node(KILN_OP_SOFTMAX, &x, 1, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    CU_ASSERT_EQUAL(low.calls[0].inplace, 0);  /* the lowering offers it */
    check_alias(1, &low, 0);

    /* a strided axis (inner 64), for each of the three kinds */
    static const kiln_op kinds[] = {KILN_OP_SOFTMAX, KILN_OP_LOGSOFTMAX, KILN_OP_HARDMAX};
    for (int k = 0; k < 3; k++) {
        start();
        x = input("x", KILN_DT_F32, 2, rows);
        uint32_t nd = node(kinds[k], &x, 1, 1);
        kiln_attr_set_int(g, nd, "axis", 0);
        CU_ASSERT_EQUAL_FATAL(lower(nd, &low), KILN_OK);
        CU_ASSERT_EQUAL(low.calls[0].inplace, 0);
        check_alias(nd, &low, 0);
    }

    start(); /* batchnorm: y may be x */
    uint32_t ins[5] = {input("x", KILN_DT_F32, 4, nchw), input("s", KILN_DT_F32, 1, c),
                       input("b", KILN_DT_F32, 1, c), input("m", KILN_DT_F32, 1, c),
                       input("v", KILN_DT_F32, 1, c)};
    for (int i = 0; i < 16; i++)
        ((float *)buf[ins[4]])[i] = 2;
    node(KILN_OP_BATCHNORMALIZATION, ins, 5, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    CU_ASSERT_EQUAL(low.calls[0].inplace, 0);
    check_alias(1, &low, 0);
    finish();
}

/* ---- missing kernels -------------------------------------------------------------------------- */

static void test_missing_kernel_fails_at_lowering(void)
{
    static const int64_t d[] = {2, 3};
    kiln_lowered low;
    start(); /* ReduceLogSumExp of i64 is valid ONNX, but has no kernel */
    uint32_t x = input("x", KILN_DT_I64, 2, d);
    node(KILN_OP_REDUCELOGSUMEXP, &x, 1, 1);
    CU_ASSERT_EQUAL(lower(1, &low), KILN_ERR_UNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(
        strstr(kiln_ctx_message(ctx), "node 'n' (ReduceLogSumExp): kiln has no ReduceLogSumExp kernel for i64"));
    finish();
}

static CU_TestInfo tests[] = {
    {"Reduce* axes and masks", test_reduce_descriptors},
    {"axis ops: attributes and known inputs", test_axis_descriptors},
    {"normalization descriptors", test_norm_descriptors},
    {"Einsum and loss descriptors", test_einsum_and_loss_descriptors},
    {"split ranges: reductions", test_split_reductions},
    {"split ranges: softmax, arg, cumsum, topk, det", test_split_axis_ops},
    {"split ranges: normalizations", test_split_norms},
    {"y in x's buffer", test_alias},
    {"missing kernel fails at lowering", test_missing_kernel_fails_at_lowering},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"reduce lowering", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
