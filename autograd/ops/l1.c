/* L1Loss: mean over every element of |pred - target|, a scalar [1]. The gradient is
 * sign(pred - target) / n with sign(0) = 0, as in PyTorch (torch.sign), and flows to both inputs.
 * The sum is serial in double: deterministic at any thread count. */
#include <math.h>
#include "autograd/internal.h"
#include "autograd/op.h"

static tt_status l1_forward(tt_op_ctx *c)
{
    const float *p = tt_tensor_f32(c->in[0]), *t = tt_tensor_f32(c->in[1]);
    int64_t n = tt_tensor_numel(c->in[0]);
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += fabs((double)(p[i] - t[i]));
    tt_tensor_f32(c->out[0])[0] = (float)(s / (double)n);
    return TT_OK;
}

static tt_status l1_backward(tt_op_ctx *c)
{
    const float *p = tt_tensor_f32(c->in[0]), *t = tt_tensor_f32(c->in[1]);
    int64_t n = tt_tensor_numel(c->in[0]);
    float g = tt_tensor_f32(c->dout[0])[0] / (float)n;
    float *dp = c->din[0] ? tt_tensor_f32(c->din[0]) : NULL;
    float *dt = c->din[1] ? tt_tensor_f32(c->din[1]) : NULL;
    for (int64_t i = 0; i < n; i++) {
        float d = p[i] - t[i];
        float v = d > 0.0f ? g : (d < 0.0f ? -g : 0.0f);
        if (dp) dp[i] += v;
        if (dt) dt[i] -= v;
    }
    return TT_OK;
}

const tt_op_def tt_op_l1 = {
    .name = "L1Loss",
    .min_in = 2,
    .max_in = 2,
    .n_out = 1,
    .infer = tt_op_infer_loss_pair,
    .forward = l1_forward,
    .backward = l1_backward,
    .nondiff_inputs = 0,
};
