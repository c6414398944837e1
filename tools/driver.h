/* driver.h — what the kiln subcommands share: loading a model the way the
 * user asked (ONNX or text IR, --shape bindings), printing errors, and
 * exit codes (0 success, 1 user error, 2 usage error). Only the driver
 * prints and exits; everything below it returns statuses. */
#ifndef KILN_DRIVER_H
#define KILN_DRIVER_H

#include "ir/ir.h"
#include "passes/token_common.h"

#include <stdio.h>

enum { EXIT_OK = 0, EXIT_USER = 1, EXIT_USAGE = 2 };

/* What the token-reduction passes did, for the compile summary and
 * `kiln info`: the census (MACs per image, tokens entering each block's
 * attention) before and after them. */
typedef struct driver_token_report {
    bool taken;               /* token options were given and the passes ran */
    kiln_token_census before, after;
} driver_token_report;

/* Options every command that reads a model accepts (the "graph options"). */
typedef struct driver_model_opts {
    const char *shapes[64];   /* "--shape NAME=D0xD1x..." arguments */
    int n_shapes;
    const char *passes;       /* --passes PIPELINE; NULL: the -O level's */
    int opt_level;            /* -O0..-O3; -1: not given (KILN_DEFAULT_OPT_LEVEL) */
    const char *print_after;  /* --print-ir-after PASS|all */
    bool time_passes;         /* --time-passes */
    bool remarks;             /* --remarks: why passes left nodes alone, on stderr */
    const char *pack_for;     /* --pack-for KERNEL (pack-weights); NULL or "host": this CPU's */
    const char *stop_after;   /* stop the pipeline after this pass (dump --after) */
    kiln_token_options tokens;/* --token-prune, --token-pool, --token-merge,
                                 --attention-share, --no-proportional-attention */
    driver_token_report *report; /* OUT, optional: filled by driver_load_model */
} driver_model_opts;

/* The defaults: no shapes, the default -O level. */
#define DRIVER_MODEL_OPTS_INIT {.opt_level = -1}

/* "token reduction  MACs per image A -> B (x%)" and the tokens entering
 * each block's attention, before -> after, each line starting with
 * `indent`; nothing when the token passes did not run. */
void driver_token_summary(FILE *out, const driver_token_report *r, const char *indent);
/* 45742208 -> "45,742,208" into buf. */
const char *driver_grouped(double x, char *buf, size_t size);

/* Print the graph options' help lines (for each command's --help). */
void driver_model_help(FILE *out);

/* The pipeline the options select, as a string: --passes or the -O
 * level's, with the token passes after fuse-attention when a token
 * option is given (and the pipeline does not name them itself). */
const char *driver_pipeline_text(const driver_model_opts *opts, char *buf, size_t size);

/* Load MODEL (ONNX file or kiln text IR, told apart by content), bind
 * --shape arguments, run shape inference, then the pass pipeline the
 * options ask for (-O2 by default). On failure prints the message and
 * returns EXIT_USER (or EXIT_USAGE for a malformed --shape or pipeline). */
int driver_load_model(kiln_ctx *ctx, const char *path, const driver_model_opts *opts,
                      kiln_graph **out);

/* If argv[*i] is a graph option (--shape, --passes, -O<n>,
 * --print-ir-after, --time-passes, --remarks; "--opt X" and "--opt=X" forms), consume
 * it (and its argument) and return 1; return -1 (after printing) on a
 * malformed one, 0 if it is not a graph option. */
int driver_model_option(int argc, char **argv, int *i, driver_model_opts *opts);

/* Print "kiln: <message>" for the context's error; returns EXIT_USER. */
int driver_fail(kiln_ctx *ctx);
/* Print "kiln <cmd>: <message>" plus a hint to use --help; returns EXIT_USAGE. */
int driver_usage_error(const char *cmd, const char *fmt, ...) KILN_PRINTF(2, 3);

/* Write `size` bytes to path atomically (temporary name, then rename);
 * "-" writes to stdout. KILN_ERR_IO with the path on failure. */
kiln_status driver_write_file(kiln_ctx *ctx, const char *path, const void *data, size_t size);

/* A private temporary directory (tools/tmpdir.c): created under $TMPDIR
 * (else /tmp) as PREFIX_XXXXXX, and removed with everything in it however
 * kiln ends, killed by a signal included (a cleaner process waits for kiln
 * to go away). driver_tmpdir_remove removes it now and reaps the cleaner. */
typedef struct driver_tmpdir {
    char path[4096];
    int guard;     /* the pipe's write end: its closing starts the cleaner */
    int cleaner;   /* the cleaner's pid; -1 when none */
} driver_tmpdir;

kiln_status driver_tmpdir_create(kiln_ctx *ctx, const char *prefix, driver_tmpdir *t /* OUT */);
void driver_tmpdir_remove(driver_tmpdir *t);

/* `kiln compile --emit lib --quiet [--threads N]` of a loaded and optimized
 * graph, for `kiln run --backend c` (tools/cmd_compile.c): the sources are
 * generated and built in workdir/build (removed after), the library
 * written to out with the C prefix name; threads <= 1: no pool. */
kiln_status driver_compile_c_library(kiln_ctx *ctx, const kiln_graph *g, const char *model_path,
                                     const char *name, int threads, const char *workdir,
                                     const char *out);

/* Subcommands: each parses its own arguments (argv[0] is the command name). */
int cmd_info(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_passes(int argc, char **argv);
int cmd_compile(int argc, char **argv);
int cmd_tune(int argc, char **argv);

#endif
