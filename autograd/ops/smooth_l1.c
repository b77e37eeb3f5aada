/* SmoothL1Loss, exactly torch.nn.functional.smooth_l1_loss (reduction "mean"): with
 * z = |pred - target|, the element loss is 0.5 z^2 / beta for z < beta and z - 0.5 beta
 * otherwise (attr "beta", default 1). beta = 0 is the L1 loss, as in PyTorch. The gradient
 * d/beta inside, sign(d) outside (sign(0) = 0 for beta = 0), flows to both inputs. */
#include <math.h>
#include "autograd/internal.h"
#include "autograd/op.h"

static float sl1_beta(const tt_node *n)
{
    return tt_node_attr_float(n, "beta", 1.0f);
}

static tt_status sl1_infer(const tt_node *n, const tt_tensor *const *in, tt_tensor *out)
{
    float beta = sl1_beta(n);
    if (!(beta >= 0.0f) || !isfinite(beta))
        return tt_fail(TT_ERR_INVALID_ARG,
                       "node '%s' (SmoothL1Loss): beta %g must be finite and >= 0", n->name,
                       (double)beta);
    return tt_op_infer_loss_pair(n, in, out);
}

static tt_status sl1_forward(tt_op_ctx *c)
{
    const float *p = tt_tensor_f32(c->in[0]), *t = tt_tensor_f32(c->in[1]);
    int64_t n = tt_tensor_numel(c->in[0]);
    double beta = (double)sl1_beta(c->node), s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double z = fabs((double)(p[i] - t[i]));
        s += z < beta ? 0.5 * z * z / beta : z - 0.5 * beta;
    }
    tt_tensor_f32(c->out[0])[0] = (float)(s / (double)n);
    return TT_OK;
}

static tt_status sl1_backward(tt_op_ctx *c)
{
    const float *p = tt_tensor_f32(c->in[0]), *t = tt_tensor_f32(c->in[1]);
    int64_t n = tt_tensor_numel(c->in[0]);
    float beta = sl1_beta(c->node);
    float g = tt_tensor_f32(c->dout[0])[0] / (float)n;
    float *dp = c->din[0] ? tt_tensor_f32(c->din[0]) : NULL;
    float *dt = c->din[1] ? tt_tensor_f32(c->din[1]) : NULL;
    for (int64_t i = 0; i < n; i++) {
        float d = p[i] - t[i], v;
        if (d > beta)
            v = g;
        else if (d < -beta)
            v = -g;
        else /* |d| <= beta, so beta > 0 here unless d = 0 = beta */
            v = beta > 0.0f ? g * d / beta : 0.0f;
        if (dp) dp[i] += v;
        if (dt) dt[i] -= v;
    }
    return TT_OK;
}

const tt_op_def tt_op_smooth_l1 = {
    .name = "SmoothL1Loss",
    .min_in = 2,
    .max_in = 2,
    .n_out = 1,
    .infer = sl1_infer,
    .forward = sl1_forward,
    .backward = sl1_backward,
    .nondiff_inputs = 0,
};
