/* cmd_dump.c — `kiln dump`: the model as kiln's text IR or as Graphviz.
 *
 * The model is loaded, --shape bindings applied and shapes inferred, so
 * what is printed is what the compiler will work on. Text to stdout lists
 * large constants by digest only; with -o FILE their bytes go to
 * FILE.weights, so FILE can be loaded back (kiln run FILE) and run.
 */
#include "tools/driver.h"
#include "ir/text.h"
#include "passes/pass.h"

#include <stdlib.h>
#include <string.h>

typedef struct dump_opts {
    driver_model_opts model;
    const char *model_path;
    const char *out;      /* -o FILE, NULL for stdout */
    bool dot;             /* --format dot */
} dump_opts;

static void help(void)
{
    printf("usage: kiln dump MODEL [--format text|dot] [-o FILE] [--after PASS] [graph options]\n"
           "\n"
           "Print MODEL (.onnx or kiln text IR) as the compiler sees it: after import\n"
           "(canonical operator forms), shape inference and the pass pipeline (-O2\n"
           "unless told otherwise; -O0 shows the graph as imported).\n"
           "\n"
           "  --format text  kiln's text IR (the default; grammar in docs/text-ir.md).\n"
           "                 Constants of more than 16 elements are printed by their\n"
           "                 digest only, unless -o is given.\n"
           "  --format dot   a Graphviz graph (render with 'dot -Tsvg').\n"
           "  -o FILE        write to FILE instead of stdout ('-' is stdout). In text\n"
           "                 format the large constants go to FILE.weights, so FILE can\n"
           "                 be loaded and run again. Files are written whole or not at all.\n"
           "  --after PASS   print the IR after PASS of the pipeline (the first time it\n"
           "                 runs) instead of after the whole pipeline.\n"
           "\n");
    driver_model_help(stdout);
    printf("\nExit status: 0 success, 1 error in the model, 2 usage error.\n");
}

static int parse_format(const char *f, dump_opts *o)
{
    if (strcmp(f, "text") == 0)
        o->dot = false;
    else if (strcmp(f, "dot") == 0)
        o->dot = true;
    else
        return driver_usage_error("dump", "unknown format '%s' (text or dot)", f);
    return EXIT_OK;
}

static const char *pipeline_text(const driver_model_opts *m)
{
    static char buf[2048];
    return driver_pipeline_text(m, buf, sizeof buf);
}

/* The pipeline the options select runs `pass`. */
static bool pipeline_has(const driver_model_opts *m, const char *pass)
{
    const char *text = pipeline_text(m);
    size_t n = strlen(pass);
    for (const char *s = text; (s = strstr(s, pass)) != NULL; s += n)
        if ((s == text || s[-1] == ',') && (s[n] == ',' || s[n] == 0))
            return true;
    return false;
}

/* EXIT_OK, EXIT_USAGE, or -1 when --help was printed. */
static int parse_args(int argc, char **argv, dump_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int m = driver_model_option(argc, argv, &i, &o->model);
        if (m < 0)
            return EXIT_USAGE;
        if (m > 0)
            continue;
        bool has_value = i + 1 < argc;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            help();
            return -1;
        } else if (strcmp(a, "--format") == 0 && has_value) {
            if (parse_format(argv[++i], o))
                return EXIT_USAGE;
        } else if (strncmp(a, "--format=", 9) == 0) {
            if (parse_format(a + 9, o))
                return EXIT_USAGE;
        } else if (strcmp(a, "-o") == 0 && has_value) {
            o->out = argv[++i];
        } else if (strcmp(a, "--after") == 0 && has_value) {
            o->model.stop_after = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            return driver_usage_error("dump", "unknown option '%s'%s", a,
                                      has_value ? "" : " (or missing its argument)");
        } else if (!o->model_path) {
            o->model_path = a;
        } else {
            return driver_usage_error("dump", "unexpected argument '%s' (one model at a time)", a);
        }
    }
    if (!o->model_path)
        return driver_usage_error("dump", "no model given");
    if (o->model.stop_after && !pipeline_has(&o->model, o->model.stop_after))
        return driver_usage_error("dump", "--after '%s': the pipeline has no such pass (it runs: %s)",
                                  o->model.stop_after, pipeline_text(&o->model));
    return EXIT_OK;
}

static int dump(kiln_ctx *ctx, const kiln_graph *g, const dump_opts *o)
{
    const char *to = o->out ? o->out : "-";
    if (!o->dot && strcmp(to, "-") != 0)
        return kiln_text_save(ctx, g, to) ? driver_fail(ctx) : EXIT_OK;
    char *text = o->dot ? kiln_dot_format(g) : kiln_text_format(g);
    kiln_status st = driver_write_file(ctx, to, text, strlen(text));
    free(text);
    return st ? driver_fail(ctx) : EXIT_OK;
}

int cmd_dump(int argc, char **argv)
{
    dump_opts o = {.model = DRIVER_MODEL_OPTS_INIT};
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = NULL;
    rc = driver_load_model(ctx, o.model_path, &o.model, &g);
    if (rc == EXIT_OK)
        rc = dump(ctx, g, &o);
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
    return rc;
}
