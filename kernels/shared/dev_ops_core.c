/* Device ops of the core group: Relu, the broadcasting binary ops (Add, Sub, Mul, Div), and the
 * shape-only ops (Flatten, Reshape), which copy on the device so every value keeps its own
 * buffer as on the CPU. */
#include "autograd/broadcast.h"
#include "autograd/internal.h"
#include "kernels/shared/dev_op.h"

static tt_status relu_forward(tt_dop_ctx *c)
{
    int64_t n = tt_dop_numel(c->out[0]);
    tt_dev_relu a = {n, c->x[0], c->y[0]};
    return tt_dev_relu_forward_kernel(c->dev, &a);
}

static tt_status relu_backward(tt_dop_ctx *c)
{
    if (!c->dx[0]) return TT_OK;
    tt_dev_relu_bwd a = {tt_dop_numel(c->out[0]), c->x[0], c->dy[0], c->dx[0]};
    return tt_dev_relu_backward_kernel(c->dev, &a);
}

/* Add, Sub, Mul, Div with numpy broadcasting, on autograd/broadcast.c's plan of the concrete
 * shapes, so the loops (and the backward's summation order) are the CPU's. */
static tt_status binary_forward(tt_dop_ctx *c)
{
    tt_bcast p;
    tt_bcast_plan(&c->in[0]->shape, &c->in[1]->shape, &p);
    tt_op_type t = c->node->op;
    int op = t == TT_OP_ADD   ? TT_BCAST_ADD
             : t == TT_OP_SUB ? TT_BCAST_SUB
             : t == TT_OP_MUL ? TT_BCAST_MUL
                              : TT_BCAST_DIV;
    const int64_t *d = p.dims, *sa = p.st[0], *sb = p.st[1];
    TT_CHECK(tt_dev_check_range("broadcast output", c->y[0], 0, (size_t)p.numel * sizeof(float)));
    return TT_DEV_LAUNCH(c->dev, "tt_bcast_binary", p.numel, TT_KBUF(c->x[0]), TT_KBUF(c->x[1]),
                         TT_KBUF(c->y[0]), TT_KI64(d[0]), TT_KI64(d[1]), TT_KI64(d[2]),
                         TT_KI64(d[3]), TT_KI64(sa[0]), TT_KI64(sa[1]), TT_KI64(sa[2]),
                         TT_KI64(sa[3]), TT_KI64(sb[0]), TT_KI64(sb[1]), TT_KI64(sb[2]),
                         TT_KI64(sb[3]), TT_KI32(op), TT_KI64(p.numel));
}

/* dx[which] += dy (times the other input for Mul), reduced over the broadcast dims. */
static tt_status bcast_accum(tt_dop_ctx *c, const tt_bcast *p, int which, const tt_dbuf *other)
{
    const int64_t *d = p->dims, *w = p->st[which], *o = p->st[1 - which];
    int64_t n = 1;
    for (int k = 0; k < TT_MAX_DIMS; k++)
        if (w[k]) n *= d[k];
    return TT_DEV_LAUNCH(c->dev, "tt_bcast_accum", n, TT_KBUF(c->dy[0]), TT_KBUF(other),
                         TT_KI32(other != NULL), TT_KBUF(c->dx[which]), TT_KI64(d[0]),
                         TT_KI64(d[1]), TT_KI64(d[2]), TT_KI64(d[3]), TT_KI64(w[0]), TT_KI64(w[1]),
                         TT_KI64(w[2]), TT_KI64(w[3]), TT_KI64(o[0]), TT_KI64(o[1]), TT_KI64(o[2]),
                         TT_KI64(o[3]), TT_KI64(n));
}

/* Add: dx_i += dy; Mul: dx_i += dy * x_{1-i}, input 0 first as on the CPU. Sub and Div have no
 * backward on the CPU either. */
static tt_status binary_backward(tt_dop_ctx *c)
{
    tt_bcast p;
    tt_bcast_plan(&c->in[0]->shape, &c->in[1]->shape, &p);
    bool mul = c->node->op == TT_OP_MUL;
    for (int i = 0; i < 2; i++)
        if (c->dx[i]) TT_CHECK(bcast_accum(c, &p, i, mul ? c->x[1 - i] : NULL));
    return TT_OK;
}

/* Flatten and Reshape keep the bytes: a copy forward, an accumulation backward. */
static tt_status view_forward(tt_dop_ctx *c)
{
    size_t bytes = (size_t)tt_dop_numel(c->out[0]) * tt_dtype_size(c->out[0]->dtype);
    return c->dev->ops->copy(c->dev, c->y[0], 0, c->x[0], 0, bytes);
}

static tt_status view_backward(tt_dop_ctx *c)
{
    if (!c->dx[0]) return TT_OK;
    return tt_dop_accumulate(c->dev, c->dx[0], c->dy[0], tt_dop_numel(c->out[0]));
}

static const tt_dop_def relu = {.forward = relu_forward, .backward = relu_backward};
static const tt_dop_def add_mul = {.forward = binary_forward, .backward = binary_backward};
static const tt_dop_def sub_div = {.forward = binary_forward};
static const tt_dop_def view = {.forward = view_forward, .backward = view_backward};

const tt_dop_def *tt_dops_core(tt_op_type op)
{
    switch (op) {
    case TT_OP_RELU:
        return &relu;
    case TT_OP_ADD:
    case TT_OP_MUL:
        return &add_mul;
    case TT_OP_SUB:
    case TT_OP_DIV:
        return &sub_div;
    case TT_OP_FLATTEN:
    case TT_OP_RESHAPE:
        return &view;
    default:
        return NULL;
    }
}
