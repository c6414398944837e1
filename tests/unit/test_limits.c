/* test_limits.c — hostile-but-small models are refused fast (ir/limits.h).
 *
 * The models are generated here, in the protobuf wire format written by
 * hand (and as text IR), into a temporary directory: 100k opset imports,
 * 100k attributes on one node, too many nodes / graph inputs / outputs /
 * value_info entries. Each must be refused with its own message, in well
 * under a second in a release build (the bound below leaves room for the
 * sanitizer build); before the limits, the first two took minutes or
 * aborted asking for gigabytes. 100k value_info entries that name nothing
 * are under the limit: they must load, fast (they made 100k notes).
 */
#define _POSIX_C_SOURCE 200809L
#include "cunit_main.h"
#include "frontend/frontend.h"
#include "ir/limits.h"
#include "ir/text.h"
#include "passes/pass.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { MAX_SECONDS = 5 };

/* ---- a protobuf writer ------------------------------------------------------ */

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *data, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void varint(buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    put(b, tmp, n);
}

static void field_int(buf *b, uint32_t field, uint64_t v)
{
    varint(b, (uint64_t)field << 3);
    varint(b, v);
}

static void field_bytes(buf *b, uint32_t field, const void *data, size_t n)
{
    varint(b, (uint64_t)field << 3 | 2);
    varint(b, n);
    put(b, data, n);
}

static void field_str(buf *b, uint32_t field, const char *s) { field_bytes(b, field, s, strlen(s)); }

static void field_msg(buf *b, uint32_t field, buf *m)
{
    field_bytes(b, field, m->p, m->n);
    free(m->p);
    *m = (buf){0};
}

/* ValueInfoProto name: float tensor of unknown shape. */
static void value_info(buf *graph, uint32_t field, const char *name)
{
    buf vi = {0}, type = {0}, tensor = {0};
    field_int(&tensor, 1, 1); /* elem_type FLOAT */
    field_msg(&type, 1, &tensor);
    field_str(&vi, 1, name);
    field_msg(&vi, 2, &type);
    field_msg(graph, field, &vi);
}

/* What to put into a model, over a valid core: x -> Relu -> y. */
typedef struct spec {
    uint32_t opsets, attrs, extra_nodes, extra_inputs, extra_outputs, value_infos;
} spec;

static buf make_model(const spec *s)
{
    buf model = {0}, graph = {0}, node = {0}, m = {0};
    char name[32];
    field_int(&model, 1, 8); /* ir_version */
    field_str(&m, 1, "");
    field_int(&m, 2, 17);
    field_msg(&model, 8, &m);
    for (uint32_t i = 0; i < s->opsets; i++) {
        snprintf(name, sizeof name, "d%u", i);
        field_str(&m, 1, name);
        field_int(&m, 2, 1);
        field_msg(&model, 8, &m);
    }
    field_str(&node, 1, "x");
    field_str(&node, 2, "y");
    field_str(&node, 4, "Relu");
    for (uint32_t i = 0; i < s->attrs; i++) { /* in reverse order: the worst case for sorting */
        buf a = {0};
        snprintf(name, sizeof name, "a%06u", s->attrs - i);
        field_str(&a, 1, name);
        field_int(&a, 3, i);
        field_int(&a, 20, 2); /* INT */
        field_msg(&node, 5, &a);
    }
    field_msg(&graph, 1, &node);
    for (uint32_t i = 0; i < s->extra_nodes; i++) {
        field_str(&node, 4, "Relu");
        field_msg(&graph, 1, &node);
    }
    field_str(&graph, 2, "g");
    value_info(&graph, 11, "x");
    for (uint32_t i = 0; i < s->extra_inputs; i++) {
        snprintf(name, sizeof name, "i%u", i);
        value_info(&graph, 11, name);
    }
    value_info(&graph, 12, "y");
    for (uint32_t i = 0; i < s->extra_outputs; i++)
        value_info(&graph, 12, "y");
    for (uint32_t i = 0; i < s->value_infos; i++) {
        snprintf(name, sizeof name, "nothing%u", i);
        value_info(&graph, 13, name);
    }
    field_msg(&model, 7, &graph);
    return model;
}

/* ---- running the loaders ------------------------------------------------------ */

static char dir[64];

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT_EQUAL(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* Loads the file (ONNX or text IR by `text`), expecting `want` to be part
 * of the error, or success when want is NULL; within MAX_SECONDS. */
static void expect_load(const char *file, const void *data, size_t n, bool text, const char *want)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    write_file(path, data, n);
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = NULL;
    double t0 = now();
    kiln_status st = text ? kiln_text_load(ctx, path, &g) : kiln_onnx_load(ctx, path, &g);
    double dt = now() - t0;
    if (want) {
        CU_ASSERT_EQUAL(st, KILN_ERR_INVALID);
        if (!strstr(kiln_ctx_message(ctx), want))
            fprintf(stderr, "\n    want ...%s...\n    got  %s\n", want, kiln_ctx_message(ctx));
        CU_ASSERT_PTR_NOT_NULL(strstr(kiln_ctx_message(ctx), want));
    } else {
        CU_ASSERT_EQUAL(st, KILN_OK);
        if (st)
            fprintf(stderr, "\n    %s\n", kiln_ctx_message(ctx));
    }
    if (dt > MAX_SECONDS)
        fprintf(stderr, "\n    %s took %.1f s\n", file, dt);
    CU_ASSERT(dt <= MAX_SECONDS);
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
    unlink(path);
}

static void expect_onnx(const char *file, const spec *s, const char *want)
{
    buf b = make_model(s);
    expect_load(file, b.p, b.n, false, want);
    free(b.p);
}

static void test_onnx_limits(void)
{
    char want[160];
    /* the valid core loads */
    expect_onnx("core.onnx", &(spec){0}, NULL);
    snprintf(want, sizeof want, "the model has more than %d opset imports, kiln's limit", KILN_MAX_OPSET_IMPORTS);
    expect_onnx("opsets.onnx", &(spec){.opsets = 100000}, want);
    snprintf(want, sizeof want, "node producing 'y' (Relu, domain '', opset 17): has 100000 attributes, "
             "more than kiln's limit of %d per node", KILN_MAX_NODE_ATTRS);
    expect_onnx("attrs.onnx", &(spec){.attrs = 100000}, want);
    snprintf(want, sizeof want, "the model has more than %d graph inputs, kiln's limit", KILN_MAX_GRAPH_INPUTS);
    expect_onnx("inputs.onnx", &(spec){.extra_inputs = KILN_MAX_GRAPH_INPUTS}, want);
    snprintf(want, sizeof want, "the model has more than %d graph outputs, kiln's limit", KILN_MAX_GRAPH_OUTPUTS);
    expect_onnx("outputs.onnx", &(spec){.extra_outputs = KILN_MAX_GRAPH_OUTPUTS}, want);
    snprintf(want, sizeof want, "the model has more than %d nodes, kiln's limit", KILN_MAX_NODES);
    expect_onnx("nodes.onnx", &(spec){.extra_nodes = KILN_MAX_NODES}, want);
    snprintf(want, sizeof want, "the model has more than %d value_info entries, kiln's limit",
             KILN_MAX_VALUE_INFO);
    expect_onnx("value_info.onnx", &(spec){.value_infos = KILN_MAX_VALUE_INFO + 1}, want);
    /* under the limits: loads, fast, with a bounded list of notes */
    expect_onnx("value_info_ok.onnx", &(spec){.value_infos = 100000}, NULL);
    expect_onnx("attrs_ok.onnx", &(spec){.attrs = KILN_MAX_NODE_ATTRS}, NULL);
}

/* The same limits in the text IR. */
static void test_text_limits(void)
{
    buf t = {0};
    char line[64], want[160];
    const char *head = "kiln-ir 1\ngraph @g opset(\"\"=17";
    put(&t, head, strlen(head));
    for (int i = 0; i < 100000; i++) {
        snprintf(line, sizeof line, ", \"d%d\"=1", i);
        put(&t, line, strlen(line));
    }
    const char *rest = ") (%x: f32[2]) -> (%y) {\n  %y: f32[2] = Relu(%x)\n}\n";
    put(&t, rest, strlen(rest) + 1);
    snprintf(want, sizeof want, "more than kiln's limit of %d opset imports", KILN_MAX_OPSET_IMPORTS);
    expect_load("opsets.kir", t.p, t.n - 1, true, want);

    t.n = 0;
    head = "kiln-ir 1\ngraph @g (%x: f32[2]) -> (%y) {\n  %y: f32[2] = Relu(%x) {a0 = 0";
    put(&t, head, strlen(head));
    for (int i = 100000; i > 0; i--) {
        snprintf(line, sizeof line, ", a%d = %d", i, i);
        put(&t, line, strlen(line));
    }
    rest = "}\n}\n";
    put(&t, rest, strlen(rest) + 1);
    snprintf(want, sizeof want, "the node has more than kiln's limit of %d attributes", KILN_MAX_NODE_ATTRS);
    expect_load("attrs.kir", t.p, t.n - 1, true, want);
    free(t.p);
}

/* Shape inference folds small outputs (ConstantOfShape of a known shape,
 * 64k elements): a graph of thousands of them would fold gigabytes. */
static void test_fold_limit(void)
{
    buf t = {0};
    char line[96], want[200];
    const char *head = "kiln-ir 1\ngraph @g (%x: f32[2]) -> (%x) {\n  const %s: i64[1] = [65536]\n";
    put(&t, head, strlen(head));
    int n = (int)(KILN_MAX_FOLD_BYTES / (65536 * 4)) + 1; /* f32 outputs of 256 KiB */
    for (int i = 0; i < n; i++) {
        snprintf(line, sizeof line, "  %%y%d = ConstantOfShape(%%s)\n", i);
        put(&t, line, strlen(line));
    }
    put(&t, "}\n", 3);
    char path[128];
    snprintf(path, sizeof path, "%s/fold.kir", dir);
    write_file(path, t.p, t.n - 1);
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = NULL;
    CU_ASSERT_EQUAL_FATAL(kiln_text_load(ctx, path, &g), KILN_OK);
    CU_ASSERT_EQUAL(kiln_graph_infer(ctx, g), KILN_ERR_INVALID);
    snprintf(want, sizeof want, "node producing 'y%d' (ConstantOfShape): shape inference would fold more "
             "than %lld bytes of constants in this graph, kiln's limit", n - 1, (long long)KILN_MAX_FOLD_BYTES);
    if (!strstr(kiln_ctx_message(ctx), want))
        fprintf(stderr, "\n    want ...%s...\n    got  %s\n", want, kiln_ctx_message(ctx));
    CU_ASSERT_PTR_NOT_NULL(strstr(kiln_ctx_message(ctx), want));
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
    unlink(path);
    free(t.p);
}

/* The fold pass folds outputs up to 16 MB each: a graph of many such nodes
 * would fold gigabytes beyond its own (here 8-byte) constants. */
static void test_fold_pass_limit(void)
{
    buf t = {0};
    char line[96], want[200];
    const char *head = "kiln-ir 1\ngraph @g (%x: f32[2]) -> (%x) {\n  const %s: i64[1] = [4194304]\n";
    put(&t, head, strlen(head));
    int n = (int)(KILN_MAX_FOLD_BYTES / (16 << 20)) + 1; /* f32[4M] = 16 MiB each */
    for (int i = 0; i < n; i++) {
        snprintf(line, sizeof line, "  %%y%d = ConstantOfShape(%%s)\n", i);
        put(&t, line, strlen(line));
    }
    put(&t, "}\n", 3);
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = NULL;
    kiln_pipeline p;
    CU_ASSERT_EQUAL_FATAL(kiln_text_parse(ctx, (const char *)t.p, t.n - 1, "fold.kir", &g), KILN_OK);
    CU_ASSERT_EQUAL_FATAL(kiln_graph_infer(ctx, g), KILN_OK); /* too big for inference to fold */
    CU_ASSERT_EQUAL_FATAL(kiln_pipeline_parse(ctx, "fold", &p), KILN_OK);
    CU_ASSERT_EQUAL(kiln_pipeline_run(ctx, g, &p, &(kiln_pipeline_run_opts){0}), KILN_ERR_INVALID);
    snprintf(want, sizeof want, "node producing 'y%d' (ConstantOfShape): fold would create more than %lld "
             "bytes of constants beyond the graph's own, kiln's limit", n - 1, (long long)KILN_MAX_FOLD_BYTES);
    if (!strstr(kiln_ctx_message(ctx), want))
        fprintf(stderr, "\n    want ...%s...\n    got  %s\n", want, kiln_ctx_message(ctx));
    CU_ASSERT_PTR_NOT_NULL(strstr(kiln_ctx_message(ctx), want));
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
    free(t.p);
}

static int setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/kiln-limits-XXXXXX");
    return mkdtemp(dir) ? 0 : 1;
}

static int teardown(void)
{
    return rmdir(dir);
}

static CU_TestInfo limit_tests[] = {
    {"ONNX: each limit refused fast, with its own message", test_onnx_limits},
    {"text IR: the same limits", test_text_limits},
    {"bytes shape inference may fold", test_fold_limit},
    {"bytes the fold pass may create", test_fold_pass_limit},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"limits", setup, teardown, NULL, NULL, limit_tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
