#!/usr/bin/env python3
"""Fixtures for tests/unit/test_qlinear_ops.c: one-node ONNX models of QLinearConv,
QLinearMatMul and com.microsoft QGemm built with onnx.helper, run in ONNX Runtime, written as
tests/fixtures/qlinear/<case>.npz (np.savez).

Each archive holds the op's inputs under the ONNX input names (scalars as 1-element arrays),
`y_ort` (ONNX Runtime's output), `y_exact` (the same op computed here in int64 numpy and
requantised as include/tinytrain/quant.h defines it: float32 multiplier
x_scale * w_scale / y_scale, float32 product, round half to even, + zero point, saturate) and,
for convolutions, `attrs` = int64 [stride_h, stride_w, pad_t, pad_l, pad_b, pad_r, dil_h, dil_w,
group]. `y_ort` and `y_exact` differ only where ONNX Runtime's kernel is not exact; this script
prints how many elements differ per case.

Weights are in [-63, 63] except in the `*_fullrange` cases: ONNX Runtime's uint8 x int8
kernels on AVX2 without VNNI add product pairs in saturating int16 (vpmaddubsw), which 7-bit
weights cannot overflow (2 * 255 * 63 < 32767) but full-range ones can.

    python3 scripts/gen_qlinear_fixtures.py [--out tests/fixtures/qlinear]

Deterministic (seeded numpy); written with numpy 2.4.6, onnx 1.23.2, onnxruntime 1.32.0.
"""
import argparse
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

NP2ONNX = {np.uint8: TensorProto.UINT8, np.int8: TensorProto.INT8,
           np.int32: TensorProto.INT32, np.float32: TensorProto.FLOAT}


def onnx_type(a):
    return NP2ONNX[a.dtype.type]


def run_one_node(op, domain, names, arrays, out_dtype, attrs, feed_first=True):
    """A model with input 0 fed at run time and the rest as initializers; returns the output."""
    inputs, inits = [], []
    for i, (n, a) in enumerate(zip(names, arrays)):
        if n == "":
            continue
        if i == 0 and feed_first:
            inputs.append(helper.make_tensor_value_info(n, onnx_type(a), list(a.shape)))
        else:
            inits.append(helper.make_tensor(n, onnx_type(a), list(a.shape),
                                            a.flatten().tolist()))
    node = helper.make_node(op, names, ["y"], domain=domain, **attrs)
    out = helper.make_tensor_value_info("y", NP2ONNX[out_dtype], [None] * arrays[0].ndim)
    graph = helper.make_graph([node], op.lower(), inputs, [out], initializer=inits)
    opsets = [helper.make_opsetid("", 13)]
    if domain:
        opsets.append(helper.make_opsetid(domain, 1))
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    if not domain:
        onnx.checker.check_model(model)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, {names[0]: arrays[0]})[0]


def requant(acc, mult, y_zp, qmin, qmax):
    """quant.h's tt_requantize: float32 product, round half even, + zp, saturate."""
    v = acc.astype(np.float32) * mult.astype(np.float32)
    v = np.clip(v, np.float32(qmin - y_zp), np.float32(qmax - y_zp))
    return (np.rint(v).astype(np.int64) + y_zp).clip(qmin, qmax)


def qrange(dt):
    return (-128, 127) if dt == np.int8 else (0, 255)


def multiplier(xs, ws, ys):
    return (np.float32(xs) * ws.astype(np.float32)) / np.float32(ys)


def conv_exact(x, xzp, w, wzp, b, attrs):
    sh, sw, pt, pl, pb, pr, dh, dw, g = attrs
    n, c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    xp = np.full((n, c, h + pt + pb, wd + pl + pr), int(xzp), dtype=np.int64)
    xp[:, :, pt:pt + h, pl:pl + wd] = x
    xp -= int(xzp)
    wq = w.astype(np.int64) - wzp.astype(np.int64).reshape(-1, 1, 1, 1)
    oh = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + pl + pr - dw * (kw - 1) - 1) // sw + 1
    mg = m // g
    acc = np.zeros((n, m, oh, ow), dtype=np.int64)
    for oc in range(m):
        gi = oc // mg
        for ki in range(kh):
            for kj in range(kw):
                patch = xp[:, gi * cg:(gi + 1) * cg, ki * dh:ki * dh + sh * (oh - 1) + 1:sh,
                           kj * dw:kj * dw + sw * (ow - 1) + 1:sw]
                acc[:, oc] += np.einsum("nchw,c->nhw", patch, wq[oc, :, ki, kj])
    if b is not None:
        acc += b.astype(np.int64).reshape(1, -1, 1, 1)
    return acc


def make_conv(rng, name, n, c, h, w, m, k, attrs, per_channel, bias, wmax, x_dt=np.uint8,
              w_u8=False):
    sh, sw, pt, pl, pb, pr, dh, dw, g = attrs
    lo, hi = qrange(x_dt)
    x = rng.integers(lo, hi + 1, size=(n, c, h, w)).astype(x_dt)
    xzp = np.array([rng.integers(lo, hi + 1)], dtype=x_dt)
    wq = rng.integers(-wmax, wmax + 1, size=(m, c // g, k, k)).astype(np.int8)
    if wmax == 127:  # make the int16-pair overflow certain somewhere: a row of +-127
        wq[0] = 127
        wq[min(1, m - 1)] = -127
    ws = (rng.uniform(0.5, 2.0, size=(m if per_channel else 1,)) * 0.01).astype(np.float32)
    wzp = np.zeros(ws.shape, dtype=np.int8)
    if w_u8:  # uint8 weights, zero point 128 (ONNX Runtime's uint8 x uint8 kernels)
        wq = (wq.astype(np.int16) + 128).astype(np.uint8)
        wzp = np.full(ws.shape, 128, dtype=np.uint8)
    xs = np.array([0.02], dtype=np.float32)
    ys = np.array([np.float32(0.05 * np.sqrt(c // g * k * k) * (wmax / 63.0))], dtype=np.float32)
    y_dt = x_dt
    ylo, yhi = qrange(y_dt)
    yzp = np.array([(ylo + yhi + 1) // 2 + 10], dtype=y_dt)
    b = None
    if bias:
        b = rng.integers(-3000, 3000, size=(m,)).astype(np.int32)
    names = ["x", "x_scale", "x_zero_point", "w", "w_scale", "w_zero_point", "y_scale",
             "y_zero_point"] + (["B"] if bias else [])
    arrays = [x, xs, xzp, wq, ws, wzp, ys, yzp] + ([b] if bias else [])
    onnx_attrs = dict(strides=[sh, sw], pads=[pt, pl, pb, pr], dilations=[dh, dw], group=g,
                      kernel_shape=[k, k])
    y_ort = run_one_node("QLinearConv", "", names, arrays, y_dt, onnx_attrs)
    acc = conv_exact(x, xzp[0], wq, np.broadcast_to(wzp, (m,)).astype(np.int64), b, attrs)
    mult = np.broadcast_to(multiplier(xs[0], ws, ys[0]), (m,)).reshape(1, m, 1, 1)
    y_exact = requant(acc, mult, int(yzp[0]), ylo, yhi).astype(y_dt)
    out = dict(zip(names, arrays))
    out.update(y_ort=y_ort, y_exact=y_exact, attrs=np.array(attrs, dtype=np.int64))
    return name, out


def make_matmul(rng, name, n, k, m, per_channel, wmax):
    a = rng.integers(0, 256, size=(n, k)).astype(np.uint8)
    azp = np.array([117], dtype=np.uint8)
    b = rng.integers(-wmax, wmax + 1, size=(k, m)).astype(np.int8)
    bs = (rng.uniform(0.5, 2.0, size=(m if per_channel else 1,)) * 0.01).astype(np.float32)
    bzp = np.zeros(bs.shape, dtype=np.int8)
    as_ = np.array([0.03], dtype=np.float32)
    ys = np.array([np.float32(0.06 * np.sqrt(k))], dtype=np.float32)
    yzp = np.array([120], dtype=np.uint8)
    names = ["a", "a_scale", "a_zero_point", "b", "b_scale", "b_zero_point", "y_scale",
             "y_zero_point"]
    arrays = [a, as_, azp, b, bs, bzp, ys, yzp]
    y_ort = run_one_node("QLinearMatMul", "", names, arrays, np.uint8, {})
    acc = (a.astype(np.int64) - int(azp[0])) @ b.astype(np.int64)
    mult = np.broadcast_to(multiplier(as_[0], bs, ys[0]), (m,)).reshape(1, m)
    y_exact = requant(acc, mult, int(yzp[0]), 0, 255).astype(np.uint8)
    out = dict(zip(names, arrays))
    out.update(y_ort=y_ort, y_exact=y_exact)
    return name, out


def make_qgemm(rng, name, n, k, m, per_channel, bias, wmax):
    a = rng.integers(0, 256, size=(n, k)).astype(np.uint8)
    azp = np.array([131], dtype=np.uint8)
    b = rng.integers(-wmax, wmax + 1, size=(m, k)).astype(np.int8)
    bs = (rng.uniform(0.5, 2.0, size=(m if per_channel else 1,)) * 0.01).astype(np.float32)
    bzp = np.zeros(bs.shape, dtype=np.int8)
    as_ = np.array([0.03], dtype=np.float32)
    ys = np.array([np.float32(0.06 * np.sqrt(k))], dtype=np.float32)
    yzp = np.array([100], dtype=np.uint8)
    c = rng.integers(-5000, 5000, size=(m,)).astype(np.int32) if bias else None
    names = ["a", "a_scale", "a_zero_point", "b", "b_scale", "b_zero_point",
             "c" if bias else "", "y_scale", "y_zero_point"]
    arrays = [a, as_, azp, b, bs, bzp, c, ys, yzp]
    y_ort = run_one_node("QGemm", "com.microsoft", names, arrays, np.uint8, dict(transB=1))
    acc = (a.astype(np.int64) - int(azp[0])) @ b.astype(np.int64).T
    if bias:
        acc += c.astype(np.int64).reshape(1, m)
    mult = np.broadcast_to(multiplier(as_[0], bs, ys[0]), (m,)).reshape(1, m)
    y_exact = requant(acc, mult, int(yzp[0]), 0, 255).astype(np.uint8)
    out = {nm: ar for nm, ar in zip(names, arrays) if nm}
    out.update(y_ort=y_ort, y_exact=y_exact)
    return name, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests",
                                                  "fixtures", "qlinear"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(20240606)
    # attrs: stride_h, stride_w, pad_t, pad_l, pad_b, pad_r, dil_h, dil_w, group
    cases = [
        make_conv(rng, "conv3x3_pc", 2, 3, 9, 8, 8, 3, (1, 1, 1, 1, 1, 1, 1, 1, 1), True, True, 63),
        make_conv(rng, "conv1x1_pt", 2, 16, 5, 6, 7, 1, (1, 1, 0, 0, 0, 0, 1, 1, 1), False, False,
                  63),
        make_conv(rng, "conv_dw_s2", 2, 6, 9, 9, 6, 3, (2, 2, 1, 1, 1, 1, 1, 1, 6), True, True, 63),
        make_conv(rng, "conv_g2_s2", 3, 4, 8, 7, 6, 3, (2, 2, 1, 0, 0, 1, 1, 1, 2), False, True,
                  63),
        make_conv(rng, "conv_dil_s8", 2, 5, 8, 8, 9, 3, (1, 2, 2, 1, 1, 2, 2, 1, 1), True, True, 63,
                  np.int8),
        make_conv(rng, "conv_u8w_zp128", 2, 4, 6, 6, 5, 3, (1, 1, 1, 1, 1, 1, 1, 1, 1), False,
                  True, 63, w_u8=True),
        make_conv(rng, "conv3x3_fullrange", 2, 32, 7, 7, 16, 3, (1, 1, 1, 1, 1, 1, 1, 1, 1), True,
                  True, 127),
        make_matmul(rng, "matmul_pt", 5, 37, 11, False, 63),
        make_matmul(rng, "matmul_pc", 33, 64, 10, True, 63),
        make_qgemm(rng, "qgemm_pc_bias", 6, 40, 12, True, True, 63),
        make_qgemm(rng, "qgemm_pt", 35, 29, 5, False, False, 63),
        make_qgemm(rng, "qgemm_fullrange", 16, 300, 8, True, True, 127),
    ]
    total = 0
    for name, arrays in cases:
        path = os.path.join(args.out, name + ".npz")
        np.savez(path, **arrays)
        total += os.path.getsize(path)
        yo, ye = arrays["y_ort"].astype(np.int64), arrays["y_exact"].astype(np.int64)
        diff = np.abs(yo - ye)
        print(f"{name}: {yo.size} outputs, ORT differs from exact on {int((diff > 0).sum())} "
              f"(max {int(diff.max())} steps)")
    print(f"{len(cases)} fixtures, {total} bytes")


if __name__ == "__main__":
    main()
