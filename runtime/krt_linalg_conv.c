/* krt_linalg_conv.c — sliding-window geometry and the convolutions: Conv,
 * ConvTranspose, ConvInteger, QLinearConv, for any number of spatial dims.
 *
 * Conv is im2col + GEMM: for each image and group, the input patches that
 * one kernel position reads are gathered into the rows of a column matrix
 * (channels x kernel positions by output positions), and the weights (out
 * channels by channels x kernel positions) multiply it. Output positions
 * are processed in chunks so the column matrix stays within COL_BUDGET
 * elements whatever the image size. Pointwise convolutions skip the gather
 * (the input already is the column matrix) and 2-D depthwise ones (one
 * input channel per group) use direct loops.
 *
 * ConvTranspose is the mirror: GEMM first (weights transposed times the
 * input), then the columns are scattered and summed into the output
 * (col2im). Both directions share one index map: for a kernel position,
 * which "to" position each "from" position touches, or -1 in the padding.
 */
#include "runtime/krt_linalg.h"

#include "runtime/krt_vec.h"

#include <string.h>

enum {
    COL_BUDGET = 1 << 20,  /* elements of one column-matrix chunk */
    POS_BLOCK = 256,       /* output positions per Conv work unit */
    CH_BLOCK = 72,         /* output channels per Conv work unit */
};

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* ---- geometry ------------------------------------------------------------ */

/* Window parameters come from model attributes: bounding them keeps every
 * product below (2^31)^2 < 2^63, so the arithmetic below cannot overflow. */
#define PARAM_MAX ((int64_t)1 << 31)

static bool params_ok(int64_t in, int64_t kernel, int64_t stride, int64_t dilation)
{
    return in >= 0 && in <= PARAM_MAX && kernel >= 1 && kernel <= PARAM_MAX && stride >= 1 &&
           stride <= PARAM_MAX && dilation >= 1 && dilation <= PARAM_MAX;
}

static bool pad_ok(int64_t pad)
{
    return pad >= 0 && pad <= PARAM_MAX;
}

krt_status krt_window_dim(int64_t in, int64_t kernel, int64_t stride, int64_t dilation,
                          krt_auto_pad auto_pad, int ceil_mode,
                          int64_t *pad_begin, int64_t *pad_end, int64_t *out)
{
    if (!params_ok(in, kernel, stride, dilation))
        return KRT_EVALUE;
    int64_t dk = (kernel - 1) * dilation + 1;
    if (auto_pad == KRT_PAD_SAME_UPPER || auto_pad == KRT_PAD_SAME_LOWER) {
        *out = (in + stride - 1) / stride;
        int64_t total = max64(0, (*out - 1) * stride + dk - in);
        int64_t small = total / 2;
        *pad_begin = auto_pad == KRT_PAD_SAME_UPPER ? small : total - small;
        *pad_end = total - *pad_begin;
        return KRT_OK;
    }
    if (auto_pad == KRT_PAD_VALID)
        *pad_begin = *pad_end = 0;
    if (!pad_ok(*pad_begin) || !pad_ok(*pad_end))
        return KRT_EVALUE;
    int64_t span = in + *pad_begin + *pad_end - dk;
    if (span < 0)
        return KRT_EVALUE;
    *out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
    return KRT_OK;
}

krt_status krt_convtranspose_dim(int64_t in, int64_t kernel, int64_t stride, int64_t dilation,
                                 int64_t out_padding, krt_auto_pad auto_pad, int64_t out_shape,
                                 int64_t *pad_begin, int64_t *pad_end, int64_t *out)
{
    if (!params_ok(in, kernel, stride, dilation) || !pad_ok(out_padding) || out_shape > PARAM_MAX)
        return KRT_EVALUE;
    int64_t full = stride * (in - 1) + out_padding + (kernel - 1) * dilation + 1;
    bool same = auto_pad == KRT_PAD_SAME_UPPER || auto_pad == KRT_PAD_SAME_LOWER;
    if (out_shape > 0 || same) {
        /* an output larger than the full one gets zeros at the end */
        *out = out_shape > 0 ? out_shape : in * stride;
        int64_t total = max64(0, full - *out), small = total / 2;
        *pad_begin = auto_pad == KRT_PAD_SAME_UPPER ? small : total - small;
        *pad_end = total - *pad_begin;
        return KRT_OK;
    }
    if (auto_pad == KRT_PAD_VALID)
        *pad_begin = *pad_end = 0;
    if (!pad_ok(*pad_begin) || !pad_ok(*pad_end))
        return KRT_EVALUE;
    *out = full - *pad_begin - *pad_end;
    return *out < 0 ? KRT_EVALUE : KRT_OK;
}

/* ---- scratch carving ----------------------------------------------------- */

static size_t up64(size_t n) { return (n + 63) / 64 * 64; }

/* Takes `bytes` from the cursor, 64-byte aligned. */
static void *take(char **cur, size_t bytes)
{
    uintptr_t u = ((uintptr_t)*cur + 63) & ~(uintptr_t)63;
    *cur = (char *)u + up64(bytes);
    return (void *)u;
}

/* ---- index map shared by im2col and col2im ------------------------------- */

/* For one kernel position, "from" positions (a flat range of the from
 * grid) map to "to" positions: to = from*stride - pad + k*dilation. Conv
 * maps output -> input, ConvTranspose input -> output. */
typedef struct win_map {
    int nd;
    const int64_t *from, *to, *stride, *pad, *dil;
} win_map;

static void unflatten(int nd, const int64_t *dims, int64_t flat, int64_t *coord)
{
    for (int i = nd - 1; i >= 0; i--) {
        coord[i] = flat % dims[i];
        flat /= dims[i];
    }
}

/* Flat offset of the outer (all but last) "to" coordinates, or -1 if any
 * of them falls in the padding. */
static int64_t outer_offset(const win_map *w, const int64_t *kpos, const int64_t *c)
{
    int64_t off = 0;
    for (int i = 0; i < w->nd - 1; i++) {
        int64_t t = c[i] * w->stride[i] - w->pad[i] + kpos[i] * w->dil[i];
        if (t < 0 || t >= w->to[i])
            return -1;
        off = off * w->to[i] + t;
    }
    return off;
}

/* idx[j] = flat "to" offset of from-position p0 + j (j < n), or -1. */
static void map_row(const win_map *w, const int64_t *kpos, int64_t p0, int64_t n, int64_t *idx)
{
    int last = w->nd - 1;
    int64_t c[KRT_MAX_SPATIAL];
    unflatten(w->nd, w->from, p0, c);
    for (int64_t j = 0; j < n;) {
        int64_t base = outer_offset(w, kpos, c);
        int64_t run = min64(w->from[last] - c[last], n - j);
        int64_t shift = kpos[last] * w->dil[last] - w->pad[last];
        for (int64_t r = 0; r < run; r++) {
            int64_t t = (c[last] + r) * w->stride[last] + shift;
            idx[j + r] = base < 0 || t < 0 || t >= w->to[last] ? -1 : base * w->to[last] + t;
        }
        j += run;
        c[last] += run;
        for (int i = last; i > 0 && c[i] == w->from[i]; i--) {
            c[i] = 0;
            c[i - 1]++;
        }
    }
}

static win_map conv_map(const krt_conv_desc *d)
{
    win_map w = {d->nd, d->out, d->in, d->stride, d->pad, d->dilation};
    return w;
}

static win_map convtranspose_map(const krt_conv_desc *d)
{
    win_map w = {d->nd, d->in, d->out, d->stride, d->pad, d->dilation};
    return w;
}

/* ---- shared shape facts --------------------------------------------------- */

typedef struct conv_dims {
    int64_t in_total, out_total;      /* spatial element counts */
    int64_t kk;                       /* kernel positions */
    int64_t cg, mg;                   /* in / out channels per group */
    int64_t rows;                     /* cg * kk: GEMM depth of Conv */
    int64_t chunk;                    /* column-matrix width (positions per chunk) */
} conv_dims;

static conv_dims dims_of(const krt_conv_desc *d)
{
    conv_dims c;
    c.in_total = krt_numel(d->nd, d->in);
    c.out_total = krt_numel(d->nd, d->out);
    c.kk = krt_numel(d->nd, d->kernel);
    c.cg = d->in_ch / d->group;
    c.mg = d->out_ch / d->group;
    c.rows = c.cg * c.kk;
    c.chunk = 0;
    return c;
}

/* Positions per chunk so that rows x chunk stays within the budget. */
static int64_t chunk_for(int64_t rows, int64_t positions)
{
    int64_t c = COL_BUDGET / (rows > 0 ? rows : 1);
    return max64(1, min64(c < 64 ? 64 : c, positions));
}

/* Conv's chunk is also its block of output positions per work unit: a
 * few hundred keeps the GEMM efficient and gives images of any size
 * several units. */
static conv_dims conv_dims_of(const krt_conv_desc *d)
{
    conv_dims c = dims_of(d);
    c.chunk = min64(chunk_for(c.rows, c.out_total), POS_BLOCK);
    return c;
}

/* The float Conv's blocking: as conv_dims_of, but a 2-D depthwise conv
 * (direct loops, no column matrix) takes whole output planes per unit. */
static bool is_depthwise_2d(const krt_conv_desc *d);
static conv_dims float_dims_of(const krt_conv_desc *d)
{
    conv_dims c = conv_dims_of(d);
    if (is_depthwise_2d(d))
        c.chunk = max64(1, c.out_total);
    return c;
}

static conv_dims convtranspose_dims_of(const krt_conv_desc *d)
{
    conv_dims c = dims_of(d);
    c.chunk = chunk_for(c.mg * c.kk, c.in_total);
    return c;
}

static bool is_pointwise(const krt_conv_desc *d)
{
    for (int i = 0; i < d->nd; i++)
        if (d->kernel[i] != 1 || d->stride[i] != 1 || d->pad[i] != 0 || d->in[i] != d->out[i])
            return false;
    return true;
}

static bool is_depthwise_2d(const krt_conv_desc *d)
{
    return d->nd == 2 && d->in_ch == d->group;
}

static int64_t blocks(int64_t n, int64_t size)
{
    return (n + size - 1) / size;
}

/* ---- Conv's work units -------------------------------------------------------- */

/* A unit is a block of Y: image n, group g, output channels [m0, m0 + nm)
 * of the group, output positions [p0, p0 + np). Numbered with the channel
 * block innermost, so consecutive units share one column matrix. Every
 * output element is one GEMM dot product whatever the block, so the
 * results do not depend on how the units are split. */
typedef struct conv_unit {
    int64_t n, g, m0, nm, p0, np;
    int64_t cols;                     /* (n, g, position block): the im2col it needs */
} conv_unit;

static int64_t conv_unit_count(const krt_conv_desc *d, const conv_dims *c)
{
    return d->batch * d->group * blocks(c->out_total, c->chunk) * blocks(c->mg, CH_BLOCK);
}

static conv_unit conv_unit_at(const krt_conv_desc *d, const conv_dims *c, int64_t u)
{
    int64_t mb = blocks(c->mg, CH_BLOCK), pb = blocks(c->out_total, c->chunk);
    conv_unit t;
    t.m0 = u % mb * CH_BLOCK;
    t.nm = min64(CH_BLOCK, c->mg - t.m0);
    t.cols = u / mb;
    t.p0 = t.cols % pb * c->chunk;
    t.np = min64(c->chunk, c->out_total - t.p0);
    t.g = t.cols / pb % d->group;
    t.n = t.cols / pb / d->group;
    return t;
}

/* ---- float Conv (f32, f64 through one macro) --------------------------- */

/* col (rows x n) for positions p0.. of a group's input planes x. */
#define IM2COL(name, T)                                                          \
    static void name(const krt_conv_desc *d, const conv_dims *c, const T *x,     \
                     int64_t p0, int64_t n, T padv, int64_t *idx, T *col)        \
    {                                                                            \
        win_map w = conv_map(d);                                                 \
        int64_t kpos[KRT_MAX_SPATIAL];                                           \
        for (int64_t k = 0; k < c->kk; k++) {                                    \
            unflatten(d->nd, d->kernel, k, kpos);                                \
            map_row(&w, kpos, p0, n, idx);                                       \
            for (int64_t ch = 0; ch < c->cg; ch++) {                             \
                const T *plane = x + ch * c->in_total;                           \
                T *dst = col + (ch * c->kk + k) * n;                             \
                for (int64_t j = 0; j < n; j++)                                  \
                    dst[j] = idx[j] < 0 ? padv : plane[idx[j]];                  \
            }                                                                    \
        }                                                                        \
    }
IM2COL(im2col_f64, double)
IM2COL(im2col_i32, int32_t)

/* planes rows of n elements (leading dimension ld) = bias or 0. */
#define FILL_BIAS(name, T)                                                       \
    static void name(int64_t planes, int64_t n, int64_t ld, const T *bias, T *y) \
    {                                                                            \
        for (int64_t m = 0; m < planes; m++)                                     \
            for (int64_t j = 0; j < n; j++)                                      \
                y[m * ld + j] = bias ? bias[m] : (T)0;                           \
    }
FILL_BIAS(fill_bias_f32, float)
FILL_BIAS(fill_bias_f64, double)

/* Direct 2-D depthwise loops over output positions [p0, p0 + np): out
 * channel m reads input channel m / mg. */
#define DEPTHWISE(name, T)                                                       \
    static void name(const krt_conv_desc *d, const T *x, const T *w, T *y,       \
                     int64_t p0, int64_t np)                                     \
    {                                                                            \
        int64_t H = d->in[0], W = d->in[1], OW = d->out[1];                      \
        int64_t KH = d->kernel[0], KW = d->kernel[1];                            \
        for (int64_t p = p0; p < p0 + np; p++) {                                 \
            int64_t oh = p / OW, ow = p % OW;                                    \
            T acc = y[p];                                                        \
            for (int64_t kh = 0; kh < KH; kh++) {                                \
                int64_t ih = oh * d->stride[0] - d->pad[0] + kh * d->dilation[0]; \
                if (ih < 0 || ih >= H)                                           \
                    continue;                                                    \
                for (int64_t kw = 0; kw < KW; kw++) {                            \
                    int64_t iw = ow * d->stride[1] - d->pad[1] + kw * d->dilation[1]; \
                    if (iw >= 0 && iw < W)                                       \
                        acc += x[ih * W + iw] * w[kh * KW + kw];                 \
                }                                                                \
            }                                                                    \
            y[p] = acc;                                                          \
        }                                                                        \
    }
DEPTHWISE(depthwise_f64, double)

/* Units [u0, u1) of Conv in f64: bias, then the GEMM of the channel
 * block's weights with the position block's columns (direct loops for
 * 2-D depthwise, no im2col for pointwise). */
#define CONV_FLOAT(name, T, DT, IM2COL_FN, FILL_FN, DEPTHWISE_FN)                \
    static void name(const krt_conv_desc *d, const T *X, const T *W, const T *B, \
                     T *Y, int64_t u0, int64_t u1, void *scratch)                \
    {                                                                            \
        conv_dims c = float_dims_of(d);                                          \
        char *cur = scratch;                                                     \
        T *col = take(&cur, (size_t)(c.rows * c.chunk) * sizeof(T));             \
        int64_t *idx = take(&cur, (size_t)c.chunk * sizeof(int64_t));            \
        bool pointwise = is_pointwise(d), dw = is_depthwise_2d(d);               \
        int64_t have = -1;                                                       \
        for (int64_t u = u0; u < u1; u++) {                                      \
            conv_unit t = conv_unit_at(d, &c, u);                                \
            const T *x = X + (t.n * d->in_ch + t.g * c.cg) * c.in_total;         \
            const T *w = W + (t.g * c.mg + t.m0) * c.rows;                       \
            T *y = Y + (t.n * d->out_ch + t.g * c.mg + t.m0) * c.out_total;      \
            FILL_FN(t.nm, t.np, c.out_total, B ? B + t.g * c.mg + t.m0 : NULL, y + t.p0); \
            if (dw) {                                                            \
                for (int64_t m = 0; m < t.nm; m++)                               \
                    DEPTHWISE_FN(d, x, w + m * c.kk, y + m * c.out_total, t.p0, t.np); \
            } else if (pointwise) {                                              \
                krt_gemm(DT, t.nm, t.np, c.cg, 1.0, w, c.rows, 1, x + t.p0,      \
                         c.in_total, 1, 1.0, y + t.p0, c.out_total, cur);        \
            } else {                                                             \
                if (t.cols != have)                                              \
                    IM2COL_FN(d, &c, x, t.p0, t.np, (T)0, idx, col);             \
                have = t.cols;                                                   \
                krt_gemm(DT, t.nm, t.np, c.rows, 1.0, w, c.rows, 1, col, t.np,   \
                         1, 1.0, y + t.p0, c.out_total, cur);                    \
            }                                                                    \
        }                                                                        \
    }
CONV_FLOAT(conv_f64, double, KRT_F64, im2col_f64, fill_bias_f64, depthwise_f64)

/* ---- f32 Conv: GEMM on the micro-kernel with the epilogue --------------------
 *
 * The f32 GEMM paths hand the bias (one per output channel: a per-row
 * bias of the GEMM, W being A and the columns B), the activation and the
 * residual to krt_sgemm's epilogue, which applies them in registers
 * before the one store of each tile of Y. The columns of a position block
 * are gathered once straight into the micro-kernel's packed B layout
 * (im2col_packed_f32; for a pointwise conv the input rows themselves,
 * packed by krt_sgemm_pack_b), and every channel-block unit of that block
 * multiplies the packed copy in place (krt_sgemm_packed_ex): before, the
 * chunk went through a column matrix and then each unit's GEMM packed it
 * again. Units are numbered with the channel block innermost, so a
 * thread's consecutive units share one packed block. The packed and the
 * unpacked product are bit-identical (krt_linalg.h), and every output
 * element is one dot product in a K order fixed by K alone, so how the
 * units are split over threads does not change a bit.
 *
 * 2-D depthwise convs run direct loops instead, vectorized over the
 * output plane (dw_plane_f32), one unit per input plane; their
 * epilogue runs on the finished plane through the same GEMM epilogue
 * code (a depth-0 krt_sgemm_ex: C = act(C) + R), while it is in cache. */

typedef struct conv_epi {
    krt_gemm_act act;
    float lo, hi;
    const float *residual;            /* R, Y's layout; NULL: none */
} conv_epi;

/* 2-D depthwise planes. The input plane is first copied into zero-padded
 * phase planes: with strides (sh, sw), phase (a, b) holds the padded
 * input's rows a, a + sh, ... and columns b, b + sw, ..., Hq x Wq each
 * (stride 1: one plane, the padded input itself). Output (oh, ow) reads
 * tap (kh, kw) at row oh + kh*dh / sh, column ow + kw*dw / sw of phase
 * (kh*dh % sh, kw*dw % sw): computed at row pitch Wq (yp), every tap is
 * one flat shift over the whole plane, no bounds check, and the vector
 * loop runs over the plane rather than over rows that may be narrower
 * than a vector (7 and 14 columns in MobileNet's last stages) or strided.
 * Tap by tap (kh, then kw), yp += w(kh, kw) * (the shifted phase): every
 * element sums its taps in the same order from its bias as the direct
 * loop per element did, the columns in parallel instead of through one
 * accumulator. A padding tap adds w * 0, which leaves the sum as it was
 * (only a -0 sum becomes +0, and a non-finite weight gives NaN, as the
 * im2col path and ONNX's zero padding do). The columns past OW of each
 * row of yp are scratch; the OW valid ones go to y at the end. */
typedef struct dw_geo {
    int64_t Hq, Wq;                   /* a phase plane (one more row than read: overrun) */
    int64_t phases;                   /* sh * sw */
} dw_geo;

static dw_geo dw_geo_of(const krt_conv_desc *d)
{
    dw_geo g;
    int64_t sh = d->stride[0], sw = d->stride[1];
    int64_t Wp = (d->out[1] - 1) * sw + (d->kernel[1] - 1) * d->dilation[1] + 1;
    g.Wq = (Wp + sw - 1) / sw;
    g.Hq = d->out[0] + (d->kernel[0] - 1) * d->dilation[0] / sh + 1;
    g.phases = sh * sw;
    return g;
}

/* Floats of the depthwise scratch: the phase planes, and yp. */
static int64_t dw_scratch_numel(const krt_conv_desc *d)
{
    dw_geo g = dw_geo_of(d);
    return g.phases * g.Hq * g.Wq + d->out[0] * g.Wq + 32;
}

static void dw_phases(const krt_conv_desc *d, const dw_geo *g, const float *x, float *xq)
{
    int64_t H = d->in[0], W = d->in[1], sh = d->stride[0], sw = d->stride[1];
    for (int64_t a = 0; a < sh; a++)
        for (int64_t b = 0; b < sw; b++) {
            float *q = xq + (a * sw + b) * g->Hq * g->Wq;
            for (int64_t r = 0; r < g->Hq; r++) {
                int64_t ih = r * sh + a - d->pad[0];
                float *dst = q + r * g->Wq;
                if (ih < 0 || ih >= H) {
                    memset(dst, 0, (size_t)g->Wq * sizeof *dst);
                    continue;
                }
                /* columns c with 0 <= c*sw + off < W: [c0, c1) */
                int64_t off = b - d->pad[1];
                int64_t c0 = min64(g->Wq, off >= 0 ? 0 : (-off + sw - 1) / sw);
                int64_t c1 = max64(c0, min64(g->Wq, W - off <= 0 ? 0 : (W - off - 1) / sw + 1));
                const float *src = x + ih * W + off;
                memset(dst, 0, (size_t)c0 * sizeof *dst);
                if (sw == 1)
                    memcpy(dst + c0, src + c0, (size_t)(c1 - c0) * sizeof *dst);
                else
                    for (int64_t c = c0; c < c1; c++)
                        dst[c] = src[c * sw];
                memset(dst + c1, 0, (size_t)(g->Wq - c1) * sizeof *dst);
            }
        }
}

/* y (OH x OW) += the taps of w over the phase planes, y holding the bias
 * or 0; yp the plane at pitch Wq. */
static void dw_plane_f32(const krt_conv_desc *d, const dw_geo *g, const float *xq, const float *w,
                         float *y, float *yp)
{
    int64_t OH = d->out[0], OW = d->out[1], KH = d->kernel[0], KW = d->kernel[1];
    int64_t sh = d->stride[0], sw = d->stride[1], Wq = g->Wq, n = OH * Wq;
    for (int64_t r = 0; r < OH; r++) {
        memcpy(yp + r * Wq, y + r * OW, (size_t)OW * sizeof *y);
        memset(yp + r * Wq + OW, 0, (size_t)(Wq - OW) * sizeof *y);
    }
    for (int64_t kh = 0; kh < KH; kh++)
        for (int64_t kw = 0; kw < KW; kw++) {
            int64_t th = kh * d->dilation[0], tw = kw * d->dilation[1];
            const float *xs = xq + (th % sh * sw + tw % sw) * g->Hq * Wq + th / sh * Wq + tw / sw;
            float wk = w[kh * KW + kw];
            int64_t q = 0;
#ifdef KRT_HAVE_VEC
            for (; q + VF <= n; q += VF)
                *(vfu *)(yp + q) += *(const vfu *)(xs + q) * wk;
#endif
            for (; q < n; q++)
                yp[q] += xs[q] * wk;
        }
    for (int64_t r = 0; r < OH; r++)
        memcpy(y + r * OW, yp + r * Wq, (size_t)OW * sizeof *y);
}

/* im2col straight into the micro-kernel's packed B layout (the one
 * krt_sgemm_pack_b builds from a column matrix, krt_linalg_gemm.c "B
 * packed ahead of time"): K = cg * kk rows cut into slices of depth ds,
 * each slice a run of panels of nr columns, row by row. Column matrix
 * element (k, j) lands at k0*Np + (j/nr)*nr*ds + (k-k0)*nr + j%nr (k0 the
 * first row of k's slice, Np = np rounded up to nr); columns past np are
 * zero. Gathering into the panels directly skips the column matrix and
 * the copy the GEMM would make of it. */
static void im2col_packed_f32(const krt_conv_desc *d, const conv_dims *c, const float *x,
                              int64_t p0, int64_t np, int nr, int64_t depth, int64_t *idx,
                              float *packed)
{
    win_map w = conv_map(d);
    int64_t kpos[KRT_MAX_SPATIAL], K = c->rows, Np = (np + nr - 1) / nr * nr;
    for (int64_t k = 0; k < c->kk; k++) {
        unflatten(d->nd, d->kernel, k, kpos);
        map_row(&w, kpos, p0, np, idx);
        for (int64_t ch = 0; ch < c->cg; ch++) {
            const float *plane = x + ch * c->in_total;
            int64_t row = ch * c->kk + k, k0 = row / depth * depth, ds = min64(depth, K - k0);
            float *dst = packed + k0 * Np + (row - k0) * nr;
            for (int64_t j0 = 0; j0 < Np; j0 += nr, dst += nr * ds) {
                int64_t n = min64(nr, np - j0);
                for (int64_t j = 0; j < n; j++)
                    dst[j] = idx[j0 + j] < 0 ? 0.0f : plane[idx[j0 + j]];
                for (int64_t j = n; j < nr; j++)
                    dst[j] = 0.0f;
            }
        }
    }
}

/* The depth of the packed layout's K slices for a largest slice kc (as
 * krt_linalg_gemm.c cuts K: equal slices of at most kc). */
static int64_t packed_slice_depth(int kc, int64_t K)
{
    int64_t slices = (K + kc - 1) / kc;
    return (K + slices - 1) / slices;
}

/* Floats of a packed column block for any kernel: chunk columns rounded
 * up to its register width (at most 64; 12 on NEON rounds 256 up to 264,
 * past a multiple of 64). The scratch is sized where the compiler runs,
 * which may not be where the kernel is picked. */
static int64_t packed_cols_numel(const conv_dims *c, int64_t depth)
{
    return depth * (c->chunk + 64);
}

static void conv_f32(const krt_conv_desc *d, const float *X, const float *W, const float *B,
                     float *Y, int64_t u0, int64_t u1, void *scratch, const conv_epi *ep)
{
    conv_dims c = float_dims_of(d);
    bool pointwise = is_pointwise(d), dw = is_depthwise_2d(d);
    int64_t depth = pointwise ? c.cg : c.rows;
    char *cur = scratch;
    float *packed = NULL, *xp = NULL, *yp = NULL;
    int64_t *idx = NULL;
    dw_geo g = {0, 0, 0};
    if (dw) {
        g = dw_geo_of(d);
        xp = take(&cur, (size_t)(g.phases * g.Hq * g.Wq) * sizeof(float));
        yp = take(&cur, (size_t)(d->out[0] * g.Wq) * sizeof(float));
    } else {
        packed = take(&cur, (size_t)packed_cols_numel(&c, depth) * sizeof(float));
        idx = take(&cur, (size_t)c.chunk * sizeof(int64_t));
    }
    int nr, kc;   /* the packed layout of the kernel krt_sgemm runs here */
    krt_sgemm_pack_geometry(NULL, &nr, &kc);
    int64_t have = -1;
    for (int64_t u = u0; u < u1; u++) {
        conv_unit t = conv_unit_at(d, &c, u);
        const float *x = X + (t.n * d->in_ch + t.g * c.cg) * c.in_total;
        const float *w = W + (t.g * c.mg + t.m0) * c.rows;
        int64_t at = (t.n * d->out_ch + t.g * c.mg + t.m0) * c.out_total + t.p0;
        krt_sgemm_epilogue e = {.bias = B ? B + t.g * c.mg + t.m0 : NULL, .bias_rs = 1,
                                .bias_cs = 0, .bias_scale = 1.0f};
        if (ep) {
            e.act = ep->act, e.lo = ep->lo, e.hi = ep->hi;
            e.residual = ep->residual ? ep->residual + at : NULL;
            e.residual_ld = c.out_total;
        }
        if (dw) {   /* a unit is whole planes (p0 0): nm outputs of one input plane */
            fill_bias_f32(t.nm, t.np, c.out_total, e.bias, Y + at);
            dw_phases(d, &g, x, xp);
            for (int64_t m = 0; m < t.nm; m++)
                dw_plane_f32(d, &g, xp, w + m * c.kk, Y + at + m * c.out_total, yp);
            if (e.act != KRT_GEMM_ACT_NONE || e.residual) {
                e.bias = NULL;  /* already in: the epilogue alone, C = act(C) + R */
                krt_sgemm_ex(t.nm, t.np, 0, 1.0f, Y + at, 0, 0, Y + at, 0, 0, 1.0f, Y + at,
                             c.out_total, &e, cur);
            }
            continue;
        }
        if (t.cols != have) {   /* this position block's columns, packed once */
            if (pointwise)
                krt_sgemm_pack_b(depth, t.np, x + t.p0, c.in_total, 1, nr, kc, packed);
            else
                im2col_packed_f32(d, &c, x, t.p0, t.np, nr, packed_slice_depth(kc, depth), idx,
                                  packed);
            have = t.cols;
        }
        krt_sgemm_packed_ex(t.nm, t.np, depth, 1.0f, w, c.rows, 1, packed, nr, kc, 0.0f, Y + at,
                            c.out_total, &e, cur);
    }
}

/* ---- f16: widen to f32, convolve, narrow ----------------------------------- */

typedef struct promoted {
    int64_t nx, nw, nb, ny;           /* element counts of X, W, B, Y */
} promoted;

static promoted promoted_counts(const krt_conv_desc *d, bool transpose)
{
    conv_dims c = dims_of(d);
    promoted p = {d->batch * d->in_ch * c.in_total, 0, d->out_ch, d->batch * d->out_ch * c.out_total};
    p.nw = transpose ? d->in_ch * c.mg * c.kk : d->out_ch * c.cg * c.kk;
    return p;
}

static size_t promoted_bytes(const krt_conv_desc *d, bool transpose)
{
    promoted p = promoted_counts(d, transpose);
    return up64((size_t)p.nx * 4) + up64((size_t)p.nw * 4) + up64((size_t)p.nb * 4) +
           up64((size_t)p.ny * 4) + 64;
}

/* f16 operands widened into f32 scratch; *rest is the scratch after them. */
typedef struct widened {
    float *x, *w, *b, *y;
    void *rest;
} widened;

static widened widen_all(const krt_conv_desc *d, bool transpose, const void *X, const void *W,
                         const void *B, void *scratch)
{
    promoted p = promoted_counts(d, transpose);
    char *cur = scratch;
    widened v;
    v.x = take(&cur, (size_t)p.nx * 4), v.w = take(&cur, (size_t)p.nw * 4);
    v.b = take(&cur, (size_t)p.nb * 4), v.y = take(&cur, (size_t)p.ny * 4);
    v.rest = take(&cur, 0);
    krt_widen_f32(d->dtype, X, v.x, p.nx);
    krt_widen_f32(d->dtype, W, v.w, p.nw);
    if (B)
        krt_widen_f32(d->dtype, B, v.b, p.nb);
    else
        v.b = NULL;
    return v;
}

/* Narrows the block of Y that Conv unit u computed. */
static void narrow_conv_unit(const krt_conv_desc *d, const conv_dims *c, int64_t u,
                             const float *y, void *Y)
{
    conv_unit t = conv_unit_at(d, c, u);
    for (int64_t m = t.m0; m < t.m0 + t.nm; m++) {
        int64_t at = (t.n * d->out_ch + t.g * c->mg + m) * c->out_total + t.p0;
        krt_narrow_f32(d->dtype, y + at, (uint16_t *)Y + at, t.np);
    }
}

static void conv_f16(const krt_conv_desc *d, const void *X, const void *W, const void *B,
                     void *Y, int64_t u0, int64_t u1, void *scratch)
{
    conv_dims c = float_dims_of(d);
    widened v = widen_all(d, false, X, W, B, scratch);
    conv_f32(d, v.x, v.w, v.b, v.y, u0, u1, v.rest, NULL);
    for (int64_t u = u0; u < u1; u++)
        narrow_conv_unit(d, &c, u, v.y, Y);
}

/* ---- kernels `conv` and `conv_epi` ------------------------------------------- */

static int64_t conv_units(const void *desc)
{
    const krt_conv_desc *d = desc;
    conv_dims c = float_dims_of(d);
    return max64(1, conv_unit_count(d, &c));
}

/* conv_f32's scratch: the packed column block and the GEMM's own
 * (depthwise: only the epilogue pass's). */
static size_t conv_f32_scratch(const krt_conv_desc *d)
{
    conv_dims c = float_dims_of(d);
    int64_t mb = min64(c.mg, CH_BLOCK);
    if (is_depthwise_2d(d))
        return up64((size_t)dw_scratch_numel(d) * 4) + krt_sgemm_scratch_size(mb, c.chunk, 0) +
               3 * 64;
    int64_t depth = is_pointwise(d) ? c.cg : c.rows;
    return up64((size_t)packed_cols_numel(&c, depth) * 4) + up64((size_t)c.chunk * 8) +
           krt_sgemm_scratch_size(mb, c.chunk, depth) + 3 * 64;
}

static size_t conv_scratch(const void *desc)
{
    const krt_conv_desc *d = desc;
    if (d->dtype == KRT_F16)
        return promoted_bytes(d, false) + conv_f32_scratch(d);
    if (d->dtype == KRT_F32)
        return conv_f32_scratch(d);
    conv_dims c = float_dims_of(d);
    size_t es = krt_dtype_size(d->dtype);
    size_t gemm = krt_gemm_scratch_size(d->dtype, min64(c.mg, CH_BLOCK), c.chunk, c.rows);
    return up64((size_t)(c.rows * c.chunk) * es) + up64((size_t)c.chunk * 8) + gemm + 64;
}

static krt_status conv_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                           krt_error *err)
{
    const krt_conv_desc *d = desc;
    conv_dims c = float_dims_of(d);
    int64_t u1 = min64(r.end, conv_unit_count(d, &c));
    (void)err;
    if (d->dtype == KRT_F32)
        conv_f32(d, ops[0], ops[1], ops[2], ops[3], r.begin, u1, scratch, NULL);
    else if (d->dtype == KRT_F64)
        conv_f64(d, ops[0], ops[1], ops[2], ops[3], r.begin, u1, scratch);
    else if (d->dtype == KRT_F16)
        conv_f16(d, ops[0], ops[1], ops[2], ops[3], r.begin, u1, scratch);
    else
        return KRT_EDTYPE;
    return KRT_OK;
}

const krt_kernel_info krt_kernel_conv = {
    "conv", conv_run, conv_scratch, conv_units, sizeof(krt_conv_desc),
};

static int64_t conv_epi_units(const void *desc)
{
    return conv_units(&((const krt_conv_epi_desc *)desc)->conv);
}

static size_t conv_epi_scratch(const void *desc)
{
    return conv_f32_scratch(&((const krt_conv_epi_desc *)desc)->conv);
}

static krt_status conv_epi_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                               krt_error *err)
{
    const krt_conv_epi_desc *e = desc;
    const krt_conv_desc *d = &e->conv;
    conv_dims c = float_dims_of(d);
    int64_t u1 = min64(r.end, conv_unit_count(d, &c));
    (void)err;
    if (d->dtype != KRT_F32)
        return KRT_EDTYPE;
    if ((unsigned)e->act >= KRT_GEMM_ACT_COUNT)
        return KRT_EVALUE;
    conv_epi ep = {e->act, e->lo, e->hi, e->has_residual ? ops[3] : NULL};
    conv_f32(d, ops[0], ops[1], ops[2], ops[4], r.begin, u1, scratch, &ep);
    return KRT_OK;
}

const krt_kernel_info krt_kernel_conv_epi = {
    "conv_epi", conv_epi_run, conv_epi_scratch, conv_epi_units, sizeof(krt_conv_epi_desc),
};

/* ---- kernel `conv_transpose` ------------------------------------------------- */

/* y planes (mg x out_total) += col rows (mg*kk x n) scattered by the map. */
#define COL2IM(name, T)                                                          \
    static void name(const krt_conv_desc *d, const conv_dims *c, const T *col,   \
                     int64_t p0, int64_t n, int64_t *idx, T *y)                  \
    {                                                                            \
        win_map w = convtranspose_map(d);                                        \
        int64_t kpos[KRT_MAX_SPATIAL];                                           \
        for (int64_t k = 0; k < c->kk; k++) {                                    \
            unflatten(d->nd, d->kernel, k, kpos);                                \
            map_row(&w, kpos, p0, n, idx);                                       \
            for (int64_t m = 0; m < c->mg; m++) {                                \
                const T *src = col + (m * c->kk + k) * n;                        \
                T *plane = y + m * c->out_total;                                 \
                for (int64_t j = 0; j < n; j++)                                  \
                    if (idx[j] >= 0)                                             \
                        plane[idx[j]] += src[j];                                 \
            }                                                                    \
        }                                                                        \
    }
COL2IM(col2im_f32, float)
COL2IM(col2im_f64, double)

/* Units [u0, u1) = (image, group) pairs: col2im sums into whole planes. */
#define CONVT_FLOAT(name, T, DT, COL2IM_FN, FILL_FN)                             \
    static void name(const krt_conv_desc *d, const T *X, const T *W, const T *B, \
                     T *Y, int64_t u0, int64_t u1, void *scratch)                \
    {                                                                            \
        conv_dims c = convtranspose_dims_of(d);                                  \
        int64_t rows = c.mg * c.kk;                                              \
        char *cur = scratch;                                                     \
        T *col = take(&cur, (size_t)(rows * c.chunk) * sizeof(T));               \
        int64_t *idx = take(&cur, (size_t)c.chunk * sizeof(int64_t));            \
        for (int64_t u = u0; u < u1; u++) {                                      \
            int64_t n = u / d->group, g = u % d->group;                          \
            const T *x = X + (n * d->in_ch + g * c.cg) * c.in_total;             \
            const T *w = W + g * c.cg * rows;                                    \
            T *y = Y + (n * d->out_ch + g * c.mg) * c.out_total;                 \
            FILL_FN(c.mg, c.out_total, c.out_total, B ? B + g * c.mg : NULL, y); \
            for (int64_t p0 = 0; p0 < c.in_total; p0 += c.chunk) {               \
                int64_t np = min64(c.chunk, c.in_total - p0);                    \
                krt_gemm(DT, rows, np, c.cg, 1.0, w, 1, rows, x + p0,            \
                         c.in_total, 1, 0.0, col, np, cur);                      \
                COL2IM_FN(d, &c, col, p0, np, idx, y);                           \
            }                                                                    \
        }                                                                        \
    }
CONVT_FLOAT(convtranspose_f32, float, KRT_F32, col2im_f32, fill_bias_f32)
CONVT_FLOAT(convtranspose_f64, double, KRT_F64, col2im_f64, fill_bias_f64)

static void convtranspose_f16(const krt_conv_desc *d, const void *X, const void *W,
                              const void *B, void *Y, int64_t u0, int64_t u1, void *scratch)
{
    int64_t planes = d->out_ch / d->group * krt_numel(d->nd, d->out);
    widened v = widen_all(d, true, X, W, B, scratch);
    convtranspose_f32(d, v.x, v.w, v.b, v.y, u0, u1, v.rest);
    for (int64_t u = u0; u < u1; u++)  /* (n, g) planes are contiguous */
        krt_narrow_f32(d->dtype, v.y + u * planes, (uint16_t *)Y + u * planes, planes);
}

static int64_t convtranspose_units(const void *desc)
{
    const krt_conv_desc *d = desc;
    return max64(1, d->batch * d->group);
}

static size_t convtranspose_scratch_of(const krt_conv_desc *d, krt_dtype dt)
{
    conv_dims c = convtranspose_dims_of(d);
    int64_t rows = c.mg * c.kk;
    size_t es = krt_dtype_size(dt);
    return up64((size_t)(rows * c.chunk) * es) + up64((size_t)c.chunk * 8) +
           krt_gemm_scratch_size(dt, rows, c.chunk, c.cg) + 64;
}

static size_t convtranspose_scratch(const void *desc)
{
    const krt_conv_desc *d = desc;
    if (d->dtype == KRT_F16)
        return promoted_bytes(d, true) + convtranspose_scratch_of(d, KRT_F32);
    return convtranspose_scratch_of(d, d->dtype);
}

static krt_status convtranspose_run(const void *desc, void *const *ops, void *scratch,
                                    krt_span r, krt_error *err)
{
    const krt_conv_desc *d = desc;
    int64_t u1 = min64(r.end, d->batch * d->group);
    (void)err;
    if (d->dtype == KRT_F32)
        convtranspose_f32(d, ops[0], ops[1], ops[2], ops[3], r.begin, u1, scratch);
    else if (d->dtype == KRT_F64)
        convtranspose_f64(d, ops[0], ops[1], ops[2], ops[3], r.begin, u1, scratch);
    else if (d->dtype == KRT_F16)
        convtranspose_f16(d, ops[0], ops[1], ops[2], ops[3], r.begin, u1, scratch);
    else
        return KRT_EDTYPE;
    return KRT_OK;
}

const krt_kernel_info krt_kernel_conv_transpose = {
    "conv_transpose", convtranspose_run, convtranspose_scratch, convtranspose_units,
    sizeof(krt_conv_desc),
};

/* ---- kernel `qconv`: ConvInteger, QLinearConv ---------------------------------- */

static int32_t q_get(krt_dtype dt, const void *p, int64_t i)
{
    return dt == KRT_U8 ? ((const uint8_t *)p)[i] : ((const int8_t *)p)[i];
}

/* Zero point k of operand p (n_zp of them; none: 0). */
static int32_t zp_get(krt_dtype dt, const void *zp, int64_t n_zp, int64_t k)
{
    return zp ? q_get(dt, zp, n_zp > 1 ? k : 0) : 0;
}

static bool q_ok(krt_dtype dt)
{
    return dt == KRT_U8 || dt == KRT_I8;
}

/* dst[i] = src[off + i] - zp(i / per_zp) for i < n. */
static void widen(krt_dtype dt, const void *src, const void *zp, int64_t n_zp, int64_t off,
                  int64_t n, int64_t per_zp, int32_t *dst)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] = q_get(dt, src, off + i) - zp_get(dt, zp, n_zp, i / per_zp);
}

/* The scratch of one call, carved in order. */
typedef struct qconv_work {
    int32_t *xw;                      /* (cg, in_total): one group's widened input */
    int32_t *ww;                      /* (out_ch, rows): widened weights */
    int32_t *col;                     /* (rows, chunk) */
    int64_t *idx;                     /* (chunk) */
    int32_t *acc;                     /* (mg, out_total): QLinearConv's accumulators */
    void *gemm;
} qconv_work;

static qconv_work qconv_carve(const krt_conv_desc *d, const conv_dims *c, void *scratch)
{
    char *cur = scratch;
    qconv_work w;
    w.xw = take(&cur, (size_t)(c->cg * c->in_total) * 4);
    w.ww = take(&cur, (size_t)(d->out_ch * c->rows) * 4);
    w.col = take(&cur, (size_t)(c->rows * c->chunk) * 4);
    w.idx = take(&cur, (size_t)c->chunk * sizeof(int64_t));
    w.acc = take(&cur, (size_t)(c->mg * c->out_total) * 4);
    w.gemm = take(&cur, 0);
    return w;
}

static size_t qconv_scratch(const void *desc)
{
    const krt_conv_desc *d = &((const krt_qconv_desc *)desc)->conv;
    conv_dims c = conv_dims_of(d);
    return up64((size_t)(c.cg * c.in_total) * 4) + up64((size_t)(d->out_ch * c.rows) * 4) +
           up64((size_t)(c.rows * c.chunk) * 4) + up64((size_t)c.chunk * 8) +
           up64((size_t)(c.mg * c.out_total) * 4) +
           krt_gemm_scratch_size(KRT_I32, c.mg, c.chunk, c.rows) + 128;
}

static int64_t qconv_units(const void *desc)
{
    const krt_conv_desc *d = &((const krt_qconv_desc *)desc)->conv;
    return max64(1, d->batch * d->group);
}

/* y (mg, out_total) = the integer convolution of image n, group g. */
static void qconv_group(const krt_qconv_desc *q, const conv_dims *c, void *const *ops,
                        int64_t n, int64_t g, qconv_work *w, int32_t *y)
{
    const krt_conv_desc *d = &q->conv;
    /* the padding value is x's zero point, which widens to 0 */
    int64_t plane = c->cg * c->in_total;
    widen(d->dtype, ops[0], ops[2], 1, (n * d->in_ch + g * c->cg) * c->in_total, plane, plane,
          w->xw);
    for (int64_t p0 = 0; p0 < c->out_total; p0 += c->chunk) {
        int64_t np = min64(c->chunk, c->out_total - p0);
        im2col_i32(d, c, w->xw, p0, np, 0, w->idx, w->col);
        krt_gemm(KRT_I32, c->mg, np, c->rows, 1.0, w->ww + g * c->mg * c->rows, c->rows, 1,
                 w->col, np, 1, 0.0, y + p0, c->out_total, w->gemm);
    }
}

/* QLinearConv: acc (mg, out_total) of image n, group g, plus the bias,
 * requantized into Y. */
static void requantize(const krt_qconv_desc *q, const conv_dims *c, void *const *ops,
                       int64_t n, int64_t g, const int32_t *acc)
{
    const krt_conv_desc *d = &q->conv;
    const float *xs = ops[1], *ws = ops[4], *ys = ops[6];
    const int32_t *bias = ops[8];
    bool u8 = q->y_dtype == KRT_U8;
    int32_t lo = u8 ? 0 : -128, hi = u8 ? 255 : 127, yzp = zp_get(q->y_dtype, ops[7], 1, 0);
    for (int64_t k = 0; k < c->mg; k++) {
        int64_t m = g * c->mg + k, at = (n * d->out_ch + m) * c->out_total;
        float mult = xs[0] * ws[q->n_w_scale > 1 ? m : 0] / ys[0];
        int32_t b = bias ? bias[m] : 0;
        for (int64_t j = 0; j < c->out_total; j++) {
            int32_t a = (int32_t)((uint32_t)acc[k * c->out_total + j] + (uint32_t)b);
            int32_t v = krt_quant_round((float)a * mult, yzp, lo, hi);
            if (u8)
                ((uint8_t *)ops[9])[at + j] = (uint8_t)v;
            else
                ((int8_t *)ops[9])[at + j] = (int8_t)v;
        }
    }
}

static krt_status qconv_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                            krt_error *err)
{
    const krt_qconv_desc *q = desc;
    const krt_conv_desc *d = &q->conv;
    bool requant = q->y_dtype != KRT_I32;
    (void)err;
    if (!q_ok(d->dtype) || !q_ok(q->w_dtype) || (requant && !q_ok(q->y_dtype)))
        return KRT_EDTYPE;
    conv_dims c = conv_dims_of(d);
    qconv_work w = qconv_carve(d, &c, scratch);
    widen(q->w_dtype, ops[3], ops[5], q->n_w_zp, 0, d->out_ch * c.rows, c.rows, w.ww);
    for (int64_t u = r.begin; u < r.end && u < d->batch * d->group; u++) {
        int64_t n = u / d->group, g = u % d->group;
        int32_t *y = requant ? w.acc : (int32_t *)ops[9] + (n * d->out_ch + g * c.mg) * c.out_total;
        qconv_group(q, &c, ops, n, g, &w, y);
        if (requant)
            requantize(q, &c, ops, n, g, w.acc);
    }
    return KRT_OK;
}

const krt_kernel_info krt_kernel_qconv = {
    "qconv", qconv_run, qconv_scratch, qconv_units, sizeof(krt_qconv_desc),
};
