/* FakeQuant: y = dequantize(quantize(x)) with the numerics of tinytrain/quant.h, an observer
 * that keeps the range, and a straight-through backward. docs/ops.md has the contract.
 *
 * Inputs: X (any float tensor), scale[C], zero_point[C] (integer values stored as float),
 * min[C], max[C] (the observer's running range; +inf/-inf means nothing observed yet), all
 * graph parameters; C = 1 per tensor, else X's size along `axis`.
 * Attributes: qmin (0), qmax (255), axis (-1: per tensor), symmetric (0), observer (2: 1 running
 * min/max, 2 moving average, 3 current tensor), averaging_constant (0.01), learnable (0: 1 is
 * LSQ), observe (1), enabled (1). Other attributes are ignored.
 *
 * A training forward with observe=1 first folds X's range into min/max and rewrites scale and
 * zero_point from it (tt_quant_compute_scale_zp), so the batch is quantised with qparams that
 * include it (PyTorch's FakeQuantize order). Eval forwards never change anything (unlike
 * PyTorch, whose observers keep running in eval). enabled=0 passes X through (gradient too).
 *
 * Backward: dX = dY where the rounded, unclamped level round(x / s) + z lies in [qmin, qmax],
 * else 0 (PyTorch's cachemask; one byte per element is saved by forward). With learnable=1 and
 * a trainable scale, the scale gets LSQ's gradient, per channel:
 *   sum dY * (round(x/s) - x/s)   in range,   (qmin - z) * dY below,   (qmax - z) * dY above,
 * times 1 / sqrt(numel(X) * qmax) (LSQ's gradient scale, as PyTorch's _LearnableFakeQuantize);
 * its scale is kept >= FLT_EPSILON (written back in training forwards). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "autograd/fake_quant.h"
#include "autograd/internal.h"
#include "autograd/op.h"
#include "qat/observer.h"
#include "tinytrain/quant.h"

#define FQ_HEADER   16 /* saved bytes before the per-element codes */
#define FQ_PAR_MIN  65536
#define FQ_QABS_MAX (1 << 24) /* levels stay exact in float */

/* Per-element codes saved for backward. */
enum { FQ_IN = 0, FQ_BELOW = 1, FQ_ABOVE = 2 };

tt_fq_attrs tt_fq_get_attrs(const tt_node *n)
{
    tt_fq_attrs a;
    a.qmin = tt_node_attr_int(n, "qmin", 0);
    a.qmax = tt_node_attr_int(n, "qmax", 255);
    a.axis = tt_node_attr_int(n, "axis", -1);
    a.symmetric = tt_node_attr_int(n, "symmetric", 0);
    a.observer = tt_node_attr_int(n, "observer", TT_OBSERVER_MOVING_AVG);
    a.avg_c = tt_node_attr_float(n, "averaging_constant", 0.01f);
    a.learnable = tt_node_attr_int(n, "learnable", 0);
    a.observe = tt_node_attr_int(n, "observe", 1);
    a.enabled = tt_node_attr_int(n, "enabled", 1);
    return a;
}

void tt_fq_layout(const tt_tensor *x, int64_t axis, int64_t *outer, int64_t *ch, int64_t *inner)
{
    *outer = 1;
    *ch = 1;
    *inner = tt_tensor_numel(x);
    if (axis < 0) return;
    *ch = x->shape.dims[axis];
    for (int i = 0; i < axis; i++) *outer *= x->shape.dims[i];
    *inner = *outer * *ch > 0 ? *inner / (*outer * *ch) : 0; /* an empty X has no rows */
}

static bool is_flag(int64_t v)
{
    return v == 0 || v == 1;
}

static tt_status fq_check_attrs(const tt_node *n, const tt_fq_attrs *a)
{
    if (a->qmin > 0 || a->qmax < 0 || a->qmin >= a->qmax || a->qmin < -FQ_QABS_MAX ||
        a->qmax > FQ_QABS_MAX)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "node '%s' (FakeQuant): qmin %lld / qmax %lld must satisfy qmin <= 0 <= "
                       "qmax, qmin < qmax and |q| <= 2^24 (use tt_quant_range)",
                       n->name, (long long)a->qmin, (long long)a->qmax);
    if (a->observer < TT_OBSERVER_MINMAX || a->observer > TT_OBSERVER_LAST)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "node '%s' (FakeQuant): observer %lld is unknown; use 1 (running "
                       "min/max), 2 (moving average) or 3 (current tensor)",
                       n->name, (long long)a->observer);
    if (!(a->avg_c > 0.0f && a->avg_c <= 1.0f))
        return tt_fail(TT_ERR_INVALID_ARG,
                       "node '%s' (FakeQuant): averaging_constant %g must be in (0, 1]", n->name,
                       (double)a->avg_c);
    const char *bad = !is_flag(a->symmetric)   ? "symmetric"
                      : !is_flag(a->learnable) ? "learnable"
                      : !is_flag(a->observe)   ? "observe"
                      : !is_flag(a->enabled)   ? "enabled"
                                               : NULL;
    if (bad)
        return tt_fail(TT_ERR_INVALID_ARG, "node '%s' (FakeQuant): attribute %s must be 0 or 1",
                       n->name, bad);
    return TT_OK;
}

static tt_status fq_infer(const tt_node *n, const tt_tensor *const *in, tt_tensor *out)
{
    static const char *const what[5] = {"X", "scale", "zero_point", "min", "max"};
    for (int i = 0; i < 5; i++) TT_CHECK(tt_op_expect_dtype(n, in[i], i, TT_F32));
    TT_CHECK(tt_op_expect_ndim(n, in[TT_FQ_X], TT_FQ_X, 1, TT_MAX_DIMS));
    tt_fq_attrs a = tt_fq_get_attrs(n);
    TT_CHECK(fq_check_attrs(n, &a));
    const tt_shape *xs = &in[TT_FQ_X]->shape;
    int64_t c = 1;
    if (a.axis != -1) {
        if (a.axis < 0 || a.axis >= xs->ndim)
            return tt_fail(TT_ERR_INVALID_ARG,
                           "node '%s' (FakeQuant): axis %lld is outside 0..%d for X of rank %d "
                           "(-1 quantises per tensor)",
                           n->name, (long long)a.axis, xs->ndim - 1, xs->ndim);
        c = xs->dims[a.axis];
        if (c < 1)
            return tt_fail(TT_ERR_SHAPE,
                           "node '%s' (FakeQuant): per-channel axis %lld is the batch "
                           "dimension; quantise per channel along a fixed-size axis",
                           n->name, (long long)a.axis);
    }
    for (int i = TT_FQ_SCALE; i <= TT_FQ_MAX; i++) {
        const tt_shape *s = &in[i]->shape;
        if (s->ndim != 1 || s->dims[0] != c) {
            char b[64];
            return tt_fail(TT_ERR_SHAPE,
                           "node '%s' (FakeQuant): %s (input %d) has shape %s; it must be [%lld] "
                           "(%s)",
                           n->name, what[i], i, tt_shape_str(s, b, sizeof b), (long long)c,
                           a.axis == -1 ? "per tensor" : "one per channel of X along axis");
        }
    }
    out[0].dtype = TT_F32;
    out[0].shape = *xs;
    return TT_OK;
}

static size_t fq_saved(const tt_node *n, const tt_tensor *const *in, const tt_tensor *out)
{
    (void)n, (void)out;
    return FQ_HEADER + (size_t)tt_tensor_numel(in[TT_FQ_X]);
}

/* Forward: 2 floats per channel (the batch range). Backward, per tensor: one double per chunk
 * (the LSQ partial sums, added in a fixed order so the result does not depend on threads). */
static size_t fq_scratch(const tt_node *n, const tt_tensor *const *in, const tt_tensor *out)
{
    (void)n, (void)out;
    size_t fwd = 2 * (size_t)in[TT_FQ_SCALE]->shape.dims[0] * sizeof(float);
    size_t chunks = ((size_t)tt_tensor_numel(in[TT_FQ_X]) + TT_FQ_CHUNK - 1) / TT_FQ_CHUNK;
    size_t bwd = chunks * sizeof(double);
    return fwd > bwd ? fwd : bwd;
}

/* The scale a channel is quantised with: LSQ keeps a learned scale >= FLT_EPSILON, as
 * PyTorch's _LearnableFakeQuantize clamps it. */
static float fq_scale(float s, bool learnable)
{
    return learnable && !(s >= FLT_EPSILON) && !isnan(s) ? FLT_EPSILON : s;
}

static tt_status fq_observe(tt_op_ctx *ctx, const tt_fq_attrs *a, int64_t outer, int64_t ch,
                            int64_t inner)
{
    const tt_node *n = ctx->node;
    const float *x = tt_tensor_f32(ctx->in[TT_FQ_X]);
    float *scale = tt_tensor_f32(ctx->in[TT_FQ_SCALE]), *zp = tt_tensor_f32(ctx->in[TT_FQ_ZP]);
    float *rmin = tt_tensor_f32(ctx->in[TT_FQ_MIN]), *rmax = tt_tensor_f32(ctx->in[TT_FQ_MAX]);
    float *bmin = ctx->scratch, *bmax = bmin + ch;
    tt_observer_minmax(x, outer, ch, inner, bmin, bmax);
    /* Refuse before touching the running state, so a bad batch leaves it usable. */
    for (int64_t c = 0; c < ch; c++)
        if (bmin[c] <= bmax[c] && (!isfinite(bmin[c]) || !isfinite(bmax[c])))
            return tt_fail(TT_ERR_NUMERIC,
                           "node '%s' (FakeQuant): the input's range%s is (%g, %g); Inf "
                           "values cannot be quantised (the model is diverging or the data "
                           "has Inf)",
                           n->name, ch > 1 ? " in a channel" : "", (double)bmin[c],
                           (double)bmax[c]);
    tt_observer_update((tt_observer_kind)a->observer, a->avg_c, bmin, bmax, rmin, rmax, ch);
    for (int64_t c = 0; c < ch; c++) {
        if (!(rmin[c] <= rmax[c])) continue; /* still nothing observed (all NaN) */
        float s;
        int32_t z;
        tt_status st = tt_quant_compute_scale_zp(rmin[c], rmax[c], (int32_t)a->qmin,
                                                 (int32_t)a->qmax, a->symmetric, &s, &z);
        if (st != TT_OK) {
            char why[256];
            snprintf(why, sizeof why, "%s", tt_last_error());
            return tt_fail(st, "node '%s' (FakeQuant), channel %lld: %s", n->name, (long long)c,
                           why);
        }
        scale[c] = s;
        zp[c] = (float)z;
    }
    return TT_OK;
}

static tt_status fq_check_qparams(tt_op_ctx *ctx, const tt_fq_attrs *a, int64_t ch)
{
    const tt_node *n = ctx->node;
    float *scale = tt_tensor_f32(ctx->in[TT_FQ_SCALE]);
    const float *zp = tt_tensor_f32(ctx->in[TT_FQ_ZP]);
    for (int64_t c = 0; c < ch; c++) {
        float s = fq_scale(scale[c], a->learnable);
        if (!(s > 0.0f) || !isfinite(s))
            return tt_fail(TT_ERR_NUMERIC,
                           "node '%s' (FakeQuant): scale[%lld] = %g is not a positive finite "
                           "number; run a training forward with observe=1 to set it%s",
                           n->name, (long long)c, (double)scale[c],
                           a->learnable ? ", or lower the learning rate of the learned scale" : "");
        if (ctx->training && a->learnable) scale[c] = s;
        float z = zp[c];
        if (!(z >= (float)a->qmin && z <= (float)a->qmax) || z != floorf(z))
            return tt_fail(TT_ERR_NUMERIC,
                           "node '%s' (FakeQuant): zero_point[%lld] = %g is not an integer in "
                           "[%lld, %lld]",
                           n->name, (long long)c, (double)z, (long long)a->qmin,
                           (long long)a->qmax);
    }
    return TT_OK;
}

/* One run of elements sharing a channel. Levels are integers below 2^24, so q - z and the
 * clamp are exact in float and y equals tt_fake_quantize_val bit for bit. */
static void fq_run_c(const float *x, float *y, uint8_t *code, int64_t n, float s, float z,
                     float qmin, float qmax)
{
    for (int64_t i = 0; i < n; i++) {
        float q = tt_round_half_even(x[i] / s) + z;
        int below = q >= qmin ? 0 : 1, above = q > qmax ? 1 : 0; /* NaN: below */
        float qc = below ? qmin : (above ? qmax : q);
        y[i] = (qc - z) * s;
        code[i] = (uint8_t)(below * FQ_BELOW + above * FQ_ABOVE);
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define FQ_HAVE_AVX2 1
/* fq_run_c eight lanes at a time. The baseline build is SSE2-only, where the portable rounding
 * costs ~20 instructions per lane; AVX2's vroundps rounds half to even directly (whatever
 * MXCSR says) and vdivps is the same correctly rounded division, so every lane is bit-identical
 * to fq_run_c (NaN included: the unordered compare sends it below, to qmin). */
/* Bit k of an 8-bit mask to byte k (0 or 1): copy the byte into every byte, keep bit k of byte
 * k, then turn each nonzero byte (a power of two) into 1 without carries between bytes. */
static inline uint64_t fq_spread8(uint64_t m)
{
    uint64_t v = (m * 0x0101010101010101ull) & 0x8040201008040201ull;
    return ((v + 0x7f7f7f7f7f7f7f7full) >> 7) & 0x0101010101010101ull;
}

__attribute__((target("avx2"))) static void fq_run_avx2(const float *x, float *y, uint8_t *code,
                                                        int64_t n, float s, float z, float qmin,
                                                        float qmax)
{
    const __m256 vs = _mm256_set1_ps(s), vz = _mm256_set1_ps(z);
    const __m256 vlo = _mm256_set1_ps(qmin), vhi = _mm256_set1_ps(qmax);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_div_ps(_mm256_loadu_ps(x + i), vs);
        __m256 q =
            _mm256_add_ps(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), vz);
        __m256 below = _mm256_cmp_ps(q, vlo, _CMP_NGE_UQ),
               above = _mm256_cmp_ps(q, vhi, _CMP_GT_OQ);
        __m256 qc = _mm256_blendv_ps(_mm256_blendv_ps(q, vhi, above), vlo, below);
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_sub_ps(qc, vz), vs));
        uint64_t mb = (uint64_t)_mm256_movemask_ps(below), ma = (uint64_t)_mm256_movemask_ps(above);
        uint64_t c = fq_spread8(mb) * FQ_BELOW | fq_spread8(ma & ~mb) * FQ_ABOVE;
        memcpy(code + i, &c, 8); /* x86 is little-endian: byte k is lane k */
    }
    fq_run_c(x + i, y + i, code + i, n - i, s, z, qmin, qmax);
}
#endif

static void fq_run(const float *x, float *y, uint8_t *code, int64_t n, float s, float z, float qmin,
                   float qmax)
{
#ifdef FQ_HAVE_AVX2
    if (__builtin_cpu_supports("avx2")) {
        fq_run_avx2(x, y, code, n, s, z, qmin, qmax);
        return;
    }
#endif
    fq_run_c(x, y, code, n, s, z, qmin, qmax);
}

static tt_status fq_forward(tt_op_ctx *ctx)
{
    tt_fq_attrs a = tt_fq_get_attrs(ctx->node);
    int64_t outer, ch, inner;
    tt_fq_layout(ctx->in[TT_FQ_X], a.axis, &outer, &ch, &inner);
    const float *x = tt_tensor_f32(ctx->in[TT_FQ_X]);
    float *y = tt_tensor_f32(ctx->out[0]);
    uint8_t *saved = ctx->saved, *code = saved + FQ_HEADER;
    int64_t total = outer * ch * inner;
    if (ctx->training && a.observe) TT_CHECK(fq_observe(ctx, &a, outer, ch, inner));
    saved[0] = (uint8_t)a.enabled;
    if (!a.enabled) {
        memcpy(y, x, (size_t)total * sizeof(float));
        return TT_OK;
    }
    TT_CHECK(fq_check_qparams(ctx, &a, ch));
    const float *scale = tt_tensor_f32(ctx->in[TT_FQ_SCALE]),
                *zp = tt_tensor_f32(ctx->in[TT_FQ_ZP]);
    float qmin = (float)a.qmin, qmax = (float)a.qmax;
    if (ch == 1) {
        float s = fq_scale(scale[0], a.learnable), z = zp[0];
        int64_t chunks = (total + TT_FQ_CHUNK - 1) / TT_FQ_CHUNK;
#pragma omp parallel for if (total > FQ_PAR_MIN)
        for (int64_t b = 0; b < chunks; b++) {
            int64_t off = b * TT_FQ_CHUNK,
                    len = total - off < TT_FQ_CHUNK ? total - off : TT_FQ_CHUNK;
            fq_run(x + off, y + off, code + off, len, s, z, qmin, qmax);
        }
        return TT_OK;
    }
    int64_t rows = outer * ch;
#pragma omp parallel for if (total > FQ_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        int64_t c = r % ch, off = r * inner;
        fq_run(x + off, y + off, code + off, inner, fq_scale(scale[c], a.learnable), zp[c], qmin,
               qmax);
    }
    return TT_OK;
}

/* LSQ's d y / d s summed against dY over a run of one channel, in double. */
static double fq_lsq_run(const float *x, const float *dy, const uint8_t *code, int64_t n, float s,
                         float z, float qmin, float qmax)
{
    double below = (double)(qmin - z), above = (double)(qmax - z), sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double t;
        if (code[i] == FQ_IN) {
            float v = x[i] / s;
            t = (double)tt_round_half_even(v) - (double)v;
        } else {
            t = code[i] == FQ_BELOW ? below : above;
        }
        sum += t * (double)dy[i];
    }
    return sum;
}

static void fq_lsq_backward(tt_op_ctx *ctx, const tt_fq_attrs *a, int64_t outer, int64_t ch,
                            int64_t inner)
{
    const float *x = tt_tensor_f32(ctx->in[TT_FQ_X]), *dy = tt_tensor_f32(ctx->dout[0]);
    const float *scale = tt_tensor_f32(ctx->in[TT_FQ_SCALE]),
                *zp = tt_tensor_f32(ctx->in[TT_FQ_ZP]);
    const uint8_t *code = (const uint8_t *)ctx->saved + FQ_HEADER;
    float *ds = tt_tensor_f32(ctx->din[TT_FQ_SCALE]);
    float qmin = (float)a->qmin, qmax = (float)a->qmax;
    int64_t total = outer * ch * inner;
    double g = 1.0 / sqrt((double)total * (double)(a->qmax > 1 ? a->qmax : 1));
    if (ch == 1) {
        double *part = ctx->scratch;
        float s = fq_scale(scale[0], true), z = zp[0];
        int64_t chunks = (total + TT_FQ_CHUNK - 1) / TT_FQ_CHUNK;
#pragma omp parallel for if (total > FQ_PAR_MIN)
        for (int64_t b = 0; b < chunks; b++) {
            int64_t off = b * TT_FQ_CHUNK,
                    len = total - off < TT_FQ_CHUNK ? total - off : TT_FQ_CHUNK;
            part[b] = fq_lsq_run(x + off, dy + off, code + off, len, s, z, qmin, qmax);
        }
        double sum = 0.0;
        for (int64_t b = 0; b < chunks; b++) sum += part[b];
        ds[0] += (float)(sum * g);
        return;
    }
#pragma omp parallel for if (total > FQ_PAR_MIN)
    for (int64_t c = 0; c < ch; c++) {
        float s = fq_scale(scale[c], true), z = zp[c];
        double sum = 0.0;
        for (int64_t o = 0; o < outer; o++) {
            int64_t off = (o * ch + c) * inner;
            sum += fq_lsq_run(x + off, dy + off, code + off, inner, s, z, qmin, qmax);
        }
        ds[c] += (float)(sum * g);
    }
}

static tt_status fq_backward(tt_op_ctx *ctx)
{
    tt_fq_attrs a = tt_fq_get_attrs(ctx->node);
    int64_t outer, ch, inner;
    tt_fq_layout(ctx->in[TT_FQ_X], a.axis, &outer, &ch, &inner);
    const uint8_t *saved = ctx->saved, *code = saved + FQ_HEADER;
    const float *dy = tt_tensor_f32(ctx->dout[0]);
    bool enabled = saved[0] != 0; /* as the forward ran, even if the attribute changed since */
    int64_t total = outer * ch * inner;
    if (ctx->din[TT_FQ_X]) {
        float *dx = tt_tensor_f32(ctx->din[TT_FQ_X]);
        if (!enabled) {
#pragma omp parallel for simd if (total > FQ_PAR_MIN)
            for (int64_t i = 0; i < total; i++) dx[i] += dy[i];
        } else {
#pragma omp parallel for simd if (total > FQ_PAR_MIN)
            for (int64_t i = 0; i < total; i++) {
                float g = dy[i];
                dx[i] += code[i] == FQ_IN ? g : 0.0f;
            }
        }
    }
    if (ctx->din[TT_FQ_SCALE] && a.learnable && enabled) fq_lsq_backward(ctx, &a, outer, ch, inner);
    return TT_OK;
}

const tt_op_def tt_op_fake_quant = {
    .name = "FakeQuant",
    .min_in = 5,
    .max_in = 5,
    .n_out = 1,
    .infer = fq_infer,
    .saved_size = fq_saved,
    .scratch_size = fq_scratch,
    .forward = fq_forward,
    .backward = fq_backward,
    .nondiff_inputs = (1u << TT_FQ_ZP) | (1u << TT_FQ_MIN) | (1u << TT_FQ_MAX),
};
