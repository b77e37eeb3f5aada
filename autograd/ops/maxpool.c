/* MaxPool (ONNX semantics, NCHW float32): attrs kernel_shape (required), strides (default 1),
 * pads (top, left, bottom, right; padded cells are -inf), dilations (default 1); ceil_mode 0.
 * Training forward saves the argmax of every window (int32 offset in its input plane) so
 * backward is a scatter. Ties go to the first maximum in row-major window order and NaN wins,
 * as in PyTorch. */
#include <math.h>
#include <stdint.h>
#include "autograd/internal.h"
#include "autograd/op.h"

typedef struct pool_attrs {
    int64_t kh, kw, sh, sw, pt, pl, pb, pr, dh, dw;
} pool_attrs;

static tt_status read_ints(const tt_node *n, const char *name, int want, int64_t lo, int64_t *out)
{
    int64_t v[TT_MAX_ATTR_INTS];
    int got = tt_node_attr_ints(n, name, v, TT_MAX_ATTR_INTS);
    if (got == 0) return TT_OK;
    if (got != want)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "node '%s' (MaxPool): attribute '%s' has %d values; expected %d for 2-D "
                       "pooling",
                       n->name, name, got, want);
    for (int i = 0; i < want; i++) {
        if (v[i] < lo)
            return tt_fail(TT_ERR_INVALID_ARG,
                           "node '%s' (MaxPool): attribute '%s' value %lld is below %lld", n->name,
                           name, (long long)v[i], (long long)lo);
        out[i] = v[i];
    }
    return TT_OK;
}

static tt_status maxpool_attrs(const tt_node *n, pool_attrs *a)
{
    int64_t ks[2] = {0, 0}, st[2] = {1, 1}, pads[4] = {0, 0, 0, 0}, dil[2] = {1, 1};
    if (tt_node_attr_ints(n, "kernel_shape", ks, 2) == 0)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "node '%s' (MaxPool): attribute 'kernel_shape' is required (2 ints)",
                       n->name);
    TT_CHECK(read_ints(n, "kernel_shape", 2, 1, ks));
    TT_CHECK(read_ints(n, "strides", 2, 1, st));
    TT_CHECK(read_ints(n, "pads", 4, 0, pads));
    TT_CHECK(read_ints(n, "dilations", 2, 1, dil));
    if (tt_node_attr_int(n, "ceil_mode", 0) != 0)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "node '%s' (MaxPool): ceil_mode=1 is not supported; use ceil_mode=0 with "
                       "extra bottom/right padding",
                       n->name);
    *a = (pool_attrs){.kh = ks[0],
                      .kw = ks[1],
                      .sh = st[0],
                      .sw = st[1],
                      .pt = pads[0],
                      .pl = pads[1],
                      .pb = pads[2],
                      .pr = pads[3],
                      .dh = dil[0],
                      .dw = dil[1]};
    return TT_OK;
}

static tt_status maxpool_infer(const tt_node *n, const tt_tensor *const *in, tt_tensor *out)
{
    TT_CHECK(tt_op_expect_dtype(n, in[0], 0, TT_F32));
    TT_CHECK(tt_op_expect_ndim(n, in[0], 0, 4, 4));
    const int64_t *x = in[0]->shape.dims;
    char xs[64];
    tt_shape_str(&in[0]->shape, xs, sizeof xs);
    if ((x[0] < 1 && x[0] != TT_DIM_BATCH) || x[1] < 1 || x[2] < 1 || x[3] < 1)
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (MaxPool): input shape %s must be [N, C, H, W] with positive C, "
                       "H, W",
                       n->name, xs);
    pool_attrs a;
    TT_CHECK(maxpool_attrs(n, &a));
    int64_t ekh = a.dh * (a.kh - 1) + 1, ekw = a.dw * (a.kw - 1) + 1;
    if (a.pt >= ekh || a.pb >= ekh || a.pl >= ekw || a.pr >= ekw)
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (MaxPool): pads [%lld, %lld, %lld, %lld] must be smaller than "
                       "the (dilated) kernel %lld x %lld, or whole windows fall in padding",
                       n->name, (long long)a.pt, (long long)a.pl, (long long)a.pb, (long long)a.pr,
                       (long long)ekh, (long long)ekw);
    int64_t ph = x[2] + a.pt + a.pb, pw = x[3] + a.pl + a.pr;
    if (ekh > ph || ekw > pw)
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (MaxPool): the (dilated) kernel %lld x %lld is larger than the "
                       "padded input %lld x %lld of %s, giving an empty output",
                       n->name, (long long)ekh, (long long)ekw, (long long)ph, (long long)pw, xs);
    if (x[2] * x[3] > INT32_MAX)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "node '%s' (MaxPool): %s planes are too large for int32 argmax indices",
                       n->name, xs);
    int64_t d[4] = {x[0], x[1], (ph - ekh) / a.sh + 1, (pw - ekw) / a.sw + 1};
    out[0].dtype = TT_F32;
    return tt_shape_make(&out[0].shape, 4, d);
}

static size_t maxpool_saved(const tt_node *n, const tt_tensor *const *in, const tt_tensor *out)
{
    (void)n, (void)in;
    return (size_t)tt_tensor_numel(out) * sizeof(int32_t);
}

/* Kernel taps [*lo, *hi) whose input index base + k*d lies inside [0, size). */
static inline void tap_range(int64_t base, int64_t d, int64_t size, int64_t k, int64_t *lo,
                             int64_t *hi)
{
    int64_t l, h;
    if (base >= 0 && base + (k - 1) * d < size) { /* interior: the common case, no division */
        *lo = 0;
        *hi = k;
        return;
    }
    l = base >= 0 ? 0 : (-base + d - 1) / d;
    h = size - 1 - base >= 0 ? (size - 1 - base) / d + 1 : 0;
    if (h > k) h = k;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/* The window's maximum and its first index, with NaN propagating (the last NaN wins, as in
 * PyTorch). Branch-free on the fast path: which tap wins is unpredictable on real data, and
 * branch mispredictions dominated a straightforward compare-and-branch loop. */
static inline float window_max(const pool_attrs *a, const float *xp, int64_t w, int64_t by,
                               int64_t bx, int64_t klo, int64_t khi, int64_t jlo, int64_t jhi,
                               int64_t *idx)
{
    int64_t bi = (by + klo * a->dh) * w + bx + jlo * a->dw;
    float best = xp[bi];
    int has_nan = 0;
    for (int64_t ki = klo; ki < khi; ki++) {
        int64_t row = (by + ki * a->dh) * w + bx;
        for (int64_t kj = jlo; kj < jhi; kj++) {
            int64_t i = row + kj * a->dw;
            float v = xp[i];
            int64_t take = v > best; /* strict: ties keep the first maximum */
            best = v > best ? v : best;
            bi ^= (bi ^ i) & -take;
            has_nan |= v != v;
        }
    }
    if (has_nan) {
        for (int64_t ki = klo; ki < khi; ki++)
            for (int64_t kj = jlo; kj < jhi; kj++) {
                int64_t i = (by + ki * a->dh) * w + bx + kj * a->dw;
                if (xp[i] != xp[i]) {
                    best = xp[i];
                    bi = i;
                }
            }
    }
    *idx = bi;
    return best;
}

static void maxpool_plane(const pool_attrs *a, const float *xp, int64_t h, int64_t w, int64_t oh,
                          int64_t ow, float *yp, int32_t *ap)
{
    for (int64_t oy = 0; oy < oh; oy++) {
        int64_t by = oy * a->sh - a->pt, klo, khi;
        tap_range(by, a->dh, h, a->kh, &klo, &khi);
        for (int64_t ox = 0; ox < ow; ox++) {
            int64_t bx = ox * a->sw - a->pl, jlo, jhi, bi;
            tap_range(bx, a->dw, w, a->kw, &jlo, &jhi);
            if (klo >= khi || jlo >= jhi) {
                /* A window wholly in padding (possible only with dilation): -inf, and it
                 * routes no gradient. */
                yp[oy * ow + ox] = -INFINITY;
                if (ap) ap[oy * ow + ox] = -1;
                continue;
            }
            yp[oy * ow + ox] = window_max(a, xp, w, by, bx, klo, khi, jlo, jhi, &bi);
            if (ap) ap[oy * ow + ox] = (int32_t)bi;
        }
    }
}

static tt_status maxpool_forward(tt_op_ctx *c)
{
    pool_attrs a;
    TT_CHECK(maxpool_attrs(c->node, &a));
    const tt_tensor *xt = c->in[0], *yt = c->out[0];
    int64_t planes = xt->shape.dims[0] * xt->shape.dims[1];
    int64_t h = xt->shape.dims[2], w = xt->shape.dims[3];
    int64_t oh = yt->shape.dims[2], ow = yt->shape.dims[3];
    const float *x = tt_tensor_f32(xt);
    float *y = tt_tensor_f32(yt);
    int32_t *arg = c->training ? (int32_t *)c->saved : NULL;
#pragma omp parallel for if (planes * oh * ow * a.kh * a.kw > 65536)
    for (int64_t t = 0; t < planes; t++)
        maxpool_plane(&a, x + t * h * w, h, w, oh, ow, y + t * oh * ow,
                      arg ? arg + t * oh * ow : NULL);
    return TT_OK;
}

static tt_status maxpool_backward(tt_op_ctx *c)
{
    if (!c->din[0]) return TT_OK;
    const tt_tensor *xt = c->in[0], *yt = c->out[0];
    int64_t planes = xt->shape.dims[0] * xt->shape.dims[1];
    int64_t hw = xt->shape.dims[2] * xt->shape.dims[3];
    int64_t ohw = yt->shape.dims[2] * yt->shape.dims[3];
    const int32_t *arg = c->saved;
    const float *dy = tt_tensor_f32(c->dout[0]);
    float *dx = tt_tensor_f32(c->din[0]);
    /* Each plane's windows only reach into that plane, so planes are independent. */
#pragma omp parallel for if (planes * ohw > 65536)
    for (int64_t t = 0; t < planes; t++) {
        const int32_t *ap = arg + t * ohw;
        const float *dyp = dy + t * ohw;
        float *dxp = dx + t * hw;
        for (int64_t o = 0; o < ohw; o++)
            if (ap[o] >= 0) dxp[ap[o]] += dyp[o];
    }
    return TT_OK;
}

const tt_op_def tt_op_maxpool = {
    .name = "MaxPool",
    .min_in = 1,
    .max_in = 1,
    .n_out = 1,
    .infer = maxpool_infer,
    .saved_size = maxpool_saved,
    .forward = maxpool_forward,
    .backward = maxpool_backward,
};
