#!/usr/bin/env bash
# tinytrain backends (docs/backends.md): usage errors exit 2, the listing exits 0 in every
# configuration (the CPU always listed), --json is valid JSON with the same facts, and with the
# OpenCL driver hidden (OCL_ICD_VENDORS at an empty directory) the OpenCL line gives the
# no-device message instead of failing.
# Usage: test_backends_cli.sh TINYTRAIN
set -uo pipefail
TT=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/../cli/lib.sh"

expect 0 "usage: tinytrain backends \[--json\]" -- "$TT" backends --help
expect 0 "backends .*docs/backends.md" -- "$TT" --help
expect 2 "unknown argument '--bogus'" -- "$TT" backends --bogus
expect 2 "unknown argument 'cpu'" -- "$TT" backends cpu
expect 0 "^cpu +1 device" -- "$TT" backends
expect 0 "^cuda +(unavailable: (no CUDA device|not built)|[0-9]+ device)" -- "$TT" backends
mkdir -p "$work/no_icd"
expect 0 "^opencl +unavailable: (no OpenCL device: install pocl-opencl-icd \(Debian\) or a GPU driver|not built \(configure with -DTT_OPENCL=ON\))" \
  -- env OCL_ICD_VENDORS="$work/no_icd" "$TT" backends

# --backend on the commands that run models: a malformed name or a backend without a device
# is a usage error naming it (exit 2), before any data is read; nothing falls back to the CPU.
cfg="$(dirname "$0")/../cli/tiny_cnn.yaml"
for cmd in fit qat; do
  expect 2 "tinytrain $cmd: --backend: backend 'tpu' is not one of cpu, opencl, opencl:N, cuda, cuda:N" \
    -- "$TT" $cmd "$cfg" --backend tpu
  expect 2 "tinytrain $cmd: --backend: backend 'opencl:x' is not one of" -- "$TT" $cmd "$cfg" --backend opencl:x
  expect 2 "tinytrain $cmd: --backend: (no OpenCL device|this tinytrain was built without the opencl backend)" \
    -- env OCL_ICD_VENDORS="$work/no_icd" "$TT" $cmd "$cfg" --backend opencl
  expect 2 "tinytrain $cmd: --backend: (opencl device 7 does not exist: this machine has [0-9]+|no OpenCL device|this tinytrain was built without)" \
    -- "$TT" $cmd "$cfg" --backend opencl:7
done
expect 2 "tinytrain fit: --backend: (no CUDA device|this tinytrain was built without the cuda backend)" \
  -- env CUDA_VISIBLE_DEVICES=-1 "$TT" fit "$cfg" --backend cuda
expect 2 "tinytrain eval: --backend: backend 'gpu' is not one of" \
  -- "$TT" eval "$(dirname "$0")/../../model/fashion_mlp.onnx" --data "$cfg" --backend gpu
expect 2 "tinytrain eval: --backend: backend 'tpu' is not one of" -- "$TT" eval some.h5 --backend tpu
# gate: a malformed name or a missing device N is a usage error; an unavailable backend is
# reported and skipped, not failed
expect 2 "tinytrain gate: --backends: backend 'cudax' is not one of" \
  -- "$TT" gate --backends cpu,cudax --registry "$(dirname "$0")/../../model/registry.json" fashion_mlp
expect 2 "tinytrain gate: --backends: (opencl device 7 does not exist|no OpenCL device|this tinytrain was built without)" \
  -- "$TT" gate --backends cpu,opencl:7 --registry "$(dirname "$0")/../../model/registry.json" fashion_mlp
expect 0 "\[skip\] .* backend opencl unavailable: no OpenCL device" \
  -- env OCL_ICD_VENDORS="$work/no_icd" "$TT" gate --gate --backends cpu,opencl --registry "$(dirname "$0")/../../model/registry.json" fashion_mlp

"$TT" backends --json >"$work/b.json"
check "--json exits 0" test $? -eq 0
check "--json is JSON listing cpu, opencl and cuda" python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
names = [b["backend"] for b in j["backends"]]
assert names == ["cpu", "opencl", "cuda"], names
cpu = j["backends"][0]
assert cpu["available"] and cpu["devices"][0]["name"] == "cpu"
for b in j["backends"]:
    assert b["available"] == (len(b["devices"]) > 0), b
    assert b["available"] or b["reason"], b
' "$work/b.json"

echo "backends cli checks: $passes passed, $fails failed"
exit $((fails != 0))
