#!/usr/bin/env python3
"""tinytrain gate checked from outside (issue 6, "Must show" 2), and the registry schema.

  check_gate.py ort --tinytrain BIN --fp32 A.onnx --int8 B.onnx --work DIR [--budget X]
                    [--mode int8|float] [--samples N] [--seed S | --data F.npz]

      Runs `BIN gate --fp32 A --int8 B --dump-inputs DIR/dump --out-json DIR/gate.json` (with
      --data F.npz: on F's samples instead of drawn ones), then ONNX Runtime (CPU) on the dumped
      inputs, and computes the gate's numbers the way the seed system's measure_quant_drop does
      (np.corrcoef of the concatenated first outputs, in float64). Checks:
        inputs  the dumped .npy files are the inputs the report hashed (inputs_sha256)
        data    (with --data) they are F's first N samples, read here with numpy (the array named
                after ORT's first input, or F's only array), bit for bit, and the report names F
                with its SHA-256 and that array
        plcc    |PLCC(ORT) - PLCC(tinytrain)| <= 1e-6                (the must-show)
        drop    |drop(ORT) - drop(tinytrain)| <= 1e-6                (the same number, 1 - PLCC)
        verdict the same pass/fail at the report's budget, unless the drop is within 1e-6 of it
      and prints, for information, worst_abs of both and the largest |tinytrain - ORT| of the
      fp32 and int8 outputs (tinytrain's, dumped beside the inputs).

      ORT runs with session.x64quantprecision=1, its exact u8 x s8 path, as in check_runtime.py:
      on an x86 CPU without AVX-512 VNNI its default integer kernels add product pairs with
      16-bit saturation (vpmaddubsw), which full-range int8 weights (tinytrain's QAT exports)
      overflow, so the default session computes another function; its PLCC is printed as a
      note.

  check_gate.py schema --schema model/registry.schema.json --cases DIR [--registry FILE]

      model/registry.schema.json is valid JSON Schema draft 2020-12; every case in DIR
      (tests/fixtures/gate/registry_cases) gets the verdict its name gives: good_* valid,
      bad_* invalid, cbad_* valid for JSON Schema (only tinytrain's C validator refuses those:
      duplicate ids or keys, which a schema cannot see); tests/unit/test_registry.c checks the C
      side of the same files. With --registry, that registry (the shipped model/registry.json)
      must validate too.

One line per check ("PASS name: ..." / "FAIL name: ..."), then "N passed, N failed". Exit 0 all
passed, 1 a check failed, 2 bad arguments or a step that could not run, 77 (ctest's skip) when
python3 lacks numpy and onnxruntime (ort) or jsonschema (schema).
"""

import argparse
import glob
import hashlib
import json
import os
import subprocess
import sys

SKIP = 77

# PLCC to 1e-6 is the requirement. Both sides compute it in float64 from the same
# float32 outputs (tinytrain: two-pass double sums; numpy: corrcoef), which agree to ~1e-15;
# what remains is the difference between the two runtimes' outputs themselves.
PLCC_TOL = 1e-6


class Checks:
    def __init__(self):
        self.passed = self.failed = 0

    def check(self, name, ok, detail):
        print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}")
        if ok:
            self.passed += 1
        else:
            self.failed += 1

    def note(self, name, detail):
        print(f"NOTE {name}: {detail}")

    def finish(self):
        print(f"{self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0


def die(msg):
    print(f"check_gate.py: {msg}", file=sys.stderr)
    sys.exit(2)


# ---- ort ------------------------------------------------------------------------------------

def run_gate(args, dump, report):
    cmd = [args.tinytrain, "gate", "--fp32", args.fp32, "--int8", args.int8, "--id", "pair",
           "--dump-inputs", dump, "--out-json", report, "--mode", args.mode,
           "--samples", str(args.samples)]
    cmd += ["--data", args.data] if args.data else ["--seed", str(args.seed)]
    if args.budget is not None:
        cmd += ["--budget", str(args.budget)]
    print("$ " + " ".join(cmd))
    p = subprocess.run(cmd, capture_output=True, text=True)
    sys.stdout.write(p.stdout)
    sys.stderr.write(p.stderr)
    if p.returncode != 0 or not os.path.exists(report):
        die(f"tinytrain gate exited {p.returncode} without a report")
    with open(report, encoding="utf-8") as f:
        rep = json.load(f)
    rows = rep.get("models", [])
    if len(rows) != 1:
        die(f"{report}: expected one row, found {len(rows)}")
    if rows[0].get("status") not in ("pass", "fail"):
        die(f"{report}: the pair was not measured: {rows[0].get('status')}: "
            f"{rows[0].get('message')}")
    return rows[0]


def check_data(c, args, np, row, inputs, input_name):
    """The dumped samples are the file's first N, as numpy reads them."""
    with np.load(args.data) as z:
        name = input_name if input_name in z.files else (z.files[0] if len(z.files) == 1 else None)
        if name is None:
            die(f"{args.data}: no array '{input_name}' and not exactly one array: {z.files}")
        arr = z[name]
    want = arr[: sum(x.shape[0] for x in inputs)].astype(np.float32)
    got = np.concatenate(inputs) if inputs else np.zeros((0,), np.float32)
    with open(args.data, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    src = row.get("inputs", {})
    c.check("data", got.shape == want.shape and np.array_equal(got.view(np.uint32),
                                                               want.view(np.uint32))
            and src.get("source") == "file" and src.get("sha256") == sha
            and src.get("array") == name,
            f"dumped {got.shape} vs {args.data} '{name}'[:{want.shape[0]}] {want.shape}: "
            f"{'bit-identical' if got.shape == want.shape and np.array_equal(got, want) else 'DIFFERENT'}"
            f"; report inputs {src}")


def ort_session(path, ort, precise=True):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1  # deterministic summation order
    if precise:
        so.add_session_config_entry("session.x64quantprecision", "1")
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def ort_outputs(sess, inputs):
    name = sess.get_inputs()[0].name  # the seed's gate: first input, first output
    return [sess.run(None, {name: x})[0] for x in inputs]


def check_ort(args):
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError as e:
        print(f"SKIP: check_gate.py ort needs numpy and onnxruntime ({e}); "
              "pip install numpy onnxruntime")
        return SKIP
    os.makedirs(args.work, exist_ok=True)
    dump = os.path.join(args.work, "dump")
    report = os.path.join(args.work, "gate.json")
    row = run_gate(args, dump, report)
    c = Checks()

    files = sorted(glob.glob(os.path.join(dump, "pair", "input_*.npy")))
    inputs = [np.load(f) for f in files]
    c.check("inputs", len(inputs) == args.samples and hashlib.sha256(
        b"".join(x.astype("<f4").tobytes() for x in inputs)).hexdigest() == row["inputs_sha256"],
        f"{len(inputs)} dumped samples of shape {inputs[0].shape if inputs else None}, sha256 "
        f"{'equals' if inputs else 'vs'} the report's inputs_sha256")

    sess32 = ort_session(args.fp32, ort)
    if args.data:
        check_data(c, args, np, row, inputs, sess32.get_inputs()[0].name)
    y32 = ort_outputs(sess32, inputs)
    y8 = ort_outputs(ort_session(args.int8, ort), inputs)
    fp = np.concatenate([y.ravel() for y in y32]).astype(np.float64)
    q = np.concatenate([y.ravel() for y in y8]).astype(np.float64)
    worst = max(float(np.max(np.abs(a - b))) for a, b in zip(y32, y8))
    if fp.std() < 1e-12 or q.std() < 1e-12 or not (np.isfinite(fp).all() and np.isfinite(q).all()):
        die("ORT's outputs are constant or non-finite: PLCC is undefined; pick another pair")
    plcc = float(np.corrcoef(fp, q)[0, 1])
    drop = 1.0 - plcc
    tp, td = row["plcc"], row["drop"]
    c.check("plcc", tp is not None and abs(plcc - tp) <= PLCC_TOL,
            f"ORT {plcc:.9f}, tinytrain {tp if tp is None else f'{tp:.9f}'} "
            f"(|diff| {abs(plcc - tp) if tp is not None else float('nan'):.2e}, tolerance "
            f"{PLCC_TOL:g})")
    c.check("drop", td is not None and abs(drop - td) <= PLCC_TOL,
            f"ORT {drop:.9f}, tinytrain {td if td is None else f'{td:.9f}'}")
    budget = row["budget"]
    ort_pass = drop <= budget
    c.check("verdict", ort_pass == (row["status"] == "pass") or abs(drop - budget) <= PLCC_TOL,
            f"budget {budget}: ORT {'pass' if ort_pass else 'fail'}, tinytrain {row['status']}")
    c.note("worst_abs", f"ORT {worst:.6f}, tinytrain {row['worst_abs']}")
    y8d = ort_outputs(ort_session(args.int8, ort, precise=False), inputs)
    qd = np.concatenate([y.ravel() for y in y8d]).astype(np.float64)
    if qd.std() >= 1e-12 and np.isfinite(qd).all():
        c.note("ORT default session", f"PLCC {float(np.corrcoef(fp, qd)[0, 1]):.9f} (int8 kernels "
               "that may saturate on CPUs without VNNI; not the reference)")
    for which, ys in (("fp32", y32), ("int8", y8)):
        path = os.path.join(dump, "pair", f"{which}_output.npy")
        if os.path.exists(path):
            mine = np.load(path).reshape(-1)
            theirs = np.concatenate([y.ravel() for y in ys])
            c.note(f"{which} outputs", f"max |tinytrain - ORT| = "
                   f"{float(np.max(np.abs(mine - theirs))):.3g} over {mine.size} values")
    return c.finish()


# ---- schema ---------------------------------------------------------------------------------

def check_schema(args):
    try:
        import jsonschema
    except ImportError as e:
        print(f"SKIP: check_gate.py schema needs jsonschema ({e}); pip install jsonschema")
        return SKIP
    with open(args.schema, encoding="utf-8") as f:
        schema = json.load(f)
    c = Checks()
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
        c.check("schema", True, f"{args.schema} is valid draft 2020-12")
    except jsonschema.SchemaError as e:
        c.check("schema", False, f"{args.schema}: {e.message}")
        return c.finish()
    v = jsonschema.Draft202012Validator(schema)
    cases = sorted(glob.glob(os.path.join(args.cases, "*.json")))
    if not cases:
        die(f"no *.json cases in {args.cases}")
    for path in cases:
        name = os.path.basename(path)[:-5]
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        errors = sorted(v.iter_errors(doc), key=lambda e: list(e.path))
        want_valid = not name.startswith("bad_")
        detail = "valid" if not errors else f"invalid: {errors[0].message[:100]}"
        c.check(f"case {name}", (not errors) == want_valid,
                f"{detail} (expected {'valid' if want_valid else 'invalid'})")
    if args.registry:
        with open(args.registry, encoding="utf-8") as f:
            doc = json.load(f)
        errors = list(v.iter_errors(doc))
        c.check("registry", not errors,
                f"{args.registry}: " + ("valid" if not errors else errors[0].message))
    return c.finish()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    o = sub.add_parser("ort", help="tinytrain gate's numbers against ONNX Runtime")
    o.add_argument("--tinytrain", required=True)
    o.add_argument("--fp32", required=True)
    o.add_argument("--int8", required=True)
    o.add_argument("--work", required=True)
    o.add_argument("--budget", type=float)
    o.add_argument("--mode", default="int8", choices=["int8", "float"])
    o.add_argument("--samples", type=int, default=16)
    o.add_argument("--seed", type=int, default=0)
    o.add_argument("--data", help="an .npz of samples to gate on instead of drawn ones")
    s = sub.add_parser("schema", help="the registry schema against the shared cases")
    s.add_argument("--schema", required=True)
    s.add_argument("--cases", required=True)
    s.add_argument("--registry")
    args = ap.parse_args()
    for p in [getattr(args, k, None) for k in ("fp32", "int8", "schema", "cases", "registry",
                                               "data")]:
        if p and not os.path.exists(p):
            die(f"{p}: no such file or directory")
    sys.exit(check_ort(args) if args.cmd == "ort" else check_schema(args))


if __name__ == "__main__":
    main()
