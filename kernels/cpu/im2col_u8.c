/* im2col for quantised (one-byte) images: the padding holds the input's zero point, so after
 * the GEMM subtracts that zero point a padded tap adds exactly nothing, as ONNX's QLinearConv
 * defines it.
 *
 * The channels are first copied into a frame: the part of the padded image the windows read,
 * borders filled with the zero point. Every col row is then a plain (strided) copy of frame
 * rows with no bounds logic. Rows of small feature maps are a few bytes long, so the copies
 * are 8- or 16-byte moves that may run past the end of a row: they only ever spill into bytes
 * written later (rows are filled in increasing address order) or into the TT_IM2COL_U8_SLACK
 * bytes of slack that tt_im2col_u8_frame_size and the caller's col buffer provide. Measured on
 * fashion_cnn's 14x14 and 7x7 layers (64 images, one thread): a memset/memcpy/memset per
 * output row took about as long as the GEMM; 8-byte moves brought that to 0.86 and 0.69 ms,
 * one move per row for rows of up to 16 bytes to 0.3 and 0.2 ms. */
#include <string.h>
#include "kernels/cpu/qgemm.h"

/* Extent of the padded input the windows read, and where the image sits in it. */
static void frame_dims(const tt_conv_geom *g, int64_t *fh, int64_t *fw)
{
    *fh = (g->oh - 1) * g->sh + (g->kh - 1) * g->dh + 1;
    *fw = (g->ow - 1) * g->sw + (g->kw - 1) * g->dw + 1;
}

size_t tt_im2col_u8_frame_size(const tt_conv_geom *g)
{
    int64_t fh, fw;
    frame_dims(g, &fh, &fw);
    return (size_t)(g->c * fh * fw) + TT_IM2COL_U8_SLACK;
}

/* Exactly n bytes: 8-byte moves, the last one (or two 4-byte ones for 4 <= n < 8) overlapping
 * what was already copied instead of running past the end. */
static void copy_exact(uint8_t *d, const uint8_t *s, int64_t n)
{
    if (n >= 8) {
        for (int64_t i = 0; i + 8 < n; i += 8) memcpy(d + i, s + i, 8);
        memcpy(d + n - 8, s + n - 8, 8);
    } else if (n >= 4) {
        memcpy(d, s, 4);
        memcpy(d + n - 4, s + n - 4, 4);
    } else {
        for (int64_t i = 0; i < n; i++) d[i] = s[i];
    }
}

/* One col row of a stride-1 window: rows of ow bytes from frame rows sh * fw apart, each
 * copied as whole W-byte moves (W = 8 or 16 >= ow, or 8-byte pieces for longer rows); both
 * sides may be overrun by up to W - 1 bytes (see the top). W is a constant in each caller, so
 * every move is one load and one store. */
static inline void tap_rows(uint8_t *row, const uint8_t *src, int64_t oh, int64_t ow, int64_t step,
                            int64_t w)
{
    for (int64_t oy = 0; oy < oh; oy++, row += ow, src += step)
        for (int64_t i = 0; i < ow; i += w) memcpy(row + i, src + i, (size_t)w);
}

static void build_frame(const tt_conv_geom *g, const uint8_t *img, uint8_t pad, uint8_t *frame)
{
    int64_t fh, fw;
    frame_dims(g, &fh, &fw);
    memset(frame, pad, (size_t)(g->c * fh * fw));
    /* image column ix sits at frame column ix + pw; rows likewise */
    int64_t x0 = g->pw < 0 ? -g->pw : 0, x1 = g->w < fw - g->pw ? g->w : fw - g->pw;
    int64_t y0 = g->ph < 0 ? -g->ph : 0, y1 = g->h < fh - g->ph ? g->h : fh - g->ph;
    if (x1 <= x0 || y1 <= y0) return;
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t iy = y0; iy < y1; iy++)
            copy_exact(frame + (c * fh + iy + g->ph) * fw + x0 + g->pw,
                       img + (c * g->h + iy) * g->w + x0, x1 - x0);
}

void tt_im2col_u8(const tt_conv_geom *g, const uint8_t *img, uint8_t *col, int64_t ldc, uint8_t pad,
                  uint8_t *frame)
{
    int64_t fh, fw;
    frame_dims(g, &fh, &fw);
    build_frame(g, img, pad, frame);
    const int64_t step = g->sh * fw, ow = g->ow;
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t ki = 0; ki < g->kh; ki++)
            for (int64_t kj = 0; kj < g->kw; kj++) {
                uint8_t *row = col + ((c * g->kh + ki) * g->kw + kj) * ldc;
                const uint8_t *src = frame + (c * fh + ki * g->dh) * fw + kj * g->dw;
                if (g->sw != 1) {
                    for (int64_t oy = 0; oy < g->oh; oy++, row += ow, src += step)
                        for (int64_t ox = 0; ox < ow; ox++) row[ox] = src[ox * g->sw];
                } else if (ow <= 8) {
                    tap_rows(row, src, g->oh, ow, step, 8);
                } else if (ow <= 16) {
                    tap_rows(row, src, g->oh, ow, step, 16);
                } else {
                    tap_rows(row, src, g->oh, ow, step, 8);
                }
            }
}
