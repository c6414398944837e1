/* krt_elementwise_fused.c — kernel `fused_ew`: a fuse-elementwise chain
 * (kiln.FusedElementwise) evaluated over blocks of the output.
 *
 * The program (krt_elementwise.h) runs one instruction at a time over a
 * block of BLOCK consecutive output elements, each instruction a plain
 * loop over the block (vectorized by the compiler) or, for the
 * transcendental ones, krt_vmath_f32 over the block, so every element goes
 * through exactly the function the unfused op's kernel applies: the fused
 * result equals the unfused graph bit for bit (same expressions, same
 * vector math; the vector math pads its tail, so an element's result does
 * not depend on its position in a block). A block never straddles a unit,
 * and each element depends only on inputs at its own position, so any
 * split over threads gives the same bytes.
 *
 * Instructions are a table of loop functions indexed by the op, not a
 * switch: the LLVM backend emits the same table as vector IR
 * (backends/llvm/llvm_fused.c).
 */
#define KRT_ELEMENTWISE_SOURCE
#include "runtime/krt_elementwise.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#define BLOCK 256

#define KRT_X_(e, name, arity, vm) [KRT_FEW_##e] = name,
const char *const krt_few_names[KRT_FEW_COUNT] = {KRT_FEW_OPS(KRT_X_)};
#undef KRT_X_
#define KRT_X_(e, name, arity, vm) [KRT_FEW_##e] = arity,
const int8_t krt_few_arity[KRT_FEW_COUNT] = {KRT_FEW_OPS(KRT_X_)};
#undef KRT_X_
#define KRT_X_(e, name, arity, vm) [KRT_FEW_##e] = vm,
const int8_t krt_few_vmath[KRT_FEW_COUNT] = {KRT_FEW_OPS(KRT_X_)};
#undef KRT_X_

/* ---- the instructions: y[i] = f(a[i], b[i]) over one block ---------------- */

typedef void (*few_fn)(const float *a, const float *b, float *y, int64_t n, const krt_few_instr *in);

/* Two-operand and one-operand instructions (the latter never read b). */
#define DEF_FEW2(name, EXPR)                                                                 \
    static void few_##name(const float *as, const float *bs, float *y, int64_t n,            \
                           const krt_few_instr *in)                                          \
    {                                                                                        \
        (void)in;                                                                            \
        for (int64_t i = 0; i < n; i++) {                                                    \
            float a = as[i], b = bs[i];                                                      \
            y[i] = (EXPR);                                                                   \
        }                                                                                    \
    }
#define DEF_FEW1(name, EXPR)                                                                 \
    static void few_##name(const float *as, const float *bs, float *y, int64_t n,            \
                           const krt_few_instr *in)                                          \
    {                                                                                        \
        (void)bs, (void)in;                                                                  \
        for (int64_t i = 0; i < n; i++) {                                                    \
            float a = as[i];                                                                 \
            y[i] = (EXPR);                                                                   \
        }                                                                                    \
    }

/* The binary kernel's NaN-propagating max/min and the unary kernel's
 * HardSwish, the same text (krt_elementwise_binary.c, _unary.c). */
#define FMAX_(a, b) ((a) != (a) || (a) > (b) ? (a) : (b))
#define FMIN_(a, b) ((a) != (a) || (a) < (b) ? (a) : (b))
#define CLAMP01_(v) ((v) < 0 ? 0.0f : (v) > 1 ? 1.0f : (v))

DEF_FEW2(add, a + b)
DEF_FEW2(sub, a - b)
DEF_FEW2(mul, a * b)
DEF_FEW2(div, a / b)
DEF_FEW2(max, FMAX_(a, b))
DEF_FEW2(min, FMIN_(a, b))
DEF_FEW1(square, a * a)
DEF_FEW1(neg, -a)
DEF_FEW1(abs, fabsf(a))
DEF_FEW1(sqrt, sqrtf(a))
DEF_FEW1(recip, 1 / a)
DEF_FEW1(relu, a < 0 ? 0.0f : a)
DEF_FEW1(clip, (a < in->lo ? in->lo : a) > in->hi ? in->hi : (a < in->lo ? in->lo : a))
DEF_FEW1(hardswish, a * CLAMP01_((float)(1.0 / 6) * a + 0.5f))
DEF_FEW1(leakyrelu, a < 0 ? in->lo * a : a)

static void few_vmath(const float *a, const float *b, float *y, int64_t n, const krt_few_instr *in)
{
    (void)b;
    krt_vmath_f32((krt_vmath_op)krt_few_vmath[in->op], a, y, n);
}

static const few_fn few_fns[KRT_FEW_COUNT] = {
    [KRT_FEW_ADD] = few_add,     [KRT_FEW_SUB] = few_sub,       [KRT_FEW_MUL] = few_mul,
    [KRT_FEW_DIV] = few_div,     [KRT_FEW_MAX] = few_max,       [KRT_FEW_MIN] = few_min,
    [KRT_FEW_SQUARE] = few_square, [KRT_FEW_NEG] = few_neg,     [KRT_FEW_ABS] = few_abs,
    [KRT_FEW_SQRT] = few_sqrt,   [KRT_FEW_RECIP] = few_recip,   [KRT_FEW_RELU] = few_relu,
    [KRT_FEW_CLIP] = few_clip,   [KRT_FEW_HARDSWISH] = few_hardswish,
    [KRT_FEW_LEAKYRELU] = few_leakyrelu,
    [KRT_FEW_EXP] = few_vmath,   [KRT_FEW_ERF] = few_vmath,     [KRT_FEW_TANH] = few_vmath,
    [KRT_FEW_SIGMOID] = few_vmath, [KRT_FEW_GELU_ERF] = few_vmath, [KRT_FEW_GELU_TANH] = few_vmath,
};

/* ---- the kernel --------------------------------------------------------------- */

static bool valid(const krt_fused_ew_desc *d)
{
    if (d->n_in < 1 || d->n_in > KRT_FEW_MAX_IN || d->n_ops < 1 || d->n_ops > KRT_FEW_MAX_OPS ||
        d->n < 0 || d->row < 1)
        return false;
    for (int i = 0; i < d->n_in; i++)
        if (d->kind[i] < KRT_FEW_FULL || d->kind[i] > KRT_FEW_ROW)
            return false;
    for (int k = 0; k < d->n_ops; k++) {
        const krt_few_instr *in = &d->ins[k];
        int slots = d->n_in + k;
        if (in->op < 0 || in->op >= KRT_FEW_COUNT || in->a < 0 || in->a >= slots ||
            (krt_few_arity[in->op] == 2) != (in->b >= 0) || in->b >= slots)
            return false;
    }
    return true;
}

static int64_t fused_ew_units(const void *desc)
{
    return krt_ew_units(((const krt_fused_ew_desc *)desc)->n);
}

static size_t fused_ew_scratch(const void *desc)
{
    (void)desc;
    return 0;
}

/* Input i's values at output elements [at, at + n) in buf, or a pointer
 * straight into a FULL input. SCALAR inputs are splatted once per call
 * (fill_scalars); a ROW input is copied with its wrap-around, no division
 * per element. */
static const float *load(const krt_fused_ew_desc *d, void *const *ops, int i, int64_t at, int64_t n,
                         float *buf)
{
    const float *x = ops[i];
    if (d->kind[i] == KRT_FEW_FULL)
        return x + at;
    if (d->kind[i] == KRT_FEW_SCALAR)
        return buf;
    for (int64_t j = 0, k = at % d->row; j < n; j++) {
        buf[j] = x[k];
        k = k + 1 == d->row ? 0 : k + 1;
    }
    return buf;
}

static void fill_scalars(const krt_fused_ew_desc *d, void *const *ops, float (*regs)[BLOCK])
{
    for (int i = 0; i < d->n_in; i++)
        for (int j = 0; d->kind[i] == KRT_FEW_SCALAR && j < BLOCK; j++)
            regs[i][j] = *(const float *)ops[i];
}

static krt_status fused_ew_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                               krt_error *err)
{
    const krt_fused_ew_desc *d = desc;
    (void)scratch, (void)err;
    if (!valid(d))
        return KRT_EVALUE;
    int64_t lo = r.begin * KRT_EW_CHUNK, hi = r.end * KRT_EW_CHUNK;
    hi = hi > d->n ? d->n : hi;
    float *y = ops[d->n_in];
    /* Slots: the inputs' blocks, then one block per instruction. */
    float regs[KRT_FEW_MAX_IN + KRT_FEW_MAX_OPS][BLOCK];
    const float *slot[KRT_FEW_MAX_IN + KRT_FEW_MAX_OPS];
    if (lo < hi)
        fill_scalars(d, ops, regs);
    for (int64_t at = lo; at < hi; at += BLOCK) {
        int64_t n = hi - at < BLOCK ? hi - at : BLOCK;
        for (int i = 0; i < d->n_in; i++)
            slot[i] = load(d, ops, i, at, n, regs[i]);
        for (int k = 0; k < d->n_ops; k++) {
            const krt_few_instr *in = &d->ins[k];
            float *out = k == d->n_ops - 1 ? y + at : regs[d->n_in + k];
            few_fns[in->op](slot[in->a], in->b >= 0 ? slot[in->b] : NULL, out, n, in);
            slot[d->n_in + k] = out;
        }
    }
    return KRT_OK;
}

const krt_kernel_info krt_kernel_fused_ew = {
    "fused_ew", fused_ew_run, fused_ew_scratch, fused_ew_units, sizeof(krt_fused_ew_desc),
};
