/* Shared device kernels (conv group): Conv, MaxPool, AveragePool and GlobalAveragePool,
 * compiled as OpenCL C and as CUDA with the prologue and rules of kernels/shared/kernels.h.
 * Host side: kernels/shared/dev_ops_conv.c; CPU oracles: autograd/ops/{conv,maxpool,avgpool,
 * globalavgpool}.c.
 *
 * Conv is im2col + GEMM over a chunk of whole images, as autograd/ops/conv.c does it:
 * col[r][j] with r = (ch, ki, kj) over all input channels and j = i*P + p (image i of the
 * chunk, output pixel p), then GEMMs of our own that take element offsets and write NCHW
 * directly; dX = col2im(W^T dY) is computed in one gathering pass without col. The GEMM
 * kernels are the one exception to one thread per output: a thread owns a tile of
 * TT_CONV_TILE output channels by two adjacent columns (two k for dW), so each value it loads
 * serves two or four products and its eight accumulators are independent chains (dX: four
 * input channels at one pixel). Measured on PoCL (2 cores) with this kernel shape for
 * the forward GEMM of the 32 -> 64 channel 14x14 layer at batch 128 (M 64, K 288, 25088
 * columns): 0.50 s with one output per thread, 0.11 s with 4 channels, 0.06 s with 4 channels
 * x 2 columns (8 channels, 4 x 4 or 2 x 4 were slower: register pressure). Each output still
 * sums its K products in K order from 0, exactly as a one-output thread would, so the tiling
 * changes no result.
 *
 * The pools are one thread per output (forward) or per input element (backward, gathering
 * from the windows that cover it in the CPU's scatter order), so they are bit-identical to the
 * CPU and need no atomics. */

#define TT_CONV_TILE 4
/* TT_CONV_U32: the host sizes every chunk so that each launch has under 2^31 threads and each
 * col under 2^32 elements, so the kernels split their thread index with 32-bit divisions; 64-bit
 * ones cost several times more on CPUs and GPUs, and dominated the short kernels on PoCL. */

/* The row stride of col for nimg images of p pixels: the columns rounded up to even, so the
 * forward GEMM's column pairs never leave the row (the pad column is im2col's zero). */
TT_FN tt_i64 tt_conv_ld(tt_i64 nimg, tt_i64 p)
{
    return (nimg * p + 1) / 2 * 2;
}

/* The first and one past the last kernel tap whose input index base + k*d lies inside
 * [0, size): autograd/window.h's tt_window_taps, split into two functions, with its interior
 * case free of divisions. */
TT_FN tt_i64 tt_conv_tap_hi(tt_i64 base, tt_i64 d, tt_i64 size, tt_i64 k)
{
    if (base >= 0 && base + (k - 1) * d < size) return k;
    tt_i64 h = size - 1 - base >= 0 ? (size - 1 - base) / d + 1 : 0;
    return h > k ? k : h;
}

TT_FN tt_i64 tt_conv_tap_lo(tt_i64 base, tt_i64 d, tt_i64 size, tt_i64 k)
{
    if (base >= 0) return 0;
    tt_i64 l = (-base + d - 1) / d, h = tt_conv_tap_hi(base, d, size, k);
    return l > h ? h : l;
}

/* col[r][j] for images i0 .. i0 + nimg of x [N, c, h, w]: r = (ch*kh + ki)*kw + kj,
 * j = i*P + oy*ow + ox (row stride tt_conv_ld), zero where the tap falls in padding
 * (kernels/cpu/im2col.c) and in the pad column. The host keeps a chunk's col under 2^32
 * elements, so the index splits with 32-bit divisions, which cost a fraction of 64-bit ones on
 * CPUs and GPUs (they dominated this kernel on PoCL). */
TT_KERNEL void tt_conv_im2col(TT_GLOBAL const float *x, TT_GLOBAL float *col, tt_i64 i0,
                              tt_i64 nimg, tt_i64 c, tt_i64 h, tt_i64 w, tt_i64 kh, tt_i64 kw,
                              tt_i64 sh, tt_i64 sw, tt_i64 ph, tt_i64 pw, tt_i64 dh, tt_i64 dw,
                              tt_i64 oh, tt_i64 ow)
{
    tt_i64 g = TT_GID(), p = oh * ow, ld = tt_conv_ld(nimg, p);
    if (g >= c * kh * kw * ld) return;
    tt_u32 gu = (tt_u32)g, ldu = (tt_u32)ld, pu = (tt_u32)p, owu = (tt_u32)ow;
    tt_u32 kwu = (tt_u32)kw, khw = (tt_u32)(kh * kw);
    tt_u32 r = gu / ldu, j = gu - r * ldu, i = j / pu, q = j - i * pu, oy = q / owu;
    tt_u32 ch = r / khw, t = r - ch * khw, ki = t / kwu, kj = t - ki * kwu;
    tt_i64 iy = (tt_i64)oy * sh - ph + (tt_i64)ki * dh;
    tt_i64 ix = (tt_i64)(q - oy * owu) * sw - pw + (tt_i64)kj * dw;
    float v = 0.0f;
    if (i < nimg && iy >= 0 && iy < h && ix >= 0 && ix < w)
        v = x[(((i0 + i) * c + ch) * h + iy) * w + ix];
    col[g] = v;
}

/* Forward GEMM, per group: y[i0 + i][m][p] = sum_k W[m][k] col[grp*K + k][i*P + p] + bias[m]
 * (bias 0 when has_bias is 0, as the CPU adds 0.0f). A thread owns TT_CONV_TILE output
 * channels of one group at two adjacent columns j0, j1 = j0 + 1 (j1 may be the pad column). A
 * short tile repeats its last channel (read, not written), which keeps the k loop free of
 * branches. */
TT_KERNEL void tt_conv_gemm_fwd(TT_GLOBAL const float *wt, TT_GLOBAL const float *col,
                                TT_GLOBAL const float *bias, int has_bias, TT_GLOBAL float *y,
                                tt_i64 i0, tt_i64 nimg, tt_i64 m_all, tt_i64 mg, tt_i64 kdim,
                                tt_i64 p, tt_i64 group)
{
    tt_i64 g = TT_GID(), ld = tt_conv_ld(nimg, p), mt = (mg + TT_CONV_TILE - 1) / TT_CONV_TILE;
    tt_i64 jt = ld / 2;
    if (g >= group * mt * jt) return;
    tt_u32 jtu = (tt_u32)jt, mtu = (tt_u32)mt, pu = (tt_u32)p; /* see TT_CONV_U32 */
    tt_u32 tu = (tt_u32)g / jtu, j0u = ((tt_u32)g - tu * jtu) * 2, gu = tu / mtu;
    tt_u32 ia = j0u / pu, ib = (j0u + 1) / pu;
    tt_i64 j0 = j0u, j1 = j0 + 1, grp = gu, r0 = (tt_i64)(tu - gu * mtu) * TT_CONV_TILE;
    tt_i64 nv = mg - r0 < TT_CONV_TILE ? mg - r0 : TT_CONV_TILE, m0 = grp * mg + r0;
    TT_GLOBAL const float *w0 = wt + m0 * kdim;
    TT_GLOBAL const float *w1 = w0 + (nv > 1 ? kdim : 0);
    TT_GLOBAL const float *w2 = w0 + (nv > 2 ? 2 : nv - 1) * kdim;
    TT_GLOBAL const float *w3 = w0 + (nv - 1) * kdim;
    TT_GLOBAL const float *cp = col + grp * kdim * ld;
    float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f, b0 = 0.0f, b1 = 0.0f, b2 = 0.0f, b3 = 0.0f;
    for (tt_i64 k = 0; k < kdim; k++) {
        float v = cp[k * ld + j0], u = cp[k * ld + j1];
        float x0 = w0[k], x1 = w1[k], x2 = w2[k], x3 = w3[k];
        a0 = TT_FADD(a0, TT_FMUL(x0, v));
        a1 = TT_FADD(a1, TT_FMUL(x1, v));
        a2 = TT_FADD(a2, TT_FMUL(x2, v));
        a3 = TT_FADD(a3, TT_FMUL(x3, v));
        b0 = TT_FADD(b0, TT_FMUL(x0, u));
        b1 = TT_FADD(b1, TT_FMUL(x1, u));
        b2 = TT_FADD(b2, TT_FMUL(x2, u));
        b3 = TT_FADD(b3, TT_FMUL(x3, u));
    }
    float c0 = has_bias ? bias[m0] : 0.0f, c1 = has_bias && nv > 1 ? bias[m0 + 1] : 0.0f;
    float c2 = has_bias && nv > 2 ? bias[m0 + 2] : 0.0f,
          c3 = has_bias && nv > 3 ? bias[m0 + 3] : 0.0f;
    TT_GLOBAL float *ya = y + ((i0 + ia) * m_all + m0) * p + (j0 - (tt_i64)ia * p);
    ya[0] = TT_FADD(a0, c0);
    if (nv > 1) ya[p] = TT_FADD(a1, c1);
    if (nv > 2) ya[2 * p] = TT_FADD(a2, c2);
    if (nv > 3) ya[3 * p] = TT_FADD(a3, c3);
    if (j1 == nimg * p) return; /* the pad column */
    TT_GLOBAL float *yb = y + ((i0 + ib) * m_all + m0) * p + (j1 - (tt_i64)ib * p);
    yb[0] = TT_FADD(b0, c0);
    if (nv > 1) yb[p] = TT_FADD(b1, c1);
    if (nv > 2) yb[2 * p] = TT_FADD(b2, c2);
    if (nv > 3) yb[3 * p] = TT_FADD(b3, c3);
}

/* Weight-gradient partial sums: part[s][m][k] = sum over the images [s*ipb, (s+1)*ipb) of the
 * chunk and their pixels p of dY[i0 + i][m][p] col[grp*K + k][i*P + p]. The splits give the
 * device enough threads when M*K is small (the first layer's 32 x 9); tt_conv_reduce adds
 * them into dW in split order. A thread owns TT_CONV_TILE output channels at two adjacent k
 * (a lone last k repeats itself, read, not written). */
TT_KERNEL void tt_conv_gemm_dw(TT_GLOBAL const float *dy, TT_GLOBAL const float *col,
                               TT_GLOBAL float *part, tt_i64 poff, tt_i64 i0, tt_i64 nimg,
                               tt_i64 m_all, tt_i64 mg, tt_i64 kdim, tt_i64 p, tt_i64 group,
                               tt_i64 ipb)
{
    tt_i64 g = TT_GID(), ld = tt_conv_ld(nimg, p), mt = (mg + TT_CONV_TILE - 1) / TT_CONV_TILE;
    tt_i64 kt = (kdim + 1) / 2, tiles = group * mt, nsplit = (nimg + ipb - 1) / ipb;
    if (g >= nsplit * tiles * kt) return;
    tt_u32 ktu = (tt_u32)kt, tlu = (tt_u32)tiles, mtu = (tt_u32)mt; /* see TT_CONV_U32 */
    tt_u32 q1 = (tt_u32)g / ktu, su = q1 / tlu, tu = q1 - su * tlu, gu = tu / mtu;
    tt_i64 k0 = (tt_i64)((tt_u32)g - q1 * ktu) * 2, s = su;
    tt_i64 k1 = k0 + 1 < kdim ? k0 + 1 : k0;
    tt_i64 grp = gu, r0 = (tt_i64)(tu - gu * mtu) * TT_CONV_TILE, m0 = grp * mg + r0;
    tt_i64 nv = mg - r0 < TT_CONV_TILE ? mg - r0 : TT_CONV_TILE;
    tt_i64 o1 = nv > 1 ? p : 0, o2 = (nv > 2 ? 2 : nv - 1) * p, o3 = (nv - 1) * p;
    tt_i64 ia = s * ipb, ib = ia + ipb < nimg ? ia + ipb : nimg;
    float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f, b0 = 0.0f, b1 = 0.0f, b2 = 0.0f, b3 = 0.0f;
    for (tt_i64 i = ia; i < ib; i++) {
        TT_GLOBAL const float *ca = col + (grp * kdim + k0) * ld + i * p;
        TT_GLOBAL const float *cb = col + (grp * kdim + k1) * ld + i * p;
        TT_GLOBAL const float *d0 = dy + ((i0 + i) * m_all + m0) * p;
        for (tt_i64 q = 0; q < p; q++) {
            float v = ca[q], u = cb[q];
            float x0 = d0[q], x1 = d0[o1 + q], x2 = d0[o2 + q], x3 = d0[o3 + q];
            a0 = TT_FADD(a0, TT_FMUL(x0, v));
            a1 = TT_FADD(a1, TT_FMUL(x1, v));
            a2 = TT_FADD(a2, TT_FMUL(x2, v));
            a3 = TT_FADD(a3, TT_FMUL(x3, v));
            b0 = TT_FADD(b0, TT_FMUL(x0, u));
            b1 = TT_FADD(b1, TT_FMUL(x1, u));
            b2 = TT_FADD(b2, TT_FMUL(x2, u));
            b3 = TT_FADD(b3, TT_FMUL(x3, u));
        }
    }
    TT_GLOBAL float *po = part + poff + (s * m_all + m0) * kdim;
    po[k0] = a0;
    if (nv > 1) po[kdim + k0] = a1;
    if (nv > 2) po[2 * kdim + k0] = a2;
    if (nv > 3) po[3 * kdim + k0] = a3;
    if (k1 == k0) return;
    po[k1] = b0;
    if (nv > 1) po[kdim + k1] = b1;
    if (nv > 2) po[2 * kdim + k1] = b2;
    if (nv > 3) po[3 * kdim + k1] = b3;
}

/* dst[e] += sum_s part[poff + s*n + e], the splits summed in order first. */
TT_KERNEL void tt_conv_reduce(TT_GLOBAL const float *part, tt_i64 poff, TT_GLOBAL float *dst,
                              tt_i64 nsplit, tt_i64 n)
{
    tt_i64 e = TT_GID();
    if (e >= n) return;
    float acc = 0.0f;
    for (tt_i64 s = 0; s < nsplit; s++) acc = TT_FADD(acc, part[poff + s * n + e]);
    dst[e] = TT_FADD(dst[e], acc);
}

/* Bias-gradient partial sums: part[s][m] = sum over images [s*ipb, (s+1)*ipb) and pixels of
 * dY[i][m][p], images then pixels in order as the CPU walks them. */
TT_KERNEL void tt_conv_bias_part(TT_GLOBAL const float *dy, TT_GLOBAL float *part, tt_i64 poff,
                                 tt_i64 n, tt_i64 m_all, tt_i64 p, tt_i64 ipb)
{
    tt_i64 g = TT_GID(), nsplit = (n + ipb - 1) / ipb;
    if (g >= nsplit * m_all) return;
    tt_i64 m = g % m_all, s = g / m_all, ib = (s + 1) * ipb < n ? (s + 1) * ipb : n;
    float acc = 0.0f;
    for (tt_i64 i = s * ipb; i < ib; i++) {
        TT_GLOBAL const float *r = dy + (i * m_all + m) * p;
        for (tt_i64 q = 0; q < p; q++) acc = TT_FADD(acc, r[q]);
    }
    part[poff + g] = acc;
}

/* dX += col2im(W^T dY) for images i0 .. i0 + n in one pass, with no col matrix: one thread
 * per TT_CONV_TILE input channels of a group at one input pixel, gathering from the outputs
 * its taps reach (no atomics). For each tap (ki, kj) in order, the sum over the group's output
 * channels mm in order of W[mm][ch, ki, kj] dY[mm][oy, ox] (the tap's dcol cell, W^T dY), added
 * to dX as it comes: the order in which the CPU's col2im adds its dcol rows. Fusing the two
 * saves writing and re-reading a col-sized matrix: 10-20% faster on PoCL than a W^T dY GEMM
 * kernel followed by a col2im gather (fashion_cnn's 14x14 and 7x7 layers at batch 128). */
TT_KERNEL void tt_conv_dx_direct(TT_GLOBAL const float *wt, TT_GLOBAL const float *dy,
                                 TT_GLOBAL float *dx, tt_i64 i0, tt_i64 n, tt_i64 c, tt_i64 h,
                                 tt_i64 w, tt_i64 m_all, tt_i64 mg, tt_i64 group, tt_i64 kh,
                                 tt_i64 kw, tt_i64 sh, tt_i64 sw, tt_i64 ph, tt_i64 pw, tt_i64 dh,
                                 tt_i64 dw, tt_i64 oh, tt_i64 ow)
{
    tt_i64 g = TT_GID(), cg = c / group, ct = (cg + TT_CONV_TILE - 1) / TT_CONV_TILE;
    if (g >= n * group * ct * h * w) return;
    tt_u32 gu = (tt_u32)g, wu = (tt_u32)w, hu = (tt_u32)h, ctu = (tt_u32)(group * ct);
    tt_u32 r1 = gu / wu, xx = gu - r1 * wu, r2 = r1 / hu, yy = r1 - r2 * hu, iu = r2 / ctu;
    tt_i64 i = i0 + iu;
    tt_u32 tc = r2 - iu * ctu, grp = tc / (tt_u32)ct, cl = (tc - grp * (tt_u32)ct) * TT_CONV_TILE;
    tt_i64 nv = cg - cl < TT_CONV_TILE ? cg - cl : TT_CONV_TILE, khw = kh * kw, kd = cg * khw;
    tt_i64 p = oh * ow, o1 = (nv > 1 ? 1 : 0) * khw, o2 = (nv > 2 ? 2 : nv - 1) * khw;
    tt_i64 o3 = (nv - 1) * khw, hw = h * w;
    TT_GLOBAL float *out = dx + ((i * c + grp * cg + cl) * h + yy) * w + xx;
    float a0 = out[0], a1 = nv > 1 ? out[hw] : 0.0f, a2 = nv > 2 ? out[2 * hw] : 0.0f;
    float a3 = nv > 3 ? out[3 * hw] : 0.0f;
    TT_GLOBAL const float *dyg = dy + (i * m_all + grp * mg) * p;
    TT_GLOBAL const float *wg = wt + grp * mg * kd + cl * khw;
    for (tt_i64 ki = 0; ki < kh; ki++) {
        tt_i64 ty = (tt_i64)yy + ph - ki * dh;
        if (ty < 0) continue;
        tt_u32 oy = (tt_u32)ty / (tt_u32)sh;
        if ((tt_u32)ty != oy * (tt_u32)sh || oy >= oh) continue;
        for (tt_i64 kj = 0; kj < kw; kj++) {
            tt_i64 tx = (tt_i64)xx + pw - kj * dw;
            if (tx < 0) continue;
            tt_u32 ox = (tt_u32)tx / (tt_u32)sw;
            if ((tt_u32)tx != ox * (tt_u32)sw || ox >= ow) continue;
            TT_GLOBAL const float *dp = dyg + oy * ow + ox;
            TT_GLOBAL const float *wp = wg + ki * kw + kj;
            float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
            for (tt_i64 mm = 0; mm < mg; mm++) {
                float v = dp[mm * p];
                TT_GLOBAL const float *wr = wp + mm * kd;
                s0 = TT_FADD(s0, TT_FMUL(wr[0], v));
                s1 = TT_FADD(s1, TT_FMUL(wr[o1], v));
                s2 = TT_FADD(s2, TT_FMUL(wr[o2], v));
                s3 = TT_FADD(s3, TT_FMUL(wr[o3], v));
            }
            a0 = TT_FADD(a0, s0);
            a1 = TT_FADD(a1, s1);
            a2 = TT_FADD(a2, s2);
            a3 = TT_FADD(a3, s3);
        }
    }
    out[0] = a0;
    if (nv > 1) out[hw] = a1;
    if (nv > 2) out[2 * hw] = a2;
    if (nv > 3) out[3 * hw] = a3;
}

/* g = (t*h + y)*w + x split into x, y, t with 32-bit divisions: the host keeps the pools'
 * tensors under 2^31 elements, and 64-bit divisions cost several times more on CPUs and GPUs
 * (they dominated these kernels on PoCL). */
TT_FN void tt_conv_split(tt_i64 g, tt_i64 w, tt_i64 h, tt_i64 *x, tt_i64 *y, tt_i64 *t)
{
    tt_u32 gu = (tt_u32)g, wu = (tt_u32)w, hu = (tt_u32)h, r = gu / wu, q = r / hu;
    *x = (tt_i64)(gu - r * wu);
    *y = (tt_i64)(r - q * hu);
    *t = (tt_i64)q;
}

/* MaxPool forward over planes [h, w] -> [oh, ow]: the first maximum in row-major window order
 * (strict >), or the last NaN when the window holds one (autograd/ops/maxpool.c); a window
 * wholly in padding gives -inf and index -1. With has_arg, arg gets the winner's offset in its
 * input plane for the backward. */
TT_KERNEL void tt_conv_maxpool_fwd(TT_GLOBAL const float *x, TT_GLOBAL float *y,
                                   TT_GLOBAL tt_i32 *arg, int has_arg, tt_i64 planes, tt_i64 h,
                                   tt_i64 w, tt_i64 oh, tt_i64 ow, tt_i64 kh, tt_i64 kw, tt_i64 sh,
                                   tt_i64 sw, tt_i64 pt, tt_i64 pl, tt_i64 dh, tt_i64 dw)
{
    tt_i64 g = TT_GID();
    if (g >= planes * oh * ow) return;
    tt_i64 ox, oy, t;
    tt_conv_split(g, ow, oh, &ox, &oy, &t);
    tt_i64 by = oy * sh - pt, bx = ox * sw - pl;
    tt_i64 klo = tt_conv_tap_lo(by, dh, h, kh), khi = tt_conv_tap_hi(by, dh, h, kh);
    tt_i64 jlo = tt_conv_tap_lo(bx, dw, w, kw), jhi = tt_conv_tap_hi(bx, dw, w, kw);
    float best = TT_AS_F32(0xff800000u); /* -inf */
    tt_i64 bi = -1;
    if (klo < khi && jlo < jhi) {
        TT_GLOBAL const float *xp = x + t * h * w;
        bi = (by + klo * dh) * w + bx + jlo * dw;
        best = xp[bi];
        int seen_nan = best != best; /* "nan" is an OpenCL built-in */
        for (tt_i64 ki = klo; ki < khi; ki++)
            for (tt_i64 kj = jlo; kj < jhi; kj++) {
                tt_i64 i = (by + ki * dh) * w + bx + kj * dw;
                float v = xp[i];
                if (v != v || (!seen_nan && v > best)) {
                    seen_nan = seen_nan || v != v;
                    best = v;
                    bi = i;
                }
            }
    }
    y[g] = best;
    if (has_arg) arg[g] = (tt_i32)bi;
}

/* The first output row (or column) whose window can reach input index y: o*s - pad + k*d == y
 * needs o >= (y + pad - (k - 1)*d) / s. */
TT_FN tt_i64 tt_conv_first_out(tt_i64 y, tt_i64 pad, tt_i64 k, tt_i64 d, tt_i64 s)
{
    tt_i64 num = y + pad - (k - 1) * d;
    return num <= 0 ? 0 : (tt_i64)((tt_u32)(num + s - 1) / (tt_u32)s);
}

/* One past the last: o*s - pad <= y. */
TT_FN tt_i64 tt_conv_last_out(tt_i64 y, tt_i64 pad, tt_i64 s, tt_i64 on)
{
    tt_i64 o = (tt_i64)((tt_u32)(y + pad) / (tt_u32)s) + 1;
    return o < on ? o : on;
}

/* MaxPool backward, one thread per input element: dX += dY of every window whose argmax is
 * this element, added in row-major window order as the CPU's scatter adds them. */
TT_KERNEL void tt_conv_maxpool_bwd(TT_GLOBAL const float *dy, TT_GLOBAL const tt_i32 *arg,
                                   TT_GLOBAL float *dx, tt_i64 planes, tt_i64 h, tt_i64 w,
                                   tt_i64 oh, tt_i64 ow, tt_i64 kh, tt_i64 kw, tt_i64 sh, tt_i64 sw,
                                   tt_i64 pt, tt_i64 pl, tt_i64 dh, tt_i64 dw)
{
    tt_i64 g = TT_GID();
    if (g >= planes * h * w) return;
    tt_i64 xx, yy, t;
    tt_conv_split(g, w, h, &xx, &yy, &t);
    tt_i64 me = yy * w + xx;
    tt_i64 y0 = tt_conv_first_out(yy, pt, kh, dh, sh), y1 = tt_conv_last_out(yy, pt, sh, oh);
    tt_i64 x0 = tt_conv_first_out(xx, pl, kw, dw, sw), x1 = tt_conv_last_out(xx, pl, sw, ow);
    TT_GLOBAL const tt_i32 *ap = arg + t * oh * ow;
    TT_GLOBAL const float *dp = dy + t * oh * ow;
    float acc = dx[g];
    for (tt_i64 oy = y0; oy < y1; oy++)
        for (tt_i64 ox = x0; ox < x1; ox++)
            if (ap[oy * ow + ox] == me) acc = TT_FADD(acc, dp[oy * ow + ox]);
    dx[g] = acc;
}

/* MaxPool of uint8 planes, or of int8 ones with flip 0x80 (every byte XORed, which orders
 * -128..127 as 0..255): the maximum byte; a window wholly in padding gives the type's
 * minimum. */
TT_KERNEL void tt_conv_maxpool_fwd_q(TT_GLOBAL const tt_u8 *x, TT_GLOBAL tt_u8 *y, int flip,
                                     tt_i64 planes, tt_i64 h, tt_i64 w, tt_i64 oh, tt_i64 ow,
                                     tt_i64 kh, tt_i64 kw, tt_i64 sh, tt_i64 sw, tt_i64 pt,
                                     tt_i64 pl, tt_i64 dh, tt_i64 dw)
{
    tt_i64 g = TT_GID();
    if (g >= planes * oh * ow) return;
    tt_i64 ox, oy, t;
    tt_conv_split(g, ow, oh, &ox, &oy, &t);
    tt_i64 by = oy * sh - pt, bx = ox * sw - pl;
    tt_i64 klo = tt_conv_tap_lo(by, dh, h, kh), khi = tt_conv_tap_hi(by, dh, h, kh);
    tt_i64 jlo = tt_conv_tap_lo(bx, dw, w, kw), jhi = tt_conv_tap_hi(bx, dw, w, kw);
    TT_GLOBAL const tt_u8 *xp = x + t * h * w;
    int best = 0;
    for (tt_i64 ki = klo; ki < khi; ki++)
        for (tt_i64 kj = jlo; kj < jhi; kj++) {
            int v = (int)xp[(by + ki * dh) * w + bx + kj * dw] ^ flip;
            best = v > best ? v : best;
        }
    y[g] = (tt_u8)(best ^ flip);
}

/* The divisor of an AveragePool window: kh*kw with include_pad, else its taps inside. */
TT_FN tt_i64 tt_conv_avg_count(int include_pad, tt_i64 kh, tt_i64 kw, tt_i64 klo, tt_i64 khi,
                               tt_i64 jlo, tt_i64 jhi)
{
    return include_pad ? kh * kw : (khi - klo) * (jhi - jlo);
}

/* AveragePool forward: the window's taps inside the input summed in row-major order, divided
 * by the count (0 for a window wholly in padding), as autograd/ops/avgpool.c. */
TT_KERNEL void tt_conv_avgpool_fwd(TT_GLOBAL const float *x, TT_GLOBAL float *y, int include_pad,
                                   tt_i64 planes, tt_i64 h, tt_i64 w, tt_i64 oh, tt_i64 ow,
                                   tt_i64 kh, tt_i64 kw, tt_i64 sh, tt_i64 sw, tt_i64 pt, tt_i64 pl,
                                   tt_i64 dh, tt_i64 dw)
{
    tt_i64 g = TT_GID();
    if (g >= planes * oh * ow) return;
    tt_i64 ox, oy, t;
    tt_conv_split(g, ow, oh, &ox, &oy, &t);
    tt_i64 by = oy * sh - pt, bx = ox * sw - pl;
    tt_i64 klo = tt_conv_tap_lo(by, dh, h, kh), khi = tt_conv_tap_hi(by, dh, h, kh);
    tt_i64 jlo = tt_conv_tap_lo(bx, dw, w, kw), jhi = tt_conv_tap_hi(bx, dw, w, kw);
    TT_GLOBAL const float *xp = x + t * h * w;
    float s = 0.0f;
    for (tt_i64 ki = klo; ki < khi; ki++)
        for (tt_i64 kj = jlo; kj < jhi; kj++) s = TT_FADD(s, xp[(by + ki * dh) * w + bx + kj * dw]);
    tt_i64 cnt = tt_conv_avg_count(include_pad, kh, kw, klo, khi, jlo, jhi);
    y[g] = cnt ? TT_FDIV(s, (float)cnt) : 0.0f;
}

/* AveragePool backward, one thread per input element: dX += dY / count of every window that
 * has this element as a tap, in row-major window order as the CPU's scatter adds them. */
TT_KERNEL void tt_conv_avgpool_bwd(TT_GLOBAL const float *dy, TT_GLOBAL float *dx, int include_pad,
                                   tt_i64 planes, tt_i64 h, tt_i64 w, tt_i64 oh, tt_i64 ow,
                                   tt_i64 kh, tt_i64 kw, tt_i64 sh, tt_i64 sw, tt_i64 pt, tt_i64 pl,
                                   tt_i64 dh, tt_i64 dw)
{
    tt_i64 g = TT_GID();
    if (g >= planes * h * w) return;
    tt_i64 xx, yy, t;
    tt_conv_split(g, w, h, &xx, &yy, &t);
    tt_i64 y0 = tt_conv_first_out(yy, pt, kh, dh, sh), y1 = tt_conv_last_out(yy, pt, sh, oh);
    tt_i64 x0 = tt_conv_first_out(xx, pl, kw, dw, sw), x1 = tt_conv_last_out(xx, pl, sw, ow);
    TT_GLOBAL const float *dp = dy + t * oh * ow;
    float acc = dx[g];
    for (tt_i64 oy = y0; oy < y1; oy++) {
        tt_i64 by = oy * sh - pt;
        tt_u32 ty = (tt_u32)(yy - by), tki = ty / (tt_u32)dh; /* 0 <= ty < kh*dh */
        if (ty != tki * (tt_u32)dh || tki >= kh) continue;
        tt_i64 klo = tt_conv_tap_lo(by, dh, h, kh), khi = tt_conv_tap_hi(by, dh, h, kh);
        for (tt_i64 ox = x0; ox < x1; ox++) {
            tt_i64 bx = ox * sw - pl;
            tt_u32 tx = (tt_u32)(xx - bx), tkj = tx / (tt_u32)dw;
            if (tx != tkj * (tt_u32)dw || tkj >= kw) continue;
            tt_i64 jlo = tt_conv_tap_lo(bx, dw, w, kw), jhi = tt_conv_tap_hi(bx, dw, w, kw);
            tt_i64 cnt = tt_conv_avg_count(include_pad, kh, kw, klo, khi, jlo, jhi);
            acc = TT_FADD(acc, TT_FDIV(dp[oy * ow + ox], (float)cnt));
        }
    }
    dx[g] = acc;
}

/* GlobalAveragePool forward: each plane summed in order, times inv = 1 / hw rounded on the
 * host as the CPU rounds it. */
TT_KERNEL void tt_conv_gap_fwd(TT_GLOBAL const float *x, TT_GLOBAL float *y, tt_i64 planes,
                               tt_i64 hw, float inv)
{
    tt_i64 t = TT_GID();
    if (t >= planes) return;
    TT_GLOBAL const float *xp = x + t * hw;
    float s = 0.0f;
    for (tt_i64 i = 0; i < hw; i++) s = TT_FADD(s, xp[i]);
    y[t] = TT_FMUL(s, inv);
}

/* GlobalAveragePool backward: dX[t][i] += dY[t] * inv. */
TT_KERNEL void tt_conv_gap_bwd(TT_GLOBAL const float *dy, TT_GLOBAL float *dx, tt_i64 planes,
                               tt_i64 hw, float inv)
{
    tt_i64 g = TT_GID();
    if (g >= planes * hw) return;
    dx[g] = TT_FADD(dx[g], TT_FMUL(dy[(tt_u32)g / (tt_u32)hw], inv)); /* see tt_conv_split */
}

/* The kernels of this file launched by name (see TT_KLIST_CORE). */
// clang-format off
#define TT_KLIST_CONV(X) \
    X(tt_conv_im2col) \
    X(tt_conv_gemm_fwd) \
    X(tt_conv_gemm_dw) \
    X(tt_conv_reduce) \
    X(tt_conv_bias_part) \
    X(tt_conv_dx_direct) \
    X(tt_conv_maxpool_fwd) \
    X(tt_conv_maxpool_bwd) \
    X(tt_conv_maxpool_fwd_q) \
    X(tt_conv_avgpool_fwd) \
    X(tt_conv_avgpool_bwd) \
    X(tt_conv_gap_fwd) \
    X(tt_conv_gap_bwd)
// clang-format on
