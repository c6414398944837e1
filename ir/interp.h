/* interp.h — the reference interpreter and the contract for the per-op
 * evaluation functions (ir/eval_<family>.c).
 *
 * The interpreter runs a graph node by node in topological order. For each
 * node it first runs shape inference with every input's data known (so even
 * data-dependent shapes are concrete), allocates the outputs, then calls the
 * op's eval function, which calls the runtime kernels (runtime/krt_*.h): the
 * arithmetic of every op lives there, once (DESIGN.md, decision 1).
 * Buffers are freed after their last use. Shape inference uses the same
 * eval functions to compute small shape sub-graphs at compile time.
 */
#ifndef KILN_INTERP_H
#define KILN_INTERP_H

#include "ir/ir.h"

typedef struct kiln_eval {
    kiln_ctx *ctx;
    const kiln_graph *g;
    uint32_t id;            /* node index */
    const kiln_node *n;     /* g->nodes[id] */
    kiln_value *values;     /* inputs: data known; outputs: typed, data allocated */
    kiln_arena *scratch;    /* per-node scratch, reset after the node */
} kiln_eval;

/* Computes the node's outputs into their pre-allocated buffers. Returns
 * KILN_ERR_UNSUPPORTED for a dtype/attribute combination it does not handle
 * and KILN_ERR_RUNTIME for bad values (index out of range...), both through
 * kiln_eval_fail so the message names the node. */
typedef kiln_status (*kiln_eval_fn)(kiln_eval *e);

/* One table per op family, as for inference (ir/infer.h). */
extern const kiln_eval_fn kiln_eval_elementwise[KILN_OP_COUNT];
extern const kiln_eval_fn kiln_eval_reduce[KILN_OP_COUNT];
extern const kiln_eval_fn kiln_eval_linalg[KILN_OP_COUNT];
extern const kiln_eval_fn kiln_eval_movement[KILN_OP_COUNT];

kiln_eval_fn kiln_eval_lookup(kiln_op op); /* NULL if no family has one */
/* The interpreter can run op: it has a lowering or an eval function. */
bool kiln_interp_can_run(kiln_op op);

/* ---- helpers for eval functions --------------------------------------- */

static inline const kiln_value *kiln_eval_in(const kiln_eval *e, uint32_t i)
{
    uint32_t v = kiln_node_input(e->g, e->n, i);
    return v ? &e->values[v] : NULL;
}
static inline kiln_value *kiln_eval_out(const kiln_eval *e, uint32_t i)
{
    uint32_t v = kiln_node_output(e->g, e->n, i);
    return v ? &e->values[v] : NULL;
}
/* Writable data of output i (NULL when the output is absent). */
static inline void *kiln_eval_out_data(const kiln_eval *e, uint32_t i)
{
    kiln_value *v = kiln_eval_out(e, i);
    return v ? (void *)v->data : NULL;
}
/* Zeroed scratch memory, 64-byte aligned, valid until the node finishes. */
void *kiln_eval_scratch(kiln_eval *e, size_t bytes);
/* KILN_ERR_RUNTIME naming the node. */
kiln_status kiln_eval_fail(kiln_eval *e, const char *fmt, ...) KILN_PRINTF(2, 3);
/* KILN_ERR_UNSUPPORTED naming the node. */
kiln_status kiln_eval_unsupported(kiln_eval *e, const char *fmt, ...) KILN_PRINTF(2, 3);

/* ---- running a graph ----------------------------------------------------- */

/* Run g on inputs[i] for each graph input i (in g->inputs order; dtype and
 * shape must fit the declared ones; checked, with messages naming the input).
 * On success outputs[i] holds graph output i with malloc'd data that the
 * caller releases with kiln_interp_free_outputs. On failure nothing is
 * allocated. The graph is not modified. */
kiln_status kiln_interp_run(kiln_ctx *ctx, const kiln_graph *g,
                            const kiln_tensor *inputs, uint32_t n_inputs,
                            kiln_tensor *outputs /* OUT [g->n_outputs] */);
void kiln_interp_free_outputs(kiln_tensor *outputs, uint32_t n);

/* Evaluate one node in place on `values` (used by shape inference to fold
 * shape sub-graphs): allocates the outputs' data in `arena`. */
kiln_status kiln_interp_eval_node(kiln_ctx *ctx, const kiln_graph *g, kiln_value *values,
                                  uint32_t node, kiln_arena *arena);

#endif /* KILN_INTERP_H */
