/* krt_linalg_rnn.c — the ONNX recurrent cells RNN, GRU and LSTM (f32).
 *
 * Per direction, the input projection of every time step is one GEMM up
 * front (X @ W^T plus the biases that can be merged), then each step is a
 * GEMM of the hidden state with R^T followed by the cell's elementwise
 * update. Sequence lengths are per batch item: a forward item stops after
 * its length, a reverse item starts at its own last valid step; the state of
 * a finished item is left alone, so Y_h / Y_c end up holding the state at
 * its last valid step, and Y stays zero past the length.
 *
 * Layouts: layout 0 is X (seq, batch, input), Y (seq, dirs, batch, hidden),
 * states (dirs, batch, hidden); layout 1 puts batch first in each of them.
 * Gate orders follow ONNX: GRU z r h, LSTM i o f c, peepholes i o f.
 */
#include "runtime/krt_linalg.h"

#include <math.h>
#include <string.h>

/* ---- activations ---------------------------------------------------------- */

static const krt_activation act_defaults[KRT_ACT_COUNT] = {
    [KRT_ACT_RELU] = {KRT_ACT_RELU, 0.0f, 0.0f},
    [KRT_ACT_TANH] = {KRT_ACT_TANH, 0.0f, 0.0f},
    [KRT_ACT_SIGMOID] = {KRT_ACT_SIGMOID, 0.0f, 0.0f},
    [KRT_ACT_AFFINE] = {KRT_ACT_AFFINE, 1.0f, 0.0f},
    [KRT_ACT_LEAKYRELU] = {KRT_ACT_LEAKYRELU, 0.01f, 0.0f},
    [KRT_ACT_THRESHOLDEDRELU] = {KRT_ACT_THRESHOLDEDRELU, 1.0f, 0.0f},
    [KRT_ACT_SCALEDTANH] = {KRT_ACT_SCALEDTANH, 1.0f, 1.0f},
    [KRT_ACT_HARDSIGMOID] = {KRT_ACT_HARDSIGMOID, 0.2f, 0.5f},
    [KRT_ACT_ELU] = {KRT_ACT_ELU, 1.0f, 0.0f},
    [KRT_ACT_SOFTSIGN] = {KRT_ACT_SOFTSIGN, 0.0f, 0.0f},
    [KRT_ACT_SOFTPLUS] = {KRT_ACT_SOFTPLUS, 0.0f, 0.0f},
};

krt_activation krt_activation_default(krt_act kind)
{
    return act_defaults[(unsigned)kind < KRT_ACT_COUNT ? kind : KRT_ACT_TANH];
}

static float sigmoid(float x)
{
    if (x >= 0)
        return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

static float softplus(float x)
{
    return x > 20.0f ? x : log1pf(expf(x));
}

float krt_activation_apply(krt_activation a, float x)
{
    switch (a.kind) {
    case KRT_ACT_RELU: return x > 0 ? x : 0;
    case KRT_ACT_TANH: return tanhf(x);
    case KRT_ACT_SIGMOID: return sigmoid(x);
    case KRT_ACT_AFFINE: return a.alpha * x + a.beta;
    case KRT_ACT_LEAKYRELU: return x < 0 ? a.alpha * x : x;
    case KRT_ACT_THRESHOLDEDRELU: return x > a.alpha ? x : 0;
    case KRT_ACT_SCALEDTANH: return a.alpha * tanhf(a.beta * x);
    case KRT_ACT_HARDSIGMOID: return fmaxf(0.0f, fminf(1.0f, a.alpha * x + a.beta));
    case KRT_ACT_ELU: return x < 0 ? a.alpha * (expf(x) - 1.0f) : x;
    case KRT_ACT_SOFTSIGN: return x / (1.0f + fabsf(x));
    case KRT_ACT_SOFTPLUS: return softplus(x);
    default: return x;
    }
}

/* ---- shapes and scratch --------------------------------------------------- */

static int gates_of(krt_rnn_kind kind)
{
    return kind == KRT_LSTM ? 4 : kind == KRT_GRU ? 3 : 1;
}

static size_t up64(size_t n) { return (n + 63) / 64 * 64; }

static void *take(char **cur, size_t bytes)
{
    uintptr_t u = ((uintptr_t)*cur + 63) & ~(uintptr_t)63;
    *cur = (char *)u + up64(bytes);
    return (void *)u;
}

/* The operands; every pointer but X, W, R may be NULL (absent). */
typedef struct rnn_io {
    const float *X, *W, *R, *B;       /* W (dir, gates*hidden, input), R (dir, gates*hidden, hidden) */
    const int32_t *seq_lens;          /* (batch) */
    const float *initial_h, *initial_c, *P;
    float *Y, *Y_h, *Y_c;
} rnn_io;

/* Per-run working set, carved from the caller's scratch. */
typedef struct rnn_work {
    const krt_rnn_desc *d;
    const rnn_io *io;
    int64_t G, GH;        /* gates, gates * hidden */
    int dir;              /* direction being run */
    bool reverse;
    float *xw;            /* (seq*batch rows in X's order, GH): input projections */
    float *hr;            /* (batch, GH): this step's h @ R^T */
    float *h, *c, *rh;    /* (batch, hidden) states; GRU's r * h */
    void *gemm;           /* GEMM scratch */
} rnn_work;

static size_t rnn_scratch(const void *desc)
{
    const krt_rnn_desc *d = desc;
    int64_t GH = gates_of(d->kind) * d->hidden, rows = d->seq * d->batch;
    size_t g1 = krt_sgemm_scratch_size(rows, GH, d->input);
    size_t g2 = krt_sgemm_scratch_size(d->batch, GH, d->hidden);
    return up64((size_t)(rows * GH) * 4) + up64((size_t)(d->batch * GH) * 4) +
           3 * up64((size_t)(d->batch * d->hidden) * 4) + (g1 > g2 ? g1 : g2) + 128;
}

/* Row of X / of the projections for (time t, batch item b). */
static int64_t x_row(const krt_rnn_desc *d, int64_t t, int64_t b)
{
    return d->layout ? b * d->seq + t : t * d->batch + b;
}

/* Offset of a state (initial_h/c, Y_h, Y_c) of direction dir, item b. */
static int64_t state_off(const krt_rnn_desc *d, int dir, int64_t b)
{
    return (d->layout ? b * d->num_dir + dir : dir * d->batch + b) * d->hidden;
}

static int64_t y_off(const krt_rnn_desc *d, int64_t t, int dir, int64_t b)
{
    if (d->layout)
        return ((b * d->seq + t) * d->num_dir + dir) * d->hidden;
    return ((t * d->num_dir + dir) * d->batch + b) * d->hidden;
}

static int64_t seq_len(const rnn_work *w, int64_t b)
{
    return w->io->seq_lens ? w->io->seq_lens[b] : w->d->seq;
}

static float clip(const krt_rnn_desc *d, float x)
{
    if (d->clip <= 0)
        return x;
    return x < -d->clip ? -d->clip : x > d->clip ? d->clip : x;
}

static float act(const rnn_work *w, int which, float x)
{
    return krt_activation_apply(w->d->act[w->dir][which], clip(w->d, x));
}

/* ---- the steps shared by all cells ---------------------------------------- */

/* xw = X @ W^T + merged biases, for every time step of this direction. */
static void project_inputs(rnn_work *w)
{
    const krt_rnn_desc *d = w->d;
    const float *W = w->io->W + w->dir * w->GH * d->input;
    int64_t rows = d->seq * d->batch;
    krt_sgemm(rows, w->GH, d->input, 1.0f, w->io->X, d->input, 1, W, 1, d->input, 0.0f,
              w->xw, w->GH, w->gemm);
    if (!w->io->B)
        return;
    const float *wb = w->io->B + w->dir * 2 * w->GH, *rb = wb + w->GH;
    /* GRU with linear_before_reset keeps Rb of the h gate apart (it is
     * scaled by r); every other recurrent bias adds straight in. */
    int64_t merge_rb = d->kind == KRT_GRU && d->linear_before_reset ? 2 * d->hidden : w->GH;
    for (int64_t r = 0; r < rows; r++) {
        float *x = w->xw + r * w->GH;
        for (int64_t j = 0; j < w->GH; j++)
            x[j] += wb[j] + (j < merge_rb ? rb[j] : 0.0f);
    }
}

static void init_states(rnn_work *w)
{
    const krt_rnn_desc *d = w->d;
    for (int64_t b = 0; b < d->batch; b++) {
        float *h = w->h + b * d->hidden, *c = w->c + b * d->hidden;
        const float *h0 = w->io->initial_h, *c0 = w->io->initial_c;
        int64_t off = state_off(d, w->dir, b);
        for (int64_t k = 0; k < d->hidden; k++) {
            h[k] = h0 ? h0[off + k] : 0.0f;
            c[k] = c0 ? c0[off + k] : 0.0f;
        }
    }
}

/* hr = h @ R[rows r0 .. r0+n)^T for every batch item (ldc GH). */
static void recur(rnn_work *w, const float *h, int64_t r0, int64_t n)
{
    const krt_rnn_desc *d = w->d;
    const float *R = w->io->R + w->dir * w->GH * d->hidden + r0 * d->hidden;
    krt_sgemm(d->batch, n, d->hidden, 1.0f, h, d->hidden, 1, R, 1, d->hidden, 0.0f, w->hr + r0,
              w->GH, w->gemm);
}

/* Time index of step s for item b, or -1 when the item is done. */
static int64_t step_time(const rnn_work *w, int64_t s, int64_t b)
{
    int64_t len = seq_len(w, b);
    if (s >= len)
        return -1;
    return w->reverse ? len - 1 - s : s;
}

static void emit_y(rnn_work *w, int64_t t, int64_t b)
{
    if (w->io->Y)
        memcpy(w->io->Y + y_off(w->d, t, w->dir, b), w->h + b * w->d->hidden,
               (size_t)w->d->hidden * sizeof(float));
}

/* ---- the cells ---------------------------------------------------------------- */

static void rnn_step(rnn_work *w, int64_t s)
{
    int64_t H = w->d->hidden;
    recur(w, w->h, 0, H);
    for (int64_t b = 0; b < w->d->batch; b++) {
        int64_t t = step_time(w, s, b);
        if (t < 0)
            continue;
        const float *x = w->xw + x_row(w->d, t, b) * w->GH, *hr = w->hr + b * w->GH;
        float *h = w->h + b * H;
        for (int64_t k = 0; k < H; k++)
            h[k] = act(w, 0, x[k] + hr[k]);
        emit_y(w, t, b);
    }
}

/* GRU's reset gate r for every item: w->rh = r * h (linear_before_reset 0)
 * or r itself (1, where r scales h @ R_h^T + Rb_h instead). */
static void gru_reset(rnn_work *w, int64_t s, bool lbr)
{
    int64_t H = w->d->hidden;
    for (int64_t b = 0; b < w->d->batch; b++) {
        int64_t t = step_time(w, s, b);
        const float *x = w->xw + x_row(w->d, t < 0 ? 0 : t, b) * w->GH, *hr = w->hr + b * w->GH;
        for (int64_t k = 0; k < H; k++) {
            float r = t < 0 ? 0.0f : act(w, 0, x[H + k] + hr[H + k]);
            w->rh[b * H + k] = lbr ? r : r * w->h[b * H + k];
        }
    }
}

static void gru_step(rnn_work *w, int64_t s)
{
    const krt_rnn_desc *d = w->d;
    int64_t H = d->hidden;
    bool lbr = d->linear_before_reset;
    const float *rbh = w->io->B ? w->io->B + w->dir * 2 * w->GH + w->GH + 2 * H : NULL;
    recur(w, w->h, 0, lbr ? 3 * H : 2 * H);
    gru_reset(w, s, lbr);
    if (!lbr)
        recur(w, w->rh, 2 * H, H);        /* (r * h) @ R_h^T */
    for (int64_t b = 0; b < d->batch; b++) {
        int64_t t = step_time(w, s, b);
        if (t < 0)
            continue;
        const float *x = w->xw + x_row(d, t, b) * w->GH, *hr = w->hr + b * w->GH;
        float *h = w->h + b * H;
        for (int64_t k = 0; k < H; k++) {
            float z = act(w, 0, x[k] + hr[k]);
            float rec = lbr ? w->rh[b * H + k] * (hr[2 * H + k] + (rbh ? rbh[k] : 0.0f))
                            : hr[2 * H + k];
            h[k] = (1.0f - z) * act(w, 1, x[2 * H + k] + rec) + z * h[k];
        }
        emit_y(w, t, b);
    }
}

static void lstm_step(rnn_work *w, int64_t s)
{
    const krt_rnn_desc *d = w->d;
    int64_t H = d->hidden;
    const float *P = w->io->P ? w->io->P + w->dir * 3 * H : NULL;
    recur(w, w->h, 0, 4 * H);
    for (int64_t b = 0; b < d->batch; b++) {
        int64_t t = step_time(w, s, b);
        if (t < 0)
            continue;
        const float *x = w->xw + x_row(d, t, b) * w->GH, *hr = w->hr + b * w->GH;
        float *h = w->h + b * H, *c = w->c + b * H;
        for (int64_t k = 0; k < H; k++) {
            float ci = P ? P[k] * c[k] : 0.0f, cf = P ? P[2 * H + k] * c[k] : 0.0f;
            float i = act(w, 0, x[k] + hr[k] + ci);
            float f = d->input_forget ? 1.0f - i : act(w, 0, x[2 * H + k] + hr[2 * H + k] + cf);
            float g = act(w, 1, x[3 * H + k] + hr[3 * H + k]);
            c[k] = f * c[k] + i * g;
            float o = act(w, 0, x[H + k] + hr[H + k] + (P ? P[H + k] * c[k] : 0.0f));
            h[k] = o * act(w, 2, c[k]);
        }
        emit_y(w, t, b);
    }
}

static void (*const step_fns[])(rnn_work *, int64_t) = {
    [KRT_RNN] = rnn_step, [KRT_GRU] = gru_step, [KRT_LSTM] = lstm_step,
};

/* ---- driver ---------------------------------------------------------------- */

static void store_final(rnn_work *w)
{
    const krt_rnn_desc *d = w->d;
    size_t row = (size_t)d->hidden * sizeof(float);
    for (int64_t b = 0; b < d->batch; b++) {
        int64_t off = state_off(d, w->dir, b);
        if (w->io->Y_h)
            memcpy(w->io->Y_h + off, w->h + b * d->hidden, row);
        if (w->io->Y_c)
            memcpy(w->io->Y_c + off, w->c + b * d->hidden, row);
    }
}

/* A sequence length outside [0, seq] is an index error on operand 4. */
static krt_status check_lens(const krt_rnn_desc *d, const int32_t *lens, krt_error *err)
{
    for (int64_t b = 0; lens && b < d->batch; b++)
        if (lens[b] < 0 || lens[b] > d->seq) {
            *err = (krt_error){.operand = 4, .value = lens[b], .lo = 0, .hi = d->seq + 1,
                               .pos = b, .what = "sequence length"};
            return KRT_EINDEX;
        }
    return KRT_OK;
}

static void run_cells(const krt_rnn_desc *d, const rnn_io *io, void *scratch)
{
    rnn_work w = {.d = d, .io = io, .G = gates_of(d->kind)};
    w.GH = w.G * d->hidden;
    char *cur = scratch;
    w.xw = take(&cur, (size_t)(d->seq * d->batch * w.GH) * 4);
    w.hr = take(&cur, (size_t)(d->batch * w.GH) * 4);
    w.h = take(&cur, (size_t)(d->batch * d->hidden) * 4);
    w.c = take(&cur, (size_t)(d->batch * d->hidden) * 4);
    w.rh = take(&cur, (size_t)(d->batch * d->hidden) * 4);
    w.gemm = cur;
    if (io->Y)
        memset(io->Y, 0, (size_t)(d->seq * d->num_dir * d->batch * d->hidden) * sizeof(float));
    for (w.dir = 0; w.dir < d->num_dir; w.dir++) {
        w.reverse = d->num_dir == 2 ? w.dir == 1 : d->reverse != 0;
        project_inputs(&w);
        init_states(&w);
        for (int64_t s = 0; s < d->seq; s++)
            step_fns[d->kind](&w, s);
        store_final(&w);
    }
}

/* ---- kernel `rnn` ------------------------------------------------------------ */

static krt_status rnn_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                          krt_error *err)
{
    const krt_rnn_desc *d = desc;
    bool lstm = d->kind == KRT_LSTM;
    (void)r;
    if (d->dtype != KRT_F32 || (unsigned)d->kind > KRT_LSTM)
        return KRT_EDTYPE;
    rnn_io io = {ops[0], ops[1], ops[2], ops[3], ops[4], ops[5], lstm ? ops[6] : NULL,
                 lstm ? ops[7] : NULL, ops[8], ops[9], lstm ? ops[10] : NULL};
    krt_status st = check_lens(d, io.seq_lens, err);
    if (st == KRT_OK)
        run_cells(d, &io, scratch);
    return st;
}

const krt_kernel_info krt_kernel_rnn = {
    "rnn", rnn_run, rnn_scratch, NULL, sizeof(krt_rnn_desc),
};
