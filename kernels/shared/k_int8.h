/* Shared device kernels (int8 group): compiled as OpenCL C and as CUDA with the prologue and
 * rules of kernels/shared/kernels.h, after it (tt_k_byte, tt_k_round_clamp come from there).
 *
 * These are the int8 runtime's inference ops, each the CPU op's arithmetic operation for
 * operation, so every result is bit-identical:
 *   - QuantizeLinear: tt_quantize_axis (float32 division, tt_quant_round_clamp);
 *   - DequantizeLinear: tt_dequantize_axis ((float)(q - zp) * scale);
 *   - QLinearConv, QGemm, QLinearMatMul: kernels/cpu/qgemm.h's contract, as tt_qgemm: a sum of
 *     (w - w_zp) (x - x_zp) wrapping modulo 2^32 (so the order of the sum does not matter and
 *     a direct convolution equals the CPU's im2col + GEMM; padded taps add exactly nothing, as
 *     the CPU's zero-point padding does), plus the bias, requantised as tt_requantize with the
 *     per-channel multipliers the host computed with the CPU's own tt_qlinear_read;
 *   - QLinearAdd: autograd/ops/qlinear_add.c's fused multiply-adds, including its choice of
 *     formula by which operand is constant along the innermost broadcast run;
 *   - QLinearGlobalAveragePool: an exact int64 sum per plane, then MlasRequantizeOutput;
 *   - MatMulInteger, ConvInteger: the same wrapping int32 sums, unrequantised;
 *   - DynamicQuantizeLinear: min / max partials (exact, so any grouping gives the CPU's range),
 *     the scale computed on the host, then the QuantizeLinear kernel;
 *   - Cast: autograd/ops/cast.c's conversions (truncation, INT32_MIN / INT64_MIN for values
 *     out of range, two's-complement wrapping between integer types).
 * One thread per output element; every kernel checks its bound. */

/* y = saturate(round_half_even(x / scale[c]) + zp[c]) over x viewed as [outer, channels,
 * inner]; zp (x's output type, read as bytes) absent: 0. int8 results are stored as their two's
 * complement byte. */
TT_KERNEL void tt_int8_quantize(TT_GLOBAL const float *x, TT_GLOBAL tt_u8 *y, tt_i64 n,
                                tt_i64 channels, tt_i64 inner, TT_GLOBAL const float *scale,
                                TT_GLOBAL const tt_u8 *zp, int has_zp, int zp_signed, tt_i32 qmin,
                                tt_i32 qmax)
{
    tt_i64 i = TT_GID();
    if (i >= n) return;
    tt_i64 c = (i / inner) % channels;
    tt_i32 z = has_zp ? tt_k_byte(zp, c, zp_signed) : 0;
    tt_i32 v = tt_k_round_clamp(TT_FDIV(x[i], scale[c]), z, qmin, qmax);
    y[i] = (tt_u8)(v & 0xff);
}

/* y = (float)(x - zp[c]) * scale[c] for a uint8 / int8 x (zp of x's type; absent: 0). */
TT_KERNEL void tt_int8_dequantize(TT_GLOBAL const tt_u8 *x, int x_signed, TT_GLOBAL float *y,
                                  tt_i64 n, tt_i64 channels, tt_i64 inner,
                                  TT_GLOBAL const float *scale, TT_GLOBAL const tt_u8 *zp,
                                  int has_zp)
{
    tt_i64 i = TT_GID();
    if (i >= n) return;
    tt_i64 c = (i / inner) % channels;
    tt_i32 z = has_zp ? tt_k_byte(zp, c, x_signed) : 0;
    y[i] = TT_FMUL((float)(tt_k_byte(x, i, x_signed) - z), scale[c]);
}

/* An int32 x (a quantised bias): its zero point is 0 (the host checks), y = (float)x * scale[c]
 * with the conversion rounding to nearest even as C's does. */
TT_KERNEL void tt_int8_dequantize_i32(TT_GLOBAL const tt_i32 *x, TT_GLOBAL float *y, tt_i64 n,
                                      tt_i64 channels, tt_i64 inner, TT_GLOBAL const float *scale)
{
    tt_i64 i = TT_GID();
    if (i >= n) return;
    tt_i64 c = (i / inner) % channels;
    y[i] = TT_FMUL((float)x[i], scale[c]);
}

/* The wrapping sum of one convolution output (image b, output channel m, position oy, ox) over
 * its C/group * kH * kW taps: (w - wz) * (x - xz), taps in the padding skipped (the CPU pads
 * with the zero point, so they add exactly 0 there too). x [N, C, H, W], w [M, C/group, kH, kW];
 * geo = {C, H, W, M, kH, kW, sH, sW, padTop, padLeft, dH, dW, group}. */
TT_FN tt_u32 tt_int8_conv_sum(TT_GLOBAL const tt_u8 *x, int x_signed, tt_i32 xz,
                              TT_GLOBAL const tt_u8 *w, int w_signed, tt_i32 wz, tt_i64 b, tt_i64 m,
                              tt_i64 oy, tt_i64 ox, tt_i64 C, tt_i64 H, tt_i64 W, tt_i64 M,
                              tt_i64 KH, tt_i64 KW, tt_i64 SH, tt_i64 SW, tt_i64 PT, tt_i64 PL,
                              tt_i64 DH, tt_i64 DW, tt_i64 group)
{
    tt_i64 cg = C / group, g = m / (M / group);
    tt_u32 acc = 0u;
    for (tt_i64 c = 0; c < cg; c++) {
        tt_i64 plane = (b * C + g * cg + c) * H, wrow = (m * cg + c) * KH;
        for (tt_i64 ki = 0; ki < KH; ki++) {
            tt_i64 iy = oy * SH - PT + ki * DH;
            if (iy < 0 || iy >= H) continue;
            for (tt_i64 kj = 0; kj < KW; kj++) {
                tt_i64 ix = ox * SW - PL + kj * DW;
                if (ix < 0 || ix >= W) continue;
                tt_i32 a = tt_k_byte(w, (wrow + ki) * KW + kj, w_signed) - wz;
                tt_i32 v = tt_k_byte(x, (plane + iy) * W + ix, x_signed) - xz;
                acc += (tt_u32)(a * v);
            }
        }
    }
    return acc;
}

/* QLinearConv, one output of y [N, M, OH, OW] per thread: bias + the sum, requantised with
 * mult[m] and stored as a byte. wzp (int32, expanded per output channel) starts at element
 * wzp_off of its buffer (the node's parameter table, which also holds mult). */
TT_KERNEL void tt_int8_qconv(TT_GLOBAL const tt_u8 *x, int x_signed, tt_i32 x_zp,
                             TT_GLOBAL const tt_u8 *w, int w_signed, TT_GLOBAL const float *mult,
                             TT_GLOBAL const tt_i32 *wzp, tt_i64 wzp_off,
                             TT_GLOBAL const tt_i32 *bias, int has_bias, TT_GLOBAL tt_u8 *y,
                             tt_i32 y_zp, tt_i32 qmin, tt_i32 qmax, tt_i64 total, tt_i64 C,
                             tt_i64 H, tt_i64 W, tt_i64 M, tt_i64 OH, tt_i64 OW, tt_i64 KH,
                             tt_i64 KW, tt_i64 SH, tt_i64 SW, tt_i64 PT, tt_i64 PL, tt_i64 DH,
                             tt_i64 DW, tt_i64 group)
{
    tt_i64 i = TT_GID();
    if (i >= total) return;
    tt_i64 ox = i % OW, t = i / OW;
    tt_i64 oy = t % OH;
    t /= OH;
    tt_i64 m = t % M, b = t / M;
    tt_u32 acc = has_bias ? (tt_u32)bias[m] : 0u;
    acc += tt_int8_conv_sum(x, x_signed, x_zp, w, w_signed, wzp[wzp_off + m], b, m, oy, ox, C, H, W,
                            M, KH, KW, SH, SW, PT, PL, DH, DW, group);
    tt_i32 v = tt_k_round_clamp(TT_FMUL((float)TT_U32_AS_I32(acc), mult[m]), y_zp, qmin, qmax);
    y[i] = (tt_u8)(v & 0xff);
}

/* QGemm and QLinearMatMul, one output of y [rows, M] per thread: x [rows, K] row-major, the
 * weight's (m, k) at m * w_sm + k * w_sk (QGemm's b [M, K]: K, 1; QLinearMatMul's b [K, M]:
 * 1, M); otherwise as tt_int8_qconv. */
TT_KERNEL void tt_int8_qdense(TT_GLOBAL const tt_u8 *x, int x_signed, tt_i32 x_zp,
                              TT_GLOBAL const tt_u8 *w, int w_signed, tt_i64 w_sm, tt_i64 w_sk,
                              TT_GLOBAL const float *mult, TT_GLOBAL const tt_i32 *wzp,
                              tt_i64 wzp_off, TT_GLOBAL const tt_i32 *bias, int has_bias,
                              TT_GLOBAL tt_u8 *y, tt_i32 y_zp, tt_i32 qmin, tt_i32 qmax,
                              tt_i64 rows, tt_i64 m_dim, tt_i64 k_dim)
{
    tt_i64 i = TT_GID();
    if (i >= rows * m_dim) return;
    tt_i64 r = i / m_dim, m = i % m_dim;
    tt_i32 wz = wzp[wzp_off + m];
    tt_u32 acc = has_bias ? (tt_u32)bias[m] : 0u;
    for (tt_i64 k = 0; k < k_dim; k++) {
        tt_i32 a = tt_k_byte(w, m * w_sm + k * w_sk, w_signed) - wz;
        tt_i32 v = tt_k_byte(x, r * k_dim + k, x_signed) - x_zp;
        acc += (tt_u32)(a * v);
    }
    tt_i32 v = tt_k_round_clamp(TT_FMUL((float)TT_U32_AS_I32(acc), mult[m]), y_zp, qmin, qmax);
    y[i] = (tt_u8)(v & 0xff);
}

/* A uint8 / int8 byte as a float, as the CPU's qadd_load. */
TT_FN float tt_int8_qadd_load(TT_GLOBAL const tt_u8 *p, tt_i64 i, int sgn)
{
    return (float)tt_k_byte(p, i, sgn);
}

/* QLinearAdd with broadcasting over the CPU's tt_bcast plan (four right-aligned loops of sizes
 * d0..d3, operand strides sa*, sb*; 0 where broadcast), one output per thread. ra, rb, k, lo
 * and hi are qadd_coefs' values, computed on the host; the formula follows qadd_run's choice
 * by the innermost strides, so the roundings are the CPU's. */
TT_KERNEL void tt_int8_qadd(TT_GLOBAL const tt_u8 *a, TT_GLOBAL const tt_u8 *b, TT_GLOBAL tt_u8 *y,
                            int sgn, float ra, float rb, float k, tt_i32 lo, tt_i32 hi, tt_i64 d1,
                            tt_i64 d2, tt_i64 d3, tt_i64 sa0, tt_i64 sa1, tt_i64 sa2, tt_i64 sa3,
                            tt_i64 sb0, tt_i64 sb1, tt_i64 sb2, tt_i64 sb3, tt_i64 n)
{
    tt_i64 i = TT_GID();
    if (i >= n) return;
    tt_i64 j = i % d3, o = i / d3;
    tt_i64 i2 = o % d2, t = o / d2;
    tt_i64 i1 = t % d1, i0 = t / d1;
    tt_i64 pa = i0 * sa0 + i1 * sa1 + i2 * sa2, pb = i0 * sb0 + i1 * sb1 + i2 * sb2;
    float v;
    if (sb3 == 0) {
        float kk = TT_FADD(k, TT_FMUL(rb, tt_int8_qadd_load(b, pb, sgn)));
        v = TT_FFMA(tt_int8_qadd_load(a, pa + j * sa3, sgn), ra, kk);
    } else if (sa3 == 0) {
        float kk = TT_FADD(k, TT_FMUL(ra, tt_int8_qadd_load(a, pa, sgn)));
        v = TT_FFMA(tt_int8_qadd_load(b, pb + j * sb3, sgn), rb, kk);
    } else {
        float s = TT_FFMA(tt_int8_qadd_load(b, pb + j * sb3, sgn), rb, k);
        v = TT_FFMA(tt_int8_qadd_load(a, pa + j * sa3, sgn), ra, s);
    }
    tt_i32 r = tt_k_round_clamp(v, 0, lo, hi);
    y[i] = (tt_u8)(r & 0xff);
}

/* QLinearGlobalAveragePool, one plane of hw bytes per thread: the exact sum of the bytes as
 * uint8 (int8 ones flipped by 0x80, with the 128 folded into zoff = x_zp + 128), minus
 * hw * zoff, times mult = x_scale / (y_scale * hw) (from the host), requantised. */
TT_KERNEL void tt_int8_qgap(TT_GLOBAL const tt_u8 *x, int x_signed, TT_GLOBAL tt_u8 *y,
                            tt_i64 planes, tt_i64 hw, tt_i64 zoff, float mult, tt_i32 y_zp,
                            tt_i32 qmin, tt_i32 qmax)
{
    tt_i64 t = TT_GID();
    if (t >= planes) return;
    tt_u32 flip = x_signed ? 0x80u : 0u;
    tt_i64 sum = 0;
    for (tt_i64 i = 0; i < hw; i++) sum += (tt_i64)(((tt_u32)x[t * hw + i]) ^ flip);
    tt_i64 acc = sum - hw * zoff;
    tt_i32 v = tt_k_round_clamp(TT_FMUL((float)acc, mult), y_zp, qmin, qmax);
    y[t] = (tt_u8)(v & 0xff);
}

/* MatMulInteger, one int32 output of y [rows, M] per thread: a [rows, K], b [K, M]; the zero
 * points are read from their device buffers (a DynamicQuantizeLinear output, not a constant,
 * in ONNX Runtime's dynamic graphs): a's one value (has_azp), b's one or M (n_bzp 0: none). */
TT_KERNEL void tt_int8_matmul_integer(TT_GLOBAL const tt_u8 *a, int a_signed,
                                      TT_GLOBAL const tt_u8 *azp, int has_azp,
                                      TT_GLOBAL const tt_u8 *b, int b_signed,
                                      TT_GLOBAL const tt_u8 *bzp, tt_i64 n_bzp, TT_GLOBAL tt_i32 *y,
                                      tt_i64 rows, tt_i64 m_dim, tt_i64 k_dim)
{
    tt_i64 i = TT_GID();
    if (i >= rows * m_dim) return;
    tt_i64 r = i / m_dim, j = i % m_dim;
    tt_i32 az = has_azp ? tt_k_byte(azp, 0, a_signed) : 0;
    tt_i32 bz = n_bzp == 0 ? 0 : tt_k_byte(bzp, n_bzp == 1 ? 0 : j, b_signed);
    tt_u32 acc = 0u;
    for (tt_i64 k = 0; k < k_dim; k++) {
        tt_i32 u = tt_k_byte(a, r * k_dim + k, a_signed) - az;
        tt_i32 v = tt_k_byte(b, k * m_dim + j, b_signed) - bz;
        acc += (tt_u32)(u * v);
    }
    y[i] = TT_U32_AS_I32(acc);
}

/* ConvInteger, one int32 output of y [N, M, OH, OW] per thread; zero points from their device
 * buffers: x's one value (has_xzp), w's one or M (n_wzp 0: none). */
TT_KERNEL void tt_int8_conv_integer(TT_GLOBAL const tt_u8 *x, int x_signed,
                                    TT_GLOBAL const tt_u8 *xzp, int has_xzp,
                                    TT_GLOBAL const tt_u8 *w, int w_signed,
                                    TT_GLOBAL const tt_u8 *wzp, tt_i64 n_wzp, TT_GLOBAL tt_i32 *y,
                                    tt_i64 total, tt_i64 C, tt_i64 H, tt_i64 W, tt_i64 M, tt_i64 OH,
                                    tt_i64 OW, tt_i64 KH, tt_i64 KW, tt_i64 SH, tt_i64 SW,
                                    tt_i64 PT, tt_i64 PL, tt_i64 DH, tt_i64 DW, tt_i64 group)
{
    tt_i64 i = TT_GID();
    if (i >= total) return;
    tt_i64 ox = i % OW, t = i / OW;
    tt_i64 oy = t % OH;
    t /= OH;
    tt_i64 m = t % M, b = t / M;
    tt_i32 xz = has_xzp ? tt_k_byte(xzp, 0, x_signed) : 0;
    tt_i32 wz = n_wzp == 0 ? 0 : tt_k_byte(wzp, n_wzp == 1 ? 0 : m, w_signed);
    tt_u32 acc = tt_int8_conv_sum(x, x_signed, xz, w, w_signed, wz, b, m, oy, ox, C, H, W, M, KH,
                                  KW, SH, SW, PT, PL, DH, DW, group);
    y[i] = TT_U32_AS_I32(acc);
}

/* DynamicQuantizeLinear's range, first pass: thread t covers x[t * chunk, (t + 1) * chunk) and
 * writes min(0, its min) and max(0, its max) to part[2t], part[2t + 1], skipping NaN exactly as
 * the CPU's comparisons do. min and max are exact, so the host's fold of the partials is the
 * CPU's range whatever the grouping. */
TT_KERNEL void tt_int8_minmax(TT_GLOBAL const float *x, tt_i64 n, tt_i64 chunk,
                              TT_GLOBAL float *part, tt_i64 parts)
{
    tt_i64 t = TT_GID();
    if (t >= parts) return;
    float mn = 0.0f, mx = 0.0f;
    tt_i64 end = (t + 1) * chunk < n ? (t + 1) * chunk : n;
    for (tt_i64 i = t * chunk; i < end; i++) {
        float v = x[i];
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
    }
    part[2 * t] = mn;
    part[2 * t + 1] = mx;
}

/* Cast between float32 (kind 0), int8 (1), uint8 (2), int32 (3) and int64 (4). The buffers are
 * passed once per view (the same buffer for each of x's, and for y's); only the views of the
 * kinds from / to are touched. */
TT_FN tt_i64 tt_int8_cast_load(TT_GLOBAL const tt_u8 *xb, TT_GLOBAL const tt_i32 *xi,
                               TT_GLOBAL const tt_i64 *xl, int from, tt_i64 i)
{
    if (from == 1) return (tt_i64)tt_k_byte(xb, i, 1);
    if (from == 2) return (tt_i64)xb[i];
    if (from == 3) return (tt_i64)xi[i];
    return xl[i];
}

/* float32 -> integer as cast.c's float_to_int: truncation when the truncated value fits int32
 * (int64 for an int64 target), else INT32_MIN (INT64_MIN); NaN fails both tests. For a float
 * x, trunc(x) >= -2^31 exactly when x >= -2^31 (no float lies strictly between -2^31 - 256
 * and -2^31), and trunc(x) < 2^31 exactly when x < 2^31; likewise at 2^63. */
TT_FN tt_i64 tt_int8_float_to_int(float x, int to)
{
    if (to == 4)
        return (x >= -0x1p63f && x < 0x1p63f) ? (tt_i64)x : (tt_i64)(-0x7fffffffffffffffL - 1L);
    return (x >= -0x1p31f && x < 0x1p31f) ? (tt_i64)(tt_i32)x : (tt_i64)(-0x7fffffff - 1);
}

/* Store the low bits of v as kind `to` (two's complement wrapping, as cast.c's wrap_to). */
TT_FN void tt_int8_cast_store(TT_GLOBAL tt_u8 *yb, TT_GLOBAL tt_i32 *yi, TT_GLOBAL tt_i64 *yl,
                              int to, tt_i64 i, tt_i64 v)
{
    if (to == 1 || to == 2)
        yb[i] = (tt_u8)(((tt_u32)v) & 0xffu);
    else if (to == 3)
        yi[i] = TT_U32_AS_I32((tt_u32)v);
    else
        yl[i] = v;
}

TT_KERNEL void tt_int8_cast(TT_GLOBAL const float *xf, TT_GLOBAL const tt_u8 *xb,
                            TT_GLOBAL const tt_i32 *xi, TT_GLOBAL const tt_i64 *xl, int from,
                            TT_GLOBAL float *yf, TT_GLOBAL tt_u8 *yb, TT_GLOBAL tt_i32 *yi,
                            TT_GLOBAL tt_i64 *yl, int to, tt_i64 n)
{
    tt_i64 i = TT_GID();
    if (i >= n) return;
    if (from == 0) {
        tt_int8_cast_store(yb, yi, yl, to, i, tt_int8_float_to_int(xf[i], to));
        return;
    }
    tt_i64 v = tt_int8_cast_load(xb, xi, xl, from, i);
    if (to == 0)
        yf[i] = (float)v;
    else
        tt_int8_cast_store(yb, yi, yl, to, i, v);
}

/* The kernels of this file launched by name (see TT_KLIST_CORE). One per line: clang-format
 * does not settle on a layout for this list. */
// clang-format off
#define TT_KLIST_INT8(X)                                                                           \
    X(tt_int8_quantize)                                                                            \
    X(tt_int8_dequantize)                                                                          \
    X(tt_int8_dequantize_i32)                                                                      \
    X(tt_int8_qconv)                                                                               \
    X(tt_int8_qdense)                                                                              \
    X(tt_int8_qadd)                                                                                \
    X(tt_int8_qgap)                                                                                \
    X(tt_int8_matmul_integer)                                                                      \
    X(tt_int8_conv_integer)                                                                        \
    X(tt_int8_minmax)                                                                              \
    X(tt_int8_cast)
// clang-format on
