/* test_linalg_sample.c — Resize, GridSample and RoiAlign
 * (runtime/krt_linalg_sample.c) against outside references:
 *   - Resize: the ONNX reference implementation (interpolate_nd in
 *     onnx/backend/test/case/node/resize.py, onnx 1.12) run with
 *     /usr/bin/python3, values pasted; hand-derived values where it lacks a
 *     mode (tf_half_pixel_for_nn) or departs from the spec
 *     (pytorch_half_pixel with an output of length 1: the spec maps to 0).
 *   - GridSample: torch.nn.functional.grid_sample (torch with /usr/bin/python3).
 *   - RoiAlign: torchvision.ops.roi_align (avg mode; aligned = half_pixel),
 *     and hand-derived values on a linear ramp for max mode. */
#include "cunit_main.h"
#include "kernel_run.h"
#include "runtime/krt_linalg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The kernels through their kernel-call interface (tests/unit/kernel_run.h). */
static krt_status resize(const krt_resize_desc *d, krt_dtype dt, const void *x, void *y)
{
    krt_resize_desc e = *d;
    e.dtype = dt;
    return kernel_run(&krt_kernel_resize, &e, OPS((void *)x, y));
}

static krt_status gridsample(const krt_gridsample_desc *d, krt_dtype dt, const void *x,
                             const void *grid, void *y)
{
    krt_grid_sample_desc e = {.dtype = dt, .g = *d};
    return kernel_run(&krt_kernel_grid_sample, &e, OPS((void *)x, (void *)grid, y));
}

/* *bad: the roi whose batch index is out of range. */
static krt_status roialign(const krt_roialign_desc *d, krt_dtype dt, const void *x,
                           const void *rois, const int64_t *bi, void *y, int64_t *bad)
{
    krt_roialign_desc e = *d;
    krt_error err = {.operand = -1};
    e.dtype = dt;
    krt_status st = kernel_run_range(&krt_kernel_roialign, &e,
                                     OPS((void *)x, (void *)rois, (void *)bi, y), 0,
                                     kernel_units(&krt_kernel_roialign, &e), &err);
    if (st == KRT_EINDEX)
        *bad = err.operand == 2 ? err.pos : -2;
    return st;
}

static void expect_close(const float *got, const float *want, int n, double tol)
{
    for (int i = 0; i < n; i++) {
        if (fabs(got[i] - want[i]) > tol)
            fprintf(stderr, "\n  [%d] got %.9g want %.9g", i, got[i], want[i]);
        CU_ASSERT(fabs(got[i] - want[i]) <= tol);
    }
}

/* ---- Resize ------------------------------------------------------------------- */

/* A descriptor from explicit sizes (scale = out/in, length = out). */
static krt_resize_desc by_sizes(int rank, const int64_t *in, const int64_t *out, krt_resize_mode mode,
                                krt_coord_mode coord)
{
    krt_resize_desc d = {.rank = rank, .mode = mode, .coord = coord, .cubic_a = -0.75f};
    for (int k = 0; k < rank; k++) {
        d.in[k] = in[k], d.out[k] = out[k];
        d.scale[k] = (double)out[k] / (double)in[k];
        d.length[k] = (double)out[k];
        d.roi_start[k] = 0, d.roi_end[k] = 1;
    }
    return d;
}

/* ... and from scales (out = floor(in * scale), length = in * scale). */
static krt_resize_desc by_scales(int rank, const int64_t *in, const float *scale, krt_resize_mode mode,
                                 krt_coord_mode coord)
{
    krt_resize_desc d = {.rank = rank, .mode = mode, .coord = coord, .cubic_a = -0.75f};
    for (int k = 0; k < rank; k++) {
        d.in[k] = in[k];
        d.scale[k] = scale[k];
        d.length[k] = (double)in[k] * scale[k];
        d.out[k] = (int64_t)floor(d.length[k]);
        d.roi_start[k] = 0, d.roi_end[k] = 1;
    }
    return d;
}

static void run_resize(const krt_resize_desc *d, const float *x, const float *want, int n)
{
    float y[64];
    CU_ASSERT_EQUAL_FATAL(resize(d, KRT_F32, x, y), KRT_OK);
    expect_close(y, want, n, 1e-5);
}

static void test_resize_linear_cubic(void)
{
    const float x23[6] = {-2, -0.5f, 1, 2.5f, 4, 5.5f};
    const float lin[15] = {-2, -1.4f, -0.5f, 0.4f, 1, 0.25f, 0.85f, 1.75f, 2.65f, 3.25f,
                           2.5f, 3.1f, 4, 4.9f, 5.5f};
    krt_resize_desc a = by_sizes(2, (int64_t[]){2, 3}, (int64_t[]){3, 5}, KRT_RESIZE_LINEAR,
                                 KRT_COORD_HALF_PIXEL);
    run_resize(&a, x23, lin, 15);

    const float x33[9] = {1, 4, 2, 7, -3, 5, 0, 6, 8};
    const float cub[8] = {1, 3.17857143f, 3.57142857f, 2, 0, 3.92857143f, 7.07142857f, 8};
    krt_resize_desc b = by_sizes(2, (int64_t[]){3, 3}, (int64_t[]){2, 4}, KRT_RESIZE_CUBIC,
                                 KRT_COORD_ALIGN_CORNERS);
    b.cubic_a = -0.5f;
    b.exclude_outside = 1;
    run_resize(&b, x33, cub, 8);

    const float x5[5] = {3, -1, 4, 1, 5}, cub1d[3] = {1.46296315f, 3.99999985f, 3.57407323f};
    krt_resize_desc c = by_scales(1, (int64_t[]){5}, (float[]){0.6f}, KRT_RESIZE_CUBIC,
                                  KRT_COORD_HALF_PIXEL);
    CU_ASSERT_EQUAL(c.out[0], 3);
    run_resize(&c, x5, cub1d, 3);
}

static void test_resize_3d_separable(void)
{
    const float x[12] = {0, 0.333333343f, 0.942809045f, 1.7320509f, 2.66666675f, 3.72677994f,
                         4.89897966f, 6.17341948f, 7.54247236f, 9, 10.540925f, 12.1609573f};
    const float want[24] = {0, 0.59453723f, 1.1547006f, 2.27884641f, 1.7320509f, 3.121001f,
                            2.44948983f, 3.67734685f, 4.39384691f, 6.01119082f, 5.36602545f,
                            7.17811281f, 4.89897966f, 6.76015646f, 7.63299322f, 9.74353524f, 9,
                            11.2352246f, 4.89897966f, 6.76015646f, 7.63299322f, 9.74353524f, 9,
                            11.2352246f};
    krt_resize_desc d = by_scales(3, (int64_t[]){2, 2, 3}, (float[]){2, 1.5f, 0.7f},
                                  KRT_RESIZE_LINEAR, KRT_COORD_ASYMMETRIC);
    CU_ASSERT_EQUAL(d.out[0] * d.out[1] * d.out[2], 24);
    run_resize(&d, x, want, 24);
}

static void test_resize_nearest_modes(void)
{
    const float x4[4] = {1, 2, 3, 4};
    const float ceil7[7] = {1, 2, 2, 3, 3, 4, 4}, hp_ceil[6] = {1, 2, 3, 3, 4, 4};
    krt_resize_desc a = by_scales(2, (int64_t[]){1, 4}, (float[]){1, 1.75f}, KRT_RESIZE_NEAREST,
                                  KRT_COORD_ASYMMETRIC);
    a.nearest = KRT_NEAREST_ROUND_PREFER_CEIL;
    run_resize(&a, x4, ceil7, 7);
    krt_resize_desc b = by_sizes(2, (int64_t[]){1, 4}, (int64_t[]){1, 6}, KRT_RESIZE_NEAREST,
                                 KRT_COORD_HALF_PIXEL);
    b.nearest = KRT_NEAREST_CEIL;
    run_resize(&b, x4, hp_ceil, 6);
    /* tf_half_pixel_for_nn, floor, 4 -> 3: x = (j + 0.5) / 0.75 = 0.67, 2, 3.33 */
    krt_resize_desc c = by_sizes(1, (int64_t[]){4}, (int64_t[]){3}, KRT_RESIZE_NEAREST,
                                 KRT_COORD_TF_HALF_PIXEL_FOR_NN);
    c.nearest = KRT_NEAREST_FLOOR;
    run_resize(&c, x4, (float[]){1, 3, 4}, 3);
    /* round_prefer_floor at a tie: asymmetric 4 -> 8, x = j/2: 0.5 -> 0, 1.5 -> 1 */
    krt_resize_desc e = by_sizes(1, (int64_t[]){4}, (int64_t[]){8}, KRT_RESIZE_NEAREST,
                                 KRT_COORD_ASYMMETRIC);
    run_resize(&e, x4, (float[]){1, 1, 2, 2, 3, 3, 4, 4}, 8);
}

static void test_resize_crop_and_pytorch(void)
{
    float x44[16];
    for (int i = 0; i < 16; i++)
        x44[i] = (float)i;
    const float crop[9] = {6.60000014f, 10, 10, 11.4000006f, 10, 10, 10, 10, 10};
    krt_resize_desc a = by_sizes(2, (int64_t[]){4, 4}, (int64_t[]){3, 3}, KRT_RESIZE_LINEAR,
                                 KRT_COORD_TF_CROP_AND_RESIZE);
    a.roi_start[0] = 0.4, a.roi_start[1] = 0.6, a.roi_end[0] = 1.2, a.roi_end[1] = 1.7;
    a.extrapolation = 10;
    run_resize(&a, x44, crop, 9);
    /* pytorch_half_pixel, cubic, 4x4 -> 1x3: the length-1 dim maps to row 0
     * (spec); the columns are the reference's 1-D result on [0 1 2 3] */
    krt_resize_desc b = by_sizes(2, (int64_t[]){4, 4}, (int64_t[]){1, 3}, KRT_RESIZE_CUBIC,
                                 KRT_COORD_PYTORCH_HALF_PIXEL);
    run_resize(&b, x44, (float[]){0.12615741f, 1.5f, 2.87384259f}, 3);
}

static void test_resize_other_dtypes(void)
{
    int64_t x[6] = {10, 20, 30, 40, 50, 60}, y[12];
    krt_resize_desc d = by_sizes(2, (int64_t[]){2, 3}, (int64_t[]){4, 3}, KRT_RESIZE_NEAREST,
                                 KRT_COORD_ASYMMETRIC);
    CU_ASSERT_EQUAL(resize(&d, KRT_I64, x, y), KRT_OK);
    const int64_t want[12] = {10, 20, 30, 10, 20, 30, 40, 50, 60, 40, 50, 60};
    CU_ASSERT_EQUAL(memcmp(y, want, sizeof want), 0);
    double xd[2] = {1, 3}, yd[4];
    krt_resize_desc l = by_sizes(1, (int64_t[]){2}, (int64_t[]){4}, KRT_RESIZE_LINEAR,
                                 KRT_COORD_ALIGN_CORNERS);
    CU_ASSERT_EQUAL(resize(&l, KRT_F64, xd, yd), KRT_OK);
    CU_ASSERT_DOUBLE_EQUAL(yd[1], 1 + 2.0 / 3, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(yd[3], 3, 1e-12);
    CU_ASSERT_EQUAL(resize(&l, KRT_I64, x, y), KRT_EDTYPE);  /* linear ints: no kernel */
    krt_resize_desc empty = by_sizes(1, (int64_t[]){1}, (int64_t[]){4}, KRT_RESIZE_NEAREST,
                                     KRT_COORD_ASYMMETRIC);
    empty.in[0] = 0;
    CU_ASSERT_EQUAL(resize(&empty, KRT_F32, x, y), KRT_EVALUE);
}

static void test_resize_identity_dims(void)
{
    /* N and C untouched (scale 1) while W doubles: the identity dims are skipped */
    float x[8], y[16];
    for (int i = 0; i < 8; i++)
        x[i] = (float)(i * i);
    krt_resize_desc d = by_sizes(3, (int64_t[]){2, 2, 2}, (int64_t[]){2, 2, 4}, KRT_RESIZE_LINEAR,
                                 KRT_COORD_ALIGN_CORNERS);
    CU_ASSERT_EQUAL(resize(&d, KRT_F32, x, y), KRT_OK);
    for (int r = 0; r < 4; r++) {
        float a = x[2 * r], b = x[2 * r + 1];
        expect_close(y + 4 * r, (float[]){a, a + (b - a) / 3, a + 2 * (b - a) / 3, b}, 4, 1e-5);
    }
}

/* ---- GridSample --------------------------------------------------------------------- */

static const float grid_x[24] = {3, -1, 4, 1, 5, 9, -2, 6, 5, 3, 5, -8,
                                 2.5f, 0.5f, 3, 1.5f, 3.5f, 5.5f, 0, 4, 3.5f, 2.5f, 3.5f, -3};
static const float grid_g[12] = {-1.3f, -1.0f, 0.0f, 0.0f, 0.37f, -0.61f,
                                 1.2f, 0.9f, -0.55f, 1.4f, 0.8f, -0.2f};

static void check_grid(krt_grid_mode mode, krt_grid_padding pad, int align, const float *want)
{
    krt_gridsample_desc d = {.batch = 1, .channels = 2, .in_h = 3, .in_w = 4, .out_h = 2, .out_w = 3,
                             .mode = mode, .padding = pad, .align_corners = align};
    float y[12];
    CU_ASSERT_EQUAL(gridsample(&d, KRT_F32, grid_x, grid_g, y), KRT_OK);
    expect_close(y, want, 12, 2e-5);
}

static void test_gridsample_vs_torch(void)
{
    check_grid(KRT_GRID_BILINEAR, KRT_GRID_ZEROS, 0, (float[]){0, 3.5f, 2.9944f, -0.51999956f, 0, 4.0500007f, 0, 2.75f, 2.4972f, -0.19499984f, 0, 2.9250004f});
    check_grid(KRT_GRID_BILINEAR, KRT_GRID_BORDER, 1, (float[]){3, 3.5f, 1.7309502f, -6.5999994f, 3.6500001f, 3.259999f, 2.5f, 2.75f, 1.8654751f, -2.2999997f, 2.825f, 2.6299996f});
    check_grid(KRT_GRID_BILINEAR, KRT_GRID_REFLECTION, 0, (float[]){2.6000004f, 3.5f, 2.9944f, -8, 4.4400005f, 4.5f, 2.3000002f, 2.75f, 2.4972f, -3, 3.2200003f, 3.25f});
    check_grid(KRT_GRID_NEAREST, KRT_GRID_ZEROS, 0, (float[]){0, -2, 4, 0, 0, 6, 0, 0, 3, 0, 0, 4});
    check_grid(KRT_GRID_NEAREST, KRT_GRID_REFLECTION, 1, (float[]){3, -2, 4, -8, 3, 6, 2.5f, 0, 3, -3, 2.5f, 4});
    check_grid(KRT_GRID_BICUBIC, KRT_GRID_ZEROS, 0, (float[]){-0.079734072f, 3.125f, 3.7429752f, -0.63916844f, -0.28066498f, 6.1192951f, -0.070241913f, 2.5625f, 2.9594455f, -0.26488525f, -0.20764345f, 4.0210238f});
    check_grid(KRT_GRID_BICUBIC, KRT_GRID_BORDER, 0, (float[]){2.8125002f, 3.125f, 3.4882023f, -9.6561575f, 4.0799956f, 6.588707f, 2.40625f, 2.5625f, 2.7441018f, -3.8280785f, 3.0399966f, 4.2943535f});
    check_grid(KRT_GRID_BICUBIC, KRT_GRID_REFLECTION, 1, (float[]){1.2154707f, 3.125f, 1.9615772f, -5.486486f, 5.6181021f, 4.5975327f, 1.6077355f, 2.5625f, 1.9807882f, -1.7432426f, 3.8090515f, 3.2987671f});
}

/* ---- RoiAlign ------------------------------------------------------------------------ */

static void roi_x(float *x)
{
    /* (2, 2, 5, 6): the tensor of /tmp script: (i % 7) * 0.5 - 1 + (i % 6) * 0.1 */
    for (int i = 0; i < 120; i++)
        x[i] = (float)(i % 7) * 0.5f - 1.0f + (float)(i % 6) * 0.1f;
}

static void check_roi(int half_pixel, int64_t ratio, const float *want)
{
    float x[120], y[36];
    const float rois[12] = {0.6f, 1.2f, 3.9f, 4.1f, -1.5f, -0.5f, 2.0f, 1.5f, 2.2f, 0.3f, 5.7f, 4.8f};
    const int64_t bi[3] = {0, 1, 0};
    int64_t bad = -1;
    roi_x(x);
    krt_roialign_desc d = {.dtype = KRT_UNDEF, .batch = 2, .channels = 2, .height = 5, .width = 6,
                           .num_rois = 3, .out_h = 3, .out_w = 2, .sampling_ratio = ratio,
                           .spatial_scale = 0.9f, .half_pixel = half_pixel, .max_mode = 0};
    CU_ASSERT_EQUAL(roialign(&d, KRT_F32, x, rois, bi, y, &bad), KRT_OK);
    expect_close(y, want, 36, 2e-5);
}

static void test_roialign_vs_torchvision(void)
{
    check_roi(1, 0, (float[]){0.025321841f, -0.1442765f, 1.5048654f, -0.42131734f, 1.5260799f, 0.82603371f, -0.038000003f, 0.85300004f, -0.47299996f, 0.41800013f, -0.13011424f, -0.016999744f, 0.5f, 1.3075001f, 0.5f, 1.3075001f, 0.36250001f, 1.0325f, 1, 0.51375008f, 1, 0.51375008f, 0.86250001f, 1.2253125f, 0.13799994f, 1.0829999f, -0.23541741f, 0.40799987f, 1.2057538f, -0.034269154f, 1.138f, 1.8535421f, 0.46299988f, 1.4079998f, -0.1586989f, 0.73299986f});
    check_roi(1, 2, (float[]){0.14381598f, -0.12589331f, 1.4058731f, -0.3178404f, 1.5260798f, 0.82603365f, -0.037999999f, 0.85300004f, -0.4201965f, 0.41800004f, -0.13011429f, -0.016999755f, 0.5f, 1.3075001f, 0.48750001f, 1.2825f, 0.36250001f, 1.0325f, 1, 0.51375008f, 0.98750001f, 0.57843757f, 0.86250007f, 1.2253125f, 0.13799994f, 1.0829999f, -0.23541741f, 0.40799987f, 1.2057538f, -0.034269154f, 1.138f, 1.8535421f, 0.46299988f, 1.4079998f, -0.1586989f, 0.73299986f});
    check_roi(0, 0, (float[]){0.30063432f, -0.096999958f, 1.3734014f, -0.12522355f, 1.6420002f, 0.65072119f, 0.011999987f, 0.90300006f, -0.3632046f, 0.46800014f, -0.14152874f, 0.033000216f, 1, 1.6075f, 0.77500004f, 1.3825001f, 0.47500002f, 1.0825f, 2, -0.22531247f, 1.7750001f, 0.50453115f, 1.475f, 1.4071093f, 0.18799995f, 1.1329999f, -0.14040972f, 0.45799983f, 1.3025471f, -0.15915146f, 1.188f, 1.8801441f, 0.51299989f, 1.4579998f, -0.16200009f, 0.78299987f});
    check_roi(0, 2, (float[]){0.30063438f, -0.096999973f, 1.3734015f, -0.1252234f, 1.6420002f, 0.65072119f, 0.011999983f, 0.903f, -0.36320472f, 0.46800005f, -0.14152871f, 0.033000201f, 1, 1.6075f, 0.77500004f, 1.3825001f, 0.47500008f, 1.0825001f, 2, -0.22531247f, 1.7750001f, 0.50453115f, 1.475f, 1.3365623f, 0.18799995f, 1.1329999f, -0.14040972f, 0.45799983f, 1.3025471f, -0.15915146f, 1.188f, 1.8801441f, 0.51299989f, 1.4579998f, -0.16200009f, 0.78299987f});
}

static void test_roialign_max_and_errors(void)
{
    /* ramp f(y, x) = 10y + x on 8x8; roi (1,1)-(5,5), 2x2 bins, 2x2 samples,
     * half_pixel: samples at 1 and 2 (bin 0), 3 and 4 (bin 1), exactly on
     * pixels, so the max of the weighted corners is the pixel itself */
    float x[64], y[4];
    for (int i = 0; i < 64; i++)
        x[i] = (float)(10 * (i / 8) + i % 8);
    const float rois[4] = {1, 1, 5, 5};
    int64_t bi[1] = {0}, bad = -1;
    krt_roialign_desc d = {.dtype = KRT_UNDEF, .batch = 1, .channels = 1, .height = 8, .width = 8,
                           .num_rois = 1, .out_h = 2, .out_w = 2, .sampling_ratio = 2,
                           .spatial_scale = 1.0f, .half_pixel = 1, .max_mode = 1};
    CU_ASSERT_EQUAL(roialign(&d, KRT_F32, x, rois, bi, y, &bad), KRT_OK);
    expect_close(y, (float[]){22, 24, 42, 44}, 4, 1e-5);
    d.max_mode = 0;                       /* average: the bin centres */
    CU_ASSERT_EQUAL(roialign(&d, KRT_F32, x, rois, bi, y, &bad), KRT_OK);
    expect_close(y, (float[]){16.5f, 18.5f, 36.5f, 38.5f}, 4, 1e-5);
    bi[0] = 1;
    CU_ASSERT_EQUAL(roialign(&d, KRT_F32, x, rois, bi, y, &bad), KRT_EINDEX);
    CU_ASSERT_EQUAL(bad, 0);
    bi[0] = -1;
    CU_ASSERT_EQUAL(roialign(&d, KRT_F32, x, rois, bi, y, &bad), KRT_EINDEX);
    bi[0] = 0;
    CU_ASSERT_EQUAL(roialign(&d, KRT_I32, x, rois, bi, y, &bad), KRT_EDTYPE);
    d.width = 0;
    CU_ASSERT_EQUAL(roialign(&d, KRT_F32, x, rois, bi, y, &bad), KRT_EVALUE);
}

/* f16 results = the f32 kernel's on the same (f16-exact) data, rounded once. */
static void expect_f16_of(const uint16_t *got, const float *want32, int n)
{
    for (int i = 0; i < n; i++)
        CU_ASSERT_EQUAL(got[i], krt_f32_to_f16(want32[i]));
}

static void to_f16(const float *x, uint16_t *h, int n)
{
    for (int i = 0; i < n; i++)
        h[i] = krt_f32_to_f16(x[i]);
}

static void test_half_precision(void)
{
    /* Resize cubic: widened to f32 inside */
    float x[8] = {1, -2, 3.5f, 4, 0.25f, 6, -7, 8}, y32[12];
    uint16_t xh[8], yh[12];
    to_f16(x, xh, 8);
    krt_resize_desc d = by_sizes(2, (int64_t[]){2, 4}, (int64_t[]){3, 4}, KRT_RESIZE_CUBIC,
                                 KRT_COORD_HALF_PIXEL);
    CU_ASSERT_EQUAL(resize(&d, KRT_F32, x, y32), KRT_OK);
    CU_ASSERT_EQUAL(resize(&d, KRT_F16, xh, yh), KRT_OK);
    expect_f16_of(yh, y32, 12);
    /* GridSample and RoiAlign compute in double from the same values */
    float gx[24], gg[12], g32[12];
    uint16_t gxh[24], ggh[12], gh[12];
    for (int i = 0; i < 24; i++)
        gx[i] = krt_f16_to_f32(krt_f32_to_f16(grid_x[i]));
    for (int i = 0; i < 12; i++)
        gg[i] = krt_f16_to_f32(krt_f32_to_f16(grid_g[i]));
    to_f16(gx, gxh, 24);
    to_f16(gg, ggh, 12);
    krt_gridsample_desc gd = {.batch = 1, .channels = 2, .in_h = 3, .in_w = 4, .out_h = 2, .out_w = 3,
                              .mode = KRT_GRID_BICUBIC, .padding = KRT_GRID_REFLECTION, .align_corners = 0};
    CU_ASSERT_EQUAL(gridsample(&gd, KRT_F32, gx, gg, g32), KRT_OK);
    CU_ASSERT_EQUAL(gridsample(&gd, KRT_F16, gxh, ggh, gh), KRT_OK);
    expect_f16_of(gh, g32, 12);
    const float rois[4] = {0.5f, 0.25f, 3, 2};
    uint16_t roish[4];
    float r32[2 * 2 * 2];
    uint16_t rh[8];
    int64_t bi[1] = {0}, bad;
    to_f16(rois, roish, 4);
    krt_roialign_desc rd = {.dtype = KRT_UNDEF, .batch = 1, .channels = 2, .height = 3, .width = 4,
                            .num_rois = 1, .out_h = 2, .out_w = 2, .sampling_ratio = 0,
                            .spatial_scale = 1.0f, .half_pixel = 1, .max_mode = 0};
    CU_ASSERT_EQUAL(roialign(&rd, KRT_F32, gx, rois, bi, r32, &bad), KRT_OK);
    CU_ASSERT_EQUAL(roialign(&rd, KRT_F16, gxh, roish, bi, rh, &bad), KRT_OK);
    expect_f16_of(rh, r32, 8);
}

static CU_TestInfo resize_tests[] = {
    {"linear and cubic vs the ONNX reference", test_resize_linear_cubic},
    {"3-D separable linear", test_resize_3d_separable},
    {"nearest modes", test_resize_nearest_modes},
    {"tf_crop_and_resize, pytorch_half_pixel", test_resize_crop_and_pytorch},
    {"nearest on i64, linear on f64", test_resize_other_dtypes},
    {"identity dims skipped", test_resize_identity_dims},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo sampler_tests[] = {
    {"gridsample vs torch", test_gridsample_vs_torch},
    {"roialign avg vs torchvision", test_roialign_vs_torchvision},
    {"roialign max mode, bad batch index", test_roialign_max_and_errors},
    {"f16 resize, gridsample, roialign", test_half_precision},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"resize", NULL, NULL, NULL, NULL, resize_tests},
    {"samplers", NULL, NULL, NULL, NULL, sampler_tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
