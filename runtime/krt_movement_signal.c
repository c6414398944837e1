/* krt_movement_signal.c — generators (fill for ConstantOfShape, Shape and
 * Size; Range, EyeLike, windows, MelWeightMatrix), NonMaxSuppression, DFT
 * and STFT.
 *
 * These compute values rather than move them; element types are reached
 * through krt_load_f64 / krt_store_f64 (or a per-dtype macro where the
 * arithmetic must stay in the element type, as in Range). Transforms
 * accumulate in double whatever the element type. The DFT is a radix-2
 * FFT for power-of-two lengths and Bluestein's chirp-z (built on the same
 * FFT) for the others, so every length costs O(n log n).
 */
#include "runtime/krt_movement.h"

#include <math.h>

static const double PI = 3.14159265358979323846;

/* ---- fill, range, eye --------------------------------------------------- */

enum { FILL_CHUNK = 1 << 16 };

static int64_t fill_units(const void *desc)
{
    const krt_fill_desc *d = desc;
    return d->nbytes > 0 ? (d->nbytes + FILL_CHUNK - 1) / FILL_CHUNK : 1;
}

/* Bytes [lo, hi) of the repeated pattern. */
static krt_status fill_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                           krt_error *err)
{
    const krt_fill_desc *d = desc;
    int64_t lo = r.begin * FILL_CHUNK, hi = r.end * FILL_CHUNK < d->nbytes ? r.end * FILL_CHUNK : d->nbytes;
    (void)scratch, (void)err;
    if (d->period < 1 || d->period > (int64_t)sizeof d->pattern)
        return KRT_EVALUE;
    for (int64_t at = lo, n; at < hi; at += n) {
        int64_t phase = at % d->period;
        n = d->period - phase < hi - at ? d->period - phase : hi - at;
        memcpy((char *)ops[0] + at, d->pattern + phase, (size_t)n);
    }
    return KRT_OK;
}

const krt_kernel_info krt_kernel_fill = {
    "fill", fill_run, NULL, fill_units, sizeof(krt_fill_desc),
};

static int is_float(krt_dtype dt)
{
    return dt == KRT_F32 || dt == KRT_F64 || dt == KRT_F16 || dt == KRT_BF16;
}

/* ceil(diff / delta) for integers, exactly. */
static int64_t ceil_div(int64_t diff, int64_t delta)
{
    int64_t q = diff / delta;
    if (diff % delta != 0 && (diff > 0) == (delta > 0))
        q++;
    return q;
}

int64_t krt_range_count(krt_dtype dt, const void *start, const void *limit, const void *delta)
{
    if (is_float(dt)) {
        double s = krt_load_f64(dt, start, 0), l = krt_load_f64(dt, limit, 0);
        double d = krt_load_f64(dt, delta, 0);
        /* the difference in the element type, as ONNX Runtime does */
        double diff = dt == KRT_F64 ? l - s : (double)(float)(l - s);
        double n = ceil(diff / d);
        if (d == 0 || n != n || n > 9e18)
            return -1;
        return n > 0 ? (int64_t)n : 0;
    }
    int64_t s = krt_load_i64(dt, start, 0), l = krt_load_i64(dt, limit, 0);
    int64_t d = krt_load_i64(dt, delta, 0);
    if (d == 0 || fabs((double)l - (double)s) >= 9e18)
        return -1;
    int64_t n = ceil_div(l - s, d);
    return n > 0 ? n : 0;
}

#define RANGE(name, T)                                                             \
    static void range_##name(void *dst, const void *s, const void *d, int64_t n)   \
    {                                                                              \
        T a, b;                                                                    \
        memcpy(&a, s, sizeof a);                                                   \
        memcpy(&b, d, sizeof b);                                                   \
        for (int64_t i = 0; i < n; i++)                                            \
            ((T *)dst)[i] = (T)(a + (T)i * b);                                     \
    }
RANGE(f32, float)
RANGE(f64, double)
RANGE(i16, int16_t)
RANGE(i32, int32_t)
RANGE(i64, int64_t)
#undef RANGE

static void (*const range_fns[KRT_DTYPE_COUNT])(void *, const void *, const void *, int64_t) = {
    [KRT_F32] = range_f32, [KRT_F64] = range_f64, [KRT_I16] = range_i16,
    [KRT_I32] = range_i32, [KRT_I64] = range_i64,
};

static krt_status range_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                            krt_error *err)
{
    const krt_range_desc *d = desc;
    (void)scratch, (void)r, (void)err;
    if ((unsigned)d->dtype >= KRT_DTYPE_COUNT || !range_fns[d->dtype])
        return KRT_EDTYPE;
    range_fns[d->dtype](ops[2], ops[0], ops[1], d->n);
    return KRT_OK;
}

const krt_kernel_info krt_kernel_range = {
    "range", range_run, NULL, NULL, sizeof(krt_range_desc),
};

static krt_status eye_like_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                               krt_error *err)
{
    const krt_eye_like_desc *d = desc;
    int64_t rows = d->rows, cols = d->cols, k = d->k;
    (void)scratch, (void)r, (void)err;
    memset(ops[0], 0, (size_t)(rows * cols) * krt_dtype_size(d->dtype));
    if (k <= -rows || k >= cols)
        return KRT_OK;  /* the diagonal misses the matrix (and i + k could overflow) */
    for (int64_t i = 0; i < rows; i++)
        if (i + k >= 0 && i + k < cols)
            krt_store_f64(d->dtype, ops[0], i * cols + i + k, 1.0);
    return KRT_OK;
}

const krt_kernel_info krt_kernel_eye_like = {
    "eye_like", eye_like_run, NULL, NULL, sizeof(krt_eye_like_desc),
};

/* ---- windows and mel filters ------------------------------------------------ */

/* Generalized cosine windows a0 - a1 cos(2 pi n / D) + a2 cos(4 pi n / D). */
static const double window_coef[KRT_WIN_COUNT][3] = {
    [KRT_WIN_HANN] = {0.5, 0.5, 0.0},
    [KRT_WIN_HAMMING] = {25.0 / 46.0, 21.0 / 46.0, 0.0},
    [KRT_WIN_BLACKMAN] = {0.42, 0.5, 0.08},
};

static krt_status window_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                             krt_error *err)
{
    const krt_window_desc *w = desc;
    (void)scratch, (void)r, (void)err;
    if ((unsigned)w->kind >= KRT_WIN_COUNT)
        return KRT_EVALUE;
    const double *a = window_coef[w->kind];
    double d = (double)(w->periodic ? w->size : w->size - 1);
    for (int64_t i = 0; i < w->size; i++) {
        double x = d > 0 ? 2 * PI * (double)i / d : 0.0;
        krt_store_f64(w->dtype, ops[0], i, a[0] - a[1] * cos(x) + a[2] * cos(2 * x));
    }
    return KRT_OK;
}

const krt_kernel_info krt_kernel_window = {
    "window", window_run, NULL, NULL, sizeof(krt_window_desc),
};

static double hz_to_mel(double hz) { return 2595.0 * log10(1.0 + hz / 700.0); }
static double mel_to_hz(double mel) { return 700.0 * (pow(10.0, mel / 2595.0) - 1.0); }

/* The spectrogram bin of band edge e (0 .. num_mel_bins + 1), as the ONNX
 * reference computes it (its mel step divides by num_mel_bins + 2); false
 * when it falls outside the dft_length / 2 + 1 bins. */
static int mel_edge(int64_t e, int64_t num_mel_bins, int64_t dft_length, int64_t sample_rate,
                    double lower_hz, double upper_hz, int64_t *bin)
{
    double lo = hz_to_mel(lower_hz), hi = hz_to_mel(upper_hz);
    double step = (hi - lo) / (double)(num_mel_bins + 2);
    double hz = mel_to_hz((double)e * step + lo);
    double b = floor((double)(dft_length + 1) * hz / (double)sample_rate);
    if (!(b >= 0 && b < (double)(dft_length / 2 + 1)))
        return 0;
    *bin = (int64_t)b;
    return 1;
}

static krt_status mel_weight_matrix(void *dst, krt_dtype dt, int64_t num_mel_bins,
                                    int64_t dft_length, int64_t sample_rate, double lower_hz,
                                    double upper_hz)
{
    int64_t n_spec = dft_length / 2 + 1, m = num_mel_bins;
    memset(dst, 0, (size_t)(n_spec * m) * krt_dtype_size(dt));
    for (int64_t i = 0; i < m; i++) {
        int64_t b[3];  /* left, center, right */
        for (int e = 0; e < 3; e++)
            if (!mel_edge(i + e, m, dft_length, sample_rate, lower_hz, upper_hz, &b[e]))
                return KRT_EVALUE;
        if (b[1] == b[0])
            krt_store_f64(dt, dst, b[1] * m + i, 1.0);
        for (int64_t j = b[0]; j <= b[1] && b[1] > b[0]; j++)
            krt_store_f64(dt, dst, j * m + i, (double)(j - b[0]) / (double)(b[1] - b[0]));
        for (int64_t j = b[1]; j < b[2]; j++)
            krt_store_f64(dt, dst, j * m + i, (double)(b[2] - j) / (double)(b[2] - b[1]));
    }
    return KRT_OK;
}

static krt_status mel_weights_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                                  krt_error *err)
{
    const krt_mel_weights_desc *d = desc;
    (void)scratch, (void)r;
    krt_status st = mel_weight_matrix(ops[0], d->dtype, d->num_mel_bins, d->dft_length,
                                      d->sample_rate, d->lower_hz, d->upper_hz);
    if (st == KRT_EVALUE)
        err->what = "a mel band edge falls outside the spectrum (upper_edge_hertz above sample_rate / 2?)";
    return st;
}

const krt_kernel_info krt_kernel_mel_weights = {
    "mel_weights", mel_weights_run, NULL, NULL, sizeof(krt_mel_weights_desc),
};

/* ---- non-max suppression ------------------------------------------------------ */

typedef struct box {
    float y0, x0, y1, x1; /* min and max corners */
} box;

static box load_box(const float *p, int center)
{
    box b;
    if (center) {
        b.x0 = p[0] - p[2] / 2, b.x1 = p[0] + p[2] / 2;
        b.y0 = p[1] - p[3] / 2, b.y1 = p[1] + p[3] / 2;
    } else {
        b.y0 = fminf(p[0], p[2]), b.y1 = fmaxf(p[0], p[2]);
        b.x0 = fminf(p[1], p[3]), b.x1 = fmaxf(p[1], p[3]);
    }
    return b;
}

/* Does a suppress b? Empty boxes suppress nothing. */
static int suppresses(box a, box b, float iou_threshold)
{
    float area_a = (a.y1 - a.y0) * (a.x1 - a.x0), area_b = (b.y1 - b.y0) * (b.x1 - b.x0);
    if (area_a <= 0 || area_b <= 0)
        return 0;
    float ih = fminf(a.y1, b.y1) - fmaxf(a.y0, b.y0), iw = fminf(a.x1, b.x1) - fmaxf(a.x0, b.x0);
    float inter = (ih > 0 ? ih : 0) * (iw > 0 ? iw : 0), uni = area_a + area_b - inter;
    return uni > 0 && inter / uni > iou_threshold;
}

static int cmp_score_desc(const void *ctx, int64_t a, int64_t b)
{
    const float *s = ctx;
    return (s[a] < s[b]) - (s[a] > s[b]);
}

size_t krt_nms_scratch_size(int64_t n_boxes)
{
    return (size_t)(3 * (n_boxes > 0 ? n_boxes : 1)) * sizeof(int64_t);
}

/* One (batch, class): candidates above the threshold, by score, greedily. */
static int64_t nms_class(int64_t *keep, const float *boxes, const float *scores, int64_t n,
                         int64_t max_out, float iou_thr, float score_thr, int has_thr,
                         int center, int64_t *work)
{
    int64_t *cand = work, *tmp = work + n, m = 0, kept = 0;
    for (int64_t i = 0; i < n; i++)
        if (!has_thr || scores[i] > score_thr)
            cand[m++] = i;
    krt_sort_stable(cand, tmp, m, cmp_score_desc, scores);
    for (int64_t c = 0; c < m && kept < max_out; c++) {
        box b = load_box(boxes + 4 * cand[c], center);
        int ok = 1;
        for (int64_t s = 0; s < kept && ok; s++)
            ok = !suppresses(load_box(boxes + 4 * keep[s], center), b, iou_thr);
        if (ok)
            keep[kept++] = cand[c];
    }
    return kept;
}

int64_t krt_nms(int64_t *selected, const float *boxes, const float *scores, int64_t batches,
                int64_t classes, int64_t n_boxes, int64_t max_per_class, float iou_threshold,
                float score_threshold, int has_score_threshold, int center_point_box,
                void *scratch)
{
    int64_t *work = scratch, *keep = work + 2 * n_boxes, total = 0;
    if (max_per_class <= 0)
        return 0;
    for (int64_t b = 0; b < batches; b++)
        for (int64_t c = 0; c < classes; c++) {
            int64_t k = nms_class(keep, boxes + b * n_boxes * 4, scores + (b * classes + c) * n_boxes,
                                  n_boxes, max_per_class, iou_threshold, score_threshold,
                                  has_score_threshold, center_point_box, work);
            for (int64_t i = 0; i < k; i++, total++)
                if (selected) {
                    selected[3 * total] = b;
                    selected[3 * total + 1] = c;
                    selected[3 * total + 2] = keep[i];
                }
        }
    return total;
}

static size_t nms_scratch(const void *desc)
{
    return krt_nms_scratch_size(((const krt_nms_desc *)desc)->n_boxes);
}

static krt_status nms_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                          krt_error *err)
{
    const krt_nms_desc *d = desc;
    (void)r;
    if (d->dtype != KRT_F32)
        return KRT_EDTYPE;
    if (krt_nms(NULL, ops[0], ops[1], d->batches, d->classes, d->n_boxes, d->max_per_class,
                d->iou_threshold, d->score_threshold, d->has_score_threshold,
                d->center_point_box, scratch) != d->rows) {
        err->what = "the selection does not have the size inference gave it";
        return KRT_EVALUE;
    }
    krt_nms(ops[2], ops[0], ops[1], d->batches, d->classes, d->n_boxes, d->max_per_class,
            d->iou_threshold, d->score_threshold, d->has_score_threshold, d->center_point_box,
            scratch);
    return KRT_OK;
}

const krt_kernel_info krt_kernel_nms = {
    "nms", nms_run, nms_scratch, NULL, sizeof(krt_nms_desc),
};

/* ---- DFT / STFT ------------------------------------------------------------------- */

/* A transform of length n on x (n complex numbers, re/im interleaved).
 * A power-of-two n runs the radix-2 FFT directly; any other n runs
 * Bluestein's chirp-z: the DFT written as a convolution of length m (a
 * power of two >= 2n - 1), done with three FFTs -- O(n log n) for every n. */
typedef struct plan {
    int64_t n, m;      /* m = 0 when n is a power of two */
    double *x;         /* n: input, then output */
    double *tw;        /* twiddles of the radix-2 FFT of length n (or m) */
    double *chirp;     /* n: exp(sign i pi k^2 / n) */
    double *bf;        /* m: FFT of the wrapped conjugate chirp */
    double *work;      /* m */
} plan;

static int is_pow2(int64_t n) { return n > 0 && (n & (n - 1)) == 0; }

static int64_t bluestein_len(int64_t n)
{
    int64_t m = 1;
    while (m < 2 * n - 1)
        m <<= 1;
    return m;
}

static size_t dft_scratch_size(int64_t n_fft)
{
    int64_t n = n_fft > 0 ? n_fft : 1, m = is_pow2(n) ? 0 : bluestein_len(n);
    return (size_t)(m ? 2 * (2 * n + 3 * m) : 4 * n) * sizeof(double);
}

/* tw[k] = exp(sign 2 pi i k / n) for k < n / 2. */
static void twiddles(double *tw, int64_t n, double sign)
{
    for (int64_t k = 0; k < n / 2; k++) {
        double a = 2 * PI * (double)k / (double)n;
        tw[2 * k] = cos(a), tw[2 * k + 1] = sign * sin(a);
    }
}

/* In-place radix-2 FFT of n (a power of two) complex numbers. */
static void fft(double *x, int64_t n, const double *tw)
{
    for (int64_t i = 1, j = 0; i < n; i++) {  /* bit-reversal permutation */
        int64_t bit = n >> 1;
        for (; j & bit; bit >>= 1)
            j ^= bit;
        j ^= bit;
        if (i < j)
            for (int c = 0; c < 2; c++) {
                double t = x[2 * i + c];
                x[2 * i + c] = x[2 * j + c], x[2 * j + c] = t;
            }
    }
    for (int64_t len = 2; len <= n; len <<= 1)
        for (int64_t i = 0; i < n; i += len)
            for (int64_t k = 0; k < len / 2; k++) {
                const double *w = tw + 2 * (k * (n / len));
                double *u = x + 2 * (i + k), *v = x + 2 * (i + k + len / 2);
                double vr = v[0] * w[0] - v[1] * w[1], vi = v[0] * w[1] + v[1] * w[0];
                v[0] = u[0] - vr, v[1] = u[1] - vi;
                u[0] += vr, u[1] += vi;
            }
}

/* a *= b (complex), n numbers; conj_b uses conj(b). */
static void cmul(double *a, const double *b, int64_t n, int conj_b)
{
    for (int64_t k = 0; k < n; k++) {
        double br = b[2 * k], bi = conj_b ? -b[2 * k + 1] : b[2 * k + 1];
        double r = a[2 * k] * br - a[2 * k + 1] * bi;
        a[2 * k + 1] = a[2 * k] * bi + a[2 * k + 1] * br;
        a[2 * k] = r;
    }
}

static void bluestein_init(plan *p, double sign)
{
    int64_t n = p->n, m = p->m, q = 0;  /* q = k^2 mod 2n, kept exact */
    twiddles(p->tw, m, -1.0);
    memset(p->bf, 0, (size_t)(2 * m) * sizeof(double));
    for (int64_t k = 0; k < n; k++, q = (q + 2 * k - 1) % (2 * n)) {
        double a = PI * (double)q / (double)n;
        p->chirp[2 * k] = cos(a), p->chirp[2 * k + 1] = sign * sin(a);
        p->bf[2 * k] = p->chirp[2 * k], p->bf[2 * k + 1] = -p->chirp[2 * k + 1];
        if (k > 0)
            p->bf[2 * (m - k)] = p->bf[2 * k], p->bf[2 * (m - k) + 1] = p->bf[2 * k + 1];
    }
    fft(p->bf, m, p->tw);
}

static void plan_init(plan *p, int64_t n, int inverse, void *scratch)
{
    double *d = scratch, sign = inverse ? 1.0 : -1.0;
    int64_t m = is_pow2(n) ? 0 : bluestein_len(n);
    *p = (plan){.n = n, .m = m, .x = d, .tw = d + 2 * n};
    if (!m) {
        twiddles(p->tw, n, sign);
        return;
    }
    p->chirp = p->tw + 2 * m, p->bf = p->chirp + 2 * n, p->work = p->bf + 2 * m;
    bluestein_init(p, sign);
}

/* X_k = chirp_k * sum_j (x_j chirp_j) conj(chirp_(k-j)): the sum is a
 * circular convolution of length m, computed as ifft(fft(a) * bf) with
 * ifft(y) = conj(fft(conj(y))) / m. */
static void bluestein_run(const plan *p)
{
    int64_t n = p->n, m = p->m;
    memset(p->work, 0, (size_t)(2 * m) * sizeof(double));
    memcpy(p->work, p->x, (size_t)(2 * n) * sizeof(double));
    cmul(p->work, p->chirp, n, 0);
    fft(p->work, m, p->tw);
    cmul(p->work, p->bf, m, 0);
    for (int64_t k = 0; k < m; k++)
        p->work[2 * k + 1] = -p->work[2 * k + 1];
    fft(p->work, m, p->tw);
    for (int64_t k = 0; k < n; k++) {
        p->x[2 * k] = p->work[2 * k] / (double)m;
        p->x[2 * k + 1] = -p->work[2 * k + 1] / (double)m;
    }
    cmul(p->x, p->chirp, n, 0);
}

static void plan_run(const plan *p)
{
    if (p->m)
        bluestein_run(p);
    else
        fft(p->x, p->n, p->tw);
}

static krt_status dft(void *dst, const void *src, krt_dtype dt, int64_t outer, int64_t sig_len,
                      int64_t inner, int c_in, int64_t n_fft, int64_t n_out, int inverse,
                      void *scratch)
{
    plan p;
    if (!is_float(dt))
        return KRT_EDTYPE;
    plan_init(&p, n_fft, inverse, scratch);
    int64_t used = sig_len < n_fft ? sig_len : n_fft;
    double scale = inverse ? 1.0 / (double)n_fft : 1.0;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            memset(p.x, 0, (size_t)(2 * n_fft) * sizeof(double));
            for (int64_t j = 0; j < used; j++) {
                int64_t at = ((o * sig_len + j) * inner + i) * c_in;
                p.x[2 * j] = krt_load_f64(dt, src, at);
                p.x[2 * j + 1] = c_in == 2 ? krt_load_f64(dt, src, at + 1) : 0.0;
            }
            plan_run(&p);
            for (int64_t k = 0; k < n_out; k++) {
                int64_t at = ((o * n_out + k) * inner + i) * 2;
                krt_store_f64(dt, dst, at, p.x[2 * k] * scale);
                krt_store_f64(dt, dst, at + 1, p.x[2 * k + 1] * scale);
            }
        }
    return KRT_OK;
}

static krt_status stft(void *dst, const void *signal, krt_dtype dt, int64_t batch,
                       int64_t sig_len, int c_in, int64_t step, int64_t frame_len,
                       const void *window, int64_t n_frames, int64_t n_out, void *scratch)
{
    plan p;
    if (!is_float(dt))
        return KRT_EDTYPE;
    plan_init(&p, frame_len, 0, scratch);
    for (int64_t b = 0; b < batch; b++)
        for (int64_t f = 0; f < n_frames; f++) {
            for (int64_t j = 0; j < frame_len; j++) {
                int64_t at = (b * sig_len + f * step + j) * c_in;
                double w = window ? krt_load_f64(dt, window, j) : 1.0;
                p.x[2 * j] = krt_load_f64(dt, signal, at) * w;
                p.x[2 * j + 1] = c_in == 2 ? krt_load_f64(dt, signal, at + 1) * w : 0.0;
            }
            plan_run(&p);
            for (int64_t k = 0; k < n_out; k++) {
                int64_t at = ((b * n_frames + f) * n_out + k) * 2;
                krt_store_f64(dt, dst, at, p.x[2 * k]);
                krt_store_f64(dt, dst, at + 1, p.x[2 * k + 1]);
            }
        }
    return KRT_OK;
}

static size_t dft_scratch(const void *desc)
{
    return dft_scratch_size(((const krt_dft_desc *)desc)->n_fft);
}

static krt_status dft_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                          krt_error *err)
{
    const krt_dft_desc *d = desc;
    (void)r, (void)err;
    return dft(ops[1], ops[0], d->dtype, d->outer, d->sig_len, d->inner, d->c_in, d->n_fft,
               d->n_out, d->inverse, scratch);
}

const krt_kernel_info krt_kernel_dft = {
    "dft", dft_run, dft_scratch, NULL, sizeof(krt_dft_desc),
};

static size_t stft_scratch(const void *desc)
{
    return dft_scratch_size(((const krt_stft_desc *)desc)->frame_len);
}

static krt_status stft_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                           krt_error *err)
{
    const krt_stft_desc *d = desc;
    (void)r, (void)err;
    return stft(ops[2], ops[0], d->dtype, d->batch, d->sig_len, d->c_in, d->step, d->frame_len,
                ops[1], d->n_frames, d->n_out, scratch);
}

const krt_kernel_info krt_kernel_stft = {
    "stft", stft_run, stft_scratch, NULL, sizeof(krt_stft_desc),
};
