/* cmd_run.c — `kiln run`: run a model on input files, write the outputs.
 *
 *   kiln run MODEL [--backend interp] [-i [NAME=]FILE]... [-o DIR]
 *            [--threads N] [--bench N] [graph options]
 *
 * Inputs are .npy (any C-order dtype) or ONNX TensorProto .pb files;
 * positional `-i FILE` binds graph inputs in order, `-i NAME=FILE` by name.
 * Every input is checked (dtype, shape, size) before anything runs, and
 * outputs are written to temporary files renamed into place only when all
 * of them are complete: a failed run leaves nothing behind.
 */
#define _POSIX_C_SOURCE 200809L
#include "frontend/frontend.h"
#include "ir/interp.h"
#include "runtime/krt_npy.h"
#include "tools/driver.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { MAX_INPUTS = 256 };

typedef struct run_opts {
    driver_model_opts model;
    const char *model_path, *backend, *out_dir;
    const char *inputs[MAX_INPUTS];  /* the -i arguments, as given */
    int n_inputs;
    long bench;                      /* --bench N: time N runs */
    long threads;                    /* --threads N: split kernel calls over N threads */
} run_opts;

static void help(void)
{
    printf("usage: kiln run MODEL [options] [graph options]\n\n"
           "Run MODEL (.onnx or kiln text IR) on input files and write its outputs.\n\n"
           "options:\n"
           "  -i FILE, -i NAME=FILE   an input: .npy (C order, any dtype the model takes) or an\n"
           "                          ONNX TensorProto .pb; without NAME, inputs bind in order\n"
           "  -o DIR                  write each output to DIR/NAME.npy (NAME = the ONNX output\n"
           "                          name, characters outside [A-Za-z0-9._-] replaced by '_');\n"
           "                          without -o, print a summary of each output\n"
           "  --backend interp        the reference interpreter (the only backend so far)\n"
           "  --threads N             split each kernel over N threads (default 1); results\n"
           "                          are bit-identical for any N\n"
           "  --bench N               run N more times and print the time per run\n"
           "  -h, --help              this help\n\n");
    driver_model_help(stdout);
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
        } else if (strcmp(a, "--threads") == 0 && has_value) {
            char *end;
            o->threads = strtol(argv[++i], &end, 10);
            if (*end || o->threads < 1 || o->threads > 256)
                return driver_usage_error("run", "--threads takes a count from 1 to 256, not '%s'", argv[i]);
        } else if (strcmp(a, "--bench") == 0 && has_value) {
            char *end;
            o->bench = strtol(argv[++i], &end, 10);
            if (*end || o->bench < 1)
                return driver_usage_error("run", "--bench takes a positive count, not '%s'", argv[i]);
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
    if (strcmp(o->backend, "interp") != 0)
        return driver_usage_error("run", "unknown backend '%s' (available: interp)", o->backend);
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

/* Which graph input slot an -i argument fills, and its file. */
static int input_slot(kiln_ctx *ctx, const kiln_graph *g, const char *arg, int position,
                      const char **file)
{
    const char *eq = strchr(arg, '=');
    *file = arg;
    if (!eq || eq == arg) {
        if (position >= (int)g->n_inputs)
            return kiln_error(ctx, KILN_ERR_INVALID, "%s: the model takes %u inputs; '-i %s' is one too many",
                              g->source, g->n_inputs, arg), -1;
        return position;
    }
    *file = eq + 1;
    for (uint32_t k = 0; k < g->n_inputs; k++) {
        const char *name = g->values[g->inputs[k]].name;
        if (strlen(name) == (size_t)(eq - arg) && strncmp(name, arg, (size_t)(eq - arg)) == 0)
            return (int)k;
    }
    kiln_error(ctx, KILN_ERR_INVALID, "%s: the model has no input named '%.*s'", g->source,
               (int)(eq - arg), arg);
    return -1;
}

static kiln_status gather_inputs(kiln_ctx *ctx, const kiln_graph *g, const run_opts *o,
                                 kiln_tensor *tensors, bool *given)
{
    int position = 0;
    for (int i = 0; i < o->n_inputs; i++) {
        const char *file;
        int k = input_slot(ctx, g, o->inputs[i], position, &file);
        if (k < 0)
            return KILN_ERR_INVALID;
        if (given[k])
            return kiln_error(ctx, KILN_ERR_INVALID, "%s: input '%s' is given twice (-i %s)",
                              g->source, g->values[g->inputs[k]].name, o->inputs[i]);
        kiln_status st = read_input(ctx, file, &tensors[k]);
        if (st) {
            char why[2048];
            snprintf(why, sizeof why, "%s", kiln_ctx_message(ctx));
            return kiln_error(ctx, st, "%s: input '%s': %s", g->source,
                              g->values[g->inputs[k]].name, why);
        }
        given[k] = true;
        if (!strchr(o->inputs[i], '=') || strchr(o->inputs[i], '=') == o->inputs[i])
            position++;
    }
    for (uint32_t k = 0; k < g->n_inputs; k++)
        if (!given[k]) {
            char shape[256];
            const kiln_value *v = &g->values[g->inputs[k]];
            return kiln_error(ctx, KILN_ERR_INVALID,
                              "%s: input '%s' (%s%s) is missing: add -i %s=FILE.npy", g->source,
                              v->name, kiln_dtype_name(v->dtype),
                              kiln_shape_format(g, &v->shape, shape, sizeof shape), v->name);
        }
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

static kiln_status make_dir(kiln_ctx *ctx, const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(path, 0777) != 0 && errno != EEXIST)
                return kiln_error(ctx, KILN_ERR_IO, "%s: %s", path, strerror(errno));
            *p = '/';
        }
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        return kiln_error(ctx, KILN_ERR_IO, "%s: %s", path, strerror(errno));
    return KILN_OK;
}

static void output_paths(const kiln_graph *g, const char *dir, uint32_t k, char *final,
                         char *tmp, size_t size)
{
    char name[512];
    sanitize(g->values[g->outputs[k]].name, name, sizeof name);
    snprintf(final, size, "%s/%s.npy", dir, name);
    snprintf(tmp, size, "%s/.%s.npy.tmp%ld", dir, name, (long)getpid());
}

/* All outputs to temporary files first, then renamed: all or nothing. */
static kiln_status write_outputs(kiln_ctx *ctx, const kiln_graph *g, const char *dir,
                                 const kiln_tensor *outs)
{
    char final[4096], tmp[4096], err[1024];
    kiln_status st = make_dir(ctx, dir);
    uint32_t written = 0;
    for (; st == KILN_OK && written < g->n_outputs; written++) {
        const kiln_tensor *t = &outs[written];
        output_paths(g, dir, written, final, tmp, sizeof final);
        if (krt_npy_write_to(tmp, (krt_dtype)t->dtype, t->shape.rank, t->shape.dim, t->data,
                             err, sizeof err) != KRT_OK)
            st = kiln_error(ctx, KILN_ERR_IO, "%s", err), written--;
    }
    for (uint32_t k = 0; k < written && k < g->n_outputs; k++) {
        output_paths(g, dir, k, final, tmp, sizeof final);
        if (st == KILN_OK && rename(tmp, final) != 0)
            st = kiln_error(ctx, KILN_ERR_IO, "%s: %s", final, strerror(errno));
        if (st != KILN_OK)
            unlink(tmp);
    }
    return st;
}

static void print_summary(const kiln_graph *g, const kiln_tensor *outs)
{
    for (uint32_t k = 0; k < g->n_outputs; k++) {
        char shape[256];
        const kiln_tensor *t = &outs[k];
        size_t n = kiln_dtype_size(t->dtype) ? t->nbytes / kiln_dtype_size(t->dtype) : 0;
        printf("%s: %s%s", g->values[g->outputs[k]].name, kiln_dtype_name(t->dtype),
               kiln_shape_format(g, &t->shape, shape, sizeof shape));
        for (size_t i = 0; i < n && i < 8; i++)
            printf("%s%.6g", i ? ", " : " = [", krt_load_f64((krt_dtype)t->dtype, t->data, (int64_t)i));
        printf("%s\n", n == 0 ? " = []" : n > 8 ? ", ...]" : "]");
    }
}

/* ---- the command ------------------------------------------------------------ */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* --bench N: N more runs of the same session (plan and arena made once). */
static kiln_status bench(kiln_interp *interp, const kiln_graph *g, const kiln_tensor *ins, long n)
{
    kiln_tensor outs[256];
    double best = 1e30, total = 0;
    for (long i = 0; i < n; i++) {
        double t0 = now_seconds();
        kiln_status st = kiln_interp_exec(interp, ins, g->n_inputs, outs);
        if (st)
            return st;
        double dt = now_seconds() - t0;
        kiln_interp_free_outputs(outs, g->n_outputs);
        total += dt;
        best = dt < best ? dt : best;
    }
    fprintf(stderr, "interp: %ld runs, mean %.3f ms, best %.3f ms\n", n, total / n * 1e3, best * 1e3);
    return KILN_OK;
}

static kiln_status run_once(kiln_ctx *ctx, const kiln_graph *g, const run_opts *o,
                            kiln_interp *interp, const kiln_tensor *ins)
{
    kiln_tensor outs[256];
    kiln_status st = kiln_interp_exec(interp, ins, g->n_inputs, outs);
    if (st)
        return st;
    if (o->out_dir)
        st = write_outputs(ctx, g, o->out_dir, outs);
    else
        print_summary(g, outs);
    kiln_interp_free_outputs(outs, g->n_outputs);
    return st;
}

static int run_model(kiln_ctx *ctx, kiln_graph *g, const run_opts *o)
{
    kiln_tensor ins[MAX_INPUTS] = {0};
    bool given[MAX_INPUTS] = {0};
    kiln_interp *interp = NULL;
    if (g->n_inputs > MAX_INPUTS || g->n_outputs > 256)
        return kiln_error(ctx, KILN_ERR_UNSUPPORTED, "%s: more than %d inputs or 256 outputs",
                          g->source, MAX_INPUTS), driver_fail(ctx);
    kiln_status st = gather_inputs(ctx, g, o, ins, given);
    if (!st)
        st = kiln_interp_create(ctx, g, &(kiln_interp_opts){.threads = (int)o->threads}, &interp);
    if (!st)
        st = run_once(ctx, g, o, interp, ins);
    if (!st && o->bench)
        st = bench(interp, g, ins, o->bench);
    kiln_interp_destroy(interp);
    for (uint32_t k = 0; k < g->n_inputs; k++)
        free((void *)ins[k].data);
    return st ? driver_fail(ctx) : EXIT_OK;
}

int cmd_run(int argc, char **argv)
{
    run_opts o = {.model = DRIVER_MODEL_OPTS_INIT};
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = NULL;
    rc = driver_load_model(ctx, o.model_path, &o.model, &g);
    if (rc == EXIT_OK)
        rc = run_model(ctx, g, &o);
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
    return rc;
}
