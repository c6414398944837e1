/* lower.h — node → kernel calls: the one place where an op's arguments are
 * marshalled (DESIGN.md, "Lowering").
 *
 * A lowering function reads a node whose input and output types are known
 * (and, for inputs that carry shapes, axes or pads, whose data is known)
 * and emits one or more kernel calls (runtime/krt_kernel.h): a kernel id,
 * a constant descriptor of plain C data, the operands as value indices in
 * the kernel's order, the scratch each thread needs, the number of parallel
 * work units, and whether the first output may share an input's buffer.
 *
 * The interpreter executes kernel calls (ir/interp.c); the C backend prints
 * them as C; the LLVM backend emits them as calls into the kernel bitcode.
 * None of them reads an op's attributes itself.
 *
 * One table per op family (ir/lower_<family>.c), indexed by op, filled with
 * designated initializers; the family of an op is its ops.def column, and
 * tests/unit/test_tables.c names any op whose family table lacks it.
 */
#ifndef KILN_LOWER_H
#define KILN_LOWER_H

#include "ir/ir.h"
#include "runtime/krt_kernel.h"

typedef struct kiln_kernel_call {
    krt_kernel_id kernel;
    const void *desc;         /* krt_kernels[kernel]->desc_size bytes */
    uint32_t n_ops;
    const uint32_t *ops;      /* value index per operand, kernel order; 0 = absent */
    size_t scratch;           /* bytes per thread, from the kernel's scratch_size */
    int64_t units;            /* parallel work units, from the kernel's units */
    int32_t inplace;          /* index into ops of an input the call's first
                                 output may share its buffer with; -1: none */
} kiln_kernel_call;

#define KILN_LOWER_MAX_CALLS 4

typedef struct kiln_lowered {
    uint32_t n_calls;
    kiln_kernel_call calls[KILN_LOWER_MAX_CALLS];  /* run in order */
} kiln_lowered;

typedef struct kiln_lower {
    kiln_ctx *ctx;
    const kiln_graph *g;
    uint32_t id;              /* node index */
    const kiln_node *n;       /* g->nodes[id] */
    const kiln_value *values; /* types; data where known (g->values or the interpreter's copy) */
    kiln_arena *arena;        /* descriptors and operand lists are allocated here */
    kiln_lowered *out;
} kiln_lower;

typedef kiln_status (*kiln_lower_fn)(kiln_lower *l);

extern const kiln_lower_fn kiln_lower_elementwise[KILN_OP_COUNT];
extern const kiln_lower_fn kiln_lower_reduce[KILN_OP_COUNT];
extern const kiln_lower_fn kiln_lower_linalg[KILN_OP_COUNT];
extern const kiln_lower_fn kiln_lower_movement[KILN_OP_COUNT];

/* The lowering function of op (from its family's table), or NULL. */
kiln_lower_fn kiln_lower_lookup(kiln_op op);

/* Lower node `node` into *out; descriptors and operand lists are allocated
 * in `arena` and live as long as it. KILN_ERR_UNSUPPORTED naming the node
 * when the op has no lowering or no kernel for its dtypes; KILN_ERR_INVALID
 * when an input the descriptor needs (a shape, pads...) is not known. */
kiln_status kiln_lower_node(kiln_ctx *ctx, const kiln_graph *g, const kiln_value *values,
                            uint32_t node, kiln_arena *arena, kiln_lowered *out /* OUT */);

/* ---- helpers for lowering functions ----------------------------------- */

static inline const kiln_value *kiln_lower_in(const kiln_lower *l, uint32_t i)
{
    uint32_t v = kiln_node_input(l->g, l->n, i);
    return v ? &l->values[v] : NULL;
}
static inline const kiln_value *kiln_lower_out(const kiln_lower *l, uint32_t i)
{
    uint32_t v = kiln_node_output(l->g, l->n, i);
    return v ? &l->values[v] : NULL;
}
/* Value indices of input / output i (0 when absent). */
static inline uint32_t kiln_lower_in_id(const kiln_lower *l, uint32_t i)
{
    return kiln_node_input(l->g, l->n, i);
}
static inline uint32_t kiln_lower_out_id(const kiln_lower *l, uint32_t i)
{
    return kiln_node_output(l->g, l->n, i);
}

/* Number of elements of a value with a static shape (0 if not static). */
int64_t kiln_lower_numel(const kiln_value *v);

/* Append a call: copies desc (krt_kernels[k]->desc_size bytes) and the n
 * operand value indices into the arena and asks the kernel for its scratch
 * size and unit count. Returns the call so the caller may set `inplace`. */
kiln_kernel_call *kiln_lower_emit(kiln_lower *l, krt_kernel_id k, const void *desc,
                                  const uint32_t *ops, uint32_t n);

/* Input i's data read as integers / doubles (any integer or float dtype);
 * returns the count, -1 when the data is not known, -2 when more than max. */
int64_t kiln_lower_ints(kiln_lower *l, uint32_t i, int64_t *out, int64_t max);
int64_t kiln_lower_floats(kiln_lower *l, uint32_t i, double *out, int64_t max);

/* Errors naming the node: KILN_ERR_INVALID / KILN_ERR_UNSUPPORTED. */
kiln_status kiln_lower_fail(kiln_lower *l, const char *fmt, ...) KILN_PRINTF(2, 3);
kiln_status kiln_lower_unsupported(kiln_lower *l, const char *fmt, ...) KILN_PRINTF(2, 3);

/* A kernel's failure at run time as a message naming the node and, for an
 * index error, the input that held the bad index (KILN_ERR_RUNTIME), or the
 * dtype it has no variant for (KILN_ERR_UNSUPPORTED). */
kiln_status kiln_kernel_fail(kiln_ctx *ctx, const kiln_graph *g, uint32_t node,
                             const kiln_kernel_call *call, krt_status st, const krt_error *err);

/* kiln.FusedElementwise's program (attributes `ops`: instruction names,
 * `args`: two operand slots per instruction, -1 for none, `params`:
 * optional, two floats per instruction) into d's n_in, n_ops and ins
 * (runtime/krt_elementwise.h). False with the reason in why when the
 * attributes are not a valid program for node n. Shape inference checks
 * with it; the lowering and the LLVM backend read the program with it. */
struct krt_fused_ew_desc;
bool kiln_fused_ew_program(const kiln_graph *g, const kiln_node *n, struct krt_fused_ew_desc *d,
                           char *why, size_t size);

#endif /* KILN_LOWER_H */
