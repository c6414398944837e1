/* onnx_ops.c — the ONNX operator table and its lookup.
 *
 * One row per (op_type, first opset of a form kiln must treat differently):
 * an op's first row is the version it appeared in (a model importing an
 * older opset cannot use it), and each later row is where its form changed
 * in a way the upgrade function must know (an attribute became an input, a
 * legacy attribute disappeared...). Versions that changed only type lists
 * or documentation need no row: the row below them applies. Sorted with
 * strcmp order on (domain, op_type, since) so lookup is a binary search;
 * tests/unit/test_frontend.c checks the order and that every kiln op has
 * a row. The since_versions come from onnx.defs.get_all_schemas_with_history()
 * (ONNX 1.12, opset 17) plus the opset-18 changes (Reduce* axes inputs,
 * Split num_outputs).
 *
 * Scatter and Upsample are deprecated aliases: their rows map to
 * ScatterElements and Resize (docs/canonical-forms.md).
 */
#include "frontend/onnx_internal.h"

#include <string.h>

const onnx_op_row onnx_op_rows[] = {
    {"", "Abs",                       1,   KILN_OP_ABS,                        up_consumed},
    {"", "Abs",                       6,   KILN_OP_ABS,                        NULL},
    {"", "Acos",                      7,   KILN_OP_ACOS,                       NULL},
    {"", "Acosh",                     9,   KILN_OP_ACOSH,                      NULL},
    {"", "Add",                       1,   KILN_OP_ADD,                        up_broadcast},
    {"", "Add",                       7,   KILN_OP_ADD,                        NULL},
    {"", "And",                       1,   KILN_OP_AND,                        up_broadcast},
    {"", "And",                       7,   KILN_OP_AND,                        NULL},
    {"", "ArgMax",                    1,   KILN_OP_ARGMAX,                     NULL},
    {"", "ArgMin",                    1,   KILN_OP_ARGMIN,                     NULL},
    {"", "Asin",                      7,   KILN_OP_ASIN,                       NULL},
    {"", "Asinh",                     9,   KILN_OP_ASINH,                      NULL},
    {"", "Atan",                      7,   KILN_OP_ATAN,                       NULL},
    {"", "Atanh",                     9,   KILN_OP_ATANH,                      NULL},
    {"", "AveragePool",               1,   KILN_OP_AVERAGEPOOL,                NULL},
    {"", "BatchNormalization",        1,   KILN_OP_BATCHNORMALIZATION,         up_batchnorm},
    {"", "BitShift",                  11,  KILN_OP_BITSHIFT,                   NULL},
    {"", "BlackmanWindow",            17,  KILN_OP_BLACKMANWINDOW,             NULL},
    {"", "Cast",                      1,   KILN_OP_CAST,                       up_cast_name},
    {"", "Cast",                      6,   KILN_OP_CAST,                       up_cast},
    {"", "CastLike",                  15,  KILN_OP_CASTLIKE,                   NULL},
    {"", "Ceil",                      1,   KILN_OP_CEIL,                       up_consumed},
    {"", "Ceil",                      6,   KILN_OP_CEIL,                       NULL},
    {"", "Celu",                      12,  KILN_OP_CELU,                       NULL},
    {"", "Clip",                      1,   KILN_OP_CLIP,                       up_clip_attrs},
    {"", "Clip",                      11,  KILN_OP_CLIP,                       NULL},
    {"", "Compress",                  9,   KILN_OP_COMPRESS,                   NULL},
    {"", "Concat",                    1,   KILN_OP_CONCAT,                     up_concat_axis},
    {"", "Concat",                    4,   KILN_OP_CONCAT,                     NULL},
    {"", "ConstantOfShape",           9,   KILN_OP_CONSTANTOFSHAPE,            NULL},
    {"", "Conv",                      1,   KILN_OP_CONV,                       NULL},
    {"", "ConvInteger",               10,  KILN_OP_CONVINTEGER,                NULL},
    {"", "ConvTranspose",             1,   KILN_OP_CONVTRANSPOSE,              NULL},
    {"", "Cos",                       7,   KILN_OP_COS,                        NULL},
    {"", "Cosh",                      9,   KILN_OP_COSH,                       NULL},
    {"", "CumSum",                    11,  KILN_OP_CUMSUM,                     NULL},
    {"", "DFT",                       17,  KILN_OP_DFT,                        NULL},
    {"", "DepthToSpace",              1,   KILN_OP_DEPTHTOSPACE,               NULL},
    {"", "DequantizeLinear",          10,  KILN_OP_DEQUANTIZELINEAR,           NULL},
    {"", "Det",                       11,  KILN_OP_DET,                        NULL},
    {"", "Div",                       1,   KILN_OP_DIV,                        up_broadcast},
    {"", "Div",                       7,   KILN_OP_DIV,                        NULL},
    {"", "Dropout",                   1,   KILN_OP_DROPOUT,                    up_dropout},
    {"", "Dropout",                   12,  KILN_OP_DROPOUT,                    NULL},
    {"", "DynamicQuantizeLinear",     11,  KILN_OP_DYNAMICQUANTIZELINEAR,      NULL},
    {"", "Einsum",                    12,  KILN_OP_EINSUM,                     NULL},
    {"", "Elu",                       1,   KILN_OP_ELU,                        up_consumed},
    {"", "Elu",                       6,   KILN_OP_ELU,                        NULL},
    {"", "Equal",                     1,   KILN_OP_EQUAL,                      up_broadcast},
    {"", "Equal",                     7,   KILN_OP_EQUAL,                      NULL},
    {"", "Erf",                       9,   KILN_OP_ERF,                        NULL},
    {"", "Exp",                       1,   KILN_OP_EXP,                        up_consumed},
    {"", "Exp",                       6,   KILN_OP_EXP,                        NULL},
    {"", "Expand",                    8,   KILN_OP_EXPAND,                     NULL},
    {"", "EyeLike",                   9,   KILN_OP_EYELIKE,                    up_eyelike},
    {"", "Flatten",                   1,   KILN_OP_FLATTEN,                    NULL},
    {"", "Floor",                     1,   KILN_OP_FLOOR,                      up_consumed},
    {"", "Floor",                     6,   KILN_OP_FLOOR,                      NULL},
    {"", "GRU",                       1,   KILN_OP_GRU,                        up_rnn_v1},
    {"", "GRU",                       7,   KILN_OP_GRU,                        NULL},
    {"", "Gather",                    1,   KILN_OP_GATHER,                     NULL},
    {"", "GatherElements",            11,  KILN_OP_GATHERELEMENTS,             NULL},
    {"", "GatherND",                  11,  KILN_OP_GATHERND,                   NULL},
    {"", "Gemm",                      1,   KILN_OP_GEMM,                       up_gemm_broadcast},
    {"", "Gemm",                      7,   KILN_OP_GEMM,                       NULL},
    {"", "GlobalAveragePool",         1,   KILN_OP_GLOBALAVERAGEPOOL,          NULL},
    {"", "GlobalLpPool",              1,   KILN_OP_GLOBALLPPOOL,               up_lp_p},
    {"", "GlobalLpPool",              2,   KILN_OP_GLOBALLPPOOL,               NULL},
    {"", "GlobalMaxPool",             1,   KILN_OP_GLOBALMAXPOOL,              NULL},
    {"", "Greater",                   1,   KILN_OP_GREATER,                    up_broadcast},
    {"", "Greater",                   7,   KILN_OP_GREATER,                    NULL},
    {"", "GreaterOrEqual",            12,  KILN_OP_GREATEROREQUAL,             NULL},
    {"", "GridSample",                16,  KILN_OP_GRIDSAMPLE,                 NULL},
    {"", "HammingWindow",             17,  KILN_OP_HAMMINGWINDOW,              NULL},
    {"", "HannWindow",                17,  KILN_OP_HANNWINDOW,                 NULL},
    {"", "HardSigmoid",               1,   KILN_OP_HARDSIGMOID,                up_consumed},
    {"", "HardSigmoid",               6,   KILN_OP_HARDSIGMOID,                NULL},
    {"", "HardSwish",                 14,  KILN_OP_HARDSWISH,                  NULL},
    {"", "Hardmax",                   1,   KILN_OP_HARDMAX,                    up_softmax_2d},
    {"", "Hardmax",                   13,  KILN_OP_HARDMAX,                    NULL},
    {"", "Identity",                  1,   KILN_OP_IDENTITY,                   NULL},
    {"", "InstanceNormalization",     1,   KILN_OP_INSTANCENORMALIZATION,      up_consumed},
    {"", "InstanceNormalization",     6,   KILN_OP_INSTANCENORMALIZATION,      NULL},
    {"", "IsInf",                     10,  KILN_OP_ISINF,                      NULL},
    {"", "IsNaN",                     9,   KILN_OP_ISNAN,                      NULL},
    {"", "LRN",                       1,   KILN_OP_LRN,                        NULL},
    {"", "LSTM",                      1,   KILN_OP_LSTM,                       up_rnn_v1},
    {"", "LSTM",                      7,   KILN_OP_LSTM,                       NULL},
    {"", "LayerNormalization",        17,  KILN_OP_LAYERNORMALIZATION,         NULL},
    {"", "LeakyRelu",                 1,   KILN_OP_LEAKYRELU,                  up_consumed},
    {"", "LeakyRelu",                 6,   KILN_OP_LEAKYRELU,                  NULL},
    {"", "Less",                      1,   KILN_OP_LESS,                       up_broadcast},
    {"", "Less",                      7,   KILN_OP_LESS,                       NULL},
    {"", "LessOrEqual",               12,  KILN_OP_LESSOREQUAL,                NULL},
    {"", "Log",                       1,   KILN_OP_LOG,                        up_consumed},
    {"", "Log",                       6,   KILN_OP_LOG,                        NULL},
    {"", "LogSoftmax",                1,   KILN_OP_LOGSOFTMAX,                 up_softmax_2d},
    {"", "LogSoftmax",                13,  KILN_OP_LOGSOFTMAX,                 NULL},
    {"", "LpNormalization",           1,   KILN_OP_LPNORMALIZATION,            NULL},
    {"", "LpPool",                    1,   KILN_OP_LPPOOL,                     up_lp_p},
    {"", "LpPool",                    2,   KILN_OP_LPPOOL,                     NULL},
    {"", "MatMul",                    1,   KILN_OP_MATMUL,                     NULL},
    {"", "MatMulInteger",             10,  KILN_OP_MATMULINTEGER,              NULL},
    {"", "Max",                       1,   KILN_OP_MAX,                        up_consumed},
    {"", "Max",                       6,   KILN_OP_MAX,                        NULL},
    {"", "MaxPool",                   1,   KILN_OP_MAXPOOL,                    NULL},
    {"", "MaxUnpool",                 9,   KILN_OP_MAXUNPOOL,                  NULL},
    {"", "Mean",                      1,   KILN_OP_MEAN,                       up_consumed},
    {"", "Mean",                      6,   KILN_OP_MEAN,                       NULL},
    {"", "MeanVarianceNormalization", 9,   KILN_OP_MEANVARIANCENORMALIZATION,  NULL},
    {"", "MelWeightMatrix",           17,  KILN_OP_MELWEIGHTMATRIX,            NULL},
    {"", "Min",                       1,   KILN_OP_MIN,                        up_consumed},
    {"", "Min",                       6,   KILN_OP_MIN,                        NULL},
    {"", "Mod",                       10,  KILN_OP_MOD,                        NULL},
    {"", "Mul",                       1,   KILN_OP_MUL,                        up_broadcast},
    {"", "Mul",                       7,   KILN_OP_MUL,                        NULL},
    {"", "Neg",                       1,   KILN_OP_NEG,                        up_consumed},
    {"", "Neg",                       6,   KILN_OP_NEG,                        NULL},
    {"", "NegativeLogLikelihoodLoss", 12,  KILN_OP_NEGATIVELOGLIKELIHOODLOSS,  NULL},
    {"", "NonMaxSuppression",         10,  KILN_OP_NONMAXSUPPRESSION,          NULL},
    {"", "NonZero",                   9,   KILN_OP_NONZERO,                    NULL},
    {"", "Not",                       1,   KILN_OP_NOT,                        NULL},
    {"", "OneHot",                    9,   KILN_OP_ONEHOT,                     NULL},
    {"", "Or",                        1,   KILN_OP_OR,                         up_broadcast},
    {"", "Or",                        7,   KILN_OP_OR,                         NULL},
    {"", "PRelu",                     1,   KILN_OP_PRELU,                      up_prelu_channel},
    {"", "PRelu",                     7,   KILN_OP_PRELU,                      NULL},
    {"", "Pad",                       1,   KILN_OP_PAD,                        up_pad_attrs},
    {"", "Pad",                       11,  KILN_OP_PAD,                        NULL},
    {"", "Pow",                       1,   KILN_OP_POW,                        up_broadcast},
    {"", "Pow",                       7,   KILN_OP_POW,                        NULL},
    {"", "QLinearConv",               10,  KILN_OP_QLINEARCONV,                NULL},
    {"", "QLinearMatMul",             10,  KILN_OP_QLINEARMATMUL,              NULL},
    {"", "QuantizeLinear",            10,  KILN_OP_QUANTIZELINEAR,             NULL},
    {"", "RNN",                       1,   KILN_OP_RNN,                        up_rnn_v1},
    {"", "RNN",                       7,   KILN_OP_RNN,                        NULL},
    {"", "Range",                     11,  KILN_OP_RANGE,                      NULL},
    {"", "Reciprocal",                1,   KILN_OP_RECIPROCAL,                 up_consumed},
    {"", "Reciprocal",                6,   KILN_OP_RECIPROCAL,                 NULL},
    {"", "ReduceL1",                  1,   KILN_OP_REDUCEL1,                   up_axes_attr},
    {"", "ReduceL1",                  18,  KILN_OP_REDUCEL1,                   NULL},
    {"", "ReduceL2",                  1,   KILN_OP_REDUCEL2,                   up_axes_attr},
    {"", "ReduceL2",                  18,  KILN_OP_REDUCEL2,                   NULL},
    {"", "ReduceLogSum",              1,   KILN_OP_REDUCELOGSUM,               up_axes_attr},
    {"", "ReduceLogSum",              18,  KILN_OP_REDUCELOGSUM,               NULL},
    {"", "ReduceLogSumExp",           1,   KILN_OP_REDUCELOGSUMEXP,            up_axes_attr},
    {"", "ReduceLogSumExp",           18,  KILN_OP_REDUCELOGSUMEXP,            NULL},
    {"", "ReduceMax",                 1,   KILN_OP_REDUCEMAX,                  up_axes_attr},
    {"", "ReduceMax",                 18,  KILN_OP_REDUCEMAX,                  NULL},
    {"", "ReduceMean",                1,   KILN_OP_REDUCEMEAN,                 up_axes_attr},
    {"", "ReduceMean",                18,  KILN_OP_REDUCEMEAN,                 NULL},
    {"", "ReduceMin",                 1,   KILN_OP_REDUCEMIN,                  up_axes_attr},
    {"", "ReduceMin",                 18,  KILN_OP_REDUCEMIN,                  NULL},
    {"", "ReduceProd",                1,   KILN_OP_REDUCEPROD,                 up_axes_attr},
    {"", "ReduceProd",                18,  KILN_OP_REDUCEPROD,                 NULL},
    {"", "ReduceSum",                 1,   KILN_OP_REDUCESUM,                  up_axes_attr},
    {"", "ReduceSum",                 13,  KILN_OP_REDUCESUM,                  NULL},
    {"", "ReduceSumSquare",           1,   KILN_OP_REDUCESUMSQUARE,            up_axes_attr},
    {"", "ReduceSumSquare",           18,  KILN_OP_REDUCESUMSQUARE,            NULL},
    {"", "Relu",                      1,   KILN_OP_RELU,                       up_consumed},
    {"", "Relu",                      6,   KILN_OP_RELU,                       NULL},
    {"", "Reshape",                   1,   KILN_OP_RESHAPE,                    up_reshape_attr},
    {"", "Reshape",                   5,   KILN_OP_RESHAPE,                    NULL},
    {"", "Resize",                    10,  KILN_OP_RESIZE,                     up_resize10},
    {"", "Resize",                    11,  KILN_OP_RESIZE,                     NULL},
    {"", "ReverseSequence",           10,  KILN_OP_REVERSESEQUENCE,            NULL},
    {"", "RoiAlign",                  10,  KILN_OP_ROIALIGN,                   NULL},
    {"", "Round",                     11,  KILN_OP_ROUND,                      NULL},
    {"", "STFT",                      17,  KILN_OP_STFT,                       NULL},
    {"", "Scatter",                   9,   KILN_OP_SCATTERELEMENTS,            NULL},
    {"", "ScatterElements",           11,  KILN_OP_SCATTERELEMENTS,            NULL},
    {"", "ScatterND",                 11,  KILN_OP_SCATTERND,                  NULL},
    {"", "Selu",                      1,   KILN_OP_SELU,                       up_consumed},
    {"", "Selu",                      6,   KILN_OP_SELU,                       NULL},
    {"", "Shape",                     1,   KILN_OP_SHAPE,                      NULL},
    {"", "Shrink",                    9,   KILN_OP_SHRINK,                     NULL},
    {"", "Sigmoid",                   1,   KILN_OP_SIGMOID,                    up_consumed},
    {"", "Sigmoid",                   6,   KILN_OP_SIGMOID,                    NULL},
    {"", "Sign",                      9,   KILN_OP_SIGN,                       NULL},
    {"", "Sin",                       7,   KILN_OP_SIN,                        NULL},
    {"", "Sinh",                      9,   KILN_OP_SINH,                       NULL},
    {"", "Size",                      1,   KILN_OP_SIZE,                       NULL},
    {"", "Slice",                     1,   KILN_OP_SLICE,                      up_slice_attrs},
    {"", "Slice",                     10,  KILN_OP_SLICE,                      NULL},
    {"", "Softmax",                   1,   KILN_OP_SOFTMAX,                    up_softmax_2d},
    {"", "Softmax",                   13,  KILN_OP_SOFTMAX,                    NULL},
    {"", "SoftmaxCrossEntropyLoss",   12,  KILN_OP_SOFTMAXCROSSENTROPYLOSS,    NULL},
    {"", "Softplus",                  1,   KILN_OP_SOFTPLUS,                   NULL},
    {"", "Softsign",                  1,   KILN_OP_SOFTSIGN,                   NULL},
    {"", "SpaceToDepth",              1,   KILN_OP_SPACETODEPTH,               NULL},
    {"", "Split",                     1,   KILN_OP_SPLIT,                      up_split_attr},
    {"", "Split",                     13,  KILN_OP_SPLIT,                      NULL},
    {"", "Split",                     18,  KILN_OP_SPLIT,                      up_split_outputs},
    {"", "Sqrt",                      1,   KILN_OP_SQRT,                       up_consumed},
    {"", "Sqrt",                      6,   KILN_OP_SQRT,                       NULL},
    {"", "Squeeze",                   1,   KILN_OP_SQUEEZE,                    up_axes_attr},
    {"", "Squeeze",                   13,  KILN_OP_SQUEEZE,                    NULL},
    {"", "Sub",                       1,   KILN_OP_SUB,                        up_broadcast},
    {"", "Sub",                       7,   KILN_OP_SUB,                        NULL},
    {"", "Sum",                       1,   KILN_OP_SUM,                        up_consumed},
    {"", "Sum",                       6,   KILN_OP_SUM,                        NULL},
    {"", "Tan",                       7,   KILN_OP_TAN,                        NULL},
    {"", "Tanh",                      1,   KILN_OP_TANH,                       up_consumed},
    {"", "Tanh",                      6,   KILN_OP_TANH,                       NULL},
    {"", "ThresholdedRelu",           10,  KILN_OP_THRESHOLDEDRELU,            NULL},
    {"", "Tile",                      1,   KILN_OP_TILE,                       up_tile_v1},
    {"", "Tile",                      6,   KILN_OP_TILE,                       NULL},
    {"", "TopK",                      1,   KILN_OP_TOPK,                       up_topk_attr},
    {"", "TopK",                      10,  KILN_OP_TOPK,                       NULL},
    {"", "Transpose",                 1,   KILN_OP_TRANSPOSE,                  NULL},
    {"", "Trilu",                     14,  KILN_OP_TRILU,                      NULL},
    {"", "Unique",                    11,  KILN_OP_UNIQUE,                     NULL},
    {"", "Unsqueeze",                 1,   KILN_OP_UNSQUEEZE,                  up_axes_attr},
    {"", "Unsqueeze",                 13,  KILN_OP_UNSQUEEZE,                  NULL},
    {"", "Upsample",                  1,   KILN_OP_RESIZE,                     up_upsample1},
    {"", "Upsample",                  7,   KILN_OP_RESIZE,                     up_upsample7},
    {"", "Upsample",                  9,   KILN_OP_RESIZE,                     up_upsample9},
    {"", "Where",                     9,   KILN_OP_WHERE,                      NULL},
    {"", "Xor",                       1,   KILN_OP_XOR,                        up_broadcast},
    {"", "Xor",                       7,   KILN_OP_XOR,                        NULL},
};
const size_t onnx_n_op_rows = sizeof onnx_op_rows / sizeof onnx_op_rows[0];

static bool is_default_domain(const char *domain)
{
    return !domain || !domain[0] || strcmp(domain, "ai.onnx") == 0;
}

static int row_cmp(const onnx_op_row *r, const char *domain, const char *op_type)
{
    int c = strcmp(r->domain, domain);
    return c ? c : strcmp(r->op_type, op_type);
}

/* Index of the first row of (domain, op_type), or onnx_n_op_rows. */
static size_t first_row(const char *domain, const char *op_type)
{
    size_t lo = 0, hi = onnx_n_op_rows;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (row_cmp(&onnx_op_rows[mid], domain, op_type) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < onnx_n_op_rows && row_cmp(&onnx_op_rows[lo], domain, op_type) == 0
               ? lo : onnx_n_op_rows;
}

const onnx_op_row *onnx_op_lookup(const char *domain, const char *op_type, int64_t opset,
                                  int *first_since)
{
    const char *d = is_default_domain(domain) ? "" : domain;
    size_t i = first_row(d, op_type);
    const onnx_op_row *best = NULL;
    if (first_since)
        *first_since = i < onnx_n_op_rows ? onnx_op_rows[i].since : 0;
    for (; i < onnx_n_op_rows && row_cmp(&onnx_op_rows[i], d, op_type) == 0; i++)
        if (onnx_op_rows[i].since <= opset)
            best = &onnx_op_rows[i];
    return best;
}

/* ---- why something is not supported -------------------------------------- */

static const struct reason {
    const char *domain;   /* "" is the default domain */
    const char *prefix;   /* of op_type; "" matches every op of the domain */
    bool exact;           /* op_type must equal prefix */
    const char *why;
} reasons[] = {
    {"", "If", true, "control flow (sub-graphs) is not supported"},
    {"", "Loop", true, "control flow (sub-graphs) is not supported"},
    {"", "Scan", true, "control flow (sub-graphs) is not supported"},
    {"", "Sequence", false, "sequence types are not supported"},
    {"", "SplitToSequence", true, "sequence types are not supported"},
    {"", "ConcatFromSequence", true, "sequence types are not supported"},
    {"", "Optional", false, "optional types are not supported"},
    {"", "String", false, "string tensors are not supported"},
    {"", "RegexFullMatch", true, "string tensors are not supported"},
    {"", "TfIdfVectorizer", true, "string tensors are not supported"},
    {"", "Random", false, "random number generation is not supported"},
    {"", "Bernoulli", true, "random number generation is not supported"},
    {"", "Multinomial", true, "random number generation is not supported"},
    {"ai.onnx.preview.training", "", false, "training operators are not supported"},
    {"ai.onnx.ml", "", false, "the ai.onnx.ml domain (classical machine learning) is not supported"},
};

const char *onnx_unsupported_reason(const char *domain, const char *op_type)
{
    const char *d = is_default_domain(domain) ? "" : domain;
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
        const struct reason *r = &reasons[i];
        size_t n = strlen(r->prefix);
        if (strcmp(r->domain, d) == 0 &&
            (r->exact ? strcmp(op_type, r->prefix) == 0 : strncmp(op_type, r->prefix, n) == 0))
            return r->why;
    }
    return d[0] ? "kiln supports only the default ONNX domain ('' or 'ai.onnx')" : NULL;
}
