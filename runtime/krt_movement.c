/* krt_movement.c — data-movement kernels: copy, strided (transpose, slice,
 * expand, tile, depth/space rearrangements), concat, split, pad, trilu,
 * reverse-sequence.
 *
 * Almost everything here is one primitive: a copy between two strided
 * views of the same index space. Each op only describes its view (dims
 * and strides, built once when lowering by a krt_view_* function); the
 * primitive drops size-1 dims, merges dims that are contiguous on both
 * sides, and copies the innermost run with memcpy when it is contiguous
 * (in cache-sized tiles when a transpose makes the two sides contiguous
 * along different dims). The kernels never look at element values, so one
 * version serves every dtype (elements are `esize` bytes). Work units are
 * blocks of the output, so a split copy writes each byte exactly once.
 */
#include "runtime/krt_movement.h"

#include <stdbool.h>

/* ---- kernel `copy` ---------------------------------------------------------- */

enum { COPY_CHUNK = 1 << 16 };

static int64_t copy_units(const void *desc)
{
    const krt_copy_desc *d = desc;
    return d->nbytes > 0 ? (d->nbytes + COPY_CHUNK - 1) / COPY_CHUNK : 1;
}

static krt_status copy_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                           krt_error *err)
{
    const krt_copy_desc *d = desc;
    int64_t lo = r.begin * COPY_CHUNK, hi = r.end * COPY_CHUNK;
    if (hi > d->nbytes)
        hi = d->nbytes;
    if (hi > lo && ops[0] != ops[1])
        memcpy((char *)ops[1] + lo, (const char *)ops[0] + lo, (size_t)(hi - lo));
    return KRT_OK;
}

const krt_kernel_info krt_kernel_copy = {
    "copy", copy_run, NULL, copy_units, sizeof(krt_copy_desc),
};

/* ---- the strided copy ---------------------------------------------------- */

/* A copy between two views; strides in bytes. */
typedef struct view {
    int rank;
    int64_t dims[KRT_VIEW_MAX_RANK];
    int64_t ds[KRT_VIEW_MAX_RANK], ss[KRT_VIEW_MAX_RANK];
} view;

/* Drop size-1 dims and merge a dim into the next inner one when both
 * sides step over it contiguously. Leaves at least one dim. */
static void view_collapse(view *v, size_t esize)
{
    int r = 0;
    for (int i = 0; i < v->rank; i++) {
        if (v->dims[i] == 1)
            continue;
        if (r > 0 && v->ds[r - 1] == v->ds[i] * v->dims[i] && v->ss[r - 1] == v->ss[i] * v->dims[i]) {
            v->dims[r - 1] *= v->dims[i];
            v->ds[r - 1] = v->ds[i];
            v->ss[r - 1] = v->ss[i];
        } else {
            v->dims[r] = v->dims[i], v->ds[r] = v->ds[i], v->ss[r] = v->ss[i];
            r++;
        }
    }
    if (r == 0)
        v->dims[0] = 1, v->ds[0] = v->ss[0] = (int64_t)esize, r = 1;
    v->rank = r;
}

#define ROW_LOOP(K)                                                    \
    for (int64_t i = 0; i < n; i++)                                    \
        memcpy(d + i * ds, s + i * ss, K);                             \
    break

static void copy_row(char *d, const char *s, int64_t n, int64_t ds, int64_t ss, size_t esize)
{
    if (ds == (int64_t)esize && ss == (int64_t)esize) {
        memcpy(d, s, (size_t)n * esize);
        return;
    }
    switch (esize) {
    case 1: ROW_LOOP(1);
    case 2: ROW_LOOP(2);
    case 4: ROW_LOOP(4);
    case 8: ROW_LOOP(8);
    default: ROW_LOOP(esize);
    }
}
#undef ROW_LOOP

/* A transpose-like view: the destination's innermost dim is contiguous but
 * the source's is not, while another dim j is contiguous in the source.
 * Then moving j next to the innermost and copying in square tiles keeps
 * both sides in cache. Returns true after that reordering. */
static int prepare_tiles(view *v, size_t esize)
{
    int last = v->rank - 1, j = last - 1;
    int64_t es = (int64_t)esize;
    if (v->rank < 2 || v->ds[last] != es || v->ss[last] == es || v->dims[last] < 8)
        return 0;
    while (j >= 0 && !(v->ss[j] == es && v->dims[j] >= 8))
        j--;
    if (j < 0)
        return 0;
    int64_t d = v->dims[j], ds = v->ds[j], ss = v->ss[j];
    for (int k = j; k < last - 1; k++)
        v->dims[k] = v->dims[k + 1], v->ds[k] = v->ds[k + 1], v->ss[k] = v->ss[k + 1];
    v->dims[last - 1] = d, v->ds[last - 1] = ds, v->ss[last - 1] = ss;
    return 1;
}

enum { TILE = 32 };

/* The two innermost dims of v, tile by tile. */
static void copy_tiles(char *d, const char *s, const view *v, size_t esize)
{
    int a = v->rank - 2, b = v->rank - 1;
    for (int64_t a0 = 0; a0 < v->dims[a]; a0 += TILE)
        for (int64_t b0 = 0; b0 < v->dims[b]; b0 += TILE) {
            int64_t a1 = a0 + TILE < v->dims[a] ? a0 + TILE : v->dims[a];
            int64_t nb = b0 + TILE < v->dims[b] ? TILE : v->dims[b] - b0;
            for (int64_t i = a0; i < a1; i++)
                copy_row(d + i * v->ds[a] + b0 * v->ds[b], s + i * v->ss[a] + b0 * v->ss[b], nb,
                         v->ds[b], v->ss[b], esize);
        }
}

static void view_copy(char *dst, const char *src, view *v, size_t esize)
{
    for (int i = 0; i < v->rank; i++)
        if (v->dims[i] == 0)
            return;
    view_collapse(v, esize);
    int tiled = prepare_tiles(v, esize);
    int64_t idx[KRT_VIEW_MAX_RANK] = {0};
    int64_t od = 0, os = 0;
    int inner = v->rank - 1 - tiled;  /* dims [inner..] are copied at once */
    for (;;) {
        if (tiled)
            copy_tiles(dst + od, src + os, v, esize);
        else
            copy_row(dst + od, src + os, v->dims[inner], v->ds[inner], v->ss[inner], esize);
        int k = inner - 1;
        for (; k >= 0; k--) {
            od += v->ds[k], os += v->ss[k];
            if (++idx[k] < v->dims[k])
                break;
            od -= v->ds[k] * v->dims[k], os -= v->ss[k] * v->dims[k];
            idx[k] = 0;
        }
        if (k < 0)
            return;
    }
}

/* dst[i...] = src[i...] over the index space `dims`, both sides addressed by
 * strides in elements (any sign; 0 repeats an element). */
static void copy_strided(void *dst, const int64_t *dst_strides, const void *src,
                         const int64_t *src_strides, size_t esize, int rank, const int64_t *dims)
{
    view v = {.rank = rank};
    for (int i = 0; i < rank; i++) {
        v.dims[i] = dims[i];
        v.ds[i] = dst_strides[i] * (int64_t)esize;
        v.ss[i] = src_strides[i] * (int64_t)esize;
    }
    view_copy(dst, src, &v, esize);
}

/* ---- kernel `strided` and the views ------------------------------------------ */

/* The desc's view with byte strides (Y dense), before collapsing. */
static void strided_view(const krt_strided_desc *d, view *v)
{
    int64_t es = d->esize, s = es;
    v->rank = d->rank;
    for (int i = d->rank - 1; i >= 0; i--) {
        v->dims[i] = d->dims[i];
        v->ds[i] = s;
        v->ss[i] = d->strides[i] * es;
        s *= d->dims[i];
    }
}

enum { UNIT_BYTES = 1 << 16 };

/* Rows of the collapsed view's outer dim per unit: about UNIT_BYTES. */
static int64_t strided_rows(const view *v, int64_t esize)
{
    int64_t inner = esize * krt_numel(v->rank - 1, v->dims + 1);
    return inner >= UNIT_BYTES || inner <= 0 ? 1 : UNIT_BYTES / inner;
}

/* The collapsed view of d; false when it has no elements. */
static bool strided_collapsed(const krt_strided_desc *d, view *v)
{
    strided_view(d, v);
    if (krt_numel(v->rank, v->dims) == 0)
        return false;
    view_collapse(v, (size_t)d->esize);
    return true;
}

static int64_t strided_units(const void *desc)
{
    const krt_strided_desc *d = desc;
    view v;
    if (!strided_collapsed(d, &v))
        return 1;
    int64_t rows = strided_rows(&v, d->esize);
    return (v.dims[0] + rows - 1) / rows;
}

static krt_status strided_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                              krt_error *err)
{
    const krt_strided_desc *d = desc;
    view v;
    (void)scratch, (void)err;
    if (!strided_collapsed(d, &v))
        return KRT_OK;
    int64_t rows = strided_rows(&v, d->esize), lo = r.begin * rows;
    int64_t hi = r.end * rows < v.dims[0] ? r.end * rows : v.dims[0];
    if (lo >= hi)
        return KRT_OK;
    const char *src = (const char *)ops[0] + d->offset * d->esize + lo * v.ss[0];
    v.dims[0] = hi - lo;
    view_copy((char *)ops[1] + lo * v.ds[0], src, &v, (size_t)d->esize);
    return KRT_OK;
}

const krt_kernel_info krt_kernel_strided = {
    "strided", strided_run, NULL, strided_units, sizeof(krt_strided_desc),
};

static void view_init(krt_strided_desc *d, size_t esize, int rank, const int64_t *dims,
                      const int64_t *strides)
{
    memset(d, 0, sizeof *d);
    d->esize = (int64_t)esize;
    d->rank = rank;
    for (int k = 0; k < rank; k++)
        d->dims[k] = dims[k], d->strides[k] = strides[k];
}

void krt_view_transpose(krt_strided_desc *d, size_t esize, int rank, const int64_t *dims,
                        const int64_t *perm)
{
    int64_t in_strides[KRT_MAX_RANK], out_dims[KRT_MAX_RANK], ss[KRT_MAX_RANK];
    krt_strides(rank, dims, in_strides);
    for (int k = 0; k < rank; k++) {
        out_dims[k] = dims[perm[k]];
        ss[k] = in_strides[perm[k]];
    }
    view_init(d, esize, rank, out_dims, ss);
}

void krt_view_slice(krt_strided_desc *d, size_t esize, int rank, const int64_t *in_dims,
                    const int64_t *starts, const int64_t *steps, const int64_t *out_dims)
{
    int64_t in_strides[KRT_MAX_RANK], ss[KRT_MAX_RANK], off = 0;
    krt_strides(rank, in_dims, in_strides);
    for (int k = 0; k < rank; k++) {
        off += starts[k] * in_strides[k];
        ss[k] = in_strides[k] * steps[k];
    }
    view_init(d, esize, rank, out_dims, ss);
    d->offset = krt_numel(rank, out_dims) ? off : 0;  /* an empty slice reads nothing */
}

void krt_view_expand(krt_strided_desc *d, size_t esize, int rank, const int64_t *out_dims,
                     int in_rank, const int64_t *in_dims)
{
    int64_t in_strides[KRT_MAX_RANK], ss[KRT_MAX_RANK];
    krt_strides(in_rank, in_dims, in_strides);
    for (int k = 0; k < rank; k++) {
        int j = k - (rank - in_rank);
        ss[k] = j < 0 || in_dims[j] == 1 ? 0 : in_strides[j];
    }
    view_init(d, esize, rank, out_dims, ss);
}

/* The output seen as [rep0, d0, rep1, d1, ...]: the repeat dims read the
 * source with stride 0 (Y is dense over that view). */
void krt_view_tile(krt_strided_desc *d, size_t esize, int rank, const int64_t *in_dims,
                   const int64_t *repeats)
{
    int64_t in_strides[KRT_MAX_RANK], dims[KRT_VIEW_MAX_RANK], ss[KRT_VIEW_MAX_RANK];
    krt_strides(rank, in_dims, in_strides);
    for (int k = 0; k < rank; k++) {
        dims[2 * k] = repeats[k], ss[2 * k] = 0;
        dims[2 * k + 1] = in_dims[k], ss[2 * k + 1] = in_strides[k];
    }
    view_init(d, esize, 2 * rank, dims, ss);
}

void krt_view_depth_to_space(krt_strided_desc *d, size_t esize, const int64_t *dims, int64_t bs,
                             int crd)
{
    int64_t n = dims[0], c = dims[1] / (bs * bs), h = dims[2], w = dims[3], hw = h * w;
    /* output seen as [N, C', H, bs, W, bs] */
    int64_t out_dims[6] = {n, c, h, bs, w, bs};
    int64_t dcr[6] = {dims[1] * hw, hw, w, bs * c * hw, 1, c * hw};   /* input [N, bs, bs, C', H, W] */
    int64_t crdv[6] = {dims[1] * hw, bs * bs * hw, w, bs * hw, 1, hw}; /* input [N, C', bs, bs, H, W] */
    view_init(d, esize, 6, out_dims, crd ? crdv : dcr);
}

void krt_view_space_to_depth(krt_strided_desc *d, size_t esize, const int64_t *dims, int64_t bs)
{
    int64_t n = dims[0], c = dims[1], h = dims[2], w = dims[3];
    /* input seen as [N, C, H/bs, bs, W/bs, bs], output [N, bs, bs, C, H/bs, W/bs] */
    int64_t out_dims[6] = {n, bs, bs, c, h / bs, w / bs};
    int64_t ss[6] = {c * h * w, w, 1, h * w, bs * w, bs};
    view_init(d, esize, 6, out_dims, ss);
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

int64_t krt_slice_axis(int64_t dim, int64_t start, int64_t end, int64_t step, int64_t *first)
{
    start = start < 0 ? start + dim : start;  /* cannot overflow: dim >= 0 */
    end = end < 0 ? end + dim : end;
    int64_t n;
    if (step > 0) {
        start = clamp64(start, 0, dim);
        end = clamp64(end, 0, dim);
        n = end > start ? (end - start - 1) / step + 1 : 0;
    } else {
        start = clamp64(start, 0, dim - 1);
        end = clamp64(end, -1, dim - 1);
        /* start - end <= dim: a step beyond that takes one element (and
         * -step could overflow) */
        n = start <= end ? 0 : step < -dim ? 1 : (start - end - 1) / -step + 1;
    }
    *first = start;
    return n;
}

/* ---- kernels `concat` and `split` --------------------------------------------- */

static int64_t concat_units(const void *desc)
{
    const krt_concat_desc *d = desc;
    return d->outer * d->n > 0 ? d->outer * d->n : 1;
}

/* Unit u of a concat/split call: row o of part i, as the bytes at
 * `whole` (offset into the concatenated tensor) and `part` (into part i). */
static void concat_unit(const krt_concat_desc *d, const int64_t *starts, int64_t u,
                        int64_t *i, int64_t *whole, int64_t *part, size_t *run)
{
    int64_t o = u / d->n, es = d->esize;
    *i = u % d->n;
    *run = (size_t)(d->axis_dims[*i] * d->inner * es);
    *whole = ((o * d->total + starts[*i]) * d->inner) * es;
    *part = o * (int64_t)*run;
}

/* starts[i]: where part i begins along the axis. */
static void concat_starts(const krt_concat_desc *d, int64_t *starts)
{
    int64_t at = d->first;
    for (int i = 0; i < d->n; i++) {
        starts[i] = at;
        at += d->axis_dims[i];
    }
}

static krt_status concat_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                             krt_error *err)
{
    const krt_concat_desc *d = desc;
    int64_t starts[KRT_CONCAT_MAX_PARTS], units = d->outer * d->n;
    (void)scratch, (void)err;
    concat_starts(d, starts);
    for (int64_t u = r.begin; u < r.end && u < units; u++) {
        int64_t i, whole, part;
        size_t run;
        concat_unit(d, starts, u, &i, &whole, &part, &run);
        if (run)
            memcpy((char *)ops[d->n] + whole, (const char *)ops[i] + part, run);
    }
    return KRT_OK;
}

static krt_status split_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                            krt_error *err)
{
    const krt_concat_desc *d = desc;
    int64_t starts[KRT_CONCAT_MAX_PARTS], units = d->outer * d->n;
    (void)scratch, (void)err;
    concat_starts(d, starts);
    for (int64_t u = r.begin; u < r.end && u < units; u++) {
        int64_t i, whole, part;
        size_t run;
        concat_unit(d, starts, u, &i, &whole, &part, &run);
        if (run && ops[1 + i])
            memcpy((char *)ops[1 + i] + part, (const char *)ops[0] + whole, run);
    }
    return KRT_OK;
}

const krt_kernel_info krt_kernel_concat = {
    "concat", concat_run, NULL, concat_units, sizeof(krt_concat_desc),
};

const krt_kernel_info krt_kernel_split = {
    "split", split_run, NULL, concat_units, sizeof(krt_concat_desc),
};

/* ---- pad ------------------------------------------------------------------- */

/* Where position v (relative to the kept input, may be outside [0, n))
 * reads from, for n >= 1. */
static int64_t map_edge(int64_t v, int64_t n)
{
    return v < 0 ? 0 : v >= n ? n - 1 : v;
}

/* numpy "reflect": mirror on the first and last element, periodically. */
static int64_t map_reflect(int64_t v, int64_t n)
{
    if (n == 1)
        return 0;
    int64_t period = 2 * (n - 1), m = (v < 0 ? -v : v) % period;
    return m >= n ? period - m : m;
}

static int64_t (*const pad_maps[KRT_PAD_MODE_COUNT])(int64_t, int64_t) = {
    [KRT_PAD_REFLECT] = map_reflect,
    [KRT_PAD_EDGE] = map_edge,
};

typedef struct pad_geom {
    int rank;
    int64_t out[KRT_MAX_RANK];     /* output dims */
    int64_t os[KRT_MAX_RANK];      /* output strides */
    int64_t c0[KRT_MAX_RANK];      /* where the kept input starts in the output */
    int64_t n[KRT_MAX_RANK];       /* kept input extent */
} pad_geom;

/* Fill the pads of axis k by copying whole slabs (contiguous: every axis
 * after k) from inside the output, for each position of the axes before k
 * inside the kept region; the axes after k are complete there already. */
static void pad_axis(char *dst, const pad_geom *p, int k, size_t esize, int64_t (*map)(int64_t, int64_t))
{
    int64_t idx[KRT_MAX_RANK];
    size_t slab = (size_t)p->os[k] * esize;
    for (int j = 0; j < k; j++)
        idx[j] = p->c0[j];
    for (;;) {
        int64_t base = 0;
        for (int j = 0; j < k; j++)
            base += idx[j] * p->os[j];
        for (int64_t q = 0; q < p->out[k]; q++) {
            if (q == p->c0[k])
                q += p->n[k];
            if (q >= p->out[k])
                break;
            int64_t from = p->c0[k] + map(q - p->c0[k], p->n[k]);
            memcpy(dst + (size_t)(base + q * p->os[k]) * esize,
                   dst + (size_t)(base + from * p->os[k]) * esize, slab);
        }
        int j = k - 1;
        for (; j >= 0; j--) {
            if (++idx[j] < p->c0[j] + p->n[j])
                break;
            idx[j] = p->c0[j];
        }
        if (j < 0)
            return;
    }
}

static void fill_bytes(char *dst, size_t esize, int64_t n, const void *value)
{
    if (!value) {
        memset(dst, 0, (size_t)n * esize);
        return;
    }
    for (int64_t i = 0; i < n; i++)
        memcpy(dst + (size_t)i * esize, value, esize);
}

static krt_status pad(void *dst, const void *src, size_t esize, int rank, const int64_t *in_dims,
                      const int64_t *pads, krt_pad_mode mode, const void *value)
{
    pad_geom p = {.rank = rank};
    int64_t in_strides[KRT_MAX_RANK], src_off = 0, dst_off = 0;
    krt_strides(rank, in_dims, in_strides);
    for (int k = 0; k < rank; k++) {
        int64_t pb = pads[k], pe = pads[rank + k];
        p.out[k] = in_dims[k] + pb + pe;
        p.c0[k] = pb > 0 ? pb : 0;
        p.n[k] = in_dims[k] - (pb < 0 ? -pb : 0) - (pe < 0 ? -pe : 0);
        if (p.n[k] < 0 || p.out[k] < 0)
            return KRT_EVALUE;
        src_off += (pb < 0 ? -pb : 0) * in_strides[k];
    }
    krt_strides(rank, p.out, p.os);
    int64_t total = krt_numel(rank, p.out);
    if (total == 0)
        return KRT_OK;
    for (int k = 0; k < rank && mode != KRT_PAD_CONSTANT; k++)
        if (p.n[k] == 0)
            return KRT_EVALUE;  /* nothing to reflect or repeat */
    if (mode == KRT_PAD_CONSTANT)
        fill_bytes(dst, esize, total, value);
    for (int k = 0; k < rank; k++)
        dst_off += p.c0[k] * p.os[k];
    copy_strided((char *)dst + dst_off * (int64_t)esize, p.os,
                     (const char *)src + src_off * (int64_t)esize, in_strides, esize, rank, p.n);
    for (int k = rank - 1; k >= 0 && mode != KRT_PAD_CONSTANT; k--)
        pad_axis(dst, &p, k, esize, pad_maps[mode]);
    return KRT_OK;
}

static krt_status pad_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                          krt_error *err)
{
    const krt_pad_desc *d = desc;
    (void)scratch, (void)r;
    if ((unsigned)d->mode >= KRT_PAD_MODE_COUNT)
        return KRT_EDTYPE;
    krt_status st = pad(ops[2], ops[0], (size_t)d->esize, d->rank, d->in, d->pads, d->mode, ops[1]);
    if (st == KRT_EVALUE)
        err->what = "edge/reflect padding of an axis left empty by negative pads";
    return st;
}

const krt_kernel_info krt_kernel_pad = {
    "pad", pad_run, NULL, NULL, sizeof(krt_pad_desc),
};

/* ---- kernels `trilu` and `reverse_sequence` ------------------------------------- */

static int64_t trilu_units(const void *desc)
{
    const krt_trilu_desc *d = desc;
    return d->batch > 0 ? d->batch : 1;
}

/* Matrices [b0, b1). */
static void trilu(const krt_trilu_desc *d, const char *src, char *dst, int64_t k, int64_t b0,
                  int64_t b1)
{
    int64_t rows = d->rows, cols = d->cols, es = d->esize, mat = rows * cols * es;
    if (dst != src && b1 > b0 && mat)
        memcpy(dst + b0 * mat, src + b0 * mat, (size_t)((b1 - b0) * mat));
    /* clamped so that i + k cannot overflow */
    k = k < -rows - 1 ? -rows - 1 : k > cols + 1 ? cols + 1 : k;
    for (int64_t b = b0; b < b1; b++)
        for (int64_t i = 0; i < rows; i++) {
            char *row = dst + ((b * rows + i) * cols) * es;
            int64_t lo = d->upper ? 0 : i + k + 1, hi = d->upper ? i + k : cols;
            lo = lo < 0 ? 0 : lo;
            hi = hi > cols ? cols : hi;
            if (hi > lo)
                memset(row + lo * es, 0, (size_t)((hi - lo) * es));
        }
}

static krt_status trilu_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                            krt_error *err)
{
    const krt_trilu_desc *d = desc;
    (void)scratch, (void)err;
    trilu(d, ops[0], ops[2], ops[1] ? *(const int64_t *)ops[1] : 0, r.begin,
          r.end < d->batch ? r.end : d->batch);
    return KRT_OK;
}

const krt_kernel_info krt_kernel_trilu = {
    "trilu", trilu_run, NULL, trilu_units, sizeof(krt_trilu_desc),
};

static krt_status reverse_sequence_run(const void *desc, void *const *ops, void *scratch,
                                       krt_span r, krt_error *err)
{
    const krt_reverse_sequence_desc *d = desc;
    const int64_t *lens = ops[1];
    int64_t T = d->time_axis == 0 ? d->d0 : d->d1, B = d->time_axis == 0 ? d->d1 : d->d0;
    int64_t ts = d->time_axis == 0 ? d->d1 * d->inner : d->inner;
    int64_t bstr = d->time_axis == 0 ? d->inner : d->d1 * d->inner, es = d->esize;
    size_t run = (size_t)(d->inner * es);
    (void)scratch, (void)r;
    for (int64_t b = 0; b < B; b++)
        if (lens[b] < 0 || lens[b] > T) {
            *err = (krt_error){.operand = 1, .value = lens[b], .lo = 0, .hi = T + 1, .pos = b};
            return KRT_EINDEX;
        }
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++) {
            int64_t from = t < lens[b] ? lens[b] - 1 - t : t;
            if (run)
                memcpy((char *)ops[2] + (b * bstr + t * ts) * es,
                       (const char *)ops[0] + (b * bstr + from * ts) * es, run);
        }
    return KRT_OK;
}

const krt_kernel_info krt_kernel_reverse_sequence = {
    "reverse_sequence", reverse_sequence_run, NULL, NULL, sizeof(krt_reverse_sequence_desc),
};
