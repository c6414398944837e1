/* krt_reduce_softmax.c — Softmax, LogSoftmax, Hardmax along one axis, and
 * the two losses built on them (NegativeLogLikelihoodLoss,
 * SoftmaxCrossEntropyLoss).
 *
 * Softmax subtracts the max before exp (numerically stable). The last axis
 * (inner == 1) is the hot case for attention: each row is read with
 * contiguous loops (max; exp and sum, stashing exp in y; scale). A strided
 * axis processes CHUNK columns together so reads stay contiguous. y may
 * alias x: every pass reads an element before writing the same element.
 *
 * For f16/bf16 the exp is stashed in y in the storage type before scaling,
 * which adds one rounding (at most 1 ulp of the 16-bit type).
 */
#define KRT_REDUCE_SOURCE
#include "runtime/krt_reduce.h"

#include <math.h>

enum { CHUNK = 64 };

/* X(sfx, ENUM, storage T, compute A, LD, ST, exp, log) */
#define FLOAT_TYPES(X)                                                                             \
    X(f32, F32, float, float, KRT_LD_CAST, KRT_ST_CAST, expf, logf)                                \
    X(f64, F64, double, double, KRT_LD_CAST, KRT_ST_CAST, exp, log)                                \
    X(f16, F16, uint16_t, float, KRT_LD_F16, KRT_ST_F16, expf, logf)                               \
    X(bf16, BF16, uint16_t, float, KRT_LD_BF16, KRT_ST_BF16, expf, logf)

/* One contiguous row of n elements. */
#define DEFINE_ROW(sfx, E, T, A, LD, ST, EXP, LOG)                                                 \
    static void row_##sfx(krt_softmax_kind kind, int64_t n, const T *x, T *y)                      \
    {                                                                                              \
        A m = LD(A, x[0]), s = 0;                                                                  \
        int64_t arg = 0;                                                                           \
        for (int64_t k = 1; k < n; k++)                                                            \
            if (LD(A, x[k]) > m) {                                                                 \
                m = LD(A, x[k]);                                                                   \
                arg = k;                                                                           \
            }                                                                                      \
        if (kind == KRT_HARDMAX) {                                                                 \
            for (int64_t k = 0; k < n; k++)                                                        \
                y[k] = ST(T, (A)(k == arg));                                                       \
            return;                                                                                \
        }                                                                                          \
        if (kind == KRT_SOFTMAX) {                                                                 \
            for (int64_t k = 0; k < n; k++) {                                                      \
                A e = EXP(LD(A, x[k]) - m);                                                        \
                y[k] = ST(T, e);                                                                   \
                s += e;                                                                            \
            }                                                                                      \
            s = 1 / s;                                                                             \
            for (int64_t k = 0; k < n; k++)                                                        \
                y[k] = ST(T, LD(A, y[k]) * s);                                                     \
            return;                                                                                \
        }                                                                                          \
        for (int64_t k = 0; k < n; k++)                                                            \
            s += EXP(LD(A, x[k]) - m);                                                             \
        s = m + LOG(s);                                                                            \
        for (int64_t k = 0; k < n; k++)                                                            \
            y[k] = ST(T, LD(A, x[k]) - s);                                                         \
    }

/* w <= CHUNK columns of a strided axis: element k of column j is x[k*inner + j]. */
#define DEFINE_COLS(sfx, E, T, A, LD, ST, EXP, LOG)                                                \
    static void cols_##sfx(krt_softmax_kind kind, int64_t n, int64_t inner, int64_t w, const T *x, \
                           T *y)                                                                   \
    {                                                                                              \
        A m[CHUNK], s[CHUNK] = {0};                                                                \
        int64_t arg[CHUNK] = {0};                                                                  \
        for (int64_t j = 0; j < w; j++)                                                            \
            m[j] = LD(A, x[j]);                                                                    \
        for (int64_t k = 1; k < n; k++)                                                            \
            for (int64_t j = 0; j < w; j++)                                                        \
                if (LD(A, x[k * inner + j]) > m[j]) {                                              \
                    m[j] = LD(A, x[k * inner + j]);                                                \
                    arg[j] = k;                                                                    \
                }                                                                                  \
        for (int64_t k = 0; k < n; k++)                                                            \
            for (int64_t j = 0; j < w; j++) {                                                      \
                int64_t i = k * inner + j;                                                         \
                A e = kind == KRT_HARDMAX ? (A)(k == arg[j]) : EXP(LD(A, x[i]) - m[j]);            \
                if (kind != KRT_LOGSOFTMAX)                                                        \
                    y[i] = ST(T, e);                                                               \
                s[j] += e;                                                                         \
            }                                                                                      \
        if (kind == KRT_HARDMAX)                                                                   \
            return;                                                                                \
        for (int64_t j = 0; j < w; j++)                                                            \
            s[j] = kind == KRT_SOFTMAX ? 1 / s[j] : m[j] + LOG(s[j]);                              \
        for (int64_t k = 0; k < n; k++)                                                            \
            for (int64_t j = 0; j < w; j++) {                                                      \
                int64_t i = k * inner + j;                                                         \
                y[i] =                                                                             \
                    kind == KRT_SOFTMAX ? ST(T, LD(A, y[i]) * s[j]) : ST(T, LD(A, x[i]) - s[j]);   \
            }                                                                                      \
    }

#define DEFINE_SOFTMAX(sfx, E, T, A, LD, ST, EXP, LOG)                                             \
    DEFINE_ROW(sfx, E, T, A, LD, ST, EXP, LOG)                                                     \
    DEFINE_COLS(sfx, E, T, A, LD, ST, EXP, LOG)                                                    \
    static void softmax_##sfx(krt_softmax_kind kind, int64_t outer, int64_t n, int64_t inner,      \
                              const void *xv, void *yv)                                            \
    {                                                                                              \
        const T *x = xv;                                                                           \
        T *y = yv;                                                                                 \
        for (int64_t o = 0; o < outer; o++, x += n * inner, y += n * inner) {                      \
            if (inner == 1) {                                                                      \
                row_##sfx(kind, n, x, y);                                                          \
                continue;                                                                          \
            }                                                                                      \
            for (int64_t c0 = 0; c0 < inner; c0 += CHUNK)                                          \
                cols_##sfx(kind, n, inner, inner - c0 < CHUNK ? inner - c0 : CHUNK, x + c0,        \
                           y + c0);                                                                \
        }                                                                                          \
    }

FLOAT_TYPES(DEFINE_SOFTMAX)

typedef void (*softmax_fn)(krt_softmax_kind kind, int64_t outer, int64_t n, int64_t inner,
                           const void *x, void *y);
#define SOFTMAX_ENTRY(sfx, E, ...) [KRT_##E] = softmax_##sfx,
static const softmax_fn softmax_fns[KRT_DTYPE_COUNT] = {FLOAT_TYPES(SOFTMAX_ENTRY)};

krt_status krt_softmax(krt_softmax_kind kind, krt_dtype dt, int64_t outer, int64_t n, int64_t inner,
                       const void *x, void *y)
{
    if ((unsigned)dt >= KRT_DTYPE_COUNT || !softmax_fns[dt] ||
        (unsigned)kind >= KRT_SOFTMAX_KIND_COUNT)
        return KRT_EDTYPE;
    if (n > 0)
        softmax_fns[dt](kind, outer, n, inner, x, y);
    return KRT_OK;
}

/* ---- losses ----------------------------------------------------------------
 * Not hot (one gather per sample), so elements go through the generic
 * double loaders; sums are kept in double. */

static bool loss_dtypes_ok(const krt_loss_desc *d)
{
    bool fl = d->dt == KRT_F32 || d->dt == KRT_F64 || d->dt == KRT_F16 || d->dt == KRT_BF16;
    return fl && (d->target_dt == KRT_I32 || d->target_dt == KRT_I64) &&
           (unsigned)d->reduction < KRT_LOSS_REDUCTION_COUNT;
}

krt_status krt_nll_loss(const krt_loss_desc *d, const void *input, const void *target,
                        const void *weight, void *loss, int64_t *bad)
{
    double sum = 0, wsum = 0;
    if (!loss_dtypes_ok(d))
        return KRT_EDTYPE;
    for (int64_t i = 0; i < d->n * d->inner; i++) {
        int64_t t = krt_load_i64(d->target_dt, target, i), b = i / d->inner;
        double l = 0, w = 0;
        if (!d->has_ignore || t != d->ignore_index) {
            if (t < 0 || t >= d->c) {
                *bad = t;
                return KRT_EINDEX;
            }
            w = weight ? krt_load_f64(d->dt, weight, t) : 1;
            l = -krt_load_f64(d->dt, input, (b * d->c + t) * d->inner + i % d->inner) * w;
        }
        if (d->reduction == KRT_LOSS_NONE)
            krt_store_f64(d->dt, loss, i, l);
        sum += l;
        wsum += w;
    }
    if (d->reduction != KRT_LOSS_NONE)
        krt_store_f64(d->dt, loss, 0, d->reduction == KRT_LOSS_SUM ? sum : sum / wsum);
    return KRT_OK;
}

krt_status krt_softmax_cross_entropy(const krt_loss_desc *d, const void *scores, const void *target,
                                     const void *weight, void *loss, void *log_prob, int64_t *bad)
{
    if (!loss_dtypes_ok(d))
        return KRT_EDTYPE;
    krt_status st = krt_softmax(KRT_LOGSOFTMAX, d->dt, d->n, d->c, d->inner, scores, log_prob);
    return st ? st : krt_nll_loss(d, log_prob, target, weight, loss, bad);
}
