#!/usr/bin/env python3
"""Calibration-set fixtures for tests/cli/test_ptq.sh (tinytrain ptq's command line), written to
tests/fixtures/ptq/. The model they go with is tests/fixtures/torch_export/fashion_cnn.onnx
(input "input" [N, 1, 28, 28]); a few samples each, so the files stay small.

  calib.npz      4 samples, float32, uniform in [-1, 2): the happy path
  calib_f64.npz  the same samples as float64 (read as float32, rounded to nearest)
  x.npy          the same samples as .npy, to run the quantised model (tinytrain run)
  named.npz      2 samples under the name "x" instead of the model input's "input"
  shape.npz      2 samples of [1, 28, 27]
  nan.npz        2 samples, sample 1 holding a NaN
  empty.npz      [0, 1, 28, 28]: no samples
  synthetic28.yaml  a config on synthetic 28x28 data, for `tinytrain calib ... -o X.h5`

    python3 scripts/gen_ptq_fixtures.py   # rewrites the files (same bytes every time)
"""
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "ptq")

YAML = """\
# Synthetic 28x28 samples, so `tinytrain calib` can write an .h5 calibration set for the
# PyTorch export tests/fixtures/torch_export/fashion_cnn.onnx in tests/cli/test_ptq.sh.
name: synthetic28
seed: 7
task: classification
data:
  kind: synthetic
  samples: 64
model:
  input: [1, 28, 28]
  layers:
    - {type: flatten}
    - {type: linear, out_features: 10}
"""


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(7)
    x = rng.uniform(-1.0, 2.0, size=(4, 1, 28, 28)).astype(np.float32)
    np.savez(os.path.join(OUT, "calib.npz"), input=x)
    np.savez(os.path.join(OUT, "calib_f64.npz"), input=x.astype(np.float64))
    np.save(os.path.join(OUT, "x.npy"), x)
    np.savez(os.path.join(OUT, "named.npz"), x=x[:2])
    np.savez(os.path.join(OUT, "shape.npz"), input=x[:2, :, :, :27].copy())
    bad = x[:2].copy()
    bad[1, 0, 3, 4] = np.nan
    np.savez(os.path.join(OUT, "nan.npz"), input=bad)
    np.savez(os.path.join(OUT, "empty.npz"), input=np.zeros((0, 1, 28, 28), np.float32))
    with open(os.path.join(OUT, "synthetic28.yaml"), "w") as f:
        f.write(YAML)
    for name in sorted(os.listdir(OUT)):
        print(f"{name}: {os.path.getsize(os.path.join(OUT, name))} bytes")


if __name__ == "__main__":
    main()
