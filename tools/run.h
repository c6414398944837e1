/* run.h — what the two paths of `kiln run` share.
 *
 * `kiln run MODEL.onnx` runs the graph on the reference interpreter
 * (cmd_run.c); `kiln run LIB.so` calls a compiled model through its C ABI
 * (run_lib.c). Both see the model through a run_sig — a source name for
 * messages plus the name, dtype and shape of every input and output — so
 * that binding -i arguments, reading .npy/.pb files, the messages about
 * them, writing DIR/NAME.npy all-or-nothing and the summary are written
 * once and read the same on both paths.
 */
#ifndef KILN_TOOLS_RUN_H
#define KILN_TOOLS_RUN_H

#include "runtime/kiln_model.h"
#include "tools/driver.h"

enum { RUN_MAX_INPUTS = 256, RUN_MAX_OUTPUTS = 256 };
#define RUN_MAX_BENCH 1000000000L /* --bench N */

typedef struct run_opts {
    driver_model_opts model;
    const char *model_path, *backend, *out_dir;
    const char *name;                   /* --name NAME: which model of a library */
    const char *weights;                /* --weights PATH: a --weights file library's NAME.weights */
    const char *inputs[RUN_MAX_INPUTS]; /* the -i arguments, as given */
    int n_inputs;
    long bench;         /* --bench N: time N runs */
    bool profile;       /* --profile: time every node over run_profile_runs() runs */
    long threads;       /* --threads N: split kernel calls over N threads; 0: not given */
    bool backend_given; /* --backend was on the command line */
} run_opts;

/* One graph input or output as `kiln run` sees it. */
typedef struct run_port {
    const char *name; /* the ONNX name (borrowed) */
    kiln_dtype dtype;
    kiln_shape shape; /* may hold symbols (interpreter); static for a library */
} run_port;

typedef struct run_sig {
    const char *source;  /* names the model in messages (path as given) */
    const kiln_graph *g; /* spells symbolic dims in messages; NULL: none */
    uint32_t n_inputs, n_outputs;
    const run_port *inputs;  /* [n_inputs], in graph order */
    const run_port *outputs; /* [n_outputs], in graph order */
} run_sig;

/* Bind o->inputs to the model's inputs (by position or NAME=FILE), read
 * each file (.npy or .pb) into tensors[k] (data malloc'd: the caller frees
 * it, also on failure; tensors must start zeroed), and check every input
 * is given exactly once. Dtype and shape are the executor's to check. */
kiln_status run_gather_inputs(kiln_ctx *ctx, const run_sig *sig, const run_opts *o,
                              kiln_tensor *tensors /* OUT [sig->n_inputs] */);

/* Check a gathered input against a static port, with the interpreter's
 * messages ("input 'x' must be f32, got f64", "... must have shape ..."). */
kiln_status run_check_input(kiln_ctx *ctx, const run_sig *sig, uint32_t k, const kiln_tensor *t);

/* With -o: every output has a file name of its own (after sanitizing) that
 * is not too long; checked before anything runs. */
kiln_status run_check_output_names(kiln_ctx *ctx, const run_sig *sig);

/* Write outs[k] to DIR/NAME.npy (NAME sanitized) for every output: all to
 * temporary files first, renamed into place only when all are written. */
kiln_status run_write_outputs(kiln_ctx *ctx, const run_sig *sig, const char *dir,
                              const kiln_tensor *outs);

/* Print "NAME: dtype[shape] = [v0, v1, ...]" for each output to stdout. */
void run_print_summary(const run_sig *sig, const kiln_tensor *outs);

double run_now_seconds(void); /* a monotonic clock */

/* --bench's line on stderr: "WHO: N runs, mean X ms, best Y ms". */
/* "WHO: N runs, mean X ms, best Y ms, CPU Z ms/run": cpu is the process
 * CPU time (every thread) the N runs took, seconds. */
void run_print_bench(const char *who, long n, double total, double best, double cpu);
double run_cpu_seconds(void); /* the process's CPU time, every thread */

/* --profile: how many timed runs (--bench N, else RUN_PROFILE_RUNS), after
 * the first run, which is the warm-up. */
enum { RUN_PROFILE_RUNS = 20, RUN_PROFILE_TOP = 20 };
long run_profile_runs(const run_opts *o);

/* Print the --profile table to stderr (runtime/krt_profile.h): ns is
 * runs x p->n_nodes node times, run_ns the runs' whole-call times. */
kiln_status run_print_profile(kiln_ctx *ctx, const char *title, const kiln_model_profile *p,
                              const uint64_t *ns, const uint64_t *run_ns, long runs);

/* ---- run_lib.c ------------------------------------------------------------ */

/* True if path names a shared library rather than a model: it starts with
 * the ELF magic, or its name ends in ".so" (or has ".so." in it, as in
 * libx.so.1). A file that cannot be opened is left to the model loader. */
bool run_is_library(const char *path);

/* `kiln run LIB.so`: find the kiln model in the library, check its ABI,
 * call NAME_run through libffi on the inputs, write or print the outputs.
 * Prints the message on failure; returns an exit status. */
int run_library(kiln_ctx *ctx, const run_opts *o);

/* The same for the library `file` (`kiln run MODEL --backend c` built it),
 * model `name` (NULL: the only one); messages name o->model_path. */
int run_library_file(kiln_ctx *ctx, const run_opts *o, const char *file, const char *name);

/* The same for a model compiled in this process (`kiln run --backend llvm`,
 * the JIT): its ABI entry points, called as a library's are; find(arg,
 * NAME) finds its optional ones (NAME_set_pool, krt_pool_create ...) as
 * dlsym finds a library's, NULL when it has none (find may be NULL). */
typedef void (*run_fn_ptr)(void);
typedef struct run_entry_points {
    const void *info;                 /* const kiln_model_info * */
    void (*run)(void), (*workspace_size)(void);
    const void *profile;              /* const kiln_model_profile * */
    void (*run_profiled)(void);
    run_fn_ptr (*find)(const void *arg, const char *name);
    const void *arg;                  /* find's first argument */
} run_entry_points;
int run_compiled(kiln_ctx *ctx, const run_opts *o, const char *name, const run_entry_points *ep);

#endif
