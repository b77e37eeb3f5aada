/* QuantizeLinear (ONNX, inference only): y = saturate(round_half_even(x / scale) + zero_point)
 * through quant.h (float32 division, NaN -> the type's minimum, as ONNX Runtime).
 * Inputs: x float32, y_scale float32 [1] or [C], y_zero_point uint8/int8 of the scale's shape
 * (absent: uint8 0). The output has the zero point's type. A [C] scale applies along attr axis
 * (default 1, negative counts from the end), whose dimension must be C. */
#include "autograd/internal.h"
#include "autograd/op.h"
#include "autograd/qparam.h"

/* The scale's element count and, for a per-channel scale, its axis (-1 when per tensor). */
static tt_status quantize_check(const tt_node *n, const tt_tensor *const *in, int64_t *count,
                                int *axis)
{
    TT_CHECK(tt_op_expect_dtype(n, in[0], 0, TT_F32));
    TT_CHECK(tt_qp_check_scale(n, in[1], 1, "y_scale", true, count));
    if (in[2] && !tt_qp_is_byte(in[2]->dtype))
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "node '%s' (QuantizeLinear): input 2 (y_zero_point) is %s; only uint8 and "
                       "int8 outputs are supported",
                       n->name, tt_dtype_name(in[2]->dtype));
    TT_CHECK(tt_qp_check_zp(n, in[2], 2, "y_zero_point", in[2] ? in[2]->dtype : TT_U8, *count));
    if (tt_node_attr_int(n, "block_size", 0) != 0)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "node '%s' (QuantizeLinear): blocked quantization (block_size) is not "
                       "supported; use a per-tensor or per-channel scale",
                       n->name);
    *axis = -1;
    if (*count > 1) TT_CHECK(tt_qp_axis(n, &in[0]->shape, *count, axis));
    return TT_OK;
}

static tt_status quantize_infer(const tt_node *n, const tt_tensor *const *in, tt_tensor *out)
{
    int64_t count;
    int axis;
    TT_CHECK(quantize_check(n, in, &count, &axis));
    out[0].dtype = in[2] ? in[2]->dtype : TT_U8;
    out[0].shape = in[0]->shape;
    return TT_OK;
}

/* Room for the zero points widened to int32, as tt_quantize_axis takes them. */
static size_t quantize_scratch(const tt_node *n, const tt_tensor *const *in, const tt_tensor *out)
{
    (void)n, (void)out;
    return (size_t)tt_tensor_numel(in[1]) * sizeof(int32_t);
}

static tt_status quantize_forward(tt_op_ctx *c)
{
    const tt_node *n = c->node;
    int64_t count, outer, channels, inner;
    int axis;
    TT_CHECK(quantize_check(n, (const tt_tensor *const *)c->in, &count, &axis));
    TT_CHECK(tt_qp_check_scale_values(n, c->in[1], 1, "y_scale"));
    tt_qp_layout(&c->in[0]->shape, axis, &outer, &channels, &inner);
    int32_t *zp = c->scratch;
    for (int64_t i = 0; i < count; i++) zp[i] = tt_qp_zp(c->in[2], i);
    tt_status s =
        tt_quantize_axis(tt_tensor_f32(c->in[0]), outer, channels, inner, tt_tensor_f32(c->in[1]),
                         zp, tt_qp_qtype(c->out[0]->dtype), c->out[0]->data);
    return s == TT_OK ? TT_OK : tt_qp_node_error(n, s);
}

const tt_op_def tt_op_quantize_linear = {
    .name = "QuantizeLinear",
    .min_in = 2,
    .max_in = 3,
    .n_out = 1,
    .infer = quantize_infer,
    .scratch_size = quantize_scratch,
    .forward = quantize_forward,
};
