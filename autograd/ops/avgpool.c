/* AveragePool (ONNX semantics, NCHW float32): attrs kernel_shape (required), strides (default 1),
 * pads (top, left, bottom, right), dilations (default 1), count_include_pad (default 0: divide
 * by the cells inside the input; 1: by kH*kW, padding counted as zeros, as PyTorch does with
 * count_include_pad=True); ceil_mode 0. No saved state: the divisor is recomputed in backward. */
#include <stdint.h>
#include "autograd/internal.h"
#include "autograd/op.h"

typedef struct pool_attrs {
    int64_t kh, kw, sh, sw, pt, pl, pb, pr, dh, dw;
    bool include_pad;
} pool_attrs;

static tt_status read_ints(const tt_node *n, const char *name, int want, int64_t lo, int64_t *out)
{
    int64_t v[TT_MAX_ATTR_INTS];
    int got = tt_node_attr_ints(n, name, v, TT_MAX_ATTR_INTS);
    if (got == 0) return TT_OK;
    if (got != want)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "node '%s' (AveragePool): attribute '%s' has %d values; expected %d for "
                       "2-D pooling",
                       n->name, name, got, want);
    for (int i = 0; i < want; i++) {
        if (v[i] < lo)
            return tt_fail(TT_ERR_INVALID_ARG,
                           "node '%s' (AveragePool): attribute '%s' value %lld is below %lld",
                           n->name, name, (long long)v[i], (long long)lo);
        out[i] = v[i];
    }
    return TT_OK;
}

static tt_status avgpool_attrs(const tt_node *n, pool_attrs *a)
{
    int64_t ks[2] = {0, 0}, st[2] = {1, 1}, pads[4] = {0, 0, 0, 0}, dil[2] = {1, 1};
    if (tt_node_attr_ints(n, "kernel_shape", ks, 2) == 0)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "node '%s' (AveragePool): attribute 'kernel_shape' is required (2 ints)",
                       n->name);
    TT_CHECK(read_ints(n, "kernel_shape", 2, 1, ks));
    TT_CHECK(read_ints(n, "strides", 2, 1, st));
    TT_CHECK(read_ints(n, "pads", 4, 0, pads));
    TT_CHECK(read_ints(n, "dilations", 2, 1, dil));
    if (tt_node_attr_int(n, "ceil_mode", 0) != 0)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "node '%s' (AveragePool): ceil_mode=1 is not supported; use ceil_mode=0",
                       n->name);
    int64_t cip = tt_node_attr_int(n, "count_include_pad", 0);
    if (cip != 0 && cip != 1)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "node '%s' (AveragePool): count_include_pad is %lld; expected 0 or 1",
                       n->name, (long long)cip);
    *a = (pool_attrs){.kh = ks[0],
                      .kw = ks[1],
                      .sh = st[0],
                      .sw = st[1],
                      .pt = pads[0],
                      .pl = pads[1],
                      .pb = pads[2],
                      .pr = pads[3],
                      .dh = dil[0],
                      .dw = dil[1],
                      .include_pad = cip == 1};
    return TT_OK;
}

static tt_status avgpool_infer(const tt_node *n, const tt_tensor *const *in, tt_tensor *out)
{
    TT_CHECK(tt_op_expect_dtype(n, in[0], 0, TT_F32));
    TT_CHECK(tt_op_expect_ndim(n, in[0], 0, 4, 4));
    const int64_t *x = in[0]->shape.dims;
    char xs[64];
    tt_shape_str(&in[0]->shape, xs, sizeof xs);
    if ((x[0] < 1 && x[0] != TT_DIM_BATCH) || x[1] < 1 || x[2] < 1 || x[3] < 1)
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (AveragePool): input shape %s must be [N, C, H, W] with "
                       "positive C, H, W",
                       n->name, xs);
    pool_attrs a;
    TT_CHECK(avgpool_attrs(n, &a));
    int64_t ekh = a.dh * (a.kh - 1) + 1, ekw = a.dw * (a.kw - 1) + 1;
    if (a.pt >= ekh || a.pb >= ekh || a.pl >= ekw || a.pr >= ekw)
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (AveragePool): pads [%lld, %lld, %lld, %lld] must be smaller "
                       "than the (dilated) kernel %lld x %lld, or whole windows fall in padding",
                       n->name, (long long)a.pt, (long long)a.pl, (long long)a.pb, (long long)a.pr,
                       (long long)ekh, (long long)ekw);
    int64_t ph = x[2] + a.pt + a.pb, pw = x[3] + a.pl + a.pr;
    if (ekh > ph || ekw > pw)
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (AveragePool): the (dilated) kernel %lld x %lld is larger than "
                       "the padded input %lld x %lld of %s, giving an empty output",
                       n->name, (long long)ekh, (long long)ekw, (long long)ph, (long long)pw, xs);
    int64_t d[4] = {x[0], x[1], (ph - ekh) / a.sh + 1, (pw - ekw) / a.sw + 1};
    out[0].dtype = TT_F32;
    return tt_shape_make(&out[0].shape, 4, d);
}

/* Kernel taps [*lo, *hi) whose input index base + k*d lies inside [0, size). */
static inline void tap_range(int64_t base, int64_t d, int64_t size, int64_t k, int64_t *lo,
                             int64_t *hi)
{
    if (base >= 0 && base + (k - 1) * d < size) { /* interior: the common case, no division */
        *lo = 0;
        *hi = k;
        return;
    }
    int64_t l = base >= 0 ? 0 : (-base + d - 1) / d;
    int64_t h = size - 1 - base >= 0 ? (size - 1 - base) / d + 1 : 0;
    if (h > k) h = k;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

typedef struct pool_geom {
    pool_attrs a;
    int64_t planes, h, w, oh, ow;
} pool_geom;

static tt_status pool_geom_make(const tt_op_ctx *c, pool_geom *g)
{
    TT_CHECK(avgpool_attrs(c->node, &g->a));
    const tt_tensor *xt = c->in[0], *yt = c->out[0];
    g->planes = xt->shape.dims[0] * xt->shape.dims[1];
    g->h = xt->shape.dims[2];
    g->w = xt->shape.dims[3];
    g->oh = yt->shape.dims[2];
    g->ow = yt->shape.dims[3];
    return TT_OK;
}

static tt_status avgpool_forward(tt_op_ctx *c)
{
    pool_geom g;
    TT_CHECK(pool_geom_make(c, &g));
    const pool_attrs a = g.a;
    const float *x = tt_tensor_f32(c->in[0]);
    float *y = tt_tensor_f32(c->out[0]);
#pragma omp parallel for if (g.planes * g.oh * g.ow * a.kh * a.kw > 65536)
    for (int64_t t = 0; t < g.planes; t++) {
        const float *xp = x + t * g.h * g.w;
        float *yp = y + t * g.oh * g.ow;
        for (int64_t oy = 0; oy < g.oh; oy++) {
            int64_t by = oy * a.sh - a.pt, klo, khi;
            tap_range(by, a.dh, g.h, a.kh, &klo, &khi);
            for (int64_t ox = 0; ox < g.ow; ox++) {
                int64_t bx = ox * a.sw - a.pl, jlo, jhi;
                tap_range(bx, a.dw, g.w, a.kw, &jlo, &jhi);
                float s = 0.0f;
                for (int64_t ki = klo; ki < khi; ki++) {
                    const float *xr = xp + (by + ki * a.dh) * g.w;
                    for (int64_t kj = jlo; kj < jhi; kj++) s += xr[bx + kj * a.dw];
                }
                int64_t cnt = a.include_pad ? a.kh * a.kw : (khi - klo) * (jhi - jlo);
                /* cnt is 0 only for a window wholly in padding (possible with dilation). */
                yp[oy * g.ow + ox] = cnt ? s / (float)cnt : 0.0f;
            }
        }
    }
    return TT_OK;
}

static tt_status avgpool_backward(tt_op_ctx *c)
{
    if (!c->din[0]) return TT_OK;
    pool_geom g;
    TT_CHECK(pool_geom_make(c, &g));
    const pool_attrs a = g.a;
    const float *dy = tt_tensor_f32(c->dout[0]);
    float *dx = tt_tensor_f32(c->din[0]);
    /* Each plane's windows only reach into that plane, so planes are independent. */
#pragma omp parallel for if (g.planes * g.oh * g.ow * a.kh * a.kw > 65536)
    for (int64_t t = 0; t < g.planes; t++) {
        float *dxp = dx + t * g.h * g.w;
        const float *dyp = dy + t * g.oh * g.ow;
        for (int64_t oy = 0; oy < g.oh; oy++) {
            int64_t by = oy * a.sh - a.pt, klo, khi;
            tap_range(by, a.dh, g.h, a.kh, &klo, &khi);
            for (int64_t ox = 0; ox < g.ow; ox++) {
                int64_t bx = ox * a.sw - a.pl, jlo, jhi;
                tap_range(bx, a.dw, g.w, a.kw, &jlo, &jhi);
                int64_t cnt = a.include_pad ? a.kh * a.kw : (khi - klo) * (jhi - jlo);
                if (!cnt) continue;
                float gv = dyp[oy * g.ow + ox] / (float)cnt;
                for (int64_t ki = klo; ki < khi; ki++) {
                    float *dr = dxp + (by + ki * a.dh) * g.w;
                    for (int64_t kj = jlo; kj < jhi; kj++) dr[bx + kj * a.dw] += gv;
                }
            }
        }
    }
    return TT_OK;
}

const tt_op_def tt_op_avgpool = {
    .name = "AveragePool",
    .min_in = 1,
    .max_in = 1,
    .n_out = 1,
    .infer = avgpool_infer,
    .forward = avgpool_forward,
    .backward = avgpool_backward,
};
