#!/usr/bin/env python3
"""ONNX Runtime latency of tinytrain's int8 (QDQ) export against its fp32 export.

    python3 bench/bench_ort.py --fp32 runs/x/model.onnx --int8 runs/x/model.int8.onnx \
        [--threads 2] [--batches 1,64] [--runs 200] [--warmup 20] [--rounds 3] [--json OUT]
        [--opt-level basic|extended|all] [--int8-session-config KEY=VALUE ...]

Both files go through ORT's CPU execution provider with the default optimisation level
(ORT_ENABLE_ALL, what a deployment gets; --opt-level changes it for both), intra_op_num_threads
= --threads, one inter-op
thread, sequential execution. For each batch size the input is fixed random N(0, 1) data of
the model's input shape (seeded; the same array for both models). Each round runs, per model,
--warmup untimed runs and then --runs timed `session.run` calls one by one
(time.perf_counter); a round's figure is the median run. Rounds alternate which model goes
first; the report gives the median over rounds, the best single run, and

    speedup = fp32 ms / int8 ms      (> 1: the int8 model is faster)

and a paired speedup: --runs more runs alternating one fp32 and one int8 run, the median of the
per-pair ratios (other load on the machine changes slowly compared with one run, so it cancels
from each pair),

plus the file sizes and their ratio, and the integer kernels ORT put into the int8 graph
(from the optimised model it writes), so a slow int8 run that did not fuse is visible.
Needs python3 with numpy, onnx and onnxruntime.
"""

import argparse
import json
import os
import platform
import statistics
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
    ap.add_argument("--runs", type=int, default=200, help="timed runs per round (default 200)")
    ap.add_argument("--warmup", type=int, default=20, help="untimed runs first (default 20)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    ap.add_argument("--int8-session-config", action="append", default=[], metavar="KEY=VALUE",
                    help="ORT session config entry for the int8 model only, e.g. "
                    "session.x64quantprecision=1 (repeatable)")
    ap.add_argument("--opt-level", choices=sorted(LEVELS), default="all",
                    help="ORT graph optimisation level for both models (default all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", metavar="OUT", help="also write every measurement to OUT")
    args = ap.parse_args()
    batches = [int(b) for b in args.batches.split(",") if b]
    for p in (args.fp32, args.int8):
        if not os.path.isfile(p):
            sys.exit(f"bench_ort: {p} does not exist")

    load0 = os.getloadavg()[0]
    models = {"fp32": args.fp32, "int8": args.int8}
    for kv in args.int8_session_config:
        if "=" not in kv:
            sys.exit(f"bench_ort: --int8-session-config wants KEY=VALUE, got '{kv}'")
    sess = {"fp32": make_session(args.fp32, args.threads, level=args.opt_level),
            "int8": make_session(args.int8, args.threads, config=args.int8_session_config,
                                 level=args.opt_level)}
    size = {k: os.path.getsize(p) for k, p in models.items()}
    rows = []
    for b in batches:
        name, x = input_of(args.fp32, b, args.seed)
        name8, _ = input_of(args.int8, b, args.seed)
        per = {"fp32": [], "int8": []}
        best = {"fp32": float("inf"), "int8": float("inf")}
        for r in range(args.rounds):
            order = ["fp32", "int8"] if r % 2 == 0 else ["int8", "fp32"]
            for k in order:
                t = time_runs(sess[k], {name if k == "fp32" else name8: x}, args.warmup, args.runs)
                per[k].append(statistics.median(t))
                best[k] = min(best[k], min(t))
        # Paired: one fp32 run and one int8 run back to back, --runs times; other load changes
        # slowly compared with a run, so the per-pair ratio cancels most of it.
        feeds = {"fp32": {name: x}, "int8": {name8: x}}
        ratios = []
        for i in range(args.runs):
            t = {}
            for k in (("fp32", "int8") if i % 2 == 0 else ("int8", "fp32")):
                t0 = time.perf_counter()
                sess[k].run(None, feeds[k])
                t[k] = time.perf_counter() - t0
            ratios.append(t["fp32"] / t["int8"])
        med = {k: statistics.median(v) for k, v in per.items()}
        rows.append({"batch": b, "fp32_ms": med["fp32"], "int8_ms": med["int8"],
                     "speedup": med["fp32"] / med["int8"],
                     "paired_speedup": statistics.median(ratios), "fp32_best_ms": best["fp32"],
                     "int8_best_ms": best["int8"], "fp32_round_medians": per["fp32"],
                     "int8_round_medians": per["int8"]})
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
    print(f"median of {args.rounds} rounds x median of {args.runs} runs "
          f"(after {args.warmup} warm-up)")
    print()
    print("| batch | fp32 ms | int8 ms | speedup fp32/int8 | paired speedup | fp32 best ms "
          "| int8 best ms |")
    print("|--:|--:|--:|--:|--:|--:|--:|")
    for r in rows:
        print(f"| {r['batch']} | {r['fp32_ms']:.4f} | {r['int8_ms']:.4f} | **{r['speedup']:.2f}** "
              f"| {r['paired_speedup']:.2f} | {r['fp32_best_ms']:.4f} | {r['int8_best_ms']:.4f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"onnxruntime": ort.__version__, "threads": args.threads, "cpu": cpu_model(),
                       "cpu_flags": cpu_flags(), "load_before": load0, "load_after": load1,
                       "int8_session_config": args.int8_session_config,
                       "opt_level": args.opt_level,
                       "runs": args.runs, "warmup": args.warmup, "rounds": args.rounds,
                       "fp32": args.fp32, "int8": args.int8, "fp32_bytes": size["fp32"],
                       "int8_bytes": size["int8"], "size_ratio": size["int8"] / size["fp32"],
                       "int8_optimized_ops": ops, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
