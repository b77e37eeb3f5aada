/* MaxPool (ONNX semantics, NCHW float32): attrs kernel_shape (required), strides (default 1),
 * pads (top, left, bottom, right; padded cells are -inf), dilations (default 1); ceil_mode 0.
 * Training forward saves the argmax of every window (int32 offset in its input plane) so
 * backward is a scatter. Ties go to the first maximum in row-major window order and NaN wins,
 * as in PyTorch.
 *
 * uint8 and int8 inputs (quantised activations; ONNX MaxPool-12) give the same type: the max of
 * the integers, which commutes with any monotonic dequantisation, so no scale is involved. That
 * path is forward only (no argmax is saved; nothing flows back into integers). */
#include <math.h>
#include <stdint.h>
#include "autograd/internal.h"
#include "autograd/op.h"
#include "autograd/window.h"
#ifdef __SSE2__
#include <emmintrin.h>
#endif

static const tt_pool_spec maxpool_spec = {
    .op = "MaxPool", .ceil_hint = " with extra bottom/right padding", .int32_argmax = true};

static tt_status maxpool_infer(const tt_node *n, const tt_tensor *const *in, tt_tensor *out)
{
    if (!in[0] || (in[0]->dtype != TT_U8 && in[0]->dtype != TT_I8))
        return tt_pool_infer(n, in, &maxpool_spec, out);
    /* The shape rules are the float ones; only the element type differs. */
    tt_tensor as_f32 = *in[0];
    as_f32.dtype = TT_F32;
    const tt_tensor *fin[1] = {&as_f32};
    TT_CHECK(tt_pool_infer(n, fin, &maxpool_spec, out));
    out[0].dtype = in[0]->dtype;
    return TT_OK;
}

static size_t maxpool_saved(const tt_node *n, const tt_tensor *const *in, const tt_tensor *out)
{
    (void)n, (void)in;
    return (size_t)tt_tensor_numel(out) * sizeof(int32_t);
}

/* The window's maximum and its first index, with NaN propagating (the last NaN wins, as in
 * PyTorch). Branch-free on the fast path: which tap wins is unpredictable on real data, and
 * branch mispredictions dominated a straightforward compare-and-branch loop. */
static inline float window_max(const tt_window2d *a, const float *xp, int64_t w, int64_t by,
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

static void maxpool_plane(const tt_window2d *a, const float *xp, int64_t h, int64_t w, int64_t oh,
                          int64_t ow, float *yp, int32_t *ap)
{
    for (int64_t oy = 0; oy < oh; oy++) {
        int64_t by = oy * a->sh - a->pt, klo, khi;
        tt_window_taps(by, a->dh, h, a->kh, &klo, &khi);
        for (int64_t ox = 0; ox < ow; ox++) {
            int64_t bx = ox * a->sw - a->pl, jlo, jhi, bi;
            tt_window_taps(bx, a->dw, w, a->kw, &jlo, &jhi);
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

/* The usual CNN pool: 2x2 windows, stride 2, no padding or dilation, every window inside. */
static bool pool_is_2x2(const tt_window2d *a, const tt_window_planes *d)
{
    return a->kh == 2 && a->kw == 2 && a->sh == 2 && a->sw == 2 && a->pt == 0 && a->pl == 0 &&
           a->dh == 1 && a->dw == 1 && 2 * d->oh <= d->h && 2 * d->ow <= d->w;
}

/* 2x2 stride 2, no padding or dilation (the usual CNN pool): branch-free selects that keep the
 * general path's rules (first maximum wins, NaN propagates). */
static void maxpool_plane_2x2(const float *xp, int64_t w, int64_t oh, int64_t ow, float *yp,
                              int32_t *ap)
{
    for (int64_t oy = 0; oy < oh; oy++) {
        const float *r0 = xp + 2 * oy * w, *r1 = r0 + w;
        for (int64_t ox = 0; ox < ow; ox++) {
            float v1 = r0[2 * ox + 1], v2 = r1[2 * ox], v3 = r1[2 * ox + 1], b = r0[2 * ox];
            int32_t i0 = (int32_t)(2 * oy * w + 2 * ox), bi = i0;
            bool t1 = v1 > b || v1 != v1;
            b = t1 ? v1 : b;
            bi = t1 ? i0 + 1 : bi;
            bool t2 = v2 > b || v2 != v2;
            b = t2 ? v2 : b;
            bi = t2 ? i0 + (int32_t)w : bi;
            bool t3 = v3 > b || v3 != v3;
            b = t3 ? v3 : b;
            bi = t3 ? i0 + (int32_t)w + 1 : bi;
            yp[oy * ow + ox] = b;
            if (ap) ap[oy * ow + ox] = bi;
        }
    }
}

/* One uint8 plane. int8 planes come here with every byte XORed with 0x80 (flip), which maps
 * -128..127 onto 0..255 in order, so one loop serves both. A window wholly in padding (possible
 * only with dilation) gives the type's minimum, the integer stand-in for -inf. */
static void maxpool_plane_q(const tt_window2d *a, const uint8_t *xp, int64_t h, int64_t w,
                            int64_t oh, int64_t ow, uint8_t flip, uint8_t *yp)
{
    for (int64_t oy = 0; oy < oh; oy++) {
        int64_t by = oy * a->sh - a->pt, klo, khi;
        tt_window_taps(by, a->dh, h, a->kh, &klo, &khi);
        for (int64_t ox = 0; ox < ow; ox++) {
            int64_t bx = ox * a->sw - a->pl, jlo, jhi;
            tt_window_taps(bx, a->dw, w, a->kw, &jlo, &jhi);
            uint8_t best = 0;
            for (int64_t ki = klo; ki < khi; ki++) {
                const uint8_t *row = xp + (by + ki * a->dh) * w + bx;
                for (int64_t kj = jlo; kj < jhi; kj++) {
                    uint8_t v = row[kj * a->dw] ^ flip;
                    best = v > best ? v : best;
                }
            }
            yp[oy * ow + ox] = best ^ flip;
        }
    }
}

/* One output row of a 2x2 stride-2 pool on quantised data: y[i] = max of r0[2i], r0[2i + 1],
 * r1[2i], r1[2i + 1] (bytes XORed with flip, see maxpool_plane_q). The general loop costs a
 * window computation per output and dominated the int8 CNN's run time. On x86-64, eight
 * outputs at a time: the two rows' maximum, the odd bytes shifted onto the even ones and the
 * maximum taken again, the even bytes packed; a row that is not a multiple of eight ends with
 * an overlapping block (outputs are written, never read), so only rows under eight outputs
 * take the scalar loop. */
static void maxpool_row_q_2x2(const uint8_t *r0, const uint8_t *r1, int64_t n, uint8_t flip,
                              uint8_t *y)
{
#ifdef __SSE2__
    if (n >= 8) {
        const __m128i lo = _mm_set1_epi16(0xff), f = _mm_set1_epi8((char)flip);
        for (int64_t i = 0;; i += 8) {
            if (i + 8 > n) i = n - 8;
            __m128i a = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(r0 + 2 * i)), f);
            __m128i b = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(r1 + 2 * i)), f);
            __m128i v = _mm_max_epu8(a, b);
            __m128i m = _mm_and_si128(_mm_max_epu8(v, _mm_srli_epi16(v, 8)), lo);
            _mm_storel_epi64((__m128i *)(y + i), _mm_xor_si128(_mm_packus_epi16(m, m), f));
            if (i + 8 == n) return;
        }
    }
#endif
    for (int64_t i = 0; i < n; i++) {
        uint8_t a = r0[2 * i] ^ flip, b = r0[2 * i + 1] ^ flip;
        uint8_t c = r1[2 * i] ^ flip, d = r1[2 * i + 1] ^ flip;
        uint8_t m0 = a > b ? a : b, m1 = c > d ? c : d;
        y[i] = (m0 > m1 ? m0 : m1) ^ flip;
    }
}

static void maxpool_plane_q_2x2(const uint8_t *xp, int64_t w, int64_t oh, int64_t ow, uint8_t flip,
                                uint8_t *yp)
{
    for (int64_t oy = 0; oy < oh; oy++)
        maxpool_row_q_2x2(xp + 2 * oy * w, xp + (2 * oy + 1) * w, ow, flip, yp + oy * ow);
}

static tt_status maxpool_forward_q(tt_op_ctx *c, const tt_window2d *a)
{
    const tt_window_planes d = tt_window_planes_of(c->in[0], c->out[0]);
    const uint8_t *x = c->in[0]->data;
    uint8_t *y = c->out[0]->data;
    uint8_t flip = c->in[0]->dtype == TT_I8 ? 0x80 : 0;
    bool k2 = pool_is_2x2(a, &d);
#pragma omp parallel for if (d.planes * d.oh * d.ow * a->kh * a->kw > 65536)
    for (int64_t t = 0; t < d.planes; t++)
        if (k2)
            maxpool_plane_q_2x2(x + t * d.h * d.w, d.w, d.oh, d.ow, flip, y + t * d.oh * d.ow);
        else
            maxpool_plane_q(a, x + t * d.h * d.w, d.h, d.w, d.oh, d.ow, flip, y + t * d.oh * d.ow);
    return TT_OK;
}

static tt_status maxpool_forward(tt_op_ctx *c)
{
    tt_window2d a;
    TT_CHECK(tt_pool_read(c->node, &maxpool_spec, &a, NULL));
    if (c->in[0]->dtype != TT_F32) return maxpool_forward_q(c, &a);
    const tt_window_planes d = tt_window_planes_of(c->in[0], c->out[0]);
    const float *x = tt_tensor_f32(c->in[0]);
    float *y = tt_tensor_f32(c->out[0]);
    int32_t *arg = c->training ? (int32_t *)c->saved : NULL;
    bool k2 = pool_is_2x2(&a, &d);
#pragma omp parallel for if (d.planes * d.oh * d.ow * a.kh * a.kw > 65536)
    for (int64_t t = 0; t < d.planes; t++)
        if (k2)
            maxpool_plane_2x2(x + t * d.h * d.w, d.w, d.oh, d.ow, y + t * d.oh * d.ow,
                              arg ? arg + t * d.oh * d.ow : NULL);
        else
            maxpool_plane(&a, x + t * d.h * d.w, d.h, d.w, d.oh, d.ow, y + t * d.oh * d.ow,
                          arg ? arg + t * d.oh * d.ow : NULL);
    return TT_OK;
}

static tt_status maxpool_backward(tt_op_ctx *c)
{
    if (!c->din[0]) return TT_OK;
    const tt_window_planes d = tt_window_planes_of(c->in[0], c->out[0]);
    int64_t planes = d.planes, hw = d.h * d.w, ohw = d.oh * d.ow;
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
