#!/usr/bin/env bash
# The main job on bundled defaults: install dependencies, build, train the default config
# (Fashion-MNIST MLP) in fp32 with `tinytrain fit`, then quantisation-aware training from that
# checkpoint with `tinytrain qat` (which writes the fp32 and int8 ONNX files), and the gate: the
# int8 model on tinytrain's integer kernels against the fp32 one. Extra arguments go to fit and
# qat (e.g. --threads 2).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
tt_install_deps
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
build/tinytrain fit configs/fashion_mlp.yaml --out runs/fashion_mlp "$@"
build/tinytrain qat configs/fashion_mlp.yaml --warm-start runs/fashion_mlp/last.h5 \
  --out runs/fashion_mlp_qat "$@"
exec build/tinytrain gate --gate --fp32 runs/fashion_mlp_qat/fashion_mlp.onnx \
  --int8 runs/fashion_mlp_qat/fashion_mlp.int8.onnx --id fashion_mlp
