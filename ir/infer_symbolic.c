/* infer_symbolic.c — shape arithmetic on symbolic values.
 *
 * Exporters compute shapes inside the graph: PyTorch's dynamic-batch ViT
 * has Shape(x) -> Gather(0) -> Unsqueeze -> Concat(., [197], [64]) ->
 * Reshape. With a symbolic batch N, Shape's output has no data, so plain
 * constant folding stops there and every later dimension becomes unknown,
 * even the static 197 and 64. Here the elements of such small integer
 * tensors are tracked as kiln_svals (a plain value or a symbol), so the
 * Reshape sees [N, 197, 64] and its output keeps N.
 *
 * Runs after a node's shape inference, in static inference only (the
 * interpreter knows every value), for ops whose output is a small integer
 * or bool tensor and whose inputs are known at least symbolically. Each
 * function fills out[0..n) and returns false when it cannot (an element
 * depends on something unknown), leaving the output unknown. An output
 * whose elements all turn out plain gets ordinary data, so constant
 * folding continues from it.
 */
#include "ir/infer.h"
#include "runtime/krt.h"
#include "runtime/krt_movement.h"

#include <string.h>

typedef bool (*sym_fn)(kiln_infer *c, kiln_sval *out, int64_t n);

static kiln_sval plain(int64_t v) { return (kiln_sval){v, 0}; }

/* A fresh anonymous symbol: an element that is some size we cannot name
 * (N * 197, say). Still better than unknown: it has an identity. */
static kiln_sval fresh(kiln_infer *c)
{
    return (kiln_sval){0, kiln_graph_symbol(c->g, NULL)};
}

/* Input i's elements, requiring exactly n (or 1, broadcast, when bcast). */
static bool input_svals(kiln_infer *c, uint32_t i, kiln_sval *v, int64_t n, bool bcast)
{
    int64_t got = kiln_infer_svals(c, i, v, KILN_SVAL_MAX);
    if (got == 1 && bcast)
        for (int64_t k = 1; k < n; k++)
            v[k] = v[0];
    return got == n || (bcast && got == 1);
}

/* ---- shapes and sizes -------------------------------------------------------- */

static kiln_sval dim_sval(kiln_dim d)
{
    return KILN_DIM_IS_SYM(d) ? (kiln_sval){0, KILN_DIM_SYM_ID(d)} : plain(d);
}

static bool sym_shape(kiln_infer *c, kiln_sval *out, int64_t n)
{
    const kiln_value *x = kiln_infer_in(c, 0);
    int r = x->shape.rank;
    int64_t start = kiln_attr_int(c->g, c->n, "start", 0);
    start = start < 0 ? start + r : start;
    start = start < 0 ? 0 : start > r ? r : start;
    for (int64_t k = 0; k < n; k++)
        out[k] = dim_sval(x->shape.dim[start + k]);
    return true;
}

static bool sym_size(kiln_infer *c, kiln_sval *out, int64_t n)
{
    const kiln_value *x = kiln_infer_in(c, 0);
    int syms = 0;
    int64_t rest = 1;
    kiln_sval only = plain(1);
    for (int k = 0; k < x->shape.rank; k++) {
        if (KILN_DIM_IS_SYM(x->shape.dim[k]))
            syms++, only = dim_sval(x->shape.dim[k]);
        else if (!kiln_mul_size(rest, x->shape.dim[k], &rest))
            return false;
    }
    out[0] = syms == 1 && rest == 1 ? only : rest == 0 ? plain(0) : fresh(c);
    return n == 1;
}

/* Ops that keep the elements in order (only the shape changes). */
static bool sym_same(kiln_infer *c, kiln_sval *out, int64_t n)
{
    return input_svals(c, 0, out, n, false);
}

static bool sym_cast(kiln_infer *c, kiln_sval *out, int64_t n)
{
    const kiln_value *y = kiln_out(c->g, c->n, 0);
    if (!input_svals(c, 0, out, n, false))
        return false;
    for (int64_t k = 0; k < n && y->dtype == KILN_DT_BOOL; k++) {
        if (out[k].sym)
            return false;  /* a size may be 0: its truth is unknown */
        out[k].value = out[k].value != 0;
    }
    return true;
}

/* ---- gathering the elements ---------------------------------------------------- */

static bool sym_concat(kiln_infer *c, kiln_sval *out, int64_t n)
{
    int64_t at = 0;
    if (kiln_in(c->g, c->n, 0)->shape.rank != 1)
        return false;
    for (uint32_t i = 0; i < kiln_infer_n_in(c); i++) {
        int64_t got = kiln_infer_svals(c, i, out + at, n - at);
        if (got < 0)
            return false;
        at += got;
    }
    return at == n;
}

static bool sym_gather(kiln_infer *c, kiln_sval *out, int64_t n)
{
    kiln_sval x[KILN_SVAL_MAX];
    int64_t idx[KILN_SVAL_MAX];
    int64_t nx = kiln_infer_svals(c, 0, x, KILN_SVAL_MAX);
    if (kiln_in(c->g, c->n, 0)->shape.rank != 1 || nx < 0 ||
        kiln_infer_ints(c, 1, idx, KILN_SVAL_MAX) != n)
        return false;
    for (int64_t k = 0; k < n; k++) {
        int64_t i = idx[k] < 0 ? idx[k] + nx : idx[k];
        if (i < 0 || i >= nx)
            return false;  /* the interpreter reports the bad index */
        out[k] = x[i];
    }
    return true;
}

static bool sym_slice(kiln_infer *c, kiln_sval *out, int64_t n)
{
    kiln_sval x[KILN_SVAL_MAX];
    int64_t start, end, axis = 0, step = 1, first;
    int64_t nx = kiln_infer_svals(c, 0, x, KILN_SVAL_MAX);
    if (kiln_in(c->g, c->n, 0)->shape.rank != 1 || nx < 0 ||
        kiln_infer_ints(c, 1, &start, 1) != 1 || kiln_infer_ints(c, 2, &end, 1) != 1 ||
        (kiln_infer_in(c, 3) && kiln_infer_ints(c, 3, &axis, 1) != 1) ||
        (kiln_infer_in(c, 4) && kiln_infer_ints(c, 4, &step, 1) != 1) ||
        (axis != 0 && axis != -1) || step == 0)
        return false;
    if (krt_slice_axis(nx, start, end, step, &first) != n)
        return false;
    for (int64_t k = 0; k < n; k++)
        out[k] = x[first + k * step];
    return true;
}

/* ---- arithmetic and selection --------------------------------------------------- */

typedef enum { ADD, SUB, MUL, DIV } arith;

static kiln_sval arith_one(kiln_infer *c, arith op, kiln_sval a, kiln_sval b)
{
    if (!a.sym && !b.sym) {
        int64_t r;
        bool ok = op == ADD   ? !__builtin_add_overflow(a.value, b.value, &r)
                  : op == SUB ? !__builtin_sub_overflow(a.value, b.value, &r)
                  : op == MUL ? !__builtin_mul_overflow(a.value, b.value, &r)
                              : b.value != 0 && !(a.value == INT64_MIN && b.value == -1);
        if (op == DIV && ok)
            r = a.value / b.value;
        return ok ? plain(r) : fresh(c);
    }
    bool identity = !b.sym && (((op == ADD || op == SUB) && b.value == 0) ||
                               ((op == MUL || op == DIV) && b.value == 1));
    if (identity)
        return a;
    if (op == ADD && !a.sym && a.value == 0)
        return b;
    if (op == MUL && !a.sym && a.value == 1)
        return b;
    if (op == MUL && ((!a.sym && a.value == 0) || (!b.sym && b.value == 0)))
        return plain(0);
    if (op == DIV && a.sym && a.sym == b.sym)
        return plain(1);  /* a size divided by itself (sizes here are > 0) */
    return fresh(c);
}

static bool sym_arith(kiln_infer *c, kiln_sval *out, int64_t n, arith op)
{
    kiln_sval a[KILN_SVAL_MAX], b[KILN_SVAL_MAX];
    if (!input_svals(c, 0, a, n, true) || !input_svals(c, 1, b, n, true))
        return false;
    for (int64_t k = 0; k < n; k++)
        out[k] = arith_one(c, op, a[k], b[k]);
    return true;
}

static bool sym_add(kiln_infer *c, kiln_sval *out, int64_t n) { return sym_arith(c, out, n, ADD); }
static bool sym_sub(kiln_infer *c, kiln_sval *out, int64_t n) { return sym_arith(c, out, n, SUB); }
static bool sym_mul(kiln_infer *c, kiln_sval *out, int64_t n) { return sym_arith(c, out, n, MUL); }
static bool sym_div(kiln_infer *c, kiln_sval *out, int64_t n) { return sym_arith(c, out, n, DIV); }

/* Equal is decidable for equal elements, and for a size (>= 0) against a
 * negative value (PyTorch's expand compares the shape with -1). */
static bool sym_equal(kiln_infer *c, kiln_sval *out, int64_t n)
{
    kiln_sval a[KILN_SVAL_MAX], b[KILN_SVAL_MAX];
    if (!input_svals(c, 0, a, n, true) || !input_svals(c, 1, b, n, true))
        return false;
    for (int64_t k = 0; k < n; k++) {
        if (a[k].sym == b[k].sym && (a[k].sym || a[k].value == b[k].value))
            out[k] = plain(1);
        else if (!a[k].sym && !b[k].sym)
            out[k] = plain(0);
        else if ((a[k].sym && !b[k].sym && b[k].value < 0) || (b[k].sym && !a[k].sym && a[k].value < 0))
            out[k] = plain(0);
        else
            return false;
    }
    return true;
}

static bool sym_where(kiln_infer *c, kiln_sval *out, int64_t n)
{
    kiln_sval cond[KILN_SVAL_MAX], a[KILN_SVAL_MAX], b[KILN_SVAL_MAX];
    if (!input_svals(c, 0, cond, n, true) || !input_svals(c, 1, a, n, true) ||
        !input_svals(c, 2, b, n, true))
        return false;
    for (int64_t k = 0; k < n; k++) {
        if (cond[k].sym)
            return false;
        out[k] = cond[k].value ? a[k] : b[k];
    }
    return true;
}

static const sym_fn sym_fns[KILN_OP_COUNT] = {
    [KILN_OP_SHAPE] = sym_shape,         [KILN_OP_SIZE] = sym_size,
    [KILN_OP_IDENTITY] = sym_same,       [KILN_OP_RESHAPE] = sym_same,
    [KILN_OP_FLATTEN] = sym_same,        [KILN_OP_SQUEEZE] = sym_same,
    [KILN_OP_UNSQUEEZE] = sym_same,      [KILN_OP_CAST] = sym_cast,
    [KILN_OP_CONCAT] = sym_concat,       [KILN_OP_GATHER] = sym_gather,
    [KILN_OP_SLICE] = sym_slice,         [KILN_OP_ADD] = sym_add,
    [KILN_OP_SUB] = sym_sub,             [KILN_OP_MUL] = sym_mul,
    [KILN_OP_DIV] = sym_div,             [KILN_OP_EQUAL] = sym_equal,
    [KILN_OP_WHERE] = sym_where,
};

/* ---- the driver's entry ---------------------------------------------------------- */

/* Store the elements: plain ones all become data, else symbolic values. */
static void record(kiln_infer *c, kiln_value *y, const kiln_sval *v, int64_t n)
{
    bool all_plain = true;
    for (int64_t k = 0; k < n; k++)
        all_plain &= v[k].sym == 0;
    if (!all_plain) {
        kiln_sval *copy = kiln_arena_alloc(c->g->arena, (size_t)n * sizeof *copy, 8);
        memcpy(copy, v, (size_t)n * sizeof *copy);
        y->svals = copy;
        return;
    }
    size_t esize = kiln_dtype_size(y->dtype);
    void *data = kiln_arena_alloc(c->g->arena, (size_t)(n ? n : 1) * esize, 64);
    for (int64_t k = 0; k < n; k++)
        krt_store_i64((krt_dtype)y->dtype, data, k, v[k].value);
    y->data = data;
    y->nbytes = (size_t)n * esize;
}

void kiln_infer_symbolic(kiln_infer *c)
{
    sym_fn fn = sym_fns[c->n->op];
    kiln_value *y = kiln_out(c->g, c->n, 0);
    int64_t n;
    kiln_sval out[KILN_SVAL_MAX];
    if (!fn || c->values != c->g->values || !y || y->data || c->n->n_out != 1 ||
        (y->dtype != KILN_DT_I64 && y->dtype != KILN_DT_I32 && y->dtype != KILN_DT_BOOL) ||
        y->shape.rank > 1 || !kiln_shape_numel(&y->shape, &n) || n > KILN_SVAL_MAX)
        return;
    if (fn(c, out, n))
        record(c, y, out, n);
}
