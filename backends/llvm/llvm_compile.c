/* llvm_compile.c — one compile: context, target, kernels, model, verify,
 * optimize, emit, and for lib/exe the system C driver.
 *
 * Order matters: the kernel bitcode is loaded lazily (signatures only),
 * the model's code declares the kernels it calls, and only then is the
 * bitcode linked, taking just those kernels and what they call (their
 * bodies read from the bitcode then); then every definition but the ABI's
 * NAME_ symbols (abi_suffixes) is made internal, so that "globaldce" drops
 * what inlining leaves unused before the O3 pipeline spends time on it,
 * and so that a program linking two models (or a model and krt_npy.c)
 * sees no clash. target-cpu/target-features go on every function before the
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

/* The model's exported symbols, NAME + each (runtime/kiln_model.h):
 * NAME_info/_run/_workspace_size/_profile/_run_profiled, and with --threads
 * NAME_set_pool/_max_threads (the C backend's NAME.h). */
static const char *const abi_suffixes[] = {"_info", "_run", "_workspace_size", "_profile",
                                           "_run_profiled", "_set_pool", "_max_threads"};
enum { N_ABI = 5, N_ABI_THREADS = 7 };

/* With --threads, a library or an executable also exports the pool API its
 * caller makes the pool with (`kiln run LIB.so` calls the library's own
 * krt_pool_create, the testbench links against it); an object keeps it
 * internal, as the C backend's does (objcopy -G), so that two models link
 * into one program: its user links libkiln-runtime.a. */
static const char *const pool_api[] = {"krt_pool_create", "krt_pool_destroy", "krt_pool_threads"};

static bool is_abi_symbol(const char *sym, size_t n, const char *name, int n_abi, bool pool)
{
    size_t k = strlen(name);
    for (int i = 0; pool && i < 3; i++)
        if (n == strlen(pool_api[i]) && strncmp(sym, pool_api[i], n) == 0)
            return true;
    if (n <= k || strncmp(sym, name, k) != 0)
        return false;
    for (int i = 0; i < n_abi; i++)
        if (n - k == strlen(abi_suffixes[i]) && strncmp(sym + k, abi_suffixes[i], n - k) == 0)
            return true;
    return false;
}

/* Every definition but the ABI's (and the pool API, see pool_api) becomes internal. */
static void internalize(LLVMModuleRef m, const char *name, int threads, kiln_llvm_emit emit)
{
    size_t n;
    int n_abi = threads > 1 ? N_ABI_THREADS : N_ABI;
    bool pool = threads > 1 && emit != KILN_LLVM_EMIT_OBJ;
    for (LLVMValueRef f = LLVMGetFirstFunction(m); f; f = LLVMGetNextFunction(f)) {
        const char *sym = LLVMGetValueName2(f, &n);
        if (LLVMIsDeclaration(f))
            continue;
        if (!is_abi_symbol(sym, n, name, n_abi, pool)) {
            LLVMSetLinkage(f, LLVMInternalLinkage);
            LLVMSetVisibility(f, LLVMDefaultVisibility);
        } else if (LLVMGetLinkage(f) == LLVMLinkOnceODRLinkage) {
            /* the pool API, linked from the bitcode as linkonce_odr
             * (link_only_needed): exported, so it must survive globaldce */
            LLVMSetLinkage(f, LLVMExternalLinkage);
        }
    }
    for (LLVMValueRef v = LLVMGetFirstGlobal(m); v; v = LLVMGetNextGlobal(v)) {
        const char *sym = LLVMGetValueName2(v, &n);
        if (!LLVMIsDeclaration(v) && !is_abi_symbol(sym, n, name, n_abi, pool) &&
            LLVMGetLinkage(v) != LLVMPrivateLinkage && LLVMGetLinkage(v) != LLVMAppendingLinkage) {
            LLVMSetLinkage(v, LLVMInternalLinkage);
            LLVMSetVisibility(v, LLVMDefaultVisibility);
        }
    }
}

/* The kernel bitcode's public definitions become linkonce_odr before it is
 * linked: the linker then takes only those the model declared
 * (kiln_llvm_kernel_decl) and, lazily, what they refer to, and reads only
 * their bodies from the bitcode. Linking it all (1100+ functions) and
 * verifying it cost more than a small model's whole compile; globaldce
 * used to drop the rest only afterwards. */
static void link_only_needed(LLVMModuleRef kernels)
{
    for (LLVMValueRef f = LLVMGetFirstFunction(kernels); f; f = LLVMGetNextFunction(f))
        if (!LLVMIsDeclaration(f) && LLVMGetLinkage(f) == LLVMExternalLinkage)
            LLVMSetLinkage(f, LLVMLinkOnceODRLinkage);
    for (LLVMValueRef v = LLVMGetFirstGlobal(kernels); v; v = LLVMGetNextGlobal(v))
        if (!LLVMIsDeclaration(v) && LLVMGetLinkage(v) == LLVMExternalLinkage)
            LLVMSetLinkage(v, LLVMLinkOnceODRLinkage);
}

/* The kernels' own file-local functions may be named like the model's
 * ABI symbols (krt_linalg_gemm.c's static gemm_run is `--name gemm`'s
 * NAME_run): those are renamed out of the way, since nothing outside
 * their file refers to them by name. An external one is a clash the user
 * must resolve with --name. */
static kiln_status free_abi_names(kiln_ctx *ctx, LLVMModuleRef m, const char *name)
{
    for (int i = 0; i < N_ABI_THREADS; i++) {
        char sym[300], moved[320];
        snprintf(sym, sizeof sym, "%s%s", name, abi_suffixes[i]);
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
    /* --threads: the pool's call and chunk glue, so that each call.N.K
     * chunk function sees its kernel and descriptor as constants */
    always_inline(c, LLVMGetNamedFunction(m, "kiln_llvm_run_pool"));
    always_inline(c, LLVMGetNamedFunction(m, "kiln_llvm_chunk"));
    always_inline(c, LLVMGetNamedFunction(m, "kiln_llvm_bound_pool"));
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

kiln_status kiln_llvm_verify(kiln_ctx *ctx, LLVMModuleRef m, const char *stage)
{
    char *msg = NULL;
    if (!LLVMVerifyModule(m, LLVMReturnStatusAction, &msg)) {
        LLVMDisposeMessage(msg);
        return KILN_OK;
    }
    char bad[300] = "the module (outside any function)";
    size_t n;
    for (LLVMValueRef f = LLVMGetFirstFunction(m); f; f = LLVMGetNextFunction(f))
        if (!LLVMIsDeclaration(f) && LLVMVerifyFunction(f, LLVMReturnStatusAction)) {
            const char *name = LLVMGetValueName2(f, &n);
            snprintf(bad, sizeof bad, "function '%.*s'", (int)(n < 200 ? n : 200), name);
            break;
        }
    char first[400];
    snprintf(first, sizeof first, "%s", msg ? msg : "");
    char *nl = strchr(first, '\n');
    if (nl)
        *nl = 0;
    LLVMDisposeMessage(msg);
    return kiln_error(ctx, KILN_ERR_UNSUPPORTED, "internal error: LLVM's verifier rejects %s %s: %s "
                      "(please report it with the model)", bad, stage, first);
}

/* kiln_llvm_verify with the model's path before the message. */
static kiln_status model_verify(kiln_ctx *ctx, LLVMModuleRef m, const kiln_llvm_opts *o,
                                const kiln_graph *g, const char *stage)
{
    char msg[3000];
    kiln_status st = kiln_llvm_verify(ctx, m, stage);
    if (!st)
        return st;
    snprintf(msg, sizeof msg, "%s", kiln_ctx_message(ctx));
    return kiln_error(ctx, st, "%s: %s", o->model_path ? o->model_path : g->source, msg);
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
 * go to srcs (the .c files). With --threads N, main.c makes its pool with
 * the object's krt_pool_create (exported for an exe): krt_pool.h only. */
static kiln_status exe_sources(kiln_ctx *ctx, const char *dir, const char *name, int threads,
                               char srcs[][4400], int *n_srcs)
{
    cbuf b = {0};
    bool used[KRT_K_COUNT] = {0};
    bool *keep = kiln_xcalloc(kiln_cgen_n_runtime_files, sizeof *keep);
    kiln_cgen_runtime_select(used, true, keep);
    for (unsigned i = 0; threads > 1 && i < kiln_cgen_n_runtime_files; i++)
        keep[i] |= strcmp(kiln_cgen_runtime_files[i].name, "krt_pool.h") == 0;
    cbuf_printf(&b, "/* %s.h — generated by kiln (LLVM backend) */\n#ifndef KILN_MODEL_%s_H\n"
                    "#define KILN_MODEL_%s_H\n#include <stddef.h>\n#include \"kiln_model.h\"\n"
                    "extern const kiln_model_info %s_info;\nsize_t %s_workspace_size(void);\n"
                    "int %s_run(const void *const *inputs, void *const *outputs, void *workspace);\n"
                    "extern const kiln_model_profile %s_profile;\n"
                    "int %s_run_profiled(const void *const *inputs, void *const *outputs, void *workspace,\n"
                    "                    uint64_t *ns);\n",
                name, name, name, name, name, name, name, name);
    if (threads > 1)
        cbuf_printf(&b, "#define %s_THREADS %d\nstruct krt_pool;\n"
                        "int %s_set_pool(void *workspace, struct krt_pool *pool);\n"
                        "int %s_max_threads(void);\n", name, threads, name, name);
    cbuf_puts(&b, "#endif\n");
    char hname[200];
    snprintf(hname, sizeof hname, "%s.h", name);
    kiln_status st = write_in(ctx, dir, hname, b.p, b.len);
    cbuf_free(&b);
    kiln_cgen_main_weights(&b, name, false, threads);
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
                                 int threads, LLVMMemoryBufferRef obj, const char *out)
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
        st = exe_sources(ctx, dir, o->name, threads, srcs, &n_srcs);
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
                               int threads, LLVMModuleRef m, const char *out, kiln_llvm_stats *s)
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
            st = link_artifact(ctx, o, t, threads, buf, out);
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
    char pipeline[300];
    int level = o->opt_level < 0 ? 0 : o->opt_level > 3 ? 3 : o->opt_level;
    /* Specialize first (inline the kernels at their constant descriptors,
     * fold, drop what is no longer called), then the full pipeline. The
     * kernels' dtype tables (one function per dtype, per op) are indexed in
     * helpers the kernels call, so one round of the ordinary inliner and a
     * fold turns those loads into direct calls and globaldce drops the
     * rest: a LayerNormalization of 14 nodes goes from 550 functions to 9
     * before O3 runs, and its compile from 1.9 to 0.6 s (without it O3
     * simplifies every variant before its own inliner gets there). */
    snprintf(pipeline, sizeof pipeline, "globaldce,always-inline,function(sroa,instcombine<no-verify-fixpoint>,simplifycfg),"
             "globalopt,globaldce,%sdefault<O%d>",
             level ? "cgscc(inline),function(sroa,instcombine<no-verify-fixpoint>,simplifycfg),globalopt,globaldce," : "", level);
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
    snprintf(s->triple, sizeof s->triple, "%s", t->triple);
    snprintf(s->cpu, sizeof s->cpu, "%s", t->cpu);
    snprintf(s->kernels, sizeof s->kernels, "%s", t->build);
    double t0 = now_seconds();
    kiln_llvm_fatal_context(opts->model_path ? opts->model_path : g->source);
    LLVMModuleRef m = LLVMModuleCreateWithNameInContext(opts->name, c);
    LLVMModuleRef kernels = kiln_llvm_kernels(ctx, c, t->build);
    LLVMTargetDataRef layout = LLVMCreateTargetDataLayout(t->tm);
    char *dl = LLVMCopyStringRepOfTargetData(layout);
    LLVMSetTarget(m, t->triple), LLVMSetDataLayout(m, dl);
    if (!kernels)
        st = kiln_ctx_status(ctx);
    else
        LLVMSetTarget(kernels, t->triple), LLVMSetDataLayout(kernels, dl);
    LLVMDisposeMessage(dl);
    LLVMDisposeTargetData(layout);
    if (!st)
        st = free_abi_names(ctx, kernels, opts->name);
    if (!st)
        st = kiln_llvm_model(ctx, g, plan, opts, m, kernels, s);
    if (!st) {
        link_only_needed(kernels);
        if (LLVMLinkModules2(m, kernels))  /* (takes kernels, linked or not) */
            st = kiln_error(ctx, KILN_ERR_UNSUPPORTED, "internal error: linking the kernel bitcode failed");
    } else if (kernels) {
        LLVMDisposeModule(kernels);
    }
    if (!st) {
        internalize(m, opts->name, plan->threads, opts->emit);
        mark_inline(m);
        set_cpu(m, t);
        st = model_verify(ctx, m, opts, g, "before optimization");
    }
    s->t_ir = now_seconds() - t0;
    t0 = now_seconds();
    if (!st)
        st = optimize(ctx, opts, t, m);
    if (!st)
        st = model_verify(ctx, m, opts, g, "after optimization");
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
        st = emit_output(ctx, opts, &t, plan->threads, m, out, s);
    if (m)
        LLVMDisposeModule(m);
    LLVMContextDispose(c);
    kiln_llvm_target_close(&t);
    return st;
}
