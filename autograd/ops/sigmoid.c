/* Sigmoid: y = 1 / (1 + exp(-x)). For x < 0 it is computed as e / (1 + e) with e = exp(x), so
 * exp never overflows (x = -100 gives a tiny positive y, not inf/NaN). Backward uses the saved
 * output: dx = dy * y * (1 - y). */
#include <math.h>
#include "autograd/internal.h"
#include "autograd/op.h"

static tt_status sigmoid_forward(tt_op_ctx *c)
{
    const float *x = tt_tensor_f32(c->in[0]);
    float *y = tt_tensor_f32(c->out[0]);
    int64_t n = tt_tensor_numel(c->in[0]);
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        if (x[i] >= 0.0f) {
            y[i] = 1.0f / (1.0f + expf(-x[i]));
        } else {
            float e = expf(x[i]);
            y[i] = e / (1.0f + e);
        }
    }
    return TT_OK;
}

static tt_status sigmoid_backward(tt_op_ctx *c)
{
    const float *y = tt_tensor_f32(c->out[0]);
    const float *dy = tt_tensor_f32(c->dout[0]);
    float *dx = tt_tensor_f32(c->din[0]);
    int64_t n = tt_tensor_numel(c->in[0]);
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * y[i] * (1.0f - y[i]);
    return TT_OK;
}

const tt_op_def tt_op_sigmoid = {
    .name = "Sigmoid",
    .min_in = 1,
    .max_in = 1,
    .n_out = 1,
    .infer = tt_op_infer_same,
    .forward = sigmoid_forward,
    .backward = sigmoid_backward,
};
