/* DequantizeLinear (ONNX, inference only): y = (x - zero_point) * scale in float32 through
 * quant.h. Inputs: x uint8/int8/int32, x_scale float32 [1] or [C], x_zero_point of x's type and
 * the scale's shape (absent: 0). A [C] scale applies along attr axis (default 1, negative counts
 * from the end), whose dimension must be C. An int32 x (a quantised bias) must have zero point
 * 0, as ONNX requires; a non-zero one is refused when the node runs (infer sees no values). */
#include "autograd/internal.h"
#include "autograd/op.h"
#include "autograd/qparam.h"

static tt_status dequantize_check(const tt_node *n, const tt_tensor *const *in, int64_t *count,
                                  int *axis)
{
    if (!in[0])
        return tt_fail(TT_ERR_INVALID_ARG, "node '%s' (DequantizeLinear): input 0 is missing",
                       n->name);
    tt_dtype dt = in[0]->dtype;
    if (!tt_qp_is_byte(dt) && dt != TT_I32)
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (DequantizeLinear): input 0 is %s; expected uint8, int8 or "
                       "int32",
                       n->name, tt_dtype_name(dt));
    TT_CHECK(tt_qp_check_scale(n, in[1], 1, "x_scale", true, count));
    TT_CHECK(tt_qp_check_zp(n, in[2], 2, "x_zero_point", dt, *count));
    if (tt_node_attr_int(n, "block_size", 0) != 0)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "node '%s' (DequantizeLinear): blocked quantization (block_size) is not "
                       "supported; use a per-tensor or per-channel scale",
                       n->name);
    *axis = -1;
    if (*count > 1) TT_CHECK(tt_qp_axis(n, &in[0]->shape, *count, axis));
    return TT_OK;
}

static tt_status dequantize_infer(const tt_node *n, const tt_tensor *const *in, tt_tensor *out)
{
    int64_t count;
    int axis;
    TT_CHECK(dequantize_check(n, in, &count, &axis));
    out[0].dtype = TT_F32;
    out[0].shape = in[0]->shape;
    return TT_OK;
}

static size_t dequantize_scratch(const tt_node *n, const tt_tensor *const *in, const tt_tensor *out)
{
    (void)n, (void)out;
    return (size_t)tt_tensor_numel(in[1]) * sizeof(int32_t);
}

static tt_status dequantize_forward(tt_op_ctx *c)
{
    const tt_node *n = c->node;
    int64_t count, outer, channels, inner;
    int axis;
    TT_CHECK(dequantize_check(n, (const tt_tensor *const *)c->in, &count, &axis));
    TT_CHECK(tt_qp_check_scale_values(n, c->in[1], 1, "x_scale"));
    int32_t *zp = c->scratch;
    for (int64_t i = 0; i < count; i++) {
        zp[i] = tt_qp_zp(c->in[2], i);
        if (zp[i] != 0 && c->in[0]->dtype == TT_I32)
            return tt_fail(TT_ERR_INVALID_ARG,
                           "node '%s' (DequantizeLinear): x is int32, so x_zero_point must be 0, "
                           "but element %lld is %d",
                           n->name, (long long)i, (int)zp[i]);
    }
    tt_qp_layout(&c->in[0]->shape, axis, &outer, &channels, &inner);
    tt_status s = tt_dequantize_axis(c->in[0]->data, tt_qp_qtype(c->in[0]->dtype), outer, channels,
                                     inner, tt_tensor_f32(c->in[1]), zp, tt_tensor_f32(c->out[0]));
    return s == TT_OK ? TT_OK : tt_qp_node_error(n, s);
}

const tt_op_def tt_op_dequantize_linear = {
    .name = "DequantizeLinear",
    .min_in = 2,
    .max_in = 3,
    .n_out = 1,
    .infer = dequantize_infer,
    .scratch_size = dequantize_scratch,
    .forward = dequantize_forward,
};
