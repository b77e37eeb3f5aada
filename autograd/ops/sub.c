/* Sub (ONNX, inference only): y = a - b, float32, numpy broadcasting. */
#include "autograd/broadcast.h"
#include "autograd/internal.h"
#include "autograd/op.h"

static tt_status sub_infer(const tt_node *n, const tt_tensor *const *in, tt_tensor *out)
{
    TT_CHECK(tt_op_expect_dtype(n, in[0], 0, TT_F32));
    TT_CHECK(tt_op_expect_dtype(n, in[1], 1, TT_F32));
    out[0].dtype = TT_F32;
    return tt_bcast_infer(n, &in[0]->shape, &in[1]->shape, &out[0].shape);
}

static tt_status sub_forward(tt_op_ctx *c)
{
    tt_bcast p;
    tt_bcast_plan(&c->in[0]->shape, &c->in[1]->shape, &p);
    tt_bcast_binary(&p, TT_BCAST_SUB, tt_tensor_f32(c->in[0]), tt_tensor_f32(c->in[1]),
                    tt_tensor_f32(c->out[0]));
    return TT_OK;
}

const tt_op_def tt_op_sub = {
    .name = "Sub",
    .min_in = 2,
    .max_in = 2,
    .n_out = 1,
    .infer = sub_infer,
    .forward = sub_forward,
};
