/* DynamicQuantizeLinear (ONNX, inference only): x float32 -> y uint8 (x's shape), y_scale
 * float32 [1], y_zero_point uint8 [1], from the range of this run's x:
 *   lo = min(0, min x), hi = max(0, max x)            (the range always holds 0)
 *   y_scale = (hi - lo) / 255                          float32
 *   y_zero_point = round_half_even(clip(0 - lo / y_scale, 0, 255))
 *   y = saturate(round_half_even(x / y_scale) + y_zero_point)   (quant.h)
 * as the ONNX spec and ONNX Runtime (checked on 1.32). Where the spec would divide by zero
 * (x all zeros) ONNX Runtime uses scale 1 and zero point 0, and so does this op. NaN elements
 * do not count towards the range and quantise to 0, as in ONNX Runtime; an infinite element
 * makes the scale infinite, which is refused. */
#include <math.h>
#include "autograd/internal.h"
#include "autograd/op.h"
#include "autograd/qlinear.h"
#include "autograd/qparam.h"

static tt_status dynq_infer(const tt_node *n, const tt_tensor *const *in, tt_tensor *out)
{
    TT_CHECK(tt_op_expect_dtype(n, in[0], 0, TT_F32));
    int64_t one = 1;
    out[0].dtype = TT_U8;
    out[0].shape = in[0]->shape;
    out[1].dtype = TT_F32;
    TT_CHECK(tt_shape_make(&out[1].shape, 1, &one));
    out[2].dtype = TT_U8;
    return tt_shape_make(&out[2].shape, 1, &one);
}

/* min(0, min x) and max(0, max x), skipping NaN (the comparisons are false for it). */
static void dynq_range(const float *x, int64_t n, float *lo, float *hi)
{
    float mn = 0.0f, mx = 0.0f;
#pragma omp parallel for reduction(min : mn) reduction(max : mx) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        mn = x[i] < mn ? x[i] : mn;
        mx = x[i] > mx ? x[i] : mx;
    }
    *lo = mn;
    *hi = mx;
}

tt_status tt_dynq_qparams(const tt_node *n, float lo, float hi, float *scale, int32_t *zp)
{
    float s = hi == lo ? 1.0f : (hi - lo) / 255.0f;
    if (!isfinite(s))
        return tt_fail(TT_ERR_NUMERIC,
                       "node '%s' (DynamicQuantizeLinear): the input's range [%g, %g] gives the "
                       "scale %g; the input must be finite",
                       n->name, (double)lo, (double)hi, (double)s);
    float z = 0.0f - lo / s;
    z = z < 0.0f ? 0.0f : (z > 255.0f ? 255.0f : z);
    *scale = s;
    *zp = (int32_t)tt_round_half_even(z);
    return TT_OK;
}

static tt_status dynq_forward(tt_op_ctx *c)
{
    const float *x = tt_tensor_f32(c->in[0]);
    int64_t n = tt_tensor_numel(c->in[0]);
    float lo, hi, scale = 1.0f;
    int32_t zp = 0;
    dynq_range(x, n, &lo, &hi);
    TT_CHECK(tt_dynq_qparams(c->node, lo, hi, &scale, &zp));
    tt_tensor_f32(c->out[1])[0] = scale;
    ((uint8_t *)c->out[2]->data)[0] = (uint8_t)zp;
    tt_status s = tt_quantize(x, n, scale, zp, TT_QTYPE_U8, c->out[0]->data);
    return s == TT_OK ? TT_OK : tt_qp_node_error(c->node, s);
}

const tt_op_def tt_op_dynamic_quantize = {
    .name = "DynamicQuantizeLinear",
    .min_in = 1,
    .max_in = 1,
    .n_out = 3,
    .infer = dynq_infer,
    .forward = dynq_forward,
};
