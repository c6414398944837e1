/* fold.c — pass `fold`: evaluate every node whose inputs are all known at
 * compile time and replace its outputs with constants.
 *
 * Needs: inferred types. A node whose outputs inference already computed
 * (Shape of a static shape, Size...) folds whatever its inputs. Evaluates through the interpreter's node runner
 * (the lowering layer and the runtime kernels: the same arithmetic as at
 * run time), so folding never changes a result. Shape sub-graphs that
 * inference already evaluated keep their data and only change kind.
 * A size cap (kiln_pass_options.fold_max_bytes, 16 MB by default) keeps
 * ConstantOfShape / Expand / Tile of constants from blowing memory and the
 * output up; nodes over it stay, and a note says how many and the largest.
 *
 *   before: %s = Shape(%x)                    %x: f32[1,197,64]
 *           %n = Gather(%s, %c2) {axis = 0}
 *           %y = Reshape(%x, %n2)
 *   after:  %y = Reshape(%x, %n2)             %n2 a constant [197,64]
 */
#include "passes/pass.h"
#include "ir/edit.h"
#include "ir/infer.h"
#include "ir/interp.h"
#include "ir/limits.h"

typedef struct fold_stats {
    uint32_t over_cap;        /* nodes left because an output is too big */
    int64_t largest;          /* bytes of the largest such output */
    uint32_t largest_node;
} fold_stats;

/* Bytes of value v (static shape assumed). */
static int64_t value_bytes(const kiln_value *v)
{
    int64_t n = 0, b = 0;
    if (!kiln_shape_numel(&v->shape, &n) || !kiln_mul_size(n, (int64_t)kiln_dtype_size(v->dtype), &b))
        return INT64_MAX;
    return b;
}

/* Largest output of node, in bytes. */
static int64_t largest_output(const kiln_graph *g, const kiln_node *n)
{
    int64_t most = 0;
    for (uint32_t i = 0; i < n->n_out; i++) {
        const kiln_value *v = kiln_out(g, n, i);
        if (v && value_bytes(v) > most)
            most = value_bytes(v);
    }
    return most;
}

/* Every output already carries its data (inference computed it). */
static bool outputs_known(const kiln_graph *g, const kiln_node *n)
{
    for (uint32_t i = 0; i < n->n_out; i++) {
        const kiln_value *v = kiln_out(g, n, i);
        if (v && !v->data)
            return false;
    }
    return true;
}

static void remember_over_cap(fold_stats *s, const kiln_graph *g, uint32_t node)
{
    int64_t b = largest_output(g, &g->nodes[node]);
    s->over_cap++;
    if (b > s->largest)
        s->largest = b, s->largest_node = node;
}

/* Evaluate node (unless inference did) and make its outputs constants. */
static kiln_status fold_node(kiln_pass_ctx *pc, kiln_graph *g, uint32_t node)
{
    const kiln_node *n = &g->nodes[node];
    if (!outputs_known(g, n)) {
        kiln_status st = kiln_interp_eval_node(pc->ctx, g, g->values, node, g->arena);
        if (st == KILN_ERR_UNSUPPORTED) {  /* no kernel for these dtypes: leave it */
            kiln_ctx_clear(pc->ctx);
            return KILN_OK;
        }
        if (st != KILN_OK)
            return st;
    }
    for (uint32_t i = 0; i < n->n_out; i++) {
        uint32_t v = kiln_node_output(g, n, i);
        if (v)
            kiln_value_make_const(g, v, g->values[v].data, g->values[v].nbytes);
    }
    kiln_node_remove(g, node);
    pc->changes++;
    return KILN_OK;
}

kiln_status kiln_pass_fold(kiln_pass_ctx *pc, kiln_graph *g)
{
    int64_t cap = pc->opts->fold_max_bytes > 0 ? pc->opts->fold_max_bytes : KILN_FOLD_MAX_BYTES;
    fold_stats stats = {0};
    /* in total, at most the limit on top of the graph's own constants
     * (folding a real model's weights creates about as much again) */
    int64_t budget = KILN_MAX_FOLD_BYTES;
    for (uint32_t v = 1; v < g->n_values; v++)
        if (g->values[v].kind == KILN_VAL_CONST)
            budget += (int64_t)g->values[v].nbytes;
    for (uint32_t node = 1; node < g->n_nodes; node++) {
        if (kiln_node_is_removed(g, node))
            continue;
        /* inference already knows the outputs (Shape of a static shape...),
         * or every input is known and the node can be evaluated */
        if (!outputs_known(g, &g->nodes[node]) && !kiln_fold_ready(g, g->values, node, INT64_MAX))
            continue;
        if (largest_output(g, &g->nodes[node]) > cap) {
            remember_over_cap(&stats, g, node);
            continue;
        }
        for (uint32_t i = 0; i < g->nodes[node].n_out; i++) {
            const kiln_value *v = kiln_out(g, &g->nodes[node], i);
            budget -= v && !v->data ? value_bytes(v) : 0;
        }
        if (budget < 0)
            return kiln_node_error(pc->ctx, g, node, KILN_ERR_INVALID,
                                   "fold would create more than %lld bytes of constants beyond the graph's "
                                   "own, kiln's limit (README, 'Limits')", (long long)KILN_MAX_FOLD_BYTES);
        kiln_status st = fold_node(pc, g, node);
        if (st != KILN_OK)
            return st;
    }
    if (stats.over_cap) {
        char who[256];
        kiln_note(pc->ctx, "fold: %u node(s) left unfolded: an output is over the %lld-byte cap "
                  "(largest: %s, %lld bytes)", stats.over_cap, (long long)cap,
                  kiln_node_describe(g, stats.largest_node, who, sizeof who), (long long)stats.largest);
    }
    return KILN_OK;
}
