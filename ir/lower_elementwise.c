/* lower_elementwise.c — lowering of the elementwise family: node -> kernel
 * calls (ir/lower.h; the kernels and their descriptors are in
 * runtime/krt_elementwise.h).
 *
 * Shape inference has run on the node, so its values have their final
 * dtypes and shapes and the inputs satisfy the op's dtype rules. What is
 * left here: the ONNX defaults of the attributes (unary_ops[]), the
 * broadcast layouts, the per-axis view of (de)quantization, and whether
 * output 0 may overwrite an input (ops flagged INPLACE in ops.def, when the
 * input has the output's dtype and shape). A dtype pair no kernel variant
 * covers is found here — the kernel is asked over an empty range — and
 * reported as unsupported, naming the op and the dtype, so that no
 * executor meets it at run time. kiln_dtype and krt_dtype come from the
 * same .def list, so they convert with a cast.
 */
#include "ir/infer.h"
#include "ir/lower.h"
#include "runtime/krt_elementwise.h"
#include "runtime/krt_movement.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static krt_dtype kdt(kiln_dtype dt)
{
    return (krt_dtype)dt;
}

/* ---- emitting ------------------------------------------------------------------ */

/* Whether kernel k has a variant for desc: a call over an empty range
 * checks the dtypes and touches no operand (krt_elementwise.h). */
static bool kernel_has(krt_kernel_id k, const void *desc, uint32_t n_ops)
{
    void *none[KRT_VARIADIC_MAX_IN + 2] = {0};
    krt_error err = {.operand = -1};
    KILN_ASSERT(n_ops <= sizeof none / sizeof none[0]);
    return krt_kernels[k]->run(desc, none, NULL, (krt_span){0, 0}, &err) != KRT_EDTYPE;
}

/* Output 0 may overwrite node input i: the op is flagged INPLACE and the
 * input has the output's dtype and shape. */
static bool inplace_ok(const kiln_lower *l, uint32_t i)
{
    const kiln_value *y = kiln_lower_out(l, 0), *x = kiln_lower_in(l, i);
    return kiln_op_has_flag(l->n->op, KILN_OPF_INPLACE) && x && x->dtype == y->dtype &&
           kiln_shape_equal(&x->shape, &y->shape);
}

/* The first of the node inputs [0, n) that output 0 may overwrite; -1 if
 * none. Node input i is operand i of the call. */
static int32_t inplace_input(const kiln_lower *l, uint32_t n)
{
    for (uint32_t i = 0; i < n && i < l->n->n_in; i++)
        if (inplace_ok(l, i))
            return (int32_t)i;
    return -1;
}

/* Emit a call to k if it has a variant for desc, with output 0 in place
 * over one of the first `inplace` inputs where legal; NULL if it has none. */
static kiln_kernel_call *try_emit(kiln_lower *l, krt_kernel_id k, const void *desc,
                                  const uint32_t *ops, uint32_t n, uint32_t inplace)
{
    if (!kernel_has(k, desc, n))
        return NULL;
    kiln_kernel_call *c = kiln_lower_emit(l, k, desc, ops, n);
    c->inplace = inplace_input(l, inplace);
    return c;
}

static kiln_status no_kernel(kiln_lower *l, kiln_dtype dt)
{
    return kiln_lower_unsupported(l, "kiln has no %s kernel for %s", kiln_op_name(l->n->op),
                                  kiln_dtype_name(dt));
}

/* try_emit, or "no kernel" for input 0's dtype. */
static kiln_status emit(kiln_lower *l, krt_kernel_id k, const void *desc, const uint32_t *ops,
                        uint32_t n, uint32_t inplace)
{
    return try_emit(l, k, desc, ops, n, inplace) ? KILN_OK : no_kernel(l, kiln_lower_in(l, 0)->dtype);
}

/* ---- unary ----------------------------------------------------------------------- */

typedef struct unary_entry {
    krt_unary_op k;
    krt_unary_params dflt;     /* ONNX defaults of the op's attributes */
} unary_entry;

#define U(op) [KILN_OP_##op] = {KRT_UN_##op, {0}}
#define UP(op, ...) [KILN_OP_##op] = {KRT_UN_##op, {__VA_ARGS__}}
static const unary_entry unary_ops[KILN_OP_COUNT] = {
    U(ABS), U(ACOS), U(ACOSH), U(ASIN), U(ASINH), U(ATAN), U(ATANH), U(CEIL), U(COS),
    U(COSH), U(ERF), U(EXP), U(FLOOR), U(LOG), U(NEG), U(NOT), U(RECIPROCAL), U(RELU),
    U(ROUND), U(SIGMOID), U(SIGN), U(SIN), U(SINH), U(SOFTPLUS), U(SOFTSIGN), U(SQRT),
    U(TAN), U(TANH), U(ISNAN), U(HARDSWISH), U(GELU),
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

static krt_unary_params unary_params(const kiln_lower *l, const krt_unary_params *d)
{
    const kiln_graph *g = l->g;
    const kiln_node *n = l->n;
    krt_unary_params p = {
        .alpha = kiln_attr_float(g, n, "alpha", d->alpha),
        .beta = kiln_attr_float(g, n, "beta", d->beta),
        .gamma = kiln_attr_float(g, n, "gamma", d->gamma),
        .lambd = kiln_attr_float(g, n, "lambd", d->lambd),
        .bias = kiln_attr_float(g, n, "bias", d->bias),
        .detect_positive = (int32_t)kiln_attr_int(g, n, "detect_positive", d->detect_positive),
        .detect_negative = (int32_t)kiln_attr_int(g, n, "detect_negative", d->detect_negative),
        .approximate = strcmp(kiln_attr_string(g, n, "approximate", "none"), "tanh") == 0,
    };
    return p;
}

static kiln_status lower_unary(kiln_lower *l)
{
    const unary_entry *u = &unary_ops[l->n->op];
    const kiln_value *x = kiln_lower_in(l, 0);
    krt_unary_desc d = {.op = u->k, .dt = kdt(x->dtype), .y_dt = kdt(kiln_lower_out(l, 0)->dtype),
                        .p = unary_params(l, &u->dflt), .n = kiln_lower_numel(x)};
    uint32_t ops[] = {kiln_lower_in_id(l, 0), kiln_lower_out_id(l, 0)};
    return emit(l, KRT_K_UNARY, &d, ops, 2, 1);
}

/* Identity (and Dropout's data): a byte copy, a no-op when planned in place. */
static kiln_status lower_identity(kiln_lower *l)
{
    const kiln_value *x = kiln_lower_in(l, 0);
    krt_copy_desc d = {.nbytes = kiln_lower_numel(x) * (int64_t)kiln_dtype_size(x->dtype)};
    uint32_t ops[] = {kiln_lower_in_id(l, 0), kiln_lower_out_id(l, 0)};
    kiln_lower_emit(l, KRT_K_COPY, &d, ops, 2)->inplace = 0;
    return KILN_OK;
}

/* Inference only: the data passes through, the mask (if asked for) is all true. */
static kiln_status lower_dropout(kiln_lower *l)
{
    const kiln_value *mask = kiln_lower_out(l, 1);
    kiln_status st = lower_identity(l);
    if (st != KILN_OK || !mask)
        return st;
    krt_fill_desc d = {.nbytes = kiln_lower_numel(mask) * (int64_t)kiln_dtype_size(mask->dtype),
                       .period = 1, .pattern = {1}};  /* bool true */
    uint32_t ops[] = {kiln_lower_out_id(l, 1)};
    kiln_lower_emit(l, KRT_K_FILL, &d, ops, 1);
    return KILN_OK;
}

/* Cast and CastLike: the target dtype is the output's (from inference). */
static kiln_status lower_cast(kiln_lower *l)
{
    const kiln_value *x = kiln_lower_in(l, 0), *y = kiln_lower_out(l, 0);
    krt_cast_desc d = {.from = kdt(x->dtype), .to = kdt(y->dtype), .n = kiln_lower_numel(x)};
    uint32_t ops[] = {kiln_lower_in_id(l, 0), kiln_lower_out_id(l, 0)};
    if (!try_emit(l, KRT_K_CAST, &d, ops, 2, 0))
        return kiln_lower_unsupported(l, "kiln cannot cast %s to %s", kiln_dtype_name(x->dtype),
                                      kiln_dtype_name(y->dtype));
    return KILN_OK;
}

/* Clip: min and max are optional inputs (absent: no bound). */
static kiln_status lower_clip(kiln_lower *l)
{
    const kiln_value *x = kiln_lower_in(l, 0);
    krt_clip_desc d = {.dt = kdt(x->dtype), .n = kiln_lower_numel(x)};
    uint32_t ops[] = {kiln_lower_in_id(l, 0), kiln_lower_in_id(l, 1), kiln_lower_in_id(l, 2),
                      kiln_lower_out_id(l, 0)};
    for (uint32_t i = 1; i <= 2; i++) {
        const kiln_value *b = kiln_lower_in(l, i);
        if (b && (b->dtype != x->dtype || kiln_lower_numel(b) != 1))
            return kiln_lower_fail(l, "input %u ('%s') must be one %s element", i, b->name,
                                   kiln_dtype_name(x->dtype));
    }
    return emit(l, KRT_K_CLIP, &d, ops, 4, 1);
}

/* ---- broadcasting ------------------------------------------------------------------ */

/* The layout of node inputs ins[0..n) against output 0. */
static kiln_status layout(kiln_lower *l, const uint32_t *ins, int n, krt_bcast *bc)
{
    const kiln_value *y = kiln_lower_out(l, 0);
    char sx[256], sy[256];
    krt_bcast_init(bc, y->shape.rank, y->shape.dim);
    for (int i = 0; i < n; i++) {
        const kiln_value *x = kiln_lower_in(l, ins[i]);
        if (krt_bcast_add_input(bc, x->shape.rank, x->shape.dim))
            return kiln_lower_fail(l, "input '%s' of shape %s does not broadcast to the output shape %s",
                                   x->name, kiln_shape_format(l->g, &x->shape, sx, sizeof sx),
                                   kiln_shape_format(l->g, &y->shape, sy, sizeof sy));
    }
    return KILN_OK;
}

/* y = k(a, b) with a, b the node inputs 0 and 1. */
static kiln_status lower_binary_as(kiln_lower *l, krt_binary_op k)
{
    const kiln_value *a = kiln_lower_in(l, 0), *b = kiln_lower_in(l, 1);
    krt_binary_desc d = {.op = k, .dt = kdt(a->dtype), .b_dt = kdt(b->dtype),
                         .y_dt = kdt(kiln_lower_out(l, 0)->dtype)};
    uint32_t ops[] = {kiln_lower_in_id(l, 0), kiln_lower_in_id(l, 1), kiln_lower_out_id(l, 0)};
    kiln_status st = layout(l, (const uint32_t[]){0, 1}, 2, &d.bc);
    if (st != KILN_OK || try_emit(l, KRT_K_BINARY, &d, ops, 3, 2))
        return st;
    if (k == KRT_BIN_POW)
        return kiln_lower_unsupported(l, "kiln has no Pow kernel for %s ** %s",
                                      kiln_dtype_name(a->dtype), kiln_dtype_name(b->dtype));
    return no_kernel(l, a->dtype);
}

/* The binary ops that map one to one (Mod and BitShift pick by attribute);
 * Sum Max Min Mean fold with theirs. */
typedef struct binary_entry {
    bool has;
    krt_binary_op k;
} binary_entry;

#define BIN(op, kop) [KILN_OP_##op] = {true, KRT_BIN_##kop}
static const binary_entry binary_ops[KILN_OP_COUNT] = {
    BIN(ADD, ADD), BIN(SUB, SUB), BIN(MUL, MUL), BIN(DIV, DIV), BIN(AND, AND), BIN(OR, OR),
    BIN(XOR, XOR), BIN(EQUAL, EQUAL), BIN(GREATER, GREATER), BIN(GREATEROREQUAL, GREATER_EQUAL),
    BIN(LESS, LESS), BIN(LESSOREQUAL, LESS_EQUAL), BIN(PRELU, PRELU), BIN(POW, POW),
    BIN(SUM, ADD), BIN(MEAN, ADD), BIN(MAX, MAX), BIN(MIN, MIN),
};
#undef BIN

static kiln_status lower_binary(kiln_lower *l)
{
    return lower_binary_as(l, binary_ops[l->n->op].k);
}

static kiln_status lower_mod(kiln_lower *l)
{
    bool c_style = kiln_attr_int(l->g, l->n, "fmod", 0) != 0;
    return lower_binary_as(l, c_style ? KRT_BIN_FMOD : KRT_BIN_MOD);
}

static kiln_status lower_bitshift(kiln_lower *l)
{
    bool left = strcmp(kiln_attr_string(l->g, l->n, "direction", ""), "LEFT") == 0;
    return lower_binary_as(l, left ? KRT_BIN_SHL : KRT_BIN_SHR);
}

static kiln_status lower_where(kiln_lower *l)
{
    krt_where_desc d = {.dt = kdt(kiln_lower_in(l, 1)->dtype)};
    uint32_t ops[] = {kiln_lower_in_id(l, 0), kiln_lower_in_id(l, 1), kiln_lower_in_id(l, 2),
                      kiln_lower_out_id(l, 0)};
    kiln_status st = layout(l, (const uint32_t[]){0, 1, 2}, 3, &d.bc);
    if (st != KILN_OK || try_emit(l, KRT_K_WHERE, &d, ops, 4, 0))
        return st;
    return no_kernel(l, kiln_lower_in(l, 1)->dtype);
}

/* ---- Sum Max Min Mean ------------------------------------------------------------------ */

/* Input i's strides over the output's dims. */
static kiln_status input_strides(kiln_lower *l, uint32_t i, int64_t *strides)
{
    const kiln_value *x = kiln_lower_in(l, i), *y = kiln_lower_out(l, 0);
    uint32_t one[1] = {i};
    krt_bcast bc;
    if (krt_bcast_strides(y->shape.rank, y->shape.dim, x->shape.rank, x->shape.dim, strides))
        return layout(l, one, 1, &bc);  /* for its message */
    return KILN_OK;
}

/* Output 0 may overwrite input 0 or 1, which only the first fold step
 * reads, unless the same value comes again later. */
static int32_t variadic_inplace(const kiln_lower *l)
{
    for (uint32_t k = 0; k < 2; k++) {
        bool again = false;
        for (uint32_t i = 2; i < l->n->n_in; i++)
            again |= kiln_lower_in_id(l, i) == kiln_lower_in_id(l, k);
        if (inplace_ok(l, k) && !again)
            return (int32_t)k;
    }
    return -1;
}

/* One `variadic` call folds up to KRT_VARIADIC_MAX_IN inputs; more inputs
 * continue in further calls that take y as their input 0. */
static kiln_status lower_variadic(kiln_lower *l)
{
    const kiln_value *y = kiln_lower_out(l, 0);
    uint32_t n = l->n->n_in, next = 0, y_id = kiln_lower_out_id(l, 0);
    uint32_t ops[KRT_VARIADIC_MAX_IN + 1];
    krt_variadic_desc d = {.op = binary_ops[l->n->op].k, .dt = kdt(y->dtype), .rank = y->shape.rank};
    if (n == 1)
        return lower_identity(l);
    memcpy(d.dims, y->shape.dim, sizeof d.dims);
    while (next < n) {
        int32_t k = 0;
        memset(d.strides, 0, sizeof d.strides);
        if (next > 0) {
            ops[k] = y_id;
            krt_strides(d.rank, d.dims, d.strides[k++]);
        }
        for (; k < KRT_VARIADIC_MAX_IN && next < n; k++, next++) {
            ops[k] = kiln_lower_in_id(l, next);
            if (input_strides(l, next, d.strides[k]) != KILN_OK)
                return KILN_ERR_INVALID;
        }
        d.n_in = k;
        d.divisor = next == n && l->n->op == KILN_OP_MEAN ? (int64_t)n : 0;
        ops[k] = y_id;
        if (l->out->n_calls == KILN_LOWER_MAX_CALLS)
            return kiln_lower_unsupported(l, "%s of %u inputs: kiln takes at most %d",
                                          kiln_op_name(l->n->op), n,
                                          KRT_VARIADIC_MAX_IN + (KILN_LOWER_MAX_CALLS - 1) *
                                                                    (KRT_VARIADIC_MAX_IN - 1));
        bool first = l->out->n_calls == 0;
        kiln_kernel_call *c = try_emit(l, KRT_K_VARIADIC, &d, ops, (uint32_t)k + 1, 0);
        if (!c)
            return no_kernel(l, y->dtype);
        c->inplace = first ? variadic_inplace(l) : -1;
    }
    return KILN_OK;
}

/* ---- quantization ----------------------------------------------------------------------- */

/* x as (outer, channels, inner) around the node's axis; per tensor when
 * the scale has one element. */
static kiln_status qaxis(kiln_lower *l, const kiln_value *x, const kiln_value *scale,
                         krt_qlinear_desc *d)
{
    int axis;
    d->outer = d->channels = 1;
    d->inner = kiln_lower_numel(x);
    if (kiln_lower_numel(scale) == 1)
        return KILN_OK;
    if (!kiln_norm_axis(kiln_attr_int(l->g, l->n, "axis", 1), x->shape.rank, &axis) ||
        kiln_lower_numel(scale) != x->shape.dim[axis])
        return kiln_lower_fail(l, "scale has %lld elements, not 1 or the length of the axis",
                               (long long)kiln_lower_numel(scale));
    d->outer = krt_numel(axis, x->shape.dim);
    d->channels = x->shape.dim[axis];
    d->inner = krt_numel(x->shape.rank - axis - 1, x->shape.dim + axis + 1);
    return KILN_OK;
}

/* QuantizeLinear and DequantizeLinear: ops {x, scale, zero point, y}. */
static kiln_status lower_qlinear(kiln_lower *l)
{
    const kiln_value *x = kiln_lower_in(l, 0), *scale = kiln_lower_in(l, 1);
    const kiln_value *y = kiln_lower_out(l, 0);
    bool quant = l->n->op == KILN_OP_QUANTIZELINEAR;
    krt_qlinear_desc d = {.x_dt = kdt(x->dtype), .y_dt = kdt(y->dtype)};
    uint32_t ops[] = {kiln_lower_in_id(l, 0), kiln_lower_in_id(l, 1), kiln_lower_in_id(l, 2),
                      kiln_lower_out_id(l, 0)};
    if (scale->dtype != KILN_DT_F32)
        return kiln_lower_unsupported(l, "kiln has no %s kernel for a %s scale",
                                      kiln_op_name(l->n->op), kiln_dtype_name(scale->dtype));
    kiln_status st = qaxis(l, x, scale, &d);
    if (st != KILN_OK || try_emit(l, quant ? KRT_K_QUANTIZE_LINEAR : KRT_K_DEQUANTIZE_LINEAR, &d,
                                  ops, 4, 0))
        return st;
    if (quant)
        return kiln_lower_unsupported(l, "kiln cannot quantize %s to %s", kiln_dtype_name(x->dtype),
                                      kiln_dtype_name(y->dtype));
    return no_kernel(l, x->dtype);
}

/* Outputs nobody reads are absent operands: the kernel skips them. */
static kiln_status lower_dynamic_quantize(kiln_lower *l)
{
    const kiln_value *x = kiln_lower_in(l, 0);
    krt_dynamic_quantize_desc d = {.n = kiln_lower_numel(x)};
    uint32_t ops[] = {kiln_lower_in_id(l, 0), kiln_lower_out_id(l, 0), kiln_lower_out_id(l, 1),
                      kiln_lower_out_id(l, 2)};
    if (x->dtype != KILN_DT_F32)
        return no_kernel(l, x->dtype);
    return emit(l, KRT_K_DYNAMIC_QUANTIZE_LINEAR, &d, ops, 4, 0);
}

/* ---- the table --------------------------------------------------------------------------- */

/* ---- kiln.FusedElementwise ------------------------------------------------------ */

static bool program_fail(char *why, size_t size, const char *fmt, ...) KILN_PRINTF(3, 4);
static bool program_fail(char *why, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, size, fmt, ap);
    va_end(ap);
    return false;
}

static int few_op_named(const char *name)
{
    for (int k = 0; k < KRT_FEW_COUNT; k++)
        if (strcmp(krt_few_names[k], name) == 0)
            return k;
    return -1;
}

bool kiln_fused_ew_program(const kiln_graph *g, const kiln_node *n, struct krt_fused_ew_desc *d,
                           char *why, size_t size)
{
    const kiln_attr *ops = kiln_attr_find(g, n, "ops"), *args = kiln_attr_find(g, n, "args");
    const kiln_attr *params = kiln_attr_find(g, n, "params");
    d->n_in = (int32_t)n->n_in;
    if (n->n_in < 1 || n->n_in > KRT_FEW_MAX_IN)
        return program_fail(why, size, "has %u inputs; the fused kernel takes 1 to %d", n->n_in,
                            KRT_FEW_MAX_IN);
    if (!ops || ops->kind != KILN_ATTR_STRINGS || ops->n < 1 || ops->n > KRT_FEW_MAX_OPS)
        return program_fail(why, size, "attribute 'ops' must list 1 to %d instruction names",
                            KRT_FEW_MAX_OPS);
    if (!args || args->kind != KILN_ATTR_INTS || args->n != 2 * ops->n)
        return program_fail(why, size, "attribute 'args' must hold two slots per instruction (%u ints)",
                            2 * ops->n);
    if (params && (params->kind != KILN_ATTR_FLOATS || params->n != 2 * ops->n))
        return program_fail(why, size, "attribute 'params' must hold two floats per instruction "
                            "(%u floats)", 2 * ops->n);
    d->n_ops = (int32_t)ops->n;
    for (uint32_t k = 0; k < ops->n; k++) {
        krt_few_instr *in = &d->ins[k];
        int op = few_op_named(ops->u.strings[k]);
        int64_t a = args->u.ints[2 * k], b = args->u.ints[2 * k + 1], slots = n->n_in + k;
        if (op < 0)
            return program_fail(why, size, "instruction %u: unknown op '%s'", k, ops->u.strings[k]);
        if (a < 0 || a >= slots || b < -1 || b >= slots || (b >= 0) != (krt_few_arity[op] == 2))
            return program_fail(why, size, "instruction %u (%s): operands %lld, %lld: '%s' takes %d "
                                "operand(s), each an input (0..%u) or an earlier result (up to %lld)",
                                k, krt_few_names[op], (long long)a, (long long)b, krt_few_names[op],
                                krt_few_arity[op], n->n_in - 1, (long long)slots - 1);
        *in = (krt_few_instr){.op = op, .a = (int32_t)a, .b = (int32_t)b,
                              .lo = params ? params->u.floats[2 * k] : 0.0f,
                              .hi = params ? params->u.floats[2 * k + 1] : 0.0f};
    }
    return true;
}

/* The inputs' kinds (each is the output's shape, a scalar, or a row along
 * the last axis) and the program; shape inference has checked the rest. */
static kiln_status lower_fused_ew(kiln_lower *l)
{
    const kiln_value *y = kiln_lower_out(l, 0);
    krt_fused_ew_desc d = {.n = kiln_lower_numel(y), .row = y->shape.rank ? y->shape.dim[y->shape.rank - 1] : 1};
    char why[300], sx[256], sy[256];
    uint32_t ops[KRT_FEW_MAX_IN + 1];
    if (!kiln_fused_ew_program(l->g, l->n, &d, why, sizeof why))
        return kiln_lower_fail(l, "%s", why);
    for (uint32_t i = 0; i < l->n->n_in; i++) {
        const kiln_value *x = kiln_lower_in(l, i);
        bool row = x->shape.rank >= 1 && x->shape.rank <= y->shape.rank &&
                   x->shape.dim[x->shape.rank - 1] == d.row;
        for (int k = 0; row && k < x->shape.rank - 1; k++)
            row = x->shape.dim[k] == 1;
        d.kind[i] = kiln_shape_equal(&x->shape, &y->shape) ? KRT_FEW_FULL
                    : kiln_lower_numel(x) == 1              ? KRT_FEW_SCALAR
                    : row                                   ? KRT_FEW_ROW
                                                            : -1;
        if (d.kind[i] < 0)
            return kiln_lower_unsupported(l, "input %u ('%s') of shape %s: the fused kernel takes "
                                          "inputs of the output's shape %s, scalars and rows along "
                                          "the last axis", i, x->name,
                                          kiln_shape_format(l->g, &x->shape, sx, sizeof sx),
                                          kiln_shape_format(l->g, &y->shape, sy, sizeof sy));
        ops[i] = kiln_lower_in_id(l, i);
    }
    if (d.row < 1)
        d.row = 1;
    ops[l->n->n_in] = kiln_lower_out_id(l, 0);
    kiln_kernel_call *c = kiln_lower_emit(l, KRT_K_FUSED_EW, &d, ops, l->n->n_in + 1);
    c->inplace = -1;
    for (uint32_t i = 0; i < l->n->n_in && c->inplace < 0; i++)
        if (d.kind[i] == KRT_FEW_FULL && inplace_ok(l, i))
            c->inplace = (int32_t)i;
    return KILN_OK;
}

const kiln_lower_fn kiln_lower_elementwise[KILN_OP_COUNT] = {
    [KILN_OP_ABS] = lower_unary,          [KILN_OP_ACOS] = lower_unary,
    [KILN_OP_ACOSH] = lower_unary,        [KILN_OP_ASIN] = lower_unary,
    [KILN_OP_ASINH] = lower_unary,        [KILN_OP_ATAN] = lower_unary,
    [KILN_OP_ATANH] = lower_unary,        [KILN_OP_CEIL] = lower_unary,
    [KILN_OP_COS] = lower_unary,          [KILN_OP_COSH] = lower_unary,
    [KILN_OP_ERF] = lower_unary,          [KILN_OP_EXP] = lower_unary,
    [KILN_OP_FLOOR] = lower_unary,        [KILN_OP_LOG] = lower_unary,
    [KILN_OP_NEG] = lower_unary,          [KILN_OP_NOT] = lower_unary,
    [KILN_OP_RECIPROCAL] = lower_unary,   [KILN_OP_RELU] = lower_unary,
    [KILN_OP_ROUND] = lower_unary,        [KILN_OP_SIGMOID] = lower_unary,
    [KILN_OP_SIGN] = lower_unary,         [KILN_OP_SIN] = lower_unary,
    [KILN_OP_SINH] = lower_unary,         [KILN_OP_SOFTPLUS] = lower_unary,
    [KILN_OP_SOFTSIGN] = lower_unary,     [KILN_OP_SQRT] = lower_unary,
    [KILN_OP_TAN] = lower_unary,          [KILN_OP_TANH] = lower_unary,
    [KILN_OP_ISNAN] = lower_unary,        [KILN_OP_ISINF] = lower_unary,
    [KILN_OP_IDENTITY] = lower_identity,  [KILN_OP_HARDSWISH] = lower_unary,
    [KILN_OP_GELU] = lower_unary,         [KILN_OP_FUSEDELEMENTWISE] = lower_fused_ew,
    [KILN_OP_ELU] = lower_unary,          [KILN_OP_SELU] = lower_unary,
    [KILN_OP_CELU] = lower_unary,         [KILN_OP_LEAKYRELU] = lower_unary,
    [KILN_OP_HARDSIGMOID] = lower_unary,  [KILN_OP_THRESHOLDEDRELU] = lower_unary,
    [KILN_OP_SHRINK] = lower_unary,       [KILN_OP_CAST] = lower_cast,
    [KILN_OP_DROPOUT] = lower_dropout,

    [KILN_OP_ADD] = lower_binary,         [KILN_OP_SUB] = lower_binary,
    [KILN_OP_MUL] = lower_binary,         [KILN_OP_DIV] = lower_binary,
    [KILN_OP_POW] = lower_binary,         [KILN_OP_MOD] = lower_mod,
    [KILN_OP_AND] = lower_binary,         [KILN_OP_OR] = lower_binary,
    [KILN_OP_XOR] = lower_binary,         [KILN_OP_EQUAL] = lower_binary,
    [KILN_OP_GREATER] = lower_binary,     [KILN_OP_GREATEROREQUAL] = lower_binary,
    [KILN_OP_LESS] = lower_binary,        [KILN_OP_LESSOREQUAL] = lower_binary,
    [KILN_OP_BITSHIFT] = lower_bitshift,  [KILN_OP_PRELU] = lower_binary,
    [KILN_OP_SUM] = lower_variadic,       [KILN_OP_MAX] = lower_variadic,
    [KILN_OP_MIN] = lower_variadic,       [KILN_OP_MEAN] = lower_variadic,
    [KILN_OP_CLIP] = lower_clip,          [KILN_OP_WHERE] = lower_where,
    [KILN_OP_CASTLIKE] = lower_cast,

    [KILN_OP_QUANTIZELINEAR] = lower_qlinear,
    [KILN_OP_DEQUANTIZELINEAR] = lower_qlinear,
    [KILN_OP_DYNAMICQUANTIZELINEAR] = lower_dynamic_quantize,
};
