/* The pass-through forward and backward of Flatten and Reshape (see copy_op.h). */
#include <string.h>
#include "autograd/copy_op.h"

tt_status tt_copy_op_forward(tt_op_ctx *c)
{
    size_t bytes = (size_t)tt_tensor_numel(c->in[0]) * tt_dtype_size(c->in[0]->dtype);
    memcpy(c->out[0]->data, c->in[0]->data, bytes);
    return TT_OK;
}

tt_status tt_copy_op_backward(tt_op_ctx *c)
{
    if (!c->din[0]) return TT_OK;
    const float *dy = tt_tensor_f32(c->dout[0]);
    float *dx = tt_tensor_f32(c->din[0]);
    int64_t n = tt_tensor_numel(c->in[0]);
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; i++) dx[i] += dy[i];
    return TT_OK;
}
