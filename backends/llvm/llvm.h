/* llvm.h — the LLVM backend: a model as native code through the LLVM 19
 * C API (docs/llvm-backend.md).
 *
 * The graph is lowered exactly as the C backend lowers it (ir/lower.h:
 * kernel id, descriptor bytes, operand values, scratch, units) and placed
 * by the same memory plan (passes/plan.h). One module per
 * compile, in its own LLVMContext, holds:
 *
 *   NAME_info            the kiln_model_info of runtime/kiln_model.h
 *   NAME_workspace_size  the plan's peak
 *   NAME_profile         every node's name, op and FLOPs (ir/flops.h)
 *   NAME_run_profiled    NAME_run with each node's time written to an array
 *   NAME_run             the C backend's NAME_run, call for call: the
 *                        argument checks, then one kernel call per lowered
 *                        call with the whole unit range on one thread (or
 *                        split over the bound pool with --threads N),
 *                        operands at the same places, output copies last
 *   NAME_set_pool        with --threads N, and NAME_max_threads
 *   descriptors          private constants, byte for byte the lowering's
 *   weights              private constants in .rodata, 64-byte aligned,
 *                        built from the tensor's bytes (no text on the way)
 *   the kernels          the runtime compiled to bitcode at kiln's build
 *                        (embedded per triple), linked in, internalized so
 *                        that only the NAME_ symbols stay global
 *
 * Every function gets the target-cpu/target-features of --cpu, then the
 * module runs the new pass manager's default<On> pipeline and the target
 * machine emits it. lib and exe link the object with the system C driver.
 * Output is deterministic and written atomically (temporary + rename).
 */
#ifndef KILN_BACKEND_LLVM_H
#define KILN_BACKEND_LLVM_H

#include "ir/ir.h"
#include "passes/plan.h"

typedef enum kiln_llvm_emit {
    KILN_LLVM_EMIT_LL,         /* textual IR after optimization (.ll) */
    KILN_LLVM_EMIT_BC,         /* bitcode after optimization (.bc) */
    KILN_LLVM_EMIT_ASM,        /* assembly (.s) */
    KILN_LLVM_EMIT_OBJ,        /* relocatable object, PIC (.o) */
    KILN_LLVM_EMIT_LIB,        /* shared library (.so) */
    KILN_LLVM_EMIT_EXE,        /* executable with the C backend's testbench main */
} kiln_llvm_emit;

typedef struct kiln_llvm_opts {
    const char *name;          /* symbol prefix: a C identifier */
    const char *model_path;    /* for messages; NULL: g->source */
    const char *target;        /* NULL: the host; "x86_64", "aarch64" or a triple */
    const char *cpu;           /* NULL or "native": the host's (or generic when cross); a CPU name */
    int opt_level;             /* LLVM pipeline level 0..3 */
    kiln_llvm_emit emit;
    const char *cc;            /* lib/exe: the C driver; NULL: $CC, else cc / aarch64-linux-gnu-gcc */
} kiln_llvm_opts;

typedef struct kiln_llvm_stats {
    uint32_t n_nodes, n_calls, n_weights;
    size_t weight_bytes;
    char triple[64];
    char cpu[64];
    char kernels[16];          /* the kernel build linked: x86_64, x86_64_v3, x86_64_v4, aarch64 */
    double t_ir, t_opt, t_codegen, t_link;   /* seconds */
} kiln_llvm_stats;

/* The GEMM kernel the kernels built for opts->target and opts->cpu run
 * (their build has no run-time dispatch): "avx512", "avx2", "vec4" or
 * "neon", for the pack-weights pass (--pack-for). Errors as
 * kiln_llvm_compile's for --target and --cpu. */
kiln_status kiln_llvm_gemm_kernel(kiln_ctx *ctx, const kiln_llvm_opts *opts, const char **kernel);

/* Compile g with plan to the file `out`. With plan->threads N > 1 (the
 * plan's scratch for N threads), NAME_run splits every kernel call over the
 * pool bound with NAME_set_pool, as the C backend's --threads N code does
 * (docs/c-backend.md), and NAME_max_threads returns N; a lib or exe also
 * exports krt_pool_create/_destroy/_threads.
 * Errors (with a message in ctx): KILN_ERR_INVALID for an unknown --target
 * or --cpu (naming the accepted values); KILN_ERR_UNSUPPORTED naming a node
 * with a run-time shape or no lowering, a target kiln has no kernels for,
 * or ("internal error") a module LLVM's verifier rejects, naming the
 * function; KILN_ERR_RUNTIME when the C driver fails; KILN_ERR_IO naming
 * the path. Nothing is left at `out` on failure. stats may be NULL. */
kiln_status kiln_llvm_compile(kiln_ctx *ctx, const kiln_graph *g, const kiln_plan *plan,
                              const kiln_llvm_opts *opts, const char *out,
                              kiln_llvm_stats *stats /* OUT */);

/* `kiln run --backend llvm`: g compiled in memory for this machine (ORC
 * LLJIT; opts->target must be NULL, opts->emit is ignored), with no file
 * written. The entry points are the ABI's (runtime/kiln_model.h); they
 * live until kiln_llvm_jit_destroy. Statuses as kiln_llvm_compile, and
 * KILN_ERR_UNSUPPORTED for a JIT failure. */
typedef struct kiln_llvm_jit kiln_llvm_jit;
typedef struct kiln_llvm_jit_model {
    const void *info;                                        /* const kiln_model_info * */
    int (*run)(const void *const *inputs, void *const *outputs, void *workspace);
    size_t (*workspace_size)(void);
    const void *profile;                                     /* const kiln_model_profile * */
    int (*run_profiled)(const void *const *inputs, void *const *outputs, void *workspace,
                        uint64_t *ns);
    kiln_llvm_jit *jit;
} kiln_llvm_jit_model;

kiln_status kiln_llvm_jit_create(kiln_ctx *ctx, const kiln_graph *g, const kiln_plan *plan,
                                 const kiln_llvm_opts *opts, kiln_llvm_jit_model *out,
                                 kiln_llvm_stats *stats /* OUT, may be NULL */);
void kiln_llvm_jit_destroy(kiln_llvm_jit_model *m);

/* With plan->threads > 1: NAME_set_pool, NAME_max_threads, krt_pool_create
 * or krt_pool_destroy of the compiled module (sym is the full name); NULL
 * for any other name or a one-thread model. */
void (*kiln_llvm_jit_symbol(const kiln_llvm_jit_model *m, const char *sym))(void);

#endif /* KILN_BACKEND_LLVM_H */
