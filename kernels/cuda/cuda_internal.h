/* Inside the CUDA backend: the launchers ops.cu exports to the C device layer. Each launches
 * one shared kernel (kernels/shared/kernels.h) with one thread per element, waits for it, and
 * returns the cudaError_t as an int (0 on success). */
#ifndef TT_CUDA_INTERNAL_H
#define TT_CUDA_INTERNAL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

int tt_cuda_fq_forward(const float *x, float *y, uint8_t *code, int64_t n, int64_t channels,
                       int64_t inner, const float *scale, const float *zero_point, float qmin,
                       float qmax);
int tt_cuda_fq_backward(const float *dy, const uint8_t *code, float *dx, int64_t n);

typedef struct tt_cuda_qgemm_args {
    const uint8_t *w;
    int w_signed;
    int64_t w_sm, w_sk;
    const int32_t *w_zp;
    int64_t n_wzp;
    const uint8_t *x;
    int x_signed;
    int64_t x_sk, x_sn;
    int32_t x_zp;
    uint8_t *y;
    int64_t y_sm, y_sn;
    const float *mult;
    int64_t n_mult;
    const int32_t *bias;
    int32_t y_zp, qmin, qmax;
    int64_t m, n, k;
} tt_cuda_qgemm_args;
int tt_cuda_qgemm(const tt_cuda_qgemm_args *a);
int tt_cuda_relu_forward(const float *x, float *y, int64_t n);
int tt_cuda_relu_backward(const float *x, const float *dy, float *dx, int64_t n);
int tt_cuda_add_forward(const float *a, const float *b, float *y, int64_t n);
/* dx += dy: Add's backward, once per input that needs a gradient. */
int tt_cuda_accumulate(const float *dy, float *dx, int64_t n);

/* damp1 = 1 - dampening and neg_lr = -lr, rounded on the host as the CPU optimiser does. */
typedef struct tt_cuda_sgd_args {
    float *p;
    const float *grad;
    float *buf; /* NULL: no momentum */
    int64_t n;
    float wd, mom, damp1, neg_lr;
    int nesterov, first;
} tt_cuda_sgd_args;
int tt_cuda_sgd_step(const tt_cuda_sgd_args *a);

typedef struct tt_cuda_sgemm_args {
    int ta, tb;
    int64_t m, n, k;
    float alpha;
    const float *a;
    int64_t lda;
    const float *b;
    int64_t ldb;
    float beta;
    float *c;
    int64_t ldc;
} tt_cuda_sgemm_args;
int tt_cuda_sgemm(const tt_cuda_sgemm_args *a);

/* Kernel `name` over items threads; args point at each argument's value (a device pointer for
 * a buffer), sizes give their byte sizes. *found = 0 when no kernel has that name; *bad_arg is
 * the first argument whose size the kernel's parameters do not match (nargs when it takes
 * more), -1 when all match; nothing is launched unless both are fine. */
int tt_cuda_launch(const char *name, int64_t items, void **args, const size_t *sizes, int nargs,
                   int *found, int *bad_arg);

#ifdef __cplusplus
}
#endif
#endif
