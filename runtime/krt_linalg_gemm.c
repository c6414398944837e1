/* krt_linalg_gemm.c — matrix products: the f32 GEMM every other linalg
 * kernel leans on (Conv, ConvTranspose, RNN cells), a generic GEMM for the
 * other dtypes, and the ONNX ops MatMul, Gemm, MatMulInteger, QLinearMatMul.
 *
 * krt_sgemm is the classic Goto/BLIS arrangement: C is cut into NC-column
 * slabs, K into KC-deep slices and M into MC-row blocks; the B slice and the
 * A block are packed into contiguous panels (zero-padded to the register
 * tile, so the micro-kernel never branches on edges inside its loop), and a
 * register-blocked micro-kernel computes an MR x NR tile with 2*MR vector
 * accumulators. The vector width follows the compile target (GCC/Clang
 * vector extensions: 4, 8 or 16 floats); other compilers get the same
 * blocking with scalar code. Results are deterministic for a given build:
 * the summation order of an element depends only on K (its slices of KC
 * and the micro-kernel's loop), never on which rows or columns a call
 * covers. That is what lets the matmul and gemm kernels split their
 * output rows into work units with bit-identical results.
 */
#include "runtime/krt_linalg.h"

#include <math.h>
#include <string.h>

/* ---- blocking parameters ------------------------------------------------ */

#if defined(__AVX512F__)
#define VF 16
#elif defined(__AVX__)
#define VF 8
#else
#define VF 4
#endif

#if defined(__GNUC__) || defined(__clang__)
#define KRT_HAVE_VEC 1
typedef float vf __attribute__((vector_size(VF * 4)));
typedef float vfu __attribute__((vector_size(VF * 4), aligned(4))); /* unaligned access */
#endif

/* The micro-kernel's multiply-adds may fuse into FMAs (ISO C mode turns
 * contraction off by default): twice the throughput where the target has
 * FMA, and still one fixed summation order per build. */
#if defined(__clang__)
#define CONTRACT_FN
#define CONTRACT_BODY _Pragma("clang fp contract(fast)")
#elif defined(__GNUC__)
#define CONTRACT_FN __attribute__((optimize("fp-contract=fast")))
#define CONTRACT_BODY
#else
#define CONTRACT_FN
#define CONTRACT_BODY
#endif

enum {
    MR = 6,          /* rows of the register tile */
    NR = 2 * VF,     /* columns of the register tile: two vectors */
    KC = 256,        /* depth of a packed slice: an A panel stays in L1 */
    MC = 72,         /* rows of a packed A block (multiple of MR): L2 */
    NC = 2048,       /* columns of a packed B slice (multiple of NR): L3 */
    NR_MAX = 32,     /* the widest NR of any build (AVX-512): scratch sizes use it */
};

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

/* Scratch handed in is 64-byte aligned by contract; re-align defensively. */
static void *align64(void *p)
{
    uintptr_t u = (uintptr_t)p;
    return (void *)((u + 63) & ~(uintptr_t)63);
}

/* ---- packing ----------------------------------------------------------- */

/* A block (m x kc) -> panels of MR rows: ap[panel][k][r], zero-padded. */
static void pack_a(int64_t m, int64_t kc, const float *A, int64_t rs, int64_t cs, float *ap)
{
    for (int64_t i0 = 0; i0 < m; i0 += MR) {
        int64_t rows = min64(MR, m - i0);
        for (int64_t k = 0; k < kc; k++) {
            float *dst = ap + k * MR;
            for (int64_t r = 0; r < rows; r++)
                dst[r] = A[(i0 + r) * rs + k * cs];
            for (int64_t r = rows; r < MR; r++)
                dst[r] = 0.0f;
        }
        ap += MR * kc;
    }
}

/* B slice (kc x n) -> panels of NR columns: bp[panel][k][j], zero-padded. */
static void pack_b(int64_t kc, int64_t n, const float *B, int64_t rs, int64_t cs, float *bp)
{
    for (int64_t j0 = 0; j0 < n; j0 += NR) {
        int64_t cols = min64(NR, n - j0);
        for (int64_t k = 0; k < kc; k++) {
            const float *src = B + k * rs + j0 * cs;
            float *dst = bp + k * NR;
            if (cs == 1)
                memcpy(dst, src, (size_t)cols * sizeof(float));
            else
                for (int64_t j = 0; j < cols; j++)
                    dst[j] = src[j * cs];
            for (int64_t j = cols; j < NR; j++)
                dst[j] = 0.0f;
        }
        bp += NR * kc;
    }
}

/* ---- micro-kernel ------------------------------------------------------ */

/* tile[MR][NR] = sum over k of a[k][r] * b[k][j] (packed panels). */
#ifdef KRT_HAVE_VEC
CONTRACT_FN static void tile_product(int64_t kc, const float *restrict a, const float *restrict b,
                                     vf t[MR][2])
{
    CONTRACT_BODY
    vf c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0};
    vf c30 = {0}, c31 = {0}, c40 = {0}, c41 = {0}, c50 = {0}, c51 = {0};
    for (int64_t k = 0; k < kc; k++, a += MR, b += NR) {
        vf b0 = *(const vf *)b, b1 = *(const vf *)(b + VF);
        c00 += a[0] * b0; c01 += a[0] * b1;
        c10 += a[1] * b0; c11 += a[1] * b1;
        c20 += a[2] * b0; c21 += a[2] * b1;
        c30 += a[3] * b0; c31 += a[3] * b1;
        c40 += a[4] * b0; c41 += a[4] * b1;
        c50 += a[5] * b0; c51 += a[5] * b1;
    }
    t[0][0] = c00; t[0][1] = c01; t[1][0] = c10; t[1][1] = c11;
    t[2][0] = c20; t[2][1] = c21; t[3][0] = c30; t[3][1] = c31;
    t[4][0] = c40; t[4][1] = c41; t[5][0] = c50; t[5][1] = c51;
}

/* C tile (m x n valid) += alpha * product. */
static void micro_kernel(int64_t kc, const float *a, const float *b, float *c, int64_t ldc,
                         float alpha, int64_t m, int64_t n)
{
    vf t[MR][2];
    tile_product(kc, a, b, t);
    if (m == MR && n == NR) {
        for (int r = 0; r < MR; r++) {
            vfu *row = (vfu *)(c + r * ldc);
            row[0] += alpha * t[r][0];
            row[1] += alpha * t[r][1];
        }
        return;
    }
    float tmp[MR][NR];
    memcpy(tmp, t, sizeof tmp);
    for (int64_t r = 0; r < m; r++)
        for (int64_t j = 0; j < n; j++)
            c[r * ldc + j] += alpha * tmp[r][j];
}
#else
static void micro_kernel(int64_t kc, const float *a, const float *b, float *c, int64_t ldc,
                         float alpha, int64_t m, int64_t n)
{
    float t[MR][NR] = {{0}};
    for (int64_t k = 0; k < kc; k++, a += MR, b += NR)
        for (int r = 0; r < MR; r++)
            for (int j = 0; j < NR; j++)
                t[r][j] += a[r] * b[j];
    for (int64_t r = 0; r < m; r++)
        for (int64_t j = 0; j < n; j++)
            c[r * ldc + j] += alpha * t[r][j];
}
#endif

/* ---- f32 GEMM driver ---------------------------------------------------- */

size_t krt_sgemm_scratch_size(int64_t M, int64_t N, int64_t K)
{
    int64_t kc = min64(K, KC);
    /* NR_MAX, not NR: the compiler plans scratch with its own build of
     * this function while generated code may run an AVX-512 build (NR 32),
     * so the size must not depend on the build's vector width. */
    int64_t b = kc * round_up(min64(N, NC), NR_MAX), a = kc * round_up(min64(M, MC), MR);
    return (size_t)(a + b) * sizeof(float) + 64;
}

static void scale_c(int64_t M, int64_t N, float beta, float *C, int64_t ldc)
{
    if (beta == 1.0f)
        return;
    for (int64_t i = 0; i < M; i++) {
        float *row = C + i * ldc;
        if (beta == 0.0f)
            memset(row, 0, (size_t)N * sizeof(float));
        else
            for (int64_t j = 0; j < N; j++)
                row[j] *= beta;
    }
}

/* One packed B slice against every A block of the matrix. */
static void gemm_slice(int64_t M, int64_t nc, int64_t kc, float alpha, const float *A,
                       int64_t rs_a, int64_t cs_a, const float *bp, float *ap, float *C,
                       int64_t ldc)
{
    for (int64_t ic = 0; ic < M; ic += MC) {
        int64_t mc = min64(MC, M - ic);
        pack_a(mc, kc, A + ic * rs_a, rs_a, cs_a, ap);
        for (int64_t jr = 0; jr < nc; jr += NR)
            for (int64_t ir = 0; ir < mc; ir += MR)
                micro_kernel(kc, ap + ir * kc, bp + jr * kc, C + (ic + ir) * ldc + jr, ldc,
                             alpha, min64(MR, mc - ir), min64(NR, nc - jr));
    }
}

void krt_sgemm(int64_t M, int64_t N, int64_t K, float alpha,
               const float *A, int64_t rs_a, int64_t cs_a,
               const float *B, int64_t rs_b, int64_t cs_b,
               float beta, float *C, int64_t ldc, void *scratch)
{
    scale_c(M, N, beta, C, ldc);
    if (M <= 0 || N <= 0 || K <= 0 || alpha == 0.0f)
        return;
    float *bp = align64(scratch);
    float *ap = bp + min64(K, KC) * round_up(min64(N, NC), NR);
    for (int64_t jc = 0; jc < N; jc += NC) {
        int64_t nc = min64(NC, N - jc);
        for (int64_t pc = 0; pc < K; pc += KC) {
            int64_t kc = min64(KC, K - pc);
            pack_b(kc, nc, B + pc * rs_b + jc * cs_b, rs_b, cs_b, bp);
            gemm_slice(M, nc, kc, alpha, A + pc * cs_a, rs_a, cs_a, bp, ap, C + jc, ldc);
        }
    }
}

/* ---- generic GEMM for the other dtypes ----------------------------------- */

/* Saturating double -> integer conversions (alpha/beta scaling of ints). */
#define SAT(name, T, LO, HI)                                                   \
    static T name(double x)                                                    \
    {                                                                          \
        if (!(x == x))                                                         \
            return 0;                                                          \
        if (x <= (double)(LO))                                                 \
            return LO;                                                         \
        if (x >= (double)(HI))                                                 \
            return HI;                                                         \
        return (T)x;                                                           \
    }
SAT(sat_i32, int32_t, INT32_MIN, INT32_MAX)
SAT(sat_i64, int64_t, INT64_MIN, INT64_MAX)
SAT(sat_u32, uint32_t, 0, UINT32_MAX)
SAT(sat_u64, uint64_t, 0, UINT64_MAX)
#undef SAT

#define LOAD_ID(x) (x)
#define LOAD_F16(x) krt_f16_to_f32(x)
#define LOAD_BF16(x) krt_bf16_to_f32(x)
#define STORE_F16(x) krt_f32_to_f16((float)(x))
#define STORE_BF16(x) krt_f32_to_bf16((float)(x))
#define STORE_F64(x) (x)

/* Float-like: acc in ACC, C = alpha*acc + beta*C computed in double. */
#define GEMM_FLOAT(name, T, ACC, LOAD, STORE)                                   \
    static void name(int64_t M, int64_t N, int64_t K, double alpha, const T *A,  \
                     int64_t rs_a, int64_t cs_a, const T *B, int64_t rs_b,       \
                     int64_t cs_b, double beta, T *C, int64_t ldc, ACC *row)     \
    {                                                                            \
        for (int64_t i = 0; i < M; i++) {                                        \
            for (int64_t j = 0; j < N; j++)                                      \
                row[j] = 0;                                                      \
            for (int64_t k = 0; k < K; k++) {                                    \
                ACC a = (ACC)LOAD(A[i * rs_a + k * cs_a]);                       \
                const T *bk = B + k * rs_b;                                      \
                for (int64_t j = 0; j < N; j++)                                  \
                    row[j] += a * (ACC)LOAD(bk[j * cs_b]);                       \
            }                                                                    \
            T *c = C + i * ldc;                                                  \
            for (int64_t j = 0; j < N; j++) {                                    \
                double old = beta == 0 ? 0.0 : beta * (double)LOAD(c[j]);        \
                c[j] = STORE(alpha * (double)row[j] + old);                      \
            }                                                                    \
        }                                                                        \
    }
GEMM_FLOAT(gemm_f64, double, double, LOAD_ID, STORE_F64)
GEMM_FLOAT(gemm_f16, uint16_t, float, LOAD_F16, STORE_F16)
GEMM_FLOAT(gemm_bf16, uint16_t, float, LOAD_BF16, STORE_BF16)

/* Integers: products and sums wrap (unsigned ACC); alpha = 1 with beta 0
 * or 1 stays exact, anything else goes through a saturating double. */
#define GEMM_INT(name, T, ACC, SAT)                                              \
    static void name(int64_t M, int64_t N, int64_t K, double alpha, const T *A,  \
                     int64_t rs_a, int64_t cs_a, const T *B, int64_t rs_b,       \
                     int64_t cs_b, double beta, T *C, int64_t ldc, ACC *row)     \
    {                                                                            \
        for (int64_t i = 0; i < M; i++) {                                        \
            for (int64_t j = 0; j < N; j++)                                      \
                row[j] = 0;                                                      \
            for (int64_t k = 0; k < K; k++) {                                    \
                ACC a = (ACC)A[i * rs_a + k * cs_a];                             \
                const T *bk = B + k * rs_b;                                      \
                for (int64_t j = 0; j < N; j++)                                  \
                    row[j] += a * (ACC)bk[j * cs_b];                             \
            }                                                                    \
            T *c = C + i * ldc;                                                  \
            for (int64_t j = 0; j < N; j++) {                                    \
                if (alpha == 1 && beta == 0)                                     \
                    c[j] = (T)row[j];                                            \
                else if (alpha == 1 && beta == 1)                                \
                    c[j] = (T)(row[j] + (ACC)c[j]);                              \
                else                                                             \
                    c[j] = SAT(alpha * (double)(T)row[j] +                       \
                               (beta == 0 ? 0.0 : beta * (double)c[j]));         \
            }                                                                    \
        }                                                                        \
    }
GEMM_INT(gemm_i32, int32_t, uint32_t, sat_i32)
GEMM_INT(gemm_i64, int64_t, uint64_t, sat_i64)
GEMM_INT(gemm_u32, uint32_t, uint32_t, sat_u32)
GEMM_INT(gemm_u64, uint64_t, uint64_t, sat_u64)

typedef struct gemm_args {
    int64_t M, N, K;
    double alpha, beta;
    const void *A, *B;
    int64_t rs_a, cs_a, rs_b, cs_b, ldc;
    void *C, *scratch;
} gemm_args;

static void run_f32(const gemm_args *g)
{
    krt_sgemm(g->M, g->N, g->K, (float)g->alpha, g->A, g->rs_a, g->cs_a, g->B, g->rs_b, g->cs_b,
              (float)g->beta, g->C, g->ldc, g->scratch);
}

#define RUN_GENERIC(name, fn, T, ACC)                                            \
    static void name(const gemm_args *g)                                         \
    {                                                                            \
        fn(g->M, g->N, g->K, g->alpha, g->A, g->rs_a, g->cs_a, g->B, g->rs_b,     \
           g->cs_b, g->beta, g->C, g->ldc, (ACC *)align64(g->scratch));          \
    }
RUN_GENERIC(run_f64, gemm_f64, double, double)
RUN_GENERIC(run_f16, gemm_f16, uint16_t, float)
RUN_GENERIC(run_bf16, gemm_bf16, uint16_t, float)
RUN_GENERIC(run_i32, gemm_i32, int32_t, uint32_t)
RUN_GENERIC(run_i64, gemm_i64, int64_t, uint64_t)
RUN_GENERIC(run_u32, gemm_u32, uint32_t, uint32_t)
RUN_GENERIC(run_u64, gemm_u64, uint64_t, uint64_t)

static void (*const gemm_fns[KRT_DTYPE_COUNT])(const gemm_args *) = {
    [KRT_F32] = run_f32, [KRT_F64] = run_f64, [KRT_F16] = run_f16, [KRT_BF16] = run_bf16,
    [KRT_I32] = run_i32, [KRT_I64] = run_i64, [KRT_U32] = run_u32, [KRT_U64] = run_u64,
};

static bool gemm_has(krt_dtype dt)
{
    return (unsigned)dt < KRT_DTYPE_COUNT && gemm_fns[dt];
}

size_t krt_gemm_scratch_size(krt_dtype dt, int64_t M, int64_t N, int64_t K)
{
    if (dt == KRT_F32)
        return krt_sgemm_scratch_size(M, N, K);
    return (size_t)(N > 0 ? N : 1) * 8 + 64;  /* one accumulator row */
}

krt_status krt_gemm(krt_dtype dt, int64_t M, int64_t N, int64_t K, double alpha,
                    const void *A, int64_t rs_a, int64_t cs_a,
                    const void *B, int64_t rs_b, int64_t cs_b,
                    double beta, void *C, int64_t ldc, void *scratch)
{
    if (!gemm_has(dt))
        return KRT_EDTYPE;
    gemm_args g = {M, N, K, alpha, beta, A, B, rs_a, cs_a, rs_b, cs_b, ldc, C, scratch};
    gemm_fns[dt](&g);
    return KRT_OK;
}

/* ---- work units: blocks of output rows ------------------------------------- */

/* Rows of Y per work unit. A unit computes whole rows (every column, the
 * full K sum), and the GEMM's per-element summation order does not depend
 * on which rows a call covers, so any split is bit-identical. */
enum { UNIT_ROWS = 2 * MR };

static int64_t row_units(int64_t rows)
{
    return rows > 0 ? (rows + UNIT_ROWS - 1) / UNIT_ROWS : 1;
}

/* The rows [*r0, *r1) of `rows` that units `r` cover. */
static void unit_rows(krt_span r, int64_t rows, int64_t *r0, int64_t *r1)
{
    *r0 = min64(r.begin * UNIT_ROWS, rows);
    *r1 = min64(r.end * UNIT_ROWS, rows);
}

/* ---- kernel `matmul` --------------------------------------------------------- */

krt_status krt_matmul_desc_init(krt_matmul_desc *d, int a_rank, const int64_t *a_dims,
                                int b_rank, const int64_t *b_dims)
{
    if (a_rank < 1 || b_rank < 1 || a_rank > KRT_MAX_RANK || b_rank > KRT_MAX_RANK)
        return KRT_EVALUE;
    memset(d, 0, sizeof *d);
    int64_t M = a_rank == 1 ? 1 : a_dims[a_rank - 2], K = a_dims[a_rank - 1];
    int64_t Kb = b_rank == 1 ? b_dims[0] : b_dims[b_rank - 2];
    int64_t N = b_rank == 1 ? 1 : b_dims[b_rank - 1];
    if (K != Kb)
        return KRT_EVALUE;
    int ab = a_rank > 2 ? a_rank - 2 : 0, bb = b_rank > 2 ? b_rank - 2 : 0;
    int r = ab > bb ? ab : bb;
    int64_t sa = M * K, sb = K * N;      /* dense strides, innermost batch dim first */
    for (int i = r - 1; i >= 0; i--) {
        int ia = i - (r - ab), ib = i - (r - bb);
        int64_t da = ia >= 0 ? a_dims[ia] : 1, db = ib >= 0 ? b_dims[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return KRT_EVALUE;
        d->batch[i] = da == 1 ? db : da;
        d->a_stride[i] = da == 1 ? 0 : sa;
        d->b_stride[i] = db == 1 ? 0 : sb;
        sa *= da;
        sb *= db;
    }
    d->batch_rank = r;
    d->M = M;
    d->N = N;
    d->K = K;
    return KRT_OK;
}

static int64_t batch_count(const krt_matmul_desc *d)
{
    return krt_numel(d->batch_rank, d->batch);
}

/* True when B is the same matrix for every batch and A's batches are laid
 * out densely one after the other: the batch folds into M (one big GEMM). */
static bool folds_into_m(const krt_matmul_desc *d)
{
    int64_t dense = d->M * d->K;
    for (int i = d->batch_rank - 1; i >= 0; i--) {
        if (d->b_stride[i] != 0 && d->batch[i] != 1)
            return false;
        if (d->batch[i] != 1 && d->a_stride[i] != dense)
            return false;
        dense *= d->batch[i];
    }
    return true;
}

/* Offsets of A and B for batch number `flat` (row-major over d->batch). */
static void batch_offsets(const krt_matmul_desc *d, int64_t flat, int64_t *a_off, int64_t *b_off)
{
    *a_off = *b_off = 0;
    for (int i = d->batch_rank - 1; i >= 0; i--) {
        int64_t idx = flat % d->batch[i];
        flat /= d->batch[i];
        *a_off += idx * d->a_stride[i];
        *b_off += idx * d->b_stride[i];
    }
}

static int64_t matmul_units(const void *desc)
{
    const krt_matmul_desc *d = desc;
    return row_units(batch_count(d) * d->M);
}

static size_t matmul_scratch(const void *desc)
{
    const krt_matmul_desc *d = desc;
    return krt_gemm_scratch_size(d->dtype, d->M * batch_count(d), d->N, d->K);
}

/* Rows [r0, r1) of the batch x M rows of C = A @ B. */
static void matmul_rows(const krt_matmul_desc *d, const char *A, const char *B, char *C,
                        int64_t r0, int64_t r1, void *scratch)
{
    int64_t es = (int64_t)krt_dtype_size(d->dtype), M = d->M, N = d->N, K = d->K;
    if (folds_into_m(d)) {
        krt_gemm(d->dtype, r1 - r0, N, K, 1.0, A + r0 * K * es, K, 1, B, N, 1, 0.0,
                 C + r0 * N * es, N, scratch);
        return;
    }
    for (int64_t r = r0, n; r < r1; r += n) {
        int64_t b = r / M, i = r % M, ao, bo;
        n = min64(M - i, r1 - r);
        batch_offsets(d, b, &ao, &bo);
        krt_gemm(d->dtype, n, N, K, 1.0, A + (ao + i * K) * es, K, 1, B + bo * es, N, 1, 0.0,
                 C + r * N * es, N, scratch);
    }
}

static krt_status matmul_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                             krt_error *err)
{
    const krt_matmul_desc *d = desc;
    int64_t r0, r1;
    (void)err;
    if (!gemm_has(d->dtype))
        return KRT_EDTYPE;
    unit_rows(r, batch_count(d) * d->M, &r0, &r1);
    if (r0 < r1)
        matmul_rows(d, ops[0], ops[1], ops[2], r0, r1, scratch);
    return KRT_OK;
}

const krt_kernel_info krt_kernel_matmul = {
    "matmul", matmul_run, matmul_scratch, matmul_units, sizeof(krt_matmul_desc),
};

/* ---- kernel `gemm` ------------------------------------------------------------ */

static int64_t gemm_units(const void *desc)
{
    return row_units(((const krt_gemm_desc *)desc)->M);
}

static size_t gemm_scratch(const void *desc)
{
    const krt_gemm_desc *d = desc;
    return krt_gemm_scratch_size(d->dtype, d->M, d->N, d->K);
}

/* Rows [r0, r1) of Y = C broadcast from (c_rows, c_cols) to (M, N). */
static void fill_bias(const krt_gemm_desc *d, int64_t es, const char *C, char *Y, int64_t r0,
                      int64_t r1)
{
    for (int64_t i = r0; i < r1; i++) {
        const char *src = C + (d->c_rows > 1 ? i : 0) * d->c_cols * es;
        char *dst = Y + i * d->N * es;
        if (d->c_cols == d->N)
            memcpy(dst, src, (size_t)(d->N * es));
        else
            for (int64_t j = 0; j < d->N; j++)
                memcpy(dst + j * es, src, (size_t)es);
    }
}

static krt_status gemm_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                           krt_error *err)
{
    const krt_gemm_desc *d = desc;
    int64_t M = d->M, N = d->N, K = d->K, es = (int64_t)krt_dtype_size(d->dtype), r0, r1;
    (void)err;
    if (!gemm_has(d->dtype))
        return KRT_EDTYPE;
    unit_rows(r, M, &r0, &r1);
    if (r0 >= r1)
        return KRT_OK;
    bool bias = ops[2] && d->beta != 0 && d->c_rows > 0;
    if (bias)
        fill_bias(d, es, ops[2], ops[3], r0, r1);
    int64_t rs_a = d->trans_a ? 1 : K, cs_a = d->trans_a ? M : 1;
    int64_t rs_b = d->trans_b ? 1 : N, cs_b = d->trans_b ? K : 1;
    return krt_gemm(d->dtype, r1 - r0, N, K, d->alpha, (const char *)ops[0] + r0 * rs_a * es,
                    rs_a, cs_a, ops[1], rs_b, cs_b, bias ? d->beta : 0.0,
                    (char *)ops[3] + r0 * N * es, N, scratch);
}

const krt_kernel_info krt_kernel_gemm = {
    "gemm", gemm_run, gemm_scratch, gemm_units, sizeof(krt_gemm_desc),
};

/* ---- half-precision conversions ------------------------------------------ */

void krt_widen_f32(krt_dtype dt, const void *src, float *dst, int64_t n)
{
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = dt == KRT_BF16 ? krt_bf16_to_f32(s[i]) : krt_f16_to_f32(s[i]);
}

void krt_narrow_f32(krt_dtype dt, const float *src, void *dst, int64_t n)
{
    uint16_t *d = dst;
    for (int64_t i = 0; i < n; i++)
        d[i] = dt == KRT_BF16 ? krt_f32_to_bf16(src[i]) : krt_f32_to_f16(src[i]);
}

/* ---- kernel `qmatmul`: MatMulInteger, QLinearMatMul ------------------------- */

int32_t krt_quant_round(float v, int32_t zp, int32_t lo, int32_t hi)
{
    float f = floorf(v), frac = v - f;
    if (frac > 0.5f || (frac == 0.5f && fmodf(f, 2.0f) != 0.0f))
        f += 1.0f;
    float x = f + (float)zp;
    if (!(x == x))
        x = (float)zp;
    if (x < (float)lo)
        return lo;
    if (x > (float)hi)
        return hi;
    return (int32_t)x;
}

/* A quantized operand as the kernel reads it: u8 or i8 data with a zero
 * point and a scale, each per tensor (n == 1) or per row / column. */
typedef struct qtensor {
    krt_dtype dt;
    const void *data;
    const void *zp;                   /* same dtype as data; NULL means 0 */
    int64_t n_zp;
    const float *scale;               /* QLinearMatMul only */
    int64_t n_scale;
} qtensor;

/* Zero point k of a quantized operand (0 when absent). */
static int32_t zp_at(const qtensor *q, int64_t k)
{
    if (!q->zp)
        return 0;
    k = q->n_zp > 1 ? k : 0;
    return q->dt == KRT_U8 ? ((const uint8_t *)q->zp)[k] : ((const int8_t *)q->zp)[k];
}

static int32_t q_at(const qtensor *q, int64_t i)
{
    return q->dt == KRT_U8 ? ((const uint8_t *)q->data)[i] : ((const int8_t *)q->data)[i];
}

static bool q_ok(krt_dtype dt)
{
    return dt == KRT_U8 || dt == KRT_I8;
}

static float scale_at(const qtensor *q, int64_t k)
{
    return q->scale[q->n_scale > 1 ? k : 0];
}

/* dst (M x K, i32) = A block at offset `off` minus the per-row zero point. */
static void widen_a(const qtensor *a, int64_t off, int64_t M, int64_t K, int32_t *dst)
{
    for (int64_t i = 0; i < M; i++) {
        int32_t zp = zp_at(a, i);
        for (int64_t k = 0; k < K; k++)
            dst[i * K + k] = q_at(a, off + i * K + k) - zp;
    }
}

/* dst (K x N, i32) = B block minus the per-column zero point. */
static void widen_b(const qtensor *b, int64_t off, int64_t K, int64_t N, int32_t *dst)
{
    for (int64_t k = 0; k < K; k++)
        for (int64_t j = 0; j < N; j++)
            dst[k * N + j] = q_at(b, off + k * N + j) - zp_at(b, j);
}

/* Y (M x N) = A (M x K) @ B (K x N), wrapping modulo 2^32. */
static void igemm(int64_t M, int64_t N, int64_t K, const int32_t *A, const int32_t *B,
                  uint32_t *row, int32_t *Y)
{
    for (int64_t i = 0; i < M; i++) {
        memset(row, 0, (size_t)N * sizeof *row);
        for (int64_t k = 0; k < K; k++) {
            uint32_t a = (uint32_t)A[i * K + k];
            const int32_t *bk = B + k * N;
            for (int64_t j = 0; j < N; j++)
                row[j] += a * (uint32_t)bk[j];
        }
        for (int64_t j = 0; j < N; j++)
            Y[i * N + j] = (int32_t)row[j];
    }
}

/* Requantizes one batch's accumulators acc (M x N) into Y. */
static void requantize(const krt_qmatmul_desc *d, const qtensor *a, const qtensor *b,
                       const qtensor *y, const int32_t *acc, void *Y)
{
    int64_t M = d->mm.M, N = d->mm.N;
    int32_t lo = d->y_dtype == KRT_U8 ? 0 : -128, hi = d->y_dtype == KRT_U8 ? 255 : 127;
    for (int64_t t = 0; t < M * N; t++) {
        int64_t i = t / N, j = t % N;
        float mult = scale_at(a, i) * scale_at(b, j) / scale_at(y, i);
        int32_t q = krt_quant_round((float)acc[t] * mult, zp_at(y, i), lo, hi);
        if (d->y_dtype == KRT_U8)
            ((uint8_t *)Y)[t] = (uint8_t)q;
        else
            ((int8_t *)Y)[t] = (int8_t)q;
    }
}

static int64_t qmatmul_units(const void *desc)
{
    int64_t n = batch_count(&((const krt_qmatmul_desc *)desc)->mm);
    return n > 0 ? n : 1;
}

static size_t qmatmul_scratch(const void *desc)
{
    const krt_matmul_desc *d = &((const krt_qmatmul_desc *)desc)->mm;
    return (size_t)(d->M * d->K + d->K * d->N + d->N + d->M * d->N) * sizeof(int32_t) + 4 * 64;
}

/* The operands {A, a_scale, a_zp, B, b_scale, b_zp, y_scale, y_zp}. */
static void qoperands(const krt_qmatmul_desc *d, void *const *ops, qtensor q[3])
{
    q[0] = (qtensor){d->mm.dtype, ops[0], ops[2], d->n_a_zp, ops[1], d->n_a_scale};
    q[1] = (qtensor){d->b_dtype, ops[3], ops[5], d->n_b_zp, ops[4], d->n_b_scale};
    q[2] = (qtensor){d->y_dtype, NULL, ops[7], d->n_y_zp, ops[6], d->n_y_scale};
}

static krt_status qmatmul_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                              krt_error *err)
{
    const krt_qmatmul_desc *d = desc;
    bool requant = d->y_dtype != KRT_I32;
    int64_t M = d->mm.M, N = d->mm.N, K = d->mm.K, last_b = -1;
    qtensor q[3];
    (void)err;
    if (!q_ok(d->mm.dtype) || !q_ok(d->b_dtype) || (requant && !q_ok(d->y_dtype)))
        return KRT_EDTYPE;
    qoperands(d, ops, q);
    int32_t *wa = align64(scratch), *wb = align64(wa + M * K), *acc = align64(wb + K * N);
    uint32_t *row = align64(acc + M * N);
    size_t ys = requant ? 1 : 4;
    for (int64_t n = r.begin; n < r.end && n < batch_count(&d->mm); n++) {
        int64_t ao, bo;
        char *Y = (char *)ops[8] + (size_t)(n * M * N) * ys;
        batch_offsets(&d->mm, n, &ao, &bo);
        widen_a(&q[0], ao, M, K, wa);
        if (bo != last_b)
            widen_b(&q[1], bo, K, N, wb);
        last_b = bo;
        igemm(M, N, K, wa, wb, row, requant ? acc : (int32_t *)(void *)Y);
        if (requant)
            requantize(d, &q[0], &q[1], &q[2], acc, Y);
    }
    return KRT_OK;
}

const krt_kernel_info krt_kernel_qmatmul = {
    "qmatmul", qmatmul_run, qmatmul_scratch, qmatmul_units, sizeof(krt_qmatmul_desc),
};
