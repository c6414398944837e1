/* llvm_model.c — NAME_info, NAME_workspace_size and NAME_run as LLVM IR,
 * the same program backends/c/cgen_model.c prints as C.
 *
 * NAME_run is straight-line code: kiln_llvm_check_args (glue/glue.c, the C
 * backend's check_args), then per lowered call (ir/lower.h) in node order
 * one kiln_llvm_run_call (the C backend's run_call) with the kernel's info
 * constant, the descriptor constant, an operand array, the node's scratch
 * and the whole unit range: one thread, as the C backend runs it. Operands
 * are where the memory plan puts them (passes/plan.h): arena tensors at
 * workspace + offset, graph inputs and outputs in the caller's arrays,
 * constants in private globals. A nonzero code returns at once. Graph
 * outputs no node writes are copied at the end. The kernels and both glue
 * helpers are declared here (kiln_llvm_kernel_decl) and become ordinary
 * functions of the same module when the kernel bitcode is linked after
 * this runs, so O3 folds the constant kernel table into direct calls and
 * inlines them with their descriptors known.
 *
 * With --threads N (plan->threads > 1) NAME_run is the C backend's
 * threaded one: the workspace starts with a 64-byte header (bytes 16..31:
 * the pool NAME_set_pool binds, glue.c), the arena follows it, and each
 * call goes through kiln_llvm_run_pool, which splits its units over the
 * bound pool (krt_pool_for, krt_pool.h's partition) with thread t on
 * scratch slice t. The chunk function is one per call site, call.N.K: the
 * glue's kiln_llvm_chunk with the kernel and the descriptor as constants,
 * so inlining specializes each call's kernel as it does on one thread. A
 * fused elementwise loop is its own chunk function (llvm_fused.c) handed
 * to krt_pool_for. NAME_max_threads returns N. For one thread nothing of
 * this is emitted.
 *
 * The body is one internal function with a fourth parameter, ns: NAME_run
 * calls it with NULL, NAME_run_profiled with the caller's array, and after
 * each node `if (ns) kiln_llvm_profile_stamp(ns, i, &last)` writes the
 * node's time (the C backend's stamp). NAME_profile holds each node's name,
 * op and FLOPs (ir/flops.h), in the same order.
 *
 * Weights go straight from the tensor's bytes into a ConstantDataArray
 * (LLVMConstStringInContext): no text form, so hundreds of megabytes take
 * the time of one copy.
 */
#include "backends/c/cgen_internal.h"
#include "backends/llvm/glue/glue.h"
#include "backends/llvm/llvm_internal.h"
#include "ir/flops.h"
#include "ir/lower.h"
#include "runtime/kiln_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct emitter {
    kiln_ctx *ctx;
    const kiln_graph *g;
    const kiln_plan *plan;
    const char *name;
    LLVMContextRef c;
    LLVMModuleRef m;
    LLVMModuleRef kernels;       /* the lazily loaded kernel bitcode: what calls resolve to */
    LLVMBuilderRef b;
    LLVMTypeRef i8, i32, i64, f64, ptr;
    LLVMTypeRef run_call_ty;
    LLVMValueRef run, run_call;  /* the body of NAME_run and NAME_run_profiled, kiln_llvm_run_call */
    LLVMValueRef inputs, outputs, workspace;
    LLVMValueRef ws;             /* the arena: the workspace, after its header with --threads */
    LLVMValueRef ns, last;       /* the body's ns parameter (NULL: not timed); the last stamp's slot */
    LLVMValueRef stamp;          /* kiln_llvm_profile_stamp */
    LLVMValueRef *rows;          /* [n_nodes] NAME_profile's rows so far */
    uint32_t n_rows;
    int threads;                 /* --threads N; 1: the calls as above */
    LLVMValueRef pool, job;      /* --threads: the bound pool, NAME_run's kiln_llvm_job */
    LLVMValueRef run_pool, chunk, pool_for;  /* kiln_llvm_run_pool, kiln_llvm_chunk, krt_pool_for */
    LLVMValueRef ops;            /* NAME_run's operand array (a placeholder until the end) */
    uint32_t max_ops;
    LLVMBasicBlockRef fail;      /* returns the phi of the failing call's code */
    LLVMValueRef fail_rc;
    uint32_t *in_slot, *out_slot;
    LLVMValueRef *weight;        /* [n_values] the constant's global, once emitted */
    kiln_arena *arena;
    kiln_llvm_stats *stats;
} emitter;

static LLVMValueRef i64c(emitter *e, uint64_t x)
{
    return LLVMConstInt(e->i64, x, 0);
}

/* A private constant global of bytes, unnamed_addr, aligned. */
static LLVMValueRef bytes_global(emitter *e, const char *sym, const void *p, size_t n, unsigned align)
{
    LLVMValueRef init = LLVMConstStringInContext(e->c, n ? p : "", n ? (unsigned)n : 1, 1);
    LLVMValueRef gv = LLVMAddGlobal(e->m, LLVMTypeOf(init), sym);
    LLVMSetInitializer(gv, init);
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetLinkage(gv, LLVMPrivateLinkage);
    LLVMSetUnnamedAddress(gv, LLVMGlobalUnnamedAddr);
    LLVMSetAlignment(gv, align);
    return gv;
}

/* A NUL-terminated string constant. */
static LLVMValueRef cstring(emitter *e, const char *sym, const char *s)
{
    LLVMValueRef init = LLVMConstStringInContext(e->c, s, (unsigned)strlen(s), 0);
    LLVMValueRef gv = LLVMAddGlobal(e->m, LLVMTypeOf(init), sym);
    LLVMSetInitializer(gv, init);
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetLinkage(gv, LLVMPrivateLinkage);
    LLVMSetUnnamedAddress(gv, LLVMGlobalUnnamedAddr);
    LLVMSetAlignment(gv, 1);
    return gv;
}

/* ---- weights and operands ---------------------------------------------- */

static LLVMValueRef weight(emitter *e, uint32_t v)
{
    KILN_ASSERT(e->g->values[v].nbytes <= UINT32_MAX);  /* checked in check_graph */
    if (!e->weight[v]) {
        const kiln_value *val = &e->g->values[v];
        cbuf sym = {0};
        cbuf_ident(&sym, 'w', v, val->name);
        e->weight[v] = bytes_global(e, sym.p, val->data, val->nbytes, 64);
        cbuf_free(&sym);
        e->stats->n_weights++;
        e->stats->weight_bytes += val->nbytes;
    }
    return e->weight[v];
}

static LLVMValueRef load_slot(emitter *e, LLVMValueRef array, uint32_t slot, const char *what)
{
    LLVMValueRef idx = i64c(e, slot);
    LLVMValueRef at = LLVMBuildGEP2(e->b, e->ptr, array, &idx, 1, "");
    return LLVMBuildLoad2(e->b, e->ptr, at, what);
}

/* Value v's data as a kernel operand (the C backend's operand()). */
static kiln_status operand(emitter *e, uint32_t node, uint32_t v, LLVMValueRef *out)
{
    const kiln_value *val = &e->g->values[v];
    size_t off = v ? e->plan->offset[v] : 0;
    if (!v)
        *out = LLVMConstPointerNull(e->ptr);
    else if (e->in_slot[v])
        *out = load_slot(e, e->inputs, e->in_slot[v] - 1, "in");
    else if (val->kind == KILN_VAL_CONST)
        *out = weight(e, v);
    else if (e->out_slot[v])
        *out = load_slot(e, e->outputs, e->out_slot[v] - 1, "out");
    else if (off == KILN_PLAN_DYNAMIC)
        return kiln_node_error(e->ctx, e->g, node, KILN_ERR_UNSUPPORTED,
                               "'%s' has a shape known only at run time (it depends on input "
                               "values); the LLVM backend needs static shapes", val->name);
    else if (off == KILN_PLAN_NONE)
        return kiln_node_error(e->ctx, e->g, node, KILN_ERR_UNSUPPORTED,
                               "'%s' has no place in the memory plan", val->name);
    else {
        LLVMValueRef idx = i64c(e, off);
        *out = LLVMBuildInBoundsGEP2(e->b, e->i8, e->ws, &idx, 1, "");
    }
    return KILN_OK;
}

/* ---- kernel calls -------------------------------------------------------- */

/* if (rc) return rc; */
static void check_rc(emitter *e, LLVMValueRef rc)
{
    LLVMValueRef bad = LLVMBuildICmp(e->b, LLVMIntNE, rc, LLVMConstInt(e->i32, 0, 0), "");
    LLVMBasicBlockRef here = LLVMGetInsertBlock(e->b);
    LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(e->c, e->run, "");
    LLVMBuildCondBr(e->b, bad, e->fail, next);
    LLVMAddIncoming(e->fail_rc, &rc, &here, 1);
    LLVMPositionBuilderAtEnd(e->b, next);
}

/* --threads: the chunk function of one call site, krt_pool_for's
 * void (ptr job, i64 begin, i64 end, i32 thread), which calls the glue's
 * kiln_llvm_chunk with this call's kernel and descriptor. */
static LLVMValueRef chunk_fn(emitter *e, const char *sym, LLVMValueRef kernel, LLVMValueRef desc)
{
    LLVMTypeRef params[] = {e->ptr, e->i64, e->i64, e->i32};
    LLVMValueRef fn = LLVMAddFunction(e->m, sym, LLVMFunctionType(LLVMVoidTypeInContext(e->c), params, 4, 0));
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    LLVMBuilderRef b = LLVMCreateBuilderInContext(e->c);
    LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(e->c, fn, "entry"));
    LLVMValueRef args[] = {kernel, desc, LLVMGetParam(fn, 0), LLVMGetParam(fn, 1), LLVMGetParam(fn, 2),
                           LLVMGetParam(fn, 3)};
    LLVMBuildCall2(b, LLVMGlobalGetValueType(e->chunk), e->chunk, args, 6, "");
    LLVMBuildRetVoid(b);
    LLVMDisposeBuilder(b);
    return fn;
}

static kiln_status emit_call(emitter *e, uint32_t node, uint32_t k, const kiln_kernel_call *call)
{
    const krt_kernel_info *info = krt_kernels[call->kernel];
    size_t scratch = e->plan->scratch_bytes[node];
    char sym[300];
    if (call->scratch > scratch)
        return kiln_node_error(e->ctx, e->g, node, KILN_ERR_UNSUPPORTED,
                               "kernel '%s' needs %zu bytes of scratch, the plan has %zu",
                               info->name, call->scratch, scratch);
    if (call->units <= 0)
        return KILN_OK;  /* empty: nothing to compute (the C backend emits a comment) */
    snprintf(sym, sizeof sym, "krt_kernel_%s", info->name);
    LLVMValueRef kernel = kiln_llvm_kernel_decl(e->m, e->kernels, sym);
    if (!kernel)
        return kiln_node_error(e->ctx, e->g, node, KILN_ERR_UNSUPPORTED, "internal error: kernel "
                               "'%s' is missing from the embedded bitcode: rebuild kiln", info->name);
    e->stats->n_calls++;
    snprintf(sym, sizeof sym, "d%u_%u", node, k);
    LLVMValueRef desc = bytes_global(e, sym, call->desc, info->desc_size, 16);
    for (uint32_t i = 0; i < call->n_ops; i++) {
        LLVMValueRef p, idx = i64c(e, i);
        kiln_status st = operand(e, node, call->ops[i], &p);
        if (st)
            return st;
        LLVMBuildStore(e->b, p, LLVMBuildGEP2(e->b, e->ptr, e->ops, &idx, 1, ""));
    }
    if (call->n_ops > e->max_ops)
        e->max_ops = call->n_ops;
    /* kiln.FusedElementwise: kiln's own vector loop (llvm_fused.c) */
    LLVMValueRef fused = NULL;
    int64_t fused_units = 0;
    if (call->kernel == KRT_K_FUSED_EW) {
        snprintf(sym, sizeof sym, "fused_ew.%u", node);
        fused = kiln_llvm_fused_ew_fn(e->m, e->kernels, call->desc, sym, &fused_units);
    }
    if (fused && e->threads > 1) {
        LLVMValueRef args[] = {e->pool, i64c(e, (uint64_t)fused_units), fused, e->ops};
        LLVMBuildCall2(e->b, LLVMGlobalGetValueType(e->pool_for), e->pool_for, args, 4, "");
        return KILN_OK;
    }
    if (fused) {
        LLVMValueRef args[] = {e->ops, i64c(e, 0), i64c(e, (uint64_t)fused_units), LLVMConstInt(e->i32, 0, 0)};
        LLVMBuildCall2(e->b, LLVMGlobalGetValueType(fused), fused, args, 4, "");
        return KILN_OK;
    }
    LLVMValueRef scratch_p = LLVMConstPointerNull(e->ptr);
    if (call->scratch) {
        LLVMValueRef idx = i64c(e, e->plan->scratch_offset[node]);
        scratch_p = LLVMBuildInBoundsGEP2(e->b, e->i8, e->ws, &idx, 1, "scratch");
    }
    LLVMValueRef ops = call->n_ops ? e->ops : LLVMConstPointerNull(e->ptr);
    if (e->threads > 1) {  /* thread t's scratch: scratch + t * stride */
        size_t stride = call->scratch ? (call->scratch + KILN_PLAN_ALIGN - 1) / KILN_PLAN_ALIGN * KILN_PLAN_ALIGN : 0;
        snprintf(sym, sizeof sym, "call.%u.%u", node, k);
        LLVMValueRef args[] = {e->pool, kernel, desc, chunk_fn(e, sym, kernel, desc), e->job, ops, scratch_p,
                               i64c(e, stride), i64c(e, (uint64_t)call->units)};
        check_rc(e, LLVMBuildCall2(e->b, LLVMGlobalGetValueType(e->run_pool), e->run_pool, args, 9, "rc"));
        return KILN_OK;
    }
    LLVMValueRef args[] = {kernel, desc, ops, scratch_p,
                           i64c(e, call->scratch ? scratch : 0), i64c(e, (uint64_t)call->units)};
    check_rc(e, LLVMBuildCall2(e->b, e->run_call_ty, e->run_call, args, 6, "rc"));
    return KILN_OK;
}

/* ---- NAME_profile and the stamps of NAME_run_profiled ---------------------- */

/* kiln_model_node: {name, op, flops}; kiln_model_profile: {size, n_nodes, nodes}. */
_Static_assert(sizeof(kiln_model_node) == 24 && sizeof(kiln_model_profile) == 16,
               "kiln_model.h's profile layout is the one llvm_model.c builds");
static LLVMTypeRef node_type(emitter *e)
{
    LLVMTypeRef f[] = {e->ptr, e->ptr, e->f64};
    return LLVMStructTypeInContext(e->c, f, 3, 0);
}

/* The node's row of NAME_profile, and after its calls (the C backend's
 * `if (ns) t = stamp(ns, i, t);`): if ns, kiln_llvm_profile_stamp. */
static void profile_node(emitter *e, uint32_t node)
{
    char op[64];
    LLVMValueRef f[] = {cstring(e, "node_name", kiln_node_profile_name(e->g, node)),
                        cstring(e, "node_op", kiln_op_text_name(e->g->nodes[node].op, op, sizeof op)),
                        LLVMConstReal(e->f64, kiln_node_flops_known(e->g, e->g->values, node))};
    e->rows[e->n_rows] = LLVMConstNamedStruct(node_type(e), f, 3);
    LLVMBasicBlockRef stamp = LLVMAppendBasicBlockInContext(e->c, e->run, "stamp");
    LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(e->c, e->run, "");
    LLVMBuildCondBr(e->b, LLVMBuildIsNull(e->b, e->ns, ""), next, stamp);
    LLVMPositionBuilderAtEnd(e->b, stamp);
    LLVMValueRef args[] = {e->ns, LLVMConstInt(e->i32, e->n_rows++, 0), e->last};
    LLVMBuildCall2(e->b, LLVMGlobalGetValueType(e->stamp), e->stamp, args, 3, "");
    LLVMBuildBr(e->b, next);
    LLVMPositionBuilderAtEnd(e->b, next);
}

static LLVMValueRef emit_profile(emitter *e)
{
    char sym[200];
    LLVMTypeRef nt = node_type(e);
    LLVMValueRef nodes = LLVMConstPointerNull(e->ptr);
    if (e->n_rows) {
        LLVMValueRef init = LLVMConstArray2(nt, e->rows, e->n_rows);
        nodes = LLVMAddGlobal(e->m, LLVMTypeOf(init), "profile_nodes");
        LLVMSetInitializer(nodes, init);
        LLVMSetGlobalConstant(nodes, 1);
        LLVMSetLinkage(nodes, LLVMPrivateLinkage);
        LLVMSetAlignment(nodes, 8);
    }
    LLVMTypeRef f[] = {e->i32, e->i32, e->ptr};
    LLVMValueRef v[] = {LLVMConstInt(e->i32, sizeof(kiln_model_profile), 0),
                        LLVMConstInt(e->i32, e->n_rows, 0), nodes};
    LLVMValueRef init = LLVMConstStructInContext(e->c, v, 3, 0);
    snprintf(sym, sizeof sym, "%s_profile", e->name);
    LLVMValueRef gv = LLVMAddGlobal(e->m, LLVMStructTypeInContext(e->c, f, 3, 0), sym);
    LLVMSetInitializer(gv, init);
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetAlignment(gv, 8);
    return gv;
}

static kiln_status emit_node(emitter *e, uint32_t node)
{
    kiln_lowered low;
    kiln_arena_reset(e->arena);
    kiln_status st = kiln_plan_require_static(e->ctx, e->g, e->plan, node, "LLVM");
    if (st == KILN_OK)
        st = kiln_lower_node(e->ctx, e->g, e->g->values, node, e->arena, &low);
    if (st)
        return st;
    e->stats->n_nodes++;
    for (uint32_t k = 0; k < low.n_calls && st == KILN_OK; k++)
        st = emit_call(e, node, k, &low.calls[k]);
    profile_node(e, node);
    return st;
}

/* Graph outputs no node writes: inputs, constants, repeats of an output. */
static kiln_status emit_output_copies(emitter *e)
{
    const kiln_graph *g = e->g;
    for (uint32_t k = 0; k < g->n_outputs; k++) {
        uint32_t v = g->outputs[k];
        size_t n = kiln_cgen_value_bytes(&g->values[v]);
        bool computed = !e->in_slot[v] && g->values[v].kind != KILN_VAL_CONST;
        if ((e->out_slot[v] == k + 1 && computed) || n == 0)
            continue;
        LLVMValueRef src, dst = load_slot(e, e->outputs, k, "out");
        if (e->out_slot[v] != k + 1 && computed)
            src = load_slot(e, e->outputs, e->out_slot[v] - 1, "out");
        else {
            kiln_status st = operand(e, 0, v, &src);
            if (st)
                return st;
        }
        LLVMBuildMemCpy(e->b, dst, 1, src, 1, i64c(e, n));
    }
    return KILN_OK;
}

/* ---- NAME_info, NAME_workspace_size ------------------------------------- */

/* The arena, behind the 64-byte header with --threads (the C backend's). */
static size_t workspace_bytes(const emitter *e)
{
    return e->plan->peak + (e->threads > 1 ? KILN_CGEN_WEIGHTS_HEADER : 0);
}

/* kiln_model_tensor: {name, dtype, rank, dims[8], nbytes}; kiln's targets
 * are all LP64, so these LLVM structs have the C layout kiln was built with. */
_Static_assert(sizeof(kiln_model_tensor) == 88 && sizeof(kiln_model_info) == 48,
               "kiln_model.h's layout is the one llvm_model.c builds");
static LLVMTypeRef tensor_type(emitter *e)
{
    LLVMTypeRef f[] = {e->ptr, e->i32, e->i32, LLVMArrayType2(e->i64, 8), e->i64};
    return LLVMStructTypeInContext(e->c, f, 5, 0);
}

static LLVMValueRef tensor_table(emitter *e, const char *what, const uint32_t *vals, uint32_t n)
{
    LLVMTypeRef tt = tensor_type(e);
    if (!n)
        return LLVMConstPointerNull(e->ptr);
    LLVMValueRef *rows = kiln_xcalloc(n, sizeof *rows);
    for (uint32_t i = 0; i < n; i++) {
        const kiln_value *val = &e->g->values[vals[i]];
        LLVMValueRef dims[8];
        char sym[64];
        for (int d = 0; d < 8; d++)
            dims[d] = i64c(e, d < val->shape.rank ? (uint64_t)val->shape.dim[d] : 0);
        snprintf(sym, sizeof sym, "%s_name%u", what, i);
        LLVMValueRef f[] = {cstring(e, sym, val->name), LLVMConstInt(e->i32, (uint64_t)kiln_cgen_abi_dtype(val->dtype), 0),
                            LLVMConstInt(e->i32, (uint64_t)val->shape.rank, 0), LLVMConstArray2(e->i64, dims, 8),
                            i64c(e, kiln_cgen_value_bytes(val))};
        rows[i] = LLVMConstNamedStruct(tt, f, 5);
    }
    LLVMValueRef init = LLVMConstArray2(tt, rows, n);
    free(rows);
    LLVMValueRef gv = LLVMAddGlobal(e->m, LLVMTypeOf(init), what);
    LLVMSetInitializer(gv, init);
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetLinkage(gv, LLVMPrivateLinkage);
    LLVMSetAlignment(gv, 8);
    return gv;
}

static LLVMValueRef emit_info(emitter *e)
{
    char sym[200];
    const kiln_graph *g = e->g;
    LLVMTypeRef f[] = {e->i32, e->i32, e->ptr, e->i32, e->i32, e->ptr, e->ptr, e->i64};
    LLVMTypeRef info_t = LLVMStructTypeInContext(e->c, f, 8, 0);
    LLVMValueRef v[] = {
        LLVMConstInt(e->i32, KILN_MODEL_ABI_VERSION, 0), LLVMConstInt(e->i32, sizeof(kiln_model_info), 0),
        cstring(e, "model_name", e->name), LLVMConstInt(e->i32, g->n_inputs, 0),
        LLVMConstInt(e->i32, g->n_outputs, 0), tensor_table(e, "inputs_", g->inputs, g->n_inputs),
        tensor_table(e, "outputs_", g->outputs, g->n_outputs), i64c(e, workspace_bytes(e))};
    snprintf(sym, sizeof sym, "%s_info", e->name);
    LLVMValueRef gv = LLVMAddGlobal(e->m, info_t, sym);
    LLVMSetInitializer(gv, LLVMConstStructInContext(e->c, v, 8, 0));
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetAlignment(gv, 8);

    snprintf(sym, sizeof sym, "%s_workspace_size", e->name);
    LLVMValueRef fn = LLVMAddFunction(e->m, sym, LLVMFunctionType(e->i64, NULL, 0, 0));
    LLVMPositionBuilderAtEnd(e->b, LLVMAppendBasicBlockInContext(e->c, fn, "entry"));
    LLVMBuildRet(e->b, i64c(e, workspace_bytes(e)));
    return gv;
}

/* --threads N: NAME_set_pool (the glue's, refusing more than N threads)
 * and NAME_max_threads, as the C backend's NAME.c defines them. */
static kiln_status emit_pool_functions(emitter *e)
{
    char sym[200];
    LLVMValueRef set = kiln_llvm_kernel_decl(e->m, e->kernels, "kiln_llvm_set_pool");
    /* the pool API a library's or executable's caller makes the pool with
     * (llvm_compile.c keeps it global there): declared, so the link takes it */
    static const char *const pool_api[] = {"krt_pool_create", "krt_pool_destroy", "krt_pool_threads"};
    for (int i = 0; i < 3; i++)
        if (!kiln_llvm_kernel_decl(e->m, e->kernels, pool_api[i]))
            return kiln_error(e->ctx, KILN_ERR_UNSUPPORTED, "internal error: the embedded kernel "
                              "bitcode lacks %s: rebuild kiln", pool_api[i]);
    if (!set)
        return kiln_error(e->ctx, KILN_ERR_UNSUPPORTED, "internal error: the embedded kernel bitcode "
                          "lacks glue/glue.c's kiln_llvm_set_pool: rebuild kiln");
    LLVMTypeRef params[] = {e->ptr, e->ptr};
    snprintf(sym, sizeof sym, "%s_set_pool", e->name);
    LLVMValueRef fn = LLVMAddFunction(e->m, sym, LLVMFunctionType(e->i32, params, 2, 0));
    LLVMPositionBuilderAtEnd(e->b, LLVMAppendBasicBlockInContext(e->c, fn, "entry"));
    LLVMValueRef args[] = {LLVMGetParam(fn, 0), LLVMGetParam(fn, 1), LLVMConstInt(e->i32, (uint64_t)e->threads, 0)};
    LLVMBuildRet(e->b, LLVMBuildCall2(e->b, LLVMGlobalGetValueType(set), set, args, 3, ""));

    snprintf(sym, sizeof sym, "%s_max_threads", e->name);
    fn = LLVMAddFunction(e->m, sym, LLVMFunctionType(e->i32, NULL, 0, 0));
    LLVMPositionBuilderAtEnd(e->b, LLVMAppendBasicBlockInContext(e->c, fn, "entry"));
    LLVMBuildRet(e->b, LLVMConstInt(e->i32, (uint64_t)e->threads, 0));
    return KILN_OK;
}

/* ---- NAME_run -------------------------------------------------------------- */

/* NAME_run (profiled false: the body with ns NULL) or NAME_run_profiled
 * (ns given; NULL refused with KILN_RUN_EARG when there are nodes). */
static void emit_entry(emitter *e, LLVMValueRef body, bool profiled)
{
    char sym[200];
    LLVMTypeRef params[] = {e->ptr, e->ptr, e->ptr, e->ptr};
    snprintf(sym, sizeof sym, "%s_run%s", e->name, profiled ? "_profiled" : "");
    LLVMValueRef fn = LLVMAddFunction(e->m, sym, LLVMFunctionType(e->i32, params, profiled ? 4 : 3, 0));
    LLVMPositionBuilderAtEnd(e->b, LLVMAppendBasicBlockInContext(e->c, fn, "entry"));
    LLVMValueRef args[] = {LLVMGetParam(fn, 0), LLVMGetParam(fn, 1), LLVMGetParam(fn, 2),
                           profiled ? LLVMGetParam(fn, 3) : LLVMConstPointerNull(e->ptr)};
    if (profiled && e->n_rows) {
        LLVMBasicBlockRef bad = LLVMAppendBasicBlockInContext(e->c, fn, "no_ns");
        LLVMBasicBlockRef ok = LLVMAppendBasicBlockInContext(e->c, fn, "run");
        LLVMBuildCondBr(e->b, LLVMBuildIsNull(e->b, args[3], ""), bad, ok);
        LLVMPositionBuilderAtEnd(e->b, bad);
        LLVMBuildRet(e->b, LLVMConstInt(e->i32, KILN_RUN_EARG, 0));
        LLVMPositionBuilderAtEnd(e->b, ok);
    }
    LLVMBuildRet(e->b, LLVMBuildCall2(e->b, LLVMGlobalGetValueType(body), body, args, 4, "rc"));
}

static kiln_status emit_run(emitter *e, LLVMValueRef info)
{
    LLVMTypeRef params[] = {e->ptr, e->ptr, e->ptr, e->ptr};
    e->run = LLVMAddFunction(e->m, "kiln.run", LLVMFunctionType(e->i32, params, 4, 0));
    LLVMSetLinkage(e->run, LLVMInternalLinkage);
    e->inputs = LLVMGetParam(e->run, 0), e->outputs = LLVMGetParam(e->run, 1);
    e->workspace = e->ws = LLVMGetParam(e->run, 2), e->ns = LLVMGetParam(e->run, 3);
    LLVMSetValueName2(e->inputs, "inputs", 6), LLVMSetValueName2(e->outputs, "outputs", 7);
    LLVMSetValueName2(e->workspace, "workspace", 9), LLVMSetValueName2(e->ns, "ns", 2);

    LLVMValueRef check = kiln_llvm_kernel_decl(e->m, e->kernels, "kiln_llvm_check_args");
    LLVMValueRef start = kiln_llvm_kernel_decl(e->m, e->kernels, "kiln_llvm_profile_start");
    e->stamp = kiln_llvm_kernel_decl(e->m, e->kernels, "kiln_llvm_profile_stamp");
    e->run_call = kiln_llvm_kernel_decl(e->m, e->kernels, "kiln_llvm_run_call");
    if (!check || !e->run_call || !start || !e->stamp)
        return kiln_error(e->ctx, KILN_ERR_UNSUPPORTED, "internal error: the embedded kernel bitcode "
                          "lacks glue/glue.c's functions: rebuild kiln");
    e->run_call_ty = LLVMGlobalGetValueType(e->run_call);
    LLVMValueRef bound = e->threads > 1 ? kiln_llvm_kernel_decl(e->m, e->kernels, "kiln_llvm_bound_pool") : NULL;
    e->run_pool = e->threads > 1 ? kiln_llvm_kernel_decl(e->m, e->kernels, "kiln_llvm_run_pool") : NULL;
    e->chunk = e->threads > 1 ? kiln_llvm_kernel_decl(e->m, e->kernels, "kiln_llvm_chunk") : NULL;
    e->pool_for = e->threads > 1 ? kiln_llvm_kernel_decl(e->m, e->kernels, "krt_pool_for") : NULL;
    if (e->threads > 1 && (!bound || !e->run_pool || !e->chunk || !e->pool_for))
        return kiln_error(e->ctx, KILN_ERR_UNSUPPORTED, "internal error: the embedded kernel bitcode "
                          "lacks glue/glue.c's pool functions or krt_pool_for: rebuild kiln");

    LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(e->c, e->run, "entry");
    e->fail = LLVMAppendBasicBlockInContext(e->c, e->run, "fail");
    LLVMPositionBuilderAtEnd(e->b, e->fail);
    e->fail_rc = LLVMBuildPhi(e->b, e->i32, "rc");
    LLVMBuildRet(e->b, e->fail_rc);

    LLVMPositionBuilderAtEnd(e->b, entry);
    LLVMValueRef placeholder = LLVMBuildAlloca(e->b, e->ptr, "ops.placeholder");
    e->last = LLVMBuildAlloca(e->b, e->i64, "last_stamp");
    e->ops = placeholder;
    if (e->threads > 1) {
        e->job = LLVMBuildAlloca(e->b, LLVMArrayType2(e->i8, sizeof(kiln_llvm_job)), "job");
        LLVMSetAlignment(e->job, 64);
    }
    LLVMValueRef args[] = {info, e->inputs, e->outputs, e->workspace};
    check_rc(e, LLVMBuildCall2(e->b, LLVMGlobalGetValueType(check), check, args, 4, "rc"));
    if (e->threads > 1) {  /* the pool NAME_set_pool bound; the arena after the header */
        LLVMValueRef idx = i64c(e, KILN_CGEN_WEIGHTS_HEADER);
        e->pool = LLVMBuildCall2(e->b, LLVMGlobalGetValueType(bound), bound, &e->workspace, 1, "pool");
        e->ws = LLVMBuildInBoundsGEP2(e->b, e->i8, e->workspace, &idx, 1, "ws");
    }
    LLVMValueRef start_args[] = {e->ns, e->last};
    LLVMBuildCall2(e->b, LLVMGlobalGetValueType(start), start, start_args, 2, "");

    kiln_status st = KILN_OK;
    for (uint32_t node = 1; node < e->g->n_nodes && st == KILN_OK; node++)
        st = emit_node(e, node);
    if (st == KILN_OK)
        st = emit_output_copies(e);
    LLVMBuildRet(e->b, LLVMConstInt(e->i32, KILN_RUN_OK, 0));

    /* The operand array, now that its size is known: one for every call. */
    LLVMPositionBuilder(e->b, entry, placeholder);
    LLVMValueRef ops = LLVMBuildAlloca(e->b, LLVMArrayType2(e->ptr, e->max_ops ? e->max_ops : 1), "ops");
    LLVMSetAlignment(ops, 16);
    LLVMReplaceAllUsesWith(placeholder, ops);
    LLVMInstructionEraseFromParent(placeholder);
    if (st == KILN_OK) {
        emit_profile(e);
        emit_entry(e, e->run, false);
        emit_entry(e, e->run, true);
    }
    return st;
}

/* ---- driver ------------------------------------------------------------------ */

static kiln_status check_graph(emitter *e)
{
    const kiln_graph *g = e->g;
    char shape[256];
    KILN_ASSERT(e->plan->n_values == g->n_values && e->plan->n_nodes == g->n_nodes);
    if (kiln_graph_check_data(e->ctx, g) != KILN_OK)
        return kiln_ctx_status(e->ctx);
    for (uint32_t v = 1; v < g->n_values; v++)
        if (g->values[v].kind == KILN_VAL_CONST && g->values[v].nbytes > UINT32_MAX)
            return kiln_error(e->ctx, KILN_ERR_UNSUPPORTED, "%s: constant '%s' is %zu bytes; the "
                              "LLVM backend takes constants up to 4 GiB (use --backend c)",
                              g->source, g->values[v].name, g->values[v].nbytes);
    for (uint32_t k = 0; k < g->n_inputs; k++) {
        const kiln_value *v = &g->values[g->inputs[k]];
        if (!kiln_shape_is_static(&v->shape))
            return kiln_error(e->ctx, KILN_ERR_UNSUPPORTED,
                              "%s: input '%s' has shape %s: bind its dimensions with --shape %s=...",
                              g->source, v->name, kiln_shape_format(g, &v->shape, shape, sizeof shape),
                              v->name);
    }
    return KILN_OK;
}

kiln_status kiln_llvm_model(kiln_ctx *ctx, const kiln_graph *g, const kiln_plan *plan,
                            const kiln_llvm_opts *opts, LLVMModuleRef m, LLVMModuleRef kernels,
                            kiln_llvm_stats *stats)
{
    emitter e = {.ctx = ctx, .g = g, .plan = plan, .name = opts->name, .m = m, .kernels = kernels,
                 .stats = stats, .threads = plan->threads > 1 ? plan->threads : 1};
    kiln_status st = check_graph(&e);
    if (st)
        return st;
    e.c = LLVMGetModuleContext(m);
    e.b = LLVMCreateBuilderInContext(e.c);
    e.i8 = LLVMInt8TypeInContext(e.c), e.i32 = LLVMInt32TypeInContext(e.c);
    e.i64 = LLVMInt64TypeInContext(e.c), e.ptr = LLVMPointerTypeInContext(e.c, 0);
    e.f64 = LLVMDoubleTypeInContext(e.c);
    e.rows = kiln_xcalloc(g->n_nodes, sizeof *e.rows);
    e.in_slot = kiln_xcalloc(g->n_values, sizeof *e.in_slot);
    e.out_slot = kiln_xcalloc(g->n_values, sizeof *e.out_slot);
    e.weight = kiln_xcalloc(g->n_values, sizeof *e.weight);
    e.arena = kiln_arena_create();
    for (uint32_t k = 0; k < g->n_inputs; k++)
        e.in_slot[g->inputs[k]] = k + 1;
    for (uint32_t k = 0; k < g->n_outputs; k++)
        if (!e.out_slot[g->outputs[k]])
            e.out_slot[g->outputs[k]] = k + 1;
    if (e.threads > KILN_LLVM_MAX_THREADS)
        st = kiln_error(ctx, KILN_ERR_INVALID, "--threads %d: the LLVM backend takes 1 to %d",
                        e.threads, KILN_LLVM_MAX_THREADS);
    if (!st && e.threads > 1)
        st = emit_pool_functions(&e);
    if (!st)
        st = emit_run(&e, emit_info(&e));
    LLVMDisposeBuilder(e.b);
    free(e.in_slot), free(e.out_slot), free(e.weight), free(e.rows);
    kiln_arena_destroy(e.arena);
    return st;
}
