#!/usr/bin/env python3
"""tinytrain's runtime vs ONNX Runtime, fp32 and int8, side by side in one run (issue 6,
must-show 3).

    python3 bench/bench_runtime.py runs/cnn/fashion_cnn.onnx runs/cnn/fashion_cnn.int8.onnx \\
        --bin build/bench_runtime --threads 2 --json bench_runtime.json

For each batch size (default 1 and 64) and each of `--rounds` rounds it times four things in
fresh processes, in an order that rotates every round: tinytrain fp32 (build/bench_runtime on
the fp32 file), tinytrain int8 (the int8 file, integer kernels), ORT fp32 and ORT int8
(ORT_ENABLE_ALL, intra_op_num_threads = --threads, sequential; bench/bench_ort.py's session).
Each process reports the median of `--runs` calls on one fixed batch; the table gives the
median over rounds, and

    int8 speedup = tinytrain fp32 ms / tinytrain int8 ms        (target >= 2 at batch 64)
    vs ORT       = tinytrain int8 ms / ORT int8 ms              (target <= 1.5)

ORT's int8 session is its default one (what a deployment gets); on an x86 CPU without VNNI it
uses saturating 16-bit pair sums, which tinytrain's kernels do not (docs/runtime.md).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def ort_worker(path, batch, threads, runs, warmup):
    sys.path.insert(0, HERE)
    import bench_ort
    import numpy as np
    sess = bench_ort.make_session(path, threads)
    name, _ = bench_ort.input_of(path, batch, 0)
    shape = [batch] + list(bench_ort.input_of(path, batch, 0)[1].shape[1:])
    x = np.random.default_rng(0).random(shape, dtype=np.float32)  # as bench_runtime.c: [0, 1)
    t = sorted(bench_ort.time_runs(sess, {name: x}, warmup, runs))
    print(json.dumps({"median_ms": t[len(t) // 2], "best_ms": t[0]}))


def run_json(cmd, env):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"bench_runtime.py: {' '.join(cmd)} failed:\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def measure(kind, a, batch, env):
    fp32, int8 = a.fp32, a.int8
    if kind.startswith("tinytrain"):
        model = fp32 if kind.endswith("fp32") else int8
        mode = "float" if kind.endswith("fp32") else "int8"
        cmd = [a.bin, model, "--mode", mode, "--batch", str(batch), "--threads", str(a.threads),
               "--runs", str(a.runs), "--warmup", str(a.warmup)]
    else:
        model = fp32 if kind.endswith("fp32") else int8
        cmd = [sys.executable, __file__, "--ort-worker", model, "--batch", str(batch),
               "--threads", str(a.threads), "--runs", str(a.runs), "--warmup", str(a.warmup)]
    return run_json(cmd, env)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("fp32", nargs="?")
    ap.add_argument("int8", nargs="?")
    ap.add_argument("--bin", default=os.path.join(HERE, "..", "build", "bench_runtime"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", default="1,64")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--json", help="write every measurement here")
    ap.add_argument("--ort-worker", help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.ort_worker:
        return ort_worker(a.ort_worker, a.batch, a.threads, a.runs, a.warmup)
    if not a.fp32 or not a.int8:
        ap.error("give FP32.onnx and INT8.onnx")
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), OPENBLAS_NUM_THREADS=str(a.threads))
    kinds = ["tinytrain fp32", "tinytrain int8", "ORT fp32", "ORT int8"]
    rows = []
    load_before = os.getloadavg()[0]
    for batch in [int(b) for b in a.batches.split(",")]:
        per = {k: [] for k in kinds}
        for r in range(a.rounds):
            for k in kinds[r % 4:] + kinds[:r % 4]:
                per[k].append(measure(k, a, batch, env)["median_ms"])
        med = {k: statistics.median(v) for k, v in per.items()}
        row = {"batch": batch, "median_ms": med, "rounds_ms": per,
               "int8_speedup": med["tinytrain fp32"] / med["tinytrain int8"],
               "vs_ort_int8": med["tinytrain int8"] / med["ORT int8"],
               "ort_int8_speedup": med["ORT fp32"] / med["ORT int8"]}
        rows.append(row)
    print(f"{'batch':>5}  " + "  ".join(f"{k:>15}" for k in kinds) +
          "  int8 speedup  vs ORT int8  (ms, median of rounds)")
    for row in rows:
        m = row["median_ms"]
        print(f"{row['batch']:>5}  " + "  ".join(f"{m[k]:>15.4f}" for k in kinds) +
              f"  {row['int8_speedup']:>11.2f}x  {row['vs_ort_int8']:>10.2f}x")
    out = {"fp32": a.fp32, "int8": a.int8, "threads": a.threads, "rounds": a.rounds,
           "runs": a.runs, "load_before": load_before, "load_after": os.getloadavg()[0],
           "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rows": rows}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
