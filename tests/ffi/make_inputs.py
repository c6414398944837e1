#!/usr/bin/python3
"""Writes the inputs and expected outputs of tests/ffi (run with
/usr/bin/python3, which has onnx and numpy). The expected values are
numpy's, independent of kiln; the files are committed, so the tests need
no Python. Rerun after changing a case."""
import os
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


def path(*parts):
    p = os.path.join(HERE, *parts)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    return p


def npy(name, a):
    np.save(path(name), a)


a = (np.arange(6, dtype=np.float32).reshape(2, 3) * 0.5 - 1).astype(np.float32)
b = np.array([[0.25, 10, -3.5], [100, 1e-3, 7]], dtype=np.float32)
npy("a_2x3.npy", a)
npy("b_2x3.npy", b)
with open(path("b_2x3.pb"), "wb") as f:
    f.write(numpy_helper.from_array(b, "b").SerializeToString())
npy("a_2x3_f64.npy", a.astype(np.float64))
npy("a_3x2.npy", a.reshape(3, 2))
npy("expected/tiny_add/y.npy", a + b)

x = np.array([1.5, -2, 3.25, 8], dtype=np.float32)
npy("x_4.npy", x)
npy("x_nan.npy", np.array([1, np.nan, 3, 4], dtype=np.float32))
idx = np.array([3, 0], dtype=np.int64)
npy("idx_ok.npy", idx)
npy("idx_bad.npy", np.array([1, 4], dtype=np.int64))
npy("idx_42.npy", np.array([-42, 0], dtype=np.int64))
npy("expected/two_out/gathered_0.npy", x[idx])
npy("expected/two_out/count.npy", np.array(idx.sum(), dtype=np.int64))

x3 = np.array([1, -2.5, 4], dtype=np.float32)
npy("x_3.npy", x3)
npy("expected/beta/y.npy", 2 * x3)

# the same y = a + b as an ONNX model, for the interpreter
g = helper.make_graph(
    [helper.make_node("Add", ["a", "b"], ["y"], name="add")], "tiny_add",
    [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2, 3]) for n in ("a", "b")],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], producer_name="kiln-tests")
m.ir_version = 8
onnx.checker.check_model(m)
with open(path("tiny_add.onnx"), "wb") as f:
    f.write(m.SerializeToString())

# the summary `kiln run` prints without -o, from numpy's values
def summary(name, arr, dt):
    vals = ", ".join("%.6g" % v for v in arr.reshape(-1)[:8])
    shape = "[" + ",".join(str(d) for d in arr.shape) + "]"
    return "%s: %s%s = [%s]\n" % (name, dt, shape, vals)

with open(path("lib_summary.stdout"), "w") as f:
    f.write(summary("y", a + b, "f32"))
with open(path("interp_summary.stdout"), "w") as f:
    f.write(summary("y", a + b, "f32"))
with open(path("lib_two_out_summary.stdout"), "w") as f:
    f.write(summary("gathered:0", x[idx], "f32") + summary("count", np.array(idx.sum()), "i64"))
