#!/usr/bin/env bash
# Install what tinytrain needs on Debian 12, by package name, only when something is missing
# (so a second run is quick and changes nothing). Sourced by main.sh and test.sh, so it sets no
# shell options of its own.

TT_APT_PACKAGES=(build-essential cmake pkg-config clang-format valgrind
  libopenblas-dev libopenblas-openmp-dev libhdf5-dev libyaml-dev libcjson-dev libprotobuf-c-dev protobuf-c-compiler
  libonnx-dev libcmocka-dev zlib1g-dev libssl-dev libzip-dev hdf5-tools dataset-fashion-mnist
  python3 python3-pip
  ocl-icd-opencl-dev opencl-headers pocl-opencl-icd clinfo libclblast1)

# Python is for tests and benchmarks only: the ONNX Runtime checks (tests/onnx/) need these.
TT_PIP_PACKAGES=(numpy onnx onnxruntime)

# pip into the python3 on PATH when an import fails. A Debian system python refuses pip
# (PEP 668); then the ONNX Runtime tests report themselves skipped (exit 77) instead of failing.
tt_install_python_deps() {
  python3 -c "import numpy, onnx, onnxruntime" 2>/dev/null && return 0
  echo "tinytrain: installing Python packages for the tests: ${TT_PIP_PACKAGES[*]}"
  python3 -m pip install --quiet --disable-pip-version-check "${TT_PIP_PACKAGES[@]}" ||
    echo "tinytrain: pip could not install ${TT_PIP_PACKAGES[*]}; the ONNX Runtime tests will be skipped"
}

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
