#!/usr/bin/env python3
"""Fixtures for tests/unit/test_onnx_import.c (ONNX import) under tests/fixtures/onnx_import/.

Valid models come with a reference: <model>.x.npy (input, seed-fixed uniform [-1, 1)) and
<model>.y.npy (ONNX Runtime's output for it, graph optimisations off so every op runs as
written). Invalid models exercise one refusal each. Everything is built with onnx.helper from
fixed seeds, so a rerun with the same onnx/onnxruntime/numpy versions rewrites identical bytes.

    python3 scripts/gen_import_fixtures.py [--out tests/fixtures/onnx_import]
                                           [--corpus tests/fuzz/corpus/onnx_import]

--corpus also writes the fuzzer's seed corpus: the fixture models (valid and invalid) and a few
byte-level edge cases. tinytrain's own fp32 and QDQ exports are added by the unit test:
TT_FUZZ_CORPUS_OUT=tests/fuzz/corpus/onnx_import build/tests/test_onnx_import
"""
import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = "tests/fixtures/onnx_import"
RNG = np.random.default_rng(20240607)


def rand(*shape, lo=-1.0, hi=1.0):
    return RNG.uniform(lo, hi, size=shape).astype(np.float32)


def init(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def typed(name, arr, onnx_type):
    """An initializer in the typed fields (float_data / int32_data / int64_data), not raw_data."""
    arr = np.asarray(arr)
    return helper.make_tensor(name, onnx_type, arr.shape, arr.flatten().tolist(), raw=False)


def io(name, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def model(nodes, inputs, outputs, inits, opset=13, ir=7, value_info=None, extra_opsets=()):
    g = helper.make_graph(nodes, "g", inputs, outputs, inits, value_info=value_info or [])
    ops = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in extra_opsets]
    m = helper.make_model(g, opset_imports=ops, producer_name="gen_import_fixtures")
    m.ir_version = ir
    return m


def save_with_reference(m, name, in_shape, out_dir, check=True, ref=None):
    """Save name.onnx and its ORT reference for a seed-fixed input (computed on ref when the
    file itself is one ORT refuses)."""
    import onnxruntime as ort

    path = os.path.join(out_dir, name + ".onnx")
    if check:
        onnx.checker.check_model(m)
    onnx.save(m, path)
    x = rand(*in_shape)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    src = ref.SerializeToString() if ref is not None else path
    sess = ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])
    y = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    np.save(os.path.join(out_dir, name + ".x.npy"), x)
    np.save(os.path.join(out_dir, name + ".y.npy"), y.astype(np.float32))


def save_bad(m, name, out_dir):
    onnx.save(m, os.path.join(out_dir, name + ".onnx"))


# ---- valid models -------------------------------------------------------------------------------


def mlp_external(out):
    """Gemm-Relu-Gemm with every initializer in one external data file."""
    w1, b1, w2, b2 = rand(12, 16), rand(12), rand(5, 12), rand(5)
    nodes = [
        helper.make_node("Gemm", ["x", "fc1.weight", "fc1.bias"], ["h"], transB=1),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("Gemm", ["r", "fc2.weight", "fc2.bias"], ["y"], transB=1),
    ]
    m = model(nodes, [io("x", ["N", 16])], [io("y", ["N", 5])],
              [init("fc1.weight", w1), init("fc1.bias", b1), init("fc2.weight", w2),
               init("fc2.bias", b2)])
    onnx.checker.check_model(m)
    path = os.path.join(out, "mlp_external.onnx")
    data = os.path.join(out, "mlp_external.data")
    if os.path.exists(data):
        os.remove(data)  # onnx appends to an existing data file
    onnx.save_model(m, path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location="mlp_external.data", size_threshold=0)
    os.chmod(data, 0o644)  # onnx creates it 0600
    m2 = onnx.load(path, load_external_data=False)
    assert all(t.data_location == TensorProto.EXTERNAL for t in m2.graph.initializer)
    save_reference_only(path, out, "mlp_external", (3, 16))


def save_reference_only(path, out, name, in_shape):
    import onnxruntime as ort

    x = rand(*in_shape)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    y = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    np.save(os.path.join(out, name + ".x.npy"), x)
    np.save(os.path.join(out, name + ".y.npy"), y.astype(np.float32))


def typed_fields(out):
    """Initializers in float_data and int64_data instead of raw_data; a scalar initializer."""
    w, b = rand(3, 1, 3, 3), rand(3)
    fc, fb = rand(48, 4), rand(4)
    nodes = [
        helper.make_node("Conv", ["x", "conv.w", "conv.b"], ["c"], pads=[0, 0, 0, 0]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Reshape", ["r", "shape"], ["f"]),
        helper.make_node("MatMul", ["f", "fc.w"], ["m"]),
        helper.make_node("Add", ["m", "fc.b"], ["a"]),
        helper.make_node("Mul", ["a", "half"], ["y"]),
    ]
    inits = [typed("conv.w", w, TensorProto.FLOAT), typed("conv.b", b, TensorProto.FLOAT),
             typed("shape", np.array([0, -1], np.int64), TensorProto.INT64),
             typed("fc.w", fc, TensorProto.FLOAT), typed("fc.b", fb, TensorProto.FLOAT),
             typed("half", np.array(0.5, np.float32), TensorProto.FLOAT)]
    m = model(nodes, [io("x", ["N", 1, 6, 6])], [io("y", ["N", 4])], inits)
    assert all(not t.raw_data for t in m.graph.initializer)
    save_with_reference(m, "typed_fields", (2, 1, 6, 6), out)


def shape_ops(out):
    """Identity, Dropout (ratio input), Constant (value tensor and value_floats), Unsqueeze and
    Squeeze with axes inputs, Reshape with a Constant shape, Flatten."""
    w, b = rand(3, 4), rand(3)
    nodes = [
        helper.make_node("Identity", ["x"], ["i"]),
        helper.make_node("Constant", [], ["axes23"],
                         value=helper.make_tensor("v", TensorProto.INT64, [2], [2, 3])),
        helper.make_node("Unsqueeze", ["i", "axes23"], ["u"]),  # [N, 4, 1, 1]
        helper.make_node("Dropout", ["u", "ratio"], ["d"]),
        helper.make_node("Constant", [], ["axes3"], value_ints=[3]),
        helper.make_node("Squeeze", ["d", "axes3"], ["s"]),  # [N, 4, 1]
        helper.make_node("Constant", [], ["shape"],
                         value=helper.make_tensor("v", TensorProto.INT64, [2], [0, -1])),
        helper.make_node("Reshape", ["s", "shape"], ["rs"]),  # [N, 4]
        helper.make_node("Constant", [], ["scale"], value_floats=[2.0, 0.5, 1.0, -1.0]),
        helper.make_node("Mul", ["rs", "scale"], ["ms"]),
        helper.make_node("Identity", ["fc.weight"], ["w_alias"]),
        helper.make_node("Gemm", ["ms", "w_alias", "fc.bias"], ["g"], transB=1),
        helper.make_node("Unsqueeze", ["g", "axes23"], ["g4"]),  # [N, 3, 1, 1]
        helper.make_node("Flatten", ["g4"], ["y"], axis=1),
    ]
    inits = [init("fc.weight", w), init("fc.bias", b), init("ratio", np.array(0.3, np.float32))]
    m = model(nodes, [io("x", ["N", 4])], [io("y", ["N", 3])], inits)
    save_with_reference(m, "shape_ops", (5, 4), out)


def stale_value_info(out):
    """value_info that is wrong (shapes, dtypes) and duplicated: the import must ignore it."""
    w, b = rand(6, 8), rand(6)
    nodes = [
        helper.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1),
        helper.make_node("Sigmoid", ["h"], ["y"]),
    ]
    vi = [io("h", ["N", 99]), io("h", [7, 7, 7]),
          helper.make_tensor_value_info("h", TensorProto.INT8, [1]), io("ghost", [3])]
    m = model(nodes, [io("x", ["N", 8])], [io("y", ["N", 6])], [init("w", w), init("b", b)],
              value_info=vi)
    clean = model(nodes, [io("x", ["N", 8])], [io("y", ["N", 6])], [init("w", w), init("b", b)])
    save_with_reference(m, "stale_value_info", (4, 8), out, check=False, ref=clean)


def gemm_variants(out):
    """Gemm with transB=0, alpha and beta folded into constants, C of shape [1, M] and a scalar
    C; a Gemm whose C is computed with shape [N, M] (Gemm then Add); Tanh."""
    b0, c0 = rand(8, 5), rand(1, 5)
    b1, c1 = rand(5, 5), rand(5, 5)
    nodes = [
        helper.make_node("Gemm", ["x", "B0", "C0"], ["g0"], transB=0, alpha=0.5, beta=2.0),
        helper.make_node("Tanh", ["g0"], ["t"]),
        helper.make_node("Gemm", ["t", "B1", "cs"], ["g1"], transB=1, beta=-1.0),
        helper.make_node("MatMul", ["t", "C1"], ["cm"]),
        helper.make_node("Gemm", ["g1", "B1", "cm"], ["y"], transB=0),
    ]
    inits = [init("B0", b0), init("C0", c0), init("B1", b1), init("C1", c1),
             init("cs", np.array(0.25, np.float32))]
    m = model(nodes, [io("x", ["N", 8])], [io("y", ["N", 5])], inits)
    save_with_reference(m, "gemm_variants", (3, 8), out)


def conv_ops(out):
    """Conv with auto_pad SAME_UPPER and stride 2, BatchNormalization, LeakyRelu, MaxPool
    (ceil_mode=1 where the windows fit exactly), AveragePool (count_include_pad=1 without
    pads), Clip with constant min/max inputs, a grouped Conv with explicit pads,
    GlobalAveragePool, Flatten, Gemm."""
    w1, b1 = rand(4, 2, 3, 3), rand(4)
    gamma, beta, mean, var = rand(4), rand(4), rand(4), rand(4, lo=0.5, hi=2.0)
    w2 = rand(4, 2, 3, 3)
    fw, fb = rand(3, 4), rand(3)
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], auto_pad="SAME_UPPER",
                         strides=[2, 2], kernel_shape=[3, 3]),  # [N,4,5,5]
        helper.make_node("BatchNormalization", ["c1", "gamma", "beta", "mean", "var"], ["bn"],
                         epsilon=1e-3, momentum=0.8),
        helper.make_node("LeakyRelu", ["bn"], ["lr"], alpha=0.2),
        helper.make_node("MaxPool", ["lr"], ["mp"], kernel_shape=[3, 3], strides=[2, 2],
                         ceil_mode=1),  # (5-3)/2 exact: [N,4,2,2]
        helper.make_node("Conv", ["mp", "w2"], ["c2"], group=2, pads=[1, 1, 1, 1]),
        helper.make_node("AveragePool", ["c2"], ["ap"], kernel_shape=[2, 2],
                         count_include_pad=1),  # [N,4,1,1]
        helper.make_node("Clip", ["ap", "lo", "hi"], ["cl"]),
        helper.make_node("GlobalAveragePool", ["cl"], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["f"]),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1),
    ]
    inits = [init("w1", w1), init("b1", b1), init("gamma", gamma), init("beta", beta),
             init("mean", mean), init("var", var), init("w2", w2), init("fw", fw), init("fb", fb),
             init("lo", np.array(-0.3, np.float32)), init("hi", np.array(0.4, np.float32))]
    m = model(nodes, [io("x", ["N", 2, 9, 9])], [io("y", ["N", 3])], inits)
    save_with_reference(m, "conv_ops", (2, 2, 9, 9), out)


def opset9(out):
    """Opset 9 forms: Clip bounds and Squeeze/Unsqueeze axes as attributes, Dropout with a
    ratio attribute, BatchNormalization-9, Softmax-1 semantics on its last axis avoided
    (Softmax is checked in pending_float)."""
    w, b = rand(4, 6), rand(4)
    gamma, beta, mean, var = rand(4), rand(4), rand(4), rand(4, lo=0.5, hi=2.0)
    nodes = [
        helper.make_node("Gemm", ["x", "w", "b"], ["g"], transB=1),
        helper.make_node("Unsqueeze", ["g"], ["u"], axes=[2]),  # [N, 4, 1]
        helper.make_node("BatchNormalization", ["u", "gamma", "beta", "mean", "var"], ["bn"]),
        helper.make_node("Squeeze", ["bn"], ["s"], axes=[2]),
        helper.make_node("Dropout", ["s"], ["d"], ratio=0.25),
        helper.make_node("Clip", ["d"], ["y"], min=-0.5, max=0.5),
    ]
    inits = [init("w", w), init("b", b), init("gamma", gamma), init("beta", beta),
             init("mean", mean), init("var", var)]
    m = model(nodes, [io("x", ["N", 6])], [io("y", ["N", 4])], inits, opset=9, ir=4)
    # IR 4 lists initializers among the graph inputs: they must stay constants.
    for t in m.graph.initializer:
        m.graph.input.append(io(t.name, list(t.dims)))
    save_with_reference(m, "opset9", (3, 6), out)


def fixed_batch(out):
    """The batch fixed at 1 in the file (as a tracing exporter writes it)."""
    w, b = rand(3, 8), rand(3)
    nodes = [
        helper.make_node("Reshape", ["x", "shape"], ["f"]),
        helper.make_node("Gemm", ["f", "w", "b"], ["y"], transB=1),
    ]
    inits = [init("w", w), init("b", b), init("shape", np.array([1, -1], np.int64))]
    m = model(nodes, [io("x", [1, 2, 4])], [io("y", [1, 3])], inits)
    save_with_reference(m, "fixed_batch", (1, 2, 4), out)


def long_names(out):
    """Value names far beyond TT_NAME_MAX, two of them sharing a 150-character prefix."""
    p = "model/" + "encoder_block/" * 11
    a, b = p + "linear_a/output", p + "linear_b/output"
    wa, wb = p + "linear_a/weight", p + "linear_b/weight"
    nodes = [
        helper.make_node("MatMul", ["x", wa], [a]),
        helper.make_node("Relu", [a], [b + "_relu"]),
        helper.make_node("MatMul", [b + "_relu", wb], [b]),
        helper.make_node("Add", [a, b], ["y"]),
    ]
    inits = [init(wa, rand(4, 4)), init(wb, rand(4, 4))]
    m = model(nodes, [io("x", ["N", 4])], [io("y", ["N", 4])], inits)
    save_with_reference(m, "long_names", (2, 4), out)


def pending_float(out):
    """Sub, Div and Softmax (opset 13, axis -1)."""
    nodes = [
        helper.make_node("Sub", ["x", "m"], ["s"]),
        helper.make_node("Div", ["s", "d"], ["v"]),
        helper.make_node("Softmax", ["v"], ["y"]),
    ]
    inits = [init("m", rand(5)), init("d", rand(5, lo=0.5, hi=2.0))]
    m = model(nodes, [io("x", ["N", 5])], [io("y", ["N", 5])], inits)
    save_with_reference(m, "pending_float", (3, 5), out)


def qdq_typed(out):
    """A QDQ Gemm as ORT's quantize_static writes it, its int8 weight, uint8 zero point and int32
    bias in int32_data (typed fields): Q/DQ on the input, DQ(w) per channel (axis 0), DQ(b)."""
    m_, k = 3, 6
    w = RNG.integers(-127, 128, size=(m_, k)).astype(np.int8)
    ws = rand(m_, lo=0.005, hi=0.02)
    xs, xz = np.float32(2.0 / 255), np.uint8(128)
    bq = RNG.integers(-500, 500, size=(m_,)).astype(np.int32)
    bs = (xs * ws).astype(np.float32)
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zp"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "x_scale", "x_zp"], ["xd"]),
        helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zp"], ["wd"], axis=0),
        helper.make_node("DequantizeLinear", ["b_q", "b_scale", "b_zp"], ["bd"], axis=0),
        helper.make_node("Gemm", ["xd", "wd", "bd"], ["g"], transB=1),
        helper.make_node("QuantizeLinear", ["g", "y_scale", "y_zp"], ["yq"]),
        helper.make_node("DequantizeLinear", ["yq", "y_scale", "y_zp"], ["y"]),
    ]
    inits = [init("x_scale", xs), typed("x_zp", np.array(xz), TensorProto.UINT8),
             typed("w_q", w, TensorProto.INT8), init("w_scale", ws),
             typed("w_zp", np.zeros(m_, np.int8), TensorProto.INT8),
             typed("b_q", bq, TensorProto.INT32), init("b_scale", bs),
             typed("b_zp", np.zeros(m_, np.int32), TensorProto.INT32),
             init("y_scale", np.float32(0.05)), init("y_zp", np.uint8(128))]
    m = model(nodes, [io("x", ["N", k])], [io("y", ["N", m_])], inits)
    save_with_reference(m, "qdq_typed", (4, k), out)


def dynamic_quant(out):
    """What quantize_dynamic writes for a MatMul: DynamicQuantizeLinear -> MatMulInteger ->
    Cast -> Mul(scale product), and a ConvInteger twin."""
    k, n = 6, 4
    w = RNG.integers(-127, 128, size=(k, n)).astype(np.int8)
    nodes = [
        helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
        helper.make_node("MatMulInteger", ["xq", "w_q", "xz", "w_zp"], ["acc"]),
        helper.make_node("Cast", ["acc"], ["accf"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["xs", "w_scale"], ["s"]),
        helper.make_node("Mul", ["accf", "s"], ["y"]),
    ]
    inits = [init("w_q", w), init("w_zp", np.int8(0)), init("w_scale", np.float32(0.01))]
    m = model(nodes, [io("x", ["N", k])], [io("y", ["N", n])], inits, opset=13)
    save_with_reference(m, "dynamic_quant", (3, k), out)


# ---- invalid models -----------------------------------------------------------------------------


def tiny_graph(inits, nodes=None, inputs=None, outputs=None, opset=13):
    nodes = nodes if nodes is not None else [helper.make_node("Add", ["x", "c"], ["y"])]
    return model(nodes, inputs if inputs is not None else [io("x", ["N", 4])],
                 outputs if outputs is not None else [io("y", ["N", 4])], inits, opset=opset)


def ext_tensor(name, dims, location, offset=None, length=None):
    t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=dims)
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", offset), ("length", length)):
        if v is not None:
            e = t.external_data.add()
            e.key, e.value = k, str(v)
    return t


def bad_models(out):
    c = init("c", np.ones(4, np.float32))
    r5 = init("c", np.ones((1, 1, 1, 1, 4), np.float32))
    save_bad(tiny_graph([r5]), "rank5", out)
    huge = TensorProto(name="c", data_type=TensorProto.FLOAT, dims=[1000000000],
                       raw_data=b"\0\0\0\0")
    save_bad(tiny_graph([huge]), "huge_dims", out)
    huge2 = TensorProto(name="c", data_type=TensorProto.FLOAT, dims=[100000, 100000, 100000],
                        raw_data=b"\0\0\0\0")
    save_bad(tiny_graph([huge2]), "huge_dims_cap", out)
    save_bad(tiny_graph([ext_tensor("c", [4], "../x.bin")]), "ext_traversal", out)
    save_bad(tiny_graph([ext_tensor("c", [4], "/etc/passwd")]), "ext_absolute", out)
    save_bad(tiny_graph([ext_tensor("c", [4], "no_such_file.bin")]), "ext_missing", out)
    save_bad(tiny_graph([ext_tensor("c", [4], "ext_beyond.bin", 8, 16)]), "ext_beyond", out)
    with open(os.path.join(out, "ext_beyond.bin"), "wb") as f:
        f.write(bytes(16))
    # The test copies this model next to a symlink "escape.bin" pointing outside.
    save_bad(tiny_graph([ext_tensor("c", [4], "escape.bin")]), "ext_symlink", out)
    unsupported = [
        helper.make_node("Resize", ["x"], ["r"]),
        helper.make_node("LSTM", ["r"], ["l1"]),
        helper.make_node("Relu", ["l1"], ["l2"]),
        helper.make_node("LSTM", ["l2"], ["l3"]),
        helper.make_node("Add", ["l3", "c"], ["y"]),
    ]
    save_bad(tiny_graph([c], unsupported), "unsupported_ops", out)
    f16 = helper.make_tensor("c", TensorProto.FLOAT16, [4],
                             np.ones(4, np.float16).view(np.uint16).tolist())
    save_bad(tiny_graph([f16]), "float16_init", out)
    mm = [helper.make_node("MatMul", ["x", "w8"], ["y"])]
    save_bad(tiny_graph([init("w8", np.ones((4, 4), np.int8))], mm), "dtype_mismatch", out)
    save_bad(tiny_graph([c], inputs=[io("c", [4])],
                        nodes=[helper.make_node("Relu", ["c"], ["y"])]), "no_inputs", out)
    save_bad(tiny_graph([c], [helper.make_node("Add", ["x", "ghost"], ["y"])]), "undefined_value",
             out)
    order = [helper.make_node("Relu", ["h"], ["y"]), helper.make_node("Add", ["x", "c"], ["h"])]
    save_bad(tiny_graph([c], order), "out_of_order", out)
    dup = [helper.make_node("Add", ["x", "c"], ["y"]), helper.make_node("Relu", ["x"], ["y"])]
    save_bad(tiny_graph([c], dup), "duplicate_output", out)
    save_bad(tiny_graph([c], opset=22), "opset22", out)
    sym = tiny_graph([c], inputs=[io("x", ["N", "C"])])
    save_bad(sym, "symbolic_feature_dim", out)
    tb0 = [helper.make_node("Gemm", ["x", "x"], ["y"], transB=0)]
    save_bad(tiny_graph([], tb0, inputs=[io("x", [4, 4])], outputs=[io("y", [4, 4])]),
             "gemm_computed_b", out)
    # Found by the fuzzer: auto_pad divides by the strides, which must be checked first.
    s0 = [helper.make_node("Conv", ["x", "w"], ["y"], auto_pad="SAME_UPPER", strides=[0, 0])]
    save_bad(tiny_graph([init("w", np.ones((4, 4, 1, 1), np.float32))], s0,
                        inputs=[io("x", ["N", 4, 3, 3])], outputs=[io("y", ["N", 4, 3, 3])]),
             "conv_stride0", out)
    # Graphs nested 15 If levels (45 messages) deep: refused before protobuf-c recurses.
    leaf = helper.make_graph([helper.make_node("Identity", ["x"], ["z0"])], "b0", [],
                             [io("z0", ["N", 4])])
    inner = leaf
    for d in range(1, 16):
        node = helper.make_node("If", ["cond"], ["z%d" % d], then_branch=inner, else_branch=leaf)
        inner = helper.make_graph([node], "b%d" % d, [], [io("z%d" % d, ["N", 4])])
    save_bad(tiny_graph([c], [helper.make_node("If", ["cond"], ["y"], then_branch=inner,
                                               else_branch=leaf)]), "deep_nesting", out)


def ort_quantized(out):
    """ONNX Runtime's own quantisers on two of the models above: quantize_static (QDQ, per
    channel, U8S8) of conv_ops, quantize_dynamic of typed_fields (ConvInteger, MatMulInteger)."""
    import tempfile

    import onnxruntime as ort
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_dynamic, quantize_static)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.data = iter([{"x": rand(2, 2, 9, 9)} for _ in range(4)])

        def get_next(self):
            return next(self.data, None)

    with tempfile.TemporaryDirectory() as tmp:
        q = os.path.join(tmp, "q.onnx")
        quantize_static(os.path.join(out, "conv_ops.onnx"), q, Reader(),
                        quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        save_with_reference(onnx.load(q), "ort_static_qdq", (2, 2, 9, 9), out)
        d = os.path.join(tmp, "d.onnx")
        quantize_dynamic(os.path.join(out, "typed_fields.onnx"), d, weight_type=QuantType.QInt8)
        save_with_reference(onnx.load(d), "ort_dynamic", (2, 1, 6, 6), out)


def write_corpus(fixtures, corpus):
    import shutil

    os.makedirs(corpus, exist_ok=True)
    for f in sorted(os.listdir(fixtures)):
        if f.endswith(".onnx"):
            shutil.copy(os.path.join(fixtures, f), os.path.join(corpus, f))
    edge = {"edge_empty_graph.bin": b"\x3a\x00",
            "edge_deep_varint.bin": b"\x08" + b"\xff" * 9 + b"\x01",
            "edge_graph_len_overflow.bin": b"\x3a\xff\xff\xff\xff\x0f\x0a\x00"}
    for name, data in edge.items():
        with open(os.path.join(corpus, name), "wb") as f:
            f.write(data)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--corpus", help="also write the fuzzer's seed corpus here")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for gen in (mlp_external, typed_fields, shape_ops, stale_value_info, gemm_variants, conv_ops,
                opset9, fixed_batch, long_names, pending_float, qdq_typed, dynamic_quant,
                ort_quantized, bad_models):
        gen(a.out)
    total = sum(os.path.getsize(os.path.join(a.out, f)) for f in os.listdir(a.out))
    print("wrote %d files, %d bytes, to %s" % (len(os.listdir(a.out)), total, a.out))
    if a.corpus:
        write_corpus(a.out, a.corpus)
        total = sum(os.path.getsize(os.path.join(a.corpus, f)) for f in os.listdir(a.corpus))
        print("corpus: %d files, %d bytes, in %s" % (len(os.listdir(a.corpus)), total, a.corpus))


if __name__ == "__main__":
    main()
