#!/usr/bin/env bash
# tinytrain eval MODEL.onnx from the command line (docs/eval.md): every usage error exits 2 with
# its own message; data that does not fit the model (array names, shapes, labels, NaN, a config
# without the split) and models that cannot do what is asked exit 1; the happy paths print the
# metrics, --compare the deltas and agreement, --sensitivity a ranking of the MLP's three
# layers, --calib-sizes one row per size, and write the SVGs and the JSON report. The metrics
# themselves are checked against ONNX Runtime in tests/onnx/check_eval.py.
# Usage: test_eval_onnx.sh TINYTRAIN FIXTURES_DIR (tests/fixtures) MODEL_DIR (model/)
set -uo pipefail
TT=$1
FIX=$2
MODELS=$3
E=$FIX/eval
MLP=$MODELS/fashion_mlp.onnx
MLP8=$MODELS/fashion_mlp.int8.onnx
DATA=$E/fashion100.npz
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/lib.sh"
ev() { "$TT" eval "$@" --threads 2; }

# ---- usage errors: exit 2 ----
expect 0 "usage: tinytrain eval MODEL.onnx --data CONFIG.yaml\|FILE.npz" -- "$TT" eval "$MLP" --help
expect 0 "tinytrain eval MODEL.onnx --data" -- "$TT" eval --help
expect 2 "missing --data CONFIG.yaml\|FILE.npz" -- ev "$MLP"
expect 2 "missing MODEL.onnx" -- ev --data "$DATA"
expect 2 "unexpected argument '--bogus'" -- ev "$MLP" --data "$DATA" --bogus
expect 2 "unexpected argument 'other.onnx'" -- ev "$MLP" other.onnx --data "$DATA"
expect 2 "--data needs a value" -- "$TT" eval "$MLP" --data
expect 2 "--data must be a CONFIG.yaml \(or .yml\) or an .npz, got x.npy" -- ev "$MLP" --data x.npy
expect 2 "--split applies to config data" -- ev "$MLP" --data "$DATA" --split val
expect 2 "--task applies to .npz data" -- ev "$MLP" --data "$E/synthetic28.yaml" --task regression
expect 2 "--split must be test, val or train, got dev" -- ev "$MLP" --data "$E/synthetic28.yaml" --split dev
expect 2 "--task must be classification, regression or image_to_image, got seg" -- ev "$MLP" --data "$DATA" --task seg
expect 2 "--limit must be a whole number from 1" -- ev "$MLP" --data "$DATA" --limit 0
expect 2 "--batch must be a whole number from 1 to 1048576, got x" -- ev "$MLP" --data "$DATA" --batch x
expect 2 "--threads must be a whole number from 1 to 1024, got 0" -- "$TT" eval "$MLP" --data "$DATA" --threads 0
expect 2 "--mode must be int8 or float, got fp16" -- ev "$MLP" --data "$DATA" --mode fp16
expect 2 "--sensitivity needs --calibration FILE" -- ev "$MLP" --data "$DATA" --sensitivity
expect 2 "--calib-sizes needs --calibration FILE" -- ev "$MLP" --data "$DATA" --calib-sizes 8,16
expect 2 "--calib-sizes needs sizes separated by commas" -- ev "$MLP" --data "$DATA" --calibration "$DATA" --calib-sizes 8,,16
expect 2 "--calib-sizes: each size must be a whole number from 1" -- ev "$MLP" --data "$DATA" --calibration "$DATA" --calib-sizes 8,0
expect 2 "--calibration, --method, --per-tensor and --work-dir go with --sensitivity or --calib-sizes" -- ev "$MLP" --data "$DATA" --calibration "$DATA"
expect 2 "--sensitivity-svg needs --sensitivity" -- ev "$MLP" --data "$DATA" --sensitivity-svg "$work/s.svg"
expect 2 "--compare and the PTQ studies are separate runs" -- ev "$MLP" --data "$DATA" --compare "$MLP8" --sensitivity --calibration "$DATA"
expect 2 "--method must be minmax, entropy or percentile, got kl" -- ev "$MLP" --data "$DATA" --sensitivity --calibration "$DATA" --method kl
expect 2 "bad_malformed.yaml" -- ev "$MLP" --data "$FIX/configs/bad_malformed.yaml"

# ---- data and models that do not fit: exit 1 ----
expect 1 "needs the arrays 'input' .* and 'target' .* the file has 'x', 'y'" -- ev "$MLP" --data "$E/names.npz"
expect 1 "inputs samples are \[1, 28, 27\] \(756 values\) but model.input is \[1, 28, 28\]" -- ev "$MLP" --data "$E/shape.npz"
expect 1 "sample 2 has label 10 but the model has 10 outputs \(classes 0..9\)" -- ev "$MLP" --data "$E/label10.npz"
expect 1 "has 4 samples but .* has 3" -- ev "$MLP" --data "$E/count.npz"
expect 1 "sample 2 has NaN in its inputs" -- ev "$MLP" --data "$E/nan.npz"
expect 1 "targets are \[1\] per sample \(1 values\) but the model outputs 10" -- ev "$MLP" --data "$E/float_label.npz"
expect 1 "classification labels must be integers" -- ev "$FIX/torch_export/fashion_nr.onnx" --data "$E/regress16.npz" --task classification
expect 1 "nope.npz" -- ev "$MLP" --data "$work/nope.npz"
expect 1 "nope.onnx" -- ev "$work/nope.onnx" --data "$DATA"
expect 1 "the config has no val split \(data.val_split is 0\)" -- ev "$MLP" --data "$FIX/ptq/synthetic28.yaml" --split val
expect 1 "its input or output size differs" -- ev "$MLP" --data "$DATA" --compare "$FIX/torch_export/fashion_nr.onnx"
expect 1 "the model is already quantised" -- ev "$MLP8" --data "$DATA" --sensitivity --calibration "$DATA"
expect 1 "--calib-sizes 1000: .* holds 100 samples" -- ev "$MLP" --data "$DATA" --calibration "$DATA" --calib-sizes 10,1000
expect 1 "a confusion matrix needs a classifier" -- ev "$FIX/torch_export/fashion_nr.onnx" --data "$E/regress16.npz" --confusion-svg "$work/c.svg"
check "nothing written on failure" test ! -e "$work/c.svg"

# ---- happy paths ----
expect 0 "accuracy +[0-9.]+%" -- ev "$MLP" --data "$DATA"
out=$(ev "$MLP" --data "$DATA" --limit 10 2>&1)
check "--limit 10 evaluates 10 samples" grep -q "fashion100.npz, 10 samples, classification" <<<"$out"
out=$(ev "$MLP" --data "$DATA" 2>&1)
check "per-class rows" grep -qE "^  class 9 +[0-9.]+%" <<<"$out"
check "the confusion table" grep -q "confusion of fashion_mlp.onnx (rows true, columns predicted)" <<<"$out"
# Every test sample lands in one confusion cell: the ten rows sum to the 100 samples.
sum=$(awk '/^confusion of/{on=1; next} on && NF==11 {for (i=2;i<=11;i++) s+=$i} END {print s}' <<<"$out")
check "confusion counts sum to 100 (got $sum)" test "$sum" = 100

out=$(ev "$MLP" --data "$DATA" --compare "$MLP8" --confusion-svg "$work/cm.svg" --out-json "$work/cmp.json" 2>&1)
check "--compare: both models side by side with a delta column" grep -qE "fashion_mlp.onnx +fashion_mlp.int8.onnx +delta" <<<"$out"
check "--compare: accuracy delta" grep -qE "^accuracy +[0-9.]+% +[0-9.]+% +[-+][0-9.]+$" <<<"$out"
check "--compare: top-1 agreement and the gate's PLCC drop" grep -qE "top-1 agreement [0-9.]+%; outputs: PLCC 0\.[0-9]+, drop" <<<"$out"
check "--compare: the int8 model runs on integer kernels" grep -q "fashion_mlp.int8.onnx: int8 mode, 6 nodes (3 integer kernels" <<<"$out"
# 2 panels of 10 x 10 cells and the background
check "--confusion-svg: two 10x10 matrices" test "$(grep -c "<rect" "$work/cm.svg")" = 201
check "report: schema" grep -q '"schema": "eval-report-v1"' "$work/cmp.json"
check "report: comparison" grep -q '"top1_agreement"' "$work/cmp.json"
check "report: data hash" grep -q "\"sha256\": \"$(sha256sum "$DATA" | cut -c1-64)\"" "$work/cmp.json"
check "report: run_provenance" grep -q '"run_provenance"' "$work/cmp.json"

out=$(ev "$MLP" --data "$DATA" --mode float --compare "$MLP8" 2>&1)
check "--mode float runs Q/DQ in float" grep -q "fashion_mlp.int8.onnx: float mode, .* (0 integer kernels" <<<"$out"

# --sensitivity: the MLP's three Gemm layers, each quantised alone, ranked by the drop.
out=$(ev "$MLP" --data "$DATA" --sensitivity --calibration "$DATA" --sensitivity-svg "$work/s.svg" \
      --out-json "$work/s.json" --work-dir "$work/models" 2>"$work/err")
for layer in fc1 fc2 fc3; do
  check "--sensitivity ranks $layer" grep -qE "^ +[123] $layer +Gemm +[0-9.]+%" <<<"$out"
done
check "--sensitivity: the all-layers reference row" grep -qE "\(all layers\) +[0-9.]+%" <<<"$out"
# Ranked: the "vs fp32" column (the negated drop) never decreases down the table, and rows with
# the same drop have the larger output drop ($7) first.
check "--sensitivity: rows sorted by drop, ties by output drop" awk '/^ +[0-9]+ fc[123] /{v=$5+0; o=$7+0; if (n++ && (v < pv || (v == pv && o > po))) bad=1; pv=v; po=o} END {exit bad || n != 3}' <<<"$out"
check "--sensitivity: progress on stderr" grep -q "tinytrain eval: \[3/3\]" "$work/err"
check "--sensitivity-svg: one bar per layer" test "$(grep -c "<rect" "$work/s.svg")" = 4
check "report: three ranked layers" test "$(grep -c '"rank"' "$work/s.json")" = 3
check "--work-dir keeps the per-layer models" test -s "$work/models/layer000_fc1.int8.onnx"
expect 0 "[0-9]+ integer kernels" -- "$TT" run "$work/models/layer001_fc2.int8.onnx" --input "$FIX/ptq/x.npy" -o "$work/y.npy" --verbose --threads 2
err=$(ev "$MLP" --data "$DATA" --sensitivity --calibration "$DATA" --quiet 2>&1 >/dev/null)
check "--quiet: nothing on stderr" test -z "$err"

out=$(ev "$MLP" --data "$DATA" --calibration "$DATA" --calib-sizes 4,16,100 --method percentile 2>/dev/null)
check "--calib-sizes: the table names the method" grep -q "static PTQ: percentile calibration" <<<"$out"
for n in 4 16 100; do
  check "--calib-sizes: a row for $n samples" grep -qE "^ +$n +[0-9.]+% +[-+][0-9.]+ pt" <<<"$out"
done

# Config data: the trainer's splits and normalisation, the same numbers as the .npz that
# tinytrain calib writes from the same split.
expect 0 "synthetic28.yaml \(val split\), 16 samples" -- ev "$MLP" --data "$E/synthetic28.yaml" --split val
expect 0 "synthetic28.yaml \(train split\), 48 samples" -- ev "$MLP" --data "$E/synthetic28.yaml" --split train
"$TT" calib "$E/synthetic28.yaml" -n 16 --split test -o "$work/syn.npz" 2>/dev/null
a=$(ev "$MLP" --data "$E/synthetic28.yaml" | sed -n '/^accuracy/,$p')
b=$(ev "$MLP" --data "$work/syn.npz" | sed -n '/^accuracy/,$p')
check "config data == its tinytrain calib .npz (metrics and confusion)" test -n "$a" -a "$a" = "$b"

# Regression and image-to-image metrics.
expect 0 "SROCC +-?[0-9.]+" -- ev "$FIX/torch_export/fashion_nr.onnx" --data "$E/regress16.npz"
expect 0 "PSNR \(dB\) +[0-9.]+" -- ev "$FIX/torch_export/fashion_filter.onnx" --data "$E/image8.npz"

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
