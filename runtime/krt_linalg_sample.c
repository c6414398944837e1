/* krt_linalg_sample.c — resampling: Resize (any rank), GridSample (2-D),
 * RoiAlign.
 *
 * Resize is separable: for each dim, each output index has a few taps
 * (input index, weight): 1 for nearest, 2 for linear, 4 for cubic, found
 * from the coordinate map and clamped to the edge like the ONNX reference
 * (which pads with edge values). Linear and cubic apply the taps one dim at
 * a time, last dim first, ping-ponging between two scratch buffers (dims
 * whose taps are the identity are skipped); nearest gathers directly and
 * works for any dtype. With tf_crop_and_resize an output whose source
 * coordinate leaves the image in any dim is extrapolation_value.
 *
 * GridSample follows torch.nn.functional.grid_sample (which the ONNX spec
 * points to); RoiAlign follows the ONNX Runtime kernel the spec's tests
 * come from, including its "max" mode (max of the weighted corner values).
 */
#include "runtime/krt_linalg.h"

#include <math.h>
#include <string.h>

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static int64_t clamp64(int64_t x, int64_t lo, int64_t hi) { return x < lo ? lo : x > hi ? hi : x; }
static size_t up64(size_t n) { return (n + 63) / 64 * 64; }

static void *take(char **cur, size_t bytes)
{
    uintptr_t u = ((uintptr_t)*cur + 63) & ~(uintptr_t)63;
    *cur = (char *)u + up64(bytes);
    return (void *)u;
}

/* Round half to even without depending on the FP environment. */
static double round_even(double x)
{
    double f = floor(x), r = x - f;
    if (r > 0.5 || (r == 0.5 && fmod(f, 2.0) != 0.0))
        f += 1.0;
    return f;
}

/* ===== Resize ============================================================= */

typedef struct taps {
    int n;                  /* taps per output index */
    int64_t *idx;           /* [out][n] input index (clamped) */
    double *w;              /* [out][n] weights */
    uint8_t *outside;       /* [out] source coordinate outside the image */
} taps;

static int taps_per_index(krt_resize_mode mode)
{
    return mode == KRT_RESIZE_CUBIC ? 4 : mode == KRT_RESIZE_LINEAR ? 2 : 1;
}

/* Source coordinate of output index j along dim k. */
static double source_coord(const krt_resize_desc *d, int k, int64_t j)
{
    double s = d->scale[k], len = d->length[k], in = (double)d->in[k], x = (double)j;
    switch (d->coord) {
    case KRT_COORD_HALF_PIXEL: return (x + 0.5) / s - 0.5;
    case KRT_COORD_PYTORCH_HALF_PIXEL: return len > 1 ? (x + 0.5) / s - 0.5 : 0.0;
    case KRT_COORD_ALIGN_CORNERS: return len == 1 ? 0.0 : x * (in - 1) / (len - 1);
    case KRT_COORD_ASYMMETRIC: return x / s;
    case KRT_COORD_TF_HALF_PIXEL_FOR_NN: return (x + 0.5) / s;
    case KRT_COORD_TF_CROP_AND_RESIZE: {
        double a = d->roi_start[k], b = d->roi_end[k];
        if (len > 1)
            return a * (in - 1) + x * (b - a) * (in - 1) / (len - 1);
        return 0.5 * (a + b) * (in - 1);
    }
    default: return x;
    }
}

static int64_t nearest_index(krt_nearest_mode mode, double x)
{
    double f = floor(x), r = x - f;
    if (r == 0.0)
        return (int64_t)f;
    switch (mode) {
    case KRT_NEAREST_ROUND_PREFER_FLOOR: return (int64_t)(r <= 0.5 ? f : f + 1);
    case KRT_NEAREST_ROUND_PREFER_CEIL: return (int64_t)(r < 0.5 ? f : f + 1);
    case KRT_NEAREST_FLOOR: return (int64_t)f;
    default: return (int64_t)f + 1;
    }
}

/* The cubic convolution weights of the 4 taps around a fraction r. */
static void cubic_weights(double A, double r, double *w)
{
    double t[4] = {r + 1, r, 1 - r, 2 - r};
    for (int i = 0; i < 4; i++) {
        double x = t[i];
        w[i] = x <= 1 ? ((A + 2) * x - (A + 3)) * x * x + 1
                      : ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
    }
}

/* Fills the taps of output index j along dim k. */
static void index_taps(const krt_resize_desc *d, int k, int64_t j, const taps *t)
{
    double x = source_coord(d, k, j);
    int64_t in = d->in[k], *idx = t->idx + j * t->n;
    double *w = t->w + j * t->n, f = floor(x), r = x - f, sum = 0;
    t->outside[j] = d->coord == KRT_COORD_TF_CROP_AND_RESIZE && (x < 0 || x > (double)(in - 1));
    if (d->mode == KRT_RESIZE_NEAREST) {
        idx[0] = clamp64(nearest_index(d->nearest, x), 0, in - 1);
        w[0] = 1;
        return;
    }
    int64_t first = (int64_t)f - (t->n == 4 ? 1 : 0);
    if (t->n == 4)
        cubic_weights(d->cubic_a, r, w);
    else
        w[0] = 1 - r, w[1] = r;
    for (int i = 0; i < t->n; i++) {
        int64_t p = first + i;
        if (d->exclude_outside && (p < 0 || p >= in))
            w[i] = 0;
        sum += w[i];
        idx[i] = clamp64(p, 0, in - 1);
    }
    for (int i = 0; d->exclude_outside && sum != 0 && i < t->n; i++)
        w[i] /= sum;
}

static bool taps_identity(const krt_resize_desc *d, int k, const taps *t)
{
    if (d->in[k] != d->out[k])
        return false;
    for (int64_t j = 0; j < d->out[k]; j++)
        for (int i = 0; i < t->n; i++) {
            double w = t->w[j * t->n + i];
            if (t->outside[j] || (w != 0 && !(w == 1 && t->idx[j * t->n + i] == j)))
                return false;
        }
    return true;
}

/* Largest intermediate of the separable passes (last dim first). */
static int64_t max_stage(const krt_resize_desc *d)
{
    int64_t best = 0;
    for (int k = 0; k < d->rank; k++) {
        int64_t n = 1;
        for (int i = 0; i < d->rank; i++)
            n *= i < k ? d->in[i] : d->out[i];
        best = max64(best, n);
    }
    return best;
}

/* Linear and cubic f16 run in f32 on widened copies of X and Y. */
static bool promotes(const krt_resize_desc *d, krt_dtype dt)
{
    return dt == KRT_F16 && d->mode != KRT_RESIZE_NEAREST;
}

static size_t resize_scratch(const void *desc)
{
    const krt_resize_desc *d = desc;
    krt_dtype dt = d->dtype;
    size_t n = 64;
    int nt = taps_per_index(d->mode);
    for (int k = 0; k < d->rank; k++)
        n += up64((size_t)(d->out[k] * nt) * 8) * 2 + up64((size_t)d->out[k]);
    if (d->mode != KRT_RESIZE_NEAREST)
        n += 2 * up64((size_t)max_stage(d) * 8);
    if (promotes(d, dt))
        n += up64((size_t)krt_numel(d->rank, d->in) * 4) + up64((size_t)krt_numel(d->rank, d->out) * 4);
    return n;
}

static void build_taps(const krt_resize_desc *d, char **cur, taps *t)
{
    for (int k = 0; k < d->rank; k++) {
        t[k].n = taps_per_index(d->mode);
        t[k].idx = take(cur, (size_t)(d->out[k] * t[k].n) * 8);
        t[k].w = take(cur, (size_t)(d->out[k] * t[k].n) * 8);
        t[k].outside = take(cur, (size_t)d->out[k]);
        for (int64_t j = 0; j < d->out[k]; j++)
            index_taps(d, k, j, &t[k]);
    }
}

/* One separable pass along dim k: src (outer, in_k, inner) -> dst (outer, out_k, inner). */
#define RESIZE_PASS(name, T)                                                     \
    static void name(const taps *t, int64_t outer, int64_t in_k, int64_t out_k,  \
                     int64_t inner, const void *srcv, void *dstv)                \
    {                                                                            \
        const T *src = srcv;                                                     \
        T *dst = dstv;                                                           \
        for (int64_t o = 0; o < outer; o++)                                      \
            for (int64_t j = 0; j < out_k; j++) {                                \
                T *y = dst + (o * out_k + j) * inner;                            \
                const int64_t *idx = t->idx + j * t->n;                          \
                const double *w = t->w + j * t->n;                               \
                for (int64_t i = 0; i < inner; i++) {                            \
                    double acc = 0;                                              \
                    for (int q = 0; q < t->n; q++)                               \
                        acc += w[q] * (double)src[(o * in_k + idx[q]) * inner + i]; \
                    y[i] = (T)acc;                                               \
                }                                                                \
            }                                                                    \
    }
RESIZE_PASS(pass_f32, float)
RESIZE_PASS(pass_f64, double)

typedef void (*pass_fn)(const taps *, int64_t, int64_t, int64_t, int64_t, const void *, void *);

/* Runs the passes of the non-identity dims, last dim first. */
static void separable(const krt_resize_desc *d, const taps *t, pass_fn pass, size_t es,
                      const void *X, void *Y, char *buf0, char *buf1)
{
    int64_t shape[KRT_MAX_RANK];
    int active[KRT_MAX_RANK], n_active = 0;
    for (int k = d->rank - 1; k >= 0; k--)
        if (!taps_identity(d, k, &t[k]))
            active[n_active++] = k;
    memcpy(shape, d->in, sizeof(int64_t) * (size_t)d->rank);
    const void *src = X;
    if (n_active == 0)
        memcpy(Y, X, (size_t)krt_numel(d->rank, d->in) * es);
    for (int a = 0; a < n_active; a++) {
        int k = active[a];
        void *dst = a == n_active - 1 ? Y : (a % 2 ? buf1 : buf0);
        int64_t outer = krt_numel(k, shape), inner = krt_numel(d->rank - k - 1, shape + k + 1);
        pass(&t[k], outer, shape[k], d->out[k], inner, src, dst);
        shape[k] = d->out[k];
        src = dst;
    }
}

/* Element size for the nearest gather of any dtype. */
static void copy_elem(size_t es, const char *src, char *dst)
{
    switch (es) {
    case 1: *dst = *src; break;
    case 2: memcpy(dst, src, 2); break;
    case 4: memcpy(dst, src, 4); break;
    case 8: memcpy(dst, src, 8); break;
    default: memcpy(dst, src, es); break;
    }
}

static void nearest_gather(const krt_resize_desc *d, const taps *t, size_t es, const char *X,
                           char *Y)
{
    int64_t strides[KRT_MAX_RANK], c[KRT_MAX_RANK] = {0};
    int last = d->rank - 1;
    krt_strides(d->rank, d->in, strides);
    int64_t rows = krt_numel(last, d->out), n = d->out[last];
    for (int64_t r = 0; r < rows; r++) {
        int64_t base = 0;
        for (int k = 0; k < last; k++)
            base += t[k].idx[c[k]] * strides[k];
        for (int64_t j = 0; j < n; j++)
            copy_elem(es, X + (base + t[last].idx[j]) * (int64_t)es, Y + (r * n + j) * (int64_t)es);
        for (int k = last - 1; k >= 0 && ++c[k] == d->out[k]; k--)
            c[k] = 0;
    }
}

/* Writes v as one element of dtype dt. */
static void store_value(krt_dtype dt, void *p, double v)
{
    switch (dt) {
    case KRT_F32: *(float *)p = (float)v; break;
    case KRT_F64: *(double *)p = v; break;
    case KRT_F16: *(uint16_t *)p = krt_f32_to_f16((float)v); break;
    case KRT_BF16: *(uint16_t *)p = krt_f32_to_bf16((float)v); break;
    case KRT_I8: *(int8_t *)p = (int8_t)v; break;
    case KRT_U8: case KRT_BOOL: *(uint8_t *)p = (uint8_t)v; break;
    case KRT_I16: *(int16_t *)p = (int16_t)v; break;
    case KRT_U16: *(uint16_t *)p = (uint16_t)v; break;
    case KRT_I32: *(int32_t *)p = (int32_t)v; break;
    case KRT_U32: *(uint32_t *)p = (uint32_t)v; break;
    case KRT_I64: *(int64_t *)p = (int64_t)v; break;
    case KRT_U64: *(uint64_t *)p = (uint64_t)v; break;
    default: break;
    }
}

/* tf_crop_and_resize: outputs sourced outside the image get the value. */
static void extrapolate(const krt_resize_desc *d, krt_dtype dt, const taps *t, char *Y)
{
    size_t es = krt_dtype_size(dt);
    int64_t c[KRT_MAX_RANK] = {0}, total = krt_numel(d->rank, d->out);
    for (int64_t e = 0; e < total; e++) {
        bool out = false;
        for (int k = 0; k < d->rank; k++)
            out = out || t[k].outside[c[k]];
        if (out)
            store_value(dt, Y + e * (int64_t)es, d->extrapolation);
        for (int k = d->rank - 1; k >= 0 && ++c[k] == d->out[k]; k--)
            c[k] = 0;
    }
}

static krt_status resize(const krt_resize_desc *d, const void *X, void *Y, void *scratch);

/* f16 linear / cubic: widen, resize in f32, narrow. */
static krt_status resize_promoted(const krt_resize_desc *d, const void *X, void *Y, void *scratch)
{
    int64_t nx = krt_numel(d->rank, d->in), ny = krt_numel(d->rank, d->out);
    krt_resize_desc f = *d;
    char *cur = scratch;
    float *x = take(&cur, (size_t)nx * 4), *y = take(&cur, (size_t)ny * 4);
    f.dtype = KRT_F32;
    krt_widen_f32(d->dtype, X, x, nx);
    krt_status st = resize(&f, x, y, take(&cur, 0));
    if (st == KRT_OK)
        krt_narrow_f32(d->dtype, y, Y, ny);
    return st;
}

static krt_status resize(const krt_resize_desc *d, const void *X, void *Y, void *scratch)
{
    krt_dtype dt = d->dtype;
    size_t es = krt_dtype_size(dt);
    if (promotes(d, dt))
        return resize_promoted(d, X, Y, scratch);
    pass_fn pass = dt == KRT_F32 ? pass_f32 : dt == KRT_F64 ? pass_f64 : NULL;
    if (es == 0 || d->rank < 1 || (d->mode != KRT_RESIZE_NEAREST && !pass))
        return KRT_EDTYPE;
    if (krt_numel(d->rank, d->out) == 0)
        return KRT_OK;
    for (int k = 0; k < d->rank; k++)
        if (d->in[k] <= 0)
            return KRT_EVALUE;              /* nothing to sample from */
    taps t[KRT_MAX_RANK];
    char *cur = scratch;
    build_taps(d, &cur, t);
    if (d->mode == KRT_RESIZE_NEAREST) {
        nearest_gather(d, t, es, X, Y);
    } else {
        size_t stage = (size_t)max_stage(d) * es;
        char *b0 = take(&cur, stage), *b1 = take(&cur, stage);
        separable(d, t, pass, es, X, Y, b0, b1);
    }
    if (d->coord == KRT_COORD_TF_CROP_AND_RESIZE)
        extrapolate(d, dt, t, Y);
    return KRT_OK;
}

/* ---- kernel `resize` ---------------------------------------------------------- */

static krt_status resize_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                             krt_error *err)
{
    krt_status st = resize(desc, ops[0], ops[1], scratch);
    (void)r;
    if (st == KRT_EVALUE)
        err->what = "an empty input dim cannot be resized to a non-empty one";
    return st;
}

const krt_kernel_info krt_kernel_resize = {
    "resize", resize_run, resize_scratch, NULL, sizeof(krt_resize_desc),
};

/* ===== GridSample ========================================================== */

static double unnormalize(double g, int64_t size, int align)
{
    return align ? (g + 1) / 2 * (double)(size - 1) : ((g + 1) * (double)size - 1) / 2;
}

static double reflect(double x, double twice_lo, double twice_hi)
{
    if (twice_lo == twice_hi)
        return 0;
    double lo = twice_lo / 2, span = (twice_hi - twice_lo) / 2;
    x = fabs(x - lo);
    double extra = fmod(x, span);
    int64_t flips = (int64_t)floor(x / span);
    return flips % 2 == 0 ? extra + lo : span - extra + lo;
}

/* Applies the padding mode to a source coordinate (torch's compute_coordinates). */
static double pad_coord(const krt_gridsample_desc *d, double x, int64_t size)
{
    if (d->padding == KRT_GRID_BORDER)
        return fmin(fmax(x, 0), (double)(size - 1));
    if (d->padding == KRT_GRID_REFLECTION) {
        x = d->align_corners ? reflect(x, 0, 2.0 * (double)(size - 1))
                             : reflect(x, -1, 2.0 * (double)size - 1);
        return fmin(fmax(x, 0), (double)(size - 1));
    }
    return x;
}

#define GRID_FNS(suffix, T, LOAD, STORE)                                                    \
    static double at_##suffix(const T *plane, const krt_gridsample_desc *d,      \
                              int64_t y, int64_t x)                              \
    {                                                                            \
        if (y < 0 || y >= d->in_h || x < 0 || x >= d->in_w)                      \
            return 0;                                                            \
        return (double)LOAD(plane[y * d->in_w + x]);                            \
    }                                                                            \
    static double bilinear_##suffix(const T *p, const krt_gridsample_desc *d,    \
                                    double x, double y)                          \
    {                                                                            \
        x = pad_coord(d, x, d->in_w);                                            \
        y = pad_coord(d, y, d->in_h);                                            \
        double x0 = floor(x), y0 = floor(y), fx = x - x0, fy = y - y0;          \
        int64_t ix = (int64_t)x0, iy = (int64_t)y0;                              \
        return at_##suffix(p, d, iy, ix) * (1 - fx) * (1 - fy) +                 \
               at_##suffix(p, d, iy, ix + 1) * fx * (1 - fy) +                   \
               at_##suffix(p, d, iy + 1, ix) * (1 - fx) * fy +                   \
               at_##suffix(p, d, iy + 1, ix + 1) * fx * fy;                      \
    }                                                                            \
    static double nearest_##suffix(const T *p, const krt_gridsample_desc *d,     \
                                   double x, double y)                           \
    {                                                                            \
        x = round_even(pad_coord(d, x, d->in_w));                                \
        y = round_even(pad_coord(d, y, d->in_h));                                \
        return at_##suffix(p, d, (int64_t)y, (int64_t)x);                        \
    }                                                                            \
    static double tap_##suffix(const T *p, const krt_gridsample_desc *d,         \
                               double x, double y)                               \
    {                                                                            \
        x = pad_coord(d, x, d->in_w);                                            \
        y = pad_coord(d, y, d->in_h);                                            \
        return at_##suffix(p, d, (int64_t)floor(y), (int64_t)floor(x));          \
    }                                                                            \
    static double bicubic_##suffix(const T *p, const krt_gridsample_desc *d,     \
                                   double x, double y)                           \
    {                                                                            \
        double x0 = floor(x), y0 = floor(y), wx[4], wy[4], acc = 0;              \
        cubic_weights(-0.75, x - x0, wx);                                        \
        cubic_weights(-0.75, y - y0, wy);                                        \
        for (int i = 0; i < 4; i++)                                              \
            for (int j = 0; j < 4; j++)                                          \
                acc += wy[i] * wx[j] * tap_##suffix(p, d, x0 - 1 + j, y0 - 1 + i); \
        return acc;                                                              \
    }                                                                            \
    static void gridsample_##suffix(const krt_gridsample_desc *d, const void *Xv, \
                                    const void *gridv, void *Yv, int64_t n0,     \
                                    int64_t n1)                                  \
    {                                                                            \
        const T *X = Xv, *grid = gridv;                                          \
        T *Y = Yv;                                                               \
        int64_t osz = d->out_h * d->out_w, isz = d->in_h * d->in_w;              \
        for (int64_t n = n0; n < n1; n++)                                        \
            for (int64_t o = 0; o < osz; o++) {                                  \
                const T *g = grid + (n * osz + o) * 2;                           \
                double x = unnormalize((double)LOAD(g[0]), d->in_w, d->align_corners); \
                double y = unnormalize((double)LOAD(g[1]), d->in_h, d->align_corners); \
                for (int64_t c = 0; c < d->channels; c++) {                      \
                    const T *p = X + (n * d->channels + c) * isz;                \
                    double v = d->mode == KRT_GRID_BILINEAR ? bilinear_##suffix(p, d, x, y) \
                             : d->mode == KRT_GRID_NEAREST ? nearest_##suffix(p, d, x, y) \
                             : bicubic_##suffix(p, d, x, y);                     \
                    Y[(n * d->channels + c) * osz + o] = STORE(v);              \
                }                                                                \
            }                                                                    \
    }
#define LOAD_ID(x) (x)
#define LOAD_F16(x) krt_f16_to_f32(x)
#define STORE_F32(x) ((float)(x))
#define STORE_F64(x) (x)
#define STORE_F16(x) krt_f32_to_f16((float)(x))
GRID_FNS(f32, float, LOAD_ID, STORE_F32)
GRID_FNS(f64, double, LOAD_ID, STORE_F64)
GRID_FNS(f16, uint16_t, LOAD_F16, STORE_F16)

/* ---- kernel `grid_sample` ----------------------------------------------------- */

typedef void (*grid_fn)(const krt_gridsample_desc *, const void *, const void *, void *,
                        int64_t, int64_t);

static const grid_fn grid_fns[KRT_DTYPE_COUNT] = {
    [KRT_F32] = gridsample_f32, [KRT_F64] = gridsample_f64,
    [KRT_F16] = gridsample_f16,
};

static int64_t gridsample_units(const void *desc)
{
    const krt_grid_sample_desc *d = desc;
    return max64(1, d->g.batch);
}

static krt_status gridsample_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                                 krt_error *err)
{
    const krt_grid_sample_desc *d = desc;
    (void)scratch, (void)err;
    if ((unsigned)d->dtype >= KRT_DTYPE_COUNT || !grid_fns[d->dtype])
        return KRT_EDTYPE;
    grid_fns[d->dtype](&d->g, ops[0], ops[1], ops[2], r.begin,
                       r.end < d->g.batch ? r.end : d->g.batch);
    return KRT_OK;
}

const krt_kernel_info krt_kernel_grid_sample = {
    "grid_sample", gridsample_run, NULL, gridsample_units, sizeof(krt_grid_sample_desc),
};

/* ===== RoiAlign ============================================================= */

/* Bilinear sample at (y, x) with ONNX Runtime's edge rules: one pixel of
 * slack outside the image contributes 0, coordinates clamp to the edge.
 * Returns the four weighted corners in v. */
#define ROI_FNS(suffix, T, LOAD, STORE)                                                     \
    static void corners_##suffix(const krt_roialign_desc *d, const T *plane,     \
                                 double y, double x, double v[4])                \
    {                                                                            \
        int64_t H = d->height, W = d->width;                                     \
        v[0] = v[1] = v[2] = v[3] = 0;                                           \
        if (y < -1.0 || y > (double)H || x < -1.0 || x > (double)W)              \
            return;                                                              \
        y = y <= 0 ? 0 : y;                                                      \
        x = x <= 0 ? 0 : x;                                                      \
        int64_t y0 = (int64_t)y, x0 = (int64_t)x, y1, x1;                        \
        if (y0 >= H - 1)                                                         \
            y0 = y1 = H - 1, y = (double)y0;                                     \
        else                                                                     \
            y1 = y0 + 1;                                                         \
        if (x0 >= W - 1)                                                         \
            x0 = x1 = W - 1, x = (double)x0;                                     \
        else                                                                     \
            x1 = x0 + 1;                                                         \
        double ly = y - (double)y0, lx = x - (double)x0, hy = 1 - ly, hx = 1 - lx; \
        v[0] = hy * hx * (double)LOAD(plane[y0 * W + x0]);                             \
        v[1] = hy * lx * (double)LOAD(plane[y0 * W + x1]);                             \
        v[2] = ly * hx * (double)LOAD(plane[y1 * W + x0]);                             \
        v[3] = ly * lx * (double)LOAD(plane[y1 * W + x1]);                             \
    }                                                                            \
    static double bin_##suffix(const krt_roialign_desc *d, const T *plane,       \
                               const double *box, int64_t ph, int64_t pw)        \
    {                                                                            \
        double bh = box[2] / (double)d->out_h, bw = box[3] / (double)d->out_w;   \
        int64_t gh = d->sampling_ratio > 0 ? d->sampling_ratio : (int64_t)ceil(box[2] / (double)d->out_h); \
        int64_t gw = d->sampling_ratio > 0 ? d->sampling_ratio : (int64_t)ceil(box[3] / (double)d->out_w); \
        double acc = 0, best = 0;                                                \
        bool first = true;                                                       \
        for (int64_t iy = 0; iy < gh; iy++)                                      \
            for (int64_t ix = 0; ix < gw; ix++) {                                \
                double y = box[0] + (double)ph * bh + ((double)iy + 0.5) * bh / (double)gh; \
                double x = box[1] + (double)pw * bw + ((double)ix + 0.5) * bw / (double)gw; \
                double v[4];                                                     \
                corners_##suffix(d, plane, y, x, v);                             \
                double m = fmax(fmax(v[0], v[1]), fmax(v[2], v[3]));             \
                acc += v[0] + v[1] + v[2] + v[3];                                \
                best = first || m > best ? m : best;                             \
                first = false;                                                   \
            }                                                                    \
        return d->max_mode ? best : acc / (double)max64(gh * gw, 1);             \
    }                                                                            \
    static void roialign_##suffix(const krt_roialign_desc *d, const void *Xv,    \
                                  const void *roisv, const int64_t *bi, void *Yv, \
                                  int64_t r0, int64_t r1)                        \
    {                                                                            \
        const T *X = Xv, *rois = roisv;                                          \
        T *Y = Yv;                                                               \
        double off = d->half_pixel ? 0.5 : 0.0;                                  \
        int64_t osz = d->out_h * d->out_w, isz = d->height * d->width;           \
        for (int64_t r = r0; r < r1; r++) {                                      \
            const T *roi = rois + r * 4;                                         \
            double x1 = LOAD(roi[0]) * d->spatial_scale - off, y1 = LOAD(roi[1]) * d->spatial_scale - off; \
            double x2 = LOAD(roi[2]) * d->spatial_scale - off, y2 = LOAD(roi[3]) * d->spatial_scale - off; \
            double box[4] = {y1, x1, y2 - y1, x2 - x1};  /* y, x, h, w */        \
            if (!d->half_pixel) {                                                \
                box[2] = fmax(box[2], 1.0);                                      \
                box[3] = fmax(box[3], 1.0);                                      \
            }                                                                    \
            for (int64_t c = 0; c < d->channels; c++) {                          \
                const T *plane = X + (bi[r] * d->channels + c) * isz;            \
                T *y = Y + (r * d->channels + c) * osz;                          \
                for (int64_t ph = 0; ph < d->out_h; ph++)                        \
                    for (int64_t pw = 0; pw < d->out_w; pw++)                    \
                        y[ph * d->out_w + pw] = STORE(bin_##suffix(d, plane, box, ph, pw)); \
            }                                                                    \
        }                                                                        \
    }
ROI_FNS(f32, float, LOAD_ID, STORE_F32)
ROI_FNS(f64, double, LOAD_ID, STORE_F64)
ROI_FNS(f16, uint16_t, LOAD_F16, STORE_F16)

/* ---- kernel `roialign` -------------------------------------------------------- */

typedef void (*roi_fn)(const krt_roialign_desc *, const void *, const void *, const int64_t *,
                       void *, int64_t, int64_t);

static const roi_fn roi_fns[KRT_DTYPE_COUNT] = {
    [KRT_F32] = roialign_f32, [KRT_F64] = roialign_f64,
    [KRT_F16] = roialign_f16,
};

static int64_t roialign_units(const void *desc)
{
    const krt_roialign_desc *d = desc;
    return max64(1, d->num_rois);
}

static krt_status roialign_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                               krt_error *err)
{
    const krt_roialign_desc *d = desc;
    const int64_t *bi = ops[2];
    int64_t r1 = r.end < d->num_rois ? r.end : d->num_rois;
    (void)scratch;
    if ((unsigned)d->dtype >= KRT_DTYPE_COUNT || !roi_fns[d->dtype])
        return KRT_EDTYPE;
    if (d->height <= 0 || d->width <= 0) {
        err->what = "the image is empty";
        return KRT_EVALUE;
    }
    for (int64_t k = r.begin; k < r1; k++)
        if (bi[k] < 0 || bi[k] >= d->batch) {
            *err = (krt_error){.operand = 2, .value = bi[k], .lo = 0, .hi = d->batch, .pos = k,
                               .what = "batch index"};
            return KRT_EINDEX;
        }
    roi_fns[d->dtype](d, ops[0], ops[1], bi, ops[3], r.begin, r1);
    return KRT_OK;
}

const krt_kernel_info krt_kernel_roialign = {
    "roialign", roialign_run, NULL, roialign_units, sizeof(krt_roialign_desc),
};
