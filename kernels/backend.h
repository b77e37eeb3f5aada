/* A backend is a table of compute primitives. Ops call these instead of a library directly so
 * that CUDA and OpenCL backends can supply their own; the CPU backend is the reference. */
#ifndef TT_BACKEND_H
#define TT_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

typedef struct tt_backend {
    const char *name;
    /* Row-major C[M,N] = alpha * op(A) op(B) + beta * C, op = transpose when ta/tb. */
    void (*sgemm)(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                  int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
} tt_backend;

const tt_backend *tt_backend_cpu(void);

/* Convolution geometry shared by im2col/col2im and the conv op. */
typedef struct tt_conv_geom {
    int64_t c, h, w; /* input channels (per group), height, width */
    int64_t kh, kw, sh, sw, ph, pw, dh, dw;
    int64_t oh, ow;
} tt_conv_geom;

/* im2col of one image's channel group: col[(c*kh*kw) x (oh*ow)] with row stride ldc (>= oh*ow),
 * zero where the window falls in padding. col2im is its adjoint: it accumulates into img. */
void tt_im2col(const tt_conv_geom *g, const float *img, float *col, int64_t ldc);
void tt_col2im(const tt_conv_geom *g, const float *col, int64_t ldc, float *img);

#endif
