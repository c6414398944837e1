/* krt_token.c — token merging (ToMe) and token pruning (EViT) kernels
 * (runtime/krt_token.h). Line for line the semantics of reduce_ref.py's
 * merge() and prune() (samples/fmnist-vit), which TOKEN-REDUCTION.md
 * defines; the comments name the reference's steps.
 *
 * Discrete choices follow PyTorch exactly: argmax takes the first maximal
 * index, the descending sorts are stable (ties to the lower position),
 * and NaN counts as larger than every number in both (as torch.argmax and
 * torch.sort do), so a NaN metric or score picks the same tokens as the
 * reference. Arithmetic is f32 in a fixed order, per image: a unit is one
 * batch element, so any thread split gives the same bytes.
 *
 * Merge: the metric is k averaged over heads (summed in head order, then
 * divided by H) and divided by its L2 norm, with no epsilon (a zero key
 * row gives NaN, as in the reference). The scores metric_A · metric_Bᵀ
 * are computed four A rows at a time against metric_B stored transposed
 * and padded to a whole number of vectors, in a register tile of 4 rows x
 * 2 vectors of B tokens; each score is summed over head_dim in order, as
 * a plain loop would. Only each row's argmax and maximum are kept, so
 * scratch is O(N·head_dim), not O(N²).
 */
#include "runtime/krt_kernel.h"
#include "runtime/krt_linalg.h"
#include "runtime/krt_vec.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* No a*b+c contraction into FMAs: GCC does not contract in ISO C mode, and
 * clang (the LLVM backend's bitcode) must not either, so every backend
 * computes the same bytes and the same discrete choices. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif


/* The elementwise loops (head sums, the divisions, the weighted sums) are
 * worth vectorising and GCC's -O2 cost model leaves loops of unknown trip
 * count scalar; vectorising them changes no result (no reduction is
 * reordered: GCC never reorders a float reduction without -ffast-math).
 * The LLVM backend vectorises at its own O3. */
#if defined(__GNUC__) && !defined(__clang__)
#define VEC_FN __attribute__((optimize("tree-vectorize", "vect-cost-model=dynamic")))
#else
#define VEC_FN
#endif

/* ALIGN: floats per 64 bytes, scratch regions start aligned. B tokens are
 * padded to a multiple of PAD, the widest VF of any build: the scratch size
 * must not depend on the vector width, since kiln plans scratch with its
 * own build of the kernel and the LLVM backend runs one built for the CPU. */
enum { ALIGN = 16, PAD = 16, MR = 4 /* A rows of a score tile (score_rows unrolls 4) */ };

static int64_t round_up(int64_t n, int64_t m)
{
    return (n + m - 1) / m * m;
}

static float *aligned_scratch(void *scratch)
{
    return (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
}

/* a before b in a descending order: larger, NaN above every number. */
static bool greater(float a, float b)
{
    return (isnan(a) && !isnan(b)) || a > b;
}

/* idx[0..n) = 0..n-1 stably sorted by key descending (torch.sort(descending=True,
 * stable=True)); bottom-up merge sort through tmp[n]. */
static void sort_desc_stable(const float *key, int32_t *idx, int32_t *tmp, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        idx[i] = (int32_t)i;
    int32_t *src = idx, *dst = tmp;
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int64_t a = lo, b = mid, o = lo;
            while (a < mid && b < hi)
                dst[o++] = greater(key[src[b]], key[src[a]]) ? src[b++] : src[a++];
            while (a < mid)
                dst[o++] = src[a++];
            while (b < hi)
                dst[o++] = src[b++];
        }
        int32_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != idx)
        memcpy(idx, src, (size_t)n * sizeof *idx);
}

/* ---- kiln.TokenMerge ----------------------------------------------------------------- */

/* Scratch of one unit, in floats from an aligned base (each region aligned). */
typedef struct merge_layout {
    int64_t na, nb, nbp;               /* |A| = ceil(N/2), |B| = floor(N/2), |B| padded to PAD */
    int64_t ma, mbt, row, best, den;   /* float regions */
    int64_t dst, order, tmp, merged;   /* int32 regions (4 bytes, same as a float) */
    int64_t total;
} merge_layout;

static merge_layout merge_layout_of(const krt_token_merge_desc *d)
{
    merge_layout s;
    int64_t hd = d->head_dim, at = 0;
    s.na = (d->tokens + 1) / 2;
    s.nb = d->tokens / 2;
    s.nbp = round_up(s.nb > 0 ? s.nb : 1, PAD);
#define REGION(field, n) (s.field = at, at = round_up(at + (n), ALIGN))
    REGION(ma, round_up(s.na, MR) * hd); /* rows past |A| are zero */
    REGION(mbt, hd * s.nbp);
    REGION(row, MR * s.nbp > hd ? MR * s.nbp : hd); /* MR score rows, or a metric row */
    REGION(best, s.na);
    REGION(den, s.nb);
    REGION(dst, s.na);
    REGION(order, s.na);
    REGION(tmp, s.na);
    REGION(merged, s.na);
#undef REGION
    s.total = at;
    return s;
}

static size_t token_merge_scratch(const void *desc)
{
    return (size_t)merge_layout_of(desc).total * sizeof(float) + 64;
}

static int64_t token_merge_units(const void *desc)
{
    return ((const krt_token_merge_desc *)desc)->batch;
}

/* metric = mean over heads of k's row (b, ·, n), divided by its L2 norm. */
VEC_FN static void metric_row(const krt_token_merge_desc *d, const float *k, int64_t b, int64_t n,
                       float *restrict m)
{
    int64_t hd = d->head_dim;
    for (int64_t e = 0; e < hd; e++)
        m[e] = 0.0f;
    for (int64_t h = 0; h < d->heads; h++) {
        const float *row = k + d->k_layout[0] + b * d->k_layout[1] + h * d->k_layout[2] +
                           n * d->k_layout[3];
        for (int64_t e = 0; e < hd; e++)
            m[e] += row[e];
    }
    float hf = (float)d->heads, ss = 0.0f;
    for (int64_t e = 0; e < hd; e++) {
        m[e] /= hf;
        ss += m[e] * m[e];
    }
    float norm = sqrtf(ss);
    for (int64_t e = 0; e < hd; e++)
        m[e] /= norm;
}

/* rows[t][0..nbp) = metric_A[i0 + t] · metric_Bᵀ for t < MR (pad columns
 * are 0; A is padded with zero rows to a multiple of MR). A register tile
 * of MR rows × 2 vectors accumulates over head_dim in order e = 0, 1, ...,
 * so each score is the same sum as a plain loop would give. */
static void score_rows(const float *restrict a, const float *restrict mbt, int64_t hd, int64_t nbp,
                       float *restrict rows)
{
#ifdef KRT_HAVE_VEC
    const vf *bv = (const vf *)mbt;
    int64_t nv = nbp / VF, jv = 0;
    const float *a0 = a, *a1 = a + hd, *a2 = a + 2 * hd, *a3 = a + 3 * hd; /* MR = 4 */
    for (; jv + 1 < nv; jv += 2) {
        /* eight named accumulators: compilers keep them in registers */
        vf c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0}, c30 = {0}, c31 = {0};
        for (int64_t e = 0; e < hd; e++) {
            vf b0 = bv[e * nv + jv], b1 = bv[e * nv + jv + 1];
            vf x0 = (vf){0} + a0[e], x1 = (vf){0} + a1[e], x2 = (vf){0} + a2[e], x3 = (vf){0} + a3[e];
            c00 += x0 * b0, c01 += x0 * b1;
            c10 += x1 * b0, c11 += x1 * b1;
            c20 += x2 * b0, c21 += x2 * b1;
            c30 += x3 * b0, c31 += x3 * b1;
        }
        vf *r0 = (vf *)rows + jv, *r1 = (vf *)(rows + nbp) + jv, *r2 = (vf *)(rows + 2 * nbp) + jv,
           *r3 = (vf *)(rows + 3 * nbp) + jv;
        r0[0] = c00, r0[1] = c01, r1[0] = c10, r1[1] = c11;
        r2[0] = c20, r2[1] = c21, r3[0] = c30, r3[1] = c31;
    }
    for (; jv < nv; jv++) {
        vf acc[MR];
        for (int t = 0; t < MR; t++)
            acc[t] = (vf){0};
        for (int64_t e = 0; e < hd; e++)
            for (int t = 0; t < MR; t++)
                acc[t] += ((vf){0} + a[t * hd + e]) * bv[e * nv + jv];
        for (int t = 0; t < MR; t++)
            ((vf *)(rows + t * nbp))[jv] = acc[t];
    }
#else
    for (int t = 0; t < MR; t++)
        for (int64_t j = 0; j < nbp; j++) {
            float acc = 0.0f;
            for (int64_t e = 0; e < hd; e++)
                acc += a[t * hd + e] * mbt[e * nbp + j];
            rows[t * nbp + j] = acc;
        }
#endif
}

/* The first index of the maximum of v[0..n), n >= 1, NaN above every
 * number (torch.argmax): a NaN check (vectorised), then the maximum over
 * four independent chains (no NaN: the order does not matter), then the
 * first index holding it. */
VEC_FN static int64_t row_argmax(const float *v, int64_t n)
{
    int nan = 0;
    for (int64_t j = 0; j < n; j++)
        nan |= v[j] != v[j];
    if (nan) {
        int64_t j = 0;
        while (v[j] == v[j])
            j++;
        return j;
    }
    float m0 = v[0], m1 = v[0], m2 = v[0], m3 = v[0];
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) {
        m0 = v[j] > m0 ? v[j] : m0;
        m1 = v[j + 1] > m1 ? v[j + 1] : m1;
        m2 = v[j + 2] > m2 ? v[j + 2] : m2;
        m3 = v[j + 3] > m3 ? v[j + 3] : m3;
    }
    for (; j < n; j++)
        m0 = v[j] > m0 ? v[j] : m0;
    m0 = m1 > m0 ? m1 : m0;
    m0 = m2 > m0 ? m2 : m0;
    m0 = m3 > m0 ? m3 : m0;
    j = 0;
    while (!(v[j] == m0))
        j++;
    return j;
}

VEC_FN static void merge_unit(const krt_token_merge_desc *d, void *const *ops, float *sc,
                       const merge_layout *s, int64_t b)
{
    const float *x = (const float *)ops[0] + b * d->tokens * d->dim;
    const float *k = ops[1];
    const float *size = ops[2] ? (const float *)ops[2] + b * d->tokens : NULL;
    int64_t n_out = d->tokens - d->r, D = d->dim, hd = d->head_dim;
    float *y = (float *)ops[3] + b * n_out * D;
    float *size_out = ops[4] ? (float *)ops[4] + b * n_out : NULL;
    int64_t na = s->na, nb = s->nb, nbp = s->nbp, r = d->r;
    float *ma = sc + s->ma, *mbt = sc + s->mbt, *row = sc + s->row, *best = sc + s->best,
          *den = sc + s->den;
    int32_t *dst = (int32_t *)(sc + s->dst), *order = (int32_t *)(sc + s->order),
            *tmp = (int32_t *)(sc + s->tmp), *merged = (int32_t *)(sc + s->merged);
#define SIZE(n) (size ? size[n] : 1.0f)

    if (nb == 0) { /* one token: nothing to match (reduce_ref: return x, size) */
        memcpy(y, x, (size_t)(d->tokens * D) * sizeof *y);
        for (int64_t n = 0; size_out && n < d->tokens; n++)
            size_out[n] = SIZE(n);
        return;
    }
    /* metric, split: A = positions 0, 2, 4...; B = 1, 3, 5... stored transposed */
    for (int64_t i = 0; i < na; i++)
        metric_row(d, k, b, 2 * i, ma + i * hd);
    memset(ma + na * hd, 0, (size_t)((round_up(na, MR) - na) * hd) * sizeof *ma);
    memset(mbt, 0, (size_t)(hd * nbp) * sizeof *mbt);
    for (int64_t j = 0; j < nb; j++) {
        metric_row(d, k, b, 2 * j + 1, row); /* row as a temporary */
        for (int64_t e = 0; e < hd; e++)
            mbt[e * nbp + j] = row[e];
    }
    /* dst = scores.argmax(-1) (first index wins), best = the maximum; the
     * class token's row is -inf: argmax 0, best -inf */
    for (int64_t i0 = 0; i0 < na; i0 += MR) {
        score_rows(ma + i0 * hd, mbt, hd, nbp, row);
        for (int64_t t = 0; t < MR && i0 + t < na; t++) {
            const float *sr = row + t * nbp;
            int64_t arg = row_argmax(sr, nb);
            dst[i0 + t] = (int32_t)arg;
            best[i0 + t] = sr[arg];
        }
    }
    dst[0] = 0;
    best[0] = -INFINITY;
    /* A ordered by best descending, ties to the lower position; the first r merge */
    sort_desc_stable(best, order, tmp, na);
    for (int64_t i = 0; i < na; i++)
        merged[i] = 0;
    for (int64_t t = 0; t < r; t++)
        merged[order[t]] = 1;
    /* B tokens: (s_j x_j + Σ s_i x_i) / (s_j + Σ s_i), sources added in merge order */
    float *yb = y + (na - r) * D;
    for (int64_t j = 0; j < nb; j++) {
        float sj = SIZE(2 * j + 1);
        const float *xj = x + (2 * j + 1) * D;
        for (int64_t e = 0; e < D; e++)
            yb[j * D + e] = xj[e] * sj;
        den[j] = sj;
    }
    for (int64_t t = 0; t < r; t++) {
        int64_t i = order[t], j = dst[i];
        float si = SIZE(2 * i);
        const float *xi = x + 2 * i * D;
        for (int64_t e = 0; e < D; e++)
            yb[j * D + e] += xi[e] * si;
        den[j] += si;
    }
    for (int64_t j = 0; j < nb; j++)
        for (int64_t e = 0; e < D; e++)
            yb[j * D + e] /= den[j];
    /* output: the unmerged A tokens in position order (class first), then B */
    int64_t o = 0;
    for (int64_t i = 0; i < na; i++) {
        if (merged[i])
            continue;
        memcpy(y + o * D, x + 2 * i * D, (size_t)D * sizeof *y);
        if (size_out)
            size_out[o] = SIZE(2 * i);
        o++;
    }
    for (int64_t j = 0; size_out && j < nb; j++)
        size_out[na - r + j] = den[j];
#undef SIZE
}

static krt_status token_merge_run(const void *desc, void *const *ops, void *scratch, krt_span range,
                                  krt_error *err)
{
    const krt_token_merge_desc *d = desc;
    static const char *const names[4] = {"x", "k", "sizes", "y"};
    for (int i = 0; i < 4; i++)
        if (i != 2 && !ops[i]) {
            err->operand = i;
            err->what = names[i];
            return KRT_EVALUE;
        }
    merge_layout s = merge_layout_of(d);
    float *sc = aligned_scratch(scratch);
    for (int64_t b = range.begin; b < range.end; b++)
        merge_unit(d, ops, sc, &s, b);
    return KRT_OK;
}

const krt_kernel_info krt_kernel_token_merge = {
    "token_merge", token_merge_run, token_merge_scratch, token_merge_units,
    sizeof(krt_token_merge_desc),
};

/* ---- kiln.TokenPrune ----------------------------------------------------------------- */

static size_t token_prune_scratch(const void *desc)
{
    const krt_token_prune_desc *d = desc;
    int64_t n = d->tokens - 1 > 0 ? d->tokens - 1 : 1;
    /* scores (floats), order and tmp (int32) */
    return (size_t)(3 * round_up(n, ALIGN)) * sizeof(float) + 64;
}

static int64_t token_prune_units(const void *desc)
{
    return ((const krt_token_prune_desc *)desc)->batch;
}

VEC_FN static void prune_unit(const krt_token_prune_desc *d, void *const *ops, float *sc, int64_t b)
{
    int64_t N = d->tokens, n = N - 1, D = d->dim, k = d->keep;
    bool fused = d->fuse && k < n;
    int64_t n_out = 1 + k + (fused ? 1 : 0);
    const float *x = (const float *)ops[0] + b * N * D;
    const float *p = (const float *)ops[1] + b * d->heads * d->q_tokens * N;
    const float *size = ops[2] ? (const float *)ops[2] + b * N : NULL;
    float *y = (float *)ops[3] + b * n_out * D;
    float *size_out = ops[4] ? (float *)ops[4] + b * n_out : NULL;
    int64_t stride = round_up(n > 0 ? n : 1, ALIGN);
    float *s = sc;
    int32_t *order = (int32_t *)(sc + stride), *tmp = (int32_t *)(sc + 2 * stride);

    /* s_j = mean over heads of p[b, h, 0, j], j = 1..N-1 (summed in head order) */
    for (int64_t j = 0; j < n; j++)
        s[j] = 0.0f;
    for (int64_t h = 0; h < d->heads; h++) {
        const float *row0 = p + h * d->q_tokens * N + 1;
        for (int64_t j = 0; j < n; j++)
            s[j] += row0[j];
    }
    float hf = (float)d->heads;
    for (int64_t j = 0; j < n; j++)
        s[j] /= hf;
    /* stable descending sort: TopK(largest=1, sorted=1); the first k are kept */
    sort_desc_stable(s, order, tmp, n);
    memcpy(y, x, (size_t)D * sizeof *y);
    if (size_out)
        size_out[0] = size ? size[0] : 1.0f;
    for (int64_t t = 0; t < k; t++) {
        int64_t j = order[t] + 1;
        memcpy(y + (1 + t) * D, x + j * D, (size_t)D * sizeof *y);
        if (size_out)
            size_out[1 + t] = size ? size[j] : 1.0f;
    }
    if (!fused)
        return;
    /* the fused token: Σ w_j x_j over the dropped, w_j = s_j / Σ dropped s_j
     * (dropped in sorted order, as the reference gathers them) */
    float total = 0.0f, stotal = 0.0f;
    for (int64_t t = k; t < n; t++)
        total += s[order[t]];
    float *f = y + (1 + k) * D;
    for (int64_t e = 0; e < D; e++)
        f[e] = 0.0f;
    for (int64_t t = k; t < n; t++) {
        int64_t j = order[t] + 1;
        float w = s[order[t]] / total;
        for (int64_t e = 0; e < D; e++)
            f[e] += w * x[j * D + e];
        stotal += size ? size[j] : 1.0f;
    }
    if (size_out) /* CHOICE (reduce_ref.py): the sum of the dropped sizes */
        size_out[1 + k] = stotal;
}

static krt_status token_prune_run(const void *desc, void *const *ops, void *scratch, krt_span range,
                                  krt_error *err)
{
    const krt_token_prune_desc *d = desc;
    static const char *const names[4] = {"x", "p", "sizes", "y"};
    for (int i = 0; i < 4; i++)
        if (i != 2 && !ops[i]) {
            err->operand = i;
            err->what = names[i];
            return KRT_EVALUE;
        }
    float *sc = aligned_scratch(scratch);
    for (int64_t b = range.begin; b < range.end; b++)
        prune_unit(d, ops, sc, b);
    return KRT_OK;
}

const krt_kernel_info krt_kernel_token_prune = {
    "token_prune", token_prune_run, token_prune_scratch, token_prune_units,
    sizeof(krt_token_prune_desc),
};
