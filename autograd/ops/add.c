/* Add: y = a + b with numpy broadcasting (residual connections, bias terms). The gradient of
 * each input is dy summed over the dimensions along which that input was broadcast. */
#include "autograd/broadcast.h"
#include "autograd/internal.h"
#include "autograd/op.h"

static tt_status add_infer(const tt_node *n, const tt_tensor *const *in, tt_tensor *out)
{
    TT_CHECK(tt_op_expect_dtype(n, in[0], 0, TT_F32));
    TT_CHECK(tt_op_expect_dtype(n, in[1], 1, TT_F32));
    out[0].dtype = TT_F32;
    return tt_bcast_infer(n, &in[0]->shape, &in[1]->shape, &out[0].shape);
}

static tt_status add_forward(tt_op_ctx *c)
{
    tt_bcast p;
    tt_bcast_plan(&c->in[0]->shape, &c->in[1]->shape, &p);
    tt_bcast_binary(&p, TT_BCAST_ADD, tt_tensor_f32(c->in[0]), tt_tensor_f32(c->in[1]),
                    tt_tensor_f32(c->out[0]));
    return TT_OK;
}

static tt_status add_backward(tt_op_ctx *c)
{
    tt_bcast p;
    tt_bcast_plan(&c->in[0]->shape, &c->in[1]->shape, &p);
    const float *dy = tt_tensor_f32(c->dout[0]);
    for (int i = 0; i < 2; i++)
        if (c->din[i]) tt_bcast_accum(&p, i, tt_tensor_f32(c->din[i]), dy, NULL);
    return TT_OK;
}

const tt_op_def tt_op_add = {
    .name = "Add",
    .min_in = 2,
    .max_in = 2,
    .n_out = 1,
    .infer = add_infer,
    .forward = add_forward,
    .backward = add_backward,
};
