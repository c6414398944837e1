/* cgen.h — the C backend: a model as a directory of standalone C sources.
 *
 * kiln_cgen_emit writes, for a graph whose shapes are all static and its
 * memory plan (passes/plan.h, planned for opts->threads threads):
 *
 *   NAME.h          the ABI of DESIGN.md ("The generated C ABI"): includes
 *                   only kiln_model.h
 *   NAME.c          NAME_info, NAME_workspace_size, NAME_run: one kernel
 *                   call per lowered call, in node order, descriptors as
 *                   byte-exact constants, operands at arena offsets
 *   NAME_weights.c  the constants, as 64-byte aligned static data; with
 *                   weights_file instead NAME.weights, a binary file NAME.c
 *                   loads at run time (NAME_load_weights, cgen_weights.c)
 *   main.c          (testbench only) an executable: -i [NAME=]FILE.npy,
 *                   -o DIR, --bench N
 *   krt_*.c, *.h    the runtime files the used kernels need, kiln_model.h
 *   Makefile        `make` builds NAME.o and the runtime into libNAME.a
 *                   (and the executable with the testbench)
 *
 * The directory builds alone with `cc -std=c11 -O2 *.c -lm -lpthread`
 * (C11 because the runtime is C11). Output is deterministic: the same
 * graph gives byte-identical files. It is written atomically: built under
 * a temporary name beside `dir` and renamed into place; on failure nothing
 * is left. An existing `dir` is replaced only when it looks like an
 * earlier output of kiln (it holds a `.kiln-cgen` marker).
 */
#ifndef KILN_CGEN_H
#define KILN_CGEN_H

#include "ir/ir.h"
#include "passes/plan.h"
#include "runtime/krt_kernel.h"

typedef struct kiln_cgen_opts {
    const char *name;          /* C prefix: a C identifier (kiln_cgen_c_name makes one) */
    const char *model_path;    /* named in the header comments; NULL: g->source */
    bool testbench;            /* also emit main.c (the executable's entry point) */
    bool weights_file;         /* --weights file: NAME.weights and its loader, not NAME_weights.c */
    int threads;               /* --threads N (plan->threads): NAME_run splits kernel calls
                                  over a krt_pool of <= N threads bound with NAME_set_pool;
                                  <= 1: single-threaded code */
} kiln_cgen_opts;

typedef struct kiln_cgen_stats {
    uint32_t n_nodes;          /* nodes emitted */
    uint32_t n_calls;          /* kernel calls emitted */
    uint32_t n_weights;        /* constant tensors */
    size_t weight_bytes;       /* their bytes */
    size_t source_bytes;       /* bytes of generated NAME.c + NAME_weights.c + NAME_weights_hex.h + main.c */
    uint32_t n_runtime_files;  /* runtime files copied */
    size_t weights_file_bytes; /* --weights file: bytes of NAME.weights; else 0 */
} kiln_cgen_stats;

/* Emit the directory `dir` for g and plan (plan->threads must equal
 * opts->threads, or be 1 when that is <= 1).
 * Errors (statuses with a message in ctx): KILN_ERR_UNSUPPORTED naming the
 * node whose output shape is known only at run time, or whose lowering
 * fails; KILN_ERR_IO naming the path. stats may be NULL. */
kiln_status kiln_cgen_emit(kiln_ctx *ctx, const kiln_graph *g, const kiln_plan *plan,
                           const kiln_cgen_opts *opts, const char *dir,
                           kiln_cgen_stats *stats /* OUT */);

/* A C identifier made of `text` (letters, digits and '_' kept, others '_',
 * a leading digit prefixed with 'm'), at most size-1 chars; "model" when
 * nothing is left. Returns out. */
char *kiln_cgen_c_name(const char *text, char *out, size_t size);

/* The C type name of kernel k's descriptor ("krt_matmul_desc"); NULL when
 * the backend's table lacks the kernel (a unit test names such kernels). */
const char *kiln_cgen_desc_type(krt_kernel_id k);
/* sizeof the descriptor type the table names (to check it against
 * krt_kernels[k]->desc_size); 0 when missing. */
size_t kiln_cgen_desc_size(krt_kernel_id k);

/* Remove what a kiln killed in the middle (SIGKILL, power loss) left
 * beside `path`: `path.tmp<pid>...` and `path.old<pid>...` whose process
 * no longer exists. Every kiln compile calls it for its outputs first, so
 * a stray temporary lives until the next compile to the same place.
 * Returns how many were removed. */
unsigned kiln_cgen_clean_stale(const char *path);

/* rm -r of a file or directory kiln made (no symlinks followed). */
void kiln_cgen_remove_tree(const char *path);

/* Run argv (argv[0] found on PATH) and wait: its exit status, 128 + the
 * signal that ended it, 127 when it could not be started, -1 when fork or
 * wait failed. Both backends run the system C driver through this. */
int kiln_cgen_run_program(char *const argv[]);

#endif /* KILN_CGEN_H */
