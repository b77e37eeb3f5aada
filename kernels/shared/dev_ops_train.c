/* Device ops of the train group (kernels/shared/k_train.h holds their kernels): Gemm, MatMul,
 * BatchNormalization, Dropout, SoftmaxCrossEntropy, the MSE / L1 / SmoothL1 losses, Sigmoid,
 * Tanh, LeakyRelu, Clip, Softmax, and Mul / Sub / Div of equal shapes. Each follows its CPU op
 * in autograd/ops (attribute defaults, checks and messages included); what is bit-exact and
 * what agrees within a tolerance is said at each kernel and in tests/unit/test_dev_ops_train.c. */
#include <math.h>
#include <string.h>
#include "autograd/internal.h"
#include "kernels/shared/dev_op.h"

/* A buffer holding at least n elements of es bytes, checked before a kernel reads or writes
 * (nothing to hold: no buffer needed). */
static tt_status fits(const char *what, const tt_dbuf *b, int64_t n, size_t es)
{
    if (n <= 0) return TT_OK;
    return tt_dev_check_range(what, b, 0, (size_t)n * es);
}

static tt_status fits_f32(const char *what, const tt_dbuf *b, int64_t n)
{
    return fits(what, b, n, sizeof(float));
}

/* ---- Gemm: Y[N,M] = X[N,K] W[M,K]^T + b[M] (transB = 1, as the CPU op; it reads no
 * attributes, so neither does this) and MatMul: Y[N,M] = A[N,K] B[K,M]. ---- */

typedef struct gemm_args {
    const tt_dbuf *a, *b, *bias;
    tt_dbuf *c;
    bool ta, tb;
    int64_t m, n, k, lda, ldb;
    bool accumulate;
} gemm_args;

/* C (+)= op(A) op(B) (+ bias per column) through the device table's GEMM: cuBLAS on CUDA when it
 * loads, the shared kernel otherwise. A bias is written into C first and the product added to
 * it (beta 1): one addition either way round, as the CPU adds its bias. */
static tt_status gemm_run(tt_dev *d, const gemm_args *g)
{
    TT_CHECK(fits_f32("Gemm A", g->a, g->m * g->k));
    TT_CHECK(fits_f32("Gemm B", g->b, g->k * g->n));
    TT_CHECK(fits_f32("Gemm C", g->c, g->m * g->n));
    if (g->bias) {
        TT_CHECK(fits_f32("Gemm bias", g->bias, g->n));
        TT_CHECK(TT_DEV_LAUNCH(d, "tt_train_bias_rows", g->m * g->n, TT_KBUF(g->bias),
                               TT_KBUF(g->c), TT_KI64(g->m * g->n), TT_KI64(g->n)));
    }
    float beta = g->bias || g->accumulate ? 1.0f : 0.0f;
    tt_dev_sgemm_sb s = {
        .g = {g->ta, g->tb, g->m, g->n, g->k, 1.0f, g->a, g->lda, g->b, g->ldb, beta, g->c, g->n},
        .batch = 1};
    return d->ops->sgemm_sb(d, &s);
}

static void gemm_dims(const tt_dop_ctx *c, int64_t *n, int64_t *k, int64_t *m)
{
    *n = c->in[0]->shape.dims[0];
    *k = c->in[0]->shape.dims[1];
    *m = c->in[1]->shape.dims[0];
}

static tt_status gemm_forward(tt_dop_ctx *c)
{
    int64_t n, k, m;
    gemm_dims(c, &n, &k, &m);
    gemm_args g = {c->x[0], c->x[1], c->x[2], c->y[0], false, true, n, m, k, k, k, false};
    return gemm_run(c->dev, &g);
}

/* dX += dY W, dW += dY^T X, db[j] += sum_i dY[i][j]. */
static tt_status gemm_backward(tt_dop_ctx *c)
{
    int64_t n, k, m;
    gemm_dims(c, &n, &k, &m);
    if (c->dx[0]) {
        gemm_args g = {c->dy[0], c->x[1], NULL, c->dx[0], false, false, n, k, m, m, k, true};
        TT_CHECK(gemm_run(c->dev, &g));
    }
    if (c->dx[1]) {
        gemm_args g = {c->dy[0], c->x[0], NULL, c->dx[1], true, false, m, k, n, m, k, true};
        TT_CHECK(gemm_run(c->dev, &g));
    }
    if (c->dx[2]) {
        TT_CHECK(fits_f32("Gemm dY", c->dy[0], n * m));
        TT_CHECK(fits_f32("Gemm db", c->dx[2], m));
        TT_CHECK(TT_DEV_LAUNCH(c->dev, "tt_train_colsum_acc", m, TT_KBUF(c->dy[0]),
                               TT_KBUF(c->dx[2]), TT_KI64(n), TT_KI64(m)));
    }
    return TT_OK;
}

static void matmul_dims(const tt_dop_ctx *c, int64_t *n, int64_t *k, int64_t *m)
{
    *n = c->in[0]->shape.dims[0];
    *k = c->in[0]->shape.dims[1];
    *m = c->in[1]->shape.dims[1];
}

static tt_status matmul_forward(tt_dop_ctx *c)
{
    int64_t n, k, m;
    matmul_dims(c, &n, &k, &m);
    gemm_args g = {c->x[0], c->x[1], NULL, c->y[0], false, false, n, m, k, k, m, false};
    return gemm_run(c->dev, &g);
}

/* dA += dY B^T, dB += A^T dY. */
static tt_status matmul_backward(tt_dop_ctx *c)
{
    int64_t n, k, m;
    matmul_dims(c, &n, &k, &m);
    if (c->dx[0]) {
        gemm_args g = {c->dy[0], c->x[1], NULL, c->dx[0], false, true, n, k, m, m, m, true};
        TT_CHECK(gemm_run(c->dev, &g));
    }
    if (c->dx[1]) {
        gemm_args g = {c->x[0], c->dy[0], NULL, c->dx[1], true, false, k, m, n, k, m, true};
        TT_CHECK(gemm_run(c->dev, &g));
    }
    return TT_OK;
}

/* ---- BatchNormalization: the state layout is k_train.h's (hi, lo, istd, frozen flag, a). ---- */

enum { BN_X = 0, BN_SCALE, BN_BIAS, BN_MEAN, BN_VAR };

static void bn_dims(const tt_tensor *x, int64_t *n, int64_t *c, int64_t *s)
{
    *n = x->shape.dims[0];
    *c = x->shape.dims[1];
    *s = 1;
    for (int i = 2; i < x->shape.ndim; i++) *s *= x->shape.dims[i];
}

static size_t bn_state_size(const tt_node *n, const tt_tensor *const *in, const tt_tensor *out)
{
    (void)n, (void)out;
    return (4 * (size_t)in[BN_X]->shape.dims[1] + 1) * sizeof(float);
}

static tt_status bn_forward(tt_dop_ctx *c)
{
    int64_t n, ch, s;
    bn_dims(c->in[BN_X], &n, &ch, &s);
    int64_t total = n * ch * s;
    float eps = tt_node_attr_float(c->node, "epsilon", 1e-5f);
    float mom = tt_node_attr_float(c->node, "momentum", 0.1f);
    bool frozen = c->training && tt_node_attr_int(c->node, "frozen", 0) != 0;
    TT_CHECK(fits_f32("BatchNormalization X", c->x[BN_X], total));
    TT_CHECK(fits_f32("BatchNormalization Y", c->y[0], total));
    for (int i = BN_SCALE; i <= BN_VAR; i++)
        TT_CHECK(fits_f32("BatchNormalization parameter", c->x[i], ch));
    /* Eval keeps its state in the scratch: the node's saved state stays the training one. */
    tt_dbuf *st = c->training ? c->saved : c->scratch;
    TT_CHECK(fits_f32("BatchNormalization state", st, 4 * ch + 1));
    if (!c->training || frozen) {
        TT_CHECK(TT_DEV_LAUNCH(c->dev, "tt_train_bn_fixed", ch, TT_KBUF(c->x[BN_SCALE]),
                               TT_KBUF(c->x[BN_MEAN]), TT_KBUF(c->x[BN_VAR]), TT_KBUF(st),
                               TT_KI64(ch), TT_KF32(eps), TT_KF32(frozen ? 1.0f : 0.0f)));
    } else {
        if (n * s < 2)
            return tt_fail(TT_ERR_SHAPE,
                           "node '%s' (BatchNormalization): training needs more than one value "
                           "per channel (batch %lld x %lld spatial); use a larger batch or eval "
                           "mode",
                           c->node->name, (long long)n, (long long)s);
        TT_CHECK(TT_DEV_LAUNCH(c->dev, "tt_train_bn_stats", ch, TT_KBUF(c->x[BN_X]),
                               TT_KBUF(c->x[BN_SCALE]), TT_KBUF(c->x[BN_MEAN]),
                               TT_KBUF(c->x[BN_VAR]), TT_KBUF(st), TT_KI64(n), TT_KI64(ch),
                               TT_KI64(s), TT_KF32(eps), TT_KF32(mom)));
    }
    return TT_DEV_LAUNCH(c->dev, "tt_train_bn_apply", total, TT_KBUF(c->x[BN_X]), TT_KBUF(st),
                         TT_KBUF(c->x[BN_BIAS]), TT_KBUF(c->y[0]), TT_KI64(total), TT_KI64(ch),
                         TT_KI64(s));
}

/* The per-channel sums (and dscale, dbias), then dx from them. */
static tt_status bn_backward(tt_dop_ctx *c)
{
    tt_dbuf *dx = c->dx[BN_X], *dscale = c->dx[BN_SCALE], *dbias = c->dx[BN_BIAS];
    if (!dx && !dscale && !dbias) return TT_OK;
    int64_t n, ch, s;
    bn_dims(c->in[BN_X], &n, &ch, &s);
    int64_t total = n * ch * s;
    TT_CHECK(fits_f32("BatchNormalization dY", c->dy[0], total));
    TT_CHECK(fits_f32("BatchNormalization state", c->saved, 4 * ch + 1));
    TT_CHECK(fits_f32("BatchNormalization scratch", c->scratch, 3 * ch));
    if (dscale) TT_CHECK(fits_f32("BatchNormalization dscale", dscale, ch));
    if (dbias) TT_CHECK(fits_f32("BatchNormalization dbias", dbias, ch));
    TT_CHECK(TT_DEV_LAUNCH(c->dev, "tt_train_bn_bsums", ch, TT_KBUF(c->x[BN_X]), TT_KBUF(c->dy[0]),
                           TT_KBUF(c->saved), TT_KBUF(c->x[BN_SCALE]), TT_KBUF(dscale),
                           TT_KBUF(dbias), TT_KBUF(c->scratch), TT_KI64(n), TT_KI64(ch), TT_KI64(s),
                           TT_KI32(dscale != NULL), TT_KI32(dbias != NULL)));
    if (!dx) return TT_OK;
    TT_CHECK(fits_f32("BatchNormalization dX", dx, total));
    return TT_DEV_LAUNCH(c->dev, "tt_train_bn_bdx", total, TT_KBUF(c->x[BN_X]), TT_KBUF(c->dy[0]),
                         TT_KBUF(c->saved), TT_KBUF(c->scratch), TT_KBUF(dx), TT_KI64(total),
                         TT_KI64(ch), TT_KI64(s));
}

/* ---- Dropout: the keep mask, one byte per element, is drawn on the host from the executor's
 * RNG in element order exactly as the CPU op draws it, and kept in the node's saved buffer. ---- */

static size_t dropout_bytes(const tt_node *n, const tt_tensor *const *in, const tt_tensor *out)
{
    (void)n, (void)out;
    return (size_t)tt_tensor_numel(in[0]);
}

static float dropout_scale(const tt_node *n)
{
    float r = tt_node_attr_float(n, "ratio", 0.5f);
    return 1.0f / (1.0f - r);
}

static tt_status dropout_forward(tt_dop_ctx *c)
{
    float r = tt_node_attr_float(c->node, "ratio", 0.5f);
    int64_t n = tt_dop_numel(c->in[0]);
    if (n == 0) return TT_OK;
    TT_CHECK(fits_f32("Dropout X", c->x[0], n));
    TT_CHECK(fits_f32("Dropout Y", c->y[0], n));
    if (!c->training || r == 0.0f) {
        TT_CHECK(c->dev->ops->copy(c->dev, c->y[0], 0, c->x[0], 0, (size_t)n * sizeof(float)));
        if (!c->training) return TT_OK;
    }
    if (!c->host || c->host_bytes < (size_t)n)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "node '%s' (Dropout): host scratch of %zu bytes, %lld needed for the mask",
                       c->node->name, c->host_bytes, (long long)n);
    TT_CHECK(fits("Dropout mask", c->saved, n, 1));
    uint8_t *mask = c->host;
    if (r == 0.0f) /* keep-all, so a backward after a ratio-0 training forward passes dy */
        memset(mask, 1, (size_t)n);
    else /* tt_rng_uniform is in [0, 1) on a 2^-24 grid, so P(u >= r) = 1 - r */
        for (int64_t i = 0; i < n; i++) mask[i] = tt_rng_uniform(c->rng) >= r;
    TT_CHECK(c->dev->ops->write_at(c->dev, c->saved, 0, mask, (size_t)n));
    if (r == 0.0f) return TT_OK;
    return TT_DEV_LAUNCH(c->dev, "tt_train_dropout_fwd", n, TT_KBUF(c->x[0]), TT_KBUF(c->saved),
                         TT_KBUF(c->y[0]), TT_KI64(n), TT_KF32(dropout_scale(c->node)));
}

static tt_status dropout_backward(tt_dop_ctx *c)
{
    int64_t n = tt_dop_numel(c->in[0]);
    if (!c->dx[0] || n == 0) return TT_OK;
    TT_CHECK(fits_f32("Dropout dY", c->dy[0], n));
    TT_CHECK(fits_f32("Dropout dX", c->dx[0], n));
    TT_CHECK(fits("Dropout mask", c->saved, n, 1));
    return TT_DEV_LAUNCH(c->dev, "tt_train_dropout_bwd", n, TT_KBUF(c->dy[0]), TT_KBUF(c->saved),
                         TT_KBUF(c->dx[0]), TT_KI64(n), TT_KF32(dropout_scale(c->node)));
}

/* ---- SoftmaxCrossEntropy: saved holds the probabilities [N, C] and two words of label check
 * (the first bad row and its label); the scratch the per-row loss terms, in double. ---- */

static size_t ce_saved(const tt_node *n, const tt_tensor *const *in, const tt_tensor *out)
{
    (void)n, (void)out;
    return ((size_t)tt_tensor_numel(in[0]) + 2) * sizeof(float);
}

static size_t ce_scratch(const tt_node *n, const tt_tensor *const *in, const tt_tensor *out)
{
    (void)n, (void)out;
    return (size_t)in[0]->shape.dims[0] * sizeof(double);
}

static tt_status ce_forward(tt_dop_ctx *c)
{
    int64_t n = c->in[0]->shape.dims[0], k = c->in[0]->shape.dims[1];
    TT_CHECK(fits_f32("SoftmaxCrossEntropy logits", c->x[0], n * k));
    TT_CHECK(fits("SoftmaxCrossEntropy labels", c->x[1], n, sizeof(int32_t)));
    TT_CHECK(fits_f32("SoftmaxCrossEntropy state", c->saved, n * k + 2));
    TT_CHECK(fits("SoftmaxCrossEntropy scratch", c->scratch, n, sizeof(double)));
    TT_CHECK(TT_DEV_LAUNCH(c->dev, "tt_train_ce_rows", n, TT_KBUF(c->x[0]), TT_KBUF(c->x[1]),
                           TT_KBUF(c->saved), TT_KBUF(c->scratch), TT_KI64(n), TT_KI64(k)));
    TT_CHECK(TT_DEV_LAUNCH(c->dev, "tt_train_ce_loss", 1, TT_KBUF(c->x[1]), TT_KBUF(c->scratch),
                           TT_KBUF(c->saved), TT_KBUF(c->y[0]), TT_KI64(n), TT_KI64(k)));
    int32_t bad[2];
    TT_CHECK(
        c->dev->ops->read_at(c->dev, c->saved, (size_t)(n * k) * sizeof(float), bad, sizeof bad));
    if (bad[0] >= 0)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "node '%s' (SoftmaxCrossEntropy): label %d of "
                       "sample %lld is outside 0..%lld",
                       c->node->name, bad[1], (long long)bad[0], (long long)(k - 1));
    return TT_OK;
}

static tt_status ce_backward(tt_dop_ctx *c)
{
    if (!c->dx[0]) return TT_OK;
    int64_t n = c->in[0]->shape.dims[0], k = c->in[0]->shape.dims[1];
    TT_CHECK(fits_f32("SoftmaxCrossEntropy dlogits", c->dx[0], n * k));
    TT_CHECK(fits_f32("SoftmaxCrossEntropy state", c->saved, n * k));
    TT_CHECK(fits_f32("SoftmaxCrossEntropy dloss", c->dy[0], 1));
    return TT_DEV_LAUNCH(c->dev, "tt_train_ce_bwd", n * k, TT_KBUF(c->saved), TT_KBUF(c->x[1]),
                         TT_KBUF(c->dy[0]), TT_KBUF(c->dx[0]), TT_KI64(n), TT_KI64(k));
}

/* ---- MSELoss (kind 0), L1Loss (1), SmoothL1Loss (2, attr beta default 1). ---- */

static int loss_kind(const tt_node *n)
{
    return n->op == TT_OP_MSE ? 0 : (n->op == TT_OP_L1 ? 1 : 2);
}

static tt_status loss_forward(tt_dop_ctx *c)
{
    int64_t n = tt_dop_numel(c->in[0]);
    TT_CHECK(fits_f32("loss prediction", c->x[0], n));
    TT_CHECK(fits_f32("loss target", c->x[1], n));
    TT_CHECK(fits_f32("loss", c->y[0], 1));
    return TT_DEV_LAUNCH(c->dev, "tt_train_loss_fwd", 1, TT_KBUF(c->x[0]), TT_KBUF(c->x[1]),
                         TT_KBUF(c->y[0]), TT_KI64(n), TT_KI32(loss_kind(c->node)),
                         TT_KF32(tt_node_attr_float(c->node, "beta", 1.0f)));
}

static tt_status loss_backward(tt_dop_ctx *c)
{
    if (!c->dx[0] && !c->dx[1]) return TT_OK;
    int64_t n = tt_dop_numel(c->in[0]);
    for (int i = 0; i < 2; i++)
        if (c->dx[i]) TT_CHECK(fits_f32("loss gradient", c->dx[i], n));
    TT_CHECK(fits_f32("loss dY", c->dy[0], 1));
    return TT_DEV_LAUNCH(c->dev, "tt_train_loss_bwd", n, TT_KBUF(c->x[0]), TT_KBUF(c->x[1]),
                         TT_KBUF(c->dy[0]), TT_KBUF(c->dx[0]), TT_KBUF(c->dx[1]), TT_KI64(n),
                         TT_KI32(loss_kind(c->node)),
                         TT_KF32(tt_node_attr_float(c->node, "beta", 1.0f)),
                         TT_KI32(c->dx[0] != NULL), TT_KI32(c->dx[1] != NULL));
}

/* ---- Sigmoid (kind 0), Tanh (1), LeakyRelu (2, alpha default 0.01), Clip (3, min / max
 * default -inf / +inf). ---- */

typedef struct unary_attrs {
    int kind;
    float alpha, lo, hi;
} unary_attrs;

static unary_attrs unary_of(const tt_node *n)
{
    unary_attrs u = {0, 0.0f, -INFINITY, INFINITY};
    if (n->op == TT_OP_TANH) u.kind = 1;
    if (n->op == TT_OP_LEAKYRELU) {
        u.kind = 2;
        u.alpha = tt_node_attr_float(n, "alpha", 0.01f);
    }
    if (n->op == TT_OP_CLIP) {
        u.kind = 3;
        u.lo = tt_node_attr_float(n, "min", -INFINITY);
        u.hi = tt_node_attr_float(n, "max", INFINITY);
    }
    return u;
}

static tt_status unary_forward(tt_dop_ctx *c)
{
    int64_t n = tt_dop_numel(c->in[0]);
    TT_CHECK(fits_f32("activation X", c->x[0], n));
    TT_CHECK(fits_f32("activation Y", c->y[0], n));
    unary_attrs u = unary_of(c->node);
    return TT_DEV_LAUNCH(c->dev, "tt_train_unary_fwd", n, TT_KBUF(c->x[0]), TT_KBUF(c->y[0]),
                         TT_KI64(n), TT_KI32(u.kind), TT_KF32(u.alpha), TT_KF32(u.lo),
                         TT_KF32(u.hi));
}

/* Sigmoid and Tanh differentiate through the saved output y, as the CPU ops do. */
static tt_status unary_backward(tt_dop_ctx *c)
{
    if (!c->dx[0]) return TT_OK;
    int64_t n = tt_dop_numel(c->in[0]);
    TT_CHECK(fits_f32("activation dY", c->dy[0], n));
    TT_CHECK(fits_f32("activation dX", c->dx[0], n));
    unary_attrs u = unary_of(c->node);
    return TT_DEV_LAUNCH(c->dev, "tt_train_unary_bwd", n, TT_KBUF(c->x[0]), TT_KBUF(c->y[0]),
                         TT_KBUF(c->dy[0]), TT_KBUF(c->dx[0]), TT_KI64(n), TT_KI32(u.kind),
                         TT_KF32(u.alpha), TT_KF32(u.lo), TT_KF32(u.hi));
}

/* ---- Softmax (inference only, as on the CPU): attr axis, default -1. ---- */

static tt_status softmax_forward(tt_dop_ctx *c)
{
    const tt_shape *s = &c->in[0]->shape;
    int64_t a = tt_node_attr_int(c->node, "axis", -1), r = s->ndim;
    if (a < -r || a >= r) /* shape inference refuses it first; kept for a direct caller */
        return tt_fail(TT_ERR_INVALID_ARG, "node '%s' (Softmax): axis %lld is outside -%lld..%lld",
                       c->node->name, (long long)a, (long long)r, (long long)(r - 1));
    int axis = (int)(a < 0 ? a + r : a);
    int64_t outer = 1, k = s->dims[axis], inner = 1;
    for (int i = 0; i < axis; i++) outer *= s->dims[i];
    for (int i = axis + 1; i < s->ndim; i++) inner *= s->dims[i];
    TT_CHECK(fits_f32("Softmax X", c->x[0], outer * k * inner));
    TT_CHECK(fits_f32("Softmax Y", c->y[0], outer * k * inner));
    if (k == 0 || inner == 0) return TT_OK;
    return TT_DEV_LAUNCH(c->dev, "tt_train_softmax", outer * inner, TT_KBUF(c->x[0]),
                         TT_KBUF(c->y[0]), TT_KI64(outer * inner), TT_KI64(k), TT_KI64(inner));
}

static const tt_dop_def gemm = {.forward = gemm_forward, .backward = gemm_backward};
static const tt_dop_def matmul = {.forward = matmul_forward, .backward = matmul_backward};
static const tt_dop_def batchnorm = {.forward = bn_forward,
                                     .backward = bn_backward,
                                     .saved_size = bn_state_size,
                                     .scratch_size = bn_state_size};
static const tt_dop_def dropout = {.forward = dropout_forward,
                                   .backward = dropout_backward,
                                   .saved_size = dropout_bytes,
                                   .host_size = dropout_bytes};
static const tt_dop_def softmax_ce = {.forward = ce_forward,
                                      .backward = ce_backward,
                                      .saved_size = ce_saved,
                                      .scratch_size = ce_scratch};
static const tt_dop_def loss = {.forward = loss_forward, .backward = loss_backward};
static const tt_dop_def unary = {.forward = unary_forward, .backward = unary_backward};
static const tt_dop_def softmax = {.forward = softmax_forward};

const tt_dop_def *tt_dops_train(tt_op_type op)
{
    switch (op) {
    case TT_OP_GEMM:
        return &gemm;
    case TT_OP_MATMUL:
        return &matmul;
    case TT_OP_BATCHNORM:
        return &batchnorm;
    case TT_OP_DROPOUT:
        return &dropout;
    case TT_OP_SOFTMAX_CE:
        return &softmax_ce;
    case TT_OP_MSE:
    case TT_OP_L1:
    case TT_OP_SMOOTH_L1:
        return &loss;
    case TT_OP_SIGMOID:
    case TT_OP_TANH:
    case TT_OP_LEAKYRELU:
    case TT_OP_CLIP:
        return &unary;
    case TT_OP_SOFTMAX:
        return &softmax;
    default:
        return NULL;
    }
}
