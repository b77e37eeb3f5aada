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

/* The arguments of kernel which, started. */
static cl_args start(tt_dev *d, int which)
{
    tt_cl_dev *c = d->impl;
    return (cl_args){c->kernels[which], 0, CL_SUCCESS};
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
    cl_args a = start(d, TT_CLK_FQ_FORWARD);
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
    cl_args a = start(d, TT_CLK_FQ_BACKWARD);
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
    cl_args a = start(d, TT_CLK_QGEMM);
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

/* The elementwise kernels: their float buffers then n (an absent one bound to the dummy). */
static tt_status elementwise(tt_dev *d, int which, int count, const tt_dbuf *const *bufs, int64_t n)
{
    tt_cl_dev *c = d->impl;
    cl_args a = start(d, which);
    for (int i = 0; i < count; i++) arg_buf(&a, bufs[i], c->dummy);
    arg_i64(&a, n);
    return launch(d, &a, tt_cl_kernel_names[which], n);
}

tt_status tt_cl_relu_forward(tt_dev *d, const tt_dev_relu *p)
{
    TT_CHECK_NULL(d, "OpenCL Relu forward");
    TT_CHECK(tt_dev_check_relu(p));
    return elementwise(d, TT_CLK_RELU_FORWARD, 2, (const tt_dbuf *const[]){p->x, p->y}, p->n);
}

tt_status tt_cl_relu_backward(tt_dev *d, const tt_dev_relu_bwd *p)
{
    TT_CHECK_NULL(d, "OpenCL Relu backward");
    TT_CHECK(tt_dev_check_relu_bwd(p));
    return elementwise(d, TT_CLK_RELU_BACKWARD, 3, (const tt_dbuf *const[]){p->x, p->dy, p->dx},
                       p->n);
}

tt_status tt_cl_add_forward(tt_dev *d, const tt_dev_add *p)
{
    TT_CHECK_NULL(d, "OpenCL Add forward");
    TT_CHECK(tt_dev_check_add(p));
    return elementwise(d, TT_CLK_ADD_FORWARD, 3, (const tt_dbuf *const[]){p->a, p->b, p->y}, p->n);
}

tt_status tt_cl_add_backward(tt_dev *d, const tt_dev_add_bwd *p)
{
    TT_CHECK_NULL(d, "OpenCL Add backward");
    TT_CHECK(tt_dev_check_add_bwd(p));
    tt_dbuf *grads[2] = {p->da, p->db};
    for (int i = 0; i < 2; i++)
        if (grads[i])
            TT_CHECK(elementwise(d, TT_CLK_ACCUMULATE, 2, (const tt_dbuf *const[]){p->dy, grads[i]},
                                 p->n));
    return TT_OK;
}

tt_status tt_cl_sgd_step(tt_dev *d, const tt_dev_sgd *p)
{
    TT_CHECK_NULL(d, "OpenCL SGD step");
    TT_CHECK(tt_dev_check_sgd(p));
    tt_cl_dev *c = d->impl;
    cl_args a = start(d, TT_CLK_SGD_STEP);
    arg_buf(&a, p->p, c->dummy);
    arg_buf(&a, p->grad, c->dummy);
    arg_buf(&a, p->buf, c->dummy);
    arg_i32(&a, p->buf != NULL);
    arg_i64(&a, p->n);
    arg_f32(&a, p->weight_decay);
    arg_f32(&a, p->momentum);
    arg_f32(&a, (float)(1.0 - (double)p->dampening)); /* rounded as autograd/optim.c does */
    arg_f32(&a, -p->lr);
    arg_i32(&a, p->nesterov);
    arg_i32(&a, p->first);
    return launch(d, &a, "tt_sgd_step", p->n);
}

tt_status tt_cl_sgemm(tt_dev *d, const tt_dev_sgemm *p)
{
    TT_CHECK_NULL(d, "OpenCL float32 GEMM");
    TT_CHECK(tt_dev_check_sgemm(p));
    tt_cl_dev *c = d->impl;
    cl_args a = start(d, TT_CLK_SGEMM);
    arg_i32(&a, p->ta);
    arg_i32(&a, p->tb);
    arg_i64(&a, p->m);
    arg_i64(&a, p->n);
    arg_i64(&a, p->k);
    arg_f32(&a, p->alpha);
    arg_buf(&a, p->a, c->dummy);
    arg_i64(&a, p->lda);
    arg_buf(&a, p->b, c->dummy);
    arg_i64(&a, p->ldb);
    arg_f32(&a, p->beta);
    arg_buf(&a, p->c, c->dummy);
    arg_i64(&a, p->ldc);
    return launch(d, &a, "tt_sgemm", p->m * p->n);
}
