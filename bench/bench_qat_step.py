#!/usr/bin/env python3
"""Fake-quant overhead: a QAT fine-tune step against an fp32 step of the same config's model.

    python3 bench/bench_qat_step.py configs/fashion_cnn.yaml configs/fashion_mlp.yaml \\
        --threads 2 --rounds 3

For each config it runs `bench_train --config C` (the fp32 model, BatchNorm included) and
`bench_train --config C --qat` (the same model through tinytrain's prepare pass with the default
qat settings: BN folded, int8 per-channel weight and uint8 activation fake-quant, observers
live) in fresh processes, alternating which goes first in each round, and reports the median
over rounds of each side's median step (forward + backward + SGD on one fixed random batch), and

    ratio = QAT ms/step / fp32 ms/step        (the issue's budget: <= 1.5)

Needs only the build (default build/bench_train; --bin for another).
"""
import argparse
import json
import platform
import statistics
import subprocess
import sys


def run(bin_, cfg, qat, a):
    cmd = [bin_, "--config", cfg, "--threads", str(a.threads), "--steps", str(a.steps),
           "--warmup", str(a.warmup), "--batch", str(a.batch), "--json"]
    if qat:
        cmd.append("--qat")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("configs", nargs="+")
    p.add_argument("--bin", default="build/bench_train")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--json", help="write the results here")
    a = p.parse_args()
    results = []
    print(f"host {platform.node()}, {platform.processor() or platform.machine()}, "
          f"{a.threads} threads, batch {a.batch}, {a.rounds} rounds x {a.steps} steps")
    for cfg in a.configs:
        fp32, qat = [], []
        for r in range(a.rounds):
            order = (False, True) if r % 2 == 0 else (True, False)
            for q in order:
                (qat if q else fp32).append(run(a.bin, cfg, q, a)["median_ms"])
        f, q = statistics.median(fp32), statistics.median(qat)
        row = {"config": cfg, "fp32_ms": f, "qat_ms": q, "ratio": q / f,
               "fp32_rounds": fp32, "qat_rounds": qat, "within_1_5": q / f <= 1.5}
        results.append(row)
        print(f"{cfg}: fp32 {f:.3f} ms/step, QAT {q:.3f} ms/step, ratio {q / f:.3f} "
              f"({'<=' if q / f <= 1.5 else '>'} 1.5); per round fp32 "
              f"{', '.join(f'{x:.2f}' for x in fp32)} / QAT {', '.join(f'{x:.2f}' for x in qat)}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"threads": a.threads, "batch": a.batch, "results": results}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
