#!/usr/bin/env python3
"""Training step time of one config on every backend tinytrain has here (issue 8, must-show 5).

Runs bench_train --config CONFIG --backend B (forward + backward + SGD momentum step of the
config's model on random data, batch from --batch) for each backend, alternating the backends
over --rounds rounds so background load hits all of them, and prints the median step time per
backend and its ratio to the CPU's. With --torch it also times PyTorch's step on the same model
(bench_fit.py's translation of the config) on the CPU, and on CUDA when torch sees a GPU.

    cmake --build build && python3 bench/bench_backends.py configs/fashion_cnn.yaml

Backends that have no device here are listed as unavailable (tinytrain backends --json). PoCL is
a CPU OpenCL: its step is expected to be slower than the CPU backend's (OpenBLAS).
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def available(tinytrain):
    out = subprocess.run([tinytrain, "backends", "--json"], capture_output=True, text=True,
                         check=True).stdout
    return {b["backend"]: b for b in json.loads(out)["backends"]}


def step_ms(bench, config, backend, a):
    cmd = [bench, "--config", config, "--backend", backend, "--batch", str(a.batch), "--steps",
           str(a.steps), "--warmup", str(a.warmup), "--threads", str(a.threads), "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return None, r.stderr.strip()
    j = json.loads(r.stdout.strip().splitlines()[-1])
    return j, ""


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("config", help="tinytrain config whose model is timed")
    p.add_argument("--build", default=os.path.join(REPO, "build"), help="CMake build directory")
    p.add_argument("--backends", default="cpu,opencl,cuda", help="comma-separated (default all)")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", help="also write the results here")
    a = p.parse_args()
    tinytrain = os.path.join(a.build, "tinytrain")
    bench = os.path.join(a.build, "bench_train")
    have = available(tinytrain)
    results = {}
    for b in a.backends.split(","):
        kind = b.split(":")[0]
        info = have.get(kind)
        if not info or not info["available"]:
            results[b] = {"available": False,
                          "reason": info["reason"] if info else "unknown backend"}
        else:
            results[b] = {"available": True, "runs": []}
    for _ in range(a.rounds):
        for b, r in results.items():
            if not r["available"] or "error" in r:
                continue
            j, err = step_ms(bench, a.config, b, a)
            if j is None:
                r["error"] = err
                continue
            r["device"] = j["backend"]
            r["runs"].append(j["median_ms"])
            r["loss"] = (j["loss_first"], j["loss_last"])
    cpu = results.get("cpu", {})
    cpu_ms = statistics.median(cpu["runs"]) if cpu.get("runs") else None
    print(f"{os.path.basename(a.config)}: training step (forward + backward + SGD), batch "
          f"{a.batch}, {a.threads} host threads, median of {a.rounds} rounds x median of "
          f"{a.steps} steps; {platform.processor() or platform.machine()}")
    print("\n| backend | device | step ms | step / cpu step |\n|---|---|--:|--:|")
    for b, r in results.items():
        if not r["available"]:
            print(f"| {b} | unavailable: {r['reason']} | - | - |")
        elif "error" in r:
            print(f"| {b} | error: {r['error']} | - | - |")
        else:
            ms = statistics.median(r["runs"])
            r["median_ms"] = ms
            ratio = f"{ms / cpu_ms:.2f}x" if cpu_ms else "-"
            print(f"| {b} | {r['device']} | {ms:.2f} | {ratio} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"config": a.config, "batch": a.batch, "threads": a.threads,
                       "results": results}, f, indent=2, sort_keys=True)
    return 0 if all(r.get("available") is False or "median_ms" in r for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
