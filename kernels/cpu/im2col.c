/* im2col / col2im for one image and one channel group (NCHW). */
#include <string.h>
#include "kernels/backend.h"

void tt_im2col(const tt_conv_geom *g, const float *img, float *col, int64_t ldc)
{
    for (int64_t c = 0; c < g->c; c++) {
        const float *plane = img + c * g->h * g->w;
        for (int64_t ki = 0; ki < g->kh; ki++) {
            for (int64_t kj = 0; kj < g->kw; kj++) {
                float *row = col + ((c * g->kh + ki) * g->kw + kj) * ldc;
                for (int64_t oy = 0; oy < g->oh; oy++) {
                    int64_t iy = oy * g->sh - g->ph + ki * g->dh;
                    float *dst = row + oy * g->ow;
                    if (iy < 0 || iy >= g->h) {
                        memset(dst, 0, (size_t)g->ow * sizeof(float));
                        continue;
                    }
                    const float *src = plane + iy * g->w;
                    int64_t ix = -g->pw + kj * g->dw;
                    for (int64_t ox = 0; ox < g->ow; ox++, ix += g->sw)
                        dst[ox] = (ix >= 0 && ix < g->w) ? src[ix] : 0.0f;
                }
            }
        }
    }
}

void tt_col2im(const tt_conv_geom *g, const float *col, int64_t ldc, float *img)
{
    for (int64_t c = 0; c < g->c; c++) {
        float *plane = img + c * g->h * g->w;
        for (int64_t ki = 0; ki < g->kh; ki++) {
            for (int64_t kj = 0; kj < g->kw; kj++) {
                const float *row = col + ((c * g->kh + ki) * g->kw + kj) * ldc;
                for (int64_t oy = 0; oy < g->oh; oy++) {
                    int64_t iy = oy * g->sh - g->ph + ki * g->dh;
                    if (iy < 0 || iy >= g->h) continue;
                    float *dst = plane + iy * g->w;
                    const float *src = row + oy * g->ow;
                    int64_t ix = -g->pw + kj * g->dw;
                    for (int64_t ox = 0; ox < g->ow; ox++, ix += g->sw)
                        if (ix >= 0 && ix < g->w) dst[ix] += src[ox];
                }
            }
        }
    }
}
