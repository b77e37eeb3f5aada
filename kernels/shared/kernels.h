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
 * forward run and straight-through backward (autograd/ops/fake_quant.c), and the GEMM is
 * kernels/cpu/qgemm.h's contract. Integer-to-float conversions round to nearest even on all
 * three (C, OpenCL's default conversion, CUDA's __int2float_rn). */

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
