#!/usr/bin/python3
"""A tiny numpy evaluator for ONNX graphs: an independent check of the exported samples.

There is no onnxruntime on these machines, so export.py runs every exported model.onnx
through this file and compares with PyTorch's outputs; that catches exporter bugs before
kiln's tests have to. It covers the operators the samples use (opsets 13-17), nothing
more, and favours being obviously right over speed (float32 throughout, like the models).

    /usr/bin/python3 samples/zoo/onnx_ref.py MODEL.onnx input_0.npy [input_1.npy ...]
    prints each output's name, shape, and (with --expect output_0.npy ...) the max error.

Semantics follow the ONNX operator spec at the opset the model imports; unsupported ops
raise NotImplementedError with the op type.
"""
import sys

import numpy as np
import onnx
from onnx import numpy_helper

OPS = {}


def op(*names):
    def reg(fn):
        for n in names:
            OPS[n] = fn
        return fn
    return reg


def attrs_of(node):
    out = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        if isinstance(v, onnx.TensorProto):
            v = numpy_helper.to_array(v)
        elif isinstance(v, bytes):
            v = v.decode()
        out[a.name] = v
    return out


def run(model, feeds):
    """Evaluate model (ModelProto) on feeds {name: ndarray}; returns a list of outputs."""
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    env = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    env.update(feeds)
    for node in model.graph.node:
        fn = OPS.get(node.op_type)
        if fn is None:
            raise NotImplementedError(f"onnx_ref: op {node.op_type} (node {node.name})")
        ins = [env[i] if i else None for i in node.input]
        res = fn(ins, attrs_of(node), opset)
        if not isinstance(res, tuple):
            res = (res,)
        for name, val in zip(node.output, res):
            if name:
                env[name] = np.asarray(val)
    return [env[o.name] for o in model.graph.output]


def same(x, like):
    return np.asarray(x).astype(like.dtype, copy=False)


# ------------------------------------------------------------------ elementwise

BINARY = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Pow": np.power,
          "Equal": np.equal, "Less": np.less, "Greater": np.greater,
          "LessOrEqual": np.less_equal, "GreaterOrEqual": np.greater_equal,
          "And": np.logical_and, "Or": np.logical_or, "Max": np.maximum, "Min": np.minimum}
for _n, _f in BINARY.items():
    op(_n)(lambda i, a, o, f=_f, n=_n: f(i[0], i[1]) if n in ("Equal", "Less", "Greater", "LessOrEqual",
                                                                 "GreaterOrEqual", "And", "Or")
           else same(f(i[0], i[1]), i[0]))


@op("Div")
def _div(i, a, o):
    x, y = i
    if np.issubdtype(x.dtype, np.integer):
        return (np.trunc(x / y)).astype(x.dtype)            # integer division truncates
    return same(x / y, x)


@op("Mod")
def _mod(i, a, o):
    return np.fmod(i[0], i[1]) if a.get("fmod", 0) else np.mod(i[0], i[1])


UNARY = {"Sqrt": np.sqrt, "Exp": np.exp, "Neg": np.negative, "Abs": np.abs, "Tanh": np.tanh,
         "Not": np.logical_not, "Floor": np.floor, "Ceil": np.ceil, "Log": np.log,
         "Relu": lambda x: np.maximum(x, 0), "Sigmoid": lambda x: 1 / (1 + np.exp(-x)),
         "Identity": lambda x: x, "Reciprocal": lambda x: 1 / x}
for _n, _f in UNARY.items():
    op(_n)(lambda i, a, o, f=_f: same(f(i[0]), i[0]))


@op("Erf")
def _erf(i, a, o):
    import math
    return same(np.vectorize(math.erf, otypes=[np.float64])(i[0].astype(np.float64)), i[0])


@op("Dropout")
def _dropout(i, a, o):
    return i[0]


@op("Clip")
def _clip(i, a, o):
    x = i[0]
    lo = i[1] if len(i) > 1 and i[1] is not None else -np.inf
    hi = i[2] if len(i) > 2 and i[2] is not None else np.inf
    return same(np.clip(x, lo, hi), x)


@op("HardSigmoid")
def _hsig(i, a, o):
    x = i[0]
    return same(np.clip(a.get("alpha", 0.2) * x + a.get("beta", 0.5), 0, 1), x)


@op("HardSwish")
def _hswish(i, a, o):
    x = i[0]
    return same(x * np.clip(x / 6 + 0.5, 0, 1), x)


@op("Where")
def _where(i, a, o):
    return np.where(i[0], i[1], i[2])


@op("Cast")
def _cast(i, a, o):
    return i[0].astype(onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[a["to"]])


# ------------------------------------------------------------------ shapes and data movement

@op("Constant")
def _constant(i, a, o):
    if "value" in a:
        return a["value"]
    if "value_float" in a:
        return np.array(a["value_float"], np.float32)
    if "value_int" in a:
        return np.array(a["value_int"], np.int64)
    if "value_ints" in a:
        return np.array(a["value_ints"], np.int64)
    raise NotImplementedError("Constant kind")


@op("ConstantOfShape")
def _cos(i, a, o):
    v = a.get("value", np.zeros(1, np.float32))
    return np.full(tuple(int(d) for d in i[0]), v.reshape(-1)[0], dtype=v.dtype)


@op("Shape")
def _shape(i, a, o):
    s = np.array(i[0].shape, np.int64)
    return s[a.get("start", 0):a["end"]] if "end" in a else s[a.get("start", 0):]


@op("Reshape")
def _reshape(i, a, o):
    x, shape = i[0], [int(d) for d in i[1]]
    shape = [x.shape[k] if d == 0 and not a.get("allowzero", 0) else d for k, d in enumerate(shape)]
    return x.reshape(shape)


@op("Flatten")
def _flatten(i, a, o):
    x, ax = i[0], a.get("axis", 1)
    ax = ax % x.ndim if x.ndim else 0
    return x.reshape(int(np.prod(x.shape[:ax])), -1)


@op("Transpose")
def _transpose(i, a, o):
    return np.transpose(i[0], a.get("perm"))


def _axes(i, a, k):
    if len(i) > k and i[k] is not None:
        return [int(v) for v in i[k]]
    return a.get("axes")


@op("Unsqueeze")
def _unsqueeze(i, a, o):
    x = i[0]
    axes = sorted(ax % (x.ndim + len(_axes(i, a, 1))) for ax in _axes(i, a, 1))
    for ax in axes:
        x = np.expand_dims(x, ax)
    return x


@op("Squeeze")
def _squeeze(i, a, o):
    axes = _axes(i, a, 1)
    return np.squeeze(i[0], axis=tuple(axes) if axes is not None else None)


@op("Concat")
def _concat(i, a, o):
    return np.concatenate([x for x in i], axis=a["axis"])


@op("Split")
def _split(i, a, o):
    x, ax = i[0], a.get("axis", 0)
    sizes = _axes(i, a, 1) if len(i) > 1 and i[1] is not None else a.get("split")
    if sizes is None:
        raise NotImplementedError("Split without sizes")
    return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=ax))


@op("Slice")
def _slice(i, a, o):
    x = i[0]
    starts, ends = i[1], i[2]
    axes = i[3] if len(i) > 3 and i[3] is not None else np.arange(len(starts))
    steps = i[4] if len(i) > 4 and i[4] is not None else np.ones(len(starts), np.int64)
    sl = [slice(None)] * x.ndim
    for s, e, ax, st in zip(starts, ends, axes, steps):
        n = x.shape[ax]
        s, e, st = int(s), int(e), int(st)
        s = s + n if s < 0 else s
        e = e + n if e < 0 else e
        if st > 0:
            s, e = min(max(s, 0), n), min(max(e, 0), n)
        else:
            s, e = min(max(s, 0), n - 1), min(max(e, -1), n - 1)
        sl[ax] = slice(s, e if e >= 0 else None, st)
    return x[tuple(sl)]


@op("Gather")
def _gather(i, a, o):
    x, idx = i
    ax = a.get("axis", 0)
    idx = np.where(idx < 0, idx + x.shape[ax], idx)
    return np.take(x, idx, axis=ax)


@op("GatherElements")
def _gather_el(i, a, o):
    x, idx = i
    ax = a.get("axis", 0)
    return np.take_along_axis(x, np.where(idx < 0, idx + x.shape[ax], idx), axis=ax)


@op("ScatterElements")
def _scatter_el(i, a, o):
    x, idx, upd = i
    if a.get("reduction", "none") != "none":
        raise NotImplementedError("ScatterElements reduction")
    ax = a.get("axis", 0)
    out = x.copy()
    np.put_along_axis(out, np.where(idx < 0, idx + x.shape[ax], idx), upd, axis=ax)
    return out


@op("ScatterND")
def _scatter_nd(i, a, o):
    x, idx, upd = i
    out = x.copy()
    k = idx.shape[-1]
    flat_idx = idx.reshape(-1, k)
    flat_upd = upd.reshape((flat_idx.shape[0],) + x.shape[k:])
    for j, ix in enumerate(flat_idx):
        out[tuple(ix)] = flat_upd[j]
    return out


@op("Expand")
def _expand(i, a, o):
    x, shape = i
    return np.broadcast_to(x, np.broadcast_shapes(x.shape, tuple(int(d) for d in shape))).copy()


@op("Tile")
def _tile(i, a, o):
    return np.tile(i[0], [int(r) for r in i[1]])


@op("Range")
def _range(i, a, o):
    start, limit, delta = i
    return np.arange(start, limit, delta).astype(start.dtype)


@op("Pad")
def _pad(i, a, o):
    x, pads = i[0], [int(p) for p in i[1]]
    cval = i[2] if len(i) > 2 and i[2] is not None else 0
    mode = a.get("mode", "constant")
    n = x.ndim
    width = [(pads[k], pads[k + n]) for k in range(n)]
    if any(p < 0 for pr in width for p in pr):
        raise NotImplementedError("negative pads")
    if mode == "constant":
        return np.pad(x, width, mode="constant", constant_values=cval)
    return np.pad(x, width, mode={"reflect": "reflect", "edge": "edge"}[mode])


@op("TopK")
def _topk(i, a, o):
    x, k = i[0], int(i[1][0])
    ax = a.get("axis", -1)
    if not a.get("sorted", 1):
        raise NotImplementedError("TopK sorted=0")
    key = -x if a.get("largest", 1) else x
    idx = np.argsort(key, axis=ax, kind="stable")            # ties: lower index first
    idx = np.take(idx, np.arange(k), axis=ax)
    return np.take_along_axis(x, idx, axis=ax), idx.astype(np.int64)


@op("Einsum")
def _einsum(i, a, o):
    return same(np.einsum(a["equation"], *i), i[0])


# ------------------------------------------------------------------ reductions and normalisations

def _reduce(fn, i, a, o, axes_input):
    x = i[0]
    axes = _axes(i, a, 1) if axes_input else a.get("axes")
    if axes is None or len(axes) == 0:
        if a.get("noop_with_empty_axes", 0) and axes_input:
            return x
        axes = list(range(x.ndim))
    return same(fn(x, axis=tuple(axes), keepdims=bool(a.get("keepdims", 1))), x)


@op("ReduceMean")
def _rmean(i, a, o):
    return _reduce(np.mean, i, a, o, o >= 18)


@op("ReduceMax")
def _rmax(i, a, o):
    return _reduce(np.max, i, a, o, o >= 18)


@op("ReduceSum")
def _rsum(i, a, o):
    return _reduce(np.sum, i, a, o, o >= 13)


@op("Softmax")
def _softmax(i, a, o):
    x, ax = i[0], a.get("axis", -1 if o >= 13 else 1)
    if o < 13:
        raise NotImplementedError("Softmax before opset 13")
    e = np.exp(x - x.max(axis=ax, keepdims=True))
    return same(e / e.sum(axis=ax, keepdims=True), x)


@op("LayerNormalization")
def _layernorm(i, a, o):
    x, scale = i[0], i[1]
    bias = i[2] if len(i) > 2 and i[2] is not None else 0
    ax = a.get("axis", -1) % x.ndim
    axes = tuple(range(ax, x.ndim))
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    return same((x - mu) / np.sqrt(var + a.get("epsilon", 1e-5)) * scale + bias, x)


@op("BatchNormalization")
def _batchnorm(i, a, o):
    x, scale, bias, mean, var = i
    sh = (1, -1) + (1,) * (x.ndim - 2)
    y = (x - mean.reshape(sh)) / np.sqrt(var.reshape(sh) + a.get("epsilon", 1e-5))
    return same(y * scale.reshape(sh) + bias.reshape(sh), x)


# ------------------------------------------------------------------ matmul, conv, pooling

@op("MatMul")
def _matmul(i, a, o):
    return same(np.matmul(i[0], i[1]), i[0])


@op("Gemm")
def _gemm(i, a, o):
    A, B = i[0], i[1]
    A = A.T if a.get("transA", 0) else A
    B = B.T if a.get("transB", 0) else B
    y = a.get("alpha", 1.0) * (A @ B)
    if len(i) > 2 and i[2] is not None:
        y = y + a.get("beta", 1.0) * i[2]
    return same(y, i[0])


def _windows(x, kernel, strides, dilations):
    """x: (N, C, *spatial) already padded -> (N, C, *out, *kernel) strided view."""
    nsp = len(kernel)
    span = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    v = np.lib.stride_tricks.sliding_window_view(x, span, axis=tuple(range(2, 2 + nsp)))
    sl = [slice(None), slice(None)] + [slice(None, None, s) for s in strides] + \
         [slice(None, None, d) for d in dilations]
    return v[tuple(sl)]


def _pads(a, nsp):
    if a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise NotImplementedError("auto_pad SAME_*")
    p = a.get("pads", [0] * (2 * nsp))
    return [(p[k], p[k + nsp]) for k in range(nsp)]


@op("Conv")
def _conv(i, a, o):
    x, w = i[0], i[1]
    b = i[2] if len(i) > 2 and i[2] is not None else None
    nsp = x.ndim - 2
    kernel = list(w.shape[2:])
    strides = a.get("strides", [1] * nsp)
    dil = a.get("dilations", [1] * nsp)
    g = a.get("group", 1)
    xp = np.pad(x, [(0, 0), (0, 0)] + _pads(a, nsp))
    win = _windows(xp, kernel, strides, dil)                # (N, C, *out, *k)
    N, C = x.shape[:2]
    M = w.shape[0]
    out_sp = win.shape[2:2 + nsp]
    win = win.reshape((N, g, C // g) + out_sp + tuple(kernel))
    wg = w.reshape((g, M // g, C // g) + tuple(kernel))
    # contract channels-in-group and kernel positions
    sp = "hw"[:nsp] if nsp <= 2 else None
    ks = "uv"[:nsp]
    y = np.einsum(f"ngc{sp}{ks},gmc{ks}->ngm{sp}", win, wg, optimize=True)
    y = y.reshape((N, M) + out_sp)
    if b is not None:
        y = y + b.reshape((1, M) + (1,) * nsp)
    return same(y, x)


def _pool(i, a, o, kind):
    x = i[0]
    nsp = x.ndim - 2
    kernel = a["kernel_shape"]
    strides = a.get("strides", [1] * nsp)
    dil = a.get("dilations", [1] * nsp)
    pads = _pads(a, nsp)
    if a.get("ceil_mode", 0):
        raise NotImplementedError("ceil_mode")
    fill = -np.inf if kind == "max" else 0.0
    xp = np.pad(x, [(0, 0), (0, 0)] + pads, constant_values=fill)
    win = _windows(xp, kernel, strides, dil)
    axes = tuple(range(2 + nsp, 2 + 2 * nsp))
    if kind == "max":
        return same(win.max(axis=axes), x)
    s = win.sum(axis=axes)
    if a.get("count_include_pad", 0):
        return same(s / np.prod(kernel), x)
    ones = np.pad(np.ones(x.shape[2:], x.dtype), pads)[None, None]
    cnt = _windows(ones, kernel, strides, dil).sum(axis=axes)
    return same(s / cnt, x)


@op("MaxPool")
def _maxpool(i, a, o):
    return _pool(i, a, o, "max")


@op("AveragePool")
def _avgpool(i, a, o):
    return _pool(i, a, o, "avg")


@op("GlobalAveragePool")
def _gap(i, a, o):
    x = i[0]
    return same(x.mean(axis=tuple(range(2, x.ndim)), keepdims=True), x)


@op("Resize")
def _resize(i, a, o):
    x = i[0]
    scales = i[2] if len(i) > 2 and i[2] is not None and i[2].size else None
    sizes = i[3] if len(i) > 3 and i[3] is not None and i[3].size else None
    if a.get("mode", "nearest") != "linear":
        raise NotImplementedError("Resize mode " + a.get("mode", "nearest"))
    ctm = a.get("coordinate_transformation_mode", "half_pixel")
    out_shape = [int(s) for s in sizes] if sizes is not None else \
        [int(np.floor(d * s)) for d, s in zip(x.shape, scales)]
    y = x.astype(np.float64)
    for ax in range(x.ndim):
        n_in, n_out = x.shape[ax], out_shape[ax]
        if n_in == n_out:
            continue
        scale = scales[ax] if scales is not None else n_out / n_in
        o_idx = np.arange(n_out, dtype=np.float64)
        if ctm == "half_pixel":
            src = (o_idx + 0.5) / scale - 0.5
        elif ctm == "pytorch_half_pixel":
            src = (o_idx + 0.5) / scale - 0.5 if n_out > 1 else np.zeros(n_out)
        elif ctm == "align_corners":
            src = o_idx * (n_in - 1) / (n_out - 1) if n_out > 1 else np.zeros(n_out)
        elif ctm == "asymmetric":
            src = o_idx / scale
        else:
            raise NotImplementedError("Resize " + ctm)
        src = np.clip(src, 0, n_in - 1)
        lo = np.floor(src).astype(np.int64)
        hi = np.minimum(lo + 1, n_in - 1)
        w = (src - lo).reshape([-1 if k == ax else 1 for k in range(x.ndim)])
        y = np.take(y, lo, axis=ax) * (1 - w) + np.take(y, hi, axis=ax) * w
    return same(y, x)


# ------------------------------------------------------------------ command line

def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    if "--expect" in argv:
        k = argv.index("--expect")
        ins, expect = argv[1:k], argv[k + 1:]
        model_path, ins = ins[0], ins[1:]
    else:
        model_path, ins, expect = args[0], args[1:], []
    model = onnx.load(model_path)
    feeds = {v.name: np.load(f) for v, f in zip(model.graph.input, ins)}
    outs = run(model, feeds)
    for k, (v, y) in enumerate(zip(model.graph.output, outs)):
        line = f"{v.name}: {y.dtype} {list(y.shape)}"
        if k < len(expect):
            e = np.load(expect[k])
            line += f"  max abs err {np.abs(y.astype(np.float64) - e).max():.3e}"
        print(line)


if __name__ == "__main__":
    main(sys.argv)
