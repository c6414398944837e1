/* cmd_info.c — `kiln info`: what a model is, at a glance.
 *
 * Inputs and outputs with their types, opset imports, an op histogram,
 * parameter counts (constants: how many are used once, shared or unused)
 * and an estimate of the FLOPs. The FLOP rules are a table indexed by op:
 * 2 per multiply-add for the matrix products and convolutions, small
 * per-element costs for elementwise ops, reductions, softmax and norms;
 * every op without a rule is listed as "not counted". Symbolic dimensions
 * count as 1 and the output says so (bind them with --shape).
 */
#include "tools/driver.h"
#include "passes/blocks.h"
#include "passes/plan.h"

#include <stdlib.h>
#include <string.h>

/* ---- FLOP rules ----------------------------------------------------------- */

typedef struct flop_ctx {
    const kiln_graph *g;
    bool *sym_used;   /* symbols that were counted as 1 */
} flop_ctx;

/* Elements of a shape, symbols counted as 1 (and remembered); -1 if the
 * rank is unknown. */
static double numel(flop_ctx *f, const kiln_shape *s)
{
    double n = 1;
    if (s->rank < 0)
        return -1;
    for (int i = 0; i < s->rank; i++) {
        kiln_dim d = s->dim[i];
        if (KILN_DIM_IS_SYM(d) && KILN_DIM_SYM_ID(d) < f->g->n_syms)
            f->sym_used[KILN_DIM_SYM_ID(d)] = true;
        n *= KILN_DIM_IS_SYM(d) ? 1.0 : (double)d;
    }
    return n;
}

static const kiln_shape *in_shape(flop_ctx *f, const kiln_node *n, uint32_t i)
{
    kiln_value *v = kiln_in(f->g, n, i);
    return v && v->shape.rank >= 0 ? &v->shape : NULL;
}

static double out_elems(flop_ctx *f, const kiln_node *n)
{
    kiln_value *v = kiln_out(f->g, n, 0);
    return v ? numel(f, &v->shape) : -1;
}

static double dim_or_1(flop_ctx *f, kiln_dim d)
{
    if (KILN_DIM_IS_SYM(d) && KILN_DIM_SYM_ID(d) < f->g->n_syms)
        f->sym_used[KILN_DIM_SYM_ID(d)] = true;
    return KILN_DIM_IS_SYM(d) ? 1.0 : (double)d;
}

typedef double (*flop_fn)(flop_ctx *f, const kiln_node *n);

static double f_matmul(flop_ctx *f, const kiln_node *n)
{
    const kiln_shape *a = in_shape(f, n, 0);
    double out = out_elems(f, n);
    if (!a || a->rank < 1 || out < 0)
        return -1;
    return 2 * out * dim_or_1(f, a->dim[a->rank - 1]);
}

static double f_gemm(flop_ctx *f, const kiln_node *n)
{
    const kiln_shape *a = in_shape(f, n, 0);
    double out = out_elems(f, n);
    if (!a || a->rank != 2 || out < 0)
        return -1;
    double k = dim_or_1(f, a->dim[kiln_attr_int(f->g, n, "transA", 0) ? 0 : 1]);
    return 2 * out * k + (kiln_in(f->g, n, 2) ? out : 0);
}

/* Conv: W is (M, C/group, k...): each output element takes numel(W)/M MACs. */
static double f_conv(flop_ctx *f, const kiln_node *n)
{
    const kiln_shape *w = in_shape(f, n, 1);
    double out = out_elems(f, n);
    if (!w || w->rank < 1 || out < 0 || dim_or_1(f, w->dim[0]) == 0)
        return -1;
    return 2 * out * numel(f, w) / dim_or_1(f, w->dim[0]) + (kiln_in(f->g, n, 2) ? out : 0);
}

/* ConvTranspose: W is (C, M/group, k...): each input element scatters
 * numel(W)/C MACs. */
static double f_convtranspose(flop_ctx *f, const kiln_node *n)
{
    const kiln_shape *x = in_shape(f, n, 0), *w = in_shape(f, n, 1);
    double out = out_elems(f, n);
    if (!x || !w || w->rank < 1 || out < 0 || dim_or_1(f, w->dim[0]) == 0)
        return -1;
    return 2 * numel(f, x) * numel(f, w) / dim_or_1(f, w->dim[0]) + (kiln_in(f->g, n, 2) ? out : 0);
}

static double f_per_out(flop_ctx *f, const kiln_node *n) { return out_elems(f, n); }

static double f_variadic(flop_ctx *f, const kiln_node *n)
{
    double out = out_elems(f, n);
    return out < 0 ? -1 : out * (n->n_in > 1 ? n->n_in - 1 : 1);
}

static double f_per_in(flop_ctx *f, const kiln_node *n)
{
    const kiln_shape *x = in_shape(f, n, 0);
    return x ? numel(f, x) : -1;
}

static double f_softmax(flop_ctx *f, const kiln_node *n)
{
    double out = out_elems(f, n);
    return out < 0 ? -1 : 5 * out;  /* max, subtract, exp, sum, divide */
}

static double f_norm(flop_ctx *f, const kiln_node *n)
{
    double out = out_elems(f, n);
    return out < 0 ? -1 : 8 * out;  /* mean, variance (2), normalize (2), scale, bias... */
}

static double f_batchnorm(flop_ctx *f, const kiln_node *n)
{
    double out = out_elems(f, n);
    return out < 0 ? -1 : 2 * out;  /* folded into one multiply-add per element */
}

static double f_pool(flop_ctx *f, const kiln_node *n)
{
    uint32_t k = 0;
    const int64_t *ks = kiln_attr_ints(f->g, n, "kernel_shape", &k);
    double out = out_elems(f, n), window = 1;
    for (uint32_t i = 0; i < k; i++)
        window *= (double)ks[i];
    return out < 0 ? -1 : out * window;
}

/* kiln.Attention: per score, 2D for Q.K, 2D for P.V, and 7 for the scale,
 * the bias and the softmax (what the unfused graph counts); 2H more with
 * re-attention (the head mix). */
static double f_attention(flop_ctx *f, const kiln_node *n)
{
    double scores = 1, H = (double)kiln_attr_int(f->g, n, "heads", 1);
    static const char *const dims[] = {"batch", "heads", "q_tokens", "kv_tokens"};
    for (int i = 0; i < 4; i++)
        scores *= (double)kiln_attr_int(f->g, n, dims[i], 1);
    double per = 4 * (double)kiln_attr_int(f->g, n, "head_dim", 1) + 7;
    return scores * (per + (kiln_node_input(f->g, n, 5) ? 2 * H : 0));
}

/* kiln.FusedMatMul: the MatMul's, plus 1 per output element for each of
 * the bias, the activation and the residual it absorbed (as unfused). */
static double f_fused_matmul(flop_ctx *f, const kiln_node *n)
{
    double mm = f_matmul(f, n), out = out_elems(f, n);
    if (mm < 0 || out < 0)
        return -1;
    int parts = (kiln_node_input(f->g, n, 2) != 0) + (kiln_node_input(f->g, n, 3) != 0) +
                (strcmp(kiln_attr_string(f->g, n, "activation", "none"), "none") != 0);
    return mm + parts * out;
}

/* kiln.FusedConv: the Conv's (bias included), plus 1 per output element
 * for the activation and the residual it absorbed (as unfused). */
static double f_fused_conv(flop_ctx *f, const kiln_node *n)
{
    double conv = f_conv(f, n), out = out_elems(f, n);
    if (conv < 0 || out < 0)
        return -1;
    int parts = (kiln_node_input(f->g, n, 3) != 0) +
                (strcmp(kiln_attr_string(f->g, n, "activation", "none"), "none") != 0);
    return conv + parts * out;
}

typedef struct flop_rule {
    flop_fn fn;
    const char *how;   /* printed beside the op's total */
} flop_rule;

#define MAC {f_matmul, "2 per multiply-add"}
#define ELEM {f_per_out, "1 per output element"}
static const flop_rule flop_rules[KILN_OP_COUNT] = {
    [KILN_OP_MATMUL] = MAC, [KILN_OP_GEMM] = {f_gemm, "2 per multiply-add"},
    [KILN_OP_FUSEDMATMUL] = {f_fused_matmul, "2 per multiply-add, 1 per element of each epilogue step"},
    [KILN_OP_CONV] = {f_conv, "2 per multiply-add"},
    [KILN_OP_FUSEDCONV] = {f_fused_conv, "2 per multiply-add, 1 per element of each epilogue step"},
    [KILN_OP_CONVTRANSPOSE] = {f_convtranspose, "2 per multiply-add"},
    [KILN_OP_ADD] = ELEM, [KILN_OP_SUB] = ELEM, [KILN_OP_MUL] = ELEM, [KILN_OP_DIV] = ELEM,
    [KILN_OP_POW] = ELEM, [KILN_OP_MOD] = ELEM, [KILN_OP_PRELU] = ELEM, [KILN_OP_WHERE] = ELEM,
    [KILN_OP_CLIP] = ELEM, [KILN_OP_ABS] = ELEM, [KILN_OP_NEG] = ELEM, [KILN_OP_EXP] = ELEM,
    [KILN_OP_LOG] = ELEM, [KILN_OP_SQRT] = ELEM, [KILN_OP_RECIPROCAL] = ELEM, [KILN_OP_ERF] = ELEM,
    [KILN_OP_TANH] = ELEM, [KILN_OP_SIGMOID] = ELEM, [KILN_OP_RELU] = ELEM, [KILN_OP_ELU] = ELEM,
    [KILN_OP_SELU] = ELEM, [KILN_OP_CELU] = ELEM, [KILN_OP_LEAKYRELU] = ELEM,
    [KILN_OP_HARDSIGMOID] = ELEM, [KILN_OP_HARDSWISH] = ELEM, [KILN_OP_SOFTPLUS] = ELEM,
    [KILN_OP_SOFTSIGN] = ELEM, [KILN_OP_SIN] = ELEM, [KILN_OP_COS] = ELEM,
    [KILN_OP_SUM] = {f_variadic, "1 per output element and extra input"},
    [KILN_OP_MAX] = {f_variadic, "1 per output element and extra input"},
    [KILN_OP_MIN] = {f_variadic, "1 per output element and extra input"},
    [KILN_OP_MEAN] = {f_variadic, "1 per output element and extra input"},
    [KILN_OP_REDUCESUM] = {f_per_in, "1 per input element"},
    [KILN_OP_REDUCEMEAN] = {f_per_in, "1 per input element"},
    [KILN_OP_REDUCEMAX] = {f_per_in, "1 per input element"},
    [KILN_OP_REDUCEMIN] = {f_per_in, "1 per input element"},
    [KILN_OP_REDUCEL2] = {f_per_in, "1 per input element"},
    [KILN_OP_REDUCESUMSQUARE] = {f_per_in, "1 per input element"},
    [KILN_OP_GLOBALAVERAGEPOOL] = {f_per_in, "1 per input element"},
    [KILN_OP_GLOBALMAXPOOL] = {f_per_in, "1 per input element"},
    [KILN_OP_MAXPOOL] = {f_pool, "1 per window element"},
    [KILN_OP_AVERAGEPOOL] = {f_pool, "1 per window element"},
    [KILN_OP_SOFTMAX] = {f_softmax, "5 per element"},
    [KILN_OP_LOGSOFTMAX] = {f_softmax, "5 per element"},
    [KILN_OP_LAYERNORMALIZATION] = {f_norm, "8 per element"},
    [KILN_OP_INSTANCENORMALIZATION] = {f_norm, "8 per element"},
    [KILN_OP_MEANVARIANCENORMALIZATION] = {f_norm, "8 per element"},
    [KILN_OP_BATCHNORMALIZATION] = {f_batchnorm, "2 per element"},
    [KILN_OP_ATTENTION] = {f_attention, "4 * head_dim + 7 per score, 2 * heads more to re-attend"},
};
#undef MAC
#undef ELEM

/* ---- gathering ----------------------------------------------------------------- */

typedef struct op_stat {
    kiln_op op;
    uint32_t nodes;
    double flops;
    bool unknown;     /* some node's count could not be computed (unknown rank) */
} op_stat;

typedef struct summary {
    op_stat ops[KILN_OP_COUNT];
    uint32_t n_kinds;
    double flops;
    uint32_t n_consts, used_once, shared, unused;
    double elements, bytes;
    bool *sym_used;
} summary;

static void count_ops(const kiln_graph *g, summary *s)
{
    flop_ctx f = {.g = g, .sym_used = s->sym_used};
    for (int op = 0; op < KILN_OP_COUNT; op++)
        s->ops[op].op = (kiln_op)op;
    for (uint32_t id = 1; id < g->n_nodes; id++) {
        const kiln_node *n = &g->nodes[id];
        op_stat *st = &s->ops[n->op];
        s->n_kinds += st->nodes++ == 0;
        if (!flop_rules[n->op].fn)
            continue;
        double fl = flop_rules[n->op].fn(&f, n);
        if (fl < 0)
            st->unknown = true;
        else
            st->flops += fl, s->flops += fl;
    }
}

static void count_params(const kiln_graph *g, summary *s)
{
    uint32_t *uses = kiln_graph_use_counts(g);
    flop_ctx f = {.g = g, .sym_used = s->sym_used};
    for (uint32_t v = 1; v < g->n_values; v++) {
        const kiln_value *val = &g->values[v];
        if (val->kind != KILN_VAL_CONST)
            continue;
        double n = numel(&f, &val->shape);
        s->n_consts++;
        s->elements += n > 0 ? n : 0;
        s->bytes += n > 0 ? n * (double)kiln_dtype_size(val->dtype) : 0;
        s->used_once += uses[v] == 1;
        s->shared += uses[v] > 1;
        s->unused += uses[v] == 0;
    }
    free(uses);
}

/* Histogram order: most nodes first, then by name. */
static int by_count(const void *a, const void *b)
{
    const op_stat *x = a, *y = b;
    if (x->nodes != y->nodes)
        return x->nodes > y->nodes ? -1 : 1;
    return strcmp(kiln_op_name(x->op), kiln_op_name(y->op));
}

/* FLOP table order: most FLOPs first, then by name. */
static int by_flops(const void *a, const void *b)
{
    const op_stat *x = a, *y = b;
    if (x->flops != y->flops)
        return x->flops > y->flops ? -1 : 1;
    return by_count(a, b);
}

/* ---- printing ---------------------------------------------------------------------- */

/* 5717416 -> "5,717,416" */
static const char *grouped(double x, char *buf, size_t size)
{
    char digits[32];
    snprintf(digits, sizeof digits, "%.0f", x);
    size_t n = strlen(digits), at = 0;
    for (size_t i = 0; i < n && at + 2 < size; i++) {
        if (i && (n - i) % 3 == 0)
            buf[at++] = ',';
        buf[at++] = digits[i];
    }
    buf[at] = 0;
    return buf;
}

/* 1.76e10 -> "17.6 G" */
static const char *scaled(double x, const char *unit, char *buf, size_t size)
{
    static const char *const prefix[] = {"", "K", "M", "G", "T", "P"};
    int k = 0;
    while (x >= 1000 && k < 5)
        x /= 1000, k++;
    snprintf(buf, size, k ? "%.2f %s%s" : "%.0f %s%s", x, prefix[k], unit);
    return buf;
}

static void print_values(const kiln_graph *g, const char *title, const uint32_t *vals, uint32_t n)
{
    size_t w = 4;
    char shape[256];
    for (uint32_t i = 0; i < n; i++)
        if (strlen(g->values[vals[i]].name) > w)
            w = strlen(g->values[vals[i]].name);
    printf("%s (%u)\n", title, n);
    for (uint32_t i = 0; i < n; i++) {
        const kiln_value *v = &g->values[vals[i]];
        printf("  %-*s  %s%s\n", (int)w, v->name[0] ? v->name : "(anonymous)", kiln_dtype_name(v->dtype),
               kiln_shape_format(g, &v->shape, shape, sizeof shape));
    }
}

static void print_header(const kiln_graph *g)
{
    printf("model    %s (graph '%s')\n", g->source, g->name);
    printf("opsets   ");
    for (uint32_t i = 0; i < g->n_opsets; i++)
        printf("%s%s %lld", i ? ", " : "", g->opsets[i].domain[0] ? g->opsets[i].domain : "ai.onnx",
               (long long)g->opsets[i].version);
    printf("%s\n\n", g->n_opsets ? "" : "(none)");
    print_values(g, "inputs", g->inputs, g->n_inputs);
    print_values(g, "outputs", g->outputs, g->n_outputs);
}

static void print_histogram(const kiln_graph *g, summary *s)
{
    op_stat sorted[KILN_OP_COUNT];
    memcpy(sorted, s->ops, sizeof sorted);
    qsort(sorted, KILN_OP_COUNT, sizeof sorted[0], by_count);
    printf("\nops (%u nodes, %u kinds)\n", g->n_nodes - 1, s->n_kinds);
    for (uint32_t i = 0; i < s->n_kinds; i++)
        printf("  %-26s %8u\n", kiln_op_name(sorted[i].op), sorted[i].nodes);
}

static void print_params(const summary *s)
{
    char a[64], b[64];
    printf("\nparameters  %s elements in %u constants, %s\n", grouped(s->elements, a, sizeof a),
           s->n_consts, scaled(s->bytes, "B", b, sizeof b));
    printf("            %u used once, %u shared (used by 2 or more nodes), %u unused\n",
           s->used_once, s->shared, s->unused);
}

/* The static memory plan (passes/plan.h) of the graph as optimized: the
 * arena every intermediate tensor and kernel scratch lives in. */
static int print_memory(kiln_ctx *ctx, const kiln_graph *g)
{
    kiln_plan *plan = NULL;
    char a[64], b[64];
    if (kiln_plan_memory(ctx, g, NULL, &plan) != KILN_OK)
        return driver_fail(ctx);
    printf("\nmemory plan  arena %s peak, live lower bound %s (%.2fx)\n",
           scaled((double)plan->peak, "B", a, sizeof a), scaled((double)plan->lower_bound, "B", b, sizeof b),
           plan->lower_bound ? (double)plan->peak / (double)plan->lower_bound : 1.0);
    printf("             tensors in the arena %u, in place over an input %u, sized at run time %u\n",
           plan->n_tensors, plan->n_inplace, plan->n_dynamic);
    kiln_plan_destroy(plan);
    return EXIT_OK;
}

static void print_symbols(const kiln_graph *g, const summary *s)
{
    uint32_t n = 0;
    for (uint32_t k = 1; k < g->n_syms; k++)
        if (s->sym_used[k])
            printf("%s%s", n++ ? ", " : "  symbolic dimensions counted as 1: ",
                   g->syms[k] ? g->syms[k] : "(unnamed)");
    if (n)
        printf("\n  (the count is for size 1; bind them with --shape NAME=D0xD1x... for real sizes)\n");
}

static void print_flops(const kiln_graph *g, summary *s)
{
    op_stat sorted[KILN_OP_COUNT];
    char a[64];
    memcpy(sorted, s->ops, sizeof sorted);
    qsort(sorted, KILN_OP_COUNT, sizeof sorted[0], by_flops);
    printf("\nFLOPs (estimate)  %s\n", scaled(s->flops, "FLOP", a, sizeof a));
    print_symbols(g, s);
    for (uint32_t i = 0; i < s->n_kinds; i++)
        if (flop_rules[sorted[i].op].fn)
            printf("  %-26s %14s  %s%s\n", kiln_op_name(sorted[i].op),
                   scaled(sorted[i].flops, "FLOP", a, sizeof a), flop_rules[sorted[i].op].how,
                   sorted[i].unknown ? " (some nodes of unknown rank not counted)" : "");
    uint32_t n = 0;
    for (uint32_t i = 0; i < s->n_kinds; i++)
        if (!flop_rules[sorted[i].op].fn)
            printf("%s%s", n++ ? ", " : "  not counted (no arithmetic rule): ", kiln_op_name(sorted[i].op));
    printf("%s", n ? "\n" : "");
}

/* The transformer blocks (passes/blocks.h): the index the token-reduction
 * options use, the attention's sizes and the nodes the block spans. */
static void print_blocks(const kiln_graph *g, const driver_token_report *report)
{
    uint32_t n = kiln_blocks_find(g, NULL, 0);
    if (!n)
        return;
    kiln_token_census census;
    char m[64];
    kiln_token_census_take(g, &census);
    printf("\nMACs per image (MatMul, Gemm, Conv, attention, token merging and fusion)  %s\n",
           driver_grouped(census.macs, m, sizeof m));
    driver_token_summary(stdout, report, "");
    kiln_block *b = kiln_xcalloc(n, sizeof *b);
    kiln_blocks_find(g, b, n);
    printf("\ntransformer blocks (%u)\n", n);
    printf("  %5s %7s %7s %5s %5s  %s\n", "block", "tokens", "kv", "dim", "heads", "nodes (first .. last)");
    for (uint32_t i = 0; i < n; i++) {
        char f[300], l[300];
        printf("  %5u %7lld %7lld %5lld %5lld  %s .. %s\n", i, (long long)b[i].q_tokens,
               (long long)b[i].kv_tokens, (long long)(b[i].heads * b[i].head_dim), (long long)b[i].heads,
               kiln_node_describe(g, b[i].first, f, sizeof f), kiln_node_describe(g, b[i].last, l, sizeof l));
    }
    free(b);
}

/* ---- the command ------------------------------------------------------------------- */

static void help(void)
{
    printf("usage: kiln info MODEL [graph options]\n"
           "\n"
           "Describe MODEL (.onnx or kiln text IR) after import, shape inference and\n"
           "the pass pipeline (-O2 unless told otherwise):\n"
           "inputs and outputs with dtype and shape, opset imports, the number of nodes\n"
           "per op, parameters (elements and bytes of the constants, and how many are\n"
           "used once, shared or unused) and an estimate of the FLOPs per op: 2 per\n"
           "multiply-add for MatMul, Gemm, Conv and ConvTranspose, a few per element for\n"
           "elementwise ops, reductions, pooling, softmax and normalizations. Ops without\n"
           "a rule are listed as not counted. Symbolic dimensions count as 1. Last, the\n"
           "static memory plan: the arena intermediate tensors and kernel scratch share,\n"
           "its peak against the live lower bound, and how many tensors run in place.\n"
           "With fuse-attention in the pipeline (-O2), the transformer blocks: one per\n"
           "kiln.Attention, with its tokens (queries, keys), dim, heads and the first and\n"
           "last node of the residual block around it (docs/attention.md defines a\n"
           "block); the token-reduction options address blocks by this index. Then\n"
           "the multiply-accumulates per image of MatMul, Gemm, Conv and the attention\n"
           "products (plus token merging's metric product and EViT fusion), and, with\n"
           "token-reduction options, the MACs and the tokens entering each block's\n"
           "attention before and after the token passes (docs/token-reduction.md).\n"
           "\n"
           "\n");
    driver_model_help(stdout);
    printf("\nExit status: 0 success, 1 error in the model, 2 usage error.\n");
}

static int parse_args(int argc, char **argv, driver_model_opts *model, const char **path)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int m = driver_model_option(argc, argv, &i, model);
        if (m < 0)
            return EXIT_USAGE;
        if (m > 0)
            continue;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            help();
            return -1;
        }
        if (a[0] == '-' && a[1])
            return driver_usage_error("info", "unknown option '%s'", a);
        if (*path)
            return driver_usage_error("info", "unexpected argument '%s' (one model at a time)", a);
        *path = a;
    }
    if (!*path)
        return driver_usage_error("info", "no model given");
    return EXIT_OK;
}

int cmd_info(int argc, char **argv)
{
    driver_model_opts model = DRIVER_MODEL_OPTS_INIT;
    driver_token_report report = {0};
    model.report = &report;
    const char *path = NULL;
    int rc = parse_args(argc, argv, &model, &path);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = NULL;
    rc = driver_load_model(ctx, path, &model, &g);
    if (rc == EXIT_OK) {
        summary s = {.sym_used = kiln_xcalloc(g->n_syms, sizeof(bool))};
        count_ops(g, &s);
        count_params(g, &s);
        print_header(g);
        print_histogram(g, &s);
        print_params(&s);
        print_flops(g, &s);
        print_blocks(g, &report);
        rc = print_memory(ctx, g);
        free(s.sym_used);
    }
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
    return rc;
}
