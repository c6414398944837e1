/* plan_memory.c — pass `plan-memory`: the static memory plan of a graph
 * (passes/plan.h), and the planner it runs.
 *
 * Needs: inferred shapes. Produces: a kiln_plan handed to the caller through
 * pc->result (the IR is not changed) and a note with the arena's peak next
 * to the live lower bound.
 *
 * The planner, top to bottom: classify each value (arena, dynamic,
 * outside); liveness by node order; lower every node once for its scratch
 * and its in-place permission; turn the arena tensors into blocks (an
 * in-place output joins its input's block, so a chain of reshapes is one
 * block) and each node's scratch into a one-node block; the lower bound is
 * the largest sum of block sizes live at one node, which no placement can
 * beat; place the blocks best fit, largest first ("greedy by size", which
 * lands within a few percent of the bound on real networks), and where that
 * stays above the bound, retry with the blocks that stuck out placed first.
 *   before: %a = Transpose(%x)   %b = Reshape(%a, %s)   %y = Transpose(%b)
 *   after:  same IR; plan: %a @0 (256 B), %b @0 in place of %a, %x %y outside
 *   (tests/unit/test_plan.c, "chain in place needs one buffer")
 */
#include "passes/plan.h"
#include "ir/lower.h"
#include "passes/pass.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t align_up(size_t x)
{
    return (x + KILN_PLAN_ALIGN - 1) / KILN_PLAN_ALIGN * KILN_PLAN_ALIGN;
}

/* One thing to place: a tensor (with whatever shares it in place) or a
 * node's scratch. */
typedef struct block {
    size_t size;            /* aligned bytes */
    uint32_t start, end;    /* live at nodes [start, end] */
    size_t offset;          /* the placement */
} block;

typedef struct planner {
    kiln_ctx *ctx;
    const kiln_graph *g;
    kiln_plan *plan;
    uint32_t *last;         /* [n_values] last node reading v (its producer if none) */
    uint32_t *block_of;     /* [n_values] block of an arena tensor */
    uint32_t *scratch_block;/* [n_nodes] block of the node's scratch (when it has one) */
    uint32_t *inplace_in;   /* [n_nodes] input the lowering lets output 0 share; 0 none */
    block *blocks;          /* at most n_values + n_nodes */
    uint32_t n_blocks;
    kiln_arena *scratch;    /* lowering descriptors, reset per node */
} planner;

static bool in_arena(const kiln_plan *plan, uint32_t v)
{
    return v && plan->offset[v] != KILN_PLAN_NONE && plan->offset[v] != KILN_PLAN_DYNAMIC;
}

/* ---- values and liveness ------------------------------------------------- */

static bool *output_flags(const kiln_graph *g)
{
    bool *is_out = kiln_xcalloc(g->n_values, sizeof *is_out);
    for (uint32_t k = 0; k < g->n_outputs; k++)
        is_out[g->outputs[k]] = true;
    return is_out;
}

/* Node outputs with a static shape that are not graph outputs go in the
 * arena (offset 0 for now), those without one are dynamic. */
static kiln_status classify(planner *p)
{
    const kiln_graph *g = p->g;
    kiln_plan *plan = p->plan;
    bool *is_out = output_flags(g);
    kiln_status st = KILN_OK;
    for (uint32_t v = 0; v < g->n_values && st == KILN_OK; v++) {
        const kiln_value *val = &g->values[v];
        int64_t numel, bytes;
        plan->offset[v] = KILN_PLAN_NONE;
        if (v == 0 || val->kind != KILN_VAL_NODE || !val->producer || is_out[v])
            continue;
        if (val->dtype == KILN_DT_UNDEF || !kiln_shape_numel(&val->shape, &numel)) {
            plan->offset[v] = KILN_PLAN_DYNAMIC;
            plan->n_dynamic++;
        } else if (!kiln_mul_size(numel, (int64_t)kiln_dtype_size(val->dtype), &bytes) ||
                   bytes > INT64_MAX / 2) {
            st = kiln_node_error(p->ctx, g, val->producer, KILN_ERR_UNSUPPORTED,
                                 "output '%s' is too large to plan", val->name);
        } else {
            plan->offset[v] = 0;
            plan->bytes[v] = (size_t)bytes;
            plan->n_tensors++;
        }
    }
    free(is_out);
    return st;
}

static void liveness(planner *p)
{
    const kiln_graph *g = p->g;
    for (uint32_t v = 0; v < g->n_values; v++)
        p->last[v] = g->values[v].producer;
    for (uint32_t n = 1; n < g->n_nodes; n++)
        for (uint32_t i = 0; i < g->nodes[n].n_in; i++)
            p->last[g->operands[g->nodes[n].in + i]] = n;  /* nodes ascend: the last write wins */
    p->last[0] = 0;
}

/* ---- what the lowering says ---------------------------------------------- */

static bool call_uses(const kiln_kernel_call *c, uint32_t v)
{
    for (uint32_t i = 0; i < c->n_ops; i++)
        if (c->ops[i] == v)
            return true;
    return false;
}

static bool is_input_of(const kiln_graph *g, const kiln_node *n, uint32_t v)
{
    for (uint32_t i = 0; i < n->n_in; i++)
        if (g->operands[n->in + i] == v)
            return true;
    return false;
}

/* The node input whose buffer output 0 may take: one call declares it
 * (inplace = k, ops[k] a node input, output 0 among its operands); no
 * earlier call touches output 0 (it would clobber the input before that
 * call reads it) and no later call reads the input. 0 when none. */
static uint32_t inplace_input(const kiln_graph *g, const kiln_node *n, const kiln_lowered *low)
{
    uint32_t y = kiln_node_output(g, n, 0), x = 0, at = 0;
    for (uint32_t c = 0; c < low->n_calls; c++) {
        const kiln_kernel_call *call = &low->calls[c];
        if (call->inplace < 0 || (uint32_t)call->inplace >= call->n_ops)
            continue;
        uint32_t v = call->ops[call->inplace];
        if (!v || v == y || !is_input_of(g, n, v) || !call_uses(call, y))
            continue;
        if (x)
            return 0;  /* two calls claim one: not worth the reasoning */
        x = v, at = c;
    }
    for (uint32_t c = 0; x && c < low->n_calls; c++)
        if ((c < at && call_uses(&low->calls[c], y)) || (c > at && call_uses(&low->calls[c], x)))
            return 0;
    return x;
}

/* Every operand typed with a static shape: only then can the lowering size
 * the node's scratch at compile time. */
static bool value_static(const kiln_value *v)
{
    return v->dtype != KILN_DT_UNDEF && kiln_shape_is_static(&v->shape);
}

static bool node_static(const kiln_graph *g, const kiln_node *n)
{
    for (uint32_t i = 0; i < n->n_in; i++)
        if (kiln_node_input(g, n, i) && !value_static(kiln_in(g, n, i)))
            return false;
    for (uint32_t i = 0; i < n->n_out; i++)
        if (kiln_node_output(g, n, i) && !value_static(kiln_out(g, n, i)))
            return false;
    return true;
}

/* Scratch bytes of node n for plan->threads threads and its in-place input. */
static kiln_status lower_one(planner *p, uint32_t n)
{
    const kiln_graph *g = p->g;
    const kiln_node *node = &g->nodes[n];
    kiln_lowered low;
    if (!kiln_lower_lookup(node->op) || !node_static(g, node))
        return KILN_OK;
    if (kiln_lower_node(p->ctx, g, g->values, n, p->scratch, &low) != KILN_OK) {
        kiln_ctx_clear(p->ctx);  /* the executor meets it at run time */
        kiln_arena_reset(p->scratch);
        return KILN_OK;
    }
    size_t slice = 0;
    int64_t total;
    for (uint32_t c = 0; c < low.n_calls; c++)
        if (align_up(low.calls[c].scratch) > slice)
            slice = align_up(low.calls[c].scratch);
    p->inplace_in[n] = inplace_input(g, node, &low);
    kiln_arena_reset(p->scratch);
    if (!kiln_mul_size((int64_t)slice, p->plan->threads, &total) || total > INT64_MAX / 2)
        return kiln_node_error(p->ctx, g, n, KILN_ERR_UNSUPPORTED, "scratch too large to plan");
    p->plan->scratch_bytes[n] = (size_t)total;
    return KILN_OK;
}

/* ---- blocks ------------------------------------------------------------- */

static uint32_t new_block(planner *p, size_t size, uint32_t start, uint32_t end)
{
    p->blocks[p->n_blocks] = (block){.size = size, .start = start, .end = end};
    return p->n_blocks++;
}

/* Output y of node n may take input x's block. */
static bool can_share(const planner *p, uint32_t n, uint32_t x, uint32_t y)
{
    const kiln_value *vals = p->g->values;
    return in_arena(p->plan, x) && in_arena(p->plan, y) && p->last[x] == n &&
           vals[x].dtype == vals[y].dtype && p->plan->bytes[x] == p->plan->bytes[y];
}

static void node_blocks(planner *p, uint32_t n)
{
    const kiln_graph *g = p->g;
    const kiln_node *node = &g->nodes[n];
    kiln_plan *plan = p->plan;
    for (uint32_t i = 0; i < node->n_out; i++) {
        uint32_t y = g->operands[node->out + i], x = i == 0 ? p->inplace_in[n] : 0;
        if (!in_arena(plan, y))
            continue;
        if (x && can_share(p, n, x, y)) {
            block *b = &p->blocks[p->block_of[x]];
            p->block_of[y] = p->block_of[x];
            b->end = p->last[y] > b->end ? p->last[y] : b->end;
            plan->inplace[y] = x;
            plan->n_inplace++;
        } else {
            p->block_of[y] = new_block(p, align_up(plan->bytes[y]), n, p->last[y]);
        }
    }
    if (plan->scratch_bytes[n])
        p->scratch_block[n] = new_block(p, plan->scratch_bytes[n], n, n);
}

/* ---- placement ---------------------------------------------------------- */

typedef struct order_key {
    size_t size;
    uint32_t start, end, block;
} order_key;

/* Largest first; ties by start, then block, so the plan is deterministic. */
static int by_size(const void *a, const void *b)
{
    const order_key *x = a, *y = b;
    if (x->size != y->size)
        return x->size > y->size ? -1 : 1;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->block < y->block ? -1 : x->block > y->block;
}

/* Largest area (bytes x nodes) first. */
static int by_area(const void *a, const void *b)
{
    const order_key *x = a, *y = b;
    double ax = (double)x->size * (x->end - x->start + 1), ay = (double)y->size * (y->end - y->start + 1);
    if (ax != ay)
        return ax > ay ? -1 : 1;
    return by_size(a, b);
}

static bool live_together(const block *a, const block *b)
{
    return a->start <= b->end && b->start <= a->end;
}

/* Best fit for block i among the placed ones (sorted by offset): the
 * smallest gap between blocks live at the same time that holds it, or the
 * top of those blocks. */
static size_t best_fit(const block *b, const uint32_t *placed, uint32_t n_placed, uint32_t i)
{
    size_t top = 0, best = KILN_PLAN_NONE, best_gap = KILN_PLAN_NONE;
    for (uint32_t k = 0; k < n_placed; k++) {
        const block *o = &b[placed[k]];
        if (!live_together(o, &b[i]))
            continue;
        if (o->offset >= top && o->offset - top >= b[i].size && o->offset - top < best_gap)
            best = top, best_gap = o->offset - top;
        if (o->offset + o->size > top)
            top = o->offset + o->size;
    }
    return best != KILN_PLAN_NONE ? best : top;
}

/* Place the blocks in `order`, each best fit; returns the peak. `placed`
 * is work space for n indices. */
static size_t place(block *b, uint32_t n, const uint32_t *order, uint32_t *placed)
{
    size_t peak = 0;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = order[k], at = k;
        b[i].offset = best_fit(b, placed, k, i);
        while (at > 0 && b[placed[at - 1]].offset > b[i].offset)  /* keep placed by offset */
            placed[at] = placed[at - 1], at--;
        placed[at] = i;
        if (b[i].offset + b[i].size > peak)
            peak = b[i].offset + b[i].size;
    }
    return peak;
}

static void sorted_order(const block *b, uint32_t n, int (*cmp)(const void *, const void *),
                         uint32_t *order)
{
    order_key *keys = kiln_xcalloc(n ? n : 1, sizeof *keys);
    for (uint32_t i = 0; i < n; i++)
        keys[i] = (order_key){.size = b[i].size, .start = b[i].start, .end = b[i].end, .block = i};
    qsort(keys, n, sizeof *keys, cmp);
    for (uint32_t i = 0; i < n; i++)
        order[i] = keys[i].block;
    free(keys);
}

/* "Squeaky wheel": the blocks a placement put above the lower bound go
 * first next time, the others keep their relative order. */
static void promote(const block *b, uint32_t n, size_t bound, uint32_t *order, uint32_t *tmp)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++)
        if (b[order[i]].offset + b[order[i]].size > bound)
            tmp[k++] = order[i];
    for (uint32_t i = 0; i < n; i++)
        if (b[order[i]].offset + b[order[i]].size <= bound)
            tmp[k++] = order[i];
    memcpy(order, tmp, n * sizeof *order);
}

enum { PLAN_ROUNDS = 16 };  /* re-placements per seed order while above the bound */

/* A placement visits about n^2/2 pairs of blocks. Beyond the first, the
 * retries stop after about 2^28 visits in all, so that a graph of tens of
 * thousands of blocks still plans in a moment. */
static bool within_budget(uint32_t n, int placements)
{
    return (double)placements * (double)n * (double)n / 2 < (double)(1u << 28);
}

/* Best fit from two seed orders (largest first, largest area first), each
 * refined by a few squeaky-wheel rounds while the peak is above the lower
 * bound; keeps the lowest peak found (the first on ties). Leaves that
 * placement in the blocks and returns its peak. */
static size_t place_all(block *b, uint32_t n, size_t bound)
{
    static int (*const seeds[])(const void *, const void *) = {by_size, by_area};
    uint32_t *order = kiln_xcalloc(n ? n : 1, sizeof *order), *tmp = kiln_xcalloc(n ? n : 1, sizeof *tmp);
    size_t *best_offset = kiln_xcalloc(n ? n : 1, sizeof *best_offset), best = KILN_PLAN_NONE;
    int placements = 0;
    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0] && best > bound; s++) {
        sorted_order(b, n, seeds[s], order);
        for (int round = 0; round <= PLAN_ROUNDS && best > bound; round++) {
            if (placements && !within_budget(n, placements + 1))
                break;
            placements++;
            if (round)
                promote(b, n, bound, order, tmp);
            size_t peak = place(b, n, order, tmp);
            if (peak < best) {
                best = peak;
                for (uint32_t i = 0; i < n; i++)
                    best_offset[i] = b[i].offset;
            }
        }
    }
    for (uint32_t i = 0; i < n; i++)
        b[i].offset = best_offset[i];
    free(best_offset);
    free(tmp);
    free(order);
    return n ? best : 0;
}

/* The largest sum of block sizes live at one node. */
static size_t live_bound(const block *b, uint32_t n, uint32_t n_nodes)
{
    size_t *add = kiln_xcalloc(n_nodes + 1, sizeof *add), *drop = kiln_xcalloc(n_nodes + 1, sizeof *drop);
    size_t live = 0, most = 0;
    for (uint32_t i = 0; i < n; i++) {
        add[b[i].start] += b[i].size;
        drop[b[i].end] += b[i].size;
    }
    for (uint32_t node = 0; node < n_nodes; node++) {
        live += add[node];
        most = live > most ? live : most;
        live -= drop[node];
    }
    free(add);
    free(drop);
    return most;
}

/* ---- the plan -------------------------------------------------------------- */

static kiln_plan *plan_new(const kiln_graph *g, int threads)
{
    kiln_plan *plan = kiln_xcalloc(1, sizeof *plan);
    plan->n_values = g->n_values;
    plan->n_nodes = g->n_nodes;
    plan->threads = threads > 0 ? threads : 1;
    plan->offset = kiln_xcalloc(g->n_values, sizeof *plan->offset);
    plan->bytes = kiln_xcalloc(g->n_values, sizeof *plan->bytes);
    plan->inplace = kiln_xcalloc(g->n_values, sizeof *plan->inplace);
    plan->scratch_offset = kiln_xcalloc(g->n_nodes, sizeof *plan->scratch_offset);
    plan->scratch_bytes = kiln_xcalloc(g->n_nodes, sizeof *plan->scratch_bytes);
    return plan;
}

void kiln_plan_destroy(kiln_plan *plan)
{
    if (!plan)
        return;
    free(plan->offset);
    free(plan->bytes);
    free(plan->inplace);
    free(plan->scratch_offset);
    free(plan->scratch_bytes);
    free(plan);
}

static void planner_free(planner *p)
{
    free(p->last);
    free(p->block_of);
    free(p->scratch_block);
    free(p->inplace_in);
    free(p->blocks);
    kiln_arena_destroy(p->scratch);
}

/* Copy the placement back into the plan's per-value and per-node arrays. */
static void publish(planner *p)
{
    kiln_plan *plan = p->plan;
    for (uint32_t v = 1; v < plan->n_values; v++)
        if (in_arena(plan, v))
            plan->offset[v] = p->blocks[p->block_of[v]].offset;
    for (uint32_t n = 1; n < plan->n_nodes; n++)
        if (plan->scratch_bytes[n])
            plan->scratch_offset[n] = p->blocks[p->scratch_block[n]].offset;
}

static kiln_status run_planner(planner *p)
{
    const kiln_graph *g = p->g;
    kiln_status st = classify(p);
    liveness(p);
    for (uint32_t n = 1; st == KILN_OK && n < g->n_nodes; n++)
        st = lower_one(p, n);
    for (uint32_t n = 1; st == KILN_OK && n < g->n_nodes; n++)
        node_blocks(p, n);
    if (st != KILN_OK)
        return st;
    p->plan->lower_bound = live_bound(p->blocks, p->n_blocks, g->n_nodes);
    p->plan->peak = place_all(p->blocks, p->n_blocks, p->plan->lower_bound);
    publish(p);
    return KILN_OK;
}

kiln_status kiln_plan_memory(kiln_ctx *ctx, const kiln_graph *g, const kiln_plan_opts *opts,
                             kiln_plan **out)
{
    planner p = {.ctx = ctx, .g = g, .plan = plan_new(g, opts ? opts->threads : 1)};
    p.last = kiln_xcalloc(g->n_values, sizeof *p.last);
    p.block_of = kiln_xcalloc(g->n_values, sizeof *p.block_of);
    p.scratch_block = kiln_xcalloc(g->n_nodes, sizeof *p.scratch_block);
    p.inplace_in = kiln_xcalloc(g->n_nodes, sizeof *p.inplace_in);
    p.blocks = kiln_xcalloc(g->n_values + g->n_nodes, sizeof *p.blocks);
    p.scratch = kiln_arena_create();
    kiln_status st = run_planner(&p);
    planner_free(&p);
    if (st != KILN_OK) {
        kiln_plan_destroy(p.plan);
        p.plan = NULL;
    }
    *out = p.plan;
    return st;
}

const char *kiln_plan_format_bytes(size_t bytes, char *buf, size_t size)
{
    if (bytes < 1024)
        snprintf(buf, size, "%zu B", bytes);
    else if (bytes < (size_t)1 << 20)
        snprintf(buf, size, "%.2f KiB", (double)bytes / 1024);
    else
        snprintf(buf, size, "%.2f MiB", (double)bytes / (1024.0 * 1024.0));
    return buf;
}

/* ---- the pass ------------------------------------------------------------------ */

static void free_plan(void *plan)
{
    kiln_plan_destroy(plan);
}

kiln_status kiln_pass_plan_memory(kiln_pass_ctx *pc, kiln_graph *g)
{
    kiln_plan_opts opts = {.threads = pc->opts ? pc->opts->threads : 1};
    kiln_plan *plan;
    kiln_status st = kiln_plan_memory(pc->ctx, g, &opts, &plan);
    if (st != KILN_OK)
        return st;
    char peak[32], bound[32], dynamic[64] = "";
    if (plan->n_dynamic)
        snprintf(dynamic, sizeof dynamic, ", %u sized only at run time", plan->n_dynamic);
    kiln_note(pc->ctx, "plan-memory: arena %s peak, live lower bound %s (%.2fx), %u tensors in place%s",
              kiln_plan_format_bytes(plan->peak, peak, sizeof peak),
              kiln_plan_format_bytes(plan->lower_bound, bound, sizeof bound),
              plan->lower_bound ? (double)plan->peak / (double)plan->lower_bound : 1.0,
              plan->n_inplace, dynamic);
    pc->result = plan;
    pc->result_free = free_plan;
    return KILN_OK;
}
