/* driver.c — what the kiln subcommands share: loading a model (ONNX or
 * text IR, told apart by the first line), --shape bindings, error
 * printing and atomic output files.
 *
 * Exit codes: 0 success, 1 user error (the model or its inputs), 2 usage
 * error (the command line, including a --shape that does not fit).
 */
#define _POSIX_C_SOURCE 200809L
#include "tools/driver.h"
#include "frontend/frontend.h"
#include "ir/text.h"
#include "passes/pass.h"
#include "runtime/krt_linalg.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- --shape NAME=D0xD1x... ----------------------------------------------- */

/* Splits "NAME=1x3x224x224" into name (up to the last '=') and a static
 * shape. False, with a reason, when malformed. */
static bool parse_shape_spec(const char *spec, char *name, size_t name_size, kiln_shape *shape,
                             const char **why)
{
    const char *eq = strrchr(spec, '=');
    if (!eq || eq == spec || (size_t)(eq - spec) >= name_size) {
        *why = "expected NAME=D0xD1x... (e.g. x=1x3x224x224)";
        return false;
    }
    memcpy(name, spec, (size_t)(eq - spec));
    name[eq - spec] = 0;
    *shape = kiln_shape_make(0, NULL);
    for (const char *p = eq + 1;; p++) {
        char *end;
        if (*p < '0' || *p > '9') {
            *why = "each dimension must be a non-negative integer, separated by 'x'";
            return false;
        }
        if (shape->rank == KILN_MAX_RANK) {
            *why = "more than 8 dimensions";
            return false;
        }
        errno = 0;
        long long d = strtoll(p, &end, 10);
        if (errno == ERANGE || d > INT32_MAX) {
            *why = "a dimension is too large";
            return false;
        }
        shape->dim[shape->rank++] = d;
        if (*end == 0)
            return true;
        if (*end != 'x') {
            *why = "each dimension must be a non-negative integer, separated by 'x'";
            return false;
        }
        p = end;
    }
}

/* "--name X" or "--name=X": the value, consuming X from argv; NULL when
 * argv[*i] is another option, and *missing when the value is missing. */
static const char *option_value(int argc, char **argv, int *i, const char *name, bool *missing)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    *missing = false;
    if (strncmp(a, name, n) != 0)
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] != 0)
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

static int shape_option(const char *cmd, const char *spec, driver_model_opts *opts)
{
    char name[256];
    const char *why;
    kiln_shape shape;
    if (!parse_shape_spec(spec, name, sizeof name, &shape, &why))
        return driver_usage_error(cmd, "--shape '%s': %s", spec, why), -1;
    if (opts->n_shapes == (int)(sizeof opts->shapes / sizeof opts->shapes[0]))
        return driver_usage_error(cmd, "too many --shape options (at most %d)", opts->n_shapes), -1;
    opts->shapes[opts->n_shapes++] = spec;
    return 1;
}

static int pass_name_option(const char *cmd, const char *flag, const char *name, const char **out)
{
    if (strcmp(name, "all") != 0 && !kiln_pass_find(name))
        return driver_usage_error(cmd, "%s '%s': no such pass ('kiln passes' lists them)", flag, name), -1;
    *out = name;
    return 1;
}

/* A pipeline is checked when given, so a typo is a usage error before
 * the model is even read. */
static int passes_option(const char *cmd, const char *text, driver_model_opts *opts)
{
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_pipeline p;
    int rc = 1;
    if (kiln_pipeline_parse(ctx, text, &p) != KILN_OK)
        rc = (driver_usage_error(cmd, "--passes '%s': %s", text, kiln_ctx_message(ctx)), -1);
    kiln_ctx_destroy(ctx);
    opts->passes = text;
    return rc;
}

/* The token-reduction options (TOKEN-REDUCTION.md): each takes one
 * comma-separated list, given once; the passes check the lists. */
static int token_option(int argc, char **argv, int *i, driver_model_opts *opts)
{
    static const struct {
        const char *flag, *what;
        size_t field;
    } table[] = {
        {"--token-prune", "L=KEEP[,L=KEEP...][,fuse]", offsetof(kiln_token_options, prune)},
        {"--token-pool", "L=avg|max[,L=...]", offsetof(kiln_token_options, pool)},
        {"--token-merge", "R or L=R[,L=R...]", offsetof(kiln_token_options, merge)},
        {"--attention-share", "SRC:DST[,SRC:DST...]", offsetof(kiln_token_options, share)},
    };
    if (strcmp(argv[*i], "--no-proportional-attention") == 0) {
        opts->tokens.no_proportional = true;
        return 1;
    }
    for (size_t k = 0; k < sizeof table / sizeof table[0]; k++) {
        bool missing;
        const char *v = option_value(argc, argv, i, table[k].flag, &missing);
        const char **slot = (const char **)((char *)&opts->tokens + table[k].field);
        if (missing)
            return driver_usage_error(argv[0], "%s needs %s", table[k].flag, table[k].what), -1;
        if (!v)
            continue;
        if (*slot)
            return driver_usage_error(argv[0], "%s given twice: put all its entries in one comma-separated list",
                                      table[k].flag), -1;
        *slot = v;
        return 1;
    }
    return 0;
}

int driver_model_option(int argc, char **argv, int *i, driver_model_opts *opts)
{
    const char *a = argv[*i], *v;
    bool missing;
    int t = token_option(argc, argv, i, opts);
    if (t != 0)
        return t;
    if ((v = option_value(argc, argv, i, "--shape", &missing)))
        return shape_option(argv[0], v, opts);
    if (missing)
        return driver_usage_error(argv[0], "--shape needs NAME=D0xD1x... (e.g. x=1x3x224x224)"), -1;
    if ((v = option_value(argc, argv, i, "--passes", &missing)))
        return passes_option(argv[0], v, opts);
    if (missing)
        return driver_usage_error(argv[0], "--passes needs a pipeline (e.g. fold,dce)"), -1;
    if ((v = option_value(argc, argv, i, "--print-ir-after", &missing)))
        return pass_name_option(argv[0], "--print-ir-after", v, &opts->print_after);
    if (missing)
        return driver_usage_error(argv[0], "--print-ir-after needs a pass name or 'all'"), -1;
    if ((v = option_value(argc, argv, i, "--pack-for", &missing))) {
        int nr, kc;
        if (strcmp(v, "none") != 0 && strcmp(v, "host") != 0 && !krt_sgemm_pack_geometry(v, &nr, &kc))
            return driver_usage_error(argv[0], "--pack-for '%s': avx512, avx2, neon, vec4, scalar, "
                                      "host or none", v), -1;
        opts->pack_for = v;
        return 1;
    }
    if (missing)
        return driver_usage_error(argv[0], "--pack-for needs a GEMM kernel (avx512, avx2, neon, "
                                  "vec4, scalar, host or none)"), -1;
    if (strcmp(a, "--time-passes") == 0) {
        opts->time_passes = true;
        return 1;
    }
    if (strcmp(a, "--remarks") == 0) {
        opts->remarks = true;
        return 1;
    }
    if (a[0] == '-' && a[1] == 'O' && a[2] >= '0' && a[2] <= '3' && a[3] == 0) {
        opts->opt_level = a[2] - '0';
        return 1;
    }
    if (a[0] == '-' && a[1] == 'O')
        return driver_usage_error(argv[0], "unknown optimization level '%s' (-O0, -O1, -O2 or -O3)", a), -1;
    return 0;
}

void driver_model_help(FILE *out)
{
    fprintf(out,
            "graph options:\n"
            "  --shape NAME=D0xD1x...\n"
            "                 bind the dimensions of input NAME before shape inference\n"
            "                 (repeatable).\n"
            "  -O0 .. -O3     the pass pipeline of that level (default -O%d; -O0 runs\n"
            "                 no pass; 'kiln passes' shows each level's list).\n"
            "  --passes P,Q   run exactly these passes, in this order, instead.\n"
            "  --print-ir-after PASS|all\n"
            "                 print the text IR to stderr after PASS (or every pass).\n"
            "  --pack-for KERNEL\n"
            "                 pack-weights packs constant weights in the panel layout of\n"
            "                 this GEMM kernel: avx512, avx2, neon, vec4, scalar, host (the\n"
            "                 one this CPU runs; the default, except for kiln compile\n"
            "                 --backend llvm and --target aarch64), or none (no packing).\n"
            "                 Another kernel still runs the model, repacking per call.\n"
            "  --time-passes  print time, changes and node count per pass to stderr.\n"
            "  --remarks      print to stderr, for every node a pass left alone that it\n"
            "                 almost rewrote (every Softmax outside a kiln.Attention, every\n"
            "                 decomposed LayerNorm or GELU that did not fuse),\n"
            "                 one line naming the node and the reason.\n"
            "token reduction (docs/token-reduction.md; after fuse-attention, -O2/-O3;\n"
            "blocks are numbered from 0 as 'kiln info' lists them):\n"
            "  --token-prune L=KEEP[,L=KEEP...][,fuse]\n"
            "                 after block L's attention keep the ceil(KEEP*(N-1)) tokens the\n"
            "                 class token attends to most (EViT); fuse: one more token, the\n"
            "                 attention-weighted sum of the dropped ones.\n"
            "  --token-pool L=avg|max[,L=...]\n"
            "                 after block L, pool the patch-token grid 2x2, stride 2 (PSViT).\n"
            "  --token-merge R | L=R[,L=R...]\n"
            "                 merge R tokens in every block (or in block L) by bipartite\n"
            "                 soft matching of the keys (ToMe), with proportional attention.\n"
            "  --attention-share SRC:DST[,SRC:DST...]\n"
            "                 block DST reuses block SRC's attention map (PSViT).\n"
            "  --no-proportional-attention\n"
            "                 with merging, do not add log(size) to the attention logits.\n",
            KILN_DEFAULT_OPT_LEVEL);
}

/* "x, mask" for messages. */
static void list_inputs(const kiln_graph *g, char *out, size_t size)
{
    size_t at = 0;
    out[0] = 0;
    for (uint32_t k = 0; k < g->n_inputs && at < size; k++)
        at += (size_t)snprintf(out + at, size - at, "%s'%s'", k ? ", " : "", g->values[g->inputs[k]].name);
    if (!g->n_inputs)
        snprintf(out, size, "none");
}

static uint32_t find_input(const kiln_graph *g, const char *name)
{
    for (uint32_t k = 0; k < g->n_inputs; k++)
        if (strcmp(g->values[g->inputs[k]].name, name) == 0)
            return g->inputs[k];
    return 0;
}

static int bind_one(kiln_ctx *ctx, kiln_graph *g, const char *spec)
{
    char name[256], inputs[1024];
    const char *why;
    kiln_shape shape;
    if (!parse_shape_spec(spec, name, sizeof name, &shape, &why)) {
        fprintf(stderr, "kiln: --shape '%s': %s\n", spec, why);
        return EXIT_USAGE;
    }
    uint32_t v = find_input(g, name);
    if (!v) {
        list_inputs(g, inputs, sizeof inputs);
        fprintf(stderr, "kiln: --shape '%s': %s has no input '%s' (its inputs: %s)\n", spec,
                g->source, name, inputs);
        return EXIT_USAGE;
    }
    if (kiln_graph_bind_shape(ctx, g, v, &shape) != KILN_OK) {
        fprintf(stderr, "kiln: --shape '%s': %s\n", spec, kiln_ctx_message(ctx));
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* ---- loading ---------------------------------------------------------------- */

/* Text IR starts with "kiln-ir " (a version mismatch is the parser's to
 * explain); anything else is handed to the ONNX loader. */
static kiln_status is_text_ir(kiln_ctx *ctx, const char *path, bool *text)
{
    char head[16] = {0};
    struct stat sb;
    /* O_NONBLOCK: opening a FIFO must not hang; then only regular files */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return kiln_error(ctx, KILN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return kiln_error(ctx, KILN_ERR_IO, "%s: not a regular file", path);
    }
    ssize_t n = read(fd, head, 8);
    close(fd);
    *text = n == 8 && memcmp(head, "kiln-ir ", 8) == 0;
    return KILN_OK;
}

/* The token passes, in the order they run: sharing first (it keeps every
 * count), then pooling (always before any pruning or merging in block
 * order), pruning, and merging last (it adds the proportional-attention
 * biases once every size is known). */
static const char *const token_passes[] = {"attention-share", "token-pool", "token-prune", "token-merge"};
#define TOKEN_PASSES "attention-share,token-pool,token-prune,token-merge"

/* `name` is one of the comma-separated names of text. */
static bool names_pass(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *s = text; (s = strstr(s, name)) != NULL; s += n)
        if ((s == text || s[-1] == ',') && (s[n] == ',' || s[n] == 0))
            return true;
    return false;
}

static bool names_token_pass(const char *text)
{
    for (size_t k = 0; k < sizeof token_passes / sizeof token_passes[0]; k++)
        if (names_pass(text, token_passes[k]))
            return true;
    return false;
}

const char *driver_pipeline_text(const driver_model_opts *opts, char *buf, size_t size)
{
    int level = opts->opt_level >= 0 ? opts->opt_level : KILN_DEFAULT_OPT_LEVEL;
    const char *text = opts->passes ? opts->passes : kiln_pipeline_for_level(level);
    const char *at = strstr(text, "fuse-attention");
    if (!kiln_token_options_any(&opts->tokens) || names_token_pass(text) || !names_pass(text, "fuse-attention"))
        return text;
    while (at && !((at == text || at[-1] == ',') && (at[14] == ',' || at[14] == 0)))
        at = strstr(at + 1, "fuse-attention");
    size_t head = (size_t)(at - text) + 14;
    snprintf(buf, size, "%.*s," TOKEN_PASSES "%s", (int)head, text, text + head);
    return buf;
}

/* The first token pass's index in p, or p->n. */
static uint32_t first_token_pass(const kiln_pipeline *p)
{
    for (uint32_t i = 0; i < p->n; i++)
        for (size_t k = 0; k < sizeof token_passes / sizeof token_passes[0]; k++)
            if (strcmp(p->pass[i]->name, token_passes[k]) == 0)
                return i;
    return p->n;
}

/* The pipeline the options ask for, run on g: EXIT_USAGE for a pipeline
 * that does not parse or has no place for the token passes, EXIT_USER
 * (message printed) when a pass fails. With a report, the pipeline runs
 * in two parts around the token passes and the census is taken between. */
static int run_pipeline(kiln_ctx *ctx, kiln_graph *g, const driver_model_opts *opts)
{
    char buf[2048];
    const char *text = driver_pipeline_text(opts, buf, sizeof buf);
    kiln_pipeline p;
    if (kiln_pipeline_parse(ctx, text, &p) != KILN_OK) {
        fprintf(stderr, "kiln: --passes '%s': %s\n", text, kiln_ctx_message(ctx));
        return EXIT_USAGE;
    }
    bool tokens = kiln_token_options_any(&opts->tokens);
    uint32_t split = first_token_pass(&p);
    if (tokens && split == p.n) {
        fprintf(stderr, "kiln: %s: token reduction needs the transformer blocks that the fuse-attention "
                "pass finds, and the pipeline ('%s') has no fuse-attention: use -O2 or -O3\n",
                g->source, text);
        return EXIT_USAGE;
    }
    kiln_pass_options pass = {.tokens = tokens ? &opts->tokens : NULL, .pack_for = opts->pack_for && strcmp(opts->pack_for, "host") == 0
                                                           ? NULL : opts->pack_for};
    kiln_pipeline_run_opts run = {.pass = &pass,
                                  .print_after = opts->print_after,
                                  .time_passes = opts->time_passes,
                                  .remarks = opts->remarks,
                                  .stop_after = opts->stop_after};
    if (!tokens || !opts->report)
        return kiln_pipeline_run(ctx, g, &p, &run) == KILN_OK ? EXIT_OK : driver_fail(ctx);
    kiln_pipeline head = {.n = split}, tail = {.n = p.n - split};
    memcpy(head.pass, p.pass, split * sizeof p.pass[0]);
    memcpy(tail.pass, p.pass + split, tail.n * sizeof p.pass[0]);
    bool stopped = false;
    for (uint32_t i = 0; i < head.n && opts->stop_after; i++)
        stopped |= strcmp(head.pass[i]->name, opts->stop_after) == 0;
    if (kiln_pipeline_run(ctx, g, &head, &run) != KILN_OK)
        return driver_fail(ctx);
    kiln_token_census_take(g, &opts->report->before);
    if (!stopped && kiln_pipeline_run(ctx, g, &tail, &run) != KILN_OK)
        return driver_fail(ctx);
    kiln_token_census_take(g, &opts->report->after);
    opts->report->taken = !stopped;
    return EXIT_OK;
}

int driver_load_model(kiln_ctx *ctx, const char *path, const driver_model_opts *opts, kiln_graph **out)
{
    bool text = false;
    kiln_graph *g = NULL;
    *out = NULL;
    kiln_status st = is_text_ir(ctx, path, &text);
    if (st == KILN_OK)
        st = text ? kiln_text_load(ctx, path, &g) : kiln_onnx_load(ctx, path, &g);
    /* in every build: inference, the interpreter and the kernels rely on it */
    if (st == KILN_OK && (st = kiln_graph_verify_structure(ctx, g)) != KILN_OK)
        kiln_graph_destroy(g);
    if (st != KILN_OK)
        return driver_fail(ctx);
    for (int k = 0; opts && k < opts->n_shapes; k++) {
        int rc = bind_one(ctx, g, opts->shapes[k]);
        if (rc != EXIT_OK) {
            kiln_graph_destroy(g);
            return rc;
        }
    }
    st = kiln_graph_infer(ctx, g);
#ifndef NDEBUG
    /* debug builds check what the frontend produced (DESIGN.md, decision 6) */
    if (st == KILN_OK)
        st = kiln_graph_verify(ctx, g);
#endif
    if (st == KILN_OK && opts) {
        int rc = run_pipeline(ctx, g, opts);
        if (rc != EXIT_OK) {
            kiln_graph_destroy(g);
            return rc;
        }
    }
    if (st != KILN_OK) {
        kiln_graph_destroy(g);
        return driver_fail(ctx);
    }
    *out = g;
    return EXIT_OK;
}

/* ---- the token-reduction summary ------------------------------------------------ */

const char *driver_grouped(double x, char *buf, size_t size)
{
    char digits[32];
    snprintf(digits, sizeof digits, "%.0f", x);
    size_t n = strlen(digits), at = 0;
    for (size_t i = 0; i < n && at + 2 < size; i++) {
        if (i && (n - i) % 3 == 0 && digits[i - 1] != '-')
            buf[at++] = ',';
        buf[at++] = digits[i];
    }
    buf[at] = 0;
    return buf;
}

static void token_list(FILE *out, const kiln_token_census *c)
{
    for (uint32_t l = 0; l < c->n_blocks && l < KILN_TOKEN_MAX_BLOCKS; l++)
        fprintf(out, "%s%lld", l ? "," : "", (long long)c->tokens[l]);
}

void driver_token_summary(FILE *out, const driver_token_report *r, const char *indent)
{
    char a[64], b[64];
    if (!r || !r->taken)
        return;
    fprintf(out, "%stoken reduction  MACs per image %s -> %s (%.1f%%)\n", indent,
            driver_grouped(r->before.macs, a, sizeof a), driver_grouped(r->after.macs, b, sizeof b),
            r->before.macs > 0 ? 100.0 * r->after.macs / r->before.macs : 100.0);
    fprintf(out, "%s                 tokens entering each block's attention ", indent);
    token_list(out, &r->before);
    fprintf(out, " -> ");
    token_list(out, &r->after);
    fprintf(out, "\n");
}

/* ---- messages ------------------------------------------------------------------ */

int driver_fail(kiln_ctx *ctx)
{
    const char *msg = kiln_ctx_message(ctx);
    fprintf(stderr, "kiln: %s\n", msg[0] ? msg : "unknown error");
    return EXIT_USER;
}

int driver_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "kiln %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see 'kiln %s --help')\n", cmd);
    return EXIT_USAGE;
}

/* ---- output files ------------------------------------------------------------------ */

static kiln_status write_all(kiln_ctx *ctx, int fd, const char *path, const void *data, size_t size)
{
    const char *p = data;
    while (size > 0) {
        ssize_t w = write(fd, p, size);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return kiln_error(ctx, KILN_ERR_IO, "%s: write error: %s", path, strerror(errno));
        p += w, size -= (size_t)w;
    }
    return KILN_OK;
}

kiln_status driver_write_file(kiln_ctx *ctx, const char *path, const void *data, size_t size)
{
    char tmp[4200];
    int fd = -1;
    if (strcmp(path, "-") == 0) {
        if (fwrite(data, 1, size, stdout) != size || fflush(stdout) != 0)
            return kiln_error(ctx, KILN_ERR_IO, "<stdout>: write error: %s", strerror(errno));
        return KILN_OK;
    }
    for (int attempt = 0; fd < 0 && attempt < 100; attempt++) {
        if (snprintf(tmp, sizeof tmp, "%s.tmp%ld.%d", path, (long)getpid(), attempt) >= (int)sizeof tmp)
            return kiln_error(ctx, KILN_ERR_IO, "%s: path too long", path);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0)
        return kiln_error(ctx, KILN_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    kiln_status st = write_all(ctx, fd, tmp, data, size);
    if (close(fd) != 0 && st == KILN_OK)
        st = kiln_error(ctx, KILN_ERR_IO, "%s: write error: %s", path, strerror(errno));
    if (st == KILN_OK && rename(tmp, path) != 0)
        st = kiln_error(ctx, KILN_ERR_IO, "%s: cannot rename into place: %s", path, strerror(errno));
    if (st != KILN_OK)
        unlink(tmp);
    return st;
}
