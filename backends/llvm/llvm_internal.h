/* llvm_internal.h — what the LLVM backend's files share. Not public. */
#ifndef KILN_LLVM_INTERNAL_H
#define KILN_LLVM_INTERNAL_H

#include "backends/llvm/llvm.h"

#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>

/* The resolved target: triple, CPU and features, and its machine. */
typedef struct kiln_llvm_target {
    char triple[64];
    char arch[16];                 /* "x86_64" or "aarch64" */
    char build[16];                /* the kernel bitcode the CPU runs: x86_64, x86_64_v3, x86_64_v4, aarch64 */
    char *cpu, *features;          /* malloc'd */
    bool host;                     /* the triple's arch is this machine's */
    LLVMTargetMachineRef tm;
} kiln_llvm_target;

/* Resolve opts->target and opts->cpu and create the target machine (PIC,
 * aggressive codegen for opt_level 3). Statuses as kiln_llvm_compile.
 * The first call also installs kiln's handler for LLVM's fatal errors:
 * "kiln: MODEL: internal error in LLVM: REASON ..." on stderr and exit 1,
 * never LLVM's abort. */
kiln_status kiln_llvm_target_open(kiln_ctx *ctx, const kiln_llvm_opts *opts, kiln_llvm_target *t);
void kiln_llvm_target_close(kiln_llvm_target *t);

/* The model a fatal LLVM error names (set by kiln_llvm_build; "" or NULL: none). */
void kiln_llvm_fatal_context(const char *model);

/* The kernel bitcode embedded as `build` (kiln_llvm_target.build), loaded
 * lazily into a new module of c: the module-level part (globals, their
 * initializers, function signatures) now, a function's body only when the
 * linker takes it (llvm_compile.c). NULL with a message when kiln was
 * built without it. */
LLVMModuleRef kiln_llvm_kernels(kiln_ctx *ctx, LLVMContextRef c, const char *build);

/* The kernel bitcode's public symbol `sym` as a declaration in m (added
 * once, with the bitcode's type), for the linker to resolve: only what m
 * declares is linked, with what it calls. NULL when the bitcode has no
 * such definition. */
LLVMValueRef kiln_llvm_kernel_decl(LLVMModuleRef m, LLVMModuleRef kernels, const char *sym);

/* Emit NAME_info, NAME_workspace_size, NAME_run, the descriptors and the
 * weights into m, declaring what they call from `kernels` (the lazily
 * loaded bitcode, linked into m afterwards). */
kiln_status kiln_llvm_model(kiln_ctx *ctx, const kiln_graph *g, const kiln_plan *plan,
                            const kiln_llvm_opts *opts, LLVMModuleRef m, LLVMModuleRef kernels,
                            kiln_llvm_stats *stats);

/* The optimized module of g for target t in context c (the kernels linked,
 * internalized, specialized, the CPU set, verified, default<On>): *out, or
 * NULL on error. Fills the triple/cpu/kernels/counts/times of s. */
kiln_status kiln_llvm_build(kiln_ctx *ctx, const kiln_graph *g, const kiln_plan *plan,
                            const kiln_llvm_opts *opts, const kiln_llvm_target *t, LLVMContextRef c,
                            LLVMModuleRef *out, kiln_llvm_stats *s);

/* LLVMVerifyModule on m: KILN_OK, or KILN_ERR_UNSUPPORTED with one
 * message naming the first function the verifier rejects ("internal
 * error: ... 'f' <stage>: <LLVM's first line>"); never an abort. */
kiln_status kiln_llvm_verify(kiln_ctx *ctx, LLVMModuleRef m, const char *stage);

/* kiln.FusedElementwise's program d as an internal function `sym` of m,
 * void (ptr ops, i64 begin, i64 end, i32 thread) over units [begin, end)
 * of *units (krt_pool_for's chunk function), one loop over the vector
 * width of the kernel bitcode `kernels` (llvm_fused.c); NULL when that
 * bitcode has no vector math blocks (the caller then calls the generic
 * kernel). */
struct krt_fused_ew_desc;
LLVMValueRef kiln_llvm_fused_ew_fn(LLVMModuleRef m, LLVMModuleRef kernels,
                                   const struct krt_fused_ew_desc *d, const char *sym,
                                   int64_t *units);

/* CPU names per arch, NULL-terminated (generated llvm_cpus.c). */
extern const char *const kiln_llvm_cpus_x86_64[];
extern const char *const kiln_llvm_cpus_aarch64[];

#endif /* KILN_LLVM_INTERNAL_H */
