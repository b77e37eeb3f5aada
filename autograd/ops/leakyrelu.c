/* LeakyRelu: y = x for x > 0, alpha * x otherwise (attr "alpha", default 0.01). The gradient at
 * exactly 0 is alpha, as in PyTorch (leaky_relu_backward tests x > 0). */
#include <math.h>
#include "autograd/internal.h"
#include "autograd/op.h"

static tt_status leaky_infer(const tt_node *n, const tt_tensor *const *in, tt_tensor *out)
{
    float a = tt_node_attr_float(n, "alpha", 0.01f);
    if (!isfinite(a))
        return tt_fail(TT_ERR_INVALID_ARG, "node '%s' (LeakyRelu): alpha %g is not finite", n->name,
                       (double)a);
    return tt_op_infer_same(n, in, out);
}

static tt_status leaky_forward(tt_op_ctx *c)
{
    float a = tt_node_attr_float(c->node, "alpha", 0.01f);
    const float *x = tt_tensor_f32(c->in[0]);
    float *y = tt_tensor_f32(c->out[0]);
    int64_t n = tt_tensor_numel(c->in[0]);
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : a * x[i];
    return TT_OK;
}

static tt_status leaky_backward(tt_op_ctx *c)
{
    float a = tt_node_attr_float(c->node, "alpha", 0.01f);
    const float *x = tt_tensor_f32(c->in[0]);
    const float *dy = tt_tensor_f32(c->dout[0]);
    float *dx = tt_tensor_f32(c->din[0]);
    int64_t n = tt_tensor_numel(c->in[0]);
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; i++) dx[i] += x[i] > 0.0f ? dy[i] : a * dy[i];
    return TT_OK;
}

const tt_op_def tt_op_leakyrelu = {
    .name = "LeakyRelu",
    .min_in = 1,
    .max_in = 1,
    .n_out = 1,
    .infer = leaky_infer,
    .forward = leaky_forward,
    .backward = leaky_backward,
};
