/* 2-D sliding windows over NCHW planes, shared by Conv, MaxPool and AveragePool: reading and
 * validating the ONNX attributes kernel_shape, strides, pads and dilations (errors name the
 * node and the op), the output size, and the kernel taps of a window that fall inside the
 * input. */
#ifndef TT_WINDOW_H
#define TT_WINDOW_H

#include <stdbool.h>
#include <stdint.h>
#include "tinytrain/graph.h"

typedef struct tt_window2d {
    int64_t kh, kw;         /* kernel */
    int64_t sh, sw;         /* strides */
    int64_t pt, pl, pb, pr; /* pads: top, left, bottom, right */
    int64_t dh, dw;         /* dilations */
} tt_window2d;

/* Sizes that follow from a window over an H x W input. */
typedef struct tt_window_span {
    int64_t ekh, ekw; /* the dilated kernel */
    int64_t ph, pw;   /* the padded input */
    int64_t oh, ow;   /* the output; meaningful only when the kernel fits the padded input */
} tt_window_span;

/* The input shape must be [N, C, H, W] with positive C, H, W (N may be TT_DIM_BATCH). */
tt_status tt_window_check_input(const tt_node *n, const char *op, const tt_shape *x);

/* Reads kernel_shape, strides, pads and dilations into w; absent ones default to stride 1,
 * pad 0, dilation 1. kernel: the default (kH, kW), or NULL when kernel_shape is required.
 * `what` ends the wrong-count message ("expected 2 for <what>"). */
tt_status tt_window_read(const tt_node *n, const char *op, const char *what, const int64_t *kernel,
                         tt_window2d *w);

tt_window_span tt_window_span_of(const tt_window2d *w, int64_t h, int64_t wd);

/* The attribute rules of one pooling op. */
typedef struct tt_pool_spec {
    const char *op;         /* the op name for messages */
    const char *ceil_hint;  /* appended to "use ceil_mode=0" in the ceil_mode=1 error */
    bool count_include_pad; /* reads count_include_pad, which must be 0 or 1 */
    bool int32_argmax;      /* planes must be indexable by int32 (argmax saved for backward) */
} tt_pool_spec;

/* A pooling window: kernel_shape required, ceil_mode 0. include_pad (may be NULL) gets
 * count_include_pad == 1, or false when the spec does not read it. */
tt_status tt_pool_read(const tt_node *n, const tt_pool_spec *s, tt_window2d *w, bool *include_pad);

/* Shape inference for a pooling op: float32 [N, C, H, W] -> [N, C, OH, OW], with pads smaller
 * than the dilated kernel (no window wholly in padding at the edges) and a non-empty output. */
tt_status tt_pool_infer(const tt_node *n, const tt_tensor *const *in, const tt_pool_spec *s,
                        tt_tensor *out);

/* Concrete sizes of a windowed op over NCHW: N*C planes of H x W in and OH x OW out. */
typedef struct tt_window_planes {
    int64_t planes, h, w, oh, ow;
} tt_window_planes;

static inline tt_window_planes tt_window_planes_of(const tt_tensor *x, const tt_tensor *y)
{
    return (tt_window_planes){.planes = x->shape.dims[0] * x->shape.dims[1],
                              .h = x->shape.dims[2],
                              .w = x->shape.dims[3],
                              .oh = y->shape.dims[2],
                              .ow = y->shape.dims[3]};
}

/* Kernel taps [*lo, *hi) whose input index base + k*d lies inside [0, size). Inline: it runs
 * once per output row and column in the pooling loops. */
static inline void tt_window_taps(int64_t base, int64_t d, int64_t size, int64_t k, int64_t *lo,
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

#endif
