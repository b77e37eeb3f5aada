/* Kernels launched by name on an OpenCL device, and byte-range transfers. Kernels are created
 * from the built program on first use and kept for the device's life. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include "autograd/internal.h"
#include "kernels/opencl/opencl_internal.h"

static tt_status find_kernel(tt_dev *d, const char *name, cl_kernel *out, cl_uint *nargs)
{
    tt_cl_dev *c = d->impl;
    for (int i = 0; i < c->n_named; i++)
        if (strcmp(c->named[i].name, name) == 0) {
            *out = c->named[i].k;
            *nargs = c->named[i].nargs;
            return TT_OK;
        }
    if (c->n_named == TT_CL_NAMED_MAX || strlen(name) >= sizeof c->named[0].name)
        return tt_fail(TT_ERR_INVALID_ARG, "OpenCL kernel '%s': name too long or too many kernels",
                       name);
    cl_int err;
    cl_kernel k = clCreateKernel(c->program, name, &err);
    if (err != CL_SUCCESS) return tt_cl_fail(d, name, err, 0);
    cl_uint n = 0;
    err = clGetKernelInfo(k, CL_KERNEL_NUM_ARGS, sizeof n, &n, NULL);
    if (err != CL_SUCCESS) {
        clReleaseKernel(k);
        return tt_cl_fail(d, name, err, 0);
    }
    snprintf(c->named[c->n_named].name, sizeof c->named[0].name, "%s", name);
    c->named[c->n_named].nargs = n;
    c->named[c->n_named++].k = k;
    *out = k;
    *nargs = n;
    return TT_OK;
}

static cl_int set_arg(cl_kernel k, cl_uint i, const tt_karg *a, cl_mem dummy)
{
    switch (a->kind) {
    case TT_KARG_BUF: {
        cl_mem m = a->buf ? (cl_mem)a->buf->impl : dummy;
        return clSetKernelArg(k, i, sizeof m, &m);
    }
    case TT_KARG_I32: {
        cl_int v = (cl_int)a->i;
        return clSetKernelArg(k, i, sizeof v, &v);
    }
    case TT_KARG_I64: {
        cl_long v = a->i;
        return clSetKernelArg(k, i, sizeof v, &v);
    }
    default: {
        cl_float v = a->f;
        return clSetKernelArg(k, i, sizeof v, &v);
    }
    }
}

tt_status tt_cl_launch(tt_dev *d, const char *name, int64_t items, int nargs, const tt_karg *args)
{
    tt_cl_dev *c = d->impl;
    cl_kernel k = NULL;
    cl_uint want = 0;
    TT_CHECK(find_kernel(d, name, &k, &want));
    /* arguments persist between launches: a short list would silently reuse the last ones */
    if ((cl_uint)nargs != want)
        return tt_fail(TT_ERR_INVALID_ARG, "OpenCL kernel %s takes %u arguments, %d given", name,
                       (unsigned)want, nargs);
    for (int i = 0; i < nargs; i++) {
        cl_int err = set_arg(k, (cl_uint)i, &args[i], c->dummy);
        if (err != CL_SUCCESS) return tt_cl_fail(d, name, err, 0);
    }
    size_t global = (size_t)items;
    cl_int err = clEnqueueNDRangeKernel(c->queue, k, 1, NULL, &global, NULL, 0, NULL, NULL);
    if (err == CL_SUCCESS) err = clFinish(c->queue);
    return err == CL_SUCCESS ? TT_OK : tt_cl_fail(d, name, err, 0);
}

tt_status tt_cl_copy(tt_dev *d, tt_dbuf *dst, size_t dst_off, const tt_dbuf *src, size_t src_off,
                     size_t bytes)
{
    TT_CHECK_NULL(d, "OpenCL copy");
    TT_CHECK(tt_dev_check_range("OpenCL copy (destination)", dst, dst_off, bytes));
    TT_CHECK(tt_dev_check_range("OpenCL copy (source)", src, src_off, bytes));
    if (bytes == 0) return TT_OK;
    tt_cl_dev *c = d->impl;
    cl_int err = clEnqueueCopyBuffer(c->queue, (cl_mem)src->impl, (cl_mem)dst->impl, src_off,
                                     dst_off, bytes, 0, NULL, NULL);
    if (err == CL_SUCCESS) err = clFinish(c->queue);
    return err == CL_SUCCESS ? TT_OK : tt_cl_fail(d, "clEnqueueCopyBuffer", err, bytes);
}

tt_status tt_cl_zero(tt_dev *d, tt_dbuf *b, size_t off, size_t bytes)
{
    TT_CHECK_NULL(d, "OpenCL zero");
    TT_CHECK(tt_dev_check_range("OpenCL zero", b, off, bytes));
    if (bytes == 0) return TT_OK;
    tt_cl_dev *c = d->impl;
    cl_uchar z = 0;
    cl_int err = clEnqueueFillBuffer(c->queue, (cl_mem)b->impl, &z, 1, off, bytes, 0, NULL, NULL);
    if (err == CL_SUCCESS) err = clFinish(c->queue);
    return err == CL_SUCCESS ? TT_OK : tt_cl_fail(d, "clEnqueueFillBuffer", err, bytes);
}

tt_status tt_cl_write_at(tt_dev *d, tt_dbuf *dst, size_t off, const void *src, size_t bytes)
{
    TT_CHECK_NULL(d, "OpenCL write");
    TT_CHECK(tt_dev_check_range("OpenCL write", dst, off, bytes));
    if (bytes == 0) return TT_OK;
    tt_cl_dev *c = d->impl;
    cl_int err =
        clEnqueueWriteBuffer(c->queue, (cl_mem)dst->impl, CL_TRUE, off, bytes, src, 0, NULL, NULL);
    return err == CL_SUCCESS ? TT_OK : tt_cl_fail(d, "clEnqueueWriteBuffer", err, bytes);
}

tt_status tt_cl_read_at(tt_dev *d, const tt_dbuf *src, size_t off, void *dst, size_t bytes)
{
    TT_CHECK_NULL(d, "OpenCL read");
    TT_CHECK(tt_dev_check_range("OpenCL read", src, off, bytes));
    if (bytes == 0) return TT_OK;
    tt_cl_dev *c = d->impl;
    cl_int err =
        clEnqueueReadBuffer(c->queue, (cl_mem)src->impl, CL_TRUE, off, bytes, dst, 0, NULL, NULL);
    return err == CL_SUCCESS ? TT_OK : tt_cl_fail(d, "clEnqueueReadBuffer", err, bytes);
}

/* CLBlast's C API constants (clblast_c.h): row major, no transpose, transpose. */
enum { CLB_ROW_MAJOR = 101, CLB_NO = 111, CLB_YES = 112 };

void tt_cl_load_clblast(tt_dev *d)
{
    tt_cl_dev *c = d->impl;
    if (getenv("TT_OPENCL_NO_CLBLAST")) return;
    c->clblast = dlopen("libclblast.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!c->clblast) return;
    *(void **)&c->clblast_sgemm_sb = dlsym(c->clblast, "CLBlastSgemmStridedBatched");
    *(void **)&c->clblast_sgemm = dlsym(c->clblast, "CLBlastSgemm");
    if (!c->clblast_sgemm_sb || !c->clblast_sgemm) {
        dlclose(c->clblast);
        c->clblast = NULL;
        return;
    }
    size_t n = strlen(d->info.platform);
    snprintf(d->info.platform + n, sizeof d->info.platform - n, ", CLBlast");
}

/* CLBlast reads C even when beta is 0 (0 * NaN is NaN): zero the outputs first, as BLAS's
 * "beta 0 does not read C" demands. The reduce mode is one GEMM per matrix of the batch. */
static tt_status clblast_sgemm_sb(tt_dev *d, const tt_dev_sgemm_sb *a)
{
    tt_cl_dev *c = d->impl;
    const tt_dev_sgemm *g = &a->g;
    int64_t mats = a->reduce ? 1 : a->batch;
    if (g->beta == 0.0f)
        TT_CHECK(TT_DEV_LAUNCH(d, "tt_zero_mats", g->m * g->n * mats, TT_KBUF(g->c),
                               TT_KI64(a->c_off), TT_KI64(g->ldc), TT_KI64(a->c_bs), TT_KI64(g->m),
                               TT_KI64(g->n), TT_KI64(g->m * g->n * mats)));
    int ta = g->ta ? CLB_YES : CLB_NO, tb = g->tb ? CLB_YES : CLB_NO;
    cl_mem ma = g->a->impl, mb = g->b->impl, mc = g->c->impl;
    int st = 0;
    size_t m = (size_t)g->m, n = (size_t)g->n, k = (size_t)g->k;
    if (!a->reduce && a->batch > 1)
        st = c->clblast_sgemm_sb(
            CLB_ROW_MAJOR, ta, tb, m, n, k, g->alpha, ma, (size_t)a->a_off, (size_t)g->lda,
            (size_t)a->a_bs, mb, (size_t)a->b_off, (size_t)g->ldb, (size_t)a->b_bs, g->beta, mc,
            (size_t)a->c_off, (size_t)g->ldc, (size_t)a->c_bs, (size_t)a->batch, &c->queue, NULL);
    for (int64_t i = 0; (a->reduce || a->batch == 1) && i < a->batch && st == 0; i++)
        st = c->clblast_sgemm(
            CLB_ROW_MAJOR, ta, tb, m, n, k, g->alpha, ma, (size_t)(a->a_off + i * a->a_bs),
            (size_t)g->lda, mb, (size_t)(a->b_off + i * a->b_bs), (size_t)g->ldb,
            i > 0 ? 1.0f : g->beta, mc, (size_t)a->c_off, (size_t)g->ldc, &c->queue, NULL);
    if (st != 0)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "OpenCL device %d '%s': CLBlast SGEMM failed (status %d)", d->info.index,
                       d->info.name, st);
    cl_int err = clFinish(c->queue);
    return err == CL_SUCCESS ? TT_OK : tt_cl_fail(d, "CLBlast SGEMM", err, 0);
}

tt_status tt_cl_sgemm_sb(tt_dev *d, const tt_dev_sgemm_sb *a)
{
    TT_CHECK_NULL(d, "OpenCL batched float32 GEMM");
    TT_CHECK(tt_dev_check_sgemm_sb(a));
    tt_cl_dev *c = d->impl;
    if (!c->clblast_sgemm_sb || a->g.m * a->g.n == 0) return tt_dev_sgemm_sb_kernel(d, a);
    if (a->g.k == 0 || a->g.alpha == 0.0f) return tt_dev_sgemm_sb_kernel(d, a);
    return clblast_sgemm_sb(d, a);
}
