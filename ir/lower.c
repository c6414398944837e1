/* lower.c — the lowering driver and the helpers lowering functions share.
 *
 * kiln_lower_node finds the op's function in its family's table and runs
 * it; the function fills a kiln_lowered through kiln_lower_emit. Reading
 * input data goes through the inference helpers (ir/infer.h), so an input
 * is "known" for lowering exactly when it is for inference.
 */
#include "ir/lower.h"
#include "ir/infer.h"

#include <stdarg.h>
#include <string.h>

kiln_lower_fn kiln_lower_lookup(kiln_op op)
{
    static const kiln_lower_fn *const families[KILN_FAMILY_COUNT] = {
        [KILN_FAMILY_ELEMENTWISE] = kiln_lower_elementwise,
        [KILN_FAMILY_REDUCE] = kiln_lower_reduce,
        [KILN_FAMILY_LINALG] = kiln_lower_linalg,
        [KILN_FAMILY_MOVEMENT] = kiln_lower_movement,
    };
    if ((unsigned)op >= KILN_OP_COUNT)
        return NULL;
    return families[kiln_op_infos[op].family][op];
}

/* Descriptors hold sizes: every tensor the node reads (inputs) or writes
 * (outputs) must have a static shape. KILN_ERR_UNSUPPORTED naming the
 * first that has not. */
static kiln_status need_static(kiln_lower *l, bool outputs)
{
    char buf[256];
    uint32_t from = outputs ? l->n->n_in : 0, to = outputs ? l->n->n_in + l->n->n_out : l->n->n_in;
    for (uint32_t k = from; k < to; k++) {
        bool in = k < l->n->n_in;
        uint32_t i = in ? k : k - l->n->n_in;
        const kiln_value *v = in ? kiln_lower_in(l, i) : kiln_lower_out(l, i);
        int64_t numel;
        if (v && !kiln_shape_numel(&v->shape, &numel))
            return kiln_lower_unsupported(l, "%s %u ('%s') has no static shape (%s); bind symbolic "
                                          "dimensions with --shape", in ? "input" : "output", i,
                                          v->name, kiln_shape_format(l->g, &v->shape, buf, sizeof buf));
    }
    return KILN_OK;
}

kiln_status kiln_lower_node(kiln_ctx *ctx, const kiln_graph *g, const kiln_value *values,
                            uint32_t node, kiln_arena *arena, kiln_lowered *out)
{
    kiln_lower l = {.ctx = ctx, .g = g, .id = node, .n = &g->nodes[node],
                    .values = values, .arena = arena, .out = out};
    out->n_calls = 0;
    kiln_lower_fn fn = kiln_lower_lookup(l.n->op);
    if (!fn)
        return kiln_lower_unsupported(&l, "%s has no lowering to a kernel yet", kiln_op_name(l.n->op));
    /* Inputs first; outputs after the lowering function, whose own message
     * says better why an output is not static (a shape input that must be
     * a constant); a descriptor it built from a symbolic size is dropped. */
    kiln_status st = need_static(&l, false);
    if (st == KILN_OK)
        st = fn(&l);
    if (st == KILN_OK)
        st = need_static(&l, true);
    if (st != KILN_OK)
        out->n_calls = 0;
    return st;
}

int64_t kiln_lower_numel(const kiln_value *v)
{
    int64_t n = 0;
    return v && kiln_shape_numel(&v->shape, &n) ? n : 0;
}

kiln_kernel_call *kiln_lower_emit(kiln_lower *l, krt_kernel_id k, const void *desc,
                                  const uint32_t *ops, uint32_t n)
{
    KILN_ASSERT(k > KRT_K_NONE && k < KRT_K_COUNT);
    KILN_ASSERT(l->out->n_calls < KILN_LOWER_MAX_CALLS);
    const krt_kernel_info *info = krt_kernels[k];
    void *d = kiln_arena_alloc(l->arena, info->desc_size, 16);
    memcpy(d, desc, info->desc_size);
    uint32_t *o = kiln_arena_alloc(l->arena, (n ? n : 1) * sizeof *o, 4);
    if (n)
        memcpy(o, ops, n * sizeof *o);
    kiln_kernel_call *c = &l->out->calls[l->out->n_calls++];
    *c = (kiln_kernel_call){.kernel = k, .desc = d, .n_ops = n, .ops = o,
                            .scratch = krt_kernel_scratch(k, d),
                            .units = krt_kernel_units(k, d), .inplace = -1};
    return c;
}

/* The inference helpers read inputs through a kiln_infer; they only read. */
static kiln_infer as_infer(kiln_lower *l)
{
    return (kiln_infer){.ctx = l->ctx, .g = (kiln_graph *)l->g, .id = l->id, .n = l->n,
                        .values = (kiln_value *)l->values};
}

int64_t kiln_lower_ints(kiln_lower *l, uint32_t i, int64_t *out, int64_t max)
{
    kiln_infer c = as_infer(l);
    return kiln_infer_ints(&c, i, out, max);
}

int64_t kiln_lower_floats(kiln_lower *l, uint32_t i, double *out, int64_t max)
{
    kiln_infer c = as_infer(l);
    return kiln_infer_floats(&c, i, out, max);
}

kiln_status kiln_lower_fail(kiln_lower *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kiln_status st = kiln_node_verror(l->ctx, l->g, l->id, KILN_ERR_INVALID, fmt, ap);
    va_end(ap);
    return st;
}

kiln_status kiln_lower_unsupported(kiln_lower *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kiln_status st = kiln_node_verror(l->ctx, l->g, l->id, KILN_ERR_UNSUPPORTED, fmt, ap);
    va_end(ap);
    return st;
}

/* The node input that holds value v (for messages); n_in if none. */
static uint32_t input_slot(const kiln_graph *g, const kiln_node *n, uint32_t v)
{
    for (uint32_t i = 0; i < n->n_in; i++)
        if (g->operands[n->in + i] == v)
            return i;
    return n->n_in;
}

kiln_status kiln_kernel_fail(kiln_ctx *ctx, const kiln_graph *g, uint32_t node,
                             const kiln_kernel_call *call, krt_status st, const krt_error *err)
{
    const kiln_node *n = &g->nodes[node];
    uint32_t v = err->operand >= 0 && (uint32_t)err->operand < call->n_ops ? call->ops[err->operand] : 0;
    uint32_t slot = v ? input_slot(g, n, v) : n->n_in;
    if (st == KRT_EDTYPE) {
        const kiln_value *x = kiln_in(g, n, 0);
        return kiln_node_error(ctx, g, node, KILN_ERR_UNSUPPORTED, "kiln has no %s kernel for %s",
                               kiln_op_name(n->op), x ? kiln_dtype_name(x->dtype) : "?");
    }
    if (st == KRT_EINDEX && slot < n->n_in)
        return kiln_node_error(ctx, g, node, KILN_ERR_RUNTIME,
                               "%s %lld out of range [%lld, %lld) in input %u ('%s') at position %lld",
                               err->what ? err->what : "index", (long long)err->value,
                               (long long)err->lo, (long long)err->hi, slot, g->values[v].name,
                               (long long)err->pos);
    if (slot < n->n_in)
        return kiln_node_error(ctx, g, node, KILN_ERR_RUNTIME, "%s in input %u ('%s')",
                               err->what ? err->what : "bad values", slot, g->values[v].name);
    return kiln_node_error(ctx, g, node, KILN_ERR_RUNTIME, "the %s kernel rejected its operands%s%s",
                           krt_kernels[call->kernel]->name, err->what ? ": " : "",
                           err->what ? err->what : "");
}
