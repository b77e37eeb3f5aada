/* Relu: y = max(x, 0); the gradient at exactly 0 is 0, as in PyTorch. */
#include "autograd/internal.h"
#include "autograd/op.h"

static tt_status relu_forward(tt_op_ctx *c)
{
    const float *x = tt_tensor_f32(c->in[0]);
    float *y = tt_tensor_f32(c->out[0]);
    int64_t n = tt_tensor_numel(c->in[0]);
#pragma omp parallel for simd if (n > 65536)
    for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    return TT_OK;
}

static tt_status relu_backward(tt_op_ctx *c)
{
    const float *x = tt_tensor_f32(c->in[0]);
    const float *dy = tt_tensor_f32(c->dout[0]);
    float *dx = tt_tensor_f32(c->din[0]);
    int64_t n = tt_tensor_numel(c->in[0]);
    /* Load dy unconditionally so the select vectorises instead of branching per element. */
#pragma omp parallel for simd if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        float g = dy[i];
        dx[i] += x[i] > 0.0f ? g : 0.0f;
    }
    return TT_OK;
}

const tt_op_def tt_op_relu = {
    .name = "Relu",
    .min_in = 1,
    .max_in = 1,
    .n_out = 1,
    .infer = tt_op_infer_same,
    .forward = relu_forward,
    .backward = relu_backward,
};
