/* test_pack_weights.c — B packed ahead of time (the pack-weights pass;
 * runtime/krt_linalg_gemm.c "B packed ahead of time"):
 *  - the packed layout, element by element, against the formula of the
 *    docs written out here (slices of K, panels of nr, zero padding);
 *  - the matmul_epi kernel on a packed B equals the same kernel on the
 *    unpacked B bit for bit, for every micro-kernel this CPU runs, with B
 *    packed for that kernel (read in place) and for every other layout
 *    (repacked per call), on shapes with row, column and K-slice tails and
 *    every epilogue, whole and split into row ranges;
 *  - the kernel refuses a packed B with batch dims or a bad layout. */
#include "cunit_main.h"
#include "kernel_run.h"
#include "runtime/krt_linalg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint32_t rng = 777;

static float frand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xffff) / 32768.0f - 1.0f;   /* [-1, 1) */
}

static float *frandv(int64_t n)
{
    float *p = malloc((size_t)(n ? n : 1) * sizeof *p);
    for (int64_t i = 0; i < n; i++)
        p[i] = frand();
    return p;
}

static const char *const layouts[] = {"avx512", "avx2", "neon", "vec4", "scalar"};
enum { N_LAYOUTS = sizeof layouts / sizeof layouts[0] };

/* ---- the layout ------------------------------------------------------------------ */

static void check_layout(int64_t K, int64_t N, int nr, int kc)
{
    float *B = frandv(K * N);
    int64_t np = (N + nr - 1) / nr * nr, n = krt_sgemm_packed_numel(N, K, nr);
    CU_ASSERT_EQUAL_FATAL(n, K * np);
    float *P = malloc((size_t)n * sizeof *P);
    memset(P, 0xA5, (size_t)n * sizeof *P);
    krt_sgemm_pack_b(K, N, B, N, 1, nr, kc, P);
    int64_t slices = (K + kc - 1) / kc, d = (K + slices - 1) / slices, bad = 0;
    for (int64_t k = 0; k < K; k++)
        for (int64_t j = 0; j < np; j++) {
            int64_t k0 = k / d * d, ds = K - k0 < d ? K - k0 : d;
            float want = j < N ? B[k * N + j] : 0.0f;
            float got = P[k0 * np + j / nr * nr * ds + (k - k0) * nr + j % nr];
            bad += memcmp(&got, &want, sizeof got) != 0;
        }
    CU_ASSERT_EQUAL(bad, 0);
    /* a transposed B (strides) packs to the same bytes */
    float *Bt = malloc((size_t)(K * N) * sizeof *Bt), *Q = malloc((size_t)n * sizeof *Q);
    for (int64_t k = 0; k < K; k++)
        for (int64_t j = 0; j < N; j++)
            Bt[j * K + k] = B[k * N + j];
    krt_sgemm_pack_b(K, N, Bt, 1, K, nr, kc, Q);
    CU_ASSERT_EQUAL(memcmp(P, Q, (size_t)n * sizeof *P), 0);
    free(B), free(Bt), free(P), free(Q);
}

static void test_layout(void)
{
    check_layout(7, 6, 4, 3);          /* slices 3, 3, 1; a short panel */
    check_layout(1, 1, 64, 128);
    check_layout(300, 70, 16, 256);    /* 2 slices of 150; 70 = 4 x 16 + 6 */
    check_layout(513, 65, 64, 128);    /* 5 slices (103 x 4 + 101) */
    check_layout(129, 13, 12, 256);
    int nr, kc;
    for (int i = 0; i < N_LAYOUTS; i++)
        CU_ASSERT(krt_sgemm_pack_geometry(layouts[i], &nr, &kc) && nr > 0 && kc > 0);
    CU_ASSERT(krt_sgemm_pack_geometry("avx512 6x64", &nr, &kc) && nr == 64);
    CU_ASSERT(krt_sgemm_pack_geometry(NULL, &nr, &kc));
    CU_ASSERT(!krt_sgemm_pack_geometry("sse", &nr, &kc));
    CU_ASSERT_EQUAL(krt_sgemm_packed_numel(0, 5, 16), 0);
    CU_ASSERT_EQUAL(krt_sgemm_packed_numel(5, 0, 16), 0);
}

/* ---- packed == unpacked, bit for bit ------------------------------------------------ */

typedef struct shape3 {
    int64_t batch, M, N, K;
} shape3;

/* Odd shapes: M, N, K not multiples of any tile, K over several slices of
 * 128 and 256, N under, at and over one panel of every nr, a batch of A
 * folded into the rows. */
static const shape3 shapes[] = {
    {1, 1, 1, 1}, {1, 7, 13, 300}, {2, 13, 70, 513}, {1, 197, 100, 769}, {1, 5, 65, 129},
    {3, 25, 200, 257}, {1, 1, 1000, 192}, {1, 61, 12, 33},
};

static const struct {
    krt_gemm_act act;
    int bias, residual;
} epilogues[] = {
    {KRT_GEMM_ACT_NONE, 0, 0}, {KRT_GEMM_ACT_NONE, 1, 0}, {KRT_GEMM_ACT_NONE, 0, 1},
    {KRT_GEMM_ACT_RELU, 1, 1}, {KRT_GEMM_ACT_CLIP, 1, 0}, {KRT_GEMM_ACT_GELU_ERF, 1, 0},
    {KRT_GEMM_ACT_GELU_TANH, 0, 1}, {KRT_GEMM_ACT_SIGMOID, 1, 1}, {KRT_GEMM_ACT_SILU, 0, 0},
    {KRT_GEMM_ACT_HARDSWISH, 1, 1},
};

static int failures;

static void one_case(const shape3 *s, int e)
{
    int64_t rows = s->batch * s->M, N = s->N, K = s->K;
    float *A = frandv(rows * K), *B = frandv(K * N), *bias = frandv(N), *res = frandv(rows * N);
    float *want = malloc((size_t)(rows * N) * sizeof *want);
    float *got = malloc((size_t)(rows * N) * sizeof *got);
    int64_t a_dims[3] = {s->batch, s->M, K}, b_dims[2] = {K, N};
    krt_matmul_epi_desc d = {.act = epilogues[e].act, .lo = -0.25f, .hi = 0.5f,
                             .has_bias = epilogues[e].bias, .has_residual = epilogues[e].residual};
    CU_ASSERT_EQUAL_FATAL(krt_matmul_desc_init(&d.mm, 3, a_dims, 2, b_dims), KRT_OK);
    d.mm.dtype = KRT_F32;
    void *bias_op = d.has_bias ? bias : NULL, *res_op = d.has_residual ? res : NULL;
    CU_ASSERT_EQUAL(kernel_run(&krt_kernel_matmul_epi, &d, OPS(A, B, bias_op, res_op, want)), KRT_OK);
    for (int l = 0; l < N_LAYOUTS; l++) {
        int nr, kc;
        CU_ASSERT_FATAL(krt_sgemm_pack_geometry(layouts[l], &nr, &kc));
        int64_t n = krt_sgemm_packed_numel(N, K, nr);
        float *P = malloc((size_t)n * sizeof *P);
        krt_sgemm_pack_b(K, N, B, N, 1, nr, kc, P);
        krt_matmul_epi_desc dp = d;
        dp.b_nr = nr, dp.b_kc = kc;
        for (int split = 1; split <= 3; split += 2) {
            memset(got, 0xA5, (size_t)(rows * N) * sizeof *got);
            krt_status st = split == 1
                ? kernel_run(&krt_kernel_matmul_epi, &dp, OPS(A, P, bias_op, res_op, got))
                : kernel_run_split(&krt_kernel_matmul_epi, &dp, OPS(A, P, bias_op, res_op, got), split);
            CU_ASSERT_EQUAL(st, KRT_OK);
            if (memcmp(got, want, (size_t)(rows * N) * sizeof *got) != 0 && failures++ < 5)
                fprintf(stderr, "\n  [%s] packed for %s: %lldx%lldx%lldx%lld epilogue %d split %d "
                        "differs from the unpacked B", krt_sgemm_kernel_name(), layouts[l],
                        (long long)s->batch, (long long)s->M, (long long)N, (long long)K, e, split);
            CU_ASSERT_EQUAL(memcmp(got, want, (size_t)(rows * N) * sizeof *got), 0);
        }
        free(P);
    }
    free(A), free(B), free(bias), free(res), free(want), free(got);
}

static void test_bit_identical_every_kernel(void)
{
    const char *name;
    for (int i = 0; (name = krt_sgemm_kernel(i)) != NULL; i++) {
        CU_ASSERT_FATAL(krt_sgemm_use_kernel(name));
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (size_t e = 0; e < sizeof epilogues / sizeof epilogues[0]; e++)
                one_case(&shapes[s], (int)e);
    }
    CU_ASSERT(krt_sgemm_use_kernel(NULL));
}

/* ---- what the kernel refuses ---------------------------------------------------------- */

static void test_refused(void)
{
    float A[2 * 3 * 4] = {0}, P[2 * 4 * 16] = {0}, Y[2 * 3 * 5];
    int64_t a_dims[3] = {2, 3, 4}, b3[3] = {2, 4, 5}, b2[2] = {4, 5};
    krt_matmul_epi_desc d = {0};
    /* batched B: a packed B is one matrix */
    CU_ASSERT_EQUAL_FATAL(krt_matmul_desc_init(&d.mm, 3, a_dims, 3, b3), KRT_OK);
    d.mm.dtype = KRT_F32, d.b_nr = 16, d.b_kc = 256;
    CU_ASSERT_EQUAL(kernel_run(&krt_kernel_matmul_epi, &d, OPS(A, P, NULL, NULL, Y)), KRT_EVALUE);
    /* no kc, or a register width no kernel has room for */
    CU_ASSERT_EQUAL_FATAL(krt_matmul_desc_init(&d.mm, 3, a_dims, 2, b2), KRT_OK);
    d.mm.dtype = KRT_F32, d.b_kc = 0;
    CU_ASSERT_EQUAL(kernel_run(&krt_kernel_matmul_epi, &d, OPS(A, P, NULL, NULL, Y)), KRT_EVALUE);
    d.b_nr = 65, d.b_kc = 256;
    CU_ASSERT_EQUAL(kernel_run(&krt_kernel_matmul_epi, &d, OPS(A, P, NULL, NULL, Y)), KRT_EVALUE);
    d.b_nr = 16;
    CU_ASSERT_EQUAL(kernel_run(&krt_kernel_matmul_epi, &d, OPS(A, P, NULL, NULL, Y)), KRT_OK);
}

static CU_TestInfo tests[] = {
    {"the packed layout, element by element", test_layout},
    {"every kernel, every layout: packed == unpacked bit for bit", test_bit_identical_every_kernel},
    {"packed B with batch dims or a bad layout is refused", test_refused},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"pack weights", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
