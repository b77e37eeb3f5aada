#!/usr/bin/env bash
# tinytrain recommend from the command line (docs/ptq.md, "tinytrain recommend"): every usage
# error exits 2 with its own message; a model that cannot be read exits 1; real runs on the
# shipped fashion_mlp with the 4-sample calibration fixture: a generous budget recommends dynamic
# PTQ (exit 0), a budget below every candidate's drop recommends QAT (exit 1), a candidate that
# cannot be made is reported as such, -o keeps the candidates (which pass `tinytrain gate` exactly
# as the table says), the default temporary directory is removed, and the reports are written.
# Usage: test_recommend.sh TINYTRAIN FIXTURES_DIR (tests/fixtures) MODEL_DIR (model)
set -uo pipefail
TT=$1
FIX=$2
MODEL=$3/fashion_mlp.onnx
CAL=$FIX/ptq/calib.npz
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/lib.sh"
rec() { "$TT" recommend "$@" --threads 2; }

# ---- usage errors: exit 2 ----
expect 0 "usage: tinytrain recommend MODEL.onnx --calibration FILE --budget X" -- "$TT" recommend --help
expect 0 "recommend MODEL.onnx --calibration F --budget X" -- "$TT" --help
expect 2 "missing MODEL.onnx" -- rec --calibration "$CAL" --budget 0.01
expect 2 "missing --calibration FILE" -- rec "$MODEL" --budget 0.01
expect 2 "missing --budget X" -- rec "$MODEL" --calibration "$CAL"
expect 2 "--budget: must be a number from 0 to 1, got 1.5" -- rec "$MODEL" --calibration "$CAL" --budget 1.5
expect 2 "--budget: must be a number from 0 to 1, got -0.1" -- rec "$MODEL" --calibration "$CAL" --budget -0.1
expect 2 "--budget: must be a number from 0 to 1, got nan" -- rec "$MODEL" --calibration "$CAL" --budget nan
expect 2 "--budget: must be a number from 0 to 1, got 0.01x" -- rec "$MODEL" --calibration "$CAL" --budget 0.01x
expect 2 "--gate-inputs: must be a whole number from 1 to 65536, got 0" -- rec "$MODEL" --calibration "$CAL" --budget 0.01 --gate-inputs 0
expect 2 "--gate-inputs: must be a whole number from 1 to 65536, got -3" -- rec "$MODEL" --calibration "$CAL" --budget 0.01 --gate-inputs -3
expect 2 "--threads: must be a whole number from 1 to 1024, got many" -- "$TT" recommend "$MODEL" --calibration "$CAL" --budget 0.01 --threads many
expect 2 "unexpected argument --bogus" -- rec "$MODEL" --calibration "$CAL" --budget 0.01 --bogus
expect 2 "unexpected argument second.onnx" -- rec "$MODEL" second.onnx --calibration "$CAL" --budget 0.01
expect 2 "--budget needs a value" -- "$TT" recommend "$MODEL" --calibration "$CAL" --budget

# ---- models and directories that cannot be used: exit 1 ----
expect 1 "nope.onnx: cannot open" -- rec "$work/nope.onnx" --calibration "$CAL" --budget 0.01
expect 1 "x.npy: not an ONNX model" -- rec "$FIX/ptq/x.npy" --calibration "$CAL" --budget 0.01
touch "$work/file"
expect 1 "-o $work/file: cannot make the directory" -- rec "$MODEL" --calibration "$CAL" --budget 0.01 -o "$work/file"

# ---- real runs ----
export TMPDIR=$work/tmp
mkdir -p "$TMPDIR"
expect 0 "recommendation: dynamic, the cheapest mode inside the budget" -- rec "$MODEL" --calibration "$CAL" --budget 0.01 --out-json "$work/r.json" --out-md "$work/r.md"
check "the temporary directory is removed" test -z "$(ls -A "$TMPDIR")"
check "report has its schema" grep -q '"schema": "ptq-recommend-report-v1"' "$work/r.json"
check "report recommends dynamic" grep -q '"recommendation": "dynamic"' "$work/r.json"
check "report has four candidates" test "$(grep -c '"label"' "$work/r.json")" -eq 4
check "report keeps no file it removed" sh -c "! grep -q '\"file\": {' '$work/r.json'"
check "report records the Markdown's hash" grep -q "\"sha256\": \"$(sha256sum "$work/r.md" | cut -c1-64)\"" "$work/r.json"
check "Markdown names the recommendation" grep -q "^# tinytrain recommend: dynamic" "$work/r.md"
check "Markdown has a row per candidate" test "$(grep -c '^| static-\|^| dynamic' "$work/r.md")" -eq 4
out=$(rec "$MODEL" --calibration "$CAL" --budget 0.01 --gate-inputs 4)
check "the table has one row per mode and method" sh -c "echo '$out' | grep -qE '^  dynamic +- +[0-9.]+ ' && echo '$out' | grep -qE '^  static +minmax ' && echo '$out' | grep -qE '^  static +entropy ' && echo '$out' | grep -qE '^  static +percentile '"
check "--gate-inputs sets the samples" sh -c "echo '$out' | grep -q 'gate on 4 samples'"
expect 1 "none inside the budget: use QAT \\(tinytrain qat\\)" -- rec "$MODEL" --calibration "$CAL" --budget 0 -o "$work/keep" --out-json "$work/q.json"
check "-o keeps every candidate" test "$(ls "$work/keep" | wc -l)" -eq 4
check "report names no recommendation" grep -q '"recommendation": null' "$work/q.json"
check "report advises QAT" grep -q 'use QAT (tinytrain qat)' "$work/q.json"
expect 0 "\\[PASS\\]" -- "$TT" gate --fp32 "$MODEL" --int8 "$work/keep/dynamic.int8.onnx" --budget 0.01
expect 0 "drop=0\\.0000[0-9][0-9] " -- "$TT" gate --fp32 "$MODEL" --int8 "$work/keep/static-minmax.int8.onnx" --budget 0.01
# --data: the gate's samples come from a file (the shipped MLP's real test images).
GD=$(dirname "$MODEL")/fashion_mlp.gate.npz
out=$(rec "$MODEL" --calibration "$CAL" --budget 0.01 --data "$GD" --out-json "$work/d.json" --out-md "$work/d.md")
check "--data: the table says where the samples came from" sh -c "echo '$out' | grep -q 'gate on 16 samples of $GD'"
check "--data: the report records the file and its hash" grep -q "\"sha256\": \"$(sha256sum "$GD" | cut -c1-64)\"" "$work/d.json"
check "--data: no seed in the report's gate inputs" sh -c "! grep -q '\"seed\"' '$work/d.json'"
check "--data: the Markdown names the file" grep -q "gate on 16 samples of \`$GD\`" "$work/d.md"
expect 0 "\[PASS\]" -- "$TT" gate --fp32 "$MODEL" --int8 "$work/keep/dynamic.int8.onnx" --budget 0.01 --data "$GD"
expect 1 "FAIL: .*missing.npz" -- rec "$MODEL" --calibration "$CAL" --budget 0.01 --data "$work/missing.npz"
# A calibration set of another shape: the static candidates cannot be made, dynamic still can.
expect 0 "static +minmax .*FAIL: not made: .*needs \\[N, 1, 28, 28\\]" -- rec "$MODEL" --calibration "$FIX/ptq/shape.npz" --budget 0.01
expect 1 "FAIL: not made: .*holds 0 samples" -- rec "$MODEL" --calibration "$FIX/ptq/empty.npz" --budget 0

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
