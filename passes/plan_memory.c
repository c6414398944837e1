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
 * beat. Placement puts the blocks one at a time in some order, each best
 * fit: the smallest gap between the blocks live at the same time that holds
 * it, else on top of them. The order decides the peak, so the planner
 * searches orders and keeps the lowest peak, stopping as soon as one
 * reaches the bound or after a budget of about 2^28 block pairs visited:
 *   1. three seed orders: largest first; earliest first; longest lived
 *      first, which sinks the long-lived tensors to the bottom and leaves
 *      the one-node blocks (every scratch) for last, on top of whatever is
 *      live at their node;
 *   2. after each, up to 16 "squeaky wheel" rounds: a block the last
 *      placement put above the bound takes a unit of blame, and the next
 *      placement goes most-blamed first (ties in seed order); blame only
 *      grows, so the rounds do not cycle;
 *   3. then up to 64 largest-first orders with each size jittered by a
 *      factor in [0.6, 1.4) from a fixed-seed generator.
 * Every step is deterministic: the same graph gives the same plan. (Why a
 * search: greedy largest-first puts a node's large scratch at offset 0
 * and stacks the long-lived tensors above it, 10% over the bound on
 * lookupvit; on swin-t at -O0 a few tensors must tile exactly at the
 * busiest nodes, which only some orders find.)
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
    uint32_t stuck;         /* placements that put the block above the bound */
    uint32_t rank;          /* its place in the seed order */
    double weight;          /* size times a pseudo-random factor (restarts) */
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

/* Earliest first, then largest: the order a run-time allocator sees, with
 * the future known. */
static int by_start(const void *a, const void *b)
{
    const order_key *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return by_size(a, b);
}

/* Longest lived first, then largest: the long-lived tensors settle at the
 * bottom and the one-node blocks (every scratch) come last, into whatever
 * room is left at their node. */
static int by_life(const void *a, const void *b)
{
    const order_key *x = a, *y = b;
    if (x->end - x->start != y->end - y->start)
        return x->end - x->start > y->end - y->start ? -1 : 1;
    return by_size(a, b);
}

/* Most often stuck out first; ties keep the seed order. */
static int by_blame(const void *a, const void *b)
{
    const order_key *x = a, *y = b;
    if (x->stuck != y->stuck)
        return x->stuck > y->stuck ? -1 : 1;
    return x->rank < y->rank ? -1 : x->rank > y->rank;
}

/* Heaviest jittered size first; ties by block. */
static int by_weight(const void *a, const void *b)
{
    const order_key *x = a, *y = b;
    if (x->weight != y->weight)
        return x->weight > y->weight ? -1 : 1;
    return x->block < y->block ? -1 : x->block > y->block;
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

/* Place the blocks in the order of keys, each best fit; returns the peak.
 * `placed` is work space for n indices. */
static size_t place(block *b, uint32_t n, const order_key *keys, uint32_t *placed)
{
    size_t peak = 0;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = keys[k].block, at = k;
        b[i].offset = best_fit(b, placed, k, i);
        while (at > 0 && b[placed[at - 1]].offset > b[i].offset)  /* keep placed by offset */
            placed[at] = placed[at - 1], at--;
        placed[at] = i;
        if (b[i].offset + b[i].size > peak)
            peak = b[i].offset + b[i].size;
    }
    return peak;
}

/* The search over placement orders: the blocks, the lowest peak found so
 * far and its offsets. */
typedef struct placer {
    block *b;
    uint32_t n;
    size_t bound;           /* the live lower bound: reaching it ends the search */
    order_key *keys;        /* [n] the next order to try */
    uint32_t *placed;       /* [n] work space of place() */
    size_t *best_offset;    /* [n] offsets of the best placement */
    size_t best;            /* its peak; KILN_PLAN_NONE before the first */
    int placements;
    uint64_t rng;           /* xorshift64 state, fixed seed: the plan is deterministic */
} placer;

enum {
    PLAN_ROUNDS = 16,    /* squeaky-wheel re-placements per seed order */
    PLAN_RESTARTS = 64,  /* jittered largest-first orders after the seeds */
};

/* A placement visits about n^2/2 pairs of blocks. Beyond the first, the
 * search stops after about 2^28 visits in all, so that a graph of tens of
 * thousands of blocks still plans in a moment. */
static bool search_over(const placer *pl)
{
    double visits = (double)(pl->placements + 1) * (double)pl->n * (double)pl->n / 2;
    return pl->best <= pl->bound || (pl->placements && visits >= (double)(1u << 28));
}

/* Place in the order of pl->keys; keep the placement if its peak is the
 * lowest yet (the first on ties). */
static void try_order(placer *pl)
{
    size_t peak = place(pl->b, pl->n, pl->keys, pl->placed);
    pl->placements++;
    if (peak < pl->best) {
        pl->best = peak;
        for (uint32_t i = 0; i < pl->n; i++)
            pl->best_offset[i] = pl->b[i].offset;
    }
}

static void reset_keys(placer *pl)
{
    for (uint32_t i = 0; i < pl->n; i++) {
        const block *x = &pl->b[i];
        pl->keys[i] = (order_key){.size = x->size, .start = x->start, .end = x->end, .block = i};
    }
}

/* "Squeaky wheel": every block the last placement put above the bound takes
 * one more unit of blame, and the next placement goes by blame. Blame only
 * grows, so the order does not cycle between a few placements. */
static void blame(placer *pl)
{
    for (uint32_t k = 0; k < pl->n; k++) {
        const block *x = &pl->b[pl->keys[k].block];
        if (x->offset + x->size > pl->bound)
            pl->keys[k].stuck++;
    }
    qsort(pl->keys, pl->n, sizeof *pl->keys, by_blame);
}

/* The seed order, then squeaky-wheel rounds while above the bound. */
static void search_seed(placer *pl, int (*seed)(const void *, const void *))
{
    reset_keys(pl);
    qsort(pl->keys, pl->n, sizeof *pl->keys, seed);
    for (uint32_t k = 0; k < pl->n; k++)
        pl->keys[k].rank = k;
    for (int round = 0; round <= PLAN_ROUNDS && !search_over(pl); round++) {
        if (round)
            blame(pl);
        try_order(pl);
    }
}

/* A factor in [0.6, 1.4) from the placer's generator. */
static double jitter(placer *pl)
{
    pl->rng ^= pl->rng << 13;
    pl->rng ^= pl->rng >> 7;
    pl->rng ^= pl->rng << 17;
    return 0.6 + 0.8 * (double)(pl->rng >> 11) / 9007199254740992.0;  /* 53 bits / 2^53 */
}

/* Largest first, each size jittered: near-greedy orders the seeds miss. */
static void search_restarts(placer *pl)
{
    for (int t = 0; t < PLAN_RESTARTS && !search_over(pl); t++) {
        reset_keys(pl);
        for (uint32_t i = 0; i < pl->n; i++)
            pl->keys[i].weight = (double)pl->keys[i].size * jitter(pl);
        qsort(pl->keys, pl->n, sizeof *pl->keys, by_weight);
        try_order(pl);
    }
}

/* Search placement orders until one reaches the bound (no placement does
 * better) or the budget is spent: three seed orders (largest first,
 * earliest first, longest lived first), each refined by squeaky-wheel
 * rounds, then jittered largest-first restarts. Leaves the lowest-peak
 * placement in the blocks and returns its peak. */
static size_t place_all(block *b, uint32_t n, size_t bound)
{
    static int (*const seeds[])(const void *, const void *) = {by_size, by_start, by_life};
    placer pl = {.b = b, .n = n, .bound = bound, .best = KILN_PLAN_NONE, .rng = 0x9e3779b97f4a7c15u};
    if (n == 0)
        return 0;
    pl.keys = kiln_xcalloc(n, sizeof *pl.keys);
    pl.placed = kiln_xcalloc(n, sizeof *pl.placed);
    pl.best_offset = kiln_xcalloc(n, sizeof *pl.best_offset);
    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++)
        search_seed(&pl, seeds[s]);
    search_restarts(&pl);
    for (uint32_t i = 0; i < n; i++)
        b[i].offset = pl.best_offset[i];
    free(pl.best_offset);
    free(pl.placed);
    free(pl.keys);
    return pl.best;
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
