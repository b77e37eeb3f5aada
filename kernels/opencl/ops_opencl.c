/* Launching the shared kernels on an OpenCL device: arguments, one work-item per element,
 * then a wait, so results are complete when a call returns. */
#include <stdint.h>
#include "autograd/internal.h"
#include "kernels/opencl/opencl_internal.h"

/* Arguments are set in order; the first failure is kept. */
typedef struct cl_args {
    cl_kernel k;
    cl_uint i;
    cl_int err;
} cl_args;

static void arg(cl_args *a, size_t size, const void *v)
{
    if (a->err == CL_SUCCESS) a->err = clSetKernelArg(a->k, a->i, size, v);
    a->i++;
}

static void arg_buf(cl_args *a, const tt_dbuf *b, cl_mem dummy)
{
    cl_mem m = b ? (cl_mem)b->impl : dummy;
    arg(a, sizeof m, &m);
}

static void arg_i64(cl_args *a, int64_t v)
{
    cl_long x = v;
    arg(a, sizeof x, &x);
}

static void arg_i32(cl_args *a, int32_t v)
{
    cl_int x = v;
    arg(a, sizeof x, &x);
}

static void arg_f32(cl_args *a, float v)
{
    cl_float x = v;
    arg(a, sizeof x, &x);
}

static tt_status launch(tt_dev *d, const cl_args *a, const char *name, int64_t items)
{
    if (a->err != CL_SUCCESS) return tt_cl_fail(d, "clSetKernelArg", a->err, 0);
    if (items == 0) return TT_OK;
    tt_cl_dev *c = d->impl;
    size_t global = (size_t)items;
    cl_int err = clEnqueueNDRangeKernel(c->queue, a->k, 1, NULL, &global, NULL, 0, NULL, NULL);
    if (err == CL_SUCCESS) err = clFinish(c->queue);
    return err == CL_SUCCESS ? TT_OK : tt_cl_fail(d, name, err, 0);
}

tt_status tt_cl_fq_forward(tt_dev *d, const tt_dev_fq *p)
{
    TT_CHECK_NULL(d, "OpenCL FakeQuant forward");
    TT_CHECK(tt_dev_check_fq(p));
    tt_cl_dev *c = d->impl;
    cl_args a = {c->fq_forward, 0, CL_SUCCESS};
    arg_buf(&a, p->x, c->dummy);
    arg_buf(&a, p->y, c->dummy);
    arg_buf(&a, p->code, c->dummy);
    arg_i64(&a, p->n);
    arg_i64(&a, p->channels);
    arg_i64(&a, p->inner);
    arg_buf(&a, p->scale, c->dummy);
    arg_buf(&a, p->zero_point, c->dummy);
    arg_f32(&a, p->qmin);
    arg_f32(&a, p->qmax);
    return launch(d, &a, "tt_fq_forward", p->n);
}

tt_status tt_cl_fq_backward(tt_dev *d, const tt_dev_fq_bwd *p)
{
    TT_CHECK_NULL(d, "OpenCL FakeQuant backward");
    TT_CHECK(tt_dev_check_fq_bwd(p));
    tt_cl_dev *c = d->impl;
    cl_args a = {c->fq_backward, 0, CL_SUCCESS};
    arg_buf(&a, p->dy, c->dummy);
    arg_buf(&a, p->code, c->dummy);
    arg_buf(&a, p->dx, c->dummy);
    arg_i64(&a, p->n);
    return launch(d, &a, "tt_fq_backward", p->n);
}

tt_status tt_cl_qgemm(tt_dev *d, const tt_dev_qgemm *p)
{
    TT_CHECK_NULL(d, "OpenCL int8 GEMM");
    TT_CHECK(tt_dev_check_qgemm(p));
    tt_cl_dev *c = d->impl;
    cl_args a = {c->qgemm, 0, CL_SUCCESS};
    arg_buf(&a, p->w, c->dummy);
    arg_i32(&a, p->w_signed);
    arg_i64(&a, p->w_sm);
    arg_i64(&a, p->w_sk);
    arg_buf(&a, p->w_zp, c->dummy);
    arg_i64(&a, p->w_zp ? p->n_wzp : 0);
    arg_buf(&a, p->x, c->dummy);
    arg_i32(&a, p->x_signed);
    arg_i64(&a, p->x_sk);
    arg_i64(&a, p->x_sn);
    arg_i32(&a, p->x_zp);
    arg_buf(&a, p->y, c->dummy);
    arg_i64(&a, p->y_sm);
    arg_i64(&a, p->y_sn);
    arg_buf(&a, p->mult, c->dummy);
    arg_i64(&a, p->n_mult);
    arg_buf(&a, p->bias, c->dummy);
    arg_i32(&a, p->bias != NULL);
    arg_i32(&a, p->y_zp);
    arg_i32(&a, p->qmin);
    arg_i32(&a, p->qmax);
    arg_i64(&a, p->m);
    arg_i64(&a, p->n);
    arg_i64(&a, p->k);
    return launch(d, &a, "tt_qgemm", p->m * p->n);
}
