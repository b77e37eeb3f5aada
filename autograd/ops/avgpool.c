/* AveragePool (ONNX semantics, NCHW float32): attrs kernel_shape (required), strides (default 1),
 * pads (top, left, bottom, right), dilations (default 1), count_include_pad (default 0: divide
 * by the cells inside the input; 1: by kH*kW, padding counted as zeros, as PyTorch does with
 * count_include_pad=True); ceil_mode 0. No saved state: the divisor is recomputed in backward. */
#include <stdint.h>
#include "autograd/internal.h"
#include "autograd/op.h"
#include "autograd/window.h"

static const tt_pool_spec avgpool_spec = {
    .op = "AveragePool", .ceil_hint = "", .count_include_pad = true};

static tt_status avgpool_infer(const tt_node *n, const tt_tensor *const *in, tt_tensor *out)
{
    return tt_pool_infer(n, in, &avgpool_spec, out);
}

static tt_status avgpool_forward(tt_op_ctx *c)
{
    tt_window2d a;
    bool include_pad;
    TT_CHECK(tt_pool_read(c->node, &avgpool_spec, &a, &include_pad));
    const tt_window_planes d = tt_window_planes_of(c->in[0], c->out[0]);
    const float *x = tt_tensor_f32(c->in[0]);
    float *y = tt_tensor_f32(c->out[0]);
#pragma omp parallel for if (d.planes * d.oh * d.ow * a.kh * a.kw > 65536)
    for (int64_t t = 0; t < d.planes; t++) {
        const float *xp = x + t * d.h * d.w;
        float *yp = y + t * d.oh * d.ow;
        for (int64_t oy = 0; oy < d.oh; oy++) {
            int64_t by = oy * a.sh - a.pt, klo, khi;
            tt_window_taps(by, a.dh, d.h, a.kh, &klo, &khi);
            for (int64_t ox = 0; ox < d.ow; ox++) {
                int64_t bx = ox * a.sw - a.pl, jlo, jhi;
                tt_window_taps(bx, a.dw, d.w, a.kw, &jlo, &jhi);
                float s = 0.0f;
                for (int64_t ki = klo; ki < khi; ki++) {
                    const float *xr = xp + (by + ki * a.dh) * d.w;
                    for (int64_t kj = jlo; kj < jhi; kj++) s += xr[bx + kj * a.dw];
                }
                int64_t cnt = include_pad ? a.kh * a.kw : (khi - klo) * (jhi - jlo);
                /* cnt is 0 only for a window wholly in padding (possible with dilation). */
                yp[oy * d.ow + ox] = cnt ? s / (float)cnt : 0.0f;
            }
        }
    }
    return TT_OK;
}

static tt_status avgpool_backward(tt_op_ctx *c)
{
    if (!c->din[0]) return TT_OK;
    tt_window2d a;
    bool include_pad;
    TT_CHECK(tt_pool_read(c->node, &avgpool_spec, &a, &include_pad));
    const tt_window_planes d = tt_window_planes_of(c->in[0], c->out[0]);
    const float *dy = tt_tensor_f32(c->dout[0]);
    float *dx = tt_tensor_f32(c->din[0]);
    /* Each plane's windows only reach into that plane, so planes are independent. */
#pragma omp parallel for if (d.planes * d.oh * d.ow * a.kh * a.kw > 65536)
    for (int64_t t = 0; t < d.planes; t++) {
        float *dxp = dx + t * d.h * d.w;
        const float *dyp = dy + t * d.oh * d.ow;
        for (int64_t oy = 0; oy < d.oh; oy++) {
            int64_t by = oy * a.sh - a.pt, klo, khi;
            tt_window_taps(by, a.dh, d.h, a.kh, &klo, &khi);
            for (int64_t ox = 0; ox < d.ow; ox++) {
                int64_t bx = ox * a.sw - a.pl, jlo, jhi;
                tt_window_taps(bx, a.dw, d.w, a.kw, &jlo, &jhi);
                int64_t cnt = include_pad ? a.kh * a.kw : (khi - klo) * (jhi - jlo);
                if (!cnt) continue;
                float gv = dyp[oy * d.ow + ox] / (float)cnt;
                for (int64_t ki = klo; ki < khi; ki++) {
                    float *dr = dxp + (by + ki * a.dh) * d.w;
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
