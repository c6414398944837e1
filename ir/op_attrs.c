/* op_attrs.c — the attribute names each op takes in kiln's IR.
 *
 * One row per op: its attribute names, space-separated, in name order;
 * "" for an op that takes none. For ONNX ops they are the op's attributes in
 * the canonical form (ops.def: the newest form up to opset 18), which the
 * ONNX loader produces: the ONNX 1.12 schemas (opset 17), without the
 * attributes that opset 18 made inputs (Reduce* `axes`), plus those opset
 * 18 added (Reduce* `noop_with_empty_axes`, Split `num_outputs`, LpPool
 * `ceil_mode` and `dilations`, Resize `antialias`, which inference refuses
 * with its own message) and `dilations` on AveragePool, which the window
 * reader shared by every pool reads. Resize's opset-18 `axes` and
 * `keep_aspect_ratio_policy` are absent on purpose: kiln would ignore them.
 * Attributes that older opsets had and the loader turns into inputs or
 * drops (Slice `starts`, Clip `min`, `consumed_inputs`...) are absent too:
 * in the canonical form they mean nothing, and text IR that carries one
 * would be silently misread. kiln's own ops list what their inference reads
 * (docs/attention.md, docs/token-reduction.md).
 *
 * The text-IR parser refuses an attribute an op does not take (a typo or an
 * older ONNX spelling would otherwise be ignored). tests/unit/test_tables.c
 * checks that every op has a row, and that every conformance model and
 * sample keeps its attributes through kiln's text form (test_text.c and the
 * dump round-trip tests).
 */
#include "ir/ir.h"

#include <string.h>

static const char *const op_attrs[KILN_OP_COUNT] = {
    [KILN_OP_ABS] = "",
    [KILN_OP_ACOS] = "",
    [KILN_OP_ACOSH] = "",
    [KILN_OP_ASIN] = "",
    [KILN_OP_ASINH] = "",
    [KILN_OP_ATAN] = "",
    [KILN_OP_ATANH] = "",
    [KILN_OP_CEIL] = "",
    [KILN_OP_COS] = "",
    [KILN_OP_COSH] = "",
    [KILN_OP_ERF] = "",
    [KILN_OP_EXP] = "",
    [KILN_OP_FLOOR] = "",
    [KILN_OP_LOG] = "",
    [KILN_OP_NEG] = "",
    [KILN_OP_NOT] = "",
    [KILN_OP_RECIPROCAL] = "",
    [KILN_OP_RELU] = "",
    [KILN_OP_ROUND] = "",
    [KILN_OP_SIGMOID] = "",
    [KILN_OP_SIGN] = "",
    [KILN_OP_SIN] = "",
    [KILN_OP_SINH] = "",
    [KILN_OP_SOFTPLUS] = "",
    [KILN_OP_SOFTSIGN] = "",
    [KILN_OP_SQRT] = "",
    [KILN_OP_TAN] = "",
    [KILN_OP_TANH] = "",
    [KILN_OP_ISNAN] = "",
    [KILN_OP_ISINF] = "detect_negative detect_positive",
    [KILN_OP_IDENTITY] = "",
    [KILN_OP_HARDSWISH] = "",
    [KILN_OP_ELU] = "alpha",
    [KILN_OP_SELU] = "alpha gamma",
    [KILN_OP_CELU] = "alpha",
    [KILN_OP_LEAKYRELU] = "alpha",
    [KILN_OP_HARDSIGMOID] = "alpha beta",
    [KILN_OP_THRESHOLDEDRELU] = "alpha",
    [KILN_OP_SHRINK] = "bias lambd",
    [KILN_OP_CAST] = "to",
    [KILN_OP_DROPOUT] = "seed",
    [KILN_OP_ADD] = "",
    [KILN_OP_SUB] = "",
    [KILN_OP_MUL] = "",
    [KILN_OP_DIV] = "",
    [KILN_OP_POW] = "",
    [KILN_OP_MOD] = "fmod",
    [KILN_OP_AND] = "",
    [KILN_OP_OR] = "",
    [KILN_OP_XOR] = "",
    [KILN_OP_EQUAL] = "",
    [KILN_OP_GREATER] = "",
    [KILN_OP_GREATEROREQUAL] = "",
    [KILN_OP_LESS] = "",
    [KILN_OP_LESSOREQUAL] = "",
    [KILN_OP_BITSHIFT] = "direction",
    [KILN_OP_PRELU] = "",
    [KILN_OP_SUM] = "",
    [KILN_OP_MAX] = "",
    [KILN_OP_MIN] = "",
    [KILN_OP_MEAN] = "",
    [KILN_OP_CLIP] = "",
    [KILN_OP_WHERE] = "",
    [KILN_OP_CASTLIKE] = "",
    [KILN_OP_REDUCESUM] = "keepdims noop_with_empty_axes",
    [KILN_OP_REDUCEMEAN] = "keepdims noop_with_empty_axes",
    [KILN_OP_REDUCEMAX] = "keepdims noop_with_empty_axes",
    [KILN_OP_REDUCEMIN] = "keepdims noop_with_empty_axes",
    [KILN_OP_REDUCEPROD] = "keepdims noop_with_empty_axes",
    [KILN_OP_REDUCEL1] = "keepdims noop_with_empty_axes",
    [KILN_OP_REDUCEL2] = "keepdims noop_with_empty_axes",
    [KILN_OP_REDUCELOGSUM] = "keepdims noop_with_empty_axes",
    [KILN_OP_REDUCELOGSUMEXP] = "keepdims noop_with_empty_axes",
    [KILN_OP_REDUCESUMSQUARE] = "keepdims noop_with_empty_axes",
    [KILN_OP_ARGMAX] = "axis keepdims select_last_index",
    [KILN_OP_ARGMIN] = "axis keepdims select_last_index",
    [KILN_OP_CUMSUM] = "exclusive reverse",
    [KILN_OP_MATMUL] = "",
    [KILN_OP_GEMM] = "alpha beta transA transB",
    [KILN_OP_MATMULINTEGER] = "",
    [KILN_OP_QLINEARMATMUL] = "",
    [KILN_OP_EINSUM] = "equation",
    [KILN_OP_DET] = "",
    [KILN_OP_CONV] = "auto_pad dilations group kernel_shape pads strides",
    [KILN_OP_CONVTRANSPOSE] = "auto_pad dilations group kernel_shape output_padding output_shape "
        "pads strides",
    [KILN_OP_CONVINTEGER] = "auto_pad dilations group kernel_shape pads strides",
    [KILN_OP_QLINEARCONV] = "auto_pad dilations group kernel_shape pads strides",
    [KILN_OP_MAXPOOL] = "auto_pad ceil_mode dilations kernel_shape pads storage_order strides",
    [KILN_OP_AVERAGEPOOL] = "auto_pad ceil_mode count_include_pad dilations kernel_shape pads "
        "strides",
    [KILN_OP_LPPOOL] = "auto_pad ceil_mode dilations kernel_shape p pads strides",
    [KILN_OP_GLOBALAVERAGEPOOL] = "",
    [KILN_OP_GLOBALMAXPOOL] = "",
    [KILN_OP_GLOBALLPPOOL] = "p",
    [KILN_OP_MAXUNPOOL] = "kernel_shape pads strides",
    [KILN_OP_BATCHNORMALIZATION] = "epsilon momentum training_mode",
    [KILN_OP_INSTANCENORMALIZATION] = "epsilon",
    [KILN_OP_LAYERNORMALIZATION] = "axis epsilon stash_type",
    [KILN_OP_LPNORMALIZATION] = "axis p",
    [KILN_OP_LRN] = "alpha beta bias size",
    [KILN_OP_MEANVARIANCENORMALIZATION] = "axes",
    [KILN_OP_SOFTMAX] = "axis",
    [KILN_OP_LOGSOFTMAX] = "axis",
    [KILN_OP_HARDMAX] = "axis",
    [KILN_OP_RESHAPE] = "allowzero",
    [KILN_OP_FLATTEN] = "axis",
    [KILN_OP_SQUEEZE] = "",
    [KILN_OP_UNSQUEEZE] = "",
    [KILN_OP_TRANSPOSE] = "perm",
    [KILN_OP_CONCAT] = "axis",
    [KILN_OP_SPLIT] = "axis num_outputs",
    [KILN_OP_SLICE] = "",
    [KILN_OP_PAD] = "mode",
    [KILN_OP_TILE] = "",
    [KILN_OP_EXPAND] = "",
    [KILN_OP_DEPTHTOSPACE] = "blocksize mode",
    [KILN_OP_SPACETODEPTH] = "blocksize",
    [KILN_OP_RESIZE] = "antialias coordinate_transformation_mode cubic_coeff_a exclude_outside "
        "extrapolation_value mode nearest_mode",
    [KILN_OP_TRILU] = "upper",
    [KILN_OP_REVERSESEQUENCE] = "batch_axis time_axis",
    [KILN_OP_GATHER] = "axis",
    [KILN_OP_GATHERELEMENTS] = "axis",
    [KILN_OP_GATHERND] = "batch_dims",
    [KILN_OP_SCATTERELEMENTS] = "axis reduction",
    [KILN_OP_SCATTERND] = "reduction",
    [KILN_OP_ONEHOT] = "axis",
    [KILN_OP_TOPK] = "axis largest sorted",
    [KILN_OP_NONZERO] = "",
    [KILN_OP_COMPRESS] = "axis",
    [KILN_OP_UNIQUE] = "axis sorted",
    [KILN_OP_RANGE] = "",
    [KILN_OP_EYELIKE] = "dtype k",
    [KILN_OP_CONSTANTOFSHAPE] = "value",
    [KILN_OP_SHAPE] = "end start",
    [KILN_OP_SIZE] = "",
    [KILN_OP_QUANTIZELINEAR] = "axis",
    [KILN_OP_DEQUANTIZELINEAR] = "axis",
    [KILN_OP_DYNAMICQUANTIZELINEAR] = "",
    [KILN_OP_RNN] = "activation_alpha activation_beta activations clip direction hidden_size "
        "layout",
    [KILN_OP_GRU] = "activation_alpha activation_beta activations clip direction hidden_size "
        "layout linear_before_reset",
    [KILN_OP_LSTM] = "activation_alpha activation_beta activations clip direction hidden_size "
        "input_forget layout",
    [KILN_OP_GRIDSAMPLE] = "align_corners mode padding_mode",
    [KILN_OP_ROIALIGN] = "coordinate_transformation_mode mode output_height output_width "
        "sampling_ratio spatial_scale",
    [KILN_OP_NONMAXSUPPRESSION] = "center_point_box",
    [KILN_OP_DFT] = "axis inverse onesided",
    [KILN_OP_STFT] = "onesided",
    [KILN_OP_HANNWINDOW] = "output_datatype periodic",
    [KILN_OP_HAMMINGWINDOW] = "output_datatype periodic",
    [KILN_OP_BLACKMANWINDOW] = "output_datatype periodic",
    [KILN_OP_MELWEIGHTMATRIX] = "output_datatype",
    [KILN_OP_NEGATIVELOGLIKELIHOODLOSS] = "ignore_index reduction",
    [KILN_OP_SOFTMAXCROSSENTROPYLOSS] = "ignore_index reduction",
    [KILN_OP_GELU] = "approximate",
    [KILN_OP_ATTENTION] = "batch causal head_dim heads k_layout kv_tokens q_layout q_tokens scale "
        "v_layout y_layout y_shape",
    [KILN_OP_TOKEN_MERGE] = "head_dim heads k_layout r",
    [KILN_OP_TOKEN_PRUNE] = "fuse keep",
    [KILN_OP_FUSEDMATMUL] = "activation hi lo packed_kc packed_n packed_nr",
    [KILN_OP_FUSEDELEMENTWISE] = "args ops params",
    [KILN_OP_FUSEDCONV] = "activation auto_pad dilations group hi kernel_shape lo pads strides",
};

const char *kiln_op_attrs(kiln_op op)
{
    return (unsigned)op < KILN_OP_COUNT ? op_attrs[op] : NULL;
}

bool kiln_op_takes_attr(kiln_op op, const char *name)
{
    const char *list = kiln_op_attrs(op);
    if (!list)
        return true; /* no row (an op added without one): nothing to check against */
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ' ');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && memcmp(p, name, n) == 0)
            return true;
        p += len + (end != NULL);
    }
    return false;
}
