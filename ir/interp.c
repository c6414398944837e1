/* interp.c — the reference interpreter: runs a graph node by node.
 *
 * A session (kiln_interp_create) plans the graph's memory once
 * (passes/plan.h) and allocates one 64-byte aligned arena of plan->peak
 * bytes. Each run (kiln_interp_exec) works on a private copy of the value
 * table so the graph is never modified: graph inputs point at the caller's
 * data; each node is shape-inferred with all its input data known (so
 * data-dependent shapes come out concrete) and its outputs are placed: a
 * planned tensor at arena + offset (its run-time shape must be the planned
 * one), a dynamic one or a graph output in a fresh buffer; then the node
 * runs as its kernel calls (ir/lower.h), split over the session's thread
 * pool, scratch at the node's planned scratch offset.
 * Fresh buffers are freed after their last use; graph outputs are handed to
 * the caller. Nothing planned is allocated per node or per run.
 */
#include "ir/interp.h"
#include "ir/flops.h"
#include "ir/infer.h"
#include "ir/lower.h"
#include "runtime/krt_pool.h"
#include "runtime/krt_profile.h"
#include "passes/plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool kiln_interp_can_run(kiln_op op)
{
    return kiln_lower_lookup(op) != NULL;
}

/* Bytes of a value with a static shape; false if not static or too big. */
static bool value_bytes(const kiln_value *v, size_t *bytes)
{
    int64_t numel, b;
    if (!kiln_shape_numel(&v->shape, &numel) || !kiln_mul_size(numel, (int64_t)kiln_dtype_size(v->dtype), &b))
        return false;
    *bytes = (size_t)b;
    return true;
}

/* Where a node's kernel calls run: the kernel scratch its plan reserved
 * (one slice per thread, passes/plan.h; NULL/0 when the node has none:
 * shape inference, dynamic shapes) and the pool that splits each call
 * (NULL: one thread). */
typedef struct work_area {
    void *base;
    size_t bytes;
    krt_pool *pool;
} work_area;

/* Run one kernel call over all its units, split over the pool's threads
 * (thread t's scratch is slice t), operands resolved to the data of
 * `values`; scratch from the plan, or from `scratch` when the plan has too
 * little (a node planned without its lowering). */
static kiln_status run_call(kiln_ctx *ctx, const kiln_graph *g, const kiln_value *values,
                            uint32_t node, const kiln_kernel_call *call, work_area work,
                            kiln_arena *scratch)
{
    void *ops_stack[16];
    void **ops = call->n_ops <= 16 ? ops_stack : kiln_arena_alloc(scratch, call->n_ops * sizeof *ops, 8);
    for (uint32_t i = 0; i < call->n_ops; i++)
        ops[i] = call->ops[i] ? (void *)values[call->ops[i]].data : NULL;
    size_t stride = (call->scratch + KILN_PLAN_ALIGN - 1) / KILN_PLAN_ALIGN * KILN_PLAN_ALIGN;
    size_t need = stride * (size_t)krt_pool_threads(work.pool);
    void *mem = !need ? NULL : need <= work.bytes ? work.base : kiln_arena_alloc(scratch, need, 64);
    krt_error err = {.operand = -1};
    krt_status st = krt_pool_run(work.pool, krt_kernels[call->kernel], call->desc, ops, mem, stride,
                                 call->units, &err);
    return st == KRT_OK ? KILN_OK : kiln_kernel_fail(ctx, g, node, call, st, &err);
}

/* A node runs as its kernel calls (lowered here, with the values' data
 * known, so data-dependent descriptors come out right). */
static kiln_status run_node_calls(kiln_ctx *ctx, const kiln_graph *g, kiln_value *values,
                                  uint32_t node, work_area work, kiln_arena *scratch)
{
    kiln_lowered low;
    kiln_status st = kiln_lower_node(ctx, g, values, node, scratch, &low);
    for (uint32_t i = 0; st == KILN_OK && i < low.n_calls; i++)
        st = run_call(ctx, g, values, node, &low.calls[i], work, scratch);
    return st;
}

kiln_status kiln_interp_eval_node(kiln_ctx *ctx, const kiln_graph *g, kiln_value *values,
                                  uint32_t node, kiln_arena *arena)
{
    const kiln_node *n = &g->nodes[node];
    for (uint32_t i = 0; i < n->n_out; i++) {
        uint32_t v = g->operands[n->out + i];
        size_t bytes;
        if (!v)
            continue;
        if (!value_bytes(&values[v], &bytes))
            return kiln_node_error(ctx, g, node, KILN_ERR_INVALID,
                                   "output %u has no static shape to evaluate", i);
        values[v].data = kiln_arena_alloc(arena, bytes ? bytes : 1, 64);
        values[v].nbytes = bytes;
    }
    kiln_arena *scratch = kiln_arena_create();
    kiln_status st = run_node_calls(ctx, g, values, node, (work_area){0}, scratch);
    kiln_arena_destroy(scratch);
    return st;
}

/* ---- a session: running a whole graph --------------------------------------- */

struct kiln_interp {
    kiln_ctx *ctx;
    const kiln_graph *g;
    kiln_plan *plan;
    unsigned char *arena;   /* plan->peak bytes (at least 64), 64-byte aligned */
    kiln_value *init;       /* g->values, compile-time node data cleared: each run's start */
    kiln_value *values;     /* this run's value table */
    bool *owned;            /* values[v].data was malloc'd by this run */
    uint32_t *n_uses;       /* uses of each value (a graph output counts as one) */
    uint32_t *uses;         /* this run's remaining uses */
    kiln_arena *scratch;    /* lowering results and unplanned scratch; reset after each node */
    krt_pool *pool;         /* splits kernel calls over threads; NULL: one thread */
};

/* Debug builds fill planned memory with 0xff bytes (NaN, -1) before a node
 * writes it, so a kernel that reads memory it did not write (and would
 * have got zeros from a fresh buffer) fails every test it is in. */
static void poison(void *p, size_t bytes)
{
#ifndef NDEBUG
    if (p && bytes)
        memset(p, 0xff, bytes);
#else
    (void)p, (void)bytes;
#endif
}

static kiln_status check_input(kiln_interp *r, uint32_t k, const kiln_tensor *t, int64_t *sym_size)
{
    const kiln_graph *g = r->g;
    const kiln_value *v = &g->values[g->inputs[k]];
    char want[256], got[256];
    int64_t numel;
    bool fits = v->shape.rank < 0 || v->shape.rank == t->shape.rank;
    for (int i = 0; fits && v->shape.rank >= 0 && i < t->shape.rank; i++) {
        kiln_dim d = v->shape.dim[i];
        if (!KILN_DIM_IS_SYM(d))
            fits = d == t->shape.dim[i];
        else if (KILN_DIM_SYM_ID(d) < g->n_syms) {  /* one symbol, one size */
            int64_t *s = &sym_size[KILN_DIM_SYM_ID(d)];
            fits = *s < 0 || *s == t->shape.dim[i];
            *s = t->shape.dim[i];
        }
    }
    if (v->dtype != KILN_DT_UNDEF && v->dtype != t->dtype)
        return kiln_error(r->ctx, KILN_ERR_INVALID, "%s: input '%s' must be %s, got %s",
                          g->source, v->name, kiln_dtype_name(v->dtype), kiln_dtype_name(t->dtype));
    if (!fits)
        return kiln_error(r->ctx, KILN_ERR_INVALID, "%s: input '%s' must have shape %s, got %s",
                          g->source, v->name, kiln_shape_format(g, &v->shape, want, sizeof want),
                          kiln_shape_format(g, &t->shape, got, sizeof got));
    if (!kiln_shape_numel(&t->shape, &numel) ||
        (uint64_t)numel * kiln_dtype_size(t->dtype) != t->nbytes)
        return kiln_error(r->ctx, KILN_ERR_INVALID, "%s: input '%s': %zu bytes of data for shape %s",
                          g->source, v->name, t->nbytes,
                          kiln_shape_format(g, &t->shape, got, sizeof got));
    return KILN_OK;
}

static kiln_status bind_inputs(kiln_interp *r, const kiln_tensor *inputs, uint32_t n_inputs)
{
    const kiln_graph *g = r->g;
    if (n_inputs != g->n_inputs)
        return kiln_error(r->ctx, KILN_ERR_INVALID, "%s: the model takes %u inputs, %u given",
                          g->source, g->n_inputs, n_inputs);
    int64_t *sym_size = kiln_xcalloc(g->n_syms, sizeof *sym_size);
    for (uint32_t s = 0; s < g->n_syms; s++)
        sym_size[s] = -1;
    kiln_status st = KILN_OK;
    for (uint32_t k = 0; k < n_inputs && st == KILN_OK; k++) {
        st = check_input(r, k, &inputs[k], sym_size);
        kiln_value *v = &r->values[g->inputs[k]];
        v->dtype = inputs[k].dtype;
        v->shape = inputs[k].shape;
        v->data = inputs[k].data;
        v->nbytes = inputs[k].nbytes;
    }
    free(sym_size);
    return st;
}

static void release(kiln_interp *r, uint32_t v)
{
    if (r->owned[v]) {
        free((void *)r->values[v].data);
        r->owned[v] = false;
    }
    r->values[v].data = NULL;
}

/* A fresh zeroed buffer for output i of node (dynamic or a graph output). */
static kiln_status alloc_output(kiln_interp *r, uint32_t node, uint32_t i, uint32_t v, size_t bytes)
{
    size_t alloc = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, alloc ? alloc : 64);
    if (!p)
        return kiln_node_error(r->ctx, r->g, node, KILN_ERR_RUNTIME,
                               "out of memory for output %u (%zu bytes)", i, bytes);
    memset(p, 0, alloc ? alloc : 64);
    r->values[v].data = p;
    r->owned[v] = true;
    return KILN_OK;
}

/* Output i of node at its planned place; its run-time type must be the
 * planned one (shape inference met the same static shapes at compile time,
 * so a difference is a bug, reported naming the node). */
static kiln_status place_output(kiln_interp *r, uint32_t node, uint32_t i, uint32_t v, size_t bytes)
{
    const kiln_value *planned = &r->g->values[v], *now = &r->values[v];
    char a[256], b[256];
    if (now->dtype != planned->dtype || !kiln_shape_equal(&now->shape, &planned->shape) ||
        bytes != r->plan->bytes[v])
        return kiln_node_error(r->ctx, r->g, node, KILN_ERR_RUNTIME,
                               "output %u ('%s') is %s%s at run time but was planned as %s%s", i,
                               now->name, kiln_dtype_name(now->dtype),
                               kiln_shape_format(r->g, &now->shape, a, sizeof a),
                               kiln_dtype_name(planned->dtype),
                               kiln_shape_format(r->g, &planned->shape, b, sizeof b));
    r->values[v].data = r->arena + r->plan->offset[v];
    if (!r->plan->inplace[v])  /* an in-place output's bytes are its input's */
        poison(r->arena + r->plan->offset[v], bytes);
    return KILN_OK;
}

static kiln_status set_outputs(kiln_interp *r, uint32_t node)
{
    const kiln_node *n = &r->g->nodes[node];
    char shape[256];
    kiln_status st = KILN_OK;
    for (uint32_t i = 0; i < n->n_out && st == KILN_OK; i++) {
        uint32_t v = r->g->operands[n->out + i];
        size_t bytes, off = v ? r->plan->offset[v] : 0;
        if (!v)
            continue;
        if (!value_bytes(&r->values[v], &bytes))
            return kiln_node_error(r->ctx, r->g, node, KILN_ERR_INVALID,
                                   "output %u ('%s') has shape %s even with every input known",
                                   i, r->values[v].name,
                                   kiln_shape_format(r->g, &r->values[v].shape, shape, sizeof shape));
        r->values[v].nbytes = bytes;
        if (off == KILN_PLAN_NONE || off == KILN_PLAN_DYNAMIC)
            st = alloc_output(r, node, i, v, bytes);
        else
            st = place_output(r, node, i, v, bytes);
    }
    return st;
}

static work_area node_work(kiln_interp *r, uint32_t node)
{
    size_t bytes = r->plan->scratch_bytes[node];
    work_area w = {bytes ? r->arena + r->plan->scratch_offset[node] : NULL, bytes, r->pool};
    poison(w.base, w.bytes);
    return w;
}

static kiln_status run_node(kiln_interp *r, uint32_t node)
{
    const kiln_node *n = &r->g->nodes[node];
    /* kiln_infer_node takes a mutable graph because static inference may
     * add symbols; with a private value table it never writes the graph. */
    kiln_status st = kiln_infer_node(r->ctx, (kiln_graph *)r->g, r->values, node);
    if (st == KILN_OK)
        st = set_outputs(r, node);
    if (st == KILN_OK)
        st = run_node_calls(r->ctx, r->g, r->values, node, node_work(r, node), r->scratch);
    kiln_arena_reset(r->scratch);
    if (st)
        return st;
    for (uint32_t i = 0; i < n->n_in; i++) {
        uint32_t v = r->g->operands[n->in + i];
        if (v && --r->uses[v] == 0)
            release(r, v);
    }
    for (uint32_t i = 0; i < n->n_out; i++) {
        uint32_t v = r->g->operands[n->out + i];
        if (v && r->uses[v] == 0)
            release(r, v);  /* an output nobody reads (e.g. a Dropout mask) */
    }
    return KILN_OK;
}

/* Move graph output k to the caller: hand over our buffer, or copy when
 * the data is not ours to give (a constant, an input, a repeated output). */
static void take_output(kiln_interp *r, uint32_t k, kiln_tensor *out)
{
    uint32_t v = r->g->outputs[k];
    kiln_value *val = &r->values[v];
    out->dtype = val->dtype;
    out->shape = val->shape;
    out->nbytes = val->nbytes;
    if (r->owned[v]) {
        out->data = val->data;
        r->owned[v] = false;
    } else {
        void *p = kiln_xcalloc(1, val->nbytes ? val->nbytes : 1);
        if (val->nbytes)
            memcpy(p, val->data, val->nbytes);
        out->data = p;
    }
}

/* The plan and the arena; debug builds check the plan independently. */
static kiln_status make_arena(kiln_interp *r, int threads)
{
    kiln_plan_opts po = {.threads = threads};
    kiln_status st = kiln_plan_memory(r->ctx, r->g, &po, &r->plan);
#ifndef NDEBUG
    if (st == KILN_OK && kiln_plan_check(r->ctx, r->g, r->plan) != KILN_OK)
        kiln_panic(__FILE__, __LINE__, "%s", kiln_ctx_message(r->ctx));
#endif
    if (st != KILN_OK)
        return st;
    /* never NULL, even when every planned tensor is empty (peak 0): a
     * value's data is arena + offset, and NULL + 0 is undefined (found by
     * fuzz_passes) */
    size_t bytes = r->plan->peak ? r->plan->peak : KILN_PLAN_ALIGN;
    r->arena = aligned_alloc(KILN_PLAN_ALIGN, bytes);
    if (!r->arena)
        return kiln_error(r->ctx, KILN_ERR_RUNTIME, "%s: out of memory for the %zu-byte arena",
                          r->g->source, r->plan->peak);
    memset(r->arena, 0, bytes);
    return KILN_OK;
}

kiln_status kiln_interp_create(kiln_ctx *ctx, const kiln_graph *g, const kiln_interp_opts *opts,
                               kiln_interp **out)
{
    *out = NULL;
    if (kiln_graph_check_data(ctx, g) != KILN_OK)  /* constants elided in a text IR */
        return kiln_ctx_status(ctx);
    kiln_interp *r = kiln_xcalloc(1, sizeof *r);
    r->ctx = ctx;
    r->g = g;
    kiln_status st = make_arena(r, opts ? opts->threads : 1);
    if (st != KILN_OK) {
        kiln_interp_destroy(r);
        return st;
    }
    r->init = kiln_xcalloc(g->n_values, sizeof *r->init);
    memcpy(r->init, g->values, g->n_values * sizeof *r->init);
    for (uint32_t v = 1; v < g->n_values; v++)
        if (r->init[v].kind == KILN_VAL_NODE)
            r->init[v].data = NULL;  /* computed at compile time: recompute */
    r->values = kiln_xcalloc(g->n_values, sizeof *r->values);
    r->owned = kiln_xcalloc(g->n_values, sizeof *r->owned);
    r->n_uses = kiln_graph_use_counts(g);
    r->uses = kiln_xcalloc(g->n_values, sizeof *r->uses);
    r->scratch = kiln_arena_create();
    int threads = opts && opts->threads > 1 ? opts->threads : 1;
    if (threads > 1 && !(r->pool = krt_pool_create(threads))) {
        kiln_interp_destroy(r);
        return kiln_error(ctx, KILN_ERR_RUNTIME, "%s: cannot start %d threads", g->source, threads);
    }
    *out = r;
    return KILN_OK;
}

void kiln_interp_destroy(kiln_interp *r)
{
    if (!r)
        return;
    krt_pool_destroy(r->pool);
    kiln_arena_destroy(r->scratch);
    free(r->uses);
    free(r->n_uses);
    free(r->owned);
    free(r->values);
    free(r->init);
    free(r->arena);
    kiln_plan_destroy(r->plan);
    free(r);
}

const struct kiln_plan *kiln_interp_plan(const kiln_interp *r)
{
    return r->plan;
}

/* A run; with ns, each node's time (and with flops its FLOPs on this
 * run's shapes) at [node - 1]. */
static kiln_status exec(kiln_interp *r, const kiln_tensor *inputs, uint32_t n_inputs,
                        kiln_tensor *outputs, uint64_t *ns, double *flops)
{
    const kiln_graph *g = r->g;
    memcpy(r->values, r->init, g->n_values * sizeof *r->values);
    memcpy(r->uses, r->n_uses, g->n_values * sizeof *r->uses);
    memset(r->owned, 0, g->n_values * sizeof *r->owned);
    kiln_status st = bind_inputs(r, inputs, n_inputs);
    uint64_t t = ns ? krt_profile_now() : 0;
    for (uint32_t node = 1; st == KILN_OK && node < g->n_nodes; node++) {
        st = run_node(r, node);
        if (ns) {
            uint64_t now = krt_profile_now();
            ns[node - 1] = now - t;
            t = now;
        }
        if (flops)
            flops[node - 1] = kiln_node_flops_known(g, r->values, node);
    }
    for (uint32_t k = 0; st == KILN_OK && k < g->n_outputs; k++)
        take_output(r, k, &outputs[k]);
    for (uint32_t v = 1; v < g->n_values; v++)
        if (r->owned[v])
            free((void *)r->values[v].data);
    return st;
}

kiln_status kiln_interp_exec(kiln_interp *r, const kiln_tensor *inputs, uint32_t n_inputs,
                             kiln_tensor *outputs)
{
    return exec(r, inputs, n_inputs, outputs, NULL, NULL);
}

kiln_status kiln_interp_exec_profiled(kiln_interp *r, const kiln_tensor *inputs, uint32_t n_inputs,
                                      kiln_tensor *outputs, uint64_t *ns, double *flops)
{
    return exec(r, inputs, n_inputs, outputs, ns, flops);
}

kiln_status kiln_interp_run(kiln_ctx *ctx, const kiln_graph *g,
                            const kiln_tensor *inputs, uint32_t n_inputs, kiln_tensor *outputs)
{
    kiln_interp *r;
    kiln_status st = kiln_interp_create(ctx, g, NULL, &r);
    if (st == KILN_OK)
        st = kiln_interp_exec(r, inputs, n_inputs, outputs);
    kiln_interp_destroy(r);
    return st;
}

void kiln_interp_free_outputs(kiln_tensor *outputs, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        free((void *)outputs[i].data);
        outputs[i].data = NULL;
    }
}
