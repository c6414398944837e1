/* plan.h — the static memory plan (DESIGN.md, decision 3): where every
 * intermediate tensor and every node's kernel scratch lives in one
 * workspace arena, computed once at compile time from liveness.
 *
 * What lives in the arena: every node output that has a static shape and
 * is not a graph output, plus each node's scratch (a temporary live only
 * while that node runs). Graph inputs, constants and graph outputs live
 * outside it: in the generated ABI the caller owns inputs and outputs and
 * outputs are written straight into the caller's buffers. A node output
 * whose shape is known only at run time (data-dependent) is *dynamic*: the
 * interpreter mallocs it as it runs; a backend refuses the graph.
 *
 * Liveness is by node order: a tensor is live from the node that produces
 * it to the last node that reads it, both inclusive (an output never
 * shares memory with an input of its own node unless they are an in-place
 * pair). Offsets are placed best fit, 64-byte aligned, in the best of
 * several orders (passes/plan_memory.c says which).
 *
 * In place: when a node's lowering (ir/lower.h) says its first output may
 * share input k's buffer, input k is an arena tensor read for the last time
 * by this node, and both have the same dtype and byte size, the output takes
 * the input's offset. Such a pair counts once in the lower bound.
 *
 * Scratch of a node: threads slices of align64(call.scratch) bytes, the
 * largest over the node's kernel calls. Thread t of any call of the node
 * uses [scratch_offset + t * align64(call.scratch), ... + call.scratch).
 *
 * A plan describes the graph exactly as it was when planned (value and node
 * indices): any edit of the graph makes it stale; kiln_plan_check notices.
 */
#ifndef KILN_PLAN_H
#define KILN_PLAN_H

#include "ir/ir.h"

#define KILN_PLAN_ALIGN 64
/* offset[v] of a value outside the arena: graph input or output, constant,
 * value 0, or a node output nothing planned (a removed node's). */
#define KILN_PLAN_NONE ((size_t)-1)
/* offset[v] of a node output whose shape is known only at run time. */
#define KILN_PLAN_DYNAMIC ((size_t)-2)

typedef struct kiln_plan_opts {
    int threads;                /* scratch is planned for this many threads; <= 0: 1 */
} kiln_plan_opts;

typedef struct kiln_plan {
    uint32_t n_values, n_nodes; /* the graph's counts when planned (array lengths) */
    int threads;                /* the scratch was planned for */
    size_t peak;                /* arena bytes (a multiple of KILN_PLAN_ALIGN) */
    size_t lower_bound;         /* the largest aligned bytes live at one node (a pair in place once) */
    size_t *offset;             /* [n_values] arena offset, KILN_PLAN_NONE or KILN_PLAN_DYNAMIC */
    size_t *bytes;              /* [n_values] exact bytes of an arena tensor; 0 for the others */
    uint32_t *inplace;          /* [n_values] the input value whose buffer this output shares; 0 none */
    size_t *scratch_offset;     /* [n_nodes] arena offset of the node's scratch (0 when none) */
    size_t *scratch_bytes;      /* [n_nodes] threads slices; 0: the node needs none */
    uint32_t n_tensors;         /* values in the arena */
    uint32_t n_inplace;         /* values sharing an input's buffer */
    uint32_t n_dynamic;         /* values left to run time */
} kiln_plan;

/* Plan g, whose shapes are inferred (kiln_graph_infer). *out is a new plan
 * the caller destroys with kiln_plan_destroy. Nodes are lowered
 * (kiln_lower_node) to learn their scratch and in-place permissions; a node
 * whose op has no lowering yet, or whose lowering fails at compile time,
 * plans no scratch and no in-place pair (its executor finds out at run
 * time). KILN_ERR_UNSUPPORTED naming the value when a static tensor's size
 * overflows; on error *out is NULL. The graph is not modified. */
kiln_status kiln_plan_memory(kiln_ctx *ctx, const kiln_graph *g, const kiln_plan_opts *opts,
                             kiln_plan **out /* OUT */);
void kiln_plan_destroy(kiln_plan *plan);    /* NULL is fine */

/* An independent check of a plan against g, sharing no code with the
 * planner: liveness recomputed from g; every arena tensor is a node output
 * that is not a graph output, with a static shape of plan->bytes[v] bytes;
 * offsets 64-byte aligned; every block (tensor or scratch) within peak; no
 * two blocks live at the same node overlap, unless they are a declared
 * in-place pair (same offset, the input read last by the output's producer,
 * whose lowering allows it). KILN_ERR_INVALID with the first violation
 * (naming both values) otherwise. */
kiln_status kiln_plan_check(kiln_ctx *ctx, const kiln_graph *g, const kiln_plan *plan);

/* For a backend that emits code ahead of time: an error naming node and
 * backend when one of the node's outputs has a shape only the input values
 * decide (NonZero, ...), so it has no place in the plan. */
kiln_status kiln_plan_require_static(kiln_ctx *ctx, const kiln_graph *g, const kiln_plan *plan,
                                     uint32_t node, const char *backend);

/* "1.23 MB" style rendering of a byte count into buf; returns buf. */
const char *kiln_plan_format_bytes(size_t bytes, char *buf, size_t size);

#endif /* KILN_PLAN_H */
