#!/usr/bin/env bash
# tinytrain registry and tinytrain gate from the command line (docs/gate.md): every usage error
# exits 2 with its own message, registry problems exit 1 (verify) or 2 (gate), a missing or
# altered int8 file fails the gate before anything runs, and the gate's verdicts on the fixture
# models (tests/fixtures/gate, made by scripts/gen_gate_fixtures.py): a pass, a constant output,
# a NaN output; and the samples from a file (--data, gate_data): each unusable file refused with
# its own message.
# Usage: test_gate.sh TINYTRAIN FIXTURES_DIR (tests/fixtures/gate)
set -uo pipefail
TT=$1
FIX=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/lib.sh"

# ---- usage errors: exit 2, nothing run ----
expect 0 "usage: tinytrain gate" -- "$TT" gate --help
expect 0 "usage: tinytrain registry verify" -- "$TT" registry --help
expect 0 "gate \[ID" -- "$TT" --help
expect 2 "unexpected argument '--bogus'" -- "$TT" gate --bogus
expect 2 "--registry needs a value" -- "$TT" gate --registry
expect 2 "--fp32 needs --int8" -- "$TT" gate --fp32 "$FIX/mlp.onnx"
expect 2 "--int8 needs --fp32" -- "$TT" gate --int8 "$FIX/mlp.int8.onnx"
expect 2 "not with --all" -- "$TT" gate --fp32 "$FIX/mlp.onnx" --int8 "$FIX/mlp.int8.onnx" --all
expect 2 "not with --all or registry IDs" -- "$TT" gate mlp --fp32 "$FIX/mlp.onnx" --int8 "$FIX/mlp.int8.onnx"
expect 2 "drop --registry" -- "$TT" gate --registry r.json --fp32 "$FIX/mlp.onnx" --int8 "$FIX/mlp.int8.onnx"
expect 2 "--budget and --id label a --fp32/--int8 pair" -- "$TT" gate --budget 0.1
expect 2 "--budget and --id label" -- "$TT" gate --id x
expect 2 "--budget needs a number from 0 to 1, got 2" -- "$TT" gate --fp32 a.onnx --int8 b.onnx --budget 2
expect 2 "--id needs 1 to 64 characters .* got \.\." -- "$TT" gate --fp32 a.onnx --int8 b.onnx --id ..
expect 2 "--samples needs a whole number from 1 to 65536, got 0" -- "$TT" gate --samples 0
expect 2 "--samples needs .* got x" -- "$TT" gate --samples x
expect 2 "--seed needs a whole number >= 0, got -1" -- "$TT" gate --seed -1
expect 2 "--mode is int8 or float, got fp16" -- "$TT" gate --mode fp16
expect 2 "--backends takes up to 8 of cpu, opencl, opencl:N, cuda, cuda:N separated by commas, got cpu,tpu" -- "$TT" gate --backends cpu,tpu
expect 2 "--backends needs at least one backend, got ," -- "$TT" gate --backends ,
expect 2 "give IDs or --all, not both" -- "$TT" gate --all mlp
expect 2 "missing a subcommand" -- "$TT" registry
expect 2 "unknown subcommand frob" -- "$TT" registry frob
expect 2 "unexpected argument '--all'" -- "$TT" registry verify --all
expect 2 "add: missing --id" -- "$TT" registry add "$FIX/mlp.onnx"
expect 2 "--kind is classifier, regressor or filter, got fr" -- "$TT" registry add "$FIX/mlp.onnx" --id m --kind fr --quant-mode qat
expect 2 "--quant-mode static needs --calibration" -- "$TT" registry add "$FIX/mlp.onnx" --id m --kind regressor --quant-mode static

# ---- unreadable or invalid registries ----
expect 2 "nope.json: cannot open the registry" -- "$TT" gate --registry "$work/nope.json"
expect 2 "cannot read the registry" -- "$TT" registry verify --registry "$work/nope.json"
expect 2 "not a regular file" -- "$TT" gate --registry "$work"
printf '{"schema_version": 1,\n "models": [}\n' >"$work/malformed.json"
expect 2 "malformed.json:2:[0-9]+: malformed JSON" -- "$TT" gate --registry "$work/malformed.json"
expect 1 "malformed.json:2:[0-9]+: malformed JSON" -- "$TT" registry verify --registry "$work/malformed.json"

# ---- a registry made by registry add in a scratch copy of the fixtures ----
reg=$work/m/registry.json
mkdir -p "$work/m" "$work/elsewhere"
cp "$FIX"/*.onnx "$work/m/"
cp "$FIX/mlp.onnx" "$work/elsewhere/"
expect 0 "added mlp \(regressor, qat, opset 13" -- "$TT" registry add "$work/m/mlp.onnx" --id mlp --kind regressor --quant-mode qat --registry "$reg"
expect 0 "added const" -- "$TT" registry add "$work/m/const.onnx" --id const --kind filter --quant-mode dynamic --registry "$reg" --notes "constant | output"
expect 0 "added base" -- "$TT" registry add "$work/m/nan.onnx" --id base --kind classifier --quant-mode fp32 --registry "$reg"
expect 1 "id 'mlp' is already registered .* --replace" -- "$TT" registry add "$work/m/mlp.onnx" --id mlp --kind regressor --quant-mode qat --registry "$reg"
expect 0 "registered mlp" -- "$TT" registry add "$work/m/mlp.onnx" --id mlp --kind regressor --quant-mode qat --budget 0.005 --registry "$reg" --replace
expect 1 "outside the registry's directory" -- "$TT" registry add "$work/elsewhere/mlp.onnx" --id other --kind regressor --quant-mode fp32 --registry "$reg"
expect 1 "needs the int8 sibling .*nan.int8.onnx" -- "$TT" registry add "$work/m/nan.onnx" --id nan8 --kind regressor --quant-mode dynamic --registry "$reg"
# Sorted by id, budget written for quantised entries (0.005 kept from --budget).
check "registry sorted by id" test "$(grep -o '"id": "[a-z]*"' "$reg" | tr '\n' ' ')" = '"id": "base" "id": "const" "id": "mlp" '
check "budget written" grep -q '"quant_accuracy_budget_plcc": 0.005,' "$reg"
check "trailing newline, 2-space indent" bash -c "tail -c1 '$reg' | od -c | grep -q '\\\\n' && grep -q '^  \"models\": \\[' '$reg'"
expect 0 "\[ok\]   mlp" -- "$TT" registry verify --registry "$reg"
# A static entry records its calibration set relative to the registry, and verify wants it there.
cp "$FIX/mlp.onnx" "$work/m/cal.npz"
reg2=$work/m/static.json
expect 0 "added st \(regressor, static" -- "$TT" registry add "$work/m/mlp.onnx" --id st --kind regressor --quant-mode static --calibration "$work/m/cal.npz" --registry "$reg2"
check "calibration path relative" grep -q '"quant_calibration_set": "cal.npz"' "$reg2"
check "static budget default 0.01" grep -q '"quant_accuracy_budget_plcc": 0.01,' "$reg2"
rm "$work/m/cal.npz"
expect 1 "quant_calibration_set: .*cal.npz does not exist" -- "$TT" registry verify --registry "$reg2"
expect 2 "unknown id 'nope'; .* registers: base const mlp" -- "$TT" gate nope --registry "$reg"

# An fp32 entry is skipped; skips alone pass --gate.
expect 0 "^\[skip\] base — quant_mode=fp32, no quantised model to gate" -- "$TT" gate base --gate --registry "$reg"

# An altered int8 file: verify and gate name the mismatch; gate fails before loading anything.
cp "$work/m/mlp.int8.onnx" "$work/mlp.int8.good"
printf 'x' >>"$work/m/mlp.int8.onnx"
expect 1 "int8 sibling: sha256 mismatch" -- "$TT" registry verify --registry "$reg"
expect 1 "^\[FAIL\] mlp — sha256 mismatch: .*mlp.int8.onnx" -- "$TT" gate mlp --gate --registry "$reg"
expect 0 "^\[FAIL\] mlp — sha256 mismatch" -- "$TT" gate mlp --registry "$reg" # report only without --gate
cp "$work/mlp.int8.good" "$work/m/mlp.int8.onnx"

# A missing int8 file fails: no fp32 fallback; the JSON report says missing_model.
mv "$work/m/const.int8.onnx" "$work/const.int8.away"
expect 1 "int8 sibling: .*const.int8.onnx does not exist" -- "$TT" registry verify --registry "$reg"
expect 1 "^\[FAIL\] const — missing int8 model .*const.int8.onnx" -- "$TT" gate const --gate --registry "$reg" --out-json "$work/missing.json"
check "missing_model in the JSON report" grep -q '"status": "missing_model"' "$work/missing.json"
check "int8_exists false" grep -q '"int8_exists": false' "$work/missing.json"
check "gate_pass false" grep -q '"gate_pass": false' "$work/missing.json"
mv "$work/const.int8.away" "$work/m/const.int8.onnx"

# ---- the runtime: verdicts on the fixture models ----
# The same file on both sides: PLCC exactly 1, drop 0.
expect 0 "^\[PASS\] mlp +mode=override PLCC=1.000000  drop=0.000000  budget=0.0100  worst_abs=0.0000" -- \
  "$TT" gate --fp32 "$FIX/mlp.onnx" --int8 "$FIX/mlp.onnx" --gate
# ORT's QDQ model of the MLP: ONNX Runtime measures drop 5.2e-4 on numpy's seed-0 inputs, well
# inside the qat budget of 0.002 (tinytrain's generator draws other inputs; see docs/gate.md).
expect 0 "^\[PASS\] mlp +mode=qat     PLCC=0\.99" -- "$TT" gate mlp --gate --registry "$reg" \
  --out-json "$work/g.json" --out-md "$work/g.md" --dump-inputs "$work/dump"
check "16 inputs dumped" test "$(ls "$work/dump/mlp"/input_*.npy | wc -l)" -eq 16
check "outputs dumped" test -s "$work/dump/mlp/int8_output.npy"
check "report: pass row" grep -q '"status": "pass"' "$work/g.json"
check "report: provenance backend" grep -q '"backend": "cpu"' "$work/g.json"
check "markdown table row" grep -q '^| mlp | cpu | qat | pass | 0\.99' "$work/g.md"
expect 0 "^\[PASS\] mlp" -- "$TT" gate mlp --gate --registry "$reg" --mode float
# A model whose output does not depend on the input: no PLCC; fails unless both are identical.
expect 1 "^\[FAIL\] const +mode=dynamic constant output: fp32 std 0, int8 std 0 .*not identical" -- \
  "$TT" gate const --gate --registry "$reg"
expect 0 "^\[PASS\] same +mode=override constant output, identical in fp32 and int8 \(0.5\)" -- \
  "$TT" gate --fp32 "$FIX/const.onnx" --int8 "$FIX/const.onnx" --id same --gate
# NaN in an output fails with its own message.
expect 1 "^\[FAIL\] nan +mode=override non-finite output: fp32 has 0 NaN/inf values and int8 48, of 48" -- \
  "$TT" gate --fp32 "$FIX/mlp.onnx" --int8 "$FIX/nan.onnx" --id nan --gate
# Everything at once: the const entry fails, so --gate exits 1 and the summary counts it.
expect 1 "1 passed, 1 failed, 1 skipped" -- "$TT" gate --all --gate --registry "$reg"
# Missing pair files: a FAIL line, never a silent fallback.
expect 1 "^\[FAIL\] mlp — missing int8 model .*none.int8.onnx" -- "$TT" gate --fp32 "$FIX/mlp.onnx" --int8 "$work/none.int8.onnx" --gate

# ---- samples from a file: --data and a registry entry's gate_data (tests/fixtures/gate/data,
# made by tests/fixtures/gate/gen_gate_data.py; the MLP's input is "input" [N, 4]) ----
D=$FIX/data
expect 2 "--data needs an .npz file .* got x.txt" -- "$TT" gate --data x.txt
expect 2 "--data .*none.npz: cannot open it" -- "$TT" gate --data "$work/none.npz"
expect 2 "drop --seed" -- "$TT" gate --data "$D/mlp_good.npz" --seed 3
expect 2 "--data reads .* --synthetic draws them; give one" -- "$TT" gate --data "$D/mlp_good.npz" --synthetic
expect 2 "--gate-data needs an .npz file, got g.h5" -- "$TT" registry add "$FIX/mlp.onnx" --id m --kind regressor --quant-mode qat --gate-data g.h5
expect 2 "--gate-data describe an int8 model; not with --quant-mode fp32" -- "$TT" registry add "$FIX/mlp.onnx" --id m --kind regressor --quant-mode fp32 --gate-data g.npz
pair=(--fp32 "$FIX/mlp.onnx" --int8 "$FIX/mlp.int8.onnx")
expect 0 "^\[PASS\] mlp +mode=override PLCC=0\.99" -- "$TT" gate "${pair[@]}" --data "$D/mlp_good.npz" --gate \
  --dump-inputs "$work/ddump" --out-json "$work/d.json" --out-md "$work/d.md"
check "data: 16 inputs dumped" test "$(ls "$work/ddump/mlp"/input_*.npy | wc -l)" -eq 16
check "data: the report names the file" grep -q '"source": "file"' "$work/d.json"
check "data: the report names the array" grep -q '"array": "input"' "$work/d.json"
check "data: markdown inputs column" grep -q "| mlp_good.npz 'input' (sha256 [0-9a-f]\{12\}...) |" "$work/d.md"
expect 0 "^\[PASS\] mlp" -- "$TT" gate "${pair[@]}" --data "$D/mlp_one.npz" --gate
expect 1 "^\[FAIL\] mlp — .*mlp_noname.npz has no array named 'input' .* holds 2 arrays: 'a', 'b'" -- "$TT" gate "${pair[@]}" --data "$D/mlp_noname.npz" --gate
expect 1 "^\[FAIL\] mlp — .*array 'input' has shape \[16, 5\]; the model input 'input' takes \[N, 4\]" -- "$TT" gate "${pair[@]}" --data "$D/mlp_shape.npz" --gate
expect 1 "^\[FAIL\] mlp — .*array 'input' has dtype int32" -- "$TT" gate "${pair[@]}" --data "$D/mlp_dtype.npz" --gate
expect 1 "^\[FAIL\] mlp — .*holds 8 samples but the gate asks for 16" -- "$TT" gate "${pair[@]}" --data "$D/mlp_few.npz" --gate
expect 0 "^\[PASS\] mlp" -- "$TT" gate "${pair[@]}" --data "$D/mlp_few.npz" --samples 8 --gate
expect 1 "^\[FAIL\] mlp — .*sample 5 has NaN" -- "$TT" gate "${pair[@]}" --data "$D/mlp_nan.npz" --gate
cp "$FIX/mlp.onnx" "$work/notzip.npz"
expect 1 "^\[FAIL\] mlp — cannot read the gate samples: .*notzip.npz" -- "$TT" gate "${pair[@]}" --data "$work/notzip.npz" --gate
# registry add --gate-data: hashed, relative to the registry, checked against the model first.
cp "$D/mlp_good.npz" "$work/m/mlp.gate.npz"
cp "$D/mlp_shape.npz" "$work/m/bad.gate.npz"
expect 0 "registered mlp" -- "$TT" registry add "$work/m/mlp.onnx" --id mlp --kind regressor --quant-mode qat --budget 0.01 --gate-data "$work/m/mlp.gate.npz" --registry "$reg" --replace
check "gate_data relative" grep -q '"gate_data": "mlp.gate.npz",' "$reg"
check "gate_data_sha256 written" grep -q "\"gate_data_sha256\": \"$(sha256sum "$work/m/mlp.gate.npz" | cut -c1-64)\"" "$reg"
expect 1 "unusable --gate-data: .*bad.gate.npz: array 'input' has shape \[16, 5\]" -- "$TT" registry add "$work/m/mlp.onnx" --id badg --kind regressor --quant-mode qat --gate-data "$work/m/bad.gate.npz" --registry "$reg"
check "a refused entry is not written" test "$(grep -c badg "$reg")" -eq 0
expect 1 "gate data .*mlp_good.npz is outside the registry's directory" -- "$TT" registry add "$work/m/mlp.onnx" --id out --kind regressor --quant-mode qat --gate-data "$D/mlp_good.npz" --registry "$reg"
expect 0 "\[ok\]   mlp" -- "$TT" registry verify --registry "$reg"
expect 0 "^\[PASS\] mlp" -- "$TT" gate mlp --gate --registry "$reg" --out-md "$work/r.md"
check "registry data: markdown inputs column" grep -q "| mlp.gate.npz 'input' (sha256" "$work/r.md"
expect 0 "^\[PASS\] mlp" -- "$TT" gate mlp --gate --registry "$reg" --synthetic --out-md "$work/s.md"
check "--synthetic: drawn samples" grep -q "| drawn, seed 0 |" "$work/s.md"
# An altered data file: verify and gate refuse it; --synthetic does not read it.
cp "$work/m/mlp.gate.npz" "$work/mlp.gate.good"
printf 'x' >>"$work/m/mlp.gate.npz"
expect 1 "gate_data: sha256 mismatch" -- "$TT" registry verify --registry "$reg"
expect 1 "^\[FAIL\] mlp — sha256 mismatch: .*mlp.gate.npz .*gate_data_sha256" -- "$TT" gate mlp --gate --registry "$reg"
expect 0 "^\[PASS\] mlp" -- "$TT" gate mlp --gate --registry "$reg" --synthetic
# A missing one: the same, with the way out named.
rm "$work/m/mlp.gate.npz"
expect 1 "gate_data: .*mlp.gate.npz does not exist" -- "$TT" registry verify --registry "$reg"
expect 1 "^\[FAIL\] mlp — missing gate data .*mlp.gate.npz .*--synthetic" -- "$TT" gate mlp --gate --registry "$reg"
cp "$work/mlp.gate.good" "$work/m/mlp.gate.npz"
# A file that became unusable with the right hash (re-registered by hand): verify names the rule.
cp "$D/mlp_few.npz" "$work/m/mlp.gate.npz"
sed -i "s/\"gate_data_sha256\": \"[0-9a-f]*\"/\"gate_data_sha256\": \"$(sha256sum "$work/m/mlp.gate.npz" | cut -c1-64)\"/" "$reg"
expect 1 "gate_data: .*holds 8 samples but the gate asks for 16" -- "$TT" registry verify --registry "$reg"

echo "gate cli checks: $passes passed, $fails failed"
exit $((fails != 0))
