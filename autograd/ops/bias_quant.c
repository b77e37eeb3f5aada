/* BiasFakeQuant: a Conv/Gemm bias rounded the way the int8 model will hold it, so the fake-quant
 * forward computes what ONNX Runtime computes. The exported bias is int32 with scale
 * x_scale * w_scale[c] (tt_quantize_bias); here y[c] = q[c] * scale[c] in float.
 *
 * Inputs: bias[C], x_scale[1] (the scale of the activation FakeQuant feeding the layer),
 * w_scale[C] or [1] (the weight FakeQuant's scale). Attribute "enabled" (default 1; 0 passes the
 * bias through, as FakeQuant does during calibration). Backward: straight through to the bias
 * (an int32 grid is far finer than any bias step), nothing to the scales. tinytrain's own op:
 * the export writes the int32 initializer and a DequantizeLinear instead. */
#include <stdio.h>
#include "autograd/internal.h"
#include "autograd/op.h"
#include "tinytrain/quant.h"

enum { BQ_B = 0, BQ_XS, BQ_WS };

static tt_status bq_infer(const tt_node *n, const tt_tensor *const *in, tt_tensor *out)
{
    for (int i = 0; i < 3; i++) TT_CHECK(tt_op_expect_dtype(n, in[i], i, TT_F32));
    for (int i = 0; i < 3; i++) TT_CHECK(tt_op_expect_ndim(n, in[i], i, 1, 1));
    int64_t c = in[BQ_B]->shape.dims[0], ws = in[BQ_WS]->shape.dims[0];
    if (c < 1 || in[BQ_XS]->shape.dims[0] != 1 || (ws != 1 && ws != c))
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (BiasFakeQuant): bias [%lld], x_scale [%lld], w_scale [%lld]; "
                       "x_scale must be [1] and w_scale [1] or the bias's size",
                       n->name, (long long)c, (long long)in[BQ_XS]->shape.dims[0], (long long)ws);
    out[0].dtype = TT_F32;
    out[0].shape = in[BQ_B]->shape;
    return TT_OK;
}

static size_t bq_scratch(const tt_node *n, const tt_tensor *const *in, const tt_tensor *out)
{
    (void)n, (void)out;
    return (size_t)in[BQ_B]->shape.dims[0] * sizeof(int32_t);
}

static tt_status bq_forward(tt_op_ctx *ctx)
{
    const float *b = tt_tensor_f32(ctx->in[BQ_B]);
    float *y = tt_tensor_f32(ctx->out[0]);
    int64_t c = ctx->in[BQ_B]->shape.dims[0], nws = ctx->in[BQ_WS]->shape.dims[0];
    if (!tt_node_attr_int(ctx->node, "enabled", 1)) {
        for (int64_t k = 0; k < c; k++) y[k] = b[k];
        return TT_OK;
    }
    float xs = tt_tensor_f32(ctx->in[BQ_XS])[0];
    const float *ws = tt_tensor_f32(ctx->in[BQ_WS]);
    int32_t *q = ctx->scratch;
    if (tt_quantize_bias(b, c, xs, ws, nws, q) != TT_OK) {
        char why[512];
        snprintf(why, sizeof why, "%s", tt_last_error());
        return tt_fail(TT_ERR_NUMERIC, "node '%s' (BiasFakeQuant): %s", ctx->node->name, why);
    }
    for (int64_t k = 0; k < c; k++)
        y[k] = (float)q[k] * tt_quant_bias_scale(xs, ws[nws == 1 ? 0 : k]);
    return TT_OK;
}

static tt_status bq_backward(tt_op_ctx *ctx)
{
    if (!ctx->din[BQ_B]) return TT_OK;
    float *db = tt_tensor_f32(ctx->din[BQ_B]);
    const float *dy = tt_tensor_f32(ctx->dout[0]);
    for (int64_t k = 0; k < ctx->in[BQ_B]->shape.dims[0]; k++) db[k] += dy[k];
    return TT_OK;
}

const tt_op_def tt_op_bias_quant = {
    .name = "BiasFakeQuant",
    .min_in = 3,
    .max_in = 3,
    .n_out = 1,
    .infer = bq_infer,
    .scratch_size = bq_scratch,
    .forward = bq_forward,
    .backward = bq_backward,
    .nondiff_inputs = (1u << BQ_XS) | (1u << BQ_WS),
};
