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
#include "runtime/krt_vec.h"

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


/* ---- 2-D f32 fast path ------------------------------------------------------ */

/* MaxPool without Indices and AveragePool over rank-4 NCHW f32 (any kernel,
 * stride, dilation, padding, ceil_mode): the common CNN pools, where the
 * generic walk above (an odometer and a division per output) dominated
 * (one 3x3/2 stem MaxPool was 15% of ResNet-18). Per output row, the
 * columns whose window lies wholly inside the image horizontally are done
 * VF outputs at a time with no bounds checks; the border columns take the
 * clamped scalar path. Every output visits its in-bounds elements in the
 * generic order (kernel rows outer, columns inner) with the same
 * operations (max: replace when strictly greater, so a leading NaN sticks
 * and the first of equal values wins; average: 0 + x0 + x1 ..., divided by
 * the same count), so the results are bit-identical to the generic path. */

typedef struct plane2 {
    const krt_pool_desc *d;
    int64_t H, W, kh, kw, sh, sw, dh, dw;
    bool max;
} plane2;

/* One output with clamped ranges: kernel rows [r0, r1) of input row hs,
 * kernel columns [c0, c1) of input column ws; n: the average's divisor. */
static float out_clamped(const plane2 *q, const float *x, int64_t hs, int64_t r0, int64_t r1,
                         int64_t ws, int64_t c0, int64_t c1, int64_t n)
{
    if (r0 >= r1 || c0 >= c1) /* only with ceil_mode: the window is all padding */
        return q->max ? -INFINITY : 0.0f;
    float acc = q->max ? x[(hs + r0 * q->dh) * q->W + ws + c0 * q->dw] : 0.0f;
    for (int64_t r = r0; r < r1; r++) {
        const float *row = x + (hs + r * q->dh) * q->W + ws;
        for (int64_t c = c0; c < c1; c++) {
            float v = row[c * q->dw];
            if (q->max)
                acc = v > acc ? v : acc;
            else
                acc += v;
        }
    }
    return q->max ? acc : n > 0 ? acc / (float)n : 0.0f;
}

#ifdef KRT_HAVE_VEC
typedef int32_t vi32 __attribute__((vector_size(VF * 4)));

#if VF == 16
#define EVENS 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30
#elif VF == 8
#define EVENS 0, 2, 4, 6, 8, 10, 12, 14
#else
#define EVENS 0, 2, 4, 6
#endif

/* VF outputs' elements at one kernel position: x[j * stride], j < VF.
 * Stride 2 reads x[2 * VF - 1] too: the caller has a next interior output,
 * whose element at this kernel position is x[2 * VF]. */
static inline vf load_strided(const float *x, int64_t s)
{
    if (s == 1)
        return *(const vfu *)x;
    if (s == 2)
        return __builtin_shufflevector(*(const vfu *)x, *(const vfu *)(x + VF), EVENS);
    vf v;
    for (int j = 0; j < VF; j++)
        v[j] = x[j * s];
    return v;
}

/* v > m ? v : m lane by lane (the C vector extensions have no ?:). */
static inline vf max_gt(vf m, vf v)
{
    vi32 gt = v > m;
    return (vf)(((vi32)v & gt) | ((vi32)m & ~gt));
}

/* Outputs [o0, o1) of one row, all interior, `rows` kernel rows in bounds:
 * x is the input row of the first, ws0 the input column of output o0's
 * kernel column 0. Returns the first output not done (the caller finishes
 * the row with out_clamped). */
static int64_t row_interior_vec(const plane2 *q, const float *x, float *y, int64_t o0,
                                int64_t o1, int64_t ws0, int64_t rows, int64_t n)
{
    int64_t o = o0;
    vf div = (vf){0} + (float)n;
    for (; o + VF < o1 || (q->sw != 2 && o + VF <= o1); o += VF) {
        const float *base = x + ws0 + (o - o0) * q->sw;
        vf acc = q->max ? load_strided(base, q->sw) : (vf){0};
        for (int64_t r = 0; r < rows; r++) {
            const float *row = base + r * q->dh * q->W;
            for (int64_t c = 0; c < q->kw; c++) {
                vf v = load_strided(row + c * q->dw, q->sw);
                acc = q->max ? max_gt(acc, v) : acc + v;
            }
        }
        *(vfu *)(y + o) = q->max ? acc : acc / div;
    }
    return o;
}
#endif

static void plane2_run(const plane2 *q, const float *x, float *y)
{
    const krt_pool_desc *d = q->d;
    int64_t OH = d->out[0], OW = d->out[1], ph = d->pad[0], pw = d->pad[1];
    /* Interior columns: ws >= 0 and ws + (kw - 1) * dw < W. */
    int64_t span = (q->kw - 1) * q->dw;
    int64_t i0 = (pw + q->sw - 1) / q->sw;
    int64_t i1 = q->W - 1 - span + pw >= 0 ? (q->W - 1 - span + pw) / q->sw + 1 : 0;
    i0 = i0 < OW ? i0 : OW;
    i1 = i1 < OW ? i1 : OW;
    i1 = i1 > i0 ? i1 : i0;
    for (int64_t oh = 0; oh < OH; oh++) {
        int64_t hs = oh * q->sh - ph, r0, r1, p0, p1;
        float *yr = y + oh * OW;
        valid_range(hs, q->dh, q->kh, 0, q->H, &r0, &r1);
        valid_range(hs, q->dh, q->kh, -ph, q->H + d->pad_end[0], &p0, &p1);
        int64_t rows = r1 > r0 ? r1 - r0 : 0, prows = p1 > p0 ? p1 - p0 : 0;
        for (int64_t ow = 0; ow < OW; ow++) {
            if (ow == i0 && i1 > i0) {
                int64_t n = (d->count_include_pad ? prows : rows) * q->kw;
                int64_t ws0 = i0 * q->sw - pw;
#ifdef KRT_HAVE_VEC
                if (rows > 0)
                    ow = row_interior_vec(q, x + (hs + r0 * q->dh) * q->W, yr, i0, i1, ws0,
                                          rows, n);
#endif
                for (; ow < i1; ow++)
                    yr[ow] = out_clamped(q, x, hs, r0, r1, ow * q->sw - pw, 0, q->kw, n);
                if (ow >= OW)
                    break;
            }
            int64_t ws = ow * q->sw - pw, c0, c1, q0, q1;
            valid_range(ws, q->dw, q->kw, 0, q->W, &c0, &c1);
            valid_range(ws, q->dw, q->kw, -pw, q->W + d->pad_end[1], &q0, &q1);
            int64_t n = d->count_include_pad ? prows * (q1 > q0 ? q1 - q0 : 0)
                                             : rows * (c1 > c0 ? c1 - c0 : 0);
            yr[ow] = out_clamped(q, x, hs, r0, r1, ws, c0, c1, n);
        }
    }
}

/* Planes [p0, p1) through the fast path. */
static void pool2d_f32(const krt_pool_desc *d, const float *X, float *Y, int64_t p0, int64_t p1)
{
    plane2 q = {d, d->in[0], d->in[1], d->kernel[0], d->kernel[1], d->stride[0], d->stride[1],
                d->dilation[0], d->dilation[1], d->kind == KRT_POOL_MAX};
    int64_t isz = q.H * q.W, osz = d->out[0] * d->out[1];
    for (int64_t p = p0; p < p1; p++)
        plane2_run(&q, X + p * isz, Y + p * osz);
}

static bool pool2d_fast_ok(const krt_pool_desc *d, const void *indices)
{
    for (int i = 0; i < 2; i++)
        if (d->kernel[i] < 1 || d->stride[i] < 1 || d->dilation[i] < 1)
            return false;
    return !d->global && d->nd == 2 && d->dtype == KRT_F32 &&
           ((d->kind == KRT_POOL_MAX && !indices) || d->kind == KRT_POOL_AVG);
}

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

static krt_status pool_run_with(const void *desc, void *const *ops, krt_span r, bool fast)
{
    const krt_pool_desc *d = desc;
    int64_t planes = d->batch * d->channels;
    if ((unsigned)d->kind >= KRT_POOL_KIND_COUNT || (unsigned)d->dtype >= KRT_DTYPE_COUNT)
        return KRT_EDTYPE;
    pool_fn fn = pool_fns[d->global != 0][d->kind][d->dtype];
    if (!fn)
        return KRT_EDTYPE;
    int64_t *indices = d->kind == KRT_POOL_MAX ? ops[2] : NULL;
    int64_t end = r.end < planes ? r.end : planes;
    if (fast && pool2d_fast_ok(d, indices))
        pool2d_f32(d, ops[0], ops[1], r.begin, end);
    else
        fn(d, ops[0], ops[1], indices, r.begin, end);
    return KRT_OK;
}

static krt_status pool_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                           krt_error *err)
{
    (void)scratch, (void)err;
    return pool_run_with(desc, ops, r, true);
}

const krt_kernel_info krt_kernel_pool = {
    "pool", pool_run, NULL, pool_units, sizeof(krt_pool_desc),
};

/* The generic walk only, for tests/unit/test_pool2d_fast.c to compare the
 * fast path against; not in the kernel table. */
static krt_status pool_generic_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                                   krt_error *err)
{
    (void)scratch, (void)err;
    return pool_run_with(desc, ops, r, false);
}

extern const krt_kernel_info krt_kernel_pool_generic;
const krt_kernel_info krt_kernel_pool_generic = {
    "pool_generic", pool_generic_run, NULL, pool_units, sizeof(krt_pool_desc),
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
