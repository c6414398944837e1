/* infer_elementwise.c — shape and dtype inference for the elementwise
 * family: unary math and activations, broadcasting binary and variadic
 * ops, Clip, Where, Cast/CastLike, Dropout, and linear quantization.
 *
 * Most ops are rows in a rule table (allowed dtypes from the ONNX spec up
 * to opset 17, the float attributes they take) read by one function per
 * group; the ops with extra rules (Mod's fmod, BitShift's direction, Pow's
 * two dtypes, PRelu's one-way broadcast, Clip's scalar bounds...) have a
 * function that checks those and then shares the group's. Every output
 * shape comes from the input shapes alone: no op here has a data-dependent
 * shape, so known input data is only used to check values (a Dropout ratio,
 * an i32 zero point).
 */
#include "ir/infer.h"
#include "ir/lower.h"
#include "runtime/krt_elementwise.h"

#include <stdio.h>
#include <string.h>

/* ---- dtype sets: one bit per kiln_dtype ---------------------------------- */

#define DT_BIT(dt) (1u << KILN_DT_##dt)
enum {
    T_FLOAT = DT_BIT(F32) | DT_BIT(F64) | DT_BIT(F16) | DT_BIT(BF16),
    T_F3 = DT_BIT(F32) | DT_BIT(F64) | DT_BIT(F16),  /* the ops without bf16 */
    T_SINT = DT_BIT(I8) | DT_BIT(I16) | DT_BIT(I32) | DT_BIT(I64),
    T_UINT = DT_BIT(U8) | DT_BIT(U16) | DT_BIT(U32) | DT_BIT(U64),
    T_NUM = T_FLOAT | T_SINT | T_UINT,
    T_BOOL = DT_BIT(BOOL),
    T_ALL = T_NUM | T_BOOL,
};

static bool allows(uint32_t set, kiln_dtype dt)
{
    return (unsigned)dt < 32 && (set >> dt & 1u);
}

/* "f32, f64, f16" into buf. */
static const char *set_text(uint32_t set, char *buf, size_t size)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int dt = 1; dt < KILN_DT_COUNT && at < size; dt++)
        if (allows(set, (kiln_dtype)dt))
            at += (size_t)snprintf(buf + at, size - at, "%s%s", at ? ", " : "",
                                   kiln_dtype_name((kiln_dtype)dt));
    return buf;
}

/* Input i (present) must have a dtype in set. */
static kiln_status need_dtype(kiln_infer *c, uint32_t i, const kiln_value *v, uint32_t set)
{
    char buf[128];
    if (allows(set, v->dtype))
        return KILN_OK;
    return kiln_infer_fail(c, "input %u ('%s') is %s; %s takes %s", i, v->name,
                           kiln_dtype_name(v->dtype), kiln_op_name(c->n->op),
                           set_text(set, buf, sizeof buf));
}

/* Input j must have the dtype of input i. */
static kiln_status need_same(kiln_infer *c, uint32_t i, const kiln_value *a, uint32_t j,
                             const kiln_value *b)
{
    if (a->dtype == b->dtype)
        return KILN_OK;
    return kiln_infer_fail(c, "input %u ('%s') is %s but input %u ('%s') is %s; %s needs one dtype",
                           i, a->name, kiln_dtype_name(a->dtype), j, b->name,
                           kiln_dtype_name(b->dtype), kiln_op_name(c->n->op));
}

/* Input i with a known rank and a dtype in set (error if absent). */
static kiln_status need_input(kiln_infer *c, uint32_t i, uint32_t set, kiln_value **v)
{
    kiln_status st = kiln_infer_need(c, i, v);
    return st ? st : need_dtype(c, i, *v, set);
}

/* ---- attributes ------------------------------------------------------------- */

static const char *const kind_names[KILN_ATTR_KIND_COUNT] = {
    [KILN_ATTR_INT] = "an int", [KILN_ATTR_FLOAT] = "a float", [KILN_ATTR_STRING] = "a string",
    [KILN_ATTR_INTS] = "a list of ints", [KILN_ATTR_FLOATS] = "a list of floats",
    [KILN_ATTR_STRINGS] = "a list of strings", [KILN_ATTR_TENSOR] = "a tensor",
};

/* Attribute `name`, when present, must be of `kind`. */
static kiln_status attr_kind(kiln_infer *c, const char *name, kiln_attr_kind kind)
{
    const kiln_attr *a = kiln_attr_find(c->g, c->n, name);
    if (!a || a->kind == kind)
        return KILN_OK;
    return kiln_infer_fail(c, "attribute '%s' must be %s, got %s", name, kind_names[kind],
                           kind_names[a->kind]);
}

/* An int attribute that must be 0 or 1. */
static kiln_status attr_flag(kiln_infer *c, const char *name)
{
    kiln_status st = attr_kind(c, name, KILN_ATTR_INT);
    int64_t v = kiln_attr_int(c->g, c->n, name, 0);
    if (st == KILN_OK && v != 0 && v != 1)
        return kiln_infer_fail(c, "attribute '%s' must be 0 or 1, got %lld", name, (long long)v);
    return st;
}

/* ---- unary ------------------------------------------------------------------- */

typedef struct unary_rule {
    uint32_t types;           /* allowed input dtypes */
    bool to_bool;             /* output is bool, not the input's dtype */
    const char *floats[3];    /* float attributes the op takes */
} unary_rule;

/* R: same dtype out; RB: bool out; RA: takes these float attributes. */
#define R(t) {.types = (t)}
#define RB(t) {.types = (t), .to_bool = true}
#define RA(t, ...) {.types = (t), .floats = {__VA_ARGS__}}
static const unary_rule unary_rules[KILN_OP_COUNT] = {
    [KILN_OP_ABS] = R(T_NUM),        [KILN_OP_ACOS] = R(T_F3),        [KILN_OP_ACOSH] = R(T_F3),
    [KILN_OP_ASIN] = R(T_F3),        [KILN_OP_ASINH] = R(T_F3),       [KILN_OP_ATAN] = R(T_F3),
    [KILN_OP_ATANH] = R(T_F3),       [KILN_OP_CEIL] = R(T_FLOAT),     [KILN_OP_COS] = R(T_F3),
    [KILN_OP_COSH] = R(T_F3),        [KILN_OP_ERF] = R(T_NUM),        [KILN_OP_EXP] = R(T_FLOAT),
    [KILN_OP_FLOOR] = R(T_FLOAT),    [KILN_OP_LOG] = R(T_FLOAT),      [KILN_OP_NEG] = R(T_FLOAT | T_SINT),
    [KILN_OP_NOT] = R(T_BOOL),       [KILN_OP_RECIPROCAL] = R(T_FLOAT),
    [KILN_OP_RELU] = R(T_FLOAT | T_SINT),                            [KILN_OP_ROUND] = R(T_F3),
    [KILN_OP_SIGMOID] = R(T_FLOAT),  [KILN_OP_SIGN] = R(T_NUM),       [KILN_OP_SIN] = R(T_F3),
    [KILN_OP_SINH] = R(T_F3),        [KILN_OP_SOFTPLUS] = R(T_F3),    [KILN_OP_SOFTSIGN] = R(T_F3),
    [KILN_OP_SQRT] = R(T_FLOAT),     [KILN_OP_TAN] = R(T_F3),         [KILN_OP_TANH] = R(T_FLOAT),
    [KILN_OP_ISNAN] = RB(T_FLOAT),
    [KILN_OP_ISINF] = RB(DT_BIT(F32) | DT_BIT(F64)),
    [KILN_OP_IDENTITY] = R(T_ALL),
    [KILN_OP_HARDSWISH] = R(T_F3),
    [KILN_OP_GELU] = R(T_FLOAT),
    [KILN_OP_ELU] = RA(T_F3, "alpha"),
    [KILN_OP_SELU] = RA(T_F3, "alpha", "gamma"),
    [KILN_OP_CELU] = RA(DT_BIT(F32), "alpha"),
    [KILN_OP_LEAKYRELU] = RA(T_FLOAT, "alpha"),
    [KILN_OP_HARDSIGMOID] = RA(T_F3, "alpha", "beta"),
    [KILN_OP_THRESHOLDEDRELU] = RA(T_F3, "alpha"),
    [KILN_OP_SHRINK] = RA(T_F3 | T_SINT | T_UINT, "bias", "lambd"),
};
#undef RA

static kiln_status infer_unary(kiln_infer *c)
{
    const unary_rule *r = &unary_rules[c->n->op];
    kiln_value *x;
    kiln_status st = need_input(c, 0, r->types, &x);
    for (int i = 0; st == KILN_OK && i < 3 && r->floats[i]; i++)
        st = attr_kind(c, r->floats[i], KILN_ATTR_FLOAT);
    if (st == KILN_OK)
        kiln_infer_set(c, 0, r->to_bool ? KILN_DT_BOOL : x->dtype, &x->shape);
    return st;
}

static kiln_status infer_isinf(kiln_infer *c)
{
    kiln_status st = attr_flag(c, "detect_positive");
    if (st == KILN_OK)
        st = attr_flag(c, "detect_negative");
    return st ? st : infer_unary(c);
}

/* kiln.Gelu: approximate is "none" (x * Phi(x), with erf) or "tanh", as
 * in ONNX Gelu-20 (kiln reads opsets up to 18, where there is no Gelu). */
static kiln_status infer_gelu(kiln_infer *c)
{
    kiln_status st = attr_kind(c, "approximate", KILN_ATTR_STRING);
    const char *a = kiln_attr_string(c->g, c->n, "approximate", "none");
    if (st == KILN_OK && strcmp(a, "none") != 0 && strcmp(a, "tanh") != 0)
        return kiln_infer_fail(c, "attribute 'approximate' must be \"none\" or \"tanh\", got \"%s\"", a);
    return st ? st : infer_unary(c);
}

/* Celu divides by alpha. */
static kiln_status infer_celu(kiln_infer *c)
{
    kiln_status st = infer_unary(c);
    if (st == KILN_OK && kiln_attr_float(c->g, c->n, "alpha", 1.0f) == 0.0f)
        return kiln_infer_fail(c, "attribute 'alpha' must not be 0");
    return st;
}

/* ---- binary --------------------------------------------------------------------- */

typedef struct binary_rule {
    uint32_t types;   /* allowed dtypes (both inputs have the same) */
    bool to_bool;     /* comparisons and logic give bool */
} binary_rule;

static const binary_rule binary_rules[KILN_OP_COUNT] = {
    [KILN_OP_ADD] = R(T_NUM),       [KILN_OP_SUB] = R(T_NUM),     [KILN_OP_MUL] = R(T_NUM),
    [KILN_OP_DIV] = R(T_NUM),       [KILN_OP_MOD] = R(T_NUM),
    [KILN_OP_AND] = RB(T_BOOL), [KILN_OP_OR] = RB(T_BOOL), [KILN_OP_XOR] = RB(T_BOOL),
    [KILN_OP_EQUAL] = RB(T_ALL), [KILN_OP_GREATER] = RB(T_NUM),
    [KILN_OP_GREATEROREQUAL] = RB(T_NUM), [KILN_OP_LESS] = RB(T_NUM),
    [KILN_OP_LESSOREQUAL] = RB(T_NUM),
    [KILN_OP_BITSHIFT] = R(T_UINT),
    [KILN_OP_PRELU] = R(T_FLOAT | DT_BIT(I32) | DT_BIT(I64) | DT_BIT(U32) | DT_BIT(U64)),
    [KILN_OP_SUM] = R(T_FLOAT),     [KILN_OP_MEAN] = R(T_FLOAT),
    [KILN_OP_MAX] = R(T_NUM),       [KILN_OP_MIN] = R(T_NUM),
};
#undef R
#undef RB

/* Inputs 0..n-1: all present, one dtype from the op's rule; their
 * broadcast shape into *out. */
static kiln_status broadcast_inputs(kiln_infer *c, uint32_t n, kiln_value **first, kiln_shape *out)
{
    kiln_value *v;
    kiln_status st = need_input(c, 0, binary_rules[c->n->op].types, first);
    if (st)
        return st;
    *out = (*first)->shape;
    for (uint32_t i = 1; i < n && st == KILN_OK; i++) {
        st = kiln_infer_need(c, i, &v);
        if (st == KILN_OK)
            st = need_same(c, 0, *first, i, v);
        if (st == KILN_OK)
            st = kiln_infer_broadcast(c, out, &v->shape, out);
    }
    return st;
}

static kiln_status infer_binary(kiln_infer *c)
{
    kiln_value *a;
    kiln_shape s;
    kiln_status st = broadcast_inputs(c, 2, &a, &s);
    if (st == KILN_OK)
        kiln_infer_set(c, 0, binary_rules[c->n->op].to_bool ? KILN_DT_BOOL : a->dtype, &s);
    return st;
}

/* kiln.FusedElementwise (fuse-elementwise): f32 inputs, a valid program
 * (ir/lower.h reads it), the inputs' broadcast shape. */
static kiln_status infer_fused_ew(kiln_infer *c)
{
    kiln_value *v;
    kiln_shape s;
    krt_fused_ew_desc d;
    char why[300];
    kiln_status st = KILN_OK;
    for (uint32_t i = 0; i < kiln_infer_n_in(c) && st == KILN_OK; i++) {
        st = kiln_infer_need(c, i, &v);
        if (st == KILN_OK && v->dtype != KILN_DT_F32)
            return kiln_infer_fail(c, "input %u ('%s') is %s; the fused elementwise kernel takes f32",
                                   i, v->name, kiln_dtype_name(v->dtype));
        if (st == KILN_OK)
            st = i == 0 ? (s = v->shape, KILN_OK) : kiln_infer_broadcast(c, &s, &v->shape, &s);
    }
    if (st)
        return st;
    if (!kiln_fused_ew_program(c->g, c->n, &d, why, sizeof why))
        return kiln_infer_fail(c, "%s", why);
    kiln_infer_set(c, 0, KILN_DT_F32, &s);
    return KILN_OK;
}

/* Sum Max Min Mean: any number of inputs (at least one). */
static kiln_status infer_variadic(kiln_infer *c)
{
    kiln_value *a;
    kiln_shape s;
    kiln_status st = broadcast_inputs(c, kiln_infer_n_in(c), &a, &s);
    if (st == KILN_OK)
        kiln_infer_set(c, 0, a->dtype, &s);
    return st;
}

/* Python-style integer Mod has no meaning for floats: the spec requires fmod = 1. */
static kiln_status infer_mod(kiln_infer *c)
{
    kiln_status st = attr_flag(c, "fmod");
    kiln_value *a = kiln_infer_in(c, 0);
    if (st == KILN_OK && kiln_attr_int(c->g, c->n, "fmod", 0) == 0 && a &&
        kiln_dtype_is_float(a->dtype))
        return kiln_infer_fail(c, "input 0 ('%s') is %s: Mod of floats needs fmod = 1",
                               a->name, kiln_dtype_name(a->dtype));
    return st ? st : infer_binary(c);
}

static kiln_status infer_bitshift(kiln_infer *c)
{
    const kiln_attr *a = kiln_attr_find(c->g, c->n, "direction");
    if (!a)
        return kiln_infer_fail(c, "attribute 'direction' (\"LEFT\" or \"RIGHT\") is required");
    kiln_status st = attr_kind(c, "direction", KILN_ATTR_STRING);
    if (st == KILN_OK && strcmp(a->u.s, "LEFT") != 0 && strcmp(a->u.s, "RIGHT") != 0)
        return kiln_infer_fail(c, "attribute 'direction' must be \"LEFT\" or \"RIGHT\", got \"%s\"",
                               a->u.s);
    return st ? st : infer_binary(c);
}

/* Pow: the exponent may have another dtype; the output has the base's. */
static kiln_status infer_pow(kiln_infer *c)
{
    kiln_value *a, *b;
    kiln_shape s;
    kiln_status st = need_input(c, 0, T_FLOAT | DT_BIT(I32) | DT_BIT(I64), &a);
    if (st == KILN_OK)
        st = need_input(c, 1, T_NUM, &b);
    if (st == KILN_OK)
        st = kiln_infer_broadcast(c, &a->shape, &b->shape, &s);
    if (st == KILN_OK)
        kiln_infer_set(c, 0, a->dtype, &s);
    return st;
}

/* PRelu: slope broadcasts to X's shape (one way); the output is X's shape. */
static kiln_status infer_prelu(kiln_infer *c)
{
    kiln_value *x, *slope;
    kiln_shape s;
    char sx[256], ss[256];
    kiln_status st = broadcast_inputs(c, 2, &x, &s);
    if (st)
        return st;
    slope = kiln_infer_in(c, 1);
    bool fits = slope->shape.rank <= x->shape.rank;
    for (int i = 0; fits && i < s.rank; i++)
        fits = KILN_DIM_IS_SYM(x->shape.dim[i]) || s.dim[i] == x->shape.dim[i];
    if (!fits)
        return kiln_infer_fail(c, "slope shape %s does not broadcast to X's shape %s",
                               kiln_shape_format(c->g, &slope->shape, ss, sizeof ss),
                               kiln_shape_format(c->g, &x->shape, sx, sizeof sx));
    kiln_infer_set(c, 0, x->dtype, &x->shape);
    return KILN_OK;
}

/* ---- Clip, Where ------------------------------------------------------------------ */

/* A shape that holds exactly one element (rank 0, or all dims 1), or an
 * unknown rank that may. */
static bool is_scalar_shape(const kiln_shape *s)
{
    int64_t n;
    return s->rank <= 0 || (kiln_shape_numel(s, &n) && n == 1);
}

/* Optional input i: absent, or a one-element tensor of x's dtype. */
static kiln_status need_scalar_like(kiln_infer *c, uint32_t i, const kiln_value *x)
{
    kiln_value *v = kiln_infer_in(c, i);
    char buf[256];
    kiln_status st = v ? need_same(c, 0, x, i, v) : KILN_OK;
    if (st == KILN_OK && v && !is_scalar_shape(&v->shape))
        return kiln_infer_fail(c, "input %u ('%s') must be a scalar, got shape %s", i, v->name,
                               kiln_shape_format(c->g, &v->shape, buf, sizeof buf));
    return st;
}

static kiln_status infer_clip(kiln_infer *c)
{
    kiln_value *x;
    kiln_status st = need_input(c, 0, T_NUM, &x);
    for (uint32_t i = 1; st == KILN_OK && i < 3; i++)
        st = need_scalar_like(c, i, x);
    if (st == KILN_OK)
        kiln_infer_set(c, 0, x->dtype, &x->shape);
    return st;
}

static kiln_status infer_where(kiln_infer *c)
{
    kiln_value *cond, *a, *b;
    kiln_shape s;
    kiln_status st = need_input(c, 0, T_BOOL, &cond);
    if (st == KILN_OK)
        st = need_input(c, 1, T_ALL, &a);
    if (st == KILN_OK)
        st = kiln_infer_need(c, 2, &b);
    if (st == KILN_OK)
        st = need_same(c, 1, a, 2, b);
    if (st == KILN_OK)
        st = kiln_infer_broadcast(c, &cond->shape, &a->shape, &s);
    if (st == KILN_OK)
        st = kiln_infer_broadcast(c, &s, &b->shape, &s);
    if (st == KILN_OK)
        kiln_infer_set(c, 0, a->dtype, &s);
    return st;
}

/* ---- Cast, CastLike, Dropout -------------------------------------------------- */

/* Canonical Cast carries the target as a dtype name (docs/canonical-forms.md). */
static kiln_status infer_cast(kiln_infer *c)
{
    kiln_value *x;
    const kiln_attr *to = kiln_attr_find(c->g, c->n, "to");
    kiln_status st = need_input(c, 0, T_ALL, &x);
    if (st)
        return st;
    if (!to)
        return kiln_infer_fail(c, "attribute 'to' (the target dtype) is required");
    if (to->kind != KILN_ATTR_STRING)
        return kiln_infer_fail(c, "attribute 'to' must be a dtype name (a string), got %s",
                               kind_names[to->kind]);
    kiln_dtype dt = kiln_dtype_from_name(to->u.s);
    if (dt == KILN_DT_UNDEF)
        return kiln_infer_unsupported(c, "attribute 'to' names no dtype kiln knows: \"%s\"", to->u.s);
    kiln_infer_set(c, 0, dt, &x->shape);
    return KILN_OK;
}

static kiln_status infer_castlike(kiln_infer *c)
{
    kiln_value *x, *like;
    kiln_status st = need_input(c, 0, T_ALL, &x);
    if (st == KILN_OK)
        st = need_input(c, 1, T_ALL, &like);
    if (st == KILN_OK)
        kiln_infer_set(c, 0, like->dtype, &x->shape);
    return st;
}

/* Optional scalar input i of a dtype in set; its value (when known) in *v. */
static kiln_status optional_scalar(kiln_infer *c, uint32_t i, uint32_t set, double *v, bool *known)
{
    kiln_value *in = kiln_infer_in(c, i);
    char buf[256];
    *known = false;
    if (!in)
        return KILN_OK;
    kiln_status st = need_dtype(c, i, in, set);
    if (st == KILN_OK && !is_scalar_shape(&in->shape))
        return kiln_infer_fail(c, "input %u ('%s') must be a scalar, got shape %s", i, in->name,
                               kiln_shape_format(c->g, &in->shape, buf, sizeof buf));
    *known = st == KILN_OK && kiln_infer_floats(c, i, v, 1) == 1;
    return st;
}

/* Inference-only Dropout: the output is the input, the mask all true.
 * A training_mode input that is not known here (a graph input) is taken
 * as false; the interpreter, which knows it, rejects true. */
static kiln_status infer_dropout(kiln_infer *c)
{
    kiln_value *x;
    double ratio, training;
    bool ratio_known, training_known;
    kiln_status st = need_input(c, 0, T_FLOAT, &x);
    if (st == KILN_OK)
        st = attr_kind(c, "seed", KILN_ATTR_INT);
    if (st == KILN_OK)
        st = optional_scalar(c, 1, T_F3, &ratio, &ratio_known);
    if (st == KILN_OK)
        st = optional_scalar(c, 2, T_BOOL, &training, &training_known);
    if (st)
        return st;
    if (ratio_known && !(ratio >= 0 && ratio < 1))
        return kiln_infer_fail(c, "ratio must be in [0, 1), got %g", ratio);
    /* Training with ratio 0 drops nothing: the same as inference. */
    if (training_known && training != 0 && !(ratio_known && ratio == 0))
        return kiln_infer_unsupported(c, "training_mode is true with a ratio that is not 0: "
                                         "kiln runs inference only");
    kiln_infer_set(c, 0, x->dtype, &x->shape);
    kiln_infer_set(c, 1, KILN_DT_BOOL, &x->shape);
    return KILN_OK;
}

/* ---- quantization ------------------------------------------------------------------ */

/* A per-axis scale: 1-D, as long as x's `axis` dim. */
static kiln_status check_qaxis(kiln_infer *c, const kiln_value *x, const kiln_value *scale)
{
    char buf[256];
    int axis;
    int64_t a = kiln_attr_int(c->g, c->n, "axis", 1);
    if (scale->shape.rank != 1)
        return kiln_infer_fail(c, "scale must be a scalar or 1-D, got shape %s",
                               kiln_shape_format(c->g, &scale->shape, buf, sizeof buf));
    if (!kiln_norm_axis(a, x->shape.rank, &axis))
        return kiln_infer_fail(c, "axis %lld is out of range for rank %d", (long long)a, x->shape.rank);
    kiln_dim d = x->shape.dim[axis], n = scale->shape.dim[0];
    if (!KILN_DIM_IS_SYM(d) && !KILN_DIM_IS_SYM(n) && d != n)
        return kiln_infer_fail(c, "scale has %lld elements but axis %d of input 0 has %lld",
                               (long long)n, axis, (long long)d);
    return KILN_OK;
}

/* Scale (input 1, f32) and zero point (input 2, optional, a dtype in
 * zp_set): per tensor (one element each) or per axis (check_qaxis); the
 * zero point has the scale's shape. */
static kiln_status check_qparams(kiln_infer *c, const kiln_value *x, uint32_t zp_set)
{
    kiln_value *scale, *zp = kiln_infer_in(c, 2);
    char buf[256], buf2[256];
    kiln_status st = need_input(c, 1, DT_BIT(F32), &scale);
    if (st == KILN_OK)
        st = attr_kind(c, "axis", KILN_ATTR_INT);
    if (st == KILN_OK && zp)
        st = need_input(c, 2, zp_set, &zp);
    if (st)
        return st;
    bool per_tensor = is_scalar_shape(&scale->shape);
    if (zp && !kiln_shape_equal(&zp->shape, &scale->shape) &&
        !(per_tensor && is_scalar_shape(&zp->shape)))
        return kiln_infer_fail(c, "zero point shape %s differs from scale shape %s",
                               kiln_shape_format(c->g, &zp->shape, buf, sizeof buf),
                               kiln_shape_format(c->g, &scale->shape, buf2, sizeof buf2));
    return per_tensor ? KILN_OK : check_qaxis(c, x, scale);
}

static kiln_status infer_quantize(kiln_infer *c)
{
    kiln_value *x, *zp;
    kiln_status st = need_input(c, 0, DT_BIT(F32) | DT_BIT(I32), &x);
    if (st == KILN_OK)
        st = check_qparams(c, x, DT_BIT(U8) | DT_BIT(I8));
    if (st)
        return st;
    zp = kiln_infer_in(c, 2);
    kiln_infer_set(c, 0, zp ? zp->dtype : KILN_DT_U8, &x->shape);
    return KILN_OK;
}

/* An i32 zero point must be 0 (spec), checked when its data is known. */
static kiln_status check_i32_zero_point(kiln_infer *c)
{
    int64_t zp[1024];
    int64_t n = kiln_infer_ints(c, 2, zp, 1024);  /* -2 (larger): left unchecked */
    for (int64_t i = 0; i < n; i++)
        if (zp[i] != 0)
            return kiln_infer_fail(c, "an i32 zero point must be 0, got %lld at %lld",
                                   (long long)zp[i], (long long)i);
    return KILN_OK;
}

static kiln_status infer_dequantize(kiln_infer *c)
{
    kiln_value *x;
    kiln_status st = need_input(c, 0, DT_BIT(U8) | DT_BIT(I8) | DT_BIT(I32), &x);
    if (st == KILN_OK)
        st = check_qparams(c, x, 1u << x->dtype);
    if (st == KILN_OK && x->dtype == KILN_DT_I32 && kiln_infer_in(c, 2))
        st = check_i32_zero_point(c);
    if (st == KILN_OK)
        kiln_infer_set(c, 0, KILN_DT_F32, &x->shape);
    return st;
}

static kiln_status infer_dynamic_quantize(kiln_infer *c)
{
    kiln_value *x;
    kiln_shape scalar = kiln_shape_make(0, NULL);
    kiln_status st = need_input(c, 0, DT_BIT(F32), &x);
    if (st)
        return st;
    kiln_infer_set(c, 0, KILN_DT_U8, &x->shape);
    kiln_infer_set(c, 1, KILN_DT_F32, &scalar);
    kiln_infer_set(c, 2, KILN_DT_U8, &scalar);
    return KILN_OK;
}

/* ---- the table ------------------------------------------------------------------ */

const kiln_infer_fn kiln_infer_elementwise[KILN_OP_COUNT] = {
    [KILN_OP_ABS] = infer_unary,          [KILN_OP_ACOS] = infer_unary,
    [KILN_OP_ACOSH] = infer_unary,        [KILN_OP_ASIN] = infer_unary,
    [KILN_OP_ASINH] = infer_unary,        [KILN_OP_ATAN] = infer_unary,
    [KILN_OP_ATANH] = infer_unary,        [KILN_OP_CEIL] = infer_unary,
    [KILN_OP_COS] = infer_unary,          [KILN_OP_COSH] = infer_unary,
    [KILN_OP_ERF] = infer_unary,          [KILN_OP_EXP] = infer_unary,
    [KILN_OP_FLOOR] = infer_unary,        [KILN_OP_LOG] = infer_unary,
    [KILN_OP_NEG] = infer_unary,          [KILN_OP_NOT] = infer_unary,
    [KILN_OP_RECIPROCAL] = infer_unary,   [KILN_OP_RELU] = infer_unary,
    [KILN_OP_ROUND] = infer_unary,        [KILN_OP_SIGMOID] = infer_unary,
    [KILN_OP_SIGN] = infer_unary,         [KILN_OP_SIN] = infer_unary,
    [KILN_OP_SINH] = infer_unary,         [KILN_OP_SOFTPLUS] = infer_unary,
    [KILN_OP_SOFTSIGN] = infer_unary,     [KILN_OP_SQRT] = infer_unary,
    [KILN_OP_TAN] = infer_unary,          [KILN_OP_TANH] = infer_unary,
    [KILN_OP_ISNAN] = infer_unary,        [KILN_OP_ISINF] = infer_isinf,
    [KILN_OP_IDENTITY] = infer_unary,     [KILN_OP_HARDSWISH] = infer_unary,
    [KILN_OP_GELU] = infer_gelu,          [KILN_OP_FUSEDELEMENTWISE] = infer_fused_ew,
    [KILN_OP_ELU] = infer_unary,          [KILN_OP_SELU] = infer_unary,
    [KILN_OP_CELU] = infer_celu,          [KILN_OP_LEAKYRELU] = infer_unary,
    [KILN_OP_HARDSIGMOID] = infer_unary,  [KILN_OP_THRESHOLDEDRELU] = infer_unary,
    [KILN_OP_SHRINK] = infer_unary,       [KILN_OP_CAST] = infer_cast,
    [KILN_OP_DROPOUT] = infer_dropout,

    [KILN_OP_ADD] = infer_binary,         [KILN_OP_SUB] = infer_binary,
    [KILN_OP_MUL] = infer_binary,         [KILN_OP_DIV] = infer_binary,
    [KILN_OP_POW] = infer_pow,            [KILN_OP_MOD] = infer_mod,
    [KILN_OP_AND] = infer_binary,         [KILN_OP_OR] = infer_binary,
    [KILN_OP_XOR] = infer_binary,         [KILN_OP_EQUAL] = infer_binary,
    [KILN_OP_GREATER] = infer_binary,     [KILN_OP_GREATEROREQUAL] = infer_binary,
    [KILN_OP_LESS] = infer_binary,        [KILN_OP_LESSOREQUAL] = infer_binary,
    [KILN_OP_BITSHIFT] = infer_bitshift,  [KILN_OP_PRELU] = infer_prelu,
    [KILN_OP_SUM] = infer_variadic,       [KILN_OP_MAX] = infer_variadic,
    [KILN_OP_MIN] = infer_variadic,       [KILN_OP_MEAN] = infer_variadic,
    [KILN_OP_CLIP] = infer_clip,          [KILN_OP_WHERE] = infer_where,
    [KILN_OP_CASTLIKE] = infer_castlike,

    [KILN_OP_QUANTIZELINEAR] = infer_quantize,
    [KILN_OP_DEQUANTIZELINEAR] = infer_dequantize,
    [KILN_OP_DYNAMICQUANTIZELINEAR] = infer_dynamic_quantize,
};
