/* Gemm (Linear): Y[N,M] = X[N,K] W[M,K]^T + b[M], ONNX Gemm with transB=1. */
#include "autograd/internal.h"
#include "autograd/op.h"

static tt_status gemm_infer(const tt_node *n, const tt_tensor *const *in, tt_tensor *out)
{
    TT_CHECK(tt_op_expect_dtype(n, in[0], 0, TT_F32));
    TT_CHECK(tt_op_expect_dtype(n, in[1], 1, TT_F32));
    TT_CHECK(tt_op_expect_ndim(n, in[0], 0, 2, 2));
    TT_CHECK(tt_op_expect_ndim(n, in[1], 1, 2, 2));
    const int64_t *x = in[0]->shape.dims, *w = in[1]->shape.dims;
    if (x[1] != w[1])
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (Gemm): input has %lld features but the weight "
                       "[%lld, %lld] expects %lld",
                       n->name, (long long)x[1], (long long)w[0], (long long)w[1], (long long)w[1]);
    if (in[2]) {
        TT_CHECK(tt_op_expect_dtype(n, in[2], 2, TT_F32));
        if (in[2]->shape.ndim != 1 || in[2]->shape.dims[0] != w[0])
            return tt_fail(TT_ERR_SHAPE, "node '%s' (Gemm): bias must be [%lld]", n->name,
                           (long long)w[0]);
    }
    out[0].dtype = TT_F32;
    int64_t d[2] = {x[0], w[0]};
    return tt_shape_make(&out[0].shape, 2, d);
}

static tt_status gemm_forward(tt_op_ctx *c)
{
    const tt_tensor *x = c->in[0], *w = c->in[1], *b = c->in[2];
    int64_t n = x->shape.dims[0], k = x->shape.dims[1], m = w->shape.dims[0];
    float *y = tt_tensor_f32(c->out[0]);
    float beta = 0.0f;
    if (b) {
        const float *bd = tt_tensor_f32(b);
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < m; j++) y[i * m + j] = bd[j];
        beta = 1.0f;
    }
    c->be->sgemm(false, true, n, m, k, 1.0f, tt_tensor_f32(x), k, tt_tensor_f32(w), k, beta, y, m);
    return TT_OK;
}

static tt_status gemm_backward(tt_op_ctx *c)
{
    const tt_tensor *x = c->in[0], *w = c->in[1];
    int64_t n = x->shape.dims[0], k = x->shape.dims[1], m = w->shape.dims[0];
    const float *dy = tt_tensor_f32(c->dout[0]);
    if (c->din[0])
        c->be->sgemm(false, false, n, k, m, 1.0f, dy, m, tt_tensor_f32(w), k, 1.0f,
                     tt_tensor_f32(c->din[0]), k);
    if (c->din[1])
        c->be->sgemm(true, false, m, k, n, 1.0f, dy, m, tt_tensor_f32(x), k, 1.0f,
                     tt_tensor_f32(c->din[1]), k);
    if (c->din[2]) {
        float *db = tt_tensor_f32(c->din[2]);
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < m; j++) db[j] += dy[i * m + j];
    }
    return TT_OK;
}

const tt_op_def tt_op_gemm = {
    .name = "Gemm",
    .min_in = 2,
    .max_in = 3,
    .n_out = 1,
    .infer = gemm_infer,
    .forward = gemm_forward,
    .backward = gemm_backward,
};
