#!/usr/bin/env bash
# The main job on bundled defaults: install dependencies, build, and train the default config
# (Fashion-MNIST MLP) with `tinytrain fit`. Extra arguments go to `tinytrain fit`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
tt_install_deps
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
exec build/tinytrain fit configs/fashion_mlp.yaml "$@"
