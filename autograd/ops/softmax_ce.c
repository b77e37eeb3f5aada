/* Softmax cross-entropy, fused with log-softmax for stability: mean over the batch of
 * -log softmax(logits)[label]. Labels are int32 class indices. */
#include <math.h>
#include "autograd/internal.h"
#include "autograd/op.h"

static tt_status ce_infer(const tt_node *n, const tt_tensor *const *in, tt_tensor *out)
{
    TT_CHECK(tt_op_expect_dtype(n, in[0], 0, TT_F32));
    TT_CHECK(tt_op_expect_dtype(n, in[1], 1, TT_I32));
    TT_CHECK(tt_op_expect_ndim(n, in[0], 0, 2, 2));
    TT_CHECK(tt_op_expect_ndim(n, in[1], 1, 1, 1));
    if (in[0]->shape.dims[0] != in[1]->shape.dims[0])
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (SoftmaxCrossEntropy): %lld logit rows but %lld "
                       "labels",
                       n->name, (long long)in[0]->shape.dims[0], (long long)in[1]->shape.dims[0]);
    out[0].dtype = TT_F32;
    int64_t one = 1;
    return tt_shape_make(&out[0].shape, 1, &one);
}

/* Saved: the softmax probabilities, reused by backward. */
static size_t ce_saved(const tt_node *n, const tt_tensor *const *in, const tt_tensor *out)
{
    (void)n, (void)out;
    return (size_t)tt_tensor_numel(in[0]) * sizeof(float);
}

static tt_status ce_forward(tt_op_ctx *c)
{
    const float *z = tt_tensor_f32(c->in[0]);
    const int32_t *lab = (const int32_t *)c->in[1]->data;
    int64_t n = c->in[0]->shape.dims[0], k = c->in[0]->shape.dims[1];
    float *p = c->saved;
    double total = 0.0;
    for (int64_t i = 0; i < n; i++) {
        if (lab[i] < 0 || lab[i] >= k)
            return tt_fail(TT_ERR_INVALID_ARG,
                           "node '%s' (SoftmaxCrossEntropy): label %d of "
                           "sample %lld is outside 0..%lld",
                           c->node->name, lab[i], (long long)i, (long long)(k - 1));
        const float *zi = z + i * k;
        float *pi = p + i * k;
        float mx = zi[0];
        for (int64_t j = 1; j < k; j++) mx = zi[j] > mx ? zi[j] : mx;
        double sum = 0.0;
        for (int64_t j = 0; j < k; j++) {
            pi[j] = expf(zi[j] - mx);
            sum += pi[j];
        }
        float inv = (float)(1.0 / sum);
        for (int64_t j = 0; j < k; j++) pi[j] *= inv;
        total += (double)mx + log(sum) - (double)zi[lab[i]];
    }
    tt_tensor_f32(c->out[0])[0] = (float)(total / (double)n);
    return TT_OK;
}

static tt_status ce_backward(tt_op_ctx *c)
{
    const int32_t *lab = (const int32_t *)c->in[1]->data;
    int64_t n = c->in[0]->shape.dims[0], k = c->in[0]->shape.dims[1];
    const float *p = c->saved;
    float g = tt_tensor_f32(c->dout[0])[0] / (float)n;
    float *dz = tt_tensor_f32(c->din[0]);
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < k; j++) dz[i * k + j] += g * p[i * k + j];
        dz[i * k + lab[i]] -= g;
    }
    return TT_OK;
}

const tt_op_def tt_op_softmax_ce = {
    .name = "SoftmaxCrossEntropy",
    .min_in = 2,
    .max_in = 2,
    .n_out = 1,
    .infer = ce_infer,
    .saved_size = ce_saved,
    .forward = ce_forward,
    .backward = ce_backward,
    .nondiff_inputs = 1u << 1,
};
