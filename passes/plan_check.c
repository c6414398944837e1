/* plan_check.c — kiln_plan_check: an independent checker of a memory plan
 * (passes/plan.h).
 *
 * It shares no code with the planner (passes/plan_memory.c) on purpose: a
 * planner bug must not be able to hide in a helper both use. It recomputes
 * liveness from the graph, turns every arena tensor and every node's
 * scratch into a span (nodes [start, end] × bytes [lo, hi)), and checks
 * each pair of spans live at the same node for overlapping bytes. The only
 * overlap allowed is a declared in-place pair, itself checked: same offset
 * and size, the input read last by the output's producer, the output that
 * node's first, and the node's lowering allowing it.
 */
#include "ir/lower.h"
#include "passes/plan.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct span {
    uint32_t start, end;    /* live at nodes [start, end] */
    size_t lo, hi;          /* arena bytes [lo, hi), hi rounded up to the alignment */
    uint32_t value;         /* the tensor; 0 for a scratch span */
    uint32_t node;          /* the node whose scratch this is; 0 for a tensor */
} span;

typedef struct checker {
    kiln_ctx *ctx;
    const kiln_graph *g;
    const kiln_plan *plan;
    uint32_t *last;         /* [n_values] last reader, or the producer */
    bool *is_output;        /* [n_values] */
    span *spans;
    uint32_t n_spans;
} checker;

static size_t round_up(size_t x)
{
    return (x + KILN_PLAN_ALIGN - 1) / KILN_PLAN_ALIGN * KILN_PLAN_ALIGN;
}

static bool placed(const kiln_plan *plan, uint32_t v)
{
    return plan->offset[v] != KILN_PLAN_NONE && plan->offset[v] != KILN_PLAN_DYNAMIC;
}

static const char *vname(const checker *c, uint32_t v)
{
    return c->g->values[v].name[0] ? c->g->values[v].name : "(anonymous)";
}

static void recompute_liveness(checker *c)
{
    const kiln_graph *g = c->g;
    for (uint32_t v = 0; v < g->n_values; v++)
        c->last[v] = g->values[v].producer;
    for (uint32_t n = 1; n < g->n_nodes; n++) {
        const kiln_node *node = &g->nodes[n];
        for (uint32_t i = 0; i < node->n_in; i++)
            if (g->operands[node->in + i] && c->last[g->operands[node->in + i]] < n)
                c->last[g->operands[node->in + i]] = n;
    }
    for (uint32_t k = 0; k < g->n_outputs; k++)
        c->is_output[g->outputs[k]] = true;
}

/* Bounds: aligned, inside the arena. */
static kiln_status check_bounds(checker *c, size_t offset, size_t bytes, const char *what, uint32_t id)
{
    if (offset % KILN_PLAN_ALIGN)
        return kiln_error(c->ctx, KILN_ERR_INVALID, "memory plan: %s %u at offset %zu is not %d-byte aligned",
                          what, id, offset, KILN_PLAN_ALIGN);
    if (offset > c->plan->peak || round_up(bytes) > c->plan->peak - offset)
        return kiln_error(c->ctx, KILN_ERR_INVALID, "memory plan: %s %u [%zu, +%zu) ends past the peak %zu",
                          what, id, offset, bytes, c->plan->peak);
    return KILN_OK;
}

/* An arena tensor: a node output, not a graph output, with the planned size. */
static kiln_status check_tensor(checker *c, uint32_t v)
{
    const kiln_value *val = &c->g->values[v];
    int64_t numel, bytes = -1;
    if (kiln_shape_numel(&val->shape, &numel))
        kiln_mul_size(numel, (int64_t)kiln_dtype_size(val->dtype), &bytes);
    if (val->kind != KILN_VAL_NODE || !val->producer || c->is_output[v])
        return kiln_error(c->ctx, KILN_ERR_INVALID,
                          "memory plan: value %u ('%s') is in the arena but is not an intermediate",
                          v, vname(c, v));
    if (bytes < 0 || (size_t)bytes != c->plan->bytes[v])
        return kiln_error(c->ctx, KILN_ERR_INVALID,
                          "memory plan: value %u ('%s') planned with %zu bytes, the graph says %lld",
                          v, vname(c, v), c->plan->bytes[v], (long long)bytes);
    return check_bounds(c, c->plan->offset[v], c->plan->bytes[v], "value", v);
}

/* Does the lowering of node n let its first output take value x's buffer? */
static bool lowering_allows(checker *c, uint32_t n, uint32_t x)
{
    kiln_arena *arena = kiln_arena_create();
    kiln_lowered low;
    bool ok = false;
    if (kiln_lower_node(c->ctx, c->g, c->g->values, n, arena, &low) == KILN_OK) {
        for (uint32_t i = 0; i < low.n_calls && !ok; i++)
            ok = low.calls[i].inplace >= 0 && (uint32_t)low.calls[i].inplace < low.calls[i].n_ops &&
                 low.calls[i].ops[low.calls[i].inplace] == x;
    } else {
        kiln_ctx_clear(c->ctx);
    }
    kiln_arena_destroy(arena);
    return ok;
}

static bool reads(const kiln_graph *g, uint32_t n, uint32_t x)
{
    const kiln_node *node = &g->nodes[n];
    for (uint32_t i = 0; i < node->n_in; i++)
        if (g->operands[node->in + i] == x)
            return true;
    return false;
}

/* y declared in place of x. */
static kiln_status check_pair(checker *c, uint32_t y, uint32_t x)
{
    const kiln_graph *g = c->g;
    const kiln_plan *plan = c->plan;
    uint32_t n = g->values[y].producer;
    bool ok = x < plan->n_values && placed(plan, x) && placed(plan, y) && n &&
              kiln_node_output(g, &g->nodes[n], 0) == y && reads(g, n, x) && c->last[x] == n &&
              plan->offset[x] == plan->offset[y] && plan->bytes[x] == plan->bytes[y] &&
              g->values[x].dtype == g->values[y].dtype && lowering_allows(c, n, x);
    if (!ok)
        return kiln_error(c->ctx, KILN_ERR_INVALID,
                          "memory plan: value %u ('%s') in place of value %u is not a legal in-place pair",
                          y, vname(c, y), x);
    return KILN_OK;
}

static void add_span(checker *c, span s)
{
    c->spans[c->n_spans++] = s;
}

static kiln_status collect(checker *c)
{
    const kiln_plan *plan = c->plan;
    kiln_status st = KILN_OK;
    for (uint32_t v = 1; v < plan->n_values && st == KILN_OK; v++) {
        if (!placed(plan, v))
            continue;
        if ((st = check_tensor(c, v)) == KILN_OK && plan->inplace[v])
            st = check_pair(c, v, plan->inplace[v]);
        uint32_t def = c->g->values[v].producer;
        add_span(c, (span){.start = def, .end = c->last[v], .lo = plan->offset[v],
                           .hi = plan->offset[v] + round_up(plan->bytes[v]), .value = v});
    }
    for (uint32_t n = 1; n < plan->n_nodes && st == KILN_OK; n++) {
        if (!plan->scratch_bytes[n])
            continue;
        st = check_bounds(c, plan->scratch_offset[n], plan->scratch_bytes[n], "scratch of node", n);
        add_span(c, (span){.start = n, .end = n, .lo = plan->scratch_offset[n],
                           .hi = plan->scratch_offset[n] + round_up(plan->scratch_bytes[n]), .node = n});
    }
    return st;
}

static int by_start(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

static bool declared_pair(const kiln_plan *plan, const span *a, const span *b)
{
    return a->value && b->value &&
           (plan->inplace[a->value] == b->value || plan->inplace[b->value] == a->value);
}

static kiln_status report_overlap(checker *c, const span *a, const span *b)
{
    char what_a[96], what_b[96];
    if (a->value)
        snprintf(what_a, sizeof what_a, "value %u ('%s')", a->value, vname(c, a->value));
    else
        snprintf(what_a, sizeof what_a, "the scratch of node %u", a->node);
    if (b->value)
        snprintf(what_b, sizeof what_b, "value %u ('%s')", b->value, vname(c, b->value));
    else
        snprintf(what_b, sizeof what_b, "the scratch of node %u", b->node);
    return kiln_error(c->ctx, KILN_ERR_INVALID,
                      "memory plan: %s [%zu, %zu) and %s [%zu, %zu) overlap while both are live "
                      "(nodes %u..%u and %u..%u)",
                      what_a, a->lo, a->hi, what_b, b->lo, b->hi, a->start, a->end, b->start, b->end);
}

/* Spans sorted by start: j only needs to run while it starts before i ends. */
static kiln_status check_overlaps(checker *c)
{
    qsort(c->spans, c->n_spans, sizeof *c->spans, by_start);
    for (uint32_t i = 0; i < c->n_spans; i++)
        for (uint32_t j = i + 1; j < c->n_spans && c->spans[j].start <= c->spans[i].end; j++) {
            const span *a = &c->spans[i], *b = &c->spans[j];
            if (a->lo < b->hi && b->lo < a->hi && !declared_pair(c->plan, a, b))
                return report_overlap(c, a, b);
        }
    return KILN_OK;
}

kiln_status kiln_plan_check(kiln_ctx *ctx, const kiln_graph *g, const kiln_plan *plan)
{
    if (plan->n_values != g->n_values || plan->n_nodes != g->n_nodes)
        return kiln_error(ctx, KILN_ERR_INVALID,
                          "memory plan: made for %u values and %u nodes, the graph has %u and %u (stale)",
                          plan->n_values, plan->n_nodes, g->n_values, g->n_nodes);
    if (plan->peak % KILN_PLAN_ALIGN)
        return kiln_error(ctx, KILN_ERR_INVALID, "memory plan: peak %zu is not %d-byte aligned",
                          plan->peak, KILN_PLAN_ALIGN);
    checker c = {.ctx = ctx, .g = g, .plan = plan};
    c.last = kiln_xcalloc(g->n_values, sizeof *c.last);
    c.is_output = kiln_xcalloc(g->n_values, sizeof *c.is_output);
    c.spans = kiln_xcalloc(g->n_values + g->n_nodes, sizeof *c.spans);
    recompute_liveness(&c);
    kiln_status st = collect(&c);
    if (st == KILN_OK)
        st = check_overlaps(&c);
    free(c.spans);
    free(c.is_output);
    free(c.last);
    return st;
}

kiln_status kiln_plan_require_static(kiln_ctx *ctx, const kiln_graph *g, const kiln_plan *plan,
                                     uint32_t node, const char *backend)
{
    const kiln_node *n = &g->nodes[node];
    char shape[256];
    for (uint32_t i = 0; i < n->n_out; i++) {
        uint32_t v = g->operands[n->out + i];
        if (v && (plan->offset[v] == KILN_PLAN_DYNAMIC || !kiln_shape_is_static(&g->values[v].shape)))
            return kiln_node_error(ctx, g, node, KILN_ERR_UNSUPPORTED,
                                   "output %u ('%s') has shape %s, known only at run time (it depends "
                                   "on input values); the %s backend needs static shapes", i,
                                   g->values[v].name, kiln_shape_format(g, &g->values[v].shape, shape, sizeof shape),
                                   backend);
    }
    return KILN_OK;
}
