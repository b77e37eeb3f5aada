/* Shared device kernels (train group): compiled as OpenCL C and as CUDA with the prologue and
 * rules of kernels/shared/kernels.h. Each kernel mirrors a CPU op of autograd/ops (named at the
 * kernel) or autograd/optim.c's adam_update, operation for operation.
 *
 * Double precision: the CPU ops accumulate in double (BatchNorm's statistics, the losses,
 * softmax-cross-entropy), so these kernels do too. tt_f64 is double on CUDA and on OpenCL
 * devices with cl_khr_fp64 (PoCL, NVIDIA, AMD); on an OpenCL device without it (some
 * integrated and mobile GPUs) it falls back to float so that the program still builds, and
 * those ops then agree with the CPU only loosely. The TT_TR_D* macros are one correctly rounded
 * double operation each: nvcc would otherwise contract a * b + c in double into an FMA. */
#if defined(__CUDACC__)
typedef double tt_f64;
#define TT_TR_DADD(a, b) __dadd_rn((a), (b))
#define TT_TR_DSUB(a, b) __dsub_rn((a), (b))
#define TT_TR_DMUL(a, b) __dmul_rn((a), (b))
#define TT_TR_DDIV(a, b) __ddiv_rn((a), (b))
#define TT_TR_DSQRT(a)   __dsqrt_rn(a)
#else
#if defined(cl_khr_fp64)
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double tt_f64;
#else
typedef float tt_f64;
#endif
#define TT_TR_DADD(a, b) ((a) + (b))
#define TT_TR_DSUB(a, b) ((a) - (b))
#define TT_TR_DMUL(a, b) ((a) * (b))
#define TT_TR_DDIV(a, b) ((a) / (b))
#define TT_TR_DSQRT(a)   sqrt(a)
#endif
#define TT_TR_DLOG(a) log(a) /* double log: each platform's own, as TT_LOGF */

/* ---- Gemm, MatMul (autograd/ops/gemm.c, matmul.c) ---- */

/* Gemm's bias, written into every row of C before the product is added (gemm_run). */
TT_KERNEL void tt_train_bias_rows(TT_GLOBAL const float *bias, TT_GLOBAL float *c, tt_i64 n,
                                  tt_i64 cols)
{
    tt_i64 i = TT_GID();
    if (i >= n) return;
    c[i] = bias[i % cols];
}

/* Gemm's bias gradient: db[j] += dy[i][j] for i = 0, 1, ... in order, as the CPU loop. */
TT_KERNEL void tt_train_colsum_acc(TT_GLOBAL const float *dy, TT_GLOBAL float *db, tt_i64 rows,
                                   tt_i64 cols)
{
    tt_i64 j = TT_GID();
    if (j >= cols) return;
    float v = db[j];
    for (tt_i64 i = 0; i < rows; i++) v = TT_FADD(v, dy[i * cols + j]);
    db[j] = v;
}

/* ---- BatchNormalization (autograd/ops/batchnorm.c) ----
 * Per-channel state st (floats): hi[c], lo[c], istd[c], frozen flag [1], a[c]: the batch mean
 * as a float pair, 1 / std, whether a training forward ran frozen, and the forward's factor
 * scale * istd, the CPU's saved state plus a. For eval and frozen forwards hi is the running
 * mean and lo 0, so ((x - hi) - lo) * a + bias is exactly the CPU's (x - mu) * a + bias.
 *
 * The CPU sums each row of S values of a channel under `#pragma omp simd reduction`, which the
 * CPU build (GCC 12, x86-64, -O3 -fopenmp) lowers to four lane sums: lane l takes j = 4q + l over
 * the whole blocks of four, the 0..3 remaining values go into lane 0, and after the row
 * acc = acc + l0 + l1 + l2 + l3 in that order (read from its assembly). The kernels sum in
 * exactly that order, so the double sums, and everything rounded from them, are the CPU's bit
 * for bit. (Another order would change a double sum in its last bits only, which reaches a float
 * result about once in 1e8 or more channels: random test data cannot tell the orders apart, and a
 * CPU built by another compiler may sum in another order.) */
TT_FN tt_f64 tt_tr_lanes(tt_f64 acc, tt_f64 l0, tt_f64 l1, tt_f64 l2, tt_f64 l3)
{
    return TT_TR_DADD(TT_TR_DADD(TT_TR_DADD(TT_TR_DADD(acc, l0), l1), l2), l3);
}

/* Training statistics, one thread per channel: the two double passes, the saved state and the
 * running statistics (PyTorch: the unbiased variance), as bn_forward. */
TT_KERNEL void tt_train_bn_stats(TT_GLOBAL const float *x, TT_GLOBAL const float *scale,
                                 TT_GLOBAL float *rmean, TT_GLOBAL float *rvar, TT_GLOBAL float *st,
                                 tt_i64 n, tt_i64 c, tt_i64 s, float eps_f, float mom_f)
{
    tt_i64 ch = TT_GID();
    if (ch >= c) return;
    tt_i64 nb = s - s % 4;
    tt_f64 zero = (tt_f64)0.0f, one = (tt_f64)1.0f;
    tt_f64 md = (tt_f64)(n * s), sum = zero, ss = zero;
    for (tt_i64 i = 0; i < n; i++) {
        TT_GLOBAL const float *xp = x + (i * c + ch) * s;
        tt_f64 l0 = zero, l1 = zero, l2 = zero, l3 = zero;
        for (tt_i64 j = 0; j < nb; j += 4) {
            l0 = TT_TR_DADD(l0, (tt_f64)xp[j]);
            l1 = TT_TR_DADD(l1, (tt_f64)xp[j + 1]);
            l2 = TT_TR_DADD(l2, (tt_f64)xp[j + 2]);
            l3 = TT_TR_DADD(l3, (tt_f64)xp[j + 3]);
        }
        for (tt_i64 j = nb; j < s; j++) l0 = TT_TR_DADD(l0, (tt_f64)xp[j]);
        sum = tt_tr_lanes(sum, l0, l1, l2, l3);
    }
    tt_f64 mean = TT_TR_DDIV(sum, md);
    for (tt_i64 i = 0; i < n; i++) {
        TT_GLOBAL const float *xp = x + (i * c + ch) * s;
        tt_f64 l[4];
        l[0] = l[1] = l[2] = l[3] = zero;
        for (tt_i64 j = 0; j < s; j++) {
            tt_f64 d = TT_TR_DSUB((tt_f64)xp[j], mean);
            int lane = j < nb ? (int)(j % 4) : 0;
            l[lane] = TT_TR_DADD(l[lane], TT_TR_DMUL(d, d));
        }
        ss = tt_tr_lanes(ss, l[0], l[1], l[2], l[3]);
    }
    tt_f64 eps = (tt_f64)eps_f, mom = (tt_f64)mom_f;
    tt_f64 istd = TT_TR_DDIV(one, TT_TR_DSQRT(TT_TR_DADD(TT_TR_DDIV(ss, md), eps)));
    float hi = (float)mean;
    st[ch] = hi;
    st[c + ch] = (float)TT_TR_DSUB(mean, (tt_f64)hi);
    st[2 * c + ch] = (float)istd;
    st[3 * c + 1 + ch] = (float)TT_TR_DMUL((tt_f64)scale[ch], istd);
    if (ch == 0) st[3 * c] = 0.0f;
    tt_f64 keep = TT_TR_DSUB(one, mom);
    rmean[ch] = (float)TT_TR_DADD(TT_TR_DMUL(mom, mean), TT_TR_DMUL(keep, (tt_f64)rmean[ch]));
    tt_f64 uvar = TT_TR_DDIV(ss, TT_TR_DSUB(md, one));
    rvar[ch] = (float)TT_TR_DADD(TT_TR_DMUL(mom, uvar), TT_TR_DMUL(keep, (tt_f64)rvar[ch]));
}

/* Eval, or a frozen training forward: the running statistics, as bn_forward's first branch
 * (a = scale / sqrt(var + eps) in double) and, for frozen, its saved state (flag 1). */
TT_KERNEL void tt_train_bn_fixed(TT_GLOBAL const float *scale, TT_GLOBAL const float *rmean,
                                 TT_GLOBAL const float *rvar, TT_GLOBAL float *st, tt_i64 c,
                                 float eps_f, float flag)
{
    tt_i64 ch = TT_GID();
    if (ch >= c) return;
    tt_f64 sd = TT_TR_DSQRT(TT_TR_DADD((tt_f64)rvar[ch], (tt_f64)eps_f));
    st[ch] = rmean[ch];
    st[c + ch] = 0.0f;
    st[2 * c + ch] = (float)TT_TR_DDIV((tt_f64)1.0f, sd);
    st[3 * c + 1 + ch] = (float)TT_TR_DDIV((tt_f64)scale[ch], sd);
    if (ch == 0) st[3 * c] = flag;
}

/* y = ((x - hi) - lo) * a + bias, one element per thread; channel (i / s) % c. */
TT_KERNEL void tt_train_bn_apply(TT_GLOBAL const float *x, TT_GLOBAL const float *st,
                                 TT_GLOBAL const float *bias, TT_GLOBAL float *y, tt_i64 total,
                                 tt_i64 c, tt_i64 s)
{
    tt_i64 i = TT_GID();
    if (i >= total) return;
    tt_i64 ch = (i / s) % c;
    float v = TT_FSUB(TT_FSUB(x[i], st[ch]), st[c + ch]);
    y[i] = TT_FADD(TT_FMUL(v, st[3 * c + 1 + ch]), bias[ch]);
}

/* Backward sums, one thread per channel, as bn_backward: sdy and sdyx in double (lanes as in
 * the forward), dbias += (float)sdy, dscale += (float)sdyx, and for the dx pass
 * k = scale * istd, mean_dy and mean_dyx in sc[0..c), sc[c..2c), sc[2c..3c). */
TT_KERNEL void tt_train_bn_bsums(TT_GLOBAL const float *x, TT_GLOBAL const float *dy,
                                 TT_GLOBAL const float *st, TT_GLOBAL const float *scale,
                                 TT_GLOBAL float *dscale, TT_GLOBAL float *dbias,
                                 TT_GLOBAL float *sc, tt_i64 n, tt_i64 c, tt_i64 s, int has_dscale,
                                 int has_dbias)
{
    tt_i64 ch = TT_GID();
    if (ch >= c) return;
    float hi = st[ch], lo = st[c + ch], istd = st[2 * c + ch];
    tt_i64 nb = s - s % 4;
    tt_f64 zero = (tt_f64)0.0f, sdy = zero, sdyx = zero;
    for (tt_i64 i = 0; i < n; i++) {
        TT_GLOBAL const float *xp = x + (i * c + ch) * s;
        TT_GLOBAL const float *gp = dy + (i * c + ch) * s;
        tt_f64 a[4], b[4];
        a[0] = a[1] = a[2] = a[3] = zero;
        b[0] = b[1] = b[2] = b[3] = zero;
        for (tt_i64 j = 0; j < s; j++) {
            int lane = j < nb ? (int)(j % 4) : 0;
            tt_f64 g = (tt_f64)gp[j];
            float xh = TT_FMUL(TT_FSUB(TT_FSUB(xp[j], hi), lo), istd);
            a[lane] = TT_TR_DADD(a[lane], g);
            b[lane] = TT_TR_DADD(b[lane], TT_TR_DMUL(g, (tt_f64)xh));
        }
        sdy = tt_tr_lanes(sdy, a[0], a[1], a[2], a[3]);
        sdyx = tt_tr_lanes(sdyx, b[0], b[1], b[2], b[3]);
    }
    if (has_dbias) dbias[ch] = TT_FADD(dbias[ch], (float)sdy);
    if (has_dscale) dscale[ch] = TT_FADD(dscale[ch], (float)sdyx);
    tt_f64 md = (tt_f64)(n * s);
    sc[ch] = TT_FMUL(scale[ch], istd);
    sc[c + ch] = (float)TT_TR_DDIV(sdy, md);
    sc[2 * c + ch] = (float)TT_TR_DDIV(sdyx, md);
}

/* dx += k * (dy - mean_dy - x_hat * mean_dyx), or k * dy after a frozen forward. */
TT_KERNEL void tt_train_bn_bdx(TT_GLOBAL const float *x, TT_GLOBAL const float *dy,
                               TT_GLOBAL const float *st, TT_GLOBAL const float *sc,
                               TT_GLOBAL float *dx, tt_i64 total, tt_i64 c, tt_i64 s)
{
    tt_i64 i = TT_GID();
    if (i >= total) return;
    tt_i64 ch = (i / s) % c;
    float k = sc[ch], g = dy[i], v;
    if (st[3 * c] != 0.0f) {
        v = TT_FMUL(k, g);
    } else {
        float xh = TT_FMUL(TT_FSUB(TT_FSUB(x[i], st[ch]), st[c + ch]), st[2 * c + ch]);
        v = TT_FMUL(k, TT_FSUB(TT_FSUB(g, sc[c + ch]), TT_FMUL(xh, sc[2 * c + ch])));
    }
    dx[i] = TT_FADD(dx[i], v);
}

/* ---- Dropout (autograd/ops/dropout.c): the mask is drawn on the host from the executor's
 * RNG, exactly as the CPU draws it, and uploaded; y = mask ? x * scale : 0 and
 * dx += mask ? dy * scale : nothing. ---- */
TT_KERNEL void tt_train_dropout_fwd(TT_GLOBAL const float *x, TT_GLOBAL const tt_u8 *mask,
                                    TT_GLOBAL float *y, tt_i64 n, float scale)
{
    tt_i64 i = TT_GID();
    if (i >= n) return;
    y[i] = mask[i] ? TT_FMUL(x[i], scale) : 0.0f;
}

TT_KERNEL void tt_train_dropout_bwd(TT_GLOBAL const float *dy, TT_GLOBAL const tt_u8 *mask,
                                    TT_GLOBAL float *dx, tt_i64 n, float scale)
{
    tt_i64 i = TT_GID();
    if (i >= n) return;
    if (mask[i]) dx[i] = TT_FADD(dx[i], TT_FMUL(dy[i], scale));
}

/* ---- SoftmaxCrossEntropy (autograd/ops/softmax_ce.c) ---- */

/* One row per thread: p = softmax(z) as the CPU forms it (max, expf(z - max) summed in double,
 * one float reciprocal), and the row's loss term (max + log(sum)) - z[label] in double. A row
 * whose label is out of range gets term 0 and is reported by tt_train_ce_loss. */
TT_KERNEL void tt_train_ce_rows(TT_GLOBAL const float *z, TT_GLOBAL const tt_i32 *lab,
                                TT_GLOBAL float *p, TT_GLOBAL tt_f64 *terms, tt_i64 n, tt_i64 k)
{
    tt_i64 i = TT_GID();
    if (i >= n) return;
    tt_i32 l = lab[i];
    if (l < 0 || l >= k) {
        terms[i] = (tt_f64)0.0f;
        return;
    }
    TT_GLOBAL const float *zi = z + i * k;
    TT_GLOBAL float *pi = p + i * k;
    float mx = zi[0];
    for (tt_i64 j = 1; j < k; j++) mx = zi[j] > mx ? zi[j] : mx;
    tt_f64 sum = (tt_f64)0.0f;
    for (tt_i64 j = 0; j < k; j++) {
        float e = TT_EXPF(TT_FSUB(zi[j], mx));
        pi[j] = e;
        sum = TT_TR_DADD(sum, (tt_f64)e);
    }
    float inv = (float)TT_TR_DDIV((tt_f64)1.0f, sum);
    for (tt_i64 j = 0; j < k; j++) pi[j] = TT_FMUL(pi[j], inv);
    terms[i] = TT_TR_DSUB(TT_TR_DADD((tt_f64)mx, TT_TR_DLOG(sum)), (tt_f64)zi[l]);
}

/* One thread: the mean of the row terms summed in row order, and in p[n k], p[n k + 1] (as int
 * bits) the first row with an out-of-range label and that label, or -1, 0 when there is none. */
TT_KERNEL void tt_train_ce_loss(TT_GLOBAL const tt_i32 *lab, TT_GLOBAL const tt_f64 *terms,
                                TT_GLOBAL float *p, TT_GLOBAL float *y, tt_i64 n, tt_i64 k)
{
    if (TT_GID() != 0) return;
    tt_f64 total = (tt_f64)0.0f;
    tt_i32 bad = -1, bad_label = 0;
    for (tt_i64 i = 0; i < n; i++) {
        tt_i32 l = lab[i];
        if ((l < 0 || l >= k) && bad < 0) {
            bad = (tt_i32)i;
            bad_label = l;
        }
        total = TT_TR_DADD(total, terms[i]);
    }
    y[0] = (float)TT_TR_DDIV(total, (tt_f64)n);
    p[n * k] = TT_AS_F32((tt_u32)bad);
    p[n * k + 1] = TT_AS_F32((tt_u32)bad_label);
}

/* dz += g p, then dz[label] -= g, with g = dy / n (one element per thread). */
TT_KERNEL void tt_train_ce_bwd(TT_GLOBAL const float *p, TT_GLOBAL const tt_i32 *lab,
                               TT_GLOBAL const float *dy, TT_GLOBAL float *dz, tt_i64 n, tt_i64 k)
{
    tt_i64 g = TT_GID();
    if (g >= n * k) return;
    tt_i64 i = g / k, j = g % k;
    float s = TT_FDIV(dy[0], (float)n);
    float v = TT_FADD(dz[g], TT_FMUL(s, p[g]));
    if (j == (tt_i64)lab[i]) v = TT_FSUB(v, s);
    dz[g] = v;
}

/* ---- MSELoss, L1Loss, SmoothL1Loss (autograd/ops/mse.c, l1.c, smooth_l1.c) ----
 * kind 0 MSE, 1 L1, 2 SmoothL1 (beta). The forward is one thread summing in element order in
 * double, as the CPU's serial loop. */
TT_KERNEL void tt_train_loss_fwd(TT_GLOBAL const float *p, TT_GLOBAL const float *t,
                                 TT_GLOBAL float *y, tt_i64 n, int kind, float beta_f)
{
    if (TT_GID() != 0) return;
    tt_f64 s = (tt_f64)0.0f, beta = (tt_f64)beta_f, h05 = (tt_f64)0.5f;
    for (tt_i64 i = 0; i < n; i++) {
        tt_f64 d = (tt_f64)TT_FSUB(p[i], t[i]);
        if (kind == 0) {
            s = TT_TR_DADD(s, TT_TR_DMUL(d, d));
        } else {
            tt_f64 z = fabs(d);
            if (kind == 2)
                z = z < beta ? TT_TR_DDIV(TT_TR_DMUL(TT_TR_DMUL(h05, z), z), beta)
                             : TT_TR_DSUB(z, TT_TR_DMUL(h05, beta));
            s = TT_TR_DADD(s, z);
        }
    }
    y[0] = (float)TT_TR_DDIV(s, (tt_f64)n);
}

/* dp += v and dt -= v per element: MSE v = (2 dy / n) (p - t); L1 v = sign(p - t) dy / n;
 * SmoothL1 v = +-dy / n outside [-beta, beta], (dy / n) d / beta inside (0 for beta 0). */
TT_KERNEL void tt_train_loss_bwd(TT_GLOBAL const float *p, TT_GLOBAL const float *t,
                                 TT_GLOBAL const float *dy, TT_GLOBAL float *dp,
                                 TT_GLOBAL float *dt, tt_i64 n, int kind, float beta, int has_dp,
                                 int has_dt)
{
    tt_i64 i = TT_GID();
    if (i >= n) return;
    float d = TT_FSUB(p[i], t[i]), v;
    if (kind == 0) {
        float g = TT_FDIV(TT_FMUL(dy[0], 2.0f), (float)n);
        v = TT_FMUL(g, d);
    } else {
        float g = TT_FDIV(dy[0], (float)n);
        float lim = kind == 1 ? 0.0f : beta;
        if (d > lim)
            v = g;
        else if (d < -lim)
            v = -g;
        else
            v = kind == 2 && beta > 0.0f ? TT_FDIV(TT_FMUL(g, d), beta) : 0.0f;
    }
    if (has_dp) dp[i] = TT_FADD(dp[i], v);
    if (has_dt) dt[i] = TT_FSUB(dt[i], v);
}

/* ---- Sigmoid, Tanh, LeakyRelu, Clip (autograd/ops/sigmoid.c, tanh.c, leakyrelu.c, clip.c) --
 * kind 0 Sigmoid, 1 Tanh, 2 LeakyRelu (alpha), 3 Clip (lo, hi). Sigmoid and Tanh use each
 * platform's expf / tanhf (a tolerance); the others are exact. */
TT_KERNEL void tt_train_unary_fwd(TT_GLOBAL const float *x, TT_GLOBAL float *y, tt_i64 n, int kind,
                                  float alpha, float lo, float hi)
{
    tt_i64 i = TT_GID();
    if (i >= n) return;
    float v = x[i], r;
    if (kind == 0) {
        if (v >= 0.0f) {
            r = TT_FDIV(1.0f, TT_FADD(1.0f, TT_EXPF(-v)));
        } else {
            float e = TT_EXPF(v);
            r = TT_FDIV(e, TT_FADD(1.0f, e));
        }
    } else if (kind == 1) {
        r = TT_TANHF(v);
    } else if (kind == 2) {
        r = v > 0.0f ? v : TT_FMUL(alpha, v);
    } else {
        r = v < lo ? lo : (v > hi ? hi : v);
    }
    y[i] = r;
}

/* Sigmoid dx += dy y (1 - y), Tanh dx += dy (1 - y^2) (from the output y), LeakyRelu
 * dx += x > 0 ? dy : alpha dy, Clip dx += dy where lo < x < hi. */
TT_KERNEL void tt_train_unary_bwd(TT_GLOBAL const float *x, TT_GLOBAL const float *y,
                                  TT_GLOBAL const float *dy, TT_GLOBAL float *dx, tt_i64 n,
                                  int kind, float alpha, float lo, float hi)
{
    tt_i64 i = TT_GID();
    if (i >= n) return;
    float g = dy[i];
    if (kind == 0) {
        float o = y[i];
        dx[i] = TT_FADD(dx[i], TT_FMUL(TT_FMUL(g, o), TT_FSUB(1.0f, o)));
    } else if (kind == 1) {
        float o = y[i];
        dx[i] = TT_FADD(dx[i], TT_FMUL(g, TT_FSUB(1.0f, TT_FMUL(o, o))));
    } else if (kind == 2) {
        dx[i] = TT_FADD(dx[i], x[i] > 0.0f ? g : TT_FMUL(alpha, g));
    } else if (x[i] > lo && x[i] < hi) {
        dx[i] = TT_FADD(dx[i], g);
    }
}

/* ---- Softmax (autograd/ops/softmax.c, inference): one line of k values spaced inner apart
 * per thread: max, e = expf(x - max) summed in float in order, y = e / sum. ---- */
TT_KERNEL void tt_train_softmax(TT_GLOBAL const float *x, TT_GLOBAL float *y, tt_i64 lines,
                                tt_i64 k, tt_i64 inner)
{
    tt_i64 t = TT_GID();
    if (t >= lines) return;
    tt_i64 off = t / inner * k * inner + t % inner;
    TT_GLOBAL const float *xp = x + off;
    TT_GLOBAL float *yp = y + off;
    float m = xp[0];
    for (tt_i64 i = 1; i < k; i++) m = xp[i * inner] > m ? xp[i * inner] : m;
    float s = 0.0f;
    for (tt_i64 i = 0; i < k; i++) {
        float e = TT_EXPF(TT_FSUB(xp[i * inner], m));
        yp[i * inner] = e;
        s = TT_FADD(s, e);
    }
    for (tt_i64 i = 0; i < k; i++) yp[i * inner] = TT_FDIV(yp[i * inner], s);
}

/* ---- Adam / AdamW step (autograd/optim.c, adam_update), one element per thread ----
 * Launch with n items:
 *   TT_DEV_LAUNCH(dev, "tt_train_adam_step", n, TT_KBUF(p), TT_KBUF(grad), TT_KBUF(m),
 *                 TT_KBUF(v), TT_KI64(n), TT_KF32(wd), TT_KF32(eps), TT_KF32(b2), TT_KF32(w1),
 *                 TT_KF32(w2), TT_KF32(neg_step), TT_KF32(bc2_sqrt), TT_KF32(decay),
 *                 TT_KI32(adamw))
 * with the scalars rounded on the host exactly as adam_update rounds them, at step t (from 1):
 *   wd = cfg.weight_decay, eps = cfg.eps, b2 = cfg.beta2 (floats as configured);
 *   bc1 = 1.0 - pow((double)beta1, (double)t), bc2 = 1.0 - pow((double)beta2, (double)t);
 *   w1 = (float)(1.0 - (double)beta1), w2 = (float)(1.0 - (double)beta2);
 *   neg_step = (float)(-((double)lr / bc1)), bc2_sqrt = (float)sqrt(bc2);
 *   decay = (float)(1.0 - (double)lr * (double)wd); adamw = 1 for AdamW (decoupled decay).
 * m and v are the exp_avg and exp_avg_sq buffers (zero before the first step). */
TT_KERNEL void tt_train_adam_step(TT_GLOBAL float *p, TT_GLOBAL const float *grad,
                                  TT_GLOBAL float *m, TT_GLOBAL float *v, tt_i64 n, float wd,
                                  float eps, float b2, float w1, float w2, float neg_step,
                                  float bc2_sqrt, float decay, int adamw)
{
    tt_i64 i = TT_GID();
    if (i >= n) return;
    float g = grad[i], pi = p[i];
    if (wd != 0.0f) {
        if (adamw)
            pi = TT_FMUL(pi, decay);
        else
            g = TT_FADD(g, TT_FMUL(wd, pi));
    }
    float mi = m[i], d = TT_FSUB(g, mi);
    /* PyTorch's lerp, which picks the form that is exact at its nearer end. */
    mi = w1 < 0.5f ? TT_FADD(mi, TT_FMUL(w1, d)) : TT_FSUB(g, TT_FMUL(d, TT_FSUB(1.0f, w1)));
    float vi = TT_FADD(TT_FMUL(v[i], b2), TT_FMUL(TT_FMUL(w2, g), g));
    m[i] = mi;
    v[i] = vi;
    float denom = TT_FADD(TT_FDIV(TT_FSQRT(vi), bc2_sqrt), eps);
    p[i] = TT_FADD(pi, TT_FDIV(TT_FMUL(neg_step, mi), denom));
}

/* The kernels of this file launched by name (see TT_KLIST_CORE). */
// clang-format off
#define TT_KLIST_TRAIN(X) \
    X(tt_train_bias_rows) \
    X(tt_train_colsum_acc) \
    X(tt_train_bn_stats) \
    X(tt_train_bn_fixed) \
    X(tt_train_bn_apply) \
    X(tt_train_bn_bsums) \
    X(tt_train_bn_bdx) \
    X(tt_train_dropout_fwd) \
    X(tt_train_dropout_bwd) \
    X(tt_train_ce_rows) \
    X(tt_train_ce_loss) \
    X(tt_train_ce_bwd) \
    X(tt_train_loss_fwd) \
    X(tt_train_loss_bwd) \
    X(tt_train_unary_fwd) \
    X(tt_train_unary_bwd) \
    X(tt_train_softmax) \
    X(tt_train_adam_step)
// clang-format on
