/* fuse_epilogue.c — pass `fuse-epilogue`: the bias Add, the activation and
 * the residual Add after a MatMul or a Conv become its epilogue: one
 * kiln.FusedMatMul whose kernel (matmul_epi) applies them per register
 * tile of the GEMM, or one kiln.FusedConv whose kernel (conv_epi) applies
 * them per block of the output, instead of as passes over the output.
 *
 * Pattern, in this order, each step optional (at least one present):
 *   MatMul(a, W)            f32, A and B of rank >= 2
 *   Add(., bias)            bias an f32 constant of shape [N] (Add commutes)
 *   act(.)                  Relu; Clip with constant (or absent) scalar
 *                           bounds; kiln.Gelu (either form); HardSwish;
 *                           Sigmoid; SiLU spelled x * Sigmoid(x)
 *   Add(., r)               r of exactly the output's shape and dtype,
 *                           computed before the MatMul (or a graph input or
 *                           constant): the residual
 * Every intermediate value must have no other user (SiLU's x: exactly its
 * Sigmoid and its Mul) and must not be a graph output. The fused op computes
 * the same operations in the same order (bias, act, residual), so it equals
 * the unfused chain within f32 rounding (bit-equal for the Adds, Relu and
 * Clip; the transcendental activations use the vector math of
 * runtime/krt_vmath.h in both the fused and the unfused kernels).
 * Needs: inferred types. Produces: kiln.FusedMatMul(a, W, bias|_, r|_)
 * {activation = "relu" ...; lo, hi for clip} in the MatMul's place, named
 * by the chain's last value. One change per fused MatMul.
 *   before: %h = MatMul(%x, %w)   %b = Add(%h, %bias)   %g = kiln.Gelu(%b)
 *   after:  %g = kiln.FusedMatMul(%x, %w, %bias, _) {activation = "gelu"}
 * Gemm(a, W, C?) is the same product when alpha = 1, transA = 0 and W is a
 * constant (transB = 1: W is transposed here, at compile time), with C
 * (beta = 1) a constant that broadcasts along rows ([N], [1, N] or one
 * element): C is the bias, added before the activation as Gemm does. Such
 * a Gemm becomes kiln.FusedMatMul even with nothing after it (its bias is
 * then the epilogue, and pack-weights sees one form).
 * Conv(x, W, B?) (f32, any group count, stride, padding, dilation) takes
 * the same chain with one matcher: its bias is per output channel, so
 * the bias Add's constant must be [C, 1...] or [1, C, 1...] (it becomes a
 * [C] bias), and only when the Conv has no bias of its own (fold-batchnorm,
 * which runs first, usually gave it one). Produces kiln.FusedConv(x, W,
 * B|_, r|_) with the Conv's attributes plus activation, lo, hi:
 *   before: %c = Conv(%x, %w, %b)   %r = Relu(%c)   %y = Add(%r, %skip)
 *   after:  %y = kiln.FusedConv(%x, %w, %b, %skip) {activation = "relu", ...}
 * A Conv with nothing to absorb stays a Conv. Not fused: non-f32.
 * (tests/ir/pass_fuse_epilogue.kir, tests/unit/test_fusion.c)
 */
#include "passes/pass.h"
#include "ir/edit.h"
#include "ir/infer_linalg.h"

#include <math.h>
#include <string.h>

typedef struct chain {
    uint32_t mm, a, w;          /* the MatMul (or Conv) and its operands */
    bool conv;                  /* a Conv: the bias is per channel (dim 1) */
    uint32_t end;               /* the chain's last value */
    int64_t n;                  /* the output's last dim (Conv: its channels) */
    uint32_t bias, residual;    /* values, 0: none */
    krt_gemm_act act;
    float lo, hi;
    uint32_t dead[4];           /* nodes the fused op replaces */
    int n_dead;
} chain;

static const kiln_value *val(const kiln_graph *g, uint32_t v) { return &g->values[v]; }

/* An f32 product whose columns (the last dim, N of the bias and of the
 * packed weights) are known; the rows may be symbolic (a batch known at
 * run time: the kernel takes them from its operands then, and a residual
 * must have the very same shape, symbols included). */
static bool is_f32_columns_known(const kiln_graph *g, uint32_t v)
{
    const kiln_shape *s = &val(g, v)->shape;
    return val(g, v)->dtype == KILN_DT_F32 && s->rank >= 1 && !KILN_DIM_IS_SYM(s->dim[s->rank - 1]);
}

/* The other input of a two-input node whose input is `v`, else 0. */
static uint32_t other_input(const kiln_graph *g, uint32_t node, uint32_t v)
{
    const kiln_node *nd = &g->nodes[node];
    uint32_t x = kiln_node_input(g, nd, 0), y = kiln_node_input(g, nd, 1);
    if (nd->n_in != 2 || (x == v) == (y == v))
        return 0;
    return x == v ? y : x;
}

/* The node using chain value v and nothing else, of op `op`, else 0. */
static uint32_t next(const kiln_graph *g, const kiln_users *u, uint32_t v, kiln_op op)
{
    uint32_t n = kiln_single_user(u, v);
    return n && g->nodes[n].op == op ? n : 0;
}

static void advance(const kiln_graph *g, chain *c, uint32_t node)
{
    c->dead[c->n_dead++] = node;
    c->end = kiln_node_output(g, &g->nodes[node], 0);
}

/* v's name with suffix when no value has that name, else "" (anonymous). */
static const char *fresh_name(const kiln_graph *g, uint32_t v, const char *suffix, char *buf,
                              size_t size)
{
    const char *base = g->values[v].name;
    if (!base || !base[0] || (size_t)snprintf(buf, size, "%s%s", base, suffix) >= size ||
        kiln_graph_find_value(g, buf))
        buf[0] = '\0';
    return buf;
}

/* A bias the kernel adds per output column (MatMul: [N]) or per output
 * channel (Conv: [C] broadcast as [C, 1...] or [1, C, 1...] against the
 * output's rank). */
static bool bias_fits(const chain *c, const kiln_value *bv, int out_rank)
{
    if (!bv || bv->dtype != KILN_DT_F32 || bv->nbytes != (size_t)c->n * sizeof(float))
        return false;
    if (!c->conv)
        return bv->shape.rank == 1 && bv->shape.dim[0] == c->n;
    int r = bv->shape.rank, ch = r == out_rank ? 1 : 0;   /* where C sits */
    if (r != out_rank && r != out_rank - 1)
        return false;
    for (int i = 0; i < r; i++)
        if (bv->shape.dim[i] != (i == ch ? c->n : 1))
            return false;
    return true;
}

static void try_bias(kiln_graph *g, const kiln_users *u, chain *c)
{
    uint32_t add = next(g, u, c->end, KILN_OP_ADD), b = add ? other_input(g, add, c->end) : 0;
    uint32_t slot = b && kiln_node_input(g, &g->nodes[add], 0) == b ? 0 : 1;
    const kiln_value *bv = b ? kiln_const_input(g, add, slot) : NULL;
    if (!bias_fits(c, bv, val(g, c->end)->shape.rank))
        return;
    if (bv->shape.rank != 1) {  /* a Conv's [C, 1, 1]: the same floats as a [C] */
        char name[300];
        kiln_shape s = kiln_shape_make(1, &c->n);
        b = kiln_const_add(g, fresh_name(g, b, ".c", name, sizeof name), KILN_DT_F32, &s, bv->data,
                           bv->nbytes, true);
    }
    c->bias = b;
    advance(g, c, add);
}

/* ---- activations: one matcher per op ------------------------------------------ */


static bool act_relu(const kiln_graph *g, uint32_t node, chain *c)
{
    (void)g, (void)node;
    c->act = KRT_GEMM_ACT_RELU;
    return true;
}

static bool act_clip(const kiln_graph *g, uint32_t node, chain *c)
{
    c->act = KRT_GEMM_ACT_CLIP;
    c->lo = -INFINITY, c->hi = INFINITY;
    return kiln_const_input_f32(g, node, 1, &c->lo) && kiln_const_input_f32(g, node, 2, &c->hi);
}

static bool act_gelu(const kiln_graph *g, uint32_t node, chain *c)
{
    const char *a = kiln_attr_string(g, &g->nodes[node], "approximate", "none");
    c->act = strcmp(a, "tanh") == 0 ? KRT_GEMM_ACT_GELU_TANH : KRT_GEMM_ACT_GELU_ERF;
    return strcmp(a, "tanh") == 0 || strcmp(a, "none") == 0;
}

static bool act_hardswish(const kiln_graph *g, uint32_t node, chain *c)
{
    (void)g, (void)node;
    c->act = KRT_GEMM_ACT_HARDSWISH;
    return true;
}

static bool act_sigmoid(const kiln_graph *g, uint32_t node, chain *c)
{
    (void)g, (void)node;
    c->act = KRT_GEMM_ACT_SIGMOID;
    return true;
}

static bool (*const activations[KILN_OP_COUNT])(const kiln_graph *, uint32_t, chain *) = {
    [KILN_OP_RELU] = act_relu,
    [KILN_OP_CLIP] = act_clip,
    [KILN_OP_GELU] = act_gelu,
    [KILN_OP_HARDSWISH] = act_hardswish,
    [KILN_OP_SIGMOID] = act_sigmoid,
};

/* SiLU: x used by exactly Sigmoid(x) and Mul(x, s) (either order), s by
 * the Mul alone. */
static bool try_silu(const kiln_graph *g, const kiln_users *u, chain *c)
{
    uint32_t x = c->end, sig = 0, mul = 0;
    if (kiln_users_count(u, x) != 2 || kiln_users_is_output(u, x))
        return false;
    for (uint32_t k = u->first[x]; k < u->first[x + 1]; k++) {
        uint32_t n = u->use[k].node;
        if (g->nodes[n].op == KILN_OP_SIGMOID)
            sig = n;
        else if (g->nodes[n].op == KILN_OP_MUL)
            mul = n;
    }
    if (!sig || !mul)
        return false;
    uint32_t s = kiln_node_output(g, &g->nodes[sig], 0);
    if (other_input(g, mul, x) != s || kiln_single_user(u, s) != mul)
        return false;
    c->act = KRT_GEMM_ACT_SILU;
    c->dead[c->n_dead++] = sig;
    advance(g, c, mul);
    return true;
}

static void try_activation(const kiln_graph *g, const kiln_users *u, chain *c)
{
    if (try_silu(g, u, c))
        return;
    uint32_t n = kiln_single_user(u, c->end);
    chain t = *c;
    if (n && activations[g->nodes[n].op] && kiln_node_input(g, &g->nodes[n], 0) == c->end &&
        activations[g->nodes[n].op](g, n, &t)) {
        *c = t;
        advance(g, c, n);
    }
}

/* The residual must exist before the MatMul runs: a graph input, a
 * constant, or the output of an earlier node. */
static void try_residual(const kiln_graph *g, const kiln_users *u, chain *c)
{
    uint32_t add = next(g, u, c->end, KILN_OP_ADD), r = add ? other_input(g, add, c->end) : 0;
    if (!r || val(g, r)->dtype != KILN_DT_F32 ||
        !kiln_shape_equal(&val(g, r)->shape, &val(g, c->end)->shape))
        return;
    if (val(g, r)->kind == KILN_VAL_NODE && val(g, r)->producer >= c->mm)
        return;
    c->residual = r;
    advance(g, c, add);
}

/* ---- Gemm as a product with a bias ---------------------------------------------------- */

/* A Gemm the epilogue kernel computes exactly: fills c->w (transposed
 * when transB = 1) and c->bias (C broadcast to [N]); false otherwise. */
static bool gemm_as_matmul(kiln_graph *g, uint32_t node, chain *c)
{
    const kiln_node *nd = &g->nodes[node];
    const kiln_value *w = kiln_const_input(g, node, 1), *cv = kiln_const_input(g, node, 2);
    uint32_t has_c = kiln_node_input(g, nd, 2);
    bool trans_b = kiln_attr_int(g, nd, "transB", 0) != 0;
    if (kiln_attr_float(g, nd, "alpha", 1.0f) != 1.0f || kiln_attr_int(g, nd, "transA", 0) != 0 ||
        (has_c && kiln_attr_float(g, nd, "beta", 1.0f) != 1.0f) || !w || w->dtype != KILN_DT_F32 ||
        w->shape.rank != 2 || !kiln_shape_is_static(&w->shape))
        return false;
    int64_t n = c->n, k = w->shape.dim[trans_b ? 1 : 0], numel = 0;
    if (w->shape.dim[trans_b ? 0 : 1] != n)
        return false;
    if (has_c && (!cv || cv->dtype != KILN_DT_F32 || cv->shape.rank > 2 ||
                  !kiln_shape_numel(&cv->shape, &numel) || (numel != n && numel != 1) ||
                  (cv->shape.rank == 2 && cv->shape.dim[0] != 1)))
        return false;
    /* Build the new constants only once the Gemm qualifies; a C of shape
     * [N] is the bias as it is. */
    uint32_t cin = kiln_node_input(g, nd, 2), win = kiln_node_input(g, nd, 1);
    char name[300];
    if (has_c && (cv->shape.rank != 1 || numel != n)) {
        float *bias = kiln_arena_alloc(g->arena, (size_t)n * sizeof *bias, 64);
        for (int64_t j = 0; j < n; j++)
            bias[j] = ((const float *)cv->data)[numel == 1 ? 0 : j];
        kiln_shape s = kiln_shape_make(1, &n);
        c->bias = kiln_const_add(g, fresh_name(g, cin, ".row", name, sizeof name), KILN_DT_F32, &s,
                                 bias, (size_t)n * sizeof *bias, false);
    } else if (has_c) {
        c->bias = cin;
    }
    c->w = win;
    if (trans_b) {
        const float *src = g->values[win].data;
        float *t = kiln_arena_alloc(g->arena, (size_t)(k * n) * sizeof *t, 64);
        for (int64_t i = 0; i < k; i++)
            for (int64_t j = 0; j < n; j++)
                t[i * n + j] = src[j * k + i];
        kiln_shape s = kiln_shape_make(2, (int64_t[]){k, n});
        c->w = kiln_const_add(g, fresh_name(g, win, ".T", name, sizeof name), KILN_DT_F32, &s, t,
                              (size_t)(k * n) * sizeof *t, false);
    }
    return true;
}

/* ---- the rewrite ----------------------------------------------------------------------- */

/* The Conv: kiln.FusedConv keeps its attributes and its own bias (input
 * 2) if it has one; an Add of a per-channel constant becomes the bias only
 * when it has none (adding two biases would round differently). */
static bool conv_chain(const kiln_graph *g, uint32_t node, chain *c)
{
    const kiln_shape *ys = &val(g, c->end)->shape;
    if (val(g, c->a)->dtype != KILN_DT_F32 || ys->rank < 3)
        return false;
    c->conv = true;
    c->n = ys->dim[1];
    c->bias = kiln_node_input(g, &g->nodes[node], 2);
    return true;
}

static bool fuse_one(kiln_graph *g, const kiln_users *u, uint32_t mm)
{
    const kiln_node *nd = &g->nodes[mm];
    bool gemm = nd->op == KILN_OP_GEMM, conv = nd->op == KILN_OP_CONV;
    uint32_t y = kiln_node_output(g, nd, 0);
    chain c = {.mm = mm, .a = kiln_node_input(g, nd, 0), .w = kiln_node_input(g, nd, 1), .end = y};
    if (!is_f32_columns_known(g, y) || val(g, c.a)->shape.rank < 2 || val(g, c.w)->shape.rank < 2)
        return false;
    c.n = val(g, y)->shape.dim[val(g, y)->shape.rank - 1];
    if ((gemm && !gemm_as_matmul(g, mm, &c)) || (conv && !conv_chain(g, mm, &c)))
        return false;
    if (!c.bias)
        try_bias(g, u, &c);
    try_activation(g, u, &c);
    try_residual(g, u, &c);
    if ((c.n_dead == 0 && !gemm) || (c.end != y && !kiln_value_can_forward(g, c.end, y)))
        return false;
    if (c.end != y)
        kiln_value_forward(g, c.end, y);
    g->nodes[mm].op = conv ? KILN_OP_FUSEDCONV : KILN_OP_FUSEDMATMUL;
    while (!conv && g->nodes[mm].n_attr)   /* a Gemm's alpha/beta/trans* are folded in */
        kiln_attr_remove(g, mm, g->attrs[g->nodes[mm].attr].name);
    kiln_node_set_inputs(g, mm, (const uint32_t[]){c.a, c.w, c.bias, c.residual}, 4);
    if (c.act != KRT_GEMM_ACT_NONE)
        kiln_attr_set_string(g, mm, "activation", kiln_fused_act_name(c.act));
    if (c.act == KRT_GEMM_ACT_CLIP) {
        kiln_attr_set_float(g, mm, "lo", c.lo);
        kiln_attr_set_float(g, mm, "hi", c.hi);
    }
    for (int i = 0; i < c.n_dead; i++)
        kiln_node_remove(g, c.dead[i]);
    return true;
}

kiln_status kiln_pass_fuse_epilogue(kiln_pass_ctx *pc, kiln_graph *g)
{
    kiln_users *users = kiln_users_build(g);
    for (uint32_t id = 1; id < g->n_nodes; id++)
        if ((g->nodes[id].op == KILN_OP_MATMUL || g->nodes[id].op == KILN_OP_GEMM ||
             g->nodes[id].op == KILN_OP_CONV) &&
            fuse_one(g, users, id)) {
            pc->changes++;
            kiln_users_destroy(users);   /* the rewrite moved uses */
            users = kiln_users_build(g);
        }
    kiln_users_destroy(users);
    return KILN_OK;
}
