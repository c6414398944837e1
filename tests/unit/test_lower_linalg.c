/* test_lower_linalg.c — ir/lower_linalg.c at the kernel-call level: a node
 * is lowered (kiln_lower_node), the call's kernel, descriptor and operands
 * are checked, then the call runs over its whole unit range and split into
 * several ranges (as the thread pool will): both must match a naive
 * computation written here, and each other bit for bit. A lowering that
 * put a stride, a pad, a transpose flag or an operand in the wrong place
 * fails here even where the conformance models do not look. */
#include "cunit_main.h"
#include "lower_run.h"
#include "runtime/krt_linalg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void expect_close(const float *got, const double *want, int64_t n, double tol)
{
    double worst = 0;
    for (int64_t i = 0; i < n; i++)
        worst = fmax(worst, fabs(got[i] - want[i]) / (1 + fabs(want[i])));
    if (worst > tol)
        fprintf(stderr, "\n  worst relative error %g", worst);
    CU_ASSERT(worst <= tol);
}

/* ---- MatMul, Gemm ------------------------------------------------------------------ */

static void test_matmul(void)
{
    enum { BATCH = 3, M = 37, K = 50, N = 29 };
    float *a, *b;
    kiln_lowered low;
    reset();
    NODE(KILN_OP_MATMUL, 1, input("a", DIMS(BATCH, M, K), &a), input("b", DIMS(K, N), &b));
    CU_ASSERT_EQUAL_FATAL(lower((const void *[]){a, b}, &low), KILN_OK);
    CU_ASSERT_EQUAL_FATAL(low.n_calls, 1);
    const kiln_kernel_call *c = &low.calls[0];
    const krt_matmul_desc *d = c->desc;
    CU_ASSERT_EQUAL(c->kernel, KRT_K_MATMUL);
    CU_ASSERT_EQUAL(d->dtype, KRT_F32);
    CU_ASSERT(d->M == M && d->N == N && d->K == K && d->batch_rank == 1 && d->batch[0] == BATCH);
    CU_ASSERT_EQUAL(c->n_ops, 3);
    run_whole_and_split(c, 1);
    double *want = malloc(sizeof(double) * BATCH * M * N);
    for (int t = 0; t < BATCH; t++)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double s = 0;
                for (int k = 0; k < K; k++)
                    s += (double)a[(t * M + i) * K + k] * b[k * N + j];
                want[(t * M + i) * N + j] = s;
            }
    expect_close(out_data(0), want, BATCH * M * N, 1e-5);
    free(a), free(b), free(want);
}

static void test_gemm_transposed_with_bias(void)
{
    enum { M = 41, K = 33, N = 18 };
    float *a, *b, *bias;
    kiln_lowered low;
    reset();
    NODE(KILN_OP_GEMM, 1, input("a", DIMS(K, M), &a), input("b", DIMS(N, K), &b),
         input("c", DIMS(N), &bias));
    kiln_attr_set_int(g, node_id, "transA", 1);
    kiln_attr_set_int(g, node_id, "transB", 1);
    kiln_attr_set_float(g, node_id, "alpha", 0.5f);
    kiln_attr_set_float(g, node_id, "beta", 2.0f);
    CU_ASSERT_EQUAL_FATAL(lower((const void *[]){a, b, bias}, &low), KILN_OK);
    const kiln_kernel_call *c = &low.calls[0];
    const krt_gemm_desc *d = c->desc;
    CU_ASSERT_EQUAL(c->kernel, KRT_K_GEMM);
    CU_ASSERT(d->trans_a == 1 && d->trans_b == 1 && d->alpha == 0.5 && d->beta == 2.0);
    CU_ASSERT(d->M == M && d->N == N && d->K == K && d->c_rows == 1 && d->c_cols == N);
    CU_ASSERT_EQUAL(c->n_ops, 4);
    run_whole_and_split(c, 1);
    double want[M * N];
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++)
                s += (double)a[k * M + i] * b[j * K + k];
            want[i * N + j] = 0.5 * s + 2.0 * bias[j];
        }
    expect_close(out_data(0), want, M * N, 1e-5);
    free(a), free(b), free(bias);
}

/* ---- Conv ------------------------------------------------------------------------- */

static void test_conv_groups_strides_pads(void)
{
    /* x (2, 4, 11, 13), w (6, 2, 3, 3), 2 groups, strides (2, 1), dilations
     * (1, 2), pads (1, 0, 1, 2) -> y (2, 6, 6, 11) */
    enum { NB = 2, C = 4, H = 11, W = 13, M = 6, G = 2, OH = 6, OW = 11 };
    float *x, *w, *b;
    kiln_lowered low;
    reset();
    NODE(KILN_OP_CONV, 1, input("x", DIMS(NB, C, H, W), &x), input("w", DIMS(M, C / G, 3, 3), &w),
         input("b", DIMS(M), &b));
    kiln_attr_set_int(g, node_id, "group", G);
    kiln_attr_set_ints(g, node_id, "strides", (int64_t[]){2, 1}, 2);
    kiln_attr_set_ints(g, node_id, "dilations", (int64_t[]){1, 2}, 2);
    kiln_attr_set_ints(g, node_id, "pads", (int64_t[]){1, 0, 1, 2}, 4);
    CU_ASSERT_EQUAL_FATAL(lower((const void *[]){x, w, b}, &low), KILN_OK);
    const kiln_kernel_call *c = &low.calls[0];
    const krt_conv_desc *d = c->desc;
    CU_ASSERT_EQUAL(c->kernel, KRT_K_CONV);
    CU_ASSERT(d->dtype == KRT_F32 && d->group == G && d->stride[0] == 2 && d->dilation[1] == 2);
    CU_ASSERT(d->pad[0] == 1 && d->pad[1] == 0 && d->out[0] == OH && d->out[1] == OW);
    run_whole_and_split(c, 1);
    double *want = malloc(sizeof(double) * NB * M * OH * OW);
    for (int n = 0; n < NB; n++)
        for (int m = 0; m < M; m++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    double s = b[m];
                    for (int ci = 0; ci < C / G; ci++)
                        for (int kh = 0; kh < 3; kh++)
                            for (int kw = 0; kw < 3; kw++) {
                                int ih = oh * 2 - 1 + kh, iw = ow - 0 + kw * 2;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                                    continue;
                                int ch = m / (M / G) * (C / G) + ci;
                                s += (double)x[((n * C + ch) * H + ih) * W + iw] *
                                     w[((m * (C / G) + ci) * 3 + kh) * 3 + kw];
                            }
                    want[((n * M + m) * OH + oh) * OW + ow] = s;
                }
    expect_close(out_data(0), want, NB * M * OH * OW, 1e-5);
    free(x), free(w), free(b), free(want);
}

/* ---- pools -------------------------------------------------------------------------- */

static void test_maxpool_with_indices(void)
{
    /* x (2, 3, 9, 8), kernel (3, 2), strides 2, pads (1, 0, 1, 1), ceil_mode
     * -> y (2, 3, 5, 5) and the row-major indices */
    enum { NB = 2, C = 3, H = 9, W = 8, OH = 5, OW = 5 };
    float *x;
    kiln_lowered low;
    reset();
    NODE(KILN_OP_MAXPOOL, 2, input("x", DIMS(NB, C, H, W), &x));
    kiln_attr_set_ints(g, node_id, "kernel_shape", (int64_t[]){3, 2}, 2);
    kiln_attr_set_ints(g, node_id, "strides", (int64_t[]){2, 2}, 2);
    kiln_attr_set_ints(g, node_id, "pads", (int64_t[]){1, 0, 1, 1}, 4);
    kiln_attr_set_int(g, node_id, "ceil_mode", 1);
    CU_ASSERT_EQUAL_FATAL(lower((const void *[]){x}, &low), KILN_OK);
    const kiln_kernel_call *c = &low.calls[0];
    const krt_pool_desc *d = c->desc;
    CU_ASSERT_EQUAL(c->kernel, KRT_K_POOL);
    CU_ASSERT(d->kind == KRT_POOL_MAX && !d->global && d->out[0] == OH && d->out[1] == OW);
    CU_ASSERT(c->n_ops == 3 && c->ops[2] != 0);          /* the Indices output */
    CU_ASSERT_EQUAL(c->units, NB * C);
    run_whole_and_split(c, 2);
    const float *y = out_data(0);
    const int64_t *idx = out_data(1);
    for (int p = 0; p < NB * C; p++)
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                float best = -INFINITY;
                int64_t at = -1;
                for (int kh = 0; kh < 3; kh++)
                    for (int kw = 0; kw < 2; kw++) {
                        int ih = oh * 2 - 1 + kh, iw = ow * 2 + kw;
                        if (ih >= 0 && ih < H && iw >= 0 && iw < W && x[(p * H + ih) * W + iw] > best)
                            best = x[(p * H + ih) * W + iw], at = (p * H + ih) * W + iw;
                    }
                CU_ASSERT_EQUAL(y[(p * OH + oh) * OW + ow], best);
                CU_ASSERT_EQUAL(idx[(p * OH + oh) * OW + ow], at);
            }
    free(x);
}

static void test_pool_options_reach_the_descriptor(void)
{
    float *x;
    kiln_lowered low;
    reset();
    NODE(KILN_OP_AVERAGEPOOL, 1, input("x", DIMS(1, 2, 5, 5), &x));
    kiln_attr_set_ints(g, node_id, "kernel_shape", (int64_t[]){3, 3}, 2);
    kiln_attr_set_ints(g, node_id, "pads", (int64_t[]){1, 1, 1, 1}, 4);
    kiln_attr_set_int(g, node_id, "count_include_pad", 1);
    CU_ASSERT_EQUAL_FATAL(lower((const void *[]){x}, &low), KILN_OK);
    const krt_pool_desc *d = low.calls[0].desc;
    CU_ASSERT(d->kind == KRT_POOL_AVG && d->count_include_pad == 1 && d->pad_end[1] == 1);
    free(x);

    reset();
    NODE(KILN_OP_GLOBALLPPOOL, 1, input("x", DIMS(2, 3, 4, 5, 6), &x));
    kiln_attr_set_int(g, node_id, "p", 3);
    CU_ASSERT_EQUAL_FATAL(lower((const void *[]){x}, &low), KILN_OK);
    d = low.calls[0].desc;
    CU_ASSERT(d->kind == KRT_POOL_LP && d->global == 1 && d->p == 3 && d->nd == 3);
    CU_ASSERT(d->batch == 2 && d->channels == 3 && d->in[2] == 6);
    CU_ASSERT_EQUAL(low.calls[0].units, 6);
    free(x);
}

/* ---- refusals ------------------------------------------------------------------------- */

static void test_rnn_f16_refused_when_lowering(void)
{
    kiln_lowered low;
    reset();
    kiln_shape s = kiln_shape_make(DIMS(1, 1, 1));
    uint32_t x = kiln_input_add(g, "x", KILN_DT_F16, &s), w = kiln_input_add(g, "w", KILN_DT_F16, &s);
    uint32_t r = kiln_input_add(g, "r", KILN_DT_F16, &s);
    NODE(KILN_OP_RNN, 1, x, w, r);
    CU_ASSERT_EQUAL(lower((const void *[]){NULL, NULL, NULL}, &low), KILN_ERR_UNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(kiln_ctx_message(ctx), "node 'n' (RNN): no RNN kernel for dtype f16"));
}

static void test_symbolic_shape_refused(void)
{
    float *b;
    kiln_lowered low;
    reset();
    kiln_shape s = kiln_shape_make(DIMS(1, 4));
    s.dim[0] = KILN_DIM_SYM(kiln_graph_symbol(g, "batch"));
    uint32_t a = kiln_input_add(g, "a", KILN_DT_F32, &s);
    NODE(KILN_OP_MATMUL, 1, a, input("b", DIMS(4, 3), &b));
    CU_ASSERT_EQUAL(lower((const void *[]){NULL, b}, &low), KILN_ERR_UNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(kiln_ctx_message(ctx), "input 0 ('a') has no static shape"));
    free(b);
}

/* Resize with tf_crop_and_resize reads roi into the descriptor: a roi known
 * only at run time (a graph input, as the C backend sees it) must be
 * refused, not lowered as the whole image (a silently wrong result). */
static void resize_crop_node(float **x, float **roi)
{
    reset();
    NODE(KILN_OP_RESIZE, 1, input("x", DIMS(1, 1, 4, 4), x), input("roi", DIMS(8), roi), 0,
         ints("sizes", (int64_t[]){1, 1, 2, 2}, 4));
    kiln_attr_set_string(g, node_id, "coordinate_transformation_mode", "tf_crop_and_resize");
    kiln_attr_set_string(g, node_id, "mode", "linear");
}

static void test_resize_unknown_roi_refused(void)
{
    float *x, *roi;
    kiln_lowered low;
    resize_crop_node(&x, &roi);
    for (int k = 0; k < 8; k++)
        roi[k] = k < 4 ? 0.25f * (k >= 2) : 0.75f;
    CU_ASSERT_EQUAL_FATAL(lower((const void *[]){x, roi}, &low), KILN_OK);
    const krt_resize_desc *d = low.calls[0].desc;
    CU_ASSERT(d->roi_start[2] == 0.25 && d->roi_end[3] == 0.75);
    free(x), free(roi);
    resize_crop_node(&x, &roi);
    CU_ASSERT_EQUAL(lower((const void *[]){x, NULL}, &low), KILN_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(kiln_ctx_message(ctx), "input 1 (roi) must be known when the node is compiled"));
    free(x), free(roi);
}

static CU_TestInfo lower_tests[] = {
    {"resize: an unknown tf_crop_and_resize roi is refused", test_resize_unknown_roi_refused},
    {"matmul: descriptor, split ranges, values", test_matmul},
    {"gemm: transposes, alpha, beta, bias", test_gemm_transposed_with_bias},
    {"conv: groups, strides, dilations, pads", test_conv_groups_strides_pads},
    {"maxpool: indices, ceil mode, split ranges", test_maxpool_with_indices},
    {"pool options reach the descriptor", test_pool_options_reach_the_descriptor},
    {"rnn f16 refused when lowering", test_rnn_f16_refused_when_lowering},
    {"symbolic shape refused", test_symbolic_shape_refused},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"lower linalg", setup, teardown, NULL, NULL, lower_tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
