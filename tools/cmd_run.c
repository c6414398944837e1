/* cmd_run.c — `kiln run`: run a model on input files, write the outputs.
 *
 *   kiln run MODEL [--backend interp|c|llvm] [-i [NAME=]FILE]... [-o DIR]
 *            [--threads N] [--bench N] [--profile] [graph options]
 *   kiln run LIB.so [--name NAME] [-i [NAME=]FILE]... [-o DIR] [--bench N]
 *                   [--profile] [--weights PATH] [--threads T]
 *
 * Inputs are .npy (any C-order dtype) or ONNX TensorProto .pb files;
 * positional `-i FILE` binds graph inputs in order, `-i NAME=FILE` by name.
 * Every input is checked (dtype, shape, size) before anything runs, and
 * outputs are written to temporary files renamed into place only when all
 * of them are complete: a failed run leaves nothing behind.
 *
 * This file holds the option parsing, the input/output handling both
 * paths share (tools/run.h) and the interpreter path; a compiled library
 * is run by run_lib.c.
 */
#define _POSIX_C_SOURCE 200809L
#include "backends/c/cgen.h"
#include "backends/llvm/llvm.h"
#include "frontend/frontend.h"
#include "ir/interp.h"
#include "passes/pass.h"
#include "passes/plan.h"
#include "ir/flops.h"
#include "runtime/krt_npy.h"
#include "runtime/krt_profile.h"
#include "tools/run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { MAX_INPUTS = RUN_MAX_INPUTS };

static void help(void)
{
    printf("usage: kiln run MODEL [options] [graph options]\n"
           "       kiln run LIB.so [--name NAME] [-i [NAME=]FILE]... [-o DIR] [--bench N]\n"
           "                       [--profile] [--weights PATH] [--threads T]\n\n"
           "Run MODEL (.onnx or kiln text IR) on the reference interpreter, or the model\n"
           "compiled into the shared library LIB.so (by 'kiln compile', told apart by its\n"
           "ELF header or a .so name) through its C ABI, on input files and write its\n"
           "outputs.\n\n"
           "options:\n"
           "  -i FILE, -i NAME=FILE   an input: .npy (C order, any dtype the model takes) or an\n"
           "                          ONNX TensorProto .pb; without NAME, inputs bind in order\n"
           "  -o DIR                  write each output to DIR/NAME.npy (NAME = the ONNX output\n"
           "                          name, characters outside [A-Za-z0-9._-] replaced by '_');\n"
           "                          without -o, print a summary of each output\n"
           "  --backend interp|c|llvm interp: the reference interpreter (default); c: compiled\n"
           "                          by the C backend and $CC into a temporary library\n"
           "                          (removed after); llvm: compiled in memory for this\n"
           "                          CPU (LLVM JIT); c and llvm need static shapes\n"
           "                          (--shape); not for LIB.so, compiled already\n"
           "  --threads N             split each kernel over N threads; results are\n"
           "                          bit-identical for any N. MODEL: default 1; with\n"
           "                          --backend c|llvm the model is compiled with --threads N\n"
           "                          and run on N threads. LIB.so compiled with --threads N:\n"
           "                          1 to N, default N (1: no pool); else only 1\n"
           "  --weights PATH          LIB.so compiled with --weights file: its NAME.weights\n"
           "                          (default: NAME.weights in the directory of LIB.so,\n"
           "                          where kiln compile wrote it)\n"
           "  --bench N               run N more times and print the time per run (wall:\n"
           "                          mean and best; CPU: the process's, every thread)\n"
           "  --profile               run N more times (--bench N, default 20), timing every\n"
           "                          node, and print to stderr the time per op kind and the\n"
           "                          20 slowest nodes, with their share of the total, GFLOP/s\n"
           "                          and FLOPs (kiln's count: products 2 per multiply-add,\n"
           "                          elementwise ops 1 per element); every figure is the\n"
           "                          mean over the faster half of the runs, a node's time its\n"
           "                          wall time (with\n"
           "                          --threads, across the threads; the interpreter's\n"
           "                          includes its per-node shape inference and lowering)\n"
           "  --name NAME             LIB.so only: run the model NAME (the library exports\n"
           "                          NAME_info, NAME_run, NAME_workspace_size); needed only\n"
           "                          when the library holds more than one model\n"
           "  -h, --help              this help\n\n");
    driver_model_help(stdout);
    printf("(graph options apply to MODEL only: LIB.so was optimized when compiled)\n");
    printf("\nNothing is written unless the whole run succeeds.\n"
           "Exit status: 0 success, 1 error in the model or inputs, 2 usage error.\n");
}

static int parse_args(int argc, char **argv, run_opts *o)
{
    o->backend = "interp";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int m = driver_model_option(argc, argv, &i, &o->model);
        if (m < 0)
            return EXIT_USAGE;
        if (m > 0)
            continue;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            help();
            return -1;
        }
        bool has_value = i + 1 < argc;
        if (strcmp(a, "-i") == 0 && has_value) {
            if (o->n_inputs == MAX_INPUTS)
                return driver_usage_error("run", "more than %d inputs", MAX_INPUTS);
            o->inputs[o->n_inputs++] = argv[++i];
        } else if (strcmp(a, "-o") == 0 && has_value) {
            o->out_dir = argv[++i];
        } else if (strcmp(a, "--backend") == 0 && has_value) {
            o->backend = argv[++i];
            o->backend_given = true;
        } else if (strcmp(a, "--name") == 0 && has_value) {
            o->name = argv[++i];
        } else if (strcmp(a, "--weights") == 0 && has_value) {
            o->weights = argv[++i];
        } else if (strcmp(a, "--threads") == 0 && has_value) {
            char *end;
            o->threads = strtol(argv[++i], &end, 10);
            if (*end || o->threads < 1 || o->threads > 256)
                return driver_usage_error("run", "--threads takes a count from 1 to 256, not '%s'", argv[i]);
        } else if (strcmp(a, "--profile") == 0) {
            o->profile = true;
        } else if (strcmp(a, "--bench") == 0 && has_value) {
            char *end;
            errno = 0;
            o->bench = strtol(argv[++i], &end, 10);
            if (*end || errno == ERANGE || o->bench < 1 || o->bench > RUN_MAX_BENCH)
                return driver_usage_error("run", "--bench takes a count from 1 to %ld, not '%s'",
                                          (long)RUN_MAX_BENCH, argv[i]);
        } else if (a[0] == '-' && a[1]) {
            return driver_usage_error("run", "unknown option '%s'%s", a,
                                      has_value ? "" : " (or missing its argument)");
        } else if (!o->model_path) {
            o->model_path = a;
        } else {
            return driver_usage_error("run", "unexpected argument '%s' (inputs go after -i)", a);
        }
    }
    if (!o->model_path)
        return driver_usage_error("run", "no model given");
    if (strcmp(o->backend, "interp") != 0 && strcmp(o->backend, "c") != 0 &&
        strcmp(o->backend, "llvm") != 0)
        return driver_usage_error("run", "unknown backend '%s' (available: interp, c, llvm)", o->backend);
    return EXIT_OK;
}

/* ---- inputs -------------------------------------------------------------- */

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static kiln_status read_npy(kiln_ctx *ctx, const char *path, kiln_tensor *t)
{
    krt_npy a;
    char err[1024];
    if (krt_npy_read(path, &a, err, sizeof err) != KRT_OK)
        return kiln_error(ctx, KILN_ERR_INVALID, "%s", err);
    t->dtype = (kiln_dtype)a.dtype;  /* krt_dtype and kiln_dtype share krt_dtypes.def */
    t->shape = kiln_shape_make(a.rank, a.dims);
    t->data = a.data;
    t->nbytes = a.nbytes;
    return KILN_OK;
}

static kiln_status read_input(kiln_ctx *ctx, const char *path, kiln_tensor *t)
{
    if (has_suffix(path, ".npy"))
        return read_npy(ctx, path, t);
    if (has_suffix(path, ".pb"))
        return kiln_onnx_read_tensor(ctx, path, t, NULL);
    return kiln_error(ctx, KILN_ERR_INVALID, "%s: unknown input format (use .npy or .pb)", path);
}

/* Which input slot an -i argument fills, and its file. */
static int input_slot(kiln_ctx *ctx, const run_sig *sig, const char *arg, int position,
                      const char **file)
{
    const char *eq = strchr(arg, '=');
    *file = arg;
    if (!eq || eq == arg) {
        if (position >= (int)sig->n_inputs)
            return kiln_error(ctx, KILN_ERR_INVALID, "%s: the model takes %u inputs; '-i %s' is one too many",
                              sig->source, sig->n_inputs, arg), -1;
        return position;
    }
    *file = eq + 1;
    for (uint32_t k = 0; k < sig->n_inputs; k++) {
        const char *name = sig->inputs[k].name;
        if (strlen(name) == (size_t)(eq - arg) && strncmp(name, arg, (size_t)(eq - arg)) == 0)
            return (int)k;
    }
    kiln_error(ctx, KILN_ERR_INVALID, "%s: the model has no input named '%.*s'", sig->source,
               (int)(eq - arg), arg);
    return -1;
}

kiln_status run_gather_inputs(kiln_ctx *ctx, const run_sig *sig, const run_opts *o,
                              kiln_tensor *tensors)
{
    bool given[MAX_INPUTS] = {0};
    int position = 0;
    KILN_ASSERT(sig->n_inputs <= MAX_INPUTS);
    for (int i = 0; i < o->n_inputs; i++) {
        const char *file;
        int k = input_slot(ctx, sig, o->inputs[i], position, &file);
        if (k < 0)
            return KILN_ERR_INVALID;
        if (given[k])
            return kiln_error(ctx, KILN_ERR_INVALID, "%s: input '%s' is given twice (-i %s)",
                              sig->source, sig->inputs[k].name, o->inputs[i]);
        kiln_status st = read_input(ctx, file, &tensors[k]);
        if (st) {
            char why[2048];
            snprintf(why, sizeof why, "%s", kiln_ctx_message(ctx));
            return kiln_error(ctx, st, "%s: input '%s': %s", sig->source, sig->inputs[k].name, why);
        }
        given[k] = true;
        if (!strchr(o->inputs[i], '=') || strchr(o->inputs[i], '=') == o->inputs[i])
            position++;
    }
    for (uint32_t k = 0; k < sig->n_inputs; k++)
        if (!given[k]) {
            char shape[256];
            const run_port *p = &sig->inputs[k];
            return kiln_error(ctx, KILN_ERR_INVALID,
                              "%s: input '%s' (%s%s) is missing: add -i %s=FILE.npy", sig->source,
                              p->name, kiln_dtype_name(p->dtype),
                              kiln_shape_format(sig->g, &p->shape, shape, sizeof shape), p->name);
        }
    return KILN_OK;
}

/* The interpreter checks its inputs itself (ir/interp.c, with symbolic
 * dimensions); this is the same check, with the same messages, for the
 * static ports of a compiled library. */
kiln_status run_check_input(kiln_ctx *ctx, const run_sig *sig, uint32_t k, const kiln_tensor *t)
{
    const run_port *p = &sig->inputs[k];
    char want[256], got[256];
    int64_t numel;
    if (p->dtype != t->dtype)
        return kiln_error(ctx, KILN_ERR_INVALID, "%s: input '%s' must be %s, got %s", sig->source,
                          p->name, kiln_dtype_name(p->dtype), kiln_dtype_name(t->dtype));
    if (!kiln_shape_equal(&p->shape, &t->shape))
        return kiln_error(ctx, KILN_ERR_INVALID, "%s: input '%s' must have shape %s, got %s",
                          sig->source, p->name, kiln_shape_format(sig->g, &p->shape, want, sizeof want),
                          kiln_shape_format(sig->g, &t->shape, got, sizeof got));
    if (!kiln_shape_numel(&t->shape, &numel) ||
        (uint64_t)numel * kiln_dtype_size(t->dtype) != t->nbytes)
        return kiln_error(ctx, KILN_ERR_INVALID, "%s: input '%s': %zu bytes of data for shape %s",
                          sig->source, p->name, t->nbytes,
                          kiln_shape_format(sig->g, &t->shape, got, sizeof got));
    return KILN_OK;
}

/* ---- outputs -------------------------------------------------------------- */

/* The output file name for an ONNX output name. */
static void sanitize(const char *name, char *out, size_t size)
{
    size_t n = 0;
    for (; name[n] && n + 1 < size; n++) {
        char c = name[n];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        out[n] = ok ? c : '_';
    }
    out[n] = 0;
    if (n == 0 || strcmp(out, ".") == 0 || strcmp(out, "..") == 0)
        snprintf(out, size, "output");
}

/* -o DIR: created if missing (with its parents), and a directory. Messages
 * name DIR as the user gave it. */
static kiln_status make_dir(kiln_ctx *ctx, const char *dir)
{
    char path[4096];
    struct stat sb;
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return kiln_error(ctx, KILN_ERR_IO, "-o %.64s...: the path is too long", dir);
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(path, 0777) != 0 && errno != EEXIST)
                return kiln_error(ctx, KILN_ERR_IO, "-o %s: cannot create '%s': %s", dir, path, strerror(errno));
            *p = '/';
        }
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        return kiln_error(ctx, KILN_ERR_IO, "-o %s: cannot create the directory: %s", dir, strerror(errno));
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return kiln_error(ctx, KILN_ERR_IO, "-o %s: not a directory (-o names the directory the outputs go to)",
                          dir);
    return KILN_OK;
}

/* Longest file name most file systems take (NAME_MAX on Linux). */
enum { FILE_NAME_MAX = 255 };

/* Every output gets a file name of its own, short enough, before anything
 * is run or written: two outputs that sanitize alike ('a/b', 'a_b', or an
 * output listed twice) would otherwise overwrite each other. */
kiln_status run_check_output_names(kiln_ctx *ctx, const run_sig *sig)
{
    static char names[RUN_MAX_OUTPUTS][FILE_NAME_MAX + 16];
    char shown[2][300];
    for (uint32_t k = 0; k < sig->n_outputs && k < RUN_MAX_OUTPUTS; k++) {
        const char *name = sig->outputs[k].name;
        sanitize(name, names[k], sizeof names[k]);
        if (strlen(name) + 4 > FILE_NAME_MAX)
            return kiln_error(ctx, KILN_ERR_INVALID,
                              "%s: output '%s' has a %zu-byte name, too long for a file name with "
                              "'.npy' (at most %d bytes); run without -o, or rename the output",
                              sig->source, kiln_escape(name, shown[0], 64), strlen(name),
                              FILE_NAME_MAX - 4);
        for (uint32_t j = 0; j < k; j++)
            if (strcmp(names[j], names[k]) == 0)
                return kiln_error(ctx, KILN_ERR_INVALID,
                                  "%s: outputs %u ('%s') and %u ('%s') would both be written to %s.npy; "
                                  "rename one of them, or run without -o",
                                  sig->source, j, kiln_escape(sig->outputs[j].name, shown[0], sizeof shown[0]),
                                  k, kiln_escape(name, shown[1], sizeof shown[1]), names[k]);
    }
    return KILN_OK;
}

static void output_paths(const run_sig *sig, const char *dir, uint32_t k, char *final,
                         char *tmp, size_t size)
{
    char name[FILE_NAME_MAX + 16];
    sanitize(sig->outputs[k].name, name, sizeof name);
    snprintf(final, size, "%s/%s.npy", dir, name);
    /* short and fixed: a long output name must not make the temporary fail */
    snprintf(tmp, size, "%s/.kiln-%ld-%u.tmp", dir, (long)getpid(), k);
}

/* All outputs to temporary files first, then renamed: all or nothing.
 * Messages name the output's file, never the temporary one. */
kiln_status run_write_outputs(kiln_ctx *ctx, const run_sig *sig, const char *dir,
                              const kiln_tensor *outs)
{
    char final[4400], tmp[4400], err[1024];
    kiln_status st = run_check_output_names(ctx, sig);
    if (st == KILN_OK && strlen(dir) > 4096)
        st = kiln_error(ctx, KILN_ERR_IO, "-o %.64s...: the path is too long", dir);
    if (st == KILN_OK)
        st = make_dir(ctx, dir);
    uint32_t written = 0;
    for (; st == KILN_OK && written < sig->n_outputs; written++) {
        const kiln_tensor *t = &outs[written];
        output_paths(sig, dir, written, final, tmp, sizeof final);
        if (krt_npy_write_to(tmp, (krt_dtype)t->dtype, t->shape.rank, t->shape.dim, t->data,
                             err, sizeof err) != KRT_OK) {
            size_t n = strlen(tmp);
            const char *why = strncmp(err, tmp, n) == 0 && err[n] == ':' ? err + n + 2 : err;
            if (strncmp(why, "write error", 11) == 0) /* created, but the data did not fit */
                st = kiln_error(ctx, KILN_ERR_IO, "%s: %s", final, why);
            else
                st = kiln_error(ctx, KILN_ERR_IO, "-o %s: cannot create a file there: %s", dir, why);
            written--;
        }
    }
    for (uint32_t k = 0; k < written && k < sig->n_outputs; k++) {
        output_paths(sig, dir, k, final, tmp, sizeof final);
        if (st == KILN_OK && rename(tmp, final) != 0)
            st = kiln_error(ctx, KILN_ERR_IO, "%s: %s", final, strerror(errno));
        if (st != KILN_OK)
            unlink(tmp);
    }
    return st;
}

void run_print_summary(const run_sig *sig, const kiln_tensor *outs)
{
    for (uint32_t k = 0; k < sig->n_outputs; k++) {
        char shape[256];
        const kiln_tensor *t = &outs[k];
        size_t n = kiln_dtype_size(t->dtype) ? t->nbytes / kiln_dtype_size(t->dtype) : 0;
        printf("%s: %s%s", sig->outputs[k].name, kiln_dtype_name(t->dtype),
               kiln_shape_format(sig->g, &t->shape, shape, sizeof shape));
        for (size_t i = 0; i < n && i < 8; i++)
            printf("%s%.6g", i ? ", " : " = [", krt_load_f64((krt_dtype)t->dtype, t->data, (int64_t)i));
        printf("%s\n", n == 0 ? " = []" : n > 8 ? ", ...]" : "]");
    }
}

double run_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

double run_cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void run_print_bench(const char *who, long n, double total, double best, double cpu)
{
    fprintf(stderr, "%s: %ld runs, mean %.3f ms, best %.3f ms, CPU %.3f ms/run\n", who, n, total / n * 1e3,
            best * 1e3, cpu / n * 1e3);
}

long run_profile_runs(const run_opts *o)
{
    return o->bench ? o->bench : RUN_PROFILE_RUNS;
}

kiln_status run_print_profile(kiln_ctx *ctx, const char *title, const kiln_model_profile *p,
                              const uint64_t *ns, const uint64_t *run_ns, long runs)
{
    if (runs > UINT32_MAX ||
        krt_profile_report(stderr, title, p, ns, run_ns, (uint32_t)runs, RUN_PROFILE_TOP) != 0)
        return kiln_error(ctx, KILN_ERR_RUNTIME, "--profile: out of memory for %ld runs", runs);
    return KILN_OK;
}

/* ---- the interpreter path ---------------------------------------------------- */

/* --bench N: N more runs of the same session (plan and arena made once). */
static kiln_status bench(kiln_interp *interp, const kiln_graph *g, const kiln_tensor *ins, long n)
{
    kiln_tensor outs[256];
    double best = 1e30, total = 0, cpu0 = run_cpu_seconds();
    for (long i = 0; i < n; i++) {
        double t0 = run_now_seconds();
        kiln_status st = kiln_interp_exec(interp, ins, g->n_inputs, outs);
        if (st)
            return st;
        double dt = run_now_seconds() - t0;
        kiln_interp_free_outputs(outs, g->n_outputs);
        total += dt;
        best = dt < best ? dt : best;
    }
    run_print_bench("interp", n, total, best, run_cpu_seconds() - cpu0);
    return KILN_OK;
}

/* --profile: the runs, each node timed, and the table. Names and op
 * spellings are the graph's; FLOPs are counted on the run's shapes. */
static kiln_status profile(kiln_ctx *ctx, kiln_interp *interp, const kiln_graph *g,
                           const kiln_tensor *ins, const run_opts *o)
{
    kiln_tensor outs[256];
    long runs = run_profile_runs(o);
    uint32_t n = g->n_nodes - 1;
    uint64_t *ns = calloc((size_t)runs * (n ? n : 1), sizeof *ns), *run_ns = calloc((size_t)runs, sizeof *run_ns);
    double *flops = kiln_xcalloc(n ? n : 1, sizeof *flops);
    kiln_model_node *nodes = kiln_xcalloc(n ? n : 1, sizeof *nodes);
    char (*ops)[64] = kiln_xcalloc(n ? n : 1, sizeof *ops), title[512];
    kiln_status st = ns && run_ns ? KILN_OK
                                  : kiln_error(ctx, KILN_ERR_RUNTIME, "--profile: out of memory for %ld runs", runs);
    for (long r = 0; st == KILN_OK && r < runs; r++) {
        uint64_t t0 = krt_profile_now();
        st = kiln_interp_exec_profiled(interp, ins, g->n_inputs, outs, ns + (size_t)r * n, flops);
        run_ns[r] = krt_profile_now() - t0;
        if (st == KILN_OK)
            kiln_interp_free_outputs(outs, g->n_outputs);
    }
    for (uint32_t i = 0; i < n; i++)
        nodes[i] = (kiln_model_node){kiln_node_profile_name(g, i + 1),
                                     kiln_op_text_name(g->nodes[i + 1].op, ops[i], sizeof ops[i]), flops[i]};
    snprintf(title, sizeof title, "%.200s (interpreter), %ld thread%s%s", o->model_path,
             o->threads > 1 ? o->threads : 1, o->threads > 1 ? "s" : "",
             o->threads > 1 ? "; a node's time is its wall time across them" : "");
    kiln_model_profile p = {sizeof p, n, nodes};
    if (st == KILN_OK)
        st = run_print_profile(ctx, title, &p, ns, run_ns, runs);
    free(ns), free(run_ns), free(flops), free(nodes), free(ops);
    return st;
}

static kiln_status run_once(kiln_ctx *ctx, const run_sig *sig, const run_opts *o,
                            kiln_interp *interp, const kiln_tensor *ins)
{
    kiln_tensor outs[256];
    kiln_status st = kiln_interp_exec(interp, ins, sig->n_inputs, outs);
    if (st)
        return st;
    if (o->out_dir)
        st = run_write_outputs(ctx, sig, o->out_dir, outs);
    else
        run_print_summary(sig, outs);
    kiln_interp_free_outputs(outs, sig->n_outputs);
    return st;
}

/* The graph's inputs and outputs as ports (ports: n_inputs + n_outputs). */
static run_sig graph_sig(const kiln_graph *g, run_port *ports)
{
    for (uint32_t k = 0; k < g->n_inputs + g->n_outputs; k++) {
        const kiln_value *v = &g->values[k < g->n_inputs ? g->inputs[k] : g->outputs[k - g->n_inputs]];
        ports[k] = (run_port){.name = v->name, .dtype = v->dtype, .shape = v->shape};
    }
    return (run_sig){.source = g->source, .g = g, .n_inputs = g->n_inputs,
                     .n_outputs = g->n_outputs, .inputs = ports, .outputs = ports + g->n_inputs};
}

static int run_model(kiln_ctx *ctx, kiln_graph *g, const run_opts *o)
{
    kiln_tensor ins[MAX_INPUTS] = {0};
    kiln_interp *interp = NULL;
    if (g->n_inputs > MAX_INPUTS || g->n_outputs > RUN_MAX_OUTPUTS)
        return kiln_error(ctx, KILN_ERR_UNSUPPORTED, "%s: more than %d inputs or 256 outputs",
                          g->source, MAX_INPUTS), driver_fail(ctx);
    run_port *ports = kiln_xcalloc(g->n_inputs + g->n_outputs + 1, sizeof *ports);
    run_sig sig = graph_sig(g, ports);
    kiln_status st = o->out_dir ? run_check_output_names(ctx, &sig) : KILN_OK;
    if (!st)
        st = run_gather_inputs(ctx, &sig, o, ins);
    if (!st)
        st = kiln_interp_create(ctx, g, &(kiln_interp_opts){.threads = (int)o->threads}, &interp);
    if (!st)
        st = run_once(ctx, &sig, o, interp, ins);
    if (!st && o->bench)
        st = bench(interp, g, ins, o->bench);
    if (!st && o->profile)
        st = profile(ctx, interp, g, ins, o);
    kiln_interp_destroy(interp);
    for (uint32_t k = 0; k < g->n_inputs; k++)
        free((void *)ins[k].data);
    free(ports);
    return st ? driver_fail(ctx) : EXIT_OK;
}

/* ---- the command ------------------------------------------------------------ */

static bool has_graph_options(const driver_model_opts *m)
{
    return m->n_shapes || m->passes || m->opt_level >= 0 || m->print_after || m->time_passes || m->remarks;
}

/* A library is compiled already: options that shape a compilation or pick
 * an executor do not apply to it, and --name applies only to it. */
static int check_options(const run_opts *o, bool library)
{
    if (!library && o->name)
        return driver_usage_error("run", "--name picks a model in a compiled library; "
                                         "'%s' is not one", o->model_path);
    if (library && o->backend_given)
        return driver_usage_error("run", "--backend does not apply to '%s': a library is "
                                         "compiled already", o->model_path);
    if (!library && o->weights)
        return driver_usage_error("run", "--weights PATH is for a library compiled with "
                                         "--weights file; '%s' is not one", o->model_path);
    if (library && has_graph_options(&o->model))
        return driver_usage_error("run", "graph options do not apply to '%s': a library was "
                                         "optimized when it was compiled", o->model_path);
    return EXIT_OK;
}

/* The C prefix for a model run by a backend: its file's base name. */
static void model_c_name(const char *path, char *name, size_t size)
{
    char base[512];
    const char *slash = strrchr(path, '/');
    snprintf(base, sizeof base, "%.500s", slash ? slash + 1 : path);
    if (strchr(base, '.'))
        *strchr(base, '.') = 0;
    kiln_cgen_c_name(base, name, size);
}

/* --backend c: `kiln compile --emit lib` (with --threads N when given)
 * into a private temporary directory, then run as `kiln run LIB.so` runs
 * (tools/run_lib.c), with messages naming the model. The directory goes
 * however kiln ends (tools/tmpdir.c). */
static int run_c(kiln_ctx *ctx, const kiln_graph *g, const run_opts *o)
{
    char name[128], lib[4400];
    driver_tmpdir tmp;
    model_c_name(o->model_path, name, sizeof name);
    if (driver_tmpdir_create(ctx, "kiln_run", &tmp) != KILN_OK)
        return driver_fail(ctx);
    snprintf(lib, sizeof lib, "%s/%s.so", tmp.path, name);
    int rc;
    if (driver_compile_c_library(ctx, g, o->model_path, name, (int)o->threads, tmp.path, lib) !=
        KILN_OK)
        rc = driver_fail(ctx);
    else
        rc = run_library_file(ctx, o, lib, name);
    driver_tmpdir_remove(&tmp);
    return rc;
}

/* The JIT's optional entry points (NAME_set_pool ...), for run_lib.c. */
static run_fn_ptr jit_symbol(const void *jm, const char *sym)
{
    return kiln_llvm_jit_symbol(jm, sym);
}

/* --backend llvm: plan for --threads N (default 1), compile in memory, call
 * the entry points as a library's (tools/run_lib.c), which binds a pool of
 * N threads made by the module's own krt_pool_create. */
static int run_jit(kiln_ctx *ctx, const kiln_graph *g, const run_opts *o)
{
    char name[128];
    model_c_name(o->model_path, name, sizeof name);
    int level = o->model.opt_level >= 0 ? o->model.opt_level : KILN_DEFAULT_OPT_LEVEL;
    kiln_llvm_opts lo = {.name = name, .model_path = o->model_path, .opt_level = level >= 2 ? 3 : level};
    kiln_llvm_jit_model jm = {0};
    kiln_plan *plan = NULL;
    int threads = o->threads > 1 ? (int)o->threads : 1;
    kiln_status st = kiln_plan_memory(ctx, g, &(kiln_plan_opts){.threads = threads}, &plan);
    if (!st)
        st = kiln_llvm_jit_create(ctx, g, plan, &lo, &jm, NULL);
    kiln_plan_destroy(plan);
    if (st)
        return driver_fail(ctx);
    run_entry_points ep = {.info = jm.info, .run = (void (*)(void))jm.run,
                           .workspace_size = (void (*)(void))jm.workspace_size,
                           .profile = jm.profile, .run_profiled = (void (*)(void))jm.run_profiled,
                           .find = jit_symbol, .arg = &jm};
    int rc = run_compiled(ctx, o, name, &ep);
    kiln_llvm_jit_destroy(&jm);
    return rc;
}

int cmd_run(int argc, char **argv)
{
    run_opts o = {.model = DRIVER_MODEL_OPTS_INIT};
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    bool library = run_is_library(o.model_path);
    rc = check_options(&o, library);
    if (rc)
        return rc;
    kiln_ctx *ctx = kiln_ctx_create();
    if (library) {
        rc = run_library(ctx, &o);
        kiln_ctx_destroy(ctx);
        return rc;
    }
    kiln_graph *g = NULL;
    rc = driver_load_model(ctx, o.model_path, &o.model, &g);
    if (rc == EXIT_OK)
        rc = strcmp(o.backend, "llvm") == 0 ? run_jit(ctx, g, &o)
             : strcmp(o.backend, "c") == 0  ? run_c(ctx, g, &o)
                                            : run_model(ctx, g, &o);
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
    return rc;
}
