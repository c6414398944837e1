/* test_fuse_attention.c — the fuse-attention pass on every attention
 * sample, on the IR spellings of tests/ir with random data, and the
 * transformer blocks `kiln info` lists (passes/blocks.h).
 *
 * Expected kiln.Attention counts come from the model definitions
 * (samples/zoo/export.py, samples/fmnist-vit/train.py), not from kiln:
 *   vit-opset17, vit-opset13, mae-encoder: ViT/MAE depth 4, one MHSA per
 *     Block                                                            4
 *   vit-dynbatch: the same ViT, batch symbolic (kiln.Attention reads it
 *     at run time: batch = 0); the same 4 once bound                     4
 *   deepvit: DeepViT depth 4, one ReAttention per block (Einsum head mix
 *     + BatchNormalization become the re-attention inputs)           4
 *   psvit: 2 stages x 2 PSBlocks; the 2nd of each stage reuses the 1st's
 *     probabilities (share=True, a kiln.Attention with p_in)           4
 *   evovit: depth 4 (one Block + 3 EvoBlocks each wrapping a Block)    4;
 *     the class attention of blocks 0-2 ranks the next block's tokens, so
 *     their probabilities are also read (P output: 3); the last block's
 *     global attention g is never returned, so nothing reads its P
 *   moat: 3 MOATBlocks, one MHSA each                                  3
 *   lookupvit: depth 3 x (L<-X cross attention, the lookup tokens' Block
 *     MHSA, X<-L cross attention on the transposed similarity)         9
 *   uniformer: depths (1, 1, 2, 1), SABlock (MHSA) in stages 3 and 4 only 3
 *   convbert: 2 layers x 1 self-attention; the 2 span-based dynamic
 *     convolution softmaxes (over 9 taps, axis 1) are not attention and get
 *     a remark                                                         2
 *   spike-transformer: SDSA has no softmax and no Q Kᵀ product         0
 *   swin-t: depths 2 + 2 + 6 + 2 window-attention blocks              12
 *   fmnist-vit: CONFIG depth 4                                          4
 * Every Softmax left after -O2 must have its remark (one line each).
 * Every check here fails when the pass is broken on purpose (tried: the
 * K layout's offset dropped, the scale not folded from Q, the bias
 * compressed to Bb = 1).
 */
#include "cunit_main.h"
#include "frontend/frontend.h"
#include "ir/interp.h"
#include "ir/text.h"
#include "passes/blocks.h"
#include "passes/pass.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void report(kiln_ctx *ctx, kiln_status st)
{
    if (st != KILN_OK)
        fprintf(stderr, "\n  %s\n", kiln_ctx_message(ctx));
}

static uint32_t count_op(const kiln_graph *g, kiln_op op)
{
    uint32_t n = 0;
    for (uint32_t id = 1; id < g->n_nodes; id++)
        n += g->nodes[id].op == op;
    return n;
}

/* Run a pipeline with remarks on; the remark text in *remarks (free it). */
static kiln_status run(kiln_ctx *ctx, kiln_graph *g, const char *pipeline, char **remarks)
{
    kiln_pipeline p;
    FILE *trace = tmpfile();
    CU_ASSERT_PTR_NOT_NULL_FATAL(trace);
    kiln_pipeline_run_opts opts = {.verify = true, .remarks = true, .trace = trace};
    kiln_status st = kiln_pipeline_parse(ctx, pipeline, &p);
    if (st == KILN_OK)
        st = kiln_pipeline_run(ctx, g, &p, &opts);
    report(ctx, st);
    long n = ftell(trace);
    char *text = calloc((size_t)n + 1, 1);
    rewind(trace);
    size_t got = fread(text, 1, (size_t)n, trace);
    text[got] = '\0';
    fclose(trace);
    if (remarks)
        *remarks = text;
    else
        free(text);
    return st;
}

static uint32_t count_lines(const char *s, const char *with)
{
    uint32_t n = 0;
    for (const char *line = s; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char buf[1024];
        snprintf(buf, sizeof buf, "%.*s", (int)len, line);
        n += strstr(buf, with) != NULL;
        line = end ? end + 1 : NULL;
    }
    return n;
}

/* ONNX sample, with optional --shape binding of its first input. */
static kiln_graph *load(kiln_ctx *ctx, const char *dir, const int64_t *bind, int bind_rank)
{
    char path[512];
    kiln_graph *g = NULL;
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    kiln_status st = kiln_onnx_load(ctx, path, &g);
    if (st == KILN_OK && bind) {
        kiln_shape s = kiln_shape_make(bind_rank, bind);
        st = kiln_graph_bind_shape(ctx, g, g->inputs[0], &s);
    }
    if (st == KILN_OK)
        st = kiln_graph_infer(ctx, g);
    report(ctx, st);
    CU_ASSERT_EQUAL_FATAL(st, KILN_OK);
    return g;
}

/* ---- every attention sample ------------------------------------------------------- */

typedef struct sample_attn {
    const char *dir;
    uint32_t attention;       /* kiln.Attention nodes after -O2 (derived above) */
    uint32_t with_p;          /* of those, with the probabilities output */
    uint32_t with_p_in;       /* of those, reading shared probabilities */
    uint32_t with_mix;        /* of those, with re-attention */
    const char *remark;       /* what every remark must say (NULL: no remark) */
} sample_attn;

static const sample_attn samples[] = {
    {"samples/zoo/vit-opset17", 4, 0, 0, 0, NULL},
    {"samples/zoo/vit-opset13", 4, 0, 0, 0, NULL},
    {"samples/zoo/vit-dynbatch", 4, 0, 0, 0, NULL},
    {"samples/zoo/deepvit", 4, 0, 0, 4, NULL},
    {"samples/zoo/psvit", 4, 2, 2, 0, NULL},
    {"samples/zoo/evovit", 4, 3, 0, 0, NULL},
    {"samples/zoo/moat", 3, 0, 0, 0, NULL},
    {"samples/zoo/lookupvit", 9, 0, 0, 0, NULL},
    {"samples/zoo/uniformer", 3, 0, 0, 0, NULL},
    {"samples/zoo/convbert", 2, 0, 0, 0, "softmax over axis 1 of 3, not the last: not attention"},
    {"samples/zoo/spike-transformer", 0, 0, 0, 0, NULL},
    {"samples/zoo/mae-encoder", 4, 0, 0, 0, NULL},
    {"samples/zoo/swin-t", 12, 0, 0, 0, NULL},
    {"samples/fmnist-vit", 4, 0, 0, 0, NULL},
};

static void count_kinds(const kiln_graph *g, uint32_t *p, uint32_t *p_in, uint32_t *mix)
{
    *p = *p_in = *mix = 0;
    for (uint32_t id = 1; id < g->n_nodes; id++) {
        const kiln_node *n = &g->nodes[id];
        if (n->op != KILN_OP_ATTENTION)
            continue;
        *p += n->n_out == 2;
        *p_in += kiln_node_input(g, n, 4) != 0;
        *mix += kiln_node_input(g, n, 5) != 0;
    }
}

static void check_sample(const sample_attn *s, const int64_t *bind, int bind_rank, uint32_t want)
{
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = load(ctx, s->dir, bind, bind_rank);
    char *remarks = NULL;
    CU_ASSERT_EQUAL(run(ctx, g, kiln_pipeline_for_level(2), &remarks), KILN_OK);
    uint32_t got = count_op(g, KILN_OP_ATTENTION), softmax = count_op(g, KILN_OP_SOFTMAX), p, p_in, mix;
    uint32_t lines = count_lines(remarks, "fuse-attention"), explained = s->remark && !bind
                                                                         ? count_lines(remarks, s->remark) : 0;
    count_kinds(g, &p, &p_in, &mix);
    if (got != want || softmax != lines || lines != explained || p != s->with_p || p_in != s->with_p_in ||
        mix != s->with_mix)
        fprintf(stderr, "\n  %s: %u kiln.Attention (want %u; P %u, p_in %u, mix %u), %u Softmax left, "
                "%u remarks (%u as expected):\n%s", s->dir, got, want, p, p_in, mix, softmax, lines,
                explained, remarks);
    CU_ASSERT_EQUAL(got, want);
    CU_ASSERT_EQUAL(softmax, lines);      /* no Softmax left without its remark */
    CU_ASSERT_EQUAL(lines, explained);    /* and each says what the table says */
    if (!bind) {
        CU_ASSERT_EQUAL(p, s->with_p);
        CU_ASSERT_EQUAL(p_in, s->with_p_in);
        CU_ASSERT_EQUAL(mix, s->with_mix);
    }
    free(remarks);
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
}

static void test_sample_counts(void)
{
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++)
        check_sample(&samples[i], NULL, 0, samples[i].attention);
}

/* vit-dynbatch with its batch bound: the 4 blocks of the same ViT, with
 * the batch as a size; unbound, every block reads it at run time. */
static void test_dynbatch_bound(void)
{
    static const int64_t shape[4] = {2, 3, 56, 56};
    check_sample(&samples[2], shape, 4, 4);
    for (int bound = 0; bound < 2; bound++) {
        kiln_ctx *ctx = kiln_ctx_create();
        kiln_graph *g = load(ctx, samples[2].dir, bound ? shape : NULL, 4);
        CU_ASSERT_EQUAL(run(ctx, g, kiln_pipeline_for_level(2), NULL), KILN_OK);
        for (uint32_t id = 1; id < g->n_nodes; id++) {
            const kiln_node *n = &g->nodes[id];
            uint32_t ny = 0;
            const int64_t *ys = kiln_attr_ints(g, n, "y_shape", &ny);
            if (n->op != KILN_OP_ATTENTION)
                continue;
            CU_ASSERT_EQUAL(kiln_attr_int(g, n, "batch", -1), bound ? 2 : 0);
            CU_ASSERT_FATAL(ys != NULL && ny == 3);
            CU_ASSERT_EQUAL(ys[0], bound ? 2 : 0);   /* [B, 197, 64] */
            CU_ASSERT(ys[1] == 197 && ys[2] == 64);
            CU_ASSERT_EQUAL(kiln_attr_int(g, n, "heads", 0), 2);
        }
        kiln_graph_destroy(g);
        kiln_ctx_destroy(ctx);
    }
}

/* ---- the IR spellings with random data ---------------------------------------------- */

static float uniform(uint32_t *state, float lo, float hi)
{
    *state = *state * 1664525u + 1013904223u;
    return lo + (hi - lo) * (float)(*state >> 8) / (float)(1u << 24);
}

static bool close_f32(const kiln_tensor *a, const kiln_tensor *b, double atol, double rtol, const char *what)
{
    if (a->dtype != b->dtype || a->nbytes != b->nbytes)
        return false;
    const float *x = a->data, *y = b->data;
    for (size_t i = 0; i < a->nbytes / sizeof *x; i++) {
        if (!(fabs((double)x[i] - y[i]) <= atol + rtol * fabs((double)x[i]))) {
            fprintf(stderr, "\n  %s: element %zu is %.9g, unfused %.9g", what, i, y[i], x[i]);
            return false;
        }
    }
    return true;
}

/* Parse FILE twice, fuse one copy, run both on the same random inputs;
 * symbolic input dimensions take the size `sym` (several runs of one
 * fused graph). */
static void check_ir_file_sym(const char *path, uint32_t want_attention, uint32_t seed, const int64_t *sym,
                              int n_sym)
{
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *a = NULL, *b = NULL;
    kiln_status st = kiln_text_load(ctx, path, &a);
    if (st == KILN_OK)
        st = kiln_graph_infer(ctx, a);
    if (st == KILN_OK)
        st = kiln_text_load(ctx, path, &b);
    if (st == KILN_OK)
        st = kiln_graph_infer(ctx, b);
    report(ctx, st);
    CU_ASSERT_EQUAL_FATAL(st, KILN_OK);
    CU_ASSERT_EQUAL(run(ctx, b, "fuse-attention,dce", NULL), KILN_OK);
    uint32_t got = count_op(b, KILN_OP_ATTENTION);
    if (got != want_attention)
        fprintf(stderr, "\n  %s: %u kiln.Attention, want %u", path, got, want_attention);
    CU_ASSERT_EQUAL(got, want_attention);
    for (int r = 0; r < (n_sym ? n_sym : 1); r++) {
        kiln_tensor in[8], ya[8], yb[8];
        float *buf[8];
        CU_ASSERT_FATAL(a->n_inputs <= 8 && a->n_outputs <= 8);
        for (uint32_t i = 0; i < a->n_inputs; i++) {
            kiln_shape s = a->values[a->inputs[i]].shape;
            int64_t n = 0;
            for (int k = 0; k < s.rank; k++)
                if (KILN_DIM_IS_SYM(s.dim[k]) && n_sym)
                    s.dim[k] = sym[r];
            CU_ASSERT_FATAL(kiln_shape_numel(&s, &n));
            buf[i] = malloc((size_t)n * sizeof(float) + 1);
            for (int64_t k = 0; k < n; k++)
                buf[i][k] = uniform(&seed, -2.0f, 2.0f);
            in[i] = (kiln_tensor){.dtype = KILN_DT_F32, .shape = s, .data = buf[i],
                                  .nbytes = (size_t)n * sizeof(float)};
        }
        if ((st = kiln_interp_run(ctx, a, in, a->n_inputs, ya)) == KILN_OK) {
            if ((st = kiln_interp_run(ctx, b, in, b->n_inputs, yb)) == KILN_OK) {
                for (uint32_t i = 0; i < a->n_outputs; i++) {
                    CU_ASSERT_TRUE(close_f32(&ya[i], &yb[i], 1e-5, 1e-5, path));
                    if (n_sym)  /* the run-time batch reached the output */
                        CU_ASSERT_EQUAL(yb[i].shape.dim[0], sym[r]);
                }
                kiln_interp_free_outputs(yb, b->n_outputs);
            }
            kiln_interp_free_outputs(ya, a->n_outputs);
        }
        report(ctx, st);
        CU_ASSERT_EQUAL(st, KILN_OK);
        for (uint32_t i = 0; i < a->n_inputs; i++)
            free(buf[i]);
    }
    kiln_graph_destroy(a);
    kiln_graph_destroy(b);
    kiln_ctx_destroy(ctx);
}

static void check_ir_file(const char *path, uint32_t want_attention, uint32_t seed)
{
    check_ir_file_sym(path, want_attention, seed, NULL, 0);
}

/* tests/ir/pass_fuse_attention*.kir: what each fuses is said in its
 * header comment (3 + 1 near-miss, 2, 2). */
static void test_ir_spellings(void)
{
    check_ir_file("tests/ir/pass_fuse_attention.kir", 3, 1);
    check_ir_file("tests/ir/pass_fuse_attention_bias.kir", 2, 2);
    check_ir_file("tests/ir/pass_fuse_attention_einsum.kir", 2, 3);
}

/* ---- transformer blocks ------------------------------------------------------------- */

/* ViT (pre-norm): block i starts at blocks.i/norm1 and ends at the MLP
 * residual blocks.i/Add_1, which -O2's fuse-epilogue folds (with fc2's
 * bias) into fc2's MatMul: the block ends at blocks.i/mlp/fc2/MatMul. ConvBERT (post-norm): a layer starts at its
 * first projection of h and ends at its second LayerNorm, ln2. */
static void check_blocks(const char *dir, uint32_t want, const char *first_fmt, const char *last_fmt)
{
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = load(ctx, dir, NULL, 0);
    CU_ASSERT_EQUAL(run(ctx, g, kiln_pipeline_for_level(2), NULL), KILN_OK);
    kiln_block b[16];
    uint32_t n = kiln_blocks_find(g, b, 16);
    CU_ASSERT_EQUAL(n, want);
    for (uint32_t i = 0; i < n && i < 16; i++) {
        char first[128], last[128];
        snprintf(first, sizeof first, first_fmt, i);
        snprintf(last, sizeof last, last_fmt, i);
        if (strcmp(g->nodes[b[i].first].name, first) || strcmp(g->nodes[b[i].last].name, last))
            fprintf(stderr, "\n  %s block %u: %s .. %s, want %s .. %s", dir, i, g->nodes[b[i].first].name,
                    g->nodes[b[i].last].name, first, last);
        CU_ASSERT_STRING_EQUAL(g->nodes[b[i].first].name, first);
        CU_ASSERT_STRING_EQUAL(g->nodes[b[i].last].name, last);
        CU_ASSERT_EQUAL(g->nodes[b[i].attention].op, KILN_OP_ATTENTION);
        CU_ASSERT(b[i].first < b[i].attention && b[i].attention < b[i].last);
    }
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
}

static void test_blocks(void)
{
    check_blocks("samples/zoo/vit-opset17", 4, "/blocks.%u/norm1/LayerNormalization",
                 "/blocks.%u/mlp/fc2/MatMul");
    check_blocks("samples/zoo/convbert", 2, "/layers.%u/attn/query/MatMul", "/layers.%u/ln2/LayerNormalization");
}

/* tests/ir/pass_fuse_attention_dynbatch.kir: 2 fused with the batch
 * symbolic, run at batch 1, 3 and 2 (symbolic S of y3 takes the same
 * size), and the near-miss's remark names the symbolic tokens. */
static void test_ir_dynbatch(void)
{
    static const int64_t batches[3] = {1, 3, 2};
    const char *path = "tests/ir/pass_fuse_attention_dynbatch.kir";
    check_ir_file_sym(path, 2, 4, batches, 3);
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = NULL;
    kiln_status st = kiln_text_load(ctx, path, &g);
    if (st == KILN_OK)
        st = kiln_graph_infer(ctx, g);
    report(ctx, st);
    CU_ASSERT_EQUAL_FATAL(st, KILN_OK);
    char *remarks = NULL;
    CU_ASSERT_EQUAL(run(ctx, g, "fuse-attention,dce", &remarks), KILN_OK);
    CU_ASSERT_EQUAL(count_lines(remarks, "fuse-attention"), 1);
    CU_ASSERT_EQUAL(count_lines(remarks, "the query tokens of the scores: symbolic dimension 'S' of input 'qs'"),
                    1);
    for (uint32_t id = 1; id < g->n_nodes; id++)
        if (g->nodes[id].op == KILN_OP_ATTENTION)
            CU_ASSERT_EQUAL(kiln_attr_int(g, &g->nodes[id], "batch", -1), 0);
    free(remarks);
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
}

static CU_TestInfo tests[] = {
    {"every attention sample: kiln.Attention count, remarks", test_sample_counts},
    {"vit-dynbatch with the batch bound", test_dynbatch_bound},
    {"IR spellings against the unfused graph", test_ir_spellings},
    {"symbolic batch: IR against the unfused graph at batch 1, 3, 2", test_ir_dynbatch},
    {"transformer blocks", test_blocks},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"fuse-attention", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
