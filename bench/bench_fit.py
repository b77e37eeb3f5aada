#!/usr/bin/env python3
"""Train a tinytrain config in PyTorch and compare accuracy and epoch time with tinytrain's run.

Reads a `tinytrain fit` YAML config (docs/config.md), builds the same model in PyTorch (same
layers, PyTorch's default initialisation, which tinytrain's layer builders reproduce in
distribution), and trains it with the same data pipeline and hyper-parameters: normalisation,
crop/flip augmentation, validation split, optimizer, learning-rate schedule stepped per batch,
batch size (drop_last=False), epochs, seed, gradient clipping and cross-entropy loss. It evaluates
test accuracy after every epoch and times every epoch's training loop alone (batching and
augmentation included, evaluation excluded), as `tinytrain fit` does for metrics.jsonl's
"seconds".

    python3 bench/bench_fit.py configs/fashion_mlp.yaml \\
        --tinytrain-report runs/fashion_mlp/report.json --threads 2

With --tinytrain-report it reads tinytrain's report.json (final_test.accuracy) and the
metrics.jsonl beside it (per-epoch "seconds") and prints a comparison table: accuracy
difference (within 0.3 pt or not) and the epoch-time ratio tinytrain / PyTorch (< 1: tinytrain
is faster).

Needs python3 with torch (CPU), numpy and pyyaml. Only `data.kind: fashion_mnist`
(classification) is supported; other kinds exit with status 2.
"""
import argparse
import gzip
import json
import math
import os
import platform
import statistics
import sys
import time

import numpy as np

# ---- config ---------------------------------------------------------------------------------

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"


class ConfigError(Exception):
    pass


def load_config(path):
    try:
        import yaml
    except ImportError:
        sys.exit("bench_fit.py needs pyyaml: pip install pyyaml")
    with open(path, "r", encoding="utf-8") as f:
        c = yaml.safe_load(f)
    if not isinstance(c, dict):
        raise ConfigError(f"{path}: not a YAML map")
    return c


def opt_defaults(o):
    """optimizer map with tinytrain's defaults filled in (docs/config.md)."""
    o = dict(o or {"kind": "sgd", "lr": 0.01})
    kind = o.setdefault("kind", "sgd")
    if kind not in ("sgd", "adam", "adamw"):
        raise ConfigError(f"optimizer.kind {kind!r} is not sgd, adam or adamw")
    o.setdefault("lr", 0.01 if kind == "sgd" else 0.001)
    o.setdefault("weight_decay", 0.01 if kind == "adamw" else 0.0)
    if kind == "sgd":
        o.setdefault("momentum", 0.0)
        o.setdefault("nesterov", False)
        o.setdefault("dampening", 0.0)
    else:
        o.setdefault("betas", [0.9, 0.999])
        o.setdefault("eps", 1e-8)
    return o


def sched_defaults(s):
    s = dict(s or {"kind": "constant"})
    kind = s.setdefault("kind", "constant")
    if kind not in ("constant", "step", "cosine"):
        raise ConfigError(f"schedule.kind {kind!r} is not constant, step or cosine")
    if kind == "step":
        s.setdefault("step_epochs", 10)
        s.setdefault("gamma", 0.1)
    if kind == "cosine":
        s.setdefault("eta_min", 0.0)
    s.setdefault("warmup_epochs", 0)
    s.setdefault("warmup_start", 0.1)
    return s


# ---- data -----------------------------------------------------------------------------------


def read_idx_gz(path):
    """An IDX file (gzip-compressed) as a numpy array; only the ubyte type occurs here."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ConfigError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    off = 4 + 4 * ndim
    n = int(np.prod(dims))
    if len(raw) - off != n:
        raise ConfigError(f"{path}: {len(raw) - off} data bytes, header says {n}")
    return np.frombuffer(raw, dtype=np.uint8, offset=off).reshape(dims)


def stratified_val_split(labels, fraction, seed):
    """Indices (train, val): n_val = round(n * fraction) with each class's share given by largest
    remainder, as tt_dataset_split does. The samples picked differ from tinytrain's (another RNG),
    the class counts do not."""
    n = len(labels)
    n_val = int(math.floor(n * fraction + 0.5))
    if n_val == 0:
        return np.arange(n), np.arange(0)
    nc = int(labels.max()) + 1
    count = np.bincount(labels, minlength=nc)
    quota = count * n_val // n
    rem = count * n_val % n
    given = int(quota.sum())
    while given < n_val:
        best = -1
        for c in range(nc):
            if rem[c] > 0 and (best < 0 or rem[c] > rem[best]):
                best = c
        quota[best] += 1
        rem[best] = 0
        given += 1
    rng = np.random.default_rng(seed)
    is_val = np.zeros(n, dtype=bool)
    for c in range(nc):
        pool = np.flatnonzero(labels == c)
        is_val[rng.choice(pool, size=int(quota[c]), replace=False)] = True
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def load_fashion(cfg, limit):
    d = cfg["data"]
    root = d.get("dir", DEFAULT_DIR)
    files = {
        "xtr": "train-images-idx3-ubyte.gz",
        "ytr": "train-labels-idx1-ubyte.gz",
        "xte": "t10k-images-idx3-ubyte.gz",
        "yte": "t10k-labels-idx1-ubyte.gz",
    }
    a = {}
    for k, name in files.items():
        p = os.path.join(root, name)
        if not os.path.exists(p):
            raise ConfigError(f"{p}: missing (Debian package dataset-fashion-mnist, or data.dir)")
        a[k] = read_idx_gz(p)
    shape = list(cfg["model"]["input"])
    if shape not in ([1, 28, 28], [784]):
        raise ConfigError(f"model.input {shape}: fashion_mnist needs [1, 28, 28] or [784]")
    norm = d.get("normalize")
    mean = [0.0]
    std = [1.0]
    if norm:
        mean, std = list(norm["mean"]), list(norm["std"])
        if len(mean) != 1 or len(std) != 1:
            raise ConfigError("data.normalize: Fashion-MNIST has one channel, give one mean/std")

    def prep(x):
        # Single-precision arithmetic in tinytrain's order: v / 255, then (v - mean) / std.
        x = x.astype(np.float32) / np.float32(255.0)
        if norm:
            x = (x - np.float32(mean[0])) / np.float32(std[0])
        return x.reshape([x.shape[0]] + shape)

    xtr, ytr = prep(a["xtr"]), a["ytr"].astype(np.int64)
    xte, yte = prep(a["xte"]), a["yte"].astype(np.int64)
    tr_idx, va_idx = stratified_val_split(ytr, float(d.get("val_split", 0.0)), cfg.get("seed", 0))
    xva, yva = xtr[va_idx], ytr[va_idx]
    xtr, ytr = xtr[tr_idx], ytr[tr_idx]
    if limit:
        xtr, ytr = xtr[:limit], ytr[:limit]
        xte, yte = xte[:limit], yte[:limit]
        xva, yva = xva[:limit], yva[:limit]
    pad_value = (0.0 - mean[0]) / std[0] if norm else 0.0
    return (xtr, ytr), (xva, yva), (xte, yte), np.float32(pad_value)


# ---- model ----------------------------------------------------------------------------------


def build_model(cfg):
    import torch
    import torch.nn as nn

    class Residual(nn.Module):
        """conv3x3(stride)-BN-ReLU-conv3x3-BN + shortcut (1x1 conv-BN when the stride or the
        channel count changes), then ReLU; convolutions without bias, BN eps 1e-5 momentum 0.1,
        as tt_layer_residual_block."""

        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.shortcut = None
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
                )

        def forward(self, x):
            y = torch.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            s = x if self.shortcut is None else self.shortcut(x)
            return torch.relu(y + s)

    class ClampResidual(nn.Module):
        def __init__(self, body):
            super().__init__()
            self.body = body

        def forward(self, x):
            return torch.clamp(x + self.body(x), 0.0, 1.0)

    def out_size(n, k, s, p, dil=1):
        return (n + 2 * p - dil * (k - 1) - 1) // s + 1

    m = cfg["model"]
    shape = list(m["input"])
    mods = []
    for i, l in enumerate(m["layers"]):
        t = l.get("type")
        where = f"model.layers[{i}] ({t})"
        if t == "linear":
            if len(shape) != 1:
                raise ConfigError(f"{where}: input is {shape}; add a flatten layer first")
            of = int(l["out_features"])
            mods.append(nn.Linear(shape[0], of, bias=bool(l.get("bias", True))))
            shape = [of]
        elif t == "conv2d":
            if len(shape) != 3:
                raise ConfigError(f"{where}: needs [C, H, W] input, got {shape}")
            k, s = int(l.get("kernel", 3)), int(l.get("stride", 1))
            p, dil = int(l.get("padding", 0)), int(l.get("dilation", 1))
            oc = int(l["out_channels"])
            mods.append(
                nn.Conv2d(shape[0], oc, k, stride=s, padding=p, dilation=dil,
                          groups=int(l.get("groups", 1)), bias=bool(l.get("bias", True)))
            )
            shape = [oc, out_size(shape[1], k, s, p, dil), out_size(shape[2], k, s, p, dil)]
        elif t == "batchnorm":
            eps, mom = float(l.get("eps", 1e-5)), float(l.get("momentum", 0.1))
            bn = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
            mods.append(bn(shape[0], eps=eps, momentum=mom))
        elif t == "relu":
            mods.append(nn.ReLU())
        elif t == "relu6":
            mods.append(nn.ReLU6())
        elif t == "sigmoid":
            mods.append(nn.Sigmoid())
        elif t == "tanh":
            mods.append(nn.Tanh())
        elif t == "leaky_relu":
            mods.append(nn.LeakyReLU(float(l.get("alpha", 0.01))))
        elif t == "flatten":
            mods.append(nn.Flatten())
            shape = [int(np.prod(shape))]
        elif t == "global_avgpool":
            if len(shape) != 3:
                raise ConfigError(f"{where}: needs [C, H, W] input, got {shape}")
            mods.append(nn.AdaptiveAvgPool2d(1))  # [N, C, 1, 1], as tinytrain's GAP
            shape = [shape[0], 1, 1]
        elif t in ("maxpool", "avgpool"):
            if len(shape) != 3:
                raise ConfigError(f"{where}: needs [C, H, W] input, got {shape}")
            k = int(l.get("kernel", 2))
            s = int(l.get("stride", k))
            p = int(l.get("padding", 0))
            # AvgPool2d's default count_include_pad=True is tinytrain's convention too.
            pool = nn.MaxPool2d if t == "maxpool" else nn.AvgPool2d
            mods.append(pool(k, stride=s, padding=p))
            shape = [shape[0], out_size(shape[1], k, s, p), out_size(shape[2], k, s, p)]
        elif t == "dropout":
            mods.append(nn.Dropout(float(l.get("ratio", 0.5))))
        elif t == "residual":
            if len(shape) != 3:
                raise ConfigError(f"{where}: needs [C, H, W] input, got {shape}")
            oc, s = int(l["out_channels"]), int(l.get("stride", 1))
            mods.append(Residual(shape[0], oc, s))
            shape = [oc, out_size(shape[1], 3, s, 1), out_size(shape[2], 3, s, 1)]
        else:
            raise ConfigError(f"{where}: unknown layer type {t!r}")
    body = nn.Sequential(*mods)
    if m.get("output", "none") == "clamp_residual":
        return ClampResidual(body), shape
    return body, shape


# ---- optimizer and schedule -----------------------------------------------------------------


def make_optimizer(params, o):
    import torch

    if o["kind"] == "sgd":
        return torch.optim.SGD(params, lr=o["lr"], momentum=o["momentum"],
                               dampening=o["dampening"], weight_decay=o["weight_decay"],
                               nesterov=bool(o["nesterov"]))
    cls = torch.optim.Adam if o["kind"] == "adam" else torch.optim.AdamW
    return cls(params, lr=o["lr"], betas=tuple(o["betas"]), eps=o["eps"],
               weight_decay=o["weight_decay"])


def make_scheduler(opt, s, epochs, spe):
    """PyTorch's schedulers stepped once per batch: StepLR(step_epochs * spe), CosineAnnealingLR
    (T_max = epochs * spe), and warm-up as LinearLR chained with them (the main schedule keeps
    counting during warm-up), the convention autograd/schedule.c documents. None: constant."""
    import torch.optim.lr_scheduler as L

    scheds = []
    if s["kind"] == "step":
        scheds.append(L.StepLR(opt, step_size=max(1, s["step_epochs"] * spe), gamma=s["gamma"]))
    elif s["kind"] == "cosine":
        scheds.append(L.CosineAnnealingLR(opt, T_max=epochs * spe, eta_min=s["eta_min"]))
    warm = int(s["warmup_epochs"]) * spe
    if warm > 0:
        scheds.append(L.LinearLR(opt, start_factor=s["warmup_start"], end_factor=1.0,
                                 total_iters=warm))
    if not scheds:
        return None
    if len(scheds) == 1:
        return scheds[0]
    return L.ChainedScheduler(scheds, optimizer=opt)


def closed_form_lr(o, s, epochs, spe, t):
    """tt_schedule_lr (autograd/schedule.c) in double precision, for the self-check."""
    base = o["lr"]
    if s["kind"] == "constant":
        lr = base
    elif s["kind"] == "step":
        lr = base * s["gamma"] ** (t // max(1, s["step_epochs"] * spe))
    else:
        eta, tmax = s["eta_min"], epochs * spe
        lr = eta + (base - eta) * (1 + math.cos(math.pi * t / tmax)) / 2
    warm = int(s["warmup_epochs"]) * spe
    if t < warm:
        ws = s["warmup_start"]
        lr *= ws + (1 - ws) * t / warm
    return lr


def check_schedule(o, s, epochs, spe):
    """Max relative gap between PyTorch's per-step learning rates and tinytrain's closed form over
    the whole run (a dummy parameter: no training)."""
    import torch

    p = torch.nn.Parameter(torch.zeros(1))
    opt = make_optimizer([p], o)
    sch = make_scheduler(opt, s, epochs, spe)
    worst = 0.0
    for t in range(epochs * spe):
        lr = opt.param_groups[0]["lr"]
        ref = closed_form_lr(o, s, epochs, spe, t)
        worst = max(worst, abs(lr - ref) / max(abs(ref), 1e-12))
        opt.step()
        if sch:
            sch.step()
    return worst


# ---- training -------------------------------------------------------------------------------


def augment_batch(x, pad, hflip, pad_value, gen):
    """Random crop (zero-pixel padding of `pad` on each side, offsets uniform in 0..2*pad) and
    horizontal flip with probability 1/2, per sample, as tinytrain's batcher: output pixel
    (y, x) is input (y + dy - pad, (flip ? W-1-x : x) + dx - pad), pad_value outside."""
    import torch
    import torch.nn.functional as F

    b, c, h, w = x.shape
    if pad > 0:
        x = F.pad(x, (pad, pad, pad, pad), value=float(pad_value))
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
    cols = torch.arange(w).expand(b, w)
    if hflip:
        flip = torch.randint(0, 2, (b,), generator=gen).bool()
        cols = torch.where(flip[:, None], (w - 1) - cols, cols)
    rows = dy[:, None] + torch.arange(h)[None, :]
    cols = dx[:, None] + cols
    bi = torch.arange(b)[:, None, None, None]
    ci = torch.arange(c)[None, :, None, None]
    return x[bi, ci, rows[:, None, :, None], cols[:, None, None, :]]


def evaluate(model, x, y, batch=1000):
    import torch
    import torch.nn.functional as F

    model.eval()
    correct, loss = 0, 0.0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out = model(x[i : i + batch])
            loss += F.cross_entropy(out, y[i : i + batch], reduction="sum").item()
            correct += (out.argmax(1) == y[i : i + batch]).sum().item()
    model.train()
    n = max(1, len(x))
    return {"samples": len(x), "loss": loss / n, "accuracy": round(100.0 * correct / n, 2)}


def train_epoch(model, opt, sch, data, bs, clip, gen):
    """One epoch: a fresh shuffle, the last partial batch kept, crop/flip augmentation,
    cross-entropy, gradient clipping and a per-batch schedule step. data is (x, y, pad, hflip,
    pad_value). Returns (mean loss, seconds). bench_qat.py fine-tunes with the same loop."""
    import torch
    import torch.nn.functional as F

    xtr, ytr, pad, hflip, pad_value = data
    n = len(xtr)
    t0 = time.perf_counter()
    perm = torch.randperm(n, generator=gen)
    total, batches = 0.0, 0
    for i in range(0, n, bs):
        idx = perm[i : i + bs]
        xb, yb = xtr[idx], ytr[idx]
        if pad or hflip:
            xb = augment_batch(xb, pad, hflip, pad_value, gen)
        loss = F.cross_entropy(model(xb), yb)
        lv = loss.item()
        if not math.isfinite(lv):
            raise RuntimeError(f"training diverged: loss {lv}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        if sch:
            sch.step()
        total += lv
        batches += 1
    return total / batches, time.perf_counter() - t0


def train(cfg, args):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    seed = int(cfg.get("seed", 0)) if args.seed is None else args.seed
    torch.manual_seed(seed)
    epochs = args.epochs or int(cfg.get("epochs", 10))
    bs = int(cfg.get("batch_size", 128))
    clip = float(cfg.get("grad_clip", 0.0))
    o, s = opt_defaults(cfg.get("optimizer")), sched_defaults(cfg.get("schedule"))
    aug = cfg["data"].get("augment") or {}
    pad, hflip = int(aug.get("crop_padding", 0)), bool(aug.get("hflip", False))

    (xtr, ytr), (xva, yva), (xte, yte), pad_value = load_fashion(cfg, args.limit)
    xtr, ytr = torch.from_numpy(np.ascontiguousarray(xtr)), torch.from_numpy(ytr)
    xte, yte = torch.from_numpy(np.ascontiguousarray(xte)), torch.from_numpy(yte)
    xva, yva = torch.from_numpy(np.ascontiguousarray(xva)), torch.from_numpy(yva)
    if (pad or hflip) and xtr.dim() != 4:
        raise ConfigError("data.augment needs image samples: model.input [1, 28, 28]")

    model, out_shape = build_model(cfg)
    if len(out_shape) != 1:
        raise ConfigError(f"a classifier must end in [N, classes]; the model ends in {out_shape}")
    nparams = sum(p.numel() for p in model.parameters())
    n = len(xtr)
    bs = min(bs, n)
    spe = (n + bs - 1) // bs
    opt = make_optimizer(model.parameters(), o)
    sch = make_scheduler(opt, s, epochs, spe)
    gen = torch.Generator().manual_seed(seed)

    print(f"PyTorch {torch.__version__} fit: {cfg.get('name', '?')}, {nparams} parameters, "
          f"{epochs} epochs, batch {bs}, {spe} steps/epoch, {args.threads} threads, seed {seed}",
          flush=True)
    history = []
    model.train()
    for ep in range(epochs):
        try:
            train_loss, secs = train_epoch(model, opt, sch, (xtr, ytr, pad, hflip, pad_value), bs,
                                           clip, gen)
        except RuntimeError as e:
            raise RuntimeError(f"epoch {ep + 1}: {e}") from None
        rec = {"epoch": ep + 1, "lr": opt.param_groups[0]["lr"], "train_loss": train_loss,
               "seconds": secs, "samples_per_s": n / secs}
        if len(xva):
            rec["val"] = evaluate(model, xva, yva)
        rec["test"] = evaluate(model, xte, yte)
        history.append(rec)
        extra = f"  val {rec['val']['accuracy']:.2f}%" if len(xva) else ""
        print(f"epoch {ep + 1:<2} train loss {rec['train_loss']:.4f}  test loss "
              f"{rec['test']['loss']:.4f}  accuracy {rec['test']['accuracy']:.2f}%{extra}  "
              f"{secs:.1f} s ({n / secs:.0f} samples/s)", flush=True)
    return {
        "seed": seed,
        "epochs": epochs,
        "batch_size": bs,
        "steps_per_epoch": spe,
        "parameters": nparams,
        "train_samples": n,
        "history": history,
        "final_test": history[-1]["test"],
        "lr_schedule_max_rel_gap": check_schedule(o, s, epochs, spe),
    }


# ---- comparison -----------------------------------------------------------------------------


def read_tinytrain(report_path):
    with open(report_path, "r", encoding="utf-8") as f:
        rep = json.load(f)
    metrics = os.path.join(os.path.dirname(report_path), "metrics.jsonl")
    secs = []
    if os.path.exists(metrics):
        with open(metrics, "r", encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    secs.append(float(json.loads(line)["seconds"]))
    prov = rep.get("run_provenance", {})
    return {
        "report": report_path,
        "accuracy": float(rep["final_test"]["accuracy"]),
        "epochs": int(rep.get("epochs", len(secs))),
        "parameters": rep.get("parameters"),
        "epoch_seconds": secs,
        "threads": prov.get("threads"),
        "git_revision": prov.get("git_revision"),
        "started_utc": prov.get("started_utc"),
    }


def machine():
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo", "r", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import torch

    return {
        "cpu": cpu,
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "kernel": platform.release(),
        "loadavg": os.getloadavg(),
        "utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("config", help="tinytrain YAML config (docs/config.md)")
    ap.add_argument("--tinytrain-report", help="RUN/report.json of `tinytrain fit` on the config")
    ap.add_argument("--epochs", type=int, help="override the config's epochs")
    ap.add_argument("--seed", type=int, help="override the config's seed")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--limit", type=int, default=0,
                    help="use only the first N training and test samples (smoke tests)")
    ap.add_argument("--out", help="write every measurement to this JSON file")
    args = ap.parse_args()

    try:
        cfg = load_config(args.config)
        d = cfg.get("data") or {}
        kind = d.get("kind")
        task = cfg.get("task", "classification")
        if kind != "fashion_mnist" or task != "classification":
            print(f"{args.config}: data.kind {kind!r} (task {task!r}) is not supported by this "
                  "bench; it handles data.kind fashion_mnist (classification) only",
                  file=sys.stderr)
            return 2
        if cfg.get("loss", "cross_entropy") != "cross_entropy":
            print(f"{args.config}: loss {cfg['loss']!r} is not supported by this bench "
                  "(cross_entropy only)", file=sys.stderr)
            return 2
        res = train(cfg, args)
    except ConfigError as e:
        print(f"{args.config}: {e}", file=sys.stderr)
        return 1

    name = cfg.get("name") or os.path.splitext(os.path.basename(args.config))[0]
    pt_secs = [h["seconds"] for h in res["history"]]
    out = {"config": args.config, "name": name, "threads": args.threads, "limit": args.limit,
           "machine": machine(), "pytorch": res}
    print(f"done: PyTorch test accuracy {res['final_test']['accuracy']:.2f}%, mean epoch "
          f"{statistics.mean(pt_secs):.2f} s (median {statistics.median(pt_secs):.2f} s); "
          f"lr schedule max relative gap to tinytrain's closed form "
          f"{res['lr_schedule_max_rel_gap']:.1e}")

    if args.tinytrain_report:
        tt = read_tinytrain(args.tinytrain_report)
        diff = res["final_test"]["accuracy"] - tt["accuracy"]
        within = abs(diff) <= 0.3 + 1e-9
        tt_mean = statistics.mean(tt["epoch_seconds"]) if tt["epoch_seconds"] else float("nan")
        pt_mean = statistics.mean(pt_secs)
        ratio = tt_mean / pt_mean
        tt_med = statistics.median(tt["epoch_seconds"]) if tt["epoch_seconds"] else float("nan")
        pt_med = statistics.median(pt_secs)
        out["tinytrain"] = tt
        out["comparison"] = {"accuracy_diff_pt": diff, "within_0_3_pt": within,
                             "tinytrain_mean_epoch_s": tt_mean, "pytorch_mean_epoch_s": pt_mean,
                             "epoch_time_ratio_tinytrain_over_pytorch": ratio,
                             "median_ratio": tt_med / pt_med}
        notes = []
        if tt["epochs"] != res["epochs"]:
            notes.append(f"tinytrain ran {tt['epochs']} epochs, PyTorch {res['epochs']}: "
                         "accuracies are not comparable")
        if tt["parameters"] is not None and tt["parameters"] != res["parameters"]:
            notes.append(f"parameter counts differ: tinytrain {tt['parameters']}, "
                         f"PyTorch {res['parameters']}")
        if tt["threads"] is not None and tt["threads"] != args.threads:
            notes.append(f"tinytrain ran with {tt['threads']} threads, PyTorch {args.threads}")
        if args.limit:
            notes.append(f"--limit {args.limit}: PyTorch saw a subset")
        out["comparison"]["notes"] = notes
        print()
        print("| config | epochs | tinytrain acc % | PyTorch acc % | diff (pt) | within 0.3 pt "
              "| tinytrain s/epoch | PyTorch s/epoch | ratio tinytrain/PyTorch |")
        print("|---|--:|--:|--:|--:|:-:|--:|--:|--:|")
        print(f"| {name} | {res['epochs']} | {tt['accuracy']:.2f} | "
              f"{res['final_test']['accuracy']:.2f} | {diff:+.2f} | {'yes' if within else 'no'} | "
              f"{tt_mean:.2f} | {pt_mean:.2f} | {ratio:.2f} |")
        print(f"(median epoch: tinytrain {tt_med:.2f} s, PyTorch {pt_med:.2f} s, ratio "
              f"{tt_med / pt_med:.2f}; ratio < 1: tinytrain is faster)")
        for note in notes:
            print(f"note: {note}")
    m = out["machine"]
    print(f"machine: {m['cpu']}, {m['usable_cpus']} usable CPUs, Python {m['python']}, torch "
          f"{m['torch']}, load average {m['loadavg'][0]:.2f}, {m['utc']} UTC")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
