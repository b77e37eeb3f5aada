#!/usr/bin/env bash
# The main job on bundled defaults: install dependencies, build, and train the Fashion-MNIST MLP
# through the C API (the `tinytrain fit` CLI replaces this once it lands).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
tt_install_deps
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
exec build/tt_train_mlp "$@"
