/* interp.h — the reference interpreter.
 *
 * The interpreter runs a graph node by node in topological order. A session
 * plans the graph's memory once (passes/plan.h) and owns one arena; for each
 * node a run first does shape inference with every input's data known (so
 * even data-dependent shapes are concrete), places the outputs (in the
 * arena, or a fresh buffer for a dynamic shape or a graph output), then
 * runs the node's kernel calls (ir/lower.h) on the runtime kernels
 * (runtime/krt_*.h): the arithmetic of every op lives there, once
 * (DESIGN.md, decision 1), and the same calls are what the backends emit.
 * Shape inference and the fold pass evaluate nodes the same way at compile
 * time (kiln_interp_eval_node).
 */
#ifndef KILN_INTERP_H
#define KILN_INTERP_H

#include "ir/ir.h"

/* The interpreter can run op: it has a lowering (ir/lower.h). */
bool kiln_interp_can_run(kiln_op op);

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

/* kiln_interp_exec, timed: ns[node - 1] gets the nanoseconds node `node`
 * took (for every node 1..g->n_nodes-1: its shape inference on this run's
 * data, placing its outputs, lowering and kernel calls; wall time, so with
 * threads it is the node's time across them), and flops[node - 1], when
 * flops is not NULL, its FLOPs on this run's shapes (ir/flops.h). */
kiln_status kiln_interp_exec_profiled(kiln_interp *interp, const kiln_tensor *inputs,
                                      uint32_t n_inputs, kiln_tensor *outputs /* OUT */,
                                      uint64_t *ns /* OUT [g->n_nodes - 1] */,
                                      double *flops /* OUT [g->n_nodes - 1], or NULL */);

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
