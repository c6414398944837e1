/* onnx_test.c — runs the ONNX backend test models (Debian libonnx-testdata)
 * through kiln and compares with their expected outputs.
 *
 *   kiln_onnx_test --mode import|run|roundtrip [--data DIR] [--filter SUBSTR]
 *                  [--expected LIST] [--update LIST] [--verbose]
 *                  [--passes PIPELINE | -O N] [--threads N]
 *
 * import     load + shape inference; each output shape must equal the
 *            shape of test_data_set_0/output_k.pb. When an output shape
 *            depends on input *values* (Reshape with a shape input...), the
 *            integer and bool inputs of test_data_set_0 are bound as
 *            constants and inference runs again ("integer inputs bound");
 *            if a shape still depends on data (Resize with a float `scales`
 *            input, NonZero, Unique...), every input is bound ("all inputs
 *            bound"). Each stage is counted separately in the summary.
 * run        every test_data_set_* through the interpreter; outputs within
 *            the per-dtype tolerances below (exact for integers and bools).
 * roundtrip  load + infer, then text-format, parse, format again: the two
 *            texts must be identical, and the parsed graph must re-infer.
 *
 * A model rejected with KILN_ERR_UNSUPPORTED counts as skipped (with its
 * reason); any other error, a wrong result or a crash counts as failed.
 * Each model runs in a child process, so a crash fails one model, not the
 * run. With --expected, a model on the list that does not pass is a
 * regression and the exit status is 1; models passing but not listed are
 * printed so the list can be extended (--update rewrites it).
 */
#define _GNU_SOURCE
#include "frontend/frontend.h"
#include "passes/pass.h"
#include "ir/interp.h"
#include "ir/text.h"
#include "runtime/krt.h"

#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *const suites[] = {"node", "pytorch-converted", "pytorch-operator", "simple"};
enum { MODEL_TIMEOUT_S = 120 };

/* Tolerances, in one place: |got - want| <= atol + rtol * |want|. */
static const struct tolerance {
    double atol, rtol;
} tolerances[KILN_DT_COUNT] = {
    [KILN_DT_F32] = {1e-5, 1e-3},
    [KILN_DT_F64] = {1e-9, 1e-7},
    [KILN_DT_F16] = {1e-3, 1e-2},
    [KILN_DT_BF16] = {1e-2, 2e-2},
    /* integers and bools: exact (zero tolerance) */
};

typedef enum outcome { PASSED, PASSED_BOUND, PASSED_ALL_BOUND, SKIPPED, FAILED, OUTCOME_COUNT } outcome;

typedef struct result {
    outcome what;
    char message[2048];
} result;

typedef struct options {
    const char *mode, *data, *filter, *expected, *update;
    const char *passes;   /* --passes PIPELINE: run it (verified) before running the model */
    int threads;          /* --threads N: the interpreter splits kernel calls over N threads */
    bool verbose;
} options;

/* ---- small helpers --------------------------------------------------------- */

static outcome set(result *r, outcome what, const char *fmt, ...) KILN_PRINTF(3, 4);
static outcome set(result *r, outcome what, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
    r->what = what;
    return what;
}

static outcome from_status(result *r, kiln_ctx *ctx, kiln_status st)
{
    return set(r, st == KILN_ERR_UNSUPPORTED ? SKIPPED : FAILED, "%s", kiln_ctx_message(ctx));
}

/* dir + "/" + name into buf; a path too long for buf becomes "" (never opens). */
static const char *path_join(char *buf, size_t size, const char *dir, const char *name)
{
    int n = snprintf(buf, size, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= size)
        buf[0] = 0;
    return buf;
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int count_files(const char *dir, const char *prefix)
{
    char path[4096];
    int n = 0;
    for (;; n++) {
        char name[64];
        snprintf(name, sizeof name, "%s%d.pb", prefix, n);
        if (!file_exists(path_join(path, sizeof path, dir, name)))
            return n;
    }
}

/* ---- reading a test data set ----------------------------------------------- */

typedef struct dataset {
    kiln_tensor inputs[64], outputs[64];
    int n_inputs, n_outputs;
} dataset;

static void dataset_free(dataset *d)
{
    for (int i = 0; i < d->n_inputs; i++)
        free((void *)d->inputs[i].data);
    for (int i = 0; i < d->n_outputs; i++)
        free((void *)d->outputs[i].data);
    d->n_inputs = d->n_outputs = 0;
}

static kiln_status read_set(kiln_ctx *ctx, const char *dir, const char *prefix,
                            kiln_tensor *out, int *n)
{
    char path[4096];
    int count = count_files(dir, prefix);
    if (count > 64)
        return kiln_error(ctx, KILN_ERR_INVALID, "%s: more than 64 %s files", dir, prefix);
    for (*n = 0; *n < count; (*n)++) {
        char name[64];
        snprintf(name, sizeof name, "%s%d.pb", prefix, *n);
        path_join(path, sizeof path, dir, name);
        kiln_status st = kiln_onnx_read_tensor(ctx, path, &out[*n], NULL);
        if (st)
            return st;
    }
    return KILN_OK;
}

static kiln_status read_dataset(kiln_ctx *ctx, const char *dir, dataset *d)
{
    kiln_status st = read_set(ctx, dir, "input_", d->inputs, &d->n_inputs);
    return st ? st : read_set(ctx, dir, "output_", d->outputs, &d->n_outputs);
}

/* ONNX 1.12's test generator stores bfloat16 tensors as UINT16 (the same
 * bits): where the model says bf16 and the data says u16, read it as bf16. */
static void fix_bf16(const kiln_graph *g, dataset *d)
{
    for (uint32_t k = 0; k < g->n_inputs && (int)k < d->n_inputs; k++)
        if (g->values[g->inputs[k]].dtype == KILN_DT_BF16 && d->inputs[k].dtype == KILN_DT_U16)
            d->inputs[k].dtype = KILN_DT_BF16;
    for (uint32_t k = 0; k < g->n_outputs && (int)k < d->n_outputs; k++) {
        kiln_dtype want = g->values[g->outputs[k]].dtype;
        if ((want == KILN_DT_BF16 || want == KILN_DT_UNDEF) && d->outputs[k].dtype == KILN_DT_U16)
            d->outputs[k].dtype = KILN_DT_BF16;
    }
}

/* ---- import mode ------------------------------------------------------------ */

/* Symbolic input dims take the sizes of the test's inputs (like --shape). */
static kiln_status bind_input_shapes(kiln_ctx *ctx, kiln_graph *g, const dataset *d)
{
    for (uint32_t k = 0; k < g->n_inputs && (int)k < d->n_inputs; k++) {
        const kiln_value *v = &g->values[g->inputs[k]];
        if (kiln_shape_is_static(&v->shape))
            continue;
        kiln_status st = kiln_graph_bind_shape(ctx, g, g->inputs[k], &d->inputs[k].shape);
        if (st)
            return st;
    }
    return KILN_OK;
}

/* Bind input values: the integer and bool ones (shape-carrying inputs),
 * or with all_inputs every one. orig[] is the input list before any
 * binding (binding removes values from g->inputs). */
static kiln_status bind_inputs(kiln_ctx *ctx, kiln_graph *g, const uint32_t *orig, uint32_t n,
                               const dataset *d, bool all_inputs)
{
    for (uint32_t k = 0; k < n && (int)k < d->n_inputs; k++) {
        kiln_dtype dt = d->inputs[k].dtype;
        if (g->values[orig[k]].kind != KILN_VAL_INPUT)
            continue;  /* bound in an earlier stage */
        if (!all_inputs && !kiln_dtype_is_int(dt) && dt != KILN_DT_BOOL)
            continue;
        kiln_status st = kiln_graph_bind_input(ctx, g, orig[k], &d->inputs[k]);
        if (st)
            return st;
    }
    return KILN_OK;
}

/* Index of the first output whose inferred shape differs, or -1. */
static int shape_mismatch(const kiln_graph *g, const dataset *d, char *why, size_t size)
{
    char got[256], want[256];
    if ((int)g->n_outputs != d->n_outputs) {
        snprintf(why, size, "model has %u outputs, test data %d", g->n_outputs, d->n_outputs);
        return 0;
    }
    for (uint32_t k = 0; k < g->n_outputs; k++) {
        const kiln_value *v = &g->values[g->outputs[k]];
        if (!kiln_shape_equal(&v->shape, &d->outputs[k].shape) || v->dtype != d->outputs[k].dtype) {
            snprintf(why, size, "output %u '%s': inferred %s%s, expected %s%s", k, v->name,
                     kiln_dtype_name(v->dtype), kiln_shape_format(g, &v->shape, got, sizeof got),
                     kiln_dtype_name(d->outputs[k].dtype),
                     kiln_shape_format(g, &d->outputs[k].shape, want, sizeof want));
            return (int)k;
        }
    }
    return -1;
}

static outcome check_import(kiln_ctx *ctx, const char *dir, result *r)
{
    char path[4096], why[1024];
    kiln_graph *g = NULL;
    dataset d = {0};
    path_join(path, sizeof path, dir, "model.onnx");
    kiln_status st = kiln_onnx_load(ctx, path, &g);
    if (st)
        return from_status(r, ctx, st);
    path_join(path, sizeof path, dir, "test_data_set_0");
    if (!(st = read_dataset(ctx, path, &d)))
        fix_bf16(g, &d);
    if (st || (st = bind_input_shapes(ctx, g, &d)) || (st = kiln_graph_infer(ctx, g))) {
        kiln_graph_destroy(g);
        dataset_free(&d);
        return from_status(r, ctx, st);
    }
    outcome o = set(r, PASSED, "shapes match");
    uint32_t orig[64], n_orig = g->n_inputs < 64 ? g->n_inputs : 64;
    if (n_orig)
        memcpy(orig, g->inputs, n_orig * sizeof *orig);
    static const char *const stage[] = {"integer inputs bound", "all inputs bound"};
    for (int all = 0; all < 2 && shape_mismatch(g, &d, why, sizeof why) >= 0; all++) {
        if ((st = bind_inputs(ctx, g, orig, n_orig, &d, all)) || (st = kiln_graph_infer(ctx, g)))
            o = from_status(r, ctx, st);
        else if (shape_mismatch(g, &d, why, sizeof why) >= 0)
            o = set(r, FAILED, "%s (even with %s)", why, stage[all]);
        else
            o = set(r, all ? PASSED_ALL_BOUND : PASSED_BOUND, "shapes match with %s", stage[all]);
        if (o == SKIPPED || (o == FAILED && st))
            break;
    }
    kiln_graph_destroy(g);
    dataset_free(&d);
    return o;
}

/* ---- run mode ----------------------------------------------------------------- */

/* Compare one output; returns false with the first difference in why. */
static bool compare(const kiln_graph *g, const kiln_tensor *got, const kiln_tensor *want,
                    uint32_t k, char *why, size_t size)
{
    char a[256], b[256];
    if (got->dtype != want->dtype || !kiln_shape_equal(&got->shape, &want->shape)) {
        snprintf(why, size, "output %u: got %s%s, expected %s%s", k, kiln_dtype_name(got->dtype),
                 kiln_shape_format(g, &got->shape, a, sizeof a), kiln_dtype_name(want->dtype),
                 kiln_shape_format(g, &want->shape, b, sizeof b));
        return false;
    }
    size_t esize = kiln_dtype_size(got->dtype), n = esize ? got->nbytes / esize : 0;
    if (!kiln_dtype_is_float(got->dtype)) {
        for (size_t i = 0; i < n; i++)
            if (memcmp((const char *)got->data + i * esize, (const char *)want->data + i * esize, esize)) {
                snprintf(why, size, "output %u: element %zu differs (exact comparison)", k, i);
                return false;
            }
        return true;
    }
    const struct tolerance *t = &tolerances[got->dtype];
    for (size_t i = 0; i < n; i++) {
        double x = krt_load_f64((krt_dtype)got->dtype, got->data, (int64_t)i);
        double y = krt_load_f64((krt_dtype)want->dtype, want->data, (int64_t)i);
        if ((isnan(x) && isnan(y)) || x == y)
            continue;
        if (!(fabs(x - y) <= t->atol + t->rtol * fabs(y))) {
            snprintf(why, size, "output %u: element %zu is %.9g, expected %.9g (atol %g, rtol %g)",
                     k, i, x, y, t->atol, t->rtol);
            return false;
        }
    }
    return true;
}

/* One run through an interpreter session with `threads` threads. */
static kiln_status run_interp(kiln_ctx *ctx, const kiln_graph *g, int threads, const dataset *d,
                              kiln_tensor *outs)
{
    kiln_interp *it = NULL;
    kiln_status st = kiln_interp_create(ctx, g, &(kiln_interp_opts){.threads = threads}, &it);
    if (st == KILN_OK)
        st = kiln_interp_exec(it, d->inputs, (uint32_t)d->n_inputs, outs);
    kiln_interp_destroy(it);
    return st;
}

static outcome run_dataset(kiln_ctx *ctx, const kiln_graph *g, int threads, const char *dir,
                           result *r)
{
    dataset d = {0};
    kiln_tensor outs[64];
    char why[1024];
    kiln_status st = read_dataset(ctx, dir, &d);
    if (!st)
        fix_bf16(g, &d);
    if (!st && g->n_outputs > 64)
        st = kiln_error(ctx, KILN_ERR_UNSUPPORTED, "more than 64 outputs");
    if (!st)
        st = run_interp(ctx, g, threads, &d, outs);
    if (st) {
        dataset_free(&d);
        return from_status(r, ctx, st);
    }
    outcome o = PASSED;
    if ((int)g->n_outputs != d.n_outputs)
        o = set(r, FAILED, "%s: model has %u outputs, test data %d", dir, g->n_outputs, d.n_outputs);
    for (uint32_t k = 0; o == PASSED && k < g->n_outputs; k++)
        if (!compare(g, &outs[k], &d.outputs[k], k, why, sizeof why))
            o = set(r, FAILED, "%s: %s", strrchr(dir, '/') + 1, why);
    kiln_interp_free_outputs(outs, g->n_outputs);
    dataset_free(&d);
    return o;
}

/* The pipeline of --passes, run with the verifier after every pass. */
static kiln_status run_passes(kiln_ctx *ctx, kiln_graph *g, const char *passes)
{
    kiln_pipeline p;
    kiln_pipeline_run_opts run = {.verify = true};
    if (!passes)
        return KILN_OK;
    kiln_status st = kiln_pipeline_parse(ctx, passes, &p);
    return st ? st : kiln_pipeline_run(ctx, g, &p, &run);
}

static outcome check_run(kiln_ctx *ctx, const char *dir, const options *opt, result *r)
{
    char path[4096];
    kiln_graph *g = NULL;
    dataset d0 = {0};
    path_join(path, sizeof path, dir, "model.onnx");
    kiln_status st = kiln_onnx_load(ctx, path, &g);
    if (st)
        return from_status(r, ctx, st);
    /* Symbolic input dims are bound from the first data set, like --shape. */
    path_join(path, sizeof path, dir, "test_data_set_0");
    if ((st = read_dataset(ctx, path, &d0)) || (st = bind_input_shapes(ctx, g, &d0)) ||
        (st = kiln_graph_infer(ctx, g)) || (st = run_passes(ctx, g, opt->passes))) {
        dataset_free(&d0);
        kiln_graph_destroy(g);
        return from_status(r, ctx, st);
    }
    dataset_free(&d0);
    outcome o = set(r, PASSED, "all data sets match");
    for (int s = 0; o == PASSED; s++) {
        char name[32];
        snprintf(name, sizeof name, "test_data_set_%d", s);
        path_join(path, sizeof path, dir, name);
        if (!file_exists(path))
            break;
        o = run_dataset(ctx, g, opt->threads, path, r);
    }
    kiln_graph_destroy(g);
    return o;
}

/* ---- roundtrip mode -------------------------------------------------------------- */

static outcome check_roundtrip(kiln_ctx *ctx, const char *dir, result *r)
{
    char path[4096];
    kiln_graph *g = NULL, *back = NULL;
    dataset d = {0};
    path_join(path, sizeof path, dir, "model.onnx");
    kiln_status st = kiln_onnx_load(ctx, path, &g);
    if (st)
        return from_status(r, ctx, st);
    path_join(path, sizeof path, dir, "test_data_set_0");
    if ((st = read_dataset(ctx, path, &d)) || (st = bind_input_shapes(ctx, g, &d)) ||
        (st = kiln_graph_infer(ctx, g))) {
        kiln_graph_destroy(g);
        dataset_free(&d);
        return from_status(r, ctx, st);
    }
    dataset_free(&d);
    char *text = kiln_text_format(g), *again = NULL;
    outcome o;
    if ((st = kiln_text_parse(ctx, text, strlen(text), "<dump>", &back)))
        o = set(r, FAILED, "the dump does not parse: %s", kiln_ctx_message(ctx));
    else if (strcmp(text, again = kiln_text_format(back)) != 0)
        o = set(r, FAILED, "print(parse(print(g))) differs from print(g)");
    else if ((st = kiln_graph_infer(ctx, back)))
        o = set(r, FAILED, "the parsed graph does not re-infer: %s", kiln_ctx_message(ctx));
    else
        o = set(r, PASSED, "round trip exact");
    free(text);
    free(again);
    kiln_graph_destroy(back);
    kiln_graph_destroy(g);
    return o;
}

/* ---- one model in a child process ---------------------------------------------- */

static void run_child(const options *opt, const char *dir, int fd)
{
    result r = {FAILED, ""};
    kiln_ctx *ctx = kiln_ctx_create();
    alarm(MODEL_TIMEOUT_S);
    if (strcmp(opt->mode, "import") == 0)
        check_import(ctx, dir, &r);
    else if (strcmp(opt->mode, "run") == 0)
        check_run(ctx, dir, opt, &r);
    else
        check_roundtrip(ctx, dir, &r);
    kiln_ctx_destroy(ctx);
    ssize_t w = write(fd, &r, sizeof r);
    _exit(w == (ssize_t)sizeof r ? 0 : 3);
}

static void run_model(const options *opt, const char *dir, result *r)
{
    int fds[2];
    if (pipe(fds) != 0) {
        set(r, FAILED, "pipe failed");
        return;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        run_child(opt, dir, fds[1]);
    }
    close(fds[1]);
    ssize_t got = 0, n;
    while (got < (ssize_t)sizeof *r && (n = read(fds[0], (char *)r + got, sizeof *r - got)) > 0)
        got += n;
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (got != (ssize_t)sizeof *r) {
        if (WIFSIGNALED(status))
            set(r, FAILED, "crashed with signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
        else
            set(r, FAILED, "child exited with status %d without a result", WEXITSTATUS(status));
    }
}

/* ---- the model list and the expected-pass list ---------------------------------- */

typedef struct names {
    char **v;
    size_t n, cap;
} names;

static void names_add(names *l, const char *s)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->v = kiln_xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = strdup(s);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_free(names *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

static void names_sort(names *l)
{
    if (l->n)
        qsort(l->v, l->n, sizeof *l->v, cmp_str);
}

static bool names_has(const names *l, const char *s)
{
    return l->n && bsearch(&s, l->v, l->n, sizeof *l->v, cmp_str);
}

static void list_models(const options *opt, names *out)
{
    char path[4096];
    for (size_t s = 0; s < sizeof suites / sizeof suites[0]; s++) {
        snprintf(path, sizeof path, "%s/%s", opt->data, suites[s]);
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            char model[4096];
            snprintf(model, sizeof model, "%s/%s/%s/model.onnx", opt->data, suites[s], e->d_name);
            if (e->d_name[0] == '.' || !file_exists(model))
                continue;
            snprintf(model, sizeof model, "%s/%s", suites[s], e->d_name);
            if (!opt->filter || strstr(model, opt->filter))
                names_add(out, model);
        }
        if (d)
            closedir(d);
    }
    names_sort(out);
}

static bool read_list(const char *path, names *out)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    if (!f)
        return false;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (line[0] && line[0] != '#')
            names_add(out, line);
    }
    fclose(f);
    names_sort(out);
    return true;
}

static bool write_list(const char *path, const char *mode, const names *passed)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return false;
    fprintf(f, "# ONNX backend test models expected to pass `kiln_onnx_test --mode %s`.\n"
               "# A listed model that stops passing fails the test. Regenerate with --update.\n", mode);
    for (size_t i = 0; i < passed->n; i++)
        fprintf(f, "%s\n", passed->v[i]);
    return fclose(f) == 0 && rename(tmp, path) == 0;
}

/* "node 'x' (Op)" or "(Op, ..." in a message -> "Op", for the per-op summary. */
static void op_of_message(const char *msg, char *op, size_t size)
{
    const char *p = strstr(msg, "node ");
    p = p ? strchr(p, '(') : NULL;
    size_t n = p ? strcspn(p + 1, ",)") : 0;
    if (!p || n == 0 || n >= size) {
        snprintf(op, size, "(result mismatch or other)");
        return;
    }
    memcpy(op, p + 1, n);
    op[n] = 0;
}

/* ---- main -------------------------------------------------------------------------- */

static int usage(void)
{
    fprintf(stderr, "usage: kiln_onnx_test --mode import|run|roundtrip [--data DIR] [--filter SUBSTR]\n"
                    "                      [--expected LIST] [--update LIST] [--verbose]\n"
                    "                      [--passes PIPELINE | -O N] [--threads N]  (run mode)\n");
    return 2;
}

static bool parse_args(int argc, char **argv, options *opt)
{
    opt->data = "/usr/share/libonnx-testdata/data";
    for (int i = 1; i < argc; i++) {
        const char **slot = NULL;
        if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0) {
            opt->verbose = true;
            continue;
        }
        if (strcmp(argv[i], "--mode") == 0) slot = &opt->mode;
        else if (strcmp(argv[i], "--data") == 0) slot = &opt->data;
        else if (strcmp(argv[i], "--filter") == 0) slot = &opt->filter;
        else if (strcmp(argv[i], "--expected") == 0) slot = &opt->expected;
        else if (strcmp(argv[i], "--update") == 0) slot = &opt->update;
        else if (strcmp(argv[i], "--passes") == 0) slot = &opt->passes;
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            opt->threads = atoi(argv[++i]);
            continue;
        } else if (strcmp(argv[i], "-O") == 0 && i + 1 < argc) {  /* -O N: that level's pipeline */
            opt->passes = kiln_pipeline_for_level(atoi(argv[++i]));
            continue;
        }
        if (!slot || i + 1 >= argc)
            return false;
        *slot = argv[++i];
    }
    return opt->mode && (strcmp(opt->mode, "import") == 0 || strcmp(opt->mode, "run") == 0 ||
                         strcmp(opt->mode, "roundtrip") == 0);
}

/* The slowest models of the run, slowest first. */
enum { N_SLOWEST = 5 };
typedef struct slow {
    double seconds[N_SLOWEST];
    const char *model[N_SLOWEST];
} slow;

static void note_time(slow *s, const char *model, double seconds)
{
    int k = N_SLOWEST;
    while (k > 0 && (!s->model[k - 1] || s->seconds[k - 1] < seconds))
        k--;
    if (k == N_SLOWEST)
        return;
    memmove(&s->seconds[k + 1], &s->seconds[k], (N_SLOWEST - k - 1) * sizeof s->seconds[0]);
    memmove(&s->model[k + 1], &s->model[k], (N_SLOWEST - k - 1) * sizeof s->model[0]);
    s->seconds[k] = seconds;
    s->model[k] = model;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct op_count {
    char op[64];
    int n;
} op_count;

static void count_op(op_count *ops, int *n_ops, const char *msg)
{
    char op[64];
    op_of_message(msg, op, sizeof op);
    for (int i = 0; i < *n_ops; i++)
        if (strcmp(ops[i].op, op) == 0) {
            ops[i].n++;
            return;
        }
    if (*n_ops < 256) {
        snprintf(ops[*n_ops].op, sizeof ops[*n_ops].op, "%s", op);
        ops[(*n_ops)++].n = 1;
    }
}

static int cmp_count(const void *a, const void *b)
{
    const op_count *x = a, *y = b;
    return x->n != y->n ? y->n - x->n : strcmp(x->op, y->op);
}

int main(int argc, char **argv)
{
    options opt = {0};
    if (!parse_args(argc, argv, &opt))
        return usage();
    names models = {0}, expected = {0}, passed = {0};
    if (opt.expected && !read_list(opt.expected, &expected)) {
        fprintf(stderr, "kiln_onnx_test: cannot read %s\n", opt.expected);
        return 2;
    }
    list_models(&opt, &models);
    if (models.n == 0) {
        fprintf(stderr, "kiln_onnx_test: no models under %s%s%s\n", opt.data,
                opt.filter ? " match the filter " : " (install libonnx-testdata)",
                opt.filter ? opt.filter : "");
        names_free(&expected);
        return 2;
    }
    int count[OUTCOME_COUNT] = {0}, regressions = 0, n_fail_ops = 0, n_skip_ops = 0;
    op_count fail_ops[256], skip_ops[256];
    slow slowest = {{0}, {NULL}};
    double start = now_seconds();
    for (size_t i = 0; i < models.n; i++) {
        char dir[4096];
        result r;
        snprintf(dir, sizeof dir, "%s/%s", opt.data, models.v[i]);
        double t0 = now_seconds();
        run_model(&opt, dir, &r);
        note_time(&slowest, models.v[i], now_seconds() - t0);
        count[r.what]++;
        bool ok = r.what == PASSED || r.what == PASSED_BOUND || r.what == PASSED_ALL_BOUND;
        if (ok)
            names_add(&passed, models.v[i]);
        if (r.what == FAILED)
            count_op(fail_ops, &n_fail_ops, r.message);
        if (r.what == SKIPPED)
            count_op(skip_ops, &n_skip_ops, r.message);
        bool listed = names_has(&expected, models.v[i]);
        if (!ok && listed)
            regressions++;
        if (opt.verbose || r.what == FAILED || (!ok && listed))
            printf("%-8s %s: %s%s\n", ok ? "pass" : r.what == SKIPPED ? "skip" : "FAIL",
                   models.v[i], r.message, !ok && listed ? "  [REGRESSION]" : "");
        else if (r.what == SKIPPED)
            printf("skip     %s: %s\n", models.v[i], r.message);
        if (ok && opt.expected && !listed)
            printf("new pass %s (not yet in %s)\n", models.v[i], opt.expected);
    }
    qsort(fail_ops, (size_t)n_fail_ops, sizeof *fail_ops, cmp_count);
    qsort(skip_ops, (size_t)n_skip_ops, sizeof *skip_ops, cmp_count);
    printf("\nfailures by op:");
    for (int i = 0; i < n_fail_ops; i++)
        printf(" %s %d%s", fail_ops[i].op, fail_ops[i].n, i + 1 < n_fail_ops ? "," : "");
    printf("\nskips by op:");
    for (int i = 0; i < n_skip_ops; i++)
        printf(" %s %d%s", skip_ops[i].op, skip_ops[i].n, i + 1 < n_skip_ops ? "," : "");
    printf("\nslowest:");
    for (int k = 0; k < N_SLOWEST && slowest.model[k]; k++)
        printf(" %s %.3f s%s", slowest.model[k], slowest.seconds[k], k + 1 < N_SLOWEST ? "," : "");
    printf("\ntotal %.1f s for %zu models", now_seconds() - start, models.n);
    printf("\n%s: %d passed, %d failed, %d skipped", opt.mode,
           count[PASSED] + count[PASSED_BOUND] + count[PASSED_ALL_BOUND], count[FAILED],
           count[SKIPPED]);
    if (count[PASSED_BOUND] + count[PASSED_ALL_BOUND])
        printf(" (of the passes: %d static, %d with integer inputs bound, %d with all inputs bound)",
               count[PASSED], count[PASSED_BOUND], count[PASSED_ALL_BOUND]);
    if (opt.expected)
        printf("; %d regressions against %s (%zu listed)", regressions, opt.expected, expected.n);
    printf("\n");
    bool written = !opt.update || write_list(opt.update, opt.mode, &passed);
    if (!written)
        fprintf(stderr, "kiln_onnx_test: cannot write %s\n", opt.update);
    names_free(&models);
    names_free(&expected);
    names_free(&passed);
    return !written ? 2 : regressions ? 1 : 0;
}
