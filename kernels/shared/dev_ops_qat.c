/* Device ops of the qat group (kernels/shared/k_qat.h holds their kernels): FakeQuant with its
 * observers and LSQ scale, the simulated BatchNorm folding (BnFoldWeight, BnUnfold) and
 * BiasFakeQuant, forward and backward, each mirroring its CPU op in autograd/ops (attribute
 * defaults, checks, messages and the state they leave on an error included).
 *
 * The element-wise work and the reductions over a tensor run on the device; the per-channel
 * scalar work (the observer's running range, scale and zero point, the qparam and BatchNorm
 * checks, the folding multipliers, BiasFakeQuant's int32 rounding of a few values) reads its
 * few inputs back and runs on the host with the CPU's own functions, so it is the CPU's bit for
 * bit and fails with the CPU's messages. Everything here is bit-exact against the CPU (with
 * double on the device: see k_qat.h). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "autograd/bn_fold.h"
#include "autograd/fake_quant.h"
#include "autograd/internal.h"
#include "kernels/shared/dev_op.h"
#include "qat/observer.h"
#include "tinytrain/quant.h"

/* Host <-> device transfers of parts of a buffer, range-checked first. */
static tt_status rd(tt_dop_ctx *c, const tt_dbuf *b, size_t off, void *dst, size_t bytes)
{
    TT_CHECK(tt_dev_check_range("qat read", b, off, bytes));
    return bytes ? c->dev->ops->read_at(c->dev, b, off, dst, bytes) : TT_OK;
}

static tt_status wr(tt_dop_ctx *c, tt_dbuf *b, size_t off, const void *src, size_t bytes)
{
    TT_CHECK(tt_dev_check_range("qat write", b, off, bytes));
    return bytes ? c->dev->ops->write_at(c->dev, b, off, src, bytes) : TT_OK;
}

static tt_status fits(const char *what, const tt_dbuf *b, int64_t n, size_t es)
{
    return n > 0 ? tt_dev_check_range(what, b, 0, (size_t)n * es) : TT_OK;
}

/* ---- FakeQuant (autograd/ops/fake_quant.c) ---- */

#define OBS_CHUNK 4096 /* observer elements per thread (any size gives the same result) */

static int64_t ceil_div(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

/* The per-element codes, then one byte: whether the forward fake-quantised (enabled). */
static size_t fq_saved(const tt_node *n, const tt_tensor *const *in, const tt_tensor *out)
{
    (void)n, (void)out;
    return (size_t)tt_tensor_numel(in[TT_FQ_X]) + 1;
}

/* Device: the observer's ranges and chunk partials, the LSQ partial sums (doubles), or the
 * clamped LSQ scales; host: six floats per channel (batch range, running range, scale, zp). */
static size_t fq_scratch(const tt_node *n, const tt_tensor *const *in, const tt_tensor *out)
{
    (void)out;
    tt_fq_attrs a = tt_fq_get_attrs(n);
    int64_t outer, ch, inner;
    tt_fq_layout(in[TT_FQ_X], a.axis, &outer, &ch, &inner);
    int64_t total = outer * ch * inner, nchunks = ceil_div(outer * inner, OBS_CHUNK);
    size_t obs = (size_t)(2 * ch + 2 * ch * (nchunks > 0 ? nchunks : 1)) * sizeof(float);
    size_t lsq = (size_t)(ch == 1 ? ceil_div(total, TT_FQ_CHUNK) : outer * ch) * sizeof(double);
    return obs > lsq ? obs : lsq;
}

static size_t fq_host(const tt_node *n, const tt_tensor *const *in, const tt_tensor *out)
{
    (void)n, (void)out;
    return 6 * (size_t)in[TT_FQ_SCALE]->shape.dims[0] * sizeof(float);
}

/* The channel's scale as the CPU quantises with it (fq_scale). */
static float fq_scale(float s, bool learnable)
{
    return learnable && !(s >= FLT_EPSILON) && !isnan(s) ? FLT_EPSILON : s;
}

/* The host's view of one node's per-channel state. */
typedef struct fq_host_state {
    float *bmin, *bmax, *rmin, *rmax, *scale, *zp;
} fq_host_state;

static fq_host_state fq_state(tt_dop_ctx *c, int64_t ch)
{
    float *h = c->host;
    return (fq_host_state){h, h + ch, h + 2 * ch, h + 3 * ch, h + 4 * ch, h + 5 * ch};
}

static tt_status fq_read_qparams(tt_dop_ctx *c, const fq_host_state *h, int64_t ch)
{
    TT_CHECK(rd(c, c->x[TT_FQ_SCALE], 0, h->scale, (size_t)ch * sizeof(float)));
    return rd(c, c->x[TT_FQ_ZP], 0, h->zp, (size_t)ch * sizeof(float));
}

static tt_status fq_write_qparams(tt_dop_ctx *c, const fq_host_state *h, int64_t ch)
{
    TT_CHECK(wr(c, c->x[TT_FQ_SCALE], 0, h->scale, (size_t)ch * sizeof(float)));
    return wr(c, c->x[TT_FQ_ZP], 0, h->zp, (size_t)ch * sizeof(float));
}

/* The batch range per channel on the device, into h->bmin / h->bmax. */
static tt_status fq_batch_range(tt_dop_ctx *c, int64_t outer, int64_t ch, int64_t inner,
                                const fq_host_state *h)
{
    int64_t len = outer * inner, nchunks = ceil_div(len, OBS_CHUNK);
    if (nchunks < 1) nchunks = 1;
    TT_CHECK(fits("FakeQuant X", c->x[TT_FQ_X], outer * ch * inner, sizeof(float)));
    TT_CHECK(fits("FakeQuant scratch", c->scratch, 2 * ch + 2 * ch * nchunks, sizeof(float)));
    TT_CHECK(TT_DEV_LAUNCH(c->dev, "tt_qat_minmax_part", ch * nchunks, TT_KBUF(c->x[TT_FQ_X]),
                           TT_KBUF(c->scratch), TT_KI64(ch), TT_KI64(inner), TT_KI64(len),
                           TT_KI64(OBS_CHUNK), TT_KI64(nchunks)));
    TT_CHECK(TT_DEV_LAUNCH(c->dev, "tt_qat_minmax_final", ch, TT_KBUF(c->scratch), TT_KI64(ch),
                           TT_KI64(nchunks)));
    return rd(c, c->scratch, 0, h->bmin, 2 * (size_t)ch * sizeof(float)); /* bmax follows */
}

/* fq_observe: the batch range folded into min / max, then scale / zero_point rewritten from
 * it, leaving the parameters as the CPU leaves them when it fails half way. */
static tt_status fq_observe(tt_dop_ctx *c, const tt_fq_attrs *a, int64_t outer, int64_t ch,
                            int64_t inner, const fq_host_state *h)
{
    const tt_node *n = c->node;
    size_t bytes = (size_t)ch * sizeof(float);
    TT_CHECK(fq_batch_range(c, outer, ch, inner, h));
    /* Refuse before touching the running state, so a bad batch leaves it usable. */
    for (int64_t k = 0; k < ch; k++)
        if (h->bmin[k] <= h->bmax[k] && (!isfinite(h->bmin[k]) || !isfinite(h->bmax[k])))
            return tt_fail(TT_ERR_NUMERIC,
                           "node '%s' (FakeQuant): the input's range%s is (%g, %g); Inf "
                           "values cannot be quantised (the model is diverging or the data "
                           "has Inf)",
                           n->name, ch > 1 ? " in a channel" : "", (double)h->bmin[k],
                           (double)h->bmax[k]);
    TT_CHECK(rd(c, c->x[TT_FQ_MIN], 0, h->rmin, bytes));
    TT_CHECK(rd(c, c->x[TT_FQ_MAX], 0, h->rmax, bytes));
    TT_CHECK(fq_read_qparams(c, h, ch));
    tt_observer_update((tt_observer_kind)a->observer, a->avg_c, h->bmin, h->bmax, h->rmin, h->rmax,
                       ch);
    TT_CHECK(wr(c, c->x[TT_FQ_MIN], 0, h->rmin, bytes));
    TT_CHECK(wr(c, c->x[TT_FQ_MAX], 0, h->rmax, bytes));
    tt_status st = TT_OK;
    for (int64_t k = 0; k < ch && st == TT_OK; k++) {
        if (!(h->rmin[k] <= h->rmax[k])) continue; /* still nothing observed (all NaN) */
        float s;
        int32_t z;
        st = tt_quant_compute_scale_zp(h->rmin[k], h->rmax[k], (int32_t)a->qmin, (int32_t)a->qmax,
                                       a->symmetric, &s, &z);
        if (st != TT_OK) {
            char why[256];
            snprintf(why, sizeof why, "%s", tt_last_error());
            st = tt_fail(st, "node '%s' (FakeQuant), channel %lld: %s", n->name, (long long)k, why);
            break;
        }
        h->scale[k] = s;
        h->zp[k] = (float)z;
    }
    TT_CHECK(fq_write_qparams(c, h, ch));
    return st;
}

/* fq_check_qparams on the host copies; a training forward of a learned scale writes the clamped
 * scale back (also for the channels before a failing one, as the CPU does). *clamped tells
 * whether the scale quantised with differs from the stored one (an eval forward of LSQ). */
static tt_status fq_check_qparams(tt_dop_ctx *c, const tt_fq_attrs *a, int64_t ch,
                                  const fq_host_state *h, bool *clamped)
{
    const tt_node *n = c->node;
    tt_status st = TT_OK;
    bool changed = false;
    *clamped = false;
    for (int64_t k = 0; k < ch; k++) {
        float s = fq_scale(h->scale[k], a->learnable);
        if (!(s > 0.0f) || !isfinite(s)) {
            st = tt_fail(TT_ERR_NUMERIC,
                         "node '%s' (FakeQuant): scale[%lld] = %g is not a positive finite "
                         "number; run a training forward with observe=1 to set it%s",
                         n->name, (long long)k, (double)h->scale[k],
                         a->learnable ? ", or lower the learning rate of the learned scale" : "");
            break;
        }
        if (memcmp(&s, &h->scale[k], sizeof s)) {
            if (c->training && a->learnable) changed = true;
            *clamped = true;
        }
        if (c->training && a->learnable) h->scale[k] = s;
        float z = h->zp[k];
        if (!(z >= (float)a->qmin && z <= (float)a->qmax) || z != floorf(z)) {
            st = tt_fail(TT_ERR_NUMERIC,
                         "node '%s' (FakeQuant): zero_point[%lld] = %g is not an integer in "
                         "[%lld, %lld]",
                         n->name, (long long)k, (double)z, (long long)a->qmin, (long long)a->qmax);
            break;
        }
    }
    if (changed) TT_CHECK(wr(c, c->x[TT_FQ_SCALE], 0, h->scale, (size_t)ch * sizeof(float)));
    return st;
}

static tt_status fq_forward(tt_dop_ctx *c)
{
    tt_fq_attrs a = tt_fq_get_attrs(c->node);
    int64_t outer, ch, inner;
    tt_fq_layout(c->in[TT_FQ_X], a.axis, &outer, &ch, &inner);
    int64_t total = outer * ch * inner;
    fq_host_state h = fq_state(c, ch);
    bool observed = c->training && a.observe;
    if (observed) TT_CHECK(fq_observe(c, &a, outer, ch, inner, &h));
    uint8_t flag = (uint8_t)a.enabled;
    TT_CHECK(wr(c, c->saved, (size_t)total, &flag, 1));
    if (!a.enabled) {
        TT_CHECK(fits("FakeQuant X", c->x[TT_FQ_X], total, sizeof(float)));
        TT_CHECK(fits("FakeQuant Y", c->y[0], total, sizeof(float)));
        return total ? c->dev->ops->copy(c->dev, c->y[0], 0, c->x[TT_FQ_X], 0,
                                         (size_t)total * sizeof(float))
                     : TT_OK;
    }
    if (!observed) TT_CHECK(fq_read_qparams(c, &h, ch));
    bool clamped;
    TT_CHECK(fq_check_qparams(c, &a, ch, &h, &clamped));
    const tt_dbuf *scale = c->x[TT_FQ_SCALE];
    if (clamped && !c->training) { /* an eval forward quantises with the clamp, stores nothing */
        for (int64_t k = 0; k < ch; k++) h.scale[k] = fq_scale(h.scale[k], true);
        TT_CHECK(wr(c, c->scratch, 0, h.scale, (size_t)ch * sizeof(float)));
        scale = c->scratch;
    }
    tt_dev_fq f = {.n = total,
                   .channels = ch,
                   .inner = inner,
                   .x = c->x[TT_FQ_X],
                   .scale = scale,
                   .zero_point = c->x[TT_FQ_ZP],
                   .y = c->y[0],
                   .code = c->saved,
                   .qmin = (float)a.qmin,
                   .qmax = (float)a.qmax};
    return tt_dev_fq_forward_kernel(c->dev, &f);
}

/* fq_lsq_backward: partial double sums per CPU chunk (per tensor) or row (per channel), then
 * per channel ds += (float)(sum * g), g = 1 / sqrt(numel(X) * qmax) as the CPU forms it. */
static tt_status fq_lsq_backward(tt_dop_ctx *c, const tt_fq_attrs *a, int64_t outer, int64_t ch,
                                 int64_t inner)
{
    int64_t total = outer * ch * inner;
    int64_t run = ch == 1 ? TT_FQ_CHUNK : inner;
    int64_t nparts = ch == 1 ? ceil_div(total, TT_FQ_CHUNK) : outer * ch;
    double g = 1.0 / sqrt((double)total * (double)(a->qmax > 1 ? a->qmax : 1));
    int64_t g_bits;
    memcpy(&g_bits, &g, sizeof g_bits);
    TT_CHECK(fits("FakeQuant X", c->x[TT_FQ_X], total, sizeof(float)));
    TT_CHECK(fits("FakeQuant dY", c->dy[0], total, sizeof(float)));
    TT_CHECK(fits("FakeQuant codes", c->saved, total, 1));
    TT_CHECK(fits("FakeQuant scale", c->x[TT_FQ_SCALE], ch, sizeof(float)));
    TT_CHECK(fits("FakeQuant zero_point", c->x[TT_FQ_ZP], ch, sizeof(float)));
    TT_CHECK(fits("FakeQuant dscale", c->dx[TT_FQ_SCALE], ch, sizeof(float)));
    TT_CHECK(fits("FakeQuant scratch", c->scratch, nparts, sizeof(double)));
    TT_CHECK(TT_DEV_LAUNCH(c->dev, "tt_qat_lsq_part", nparts, TT_KBUF(c->x[TT_FQ_X]),
                           TT_KBUF(c->dy[0]), TT_KBUF(c->saved), TT_KBUF(c->x[TT_FQ_SCALE]),
                           TT_KBUF(c->x[TT_FQ_ZP]), TT_KBUF(c->scratch), TT_KI64(total),
                           TT_KI64(run), TT_KI64(ch), TT_KI64(nparts), TT_KF32((float)a->qmin),
                           TT_KF32((float)a->qmax)));
    return TT_DEV_LAUNCH(c->dev, "tt_qat_lsq_final", ch, TT_KBUF(c->scratch),
                         TT_KBUF(c->dx[TT_FQ_SCALE]), TT_KI64(ch), TT_KI64(nparts / ch),
                         TT_KI64(g_bits), TT_KF32((float)g));
}

static tt_status fq_backward(tt_dop_ctx *c)
{
    tt_fq_attrs a = tt_fq_get_attrs(c->node);
    int64_t outer, ch, inner;
    tt_fq_layout(c->in[TT_FQ_X], a.axis, &outer, &ch, &inner);
    int64_t total = outer * ch * inner;
    uint8_t flag;
    TT_CHECK(rd(c, c->saved, (size_t)total, &flag, 1));
    bool enabled = flag != 0; /* as the forward ran, even if the attribute changed since */
    if (c->dx[TT_FQ_X]) {
        if (!enabled) {
            TT_CHECK(tt_dop_accumulate(c->dev, c->dx[TT_FQ_X], c->dy[0], total));
        } else {
            tt_dev_fq_bwd b = {total, c->dy[0], c->saved, c->dx[TT_FQ_X]};
            TT_CHECK(tt_dev_fq_backward_kernel(c->dev, &b));
        }
    }
    if (c->dx[TT_FQ_SCALE] && a.learnable && enabled)
        TT_CHECK(fq_lsq_backward(c, &a, outer, ch, inner));
    return TT_OK;
}

/* ---- BnFoldWeight, BnUnfold (autograd/ops/bn_fold.c) ---- */

enum { BF_X = 0, BF_GAMMA, BF_VAR };

static void bf_dims(const tt_tensor *x, int axis, int64_t *outer, int64_t *ch, int64_t *inner)
{
    *outer = 1;
    *inner = 1;
    *ch = x->shape.dims[axis];
    for (int i = 0; i < axis; i++) *outer *= x->shape.dims[i];
    for (int i = axis + 1; i < x->shape.ndim; i++) *inner *= x->shape.dims[i];
}

/* Device: the multipliers; host: gamma, running_var and the multipliers. */
static size_t bf_scratch(const tt_node *n, const tt_tensor *const *in, const tt_tensor *out)
{
    (void)n, (void)out;
    return (size_t)in[BF_GAMMA]->shape.dims[0] * sizeof(float);
}

static size_t bf_host(const tt_node *n, const tt_tensor *const *in, const tt_tensor *out)
{
    (void)n, (void)out;
    return 3 * (size_t)in[BF_GAMMA]->shape.dims[0] * sizeof(float);
}

/* tt_bn_fold_factors' checks and the per-channel multiplier (f, or 1 / f to unfold) on the host,
 * from the device's current gamma and running_var, written to the device scratch. */
static tt_status bf_mult(tt_dop_ctx *c, int64_t ch, bool unfold)
{
    float *g = c->host, *v = g + ch, *mult = v + ch;
    TT_CHECK(rd(c, c->x[BF_GAMMA], 0, g, (size_t)ch * sizeof(float)));
    TT_CHECK(rd(c, c->x[BF_VAR], 0, v, (size_t)ch * sizeof(float)));
    TT_CHECK(tt_bn_fold_factors(c->node, g, v, ch, unfold, NULL, mult)); /* the CPU op's */
    return wr(c, c->scratch, 0, mult, (size_t)ch * sizeof(float));
}

static tt_status bf_forward(tt_dop_ctx *c)
{
    bool unfold = c->node->op == TT_OP_BN_UNFOLD;
    int64_t outer, ch, inner;
    bf_dims(c->in[BF_X], unfold ? 1 : 0, &outer, &ch, &inner);
    int64_t n = outer * ch * inner;
    TT_CHECK(bf_mult(c, ch, unfold));
    TT_CHECK(fits("BN folding X", c->x[BF_X], n, sizeof(float)));
    TT_CHECK(fits("BN folding Y", c->y[0], n, sizeof(float)));
    return TT_DEV_LAUNCH(c->dev, "tt_qat_scale_ch", n, TT_KBUF(c->x[BF_X]), TT_KBUF(c->scratch),
                         TT_KBUF(c->y[0]), TT_KI64(n), TT_KI64(ch), TT_KI64(inner));
}

/* dX += dY * mult, dgamma += (sum dY X) * d mult / d gamma, with the running_var of now (a
 * BatchNorm after BnUnfold has updated it since the forward, as on the CPU). */
static tt_status bf_backward(tt_dop_ctx *c)
{
    bool unfold = c->node->op == TT_OP_BN_UNFOLD;
    int64_t outer, ch, inner;
    bf_dims(c->in[BF_X], unfold ? 1 : 0, &outer, &ch, &inner);
    int64_t n = outer * ch * inner;
    TT_CHECK(bf_mult(c, ch, unfold));
    TT_CHECK(fits("BN folding dY", c->dy[0], n, sizeof(float)));
    if (c->dx[BF_X]) {
        TT_CHECK(fits("BN folding dX", c->dx[BF_X], n, sizeof(float)));
        TT_CHECK(TT_DEV_LAUNCH(c->dev, "tt_qat_bnf_dx", n, TT_KBUF(c->dy[0]), TT_KBUF(c->scratch),
                               TT_KBUF(c->dx[BF_X]), TT_KI64(n), TT_KI64(ch), TT_KI64(inner)));
    }
    if (!c->dx[BF_GAMMA]) return TT_OK;
    TT_CHECK(fits("BN folding X", c->x[BF_X], n, sizeof(float)));
    TT_CHECK(fits("BN folding dgamma", c->dx[BF_GAMMA], ch, sizeof(float)));
    float eps = tt_node_attr_float(c->node, "epsilon", 1e-5f);
    return TT_DEV_LAUNCH(c->dev, "tt_qat_bnf_dgamma", ch, TT_KBUF(c->x[BF_X]), TT_KBUF(c->dy[0]),
                         TT_KBUF(c->x[BF_GAMMA]), TT_KBUF(c->x[BF_VAR]), TT_KBUF(c->dx[BF_GAMMA]),
                         TT_KI64(outer), TT_KI64(ch), TT_KI64(inner), TT_KF32(eps),
                         TT_KI32(unfold));
}

/* ---- BiasFakeQuant (autograd/ops/bias_quant.c): a few values, rounded on the host ---- */

enum { BQ_B = 0, BQ_XS, BQ_WS };

static size_t bq_host(const tt_node *n, const tt_tensor *const *in, const tt_tensor *out)
{
    (void)n, (void)out;
    return (4 * (size_t)in[BQ_B]->shape.dims[0] + 1) * sizeof(float); /* b, ws, q, y; xs */
}

static tt_status bq_forward(tt_dop_ctx *c)
{
    int64_t n = c->in[BQ_B]->shape.dims[0], nws = c->in[BQ_WS]->shape.dims[0];
    size_t bytes = (size_t)n * sizeof(float);
    if (!tt_node_attr_int(c->node, "enabled", 1)) {
        TT_CHECK(fits("BiasFakeQuant bias", c->x[BQ_B], n, sizeof(float)));
        TT_CHECK(fits("BiasFakeQuant Y", c->y[0], n, sizeof(float)));
        return c->dev->ops->copy(c->dev, c->y[0], 0, c->x[BQ_B], 0, bytes);
    }
    float *b = c->host, *ws = b + n, *y = ws + n, *xs = y + n;
    int32_t *q = (int32_t *)(xs + 1);
    TT_CHECK(rd(c, c->x[BQ_B], 0, b, bytes));
    TT_CHECK(rd(c, c->x[BQ_XS], 0, xs, sizeof(float)));
    TT_CHECK(rd(c, c->x[BQ_WS], 0, ws, (size_t)nws * sizeof(float)));
    if (tt_quantize_bias(b, n, *xs, ws, nws, q) != TT_OK) {
        char why[512];
        snprintf(why, sizeof why, "%s", tt_last_error());
        return tt_fail(TT_ERR_NUMERIC, "node '%s' (BiasFakeQuant): %s", c->node->name, why);
    }
    for (int64_t k = 0; k < n; k++)
        y[k] = (float)q[k] * tt_quant_bias_scale(*xs, ws[nws == 1 ? 0 : k]);
    return wr(c, c->y[0], 0, y, bytes);
}

/* Straight through to the bias; nothing to the scales. */
static tt_status bq_backward(tt_dop_ctx *c)
{
    if (!c->dx[BQ_B]) return TT_OK;
    return tt_dop_accumulate(c->dev, c->dx[BQ_B], c->dy[0], c->in[BQ_B]->shape.dims[0]);
}

static const tt_dop_def fake_quant = {.forward = fq_forward,
                                      .backward = fq_backward,
                                      .saved_size = fq_saved,
                                      .scratch_size = fq_scratch,
                                      .host_size = fq_host};
static const tt_dop_def bn_fold = {.forward = bf_forward,
                                   .backward = bf_backward,
                                   .scratch_size = bf_scratch,
                                   .host_size = bf_host};
static const tt_dop_def bias_quant = {
    .forward = bq_forward, .backward = bq_backward, .host_size = bq_host};

const tt_dop_def *tt_dops_qat(tt_op_type op)
{
    switch (op) {
    case TT_OP_FAKEQUANT:
        return &fake_quant;
    case TT_OP_BN_FOLD_WEIGHT:
    case TT_OP_BN_UNFOLD:
        return &bn_fold;
    case TT_OP_BIAS_QUANT:
        return &bias_quant;
    default:
        return NULL;
    }
}
