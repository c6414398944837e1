/* krt_reduce_softmax.c — kernel `softmax` (Softmax, LogSoftmax, Hardmax
 * along one axis) and kernel `loss` (NegativeLogLikelihoodLoss,
 * SoftmaxCrossEntropyLoss, built on it).
 *
 * Softmax subtracts the max before exp (numerically stable). The last axis
 * (inner == 1) is the hot case for attention: each row is read with
 * contiguous loops (max; exp and sum, stashing exp in y; scale). A strided
 * axis processes CHUNK columns together so reads stay contiguous. y may
 * alias x: every pass reads an element before writing the same element.
 *
 * The f32 rows take their exp from the vector math (krt_vmath_f32, within
 * 1 ulp), a whole row at a time, then sum in order.
 * For f16/bf16 the exp is stashed in y in the storage type before scaling,
 * which adds one rounding (at most 1 ulp of the 16-bit type).
 */
#define KRT_REDUCE_SOURCE
#include "runtime/krt_elementwise.h"   /* krt_vmath_f32: the f32 rows' exp */
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
        if (kind == KRT_SOFTMAX && KRT_##E == KRT_F32) {                                               \
            float *yf = (float *)(void *)y;                                                        \
            for (int64_t k = 0; k < n; k++)                                                        \
                yf[k] = (float)LD(A, x[k]) - (float)m;                                             \
            krt_vmath_f32(KRT_VM_EXP, yf, yf, n);                                                  \
            for (int64_t k = 0; k < n; k++)                                                        \
                s += yf[k];                                                                        \
        } else if (kind == KRT_SOFTMAX) {                                                          \
            for (int64_t k = 0; k < n; k++) {                                                      \
                A e = EXP(LD(A, x[k]) - m);                                                        \
                y[k] = ST(T, e);                                                                   \
                s += e;                                                                            \
            }                                                                                      \
        }                                                                                          \
        if (kind == KRT_SOFTMAX) {                                                                 \
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

static softmax_fn softmax_lookup(krt_softmax_kind kind, krt_dtype dt)
{
    if ((unsigned)dt >= KRT_DTYPE_COUNT || (unsigned)kind >= KRT_SOFTMAX_KIND_COUNT)
        return NULL;
    return softmax_fns[dt];
}

static int64_t softmax_units(const void *desc)
{
    const krt_softmax_desc *d = desc;
    return krt_row_units(d->outer, d->n * d->inner);
}

static krt_status softmax_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                              krt_error *err)
{
    const krt_softmax_desc *d = desc;
    softmax_fn fn = softmax_lookup(d->kind, d->dt);
    int64_t first, end;
    if (!fn)
        return KRT_EDTYPE;
    krt_unit_rows(r, d->outer, d->n * d->inner, &first, &end);
    if (d->n > 0 && end > first) {
        int64_t off = first * d->n * d->inner * (int64_t)krt_dtype_size(d->dt);
        fn(d->kind, end - first, d->n, d->inner, (const char *)ops[0] + off, (char *)ops[1] + off);
    }
    return KRT_OK;
}

const krt_kernel_info krt_kernel_softmax = {
    "softmax", softmax_run, NULL, softmax_units, sizeof(krt_softmax_desc),
};

/* ---- kernel `loss` -----------------------------------------------------------
 * Not hot (one gather per sample), so elements go through the generic
 * double loaders; sums are kept in double. */

static bool loss_dtypes_ok(const krt_loss_desc *d)
{
    bool fl = d->dt == KRT_F32 || d->dt == KRT_F64 || d->dt == KRT_F16 || d->dt == KRT_BF16;
    return fl && (d->target_dt == KRT_I32 || d->target_dt == KRT_I64) &&
           (unsigned)d->reduction < KRT_LOSS_REDUCTION_COUNT &&
           (unsigned)d->kind < KRT_LOSS_KIND_COUNT;
}

/* A target that is neither ignored nor a class: which, where. */
static krt_status bad_class(const krt_loss_desc *d, int64_t t, int64_t i, krt_error *err)
{
    *err = (krt_error){.operand = 1, .value = t, .lo = 0, .hi = d->c, .pos = i, .what = "class"};
    return KRT_EINDEX;
}

static krt_status nll_loss(const krt_loss_desc *d, const void *input, const void *target,
                           const void *weight, void *loss, krt_error *err)
{
    double sum = 0, wsum = 0;
    for (int64_t i = 0; i < d->n * d->inner; i++) {
        int64_t t = krt_load_i64(d->target_dt, target, i), b = i / d->inner;
        double l = 0, w = 0;
        if (!d->has_ignore || t != d->ignore_index) {
            if (t < 0 || t >= d->c)
                return bad_class(d, t, i, err);
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

static size_t loss_scratch(const void *desc)
{
    const krt_loss_desc *d = desc;
    size_t n = d->kind == KRT_LOSS_SOFTMAX_CE ? (size_t)(d->n * d->c * d->inner) : 0;
    return (n ? n : 1) * krt_dtype_size(d->dt);
}

/* Softmax cross-entropy: LogSoftmax along the classes into log_prob (the
 * output, or scratch), then its NLL. */
static krt_status loss_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                           krt_error *err)
{
    const krt_loss_desc *d = desc;
    if (!loss_dtypes_ok(d))
        return KRT_EDTYPE;
    if (r.end <= r.begin)
        return KRT_OK;
    if (d->kind == KRT_LOSS_NLL)
        return nll_loss(d, ops[0], ops[1], ops[2], ops[3], err);
    void *log_prob = ops[4] ? ops[4] : scratch;
    if (d->c > 0)
        softmax_fns[d->dt](KRT_LOGSOFTMAX, d->n, d->c, d->inner, ops[0], log_prob);
    return nll_loss(d, log_prob, ops[1], ops[2], ops[3], err);
}

const krt_kernel_info krt_kernel_loss = {
    "loss", loss_run, loss_scratch, NULL, sizeof(krt_loss_desc),
};
