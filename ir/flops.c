/* flops.c — the FLOP count of a node (flops.h says what is counted).
 *
 * One row per op: a function over the node's shapes, a constant it scales
 * by (operations per element for the elementwise and reduction kinds) and
 * the sentence `kiln info` prints. Rows are designated initializers;
 * tests/unit/test_flops.c names any op without one and checks the counts
 * on hand-computed shapes. (This was `kiln info`'s table; its counts are
 * unchanged but for kiln.Attention with shared probabilities, which no
 * longer counts the q·kᵀ and softmax it does not do.)
 */
#include "ir/flops.h"

#include <math.h>
#include <string.h>

typedef struct flops_node {
    const kiln_graph *g;
    const kiln_node *n;
    const kiln_value *values;
    double k;                 /* the row's constant */
    bool *sym_used;           /* symbols counted as 1, or NULL */
} flops_node;

/* A count, or -1 when a shape it needs has no known rank. */
typedef double (*flops_fn)(const flops_node *x);

typedef struct flops_rule {
    flops_fn fn;
    double k;
    const char *how;          /* `kiln info`'s sentence; NULL: no arithmetic */
} flops_rule;

/* ---- shapes ------------------------------------------------------------------ */

static const kiln_shape *in_shape(const flops_node *x, uint32_t i)
{
    uint32_t v = kiln_node_input(x->g, x->n, i);
    return v ? &x->values[v].shape : NULL;
}

static const kiln_shape *out_shape(const flops_node *x, uint32_t i)
{
    uint32_t v = kiln_node_output(x->g, x->n, i);
    return v ? &x->values[v].shape : NULL;
}

/* Dimension d counted: a symbol as 1 (remembered). */
static double dim_of(const flops_node *x, kiln_dim d)
{
    if (KILN_DIM_IS_SYM(d)) {
        if (x->sym_used && KILN_DIM_SYM_ID(d) < x->g->n_syms)
            x->sym_used[KILN_DIM_SYM_ID(d)] = true;
        return 1;
    }
    return (double)d;
}

/* Elements of s, symbols as 1; -1 when absent or of unknown rank. */
static double numel(const flops_node *x, const kiln_shape *s)
{
    double n = 1;
    if (!s || s->rank < 0)
        return -1;
    for (int i = 0; i < s->rank; i++)
        n *= dim_of(x, s->dim[i]);
    return n;
}

/* Dimension d of s (negative: from the end); -1 when there is none. */
static double dim(const flops_node *x, const kiln_shape *s, int d)
{
    if (!s || s->rank <= 0)
        return -1;
    if (d < 0)
        d += s->rank;
    return d >= 0 && d < s->rank ? dim_of(x, s->dim[d]) : -1;
}

/* a * b, unknown (-1) when either is. */
static double times(double a, double b)
{
    return a < 0 || b < 0 ? -1 : a * b;
}

static double attr(const flops_node *x, const char *name, int64_t dflt)
{
    return (double)kiln_attr_int(x->g, x->n, name, dflt);
}

static bool has_input(const flops_node *x, uint32_t i)
{
    return kiln_node_input(x->g, x->n, i) != 0;
}

/* ---- per element ----------------------------------------------------------- */

static double f_none(const flops_node *x)
{
    (void)x;
    return 0;
}

/* k per element of output 0. */
static double f_out(const flops_node *x)
{
    return times(x->k, numel(x, out_shape(x, 0)));
}

/* k per element of input 0. */
static double f_in(const flops_node *x)
{
    return times(x->k, numel(x, in_shape(x, 0)));
}

/* Sum, Max, Min, Mean: 1 per output element and extra input. */
static double f_variadic(const flops_node *x)
{
    return times(x->n->n_in > 1 ? (double)x->n->n_in - 1 : 1, numel(x, out_shape(x, 0)));
}

/* kiln.FusedElementwise: one operation per instruction of its program. */
static double f_fused_ew(const flops_node *x)
{
    const kiln_attr *ops = kiln_attr_find(x->g, x->n, "ops");
    return times(ops && ops->kind == KILN_ATTR_STRINGS ? (double)ops->n : 0, numel(x, out_shape(x, 0)));
}

/* kiln.Gelu: the ops it replaces, x·0.5·(1 + erf(x/√2)) (5) or the tanh
 * form (8). */
static double f_gelu(const flops_node *x)
{
    const char *a = kiln_attr_string(x->g, x->n, "approximate", "none");
    return times(strcmp(a, "tanh") == 0 ? 8 : 5, numel(x, out_shape(x, 0)));
}

/* LRN: a sum of squares over `size` channels, then scale and power. */
static double f_lrn(const flops_node *x)
{
    return times(2 * attr(x, "size", 1) + 3, numel(x, out_shape(x, 0)));
}

/* ---- products ----------------------------------------------------------------- */

/* 2·|Y|·K (every output element a K-long dot product), + |Y| per epilogue
 * step. */
static double product(const flops_node *x, double K, int steps)
{
    double y = numel(x, out_shape(x, 0));
    return y < 0 || K < 0 ? -1 : 2 * y * K + steps * y;
}

/* MatMul and its integer forms: K is A's last dimension (input 0). */
static double f_matmul(const flops_node *x)
{
    return product(x, dim(x, in_shape(x, 0), -1), 0);
}

/* kiln.FusedMatMul: K from A (B may be packed), plus each epilogue step it
 * absorbed: bias (input 2), residual (input 3), activation. */
static double f_fused_matmul(const flops_node *x)
{
    int steps = has_input(x, 2) + has_input(x, 3) +
                (strcmp(kiln_attr_string(x->g, x->n, "activation", "none"), "none") != 0);
    return product(x, dim(x, in_shape(x, 0), -1), steps);
}

static double f_gemm(const flops_node *x)
{
    const kiln_shape *a = in_shape(x, 0);
    if (!a || a->rank != 2)
        return -1;
    return product(x, dim(x, a, attr(x, "transA", 0) ? 0 : 1), has_input(x, 2));
}

/* Conv: W is (M, C/group, k...), so each output element takes |W| / M
 * multiply-adds; W is input k of the row (1, or 3 for QLinearConv), the
 * bias input 2 (Conv only). */
static double f_conv(const flops_node *x)
{
    const kiln_shape *w = in_shape(x, (uint32_t)x->k);
    double m = dim(x, w, 0);
    if (m <= 0)
        return m < 0 ? -1 : 0;
    return product(x, numel(x, w) / m, x->n->op == KILN_OP_CONV && has_input(x, 2));
}

/* kiln.FusedConv: the Conv's multiply-adds, plus each epilogue step it
 * absorbed: bias (input 2), residual (input 3), activation. */
static double f_fused_conv(const flops_node *x)
{
    const kiln_shape *w = in_shape(x, 1);
    double m = dim(x, w, 0);
    int steps = has_input(x, 2) + has_input(x, 3) +
                (strcmp(kiln_attr_string(x->g, x->n, "activation", "none"), "none") != 0);
    if (m <= 0)
        return m < 0 ? -1 : 0;
    return product(x, numel(x, w) / m, steps);
}

/* ConvTranspose: W is (C, M/group, k...): each input element scatters
 * |W| / C multiply-adds. */
static double f_conv_transpose(const flops_node *x)
{
    const kiln_shape *w = in_shape(x, 1);
    double c = dim(x, w, 0), in = numel(x, in_shape(x, 0)), y = numel(x, out_shape(x, 0));
    if (c < 0 || in < 0 || y < 0)
        return -1;
    return c > 0 ? 2 * in * numel(x, w) / c + (has_input(x, 2) ? y : 0) : 0;
}

/* kiln.Attention (docs/attention.md): per score q·kᵀ (2·D) and the scale,
 * bias and softmax (7) unless the probabilities are shared in (p_in, input
 * 4), p·v (2·D), and the re-attention head mix (2·H, input 5). */
static double f_attention(const flops_node *x)
{
    double batch = attr(x, "batch", 1);  /* 0: read from V at run time; a symbol counts as 1 */
    double scores = (batch > 0 ? batch : 1) * attr(x, "heads", 1) * attr(x, "q_tokens", 1) * attr(x, "kv_tokens", 1);
    double d = attr(x, "head_dim", 1);
    double per = 2 * d + (has_input(x, 4) ? 0 : 2 * d + 7) + (has_input(x, 5) ? 2 * attr(x, "heads", 1) : 0);
    return scores * per;
}

/* Einsum: the naive loop nest, 2 per multiply-add, over the product of
 * every index letter's size (an ellipsis: the output's broadcast dims).
 * One operand: a sum, 1 per element. */
static double f_einsum(const flops_node *x)
{
    const char *eq = kiln_attr_string(x->g, x->n, "equation", "");
    double size[128] = {0}, total = 1;
    uint32_t op = 0;
    int at = 0;
    for (const char *p = eq; *p && *p != '-'; p++) {
        const kiln_shape *s = in_shape(x, op);
        if (*p == ',') {
            op++, at = 0;
        } else if (p[0] == '.' && p[1] == '.' && p[2] == '.') {
            int named = 0;  /* letters after the ellipsis in this operand's term */
            for (const char *q = p + 3; *q && *q != ',' && *q != '-'; q++)
                named += (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z');
            at = s ? s->rank - named : 0;
            p += 2;
        } else if ((unsigned char)*p < 128 && *p != ' ') {
            double d = dim(x, s, at++);
            size[(unsigned char)*p] = d > size[(unsigned char)*p] ? d : size[(unsigned char)*p];
        }
    }
    for (int c = 0; c < 128; c++)
        total *= size[c] > 0 ? size[c] : 1;
    const kiln_shape *y = out_shape(x, 0);
    const char *arrow = strstr(eq, "->");
    if (strstr(eq, "...") && y && arrow) {
        int named = 0;
        for (const char *q = arrow + 2; *q; q++)
            named += (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z');
        for (int d = 0; d < y->rank - named; d++)
            total *= dim(x, y, d) > 0 ? dim(x, y, d) : 1;
    }
    return x->n->n_in > 1 ? 2 * total : total;
}

/* RNN, GRU, LSTM: per time step and batch row, the input and recurrent
 * products of every gate and direction (|W| + |R| multiply-adds). */
static double f_rnn(const flops_node *x)
{
    const kiln_shape *X = in_shape(x, 0);
    double w = numel(x, in_shape(x, 1)), r = numel(x, in_shape(x, 2));
    if (w < 0 || r < 0)
        return -1;
    return times(2 * (w + r), times(dim(x, X, 0), dim(x, X, 1)));
}

/* Det: LU, 2/3·n³ per matrix. */
static double f_det(const flops_node *x)
{
    const kiln_shape *X = in_shape(x, 0);
    double n = dim(x, X, -1), all = numel(x, X);
    if (n < 0 || all < 0)
        return -1;
    return n > 0 ? all / (n * n) * 2.0 / 3.0 * n * n * n : 0;
}

/* ---- pooling -------------------------------------------------------------------- */

/* k per window element per output element. */
static double f_pool(const flops_node *x)
{
    uint32_t n = 0;
    const int64_t *ks = kiln_attr_ints(x->g, x->n, "kernel_shape", &n);
    double window = 1;
    for (uint32_t i = 0; i < n; i++)
        window *= (double)ks[i];
    return times(x->k * window, numel(x, out_shape(x, 0)));
}

/* ---- signal ---------------------------------------------------------------------- */

/* DFT and STFT: the FFT convention, 5·N·log2 N per complex transform of
 * length N (the output's second-to-last dim: N, or N/2+1 one-sided). */
static double f_fft(const flops_node *x)
{
    const kiln_shape *y = out_shape(x, 0);
    double n = dim(x, y, -2), all = numel(x, y);
    if (n < 0 || all < 0)
        return -1;
    return n > 1 ? 5 * all / 2 * log2(n) : 0;
}

/* ---- token ops (TOKEN-REDUCTION.md, "MAC accounting", 2 per MAC) ----------------- */

/* kiln.TokenMerge: the bipartite similarity, ceil(N/2)·floor(N/2)·head_dim
 * multiply-adds per image. */
static double f_token_merge(const flops_node *x)
{
    const kiln_shape *a = in_shape(x, 0);
    if (!a || a->rank != 3)
        return -1;
    int64_t n = (int64_t)dim(x, a, 1);
    return 2 * dim(x, a, 0) * (double)((n + 1) / 2) * (double)(n / 2) * attr(x, "head_dim", 1);
}

/* kiln.TokenPrune: with a fused token appended (EViT), the weighted sum of
 * the dropped tokens. */
static double f_token_prune(const flops_node *x)
{
    const kiln_shape *a = in_shape(x, 0), *y = out_shape(x, 0);
    double keep = attr(x, "keep", 0);
    if (!a || !y || a->rank != 3 || y->rank != 3)
        return -1;
    if (dim(x, y, 1) != keep + 2)
        return 0;
    return 2 * dim(x, a, 0) * (dim(x, a, 1) - 1 - keep) * dim(x, a, 2);
}

/* ---- the table ------------------------------------------------------------------- */

#define NONE {f_none, 0, NULL}
#define EW {f_out, 1, "1 per output element"}
#define MAC {f_matmul, 0, "2 per multiply-add"}
#define IN(k, how) {f_in, k, how}
#define PER_IN IN(1, "1 per input element")
#define VARIADIC {f_variadic, 0, "1 per output element and extra input"}
#define NORM IN(8, "8 per element")

static const flops_rule rules[KILN_OP_COUNT] = {
    /* elementwise, one input: 1 per element; copies nothing */
    [KILN_OP_ABS] = EW, [KILN_OP_ACOS] = EW, [KILN_OP_ACOSH] = EW, [KILN_OP_ASIN] = EW,
    [KILN_OP_ASINH] = EW, [KILN_OP_ATAN] = EW, [KILN_OP_ATANH] = EW, [KILN_OP_CEIL] = EW,
    [KILN_OP_COS] = EW, [KILN_OP_COSH] = EW, [KILN_OP_ERF] = EW, [KILN_OP_EXP] = EW,
    [KILN_OP_FLOOR] = EW, [KILN_OP_LOG] = EW, [KILN_OP_NEG] = EW, [KILN_OP_NOT] = EW,
    [KILN_OP_RECIPROCAL] = EW, [KILN_OP_RELU] = EW, [KILN_OP_ROUND] = EW, [KILN_OP_SIGMOID] = EW,
    [KILN_OP_SIGN] = EW, [KILN_OP_SIN] = EW, [KILN_OP_SINH] = EW, [KILN_OP_SOFTPLUS] = EW,
    [KILN_OP_SOFTSIGN] = EW, [KILN_OP_SQRT] = EW, [KILN_OP_TAN] = EW, [KILN_OP_TANH] = EW,
    [KILN_OP_ISNAN] = EW, [KILN_OP_ISINF] = EW, [KILN_OP_IDENTITY] = NONE, [KILN_OP_HARDSWISH] = EW,
    [KILN_OP_ELU] = EW, [KILN_OP_SELU] = EW, [KILN_OP_CELU] = EW, [KILN_OP_LEAKYRELU] = EW,
    [KILN_OP_HARDSIGMOID] = EW, [KILN_OP_THRESHOLDEDRELU] = EW, [KILN_OP_SHRINK] = EW,
    [KILN_OP_CAST] = NONE, [KILN_OP_DROPOUT] = NONE,
    /* elementwise, several inputs */
    [KILN_OP_ADD] = EW, [KILN_OP_SUB] = EW, [KILN_OP_MUL] = EW, [KILN_OP_DIV] = EW, [KILN_OP_POW] = EW,
    [KILN_OP_MOD] = EW, [KILN_OP_AND] = EW, [KILN_OP_OR] = EW, [KILN_OP_XOR] = EW, [KILN_OP_EQUAL] = EW,
    [KILN_OP_GREATER] = EW, [KILN_OP_GREATEROREQUAL] = EW, [KILN_OP_LESS] = EW,
    [KILN_OP_LESSOREQUAL] = EW, [KILN_OP_BITSHIFT] = EW, [KILN_OP_PRELU] = EW, [KILN_OP_SUM] = VARIADIC,
    [KILN_OP_MAX] = VARIADIC, [KILN_OP_MIN] = VARIADIC, [KILN_OP_MEAN] = VARIADIC, [KILN_OP_CLIP] = EW,
    [KILN_OP_WHERE] = EW, [KILN_OP_CASTLIKE] = NONE,
    /* reductions */
    [KILN_OP_REDUCESUM] = PER_IN, [KILN_OP_REDUCEMEAN] = PER_IN, [KILN_OP_REDUCEMAX] = PER_IN,
    [KILN_OP_REDUCEMIN] = PER_IN, [KILN_OP_REDUCEPROD] = PER_IN, [KILN_OP_REDUCEL1] = PER_IN,
    [KILN_OP_REDUCEL2] = PER_IN, [KILN_OP_REDUCELOGSUM] = PER_IN, [KILN_OP_REDUCELOGSUMEXP] = PER_IN,
    [KILN_OP_REDUCESUMSQUARE] = PER_IN, [KILN_OP_ARGMAX] = PER_IN, [KILN_OP_ARGMIN] = PER_IN,
    [KILN_OP_CUMSUM] = PER_IN,
    /* products */
    [KILN_OP_MATMUL] = MAC, [KILN_OP_GEMM] = {f_gemm, 0, "2 per multiply-add"},
    [KILN_OP_MATMULINTEGER] = MAC, [KILN_OP_QLINEARMATMUL] = MAC,
    [KILN_OP_EINSUM] = {f_einsum, 0, "2 per multiply-add of the loop nest"},
    [KILN_OP_DET] = {f_det, 0, "2/3 n^3 per matrix"},
    [KILN_OP_CONV] = {f_conv, 1, "2 per multiply-add"},
    [KILN_OP_FUSEDCONV] = {f_fused_conv, 1, "2 per multiply-add, 1 per element of each epilogue step"},
    [KILN_OP_CONVTRANSPOSE] = {f_conv_transpose, 0, "2 per multiply-add"},
    [KILN_OP_CONVINTEGER] = {f_conv, 1, "2 per multiply-add"},
    [KILN_OP_QLINEARCONV] = {f_conv, 3, "2 per multiply-add"},
    /* pooling */
    [KILN_OP_MAXPOOL] = {f_pool, 1, "1 per window element"},
    [KILN_OP_AVERAGEPOOL] = {f_pool, 1, "1 per window element"},
    [KILN_OP_LPPOOL] = {f_pool, 2, "2 per window element"},
    [KILN_OP_GLOBALAVERAGEPOOL] = PER_IN, [KILN_OP_GLOBALMAXPOOL] = PER_IN,
    [KILN_OP_GLOBALLPPOOL] = IN(2, "2 per input element"), [KILN_OP_MAXUNPOOL] = NONE,
    /* norms and softmax */
    [KILN_OP_BATCHNORMALIZATION] = IN(2, "2 per element"),   /* a folded scale and shift */
    [KILN_OP_INSTANCENORMALIZATION] = NORM, [KILN_OP_LAYERNORMALIZATION] = NORM,
    [KILN_OP_LPNORMALIZATION] = IN(3, "3 per element"),      /* power, sum, divide */
    [KILN_OP_LRN] = {f_lrn, 0, "2 * size + 3 per element"},
    [KILN_OP_MEANVARIANCENORMALIZATION] = NORM,
    [KILN_OP_SOFTMAX] = IN(5, "5 per element"),              /* max, sub, exp, sum, div */
    [KILN_OP_LOGSOFTMAX] = IN(5, "5 per element"), [KILN_OP_HARDMAX] = PER_IN,
    /* data movement, indexing, generators, shapes: no arithmetic */
    [KILN_OP_RESHAPE] = NONE, [KILN_OP_FLATTEN] = NONE, [KILN_OP_SQUEEZE] = NONE,
    [KILN_OP_UNSQUEEZE] = NONE, [KILN_OP_TRANSPOSE] = NONE, [KILN_OP_CONCAT] = NONE,
    [KILN_OP_SPLIT] = NONE, [KILN_OP_SLICE] = NONE, [KILN_OP_PAD] = NONE, [KILN_OP_TILE] = NONE,
    [KILN_OP_EXPAND] = NONE, [KILN_OP_DEPTHTOSPACE] = NONE, [KILN_OP_SPACETODEPTH] = NONE,
    [KILN_OP_RESIZE] = {f_out, 1, "1 per output element (any mode)"},
    [KILN_OP_TRILU] = NONE, [KILN_OP_REVERSESEQUENCE] = NONE, [KILN_OP_GATHER] = NONE,
    [KILN_OP_GATHERELEMENTS] = NONE, [KILN_OP_GATHERND] = NONE, [KILN_OP_SCATTERELEMENTS] = NONE,
    [KILN_OP_SCATTERND] = NONE, [KILN_OP_ONEHOT] = NONE,
    [KILN_OP_TOPK] = IN(1, "1 comparison per input element"),
    [KILN_OP_NONZERO] = NONE, [KILN_OP_COMPRESS] = NONE, [KILN_OP_UNIQUE] = NONE,
    [KILN_OP_RANGE] = NONE, [KILN_OP_EYELIKE] = NONE, [KILN_OP_CONSTANTOFSHAPE] = NONE,
    [KILN_OP_SHAPE] = NONE, [KILN_OP_SIZE] = NONE,
    /* quantization: scale and zero point */
    [KILN_OP_QUANTIZELINEAR] = {f_out, 2, "2 per element"},
    [KILN_OP_DEQUANTIZELINEAR] = {f_out, 2, "2 per element"},
    [KILN_OP_DYNAMICQUANTIZELINEAR] = IN(4, "4 per element"),  /* min, max, scale, shift */
    /* recurrent */
    [KILN_OP_RNN] = {f_rnn, 0, "2 per multiply-add"}, [KILN_OP_GRU] = {f_rnn, 0, "2 per multiply-add"},
    [KILN_OP_LSTM] = {f_rnn, 0, "2 per multiply-add"},
    /* sampling, detection, signal */
    [KILN_OP_GRIDSAMPLE] = {f_out, 1, "1 per output element"},
    [KILN_OP_ROIALIGN] = {f_out, 1, "1 per output element"}, [KILN_OP_NONMAXSUPPRESSION] = NONE,
    [KILN_OP_DFT] = {f_fft, 0, "5 N log2 N per transform"},
    [KILN_OP_STFT] = {f_fft, 0, "5 N log2 N per transform"}, [KILN_OP_HANNWINDOW] = NONE,
    [KILN_OP_HAMMINGWINDOW] = NONE, [KILN_OP_BLACKMANWINDOW] = NONE, [KILN_OP_MELWEIGHTMATRIX] = NONE,
    /* losses */
    [KILN_OP_NEGATIVELOGLIKELIHOODLOSS] = PER_IN,
    [KILN_OP_SOFTMAXCROSSENTROPYLOSS] = IN(6, "6 per element"),
    /* kiln's own ops */
    [KILN_OP_GELU] = {f_gelu, 0, "5 per element (8 for the tanh form)"},
    [KILN_OP_ATTENTION] = {f_attention, 0, "4 * head_dim + 7 per score (2 * head_dim with shared "
                                            "probabilities), 2 * heads more to re-attend"},
    [KILN_OP_TOKEN_MERGE] = {f_token_merge, 0, "2 per multiply-add of the similarity"},
    [KILN_OP_TOKEN_PRUNE] = {f_token_prune, 0, "2 per multiply-add of the fused token"},
    [KILN_OP_FUSEDMATMUL] = {f_fused_matmul, 0, "2 per multiply-add, 1 per element of each epilogue step"},
    [KILN_OP_FUSEDELEMENTWISE] = {f_fused_ew, 0, "1 per element and instruction"},
};

bool kiln_flops_has_row(kiln_op op)
{
    return (unsigned)op < KILN_OP_COUNT && rules[op].fn != NULL;
}

const char *kiln_flops_rule(kiln_op op)
{
    return kiln_flops_has_row(op) ? rules[op].how : NULL;
}

double kiln_node_flops(const kiln_graph *g, const kiln_value *values, uint32_t node, bool *sym_used)
{
    const kiln_node *n = &g->nodes[node];
    if (!kiln_flops_has_row(n->op))
        return 0;
    flops_node x = {.g = g, .n = n, .values = values, .k = rules[n->op].k, .sym_used = sym_used};
    return rules[n->op].fn(&x);
}

const char *kiln_node_profile_name(const kiln_graph *g, uint32_t node)
{
    const kiln_node *n = &g->nodes[node];
    const kiln_value *y = kiln_out(g, n, 0);
    return n->name && n->name[0] ? n->name : y && y->name ? y->name : "";
}
