/* QLinearMatMul (ONNX), two-dimensional: y[N, M] = quantize(dequantize(a) dequantize(b)) with
 * inputs a a_scale a_zero_point b b_scale b_zero_point y_scale y_zero_point. a [N, K] uint8 or
 * int8 with a per-tensor scale; b [K, M] int8 or uint8 (a constant weight in practice) with
 * per-tensor or per-column [M] scales and zero points; y's type is y_zero_point's. Computed
 * exactly by the integer GEMM (kernels/cpu/qgemm.h), which reads b in place as the transposed
 * weight; batched (3-D and up) matmuls and per-row a scales are refused. */
#include "autograd/internal.h"
#include "autograd/op.h"
#include "autograd/qlinear.h"

enum { QM_A = 0, QM_AS, QM_AZP, QM_B, QM_BS, QM_BZP, QM_YS, QM_YZP };

static const tt_qlinear_layout qm_layout = {.x = QM_A,
                                            .xs = QM_AS,
                                            .xzp = QM_AZP,
                                            .w = QM_B,
                                            .ws = QM_BS,
                                            .wzp = QM_BZP,
                                            .ys = QM_YS,
                                            .yzp = QM_YZP,
                                            .bias = -1};

static tt_status qm_infer(const tt_node *n, const tt_tensor *const *in, tt_tensor *out)
{
    if (in[QM_A] && in[QM_A]->shape.ndim != 2) {
        char s[64];
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "node '%s' (QLinearMatMul): input a is %s; only 2-D a [N, K] is "
                       "supported (reshape a batched matmul to 2-D first)",
                       n->name, tt_shape_str(&in[QM_A]->shape, s, sizeof s));
    }
    TT_CHECK(tt_op_expect_ndim(n, in[QM_A], QM_A, 2, 2));
    TT_CHECK(tt_op_expect_ndim(n, in[QM_B], QM_B, 2, 2));
    const int64_t *a = in[QM_A]->shape.dims, *b = in[QM_B]->shape.dims;
    if (a[1] != b[0] || b[1] < 1 || a[1] < 1) {
        char as[64], bs[64];
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (QLinearMatMul): a %s and b %s do not multiply (a's columns "
                       "must equal b's rows, both positive)",
                       n->name, tt_shape_str(&in[QM_A]->shape, as, sizeof as),
                       tt_shape_str(&in[QM_B]->shape, bs, sizeof bs));
    }
    TT_CHECK(tt_qlinear_check(n, in, &qm_layout, b[1], &out[0].dtype));
    int64_t d[2] = {a[0], b[1]};
    return tt_shape_make(&out[0].shape, 2, d);
}

static size_t qm_saved(const tt_node *nd, const tt_tensor *const *in, const tt_tensor *out)
{
    (void)nd, (void)out;
    return tt_qlinear_dense_saved(in[QM_B]->shape.dims[1], in[QM_B]->shape.dims[0]);
}

static size_t qm_scratch(const tt_node *nd, const tt_tensor *const *in, const tt_tensor *out)
{
    (void)nd, (void)out;
    return tt_qlinear_dense_scratch(in[QM_B]->shape.dims[1], in[QM_B]->shape.dims[0]);
}

static tt_status qm_forward(tt_op_ctx *c)
{
    return tt_qlinear_dense_forward(c, &qm_layout, c->in[QM_B]->shape.dims[1]);
}

const tt_op_def tt_op_qlinear_matmul = {
    .name = "QLinearMatMul",
    .min_in = 8,
    .max_in = 8,
    .n_out = 1,
    .infer = qm_infer,
    .saved_size = qm_saved,
    .scratch_size = qm_scratch,
    .forward = qm_forward,
};
