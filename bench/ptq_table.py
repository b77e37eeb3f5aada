#!/usr/bin/env python3
"""The issue-7 PTQ table: `tinytrain ptq --mode static` against ORT's quantize_static on trained
Fashion-MNIST models, every method x weight granularity, measured in ONNX Runtime.

For each model it

1. writes the calibration set with `tinytrain calib CONFIG -n CALIB_SAMPLES` (training split,
   seeded, stratified for classifiers; the same file goes to both tools);
2. for a filter, writes the test pairs once with `tinytrain calib CONFIG --split test -n 10000`
   (noisy 'input', clean 'target'), so both int8 models are scored on identical noise;
3. runs tests/onnx/check_ptq.py (ranges, qparams, fusion and quality checks; its --json-out
   keeps every number) on MinMax, Entropy and Percentile, per-channel and per-tensor, uint8
   activations and int8 weights, and
4. prints all models' rows as one Markdown table (and writes it with --md-out).

The quality criteria are check_ptq.py's: classifiers, top-1 accuracy on the 10,000 test images,
tinytrain >= ORT - 0.1 pt; filters, mean per-image PSNR >= ORT - 0.05 dB and PLCC >= ORT - 1e-4
against the clean targets (the reasoning is next to the constants there).

    tinytrain export /tmp/runs/resnet8/last.h5 -o W/fashion_resnet8.onnx --format fp32
    tinytrain export /tmp/runs/fashion_filter/last.h5 -o W/fashion_filter.onnx --format fp32
    python3 bench/ptq_table.py --tinytrain build/tinytrain --work W --threads 1 \\
        --classifier model/fashion_cnn.onnx configs/fashion_cnn.yaml \\
        --classifier W/fashion_resnet8.onnx configs/fashion_resnet8.yaml \\
        --filter W/fashion_filter.onnx configs/fashion_filter.yaml --md-out W/table.md

Models run one after the other (Entropy's ORT search is slow pure Python: a few minutes per
model on one core). Exit status: 0 every check passed, 1 some check failed, 2 a step could not
run or a bad command line.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CHECK = os.path.join(HERE, "..", "tests", "onnx", "check_ptq.py")
FILTER_TEST_SAMPLES = 10000  # the whole Fashion-MNIST test split


def calib(tinytrain, config, n, out, split="train"):
    cmd = [tinytrain, "calib", config, "-n", str(n), "-o", out, "--split", split]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr.strip()}")
    msg = (p.stdout + p.stderr).strip()  # tinytrain calib reports on stderr
    if msg:
        print(msg, flush=True)


def run_model(args, kind, model, config):
    """check_ptq.py on one model; returns its JSON document."""
    stem = os.path.splitext(os.path.basename(model))[0]
    cal = os.path.join(args.work, f"calib.{stem}.npz")
    calib(args.tinytrain, config, args.calib_samples, cal)
    out = os.path.join(args.work, f"ptq.{stem}.json")
    cmd = [sys.executable, CHECK, "--tinytrain", args.tinytrain, "--calib", cal,
           "--work", os.path.join(args.work, "check"), "--threads", str(args.threads),
           "--methods", args.methods, "--granularity", args.granularity, "--json-out", out]
    if kind == "filter":
        pairs = os.path.join(args.work, f"test.{stem}.npz")
        calib(args.tinytrain, config, FILTER_TEST_SAMPLES, pairs, split="test")
        cmd += ["--filter-test", pairs, "--filter", model]
    else:
        cmd += ["--accuracy", model]
    with open(os.path.join(args.work, f"ptq.{stem}.log"), "w") as log:
        rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode
    if rc not in (0, 1) or not os.path.exists(out):
        raise RuntimeError(f"check_ptq.py on {model} exited {rc}: see {log.name}")
    with open(out) as f:
        doc = json.load(f)
    print(f"{stem}: {doc['passed']} checks passed, {doc['failed']} failed ({out})", flush=True)
    return doc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tinytrain", required=True)
    ap.add_argument("--work", required=True, help="folder for calibration sets, models, JSON")
    ap.add_argument("--classifier", nargs=2, action="append", default=[],
                    metavar=("MODEL.onnx", "CONFIG.yaml"), help="a Fashion-MNIST classifier")
    ap.add_argument("--filter", nargs=2, action="append", default=[],
                    metavar=("MODEL.onnx", "CONFIG.yaml"), help="a Fashion-MNIST denoiser")
    ap.add_argument("--calib-samples", type=int, default=256)
    ap.add_argument("--methods", default="minmax,entropy,percentile")
    ap.add_argument("--granularity", default="per-channel,per-tensor")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--md-out", help="also write the Markdown table here")
    args = ap.parse_args()
    if not args.classifier and not args.filter:
        ap.error("give at least one --classifier or --filter MODEL CONFIG")
    for _, model_config in args.classifier + args.filter:
        if not os.path.isfile(model_config):
            ap.error(f"no such config: {model_config}")
    os.makedirs(args.work, exist_ok=True)
    sys.path.insert(0, os.path.dirname(CHECK))
    import check_ptq  # noqa: E402  (the table format lives with the checks)
    rows, failed = [], 0
    try:
        for kind, pairs in (("accuracy", args.classifier), ("filter", args.filter)):
            for model, config in pairs:
                doc = run_model(args, kind, model, config)
                rows += doc["rows"]
                failed += doc["failed"]
    except RuntimeError as e:
        print(f"ERROR: {e}")
        return 2
    text = check_ptq.table(rows)
    print("\n" + text)
    if args.md_out:
        with open(args.md_out, "w") as f:
            f.write(text + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
