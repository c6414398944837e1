/* krt_attention_body.h — the attention kernel's vector code, written once
 * and instantiated by runtime/krt_attention.c for each vector width it
 * dispatches to (the way krt_gemm_ukr.h serves the GEMM). Not a header to
 * include elsewhere.
 *
 * Before including, define:
 *   ATT_VF       the vector width in floats (4, 8 or 16)
 *   ATT_FN(f)    the instance's name for function f (e.g. att16_##f)
 *   ATT_TARGET   the function attributes of the instance (a target
 *                attribute, or nothing for the compile target's own)
 * The instance defines ATT_FN(run_units)(d, ops, sc, sl, begin, end), the
 * units [begin, end) of a call. Everything the file defines is undefined
 * again at its end, VF restored.
 */
#ifndef ATT_FN
#error "define ATT_VF, ATT_FN and ATT_TARGET before including krt_attention_body.h"
#endif

#pragma push_macro("VF")
#undef VF
#define VF ATT_VF
#ifdef KRT_HAVE_VEC
typedef float ATT_FN(vf) __attribute__((vector_size(ATT_VF * 4)));
typedef float ATT_FN(vfu) __attribute__((vector_size(ATT_VF * 4), aligned(4)));
typedef int32_t ATT_FN(vi) __attribute__((vector_size(ATT_VF * 4)));
#endif
#define vf ATT_FN(vf)
#define vfu ATT_FN(vfu)
#define vi ATT_FN(vi)
#define pack_keys ATT_FN(pack_keys)
#define qk_tile ATT_FN(qk_tile)
#define pv_tile ATT_FN(pv_tile)
#define exp_row ATT_FN(exp_row)
#define exp1 ATT_FN(exp1)
#define row_max ATT_FN(row_max)
#define query_rows ATT_FN(query_rows)
#define finish_scores ATT_FN(finish_scores)
#define stream_tile ATT_FN(stream_tile)
#define probabilities ATT_FN(probabilities)
#define times_v ATT_FN(times_v)
#define head_unit ATT_FN(head_unit)
#define mix_unit ATT_FN(mix_unit)

#define run_units ATT_FN(run_units)
/* ---- register tiles ---------------------------------------------------------------- */

/* Kt[k][j] = row j0 + j of K (k < D), for j < kb; columns kb..kbp are 0. */
ATT_TARGET static void pack_keys(const krt_attention_desc *d, const float *K, int64_t b, int64_t h, int64_t j0,
                      int64_t kb, int64_t kbp, float *restrict kt)
{
    int64_t D = d->head_dim;
    for (int64_t j = 0; j < kb; j++) {
        const float *restrict k = row_of(K, d->k_layout, b, h, j0 + j);
        for (int64_t e = 0; e < D; e++)
            kt[e * KB + j] = k[e];
    }
    for (int64_t e = 0; e < D; e++)
        for (int64_t j = kb; j < kbp; j++)
            kt[e * KB + j] = 0;
}

/* s[r][j] = q[r] . Kt[:, j] for r < MB, j < kbp (a multiple of 2 * VF). */
ATT_TARGET static void qk_tile(int64_t D, const float *const q[MB], const float *restrict kt, int64_t kbp,
                    float *restrict s)
{
#ifdef KRT_HAVE_VEC
    const float *restrict q0 = q[0], *restrict q1 = q[1], *restrict q2 = q[2], *restrict q3 = q[3];
    for (int64_t j0 = 0; j0 < kbp; j0 += 2 * VF) {
        vf c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0}, c30 = {0}, c31 = {0};
        const float *k = kt + j0;
        for (int64_t e = 0; e < D; e++, k += KB) {
            vf k0 = *(const vf *)k, k1 = *(const vf *)(k + VF);
            c00 += q0[e] * k0; c01 += q0[e] * k1;
            c10 += q1[e] * k0; c11 += q1[e] * k1;
            c20 += q2[e] * k0; c21 += q2[e] * k1;
            c30 += q3[e] * k0; c31 += q3[e] * k1;
        }
        vf *out = (vf *)(s + j0);
        out[0] = c00, out[1] = c01;
        out[KB / VF] = c10, out[KB / VF + 1] = c11;
        out[2 * KB / VF] = c20, out[2 * KB / VF + 1] = c21;
        out[3 * KB / VF] = c30, out[3 * KB / VF + 1] = c31;
    }
#else
    for (int64_t j0 = 0; j0 < kbp; j0 += 2 * VF) {
        float c[MB][2 * VF] = {{0}};
        for (int64_t e = 0; e < D; e++)
            for (int r = 0; r < MB; r++)
                for (int j = 0; j < 2 * VF; j++)
                    c[r][j] += q[r][e] * kt[e * KB + j0 + j];
        for (int r = 0; r < MB; r++)
            memcpy(s + r * KB + j0, c[r], sizeof c[r]);
    }
#endif
}

/* acc[r][0..D) = acc[r] * corr[r] + sum over j < kb of p[r][j] * V row j,
 * for r < MB (V row j at v + j * vts, D contiguous). */
ATT_TARGET static void pv_tile(int64_t D, int64_t kb, const float *const p[MB], const float *v, int64_t vts,
                    float *const acc[MB], const float corr[MB])
{
    int64_t e0 = 0;
#ifdef KRT_HAVE_VEC
    const float *restrict p0 = p[0], *restrict p1 = p[1], *restrict p2 = p[2], *restrict p3 = p[3];
    for (; e0 + 2 * VF <= D; e0 += 2 * VF) {
        vf a00 = *(vfu *)(acc[0] + e0) * corr[0], a01 = *(vfu *)(acc[0] + e0 + VF) * corr[0];
        vf a10 = *(vfu *)(acc[1] + e0) * corr[1], a11 = *(vfu *)(acc[1] + e0 + VF) * corr[1];
        vf a20 = *(vfu *)(acc[2] + e0) * corr[2], a21 = *(vfu *)(acc[2] + e0 + VF) * corr[2];
        vf a30 = *(vfu *)(acc[3] + e0) * corr[3], a31 = *(vfu *)(acc[3] + e0 + VF) * corr[3];
        const float *vr = v + e0;
        for (int64_t j = 0; j < kb; j++, vr += vts) {
            vf v0 = *(const vfu *)vr, v1 = *(const vfu *)(vr + VF);
            a00 += p0[j] * v0; a01 += p0[j] * v1;
            a10 += p1[j] * v0; a11 += p1[j] * v1;
            a20 += p2[j] * v0; a21 += p2[j] * v1;
            a30 += p3[j] * v0; a31 += p3[j] * v1;
        }
        *(vfu *)(acc[0] + e0) = a00, *(vfu *)(acc[0] + e0 + VF) = a01;
        *(vfu *)(acc[1] + e0) = a10, *(vfu *)(acc[1] + e0 + VF) = a11;
        *(vfu *)(acc[2] + e0) = a20, *(vfu *)(acc[2] + e0 + VF) = a21;
        *(vfu *)(acc[3] + e0) = a30, *(vfu *)(acc[3] + e0 + VF) = a31;
    }
    for (; e0 + VF <= D; e0 += VF) {
        vf a0 = *(vfu *)(acc[0] + e0) * corr[0], a1 = *(vfu *)(acc[1] + e0) * corr[1];
        vf a2 = *(vfu *)(acc[2] + e0) * corr[2], a3 = *(vfu *)(acc[3] + e0) * corr[3];
        const float *vr = v + e0;
        for (int64_t j = 0; j < kb; j++, vr += vts) {
            vf v0 = *(const vfu *)vr;
            a0 += p0[j] * v0; a1 += p1[j] * v0; a2 += p2[j] * v0; a3 += p3[j] * v0;
        }
        *(vfu *)(acc[0] + e0) = a0, *(vfu *)(acc[1] + e0) = a1;
        *(vfu *)(acc[2] + e0) = a2, *(vfu *)(acc[3] + e0) = a3;
    }
#endif
    for (; e0 < D; e0++)  /* the tail of D (and all of it without vectors) */
        for (int r = 0; r < MB; r++) {
            float a = acc[r][e0] * corr[r];
            for (int64_t j = 0; j < kb; j++)
                a += p[r][j] * v[j * vts + e0];
            acc[r][e0] = a;
        }
}

/* ---- exp -------------------------------------------------------------------------------- */

/* exp(x) VF at a time: the vector math's (runtime/krt_vmath.h, within 1
 * ulp over the whole float range; -inf gives 0, NaN NaN). One call per
 * element of libm's expf would cost as much as the dot products of a
 * 64-wide head. */
#ifdef KRT_HAVE_VEC
#define VM_VEC vf
#define VM_VECI vi
#define VM_NAME(f) ATT_FN(vm_##f)
#define VM_TARGET ATT_TARGET
#include "runtime/krt_vmath.h"
#define vexp ATT_FN(vm_exp)
#endif

/* x[j] = exp(x[j] - m) for j < n; returns their sum (VF lane sums, the
 * lanes in order, then the tail: a fixed order without a chain of
 * dependent adds). Callers pad rows to a multiple of VF with -inf where
 * they can: the tail goes one element at a time. */
ATT_TARGET static float exp_row(float *x, int64_t n, float m)
{
    float sum = 0;
    int64_t j = 0;
#ifdef KRT_HAVE_VEC
    vf acc = {0};
    for (; j + VF <= n; j += VF) {
        vf v;
        memcpy(&v, x + j, sizeof v);
        v = vexp(v - m);
        memcpy(x + j, &v, sizeof v);
        acc += v;
    }
    for (int i = 0; i < VF; i++)
        sum += acc[i];
    for (; j < n; j++) {
        x[j] = vexp((vf){0} + (x[j] - m))[0];
        sum += x[j];
    }
#else
    for (; j < n; j++) {
        x[j] = expf(x[j] - m);
        sum += x[j];
    }
#endif
    return sum;
}

/* exp(x) of one x <= 0 (the online softmax's correction factor). */
ATT_TARGET static float exp1(float x)
{
#ifdef KRT_HAVE_VEC
    return vexp((vf){0} + x)[0];
#else
    return expf(x);
#endif
}

/* The largest of x[0..n) (n >= 1). */
ATT_TARGET static float row_max(const float *x, int64_t n)
{
    float mx = x[0];
    int64_t j = 0;
#ifdef KRT_HAVE_VEC
    if (n >= VF) {
        vf m;
        memcpy(&m, x, sizeof m);
        for (j = VF; j + VF <= n; j += VF) {
            vf v;
            memcpy(&v, x + j, sizeof v);
            vi gt = v > m;
            m = (vf)(((vi)v & gt) | ((vi)m & ~gt));
        }
        mx = m[0];
        for (int i = 1; i < VF; i++)
            mx = m[i] > mx ? m[i] : mx;
    }
#endif
    for (; j < n; j++)
        mx = x[j] > mx ? x[j] : mx;
    return mx;
}

/* ---- scores ------------------------------------------------------------------------- */

/* Row pointers of queries n0 .. n0 + mr of (b, h), padded to MB with the
 * first (their results are dropped). */
ATT_TARGET static void query_rows(const krt_attention_desc *d, const float *Q, int64_t b, int64_t h,
                       int64_t n0, int64_t mr, const float *q[MB])
{
    for (int r = 0; r < MB; r++)
        q[r] = row_of(Q, d->q_layout, b, h, n0 + (r < mr ? r : 0));
}

/* out[j] = scale * s[j] + bias(b, h, n, j0 + j), or -inf where the causal
 * mask hides key j0 + j from query n, for j < kb, and -inf up to kpad
 * (out may be s); returns
 * the largest (a NaN never wins; it reaches the row through exp). Vector
 * stores, so that exp_row's vector loads of out forward from them. */
ATT_TARGET static float finish_scores(const krt_attention_desc *d, const float *bias, int64_t b, int64_t h,
                           int64_t n, int64_t j0, int64_t kb, int64_t kpad, const float *s,
                           float *out)
{
    const float *bp = NULL;
    int64_t bs = 0, lim = kb, j = 0;
    float scale = d->scale, mx = -INFINITY;
    if (bias) {
        bp = bias + (b % d->bias_batches) * d->bias_stride[0] + h * d->bias_stride[1] +
             n * d->bias_stride[2] + j0 * d->bias_stride[3];
        bs = d->bias_stride[3];
    }
    if (d->causal)  /* keys j0 + j <= n are visible */
        lim = n - j0 + 1 < 0 ? 0 : n - j0 + 1 > kb ? kb : n - j0 + 1;
#ifdef KRT_HAVE_VEC
    vf vm = (vf){0} - INFINITY;
    for (; j + VF <= lim; j += VF) {
        vf v, bv;
        memcpy(&v, s + j, sizeof v);
        v *= scale;
        if (bp && bs) {
            memcpy(&bv, bp + j, sizeof bv);
            v += bv;
        } else if (bp) {
            v += bp[0];
        }
        memcpy(out + j, &v, sizeof v);
        vi gt = v > vm;
        vm = (vf)(((vi)v & gt) | ((vi)vm & ~gt));
    }
    for (int i = 0; i < VF; i++)
        mx = vm[i] > mx ? vm[i] : mx;
#endif
    for (; j < lim; j++) {
        float x = bp ? scale * s[j] + bp[j * bs] : scale * s[j];
        out[j] = x;
        mx = x > mx ? x : mx;
    }
    for (; j < kpad; j++)
        out[j] = -INFINITY;
    return mx;
}

/* ---- streaming ------------------------------------------------------------------------ */

/* Queries [n0, n1) of (b, h) with an online softmax over key blocks. */
ATT_TARGET static void stream_tile(const krt_attention_desc *d, void *const *ops, float *sc,
                        const scratch_layout *sl, int64_t b, int64_t h, int64_t n0, int64_t n1)
{
    const float *Q = ops[0], *K = ops[1], *V = ops[2], *bias = ops[3];
    int64_t D = d->head_dim, Dp = round_up(D, ALIGN), Nk = d->kv_tokens;
    float *kt = sc + sl->kt, *s = sc + sl->s, *m = sc + sl->m, *l = sc + sl->l;
    float *acc = sc + sl->acc, *junk = sc + sl->junk;
    for (int64_t i = 0; i < n1 - n0; i++) {
        m[i] = -INFINITY, l[i] = 0;
        memset(acc + i * Dp, 0, (size_t)D * sizeof(float));
    }
    int64_t keys = d->causal ? min64(Nk, n1) : Nk;  /* keys past the tile's last query are masked */
    for (int64_t j0 = 0; j0 < keys; j0 += KB) {
        int64_t kb = min64(KB, keys - j0), kbp = round_up(kb, 2 * VF), kbv = round_up(kb, VF);
        pack_keys(d, K, b, h, j0, kb, kbp, kt);
        const float *vb = row_of(V, d->v_layout, b, h, j0);
        for (int64_t i0 = n0; i0 < n1; i0 += MB) {
            int64_t mr = min64(MB, n1 - i0);
            if (d->causal && j0 > i0 + mr - 1)
                continue;  /* every key of the block is masked for these rows */
            const float *q[MB], *p[MB];
            float *a[MB], corr[MB];
            query_rows(d, Q, b, h, i0, mr, q);
            qk_tile(D, q, kt, kbp, s);
            for (int r = 0; r < MB; r++) {
                float *sr = s + r * KB;
                p[r] = sr, a[r] = junk, corr[r] = 1;
                if (r >= mr)
                    continue;
                int64_t i = i0 - n0 + r;
                float mx = finish_scores(d, bias, b, h, i0 + r, j0, kb, kbv, sr, sr);
                float mnew = mx > m[i] ? mx : m[i];
                a[r] = acc + i * Dp;
                if (mnew == -INFINITY) {  /* every key so far masked: nothing to add */
                    memset(sr, 0, (size_t)kb * sizeof(float));
                    continue;
                }
                float sum = exp_row(sr, kbv, mnew);
                corr[r] = exp1(m[i] - mnew);
                l[i] = l[i] * corr[r] + sum;
                m[i] = mnew;
            }
            pv_tile(D, kb, p, vb, d->v_layout[3], a, corr);
        }
    }
    float *Y = ops[8];
    for (int64_t i = 0; i < n1 - n0; i++) {
        float *y = y_row(Y, d, b, h, n0 + i);
        const float *ai = acc + i * Dp;
        for (int64_t e = 0; e < D; e++)
            y[e] = ai[e] / l[i];  /* 0 / 0 = NaN when every key is masked, as Softmax gives */
    }
}

/* ---- materialized probabilities ------------------------------------------------------ */

/* Softmax of rows [n0, n1) of (b, h) into prob (row stride Nk), in the
 * unfused Softmax's order: max; exp and sum; times 1 / sum. */
ATT_TARGET static void probabilities(const krt_attention_desc *d, void *const *ops, float *sc,
                          const scratch_layout *sl, int64_t b, int64_t h, int64_t n0, int64_t n1,
                          float *prob)
{
    const float *Q = ops[0], *K = ops[1], *bias = ops[3];
    int64_t D = d->head_dim, Nk = d->kv_tokens;
    float *kt = sc + sl->kt, *s = sc + sl->s;
    for (int64_t j0 = 0; j0 < Nk; j0 += KB) {
        int64_t kb = min64(KB, Nk - j0), kbp = round_up(kb, 2 * VF);
        pack_keys(d, K, b, h, j0, kb, kbp, kt);
        for (int64_t i0 = n0; i0 < n1; i0 += MB) {
            int64_t mr = min64(MB, n1 - i0);
            const float *q[MB];
            query_rows(d, Q, b, h, i0, mr, q);
            qk_tile(D, q, kt, kbp, s);
            for (int64_t r = 0; r < mr; r++)
                finish_scores(d, bias, b, h, i0 + r, j0, kb, kb, s + r * KB,
                              prob + (i0 - n0 + r) * Nk + j0);
        }
    }
    for (int64_t i = 0; i < n1 - n0; i++) {
        float *x = prob + i * Nk, sum = 1 / exp_row(x, Nk, row_max(x, Nk));
        for (int64_t j = 0; j < Nk; j++)
            x[j] *= sum;
    }
}

/* Y rows [n0, n1) of (b, h) = prob (row stride Nk) x V. */
ATT_TARGET static void times_v(const krt_attention_desc *d, void *const *ops, float *sc, const scratch_layout *sl,
                    int64_t b, int64_t h, int64_t n0, int64_t n1, const float *prob)
{
    int64_t D = d->head_dim, Nk = d->kv_tokens;
    const float *vb = row_of(ops[2], d->v_layout, b, h, 0);
    static const float ones[MB] = {1, 1, 1, 1};
    for (int64_t i0 = n0; i0 < n1; i0 += MB) {
        int64_t mr = min64(MB, n1 - i0);
        const float *p[MB];
        float *a[MB];
        for (int r = 0; r < MB; r++) {
            p[r] = prob + (r < mr ? i0 - n0 + r : 0) * Nk;
            a[r] = r < mr ? y_row(ops[8], d, b, h, i0 + r) : sc + sl->junk;
            memset(a[r], 0, (size_t)D * sizeof(float));
        }
        pv_tile(D, Nk, p, vb, d->v_layout[3], a, ones);
    }
}

/* ---- units ----------------------------------------------------------------------------- */

/* Unit (b, h, query tile) without re-attention. */
ATT_TARGET static void head_unit(const krt_attention_desc *d, void *const *ops, float *sc,
                      const scratch_layout *sl, int64_t u)
{
    int64_t tiles = tile_count(d->q_tokens, QT), rows = tile_rows(d->q_tokens, QT);
    int64_t t = u % tiles, bh = u / tiles, b = bh / d->heads, h = bh % d->heads;
    int64_t n0 = t * rows, n1 = min64(d->q_tokens, n0 + rows);
    if (streams(d)) {
        stream_tile(d, ops, sc, sl, b, h, n0, n1);
        return;
    }
    float *P = ops[9];
    const float *prob;
    if (d->p_in) {
        prob = (const float *)ops[4] + prob_row(d, b, h, n0);
        if (P)
            memcpy(P + prob_row(d, b, h, n0), prob, (size_t)((n1 - n0) * d->kv_tokens) * sizeof(float));
    } else {
        float *out = P + prob_row(d, b, h, n0);
        probabilities(d, ops, sc, sl, b, h, n0, n1, out);
        prob = out;
    }
    times_v(d, ops, sc, sl, b, h, n0, n1, prob);
}

/* Unit (b, query tile) with re-attention: every head's probabilities for
 * the tile, mixed into each output head g, times V's head g. */
ATT_TARGET static void mix_unit(const krt_attention_desc *d, void *const *ops, float *sc,
                     const scratch_layout *sl, int64_t u)
{
    int64_t tiles = tile_count(d->q_tokens, QR), rows = tile_rows(d->q_tokens, QR);
    int64_t b = u / tiles, n0 = (u % tiles) * rows, n1 = min64(d->q_tokens, n0 + rows);
    int64_t H = d->heads, Nk = d->kv_tokens, len = (n1 - n0) * Nk;
    const float *mix = ops[5], *mscale = ops[6], *mshift = ops[7];
    float *P = ops[9];
    for (int64_t h = 0; h < H && !d->p_in; h++)
        probabilities(d, ops, sc, sl, b, h, n0, n1, sc + sl->pall + h * QR * Nk);
    for (int64_t g = 0; g < H; g++) {
        float *restrict pm = P ? P + prob_row(d, b, g, n0) : sc + sl->pmix;
        for (int64_t h = 0; h < H; h++) {
            const float *restrict ph = d->p_in ? (const float *)ops[4] + prob_row(d, b, h, n0)
                                               : sc + sl->pall + h * QR * Nk;
            float w = mix[h * H + g];
            if (h == 0)
                for (int64_t k = 0; k < len; k++)
                    pm[k] = ph[k] * w;
            else
                for (int64_t k = 0; k < len; k++)
                    pm[k] += ph[k] * w;
        }
        float a = mscale[g], c = mshift[g];
        for (int64_t k = 0; k < len; k++)
            pm[k] = a * pm[k] + c;
        times_v(d, ops, sc, sl, b, g, n0, n1, pm);
    }
}


/* Units [begin, end) of a call. */
ATT_TARGET static void run_units(const krt_attention_desc *d, void *const *ops, float *sc,
                                 const scratch_layout *sl, int64_t begin, int64_t end)
{
    for (int64_t u = begin; u < end; u++)
        (d->reattention ? mix_unit : head_unit)(d, ops, sc, sl, u);
}

#undef pack_keys
#undef qk_tile
#undef pv_tile
#undef exp_row
#undef exp1
#undef row_max
#undef query_rows
#undef finish_scores
#undef stream_tile
#undef probabilities
#undef times_v
#undef head_unit
#undef mix_unit
#undef run_units
#undef vexp
#undef vf
#undef vfu
#undef vi
#pragma pop_macro("VF")
#undef ATT_VF
#undef ATT_FN
#undef ATT_TARGET
