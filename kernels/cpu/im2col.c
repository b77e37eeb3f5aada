/* im2col / col2im for one image and one channel group (NCHW). */
#include <string.h>
#include "kernels/backend.h"

/* Output columns [*lo, *hi) whose input index o*s + off lies inside [0, size). Computing the
 * range once per kernel tap keeps the bounds test out of the inner loop. */
static void valid_cols(int64_t off, int64_t s, int64_t size, int64_t on, int64_t *lo, int64_t *hi)
{
    int64_t l = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t h = size - 1 - off >= 0 ? (size - 1 - off) / s + 1 : 0;
    if (h > on) h = on;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/* One col row (one channel, one tap) when stride is 1 and output rows are as wide as input rows
 * ("same" convolutions, 1x1 convolutions): the valid output rows are then one contiguous
 * shifted copy of the plane, so a single memcpy replaces a short copy per row (which dominates
 * on small feature maps). Border cells that the shifted copy filled from the neighbouring row
 * are then zeroed. */
static void im2col_row_same(const tt_conv_geom *g, const float *plane, int64_t dy, int64_t off,
                            float *dst)
{
    int64_t ow = g->ow, lo, hi;
    valid_cols(off, 1, g->w, ow, &lo, &hi);
    int64_t oy0 = dy < 0 ? -dy : 0, oy1 = g->h - dy;
    if (oy0 > g->oh) oy0 = g->oh;
    if (oy1 > g->oh) oy1 = g->oh;
    if (oy1 < oy0) oy1 = oy0;
    if (oy0 > 0) memset(dst, 0, (size_t)(oy0 * ow) * sizeof(float));
    if (oy1 < g->oh) memset(dst + oy1 * ow, 0, (size_t)((g->oh - oy1) * ow) * sizeof(float));
    if (oy1 == oy0) return;
    if (lo >= hi) {
        memset(dst + oy0 * ow, 0, (size_t)((oy1 - oy0) * ow) * sizeof(float));
        return;
    }
    float *d = dst + oy0 * ow;
    const float *s = plane + (oy0 + dy) * g->w;
    int64_t len = (oy1 - oy0) * ow;
    /* Skip the first/last |off| cells so the copy never reads outside the valid rows. */
    int64_t j0 = off < 0 ? -off : 0, j1 = off > 0 ? len - off : len;
    memcpy(d + j0, s + j0 + off, (size_t)(j1 - j0) * sizeof(float));
    if (lo > 0 || hi < ow) {
        for (int64_t oy = 0; oy < oy1 - oy0; oy++) {
            float *r = d + oy * ow;
            for (int64_t ox = 0; ox < lo; ox++) r[ox] = 0.0f;
            for (int64_t ox = hi; ox < ow; ox++) r[ox] = 0.0f;
        }
    }
}

void tt_im2col(const tt_conv_geom *g, const float *img, float *col, int64_t ldc)
{
    bool same = g->sh == 1 && g->sw == 1 && g->ow == g->w;
    for (int64_t c = 0; c < g->c; c++) {
        const float *plane = img + c * g->h * g->w;
        for (int64_t ki = 0; ki < g->kh; ki++) {
            for (int64_t kj = 0; kj < g->kw; kj++) {
                float *row = col + ((c * g->kh + ki) * g->kw + kj) * ldc;
                int64_t off = kj * g->dw - g->pw, lo, hi;
                if (same) {
                    im2col_row_same(g, plane, ki * g->dh - g->ph, off, row);
                    continue;
                }
                valid_cols(off, g->sw, g->w, g->ow, &lo, &hi);
                for (int64_t oy = 0; oy < g->oh; oy++) {
                    int64_t iy = oy * g->sh - g->ph + ki * g->dh;
                    float *dst = row + oy * g->ow;
                    if (iy < 0 || iy >= g->h || lo >= hi) {
                        memset(dst, 0, (size_t)g->ow * sizeof(float));
                        continue;
                    }
                    const float *src = plane + iy * g->w;
                    for (int64_t ox = 0; ox < lo; ox++) dst[ox] = 0.0f;
                    if (g->sw == 1)
                        memcpy(dst + lo, src + lo + off, (size_t)(hi - lo) * sizeof(float));
                    else
                        for (int64_t ox = lo; ox < hi; ox++) dst[ox] = src[ox * g->sw + off];
                    for (int64_t ox = hi; ox < g->ow; ox++) dst[ox] = 0.0f;
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
                int64_t off = kj * g->dw - g->pw, lo, hi;
                valid_cols(off, g->sw, g->w, g->ow, &lo, &hi);
                if (lo >= hi) continue;
                for (int64_t oy = 0; oy < g->oh; oy++) {
                    int64_t iy = oy * g->sh - g->ph + ki * g->dh;
                    if (iy < 0 || iy >= g->h) continue;
                    float *dst = plane + iy * g->w;
                    const float *src = row + oy * g->ow;
                    if (g->sw == 1) {
#pragma omp simd
                        for (int64_t ox = lo; ox < hi; ox++) dst[ox + off] += src[ox];
                    } else {
                        for (int64_t ox = lo; ox < hi; ox++) dst[ox * g->sw + off] += src[ox];
                    }
                }
            }
        }
    }
}
