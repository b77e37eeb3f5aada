/* Shared device kernels (qat group): compiled as OpenCL C and as CUDA with the prologue and
 * rules of kernels/shared/kernels.h. They serve kernels/shared/dev_ops_qat.c: FakeQuant's batch
 * range (its observer) and LSQ scale gradient (autograd/ops/fake_quant.c, qat/observer.c), and
 * the simulated BatchNorm folding of autograd/ops/bn_fold.c. FakeQuant's forward and
 * straight-through backward are kernels.h's tt_fq_forward / tt_fq_backward; the per-channel
 * scalar work (observer update, scale / zero point, checks, BiasFakeQuant) runs on the host
 * with the CPU's own functions.
 *
 * Double precision: the CPU sums the LSQ gradient and the folded gamma gradient in double, so
 * these kernels do too (one correctly rounded double operation per TT_QAT_D* macro: nvcc would
 * otherwise contract a * b + c in double). tt_qat_f64 is double on CUDA and on OpenCL devices
 * with cl_khr_fp64; without it (some integrated and mobile GPUs) it is float, so the program
 * still builds and those two gradients agree with the CPU only loosely. Double values the host
 * computes reach a kernel as their IEEE bits (a tt_i64) plus a float for that fallback. */
#if defined(__CUDACC__)
typedef double tt_qat_f64;
#define TT_QAT_DADD(a, b)       __dadd_rn((a), (b))
#define TT_QAT_DSUB(a, b)       __dsub_rn((a), (b))
#define TT_QAT_DMUL(a, b)       __dmul_rn((a), (b))
#define TT_QAT_DDIV(a, b)       __ddiv_rn((a), (b))
#define TT_QAT_DSQRT(a)         __dsqrt_rn(a)
#define TT_QAT_F64_ARG(bits, f) __longlong_as_double(bits)
#elif defined(cl_khr_fp64)
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double tt_qat_f64;
#define TT_QAT_DADD(a, b)       ((a) + (b))
#define TT_QAT_DSUB(a, b)       ((a) - (b))
#define TT_QAT_DMUL(a, b)       ((a) * (b))
#define TT_QAT_DDIV(a, b)       ((a) / (b))
#define TT_QAT_DSQRT(a)         sqrt(a) /* double sqrt is correctly rounded in OpenCL */
#define TT_QAT_F64_ARG(bits, f) as_double(bits)
#else
typedef float tt_qat_f64;
#define TT_QAT_DADD(a, b)       ((a) + (b))
#define TT_QAT_DSUB(a, b)       ((a) - (b))
#define TT_QAT_DMUL(a, b)       ((a) * (b))
#define TT_QAT_DDIV(a, b)       ((a) / (b))
#define TT_QAT_DSQRT(a)         sqrt(a)
#define TT_QAT_F64_ARG(bits, f) (f)
#endif

/* ---- FakeQuant observer: the batch's min / max per channel (tt_observer_minmax) ----
 * X is [outer, ch, inner]; channel c's values, in the CPU's order, are j = o * inner + i for
 * j < len = outer * inner. Thread t = c * nchunks + k takes the chunk j in [k * chunk, (k + 1) *
 * chunk) with the CPU's rule (lo = v < lo ? v : lo: NaN is skipped, and of equal values, +0 and
 * -0 included, the first one stays), then one thread per channel folds its chunks in order with
 * the same rule. That keeps the first value reaching the minimum in the whole sequence, so the
 * result is the serial loop's, bit for bit. part holds bmin[ch], bmax[ch], then the chunk
 * minima and maxima (ch * nchunks each). */
TT_KERNEL void tt_qat_minmax_part(TT_GLOBAL const float *x, TT_GLOBAL float *part, tt_i64 ch,
                                  tt_i64 inner, tt_i64 len, tt_i64 chunk, tt_i64 nchunks)
{
    tt_i64 t = TT_GID();
    if (t >= ch * nchunks) return;
    tt_i64 c = t / nchunks, j = (t % nchunks) * chunk;
    tt_i64 end = j + chunk < len ? j + chunk : len;
    tt_i64 i = j < len ? j % inner : 0;
    tt_i64 p = j < len ? ((j / inner) * ch + c) * inner + i : 0;
    float lo = TT_AS_F32(0x7f800000u), hi = TT_AS_F32(0xff800000u); /* +inf, -inf */
    for (; j < end; j++) {
        float v = x[p];
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        p++;
        if (++i == inner) { /* next row of this channel */
            i = 0;
            p += (ch - 1) * inner;
        }
    }
    part[2 * ch + t] = lo;
    part[2 * ch + ch * nchunks + t] = hi;
}

TT_KERNEL void tt_qat_minmax_final(TT_GLOBAL float *part, tt_i64 ch, tt_i64 nchunks)
{
    tt_i64 c = TT_GID();
    if (c >= ch) return;
    float lo = TT_AS_F32(0x7f800000u), hi = TT_AS_F32(0xff800000u);
    for (tt_i64 k = 0; k < nchunks; k++) {
        float a = part[2 * ch + c * nchunks + k], b = part[2 * ch + ch * nchunks + c * nchunks + k];
        lo = a < lo ? a : lo;
        hi = b > hi ? b : hi;
    }
    part[c] = lo;
    part[ch + c] = hi;
}

/* ---- FakeQuant LSQ scale gradient (fq_lsq_backward) ----
 * Part t sums, in double and in element order, the run [t * run, min((t + 1) * run, total)) of
 * channel t % ch: per tensor (ch = 1) the CPU's chunks of 16384, per channel its rows (run =
 * inner, t = o * ch + c). Each term is exact in double (round(v) - v and the clamp offsets are
 * floats, their product with a float dy fits 48 bits), so the sums are the CPU's bit for bit. */
TT_KERNEL void tt_qat_lsq_part(TT_GLOBAL const float *x, TT_GLOBAL const float *dy,
                               TT_GLOBAL const tt_u8 *code, TT_GLOBAL const float *scale,
                               TT_GLOBAL const float *zero_point, TT_GLOBAL tt_qat_f64 *part,
                               tt_i64 total, tt_i64 run, tt_i64 ch, tt_i64 nparts, float qmin,
                               float qmax)
{
    tt_i64 t = TT_GID();
    if (t >= nparts) return;
    tt_i64 c = t % ch, off = t * run;
    tt_i64 end = off + run < total ? off + run : total;
    float s = scale[c], z = zero_point[c];
    s = !(s >= 0x1p-23f) && s == s ? 0x1p-23f : s; /* fq_scale: LSQ keeps s >= FLT_EPSILON */
    tt_qat_f64 below = (tt_qat_f64)TT_FSUB(qmin, z), above = (tt_qat_f64)TT_FSUB(qmax, z);
    tt_qat_f64 sum = (tt_qat_f64)0.0f;
    for (tt_i64 i = off; i < end; i++) {
        tt_qat_f64 d;
        tt_u8 k = code[i];
        if (k == 0) {
            float v = TT_FDIV(x[i], s);
            d = TT_QAT_DSUB((tt_qat_f64)tt_k_round_half_even(v), (tt_qat_f64)v);
        } else {
            d = k == 1 ? below : above;
        }
        sum = TT_QAT_DADD(sum, TT_QAT_DMUL(d, (tt_qat_f64)dy[i]));
    }
    part[t] = sum;
}

/* ds[c] += (float)(sum * g), the sum over channel c's parts in order (parts j * ch + c). */
TT_KERNEL void tt_qat_lsq_final(TT_GLOBAL const tt_qat_f64 *part, TT_GLOBAL float *ds, tt_i64 ch,
                                tt_i64 nper, tt_i64 g_bits, float g_f)
{
    tt_i64 c = TT_GID();
    if (c >= ch) return;
    tt_qat_f64 g = TT_QAT_F64_ARG(g_bits, g_f);
    tt_qat_f64 sum = (tt_qat_f64)0.0f;
    for (tt_i64 j = 0; j < nper; j++) sum = TT_QAT_DADD(sum, part[j * ch + c]);
    ds[c] = TT_FADD(ds[c], (float)TT_QAT_DMUL(sum, g));
}

/* ---- Simulated BatchNorm folding (BnFoldWeight, BnUnfold) over [outer, ch, inner] ---- */

/* y = x * mult[c]: the forward, mult being f or 1 / f rounded to float on the host. */
TT_KERNEL void tt_qat_scale_ch(TT_GLOBAL const float *x, TT_GLOBAL const float *mult,
                               TT_GLOBAL float *y, tt_i64 n, tt_i64 ch, tt_i64 inner)
{
    tt_i64 i = TT_GID();
    if (i >= n) return;
    y[i] = TT_FMUL(x[i], mult[(i / inner) % ch]);
}

/* dx += dy * mult[c]. */
TT_KERNEL void tt_qat_bnf_dx(TT_GLOBAL const float *dy, TT_GLOBAL const float *mult,
                             TT_GLOBAL float *dx, tt_i64 n, tt_i64 ch, tt_i64 inner)
{
    tt_i64 i = TT_GID();
    if (i >= n) return;
    dx[i] = TT_FADD(dx[i], TT_FMUL(dy[i], mult[(i / inner) % ch]));
}

/* dgamma[k] += (float)(acc * dm), one thread per channel as bf_backward_axis: acc sums dy x in
 * double over (o, j) in order (each product exact), sigma = sqrt(var + eps) and dm = d mult /
 * d gamma (1 / sigma, or -sigma / gamma^2 for unfold) in double. */
TT_KERNEL void tt_qat_bnf_dgamma(TT_GLOBAL const float *x, TT_GLOBAL const float *dy,
                                 TT_GLOBAL const float *gamma, TT_GLOBAL const float *var,
                                 TT_GLOBAL float *dg, tt_i64 outer, tt_i64 ch, tt_i64 inner,
                                 float eps, int unfold)
{
    tt_i64 k = TT_GID();
    if (k >= ch) return;
    tt_qat_f64 acc = (tt_qat_f64)0.0f;
    for (tt_i64 o = 0; o < outer; o++) {
        tt_i64 off = (o * ch + k) * inner;
        for (tt_i64 j = 0; j < inner; j++)
            acc = TT_QAT_DADD(acc, TT_QAT_DMUL((tt_qat_f64)dy[off + j], (tt_qat_f64)x[off + j]));
    }
    tt_qat_f64 sig = TT_QAT_DSQRT(TT_QAT_DADD((tt_qat_f64)var[k], (tt_qat_f64)eps));
    tt_qat_f64 g = (tt_qat_f64)gamma[k];
    tt_qat_f64 dm =
        unfold ? TT_QAT_DDIV(-sig, TT_QAT_DMUL(g, g)) : TT_QAT_DDIV((tt_qat_f64)1.0f, sig);
    dg[k] = TT_FADD(dg[k], (float)TT_QAT_DMUL(acc, dm));
}

/* The kernels of this file launched by name (see TT_KLIST_CORE). */
// clang-format off
#define TT_KLIST_QAT(X) \
    X(tt_qat_minmax_part) \
    X(tt_qat_minmax_final) \
    X(tt_qat_lsq_part) \
    X(tt_qat_lsq_final) \
    X(tt_qat_scale_ch) \
    X(tt_qat_bnf_dx) \
    X(tt_qat_bnf_dgamma)
// clang-format on
