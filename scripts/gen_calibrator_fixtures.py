#!/usr/bin/env python3
"""Fixtures for tests/unit/test_calibrator.c: ONNX Runtime's own calibrators run on fixed data.

Usage (from the repository root; needs numpy, onnx and onnxruntime; the output is committed):

    python3 scripts/gen_calibrator_fixtures.py [--out tests/fixtures/calibrator]
    python3 scripts/gen_calibrator_fixtures.py --study   # the MSE table in docs/ptq.md

Nothing here re-implements ORT: every expected number comes from onnxruntime.quantization.
calibrate itself.
  - MinMax: a MinMaxCalibrater on a one-node model (X [N] -> Identity -> Y), one session run per
    batch, exactly as quantize_static drives it. "One chunk" experiments call collect_data once
    over all batches (quantize_static's default); "_c2" experiments call it once per 2 batches
    (what CalibStridedMinMax=2 does when each reader item is one batch).
  - Entropy / Percentile: ORT's HistogramCollector (the object HistogramCalibrater feeds), in
    two ways. "stream": one collect() per batch, so the histogram grows and merges batch by
    batch (= collect_data once per batch); tinytrain's tt_calibrator_update without a prescan.
    "oneshot": one collect() over all the data at once (= quantize_static's single collect_data
    call); tinytrain's prescan + update. The script checks, on the "signed" data, that the
    collector driven directly gives the same result as an EntropyCalibrater /
    PercentileCalibrater driven through the model.
  - The KL divergence of every entropy candidate window is recorded by wrapping ORT's own
    calibrate.entropy and calibrate.smooth_distribution (a window whose p or q smooths to None
    gets +inf, as get_entropy_threshold does).

One file per data set, <out>/<dataset>.npz (np.savez_compressed; few members, since each costs
a few hundred bytes of zip and .npy headers), members:
    x           float32, all batches concatenated
    sizes       int64 [B], the batch sizes
    np_minmax   float32 [2], numpy's min and max of x
    mm_ranges   float32 [5, 2], ORT's MinMax (rmin, rmax) for MM_EXPS, in that order
    hexp        int64 [K, 7], one row per histogram experiment (HIST_EXPS order):
                method (1 entropy, 2 percentile), num_bins, num_quantized_bins, symmetric,
                round(percentile * 1000), oneshot, length of its final histogram
    hranges     float32 [K, 2], ORT's (rmin, rmax)
    hedge_ends  float32 [K, 2], the first and last edge of the final histogram
    hists       int64, the K final histograms concatenated
    best        int64 [K], index of ORT's winning entropy window (-1 for percentile)
    edges_exp, edges   int64 [1] and float32: one experiment's full edges (EDGES_EXP)
    kl_exp, kl         int64 [1] and float32: the KL of every candidate window of one entropy
                       experiment (KL_EXP)
Versions used for the committed files: numpy 2.4.6, onnx (any), onnxruntime 1.32.0.
"""
import argparse
import contextlib
import io
import os
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper
import onnxruntime
from onnxruntime.quantization import calibrate as cal
from onnxruntime.quantization.calibrate import CalibrationMethod, HistogramCollector

F32 = np.float32


def datasets():
    rng = np.random.default_rng(20260613)
    d = {}
    # Signed, asymmetric, heavy-ish tails; batch 2 shrinks the range, 3 and 4 grow it.
    d["signed"] = [
        (rng.standard_normal(900) + 0.2).astype(F32),
        (0.6 * rng.standard_normal(600)).astype(F32),
        (0.9 * rng.laplace(size=1000) + 0.3).astype(F32),
        (1.3 * rng.standard_normal(500)).astype(F32),
    ]
    # ReLU outputs: half the values exactly 0.
    d["relu"] = [np.maximum(s * rng.standard_normal(n), 0).astype(F32)
                 for s, n in ((1.0, 800), (1.4, 800), (0.7, 600), (2.0, 700))]
    # Strictly negative, range grows then shrinks.
    d["negative"] = [(-(s * np.abs(rng.standard_normal(n)) + 0.1)).astype(F32)
                     for s, n in ((1.0, 600), (1.5, 500), (0.5, 400))]
    d["zeros"] = [np.zeros(50, F32), np.zeros(50, F32)]
    d["const"] = [np.full(50, 0.75, F32), np.full(50, 0.75, F32)]
    # First batch all zero: ORT's merge takes its "old_threshold == 0" branch.
    d["zero_then"] = [np.zeros(40, F32), (0.8 * rng.standard_normal(300)).astype(F32)]
    d["single"] = [rng.standard_t(4, size=1000).astype(F32)]
    return d


MM_EXPS = (("minmax", False, False, 0), ("minmax_sym", True, False, 0),
           ("minmax_ma", False, True, 0), ("minmax_ma_c2", False, True, 2),
           ("minmax_ma_sym_c2", True, True, 2))
# (method, num_bins, num_quantized_bins, symmetric, percentile, oneshot)
HIST_EXPS = tuple((m, nb, nq, sym, pct, one) for one in (False, True) for m, nb, nq, sym, pct in (
    ("entropy", 2048, 128, False, 99.999), ("entropy", 128, 128, False, 99.999),
    ("entropy", 512, 255, False, 99.999), ("percentile", 2048, 128, True, 99.999),
    ("percentile", 2048, 128, True, 99.9), ("percentile", 2048, 128, False, 99.999),
    ("percentile", 2048, 128, False, 99.9)))
# Full edges for one experiment per data set (a grown linspace histogram, two np.arange-grown
# |x| histograms, a first-batch |x| histogram); the others are checked through their ends.
EDGES_EXP = {"signed": 0, "relu": 3, "negative": 3, "single": 10}
# Per-window KL for one entropy experiment per data set.
KL_EXP = {"signed": 0, "relu": 0, "negative": 7, "single": 0}


def identity_model(path):
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N"])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N"])
    g = helper.make_graph([helper.make_node("Identity", ["X"], ["Y"])], "calib", [x], [y])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, path)


class Reader(cal.CalibrationDataReader):
    def __init__(self, batches):
        self.it = iter([{"X": b} for b in batches])

    def get_next(self):
        return next(self.it, None)


def quiet(fn, *a, **k):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*a, **k)


def ort_minmax(tmp, batches, sym, ma, chunk):
    model = os.path.join(tmp, "m.onnx")
    identity_model(model)
    c = cal.create_calibrator(model, None, os.path.join(tmp, "aug.onnx"),
                              calibrate_method=CalibrationMethod.MinMax,
                              extra_options={"symmetric": sym, "moving_average": ma,
                                             "averaging_constant": 0.01})
    step = chunk or len(batches)
    for s in range(0, len(batches), step):
        c.collect_data(Reader(batches[s:s + step]))
    lo, hi = c.compute_data()["X"].range_value
    return np.array([np.asarray(lo).item(), np.asarray(hi).item()], F32)


def collector(method, sym, nb, nq, pct):
    return HistogramCollector(method=method, symmetric=sym, num_bins=nb, num_quantized_bins=nq,
                              percentile=pct, scenario="same")


def feed(col, batches, oneshot):
    groups = [np.concatenate(batches)] if oneshot else batches
    for b in groups:
        quiet(col.collect, {"x": [b]})


class KLRecorder:
    """Wraps ORT's calibrate.entropy / smooth_distribution to record each window's KL."""

    def __enter__(self):
        self.kl, self.none = [], []
        self.orig = (cal.entropy, cal.smooth_distribution)

        def smooth(p, *a, **k):
            r = self.orig[1](p, *a, **k)
            self.none.append(r is None)
            return r

        def ent(p, q, *a, **k):
            r = self.orig[0](p, q, *a, **k)
            self.kl.append(float(r))
            return r

        cal.entropy, cal.smooth_distribution = ent, smooth
        return self

    def __exit__(self, *exc):
        cal.entropy, cal.smooth_distribution = self.orig

    def values(self):
        out, k = [], iter(self.kl)
        for i in range(0, len(self.none), 2):
            out.append(np.inf if (self.none[i] or self.none[i + 1]) else next(k))
        return np.array(out, F32)


def hist_experiment(batches, method, nb, nq, sym, pct, oneshot):
    """Returns (range, hist, edges, best, kl) as ORT computes them."""
    col = collector(method, sym, nb, nq, pct)
    feed(col, batches, oneshot)
    with KLRecorder() as rec:
        res = quiet(col.compute_collection_result)["x"]
    # compute_percentile returns (lo, hi, hist[0], hist[1]) (it unpacks the histogram array,
    # not the (hist, edges) pair), so the histogram is taken from the collector itself.
    lo, hi = res[:2]
    hist, edges = col.histogram_dict["x"][:2]
    assert edges.dtype == F32 and hist.dtype == np.int64
    best, kl = -1, None
    if method == "entropy":
        kl = rec.values()
        half, zb = nq // 2, hist.size // 2
        assert kl.size == zb - half + 1
        best = int(np.argmin(kl.astype(np.float64)))
        # ORT's chosen window, clipped to the data range, is what it reported.
        i = best + half
        xs = np.concatenate(batches)
        t = (edges[zb - i], edges[min(zb + i + 1, hist.size)])
        assert F32(max(t[0], xs.min())) == lo and F32(min(t[1], xs.max())) == hi
    return np.array([lo, hi], F32), hist, edges, best, kl


def check_calibrater_equivalence(tmp, batches):
    """The collector driven directly == the real calibrators driven through a model."""
    model = os.path.join(tmp, "m.onnx")
    identity_model(model)
    for method, opts in ((CalibrationMethod.Entropy, {"num_bins": 2048, "num_quantized_bins": 128}),
                         (CalibrationMethod.Percentile, {"symmetric": True}),
                         (CalibrationMethod.Percentile, {"symmetric": False})):
        for oneshot in (False, True):
            c = cal.create_calibrator(model, None, os.path.join(tmp, "aug.onnx"),
                                      calibrate_method=method, extra_options=opts)
            for g in ([np.concatenate(batches)] if oneshot else batches):
                quiet(c.collect_data, Reader([g]))
            got = quiet(c.compute_data)["X"]
            m = "entropy" if method == CalibrationMethod.Entropy else "percentile"
            col = collector(m, opts.get("symmetric", False), opts.get("num_bins", 2048),
                            opts.get("num_quantized_bins", 128), 99.999)
            feed(col, batches, oneshot)
            ref = quiet(col.compute_collection_result)["x"]
            assert got.lowest == ref[0] and got.highest == ref[1], (method, oneshot)
            if method == CalibrationMethod.Entropy:
                assert np.array_equal(got.hist, col.histogram_dict["x"][0]), oneshot


def generate(outdir):
    os.makedirs(outdir, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        check_calibrater_equivalence(tmp, datasets()["signed"])
        for ds, batches in datasets().items():
            xs = np.concatenate(batches)
            out = {"x": xs, "sizes": np.array([b.size for b in batches], np.int64),
                   "np_minmax": np.array([xs.min(), xs.max()], F32)}
            out["mm_ranges"] = np.stack([ort_minmax(tmp, batches, sym, ma, chunk)
                                         for _, sym, ma, chunk in MM_EXPS])
            # MinMax must be numpy's min and max exactly (the requirement).
            assert np.array_equal(out["mm_ranges"][0], out["np_minmax"])
            rows, ranges, ends, hists, bests = [], [], [], [], []
            for k, (m, nb, nq, sym, pct, one) in enumerate(HIST_EXPS):
                rng_, hist, edges, best, kl = hist_experiment(batches, m, nb, nq, sym, pct, one)
                rows.append([1 if m == "entropy" else 2, nb, nq, int(sym), round(pct * 1000),
                             int(one), hist.size])
                ranges.append(rng_)
                ends.append([edges[0], edges[-1]])
                hists.append(hist)
                bests.append(best)
                if EDGES_EXP.get(ds) == k:
                    out["edges_exp"], out["edges"] = np.array([k], np.int64), edges
                if KL_EXP.get(ds) == k:
                    out["kl_exp"], out["kl"] = np.array([k], np.int64), kl
                # 128/128 over one histogram has a single candidate window, the whole range:
                # the result is exactly MinMax (the degeneration docs/ptq.md describes).
                if m == "entropy" and nb == nq == 128 and one:
                    assert np.array_equal(rng_, out["np_minmax"]), ds
            out.update(hexp=np.array(rows, np.int64), hranges=np.stack(ranges),
                       hedge_ends=np.array(ends, F32), hists=np.concatenate(hists),
                       best=np.array(bests, np.int64))
            np.savez_compressed(os.path.join(outdir, f"{ds}.npz"), **out)
    total = sum(os.path.getsize(os.path.join(outdir, f)) for f in os.listdir(outdir))
    print(f"wrote {len(datasets())} files, {total} bytes, to {outdir}")


def study():
    """u8 asymmetric quantisation MSE of each method's range, relative to MinMax (docs/ptq.md)."""
    rng = np.random.default_rng(0)
    dists = {"relu(normal)": lambda n: np.maximum(rng.standard_normal(n), 0),
             "normal": lambda n: rng.standard_normal(n),
             "laplace": lambda n: rng.laplace(size=n),
             "student-t(3)": lambda n: rng.standard_t(3, size=n)}

    def mse(x, lo, hi):
        lo, hi = min(lo, 0.0), max(hi, 0.0)
        s = (hi - lo) / 255.0
        zp = np.round(-lo / s)
        q = np.clip(np.round(x / s) + zp, 0, 255)
        return float(np.mean(((q - zp) * s - x) ** 2))

    cols = [("entropy", 128, 128, False, 0), ("entropy", 2048, 128, False, 0),
            ("entropy", 2048, 256, False, 0), ("percentile", 2048, 0, True, 99.999),
            ("percentile", 2048, 0, True, 99.99)]
    print("| data (200k values) | " + " | ".join(
        f"{m} {nb}/{nq}" if m == "entropy" else f"percentile {p}" for m, nb, nq, _, p in cols)
        + " |")
    for name, g in dists.items():
        x = g(200000).astype(F32)
        base = mse(x, float(x.min()), float(x.max()))
        cells = []
        for m, nb, nq, sym, p in cols:
            col = collector(m, sym, nb, max(nq, 1), p or 99.999)
            feed(col, [x], True)
            lo, hi = quiet(col.compute_collection_result)["x"][:2]
            cells.append(f"{mse(x, float(lo), float(hi)) / base:.2f} [{lo:.2f}, {hi:.2f}]")
        print(f"| {name} [{x.min():.2f}, {x.max():.2f}] | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="tests/fixtures/calibrator")
    ap.add_argument("--study", action="store_true")
    a = ap.parse_args()
    print(f"numpy {np.__version__}, onnxruntime {onnxruntime.__version__}")
    study() if a.study else generate(a.out)
