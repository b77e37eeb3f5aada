/* The device layer every accelerator backend (OpenCL, CUDA) implements behind one table, so the
 * same tests and callers serve both; the CPU is the oracle they are checked against
 * (DESIGN.md section 3, docs/backends.md).
 *
 * This is the first slice of the device backends: device discovery, buffers, and the kernels
 * whose results must be bit-identical to the CPU (FakeQuant forward / straight-through backward,
 * the int8 GEMM with requantisation, Relu and same-shape Add forward / backward, the SGD step),
 * plus the float32 GEMM (the CPU's to a stated tolerance). The arithmetic lives once, in
 * kernels/shared/kernels.h, compiled as OpenCL C and as CUDA. Nothing here trains on a device
 * yet. */
#ifndef TT_DEVICE_H
#define TT_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "tinytrain/backends.h"
#include "tinytrain/status.h"

/* A buffer in device memory. impl is the backend's handle (cl_mem, a CUDA device pointer). */
typedef struct tt_dbuf {
    size_t bytes;
    void *impl;
} tt_dbuf;

typedef struct tt_device_ops tt_device_ops;

/* An open device: its context, queue and built kernels live behind impl. */
typedef struct tt_dev {
    const tt_device_ops *ops;
    tt_backend_device info;
    void *impl;
} tt_dev;

/* FakeQuant forward over x viewed as [outer, channels, inner] (channels == inner == ... == 1
 * for per tensor: channels 1, inner n): y = (clamp(round_half_even(x / s[c]) + z[c]) - z[c]) *
 * s[c], code = 0 in range, 1 below (or NaN), 2 above: exactly the CPU op's forward for the
 * scale it quantises with (the op's checks, observers and LSQ clamp stay on the host). */
typedef struct tt_dev_fq {
    int64_t n, channels, inner;
    const tt_dbuf *x, *scale, *zero_point; /* float[n], float[channels], float[channels] */
    tt_dbuf *y, *code;                     /* float[n], uint8[n] */
    float qmin, qmax;
} tt_dev_fq;

/* Straight-through backward: dx[i] += code[i] == 0 ? dy[i] : 0. */
typedef struct tt_dev_fq_bwd {
    int64_t n;
    const tt_dbuf *dy, *code;
    tt_dbuf *dx;
} tt_dev_fq_bwd;

/* The int8 GEMM of kernels/cpu/qgemm.h with device buffers (strides in elements):
 *   acc = bias[m] + sum_k (W[m][k] - w_zp) * (X[k][n] - x_zp)   int32, wrapping as the CPU does
 *   Y[m][n] = tt_requantize(acc, mult[m or 0], y_zp, qmin, qmax)
 * w_zp NULL means 0; n_wzp is 1 or m. bias NULL means none. */
typedef struct tt_dev_qgemm {
    int64_t m, n, k;
    const tt_dbuf *w;
    bool w_signed;
    int64_t w_sm, w_sk;
    const tt_dbuf *w_zp;
    int64_t n_wzp;
    const tt_dbuf *x;
    bool x_signed;
    int64_t x_sk, x_sn;
    int32_t x_zp;
    tt_dbuf *y;
    bool y_signed;
    int64_t y_sm, y_sn;
    const tt_dbuf *mult;
    int64_t n_mult;
    const tt_dbuf *bias;
    int32_t y_zp, qmin, qmax;
} tt_dev_qgemm;

/* Relu forward: y = x > 0 ? x : 0 over n floats. */
typedef struct tt_dev_relu {
    int64_t n;
    const tt_dbuf *x;
    tt_dbuf *y;
} tt_dev_relu;

/* Relu backward: dx[i] += x[i] > 0 ? dy[i] : 0. */
typedef struct tt_dev_relu_bwd {
    int64_t n;
    const tt_dbuf *x, *dy;
    tt_dbuf *dx;
} tt_dev_relu_bwd;

/* Add of two tensors of the same shape: y = a + b (broadcasting stays on the CPU). */
typedef struct tt_dev_add {
    int64_t n;
    const tt_dbuf *a, *b;
    tt_dbuf *y;
} tt_dev_add;

/* Add backward: da += dy and db += dy; a NULL gradient (an input that needs none) is skipped. */
typedef struct tt_dev_add_bwd {
    int64_t n;
    const tt_dbuf *dy;
    tt_dbuf *da, *db;
} tt_dev_add_bwd;

/* One torch.optim.SGD step of one parameter, exactly as tt_optim_step does it on the CPU:
 * g = grad + weight_decay p; with momentum (buf given, momentum != 0) buf = first ? g :
 * momentum buf + (1 - dampening) g and g = nesterov ? g + momentum buf : buf; p -= lr g.
 * first is true on the optimiser's first step (the buffer is then overwritten, not read). */
typedef struct tt_dev_sgd {
    int64_t n;
    tt_dbuf *p;
    const tt_dbuf *grad;
    tt_dbuf *buf; /* momentum buffer, NULL exactly when momentum == 0 */
    float lr, momentum, dampening, weight_decay;
    bool nesterov, first;
} tt_dev_sgd;

/* kernels/backend.h's sgemm on device buffers, row major: C = alpha op(A) op(B) + beta C with
 * op(A) [m, k] (A stored [m, k] with row stride lda, or [k, m] when ta), op(B) [k, n] (stored
 * [k, n] with ldb, or [n, k] when tb), C [m, n] with ldc. As in BLAS, beta == 0 does not read
 * C. Each output sums its k products in order: within a tolerance of OpenBLAS, not bit-exact. */
typedef struct tt_dev_sgemm {
    bool ta, tb;
    int64_t m, n, k;
    float alpha;
    const tt_dbuf *a;
    int64_t lda;
    const tt_dbuf *b;
    int64_t ldb;
    float beta;
    tt_dbuf *c;
    int64_t ldc;
} tt_dev_sgemm;

/* A batch of float32 GEMMs at element offsets (device buffers cannot be offset as pointers on
 * OpenCL): for i < batch, C_i = alpha op(A_i) op(B_i) + beta C_i with X_i starting at
 * x_off + i * x_bs in g's buffers and g's shapes, transposes and leading dimensions. With
 * reduce, the products of the whole batch are summed into one C (at c_off; c_bs unused): the
 * weight gradient of a convolution over a batch of images. CUDA runs it on cuBLAS when the
 * library can be loaded, else on the shared kernel; both agree with OpenBLAS within an NMSE. */
typedef struct tt_dev_sgemm_sb {
    tt_dev_sgemm g;
    int64_t a_off, b_off, c_off;
    int64_t a_bs, b_bs, c_bs;
    int64_t batch;
    bool reduce;
} tt_dev_sgemm_sb;

/* One argument of a kernel launched by name (tt_device_ops.launch), in the kernel's parameter
 * order. BUF binds a device buffer (NULL binds a one-word dummy: an absent optional input),
 * I32 an int / tt_i32 parameter, I64 a tt_i64, F32 a float: the kind must match the kernel's
 * declaration, which the CUDA launch copies by size. */
typedef enum tt_karg_kind { TT_KARG_BUF = 0, TT_KARG_I32, TT_KARG_I64, TT_KARG_F32 } tt_karg_kind;

typedef struct tt_karg {
    tt_karg_kind kind;
    const tt_dbuf *buf;
    int64_t i;
    float f;
} tt_karg;

#define TT_KBUF(b) ((tt_karg){TT_KARG_BUF, (b), 0, 0.0f})
#define TT_KI32(v) ((tt_karg){TT_KARG_I32, NULL, (int64_t)(v), 0.0f})
#define TT_KI64(v) ((tt_karg){TT_KARG_I64, NULL, (int64_t)(v), 0.0f})
#define TT_KF32(v) ((tt_karg){TT_KARG_F32, NULL, 0, (float)(v)})

/* Launch kernel `name` (of kernels/shared/k_*.h) over `items` threads with the arguments given
 * inline: TT_DEV_LAUNCH(d, "tt_fill", n, TT_KBUF(b), TT_KF32(0), TT_KI64(n)). */
#define TT_DEV_LAUNCH(d, name, items, ...)                                                         \
    tt_dev_launch((d), (name), (items), (int)(sizeof((tt_karg[]){__VA_ARGS__}) / sizeof(tt_karg)), \
                  (tt_karg[]){__VA_ARGS__})

struct tt_device_ops {
    tt_backend_kind kind;
    /* Devices present: *n = 0 with TT_ERR_UNSUPPORTED and a message saying why and what to
     * install when there are none. */
    tt_status (*count)(int *n);
    tt_status (*describe)(int index, tt_backend_device *out);
    /* Context, queue and kernels of device index (0-based, as count numbers them). */
    tt_status (*open)(int index, tt_dev **out);
    void (*close)(tt_dev *d);
    /* TT_ERR_NOMEM with "out of device memory" when the device cannot hold it. */
    tt_status (*alloc)(tt_dev *d, size_t bytes, tt_dbuf **out);
    void (*free)(tt_dev *d, tt_dbuf *b);
    /* Batched sgemm: the backend's BLAS when it has one (cuBLAS, CLBlast), else the shared
     * kernel; returns when its results are complete. The other fixed kernels are the same on
     * every backend and are called directly (tt_dev_*_kernel below). */
    tt_status (*sgemm_sb)(tt_dev *d, const tt_dev_sgemm_sb *a);
    /* Any kernel of the shared sources by name, one thread per item (the kernel checks its
     * bound); returns when it has finished. Callers check shapes against buffers first. */
    tt_status (*launch)(tt_dev *d, const char *name, int64_t items, int nargs, const tt_karg *args);
    /* Byte ranges: device to device, a fill with zero bytes, host to device and back. */
    tt_status (*copy)(tt_dev *d, tt_dbuf *dst, size_t dst_off, const tt_dbuf *src, size_t src_off,
                      size_t bytes);
    tt_status (*zero)(tt_dev *d, tt_dbuf *b, size_t off, size_t bytes);
    tt_status (*write_at)(tt_dev *d, tt_dbuf *dst, size_t off, const void *src, size_t bytes);
    tt_status (*read_at)(tt_dev *d, const tt_dbuf *src, size_t off, void *dst, size_t bytes);
};

/* d->ops->launch after checking the arguments (kinds, buffers present where required). */
tt_status tt_dev_launch(tt_dev *d, const char *name, int64_t items, int nargs, const tt_karg *args);
/* A byte range [off, off + bytes) of b, checked against its size. */
tt_status tt_dev_check_range(const char *what, const tt_dbuf *b, size_t off, size_t bytes);

/* The fixed kernels, the same on every backend (device_kernels.c): they check their arguments
 * and launch the shared kernels by name through d->ops->launch; each returns when its results
 * are complete. */
tt_status tt_dev_fq_forward_kernel(tt_dev *d, const tt_dev_fq *a);
tt_status tt_dev_fq_backward_kernel(tt_dev *d, const tt_dev_fq_bwd *a);
tt_status tt_dev_qgemm_kernel(tt_dev *d, const tt_dev_qgemm *a);
tt_status tt_dev_relu_forward_kernel(tt_dev *d, const tt_dev_relu *a);
tt_status tt_dev_relu_backward_kernel(tt_dev *d, const tt_dev_relu_bwd *a);
tt_status tt_dev_add_forward_kernel(tt_dev *d, const tt_dev_add *a);
tt_status tt_dev_add_backward_kernel(tt_dev *d, const tt_dev_add_bwd *a);
tt_status tt_dev_sgd_step_kernel(tt_dev *d, const tt_dev_sgd *a);
tt_status tt_dev_sgemm_kernel(tt_dev *d, const tt_dev_sgemm *a);

/* The backends compiled into this build; NULL when one is not (TT_OPENCL / TT_CUDA off). */
const tt_device_ops *tt_device_opencl(void);
const tt_device_ops *tt_device_cuda(void);

/* Argument checks shared by the backends, run before a kernel is enqueued so that a bad
 * shape or stride can never make a device read or write outside a buffer. */
tt_status tt_dev_check_fq(const tt_dev_fq *a);
tt_status tt_dev_check_fq_bwd(const tt_dev_fq_bwd *a);
tt_status tt_dev_check_qgemm(const tt_dev_qgemm *a);
tt_status tt_dev_check_relu(const tt_dev_relu *a);
tt_status tt_dev_check_relu_bwd(const tt_dev_relu_bwd *a);
tt_status tt_dev_check_add(const tt_dev_add *a);
tt_status tt_dev_check_add_bwd(const tt_dev_add_bwd *a);
tt_status tt_dev_check_sgd(const tt_dev_sgd *a);
tt_status tt_dev_check_sgemm(const tt_dev_sgemm *a);
tt_status tt_dev_check_sgemm_sb(const tt_dev_sgemm_sb *a);
/* The shared kernel's strided batched GEMM (the OpenCL backend's, CUDA's without cuBLAS). */
tt_status tt_dev_sgemm_sb_kernel(tt_dev *d, const tt_dev_sgemm_sb *a);
/* The message of an allocation the device cannot satisfy. */
tt_status tt_dev_fail_nomem(const tt_dev *d, size_t bytes, const char *detail);

#endif
