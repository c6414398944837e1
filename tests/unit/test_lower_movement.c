/* test_lower_movement.c — ir/lower_movement.c at the kernel-call level: a
 * node is lowered (kiln_lower_node), the calls' kernels and descriptors are
 * checked, and they run whole and split into several ranges against naive
 * loops written here: Transpose and Slice as strided views, a Concat of
 * more parts than one call takes, Split with given sizes, the
 * constants Shape and Size become, and the errors found when lowering
 * (inputs that must be constant, edge padding of an emptied axis) or
 * running (an index out of range, named by kiln_kernel_fail). */
#include "cunit_main.h"
#include "lower_run.h"
#include "runtime/krt_movement.h"

#include <string.h>

/* ---- strided views ---------------------------------------------------------------- */

static void test_transpose(void)
{
    enum { A = 64, B = 48, C = 40 };
    float *x;
    kiln_lowered low;
    reset();
    NODE(KILN_OP_TRANSPOSE, 1, input("x", DIMS(A, B, C), &x));
    kiln_attr_set_ints(g, node_id, "perm", (int64_t[]){2, 0, 1}, 3);
    CU_ASSERT_EQUAL_FATAL(lower((const void *[]){x}, &low), KILN_OK);
    CU_ASSERT_EQUAL_FATAL(low.n_calls, 1);
    const krt_strided_desc *d = low.calls[0].desc;
    CU_ASSERT_EQUAL(low.calls[0].kernel, KRT_K_STRIDED);
    CU_ASSERT(d->esize == 4 && d->rank == 3 && d->dims[0] == C && d->strides[0] == 1);
    CU_ASSERT(d->strides[1] == B * C && d->strides[2] == C);
    run_whole_and_split(&low.calls[0], 1);
    const float *y = out_data(0);
    int bad = 0;
    for (int c = 0; c < C; c++)
        for (int a = 0; a < A; a++)
            for (int b = 0; b < B; b++)
                bad += y[(c * A + a) * B + b] != x[(a * B + b) * C + c];
    CU_ASSERT_EQUAL(bad, 0);
    free(x);
}

static void test_slice_negative_steps(void)
{
    /* x[18:-35:-3, :, 2:100:5] of (40, 600, 64) -> (5, 600, 13) */
    enum { A = 40, B = 600, C = 64, OA = 5, OC = 13 };
    float *x;
    kiln_lowered low;
    reset();
    NODE(KILN_OP_SLICE, 1, input("x", DIMS(A, B, C), &x), INTS("starts", 18, 2), INTS("ends", -35, 100),
         INTS("axes", 0, -1), INTS("steps", -3, 5));
    CU_ASSERT_EQUAL_FATAL(lower((const void *[]){x}, &low), KILN_OK);
    const krt_strided_desc *d = low.calls[0].desc;
    CU_ASSERT_EQUAL(low.calls[0].kernel, KRT_K_STRIDED);
    CU_ASSERT(d->dims[0] == OA && d->dims[2] == OC && d->strides[0] == -3 * B * C);
    CU_ASSERT_EQUAL(d->offset, 18 * B * C + 2);
    CU_ASSERT_EQUAL(low.calls[0].n_ops, 2);            /* starts & co live in the descriptor */
    run_whole_and_split(&low.calls[0], 1);
    const float *y = out_data(0);
    int bad = 0;
    for (int a = 0; a < OA; a++)
        for (int b = 0; b < B; b++)
            for (int c = 0; c < OC; c++)
                bad += y[(a * B + b) * OC + c] != x[((18 - 3 * a) * B + b) * C + 2 + 5 * c];
    CU_ASSERT_EQUAL(bad, 0);
    free(x);
}

/* ---- concat, split ------------------------------------------------------------------ */

static void test_concat_of_many_parts(void)
{
    /* 70 inputs (3, k % 3, 5) on axis 1: two calls (64 parts, then 6) */
    enum { PARTS = 70 };
    uint32_t ins[PARTS];
    float *data[PARTS];
    int64_t at[PARTS + 1] = {0};
    kiln_lowered low;
    reset();
    for (int k = 0; k < PARTS; k++) {
        char name[8];
        snprintf(name, sizeof name, "x%d", k);
        ins[k] = input(name, DIMS(3, k % 3, 5), &data[k]);
        at[k + 1] = at[k] + k % 3;
    }
    node_outs(KILN_OP_CONCAT, ins, PARTS, 1);
    kiln_attr_set_int(g, node_id, "axis", -2);
    CU_ASSERT_EQUAL_FATAL(lower((const void *const *)data, &low), KILN_OK);
    CU_ASSERT_EQUAL_FATAL(low.n_calls, 2);
    const krt_concat_desc *d0 = low.calls[0].desc, *d1 = low.calls[1].desc;
    CU_ASSERT(low.calls[0].kernel == KRT_K_CONCAT && d0->n == 64 && d0->first == 0);
    CU_ASSERT(d1->n == 6 && d1->first == at[64] && d1->total == at[PARTS]);
    CU_ASSERT(d0->outer == 3 && d0->inner == 5 && low.calls[1].n_ops == 7);
    run_whole_and_split(&low.calls[0], 1);   /* the first call's parts only */
    CU_ASSERT_EQUAL(run_calls(&low, NULL), KRT_OK);
    const float *y = out_data(0);
    int bad = 0;
    for (int o = 0; o < 3; o++)
        for (int k = 0; k < PARTS; k++)
            for (int j = 0; j < k % 3; j++)
                for (int i = 0; i < 5; i++)
                    bad += y[(o * at[PARTS] + at[k] + j) * 5 + i] != data[k][(o * (k % 3) + j) * 5 + i];
    CU_ASSERT_EQUAL(bad, 0);
    for (int k = 0; k < PARTS; k++)
        free(data[k]);
}

static void test_split_sizes(void)
{
    /* (4, 10) split [3, 5, 2] on axis 1 */
    float *x;
    kiln_lowered low;
    reset();
    NODE(KILN_OP_SPLIT, 3, input("x", DIMS(4, 10), &x), INTS("split", 3, 5, 2));
    kiln_attr_set_int(g, node_id, "axis", 1);
    CU_ASSERT_EQUAL_FATAL(lower((const void *[]){x}, &low), KILN_OK);
    const kiln_kernel_call *c = &low.calls[0];
    const krt_concat_desc *d = c->desc;
    CU_ASSERT(c->kernel == KRT_K_SPLIT && d->n == 3 && d->axis_dims[1] == 5 && c->n_ops == 4);
    run_whole_and_split(c, 3);
    const float *y0 = out_data(0), *y1 = out_data(1), *y2 = out_data(2);
    for (int r = 0; r < 4; r++) {
        CU_ASSERT_EQUAL(memcmp(y0 + 3 * r, x + 10 * r, 12), 0);
        CU_ASSERT_EQUAL(memcmp(y1 + 5 * r, x + 10 * r + 3, 20), 0);
        CU_ASSERT_EQUAL(memcmp(y2 + 2 * r, x + 10 * r + 8, 8), 0);
    }
    free(x);
}

/* ---- constants -------------------------------------------------------------------------- */

static void test_shape_and_size_are_fills(void)
{
    float *x;
    kiln_lowered low;
    reset();
    NODE(KILN_OP_SHAPE, 1, input("x", DIMS(2, 3, 5, 7), &x));
    kiln_attr_set_int(g, node_id, "start", 1);
    kiln_attr_set_int(g, node_id, "end", -1);
    CU_ASSERT_EQUAL_FATAL(lower((const void *[]){x}, &low), KILN_OK);
    const krt_fill_desc *d = low.calls[0].desc;
    CU_ASSERT(low.calls[0].kernel == KRT_K_FILL && d->nbytes == 16 && d->period == 16);
    CU_ASSERT_EQUAL(run_calls(&low, NULL), KRT_OK);
    CU_ASSERT_EQUAL(memcmp(out_data(0), (int64_t[]){3, 5}, 16), 0);
    free(x);

    reset();
    NODE(KILN_OP_SIZE, 1, input("x", DIMS(2, 3, 5, 7), &x));
    CU_ASSERT_EQUAL_FATAL(lower((const void *[]){x}, &low), KILN_OK);
    CU_ASSERT_EQUAL(run_calls(&low, NULL), KRT_OK);
    CU_ASSERT_EQUAL(*(const int64_t *)out_data(0), 210);
    free(x);
}

/* ---- errors ------------------------------------------------------------------------------ */

static void test_gather_bad_index_names_the_input(void)
{
    float *x;
    const int64_t idx[3] = {1, -4, 9};
    kiln_lowered low;
    krt_error err = {.operand = -1};
    reset();
    NODE(KILN_OP_GATHER, 1, input("x", DIMS(4, 3), &x), input_of("idx", KILN_DT_I64, DIMS(3)));
    CU_ASSERT_EQUAL_FATAL(lower((const void *[]){x, idx}, &low), KILN_OK);
    CU_ASSERT_EQUAL(low.calls[0].kernel, KRT_K_GATHER);
    krt_status st = run_calls(&low, &err);
    CU_ASSERT_EQUAL_FATAL(st, KRT_EINDEX);
    CU_ASSERT_EQUAL(kiln_kernel_fail(ctx, g, node_id, &low.calls[0], st, &err), KILN_ERR_RUNTIME);
    CU_ASSERT_STRING_EQUAL(kiln_ctx_message(ctx),
                           "t.onnx: node 'n' (Gather): index 9 out of range [-4, 4) in input 1 ('idx') at position 2");
    free(x);
}

static void test_slice_starts_must_be_constant(void)
{
    float *x;
    kiln_lowered low;
    const int64_t s[1] = {1};
    reset();
    NODE(KILN_OP_SLICE, 1, input("x", DIMS(4, 3), &x), input_of("starts", KILN_DT_I64, DIMS(1)),
         INTS("ends", 3));
    kiln_graph_infer(ctx, g);
    /* the interpreter knows every input; a compile does not */
    CU_ASSERT_EQUAL(kiln_lower_node(ctx, g, g->values, node_id, arena, &low), KILN_ERR_UNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(kiln_ctx_message(ctx), "input 1 ('starts') must be a constant"));
    (void)s;
    free(x);
}

static void test_edge_pad_of_emptied_axis(void)
{
    float *x;
    kiln_lowered low;
    reset();
    NODE(KILN_OP_PAD, 1, input("x", DIMS(3, 2), &x), INTS("pads", 0, -2, 1, 1));
    kiln_attr_set_string(g, node_id, "mode", "edge");
    CU_ASSERT_EQUAL(lower((const void *[]){x}, &low), KILN_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(kiln_ctx_message(ctx),
                                  "node 'n' (Pad): edge/reflect padding of an axis left empty by negative pads"));
    free(x);
}

static CU_TestInfo lower_tests[] = {
    {"transpose: one strided view, split ranges", test_transpose},
    {"slice: negative steps, axes, clamped ends", test_slice_negative_steps},
    {"concat of 70 parts: two calls", test_concat_of_many_parts},
    {"split: given sizes, split ranges", test_split_sizes},
    {"shape and size are fills", test_shape_and_size_are_fills},
    {"gather: bad index names the input", test_gather_bad_index_names_the_input},
    {"slice: starts must be constant", test_slice_starts_must_be_constant},
    {"pad: edge padding of an emptied axis", test_edge_pad_of_emptied_axis},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"lower movement", setup, teardown, NULL, NULL, lower_tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
