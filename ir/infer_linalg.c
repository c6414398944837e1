/* infer_linalg.c — shape and dtype inference for the linalg family:
 * matrix products, convolutions, pools, recurrent cells, Resize and the
 * samplers, in the canonical forms of docs/canonical-forms.md.
 *
 * The ops with windows and attributes go through the node readers of
 * ir/infer_linalg.h, which validate everything once and produce both the
 * output shape and the runtime descriptor the interpreter hands to the
 * kernel: inference and evaluation cannot disagree on a pad or a stride.
 * Dims that are symbolic (or depend on data not known yet) come out as
 * fresh unknown dims; nothing is guessed. Every error names the node.
 */
#include "ir/infer_linalg.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ===== dtype sets ========================================================= */

#define DT(x) (1u << KILN_DT_##x)
enum {
    T_FLOAT = DT(F16) | DT(F32) | DT(F64),
    T_MATMUL = T_FLOAT | DT(BF16) | DT(I32) | DT(I64) | DT(U32) | DT(U64),
    T_MAXPOOL = T_FLOAT | DT(I8) | DT(U8),
    T_Q8 = DT(I8) | DT(U8),
    T_ANY = ((1u << KILN_DT_COUNT) - 1) & ~1u,
};

static const char *mask_text(uint32_t mask, char *buf, size_t size)
{
    size_t at = 0;
    buf[0] = 0;
    for (int dt = 1; dt < KILN_DT_COUNT && at < size; dt++)
        if (mask >> dt & 1)
            at += (size_t)snprintf(buf + at, size - at, "%s%s", at ? ", " : "",
                                   kiln_dtype_name((kiln_dtype)dt));
    return buf;
}

/* Input i (when present) must have a dtype in mask. */
static kiln_status check_dtype(kiln_infer *c, uint32_t i, uint32_t mask)
{
    kiln_value *v = kiln_infer_in(c, i);
    char allowed[160];
    if (!v || (mask >> v->dtype & 1))
        return KILN_OK;
    return kiln_infer_fail(c, "input %u ('%s') has dtype %s, need one of %s", i, v->name,
                           kiln_dtype_name(v->dtype), mask_text(mask, allowed, sizeof allowed));
}

/* Input i (when present) must have the dtype of input j. */
static kiln_status check_same_dtype(kiln_infer *c, uint32_t i, uint32_t j)
{
    kiln_value *a = kiln_infer_in(c, i), *b = kiln_infer_in(c, j);
    if (!a || !b || a->dtype == b->dtype)
        return KILN_OK;
    return kiln_infer_fail(c, "input %u ('%s') has dtype %s, input %u ('%s') has %s: they must match",
                           i, a->name, kiln_dtype_name(a->dtype), j, b->name,
                           kiln_dtype_name(b->dtype));
}

/* ===== shapes ============================================================= */

static bool known(kiln_dim d) { return !KILN_DIM_IS_SYM(d); }

/* Input i must exist with a rank in [lo, hi]. */
static kiln_status need_rank(kiln_infer *c, uint32_t i, int lo, int hi, kiln_value **v)
{
    kiln_status st = kiln_infer_need(c, i, v);
    if (st)
        return st;
    int r = (*v)->shape.rank;
    if (r >= lo && r <= hi)
        return KILN_OK;
    if (lo == hi)
        return kiln_infer_fail(c, "input %u ('%s') has rank %d, need %d", i, (*v)->name, r, lo);
    return kiln_infer_fail(c, "input %u ('%s') has rank %d, need %d to %d", i, (*v)->name, r, lo, hi);
}

/* A present input i must have shape `want` wherever both dims are known. */
static kiln_status check_shape(kiln_infer *c, uint32_t i, const kiln_shape *want)
{
    kiln_value *v = kiln_infer_in(c, i);
    char got[256], exp[256];
    if (!v || v->shape.rank < 0)
        return KILN_OK;
    bool ok = v->shape.rank == want->rank;
    for (int k = 0; ok && k < want->rank; k++)
        ok = !known(v->shape.dim[k]) || !known(want->dim[k]) || v->shape.dim[k] == want->dim[k];
    if (ok)
        return KILN_OK;
    return kiln_infer_fail(c, "input %u ('%s') has shape %s, expected %s", i, v->name,
                           kiln_shape_format(c->g, &v->shape, got, sizeof got),
                           kiln_shape_format(c->g, want, exp, sizeof exp));
}

static kiln_shape shape_of(int rank, const kiln_dim *dims)
{
    kiln_shape s = {.rank = rank};
    for (int i = 0; i < rank; i++)
        s.dim[i] = dims[i];
    return s;
}

/* (N, C, ...) of the given rank; the spatial dims are filled by the caller. */
static kiln_shape batch_channels(int rank, kiln_dim n, kiln_dim c)
{
    kiln_shape s = {.rank = rank};
    s.dim[0] = n;
    s.dim[1] = c;
    return s;
}

/* a * b for dims, unknown when either is. */
static kiln_dim dim_mul(kiln_infer *c, kiln_dim a, kiln_dim b)
{
    int64_t r;
    if (known(a) && known(b) && kiln_mul_size(a, b, &r))
        return r;
    return kiln_infer_unknown_dim(c);
}

/* A zero point or scale input: scalar, or 1-D with 1 or `per` elements. */
static kiln_status check_param(kiln_infer *c, uint32_t i, kiln_dim per, const char *what)
{
    kiln_value *v = kiln_infer_in(c, i);
    if (!v || v->shape.rank < 0 || v->shape.rank == 0)
        return KILN_OK;
    kiln_dim n = v->shape.dim[0];
    if (v->shape.rank == 1 && (!known(n) || n == 1 || !known(per) || n == per))
        return KILN_OK;
    char s[256];
    return kiln_infer_fail(c, "input %u ('%s') has shape %s; a %s must be a scalar or have %lld elements",
                           i, v->name, kiln_shape_format(c->g, &v->shape, s, sizeof s), what,
                           (long long)per);
}

/* ===== attributes ========================================================= */

static const char *const kind_names[KILN_ATTR_KIND_COUNT] = {
    [KILN_ATTR_INT] = "an int", [KILN_ATTR_FLOAT] = "a float", [KILN_ATTR_STRING] = "a string",
    [KILN_ATTR_INTS] = "a list of ints", [KILN_ATTR_FLOATS] = "a list of floats",
    [KILN_ATTR_STRINGS] = "a list of strings", [KILN_ATTR_TENSOR] = "a tensor",
};

/* The attribute if present; an error if it is present with another kind. */
static kiln_status find_attr(kiln_infer *c, const char *name, kiln_attr_kind kind,
                             const kiln_attr **a)
{
    *a = kiln_attr_find(c->g, c->n, name);
    if (*a && (*a)->kind != kind)
        return kiln_infer_fail(c, "attribute '%s' must be %s, not %s", name, kind_names[kind],
                               kind_names[(*a)->kind]);
    return KILN_OK;
}

static kiln_status get_int(kiln_infer *c, const char *name, int64_t dflt, int64_t lo, int64_t hi,
                           int64_t *out)
{
    const kiln_attr *a;
    kiln_status st = find_attr(c, name, KILN_ATTR_INT, &a);
    *out = a ? a->u.i : dflt;
    if (st || !a || (*out >= lo && *out <= hi))
        return st;
    return kiln_infer_fail(c, "attribute '%s' is %lld, need %lld to %lld", name, (long long)*out,
                           (long long)lo, (long long)hi);
}

static kiln_status get_flag(kiln_infer *c, const char *name, int *out)
{
    int64_t v;
    kiln_status st = get_int(c, name, 0, 0, 1, &v);
    *out = (int)v;
    return st;
}

static kiln_status get_float(kiln_infer *c, const char *name, float dflt, float *out)
{
    const kiln_attr *a;
    kiln_status st = find_attr(c, name, KILN_ATTR_FLOAT, &a);
    *out = a ? a->u.f : dflt;
    return st;
}

/* Window attributes are bounded so that the geometry cannot overflow. */
#define ATTR_MAX ((int64_t)1 << 31)

/* An ints attribute of exactly n values, each in [lo, 2^31]; *present says if given. */
static kiln_status get_ints(kiln_infer *c, const char *name, uint32_t n, int64_t lo, int64_t *out,
                            bool *present)
{
    const kiln_attr *a;
    kiln_status st = find_attr(c, name, KILN_ATTR_INTS, &a);
    *present = a != NULL;
    if (st || !a)
        return st;
    if (a->n != n)
        return kiln_infer_fail(c, "attribute '%s' has %u values, need %u", name, a->n, n);
    for (uint32_t i = 0; i < n; i++) {
        if (a->u.ints[i] < lo || a->u.ints[i] > ATTR_MAX)
            return kiln_infer_fail(c, "attribute '%s' has %lld at position %u, need %lld to 2^31",
                                   name, (long long)a->u.ints[i], i, (long long)lo);
        out[i] = a->u.ints[i];
    }
    return KILN_OK;
}

/* A string attribute that must be one of names[0..n); dflt when absent. */
static kiln_status get_enum(kiln_infer *c, const char *name, const char *const *names, int n,
                            int dflt, int *out)
{
    const kiln_attr *a;
    kiln_status st = find_attr(c, name, KILN_ATTR_STRING, &a);
    *out = dflt;
    if (st || !a)
        return st;
    for (int i = 0; i < n; i++)
        if (strcmp(a->u.s, names[i]) == 0) {
            *out = i;
            return KILN_OK;
        }
    char list[256];
    size_t at = 0;
    for (int i = 0; i < n && at < sizeof list; i++)
        at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", i ? ", " : "", names[i]);
    return kiln_infer_fail(c, "attribute '%s' is '%s', need one of %s", name, a->u.s, list);
}

/* ===== MatMul, Gemm and the quantized products ============================ */

static kiln_dim rows_of(const kiln_shape *a) { return a->rank >= 2 ? a->dim[a->rank - 2] : 1; }
static kiln_dim cols_of(const kiln_shape *b) { return b->rank >= 2 ? b->dim[b->rank - 1] : 1; }

/* numpy matmul: broadcast batch dims, then (M, N) minus the 1-D operands' dims. */
static kiln_status matmul_shape(kiln_infer *c, const kiln_shape *a, const kiln_shape *b,
                                kiln_shape *y)
{
    kiln_dim ka = a->dim[a->rank - 1], kb = b->rank == 1 ? b->dim[0] : b->dim[b->rank - 2];
    if (known(ka) && known(kb) && ka != kb)
        return kiln_infer_fail(c, "inner dimensions differ: input 0 has K = %lld, input 1 has %lld",
                               (long long)ka, (long long)kb);
    kiln_shape ba = shape_of(a->rank > 2 ? a->rank - 2 : 0, a->dim);
    kiln_shape bb = shape_of(b->rank > 2 ? b->rank - 2 : 0, b->dim);
    kiln_status st = kiln_infer_broadcast(c, &ba, &bb, y);
    if (st)
        return st;
    if (a->rank >= 2)
        y->dim[y->rank++] = a->dim[a->rank - 2];
    if (b->rank >= 2)
        y->dim[y->rank++] = b->dim[b->rank - 1];
    return KILN_OK;
}

/* Both operands present with rank >= 1 (a at input ia, b at ib). */
static kiln_status matmul_operands(kiln_infer *c, uint32_t ia, uint32_t ib, kiln_value **a,
                                   kiln_value **b)
{
    kiln_status st = need_rank(c, ia, 1, KILN_MAX_RANK, a);
    return st ? st : need_rank(c, ib, 1, KILN_MAX_RANK, b);
}

static kiln_status infer_matmul(kiln_infer *c)
{
    kiln_value *a, *b;
    kiln_shape y;
    kiln_status st = matmul_operands(c, 0, 1, &a, &b);
    if (!st)
        st = check_dtype(c, 0, T_MATMUL);
    if (!st)
        st = check_same_dtype(c, 1, 0);
    if (!st)
        st = matmul_shape(c, &a->shape, &b->shape, &y);
    if (!st)
        kiln_infer_set(c, 0, a->dtype, &y);
    return st;
}

/* kiln.FusedMatMul(A, B, bias?, residual?) {activation, lo, hi}: a MatMul
 * with the epilogue the fuse-epilogue pass folded into it, f32 only:
 * Y = act(A @ B + bias) + residual, bias [N], residual of Y's shape.
 * The activation names, in krt_gemm_act order. */
static const char *const fused_acts[KRT_GEMM_ACT_COUNT] = {
    [KRT_GEMM_ACT_NONE] = "none", [KRT_GEMM_ACT_RELU] = "relu", [KRT_GEMM_ACT_CLIP] = "clip",
    [KRT_GEMM_ACT_GELU_ERF] = "gelu", [KRT_GEMM_ACT_GELU_TANH] = "gelu_tanh",
    [KRT_GEMM_ACT_SIGMOID] = "sigmoid", [KRT_GEMM_ACT_SILU] = "silu",
    [KRT_GEMM_ACT_HARDSWISH] = "hardswish",
};

const char *kiln_fused_act_name(krt_gemm_act act)
{
    return (unsigned)act < KRT_GEMM_ACT_COUNT ? fused_acts[act] : NULL;
}

/* B packed by the pack-weights pass {packed_nr, packed_kc, packed_n}: a
 * 1-D constant of krt_sgemm_packed_numel(n, K, nr) floats standing for a
 * K x n matrix (K from A). *bs is B's shape as a matrix: its own when not
 * packed, [K, n] when packed. */
static kiln_status packed_b(kiln_infer *c, const kiln_value *a, const kiln_value *b,
                            krt_matmul_epi_desc *d, kiln_shape *bs)
{
    int64_t nr, kc, n;
    kiln_status st = get_int(c, "packed_nr", 0, 0, 64, &nr);
    if (!st) st = get_int(c, "packed_kc", 0, 0, INT32_MAX, &kc);
    if (!st) st = get_int(c, "packed_n", 0, 0, INT64_MAX / 2, &n);
    if (st)
        return st;
    *bs = b->shape;
    if (nr == 0)
        return KILN_OK;
    kiln_dim k = a->shape.dim[a->shape.rank - 1];
    if (kc <= 0 || n <= 0 || b->shape.rank != 1)
        return kiln_infer_fail(c, "packed B (packed_nr = %lld) needs packed_kc and packed_n > 0 and "
                               "a 1-D input 1", (long long)nr);
    if (known(k) && known(b->shape.dim[0]) && b->shape.dim[0] != krt_sgemm_packed_numel(n, k, (int)nr))
        return kiln_infer_fail(c, "packed B has %lld elements, a %lld x %lld matrix in panels of %lld "
                               "columns has %lld", (long long)b->shape.dim[0], (long long)k,
                               (long long)n, (long long)nr,
                               (long long)krt_sgemm_packed_numel(n, k, (int)nr));
    d->b_nr = (int32_t)nr, d->b_kc = (int32_t)kc;
    *bs = shape_of(2, (const kiln_dim[]){k, n});
    return KILN_OK;
}

/* The epilogue attributes of kiln.FusedMatMul and kiln.FusedConv:
 * activation (a fused_acts name), and lo / hi for "clip". */
static kiln_status fused_activation(kiln_infer *c, int *act, float *lo, float *hi)
{
    kiln_status st = get_enum(c, "activation", fused_acts, KRT_GEMM_ACT_COUNT, 0, act);
    if (!st) st = get_float(c, "lo", -INFINITY, lo);
    if (!st) st = get_float(c, "hi", INFINITY, hi);
    return st;
}

kiln_status kiln_linalg_fused_matmul(kiln_infer *c, krt_matmul_epi_desc *d, kiln_shape *y,
                                     kiln_shape *b_matrix)
{
    kiln_value *a, *b;
    int act = 0;
    kiln_status st = matmul_operands(c, 0, 1, &a, &b);
    if (!st) st = check_dtype(c, 0, DT(F32));
    if (!st) st = check_same_dtype(c, 1, 0);
    if (!st) st = check_same_dtype(c, 2, 0);
    if (!st) st = check_same_dtype(c, 3, 0);
    if (!st) st = packed_b(c, a, b, d, b_matrix);
    if (!st) st = matmul_shape(c, &a->shape, b_matrix, y);
    if (!st) st = fused_activation(c, &act, &d->lo, &d->hi);
    if (!st && y->rank >= 1)
        st = check_shape(c, 2, &(kiln_shape){.rank = 1, .dim = {y->dim[y->rank - 1]}});
    if (!st) st = check_shape(c, 3, y);
    if (st)
        return st;
    d->act = (krt_gemm_act)act;
    d->has_bias = kiln_infer_in(c, 2) != NULL;
    d->has_residual = kiln_infer_in(c, 3) != NULL;
    return KILN_OK;
}

static kiln_status infer_fused_matmul(kiln_infer *c)
{
    krt_matmul_epi_desc d = {0};
    kiln_shape y, b;
    kiln_status st = kiln_linalg_fused_matmul(c, &d, &y, &b);
    if (!st)
        kiln_infer_set(c, 0, KILN_DT_F32, &y);
    return st;
}

/* C must broadcast one-way to (M, N): each of its dims 1 or equal. */
static kiln_status check_gemm_bias(kiln_infer *c, kiln_dim M, kiln_dim N)
{
    kiln_value *v = kiln_infer_in(c, 2);
    if (!v)
        return KILN_OK;
    kiln_dim target[2] = {M, N};
    int r = v->shape.rank;
    bool ok = r >= 0 && r <= 2;
    for (int i = 0; ok && i < r; i++) {
        kiln_dim d = v->shape.dim[i], t = target[2 - r + i];
        ok = d == 1 || !known(d) || !known(t) || d == t;
    }
    char s[256];
    if (!ok)
        return kiln_infer_fail(c, "input 2 ('%s') has shape %s, which does not broadcast to [%lld,%lld]",
                               v->name, kiln_shape_format(c->g, &v->shape, s, sizeof s),
                               (long long)M, (long long)N);
    return check_same_dtype(c, 2, 0);
}

static void gemm_bias_dims(kiln_infer *c, krt_gemm_desc *d)
{
    kiln_value *v = kiln_infer_in(c, 2);
    int r = v ? v->shape.rank : -1;
    d->c_rows = r == 2 ? v->shape.dim[0] : r >= 0 ? 1 : 0;
    d->c_cols = r >= 1 ? v->shape.dim[r - 1] : r == 0 ? 1 : 0;
}

kiln_status kiln_linalg_gemm(kiln_infer *c, krt_gemm_desc *d, kiln_shape *y)
{
    kiln_value *a, *b;
    int64_t ta, tb;
    float alpha, beta;
    kiln_status st = need_rank(c, 0, 2, 2, &a);
    if (!st) st = need_rank(c, 1, 2, 2, &b);
    if (!st) st = check_dtype(c, 0, T_MATMUL);
    if (!st) st = check_same_dtype(c, 1, 0);
    if (!st) st = get_int(c, "transA", 0, 0, 1, &ta);
    if (!st) st = get_int(c, "transB", 0, 0, 1, &tb);
    if (!st) st = get_float(c, "alpha", 1.0f, &alpha);
    if (!st) st = get_float(c, "beta", 1.0f, &beta);
    if (st)
        return st;
    kiln_dim M = a->shape.dim[ta], K = a->shape.dim[1 - ta];
    kiln_dim Kb = b->shape.dim[tb], N = b->shape.dim[1 - tb];
    if (known(K) && known(Kb) && K != Kb)
        return kiln_infer_fail(c, "inner dimensions differ: op(A) has K = %lld, op(B) has %lld",
                               (long long)K, (long long)Kb);
    if ((st = check_gemm_bias(c, M, N)))
        return st;
    *y = shape_of(2, (kiln_dim[]){M, N});
    *d = (krt_gemm_desc){.M = M, .N = N, .K = K, .trans_a = (int)ta, .trans_b = (int)tb,
                         .alpha = alpha, .beta = beta};
    gemm_bias_dims(c, d);
    return KILN_OK;
}

static kiln_status infer_gemm(kiln_infer *c)
{
    krt_gemm_desc d = {0};
    kiln_shape y;
    kiln_status st = kiln_linalg_gemm(c, &d, &y);
    if (!st)
        kiln_infer_set(c, 0, kiln_infer_in(c, 0)->dtype, &y);
    return st;
}

/* MatMulInteger (A, B, a_zero_point?, b_zero_point?) -> i32. */
static kiln_status infer_matmul_integer(kiln_infer *c)
{
    kiln_value *a, *b;
    kiln_shape y;
    kiln_status st = matmul_operands(c, 0, 1, &a, &b);
    if (!st) st = check_dtype(c, 0, T_Q8);
    if (!st) st = check_dtype(c, 1, T_Q8);
    if (!st) st = check_same_dtype(c, 2, 0);
    if (!st) st = check_same_dtype(c, 3, 1);
    if (!st) st = check_param(c, 2, rows_of(&a->shape), "zero point of A (per row)");
    if (!st) st = check_param(c, 3, cols_of(&b->shape), "zero point of B (per column)");
    if (!st) st = matmul_shape(c, &a->shape, &b->shape, &y);
    if (!st)
        kiln_infer_set(c, 0, KILN_DT_I32, &y);
    return st;
}

/* The scale inputs of QLinearMatMul and QLinearConv (a/x, b/w, y). */
static const uint32_t scale_inputs[3] = {1, 4, 6};

/* QLinearMatMul (a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp) -> y_zp's dtype. */
static kiln_status infer_qlinear_matmul(kiln_infer *c)
{
    kiln_value *a, *b;
    kiln_shape y;
    kiln_status st = matmul_operands(c, 0, 3, &a, &b);
    kiln_dim M = st ? 1 : rows_of(&a->shape), N = st ? 1 : cols_of(&b->shape);
    if (!st) st = check_dtype(c, 0, T_Q8);
    if (!st) st = check_dtype(c, 3, T_Q8);
    if (!st) st = check_dtype(c, 7, T_Q8);
    for (int k = 0; !st && k < 3; k++)
        st = check_dtype(c, scale_inputs[k], DT(F32));
    if (!st) st = check_same_dtype(c, 2, 0);
    if (!st) st = check_same_dtype(c, 5, 3);
    if (!st) st = check_param(c, 1, M, "scale of a (per row)");
    if (!st) st = check_param(c, 2, M, "zero point of a (per row)");
    if (!st) st = check_param(c, 4, N, "scale of b (per column)");
    if (!st) st = check_param(c, 5, N, "zero point of b (per column)");
    if (!st) st = check_param(c, 6, M, "scale of y (per row)");
    if (!st) st = check_param(c, 7, M, "zero point of y (per row)");
    if (!st) st = matmul_shape(c, &a->shape, &b->shape, &y);
    if (!st)
        kiln_infer_set(c, 0, kiln_infer_in(c, 7)->dtype, &y);
    return st;
}

/* ===== sliding windows ===================================================== */

static const char *const auto_pad_names[KRT_AUTO_PAD_COUNT] = {
    [KRT_PAD_NOTSET] = "NOTSET", [KRT_PAD_SAME_UPPER] = "SAME_UPPER",
    [KRT_PAD_SAME_LOWER] = "SAME_LOWER", [KRT_PAD_VALID] = "VALID",
};

typedef struct window {
    int nd;
    kiln_dim kernel[KRT_MAX_SPATIAL];     /* may be symbolic when taken from W */
    int64_t stride[KRT_MAX_SPATIAL], dilation[KRT_MAX_SPATIAL];
    int64_t pads[2 * KRT_MAX_SPATIAL];
    krt_auto_pad auto_pad;
    int ceil_mode;
} window;

static void fill_ones(int64_t *v, int n)
{
    for (int i = 0; i < n; i++)
        v[i] = 1;
}

/* kernel_shape: from the attribute, else from W's spatial dims (w_kernel). */
static kiln_status window_kernel(kiln_infer *c, const kiln_dim *w_kernel, window *w)
{
    int64_t k[KRT_MAX_SPATIAL];
    bool has;
    kiln_status st = get_ints(c, "kernel_shape", (uint32_t)w->nd, 1, k, &has);
    if (st)
        return st;
    if (!has && !w_kernel)
        return kiln_infer_fail(c, "attribute 'kernel_shape' is required");
    for (int i = 0; i < w->nd; i++) {
        w->kernel[i] = has ? k[i] : w_kernel[i];
        if (has && w_kernel && known(w_kernel[i]) && w_kernel[i] != k[i])
            return kiln_infer_fail(c, "attribute 'kernel_shape' has %lld at position %d but the weights have %lld",
                                   (long long)k[i], i, (long long)w_kernel[i]);
    }
    return KILN_OK;
}

static kiln_status parse_window(kiln_infer *c, int nd, const kiln_dim *w_kernel, window *w)
{
    int ap = KRT_PAD_NOTSET;
    bool has;
    memset(w, 0, sizeof *w);
    w->nd = nd;
    fill_ones(w->stride, nd);
    fill_ones(w->dilation, nd);
    kiln_status st = window_kernel(c, w_kernel, w);
    if (!st) st = get_ints(c, "strides", (uint32_t)nd, 1, w->stride, &has);
    if (!st) st = get_ints(c, "dilations", (uint32_t)nd, 1, w->dilation, &has);
    if (!st) st = get_ints(c, "pads", (uint32_t)(2 * nd), 0, w->pads, &has);
    if (!st) st = get_enum(c, "auto_pad", auto_pad_names, KRT_AUTO_PAD_COUNT, KRT_PAD_NOTSET, &ap);
    if (!st) st = get_flag(c, "ceil_mode", &w->ceil_mode);
    w->auto_pad = (krt_auto_pad)ap;
    return st;
}

/* True when dim i's output size equals its input size whatever that is
 * (stride 1 and SAME padding, or pads that exactly cover the window), so a
 * symbolic input dim carries over. */
static bool keeps_size(const window *w, int i)
{
    if (w->stride[i] != 1 || !known(w->kernel[i]))
        return false;
    if (w->auto_pad == KRT_PAD_SAME_UPPER || w->auto_pad == KRT_PAD_SAME_LOWER)
        return true;
    int64_t span = (w->kernel[i] - 1) * w->dilation[i];
    return w->auto_pad == KRT_PAD_VALID ? span == 0 : w->pads[i] + w->pads[w->nd + i] == span;
}

/* Output size of spatial dim i for input size `in` (pads resolved into
 * *pb / *pe); unknown when the input or kernel size is. */
static kiln_status window_out(kiln_infer *c, const window *w, int i, kiln_dim in, int64_t *pb,
                              int64_t *pe, kiln_dim *out)
{
    *pb = w->pads[i];
    *pe = w->pads[w->nd + i];
    if (!known(in) || !known(w->kernel[i])) {
        *out = keeps_size(w, i) ? in : kiln_infer_unknown_dim(c);
        return KILN_OK;
    }
    if (krt_window_dim(in, w->kernel[i], w->stride[i], w->dilation[i], w->auto_pad, w->ceil_mode,
                       pb, pe, out) == KRT_OK)
        return KILN_OK;
    return kiln_infer_fail(c, "spatial dim %d: the window (kernel %lld, dilation %lld) is larger than the padded input (%lld + pads %lld, %lld)",
                           i, (long long)w->kernel[i], (long long)w->dilation[i], (long long)in,
                           (long long)w->pads[i], (long long)w->pads[w->nd + i]);
}

/* Spatial geometry into a conv descriptor and y dims 2..; x is (N, C, in...). */
static kiln_status conv_spatial(kiln_infer *c, const window *w, const kiln_shape *x,
                                krt_conv_desc *d, kiln_shape *y)
{
    for (int i = 0; i < w->nd; i++) {
        int64_t pe;
        kiln_status st = window_out(c, w, i, x->dim[2 + i], &d->pad[i], &pe, &y->dim[2 + i]);
        if (st)
            return st;
        d->in[i] = x->dim[2 + i];
        d->out[i] = y->dim[2 + i];
        d->kernel[i] = w->kernel[i];
        d->stride[i] = w->stride[i];
        d->dilation[i] = w->dilation[i];
    }
    return KILN_OK;
}

/* X (input xi) and W (input wi): rank >= 3, equal ranks, <= 2 + KRT_MAX_SPATIAL. */
static kiln_status conv_operands(kiln_infer *c, uint32_t xi, uint32_t wi, kiln_value **x,
                                 kiln_value **w)
{
    kiln_status st = need_rank(c, xi, 3, 2 + KRT_MAX_SPATIAL, x);
    return st ? st : need_rank(c, wi, (*x)->shape.rank, (*x)->shape.rank, w);
}

/* Channel counts: C = Cg * group, M a multiple of group. */
static kiln_status check_groups(kiln_infer *c, kiln_dim C, kiln_dim Cg, kiln_dim M, int64_t group)
{
    if (known(M) && M % group != 0)
        return kiln_infer_fail(c, "%lld output channels are not a multiple of group %lld",
                               (long long)M, (long long)group);
    if (known(C) && known(Cg) && C != Cg * group)
        return kiln_infer_fail(c, "the input has %lld channels but the weights take %lld per group x group %lld",
                               (long long)C, (long long)Cg, (long long)group);
    return KILN_OK;
}

kiln_status kiln_linalg_conv(kiln_infer *c, krt_conv_desc *d, kiln_shape *y)
{
    uint32_t wi = c->n->op == KILN_OP_QLINEARCONV ? 3 : 1;
    kiln_value *x, *w;
    window win;
    int64_t group;
    kiln_status st = conv_operands(c, 0, wi, &x, &w);
    int nd = st ? 0 : x->shape.rank - 2;
    if (!st) st = parse_window(c, nd, w->shape.dim + 2, &win);
    if (!st) st = get_int(c, "group", 1, 1, ATTR_MAX, &group);
    if (!st) st = check_groups(c, x->shape.dim[1], w->shape.dim[1], w->shape.dim[0], group);
    if (st)
        return st;
    *d = (krt_conv_desc){.nd = nd, .batch = x->shape.dim[0], .in_ch = x->shape.dim[1],
                         .out_ch = w->shape.dim[0], .group = group};
    *y = batch_channels(nd + 2, x->shape.dim[0], w->shape.dim[0]);
    return conv_spatial(c, &win, &x->shape, d, y);
}

static kiln_status infer_conv(kiln_infer *c)
{
    krt_conv_desc d = {0};
    kiln_shape y;
    kiln_status st = check_dtype(c, 0, T_FLOAT);
    if (!st) st = check_same_dtype(c, 1, 0);
    if (!st) st = check_same_dtype(c, 2, 0);
    if (!st) st = kiln_linalg_conv(c, &d, &y);
    if (!st) st = check_shape(c, 2, &(kiln_shape){.rank = 1, .dim = {y.dim[1]}});
    if (!st)
        kiln_infer_set(c, 0, kiln_infer_in(c, 0)->dtype, &y);
    return st;
}

/* kiln.FusedConv(X, W, B?, R?) {Conv's attributes, activation, lo, hi}:
 * a Conv with the epilogue the fuse-epilogue pass folded into it, f32
 * only: Y = act(conv(X, W) + B) + R, R of Y's shape. */
kiln_status kiln_linalg_fused_conv(kiln_infer *c, krt_conv_epi_desc *d, kiln_shape *y)
{
    int act = 0;
    kiln_status st = check_dtype(c, 0, DT(F32));
    if (!st) st = check_same_dtype(c, 1, 0);
    if (!st) st = check_same_dtype(c, 2, 0);
    if (!st) st = check_same_dtype(c, 3, 0);
    if (!st) st = kiln_linalg_conv(c, &d->conv, y);
    if (!st) st = check_shape(c, 2, &(kiln_shape){.rank = 1, .dim = {y->dim[1]}});
    if (!st) st = check_shape(c, 3, y);
    if (!st) st = fused_activation(c, &act, &d->lo, &d->hi);
    if (st)
        return st;
    d->act = (krt_gemm_act)act;
    d->has_residual = kiln_infer_in(c, 3) != NULL;
    return KILN_OK;
}

static kiln_status infer_fused_conv(kiln_infer *c)
{
    krt_conv_epi_desc d = {0};
    kiln_shape y;
    kiln_status st = kiln_linalg_fused_conv(c, &d, &y);
    if (!st)
        kiln_infer_set(c, 0, KILN_DT_F32, &y);
    return st;
}

/* ConvInteger (x, w, x_zero_point?, w_zero_point?) -> i32. */
static kiln_status infer_conv_integer(kiln_infer *c)
{
    krt_conv_desc d = {0};
    kiln_shape y;
    kiln_status st = check_dtype(c, 0, T_Q8);
    if (!st) st = check_dtype(c, 1, T_Q8);
    if (!st) st = check_same_dtype(c, 2, 0);
    if (!st) st = check_same_dtype(c, 3, 1);
    if (!st) st = kiln_linalg_conv(c, &d, &y);
    if (!st) st = check_param(c, 2, 1, "zero point of x");
    if (!st) st = check_param(c, 3, y.dim[1], "zero point of w (per output channel)");
    if (!st)
        kiln_infer_set(c, 0, KILN_DT_I32, &y);
    return st;
}

/* QLinearConv (x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B?) -> y_zp's dtype. */
static kiln_status infer_qlinear_conv(kiln_infer *c)
{
    krt_conv_desc d = {0};
    kiln_shape y;
    kiln_status st = check_dtype(c, 0, T_Q8);
    if (!st) st = check_dtype(c, 3, T_Q8);
    if (!st) st = check_dtype(c, 7, T_Q8);
    if (!st) st = check_dtype(c, 8, DT(I32));
    for (int k = 0; !st && k < 3; k++)
        st = check_dtype(c, scale_inputs[k], DT(F32));
    if (!st) st = check_same_dtype(c, 2, 0);
    if (!st) st = check_same_dtype(c, 5, 3);
    if (!st) st = kiln_linalg_conv(c, &d, &y);
    if (!st) st = check_param(c, 1, 1, "scale of x");
    if (!st) st = check_param(c, 2, 1, "zero point of x");
    if (!st) st = check_param(c, 4, y.dim[1], "scale of w (per output channel)");
    if (!st) st = check_param(c, 5, y.dim[1], "zero point of w (per output channel)");
    if (!st) st = check_param(c, 6, 1, "scale of y");
    if (!st) st = check_param(c, 7, 1, "zero point of y");
    if (!st) st = check_shape(c, 8, &(kiln_shape){.rank = 1, .dim = {y.dim[1]}});
    if (!st)
        kiln_infer_set(c, 0, kiln_infer_in(c, 7)->dtype, &y);
    return st;
}

/* ConvTranspose attributes beyond the window: output_padding, output_shape
 * (nd values, or nd + 2 of which the spatial ones count). */
static kiln_status convtranspose_extra(kiln_infer *c, int nd, int64_t *out_pad, int64_t *out_shape)
{
    const kiln_attr *a;
    bool has;
    memset(out_pad, 0, sizeof(int64_t) * (size_t)nd);
    memset(out_shape, 0, sizeof(int64_t) * (size_t)nd);
    kiln_status st = get_ints(c, "output_padding", (uint32_t)nd, 0, out_pad, &has);
    if (!st) st = find_attr(c, "output_shape", KILN_ATTR_INTS, &a);
    if (st || !a)
        return st;
    if (a->n != (uint32_t)nd && a->n != (uint32_t)nd + 2)
        return kiln_infer_fail(c, "attribute 'output_shape' has %u values, need %d", a->n, nd);
    for (int i = 0; i < nd; i++) {
        out_shape[i] = a->u.ints[a->n - (uint32_t)nd + (uint32_t)i];
        if (out_shape[i] < 1 || out_shape[i] > ATTR_MAX)
            return kiln_infer_fail(c, "attribute 'output_shape' has %lld for spatial dim %d, need 1 to 2^31",
                                   (long long)out_shape[i], i);
    }
    return KILN_OK;
}

static kiln_status convtranspose_spatial(kiln_infer *c, const window *w, const kiln_shape *x,
                                         const int64_t *out_pad, const int64_t *out_shape,
                                         krt_conv_desc *d, kiln_shape *y)
{
    for (int i = 0; i < w->nd; i++) {
        kiln_dim in = x->dim[2 + i];
        int64_t pb = w->pads[i], pe = w->pads[w->nd + i], out;
        if (out_pad[i] >= w->stride[i] && out_pad[i] >= w->dilation[i])
            return kiln_infer_fail(c, "attribute 'output_padding' has %lld for spatial dim %d, need less than the stride (%lld) or the dilation (%lld)",
                                   (long long)out_pad[i], i, (long long)w->stride[i],
                                   (long long)w->dilation[i]);
        d->in[i] = in;
        d->kernel[i] = w->kernel[i];
        d->stride[i] = w->stride[i];
        d->dilation[i] = w->dilation[i];
        if (!known(in) || !known(w->kernel[i])) {
            y->dim[2 + i] = out_shape[i] > 0 ? out_shape[i] : kiln_infer_unknown_dim(c);
            continue;
        }
        if (krt_convtranspose_dim(in, w->kernel[i], w->stride[i], w->dilation[i], out_pad[i],
                                  w->auto_pad, out_shape[i], &pb, &pe, &out))
            return kiln_infer_fail(c, "spatial dim %d: the pads (%lld, %lld) leave no output", i,
                                   (long long)pb, (long long)pe);
        d->pad[i] = pb;
        d->out[i] = y->dim[2 + i] = out;
    }
    return KILN_OK;
}

kiln_status kiln_linalg_convtranspose(kiln_infer *c, krt_conv_desc *d, kiln_shape *y)
{
    kiln_value *x, *w;
    window win;
    int64_t group, out_pad[KRT_MAX_SPATIAL], out_shape[KRT_MAX_SPATIAL];
    kiln_status st = conv_operands(c, 0, 1, &x, &w);
    int nd = st ? 0 : x->shape.rank - 2;
    if (!st) st = parse_window(c, nd, w->shape.dim + 2, &win);
    if (!st) st = get_int(c, "group", 1, 1, ATTR_MAX, &group);
    if (!st) st = convtranspose_extra(c, nd, out_pad, out_shape);
    if (st)
        return st;
    kiln_dim C = x->shape.dim[1], Cw = w->shape.dim[0], M = dim_mul(c, w->shape.dim[1], group);
    if (known(C) && known(Cw) && C != Cw)
        return kiln_infer_fail(c, "the input has %lld channels but the weights have %lld",
                               (long long)C, (long long)Cw);
    if (known(C) && C % group != 0)
        return kiln_infer_fail(c, "%lld input channels are not a multiple of group %lld",
                               (long long)C, (long long)group);
    *d = (krt_conv_desc){.nd = nd, .batch = x->shape.dim[0], .in_ch = C, .out_ch = M, .group = group};
    *y = batch_channels(nd + 2, x->shape.dim[0], M);
    return convtranspose_spatial(c, &win, &x->shape, out_pad, out_shape, d, y);
}

static kiln_status infer_convtranspose(kiln_infer *c)
{
    krt_conv_desc d = {0};
    kiln_shape y;
    kiln_status st = check_dtype(c, 0, T_FLOAT);
    if (!st) st = check_same_dtype(c, 1, 0);
    if (!st) st = check_same_dtype(c, 2, 0);
    if (!st) st = kiln_linalg_convtranspose(c, &d, &y);
    if (!st) st = check_shape(c, 2, &(kiln_shape){.rank = 1, .dim = {y.dim[1]}});
    if (!st)
        kiln_infer_set(c, 0, kiln_infer_in(c, 0)->dtype, &y);
    return st;
}

/* ===== pools ================================================================ */

static kiln_status pool_opts(kiln_infer *c, kiln_pool_opts *o)
{
    kiln_status st = get_flag(c, "storage_order", &o->storage_order);
    if (!st) st = get_flag(c, "count_include_pad", &o->count_include_pad);
    if (!st) st = get_int(c, "p", 2, 1, INT32_MAX, &o->p);
    return st;
}

kiln_status kiln_linalg_pool(kiln_infer *c, krt_pool_desc *d, kiln_pool_opts *o, kiln_shape *y)
{
    kiln_value *x;
    window w;
    kiln_status st = need_rank(c, 0, 3, 2 + KRT_MAX_SPATIAL, &x);
    int nd = st ? 0 : x->shape.rank - 2;
    if (!st) st = parse_window(c, nd, NULL, &w);
    if (!st) st = pool_opts(c, o);
    if (st)
        return st;
    *d = (krt_pool_desc){.nd = nd, .batch = x->shape.dim[0], .channels = x->shape.dim[1]};
    *y = shape_of(nd + 2, x->shape.dim);
    for (int i = 0; i < nd && !st; i++) {
        st = window_out(c, &w, i, x->shape.dim[2 + i], &d->pad[i], &d->pad_end[i], &y->dim[2 + i]);
        d->in[i] = x->shape.dim[2 + i];
        d->out[i] = y->dim[2 + i];
        d->kernel[i] = w.kernel[i];
        d->stride[i] = w.stride[i];
        d->dilation[i] = w.dilation[i];
    }
    return st;
}

static kiln_status infer_pool(kiln_infer *c)
{
    krt_pool_desc d = {0};
    kiln_pool_opts o;
    kiln_shape y;
    uint32_t mask = c->n->op == KILN_OP_MAXPOOL ? T_MAXPOOL : T_FLOAT;
    kiln_status st = check_dtype(c, 0, mask);
    if (!st) st = kiln_linalg_pool(c, &d, &o, &y);
    if (st)
        return st;
    kiln_infer_set(c, 0, kiln_infer_in(c, 0)->dtype, &y);
    kiln_infer_set(c, 1, KILN_DT_I64, &y);   /* MaxPool's Indices */
    return KILN_OK;
}

/* Global pools: (N, C, spatial...) -> (N, C, 1, ...). */
static kiln_status infer_global_pool(kiln_infer *c)
{
    kiln_value *x;
    int64_t p;
    kiln_status st = need_rank(c, 0, 2, KILN_MAX_RANK, &x);
    if (!st) st = check_dtype(c, 0, T_FLOAT);
    if (!st) st = get_int(c, "p", 2, 1, INT32_MAX, &p);
    if (st)
        return st;
    kiln_shape y = x->shape;
    for (int i = 2; i < y.rank; i++)
        y.dim[i] = 1;
    kiln_infer_set(c, 0, x->dtype, &y);
    return KILN_OK;
}

/* MaxUnpool output dims from the output_shape input (known or not): each
 * at least the unpooled size (the result sits in the leading corner, as in
 * the ONNX reference, which pads the unpooled tensor at the end). */
static kiln_status unpool_given_shape(kiln_infer *c, const kiln_shape *unpooled, kiln_shape *y)
{
    int64_t dims[KILN_MAX_RANK + 1];
    int64_t n = kiln_infer_ints(c, 2, dims, KILN_MAX_RANK + 1);
    *y = (kiln_shape){.rank = unpooled->rank};
    if (n != -1 && n != unpooled->rank)
        return kiln_infer_fail(c, "input 2 ('output_shape') must have %d values (one per dim)",
                               unpooled->rank);
    for (int i = 0; i < y->rank; i++) {
        kiln_dim u = unpooled->dim[i];
        if (n >= 0 && (dims[i] < 0 || (known(u) && dims[i] < u)))
            return kiln_infer_fail(c, "input 2 ('output_shape') has %lld for dim %d, smaller than the unpooled size %lld",
                                   (long long)dims[i], i, (long long)u);
        y->dim[i] = n >= 0 ? dims[i] : kiln_infer_unknown_dim(c);
    }
    return KILN_OK;
}

/* (in - 1) * stride + kernel - pads, per spatial dim (attributes are
 * bounded by 2^31 and dims by memory, so the products fit). */
static kiln_status unpool_default_shape(kiln_infer *c, const kiln_value *x, const window *w,
                                        kiln_shape *y)
{
    *y = x->shape;
    for (int i = 0; i < w->nd; i++) {
        kiln_dim in = x->shape.dim[2 + i];
        int64_t out = 0;
        if (!known(in) || !known(w->kernel[i])) {
            y->dim[2 + i] = kiln_infer_unknown_dim(c);
            continue;
        }
        if (!kiln_mul_size(in > 0 ? in - 1 : 0, w->stride[i], &out) ||
            (out = out + w->kernel[i] - w->pads[i] - w->pads[w->nd + i]) < 0)
            return kiln_infer_fail(c, "spatial dim %d: the pads leave no output", i);
        y->dim[2 + i] = out;
    }
    return KILN_OK;
}

kiln_status kiln_linalg_maxunpool(kiln_infer *c, kiln_shape *unpooled, kiln_shape *y)
{
    kiln_value *x;
    window w;
    kiln_status st = need_rank(c, 0, 3, 2 + KRT_MAX_SPATIAL, &x);
    if (!st) st = check_dtype(c, 0, T_FLOAT);
    if (!st) st = check_dtype(c, 1, DT(I64));
    if (!st) st = check_dtype(c, 2, DT(I64));
    if (!st) st = check_shape(c, 1, &x->shape);
    if (!st) st = parse_window(c, x->shape.rank - 2, NULL, &w);
    if (!st) st = unpool_default_shape(c, x, &w, unpooled);
    if (st)
        return st;
    *y = *unpooled;
    return kiln_infer_in(c, 2) ? unpool_given_shape(c, unpooled, y) : KILN_OK;
}

static kiln_status infer_maxunpool(kiln_infer *c)
{
    kiln_shape unpooled, y;
    kiln_status st = kiln_linalg_maxunpool(c, &unpooled, &y);
    if (!st)
        kiln_infer_set(c, 0, kiln_infer_in(c, 0)->dtype, &y);
    return st;
}

/* ===== recurrent cells ====================================================== */

static const char *const act_names[KRT_ACT_COUNT] = {
    [KRT_ACT_RELU] = "Relu", [KRT_ACT_TANH] = "Tanh", [KRT_ACT_SIGMOID] = "Sigmoid",
    [KRT_ACT_AFFINE] = "Affine", [KRT_ACT_LEAKYRELU] = "LeakyRelu",
    [KRT_ACT_THRESHOLDEDRELU] = "ThresholdedRelu", [KRT_ACT_SCALEDTANH] = "ScaledTanh",
    [KRT_ACT_HARDSIGMOID] = "HardSigmoid", [KRT_ACT_ELU] = "Elu",
    [KRT_ACT_SOFTSIGN] = "Softsign", [KRT_ACT_SOFTPLUS] = "Softplus",
};

/* Per cell: gates, activations per direction, their defaults. */
static const struct {
    int gates, n_acts;
    krt_act dflt[3];
} cells[] = {
    [KRT_RNN] = {1, 1, {KRT_ACT_TANH}},
    [KRT_GRU] = {3, 2, {KRT_ACT_SIGMOID, KRT_ACT_TANH}},
    [KRT_LSTM] = {4, 3, {KRT_ACT_SIGMOID, KRT_ACT_TANH, KRT_ACT_TANH}},
};

static bool same_name(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if ((*a | 0x20) != (*b | 0x20))
            return false;
    return *a == *b;
}

static bool uses_alpha(krt_act k)
{
    return k == KRT_ACT_AFFINE || k == KRT_ACT_LEAKYRELU || k == KRT_ACT_THRESHOLDEDRELU ||
           k == KRT_ACT_SCALEDTANH || k == KRT_ACT_HARDSIGMOID || k == KRT_ACT_ELU;
}

static bool uses_beta(krt_act k)
{
    return k == KRT_ACT_AFFINE || k == KRT_ACT_SCALEDTANH || k == KRT_ACT_HARDSIGMOID;
}

static kiln_status act_by_name(kiln_infer *c, const char *name, krt_act *out)
{
    for (int k = 0; k < KRT_ACT_COUNT; k++)
        if (same_name(name, act_names[k])) {
            *out = (krt_act)k;
            return KILN_OK;
        }
    return kiln_infer_unsupported(c, "activation '%s' is not one kiln knows (Relu, Tanh, Sigmoid, Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign, Softplus)",
                                  name);
}

/* activations / activation_alpha / activation_beta: alphas and betas are
 * consumed in order by the activations that take them (as ONNX Runtime). */
static kiln_status parse_activations(kiln_infer *c, krt_rnn_desc *d)
{
    const kiln_attr *names, *alpha, *beta;
    int per = cells[d->kind].n_acts, total = per * d->num_dir;
    kiln_status st = find_attr(c, "activations", KILN_ATTR_STRINGS, &names);
    if (!st) st = find_attr(c, "activation_alpha", KILN_ATTR_FLOATS, &alpha);
    if (!st) st = find_attr(c, "activation_beta", KILN_ATTR_FLOATS, &beta);
    if (st)
        return st;
    if (names && names->n != (uint32_t)total && names->n != (uint32_t)per)
        return kiln_infer_fail(c, "attribute 'activations' has %u names, need %d", names->n, total);
    uint32_t ia = 0, ib = 0;
    for (int i = 0; i < total && !st; i++) {
        krt_act k = cells[d->kind].dflt[i % per];
        if (names)
            st = act_by_name(c, names->u.strings[(uint32_t)i % names->n], &k);
        krt_activation a = krt_activation_default(k);
        if (uses_alpha(k) && alpha && ia < alpha->n)
            a.alpha = alpha->u.floats[ia++];
        if (uses_beta(k) && beta && ib < beta->n)
            a.beta = beta->u.floats[ib++];
        d->act[i / per][i % per] = a;
    }
    return st;
}

static const char *const direction_names[] = {"forward", "reverse", "bidirectional"};

static kiln_status rnn_attrs(kiln_infer *c, krt_rnn_desc *d, int64_t *hidden)
{
    int dir = 0;
    int64_t layout = 0;
    kiln_status st = get_enum(c, "direction", direction_names, 3, 0, &dir);
    if (!st) st = get_int(c, "layout", 0, 0, 1, &layout);
    if (!st) st = get_int(c, "hidden_size", 0, 1, INT32_MAX, hidden);
    if (!st) st = get_float(c, "clip", 0.0f, &d->clip);
    if (!st && kiln_attr_find(c->g, c->n, "clip") && !(d->clip > 0))
        st = kiln_infer_fail(c, "attribute 'clip' is %g, need > 0", (double)d->clip);
    if (!st) st = get_flag(c, "linear_before_reset", &d->linear_before_reset);
    if (!st) st = get_flag(c, "input_forget", &d->input_forget);
    d->num_dir = dir == 2 ? 2 : 1;
    d->reverse = dir == 1;
    d->layout = (int)layout;
    return st;
}

static const krt_rnn_kind rnn_kinds[KILN_OP_COUNT] = {
    [KILN_OP_RNN] = KRT_RNN, [KILN_OP_GRU] = KRT_GRU, [KILN_OP_LSTM] = KRT_LSTM,
};

/* Shapes every optional input must have (indices as in ONNX). */
static kiln_status rnn_inputs(kiln_infer *c, const krt_rnn_desc *d, kiln_dim batch, kiln_dim in,
                              kiln_dim H)
{
    kiln_dim dirs = d->num_dir, GH = dim_mul(c, cells[d->kind].gates, H);
    kiln_shape state = d->layout ? shape_of(3, (kiln_dim[]){batch, dirs, H})
                                 : shape_of(3, (kiln_dim[]){dirs, batch, H});
    kiln_status st = check_shape(c, 1, &(kiln_shape){3, {dirs, GH, in}});
    if (!st) st = check_shape(c, 2, &(kiln_shape){3, {dirs, GH, H}});
    if (!st) st = check_shape(c, 3, &(kiln_shape){2, {dirs, dim_mul(c, 2, GH)}});
    if (!st) st = check_shape(c, 4, &(kiln_shape){1, {batch}});
    if (!st) st = check_shape(c, 5, &state);
    if (!st && d->kind == KRT_LSTM) st = check_shape(c, 6, &state);
    if (!st && d->kind == KRT_LSTM) st = check_shape(c, 7, &(kiln_shape){2, {dirs, dim_mul(c, 3, H)}});
    return st;
}

static kiln_status rnn_dtypes(kiln_infer *c)
{
    kiln_status st = check_dtype(c, 0, T_FLOAT);
    for (uint32_t i = 1; !st && i < kiln_infer_n_in(c); i++)
        st = i == 4 ? check_dtype(c, 4, DT(I32)) : check_same_dtype(c, i, 0);
    return st;
}

kiln_status kiln_linalg_rnn(kiln_infer *c, krt_rnn_desc *d, kiln_shape y[3])
{
    kiln_value *x, *w, *r;
    int64_t hidden;
    memset(d, 0, sizeof *d);
    d->kind = rnn_kinds[c->n->op];
    kiln_status st = need_rank(c, 0, 3, 3, &x);
    if (!st) st = need_rank(c, 1, 3, 3, &w);
    if (!st) st = need_rank(c, 2, 3, 3, &r);
    if (!st) st = rnn_dtypes(c);
    if (!st) st = rnn_attrs(c, d, &hidden);
    if (st)
        return st;
    kiln_dim seq = x->shape.dim[d->layout], batch = x->shape.dim[1 - d->layout];
    kiln_dim in = x->shape.dim[2], H = hidden ? hidden : r->shape.dim[2];
    if ((st = rnn_inputs(c, d, batch, in, H)))
        return st;
    d->seq = seq, d->batch = batch, d->input = in, d->hidden = H;
    st = parse_activations(c, d);
    kiln_dim dirs = d->num_dir;
    y[0] = d->layout ? shape_of(4, (kiln_dim[]){batch, seq, dirs, H})
                     : shape_of(4, (kiln_dim[]){seq, dirs, batch, H});
    y[1] = d->layout ? shape_of(3, (kiln_dim[]){batch, dirs, H})
                     : shape_of(3, (kiln_dim[]){dirs, batch, H});
    y[2] = y[1];
    return st;
}

static kiln_status infer_rnn(kiln_infer *c)
{
    krt_rnn_desc d = {0};
    kiln_shape y[3];
    kiln_status st = kiln_linalg_rnn(c, &d, y);
    if (st)
        return st;
    kiln_dtype dt = kiln_infer_in(c, 0)->dtype;
    for (uint32_t i = 0; i < kiln_infer_n_out(c); i++)
        kiln_infer_set(c, i, dt, &y[i]);
    return KILN_OK;
}

/* ===== Resize ================================================================= */

static const char *const resize_modes[] = {
    [KRT_RESIZE_NEAREST] = "nearest", [KRT_RESIZE_LINEAR] = "linear", [KRT_RESIZE_CUBIC] = "cubic",
};
static const char *const coord_modes[KRT_COORD_COUNT] = {
    [KRT_COORD_HALF_PIXEL] = "half_pixel", [KRT_COORD_PYTORCH_HALF_PIXEL] = "pytorch_half_pixel",
    [KRT_COORD_ALIGN_CORNERS] = "align_corners", [KRT_COORD_ASYMMETRIC] = "asymmetric",
    [KRT_COORD_TF_HALF_PIXEL_FOR_NN] = "tf_half_pixel_for_nn",
    [KRT_COORD_TF_CROP_AND_RESIZE] = "tf_crop_and_resize",
};
static const char *const nearest_modes[KRT_NEAREST_COUNT] = {
    [KRT_NEAREST_ROUND_PREFER_FLOOR] = "round_prefer_floor",
    [KRT_NEAREST_ROUND_PREFER_CEIL] = "round_prefer_ceil",
    [KRT_NEAREST_FLOOR] = "floor", [KRT_NEAREST_CEIL] = "ceil",
};

static kiln_status resize_attrs(kiln_infer *c, krt_resize_desc *d)
{
    int mode = 0, coord = 0, nearest = 0;
    kiln_status st = get_enum(c, "mode", resize_modes, 3, KRT_RESIZE_NEAREST, &mode);
    if (!st) st = get_enum(c, "coordinate_transformation_mode", coord_modes, KRT_COORD_COUNT,
                           KRT_COORD_HALF_PIXEL, &coord);
    if (!st) st = get_enum(c, "nearest_mode", nearest_modes, KRT_NEAREST_COUNT,
                           KRT_NEAREST_ROUND_PREFER_FLOOR, &nearest);
    if (!st) st = get_float(c, "cubic_coeff_a", -0.75f, &d->cubic_a);
    if (!st) st = get_flag(c, "exclude_outside", &d->exclude_outside);
    if (!st) st = get_float(c, "extrapolation_value", 0.0f, &d->extrapolation);
    if (!st && kiln_attr_find(c->g, c->n, "antialias"))
        st = kiln_infer_unsupported(c, "attribute 'antialias' (opset 18) is not supported");
    d->mode = (krt_resize_mode)mode;
    d->coord = (krt_coord_mode)coord;
    d->nearest = (krt_nearest_mode)nearest;
    return st;
}

/* An optional input given with zero elements counts as absent (opset 11
 * models pass an empty `scales` next to `sizes`). */
static bool given(kiln_infer *c, uint32_t i)
{
    kiln_value *v = kiln_infer_in(c, i);
    return v && !(v->shape.rank == 1 && v->shape.dim[0] == 0);
}

/* roi: only read by tf_crop_and_resize; default: the whole image. */
static kiln_status resize_roi(kiln_infer *c, krt_resize_desc *d)
{
    double roi[2 * KRT_MAX_RANK];
    for (int k = 0; k < d->rank; k++)
        d->roi_start[k] = 0, d->roi_end[k] = 1;
    if (d->coord != KRT_COORD_TF_CROP_AND_RESIZE || !given(c, 1))
        return KILN_OK;
    int64_t n = kiln_infer_floats(c, 1, roi, 2 * KRT_MAX_RANK);
    if (n != -1 && n != 2 * d->rank)
        return kiln_infer_fail(c, "input 1 ('roi') must have %d values (start and end per dim)",
                               2 * d->rank);
    for (int k = 0; n > 0 && k < d->rank; k++)
        d->roi_start[k] = roi[k], d->roi_end[k] = roi[d->rank + k];
    return KILN_OK;
}

/* Output dims from `sizes` (input 3). */
static kiln_status resize_by_sizes(kiln_infer *c, const kiln_shape *x, krt_resize_desc *d,
                                   kiln_shape *y)
{
    int64_t sizes[KRT_MAX_RANK + 1];
    int64_t n = kiln_infer_ints(c, 3, sizes, KRT_MAX_RANK + 1);
    if (n != -1 && n != x->rank)
        return kiln_infer_fail(c, "input 3 ('sizes') must have %d values (one per dim)", x->rank);
    for (int k = 0; k < x->rank; k++) {
        if (n > 0 && sizes[k] < 0)
            return kiln_infer_fail(c, "input 3 ('sizes') has %lld for dim %d", (long long)sizes[k], k);
        if (n > 0 && sizes[k] > 0 && x->dim[k] == 0)
            return kiln_infer_fail(c, "dim %d of input 0 is empty and cannot be resized to %lld", k,
                                   (long long)sizes[k]);
        y->dim[k] = n > 0 ? sizes[k] : kiln_infer_unknown_dim(c);
        d->out[k] = y->dim[k];
        d->length[k] = (double)y->dim[k];
        d->scale[k] = known(x->dim[k]) && x->dim[k] > 0 ? (double)y->dim[k] / (double)x->dim[k] : 1;
    }
    return KILN_OK;
}

/* Output dims from `scales` (input 2): floor(in * scale). */
static kiln_status resize_by_scales(kiln_infer *c, const kiln_shape *x, krt_resize_desc *d,
                                    kiln_shape *y)
{
    double s[KRT_MAX_RANK + 1];
    int64_t n = kiln_infer_floats(c, 2, s, KRT_MAX_RANK + 1);
    if (n != -1 && n != x->rank)
        return kiln_infer_fail(c, "input 2 ('scales') must have %d values (one per dim)", x->rank);
    for (int k = 0; k < x->rank; k++) {
        if (n > 0 && !(s[k] > 0))
            return kiln_infer_fail(c, "input 2 ('scales') has %g for dim %d, need > 0", s[k], k);
        kiln_dim in = x->dim[k];
        if (n > 0 && known(in) && (double)in * s[k] >= 0x1p62)
            return kiln_infer_fail(c, "input 2 ('scales') has %g for dim %d: the output would be too large",
                                   s[k], k);
        if (n < 0)
            y->dim[k] = kiln_infer_unknown_dim(c);
        else
            y->dim[k] = known(in) ? (kiln_dim)floor((double)in * s[k]) : s[k] == 1 ? in : kiln_infer_unknown_dim(c);
        d->out[k] = y->dim[k];
        d->scale[k] = n > 0 ? s[k] : 1;
        d->length[k] = known(in) ? (double)in * d->scale[k] : 0;
    }
    return KILN_OK;
}

kiln_status kiln_linalg_resize(kiln_infer *c, krt_resize_desc *d, kiln_shape *y)
{
    kiln_value *x;
    memset(d, 0, sizeof *d);
    kiln_status st = need_rank(c, 0, 1, KRT_MAX_RANK, &x);
    if (!st) st = check_dtype(c, 0, T_ANY);
    if (!st) st = check_dtype(c, 1, T_FLOAT);
    if (!st) st = check_dtype(c, 2, DT(F32));
    if (!st) st = check_dtype(c, 3, DT(I64));
    if (!st) st = resize_attrs(c, d);
    if (st)
        return st;
    bool by_scales = given(c, 2), by_sizes = given(c, 3);
    if (by_scales == by_sizes)
        return kiln_infer_fail(c, by_scales ? "give 'scales' or 'sizes', not both"
                                            : "needs 'scales' (input 2) or 'sizes' (input 3)");
    d->rank = x->shape.rank;
    *y = (kiln_shape){.rank = x->shape.rank};
    for (int k = 0; k < d->rank; k++)
        d->in[k] = x->shape.dim[k];
    st = by_sizes ? resize_by_sizes(c, &x->shape, d, y) : resize_by_scales(c, &x->shape, d, y);
    return st ? st : resize_roi(c, d);
}

static kiln_status infer_resize(kiln_infer *c)
{
    krt_resize_desc d = {0};
    kiln_shape y;
    kiln_status st = kiln_linalg_resize(c, &d, &y);
    if (!st)
        kiln_infer_set(c, 0, kiln_infer_in(c, 0)->dtype, &y);
    return st;
}

/* ===== GridSample and RoiAlign ================================================ */

static const char *const grid_modes[] = {
    [KRT_GRID_BILINEAR] = "bilinear", [KRT_GRID_NEAREST] = "nearest", [KRT_GRID_BICUBIC] = "bicubic",
};
static const char *const grid_paddings[] = {
    [KRT_GRID_ZEROS] = "zeros", [KRT_GRID_BORDER] = "border", [KRT_GRID_REFLECTION] = "reflection",
};

kiln_status kiln_linalg_gridsample(kiln_infer *c, krt_gridsample_desc *d, kiln_shape *y)
{
    kiln_value *x, *g;
    int mode = 0, pad = 0;
    kiln_status st = need_rank(c, 0, 4, 4, &x);
    if (!st) st = need_rank(c, 1, 4, 4, &g);
    if (!st) st = check_dtype(c, 1, T_FLOAT);
    if (!st) st = check_same_dtype(c, 1, 0);
    if (!st) st = get_enum(c, "mode", grid_modes, 3, KRT_GRID_BILINEAR, &mode);
    if (!st) st = get_enum(c, "padding_mode", grid_paddings, 3, KRT_GRID_ZEROS, &pad);
    memset(d, 0, sizeof *d);
    if (!st) st = get_flag(c, "align_corners", &d->align_corners);
    if (!st) st = check_shape(c, 1, &(kiln_shape){4, {x->shape.dim[0], g->shape.dim[1], g->shape.dim[2], 2}});
    if (st)
        return st;
    const kiln_dim *xd = x->shape.dim;
    *d = (krt_gridsample_desc){.batch = xd[0], .channels = xd[1], .in_h = xd[2], .in_w = xd[3],
                               .out_h = g->shape.dim[1], .out_w = g->shape.dim[2],
                               .mode = (krt_grid_mode)mode, .padding = (krt_grid_padding)pad,
                               .align_corners = d->align_corners};
    *y = shape_of(4, (kiln_dim[]){xd[0], xd[1], g->shape.dim[1], g->shape.dim[2]});
    return KILN_OK;
}

static kiln_status infer_gridsample(kiln_infer *c)
{
    krt_gridsample_desc d = {0};
    kiln_shape y;
    kiln_status st = kiln_linalg_gridsample(c, &d, &y);
    if (!st)
        kiln_infer_set(c, 0, kiln_infer_in(c, 0)->dtype, &y);
    return st;
}

static const char *const roi_modes[] = {"avg", "max"};
static const char *const roi_coords[] = {"output_half_pixel", "half_pixel"};

static kiln_status roialign_attrs(kiln_infer *c, krt_roialign_desc *d)
{
    int mode = 0, coord = 0;
    /* opset 10 had no attribute and behaved as output_half_pixel */
    int dflt = kiln_graph_opset(c->g, "") >= 16 || kiln_graph_opset(c->g, "") == 0;
    kiln_status st = get_enum(c, "mode", roi_modes, 2, 0, &mode);
    if (!st) st = get_enum(c, "coordinate_transformation_mode", roi_coords, 2, dflt, &coord);
    if (!st) st = get_int(c, "output_height", 1, 1, INT32_MAX, &d->out_h);
    if (!st) st = get_int(c, "output_width", 1, 1, INT32_MAX, &d->out_w);
    if (!st) st = get_int(c, "sampling_ratio", 0, 0, INT32_MAX, &d->sampling_ratio);
    if (!st) st = get_float(c, "spatial_scale", 1.0f, &d->spatial_scale);
    d->max_mode = mode;
    d->half_pixel = coord;
    return st;
}

kiln_status kiln_linalg_roialign(kiln_infer *c, krt_roialign_desc *d, kiln_shape *y)
{
    kiln_value *x, *rois, *bi;
    memset(d, 0, sizeof *d);
    kiln_status st = need_rank(c, 0, 4, 4, &x);
    if (!st) st = need_rank(c, 1, 2, 2, &rois);
    if (!st) st = need_rank(c, 2, 1, 1, &bi);
    if (!st) st = check_dtype(c, 0, T_FLOAT);
    if (!st) st = check_same_dtype(c, 1, 0);
    if (!st) st = check_dtype(c, 2, DT(I64));
    if (!st) st = check_shape(c, 1, &(kiln_shape){2, {rois->shape.dim[0], 4}});
    if (!st) st = check_shape(c, 2, &(kiln_shape){1, {rois->shape.dim[0]}});
    if (!st) st = roialign_attrs(c, d);
    if (st)
        return st;
    const kiln_dim *xd = x->shape.dim;
    if (xd[2] == 0 || xd[3] == 0)
        return kiln_infer_fail(c, "input 0 ('%s') is an empty image: nothing to sample", x->name);
    d->batch = xd[0], d->channels = xd[1], d->height = xd[2], d->width = xd[3];
    d->num_rois = rois->shape.dim[0];
    *y = shape_of(4, (kiln_dim[]){d->num_rois, xd[1], d->out_h, d->out_w});
    return KILN_OK;
}

static kiln_status infer_roialign(kiln_infer *c)
{
    krt_roialign_desc d = {0};
    kiln_shape y;
    kiln_status st = kiln_linalg_roialign(c, &d, &y);
    if (!st)
        kiln_infer_set(c, 0, kiln_infer_in(c, 0)->dtype, &y);
    return st;
}

/* ===== kiln.Attention (docs/attention.md) ===================================== */

enum { ATT_Q, ATT_K, ATT_V, ATT_BIAS, ATT_P_IN, ATT_MIX, ATT_MIX_SCALE, ATT_MIX_SHIFT, ATT_INPUTS };

static kiln_status need_int(kiln_infer *c, const char *name, int64_t lo, int64_t *out)
{
    if (!kiln_attr_find(c->g, c->n, name))
        return kiln_infer_fail(c, "attribute '%s' is required", name);
    return get_int(c, name, 0, lo, ATTR_MAX, out);
}

static kiln_status need_ints(kiln_infer *c, const char *name, uint32_t n, int64_t *out)
{
    bool present;
    kiln_status st = get_ints(c, name, n, 0, out, &present);
    if (!st && !present)
        return kiln_infer_fail(c, "attribute '%s' is required", name);
    return st;
}

static const char *const att_input_names[ATT_INPUTS] = {
    "Q", "K", "V", "bias", "p_in", "mix", "mix_scale", "mix_shift",
};

/* Rows (b, h, n) for b < B, h < H, n < tokens of input i, each D elements
 * from offset + b*L[1] + h*L[2] + n*L[3], must lie inside the input (when
 * its shape is known). Attributes are at most 2^31, so the sum of the four
 * products fits an unsigned 64-bit integer. */
static kiln_status check_layout(kiln_infer *c, uint32_t i, const char *attr, const int64_t *L,
                                const krt_attention_desc *d, int64_t tokens)
{
    kiln_value *v = kiln_infer_in(c, i);
    int64_t numel;
    /* a run-time batch not known yet: only a layout that ignores it checks */
    int64_t last_b = known(d->batch) ? d->batch - 1 : L[1] == 0 ? 0 : -1;
    if (!v || !kiln_shape_numel(&v->shape, &numel) || last_b < 0)
        return KILN_OK;
    uint64_t end = (uint64_t)L[0] + (uint64_t)last_b * (uint64_t)L[1] +
                   (uint64_t)(d->heads - 1) * (uint64_t)L[2] + (uint64_t)(tokens - 1) * (uint64_t)L[3] +
                   (uint64_t)d->head_dim;
    if (end <= (uint64_t)numel)
        return KILN_OK;
    char s[256];
    return kiln_infer_fail(c, "attribute '%s' = [%lld, %lld, %lld, %lld] addresses elements up to %llu, "
                           "but input %u (%s, '%s') has shape %s (%lld elements)",
                           attr, (long long)L[0], (long long)L[1], (long long)L[2], (long long)L[3],
                           (unsigned long long)end - 1, i, att_input_names[i], v->name,
                           kiln_shape_format(c->g, &v->shape, s, sizeof s), (long long)numel);
}

/* y_layout must place the B*H*Nq rows of D elements onto the numel
 * elements of y_shape exactly once: sorted by stride (ignoring extents of
 * 1), each stride is the product of the extents below it, starting at 1
 * (the contiguous D). That is a permutation of a dense layout. A batch
 * not known yet (read at run time) must have the largest stride: then
 * its size enters no other stride, and any size > 1 checks the same. */
static kiln_status check_y_layout(kiln_infer *c, const krt_attention_desc *d, int64_t numel)
{
    int64_t stride[4] = {d->y_layout[0], d->y_layout[1], d->y_layout[2], 1};
    int64_t extent[4] = {known(d->batch) ? d->batch : 2, d->heads, d->q_tokens, d->head_dim};
    int order[4], n = 0;
    if (d->batch == 0)
        return KILN_OK;  /* an empty batch: nothing is written */
    if (!known(d->batch))
        for (int k = 1; k < 4; k++)
            if (extent[k] > 1 && stride[k] >= stride[0])
                return kiln_infer_fail(c, "attribute 'y_layout' = [%lld, %lld, %lld]: with batch 0 (read at "
                                       "run time) the batch stride must be the largest",
                                       (long long)stride[0], (long long)stride[1], (long long)stride[2]);
    uint64_t end = 1;
    for (int k = 0; k < 4; k++) {
        end += (uint64_t)(extent[k] - 1) * (uint64_t)stride[k];
        if (extent[k] == 1)
            continue;
        int at = n++;
        for (; at > 0 && stride[order[at - 1]] > stride[k]; at--)
            order[at] = order[at - 1];
        order[at] = k;
    }
    int64_t expect = 1;
    bool dense = true;
    for (int k = 0; k < n && dense; k++) {
        dense = stride[order[k]] == expect;
        expect *= extent[order[k]];
    }
    if (dense)
        return KILN_OK;
    if (known(d->batch) && end > (uint64_t)numel)
        return kiln_infer_fail(c, "attribute 'y_layout' = [%lld, %lld, %lld] addresses element %llu, "
                               "but y_shape has %lld elements",
                               (long long)stride[0], (long long)stride[1], (long long)stride[2],
                               (unsigned long long)end - 1, (long long)numel);
    return kiln_infer_fail(c, "attribute 'y_layout' = [%lld, %lld, %lld] does not cover y_shape exactly "
                           "once: rows of Y overlap (and others are never written)",
                           (long long)stride[0], (long long)stride[1], (long long)stride[2]);
}

/* bias [Bb, Hb, Nq', Nk']: Bb divides B, the others are 1 or the full size. */
static kiln_status attention_bias(kiln_infer *c, krt_attention_desc *d)
{
    kiln_value *v;
    if (!kiln_infer_in(c, ATT_BIAS))
        return KILN_OK;
    kiln_status st = need_rank(c, ATT_BIAS, 4, 4, &v);
    if (st)
        return st;
    const kiln_dim *bd = v->shape.dim;
    int64_t full[4] = {d->batch, d->heads, d->q_tokens, d->kv_tokens};
    bool ok = true;
    for (int k = 0; k < 4; k++)  /* a batch not known yet is checked at run time */
        ok = ok && (!known(bd[k]) || (k == 0 ? (bd[k] == 0 && full[0] == 0) ||
                                                         (bd[k] >= 1 && (!known(full[0]) || full[0] % bd[k] == 0))
                                              : bd[k] == 1 || bd[k] == full[k]));
    if (!ok) {
        char s[256];
        return kiln_infer_fail(c, "input 3 (bias, '%s') has shape %s; need [Bb, Hb, Nq, Nk] with Bb "
                               "dividing the batch %lld, Hb 1 or %lld, Nq 1 or %lld, Nk 1 or %lld",
                               v->name, kiln_shape_format(c->g, &v->shape, s, sizeof s),
                               (long long)d->batch, (long long)d->heads, (long long)d->q_tokens,
                               (long long)d->kv_tokens);
    }
    if (!kiln_shape_is_static(&v->shape)) {
        d->bias_batches = 1;  /* a placeholder; lowering sees static shapes */
        return KILN_OK;
    }
    d->bias_batches = bd[0];
    d->bias_stride[3] = bd[3] > 1 ? 1 : 0;
    d->bias_stride[2] = bd[2] > 1 ? bd[3] : 0;
    d->bias_stride[1] = bd[1] > 1 ? bd[2] * bd[3] : 0;
    d->bias_stride[0] = bd[1] * bd[2] * bd[3];
    return KILN_OK;
}

/* Which inputs are given: Q and K absent iff p_in; bias only with Q and
 * K; the three mix inputs together. */
static kiln_status attention_inputs(kiln_infer *c, krt_attention_desc *d)
{
    bool has[ATT_INPUTS];
    for (uint32_t i = 0; i < ATT_INPUTS; i++)
        has[i] = kiln_infer_in(c, i) != NULL;
    d->p_in = has[ATT_P_IN];
    d->reattention = has[ATT_MIX];
    if (!has[ATT_V])
        return kiln_infer_fail(c, "input 2 (V) is required");
    for (uint32_t i = ATT_Q; i <= ATT_BIAS; i++)
        if (i != ATT_V && i != ATT_BIAS && has[i] == d->p_in)
            return kiln_infer_fail(c, d->p_in ? "input %u (%s) must be absent when p_in (input 4) is given"
                                              : "input %u (%s) is required when p_in (input 4) is absent",
                                   i, att_input_names[i]);
    if (d->p_in && has[ATT_BIAS])
        return kiln_infer_fail(c, "input 3 (bias) must be absent when p_in (input 4) is given");
    if (has[ATT_MIX_SCALE] != d->reattention || has[ATT_MIX_SHIFT] != d->reattention)
        return kiln_infer_fail(c, "inputs 5-7 (mix, mix_scale, mix_shift) must be all given or all absent");
    for (uint32_t i = 0; i < ATT_INPUTS; i++) {
        kiln_status st = check_dtype(c, i, DT(F32));
        if (st)
            return st;
    }
    return KILN_OK;
}

kiln_status kiln_linalg_attention(kiln_infer *c, krt_attention_desc *d, kiln_shape *y, kiln_shape *p)
{
    memset(d, 0, sizeof *d);
    int64_t causal = 0;
    const kiln_attr *ys;
    kiln_status st = need_int(c, "batch", 0, &d->batch);  /* 0: V's leading dimension */
    if (!st) st = need_int(c, "heads", 1, &d->heads);
    if (!st) st = need_int(c, "head_dim", 1, &d->head_dim);
    if (!st) st = need_int(c, "q_tokens", 1, &d->q_tokens);
    if (!st) st = need_int(c, "kv_tokens", 1, &d->kv_tokens);
    if (!st) st = get_int(c, "causal", 0, 0, 1, &causal);
    if (!st && !kiln_attr_find(c->g, c->n, "scale"))
        st = kiln_infer_fail(c, "attribute 'scale' is required");
    if (!st) st = get_float(c, "scale", 1.0f, &d->scale);
    if (!st) st = need_ints(c, "q_layout", 4, d->q_layout);
    if (!st) st = need_ints(c, "k_layout", 4, d->k_layout);
    if (!st) st = need_ints(c, "v_layout", 4, d->v_layout);
    if (!st) st = need_ints(c, "y_layout", 3, d->y_layout);
    if (!st) st = find_attr(c, "y_shape", KILN_ATTR_INTS, &ys);
    if (!st && !ys)
        st = kiln_infer_fail(c, "attribute 'y_shape' is required");
    if (!st) st = attention_inputs(c, d);
    bool run_time_batch = !st && d->batch == 0;
    if (run_time_batch) {
        kiln_value *v = kiln_infer_in(c, ATT_V);
        if (v->shape.rank < 1)
            return kiln_infer_fail(c, "attribute 'batch' is 0 (the leading dimension of V), but input 2 "
                                   "(V, '%s') has %s", v->name, v->shape.rank < 0 ? "no known rank" : "rank 0");
        d->batch = v->shape.dim[0];   /* a symbol until the run */
    }
    if (st)
        return st;
    d->causal = (int32_t)causal;
    if (!isfinite(d->scale))
        return kiln_infer_fail(c, "attribute 'scale' is %g, need a finite value", (double)d->scale);
    if (d->causal && d->p_in)
        return kiln_infer_fail(c, "attribute 'causal' needs Q and K; with p_in (input 4) the "
                               "probabilities are given");
    /* with a run-time batch, rows and numel count one batch; y_shape has
     * exactly one 0, the batch */
    int64_t rows, numel = 1, zeros = 0;
    if (!kiln_mul_size(run_time_batch ? 1 : d->batch, d->heads, &rows) ||
        !kiln_mul_size(rows, d->q_tokens, &rows) || !kiln_mul_size(rows, d->head_dim, &rows))
        return kiln_infer_fail(c, "batch * heads * q_tokens * head_dim overflows");
    if (ys->n < 1 || ys->n > KILN_MAX_RANK)
        return kiln_infer_fail(c, "attribute 'y_shape' has %u values, need 1 to %d", ys->n, KILN_MAX_RANK);
    *y = (kiln_shape){.rank = (int)ys->n};
    for (uint32_t k = 0; k < ys->n; k++) {
        if (run_time_batch && ys->u.ints[k] == 0 && zeros++ == 0) {
            y->dim[k] = d->batch;
            continue;
        }
        if (ys->u.ints[k] < 1 || !kiln_mul_size(numel, ys->u.ints[k], &numel))
            return kiln_infer_fail(c, run_time_batch ? "attribute 'y_shape' has %lld at position %u, need a "
                                   "positive size or one 0 (the batch)" : "attribute 'y_shape' has %lld at "
                                   "position %u, need a positive size", (long long)ys->u.ints[k], k);
        y->dim[k] = ys->u.ints[k];
    }
    if (run_time_batch && zeros != 1)
        return kiln_infer_fail(c, "attribute 'batch' is 0 (read at run time), so 'y_shape' needs one 0 for it");
    if (numel != rows)
        return kiln_infer_fail(c, "attribute 'y_shape' has %lld elements%s, need %sheads * q_tokens * "
                               "head_dim = %lld", (long long)numel, run_time_batch ? " per batch" : "",
                               run_time_batch ? "" : "batch * ", (long long)rows);
    if (run_time_batch && known(d->batch) && !kiln_mul_size(numel, d->batch, &numel))
        return kiln_infer_fail(c, "batch * heads * q_tokens * head_dim overflows");
    if (!d->p_in) st = check_layout(c, ATT_Q, "q_layout", d->q_layout, d, d->q_tokens);
    if (!st && !d->p_in) st = check_layout(c, ATT_K, "k_layout", d->k_layout, d, d->kv_tokens);
    if (!st) st = check_layout(c, ATT_V, "v_layout", d->v_layout, d, d->kv_tokens);
    if (!st) st = check_y_layout(c, d, numel);
    if (!st) st = attention_bias(c, d);
    *p = shape_of(4, (kiln_dim[]){d->batch, d->heads, d->q_tokens, d->kv_tokens});
    if (!st) st = check_shape(c, ATT_P_IN, p);
    if (!st) st = check_shape(c, ATT_MIX, &(kiln_shape){2, {d->heads, d->heads}});
    if (!st) st = check_shape(c, ATT_MIX_SCALE, &(kiln_shape){1, {d->heads}});
    if (!st) st = check_shape(c, ATT_MIX_SHIFT, &(kiln_shape){1, {d->heads}});
    d->p_out = kiln_infer_has_out(c, 1);
    return st;
}

static kiln_status infer_attention(kiln_infer *c)
{
    krt_attention_desc d;
    kiln_shape y, p;
    kiln_status st = kiln_linalg_attention(c, &d, &y, &p);
    if (!st) {
        kiln_infer_set(c, 0, KILN_DT_F32, &y);
        kiln_infer_set(c, 1, KILN_DT_F32, &p);
    }
    return st;
}

/* ===== the table ================================================================ */

const kiln_infer_fn kiln_infer_linalg[KILN_OP_COUNT] = {
    [KILN_OP_MATMUL] = infer_matmul,
    [KILN_OP_GEMM] = infer_gemm,
    [KILN_OP_MATMULINTEGER] = infer_matmul_integer,
    [KILN_OP_QLINEARMATMUL] = infer_qlinear_matmul,
    [KILN_OP_CONV] = infer_conv,
    [KILN_OP_CONVTRANSPOSE] = infer_convtranspose,
    [KILN_OP_CONVINTEGER] = infer_conv_integer,
    [KILN_OP_QLINEARCONV] = infer_qlinear_conv,
    [KILN_OP_MAXPOOL] = infer_pool,
    [KILN_OP_AVERAGEPOOL] = infer_pool,
    [KILN_OP_LPPOOL] = infer_pool,
    [KILN_OP_GLOBALAVERAGEPOOL] = infer_global_pool,
    [KILN_OP_GLOBALMAXPOOL] = infer_global_pool,
    [KILN_OP_GLOBALLPPOOL] = infer_global_pool,
    [KILN_OP_MAXUNPOOL] = infer_maxunpool,
    [KILN_OP_RNN] = infer_rnn,
    [KILN_OP_GRU] = infer_rnn,
    [KILN_OP_LSTM] = infer_rnn,
    [KILN_OP_RESIZE] = infer_resize,
    [KILN_OP_GRIDSAMPLE] = infer_gridsample,
    [KILN_OP_ROIALIGN] = infer_roialign,
    [KILN_OP_ATTENTION] = infer_attention,
    [KILN_OP_TOKEN_MERGE] = kiln_infer_token_merge, /* ir/infer_token.c */
    [KILN_OP_TOKEN_PRUNE] = kiln_infer_token_prune,
    [KILN_OP_FUSEDMATMUL] = infer_fused_matmul,
    [KILN_OP_FUSEDCONV] = infer_fused_conv,
};
