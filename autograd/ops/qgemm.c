/* QGemm (ONNX Runtime's com.microsoft contrib op) as the int8 runtime uses it: y[N, M] =
 * quantize(dequantize(a) dequantize(b)^T + dequantize(c)) with inputs a a_scale a_zero_point b
 * b_scale b_zero_point c? y_scale y_zero_point. a [N, K] uint8 or int8, per-tensor scale; b
 * [M, K] (transB = 1, the IR's Gemm layout) int8 or uint8 with per-tensor or per-row [M]
 * scales and zero points; c int32 [M] with scale a_scale * b_scale[m] (may be absent); y's
 * type is y_zero_point's. Attribute fused_relu (0/1) clamps at y_zero_point. ORT's float
 * output form (no y_scale), alpha other than 1, transA = 1 and transB = 0 are refused: the
 * planner never makes them. Computed exactly by the integer GEMM (kernels/cpu/qgemm.h). */
#include <math.h>
#include "autograd/internal.h"
#include "autograd/op.h"
#include "autograd/qlinear.h"

enum { QG_A = 0, QG_AS, QG_AZP, QG_B, QG_BS, QG_BZP, QG_C, QG_YS, QG_YZP };

static const tt_qlinear_layout qg_layout = {.x = QG_A,
                                            .xs = QG_AS,
                                            .xzp = QG_AZP,
                                            .w = QG_B,
                                            .ws = QG_BS,
                                            .wzp = QG_BZP,
                                            .ys = QG_YS,
                                            .yzp = QG_YZP,
                                            .bias = QG_C};

static tt_status qg_check_attrs(const tt_node *n)
{
    int64_t ta = tt_node_attr_int(n, "transA", 0), tb = tt_node_attr_int(n, "transB", 1);
    float alpha = tt_node_attr_float(n, "alpha", 1.0f);
    if (ta != 0 || tb != 1 || alpha != 1.0f)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "node '%s' (QGemm): transA %lld, transB %lld, alpha %g; only transA 0, "
                       "transB 1 (b as [M, K]) and alpha 1 are supported",
                       n->name, (long long)ta, (long long)tb, (double)alpha);
    return TT_OK;
}

static tt_status qg_infer(const tt_node *n, const tt_tensor *const *in, tt_tensor *out)
{
    TT_CHECK(qg_check_attrs(n));
    if (n->n_in <= QG_YS || !in[QG_YS])
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "node '%s' (QGemm): no y_scale, i.e. a float output; only the quantised "
                       "output form is supported",
                       n->name);
    TT_CHECK(tt_op_expect_ndim(n, in[QG_A], QG_A, 2, 2));
    TT_CHECK(tt_op_expect_ndim(n, in[QG_B], QG_B, 2, 2));
    const int64_t *a = in[QG_A]->shape.dims, *b = in[QG_B]->shape.dims;
    if (a[1] != b[1] || b[0] < 1 || a[1] < 1) {
        char as[64], bs[64];
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (QGemm): a %s has %lld features but b %s (transposed, [M, K]) "
                       "expects %lld",
                       n->name, tt_shape_str(&in[QG_A]->shape, as, sizeof as), (long long)a[1],
                       tt_shape_str(&in[QG_B]->shape, bs, sizeof bs), (long long)b[1]);
    }
    TT_CHECK(tt_qlinear_check(n, in, &qg_layout, b[0], &out[0].dtype));
    int64_t d[2] = {a[0], b[0]};
    return tt_shape_make(&out[0].shape, 2, d);
}

static size_t qg_saved(const tt_node *nd, const tt_tensor *const *in, const tt_tensor *out)
{
    (void)nd, (void)out;
    return tt_qlinear_dense_saved(in[QG_B]->shape.dims[0], in[QG_B]->shape.dims[1]);
}

static size_t qg_scratch(const tt_node *nd, const tt_tensor *const *in, const tt_tensor *out)
{
    (void)nd, (void)out;
    return tt_qlinear_dense_scratch(in[QG_B]->shape.dims[0], in[QG_B]->shape.dims[1]);
}

static tt_status qg_forward(tt_op_ctx *c)
{
    return tt_qlinear_dense_forward(c, &qg_layout, c->in[QG_B]->shape.dims[0]);
}

const tt_op_def tt_op_qgemm = {
    .name = "QGemm",
    .min_in = 6,
    .max_in = 9,
    .n_out = 1,
    .infer = qg_infer,
    .saved_size = qg_saved,
    .scratch_size = qg_scratch,
    .forward = qg_forward,
};
