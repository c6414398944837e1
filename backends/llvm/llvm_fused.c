/* llvm_fused.c — kiln.FusedElementwise as kiln's own vector IR: one loop
 * over <VF x float> per fused node, VF the width the linked kernel bitcode
 * was compiled for (16 for the AVX-512 build, 8 for AVX2, 4 for NEON and
 * baseline x86-64), instead of a call to the generic kernel
 * (runtime/krt_elementwise_fused.c).
 *
 *   void fused_ew.N(ptr ops, i64 begin, i64 end, i32 thread)
 *                                ops: the inputs, then the output
 *     for r in [begin, end):     units: rows of `row` elements when an input
 *                                is a ROW (broadcast along the last axis),
 *                                else one segment, the elements of units
 *                                [begin, end) of KRT_EW_CHUNK (the kernel's)
 *       for j in [0, len) by VF: the program on <VF x float> (one builder
 *         per instruction, in `instrs`, a table indexed by krt_few_op),
 *         stored to y
 *       the tail (len % VF lanes): the same with masked loads (zeros in
 *       the other lanes, as the kernel pads) and a masked store
 *
 * The signature is krt_pool_for's chunk function: with --threads N,
 * NAME_run hands the loop to the pool with ops as its argument, and each
 * element is computed by the same instructions whichever chunk it is in,
 * so the bits do not depend on the thread count.
 *
 * Each instruction is the kernel's own f32 expression (fcmp + select for
 * relu, max, min, clip, hardswish, leakyrelu; no fast-math flags, so no
 * contraction), so the loop gives the kernel's bits. The transcendental
 * ones call the bitcode's krt_vmath_block_<f> (runtime/krt_vmath.c: one
 * vector of the vector math, through memory; always inlined, after which
 * the allocas fold into registers), the functions the unfused kernels use.
 */
#include "backends/llvm/llvm_internal.h"
#include "runtime/krt_elementwise.h"

#include <stdio.h>
#include <string.h>

typedef struct fbuild {
    LLVMModuleRef m;
    LLVMContextRef c;
    LLVMBuilderRef b;
    LLVMTypeRef f32, i64, ptr, vec, vi1;
    unsigned vf;
    LLVMValueRef fn;
    LLVMValueRef tmp_in, tmp_out;   /* allocas of one vector: the vector math's operands */
    const krt_few_instr *in;        /* the instruction being built */
} fbuild;

static LLVMValueRef splat(fbuild *f, LLVMValueRef x)
{
    LLVMValueRef v = LLVMBuildInsertElement(f->b, LLVMGetPoison(f->vec), x, LLVMConstInt(f->i64, 0, 0), "");
    LLVMValueRef zero = LLVMConstNull(LLVMVectorType(LLVMInt32TypeInContext(f->c), f->vf));
    return LLVMBuildShuffleVector(f->b, v, LLVMGetPoison(f->vec), zero, "splat");
}

static LLVMValueRef splat_i64(fbuild *f, LLVMValueRef x)
{
    LLVMTypeRef vt = LLVMVectorType(f->i64, f->vf);
    LLVMValueRef v = LLVMBuildInsertElement(f->b, LLVMGetPoison(vt), x, LLVMConstInt(f->i64, 0, 0), "");
    LLVMValueRef zero = LLVMConstNull(LLVMVectorType(LLVMInt32TypeInContext(f->c), f->vf));
    return LLVMBuildShuffleVector(f->b, v, LLVMGetPoison(vt), zero, "");
}

static LLVMValueRef fconst(fbuild *f, float x)
{
    LLVMValueRef s = LLVMConstReal(f->f32, x);
    LLVMValueRef lanes[16];
    for (unsigned k = 0; k < f->vf; k++)
        lanes[k] = s;
    return LLVMConstVector(lanes, f->vf);
}

static LLVMValueRef intrinsic(fbuild *f, const char *name, LLVMTypeRef *types, size_t n, LLVMTypeRef *fty)
{
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(f->m, id, types, n);
    *fty = LLVMGlobalGetValueType(fn);
    return fn;
}

static LLVMValueRef call1(fbuild *f, const char *name, LLVMValueRef a)
{
    LLVMTypeRef fty;
    LLVMValueRef fn = intrinsic(f, name, &f->vec, 1, &fty);
    return LLVMBuildCall2(f->b, fty, fn, &a, 1, "");
}

/* c ? p : q with c an ordered comparison of a and b. */
static LLVMValueRef sel(fbuild *f, LLVMRealPredicate pr, LLVMValueRef a, LLVMValueRef b, LLVMValueRef p,
                        LLVMValueRef q)
{
    return LLVMBuildSelect(f->b, LLVMBuildFCmp(f->b, pr, a, b, ""), p, q, "");
}

/* ---- the instructions, as the kernel's expressions ------------------------------- */

typedef LLVMValueRef (*instr_fn)(fbuild *f, LLVMValueRef a, LLVMValueRef b);

static LLVMValueRef i_add(fbuild *f, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFAdd(f->b, a, b, ""); }
static LLVMValueRef i_sub(fbuild *f, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFSub(f->b, a, b, ""); }
static LLVMValueRef i_mul(fbuild *f, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFMul(f->b, a, b, ""); }
static LLVMValueRef i_div(fbuild *f, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFDiv(f->b, a, b, ""); }

/* a != a || a > b ? a : b (NaN-propagating, as the binary kernel) */
static LLVMValueRef i_max(fbuild *f, LLVMValueRef a, LLVMValueRef b)
{
    LLVMValueRef c = LLVMBuildOr(f->b, LLVMBuildFCmp(f->b, LLVMRealUNO, a, a, ""),
                                 LLVMBuildFCmp(f->b, LLVMRealOGT, a, b, ""), "");
    return LLVMBuildSelect(f->b, c, a, b, "");
}

static LLVMValueRef i_min(fbuild *f, LLVMValueRef a, LLVMValueRef b)
{
    LLVMValueRef c = LLVMBuildOr(f->b, LLVMBuildFCmp(f->b, LLVMRealUNO, a, a, ""),
                                 LLVMBuildFCmp(f->b, LLVMRealOLT, a, b, ""), "");
    return LLVMBuildSelect(f->b, c, a, b, "");
}

static LLVMValueRef i_square(fbuild *f, LLVMValueRef a, LLVMValueRef b) { (void)b; return LLVMBuildFMul(f->b, a, a, ""); }
static LLVMValueRef i_neg(fbuild *f, LLVMValueRef a, LLVMValueRef b) { (void)b; return LLVMBuildFNeg(f->b, a, ""); }
static LLVMValueRef i_abs(fbuild *f, LLVMValueRef a, LLVMValueRef b) { (void)b; return call1(f, "llvm.fabs", a); }
static LLVMValueRef i_sqrt(fbuild *f, LLVMValueRef a, LLVMValueRef b) { (void)b; return call1(f, "llvm.sqrt", a); }
static LLVMValueRef i_recip(fbuild *f, LLVMValueRef a, LLVMValueRef b) { (void)b; return LLVMBuildFDiv(f->b, fconst(f, 1.0f), a, ""); }

static LLVMValueRef i_relu(fbuild *f, LLVMValueRef a, LLVMValueRef b)
{
    (void)b;
    return sel(f, LLVMRealOLT, a, fconst(f, 0.0f), fconst(f, 0.0f), a);
}

static LLVMValueRef i_clip(fbuild *f, LLVMValueRef a, LLVMValueRef b)
{
    (void)b;
    LLVMValueRef lo = fconst(f, f->in->lo), hi = fconst(f, f->in->hi);
    LLVMValueRef t = sel(f, LLVMRealOLT, a, lo, lo, a);
    return sel(f, LLVMRealOGT, t, hi, hi, t);
}

/* a * clamp01(a * (float)(1/6) + 0.5) */
static LLVMValueRef i_hardswish(fbuild *f, LLVMValueRef a, LLVMValueRef b)
{
    (void)b;
    LLVMValueRef v = LLVMBuildFAdd(f->b, LLVMBuildFMul(f->b, fconst(f, (float)(1.0 / 6)), a, ""),
                                   fconst(f, 0.5f), "");
    LLVMValueRef zero = fconst(f, 0.0f), one = fconst(f, 1.0f);
    LLVMValueRef c = sel(f, LLVMRealOLT, v, zero, zero, sel(f, LLVMRealOGT, v, one, one, v));
    return LLVMBuildFMul(f->b, a, c, "");
}

static LLVMValueRef i_leakyrelu(fbuild *f, LLVMValueRef a, LLVMValueRef b)
{
    (void)b;
    LLVMValueRef s = LLVMBuildFMul(f->b, fconst(f, f->in->lo), a, "");
    return sel(f, LLVMRealOLT, a, fconst(f, 0.0f), s, a);
}

/* The vector math: krt_vmath_block_<f>(in, out) of the linked bitcode. */
static LLVMValueRef i_vmath(fbuild *f, LLVMValueRef a, LLVMValueRef b)
{
    char sym[64];
    (void)b;
    /* the instruction's name is the vector math function's (krt_vmath.c) */
    snprintf(sym, sizeof sym, "krt_vmath_block_%s", krt_few_names[f->in->op]);
    LLVMValueRef fn = LLVMGetNamedFunction(f->m, sym);
    KILN_ASSERT(fn);   /* checked in kiln_llvm_fused_ew_fn */
    LLVMBuildStore(f->b, a, f->tmp_in);
    LLVMValueRef args[] = {f->tmp_in, f->tmp_out};
    LLVMBuildCall2(f->b, LLVMGlobalGetValueType(fn), fn, args, 2, "");
    return LLVMBuildLoad2(f->b, f->vec, f->tmp_out, "");
}

static const instr_fn instrs[KRT_FEW_COUNT] = {
    [KRT_FEW_ADD] = i_add,       [KRT_FEW_SUB] = i_sub,         [KRT_FEW_MUL] = i_mul,
    [KRT_FEW_DIV] = i_div,       [KRT_FEW_MAX] = i_max,         [KRT_FEW_MIN] = i_min,
    [KRT_FEW_SQUARE] = i_square, [KRT_FEW_NEG] = i_neg,         [KRT_FEW_ABS] = i_abs,
    [KRT_FEW_SQRT] = i_sqrt,     [KRT_FEW_RECIP] = i_recip,     [KRT_FEW_RELU] = i_relu,
    [KRT_FEW_CLIP] = i_clip,     [KRT_FEW_HARDSWISH] = i_hardswish,
    [KRT_FEW_LEAKYRELU] = i_leakyrelu,
    [KRT_FEW_EXP] = i_vmath,     [KRT_FEW_ERF] = i_vmath,       [KRT_FEW_TANH] = i_vmath,
    [KRT_FEW_SIGMOID] = i_vmath, [KRT_FEW_GELU_ERF] = i_vmath,  [KRT_FEW_GELU_TANH] = i_vmath,
};

/* ---- the loop ----------------------------------------------------------------------- */

/* The program over one vector: inputs at element `at` (FULL), `j` (ROW)
 * or splatted (scalars, in sc[]); a non-NULL mask makes the loads and the
 * store masked. */
static void body(fbuild *f, const krt_fused_ew_desc *d, LLVMValueRef *x, LLVMValueRef *sc, LLVMValueRef y,
                 LLVMValueRef at, LLVMValueRef j, LLVMValueRef mask)
{
    LLVMValueRef slot[KRT_FEW_MAX_IN + KRT_FEW_MAX_OPS];
    LLVMTypeRef types[] = {f->vec, f->ptr}, lty, sty;
    LLVMValueRef mload = intrinsic(f, "llvm.masked.load", types, 2, &lty);
    LLVMValueRef mstore = intrinsic(f, "llvm.masked.store", types, 2, &sty);
    LLVMValueRef align = LLVMConstInt(LLVMInt32TypeInContext(f->c), 4, 0);
    for (int i = 0; i < d->n_in; i++) {
        if (d->kind[i] == KRT_FEW_SCALAR) {
            slot[i] = sc[i];
            continue;
        }
        LLVMValueRef idx = d->kind[i] == KRT_FEW_ROW ? j : at;
        LLVMValueRef p = LLVMBuildInBoundsGEP2(f->b, f->f32, x[i], &idx, 1, "");
        if (mask) {
            LLVMValueRef args[] = {p, align, mask, fconst(f, 0.0f)};
            slot[i] = LLVMBuildCall2(f->b, lty, mload, args, 4, "");
        } else {
            slot[i] = LLVMBuildLoad2(f->b, f->vec, p, "");
            LLVMSetAlignment(slot[i], 4);
        }
    }
    for (int k = 0; k < d->n_ops; k++) {
        f->in = &d->ins[k];
        slot[d->n_in + k] = instrs[f->in->op](f, slot[f->in->a], f->in->b >= 0 ? slot[f->in->b] : NULL);
    }
    LLVMValueRef r = slot[d->n_in + d->n_ops - 1];
    LLVMValueRef p = LLVMBuildInBoundsGEP2(f->b, f->f32, y, &at, 1, "");
    if (mask) {
        LLVMValueRef args[] = {r, p, align, mask};
        LLVMBuildCall2(f->b, sty, mstore, args, 4, "");
    } else {
        LLVMSetAlignment(LLVMBuildStore(f->b, r, p), 4);
    }
}

LLVMValueRef kiln_llvm_fused_ew_fn(LLVMModuleRef m, LLVMModuleRef kernels, const krt_fused_ew_desc *d,
                                   const char *sym, int64_t *units)
{
    LLVMValueRef width = LLVMGetNamedGlobal(kernels, "krt_vmath_block_width");
    LLVMValueRef init = width ? LLVMGetInitializer(width) : NULL;
    long long vf = init ? LLVMConstIntGetSExtValue(init) : 0;
    if (vf != 4 && vf != 8 && vf != 16)
        return NULL;   /* a bitcode without the vector math's blocks: the generic kernel */
    for (int k = 0; k < d->n_ops; k++) {
        int vm = (unsigned)d->ins[k].op < KRT_FEW_COUNT ? krt_few_vmath[d->ins[k].op] : 0;
        char sym_vm[64];
        snprintf(sym_vm, sizeof sym_vm, "krt_vmath_block_%s", krt_few_names[d->ins[k].op]);
        if ((unsigned)d->ins[k].op >= KRT_FEW_COUNT || (vm >= 0 && !kiln_llvm_kernel_decl(m, kernels, sym_vm)))
            return NULL;
    }
    fbuild f = {.m = m, .c = LLVMGetModuleContext(m), .vf = (unsigned)vf};
    f.f32 = LLVMFloatTypeInContext(f.c), f.i64 = LLVMInt64TypeInContext(f.c);
    f.ptr = LLVMPointerTypeInContext(f.c, 0), f.vec = LLVMVectorType(f.f32, f.vf);
    bool row_inputs = false;
    for (int i = 0; i < d->n_in; i++)
        row_inputs |= d->kind[i] == KRT_FEW_ROW;
    int64_t row = row_inputs ? d->row : 0;
    /* flat: the kernel's units (krt_ew_units, for the family's sources only) */
    *units = row_inputs ? (row ? d->n / row : 0)
                        : d->n > KRT_EW_CHUNK ? (d->n + KRT_EW_CHUNK - 1) / KRT_EW_CHUNK : 1;

    LLVMTypeRef params[] = {f.ptr, f.i64, f.i64, LLVMInt32TypeInContext(f.c)};
    f.fn = LLVMAddFunction(m, sym, LLVMFunctionType(LLVMVoidTypeInContext(f.c), params, 4, 0));
    LLVMSetLinkage(f.fn, LLVMInternalLinkage);
    f.b = LLVMCreateBuilderInContext(f.c);
    LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(f.c, f.fn, "entry");
    LLVMBasicBlockRef outer = LLVMAppendBasicBlockInContext(f.c, f.fn, "row");
    LLVMBasicBlockRef vhead = LLVMAppendBasicBlockInContext(f.c, f.fn, "vec.head");
    LLVMBasicBlockRef vbody = LLVMAppendBasicBlockInContext(f.c, f.fn, "vec.body");
    LLVMBasicBlockRef tail = LLVMAppendBasicBlockInContext(f.c, f.fn, "tail");
    LLVMBasicBlockRef tbody = LLVMAppendBasicBlockInContext(f.c, f.fn, "tail.body");
    LLVMBasicBlockRef latch = LLVMAppendBasicBlockInContext(f.c, f.fn, "row.next");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(f.c, f.fn, "done");

    /* entry: the operand pointers, the scalars splatted, the vector math's buffers */
    LLVMPositionBuilderAtEnd(f.b, entry);
    LLVMValueRef ops = LLVMGetParam(f.fn, 0), x[KRT_FEW_MAX_IN], sc[KRT_FEW_MAX_IN] = {0};
    for (int i = 0; i < d->n_in; i++) {
        LLVMValueRef idx = LLVMConstInt(f.i64, (uint64_t)i, 0);
        x[i] = LLVMBuildLoad2(f.b, f.ptr, LLVMBuildGEP2(f.b, f.ptr, ops, &idx, 1, ""), "x");
        if (d->kind[i] == KRT_FEW_SCALAR)
            sc[i] = splat(&f, LLVMBuildLoad2(f.b, f.f32, x[i], ""));
    }
    LLVMValueRef idx = LLVMConstInt(f.i64, (uint64_t)d->n_in, 0);
    LLVMValueRef y = LLVMBuildLoad2(f.b, f.ptr, LLVMBuildGEP2(f.b, f.ptr, ops, &idx, 1, ""), "y");
    f.tmp_in = LLVMBuildAlloca(f.b, f.vec, "vm.in");
    f.tmp_out = LLVMBuildAlloca(f.b, f.vec, "vm.out");
    LLVMValueRef c_vf = LLVMConstInt(f.i64, f.vf, 0), zero = LLVMConstInt(f.i64, 0, 0);
    LLVMValueRef begin = LLVMGetParam(f.fn, 1), end = LLVMGetParam(f.fn, 2);
    LLVMValueRef r0 = begin, r1 = end, lo = zero, len = LLVMConstInt(f.i64, (uint64_t)row, 0);
    if (!row_inputs) {  /* one segment [lo, hi): units of KRT_EW_CHUNK elements, the last short */
        LLVMValueRef n = LLVMConstInt(f.i64, (uint64_t)d->n, 0), chunk = LLVMConstInt(f.i64, KRT_EW_CHUNK, 0);
        LLVMValueRef a = LLVMBuildMul(f.b, begin, chunk, ""), z = LLVMBuildMul(f.b, end, chunk, "");
        lo = LLVMBuildSelect(f.b, LLVMBuildICmp(f.b, LLVMIntSLT, a, n, ""), a, n, "lo");
        LLVMValueRef hi = LLVMBuildSelect(f.b, LLVMBuildICmp(f.b, LLVMIntSLT, z, n, ""), z, n, "hi");
        len = LLVMBuildSub(f.b, hi, lo, "len");
        r0 = zero, r1 = LLVMConstInt(f.i64, 1, 0);
    }
    LLVMBuildCondBr(f.b, LLVMBuildICmp(f.b, LLVMIntSLT, r0, r1, ""), outer, done);

    /* row: r, base = r * row (one segment: lo) */
    LLVMPositionBuilderAtEnd(f.b, outer);
    LLVMValueRef r = LLVMBuildPhi(f.b, f.i64, "r");
    LLVMValueRef base = row_inputs ? LLVMBuildMul(f.b, r, len, "base") : lo;
    LLVMBuildBr(f.b, vhead);

    /* vec.head: j; whole vectors while j + VF <= row */
    LLVMPositionBuilderAtEnd(f.b, vhead);
    LLVMValueRef j = LLVMBuildPhi(f.b, f.i64, "j");
    LLVMValueRef jn = LLVMBuildAdd(f.b, j, c_vf, "j.next");
    LLVMBuildCondBr(f.b, LLVMBuildICmp(f.b, LLVMIntSLE, jn, len, ""), vbody, tail);

    LLVMPositionBuilderAtEnd(f.b, vbody);
    body(&f, d, x, sc, y, LLVMBuildAdd(f.b, base, j, "at"), j, NULL);
    LLVMBuildBr(f.b, vhead);

    /* tail: row - j < VF lanes, masked */
    LLVMPositionBuilderAtEnd(f.b, tail);
    LLVMValueRef rem = LLVMBuildSub(f.b, len, j, "rem");
    LLVMBuildCondBr(f.b, LLVMBuildICmp(f.b, LLVMIntSGT, rem, zero, ""), tbody, latch);
    LLVMPositionBuilderAtEnd(f.b, tbody);
    LLVMValueRef lanes[16];
    for (unsigned k = 0; k < f.vf; k++)
        lanes[k] = LLVMConstInt(f.i64, k, 0);
    LLVMValueRef mask = LLVMBuildICmp(f.b, LLVMIntULT, LLVMConstVector(lanes, f.vf),
                                      splat_i64(&f, rem), "mask");
    body(&f, d, x, sc, y, LLVMBuildAdd(f.b, base, j, "at"), j, mask);
    LLVMBuildBr(f.b, latch);

    LLVMPositionBuilderAtEnd(f.b, latch);
    LLVMValueRef rn = LLVMBuildAdd(f.b, r, LLVMConstInt(f.i64, 1, 0), "r.next");
    LLVMBuildCondBr(f.b, LLVMBuildICmp(f.b, LLVMIntSLT, rn, r1, ""), outer, done);

    LLVMPositionBuilderAtEnd(f.b, done);
    LLVMBuildRetVoid(f.b);

    LLVMValueRef r_in[] = {r0, rn};
    LLVMBasicBlockRef r_from[] = {entry, latch};
    LLVMAddIncoming(r, r_in, r_from, 2);
    LLVMValueRef j_in[] = {zero, jn};
    LLVMBasicBlockRef j_from[] = {outer, vbody};
    LLVMAddIncoming(j, j_in, j_from, 2);
    LLVMDisposeBuilder(f.b);
    return f.fn;
}
