/* Tanh: y = tanh(x) (tanhf saturates cleanly to +-1). Backward uses the saved output:
 * dx = dy * (1 - y^2). */
#include <math.h>
#include "autograd/internal.h"
#include "autograd/op.h"

static tt_status tanh_forward(tt_op_ctx *c)
{
    const float *x = tt_tensor_f32(c->in[0]);
    float *y = tt_tensor_f32(c->out[0]);
    int64_t n = tt_tensor_numel(c->in[0]);
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
    return TT_OK;
}

static tt_status tanh_backward(tt_op_ctx *c)
{
    const float *y = tt_tensor_f32(c->out[0]);
    const float *dy = tt_tensor_f32(c->dout[0]);
    float *dx = tt_tensor_f32(c->din[0]);
    int64_t n = tt_tensor_numel(c->in[0]);
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * (1.0f - y[i] * y[i]);
    return TT_OK;
}

const tt_op_def tt_op_tanh = {
    .name = "Tanh",
    .min_in = 1,
    .max_in = 1,
    .n_out = 1,
    .infer = tt_op_infer_same,
    .forward = tanh_forward,
    .backward = tanh_backward,
};
