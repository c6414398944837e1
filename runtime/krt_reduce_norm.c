/* krt_reduce_norm.c — kernels `batchnorm` (BatchNormalization, inference),
 * `instancenorm`, `layernorm`, `lpnorm` (LpNormalization) and `lrn`.
 *
 * Statistics are computed in two passes (mean, then the centred variance),
 * never as E[x^2] - E[x]^2, which cancels badly. LayerNormalization works
 * on rows of `inner` contiguous elements (the ViT case: one row per token),
 * so its three loops over a row stay in cache and vectorize. Per-channel
 * parameters (BatchNormalization statistics) are few, so they go through
 * the generic double loaders. Units are (n, c) planes or rows of outer,
 * each computed the same whatever the split.
 */
#define KRT_REDUCE_SOURCE
#include "runtime/krt_reduce.h"

#include <math.h>

enum { CHUNK = 64 };

/* X(sfx, ENUM, storage T, compute A, LD, ST, sqrt, pow) */
#define FLOAT_TYPES(X)                                                                             \
    X(f32, F32, float, float, KRT_LD_CAST, KRT_ST_CAST, sqrtf, powf)                               \
    X(f64, F64, double, double, KRT_LD_CAST, KRT_ST_CAST, sqrt, pow)                               \
    X(f16, F16, uint16_t, float, KRT_LD_F16, KRT_ST_F16, sqrtf, powf)                              \
    X(bf16, BF16, uint16_t, float, KRT_LD_BF16, KRT_ST_BF16, sqrtf, powf)

/* ---- BatchNormalization and InstanceNormalization --------------------------
 * Both apply y = (x - mean) * a + b over a plane of `sp` elements. */

#define DEFINE_PLANE(sfx, E, T, A, LD, ST, SQRT, POW)                                              \
    static void plane_##sfx(int64_t sp, const void *xv, double mean, double a, double b, void *yv) \
    {                                                                                              \
        const T *x = xv;                                                                           \
        T *y = yv;                                                                                 \
        A m = (A)mean, s = (A)a, t = (A)b;                                                         \
        for (int64_t j = 0; j < sp; j++)                                                           \
            y[j] = ST(T, (LD(A, x[j]) - m) * s + t);                                               \
    }                                                                                              \
    /* mean and population variance of a plane, in double */                                       \
    static void stats_##sfx(int64_t sp, const void *xv, double *mean, double *var)                 \
    {                                                                                              \
        const T *x = xv;                                                                           \
        double s = 0, v = 0;                                                                       \
        for (int64_t j = 0; j < sp; j++)                                                           \
            s += LD(A, x[j]);                                                                      \
        s /= (double)sp;                                                                           \
        for (int64_t j = 0; j < sp; j++)                                                           \
            v += ((double)LD(A, x[j]) - s) * ((double)LD(A, x[j]) - s);                            \
        *mean = s;                                                                                 \
        *var = v / (double)sp;                                                                     \
    }

FLOAT_TYPES(DEFINE_PLANE)

typedef struct plane_impl {
    void (*plane)(int64_t sp, const void *x, double mean, double a, double b, void *y);
    void (*stats)(int64_t sp, const void *x, double *mean, double *var);
} plane_impl;
#define PLANE_ENTRY(sfx, E, ...) [KRT_##E] = {plane_##sfx, stats_##sfx},
static const plane_impl planes[KRT_DTYPE_COUNT] = {FLOAT_TYPES(PLANE_ENTRY)};

static bool is_float(krt_dtype dt)
{
    return (unsigned)dt < KRT_DTYPE_COUNT && planes[dt].plane;
}

/* ---- kernel `batchnorm` ---------------------------------------------------------- */

static int64_t batchnorm_units(const void *desc)
{
    const krt_batchnorm_desc *d = desc;
    return krt_row_units(d->n * d->c, d->spatial);
}

static krt_status batchnorm_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                                krt_error *err)
{
    const krt_batchnorm_desc *d = desc;
    int64_t first, end, es;
    if (!is_float(d->dt) || !is_float(d->param_dt) || !is_float(d->stat_dt))
        return KRT_EDTYPE;
    krt_unit_rows(r, d->n * d->c, d->spatial, &first, &end);
    es = (int64_t)krt_dtype_size(d->dt);
    for (int64_t i = first; i < end; i++) {
        int64_t ch = i % d->c, off = i * d->spatial * es;
        double a = krt_load_f64(d->param_dt, ops[1], ch) /
                   sqrt(krt_load_f64(d->stat_dt, ops[4], ch) + (double)d->epsilon);
        planes[d->dt].plane(d->spatial, (const char *)ops[0] + off, krt_load_f64(d->stat_dt, ops[3], ch),
                            a, krt_load_f64(d->param_dt, ops[2], ch), (char *)ops[5] + off);
    }
    return KRT_OK;
}

const krt_kernel_info krt_kernel_batchnorm = {
    "batchnorm", batchnorm_run, NULL, batchnorm_units, sizeof(krt_batchnorm_desc),
};

/* ---- kernel `instancenorm` --------------------------------------------------------- */

static int64_t instancenorm_units(const void *desc)
{
    const krt_instancenorm_desc *d = desc;
    return krt_row_units(d->n * d->c, d->spatial);
}

static krt_status instancenorm_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                                   krt_error *err)
{
    const krt_instancenorm_desc *d = desc;
    int64_t first, end, es;
    if (!is_float(d->dt))
        return KRT_EDTYPE;
    krt_unit_rows(r, d->n * d->c, d->spatial, &first, &end);
    es = (int64_t)krt_dtype_size(d->dt);
    for (int64_t i = first; i < end; i++) {
        int64_t ch = i % d->c, off = i * d->spatial * es;
        double mean, var;
        planes[d->dt].stats(d->spatial, (const char *)ops[0] + off, &mean, &var);
        double a = krt_load_f64(d->dt, ops[1], ch) / sqrt(var + (double)d->epsilon);
        planes[d->dt].plane(d->spatial, (const char *)ops[0] + off, mean, a,
                            krt_load_f64(d->dt, ops[2], ch), (char *)ops[3] + off);
    }
    return KRT_OK;
}

const krt_kernel_info krt_kernel_instancenorm = {
    "instancenorm", instancenorm_run, NULL, instancenorm_units, sizeof(krt_instancenorm_desc),
};

/* ---- LayerNormalization -----------------------------------------------------
 * SUM4 sums EXPR (an expression of the index j) over j in [0, n) with four
 * partial sums: independent dependency chains, so a row is not bound by the
 * latency of one add chain (compilers may not reassociate float sums). */

#define SUM4(A, n, j, EXPR, out)                                                                   \
    do {                                                                                           \
        A p0_ = 0, p1_ = 0, p2_ = 0, p3_ = 0;                                                      \
        int64_t j = 0;                                                                             \
        while (j + 4 <= (n)) {                                                                     \
            p0_ += (EXPR), j++;                                                                    \
            p1_ += (EXPR), j++;                                                                    \
            p2_ += (EXPR), j++;                                                                    \
            p3_ += (EXPR), j++;                                                                    \
        }                                                                                          \
        for (; j < (n); j++)                                                                       \
            p0_ += (EXPR);                                                                         \
        (out) = (p0_ + p1_) + (p2_ + p3_);                                                         \
    } while (0)

#define DEFINE_LAYERNORM(sfx, E, T, A, LD, ST, SQRT, POW)                                          \
    static void ln_##sfx(int64_t outer, int64_t n, const void *xv, const void *sv, const void *bv, \
                         float eps, void *yv, krt_dtype sdt, void *mean, void *inv_std)            \
    {                                                                                              \
        const T *x = xv, *scale = sv, *bias = bv;                                                  \
        T *y = yv;                                                                                 \
        for (int64_t r = 0; r < outer; r++, x += n, y += n) {                                      \
            A s, v;                                                                                \
            SUM4(A, n, k, LD(A, x[k]), s);                                                         \
            A mu = s / (A)n;                                                                       \
            SUM4(A, n, k, (LD(A, x[k]) - mu) * (LD(A, x[k]) - mu), v);                             \
            A is = 1 / SQRT(v / (A)n + (A)eps);                                                    \
            if (bias)                                                                              \
                for (int64_t j = 0; j < n; j++)                                                    \
                    y[j] = ST(T, (LD(A, x[j]) - mu) * is * LD(A, scale[j]) + LD(A, bias[j]));      \
            else                                                                                   \
                for (int64_t j = 0; j < n; j++)                                                    \
                    y[j] = ST(T, (LD(A, x[j]) - mu) * is * LD(A, scale[j]));                       \
            if (mean)                                                                              \
                krt_store_f64(sdt, mean, r, (double)mu);                                          \
            if (inv_std)                                                                           \
                krt_store_f64(sdt, inv_std, r, (double)is);                                       \
        }                                                                                          \
    }

FLOAT_TYPES(DEFINE_LAYERNORM)

typedef void (*ln_fn)(int64_t outer, int64_t n, const void *x, const void *scale, const void *bias,
                      float eps, void *y, krt_dtype sdt, void *mean, void *inv_std);
#define LN_ENTRY(sfx, E, ...) [KRT_##E] = ln_##sfx,
static const ln_fn ln_fns[KRT_DTYPE_COUNT] = {FLOAT_TYPES(LN_ENTRY)};

/* Copy p (p_rank dims, each 1 or equal to the matching trailing dim of
 * dims) broadcast to the dense shape dims[0..rank): how LayerNormalization's
 * scale and bias of a smaller shape become [inner] arrays. Any dtype. */
static void broadcast_to(size_t elem_size, int rank, const int64_t *dims, int p_rank,
                         const int64_t *p_dims, const void *p, void *out)
{
    int64_t pst[KRT_MAX_RANK] = {0}, idx[KRT_MAX_RANK] = {0}, s = 1, off = 0;
    int64_t numel = krt_numel(rank, dims);
    for (int i = p_rank - 1; i >= 0; i--) {
        pst[rank - p_rank + i] = p_dims[i] == 1 ? 0 : s;
        s *= p_dims[i];
    }
    for (int64_t k = 0; k < numel; k++) {
        memcpy((char *)out + k * (int64_t)elem_size, (const char *)p + off * (int64_t)elem_size,
               elem_size);
        for (int i = rank - 1; i >= 0; i--) {
            off += pst[i];
            if (++idx[i] < dims[i])
                break;
            off -= pst[i] * dims[i];
            idx[i] = 0;
        }
    }
}

/* ---- kernel `layernorm` --------------------------------------------------------- */

/* Scale or bias needs a broadcast copy: it has fewer elements than a row. */
static bool ln_broadcast(const krt_layernorm_desc *d, int rank, const int64_t *dims)
{
    return krt_numel(rank, dims) != d->inner;
}

static size_t layernorm_scratch(const void *desc)
{
    const krt_layernorm_desc *d = desc;
    int64_t n = (ln_broadcast(d, d->scale_rank, d->scale_dims) ? d->inner : 0) +
                (ln_broadcast(d, d->bias_rank, d->bias_dims) ? d->inner : 0);
    return (size_t)(n ? n : 1) * krt_dtype_size(d->dt);
}

static int64_t layernorm_units(const void *desc)
{
    const krt_layernorm_desc *d = desc;
    return krt_row_units(d->outer, d->inner);
}

/* Scale or bias as an [inner] array: the operand itself, or its broadcast
 * copy in scratch at *at (then *at moves past it). */
static const void *ln_param(const krt_layernorm_desc *d, const void *p, int rank,
                            const int64_t *dims, char **at)
{
    if (!p || !ln_broadcast(d, rank, dims))
        return p;
    char *buf = *at;
    broadcast_to(krt_dtype_size(d->dt), d->norm_rank, d->norm_dims, rank, dims, p, buf);
    *at += d->inner * (int64_t)krt_dtype_size(d->dt);
    return buf;
}

static krt_status layernorm_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                                krt_error *err)
{
    const krt_layernorm_desc *d = desc;
    int64_t first, end;
    char *at = scratch;
    if (!is_float(d->dt) || (d->stash_dt != KRT_F32 && d->stash_dt != KRT_BF16))
        return KRT_EDTYPE;
    krt_unit_rows(r, d->outer, d->inner, &first, &end);
    if (end <= first)
        return KRT_OK;
    const void *scale = ln_param(d, ops[1], d->scale_rank, d->scale_dims, &at);
    const void *bias = ln_param(d, ops[2], d->bias_rank, d->bias_dims, &at);
    int64_t off = first * d->inner * (int64_t)krt_dtype_size(d->dt);
    int64_t soff = first * (int64_t)krt_dtype_size(d->stash_dt);
    ln_fns[d->dt](end - first, d->inner, (const char *)ops[0] + off, scale, bias, d->epsilon,
                  (char *)ops[3] + off, d->stash_dt, ops[4] ? (char *)ops[4] + soff : NULL,
                  ops[5] ? (char *)ops[5] + soff : NULL);
    return KRT_OK;
}

const krt_kernel_info krt_kernel_layernorm = {
    "layernorm", layernorm_run, layernorm_scratch, layernorm_units, sizeof(krt_layernorm_desc),
};

/* ---- LpNormalization ------------------------------------------------------------
 * Column chunks along a strided axis, as in the softmax kernels. */

#define DEFINE_LPNORM(sfx, E, T, A, LD, ST, SQRT, POW)                                             \
    static void lp_##sfx(int p, int64_t n, int64_t inner, int64_t w, const T *x, T *y)             \
    {                                                                                              \
        A norm[CHUNK] = {0};                                                                       \
        for (int64_t k = 0; k < n; k++)                                                            \
            for (int64_t j = 0; j < w; j++) {                                                      \
                A v = LD(A, x[k * inner + j]);                                                     \
                norm[j] += p == 1 ? (v < 0 ? -v : v) : v * v;                                      \
            }                                                                                      \
        for (int64_t j = 0; j < w; j++)                                                            \
            norm[j] = p == 1 ? norm[j] : SQRT(norm[j]);                                            \
        for (int64_t k = 0; k < n; k++)                                                            \
            for (int64_t j = 0; j < w; j++) {                                                      \
                int64_t i = k * inner + j;                                                         \
                y[i] = ST(T, norm[j] == 0 ? 0 : LD(A, x[i]) / norm[j]);                            \
            }                                                                                      \
    }                                                                                              \
    static void lpnorm_##sfx(int p, int64_t outer, int64_t n, int64_t inner, const void *xv,       \
                             void *yv)                                                             \
    {                                                                                              \
        const T *x = xv;                                                                           \
        T *y = yv;                                                                                 \
        for (int64_t o = 0; o < outer; o++, x += n * inner, y += n * inner)                        \
            for (int64_t c0 = 0; c0 < inner; c0 += CHUNK)                                          \
                lp_##sfx(p, n, inner, inner - c0 < CHUNK ? inner - c0 : CHUNK, x + c0, y + c0);    \
    }

FLOAT_TYPES(DEFINE_LPNORM)

typedef void (*lpnorm_fn)(int p, int64_t outer, int64_t n, int64_t inner, const void *x, void *y);
#define LPNORM_ENTRY(sfx, E, ...) [KRT_##E] = lpnorm_##sfx,
static const lpnorm_fn lpnorm_fns[KRT_DTYPE_COUNT] = {FLOAT_TYPES(LPNORM_ENTRY)};

static int64_t lpnorm_units(const void *desc)
{
    const krt_lpnorm_desc *d = desc;
    return krt_row_units(d->outer, d->n * d->inner);
}

static krt_status lpnorm_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                             krt_error *err)
{
    const krt_lpnorm_desc *d = desc;
    int64_t first, end;
    if (!is_float(d->dt))
        return KRT_EDTYPE;
    if (d->p != 1 && d->p != 2) {
        err->what = "an LpNormalization with p other than 1 or 2";
        return KRT_EVALUE;
    }
    krt_unit_rows(r, d->outer, d->n * d->inner, &first, &end);
    int64_t off = first * d->n * d->inner * (int64_t)krt_dtype_size(d->dt);
    if (end > first)
        lpnorm_fns[d->dt](d->p, end - first, d->n, d->inner, (const char *)ops[0] + off,
                          (char *)ops[1] + off);
    return KRT_OK;
}

const krt_kernel_info krt_kernel_lpnorm = {
    "lpnorm", lpnorm_run, NULL, lpnorm_units, sizeof(krt_lpnorm_desc),
};

/* ---- LRN ---------------------------------------------------------------------------
 * Channel ch sums the squares of channels [ch - (size-1)/2, ch + size/2]
 * (floor and ceil of (size-1)/2), clipped to [0, c). */

#define DEFINE_LRN(sfx, E, T, A, LD, ST, SQRT, POW)                                                \
    static void lrn_##sfx(int64_t c, int64_t sp, int64_t size, const float *abb, const void *xv,   \
                          void *yv)                                                                \
    {                                                                                              \
        const T *x = xv;                                                                           \
        T *y = yv;                                                                                 \
        A k = (A)abb[2], a = (A)abb[0] / (A)size, beta = (A)abb[1];                                \
        for (int64_t ch = 0; ch < c; ch++)                                                         \
            for (int64_t j0 = 0; j0 < sp; j0 += CHUNK) {                                           \
                int64_t w = sp - j0 < CHUNK ? sp - j0 : CHUNK;                                     \
                int64_t lo = ch - (size - 1) / 2, hi = ch + size / 2;                              \
                A sq[CHUNK] = {0};                                                                 \
                for (int64_t i = lo < 0 ? 0 : lo; i <= hi && i < c; i++)                           \
                    for (int64_t j = 0; j < w; j++) {                                              \
                        A v = LD(A, x[i * sp + j0 + j]);                                           \
                        sq[j] += v * v;                                                            \
                    }                                                                              \
                for (int64_t j = 0; j < w; j++) {                                                  \
                    int64_t at = ch * sp + j0 + j;                                                 \
                    y[at] = ST(T, LD(A, x[at]) / POW(k + a * sq[j], beta));                        \
                }                                                                                  \
            }                                                                                      \
    }

FLOAT_TYPES(DEFINE_LRN)

typedef void (*lrn_fn)(int64_t c, int64_t sp, int64_t size, const float *abb, const void *x,
                       void *y);
#define LRN_ENTRY(sfx, E, ...) [KRT_##E] = lrn_##sfx,
static const lrn_fn lrn_fns[KRT_DTYPE_COUNT] = {FLOAT_TYPES(LRN_ENTRY)};

static int64_t lrn_units(const void *desc)
{
    const krt_lrn_desc *d = desc;
    return krt_row_units(d->n, d->c * d->spatial);
}

static krt_status lrn_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                          krt_error *err)
{
    const krt_lrn_desc *d = desc;
    const float abb[3] = {d->alpha, d->beta, d->bias};
    int64_t first, end;
    if (!is_float(d->dt))
        return KRT_EDTYPE;
    if (d->size <= 0) {
        err->what = "an LRN size below 1";
        return KRT_EVALUE;
    }
    krt_unit_rows(r, d->n, d->c * d->spatial, &first, &end);
    int64_t plane = d->c * d->spatial * (int64_t)krt_dtype_size(d->dt);
    for (int64_t b = first; b < end; b++)
        lrn_fns[d->dt](d->c, d->spatial, d->size, abb, (const char *)ops[0] + b * plane,
                       (char *)ops[1] + b * plane);
    return KRT_OK;
}

const krt_kernel_info krt_kernel_lrn = {
    "lrn", lrn_run, NULL, lrn_units, sizeof(krt_lrn_desc),
};
