/* krt_linalg_gemm.c — matrix products: the f32 GEMM every other linalg
 * kernel leans on (Conv, ConvTranspose, RNN cells), a generic GEMM for the
 * other dtypes, and the ONNX ops MatMul, Gemm, MatMulInteger, QLinearMatMul.
 *
 * krt_sgemm is the Goto/BLIS arrangement: C is cut into NC-column slices,
 * K into slices of depth kc and M into MC-row blocks; the B slice is
 * packed into contiguous micro-panels (zero-padded to the register tile,
 * so the micro-kernel never branches on edges inside its loop), A is read
 * in place through its strides (only a last panel of fewer than MR rows is
 * packed), and a register-blocked micro-kernel computes an MR x NR tile of
 * C and applies the epilogue (alpha, beta, bias, activation) in registers
 * before its one store.
 *
 * The micro-kernel is written once (runtime/krt_gemm_ukr.h) with GCC/Clang
 * vector extensions and instantiated per instruction set: AVX-512 6x64,
 * AVX2 6x16, NEON 8x12, 4-wide vectors 6x8 elsewhere, scalar 4x4 for other
 * compilers. On x86-64 the AVX-512 and AVX2 instances are compiled with
 * target attributes and chosen by the CPU at run time, so the kiln binary
 * (built for baseline x86-64) and generated C built without -march both
 * run at full width; a build for a target that has them compiles only
 * that one. Blocking and its reasoning: "blocking" below.
 *
 * Results are deterministic for a given kernel: an element's summation
 * order depends only on K (its slices of kc, a function of K alone, and
 * the kernel's k loop), never on which rows or columns a call covers, and
 * edge tiles run through the same kernel as full ones. That is what lets
 * the matmul and gemm kernels split their output rows into work units
 * with bit-identical results for any thread count.
 */
#include "runtime/krt_linalg.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

/* ---- the micro-kernels, one per instruction set --------------------------- */

/* The multiply-adds may fuse into FMAs (ISO C mode turns contraction off
 * by default): twice the throughput where the target has FMA, and still
 * one fixed order of operations per kernel. */
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

#if defined(__GNUC__) || defined(__clang__)
#define KRT_HAVE_VEC 1
#define UKR_UNROLL _Pragma("GCC unroll 16")
#define UKR_PREFETCH(p) __builtin_prefetch((p), 1)
#define B_PREFETCH(p) __builtin_prefetch((p), 0, 2)
#else
#define UKR_UNROLL
#define UKR_PREFETCH(p) ((void)(p))
#define B_PREFETCH(p) ((void)(p))
#endif

/* What the epilogue needs, with bias and residual already offset to the tile. */
typedef struct ukr_epi {
    float alpha, beta, bias_scale, lo, hi;
    krt_gemm_act act;
    const float *bias;
    int64_t bias_rs, bias_cs;
    const float *residual;
    int64_t residual_ld;
} ukr_epi;

typedef void (*ukr_fn)(int64_t kc, const float *a, int64_t a_rs, int64_t a_cs, const float *b,
                       float *c, int64_t ldc, const ukr_epi *e);

/* A kernel and the cache blocking tuned for it (see "blocking" below). */
typedef struct ukr_info {
    const char *name;
    int mr, nr;          /* register tile */
    int kc, mc, nc;      /* largest K slice, rows of an A block, columns of a B slice */
    ukr_fn fn;
} ukr_info;

#ifdef KRT_HAVE_VEC
/* Lane-wise max(x, 0) and clamp through sign masks, keeping NaN. */
#define VEC_RELU(V, VI, x) ((V)((VI)(x) & ~(VI)((x) < (V){0})))
#define VEC_SEL(V, VI, m, p, q) ((V)(((VI)(p) & (m)) | ((VI)(q) & ~(m))))
#define VEC_CLAMP(V, VI, x, lo, hi) \
    VEC_SEL(V, VI, (VI)((x) > (hi)), hi, VEC_SEL(V, VI, (VI)((x) < (lo)), lo, x))
#define VEC_TYPES(n)                                                             \
    typedef float v##n##f __attribute__((vector_size(n * 4)));                   \
    typedef float v##n##fu __attribute__((vector_size(n * 4), aligned(4)));      \
    typedef int32_t v##n##i __attribute__((vector_size(n * 4)));
VEC_TYPES(4)
VEC_TYPES(8)
VEC_TYPES(16)

/* The epilogue's activation of one vector, per kernel instance: NAME with
 * the kernel's target, on that instance's vector math (VM, a prefix of
 * krt_vmath.h functions instantiated with the same target). A switch per
 * vector: the branch is the same for the whole call, so it predicts. */
#define DEF_UKR_ACT(NAME, V, VI, VM, TARGET)                                    \
    TARGET static inline V NAME(V x, krt_gemm_act act, V lo, V hi)             \
    {                                                                         \
        const V zero = {0}, one = zero + 1.0f;                                \
        switch (act) {                                                        \
        case KRT_GEMM_ACT_RELU: return VEC_RELU(V, VI, x);                    \
        case KRT_GEMM_ACT_CLIP: return VEC_CLAMP(V, VI, x, lo, hi);           \
        case KRT_GEMM_ACT_GELU_ERF: return VM##gelu_erf(x);                   \
        case KRT_GEMM_ACT_GELU_TANH: return VM##gelu_tanh(x);                 \
        case KRT_GEMM_ACT_SIGMOID: return VM##sigmoid(x);                     \
        case KRT_GEMM_ACT_SILU: return x * VM##sigmoid(x);                    \
        case KRT_GEMM_ACT_HARDSWISH:                                          \
            return x * VEC_CLAMP(V, VI, x * (1.0f / 6) + 0.5f, zero, one);    \
        default: return x;                                                    \
        }                                                                     \
    }
#endif

/* x86-64 with GCC/Clang: AVX-512 and AVX2 builds of the kernel are always
 * compiled (target attributes) and picked at run time by the CPU's
 * features, so the interpreter built for baseline x86-64 still runs at
 * full width. A build whose target already has them compiles only that. */
#if defined(KRT_HAVE_VEC) && defined(__x86_64__) && !defined(KRT_GEMM_NO_DISPATCH)
#define KRT_GEMM_DISPATCH 1
#if !defined(__AVX512F__)
#define UKR_FN ukr_avx512
#define UKR_VEC v16f
#define UKR_VECU v16fu
#define UKR_VF 16
#define UKR_MR 6
#define UKR_NV 4
#define UKR_TARGET __attribute__((target("avx512f,avx2,fma")))
#define UKR_RELU(x) VEC_RELU(v16f, v16i, x)
#define UKR_CLAMP(x, lo, hi) VEC_CLAMP(v16f, v16i, x, lo, hi)
#define VM_VEC v16f
#define VM_VECI v16i
#define VM_NAME(f) gvm_avx512_##f
#define VM_TARGET __attribute__((target("avx512f,avx2,fma"))) CONTRACT_FN
#include "runtime/krt_vmath.h"
DEF_UKR_ACT(ukr_act_avx512, v16f, v16i, gvm_avx512_,
            __attribute__((target("avx512f,avx2,fma"))) CONTRACT_FN)
#define UKR_ACT ukr_act_avx512
#include "runtime/krt_gemm_ukr.h"
#undef UKR_RELU
#undef UKR_CLAMP
#define HAVE_UKR_AVX512 1
#endif
#if !defined(__AVX2__) || !defined(__FMA__)
#define UKR_FN ukr_avx2
#define UKR_VEC v8f
#define UKR_VECU v8fu
#define UKR_VF 8
#define UKR_MR 6
#define UKR_NV 2
#define UKR_TARGET __attribute__((target("avx2,fma")))
#define UKR_RELU(x) VEC_RELU(v8f, v8i, x)
#define UKR_CLAMP(x, lo, hi) VEC_CLAMP(v8f, v8i, x, lo, hi)
#define VM_VEC v8f
#define VM_VECI v8i
#define VM_NAME(f) gvm_avx2_##f
#define VM_TARGET __attribute__((target("avx2,fma"))) CONTRACT_FN
#include "runtime/krt_vmath.h"
DEF_UKR_ACT(ukr_act_avx2, v8f, v8i, gvm_avx2_, __attribute__((target("avx2,fma"))) CONTRACT_FN)
#define UKR_ACT ukr_act_avx2
#include "runtime/krt_gemm_ukr.h"
#undef UKR_RELU
#undef UKR_CLAMP
#define HAVE_UKR_AVX2 1
#endif
#endif

/* The compile target's own kernel. Register budgets: AVX-512 has 32 zmm
 * (24 accumulators + 4 B + 1 A), AVX2 16 ymm (12 + 2 + 1), NEON 32 q
 * (24 + 3 + A), SSE 16 xmm (12 + 2 + 1). */
#define UKR_FN ukr_native
#define UKR_TARGET
#if defined(KRT_HAVE_VEC) && defined(__AVX512F__)
#define NATIVE_NAME "avx512 6x64"
#define NATIVE_BLOCKING AVX512_BLOCKING
#define UKR_VEC v16f
#define NATIVE_VECI v16i
#define UKR_VECU v16fu
#define UKR_VF 16
#define UKR_MR 6
#define UKR_NV 4
#define UKR_RELU(x) VEC_RELU(v16f, v16i, x)
#define UKR_CLAMP(x, lo, hi) VEC_CLAMP(v16f, v16i, x, lo, hi)
#elif defined(KRT_HAVE_VEC) && defined(__AVX__)
#define NATIVE_NAME "avx 6x16"
#define NATIVE_BLOCKING AVX2_BLOCKING
#define UKR_VEC v8f
#define NATIVE_VECI v8i
#define UKR_VECU v8fu
#define UKR_VF 8
#define UKR_MR 6
#define UKR_NV 2
#define UKR_RELU(x) VEC_RELU(v8f, v8i, x)
#define UKR_CLAMP(x, lo, hi) VEC_CLAMP(v8f, v8i, x, lo, hi)
#elif defined(KRT_HAVE_VEC) && (defined(__aarch64__) || defined(__ARM_NEON))
#define NATIVE_NAME "neon 8x12"
#define NATIVE_BLOCKING NEON_BLOCKING
#define UKR_VEC v4f
#define NATIVE_VECI v4i
#define UKR_VECU v4fu
#define UKR_VF 4
#define UKR_MR 8
#define UKR_NV 3
#define UKR_RELU(x) VEC_RELU(v4f, v4i, x)
#define UKR_CLAMP(x, lo, hi) VEC_CLAMP(v4f, v4i, x, lo, hi)
#elif defined(KRT_HAVE_VEC)
#define NATIVE_NAME "vec4 6x8"
#define NATIVE_BLOCKING SMALL_BLOCKING
#define UKR_VEC v4f
#define NATIVE_VECI v4i
#define UKR_VECU v4fu
#define UKR_VF 4
#define UKR_MR 6
#define UKR_NV 2
#define UKR_RELU(x) VEC_RELU(v4f, v4i, x)
#define UKR_CLAMP(x, lo, hi) VEC_CLAMP(v4f, v4i, x, lo, hi)
#else
#define NATIVE_NAME "scalar 4x4"
#define NATIVE_BLOCKING SMALL_BLOCKING
#define UKR_VEC float
#define UKR_VECU float
#define UKR_VF 1
#define UKR_MR 4
#define UKR_NV 4
#define UKR_RELU(x) ((x) < 0.0f ? 0.0f : (x))
#define UKR_CLAMP(x, lo, hi) ((x) < (lo) ? (lo) : (x) > (hi) ? (hi) : (x))
#endif
enum { NATIVE_MR = UKR_MR, NATIVE_NR = UKR_NV * UKR_VF };
#ifdef KRT_HAVE_VEC
#define VM_VEC UKR_VEC
#define VM_VECI NATIVE_VECI
#define VM_NAME(f) gvm_native_##f
#define VM_TARGET CONTRACT_FN
#include "runtime/krt_vmath.h"
DEF_UKR_ACT(ukr_act_native, UKR_VEC, NATIVE_VECI, gvm_native_, CONTRACT_FN)
#else
/* Other compilers: libm, one element at a time. */
static float ukr_act_native(float x, krt_gemm_act act, float lo, float hi)
{
    float t = x * (1.0f / 6) + 0.5f;
    switch (act) {
    case KRT_GEMM_ACT_RELU: return UKR_RELU(x);
    case KRT_GEMM_ACT_CLIP: return UKR_CLAMP(x, lo, hi);
    case KRT_GEMM_ACT_GELU_ERF: return 0.5f * x * (1 + erff(x * 0.70710678118654752440f));
    case KRT_GEMM_ACT_GELU_TANH:
        return 0.5f * x * (1 + tanhf(0.79788456080286535588f * (x + 0.044715f * x * x * x)));
    case KRT_GEMM_ACT_SIGMOID: return 1 / (1 + expf(-x));
    case KRT_GEMM_ACT_SILU: return x / (1 + expf(-x));
    case KRT_GEMM_ACT_HARDSWISH: return x * (t < 0 ? 0 : t > 1 ? 1 : t);
    default: return x;
    }
}
#endif
#define UKR_ACT ukr_act_native
#include "runtime/krt_gemm_ukr.h"
#undef UKR_RELU
#undef UKR_CLAMP

/* ---- blocking --------------------------------------------------------------
 *
 * Loops, outermost first (Goto/BLIS): jc over nc-column slices of B and C,
 * pc over K slices of depth kc (the B slice is packed: kc x nc), ic over
 * mc-row blocks of A (packed: mc x kc), jr over the nr-column micro-panels
 * of the B slice, ir over the mr-row micro-panels of the A block, then the
 * micro-kernel. The B micro-panel (kc x nr) is reused by every A micro-
 * panel of the block, so it should stay in L1; the A block (read in place,
 * see block_product) is reused by every B micro-panel, so it should stay
 * in L2.
 *
 * AVX-512, tuned on the Zen 5 core this project is measured on (48 KB L1d,
 * 1 MB L2, 32 MB L3 per CCX; two 512-bit FMA pipes with 4-cycle latency,
 * so at least 8 independent accumulators keep them busy):
 *  - tile 6x64: 24 zmm accumulators + 4 for the B row + 1 broadcast of A
 *    (31 of 32 registers). Per k, 4 vector loads and 6 broadcasts feed 24
 *    FMAs (12 cycles at 2 FMAs/cycle), far under the load ports' rate.
 *    NR = 64 divides the ViT widths (192, 576, 768), so those shapes have
 *    no column edge, and MR = 6 wastes 1 row of M = 197. 8x48 measured
 *    about the same, 12x32 and 14x32 a few percent slower (197 = 16*12 + 5
 *    and 14*14 + 1 waste more rows, and 12-14 broadcasts per k).
 *  - kc = 128: the B micro-panel is 128 x 64 floats = 32 KB, two thirds of
 *    L1, leaving room for the A micro-panel (3 KB) and C. kc = 256 (64 KB,
 *    streamed from L2 on every A micro-panel) measured ~10% slower on the
 *    K = 576 / 768 shapes and on 1024^3; on K = 192 the two were within
 *    noise. K is cut into ceil(K / kc) equal slices: a function of K alone,
 *    so the summation order never depends on the row split.
 *  - mc = 198: 33 micro-panels, so a 197-token ViT activation is one A
 *    block (197 x 128 x 4 = 99 KB of A in L2) and each B micro-panel
 *    passes through L1 once per slice; 144 split it into 144 + 53 rows.
 *  - nc = 4096: the packed B slice (kc x nc, 2 MB at most) sits in L2/L3;
 *    the ViT weights (N <= 768) are a single slice, packed once per call.
 * AVX2 6x16 (12 ymm accumulators of 16), kc = 256 (B micro-panel 16 KB),
 * and NEON 8x12 (24 of 32 q registers; micro-panel 12 KB) follow the same
 * rules; they were checked for correctness here (AVX2 natively, NEON
 * under qemu), not tuned on their hardware.
 * Figures: bench/README.md (bench/gemm.c).
 */
#define AVX512_BLOCKING_KC 128
#define AVX512_BLOCKING AVX512_BLOCKING_KC, 198, 4096     /* kc, mc, nc */
#define AVX2_BLOCKING 256, 144, 4096
#define NEON_BLOCKING 256, 128, 4080
#define SMALL_BLOCKING 256, 144, 4096
static const ukr_info ukr_native_info = {
    NATIVE_NAME, NATIVE_MR, NATIVE_NR, NATIVE_BLOCKING, ukr_native,
};
#ifdef HAVE_UKR_AVX512
static const ukr_info ukr_avx512_info = {"avx512 6x64", 6, 64, AVX512_BLOCKING, ukr_avx512};
#endif
#ifdef HAVE_UKR_AVX2
static const ukr_info ukr_avx2_info = {"avx2 6x16", 6, 16, AVX2_BLOCKING, ukr_avx2};
#endif

enum { MR_MAX = 8, NR_MAX = 64 };   /* the largest register tile of any kernel */

/* The kernels this build has that this CPU runs, best first. */
#ifdef HAVE_UKR_AVX512
static int supports_avx512(void) { return __builtin_cpu_supports("avx512f"); }
#endif
#ifdef HAVE_UKR_AVX2
static int supports_avx2(void)
{
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif

static int supports_native(void) { return 1; }

static const struct {
    const ukr_info *info;
    int (*supported)(void);
} kernels[] = {
#ifdef HAVE_UKR_AVX512
    {&ukr_avx512_info, supports_avx512},
#endif
#ifdef HAVE_UKR_AVX2
    {&ukr_avx2_info, supports_avx2},
#endif
    {&ukr_native_info, supports_native},
};
enum { N_KERNELS = sizeof kernels / sizeof kernels[0] };

static const ukr_info *forced;   /* krt_sgemm_use_kernel; NULL: the best one */

static const ukr_info *pick_kernel(void)
{
    if (forced)
        return forced;
    for (int i = 0; i < N_KERNELS; i++)
        if (kernels[i].supported())
            return kernels[i].info;
    return &ukr_native_info;
}

const char *krt_sgemm_kernel_name(void)
{
    return pick_kernel()->name;
}

const char *krt_sgemm_kernel(int i)
{
    for (int k = 0; k < N_KERNELS; k++)
        if (kernels[k].supported() && i-- == 0)
            return kernels[k].info->name;
    return NULL;
}

bool krt_sgemm_use_kernel(const char *name)
{
    forced = NULL;
    for (int k = 0; name && k < N_KERNELS; k++)
        if (kernels[k].supported() && strcmp(kernels[k].info->name, name) == 0)
            forced = kernels[k].info;
    return name == NULL || forced != NULL;
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

/* Scratch handed in is 64-byte aligned by contract; re-align defensively. */
static void *align64(void *p)
{
    uintptr_t u = (uintptr_t)p;
    return (void *)((u + 63) & ~(uintptr_t)63);
}

/* ---- packing ---------------------------------------------------------------- */

/* A block (m x kc) -> micro-panels of mr rows: ap[panel][k][r], zero-padded. */
static void pack_a(int mr, int64_t m, int64_t kc, const float *A, int64_t rs, int64_t cs,
                   float *ap)
{
    for (int64_t i0 = 0; i0 < m; i0 += mr, ap += mr * kc) {
        int64_t rows = min64(mr, m - i0);
        for (int64_t r = 0; r < rows; r++) {
            const float *src = A + (i0 + r) * rs;
            for (int64_t k = 0; k < kc; k++)
                ap[k * mr + r] = src[k * cs];
        }
        for (int64_t r = rows; r < mr; r++)
            for (int64_t k = 0; k < kc; k++)
                ap[k * mr + r] = 0.0f;
    }
}

/* B slice (kc x n) -> micro-panels of nr columns: bp[panel][k][j], zero-padded. */
static void pack_b(int nr, int64_t kc, int64_t n, const float *B, int64_t rs, int64_t cs,
                   float *bp)
{
    for (int64_t j0 = 0; j0 < n; j0 += nr, bp += nr * kc) {
        int64_t cols = min64(nr, n - j0);
        if (cs == 1) {
            for (int64_t k = 0; k < kc; k++) {
                memcpy(bp + k * nr, B + k * rs + j0, (size_t)cols * sizeof(float));
                memset(bp + k * nr + cols, 0, (size_t)(nr - cols) * sizeof(float));
            }
            continue;
        }
        for (int64_t j = 0; j < cols; j++) {     /* transposed B: read along k */
            const float *src = B + (j0 + j) * cs;
            for (int64_t k = 0; k < kc; k++)
                bp[k * nr + j] = src[k * rs];
        }
        for (int64_t k = 0; k < kc; k++)
            for (int64_t j = cols; j < nr; j++)
                bp[k * nr + j] = 0.0f;
    }
}

/* ---- B packed ahead of time (the pack-weights pass) -------------------------
 *
 * A constant B is packed once, at compile time, into exactly the buffers
 * pack_b would build on every call, laid end to end:
 *
 *   for each K slice s (depth d_s: K cut as slice_depth cuts it for kc),
 *     for each micro-panel p of nr columns (N rounded up to nr),
 *       d_s rows of nr floats: B(k, p*nr + j), zero past column N.
 *
 * B(k, n) sits at k0*Np + (n / nr)*nr*d_s + (k - k0)*nr + n % nr, where
 * Np = N rounded up to nr and k0 the first row of k's slice. So the slice
 * starting at row pc is at pc*Np and its panels for columns jc.. at
 * jc*d_s past that: the driver points the micro-kernel into the packed
 * array instead of copying (nc, a multiple of every nr, never splits a
 * panel). The layout is a function of (nr, kc) alone; it is the one the
 * kernel with that register width and K slice reads, and the driver only
 * uses it in place when the kernel it picked at run time has that nr and
 * kc. Otherwise (a binary compiled for AVX-512 running where only AVX2
 * is) it repacks each slice from the packed array into its own layout
 * (krt_sgemm_packed_ex), which gives the very buffer pack_b would have
 * built from B: the same result, bit for bit, as the unpacked call, at
 * the cost of the copy the pass was there to remove. */

/* The (nr, kc) of the kernels, by the name's first word: the ones
 * krt_sgemm_kernel_name reports ("avx512 6x64", "avx 6x16" for the AVX2
 * kernel compiled as the target's own...). */
static const struct {
    const char *name;
    int nr, kc;
} pack_geometries[] = {
    {"avx512", 64, AVX512_BLOCKING_KC}, {"avx2", 16, 256}, {"avx", 16, 256}, {"neon", 12, 256},
    {"vec4", 8, 256}, {"scalar", 4, 256},
};

bool krt_sgemm_pack_geometry(const char *kernel, int *nr, int *kc)
{
    if (!kernel) {
        const ukr_info *u = pick_kernel();
        *nr = u->nr, *kc = u->kc;
        return true;
    }
    size_t len = strcspn(kernel, " ");
    for (size_t i = 0; i < sizeof pack_geometries / sizeof pack_geometries[0]; i++)
        if (strlen(pack_geometries[i].name) == len && strncmp(kernel, pack_geometries[i].name, len) == 0) {
            *nr = pack_geometries[i].nr, *kc = pack_geometries[i].kc;
            return true;
        }
    return false;
}

/* Depth of each K slice for a largest slice kc: K cut into equal slices
 * of at most kc. It depends on K alone, so every split of the rows sums
 * in the same order. */
static int64_t slice_depth_kc(int64_t kc, int64_t K)
{
    int64_t slices = (K + kc - 1) / kc;
    return (K + slices - 1) / slices;
}

int64_t krt_sgemm_packed_numel(int64_t N, int64_t K, int nr)
{
    return nr > 0 && N > 0 && K > 0 ? K * round_up(N, nr) : 0;
}

void krt_sgemm_pack_b(int64_t K, int64_t N, const float *B, int64_t rs_b, int64_t cs_b, int nr,
                      int kc, float *out)
{
    if (krt_sgemm_packed_numel(N, K, nr) == 0 || kc <= 0)
        return;
    int64_t d = slice_depth_kc(kc, K), np = round_up(N, nr);
    for (int64_t pc = 0; pc < K; pc += d)
        pack_b(nr, min64(d, K - pc), N, B + pc * rs_b, rs_b, cs_b, out + pc * np);
}

/* The kc x n block of B at rows pc.., columns jc.. (jc a multiple of the
 * layout's nr is not needed: any block) from a packed B of layout (pnr,
 * pkc), repacked into micro-panels of nr columns as pack_b lays them. */
static void repack_b(int nr, int64_t pc, int64_t kc, int64_t jc, int64_t n, const float *P,
                     int64_t K, int64_t N, int pnr, int pkc, float *bp)
{
    int64_t d = slice_depth_kc(pkc, K), np = round_up(N, pnr);
    for (int64_t k = 0; k < kc; k++) {
        int64_t row = pc + k, k0 = row / d * d, ds = min64(d, K - k0);
        const float *src = P + k0 * np + (row - k0) * pnr;
        for (int64_t j = 0; j < round_up(n, nr); j++) {
            int64_t col = jc + j;
            bp[j / nr * nr * kc + k * nr + j % nr] =
                j < n ? src[col / pnr * pnr * ds + col % pnr] : 0.0f;
        }
    }
}

/* ---- f32 GEMM driver -------------------------------------------------------- */

/* The geometry (mr, nr, kc, nc) of every kernel any build may pick: the
 * compiler sizes scratch with its own build while generated code may run
 * another kernel, so the size is the largest over all of them. */
static const int geometries[][4] = {
    {6, 64, AVX512_BLOCKING_KC, 4096}, {6, 16, 256, 4096}, {8, 12, 256, 4080},
    {6, 8, 256, 4096}, {4, 4, 256, 4096},
};

size_t krt_sgemm_scratch_size(int64_t M, int64_t N, int64_t K)
{
    int64_t most = 0;
    (void)M;                          /* A is read in place, whatever M is */
    for (size_t g = 0; g < sizeof geometries / sizeof geometries[0]; g++) {
        int64_t mr = geometries[g][0], nr = geometries[g][1], kc = min64(K, geometries[g][2]);
        int64_t need = kc * (round_up(min64(N, geometries[g][3]), nr) + mr);
        most = need > most ? need : most;
    }
    return (size_t)most * sizeof(float) + 2 * 64;
}

/* An edge tile (m < mr or n < nr rows / columns valid) goes through the
 * same kernel on a full-size copy of C and of the bias, so its elements
 * see exactly the operations of a full tile. */
static void edge_tile(const ukr_info *u, int64_t kc, const float *a, int64_t a_rs, int64_t a_cs,
                      const float *b, float *c, int64_t ldc, const ukr_epi *e, int64_t m,
                      int64_t n)
{
    float tc[MR_MAX * NR_MAX], tb[MR_MAX * NR_MAX], tr[MR_MAX * NR_MAX];
    int nr = u->nr;
    ukr_epi te = *e;
    memset(tc, 0, sizeof tc);
    if (e->beta != 0.0f)
        for (int64_t r = 0; r < m; r++)
            memcpy(tc + r * nr, c + r * ldc, (size_t)n * sizeof(float));
    if (e->bias) {
        memset(tb, 0, sizeof tb);
        for (int64_t r = 0; r < m; r++)
            for (int64_t j = 0; j < n; j++)
                tb[r * nr + j] = e->bias[r * e->bias_rs + j * e->bias_cs];
        te.bias = tb, te.bias_rs = nr, te.bias_cs = 1;
    }
    if (e->residual) {
        memset(tr, 0, sizeof tr);
        for (int64_t r = 0; r < m; r++)
            memcpy(tr + r * nr, e->residual + r * e->residual_ld, (size_t)n * sizeof(float));
        te.residual = tr, te.residual_ld = nr;
    }
    u->fn(kc, a, a_rs, a_cs, b, tc, nr, &te);
    for (int64_t r = 0; r < m; r++)
        memcpy(c + r * ldc, tc + r * nr, (size_t)n * sizeof(float));
}

/* The rows [i0, i0 + mc) of A (read in place: A(i, k) = A[i*rs_a + k*cs_a],
 * already offset to the slice) against one packed B slice: C's rows i0..,
 * columns j0... Full row tiles read A where it is; a last tile of fewer
 * than mr rows is packed (zero-padded) into ap first, so the kernel never
 * reads past A. Packing every A panel measured far slower on the ViT
 * shapes: with N = 192 each packed panel is used by only 3 B panels, and
 * the strided copy cost more than the kernel's unit-stride or row-stride
 * reads of A from L1/L2. */
/* With `stream` (B read in place from a packed constant, which is in
 * memory or L3 rather than in the cache where pack_b's copy was), each
 * tile also prefetches its share of the next B micro-panel into L2: the
 * packed B is read front to back, so the memory right after this panel
 * is the next panel, or the next slice's first one. Without it the
 * micro-kernel stalls on every new panel's first pass (on DeiT-Tiny the
 * copy's time moved into the kernel, the total unchanged). */
static void block_product(const ukr_info *u, int64_t mc, int64_t nc, int64_t kc,
                          const float *A, int64_t rs_a, int64_t cs_a, float *ap, const float *bp,
                          float *C, int64_t ldc, const ukr_epi *e, int64_t i0, int64_t j0,
                          bool stream)
{
    int64_t full = mc / u->mr * u->mr;
    int64_t lines = u->nr * kc * (int64_t)sizeof(float) / 64, tiles = (mc + u->mr - 1) / u->mr;
    int64_t per_tile = stream ? (lines + tiles - 1) / tiles : 0;
    if (full < mc)
        pack_a(u->mr, mc - full, kc, A + full * rs_a, rs_a, cs_a, ap);
    for (int64_t jr = 0; jr < nc; jr += u->nr) {
        int64_t n = min64(u->nr, nc - jr);
        const char *next = (const char *)(bp + (jr + u->nr) * kc);
        for (int64_t ir = 0, line = 0; ir < mc; ir += u->mr) {
            int64_t m = min64(u->mr, mc - ir);
            for (int64_t l = 0; l < per_tile && line < lines; l++, line++)
                B_PREFETCH(next + line * 64);
            ukr_epi te = *e;
            if (e->bias)
                te.bias = e->bias + (i0 + ir) * e->bias_rs + (j0 + jr) * e->bias_cs;
            if (e->residual)
                te.residual = e->residual + (i0 + ir) * e->residual_ld + j0 + jr;
            const float *a = m == u->mr ? A + ir * rs_a : ap;
            int64_t ars = m == u->mr ? rs_a : 1, acs = m == u->mr ? cs_a : u->mr;
            float *c = C + ir * ldc + jr;
            if (m == u->mr && n == u->nr)
                u->fn(kc, a, ars, acs, bp + jr * kc, c, ldc, &te);
            else
                edge_tile(u, kc, a, ars, acs, bp + jr * kc, c, ldc, &te, m, n);
        }
    }
}

/* Depth of each K slice: K cut into equal slices of at most u->kc. It
 * depends on K alone, so every split of the rows sums in the same order. */
static int64_t slice_depth(const ukr_info *u, int64_t K)
{
    return slice_depth_kc(u->kc, K);
}

/* B as the driver reads it: strided, or packed ahead of time (pnr > 0):
 * then the packed matrix is pn columns wide and the call's columns start
 * at its column pc0 (a multiple of pnr). */
typedef struct b_src {
    const float *B;
    int64_t rs, cs;
    int pnr, pkc;
    int64_t pn, pc0;
} b_src;

static void sgemm_run(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t rs_a,
                      int64_t cs_a, const b_src *b, float beta, float *C, int64_t ldc,
                      const krt_sgemm_epilogue *epi, void *scratch)
{
    if (M <= 0 || N <= 0)
        return;
    const ukr_info *u = pick_kernel();
    /* alpha == 0 or K == 0: A * B contributes nothing (BLAS: A and B are
     * not read); one pass of depth 0 applies beta, bias and activation. */
    int64_t depth = K > 0 && alpha != 0.0f ? K : 0;
    int64_t kc_max = depth > 0 ? slice_depth(u, depth) : 0;
    /* packed for this very kernel: point into B; else pack (or repack) */
    bool in_place = b->pnr == u->nr && b->pkc == u->kc;
    float *bp = align64(scratch);
    float *ap = align64(bp + kc_max * round_up(min64(N, u->nc), u->nr));
    for (int64_t jc = 0; jc < N; jc += u->nc) {
        int64_t nc = min64(u->nc, N - jc);
        for (int64_t pc = 0; pc < depth || (pc == 0 && depth == 0); pc += kc_max) {
            int64_t kc = min64(kc_max, depth - pc);
            bool first = pc == 0, last = pc + kc >= depth;
            ukr_epi e = {alpha, first ? beta : 1.0f, 1.0f, 0.0f, 0.0f, KRT_GEMM_ACT_NONE,
                         NULL, 0, 0, NULL, 0};
            if (epi && first && epi->bias) {
                e.bias = epi->bias, e.bias_rs = epi->bias_rs, e.bias_cs = epi->bias_cs;
                e.bias_scale = epi->bias_scale;
            }
            if (epi && last) {
                e.act = epi->act, e.lo = epi->lo, e.hi = epi->hi;
                e.residual = epi->residual, e.residual_ld = epi->residual_ld;
            }
            const float *slice = bp;
            if (depth > 0 && in_place)
                slice = b->B + pc * round_up(b->pn, u->nr) + (b->pc0 + jc) * kc;
            else if (depth > 0 && b->pnr > 0)
                repack_b(u->nr, pc, kc, b->pc0 + jc, nc, b->B, K, b->pn, b->pnr, b->pkc, bp);
            else
                pack_b(u->nr, kc, nc, b->B + pc * b->rs + jc * b->cs, b->rs, b->cs, bp);
            for (int64_t ic = 0; ic < M; ic += u->mc) {
                int64_t mc = min64(u->mc, M - ic);
                block_product(u, mc, nc, kc, A + ic * rs_a + pc * cs_a, rs_a, cs_a, ap, slice,
                              C + ic * ldc + jc, ldc, &e, ic, jc, depth > 0 && in_place);
            }
            if (depth == 0)
                break;
        }
    }
}

void krt_sgemm_ex(int64_t M, int64_t N, int64_t K, float alpha,
                  const float *A, int64_t rs_a, int64_t cs_a,
                  const float *B, int64_t rs_b, int64_t cs_b,
                  float beta, float *C, int64_t ldc, const krt_sgemm_epilogue *epi,
                  void *scratch)
{
    b_src b = {B, rs_b, cs_b, 0, 0, 0, 0};
    sgemm_run(M, N, K, alpha, A, rs_a, cs_a, &b, beta, C, ldc, epi, scratch);
}

void krt_sgemm_packed_ex(int64_t M, int64_t N, int64_t K, float alpha,
                         const float *A, int64_t rs_a, int64_t cs_a,
                         const float *packed_b, int nr, int kc,
                         float beta, float *C, int64_t ldc, const krt_sgemm_epilogue *epi,
                         void *scratch)
{
    b_src b = {packed_b, 0, 0, nr, kc, N, 0};
    sgemm_run(M, N, K, alpha, A, rs_a, cs_a, &b, beta, C, ldc, epi, scratch);
}

/* krt_sgemm_packed_ex on the columns [c0, c0 + N) of a packed B that is
 * b_n columns wide (c0 a multiple of nr): a column block of the product. */
static void sgemm_packed_cols(int64_t M, int64_t N, int64_t K, const float *A, int64_t rs_a,
                              const float *packed_b, int nr, int kc, int64_t b_n, int64_t c0,
                              float *C, int64_t ldc, const krt_sgemm_epilogue *epi, void *scratch)
{
    b_src b = {packed_b, 0, 0, nr, kc, b_n, c0};
    sgemm_run(M, N, K, 1.0f, A, rs_a, 1, &b, 0.0f, C, ldc, epi, scratch);
}

void krt_sgemm(int64_t M, int64_t N, int64_t K, float alpha,
               const float *A, int64_t rs_a, int64_t cs_a,
               const float *B, int64_t rs_b, int64_t cs_b,
               float beta, float *C, int64_t ldc, void *scratch)
{
    krt_sgemm_ex(M, N, K, alpha, A, rs_a, cs_a, B, rs_b, cs_b, beta, C, ldc, NULL, scratch);
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

/* ---- work units: blocks of output rows, or of rows and columns ---------------
 *
 * A unit computes whole elements of Y (the full K sum), and the GEMM's
 * per-element summation order depends on K alone, never on which rows or
 * columns a call covers (edge tiles run the same kernel), so any split is
 * bit-identical. Units only matter where one thread's range ends and the
 * next one's begins (each thread runs one contiguous range).
 *
 * Rows: UNIT_ROWS rows of Y per unit; 12 is a multiple of the x86 kernels'
 * MR (6), so only NEON (MR 8) may see an extra edge tile there. Used by
 * `gemm` and by a matmul whose batch items each have their own B.
 *
 * A grid (a matmul whose batch folds into M: one B, e.g. every Linear
 * layer): blocks of UNIT_ROWS rows x `width` columns, numbered down each
 * column block (unit u is row block u % RB of column block u / RB), so a
 * thread's range is a run of whole column blocks with at most a part of
 * one at each end. Why not rows alone: with M = 197 (a ViT's tokens) a row
 * split gives each of 2 threads 16-17 of the 33 row tiles, so every B
 * micro-panel (the weights, streamed from memory) serves half as many
 * tiles per thread as it does on one thread, and each thread streams all
 * of B: at 2 threads the GEMMs of DeiT-Small took 27% more CPU time than
 * at 1 (KRT_POOL_PROFILE). Split by columns, each thread reads half of B
 * and keeps the reuse of one thread; A (197 x K) is small and shared. And
 * 33 row tiles do not halve, while the ViT widths (384 ... 1536) are whole
 * numbers of 128 columns. `width` is 64 columns (every x86 kernel's NR
 * divides it), or for a B packed for NR columns the multiple of NR
 * nearest above 64, so a block never cuts a packed panel. */
enum { UNIT_ROWS = 12, UNIT_COLS = 64 };

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

/* Columns of a grid block: UNIT_COLS, rounded up to the packing's nr. */
static int64_t grid_width(int32_t b_nr)
{
    return b_nr > 0 ? round_up(UNIT_COLS, b_nr) : UNIT_COLS;
}

static int64_t grid_units(int64_t rows, int64_t cols, int64_t width)
{
    return row_units(rows) * (cols > 0 ? (cols + width - 1) / width : 1);
}

/* A block of Y: rows [r0, r1), columns [c0, c1). */
typedef struct grid_block {
    int64_t r0, r1, c0, c1;
} grid_block;

/* Cuts units `r` of the grid of a rows x cols Y into at most 3 blocks
 * (a partial column block, a run of whole ones, a partial one); returns
 * how many. */
static int grid_blocks(krt_span r, int64_t rows, int64_t cols, int64_t width, grid_block out[3])
{
    int64_t rb = row_units(rows), b = r.begin, e = r.end;
    int n = 0;
    while (b < e) {
        int64_t cb = b / rb, first = b % rb, c0 = min64(cb * width, cols);
        if (first == 0 && e - b >= rb) {          /* whole column blocks: every row */
            int64_t whole = (e - b) / rb;
            out[n++] = (grid_block){0, rows, c0, min64((cb + whole) * width, cols)};
            b += whole * rb;
        } else {                                  /* rows of column block cb */
            int64_t stop = min64(e, (cb + 1) * rb), r0, r1;
            unit_rows((krt_span){first, stop - cb * rb}, rows, &r0, &r1);
            out[n++] = (grid_block){r0, r1, c0, min64((cb + 1) * width, cols)};
            b = stop;
        }
    }
    return n;
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
    if (folds_into_m(d))
        return grid_units(batch_count(d) * d->M, d->N, grid_width(0));
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
    int64_t rows = batch_count(d) * d->M, N = d->N, K = d->K, r0, r1;
    (void)err;
    if (!gemm_has(d->dtype))
        return KRT_EDTYPE;
    if (!folds_into_m(d)) {
        unit_rows(r, rows, &r0, &r1);
        if (r0 < r1)
            matmul_rows(d, ops[0], ops[1], ops[2], r0, r1, scratch);
        return KRT_OK;
    }
    /* one GEMM of all rows: blocks of rows and columns */
    const char *A = ops[0], *B = ops[1];
    char *C = ops[2];
    int64_t es = (int64_t)krt_dtype_size(d->dtype);
    grid_block g[3];
    for (int i = 0, n = grid_blocks(r, rows, N, grid_width(0), g); i < n; i++)
        if (g[i].r0 < g[i].r1 && g[i].c0 < g[i].c1)
            krt_gemm(d->dtype, g[i].r1 - g[i].r0, g[i].c1 - g[i].c0, K, 1.0,
                     A + g[i].r0 * K * es, K, 1, B + g[i].c0 * es, N, 1, 0.0,
                     C + (g[i].r0 * N + g[i].c0) * es, N, scratch);
    return KRT_OK;
}

const krt_kernel_info krt_kernel_matmul = {
    "matmul", matmul_run, matmul_scratch, matmul_units, sizeof(krt_matmul_desc),
};

/* ---- kernel `matmul_epi`: matmul with a fused epilogue ------------------------ */

static int64_t matmul_epi_units(const void *desc)
{
    const krt_matmul_epi_desc *d = desc;
    if (folds_into_m(&d->mm))
        return grid_units(batch_count(&d->mm) * d->mm.M, d->mm.N, grid_width(d->b_nr));
    return row_units(batch_count(&d->mm) * d->mm.M);
}

static size_t matmul_epi_scratch(const void *desc)
{
    return matmul_scratch(&((const krt_matmul_epi_desc *)desc)->mm);
}

/* Rows [r0, r1) of the batch x M rows of Y = act(A @ B + bias) + residual,
 * one batch item at a time (B unpacked, a matrix per item): the epilogue
 * rides on the GEMM's register tiles (krt_sgemm_ex). */
static void matmul_epi_rows(const krt_matmul_epi_desc *d, const float *A, const float *B,
                            const float *bias, const float *res, float *Y, int64_t r0, int64_t r1,
                            void *scratch)
{
    const krt_matmul_desc *mm = &d->mm;
    int64_t M = mm->M, N = mm->N, K = mm->K;
    krt_sgemm_epilogue epi = {bias, 0, 1, 1.0f, d->act, d->lo, d->hi, NULL, N};
    for (int64_t r = r0, n; r < r1; r += n) {
        int64_t ao, bo, i = r % M;
        n = min64(M - i, r1 - r);
        batch_offsets(mm, r / M, &ao, &bo);
        epi.residual = res ? res + r * N : NULL;
        krt_sgemm_ex(n, N, K, 1.0f, A + ao + i * K, K, 1, B + bo, N, 1, 0.0f, Y + r * N, N, &epi,
                     scratch);
    }
}

/* The block g of Y = act(A @ B + bias) + residual when the batch folds into
 * M (one B, packed or not). */
static void matmul_epi_block(const krt_matmul_epi_desc *d, const float *A, const float *B,
                             const float *bias, const float *res, float *Y, grid_block g,
                             void *scratch)
{
    int64_t N = d->mm.N, K = d->mm.K, m = g.r1 - g.r0, n = g.c1 - g.c0;
    krt_sgemm_epilogue epi = {bias ? bias + g.c0 : NULL, 0, 1, 1.0f, d->act, d->lo, d->hi,
                              res ? res + g.r0 * N + g.c0 : NULL, N};
    float *C = Y + g.r0 * N + g.c0;
    if (d->b_nr > 0)                    /* B packed by pack-weights */
        sgemm_packed_cols(m, n, K, A + g.r0 * K, K, B, d->b_nr, d->b_kc, N, g.c0, C, N, &epi,
                          scratch);
    else
        krt_sgemm_ex(m, n, K, 1.0f, A + g.r0 * K, K, 1, B + g.c0, N, 1, 0.0f, C, N, &epi, scratch);
}

static krt_status matmul_epi_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                                 krt_error *err)
{
    const krt_matmul_epi_desc *d = desc;
    int64_t rows = batch_count(&d->mm) * d->mm.M, r0, r1;
    (void)err;
    if (d->mm.dtype != KRT_F32 || (unsigned)d->act >= KRT_GEMM_ACT_COUNT)
        return KRT_EDTYPE;
    if (d->b_nr < 0 || d->b_nr > NR_MAX || (d->b_nr > 0 && (d->b_kc <= 0 || !folds_into_m(&d->mm))))
        return KRT_EVALUE;
    if (r.end > r.begin && ((d->has_bias && !ops[2]) || (d->has_residual && !ops[3])))
        return KRT_EVALUE;
    const float *bias = d->has_bias ? ops[2] : NULL, *res = d->has_residual ? ops[3] : NULL;
    if (!folds_into_m(&d->mm)) {
        unit_rows(r, rows, &r0, &r1);
        if (r0 < r1)
            matmul_epi_rows(d, ops[0], ops[1], bias, res, ops[4], r0, r1, scratch);
        return KRT_OK;
    }
    grid_block g[3];
    for (int i = 0, n = grid_blocks(r, rows, d->mm.N, grid_width(d->b_nr), g); i < n; i++)
        if (g[i].r0 < g[i].r1 && g[i].c0 < g[i].c1)
            matmul_epi_block(d, ops[0], ops[1], bias, res, ops[4], g[i], scratch);
    return KRT_OK;
}

const krt_kernel_info krt_kernel_matmul_epi = {
    "matmul_epi", matmul_epi_run, matmul_epi_scratch, matmul_epi_units,
    sizeof(krt_matmul_epi_desc),
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
    int64_t rs_a = d->trans_a ? 1 : K, cs_a = d->trans_a ? M : 1;
    int64_t rs_b = d->trans_b ? 1 : N, cs_b = d->trans_b ? K : 1;
    if (d->dtype == KRT_F32) {          /* the bias joins the kernel's epilogue */
        krt_sgemm_epilogue epi = {NULL, 0, 0, (float)d->beta, KRT_GEMM_ACT_NONE, 0, 0, NULL, 0};
        if (bias) {
            epi.bias_rs = d->c_rows > 1 ? d->c_cols : 0;
            epi.bias_cs = d->c_cols > 1 ? 1 : 0;
            epi.bias = (const float *)ops[2] + r0 * epi.bias_rs;
        }
        krt_sgemm_ex(r1 - r0, N, K, (float)d->alpha, (const float *)ops[0] + r0 * rs_a, rs_a,
                     cs_a, ops[1], rs_b, cs_b, 0.0f, (float *)ops[3] + r0 * N, N, &epi, scratch);
        return KRT_OK;
    }
    if (bias)
        fill_bias(d, es, ops[2], ops[3], r0, r1);
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
