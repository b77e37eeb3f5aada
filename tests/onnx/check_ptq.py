#!/usr/bin/env python3
"""`tinytrain ptq` against ONNX Runtime's quantize_static (issue 7, "Must show" 1, 2 and 4).

For each fp32 ONNX model, calibration set (.npz, one [N, ...] array named after the model
input) and setting (method x weight granularity), it quantises the model twice:

  tinytrain  `tinytrain ptq MODEL --mode static --calibration CAL --method M [--per-tensor]
             [--weight-type u8]`
  ORT        quant_pre_process (BatchNorm folded into Conv, as ORT's docs advise), then
             quantize_static(QDQ, QUInt8 activations, QInt8 weights (QUInt8 with --weight-type
             u8), per_channel, the same calibration batches). MinMax: calibrate_method=MinMax. Entropy and Percentile:
             quantize_static cannot pass num_bins (its Entropy would be 128 bins, i.e. MinMax;
             docs/ptq.md), so ORT's own calibrator is run directly with tinytrain's settings
             (create_calibrator(..., extra_options={num_bins: 2048, ...})) and its ranges reach
             quantize_static through calibration_cache_path: the int8 model ORT would write with
             those settings.

and checks:

  ranges    every activation point of tinytrain's report (tensor name = ORT's QuantizeLinear
            input) against ORT's calibrated range: MinMax within RANGE_REL_TOL of the range's
            width (the two float forwards round differently; the model input is exact), the
            histogram methods within HIST_BINS_TOL histogram bins
  qparams   the same points' scale and zero point in ORT's int8 file: scale within
            SCALE_REL_TOL, zero point within 1 (a zero point at a rounding tie can go either way)
  file      tinytrain's file holds exactly the report's activation scales and zero points
  fusion    ORT's optimised graph of tinytrain's file has no float Conv/Gemm/MatMul left
  weights   (first method only: weights do not depend on it) tinytrain ptq run on ORT's
            pre-processed model (so both quantise the same float weights: ORT folds BatchNorm
            in float32, tinytrain in double) against ORT's file, layer by layer: every weight's
            data, dtype, scale and zero point bit-identical; every bias bit-identical where its
            scale (input scale x weight scale) is, else its scale within SCALE_REL_TOL (the
            input scales come from two float forwards)
  runtime   `tinytrain run --mode int8` of tinytrain's file against ORT's exact session on
            the quality inputs: every output identical (both compute the integer graph exactly)
  quality   with --accuracy (a trained Fashion-MNIST classifier): top-1 accuracy of both int8
            models in ORT on the Fashion-MNIST test set, tinytrain >= ORT - MAX_ACC_DROP_PT;
            with --filter (the trained denoiser, configs/fashion_filter.yaml): mean per-image
            PSNR and PLCC of both int8 models' outputs against the clean targets of
            --filter-test (noisy/clean test pairs written once by `tinytrain calib --split
            test`), tinytrain >= ORT - MAX_PSNR_DROP_DB and >= ORT - MAX_PLCC_DROP;
            otherwise (random-weight models such as tests/fixtures/torch_export): the RMSE of
            each int8 model's outputs against the fp32 model's on the calibration samples,
            tinytrain <= ORT x (1 + RMSE_SLACK) + half an output step

ORT sessions use session.x64quantprecision=1 (exact u8 x s8 arithmetic; without it an x86 CPU
lacking VNNI saturates 16-bit pair sums for full-range int8 weights, docs/runtime.md), unless
--ort-default-session. One line per check, a table of the settings at the end, exit 1 if any
check failed, 2 for bad arguments or a step that could not run, 77 (ctest skip) without numpy,
onnx or onnxruntime.

    python3 tests/onnx/check_ptq.py --tinytrain build/tinytrain --calib calib.npz \\
        --accuracy model/fashion_cnn.onnx model/fashion_mlp.onnx
    python3 tests/onnx/check_ptq.py --tinytrain build/tinytrain --calib calib_filter.npz \\
        --filter-test test_filter.npz --filter model/fashion_filter.onnx --json-out ptq.json
    python3 tests/onnx/check_ptq.py --tinytrain build/tinytrain \\
        --calib tests/fixtures/ptq/calib.npz tests/fixtures/torch_export/*.onnx
"""

import argparse
import gzip
import json
import logging
import os
import subprocess
import sys

SKIP = 77
try:
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                          QuantType, quant_pre_process, quantize_static)
    from onnxruntime.quantization.calibrate import create_calibrator, save_tensors_data
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry
except ImportError as e:
    print(f"SKIP: tests/onnx/check_ptq.py needs numpy, onnx and onnxruntime ({e}); "
          "install them with: pip install numpy onnx onnxruntime")
    sys.exit(SKIP)

# --- tolerances -----------------------------------------------------------------------------
# MinMax: the ranges are min/max of float32 activations that tinytrain and ORT compute with
# different kernels (summation order; ORT also folds BatchNorm in float32 where tinytrain folds
# in double), so they agree to a few float32 ulps of the layer's values, not bit for bit
# (the input point, computed by nobody, is exact). 1e-5 of the range width is ~100 ulps: far
# above that rounding and far below a real mistake (a missed Relu fusion moves rmin from 0 to
# a negative value; a wrong tensor moves the range by its whole width).
RANGE_REL_TOL = 1e-5
# Histogram methods: the cut is a histogram edge. A value that rounds differently can cross an
# edge and move a percentile cut, or tip the entropy search to a neighbouring window: one or two
# bins. A wrong histogram (bins, growth, symmetric) moves it by tens of bins.
HIST_BINS_TOL = 2
# Scales follow from the ranges: (rmax - rmin) / 255 within the same relative tolerance.
SCALE_REL_TOL = 1e-5
MAX_ACC_DROP_PT = 0.1     # the criterion: tinytrain >= ORT - 0.1 pt
# The filter's counterpart of that criterion. 0.1 pt of a ~92 % classifier is ~1.3 % of its
# error rate (7-8 %); a PSNR 0.05 dB lower is an MSE 10^(0.05/10) - 1 = 1.2 % higher, the same
# relative slack on the error measure. For PLCC close to 1, 1 - PLCC is about MSE / (2 var), so
# 1.2 % more MSE moves the filter's 1 - PLCC (0.0084 in fp32) by ~1e-4: the PLCC margin.
MAX_PSNR_DROP_DB = 0.05
MAX_PLCC_DROP = 1e-4
RMSE_SLACK = 0.05         # random-weight models: tinytrain's error at most 5 % above ORT's
FLOAT_COMPUTE = {"Conv", "Gemm", "MatMul", "FusedConv", "FusedGemm", "FusedMatMul"}
FASHION_DIR = "/usr/share/datasets/fashion-mnist"
THREADS = 2  # ORT sessions and tinytrain ptq; --threads
WEIGHT_TYPES = {"s8": QuantType.QInt8, "u8": QuantType.QUInt8}
METHODS = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
           "percentile": CalibrationMethod.Percentile}


class StepError(Exception):
    """A step could not run (a command failed, a file is missing)."""


class Checks:
    def __init__(self):
        self.passed = self.failed = 0
        self.records = []

    def report(self, name, ok, detail):
        print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}", flush=True)
        self.records.append({"check": name, "pass": bool(ok), "detail": detail})
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        return ok


class Reader(CalibrationDataReader):
    """The calibration array in batches, as tinytrain reads it (the batching changes neither
    MinMax nor quantize_static's single histogram)."""

    def __init__(self, name, x, batch=64):
        self.name, self.x, self.batch, self.i = name, x, batch, 0

    def get_next(self):
        if self.i >= len(self.x):
            return None
        b = self.x[self.i:self.i + self.batch]
        self.i += self.batch
        return {self.name: b}


def session(path, precise, optimized_to=None, level=ort.GraphOptimizationLevel.ORT_ENABLE_ALL):
    so = ort.SessionOptions()
    if precise:
        so.add_session_config_entry("session.x64quantprecision", "1")
    so.graph_optimization_level = level
    so.intra_op_num_threads = THREADS
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    if optimized_to:
        so.optimized_model_filepath = optimized_to
    return ort.InferenceSession(path, sess_options=so, providers=["CPUExecutionProvider"])


def ort_run(path, x, precise, batch=1000):
    s = session(path, precise)
    name = s.get_inputs()[0].name
    return np.concatenate([s.run(None, {name: x[i:i + batch]})[0].reshape(len(x[i:i + batch]), -1)
                           for i in range(0, len(x), batch)])


def run_tinytrain(args, model, cal, method, per_tensor, out, report):
    cmd = [args.tinytrain, "ptq", model, "--mode", "static", "--calibration", cal,
           "--method", method, "-o", out, "--report-out", report, "--threads", str(THREADS),
           "--weight-type", args.weight_type]
    if per_tensor:
        cmd.append("--per-tensor")
    if args.reduce_range:
        cmd.append("--reduce-range")
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise StepError(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr.strip()}")
    with open(report) as f:
        return json.load(f)


def calib_extra(method):
    """ORT calibrator options equal to tinytrain's defaults for the method (docs/ptq.md)."""
    if method == "entropy":
        return {"num_bins": 2048, "num_quantized_bins": 128}
    if method == "percentile":
        return {"num_bins": 2048, "percentile": 99.999, "symmetric": True}
    return {}


def run_ort(args, pre, x, in_name, method, per_tensor, out, work):
    """quantize_static's int8 model and the ranges it used ({tensor: (lo, hi)})."""
    ops = list(set(QLinearOpsRegistry) | set(QDQRegistry))
    cal = create_calibrator(pre, ops, augmented_model_path=os.path.join(work, "augmented.onnx"),
                            calibrate_method=METHODS[method], extra_options=calib_extra(method))
    cal.collect_data(Reader(in_name, x))
    ranges = cal.compute_data()
    cache = os.path.join(work, f"ranges.{method}.json")
    if os.path.exists(cache):
        os.remove(cache)
    save_tensors_data(ranges, cache)
    del cal
    quantize_static(pre, out, None, quant_format=QuantFormat.QDQ, per_channel=not per_tensor,
                    reduce_range=args.reduce_range, activation_type=QuantType.QUInt8,
                    weight_type=WEIGHT_TYPES[args.weight_type], calibrate_method=METHODS[method],
                    calibration_cache_path=cache)
    return {k: (float(np.asarray(v.range_value[0]).reshape(-1)[0]),
                float(np.asarray(v.range_value[1]).reshape(-1)[0])) for k, v in ranges.data.items()}


def q_params(path):
    """{QuantizeLinear input: (scale, zero point)} of a QDQ file."""
    m = onnx.load(path)
    init = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    return {n.input[0]: (float(init[n.input[1]].reshape(-1)[0]), int(init[n.input[2]].reshape(-1)[0]))
            for n in m.graph.node if n.op_type == "QuantizeLinear"}


MOVES = {"Flatten", "Reshape", "MaxPool", "Squeeze", "Unsqueeze", "Transpose"}


def ort_q_for(qp, tensor, graph):
    """ORT's (scale, zero point) for tensor. ORT renames a graph output it quantises to
    '<name>_QuantizeLinear_Input'; and it quantises a data-movement op (Flatten, MaxPool, ...)
    only when its input already is, so a model input read by a Flatten gets its Q/DQ after the
    Flatten, on the same values (tinytrain puts it before: the same range and qparams)."""
    q = qp.get(tensor, qp.get(tensor + "_QuantizeLinear_Input"))
    for n in graph.node:
        if q is None and n.op_type in MOVES and n.input and n.input[0] == tensor:
            q = ort_q_for(qp, n.output[0], graph)
    return q


def check_ranges(c, tag, method, report, ranges):
    worst, missing = 0.0, []
    for p in report["activation_points"]:
        r = ranges.get(p["tensor"])
        if r is None:
            missing.append(p["tensor"])
            continue
        width = max(r[1] - r[0], 1e-30)
        err = max(abs(p["rmin"] - r[0]), abs(p["rmax"] - r[1]))
        if method == "minmax":
            worst = max(worst, err / width)
        else:
            t = max(abs(r[0]), abs(r[1]))  # histogram over [-t, t] or [0, t]: bin <= 2t / bins
            worst = max(worst, err / (2 * t / 2048 if t > 0 else 1))
    tol = RANGE_REL_TOL if method == "minmax" else HIST_BINS_TOL
    unit = "of the range width" if method == "minmax" else "bins"
    c.report(f"{tag} ranges", not missing and worst <= tol,
             f"{len(report['activation_points'])} points, worst difference {worst:.3g} {unit} "
             f"(tolerance {tol})" + (f"; not calibrated by ORT: {missing}" if missing else ""))


def check_qparams(c, tag, report, tt_file, ort_file):
    qo, qt, graph = q_params(ort_file), q_params(tt_file), onnx.load(ort_file).graph
    worst_s, worst_z, missing = 0.0, 0, []
    for p in report["activation_points"]:
        o = ort_q_for(qo, p["tensor"], graph)
        if o is None:
            missing.append(p["tensor"])
            continue
        worst_s = max(worst_s, abs(p["scale"] - o[0]) / o[0])
        worst_z = max(worst_z, abs(p["zero_point"] - o[1]))
    c.report(f"{tag} qparams", not missing and worst_s <= SCALE_REL_TOL and worst_z <= 1,
             f"scales within {worst_s:.3g} (relative), zero points within {worst_z} of ORT's"
             + (f"; no ORT QuantizeLinear for {missing}" if missing else ""))
    want = sorted((np.float32(p["scale"]), p["zero_point"]) for p in report["activation_points"])
    have = set((np.float32(s), z) for s, z in qt.values())
    absent = [w for w in want if w not in have]
    c.report(f"{tag} file", not absent,
             f"the report's {len(want)} activation scales/zero points are in the written file"
             + (f"; missing {absent}" if absent else ""))


def check_fusion(c, tag, path, work):
    opt = os.path.join(work, "tt.optimized.onnx")
    session(path, True, opt, ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED)
    ops = {}
    for n in onnx.load(opt).graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    left = {k: v for k, v in ops.items() if k in FLOAT_COMPUTE}
    fused = {k: v for k, v in ops.items() if k in ("QLinearConv", "QGemm", "QLinearMatMul")}
    c.report(f"{tag} fusion", not left and fused, f"ORT runs {fused}" +
             (f"; float ops left {left}" if left else ""))


def layer_qdq(path):
    """[(op, {input index: (data, scale, zero point or None, axis)})] for every Conv, Gemm and
    MatMul in file order, for its inputs made by a DequantizeLinear of initializers."""
    m = onnx.load(path)
    init = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    dq = {n.output[0]: n for n in m.graph.node if n.op_type == "DequantizeLinear"
          and n.input[0] in init}
    producer = {o: n for n in m.graph.node for o in n.output}
    layers = []
    for n in m.graph.node:
        if n.op_type not in ("Conv", "Gemm", "MatMul"):
            continue
        ins = {}
        for k, t in enumerate(n.input[1:3], 1):
            d = dq.get(t)
            if d is not None:
                axis = next((a.i for a in d.attribute if a.name == "axis"), None)
                zp = init[d.input[2]] if len(d.input) > 2 and d.input[2] else None
                ins[k] = (init[d.input[0]], init[d.input[1]], zp, axis)
        added = padded_channels(n, producer, init)
        if added and 1 in ins and not np.any(ins[1][0][:, -added:]):
            # tinytrain's channel padding for ORT (docs/onnx.md): zero weights that ORT's
            # quantiser does not write; compared without them (nonzero ones would stay and
            # make the shapes differ)
            ins[1] = (ins[1][0][:, :-added],) + ins[1][1:]
        layers.append((n.op_type, ins))
    return layers


def padded_channels(conv, producer, init):
    """Channels a Pad between the Conv input's Q and DQ adds (tinytrain's export), or 0."""
    d = producer.get(conv.input[0])
    p = producer.get(d.input[0]) if d is not None and d.op_type == "DequantizeLinear" else None
    if conv.op_type != "Conv" or p is None or p.op_type != "Pad" or p.input[1] not in init:
        return 0
    pads = init[p.input[1]]
    return int(pads[pads.size // 2 + 1])


def same_array(a, b):
    return (a is None) == (b is None) and (a is None or (
        a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()))


def dequantized(layer):
    q, s, z, axis = layer[1][1]
    shape = [1] * q.ndim
    if axis is not None:
        shape[axis] = -1
    z = np.zeros(1) if z is None else z.astype(np.float64).reshape(shape)
    return (q.astype(np.float64) - z) * s.astype(np.float64).reshape(shape)


def pair_layers(lt, lo):
    """ORT's layer for each of tinytrain's: the two files order and name nodes differently
    (tinytrain names a node after its output, ORT keeps the ONNX name; branches may come in
    another order), so among ORT's unpaired layers of the same op and weight shape, the one
    whose dequantized weight is nearest. None when there is no candidate."""
    used, pairs = set(), []
    for t in lt:
        best, best_d = None, None
        for j, o in enumerate(lo):
            if j in used or o[0] != t[0] or (1 in o[1]) != (1 in t[1]):
                continue
            if 1 in t[1] and o[1][1][0].shape != t[1][1][0].shape:
                continue
            d = float(np.max(np.abs(dequantized(t) - dequantized(o)))) if 1 in t[1] else 0.0
            if best is None or d < best_d:
                best, best_d = j, d
        if best is not None:
            used.add(best)
        pairs.append(None if best is None else lo[best])
    return pairs


def check_weights(c, tag, tt_file, ort_file):
    """Layer by layer: weights bit-identical; biases bit-identical where their scales are."""
    lt, lo = layer_qdq(tt_file), layer_qdq(ort_file)
    pairs = pair_layers(lt, lo)
    if len(lt) != len(lo) or None in pairs:
        return c.report(f"{tag} weights", False, f"layers differ: tinytrain {[o for o, _ in lt]}, "
                        f"ORT {[o for o, _ in lo]}")
    bad, n_w, n_b, n_b_exact, worst_bs = [], 0, 0, 0, 0.0
    for i, ((op, t), (_, o)) in enumerate(zip(lt, pairs)):
        if set(t) != set(o):
            bad.append(f"layer {i} ({op}): quantised inputs {sorted(t)} vs ORT's {sorted(o)}")
            continue
        if 1 in t:
            n_w += 1
            (qt, st, zt, at), (qo, so, zo, ao) = t[1], o[1]
            if not (same_array(qt, qo) and same_array(st, so) and same_array(zt, zo) and at == ao):
                diff = (np.abs(qt.astype(np.int64) - qo.astype(np.int64)).max()
                        if qt.shape == qo.shape else "shape")
                bad.append(f"layer {i} ({op}) weight: dtype {qt.dtype}/{qo.dtype}, max code "
                           f"difference {diff}, scales equal {same_array(st, so)}, zero points "
                           f"{None if zt is None else zt.reshape(-1)[:4]}/"
                           f"{None if zo is None else zo.reshape(-1)[:4]}, axis {at}/{ao}")
        if 2 in t:
            n_b += 1
            (qt, st, _, _), (qo, so, _, _) = t[2], o[2]
            # ORT writes a per-tensor bias scale as [1], tinytrain as a scalar: same values.
            st, so = st.reshape(-1), so.reshape(-1)
            if same_array(st, so):
                n_b_exact += 1
                if not same_array(qt, qo):
                    bad.append(f"layer {i} ({op}) bias: equal scales but different int32 values")
            else:
                worst_bs = max(worst_bs, float(np.max(np.abs(st.astype(np.float64) - so) / so)))
    if worst_bs > SCALE_REL_TOL:
        bad.append(f"bias scales differ by {worst_bs:.3g} (relative; tolerance {SCALE_REL_TOL})")
    return c.report(f"{tag} weights", not bad,
                    f"{n_w} weights bit-identical to ORT's (data, scale, zero point), {n_b_exact} "
                    f"of {n_b} biases on identical scales and identical, the others' scales "
                    f"within {worst_bs:.3g}" if not bad else "; ".join(bad))


def check_runtime(c, tag, args, tt_file, x, yo_exact, work):
    """tinytrain's int8 runtime against ORT's exact session on the same inputs: identical."""
    xi, yp = os.path.join(work, "runtime_x.npy"), os.path.join(work, "runtime_y.npy")
    np.save(xi, x)
    p = subprocess.run([args.tinytrain, "run", tt_file, "--input", xi, "-o", yp, "--mode", "int8",
                        "--verbose", "--threads", str(THREADS)], capture_output=True, text=True)
    if p.returncode != 0:
        return c.report(f"{tag} runtime", False, f"tinytrain run failed: {p.stderr.strip()}")
    y = np.load(yp).reshape(len(x), -1)
    same = 100.0 * float(np.mean(y == yo_exact))
    plan = p.stderr.strip().splitlines()[-1] if p.stderr.strip() else ""
    return c.report(f"{tag} runtime", same == 100.0,
                    f"tinytrain's int8 runtime vs ORT (session.x64quantprecision=1): {same:.3f}% "
                    f"of {y.size} outputs identical; {plan}")


def fashion_test(n, mean, std):
    def idx(name, off):
        with gzip.open(os.path.join(FASHION_DIR, name), "rb") as f:
            return np.frombuffer(f.read(), dtype=np.uint8, offset=off)
    x = idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28)[:n]
    y = idx("t10k-labels-idx1-ubyte.gz", 8)[:n].astype(np.int64)
    return ((x.astype(np.float32) / np.float32(255) - np.float32(mean)) / np.float32(std)), y


def output_step(path):
    """Scale of the DequantizeLinear producing the graph output."""
    m = onnx.load(path)
    init = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    for n in m.graph.node:
        if n.op_type == "DequantizeLinear" and n.output[0] == m.graph.output[0].name:
            return float(init[n.input[1]].reshape(-1)[0])
    return 0.0


def mean_psnr(y, t):
    """Mean per-image PSNR (peak 1) of y against t, [n, values] each, as tinytrain's trainer
    reports it (train/evaluate.c: an identical image counts as 100 dB)."""
    r = np.sqrt(np.mean((y.astype(np.float64) - t.astype(np.float64)) ** 2, axis=1))
    return float(np.mean(np.where(r == 0, 100.0, 20.0 * np.log10(1.0 / np.maximum(r, 1e-300)))))


def plcc(y, t):
    """Pearson correlation over all values, in float64 (train/metrics.c's tt_plcc)."""
    return float(np.corrcoef(y.astype(np.float64).ravel(), t.astype(np.float64).ravel())[0, 1])


def filter_test(path, in_name):
    """The filter's test pairs: a `tinytrain calib CONFIG --split test` file (noisy 'input',
    clean 'target'), so both int8 models see the very same noise."""
    with np.load(path) as z:
        if in_name not in z or "target" not in z:
            raise StepError(f"{path} needs arrays '{in_name}' and 'target' (make it with "
                            "tinytrain calib CONFIG --split test -n 10000)")
        x, t = z[in_name].astype(np.float32), z["target"].astype(np.float32)
    return x, t.reshape(len(t), -1)


def eval_data(args, kind, x, in_name):
    """(inputs, labels or targets) for the quality check of a model of this kind."""
    if kind == "accuracy":
        return fashion_test(args.test_samples, args.mean, args.std)
    if kind == "filter":
        return filter_test(args.filter_test, in_name)
    return x, None


def row(stem, method, gran, metric, fp32, tt, ort_v, ok, fmt, dfmt=None):
    """One table row; fmt formats the values and dfmt (default fmt) the difference."""
    return {"model": stem, "method": method, "granularity": gran, "metric": metric,
            "fp32": fp32, "tinytrain": tt, "ort": ort_v, "delta": tt - ort_v, "pass": bool(ok),
            "fmt": fmt, "dfmt": dfmt or fmt}


def quality(c, tag, kind, key, y32, yt, yo, ye, tt_file):
    """The quality check of one setting; the table rows it makes."""
    stem, method, gran = key
    n = len(yt)
    if kind == "accuracy":
        base, at, ao = (100.0 * np.mean(y.argmax(1) == ye) for y in (y32, yt, yo))
        ok = c.report(f"{tag} accuracy", at >= ao - MAX_ACC_DROP_PT,
                      f"tinytrain {at:.2f}% vs ORT {ao:.2f}% (fp32 {base:.2f}%, {n} test images)")
        return [row(stem, method, gran, "accuracy %", base, at, ao, ok, ".2f")]
    if kind == "filter":
        (b_p, t_p, o_p), (b_c, t_c, o_c) = ([f(y, ye) for y in (y32, yt, yo)]
                                            for f in (mean_psnr, plcc))
        ok_p = c.report(f"{tag} PSNR", t_p >= o_p - MAX_PSNR_DROP_DB,
                        f"tinytrain {t_p:.3f} dB vs ORT {o_p:.3f} dB (fp32 {b_p:.3f} dB; margin "
                        f"{MAX_PSNR_DROP_DB} dB; {n} test pairs)")
        ok_c = c.report(f"{tag} PLCC", t_c >= o_c - MAX_PLCC_DROP,
                        f"tinytrain {t_c:.5f} vs ORT {o_c:.5f} (fp32 {b_c:.5f}; margin "
                        f"{MAX_PLCC_DROP:g})")
        return [row(stem, method, gran, "PSNR dB", b_p, t_p, o_p, ok_p, ".3f", ".4f"),
                row(stem, method, gran, "PLCC", b_c, t_c, o_c, ok_c, ".5f", ".1e")]
    step = output_step(tt_file)
    rt, ro = (float(np.sqrt(np.mean((y - y32) ** 2))) for y in (yt, yo))
    d = np.abs(yt - yo) / step if step else np.full(yt.shape, np.nan)
    # The two output scales can differ by float ulps (ranges from two float forwards), so "the
    # same code" is |difference| < half a step, not equality.
    same = 100.0 * float(np.mean(d < 0.5))
    ok = c.report(f"{tag} outputs", rt <= ro * (1 + RMSE_SLACK) + 0.5 * step,
                  f"RMSE vs fp32: tinytrain {rt:.4g}, ORT {ro:.4g}; tinytrain vs ORT: "
                  f"{same:.2f}% of outputs on the same code, at most {np.max(d):.2f} "
                  f"output steps apart ({n} calibration samples)")
    return [row(stem, method, gran, "RMSE vs fp32", None, rt, ro, ok, ".4g")]


def check_model(c, args, model, kind, rows):
    """Every setting of one model; kind: accuracy (a Fashion-MNIST classifier), filter (the
    denoiser, on --filter-test) or outputs (anything else, on the calibration samples)."""
    stem = os.path.splitext(os.path.basename(model))[0]
    work = os.path.join(args.work, stem)
    os.makedirs(work, exist_ok=True)
    in_name = onnx.load(model).graph.input[0].name
    with np.load(args.calib) as z:
        if in_name not in z:
            raise StepError(f"{args.calib} has no array '{in_name}' for {model}")
        x = z[in_name].astype(np.float32)
    pre = os.path.join(work, "pre.onnx")
    quant_pre_process(model, pre, skip_symbolic_shape=True)
    xe, ye = eval_data(args, kind, x, in_name)
    y32 = ort_run(model, xe, True)
    for mi, method in enumerate(args.methods):
        for gran in args.granularity:
            wlabel = gran if args.weight_type == "s8" else f"{gran} {args.weight_type}"
            tag = f"{stem} {method} {wlabel}"
            per_tensor = gran == "per-tensor"
            tt_file = os.path.join(work, f"tt.{method}.{gran}.onnx")
            ort_file = os.path.join(work, f"ort.{method}.{gran}.onnx")
            rep = run_tinytrain(args, model, args.calib, method, per_tensor, tt_file,
                                os.path.join(work, f"tt.{method}.{gran}.json"))
            ranges = run_ort(args, pre, x, in_name, method, per_tensor, ort_file, work)
            check_ranges(c, tag, method, rep, ranges)
            check_qparams(c, tag, rep, tt_file, ort_file)
            check_fusion(c, tag, tt_file, work)
            if mi == 0:
                pre_file = os.path.join(work, f"tt_pre.{method}.{gran}.onnx")
                run_tinytrain(args, pre, args.calib, method, per_tensor, pre_file,
                              os.path.join(work, f"tt_pre.{method}.{gran}.json"))
                check_weights(c, tag, pre_file, ort_file)
            precise = not args.ort_default_session
            yt, yo = ort_run(tt_file, xe, precise), ort_run(ort_file, xe, precise)
            check_runtime(c, tag, args, tt_file, xe,
                          yt if precise else ort_run(tt_file, xe, True), work)
            rows += quality(c, tag, kind, (stem, method, wlabel), y32, yt, yo, ye, tt_file)


def cell(v, fmt):
    return "-" if v is None else format(v, fmt)


def table(rows):
    """The rows as a Markdown table (also bench/ptq_table.py's, from --json-out files)."""
    out = ["| model | method | weights | metric | fp32 | tinytrain | ORT | difference | pass |",
           "|---|---|---|---|--:|--:|--:|--:|---|"]
    for r in rows:
        f = r["fmt"]
        out.append(f"| {r['model']} | {r['method']} | {r['granularity']} | {r['metric']} | "
                   f"{cell(r['fp32'], f)} | {cell(r['tinytrain'], f)} | {cell(r['ort'], f)} | "
                   f"{cell(r['delta'], '+' + r['dfmt'])} | {'PASS' if r['pass'] else 'FAIL'} |")
    return "\n".join(out)


def write_json(path, args, c, rows):
    doc = {"schema": "check-ptq-v1", "argv": sys.argv, "ort_version": ort.__version__,
           "weight_type": args.weight_type,
           "calibration": args.calib, "filter_test": args.filter_test,
           "test_samples": args.test_samples, "threads": THREADS,
           "margins": {"accuracy_pt": MAX_ACC_DROP_PT, "psnr_db": MAX_PSNR_DROP_DB,
                       "plcc": MAX_PLCC_DROP, "rmse_slack": RMSE_SLACK},
           "rows": rows,
           "checks": c.records, "passed": c.passed, "failed": c.failed}
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tinytrain", required=True)
    ap.add_argument("--calib", help=".npz calibration set")
    ap.add_argument("--calib-config", help="make the calibration set with `tinytrain calib "
                    "CONFIG -n CALIB_SAMPLES` instead (its data set must be present)")
    ap.add_argument("--calib-samples", type=int, default=256)
    ap.add_argument("--work", default="ptq_check")
    ap.add_argument("--accuracy", nargs="*", default=[],
                    help="trained Fashion-MNIST classifiers: compare test accuracy")
    ap.add_argument("--filter", nargs="*", default=[],
                    help="trained Fashion-MNIST denoisers: compare PSNR and PLCC on --filter-test")
    ap.add_argument("--filter-test", help=".npz of test pairs: 'input' (noisy) and 'target' "
                    "(clean), from `tinytrain calib CONFIG --split test -n 10000`")
    ap.add_argument("models", nargs="*", help="other fp32 models: compare outputs")
    ap.add_argument("--methods", default="minmax,entropy,percentile")
    ap.add_argument("--granularity", default="per-channel,per-tensor")
    ap.add_argument("--reduce-range", action="store_true")
    ap.add_argument("--weight-type", choices=sorted(WEIGHT_TYPES), default="s8",
                    help="weights of both quantisers: s8 (QInt8, default) or u8 (QUInt8)")
    ap.add_argument("--test-samples", type=int, default=10000)
    ap.add_argument("--mean", type=float, default=0.2860)
    ap.add_argument("--std", type=float, default=0.3530)
    ap.add_argument("--ort-default-session", action="store_true")
    ap.add_argument("--threads", type=int, default=2,
                    help="ORT session threads and tinytrain ptq --threads (default 2)")
    ap.add_argument("--json-out", help="write the checks and the table as JSON here")
    args = ap.parse_args()
    if args.threads < 1:
        ap.error("--threads must be >= 1")
    global THREADS
    THREADS = args.threads
    if args.filter and not args.filter_test:
        ap.error("--filter needs --filter-test FILE.npz")
    args.methods = args.methods.split(",")
    args.granularity = args.granularity.split(",")
    if any(m not in METHODS for m in args.methods) or \
            any(g not in ("per-channel", "per-tensor") for g in args.granularity):
        ap.error("--methods: minmax,entropy,percentile; --granularity: per-channel,per-tensor")
    if not args.accuracy and not args.models and not args.filter:
        ap.error("give models to check (positional), --accuracy MODEL... and/or --filter MODEL...")
    if args.accuracy and not os.path.isdir(FASHION_DIR):
        print(f"SKIP: --accuracy needs the Fashion-MNIST test set in {FASHION_DIR}")
        return SKIP
    logging.disable(logging.WARNING)  # quantize_static's pre-processing advice, every call
    os.makedirs(args.work, exist_ok=True)
    if bool(args.calib) == bool(args.calib_config):
        ap.error("give --calib FILE or --calib-config CONFIG")
    if args.calib_config:
        args.calib = os.path.join(args.work, "calib.npz")
        p = subprocess.run([args.tinytrain, "calib", args.calib_config, "-n",
                            str(args.calib_samples), "-o", args.calib], capture_output=True,
                           text=True)
        if p.returncode != 0:
            print(f"ERROR: tinytrain calib {args.calib_config} failed: {p.stderr.strip()}")
            return 2
    c, rows = Checks(), []
    try:
        for m in args.accuracy:
            check_model(c, args, m, "accuracy", rows)
        for m in args.filter:
            check_model(c, args, m, "filter", rows)
        for m in args.models:
            check_model(c, args, m, "outputs", rows)
    except StepError as e:
        print(f"ERROR: {e}")
        return 2
    print("\n" + table(rows))
    if args.json_out:
        write_json(args.json_out, args, c, rows)
    print(f"\n{c.passed} passed, {c.failed} failed")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
