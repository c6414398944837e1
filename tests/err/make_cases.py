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


# External data kiln must refuse (issue 13): each model names its data in
# `location`; ext_ok.onnx is the good one the hard-link case copies.
def ext_model(entries, name, raw=None):
    w = numpy_helper.from_array(np.zeros((2, 3), np.float32), "w")
    w.ClearField("raw_data")
    if raw is not None:
        w.raw_data = raw
    w.data_location = TensorProto.EXTERNAL
    for k, v in entries:
        e = w.external_data.add()
        e.key, e.value = k, v
    save(model([helper.make_node("Add", ["a", "w"], ["c"], name="add")],
               [vi("a", TensorProto.FLOAT, [2, 3])], [vi("c", TensorProto.FLOAT, [2, 3])], [w]), name)


with open(out("ext_data.bin"), "wb") as f:
    f.write(np.arange(6, dtype=np.float32).tobytes())
ext_model([("location", "data.bin")], "ext_ok.onnx")
ext_model([("location", "ext_self.onnx"), ("length", "24")], "ext_self.onnx")
ext_model([("location", "ext_data.bin\0../x")], "ext_nul.onnx")
ext_model([("location", "../secret.bin"), ("location", "ext_data.bin")], "ext_repeated.onnx")
ext_model([("location", "ext_data.bin/")], "ext_trailing_slash.onnx")
ext_model([("location", "ext_data.bin")], "ext_with_raw.onnx", raw=np.zeros(6, np.float32).tobytes())
ext_model([("location", "no\nsuch\x1b[31m.bin")], "ext_control_chars.onnx")

# Split whose parts overflow int64 when added (the axis is symbolic, so
# only the sum check can catch it).
parts = numpy_helper.from_array(np.array([2**63 - 1, 1], np.int64), "parts")
save(model([helper.make_node("Split", ["x", "parts"], ["p", "q"], name="split", axis=0)],
           [vi("x", TensorProto.FLOAT, ["N", 3])],
           [vi("p", TensorProto.FLOAT, None), vi("q", TensorProto.FLOAT, None)], [parts]),
     "split_overflow.onnx")

# The same anonymous node (the first in the file) in a loader error and in
# an inference error: both messages must name it the same way.
dup = helper.make_node("MatMul", ["a", "b"], ["c"])
dup.attribute.extend([helper.make_attribute("k", 1), helper.make_attribute("k", 2)])
save(model([dup], [vi("a", TensorProto.FLOAT, [2, 3]), vi("b", TensorProto.FLOAT, [3, 5])],
           [vi("c", TensorProto.FLOAT, None)]), "anon_loader_error.onnx")
save(model([helper.make_node("MatMul", ["a", "b"], ["c"])],
           [vi("a", TensorProto.FLOAT, [2, 3]), vi("b", TensorProto.FLOAT, [4, 5])],
           [vi("c", TensorProto.FLOAT, None)]), "anon_infer_error.onnx")

# kiln run -o: output names that collide once sanitized, an output listed
# twice, a name too long for a file, a name with a NUL byte.
save(model([helper.make_node("Identity", ["x"], ["a/b"], name="first"),
            helper.make_node("Identity", ["x"], ["a_b"], name="second")],
           [vi("x", TensorProto.FLOAT, [2, 3])],
           [vi("a/b", TensorProto.FLOAT, [2, 3]), vi("a_b", TensorProto.FLOAT, [2, 3])]),
     "out_collide.onnx")
save(model([helper.make_node("Identity", ["x"], ["y"], name="id")],
           [vi("x", TensorProto.FLOAT, [2, 3])],
           [vi("y", TensorProto.FLOAT, [2, 3]), vi("y", TensorProto.FLOAT, [2, 3])]),
     "out_twice.onnx")
long_name = "y" * 300
save(model([helper.make_node("Identity", ["x"], [long_name], name="id")],
           [vi("x", TensorProto.FLOAT, [2, 3])], [vi(long_name, TensorProto.FLOAT, [2, 3])]),
     "out_long_name.onnx")
save(model([helper.make_node("Identity", ["x"], ["a\0b"], name="id")],
           [vi("x", TensorProto.FLOAT, [2, 3])], [vi("a\0b", TensorProto.FLOAT, [2, 3])]),
     "out_nul_name.onnx")
# .npy whose header dtype has a NUL byte: '<f4\0' must not read as '<f4'
with open(out("x_2x3.npy"), "rb") as f:
    data = bytearray(f.read())
at = data.index(b"'<f4'")
data[at:at + 5] = b"'<f4\0"          # same length: the header stays aligned
data[at + 5:at + 5] = b"'"
data = data[:data.index(b"\n") - 1] + data[data.index(b"\n"):]  # drop one pad space
with open(out("x_nul_dtype.npy"), "wb") as f:
    f.write(bytes(data))
# A graph output that no node produces, whose name holds a newline and a
# terminal escape (found by tests/malformed): the message stays one line.
save(model([helper.make_node("Relu", ["x"], ["y"], name="relu")],
           [vi("x", TensorProto.FLOAT, [2, 3])], [vi("y\n\x1b[31m", TensorProto.FLOAT, [2, 3])]),
     "name_control_chars.onnx")
