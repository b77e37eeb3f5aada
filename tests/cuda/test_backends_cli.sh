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
