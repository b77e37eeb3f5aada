#!/usr/bin/env bash
# Install what tinytrain needs on Debian 12, by package name, only when something is missing
# (so a second run is quick and changes nothing). Sourced by main.sh and test.sh, so it sets no
# shell options of its own.

TT_APT_PACKAGES=(build-essential cmake pkg-config clang-format valgrind
  libopenblas-dev libopenblas-openmp-dev libhdf5-dev libyaml-dev libcjson-dev libprotobuf-c-dev protobuf-c-compiler
  libonnx-dev libcmocka-dev zlib1g-dev libssl-dev libzip-dev dataset-fashion-mnist
  python3 python3-numpy python3-h5py)

tt_install_deps() {
  local missing=()
  for p in "${TT_APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "tinytrain: installing Debian packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}
