/* infer_movement.c — shape and dtype inference for the movement family:
 * data movement (Reshape ... ReverseSequence), indexing (Gather ... Unique),
 * generators and shape ops (Range, EyeLike, ConstantOfShape, Shape, Size),
 * NonMaxSuppression and the signal ops (DFT, STFT, windows, mel matrix).
 *
 * Operators take the canonical forms of docs/canonical-forms.md. Shapes
 * that depend on input data (Reshape's shape, NonZero's count ...) are
 * computed when that data is known -- always in the interpreter, for
 * constants and folded shape sub-graphs at compile time -- and are fresh
 * symbolic dimensions otherwise; data-dependent counts are computed by the
 * same runtime kernels the interpreter uses, so both agree. Shape and Size
 * of a statically shaped input also get their data here, at compile time,
 * so that Shape -> Gather -> Concat -> Reshape chains fold.
 */
#include "ir/infer.h"
#include "runtime/krt_movement.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Return the status of x when it is an error. */
#define TRY(x)                        \
    do {                              \
        kiln_status try_ = (x);       \
        if (try_)                     \
            return try_;              \
    } while (0)

/* ---- dtype sets ------------------------------------------------------------ */

#define DT(x) (1u << KILN_DT_##x)
enum {
    DTS_FLOAT = DT(F32) | DT(F64) | DT(F16) | DT(BF16),
    DTS_INT = DT(I8) | DT(I16) | DT(I32) | DT(I64) | DT(U8) | DT(U16) | DT(U32) | DT(U64),
    DTS_NUM = DTS_FLOAT | DTS_INT,
    DTS_ANY = DTS_NUM | DT(BOOL),
    DTS_INDEX = DT(I32) | DT(I64),
    DTS_RANGE = DT(F32) | DT(F64) | DT(I16) | DT(I32) | DT(I64),
};

/* Room for the values of a shape-like input (pads are 2 x rank). */
enum { MAX_SMALL = 4 * KILN_MAX_RANK };

static const char *dtype_set_text(unsigned set, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = 0;
    for (int dt = 1; dt < KILN_DT_COUNT; dt++)
        if (set & (1u << dt))
            used += (size_t)snprintf(buf + used, used < size ? size - used : 0, "%s%s",
                                     used ? " " : "", kiln_dtype_name((kiln_dtype)dt));
    return buf;
}

/* Input i exists, has a known rank and a dtype in `set`. */
static kiln_status need(kiln_infer *c, uint32_t i, unsigned set, kiln_value **v)
{
    char allowed[160];
    TRY(kiln_infer_need(c, i, v));
    if (!(set & (1u << (*v)->dtype)))
        return kiln_infer_fail(c, "input %u ('%s') has dtype %s; %s takes %s", i, (*v)->name,
                               kiln_dtype_name((*v)->dtype), kiln_op_name(c->n->op),
                               dtype_set_text(set, allowed, sizeof allowed));
    return KILN_OK;
}

/* Optional input: *v NULL when absent; checked like need() otherwise. */
static kiln_status maybe(kiln_infer *c, uint32_t i, unsigned set, kiln_value **v)
{
    *v = kiln_infer_in(c, i);
    return *v ? need(c, i, set, v) : KILN_OK;
}

static kiln_status same_dtype(kiln_infer *c, uint32_t i, const kiln_value *a, const kiln_value *b)
{
    if (a->dtype != b->dtype)
        return kiln_infer_fail(c, "input %u ('%s') is %s but input 0 is %s", i, b->name,
                               kiln_dtype_name(b->dtype), kiln_dtype_name(a->dtype));
    return KILN_OK;
}

static kiln_status need_rank(kiln_infer *c, uint32_t i, const kiln_value *v, int lo, int hi)
{
    if (v->shape.rank < lo || v->shape.rank > hi) {
        if (lo == hi)
            return kiln_infer_fail(c, "input %u ('%s') has rank %d, need %d", i, v->name, v->shape.rank, lo);
        return kiln_infer_fail(c, "input %u ('%s') has rank %d, need %d to %d", i, v->name,
                               v->shape.rank, lo, hi);
    }
    return KILN_OK;
}

/* ---- attributes (kind and range checked) ------------------------------------ */

static kiln_status attr_int(kiln_infer *c, const char *name, int64_t dflt, int64_t lo, int64_t hi,
                            int64_t *out)
{
    const kiln_attr *a = kiln_attr_find(c->g, c->n, name);
    if (a && a->kind != KILN_ATTR_INT)
        return kiln_infer_fail(c, "attribute '%s' must be an int", name);
    *out = a ? a->u.i : dflt;
    if (*out < lo || *out > hi)
        return kiln_infer_fail(c, "attribute '%s' is %lld, must be in [%lld, %lld]", name,
                               (long long)*out, (long long)lo, (long long)hi);
    return KILN_OK;
}

static kiln_status attr_flag(kiln_infer *c, const char *name, int64_t dflt, int64_t *out)
{
    return attr_int(c, name, dflt, 0, 1, out);
}

/* An axis attribute normalized against rank (range [-rank, rank)). */
static kiln_status attr_axis(kiln_infer *c, const char *name, int64_t dflt, int rank, int *axis)
{
    int64_t a = 0;
    kiln_status st = attr_int(c, name, dflt, INT64_MIN, INT64_MAX, &a);
    if (st == KILN_OK && !kiln_norm_axis(a, rank, axis))
        return kiln_infer_fail(c, "attribute '%s' is %lld, out of range [%d, %d) for rank %d", name,
                               (long long)a, -rank, rank, rank);
    return st;
}

/* A string attribute that must be one of `choices` (NULL-terminated); *idx
 * is its position. */
static kiln_status attr_choice(kiln_infer *c, const char *name, const char *const *choices, int *idx)
{
    const kiln_attr *a = kiln_attr_find(c->g, c->n, name);
    if (a && a->kind != KILN_ATTR_STRING)
        return kiln_infer_fail(c, "attribute '%s' must be a string", name);
    const char *s = a ? a->u.s : choices[0];
    for (*idx = 0; choices[*idx]; (*idx)++)
        if (strcmp(s, choices[*idx]) == 0)
            return KILN_OK;
    return kiln_infer_fail(c, "attribute '%s' is \"%s\", not one kiln knows", name, s);
}

/* ---- shape helpers ---------------------------------------------------------- */

static bool is_static(kiln_dim d) { return !KILN_DIM_IS_SYM(d); }

/* a * b on dims: exact when both static (overflow is an error), a symbol
 * times 1 is the symbol, anything else symbolic is a fresh unknown. */
static kiln_status dim_mul(kiln_infer *c, kiln_dim a, kiln_dim b, kiln_dim *out)
{
    int64_t r;
    if (a == 0 || b == 0)
        *out = 0;
    else if (b == 1 || a == 1)
        *out = a == 1 ? b : a;
    else if (!is_static(a) || !is_static(b))
        *out = kiln_infer_unknown_dim(c);
    else if (!kiln_mul_size(a, b, &r))
        return kiln_infer_fail(c, "dimension product %lld x %lld overflows", (long long)a, (long long)b);
    else
        *out = r;
    return KILN_OK;
}

/* Product of dims[from..to). */
static kiln_status dims_product(kiln_infer *c, const kiln_dim *dims, int from, int to, kiln_dim *out)
{
    kiln_dim p = 1;
    for (int i = from; i < to; i++) {
        kiln_status st = dim_mul(c, p, dims[i], &p);
        if (st)
            return st;
    }
    *out = p;
    return KILN_OK;
}

static kiln_status check_rank_out(kiln_infer *c, int64_t rank)
{
    if (rank > KILN_MAX_RANK)
        return kiln_infer_unsupported(c, "output rank %lld exceeds kiln's maximum of %d",
                                      (long long)rank, KILN_MAX_RANK);
    return KILN_OK;
}

static kiln_shape unknown_dims(kiln_infer *c, int rank)
{
    kiln_shape s = {.rank = rank};
    for (int i = 0; i < rank; i++)
        s.dim[i] = kiln_infer_unknown_dim(c);
    return s;
}

static kiln_shape shape1(kiln_dim d0)
{
    kiln_shape s = {.rank = 1};
    s.dim[0] = d0;
    return s;
}

/* Number of entries of a 1-D (or scalar) input; -1 when not static. */
static int64_t length_of(const kiln_value *v)
{
    int64_t n;
    return kiln_shape_numel(&v->shape, &n) ? n : -1;
}

/* A 1-D integer input such as shape, axes, pads (dtype in set): its
 * entries when known (*n = count), *n = -1 when the data is unknown. */
static kiln_status small_ints(kiln_infer *c, uint32_t i, const char *what, unsigned set,
                              int64_t *vals, int64_t *n)
{
    kiln_value *v;
    kiln_status st = need(c, i, set, &v);
    if (st == KILN_OK)
        st = need_rank(c, i, v, 1, 1);
    if (st)
        return st;
    *n = kiln_infer_ints(c, i, vals, MAX_SMALL);
    if (*n == -2)
        return kiln_infer_unsupported(c, "input %u ('%s', %s) has more than %d entries", i, v->name,
                                      what, MAX_SMALL);
    return KILN_OK;
}

/* A shape-like input's entries from its data or, failing that, its
 * symbolic values (an entry may then be a symbol: req[k].sym != 0):
 * *n = -1 when neither is known. Checks dtype and rank like small_ints. */
static kiln_status shape_request(kiln_infer *c, uint32_t i, const char *what, kiln_sval *req, int64_t *n)
{
    int64_t vals[MAX_SMALL];
    TRY(small_ints(c, i, what, DT(I64), vals, n));
    for (int64_t k = 0; k < *n; k++)
        req[k] = (kiln_sval){vals[k], 0};
    if (*n < 0 && (*n = kiln_infer_svals(c, i, req, KILN_SVAL_MAX)) < 0)
        *n = -1;
    return KILN_OK;
}

/* A scalar input (rank 0, or one element): *known false when the data is not. */
static kiln_status scalar_of(kiln_infer *c, uint32_t i, unsigned set, const char *what,
                             double *val, bool *known)
{
    kiln_value *v;
    TRY(need(c, i, set, &v));
    if (v->shape.rank > 1 || (v->shape.rank == 1 && v->shape.dim[0] != 1))
        return kiln_infer_fail(c, "input %u ('%s', %s) must be a scalar", i, v->name, what);
    *known = kiln_infer_floats(c, i, val, 1) == 1;
    return KILN_OK;
}

static kiln_status scalar_int(kiln_infer *c, uint32_t i, unsigned set, const char *what,
                              int64_t *val, bool *known)
{
    double unused;
    kiln_status st = scalar_of(c, i, set, what, &unused, known);
    if (st == KILN_OK && *known)
        kiln_infer_ints(c, i, val, 1);
    return st;
}

/* Axes from an input: normalized against rank, without repeats. */
static kiln_status norm_axes(kiln_infer *c, uint32_t i, int64_t *axes, int64_t n, int rank)
{
    bool seen[KILN_MAX_RANK] = {false};
    for (int64_t k = 0; k < n; k++) {
        int a;
        if (!kiln_norm_axis(axes[k], rank, &a))
            return kiln_infer_fail(c, "input %u: axis %lld out of range [%d, %d)", i,
                                   (long long)axes[k], -rank, rank);
        if (seen[a])
            return kiln_infer_fail(c, "input %u: axis %lld repeated", i, (long long)axes[k]);
        seen[a] = true;
        axes[k] = a;
    }
    return KILN_OK;
}

/* ---- Reshape, Flatten, Squeeze, Unsqueeze ---------------------------------------- */

/* Output dim k of Reshape from request s; *minus1 collects the -1 slot. */
static kiln_status reshape_dim(kiln_infer *c, const kiln_shape *in, int64_t s, int k,
                               bool allowzero, int *minus1, kiln_dim *out)
{
    if (s == -1) {
        if (*minus1 >= 0)
            return kiln_infer_fail(c, "shape has more than one -1");
        *minus1 = k;
        *out = 1;
    } else if (s < -1) {
        return kiln_infer_fail(c, "shape entry %d is %lld (must be >= -1)", k, (long long)s);
    } else if (s == 0 && !allowzero) {
        if (k >= in->rank)
            return kiln_infer_fail(c, "shape entry %d is 0 (copy) but the input has rank %d", k, in->rank);
        *out = in->dim[k];
    } else {
        *out = s;
    }
    return KILN_OK;
}

/* Solve the -1 slot and check the element count. Symbols present on both
 * sides cancel (a batch dim N copied by a 0), so [N, 197, 768] into
 * [0, -1, 12, 64] still gives 197; what cannot be decided stays unknown. */
static kiln_status reshape_solve(kiln_infer *c, const kiln_shape *in, kiln_shape *out, int minus1)
{
    kiln_dim syms[KILN_MAX_RANK];
    int ns = 0;
    int64_t tin = 1, tout = 1;
    for (int k = 0; k < in->rank; k++)
        if (!is_static(in->dim[k]))
            syms[ns++] = in->dim[k];
        else if (!kiln_mul_size(tin, in->dim[k], &tin))
            return kiln_infer_fail(c, "input 0 has too many elements");
    for (int k = 0; k < out->rank; k++) {
        int j = 0;
        if (k == minus1)
            continue;
        if (is_static(out->dim[k])) {
            if (!kiln_mul_size(tout, out->dim[k], &tout))
                return kiln_infer_fail(c, "the requested shape has too many elements");
            continue;
        }
        while (j < ns && syms[j] != out->dim[k])
            j++;
        if (j == ns) {  /* a symbol the input does not have */
            if (minus1 >= 0)
                out->dim[minus1] = kiln_infer_unknown_dim(c);
            return KILN_OK;
        }
        syms[j] = syms[--ns];
    }
    if (ns > 0) {  /* input symbols left over: only a lone one with equal rest solves -1 */
        if (minus1 >= 0)
            out->dim[minus1] = ns == 1 && tin == tout ? syms[0] : kiln_infer_unknown_dim(c);
        return KILN_OK;
    }
    if (minus1 >= 0 && tout != 0 && tin % tout == 0)
        out->dim[minus1] = tin / tout;
    else if (minus1 >= 0 || tin != tout)
        return kiln_infer_fail(c, "cannot reshape %lld elements into the requested shape (%lld elements%s)",
                               (long long)tin, (long long)tout, minus1 >= 0 ? " times the -1 dimension" : "");
    return KILN_OK;
}

static kiln_status infer_reshape(kiln_infer *c)
{
    kiln_value *x, *sv;
    kiln_sval req[MAX_SMALL];
    int64_t n, allowzero;
    TRY(need(c, 0, DTS_ANY, &x));
    TRY(attr_flag(c, "allowzero", 0, &allowzero));
    TRY(shape_request(c, 1, "shape", req, &n));
    sv = kiln_infer_in(c, 1);
    int64_t len = n >= 0 ? n : length_of(sv);
    if (len < 0)
        return kiln_infer_unsupported(c, "the output rank depends on the length of input 1 ('%s'), which is symbolic", sv->name);
    TRY(check_rank_out(c, len));
    kiln_shape out = n >= 0 ? (kiln_shape){.rank = (int)len} : unknown_dims(c, (int)len);
    int minus1 = -1;
    bool zero = false;
    for (int k = 0; n >= 0 && k < len; k++) {
        if (req[k].sym) {  /* a symbolic entry: that size */
            out.dim[k] = KILN_DIM_SYM(req[k].sym);
            continue;
        }
        TRY(reshape_dim(c, &x->shape, req[k].value, k, allowzero, &minus1, &out.dim[k]));
        zero |= req[k].value == 0;
    }
    if (allowzero && zero && minus1 >= 0)
        return kiln_infer_fail(c, "with allowzero = 1 the shape cannot hold both 0 and -1");
    if (n >= 0)
        TRY(reshape_solve(c, &x->shape, &out, minus1));
    kiln_infer_set(c, 0, x->dtype, &out);
    return KILN_OK;
}

static kiln_status infer_flatten(kiln_infer *c)
{
    kiln_value *x;
    int64_t axis;
    TRY(need(c, 0, DTS_ANY, &x));
    int r = x->shape.rank;
    TRY(attr_int(c, "axis", 1, -r, r, &axis));
    if (axis < 0)
        axis += r;
    kiln_shape out = {.rank = 2};
    TRY(dims_product(c, x->shape.dim, 0, (int)axis, &out.dim[0]));
    TRY(dims_product(c, x->shape.dim, (int)axis, r, &out.dim[1]));
    kiln_infer_set(c, 0, x->dtype, &out);
    return KILN_OK;
}

/* Squeeze with an axes input: marks the axes to drop; *rank_only when the
 * axes are unknown (only how many is known). */
static kiln_status squeeze_axes(kiln_infer *c, const kiln_shape *in, bool *drop, int64_t *rank_only)
{
    int64_t axes[MAX_SMALL], n;
    TRY(small_ints(c, 1, "axes", DT(I64), axes, &n));
    int64_t len = n >= 0 ? n : length_of(kiln_infer_in(c, 1));
    *rank_only = n < 0 ? len : -1;
    if (n < 0 && (len < 0 || len > in->rank))
        return kiln_infer_unsupported(c, "the output rank depends on input 1 ('axes'), which is not known");
    TRY(norm_axes(c, 1, axes, n, in->rank));
    for (int64_t k = 0; k < n; k++) {
        kiln_dim d = in->dim[axes[k]];
        if (is_static(d) && d != 1)
            return kiln_infer_fail(c, "cannot squeeze axis %lld of size %lld", (long long)axes[k], (long long)d);
        drop[axes[k]] = true;
    }
    return KILN_OK;
}

static kiln_status infer_squeeze(kiln_infer *c)
{
    kiln_value *x;
    bool drop[KILN_MAX_RANK] = {false};
    int64_t rank_only = -1;
    TRY(need(c, 0, DTS_ANY, &x));
    int r = x->shape.rank;
    kiln_shape out = {.rank = 0};
    if (kiln_infer_in(c, 1))
        TRY(squeeze_axes(c, &x->shape, drop, &rank_only));
    for (int k = 0; k < r && !kiln_infer_in(c, 1); k++) {  /* no axes: every 1 goes */
        if (!is_static(x->shape.dim[k]))
            return kiln_infer_unsupported(c, "Squeeze without axes on a symbolic dimension (axis %d): the output rank depends on its size; bind the input shape", k);
        drop[k] = x->shape.dim[k] == 1;
    }
    for (int k = 0; k < r; k++)
        if (!drop[k])
            out.dim[out.rank++] = x->shape.dim[k];
    if (rank_only >= 0)
        out = unknown_dims(c, r - (int)rank_only);  /* which axes go is unknown */
    kiln_infer_set(c, 0, x->dtype, &out);
    return KILN_OK;
}

static kiln_status infer_unsqueeze(kiln_infer *c)
{
    kiln_value *x;
    int64_t axes[MAX_SMALL], n;
    TRY(need(c, 0, DTS_ANY, &x));
    TRY(small_ints(c, 1, "axes", DT(I64), axes, &n));
    int64_t len = n >= 0 ? n : length_of(kiln_infer_in(c, 1));
    if (len < 0)
        return kiln_infer_unsupported(c, "the output rank depends on the length of input 1 ('axes'), which is symbolic");
    TRY(check_rank_out(c, x->shape.rank + len));
    int r = x->shape.rank + (int)len;
    kiln_shape out = {.rank = r};
    if (n < 0) {
        out = unknown_dims(c, r);
        kiln_infer_set(c, 0, x->dtype, &out);
        return KILN_OK;
    }
    bool ins[KILN_MAX_RANK] = {false};
    TRY(norm_axes(c, 1, axes, n, r));
    for (int64_t k = 0; k < n; k++)
        ins[axes[k]] = true;
    for (int k = 0, j = 0; k < r; k++)
        out.dim[k] = ins[k] ? 1 : x->shape.dim[j++];
    kiln_infer_set(c, 0, x->dtype, &out);
    return KILN_OK;
}

/* ---- Transpose, Concat, Split ---------------------------------------------------------- */

static kiln_status infer_transpose(kiln_infer *c)
{
    kiln_value *x;
    uint32_t n;
    TRY(need(c, 0, DTS_ANY, &x));
    int r = x->shape.rank;
    const kiln_attr *a = kiln_attr_find(c->g, c->n, "perm");
    if (a && a->kind != KILN_ATTR_INTS)
        return kiln_infer_fail(c, "attribute 'perm' must be a list of ints");
    const int64_t *perm = kiln_attr_ints(c->g, c->n, "perm", &n);
    if (a && n != (uint32_t)r)
        return kiln_infer_fail(c, "attribute 'perm' has %u entries for an input of rank %d", n, r);
    kiln_shape out = {.rank = r};
    bool seen[KILN_MAX_RANK] = {false};
    for (int k = 0; k < r; k++) {
        int64_t p = a ? perm[k] : r - 1 - k;
        if (p < 0 || p >= r || seen[p])
            return kiln_infer_fail(c, "attribute 'perm' is not a permutation of 0..%d (entry %d is %lld)",
                                   r - 1, k, (long long)p);
        seen[p] = true;
        out.dim[k] = x->shape.dim[p];
    }
    kiln_infer_set(c, 0, x->dtype, &out);
    return KILN_OK;
}

/* Two dims that must agree: the static one wins over a symbol. */
static kiln_status dim_agree(kiln_infer *c, uint32_t i, int k, kiln_dim *acc, kiln_dim d)
{
    if (is_static(*acc) && is_static(d) && *acc != d)
        return kiln_infer_fail(c, "input %u has size %lld on axis %d, input 0 has %lld", i,
                               (long long)d, k, (long long)*acc);
    if (!is_static(*acc))
        *acc = d;
    return KILN_OK;
}

static kiln_status infer_concat(kiln_infer *c)
{
    kiln_value *x0, *x;
    int axis;
    kiln_status st = KILN_OK;
    TRY(need(c, 0, DTS_ANY, &x0));
    if (!kiln_attr_find(c->g, c->n, "axis"))
        return kiln_infer_fail(c, "attribute 'axis' is required");
    if (x0->shape.rank == 0)
        return kiln_infer_fail(c, "cannot concatenate scalars (input 0 has rank 0)");
    TRY(attr_axis(c, "axis", 0, x0->shape.rank, &axis));
    kiln_shape out = x0->shape;
    for (uint32_t i = 1; i < kiln_infer_n_in(c); i++) {
        TRY(need(c, i, DTS_ANY, &x));
        TRY(same_dtype(c, i, x0, x));
        TRY(need_rank(c, i, x, out.rank, out.rank));
        for (int k = 0; k < out.rank && !st; k++)
            st = k == axis ? KILN_OK : dim_agree(c, i, k, &out.dim[k], x->shape.dim[k]);
        if (st)
            return st;
        if (is_static(out.dim[axis]) && is_static(x->shape.dim[axis])) {
            if (!kiln_add_size(out.dim[axis], x->shape.dim[axis], &out.dim[axis]))
                return kiln_infer_fail(c, "the concatenated axis overflows");
        } else
            out.dim[axis] = kiln_infer_unknown_dim(c);
    }
    kiln_infer_set(c, 0, x0->dtype, &out);
    return KILN_OK;
}

/* Split parts given by the split input (vals: n_out + 1 entries of room). */
static kiln_status split_given(kiln_infer *c, kiln_dim dim, uint32_t n_out, int64_t *vals, kiln_dim *sizes)
{
    kiln_value *sv;
    int64_t sum = 0;
    TRY(need(c, 1, DTS_INDEX, &sv));
    TRY(need_rank(c, 1, sv, 1, 1));
    int64_t known = kiln_infer_ints(c, 1, vals, n_out + 1);
    if (known >= 0 && known != (int64_t)n_out)
        return kiln_infer_fail(c, "input 1 ('split') has %lld entries for %u outputs", (long long)known, n_out);
    for (uint32_t i = 0; i < n_out; i++) {
        if (known >= 0 && vals[i] < 0)
            return kiln_infer_fail(c, "input 1 ('split') entry %u is %lld (must be >= 0)", i, (long long)vals[i]);
        sizes[i] = known >= 0 ? vals[i] : kiln_infer_unknown_dim(c);
        if (known >= 0 && !kiln_add_size(sum, vals[i], &sum))
            return kiln_infer_fail(c, "the parts in input 1 ('split') add up to more than %lld",
                                   (long long)INT64_MAX);
    }
    if (known >= 0 && is_static(dim) && sum != dim)
        return kiln_infer_fail(c, "the parts in input 1 ('split') add up to %lld, the axis has %lld",
                               (long long)sum, (long long)dim);
    return KILN_OK;
}

/* Equal parts; with num_outputs (opset 18) the last one may be smaller. */
static kiln_status split_equal(kiln_infer *c, kiln_dim dim, uint32_t n_out, kiln_dim *sizes)
{
    int64_t num_outputs;
    TRY(attr_int(c, "num_outputs", n_out, n_out, n_out, &num_outputs));
    if (is_static(dim) && dim % n_out && !kiln_attr_find(c->g, c->n, "num_outputs"))
        return kiln_infer_fail(c, "axis of size %lld does not split into %u equal parts", (long long)dim, n_out);
    int64_t part = is_static(dim) ? (dim + n_out - 1) / n_out : 0;
    for (uint32_t i = 0; i < n_out; i++) {
        int64_t left = dim - part * (int64_t)i;
        sizes[i] = !is_static(dim) ? kiln_infer_unknown_dim(c) : left < 0 ? 0 : left < part ? left : part;
    }
    return KILN_OK;
}

static kiln_status infer_split(kiln_infer *c)
{
    kiln_value *x;
    int axis;
    uint32_t n_out = kiln_infer_n_out(c);
    kiln_status st = KILN_OK;
    TRY(need(c, 0, DTS_ANY, &x));
    TRY(attr_axis(c, "axis", 0, x->shape.rank, &axis));
    kiln_dim *sizes = kiln_xcalloc(n_out, sizeof *sizes);
    int64_t *vals = kiln_xcalloc(n_out + 1, sizeof *vals);
    st = kiln_infer_in(c, 1) ? split_given(c, x->shape.dim[axis], n_out, vals, sizes)
                             : split_equal(c, x->shape.dim[axis], n_out, sizes);
    free(vals);
    for (uint32_t i = 0; i < n_out && !st; i++) {
        kiln_shape out = x->shape;
        out.dim[axis] = sizes[i];
        kiln_infer_set(c, i, x->dtype, &out);
    }
    free(sizes);
    return st;
}

/* ---- Slice, Pad, Tile, Expand ------------------------------------------------------------- */

/* The optional 1-D index inputs of Slice: known values or n = -1. */
typedef struct slice_args {
    int64_t starts[MAX_SMALL], ends[MAX_SMALL], axes[MAX_SMALL], steps[MAX_SMALL];
    int64_t n;        /* entries, -1 when some data is unknown */
} slice_args;

static kiln_status slice_read(kiln_infer *c, int rank, slice_args *s)
{
    int64_t ne, na, nst;
    TRY(small_ints(c, 1, "starts", DTS_INDEX, s->starts, &s->n));
    TRY(small_ints(c, 2, "ends", DTS_INDEX, s->ends, &ne));
    na = s->n, nst = s->n;
    if (kiln_infer_in(c, 3))
        TRY(small_ints(c, 3, "axes", DTS_INDEX, s->axes, &na));
    if (kiln_infer_in(c, 4))
        TRY(small_ints(c, 4, "steps", DTS_INDEX, s->steps, &nst));
    if (s->n < 0 || ne < 0 || na < 0 || nst < 0) {
        s->n = -1;
        return KILN_OK;
    }
    if (ne != s->n || na != s->n || nst != s->n)
        return kiln_infer_fail(c, "starts, ends, axes and steps have %lld, %lld, %lld and %lld entries",
                               (long long)s->n, (long long)ne, (long long)na, (long long)nst);
    for (int64_t k = 0; k < s->n; k++) {
        if (!kiln_infer_in(c, 3))
            s->axes[k] = k;
        if (!kiln_infer_in(c, 4))
            s->steps[k] = 1;
        if (s->steps[k] == 0)
            return kiln_infer_fail(c, "input 4 ('steps') entry %lld is 0", (long long)k);
    }
    return norm_axes(c, 3, s->axes, s->n, rank);
}

static kiln_status infer_slice(kiln_infer *c)
{
    kiln_value *x;
    slice_args s;
    TRY(need(c, 0, DTS_ANY, &x));
    TRY(slice_read(c, x->shape.rank, &s));
    kiln_shape out = x->shape;
    if (s.n < 0)
        out = unknown_dims(c, x->shape.rank);  /* which axes are sliced is unknown */
    for (int64_t k = 0; k < s.n; k++) {
        kiln_dim d = x->shape.dim[s.axes[k]];
        int64_t first;
        /* [0 : huge : 1] keeps a symbolic dim whole (the usual "to the end") */
        bool whole = s.starts[k] == 0 && s.steps[k] == 1 && s.ends[k] >= INT32_MAX;
        if (is_static(d))
            out.dim[s.axes[k]] = krt_slice_axis(d, s.starts[k], s.ends[k], s.steps[k], &first);
        else if (!whole)
            out.dim[s.axes[k]] = kiln_infer_unknown_dim(c);
    }
    kiln_infer_set(c, 0, x->dtype, &out);
    return KILN_OK;
}

static const char *const pad_modes[] = {"constant", "reflect", "edge", NULL};

/* Pads expanded to 2 x rank (begins, ends) from the pads and axes inputs;
 * *known false when either is unknown. */
static kiln_status pad_read(kiln_infer *c, int r, int64_t *full, bool *known)
{
    int64_t pads[MAX_SMALL], axes[MAX_SMALL], np, na = r;
    TRY(small_ints(c, 1, "pads", DT(I64), pads, &np));
    if (kiln_infer_in(c, 3))
        TRY(small_ints(c, 3, "axes", DTS_INDEX, axes, &na));
    *known = np >= 0 && na >= 0;
    if (!*known)
        return KILN_OK;
    for (int64_t k = 0; k < na && !kiln_infer_in(c, 3); k++)
        axes[k] = k;
    if (np != 2 * na)
        return kiln_infer_fail(c, "input 1 ('pads') has %lld entries, need %lld (2 per axis)",
                               (long long)np, (long long)(2 * na));
    TRY(norm_axes(c, 3, axes, na, r));
    memset(full, 0, 2 * (size_t)r * sizeof *full);
    for (int64_t k = 0; k < na; k++) {
        full[axes[k]] = pads[k];
        full[r + axes[k]] = pads[na + k];
    }
    return KILN_OK;
}

/* Pads and dims this small cannot overflow when added. */
static bool pad_in_range(int64_t v)
{
    return v >= -(INT64_C(1) << 60) && v <= INT64_C(1) << 60;
}

static kiln_status infer_pad(kiln_infer *c)
{
    kiln_value *x, *cv;
    int64_t pads[2 * KILN_MAX_RANK];
    bool known;
    int mode;
    TRY(need(c, 0, DTS_ANY, &x));
    TRY(attr_choice(c, "mode", pad_modes, &mode));
    TRY(maybe(c, 2, DTS_ANY, &cv));
    if (cv)
        TRY(same_dtype(c, 2, x, cv));
    if (cv && length_of(cv) != 1)
        return kiln_infer_fail(c, "input 2 ('constant_value') must hold one element");
    TRY(pad_read(c, x->shape.rank, pads, &known));
    kiln_shape out = known ? x->shape : unknown_dims(c, x->shape.rank);
    for (int k = 0; k < x->shape.rank && known; k++) {
        kiln_dim d = x->shape.dim[k];
        int64_t pb = pads[k], pe = pads[x->shape.rank + k], size;
        if (!is_static(d)) {
            out.dim[k] = pb == 0 && pe == 0 ? d : kiln_infer_unknown_dim(c);
            continue;
        }
        if (!pad_in_range(pb) || !pad_in_range(pe) || !pad_in_range(d))
            return kiln_infer_fail(c, "pads on axis %d (%lld, %lld) are out of range", k, (long long)pb, (long long)pe);
        if ((size = d + pb + pe) < 0)
            return kiln_infer_fail(c, "pads on axis %d crop %lld elements from %lld", k,
                                   (long long)-(pb + pe), (long long)d);
        out.dim[k] = size;
    }
    kiln_infer_set(c, 0, x->dtype, &out);
    return KILN_OK;
}

static kiln_status infer_tile(kiln_infer *c)
{
    kiln_value *x;
    int64_t reps[MAX_SMALL], n;
    TRY(need(c, 0, DTS_ANY, &x));
    TRY(small_ints(c, 1, "repeats", DT(I64), reps, &n));
    int r = x->shape.rank;
    int64_t len = length_of(kiln_infer_in(c, 1));
    if (len >= 0 && len != r)
        return kiln_infer_fail(c, "input 1 ('repeats') has %lld entries for an input of rank %d", (long long)len, r);
    kiln_shape out = n >= 0 ? (kiln_shape){.rank = r} : unknown_dims(c, r);
    for (int k = 0; k < r && n >= 0; k++) {
        if (reps[k] < 0)
            return kiln_infer_fail(c, "input 1 ('repeats') entry %d is %lld (must be >= 0)", k, (long long)reps[k]);
        TRY(dim_mul(c, x->shape.dim[k], reps[k], &out.dim[k]));
    }
    kiln_infer_set(c, 0, x->dtype, &out);
    return KILN_OK;
}

static kiln_status infer_expand(kiln_infer *c)
{
    kiln_value *x;
    kiln_sval req[MAX_SMALL];
    int64_t n;
    TRY(need(c, 0, DTS_ANY, &x));
    TRY(shape_request(c, 1, "shape", req, &n));
    int64_t len = n >= 0 ? n : length_of(kiln_infer_in(c, 1));
    if (len < 0)
        return kiln_infer_unsupported(c, "the output rank depends on the length of input 1 ('shape'), which is symbolic");
    TRY(check_rank_out(c, len));
    kiln_shape want = {.rank = (int)len}, out;
    for (int k = 0; k < n; k++) {
        if (!req[k].sym && req[k].value < 0)
            return kiln_infer_fail(c, "input 1 ('shape') entry %d is %lld (must be >= 0)", k, (long long)req[k].value);
        want.dim[k] = kiln_sval_dim(req[k]);
    }
    if (n < 0) {  /* unknown request: dims of x other than 1 are certain */
        int rank = x->shape.rank > len ? x->shape.rank : (int)len;
        out = unknown_dims(c, rank);
        for (int k = 0; k < x->shape.rank; k++) {
            kiln_dim d = x->shape.dim[k];
            if (is_static(d) && d != 1)
                out.dim[rank - x->shape.rank + k] = d;
        }
    } else {
        TRY(kiln_infer_broadcast(c, &x->shape, &want, &out));
    }
    kiln_infer_set(c, 0, x->dtype, &out);
    return KILN_OK;
}

/* ---- DepthToSpace, SpaceToDepth, Trilu, ReverseSequence --------------------------------- */

static kiln_status infer_depth_to_space(kiln_infer *c)
{
    static const char *const modes[] = {"DCR", "CRD", NULL};
    kiln_value *x;
    int64_t bs;
    int mode;
    TRY(need(c, 0, DTS_ANY, &x));
    TRY(need_rank(c, 0, x, 4, 4));
    TRY(attr_int(c, "blocksize", 0, 1, 1 << 20, &bs));
    TRY(attr_choice(c, "mode", modes, &mode));
    kiln_shape out = x->shape;
    kiln_dim ch = x->shape.dim[1];
    if (is_static(ch) && ch % (bs * bs))
        return kiln_infer_fail(c, "%lld channels do not divide by blocksize^2 = %lld", (long long)ch, (long long)(bs * bs));
    out.dim[1] = is_static(ch) ? ch / (bs * bs) : bs == 1 ? ch : kiln_infer_unknown_dim(c);
    TRY(dim_mul(c, x->shape.dim[2], bs, &out.dim[2]));
    TRY(dim_mul(c, x->shape.dim[3], bs, &out.dim[3]));
    kiln_infer_set(c, 0, x->dtype, &out);
    return KILN_OK;
}

static kiln_status infer_space_to_depth(kiln_infer *c)
{
    kiln_value *x;
    int64_t bs;
    TRY(need(c, 0, DTS_ANY, &x));
    TRY(need_rank(c, 0, x, 4, 4));
    TRY(attr_int(c, "blocksize", 0, 1, 1 << 20, &bs));
    kiln_shape out = x->shape;
    for (int k = 2; k < 4; k++) {
        kiln_dim d = x->shape.dim[k];
        if (is_static(d) && d % bs)
            return kiln_infer_fail(c, "axis %d of size %lld does not divide by blocksize %lld", k, (long long)d, (long long)bs);
        out.dim[k] = is_static(d) ? d / bs : bs == 1 ? d : kiln_infer_unknown_dim(c);
    }
    TRY(dim_mul(c, x->shape.dim[1], bs * bs, &out.dim[1]));
    kiln_infer_set(c, 0, x->dtype, &out);
    return KILN_OK;
}

static kiln_status infer_trilu(kiln_infer *c)
{
    kiln_value *x;
    int64_t upper, k;
    bool known;
    TRY(need(c, 0, DTS_ANY, &x));
    TRY(need_rank(c, 0, x, 2, KILN_MAX_RANK));
    TRY(attr_flag(c, "upper", 1, &upper));
    if (kiln_infer_in(c, 1))
        TRY(scalar_int(c, 1, DT(I64), "k", &k, &known));
    kiln_infer_set(c, 0, x->dtype, &x->shape);
    return KILN_OK;
}

static kiln_status infer_reverse_sequence(kiln_infer *c)
{
    kiln_value *x, *lens;
    int64_t batch_axis, time_axis;
    TRY(need(c, 0, DTS_ANY, &x));
    TRY(need_rank(c, 0, x, 2, KILN_MAX_RANK));
    TRY(need(c, 1, DT(I64), &lens));
    TRY(need_rank(c, 1, lens, 1, 1));
    TRY(attr_flag(c, "batch_axis", 1, &batch_axis));
    TRY(attr_flag(c, "time_axis", 0, &time_axis));
    if (batch_axis == time_axis)
        return kiln_infer_fail(c, "batch_axis and time_axis are both %lld", (long long)time_axis);
    kiln_dim b = x->shape.dim[batch_axis], n = lens->shape.dim[0];
    if (is_static(b) && is_static(n) && b != n)
        return kiln_infer_fail(c, "input 1 ('sequence_lens') has %lld entries for a batch of %lld", (long long)n, (long long)b);
    kiln_infer_set(c, 0, x->dtype, &x->shape);
    return KILN_OK;
}

/* ---- Gather, GatherElements, GatherND ------------------------------------------------------- */

static kiln_status infer_gather(kiln_infer *c)
{
    kiln_value *x, *idx;
    int axis;
    TRY(need(c, 0, DTS_ANY, &x));
    TRY(need(c, 1, DTS_INDEX, &idx));
    TRY(need_rank(c, 0, x, 1, KILN_MAX_RANK));
    TRY(attr_axis(c, "axis", 0, x->shape.rank, &axis));
    TRY(check_rank_out(c, x->shape.rank - 1 + idx->shape.rank));
    kiln_shape out = {.rank = 0};
    for (int k = 0; k < axis; k++)
        out.dim[out.rank++] = x->shape.dim[k];
    for (int k = 0; k < idx->shape.rank; k++)
        out.dim[out.rank++] = idx->shape.dim[k];
    for (int k = axis + 1; k < x->shape.rank; k++)
        out.dim[out.rank++] = x->shape.dim[k];
    kiln_infer_set(c, 0, x->dtype, &out);
    return KILN_OK;
}

/* Indices/updates of GatherElements and ScatterElements: same rank as
 * data, and no larger than data except along the axis. */
static kiln_status elements_check(kiln_infer *c, const kiln_value *x, const kiln_value *idx, int axis)
{
    kiln_status st = need_rank(c, 1, idx, x->shape.rank, x->shape.rank);
    for (int k = 0; k < x->shape.rank && !st; k++) {
        kiln_dim a = idx->shape.dim[k], d = x->shape.dim[k];
        if (k != axis && is_static(a) && is_static(d) && a > d)
            st = kiln_infer_fail(c, "input 1 ('indices') has size %lld on axis %d, data only %lld",
                                 (long long)a, k, (long long)d);
    }
    return st;
}

static kiln_status infer_gather_elements(kiln_infer *c)
{
    kiln_value *x, *idx;
    int axis;
    TRY(need(c, 0, DTS_ANY, &x));
    TRY(need(c, 1, DTS_INDEX, &idx));
    TRY(need_rank(c, 0, x, 1, KILN_MAX_RANK));
    TRY(attr_axis(c, "axis", 0, x->shape.rank, &axis));
    TRY(elements_check(c, x, idx, axis));
    kiln_infer_set(c, 0, x->dtype, &idx->shape);
    return KILN_OK;
}

/* The index-tuple length of GatherND / ScatterND: the static last dim. */
static kiln_status tuple_len(kiln_infer *c, const kiln_value *idx, int lo, int hi, int *k)
{
    kiln_dim d = idx->shape.dim[idx->shape.rank - 1];
    if (!is_static(d))
        return kiln_infer_unsupported(c, "the last dimension of input 1 ('indices') is symbolic: the output rank depends on it");
    if (d < lo || d > hi)
        return kiln_infer_fail(c, "index tuples of input 1 ('indices') have %lld entries, need %d to %d",
                               (long long)d, lo, hi);
    *k = (int)d;
    return KILN_OK;
}

static kiln_status infer_gather_nd(kiln_infer *c)
{
    kiln_value *x, *idx;
    int64_t b;
    int k = 0;
    kiln_status st = KILN_OK;
    TRY(need(c, 0, DTS_ANY, &x));
    TRY(need(c, 1, DTS_INDEX, &idx));
    TRY(need_rank(c, 1, idx, 1, KILN_MAX_RANK));
    TRY(attr_int(c, "batch_dims", 0, 0, INT64_MAX, &b));
    int r = x->shape.rank, q = idx->shape.rank;
    if (b >= (r < q ? r : q))
        return kiln_infer_fail(c, "batch_dims = %lld must be below both ranks (%d, %d)", (long long)b, r, q);
    TRY(tuple_len(c, idx, 1, r - (int)b, &k));
    kiln_shape out = {.rank = 0};
    for (int i = 0; i < q - 1; i++)
        out.dim[out.rank++] = idx->shape.dim[i];
    for (int i = 0; i < b && !st; i++)
        st = dim_agree(c, 1, i, &out.dim[i], x->shape.dim[i]);
    if (!st)
        st = check_rank_out(c, q - 1 + r - b - k);
    if (st)
        return st;
    for (int i = (int)b + k; i < r; i++)
        out.dim[out.rank++] = x->shape.dim[i];
    kiln_infer_set(c, 0, x->dtype, &out);
    return KILN_OK;
}

/* ---- ScatterElements, ScatterND --------------------------------------------------------------- */

static const char *const reductions[] = {"none", "add", "mul", "max", "min", NULL};

static kiln_status scatter_common(kiln_infer *c, kiln_value **x, kiln_value **idx, kiln_value **upd)
{
    int red;
    kiln_status st = need(c, 0, DTS_ANY, x);
    if (!st)
        st = need(c, 1, DTS_INDEX, idx);
    if (!st)
        st = need(c, 2, DTS_ANY, upd);
    if (!st)
        st = same_dtype(c, 2, *x, *upd);
    if (!st)
        st = attr_choice(c, "reduction", reductions, &red);
    if (!st && red != 0 && !((DTS_NUM >> (*x)->dtype) & 1))
        st = kiln_infer_fail(c, "reduction '%s' needs a numeric dtype, data is %s", reductions[red],
                             kiln_dtype_name((*x)->dtype));
    if (!st)
        st = need_rank(c, 0, *x, 1, KILN_MAX_RANK);
    return st;
}

static kiln_status infer_scatter_elements(kiln_infer *c)
{
    kiln_value *x, *idx, *upd;
    int axis;
    char sa[256], sb[256];
    TRY(scatter_common(c, &x, &idx, &upd));
    TRY(attr_axis(c, "axis", 0, x->shape.rank, &axis));
    TRY(elements_check(c, x, idx, axis));
    bool conflict = upd->shape.rank != idx->shape.rank;
    for (int k = 0; k < idx->shape.rank && !conflict; k++)
        conflict = is_static(upd->shape.dim[k]) && is_static(idx->shape.dim[k]) &&
                   upd->shape.dim[k] != idx->shape.dim[k];
    if (conflict)
        return kiln_infer_fail(c, "input 2 ('updates') has shape %s, input 1 ('indices') %s",
                               kiln_shape_format(c->g, &upd->shape, sa, sizeof sa),
                               kiln_shape_format(c->g, &idx->shape, sb, sizeof sb));
    kiln_infer_set(c, 0, x->dtype, &x->shape);
    return KILN_OK;
}

static kiln_status infer_scatter_nd(kiln_infer *c)
{
    kiln_value *x, *idx, *upd;
    int k = 0;
    char sa[256], sb[256];
    TRY(scatter_common(c, &x, &idx, &upd));
    TRY(need_rank(c, 1, idx, 1, KILN_MAX_RANK));
    TRY(tuple_len(c, idx, 1, x->shape.rank, &k));
    kiln_shape want = {.rank = 0};
    for (int i = 0; i < idx->shape.rank - 1; i++)
        want.dim[want.rank++] = idx->shape.dim[i];
    TRY(check_rank_out(c, want.rank + x->shape.rank - k));
    for (int i = k; i < x->shape.rank; i++)
        want.dim[want.rank++] = x->shape.dim[i];
    bool conflict = upd->shape.rank != want.rank;
    for (int i = 0; i < want.rank && !conflict; i++)
        conflict = is_static(upd->shape.dim[i]) && is_static(want.dim[i]) && upd->shape.dim[i] != want.dim[i];
    if (conflict)
        return kiln_infer_fail(c, "input 2 ('updates') has shape %s, need %s",
                               kiln_shape_format(c->g, &upd->shape, sa, sizeof sa),
                               kiln_shape_format(c->g, &want, sb, sizeof sb));
    kiln_infer_set(c, 0, x->dtype, &x->shape);
    return KILN_OK;
}

/* ---- OneHot, Compress, NonZero, Unique ---------------------------------------------------------- */

static kiln_status infer_one_hot(kiln_infer *c)
{
    kiln_value *idx, *vals;
    double depth = 0;
    bool known;
    int64_t axis;
    TRY(need(c, 0, DTS_NUM, &idx));
    TRY(scalar_of(c, 1, DTS_NUM, "depth", &depth, &known));
    TRY(need(c, 2, DTS_NUM, &vals));
    if (length_of(vals) != 2)
        return kiln_infer_fail(c, "input 2 ('values') must hold 2 elements (off, on)");
    TRY(check_rank_out(c, idx->shape.rank + 1));
    TRY(attr_int(c, "axis", -1, -(idx->shape.rank + 1), idx->shape.rank, &axis));
    if (known && !(depth >= 1 && depth < 9e18))
        return kiln_infer_fail(c, "input 1 ('depth') is %g, must be >= 1", depth);
    int r = idx->shape.rank + 1, a = (int)(axis < 0 ? axis + r : axis);
    kiln_shape out = {.rank = r};
    for (int k = 0, j = 0; k < r; k++)
        out.dim[k] = k == a ? (known ? (int64_t)depth : kiln_infer_unknown_dim(c)) : idx->shape.dim[j++];
    kiln_infer_set(c, 0, vals->dtype, &out);
    return KILN_OK;
}

/* Number of true entries of a known bool input; unknown dim otherwise. */
static kiln_dim count_true(kiln_infer *c, uint32_t i)
{
    kiln_value *v = kiln_infer_in(c, i);
    int64_t n;
    if (!v->data || !kiln_shape_numel(&v->shape, &n))
        return kiln_infer_unknown_dim(c);
    return krt_count_true(v->data, n);
}

static kiln_status infer_compress(kiln_infer *c)
{
    kiln_value *x, *cond;
    int axis = -1;
    TRY(need(c, 0, DTS_ANY, &x));
    TRY(need(c, 1, DT(BOOL), &cond));
    TRY(need_rank(c, 1, cond, 1, 1));
    if (kiln_attr_find(c->g, c->n, "axis"))
        TRY(attr_axis(c, "axis", 0, x->shape.rank, &axis));
    kiln_shape out = axis < 0 ? shape1(0) : x->shape;
    out.dim[axis < 0 ? 0 : axis] = count_true(c, 1);
    kiln_infer_set(c, 0, x->dtype, &out);
    return KILN_OK;
}

static kiln_status infer_nonzero(kiln_infer *c)
{
    kiln_value *x;
    int64_t n;
    TRY(need(c, 0, DTS_ANY, &x));
    kiln_shape out = {.rank = 2};
    out.dim[0] = x->shape.rank > 0 ? x->shape.rank : 1;
    if (x->data && kiln_shape_numel(&x->shape, &n))
        out.dim[1] = krt_nonzero_count(x->data, (krt_dtype)x->dtype, n);
    else
        out.dim[1] = kiln_infer_unknown_dim(c);
    kiln_infer_set(c, 0, KILN_DT_I64, &out);
    return KILN_OK;
}

/* The number of unique slices when the data is known (runs the kernel). */
static kiln_dim unique_count(kiln_infer *c, const kiln_value *x, int axis)
{
    int64_t numel, u = 0;
    if (!x->data || !kiln_shape_numel(&x->shape, &numel))
        return kiln_infer_unknown_dim(c);
    int64_t n = axis < 0 ? numel : x->shape.dim[axis];
    int64_t outer = 1, inner = 1;
    for (int k = 0; axis >= 0 && k < x->shape.rank; k++)
        k < axis ? (outer *= x->shape.dim[k]) : k > axis ? (inner *= x->shape.dim[k]) : 0;
    void *scratch = kiln_xcalloc(1, krt_unique_scratch_size(n));
    krt_status st = krt_unique(x->data, (krt_dtype)x->dtype, outer, n, inner, 1, scratch, &u,
                               NULL, NULL, NULL, NULL);
    free(scratch);
    return st == KRT_OK ? u : kiln_infer_unknown_dim(c);
}

static kiln_status infer_unique(kiln_infer *c)
{
    kiln_value *x;
    int64_t sorted;
    int axis = -1;
    TRY(need(c, 0, DTS_ANY, &x));
    TRY(attr_flag(c, "sorted", 1, &sorted));
    if (kiln_attr_find(c->g, c->n, "axis"))
        TRY(attr_axis(c, "axis", 0, x->shape.rank, &axis));
    kiln_dim u = unique_count(c, x, axis), n = 0;
    if (axis < 0)
        TRY(dims_product(c, x->shape.dim, 0, x->shape.rank, &n));
    kiln_shape y = axis < 0 ? shape1(u) : x->shape, s_u = shape1(u);
    kiln_shape s_n = shape1(axis < 0 ? n : x->shape.dim[axis]);
    if (axis >= 0)
        y.dim[axis] = u;
    kiln_infer_set(c, 0, x->dtype, &y);
    kiln_infer_set(c, 1, KILN_DT_I64, &s_u);
    kiln_infer_set(c, 2, KILN_DT_I64, &s_n);
    kiln_infer_set(c, 3, KILN_DT_I64, &s_u);
    return KILN_OK;
}

/* ---- Range, EyeLike, ConstantOfShape, Shape, Size -------------------------------------------------- */

static kiln_status infer_range(kiln_infer *c)
{
    kiln_value *v[3];
    double unused;
    bool known[3];
    static const char *const names[] = {"start", "limit", "delta"};
    kiln_status st = KILN_OK;
    for (uint32_t i = 0; i < 3 && !st; i++) {
        st = scalar_of(c, i, DTS_RANGE, names[i], &unused, &known[i]);
        if (!st)
            v[i] = kiln_infer_in(c, i);
        if (!st && i)
            st = same_dtype(c, i, v[0], v[i]);
    }
    if (st)
        return st;
    kiln_shape out = shape1(0);
    if (known[0] && known[1] && known[2]) {
        int64_t n = krt_range_count((krt_dtype)v[0]->dtype, v[0]->data, v[1]->data, v[2]->data);
        if (n < 0)
            return kiln_infer_fail(c, "delta is 0 (or the range is too long)");
        out.dim[0] = n;
    } else {
        out.dim[0] = kiln_infer_unknown_dim(c);
    }
    kiln_infer_set(c, 0, v[0]->dtype, &out);
    return KILN_OK;
}

/* Canonical dtype attribute: a kiln dtype name; absent gives dflt. */
static kiln_status attr_dtype(kiln_infer *c, const char *name, kiln_dtype dflt, unsigned set, kiln_dtype *out)
{
    char allowed[160];
    const kiln_attr *a = kiln_attr_find(c->g, c->n, name);
    if (a && a->kind != KILN_ATTR_STRING)
        return kiln_infer_fail(c, "attribute '%s' must be a dtype name (string)", name);
    *out = a ? kiln_dtype_from_name(a->u.s) : dflt;
    if (!((set >> *out) & 1) || *out == KILN_DT_UNDEF)
        return kiln_infer_fail(c, "attribute '%s' is \"%s\"; %s makes %s", name, a ? a->u.s : "?",
                               kiln_op_name(c->n->op), dtype_set_text(set, allowed, sizeof allowed));
    return KILN_OK;
}

static kiln_status infer_eye_like(kiln_infer *c)
{
    kiln_value *x;
    kiln_dtype dt;
    int64_t k;
    unsigned set = DTS_ANY & ~DT(BF16);
    TRY(need(c, 0, set, &x));
    TRY(need_rank(c, 0, x, 2, 2));
    TRY(attr_dtype(c, "dtype", x->dtype, set, &dt));
    TRY(attr_int(c, "k", 0, INT64_MIN, INT64_MAX, &k));
    kiln_infer_set(c, 0, dt, &x->shape);
    return KILN_OK;
}

static kiln_status infer_constant_of_shape(kiln_infer *c)
{
    kiln_value *sv;
    kiln_sval dims[MAX_SMALL];
    int64_t n, one;
    TRY(shape_request(c, 0, "shape", dims, &n));
    sv = kiln_infer_in(c, 0);
    const kiln_attr *a = kiln_attr_find(c->g, c->n, "value");
    if (a && (a->kind != KILN_ATTR_TENSOR || !kiln_shape_numel(&a->u.tensor->shape, &one) || one != 1))
        return kiln_infer_fail(c, "attribute 'value' must be a tensor of one element");
    int64_t len = n >= 0 ? n : length_of(sv);
    if (len < 0)
        return kiln_infer_unsupported(c, "the output rank depends on the length of input 0, which is symbolic");
    TRY(check_rank_out(c, len));
    kiln_shape out = n >= 0 ? (kiln_shape){.rank = (int)len} : unknown_dims(c, (int)len);
    for (int k = 0; k < n; k++) {
        if (!dims[k].sym && dims[k].value < 0)
            return kiln_infer_fail(c, "input 0 entry %d is %lld (must be >= 0)", k, (long long)dims[k].value);
        out.dim[k] = kiln_sval_dim(dims[k]);
    }
    kiln_infer_set(c, 0, a ? a->u.tensor->dtype : KILN_DT_F32, &out);
    return KILN_OK;
}

/* Give output 0 its data at compile time (static inference only: the
 * interpreter allocates and computes its own). */
static void set_known_i64(kiln_infer *c, const int64_t *vals, int64_t n)
{
    uint32_t v = kiln_node_output(c->g, c->n, 0);
    if (!v || c->values != c->g->values)
        return;
    void *p = kiln_arena_alloc(c->g->arena, (size_t)(n > 0 ? n : 1) * sizeof(int64_t), 64);
    if (n > 0)
        memcpy(p, vals, (size_t)n * sizeof(int64_t));
    c->values[v].data = p;
    c->values[v].nbytes = (size_t)n * sizeof(int64_t);
}

static kiln_status infer_shape(kiln_infer *c)
{
    kiln_value *x;
    int64_t start, end;
    TRY(need(c, 0, DTS_ANY, &x));
    TRY(attr_int(c, "start", 0, INT64_MIN, INT64_MAX, &start));
    TRY(attr_int(c, "end", INT64_MAX, INT64_MIN, INT64_MAX, &end));
    int r = x->shape.rank;
    start = start < 0 ? start + r : start, end = end < 0 ? end + r : end;
    start = start < 0 ? 0 : start > r ? r : start;
    end = end < 0 ? 0 : end > r ? r : end;
    int64_t n = end > start ? end - start : 0;
    kiln_shape out = shape1(n), in = {.rank = (int)n};
    for (int64_t k = 0; k < n; k++)
        in.dim[k] = x->shape.dim[start + k];
    kiln_infer_set(c, 0, KILN_DT_I64, &out);
    if (kiln_shape_is_static(&in))
        set_known_i64(c, in.dim, n);
    return KILN_OK;
}

static kiln_status infer_size(kiln_infer *c)
{
    kiln_value *x;
    int64_t n;
    TRY(need(c, 0, DTS_ANY, &x));
    kiln_shape out = {.rank = 0};
    kiln_infer_set(c, 0, KILN_DT_I64, &out);
    if (kiln_shape_numel(&x->shape, &n))
        set_known_i64(c, &n, 1);
    return KILN_OK;
}

/* ---- NonMaxSuppression ----------------------------------------------------------------------------- */

typedef struct nms_args {
    int64_t batches, classes, boxes, max_out;
    double iou, score;
    bool has_score, known;  /* known: every scalar's data */
} nms_args;

static kiln_status nms_read(kiln_infer *c, kiln_value *b, kiln_value *s, nms_args *a)
{
    char sa[256], sb[256];
    bool k1 = true, k2 = true, k3 = true;
    kiln_status st = KILN_OK;
    a->max_out = 0, a->iou = 0, a->score = 0;
    a->has_score = kiln_infer_in(c, 4) != NULL;
    if (kiln_infer_in(c, 2))
        st = scalar_int(c, 2, DT(I64), "max_output_boxes_per_class", &a->max_out, &k1);
    if (!st && kiln_infer_in(c, 3))
        st = scalar_of(c, 3, DT(F32), "iou_threshold", &a->iou, &k2);
    if (!st && a->has_score)
        st = scalar_of(c, 4, DT(F32), "score_threshold", &a->score, &k3);
    if (st)
        return st;
    a->known = k1 && k2 && k3;
    kiln_dim bb = b->shape.dim[0], sb0 = s->shape.dim[0], bn = b->shape.dim[1], sn = s->shape.dim[2];
    if ((is_static(bb) && is_static(sb0) && bb != sb0) || (is_static(bn) && is_static(sn) && bn != sn) ||
        (is_static(b->shape.dim[2]) && b->shape.dim[2] != 4))
        return kiln_infer_fail(c, "boxes %s and scores %s do not match ([B, N, 4] and [B, C, N])",
                               kiln_shape_format(c->g, &b->shape, sa, sizeof sa),
                               kiln_shape_format(c->g, &s->shape, sb, sizeof sb));
    a->batches = bb, a->classes = s->shape.dim[1], a->boxes = bn;
    return KILN_OK;
}

static kiln_status infer_nms(kiln_infer *c)
{
    kiln_value *b, *s;
    nms_args a;
    int64_t center;
    TRY(need(c, 0, DT(F32), &b));
    TRY(need(c, 1, DT(F32), &s));
    TRY(need_rank(c, 0, b, 3, 3));
    TRY(need_rank(c, 1, s, 3, 3));
    TRY(attr_flag(c, "center_point_box", 0, &center));
    TRY(nms_read(c, b, s, &a));
    kiln_shape out = {.rank = 2};
    out.dim[1] = 3;
    out.dim[0] = kiln_infer_unknown_dim(c);
    if (a.known && a.max_out <= 0) {
        out.dim[0] = 0;
    } else if (a.known && b->data && s->data && kiln_shape_is_static(&s->shape) && kiln_shape_is_static(&b->shape)) {
        void *scratch = kiln_xcalloc(1, krt_nms_scratch_size(a.boxes));
        out.dim[0] = krt_nms(NULL, b->data, s->data, a.batches, a.classes, a.boxes, a.max_out,
                             (float)a.iou, (float)a.score, a.has_score, (int)center, scratch);
        free(scratch);
    }
    kiln_infer_set(c, 0, KILN_DT_I64, &out);
    return KILN_OK;
}

/* ---- DFT, STFT ------------------------------------------------------------------------------------- */

/* The complex/real last dim of a signal: static 1 or 2. */
static kiln_status signal_last(kiln_infer *c, const kiln_value *x, int *c_in)
{
    kiln_dim d = x->shape.dim[x->shape.rank - 1];
    if (d != 1 && d != 2)
        return kiln_infer_fail(c, "the last dimension of input 0 must be 1 (real) or 2 (complex), not %lld", (long long)d);
    *c_in = (int)d;
    return KILN_OK;
}

static kiln_status infer_dft(kiln_infer *c)
{
    kiln_value *x;
    int64_t inverse, onesided, len = 0;
    int axis, c_in = 1;
    bool known = true;
    TRY(need(c, 0, DTS_FLOAT, &x));
    TRY(need_rank(c, 0, x, 3, KILN_MAX_RANK));
    TRY(signal_last(c, x, &c_in));
    TRY(attr_axis(c, "axis", 1, x->shape.rank, &axis));
    if (axis == x->shape.rank - 1)
        return kiln_infer_fail(c, "attribute 'axis' names the last (real/imaginary) dimension");
    TRY(attr_flag(c, "inverse", 0, &inverse));
    TRY(attr_flag(c, "onesided", 0, &onesided));
    if (kiln_infer_in(c, 1))
        TRY(scalar_int(c, 1, DTS_INDEX, "dft_length", &len, &known));
    if (onesided && (inverse || c_in == 2))
        return kiln_infer_unsupported(c, "onesided = 1 needs a real forward transform (inverse = %lld, input %s)",
                                      (long long)inverse, c_in == 2 ? "complex" : "real");
    if (kiln_infer_in(c, 1) && known && len < 1)
        return kiln_infer_fail(c, "input 1 ('dft_length') is %lld, must be >= 1", (long long)len);
    kiln_shape out = x->shape;
    kiln_dim n = kiln_infer_in(c, 1) ? (known ? len : kiln_infer_unknown_dim(c)) : x->shape.dim[axis];
    out.dim[axis] = !onesided ? n : is_static(n) ? n / 2 + 1 : kiln_infer_unknown_dim(c);
    out.dim[out.rank - 1] = 2;
    kiln_infer_set(c, 0, x->dtype, &out);
    return KILN_OK;
}

typedef struct stft_args {
    int64_t step, frame_len;
    bool known;  /* step and frame_len */
} stft_args;

static kiln_status stft_read(kiln_infer *c, const kiln_value *x, stft_args *a)
{
    kiln_value *w;
    int64_t fl = 0;
    bool k1, k2 = true;
    TRY(scalar_int(c, 1, DTS_INDEX, "frame_step", &a->step, &k1));
    TRY(maybe(c, 2, DTS_FLOAT, &w));
    if (w)
        TRY(need_rank(c, 2, w, 1, 1));
    if (w)
        TRY(same_dtype(c, 2, x, w));
    if (kiln_infer_in(c, 3))
        TRY(scalar_int(c, 3, DTS_INDEX, "frame_length", &fl, &k2));
    if (!w && !kiln_infer_in(c, 3))
        return kiln_infer_fail(c, "needs a window (input 2) or a frame_length (input 3)");
    if (w && kiln_infer_in(c, 3) && k2 && is_static(w->shape.dim[0]) && w->shape.dim[0] != fl)
        return kiln_infer_fail(c, "the window has %lld samples but frame_length is %lld",
                               (long long)w->shape.dim[0], (long long)fl);
    a->frame_len = kiln_infer_in(c, 3) ? fl : w->shape.dim[0];
    a->known = k1 && (kiln_infer_in(c, 3) ? k2 : is_static(w->shape.dim[0]));
    if (k1 && a->step < 1)
        return kiln_infer_fail(c, "input 1 ('frame_step') is %lld, must be >= 1", (long long)a->step);
    if (a->known && a->frame_len < 1)
        return kiln_infer_fail(c, "frame_length is %lld, must be >= 1", (long long)a->frame_len);
    return KILN_OK;
}

static kiln_status infer_stft(kiln_infer *c)
{
    kiln_value *x;
    int64_t onesided;
    int c_in = 1;
    stft_args a;
    TRY(need(c, 0, DTS_FLOAT, &x));
    TRY(need_rank(c, 0, x, 3, 3));
    TRY(signal_last(c, x, &c_in));
    TRY(attr_flag(c, "onesided", 1, &onesided));
    TRY(stft_read(c, x, &a));
    if (onesided && c_in == 2)
        return kiln_infer_unsupported(c, "onesided = 1 needs a real signal");
    kiln_dim len = x->shape.dim[1];
    kiln_shape out = unknown_dims(c, 4);
    out.dim[0] = x->shape.dim[0];
    out.dim[3] = 2;
    if (a.known && is_static(len)) {
        if (len < a.frame_len)
            return kiln_infer_fail(c, "the signal has %lld samples, fewer than one frame of %lld",
                                   (long long)len, (long long)a.frame_len);
        out.dim[1] = (len - a.frame_len) / a.step + 1;
    }
    if (a.known)
        out.dim[2] = onesided ? a.frame_len / 2 + 1 : a.frame_len;
    kiln_infer_set(c, 0, x->dtype, &out);
    return KILN_OK;
}

/* ---- windows, MelWeightMatrix ------------------------------------------------------------------------ */

/* output_datatype: an ONNX TensorProto.DataType code (these ops are not
 * rewritten by the frontend), or a kiln dtype name. */
static kiln_status output_datatype(kiln_infer *c, kiln_dtype *dt)
{
    static const kiln_dtype from_onnx[] = {
        [1] = KILN_DT_F32, [2] = KILN_DT_U8,   [3] = KILN_DT_I8,   [4] = KILN_DT_U16,
        [5] = KILN_DT_I16, [6] = KILN_DT_I32,  [7] = KILN_DT_I64,  [10] = KILN_DT_F16,
        [11] = KILN_DT_F64, [12] = KILN_DT_U32, [13] = KILN_DT_U64, [16] = KILN_DT_BF16,
    };
    const kiln_attr *a = kiln_attr_find(c->g, c->n, "output_datatype");
    if (a && a->kind == KILN_ATTR_STRING)
        return attr_dtype(c, "output_datatype", KILN_DT_F32, DTS_NUM, dt);
    int64_t code;
    TRY(attr_int(c, "output_datatype", 1, 1, 16, &code));
    *dt = from_onnx[code];
    if (*dt == KILN_DT_UNDEF)
        return kiln_infer_fail(c, "attribute 'output_datatype' = %lld is not a numeric ONNX dtype", (long long)code);
    return KILN_OK;
}

static kiln_status infer_window(kiln_infer *c)
{
    int64_t size = 0, periodic;
    bool known;
    kiln_dtype dt;
    TRY(scalar_int(c, 0, DTS_INDEX, "size", &size, &known));
    TRY(attr_flag(c, "periodic", 1, &periodic));
    TRY(output_datatype(c, &dt));
    if (known && size < 0)
        return kiln_infer_fail(c, "input 0 ('size') is %lld, must be >= 0", (long long)size);
    kiln_shape out = shape1(known ? size : kiln_infer_unknown_dim(c));
    kiln_infer_set(c, 0, dt, &out);
    return KILN_OK;
}

static kiln_status infer_mel(kiln_infer *c)
{
    static const char *const names[] = {"num_mel_bins", "dft_length", "sample_rate",
                                        "lower_edge_hertz", "upper_edge_hertz"};
    double v[5];
    bool known[5];
    kiln_dtype dt;
    kiln_status st = output_datatype(c, &dt);
    for (uint32_t i = 0; i < 5 && !st; i++)
        st = scalar_of(c, i, i < 3 ? DTS_INDEX : DTS_FLOAT, names[i], &v[i], &known[i]);
    if (st)
        return st;
    for (int i = 0; i < 3; i++)
        if (known[i] && v[i] < 1)
            return kiln_infer_fail(c, "input %d ('%s') is %g, must be >= 1", i, names[i], v[i]);
    if (known[3] && known[4] && !(v[3] >= 0 && v[3] < v[4]))
        return kiln_infer_fail(c, "the band [%g, %g] Hz is empty or negative", v[3], v[4]);
    kiln_shape out = {.rank = 2};
    out.dim[0] = known[1] ? (int64_t)v[1] / 2 + 1 : kiln_infer_unknown_dim(c);
    out.dim[1] = known[0] ? (int64_t)v[0] : kiln_infer_unknown_dim(c);
    kiln_infer_set(c, 0, dt, &out);
    return KILN_OK;
}

/* ---- the table --------------------------------------------------------------------------------------- */

const kiln_infer_fn kiln_infer_movement[KILN_OP_COUNT] = {
    [KILN_OP_RESHAPE] = infer_reshape,
    [KILN_OP_FLATTEN] = infer_flatten,
    [KILN_OP_SQUEEZE] = infer_squeeze,
    [KILN_OP_UNSQUEEZE] = infer_unsqueeze,
    [KILN_OP_TRANSPOSE] = infer_transpose,
    [KILN_OP_CONCAT] = infer_concat,
    [KILN_OP_SPLIT] = infer_split,
    [KILN_OP_SLICE] = infer_slice,
    [KILN_OP_PAD] = infer_pad,
    [KILN_OP_TILE] = infer_tile,
    [KILN_OP_EXPAND] = infer_expand,
    [KILN_OP_DEPTHTOSPACE] = infer_depth_to_space,
    [KILN_OP_SPACETODEPTH] = infer_space_to_depth,
    [KILN_OP_TRILU] = infer_trilu,
    [KILN_OP_REVERSESEQUENCE] = infer_reverse_sequence,
    [KILN_OP_GATHER] = infer_gather,
    [KILN_OP_GATHERELEMENTS] = infer_gather_elements,
    [KILN_OP_GATHERND] = infer_gather_nd,
    [KILN_OP_SCATTERELEMENTS] = infer_scatter_elements,
    [KILN_OP_SCATTERND] = infer_scatter_nd,
    [KILN_OP_ONEHOT] = infer_one_hot,
    [KILN_OP_NONZERO] = infer_nonzero,
    [KILN_OP_COMPRESS] = infer_compress,
    [KILN_OP_UNIQUE] = infer_unique,
    [KILN_OP_RANGE] = infer_range,
    [KILN_OP_EYELIKE] = infer_eye_like,
    [KILN_OP_CONSTANTOFSHAPE] = infer_constant_of_shape,
    [KILN_OP_SHAPE] = infer_shape,
    [KILN_OP_SIZE] = infer_size,
    [KILN_OP_NONMAXSUPPRESSION] = infer_nms,
    [KILN_OP_DFT] = infer_dft,
    [KILN_OP_STFT] = infer_stft,
    [KILN_OP_HANNWINDOW] = infer_window,
    [KILN_OP_HAMMINGWINDOW] = infer_window,
    [KILN_OP_BLACKMANWINDOW] = infer_window,
    [KILN_OP_MELWEIGHTMATRIX] = infer_mel,
};
