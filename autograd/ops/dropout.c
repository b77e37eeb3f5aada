/* Dropout (inverted): in training each element is kept with probability 1 - ratio and scaled by
 * 1 / (1 - ratio), so eval is the identity and needs no rescaling. The keep mask is drawn from
 * the executor's RNG in element order (serially, so a seed gives the same mask at any thread
 * count) and kept in ctx->saved as one byte per element for backward. */
#include <math.h>
#include <string.h>
#include "autograd/internal.h"
#include "autograd/op.h"

static float dropout_ratio(const tt_node *n)
{
    return tt_node_attr_float(n, "ratio", 0.5f);
}

static tt_status dropout_infer(const tt_node *n, const tt_tensor *const *in, tt_tensor *out)
{
    float r = dropout_ratio(n);
    /* ratio 1 would drop everything and scale by 1/0. */
    if (!(r >= 0.0f && r < 1.0f))
        return tt_fail(TT_ERR_INVALID_ARG, "node '%s' (Dropout): ratio %g is outside [0, 1)",
                       n->name, (double)r);
    return tt_op_infer_same(n, in, out);
}

static size_t dropout_saved(const tt_node *n, const tt_tensor *const *in, const tt_tensor *out)
{
    (void)n, (void)out;
    return (size_t)tt_tensor_numel(in[0]);
}

static tt_status dropout_forward(tt_op_ctx *c)
{
    float r = dropout_ratio(c->node);
    const float *x = tt_tensor_f32(c->in[0]);
    float *y = tt_tensor_f32(c->out[0]);
    int64_t n = tt_tensor_numel(c->in[0]);
    uint8_t *mask = c->saved;
    if (!c->training || r == 0.0f) {
        memcpy(y, x, (size_t)n * sizeof *y);
        /* Keep-all, so a backward after a ratio-0 training forward passes dy through. */
        if (c->training) memset(mask, 1, (size_t)n);
        return TT_OK;
    }
    float scale = 1.0f / (1.0f - r);
    for (int64_t i = 0; i < n; i++) {
        /* tt_rng_uniform is in [0, 1) on a 2^-24 grid, so P(u >= r) = 1 - r. */
        mask[i] = tt_rng_uniform(c->rng) >= r;
        y[i] = mask[i] ? x[i] * scale : 0.0f;
    }
    return TT_OK;
}

static tt_status dropout_backward(tt_op_ctx *c)
{
    float r = dropout_ratio(c->node);
    float scale = 1.0f / (1.0f - r);
    const uint8_t *mask = c->saved;
    const float *dy = tt_tensor_f32(c->dout[0]);
    float *dx = tt_tensor_f32(c->din[0]);
    int64_t n = tt_tensor_numel(c->in[0]);
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; i++)
        if (mask[i]) dx[i] += dy[i] * scale;
    return TT_OK;
}

const tt_op_def tt_op_dropout = {
    .name = "Dropout",
    .min_in = 1,
    .max_in = 1,
    .n_out = 1,
    .infer = dropout_infer,
    .saved_size = dropout_saved,
    .forward = dropout_forward,
    .backward = dropout_backward,
};
