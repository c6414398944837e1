/* krt_reduce_einsum.c — kernel `einsum` (with the equation parser, and a
 * general evaluation by loops over the label space) and kernel `det` (LU
 * with partial pivoting).
 *
 * Parsing turns an equation such as "...ij,jk->...ik" into a label per
 * input axis, numbering the output's labels first (0 .. out_rank-1, in
 * output order) and the summed ones after. Ellipsis dims are labels too,
 * aligned right across inputs as numpy broadcasting does. A label's size is
 * the one of its dims that is not 1 (dims of size 1 broadcast), and a label
 * repeated inside one input walks its diagonal (the strides add up).
 *
 * Evaluation visits every output element and, inside, every combination of
 * the summed labels, with the last summed label as the innermost strided
 * loop: O(output x summed) like the definition. A backend that meets a
 * matmul-shaped einsum should lower it to MatMul instead.
 */
#define KRT_REDUCE_SOURCE
#include "runtime/krt_reduce.h"

#include <math.h>

/* Letters: 'A'-'Z' are 0-25 and 'a'-'z' 26-51 (ASCII order, as numpy sorts
 * implicit outputs); ellipsis dim e is 52 + e. */
enum { ELL0 = 52, NTEMP = 52 + KRT_MAX_RANK };

typedef struct term {
    int n;   /* letters */
    int ell; /* index among letters where "..." stands; -1: none */
    int8_t code[KRT_MAX_RANK];
} term;

static int letter_code(char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    return ch >= 'a' && ch <= 'z' ? 26 + ch - 'a' : -1;
}

/* One term: s[0..len) with letters, at most one "...", spaces ignored. */
static const char *parse_term(const char *s, size_t len, term *t)
{
    *t = (term){.ell = -1};
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ' ')
            continue;
        if (s[i] == '.') {
            if (i + 2 >= len || s[i + 1] != '.' || s[i + 2] != '.')
                return "a '.' that is not part of an ellipsis '...'";
            if (t->ell >= 0)
                return "two ellipses in one term";
            t->ell = t->n;
            i += 2;
            continue;
        }
        int c = letter_code(s[i]);
        if (c < 0)
            return "a character that is not a letter, ',', '->', '...' or a space";
        if (t->n >= KRT_MAX_RANK)
            return "a term with more than 8 letters";
        t->code[t->n++] = (int8_t)c;
    }
    return NULL;
}

/* The input terms: split lhs at ','; check each against its rank. */
static const char *parse_inputs(const char *lhs, size_t len, int n_in, const int *ranks,
                                term *terms, int *n_ell)
{
    int k = 0;
    size_t start = 0;
    *n_ell = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && lhs[i] != ',')
            continue;
        if (k >= n_in)
            return "more terms than inputs";
        const char *why = parse_term(lhs + start, i - start, &terms[k]);
        if (why)
            return why;
        int extra = ranks[k] - terms[k].n;
        if (terms[k].ell < 0 ? extra != 0 : extra < 0)
            return "a term whose letters do not match its input's rank";
        if (terms[k].ell >= 0 && extra > *n_ell)
            *n_ell = extra;
        k++;
        start = i + 1;
    }
    return k == n_in ? NULL : "fewer terms than inputs";
}

/* Temporary label (letter code or ELL0 + e) of axis a of input term t. */
static int temp_label(const term *t, int rank, int n_ell, int a)
{
    int extra = rank - t->n;
    if (t->ell < 0 || a < t->ell)
        return t->code[a];
    if (a < t->ell + extra)
        return ELL0 + n_ell - extra + (a - t->ell);
    return t->code[a - extra];
}

/* Output temp labels, explicit (rhs given) or implicit. */
static const char *output_labels(const char *rhs, size_t len, int n_ell, const int *count, int *out,
                                 int *out_rank)
{
    term t;
    int n = 0;
    if (!rhs) {
        for (int e = 0; e < n_ell; e++)
            out[n++] = ELL0 + e;
        for (int c = 0; c < ELL0; c++)
            if (count[c] == 1)
                out[n++] = c;
    } else {
        const char *why = parse_term(rhs, len, &t);
        if (why)
            return why;
        for (int a = 0; a < t.n + (t.ell >= 0 ? n_ell : 0); a++)
            out[n++] = temp_label(&t, t.n + (t.ell >= 0 ? n_ell : 0), n_ell, a);
    }
    for (int a = 0; a < n; a++) {
        if (out[a] < ELL0 && count[out[a]] == 0)
            return "an output letter that no input has";
        for (int b = 0; b < a; b++)
            if (out[b] == out[a])
                return "an output letter repeated";
    }
    if (n > KRT_MAX_RANK)
        return "an output of rank above 8";
    *out_rank = n;
    return NULL;
}

/* Number the labels: output ones first, then the summed ones in order of
 * first appearance. */
static void number_labels(krt_einsum_spec *s, const term *terms, const int *ranks, int n_ell,
                          const int *out)
{
    int8_t map[NTEMP];
    memset(map, -1, sizeof map);
    s->n_labels = 0;
    for (int a = 0; a < s->out_rank; a++)
        map[out[a]] = (int8_t)s->n_labels++;
    for (int i = 0; i < s->n_in; i++)
        for (int a = 0; a < ranks[i]; a++) {
            int tl = temp_label(&terms[i], ranks[i], n_ell, a);
            if (map[tl] < 0)
                map[tl] = (int8_t)s->n_labels++;
            s->in_label[i][a] = map[tl];
        }
}

krt_status krt_einsum_parse(const char *equation, int n_in, const int *ranks, krt_einsum_spec *spec,
                            const char **why)
{
    term terms[KRT_EINSUM_MAX_INPUTS];
    int count[NTEMP] = {0}, out[NTEMP], n_ell = 0;
    const char *arrow = strstr(equation, "->");
    size_t lhs_len = arrow ? (size_t)(arrow - equation) : strlen(equation);
    *spec = (krt_einsum_spec){.n_in = n_in};
    *why = n_in < 1 || n_in > KRT_EINSUM_MAX_INPUTS ? "too many inputs (at most 16)" : NULL;
    for (int i = 0; !*why && i < n_in; i++)
        if (ranks[i] < 0 || ranks[i] > KRT_MAX_RANK)
            *why = "an input of rank above 8";
    if (!*why)
        *why = parse_inputs(equation, lhs_len, n_in, ranks, terms, &n_ell);
    for (int i = 0; !*why && i < n_in; i++)
        for (int a = 0; a < terms[i].n; a++)
            count[terms[i].code[a]]++;
    if (!*why)
        *why = output_labels(arrow ? arrow + 2 : NULL, arrow ? strlen(arrow + 2) : 0, n_ell, count,
                             out, &spec->out_rank);
    if (*why)
        return KRT_EVALUE;
    for (int i = 0; i < n_in; i++)
        spec->in_rank[i] = ranks[i];
    number_labels(spec, terms, ranks, n_ell, out);
    return KRT_OK;
}

krt_status krt_einsum_sizes(const krt_einsum_spec *spec, const int64_t *const *in_dims,
                            int64_t *sizes, int *bad_label)
{
    for (int l = 0; l < spec->n_labels; l++)
        sizes[l] = -1;
    for (int i = 0; i < spec->n_in; i++)
        for (int a = 0; a < spec->in_rank[i]; a++) {
            int l = spec->in_label[i][a];
            int64_t d = in_dims[i][a];
            if (sizes[l] < 0 || sizes[l] == 1)
                sizes[l] = d;
            else if (d != 1 && d != sizes[l]) {
                *bad_label = l;
                return KRT_EVALUE;
            }
        }
    return KRT_OK;
}

/* ---- evaluation -------------------------------------------------------------- */

typedef struct ein_plan {
    int n_in, out_rank, n_labels;
    int64_t size[KRT_EINSUM_MAX_LABELS];
    int64_t stride[KRT_EINSUM_MAX_INPUTS][KRT_EINSUM_MAX_LABELS]; /* per input, per label */
    int64_t out_numel;
    int64_t inner;     /* size of the innermost summed label (1 if none) */
    int64_t outer_sum; /* combinations of the other summed labels */
} ein_plan;

static krt_status make_ein_plan(const krt_einsum_spec *s, const int64_t *const *in_dims,
                                ein_plan *p)
{
    int bad;
    *p = (ein_plan){.n_in = s->n_in,
                    .out_rank = s->out_rank,
                    .n_labels = s->n_labels,
                    .out_numel = 1,
                    .inner = 1,
                    .outer_sum = 1};
    if (krt_einsum_sizes(s, in_dims, p->size, &bad))
        return KRT_EVALUE;
    for (int i = 0; i < s->n_in; i++) {
        int64_t st[KRT_MAX_RANK];
        krt_strides(s->in_rank[i], in_dims[i], st);
        for (int a = 0; a < s->in_rank[i]; a++)
            if (in_dims[i][a] != 1) /* size-1 dims broadcast: stride 0 */
                p->stride[i][s->in_label[i][a]] += st[a];
    }
    for (int l = 0; l < s->n_labels; l++) {
        if (l < s->out_rank)
            p->out_numel *= p->size[l];
        else if (l == s->n_labels - 1)
            p->inner = p->size[l]; /* the innermost summed label */
        else
            p->outer_sum *= p->size[l];
    }
    return KRT_OK;
}

/* Odometer over labels [lo, hi): advance idx and the inputs' offsets. */
static void step(const ein_plan *p, int lo, int hi, int64_t *idx, int64_t *off)
{
    for (int l = hi - 1; l >= lo; l--) {
        for (int i = 0; i < p->n_in; i++)
            off[i] += p->stride[i][l];
        if (++idx[l] < p->size[l])
            return;
        for (int i = 0; i < p->n_in; i++)
            off[i] -= p->stride[i][l] * p->size[l];
        idx[l] = 0;
    }
}

/* X(sfx, ENUM, storage T, accumulator A, LD, ST) */
#define EINSUM_TYPES(X)                                                                            \
    X(f32, F32, float, double, KRT_LD_CAST, KRT_ST_CAST)                                           \
    X(f64, F64, double, double, KRT_LD_CAST, KRT_ST_CAST)                                          \
    X(f16, F16, uint16_t, double, KRT_LD_F16, KRT_ST_F16)                                          \
    X(i32, I32, int32_t, int64_t, KRT_LD_CAST, KRT_ST_CAST)                                        \
    X(i64, I64, int64_t, int64_t, KRT_LD_CAST, KRT_ST_CAST)                                        \
    X(u32, U32, uint32_t, uint64_t, KRT_LD_CAST, KRT_ST_CAST)                                      \
    X(u64, U64, uint64_t, uint64_t, KRT_LD_CAST, KRT_ST_CAST)

#define DEFINE_EINSUM(sfx, E, T, A, LD, ST)                                                        \
    static void einsum_##sfx(const ein_plan *p, const void *const *inv, void *outv)                \
    {                                                                                              \
        const T *in[KRT_EINSUM_MAX_INPUTS];                                                        \
        int64_t idx[KRT_EINSUM_MAX_LABELS] = {0}, off[KRT_EINSUM_MAX_INPUTS] = {0};                \
        int64_t is[KRT_EINSUM_MAX_INPUTS];                                                         \
        int last = p->n_labels - 1;                                                                \
        T *out = outv;                                                                             \
        for (int i = 0; i < p->n_in; i++) {                                                        \
            in[i] = inv[i];                                                                        \
            is[i] = last >= p->out_rank ? p->stride[i][last] : 0;                                  \
        }                                                                                          \
        for (int64_t o = 0; o < p->out_numel; o++) {                                               \
            int64_t sidx[KRT_EINSUM_MAX_LABELS] = {0}, soff[KRT_EINSUM_MAX_INPUTS];                \
            A acc = 0;                                                                             \
            memcpy(soff, off, sizeof soff);                                                        \
            for (int64_t s = 0; s < p->outer_sum; s++) {                                           \
                for (int64_t t = 0; t < p->inner; t++) {                                           \
                    A prod = 1;                                                                    \
                    for (int i = 0; i < p->n_in; i++)                                              \
                        prod *= LD(A, in[i][soff[i] + t * is[i]]);                                 \
                    acc += prod;                                                                   \
                }                                                                                  \
                step(p, p->out_rank, last, sidx, soff);                                            \
            }                                                                                      \
            out[o] = ST(T, acc);                                                                   \
            step(p, 0, p->out_rank, idx, off);                                                     \
        }                                                                                          \
    }

EINSUM_TYPES(DEFINE_EINSUM)

typedef void (*einsum_fn)(const ein_plan *p, const void *const *in, void *out);
#define EINSUM_ENTRY(sfx, E, ...) [KRT_##E] = einsum_##sfx,
static const einsum_fn einsum_fns[KRT_DTYPE_COUNT] = {EINSUM_TYPES(EINSUM_ENTRY)};

/* ---- kernel `einsum` ----------------------------------------------------------- */

static bool einsum_spec_ok(const krt_einsum_spec *s)
{
    bool ok = s->n_in >= 1 && s->n_in <= KRT_EINSUM_MAX_INPUTS && s->out_rank >= 0 &&
              s->out_rank <= KRT_MAX_RANK && s->n_labels >= s->out_rank &&
              s->n_labels <= KRT_EINSUM_MAX_LABELS;
    for (int i = 0; ok && i < s->n_in; i++) {
        ok = s->in_rank[i] >= 0 && s->in_rank[i] <= KRT_MAX_RANK;
        for (int a = 0; ok && a < s->in_rank[i]; a++)
            ok = s->in_label[i][a] >= 0 && s->in_label[i][a] < s->n_labels;
    }
    return ok;
}

static krt_status einsum_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                             krt_error *err)
{
    const krt_einsum_desc *d = desc;
    const int64_t *dims[KRT_EINSUM_MAX_INPUTS];
    ein_plan p;
    if ((unsigned)d->dt >= KRT_DTYPE_COUNT || !einsum_fns[d->dt])
        return KRT_EDTYPE;
    for (int i = 0; i < KRT_EINSUM_MAX_INPUTS; i++)
        dims[i] = d->in_dims[i];
    if (!einsum_spec_ok(&d->spec) || make_ein_plan(&d->spec, dims, &p)) {
        err->what = "an einsum whose input dims do not fit its equation";
        return KRT_EVALUE;
    }
    if (r.end <= r.begin)
        return KRT_OK;
    if (p.inner == 0) /* an empty summed label: sums of nothing */
        p.outer_sum = 0;
    einsum_fns[d->dt](&p, (const void *const *)ops, ops[d->spec.n_in]);
    return KRT_OK;
}

const krt_kernel_info krt_kernel_einsum = {
    "einsum", einsum_run, NULL, NULL, sizeof(krt_einsum_desc),
};

/* ---- Det ----------------------------------------------------------------------- */

/* Determinant of the m x m matrix in a (destroyed), by Gaussian elimination
 * with partial pivoting. */
static double lu_det(double *a, int64_t m)
{
    double det = 1;
    for (int64_t k = 0; k < m; k++) {
        int64_t piv = k;
        for (int64_t r = k + 1; r < m; r++)
            if (fabs(a[r * m + k]) > fabs(a[piv * m + k]))
                piv = r;
        if (a[piv * m + k] == 0)
            return 0;
        if (piv != k) {
            for (int64_t c = k; c < m; c++) {
                double t = a[k * m + c];
                a[k * m + c] = a[piv * m + c];
                a[piv * m + c] = t;
            }
            det = -det;
        }
        det *= a[k * m + k];
        for (int64_t r = k + 1; r < m; r++) {
            double f = a[r * m + k] / a[k * m + k];
            for (int64_t c = k + 1; c < m; c++)
                a[r * m + c] -= f * a[k * m + c];
        }
    }
    return det;
}

/* ---- kernel `det` ----------------------------------------------------------------- */

static size_t det_scratch(const void *desc)
{
    const krt_det_desc *d = desc;
    return (size_t)(d->m > 0 ? d->m * d->m : 1) * sizeof(double);
}

static int64_t det_units(const void *desc)
{
    const krt_det_desc *d = desc;
    return krt_row_units(d->batch, d->m * d->m);
}

static krt_status det_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                          krt_error *err)
{
    const krt_det_desc *d = desc;
    double *a = scratch;
    int64_t first, end, mm = d->m * d->m;
    if (d->dt != KRT_F32 && d->dt != KRT_F64 && d->dt != KRT_F16 && d->dt != KRT_BF16)
        return KRT_EDTYPE;
    krt_unit_rows(r, d->batch, mm, &first, &end);
    for (int64_t b = first; b < end; b++) {
        for (int64_t i = 0; i < mm; i++)
            a[i] = krt_load_f64(d->dt, ops[0], b * mm + i);
        krt_store_f64(d->dt, ops[1], b, lu_det(a, d->m));
    }
    return KRT_OK;
}

const krt_kernel_info krt_kernel_det = {
    "det", det_run, det_scratch, det_units, sizeof(krt_det_desc),
};
