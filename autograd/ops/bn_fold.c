/* Simulated BatchNorm folding for QAT (PyTorch's ConvBn2d "_forward_approximate"): the layer
 * sees its weight scaled by f = gamma / sqrt(running_var + eps), the weight the exported model
 * will hold once BN is folded, so that weight is what gets fake-quantised; the layer's output
 * is scaled back by 1/f before the (still live) BatchNormalization.
 *
 *   BnFoldWeight(W[M, ...], gamma[M], running_var[M]) = W[c] * f[c]
 *   BnUnfold(Y[N, M, ...], gamma[M], running_var[M])  = Y[:, c] / f[c]
 *
 * Attribute "epsilon" (default 1e-5, the BatchNormalization's). Both are tinytrain's own ops
 * (no ONNX form: export folds them away). Gradients flow to the first input and to gamma;
 * running_var is a statistic, never differentiated. f is formed in double and rounded once. */
#include <math.h>
#include "autograd/bn_fold.h"
#include "autograd/internal.h"
#include "autograd/op.h"

enum { BF_X = 0, BF_GAMMA, BF_VAR };

#define BF_PAR_MIN 65536

/* Channel count and the element run per (outer, channel) of input 0 along `axis`. */
static void bf_dims(const tt_tensor *x, int axis, int64_t *outer, int64_t *c, int64_t *inner)
{
    *outer = 1;
    *inner = 1;
    *c = x->shape.dims[axis];
    for (int i = 0; i < axis; i++) *outer *= x->shape.dims[i];
    for (int i = axis + 1; i < x->shape.ndim; i++) *inner *= x->shape.dims[i];
}

static tt_status bf_infer_axis(const tt_node *n, const tt_tensor *const *in, tt_tensor *out,
                               int axis)
{
    for (int i = 0; i < 3; i++) TT_CHECK(tt_op_expect_dtype(n, in[i], i, TT_F32));
    TT_CHECK(tt_op_expect_ndim(n, in[BF_X], BF_X, 2, TT_MAX_DIMS));
    int64_t c = in[BF_X]->shape.dims[axis];
    for (int i = BF_GAMMA; i <= BF_VAR; i++) {
        const tt_shape *s = &in[i]->shape;
        if (c < 1 || s->ndim != 1 || s->dims[0] != c) {
            char b[64];
            return tt_fail(TT_ERR_SHAPE,
                           "node '%s' (%s): input %d has shape %s but input 0 has %lld "
                           "channels along axis %d",
                           n->name, tt_op_name(n->op), i, tt_shape_str(s, b, sizeof b),
                           (long long)c, axis);
        }
    }
    float eps = tt_node_attr_float(n, "epsilon", 1e-5f);
    if (!(eps > 0.0f) || !isfinite(eps))
        return tt_fail(TT_ERR_INVALID_ARG, "node '%s' (%s): epsilon %g must be a finite value > 0",
                       n->name, tt_op_name(n->op), (double)eps);
    out[0].dtype = TT_F32;
    out[0].shape = in[BF_X]->shape;
    return TT_OK;
}

static tt_status bf_weight_infer(const tt_node *n, const tt_tensor *const *in, tt_tensor *out)
{
    return bf_infer_axis(n, in, out, 0);
}

static tt_status bf_unfold_infer(const tt_node *n, const tt_tensor *const *in, tt_tensor *out)
{
    return bf_infer_axis(n, in, out, 1);
}

tt_status tt_bn_fold_factors(const tt_node *n, const float *g, const float *v, int64_t c,
                             bool unfold, double *sigma, float *mult)
{
    double eps = tt_node_attr_float(n, "epsilon", 1e-5f);
    for (int64_t k = 0; k < c; k++) {
        if (!(v[k] >= 0.0f) || (unfold && g[k] == 0.0f))
            return tt_fail(TT_ERR_NUMERIC,
                           "node '%s' (%s): channel %lld has running_var %g and gamma %g; "
                           "simulated folding needs running_var >= 0 and gamma != 0 (use "
                           "qat.bn_fold: fold)",
                           n->name, tt_op_name(n->op), (long long)k, (double)v[k], (double)g[k]);
        double s = sqrt((double)v[k] + eps), f = (double)g[k] / s;
        if (sigma) sigma[k] = s;
        if (mult) mult[k] = (float)(unfold ? 1.0 / f : f);
    }
    return TT_OK;
}

/* sigma (double) and the multiplier (float) per channel. */
static size_t bf_scratch(const tt_node *n, const tt_tensor *const *in, const tt_tensor *out)
{
    (void)n, (void)out;
    return (size_t)in[BF_GAMMA]->shape.dims[0] * (sizeof(double) + sizeof(float));
}

/* y = x * mult[c] over [outer, c, inner]. */
static void bf_scale(const float *x, float *y, const float *mult, int64_t outer, int64_t c,
                     int64_t inner)
{
#pragma omp parallel for if (outer * c * inner > BF_PAR_MIN)
    for (int64_t r = 0; r < outer * c; r++) {
        float m = mult[r % c];
        const float *xp = x + r * inner;
        float *yp = y + r * inner;
#pragma omp simd
        for (int64_t j = 0; j < inner; j++) yp[j] = xp[j] * m;
    }
}

/* The per-channel multiplier: f (fold) or 1/f (unfold), as floats in the scratch after sigma. */
static tt_status bf_forward_axis(tt_op_ctx *ctx, int axis, bool unfold)
{
    int64_t outer, c, inner;
    bf_dims(ctx->in[BF_X], axis, &outer, &c, &inner);
    double *sig = ctx->scratch;
    float *mult = (float *)(sig + c);
    TT_CHECK(tt_bn_fold_factors(ctx->node, tt_tensor_f32(ctx->in[BF_GAMMA]),
                                tt_tensor_f32(ctx->in[BF_VAR]), c, unfold, sig, mult));
    bf_scale(tt_tensor_f32(ctx->in[BF_X]), tt_tensor_f32(ctx->out[0]), mult, outer, c, inner);
    return TT_OK;
}

static tt_status bf_weight_forward(tt_op_ctx *ctx)
{
    return bf_forward_axis(ctx, 0, false);
}

static tt_status bf_unfold_forward(tt_op_ctx *ctx)
{
    return bf_forward_axis(ctx, 1, true);
}

/* d/dx: dy * m[c]. d/dgamma: fold y = x g / s gives sum dy x / s; unfold y = x s / g gives
 * -sum dy x s / g^2. */
static tt_status bf_backward_axis(tt_op_ctx *ctx, int axis, bool unfold)
{
    int64_t outer, c, inner;
    bf_dims(ctx->in[BF_X], axis, &outer, &c, &inner);
    double *sig = ctx->scratch;
    TT_CHECK(tt_bn_fold_factors(ctx->node, tt_tensor_f32(ctx->in[BF_GAMMA]),
                                tt_tensor_f32(ctx->in[BF_VAR]), c, unfold, sig, NULL));
    const float *x = tt_tensor_f32(ctx->in[BF_X]), *dy = tt_tensor_f32(ctx->dout[0]);
    const float *g = tt_tensor_f32(ctx->in[BF_GAMMA]);
    float *dx = ctx->din[BF_X] ? tt_tensor_f32(ctx->din[BF_X]) : NULL;
    float *dg = ctx->din[BF_GAMMA] ? tt_tensor_f32(ctx->din[BF_GAMMA]) : NULL;
#pragma omp parallel for if (outer * c * inner > BF_PAR_MIN)
    for (int64_t k = 0; k < c; k++) {
        double f = (double)g[k] / sig[k];
        float m = (float)(unfold ? 1.0 / f : f);
        double dm = unfold ? -sig[k] / ((double)g[k] * g[k]) : 1.0 / sig[k]; /* dm/dgamma */
        double acc = 0.0;
        for (int64_t o = 0; o < outer; o++) {
            int64_t off = (o * c + k) * inner;
            for (int64_t j = 0; j < inner; j++) {
                if (dx) dx[off + j] += dy[off + j] * m;
                acc += (double)dy[off + j] * x[off + j];
            }
        }
        if (dg) dg[k] += (float)(acc * dm);
    }
    return TT_OK;
}

static tt_status bf_weight_backward(tt_op_ctx *ctx)
{
    return bf_backward_axis(ctx, 0, false);
}

static tt_status bf_unfold_backward(tt_op_ctx *ctx)
{
    return bf_backward_axis(ctx, 1, true);
}

const tt_op_def tt_op_bn_fold_weight = {
    .name = "BnFoldWeight",
    .min_in = 3,
    .max_in = 3,
    .n_out = 1,
    .infer = bf_weight_infer,
    .scratch_size = bf_scratch,
    .forward = bf_weight_forward,
    .backward = bf_weight_backward,
    .nondiff_inputs = 1u << BF_VAR,
};

const tt_op_def tt_op_bn_unfold = {
    .name = "BnUnfold",
    .min_in = 3,
    .max_in = 3,
    .n_out = 1,
    .infer = bf_unfold_infer,
    .scratch_size = bf_scratch,
    .forward = bf_unfold_forward,
    .backward = bf_unfold_backward,
    .nondiff_inputs = 1u << BF_VAR,
};
