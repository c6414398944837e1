/* eval_movement.c — interpreter entries for the movement family: each one
 * unpacks its node (attributes, input data and shapes, the outputs that
 * the interpreter allocated with the inferred shapes) and calls the kernel
 * in runtime/krt_movement.h, which holds the arithmetic.
 *
 * Inference has already checked attributes, ranks and dtypes and sized
 * every output (data-dependent sizes included), so the entries read output
 * dims rather than recompute them. What only the data can reveal (an index
 * out of range) comes back from the kernel as a krt_status and becomes a
 * message naming the node, the input and the bad value.
 */
#include "ir/interp.h"
#include "runtime/krt_movement.h"

#include <string.h>

/* ---- helpers ------------------------------------------------------------------ */

static krt_dtype kdt(const kiln_value *v) { return (krt_dtype)v->dtype; }
static size_t esize(const kiln_value *v) { return kiln_dtype_size(v->dtype); }
static const kiln_value *in(const kiln_eval *e, uint32_t i) { return kiln_eval_in(e, i); }
static kiln_value *out(const kiln_eval *e, uint32_t i) { return kiln_eval_out(e, i); }

static int64_t numel(const kiln_value *v)
{
    return krt_numel(v->shape.rank, v->shape.dim);
}

/* Product of dims[from..to). */
static int64_t span(const kiln_value *v, int from, int to)
{
    return krt_numel(to - from, v->shape.dim + from);
}

/* Up to max entries of input i (any integer or float dtype) as int64. */
static int64_t read_ints(const kiln_eval *e, uint32_t i, int64_t *vals, int64_t max)
{
    const kiln_value *v = in(e, i);
    int64_t n = numel(v);
    for (int64_t k = 0; k < n && k < max; k++)
        vals[k] = krt_load_i64(kdt(v), v->data, k);
    return n < max ? n : max;
}

static int64_t scalar_i64(const kiln_eval *e, uint32_t i, int64_t dflt)
{
    const kiln_value *v = in(e, i);
    return v ? krt_load_i64(kdt(v), v->data, 0) : dflt;
}

static double scalar_f64(const kiln_eval *e, uint32_t i, double dflt)
{
    const kiln_value *v = in(e, i);
    return v ? krt_load_f64(kdt(v), v->data, 0) : dflt;
}

static int axis_attr(const kiln_eval *e, const char *name, int64_t dflt, int rank)
{
    int64_t a = kiln_attr_int(e->g, e->n, name, dflt);
    return (int)(a < 0 ? a + rank : a);
}

/* A kernel's failure as a message: which input held the bad index. */
static kiln_status kernel_fail(kiln_eval *e, krt_status st, uint32_t input,
                               const krt_index_error *err, const char *what)
{
    const kiln_value *v = in(e, input);
    if (st == KRT_EINDEX)
        return kiln_eval_fail(e, "index %lld out of range [%lld, %lld) in input %u ('%s') at position %lld",
                              (long long)err->value, (long long)err->lo, (long long)err->hi, input,
                              v ? v->name : "", (long long)err->pos);
    if (st == KRT_EDTYPE)
        return kiln_eval_unsupported(e, "no %s kernel for dtype %s", kiln_op_name(e->n->op),
                                     kiln_dtype_name(in(e, 0)->dtype));
    return kiln_eval_fail(e, "%s", what);
}

static kiln_status done(kiln_eval *e, krt_status st, uint32_t input, const krt_index_error *err,
                        const char *what)
{
    return st == KRT_OK ? KILN_OK : kernel_fail(e, st, input, err, what);
}

/* ---- reshapes and transpose -------------------------------------------------------- */

static kiln_status eval_transpose(kiln_eval *e)
{
    const kiln_value *x = in(e, 0);
    int64_t perm[KILN_MAX_RANK];
    uint32_t n;
    const int64_t *p = kiln_attr_ints(e->g, e->n, "perm", &n);
    for (int k = 0; k < x->shape.rank; k++)
        perm[k] = p ? p[k] : x->shape.rank - 1 - k;
    krt_transpose(kiln_eval_out_data(e, 0), x->data, esize(x), x->shape.rank, x->shape.dim, perm);
    return KILN_OK;
}

/* ---- concat, split -------------------------------------------------------------------- */

static kiln_status eval_concat(kiln_eval *e)
{
    const kiln_value *y = out(e, 0);
    uint32_t n = e->n->n_in;
    int axis = axis_attr(e, "axis", 0, y->shape.rank);
    const void **srcs = kiln_eval_scratch(e, n * sizeof *srcs);
    int64_t *sizes = kiln_eval_scratch(e, n * sizeof *sizes);
    for (uint32_t i = 0; i < n; i++) {
        srcs[i] = in(e, i)->data;
        sizes[i] = in(e, i)->shape.dim[axis];
    }
    krt_concat((void *)y->data, srcs, sizes, (int)n, esize(y), span(y, 0, axis),
               span(y, axis + 1, y->shape.rank));
    return KILN_OK;
}

/* Part sizes: the split input, else equal parts (the last one smaller
 * when the axis does not divide, as opset 18 allows). Computed from the
 * input, not the outputs, since outputs nobody reads may be absent. */
static void split_sizes(const kiln_eval *e, int64_t dim, uint32_t n, int64_t *sizes)
{
    int64_t chunk = n ? (dim + n - 1) / n : 0;
    if (in(e, 1)) {
        read_ints(e, 1, sizes, n);
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        int64_t left = dim - chunk * (int64_t)i;
        sizes[i] = left < 0 ? 0 : left < chunk ? left : chunk;
    }
}

static kiln_status eval_split(kiln_eval *e)
{
    const kiln_value *x = in(e, 0);
    uint32_t n = e->n->n_out;
    int axis = axis_attr(e, "axis", 0, x->shape.rank);
    void **dsts = kiln_eval_scratch(e, n * sizeof *dsts);
    int64_t *sizes = kiln_eval_scratch(e, n * sizeof *sizes);
    split_sizes(e, x->shape.dim[axis], n, sizes);
    for (uint32_t i = 0; i < n; i++)
        dsts[i] = kiln_eval_out_data(e, i);
    krt_split(dsts, x->data, sizes, (int)n, esize(x), span(x, 0, axis), span(x, axis + 1, x->shape.rank));
    return KILN_OK;
}

/* ---- slice, pad, tile, expand ------------------------------------------------------------ */

static kiln_status eval_slice(kiln_eval *e)
{
    const kiln_value *x = in(e, 0);
    int r = x->shape.rank;
    int64_t starts[4 * KILN_MAX_RANK], ends[4 * KILN_MAX_RANK], axes[4 * KILN_MAX_RANK], steps[4 * KILN_MAX_RANK];
    int64_t first[KILN_MAX_RANK], step[KILN_MAX_RANK];
    int64_t n = read_ints(e, 1, starts, 4 * KILN_MAX_RANK);
    read_ints(e, 2, ends, n);
    for (int64_t k = 0; k < n; k++)
        axes[k] = k, steps[k] = 1;
    if (in(e, 3))
        read_ints(e, 3, axes, n);
    if (in(e, 4))
        read_ints(e, 4, steps, n);
    for (int k = 0; k < r; k++)
        first[k] = 0, step[k] = 1;
    for (int64_t k = 0; k < n; k++) {
        int a = (int)(axes[k] < 0 ? axes[k] + r : axes[k]);
        krt_slice_axis(x->shape.dim[a], starts[k], ends[k], steps[k], &first[a]);
        step[a] = steps[k];
    }
    krt_slice(kiln_eval_out_data(e, 0), x->data, esize(x), r, x->shape.dim, first, step,
              out(e, 0)->shape.dim);
    return KILN_OK;
}

static kiln_status eval_pad(kiln_eval *e)
{
    static const char *const modes[KRT_PAD_MODE_COUNT] = {"constant", "reflect", "edge"};
    const kiln_value *x = in(e, 0), *cv = in(e, 2);
    int r = x->shape.rank;
    int64_t pads[4 * KILN_MAX_RANK], axes[2 * KILN_MAX_RANK], full[2 * KILN_MAX_RANK] = {0};
    int64_t np = read_ints(e, 1, pads, 4 * KILN_MAX_RANK), na = np / 2;
    for (int64_t k = 0; k < na; k++)
        axes[k] = k;
    if (in(e, 3))
        read_ints(e, 3, axes, na);
    for (int64_t k = 0; k < na; k++) {
        int a = (int)(axes[k] < 0 ? axes[k] + r : axes[k]);
        full[a] = pads[k], full[r + a] = pads[na + k];
    }
    const char *mode = kiln_attr_string(e->g, e->n, "mode", "constant");
    int m = 0;
    while (m < KRT_PAD_MODE_COUNT && strcmp(mode, modes[m]) != 0)
        m++;
    if (m == KRT_PAD_MODE_COUNT)
        return kiln_eval_unsupported(e, "pad mode \"%s\"", mode);
    krt_status st = krt_pad(kiln_eval_out_data(e, 0), x->data, esize(x), r, x->shape.dim, full,
                            (krt_pad_mode)m, cv ? cv->data : NULL);
    return done(e, st, 1, NULL, "edge/reflect padding of an axis left empty by negative pads");
}

static kiln_status eval_tile(kiln_eval *e)
{
    const kiln_value *x = in(e, 0);
    int64_t reps[KILN_MAX_RANK];
    read_ints(e, 1, reps, KILN_MAX_RANK);
    krt_tile(kiln_eval_out_data(e, 0), x->data, esize(x), x->shape.rank, x->shape.dim, reps);
    return KILN_OK;
}

static kiln_status eval_expand(kiln_eval *e)
{
    const kiln_value *x = in(e, 0), *y = out(e, 0);
    krt_expand((void *)y->data, x->data, esize(x), y->shape.rank, y->shape.dim, x->shape.rank,
               x->shape.dim);
    return KILN_OK;
}

/* ---- depth/space, trilu, reverse-sequence ----------------------------------------------------- */

static kiln_status eval_depth_to_space(kiln_eval *e)
{
    const kiln_value *x = in(e, 0);
    int64_t bs = kiln_attr_int(e->g, e->n, "blocksize", 1);
    int crd = strcmp(kiln_attr_string(e->g, e->n, "mode", "DCR"), "CRD") == 0;
    krt_depth_to_space(kiln_eval_out_data(e, 0), x->data, esize(x), x->shape.dim, bs, crd);
    return KILN_OK;
}

static kiln_status eval_space_to_depth(kiln_eval *e)
{
    const kiln_value *x = in(e, 0);
    int64_t bs = kiln_attr_int(e->g, e->n, "blocksize", 1);
    krt_space_to_depth(kiln_eval_out_data(e, 0), x->data, esize(x), x->shape.dim, bs);
    return KILN_OK;
}

static kiln_status eval_trilu(kiln_eval *e)
{
    const kiln_value *x = in(e, 0);
    int r = x->shape.rank;
    krt_trilu(kiln_eval_out_data(e, 0), x->data, esize(x), span(x, 0, r - 2), x->shape.dim[r - 2],
              x->shape.dim[r - 1], scalar_i64(e, 1, 0), (int)kiln_attr_int(e->g, e->n, "upper", 1));
    return KILN_OK;
}

static kiln_status eval_reverse_sequence(kiln_eval *e)
{
    const kiln_value *x = in(e, 0);
    krt_index_error err;
    int time_axis = (int)kiln_attr_int(e->g, e->n, "time_axis", 0);
    krt_status st = krt_reverse_sequence(kiln_eval_out_data(e, 0), x->data, esize(x), x->shape.dim[0],
                                         x->shape.dim[1], span(x, 2, x->shape.rank), time_axis,
                                         in(e, 1)->data, &err);
    return done(e, st, 1, &err, "");
}

/* ---- gathers and scatters ------------------------------------------------------------------------ */

static kiln_status eval_gather(kiln_eval *e)
{
    const kiln_value *x = in(e, 0), *idx = in(e, 1);
    int axis = axis_attr(e, "axis", 0, x->shape.rank);
    krt_index_error err;
    krt_status st = krt_gather(kiln_eval_out_data(e, 0), x->data, esize(x), span(x, 0, axis),
                               x->shape.dim[axis], span(x, axis + 1, x->shape.rank), idx->data,
                               kdt(idx), numel(idx), &err);
    return done(e, st, 1, &err, "");
}

static kiln_status eval_gather_elements(kiln_eval *e)
{
    const kiln_value *x = in(e, 0), *idx = in(e, 1);
    int axis = axis_attr(e, "axis", 0, x->shape.rank);
    krt_index_error err;
    krt_status st = krt_gather_elements(kiln_eval_out_data(e, 0), x->data, esize(x), x->shape.rank,
                                        x->shape.dim, idx->shape.dim, axis, idx->data, kdt(idx), &err);
    return done(e, st, 1, &err, "input 1 ('indices') is larger than the data off the axis");
}

static kiln_status eval_gather_nd(kiln_eval *e)
{
    const kiln_value *x = in(e, 0), *idx = in(e, 1);
    int b = (int)kiln_attr_int(e->g, e->n, "batch_dims", 0), q = idx->shape.rank;
    int k = (int)idx->shape.dim[q - 1];
    krt_index_error err;
    krt_status st = krt_gather_nd(kiln_eval_out_data(e, 0), x->data, esize(x), x->shape.rank,
                                  x->shape.dim, b, span(idx, b, q - 1), k, idx->data, kdt(idx), &err);
    return done(e, st, 1, &err, "");
}

static krt_reduction reduction_attr(const kiln_eval *e)
{
    static const char *const names[KRT_RED_COUNT] = {"none", "add", "mul", "max", "min"};
    const char *s = kiln_attr_string(e->g, e->n, "reduction", "none");
    int r = 0;
    while (r < KRT_RED_COUNT && strcmp(s, names[r]) != 0)
        r++;
    return (krt_reduction)r;
}

static kiln_status eval_scatter_elements(kiln_eval *e)
{
    const kiln_value *x = in(e, 0), *idx = in(e, 1), *upd = in(e, 2);
    int axis = axis_attr(e, "axis", 0, x->shape.rank);
    krt_index_error err;
    krt_status st = krt_scatter_elements(kiln_eval_out_data(e, 0), x->data, kdt(x), x->shape.rank,
                                         x->shape.dim, idx->shape.dim, axis, idx->data, kdt(idx),
                                         upd->data, reduction_attr(e), &err);
    return done(e, st, 1, &err, "input 1 ('indices') is larger than the data off the axis");
}

static kiln_status eval_scatter_nd(kiln_eval *e)
{
    const kiln_value *x = in(e, 0), *idx = in(e, 1), *upd = in(e, 2);
    int q = idx->shape.rank, k = (int)idx->shape.dim[q - 1];
    krt_index_error err;
    krt_status st = krt_scatter_nd(kiln_eval_out_data(e, 0), x->data, kdt(x), x->shape.rank,
                                   x->shape.dim, span(idx, 0, q - 1), k, idx->data, kdt(idx),
                                   upd->data, reduction_attr(e), &err);
    return done(e, st, 1, &err, "");
}

/* ---- one-hot, compress, nonzero, unique ---------------------------------------------------------- */

static kiln_status eval_one_hot(kiln_eval *e)
{
    const kiln_value *idx = in(e, 0), *vals = in(e, 2), *y = out(e, 0);
    int axis = axis_attr(e, "axis", -1, y->shape.rank);
    krt_one_hot((void *)y->data, esize(y), vals->data, idx->data, kdt(idx), span(idx, 0, axis),
                y->shape.dim[axis], span(idx, axis, idx->shape.rank));
    return KILN_OK;
}

static kiln_status eval_compress(kiln_eval *e)
{
    const kiln_value *x = in(e, 0), *cond = in(e, 1);
    bool has_axis = kiln_attr_find(e->g, e->n, "axis") != NULL;
    int axis = has_axis ? axis_attr(e, "axis", 0, x->shape.rank) : 0;
    int64_t outer = has_axis ? span(x, 0, axis) : 1, inner = has_axis ? span(x, axis + 1, x->shape.rank) : 1;
    int64_t dim = has_axis ? x->shape.dim[axis] : numel(x);
    krt_index_error err;
    krt_status st = krt_compress(kiln_eval_out_data(e, 0), x->data, esize(x), outer, dim, inner,
                                 cond->data, numel(cond), &err);
    return done(e, st, 1, &err, "");
}

static kiln_status eval_nonzero(kiln_eval *e)
{
    const kiln_value *x = in(e, 0);
    krt_status st = krt_nonzero(kiln_eval_out_data(e, 0), x->data, kdt(x), x->shape.rank, x->shape.dim,
                                out(e, 0)->shape.dim[1]);
    return done(e, st, 0, NULL, "");
}

static kiln_status eval_unique(kiln_eval *e)
{
    const kiln_value *x = in(e, 0);
    bool has_axis = kiln_attr_find(e->g, e->n, "axis") != NULL;
    int axis = has_axis ? axis_attr(e, "axis", 0, x->shape.rank) : 0;
    int64_t n = has_axis ? x->shape.dim[axis] : numel(x), u;
    void *scratch = kiln_eval_scratch(e, krt_unique_scratch_size(n));
    void *y = kiln_eval_out_data(e, 0);
    krt_status st = krt_unique(x->data, kdt(x), has_axis ? span(x, 0, axis) : 1, n,
                               has_axis ? span(x, axis + 1, x->shape.rank) : 1,
                               (int)kiln_attr_int(e->g, e->n, "sorted", 1), scratch, &u,
                               y ? y : kiln_eval_scratch(e, (size_t)numel(x) * esize(x)),
                               kiln_eval_out_data(e, 1), kiln_eval_out_data(e, 2), kiln_eval_out_data(e, 3));
    return done(e, st, 0, NULL, "");
}

/* ---- generators and shape ops ----------------------------------------------------------------------- */

static kiln_status eval_range(kiln_eval *e)
{
    const kiln_value *y = out(e, 0);
    krt_status st = krt_range((void *)y->data, kdt(y), in(e, 0)->data, in(e, 2)->data, y->shape.dim[0]);
    return done(e, st, 0, NULL, "");
}

static kiln_status eval_eye_like(kiln_eval *e)
{
    const kiln_value *y = out(e, 0);
    krt_eye_like((void *)y->data, kdt(y), y->shape.dim[0], y->shape.dim[1],
                 kiln_attr_int(e->g, e->n, "k", 0));
    return KILN_OK;
}

static kiln_status eval_constant_of_shape(kiln_eval *e)
{
    const kiln_value *y = out(e, 0);
    const kiln_tensor *t = kiln_attr_tensor(e->g, e->n, "value");
    static const float zero = 0.0f;
    krt_fill((void *)y->data, esize(y), numel(y), t ? t->data : &zero);
    return KILN_OK;
}

static kiln_status eval_shape(kiln_eval *e)
{
    const kiln_value *x = in(e, 0);
    int64_t r = x->shape.rank, start = kiln_attr_int(e->g, e->n, "start", 0);
    start = start < 0 ? start + r : start;
    start = start < 0 ? 0 : start > r ? r : start;
    int64_t *y = kiln_eval_out_data(e, 0), n = out(e, 0)->shape.dim[0];
    for (int64_t k = 0; k < n; k++)
        y[k] = x->shape.dim[start + k];
    return KILN_OK;
}

static kiln_status eval_size(kiln_eval *e)
{
    *(int64_t *)kiln_eval_out_data(e, 0) = numel(in(e, 0));
    return KILN_OK;
}

static kiln_status eval_window(kiln_eval *e)
{
    static const krt_window kinds[KILN_OP_COUNT] = {
        [KILN_OP_HANNWINDOW] = KRT_WIN_HANN,
        [KILN_OP_HAMMINGWINDOW] = KRT_WIN_HAMMING,
        [KILN_OP_BLACKMANWINDOW] = KRT_WIN_BLACKMAN,
    };
    const kiln_value *y = out(e, 0);
    krt_window_fn((void *)y->data, kdt(y), kinds[e->n->op], y->shape.dim[0],
                  (int)kiln_attr_int(e->g, e->n, "periodic", 1));
    return KILN_OK;
}

static kiln_status eval_mel(kiln_eval *e)
{
    const kiln_value *y = out(e, 0);
    krt_status st = krt_mel_weight_matrix((void *)y->data, kdt(y), scalar_i64(e, 0, 0), scalar_i64(e, 1, 0),
                                          scalar_i64(e, 2, 0), scalar_f64(e, 3, 0), scalar_f64(e, 4, 0));
    return done(e, st, 0, NULL, "a mel band edge falls outside the spectrum (upper_edge_hertz above sample_rate / 2?)");
}

/* ---- NMS, DFT, STFT --------------------------------------------------------------------------------- */

static kiln_status eval_nms(kiln_eval *e)
{
    const kiln_value *b = in(e, 0), *s = in(e, 1);
    int64_t n = b->shape.dim[1], rows = out(e, 0)->shape.dim[0];
    void *scratch = kiln_eval_scratch(e, krt_nms_scratch_size(n));
    int64_t got = krt_nms(kiln_eval_out_data(e, 0), b->data, s->data, b->shape.dim[0], s->shape.dim[1], n,
                          scalar_i64(e, 2, 0), (float)scalar_f64(e, 3, 0), (float)scalar_f64(e, 4, 0),
                          in(e, 4) != NULL, (int)kiln_attr_int(e->g, e->n, "center_point_box", 0), scratch);
    if (got != rows)
        return kiln_eval_fail(e, "selected %lld boxes, inference sized the output for %lld",
                              (long long)got, (long long)rows);
    return KILN_OK;
}

static kiln_status eval_dft(kiln_eval *e)
{
    const kiln_value *x = in(e, 0), *y = out(e, 0);
    int r = x->shape.rank, axis = axis_attr(e, "axis", 1, r);
    int64_t n_fft = in(e, 1) ? scalar_i64(e, 1, 0) : x->shape.dim[axis];
    void *scratch = kiln_eval_scratch(e, krt_dft_scratch_size(n_fft));
    krt_status st = krt_dft((void *)y->data, x->data, kdt(x), span(x, 0, axis), x->shape.dim[axis],
                            span(x, axis + 1, r - 1), (int)x->shape.dim[r - 1], n_fft, y->shape.dim[axis],
                            (int)kiln_attr_int(e->g, e->n, "inverse", 0), scratch);
    return done(e, st, 0, NULL, "");
}

static kiln_status eval_stft(kiln_eval *e)
{
    const kiln_value *x = in(e, 0), *w = in(e, 2), *y = out(e, 0);
    int64_t frame_len = in(e, 3) ? scalar_i64(e, 3, 0) : w->shape.dim[0];
    void *scratch = kiln_eval_scratch(e, krt_dft_scratch_size(frame_len));
    krt_status st = krt_stft((void *)y->data, x->data, kdt(x), x->shape.dim[0], x->shape.dim[1],
                             (int)x->shape.dim[2], scalar_i64(e, 1, 1), frame_len, w ? w->data : NULL,
                             y->shape.dim[1], y->shape.dim[2], scratch);
    return done(e, st, 0, NULL, "");
}

/* ---- the table ------------------------------------------------------------------------------------------ */

const kiln_eval_fn kiln_eval_movement[KILN_OP_COUNT] = {
    [KILN_OP_TRANSPOSE] = eval_transpose,
    [KILN_OP_CONCAT] = eval_concat,
    [KILN_OP_SPLIT] = eval_split,
    [KILN_OP_SLICE] = eval_slice,
    [KILN_OP_PAD] = eval_pad,
    [KILN_OP_TILE] = eval_tile,
    [KILN_OP_EXPAND] = eval_expand,
    [KILN_OP_DEPTHTOSPACE] = eval_depth_to_space,
    [KILN_OP_SPACETODEPTH] = eval_space_to_depth,
    [KILN_OP_TRILU] = eval_trilu,
    [KILN_OP_REVERSESEQUENCE] = eval_reverse_sequence,
    [KILN_OP_GATHER] = eval_gather,
    [KILN_OP_GATHERELEMENTS] = eval_gather_elements,
    [KILN_OP_GATHERND] = eval_gather_nd,
    [KILN_OP_SCATTERELEMENTS] = eval_scatter_elements,
    [KILN_OP_SCATTERND] = eval_scatter_nd,
    [KILN_OP_ONEHOT] = eval_one_hot,
    [KILN_OP_NONZERO] = eval_nonzero,
    [KILN_OP_COMPRESS] = eval_compress,
    [KILN_OP_UNIQUE] = eval_unique,
    [KILN_OP_RANGE] = eval_range,
    [KILN_OP_EYELIKE] = eval_eye_like,
    [KILN_OP_CONSTANTOFSHAPE] = eval_constant_of_shape,
    [KILN_OP_SHAPE] = eval_shape,
    [KILN_OP_SIZE] = eval_size,
    [KILN_OP_NONMAXSUPPRESSION] = eval_nms,
    [KILN_OP_DFT] = eval_dft,
    [KILN_OP_STFT] = eval_stft,
    [KILN_OP_HANNWINDOW] = eval_window,
    [KILN_OP_HAMMINGWINDOW] = eval_window,
    [KILN_OP_BLACKMANWINDOW] = eval_window,
    [KILN_OP_MELWEIGHTMATRIX] = eval_mel,
};
