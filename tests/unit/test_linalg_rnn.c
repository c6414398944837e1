/* test_linalg_rnn.c — RNN, GRU and LSTM (runtime/krt_linalg_rnn.c) against
 * a naive implementation of the ONNX equations written here: one batch item
 * at a time, explicit dot products, its own activation functions. Covers
 * both layouts, forward / reverse / bidirectional, per-item sequence
 * lengths, initial states, biases, peepholes, input_forget, clip,
 * linear_before_reset and non-default activations with alpha/beta. */
#include "cunit_main.h"
#include "kernel_run.h"
#include "runtime/krt_linalg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint32_t rng = 99;

static float frand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static float *frandv(int64_t n)
{
    float *p = malloc((size_t)(n ? n : 1) * sizeof *p);
    for (int64_t i = 0; i < n; i++)
        p[i] = frand();
    return p;
}

/* ---- the reference -------------------------------------------------------------- */

static double ref_act(krt_activation a, double x)
{
    switch (a.kind) {
    case KRT_ACT_RELU: return x < 0 ? 0 : x;
    case KRT_ACT_TANH: return tanh(x);
    case KRT_ACT_SIGMOID: return 1 / (1 + exp(-x));
    case KRT_ACT_AFFINE: return a.alpha * x + a.beta;
    case KRT_ACT_LEAKYRELU: return x >= 0 ? x : a.alpha * x;
    case KRT_ACT_THRESHOLDEDRELU: return x > a.alpha ? x : 0;
    case KRT_ACT_SCALEDTANH: return a.alpha * tanh(a.beta * x);
    case KRT_ACT_HARDSIGMOID: return fmin(1, fmax(0, a.alpha * x + a.beta));
    case KRT_ACT_ELU: return x >= 0 ? x : a.alpha * (exp(x) - 1);
    case KRT_ACT_SOFTSIGN: return x / (1 + fabs(x));
    case KRT_ACT_SOFTPLUS: return log(1 + exp(x));
    default: return NAN;
    }
}

static double clipped(const krt_rnn_desc *d, double x)
{
    return d->clip > 0 ? fmax(-d->clip, fmin(d->clip, x)) : x;
}

static double fa(const krt_rnn_desc *d, int dir, int which, double x)
{
    return ref_act(d->act[dir][which], clipped(d, x));
}

/* sum_i M[row][i] * v[i] for an n-column matrix */
static double dot(const float *M, int64_t row, int64_t n, const double *v)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)M[row * n + i] * v[i];
    return s;
}

/* The kernel's operands by name. */
typedef struct rnn_io {
    const float *X, *W, *R, *B;
    const int32_t *seq_lens;
    const float *initial_h, *initial_c, *P;
    float *Y, *Y_h, *Y_c;
} rnn_io;

typedef struct rnn_case {
    krt_rnn_desc d;
    rnn_io io;
} rnn_case;

/* The rnn kernel on the case's operands; err may be NULL. */
static krt_status run_kernel(const rnn_case *k, krt_error *err)
{
    const rnn_io *io = &k->io;
    void *const ops[11] = {(void *)io->X, (void *)io->W, (void *)io->R, (void *)io->B,
                           (void *)io->seq_lens, (void *)io->initial_h, (void *)io->initial_c,
                           (void *)io->P, io->Y, io->Y_h, io->Y_c};
    return kernel_run_range(&krt_kernel_rnn, &k->d, ops, 0, 1, err);
}

static int64_t gates(const krt_rnn_desc *d)
{
    return d->kind == KRT_LSTM ? 4 : d->kind == KRT_GRU ? 3 : 1;
}

/* One direction of one batch item; writes Y / Y_h / Y_c (double). */
static void ref_item(const rnn_case *k, int dir, int64_t b, double *Y, double *Yh, double *Yc)
{
    const krt_rnn_desc *d = &k->d;
    const rnn_io *io = &k->io;
    int64_t H = d->hidden, I = d->input, G = gates(d), T = d->seq, Bn = d->batch, D = d->num_dir;
    bool rev = D == 2 ? dir == 1 : d->reverse;
    const float *W = io->W + dir * G * H * I, *R = io->R + dir * G * H * H;
    const float *Wb = io->B ? io->B + dir * 2 * G * H : NULL, *Rb = Wb ? Wb + G * H : NULL;
    const float *P = io->P ? io->P + dir * 3 * H : NULL;
    double h[16], c[16], x[16], nh[16], g[64];
    int64_t st = d->layout ? (b * D + dir) * H : (dir * Bn + b) * H;
    for (int64_t j = 0; j < H; j++) {
        h[j] = io->initial_h ? io->initial_h[st + j] : 0;
        c[j] = io->initial_c ? io->initial_c[st + j] : 0;
    }
    int64_t len = io->seq_lens ? io->seq_lens[b] : T;
    for (int64_t s = 0; s < len; s++) {
        int64_t t = rev ? len - 1 - s : s;
        const float *xr = io->X + (d->layout ? b * T + t : t * Bn + b) * I;
        for (int64_t i = 0; i < I; i++)
            x[i] = xr[i];
        for (int64_t j = 0; j < G * H; j++)
            g[j] = dot(W, j, I, x) + (Wb ? Wb[j] : 0);
        if (d->kind == KRT_RNN) {
            for (int64_t j = 0; j < H; j++)
                nh[j] = fa(d, dir, 0, g[j] + dot(R, j, H, h) + (Rb ? Rb[j] : 0));
        } else if (d->kind == KRT_GRU) {
            double r[16], rh[16];
            for (int64_t j = 0; j < H; j++)
                r[j] = fa(d, dir, 0, g[H + j] + dot(R, H + j, H, h) + (Rb ? Rb[H + j] : 0));
            for (int64_t j = 0; j < H; j++)
                rh[j] = r[j] * h[j];
            for (int64_t j = 0; j < H; j++) {
                double z = fa(d, dir, 0, g[j] + dot(R, j, H, h) + (Rb ? Rb[j] : 0));
                double rbh = Rb ? Rb[2 * H + j] : 0;
                double pre = d->linear_before_reset ? g[2 * H + j] + r[j] * (dot(R, 2 * H + j, H, h) + rbh)
                                                    : g[2 * H + j] + dot(R, 2 * H + j, H, rh) + rbh;
                nh[j] = (1 - z) * fa(d, dir, 1, pre) + z * h[j];
            }
        } else {
            double nc[16];
            for (int64_t j = 0; j < H; j++) {
                double rb[4];
                for (int q = 0; q < 4; q++)
                    rb[q] = g[q * H + j] + dot(R, q * H + j, H, h) + (Rb ? Rb[q * H + j] : 0);
                double i = fa(d, dir, 0, rb[0] + (P ? P[j] * c[j] : 0));
                double f = d->input_forget ? 1 - i : fa(d, dir, 0, rb[2] + (P ? P[2 * H + j] * c[j] : 0));
                nc[j] = f * c[j] + i * fa(d, dir, 1, rb[3]);
                double o = fa(d, dir, 0, rb[1] + (P ? P[H + j] * nc[j] : 0));
                nh[j] = o * fa(d, dir, 2, nc[j]);
            }
            memcpy(c, nc, sizeof c);
        }
        memcpy(h, nh, sizeof h);
        int64_t yo = d->layout ? ((b * T + t) * D + dir) * H : ((t * D + dir) * Bn + b) * H;
        for (int64_t j = 0; j < H; j++)
            Y[yo + j] = h[j];
    }
    for (int64_t j = 0; j < H; j++)
        Yh[st + j] = h[j], Yc[st + j] = c[j];
}

/* Runs the kernel and the reference, compares all three outputs. */
static void check_case(rnn_case *k)
{
    krt_rnn_desc *d = &k->d;
    int64_t ny = d->seq * d->num_dir * d->batch * d->hidden, ns = d->num_dir * d->batch * d->hidden;
    double *Y = calloc((size_t)ny, sizeof *Y), *Yh = calloc((size_t)ns, 8), *Yc = calloc((size_t)ns, 8);
    k->io.Y = frandv(ny);             /* garbage: the kernel zeroes Y past the lengths */
    k->io.Y_h = frandv(ns);
    k->io.Y_c = d->kind == KRT_LSTM ? frandv(ns) : NULL;
    CU_ASSERT_EQUAL_FATAL(run_kernel(k, NULL), KRT_OK);
    for (int dir = 0; dir < d->num_dir; dir++)
        for (int64_t b = 0; b < d->batch; b++)
            ref_item(k, dir, b, Y, Yh, Yc);
    double err = 0;
    for (int64_t i = 0; i < ny; i++)
        err = fmax(err, fabs(k->io.Y[i] - Y[i]));
    for (int64_t i = 0; i < ns; i++) {
        err = fmax(err, fabs(k->io.Y_h[i] - Yh[i]));
        if (k->io.Y_c)
            err = fmax(err, fabs(k->io.Y_c[i] - Yc[i]));
    }
    if (err > 2e-5)
        fprintf(stderr, "\n  rnn kind %d: error %g", d->kind, err);
    CU_ASSERT(err <= 2e-5);
    free(Y), free(Yh), free(Yc), free(k->io.Y), free(k->io.Y_h), free(k->io.Y_c);
}

/* Random weights and inputs for d; optional parts as flags say. */
static rnn_case make_case(krt_rnn_desc d, bool bias, bool init, bool lens, bool peep)
{
    static int32_t seq_lens[8];
    rnn_case k = {.d = d};
    int64_t G = gates(&d), H = d.hidden, D = d.num_dir;
    k.io.X = frandv(d.seq * d.batch * d.input);
    k.io.W = frandv(D * G * H * d.input);
    k.io.R = frandv(D * G * H * H);
    k.io.B = bias ? frandv(D * 2 * G * H) : NULL;
    k.io.initial_h = init ? frandv(D * d.batch * H) : NULL;
    k.io.initial_c = init && d.kind == KRT_LSTM ? frandv(D * d.batch * H) : NULL;
    k.io.P = peep ? frandv(D * 3 * H) : NULL;
    for (int64_t b = 0; b < d.batch; b++)
        seq_lens[b] = (int32_t)((b * 2 + 1) % (d.seq + 1));
    k.io.seq_lens = lens ? seq_lens : NULL;
    return k;
}

static void free_case(rnn_case *k)
{
    free((void *)k->io.X), free((void *)k->io.W), free((void *)k->io.R), free((void *)k->io.B);
    free((void *)k->io.initial_h), free((void *)k->io.initial_c), free((void *)k->io.P);
}

static krt_rnn_desc desc(krt_rnn_kind kind, int64_t seq, int64_t batch, int64_t input, int64_t hidden,
                         int dirs, int reverse, int layout)
{
    krt_rnn_desc d = {.dtype = KRT_F32, .kind = kind, .seq = seq, .batch = batch, .input = input, .hidden = hidden,
                      .num_dir = dirs, .reverse = reverse, .layout = layout};
    for (int i = 0; i < 2; i++)     /* the ONNX defaults: f = Sigmoid (Tanh for RNN), g = h = Tanh */
        for (int j = 0; j < 3; j++)
            d.act[i][j] = krt_activation_default(j == 0 && kind != KRT_RNN ? KRT_ACT_SIGMOID
                                                                           : KRT_ACT_TANH);
    return d;
}

static void run(krt_rnn_desc d, bool bias, bool init, bool lens, bool peep)
{
    rnn_case k = make_case(d, bias, init, lens, peep);
    check_case(&k);
    free_case(&k);
}

/* ---- tests ---------------------------------------------------------------------- */

static void test_lstm(void)
{
    run(desc(KRT_LSTM, 6, 3, 5, 4, 1, 0, 0), true, true, true, true);
    run(desc(KRT_LSTM, 5, 2, 3, 4, 1, 1, 0), false, false, false, false);   /* reverse */
    run(desc(KRT_LSTM, 4, 3, 2, 3, 2, 0, 1), true, true, true, true);       /* bidirectional, layout 1 */
    krt_rnn_desc d = desc(KRT_LSTM, 5, 2, 3, 4, 2, 0, 0);
    d.input_forget = 1;
    d.clip = 0.7f;
    run(d, true, true, false, true);
}

static void test_gru(void)
{
    for (int lbr = 0; lbr < 2; lbr++) {
        krt_rnn_desc d = desc(KRT_GRU, 6, 3, 4, 5, 1, 0, 0);
        d.linear_before_reset = lbr;
        run(d, true, true, true, false);
        krt_rnn_desc b = desc(KRT_GRU, 4, 2, 3, 3, 2, 0, 1);
        b.linear_before_reset = lbr;
        run(b, true, false, true, false);
        run(desc(KRT_GRU, 3, 1, 2, 2, 1, 1, 0), false, true, false, false);
    }
}

static void test_rnn(void)
{
    run(desc(KRT_RNN, 5, 3, 4, 6, 1, 0, 0), true, true, true, false);
    run(desc(KRT_RNN, 5, 2, 4, 3, 2, 0, 1), true, true, false, false);
    krt_rnn_desc d = desc(KRT_RNN, 4, 2, 3, 3, 1, 1, 0);
    d.act[0][0] = krt_activation_default(KRT_ACT_RELU);
    run(d, true, false, true, false);
}

static void test_custom_activations(void)
{
    krt_rnn_desc d = desc(KRT_LSTM, 4, 2, 3, 3, 2, 0, 0);
    krt_activation acts[6] = {
        {KRT_ACT_HARDSIGMOID, 0.3f, 0.4f}, {KRT_ACT_SCALEDTANH, 1.5f, 0.5f}, {KRT_ACT_SOFTSIGN, 0, 0},
        {KRT_ACT_SIGMOID, 1, 0}, {KRT_ACT_ELU, 0.8f, 0}, {KRT_ACT_AFFINE, 0.5f, 0.1f},
    };
    for (int i = 0; i < 6; i++)
        d.act[i / 3][i % 3] = acts[i];
    run(d, true, true, true, true);
    krt_rnn_desc g = desc(KRT_GRU, 3, 2, 2, 2, 1, 0, 0);
    g.act[0][0] = (krt_activation){KRT_ACT_LEAKYRELU, 0.1f, 0};
    g.act[0][1] = (krt_activation){KRT_ACT_SOFTPLUS, 0, 0};
    run(g, true, true, false, false);
}

static void test_activation_functions(void)
{
    const float xs[5] = {-3.0f, -0.5f, 0.0f, 0.7f, 2.5f};
    for (int k = 0; k < KRT_ACT_COUNT; k++) {
        krt_activation a = krt_activation_default((krt_act)k);
        for (int i = 0; i < 5; i++)
            CU_ASSERT_DOUBLE_EQUAL(krt_activation_apply(a, xs[i]), ref_act(a, xs[i]), 1e-6);
    }
    /* ONNX Runtime's defaults for the parametric ones */
    CU_ASSERT_EQUAL(krt_activation_default(KRT_ACT_LEAKYRELU).alpha, 0.01f);
    CU_ASSERT_EQUAL(krt_activation_default(KRT_ACT_HARDSIGMOID).alpha, 0.2f);
    CU_ASSERT_EQUAL(krt_activation_default(KRT_ACT_HARDSIGMOID).beta, 0.5f);
    CU_ASSERT_DOUBLE_EQUAL(krt_activation_apply(krt_activation_default(KRT_ACT_SOFTPLUS), 50.0f), 50.0, 1e-5);
}

static void test_bad_sequence_length(void)
{
    krt_rnn_desc d = desc(KRT_RNN, 3, 2, 2, 2, 1, 0, 0);
    rnn_case k = make_case(d, false, false, false, false);
    int32_t lens[2] = {3, 4};
    float Y[12], Yh[4];
    k.io.seq_lens = lens;
    k.io.Y = Y, k.io.Y_h = Yh;
    krt_error err = {.operand = -1};
    CU_ASSERT_EQUAL(run_kernel(&k, &err), KRT_EINDEX);
    CU_ASSERT_EQUAL(err.operand, 4);               /* seq_lens */
    CU_ASSERT_EQUAL(err.value, 4);
    CU_ASSERT_EQUAL(err.pos, 1);
    CU_ASSERT_EQUAL(err.hi, 4);                    /* lengths in [0, seq] */
    CU_ASSERT_STRING_EQUAL(err.what, "sequence length");
    lens[1] = -1;
    CU_ASSERT_EQUAL(run_kernel(&k, NULL), KRT_EINDEX);
    lens[1] = 0;                      /* zero length: Y_h is the initial state (0) */
    CU_ASSERT_EQUAL(run_kernel(&k, NULL), KRT_OK);
    CU_ASSERT_EQUAL(Yh[2], 0);
    CU_ASSERT_EQUAL(Yh[3], 0);
    k.d.dtype = KRT_F16;
    CU_ASSERT_EQUAL(run_kernel(&k, NULL), KRT_EDTYPE);
    free_case(&k);
}

static CU_TestInfo rnn_tests[] = {
    {"LSTM: peepholes, lengths, reverse, bidirectional, layout 1, clip, input_forget", test_lstm},
    {"GRU: linear_before_reset 0/1, lengths, bidirectional", test_gru},
    {"RNN: tanh, relu, reverse, bidirectional", test_rnn},
    {"non-default activations with alpha/beta", test_custom_activations},
    {"activation functions", test_activation_functions},
    {"bad sequence lengths", test_bad_sequence_length},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"rnn", NULL, NULL, NULL, NULL, rnn_tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
