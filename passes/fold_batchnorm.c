/* fold_batchnorm.c — pass `fold-batchnorm`: an inference BatchNormalization
 * after a Conv folds into the Conv's weights and bias (DESIGN.md, decision
 * 4: weights are transformed at compile time).
 *
 * Pattern: Conv(x, W[, B]) whose output's single user is
 * BatchNormalization(conv, scale, bias, mean, var) {epsilon}, all of W, B,
 * scale, bias, mean, var f32 constants of the Conv's M output channels.
 * With s = scale / sqrt(var + eps) per channel m:
 *   W'[m] = W[m] * s[m]        B'[m] = (B[m] - mean[m]) * s[m] + bias[m]
 * computed in double and rounded once to f32, so the fused Conv equals the
 * pair within f32 rounding. Needs: inferred types. Produces: the Conv with
 * new constants W' and B' (a bias when it had none); the BN's users read the
 * Conv, which takes the BN output's name when that is a graph output. One
 * change per folded BN. Gemm/MatMul + BN are not folded (yet).
 *   before: %c = Conv(%x, %w) {...}                  after: %y = Conv(%x, %w_bn, %y_bias) {...}
 *           %y = BatchNormalization(%c, %s, %b, %m, %v)
 * (tests/ir/pass_fold_batchnorm.kir, tests/unit/test_fusion.c)
 */
#include "passes/pass.h"
#include "ir/edit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

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
        snprintf(name, sizeof name, "%s%s", base, suffix);
        if (kiln_graph_find_value(g, name))
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

/* Fold BN node `bn` into the Conv producing its input; false if it does not fit. */
static bool fold_one(kiln_graph *g, const kiln_users *users, uint32_t bn)
{
    uint32_t c = kiln_node_input(g, &g->nodes[bn], 0), conv = kiln_match_op(g, c, KILN_OP_CONV);
    uint32_t y = kiln_node_output(g, &g->nodes[bn], 0);
    if (!conv || kiln_single_user(users, c) != bn || !kiln_value_can_forward(g, y, c))
        return false;
    const kiln_value *w = kiln_const_input(g, conv, 1);
    if (!w || w->dtype != KILN_DT_F32 || w->shape.rank < 3 || !kiln_shape_is_static(&w->shape))
        return false;
    int64_t m = w->shape.dim[0], per = 0, n = 0;
    kiln_shape wshape = w->shape, bshape = kiln_shape_make(1, &m);
    if (!kiln_shape_numel(&w->shape, &n) || m <= 0 || (size_t)n * sizeof(float) != w->nbytes)
        return false;
    per = n / m;
    bn_params p;
    const float *b = f32_const(g, conv, 2, m);
    if (!read_bn(g, bn, m, &p) || (kiln_node_input(g, &g->nodes[conv], 2) && !b))
        return false;
    float *nw = kiln_xcalloc((size_t)n, sizeof *nw), *nb = kiln_xcalloc((size_t)m, sizeof *nb);
    const float *wd = w->data;
    for (int64_t o = 0; o < m; o++) {
        double s = (double)p.scale[o] / sqrt((double)p.var[o] + p.eps);
        for (int64_t k = 0; k < per; k++)
            nw[o * per + k] = (float)((double)wd[o * per + k] * s);
        nb[o] = (float)(((b ? (double)b[o] : 0.0) - p.mean[o]) * s + p.bias[o]);
    }
    char wname[256];
    snprintf(wname, sizeof wname, "%s", w->name);
    uint32_t ins[3] = {kiln_node_input(g, &g->nodes[conv], 0),
                       new_const(g, wname, "_bn", &wshape, nw, n),
                       new_const(g, g->values[y].name, "_bias", &bshape, nb, m)};
    free(nw);
    free(nb);
    kiln_value_forward(g, y, c);  /* checked above */
    kiln_node_set_inputs(g, conv, ins, 3);
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
