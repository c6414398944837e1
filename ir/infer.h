/* infer.h — the contract between the shape-inference driver and the
 * per-op inference functions (ir/infer_<family>.c).
 *
 * One function per op, found through kiln_infer_fns[op]. It reads the types
 * (and, when known, the data) of the node's inputs through the helpers below
 * and sets the dtype and shape of every output. It never looks at g->values
 * directly: the same functions serve static inference (values = g->values)
 * and the interpreter (values = its own per-run copy, where every input's
 * data is known, so data-dependent shapes come out concrete).
 *
 * When an output dimension depends on input *data* that is not known
 * (Reshape with a computed shape, NonZero ...), the function uses
 * kiln_infer_unknown_dim() for it and inference goes on; compile-time users
 * then see a symbolic dimension and say which input to bind.
 */
#ifndef KILN_INFER_H
#define KILN_INFER_H

#include "ir/ir.h"

typedef struct kiln_infer {
    kiln_ctx *ctx;
    kiln_graph *g;
    uint32_t id;            /* node index */
    const kiln_node *n;     /* g->nodes[id] */
    kiln_value *values;     /* per-value types and data: g->values or a copy */
} kiln_infer;

typedef kiln_status (*kiln_infer_fn)(kiln_infer *c);

/* One table per op family, each filled with designated initializers in its
 * own file (ir/infer_<family>.c); an op appears in exactly one of them.
 * tests/unit/test_tables.c names any op that is missing or doubled. */
extern const kiln_infer_fn kiln_infer_elementwise[KILN_OP_COUNT]; /* unary, binary, variadic, cast, quantize */
extern const kiln_infer_fn kiln_infer_reduce[KILN_OP_COUNT];      /* reductions, softmax, norms, losses, topk */
extern const kiln_infer_fn kiln_infer_linalg[KILN_OP_COUNT];      /* matmul, conv, pool, rnn, resize, sampling */
extern const kiln_infer_fn kiln_infer_movement[KILN_OP_COUNT];    /* data movement, indexing, generators, signal */

/* ---- the fold policy (one place: inference, the verifier and the fold
 * pass all ask here) ------------------------------------------------------ */

/* Largest output, in elements, that shape inference evaluates on the way
 * (shape tensors are tiny; bigger constant sub-graphs are the fold pass's). */
#define KILN_INFER_FOLD_MAX_ELEMS ((int64_t)1 << 16)
/* The dimension the interpreter's inference gives a size it cannot know
 * (it never adds symbols to the graph it runs). */
#define KILN_DIM_UNKNOWN_RUNTIME KILN_DIM_SYM(0x7fffffff)

/* True when inference should evaluate node `id` on `values` right away:
 * the interpreter can run the op, every input's data is known and every
 * output has a static shape of at most max_elems elements. */
bool kiln_fold_ready(const kiln_graph *g, const kiln_value *values, uint32_t id, int64_t max_elems);

/* The inference function for op, or NULL if no family has one. */
kiln_infer_fn kiln_infer_lookup(kiln_op op);

/* Infer one node: run its function, then check each output against any
 * type the value already had (a declared ONNX type): conflicting concrete
 * dims or dtypes are an error naming the node. */
kiln_status kiln_infer_node(kiln_ctx *ctx, kiln_graph *g, kiln_value *values, uint32_t node);

/* ---- helpers for inference functions ---------------------------------- */

/* Input i, or NULL when absent (optional input not given or i >= n_in). */
static inline kiln_value *kiln_infer_in(kiln_infer *c, uint32_t i)
{
    uint32_t v = kiln_node_input(c->g, c->n, i);
    return v ? &c->values[v] : NULL;
}
static inline uint32_t kiln_infer_n_in(const kiln_infer *c) { return c->n->n_in; }
static inline uint32_t kiln_infer_n_out(const kiln_infer *c) { return c->n->n_out; }
/* True when output i exists and is used (optional outputs may be absent). */
static inline bool kiln_infer_has_out(const kiln_infer *c, uint32_t i)
{
    return kiln_node_output(c->g, c->n, i) != 0;
}

/* Data of input i when known at this point (constant, or computed), else NULL.
 * Integer inputs that carry shapes, axes, pads... are read through these: */
const void *kiln_infer_data(kiln_infer *c, uint32_t i);
/* Read input i (any integer dtype, or float for scales) as int64 / double
 * values into out[max]; returns the element count, or -1 if the data is not
 * known, or -2 if it has more than max elements. */
int64_t kiln_infer_ints(kiln_infer *c, uint32_t i, int64_t *out, int64_t max);
int64_t kiln_infer_floats(kiln_infer *c, uint32_t i, double *out, int64_t max);

/* Input i's elements as symbolic values: from its data when known (every
 * element plain), else from the symbolic values static inference recorded.
 * Integer and bool inputs only. Returns the count, -1 when neither is
 * known, -2 when there are more than max elements. */
int64_t kiln_infer_svals(kiln_infer *c, uint32_t i, kiln_sval *out, int64_t max);
/* A symbolic value as a dimension: a symbol, or the plain value (which the
 * caller checks: shape entries may be 0 or -1 with special meanings). */
static inline kiln_dim kiln_sval_dim(kiln_sval s)
{
    return s.sym ? KILN_DIM_SYM(s.sym) : s.value;
}

/* Symbolic evaluation of small integer shape arithmetic (infer_symbolic.c):
 * after node `c->id` is inferred, give its output symbolic values when its
 * inputs have them (static inference only). */
void kiln_infer_symbolic(kiln_infer *c);

/* Set output i's type. Outputs that are absent (index 0) are ignored. */
void kiln_infer_set(kiln_infer *c, uint32_t i, kiln_dtype dt, const kiln_shape *shape);
/* A fresh anonymous symbolic dimension (the size depends on unknown data). */
kiln_dim kiln_infer_unknown_dim(kiln_infer *c);

/* Error naming the node: "<file>: node 'name' (Op): <message>". */
kiln_status kiln_infer_fail(kiln_infer *c, const char *fmt, ...) KILN_PRINTF(2, 3);
/* Same, with status KILN_ERR_UNSUPPORTED. */
kiln_status kiln_infer_unsupported(kiln_infer *c, const char *fmt, ...) KILN_PRINTF(2, 3);

/* Common checks and shape algebra, shared by the families: */
/* Normalize axis in [-rank, rank) to [0, rank); false if out of range. */
bool kiln_norm_axis(int64_t axis, int rank, int *out /* OUT */);
/* Numpy broadcasting of a and b into out. Symbolic dims: equal symbols
 * broadcast to themselves, a symbol against 1 gives the symbol, a symbol
 * against n > 1 gives n. KILN_ERR_INVALID through c on a mismatch. */
kiln_status kiln_infer_broadcast(kiln_infer *c, const kiln_shape *a, const kiln_shape *b,
                                 kiln_shape *out /* OUT */);
/* Requires input i to exist and have a known rank; error otherwise. */
kiln_status kiln_infer_need(kiln_infer *c, uint32_t i, kiln_value **v /* OUT */);

#endif /* KILN_INFER_H */
