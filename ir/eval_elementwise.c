/* eval_elementwise.c — interpreter entries for the elementwise family: read
 * the node's attributes (with the ONNX defaults), lay out the broadcast,
 * call the runtime kernel (runtime/krt_elementwise.h).
 *
 * Shape inference has already run on the node with every input known, so
 * the outputs are allocated with their final shapes and the inputs' dtypes
 * satisfy the op's rules; what is left to fail is a dtype the kernels have
 * no variant for (reported as unsupported, naming the op and dtype).
 * kiln_dtype and krt_dtype come from the same .def list, so they convert
 * with a cast.
 */
#include "ir/infer.h"
#include "ir/interp.h"
#include "runtime/krt_elementwise.h"

#include <string.h>

static krt_dtype kdt(kiln_dtype dt)
{
    return (krt_dtype)dt;
}

static int64_t numel(const kiln_value *v)
{
    int64_t n = 0;
    kiln_shape_numel(&v->shape, &n);
    return n;
}

static kiln_status no_kernel(kiln_eval *e, kiln_dtype dt)
{
    return kiln_eval_unsupported(e, "the interpreter has no %s kernel for %s",
                                 kiln_op_name(e->n->op), kiln_dtype_name(dt));
}

/* ---- unary -------------------------------------------------------------------- */

typedef struct unary_entry {
    bool has;                  /* the op is a krt_unary op */
    krt_unary_op k;
    krt_unary_params dflt;     /* ONNX defaults of the op's attributes */
} unary_entry;

#define U(op) [KILN_OP_##op] = {true, KRT_UN_##op, {0}}
#define UP(op, ...) [KILN_OP_##op] = {true, KRT_UN_##op, {__VA_ARGS__}}
static const unary_entry unary_ops[KILN_OP_COUNT] = {
    U(ABS), U(ACOS), U(ACOSH), U(ASIN), U(ASINH), U(ATAN), U(ATANH), U(CEIL), U(COS),
    U(COSH), U(ERF), U(EXP), U(FLOOR), U(LOG), U(NEG), U(NOT), U(RECIPROCAL), U(RELU),
    U(ROUND), U(SIGMOID), U(SIGN), U(SIN), U(SINH), U(SOFTPLUS), U(SOFTSIGN), U(SQRT),
    U(TAN), U(TANH), U(ISNAN), U(HARDSWISH),
    UP(ISINF, .detect_positive = 1, .detect_negative = 1),
    UP(ELU, .alpha = 1.0f),
    UP(SELU, .alpha = 1.67326319217681884765625f, .gamma = 1.05070102214813232421875f),
    UP(CELU, .alpha = 1.0f),
    UP(LEAKYRELU, .alpha = 0.01f),
    UP(HARDSIGMOID, .alpha = 0.2f, .beta = 0.5f),
    UP(THRESHOLDEDRELU, .alpha = 1.0f),
    UP(SHRINK, .lambd = 0.5f, .bias = 0.0f),
};
#undef U
#undef UP

static krt_unary_params unary_params(const kiln_eval *e, const krt_unary_params *d)
{
    const kiln_graph *g = e->g;
    const kiln_node *n = e->n;
    krt_unary_params p = {
        .alpha = kiln_attr_float(g, n, "alpha", d->alpha),
        .beta = kiln_attr_float(g, n, "beta", d->beta),
        .gamma = kiln_attr_float(g, n, "gamma", d->gamma),
        .lambd = kiln_attr_float(g, n, "lambd", d->lambd),
        .bias = kiln_attr_float(g, n, "bias", d->bias),
        .detect_positive = (int)kiln_attr_int(g, n, "detect_positive", d->detect_positive),
        .detect_negative = (int)kiln_attr_int(g, n, "detect_negative", d->detect_negative),
    };
    return p;
}

static kiln_status eval_unary(kiln_eval *e)
{
    const unary_entry *u = &unary_ops[e->n->op];
    const kiln_value *x = kiln_eval_in(e, 0);
    krt_unary_params p = unary_params(e, &u->dflt);
    if (krt_unary(u->k, kdt(x->dtype), x->data, kiln_eval_out_data(e, 0), numel(x), &p))
        return no_kernel(e, x->dtype);
    return KILN_OK;
}

static kiln_status eval_identity(kiln_eval *e)
{
    const kiln_value *x = kiln_eval_in(e, 0);
    if (x->nbytes)
        memcpy(kiln_eval_out_data(e, 0), x->data, x->nbytes);
    return KILN_OK;
}

/* Inference only: the data passes through, the mask (if asked for) is all true. */
static kiln_status eval_dropout(kiln_eval *e)
{
    kiln_value *mask = kiln_eval_out(e, 1);
    if (mask && mask->nbytes)
        memset((void *)mask->data, 1, mask->nbytes);
    return eval_identity(e);
}

/* Cast and CastLike: the target dtype is the output's (from inference). */
static kiln_status eval_cast(kiln_eval *e)
{
    const kiln_value *x = kiln_eval_in(e, 0);
    const kiln_value *y = kiln_eval_out(e, 0);
    if (krt_cast(kdt(x->dtype), kdt(y->dtype), x->data, (void *)y->data, numel(x)))
        return kiln_eval_unsupported(e, "the interpreter cannot cast %s to %s",
                                     kiln_dtype_name(x->dtype), kiln_dtype_name(y->dtype));
    return KILN_OK;
}

static kiln_status eval_clip(kiln_eval *e)
{
    const kiln_value *x = kiln_eval_in(e, 0), *lo = kiln_eval_in(e, 1), *hi = kiln_eval_in(e, 2);
    if (krt_clip(kdt(x->dtype), x->data, kiln_eval_out_data(e, 0), numel(x),
                 lo ? lo->data : NULL, hi ? hi->data : NULL))
        return no_kernel(e, x->dtype);
    return KILN_OK;
}

/* ---- broadcasting --------------------------------------------------------------- */

/* The layout of inputs ins[0..n) against output 0. */
static kiln_status layout(kiln_eval *e, const kiln_value *const *ins, int n, krt_bcast *bc)
{
    const kiln_value *y = kiln_eval_out(e, 0);
    char sx[256], sy[256];
    krt_bcast_init(bc, y->shape.rank, y->shape.dim);
    for (int i = 0; i < n; i++)
        if (krt_bcast_add_input(bc, ins[i]->shape.rank, ins[i]->shape.dim))
            return kiln_eval_fail(e, "input '%s' of shape %s does not broadcast to the output shape %s",
                                  ins[i]->name, kiln_shape_format(e->g, &ins[i]->shape, sx, sizeof sx),
                                  kiln_shape_format(e->g, &y->shape, sy, sizeof sy));
    return KILN_OK;
}

/* y = k(a, b) with a, b the inputs 0 and 1. */
static kiln_status run_binary(kiln_eval *e, krt_binary_op k)
{
    const kiln_value *ins[2] = {kiln_eval_in(e, 0), kiln_eval_in(e, 1)};
    krt_bcast bc;
    kiln_status st = layout(e, ins, 2, &bc);
    if (st == KILN_OK &&
        krt_binary(k, kdt(ins[0]->dtype), &bc, ins[0]->data, ins[1]->data, kiln_eval_out_data(e, 0)))
        return no_kernel(e, ins[0]->dtype);
    return st;
}

/* The binary ops that map one to one (Mod and BitShift pick by attribute). */
typedef struct binary_entry {
    bool has;
    krt_binary_op k;
} binary_entry;

#define BIN(op, kop) [KILN_OP_##op] = {true, KRT_BIN_##kop}
static const binary_entry binary_ops[KILN_OP_COUNT] = {
    BIN(ADD, ADD), BIN(SUB, SUB), BIN(MUL, MUL), BIN(DIV, DIV), BIN(AND, AND), BIN(OR, OR),
    BIN(XOR, XOR), BIN(EQUAL, EQUAL), BIN(GREATER, GREATER), BIN(GREATEROREQUAL, GREATER_EQUAL),
    BIN(LESS, LESS), BIN(LESSOREQUAL, LESS_EQUAL), BIN(PRELU, PRELU),
    BIN(SUM, ADD), BIN(MEAN, ADD), BIN(MAX, MAX), BIN(MIN, MIN),
};
#undef BIN

static kiln_status eval_binary(kiln_eval *e)
{
    return run_binary(e, binary_ops[e->n->op].k);
}

static kiln_status eval_mod(kiln_eval *e)
{
    bool c_style = kiln_attr_int(e->g, e->n, "fmod", 0) != 0;
    return run_binary(e, c_style ? KRT_BIN_FMOD : KRT_BIN_MOD);
}

static kiln_status eval_bitshift(kiln_eval *e)
{
    bool left = strcmp(kiln_attr_string(e->g, e->n, "direction", ""), "LEFT") == 0;
    return run_binary(e, left ? KRT_BIN_SHL : KRT_BIN_SHR);
}

static kiln_status eval_pow(kiln_eval *e)
{
    const kiln_value *ins[2] = {kiln_eval_in(e, 0), kiln_eval_in(e, 1)};
    krt_bcast bc;
    kiln_status st = layout(e, ins, 2, &bc);
    if (st == KILN_OK && krt_pow(kdt(ins[0]->dtype), kdt(ins[1]->dtype), &bc, ins[0]->data,
                                 ins[1]->data, kiln_eval_out_data(e, 0)))
        return kiln_eval_unsupported(e, "the interpreter has no Pow kernel for %s ** %s",
                                     kiln_dtype_name(ins[0]->dtype), kiln_dtype_name(ins[1]->dtype));
    return st;
}

/* Sum Max Min Mean: y = x0 op x1, then y = y op xi for the rest (y has the
 * output's shape, so it is never broadcast); Mean divides at the end. */
static kiln_status eval_variadic(kiln_eval *e)
{
    kiln_value *y = kiln_eval_out(e, 0);
    const kiln_value *ins[2] = {kiln_eval_in(e, 0), NULL};
    uint32_t n = e->n->n_in;
    krt_binary_op k = binary_ops[e->n->op].k;
    krt_bcast bc;
    kiln_status st = KILN_OK;
    if (n == 1)
        return eval_identity(e);
    for (uint32_t i = 1; i < n && st == KILN_OK; i++) {
        ins[1] = kiln_eval_in(e, i);
        st = layout(e, ins, 2, &bc);
        if (st == KILN_OK && krt_binary(k, kdt(y->dtype), &bc, ins[0]->data, ins[1]->data,
                                        (void *)y->data))
            return no_kernel(e, y->dtype);
        ins[0] = y;
    }
    if (st == KILN_OK && e->n->op == KILN_OP_MEAN && krt_div_count(kdt(y->dtype), (void *)y->data, numel(y), n))
        return no_kernel(e, y->dtype);
    return st;
}

static kiln_status eval_where(kiln_eval *e)
{
    const kiln_value *ins[3] = {kiln_eval_in(e, 0), kiln_eval_in(e, 1), kiln_eval_in(e, 2)};
    krt_bcast bc;
    kiln_status st = layout(e, ins, 3, &bc);
    if (st == KILN_OK && krt_where(kdt(ins[1]->dtype), &bc, ins[0]->data, ins[1]->data,
                                   ins[2]->data, kiln_eval_out_data(e, 0)))
        return no_kernel(e, ins[1]->dtype);
    return st;
}

/* ---- quantization ---------------------------------------------------------------- */

/* x as (outer, channels, inner) around the node's axis; per tensor when
 * the scale has one element. Inference checked the axis and the length. */
static krt_qaxis qaxis(const kiln_eval *e, const kiln_value *x, const kiln_value *scale)
{
    krt_qaxis ax = {1, 1, numel(x)};
    int axis;
    if (numel(scale) == 1)
        return ax;
    KILN_ASSERT(kiln_norm_axis(kiln_attr_int(e->g, e->n, "axis", 1), x->shape.rank, &axis));
    KILN_ASSERT(numel(scale) == x->shape.dim[axis]);
    ax.outer = krt_numel(axis, x->shape.dim);
    ax.channels = x->shape.dim[axis];
    ax.inner = krt_numel(x->shape.rank - axis - 1, x->shape.dim + axis + 1);
    return ax;
}

static kiln_status eval_quantize(kiln_eval *e)
{
    const kiln_value *x = kiln_eval_in(e, 0), *scale = kiln_eval_in(e, 1), *zp = kiln_eval_in(e, 2);
    kiln_value *y = kiln_eval_out(e, 0);
    if (krt_quantize_linear(kdt(x->dtype), kdt(y->dtype), qaxis(e, x, scale), x->data,
                            scale->data, zp ? zp->data : NULL, (void *)y->data))
        return kiln_eval_unsupported(e, "the interpreter cannot quantize %s to %s",
                                     kiln_dtype_name(x->dtype), kiln_dtype_name(y->dtype));
    return KILN_OK;
}

static kiln_status eval_dequantize(kiln_eval *e)
{
    const kiln_value *x = kiln_eval_in(e, 0), *scale = kiln_eval_in(e, 1), *zp = kiln_eval_in(e, 2);
    if (krt_dequantize_linear(kdt(x->dtype), qaxis(e, x, scale), x->data, scale->data,
                              zp ? zp->data : NULL, kiln_eval_out_data(e, 0)))
        return no_kernel(e, x->dtype);
    return KILN_OK;
}

/* The scale and zero point are computed even when the node does not use
 * them as graph outputs: scratch stands in for an absent output. */
static kiln_status eval_dynamic_quantize(kiln_eval *e)
{
    const kiln_value *x = kiln_eval_in(e, 0);
    float *scale = kiln_eval_out_data(e, 1);
    uint8_t *zp = kiln_eval_out_data(e, 2), *y = kiln_eval_out_data(e, 0);
    if (!y)
        y = kiln_eval_scratch(e, (size_t)numel(x));
    if (!scale)
        scale = kiln_eval_scratch(e, sizeof *scale);
    if (!zp)
        zp = kiln_eval_scratch(e, 1);
    krt_dynamic_quantize_linear(x->data, numel(x), y, scale, zp);
    return KILN_OK;
}

/* ---- the table --------------------------------------------------------------------- */

const kiln_eval_fn kiln_eval_elementwise[KILN_OP_COUNT] = {
    [KILN_OP_ABS] = eval_unary,          [KILN_OP_ACOS] = eval_unary,
    [KILN_OP_ACOSH] = eval_unary,        [KILN_OP_ASIN] = eval_unary,
    [KILN_OP_ASINH] = eval_unary,        [KILN_OP_ATAN] = eval_unary,
    [KILN_OP_ATANH] = eval_unary,        [KILN_OP_CEIL] = eval_unary,
    [KILN_OP_COS] = eval_unary,          [KILN_OP_COSH] = eval_unary,
    [KILN_OP_ERF] = eval_unary,          [KILN_OP_EXP] = eval_unary,
    [KILN_OP_FLOOR] = eval_unary,        [KILN_OP_LOG] = eval_unary,
    [KILN_OP_NEG] = eval_unary,          [KILN_OP_NOT] = eval_unary,
    [KILN_OP_RECIPROCAL] = eval_unary,   [KILN_OP_RELU] = eval_unary,
    [KILN_OP_ROUND] = eval_unary,        [KILN_OP_SIGMOID] = eval_unary,
    [KILN_OP_SIGN] = eval_unary,         [KILN_OP_SIN] = eval_unary,
    [KILN_OP_SINH] = eval_unary,         [KILN_OP_SOFTPLUS] = eval_unary,
    [KILN_OP_SOFTSIGN] = eval_unary,     [KILN_OP_SQRT] = eval_unary,
    [KILN_OP_TAN] = eval_unary,          [KILN_OP_TANH] = eval_unary,
    [KILN_OP_ISNAN] = eval_unary,        [KILN_OP_ISINF] = eval_unary,
    [KILN_OP_IDENTITY] = eval_identity,  [KILN_OP_HARDSWISH] = eval_unary,
    [KILN_OP_ELU] = eval_unary,          [KILN_OP_SELU] = eval_unary,
    [KILN_OP_CELU] = eval_unary,         [KILN_OP_LEAKYRELU] = eval_unary,
    [KILN_OP_HARDSIGMOID] = eval_unary,  [KILN_OP_THRESHOLDEDRELU] = eval_unary,
    [KILN_OP_SHRINK] = eval_unary,       [KILN_OP_CAST] = eval_cast,
    [KILN_OP_DROPOUT] = eval_dropout,

    [KILN_OP_ADD] = eval_binary,         [KILN_OP_SUB] = eval_binary,
    [KILN_OP_MUL] = eval_binary,         [KILN_OP_DIV] = eval_binary,
    [KILN_OP_POW] = eval_pow,            [KILN_OP_MOD] = eval_mod,
    [KILN_OP_AND] = eval_binary,         [KILN_OP_OR] = eval_binary,
    [KILN_OP_XOR] = eval_binary,         [KILN_OP_EQUAL] = eval_binary,
    [KILN_OP_GREATER] = eval_binary,     [KILN_OP_GREATEROREQUAL] = eval_binary,
    [KILN_OP_LESS] = eval_binary,        [KILN_OP_LESSOREQUAL] = eval_binary,
    [KILN_OP_BITSHIFT] = eval_bitshift,  [KILN_OP_PRELU] = eval_binary,
    [KILN_OP_SUM] = eval_variadic,       [KILN_OP_MAX] = eval_variadic,
    [KILN_OP_MIN] = eval_variadic,       [KILN_OP_MEAN] = eval_variadic,
    [KILN_OP_CLIP] = eval_clip,          [KILN_OP_WHERE] = eval_where,
    [KILN_OP_CASTLIKE] = eval_cast,

    [KILN_OP_QUANTIZELINEAR] = eval_quantize,
    [KILN_OP_DEQUANTIZELINEAR] = eval_dequantize,
    [KILN_OP_DYNAMICQUANTIZELINEAR] = eval_dynamic_quantize,
};
