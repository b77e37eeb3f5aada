/* Clip: y = min(max(x, min), max); ReLU6 is Clip(0, 6). Bounds are the float attributes "min"
 * and "max" (defaults -inf and +inf). NaN inputs pass through as NaN, as torch.clamp does.
 *
 * Gradient convention at the bounds: dx = dy only where min < x < max, so exactly at a bound
 * the gradient is 0. This is what PyTorch 2.x gives for torch.clamp with scalar bounds, for
 * F.hardtanh and for nn.ReLU6 (checked: clamp(x, 0, 6) at x = 0 and x = 6 has gradient 0), and it
 * matches Relu, whose gradient at exactly 0 is 0. */
#include <math.h>
#include "autograd/internal.h"
#include "autograd/op.h"

static void clip_bounds(const tt_node *n, float *lo, float *hi)
{
    *lo = tt_node_attr_float(n, "min", -INFINITY);
    *hi = tt_node_attr_float(n, "max", INFINITY);
}

static tt_status clip_infer(const tt_node *n, const tt_tensor *const *in, tt_tensor *out)
{
    float lo, hi;
    clip_bounds(n, &lo, &hi);
    if (isnan(lo) || isnan(hi) || lo > hi)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "node '%s' (Clip): bounds min=%g max=%g are invalid; need min <= max "
                       "and neither NaN",
                       n->name, (double)lo, (double)hi);
    return tt_op_infer_same(n, in, out);
}

static tt_status clip_forward(tt_op_ctx *c)
{
    float lo, hi;
    clip_bounds(c->node, &lo, &hi);
    const float *x = tt_tensor_f32(c->in[0]);
    float *y = tt_tensor_f32(c->out[0]);
    int64_t n = tt_tensor_numel(c->in[0]);
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; i++) y[i] = x[i] < lo ? lo : (x[i] > hi ? hi : x[i]);
    return TT_OK;
}

static tt_status clip_backward(tt_op_ctx *c)
{
    float lo, hi;
    clip_bounds(c->node, &lo, &hi);
    const float *x = tt_tensor_f32(c->in[0]);
    const float *dy = tt_tensor_f32(c->dout[0]);
    float *dx = tt_tensor_f32(c->din[0]);
    int64_t n = tt_tensor_numel(c->in[0]);
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; i++)
        if (x[i] > lo && x[i] < hi) dx[i] += dy[i];
    return TT_OK;
}

const tt_op_def tt_op_clip = {
    .name = "Clip",
    .min_in = 1,
    .max_in = 1,
    .n_out = 1,
    .infer = clip_infer,
    .forward = clip_forward,
    .backward = clip_backward,
};
