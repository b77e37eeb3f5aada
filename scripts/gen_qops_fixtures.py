#!/usr/bin/env python3
"""Golden data for the inference-only ops (tests/unit/test_qops.c): one-node ONNX models built
with onnx.helper, run in ONNX Runtime (CPU, graph optimisations off) on seeded inputs, written
to tests/fixtures/qops/<case>.npz.

    python3 scripts/gen_qops_fixtures.py          # rewrites tests/fixtures/qops/

Made with onnxruntime 1.32.0, onnx 1.23.2, numpy 2.4.6 on an x86-64 CPU with AVX2 and without
AVX-512 VNNI. Deterministic (seeded; numpy stamps members 1980-01-01): two runs give the same
bytes. Archives are np.savez_compressed (deflate, which include/tinytrain/npz.h reads): 95 cases
in about 125 KB.

Each archive holds
    in0 .. in<n-1>   the node's inputs in ONNX order (an absent optional input is left out);
                     a per-tensor scale or zero point, an ONNX scalar, is stored as [1] (the IR
                     convention of include/tinytrain/graph.h)
    kind             int64 [n]: per input 0 absent, 1 graph input whose dim 0 is the batch
                     (TT_DIM_BATCH), 2 graph-owned constant (tt_graph_add_param_typed)
    attri_<a>        int64 [1]: an int attribute; attrs_<a>: int64 [k] an ints attribute
    out0 ..          the expected outputs

Expected outputs are ONNX Runtime's, except where this script says otherwise (EXACT below):
  * ConvInteger with a per-output-channel w_zero_point: ORT's CPU kernel refuses it (only a
    single w_zero_point), so the expected output is the exact integer convolution in numpy
    int64. Every other ConvInteger / MatMulInteger case is checked here to equal that same
    numpy reference, so the reference itself is tested.
  * MatMulInteger / ConvInteger mixing uint8 and int8 over the full ranges: on CPUs without
    VNNI, ORT's u8 x s8 kernels add pairs of products in saturating int16 and are off by
    thousands on some elements; the expected output is the exact numpy result (the ONNX
    definition) and the script prints how many elements ORT got wrong. The mixed-type cases
    checked against ORT keep the int8 side within [-64, 63], where no pair can saturate.
  * QLinearAdd with fused_relu = 1 (an IR attribute ORT's QLinearAdd lacks): ORT's output
    clamped below at c_zero_point.
  * Cast's attribute "to" is stored as the tt_dtype value (graph.h), not ONNX's enum.
"""
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto as TP
from onnx import helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "qops")
OPSET = 19
TT_DTYPE = {np.float32: 0, np.int8: 1, np.uint8: 2, np.int32: 3, np.int64: 4}
ONNX_DTYPE = {np.float32: TP.FLOAT, np.int8: TP.INT8, np.uint8: TP.UINT8, np.int32: TP.INT32,
              np.int64: TP.INT64}
ABSENT, BATCH, PARAM = 0, 1, 2
rng = np.random.default_rng(20261124)
written = []


def run_ort(op, inputs, n_out, attrs, domain=""):
    """Run one node; inputs is a list of arrays (None = absent optional input)."""
    names, vis, feeds = [], [], {}
    for i, a in enumerate(inputs):
        if a is None:
            names.append("")
            continue
        names.append(f"in{i}")
        vis.append(helper.make_tensor_value_info(f"in{i}", helper.np_dtype_to_tensor_dtype(a.dtype),
                                                 a.shape))
        feeds[f"in{i}"] = a
    while names and names[-1] == "":
        names.pop()
    outs = [f"out{k}" for k in range(n_out)]
    node = helper.make_node(op, names, outs, domain=domain, **attrs)
    ovis = [helper.make_tensor_value_info(o, t, None)
            for o, t in zip(outs, out_types(op, inputs, attrs))]
    opsets = [helper.make_opsetid("", OPSET)]
    if domain:
        opsets.append(helper.make_opsetid(domain, 1))
    model = helper.make_model(helper.make_graph([node], "g", vis, ovis), opset_imports=opsets)
    model.ir_version = 9
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def out_types(op, inputs, attrs):
    """ONNX element types of the node's outputs (ORT wants them declared)."""
    elem = helper.np_dtype_to_tensor_dtype
    if op in ("Sub", "Div", "Softmax", "DequantizeLinear"):
        return [TP.FLOAT]
    if op == "Cast":
        return [attrs["to"]]
    if op == "QuantizeLinear":
        return [elem(inputs[2].dtype) if len(inputs) > 2 and inputs[2] is not None else TP.UINT8]
    if op == "DynamicQuantizeLinear":
        return [TP.UINT8, TP.FLOAT, TP.UINT8]
    if op in ("MatMulInteger", "ConvInteger"):
        return [TP.INT32]
    return [elem(inputs[0].dtype)]


def save(case, inputs, kinds, outputs, attrs):
    """inputs: arrays for ORT (scalars as rank 0); stored with scalars as [1]."""
    d = {"kind": np.array(kinds, np.int64)}
    for i, a in enumerate(inputs):
        if a is not None:
            d[f"in{i}"] = a.reshape(1) if a.ndim == 0 else a
    for k, o in enumerate(outputs):
        d[f"out{k}"] = o.reshape(1) if o.ndim == 0 else o
    for name, v in attrs.items():
        if isinstance(v, (list, tuple)):
            d[f"attrs_{name}"] = np.array(v, np.int64)
        else:
            d[f"attri_{name}"] = np.array([v], np.int64)
    os.makedirs(OUT, exist_ok=True)
    np.savez_compressed(os.path.join(OUT, case + ".npz"), **d)
    written.append(case)


def case(name, op, inputs, kinds, attrs=None, n_out=1, domain="", ir_attrs=None, expect=None):
    """Run op in ORT (unless expect is given) and save. ir_attrs override attrs in the file."""
    attrs = attrs or {}
    outs = expect if expect is not None else run_ort(op, inputs, n_out, attrs, domain)
    save(name, inputs, kinds, outs, attrs if ir_attrs is None else ir_attrs)
    return outs


def ints(dt, shape, lo=None, hi=None):
    info = np.iinfo(dt)
    lo = info.min if lo is None else lo
    hi = info.max if hi is None else hi
    return rng.integers(lo, hi + 1, size=shape).astype(dt)


def f32(shape, lo=-1.0, hi=1.0):
    return rng.uniform(lo, hi, size=shape).astype(np.float32)


def scalar(v, dt):
    return np.array(v, dt)


# --- float elementwise ---------------------------------------------------------------------

def gen_sub_div():
    case("sub_bcast", "Sub", [f32((2, 3, 4, 5), -3, 3), f32((3, 1, 5), -3, 3)], [BATCH, PARAM])
    case("sub_same", "Sub", [f32((3, 7), -10, 10), f32((3, 7), -10, 10)], [BATCH, BATCH])
    b = f32((1, 5), 0.1, 2.0)
    b[0, 1] = 0.0  # x / 0: +-inf, and 0 / 0 below: NaN
    a = f32((4, 3, 5), -5, 5)
    a[0, 0, 1] = 0.0
    case("div_bcast", "Div", [a, b], [BATCH, PARAM])
    case("div_scalar", "Div", [f32((3, 2, 2, 3), -4, 4), np.array([0.3], np.float32)],
         [BATCH, PARAM])
    case("div_bcast_batch", "Div", [f32((3, 1), 1, 2), f32((3, 6), -2, 2)], [BATCH, BATCH])


def gen_softmax():
    x = f32((3, 10), -4, 4)
    x[1] += 100.0  # without the max subtraction exp would overflow (e^88.8 > FLT_MAX)
    x[2, 3] = -100.0
    case("softmax_last", "Softmax", [x], [BATCH])
    case("softmax_axis1", "Softmax", [f32((2, 5, 3, 4), -3, 3)], [BATCH], {"axis": 1})
    case("softmax_neg2", "Softmax", [f32((2, 3, 7), -3, 3)], [BATCH], {"axis": -2})
    case("softmax_axis0", "Softmax", [f32((4, 6), -3, 3)], [BATCH], {"axis": 0})


def gen_cast():
    special = np.array([0.0, -0.0, 0.49, 0.5, 1.7, -1.7, 2.5, -2.5, 127.9, -128.9, 255.9, 300.7,
                        -300.7, 65535.9, -129.5, 2147483520.0, -2147483648.0, 3e9, -3e9, 1e19,
                        np.inf, -np.inf, np.nan, 16777217.0], np.float32)
    for dt in (np.uint8, np.int8, np.int32, np.int64):
        x = np.concatenate([special, f32((16,), -200, 200)]).reshape(5, 8)
        case(f"cast_f32_{np.dtype(dt).name}", "Cast", [x], [BATCH], {"to": ONNX_DTYPE[dt]},
             ir_attrs={"to": TT_DTYPE[dt]})
    srcs = {
        np.int32: np.array([0, 1, -1, 127, 128, 255, 256, 300, -300, 16777217, -16777217,
                            2**31 - 1, -2**31, 123456789, -98765, 44], np.int32),
        np.int64: np.array([0, -1, 2**40 + 300, -2**40 - 300, 2**31, -2**31 - 1, 2**53 + 1,
                            2**63 - 1, -2**63, 255, 256, -129], np.int64),
        np.uint8: np.arange(0, 256, 17, dtype=np.uint8),
        np.int8: np.arange(-128, 128, 17, dtype=np.int64).astype(np.int8),
    }
    targets = {np.int32: (np.float32, np.uint8, np.int8, np.int64),
               np.int64: (np.float32, np.int32, np.int8, np.uint8),
               np.uint8: (np.float32, np.int8, np.int32),
               np.int8: (np.float32, np.uint8, np.int32, np.int64)}
    for src, tos in targets.items():
        x = srcs[src].reshape(2, -1)
        for dt in tos:
            case(f"cast_{np.dtype(src).name}_{np.dtype(dt).name}", "Cast", [x], [BATCH],
                 {"to": ONNX_DTYPE[dt]}, ir_attrs={"to": TT_DTYPE[dt]})
    case("cast_f32_f32", "Cast", [f32((2, 3))], [BATCH], {"to": TP.FLOAT},
         ir_attrs={"to": TT_DTYPE[np.float32]})


# --- QuantizeLinear / DequantizeLinear ------------------------------------------------------

def with_ties(x, scale):
    """Put exact .5 ties of x / scale (k + 0.5 for k = -6..5), NaN, +-inf and saturating values
    into the first elements of x (flat)."""
    f = x.reshape(-1)
    ties = ((np.arange(-6, 6) + 0.5) * np.float32(scale)).astype(np.float32)
    special = np.array([np.nan, np.inf, -np.inf, 1e6, -1e6, 0.0, -0.0], np.float32)
    f[: len(ties)] = ties
    f[len(ties): len(ties) + len(special)] = special
    return x


def gen_quantize():
    q = "QuantizeLinear"
    case("q_u8_ties", q, [with_ties(f32((4, 16), -40, 40), 0.5), scalar(0.5, np.float32),
                          scalar(128, np.uint8)], [BATCH, PARAM, PARAM])
    case("q_i8_ties", q, [with_ties(f32((3, 20), -40, 40), 0.25), scalar(0.25, np.float32),
                          scalar(-3, np.int8)], [BATCH, PARAM, PARAM])
    case("q_noz", q, [with_ties(f32((2, 3, 11), -2, 6), 0.03), scalar(0.03, np.float32), None],
         [BATCH, PARAM])
    case("q_u8_zp255", q, [f32((3, 7, 11), -3, 1), scalar(0.0123, np.float32),
                           scalar(255, np.uint8)], [BATCH, PARAM, PARAM])
    case("q_u8_zp0", q, [f32((3, 7, 11), -1, 3), scalar(0.0123, np.float32),
                         scalar(0, np.uint8)], [BATCH, PARAM, PARAM])
    case("q_i8_zpmin", q, [f32((2, 9), -1, 3), scalar(0.02, np.float32), scalar(-128, np.int8)],
         [BATCH, PARAM, PARAM])
    case("q_i8_zpmax", q, [f32((2, 9), -3, 1), scalar(0.02, np.float32), scalar(127, np.int8)],
         [BATCH, PARAM, PARAM])
    s = np.array([0.05, 0.5, 0.125], np.float32)
    case("q_axis1_i8", q, [with_ties(f32((2, 3, 4, 5), -30, 30), 0.5), s,
                           np.array([-3, 0, 100], np.int8)], [BATCH, PARAM, PARAM])
    s = np.array([0.01, 0.02, 0.5, 1.0], np.float32)
    case("q_axisneg_u8", q, [f32((3, 2, 4), -2, 2), s, np.array([0, 128, 255, 7], np.uint8)],
         [BATCH, PARAM, PARAM], {"axis": -1})
    s = np.array([0.1, 0.2, 0.3, 0.4, 0.5], np.float32)
    case("q_axis0_param", q, [f32((5, 3), -20, 20), s, np.array([1, 2, 3, 4, 5], np.uint8)],
         [PARAM, PARAM, PARAM], {"axis": 0})


def gen_dequantize():
    dq = "DequantizeLinear"
    case("dq_u8", dq, [ints(np.uint8, (3, 5, 7)), scalar(0.0371, np.float32),
                       scalar(131, np.uint8)], [BATCH, PARAM, PARAM])
    case("dq_i8", dq, [ints(np.int8, (2, 17)), scalar(0.5, np.float32), scalar(-7, np.int8)],
         [BATCH, PARAM, PARAM])
    case("dq_noz", dq, [ints(np.uint8, (2, 9)), scalar(0.1, np.float32), None], [BATCH, PARAM])
    x = np.concatenate([ints(np.int32, (12,), -2**30, 2**30),
                        np.array([2**31 - 1, -2**31, 16777217, -16777217], np.int32)])
    case("dq_i32", dq, [x.reshape(2, 8), scalar(0.0003, np.float32), None], [BATCH, PARAM])
    case("dq_i32_zp0", dq, [ints(np.int32, (3, 4), -99999, 99999), scalar(0.25, np.float32),
                            scalar(0, np.int32)], [BATCH, PARAM, PARAM])
    case("dq_axis1_i8", dq, [ints(np.int8, (2, 3, 2, 5)), np.array([0.1, 0.02, 3.0], np.float32),
                             np.array([-128, 0, 127], np.int8)], [BATCH, PARAM, PARAM])
    case("dq_axisneg_u8", dq, [ints(np.uint8, (2, 4, 3)), np.array([0.5, 0.25, 0.01], np.float32),
                               np.array([0, 255, 100], np.uint8)], [BATCH, PARAM, PARAM],
         {"axis": -1})
    case("dq_axis_i32", dq, [ints(np.int32, (4, 3), -2**20, 2**20),
                             np.array([0.001, 0.5, 2.0], np.float32), None], [BATCH, PARAM],
         {"axis": 1})


def gen_dynamic_quantize():
    d = "DynamicQuantizeLinear"
    case("dynq_mixed", d, [f32((4, 33), -3, 5)], [BATCH], n_out=3)
    case("dynq_pos", d, [f32((2, 3, 5), 0.5, 7)], [BATCH], n_out=3)
    case("dynq_neg", d, [f32((3, 8), -9, -0.25)], [BATCH], n_out=3)
    case("dynq_zeros", d, [np.zeros((2, 6), np.float32)], [BATCH], n_out=3)
    # range [-6.28125, 9.65625]: scale = 15.9375 / 255 = 2^-4 exactly, so -lo / scale = 100.5 is
    # an exact tie for the zero point (half to even: 100), and x = (k + 0.5) / 16 are ties for y
    x = f32((2, 10), -6, 9)
    x[0, 0], x[1, 1] = -6.28125, 9.65625
    x[0, 1:9] = (np.arange(-4, 4) + 0.5) / 16
    case("dynq_tie", d, [x], [BATCH], n_out=3)
    x = f32((2, 7), -2, 3)
    x[0, 3] = np.nan
    case("dynq_nan", d, [x], [BATCH], n_out=3)


# --- integer matmul / conv -------------------------------------------------------------------

def mmi_ref(a, b, az, bz):
    az = 0 if az is None else az.astype(np.int64)
    bz = 0 if bz is None else bz.astype(np.int64)
    return ((a.astype(np.int64) - az) @ (b.astype(np.int64) - bz)).astype(np.int32)


def int_case(name, op, inputs, kinds, ref, attrs=None, ort_ok=True):
    """Save the exact reference ref; where ORT can run it, require ORT to agree (ort_ok) or
    report how far it is off (ort_ok False: the u8 x s8 int16 saturation)."""
    try:
        got = run_ort(op, inputs, 1, attrs or {})[0]
    except Exception as e:  # noqa: BLE001 - ORT refusing a valid ONNX node is what we report
        got = None
        print(f"  {name}: ORT refuses it ({str(e).splitlines()[0][:100]}); numpy reference")
    if got is not None:
        bad = int(np.count_nonzero(got != ref))
        if ort_ok and bad:
            sys.exit(f"{name}: ORT differs from the exact reference on {bad} elements")
        if not ort_ok:
            print(f"  {name}: ORT is off on {bad}/{ref.size} elements "
                  f"(max {np.abs(got.astype(np.int64) - ref).max()}); exact reference stored")
    case(name, op, inputs, kinds, attrs, expect=[ref])


def gen_matmul_integer():
    m = "MatMulInteger"
    a, b = ints(np.uint8, (5, 17)), ints(np.uint8, (17, 6))
    az, bz = scalar(131, np.uint8), scalar(3, np.uint8)
    int_case("mmi_u8u8", m, [a, b, az, bz], [BATCH, PARAM, PARAM, PARAM], mmi_ref(a, b, az, bz))
    a, b = ints(np.uint8, (4, 9)), ints(np.int8, (9, 6), -64, 63)
    bz = np.array([-5, 0, 7, -64, 63, 1], np.int8)
    int_case("mmi_u8i8_percol", m, [a, b, scalar(255, np.uint8), bz],
             [BATCH, PARAM, PARAM, PARAM], mmi_ref(a, b, scalar(255, np.uint8), bz))
    a, b = ints(np.int8, (3, 12)), ints(np.uint8, (12, 5))
    az, bz = scalar(-128, np.int8), scalar(200, np.uint8)
    int_case("mmi_i8u8", m, [a, b, az, bz], [BATCH, PARAM, PARAM, PARAM], mmi_ref(a, b, az, bz))
    a, b = ints(np.int8, (6, 8)), ints(np.int8, (8, 7))
    az, bz = scalar(-1, np.int8), scalar(127, np.int8)
    int_case("mmi_i8i8", m, [a, b, az, bz], [BATCH, PARAM, PARAM, PARAM], mmi_ref(a, b, az, bz))
    a, b = ints(np.uint8, (2, 11)), ints(np.uint8, (11, 3))
    int_case("mmi_noz", m, [a, b], [BATCH, PARAM], mmi_ref(a, b, None, None))
    a, b = ints(np.uint8, (2, 3, 9)), ints(np.int8, (9, 4), -64, 63)
    az = scalar(17, np.uint8)
    int_case("mmi_rank3", m, [a, b, az], [BATCH, PARAM, PARAM], mmi_ref(a, b, az, None))
    a, b = ints(np.uint8, (4, 32)), ints(np.int8, (32, 5))
    az, bz = scalar(0, np.uint8), scalar(0, np.int8)
    int_case("mmi_u8i8_full", m, [a, b, az, bz], [BATCH, PARAM, PARAM, PARAM],
             mmi_ref(a, b, az, bz), ort_ok=False)


def conv_ref(x, w, xz, wz, strides=(1, 1), pads=(0, 0, 0, 0), dil=(1, 1), group=1):
    """Exact integer convolution (ONNX ConvInteger) in int64."""
    x = x.astype(np.int64) - (0 if xz is None else int(xz.reshape(-1)[0]))
    wzv = 0 if wz is None else wz.astype(np.int64).reshape(-1, 1, 1, 1)
    w = w.astype(np.int64) - wzv
    x = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    n, c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    ekh, ekw = dil[0] * (kh - 1) + 1, dil[1] * (kw - 1) + 1
    oh, ow = (h - ekh) // strides[0] + 1, (wd - ekw) // strides[1] + 1
    y = np.zeros((n, m, oh, ow), np.int64)
    mg = m // group
    for oc in range(m):
        g = oc // mg
        xs = x[:, g * cg:(g + 1) * cg]
        for i in range(kh):
            for j in range(kw):
                r0, c0 = i * dil[0], j * dil[1]
                patch = xs[:, :, r0:r0 + strides[0] * (oh - 1) + 1:strides[0],
                           c0:c0 + strides[1] * (ow - 1) + 1:strides[1]]
                y[:, oc] += np.einsum("nchw,c->nhw", patch, w[oc, :, i, j])
    return y.astype(np.int32)


def gen_conv_integer():
    ci = "ConvInteger"

    def one(name, x, w, xz, wz, ort_ok=True, **a):
        attrs = {k: list(v) if isinstance(v, tuple) else v for k, v in a.items()}
        ref = conv_ref(x, w, xz, wz, a.get("strides", (1, 1)), a.get("pads", (0, 0, 0, 0)),
                       a.get("dilations", (1, 1)), a.get("group", 1))
        ins = [x, w, xz, wz]
        while ins and ins[-1] is None:
            ins.pop()
        kinds = [BATCH, PARAM] + [ABSENT if v is None else PARAM for v in ins[2:]]
        int_case(name, ci, ins, kinds, ref, attrs, ort_ok)

    one("ci_u8u8_pad", ints(np.uint8, (2, 3, 7, 7)), ints(np.uint8, (4, 3, 3, 3)),
        scalar(7, np.uint8), scalar(250, np.uint8), pads=(1, 1, 1, 1))
    one("ci_stride_pad_dil", ints(np.uint8, (1, 2, 9, 8)), ints(np.int8, (3, 2, 3, 2), -64, 63),
        scalar(255, np.uint8), scalar(-3, np.int8), strides=(2, 1), pads=(1, 0, 2, 1),
        dilations=(2, 1))
    one("ci_group", ints(np.int8, (2, 4, 6, 5)), ints(np.int8, (6, 2, 3, 3)),
        scalar(-128, np.int8), scalar(5, np.int8), group=2, pads=(0, 1, 0, 1))
    one("ci_depthwise", ints(np.uint8, (2, 3, 6, 6)), ints(np.uint8, (3, 1, 3, 3)),
        scalar(128, np.uint8), scalar(0, np.uint8), group=3, pads=(1, 1, 1, 1), strides=(2, 2))
    one("ci_i8u8", ints(np.int8, (1, 3, 5, 6), -64, 63), ints(np.uint8, (2, 3, 2, 2)),
        scalar(-20, np.int8), scalar(128, np.uint8), kernel_shape=(2, 2))
    one("ci_noz_1x1", ints(np.uint8, (3, 5, 4, 3)), ints(np.uint8, (2, 5, 1, 1)), None, None)
    one("ci_wzp_per_oc", ints(np.uint8, (2, 2, 5, 5)), ints(np.int8, (3, 2, 3, 3)),
        scalar(100, np.uint8), np.array([-1, 0, 9], np.int8), pads=(1, 2, 0, 1))
    one("ci_i8u8_full", ints(np.int8, (1, 4, 5, 5)), ints(np.uint8, (3, 4, 3, 3)),
        scalar(0, np.int8), scalar(0, np.uint8), ort_ok=False, pads=(1, 1, 1, 1))


# --- com.microsoft QLinear ops --------------------------------------------------------------

def gen_qlinear_add():
    ms = "com.microsoft"

    def one(name, dt, a, b, sc, zp, kinds, relu=False):
        ins = [a, scalar(sc[0], np.float32), scalar(zp[0], dt), b, scalar(sc[1], np.float32),
               scalar(zp[1], dt), scalar(sc[2], np.float32), scalar(zp[2], dt)]
        got = run_ort("QLinearAdd", ins, 1, {}, ms)[0]
        if relu:
            got = np.maximum(got, dt(zp[2])).astype(dt)
        save(name, ins, kinds, [got], {"fused_relu": 1} if relu else {})

    p = [PARAM, PARAM]
    u8, i8 = np.uint8, np.int8
    one("qadd_u8_same", u8, ints(u8, (3, 8, 5)), ints(u8, (3, 8, 5)), (0.05, 0.02, 0.07),
        (128, 3, 100), [BATCH] + p + [BATCH] + p * 2)
    one("qadd_i8_bcast", i8, ints(i8, (2, 4, 3, 3)), ints(i8, (4, 1, 1)), (0.03, 0.11, 0.09),
        (-5, 20, 0), [BATCH] + [PARAM] * 7)
    # power-of-two scales: many exact .5 ties, where rounding before or after adding c_zp differ
    one("qadd_u8_ties", u8, ints(u8, (4, 32)), ints(u8, (4, 32)), (0.5, 0.25, 1.0), (3, 200, 77),
        [BATCH] + p + [BATCH] + p * 2)
    one("qadd_i8_ties", i8, ints(i8, (2, 6, 6)), ints(i8, (2, 6, 6)), (0.125, 0.5, 0.25),
        (-3, 9, -1), [BATCH] + p + [BATCH] + p * 2)
    one("qadd_u8_relu", u8, ints(u8, (2, 5, 4)), ints(u8, (2, 5, 4)), (0.05, 0.05, 0.04),
        (128, 128, 120), [BATCH] + p + [BATCH] + p * 2, relu=True)
    one("qadd_i8_relu", i8, ints(i8, (3, 10)), ints(i8, (10,)), (0.05, 0.05, 0.04),
        (0, -10, -20), [BATCH] + [PARAM] * 7, relu=True)
    one("qadd_u8_sat_zp", u8, ints(u8, (2, 3, 7)), ints(u8, (2, 3, 7)), (0.2, 0.3, 0.01),
        (0, 255, 255), [BATCH] + p + [BATCH] + p * 2)
    one("qadd_i8_sat_zp", i8, ints(i8, (2, 3, 7)), ints(i8, (2, 3, 7)), (0.2, 0.3, 0.01),
        (-128, 127, -128), [BATCH] + p + [BATCH] + p * 2)
    one("qadd_u8_rowcol", u8, ints(u8, (3, 1)), ints(u8, (1, 7)), (0.02, 0.03, 0.05),
        (10, 250, 128), [BATCH] + [PARAM] * 7)


def gen_qlinear_gap():
    ms = "com.microsoft"

    def one(name, dt, x, xs, xz, ys, yz):
        ins = [x, scalar(xs, np.float32), scalar(xz, dt), scalar(ys, np.float32), scalar(yz, dt)]
        case(name, "QLinearGlobalAveragePool", ins, [BATCH, PARAM, PARAM, PARAM, PARAM],
             {"channels_last": 0}, domain=ms)

    one("qgap_u8", np.uint8, ints(np.uint8, (2, 5, 7, 7)), 0.05, 128, 0.02, 100)
    # equal scales over 2 pixels: every odd sum is an exact .5 tie, and an odd y_zp tells
    # rounding before adding it (ORT) from rounding after
    one("qgap_i8_ties", np.int8, ints(np.int8, (2, 24, 1, 2)), 0.5, -3, 0.5, 5)
    one("qgap_u8_ties", np.uint8, ints(np.uint8, (2, 24, 2, 1)), 0.25, 130, 0.25, 7)
    one("qgap_u8_odd", np.uint8, ints(np.uint8, (2, 3, 5, 3)), 0.1, 0, 0.013, 255)
    one("qgap_i8_sat", np.int8, ints(np.int8, (2, 6, 2, 3)), 1.0, -128, 0.01, 0)
    one("qgap_u8_1x1", np.uint8, ints(np.uint8, (2, 3, 1, 1)), 0.3, 7, 0.2, 9)


# --- pass-through ops on quantised data -----------------------------------------------------

def gen_int_passthrough():
    for dt in (np.uint8, np.int8):
        n = np.dtype(dt).name
        case(f"maxpool_{n}_2x2", "MaxPool", [ints(dt, (2, 3, 6, 6))], [BATCH],
             {"kernel_shape": [2, 2], "strides": [2, 2]})
        case(f"maxpool_{n}_pad_dil", "MaxPool", [ints(dt, (1, 2, 7, 5))], [BATCH],
             {"kernel_shape": [3, 3], "strides": [2, 1], "pads": [1, 1, 1, 2],
              "dilations": [2, 1]})
        # h = 2 with pads 1 and a kernel of 2 taps 3 apart: the only window reads rows -1 and
        # 2, both padding, so it holds the type's minimum
        case(f"maxpool_{n}_allpad", "MaxPool", [ints(dt, (1, 2, 2, 4))], [BATCH],
             {"kernel_shape": [2, 1], "pads": [1, 0, 1, 0], "dilations": [3, 1]})
        case(f"flatten_{n}", "Flatten", [ints(dt, (2, 3, 2, 2))], [BATCH], {"axis": 1})
    for dt in (np.uint8, np.int8, np.int32, np.int64):
        n = np.dtype(dt).name
        x = ints(dt, (2, 3, 4), -1000 if dt in (np.int32, np.int64) else None,
                 1000 if dt in (np.int32, np.int64) else None)
        shape = np.array([0, 4, 3], np.int64)
        outs = run_ort("Reshape", [x, shape], 1, {})
        save(f"reshape_{n}", [x], [BATCH], outs, {"shape": [0, 4, 3]})


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".npz"):
            os.remove(os.path.join(OUT, f))
    print(f"onnxruntime {ort.__version__}, onnx {onnx.__version__}, numpy {np.__version__}")
    gen_sub_div()
    gen_softmax()
    gen_cast()
    gen_quantize()
    gen_dequantize()
    gen_dynamic_quantize()
    gen_matmul_integer()
    gen_conv_integer()
    gen_qlinear_add()
    gen_qlinear_gap()
    gen_int_passthrough()
    total = sum(os.path.getsize(os.path.join(OUT, c + ".npz")) for c in written)
    print(f"{len(written)} cases, {total} bytes in {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
