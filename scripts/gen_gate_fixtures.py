#!/usr/bin/env python3
"""Fixtures for the registry and the gate (tests/fixtures/gate/): tiny ONNX models and registry
JSON cases. Run from the repository root:

    python3 scripts/gen_gate_fixtures.py

Models (float32 input "input" [N, 4], output "output", opset 13, symbolic batch "N"):

  mlp.onnx          Gemm(8) -> Relu -> Gemm(3), weights from numpy seed 0
  mlp.int8.onnx     ONNX Runtime quantize_static of mlp.onnx: QDQ, uint8 activations, int8
                    per-tensor weights, MinMax on 64 uniform [0, 1) samples (numpy seed 1)
  const.onnx        output [N, 2] = 0 * x W^T + 0.5: constant
  const.int8.onnx   the same with 0.25: constant, and not the fp32 one's constant
  nan.onnx          mlp.onnx's shape with a NaN bias: every output is NaN

registry_cases/*.json: the same verdict expected from tinytrain's C validator and from
model/registry.schema.json (tests/unit/test_registry.c, tests/onnx/check_gate.py):
good_* valid, bad_* invalid for both; cbad_* invalid only for C (what JSON Schema cannot say:
unique ids, a key given twice). Deterministic: two runs write the same bytes (onnx and
onnxruntime versions printed; ORT's quantiser may change its output across versions).
"""

import json
import os
import shutil
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "fixtures",
                   "gate")
SHA_A = "a" * 64
SHA_B = "b" * 64


def model(name, w1, b1, w2=None, b2=None):
    nodes = [helper.make_node("Gemm", ["input", "w1", "b1"], ["h" if w2 is not None else "output"],
                              transB=1)]
    inits = [numpy_helper.from_array(w1.astype(np.float32), "w1"),
             numpy_helper.from_array(b1.astype(np.float32), "b1")]
    out_dim = w1.shape[0]
    if w2 is not None:
        nodes += [helper.make_node("Relu", ["h"], ["r"]),
                  helper.make_node("Gemm", ["r", "w2", "b2"], ["output"], transB=1)]
        inits += [numpy_helper.from_array(w2.astype(np.float32), "w2"),
                  numpy_helper.from_array(b2.astype(np.float32), "b2")]
        out_dim = w2.shape[0]
    g = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", out_dim])],
        inits)
    m = helper.make_model(g, producer_name="gen_gate_fixtures.py", opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 7
    onnx.checker.check_model(m, full_check=True)
    return m


def save(m, name):
    onnx.save(m, os.path.join(OUT, name))


def quantize(src, dst):
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)

    class Reader(CalibrationDataReader):
        def __init__(self):
            rng = np.random.default_rng(1)
            self.data = iter([{"input": rng.random((1, 4), dtype=np.float32)} for _ in range(64)])

        def get_next(self):
            return next(self.data, None)

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "q.onnx")
        quantize_static(src, out, Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        per_channel=False)
        q = onnx.load(out)
    q.producer_name = "onnx.quantize"
    del q.graph.value_info[:]  # ORT's shape annotations: not part of what the test needs
    onnx.save(q, dst)


def entry(**kw):
    e = {"id": "m", "kind": "classifier", "onnx": "m.onnx", "sha256": SHA_A, "opset": 13,
         "quant_mode": "dynamic", "int8_sha256": SHA_B}
    e.update(kw)
    return {k: v for k, v in e.items() if v is not None}


def registry(*models, **top):
    r = {"schema_version": 1, "models": list(models)}
    r.update(top)
    return r


CASES = {
    "good_empty": registry(),
    "good_fp32": registry(entry(quant_mode="fp32", int8_sha256=None)),
    "good_full": registry(entry(id="a-1_b", kind="filter", onnx="sub/dir/m.onnx",
                                quant_mode="static", quant_calibration_set="cal/c.npz",
                                quant_accuracy_budget_plcc=0.002, notes="ünïcode ok"),
                          entry(id="z", kind="regressor", quant_mode="qat"),
                          **{"$schema": "./registry.schema.json"}),
    "good_integral_opset": registry(entry(opset=13.0)),
    "bad_unknown_field": registry(entry(license="MIT")),
    "bad_unknown_top": registry(extra=1),
    "bad_missing_models": {"schema_version": 1},
    "bad_version": registry(schema_version=2),
    "bad_id_pattern": registry(entry(id="Bad Id")),
    "bad_id_leading_dash": registry(entry(id="-x")),
    "bad_id_long": registry(entry(id="x" * 65)),
    "bad_hash_short": registry(entry(sha256="abc")),
    "bad_hash_upper": registry(entry(sha256="A" * 64)),
    "bad_path_dotdot": registry(entry(onnx="a/../../m.onnx")),
    "bad_path_absolute": registry(entry(onnx="/etc/m.onnx")),
    "bad_path_dot": registry(entry(onnx="a/./m.onnx")),
    "bad_path_not_onnx": registry(entry(onnx="m.txt")),
    "bad_path_int8": registry(entry(onnx="m.int8.onnx")),
    "bad_missing_int8_sha": registry(entry(int8_sha256=None)),
    "bad_static_no_calibration": registry(entry(quant_mode="static")),
    "bad_fp32_with_int8_sha": registry(entry(quant_mode="fp32")),
    "bad_kind": registry(entry(kind="fr")),
    "bad_mode": registry(entry(quant_mode="int8_dynamic")),
    "bad_opset_range": registry(entry(opset=6)),
    "bad_opset_fraction": registry(entry(opset=13.5)),
    "bad_budget_range": registry(entry(quant_accuracy_budget_plcc=1.5)),
    "bad_budget_type": registry(entry(quant_accuracy_budget_plcc="0.01")),
    "bad_missing_sha": registry(entry(sha256=None)),
    "bad_missing_mode": registry(entry(quant_mode=None, int8_sha256=None)),
    "bad_notes_long": registry(entry(notes="n" * 513)),
    "bad_calibration_ext": registry(entry(quant_mode="static", quant_calibration_set="c.csv")),
    "bad_models_not_array": {"schema_version": 1, "models": {}},
}

# What JSON Schema cannot express; written as text (a dict cannot hold a key twice).
C_ONLY = {
    "cbad_duplicate_id": json.dumps(registry(entry(), entry()), indent=2, sort_keys=True) + "\n",
    "cbad_duplicate_key": '{"schema_version": 1, "schema_version": 1, "models": []}\n',
}


def main():
    print(f"onnx {onnx.__version__}, numpy {np.__version__}", file=sys.stderr)
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(0)
    w1, b1 = rng.normal(0, 0.5, (8, 4)), rng.normal(0, 0.1, 8)
    w2, b2 = rng.normal(0, 0.5, (3, 8)), rng.normal(0, 0.1, 3)
    save(model("mlp", w1, b1, w2, b2), "mlp.onnx")
    save(model("const", np.zeros((2, 4)), np.full(2, 0.5)), "const.onnx")
    save(model("const_int8", np.zeros((2, 4)), np.full(2, 0.25)), "const.int8.onnx")
    save(model("nan", w1, b1, w2, np.full(3, np.nan)), "nan.onnx")
    import onnxruntime
    print(f"onnxruntime {onnxruntime.__version__}", file=sys.stderr)
    quantize(os.path.join(OUT, "mlp.onnx"), os.path.join(OUT, "mlp.int8.onnx"))
    cases = os.path.join(OUT, "registry_cases")
    shutil.rmtree(cases, ignore_errors=True)
    os.makedirs(cases)
    for name, reg in CASES.items():
        with open(os.path.join(cases, name + ".json"), "w", encoding="utf-8") as f:
            f.write(json.dumps(reg, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    for name, text in C_ONLY.items():
        with open(os.path.join(cases, name + ".json"), "w", encoding="utf-8") as f:
            f.write(text)
    print(f"wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
