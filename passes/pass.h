/* pass.h — the pass manager: the pass table, pipelines, and the contract
 * every pass (passes/<name>.c, one file and one entry point each) follows.
 *
 * A pass takes a verified, dense graph and leaves a verified graph: it
 * edits through the API of ir/edit.h, records what it changed in pc->changes
 * (for --time-passes and the compile summary), and returns a status; a
 * user problem it finds is an error naming the node (ir.h, tier 1).
 *
 * A pipeline is a comma-separated list of pass names ("fold,dce,cse").
 * -O0..-O3 expand to the lists written once, in kiln_pipeline_for_level.
 * The manager compacts the graph before the first pass and after every
 * pass that changed something; after every pass, in debug builds and
 * whenever opts->verify is set (the tests set it), kiln_graph_verify and
 * kiln_graph_check_dense run and a failure names the pass.
 */
#ifndef KILN_PASS_H
#define KILN_PASS_H

#include "ir/ir.h"

#include <stdio.h>

struct kiln_token_options;   /* passes/token_plan.h */

/* Options the passes read; zero-initialised means the defaults. */
typedef struct kiln_pass_options {
    int64_t fold_max_bytes;   /* largest constant `fold` creates; 0: KILN_FOLD_MAX_BYTES */
    int threads;              /* threads the executor will use (memory plan scratch); 0: 1 */
    const struct kiln_token_options *tokens; /* token reduction (attention-share, token-pool,
                                                token-prune, token-merge); NULL: none */
    const char *pack_for;     /* pack-weights: the GEMM kernel whose layout constant B is
                                 packed in ("avx512", "avx2", "neon", "vec4", "scalar"; "none":
                                 no packing); NULL: the one krt_sgemm picks on this CPU */
} kiln_pass_options;

/* Default cap on one folded constant: big enough for any shape tensor or
 * weight transform, small enough that ConstantOfShape/Expand/Tile of a
 * constant cannot blow up memory or the output file. */
#define KILN_FOLD_MAX_BYTES ((int64_t)16 << 20)

typedef struct kiln_pass_ctx {
    kiln_ctx *ctx;
    const kiln_pass_options *opts;
    uint32_t changes;         /* what the pass rewrote (nodes removed, folded...) */
    void *result;             /* a pass's product for the caller (the memory plan) */
    void (*result_free)(void *result);  /* how to free it when the caller does not take it */
    FILE *remarks;            /* where kiln_pass_remark writes; NULL: remarks are off */
    const char *pass;         /* the running pass's name, for remarks */
} kiln_pass_ctx;

/* A remark (--remarks): one line saying why the running pass left node
 * `node` as it is, "remark: <pass>: <source>: node 'name' (Op): <message>",
 * written to pc->remarks; nothing when remarks are off. Informational: it
 * never changes what the pass does. */
void kiln_pass_remark(kiln_pass_ctx *pc, const kiln_graph *g, uint32_t node, const char *fmt, ...)
    KILN_PRINTF(4, 5);

typedef kiln_status (*kiln_pass_fn)(kiln_pass_ctx *pc, kiln_graph *g);

typedef struct kiln_pass_info {
    const char *name;         /* kebab-case, as in a pipeline string */
    const char *summary;      /* one line for `kiln passes` */
    kiln_pass_fn run;
} kiln_pass_info;

/* The entry points, one per passes/<name>.c (rows of passes/passes.def). */
#define KILN_PASS(fn, name, summary) kiln_status kiln_pass_##fn(kiln_pass_ctx *pc, kiln_graph *g);
#include "passes/passes.def"
#undef KILN_PASS

/* The pass table (passes/pipeline.c), ending with a {NULL} row. */
extern const kiln_pass_info kiln_passes[];
const kiln_pass_info *kiln_pass_find(const char *name); /* NULL if unknown */

/* The pipeline string -O<level> stands for (level 0..3). */
const char *kiln_pipeline_for_level(int level);
#define KILN_DEFAULT_OPT_LEVEL 2

/* A parsed pipeline: pass table rows in order. */
#define KILN_PIPELINE_MAX 64
typedef struct kiln_pipeline {
    const kiln_pass_info *pass[KILN_PIPELINE_MAX];
    uint32_t n;
} kiln_pipeline;

/* Parse "a,b,c"; KILN_ERR_INVALID naming an unknown pass and listing the
 * known ones. The empty string is the empty pipeline. */
kiln_status kiln_pipeline_parse(kiln_ctx *ctx, const char *text, kiln_pipeline *out /* OUT */);

/* How to run a pipeline: what to print on the way (all optional). */
typedef struct kiln_pipeline_run_opts {
    const kiln_pass_options *pass;  /* NULL: defaults */
    const char *print_after;        /* pass name or "all": text IR after it to `trace` */
    bool time_passes;               /* a table of time and changes per pass to `trace` */
    bool remarks;                   /* passes' remarks (why a node was left alone) to `trace` */
    bool verify;                    /* kiln_graph_verify after each pass (always in debug builds) */
    const char *stop_after;         /* stop after the first run of this pass (dump --after) */
    FILE *trace;                    /* where print_after and time_passes go; NULL: stderr */
    void **plan;                    /* OUT: the memory plan when plan-memory ran (caller frees
                                       with kiln_plan_destroy; a later run replaces and frees an
                                       earlier one; *plan must start NULL); NULL: discarded */
} kiln_pipeline_run_opts;

/* Run the passes in order on g. A failing pass's error is kept in ctx; a
 * verifier failure after a pass is KILN_ERR_INVALID "... after pass 'X'". */
kiln_status kiln_pipeline_run(kiln_ctx *ctx, kiln_graph *g, const kiln_pipeline *p,
                              const kiln_pipeline_run_opts *opts);

#endif /* KILN_PASS_H */
