/* Kernel bodies shared by the OpenCL and CUDA backends: this one file is compiled as OpenCL C
 * (embedded in the library as a string, after kernels/opencl/prologue.cl) and as CUDA (included
 * by kernels/cuda/ops.cu after its own prologue), so the OpenCL tests on PoCL also exercise the
 * arithmetic the CUDA build runs.
 *
 * The prologue defines: TT_KERNEL, TT_GLOBAL, TT_FN (a device helper), TT_GID() (the global
 * thread index as tt_i64), TT_AS_U32 / TT_AS_F32 (float <-> bits), TT_U32_AS_I32 (two's
 * complement view), TT_FADD / TT_FSUB / TT_FMUL / TT_FDIV (one correctly rounded float32
 * operation each: never contracted into an FMA, division IEEE-exact) and the types tt_i32,
 * tt_u32, tt_i64, tt_u8.
 *
 * Every function mirrors the CPU reference operation for operation, so results are
 * bit-identical: tt_k_round_half_even is tt_round_half_even, tt_k_round_clamp is
 * tt_quant_round_clamp (include/tinytrain/quant.h), the FakeQuant kernels are the CPU op's
 * forward run and straight-through backward (autograd/ops/fake_quant.c), the int8 GEMM is
 * kernels/cpu/qgemm.h's contract, Relu and Add are autograd/ops/{relu,add}.c on equal shapes,
 * and the SGD step is autograd/optim.c's sgd_update. The float32 GEMM is the one exception: it
 * sums in k order, which OpenBLAS does not, so it agrees with the CPU to a tolerance only.
 * Integer-to-float conversions round to nearest even on all three (C, OpenCL's default conversion,
 * CUDA's __int2float_rn). TT_FFMA is a fused multiply-add (C's fmaf), TT_FSQRT a correctly
 * rounded square root; TT_EXPF, TT_LOGF and TT_TANHF are each platform's own and are tested
 * against the CPU within a tolerance only. tt_i8 is a signed byte. */

/* Round half to even with truncation, comparisons and exact subtractions only; NaN, +-inf and
 * |v| >= 2^23 come back unchanged, a zero result is +0. */
TT_FN float tt_k_round_half_even(float v)
{
    tt_u32 b = TT_AS_U32(v);
    tt_u32 big = (tt_u32)0 - (tt_u32)(((b >> 23) & 0xffu) >= 150u);
    float c = TT_AS_F32(b & ~big);
    tt_i32 i = (tt_i32)c;
    i -= c < (float)i ? 1 : 0;
    float d = TT_FSUB(c, (float)i);
    i += d >= ((i & 1) ? 0.5f : 0x1.000002p-1f) ? 1 : 0;
    tt_u32 rb = TT_AS_U32((float)i);
    rb = (rb & ~big) | (b & big);
    return TT_AS_F32(rb);
}

/* saturate(round_half_even(v) + zp) to [qmin, qmax], NaN -> qmin, clamping in float first. */
TT_FN tt_i32 tt_k_round_clamp(float v, tt_i32 zp, tt_i32 qmin, tt_i32 qmax)
{
    float lo = (float)((tt_i64)qmin - zp), hi = (float)((tt_i64)qmax - zp);
    if (!(v >= lo)) return qmin;
    if (v > hi) v = hi;
    tt_i64 r = (tt_i64)tt_k_round_half_even(v) + zp;
    return r > qmax ? qmax : (r < qmin ? qmin : (tt_i32)r);
}

/* FakeQuant forward, one element per thread; channel c = (i / inner) % channels. */
TT_KERNEL void tt_fq_forward(TT_GLOBAL const float *x, TT_GLOBAL float *y, TT_GLOBAL tt_u8 *code,
                             tt_i64 n, tt_i64 channels, tt_i64 inner, TT_GLOBAL const float *scale,
                             TT_GLOBAL const float *zero_point, float qmin, float qmax)
{
    tt_i64 i = TT_GID();
    if (i >= n) return;
    tt_i64 c = (i / inner) % channels;
    float s = scale[c], z = zero_point[c];
    float q = TT_FADD(tt_k_round_half_even(TT_FDIV(x[i], s)), z);
    int below = q >= qmin ? 0 : 1, above = q > qmax ? 1 : 0; /* NaN: below */
    float qc = below ? qmin : (above ? qmax : q);
    y[i] = TT_FMUL(TT_FSUB(qc, z), s);
    code[i] = (tt_u8)(below * 1 + above * 2);
}

/* Straight-through estimator: the gradient passes where the level was in range. */
TT_KERNEL void tt_fq_backward(TT_GLOBAL const float *dy, TT_GLOBAL const tt_u8 *code,
                              TT_GLOBAL float *dx, tt_i64 n)
{
    tt_i64 i = TT_GID();
    if (i >= n) return;
    float g = dy[i];
    dx[i] = TT_FADD(dx[i], code[i] == 0 ? g : 0.0f);
}

/* A byte of a uint8 or (is_signed) int8 tensor as its integer value. */
TT_FN tt_i32 tt_k_byte(TT_GLOBAL const tt_u8 *p, tt_i64 i, int is_signed)
{
    tt_i32 v = (tt_i32)p[i];
    return is_signed ? (v ^ 0x80) - 0x80 : v;
}

/* One output of the int8 GEMM per thread. Products fit int32 (|a|, |b| <= 255 after the zero
 * points); the sum wraps modulo 2^32 exactly as the CPU paths do. */
TT_KERNEL void tt_qgemm(TT_GLOBAL const tt_u8 *w, int w_signed, tt_i64 w_sm, tt_i64 w_sk,
                        TT_GLOBAL const tt_i32 *w_zp, tt_i64 n_wzp, TT_GLOBAL const tt_u8 *x,
                        int x_signed, tt_i64 x_sk, tt_i64 x_sn, tt_i32 x_zp, TT_GLOBAL tt_u8 *y,
                        tt_i64 y_sm, tt_i64 y_sn, TT_GLOBAL const float *mult, tt_i64 n_mult,
                        TT_GLOBAL const tt_i32 *bias, int has_bias, tt_i32 y_zp, tt_i32 qmin,
                        tt_i32 qmax, tt_i64 m_dim, tt_i64 n_dim, tt_i64 k_dim)
{
    tt_i64 g = TT_GID();
    if (g >= m_dim * n_dim) return;
    tt_i64 m = g / n_dim, n = g % n_dim;
    tt_i32 wz = n_wzp == 0 ? 0 : w_zp[n_wzp == 1 ? 0 : m];
    tt_u32 acc = has_bias ? (tt_u32)bias[m] : 0u;
    for (tt_i64 k = 0; k < k_dim; k++) {
        tt_i32 a = tt_k_byte(w, m * w_sm + k * w_sk, w_signed) - wz;
        tt_i32 b = tt_k_byte(x, k * x_sk + n * x_sn, x_signed) - x_zp;
        acc += (tt_u32)(a * b);
    }
    float mul = mult[n_mult == 1 ? 0 : m];
    tt_i32 v = tt_k_round_clamp(TT_FMUL((float)TT_U32_AS_I32(acc), mul), y_zp, qmin, qmax);
    y[m * y_sm + n * y_sn] = (tt_u8)(v & 0xff); /* int8 results stored as their two's complement */
}

/* Relu: y = x > 0 ? x : 0 (NaN and -0 give +0), and dx += x > 0 ? dy : 0. */
TT_KERNEL void tt_relu_forward(TT_GLOBAL const float *x, TT_GLOBAL float *y, tt_i64 n)
{
    tt_i64 i = TT_GID();
    if (i >= n) return;
    float v = x[i];
    y[i] = v > 0.0f ? v : 0.0f;
}

TT_KERNEL void tt_relu_backward(TT_GLOBAL const float *x, TT_GLOBAL const float *dy,
                                TT_GLOBAL float *dx, tt_i64 n)
{
    tt_i64 i = TT_GID();
    if (i >= n) return;
    float g = dy[i];
    dx[i] = TT_FADD(dx[i], x[i] > 0.0f ? g : 0.0f);
}

/* Add of equal shapes; its backward is dx += dy for each input, this kernel once per input. */
TT_KERNEL void tt_add_forward(TT_GLOBAL const float *a, TT_GLOBAL const float *b,
                              TT_GLOBAL float *y, tt_i64 n)
{
    tt_i64 i = TT_GID();
    if (i >= n) return;
    y[i] = TT_FADD(a[i], b[i]);
}

TT_KERNEL void tt_accumulate(TT_GLOBAL const float *dy, TT_GLOBAL float *dx, tt_i64 n)
{
    tt_i64 i = TT_GID();
    if (i >= n) return;
    dx[i] = TT_FADD(dx[i], dy[i]);
}

/* torch.optim.SGD on one parameter, as sgd_update: g += wd p; buf = first ? g : buf mom +
 * damp1 g; g = nesterov ? g + mom buf : buf; p += neg_lr g. damp1 = 1 - dampening and
 * neg_lr = -lr come from the host, rounded there as the CPU rounds them. */
TT_KERNEL void tt_sgd_step(TT_GLOBAL float *p, TT_GLOBAL const float *grad, TT_GLOBAL float *buf,
                           int has_buf, tt_i64 n, float wd, float mom, float damp1, float neg_lr,
                           int nesterov, int first)
{
    tt_i64 i = TT_GID();
    if (i >= n) return;
    float g = grad[i];
    if (wd != 0.0f) g = TT_FADD(g, TT_FMUL(wd, p[i]));
    if (has_buf) {
        float b = first ? g : TT_FADD(TT_FMUL(buf[i], mom), TT_FMUL(damp1, g));
        buf[i] = b;
        g = nesterov ? TT_FADD(g, TT_FMUL(mom, b)) : b;
    }
    p[i] = TT_FADD(p[i], TT_FMUL(neg_lr, g));
}

/* Row-major C[m][n] = alpha sum_k op(A)[m][k] op(B)[k][n] + beta C[m][n], one output per thread,
 * summed in k order. As in BLAS, beta == 0 does not read C and alpha == 0 does not read A, B. */
TT_KERNEL void tt_sgemm(int ta, int tb, tt_i64 m_dim, tt_i64 n_dim, tt_i64 k_dim, float alpha,
                        TT_GLOBAL const float *a, tt_i64 lda, TT_GLOBAL const float *b, tt_i64 ldb,
                        float beta, TT_GLOBAL float *c, tt_i64 ldc)
{
    tt_i64 g = TT_GID();
    if (g >= m_dim * n_dim) return;
    tt_i64 m = g / n_dim, n = g % n_dim;
    tt_i64 a_sm = ta ? 1 : lda, a_sk = ta ? lda : 1, b_sk = tb ? 1 : ldb, b_sn = tb ? ldb : 1;
    float acc = 0.0f;
    if (alpha != 0.0f)
        for (tt_i64 k = 0; k < k_dim; k++)
            acc = TT_FADD(acc, TT_FMUL(a[m * a_sm + k * a_sk], b[k * b_sk + n * b_sn]));
    float r = TT_FMUL(alpha, acc);
    if (beta != 0.0f) r = TT_FADD(r, TT_FMUL(beta, c[m * ldc + n]));
    c[m * ldc + n] = r;
}

/* The strided batched GEMM of tt_dev_sgemm_sb: one output per thread, batch-major; with reduce
 * one output sums its k products for every matrix of the batch in order. */
TT_KERNEL void tt_sgemm_sb(int ta, int tb, tt_i64 m_dim, tt_i64 n_dim, tt_i64 k_dim, float alpha,
                           TT_GLOBAL const float *a, tt_i64 a_off, tt_i64 lda, tt_i64 a_bs,
                           TT_GLOBAL const float *b, tt_i64 b_off, tt_i64 ldb, tt_i64 b_bs,
                           float beta, TT_GLOBAL float *c, tt_i64 c_off, tt_i64 ldc, tt_i64 c_bs,
                           tt_i64 batch, int reduce)
{
    tt_i64 g = TT_GID();
    tt_i64 per = m_dim * n_dim;
    if (g >= (reduce ? per : per * batch)) return;
    tt_i64 first = reduce ? 0 : g / per, last = reduce ? batch : first + 1;
    tt_i64 m = (g % per) / n_dim, n = g % n_dim;
    tt_i64 a_sm = ta ? 1 : lda, a_sk = ta ? lda : 1, b_sk = tb ? 1 : ldb, b_sn = tb ? ldb : 1;
    float acc = 0.0f;
    if (alpha != 0.0f)
        for (tt_i64 i = first; i < last; i++) {
            tt_i64 ai = a_off + i * a_bs + m * a_sm, bi = b_off + i * b_bs + n * b_sn;
            for (tt_i64 k = 0; k < k_dim; k++)
                acc = TT_FADD(acc, TT_FMUL(a[ai + k * a_sk], b[bi + k * b_sk]));
        }
    tt_i64 ci = c_off + first * c_bs + m * ldc + n;
    float r = TT_FMUL(alpha, acc);
    if (beta != 0.0f) r = TT_FADD(r, TT_FMUL(beta, c[ci]));
    c[ci] = r;
}

/* Numpy broadcasting over autograd/broadcast.h's plan (four merged dims, element strides per
 * operand, 0 where broadcast): y = a op b with op 0 add, 1 sub, 2 mul, 3 div (tt_bcast_op). */
TT_KERNEL void tt_bcast_binary(TT_GLOBAL const float *a, TT_GLOBAL const float *b,
                               TT_GLOBAL float *y, tt_i64 d0, tt_i64 d1, tt_i64 d2, tt_i64 d3,
                               tt_i64 a0, tt_i64 a1, tt_i64 a2, tt_i64 a3, tt_i64 b0, tt_i64 b1,
                               tt_i64 b2, tt_i64 b3, int op, tt_i64 n)
{
    tt_i64 i = TT_GID();
    if (i >= n) return;
    tt_i64 i3 = i % d3, t = i / d3, i2 = t % d2;
    t /= d2;
    tt_i64 i1 = t % d1, i0 = t / d1;
    float u = a[i0 * a0 + i1 * a1 + i2 * a2 + i3 * a3],
          v = b[i0 * b0 + i1 * b1 + i2 * b2 + i3 * b3];
    y[i] = op == 0   ? TT_FADD(u, v)
           : op == 1 ? TT_FSUB(u, v)
           : op == 2 ? TT_FMUL(u, v)
                     : TT_FDIV(u, v);
}

/* The reducing backward, tt_bcast_accum: one thread per element of dst (the operand with strides
 * w0..w3), gathering dy (times the other operand, strides o0..o3, when has_other) over every
 * output that read it, in the CPU's order: outer positions ascending, and where dst is broadcast
 * along the inner dim, each outer row's inner sum first. */
TT_KERNEL void tt_bcast_accum(TT_GLOBAL const float *dy, TT_GLOBAL const float *other,
                              int has_other, TT_GLOBAL float *dst, tt_i64 d0, tt_i64 d1, tt_i64 d2,
                              tt_i64 d3, tt_i64 w0, tt_i64 w1, tt_i64 w2, tt_i64 w3, tt_i64 o0,
                              tt_i64 o1, tt_i64 o2, tt_i64 o3, tt_i64 n)
{
    tt_i64 t = TT_GID();
    if (t >= n) return;
    tt_i64 fix3 = 0, fix2 = 0, fix1 = 0, fix0 = 0;
    if (w3) fix3 = t % d3, t /= d3;
    if (w2) fix2 = t % d2, t /= d2;
    if (w1) fix1 = t % d1, t /= d1;
    if (w0) fix0 = t % d0;
    tt_i64 e = fix0 * w0 + fix1 * w1 + fix2 * w2 + fix3 * w3;
    float acc = dst[e];
    for (tt_i64 i0 = w0 ? fix0 : 0; i0 < (w0 ? fix0 + 1 : d0); i0++)
        for (tt_i64 i1 = w1 ? fix1 : 0; i1 < (w1 ? fix1 + 1 : d1); i1++)
            for (tt_i64 i2 = w2 ? fix2 : 0; i2 < (w2 ? fix2 + 1 : d2); i2++) {
                tt_i64 row = ((i0 * d1 + i1) * d2 + i2) * d3, ob = i0 * o0 + i1 * o1 + i2 * o2;
                if (w3) {
                    float g = dy[row + fix3];
                    acc = TT_FADD(acc, has_other ? TT_FMUL(g, other[ob + fix3 * o3]) : g);
                } else {
                    float s = 0.0f;
                    for (tt_i64 j = 0; j < d3; j++)
                        s = TT_FADD(s, has_other ? TT_FMUL(dy[row + j], other[ob + j * o3])
                                                 : dy[row + j]);
                    acc = TT_FADD(acc, s);
                }
            }
    dst[e] = acc;
}

/* Zero the batch of m x n matrices at c_off + i * c_bs with row stride ldc (their padding
 * untouched): C before a library GEMM that reads C even when beta is 0. */
TT_KERNEL void tt_zero_mats(TT_GLOBAL float *c, tt_i64 c_off, tt_i64 ldc, tt_i64 c_bs, tt_i64 m,
                            tt_i64 n, tt_i64 total)
{
    tt_i64 g = TT_GID();
    if (g >= total) return;
    tt_i64 j = g % n, t = g / n, i = t % m, b = t / m;
    c[c_off + b * c_bs + i * ldc + j] = 0.0f;
}

/* y[i] = v: zero-filled gradients, seeds, constant buffers. */
TT_KERNEL void tt_fill_f32(TT_GLOBAL float *y, float v, tt_i64 n)
{
    tt_i64 i = TT_GID();
    if (i >= n) return;
    y[i] = v;
}

/* The kernels launched by name (tt_device_ops.launch): each source ends with its list. */
// clang-format off
#define TT_KLIST_CORE(X) \
    X(tt_fq_forward) \
    X(tt_fq_backward) \
    X(tt_qgemm) \
    X(tt_relu_forward) \
    X(tt_relu_backward) \
    X(tt_add_forward) \
    X(tt_accumulate) \
    X(tt_sgd_step) \
    X(tt_sgemm) \
    X(tt_fill_f32) \
    X(tt_sgemm_sb) \
    X(tt_bcast_binary) \
    X(tt_bcast_accum) \
    X(tt_zero_mats)
// clang-format on
