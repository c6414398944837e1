/* onnx_test.c — runs the ONNX backend test models (Debian libonnx-testdata)
 * through kiln and compares with their expected outputs.
 *
 *   kiln_onnx_test --mode import|run|roundtrip [--data DIR] [--filter SUBSTR]
 *                  [--expected LIST] [--update LIST] [--verbose]
 *                  [--passes PIPELINE | -O N] [--threads N]
 *                  [--work DIR] [--runtime LIBKRT] [--jobs N] [--keep]   (c, llvm)
 *                  [--stride N]  (every Nth model of the sorted list only)
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
 * c          every model through the C backend, in three batched steps
 *            (see "compiled modes" below): generate the C of every model
 *            in this process (as `kiln compile --emit c` does, default -O2
 *            pipeline, symbolic dims bound from test_data_set_0), compile
 *            every model's NAME.c and NAME_weights.c with $CC (--jobs at
 *            once) and link them all with ONE build of the runtime
 *            (--runtime libkrt.a) into one shared library, then call each
 *            model's NAME_run through its ABI on every data set, with the
 *            run mode's tolerances. A model that does not compile as is
 *            (an attribute-like input: Reshape's shape, TopK's k) is
 *            compiled with test_data_set_0's integer inputs bound as
 *            constants, then with all of them, counted as the import mode
 *            counts them.
 * llvm       the same through the LLVM backend: one object per model
 *            (kiln_llvm_compile, as `kiln compile --backend llvm -o X.o`),
 *            all linked into one shared library.
 *
 * A model rejected with KILN_ERR_UNSUPPORTED counts as skipped (with its
 * reason); any other error, a wrong result or a crash counts as failed.
 * Each model runs in a child process, so a crash fails one model, not the
 * run. With --expected, a model on the list that does not pass is a
 * regression and the exit status is 1; models passing but not listed are
 * printed so the list can be extended (--update rewrites it).
 */
#define _GNU_SOURCE
#include "backends/c/cgen.h"
#include "backends/c/cgen_internal.h"
#include "backends/llvm/llvm.h"
#include "frontend/frontend.h"
#include "passes/pass.h"
#include "ir/interp.h"
#include "ir/text.h"
#include "runtime/kiln_model.h"
#include "runtime/krt.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
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
    /* c and llvm modes */
    const char *work;     /* --work DIR: generated sources, objects, the library */
    const char *runtime;  /* --runtime LIB: the runtime archive the C models link with */
    int jobs;             /* --jobs N: compilers at once (default: one per CPU) */
    int stride;           /* --stride N: only every Nth model of the sorted list (a sample) */
    bool keep;            /* --keep: leave DIR behind (else removed after a run) */
    int phase;            /* PHASE_GENERATE or PHASE_RUN (set by the suite) */
    void *lib;            /* PHASE_RUN: WORK/models.so, opened */
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

/* ---- compiled modes (c, llvm) ----------------------------------------------------
 *
 * 984 models through `kiln compile` and a C compiler one by one would take
 * an hour (each `kiln compile` builds its own copy of the runtime), so the
 * work is batched into three steps over the whole list:
 *
 *   generate  one child process per model (--jobs at once; a crash fails
 *             one model) loads,
 *             binds, runs the default pipeline, plans for one thread and
 *             writes WORK/gen/NAME/ (c: kiln_cgen_emit) or WORK/obj/NAME.o
 *             (llvm: kiln_llvm_compile, an object whose only globals are
 *             the three NAME_ symbols). NAME is m<index>_<test name>, so
 *             every model's symbols are unique.
 *   build     c: $CC compiles each model's NAME.c and NAME_weights.c (the
 *             runtime files copied beside them are not compiled: every
 *             model links the one runtime archive --runtime), --jobs at
 *             once; then every object is linked into WORK/models.so.
 *   run       models.so is opened once; one child per model finds NAME_info,
 *             NAME_run and NAME_workspace_size, checks every data set's
 *             inputs against NAME_info, calls NAME_run on 64-byte aligned
 *             buffers and compares with the run mode's compare().
 */

enum { PHASE_GENERATE, PHASE_RUN };

static bool compiled_mode(const options *opt)
{
    return strcmp(opt->mode, "c") == 0 || strcmp(opt->mode, "llvm") == 0;
}

/* The C name of model i ("node/test_abs" -> "m0001_test_abs"). */
static void model_cname(size_t i, const char *model, char *out, size_t size)
{
    char text[256], name[128];
    const char *slash = strrchr(model, '/');
    snprintf(text, sizeof text, "m%04zu_%.200s", i, slash ? slash + 1 : model);
    kiln_cgen_c_name(text, name, sizeof name);
    snprintf(out, size, "%s", name);
}

/* Which data-set inputs the compiled model takes (WORK/NAME.inputs): the
 * binding stage and, in order, the index of each input left unbound. */
typedef struct input_map {
    int stage;           /* 0: none bound; 1: integer inputs bound; 2: all bound */
    int n_kept, n_orig;
    int kept[64];
} input_map;

/* Load, bind symbolic dims from test_data_set_0 and, from stage 1 on, its
 * integer and bool inputs (stage 2: every input) as constants, as the
 * import mode does; infer, run the pipeline (--passes, -O N, or the
 * default level's, as `kiln compile` does), then plan. */
static kiln_status prepare_compiled(kiln_ctx *ctx, const char *dir, const options *opt, int stage,
                                    kiln_graph **g, kiln_plan **plan, input_map *map)
{
    char path[4096];
    dataset d0 = {0};
    uint32_t orig[64];
    path_join(path, sizeof path, dir, "model.onnx");
    kiln_status st = kiln_onnx_load(ctx, path, g);
    if (st)
        return st;
    path_join(path, sizeof path, dir, "test_data_set_0");
    const char *passes = opt->passes ? opt->passes : kiln_pipeline_for_level(KILN_DEFAULT_OPT_LEVEL);
    map->stage = stage;
    map->n_orig = (int)((*g)->n_inputs < 64 ? (*g)->n_inputs : 64);
    if (map->n_orig)  /* (a model without inputs has no input array) */
        memcpy(orig, (*g)->inputs, (size_t)map->n_orig * sizeof *orig);
    if (!(st = read_dataset(ctx, path, &d0)))
        fix_bf16(*g, &d0);
    if (!st && (*g)->n_inputs > 64)
        st = kiln_error(ctx, KILN_ERR_UNSUPPORTED, "more than 64 inputs");
    if (!st && !(st = bind_input_shapes(ctx, *g, &d0)) && stage > 0)
        st = bind_inputs(ctx, *g, orig, (uint32_t)map->n_orig, &d0, stage == 2);
    map->n_kept = 0;
    for (int k = 0; !st && k < map->n_orig; k++)
        if ((*g)->values[orig[k]].kind == KILN_VAL_INPUT)
            map->kept[map->n_kept++] = k;
    if (!st && !(st = kiln_graph_infer(ctx, *g)) && !(st = run_passes(ctx, *g, passes)) &&
        !(st = kiln_plan_memory(ctx, *g, &(kiln_plan_opts){.threads = 1}, plan)))
        st = kiln_plan_check(ctx, *g, *plan);
    dataset_free(&d0);
    return st;
}

static void map_path(const options *opt, const char *cname, char *out, size_t size)
{
    snprintf(out, size, "%s/%s.inputs", opt->work, cname);
}

static bool write_map(const options *opt, const char *cname, const input_map *map)
{
    char path[4200];
    map_path(opt, cname, path, sizeof path);
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    fprintf(f, "%d %d %d", map->stage, map->n_orig, map->n_kept);
    for (int k = 0; k < map->n_kept; k++)
        fprintf(f, " %d", map->kept[k]);
    fprintf(f, "\n");
    return fclose(f) == 0;
}

static bool read_map(const options *opt, const char *cname, input_map *map)
{
    char path[4200];
    map_path(opt, cname, path, sizeof path);
    FILE *f = fopen(path, "r");
    bool ok = f && fscanf(f, "%d %d %d", &map->stage, &map->n_orig, &map->n_kept) == 3 &&
              map->n_kept >= 0 && map->n_kept <= 64;
    for (int k = 0; ok && k < map->n_kept; k++)
        ok = fscanf(f, "%d", &map->kept[k]) == 1;
    if (f)
        fclose(f);
    return ok;
}

/* One model's code: C sources or an object. */
static kiln_status emit_model(kiln_ctx *ctx, const options *opt, const kiln_graph *g,
                              const kiln_plan *plan, const char *cname, const char *model)
{
    char out[4096];
    if (strcmp(opt->mode, "c") == 0) {
        snprintf(out, sizeof out, "%s/gen/%s", opt->work, cname);
        return kiln_cgen_emit(ctx, g, plan, &(kiln_cgen_opts){.name = cname, .model_path = model},
                              out, NULL);
    }
    snprintf(out, sizeof out, "%s/obj/%s.o", opt->work, cname);
    kiln_llvm_opts lo = {.name = cname, .model_path = model, .opt_level = 3,
                         .emit = KILN_LLVM_EMIT_OBJ};
    return kiln_llvm_compile(ctx, g, plan, &lo, out, NULL);
}

/* Stage 0 first; when it fails (a shape or an attribute-like input known
 * only at run time: Reshape's shape, Unsqueeze's axes, TopK's k, ...),
 * again with the integer inputs bound, then with every input bound. A
 * model that compiles at no stage reports stage 0's error. */
static outcome check_generate(kiln_ctx *ctx, const char *dir, const options *opt,
                              const char *cname, result *r)
{
    char path[4096], first[2048] = "";
    kiln_status st0 = KILN_OK;
    bool done = false;
    int prev_kept = -1;
    input_map map = {0};
    path_join(path, sizeof path, dir, "model.onnx");
    for (int stage = 0; stage < 3 && !done; stage++) {
        kiln_graph *g = NULL;
        kiln_plan *plan = NULL;
        kiln_status st = prepare_compiled(ctx, dir, opt, stage, &g, &plan, &map);
        bool loaded = g != NULL, fresh = st || map.n_kept != prev_kept;
        if (!st && fresh)  /* (with nothing more bound than before, no new attempt) */
            st = emit_model(ctx, opt, g, plan, cname, path);
        kiln_plan_destroy(plan);
        kiln_graph_destroy(g);
        done = !st && fresh;
        if (stage == 0 && st) {
            st0 = st;
            snprintf(first, sizeof first, "%s", kiln_ctx_message(ctx));
        }
        if (!loaded)  /* no binding helps a model that does not load */
            break;
        prev_kept = map.n_kept;
    }
    if (!done)
        return set(r, st0 == KILN_ERR_UNSUPPORTED ? SKIPPED : FAILED, "%s", first);
    if (!write_map(opt, cname, &map))
        return set(r, FAILED, "cannot write %s/%s.inputs", opt->work, cname);
    return set(r, PASSED, "generated");
}

/* NAME_info's dtype number as a kiln_dtype (UNDEF when unknown). */
static kiln_dtype dtype_from_abi(int32_t d)
{
    for (int k = 1; k < KILN_DT_COUNT; k++)
        if (kiln_cgen_abi_dtype((kiln_dtype)k) == d)
            return (kiln_dtype)k;
    return KILN_DT_UNDEF;
}

static kiln_tensor abi_tensor(const kiln_model_tensor *t)
{
    return (kiln_tensor){.dtype = dtype_from_abi(t->dtype), .shape = kiln_shape_make(t->rank, t->dims),
                         .nbytes = (size_t)t->nbytes};
}

static void *aligned_copy(const void *data, size_t nbytes)
{
    void *p = aligned_alloc(64, (nbytes + 63) / 64 * 64 + 64);
    if (p && data && nbytes)
        memcpy(p, data, nbytes);
    else if (p)
        memset(p, 0, 64);
    return p;
}

typedef int (*model_run_fn)(const void *const *, void *const *, void *);
typedef size_t (*model_ws_fn)(void);

/* True when data set input j is one the model was compiled with bound. */
static bool is_bound(const input_map *map, int j)
{
    for (int k = 0; k < map->n_kept; k++)
        if (map->kept[k] == j)
            return false;
    return true;
}

/* One data set through NAME_run; its bound inputs must hold set 0's values. */
static outcome run_compiled_dataset(kiln_ctx *ctx, const kiln_model_info *info, model_run_fn run,
                                    void *ws, const input_map *map, const dataset *d0,
                                    const char *dir, result *r)
{
    dataset d = {0};
    char why[1024], a[256], b[256];
    const void *ins[64] = {0};
    void *outs[64] = {0};
    kiln_status st = read_dataset(ctx, dir, &d);
    if (st)
        return from_status(r, ctx, st);
    const char *set_name = strrchr(dir, '/') + 1;
    outcome o = PASSED;
    if ((int)info->n_inputs != map->n_kept || d.n_inputs != map->n_orig ||
        (int)info->n_outputs != d.n_outputs || info->n_outputs > 64)
        o = set(r, FAILED, "%s: the compiled model has %u inputs (of %d) and %u outputs, the data "
                "set %d and %d", set_name, info->n_inputs, map->n_orig, info->n_outputs, d.n_inputs,
                d.n_outputs);
    for (int j = 0; o == PASSED && j < d.n_inputs; j++)
        if (is_bound(map, j) && (j >= d0->n_inputs || d.inputs[j].nbytes != d0->inputs[j].nbytes ||
                                 memcmp(d.inputs[j].data, d0->inputs[j].data, d.inputs[j].nbytes)))
            o = set(r, FAILED, "%s: input %d was bound to test_data_set_0's value to compile the "
                    "model, and this data set changes it", set_name, j);
    for (uint32_t k = 0; o == PASSED && k < info->n_inputs; k++) {
        kiln_tensor want = abi_tensor(&info->inputs[k]);
        kiln_tensor *got = &d.inputs[map->kept[k]];
        if (want.dtype == KILN_DT_BF16 && got->dtype == KILN_DT_U16)  /* as fix_bf16 */
            got->dtype = KILN_DT_BF16;
        if (want.dtype != got->dtype || !kiln_shape_equal(&want.shape, &got->shape) ||
            want.nbytes != got->nbytes)
            o = set(r, FAILED, "%s: input %d: the compiled model takes %s%s, the data set has %s%s",
                    set_name, map->kept[k], kiln_dtype_name(want.dtype),
                    kiln_shape_format(NULL, &want.shape, a, sizeof a), kiln_dtype_name(got->dtype),
                    kiln_shape_format(NULL, &got->shape, b, sizeof b));
        else
            ins[k] = aligned_copy(got->data, got->nbytes);
    }
    for (uint32_t k = 0; o == PASSED && k < info->n_outputs; k++)
        outs[k] = aligned_copy(NULL, (size_t)info->outputs[k].nbytes);
    int rc = o == PASSED ? run(ins, outs, ws) : 0;
    if (rc)
        o = set(r, FAILED, "%s: %s_run returned %d", set_name, info->name, rc);
    for (uint32_t k = 0; o == PASSED && k < info->n_outputs; k++) {
        kiln_tensor got = abi_tensor(&info->outputs[k]);
        got.data = outs[k];
        if (got.dtype == KILN_DT_BF16 && d.outputs[k].dtype == KILN_DT_U16)
            d.outputs[k].dtype = KILN_DT_BF16;
        if (!compare(NULL, &got, &d.outputs[k], k, why, sizeof why))
            o = set(r, FAILED, "%s: %s", set_name, why);
    }
    for (uint32_t k = 0; k < 64; k++) {
        free((void *)ins[k]);
        free(outs[k]);
    }
    dataset_free(&d);
    return o;
}

static void *model_symbol(void *lib, const char *cname, const char *suffix)
{
    char sym[300];
    snprintf(sym, sizeof sym, "%s%s", cname, suffix);
    return dlsym(lib, sym);
}

static outcome check_compiled(kiln_ctx *ctx, const char *dir, const options *opt,
                              const char *cname, result *r)
{
    static const outcome stage_outcome[] = {PASSED, PASSED_BOUND, PASSED_ALL_BOUND};
    void *lib = opt->lib;
    input_map map;
    dataset d0 = {0};
    char path0[4096];
    if (!read_map(opt, cname, &map) || map.stage < 0 || map.stage > 2)
        return set(r, FAILED, "cannot read %s/%s.inputs", opt->work, cname);
    const kiln_model_info *info = model_symbol(lib, cname, "_info");
    void *run_sym = model_symbol(lib, cname, "_run"), *ws_sym = model_symbol(lib, cname, "_workspace_size");
    if (!info || !run_sym || !ws_sym)
        return set(r, FAILED, "the library lacks %s_info, %s_run or %s_workspace_size", cname, cname, cname);
    model_run_fn run;
    model_ws_fn ws_size;
    memcpy(&run, &run_sym, sizeof run);  /* object to function pointer, as dlsym's users must */
    memcpy(&ws_size, &ws_sym, sizeof ws_size);
    if (info->abi_version != KILN_MODEL_ABI_VERSION || info->size != sizeof *info ||
        strcmp(info->name, cname) != 0 || ws_size() != info->workspace_size)
        return set(r, FAILED, "%s_info: wrong ABI version, size, name or workspace size", cname);
    path_join(path0, sizeof path0, dir, "test_data_set_0");
    kiln_status st = read_dataset(ctx, path0, &d0);
    if (st)
        return from_status(r, ctx, st);
    void *ws = aligned_copy(NULL, (size_t)info->workspace_size);
    outcome o = PASSED;
    for (int s = 0; o == PASSED; s++) {
        char name[32], path[4096];
        snprintf(name, sizeof name, "test_data_set_%d", s);
        path_join(path, sizeof path, dir, name);
        if (!file_exists(path))
            break;
        o = run_compiled_dataset(ctx, info, run, ws, &map, &d0, path, r);
    }
    if (o == PASSED)
        o = set(r, stage_outcome[map.stage], "all data sets match%s", map.stage == 1
                ? " (integer inputs bound)" : map.stage == 2 ? " (all inputs bound)" : "");
    free(ws);
    dataset_free(&d0);
    return o;
}

/* ---- compiled modes: the build step ---- */

typedef struct job {
    pid_t pid;
    size_t model;
} job;

/* Start argv in directory `cwd` with stdout and stderr to `log`. */
static pid_t spawn(char *const argv[], const char *cwd, const char *log)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || chdir(cwd) != 0)
        _exit(126);
    dup2(fd, 1);
    dup2(fd, 2);
    execvp(argv[0], argv);
    fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* The first line of `log` that says "error" (else its first line). */
static void log_excerpt(const char *log, char *out, size_t size)
{
    FILE *f = fopen(log, "r");
    char line[1024];
    out[0] = 0;
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (!out[0] || strstr(line, "error"))
            snprintf(out, size, "%s", line);
        if (strstr(line, "error"))
            break;
    }
    if (f)
        fclose(f);
}

static const char *c_compiler(void)
{
    const char *cc = getenv("CC");
    return cc && *cc ? cc : "cc";
}

/* c: compile NAME.c and NAME_weights.c of every generated model, jobs at
 * once; a model whose compile fails becomes FAILED. */
static void compile_models(const options *opt, const names *cnames, result *res)
{
    job *running = kiln_xcalloc((size_t)opt->jobs, sizeof *running);
    int n_running = 0;
    size_t next = 0;
    for (;;) {
        while (n_running < opt->jobs && next < cnames->n) {
            size_t i = next++;
            if (res[i].what != PASSED)
                continue;
            char cwd[4096], log[4200], src[300], weights[300];
            snprintf(cwd, sizeof cwd, "%s/gen/%s", opt->work, cnames->v[i]);
            snprintf(log, sizeof log, "%s/cc.log", cwd);
            snprintf(src, sizeof src, "%s.c", cnames->v[i]);
            snprintf(weights, sizeof weights, "%s_weights.c", cnames->v[i]);
            char *argv[] = {(char *)c_compiler(), "-std=c11", "-O1", "-fPIC", "-c", src, weights, NULL};
            running[n_running++] = (job){spawn(argv, cwd, log), i};
        }
        if (n_running == 0)
            break;
        int status;
        pid_t done = wait(&status);
        for (int k = 0; k < n_running; k++) {
            if (running[k].pid != done)
                continue;
            size_t i = running[k].model;
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                char log[4200], line[1024];
                snprintf(log, sizeof log, "%s/gen/%s/cc.log", opt->work, cnames->v[i]);
                log_excerpt(log, line, sizeof line);
                set(&res[i], FAILED, "%s failed on the generated C: %s", c_compiler(), line);
            }
            running[k] = running[--n_running];
            break;
        }
    }
    free(running);
}

/* Link every built model (and the runtime, for c) into WORK/models.so;
 * false (after printing the linker's messages) when the link fails. */
static bool link_models(const options *opt, const names *cnames, const result *res)
{
    bool c = strcmp(opt->mode, "c") == 0;
    char **argv = kiln_xcalloc(2 * cnames->n + 16, sizeof *argv), log[4200];
    size_t n = 0;
    argv[n++] = strdup(c_compiler());
    argv[n++] = strdup("-shared");
    argv[n++] = strdup("-o");
    argv[n++] = strdup("models.so");
    for (size_t i = 0; i < cnames->n; i++) {
        char obj[400];
        if (res[i].what != PASSED)
            continue;
        if (c) {
            snprintf(obj, sizeof obj, "gen/%s/%s.o", cnames->v[i], cnames->v[i]);
            argv[n++] = strdup(obj);
            snprintf(obj, sizeof obj, "gen/%s/%s_weights.o", cnames->v[i], cnames->v[i]);
        } else {
            snprintf(obj, sizeof obj, "obj/%s.o", cnames->v[i]);
        }
        argv[n++] = strdup(obj);
    }
    char *runtime = c ? realpath(opt->runtime, NULL) : NULL;  /* the linker runs in WORK */
    if (c)
        argv[n++] = runtime ? runtime : strdup(opt->runtime);
    argv[n++] = strdup("-lm");
    argv[n++] = strdup("-lpthread");
    snprintf(log, sizeof log, "%s/link.log", opt->work);
    int status = 0;
    pid_t pid = spawn(argv, opt->work, log);
    waitpid(pid, &status, 0);
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok) {
        char cmd[4300];
        fprintf(stderr, "kiln_onnx_test: linking %s/models.so failed:\n", opt->work);
        snprintf(cmd, sizeof cmd, "head -c 4000 '%s' >&2", log);
        if (system(cmd) != 0)
            fprintf(stderr, "(see %s)\n", log);
    }
    for (size_t i = 0; i < n; i++)
        free(argv[i]);
    free(argv);
    return ok;
}

/* ---- one model in a child process ---------------------------------------------- */

static void run_child(const options *opt, const char *dir, const char *cname, int fd)
{
    result r = {FAILED, ""};
    kiln_ctx *ctx = kiln_ctx_create();
    alarm(MODEL_TIMEOUT_S);
    if (compiled_mode(opt) && opt->phase == PHASE_GENERATE)
        check_generate(ctx, dir, opt, cname, &r);
    else if (compiled_mode(opt))
        check_compiled(ctx, dir, opt, cname, &r);
    else if (strcmp(opt->mode, "import") == 0)
        check_import(ctx, dir, &r);
    else if (strcmp(opt->mode, "run") == 0)
        check_run(ctx, dir, opt, &r);
    else
        check_roundtrip(ctx, dir, &r);
    kiln_ctx_destroy(ctx);
    ssize_t w = write(fd, &r, sizeof r);
    _exit(w == (ssize_t)sizeof r ? 0 : 3);
}

static void run_model(const options *opt, const char *dir, const char *cname, result *r)
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
        run_child(opt, dir, cname, fds[1]);
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

static double now_seconds(void);

/* Models todo[0..n) at most `jobs` at once, each in its own child as in
 * run_model; a result is at most a few KB, so a child's write fits in the
 * pipe and completes before it exits, and the pipe is read after the wait. */
typedef struct child_slot {
    pid_t pid;
    int fd;
    size_t model;
    double t0;
} child_slot;

static void run_models_parallel(const options *opt, const names *models, const names *cnames,
                                const size_t *todo, size_t n, result *res, double *seconds)
{
    _Static_assert(sizeof(result) < 4096, "a result must fit in a pipe's atomic write");
    child_slot *slots = kiln_xcalloc((size_t)opt->jobs, sizeof *slots);
    int n_running = 0;
    size_t next = 0;
    while (next < n || n_running > 0) {
        while (n_running < opt->jobs && next < n) {
            size_t i = todo[next++];
            char dir[4096];
            int fds[2];
            snprintf(dir, sizeof dir, "%s/%s", opt->data, models->v[i]);
            if (pipe(fds) != 0) {
                set(&res[i], FAILED, "pipe failed");
                continue;
            }
            fflush(NULL);
            pid_t pid = fork();
            if (pid == 0) {
                close(fds[0]);
                run_child(opt, dir, cnames->v[i], fds[1]);
            }
            close(fds[1]);
            slots[n_running++] = (child_slot){pid, fds[0], i, now_seconds()};
        }
        int status = 0;
        pid_t done = wait(&status);
        if (done < 0)
            break;
        for (int k = 0; k < n_running; k++) {
            if (slots[k].pid != done)
                continue;
            result *r = &res[slots[k].model];
            ssize_t got = read(slots[k].fd, r, sizeof *r);
            close(slots[k].fd);
            if (got != (ssize_t)sizeof *r && WIFSIGNALED(status))
                set(r, FAILED, "crashed with signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
            else if (got != (ssize_t)sizeof *r)
                set(r, FAILED, "child exited with status %d without a result", WEXITSTATUS(status));
            seconds[slots[k].model] += now_seconds() - slots[k].t0;
            slots[k] = slots[--n_running];
            break;
        }
    }
    free(slots);
}

/* ---- the model list and the expected-pass list (continued) ------------------ */

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
    size_t kept = 0;
    for (size_t i = 0; i < out->n; i++) {  /* --stride N: models 0, N, 2N, ... */
        if (opt->stride > 1 && i % (size_t)opt->stride != 0)
            free(out->v[i]);
        else
            out->v[kept++] = out->v[i];
    }
    out->n = kept;
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

/* ---- compiled modes: the three steps over the whole list ---- */

static bool remove_tree(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return strchr(dir, '\'') == NULL && system(cmd) == 0;
}

/* res[i] and seconds[i] for every model; phase times on stdout. */
static bool run_compiled_suite(options *opt, const names *models, result *res, double *seconds)
{
    names cnames = {0};
    char path[4200];
    bool c = strcmp(opt->mode, "c") == 0;
    snprintf(path, sizeof path, "%s/%s", opt->work, c ? "gen" : "obj");
    if (!remove_tree(opt->work) || mkdir(opt->work, 0777) != 0 || mkdir(path, 0777) != 0) {
        fprintf(stderr, "kiln_onnx_test: cannot create %s: %s\n", path, strerror(errno));
        return false;
    }
    size_t *todo = kiln_xcalloc(models->n + 1, sizeof *todo), n_todo = 0;
    for (size_t i = 0; i < models->n; i++) {
        char cname[128];
        model_cname(i, models->v[i], cname, sizeof cname);
        names_add(&cnames, cname);
        todo[n_todo++] = i;
    }
    double t0 = now_seconds();
    opt->phase = PHASE_GENERATE;
    run_models_parallel(opt, models, &cnames, todo, n_todo, res, seconds);
    double t1 = now_seconds();
    if (c)
        compile_models(opt, &cnames, res);
    double t2 = now_seconds();
    bool linked = link_models(opt, &cnames, res);
    double t3 = now_seconds();
    snprintf(path, sizeof path, "%s/models.so", opt->work);
    opt->lib = linked ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : NULL;
    if (linked && !opt->lib)
        fprintf(stderr, "kiln_onnx_test: %s\n", dlerror());
    n_todo = 0;
    for (size_t i = 0; i < models->n; i++) {
        if (res[i].what != PASSED)
            continue;
        if (opt->lib)
            todo[n_todo++] = i;
        else
            set(&res[i], FAILED, "built, but WORK/models.so did not link or load (see above)");
    }
    opt->phase = PHASE_RUN;
    run_models_parallel(opt, models, &cnames, todo, n_todo, res, seconds);
    free(todo);
    double t4 = now_seconds();
    printf("%s backend: generate %.1f s, compile %.1f s (%s, %d jobs), link %.1f s, run %.1f s\n",
           opt->mode, t1 - t0, t2 - t1, c ? c_compiler() : "in the generate step", opt->jobs,
           t3 - t2, t4 - t3);
    if (opt->lib)
        dlclose(opt->lib);
    opt->lib = NULL;
    names_free(&cnames);
    if (!opt->keep && !remove_tree(opt->work))
        fprintf(stderr, "kiln_onnx_test: could not remove %s\n", opt->work);
    return true;
}

/* ---- main -------------------------------------------------------------------------- */

static int usage(void)
{
    fprintf(stderr, "usage: kiln_onnx_test --mode import|run|roundtrip|c|llvm [--data DIR]\n"
                    "                      [--filter SUBSTR] [--expected LIST] [--update LIST] [--verbose]\n"
                    "                      [--passes PIPELINE | -O N] [--threads N]  (run, c, llvm)\n"
                    "                      --work DIR [--runtime LIBKRT.a] [--jobs N] [--keep]  (c, llvm)\n"
                    "                      [--stride N]  (only every Nth model: a sample)\n");
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
        if (strcmp(argv[i], "--keep") == 0) {
            opt->keep = true;
            continue;
        }
        if (strcmp(argv[i], "--mode") == 0) slot = &opt->mode;
        else if (strcmp(argv[i], "--data") == 0) slot = &opt->data;
        else if (strcmp(argv[i], "--filter") == 0) slot = &opt->filter;
        else if (strcmp(argv[i], "--expected") == 0) slot = &opt->expected;
        else if (strcmp(argv[i], "--update") == 0) slot = &opt->update;
        else if (strcmp(argv[i], "--passes") == 0) slot = &opt->passes;
        else if (strcmp(argv[i], "--work") == 0) slot = &opt->work;
        else if (strcmp(argv[i], "--runtime") == 0) slot = &opt->runtime;
        else if (strcmp(argv[i], "--jobs") == 0 && i + 1 < argc) {
            opt->jobs = atoi(argv[++i]);
            continue;
        } else if (strcmp(argv[i], "--stride") == 0 && i + 1 < argc) {
            opt->stride = atoi(argv[++i]);
            continue;
        }
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
    if (opt->jobs <= 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        opt->jobs = cpus > 0 ? (int)cpus : 1;
    }
    if (opt->mode && compiled_mode(opt))  /* c needs the runtime archive; both a work directory */
        return opt->work && opt->work[0] && strcmp(opt->work, "/") != 0 &&
               strchr(opt->work, '\'') == NULL &&
               (strcmp(opt->mode, "llvm") == 0 || opt->runtime);
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
    result *results = kiln_xcalloc(models.n, sizeof *results);
    double *seconds = kiln_xcalloc(models.n, sizeof *seconds);
    if (compiled_mode(&opt) && !run_compiled_suite(&opt, &models, results, seconds)) {
        free(results);
        free(seconds);
        names_free(&models);
        names_free(&expected);
        return 2;
    }
    for (size_t i = 0; i < models.n; i++) {
        char dir[4096];
        result r;
        snprintf(dir, sizeof dir, "%s/%s", opt.data, models.v[i]);
        if (!compiled_mode(&opt)) {
            double t0 = now_seconds();
            run_model(&opt, dir, NULL, &results[i]);
            seconds[i] = now_seconds() - t0;
        }
        r = results[i];
        note_time(&slowest, models.v[i], seconds[i]);
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
    free(results);
    free(seconds);
    names_free(&models);
    names_free(&expected);
    names_free(&passed);
    return !written ? 2 : regressions ? 1 : 0;
}
