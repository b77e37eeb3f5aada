/* GlobalAveragePool (ONNX): the mean over all spatial dims, [N,C,H,W] -> [N,C,1,1] (also
 * [N,C,L] -> [N,C,1]). */
#include "autograd/internal.h"
#include "autograd/op.h"

static tt_status gap_infer(const tt_node *n, const tt_tensor *const *in, tt_tensor *out)
{
    TT_CHECK(tt_op_expect_dtype(n, in[0], 0, TT_F32));
    TT_CHECK(tt_op_expect_ndim(n, in[0], 0, 3, 4));
    const tt_shape *s = &in[0]->shape;
    for (int i = 1; i < s->ndim; i++)
        if (s->dims[i] < 1) {
            char b[64];
            return tt_fail(TT_ERR_SHAPE,
                           "node '%s' (GlobalAveragePool): input %s needs positive channel and "
                           "spatial dims",
                           n->name, tt_shape_str(s, b, sizeof b));
        }
    int64_t d[TT_MAX_DIMS] = {s->dims[0], s->dims[1], 1, 1};
    out[0].dtype = TT_F32;
    return tt_shape_make(&out[0].shape, s->ndim, d);
}

static void gap_geom(const tt_op_ctx *c, int64_t *planes, int64_t *hw)
{
    const tt_shape *s = &c->in[0]->shape;
    *planes = s->dims[0] * s->dims[1];
    *hw = 1;
    for (int i = 2; i < s->ndim; i++) *hw *= s->dims[i];
}

static tt_status gap_forward(tt_op_ctx *c)
{
    int64_t planes, hw;
    gap_geom(c, &planes, &hw);
    const float *x = tt_tensor_f32(c->in[0]);
    float *y = tt_tensor_f32(c->out[0]);
    float inv = 1.0f / (float)hw;
#pragma omp parallel for if (planes * hw > 65536)
    for (int64_t t = 0; t < planes; t++) {
        const float *xp = x + t * hw;
        float s = 0.0f;
        for (int64_t i = 0; i < hw; i++) s += xp[i];
        y[t] = s * inv;
    }
    return TT_OK;
}

static tt_status gap_backward(tt_op_ctx *c)
{
    if (!c->din[0]) return TT_OK;
    int64_t planes, hw;
    gap_geom(c, &planes, &hw);
    const float *dy = tt_tensor_f32(c->dout[0]);
    float *dx = tt_tensor_f32(c->din[0]);
    float inv = 1.0f / (float)hw;
#pragma omp parallel for if (planes * hw > 65536)
    for (int64_t t = 0; t < planes; t++) {
        float gv = dy[t] * inv;
        float *dp = dx + t * hw;
        for (int64_t i = 0; i < hw; i++) dp[i] += gv;
    }
    return TT_OK;
}

const tt_op_def tt_op_globalavgpool = {
    .name = "GlobalAveragePool",
    .min_in = 1,
    .max_in = 1,
    .n_out = 1,
    .infer = gap_infer,
    .forward = gap_forward,
    .backward = gap_backward,
};
