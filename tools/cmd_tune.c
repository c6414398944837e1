/* cmd_tune.c — `kiln tune`: pick a token-reduction configuration under an
 * accuracy budget.
 *
 *   kiln tune MODEL --data IMAGES.npy --labels LABELS.npy --budget POINTS
 *             [--objective macs|latency] [--out CONFIG] [--space KINDS]
 *             [--max-candidates N] [--subset N] [--jobs N] [--runs N]
 *
 * Candidates (tools/tune_search.c) are compiled by the LLVM JIT, exactly as
 * `kiln run --backend llvm` compiles them (driver_load_model with the
 * candidate's token options, the one-thread memory plan, the JIT), once
 * each, at batch 1; a model with a symbolic batch is bound to 1 (one
 * compile gives both the accuracy and the latency). The images are run
 * through it in a loop, split over --jobs threads, each with its own
 * workspace (a compiled model is reentrant). Successive halving decides
 * which candidates see more images (docs/token-reduction.md, "kiln
 * tune"); the ones that reach the whole set are the finalists, their
 * latency is measured, the Pareto front printed, and the best one within
 * the budget is written: stdout's last line and --out CONFIG hold the
 * option string `kiln compile` takes.
 */
#define _POSIX_C_SOURCE 200809L
#include "backends/llvm/llvm.h"
#include "passes/plan.h"
#include "runtime/kiln_model.h"
#include "runtime/krt_npy.h"
#include "tools/run.h"
#include "tools/tune.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define Z_SCORE 2.0 /* confidence of the halving's decisions (about 97.7% one-sided) */

typedef struct tune_opts {
    const char *model, *data, *labels, *out;
    double budget;           /* accuracy points */
    bool latency;            /* --objective latency */
    int kinds;               /* --space */
    long max_candidates;     /* 0: no limit */
    long subset;             /* images of the first rung */
    long jobs;               /* evaluation threads */
    long runs;               /* latency: timed runs per finalist */
} tune_opts;

/* What the whole search shares. */
typedef struct tuner {
    const tune_opts *o;
    kiln_ctx *ctx;
    char shape_spec[512];    /* --shape binding the input's symbols (batch 1), or "" */
    const float *images;     /* [n_images, image_elems], the data as given */
    size_t image_bytes;
    uint32_t n_images, n_classes;
    int16_t *labels;         /* in shuffled order */
    uint32_t *order;         /* shuffled position -> row of the data */
    tune_space space;
    tune_list list;
} tuner;

/* A compiled candidate. */
typedef struct exec_model {
    kiln_llvm_jit_model jm;
    size_t ws_size, in_bytes, out_bytes;
} exec_model;

static void help(void)
{
    printf("usage: kiln tune MODEL --data IMAGES.npy --labels LABELS.npy --budget POINTS [options]\n\n"
           "Search the token-reduction configurations of MODEL (token merging, pruning,\n"
           "pooling, attention sharing: docs/token-reduction.md) for the cheapest one whose\n"
           "top-1 accuracy on the labelled images is at most POINTS percentage points below\n"
           "the exact model's. Candidates are compiled (LLVM JIT, as 'kiln run --backend\n"
           "llvm') and evaluated by successive halving over the images; the Pareto front\n"
           "of the configurations evaluated on all images is printed, and the chosen\n"
           "configuration's option string (what 'kiln compile' takes) is stdout's last\n"
           "line. Progress goes to stderr.\n\n"
           "options:\n"
           "  --data IMAGES.npy       float32 [N, ...]: N inputs of the model's one input,\n"
           "                          batch dimension left out or as axis 1 of size 1,\n"
           "                          normalised as the model expects\n"
           "  --labels LABELS.npy     integer [N]: the class of each image (an index into the\n"
           "                          model's first output)\n"
           "  --budget POINTS         accuracy points the configuration may lose, (0, 100]\n"
           "  --objective macs|latency\n"
           "                          what 'cheapest' means (default macs: multiply-adds per\n"
           "                          image; latency: the median batch-1 time measured here)\n"
           "  --out CONFIG            also write the option string to CONFIG (atomically)\n"
           "  --space KINDS           the kinds searched, comma-separated from merge, prune,\n"
           "                          pool, share, combine (the first rung's best of different\n"
           "                          kinds combined), or all (default)\n"
           "  --max-candidates N      evaluate at most the first N configurations of the space\n"
           "  --subset N              images of the first rung (default 250); each rung has 4x\n"
           "                          more, the last all of them\n"
           "  --jobs N                evaluation threads (default 2; latency runs on one)\n"
           "  --runs N                timed batch-1 runs per finalist (default 15; the median\n"
           "                          and the best are reported: on a loaded machine the\n"
           "                          median includes runs that lost the CPU)\n"
           "  -h, --help              this help\n\n"
           "Exit status: 0 success, 1 error in the model or data, 2 usage error.\n");
}

static bool parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno == ERANGE || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static int parse_space(const char *text, int *kinds)
{
    static const struct {
        const char *name;
        int bits;
    } table[] = {{"merge", TUNE_MERGE}, {"prune", TUNE_PRUNE}, {"pool", TUNE_POOL},
                 {"share", TUNE_SHARE}, {"combine", TUNE_COMBINE}, {"all", TUNE_ALL}};
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    *kinds = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int bits = 0;
        for (size_t k = 0; k < sizeof table / sizeof table[0]; k++)
            if (strcmp(tok, table[k].name) == 0)
                bits = table[k].bits;
        if (!bits)
            return driver_usage_error("tune", "--space: unknown kind '%s' (merge, prune, pool, "
                                              "share, combine or all)", tok);
        *kinds |= bits;
    }
    if (!(*kinds & (TUNE_MERGE | TUNE_PRUNE | TUNE_POOL | TUNE_SHARE)))
        return driver_usage_error("tune", "--space '%s' names no kind of reduction to search", text);
    return EXIT_OK;
}

static int parse_args(int argc, char **argv, tune_opts *o)
{
    *o = (tune_opts){.budget = -1, .kinds = TUNE_ALL, .subset = 250, .jobs = 2, .runs = 15};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            help();
            return -1;
        }
        if (strcmp(a, "--data") == 0 && has) {
            o->data = argv[++i];
        } else if (strcmp(a, "--labels") == 0 && has) {
            o->labels = argv[++i];
        } else if (strcmp(a, "--out") == 0 && has) {
            o->out = argv[++i];
        } else if (strcmp(a, "--budget") == 0 && has) {
            char *end;
            errno = 0;
            o->budget = strtod(argv[++i], &end);
            if (!*argv[i] || *end || errno || !(o->budget > 0 && o->budget <= 100))
                return driver_usage_error("tune", "--budget '%s': give the accuracy points the "
                                          "configuration may lose, a number in (0, 100] (e.g. 0.5)",
                                          argv[i]);
        } else if (strcmp(a, "--objective") == 0 && has) {
            const char *v = argv[++i];
            if (strcmp(v, "macs") != 0 && strcmp(v, "latency") != 0)
                return driver_usage_error("tune", "--objective '%s': macs or latency", v);
            o->latency = strcmp(v, "latency") == 0;
        } else if (strcmp(a, "--space") == 0 && has) {
            int rc = parse_space(argv[++i], &o->kinds);
            if (rc)
                return rc;
        } else if (strcmp(a, "--max-candidates") == 0 && has) {
            if (!parse_long(argv[++i], 1, 100000, &o->max_candidates))
                return driver_usage_error("tune", "--max-candidates takes a count from 1, not '%s'", argv[i]);
        } else if (strcmp(a, "--subset") == 0 && has) {
            if (!parse_long(argv[++i], 10, 100000000, &o->subset))
                return driver_usage_error("tune", "--subset takes an image count from 10, not '%s'", argv[i]);
        } else if (strcmp(a, "--jobs") == 0 && has) {
            if (!parse_long(argv[++i], 1, 64, &o->jobs))
                return driver_usage_error("tune", "--jobs takes a count from 1 to 64, not '%s'", argv[i]);
        } else if (strcmp(a, "--runs") == 0 && has) {
            if (!parse_long(argv[++i], 1, 100000, &o->runs))
                return driver_usage_error("tune", "--runs takes a count from 1, not '%s'", argv[i]);
        } else if (strncmp(a, "--token-", 8) == 0 || strcmp(a, "--attention-share") == 0 ||
                   strcmp(a, "--no-proportional-attention") == 0) {
            return driver_usage_error("tune", "%s: kiln tune searches the token-reduction options "
                                      "itself; give none", a);
        } else if (a[0] == '-' && a[1]) {
            return driver_usage_error("tune", "unknown option '%s'%s", a, has ? "" : " (or missing its argument)");
        } else if (!o->model) {
            o->model = a;
        } else {
            return driver_usage_error("tune", "unexpected argument '%s'", a);
        }
    }
    if (!o->model)
        return driver_usage_error("tune", "no model given");
    if (!o->data || !o->labels)
        return driver_usage_error("tune", "%s is missing: kiln tune measures accuracy on labelled "
                                  "images (--data IMAGES.npy --labels LABELS.npy)",
                                  !o->data ? "--data" : "--labels");
    if (o->budget < 0)
        return driver_usage_error("tune", "--budget is missing: the accuracy points the "
                                  "configuration may lose (e.g. --budget 0.5)");
    return EXIT_OK;
}

/* ---- the model and the data --------------------------------------------------- */

static void shape_text(int rank, const int64_t *dims, char *buf, size_t size)
{
    size_t at = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < rank && at < size; i++)
        at += (size_t)snprintf(buf + at, size - at, "%s%lld", i ? ", " : "", (long long)dims[i]);
    if (at < size)
        snprintf(buf + at, size - at, "]");
}

/* The model's one input [1 or symbol, ...] against the data [N, ...]
 * (or [N, 1, ...]): the --shape binding the input's symbols to batch 1 and
 * the data's other dims, in t->shape_spec. */
static kiln_status check_input(tuner *t, const kiln_graph *g, const krt_npy *data)
{
    const tune_opts *o = t->o;
    char want[256], got[256];
    if (g->n_inputs != 1)
        return kiln_error(t->ctx, KILN_ERR_UNSUPPORTED, "%s: kiln tune runs models with one input "
                          "(the image); this one has %u", o->model, g->n_inputs);
    const kiln_value *in = &g->values[g->inputs[0]];
    const kiln_shape *s = &in->shape;
    kiln_shape_format(g, s, want, sizeof want);
    shape_text(data->rank, data->dims, got, sizeof got);
    if (in->dtype != KILN_DT_F32)
        return kiln_error(t->ctx, KILN_ERR_UNSUPPORTED, "%s: input '%s' is %s; kiln tune feeds "
                          "float32 images", o->model, in->name, kiln_dtype_name(in->dtype));
    if (data->dtype != KRT_F32)
        return kiln_error(t->ctx, KILN_ERR_INVALID, "%s: the images must be float32 (the model's "
                          "input '%s' is f32%s), got %s: store them normalised as the model expects",
                          o->data, in->name, want, kiln_dtype_name((kiln_dtype)data->dtype));
    if (s->rank < 1 || (!KILN_DIM_IS_SYM(s->dim[0]) && s->dim[0] != 1))
        return kiln_error(t->ctx, KILN_ERR_UNSUPPORTED, "%s: input '%s' is %s; kiln tune needs a "
                          "batch dimension of 1 (or a symbolic one) first", o->model, in->name, want);
    /* [N, d1, ...] or [N, 1, d1, ...]: the per-image dims are the input's after its batch */
    int skip = data->rank == s->rank + 1 && data->rank >= 2 && data->dims[1] == 1 ? 2 : 1;
    bool fits = data->rank - skip == s->rank - 1 && data->dims[0] > 0;
    for (int d = 1; fits && d < s->rank; d++)
        fits = KILN_DIM_IS_SYM(s->dim[d]) || s->dim[d] == data->dims[d - 1 + skip];
    if (!fits) {
        char expect[256];
        size_t at = (size_t)snprintf(expect, sizeof expect, "[N");
        for (int d = 1; d < s->rank && at < sizeof expect; d++)
            at += KILN_DIM_IS_SYM(s->dim[d])
                      ? (size_t)snprintf(expect + at, sizeof expect - at, ", ?")
                      : (size_t)snprintf(expect + at, sizeof expect - at, ", %lld", (long long)s->dim[d]);
        if (at < sizeof expect)
            snprintf(expect + at, sizeof expect - at, "]");
        return kiln_error(t->ctx, KILN_ERR_INVALID, "%s: shape %s does not hold images of the "
                          "model's input '%s' %s: expected %s, N images each of the input's shape "
                          "without its batch dimension", o->data, got, in->name, want, expect);
    }
    bool symbolic = false;
    size_t at = (size_t)snprintf(t->shape_spec, sizeof t->shape_spec, "%s=1", in->name);
    for (int d = 0; d < s->rank; d++)
        symbolic |= KILN_DIM_IS_SYM(s->dim[d]);
    for (int d = 1; d < s->rank && at < sizeof t->shape_spec; d++)
        at += (size_t)snprintf(t->shape_spec + at, sizeof t->shape_spec - at, "x%lld",
                               (long long)data->dims[d - 1 + skip]);
    if (!symbolic)
        t->shape_spec[0] = 0;
    t->n_images = (uint32_t)data->dims[0];
    t->image_bytes = data->nbytes / (size_t)data->dims[0];
    return KILN_OK;
}

/* Labels: integers [N], each a class of the model's output. */
static kiln_status read_labels(tuner *t, const krt_npy *a)
{
    const tune_opts *o = t->o;
    char got[128];
    shape_text(a->rank, a->dims, got, sizeof got);
    if (a->dtype != KRT_I64 && a->dtype != KRT_I32 && a->dtype != KRT_U8 && a->dtype != KRT_I16 &&
        a->dtype != KRT_U16 && a->dtype != KRT_I8)
        return kiln_error(t->ctx, KILN_ERR_INVALID, "%s: labels must be integers (int64, int32, "
                          "...), got %s", o->labels, kiln_dtype_name((kiln_dtype)a->dtype));
    if (a->rank != 1)
        return kiln_error(t->ctx, KILN_ERR_INVALID, "%s: labels must be one-dimensional [N], got "
                          "shape %s", o->labels, got);
    if ((uint64_t)a->dims[0] != t->n_images)
        return kiln_error(t->ctx, KILN_ERR_INVALID, "%s: %lld labels for the %u images of %s: "
                          "give one label per image", o->labels, (long long)a->dims[0], t->n_images,
                          o->data);
    int16_t *raw = kiln_xcalloc(t->n_images, sizeof *raw);
    for (uint32_t i = 0; i < t->n_images; i++) {
        double v = krt_load_f64(a->dtype, a->data, i);
        if (v < 0 || v >= t->n_classes) {
            free(raw);
            return kiln_error(t->ctx, KILN_ERR_INVALID, "%s: label %.0f at index %u is not one "
                              "of the model's %u classes (0..%u)", o->labels, v, i, t->n_classes,
                              t->n_classes - 1);
        }
        raw[i] = (int16_t)v;
    }
    /* a fixed shuffle, so that every prefix (a rung) samples all the data:
     * test sets are often sorted by class */
    t->order = kiln_xcalloc(t->n_images, sizeof *t->order);
    t->labels = kiln_xcalloc(t->n_images, sizeof *t->labels);
    uint64_t state = 0x9e3779b97f4a7c15ull;
    for (uint32_t i = 0; i < t->n_images; i++)
        t->order[i] = i;
    for (uint32_t i = t->n_images; i > 1; i--) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t j = (uint32_t)((state >> 33) % i), tmp = t->order[i - 1];
        t->order[i - 1] = t->order[j];
        t->order[j] = tmp;
    }
    for (uint32_t i = 0; i < t->n_images; i++)
        t->labels[i] = raw[t->order[i]];
    free(raw);
    return KILN_OK;
}

/* ---- compiling and running one candidate ---------------------------------------- */

/* The candidate's graph: the model with its token options, through the
 * default pipeline, as `kiln run` loads it. MACs and tokens from it. */
static int load_candidate(tuner *t, kiln_ctx *ctx, tune_cand *c, kiln_graph **g)
{
    driver_model_opts mo = DRIVER_MODEL_OPTS_INIT;
    if (t->shape_spec[0])
        mo.shapes[mo.n_shapes++] = t->shape_spec;
    mo.tokens = (kiln_token_options){.merge = c->merge[0] ? c->merge : NULL,
                                     .prune = c->prune[0] ? c->prune : NULL,
                                     .pool = c->pool[0] ? c->pool : NULL,
                                     .share = c->share[0] ? c->share : NULL};
    int rc = driver_load_model(ctx, t->o->model, &mo, g);
    if (rc)
        return rc;
    kiln_token_census census;
    kiln_token_census_take(*g, &census);
    c->macs = census.macs;
    for (uint32_t l = 0; l < census.n_blocks && l < 16; l++)
        c->tokens[l] = census.tokens[l];
    return EXIT_OK;
}

static void exec_free(tune_cand *c)
{
    exec_model *e = c->exec;
    if (!e)
        return;
    kiln_llvm_jit_destroy(&e->jm);
    free(e);
    c->exec = NULL;
}

/* Load and compile c (ctx: the calling thread's). With `skip_costly`, a
 * candidate with no fewer MACs than the exact model is not compiled (its
 * MACs are known from the graph: the free proxy); c->exec stays NULL. */
static int compile_candidate(tuner *t, kiln_ctx *ctx, tune_cand *c, bool skip_costly)
{
    kiln_graph *g = NULL;
    double t0 = run_now_seconds();
    int rc = load_candidate(t, ctx, c, &g);
    if (rc)
        return rc;
    if (skip_costly && c->macs >= t->list.c[0].macs) {
        kiln_graph_destroy(g);
        return EXIT_OK;
    }
    exec_model *e = kiln_xcalloc(1, sizeof *e);
    /* as `kiln run --backend llvm` at the default -O2 (LLVM O3) */
    kiln_llvm_opts lo = {.name = "kiln_tune", .model_path = t->o->model, .opt_level = 3};
    kiln_plan *plan = NULL;
    kiln_status st = kiln_plan_memory(ctx, g, &(kiln_plan_opts){.threads = 1}, &plan);
    if (!st)
        st = kiln_llvm_jit_create(ctx, g, plan, &lo, &e->jm, NULL);
    kiln_plan_destroy(plan);
    kiln_graph_destroy(g);
    if (st) {
        free(e);
        return driver_fail(ctx);
    }
    const kiln_model_info *info = e->jm.info;
    e->ws_size = e->jm.workspace_size();
    e->in_bytes = info->inputs[0].nbytes;
    e->out_bytes = info->outputs[0].nbytes;
    KILN_ASSERT(e->in_bytes == t->image_bytes && e->out_bytes == 4 * (size_t)t->n_classes);
    c->exec = e;
    c->compile_s = run_now_seconds() - t0;
    return EXIT_OK;
}

/* 64-byte aligned buffers (NAME_run refuses others), rounded up. */
static void *aligned(size_t n)
{
    void *p = aligned_alloc(64, (n + 63) / 64 * 64 + 64);
    if (!p)
        abort();
    memset(p, 0, (n + 63) / 64 * 64 + 64);
    return p;
}

typedef struct worker {
    const tuner *t;
    tune_cand *c;
    uint32_t from, to, stride, first;
    int status;
} worker;

static int argmax(const float *v, uint32_t n)
{
    uint32_t best = 0;
    for (uint32_t k = 1; k < n; k++)
        if (v[k] > v[best])
            best = k;
    return (int)best;
}

/* Images first, first+stride, ... of [from, to) in shuffled order. */
static void *work(void *arg)
{
    worker *w = arg;
    const exec_model *e = w->c->exec;
    void *ws = aligned(e->ws_size), *in = aligned(e->in_bytes), *out = aligned(e->out_bytes);
    const void *ins[1] = {in};
    void *outs[1] = {out};
    for (uint32_t i = w->from + w->first; i < w->to && !w->status; i += w->stride) {
        memcpy(in, (const char *)w->t->images + (size_t)w->t->order[i] * w->t->image_bytes,
               w->t->image_bytes);
        w->status = e->jm.run(ins, outs, ws);
        w->c->top1[i] = (int16_t)argmax(out, (uint32_t)(e->out_bytes / 4));
    }
    free(ws);
    free(in);
    free(out);
    return NULL;
}

/* Evaluate the compiled c on shuffled images [c->n_done, to) with `jobs`
 * threads; updates its counts against the labels and the exact model. */
static int evaluate(tuner *t, kiln_ctx *ctx, tune_cand *c, uint32_t to, uint32_t jobs)
{
    if (!c->top1)
        c->top1 = kiln_xcalloc(t->n_images, sizeof *c->top1);
    uint32_t from = c->n_done;
    if (to <= from)
        return EXIT_OK;
    worker w[64];
    pthread_t th[64];
    bool started[64] = {false};
    for (uint32_t k = 0; k < jobs; k++)
        w[k] = (worker){.t = t, .c = c, .from = from, .to = to, .stride = jobs, .first = k};
    for (uint32_t k = 1; k < jobs; k++)
        started[k] = pthread_create(&th[k], NULL, work, &w[k]) == 0;
    work(&w[0]);
    for (uint32_t k = 1; k < jobs; k++) {
        if (started[k])
            pthread_join(th[k], NULL);
        else
            work(&w[k]); /* no thread: this one does its share too */
    }
    for (uint32_t k = 0; k < jobs; k++)
        if (w[k].status)
            return kiln_error(ctx, KILN_ERR_RUNTIME, "%s: the compiled model (%s) returned %d",
                              t->o->model, c->text[0] ? c->text : "exact", w[k].status),
                   driver_fail(ctx);
    const tune_cand *exact = &t->list.c[0];
    for (uint32_t i = from; i < to; i++) {
        c->correct += c->top1[i] == t->labels[i];
        c->agree += c == exact || c->top1[i] == exact->top1[i];
    }
    c->n_done = to;
    return EXIT_OK;
}

/* Latency: the median of --runs batch-1 runs on the first image, in ms,
 * for every candidate of fin[0..n). The runs are interleaved (one run of
 * each candidate per round, after 3 warm-up rounds), so that a change in
 * the machine's load during the measurement falls on all of them alike. */
static void measure_latency(const tuner *t, tune_cand **fin, uint32_t n)
{
    long runs = t->o->runs;
    void **ws = kiln_xcalloc(n, sizeof *ws), **in = kiln_xcalloc(n, sizeof *in),
         **out = kiln_xcalloc(n, sizeof *out);
    double *ms = kiln_xcalloc((size_t)runs * n, sizeof *ms);
    for (uint32_t k = 0; k < n; k++) {
        const exec_model *e = fin[k]->exec;
        ws[k] = aligned(e->ws_size), in[k] = aligned(e->in_bytes), out[k] = aligned(e->out_bytes);
        memcpy(in[k], t->images, t->image_bytes);
    }
    for (long r = -3; r < runs; r++)
        for (uint32_t k = 0; k < n; k++) {
            const exec_model *e = fin[k]->exec;
            const void *ins[1] = {in[k]};
            void *outs[1] = {out[k]};
            double t0 = run_now_seconds();
            e->jm.run(ins, outs, ws[k]);
            if (r >= 0)
                ms[k * (size_t)runs + (size_t)r] = (run_now_seconds() - t0) * 1e3;
        }
    for (uint32_t k = 0; k < n; k++) {
        double *v = ms + k * (size_t)runs;
        for (long i = 1; i < runs; i++) /* insertion sort: runs is small */
            for (long j = i; j > 0 && v[j] < v[j - 1]; j--) {
                double tmp = v[j];
                v[j] = v[j - 1];
                v[j - 1] = tmp;
            }
        fin[k]->latency_ms = runs % 2 ? v[runs / 2] : (v[runs / 2 - 1] + v[runs / 2]) / 2;
        fin[k]->best_ms = v[0];
        free(ws[k]);
        free(in[k]);
        free(out[k]);
    }
    free(ms);
    free(ws);
    free(in);
    free(out);
}

/* ---- the search ----------------------------------------------------------------- */

static double acc_pct(const tune_cand *c)
{
    return c->n_done ? 100.0 * c->correct / c->n_done : 0;
}

static const char *label(const tune_cand *c)
{
    return c->text[0] ? c->text : "(exact)";
}

/* c will not be evaluated further; its compiled code goes, except on the
 * last rung (its latency is measured for the table). */
static void drop(tune_cand *c, int rung, const char *why, bool keep_exec)
{
    c->dropped_at = rung;
    c->why = why;
    if (!keep_exec)
        exec_free(c);
}

/* After c's evaluation on n images: drop it if its drop is confidently
 * over the budget (on the whole set: simply over it). */
static void judge(tuner *t, tune_cand *c, uint32_t n, int rung)
{
    if (c == &t->list.c[0] || c->dropped_at >= 0)
        return;
    double d, se;
    tune_drop(&t->list.c[0], c, n, t->labels, &d, &se);
    if (n == t->n_images ? d > t->o->budget : d - Z_SCORE * se > t->o->budget)
        drop(c, rung, "over the budget", n == t->n_images);
}

/* The confidence interval of c's drop is entirely within the budget. */
static bool surely_within(const tuner *t, const tune_cand *c, uint32_t n)
{
    double d, se;
    tune_drop(&t->list.c[0], c, n, t->labels, &d, &se);
    /* at least one discordant image of each kind assumed, so that a small
     * subset with no disagreement is not taken for certainty */
    double floor_se = 100.0 * sqrt(2.0 / ((double)n * n));
    return d + Z_SCORE * (se > floor_se ? se : floor_se) <= t->o->budget;
}

/* The halving's ranking: candidates whose estimated drop is within the
 * budget first, cheapest (MACs) first; then the others, smallest drop
 * first. */
typedef struct ranked {
    uint32_t i;
    bool within;
    double macs, drop;
} ranked;

static int compare_ranked(const void *pa, const void *pb)
{
    const ranked *a = pa, *b = pb;
    if (a->within != b->within)
        return a->within ? -1 : 1;
    double x = a->within ? a->macs : a->drop, y = b->within ? b->macs : b->drop;
    return x < y ? -1 : x > y ? 1 : (a->i > b->i) - (a->i < b->i);
}

/* Halving after a rung of n images (not the last). Of the candidates
 * left, those that cost more MACs than one surely within the budget
 * cannot be chosen and go; then at most half of the `entered` candidates
 * (at least 2) go on, by the ranking above. */
static void halve(tuner *t, uint32_t n, int rung, uint32_t entered)
{
    tune_list *l = &t->list;
    double cheapest_sure = INFINITY;
    for (uint32_t i = 1; i < l->n; i++)
        if (l->c[i].dropped_at < 0 && surely_within(t, &l->c[i], n) && l->c[i].macs < cheapest_sure)
            cheapest_sure = l->c[i].macs;
    for (uint32_t i = 1; i < l->n; i++)
        if (l->c[i].dropped_at < 0 && l->c[i].macs > cheapest_sure)
            drop(&l->c[i], rung, "costs more than one surely within the budget", false);
    ranked *r = kiln_xcalloc(l->n, sizeof *r);
    uint32_t m = 0, keep = (entered + 1) / 2;
    keep = keep < 2 ? 2 : keep;
    for (uint32_t i = 1; i < l->n; i++) {
        if (l->c[i].dropped_at >= 0)
            continue;
        double d, se;
        tune_drop(&l->c[0], &l->c[i], n, t->labels, &d, &se);
        r[m++] = (ranked){.i = i, .within = d <= t->o->budget, .macs = l->c[i].macs, .drop = d};
    }
    qsort(r, m, sizeof *r, compare_ranked);
    for (uint32_t k = keep; k < m; k++)
        drop(&l->c[r[k].i], rung, "halving: not in the better half", false);
    free(r);
}

static uint32_t count_alive(const tune_list *l)
{
    uint32_t n = 0;
    for (uint32_t i = 1; i < l->n; i++)
        n += l->c[i].dropped_at < 0;
    return n;
}

/* One rung: every live candidate from index `first` on, up to n images.
 * The exact model (index 0) first, its images split over the threads (the
 * others compare with its top-1); then the candidates, one per thread
 * (compiling is most of the work, and it is one thread per compile). */
typedef struct rung_job {
    tuner *t;
    uint32_t next, n;
    int rung, status;
    pthread_mutex_t lock;
} rung_job;

static void one_candidate(rung_job *j, kiln_ctx *ctx, uint32_t i)
{
    tuner *t = j->t;
    tune_cand *c = &t->list.c[i];
    double t0 = run_now_seconds();
    int rc = c->exec ? EXIT_OK : compile_candidate(t, ctx, c, i > 0);
    if (!rc && !c->exec)
        drop(c, j->rung, "no fewer MACs than the exact model", false);
    else if (!rc)
        rc = evaluate(t, ctx, c, j->n, i == 0 ? (uint32_t)t->o->jobs : 1);
    if (!rc && c->exec)
        judge(t, c, j->n, j->rung);
    pthread_mutex_lock(&j->lock);
    if (rc && !j->status)
        j->status = rc;
    if (!rc && c->n_done)
        fprintf(stderr, "  [%u/%u] %-56s %6.2f %%  agree %6.2f %%  MACs %5.1f %%  %5.1f s%s\n",
                i, t->list.n - 1, label(c), acc_pct(c), 100.0 * c->agree / c->n_done,
                100.0 * c->macs / t->list.c[0].macs, run_now_seconds() - t0,
                c->dropped_at >= 0 ? "  (over the budget)" : "");
    else if (!rc)
        fprintf(stderr, "  [%u/%u] %-56s MACs %5.1f %%: not fewer than the exact model's, skipped\n",
                i, t->list.n - 1, label(c), 100.0 * c->macs / t->list.c[0].macs);
    pthread_mutex_unlock(&j->lock);
}

static void *rung_worker(void *arg)
{
    rung_job *j = arg;
    kiln_ctx *ctx = kiln_ctx_create();
    for (;;) {
        pthread_mutex_lock(&j->lock);
        uint32_t i = j->next;
        while (i < j->t->list.n && j->t->list.c[i].dropped_at >= 0)
            i++;
        j->next = i + 1;
        bool stop = i >= j->t->list.n || j->status;
        pthread_mutex_unlock(&j->lock);
        if (stop)
            break;
        one_candidate(j, ctx, i);
    }
    kiln_ctx_destroy(ctx);
    return NULL;
}

static int run_rung(tuner *t, uint32_t first, uint32_t n, int rung)
{
    rung_job j = {.t = t, .next = first ? first : 1, .n = n, .rung = rung};
    pthread_mutex_init(&j.lock, NULL);
    if (first == 0)
        one_candidate(&j, t->ctx, 0);
    pthread_t th[64];
    bool started[64] = {false};
    long jobs = t->o->jobs;
    for (long k = 1; k < jobs && !j.status; k++)
        started[k] = pthread_create(&th[k], NULL, rung_worker, &j) == 0;
    if (!j.status)
        rung_worker(&j);
    for (long k = 1; k < jobs; k++)
        if (started[k])
            pthread_join(th[k], NULL);
    pthread_mutex_destroy(&j.lock);
    return j.status;
}

/* ---- the result --------------------------------------------------------------- */

static void print_table(tuner *t, const tune_cand *chosen, double search_s)
{
    tune_list *l = &t->list;
    const tune_cand *exact = &l->c[0];
    uint32_t *idx = kiln_xcalloc(l->n, sizeof *idx), n = 0;
    for (uint32_t i = 0; i < l->n; i++)
        if (l->c[i].n_done == t->n_images && (i == 0 || l->c[i].dropped_at < 0 ||
                                               l->c[i].dropped_at == INT32_MAX))
            idx[n++] = i;
    double *cost = kiln_xcalloc(l->n, sizeof *cost);
    bool *front = kiln_xcalloc(l->n, sizeof *front);
    for (uint32_t i = 0; i < n; i++)
        cost[i] = t->o->latency ? l->c[idx[i]].latency_ms : l->c[idx[i]].macs;
    tune_pareto(l, idx, cost, n, front);
    /* by cost, most expensive first (the exact model leads) */
    for (uint32_t i = 1; i < n; i++)
        for (uint32_t j = i; j > 0 && cost[j] > cost[j - 1]; j--) {
            uint32_t ti = idx[j];
            double tc = cost[j];
            bool tf = front[j];
            idx[j] = idx[j - 1], cost[j] = cost[j - 1], front[j] = front[j - 1];
            idx[j - 1] = ti, cost[j - 1] = tc, front[j - 1] = tf;
        }
    char a[64];
    printf("kiln tune: %s, %u images, budget %.2f points, objective %s, search %.1f s\n",
           t->o->model, t->n_images, t->o->budget, t->o->latency ? "latency" : "MACs", search_s);
    printf("exact model: accuracy %.2f %%, %s MACs per image, latency %.3f ms (best %.3f)\n",
           acc_pct(exact), driver_grouped(exact->macs, a, sizeof a), exact->latency_ms, exact->best_ms);
    printf("Pareto front (accuracy vs %s) of the %u configurations evaluated on all images:\n",
           t->o->latency ? "latency" : "MACs", n);
    printf("  %-56s %9s %8s %9s %13s %7s %10s %8s\n", "configuration", "accuracy", "points",
           "agreement", "MACs", "MACs %", "latency ms", "best ms");
    for (uint32_t i = 0; i < n; i++) {
        const tune_cand *c = &l->c[idx[i]];
        if (!front[i])
            continue;
        printf("%c %-56s %8.2f%% %+8.2f %8.2f%% %13s %6.1f%% %10.3f %8.3f\n", c == chosen ? '*' : ' ',
               label(c), acc_pct(c), acc_pct(c) - acc_pct(exact), 100.0 * c->agree / c->n_done,
               driver_grouped(c->macs, a, sizeof a), 100.0 * c->macs / exact->macs, c->latency_ms,
               c->best_ms);
    }
    printf("chosen (*): %s: accuracy %.2f %% (%+.2f points), %.1f %% of the MACs, %.3f ms\n",
           label(chosen), acc_pct(chosen), acc_pct(chosen) - acc_pct(exact),
           100.0 * chosen->macs / exact->macs, chosen->latency_ms);
    free(idx);
    free(cost);
    free(front);
}

/* The seeds of the combinations, after rung 0 (n images): the prunings,
 * poolings and sharings whose estimated drop is within the budget, and
 * the two cheapest uniform merges within it. Combining more (every
 * survivor with every survivor) multiplies the compiles for
 * configurations the first rung already shows to be worse. */
static void mark_seeds(tuner *t, uint32_t n)
{
    tune_list *l = &t->list;
    for (int round = 0; round < 2; round++) {
        uint32_t best = 0;
        for (uint32_t i = 1; i < l->n; i++) {
            tune_cand *c = &l->c[i];
            double d, se;
            if (c->dropped_at >= 0 || c->seed)
                continue;
            tune_drop(&l->c[0], c, n, t->labels, &d, &se);
            if (d > t->o->budget)
                continue;
            if (c->kind != TUNE_MERGE)
                c->seed = true;
            else if (!strchr(c->merge, '=') && (!best || c->macs < l->c[best].macs))
                best = i; /* one merge per round: the cheapest not yet a seed */
        }
        if (best)
            l->c[best].seed = true;
    }
}

static int search(tuner *t)
{
    tune_list *l = &t->list;
    double t0 = run_now_seconds();
    tune_space_singles(&t->space, l);
    if (t->o->max_candidates && l->n > (uint32_t)t->o->max_candidates + 1)
        l->n = (uint32_t)t->o->max_candidates + 1;
    uint32_t n = t->o->subset < (long)t->n_images ? (uint32_t)t->o->subset : t->n_images;
    fprintf(stderr, "kiln tune: %u blocks, %lld tokens, %u configurations to start, %u images, "
            "%ld threads\n", t->space.n_blocks, (long long)t->space.n_tokens0, l->n - 1,
            t->n_images, t->o->jobs);
    for (int rung = 0;; rung++) {
        uint32_t entered = count_alive(l);
        fprintf(stderr, "rung %d: %u images, %u configurations\n", rung, n, entered);
        int rc = run_rung(t, 0, n, rung);
        if (rc)
            return rc;
        if (rung == 0 && (t->o->kinds & TUNE_COMBINE)) {
            uint32_t before = l->n;
            mark_seeds(t, n);
            uint32_t added = tune_space_combine(&t->space, l);
            uint32_t cap = (uint32_t)t->o->max_candidates + 1; /* the cap counts every configuration */
            if (t->o->max_candidates && l->n > cap) {
                added -= l->n - (cap > before ? cap : before);
                l->n = cap > before ? cap : before;
            }
            if (added) {
                fprintf(stderr, "rung 0: %u combinations of the seeds\n", added);
                entered += added;
                if ((rc = run_rung(t, before, n, rung)))
                    return rc;
            }
        }
        if (n == t->n_images)
            break;
        halve(t, n, rung, entered);
        fprintf(stderr, "rung %d: %u configurations go on\n", rung, count_alive(l));
        n = n > t->n_images / 4 ? t->n_images : 4 * n;
    }
    /* the finalists: latency, then the choice */
    const tune_cand *chosen = &l->c[0];
    tune_cand **fin = kiln_xcalloc(l->n, sizeof *fin);
    uint32_t n_fin = 0;
    for (uint32_t i = 0; i < l->n; i++)
        if (l->c[i].exec && l->c[i].n_done == t->n_images)
            fin[n_fin++] = &l->c[i];
    fprintf(stderr, "latency: %u finalists, %ld batch-1 runs each, interleaved\n", n_fin, t->o->runs);
    measure_latency(t, fin, n_fin);
    free(fin);
    for (uint32_t i = 1; i < l->n; i++) {
        tune_cand *c = &l->c[i];
        if (c->dropped_at >= 0)
            continue;
        double cost = t->o->latency ? c->latency_ms : c->macs;
        double best = t->o->latency ? chosen->latency_ms : chosen->macs;
        if (cost < best || (cost == best && c->correct > chosen->correct))
            chosen = c;
    }
    /* over-budget finalists stay in the table (the front shows what the budget excluded) */
    for (uint32_t i = 1; i < l->n; i++)
        if (l->c[i].dropped_at >= 0 && l->c[i].n_done == t->n_images)
            l->c[i].dropped_at = INT32_MAX;
    print_table(t, chosen, run_now_seconds() - t0);
    for (uint32_t i = 0; i < l->n; i++)
        exec_free(&l->c[i]);
    if (chosen == &l->c[0])
        fprintf(stderr, "kiln tune: no configuration is within %.2f points of the exact model's "
                "accuracy; the exact model (no option) is the answer\n", t->o->budget);
    printf("%s\n", chosen->text);
    fflush(stdout);
    if (t->o->out) {
        char buf[600];
        int len = snprintf(buf, sizeof buf, "%s\n", chosen->text);
        if (driver_write_file(t->ctx, t->o->out, buf, (size_t)len) != KILN_OK)
            return driver_fail(t->ctx);
    }
    return EXIT_OK;
}

/* The exact model: checks it against the data, finds its blocks. */
static int prepare(tuner *t, krt_npy *images, krt_npy *labels)
{
    const tune_opts *o = t->o;
    char err[1024];
    kiln_graph *g = NULL;
    if (krt_npy_read(o->data, images, err, sizeof err) != KRT_OK)
        return kiln_error(t->ctx, KILN_ERR_INVALID, "--data: %s", err), driver_fail(t->ctx);
    if (krt_npy_read(o->labels, labels, err, sizeof err) != KRT_OK)
        return kiln_error(t->ctx, KILN_ERR_INVALID, "--labels: %s", err), driver_fail(t->ctx);
    driver_model_opts mo = DRIVER_MODEL_OPTS_INIT;
    int rc = driver_load_model(t->ctx, o->model, &mo, &g);
    if (rc)
        return rc;
    kiln_status st = check_input(t, g, images);
    kiln_graph_destroy(g);
    if (st)
        return driver_fail(t->ctx);
    t->images = images->data;
    /* the exact model: its blocks, tokens and classes, then compiled */
    tune_space_singles(&(tune_space){0}, &t->list); /* pushes the exact candidate only */
    tune_cand *exact = &t->list.c[0];
    if ((rc = load_candidate(t, t->ctx, exact, &g)))
        return rc;
    kiln_token_census census;
    kiln_token_census_take(g, &census);
    const kiln_value *out = &g->values[g->outputs[0]];
    int64_t classes = 0;
    bool scores = out->dtype == KILN_DT_F32 && kiln_shape_numel(&out->shape, &classes) && classes >= 2;
    char shape[256];
    kiln_shape_format(g, &out->shape, shape, sizeof shape);
    if (!scores)
        st = kiln_error(t->ctx, KILN_ERR_UNSUPPORTED, "%s: output '%s' (%s%s) is not float32 "
                        "scores of two classes or more, which kiln tune ranks for the top-1",
                        o->model, out->name, kiln_dtype_name(out->dtype), shape);
    else if (census.n_blocks == 0)
        st = kiln_error(t->ctx, KILN_ERR_UNSUPPORTED, "%s: the model has no transformer blocks "
                        "(fuse-attention found no attention whose tokens could be reduced): "
                        "kiln tune has nothing to search", o->model);
    kiln_graph_destroy(g);
    if (st)
        return driver_fail(t->ctx);
    t->n_classes = (uint32_t)classes;
    t->space = (tune_space){.kinds = o->kinds, .n_blocks = census.n_blocks,
                            .n_tokens0 = census.tokens[0]};
    if ((st = read_labels(t, labels)))
        return driver_fail(t->ctx);
    return compile_candidate(t, t->ctx, exact, false);
}

int cmd_tune(int argc, char **argv)
{
    tune_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    tuner t = {.o = &o, .ctx = kiln_ctx_create()};
    krt_npy images = {0}, labels = {0};
    rc = prepare(&t, &images, &labels);
    if (!rc)
        rc = search(&t);
    for (uint32_t i = 0; i < t.list.n; i++)
        exec_free(&t.list.c[i]);
    tune_list_free(&t.list);
    free(t.labels);
    free(t.order);
    krt_npy_free(&images);
    krt_npy_free(&labels);
    kiln_ctx_destroy(t.ctx);
    return rc;
}
