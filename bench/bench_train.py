#!/usr/bin/env python3
"""tinytrain vs PyTorch training step time, measured in one run on the same machine.

Trains the parity fixtures' MLP and CNN (batch 128, SGD momentum 0.9, cross-entropy) for a fixed
number of steps in tinytrain (the bench_train binary, built by CMake) and in PyTorch, alternating
the two over several rounds so background load hits both, and prints the medians and the ratio
PyTorch time / tinytrain time (> 1 means tinytrain is faster). It also prints OpenBLAS's sgemm
peak and the fraction of it the MLP's Linear-layer GEMMs reach.

    cmake --build build && python3 bench/bench_train.py --threads 2

Every measurement runs in a fresh process (the tinytrain binary, or this script re-invoked as a
PyTorch worker), so neither side inherits the other's thread pools. The environment is passed
through unchanged (OPENBLAS_CORETYPE, OMP_* and friends included).
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ("mlp", "cnn")


# ---- PyTorch side (runs in a worker process) ----


def torch_model(name):
    import torch.nn as nn

    if name == "mlp":
        return nn.Sequential(
            nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10)
        )
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(784, 10),
    )


def torch_worker(a):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(a.threads)
    torch.manual_seed(42)
    model = torch_model(a.torch_worker)
    model.train()
    shape = (a.batch, 784) if a.torch_worker == "mlp" else (a.batch, 1, 28, 28)
    x = torch.rand(shape)
    y = torch.randint(0, 10, (a.batch,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    clock = time.process_time if a.cpu_clock else time.perf_counter
    times, losses = [], []
    for s in range(a.warmup + a.steps):
        t0 = clock()
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        t1 = clock()
        losses.append(loss.item())  # outside the timed region, like tinytrain's loss read
        if s >= a.warmup:
            times.append(1e3 * (t1 - t0))
    print(json.dumps({
        "model": a.torch_worker, "threads": torch.get_num_threads(),
        "median_ms": statistics.median(times), "mean_ms": statistics.fmean(times),
        "min_ms": min(times), "loss_first": losses[0], "loss_last": losses[-1],
    }))


# ---- driver ----


def run_json(cmd):
    """Run cmd and parse the last stdout line as JSON; on failure return {'error': ...}."""
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        msg = (p.stderr.strip() or p.stdout.strip() or "exit %d" % p.returncode).splitlines()
        return {"error": msg[-1] if msg else "exit %d" % p.returncode}
    try:
        return json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": "no JSON in output: %r" % p.stdout[-200:]}


def run_tinytrain(a, model):
    return run_json([a.bin, "--model", model, "--steps", str(a.steps), "--warmup", str(a.warmup),
                     "--threads", str(a.threads), "--batch", str(a.batch), "--json"]
                    + (["--cpu-clock"] if a.cpu_clock else []))


def run_torch(a, model):
    return run_json([sys.executable, os.path.abspath(__file__), "--torch-worker", model,
                     "--steps", str(a.steps), "--warmup", str(a.warmup),
                     "--threads", str(a.threads), "--batch", str(a.batch)]
                    + (["--cpu-clock"] if a.cpu_clock else []))


def run_linear(a):
    return run_json([a.bin, "--linear-gflops", "--steps", str(a.steps), "--warmup",
                     str(a.warmup), "--threads", str(a.threads), "--batch", str(a.batch),
                     "--json"])


def machine_info():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {"cpu": cpu, "logical_cpus": os.cpu_count(),
            "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else None,
            "platform": platform.platform(), "python": platform.python_version(),
            "env": {k: os.environ[k] for k in sorted(os.environ)
                    if k.startswith(("OPENBLAS", "OMP_", "GOMP", "MKL", "KMP"))}}
    try:
        import torch

        info["torch"] = torch.__version__
        cfg = torch.__config__.show()
        blas = re.findall(r"\b(BLAS_INFO=\w+|USE_MKLDNN=\w+)", cfg)
        info["torch_blas"] = " ".join(blas) or "unknown"
    except Exception as e:  # the table still shows tinytrain's side
        info["torch"] = "unavailable (%s)" % e
    return info


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return [float(v) for v in f.read().split()[:3]]
    except (OSError, ValueError):
        return None


def med(rows, key):
    vals = [r[key] for r in rows if key in r]
    return statistics.median(vals) if vals else None


def fmt(v, spec=".3f"):
    return format(v, spec) if isinstance(v, (int, float)) else "n/a"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(REPO, "build", "bench_train"),
                    help="the bench_train binary (default: build/bench_train)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=3,
                    help="alternating tinytrain/PyTorch rounds; medians are reported")
    ap.add_argument("--models", default="mlp,cnn")
    ap.add_argument("--json-out", help="also write every measurement to this file")
    ap.add_argument("--cpu-clock", action="store_true",
                    help="time steps in process CPU time (needs --threads 1): compares the "
                         "work done per step on a busy machine, not the wall-clock criterion")
    ap.add_argument("--torch-worker", choices=MODELS, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.torch_worker:
        return torch_worker(a)

    if a.cpu_clock and a.threads != 1:
        ap.error("--cpu-clock counts spinning threads; use it only with --threads 1")
    models = [m for m in a.models.split(",") if m]
    if any(m not in MODELS for m in models):
        ap.error("--models takes a comma list of mlp, cnn")
    if not os.access(a.bin, os.X_OK):
        ap.error("%s is not an executable; build it first: cmake --build build" % a.bin)

    info = machine_info()
    info["loadavg_start"] = loadavg()
    if info["loadavg_start"] and info["loadavg_start"][0] > 0.5:
        print("note: 1-minute load average is %.2f before starting; other processes will "
              "disturb the timings (both sides alike, but thread pools that spin suffer "
              "most)" % info["loadavg_start"][0], file=sys.stderr)
    res = {m: {"tinytrain": [], "torch": []} for m in models}
    lin = []
    t_start = time.time()
    for r in range(a.rounds):
        for m in models:
            # Alternate who goes first so a slow patch of background load is shared.
            order = ("tinytrain", "torch") if r % 2 == 0 else ("torch", "tinytrain")
            for who in order:
                out = run_tinytrain(a, m) if who == "tinytrain" else run_torch(a, m)
                res[m][who].append(out)
                what = ("%.3f ms/step" % out["median_ms"] if "median_ms" in out
                        else "ERROR: " + out.get("error", "?"))
                print("round %d %-4s %-9s %s" % (r + 1, m, who, what), file=sys.stderr,
                      flush=True)
        lin.append(run_linear(a))

    info["loadavg_end"] = loadavg()
    cfg = next((o for m in models for o in res[m]["tinytrain"] if "openblas_config" in o),
               next((o for o in lin if "openblas_config" in o), {}))
    print()
    print("tinytrain vs PyTorch training step (batch %d, %d threads, %d steps after %d warm-up, "
          "median of %d alternating rounds%s)" % (a.batch, a.threads, a.steps, a.warmup, a.rounds,
                                                  ", PROCESS CPU TIME" if a.cpu_clock else ""))
    print("CPU: %s (%s logical, %s usable); torch %s (%s); OpenBLAS: %s; core %s"
          % (info["cpu"], info["logical_cpus"], info["usable_cpus"], info.get("torch"),
             info.get("torch_blas", "?"), cfg.get("openblas_config", "?"),
             cfg.get("openblas_corename", "?")))
    la0, la1 = info["loadavg_start"], info["loadavg_end"]
    if la0 and la1:
        print("load average (1 min) %.2f at start, %.2f at end" % (la0[0], la1[0]))
    if info["env"]:
        print("env: " + " ".join("%s=%s" % kv for kv in info["env"].items()))
    print()
    hdr = "%-6s %18s %16s %7s %11s  %s" % ("model", "tinytrain ms/step", "PyTorch ms/step",
                                            "ratio", "best-step", "per-round ratios")
    print(hdr)
    print("-" * len(hdr))
    summary = {}
    for m in models:
        tt_rows = [o for o in res[m]["tinytrain"] if "median_ms" in o]
        pt_rows = [o for o in res[m]["torch"] if "median_ms" in o]
        tt, pt = med(tt_rows, "median_ms"), med(pt_rows, "median_ms")
        ratio = pt / tt if tt and pt else None
        rr = [p["median_ms"] / t["median_ms"] for t, p in
              zip(res[m]["tinytrain"], res[m]["torch"]) if "median_ms" in t and "median_ms" in p]
        tmin = min((o["min_ms"] for o in tt_rows), default=None)
        pmin = min((o["min_ms"] for o in pt_rows), default=None)
        best = pmin / tmin if tmin and pmin else None
        summary[m] = {"tinytrain_ms": tt, "torch_ms": pt, "ratio": ratio, "round_ratios": rr,
                      "tinytrain_min_ms": tmin, "torch_min_ms": pmin, "best_step_ratio": best}
        print("%-6s %18s %16s %7s %11s  %s" % (m, fmt(tt), fmt(pt), fmt(ratio, ".2f"),
                                               fmt(best, ".2f"),
                                               " ".join(fmt(x, ".2f") for x in rr)))
        errs = {o["error"] for o in res[m]["tinytrain"] + res[m]["torch"] if "error" in o}
        for e in sorted(errs):
            print("       error: %s" % e)
    print("(ratio = PyTorch median / tinytrain median, > 1 means tinytrain is faster; "
          "best-step = the same for the fastest single step of all rounds)")

    lin_ok = [o for o in lin if "sgemm_peak_gflops" in o]
    print()
    if lin_ok:
        # Peak is a best case, so the best round is the estimate; the Linear rates are
        # medians over rounds, both set against that one peak.
        peak = max(o["sgemm_peak_gflops"] for o in lin_ok)
        direct = med(lin_ok, "linear_direct_gflops")
        lower = med(lin_ok, "linear_step_lower_bound_gflops")
        print("OpenBLAS sgemm peak (square 1024/2048, best of 5 per round, best round): "
              "%.1f GFLOP/s" % peak)
        print("MLP Linear GEMMs at their own shapes (fwd, dX, dW via cblas, warm cache, "
              "median of rounds): %.1f GFLOP/s = %.0f%% of peak" % (direct, 100 * direct / peak))
        print("MLP Linear FLOPs / whole MLP step time (a lower bound: the step also runs ReLU, "
              "softmax-CE, SGD and the input copy): %.1f GFLOP/s = %.0f%% of peak"
              % (lower, 100 * lower / peak))
        summary["linear"] = {"sgemm_peak_gflops": peak, "linear_direct_gflops": direct,
                             "linear_direct_fraction": direct / peak,
                             "linear_step_lower_bound_gflops": lower,
                             "linear_step_lower_bound_fraction": lower / peak}
        print("  per shape (last round, % of the best peak):")
        for s in lin_ok[-1]["shapes"]:
            print("    %-8s m=%4d n=%4d k=%4d %s%s %8.4f ms %7.1f GFLOP/s %4.0f%%"
                  % (s["what"], s["m"], s["n"], s["k"], "T" if s["ta"] else "N",
                     "T" if s["tb"] else "N", s["ms"], s["gflops"],
                     100 * s["gflops"] / peak))
    else:
        print("sgemm / Linear figures: %s" % (lin[-1].get("error", "?") if lin else "not run"))
    print("wall time %.0f s" % (time.time() - t_start))

    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump({"args": vars(a), "machine": info, "summary": summary, "runs": res,
                       "linear": lin}, f, indent=1)
    sys.stdout.flush()
    return 0 if all(summary[m]["ratio"] is not None for m in models) else 1


if __name__ == "__main__":
    sys.exit(main())
