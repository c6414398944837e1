/* krt_attention.c — kernel `attention`: kiln.Attention, scaled dot-product
 * attention over strided Q, K, V rows (docs/attention.md; the descriptor
 * and operand order are in krt_linalg.h).
 *
 * Three ways through a call, chosen by the descriptor:
 *
 *   streaming     (no P output, no re-attention, no p_in): a unit is one
 *                 (batch, head, query tile) triple. Keys are taken in
 *                 blocks of KB; for each block the keys are packed
 *                 transposed (Kt, D x KB) and every micro-block of MB
 *                 query rows computes its MB x KB scores as a register
 *                 tile (MB rows x two vectors of keys, the query element
 *                 broadcast, D steps), then an online softmax: the
 *                 running max m and sum l of each row, the accumulator
 *                 rescaled by exp(m_old - m_new), and the block's
 *                 exp(score - m) times V added by a second register tile
 *                 (MB rows x two vectors of D, the probability
 *                 broadcast, KB steps). Y = acc / l at the end. Nothing
 *                 of size Nq x Nk exists.
 *   materialized  (P requested, or re-attention, without p_in): the same
 *                 score tiles fill whole probability rows (in P's output
 *                 rows, or in scratch for re-attention), each row then goes
 *                 through the unfused Softmax's steps (max; exp and sum;
 *                 times 1/sum), and the P x V tile gives Y.
 *   p_in          the probabilities are given; only the P x V tile runs.
 *
 * Re-attention needs every head's probabilities for a query row, so its
 * unit is a (batch, query tile of QR rows) pair: the tile's H x QR x Nk
 * probabilities are computed (or read from p_in), mixed head by head into
 * one QR x Nk buffer per output head g (sum over h in order, then
 * mix_scale[g] * . + mix_shift[g]), and multiplied by V's head g.
 *
 * Summation orders depend only on the descriptor: the dot products run
 * over D in order, a row's softmax over its key blocks in order, P x V over
 * keys in order. A unit owns its rows of Y and P, so any split of the
 * units over threads gives bit-identical results. Tiles are cut evenly:
 * a tile has ceil(Nq / ceil(Nq / QT)) rows (197 queries: 4 tiles of 50).
 *
 * Masked keys (a causal mask) are skipped a whole key block at a time
 * when every query of the tile masks them; that is exact (their
 * probability is 0) unless V holds an inf or NaN there, which the
 * unfused MatMul would propagate as 0 * inf.
 *
 * The vector code is in krt_attention_body.h, compiled per vector width
 * (GCC/Clang vector extensions: 4, 8 or 16 floats) and picked at run time
 * on x86-64 ("the vector code, per width" below); other compilers get the
 * same blocking in scalar code.
 */
#include "runtime/krt_linalg.h"
#include "runtime/krt_vec.h"

#include <math.h>
#include <string.h>

/* ---- blocking ------------------------------------------------------------------ */


enum {
    MB = 4,          /* query rows of a register tile */
    KB = 64,         /* keys of a block: a multiple of 2 * VF for every VF */
    QT = 64,         /* most query rows of a streaming / materialized unit */
    QR = 16,         /* most query rows of a re-attention unit (H x QR x Nk floats of scratch) */
    ALIGN = 16,      /* floats per 64 bytes: scratch regions start aligned */
};

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* Query tiles of at most `most` rows, cut evenly. */
static int64_t tile_count(int64_t n, int64_t most) { return ceil_div(n, most); }
static int64_t tile_rows(int64_t n, int64_t most) { return ceil_div(n, tile_count(n, most)); }

static const float *row_of(const float *base, const int64_t *layout, int64_t b, int64_t h, int64_t n)
{
    return base + layout[0] + b * layout[1] + h * layout[2] + n * layout[3];
}

static float *y_row(float *y, const krt_attention_desc *d, int64_t b, int64_t h, int64_t n)
{
    return y + b * d->y_layout[0] + h * d->y_layout[1] + n * d->y_layout[2];
}

/* Row (b, h, n) of a dense [B, H, Nq, Nk] tensor (p_in, P). */
static int64_t prob_row(const krt_attention_desc *d, int64_t b, int64_t h, int64_t n)
{
    return ((b * d->heads + h) * d->q_tokens + n) * d->kv_tokens;
}

/* ---- scratch ----------------------------------------------------------------------- */

typedef struct scratch_layout {
    int64_t kt, s, m, l, acc, junk, pall, pmix, total;  /* float offsets; total floats */
} scratch_layout;

static bool streams(const krt_attention_desc *d)
{
    return !d->p_out && !d->reattention && !d->p_in;
}

static scratch_layout layout_of(const krt_attention_desc *d)
{
    int64_t D = round_up(d->head_dim, ALIGN), at = 0;
    scratch_layout s;
    s.kt = at, at += d->p_in ? 0 : d->head_dim * KB;
    at = round_up(at, ALIGN);
    s.s = at, at += MB * KB;
    s.m = at, at += round_up(QT, ALIGN);
    s.l = at, at += round_up(QT, ALIGN);
    s.acc = at, at += streams(d) ? QT * D : 0;
    s.junk = at, at += D;
    s.pall = at, at += d->reattention && !d->p_in ? round_up(d->heads * QR * d->kv_tokens, ALIGN) : 0;
    s.pmix = at, at += d->reattention && !d->p_out ? round_up(QR * d->kv_tokens, ALIGN) : 0;
    s.total = at;
    return s;
}

static size_t attention_scratch(const void *desc)
{
    return (size_t)layout_of(desc).total * sizeof(float) + 64;
}

static int64_t attention_units(const void *desc)
{
    const krt_attention_desc *d = desc;
    if (d->reattention)
        return d->batch * tile_count(d->q_tokens, QR);
    return d->batch * d->heads * tile_count(d->q_tokens, QT);
}

/* ---- the vector code, per width ------------------------------------------------------
 *
 * krt_attention_body.h is compiled once at the compile target's width (VF,
 * krt_vec.h) and, on x86-64 with GCC/Clang, also for AVX-512 (16 floats)
 * and AVX2 (8) with target attributes, where the target lacks them; the
 * widest this CPU runs is picked at run time (cpuid), as the GEMM picks its
 * micro-kernel. So `kiln run`, built for baseline x86-64, runs attention at
 * the host's width, and a C backend build for a target with AVX-512 has
 * only its own instance. The instances are the same source at other widths
 * (lane sums of exp and max in other groupings): results agree within f32
 * rounding, and the AVX-512 instance is bit-identical to a build whose
 * target has AVX-512 (same code, same -ffp-contract). */
#if defined(KRT_HAVE_VEC) && defined(__x86_64__) && !defined(KRT_ATTENTION_NO_DISPATCH) && \
    !defined(KRT_GEMM_NO_DISPATCH)   /* the LLVM backend's bitcode: its CPU is known */
#if !defined(__AVX512F__)
#define ATT_VF 16
#define ATT_FN(f) att16_##f
#define ATT_TARGET __attribute__((target("avx512f,avx512vl,avx512dq,fma")))
#include "runtime/krt_attention_body.h"
#define HAVE_ATT16 1
static int att_has_avx512(void)
{
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq");
}
#endif
#if !defined(__AVX2__)
#define ATT_VF 8
#define ATT_FN(f) att8_##f
#define ATT_TARGET __attribute__((target("avx2,fma")))
#include "runtime/krt_attention_body.h"
#define HAVE_ATT8 1
static int att_has_avx2(void)
{
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif
#endif
enum { NATIVE_VF = VF };          /* the compile target's (krt_vec.h) */
#define ATT_VF NATIVE_VF
#define ATT_FN(f) attn_##f
#define ATT_TARGET
#include "runtime/krt_attention_body.h"

static int att_native(void) { return 1; }

typedef void (*units_fn)(const krt_attention_desc *d, void *const *ops, float *sc,
                         const scratch_layout *sl, int64_t begin, int64_t end);

/* The instances this build has and this CPU runs, widest first. */
static const struct {
    int width;
    units_fn fn;
    int (*supported)(void);
} widths[] = {
#ifdef HAVE_ATT16
    {16, att16_run_units, att_has_avx512},
#endif
#ifdef HAVE_ATT8
    {8, att8_run_units, att_has_avx2},
#endif
    {VF, attn_run_units, att_native},
};
enum { N_WIDTHS = sizeof widths / sizeof widths[0] };

static int forced_width;          /* krt_attention_use_width; 0: the widest */

static units_fn pick_units(void)
{
    for (int i = 0; i < N_WIDTHS; i++)
        if ((forced_width == 0 || widths[i].width == forced_width) && widths[i].supported())
            return widths[i].fn;
    return attn_run_units;
}

int krt_attention_width(void)
{
    for (int i = 0; i < N_WIDTHS; i++)
        if ((forced_width == 0 || widths[i].width == forced_width) && widths[i].supported())
            return widths[i].width;
    return VF;
}

bool krt_attention_use_width(int width)
{
    forced_width = 0;
    for (int i = 0; i < N_WIDTHS; i++)
        if (width == widths[i].width && widths[i].supported()) {
            forced_width = width;
            return true;
        }
    return width == 0;
}

static krt_status attention_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                                krt_error *err)
{
    const krt_attention_desc *d = desc;
    static const char *const names[10] = {"Q", "K", "V", "bias", "p_in", "mix", "mix_scale",
                                          "mix_shift", "Y", "P"};
    bool need[10] = {!d->p_in, !d->p_in, true, d->bias_batches > 0, d->p_in, d->reattention,
                     d->reattention, d->reattention, true, d->p_out};
    for (int i = 0; i < 10; i++)
        if (need[i] && !ops[i]) {
            err->operand = i;
            err->what = names[i];
            return KRT_EVALUE;
        }
    scratch_layout sl = layout_of(d);
    float *sc = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    void *const use[10] = {ops[0], ops[1], ops[2], d->bias_batches > 0 ? ops[3] : NULL, ops[4],
                           ops[5], ops[6], ops[7], ops[8], d->p_out ? ops[9] : NULL};
    pick_units()(d, use, sc, &sl, r.begin, r.end);
    return KRT_OK;
}

const krt_kernel_info krt_kernel_attention = {
    "attention", attention_run, attention_scratch, attention_units, sizeof(krt_attention_desc),
};
