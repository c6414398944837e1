/* fold_batchnorm.c — pass `fold-batchnorm`: an inference BatchNormalization
 * after a Conv, Gemm or 2-D MatMul folds into that node's weights and bias
 * (DESIGN.md, decision 4: weights are transformed at compile time).
 *
 * Pattern: Conv(x, W[, B]), Gemm(a, W[, C]) or MatMul(a[M,K], W[K,N]) whose
 * output's single user is BatchNormalization(y, scale, bias, mean, var)
 * {epsilon}; W, B/C and the BN inputs f32 constants, one per output channel
 * (Conv: W's rows; Gemm: W's columns, rows with transB; C per channel or
 * one value). With s = scale / sqrt(var + eps), per channel m:
 *   W'[m] = W[m] * s[m]        B'[m] = (beta * B[m] - mean[m]) * s[m] + bias[m]
 * computed in double and rounded once to f32: the fused node equals the
 * pair within f32 rounding. Needs: inferred types. Produces: the node with
 * new constants W' and B' (a bias when it had none; a MatMul becomes a Gemm,
 * a Gemm gets beta = 1); the BN's users read it, and it takes the BN
 * output's name when that is a graph output. One change per folded BN.
 *   before: %c = Conv(%x, %w) {...}                  after: %y = Conv(%x, %w_bn, %y_bias) {...}
 *           %y = BatchNormalization(%c, %s, %b, %m, %v)
 * (tests/ir/pass_fold_batchnorm.kir, tests/unit/test_fusion.c)
 */
#include "passes/pass.h"
#include "ir/edit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Input i of node as an f32 constant of n elements, else NULL. */
static const float *f32_const(const kiln_graph *g, uint32_t node, uint32_t i, int64_t n)
{
    const kiln_value *v = kiln_const_input(g, node, i);
    return v && v->dtype == KILN_DT_F32 && v->nbytes == (size_t)n * sizeof(float)
               ? (const float *)v->data : NULL;
}

/* Name `base` + suffix when free, else anonymous. */
static uint32_t new_const(kiln_graph *g, const char *base, const char *suffix,
                          const kiln_shape *s, const float *data, int64_t n)
{
    char name[256] = "";
    if (base[0]) {
        int len = snprintf(name, sizeof name, "%s%s", base, suffix);
        if (len < 0 || (size_t)len >= sizeof name || kiln_graph_find_value(g, name))
            name[0] = '\0';
    }
    return kiln_const_add(g, name, KILN_DT_F32, s, data, (size_t)n * sizeof *data, true);
}

typedef struct bn_params {
    const float *scale, *bias, *mean, *var;
    double eps;
} bn_params;

static bool read_bn(const kiln_graph *g, uint32_t bn, int64_t m, bn_params *p)
{
    p->scale = f32_const(g, bn, 1, m);
    p->bias = f32_const(g, bn, 2, m);
    p->mean = f32_const(g, bn, 3, m);
    p->var = f32_const(g, bn, 4, m);
    p->eps = kiln_attr_float(g, &g->nodes[bn], "epsilon", 1e-5f);
    return p->scale && p->bias && p->mean && p->var &&
           kiln_attr_int_equals(g, bn, "training_mode", 0, 0);
}

/* The weights of the node before the BN, channel by channel: channel o's
 * weights are w[o * ch_stride + k * k_stride] for k < per; its bias is
 * beta * b[o] (b[0] for a one-element b; no b: 0). */
typedef struct producer {
    const kiln_value *w;
    const float *b;
    bool b_scalar;
    double beta;
    int64_t m, per, ch_stride, k_stride;
} producer;

/* The weight (input 1) as a static f32 constant of rank >= min_rank. */
static const kiln_value *weight(const kiln_graph *g, uint32_t node, int min_rank)
{
    const kiln_value *w = kiln_const_input(g, node, 1);
    int64_t n = 0;
    if (!w || w->dtype != KILN_DT_F32 || w->shape.rank < min_rank ||
        !kiln_shape_numel(&w->shape, &n) || (size_t)n * sizeof(float) != w->nbytes)
        return NULL;
    return w;
}

/* Conv(x, W[M, C/group, k...], B[M]): channels are W's rows. */
static bool describe_conv(const kiln_graph *g, uint32_t node, producer *pr)
{
    if (!(pr->w = weight(g, node, 3)) || (pr->m = pr->w->shape.dim[0]) <= 0)
        return false;
    int64_t n = 0;
    kiln_shape_numel(&pr->w->shape, &n);
    *pr = (producer){.w = pr->w, .beta = 1.0, .m = pr->m, .per = n / pr->m,
                     .ch_stride = n / pr->m, .k_stride = 1};
    pr->b = f32_const(g, node, 2, pr->m);
    return pr->b || !kiln_node_input(g, &g->nodes[node], 2);
}

/* Gemm(a, B[K, N] or, transB, B[N, K], C) {alpha, beta}: channels are B's
 * columns (rows with transB); C must be one value per channel or one value. */
static bool describe_gemm(const kiln_graph *g, uint32_t node, producer *pr)
{
    const kiln_node *n = &g->nodes[node];
    bool trans = kiln_attr_int(g, n, "transB", 0) != 0;
    if (!(pr->w = weight(g, node, 2)) || pr->w->shape.rank != 2)
        return false;
    int64_t rows = pr->w->shape.dim[0], cols = pr->w->shape.dim[1];
    pr->m = trans ? rows : cols;
    pr->per = trans ? cols : rows;
    pr->ch_stride = trans ? cols : 1;
    pr->k_stride = trans ? 1 : cols;
    pr->beta = kiln_attr_float(g, n, "beta", 1.0f);
    const kiln_value *c = kiln_in(g, n, 2);
    if (!c)
        return pr->m > 0;
    if (c->shape.rank > 2 || (c->shape.rank == 2 && c->shape.dim[0] != 1))
        return false;
    pr->b_scalar = c->nbytes == sizeof(float);
    pr->b = f32_const(g, node, 2, pr->b_scalar ? 1 : pr->m);
    return pr->b && pr->m > 0;
}

/* MatMul(a[M, K], B[K, N]) is Gemm(a, B) without C. */
static bool describe_matmul(const kiln_graph *g, uint32_t node, producer *pr)
{
    const kiln_value *a = kiln_in(g, &g->nodes[node], 0);
    return a->shape.rank == 2 && describe_gemm(g, node, pr);
}

static bool (*const describe[KILN_OP_COUNT])(const kiln_graph *, uint32_t, producer *) = {
    [KILN_OP_CONV] = describe_conv,
    [KILN_OP_GEMM] = describe_gemm,
    [KILN_OP_MATMUL] = describe_matmul,
};

/* The folded weights and bias, computed in double, rounded once. */
static void fold_numbers(const producer *pr, const bn_params *p, float *nw, float *nb)
{
    const float *wd = pr->w->data;
    int64_t n = pr->m * pr->per;
    memcpy(nw, wd, (size_t)n * sizeof *nw);
    for (int64_t o = 0; o < pr->m; o++) {
        double s = (double)p->scale[o] / sqrt((double)p->var[o] + p->eps);
        double b = pr->b ? pr->beta * pr->b[pr->b_scalar ? 0 : o] : 0.0;
        for (int64_t k = 0; k < pr->per; k++) {
            int64_t i = o * pr->ch_stride + k * pr->k_stride;
            nw[i] = (float)((double)wd[i] * s);
        }
        nb[o] = (float)((b - p->mean[o]) * s + p->bias[o]);
    }
}

/* Fold BN node `bn` into the node producing its input; false if it does not fit. */
static bool fold_one(kiln_graph *g, const kiln_users *users, uint32_t bn)
{
    uint32_t c = kiln_node_input(g, &g->nodes[bn], 0), prod = kiln_match_op(g, c, KILN_OP_COUNT);
    uint32_t y = kiln_node_output(g, &g->nodes[bn], 0);
    producer pr = {0};
    bn_params p;
    if (!prod || !describe[g->nodes[prod].op] || kiln_single_user(users, c) != bn ||
        !kiln_value_can_forward(g, y, c) || !describe[g->nodes[prod].op](g, prod, &pr) ||
        !read_bn(g, bn, pr.m, &p))
        return false;
    int64_t n = pr.m * pr.per;
    float *nw = kiln_xcalloc((size_t)n, sizeof *nw), *nb = kiln_xcalloc((size_t)pr.m, sizeof *nb);
    fold_numbers(&pr, &p, nw, nb);
    char wname[256];
    kiln_shape wshape = pr.w->shape, bshape = kiln_shape_make(1, &pr.m);
    snprintf(wname, sizeof wname, "%s", pr.w->name);
    uint32_t ins[3] = {kiln_node_input(g, &g->nodes[prod], 0),
                       new_const(g, wname, "_bn", &wshape, nw, n),
                       new_const(g, g->values[y].name, "_bias", &bshape, nb, pr.m)};
    free(nw);
    free(nb);
    kiln_value_forward(g, y, c);  /* checked above */
    if (g->nodes[prod].op == KILN_OP_MATMUL)
        g->nodes[prod].op = KILN_OP_GEMM;  /* no attributes: alpha = beta = 1, no transposes */
    kiln_node_set_inputs(g, prod, ins, 3);
    if (g->nodes[prod].op == KILN_OP_GEMM)
        kiln_attr_set_float(g, prod, "beta", 1.0f);  /* beta went into the new bias */
    kiln_node_remove(g, bn);
    return true;
}

kiln_status kiln_pass_fold_batchnorm(kiln_pass_ctx *pc, kiln_graph *g)
{
    kiln_users *users = kiln_users_build(g);
    for (uint32_t id = 1; id < g->n_nodes; id++)
        if (g->nodes[id].op == KILN_OP_BATCHNORMALIZATION && fold_one(g, users, id))
            pc->changes++;
    kiln_users_destroy(users);
    return KILN_OK;
}
