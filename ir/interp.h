/* interp.h — the reference interpreter and the contract for the per-op
 * evaluation functions (ir/eval_<family>.c).
 *
 * The interpreter runs a graph node by node in topological order. A session
 * plans the graph's memory once (passes/plan.h) and owns one arena; for each
 * node a run first does shape inference with every input's data known (so
 * even data-dependent shapes are concrete), places the outputs (in the
 * arena, or a fresh buffer for a dynamic shape or a graph output), then
 * runs the node's kernel calls (ir/lower.h) or its eval function, which call
 * the runtime kernels (runtime/krt_*.h): the arithmetic of every op lives
 * there, once (DESIGN.md, decision 1). Shape inference uses the same eval
 * functions to compute small shape sub-graphs at compile time.
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

/* A session: one graph, its memory plan and its arena, run any number of
 * times. Not thread-safe: one run at a time per session. */
typedef struct kiln_interp kiln_interp;

typedef struct kiln_interp_opts {
    int threads;              /* kernel calls split over this many threads (a pool), and
                                 their scratch is planned for as many; <= 0: 1 */
    int reserved[3];          /* zero */
} kiln_interp_opts;

/* Plan g's memory and allocate the arena (plan->peak bytes, 64-byte
 * aligned) once. opts may be NULL. The graph must outlive the session and
 * not change while it exists. *out is destroyed with kiln_interp_destroy;
 * on failure (a constant without data, a tensor too large to plan, no
 * memory for the arena) it is NULL and the message is in ctx, which the
 * session keeps using for the errors of its runs. */
kiln_status kiln_interp_create(kiln_ctx *ctx, const kiln_graph *g, const kiln_interp_opts *opts,
                               kiln_interp **out /* OUT */);
void kiln_interp_destroy(kiln_interp *interp);  /* NULL is fine */

/* Run the session's graph on inputs[i] for each graph input i (in
 * g->inputs order; dtype and shape must fit the declared ones; checked,
 * with messages naming the input). On success outputs[i] holds graph
 * output i with malloc'd data that the caller releases with
 * kiln_interp_free_outputs: graph outputs are never in the arena, so they
 * stay valid after the next run. Intermediate tensors live in the arena
 * (dynamic shapes in buffers freed after their last use). On failure
 * nothing is handed out. */
kiln_status kiln_interp_exec(kiln_interp *interp, const kiln_tensor *inputs, uint32_t n_inputs,
                             kiln_tensor *outputs /* OUT [g->n_outputs] */);

/* The session's memory plan (owned by the session; passes/plan.h). */
struct kiln_plan;
const struct kiln_plan *kiln_interp_plan(const kiln_interp *interp);

/* One run: kiln_interp_create + kiln_interp_exec + kiln_interp_destroy.
 * The graph is not modified. */
kiln_status kiln_interp_run(kiln_ctx *ctx, const kiln_graph *g,
                            const kiln_tensor *inputs, uint32_t n_inputs,
                            kiln_tensor *outputs /* OUT [g->n_outputs] */);
void kiln_interp_free_outputs(kiln_tensor *outputs, uint32_t n);

/* Evaluate one node in place on `values` (used by shape inference to fold
 * shape sub-graphs): allocates the outputs' data in `arena`. */
kiln_status kiln_interp_eval_node(kiln_ctx *ctx, const kiln_graph *g, kiln_value *values,
                                  uint32_t node, kiln_arena *arena);

#endif /* KILN_INTERP_H */
