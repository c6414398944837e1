/* test_linalg_gemm.c — the matrix-product kernels (runtime/krt_linalg_gemm.c)
 * against naive triple loops written here: the blocked f32 GEMM over shapes
 * that hit every edge of its tiles and blocks, transposes by strides,
 * alpha/beta, the generic dtypes, batched MatMul broadcasting, Gemm's bias
 * broadcasting, and the integer / quantized products (with the ONNX test
 * values of QLinearMatMul pasted from onnx/backend/test/case/node). */
#include "cunit_main.h"
#include "kernel_run.h"
#include "runtime/krt_linalg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------------ */

static uint32_t rng = 12345;

static float frand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xffff) / 32768.0f - 1.0f;   /* [-1, 1) */
}

static int irand(int lo, int hi)
{
    rng = rng * 1664525u + 1013904223u;
    return lo + (int)((rng >> 8) % (uint32_t)(hi - lo + 1));
}

static void *scratch(size_t bytes)
{
    void *p = aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
    memset(p, 0xA5, (bytes + 63) / 64 * 64 + 64);   /* garbage: kernels must not rely on zeros */
    return p;
}

static float *frandv(int64_t n)
{
    float *p = malloc((size_t)(n ? n : 1) * sizeof *p);
    for (int64_t i = 0; i < n; i++)
        p[i] = frand();
    return p;
}

/* Worst |got - want| / (1 + |want|). */
static double max_err(const float *got, const double *want, int64_t n)
{
    double e = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]) / (1 + fabs(want[i]));
        e = d > e || d != d ? d : e;
    }
    return e;
}

/* want[i*ldc+j] = alpha * sum_k A(i,k) B(k,j) + beta * C0 (naive, double). */
static void naive_gemm(int64_t M, int64_t N, int64_t K, double alpha, const float *A, int64_t rsa,
                       int64_t csa, const float *B, int64_t rsb, int64_t csb, double beta,
                       const float *C0, int64_t ldc, double *want)
{
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++)
                s += (double)A[i * rsa + k * csa] * B[k * rsb + j * csb];
            want[i * ldc + j] = alpha * s + (beta == 0 ? 0 : beta * C0[i * ldc + j]);
        }
}

/* ---- krt_sgemm ------------------------------------------------------------------ */

static void check_sgemm(int64_t M, int64_t N, int64_t K, int ta, int tb, float alpha, float beta,
                        int64_t ldc_extra)
{
    int64_t ldc = N + ldc_extra;
    float *A = frandv(M * K), *B = frandv(K * N), *C = frandv(M * ldc);
    double *want = calloc((size_t)(M * ldc + 1), sizeof *want);
    int64_t rsa = ta ? 1 : K, csa = ta ? M : 1, rsb = tb ? 1 : N, csb = tb ? K : 1;
    naive_gemm(M, N, K, alpha, A, rsa, csa, B, rsb, csb, beta, C, ldc, want);
    for (int64_t i = 0; i < M; i++)               /* padding columns stay as they were */
        for (int64_t j = N; j < ldc; j++)
            want[i * ldc + j] = C[i * ldc + j];
    void *s = scratch(krt_sgemm_scratch_size(M, N, K));
    krt_sgemm(M, N, K, alpha, A, rsa, csa, B, rsb, csb, beta, C, ldc, s);
    double e = max_err(C, want, M * ldc);
    if (e > 1e-5)
        fprintf(stderr, "\n  sgemm %lldx%lldx%lld ta=%d tb=%d: error %g", (long long)M, (long long)N,
                (long long)K, ta, tb, e);
    CU_ASSERT(e <= 1e-5);
    free(A), free(B), free(C), free(want), free(s);
}

static void test_sgemm_shapes(void)
{
    /* tile edges (MR 6, NR 8..32), block edges (KC 256, MC 72), tiny and odd */
    static const int64_t dims[][3] = {
        {1, 1, 1}, {1, 7, 3}, {5, 1, 9}, {6, 8, 4}, {7, 9, 5}, {13, 33, 17}, {72, 64, 256},
        {73, 65, 257}, {150, 70, 300}, {31, 100, 1}, {2, 3, 600}, {197, 50, 40},
    };
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        for (int t = 0; t < 4; t++)
            check_sgemm(dims[i][0], dims[i][1], dims[i][2], t & 1, t >> 1, 1.0f, 0.0f, 0);
}

static void test_sgemm_alpha_beta_ldc(void)
{
    check_sgemm(20, 30, 40, 0, 0, 0.5f, 2.0f, 3);
    check_sgemm(9, 17, 11, 1, 0, -1.5f, 1.0f, 5);
    check_sgemm(9, 17, 11, 0, 1, 2.0f, -0.25f, 0);
    check_sgemm(3, 4, 0, 0, 0, 1.0f, 0.5f, 0);     /* K = 0: C = beta * C */
}

static void test_sgemm_beta_zero_overwrites_nan(void)
{
    float A[4] = {1, 2, 3, 4}, B[4] = {1, 0, 0, 1}, C[4] = {NAN, NAN, INFINITY, NAN};
    void *s = scratch(krt_sgemm_scratch_size(2, 2, 2));
    krt_sgemm(2, 2, 2, 1.0f, A, 2, 1, B, 2, 1, 0.0f, C, 2, s);
    CU_ASSERT_EQUAL(C[0], 1);
    CU_ASSERT_EQUAL(C[1], 2);
    CU_ASSERT_EQUAL(C[2], 3);
    CU_ASSERT_EQUAL(C[3], 4);
    free(s);
}

/* ---- krt_gemm, generic dtypes --------------------------------------------------- */

static void test_gemm_f64(void)
{
    enum { M = 7, N = 5, K = 9 };
    double A[M * K], B[K * N], C[M * N], want[M * N];
    for (int i = 0; i < M * K; i++) A[i] = frand();
    for (int i = 0; i < K * N; i++) B[i] = frand();
    for (int i = 0; i < M * N; i++) C[i] = frand();
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++)
                s += A[k * M + i] * B[k * N + j];   /* A stored transposed */
            want[i * N + j] = 0.5 * s + 3.0 * C[i * N + j];
        }
    void *s = scratch(krt_gemm_scratch_size(KRT_F64, M, N, K));
    CU_ASSERT_EQUAL(krt_gemm(KRT_F64, M, N, K, 0.5, A, 1, M, B, N, 1, 3.0, C, N, s), KRT_OK);
    for (int i = 0; i < M * N; i++)
        CU_ASSERT_DOUBLE_EQUAL(C[i], want[i], 1e-12);
    free(s);
}

static void test_gemm_integers_wrap(void)
{
    /* i32: exact, and wrapping like two's complement */
    int32_t A[2] = {INT32_MAX, 3}, B[2] = {2, 5}, C[1] = {0};
    void *s = scratch(krt_gemm_scratch_size(KRT_I32, 1, 1, 2));
    CU_ASSERT_EQUAL(krt_gemm(KRT_I32, 1, 1, 2, 1.0, A, 2, 1, B, 1, 1, 0.0, C, 1, s), KRT_OK);
    CU_ASSERT_EQUAL(C[0], (int32_t)((uint32_t)INT32_MAX * 2u + 15u));
    int64_t A64[6] = {1, 2, 3, 4, 5, 6}, B64[6] = {7, 8, 9, 10, 11, 12}, C64[4] = {1, 1, 1, 1};
    CU_ASSERT_EQUAL(krt_gemm(KRT_I64, 2, 2, 3, 1.0, A64, 3, 1, B64, 2, 1, 1.0, C64, 2, s), KRT_OK);
    CU_ASSERT_EQUAL(C64[0], 58 + 1);   /* [1 2 3] . [7 9 11] */
    CU_ASSERT_EQUAL(C64[1], 64 + 1);
    CU_ASSERT_EQUAL(C64[2], 139 + 1);
    CU_ASSERT_EQUAL(C64[3], 154 + 1);
    uint64_t U[2] = {3, 4}, V[2] = {5, 6}, W[1] = {0};
    CU_ASSERT_EQUAL(krt_gemm(KRT_U64, 1, 1, 2, 2.0, U, 2, 1, V, 1, 1, 0.0, W, 1, s), KRT_OK);
    CU_ASSERT_EQUAL(W[0], 78u);
    uint32_t P[1] = {7}, Q[1] = {6}, R[1] = {0};
    CU_ASSERT_EQUAL(krt_gemm(KRT_U32, 1, 1, 1, -1.0, P, 1, 1, Q, 1, 1, 0.0, R, 1, s), KRT_OK);
    CU_ASSERT_EQUAL(R[0], 0u);    /* -42 saturates at 0 */
    free(s);
}

static void test_gemm_half_types(void)
{
    /* values exact in f16/bf16; f32 accumulation, one rounding at the end */
    float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {0.5f, -1, 2, 0.25f, -3, 1};
    float want[4] = {1 * 0.5f + 2 * 2 - 3 * 3, -1 + 2 * 0.25f + 3, 4 * 0.5f + 10 - 18, -4 + 1.25f + 6};
    uint16_t ha[6], hb[6], hc[4], ba[6], bb[6], bc[4];
    for (int i = 0; i < 6; i++) {
        ha[i] = krt_f32_to_f16(a[i]), hb[i] = krt_f32_to_f16(b[i]);
        ba[i] = krt_f32_to_bf16(a[i]), bb[i] = krt_f32_to_bf16(b[i]);
    }
    void *s = scratch(krt_gemm_scratch_size(KRT_F16, 2, 2, 3));
    CU_ASSERT_EQUAL(krt_gemm(KRT_F16, 2, 2, 3, 1.0, ha, 3, 1, hb, 2, 1, 0.0, hc, 2, s), KRT_OK);
    CU_ASSERT_EQUAL(krt_gemm(KRT_BF16, 2, 2, 3, 1.0, ba, 3, 1, bb, 2, 1, 0.0, bc, 2, s), KRT_OK);
    for (int i = 0; i < 4; i++) {
        CU_ASSERT_EQUAL(krt_f16_to_f32(hc[i]), want[i]);
        CU_ASSERT_EQUAL(krt_bf16_to_f32(bc[i]), want[i]);
    }
    CU_ASSERT_EQUAL(krt_gemm(KRT_I8, 1, 1, 1, 1.0, ha, 1, 1, hb, 1, 1, 0.0, hc, 1, s), KRT_EDTYPE);
    free(s);
}

/* ---- MatMul -------------------------------------------------------------------------- */

/* Naive numpy matmul over explicit shapes (rank <= 4 here). */
static void naive_matmul(int ra, const int64_t *da, const float *A, int rb, const int64_t *db,
                         const float *B, int ry, const int64_t *dy, double *Y)
{
    int64_t M = ra == 1 ? 1 : da[ra - 2], K = da[ra - 1], N = rb == 1 ? 1 : db[rb - 1];
    int by = ry - (ra >= 2) - (rb >= 2);
    int64_t nb = 1;
    for (int i = 0; i < by; i++)
        nb *= dy[i];
    for (int64_t b = 0; b < nb; b++) {
        int64_t oa = 0, ob = 0, rem = b, sa = M * K, sb = K * N;
        for (int i = by - 1; i >= 0; i--) {
            int64_t idx = rem % dy[i];
            rem /= dy[i];
            int ia = i - (by - (ra - 2)), ib = i - (by - (rb - 2));
            if (ra > 2 && ia >= 0) {
                oa += (da[ia] == 1 ? 0 : idx) * sa;
                sa *= da[ia];
            }
            if (rb > 2 && ib >= 0) {
                ob += (db[ib] == 1 ? 0 : idx) * sb;
                sb *= db[ib];
            }
        }
        naive_gemm(M, N, K, 1, A + oa, K, 1, B + ob, N, 1, 0, NULL, N, Y + b * M * N);
    }
}

static void check_matmul(int ra, const int64_t *da, int rb, const int64_t *db, int ry,
                         const int64_t *dy)
{
    int64_t na = 1, nb = 1, ny = 1;
    for (int i = 0; i < ra; i++) na *= da[i];
    for (int i = 0; i < rb; i++) nb *= db[i];
    for (int i = 0; i < ry; i++) ny *= dy[i];
    float *A = frandv(na), *B = frandv(nb), *Y = frandv(ny);
    double *want = calloc((size_t)ny, sizeof *want);
    krt_matmul_desc d;
    CU_ASSERT_EQUAL_FATAL(krt_matmul_desc_init(&d, ra, da, rb, db), KRT_OK);
    d.dtype = KRT_F32;
    CU_ASSERT_EQUAL(kernel_run(&krt_kernel_matmul, &d, OPS(A, B, Y)), KRT_OK);
    naive_matmul(ra, da, A, rb, db, B, ry, dy, want);
    CU_ASSERT(max_err(Y, want, ny) <= 1e-5);
    free(A), free(B), free(Y), free(want);
}

static void test_matmul_broadcasting(void)
{
    check_matmul(2, (int64_t[]){3, 4}, 2, (int64_t[]){4, 5}, 2, (int64_t[]){3, 5});
    check_matmul(1, (int64_t[]){4}, 2, (int64_t[]){4, 5}, 1, (int64_t[]){5});
    check_matmul(2, (int64_t[]){3, 4}, 1, (int64_t[]){4}, 1, (int64_t[]){3});
    check_matmul(1, (int64_t[]){4}, 3, (int64_t[]){2, 4, 5}, 2, (int64_t[]){2, 5});
    check_matmul(3, (int64_t[]){2, 3, 4}, 2, (int64_t[]){4, 5}, 3, (int64_t[]){2, 3, 5}); /* folds */
    check_matmul(4, (int64_t[]){2, 1, 3, 4}, 3, (int64_t[]){3, 4, 5}, 4, (int64_t[]){2, 3, 3, 5});
    check_matmul(3, (int64_t[]){1, 3, 4}, 3, (int64_t[]){6, 4, 2}, 3, (int64_t[]){6, 3, 2});
    check_matmul(4, (int64_t[]){2, 3, 5, 7}, 4, (int64_t[]){2, 3, 7, 9}, 4, (int64_t[]){2, 3, 5, 9});
}

static void test_matmul_desc_errors(void)
{
    krt_matmul_desc d;
    CU_ASSERT_EQUAL(krt_matmul_desc_init(&d, 2, (int64_t[]){3, 4}, 2, (int64_t[]){5, 6}), KRT_EVALUE);
    CU_ASSERT_EQUAL(krt_matmul_desc_init(&d, 3, (int64_t[]){2, 3, 4}, 3, (int64_t[]){3, 4, 6}), KRT_EVALUE);
    CU_ASSERT_EQUAL(krt_matmul_desc_init(&d, 0, NULL, 2, (int64_t[]){5, 6}), KRT_EVALUE);
    CU_ASSERT_EQUAL(krt_matmul_desc_init(&d, 3, (int64_t[]){2, 3, 4}, 3, (int64_t[]){1, 4, 6}), KRT_OK);
    CU_ASSERT_EQUAL(d.batch_rank, 1);
    CU_ASSERT_EQUAL(d.batch[0], 2);
    CU_ASSERT_EQUAL(d.b_stride[0], 0);
    CU_ASSERT_EQUAL(d.a_stride[0], 12);
}

static void test_matmul_i64(void)
{
    int64_t A[6] = {1, -2, 3, 4, 5, -6}, B[3] = {2, 3, 4}, Y[2];
    krt_matmul_desc d;
    krt_matmul_desc_init(&d, 2, (int64_t[]){2, 3}, 1, (int64_t[]){3});
    d.dtype = KRT_I64;
    CU_ASSERT_EQUAL(kernel_run(&krt_kernel_matmul, &d, OPS(A, B, Y)), KRT_OK);
    CU_ASSERT_EQUAL(Y[0], 2 - 6 + 12);
    CU_ASSERT_EQUAL(Y[1], 8 + 15 - 24);
    d.dtype = KRT_BOOL;
    CU_ASSERT_EQUAL(kernel_run(&krt_kernel_matmul, &d, OPS(A, B, Y)), KRT_EDTYPE);
}

/* ---- Gemm -------------------------------------------------------------------------- */

static void check_gemm_op(int ta, int tb, int64_t c_rows, int64_t c_cols, double alpha, double beta)
{
    enum { M = 5, N = 7, K = 3 };
    float *A = frandv(M * K), *B = frandv(K * N), *C = frandv(M * N), Y[M * N];
    double want[M * N];
    krt_gemm_desc d = {.dtype = KRT_F32, .M = M, .N = N, .K = K, .trans_a = ta, .trans_b = tb,
                       .alpha = alpha, .beta = beta, .c_rows = c_rows, .c_cols = c_cols};
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++)
                s += (double)(ta ? A[k * M + i] : A[i * K + k]) * (tb ? B[j * K + k] : B[k * N + j]);
            double c = c_rows ? C[(c_rows > 1 ? i : 0) * c_cols + (c_cols > 1 ? j : 0)] : 0;
            want[i * N + j] = alpha * s + beta * c;
        }
    CU_ASSERT_EQUAL(kernel_run(&krt_kernel_gemm, &d, OPS(A, B, c_rows ? C : NULL, Y)), KRT_OK);
    CU_ASSERT(max_err(Y, want, M * N) <= 1e-5);
    free(A), free(B), free(C);
}

static void test_gemm_op_bias_broadcast(void)
{
    check_gemm_op(0, 0, 0, 0, 1, 1);     /* no C */
    check_gemm_op(1, 0, 1, 1, 0.5, 2);   /* scalar C */
    check_gemm_op(0, 1, 1, 7, 1, -1);    /* row vector */
    check_gemm_op(1, 1, 5, 1, 2, 0.5);   /* column vector */
    check_gemm_op(0, 0, 5, 7, 1, 1);     /* full */
    check_gemm_op(0, 0, 5, 7, 1, 0);     /* beta 0 ignores C */
}

/* ---- work ranges: any split of the units is bit-identical --------------------------- */

/* Runs k on d whole, then split into 2, 3 and 7 ranges; out (bytes) must
 * come out the same each time. ops[n_ops - 1] is the output. */
static void expect_split_identical(const krt_kernel_info *k, const void *d, void **ops, int n_ops,
                                   size_t bytes)
{
    void *whole = malloc(bytes), *out = ops[n_ops - 1];
    CU_ASSERT_FATAL(kernel_units(k, d) > 3);
    CU_ASSERT_EQUAL(kernel_run(k, d, ops), KRT_OK);
    memcpy(whole, out, bytes);
    for (int parts = 2; parts <= 7; parts += parts == 2 ? 1 : 4) {
        memset(out, 0xff, bytes);
        CU_ASSERT_EQUAL(kernel_run_split(k, d, ops, parts), KRT_OK);
        CU_ASSERT_EQUAL(memcmp(whole, out, bytes), 0);
    }
    free(whole);
}

static void check_matmul_split(krt_dtype dt, int ra, const int64_t *da, int rb, const int64_t *db)
{
    krt_matmul_desc d;
    CU_ASSERT_EQUAL_FATAL(krt_matmul_desc_init(&d, ra, da, rb, db), KRT_OK);
    d.dtype = dt;
    int64_t na = 1, nb = 1, ny = krt_numel(d.batch_rank, d.batch) * d.M * d.N;
    for (int i = 0; i < ra; i++) na *= da[i];
    for (int i = 0; i < rb; i++) nb *= db[i];
    size_t es = krt_dtype_size(dt);
    float *A = frandv(na * 2), *B = frandv(nb * 2), *Y = frandv(ny * 2);  /* room for f64 */
    expect_split_identical(&krt_kernel_matmul, &d, (void *[]){A, B, Y}, 3, (size_t)ny * es);
    free(A), free(B), free(Y);
}

static void test_matmul_split(void)
{
    /* folded batch, K beyond one packed slice (KC = 256) */
    check_matmul_split(KRT_F32, 3, (int64_t[]){3, 50, 300}, 2, (int64_t[]){300, 45});
    /* broadcast batch, units straddle batch items */
    check_matmul_split(KRT_F32, 4, (int64_t[]){2, 1, 29, 33}, 3, (int64_t[]){3, 33, 40});
    check_matmul_split(KRT_F64, 3, (int64_t[]){2, 37, 20}, 3, (int64_t[]){2, 20, 9});
    /* folded, N over several 64-column blocks (the last one partial): the
     * units are a grid of row x column blocks, and ranges cut column blocks */
    check_matmul_split(KRT_F32, 3, (int64_t[]){2, 40, 70}, 2, (int64_t[]){70, 150});
    check_matmul_split(KRT_F64, 2, (int64_t[]){25, 33}, 2, (int64_t[]){33, 130});
}

/* Every cut of a folded matmul_epi's grid of units into [0, c) and
 * [c, units), and every single unit on its own: each output element is
 * written exactly once, with the whole call's bits. */
static void test_matmul_epi_grid_every_cut(void)
{
    enum { M = 29, N = 200, K = 70 };    /* 3 row units x 4 column blocks, both with edges */
    float *A = frandv(M * K), *B = frandv(K * N), *bias = frandv(N), *res = frandv(M * N);
    float *whole = malloc(sizeof(float) * M * N), *got = malloc(sizeof(float) * M * N);
    krt_matmul_epi_desc d = {.act = KRT_GEMM_ACT_GELU_ERF, .has_bias = 1, .has_residual = 1};
    CU_ASSERT_EQUAL_FATAL(krt_matmul_desc_init(&d.mm, 2, (int64_t[]){M, K}, 2, (int64_t[]){K, N}),
                          KRT_OK);
    d.mm.dtype = KRT_F32;
    void *ops[] = {A, B, bias, res, whole};
    int64_t units = kernel_units(&krt_kernel_matmul_epi, &d);
    CU_ASSERT_EQUAL_FATAL(units, 3 * 4);
    CU_ASSERT_EQUAL_FATAL(kernel_run(&krt_kernel_matmul_epi, &d, ops), KRT_OK);
    ops[4] = got;
    for (int64_t c = 1; c < units; c++) {
        memset(got, 0xff, sizeof(float) * M * N);
        CU_ASSERT_EQUAL(kernel_run_range(&krt_kernel_matmul_epi, &d, ops, 0, c, NULL), KRT_OK);
        CU_ASSERT_EQUAL(kernel_run_range(&krt_kernel_matmul_epi, &d, ops, c, units, NULL), KRT_OK);
        CU_ASSERT_EQUAL(memcmp(whole, got, sizeof(float) * M * N), 0);
    }
    memset(got, 0xff, sizeof(float) * M * N);
    for (int64_t u = units - 1; u >= 0; u--)
        CU_ASSERT_EQUAL(kernel_run_range(&krt_kernel_matmul_epi, &d, ops, u, u + 1, NULL), KRT_OK);
    CU_ASSERT_EQUAL(memcmp(whole, got, sizeof(float) * M * N), 0);
    free(A), free(B), free(bias), free(res), free(whole), free(got);
}

static void test_gemm_split(void)
{
    enum { M = 100, N = 70, K = 300 };
    float *A = frandv(M * K), *B = frandv(K * N), *C = frandv(N), *Y = frandv(M * N);
    for (int t = 0; t < 4; t++) {
        krt_gemm_desc d = {.dtype = KRT_F32, .M = M, .N = N, .K = K, .trans_a = t & 1,
                           .trans_b = t >> 1, .alpha = 0.75, .beta = 2.0, .c_rows = 1, .c_cols = N};
        expect_split_identical(&krt_kernel_gemm, &d, (void *[]){A, B, C, Y}, 4, sizeof(float) * M * N);
    }
    free(A), free(B), free(C), free(Y);
}

/* ---- every kernel: edges, epilogue, splits ----------------------------------------
 *
 * These run once per micro-kernel this build has and this CPU runs
 * (krt_sgemm_kernel: AVX-512, AVX2 and the compile target's on x86-64),
 * each forced in turn. The reference is a naive loop in double; an
 * element passes when
 *     |got - want| <= (K + 4) * 2^-23 * (|alpha| sum_k |A_ik B_kj| + |beta C_ij| + |s bias_ij|)
 * the classical gamma_K bound of a length-K f32 dot product (K * 2^-24
 * times the sum of magnitudes) with twice its slack for alpha, beta and the
 * bias. A dropped or repeated term of the sum is ~1e-1 here: far above it. */

/* The epilogue activations in double (the reference). */
static double act_ref(krt_gemm_act act, double x, double lo, double hi)
{
    double t = x / 6 + 0.5;
    switch (act) {
    case KRT_GEMM_ACT_RELU: return x < 0 ? 0 : x;
    case KRT_GEMM_ACT_CLIP: return x < lo ? lo : x > hi ? hi : x;
    case KRT_GEMM_ACT_GELU_ERF: return 0.5 * x * erfc(-x * 0.70710678118654752440);
    case KRT_GEMM_ACT_GELU_TANH:
        return x / (1 + exp(-2 * 0.79788456080286535588 * (x + 0.044715 * x * x * x)));
    case KRT_GEMM_ACT_SIGMOID: return 1 / (1 + exp(-x));
    case KRT_GEMM_ACT_SILU: return x / (1 + exp(-x));
    case KRT_GEMM_ACT_HARDSWISH: return x * (t < 0 ? 0 : t > 1 ? 1 : t);
    default: return x;
    }
}

typedef struct sg_case {
    int64_t M, N, K, ldc;
    int ta, tb;
    float alpha, beta;
    krt_sgemm_epilogue epi;           /* bias set by run_case when bias_kind != 0 */
    int bias_kind;                    /* 0 none, 1 per column, 2 per row, 3 full, 4 scalar, 5 C itself */
    int with_residual;                /* 1: a residual of C's shape (leading dim ldc + 1) */
} sg_case;

static int sg_failures;

/* Runs one case on the current kernel against the double reference. */
static void run_case(sg_case c)
{
    int64_t M = c.M, N = c.N, K = c.K, ldc = c.ldc;
    float *A = frandv(M * K), *B = frandv(K * N), *C = frandv(M * ldc), *bias = frandv(M * ldc);
    float *C0 = malloc((size_t)(M * ldc) * sizeof *C0);
    memcpy(C0, C, (size_t)(M * ldc) * sizeof *C0);
    int64_t rsa = c.ta ? 1 : K, csa = c.ta ? M : 1, rsb = c.tb ? 1 : N, csb = c.tb ? K : 1;
    static const int64_t brs[6] = {0, 0, 1, 0, 0, 0}, bcs[6] = {0, 1, 0, 1, 0, 1};
    if (c.bias_kind) {
        c.epi.bias = c.bias_kind == 5 ? C : bias;
        c.epi.bias_rs = c.bias_kind == 3 ? ldc : c.bias_kind == 5 ? ldc : brs[c.bias_kind];
        c.epi.bias_cs = bcs[c.bias_kind];
    }
    const float *b0 = c.bias_kind == 5 ? C0 : bias;   /* the bias values before the call */
    float *res = c.with_residual ? frandv(M * (ldc + 1)) : NULL;
    c.epi.residual = res, c.epi.residual_ld = ldc + 1;
    void *s = scratch(krt_sgemm_scratch_size(M, N, K));
    krt_sgemm_ex(M, N, K, c.alpha, A, rsa, csa, B, rsb, csb, c.beta, C, ldc, &c.epi, s);
    int bad = 0;
    for (int64_t i = 0; i < M && bad < 3; i++)
        for (int64_t j = 0; j < ldc; j++) {
            double got = C[i * ldc + j];
            if (j >= N) {                               /* padding columns untouched */
                bad += got != C0[i * ldc + j];
                continue;
            }
            double sum = 0, mag = 0;
            for (int64_t k = 0; k < K && c.alpha != 0; k++) {
                double p = (double)A[i * rsa + k * csa] * B[k * rsb + j * csb];
                sum += p, mag += fabs(p);
            }
            double want = c.alpha * sum, bound = fabs(c.alpha) * mag;
            if (c.beta != 0)
                want += c.beta * C0[i * ldc + j], bound += fabs(c.beta * C0[i * ldc + j]);
            if (c.bias_kind) {
                double b = c.epi.bias_scale * b0[i * c.epi.bias_rs + j * c.epi.bias_cs];
                want += b, bound += fabs(b);
            }
            /* The transcendental activations (slope <= 1.13) add their own
             * error, within 2.5 ulp (krt_vmath.h): 2^-21 |want| + 2^-24 |x|. */
            double pre = want, tol = (double)(K + 4) * 0x1p-23 * bound * 1.2 + 1e-30;
            want = act_ref(c.epi.act, want, c.epi.lo, c.epi.hi);
            if (c.epi.act >= KRT_GEMM_ACT_GELU_ERF)
                tol += 0x1p-21 * fabs(want) + 0x1p-24 * fabs(pre);
            if (c.epi.residual)
                want += c.epi.residual[i * c.epi.residual_ld + j], tol += 0x1p-24 * fabs(want) * 2;
            if (!(fabs(got - want) <= tol)) {
                if (bad++ == 0)
                    fprintf(stderr, "\n  [%s] %lldx%lldx%lld ta=%d tb=%d alpha=%g beta=%g bias=%d "
                            "act=%d: C[%lld,%lld] = %.9g, want %.9g", krt_sgemm_kernel_name(),
                            (long long)M, (long long)N, (long long)K, c.ta, c.tb, c.alpha, c.beta,
                            c.bias_kind, c.epi.act, (long long)i, (long long)j, got, want);
            }
        }
    sg_failures += bad > 0;
    CU_ASSERT_EQUAL(bad, 0);
    free(A), free(B), free(C), free(C0), free(bias), free(s), free(res);
}

static sg_case plain(int64_t M, int64_t N, int64_t K)
{
    sg_case c = {M, N, K, N, irand(0, 1), irand(0, 1), 1.0f, 0.0f,
                 {NULL, 0, 0, 1.0f, KRT_GEMM_ACT_NONE, 0, 0, NULL, 0}, 0, 0};
    return c;
}

/* Calls fn once per kernel, each forced in turn. */
static void for_each_kernel(void (*fn)(void))
{
    const char *name;
    for (int i = 0; (name = krt_sgemm_kernel(i)) != NULL; i++) {
        CU_ASSERT_FATAL(krt_sgemm_use_kernel(name));
        CU_ASSERT_STRING_EQUAL(krt_sgemm_kernel_name(), name);
        fn();
    }
    CU_ASSERT(krt_sgemm_use_kernel(NULL));
    CU_ASSERT(!krt_sgemm_use_kernel("no such kernel"));
}

static void edges(void)
{
    /* every row tail (MR 4, 6, 8) against every column tail of NR 8, 12, 16, 64 */
    static const int64_t ns[] = {1, 2, 3, 4, 5, 7, 8, 9, 11, 12, 13, 15, 16, 17, 23, 24, 25,
                                 31, 32, 33, 47, 48, 49, 63, 64, 65, 66, 95, 127, 128, 129};
    for (int64_t m = 1; m <= 17; m++)
        for (size_t j = 0; j < sizeof ns / sizeof ns[0]; j++)
            run_case(plain(m, ns[j], 1 + (m + (int64_t)j) % 5));
    /* K: tiny, and around the slice depths (K cut into equal slices <= 256) */
    static const int64_t ks[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 127, 128, 129, 191, 192, 193,
                                 255, 256, 257, 300, 511, 512, 513, 769};
    for (size_t k = 0; k < sizeof ks / sizeof ks[0]; k++)
        run_case(plain(13, 70, ks[k]));
    /* M beyond one A block (MC 144) and N beyond one panel, up to ~300 */
    run_case(plain(145, 65, 40));
    run_case(plain(197, 192, 64));
    run_case(plain(300, 300, 300));
}

static void test_sgemm_edges_every_kernel(void)
{
    for_each_kernel(edges);
}

static void random_shapes(void)
{
    static const float alphas[] = {1.0f, 0.5f, -2.0f, 0.0f}, betas[] = {0.0f, 1.0f, 0.25f};
    for (int t = 0; t < 40; t++) {
        sg_case c = plain(irand(1, 300), irand(1, 300), irand(1, 300));
        c.ldc = c.N + irand(0, 3);
        c.alpha = alphas[irand(0, 3)];
        c.beta = betas[irand(0, 2)];
        run_case(c);
    }
}

static void test_sgemm_random_every_kernel(void)
{
    for_each_kernel(random_shapes);
}

static void epilogues(void)
{
    for (int kind = 0; kind <= 5; kind++)
        for (int act = KRT_GEMM_ACT_NONE; act < KRT_GEMM_ACT_COUNT; act++) {
            sg_case c = plain(irand(1, 40), irand(1, 90), irand(1, 600));
            c.ldc = c.N + (kind == 5 ? 0 : irand(0, 2));
            c.alpha = 0.5f;
            c.beta = kind == 5 ? 0.0f : 0.25f;      /* bias = C itself: Gemm with Y = C */
            c.bias_kind = kind;
            c.epi.bias_scale = kind ? -1.5f : 1.0f;
            c.epi.act = (krt_gemm_act)act;
            c.epi.lo = -0.5f, c.epi.hi = 0.75f;
            c.with_residual = (kind + act) % 2;
            run_case(c);
        }
    /* K = 0 and alpha = 0: only beta, the bias and the activation */
    sg_case z = plain(7, 9, 0);
    z.beta = 2.0f, z.bias_kind = 1, z.epi.bias_scale = 1.0f, z.epi.act = KRT_GEMM_ACT_RELU;
    run_case(z);
    z.K = 5, z.alpha = 0.0f, z.bias_kind = 4;
    run_case(z);
}

static void test_sgemm_epilogue_every_kernel(void)
{
    for_each_kernel(epilogues);
}

/* Rows computed in pieces with boundaries anywhere (not on tile edges),
 * with K in several slices and the whole epilogue: bit-identical. */
static void row_splits(void)
{
    static const int64_t shapes[][3] = {{197, 192, 768}, {61, 70, 300}, {50, 129, 513}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *A = frandv(M * K), *B = frandv(K * N), *bias = frandv(N);
        float *whole = frandv(M * N), *parts = frandv(M * N);
        krt_sgemm_epilogue epi = {bias, 0, 1, 0.5f, KRT_GEMM_ACT_GELU_ERF, -3.0f, 3.0f, bias, 0};
        void *sc = scratch(krt_sgemm_scratch_size(M, N, K));
        krt_sgemm_ex(M, N, K, 1.5f, A, K, 1, B, N, 1, 0.0f, whole, N, &epi, sc);
        for (int64_t r0 = 0, r1; r0 < M; r0 = r1) {
            r1 = r0 + irand(1, 23);
            r1 = r1 > M ? M : r1;
            krt_sgemm_ex(r1 - r0, N, K, 1.5f, A + r0 * K, K, 1, B, N, 1, 0.0f, parts + r0 * N, N,
                         &epi, sc);
        }
        CU_ASSERT_EQUAL(memcmp(whole, parts, (size_t)(M * N) * sizeof(float)), 0);
        free(A), free(B), free(bias), free(whole), free(parts), free(sc);
    }
}

static void test_sgemm_row_splits_every_kernel(void)
{
    for_each_kernel(row_splits);
}

static void test_matmul_batched_odd(void)
{
    check_matmul(4, (int64_t[]){3, 1, 37, 70}, 3, (int64_t[]){5, 70, 67}, 4, (int64_t[]){3, 5, 37, 67});
    check_matmul(3, (int64_t[]){2, 197, 64}, 3, (int64_t[]){2, 64, 197}, 3, (int64_t[]){2, 197, 197});
    check_matmul(3, (int64_t[]){4, 1, 300}, 2, (int64_t[]){300, 129}, 3, (int64_t[]){4, 1, 129});
}

/* ---- integer products ---------------------------------------------------------------- */

static void test_quant_round(void)
{
    CU_ASSERT_EQUAL(krt_quant_round(2.5f, 0, 0, 255), 2);     /* half to even */
    CU_ASSERT_EQUAL(krt_quant_round(3.5f, 0, 0, 255), 4);
    CU_ASSERT_EQUAL(krt_quant_round(-2.5f, 0, -128, 127), -2);
    CU_ASSERT_EQUAL(krt_quant_round(-0.5f, 10, 0, 255), 10);
    CU_ASSERT_EQUAL(krt_quant_round(2.51f, 0, 0, 255), 3);
    CU_ASSERT_EQUAL(krt_quant_round(300.0f, 0, 0, 255), 255);  /* saturates */
    CU_ASSERT_EQUAL(krt_quant_round(-300.0f, 5, -128, 127), -128);
    CU_ASSERT_EQUAL(krt_quant_round(NAN, 7, 0, 255), 7);
}

static void test_matmul_integer(void)
{
    /* (A - a_zp per row) @ (B - b_zp per column), A u8, B i8, batched A over broadcast B */
    enum { BATCH = 2, M = 3, K = 4, N = 5 };
    uint8_t A[BATCH * M * K], azp[M] = {1, 128, 255};
    int8_t B[K * N], bzp[N] = {0, -1, 5, -128, 127};
    int32_t Y[BATCH * M * N];
    for (int i = 0; i < BATCH * M * K; i++) A[i] = (uint8_t)irand(0, 255);
    for (int i = 0; i < K * N; i++) B[i] = (int8_t)irand(-128, 127);
    krt_qmatmul_desc d = {.b_dtype = KRT_I8, .y_dtype = KRT_I32, .n_a_zp = M, .n_b_zp = N};
    krt_matmul_desc_init(&d.mm, 3, (int64_t[]){BATCH, M, K}, 2, (int64_t[]){K, N});
    d.mm.dtype = KRT_U8;
    CU_ASSERT_EQUAL(kernel_run(&krt_kernel_qmatmul, &d, OPS(A, NULL, azp, B, NULL, bzp, NULL, NULL, Y)),
                    KRT_OK);
    for (int t = 0; t < BATCH; t++)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                int32_t acc = 0;
                for (int k = 0; k < K; k++)
                    acc += (A[(t * M + i) * K + k] - azp[i]) * (B[k * N + j] - bzp[j]);
                CU_ASSERT_EQUAL(Y[(t * M + i) * N + j], acc);
            }
    d.b_dtype = KRT_I32;
    CU_ASSERT_EQUAL(kernel_run(&krt_kernel_qmatmul, &d, OPS(A, NULL, azp, B, NULL, bzp, NULL, NULL, Y)),
                    KRT_EDTYPE);
}

static void test_qlinear_matmul_onnx_example(void)
{
    /* test_qlinearmatmul_2D, values from onnx/backend/test/case/node/qlinearmatmul.py */
    uint8_t a[8] = {208, 236, 0, 238, 3, 214, 255, 29};
    uint8_t b[12] = {152, 51, 244, 60, 26, 255, 0, 127, 246, 127, 254, 247};
    uint8_t azp = 113, bzp = 114, yzp = 118, y[6];
    float as = 0.0066f, bs = 0.00705f, ys = 0.0107f;
    const uint8_t want[6] = {168, 115, 255, 1, 66, 151};
    krt_qmatmul_desc d = {.b_dtype = KRT_U8, .y_dtype = KRT_U8, .n_a_zp = 1, .n_b_zp = 1,
                          .n_y_zp = 1, .n_a_scale = 1, .n_b_scale = 1, .n_y_scale = 1};
    krt_matmul_desc_init(&d.mm, 2, (int64_t[]){2, 4}, 2, (int64_t[]){4, 3});
    d.mm.dtype = KRT_U8;
    CU_ASSERT_EQUAL(kernel_run(&krt_kernel_qmatmul, &d, OPS(a, &as, &azp, b, &bs, &bzp, &ys, &yzp, y)),
                    KRT_OK);
    for (int i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(y[i], want[i]);
}

static void test_qlinear_matmul_i8_per_row(void)
{
    int8_t a[4] = {10, -20, 30, 40}, b[2] = {3, -5}, y[2], azp[2] = {0, 10}, bzp = 1, yzp = -3;
    float as[2] = {0.5f, 0.25f}, bs = 2.0f, ys[2] = {1.0f, 4.0f};
    krt_qmatmul_desc d = {.b_dtype = KRT_I8, .y_dtype = KRT_I8, .n_a_zp = 2, .n_b_zp = 1,
                          .n_y_zp = 1, .n_a_scale = 2, .n_b_scale = 1, .n_y_scale = 2};
    krt_matmul_desc_init(&d.mm, 2, (int64_t[]){2, 2}, 2, (int64_t[]){2, 1});
    d.mm.dtype = KRT_I8;
    CU_ASSERT_EQUAL(kernel_run(&krt_kernel_qmatmul, &d, OPS(a, as, azp, b, &bs, &bzp, ys, &yzp, y)),
                    KRT_OK);
    /* row 0: (10*2 + -20*-6) = 140, * 0.5*2/1 = 140 -> 127 saturated; row 1: (20*2 + 30*-6) = -140,
     * * 0.25*2/4 = -17.5 -> -18 (half to even) - 3 = -21 */
    CU_ASSERT_EQUAL(y[0], 127);
    CU_ASSERT_EQUAL(y[1], -21);
}

static CU_TestInfo gemm_tests[] = {
    {"sgemm: tile and block edges, transposes", test_sgemm_shapes},
    {"sgemm: alpha, beta, ldc, K = 0", test_sgemm_alpha_beta_ldc},
    {"sgemm: beta 0 overwrites NaN", test_sgemm_beta_zero_overwrites_nan},
    {"gemm f64", test_gemm_f64},
    {"gemm integers wrap / saturate", test_gemm_integers_wrap},
    {"gemm f16 / bf16", test_gemm_half_types},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo matmul_tests[] = {
    {"matmul broadcasting and 1-D operands", test_matmul_broadcasting},
    {"matmul descriptor errors", test_matmul_desc_errors},
    {"matmul i64", test_matmul_i64},
    {"gemm op: transposes and bias broadcast", test_gemm_op_bias_broadcast},
    {"matmul: split work ranges are bit-identical", test_matmul_split},
    {"matmul_epi: every cut of the row x column grid is bit-identical", test_matmul_epi_grid_every_cut},
    {"gemm op: split work ranges are bit-identical", test_gemm_split},
    {"matmul: odd batched shapes with broadcasting", test_matmul_batched_odd},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo kernel_tests[] = {
    {"every kernel: row and column tails, K slices", test_sgemm_edges_every_kernel},
    {"every kernel: random shapes, transposes, alpha, beta, ldc", test_sgemm_random_every_kernel},
    {"every kernel: bias forms and activations in the epilogue", test_sgemm_epilogue_every_kernel},
    {"every kernel: rows split anywhere are bit-identical", test_sgemm_row_splits_every_kernel},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo quant_tests[] = {
    {"quant round half to even, saturate", test_quant_round},
    {"matmul integer with per-row/column zero points", test_matmul_integer},
    {"qlinear matmul: ONNX example", test_qlinear_matmul_onnx_example},
    {"qlinear matmul: i8, per-row scales", test_qlinear_matmul_i8_per_row},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"gemm", NULL, NULL, NULL, NULL, gemm_tests},
    {"matmul", NULL, NULL, NULL, NULL, matmul_tests},
    {"sgemm kernels", NULL, NULL, NULL, NULL, kernel_tests},
    {"quantized", NULL, NULL, NULL, NULL, quant_tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
