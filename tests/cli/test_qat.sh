#!/usr/bin/env bash
# tinytrain qat end to end on the tiny synthetic CNN: the smoke run goes through every phase and
# writes what the docs promise; a warm-started run matches its fp32 start; resume is
# bit-identical; and every way to get the qat block or the warm start wrong is a clear error.
set -uo pipefail
TT=$1
HERE=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/lib.sh"

json() { # json FILE PYTHON-EXPR (d is the parsed file)
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"
}

cfg=$HERE/tiny_cnn.yaml

# --- the smoke run: every phase, every file -------------------------------------------------
expect 0 "\[fp32\].*\[calibrate\]|done: fp32" -- "$TT" qat "$cfg" --smoke --out "$work/smoke"
out=$("$TT" qat "$cfg" --smoke --out "$work/smoke2" 2>&1)
for ph in fp32 prepare calibrate qat; do
  check "smoke prints phase $ph" grep -q "^\[$ph\]" <<<"$out"
done
for f in fp32/last.h5 fp32/report.json last.h5 best.h5 metrics.jsonl report.json curves.svg \
  tiny_cnn.onnx tiny_cnn.int8.onnx; do
  check "smoke wrote $f" test -s "$work/smoke/$f"
done
r=$work/smoke/report.json
check "report has a qat block with fp32 metrics" \
  test "$(json "$r" "d['qat']['fp32']['accuracy'] is not None")" = True
check "report counts 2 weight and 3 activation points, 1 folded BN" \
  test "$(json "$r" "(d['qat']['weight_points'], d['qat']['activation_points'], d['qat']['folded_batchnorm'])")" = "(2, 3, 1)"
check "report compares outputs with fp32 (plcc in (0, 1], top-1 agreement in [0, 100])" \
  test "$(json "$r" "0 < d['qat']['vs_fp32']['plcc'] <= 1 and 0 <= d['qat']['vs_fp32']['top1_agreement'] <= 100")" = True
check "smoke fine-tune ran 2 epochs" test "$(json "$r" "d['epochs']")" = 2
check "smoke is marked in the report" test "$(json "$r" "d['qat']['smoke']")" = True
check "phase timings are reported" \
  test "$(json "$r" "all(v >= 0 for v in d['qat']['phase_seconds'].values())")" = True
params=$(h5ls -r "$work/smoke/last.h5")
check "checkpoints carry the qparams (per-channel weight scales: one per conv output channel)" \
  grep -qE '^/params/conv1\.weight\.q\.scale +Dataset \{8\}' <<<"$params"
check "checkpoints carry the input's activation qparams" \
  grep -qE '^/params/input\.q\.zero_point +Dataset \{1\}' <<<"$params"
check "smoke runs are deterministic (same last.h5 bytes)" \
  cmp -s "$work/smoke/last.h5" "$work/smoke2/last.h5"

# --- BN folding: simulate (the default) keeps the BN live; fold folds it before the fine-tune ---
check "simulate is the default and is reported" test "$(json "$r" "d['qat']['bn_fold']")" = simulate
check "simulate keeps the BN running statistics in the checkpoint" \
  grep -qE '^/params/bn1\.running_var ' <<<"$params"
sed 's/^grad_clip: 5.0/grad_clip: 5.0\nqat: {bn_fold: fold}/' "$cfg" >"$work/fold.yaml"
expect 0 "1 BatchNorm folded" -- "$TT" qat "$work/fold.yaml" --smoke --out "$work/fold"
check "fold is reported" test "$(json "$work/fold/report.json" "d['qat']['bn_fold']")" = fold
check "fold leaves no BN running statistics in the checkpoint" \
  bash -c "! h5ls -r '$work/fold/last.h5' | grep -qE '^/params/bn1\.running_var '"
# The checkpoint records its BN handling, so it rebuilds whatever the default becomes.
check "checkpoints record bn_fold" grep -q '"bn_fold": "fold"' <<<"$(h5dump -d /meta/extra "$work/fold/last.h5")"
expect 0 "QDQ int8" -- "$TT" export "$work/fold/last.h5" -o "$work/fold/again.onnx"
check "a fold checkpoint re-exports byte-identically" cmp -s "$work/fold/again.onnx" "$work/fold/tiny_cnn.int8.onnx"
# tiny_cnn's 1-channel input: padded to 4 channels by default, left alone with --no-channel-pad
# (docs/onnx.md; the files' structure and numbers are checked in tests/onnx/check_export.py).
expect 0 "QDQ int8" -- "$TT" export "$work/fold/last.h5" -o "$work/fold/nopad.onnx" --no-channel-pad
check "the default export has a channel Pad" grep -q "input_Pad" "$work/fold/again.onnx"
check "--no-channel-pad writes none" bash -c "! grep -q 'input_Pad' '$work/fold/nopad.onnx'"
check "--no-channel-pad is a smaller file" \
  test "$(stat -c %s "$work/fold/nopad.onnx")" -lt "$(stat -c %s "$work/fold/again.onnx")"
expect 0 "--no-channel-pad" -- "$TT" export --help
expect 2 "unexpected argument '--no-channel-padding'" -- "$TT" export "$work/fold/last.h5" -o "$work/x.onnx" --no-channel-padding

# --- warm start from a fit; resume --------------------------------------------------------------
"$TT" fit "$cfg" --epochs 1 --out "$work/fp32" --quiet
expect 0 "warm start given" -- "$TT" qat "$cfg" --warm-start "$work/fp32/last.h5" \
  --epochs-qat 2 --out "$work/ws"
check "no fp32 phase directory with a warm start" test ! -e "$work/ws/fp32"
# Kill-free resume check: a 1-epoch run resumed to 2 epochs equals the 2-epoch run.
"$TT" qat "$cfg" --warm-start "$work/fp32/last.h5" --epochs-qat 1 --out "$work/rs" --quiet
"$TT" qat "$cfg" --warm-start "$work/fp32/last.h5" --epochs-qat 2 --out "$work/rs" --quiet --resume
check "resumed fine-tune equals the uninterrupted one" cmp -s "$work/rs/last.h5" "$work/ws/last.h5"

# --- tinytrain smoke (its full run is the cli_smoke test) ------------------------------------
expect 0 "usage: tinytrain smoke" -- "$TT" smoke --help
expect 2 "unexpected argument '--bogus'" -- "$TT" smoke --bogus

# --- errors -----------------------------------------------------------------------------------
expect 0 "usage: tinytrain qat" -- "$TT" qat --help
expect 2 "missing CONFIG.yaml" -- "$TT" qat
expect 2 "--epochs-qat: .*'zero'" -- "$TT" qat "$cfg" --epochs-qat zero
expect 2 "unexpected argument '--smokey'" -- "$TT" qat "$cfg" --smokey
sed 's/^grad_clip: 5.0/grad_clip: 5.0\nqat: {epochs_qat: 0}/' "$cfg" >"$work/badqat.yaml"
expect 2 "badqat.yaml:[0-9]+:[0-9]+: qat.epochs_qat" -- "$TT" qat "$work/badqat.yaml"
sed 's/^grad_clip: 5.0/grad_clip: 5.0\nqat: {observers: 3}/' "$cfg" >"$work/badkey.yaml"
expect 2 "badkey.yaml:[0-9]+:[0-9]+: qat.observers: unknown key" -- "$TT" qat "$work/badkey.yaml"
expect 1 "nope.h5 does not exist" -- "$TT" qat "$cfg" --warm-start "$work/nope.h5" --out "$work/e1"
"$TT" fit "$HERE/tiny_mlp.yaml" --epochs 1 --out "$work/mlp" --quiet
expect 1 "warm start .*mlp/last.h5.*(missing|not in the graph|shape)" -- \
  "$TT" qat "$cfg" --warm-start "$work/mlp/last.h5" --out "$work/e2"
# A BatchNorm that follows no conv/linear cannot be folded: the error names it.
sed 's/^    - {type: conv2d, out_channels: 8, kernel: 3, padding: 1, bias: false}/    - {type: batchnorm}\n&/' \
  "$cfg" >"$work/bnfirst.yaml"
expect 1 "node 'bn1' \(BatchNormalization\): QAT folds" -- \
  "$TT" qat "$work/bnfirst.yaml" --smoke --out "$work/e3"
touch "$work/ro" && chmod -w "$work/ro" 2>/dev/null
expect 1 "(not writable|cannot create)" -- "$TT" qat "$cfg" --smoke --out "$work/ro/run"

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
