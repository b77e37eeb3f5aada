/* MSELoss: mean over every element of (pred - target)^2, a scalar [1]. Both inputs get a
 * gradient (+-2 (pred - target) / n), so a target produced by the graph or checked by a gradient
 * check is handled. The sum is serial in double: deterministic at any thread count. */
#include "autograd/internal.h"
#include "autograd/op.h"

static tt_status mse_forward(tt_op_ctx *c)
{
    const float *p = tt_tensor_f32(c->in[0]), *t = tt_tensor_f32(c->in[1]);
    int64_t n = tt_tensor_numel(c->in[0]);
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)(p[i] - t[i]);
        s += d * d;
    }
    tt_tensor_f32(c->out[0])[0] = (float)(s / (double)n);
    return TT_OK;
}

static tt_status mse_backward(tt_op_ctx *c)
{
    const float *p = tt_tensor_f32(c->in[0]), *t = tt_tensor_f32(c->in[1]);
    int64_t n = tt_tensor_numel(c->in[0]);
    float g = tt_tensor_f32(c->dout[0])[0] * 2.0f / (float)n;
    float *dp = c->din[0] ? tt_tensor_f32(c->din[0]) : NULL;
    float *dt = c->din[1] ? tt_tensor_f32(c->din[1]) : NULL;
    for (int64_t i = 0; i < n; i++) {
        float v = g * (p[i] - t[i]);
        if (dp) dp[i] += v;
        if (dt) dt[i] -= v;
    }
    return TT_OK;
}

const tt_op_def tt_op_mse = {
    .name = "MSELoss",
    .min_in = 2,
    .max_in = 2,
    .n_out = 1,
    .infer = tt_op_infer_loss_pair,
    .forward = mse_forward,
    .backward = mse_backward,
    .nondiff_inputs = 0,
};
