#!/usr/bin/python3
"""Writes the bad models and inputs of tests/err (run with /usr/bin/python3,
which has onnx and numpy). The generated files are committed, so the tests
need no Python; rerun this after changing a case."""
import os
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


def out(name):
    return os.path.join(HERE, name)


def model(nodes, inputs, outputs, inits=(), opset=17, domain_opsets=()):
    g = helper.make_graph(nodes, "err", inputs, outputs, list(inits))
    ops = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in domain_opsets]
    m = helper.make_model(g, opset_imports=ops, producer_name="kiln-tests")
    m.ir_version = 8
    return m


def save(m, name):
    with open(out(name), "wb") as f:
        f.write(m.SerializeToString())


def vi(name, dt, shape):
    return helper.make_tensor_value_info(name, dt, shape)


# A good model the input errors use: y = Gather(table, idx) + x, plus
# Reshape(x, shape) whose shape comes from an input.
table = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3), "table")
save(model([helper.make_node("Gather", ["table", "idx"], ["g"], name="lookup"),
            helper.make_node("Add", ["g", "x"], ["y"], name="add")],
           [vi("x", TensorProto.FLOAT, [2, 3]), vi("idx", TensorProto.INT64, [2])],
           [vi("y", TensorProto.FLOAT, [2, 3])], [table]), "gather.onnx")
save(model([helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape")],
           [vi("x", TensorProto.FLOAT, [2, 3]), vi("shape", TensorProto.INT64, [2])],
           [vi("y", TensorProto.FLOAT, None)]), "reshape.onnx")

np.save(out("x_2x3.npy"), np.ones((2, 3), np.float32))
np.save(out("x_2x3_f64.npy"), np.ones((2, 3), np.float64))
np.save(out("x_3x3.npy"), np.ones((3, 3), np.float32))
np.save(out("idx_ok.npy"), np.array([0, 3], np.int64))
np.save(out("idx_bad.npy"), np.array([0, 7], np.int64))
np.save(out("shape_bad.npy"), np.array([4, 4], np.int64))
with open(out("x_2x3.npy"), "rb") as f:
    data = f.read()
with open(out("x_truncated.npy"), "wb") as f:
    f.write(data[:-5])

# Models kiln must reject, each for one reason.
save(model([helper.make_node("StringNormalizer", ["s"], ["t"], name="norm")],
           [vi("s", TensorProto.STRING, [2])], [vi("t", TensorProto.STRING, [2])]),
     "unsupported_op.onnx")
save(model([helper.make_node("FusedGemm", ["a", "b"], ["c"], name="fused", domain="com.microsoft")],
           [vi("a", TensorProto.FLOAT, [2, 2]), vi("b", TensorProto.FLOAT, [2, 2])],
           [vi("c", TensorProto.FLOAT, [2, 2])], domain_opsets=[("com.microsoft", 1)]),
     "unknown_domain.onnx")
then = helper.make_graph([helper.make_node("Identity", ["x"], ["y1"])], "then", [],
                         [vi("y1", TensorProto.FLOAT, [2])])
save(model([helper.make_node("If", ["c"], ["y"], name="branch", then_branch=then, else_branch=then)],
           [vi("c", TensorProto.BOOL, []), vi("x", TensorProto.FLOAT, [2])],
           [vi("y", TensorProto.FLOAT, [2])]), "control_flow.onnx")
save(model([helper.make_node("MatMul", ["a", "b"], ["c"], name="blocks.0/attn/MatMul")],
           [vi("a", TensorProto.FLOAT, [2, 3]), vi("b", TensorProto.FLOAT, [4, 5])],
           [vi("c", TensorProto.FLOAT, None)]), "matmul_mismatch.onnx")
save(model([helper.make_node("Relu", ["a"], ["c"], name="relu")],
           [vi("a", TensorProto.FLOAT, [2, 3])], [vi("c", TensorProto.FLOAT, [3, 2])]),
     "declared_conflict.onnx")
save(model([helper.make_node("Relu", ["nowhere"], ["c"], name="relu")],
           [vi("a", TensorProto.FLOAT, [2, 3])], [vi("c", TensorProto.FLOAT, [2, 3])]),
     "undefined_input.onnx")
bad = numpy_helper.from_array(np.zeros((2, 3), np.float32), "w")
bad.raw_data = bad.raw_data[:-4]
save(model([helper.make_node("Add", ["a", "w"], ["c"], name="add")],
           [vi("a", TensorProto.FLOAT, [2, 3])], [vi("c", TensorProto.FLOAT, [2, 3])], [bad]),
     "raw_data_short.onnx")
ext = numpy_helper.from_array(np.zeros((2, 3), np.float32), "w")
ext.ClearField("raw_data")
ext.data_location = TensorProto.EXTERNAL
for k, v in (("location", "../secret.bin"), ("offset", "0"), ("length", "24")):
    e = ext.external_data.add()
    e.key, e.value = k, v
save(model([helper.make_node("Add", ["a", "w"], ["c"], name="add")],
           [vi("a", TensorProto.FLOAT, [2, 3])], [vi("c", TensorProto.FLOAT, [2, 3])], [ext]),
     "external_dotdot.onnx")
with open(out("gather.onnx"), "rb") as f:
    good = f.read()
with open(out("truncated.onnx"), "wb") as f:
    f.write(good[: len(good) // 2])
with open(out("not_a_model.onnx"), "w") as f:
    f.write("this is not a protobuf, just text\n")
