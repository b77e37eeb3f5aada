/* The quantisation numerics (tinytrain/quant.h): ranges, scale/zero point, quantize and
 * dequantize over arrays, int32 bias. Every rule here is ONNX Runtime's, so that a tensor
 * quantised by tinytrain and by ORT is the same bytes. */
#include <float.h>
#include <math.h>
#include <stddef.h>
#include "autograd/internal.h"
#include "tinytrain/quant.h"

tt_qrange tt_quant_range(tt_qtype t, bool symmetric, bool reduce_range)
{
    tt_qrange r = {0, 0};
    switch (t) {
    case TT_QTYPE_U8:
        r.qmax = reduce_range ? 127 : (symmetric ? 254 : 255);
        break;
    case TT_QTYPE_S8:
        if (reduce_range)
            r.qmin = -64, r.qmax = 64;
        else
            r.qmin = symmetric ? -127 : -128, r.qmax = 127;
        break;
    case TT_QTYPE_S32:
        if (reduce_range)
            r.qmin = -(INT32_C(1) << 30), r.qmax = INT32_C(1) << 30;
        else
            r.qmin = symmetric ? -INT32_MAX : INT32_MIN, r.qmax = INT32_MAX;
        break;
    }
    return r;
}

tt_qtype tt_quant_storage_type(int32_t qmin, int32_t qmax)
{
    if (qmin >= 0 && qmax <= 255) return TT_QTYPE_U8;
    if (qmin >= -128 && qmax <= 127) return TT_QTYPE_S8;
    return TT_QTYPE_S32;
}

const char *tt_qtype_name(tt_qtype t)
{
    switch (t) {
    case TT_QTYPE_U8:
        return "uint8";
    case TT_QTYPE_S8:
        return "int8";
    case TT_QTYPE_S32:
        return "int32";
    }
    return "?";
}

/* numpy.round on a double: half to even. */
static double round_half_even_d(double v)
{
    double f = floor(v), d = v - f;
    if (d > 0.5 || (d == 0.5 && fmod(f, 2.0) != 0.0)) f += 1.0;
    return f;
}

tt_status tt_quant_compute_scale_zp(float rmin, float rmax, int32_t qmin, int32_t qmax,
                                    bool symmetric, float *scale, int32_t *zero_point)
{
    TT_CHECK_NULL(scale, "tt_quant_compute_scale_zp");
    TT_CHECK_NULL(zero_point, "tt_quant_compute_scale_zp");
    if (qmin > 0 || qmax < 0 || qmin >= qmax)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "tt_quant_compute_scale_zp: range [%d, %d] must satisfy qmin <= 0 <= qmax "
                       "and qmin < qmax (use tt_quant_range)",
                       (int)qmin, (int)qmax);
    if (isnan(rmin) || isnan(rmax))
        return tt_fail(TT_ERR_NUMERIC,
                       "tt_quant_compute_scale_zp: the observed range (%g, %g) contains NaN; the "
                       "data being calibrated has NaN values",
                       (double)rmin, (double)rmax);
    /* Zero must be representable exactly: padding and ReLU zeros stay zero. */
    if (rmin > 0.0f) rmin = 0.0f;
    if (rmax < 0.0f) rmax = 0.0f;
    if (symmetric) {
        float a = fabsf(rmin) > fabsf(rmax) ? fabsf(rmin) : fabsf(rmax);
        rmin = -a;
        rmax = a;
    }
    double s = ((double)rmax - (double)rmin) / ((double)qmax - (double)qmin);
    if (s < (double)FLT_MIN) {
        *scale = 1.0f;
        *zero_point = 0;
        return TT_OK;
    }
    if (!isfinite((float)s))
        return tt_fail(TT_ERR_NUMERIC,
                       "tt_quant_compute_scale_zp: the range (%g, %g) gives scale %g, which is "
                       "not a finite float; the data being calibrated has Inf or huge values",
                       (double)rmin, (double)rmax, s);
    double z = symmetric ? round_half_even_d(((double)qmin + (double)qmax) / 2.0)
                         : round_half_even_d((double)qmin - (double)rmin / s);
    /* In [qmin, qmax] by construction (rmin <= 0 <= rmax); the clamp only guards rounding. */
    if (z < qmin) z = qmin;
    if (z > qmax) z = qmax;
    *scale = (float)s;
    *zero_point = (int32_t)z;
    return TT_OK;
}

static tt_status check_qparams(const char *fn, int64_t c, float scale, int32_t zp, tt_qrange r)
{
    if (!(scale > 0.0f) || !isfinite(scale))
        return tt_fail(TT_ERR_INVALID_ARG,
                       "%s: scale[%lld] = %g; a scale must be a positive finite number", fn,
                       (long long)c, (double)scale);
    if (zp < r.qmin || zp > r.qmax)
        return tt_fail(TT_ERR_INVALID_ARG, "%s: zero_point[%lld] = %d is outside [%d, %d]", fn,
                       (long long)c, (int)zp, (int)r.qmin, (int)r.qmax);
    return TT_OK;
}

static tt_status check_layout(const char *fn, const void *a, const void *b, int64_t outer,
                              int64_t channels, int64_t inner, tt_qtype t)
{
    if (!a || !b) return tt_fail(TT_ERR_INVALID_ARG, "%s: a data pointer is NULL", fn);
    if (outer < 0 || channels < 1 || inner < 0)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "%s: layout [outer %lld, channels %lld, inner %lld] is invalid", fn,
                       (long long)outer, (long long)channels, (long long)inner);
    if (t != TT_QTYPE_U8 && t != TT_QTYPE_S8 && t != TT_QTYPE_S32)
        return tt_fail(TT_ERR_UNSUPPORTED, "%s: unknown quantised type %d", fn, (int)t);
    return TT_OK;
}

/* The arguments of the per-axis forms, and the full range of the storage type into *r. */
static tt_status check_axis_args(const char *fn, const void *src, const void *dst, int64_t outer,
                                 int64_t channels, int64_t inner, const float *scale,
                                 const int32_t *zero_point, tt_qtype t, tt_qrange *r)
{
    TT_CHECK(check_layout(fn, src, dst, outer, channels, inner, t));
    TT_CHECK_NULL(scale, fn);
    TT_CHECK_NULL(zero_point, fn);
    *r = tt_quant_range(t, false, false);
    for (int64_t c = 0; c < channels; c++)
        TT_CHECK(check_qparams(fn, c, scale[c], zero_point[c], *r));
    return TT_OK;
}

/* tt_quantize_val over a row of 8-bit outputs, written so the compiler vectorises it (the
 * runtime quantises every int8 model's input through here). Clamping to [qmin - zp, qmax - zp]
 * before rounding, with NaN sent to the low end, gives tt_quant_round_clamp's result exactly:
 * both bounds are integers, so the rounded value stays inside them. */
static void quantize_row_8bit(const float *x, int64_t n, float scale, int32_t zp, tt_qrange r,
                              bool is_signed, uint8_t *q)
{
    float lo = (float)(r.qmin - zp), hi = (float)(r.qmax - zp);
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] / scale;
        v = v >= lo ? v : lo;
        v = v > hi ? hi : v;
        int32_t k = (int32_t)tt_round_half_even(v) + zp;
        q[i] = is_signed ? (uint8_t)(int8_t)k : (uint8_t)k;
    }
}

tt_status tt_quantize_axis(const float *x, int64_t outer, int64_t channels, int64_t inner,
                           const float *scale, const int32_t *zero_point, tt_qtype t, void *q)
{
    tt_qrange r;
    TT_CHECK(
        check_axis_args("tt_quantize", x, q, outer, channels, inner, scale, zero_point, t, &r));
    int64_t rows = outer * channels;
#pragma omp parallel for if (rows * inner > 65536)
    for (int64_t row = 0; row < rows; row++) {
        int64_t c = row % channels;
        const float *xp = x + row * inner;
        if (t == TT_QTYPE_S32) {
            for (int64_t i = 0; i < inner; i++)
                ((int32_t *)q)[row * inner + i] =
                    tt_quantize_val(xp[i], scale[c], zero_point[c], r.qmin, r.qmax);
        } else {
            quantize_row_8bit(xp, inner, scale[c], zero_point[c], r, t == TT_QTYPE_S8,
                              (uint8_t *)q + row * inner);
        }
    }
    return TT_OK;
}

tt_status tt_dequantize_axis(const void *q, tt_qtype t, int64_t outer, int64_t channels,
                             int64_t inner, const float *scale, const int32_t *zero_point, float *x)
{
    tt_qrange r;
    TT_CHECK(
        check_axis_args("tt_dequantize", q, x, outer, channels, inner, scale, zero_point, t, &r));
    int64_t rows = outer * channels;
#pragma omp parallel for if (rows * inner > 65536)
    for (int64_t row = 0; row < rows; row++) {
        int64_t c = row % channels;
        float s = scale[c];
        int32_t z = zero_point[c];
        for (int64_t i = 0; i < inner; i++) {
            int64_t k = row * inner + i;
            int32_t v = t == TT_QTYPE_U8   ? ((const uint8_t *)q)[k]
                        : t == TT_QTYPE_S8 ? ((const int8_t *)q)[k]
                                           : ((const int32_t *)q)[k];
            x[k] = tt_dequantize_val(v, s, z);
        }
    }
    return TT_OK;
}

tt_status tt_quantize(const float *x, int64_t n, float scale, int32_t zero_point, tt_qtype t,
                      void *q)
{
    return tt_quantize_axis(x, 1, 1, n, &scale, &zero_point, t, q);
}

tt_status tt_dequantize(const void *q, tt_qtype t, int64_t n, float scale, int32_t zero_point,
                        float *x)
{
    return tt_dequantize_axis(q, t, 1, 1, n, &scale, &zero_point, x);
}

tt_status tt_quantize_bias(const float *bias, int64_t n, float x_scale, const float *w_scale,
                           int64_t n_w_scale, int32_t *q)
{
    static const char fn[] = "tt_quantize_bias";
    TT_CHECK_NULL(bias, fn);
    TT_CHECK_NULL(w_scale, fn);
    TT_CHECK_NULL(q, fn);
    if (n < 0 || (n_w_scale != 1 && n_w_scale != n))
        return tt_fail(TT_ERR_INVALID_ARG,
                       "%s: %lld weight scales for %lld bias values; give 1 (per tensor) or one "
                       "per bias value (per channel)",
                       fn, (long long)n_w_scale, (long long)n);
    int64_t bad = -1;
    double bad_v = 0.0;
    float bad_s = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        float s = tt_quant_bias_scale(x_scale, w_scale[n_w_scale == 1 ? 0 : i]);
        double v = (double)bias[i] / (double)s;
        if (!(s > 0.0f) || !isfinite(s) || isnan(v)) {
            q[i] = 0;
            if (bad < 0) bad = i, bad_v = v, bad_s = s;
            continue;
        }
        v = round_half_even_d(v);
        if (v > (double)INT32_MAX || v < (double)INT32_MIN) {
            q[i] = v > 0 ? INT32_MAX : INT32_MIN;
            if (bad < 0) bad = i, bad_v = v, bad_s = s;
            continue;
        }
        q[i] = (int32_t)v;
    }
    if (bad < 0) return TT_OK;
    if (!(bad_s > 0.0f) || !isfinite(bad_s) || isnan(bad_v))
        return tt_fail(TT_ERR_NUMERIC,
                       "%s: bias[%lld] = %g has scale x_scale * w_scale = %g, which is not a "
                       "positive finite number; check the input and weight scales",
                       fn, (long long)bad, (double)bias[bad], (double)bad_s);
    return tt_fail(TT_ERR_NUMERIC,
                   "%s: bias[%lld] = %g / scale %g = %.17g does not fit int32 (saturated); the "
                   "weight scale is too small for this bias: raise it (wider weight range) or "
                   "keep the layer in float",
                   fn, (long long)bad, (double)bias[bad], (double)bad_s, bad_v);
}
