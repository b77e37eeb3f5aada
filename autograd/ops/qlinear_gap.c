/* QLinearGlobalAveragePool (com.microsoft, inference only): the quantised mean over all spatial
 * dims, [N, C, H, W] -> [N, C, 1, 1] (also [N, C, L] -> [N, C, 1]). Inputs x, x_scale,
 * x_zero_point, y_scale, y_zero_point; x and both zero points share one type (uint8 or int8),
 * which is y's; scales are single float32 values. Attr channels_last must be 0 (NCHW).
 *
 * The arithmetic is ONNX Runtime's (checked bit for bit on 1.32 over 38k outputs): with
 * n = H * W, an exact integer sum per plane, then a requantisation as MlasRequantizeOutput,
 *   y = saturate(round_half_even((float)(sum - n * x_zp) * (x_scale / (y_scale * n))) + y_zp)
 * (float32 throughout; quant.h's rounding). Averaging in float first, or rounding after adding
 * y_zp, each differ from it by one step on some ties. */
#include "autograd/internal.h"
#include "autograd/op.h"
#include "autograd/qlinear.h"
#include "autograd/qparam.h"

static tt_status qgap_infer(const tt_node *n, const tt_tensor *const *in, tt_tensor *out)
{
    TT_CHECK(tt_op_expect_ndim(n, in[0], 0, 3, 4));
    tt_dtype dt = in[0]->dtype;
    if (!tt_qp_is_byte(dt))
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (QLinearGlobalAveragePool): input 0 is %s; expected uint8 or "
                       "int8",
                       n->name, tt_dtype_name(dt));
    const tt_shape *s = &in[0]->shape;
    for (int i = 1; i < s->ndim; i++)
        if (s->dims[i] < 1) {
            char b[64];
            return tt_fail(TT_ERR_SHAPE,
                           "node '%s' (QLinearGlobalAveragePool): input %s needs positive channel "
                           "and spatial dims",
                           n->name, tt_shape_str(s, b, sizeof b));
        }
    int64_t count;
    TT_CHECK(tt_qp_check_scale(n, in[1], 1, "x_scale", false, &count));
    TT_CHECK(tt_qp_check_zp(n, in[2], 2, "x_zero_point", dt, 1));
    TT_CHECK(tt_qp_check_scale(n, in[3], 3, "y_scale", false, &count));
    TT_CHECK(tt_qp_check_zp(n, in[4], 4, "y_zero_point", dt, 1));
    int64_t cl = tt_node_attr_int(n, "channels_last", 0);
    if (cl != 0)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "node '%s' (QLinearGlobalAveragePool): channels_last is %lld; only NCHW "
                       "(channels_last = 0) is supported",
                       n->name, (long long)cl);
    int64_t d[TT_MAX_DIMS] = {s->dims[0], s->dims[1], 1, 1};
    out[0].dtype = dt;
    return tt_shape_make(&out[0].shape, s->ndim, d);
}

tt_status tt_qgap_params_read(const tt_node *n, const tt_tensor *const *in, int64_t hw,
                              tt_qgap_params *p)
{
    TT_CHECK(tt_qp_check_scale_values(n, in[1], 1, "x_scale"));
    TT_CHECK(tt_qp_check_scale_values(n, in[3], 3, "y_scale"));
    p->mult = tt_tensor_f32(in[1])[0] / (tt_tensor_f32(in[3])[0] * (float)hw);
    p->x_zp = tt_qp_zp(in[2], 0);
    p->y_zp = tt_qp_zp(in[4], 0);
    p->r = tt_qp_range(in[0]->dtype);
    return TT_OK;
}

static tt_status qgap_forward(tt_op_ctx *c)
{
    const tt_shape *s = &c->in[0]->shape;
    int64_t planes = s->dims[0] * s->dims[1], hw = 1;
    for (int i = 2; i < s->ndim; i++) hw *= s->dims[i];
    tt_qgap_params q;
    TT_CHECK(tt_qgap_params_read(c->node, (const tt_tensor *const *)c->in, hw, &q));
    float mult = q.mult;
    int32_t xz = q.x_zp, yz = q.y_zp;
    tt_qrange r = q.r;
    const uint8_t *x = c->in[0]->data;
    uint8_t *y = c->out[0]->data;
    /* int8 bytes read as uint8 are offset by 128 (x ^ 0x80): fold that into the zero point. */
    int64_t off = c->in[0]->dtype == TT_I8 ? 128 : 0;
    uint8_t flip = c->in[0]->dtype == TT_I8 ? 0x80 : 0;
#pragma omp parallel for if (planes * hw > 65536)
    for (int64_t t = 0; t < planes; t++) {
        const uint8_t *xp = x + t * hw;
        int64_t sum = 0;
        for (int64_t i = 0; i < hw; i++) sum += xp[i] ^ flip;
        int64_t acc = sum - hw * (xz + off);
        int32_t v = tt_quant_round_clamp((float)acc * mult, yz, r.qmin, r.qmax);
        y[t] = (uint8_t)((uint32_t)v & 0xffu);
    }
    return TT_OK;
}

const tt_op_def tt_op_qlinear_gap = {
    .name = "QLinearGlobalAveragePool",
    .min_in = 5,
    .max_in = 5,
    .n_out = 1,
    .infer = qgap_infer,
    .forward = qgap_forward,
};
