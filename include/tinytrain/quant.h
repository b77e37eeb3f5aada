/* Quantisation numerics: the one contract (DESIGN.md section 5) that fake-quant, observers,
 * PTQ, the ONNX exporter and the int8 runtime all call, so that training-time fake-quant,
 * tinytrain's int8 inference and ONNX Runtime agree bit for bit.
 *
 *   quantize(x)   = saturate(round_half_to_even(x / scale) + zero_point)   float32 division
 *                   as MlasQuantizeLinear; NaN -> qmin
 *   dequantize(q) = (q - zero_point) * scale
 *   (scale, zp)   = ONNX Runtime's quant_utils.compute_scale_zp
 *
 * Rounding is done explicitly (no dependence on the FP environment's rounding mode). */
#ifndef TINYTRAIN_QUANT_H
#define TINYTRAIN_QUANT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "tinytrain/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Round to the nearest integer, ties to even (2.5 -> 2, 3.5 -> 4, -2.5 -> -2), whatever the
 * current rounding mode: only truncation, comparisons and exact subtractions are used. NaN,
 * +-inf and |v| >= 2^23 (already integers) come back unchanged; a zero result is +0. Checked
 * against rintf over all 2^32 inputs. Branch-free (the selects are bit masks, so the compiler
 * cannot sink the conversion under a branch), which lets loops over it vectorise. */
static inline float tt_round_half_even(float v)
{
    uint32_t b, rb;
    memcpy(&b, &v, sizeof b);
    uint32_t big = (uint32_t)0 - (uint32_t)(((b >> 23) & 0xffu) >= 150u); /* |v| >= 2^23 */
    uint32_t cb = b & ~big; /* 0 for those, so the conversion below is always defined */
    float c, r;
    memcpy(&c, &cb, sizeof c);
    int32_t i = (int32_t)c;    /* truncation */
    i -= c < (float)i ? 1 : 0; /* floor */
    float d = c - (float)i;    /* exact: 0 <= d < 1 */
    /* up when d > 0.5, or d == 0.5 and i is odd; 0x1.000002p-1f is the float after 0.5 */
    i += d >= ((i & 1) ? 0.5f : 0x1.000002p-1f) ? 1 : 0;
    r = (float)i;
    memcpy(&rb, &r, sizeof rb);
    rb = (rb & ~big) | (b & big);
    memcpy(&r, &rb, sizeof r);
    return r;
}

/* Integer types a quantised tensor is stored in (ONNX UINT8, INT8, INT32). */
typedef enum tt_qtype { TT_QTYPE_U8 = 0, TT_QTYPE_S8, TT_QTYPE_S32 } tt_qtype;

typedef struct tt_qrange {
    int32_t qmin, qmax;
} tt_qrange;

/* The integer range of a quantised type, as ONNX Runtime's get_qmin_qmax_for_qType:
 *   U8 [0,255], S8 [-128,127], S32 [-2^31, 2^31-1];
 *   symmetric: U8 [0,254] (zero point 127), S8 [-127,127] (zero point 0),
 *              S32 [-(2^31-1), 2^31-1];
 *   reduce_range (wins over symmetric; ORT uses it for weights on non-VNNI x86): U8 [0,127],
 *   S8 [-64,64], S32 [-2^30, 2^30].
 * An unknown type gives {0, 0}. Note: ONNX Runtime 1.32's table has no symmetric uint8 entry
 * (it gives [0,255] and zero point 128); some releases used [0,254], which tinytrain keeps so
 * the symmetric zero point sits exactly mid-range. Pass (0, 255) to tt_quant_compute_scale_zp
 * for ORT 1.32's 128. */
tt_qrange tt_quant_range(tt_qtype t, bool symmetric, bool reduce_range);

/* The narrowest type holding [qmin, qmax]: U8 when qmin >= 0 and qmax <= 255, else S8 when it
 * fits [-128, 127], else S32. The exporter writes zero points and data in this type. */
tt_qtype tt_quant_storage_type(int32_t qmin, int32_t qmax);
const char *tt_qtype_name(tt_qtype t); /* "uint8", "int8", "int32" */

/* Range -> (scale, zero point), exactly ONNX Runtime's compute_scale_zp:
 *   rmin = min(rmin, 0), rmax = max(rmax, 0); symmetric: a = max(|rmin|, |rmax|), (-a, a);
 *   scale = (rmax - rmin) / (qmax - qmin) in double, stored float32;
 *   scale below FLT_MIN (in double) -> scale 1, zero point 0;
 *   zero point = symmetric ? round((qmin + qmax) / 2) : round(qmin - rmin / scale) with the
 *   double scale, both half to even.
 * Fails (TT_ERR_INVALID_ARG) unless qmin <= 0 <= qmax and qmin < qmax, and (TT_ERR_NUMERIC)
 * when rmin or rmax is NaN or the scale is not finite (an infinite range). */
tt_status tt_quant_compute_scale_zp(float rmin, float rmax, int32_t qmin, int32_t qmax,
                                    bool symmetric, float *scale, int32_t *zero_point);

/* saturate(round_half_even(v) + zp) to [qmin, qmax] for v already divided by the scale;
 * NaN -> qmin. Clamps v to [qmin - zp, qmax - zp] in float before rounding, as MLAS does, so
 * no conversion can overflow (and the integer clamp catches int32 bounds that round up in
 * float). Rounding first and clamping after gives the same result. */
static inline int32_t tt_quant_round_clamp(float v, int32_t zp, int32_t qmin, int32_t qmax)
{
    float lo = (float)((int64_t)qmin - zp), hi = (float)((int64_t)qmax - zp);
    if (!(v >= lo)) return qmin; /* below the range, or NaN */
    if (v > hi) v = hi;
    int64_t r = (int64_t)tt_round_half_even(v) + zp;
    return r > qmax ? qmax : (r < qmin ? qmin : (int32_t)r);
}

/* One value: saturate(round_half_even(x / scale) + zp) to [qmin, qmax], float32 division. */
static inline int32_t tt_quantize_val(float x, float scale, int32_t zp, int32_t qmin, int32_t qmax)
{
    return tt_quant_round_clamp(x / scale, zp, qmin, qmax);
}

static inline float tt_dequantize_val(int32_t q, float scale, int32_t zp)
{
    return (float)((int64_t)q - zp) * scale;
}

/* dequantize(quantize(x)): what a QuantizeLinear -> DequantizeLinear pair computes. */
static inline float tt_fake_quantize_val(float x, float scale, int32_t zp, int32_t qmin,
                                         int32_t qmax)
{
    return tt_dequantize_val(tt_quantize_val(x, scale, zp, qmin, qmax), scale, zp);
}

/* ONNX QuantizeLinear over an array: q is uint8_t, int8_t or int32_t (t = TT_QTYPE_U8, S8 or
 * S32) and values saturate to the full range of that type. Fails on a scale that is not a
 * positive finite number or a zero point outside the type's range. */
tt_status tt_quantize(const float *x, int64_t n, float scale, int32_t zero_point, tt_qtype t,
                      void *q);
/* ONNX DequantizeLinear: x = (q - zero_point) * scale. */
tt_status tt_dequantize(const void *q, tt_qtype t, int64_t n, float scale, int32_t zero_point,
                        float *x);

/* Per-channel (per-axis) versions: the data is viewed as [outer, channels, inner] (row-major)
 * and channel c uses scale[c] and zero_point[c]. For a tensor of shape d and axis a,
 * outer = d[0] * ... * d[a-1], channels = d[a], inner = d[a+1] * ... . */
tt_status tt_quantize_axis(const float *x, int64_t outer, int64_t channels, int64_t inner,
                           const float *scale, const int32_t *zero_point, tt_qtype t, void *q);
tt_status tt_dequantize_axis(const void *q, tt_qtype t, int64_t outer, int64_t channels,
                             int64_t inner, const float *scale, const int32_t *zero_point,
                             float *x);

/* The bias scale of a Conv/Gemm whose input has x_scale and whose weight (channel c) has
 * w_scale: their float32 product (ORT's input_scale * weight_scale); zero point 0. */
static inline float tt_quant_bias_scale(float x_scale, float w_scale)
{
    return x_scale * w_scale;
}

/* int32 bias: q[i] = round_half_even(bias[i] / (x_scale * w_scale[c])) with the division in
 * double (as ORT's quantize_bias_static_impl), c = i when n_w_scale == n (per-channel) or 0
 * when n_w_scale == 1. Values beyond int32 are saturated AND the call returns TT_ERR_NUMERIC
 * naming the first such element (ORT only warns; the caller may treat it as a warning, the
 * output is complete). A bias scale that is 0 or not finite is also TT_ERR_NUMERIC. */
tt_status tt_quantize_bias(const float *bias, int64_t n, float x_scale, const float *w_scale,
                           int64_t n_w_scale, int32_t *q);

/* Requantisation of an int32 accumulator (int8 Conv/Gemm/MatMul kernels), as
 * MlasRequantizeOutput: multiplier = x_scale * w_scale / y_scale in float32; then
 * saturate(round_half_even((float)acc * multiplier) + y_zp) to [qmin, qmax]. */
static inline float tt_requant_multiplier(float x_scale, float w_scale, float y_scale)
{
    return x_scale * w_scale / y_scale;
}

static inline int32_t tt_requantize(int32_t acc, float multiplier, int32_t y_zp, int32_t qmin,
                                    int32_t qmax)
{
    return tt_quant_round_clamp((float)acc * multiplier, y_zp, qmin, qmax);
}

/* FakeQuant's "observer" attribute: how a node's running range follows the data. */
typedef enum tt_observer_kind {
    TT_OBSERVER_MINMAX = 1,     /* running min of mins / max of maxes (PyTorch MinMaxObserver) */
    TT_OBSERVER_MOVING_AVG = 2, /* first batch, then m += c * (batch - m); c = 0.01 default */
    TT_OBSERVER_LAST = 3,       /* the current tensor's range only (memoryless; for weights) */
} tt_observer_kind;

#ifdef __cplusplus
}
#endif
#endif
