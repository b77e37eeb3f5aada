#!/usr/bin/env python3
"""ONNX Runtime latency of tinytrain's int8 (QDQ) export against its fp32 export.

    python3 bench/bench_ort.py --fp32 runs/x/model.onnx --int8 runs/x/model.int8.onnx \
        [--threads 2] [--batches 1,64] [--runs N] [--warmup N] [--rounds 31] [--json OUT]
        [--opt-level basic|extended|all] [--int8-session-config KEY=VALUE ...]

Both files go through ORT's CPU execution provider with the default optimisation level
(ORT_ENABLE_ALL, what a deployment gets; --opt-level changes it for both), intra_op_num_threads
= --threads, one inter-op thread, sequential execution. For each batch size the input is fixed
random N(0, 1) data of the model's input shape (seeded; the same array for both models).

Each measurement (one model, one batch size, one round) runs in a fresh child process holding
exactly one session: --warmup untimed runs, then --runs timed `session.run` calls one by one
(time.perf_counter); the round's figure is the median run. Defaults: 200 runs after 50 warm-up
for batch <= 4, 50 after 10 above.

Why one process per measurement: ORT's intra-op workers keep spinning for a while after each
run (session.intra_op.allow_spinning defaults to 1), so with two sessions alternating in one
process the first ~14 runs (~2 ms) after a switch compete with the other session's spinning
worker. Measured on a 2-CPU machine, fp32 fashion_cnn batch 1: 0.145 ms for the first runs
after the int8 session ran, 0.122 ms later, 0.104 ms with one session alone; an fp32/int8
run-by-run alternation, and in-process rounds, were biased by that.

Rounds (default 31) alternate which model goes first. The report gives, per batch, the median
over rounds of each model's round medians and

    speedup = fp32 ms / int8 ms      (> 1: the int8 model is faster)

the round-paired speedup (median over rounds of fp32 round median / int8 round median of the
same round; load that drifts more slowly than a round cancels in it, a process's own speed
does not) with its min-max, in how many rounds int8 was faster, the geometric mean of the round
ratios and a Wilcoxon signed-rank test of "equally fast" over them (p; numpy sign flips), and the best single run of each model and their ratio; plus the file sizes and
their ratio, and the integer kernels ORT put into the int8 graph (from the optimised model it
writes), so a slow int8 run that did not fuse is visible.
Needs python3 with numpy, onnx and onnxruntime.
"""

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort


LEVELS = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
          "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
          "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}


def make_session(path, threads, optimized_to=None, config=(), level="all"):
    so = ort.SessionOptions()
    for kv in config:
        so.add_session_config_entry(*kv.split("=", 1))
    so.graph_optimization_level = LEVELS[level]
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Writing an ORT_ENABLE_ALL model logs a "hardware specific" warning each time: known.
    so.log_severity_level = 3
    if optimized_to:
        so.optimized_model_filepath = optimized_to
    return ort.InferenceSession(path, sess_options=so, providers=["CPUExecutionProvider"])


def input_of(path, batch, seed):
    g = onnx.load(path).graph
    inits = {t.name for t in g.initializer}
    inp = next(i for i in g.input if i.name not in inits)
    dims = inp.type.tensor_type.shape.dim
    shape = [batch] + [d.dim_value if d.HasField("dim_value") else 1 for d in dims[1:]]
    return inp.name, np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)


def time_runs(sess, feed, warmup, runs):
    for _ in range(warmup):
        sess.run(None, feed)
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, feed)
        t.append((time.perf_counter() - t0) * 1e3)
    return t


def default_runs(batch):
    return 200 if batch <= 4 else 50


def default_warmup(batch):
    return 50 if batch <= 4 else 10


def child(args, kind, batch):
    """One measurement in this (fresh) process: one session, so no other session's spinning
    intra-op workers compete with it."""
    path = args.fp32 if kind == "fp32" else args.int8
    config = args.int8_session_config if kind == "int8" else ()
    sess = make_session(path, args.threads, config=config, level=args.opt_level)
    name, _ = input_of(path, batch, args.seed)
    # The array comes from the fp32 file's input shape so both models get the same data.
    _, x = input_of(args.fp32, batch, args.seed)
    t = time_runs(sess, {name: x}, args.warmup, args.runs)
    print(json.dumps({"median_ms": statistics.median(t), "min_ms": min(t)}), flush=True)
    return 0


CHILD_TIMEOUT_S = 900


def signrank_p(log_ratios, draws=20000, seed=0):
    """Two-sided p of Wilcoxon's signed-rank statistic for 'fp32 and int8 are as fast' over the
    rounds' log ratios, by random sign flips (numpy only; exact enough at 20,000 draws)."""
    d = np.asarray([x for x in log_ratios if x != 0.0])
    if d.size == 0:
        return 1.0
    ranks = np.argsort(np.argsort(np.abs(d))) + 1
    w = ranks[d > 0].sum()
    mid = ranks.sum() / 2
    flips = np.random.default_rng(seed).integers(0, 2, (draws, d.size)) * ranks
    return float(np.mean(np.abs(flips.sum(axis=1) - mid) >= abs(w - mid)))


def measure(args, kind, batch, runs, warmup):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", kind, str(batch),
           "--fp32", args.fp32, "--int8", args.int8, "--threads", str(args.threads),
           "--opt-level", args.opt_level, "--seed", str(args.seed),
           "--runs", str(runs), "--warmup", str(warmup)]
    for kv in args.int8_session_config:
        cmd += ["--int8-session-config", kv]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        sys.exit(f"bench_ort: measuring the {kind} model at batch {batch} took over "
                 f"{CHILD_TIMEOUT_S} s; lower --runs")
    res = None
    if p.returncode == 0:
        lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
        try:
            res = json.loads(lines[-1])
            res = {"median_ms": float(res["median_ms"]), "min_ms": float(res["min_ms"])}
        except (IndexError, ValueError, KeyError, TypeError):
            res = None
    if res is None:
        tail = "\n".join((p.stderr or p.stdout).strip().splitlines()[-15:])
        path = args.fp32 if kind == "fp32" else args.int8
        sys.exit(f"bench_ort: measuring the {kind} model ({path}) at batch {batch} failed "
                 f"(child exit status {p.returncode}"
                 f"{'' if p.returncode else ', no result line'}):\n{tail}")
    return res


def op_counts(path, threads, config, level):
    with tempfile.TemporaryDirectory() as d:
        opt = os.path.join(d, "optimized.onnx")
        make_session(path, threads, opt, config, level)
        counts = {}
        for n in onnx.load(opt).graph.node:
            counts[n.op_type] = counts.get(n.op_type, 0) + 1
    return counts


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    return [x for x in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")
                            if x in have]
    except OSError:
        pass
    return []


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fp32", required=True, help="fp32 ONNX export")
    ap.add_argument("--int8", required=True, help="QDQ (int8) ONNX export of the same model")
    ap.add_argument("--threads", type=int, default=2, help="intra_op_num_threads (default 2)")
    ap.add_argument("--batches", default="1,64", help="comma-separated batch sizes (default 1,64)")
    ap.add_argument("--runs", type=int, default=None,
                    help="timed runs per round (default 200 for batch <= 4, else 50)")
    ap.add_argument("--warmup", type=int, default=None,
                    help="untimed runs first (default 50 for batch <= 4, else 10)")
    # Many rounds: on a shared 2-CPU VM one process's median can differ from the next one's by
    # 1.7x (fp32 fashion_cnn batch 1: 0.087-0.148 ms over 8 processes), far more than runs
    # within a process vary, so the process count is what makes the medians settle.
    ap.add_argument("--rounds", type=int, default=31, help="rounds (default 31)")
    ap.add_argument("--int8-session-config", action="append", default=[], metavar="KEY=VALUE",
                    help="ORT session config entry for the int8 model only, e.g. "
                    "session.x64quantprecision=1 (repeatable)")
    ap.add_argument("--opt-level", choices=sorted(LEVELS), default="all",
                    help="ORT graph optimisation level for both models (default all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", metavar="OUT", help="also write every measurement to OUT")
    # Internal: one measurement in a fresh process (see the module docstring).
    ap.add_argument("--child", nargs=2, metavar=("MODEL", "BATCH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    for kv in args.int8_session_config:
        if "=" not in kv:
            sys.exit(f"bench_ort: --int8-session-config wants KEY=VALUE, got '{kv}'")
    if args.child:
        # The parent quotes this process's stderr tail, so one line beats a traceback.
        try:
            return child(args, args.child[0], int(args.child[1]))
        except Exception as e:
            sys.exit(f"{type(e).__name__}: {e}")

    try:
        batches = [int(b) for b in args.batches.split(",") if b]
    except ValueError:
        sys.exit(f"bench_ort: --batches wants comma-separated integers, got '{args.batches}'")
    if not batches or min(batches) < 1:
        sys.exit(f"bench_ort: --batches wants batch sizes >= 1, got '{args.batches}'")
    for opt, v in (("--rounds", args.rounds), ("--runs", args.runs), ("--threads", args.threads)):
        if v is not None and v < 1:
            sys.exit(f"bench_ort: {opt} must be >= 1, got {v}")
    if args.warmup is not None and args.warmup < 0:
        sys.exit(f"bench_ort: --warmup must be >= 0, got {args.warmup}")
    for p in (args.fp32, args.int8):
        if not os.path.isfile(p):
            sys.exit(f"bench_ort: {p} does not exist")

    load0 = os.getloadavg()[0]
    models = {"fp32": args.fp32, "int8": args.int8}
    size = {k: os.path.getsize(p) for k, p in models.items()}
    rows = []
    for b in batches:
        runs = args.runs if args.runs is not None else default_runs(b)
        warmup = args.warmup if args.warmup is not None else default_warmup(b)
        per = {"fp32": [], "int8": []}
        best = {"fp32": [], "int8": []}
        for r in range(args.rounds):
            for k in (["fp32", "int8"] if r % 2 == 0 else ["int8", "fp32"]):
                res = measure(args, k, b, runs, warmup)
                per[k].append(res["median_ms"])
                best[k].append(res["min_ms"])
        med = {k: statistics.median(v) for k, v in per.items()}
        ratios = [f / q for f, q in zip(per["fp32"], per["int8"])]
        logs = [math.log(x) for x in ratios]
        fbest, qbest = min(best["fp32"]), min(best["int8"])
        rows.append({"batch": b, "runs": runs, "warmup": warmup,
                     "fp32_ms": med["fp32"], "int8_ms": med["int8"],
                     "speedup": med["fp32"] / med["int8"],
                     "round_paired_speedup": statistics.median(ratios),
                     "round_paired_min": min(ratios), "round_paired_max": max(ratios),
                     "round_ratios": ratios, "rounds_int8_faster": sum(x > 1 for x in ratios),
                     "round_ratio_geomean": math.exp(statistics.fmean(logs)),
                     "signrank_p": signrank_p(logs),
                     "fp32_best_ms": fbest, "int8_best_ms": qbest, "best_run_ratio": fbest / qbest,
                     "fp32_round_medians": per["fp32"], "int8_round_medians": per["int8"],
                     "fp32_round_best_ms": best["fp32"], "int8_round_best_ms": best["int8"]})
    load1 = os.getloadavg()[0]
    ops = op_counts(args.int8, args.threads, args.int8_session_config, args.opt_level)
    integer = {k: v for k, v in ops.items()
               if k.startswith("QLinear") or k in ("QGemm", "MatMulIntegerToFloat",
                                                   "DynamicQuantizeMatMul", "ConvInteger",
                                                   "MatMulInteger")}
    floats = {k: v for k, v in ops.items()
              if k in ("Conv", "Gemm", "MatMul", "FusedConv", "FusedGemm", "FusedMatMul")}

    print(f"ORT {ort.__version__} CPU, {args.threads} intra-op threads, optimisation level "
          f"{args.opt_level}; {cpu_model()} "
          f"({', '.join(cpu_flags()) or 'no AVX2/AVX-512/VNNI flags'}), {os.cpu_count()} CPUs; "
          f"1-min load {load0:.2f} -> {load1:.2f}")
    print(f"fp32 {args.fp32}: {size['fp32']} bytes; int8 {args.int8}: {size['int8']} bytes; "
          f"size ratio int8/fp32 {size['int8'] / size['fp32']:.3f}")
    print(f"int8 graph after ORT optimisation: integer kernels {integer or 'NONE'}"
          + (f", float compute ops {floats}" if floats else ""))
    if args.int8_session_config:
        print(f"int8 session config: {', '.join(args.int8_session_config)}")
    print(f"median of {args.rounds} rounds x median of the round's runs, one fresh process per "
          f"model per round; runs/warm-up per round: "
          + ", ".join(f"batch {r['batch']} {r['runs']}/{r['warmup']}" for r in rows))
    print()
    print("| batch | fp32 ms | int8 ms | speedup | round-paired speedup (min-max) | int8 faster in "
          "| fp32 best ms | int8 best ms | best-run ratio |")
    print("|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for r in rows:
        print(f"| {r['batch']} | {r['fp32_ms']:.4f} | {r['int8_ms']:.4f} | **{r['speedup']:.2f}** "
              f"| {r['round_paired_speedup']:.2f} ({r['round_paired_min']:.2f}-"
              f"{r['round_paired_max']:.2f}) | {r['rounds_int8_faster']}/{args.rounds} "
              f"| {r['fp32_best_ms']:.4f} | {r['int8_best_ms']:.4f} | {r['best_run_ratio']:.2f} |")
    print()
    for r in rows:
        print(f"batch {r['batch']}: geometric mean of the round ratios "
              f"{r['round_ratio_geomean']:.3f}; signed-rank test of 'equally fast' over the "
              f"{args.rounds} rounds: p = {r['signrank_p']:.3g}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"onnxruntime": ort.__version__, "threads": args.threads, "cpu": cpu_model(),
                       "cpu_flags": cpu_flags(), "load_before": load0, "load_after": load1,
                       "int8_session_config": args.int8_session_config,
                       "opt_level": args.opt_level, "method": "one fresh process per model "
                       "per batch per round, round order alternating",
                       "runs": args.runs, "warmup": args.warmup, "rounds": args.rounds,
                       "seed": args.seed,
                       "fp32": args.fp32, "int8": args.int8, "fp32_bytes": size["fp32"],
                       "int8_bytes": size["int8"], "size_ratio": size["int8"] / size["fp32"],
                       "int8_optimized_ops": ops, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
