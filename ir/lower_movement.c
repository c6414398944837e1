/* lower_movement.c — lowering of the movement family: node -> kernel calls
 * (ir/lower.h).
 *
 * Ops that only reinterpret their input's shape (Identity, Reshape,
 * Flatten, Squeeze, Unsqueeze) are a byte copy that may run in place: with
 * the memory plan, the output shares the input's buffer and the copy
 * becomes a no-op (krt_kernel_copy skips src == dst). Transpose, Slice,
 * Expand, Tile and the depth/space rearrangements are one strided view
 * each (krt_view_*). Shape and Size are constants by the time a node is
 * lowered: a fill of their values.
 *
 * Inference has already checked attributes, ranks and dtypes and sized
 * every output (data-dependent sizes included, in the interpreter), so
 * the functions read the output dims rather than recompute them. Inputs
 * that carry axes, pads, starts or scalars the descriptor holds must be
 * known (constants after folding); the index inputs and the data are read
 * by the kernels at run time.
 */
#include "ir/lower.h"
#include "runtime/krt_movement.h"

#include <string.h>

/* ---- helpers ------------------------------------------------------------------ */

static const kiln_value *in(const kiln_lower *l, uint32_t i) { return kiln_lower_in(l, i); }
static const kiln_value *out(const kiln_lower *l, uint32_t i) { return kiln_lower_out(l, i); }
static krt_dtype kdt(const kiln_value *v) { return (krt_dtype)v->dtype; }
static int64_t esize(const kiln_value *v) { return (int64_t)kiln_dtype_size(v->dtype); }

static int64_t numel(const kiln_value *v)
{
    return krt_numel(v->shape.rank, v->shape.dim);
}

/* Product of dims[from..to). */
static int64_t span(const kiln_value *v, int from, int to)
{
    return krt_numel(to - from, v->shape.dim + from);
}

static int axis_attr(const kiln_lower *l, const char *name, int64_t dflt, int rank)
{
    int64_t a = kiln_attr_int(l->g, l->n, name, dflt);
    return (int)(a < 0 ? a + rank : a);
}

/* Appends a call after checking the shapes are static. */
static kiln_status emit(kiln_lower *l, krt_kernel_id k, const void *desc, const uint32_t *ops,
                        uint32_t n, int32_t inplace)
{
    kiln_lower_emit(l, k, desc, ops, n)->inplace = inplace;
    return KILN_OK;
}

/* Input i's values (up to max), which the descriptor needs: they must be
 * known. Returns the count. */
static kiln_status need_ints(kiln_lower *l, uint32_t i, int64_t *vals, int64_t max, int64_t *n)
{
    *n = kiln_lower_ints(l, i, vals, max);
    if (*n == -1)
        return kiln_lower_unsupported(l, "input %u ('%s') must be a constant to lower %s", i,
                                      in(l, i)->name, kiln_op_name(l->n->op));
    if (*n < 0)
        return kiln_lower_unsupported(l, "input %u ('%s') has more than %lld entries", i,
                                      in(l, i)->name, (long long)max);
    return KILN_OK;
}

/* A scalar input the descriptor needs; dflt when the input is absent. */
static kiln_status need_scalar(kiln_lower *l, uint32_t i, int64_t dflt, int64_t *v)
{
    int64_t n = 1;
    *v = dflt;
    return in(l, i) ? need_ints(l, i, v, 1, &n) : KILN_OK;
}

static kiln_status need_float(kiln_lower *l, uint32_t i, double dflt, double *v)
{
    *v = dflt;
    if (in(l, i) && kiln_lower_floats(l, i, v, 1) < 0)
        return kiln_lower_unsupported(l, "input %u ('%s') must be a constant to lower %s", i,
                                      in(l, i)->name, kiln_op_name(l->n->op));
    return KILN_OK;
}

/* The ops {input 0, output 0} of a one-in one-out kernel. */
static kiln_status emit_unary(kiln_lower *l, krt_kernel_id k, const void *desc)
{
    uint32_t ops[] = {kiln_lower_in_id(l, 0), kiln_lower_out_id(l, 0)};
    return emit(l, k, desc, ops, 2, -1);
}

/* ---- reshapes: a copy ------------------------------------------------------------ */

static kiln_status lower_copy(kiln_lower *l)
{
    const kiln_value *x = kiln_lower_in(l, 0), *y = kiln_lower_out(l, 0);
    if (kiln_lower_numel(x) != kiln_lower_numel(y) || x->dtype != y->dtype)
        return kiln_lower_fail(l, "output has %lld elements, input %lld",
                               (long long)kiln_lower_numel(y), (long long)kiln_lower_numel(x));
    krt_copy_desc d = {.nbytes = kiln_lower_numel(y) * (int64_t)kiln_dtype_size(y->dtype)};
    uint32_t ops[] = {kiln_lower_in_id(l, 0), kiln_lower_out_id(l, 0)};
    return emit(l, KRT_K_COPY, &d, ops, 2, 0);
}

/* ---- strided views ------------------------------------------------------------------ */

static kiln_status lower_transpose(kiln_lower *l)
{
    const kiln_value *x = in(l, 0);
    int64_t perm[KILN_MAX_RANK];
    uint32_t n;
    const int64_t *p = kiln_attr_ints(l->g, l->n, "perm", &n);
    for (int k = 0; k < x->shape.rank; k++)
        perm[k] = p ? p[k] : x->shape.rank - 1 - k;
    krt_strided_desc d = {0};
    krt_view_transpose(&d, (size_t)esize(x), x->shape.rank, x->shape.dim, perm);
    return emit_unary(l, KRT_K_STRIDED, &d);
}

/* starts, ends, axes?, steps? -> the first index and step per axis. */
static kiln_status slice_args(kiln_lower *l, int r, int64_t *first, int64_t *step)
{
    int64_t starts[KILN_MAX_RANK], ends[KILN_MAX_RANK], axes[KILN_MAX_RANK], steps[KILN_MAX_RANK];
    int64_t n, m = 0;
    kiln_status st = need_ints(l, 1, starts, KILN_MAX_RANK, &n);
    for (int64_t k = 0; k < n; k++)
        axes[k] = k, steps[k] = 1;
    if (!st) st = need_ints(l, 2, ends, n, &m);
    if (!st && in(l, 3)) st = need_ints(l, 3, axes, n, &m);
    if (!st && in(l, 4)) st = need_ints(l, 4, steps, n, &m);
    for (int k = 0; k < r; k++)
        first[k] = 0, step[k] = 1;
    for (int64_t k = 0; !st && k < n; k++) {
        int a = (int)(axes[k] < 0 ? axes[k] + r : axes[k]);
        krt_slice_axis(in(l, 0)->shape.dim[a], starts[k], ends[k], steps[k], &first[a]);
        step[a] = steps[k];
    }
    return st;
}

static kiln_status lower_slice(kiln_lower *l)
{
    const kiln_value *x = in(l, 0);
    int64_t first[KILN_MAX_RANK], step[KILN_MAX_RANK];
    kiln_status st = slice_args(l, x->shape.rank, first, step);
    if (st)
        return st;
    krt_strided_desc d = {0};
    krt_view_slice(&d, (size_t)esize(x), x->shape.rank, x->shape.dim, first, step,
                   out(l, 0)->shape.dim);
    return emit_unary(l, KRT_K_STRIDED, &d);
}

static kiln_status lower_expand(kiln_lower *l)
{
    const kiln_value *x = in(l, 0), *y = out(l, 0);
    krt_strided_desc d = {0};
    krt_view_expand(&d, (size_t)esize(x), y->shape.rank, y->shape.dim, x->shape.rank, x->shape.dim);
    return emit_unary(l, KRT_K_STRIDED, &d);
}

static kiln_status lower_tile(kiln_lower *l)
{
    const kiln_value *x = in(l, 0);
    int64_t reps[KILN_MAX_RANK], n;
    kiln_status st = need_ints(l, 1, reps, KILN_MAX_RANK, &n);
    if (st)
        return st;
    krt_strided_desc d = {0};
    krt_view_tile(&d, (size_t)esize(x), x->shape.rank, x->shape.dim, reps);
    return emit_unary(l, KRT_K_STRIDED, &d);
}

static kiln_status lower_depth_to_space(kiln_lower *l)
{
    const kiln_value *x = in(l, 0);
    int64_t bs = kiln_attr_int(l->g, l->n, "blocksize", 1);
    int crd = strcmp(kiln_attr_string(l->g, l->n, "mode", "DCR"), "CRD") == 0;
    krt_strided_desc d = {0};
    krt_view_depth_to_space(&d, (size_t)esize(x), x->shape.dim, bs, crd);
    return emit_unary(l, KRT_K_STRIDED, &d);
}

static kiln_status lower_space_to_depth(kiln_lower *l)
{
    const kiln_value *x = in(l, 0);
    krt_strided_desc d = {0};
    krt_view_space_to_depth(&d, (size_t)esize(x), x->shape.dim, kiln_attr_int(l->g, l->n, "blocksize", 1));
    return emit_unary(l, KRT_K_STRIDED, &d);
}

/* ---- concat, split -------------------------------------------------------------------- */

/* Most parts one node may have: KILN_LOWER_MAX_CALLS calls of the most
 * each takes. */
#define MAX_PARTS (KILN_LOWER_MAX_CALLS * KRT_CONCAT_MAX_PARTS)

/* Emits concat or split calls for parts with the given sizes along the
 * axis of t (the concatenated tensor); part i's operand is part[i], the
 * whole's `whole` (ops: parts then whole for concat, whole first for
 * split). */
static kiln_status emit_parts(kiln_lower *l, krt_kernel_id k, const kiln_value *t, int axis,
                              const int64_t *sizes, const uint32_t *part, uint32_t n, uint32_t whole)
{
    if (n > MAX_PARTS)
        return kiln_lower_unsupported(l, "%u parts; kiln lowers at most %d", n, MAX_PARTS);
    krt_concat_desc d = {.esize = esize(t), .outer = span(t, 0, axis),
                         .inner = span(t, axis + 1, t->shape.rank), .total = t->shape.dim[axis]};
    kiln_status st = KILN_OK;
    for (uint32_t i0 = 0; i0 < n && st == KILN_OK; i0 += KRT_CONCAT_MAX_PARTS) {
        uint32_t ops[KRT_CONCAT_MAX_PARTS + 1], m = n - i0 < KRT_CONCAT_MAX_PARTS ? n - i0 : KRT_CONCAT_MAX_PARTS;
        uint32_t base = k == KRT_K_SPLIT;
        d.n = (int)m;
        for (uint32_t i = 0; i < m; i++)
            d.axis_dims[i] = sizes[i0 + i], ops[base + i] = part[i0 + i];
        ops[base ? 0 : m] = whole;
        st = emit(l, k, &d, ops, m + 1, -1);
        for (uint32_t i = 0; i < m; i++)
            d.first += sizes[i0 + i];
    }
    return st;
}

static kiln_status lower_concat(kiln_lower *l)
{
    const kiln_value *y = out(l, 0);
    uint32_t n = l->n->n_in;
    int axis = axis_attr(l, "axis", 0, y->shape.rank);
    int64_t sizes[MAX_PARTS];
    uint32_t parts[MAX_PARTS];
    for (uint32_t i = 0; i < n && i < MAX_PARTS; i++)
        sizes[i] = in(l, i)->shape.dim[axis], parts[i] = kiln_lower_in_id(l, i);
    return emit_parts(l, KRT_K_CONCAT, y, axis, sizes, parts, n, kiln_lower_out_id(l, 0));
}

/* Part sizes: the split input, else equal parts (the last one smaller
 * when the axis does not divide, as opset 18 allows). Computed from the
 * input, not the outputs, since outputs nobody reads may be absent. */
static kiln_status split_sizes(kiln_lower *l, int64_t dim, uint32_t n, int64_t *sizes)
{
    int64_t chunk = n ? (dim + n - 1) / n : 0, got;
    if (in(l, 1))
        return need_ints(l, 1, sizes, n, &got);
    for (uint32_t i = 0; i < n; i++) {
        int64_t left = dim - chunk * (int64_t)i;
        sizes[i] = left < 0 ? 0 : left < chunk ? left : chunk;
    }
    return KILN_OK;
}

static kiln_status lower_split(kiln_lower *l)
{
    const kiln_value *x = in(l, 0);
    uint32_t n = l->n->n_out;
    int axis = axis_attr(l, "axis", 0, x->shape.rank);
    int64_t sizes[MAX_PARTS];
    uint32_t parts[MAX_PARTS];
    if (n > MAX_PARTS)
        return kiln_lower_unsupported(l, "%u outputs; kiln lowers at most %d", n, MAX_PARTS);
    kiln_status st = split_sizes(l, x->shape.dim[axis], n, sizes);
    for (uint32_t i = 0; i < n; i++)
        parts[i] = kiln_lower_out_id(l, i);
    return st ? st : emit_parts(l, KRT_K_SPLIT, x, axis, sizes, parts, n, kiln_lower_in_id(l, 0));
}

/* ---- pad, trilu, reverse-sequence ------------------------------------------------------ */

static const char *const pad_modes[KRT_PAD_MODE_COUNT] = {"constant", "reflect", "edge"};

/* pads (input 1) over the axes (input 3, default all) -> begins then ends. */
static kiln_status pad_amounts(kiln_lower *l, int r, int64_t *full)
{
    int64_t pads[2 * KILN_MAX_RANK], axes[KILN_MAX_RANK], np, na;
    kiln_status st = need_ints(l, 1, pads, 2 * KILN_MAX_RANK, &np);
    na = np / 2;
    for (int64_t k = 0; k < na; k++)
        axes[k] = k;
    if (!st && in(l, 3))
        st = need_ints(l, 3, axes, na, &np);
    memset(full, 0, 2 * (size_t)r * sizeof *full);
    for (int64_t k = 0; !st && k < na; k++) {
        int a = (int)(axes[k] < 0 ? axes[k] + r : axes[k]);
        full[a] = pads[k], full[r + a] = pads[na + k];
    }
    return st;
}

/* reflect / edge need something left on every axis after cropping. */
static kiln_status pad_check(kiln_lower *l, const krt_pad_desc *d)
{
    if (d->mode == KRT_PAD_CONSTANT || numel(out(l, 0)) == 0)
        return KILN_OK;
    for (int k = 0; k < d->rank; k++) {
        int64_t pb = d->pads[k], pe = d->pads[d->rank + k];
        if (d->in[k] - (pb < 0 ? -pb : 0) - (pe < 0 ? -pe : 0) <= 0)
            return kiln_lower_fail(l, "edge/reflect padding of an axis left empty by negative pads");
    }
    return KILN_OK;
}

static kiln_status lower_pad(kiln_lower *l)
{
    const kiln_value *x = in(l, 0);
    const char *mode = kiln_attr_string(l->g, l->n, "mode", "constant");
    krt_pad_desc d = {.esize = esize(x), .rank = x->shape.rank};
    int m = 0;
    while (m < KRT_PAD_MODE_COUNT && strcmp(mode, pad_modes[m]) != 0)
        m++;
    if (m == KRT_PAD_MODE_COUNT)
        return kiln_lower_unsupported(l, "pad mode \"%s\"", mode);
    d.mode = (krt_pad_mode)m;
    memcpy(d.in, x->shape.dim, (size_t)d.rank * sizeof *d.in);
    kiln_status st = pad_amounts(l, d.rank, d.pads);
    if (!st) st = pad_check(l, &d);
    uint32_t ops[] = {kiln_lower_in_id(l, 0), kiln_lower_in_id(l, 2), kiln_lower_out_id(l, 0)};
    return st ? st : emit(l, KRT_K_PAD, &d, ops, 3, -1);
}

static kiln_status lower_trilu(kiln_lower *l)
{
    const kiln_value *x = in(l, 0);
    int r = x->shape.rank;
    krt_trilu_desc d = {.esize = esize(x), .batch = span(x, 0, r - 2), .rows = x->shape.dim[r - 2],
                        .cols = x->shape.dim[r - 1], .upper = (int)kiln_attr_int(l->g, l->n, "upper", 1)};
    uint32_t ops[] = {kiln_lower_in_id(l, 0), kiln_lower_in_id(l, 1), kiln_lower_out_id(l, 0)};
    return emit(l, KRT_K_TRILU, &d, ops, 3, 0);
}

static kiln_status lower_reverse_sequence(kiln_lower *l)
{
    const kiln_value *x = in(l, 0);
    krt_reverse_sequence_desc d = {.esize = esize(x), .d0 = x->shape.dim[0], .d1 = x->shape.dim[1],
                                   .inner = span(x, 2, x->shape.rank),
                                   .time_axis = (int)kiln_attr_int(l->g, l->n, "time_axis", 0)};
    uint32_t ops[] = {kiln_lower_in_id(l, 0), kiln_lower_in_id(l, 1), kiln_lower_out_id(l, 0)};
    return emit(l, KRT_K_REVERSE_SEQUENCE, &d, ops, 3, -1);
}

/* ---- gathers and scatters ------------------------------------------------------------------ */

/* The ops {input 0, input 1, [input 2,] output 0}. */
static kiln_status emit_indexed(kiln_lower *l, krt_kernel_id k, const void *desc, bool updates)
{
    uint32_t ops[] = {kiln_lower_in_id(l, 0), kiln_lower_in_id(l, 1), kiln_lower_in_id(l, 2),
                      kiln_lower_out_id(l, 0)};
    if (!updates)
        ops[2] = ops[3];
    return emit(l, k, desc, ops, updates ? 4 : 3, updates ? 0 : -1);
}

static kiln_status lower_gather(kiln_lower *l)
{
    const kiln_value *x = in(l, 0), *idx = in(l, 1);
    int axis = axis_attr(l, "axis", 0, x->shape.rank);
    krt_gather_desc d = {.esize = esize(x), .idx_dtype = kdt(idx), .outer = span(x, 0, axis),
                         .axis_dim = x->shape.dim[axis], .inner = span(x, axis + 1, x->shape.rank),
                         .n_idx = numel(idx)};
    return emit_indexed(l, KRT_K_GATHER, &d, false);
}

static krt_reduction reduction_attr(const kiln_lower *l)
{
    static const char *const names[KRT_RED_COUNT] = {"none", "add", "mul", "max", "min"};
    const char *s = kiln_attr_string(l->g, l->n, "reduction", "none");
    int r = 0;
    while (r < KRT_RED_COUNT && strcmp(s, names[r]) != 0)
        r++;
    return (krt_reduction)r;
}

/* GatherElements and ScatterElements. */
static kiln_status lower_elements(kiln_lower *l)
{
    const kiln_value *x = in(l, 0), *idx = in(l, 1);
    bool scatter = l->n->op == KILN_OP_SCATTERELEMENTS;
    krt_elements_desc d = {.dtype = kdt(x), .idx_dtype = kdt(idx), .rank = x->shape.rank,
                           .axis = axis_attr(l, "axis", 0, x->shape.rank),
                           .reduction = scatter ? reduction_attr(l) : KRT_RED_NONE};
    memcpy(d.data_dims, x->shape.dim, (size_t)d.rank * sizeof *d.data_dims);
    memcpy(d.idx_dims, idx->shape.dim, (size_t)d.rank * sizeof *d.idx_dims);
    return emit_indexed(l, scatter ? KRT_K_SCATTER_ELEMENTS : KRT_K_GATHER_ELEMENTS, &d, scatter);
}

/* GatherND (batch_dims) and ScatterND. */
static kiln_status lower_nd(kiln_lower *l)
{
    const kiln_value *x = in(l, 0), *idx = in(l, 1);
    bool scatter = l->n->op == KILN_OP_SCATTERND;
    int q = idx->shape.rank, b = scatter ? 0 : (int)kiln_attr_int(l->g, l->n, "batch_dims", 0);
    krt_nd_desc d = {.dtype = kdt(x), .idx_dtype = kdt(idx), .rank = x->shape.rank,
                     .batch_dims = b, .k = (int)idx->shape.dim[q - 1], .n_tuples = span(idx, b, q - 1),
                     .reduction = scatter ? reduction_attr(l) : KRT_RED_NONE};
    memcpy(d.data_dims, x->shape.dim, (size_t)d.rank * sizeof *d.data_dims);
    return emit_indexed(l, scatter ? KRT_K_SCATTER_ND : KRT_K_GATHER_ND, &d, scatter);
}

/* ---- one-hot, compress, nonzero, unique ------------------------------------------------------ */

/* OneHot (indices, depth, values): depth is the output's axis dim. */
static kiln_status lower_one_hot(kiln_lower *l)
{
    const kiln_value *idx = in(l, 0), *y = out(l, 0);
    int axis = axis_attr(l, "axis", -1, y->shape.rank);
    krt_one_hot_desc d = {.esize = esize(y), .idx_dtype = kdt(idx), .outer = span(idx, 0, axis),
                          .depth = y->shape.dim[axis], .inner = span(idx, axis, idx->shape.rank)};
    uint32_t ops[] = {kiln_lower_in_id(l, 0), kiln_lower_in_id(l, 2), kiln_lower_out_id(l, 0)};
    return emit(l, KRT_K_ONE_HOT, &d, ops, 3, -1);
}

/* The (outer, n, inner) view of x along the axis attribute, or the
 * flattened tensor when there is none (Compress, Unique). */
static void axis_view(const kiln_lower *l, const kiln_value *x, int64_t *outer, int64_t *n,
                      int64_t *inner)
{
    bool has_axis = kiln_attr_find(l->g, l->n, "axis") != NULL;
    int axis = has_axis ? axis_attr(l, "axis", 0, x->shape.rank) : 0;
    *outer = has_axis ? span(x, 0, axis) : 1;
    *n = has_axis ? x->shape.dim[axis] : numel(x);
    *inner = has_axis ? span(x, axis + 1, x->shape.rank) : 1;
}

static kiln_status lower_compress(kiln_lower *l)
{
    const kiln_value *x = in(l, 0);
    krt_compress_desc d = {.esize = esize(x), .n_cond = numel(in(l, 1))};
    axis_view(l, x, &d.outer, &d.axis_dim, &d.inner);
    uint32_t ops[] = {kiln_lower_in_id(l, 0), kiln_lower_in_id(l, 1), kiln_lower_out_id(l, 0)};
    return emit(l, KRT_K_COMPRESS, &d, ops, 3, -1);
}

static kiln_status lower_nonzero(kiln_lower *l)
{
    const kiln_value *x = in(l, 0);
    krt_nonzero_desc d = {.dtype = kdt(x), .rank = x->shape.rank, .count = out(l, 0)->shape.dim[1]};
    memcpy(d.dims, x->shape.dim, (size_t)d.rank * sizeof *d.dims);
    return emit_unary(l, KRT_K_NONZERO, &d);
}

static kiln_status lower_unique(kiln_lower *l)
{
    const kiln_value *x = in(l, 0);
    krt_unique_desc d = {.dtype = kdt(x), .sorted = (int)kiln_attr_int(l->g, l->n, "sorted", 1)};
    axis_view(l, x, &d.outer, &d.n, &d.inner);
    uint32_t ops[] = {kiln_lower_in_id(l, 0), kiln_lower_out_id(l, 0), kiln_lower_out_id(l, 1),
                      kiln_lower_out_id(l, 2), kiln_lower_out_id(l, 3)};
    return emit(l, KRT_K_UNIQUE, &d, ops, 5, -1);
}

/* ---- generators and shape ops ------------------------------------------------------------------ */

/* Output 0 = `count` copies of the n-byte pattern. */
static kiln_status emit_fill(kiln_lower *l, const void *pattern, size_t n, int64_t count)
{
    krt_fill_desc d = {.nbytes = count * (int64_t)n, .period = (int64_t)n};
    KILN_ASSERT(n >= 1 && n <= sizeof d.pattern);
    memcpy(d.pattern, pattern, n);
    uint32_t ops[] = {kiln_lower_out_id(l, 0)};
    return emit(l, KRT_K_FILL, &d, ops, 1, -1);
}

static kiln_status lower_constant_of_shape(kiln_lower *l)
{
    const kiln_value *y = out(l, 0);
    const kiln_tensor *t = kiln_attr_tensor(l->g, l->n, "value");
    static const uint8_t zero[8];
    return emit_fill(l, t ? t->data : zero, (size_t)esize(y), numel(y));
}

/* Shape (start, end attributes): the dims, as inference sized them. */
static kiln_status lower_shape(kiln_lower *l)
{
    const kiln_value *x = in(l, 0);
    int64_t r = x->shape.rank, start = kiln_attr_int(l->g, l->n, "start", 0);
    int64_t n = out(l, 0)->shape.dim[0];
    start = start < 0 ? start + r : start;
    start = start < 0 ? 0 : start > r ? r : start;
    return n ? emit_fill(l, x->shape.dim + start, (size_t)n * sizeof(int64_t), 1)
             : emit_fill(l, &n, sizeof n, 0);
}

static kiln_status lower_size(kiln_lower *l)
{
    int64_t n = numel(in(l, 0));
    return emit_fill(l, &n, sizeof n, 1);
}

/* Range (start, limit, delta): the length is the output's. */
static kiln_status lower_range(kiln_lower *l)
{
    const kiln_value *y = out(l, 0);
    krt_range_desc d = {.dtype = kdt(y), .n = y->shape.dim[0]};
    uint32_t ops[] = {kiln_lower_in_id(l, 0), kiln_lower_in_id(l, 2), kiln_lower_out_id(l, 0)};
    return emit(l, KRT_K_RANGE, &d, ops, 3, -1);
}

static kiln_status lower_eye_like(kiln_lower *l)
{
    const kiln_value *y = out(l, 0);
    krt_eye_like_desc d = {.dtype = kdt(y), .rows = y->shape.dim[0], .cols = y->shape.dim[1],
                           .k = kiln_attr_int(l->g, l->n, "k", 0)};
    uint32_t ops[] = {kiln_lower_out_id(l, 0)};
    return emit(l, KRT_K_EYE_LIKE, &d, ops, 1, -1);
}

static kiln_status lower_window(kiln_lower *l)
{
    static const krt_window kinds[KILN_OP_COUNT] = {
        [KILN_OP_HANNWINDOW] = KRT_WIN_HANN,
        [KILN_OP_HAMMINGWINDOW] = KRT_WIN_HAMMING,
        [KILN_OP_BLACKMANWINDOW] = KRT_WIN_BLACKMAN,
    };
    const kiln_value *y = out(l, 0);
    krt_window_desc d = {.dtype = kdt(y), .kind = kinds[l->n->op], .size = y->shape.dim[0],
                         .periodic = (int)kiln_attr_int(l->g, l->n, "periodic", 1)};
    uint32_t ops[] = {kiln_lower_out_id(l, 0)};
    return emit(l, KRT_K_WINDOW, &d, ops, 1, -1);
}

/* MelWeightMatrix (num_mel_bins, dft_length, sample_rate, lower_edge_hertz,
 * upper_edge_hertz): all scalars the descriptor holds. */
static kiln_status lower_mel(kiln_lower *l)
{
    krt_mel_weights_desc d = {.dtype = kdt(out(l, 0))};
    kiln_status st = need_scalar(l, 0, 0, &d.num_mel_bins);
    if (!st) st = need_scalar(l, 1, 0, &d.dft_length);
    if (!st) st = need_scalar(l, 2, 0, &d.sample_rate);
    if (!st) st = need_float(l, 3, 0, &d.lower_hz);
    if (!st) st = need_float(l, 4, 0, &d.upper_hz);
    uint32_t ops[] = {kiln_lower_out_id(l, 0)};
    return st ? st : emit(l, KRT_K_MEL_WEIGHTS, &d, ops, 1, -1);
}

/* ---- NMS, DFT, STFT --------------------------------------------------------------------------------- */

/* NonMaxSuppression (boxes, scores, max_output_boxes_per_class?,
 * iou_threshold?, score_threshold?). */
static kiln_status lower_nms(kiln_lower *l)
{
    const kiln_value *b = in(l, 0), *s = in(l, 1);
    double iou, score;
    krt_nms_desc d = {.dtype = kdt(b), .batches = b->shape.dim[0], .classes = s->shape.dim[1],
                      .n_boxes = b->shape.dim[1], .has_score_threshold = in(l, 4) != NULL,
                      .center_point_box = (int)kiln_attr_int(l->g, l->n, "center_point_box", 0),
                      .rows = out(l, 0)->shape.dim[0]};
    kiln_status st = need_scalar(l, 2, 0, &d.max_per_class);
    if (!st) st = need_float(l, 3, 0, &iou);
    if (!st) st = need_float(l, 4, 0, &score);
    d.iou_threshold = (float)iou, d.score_threshold = (float)score;
    uint32_t ops[] = {kiln_lower_in_id(l, 0), kiln_lower_in_id(l, 1), kiln_lower_out_id(l, 0)};
    return st ? st : emit(l, KRT_K_NMS, &d, ops, 3, -1);
}

/* DFT (input, dft_length?): signals along `axis`, the last dim real/imag. */
static kiln_status lower_dft(kiln_lower *l)
{
    const kiln_value *x = in(l, 0), *y = out(l, 0);
    int r = x->shape.rank, axis = axis_attr(l, "axis", 1, r);
    krt_dft_desc d = {.dtype = kdt(x), .outer = span(x, 0, axis), .sig_len = x->shape.dim[axis],
                      .inner = span(x, axis + 1, r - 1), .c_in = (int)x->shape.dim[r - 1],
                      .inverse = (int)kiln_attr_int(l->g, l->n, "inverse", 0),
                      .n_out = y->shape.dim[axis]};
    kiln_status st = need_scalar(l, 1, x->shape.dim[axis], &d.n_fft);
    return st ? st : emit_unary(l, KRT_K_DFT, &d);
}

/* STFT (signal, frame_step, window?, frame_length?). */
static kiln_status lower_stft(kiln_lower *l)
{
    const kiln_value *x = in(l, 0), *w = in(l, 2), *y = out(l, 0);
    krt_stft_desc d = {.dtype = kdt(x), .batch = x->shape.dim[0], .sig_len = x->shape.dim[1],
                       .c_in = (int)x->shape.dim[2], .n_frames = y->shape.dim[1],
                       .n_out = y->shape.dim[2]};
    kiln_status st = need_scalar(l, 1, 1, &d.step);
    if (!st) st = need_scalar(l, 3, w ? w->shape.dim[0] : 0, &d.frame_len);
    uint32_t ops[] = {kiln_lower_in_id(l, 0), kiln_lower_in_id(l, 2), kiln_lower_out_id(l, 0)};
    return st ? st : emit(l, KRT_K_STFT, &d, ops, 3, -1);
}

/* ---- the table ------------------------------------------------------------------------------------------ */

const kiln_lower_fn kiln_lower_movement[KILN_OP_COUNT] = {
    [KILN_OP_RESHAPE] = lower_copy,
    [KILN_OP_FLATTEN] = lower_copy,
    [KILN_OP_SQUEEZE] = lower_copy,
    [KILN_OP_UNSQUEEZE] = lower_copy,
    [KILN_OP_TRANSPOSE] = lower_transpose,
    [KILN_OP_CONCAT] = lower_concat,
    [KILN_OP_SPLIT] = lower_split,
    [KILN_OP_SLICE] = lower_slice,
    [KILN_OP_PAD] = lower_pad,
    [KILN_OP_TILE] = lower_tile,
    [KILN_OP_EXPAND] = lower_expand,
    [KILN_OP_DEPTHTOSPACE] = lower_depth_to_space,
    [KILN_OP_SPACETODEPTH] = lower_space_to_depth,
    [KILN_OP_TRILU] = lower_trilu,
    [KILN_OP_REVERSESEQUENCE] = lower_reverse_sequence,
    [KILN_OP_GATHER] = lower_gather,
    [KILN_OP_GATHERELEMENTS] = lower_elements,
    [KILN_OP_GATHERND] = lower_nd,
    [KILN_OP_SCATTERELEMENTS] = lower_elements,
    [KILN_OP_SCATTERND] = lower_nd,
    [KILN_OP_ONEHOT] = lower_one_hot,
    [KILN_OP_NONZERO] = lower_nonzero,
    [KILN_OP_COMPRESS] = lower_compress,
    [KILN_OP_UNIQUE] = lower_unique,
    [KILN_OP_RANGE] = lower_range,
    [KILN_OP_EYELIKE] = lower_eye_like,
    [KILN_OP_CONSTANTOFSHAPE] = lower_constant_of_shape,
    [KILN_OP_SHAPE] = lower_shape,
    [KILN_OP_SIZE] = lower_size,
    [KILN_OP_NONMAXSUPPRESSION] = lower_nms,
    [KILN_OP_DFT] = lower_dft,
    [KILN_OP_STFT] = lower_stft,
    [KILN_OP_HANNWINDOW] = lower_window,
    [KILN_OP_HAMMINGWINDOW] = lower_window,
    [KILN_OP_BLACKMANWINDOW] = lower_window,
    [KILN_OP_MELWEIGHTMATRIX] = lower_mel,
};
