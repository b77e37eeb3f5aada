/* Device ops of the conv group: Conv, MaxPool (float32, uint8, int8), AveragePool and
 * GlobalAveragePool, forward and backward (kernels/shared/k_conv.h holds their kernels; the
 * CPU ops of autograd/ops are the oracles).
 *
 * Conv follows autograd/ops/conv.c: the batch in chunks of whole images, per chunk one im2col
 * of all input channels into the scratch buffer and one GEMM launch over every group, output
 * channel and column, writing NCHW with the bias. Backward recomputes im2col (as the CPU does,
 * rather than keeping kH*kW times the input per layer) for dW = dY col^T, summed in per-split
 * partials and reduced in order; dX = col2im(W^T dY) is one gathering kernel that needs no
 * col. Every sum runs in a fixed order, so results are deterministic; they differ from
 * OpenBLAS's blocked sums by rounding only (see the test for the tolerance). */
#include <stdint.h>
#include "autograd/internal.h"
#include "autograd/window.h"
#include "kernels/shared/dev_op.h"

/* Budget for one chunk's col matrix on the device. Whole-batch chunks need the fewest launches
 * (fashion_cnn's largest col at batch 128 is 29 MB); the cap keeps large images from asking
 * for gigabytes of scratch. */
#define TT_DCONV_CHUNK_BYTES ((int64_t)64 << 20)
/* Products a weight-gradient thread sums before its partial is written (images per split =
 * this / pixels per image, at least 1): enough threads for small M*K without many partials. */
#define TT_DCONV_SPLIT_TERMS 1024
/* The same for the bias gradient's partials. */
#define TT_DCONV_BIAS_TERMS 4096
#define TT_DCONV_TILE       4 /* TT_CONV_TILE of k_conv.h */

typedef struct conv_plan {
    tt_window2d a;
    int64_t group, n, c, h, w, m, oh, ow;
    int64_t mg, k, ck, p; /* out channels per group, K = C/g*kh*kw, C*kh*kw, P = oh*ow */
    int64_t nc;           /* images per chunk */
    int64_t ipb, ipb_b;   /* images per weight / bias gradient split */
    int64_t col_elems, part_elems;
} conv_plan;

static int64_t div_up(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

static int64_t clamp_images(int64_t v, int64_t n)
{
    if (v < 1) v = 1;
    return v < n ? v : n;
}

/* The node's window and group (infer has validated them on the CPU plan) and the sizes. */
static tt_status conv_plan_make(const tt_node *nd, const tt_tensor *x, const tt_tensor *w,
                                const tt_tensor *y, conv_plan *p)
{
    const int64_t *wd = w->shape.dims;
    TT_CHECK(tt_window_read(nd, "Conv", "a 2-D convolution", wd + 2, &p->a));
    p->group = tt_node_attr_int(nd, "group", 1);
    p->n = x->shape.dims[0];
    p->c = x->shape.dims[1];
    p->h = x->shape.dims[2];
    p->w = x->shape.dims[3];
    p->m = wd[0];
    p->oh = y->shape.dims[2];
    p->ow = y->shape.dims[3];
    if (p->group < 1 || p->c % p->group || p->m % p->group)
        return tt_fail(TT_ERR_SHAPE, "node '%s' (Conv): group %lld does not divide the channels",
                       nd->name, (long long)p->group);
    p->mg = p->m / p->group;
    p->k = wd[1] * p->a.kh * p->a.kw;
    p->ck = p->c * p->a.kh * p->a.kw;
    p->p = p->oh * p->ow;
    /* The kernels split their indices in 32 bits (k_conv.h, TT_CONV_U32): a chunk's col, dX
     * and GEMM launches stay under 2^31 elements or threads. */
    int64_t lim = INT32_MAX, chw = p->c * p->h * p->w;
    if (p->ck * p->p > lim || chw > lim)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "node '%s': Conv with over 2^31 im2col or input elements per image has no "
                       "device kernel yet; use --backend cpu",
                       nd->name);
    /* Threads per image of the GEMM launches (dX's are at most c*h*w): under 2^31 per chunk
     * too. */
    int64_t tm = p->group * div_up(p->mg, TT_DCONV_TILE), per = tm * p->p;
    if (tm * div_up(p->k, 2) > per) per = tm * div_up(p->k, 2);
    if (per > lim)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "node '%s': Conv needing over 2^31 GEMM threads per image has no device "
                       "kernel yet; use --backend cpu",
                       nd->name);
    int64_t nc = TT_DCONV_CHUNK_BYTES / (p->ck * p->p * (int64_t)sizeof(float));
    if (nc > lim / chw) nc = lim / chw;
    p->nc = clamp_images(nc < lim / per ? nc : lim / per, p->n);
    p->ipb = clamp_images(TT_DCONV_SPLIT_TERMS / (p->p ? p->p : 1), p->nc);
    p->ipb_b = clamp_images(TT_DCONV_BIAS_TERMS / (p->p ? p->p : 1), p->n);
    p->col_elems = p->ck * (div_up(p->nc * p->p, 2) * 2); /* rows padded to even (k_conv.h) */
    int64_t pw = div_up(p->nc, p->ipb) * p->m * p->k, pb = div_up(p->n, p->ipb_b) * p->m;
    p->part_elems = pw > pb ? pw : pb;
    return TT_OK;
}

static size_t conv_scratch(const tt_node *nd, const tt_tensor *const *in, const tt_tensor *out)
{
    conv_plan p;
    if (conv_plan_make(nd, in[0], in[1], out, &p) != TT_OK) return 0;
    return (size_t)(p.col_elems + p.part_elems) * sizeof(float);
}

static tt_status conv_check_scratch(const tt_dop_ctx *c, const conv_plan *p)
{
    size_t need = (size_t)(p->col_elems + p->part_elems) * sizeof(float);
    return tt_dev_check_range("Conv scratch", c->scratch, 0, need);
}

/* im2col of images [i0, i0 + n) into the start of the scratch buffer. */
static tt_status conv_im2col(tt_dop_ctx *c, const conv_plan *p, int64_t i0, int64_t n)
{
    const tt_window2d *a = &p->a;
    return TT_DEV_LAUNCH(
        c->dev, "tt_conv_im2col", p->ck * div_up(n * p->p, 2) * 2, TT_KBUF(c->x[0]),
        TT_KBUF(c->scratch), TT_KI64(i0), TT_KI64(n), TT_KI64(p->c), TT_KI64(p->h), TT_KI64(p->w),
        TT_KI64(a->kh), TT_KI64(a->kw), TT_KI64(a->sh), TT_KI64(a->sw), TT_KI64(a->pt),
        TT_KI64(a->pl), TT_KI64(a->dh), TT_KI64(a->dw), TT_KI64(p->oh), TT_KI64(p->ow));
}

static tt_status conv_forward(tt_dop_ctx *c)
{
    conv_plan p;
    TT_CHECK(conv_plan_make(c->node, c->in[0], c->in[1], c->out[0], &p));
    TT_CHECK(conv_check_scratch(c, &p));
    int64_t tiles = p.group * div_up(p.mg, TT_DCONV_TILE);
    for (int64_t i0 = 0; i0 < p.n; i0 += p.nc) {
        int64_t n = p.n - i0 < p.nc ? p.n - i0 : p.nc;
        TT_CHECK(conv_im2col(c, &p, i0, n));
        TT_CHECK(TT_DEV_LAUNCH(c->dev, "tt_conv_gemm_fwd", tiles * div_up(n * p.p, 2),
                               TT_KBUF(c->x[1]), TT_KBUF(c->scratch), TT_KBUF(c->x[2]),
                               TT_KI32(c->x[2] != NULL), TT_KBUF(c->y[0]), TT_KI64(i0), TT_KI64(n),
                               TT_KI64(p.m), TT_KI64(p.mg), TT_KI64(p.k), TT_KI64(p.p),
                               TT_KI64(p.group)));
    }
    return TT_OK;
}

/* db += the sum of dY over images and pixels, in per-split partials reduced in order. */
static tt_status conv_bias_grad(tt_dop_ctx *c, const conv_plan *p)
{
    int64_t ns = div_up(p->n, p->ipb_b);
    TT_CHECK(TT_DEV_LAUNCH(c->dev, "tt_conv_bias_part", ns * p->m, TT_KBUF(c->dy[0]),
                           TT_KBUF(c->scratch), TT_KI64(p->col_elems), TT_KI64(p->n), TT_KI64(p->m),
                           TT_KI64(p->p), TT_KI64(p->ipb_b)));
    return TT_DEV_LAUNCH(c->dev, "tt_conv_reduce", p->m, TT_KBUF(c->scratch), TT_KI64(p->col_elems),
                         TT_KBUF(c->dx[2]), TT_KI64(ns), TT_KI64(p->m));
}

/* dW += dY col^T over images [i0, i0 + n), col already in the scratch buffer. */
static tt_status conv_weight_grad(tt_dop_ctx *c, const conv_plan *p, int64_t i0, int64_t n)
{
    int64_t ns = div_up(n, p->ipb), tiles = p->group * div_up(p->mg, TT_DCONV_TILE);
    TT_CHECK(TT_DEV_LAUNCH(c->dev, "tt_conv_gemm_dw", ns * tiles * div_up(p->k, 2),
                           TT_KBUF(c->dy[0]), TT_KBUF(c->scratch), TT_KBUF(c->scratch),
                           TT_KI64(p->col_elems), TT_KI64(i0), TT_KI64(n), TT_KI64(p->m),
                           TT_KI64(p->mg), TT_KI64(p->k), TT_KI64(p->p), TT_KI64(p->group),
                           TT_KI64(p->ipb)));
    return TT_DEV_LAUNCH(c->dev, "tt_conv_reduce", p->m * p->k, TT_KBUF(c->scratch),
                         TT_KI64(p->col_elems), TT_KBUF(c->dx[1]), TT_KI64(ns),
                         TT_KI64(p->m * p->k));
}

/* dX += col2im(W^T dY) over images [i0, i0 + n), in one gathering kernel. */
static tt_status conv_input_grad(tt_dop_ctx *c, const conv_plan *p, int64_t i0, int64_t n)
{
    const tt_window2d *a = &p->a;
    int64_t tiles = p->group * div_up(p->c / p->group, TT_DCONV_TILE);
    return TT_DEV_LAUNCH(c->dev, "tt_conv_dx_direct", n * tiles * p->h * p->w, TT_KBUF(c->x[1]),
                         TT_KBUF(c->dy[0]), TT_KBUF(c->dx[0]), TT_KI64(i0), TT_KI64(n),
                         TT_KI64(p->c), TT_KI64(p->h), TT_KI64(p->w), TT_KI64(p->m), TT_KI64(p->mg),
                         TT_KI64(p->group), TT_KI64(a->kh), TT_KI64(a->kw), TT_KI64(a->sh),
                         TT_KI64(a->sw), TT_KI64(a->pt), TT_KI64(a->pl), TT_KI64(a->dh),
                         TT_KI64(a->dw), TT_KI64(p->oh), TT_KI64(p->ow));
}

static tt_status conv_backward(tt_dop_ctx *c)
{
    conv_plan p;
    TT_CHECK(conv_plan_make(c->node, c->in[0], c->in[1], c->out[0], &p));
    TT_CHECK(conv_check_scratch(c, &p));
    if (c->dx[2]) TT_CHECK(conv_bias_grad(c, &p));
    if (!c->dx[0] && !c->dx[1]) return TT_OK;
    for (int64_t i0 = 0; i0 < p.n; i0 += p.nc) {
        int64_t n = p.n - i0 < p.nc ? p.n - i0 : p.nc;
        if (c->dx[1]) {
            TT_CHECK(conv_im2col(c, &p, i0, n));
            TT_CHECK(conv_weight_grad(c, &p, i0, n));
        }
        if (c->dx[0]) TT_CHECK(conv_input_grad(c, &p, i0, n));
    }
    return TT_OK;
}

/* ---- pooling ---- */

/* The CPU ops' attribute rules (autograd/ops/maxpool.c, avgpool.c), so the same nodes read
 * the same windows. */
static const tt_pool_spec maxpool_spec = {
    .op = "MaxPool", .ceil_hint = " with extra bottom/right padding", .int32_argmax = true};
static const tt_pool_spec avgpool_spec = {
    .op = "AveragePool", .ceil_hint = "", .count_include_pad = true};

/* A pool launch's geometry arguments after its leading ones: planes, h, w, oh, ow, then the
 * window. */
#define POOL_ARGS(d, a)                                                                            \
    TT_KI64((d).planes), TT_KI64((d).h), TT_KI64((d).w), TT_KI64((d).oh), TT_KI64((d).ow),         \
        TT_KI64((a).kh), TT_KI64((a).kw), TT_KI64((a).sh), TT_KI64((a).sw), TT_KI64((a).pt),       \
        TT_KI64((a).pl), TT_KI64((a).dh), TT_KI64((a).dw)

/* The pool kernels split their indices with 32-bit divisions (k_conv.h, tt_conv_split). */
static tt_status pool_check_size(const tt_dop_ctx *c, const char *op)
{
    if (tt_dop_numel(c->in[0]) <= INT32_MAX && tt_dop_numel(c->out[0]) <= INT32_MAX) return TT_OK;
    return tt_fail(TT_ERR_UNSUPPORTED,
                   "node '%s': %s over 2^31 elements has no device kernel yet; use --backend cpu",
                   c->node->name, op);
}

static size_t maxpool_saved(const tt_node *n, const tt_tensor *const *in, const tt_tensor *out)
{
    (void)n, (void)in;
    return (size_t)tt_tensor_numel(out) * sizeof(int32_t);
}

static tt_status maxpool_forward(tt_dop_ctx *c)
{
    tt_window2d a;
    TT_CHECK(tt_pool_read(c->node, &maxpool_spec, &a, NULL));
    TT_CHECK(pool_check_size(c, "MaxPool"));
    const tt_window_planes d = tt_window_planes_of(c->in[0], c->out[0]);
    int64_t n = d.planes * d.oh * d.ow;
    tt_dtype dt = c->in[0]->dtype;
    if (dt == TT_U8 || dt == TT_I8)
        return TT_DEV_LAUNCH(c->dev, "tt_conv_maxpool_fwd_q", n, TT_KBUF(c->x[0]), TT_KBUF(c->y[0]),
                             TT_KI32(dt == TT_I8 ? 0x80 : 0), POOL_ARGS(d, a));
    /* Training saves each window's argmax for the backward, as the CPU does. */
    bool arg = c->training;
    if (arg) TT_CHECK(tt_dev_check_range("MaxPool argmax", c->saved, 0, (size_t)n * 4));
    return TT_DEV_LAUNCH(c->dev, "tt_conv_maxpool_fwd", n, TT_KBUF(c->x[0]), TT_KBUF(c->y[0]),
                         TT_KBUF(arg ? c->saved : NULL), TT_KI32(arg), POOL_ARGS(d, a));
}

static tt_status maxpool_backward(tt_dop_ctx *c)
{
    if (!c->dx[0]) return TT_OK;
    tt_window2d a;
    TT_CHECK(tt_pool_read(c->node, &maxpool_spec, &a, NULL));
    TT_CHECK(pool_check_size(c, "MaxPool"));
    const tt_window_planes d = tt_window_planes_of(c->in[0], c->out[0]);
    TT_CHECK(tt_dev_check_range("MaxPool argmax", c->saved, 0,
                                (size_t)(d.planes * d.oh * d.ow) * sizeof(int32_t)));
    return TT_DEV_LAUNCH(c->dev, "tt_conv_maxpool_bwd", d.planes * d.h * d.w, TT_KBUF(c->dy[0]),
                         TT_KBUF(c->saved), TT_KBUF(c->dx[0]), POOL_ARGS(d, a));
}

static tt_status avgpool_forward(tt_dop_ctx *c)
{
    tt_window2d a;
    bool include_pad;
    TT_CHECK(tt_pool_read(c->node, &avgpool_spec, &a, &include_pad));
    TT_CHECK(pool_check_size(c, "AveragePool"));
    const tt_window_planes d = tt_window_planes_of(c->in[0], c->out[0]);
    return TT_DEV_LAUNCH(c->dev, "tt_conv_avgpool_fwd", d.planes * d.oh * d.ow, TT_KBUF(c->x[0]),
                         TT_KBUF(c->y[0]), TT_KI32(include_pad), POOL_ARGS(d, a));
}

static tt_status avgpool_backward(tt_dop_ctx *c)
{
    if (!c->dx[0]) return TT_OK;
    tt_window2d a;
    bool include_pad;
    TT_CHECK(tt_pool_read(c->node, &avgpool_spec, &a, &include_pad));
    TT_CHECK(pool_check_size(c, "AveragePool"));
    const tt_window_planes d = tt_window_planes_of(c->in[0], c->out[0]);
    return TT_DEV_LAUNCH(c->dev, "tt_conv_avgpool_bwd", d.planes * d.h * d.w, TT_KBUF(c->dy[0]),
                         TT_KBUF(c->dx[0]), TT_KI32(include_pad), POOL_ARGS(d, a));
}

/* Planes and elements per plane of GlobalAveragePool's [N, C, spatial...] input. */
static void gap_geom(const tt_dop_ctx *c, int64_t *planes, int64_t *hw)
{
    const tt_shape *s = &c->in[0]->shape;
    *planes = s->dims[0] * s->dims[1];
    *hw = 1;
    for (int i = 2; i < s->ndim; i++) *hw *= s->dims[i];
}

static tt_status gap_forward(tt_dop_ctx *c)
{
    int64_t planes, hw;
    TT_CHECK(pool_check_size(c, "GlobalAveragePool"));
    gap_geom(c, &planes, &hw);
    float inv = 1.0f / (float)hw; /* rounded as autograd/ops/globalavgpool.c rounds it */
    return TT_DEV_LAUNCH(c->dev, "tt_conv_gap_fwd", planes, TT_KBUF(c->x[0]), TT_KBUF(c->y[0]),
                         TT_KI64(planes), TT_KI64(hw), TT_KF32(inv));
}

static tt_status gap_backward(tt_dop_ctx *c)
{
    if (!c->dx[0]) return TT_OK;
    int64_t planes, hw;
    TT_CHECK(pool_check_size(c, "GlobalAveragePool"));
    gap_geom(c, &planes, &hw);
    float inv = 1.0f / (float)hw;
    return TT_DEV_LAUNCH(c->dev, "tt_conv_gap_bwd", planes * hw, TT_KBUF(c->dy[0]),
                         TT_KBUF(c->dx[0]), TT_KI64(planes), TT_KI64(hw), TT_KF32(inv));
}

static const tt_dop_def conv = {
    .forward = conv_forward, .backward = conv_backward, .scratch_size = conv_scratch};
static const tt_dop_def maxpool = {
    .forward = maxpool_forward, .backward = maxpool_backward, .saved_size = maxpool_saved};
static const tt_dop_def avgpool = {.forward = avgpool_forward, .backward = avgpool_backward};
static const tt_dop_def gap = {.forward = gap_forward, .backward = gap_backward};

const tt_dop_def *tt_dops_conv(tt_op_type op)
{
    switch (op) {
    case TT_OP_CONV:
        return &conv;
    case TT_OP_MAXPOOL:
        return &maxpool;
    case TT_OP_AVGPOOL:
        return &avgpool;
    case TT_OP_GLOBALAVGPOOL:
        return &gap;
    default:
        return NULL;
    }
}
