/* fuzz_passes.c — the -O3 pass pipeline against the interpreter, and the
 * interpreter's kernels on small graphs with inputs from the fuzzer.
 *
 * The fuzzer's bytes drive a small generator that writes a valid text-IR
 * graph. The first byte picks one of three kinds:
 *   - f32 tensors [d0, d1, d2] with sizes 0..7, built from a table of
 *     templates that include the patterns the fusion passes look for (GELU
 *     in both spellings, the decomposed LayerNorm, single- and multi-head
 *     attention, BatchNormalization after a 2-D MatMul), constant-only
 *     chains for `fold`, repeated nodes for `cse` and unused ones for `dce`;
 *   - i32 or i64 tensors [d0, d1, d2]: Add, Sub, Mul, Div, Mod (both
 *     signs conventions), Max, Min, Neg, Abs, the Reduce* that take
 *     integers, CumSum (exclusive, reverse), Casts through another integer
 *     type or f32 and back, constant-only integer chains; the values
 *     include the extremes, so the wrap-around the integer kernels define
 *     (two's complement, as ONNX Runtime) is exercised, and folding must
 *     wrap the same way;
 *   - f32 images [N, C, H, W]: Conv (groups, depthwise, strides, pads,
 *     dilations, auto_pad, 1x1, with and without bias), MaxPool and
 *     AveragePool (ceil_mode, count_include_pad, dilations, auto_pad),
 *     GlobalAveragePool, GlobalMaxPool, per-channel Add and Mul,
 *     BatchNormalization, Relu and repeats.
 * The graph inputs' values come from the bytes after the graph's. The
 * oracle: the graph is run by the interpreter as parsed and again after
 * -O3 (verified after every pass); every output must have the same dtype
 * and shape, integer values must be equal, and f32 values must agree
 * within a tolerance that allows for the reassociation a fused kernel
 * does. A pass that fails on a graph the interpreter runs is a finding,
 * and so is a sanitizer report from a kernel. */
#define _POSIX_C_SOURCE 200809L
#include "ir/interp.h"
#include "ir/text.h"
#include "passes/pass.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- the bytes, read as a stream of choices (zeros once exhausted) ------ */

typedef struct bytes { const uint8_t *p; size_t n, at; } bytes;

static unsigned take(bytes *b, unsigned n) /* 0 .. n-1 */
{
    unsigned v = b->at < b->n ? b->p[b->at++] : 0;
    return n ? v % n : 0;
}

static float take_float(bytes *b) { return ((float)take(b, 256) - 128.0f) / 64.0f; } /* [-2, 2) */

/* An integer of dtype dt ("i32" or "i64"): mostly small, now and then one
 * of the extremes, so that sums, products, negations and casts wrap. */
static int64_t take_int(bytes *b, const char *dt)
{
    static const int64_t extremes[] = {
        INT32_MAX, INT32_MIN, INT32_MAX - 1, INT32_MIN + 1, INT64_MAX, INT64_MIN, INT64_MAX - 1,
        INT64_MIN + 1, 65536, -65536, 1 << 30, 3037000499, -1, 0, 1, 46341,
    };
    unsigned v = take(b, 256);
    int64_t x = v < 16 ? extremes[v] : (int64_t)v - 136;
    return strcmp(dt, "i32") == 0 ? (int64_t)(int32_t)(uint32_t)(uint64_t)x : x;
}

/* ---- the text being written ---------------------------------------------- */

enum { MAX_VALUES = 64, TEXT_MAX = 1 << 16 };

typedef struct value {
    char name[16];
    const char *dt; /* "f32", "i32", "i64" */
    int rank;       /* 3, or 4 for images */
    int d[4];
} value;

typedef struct gen {
    bytes *b;
    char text[TEXT_MAX];
    size_t len;
    value v[MAX_VALUES];
    int n;          /* values so far (graph inputs first) */
    int n_inputs;
    int next_id;    /* for fresh names */
    const char *dt; /* the graph's dtype: "f32", "i32" or "i64" */
    char last[256]; /* the last plain node line, for `repeat` (cse) */
    value last_v;   /* and its output's type */
} gen;

static void emit(gen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(gen *g, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(g->text + g->len, sizeof g->text - g->len, fmt, ap);
    va_end(ap);
    if (n > 0 && g->len + (size_t)n < sizeof g->text)
        g->len += (size_t)n;
}

static const char *fresh(gen *g, char *buf) /* buf: 16 bytes */
{
    snprintf(buf, 16, "t%d", g->next_id++);
    return buf;
}

/* A new value named name of the graph's dtype and shape [d0, d1, d2];
 * false when the table is full. */
static bool add(gen *g, const char *name, int d0, int d1, int d2)
{
    if (g->n == MAX_VALUES)
        return false;
    value *v = &g->v[g->n++];
    *v = (value){.dt = g->dt, .rank = 3, .d = {d0, d1, d2}};
    snprintf(v->name, sizeof v->name, "%s", name);
    return true;
}

/* The same for an image [n, c, h, w]. */
static bool add4(gen *g, const char *name, int n, int c, int h, int w)
{
    if (!add(g, name, n, c, h))
        return false;
    g->v[g->n - 1].rank = 4;
    g->v[g->n - 1].d[3] = w;
    return true;
}

/* Remembers the node just written, `%y = line`, for `repeat` (cse). */
static void set_last(gen *g, const char *line, const value *out)
{
    snprintf(g->last, sizeof g->last, "%s", line);
    g->last_v = *out;
}

static const value *pick(gen *g) { return &g->v[take(g->b, (unsigned)g->n)]; }

/* const %name: f32[dims] = [...] with values from the bytes in [lo, lo+span) */
static void emit_const(gen *g, const char *name, const int *dims, int rank, float lo, float span)
{
    int numel = 1;
    emit(g, "  const %%%s: f32[", name);
    for (int i = 0; i < rank; i++) {
        emit(g, "%s%d", i ? "," : "", dims[i]);
        numel *= dims[i];
    }
    emit(g, "] = [");
    for (int i = 0; i < numel; i++)
        emit(g, "%s%.4g", i ? ", " : "", lo + span * (take_float(g->b) + 2.0f) / 4.0f);
    emit(g, "]\n");
}

static void emit_shape_const(gen *g, const char *name, const int *dims, int rank)
{
    emit(g, "  const %%%s: i64[%d] = [", name, rank);
    for (int i = 0; i < rank; i++)
        emit(g, "%s%d", i ? ", " : "", dims[i]);
    emit(g, "]\n");
}

/* ---- templates --------------------------------------------------------- */

static void t_unary(gen *g)
{
    static const char *const ops[] = {"Relu", "Sigmoid", "Tanh", "Neg", "Abs", "Erf", "Identity",
                                      "Softplus", "Floor", "Sign", "HardSigmoid", "Softsign"};
    const value *a = pick(g);
    char y[16];
    fresh(g, y);
    snprintf(g->last, sizeof g->last, "%s(%%%s)", ops[take(g->b, 12)], a->name);
    emit(g, "  %%%s = %s\n", y, g->last);
    g->last_v = *a;
    add(g, y, a->d[0], a->d[1], a->d[2]);
}

static void t_binary(gen *g)
{
    static const char *const ops[] = {"Add", "Sub", "Mul", "Max", "Min"};
    const value *a = pick(g), *b = NULL;
    for (int i = 0; i < g->n && !b; i++) {
        const value *c = &g->v[(i + (int)take(g->b, 64)) % g->n];
        if (memcmp(c->d, a->d, sizeof a->d) == 0 || (c->d[0] == a->d[0] && c->d[1] == a->d[1] && c->d[2] == 1))
            b = c;
    }
    char y[16], c[16];
    fresh(g, y);
    const char *bname = b ? b->name : NULL;
    if (!b) { /* a constant broadcast over the last axis */
        fresh(g, c);
        emit_const(g, c, &a->d[2], 1, -2, 4);
        bname = c;
    }
    const char *op = ops[take(g->b, 5)];
    bool swap = take(g->b, 2);
    snprintf(g->last, sizeof g->last, "%s(%%%s, %%%s)", op, swap ? bname : a->name, swap ? a->name : bname);
    emit(g, "  %%%s = %s\n", y, g->last);
    g->last_v = *a;
    add(g, y, a->d[0], a->d[1], a->d[2]);
}

static void t_div(gen *g)
{
    const value *a = pick(g);
    char y[16], c[16];
    fresh(g, c);
    emit_const(g, c, &a->d[2], 1, 0.5f, 1.5f);
    fresh(g, y);
    emit(g, "  %%%s = Div(%%%s, %%%s)\n", y, a->name, c);
    add(g, y, a->d[0], a->d[1], a->d[2]);
}

static void t_matmul(gen *g)
{
    const value *a = pick(g);
    int w[2] = {a->d[2], 1 + (int)take(g->b, 7)};
    char y[16], c[16];
    fresh(g, c);
    emit_const(g, c, w, 2, -1, 2);
    fresh(g, y);
    emit(g, "  %%%s = MatMul(%%%s, %%%s)\n", y, a->name, c);
    add(g, y, a->d[0], a->d[1], w[1]);
}

static void t_softmax(gen *g)
{
    const value *a = pick(g);
    char y[16];
    fresh(g, y);
    emit(g, "  %%%s = Softmax(%%%s) {axis = %d}\n", y, a->name, take(g->b, 2) ? -1 : 1);
    add(g, y, a->d[0], a->d[1], a->d[2]);
}

static void t_reduce(gen *g)
{
    static const char *const ops[] = {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin"};
    const value *a = pick(g);
    char y[16];
    fresh(g, y);
    char ax[16];
    fresh(g, ax);
    emit(g, "  const %%%s: i64[1] = [-1]\n", ax); /* canonical form: axes is an input */
    emit(g, "  %%%s = %s(%%%s, %%%s) {keepdims = 1}\n", y, ops[take(g->b, 4)], a->name, ax);
    add(g, y, a->d[0], a->d[1], 1);
}

static void t_transpose(gen *g)
{
    const value *a = pick(g);
    char y[16];
    fresh(g, y);
    emit(g, "  %%%s = Transpose(%%%s) {perm = [0, 2, 1]}\n", y, a->name);
    add(g, y, a->d[0], a->d[2], a->d[1]);
}

static void t_layernorm(gen *g)
{
    const value *a = pick(g);
    char y[16], s[16], bias[16];
    fresh(g, s);
    fresh(g, bias);
    emit_const(g, s, &a->d[2], 1, 0.5f, 1);
    emit_const(g, bias, &a->d[2], 1, -1, 2);
    fresh(g, y);
    emit(g, "  %%%s = LayerNormalization(%%%s, %%%s, %%%s) {axis = -1, epsilon = 1e-05}\n", y, a->name, s, bias);
    add(g, y, a->d[0], a->d[1], a->d[2]);
}

/* the LayerNorm an exporter writes at opset <= 16 (fuse-layernorm) */
static void t_layernorm_decomposed(gen *g)
{
    const value *a = pick(g);
    char m[16], d[16], p[16], v[16], e[16], s[16], n[16], two[16], eps[16], gm[16], bt[16], y1[16], y[16];
    int one = 1;
    fresh(g, two), fresh(g, eps), fresh(g, gm), fresh(g, bt);
    char ax[16];
    fresh(g, ax);
    emit(g, "  const %%%s: f32[] = [2]\n  const %%%s: f32[] = [1e-05]\n  const %%%s: i64[1] = [-1]\n", two, eps, ax);
    emit_const(g, gm, &a->d[2], 1, 0.5f, 1);
    emit_const(g, bt, &a->d[2], 1, -1, 2);
    (void)one;
    fresh(g, m), fresh(g, d), fresh(g, p), fresh(g, v), fresh(g, e), fresh(g, s), fresh(g, n), fresh(g, y1),
        fresh(g, y);
    emit(g, "  %%%s = ReduceMean(%%%s, %%%s) {keepdims = 1}\n", m, a->name, ax);
    emit(g, "  %%%s = Sub(%%%s, %%%s)\n", d, a->name, m);
    if (take(g->b, 2))
        emit(g, "  %%%s = Pow(%%%s, %%%s)\n", p, d, two);
    else
        emit(g, "  %%%s = Mul(%%%s, %%%s)\n", p, d, d);
    emit(g, "  %%%s = ReduceMean(%%%s, %%%s) {keepdims = 1}\n", v, p, ax);
    emit(g, "  %%%s = Add(%%%s, %%%s)\n", e, v, eps);
    emit(g, "  %%%s = Sqrt(%%%s)\n", s, e);
    emit(g, "  %%%s = Div(%%%s, %%%s)\n", n, d, s);
    emit(g, "  %%%s = Mul(%%%s, %%%s)\n", y1, n, gm);
    emit(g, "  %%%s = Add(%%%s, %%%s)\n", y, y1, bt);
    add(g, y, a->d[0], a->d[1], a->d[2]);
}

/* GELU spelled out (fuse-gelu): erf or tanh form */
static void t_gelu(gen *g)
{
    const value *a = pick(g);
    char c1[16], c2[16], c3[16], d[16], e[16], s[16], m[16], y[16], x3[16], k[16], t[16], u[16], w[16];
    fresh(g, c1), fresh(g, c2), fresh(g, c3), fresh(g, d), fresh(g, e), fresh(g, s), fresh(g, m), fresh(g, y);
    if (take(g->b, 2)) {
        emit(g, "  const %%%s: f32[] = [1.4142135]\n  const %%%s: f32[] = [1]\n  const %%%s: f32[] = [0.5]\n",
             c1, c2, c3);
        emit(g, "  %%%s = Div(%%%s, %%%s)\n", d, a->name, c1);
        emit(g, "  %%%s = Erf(%%%s)\n", e, d);
    } else {
        fresh(g, x3), fresh(g, k), fresh(g, t), fresh(g, u), fresh(g, w);
        emit(g, "  const %%%s: f32[] = [0.044715]\n  const %%%s: f32[] = [1]\n  const %%%s: f32[] = [0.5]\n",
             c1, c2, c3);
        emit(g, "  const %%%s: f32[] = [0.7978846]\n  const %%%s: f32[] = [3]\n", k, t);
        emit(g, "  %%%s = Pow(%%%s, %%%s)\n", x3, a->name, t);
        emit(g, "  %%%s = Mul(%%%s, %%%s)\n", d, x3, c1);
        emit(g, "  %%%s = Add(%%%s, %%%s)\n", u, a->name, d);
        emit(g, "  %%%s = Mul(%%%s, %%%s)\n", w, u, k);
        emit(g, "  %%%s = Tanh(%%%s)\n", e, w);
    }
    emit(g, "  %%%s = Add(%%%s, %%%s)\n", s, e, c2);
    emit(g, "  %%%s = Mul(%%%s, %%%s)\n", m, a->name, s);
    emit(g, "  %%%s = Mul(%%%s, %%%s)\n", y, m, c3);
    add(g, y, a->d[0], a->d[1], a->d[2]);
}

/* scaled-dot-product attention on projections of one value (fuse-attention),
 * one head or two (split by Reshape + Transpose, merged back) */
static void t_attention(gen *g)
{
    const value *a = pick(g);
    int B = a->d[0], T = a->d[1], C = a->d[2];
    int heads = C % 2 == 0 && C > 0 && take(g->b, 2) ? 2 : 1;
    char w[3][16], p[3][16], y[16], kt[16], sc[16], z[16], pr[16], o[16], scale[16];
    int wd[2] = {C, C};
    for (int i = 0; i < 3; i++) {
        fresh(g, w[i]);
        emit_const(g, w[i], wd, 2, -1, 2);
        fresh(g, p[i]);
        emit(g, "  %%%s = MatMul(%%%s, %%%s)\n", p[i], a->name, w[i]);
    }
    fresh(g, scale), fresh(g, kt), fresh(g, sc), fresh(g, z), fresh(g, pr), fresh(g, o), fresh(g, y);
    emit(g, "  const %%%s: f32[] = [%.4g]\n", scale, C ? 1.0 / sqrt((double)C / heads) : 1.0);
    bool div = take(g->b, 2);
    if (heads == 1) {
        emit(g, "  %%%s = Transpose(%%%s) {perm = [0, 2, 1]}\n", kt, p[1]);
        emit(g, "  %%%s = MatMul(%%%s, %%%s)\n", sc, p[0], kt);
        emit(g, "  %%%s = %s(%%%s, %%%s)\n", z, div ? "Div" : "Mul", sc, scale);
        emit(g, "  %%%s = Softmax(%%%s) {axis = -1}\n", pr, z);
        emit(g, "  %%%s = MatMul(%%%s, %%%s)\n", y, pr, p[2]);
    } else {
        char s4[16], s3[16], h[3][16], r[3][16], m[16];
        int d4[4] = {B, T, heads, C / heads}, d3[3] = {B, T, C};
        fresh(g, s4), fresh(g, s3), fresh(g, m);
        emit_shape_const(g, s4, d4, 4);
        emit_shape_const(g, s3, d3, 3);
        for (int i = 0; i < 3; i++) {
            fresh(g, r[i]), fresh(g, h[i]);
            emit(g, "  %%%s = Reshape(%%%s, %%%s) {allowzero = 1}\n", r[i], p[i], s4);
            emit(g, "  %%%s = Transpose(%%%s) {perm = %s}\n", h[i], r[i],
                 i == 1 ? "[0, 2, 3, 1]" : "[0, 2, 1, 3]");
        }
        emit(g, "  %%%s = MatMul(%%%s, %%%s)\n", sc, h[0], h[1]);
        emit(g, "  %%%s = %s(%%%s, %%%s)\n", z, div ? "Div" : "Mul", sc, scale);
        emit(g, "  %%%s = Softmax(%%%s) {axis = -1}\n", pr, z);
        emit(g, "  %%%s = MatMul(%%%s, %%%s)\n", o, pr, h[2]);
        emit(g, "  %%%s = Transpose(%%%s) {perm = [0, 2, 1, 3]}\n", m, o);
        emit(g, "  %%%s = Reshape(%%%s, %%%s) {allowzero = 1}\n", y, m, s3);
    }
    (void)kt;
    add(g, y, B, T, C);
}

/* BatchNormalization after a 2-D MatMul (fold-batchnorm) */
static void t_batchnorm(gen *g)
{
    const value *a = pick(g);
    int B = a->d[0], T = a->d[1], C = a->d[2], N = 1 + (int)take(g->b, 6);
    char s2[16], s3[16], r[16], w[16], mm[16], bn[16], y[16], sc[16], bi[16], mean[16], var[16];
    int d2[2] = {B * T, C}, d3[3] = {B, T, N}, wd[2] = {C, N};
    fresh(g, s2), fresh(g, s3), fresh(g, r), fresh(g, w), fresh(g, mm), fresh(g, bn), fresh(g, y);
    fresh(g, sc), fresh(g, bi), fresh(g, mean), fresh(g, var);
    emit_shape_const(g, s2, d2, 2);
    emit_shape_const(g, s3, d3, 3);
    emit_const(g, w, wd, 2, -1, 2);
    emit_const(g, sc, &N, 1, 0.5f, 1);
    emit_const(g, bi, &N, 1, -1, 2);
    emit_const(g, mean, &N, 1, -1, 2);
    emit_const(g, var, &N, 1, 0.25f, 2);
    emit(g, "  %%%s = Reshape(%%%s, %%%s) {allowzero = 1}\n", r, a->name, s2);
    emit(g, "  %%%s = MatMul(%%%s, %%%s)\n", mm, r, w);
    emit(g, "  %%%s = BatchNormalization(%%%s, %%%s, %%%s, %%%s, %%%s) {epsilon = 1e-05}\n", bn, mm, sc, bi,
         mean, var);
    emit(g, "  %%%s = Reshape(%%%s, %%%s) {allowzero = 1}\n", y, bn, s3);
    add(g, y, B, T, N);
}

/* constants only: `fold` computes it at compile time */
static void t_fold(gen *g)
{
    const value *a = pick(g);
    char c1[16], c2[16], c3[16], c4[16], y[16];
    fresh(g, c1), fresh(g, c2), fresh(g, c3), fresh(g, c4), fresh(g, y);
    emit_const(g, c1, &a->d[2], 1, -2, 4);
    emit_const(g, c2, &a->d[2], 1, -2, 4);
    emit(g, "  %%%s = Mul(%%%s, %%%s)\n", c3, c1, c2);
    emit(g, "  %%%s = %s(%%%s)\n", c4, take(g->b, 2) ? "Tanh" : "Neg", c3);
    emit(g, "  %%%s = Add(%%%s, %%%s)\n", y, a->name, c4);
    add(g, y, a->d[0], a->d[1], a->d[2]);
}

/* the last plain node again, under a new name (cse) */
static void t_repeat(gen *g)
{
    if (!g->last[0] || g->n < 2)
        return;
    char y[16];
    fresh(g, y);
    emit(g, "  %%%s = %s\n", y, g->last);
    if (add(g, y, g->last_v.d[0], g->last_v.d[1], g->last_v.d[2])) {
        g->v[g->n - 1].rank = g->last_v.rank;
        g->v[g->n - 1].d[3] = g->last_v.d[3];
    }
}

static void t_concat(gen *g)
{
    const value *a = pick(g), *b = NULL;
    for (int i = 0; i < g->n && !b; i++)
        if (g->v[i].d[0] == a->d[0] && g->v[i].d[1] == a->d[1] && &g->v[i] != a)
            b = &g->v[i];
    if (!b)
        b = a;
    char y[16];
    fresh(g, y);
    emit(g, "  %%%s = Concat(%%%s, %%%s) {axis = -1}\n", y, a->name, b->name);
    add(g, y, a->d[0], a->d[1], a->d[2] + b->d[2]);
}

static void t_slice(gen *g)
{
    const value *a = pick(g);
    int start = a->d[2] ? (int)take(g->b, (unsigned)a->d[2]) : 0;
    int end = start + (int)take(g->b, (unsigned)(a->d[2] - start + 1));
    char y[16], s[16], e[16], ax[16];
    fresh(g, y), fresh(g, s), fresh(g, e), fresh(g, ax);
    emit(g, "  const %%%s: i64[1] = [%d]\n  const %%%s: i64[1] = [%d]\n  const %%%s: i64[1] = [2]\n", s, start, e,
         end, ax);
    emit(g, "  %%%s = Slice(%%%s, %%%s, %%%s, %%%s)\n", y, a->name, s, e, ax);
    add(g, y, a->d[0], a->d[1], end - start);
}

/* an unused node (dce) */
static void t_dead(gen *g)
{
    const value *a = pick(g);
    char y[16];
    fresh(g, y);
    emit(g, "  %%%s = %s(%%%s)\n", y, a->dt[0] == 'f' ? "Exp" : "Abs", a->name); /* not added: nothing reads it */
}

/* ---- integer templates: every value has the graph's dtype, i32 or i64 ---- */

static void emit_int_const(gen *g, const char *name, const int *dims, int rank)
{
    int numel = 1;
    emit(g, "  const %%%s: %s[", name, g->dt);
    for (int i = 0; i < rank; i++) {
        emit(g, "%s%d", i ? "," : "", dims[i]);
        numel *= dims[i];
    }
    emit(g, "] = [");
    for (int i = 0; i < numel; i++)
        emit(g, "%s%lld", i ? ", " : "", (long long)take_int(g->b, g->dt));
    emit(g, "]\n");
}

/* a value of a's shape, or NULL */
static const value *same_shape(gen *g, const value *a)
{
    for (int i = 0; i < g->n; i++) {
        const value *c = &g->v[(i + (int)take(g->b, 64)) % g->n];
        if (c->rank == a->rank && memcmp(c->d, a->d, sizeof a->d) == 0)
            return c;
    }
    return NULL;
}

static void t_int_binary(gen *g)
{
    static const char *const ops[] = {"Add", "Sub", "Mul", "Div", "Mod", "Max", "Min"};
    const value *a = pick(g), *b = same_shape(g, a);
    char y[16], c[16], line[256];
    const char *bname = b ? b->name : NULL;
    if (!b || take(g->b, 2)) { /* a constant broadcast over the last axis */
        fresh(g, c);
        emit_int_const(g, c, &a->d[2], 1);
        bname = c;
    }
    const char *op = ops[take(g->b, 7)];
    bool swap = take(g->b, 2);
    int n = snprintf(line, sizeof line, "%s(%%%s, %%%s)", op, swap ? bname : a->name, swap ? a->name : bname);
    if (strcmp(op, "Mod") == 0) /* fmod = 0: the sign of the divisor; 1: of the dividend */
        snprintf(line + n, sizeof line - (size_t)n, " {fmod = %u}", take(g->b, 2));
    fresh(g, y);
    emit(g, "  %%%s = %s\n", y, line);
    if (add(g, y, a->d[0], a->d[1], a->d[2]))
        set_last(g, line, &g->v[g->n - 1]);
}

static void t_int_unary(gen *g)
{
    static const char *const ops[] = {"Neg", "Abs", "Sign", "Relu", "Identity"};
    const value *a = pick(g);
    char y[16], line[256];
    snprintf(line, sizeof line, "%s(%%%s)", ops[take(g->b, 5)], a->name);
    fresh(g, y);
    emit(g, "  %%%s = %s\n", y, line);
    if (add(g, y, a->d[0], a->d[1], a->d[2]))
        set_last(g, line, &g->v[g->n - 1]);
}

/* over one axis, kept: sums, products and squares wrap */
static void t_int_reduce(gen *g)
{
    static const char *const ops[] = {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin",
                                      "ReduceProd", "ReduceL1", "ReduceL2", "ReduceSumSquare"};
    const value *a = pick(g);
    int axis = (int)take(g->b, 3), d[3] = {a->d[0], a->d[1], a->d[2]};
    char y[16], ax[16];
    fresh(g, ax), fresh(g, y);
    emit(g, "  const %%%s: i64[1] = [%d]\n", ax, take(g->b, 2) ? axis : axis - 3);
    emit(g, "  %%%s = %s(%%%s, %%%s) {keepdims = 1}\n", y, ops[take(g->b, 8)], a->name, ax);
    d[axis] = 1;
    add(g, y, d[0], d[1], d[2]);
}

/* along any axis, exclusive or not, forwards or in reverse */
static void t_cumsum(gen *g)
{
    const value *a = pick(g);
    char y[16], ax[16];
    fresh(g, ax), fresh(g, y);
    int axis = (int)take(g->b, 3);
    const char *axis_dt = take(g->b, 2) ? "i64" : "i32";
    if (take(g->b, 2))
        axis -= 3;
    unsigned exclusive = take(g->b, 2), reverse = take(g->b, 2);
    emit(g, "  const %%%s: %s[] = [%d]\n", ax, axis_dt, axis);
    emit(g, "  %%%s = CumSum(%%%s, %%%s) {exclusive = %u, reverse = %u}\n", y, a->name, ax, exclusive, reverse);
    add(g, y, a->d[0], a->d[1], a->d[2]);
}

/* through another integer type or f32 and back: i64 -> i32 truncates, f32
 * rounds, and a float beyond the integer's range must convert to a defined
 * value */
static void t_int_cast(gen *g)
{
    static const char *const via[] = {"i32", "i64", "f32", "u8", "i8", "u32"};
    const value *a = pick(g);
    char t[16], y[16];
    fresh(g, t), fresh(g, y);
    emit(g, "  %%%s = Cast(%%%s) {to = \"%s\"}\n", t, a->name, via[take(g->b, 6)]);
    emit(g, "  %%%s = Cast(%%%s) {to = \"%s\"}\n", y, t, g->dt);
    add(g, y, a->d[0], a->d[1], a->d[2]);
}

/* constants only (fold computes it, and must wrap as the kernels do) */
static void t_int_fold(gen *g)
{
    static const char *const ops[] = {"Add", "Sub", "Mul", "Div", "Mod"};
    const value *a = pick(g);
    char c1[16], c2[16], c3[16], c4[16], y[16];
    fresh(g, c1), fresh(g, c2), fresh(g, c3), fresh(g, c4), fresh(g, y);
    emit_int_const(g, c1, &a->d[2], 1);
    emit_int_const(g, c2, &a->d[2], 1);
    emit(g, "  %%%s = %s(%%%s, %%%s)\n", c3, ops[take(g->b, 5)], c1, c2);
    emit(g, "  %%%s = %s(%%%s)\n", c4, take(g->b, 2) ? "Neg" : "Abs", c3);
    emit(g, "  %%%s = Add(%%%s, %%%s)\n", y, a->name, c4);
    add(g, y, a->d[0], a->d[1], a->d[2]);
}

/* ---- image templates: f32 [N, C, H, W] ------------------------------------- */

/* One spatial axis of a window, as kiln (krt_window_dim) computes it;
 * explicit pads are widened when the window does not fit. */
typedef struct window { int k, s, d, pb, pe, out; } window;

static void window_dim(int in, int ceil_mode, const char *auto_pad, window *w)
{
    int dk = (w->k - 1) * w->d + 1;
    if (auto_pad && strncmp(auto_pad, "SAME", 4) == 0) {
        w->out = (in + w->s - 1) / w->s;
        int total = (w->out - 1) * w->s + dk - in;
        total = total < 0 ? 0 : total;
        w->pb = strcmp(auto_pad, "SAME_UPPER") == 0 ? total / 2 : total - total / 2;
        w->pe = total - w->pb;
        return;
    }
    if (auto_pad) /* VALID */
        w->pb = w->pe = 0;
    int span = in + w->pb + w->pe - dk;
    w->out = (ceil_mode ? (span + w->s - 1) / w->s : span / w->s) + 1;
}

/* kernel, strides, dilations and padding for an input [.., h, w]; NULL
 * auto_pad: explicit pads, written as `pads` */
static const char *pick_windows(gen *g, const value *a, bool one_by_one, int max_pad, bool dilate,
                                int ceil_mode, window w[2])
{
    static const char *const pads[] = {"SAME_UPPER", "SAME_LOWER", "VALID"};
    unsigned ap = take(g->b, 8);
    const char *auto_pad = ap < 3 ? pads[ap] : NULL;
    for (int i = 0; i < 2; i++) {
        w[i] = (window){.k = one_by_one ? 1 : 1 + (int)take(g->b, 3), .s = 1 + (int)take(g->b, 3),
                        .d = dilate ? 1 + (int)take(g->b, 2) : 1};
        int in = a->d[2 + i];
        w[i].pb = (int)take(g->b, (unsigned)max_pad + 1);
        w[i].pe = (int)take(g->b, (unsigned)max_pad + 1);
        if (auto_pad && strcmp(auto_pad, "VALID") == 0 && in < (w[i].k - 1) * w[i].d + 1)
            auto_pad = NULL; /* VALID does not fit: explicit pads instead */
        int dk = (w[i].k - 1) * w[i].d + 1;
        if (!auto_pad && in + w[i].pb + w[i].pe < dk)
            w[i].pe = dk - in - w[i].pb;
    }
    for (int i = 0; i < 2; i++)
        window_dim(a->d[2 + i], ceil_mode, auto_pad, &w[i]);
    return auto_pad;
}

static void emit_window_attrs(gen *g, const char *auto_pad, const window w[2], bool dilations)
{
    if (auto_pad)
        emit(g, "auto_pad = \"%s\", ", auto_pad);
    if (dilations)
        emit(g, "dilations = [%d, %d], ", w[0].d, w[1].d);
    emit(g, "kernel_shape = [%d, %d], ", w[0].k, w[1].k);
    if (!auto_pad)
        emit(g, "pads = [%d, %d, %d, %d], ", w[0].pb, w[1].pb, w[0].pe, w[1].pe);
    emit(g, "strides = [%d, %d]", w[0].s, w[1].s);
}

/* groups: 1, depthwise (C), or another divisor of C; 1x1 now and then */
static void t_conv(gen *g)
{
    const value *a = pick(g);
    int C = a->d[1], groups = 1;
    switch (take(g->b, 4)) { /* how many groups */
    case 1: groups = C; break;
    case 2: groups = 1 + (int)take(g->b, (unsigned)C); while (C % groups) groups--; break;
    default: break;
    }
    int M = groups * (1 + (int)take(g->b, 3));
    window w[2];
    const char *auto_pad = pick_windows(g, a, take(g->b, 3) == 0, 2, true, 0, w);
    char y[16], wt[16], bias[16];
    fresh(g, y), fresh(g, wt), fresh(g, bias);
    emit_const(g, wt, (int[]){M, C / groups, w[0].k, w[1].k}, 4, -1, 2);
    bool has_bias = take(g->b, 2);
    if (has_bias)
        emit_const(g, bias, &M, 1, -1, 2);
    emit(g, "  %%%s = Conv(%%%s, %%%s%s%s) {", y, a->name, wt, has_bias ? ", %" : "", has_bias ? bias : "");
    emit_window_attrs(g, auto_pad, w, true);
    emit(g, ", group = %d}\n", groups);
    add4(g, y, a->d[0], M, w[0].out, w[1].out);
}

static void t_pool(gen *g)
{
    const value *a = pick(g);
    bool max = take(g->b, 2);
    int ceil_mode = (int)take(g->b, 2);
    window w[2];
    const char *auto_pad = pick_windows(g, a, false, 2, take(g->b, 2), ceil_mode, w);
    for (int i = 0; i < 2 && !auto_pad; i++) /* a pad as large as the kernel: not a real model */
        if (w[i].pb >= w[i].k || w[i].pe >= w[i].k) {
            w[i].pb = w[i].pb % w[i].k, w[i].pe = w[i].pe % w[i].k;
            if (a->d[2 + i] + w[i].pb + w[i].pe < (w[i].k - 1) * w[i].d + 1)
                w[i].d = 1;
            if (a->d[2 + i] + w[i].pb + w[i].pe < w[i].k)
                w[i].pe = w[i].k - 1;
            window_dim(a->d[2 + i], ceil_mode, NULL, &w[i]);
        }
    char y[16];
    fresh(g, y);
    emit(g, "  %%%s = %s(%%%s) {ceil_mode = %d, ", y, max ? "MaxPool" : "AveragePool", a->name, ceil_mode);
    if (!max)
        emit(g, "count_include_pad = %u, ", take(g->b, 2));
    emit_window_attrs(g, auto_pad, w, w[0].d > 1 || w[1].d > 1);
    emit(g, "}\n");
    add4(g, y, a->d[0], a->d[1], w[0].out, w[1].out);
}

static void t_global_pool(gen *g)
{
    const value *a = pick(g);
    char y[16], line[256];
    snprintf(line, sizeof line, "%s(%%%s)", take(g->b, 2) ? "GlobalAveragePool" : "GlobalMaxPool", a->name);
    fresh(g, y);
    emit(g, "  %%%s = %s\n", y, line);
    if (add4(g, y, a->d[0], a->d[1], 1, 1))
        set_last(g, line, &g->v[g->n - 1]);
}

static void t_img_unary(gen *g)
{
    static const char *const ops[] = {"Relu", "Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid", "Abs", "Neg"};
    const value *a = pick(g);
    char y[16], line[256];
    snprintf(line, sizeof line, "%s(%%%s)", ops[take(g->b, 7)], a->name);
    fresh(g, y);
    emit(g, "  %%%s = %s\n", y, line);
    if (add4(g, y, a->d[0], a->d[1], a->d[2], a->d[3]))
        set_last(g, line, &g->v[g->n - 1]);
}

/* per channel ([C, 1, 1]) or another image of the same shape (a residual) */
static void t_img_binary(gen *g)
{
    static const char *const ops[] = {"Add", "Mul", "Sub", "Div"};
    const value *a = pick(g), *b = same_shape(g, a);
    const char *op = ops[take(g->b, 4)];
    char y[16], c[16], line[256];
    const char *bname = b && strcmp(op, "Div") != 0 ? b->name : NULL;
    if (!bname || take(g->b, 2)) {
        fresh(g, c);
        bool div = strcmp(op, "Div") == 0;
        emit_const(g, c, (int[]){a->d[1], 1, 1}, 3, div ? 0.5f : -1, div ? 1.5f : 2);
        bname = c;
    }
    snprintf(line, sizeof line, "%s(%%%s, %%%s)", op, a->name, bname);
    fresh(g, y);
    emit(g, "  %%%s = %s\n", y, line);
    if (add4(g, y, a->d[0], a->d[1], a->d[2], a->d[3]))
        set_last(g, line, &g->v[g->n - 1]);
}

static void t_img_batchnorm(gen *g)
{
    const value *a = pick(g);
    int C = a->d[1];
    char y[16], sc[16], bi[16], mean[16], var[16];
    fresh(g, y), fresh(g, sc), fresh(g, bi), fresh(g, mean), fresh(g, var);
    emit_const(g, sc, &C, 1, 0.5f, 1);
    emit_const(g, bi, &C, 1, -1, 2);
    emit_const(g, mean, &C, 1, -1, 2);
    emit_const(g, var, &C, 1, 0.25f, 2);
    emit(g, "  %%%s = BatchNormalization(%%%s, %%%s, %%%s, %%%s, %%%s) {epsilon = 1e-05}\n", y, a->name, sc, bi,
         mean, var);
    add4(g, y, a->d[0], a->d[1], a->d[2], a->d[3]);
}

typedef void template_fn(gen *g);
static template_fn *const templates[] = {
    t_unary, t_binary, t_div, t_matmul, t_softmax, t_reduce, t_transpose, t_layernorm,
    t_layernorm_decomposed, t_gelu, t_attention, t_batchnorm, t_fold, t_repeat, t_concat, t_slice,
    t_dead, t_binary, t_unary, t_attention,
};
static template_fn *const int_templates[] = {
    t_int_binary, t_int_unary, t_int_reduce, t_cumsum, t_int_cast, t_int_fold, t_repeat, t_dead,
    t_int_binary, t_int_reduce,
};
static template_fn *const image_templates[] = {
    t_conv, t_pool, t_global_pool, t_img_unary, t_img_binary, t_img_batchnorm, t_repeat, t_dead,
    t_conv, t_pool, t_conv,
};
#define N_OF(a) (unsigned)(sizeof(a) / sizeof *(a))

/* the graph's inputs: all of one shape for images and integers (so that
 * binary nodes find partners), f32 ones of different last axes */
static void generate_inputs(gen *g, unsigned kind, int n_in)
{
    bytes *b = g->b;
    if (kind == 3) { /* images: N 1..2, C 1..4, H and W 1..7 */
        int N = 1 + (int)take(b, 2), C = 1 + (int)take(b, 4), H = 1 + (int)take(b, 7), W = 1 + (int)take(b, 7);
        for (int i = 0; i < n_in; i++)
            add4(g, (char[16]){'x', (char)('0' + i)}, N, C, H, W);
        return;
    }
    int B = 1 + (int)take(b, 2), T = (int)take(b, 7);
    if (T == 0 && take(b, 4)) /* zero-size tensors now and then, not mostly */
        T = 3;
    int C = 0;
    for (int i = 0; i < n_in; i++) {
        if (kind != 2 || i == 0) {
            C = (int)take(b, 9) == 0 ? 0 : 1 + (int)take(b, 7);
            if (C == 0 && take(b, 2))
                C = 4;
        }
        add(g, (char[16]){'x', (char)('0' + i)}, B, T, C);
    }
}

/* Writes the graph. The first byte picks its kind: 0 and 1 f32 (0 keeps
 * the meaning of the inputs committed before there were other kinds: they
 * gained a leading 0), 2 integers, 3 images. */
static void generate(gen *g)
{
    bytes *b = g->b;
    unsigned kind = take(b, 4);
    g->dt = kind == 2 ? (take(b, 2) ? "i64" : "i32") : "f32";
    if (kind == 2 || kind == 3) /* the f32 kind reads its input count after B and T */
        generate_inputs(g, kind, 1 + (int)take(b, 3));
    else {
        int B = 1 + (int)take(b, 2), T = (int)take(b, 7), n_in = 1 + (int)take(b, 3);
        if (T == 0 && take(b, 4)) /* zero-size tensors now and then, not mostly */
            T = 3;
        for (int i = 0; i < n_in; i++) {
            add(g, (char[16]){'x', (char)('0' + i)}, B, T, (int)take(b, 9) == 0 ? 0 : 1 + (int)take(b, 7));
            if (g->v[i].d[2] == 0 && take(b, 2))
                g->v[i].d[2] = 4;
        }
    }
    int n_in = g->n;
    char body[TEXT_MAX];
    size_t body_len;
    g->n_inputs = n_in;
    /* nodes, into the text after a placeholder header */
    template_fn *const *table = kind == 2 ? int_templates : kind == 3 ? image_templates : templates;
    unsigned n_table = kind == 2 ? N_OF(int_templates) : kind == 3 ? N_OF(image_templates) : N_OF(templates);
    int n_nodes = 1 + (int)take(b, 12);
    for (int i = 0; i < n_nodes && g->len < TEXT_MAX - 8192; i++)
        table[take(b, n_table)](g);
    memcpy(body, g->text, g->len);
    body_len = g->len;
    /* header: inputs, and as outputs the last value and up to two others */
    g->len = 0;
    emit(g, "kiln-ir 1\ngraph @fuzz opset(\"\"=17) (");
    for (int i = 0; i < n_in; i++) {
        const value *v = &g->v[i];
        emit(g, "%s%%%s: %s[%d,%d,%d", i ? ", " : "", v->name, v->dt, v->d[0], v->d[1], v->d[2]);
        if (v->rank == 4)
            emit(g, ",%d", v->d[3]);
        emit(g, "]");
    }
    emit(g, ") -> (%%%s", g->v[g->n - 1].name);
    int extra = (int)take(b, 3);
    int chosen[2] = {-1, -1};
    for (int k = 0; k < extra; k++) {
        int i = (int)take(b, (unsigned)g->n);
        if (i == g->n - 1 || i == chosen[0] || i < n_in) /* an input as an output: not interesting */
            continue;
        chosen[k] = i;
        emit(g, ", %%%s", g->v[i].name);
    }
    emit(g, ") {\n");
    if (g->len + body_len + 4 < sizeof g->text) {
        memcpy(g->text + g->len, body, body_len);
        g->len += body_len;
    }
    emit(g, "}\n");
}

/* ---- the oracle ----------------------------------------------------------- */

static kiln_graph *load(kiln_ctx *ctx, const char *text, size_t len)
{
    kiln_graph *g = NULL;
    if (kiln_text_parse(ctx, text, len, "fuzz.kir", &g) != KILN_OK || kiln_graph_verify_structure(ctx, g) != KILN_OK ||
        kiln_graph_infer(ctx, g) != KILN_OK || kiln_graph_verify(ctx, g) != KILN_OK) {
        kiln_graph_destroy(g);
        return NULL;
    }
    return g;
}

static void fail(const char *text, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void fail(const char *text, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz_passes: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n--- the graph:\n%s", text);
    abort();
}

/* a and b agree: same NaN-ness and infinities, else within the tolerance
 * of f32 arithmetic reassociated over the graph's depth */
static bool close_enough(float a, float b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    if (isinf(a) || isinf(b))
        return a == b || fabsf(a - b) <= 1e-3f * fmaxf(fabsf(a), fabsf(b));
    return fabsf(a - b) <= 2e-3f + 2e-3f * fmaxf(fabsf(a), fabsf(b));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bytes b = {data, size, 0};
    static gen g;
    memset(&g, 0, sizeof g);
    g.b = &b;
    generate(&g);
    g.text[g.len] = 0;

    static int show = -1; /* KILN_FUZZ_SHOW=1: print each graph and what became of it */
    if (show < 0)
        show = getenv("KILN_FUZZ_SHOW") != NULL;
    if (show)
        fprintf(stderr, "--- graph:\n%s", g.text);

    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *before = load(ctx, g.text, g.len);
    if (!before) /* the generator wrote a graph kiln rejects: a bug in one or the other */
        fail(g.text, "the generated graph does not load: %s", kiln_ctx_message(ctx));
    kiln_graph *after = load(ctx, g.text, g.len);

    /* inputs from the remaining bytes */
    kiln_tensor in[4];
    void *buf[4] = {0};
    for (uint32_t i = 0; i < before->n_inputs; i++) {
        const kiln_value *v = &before->values[before->inputs[i]];
        int64_t n = 0;
        kiln_shape_numel(&v->shape, &n);
        size_t es = kiln_dtype_size(v->dtype);
        buf[i] = calloc((size_t)n + 1, es);
        for (int64_t k = 0; k < n; k++)
            if (v->dtype == KILN_DT_F32)
                ((float *)buf[i])[k] = take_float(&b) * 1.5f;
            else if (v->dtype == KILN_DT_I32)
                ((int32_t *)buf[i])[k] = (int32_t)take_int(&b, "i32");
            else
                ((int64_t *)buf[i])[k] = take_int(&b, "i64");
        in[i] = (kiln_tensor){.dtype = v->dtype, .shape = v->shape, .data = buf[i], .nbytes = (size_t)n * es};
    }

    kiln_tensor *want = calloc(before->n_outputs + 1, sizeof *want);
    if (kiln_interp_run(ctx, before, in, before->n_inputs, want) != KILN_OK) {
        /* the interpreter refused the graph as written: nothing to compare
         * (a kernel's own checks, e.g. a size it does not take) */
        if (show)
            fprintf(stderr, "--- not run: %s\n", kiln_ctx_message(ctx));
        free(want);
        goto done;
    }

    kiln_pipeline p;
    if (kiln_pipeline_parse(ctx, kiln_pipeline_for_level(3), &p) != KILN_OK)
        fail(g.text, "-O3 does not parse: %s", kiln_ctx_message(ctx));
    kiln_pipeline_run_opts opts = {.verify = true};
    if (kiln_pipeline_run(ctx, after, &p, &opts) != KILN_OK)
        fail(g.text, "-O3 fails on a graph the interpreter runs: %s", kiln_ctx_message(ctx));
    if (after->n_outputs != before->n_outputs)
        fail(g.text, "-O3 changed the number of outputs from %u to %u", before->n_outputs, after->n_outputs);

    kiln_tensor *got = calloc(after->n_outputs + 1, sizeof *got);
    if (kiln_interp_run(ctx, after, in, after->n_inputs, got) != KILN_OK)
        fail(g.text, "the interpreter fails after -O3: %s", kiln_ctx_message(ctx));
    for (uint32_t o = 0; o < before->n_outputs; o++) {
        const kiln_tensor *w = &want[o], *t = &got[o];
        if (w->dtype != t->dtype || w->shape.rank != t->shape.rank ||
            memcmp(w->shape.dim, t->shape.dim, sizeof w->shape.dim[0] * (size_t)w->shape.rank) != 0 ||
            w->nbytes != t->nbytes)
            fail(g.text, "output %u: dtype or shape differs after -O3", o);
        const float *wf = w->data, *tf = t->data;
        for (size_t k = 0; w->dtype == KILN_DT_F32 && k < w->nbytes / 4; k++)
            if (!close_enough(wf[k], tf[k]))
                fail(g.text, "output %u element %zu: %.9g as written, %.9g after -O3", o, k, (double)wf[k],
                     (double)tf[k]);
        /* integers: exactly, wrap-around included */
        size_t es = kiln_dtype_size(w->dtype);
        for (size_t k = 0; w->dtype != KILN_DT_F32 && es && k < w->nbytes / es; k++)
            if (memcmp((const char *)w->data + k * es, (const char *)t->data + k * es, es) != 0) {
                int64_t x, y;
                if (es == 4) {
                    int32_t x4, y4;
                    memcpy(&x4, (const char *)w->data + k * es, 4);
                    memcpy(&y4, (const char *)t->data + k * es, 4);
                    x = x4, y = y4;
                } else {
                    memcpy(&x, (const char *)w->data + k * es, 8);
                    memcpy(&y, (const char *)t->data + k * es, 8);
                }
                fail(g.text, "output %u element %zu (%s): %lld as written, %lld after -O3", o, k,
                     kiln_dtype_name(w->dtype), (long long)x, (long long)y);
            }
    }
    if (show)
        fprintf(stderr, "--- compared %u outputs\n", before->n_outputs);
    kiln_interp_free_outputs(got, after->n_outputs);
    free(got);
    kiln_interp_free_outputs(want, before->n_outputs);
    free(want);
done:
    for (int i = 0; i < 4; i++)
        free(buf[i]);
    kiln_graph_destroy(before);
    kiln_graph_destroy(after);
    kiln_ctx_destroy(ctx);
    return 0;
}
