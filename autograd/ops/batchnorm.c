/* BatchNormalization over the channel axis (dim 1) of X [N,C], [N,C,L] or [N,C,H,W].
 * Inputs in ONNX order: X, scale[C], bias[C], running_mean[C], running_var[C]; the running
 * statistics are non-trainable graph parameters that a training forward updates in place.
 *
 * Attributes: "epsilon" (default 1e-5) and "momentum" (default 0.1). The momentum follows
 * PyTorch's convention, running = (1 - m) * running + m * batch_stat, which is 1 - ONNX's
 * momentum; export/import must convert.
 *
 * Training normalises with the batch mean and the biased batch variance and, as PyTorch does,
 * folds the unbiased variance (times M/(M-1), M = N*H*W) into running_var. Eval uses the
 * running statistics. Backward exists for training mode only (the executor only runs backward
 * after a training forward) and is the full batch-statistics gradient.
 *
 * Attribute "frozen" (default 0; tinytrain's own, for QAT's freeze_bn_epoch): a training
 * forward then normalises with the running statistics, leaves them as they are, and backward
 * is the gradient of that fixed affine map (PyTorch's freeze_bn_stats). */
#include <math.h>
#include "autograd/internal.h"
#include "autograd/op.h"

_Static_assert(TT_MAX_NODE_IO >= 5, "BatchNormalization has 5 inputs");

enum { BN_X = 0, BN_SCALE, BN_BIAS, BN_MEAN, BN_VAR };

/* Elements above which the per-channel loops are worth spreading over threads. */
#define BN_PAR_MIN 65536

static float bn_eps(const tt_node *n)
{
    return tt_node_attr_float(n, "epsilon", 1e-5f);
}

static bool bn_frozen(const tt_node *n)
{
    return tt_node_attr_int(n, "frozen", 0) != 0;
}

static float bn_momentum(const tt_node *n)
{
    return tt_node_attr_float(n, "momentum", 0.1f);
}

static tt_status bn_infer(const tt_node *n, const tt_tensor *const *in, tt_tensor *out)
{
    static const char *const what[5] = {"X", "scale", "bias", "running_mean", "running_var"};
    for (int i = 0; i < 5; i++) TT_CHECK(tt_op_expect_dtype(n, in[i], i, TT_F32));
    TT_CHECK(tt_op_expect_ndim(n, in[BN_X], BN_X, 2, 4));
    int64_t c = in[BN_X]->shape.dims[1];
    if (c < 1)
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (BatchNormalization): the channel dimension (dim 1) of X "
                       "is %lld; it must be a fixed size >= 1",
                       n->name, (long long)c);
    for (int i = BN_SCALE; i <= BN_VAR; i++) {
        const tt_shape *s = &in[i]->shape;
        if (s->ndim != 1 || s->dims[0] != c) {
            char b[64];
            return tt_fail(TT_ERR_SHAPE,
                           "node '%s' (BatchNormalization): %s (input %d) has shape %s but X "
                           "has %lld channels; it must be [%lld]",
                           n->name, what[i], i, tt_shape_str(s, b, sizeof b), (long long)c,
                           (long long)c);
        }
    }
    float eps = bn_eps(n), mom = bn_momentum(n);
    if (!(eps > 0.0f) || !isfinite(eps))
        return tt_fail(TT_ERR_INVALID_ARG,
                       "node '%s' (BatchNormalization): epsilon %g must be a finite value > 0",
                       n->name, (double)eps);
    if (!(mom >= 0.0f && mom <= 1.0f))
        return tt_fail(TT_ERR_INVALID_ARG,
                       "node '%s' (BatchNormalization): momentum %g is outside 0..1 (PyTorch "
                       "convention: running = (1 - m) * running + m * batch)",
                       n->name, (double)mom);
    out[0].dtype = TT_F32;
    out[0].shape = in[BN_X]->shape;
    return TT_OK;
}

/* Saved per channel for backward: the batch mean as a float pair (hi, lo) and inv_std, then
 * one float saying whether the forward ran frozen (running statistics). x - mean is formed as
 * (x - hi) - lo: with |mean| >> std a single float mean would be off by half an ulp of |mean|,
 * a large fraction of the spread, while x - hi is exact there. */
static size_t bn_saved(const tt_node *n, const tt_tensor *const *in, const tt_tensor *out)
{
    (void)n, (void)out;
    return (3 * (size_t)in[BN_X]->shape.dims[1] + 1) * sizeof(float);
}

/* N, C and the spatial size S (product of the dims after the channel). */
static void bn_dims(const tt_tensor *x, int64_t *n, int64_t *c, int64_t *s)
{
    *n = x->shape.dims[0];
    *c = x->shape.dims[1];
    *s = 1;
    for (int i = 2; i < x->shape.ndim; i++) *s *= x->shape.dims[i];
}

static tt_status bn_forward(tt_op_ctx *ctx)
{
    int64_t n, c, s;
    bn_dims(ctx->in[BN_X], &n, &c, &s);
    const float *x = tt_tensor_f32(ctx->in[BN_X]);
    const float *scale = tt_tensor_f32(ctx->in[BN_SCALE]);
    const float *bias = tt_tensor_f32(ctx->in[BN_BIAS]);
    float *rmean = tt_tensor_f32(ctx->in[BN_MEAN]);
    float *rvar = tt_tensor_f32(ctx->in[BN_VAR]);
    float *y = tt_tensor_f32(ctx->out[0]);
    double eps = bn_eps(ctx->node);
    int64_t m = n * s, total = n * c * s;
    bool frozen = ctx->training && bn_frozen(ctx->node);
    float *sv = ctx->saved;
    if (ctx->training) sv[3 * c] = frozen ? 1.0f : 0.0f;
    if (frozen) /* what backward needs: the running mean and 1/sqrt(running_var + eps) */
        for (int64_t ch = 0; ch < c; ch++) {
            sv[ch] = rmean[ch];
            sv[c + ch] = 0.0f;
            sv[2 * c + ch] = (float)(1.0 / sqrt((double)rvar[ch] + eps));
        }

    if (!ctx->training || frozen) {
#pragma omp parallel for if (total > BN_PAR_MIN)
        for (int64_t ch = 0; ch < c; ch++) {
            float mu = rmean[ch];
            float a = (float)((double)scale[ch] / sqrt((double)rvar[ch] + eps));
            for (int64_t i = 0; i < n; i++) {
                const float *xp = x + (i * c + ch) * s;
                float *yp = y + (i * c + ch) * s;
                for (int64_t j = 0; j < s; j++) yp[j] = (xp[j] - mu) * a + bias[ch];
            }
        }
        return TT_OK;
    }

    if (m < 2)
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (BatchNormalization): training needs more than one value "
                       "per channel (batch %lld x %lld spatial); use a larger batch or eval "
                       "mode",
                       ctx->node->name, (long long)n, (long long)s);
    double mom = bn_momentum(ctx->node);
    float *sv_hi = ctx->saved, *sv_lo = sv_hi + c, *sv_istd = sv_hi + 2 * c;
#pragma omp parallel for if (total > BN_PAR_MIN)
    for (int64_t ch = 0; ch < c; ch++) {
        /* Two passes in double: the sums run over N*H*W values, where float loses digits and
         * the one-pass E[x^2] - E[x]^2 cancels badly when |mean| >> std. */
        double sum = 0.0;
        for (int64_t i = 0; i < n; i++) {
            const float *xp = x + (i * c + ch) * s;
#pragma omp simd reduction(+ : sum)
            for (int64_t j = 0; j < s; j++) sum += xp[j];
        }
        double mean = sum / (double)m;
        double ss = 0.0;
        for (int64_t i = 0; i < n; i++) {
            const float *xp = x + (i * c + ch) * s;
#pragma omp simd reduction(+ : ss)
            for (int64_t j = 0; j < s; j++) {
                double d = (double)xp[j] - mean;
                ss += d * d;
            }
        }
        double istd = 1.0 / sqrt(ss / (double)m + eps);
        float hi = (float)mean, lo = (float)(mean - (double)hi);
        sv_hi[ch] = hi;
        sv_lo[ch] = lo;
        sv_istd[ch] = (float)istd;
        float a = (float)((double)scale[ch] * istd);
        for (int64_t i = 0; i < n; i++) {
            const float *xp = x + (i * c + ch) * s;
            float *yp = y + (i * c + ch) * s;
            for (int64_t j = 0; j < s; j++) yp[j] = ((xp[j] - hi) - lo) * a + bias[ch];
        }
        /* PyTorch: running stats take the unbiased variance. */
        rmean[ch] = (float)(mom * mean + (1.0 - mom) * (double)rmean[ch]);
        rvar[ch] = (float)(mom * (ss / (double)(m - 1)) + (1.0 - mom) * (double)rvar[ch]);
    }
    return TT_OK;
}

/* With x_hat = (x - mean) * inv_std and M = N*H*W per channel:
 *   dbias = sum dy, dscale = sum dy * x_hat,
 *   dx = scale * inv_std / M * (M * dy - sum dy - x_hat * sum(dy * x_hat)). */
static tt_status bn_backward(tt_op_ctx *ctx)
{
    int64_t n, c, s;
    bn_dims(ctx->in[BN_X], &n, &c, &s);
    const float *x = tt_tensor_f32(ctx->in[BN_X]);
    const float *scale = tt_tensor_f32(ctx->in[BN_SCALE]);
    const float *dy = tt_tensor_f32(ctx->dout[0]);
    const float *sv_hi = ctx->saved, *sv_lo = sv_hi + c, *sv_istd = sv_hi + 2 * c;
    float *dx = ctx->din[BN_X] ? tt_tensor_f32(ctx->din[BN_X]) : NULL;
    float *dscale = ctx->din[BN_SCALE] ? tt_tensor_f32(ctx->din[BN_SCALE]) : NULL;
    float *dbias = ctx->din[BN_BIAS] ? tt_tensor_f32(ctx->din[BN_BIAS]) : NULL;
    int64_t m = n * s, total = n * c * s;
    /* Frozen: y = (x - mean_run) * istd_run * scale + bias, with no batch-statistics terms. */
    bool frozen = sv_hi[3 * c] != 0.0f;
#pragma omp parallel for if (total > BN_PAR_MIN)
    for (int64_t ch = 0; ch < c; ch++) {
        float hi = sv_hi[ch], lo = sv_lo[ch], istd = sv_istd[ch];
        double sdy = 0.0, sdyx = 0.0;
        for (int64_t i = 0; i < n; i++) {
            const float *xp = x + (i * c + ch) * s, *gp = dy + (i * c + ch) * s;
#pragma omp simd reduction(+ : sdy, sdyx)
            for (int64_t j = 0; j < s; j++) {
                sdy += gp[j];
                sdyx += (double)gp[j] * (double)(((xp[j] - hi) - lo) * istd);
            }
        }
        if (dbias) dbias[ch] += (float)sdy;
        if (dscale) dscale[ch] += (float)sdyx;
        if (!dx) continue;
        float k = scale[ch] * istd;
        if (frozen) {
            for (int64_t i = 0; i < n; i++) {
                const float *gp = dy + (i * c + ch) * s;
                float *dp = dx + (i * c + ch) * s;
                for (int64_t j = 0; j < s; j++) dp[j] += k * gp[j];
            }
            continue;
        }
        float mean_dy = (float)(sdy / (double)m), mean_dyx = (float)(sdyx / (double)m);
        for (int64_t i = 0; i < n; i++) {
            const float *xp = x + (i * c + ch) * s, *gp = dy + (i * c + ch) * s;
            float *dp = dx + (i * c + ch) * s;
            for (int64_t j = 0; j < s; j++) {
                float xh = ((xp[j] - hi) - lo) * istd;
                dp[j] += k * (gp[j] - mean_dy - xh * mean_dyx);
            }
        }
    }
    return TT_OK;
}

const tt_op_def tt_op_batchnorm = {
    .name = "BatchNormalization",
    .min_in = 5,
    .max_in = 5,
    .n_out = 1,
    .infer = bn_infer,
    .saved_size = bn_saved,
    .forward = bn_forward,
    .backward = bn_backward,
    .nondiff_inputs = (1u << BN_MEAN) | (1u << BN_VAR),
};
