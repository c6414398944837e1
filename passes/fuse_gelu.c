/* fuse_gelu.c — pass `fuse-gelu`: the GELU that exporters spell out in
 * elementwise ops becomes one kiln.Gelu.
 *
 * Pattern (the table below; Add and Mul commute):
 *   erf:  x * 0.5 * (1 + Erf(x / 1.4142135 or x * 0.70710677))
 *   tanh: x * 0.5 * (1 + Tanh(0.7978846 * (x + 0.044715 * x^3))), x^3 as
 *         Pow(x, 3) or x * (x * x)
 * with the 0.5 applied last, first (to x) or to the (1 + ...) term.
 * Constants must match within one f32 ulp (pattern.c says why that is
 * exact to f32); no inner value is used outside. Needs: inferred types.
 * Produces: kiln.Gelu {approximate = "none" | "tanh"} in the root's place.
 *   before: %d = Div(%x, %sqrt2)   %e = Erf(%d)     %a = Add(%e, %one)
 *           %m = Mul(%x, %a)       %y = Mul(%m, %half)
 *   after:  %y = kiln.Gelu(%x) {approximate = "none"}
 * (tests/ir/pass_fuse_gelu.kir, tests/unit/test_fusion.c)
 */
#include "passes/pass.h"
#include "passes/pattern.h"

#define N(k) PAT_NODE(k)
#define V(k) PAT_VAR(k)
#define S(x) PAT_SCALAR(x)
#define SQRT2 1.4142135623730951
#define SQRT1_2 0.7071067811865476
#define SQRT_2_OVER_PI 0.7978845608028654

/* x is variable 0. Each outer form has the Add at entry 2, whose other
 * operand is entry 3 (the Erf or Tanh): an outer form and an inner form
 * together are one spelling. */
#define HALF_LAST PAT(MUL, N(1), S(0.5)), PAT(MUL, V(0), N(2)), \
                  PAT(ADD, N(3), S(1.0))
#define HALF_FIRST PAT(MUL, N(1), N(2)), PAT(MUL, V(0), S(0.5)), \
                   PAT(ADD, N(3), S(1.0))
#define HALF_SUM PAT(MUL, V(0), N(1)), PAT(MUL, N(2), S(0.5)), \
                 PAT(ADD, N(3), S(1.0))
#define ERF_DIV PAT(ERF, N(4)), PAT(DIV, V(0), S(SQRT2))
#define ERF_MUL PAT(ERF, N(4)), PAT(MUL, V(0), S(SQRT1_2))
#define TANH_INNER PAT(TANH, N(4)), PAT(MUL, N(5), S(SQRT_2_OVER_PI)), \
                   PAT(ADD, V(0), N(6)), PAT(MUL, N(7), S(0.044715))
#define TANH_POW TANH_INNER, PAT(POW, V(0), S(3.0))
#define TANH_MUL TANH_INNER, PAT(MUL, V(0), N(8)), PAT(MUL, V(0), V(0))

/* The spellings; the first N_ERF are the erf form. */
static const kiln_pattern spellings[] = {
    {"erf, x/sqrt2, 0.5 last", {HALF_LAST, ERF_DIV}},
    {"erf, x*(1/sqrt2), 0.5 last", {HALF_LAST, ERF_MUL}},
    {"erf, x/sqrt2, 0.5*x first", {HALF_FIRST, ERF_DIV}},
    {"erf, x*(1/sqrt2), 0.5*x first", {HALF_FIRST, ERF_MUL}},
    {"erf, x/sqrt2, 0.5*(1+erf)", {HALF_SUM, ERF_DIV}},
    {"erf, x*(1/sqrt2), 0.5*(1+erf)", {HALF_SUM, ERF_MUL}},
    {"tanh, Pow(x,3), 0.5 last", {HALF_LAST, TANH_POW}},
    {"tanh, x*(x*x), 0.5 last", {HALF_LAST, TANH_MUL}},
    {"tanh, Pow(x,3), 0.5*x first", {HALF_FIRST, TANH_POW}},
    {"tanh, x*(x*x), 0.5*x first", {HALF_FIRST, TANH_MUL}},
    {"tanh, Pow(x,3), 0.5*(1+tanh)", {HALF_SUM, TANH_POW}},
    {"tanh, x*(x*x), 0.5*(1+tanh)", {HALF_SUM, TANH_MUL}},
};
enum { N_ERF = 6, N_SPELLINGS = sizeof spellings / sizeof spellings[0] };

/* x and y (the root's output) are the same float type: no broadcasting
 * hides in the constants. */
static bool same_float_type(const kiln_graph *g, uint32_t x, uint32_t root)
{
    const kiln_value *a = &g->values[x], *y = kiln_out(g, &g->nodes[root], 0);
    return kiln_dtype_is_float(a->dtype) && a->dtype == y->dtype && a->shape.rank >= 0 &&
           kiln_shape_equal(&a->shape, &y->shape);
}

static bool fuse_at(kiln_graph *g, const kiln_users *users, uint32_t root)
{
    kiln_pat_match m;
    int which = kiln_pattern_match_any(g, users, spellings, N_SPELLINGS, root, &m);
    if (which < 0 || !same_float_type(g, m.var[0], root))
        return false;
    uint32_t x = m.var[0];
    kiln_pattern_rewrite_root(g, root, KILN_OP_GELU, &x, 1);
    kiln_attr_set_string(g, root, "approximate", which < N_ERF ? "none" : "tanh");
    kiln_pattern_remove_inner(g, &m);
    return true;
}

/* --remarks: an Erf left after the pass is a GELU that did not fuse (Erf
 * has no other common use), and so is a Tanh that the closest spelling
 * reached (a Tanh alone is an ordinary activation: no remark). The
 * checked count is of the spelling's nodes taken whole before the failure
 * (the first one is its root). */
static void remark_near_misses(kiln_pass_ctx *pc, kiln_graph *g)
{
    kiln_users *users = kiln_users_build(g);
    for (uint32_t id = 1; id < g->n_nodes; id++) {
        kiln_op op = g->nodes[id].op;
        kiln_pat_why w;
        char root[300];
        if (op != KILN_OP_ERF && op != KILN_OP_TANH)
            continue;
        /* An Erf takes the closest attempt even when it failed before
         * reaching the Erf (1 - Erf: the Add is missing above it). */
        bool found = kiln_pattern_explain_from(g, users, spellings, N_SPELLINGS, id, 4, &w);
        if (!found || (!w.reached && (op == KILN_OP_TANH || w.bound < 2))) {
            if (op == KILN_OP_ERF)
                kiln_pass_remark(pc, g, id, "not fused into kiln.Gelu: no GELU spelling "
                                 "(x * 0.5 * (1 + Erf(x / sqrt 2))) reaches it");
            continue;
        }
        kiln_pass_remark(pc, g, id,
                         "not fused into kiln.Gelu: the closest spelling, '%s' from node %s, "
                         "checked %d of its %d nodes: %s",
                         spellings[w.spelling].name, kiln_node_describe(g, w.root, root, sizeof root),
                         w.checked, w.size,
                         w.text[0] ? w.text : "x and the result differ in type or shape (a constant broadcasts it)");
    }
    kiln_users_destroy(users);
}

kiln_status kiln_pass_fuse_gelu(kiln_pass_ctx *pc, kiln_graph *g)
{
    kiln_users *users = kiln_users_build(g);
    /* A fused GELU's inner nodes come before its root and are removed; a
     * later root never matches them (removed nodes fail every op test). */
    for (uint32_t id = g->n_nodes; id-- > 1;)
        if (g->nodes[id].op == KILN_OP_MUL && fuse_at(g, users, id))
            pc->changes++;
    kiln_users_destroy(users);
    if (pc->remarks)
        remark_near_misses(pc, g);
    return KILN_OK;
}
