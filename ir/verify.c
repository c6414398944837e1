/* verify.c — the graph verifier: run after every pass in tests and debug
 * builds, so that a pass that breaks the graph is caught where it did it.
 * Checks 1-4 (kiln_graph_verify_structure, linear in the graph's size) also
 * run in every build on every graph that enters kiln (tools/driver.c): the
 * interpreter, lowering and the kernels rely on them, and a text-IR file
 * is user input. Check 5 re-runs inference and stays debug/test only.
 *
 * Checks, in this order (the first failure is reported, naming the node):
 *   1. every index is in range (ops, operand and attribute ranges, values,
 *      graph inputs and outputs);
 *   2. value <-> node cross references agree (the producer of each node
 *      output is that node; inputs and constants have no producer);
 *   3. nodes are in topological order: each input is a graph input, a
 *      constant or an output of an earlier node; no value is produced
 *      twice; arity is within ops.def; attributes are sorted and unique;
 *   4. graph outputs are defined; constants' bytes match their type;
 *   5. types agree with a fresh shape inference on a copy of the value
 *      table (the graph itself is never modified); data that inference
 *      folds (shape sub-graphs) must agree too where both have it.
 *
 * Checked against every ONNX backend test model kiln imports: a graph
 * straight from import + kiln_graph_infer always verifies.
 */
#include "ir/infer.h"
#include "ir/interp.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Same bound as the inference driver: small outputs are evaluated so that
 * shape sub-graphs give concrete shapes downstream. */

#define TRY(x)                      \
    do {                            \
        kiln_status st_ = (x);      \
        if (st_ != KILN_OK)         \
            return st_;             \
    } while (0)

/* "'name'" or "#12" for an anonymous value. */
static const char *vname(const kiln_graph *g, uint32_t v, char *buf, size_t size)
{
    if (v < g->n_values && g->values[v].name[0])
        snprintf(buf, size, "'%s'", g->values[v].name);
    else
        snprintf(buf, size, "#%u", v);
    return buf;
}

static KILN_PRINTF(3, 4) kiln_status graph_error(kiln_ctx *ctx, const kiln_graph *g, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return kiln_error(ctx, KILN_ERR_INVALID, "%s: %s", g->source, msg);
}

/* ---- 1. indices in range ---------------------------------------------------- */

static kiln_status check_node_ranges(kiln_ctx *ctx, const kiln_graph *g, uint32_t id)
{
    const kiln_node *n = &g->nodes[id];
    if ((unsigned)n->op >= KILN_OP_COUNT)
        return kiln_node_error(ctx, g, id, KILN_ERR_INVALID, "op code %d is not in ops.def", (int)n->op);
    if (n->in > g->n_operands || n->n_in > g->n_operands - n->in ||
        n->out > g->n_operands || n->n_out > g->n_operands - n->out)
        return kiln_node_error(ctx, g, id, KILN_ERR_INVALID, "operand range out of bounds");
    if (n->attr > g->n_attrs || n->n_attr > g->n_attrs - n->attr)
        return kiln_node_error(ctx, g, id, KILN_ERR_INVALID, "attribute range out of bounds");
    for (uint32_t i = 0; i < n->n_in + n->n_out; i++) {
        uint32_t v = g->operands[(i < n->n_in ? n->in + i : n->out + i - n->n_in)];
        if (v >= g->n_values)
            return kiln_node_error(ctx, g, id, KILN_ERR_INVALID, "%s %u refers to value #%u, the graph has %u",
                                   i < n->n_in ? "input" : "output", i < n->n_in ? i : i - n->n_in, v,
                                   g->n_values - 1);
    }
    return KILN_OK;
}

static kiln_status check_io_ranges(kiln_ctx *ctx, const kiln_graph *g)
{
    char d[300];
    for (uint32_t i = 0; i < g->n_inputs; i++) {
        uint32_t v = g->inputs[i];
        if (v == 0 || v >= g->n_values)
            return graph_error(ctx, g, "graph input %u refers to value #%u, the graph has %u", i, v, g->n_values - 1);
        if (g->values[v].kind != KILN_VAL_INPUT)
            return graph_error(ctx, g, "graph input %u (%s) is not an input value", i, vname(g, v, d, sizeof d));
    }
    for (uint32_t i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == 0 || g->outputs[i] >= g->n_values)
            return graph_error(ctx, g, "graph output %u refers to value #%u, the graph has %u", i,
                               g->outputs[i], g->n_values - 1);
    return KILN_OK;
}

/* ---- 2. cross references ------------------------------------------------------ */

static bool node_outputs_include(const kiln_graph *g, uint32_t node, uint32_t v)
{
    const kiln_node *n = &g->nodes[node];
    for (uint32_t i = 0; i < n->n_out; i++)
        if (g->operands[n->out + i] == v)
            return true;
    return false;
}

static kiln_status check_producers(kiln_ctx *ctx, const kiln_graph *g)
{
    char d[300];
    for (uint32_t v = 1; v < g->n_values; v++) {
        const kiln_value *val = &g->values[v];
        uint32_t p = val->producer;
        if (val->kind != KILN_VAL_NODE && p)
            return graph_error(ctx, g, "value %s is a graph input or constant but names node #%u as its producer",
                               vname(g, v, d, sizeof d), p);
        if (p >= g->n_nodes)
            return graph_error(ctx, g, "value %s names node #%u as its producer, the graph has %u nodes",
                               vname(g, v, d, sizeof d), p, g->n_nodes - 1);
        if (p && !node_outputs_include(g, p, v))
            return kiln_node_error(ctx, g, p, KILN_ERR_INVALID,
                                   "value %s names this node as its producer, but is not one of its outputs",
                                   vname(g, v, d, sizeof d));
    }
    return KILN_OK;
}

/* ---- 3. order, arity, attributes -------------------------------------------------- */

static const char *arity_text(uint16_t lo, uint16_t hi, char *buf, size_t size)
{
    if (hi == KILN_N)
        snprintf(buf, size, "%u or more", lo);
    else if (lo == hi)
        snprintf(buf, size, "%u", lo);
    else
        snprintf(buf, size, "%u to %u", lo, hi);
    return buf;
}

static kiln_status check_arity(kiln_ctx *ctx, const kiln_graph *g, uint32_t id)
{
    const kiln_node *n = &g->nodes[id];
    const kiln_op_info *info = &kiln_op_infos[n->op];
    char want[32];
    if (n->n_in < info->min_in || (info->max_in != KILN_N && n->n_in > info->max_in))
        return kiln_node_error(ctx, g, id, KILN_ERR_INVALID, "has %u inputs, %s takes %s", n->n_in,
                               info->name, arity_text(info->min_in, info->max_in, want, sizeof want));
    if (n->n_out < info->min_out || (info->max_out != KILN_N && n->n_out > info->max_out))
        return kiln_node_error(ctx, g, id, KILN_ERR_INVALID, "has %u outputs, %s gives %s", n->n_out,
                               info->name, arity_text(info->min_out, info->max_out, want, sizeof want));
    for (uint32_t i = 0; i < info->min_in; i++)
        if (!g->operands[n->in + i])
            return kiln_node_error(ctx, g, id, KILN_ERR_INVALID, "input %u is required but absent", i);
    return KILN_OK;
}

static kiln_status check_attrs(kiln_ctx *ctx, const kiln_graph *g, uint32_t id)
{
    const kiln_node *n = &g->nodes[id];
    for (uint32_t i = 0; i < n->n_attr; i++) {
        const kiln_attr *a = &g->attrs[n->attr + i];
        if ((unsigned)a->kind >= KILN_ATTR_KIND_COUNT)
            return kiln_node_error(ctx, g, id, KILN_ERR_INVALID, "attribute '%s' has kind %d", a->name, (int)a->kind);
        if (i && strcmp(a[-1].name, a->name) >= 0)
            return kiln_node_error(ctx, g, id, KILN_ERR_INVALID, "attribute '%s' %s '%s' (not sorted by name)",
                                   a->name, strcmp(a[-1].name, a->name) ? "comes after" : "repeats",
                                   a[-1].name);
    }
    return KILN_OK;
}

/* Why an input that is not defined yet is not. */
static kiln_status undefined_input(kiln_ctx *ctx, const kiln_graph *g, uint32_t id, uint32_t i, uint32_t v)
{
    char d[300], p[300];
    const kiln_value *val = &g->values[v];
    if (val->kind == KILN_VAL_INPUT)
        return kiln_node_error(ctx, g, id, KILN_ERR_INVALID,
                               "input %u (%s) is an input value missing from the graph's input list", i,
                               vname(g, v, d, sizeof d));
    if (val->producer == 0)
        return kiln_node_error(ctx, g, id, KILN_ERR_INVALID,
                               "input %u (%s) has no producer (not a graph input, constant or node output)", i,
                               vname(g, v, d, sizeof d));
    if (val->producer == id)
        return kiln_node_error(ctx, g, id, KILN_ERR_INVALID,
                               "input %u (%s) is this node's own output (a node cannot use its result)", i,
                               vname(g, v, d, sizeof d));
    return kiln_node_error(ctx, g, id, KILN_ERR_INVALID,
                           "input %u (%s) is produced by node %s, which comes later (not in topological order)",
                           i, vname(g, v, d, sizeof d), kiln_node_describe(g, val->producer, p, sizeof p));
}

static kiln_status check_outputs_fresh(kiln_ctx *ctx, const kiln_graph *g, uint32_t id, bool *defined)
{
    const kiln_node *n = &g->nodes[id];
    char d[300];
    for (uint32_t i = 0; i < n->n_out; i++) {
        uint32_t v = g->operands[n->out + i];
        if (!v)
            return kiln_node_error(ctx, g, id, KILN_ERR_INVALID, "output %u is absent (index 0)", i);
        if (g->values[v].kind != KILN_VAL_NODE || g->values[v].producer != id)
            return kiln_node_error(ctx, g, id, KILN_ERR_INVALID,
                                   "output %u (%s) is also a graph input, a constant or another node's output",
                                   i, vname(g, v, d, sizeof d));
        if (defined[v])
            return kiln_node_error(ctx, g, id, KILN_ERR_INVALID, "output %u (%s) is produced twice", i,
                                   vname(g, v, d, sizeof d));
        defined[v] = true;
    }
    return KILN_OK;
}

static kiln_status check_node_order(kiln_ctx *ctx, const kiln_graph *g, uint32_t id, bool *defined)
{
    const kiln_node *n = &g->nodes[id];
    TRY(check_arity(ctx, g, id));
    TRY(check_attrs(ctx, g, id));
    for (uint32_t i = 0; i < n->n_in; i++) {
        uint32_t v = g->operands[n->in + i];
        if (v && !defined[v])
            return undefined_input(ctx, g, id, i, v);
    }
    return check_outputs_fresh(ctx, g, id, defined);
}

static kiln_status check_order(kiln_ctx *ctx, const kiln_graph *g)
{
    char d[300];
    bool *defined = kiln_xcalloc(g->n_values, sizeof *defined);
    for (uint32_t v = 1; v < g->n_values; v++)
        defined[v] = g->values[v].kind == KILN_VAL_CONST;
    for (uint32_t i = 0; i < g->n_inputs; i++) /* linear: a hostile model may have many */
        defined[g->inputs[i]] = true;
    kiln_status st = KILN_OK;
    for (uint32_t id = 1; id < g->n_nodes && st == KILN_OK; id++)
        st = check_node_order(ctx, g, id, defined);
    for (uint32_t i = 0; i < g->n_outputs && st == KILN_OK; i++)
        if (!defined[g->outputs[i]])
            st = graph_error(ctx, g, "graph output %u (%s) is not produced by any node", i,
                             vname(g, g->outputs[i], d, sizeof d));
    free(defined);
    return st;
}

/* ---- 4. constants ------------------------------------------------------------------ */

static kiln_status check_consts(kiln_ctx *ctx, const kiln_graph *g)
{
    char d[300], s[256];
    for (uint32_t v = 1; v < g->n_values; v++) {
        const kiln_value *val = &g->values[v];
        int64_t numel, bytes;
        if (val->kind != KILN_VAL_CONST)
            continue;
        if (val->dtype == KILN_DT_UNDEF || !kiln_shape_is_static(&val->shape) ||
            !kiln_shape_numel(&val->shape, &numel) ||
            !kiln_mul_size(numel, (int64_t)kiln_dtype_size(val->dtype), &bytes))
            return graph_error(ctx, g, "constant %s has type %s%s, not a known dtype and static shape",
                               vname(g, v, d, sizeof d), kiln_dtype_name(val->dtype),
                               kiln_shape_format(g, &val->shape, s, sizeof s));
        if (val->data && (uint64_t)bytes != val->nbytes)
            return graph_error(ctx, g, "constant %s has %zu bytes of data, its type %s%s needs %lld",
                               vname(g, v, d, sizeof d), val->nbytes, kiln_dtype_name(val->dtype),
                               kiln_shape_format(g, &val->shape, s, sizeof s), (long long)bytes);
    }
    return KILN_OK;
}

kiln_status kiln_graph_check_data(kiln_ctx *ctx, const kiln_graph *g)
{
    char d[300];
    uint32_t *uses = kiln_graph_use_counts(g);
    kiln_status st = KILN_OK;
    for (uint32_t v = 1; v < g->n_values && st == KILN_OK; v++)
        if (uses[v] && g->values[v].kind == KILN_VAL_CONST && !g->values[v].data)
            st = graph_error(ctx, g,
                             "constant %s has no data: its bytes were left out of the text IR "
                             "(digest only); save the graph with 'kiln dump -o FILE' to keep them",
                             vname(g, v, d, sizeof d));
    free(uses);
    return st;
}

/* ---- 5. types against a fresh inference ------------------------------------------------ */

/* The interpreter's stand-in for a size inference cannot know (ir/infer.c). */

static bool dims_agree(kiln_dim graph, kiln_dim fresh)
{
    return graph == fresh || (fresh == KILN_DIM_UNKNOWN_RUNTIME && KILN_DIM_IS_SYM(graph));
}

static bool types_agree(const kiln_value *gv, const kiln_value *fv)
{
    if (gv->dtype != fv->dtype || gv->shape.rank != fv->shape.rank)
        return false;
    for (int i = 0; i < gv->shape.rank; i++)
        if (!dims_agree(gv->shape.dim[i], fv->shape.dim[i]))
            return false;
    return true;
}

static kiln_status compare_outputs(kiln_ctx *ctx, const kiln_graph *g, const kiln_value *fresh, uint32_t id)
{
    const kiln_node *n = &g->nodes[id];
    char d[300], a[256], b[256];
    for (uint32_t i = 0; i < n->n_out; i++) {
        uint32_t v = g->operands[n->out + i];
        const kiln_value *gv = &g->values[v], *fv = &fresh[v];
        if (!types_agree(gv, fv))
            return kiln_node_error(ctx, g, id, KILN_ERR_INVALID,
                                   "output %u (%s) has type %s%s, shape inference gives %s%s", i,
                                   vname(g, v, d, sizeof d), kiln_dtype_name(gv->dtype),
                                   kiln_shape_format(g, &gv->shape, a, sizeof a), kiln_dtype_name(fv->dtype),
                                   kiln_shape_format(g, &fv->shape, b, sizeof b));
        if (gv->data && fv->data && (gv->nbytes != fv->nbytes || memcmp(gv->data, fv->data, gv->nbytes)))
            return kiln_node_error(ctx, g, id, KILN_ERR_INVALID,
                                   "output %u (%s) carries data that differs from what inference computes",
                                   i, vname(g, v, d, sizeof d));
    }
    return KILN_OK;
}

/* Infer (and where the inference driver would, evaluate) one node on the
 * copy, outputs reset first so nothing of the graph's answer leaks in. */
static kiln_status refresh_node(kiln_ctx *ctx, const kiln_graph *g, kiln_value *fresh, uint32_t id,
                                kiln_arena *arena)
{
    const kiln_node *n = &g->nodes[id];
    for (uint32_t i = 0; i < n->n_out; i++) {
        kiln_value *v = &fresh[g->operands[n->out + i]];
        v->dtype = KILN_DT_UNDEF;
        v->shape = kiln_shape_unknown();
        v->data = NULL;
        v->nbytes = 0;
    }
    /* with a private value table inference does not write the graph */
    TRY(kiln_infer_node(ctx, (kiln_graph *)g, fresh, id));
    if (!kiln_fold_ready(g, fresh, id, KILN_INFER_FOLD_MAX_ELEMS))
        return KILN_OK;
    kiln_status st = kiln_interp_eval_node(ctx, g, fresh, id, arena);
    if (st == KILN_ERR_UNSUPPORTED) {
        for (uint32_t i = 0; i < n->n_out; i++)
            fresh[g->operands[n->out + i]].data = NULL;
        kiln_ctx_clear(ctx);
        st = KILN_OK;
    }
    return st;
}

/* Some values only static inference computes (Shape and Size write their
 * data into the graph, not into a private value table): once the output's
 * type is checked, downstream nodes may use the graph's data. */
static void adopt_static_data(const kiln_graph *g, kiln_value *fresh, uint32_t id)
{
    const kiln_node *n = &g->nodes[id];
    for (uint32_t i = 0; i < n->n_out; i++) {
        uint32_t v = g->operands[n->out + i];
        if (!fresh[v].data && g->values[v].data) {
            fresh[v].data = g->values[v].data;
            fresh[v].nbytes = g->values[v].nbytes;
        }
    }
}

static kiln_status check_types(kiln_ctx *ctx, const kiln_graph *g)
{
    kiln_value *fresh = kiln_xcalloc(g->n_values, sizeof *fresh);
    memcpy(fresh, g->values, g->n_values * sizeof *fresh);
    for (uint32_t v = 1; v < g->n_values; v++)
        if (fresh[v].kind == KILN_VAL_NODE)
            fresh[v].data = NULL, fresh[v].nbytes = 0;
    kiln_arena *arena = kiln_arena_create();
    kiln_status st = KILN_OK;
    for (uint32_t id = 1; id < g->n_nodes && st == KILN_OK; id++) {
        st = refresh_node(ctx, g, fresh, id, arena);
        if (st == KILN_OK)
            st = compare_outputs(ctx, g, fresh, id);
        if (st == KILN_OK)
            adopt_static_data(g, fresh, id);
    }
    kiln_arena_destroy(arena);
    free(fresh);
    return st;
}

kiln_status kiln_graph_verify_structure(kiln_ctx *ctx, const kiln_graph *g)
{
    TRY(check_io_ranges(ctx, g));
    for (uint32_t id = 1; id < g->n_nodes; id++)
        TRY(check_node_ranges(ctx, g, id));
    TRY(check_producers(ctx, g));
    TRY(check_order(ctx, g));
    return check_consts(ctx, g);
}

kiln_status kiln_graph_verify(kiln_ctx *ctx, const kiln_graph *g)
{
    TRY(kiln_graph_verify_structure(ctx, g));
    return check_types(ctx, g);
}
