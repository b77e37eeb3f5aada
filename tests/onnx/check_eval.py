#!/usr/bin/env python3
"""`tinytrain eval MODEL.onnx --data FILE.npz` against ONNX Runtime on the same inputs (issue 7).

For each check, tinytrain eval writes its --out-json report and ORT's CPU provider runs the same
model on the same .npz inputs; the metrics are recomputed here in numpy with the definitions of
docs/eval.md and compared:

  classifiers   accuracy, per-class accuracy and the confusion matrix must be identical, except
                that a sample whose two largest ORT outputs are a near-tie (within 2e-5 of the
                largest |output| for fp32, two output quantisation steps for int8) may be counted
                in the neighbouring cell: tinytrain's outputs are not bit-identical to ORT's
                (fp32 within 1e-5 of the output scale, int8 within one output step,
                tests/onnx/check_runtime.py). Each near-tie widens the allowed accuracy
                difference by 100 / N points; with none, the figures must be equal.
  --compare     the top-1 agreement of fp32 and int8 (same near-tie rule, on either model) and
                the gate's output PLCC within PLCC_TOL of numpy's corrcoef of ORT's outputs.
  regression    PLCC and RMSE within FLOAT_TOL, SROCC within FLOAT_TOL unless two ORT outputs
                are within 1e-5 of the largest of each other (then a rank may swap).
  image_to_image  mean per-image PSNR (peak 1; an identical image counts as 100 dB) within
                PSNR_TOL dB, PLCC and RMSE within FLOAT_TOL, the input PSNR likewise.

With --config (a Fashion-MNIST config, e.g. configs/fashion_mlp.yaml), the config's data path
is checked too: `tinytrain eval --data CONFIG` on the whole test split against ORT on the same
split as `tinytrain calib CONFIG -n 10000 --split test` writes it (every sample, in order), with
the classifier rule above. Without the data set that part prints SKIP and is not counted.

int8 models run in ORT with session.x64quantprecision=1, the exact u8 x s8 path (see
check_runtime.py: without it ORT saturates int16 pair sums on CPUs without VNNI).

One line per check ("PASS ..." / "FAIL ..."), then "N passed, N failed"; exit 1 if any failed,
77 (ctest skip) without numpy/onnxruntime.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

SKIP = 77
try:
    import numpy as np
    import onnxruntime as ort
except ImportError as e:
    print(f"SKIP: check_eval.py needs numpy and onnxruntime ({e})")
    sys.exit(SKIP)

# Outputs of two runtimes on the same model differ by up to 1e-5 of the output scale (fp32) or
# one quantisation step (int8), check_runtime.py's bounds; a sample whose top-2 gap is below
# twice that (both outputs may move) is a near-tie whose argmax may legitimately differ.
FP32_TIE = 2e-5   # of max |output|
INT8_TIE = 2      # output quantisation steps
# Metrics of float outputs that differ by <= 1e-5 relative: PLCC and RMSE move by far less.
FLOAT_TOL = 1e-4
PSNR_TOL = 1e-3   # dB; 10 log10 of an MSE that moves by ~1e-5 relative moves by ~5e-5 dB
# The gate's PLCC of fp32 vs int8 outputs, tinytrain's runtime against ORT's: the int8 outputs
# agree to one step on >= 99.9 % of elements, which moves a PLCC near 0.999 by < 1e-4.
PLCC_TOL = 1e-4


class Checks:
    def __init__(self):
        self.passed = self.failed = 0

    def check(self, ok, name, detail):
        print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}")
        self.passed += bool(ok)
        self.failed += not ok


def ort_run(path, x):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.add_session_config_entry("session.x64quantprecision", "1")
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})[0].reshape(len(x), -1)


def load(npz):
    z = np.load(npz)
    x = z["input"]
    x = x.astype(np.float32) / np.float32(255) if x.dtype == np.uint8 else x.astype(np.float32)
    y = z["target"]
    if y.dtype == np.uint8 and y.reshape(len(y), -1).shape[1] > 1:
        y = y.astype(np.float32) / np.float32(255)
    return x, y


def tinytrain_eval(args, model, npz, *extra):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "r.json")
        cmd = [args.tinytrain, "eval", model, "--data", npz, "--out-json", out, "--quiet",
               "--threads", "2", *extra]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} -> {r.returncode}: {r.stderr.strip()}")
        with open(out) as f:
            return json.load(f)


def near_ties(z, model):
    if ".int8." in os.path.basename(model):
        # The output is dequantised from 8 bits: its values lie on a grid of the DQ scale.
        step = float(np.min(np.diff(np.unique(z))))
        tie = INT8_TIE * step
    else:
        tie = FP32_TIE * float(np.abs(z).max())
    top2 = np.sort(z, axis=1)[:, -2:]
    return int(np.sum(top2[:, 1] - top2[:, 0] <= tie))


def check_classifier(c, args, model, npz):
    x, y = load(npz)
    rep = tinytrain_eval(args, model, npz)
    got = rep["models"][0]["metrics"]
    z = ort_run(model, x)
    k = z.shape[1]
    pred = z.argmax(axis=1)
    conf = np.zeros((k, k), dtype=np.int64)
    np.add.at(conf, (y.reshape(-1), pred), 1)
    acc = 100.0 * np.trace(conf) / len(y)
    ties = near_ties(z, model)
    name = f"{os.path.basename(model)} on {os.path.basename(npz)}"
    moved = int(np.abs(np.array(got["confusion"]) - conf).sum())
    c.check(abs(got["accuracy"] - acc) <= 100.0 * ties / len(y) + 1e-9 and moved <= 2 * ties,
            f"{name} accuracy", f"tinytrain {got['accuracy']:.2f}% ORT {acc:.2f}% "
            f"({ties} near-ties, {moved} confusion counts differ)")
    per = [100.0 * conf[i, i] / conf[i].sum() if conf[i].sum() else None for i in range(k)]
    bad = [i for i in range(k) if per[i] is not None and
           abs(got["class_accuracy"][i] - per[i]) > 100.0 * ties / conf[i].sum() + 1e-9]
    c.check(not bad, f"{name} per-class accuracy", f"classes off: {bad}")
    return z


def check_compare(c, args, fp32, int8, npz):
    x, _ = load(npz)
    rep = tinytrain_eval(args, fp32, npz, "--compare", int8)
    a, b = ort_run(fp32, x), ort_run(int8, x)
    agree = 100.0 * np.mean(a.argmax(1) == b.argmax(1))
    ties = max(near_ties(a, fp32), near_ties(b, int8))
    cmp = rep["comparison"]
    c.check(abs(cmp["top1_agreement"] - agree) <= 100.0 * ties / len(x) + 1e-9,
            "--compare top-1 agreement",
            f"tinytrain {cmp['top1_agreement']:.2f}% ORT {agree:.2f}% ({ties} near-ties)")
    plcc = float(np.corrcoef(a.reshape(-1).astype(np.float64), b.reshape(-1))[0, 1])
    c.check(abs(cmp["output_plcc"] - plcc) <= PLCC_TOL, "--compare output PLCC",
            f"tinytrain {cmp['output_plcc']:.6f} ORT {plcc:.6f} (tol {PLCC_TOL})")
    m0, m1 = rep["models"][0]["metrics"], rep["models"][1]["metrics"]
    c.check(abs(cmp["delta"]["accuracy"] - (m1["accuracy"] - m0["accuracy"])) < 1e-9,
            "--compare delta", f"{cmp['delta']['accuracy']:+.2f} pt")


def ranks(v):
    """Average ranks of ties (as tinytrain's tt_srocc)."""
    order = np.argsort(v, kind="stable")
    r = np.empty(len(v))
    sv = v[order]
    i = 0
    while i < len(v):
        j = i
        while j + 1 < len(v) and sv[j + 1] == sv[i]:
            j += 1
        r[order[i:j + 1]] = (i + j) / 2.0
        i = j + 1
    return r


def psnr_mean(a, b):
    mse = np.mean((a.astype(np.float64) - b) ** 2, axis=1)
    p = np.where(mse > 0, 10 * np.log10(1.0 / np.where(mse > 0, mse, 1)), 100.0)
    return float(np.mean(p))


def check_float(c, args, model, npz):
    x, t = load(npz)
    rep = tinytrain_eval(args, model, npz)
    got = rep["models"][0]["metrics"]
    z = ort_run(model, x).astype(np.float64)
    t = t.reshape(len(t), -1).astype(np.float64)
    name = f"{os.path.basename(model)} on {os.path.basename(npz)}"
    plcc = float(np.corrcoef(z.reshape(-1), t.reshape(-1))[0, 1])
    rmse = float(np.sqrt(np.mean((z - t) ** 2)))
    c.check(abs(got["plcc"] - plcc) <= FLOAT_TOL and abs(got["rmse"] - rmse) <= FLOAT_TOL,
            f"{name} PLCC/RMSE", f"tinytrain {got['plcc']:.6f}/{got['rmse']:.6f} "
            f"ORT {plcc:.6f}/{rmse:.6f}")
    if rep["data"]["task"] == "regression":
        s = np.sort(z.reshape(-1))
        tied = bool(np.any(np.diff(s) < 1e-5 * max(1e-30, np.abs(s).max())))
        srocc = float(np.corrcoef(ranks(z.reshape(-1)), ranks(t.reshape(-1)))[0, 1])
        c.check(tied or abs(got["srocc"] - srocc) <= FLOAT_TOL, f"{name} SROCC",
                f"tinytrain {got['srocc']:.6f} numpy {srocc:.6f}{' (near-ties)' if tied else ''}")
        return
    psnr, psnr_in = psnr_mean(z, t), psnr_mean(x.reshape(len(x), -1), t)
    c.check(abs(got["psnr"] - psnr) <= PSNR_TOL and abs(got["psnr_input"] - psnr_in) <= PSNR_TOL,
            f"{name} PSNR", f"tinytrain {got['psnr']:.4f} dB (input {got['psnr_input']:.4f}) "
            f"ORT {psnr:.4f} dB (input {psnr_in:.4f})")


def check_config(c, args, fp32, int8):
    with tempfile.TemporaryDirectory() as tmp:
        npz = os.path.join(tmp, "test.npz")
        r = subprocess.run([args.tinytrain, "calib", args.config, "-n", "10000", "--split", "test",
                            "-o", npz], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"SKIP config data: {r.stderr.strip()}")
            return
        x, y = load(npz)
        for model in (fp32, int8):
            with tempfile.TemporaryDirectory() as t2:
                out = os.path.join(t2, "r.json")
                subprocess.run([args.tinytrain, "eval", model, "--data", args.config, "--quiet",
                                "--threads", "2", "--out-json", out], check=True,
                               capture_output=True)
                with open(out) as f:
                    got = json.load(f)["models"][0]["metrics"]
            z = ort_run(model, x)
            acc = 100.0 * np.mean(z.argmax(1) == y.reshape(-1))
            ties = near_ties(z, model)
            c.check(abs(got["accuracy"] - acc) <= 100.0 * ties / len(y) + 1e-9,
                    f"{os.path.basename(model)} on {os.path.basename(args.config)} test split",
                    f"tinytrain {got['accuracy']:.2f}% ORT {acc:.2f}% on {len(y)} samples "
                    f"({ties} near-ties)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tinytrain", required=True)
    ap.add_argument("--fixtures", required=True, help="tests/fixtures")
    ap.add_argument("--models", required=True, help="model/ (the shipped models)")
    ap.add_argument("--config", help="also check this config's test split (fashion_mlp)")
    args = ap.parse_args()
    ev, te = os.path.join(args.fixtures, "eval"), os.path.join(args.fixtures, "torch_export")
    fashion = os.path.join(ev, "fashion100.npz")
    c = Checks()
    for name in ["fashion_mlp", "fashion_cnn"]:
        fp32 = os.path.join(args.models, f"{name}.onnx")
        int8 = os.path.join(args.models, f"{name}.int8.onnx")
        check_classifier(c, args, fp32, fashion)
        check_classifier(c, args, int8, fashion)
        check_compare(c, args, fp32, int8, fashion)
    check_float(c, args, os.path.join(te, "fashion_nr.onnx"), os.path.join(ev, "regress16.npz"))
    check_float(c, args, os.path.join(te, "fashion_filter.onnx"), os.path.join(ev, "image8.npz"))
    if args.config:
        name = os.path.splitext(os.path.basename(args.config))[0]
        check_config(c, args, os.path.join(args.models, f"{name}.onnx"),
                     os.path.join(args.models, f"{name}.int8.onnx"))
    print(f"{c.passed} passed, {c.failed} failed")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
