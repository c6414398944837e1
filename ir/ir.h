/* ir.h — kiln's graph IR: the public API every other module builds on.
 *
 * Table of contents
 *   1. status codes and the error context   (errors are values)
 *   2. arena                                (one per graph; freed at once)
 *   3. dtypes and shapes                    (rank <= 8, symbolic dims)
 *   4. values, nodes, attributes, graph     (dense arrays, 32-bit indices)
 *   5. building and editing a graph
 *   6. attribute getters                    (with the ONNX spec defaults)
 *   7. whole-graph operations               (toposort, inference, verify)
 *
 * Invariants a reader can rely on:
 *   - Values and nodes live in dense arrays and refer to each other by 32-bit
 *     index; index 0 is reserved and means "none" (an absent optional input,
 *     a value with no producer). Adding nodes or values may move the arrays,
 *     so hold indices, not pointers, across additions.
 *   - After kiln_graph_toposort, nodes are in topological order.
 *   - Every string (names, attribute strings) is owned by the graph's arena.
 *   - Constant data is either owned by the graph's arena or borrowed from the
 *     loaded model, which the graph keeps alive (kiln_graph_set_owner).
 *   - Out-of-memory aborts with a message: a compiler that cannot allocate
 *     cannot report much else, and threading it through every builder would
 *     hide the real error paths.
 */
#ifndef KILN_IR_H
#define KILN_IR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define KILN_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define KILN_NORETURN __attribute__((noreturn))
#else
#define KILN_PRINTF(fmt, args)
#define KILN_NORETURN
#endif

/* ===== 1. status codes and the error context ========================== */

typedef enum kiln_status {
    KILN_OK = 0,
    KILN_ERR_INVALID,     /* malformed model, input or text IR */
    KILN_ERR_UNSUPPORTED, /* valid, but kiln does not handle it (yet) */
    KILN_ERR_IO,          /* a file could not be read or written */
    KILN_ERR_RUNTIME,     /* bad values met while evaluating (index out of range...) */
    KILN_STATUS_COUNT
} kiln_status;

/* The context carries the last error message and the diagnostics options.
 * Library functions record a message with kiln_error() and return the
 * status; only the driver prints. A context is not shared between threads. */
typedef struct kiln_ctx kiln_ctx;

kiln_ctx *kiln_ctx_create(void);            /* destroy with kiln_ctx_destroy */
void kiln_ctx_destroy(kiln_ctx *ctx);
/* Records "message" (replacing any earlier one) and returns status. */
kiln_status kiln_error(kiln_ctx *ctx, kiln_status status, const char *fmt, ...)
    KILN_PRINTF(3, 4);
const char *kiln_ctx_message(const kiln_ctx *ctx); /* "" when none; owned by ctx */
kiln_status kiln_ctx_status(const kiln_ctx *ctx);  /* status of the last error */
void kiln_ctx_clear(kiln_ctx *ctx);        /* forget the last error (notes stay) */
/* Notes are informational lines (e.g. "input 'x': batch dimension bound to 1")
 * that the driver may print; they accumulate until cleared. */
void kiln_note(kiln_ctx *ctx, const char *fmt, ...) KILN_PRINTF(2, 3);
const char *kiln_ctx_notes(const kiln_ctx *ctx); /* newline-separated, "" when none */
void kiln_ctx_clear_notes(kiln_ctx *ctx);

const char *kiln_status_name(kiln_status status);

/* Broken invariants (not user errors) abort with file, line and expression. */
KILN_NORETURN void kiln_panic(const char *file, int line, const char *fmt, ...)
    KILN_PRINTF(3, 4);
#define KILN_ASSERT(x) \
    ((x) ? (void)0 : kiln_panic(__FILE__, __LINE__, "assertion failed: %s", #x))
#define KILN_UNREACHABLE() kiln_panic(__FILE__, __LINE__, "unreachable")

/* ===== 2. arena ========================================================= */

typedef struct kiln_arena kiln_arena;

kiln_arena *kiln_arena_create(void);        /* destroy with kiln_arena_destroy */
void kiln_arena_destroy(kiln_arena *arena); /* frees everything allocated from it */
/* Zero-filled, aligned to `align` (a power of two, at most 4096). */
void *kiln_arena_alloc(kiln_arena *arena, size_t size, size_t align);
char *kiln_arena_strdup(kiln_arena *arena, const char *s);
char *kiln_arena_strndup(kiln_arena *arena, const char *s, size_t n);
void kiln_arena_reset(kiln_arena *arena);   /* keeps the first chunk for reuse */
size_t kiln_arena_used(const kiln_arena *arena);

/* Growable arrays outside arenas (abort on OOM): */
void *kiln_xrealloc(void *p, size_t size);
void *kiln_xcalloc(size_t n, size_t size);

/* ===== 3. dtypes and shapes ============================================= */

typedef enum kiln_dtype {
#define KRT_DTYPE(e, text, size, ctype) KILN_DT_##e,
#include "runtime/krt_dtypes.def"
#undef KRT_DTYPE
    KILN_DT_COUNT
} kiln_dtype;

const char *kiln_dtype_name(kiln_dtype dt);        /* "f32"; "?" for UNDEF */
size_t kiln_dtype_size(kiln_dtype dt);             /* bytes per element */
kiln_dtype kiln_dtype_from_name(const char *name); /* KILN_DT_UNDEF if unknown */
bool kiln_dtype_is_float(kiln_dtype dt);           /* f16 bf16 f32 f64 */
bool kiln_dtype_is_int(kiln_dtype dt);             /* signed or unsigned ints, not bool */
bool kiln_dtype_is_signed(kiln_dtype dt);          /* floats and signed ints */

#define KILN_MAX_RANK 8

/* A dimension is a size (>= 0) or a symbol (< 0): KILN_DIM_SYM(k) is the
 * graph's k-th symbol (k >= 1), named by a dim_param ("N") or anonymous
 * (an unknown size, printed as "?k"). */
typedef struct kiln_graph kiln_graph;
typedef int64_t kiln_dim;
#define KILN_DIM_SYM(k) ((kiln_dim) - (int64_t)(k))
#define KILN_DIM_IS_SYM(d) ((d) < 0)
#define KILN_DIM_SYM_ID(d) ((uint32_t)(-(d)))

typedef struct kiln_shape {
    int32_t rank;               /* -1: rank unknown (before inference) */
    kiln_dim dim[KILN_MAX_RANK];
} kiln_shape;

kiln_shape kiln_shape_make(int rank, const int64_t *dims); /* dims may be NULL (all 0) */
kiln_shape kiln_shape_unknown(void);                       /* rank -1 */
bool kiln_shape_is_static(const kiln_shape *s);            /* known rank, no symbols */
bool kiln_shape_equal(const kiln_shape *a, const kiln_shape *b);
/* Number of elements; false when a dim is symbolic/unknown or on overflow. */
bool kiln_shape_numel(const kiln_shape *s, int64_t *numel /* OUT */);

/* "[1,3,N,?2]" into buf (symbols by name, anonymous ones as ?k); returns buf. */
const char *kiln_shape_format(const kiln_graph *g, const kiln_shape *s, char *buf, size_t size);

/* Overflow-checked arithmetic on sizes (false on overflow or negative). */
bool kiln_mul_size(int64_t a, int64_t b, int64_t *out /* OUT */);
bool kiln_add_size(int64_t a, int64_t b, int64_t *out /* OUT */);

/* ===== 4. values, nodes, attributes, graph ============================== */

typedef enum kiln_op {
#define KILN_OP(e, name, domain, family, flags, min_in, max_in, min_out, max_out) KILN_OP_##e,
#include "ir/ops.def"
#undef KILN_OP
    KILN_OP_COUNT
} kiln_op;

typedef enum kiln_op_domain {
    KILN_DOMAIN_ONNX,                 /* the default ONNX domain "" */
    KILN_DOMAIN_KILN,                 /* kiln's own ops, "kiln." in the text IR */
    KILN_DOMAIN_COUNT
} kiln_op_domain;

/* The four op families: which ir/infer_<family>.c and ir/lower_<family>.c
 * hold an op's entries. */
typedef enum kiln_op_family {
    KILN_FAMILY_ELEMENTWISE,          /* unary, binary, variadic, cast, quantize */
    KILN_FAMILY_REDUCE,               /* reductions, softmax, norms, losses, topk, einsum */
    KILN_FAMILY_LINALG,               /* matmul, conv, pool, rnn, resize, sampling */
    KILN_FAMILY_MOVEMENT,             /* data movement, indexing, generators, signal */
    KILN_FAMILY_COUNT
} kiln_op_family;

enum {
    KILN_OPF_NONE = 0,
    KILN_OPF_EW = 1u << 0,            /* pointwise after broadcasting */
    KILN_OPF_INPLACE = 1u << 1,       /* output 0 may overwrite a same-typed input */
};

typedef struct kiln_op_info {
    const char *name;                 /* text-IR / ONNX spelling (without "kiln.") */
    kiln_op_domain domain;
    kiln_op_family family;
    uint32_t flags;                   /* KILN_OPF_* */
    uint16_t min_in, max_in;          /* KILN_N: variadic */
    uint16_t min_out, max_out;
} kiln_op_info;

extern const kiln_op_info kiln_op_infos[KILN_OP_COUNT];
const char *kiln_op_name(kiln_op op);       /* "MatMul"; kiln ops without "kiln." */
/* The text-IR spelling: "MatMul", "kiln.Gelu". */
const char *kiln_op_text_name(kiln_op op, char *buf, size_t size);
/* By text-IR spelling ("kiln.X" finds kiln's ops, a bare name ONNX ones);
 * KILN_OP_COUNT if unknown. */
kiln_op kiln_op_from_name(const char *name);
/* The attribute names op takes in kiln's IR, space-separated in name order
 * ("" for none; NULL for an op without a row), and whether it takes `name`
 * (true when the op has no row: nothing to check against). ir/op_attrs.c. */
const char *kiln_op_attrs(kiln_op op);
bool kiln_op_takes_attr(kiln_op op, const char *name);
static inline bool kiln_op_has_flag(kiln_op op, uint32_t flag)
{
    return (unsigned)op < KILN_OP_COUNT && (kiln_op_infos[op].flags & flag) != 0;
}

typedef enum kiln_value_kind {
    KILN_VAL_NONE = 0,  /* slot 0, "no value" */
    KILN_VAL_INPUT,     /* a graph input, data supplied at run time */
    KILN_VAL_CONST,     /* data known at compile time (initializer, Constant) */
    KILN_VAL_NODE,      /* produced by a node */
} kiln_value_kind;

/* One element of a small integer tensor known at compile time only
 * symbolically (a shape computed from a symbolic input shape): either a
 * plain value, or equal to the graph symbol `sym`. */
typedef struct kiln_sval {
    int64_t value;        /* meaningful when sym == 0 */
    uint32_t sym;         /* > 0: the element is this symbol's size */
} kiln_sval;
#define KILN_SVAL_MAX 16  /* longest tensor tracked symbolically */

typedef struct kiln_value {
    const char *name;     /* ONNX name; "" when anonymous; owned by the arena */
    kiln_value_kind kind;
    kiln_dtype dtype;     /* KILN_DT_UNDEF until inferred */
    kiln_shape shape;     /* rank -1 until inferred */
    uint32_t producer;    /* node index for KILN_VAL_NODE, else 0 */
    /* Data: the weights of a KILN_VAL_CONST; for a KILN_VAL_NODE, a value
     * computed at compile time by shape inference (shape sub-graphs). Either
     * arena-owned or borrowed from the model (see kiln_graph_set_owner). */
    const void *data;
    size_t nbytes;
    /* Symbolic element values of a small integer KILN_VAL_NODE value whose
     * data is not known (some element is a symbol): numel entries, set by
     * static inference (ir/infer_symbolic.c), never by the interpreter. */
    const kiln_sval *svals;
    /* A constant whose data is absent (read from a text IR that elided it)
     * keeps the 64-bit FNV-1a digest of its bytes here, so that printing it
     * again gives the same text; 0 otherwise. */
    uint64_t digest;
} kiln_value;

typedef enum kiln_attr_kind {
    KILN_ATTR_INT,
    KILN_ATTR_FLOAT,
    KILN_ATTR_STRING,
    KILN_ATTR_INTS,
    KILN_ATTR_FLOATS,
    KILN_ATTR_STRINGS,
    KILN_ATTR_TENSOR,
    KILN_ATTR_KIND_COUNT
} kiln_attr_kind;

typedef struct kiln_tensor {
    kiln_dtype dtype;
    kiln_shape shape;     /* always static */
    const void *data;     /* dense, C order, little-endian */
    size_t nbytes;
} kiln_tensor;

typedef struct kiln_attr {
    const char *name;     /* owned by the arena */
    kiln_attr_kind kind;
    uint32_t n;           /* element count for the list kinds */
    union {
        int64_t i;
        float f;
        const char *s;
        const int64_t *ints;
        const float *floats;
        const char *const *strings;
        const kiln_tensor *tensor;
    } u;
} kiln_attr;

typedef struct kiln_node {
    kiln_op op;
    const char *name;     /* ONNX node name ("" when the model gave none) */
    uint32_t in, n_in;    /* inputs:  g->operands[in .. in+n_in), 0 = absent */
    uint32_t out, n_out;  /* outputs: g->operands[out .. out+n_out) */
    uint32_t attr, n_attr;/* attributes: g->attrs[attr .. attr+n_attr), sorted by name */
} kiln_node;

typedef struct kiln_opset {
    const char *domain;   /* "" is the default ONNX domain */
    int64_t version;
} kiln_opset;

struct kiln_graph {
    kiln_arena *arena;
    const char *name;       /* graph name, for dumps and generated symbols */
    const char *source;     /* file the graph came from, for messages */

    kiln_node *nodes;       /* [0] unused */
    uint32_t n_nodes, cap_nodes;
    kiln_value *values;     /* [0] unused */
    uint32_t n_values, cap_values;
    uint32_t *operands;     /* node input/output value indices */
    uint32_t n_operands, cap_operands;
    kiln_attr *attrs;
    uint32_t n_attrs, cap_attrs;

    uint32_t *inputs;       /* graph inputs (KILN_VAL_INPUT values), in order */
    uint32_t n_inputs, cap_inputs;
    uint32_t *outputs;      /* graph outputs, in order */
    uint32_t n_outputs, cap_outputs;

    const char **syms;      /* symbol names, [0] unused; NULL = anonymous */
    uint32_t n_syms, cap_syms;

    kiln_opset *opsets;     /* opset imports of the source model */
    uint32_t n_opsets;

    void (*owner_free)(void *owner); /* releases memory constants borrow from */
    void *owner;
};

/* Accessors. Index 0 (absent optional input) gives NULL from kiln_in. */
static inline kiln_node *kiln_node_at(const kiln_graph *g, uint32_t n) { return &g->nodes[n]; }
static inline kiln_value *kiln_value_at(const kiln_graph *g, uint32_t v) { return &g->values[v]; }
static inline uint32_t kiln_node_input(const kiln_graph *g, const kiln_node *n, uint32_t i)
{
    return i < n->n_in ? g->operands[n->in + i] : 0;
}
static inline uint32_t kiln_node_output(const kiln_graph *g, const kiln_node *n, uint32_t i)
{
    return i < n->n_out ? g->operands[n->out + i] : 0;
}
static inline kiln_value *kiln_in(const kiln_graph *g, const kiln_node *n, uint32_t i)
{
    uint32_t v = kiln_node_input(g, n, i);
    return v ? &g->values[v] : NULL;
}
static inline kiln_value *kiln_out(const kiln_graph *g, const kiln_node *n, uint32_t i)
{
    uint32_t v = kiln_node_output(g, n, i);
    return v ? &g->values[v] : NULL;
}

/* ===== 5. building and editing a graph ================================== */

/* name: graph name; source: file path used in messages (both copied). */
kiln_graph *kiln_graph_create(const char *name, const char *source);
void kiln_graph_destroy(kiln_graph *g); /* frees the arena, then calls owner_free */
/* The graph takes ownership of `owner` (e.g. the unpacked protobuf and the
 * file bytes constants point into) and calls free_fn(owner) on destroy. */
void kiln_graph_set_owner(kiln_graph *g, void *owner, void (*free_fn)(void *));

const char *kiln_graph_intern(kiln_graph *g, const char *s); /* arena copy */
uint32_t kiln_graph_symbol(kiln_graph *g, const char *name);  /* find or add; NULL = new anonymous */
const char *kiln_graph_symbol_name(const kiln_graph *g, uint32_t id); /* NULL if anonymous */
void kiln_graph_add_opset(kiln_graph *g, const char *domain, int64_t version);
int64_t kiln_graph_opset(const kiln_graph *g, const char *domain); /* 0 if not imported */

/* Values. Names are copied. Returns the new value's index (never 0). */
uint32_t kiln_value_add(kiln_graph *g, const char *name);  /* kind NODE, type unknown */
uint32_t kiln_input_add(kiln_graph *g, const char *name, kiln_dtype dt, const kiln_shape *shape);
/* A constant. With copy, data is copied into the arena; otherwise borrowed
 * (it must outlive the graph, e.g. owned by the graph's owner). */
uint32_t kiln_const_add(kiln_graph *g, const char *name, kiln_dtype dt,
                        const kiln_shape *shape, const void *data, size_t nbytes, bool copy);
void kiln_output_add(kiln_graph *g, uint32_t value);

/* Nodes. Inputs may contain 0 for absent optional inputs; each output value
 * gets kind NODE and this node as its producer. Returns the node index. */
uint32_t kiln_node_add(kiln_graph *g, kiln_op op, const char *name,
                       const uint32_t *ins, uint32_t n_in,
                       const uint32_t *outs, uint32_t n_out);
/* Replace the node's input list (e.g. the frontend appending a constant). */
void kiln_node_set_inputs(kiln_graph *g, uint32_t node, const uint32_t *ins, uint32_t n_in);

/* Attributes: set (add or replace by name), keeping the node's list sorted.
 * Strings, lists and tensors are copied into the arena. */
void kiln_attr_set_int(kiln_graph *g, uint32_t node, const char *name, int64_t v);
void kiln_attr_set_float(kiln_graph *g, uint32_t node, const char *name, float v);
void kiln_attr_set_string(kiln_graph *g, uint32_t node, const char *name, const char *v);
void kiln_attr_set_ints(kiln_graph *g, uint32_t node, const char *name, const int64_t *v, uint32_t n);
void kiln_attr_set_floats(kiln_graph *g, uint32_t node, const char *name, const float *v, uint32_t n);
void kiln_attr_set_strings(kiln_graph *g, uint32_t node, const char *name, const char *const *v, uint32_t n);
void kiln_attr_set_tensor(kiln_graph *g, uint32_t node, const char *name, const kiln_tensor *t);
bool kiln_attr_remove(kiln_graph *g, uint32_t node, const char *name); /* true if it was there */

/* ===== 6. attribute getters ============================================= */
/* Each returns the attribute's value, or `dflt` when the node lacks it.
 * An attribute present with another kind counts as absent; shape inference
 * checks kinds with kiln_attr_find where it matters. */
const kiln_attr *kiln_attr_find(const kiln_graph *g, const kiln_node *n, const char *name);
int64_t kiln_attr_int(const kiln_graph *g, const kiln_node *n, const char *name, int64_t dflt);
float kiln_attr_float(const kiln_graph *g, const kiln_node *n, const char *name, float dflt);
const char *kiln_attr_string(const kiln_graph *g, const kiln_node *n, const char *name, const char *dflt);
/* Lists: NULL and *count = 0 when absent. */
const int64_t *kiln_attr_ints(const kiln_graph *g, const kiln_node *n, const char *name, uint32_t *count);
const float *kiln_attr_floats(const kiln_graph *g, const kiln_node *n, const char *name, uint32_t *count);
const kiln_tensor *kiln_attr_tensor(const kiln_graph *g, const kiln_node *n, const char *name);

/* ===== 7. whole-graph operations and node messages ====================== */

/* Record an error about a node, prefixed "<source>: node '<name>' (<Op>): ". */
kiln_status kiln_node_error(kiln_ctx *ctx, const kiln_graph *g, uint32_t node,
                            kiln_status status, const char *fmt, ...) KILN_PRINTF(5, 6);
/* The same with a va_list, for wrappers such as kiln_infer_fail. */
kiln_status kiln_node_verror(kiln_ctx *ctx, const kiln_graph *g, uint32_t node,
                             kiln_status status, const char *fmt, va_list ap) KILN_PRINTF(5, 0);
/* Human-readable description of a node for messages: "'name' (Op)", or
 * "producing 'y' (Op)" when unnamed (its first named output: the ONNX
 * loader describes the node the same way, so a node has one description
 * from load to run), or "#12 (Op)" when it has neither. Names are escaped
 * (kiln_escape). Writes into buf, returns buf. */
const char *kiln_node_describe(const kiln_graph *g, uint32_t node, char *buf, size_t size);

/* s for a one-line message: control characters (0x00-0x1f, 0x7f) as \xNN,
 * cut with "..." to fit size (at least 8). Returns buf. */
const char *kiln_escape(const char *s, char *buf, size_t size);

/* Sort nodes topologically (stable: keeps the given order where legal).
 * KILN_ERR_INVALID naming a node on a cycle or a use without a producer. */
kiln_status kiln_graph_toposort(kiln_ctx *ctx, kiln_graph *g);

/* Shape and dtype inference over the whole graph (ir/infer.c), in
 * topological order. Small integer shape sub-graphs whose inputs are known
 * are evaluated on the way so that Reshape & co see concrete shapes. */
kiln_status kiln_graph_infer(kiln_ctx *ctx, kiln_graph *g);

/* Structural checks (ir/verify.c): every use has a producer defined
 * earlier, arity matches ops.def, shapes agree with inference. */
kiln_status kiln_graph_verify(kiln_ctx *ctx, const kiln_graph *g);
/* The same without the shape re-check: indices in range, topological
 * order, single definition, no self-use, arity, constants' sizes. Linear;
 * run on every graph that enters kiln, in every build. */
kiln_status kiln_graph_verify_structure(kiln_ctx *ctx, const kiln_graph *g);
/* Every constant that a node or a graph output uses has its data (text IR
 * can elide large constants: such a graph can be inspected, not run).
 * KILN_ERR_INVALID naming the first constant without data (ir/verify.c). */
kiln_status kiln_graph_check_data(kiln_ctx *ctx, const kiln_graph *g);

/* Make a graph input a constant with the given data (copied). Used by
 * `--const NAME=FILE` style binding and by tests that specialise on input
 * values. KILN_ERR_INVALID if the dtype or shape disagree with the input. */
kiln_status kiln_graph_bind_input(kiln_ctx *ctx, kiln_graph *g, uint32_t value, const kiln_tensor *t);
/* Bind symbolic/unknown dims of an input to a concrete shape (--shape). */
kiln_status kiln_graph_bind_shape(kiln_ctx *ctx, kiln_graph *g, uint32_t value, const kiln_shape *shape);

/* Number of uses of every value, as an array indexed by value (caller frees). */
uint32_t *kiln_graph_use_counts(const kiln_graph *g);

/* Find a value by name: graph inputs and outputs first, then all. 0 if none. */
uint32_t kiln_graph_find_value(const kiln_graph *g, const char *name);

#endif /* KILN_IR_H */
