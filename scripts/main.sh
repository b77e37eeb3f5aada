#!/usr/bin/env bash
# The main job on bundled defaults: install dependencies, build, train the default config
# (Fashion-MNIST MLP) in fp32 with `tinytrain fit`, then quantisation-aware training from that
# checkpoint with `tinytrain qat`. Extra arguments go to both commands (e.g. --threads 2).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
tt_install_deps
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
build/tinytrain fit configs/fashion_mlp.yaml --out runs/fashion_mlp "$@"
exec build/tinytrain qat configs/fashion_mlp.yaml --warm-start runs/fashion_mlp/last.h5 \
  --out runs/fashion_mlp_qat "$@"
