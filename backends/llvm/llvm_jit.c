/* llvm_jit.c — `kiln run MODEL --backend llvm`: the module kiln_llvm_build
 * makes for the host, compiled in memory by ORC's LLJIT (no files), its
 * entry points (NAME_info, NAME_run, NAME_workspace_size, NAME_profile,
 * NAME_run_profiled) handed to the caller, which calls them as it calls a
 * library's (tools/run_lib.c). With --threads N the module also defines
 * NAME_set_pool and NAME_max_threads and keeps krt_pool_create/_destroy
 * global: kiln_llvm_jit_symbol hands them out, so the pool is the
 * module's own, as a library's is.
 *
 * The module is built in the thread-safe context LLJIT takes over; the
 * target machine builder is made from kiln's own target machine (same CPU,
 * features and PIC), and symbols the kernels need from libc and libm
 * (memcpy, expf...) resolve against this process.
 */
#include "backends/llvm/llvm_internal.h"

#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* With --threads: the pool entry points, looked up once the module is in. */
static const char *const pool_suffixes[] = {"_set_pool", "_max_threads"};
static const char *const pool_api[] = {"krt_pool_create", "krt_pool_destroy"};
enum { N_POOL_SYMS = 4 };

struct kiln_llvm_jit {
    LLVMOrcLLJITRef jit;
    char sym[N_POOL_SYMS][300];    /* NAME_set_pool, NAME_max_threads, krt_pool_create, _destroy */
    LLVMOrcExecutorAddress addr[N_POOL_SYMS];   /* 0: not looked up (one thread) */
};

static kiln_status jit_error(kiln_ctx *ctx, LLVMErrorRef err, const char *what)
{
    char *msg = LLVMGetErrorMessage(err);
    kiln_status st = kiln_error(ctx, KILN_ERR_UNSUPPORTED, "LLVM JIT: %s: %s", what, msg);
    LLVMDisposeErrorMessage(msg);
    return st;
}

static kiln_status lookup(kiln_ctx *ctx, kiln_llvm_jit *j, const char *name, const char *suffix,
                          LLVMOrcExecutorAddress *addr)
{
    char sym[300];
    snprintf(sym, sizeof sym, "%s%s", name, suffix);
    LLVMErrorRef err = LLVMOrcLLJITLookup(j->jit, addr, sym);
    return err ? jit_error(ctx, err, sym) : KILN_OK;
}

kiln_status kiln_llvm_jit_create(kiln_ctx *ctx, const kiln_graph *g, const kiln_plan *plan,
                                 const kiln_llvm_opts *opts, kiln_llvm_jit_model *out,
                                 kiln_llvm_stats *stats)
{
    kiln_llvm_stats dummy;
    kiln_llvm_stats *s = stats ? stats : &dummy;
    kiln_llvm_target t;
    LLVMModuleRef m = NULL;
    memset(s, 0, sizeof *s);
    memset(out, 0, sizeof *out);
    if (opts->target)
        return kiln_error(ctx, KILN_ERR_INVALID, "--target: the JIT runs on this machine; compile "
                          "with `kiln compile --target` instead");
    kiln_status st = kiln_llvm_target_open(ctx, opts, &t);
    if (st) {
        kiln_llvm_target_close(&t);
        return st;
    }
    LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext();
    st = kiln_llvm_build(ctx, g, plan, opts, &t, LLVMOrcThreadSafeContextGetContext(tsc), &m, s);
    kiln_llvm_jit *j = kiln_xcalloc(1, sizeof *j);
    LLVMErrorRef err = NULL;
    if (!st) {
        LLVMOrcLLJITBuilderRef builder = LLVMOrcCreateLLJITBuilder();
        LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(
            builder, LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(t.tm));
        t.tm = NULL;  /* the builder owns it now */
        err = LLVMOrcCreateLLJIT(&j->jit, builder);
        if (err)
            st = jit_error(ctx, err, "cannot create the JIT");
    }
    if (!st) {
        LLVMOrcDefinitionGeneratorRef gen = NULL;
        err = LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(
            &gen, LLVMOrcLLJITGetGlobalPrefix(j->jit), NULL, NULL);
        if (err)
            st = jit_error(ctx, err, "cannot search this process for symbols");
        else
            LLVMOrcJITDylibAddGenerator(LLVMOrcLLJITGetMainJITDylib(j->jit), gen);
    }
    if (!st) {
        LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(m, tsc);
        m = NULL;
        err = LLVMOrcLLJITAddLLVMIRModule(j->jit, LLVMOrcLLJITGetMainJITDylib(j->jit), tsm);
        if (err) {
            LLVMOrcDisposeThreadSafeModule(tsm);
            st = jit_error(ctx, err, "cannot add the module");
        }
    }
    if (m)
        LLVMDisposeModule(m);
    LLVMOrcDisposeThreadSafeContext(tsc);
    kiln_llvm_target_close(&t);
    LLVMOrcExecutorAddress info = 0, run = 0, ws = 0, profile = 0, run_profiled = 0;
    if (!st)
        st = lookup(ctx, j, opts->name, "_info", &info);  /* compiles the module */
    if (!st)
        st = lookup(ctx, j, opts->name, "_run", &run);
    if (!st)
        st = lookup(ctx, j, opts->name, "_workspace_size", &ws);
    if (!st)
        st = lookup(ctx, j, opts->name, "_profile", &profile);
    if (!st)
        st = lookup(ctx, j, opts->name, "_run_profiled", &run_profiled);
    for (int i = 0; i < N_POOL_SYMS && !st && plan->threads > 1; i++) {
        snprintf(j->sym[i], sizeof j->sym[i], "%s%s", i < 2 ? opts->name : "",
                 i < 2 ? pool_suffixes[i] : pool_api[i - 2]);
        st = lookup(ctx, j, j->sym[i], "", &j->addr[i]);
    }
    if (st) {
        if (j->jit)
            LLVMOrcDisposeLLJIT(j->jit);
        free(j);
        return st;
    }
    uintptr_t a = (uintptr_t)run, b = (uintptr_t)ws, c = (uintptr_t)run_profiled;
    out->info = (const void *)(uintptr_t)info;
    out->profile = (const void *)(uintptr_t)profile;
    _Static_assert(sizeof out->run == sizeof a, "function pointers are addresses");
    memcpy(&out->run, &a, sizeof a);
    memcpy(&out->workspace_size, &b, sizeof b);
    memcpy(&out->run_profiled, &c, sizeof c);
    out->jit = j;
    return KILN_OK;
}

void (*kiln_llvm_jit_symbol(const kiln_llvm_jit_model *m, const char *sym))(void)
{
    void (*fn)(void) = NULL;
    for (int i = 0; m->jit && i < N_POOL_SYMS; i++)
        if (m->jit->addr[i] && strcmp(m->jit->sym[i], sym) == 0) {
            uintptr_t a = (uintptr_t)m->jit->addr[i];
            memcpy(&fn, &a, sizeof a);
        }
    return fn;
}

void kiln_llvm_jit_destroy(kiln_llvm_jit_model *m)
{
    if (m && m->jit) {
        LLVMErrorRef err = LLVMOrcDisposeLLJIT(m->jit->jit);
        if (err)
            LLVMConsumeError(err);
        free(m->jit);
        m->jit = NULL;
    }
}
