#!/usr/bin/env python3
"""PyTorch's own QAT on a tinytrain config, compared with `tinytrain qat` on the same config.

Reads a tinytrain YAML config (docs/config.md) with an optional `qat:` block, builds the same model
and data pipeline in PyTorch through bench_fit.py (imported, not copied), and runs PyTorch's FX
graph-mode QAT recipe:

1. fp32 model: load tinytrain's fp32 checkpoint (`--warm-start CKPT.h5` or `qat.warm_start`;
   HDF5 /params/<name>, mapped to the PyTorch module names and shape-checked), or train
   `qat.epochs_fp32` epochs in PyTorch with bench_fit's pipeline.
2. prepare_qat_fx with get_default_qat_qconfig_mapping("x86") (Conv+BN(+ReLU) fused into
   ConvBn(ReLU)2d with simulated BN folding, per-channel symmetric int8 weights, per-tensor uint8
   activations with MovingAverageMinMax observers), then `qat.n_calibration` training samples
   forward in train mode with observers on and no optimizer step.
3. Fine-tune `qat.epochs_qat` epochs at `qat.lr_qat` with the config's optimizer and schedule;
   observers disabled from epoch `freeze_observers_epoch` on and BN statistics frozen from epoch
   `freeze_bn_epoch` on (torchvision's train_quantization.py pattern). The fake-quant model's
   test accuracy is evaluated after every epoch (eval mode, observers held still).
4. convert_fx to a real int8 model (x86 engine) and its test accuracy.
5. Step timing: mean time of a QAT fine-tune step against an fp32 training step of the same
   model and batch (PyTorch's own fake-quant overhead).

    python3 bench/bench_qat.py configs/fashion_cnn.yaml --warm-start RUN/last.h5 \\
        --tinytrain-report QATRUN/report.json --threads 2 --json qat_cnn.json

With --tinytrain-report it reads `tinytrain qat`'s report.json and prints fp32 and QAT accuracy
of both sides and PASS when tinytrain's QAT accuracy >= PyTorch's - 0.1 pt.

Needs python3 with torch (CPU), numpy, pyyaml, and h5py for --warm-start. Only `data.kind:
fashion_mnist` (classification) is supported, as in bench_fit.py; other kinds exit with status 2.
"""
import argparse
import copy
import json
import math
import os
import statistics
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_fit  # noqa: E402  (same directory; the model, data and optimizer builders)
from bench_fit import ConfigError  # noqa: E402

PASS_MARGIN_PT = 0.1

# tinytrain's per-type name prefixes (layers/model_spec.c), for the config types that hold
# parameters or buffers.
TT_PREFIX = {"linear": "fc", "conv2d": "conv", "batchnorm": "bn", "residual": "block"}

QAT_KEYS = ("epochs_fp32", "epochs_qat", "lr_qat", "warm_start", "n_calibration",
            "freeze_observers_epoch", "freeze_bn_epoch")


# ---- config ---------------------------------------------------------------------------------


def qat_settings(cfg, args):
    """The qat block with tinytrain's defaults, then the command-line overrides."""
    q = cfg.get("qat")
    if q is None:
        q = {}
    if not isinstance(q, dict):
        raise ConfigError("qat: must be a map")
    unknown = sorted(set(q) - set(QAT_KEYS))
    if unknown:
        # tinytrain's schema may grow; say so instead of failing, since only these keys matter here.
        print(f"note: qat keys not used by this bench: {', '.join(unknown)}", file=sys.stderr)
    o = bench_fit.opt_defaults(cfg.get("optimizer"))
    s = {
        "epochs_fp32": int(q.get("epochs_fp32", 20)),
        "epochs_qat": int(q.get("epochs_qat", 10)),
        "lr_qat": float(q.get("lr_qat", o["lr"] / 10.0)),
        "warm_start": q.get("warm_start"),
        "n_calibration": int(q.get("n_calibration", 64)),
        "freeze_observers_epoch": int(q.get("freeze_observers_epoch", 4)),
        "freeze_bn_epoch": int(q.get("freeze_bn_epoch", 3)),
    }
    if args.epochs_fp32 is not None:
        s["epochs_fp32"] = args.epochs_fp32
    if args.epochs_qat is not None:
        s["epochs_qat"] = args.epochs_qat
    if args.warm_start:
        s["warm_start"] = args.warm_start
    for k in ("n_calibration", "freeze_observers_epoch", "freeze_bn_epoch"):
        if getattr(args, k) is not None:
            s[k] = getattr(args, k)
    if s["epochs_qat"] < 1 or min(s[k] for k in ("epochs_fp32", "n_calibration",
                                                  "freeze_observers_epoch",
                                                  "freeze_bn_epoch")) < 0:
        raise ConfigError("need epochs_qat >= 1 and epochs_fp32, n_calibration, "
                          "freeze_observers_epoch, freeze_bn_epoch >= 0")
    if not s["warm_start"] and s["epochs_fp32"] < 1:
        raise ConfigError("no warm start and epochs_fp32 < 1: nothing to quantise")
    return s


# ---- data -----------------------------------------------------------------------------------


def load_data(cfg, max_train, max_test):
    """bench_fit's Fashion-MNIST pipeline, subsampled separately (first N samples) for training
    and test; the validation split is made before the subsampling, as in bench_fit."""
    import torch

    (xtr, ytr), _val, (xte, yte), pad_value = bench_fit.load_fashion(cfg, 0)
    if max_train:
        xtr, ytr = xtr[:max_train], ytr[:max_train]
    if max_test:
        xte, yte = xte[:max_test], yte[:max_test]
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    return t(xtr), t(ytr), t(xte), t(yte), pad_value


# ---- warm start -----------------------------------------------------------------------------


def tinytrain_name(cfg, key):
    """tinytrain's parameter name for a PyTorch state_dict key of bench_fit.build_model's model,
    or None when the key has no counterpart (num_batches_tracked)."""
    layers = cfg["model"]["layers"]
    parts = key.split(".")
    if cfg["model"].get("output", "none") == "clamp_residual":
        parts = parts[1:]  # ClampResidual(body): "body.<i>...."
    if parts[-1] == "num_batches_tracked":
        return None
    i = int(parts[0])
    t = layers[i]["type"]
    if t not in TT_PREFIX:
        raise ConfigError(f"state_dict key {key}: layer {i} ({t}) should hold no parameters")
    k = sum(1 for l in layers[: i + 1] if l.get("type") == t)
    rest = parts[1:]
    if t == "residual" and rest[0] == "shortcut":
        # nn.Sequential(conv, bn) in PyTorch, "shortcut.conv" / "shortcut.bn" in tinytrain
        rest = ["shortcut", {"0": "conv", "1": "bn"}[rest[1]]] + rest[2:]
    return ".".join([f"{TT_PREFIX[t]}{k}"] + rest)


def load_warm_start(model, cfg, path):
    """Copy tinytrain's fp32 checkpoint into `model`; every tensor must map one to one with the
    same shape, or this raises ConfigError listing what did not."""
    import torch

    try:
        import h5py
    except ImportError:
        sys.exit("--warm-start needs h5py: pip install h5py")
    if not os.path.exists(path):
        raise ConfigError(f"warm start {path}: no such file")
    with h5py.File(path, "r") as f:
        if "params" not in f:
            raise ConfigError(f"warm start {path}: no /params group (not a tinytrain checkpoint?)")
        ck = {}
        # Flat names ("fc1.weight") as tinytrain writes them; a nested group would read as dots.
        f["params"].visititems(lambda n, d: ck.__setitem__(n.replace("/", "."), np.asarray(d[()]))
                               if isinstance(d, h5py.Dataset) else None)
        meta = dict(f["meta"].attrs) if "meta" in f else {}
    sd = model.state_dict()
    new, missing, bad = {}, [], []
    used = set()
    for key, v in sd.items():
        name = tinytrain_name(cfg, key)
        if name is None:
            continue
        if name not in ck:
            missing.append(f"{name} (PyTorch {key}, {tuple(v.shape)})")
            continue
        used.add(name)
        a = ck[name]
        if tuple(a.shape) != tuple(v.shape):
            bad.append(f"{name}: checkpoint {tuple(a.shape)}, model {tuple(v.shape)} ({key})")
            continue
        new[key] = torch.from_numpy(a.astype(np.float32))
    extra = sorted(set(ck) - used)
    if missing or bad or extra:
        msg = [f"warm start {path} does not fit the model of this config:"]
        msg += [f"  missing in checkpoint: {m}" for m in missing]
        msg += [f"  shape mismatch: {b}" for b in bad]
        msg += [f"  not used by the model: {e} {tuple(ck[e].shape)}" for e in extra]
        raise ConfigError("\n".join(msg))
    model.load_state_dict(new, strict=False)
    out = {"path": path, "tensors": len(new)}
    for k in ("epoch", "step", "best", "format", "version"):
        if k in meta:
            v = meta[k]
            out[k] = v.decode() if isinstance(v, bytes) else v.item() if hasattr(v, "item") else v
    return out


# ---- training -------------------------------------------------------------------------------


def fake_quants(model):
    from torch.ao.quantization import FakeQuantizeBase

    return [m for m in model.modules() if isinstance(m, FakeQuantizeBase)]


def evaluate_fq(model, x, y):
    """Test metrics of the fake-quant model in eval mode. PyTorch's FakeQuantize modules keep
    updating their observers in eval mode while observer_enabled is set, so evaluating as is
    would fit the activation ranges to the test set; hold them still and restore them."""
    fqs = fake_quants(model)
    saved = [int(m.observer_enabled[0]) for m in fqs]
    for m in fqs:
        m.disable_observer()
    try:
        return bench_fit.evaluate(model, x, y)
    finally:
        for m, on in zip(fqs, saved):
            if on:
                m.enable_observer()


def calibrate(model, xtr, n, bs, gen):
    """n training samples (a random draw, no augmentation) forward in train mode with observers
    on and fake quantisation off, no gradient, no optimizer step: the observers see the fp32
    tensors, as in tinytrain's calibration (docs/qat.md). PyTorch's QAT itself has no such
    phase (every training forward updates the observers, and the first sets the ranges), so this
    only decides where the ranges start. BN running statistics are put back afterwards so that
    the observers are the only thing calibration changes, as in tinytrain, where BN is folded."""
    import torch
    import torch.nn as nn
    from torch.ao.quantization import disable_fake_quant, enable_fake_quant

    if n <= 0:
        return 0
    bn = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [{k: v.clone() for k, v in m.named_buffers(recurse=False)} for m in bn]
    idx = torch.randperm(len(xtr), generator=gen)[:n]
    model.train()
    model.apply(disable_fake_quant)
    try:
        with torch.no_grad():
            for i in range(0, len(idx), bs):
                model(xtr[idx[i : i + bs]])
    finally:
        model.apply(enable_fake_quant)
        with torch.no_grad():
            for m, buf in zip(bn, saved):
                for k, v in buf.items():
                    getattr(m, k).copy_(v)
    return len(idx)


def module_summary(model):
    kinds = {}
    for _, m in model.named_modules():
        k = type(m).__name__
        kinds[k] = kinds.get(k, 0) + 1
    return kinds


def loose_batchnorms(model):
    """BatchNorm modules not fused into a ConvBn* module: freeze_bn_stats does not reach them."""
    import torch.nn as nn

    fused_children = set()
    for _, m in model.named_modules():
        if type(m).__name__.startswith("ConvBn") and hasattr(m, "bn"):
            fused_children.add(id(m.bn))
    return [n for n, m in model.named_modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and id(m) not in fused_children]


# ---- step timing ----------------------------------------------------------------------------


def time_steps(variants, xb_list, yb_list, opt_cfg, lr, steps, warmup, rounds):
    """Mean and median wall time of one training step (forward, cross-entropy, backward,
    optimizer step; fixed pre-gathered batches, no augmentation) for each model in `variants`,
    each on its own copy and optimizer. Rounds interleave the variants, rotating which goes
    first, so background load falls on all of them."""
    import torch
    import torch.nn.functional as F

    o = dict(opt_cfg, lr=lr)
    runs = {}
    for name, m in variants.items():
        mc = copy.deepcopy(m)
        mc.train()
        runs[name] = (mc, bench_fit.make_optimizer(mc.parameters(), o), [])
    names = list(variants)
    nb = len(xb_list)

    def step(mc, opt, j):
        loss = F.cross_entropy(mc(xb_list[j % nb]), yb_list[j % nb])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()

    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            mc, opt, times = runs[name]
            for j in range(warmup):
                step(mc, opt, j)
            for j in range(steps):
                t0 = time.perf_counter()
                step(mc, opt, j)
                times.append(time.perf_counter() - t0)
    out = {}
    for name in names:
        t = runs[name][2]
        out[name] = {"steps": len(t), "mean_ms": 1e3 * statistics.mean(t),
                     "median_ms": 1e3 * statistics.median(t), "min_ms": 1e3 * min(t)}
    return out


# ---- the recipe -----------------------------------------------------------------------------


def run(cfg, q, args):
    import torch
    import torch.ao.nn.intrinsic.qat as nniqat
    from torch.ao.quantization import disable_observer, get_default_qat_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_qat_fx

    torch.set_num_threads(args.threads)
    torch.backends.quantized.engine = "x86"
    seed = int(cfg.get("seed", 0)) if args.seed is None else args.seed
    torch.manual_seed(seed)
    bs = int(cfg.get("batch_size", 128))
    clip = float(cfg.get("grad_clip", 0.0))
    o = bench_fit.opt_defaults(cfg.get("optimizer"))
    s = bench_fit.sched_defaults(cfg.get("schedule"))
    aug = cfg["data"].get("augment") or {}
    pad, hflip = int(aug.get("crop_padding", 0)), bool(aug.get("hflip", False))

    xtr, ytr, xte, yte, pad_value = load_data(cfg, args.max_train, args.max_test)
    if (pad or hflip) and xtr.dim() != 4:
        raise ConfigError("data.augment needs image samples: model.input [1, 28, 28]")
    data = (xtr, ytr, pad, hflip, pad_value)
    model, out_shape = bench_fit.build_model(cfg)
    if len(out_shape) != 1:
        raise ConfigError(f"a classifier must end in [N, classes]; the model ends in {out_shape}")
    nparams = sum(p.numel() for p in model.parameters())
    n = len(xtr)
    bs = min(bs, n)
    spe = (n + bs - 1) // bs
    gen = torch.Generator().manual_seed(seed)
    res = {"seed": seed, "batch_size": bs, "steps_per_epoch": spe, "parameters": nparams,
           "train_samples": n, "test_samples": len(xte), "settings": q}
    print(f"PyTorch {torch.__version__} QAT: {cfg.get('name', '?')}, {nparams} parameters, "
          f"batch {bs}, {spe} steps/epoch, {n} train / {len(xte)} test samples, "
          f"{args.threads} threads, seed {seed}", flush=True)

    # 1. fp32 model
    fp32 = {}
    model.train()
    if q["warm_start"]:
        fp32["warm_start"] = load_warm_start(model, cfg, q["warm_start"])
        fp32["epochs"] = 0
        print(f"fp32: loaded {fp32['warm_start']['tensors']} tensors from {q['warm_start']}"
              + (f" (tinytrain epoch {fp32['warm_start']['epoch']})"
                 if "epoch" in fp32["warm_start"] else ""), flush=True)
    else:
        ep_fp32 = q["epochs_fp32"]
        opt = bench_fit.make_optimizer(model.parameters(), o)
        sch = bench_fit.make_scheduler(opt, s, ep_fp32, spe)
        hist = []
        for ep in range(ep_fp32):
            loss, secs = bench_fit.train_epoch(model, opt, sch, data, bs, clip, gen)
            t = bench_fit.evaluate(model, xte, yte)
            hist.append({"epoch": ep + 1, "lr": opt.param_groups[0]["lr"], "train_loss": loss,
                         "seconds": secs, "test": t})
            print(f"fp32 epoch {ep + 1:<2} train loss {loss:.4f}  test accuracy "
                  f"{t['accuracy']:.2f}%  {secs:.1f} s", flush=True)
        fp32["epochs"] = ep_fp32
        fp32["history"] = hist
    fp32["test"] = bench_fit.evaluate(model, xte, yte)
    res["fp32"] = fp32
    print(f"fp32 test accuracy {fp32['test']['accuracy']:.2f}% (loss "
          f"{fp32['test']['loss']:.4f})", flush=True)
    model_fp32 = copy.deepcopy(model)

    # 2. prepare + calibration
    model.train()
    qmap = get_default_qat_qconfig_mapping("x86")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation notices
        qm = prepare_qat_fx(model, qmap, (xtr[:1],))
    g = qmap.global_qconfig
    res["qconfig"] = {"activation": repr(g.activation), "weight": repr(g.weight),
                      "engine": torch.backends.quantized.engine}
    res["prepared_modules"] = module_summary(qm)
    loose = loose_batchnorms(qm)
    if loose:
        res["unfused_batchnorms"] = loose
        print(f"note: BatchNorm not fused into a conv (freeze_bn_stats does not freeze it): "
              f"{', '.join(loose)}", flush=True)
    ncal = calibrate(qm, xtr, q["n_calibration"], bs, gen)
    res["calibration_samples"] = ncal
    res["after_calibration"] = {"test": evaluate_fq(qm, xte, yte)}
    print(f"prepared ({res['prepared_modules'].get('FusedMovingAvgObsFakeQuantize', 0)} "
          f"fake-quant modules), calibrated on {ncal} samples: fake-quant test accuracy "
          f"{res['after_calibration']['test']['accuracy']:.2f}%", flush=True)

    # 5 (first, on copies taken now). step timing: fp32, QAT with observers and BN updating
    # (fine-tune's first epochs), QAT with both frozen (its last epochs).
    if args.time_steps > 0:
        frozen = copy.deepcopy(qm)
        frozen.apply(disable_observer)
        frozen.apply(nniqat.freeze_bn_stats)
        tg = torch.Generator().manual_seed(seed + 1)
        perm = torch.randperm(n, generator=tg)
        nb = min(4, spe)
        xbs = [xtr[perm[i * bs : (i + 1) * bs]] for i in range(nb)]
        ybs = [ytr[perm[i * bs : (i + 1) * bs]] for i in range(nb)]
        print(f"timing steps: {args.time_rounds} rounds x {args.time_steps} steps per variant "
              f"(batch {bs}) ...", flush=True)
        st = time_steps({"fp32": model_fp32, "qat_observing": qm, "qat_frozen": frozen},
                        xbs, ybs, o, q["lr_qat"], args.time_steps, 5, args.time_rounds)
        base = st["fp32"]
        for k in ("qat_observing", "qat_frozen"):
            st[k]["ratio_mean_vs_fp32"] = st[k]["mean_ms"] / base["mean_ms"]
            st[k]["ratio_median_vs_fp32"] = st[k]["median_ms"] / base["median_ms"]
        res["step_timing"] = st
        del frozen
        for k, v in st.items():
            extra = (f"  x{v['ratio_mean_vs_fp32']:.2f} of fp32 (median x"
                     f"{v['ratio_median_vs_fp32']:.2f})" if k != "fp32" else "")
            print(f"  {k:<14} mean {v['mean_ms']:.2f} ms  median {v['median_ms']:.2f} ms{extra}",
                  flush=True)

    # 3. fine-tune
    ep_qat = q["epochs_qat"]
    oq = dict(o, lr=q["lr_qat"])
    opt = bench_fit.make_optimizer(qm.parameters(), oq)
    sch = bench_fit.make_scheduler(opt, s, ep_qat, spe)
    hist = []
    qm.train()
    for ep in range(ep_qat):
        observing = ep < q["freeze_observers_epoch"]
        bn_live = ep < q["freeze_bn_epoch"]
        if not observing:
            qm.apply(disable_observer)
        if not bn_live:
            qm.apply(nniqat.freeze_bn_stats)
        loss, secs = bench_fit.train_epoch(qm, opt, sch, data, bs, clip, gen)
        t = evaluate_fq(qm, xte, yte)
        hist.append({"epoch": ep + 1, "lr": opt.param_groups[0]["lr"], "train_loss": loss,
                     "seconds": secs, "observers": observing, "bn_stats_update": bn_live,
                     "test": t})
        print(f"qat epoch {ep + 1:<2} train loss {loss:.4f}  fake-quant test accuracy "
              f"{t['accuracy']:.2f}%  {secs:.1f} s  (observers {'on' if observing else 'off'}, "
              f"BN stats {'updating' if bn_live else 'frozen'})", flush=True)
    res["qat"] = {"epochs": ep_qat, "lr": q["lr_qat"], "history": hist,
                  "fake_quant_test": hist[-1]["test"]}
    if fp32.get("history"):
        mf = statistics.mean(h["seconds"] for h in fp32["history"])
        mq = statistics.mean(h["seconds"] for h in hist)
        res["epoch_time_ratio_qat_vs_fp32"] = mq / mf

    # 4. int8
    qm.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qi = convert_fx(copy.deepcopy(qm))
    res["int8_test"] = bench_fit.evaluate(qi, xte, yte)
    print(f"int8 (convert_fx, x86 engine) test accuracy {res['int8_test']['accuracy']:.2f}%",
          flush=True)
    return res


# ---- comparison -----------------------------------------------------------------------------


def dig(d, path):
    for k in path.split("."):
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def first(rep, paths):
    """(value, path) of the first numeric path present in rep (a number or a map with an
    accuracy), else (None, None)."""
    for p in paths:
        v = dig(rep, p)
        if isinstance(v, dict):
            v = v.get("accuracy")
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v), p
    return None, None


def read_epoch_seconds(run_dir):
    p = os.path.join(run_dir, "metrics.jsonl")
    secs = []
    if os.path.exists(p):
        with open(p, "r", encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    rec = json.loads(line)
                    if "seconds" in rec:
                        secs.append(float(rec["seconds"]))
    return secs


def read_tinytrain(path):
    with open(path, "r", encoding="utf-8") as f:
        rep = json.load(f)
    out = {"report": path}
    for what, paths in (
        ("fp32", ["qat.fp32.accuracy", "qat.fp32.test.accuracy", "qat.fp32"]),
        ("fake_quant", ["qat.fake_quant.accuracy", "qat.fake_quant.test.accuracy",
                        "qat.fake_quant", "final_test.accuracy"]),
        ("int8", ["qat.int8.accuracy", "qat.int8.test.accuracy", "qat.int8",
                  "qat.exported_int8.accuracy", "qat.exported_int8"]),
        ("step_time_ratio", ["qat.step_time_ratio", "qat.fake_quant_overhead",
                             "qat.overhead.step_time_ratio", "qat.timing.step_time_ratio"]),
    ):
        v, p = first(rep, paths)
        out[what] = v
        out[what + "_key"] = p
    out["epochs_qat"] = dig(rep, "qat.epochs_qat") or dig(rep, "qat.epochs")
    out["parameters"] = rep.get("parameters")
    prov = rep.get("run_provenance", {})
    argv = prov.get("argv") or []
    # Epoch times (training loop only) of the fine-tune and, when found, of the fp32 run it
    # started from: its metrics.jsonl beside the warm-start checkpoint (OUT/fp32/ for phase 1).
    out["qat_epoch_seconds"] = read_epoch_seconds(os.path.dirname(path))
    ws = dig(rep, "qat.warm_start")
    out["warm_start"] = ws
    out["fp32_epoch_seconds"] = read_epoch_seconds(os.path.dirname(ws)) if ws else []
    out["command"] = argv[1] if len(argv) > 1 else None
    if out["command"] == "fit" and out["fake_quant_key"] == "final_test.accuracy":
        # A `tinytrain fit` report: its final_test is the fp32 model's, not a QAT accuracy.
        out["fp32"], out["fp32_key"] = out["fake_quant"], "final_test.accuracy (fit report)"
        out["fake_quant"], out["fake_quant_key"] = None, None
    out["threads"] = prov.get("threads")
    out["git_revision"] = prov.get("git_revision")
    return out


def compare(res, tt, args):
    pf = res["fp32"]["test"]["accuracy"]
    pq = res["qat"]["fake_quant_test"]["accuracy"]
    pi = res["int8_test"]["accuracy"]
    f = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    c = {"pytorch_fp32": pf, "pytorch_fake_quant": pq, "pytorch_int8": pi,
         "tinytrain_fp32": tt["fp32"], "tinytrain_fake_quant": tt["fake_quant"],
         "tinytrain_int8": tt["int8"]}
    notes = []
    if tt["fake_quant"] is None:
        notes.append("no QAT accuracy in the tinytrain report (looked for qat.fake_quant.accuracy "
                     "and, in a report not made by `tinytrain fit`, final_test.accuracy): "
                     "no verdict")
        verdict = None
    else:
        c["qat_diff_pt"] = tt["fake_quant"] - pq
        verdict = tt["fake_quant"] >= pq - PASS_MARGIN_PT - 1e-9
        if tt["fake_quant_key"] == "final_test.accuracy" and tt["command"] != "qat":
            notes.append("tinytrain QAT accuracy taken from final_test.accuracy of a report "
                         "not made by `tinytrain qat`")
    c["pass"] = verdict
    if tt["epochs_qat"] is not None and int(tt["epochs_qat"]) != res["qat"]["epochs"]:
        notes.append(f"tinytrain fine-tuned {tt['epochs_qat']} epochs, PyTorch "
                     f"{res['qat']['epochs']}")
    # A qat report counts the BN-folded graph's parameters; only a fit report's compare.
    if (tt["command"] == "fit" and tt["parameters"] is not None
            and tt["parameters"] != res["parameters"]):
        notes.append(f"parameter counts differ: tinytrain {tt['parameters']}, PyTorch "
                     f"{res['parameters']}")
    if args.max_train or args.max_test:
        notes.append("PyTorch ran on a subsample (--max-train/--max-test): not comparable")
    if not res["fp32"].get("warm_start"):
        notes.append("PyTorch trained its own fp32 model: the two sides start from different "
                     "fp32 weights (use --warm-start with tinytrain's checkpoint to share them)")
    c["notes"] = notes
    verdict_s = "-" if verdict is None else "PASS" if verdict else "FAIL"
    print()
    print("| config | tinytrain fp32 % | PyTorch fp32 % | tinytrain QAT % | PyTorch QAT % "
          "| diff (pt) | tinytrain int8 % | PyTorch int8 % | tinytrain QAT >= PyTorch - 0.1 |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|:-:|")
    diff = c.get("qat_diff_pt")
    print(f"| {res['name']} | {f(tt['fp32'])} | {pf:.2f} | {f(tt['fake_quant'])} | {pq:.2f} | "
          f"{'-' if diff is None else f'{diff:+.2f}'} | {f(tt['int8'])} | {pi:.2f} | "
          f"{verdict_s} |")
    st = res.get("step_timing")
    if st or tt["step_time_ratio"] is not None:
        pr = st["qat_observing"]["ratio_mean_vs_fp32"] if st else None
        prf = st["qat_frozen"]["ratio_mean_vs_fp32"] if st else None
        print(f"QAT step / fp32 step: tinytrain {f(tt['step_time_ratio'])}, PyTorch "
              f"{f(pr)} (observers on) / {f(prf)} (observers and BN frozen)")
    if tt["qat_epoch_seconds"] and tt["fp32_epoch_seconds"]:
        mq = statistics.mean(tt["qat_epoch_seconds"])
        mf = statistics.mean(tt["fp32_epoch_seconds"])
        c["tinytrain_epoch_time_ratio_qat_vs_fp32"] = mq / mf
        print(f"tinytrain epoch time (metrics.jsonl, training loop): fine-tune {mq:.2f} s, fp32 "
              f"{mf:.2f} s, ratio {mq / mf:.2f}")
    if res.get("epoch_time_ratio_qat_vs_fp32") is not None:
        print(f"PyTorch epoch time ratio fine-tune / fp32: "
              f"{res['epoch_time_ratio_qat_vs_fp32']:.2f}")
    for n in notes:
        print(f"note: {n}")
    return c


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("config", help="tinytrain YAML config (docs/config.md), qat block optional")
    ap.add_argument("--warm-start", help="tinytrain fp32 checkpoint (.h5) to start from "
                    "(overrides qat.warm_start); without either, PyTorch trains fp32 first")
    ap.add_argument("--tinytrain-report", help="RUN/report.json of `tinytrain qat` on the config")
    ap.add_argument("--epochs-fp32", type=int, help="override qat.epochs_fp32")
    ap.add_argument("--epochs-qat", type=int, help="override qat.epochs_qat")
    ap.add_argument("--warm-start-from-report", action="store_true",
                    help="use the fp32 checkpoint the tinytrain report names (qat.warm_start: "
                    "given, or OUT/fp32/last.h5 from its phase 1), so both sides quantise the "
                    "same fp32 weights")
    ap.add_argument("--n-calibration", type=int, help="override qat.n_calibration")
    ap.add_argument("--freeze-observers-epoch", type=int,
                    help="override qat.freeze_observers_epoch")
    ap.add_argument("--freeze-bn-epoch", type=int, help="override qat.freeze_bn_epoch")
    ap.add_argument("--seed", type=int, help="override the config's seed")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--max-train", type=int, default=0, help="first N training samples only")
    ap.add_argument("--max-test", type=int, default=0, help="first N test samples only")
    ap.add_argument("--time-steps", type=int, default=30,
                    help="timed steps per variant per round for the step timing (0: skip)")
    ap.add_argument("--time-rounds", type=int, default=3, help="step-timing rounds (default 3)")
    ap.add_argument("--json", help="write every measurement to this JSON file")
    args = ap.parse_args()

    try:
        cfg = bench_fit.load_config(args.config)
        d = cfg.get("data") or {}
        kind, task = d.get("kind"), cfg.get("task", "classification")
        if kind != "fashion_mnist" or task != "classification":
            print(f"{args.config}: data.kind {kind!r} (task {task!r}) is not supported by this "
                  "bench; it handles data.kind fashion_mnist (classification) only",
                  file=sys.stderr)
            return 2
        if cfg.get("loss", "cross_entropy") != "cross_entropy":
            print(f"{args.config}: loss {cfg['loss']!r} is not supported by this bench "
                  "(cross_entropy only)", file=sys.stderr)
            return 2
        if args.warm_start_from_report:
            if args.warm_start:
                raise ConfigError("give --warm-start or --warm-start-from-report, not both")
            if not args.tinytrain_report:
                raise ConfigError("--warm-start-from-report needs --tinytrain-report")
            with open(args.tinytrain_report, "r", encoding="utf-8") as f:
                ws = dig(json.load(f), "qat.warm_start")
            if not ws:
                raise ConfigError(f"{args.tinytrain_report}: no qat.warm_start to start from")
            args.warm_start = ws
        q = qat_settings(cfg, args)
        res = run(cfg, q, args)
    except ConfigError as e:
        print(f"{args.config}: {e}", file=sys.stderr)
        return 1

    name = cfg.get("name") or os.path.splitext(os.path.basename(args.config))[0]
    res["name"] = name
    out = {"config": args.config, "name": name, "threads": args.threads,
           "max_train": args.max_train, "max_test": args.max_test,
           "machine": bench_fit.machine(), "pytorch": res}
    print(f"done: PyTorch fp32 {res['fp32']['test']['accuracy']:.2f}%, fake-quant "
          f"{res['qat']['fake_quant_test']['accuracy']:.2f}%, int8 "
          f"{res['int8_test']['accuracy']:.2f}%")
    if args.tinytrain_report:
        tt = read_tinytrain(args.tinytrain_report)
        out["tinytrain"] = tt
        out["comparison"] = compare(res, tt, args)
    m = out["machine"]
    print(f"machine: {m['cpu']}, {m['usable_cpus']} usable CPUs, Python {m['python']}, torch "
          f"{m['torch']}, load average {m['loadavg'][0]:.2f}, {m['utc']} UTC")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
