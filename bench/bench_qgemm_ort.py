#!/usr/bin/env python3
"""ONNX Runtime's side of `bench_qgemm --ops`: one-node QLinearConv (3x3, pad 1, per-channel
int8 weights, int32 bias) and com.microsoft QGemm models at the layer shapes of
configs/fashion_cnn.yaml, timed at the same batch and thread count, so the two can be put side
by side:

    build/bench_qgemm --ops --threads 1 --batch 64 --cpu-clock
    python3 bench/bench_qgemm_ort.py --threads 1 --batch 64 --cpu-clock

Inputs are uint8, weights int8 in [-127, 127] (what ORT's kernels get from tinytrain's
exports); ORT's uint8 x int8 kernels on AVX2 without VNNI add product pairs in saturating
int16 (vpmaddubsw), which is faster than tinytrain's exact int16 multiply-adds but not exact.
Each figure is the best of --reps runs after one warm-up run. --cpu-clock measures process CPU
time (only meaningful with --threads 1, on a busy machine).
"""
import argparse
import time

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper

LAYERS = [  # name, C, H, W, M (conv 3x3 pad 1) or fc (K, M)
    ("conv1", 1, 28, 28, 32),
    ("conv2", 32, 14, 14, 64),
    ("conv3", 64, 7, 7, 64),
    ("fc", 3136, 1, 1, 10),
]


def init(name, arr, dtype):
    return helper.make_tensor(name, dtype, list(arr.shape), arr.flatten().tolist())


def conv_model(c, h, w, m, rng):
    wq = rng.integers(-127, 128, size=(m, c, 3, 3)).astype(np.int8)
    inits = [
        init("xs", np.array([0.02], np.float32), TensorProto.FLOAT),
        init("xz", np.array([3], np.uint8), TensorProto.UINT8),
        init("w", wq, TensorProto.INT8),
        init("ws", (rng.uniform(0.5, 2, m) * 0.01).astype(np.float32), TensorProto.FLOAT),
        init("wz", np.zeros(m, np.int8), TensorProto.INT8),
        init("ys", np.array([0.5], np.float32), TensorProto.FLOAT),
        init("yz", np.array([10], np.uint8), TensorProto.UINT8),
        init("b", rng.integers(-1000, 1000, m).astype(np.int32), TensorProto.INT32),
    ]
    node = helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"],
                            ["y"], pads=[1, 1, 1, 1], kernel_shape=[3, 3])
    x = helper.make_tensor_value_info("x", TensorProto.UINT8, ["n", c, h, w])
    y = helper.make_tensor_value_info("y", TensorProto.UINT8, ["n", m, h, w])
    return helper.make_graph([node], "conv", [x], [y], initializer=inits), [helper.make_opsetid("", 13)]


def fc_model(k, m, rng):
    inits = [
        init("as", np.array([0.02], np.float32), TensorProto.FLOAT),
        init("az", np.array([3], np.uint8), TensorProto.UINT8),
        init("b", rng.integers(-127, 128, size=(m, k)).astype(np.int8), TensorProto.INT8),
        init("bs", (rng.uniform(0.5, 2, m) * 0.01).astype(np.float32), TensorProto.FLOAT),
        init("bz", np.zeros(m, np.int8), TensorProto.INT8),
        init("c", rng.integers(-1000, 1000, m).astype(np.int32), TensorProto.INT32),
        init("ys", np.array([0.5], np.float32), TensorProto.FLOAT),
        init("yz", np.array([10], np.uint8), TensorProto.UINT8),
    ]
    node = helper.make_node("QGemm", ["x", "as", "az", "b", "bs", "bz", "c", "ys", "yz"], ["y"],
                            domain="com.microsoft", transB=1)
    x = helper.make_tensor_value_info("x", TensorProto.UINT8, ["n", k])
    y = helper.make_tensor_value_info("y", TensorProto.UINT8, ["n", m])
    opsets = [helper.make_opsetid("", 13), helper.make_opsetid("com.microsoft", 1)]
    return helper.make_graph([node], "fc", [x], [y], initializer=inits), opsets


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--cpu-clock", action="store_true")
    a = ap.parse_args()
    clock = time.process_time if a.cpu_clock else time.perf_counter
    rng = np.random.default_rng(0)
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    print(f"onnxruntime {ort.__version__}: int8 layers at batch {a.batch}, {a.threads} thread(s), "
          f"best of {a.reps}")
    total = 0.0
    for name, c, h, w, m in LAYERS:
        if name == "fc":
            graph, opsets = fc_model(c, m, rng)
            x = rng.integers(0, 256, size=(a.batch, c)).astype(np.uint8)
        else:
            graph, opsets = conv_model(c, h, w, m, rng)
            x = rng.integers(0, 256, size=(a.batch, c, h, w)).astype(np.uint8)
        model = helper.make_model(graph, opset_imports=opsets)
        model.ir_version = 8
        sess = ort.InferenceSession(model.SerializeToString(), so,
                                    providers=["CPUExecutionProvider"])
        best = float("inf")
        for r in range(a.reps + 1):
            t0 = clock()
            sess.run(None, {"x": x})
            dt = clock() - t0
            if r > 0:
                best = min(best, dt)
        total += best
        print(f"  {name:6s} ORT int8 {1e3 * best:8.3f} ms")
    print(f"  total  ORT int8 {1e3 * total:8.3f} ms")


if __name__ == "__main__":
    main()
