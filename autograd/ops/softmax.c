/* Softmax (ONNX opset 13, inference only): y = exp(x - max) / sum(exp(x - max)) along attr
 * axis (default -1, negative counts from the end), float32, any rank. Subtracting the maximum
 * keeps exp from overflowing; the result is the same in exact arithmetic. */
#include <math.h>
#include "autograd/internal.h"
#include "autograd/op.h"

static tt_status softmax_axis(const tt_node *n, const tt_shape *s, int *axis)
{
    int64_t a = tt_node_attr_int(n, "axis", -1), r = s->ndim;
    if (a < -r || a >= r) {
        char b[64];
        return tt_fail(TT_ERR_INVALID_ARG,
                       "node '%s' (Softmax): axis %lld is outside -%lld..%lld for the rank-%lld "
                       "input %s",
                       n->name, (long long)a, (long long)r, (long long)(r - 1), (long long)r,
                       tt_shape_str(s, b, sizeof b));
    }
    *axis = (int)(a < 0 ? a + r : a);
    return TT_OK;
}

static tt_status softmax_infer(const tt_node *n, const tt_tensor *const *in, tt_tensor *out)
{
    TT_CHECK(tt_op_expect_dtype(n, in[0], 0, TT_F32));
    TT_CHECK(tt_op_expect_ndim(n, in[0], 0, 1, TT_MAX_DIMS));
    int axis;
    TT_CHECK(softmax_axis(n, &in[0]->shape, &axis));
    out[0].dtype = TT_F32;
    out[0].shape = in[0]->shape;
    return TT_OK;
}

/* One softmax over k values spaced `stride` apart. */
static void softmax_line(const float *x, float *y, int64_t k, int64_t stride)
{
    float m = x[0];
    for (int64_t i = 1; i < k; i++) m = x[i * stride] > m ? x[i * stride] : m;
    float s = 0.0f;
    for (int64_t i = 0; i < k; i++) {
        float e = expf(x[i * stride] - m);
        y[i * stride] = e;
        s += e;
    }
    for (int64_t i = 0; i < k; i++) y[i * stride] /= s;
}

static tt_status softmax_forward(tt_op_ctx *c)
{
    const tt_shape *s = &c->in[0]->shape;
    int axis = 0;
    TT_CHECK(softmax_axis(c->node, s, &axis));
    int64_t outer = 1, k = s->dims[axis], inner = 1;
    for (int i = 0; i < axis; i++) outer *= s->dims[i];
    for (int i = axis + 1; i < s->ndim; i++) inner *= s->dims[i];
    const float *x = tt_tensor_f32(c->in[0]);
    float *y = tt_tensor_f32(c->out[0]);
    int64_t lines = outer * inner;
#pragma omp parallel for if (lines * k > 65536)
    for (int64_t t = 0; t < lines; t++) {
        int64_t off = t / inner * k * inner + t % inner;
        softmax_line(x + off, y + off, k, inner);
    }
    return TT_OK;
}

const tt_op_def tt_op_softmax = {
    .name = "Softmax",
    .min_in = 1,
    .max_in = 1,
    .n_out = 1,
    .infer = softmax_infer,
    .forward = softmax_forward,
};
