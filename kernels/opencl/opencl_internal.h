/* Inside the OpenCL backend: the open device and the error mapping its two files share. */
#ifndef TT_OPENCL_INTERNAL_H
#define TT_OPENCL_INTERNAL_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include "kernels/shared/device.h"

#define TT_CL_NAMED_MAX 128

typedef struct tt_cl_dev {
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;
    cl_program program;
    cl_mem dummy; /* bound where an optional buffer (bias, zero points) is absent */
    cl_ulong max_alloc;
    /* Kernels launched by name, created on first use. */
    struct {
        char name[64];
        cl_kernel k;
        cl_uint nargs;
    } named[TT_CL_NAMED_MAX];
    int n_named;
    /* CLBlast's SGEMM and strided batched SGEMM, loaded at open when the library is there (NULL:
     * the shared kernel runs GEMMs). */
    void *clblast;
    int (*clblast_sgemm_sb)(int layout, int ta, int tb, size_t m, size_t n, size_t k, float alpha,
                            cl_mem a, size_t a_off, size_t lda, size_t a_bs, cl_mem b, size_t b_off,
                            size_t ldb, size_t b_bs, float beta, cl_mem c, size_t c_off, size_t ldc,
                            size_t c_bs, size_t batch, cl_command_queue *queue, cl_event *event);
    int (*clblast_sgemm)(int layout, int ta, int tb, size_t m, size_t n, size_t k, float alpha,
                         cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off, size_t ldb,
                         float beta, cl_mem c, size_t c_off, size_t ldc, cl_command_queue *queue,
                         cl_event *event);
} tt_cl_dev;

/* The flat device index -> platform and device (every platform's devices in order). */
tt_status tt_cl_find(int index, cl_platform_id *platform, cl_device_id *device);
/* A failed OpenCL call: out-of-memory codes give the "out of device memory" TT_ERR_NOMEM,
 * the rest TT_ERR_UNSUPPORTED naming the call and the code. d may be NULL. */
tt_status tt_cl_fail(const tt_dev *d, const char *what, cl_int err, size_t bytes);

/* launch_opencl.c */
tt_status tt_cl_sgemm_sb(tt_dev *d, const tt_dev_sgemm_sb *a);
/* dlopen CLBlast for d (a no-op without it, or with TT_OPENCL_NO_CLBLAST set). */
void tt_cl_load_clblast(tt_dev *d);
tt_status tt_cl_launch(tt_dev *d, const char *name, int64_t items, int nargs, const tt_karg *args);
tt_status tt_cl_copy(tt_dev *d, tt_dbuf *dst, size_t dst_off, const tt_dbuf *src, size_t src_off,
                     size_t bytes);
tt_status tt_cl_zero(tt_dev *d, tt_dbuf *b, size_t off, size_t bytes);
tt_status tt_cl_write_at(tt_dev *d, tt_dbuf *dst, size_t off, const void *src, size_t bytes);
tt_status tt_cl_read_at(tt_dev *d, const tt_dbuf *src, size_t off, void *dst, size_t bytes);

#endif
