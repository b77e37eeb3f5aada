/* Conv (ONNX semantics, NCHW float32): Y[N,M,OH,OW] = X[N,C,H,W] * W[M,C/group,kH,kW] + B[M].
 *
 * General path: the batch is cut into chunks of whole images (see TT_CONV_CHUNK_BYTES); per
 * chunk and group, im2col of all the chunk's images into one column matrix
 * col[C/g*kH*kW, n*OH*OW] (image i at column i*OH*OW), then a single GEMM
 * W_g[M/g, K] x col -> [M/g, n*OH*OW], scattered into NCHW with the bias. Batching images into
 * one GEMM keeps OpenBLAS efficient where per-image GEMMs on small feature maps are not.
 * Backward: dW_g += dY_g col^T and dcol = W_g^T dY_g, col2im'd into dX. It recomputes im2col
 * instead of keeping col from forward in ctx->saved: col is kH*kW times the input, which would
 * multiply the training memory of every conv layer (9x its input for 3x3), while im2col is a
 * memory-bound pass that costs a fraction of the GEMMs.
 *
 * Depthwise (group == C): each output plane reads one input plane, so the GEMMs would have a
 * single row; direct loops are faster (measured: 2x forward and backward) and need no scratch. */
#include <string.h>
#include "autograd/internal.h"
#include "autograd/op.h"
#include "autograd/window.h"

/* Budget for one chunk's col matrix. The batch is processed in chunks of whole images whose col
 * fits this budget, so col stays in cache between im2col and the GEMM that reads it. Measured on
 * a 2-core Zen 3 at batch 128 (fwd+bwd per layer, single thread): a 2 MiB budget beat one
 * whole-batch GEMM by 10-40% on 3x3 layers from 1 to 128 channels, and cut the scratch buffer
 * 3-6x; the GEMMs stay wide (hundreds to thousands of columns). Define it larger to get one GEMM
 * per group over the whole batch. */
#ifndef TT_CONV_CHUNK_BYTES
#define TT_CONV_CHUNK_BYTES ((int64_t)2 << 20)
#endif

/* The window from the attributes, its kernel defaulting to (and checked against) the weight's
 * [M, C/group, kH, kW] dims wd. */
static tt_status conv_read_attrs(const tt_node *n, const int64_t *wd, tt_window2d *a,
                                 int64_t *group)
{
    TT_CHECK(tt_window_read(n, "Conv", "a 2-D convolution", wd + 2, a));
    if (a->kh != wd[2] || a->kw != wd[3])
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (Conv): attribute kernel_shape [%lld, %lld] disagrees with the "
                       "weight's kernel %lld x %lld; drop the attribute or fix the weight",
                       n->name, (long long)a->kh, (long long)a->kw, (long long)wd[2],
                       (long long)wd[3]);
    *group = tt_node_attr_int(n, "group", 1);
    if (*group < 1)
        return tt_fail(TT_ERR_INVALID_ARG, "node '%s' (Conv): group %lld must be at least 1",
                       n->name, (long long)*group);
    return TT_OK;
}

static tt_status conv_infer(const tt_node *n, const tt_tensor *const *in, tt_tensor *out)
{
    TT_CHECK(tt_op_expect_dtype(n, in[0], 0, TT_F32));
    TT_CHECK(tt_op_expect_dtype(n, in[1], 1, TT_F32));
    TT_CHECK(tt_op_expect_ndim(n, in[0], 0, 4, 4));
    TT_CHECK(tt_op_expect_ndim(n, in[1], 1, 4, 4));
    TT_CHECK(tt_window_check_input(n, "Conv", &in[0]->shape));
    const int64_t *x = in[0]->shape.dims, *w = in[1]->shape.dims;
    char xs[64], ws[64];
    if (w[0] < 1 || w[1] < 1 || w[2] < 1 || w[3] < 1)
        return tt_fail(TT_ERR_SHAPE, "node '%s' (Conv): weight shape %s has a non-positive dim",
                       n->name, tt_shape_str(&in[1]->shape, ws, sizeof ws));
    tt_window2d a;
    int64_t group;
    TT_CHECK(conv_read_attrs(n, w, &a, &group));
    int64_t c = x[1], m = w[0];
    if (c % group != 0)
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (Conv): group %lld does not divide the %lld input channels of "
                       "%s",
                       n->name, (long long)group, (long long)c,
                       tt_shape_str(&in[0]->shape, xs, sizeof xs));
    if (m % group != 0)
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (Conv): group %lld does not divide the %lld output channels of "
                       "weight %s",
                       n->name, (long long)group, (long long)m,
                       tt_shape_str(&in[1]->shape, ws, sizeof ws));
    if (w[1] != c / group)
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (Conv): input %s has %lld channels, so with group %lld the "
                       "weight needs %lld channels per group in dim 1, but it is %s",
                       n->name, tt_shape_str(&in[0]->shape, xs, sizeof xs), (long long)c,
                       (long long)group, (long long)(c / group),
                       tt_shape_str(&in[1]->shape, ws, sizeof ws));
    tt_window_span sp = tt_window_span_of(&a, x[2], x[3]);
    if (sp.ekh > sp.ph || sp.ekw > sp.pw)
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (Conv): the (dilated) kernel %lld x %lld is larger than the "
                       "padded input %lld x %lld, giving an empty output; use a smaller kernel or "
                       "more padding",
                       n->name, (long long)sp.ekh, (long long)sp.ekw, (long long)sp.ph,
                       (long long)sp.pw);
    if (in[2]) {
        TT_CHECK(tt_op_expect_dtype(n, in[2], 2, TT_F32));
        if (in[2]->shape.ndim != 1 || in[2]->shape.dims[0] != m) {
            char bs[64];
            return tt_fail(TT_ERR_SHAPE, "node '%s' (Conv): bias is %s; expected [%lld]", n->name,
                           tt_shape_str(&in[2]->shape, bs, sizeof bs), (long long)m);
        }
    }
    int64_t d[4] = {x[0], m, sp.oh, sp.ow};
    out[0].dtype = TT_F32;
    return tt_shape_make(&out[0].shape, 4, d);
}

/* Everything the kernels need, resolved once from the node and the concrete shapes. */
typedef struct conv_plan {
    tt_window2d a;
    int64_t group;
    int64_t n, c, h, w, m, oh, ow;
    int64_t cg, mg, k, p, np; /* channels per group in/out, K = cg*kh*kw, P = oh*ow, N*P */
    int64_t nc;               /* images per chunk of the batched im2col + GEMM */
    tt_conv_geom geom;        /* one input channel, all taps */
} conv_plan;

/* Images per chunk: as many as keep the chunk's col matrix within the byte budget, at least 1. */
static int64_t conv_chunk_images(int64_t k, int64_t p, int64_t n)
{
    int64_t per = k * p * (int64_t)sizeof(float), c = TT_CONV_CHUNK_BYTES / per;
    if (c < 1) c = 1;
    return c < n ? c : n;
}

static void conv_make_plan(const tt_node *nd, const tt_tensor *x, const tt_tensor *w,
                           const tt_tensor *y, conv_plan *p)
{
    /* infer() has validated the node, so the attributes are known to be well formed. */
    (void)conv_read_attrs(nd, w->shape.dims, &p->a, &p->group);
    p->n = x->shape.dims[0];
    p->c = x->shape.dims[1];
    p->h = x->shape.dims[2];
    p->w = x->shape.dims[3];
    p->m = w->shape.dims[0];
    p->oh = y->shape.dims[2];
    p->ow = y->shape.dims[3];
    p->cg = p->c / p->group;
    p->mg = p->m / p->group;
    p->k = p->cg * p->a.kh * p->a.kw;
    p->p = p->oh * p->ow;
    p->np = p->n * p->p;
    p->nc = conv_chunk_images(p->k, p->p, p->n);
    p->geom = (tt_conv_geom){.c = 1,
                             .h = p->h,
                             .w = p->w,
                             .kh = p->a.kh,
                             .kw = p->a.kw,
                             .sh = p->a.sh,
                             .sw = p->a.sw,
                             .ph = p->a.pt,
                             .pw = p->a.pl,
                             .dh = p->a.dh,
                             .dw = p->a.dw,
                             .oh = p->oh,
                             .ow = p->ow};
}

static bool conv_is_depthwise(const conv_plan *p)
{
    return p->group > 1 && p->cg == 1;
}

static size_t conv_scratch(const tt_node *nd, const tt_tensor *const *in, const tt_tensor *out)
{
    conv_plan p;
    conv_make_plan(nd, in[0], in[1], out, &p);
    if (conv_is_depthwise(&p)) return 0;
    /* A chunk's col [K, nc*P] plus its group output (forward) or gathered dY (backward). */
    return (size_t)((p.k + p.mg) * p.nc * p.p) * sizeof(float);
}

/* Split the batch into blocks so that (unit x block) tasks keep every thread busy even when
 * there are few units (channels or col rows). */
static int64_t image_blocks(int64_t units, int64_t n)
{
    int64_t b = (16 + units - 1) / units;
    return b < n ? b : n;
}

/* Geometry of one kernel tap (ki, kj) as a 1x1 convolution with shifted padding: im2col of it
 * is exactly col row (ch, ki, kj) of one image. */
static tt_conv_geom tap_geom(const conv_plan *p, int64_t ki, int64_t kj)
{
    tt_conv_geom g = p->geom;
    g.kh = g.kw = 1;
    g.dh = g.dw = 1;
    g.ph = p->a.pt - ki * p->a.dh;
    g.pw = p->a.pl - kj * p->a.dw;
    return g;
}

/* Channels g*cg.. of images [i0, i1) into col[K, (i1-i0)*P] (image i at column (i-i0)*P).
 * Each task fills one col row for a block of images: the row is written sequentially and the
 * channel's input planes are reused by its kH*kW rows from cache, which beats one strided pass
 * per image. */
static void im2col_batch(const conv_plan *p, const float *x, int64_t g, int64_t i0, int64_t i1,
                         float *col)
{
    int64_t taps = p->a.kh * p->a.kw, plane = p->h * p->w, n = i1 - i0, ld = n * p->p;
    int64_t nb = image_blocks(p->k, n), tasks = p->k * nb;
#pragma omp parallel for if (p->k * ld > 32768)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t r = t / nb, b = t % nb, ch = r / taps, ki = r % taps / p->a.kw, kj = r % p->a.kw;
        tt_conv_geom tg = tap_geom(p, ki, kj);
        const float *src = x + ((i0 * p->c) + g * p->cg + ch) * plane;
        float *row = col + r * ld;
        for (int64_t i = b * n / nb; i < (b + 1) * n / nb; i++)
            tt_im2col(&tg, src + i * p->c * plane, row + i * p->p, p->p);
    }
}

/* The adjoint: accumulate col into dX. Each task owns one input channel of a block of images,
 * i.e. disjoint dX planes, and walks that channel's col rows sequentially. */
static void col2im_batch(const conv_plan *p, const float *col, int64_t g, int64_t i0, int64_t i1,
                         float *dx)
{
    int64_t taps = p->a.kh * p->a.kw, plane = p->h * p->w, n = i1 - i0, ld = n * p->p;
    int64_t nb = image_blocks(p->cg, n), tasks = p->cg * nb;
#pragma omp parallel for if (p->k * ld > 32768)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t ch = t / nb, b = t % nb;
        float *dst = dx + ((i0 * p->c) + g * p->cg + ch) * plane;
        for (int64_t r = ch * taps; r < (ch + 1) * taps; r++) {
            tt_conv_geom tg = tap_geom(p, r % taps / p->a.kw, r % p->a.kw);
            const float *row = col + r * ld;
            for (int64_t i = b * n / nb; i < (b + 1) * n / nb; i++)
                tt_col2im(&tg, row + i * p->p, p->p, dst + i * p->c * plane);
        }
    }
}

/* Output columns [*lo, *hi) whose input index o*s + off lies inside [0, size). */
static void valid_range(int64_t off, int64_t s, int64_t size, int64_t on, int64_t *lo, int64_t *hi)
{
    int64_t l = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t h = size - 1 - off >= 0 ? (size - 1 - off) / s + 1 : 0;
    if (h > on) h = on;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/* One depthwise output plane: y = bias + sum over taps of w * shifted x. Taps are the outer
 * loops so each tap's valid row/column range is computed once per plane, and the inner loop is
 * a plain axpy over one output row (omp simd: y and x never alias). */
static void dw_plane_forward(const conv_plan *p, const float *x, const float *wk, float bias,
                             float *y)
{
    const tt_window2d *a = &p->a;
    const int64_t s = a->sw, ow = p->ow, w = p->w;
    for (int64_t i = 0; i < p->p; i++) y[i] = bias;
    for (int64_t ki = 0; ki < a->kh; ki++) {
        int64_t dy = ki * a->dh - a->pt, ylo, yhi;
        valid_range(dy, a->sh, p->h, p->oh, &ylo, &yhi);
        for (int64_t kj = 0; kj < a->kw; kj++) {
            int64_t off = kj * a->dw - a->pl, lo, hi;
            valid_range(off, s, w, ow, &lo, &hi);
            const float wv = wk[ki * a->kw + kj];
            for (int64_t oy = ylo; oy < yhi; oy++) {
                float *yr = y + oy * ow;
                const float *xr = x + (oy * a->sh + dy) * w;
                if (s == 1) {
#pragma omp simd
                    for (int64_t ox = lo; ox < hi; ox++) yr[ox] += wv * xr[ox + off];
                } else {
#pragma omp simd
                    for (int64_t ox = lo; ox < hi; ox++) yr[ox] += wv * xr[ox * s + off];
                }
            }
        }
    }
}

/* One depthwise plane's backward: dX plane += w-weighted dY, dW taps += dY . shifted x. */
static void dw_plane_backward(const conv_plan *p, const float *x, const float *wk, const float *dy,
                              float *dx, float *dwk)
{
    const tt_window2d *a = &p->a;
    const int64_t s = a->sw, ow = p->ow, w = p->w;
    for (int64_t ki = 0; ki < a->kh; ki++) {
        int64_t ry = ki * a->dh - a->pt, ylo, yhi;
        valid_range(ry, a->sh, p->h, p->oh, &ylo, &yhi);
        for (int64_t kj = 0; kj < a->kw; kj++) {
            int64_t off = kj * a->dw - a->pl, lo, hi;
            valid_range(off, s, w, ow, &lo, &hi);
            const float wv = wk[ki * a->kw + kj];
            float acc = 0.0f;
            for (int64_t oy = ylo; oy < yhi; oy++) {
                const float *dyr = dy + oy * ow;
                int64_t iy = oy * a->sh + ry;
                /* Unit stride split out: the strided form compiles to per-element loads. */
                if (dwk) {
                    const float *xr = x + iy * w;
                    if (s == 1) {
#pragma omp simd reduction(+ : acc)
                        for (int64_t ox = lo; ox < hi; ox++) acc += dyr[ox] * xr[ox + off];
                    } else {
#pragma omp simd reduction(+ : acc)
                        for (int64_t ox = lo; ox < hi; ox++) acc += dyr[ox] * xr[ox * s + off];
                    }
                }
                if (dx) {
                    float *dxr = dx + iy * w;
                    if (s == 1) {
#pragma omp simd
                        for (int64_t ox = lo; ox < hi; ox++) dxr[ox + off] += wv * dyr[ox];
                    } else {
#pragma omp simd
                        for (int64_t ox = lo; ox < hi; ox++) dxr[ox * s + off] += wv * dyr[ox];
                    }
                }
            }
            if (dwk) dwk[ki * a->kw + kj] += acc;
        }
    }
}

static tt_status dw_forward(tt_op_ctx *c, const conv_plan *p)
{
    const float *x = tt_tensor_f32(c->in[0]), *w = tt_tensor_f32(c->in[1]);
    const float *b = c->in[2] ? tt_tensor_f32(c->in[2]) : NULL;
    float *y = tt_tensor_f32(c->out[0]);
    int64_t planes = p->n * p->m, taps = p->a.kh * p->a.kw, hw = p->h * p->w;
#pragma omp parallel for if (planes * p->p * taps > 65536)
    for (int64_t t = 0; t < planes; t++) {
        int64_t i = t / p->m, oc = t % p->m, ic = oc / p->mg;
        dw_plane_forward(p, x + (i * p->c + ic) * hw, w + oc * taps, b ? b[oc] : 0.0f,
                         y + t * p->p);
    }
    return TT_OK;
}

static tt_status dw_backward(tt_op_ctx *c, const conv_plan *p)
{
    const float *x = tt_tensor_f32(c->in[0]), *w = tt_tensor_f32(c->in[1]);
    const float *dy = tt_tensor_f32(c->dout[0]);
    float *dx = c->din[0] ? tt_tensor_f32(c->din[0]) : NULL;
    float *dw = c->din[1] ? tt_tensor_f32(c->din[1]) : NULL;
    float *db = c->din[2] ? tt_tensor_f32(c->din[2]) : NULL;
    int64_t taps = p->a.kh * p->a.kw, hw = p->h * p->w;
    /* Parallel over input channels: channel ic owns its dX planes and the dW/dB rows of its
     * output channels, so no two threads write the same element. */
#pragma omp parallel for if (p->n * p->m * p->p * taps > 65536)
    for (int64_t ic = 0; ic < p->c; ic++) {
        for (int64_t j = 0; j < p->mg; j++) {
            int64_t oc = ic * p->mg + j;
            for (int64_t i = 0; i < p->n; i++) {
                const float *dyp = dy + (i * p->m + oc) * p->p;
                if (dx || dw)
                    dw_plane_backward(p, x + (i * p->c + ic) * hw, w + oc * taps, dyp,
                                      dx ? dx + (i * p->c + ic) * hw : NULL,
                                      dw ? dw + oc * taps : NULL);
                if (db) {
                    float s = 0.0f;
#pragma omp simd reduction(+ : s)
                    for (int64_t q = 0; q < p->p; q++) s += dyp[q];
                    db[oc] += s;
                }
            }
        }
    }
    return TT_OK;
}

static tt_status conv_forward(tt_op_ctx *c)
{
    conv_plan p;
    conv_make_plan(c->node, c->in[0], c->in[1], c->out[0], &p);
    if (conv_is_depthwise(&p)) return dw_forward(c, &p);
    const float *x = tt_tensor_f32(c->in[0]), *w = tt_tensor_f32(c->in[1]);
    const float *b = c->in[2] ? tt_tensor_f32(c->in[2]) : NULL;
    float *y = tt_tensor_f32(c->out[0]);
    float *col = c->scratch, *yb = col + p.k * p.nc * p.p;
    for (int64_t i0 = 0; i0 < p.n; i0 += p.nc) {
        int64_t i1 = i0 + p.nc < p.n ? i0 + p.nc : p.n, n = i1 - i0, ld = n * p.p;
        for (int64_t g = 0; g < p.group; g++) {
            im2col_batch(&p, x, g, i0, i1, col);
            /* A single image's group output is already contiguous in Y: write it in place. */
            float *dst = n == 1 ? y + (i0 * p.m + g * p.mg) * p.p : yb;
            c->be->sgemm(false, false, p.mg, ld, p.k, 1.0f, w + g * p.mg * p.k, p.k, col, ld, 0.0f,
                         dst, ld);
            int64_t rows = n * p.mg;
#pragma omp parallel for if (rows * p.p > 65536)
            for (int64_t t = 0; t < rows; t++) {
                int64_t i = t / p.mg, j = t % p.mg, oc = g * p.mg + j;
                float *yr = y + ((i0 + i) * p.m + oc) * p.p;
                const float *src = dst + j * ld + i * p.p;
                float bv = b ? b[oc] : 0.0f;
                if (src == yr) {
                    for (int64_t q = 0; q < p.p; q++) yr[q] += bv;
                } else {
#pragma omp simd
                    for (int64_t q = 0; q < p.p; q++) yr[q] = src[q] + bv;
                }
            }
        }
    }
    return TT_OK;
}

static tt_status conv_backward(tt_op_ctx *c)
{
    conv_plan p;
    conv_make_plan(c->node, c->in[0], c->in[1], c->out[0], &p);
    if (conv_is_depthwise(&p)) return dw_backward(c, &p);
    const float *x = tt_tensor_f32(c->in[0]), *w = tt_tensor_f32(c->in[1]);
    const float *dy = tt_tensor_f32(c->dout[0]);
    float *col = c->scratch, *dyb = col + p.k * p.nc * p.p;
    if (c->din[2]) {
        float *db = tt_tensor_f32(c->din[2]);
#pragma omp parallel for if (p.np * p.m > 65536)
        for (int64_t oc = 0; oc < p.m; oc++) {
            float s = 0.0f;
            for (int64_t i = 0; i < p.n; i++) {
                const float *r = dy + (i * p.m + oc) * p.p;
#pragma omp simd reduction(+ : s)
                for (int64_t q = 0; q < p.p; q++) s += r[q];
            }
            db[oc] += s;
        }
    }
    if (!c->din[0] && !c->din[1]) return TT_OK;
    for (int64_t i0 = 0; i0 < p.n; i0 += p.nc) {
        int64_t i1 = i0 + p.nc < p.n ? i0 + p.nc : p.n, n = i1 - i0, ld = n * p.p;
        for (int64_t g = 0; g < p.group; g++) {
            /* dY of this group as [M/g, n*P]; for one image it already is, in place. */
            const float *dyg = dy + (i0 * p.m + g * p.mg) * p.p;
            if (n > 1) {
                int64_t rows = n * p.mg;
#pragma omp parallel for if (rows * p.p > 65536)
                for (int64_t t = 0; t < rows; t++) {
                    int64_t i = t / p.mg, j = t % p.mg;
                    memcpy(dyb + j * ld + i * p.p, dy + ((i0 + i) * p.m + g * p.mg + j) * p.p,
                           (size_t)p.p * sizeof(float));
                }
                dyg = dyb;
            }
            if (c->din[1]) {
                im2col_batch(&p, x, g, i0, i1, col);
                c->be->sgemm(false, true, p.mg, p.k, ld, 1.0f, dyg, ld, col, ld, 1.0f,
                             tt_tensor_f32(c->din[1]) + g * p.mg * p.k, p.k);
            }
            if (c->din[0]) {
                c->be->sgemm(true, false, p.k, ld, p.mg, 1.0f, w + g * p.mg * p.k, p.k, dyg, ld,
                             0.0f, col, ld);
                col2im_batch(&p, col, g, i0, i1, tt_tensor_f32(c->din[0]));
            }
        }
    }
    return TT_OK;
}

const tt_op_def tt_op_conv = {
    .name = "Conv",
    .min_in = 2,
    .max_in = 3,
    .n_out = 1,
    .infer = conv_infer,
    .scratch_size = conv_scratch,
    .forward = conv_forward,
    .backward = conv_backward,
};
