/* test_fusion.c — the fusion passes (fold-batchnorm, fuse-layernorm,
 * fuse-gelu, fuse-epilogue): what they fuse in the samples, what they must leave alone,
 * and that fused graphs compute what the unfused ones do.
 *
 * Expected op counts come from the model definitions, not from kiln:
 * samples/zoo/export.py's ViT is depth 4 with pre-norm blocks (2 LayerNorms
 * and one erf-GELU MLP per block) and a final LayerNorm: 9 LayerNorms and 4
 * GELUs, as is samples/fmnist-vit/train.py's CONFIG (depth 4). The CNNs
 * build every BatchNorm as conv_bn / Conv+BN, which torch.onnx.export's
 * constant folding already folds: none may be left either way.
 * Numerics: every manifest sample through the interpreter at -O2 against
 * -O0, within the manifest's atol/rtol; small graphs of each spelling with
 * random data against the unfused graph within f32 rounding. Every check
 * here fails when a pass's arithmetic or matching is broken on purpose
 * (tried: the GELU kind swapped, the BN mean added instead of subtracted).
 */
#include "cunit_main.h"
#include "sample_run.h"
#include "frontend/frontend.h"
#include "ir/interp.h"
#include "ir/text.h"
#include "passes/pass.h"
#include "runtime/krt_npy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------------- */

static void report(kiln_ctx *ctx, kiln_status st)
{
    if (st != KILN_OK)
        fprintf(stderr, "\n  %s\n", kiln_ctx_message(ctx));
}

static kiln_status run(kiln_ctx *ctx, kiln_graph *g, const char *pipeline)
{
    kiln_pipeline p;
    kiln_pipeline_run_opts opts = {.verify = true};
    kiln_status st = kiln_pipeline_parse(ctx, pipeline, &p);
    if (st == KILN_OK)
        st = kiln_pipeline_run(ctx, g, &p, &opts);
    report(ctx, st);
    return st;
}

static uint32_t count_op(const kiln_graph *g, kiln_op op)
{
    uint32_t n = 0;
    for (uint32_t id = 1; id < g->n_nodes; id++)
        n += g->nodes[id].op == op;
    return n;
}

static kiln_graph *load(kiln_ctx *ctx, const char *dir)
{
    char path[512];
    kiln_graph *g = NULL;
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    kiln_status st = kiln_onnx_load(ctx, path, &g);
    if (st == KILN_OK)
        st = kiln_graph_infer(ctx, g);
    report(ctx, st);
    CU_ASSERT_EQUAL_FATAL(st, KILN_OK);
    return g;
}

/* ---- op counts after -O2 ---------------------------------------------------------- */

typedef struct op_count {
    kiln_op op;
    uint32_t want;
} op_count;

typedef struct sample_counts {
    const char *dir;
    op_count count[4];        /* ends at want == UINT32_MAX or the max */
    uint32_t fused_gelu;      /* kiln.FusedMatMul nodes whose epilogue is a GELU */
} sample_counts;

#define END {KILN_OP_COUNT, UINT32_MAX}
static const sample_counts expected_counts[] = {
    /* The 4 blocks' MLP GELUs: fuse-gelu makes each a kiln.Gelu, then
     * fuse-epilogue folds it (and fc1's bias) into fc1's MatMul. */
    {"samples/zoo/vit-opset13", {{KILN_OP_LAYERNORMALIZATION, 9}, {KILN_OP_REDUCEMEAN, 0},
                                 {KILN_OP_GELU, 0}, {KILN_OP_ERF, 0}}, 4},
    {"samples/zoo/vit-opset17", {{KILN_OP_LAYERNORMALIZATION, 9}, {KILN_OP_GELU, 0},
                                 {KILN_OP_ERF, 0}, END}, 4},
    {"samples/fmnist-vit", {{KILN_OP_LAYERNORMALIZATION, 9}, {KILN_OP_GELU, 0}, {KILN_OP_ERF, 0}, END}, 4},
    /* MobileNetV2-CA (export.py MBV2CA, 8 inverted residuals, 7 with an
     * expansion, 4 with a residual): Conv+BN+ReLU6 becomes one
     * kiln.FusedConv for the stem, the 7 expansions, the 8 depthwise convs
     * and the last 1x1; each CoordAtt's two gate convs take their Sigmoid;
     * the 4 residual blocks' projections take the Add: 1+7+8+1+16+4 = 37.
     * Left: each CoordAtt's conv1 (its h_swish is spelled x*relu6(x+3)/6,
     * x used twice) and the 4 projections without a residual: 12. */
    {"samples/zoo/mbv2-coordatt", {{KILN_OP_BATCHNORMALIZATION, 0}, {KILN_OP_FUSEDCONV, 37},
                                   {KILN_OP_CONV, 12}, END}, 0},
    /* ResNetTA (6 BasicBlockTA): the stem's and each conv1's Conv+BN+ReLU,
     * and the 3 triplet-attention gates' Conv+BN+Sigmoid per block, fuse:
     * 1+6+18 = 25. conv2 feeds the attention's three views and the 2
     * downsample convs the residual Add of a later value: 8 stay Conv. */
    {"samples/zoo/resnet-triplet", {{KILN_OP_BATCHNORMALIZATION, 0}, {KILN_OP_FUSEDCONV, 25},
                                    {KILN_OP_CONV, 8}, END}, 0},
    {"samples/zoo/mobilenet-v3-small", {{KILN_OP_BATCHNORMALIZATION, 0}, END}, 0},
    {"samples/zoo/mobilenext", {{KILN_OP_BATCHNORMALIZATION, 0}, END}, 0},
};

static void test_sample_counts(void)
{
    for (size_t i = 0; i < sizeof expected_counts / sizeof expected_counts[0]; i++) {
        const sample_counts *s = &expected_counts[i];
        kiln_ctx *ctx = kiln_ctx_create();
        kiln_graph *g = load(ctx, s->dir);
        CU_ASSERT_EQUAL(run(ctx, g, kiln_pipeline_for_level(2)), KILN_OK);
        for (int k = 0; k < 4 && s->count[k].want != UINT32_MAX; k++) {
            uint32_t got = count_op(g, s->count[k].op);
            if (got != s->count[k].want)
                fprintf(stderr, "\n  %s: %u %s after -O2, want %u", s->dir, got,
                        kiln_op_name(s->count[k].op), s->count[k].want);
            CU_ASSERT_EQUAL(got, s->count[k].want);
        }
        uint32_t gelu = 0;
        for (uint32_t id = 1; id < g->n_nodes; id++)
            gelu += g->nodes[id].op == KILN_OP_FUSEDMATMUL &&
                    strcmp(kiln_attr_string(g, &g->nodes[id], "activation", "none"), "gelu") == 0;
        if (gelu != s->fused_gelu)
            fprintf(stderr, "\n  %s: %u MatMuls with a fused GELU after -O2, want %u", s->dir, gelu,
                    s->fused_gelu);
        CU_ASSERT_EQUAL(gelu, s->fused_gelu);
        kiln_graph_destroy(g);
        kiln_ctx_destroy(ctx);
    }
}

/* ---- every sample: -O2 computes what -O0 does ------------------------------------ */


/* Every f32 element of b within atol + rtol * |a|; the worst one named. */
static bool close_f32(const kiln_tensor *a, const kiln_tensor *b, double atol, double rtol,
                      const char *what)
{
    if (a->dtype != b->dtype || a->nbytes != b->nbytes) {
        fprintf(stderr, "\n  %s: outputs differ in type", what);
        return false;
    }
    if (a->dtype != KILN_DT_F32)
        return memcmp(a->data, b->data, a->nbytes) == 0;
    const float *x = a->data, *y = b->data;
    for (size_t i = 0; i < a->nbytes / sizeof *x; i++) {
        if (fabs((double)x[i] - y[i]) > atol + rtol * fabs((double)x[i])) {
            fprintf(stderr, "\n  %s: element %zu is %.9g, unfused %.9g", what, i, y[i], x[i]);
            return false;
        }
    }
    return true;
}

static void sample_invariance(const char *dir, double atol, double rtol)
{
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = load(ctx, dir);
    kiln_tensor before[8], after[8];
    CU_ASSERT_FATAL(g->n_outputs <= 8);
    if (interpret(ctx, g, dir, before) == KILN_OK) {
        if (run(ctx, g, kiln_pipeline_for_level(2)) == KILN_OK &&
            interpret(ctx, g, dir, after) == KILN_OK) {
            for (uint32_t i = 0; i < g->n_outputs; i++)
                CU_ASSERT_TRUE(close_f32(&before[i], &after[i], atol, rtol, dir));
            kiln_interp_free_outputs(after, g->n_outputs);
        } else {
            CU_FAIL("-O2 run");
        }
        kiln_interp_free_outputs(before, g->n_outputs);
    } else {
        CU_FAIL("-O0 run");
    }
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    fclose(f);
    return s;
}

/* The manifest: a header, then name, dir, inputs, outputs, opset, atol, rtol. */
static void test_sample_invariance(void)
{
    char *m = read_text("samples/zoo/manifest.tsv");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    int n = 0;
    for (char *line = strchr(m, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
        char name[128], dir[256];
        double atol, rtol;
        int inputs, outputs, opset;
        if (sscanf(line + 1, "%127s %255s %d %d %d %lf %lf", name, dir, &inputs, &outputs, &opset,
                   &atol, &rtol) != 7)
            continue;
        sample_invariance(dir, atol, rtol);
        n++;
    }
    CU_ASSERT(n >= 20);
    free(m);
}

/* ---- spellings with random data ------------------------------------------------------ */

/* Deterministic uniform floats in [lo, hi). */
static float uniform(uint32_t *state, float lo, float hi)
{
    *state = *state * 1664525u + 1013904223u;
    return lo + (hi - lo) * (float)(*state >> 8) / (float)(1u << 24);
}

/* "[v0, v1, ...]" of n random floats, %.9g so that they read back exactly. */
static void put_floats(char *buf, size_t size, uint32_t *state, int n, float lo, float hi)
{
    size_t at = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < n; i++)
        at += (size_t)snprintf(buf + at, size - at, "%s%.9g", i ? ", " : "", uniform(state, lo, hi));
    snprintf(buf + at, size - at, "]");
}

/* Parse text (graph input %x: f32, filled with x[nx]), run the unfused
 * graph and the graph after `pass`; op `fused` must appear `n_fused` times
 * and the outputs agree within tolerance. */
static void check_fused(const char *text, const float *x, size_t nx, const char *pass,
                        kiln_op fused, uint32_t n_fused, double atol, double rtol)
{
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *a = NULL, *b = NULL;
    kiln_status st = kiln_text_parse(ctx, text, strlen(text), "t.kir", &a);
    if (st == KILN_OK)
        st = kiln_graph_infer(ctx, a);
    if (st == KILN_OK)
        st = kiln_text_parse(ctx, text, strlen(text), "t.kir", &b);
    if (st == KILN_OK)
        st = kiln_graph_infer(ctx, b);
    report(ctx, st);
    CU_ASSERT_EQUAL_FATAL(st, KILN_OK);
    CU_ASSERT_EQUAL(run(ctx, b, pass), KILN_OK);
    uint32_t got = count_op(b, fused);
    if (got != n_fused)
        fprintf(stderr, "\n  %s: %u %s, want %u\n%s", pass, got, kiln_op_name(fused), n_fused, text);
    CU_ASSERT_EQUAL(got, n_fused);
    const kiln_value *xv = &a->values[a->inputs[0]];
    kiln_tensor in = {.dtype = KILN_DT_F32, .shape = xv->shape, .data = x, .nbytes = nx * sizeof *x};
    kiln_tensor ya[8], yb[8];
    CU_ASSERT_FATAL(a->n_outputs <= 8);
    if ((st = kiln_interp_run(ctx, a, &in, 1, ya)) == KILN_OK) {
        if ((st = kiln_interp_run(ctx, b, &in, 1, yb)) == KILN_OK) {
            for (uint32_t i = 0; i < a->n_outputs; i++)
                CU_ASSERT_TRUE(close_f32(&ya[i], &yb[i], atol, rtol, pass));
            kiln_interp_free_outputs(yb, b->n_outputs);
        }
        kiln_interp_free_outputs(ya, a->n_outputs);
    }
    report(ctx, st);
    CU_ASSERT_EQUAL(st, KILN_OK);
    kiln_graph_destroy(a);
    kiln_graph_destroy(b);
    kiln_ctx_destroy(ctx);
}

static void fill(float *x, size_t n, uint32_t *state, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = uniform(state, lo, hi);
}

enum { TEXT_MAX = 1 << 16 };

/* Every GELU spelling of the pass's table, on 64 values in [-4, 4):
 * kiln.Gelu uses the exact constants, so a few f32 ulps apart at most. */
static void test_gelu_spellings(void)
{
    static const char *const bodies[] = {
        /* erf, x * (1/sqrt2), 0.5 applied to (1 + erf) */
        "  %d = Mul(%x, %rsqrt2)\n  %e = Erf(%d)\n  %a = Add(%e, %one)\n"
        "  %h = Mul(%a, %half)\n  %y = Mul(%x, %h)\n",
        /* erf, x / sqrt2, 0.5 * x first */
        "  %h = Mul(%x, %half)\n  %d = Div(%x, %sqrt2)\n  %e = Erf(%d)\n  %a = Add(%one, %e)\n"
        "  %y = Mul(%a, %h)\n",
        /* tanh with Pow(x, 3), 0.5 last */
        "  %p = Pow(%x, %three)\n  %k = Mul(%p, %kappa)\n  %s = Add(%x, %k)\n  %i = Mul(%s, %beta)\n"
        "  %t = Tanh(%i)\n  %a = Add(%t, %one)\n  %m = Mul(%x, %a)\n  %y = Mul(%m, %half)\n",
        /* tanh with x * (x * x), 0.5 applied to (1 + tanh) */
        "  %q = Mul(%x, %x)\n  %c = Mul(%q, %x)\n  %k = Mul(%kappa, %c)\n  %s = Add(%k, %x)\n"
        "  %i = Mul(%beta, %s)\n  %t = Tanh(%i)\n  %a = Add(%one, %t)\n  %h = Mul(%half, %a)\n"
        "  %y = Mul(%h, %x)\n",
    };
    char *text = malloc(TEXT_MAX);
    float x[64];
    uint32_t state = 7;
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        fill(x, 64, &state, -4.0f, 4.0f);
        snprintf(text, TEXT_MAX,
                 "kiln-ir 1\ngraph @g (%%x: f32[4,16]) -> (%%y) {\n"
                 "  const %%sqrt2: f32[] = [1.4142135]\n  const %%rsqrt2: f32[] = [0.70710677]\n"
                 "  const %%one: f32[] = [1.0]\n  const %%half: f32[] = [0.5]\n"
                 "  const %%three: f32[] = [3.0]\n  const %%kappa: f32[] = [0.044715]\n"
                 "  const %%beta: f32[] = [0.7978846]\n%s}\n",
                 bodies[i]);
        check_fused(text, x, 64, "fuse-gelu", KILN_OP_GELU, 1, 1e-6, 1e-5);
    }
    free(text);
}

/* LayerNorm spellings over the last axis and the last two, against the
 * decomposed graph: the kernel computes the same statistics in f32. */
static void test_layernorm_spellings(void)
{
    static const char *const bodies[] = {
        /* Pow, Div, gamma and beta over the last axis */
        "  %m = ReduceMean(%x, %last)\n  %d = Sub(%x, %m)\n  %p = Pow(%d, %two)\n"
        "  %v = ReduceMean(%p, %last)\n  %e = Add(%v, %eps)\n  %s = Sqrt(%e)\n  %n = Div(%d, %s)\n"
        "  %g = Mul(%gamma, %n)\n  %y = Add(%beta, %g)\n",
        /* d*d, Reciprocal, over the last two axes, no affine part */
        "  %m = ReduceMean(%x, %last2)\n  %d = Sub(%x, %m)\n  %p = Mul(%d, %d)\n"
        "  %v = ReduceMean(%p, %last2)\n  %e = Add(%eps, %v)\n  %s = Sqrt(%e)\n"
        "  %r = Reciprocal(%s)\n  %y = Mul(%r, %d)\n",
        /* Pow, Reciprocal, gamma as [1, 16] over the last axis */
        "  %m = ReduceMean(%x, %last)\n  %d = Sub(%x, %m)\n  %p = Pow(%d, %two)\n"
        "  %v = ReduceMean(%p, %last)\n  %e = Add(%v, %eps)\n  %s = Sqrt(%e)\n"
        "  %r = Reciprocal(%s)\n  %n = Mul(%d, %r)\n  %g = Mul(%n, %gamma2)\n  %y = Add(%g, %beta)\n",
    };
    char *text = malloc(TEXT_MAX), gamma[1024], beta[1024];
    float x[3 * 4 * 16];
    uint32_t state = 11;
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        fill(x, 3 * 4 * 16, &state, -3.0f, 5.0f);
        put_floats(gamma, sizeof gamma, &state, 16, 0.5f, 1.5f);
        put_floats(beta, sizeof beta, &state, 16, -0.5f, 0.5f);
        snprintf(text, TEXT_MAX,
                 "kiln-ir 1\ngraph @g (%%x: f32[3,4,16]) -> (%%y) {\n"
                 "  const %%gamma: f32[16] = %s\n  const %%gamma2: f32[1,16] = %s\n"
                 "  const %%beta: f32[16] = %s\n  const %%last: i64[1] = [-1]\n"
                 "  const %%last2: i64[2] = [-2, -1]\n  const %%two: f32[] = [2.0]\n"
                 "  const %%eps: f32[] = [1e-05]\n%s}\n",
                 gamma, gamma, beta, bodies[i]);
        check_fused(text, x, 3 * 4 * 16, "fuse-layernorm", KILN_OP_LAYERNORMALIZATION, 1, 1e-5, 1e-5);
    }
    free(text);
}

/* A grouped Conv with a bias, and one without, each followed by a BN with
 * random statistics: the folded Conv within f32 rounding of the pair. */
static void test_fold_batchnorm_numbers(void)
{
    char *text = malloc(TEXT_MAX), w[4096], b[256], w2[4096], p[4][256];
    float x[4 * 5 * 5];
    uint32_t state = 3;
    fill(x, 4 * 5 * 5, &state, -2.0f, 2.0f);
    put_floats(w, sizeof w, &state, 6 * 2 * 3 * 3, -1.0f, 1.0f);   /* 6 out, group 2 */
    put_floats(b, sizeof b, &state, 6, -1.0f, 1.0f);
    put_floats(w2, sizeof w2, &state, 6 * 4, -1.0f, 1.0f);         /* 1x1, no bias */
    put_floats(p[0], sizeof p[0], &state, 6, 0.5f, 2.0f);           /* scale */
    put_floats(p[1], sizeof p[1], &state, 6, -1.0f, 1.0f);          /* bias */
    put_floats(p[2], sizeof p[2], &state, 6, -0.5f, 0.5f);          /* mean */
    put_floats(p[3], sizeof p[3], &state, 6, 0.1f, 3.0f);           /* var */
    snprintf(text, TEXT_MAX,
             "kiln-ir 1\ngraph @g (%%x: f32[1,4,5,5]) -> (%%y1, %%y2) {\n"
             "  const %%w: f32[6,2,3,3] = %s\n  const %%b: f32[6] = %s\n"
             "  const %%w2: f32[6,4,1,1] = %s\n  const %%s: f32[6] = %s\n"
             "  const %%bb: f32[6] = %s\n  const %%m: f32[6] = %s\n  const %%v: f32[6] = %s\n"
             "  %%c1 = Conv(%%x, %%w, %%b) {group = 2, kernel_shape = [3, 3], pads = [1, 1, 1, 1]}\n"
             "  %%y1 = BatchNormalization(%%c1, %%s, %%bb, %%m, %%v) {epsilon = 0.001}\n"
             "  %%c2 = Conv(%%x, %%w2) {kernel_shape = [1, 1]}\n"
             "  %%y2 = BatchNormalization(%%c2, %%s, %%bb, %%m, %%v)\n}\n",
             w, b, w2, p[0], p[1], p[2], p[3]);
    check_fused(text, x, 4 * 5 * 5, "fold-batchnorm", KILN_OP_BATCHNORMALIZATION, 0, 1e-5, 1e-5);
    check_fused(text, x, 4 * 5 * 5, "fold-batchnorm", KILN_OP_CONV, 2, 1e-5, 1e-5);
    free(text);
}

/* Gemm with transB, alpha, beta and a [1, N] C; a 2-D MatMul: each with a
 * BN of random statistics, folded within f32 rounding. */
static void test_fold_batchnorm_gemm_numbers(void)
{
    char *text = malloc(TEXT_MAX), w[4096], w2[4096], c[256], p[4][256];
    float x[3 * 8];
    uint32_t state = 5;
    fill(x, 3 * 8, &state, -2.0f, 2.0f);
    put_floats(w, sizeof w, &state, 6 * 8, -1.0f, 1.0f);   /* [N=6, K=8], transB */
    put_floats(w2, sizeof w2, &state, 8 * 6, -1.0f, 1.0f); /* [K=8, N=6] */
    put_floats(c, sizeof c, &state, 6, -1.0f, 1.0f);
    put_floats(p[0], sizeof p[0], &state, 6, 0.5f, 2.0f);
    put_floats(p[1], sizeof p[1], &state, 6, -1.0f, 1.0f);
    put_floats(p[2], sizeof p[2], &state, 6, -0.5f, 0.5f);
    put_floats(p[3], sizeof p[3], &state, 6, 0.1f, 3.0f);
    snprintf(text, TEXT_MAX,
             "kiln-ir 1\ngraph @g (%%x: f32[3,8]) -> (%%y1, %%y2) {\n"
             "  const %%w: f32[6,8] = %s\n  const %%w2: f32[8,6] = %s\n  const %%c: f32[1,6] = %s\n"
             "  const %%s: f32[6] = %s\n  const %%bb: f32[6] = %s\n  const %%m: f32[6] = %s\n"
             "  const %%v: f32[6] = %s\n"
             "  %%g1 = Gemm(%%x, %%w, %%c) {alpha = 0.75, beta = 1.5, transB = 1}\n"
             "  %%y1 = BatchNormalization(%%g1, %%s, %%bb, %%m, %%v)\n"
             "  %%g2 = MatMul(%%x, %%w2)\n"
             "  %%y2 = BatchNormalization(%%g2, %%s, %%bb, %%m, %%v) {epsilon = 0.01}\n}\n",
             w, w2, c, p[0], p[1], p[2], p[3]);
    check_fused(text, x, 3 * 8, "fold-batchnorm", KILN_OP_BATCHNORMALIZATION, 0, 1e-5, 1e-5);
    check_fused(text, x, 3 * 8, "fold-batchnorm", KILN_OP_GEMM, 2, 1e-5, 1e-5);
    free(text);
}

/* ---- what must stay --------------------------------------------------------------------- */

/* Parse, run the pass, count op. */
static uint32_t count_after(const char *text, const char *pass, kiln_op op)
{
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = NULL;
    kiln_status st = kiln_text_parse(ctx, text, strlen(text), "t.kir", &g);
    if (st == KILN_OK)
        st = kiln_graph_infer(ctx, g);
    if (st == KILN_OK)
        st = run(ctx, g, pass);
    report(ctx, st);
    CU_ASSERT_EQUAL_FATAL(st, KILN_OK);
    uint32_t n = count_op(g, op);
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
    return n;
}

#define GELU_HEAD "kiln-ir 1\ngraph @g (%x: f32[2,8]) -> (%y) {\n" \
    "  const %sqrt2: f32[] = [1.4142135]\n  const %one: f32[] = [1.0]\n"
#define GELU_TAIL "  %e = Erf(%d)\n  %a = Add(%e, %one)\n  %m = Mul(%x, %a)\n  %y = Mul(%m, %half)\n}\n"

static void test_gelu_negatives(void)
{
    /* 0.5 off by far more than an ulp */
    CU_ASSERT_EQUAL(count_after(GELU_HEAD "  const %half: f32[] = [0.50001]\n"
                                          "  %d = Div(%x, %sqrt2)\n" GELU_TAIL,
                                "fuse-gelu", KILN_OP_GELU), 0);
    /* the divisor is sqrt 2 in f64 but not an f32 neighbour of it: 1.41421 */
    CU_ASSERT_EQUAL(count_after(GELU_HEAD "  const %half: f32[] = [0.5]\n  const %s: f32[] = [1.41421]\n"
                                          "  %d = Div(%x, %s)\n" GELU_TAIL,
                                "fuse-gelu", KILN_OP_GELU), 0);
    /* Erf of another value than x */
    CU_ASSERT_EQUAL(count_after("kiln-ir 1\ngraph @g (%x: f32[2,8], %z: f32[2,8]) -> (%y) {\n"
                                "  const %sqrt2: f32[] = [1.4142135]\n  const %one: f32[] = [1.0]\n"
                                "  const %half: f32[] = [0.5]\n  %d = Div(%z, %sqrt2)\n" GELU_TAIL,
                                "fuse-gelu", KILN_OP_GELU), 0);
    /* the constant broadcasts x to a bigger shape */
    CU_ASSERT_EQUAL(count_after(GELU_HEAD "  const %half: f32[3,1,1] = [0.5, 0.5, 0.5]\n"
                                          "  %d = Div(%x, %sqrt2)\n" GELU_TAIL,
                                "fuse-gelu", KILN_OP_GELU), 0);
    /* the exact spelling fuses (the control) */
    CU_ASSERT_EQUAL(count_after(GELU_HEAD "  const %half: f32[] = [0.5]\n"
                                          "  %d = Div(%x, %sqrt2)\n" GELU_TAIL,
                                "fuse-gelu", KILN_OP_GELU), 1);
}

#define LN_HEAD "kiln-ir 1\ngraph @g (%x: f32[2,3,8]) -> (%y) {\n" \
    "  const %two: f32[] = [2.0]\n  const %eps: f32[] = [1e-05]\n"
#define LN_BODY(axes1, axes2) \
    "  %m = ReduceMean(%x, " axes1 ")\n  %d = Sub(%x, %m)\n  %p = Pow(%d, %two)\n" \
    "  %v = ReduceMean(%p, " axes2 ")\n  %e = Add(%v, %eps)\n  %s = Sqrt(%e)\n" \
    "  %y = Div(%d, %s)\n}\n"

#define LN_AXES "  const %a: i64[1] = [2]\n  const %b: i64[1] = [1]\n  const %ab: i64[2] = [1, 2]\n"

static uint32_t layernorms(const char *text)
{
    return count_after(text, "fuse-layernorm", KILN_OP_LAYERNORMALIZATION);
}

static void test_layernorm_negatives(void)
{
    /* the two means over different axes */
    CU_ASSERT_EQUAL(layernorms(LN_HEAD LN_AXES LN_BODY("%a", "%ab")), 0);
    /* not a suffix of the dims */
    CU_ASSERT_EQUAL(layernorms(LN_HEAD LN_AXES LN_BODY("%b", "%b")), 0);
    /* keepdims = 0 on a square x: the Sub broadcasts the means along the
     * wrong axis, a valid graph that is not a LayerNorm */
    CU_ASSERT_EQUAL(layernorms("kiln-ir 1\ngraph @g (%x: f32[8,8]) -> (%y) {\n"
                               "  const %two: f32[] = [2.0]\n  const %eps: f32[] = [1e-05]\n"
                               "  const %a: i64[1] = [1]\n"
                               "  %m = ReduceMean(%x, %a) {keepdims = 0}\n  %d = Sub(%x, %m)\n"
                               "  %p = Pow(%d, %two)\n  %v = ReduceMean(%p, %a) {keepdims = 0}\n"
                               "  %e = Add(%v, %eps)\n  %s = Sqrt(%e)\n  %y = Div(%d, %s)\n}\n"), 0);
    /* eps that is not one element */
    CU_ASSERT_EQUAL(layernorms("kiln-ir 1\ngraph @g (%x: f32[2,3,8]) -> (%y) {\n"
                               "  const %two: f32[] = [2.0]\n  const %eps: f32[3,1] = [1e-05, 1e-05, 1e-05]\n"
                               LN_AXES LN_BODY("%a", "%a")), 0);
    /* the controls: over axis 2, and over axes [1, 2] */
    CU_ASSERT_EQUAL(layernorms(LN_HEAD LN_AXES LN_BODY("%a", "%a")), 1);
    CU_ASSERT_EQUAL(layernorms(LN_HEAD LN_AXES LN_BODY("%ab", "%ab")), 1);
}

/* fuse-epilogue: every activation, bias and residual, on shapes that
 * cross the GEMM's tiles and K slices (K 300, N 70: edge tiles of every
 * kernel), with A batched (folds into M) and with B per batch (does not):
 * the fused kernel against the unfused ops, both through the interpreter. */
static void test_epilogue_numbers(void)
{
    enum { B = 2, M = 37, K = 300, N = 70, SIZE = 2 << 20 };
    char *text = malloc(SIZE), *w = malloc(SIZE / 2), *w3 = malloc(SIZE / 2), b[4096];
    uint32_t state = 7;
    put_floats(w, SIZE / 2, &state, K * N, -0.1f, 0.1f);
    put_floats(w3, SIZE / 2, &state, B * K * N, -0.1f, 0.1f);
    put_floats(b, sizeof b, &state, N, -1.0f, 1.0f);
    snprintf(text, SIZE,
             "kiln-ir 1\ngraph @g (%%x: f32[%d,%d,%d]) -> (%%y1, %%y2, %%y3, %%y4, %%y5, %%y6, %%y7, %%y8) {\n"
             "  const %%w: f32[%d,%d] = %s\n  const %%w3: f32[%d,%d,%d] = %s\n"
             "  const %%b: f32[%d] = %s\n  const %%lo: f32[] = [-0.5]\n  const %%hi: f32[] = [0.75]\n"
             "  %%r = MatMul(%%x, %%w)\n"
             "  %%h1 = MatMul(%%x, %%w)\n  %%a1 = Add(%%h1, %%b)\n  %%y1 = kiln.Gelu(%%a1)\n"
             "  %%h2 = MatMul(%%x, %%w)\n  %%a2 = Add(%%b, %%h2)\n"
             "  %%y2 = kiln.Gelu(%%a2) {approximate = \"tanh\"}\n"
             "  %%h3 = MatMul(%%x, %%w)\n  %%a3 = Add(%%h3, %%b)\n  %%g3 = Relu(%%a3)\n"
             "  %%y3 = Add(%%g3, %%r)\n"
             "  %%h4 = MatMul(%%x, %%w)\n  %%s4 = Sigmoid(%%h4)\n  %%y4 = Mul(%%s4, %%h4)\n"
             "  %%h5 = MatMul(%%x, %%w)\n  %%a5 = Add(%%h5, %%b)\n  %%y5 = Sigmoid(%%a5)\n"
             "  %%h6 = MatMul(%%x, %%w)\n  %%y6 = HardSwish(%%h6)\n"
             "  %%h7 = MatMul(%%x, %%w)\n  %%a7 = Add(%%h7, %%b)\n  %%c7 = Clip(%%a7, %%lo, %%hi)\n"
             "  %%y7 = Add(%%r, %%c7)\n"
             "  %%h8 = MatMul(%%x, %%w3)\n  %%a8 = Add(%%h8, %%b)\n  %%y8 = Add(%%a8, %%r)\n}\n",
             B, M, K, K, N, w, B, K, N, w3, N, b);
    float *x = malloc(sizeof(float) * B * M * K);
    fill(x, (size_t)B * M * K, &state, -2.0f, 2.0f);
    check_fused(text, x, (size_t)B * M * K, "fuse-epilogue,dce", KILN_OP_FUSEDMATMUL, 8, 1e-5, 1e-5);
    free(text), free(w), free(w3), free(x);
}

/* fuse-epilogue on Conv: random geometries (groups 1, 2 and depthwise,
 * strides, pads, dilations, 1x1 and 3x3 kernels, 1-D to 3-D... 2-D here,
 * with output planes that cross the conv kernel's position blocks), each
 * with every activation, a bias Add on a bias-less Conv and a residual:
 * the kiln.FusedConv kernel against the unfused ops, both through the
 * interpreter. The residual is another Conv of the same input (computed
 * before the fused one, as the pass requires). */
static void test_conv_epilogue_numbers(void)
{
    enum { SIZE = 1 << 20 };
    char *text = malloc(SIZE), *w = malloc(SIZE / 4), b[8192], bc[8192];
    uint32_t state = 11;
    for (int round = 0; round < 8; round++) {
        int C = 2 + (int)(uniform(&state, 0, 6)), H = 5 + (int)uniform(&state, 0, 20);
        int Wd = 5 + (int)uniform(&state, 0, 20);
        int groups[3] = {1, C % 2 == 0 ? 2 : 1, C};
        int G = groups[round % 3], M = G * (1 + (int)uniform(&state, 0, 3));
        int k = uniform(&state, 0, 1) < 0.3f ? 1 : 3, s = 1 + (uniform(&state, 0, 1) < 0.4f);
        int dl = k == 3 && uniform(&state, 0, 1) < 0.3f ? 2 : 1;
        int pad = (int)uniform(&state, 0, (float)((k - 1) * dl + 1));
        if (round == 0)   /* a big plane: several position blocks of the kernel */
            C = 8, H = 40, Wd = 37, G = 1, M = 70, k = 3, s = 1, dl = 1, pad = 1;
        if (round == 1)   /* depthwise, stride 2 */
            C = 12, H = 29, Wd = 31, G = 12, M = 12, k = 3, s = 2, dl = 1, pad = 1;
        if (round == 2)   /* pointwise: the GEMM straight on the input */
            C = 24, H = 17, Wd = 19, G = 1, M = 40, k = 1, s = 1, dl = 1, pad = 0;
        int nw = M * (C / G) * k * k;
        put_floats(w, SIZE / 4, &state, nw, -0.3f, 0.3f);
        put_floats(b, sizeof b, &state, M, -1.0f, 1.0f);
        put_floats(bc, sizeof bc, &state, M, -1.0f, 1.0f);
        char attrs[256];
        snprintf(attrs, sizeof attrs,
                 "{dilations = [%d, %d], group = %d, kernel_shape = [%d, %d], pads = [%d, %d, %d, %d], "
                 "strides = [%d, %d]}", dl, dl, G, k, k, pad, pad, pad, pad, s, s);
        snprintf(text, SIZE,
                 "kiln-ir 1\ngraph @g (%%x: f32[1,%d,%d,%d]) -> (%%y1, %%y2, %%y3, %%y4, %%y5, %%y6, %%y7, %%y8) {\n"
                 "  const %%w: f32[%d,%d,%d,%d] = %s\n  const %%b: f32[%d] = %s\n"
                 "  const %%bc: f32[%d,1,1] = %s\n"
                 "  const %%lo: f32[] = [-0.5]\n  const %%hi: f32[] = [0.75]\n"
                 "  %%r = Conv(%%x, %%w) %s\n"
                 "  %%c1 = Conv(%%x, %%w, %%b) %s\n  %%g1 = Relu(%%c1)\n  %%y1 = Add(%%g1, %%r)\n"
                 "  %%c2 = Conv(%%x, %%w) %s\n  %%a2 = Add(%%bc, %%c2)\n  %%y2 = Clip(%%a2, %%lo, %%hi)\n"
                 "  %%c3 = Conv(%%x, %%w, %%b) %s\n  %%y3 = HardSwish(%%c3)\n"
                 "  %%c4 = Conv(%%x, %%w, %%b) %s\n  %%s4 = Sigmoid(%%c4)\n  %%y4 = Mul(%%c4, %%s4)\n"
                 "  %%c5 = Conv(%%x, %%w) %s\n  %%y5 = Sigmoid(%%c5)\n"
                 "  %%c6 = Conv(%%x, %%w, %%b) %s\n  %%y6 = kiln.Gelu(%%c6)\n"
                 "  %%c7 = Conv(%%x, %%w, %%b) %s\n  %%y7 = kiln.Gelu(%%c7) {approximate = \"tanh\"}\n"
                 "  %%c8 = Conv(%%x, %%w, %%b) %s\n  %%y8 = Add(%%r, %%c8)\n}\n",
                 C, H, Wd, M, C / G, k, k, w, M, b, M, bc, attrs, attrs, attrs, attrs, attrs, attrs,
                 attrs, attrs, attrs);
        size_t nx = (size_t)C * H * Wd;
        float *x = malloc(sizeof(float) * nx);
        fill(x, nx, &state, -2.0f, 2.0f);
        check_fused(text, x, nx, "fuse-epilogue,dce", KILN_OP_FUSEDCONV, 8, 1e-5, 1e-5);
        free(x);
    }
    free(text), free(w);
}

static CU_TestInfo sample_tests[] = {
    {"fused op counts after -O2", test_sample_counts},
    {"every sample: -O2 within the manifest tolerance of -O0", test_sample_invariance},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo spelling_tests[] = {
    {"fuse-gelu: spellings compute GELU", test_gelu_spellings},
    {"fuse-layernorm: spellings compute LayerNorm", test_layernorm_spellings},
    {"fold-batchnorm: folded Conv computes Conv+BN", test_fold_batchnorm_numbers},
    {"fold-batchnorm: folded Gemm/MatMul computes them+BN", test_fold_batchnorm_gemm_numbers},
    {"fuse-gelu: what must stay", test_gelu_negatives},
    {"fuse-epilogue: the fused MatMul computes the unfused chain", test_epilogue_numbers},
    {"fuse-epilogue: the fused Conv computes the unfused chain", test_conv_epilogue_numbers},
    {"fuse-layernorm: what must stay", test_layernorm_negatives},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"samples", NULL, NULL, NULL, NULL, sample_tests},
    {"spellings", NULL, NULL, NULL, NULL, spelling_tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
