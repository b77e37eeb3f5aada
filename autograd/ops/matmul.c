/* MatMul: Y[N,M] = A[N,K] B[K,M] (2-D; A may have the symbolic batch as N). Backward:
 * dA += dY B^T, dB += A^T dY, both through the backend's sgemm. */
#include "autograd/internal.h"
#include "autograd/op.h"

static tt_status matmul_infer(const tt_node *n, const tt_tensor *const *in, tt_tensor *out)
{
    TT_CHECK(tt_op_expect_dtype(n, in[0], 0, TT_F32));
    TT_CHECK(tt_op_expect_dtype(n, in[1], 1, TT_F32));
    TT_CHECK(tt_op_expect_ndim(n, in[0], 0, 2, 2));
    TT_CHECK(tt_op_expect_ndim(n, in[1], 1, 2, 2));
    const int64_t *a = in[0]->shape.dims, *b = in[1]->shape.dims;
    if (b[0] == TT_DIM_BATCH)
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (MatMul): B's rows are the batch dimension; B must be [K, M] "
                       "with fixed sizes",
                       n->name);
    if (a[1] != b[0])
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (MatMul): A has %lld columns but B [%lld, %lld] has %lld rows",
                       n->name, (long long)a[1], (long long)b[0], (long long)b[1], (long long)b[0]);
    out[0].dtype = TT_F32;
    int64_t d[2] = {a[0], b[1]};
    return tt_shape_make(&out[0].shape, 2, d);
}

static tt_status matmul_forward(tt_op_ctx *c)
{
    const tt_tensor *a = c->in[0], *b = c->in[1];
    int64_t n = a->shape.dims[0], k = a->shape.dims[1], m = b->shape.dims[1];
    c->be->sgemm(false, false, n, m, k, 1.0f, tt_tensor_f32(a), k, tt_tensor_f32(b), m, 0.0f,
                 tt_tensor_f32(c->out[0]), m);
    return TT_OK;
}

static tt_status matmul_backward(tt_op_ctx *c)
{
    const tt_tensor *a = c->in[0], *b = c->in[1];
    int64_t n = a->shape.dims[0], k = a->shape.dims[1], m = b->shape.dims[1];
    const float *dy = tt_tensor_f32(c->dout[0]);
    if (c->din[0])
        c->be->sgemm(false, true, n, k, m, 1.0f, dy, m, tt_tensor_f32(b), m, 1.0f,
                     tt_tensor_f32(c->din[0]), k);
    if (c->din[1])
        c->be->sgemm(true, false, k, m, n, 1.0f, tt_tensor_f32(a), k, dy, m, 1.0f,
                     tt_tensor_f32(c->din[1]), m);
    return TT_OK;
}

const tt_op_def tt_op_matmul = {
    .name = "MatMul",
    .min_in = 2,
    .max_in = 2,
    .n_out = 1,
    .infer = matmul_infer,
    .forward = matmul_forward,
    .backward = matmul_backward,
};
