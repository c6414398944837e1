/* krt_linalg_pool.c — pooling: MaxPool (with indices), AveragePool, LpPool,
 * the global pools and MaxUnpool, for any number of spatial dims.
 *
 * A window is never materialised: for each output position and each
 * spatial dim, the range of kernel indices whose input coordinate lands
 * inside the image is computed once (so padding costs nothing and never
 * takes part in a max), then the in-bounds elements are visited with the
 * last dim as the inner loop. Windows that lie wholly in the padding (only
 * possible with ceil_mode) give the dtype's lowest value for max and 0 for
 * the average and Lp pools.
 */
#include "runtime/krt_linalg.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* ---- window ranges -------------------------------------------------------- */

typedef struct pool_win {
    int nd;
    int64_t start[KRT_MAX_SPATIAL];   /* input coordinate of kernel index 0 */
    int64_t lo[KRT_MAX_SPATIAL];      /* first in-bounds kernel index */
    int64_t hi[KRT_MAX_SPATIAL];      /* one past the last in-bounds kernel index */
    int64_t k[KRT_MAX_SPATIAL];       /* odometer over the outer dims */
} pool_win;

/* Smallest k >= 0 with start + k*dil >= lo_bound, largest-plus-one with
 * start + k*dil < hi_bound, clamped to [0, kernel]. */
static void valid_range(int64_t start, int64_t dil, int64_t kernel, int64_t lo_bound,
                        int64_t hi_bound, int64_t *lo, int64_t *hi)
{
    int64_t a = start >= lo_bound ? 0 : (lo_bound - start + dil - 1) / dil;
    int64_t b = start >= hi_bound ? 0 : (hi_bound - start + dil - 1) / dil;
    *lo = a;
    *hi = b < kernel ? b : kernel;
}

/* Sets up the window of output position `flat`; false if it is empty. */
static bool win_init(const krt_pool_desc *d, int64_t flat, pool_win *w)
{
    bool any = true;
    w->nd = d->nd;
    for (int i = d->nd - 1; i >= 0; i--) {
        int64_t o = flat % d->out[i];
        flat /= d->out[i];
        w->start[i] = o * d->stride[i] - d->pad[i];
        valid_range(w->start[i], d->dilation[i], d->kernel[i], 0, d->in[i], &w->lo[i], &w->hi[i]);
        w->k[i] = w->lo[i];
        any = any && w->lo[i] < w->hi[i];
    }
    return any;
}

/* Input offset of the window's current outer position, last-dim coordinate 0. */
static int64_t win_row(const krt_pool_desc *d, const pool_win *w)
{
    int64_t off = 0;
    for (int i = 0; i < d->nd - 1; i++)
        off = off * d->in[i] + w->start[i] + w->k[i] * d->dilation[i];
    return off * d->in[d->nd - 1];
}

/* Advances the odometer over dims 0..nd-2; false when done. */
static bool win_next(pool_win *w)
{
    for (int i = w->nd - 2; i >= 0; i--) {
        if (++w->k[i] < w->hi[i])
            return true;
        w->k[i] = w->lo[i];
    }
    return false;
}

static int64_t win_count(const krt_pool_desc *d, const pool_win *w)
{
    int64_t n = 1;
    for (int i = 0; i < d->nd; i++)
        n *= w->hi[i] - w->lo[i];
    return n;
}

/* Elements of the window inside the padded extent [-pad, in + pad_end). */
static int64_t win_padded_count(const krt_pool_desc *d, int64_t flat)
{
    int64_t n = 1;
    for (int i = d->nd - 1; i >= 0; i--) {
        int64_t o = flat % d->out[i], lo, hi;
        flat /= d->out[i];
        valid_range(o * d->stride[i] - d->pad[i], d->dilation[i], d->kernel[i], -d->pad[i],
                    d->in[i] + d->pad_end[i], &lo, &hi);
        n *= hi > lo ? hi - lo : 0;
    }
    return n;
}

/* Flat spatial offset -> the same position in column-major order. */
static int64_t column_major(const krt_pool_desc *d, int64_t off)
{
    int64_t c[KRT_MAX_SPATIAL], r = 0;
    for (int i = d->nd - 1; i >= 0; i--) {
        c[i] = off % d->in[i];
        off /= d->in[i];
    }
    for (int i = d->nd - 1; i >= 0; i--)
        r = r * d->in[i] + c[i];
    return r;
}

/* Visits every in-bounds element of window w: `off` is its input offset. */
#define FOR_WINDOW(d, w, off, body)                                              \
    do {                                                                         \
        int last_ = (d)->nd - 1;                                                 \
        do {                                                                     \
            int64_t row_ = win_row((d), &(w)) + (w).start[last_];                \
            for (int64_t k_ = (w).lo[last_]; k_ < (w).hi[last_]; k_++) {         \
                int64_t off = row_ + k_ * (d)->dilation[last_];                  \
                body                                                             \
            }                                                                    \
        } while (win_next(&(w)));                                                \
    } while (0)

static int64_t out_total(const krt_pool_desc *d) { return krt_numel(d->nd, d->out); }
static int64_t in_total(const krt_pool_desc *d) { return krt_numel(d->nd, d->in); }

/* ---- MaxPool ----------------------------------------------------------------- */

/* Each pool body runs planes [p0, p1) of (batch x channels): a plane is a
 * work unit and owns its output plane. */

#define KEY_ID(x) (x)
#define KEY_F16(x) krt_f16_to_f32(x)

#define MAXPOOL(name, T, KEY, LOWEST)                                            \
    static void name(const krt_pool_desc *d, const void *Xv, void *Yv,          \
                     int64_t *I, int64_t p0, int64_t p1)                         \
    {                                                                            \
        const T *X = Xv;                                                         \
        T *Y = Yv;                                                               \
        int64_t osz = out_total(d), isz = in_total(d);                           \
        for (int64_t p = p0; p < p1; p++) {                                      \
            const T *x = X + p * isz;                                            \
            for (int64_t j = 0; j < osz; j++) {                                  \
                pool_win w;                                                      \
                int64_t best = -1;                                               \
                if (win_init(d, j, &w))                                          \
                    FOR_WINDOW(d, w, off, {                                      \
                        if (best < 0 || KEY(x[off]) > KEY(x[best]))              \
                            best = off;                                          \
                    });                                                          \
                Y[p * osz + j] = best < 0 ? LOWEST : x[best];                    \
                if (I)                                                           \
                    I[p * osz + j] = best < 0 ? -1 : p * isz +                   \
                        (d->storage_order ? column_major(d, best) : best);       \
            }                                                                    \
        }                                                                        \
    }
MAXPOOL(maxpool_f32, float, KEY_ID, -INFINITY)
MAXPOOL(maxpool_f64, double, KEY_ID, -INFINITY)
MAXPOOL(maxpool_f16, uint16_t, KEY_F16, (uint16_t)0xfc00)
MAXPOOL(maxpool_i8, int8_t, KEY_ID, INT8_MIN)
MAXPOOL(maxpool_u8, uint8_t, KEY_ID, 0)

/* ---- AveragePool and LpPool ------------------------------------------------ */

/* f16 loads and stores through f32 (the arithmetic is in ACC). */
#define LOAD_ID(x) (x)
#define STORE_F32(x) ((float)(x))
#define STORE_F64(x) ((double)(x))
#define STORE_F16(x) krt_f32_to_f16((float)(x))

#define AVGPOOL(name, T, ACC, LOAD, STORE)                                       \
    static void name(const krt_pool_desc *d, const void *Xv, void *Yv,          \
                     int64_t *I, int64_t p0, int64_t p1)                         \
    {                                                                            \
        const T *X = Xv;                                                         \
        T *Y = Yv;                                                               \
        int64_t osz = out_total(d), isz = in_total(d);                           \
        (void)I;                                                                 \
        for (int64_t p = p0; p < p1; p++) {                                      \
            const T *x = X + p * isz;                                            \
            for (int64_t j = 0; j < osz; j++) {                                  \
                pool_win w;                                                      \
                ACC sum = 0;                                                     \
                int64_t n = 0;                                                   \
                if (win_init(d, j, &w)) {                                        \
                    n = win_count(d, &w);                                        \
                    FOR_WINDOW(d, w, off, { sum += (ACC)LOAD(x[off]); });        \
                }                                                                \
                if (d->count_include_pad)                                        \
                    n = win_padded_count(d, j);                                  \
                Y[p * osz + j] = STORE(n > 0 ? sum / (ACC)n : (ACC)0);           \
            }                                                                    \
        }                                                                        \
    }
AVGPOOL(avgpool_f32, float, float, LOAD_ID, STORE_F32)
AVGPOOL(avgpool_f64, double, double, LOAD_ID, STORE_F64)
AVGPOOL(avgpool_f16, uint16_t, float, KEY_F16, STORE_F16)

/* |x|^p with the common exponents exact. */
static double pow_abs(double x, double p)
{
    x = fabs(x);
    return p == 1.0 ? x : p == 2.0 ? x * x : pow(x, p);
}

static double root(double s, double p)
{
    return p == 1.0 ? s : p == 2.0 ? sqrt(s) : pow(s, 1.0 / p);
}

#define LPPOOL(name, T, LOAD, STORE)                                             \
    static void name(const krt_pool_desc *d, const void *Xv, void *Yv,          \
                     int64_t *I, int64_t p0, int64_t p1)                         \
    {                                                                            \
        const T *X = Xv;                                                         \
        T *Y = Yv;                                                               \
        int64_t osz = out_total(d), isz = in_total(d);                           \
        (void)I;                                                                 \
        for (int64_t p = p0; p < p1; p++) {                                      \
            const T *x = X + p * isz;                                            \
            for (int64_t j = 0; j < osz; j++) {                                  \
                pool_win w;                                                      \
                double sum = 0;                                                  \
                if (win_init(d, j, &w))                                          \
                    FOR_WINDOW(d, w, off, { sum += pow_abs(LOAD(x[off]), d->p); }); \
                Y[p * osz + j] = STORE(root(sum, d->p));                         \
            }                                                                    \
        }                                                                        \
    }
LPPOOL(lppool_f32, float, LOAD_ID, STORE_F32)
LPPOOL(lppool_f64, double, LOAD_ID, STORE_F64)
LPPOOL(lppool_f16, uint16_t, KEY_F16, STORE_F16)

/* ---- global pools --------------------------------------------------------- */

#define GLOBAL_POOL(name, T, LOAD, STORE)                                        \
    static void name(const krt_pool_desc *d, const void *Xv, void *Yv,          \
                     int64_t *I, int64_t p0, int64_t p1)                         \
    {                                                                            \
        const T *X = Xv;                                                         \
        T *Y = Yv;                                                               \
        int64_t size = in_total(d);                                              \
        (void)I;                                                                 \
        for (int64_t p = p0; p < p1; p++) {                                      \
            const T *x = X + p * size;                                           \
            double acc = d->kind == KRT_POOL_MAX ? -INFINITY : 0.0;              \
            for (int64_t j = 0; j < size; j++) {                                 \
                double v = LOAD(x[j]);                                           \
                if (d->kind == KRT_POOL_MAX)                                     \
                    acc = v > acc ? v : acc;                                     \
                else if (d->kind == KRT_POOL_AVG)                                \
                    acc += v;                                                    \
                else                                                             \
                    acc += pow_abs(v, d->p);                                     \
            }                                                                    \
            if (d->kind == KRT_POOL_AVG)                                         \
                acc = size > 0 ? acc / (double)size : 0.0;                       \
            else if (d->kind == KRT_POOL_LP)                                     \
                acc = root(acc, d->p);                                           \
            Y[p] = STORE(acc);                                                   \
        }                                                                        \
    }
GLOBAL_POOL(global_f32, float, LOAD_ID, STORE_F32)
GLOBAL_POOL(global_f64, double, LOAD_ID, STORE_F64)
GLOBAL_POOL(global_f16, uint16_t, KEY_F16, STORE_F16)

/* ---- kernel `pool` ---------------------------------------------------------------- */

/* The bodies take void pointers and convert them: calling a function
 * through a pointer of another type is undefined (clang's
 * -fsanitize=function reported it; found by fuzz_passes). */
typedef void (*pool_fn)(const krt_pool_desc *d, const void *X, void *Y, int64_t *I,
                        int64_t p0, int64_t p1);

#define POOL_ROW(f32, f64, f16) {[KRT_F32] = f32, [KRT_F64] = f64, [KRT_F16] = f16}

/* [global][kind][dtype]: the body for each variant; NULL: no kernel. */
static const pool_fn pool_fns[2][KRT_POOL_KIND_COUNT][KRT_DTYPE_COUNT] = {
    {
        [KRT_POOL_MAX] = {[KRT_F32] = maxpool_f32, [KRT_F64] = maxpool_f64, [KRT_F16] = maxpool_f16,
                          [KRT_I8] = maxpool_i8, [KRT_U8] = maxpool_u8},
        [KRT_POOL_AVG] = POOL_ROW(avgpool_f32, avgpool_f64, avgpool_f16),
        [KRT_POOL_LP] = POOL_ROW(lppool_f32, lppool_f64, lppool_f16),
    },
    {
        [KRT_POOL_MAX] = POOL_ROW(global_f32, global_f64, global_f16),
        [KRT_POOL_AVG] = POOL_ROW(global_f32, global_f64, global_f16),
        [KRT_POOL_LP] = POOL_ROW(global_f32, global_f64, global_f16),
    },
};
#undef POOL_ROW

static int64_t pool_units(const void *desc)
{
    const krt_pool_desc *d = desc;
    return d->batch * d->channels > 0 ? d->batch * d->channels : 1;
}

static krt_status pool_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                           krt_error *err)
{
    const krt_pool_desc *d = desc;
    int64_t planes = d->batch * d->channels;
    (void)scratch, (void)err;
    if ((unsigned)d->kind >= KRT_POOL_KIND_COUNT || (unsigned)d->dtype >= KRT_DTYPE_COUNT)
        return KRT_EDTYPE;
    pool_fn fn = pool_fns[d->global != 0][d->kind][d->dtype];
    if (!fn)
        return KRT_EDTYPE;
    fn(d, ops[0], ops[1], d->kind == KRT_POOL_MAX ? ops[2] : NULL, r.begin,
       r.end < planes ? r.end : planes);
    return KRT_OK;
}

const krt_kernel_info krt_kernel_pool = {
    "pool", pool_run, NULL, pool_units, sizeof(krt_pool_desc),
};

/* ---- kernel `max_unpool` -------------------------------------------------------- */

/* Flat offset in `unpooled` -> the same coordinates in `out`. */
static int64_t corner_offset(int rank, const int64_t *unpooled, const int64_t *out, int64_t flat)
{
    int64_t off = 0, stride = 1;
    for (int i = rank - 1; i >= 0; i--) {
        off += flat % unpooled[i] * stride;
        flat /= unpooled[i];
        stride *= out[i];
    }
    return off;
}

static krt_status max_unpool_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                                 krt_error *err)
{
    const krt_max_unpool_desc *d = desc;
    int64_t es = (int64_t)krt_dtype_size(d->dtype), limit = krt_numel(d->rank, d->unpooled);
    const int64_t *indices = ops[1];
    (void)scratch, (void)r;
    if (es == 0)
        return KRT_EDTYPE;
    for (int i = 0; i < d->rank; i++)
        if (d->out[i] < d->unpooled[i])
            return KRT_EVALUE;
    for (int64_t i = 0; i < d->n; i++)
        if (indices[i] < 0 || indices[i] >= limit) {
            *err = (krt_error){.operand = 1, .value = indices[i], .lo = 0, .hi = limit, .pos = i};
            return KRT_EINDEX;
        }
    memset(ops[2], 0, (size_t)(krt_numel(d->rank, d->out) * es));
    for (int64_t i = 0; i < d->n; i++) {
        int64_t at = corner_offset(d->rank, d->unpooled, d->out, indices[i]);
        memcpy((char *)ops[2] + at * es, (const char *)ops[0] + i * es, (size_t)es);
    }
    return KRT_OK;
}

const krt_kernel_info krt_kernel_max_unpool = {
    "max_unpool", max_unpool_run, NULL, NULL, sizeof(krt_max_unpool_desc),
};
