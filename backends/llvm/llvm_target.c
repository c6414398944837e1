/* llvm_target.c — --target and --cpu into an LLVM target machine, and the
 * embedded kernel bitcode of that target.
 *
 * Everything LLVM would otherwise only warn about or abort on is checked
 * here first, so that a mistake is one message naming the option: a
 * target kiln has no kernels for, a CPU name LLVM does not know (LLVM
 * itself prints "not a recognized processor" and goes on with a generic
 * CPU, which would silently give slow code).
 */
#define _POSIX_C_SOURCE 200809L
#include "backends/llvm/llvm_internal.h"

#include <llvm-c/BitReader.h>
#include <llvm-c/ErrorHandling.h>
#include <llvm-c/Target.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The embedded bitcode (embed.S); an empty range when kiln was built without it. */
extern const char kiln_llvm_bc_x86_64[], kiln_llvm_bc_x86_64_end[];
extern const char kiln_llvm_bc_x86_64_v3[], kiln_llvm_bc_x86_64_v3_end[];
extern const char kiln_llvm_bc_x86_64_v4[], kiln_llvm_bc_x86_64_v4_end[];
extern const char kiln_llvm_bc_aarch64[], kiln_llvm_bc_aarch64_end[];

/* The kernel builds (backends/llvm/CMakeLists.txt), by name. */
static const struct kernel_build {
    const char *name;
    const char *bc, *bc_end;
} builds[] = {
    {"x86_64", kiln_llvm_bc_x86_64, kiln_llvm_bc_x86_64_end},
    {"x86_64_v3", kiln_llvm_bc_x86_64_v3, kiln_llvm_bc_x86_64_v3_end},
    {"x86_64_v4", kiln_llvm_bc_x86_64_v4, kiln_llvm_bc_x86_64_v4_end},
    {"aarch64", kiln_llvm_bc_aarch64, kiln_llvm_bc_aarch64_end},
};

typedef struct arch_row {
    const char *arch;              /* the --target short name and the triple's first part */
    const char *triple;            /* what the short name means */
    const char *bc, *bc_end;
    const char *const *cpus;
    const char *cross_cpu;         /* --cpu native when the host is another arch */
    const char *no_kernels_hint;
    const char *examples[8];       /* CPU names an unknown --cpu's message suggests */
} arch_row;

static const arch_row arches[] = {
    {"x86_64", "x86_64-unknown-linux-gnu", kiln_llvm_bc_x86_64, kiln_llvm_bc_x86_64_end,
     kiln_llvm_cpus_x86_64, "x86-64", "rebuild kiln",
     {"x86-64-v2", "x86-64-v3", "x86-64-v4", "haswell", "skylake-avx512", "znver4", NULL}},
    {"aarch64", "aarch64-unknown-linux-gnu", kiln_llvm_bc_aarch64, kiln_llvm_bc_aarch64_end,
     kiln_llvm_cpus_aarch64, "generic",
     "install libc6-dev-arm64-cross (scripts/setup) and rebuild kiln",
     {"generic", "cortex-a72", "neoverse-n1", "neoverse-v1", "neoverse-v2", NULL}},
};
enum { N_ARCHES = sizeof arches / sizeof arches[0] };

/* The model being compiled, for a fatal error's message. */
static char fatal_model[512];

void kiln_llvm_fatal_context(const char *model)
{
    snprintf(fatal_model, sizeof fatal_model, "%s", model ? model : "");
}

/* LLVM's report_fatal_error (instruction selection that cannot select, a
 * pass's own check...) would print "LLVM ERROR: ..." and abort. kiln's
 * one-line message instead, then exit status 1 as for any other error.
 * LLVM's state is not trusted after one, so nothing returns to the caller
 * and no exit handler runs (_exit); kiln writes outputs atomically, so
 * nothing half-written is left. */
static void fatal_handler(const char *reason)
{
    char line[1024];
    snprintf(line, sizeof line, "%s", reason);
    for (char *p = line; *p; p++)  /* LLVM's reasons may end in (or hold) a newline */
        *p = *p == '\n' ? ' ' : *p;
    for (size_t n = strlen(line); n > 0 && line[n - 1] == ' '; n--)
        line[n - 1] = 0;
    fprintf(stderr, "kiln: %s%sinternal error in LLVM: %s (please report it with the model)\n",
            fatal_model, fatal_model[0] ? ": " : "", line);
    fflush(NULL);
    _exit(1);
}

static void init_llvm(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    LLVMInstallFatalErrorHandler(fatal_handler);
    LLVMInitializeX86TargetInfo(), LLVMInitializeX86Target(), LLVMInitializeX86TargetMC();
    LLVMInitializeX86AsmPrinter(), LLVMInitializeX86AsmParser();
    LLVMInitializeAArch64TargetInfo(), LLVMInitializeAArch64Target(), LLVMInitializeAArch64TargetMC();
    LLVMInitializeAArch64AsmPrinter(), LLVMInitializeAArch64AsmParser();
}

static const arch_row *find_arch(const char *arch, size_t n)
{
    for (int i = 0; i < N_ARCHES; i++)
        if (strlen(arches[i].arch) == n && strncmp(arches[i].arch, arch, n) == 0)
            return &arches[i];
    return NULL;
}

/* The row of --target: a short name, or a Linux triple whose arch kiln has. */
static const arch_row *target_row(kiln_ctx *ctx, const char *target, char *triple, size_t size)
{
    char *host = LLVMGetDefaultTargetTriple();
    const char *t = target ? target : host;
    const char *dash = strchr(t, '-');
    const arch_row *row = find_arch(t, dash ? (size_t)(dash - t) : strlen(t));
    if (row && !dash)
        snprintf(triple, size, "%s", row->triple);
    else if (row && strstr(t, "-linux") && strlen(t) < size)
        snprintf(triple, size, "%s", t);
    else
        row = NULL;
    if (!row)
        kiln_error(ctx, KILN_ERR_INVALID, "--target '%s': kiln has kernels for x86_64 and aarch64 "
                   "(or a Linux triple of them, such as x86_64-unknown-linux-gnu)", t);
    LLVMDisposeMessage(host);
    return row;
}

static bool known_cpu(const arch_row *row, const char *cpu)
{
    for (int i = 0; row->cpus[i]; i++)
        if (strcmp(row->cpus[i], cpu) == 0)
            return true;
    return false;
}

static kiln_status unknown_cpu(kiln_ctx *ctx, const arch_row *row, const char *cpu)
{
    char list[256];
    size_t at = 0;
    list[0] = 0;
    for (int i = 0; row->examples[i]; i++)  /* (each checked against LLVM's own list) */
        if (known_cpu(row, row->examples[i]))
            at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", at ? ", " : "", row->examples[i]);
    return kiln_error(ctx, KILN_ERR_INVALID, "--cpu '%s': not an %s CPU LLVM knows; use native or a "
                      "name from `llc-19 -mtriple=%s -mcpu=help`, such as %s", cpu,
                      row->arch, row->arch, list);
}

/* Whether the code generator, for t's CPU, puts an fma of <lanes x float>
 * in registers whose names hold `reg` and uses an FMA instruction: which
 * of the x86-64 kernel builds (base, v3: AVX2+FMA, v4: AVX-512) the CPU
 * can run, asked of LLVM itself, so any CPU name and the host's features
 * answer the same way. */
static bool probe(const kiln_llvm_target *t, unsigned lanes, const char *reg)
{
    LLVMContextRef c = LLVMContextCreate();
    LLVMModuleRef m = LLVMModuleCreateWithNameInContext("kiln-probe", c);
    LLVMTypeRef v = LLVMVectorType(LLVMFloatTypeInContext(c), lanes);
    LLVMTypeRef ps[3] = {v, v, v};
    LLVMSetTarget(m, t->triple);
    LLVMValueRef f = LLVMAddFunction(m, "probe", LLVMFunctionType(v, ps, 3, 0));
    LLVMAddTargetDependentFunctionAttr(f, "target-cpu", t->cpu);
    if (t->features[0])
        LLVMAddTargetDependentFunctionAttr(f, "target-features", t->features);
    LLVMAddTargetDependentFunctionAttr(f, "prefer-vector-width", "512");
    LLVMAddTargetDependentFunctionAttr(f, "min-legal-vector-width", "512");
    LLVMBuilderRef b = LLVMCreateBuilderInContext(c);
    LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(c, f, "entry"));
    LLVMValueRef fma = LLVMGetIntrinsicDeclaration(m, LLVMLookupIntrinsicID("llvm.fma", 8), &v, 1);
    LLVMValueRef args[3] = {LLVMGetParam(f, 0), LLVMGetParam(f, 1), LLVMGetParam(f, 2)};
    LLVMBuildRet(b, LLVMBuildCall2(b, LLVMGlobalGetValueType(fma), fma, args, 3, ""));
    LLVMDisposeBuilder(b);
    char *err = NULL;
    LLVMMemoryBufferRef buf = NULL;
    bool yes = false;
    if (!LLVMTargetMachineEmitToMemoryBuffer(t->tm, m, LLVMAssemblyFile, &err, &buf)) {
        size_t n = LLVMGetBufferSize(buf);
        char *text = malloc(n + 1);
        memcpy(text, LLVMGetBufferStart(buf), n);
        text[n] = 0;
        yes = strstr(text, reg) && strstr(text, "vfmadd");
        free(text);
        LLVMDisposeMemoryBuffer(buf);
    }
    LLVMDisposeMessage(err);
    LLVMDisposeModule(m);
    LLVMContextDispose(c);
    return yes;
}

kiln_status kiln_llvm_target_open(kiln_ctx *ctx, const kiln_llvm_opts *opts, kiln_llvm_target *t)
{
    char *host = NULL, *err = NULL;
    LLVMTargetRef target;
    memset(t, 0, sizeof *t);
    init_llvm();
    const arch_row *row = target_row(ctx, opts->target, t->triple, sizeof t->triple);
    if (!row)
        return KILN_ERR_INVALID;
    if (row->bc == row->bc_end)
        return kiln_error(ctx, KILN_ERR_UNSUPPORTED, "--target %s: this kiln was built without "
                          "%s kernels: %s", opts->target ? opts->target : row->arch, row->arch,
                          row->no_kernels_hint);
    snprintf(t->arch, sizeof t->arch, "%s", row->arch);
    host = LLVMGetDefaultTargetTriple();
    t->host = strncmp(host, row->arch, strlen(row->arch)) == 0 && host[strlen(row->arch)] == '-';
    LLVMDisposeMessage(host);
    bool native = !opts->cpu || strcmp(opts->cpu, "native") == 0;
    if (!native && !known_cpu(row, opts->cpu))
        return unknown_cpu(ctx, row, opts->cpu);
    if (native && t->host) {
        char *name = LLVMGetHostCPUName(), *features = LLVMGetHostCPUFeatures();
        t->cpu = strdup(name), t->features = strdup(features);
        LLVMDisposeMessage(name), LLVMDisposeMessage(features);
    } else {
        t->cpu = strdup(native ? row->cross_cpu : opts->cpu);
        t->features = strdup("");
    }
    if (LLVMGetTargetFromTriple(t->triple, &target, &err)) {
        kiln_status st = kiln_error(ctx, KILN_ERR_INVALID, "--target '%s': %s", t->triple, err);
        LLVMDisposeMessage(err);
        return st;
    }
    LLVMCodeGenOptLevel level = opts->opt_level >= 3 ? LLVMCodeGenLevelAggressive
                              : opts->opt_level == 0 ? LLVMCodeGenLevelNone : LLVMCodeGenLevelDefault;
    t->tm = LLVMCreateTargetMachine(target, t->triple, t->cpu, t->features, level, LLVMRelocPIC,
                                    LLVMCodeModelDefault);
    if (!t->tm)
        return kiln_error(ctx, KILN_ERR_INVALID, "--target '%s' --cpu '%s': LLVM cannot make a "
                          "target machine for them", t->triple, t->cpu);
    snprintf(t->build, sizeof t->build, "%s", row->arch);
    if (strcmp(row->arch, "x86_64") == 0)
        snprintf(t->build, sizeof t->build, "%s", probe(t, 16, "zmm") ? "x86_64_v4"
                                                : probe(t, 8, "ymm") ? "x86_64_v3" : "x86_64");
    return KILN_OK;
}

kiln_status kiln_llvm_gemm_kernel(kiln_ctx *ctx, const kiln_llvm_opts *opts, const char **kernel)
{
    /* each build's own micro-kernel (runtime/krt_linalg_gemm.c, compiled
     * with KRT_GEMM_NO_DISPATCH for these builds) */
    static const char *const gemm[][2] = {
        {"x86_64_v4", "avx512"}, {"x86_64_v3", "avx2"}, {"x86_64", "vec4"}, {"aarch64", "neon"},
    };
    kiln_llvm_target t;
    kiln_status st = kiln_llvm_target_open(ctx, opts, &t);
    *kernel = NULL;
    for (size_t i = 0; !st && i < sizeof gemm / sizeof gemm[0]; i++)
        if (strcmp(t.build, gemm[i][0]) == 0)
            *kernel = gemm[i][1];
    kiln_llvm_target_close(&t);
    KILN_ASSERT(st || *kernel);
    return st;
}

void kiln_llvm_target_close(kiln_llvm_target *t)
{
    if (t->tm)
        LLVMDisposeTargetMachine(t->tm);
    free(t->cpu), free(t->features);
    memset(t, 0, sizeof *t);
}

LLVMModuleRef kiln_llvm_kernels(kiln_ctx *ctx, LLVMContextRef c, const char *build)
{
    const struct kernel_build *row = NULL;
    LLVMModuleRef m = NULL;
    for (size_t i = 0; i < sizeof builds / sizeof builds[0]; i++)
        if (strcmp(builds[i].name, build) == 0)
            row = &builds[i];
    KILN_ASSERT(row && row->bc != row->bc_end);
    /* (the module owns the buffer, a view of the embedded bytes, from here) */
    LLVMMemoryBufferRef buf = LLVMCreateMemoryBufferWithMemoryRange(
        row->bc, (size_t)(row->bc_end - row->bc), "kiln-kernels", 0);
    if (LLVMGetBitcodeModuleInContext2(c, buf, &m)) {
        m = NULL;
        kiln_error(ctx, KILN_ERR_UNSUPPORTED, "internal error: the embedded %s kernel bitcode does "
                   "not parse: rebuild kiln", build);
    }
    return m;
}

LLVMValueRef kiln_llvm_kernel_decl(LLVMModuleRef m, LLVMModuleRef kernels, const char *sym)
{
    LLVMValueRef have = LLVMGetNamedFunction(m, sym);
    have = have ? have : LLVMGetNamedGlobal(m, sym);
    if (have)
        return have;
    LLVMValueRef f = LLVMGetNamedFunction(kernels, sym), v = f ? NULL : LLVMGetNamedGlobal(kernels, sym);
    LLVMValueRef def = f ? f : v;
    if (!def || LLVMIsDeclaration(def) || LLVMGetLinkage(def) == LLVMInternalLinkage ||
        LLVMGetLinkage(def) == LLVMPrivateLinkage)
        return NULL;
    if (f)
        return LLVMAddFunction(m, sym, LLVMGlobalGetValueType(f));
    v = LLVMAddGlobal(m, LLVMGlobalGetValueType(def), sym);
    LLVMSetGlobalConstant(v, LLVMIsGlobalConstant(def));
    return v;
}
