/* llvm_compile.c — one compile: context, target, kernels, model, verify,
 * optimize, emit, and for lib/exe the system C driver.
 *
 * Order matters: the kernel bitcode is linked in first, so the model's
 * code refers to real definitions; then every definition but the ABI's
 * NAME_ symbols (abi_suffixes) is made internal, so that "globaldce" drops the kernels the
 * model does not call before the O3 pipeline spends time on them, and so
 * that a program linking two models (or a model and krt_npy.c) sees no
 * clash. target-cpu/target-features go on every function before the
 * pipeline runs, so the vectorizers see the CPU's width.
 */
#define _POSIX_C_SOURCE 200809L
#include "backends/c/cgen_internal.h"
#include "backends/llvm/llvm_internal.h"

#include <llvm-c/Analysis.h>
#include <llvm-c/BitWriter.h>
#include <llvm-c/Linker.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- module-wide edits ------------------------------------------------------- */

/* The model's exported symbols: NAME + each (runtime/kiln_model.h). */
static const char *const abi_suffixes[] = {"_info", "_run", "_workspace_size", "_profile",
                                           "_run_profiled"};
enum { N_ABI = sizeof abi_suffixes / sizeof abi_suffixes[0] };

static bool is_abi_symbol(const char *sym, size_t n, const char *name)
{
    const char *const *suffixes = abi_suffixes;
    size_t k = strlen(name);
    if (n <= k || strncmp(sym, name, k) != 0)
        return false;
    for (int i = 0; i < N_ABI; i++)
        if (n - k == strlen(suffixes[i]) && strncmp(sym + k, suffixes[i], n - k) == 0)
            return true;
    return false;
}

/* Every definition but the ABI's NAME_ symbols becomes internal. */
static void internalize(LLVMModuleRef m, const char *name)
{
    size_t n;
    for (LLVMValueRef f = LLVMGetFirstFunction(m); f; f = LLVMGetNextFunction(f)) {
        const char *sym = LLVMGetValueName2(f, &n);
        if (!LLVMIsDeclaration(f) && !is_abi_symbol(sym, n, name)) {
            LLVMSetLinkage(f, LLVMInternalLinkage);
            LLVMSetVisibility(f, LLVMDefaultVisibility);
        }
    }
    for (LLVMValueRef v = LLVMGetFirstGlobal(m); v; v = LLVMGetNextGlobal(v)) {
        const char *sym = LLVMGetValueName2(v, &n);
        if (!LLVMIsDeclaration(v) && !is_abi_symbol(sym, n, name) &&
            LLVMGetLinkage(v) != LLVMPrivateLinkage && LLVMGetLinkage(v) != LLVMAppendingLinkage) {
            LLVMSetLinkage(v, LLVMInternalLinkage);
            LLVMSetVisibility(v, LLVMDefaultVisibility);
        }
    }
}

/* The kernels' own file-local functions may be named like the model's
 * ABI symbols (krt_linalg_gemm.c's static gemm_run is `--name gemm`'s
 * NAME_run): those are renamed out of the way, since nothing outside
 * their file refers to them by name. An external one is a clash the user
 * must resolve with --name. */
static kiln_status free_abi_names(kiln_ctx *ctx, LLVMModuleRef m, const char *name)
{
    const char *const *suffixes = abi_suffixes;
    for (int i = 0; i < N_ABI; i++) {
        char sym[300], moved[320];
        snprintf(sym, sizeof sym, "%s%s", name, suffixes[i]);
        LLVMValueRef v = LLVMGetNamedFunction(m, sym);
        v = v ? v : LLVMGetNamedGlobal(m, sym);
        if (!v)
            continue;
        LLVMLinkage l = LLVMGetLinkage(v);
        if (l != LLVMInternalLinkage && l != LLVMPrivateLinkage)
            return kiln_error(ctx, KILN_ERR_INVALID, "--name %s: the symbol '%s' is the kiln runtime's "
                              "own; choose another --name", name, sym);
        snprintf(moved, sizeof moved, "krt.%s", sym);
        LLVMSetValueName2(v, moved, strlen(moved));
    }
    return KILN_OK;
}

/* A function's "target-features" string ("" when none), into buf. */
static void features_of(LLVMValueRef f, char *buf, size_t size)
{
    unsigned n = 0;
    LLVMAttributeRef a = LLVMGetStringAttributeAtIndex(f, (unsigned)LLVMAttributeFunctionIndex,
                                                       "target-features", 15);
    const char *s = a ? LLVMGetStringAttributeValue(a, &n) : "";
    snprintf(buf, size, "%.*s", (int)n, s);
}

/* The target's CPU and features on every function with a body, replacing
 * the kernel build's (clang's for the build's flags). A function that
 * asked for other features itself (__attribute__((target)), a clone for
 * run-time CPU dispatch) keeps its own: its features differ from the
 * glue's, which is compiled with the build's plain flags. */
static void set_cpu(LLVMModuleRef m, const kiln_llvm_target *t)
{
    unsigned fi = (unsigned)LLVMAttributeFunctionIndex;
    static char base[4096], mine[4096];
    LLVMValueRef glue = LLVMGetNamedFunction(m, "kiln_llvm_run_call");
    features_of(glue, base, sizeof base);
    for (LLVMValueRef f = LLVMGetFirstFunction(m); f; f = LLVMGetNextFunction(f)) {
        if (LLVMIsDeclaration(f))
            continue;
        features_of(f, mine, sizeof mine);
        if (mine[0] && strcmp(mine, base) != 0)
            continue;
        LLVMRemoveStringAttributeAtIndex(f, fi, "target-cpu", 10);
        LLVMRemoveStringAttributeAtIndex(f, fi, "target-features", 15);
        LLVMRemoveStringAttributeAtIndex(f, fi, "tune-cpu", 8);
        LLVMAddTargetDependentFunctionAttr(f, "target-cpu", t->cpu);
        if (t->features[0])
            LLVMAddTargetDependentFunctionAttr(f, "target-features", t->features);
        /* LLVM's x86 tuning keeps AVX-512 CPUs at 256-bit vectors unless told
         * otherwise; kiln's loops are long dense float loops, where zmm wins.
         * Harmless without AVX-512 (the widest legal vector caps it). */
        if (strcmp(t->arch, "x86_64") == 0)
            LLVMAddTargetDependentFunctionAttr(f, "prefer-vector-width", "512");
        LLVMAttributeRef nounwind = LLVMCreateEnumAttribute(
            LLVMGetModuleContext(m), LLVMGetEnumAttributeKindForName("nounwind", 8), 0);
        LLVMAddAttributeAtIndex(f, fi, nounwind);
    }
}

static void always_inline(LLVMContextRef c, LLVMValueRef f)
{
    unsigned fi = (unsigned)LLVMAttributeFunctionIndex;
    if (!f || !LLVMIsAFunction(f) || LLVMIsDeclaration(f))
        return;
    LLVMRemoveEnumAttributeAtIndex(f, fi, LLVMGetEnumAttributeKindForName("noinline", 8));
    LLVMAddAttributeAtIndex(f, fi, LLVMCreateEnumAttribute(
        c, LLVMGetEnumAttributeKindForName("alwaysinline", 12), 0));
}

/* The glue and every kernel's run and scratch_size functions (fields 1 and
 * 2 of its krt_kernel_info constant) are inlined into NAME_run at each
 * call, where the descriptor is a constant: the loads of its dtypes and
 * ops fold, the kernel's dtype tables fold to the one variant called, and
 * globaldce drops the rest before O3 spends time on them. */
static void mark_inline(LLVMModuleRef m)
{
    LLVMContextRef c = LLVMGetModuleContext(m);
    size_t n;
    always_inline(c, LLVMGetNamedFunction(m, "kiln_llvm_run_call"));
    always_inline(c, LLVMGetNamedFunction(m, "kiln_llvm_check_args"));
    /* the vector math one vector at a time, called by fused elementwise loops */
    for (LLVMValueRef f = LLVMGetFirstFunction(m); f; f = LLVMGetNextFunction(f)) {
        const char *sym = LLVMGetValueName2(f, &n);
        if (n > 16 && strncmp(sym, "krt_vmath_block_", 16) == 0)
            always_inline(c, f);
    }
    for (LLVMValueRef v = LLVMGetFirstGlobal(m); v; v = LLVMGetNextGlobal(v)) {
        const char *sym = LLVMGetValueName2(v, &n);
        LLVMValueRef init = n > 11 && strncmp(sym, "krt_kernel_", 11) == 0 ? LLVMGetInitializer(v) : NULL;
        if (init && LLVMGetNumOperands(init) >= 3) {
            always_inline(c, LLVMGetOperand(init, 1));
            always_inline(c, LLVMGetOperand(init, 2));
        }
    }
}

/* LLVMVerifyModule's failure as one message naming the function. */
static kiln_status verify(kiln_ctx *ctx, LLVMModuleRef m, const char *stage)
{
    char *msg = NULL;
    if (!LLVMVerifyModule(m, LLVMReturnStatusAction, &msg)) {
        LLVMDisposeMessage(msg);
        return KILN_OK;
    }
    const char *bad = "(module level)";
    size_t n;
    for (LLVMValueRef f = LLVMGetFirstFunction(m); f; f = LLVMGetNextFunction(f))
        if (!LLVMIsDeclaration(f) && LLVMVerifyFunction(f, LLVMReturnStatusAction)) {
            bad = LLVMGetValueName2(f, &n);
            break;
        }
    char first[400];
    snprintf(first, sizeof first, "%s", msg ? msg : "");
    char *nl = strchr(first, '\n');
    if (nl)
        *nl = 0;
    LLVMDisposeMessage(msg);
    return kiln_error(ctx, KILN_ERR_UNSUPPORTED, "internal error: LLVM's verifier rejects function "
                      "'%s' %s: %s (please report it with the model)", bad, stage, first);
}

/* ---- files ---------------------------------------------------------------------- */

static kiln_status io_error(kiln_ctx *ctx, const char *path, const char *what)
{
    return kiln_error(ctx, KILN_ERR_IO, "%s: cannot %s: %s", path, what, strerror(errno));
}

/* `n` bytes to path through a temporary beside it and a rename. */
static kiln_status write_atomic(kiln_ctx *ctx, const char *path, const void *p, size_t n)
{
    char tmp[4400];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return io_error(ctx, tmp, "create");
    bool ok = fwrite(p, 1, n, f) == n;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        kiln_status st = io_error(ctx, path, ok ? "rename into place" : "write");
        unlink(tmp);
        return st;
    }
    return KILN_OK;
}

static kiln_status write_buffer(kiln_ctx *ctx, const char *path, LLVMMemoryBufferRef buf)
{
    kiln_status st = write_atomic(ctx, path, LLVMGetBufferStart(buf), LLVMGetBufferSize(buf));
    LLVMDisposeMemoryBuffer(buf);
    return st;
}

static kiln_status write_text(kiln_ctx *ctx, const char *path, const char *text)
{
    return write_atomic(ctx, path, text, strlen(text));
}

/* ---- lib and exe: the system C driver --------------------------------------------- */

static const char *driver_for(const kiln_llvm_opts *o, const kiln_llvm_target *t)
{
    const char *cc = o->cc ? o->cc : getenv("CC");
    if (cc && *cc)
        return cc;
    return t->host ? "cc" : strcmp(t->arch, "aarch64") == 0 ? "aarch64-linux-gnu-gcc" : "x86_64-linux-gnu-gcc";
}

static kiln_status write_in(kiln_ctx *ctx, const char *dir, const char *file, const char *p, size_t n)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    return write_atomic(ctx, path, p, n);
}

/* The executable's extra sources in dir: main.c (the C backend's testbench
 * around NAME), NAME.h, and the runtime files krt_npy.c needs. Their names
 * go to srcs (the .c files). */
static kiln_status exe_sources(kiln_ctx *ctx, const char *dir, const char *name, char srcs[][4400],
                               int *n_srcs)
{
    cbuf b = {0};
    bool used[KRT_K_COUNT] = {0};
    bool *keep = kiln_xcalloc(kiln_cgen_n_runtime_files, sizeof *keep);
    kiln_cgen_runtime_select(used, true, keep);
    cbuf_printf(&b, "/* %s.h — generated by kiln (LLVM backend) */\n#ifndef KILN_MODEL_%s_H\n"
                    "#define KILN_MODEL_%s_H\n#include <stddef.h>\n#include \"kiln_model.h\"\n"
                    "extern const kiln_model_info %s_info;\nsize_t %s_workspace_size(void);\n"
                    "int %s_run(const void *const *inputs, void *const *outputs, void *workspace);\n"
                    "extern const kiln_model_profile %s_profile;\n"
                    "int %s_run_profiled(const void *const *inputs, void *const *outputs, void *workspace,\n"
                    "                    uint64_t *ns);\n"
                    "#endif\n", name, name, name, name, name, name, name, name);
    char hname[200];
    snprintf(hname, sizeof hname, "%s.h", name);
    kiln_status st = write_in(ctx, dir, hname, b.p, b.len);
    cbuf_free(&b);
    kiln_cgen_main(&b, name);
    if (!st)
        st = write_in(ctx, dir, "main.c", b.p, b.len);
    cbuf_free(&b);
    snprintf(srcs[(*n_srcs)++], 4400, "%s/main.c", dir);
    for (unsigned i = 0; i < kiln_cgen_n_runtime_files && !st; i++) {
        const kiln_cgen_file *f = &kiln_cgen_runtime_files[i];
        if (!keep[i])
            continue;
        kiln_cgen_flatten_includes(&b, f);
        st = write_in(ctx, dir, f->name, b.p, b.len);
        cbuf_free(&b);
        size_t n = strlen(f->name);
        if (n > 2 && strcmp(f->name + n - 2, ".c") == 0 && *n_srcs < 16)
            snprintf(srcs[(*n_srcs)++], 4400, "%s/%s", dir, f->name);
    }
    free(keep);
    return st;
}

static kiln_status link_artifact(kiln_ctx *ctx, const kiln_llvm_opts *o, const kiln_llvm_target *t,
                                 LLVMMemoryBufferRef obj, const char *out)
{
    char dir[64] = "/tmp/kiln_llvm_XXXXXX", objp[4400], tmp[4400], srcs[16][4400];
    int n_srcs = 0;
    if (!mkdtemp(dir)) {
        LLVMDisposeMemoryBuffer(obj);
        return io_error(ctx, "/tmp", "create a temporary directory");
    }
    snprintf(objp, sizeof objp, "%s/%s.o", dir, o->name);
    kiln_status st = write_buffer(ctx, objp, obj);
    if (!st && o->emit == KILN_LLVM_EMIT_EXE)
        st = exe_sources(ctx, dir, o->name, srcs, &n_srcs);
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", out, (long)getpid());
    if (!st) {
        char *argv[40];
        int n = 0;
        argv[n++] = (char *)driver_for(o, t);
        if (o->emit == KILN_LLVM_EMIT_LIB)
            argv[n++] = "-shared";
        else
            argv[n++] = "-std=c11", argv[n++] = "-O1";  /* the testbench: I/O only */
        argv[n++] = "-o", argv[n++] = tmp;
        for (int i = 0; i < n_srcs; i++)
            argv[n++] = srcs[i];
        argv[n++] = objp, argv[n++] = "-lm", argv[n++] = "-lpthread", argv[n] = NULL;
        if (kiln_cgen_run_program(argv) != 0)
            st = kiln_error(ctx, KILN_ERR_RUNTIME, "%s: linking with %s failed (its messages are "
                            "above); set CC to a C driver for %s", out, argv[0], t->triple);
        else if (rename(tmp, out) != 0)
            st = io_error(ctx, out, "rename into place");
    }
    unlink(tmp);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "kiln: note: could not remove %s\n", dir);
    return st;
}

/* ---- the compile --------------------------------------------------------------------- */

static kiln_status emit_output(kiln_ctx *ctx, const kiln_llvm_opts *o, const kiln_llvm_target *t,
                               LLVMModuleRef m, const char *out, kiln_llvm_stats *s)
{
    char *err = NULL;
    LLVMMemoryBufferRef buf = NULL;
    kiln_status st = KILN_OK;
    double t0 = now_seconds();
    if (o->emit == KILN_LLVM_EMIT_LL) {
        char *text = LLVMPrintModuleToString(m);
        st = write_text(ctx, out, text);
        LLVMDisposeMessage(text);
    } else if (o->emit == KILN_LLVM_EMIT_BC) {
        st = write_buffer(ctx, out, LLVMWriteBitcodeToMemoryBuffer(m));
    } else {
        LLVMCodeGenFileType kind = o->emit == KILN_LLVM_EMIT_ASM ? LLVMAssemblyFile : LLVMObjectFile;
        if (LLVMTargetMachineEmitToMemoryBuffer(t->tm, m, kind, &err, &buf)) {
            st = kiln_error(ctx, KILN_ERR_UNSUPPORTED, "%s: LLVM could not generate code for %s "
                            "(--cpu %s): %s", out, t->triple, t->cpu, err ? err : "");
            LLVMDisposeMessage(err);
        }
        s->t_codegen = now_seconds() - t0;
        t0 = now_seconds();
        if (!st && (o->emit == KILN_LLVM_EMIT_LIB || o->emit == KILN_LLVM_EMIT_EXE))
            st = link_artifact(ctx, o, t, buf, out);
        else if (!st)
            st = write_buffer(ctx, out, buf);
        s->t_link = now_seconds() - t0;
        return st;
    }
    s->t_codegen = now_seconds() - t0;
    return st;
}

static kiln_status optimize(kiln_ctx *ctx, const kiln_llvm_opts *o, const kiln_llvm_target *t,
                            LLVMModuleRef m)
{
    char pipeline[160];
    int level = o->opt_level < 0 ? 0 : o->opt_level > 3 ? 3 : o->opt_level;
    /* Specialize first (inline the kernels at their constant descriptors,
     * fold, drop what is no longer called), then the full pipeline. */
    snprintf(pipeline, sizeof pipeline, "globaldce,always-inline,function(sroa,instcombine,simplifycfg),"
             "globalopt,globaldce,default<O%d>", level);
    LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
    LLVMErrorRef err = LLVMRunPasses(m, pipeline, t->tm, po);
    LLVMDisposePassBuilderOptions(po);
    if (err) {
        char *msg = LLVMGetErrorMessage(err);
        kiln_status st = kiln_error(ctx, KILN_ERR_UNSUPPORTED, "internal error: LLVM pipeline '%s': %s",
                                    pipeline, msg);
        LLVMDisposeErrorMessage(msg);
        return st;
    }
    return KILN_OK;
}

kiln_status kiln_llvm_build(kiln_ctx *ctx, const kiln_graph *g, const kiln_plan *plan,
                            const kiln_llvm_opts *opts, const kiln_llvm_target *t, LLVMContextRef c,
                            LLVMModuleRef *out, kiln_llvm_stats *s)
{
    kiln_status st = KILN_OK;
    KILN_ASSERT(plan->threads == 1);
    snprintf(s->triple, sizeof s->triple, "%s", t->triple);
    snprintf(s->cpu, sizeof s->cpu, "%s", t->cpu);
    snprintf(s->kernels, sizeof s->kernels, "%s", t->build);
    double t0 = now_seconds();
    LLVMModuleRef m = LLVMModuleCreateWithNameInContext(opts->name, c);
    LLVMModuleRef kernels = kiln_llvm_kernels(ctx, c, t->build);
    LLVMTargetDataRef layout = LLVMCreateTargetDataLayout(t->tm);
    char *dl = LLVMCopyStringRepOfTargetData(layout);
    LLVMSetTarget(m, t->triple), LLVMSetDataLayout(m, dl);
    if (!kernels)
        st = kiln_ctx_status(ctx);
    else {
        LLVMSetTarget(kernels, t->triple), LLVMSetDataLayout(kernels, dl);
        if (LLVMLinkModules2(m, kernels))
            st = kiln_error(ctx, KILN_ERR_UNSUPPORTED, "internal error: linking the kernel bitcode failed");
    }
    LLVMDisposeMessage(dl);
    LLVMDisposeTargetData(layout);
    if (!st)
        st = free_abi_names(ctx, m, opts->name);
    if (!st)
        st = kiln_llvm_model(ctx, g, plan, opts, m, s);
    if (!st) {
        internalize(m, opts->name);
        mark_inline(m);
        set_cpu(m, t);
        st = verify(ctx, m, "before optimization");
    }
    s->t_ir = now_seconds() - t0;
    t0 = now_seconds();
    if (!st)
        st = optimize(ctx, opts, t, m);
    if (!st)
        st = verify(ctx, m, "after optimization");
    s->t_opt = now_seconds() - t0;
    if (st) {
        LLVMDisposeModule(m);
        m = NULL;
    }
    *out = m;
    return st;
}

kiln_status kiln_llvm_compile(kiln_ctx *ctx, const kiln_graph *g, const kiln_plan *plan,
                              const kiln_llvm_opts *opts, const char *out, kiln_llvm_stats *stats)
{
    kiln_llvm_stats dummy;
    kiln_llvm_stats *s = stats ? stats : &dummy;
    kiln_llvm_target t;
    LLVMModuleRef m = NULL;
    memset(s, 0, sizeof *s);
    kiln_status st = kiln_llvm_target_open(ctx, opts, &t);
    if (st) {
        kiln_llvm_target_close(&t);
        return st;
    }
    LLVMContextRef c = LLVMContextCreate();
    st = kiln_llvm_build(ctx, g, plan, opts, &t, c, &m, s);
    if (!st)
        st = emit_output(ctx, opts, &t, m, out, s);
    if (m)
        LLVMDisposeModule(m);
    LLVMContextDispose(c);
    kiln_llvm_target_close(&t);
    return st;
}
