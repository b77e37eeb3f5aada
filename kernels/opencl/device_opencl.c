/* The OpenCL backend's device layer: discovery through the ICD loader, a context and in-order
 * queue per device, the shared kernels (kernels/shared/kernels.h) built from the embedded
 * source, and buffers. Runs on PoCL's CPU device here (Debian pocl-opencl-icd). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "autograd/internal.h"
#include "kernels/opencl/opencl_internal.h"

extern const char tt_cl_kernel_source[]; /* generated from prologue.cl + kernels.h */

#define TT_CL_NO_DEVICE     "no OpenCL device: install pocl-opencl-icd (Debian) or a GPU driver"
#define TT_CL_MAX_PLATFORMS 16
#define TT_CL_MAX_DEVICES   64

static bool is_oom(cl_int err)
{
    return err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES ||
           err == CL_OUT_OF_HOST_MEMORY || err == CL_INVALID_BUFFER_SIZE;
}

tt_status tt_cl_fail(const tt_dev *d, const char *what, cl_int err, size_t bytes)
{
    if (d && is_oom(err)) {
        char detail[96];
        snprintf(detail, sizeof detail, "%s returned OpenCL error %d", what, (int)err);
        return tt_dev_fail_nomem(d, bytes, detail);
    }
    return tt_fail(TT_ERR_UNSUPPORTED, "OpenCL: %s failed with error %d%s", what, (int)err,
                   d ? "" : " (is the OpenCL driver installed correctly? see clinfo)");
}

/* All platforms' devices, flattened; *n_dev = 0 with the no-device message when there are none. */
static tt_status list_devices(cl_platform_id *plat_of, cl_device_id *devs, int *n_dev)
{
    cl_platform_id plats[TT_CL_MAX_PLATFORMS];
    cl_uint np = 0;
    *n_dev = 0;
    cl_int err = clGetPlatformIDs(TT_CL_MAX_PLATFORMS, plats, &np);
    if (err != CL_SUCCESS || np == 0)
        return tt_fail(TT_ERR_UNSUPPORTED, TT_CL_NO_DEVICE " (the ICD loader found no platform%s)",
                       err == CL_SUCCESS || err == -1001 ? "" : ", error");
    for (cl_uint p = 0; p < np && np <= TT_CL_MAX_PLATFORMS; p++) {
        cl_uint nd = 0;
        cl_device_id ids[TT_CL_MAX_DEVICES];
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, TT_CL_MAX_DEVICES, ids, &nd) != CL_SUCCESS)
            continue; /* CL_DEVICE_NOT_FOUND: a platform without devices */
        for (cl_uint i = 0; i < nd && i < TT_CL_MAX_DEVICES && *n_dev < TT_CL_MAX_DEVICES; i++) {
            plat_of[*n_dev] = plats[p];
            devs[(*n_dev)++] = ids[i];
        }
    }
    if (*n_dev == 0)
        return tt_fail(TT_ERR_UNSUPPORTED, TT_CL_NO_DEVICE " (%u platform%s, no devices)",
                       (unsigned)np, np == 1 ? "" : "s");
    return TT_OK;
}

static tt_status cl_count(int *n)
{
    TT_CHECK_NULL(n, "OpenCL device count");
    cl_platform_id plats[TT_CL_MAX_DEVICES];
    cl_device_id devs[TT_CL_MAX_DEVICES];
    return list_devices(plats, devs, n);
}

tt_status tt_cl_find(int index, cl_platform_id *platform, cl_device_id *device)
{
    cl_platform_id plats[TT_CL_MAX_DEVICES];
    cl_device_id devs[TT_CL_MAX_DEVICES];
    int n = 0;
    TT_CHECK(list_devices(plats, devs, &n));
    if (index < 0 || index >= n)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "OpenCL device %d does not exist: this machine has %d (0..%d; see "
                       "'tinytrain backends')",
                       index, n, n - 1);
    *platform = plats[index];
    *device = devs[index];
    return TT_OK;
}

static tt_status cl_describe(int index, tt_backend_device *out)
{
    TT_CHECK_NULL(out, "OpenCL device description");
    cl_platform_id p;
    cl_device_id d;
    TT_CHECK(tt_cl_find(index, &p, &d));
    memset(out, 0, sizeof *out);
    out->kind = TT_BACKEND_OPENCL;
    out->index = index;
    cl_ulong mem = 0;
    if (clGetDeviceInfo(d, CL_DEVICE_NAME, sizeof out->name - 1, out->name, NULL) != CL_SUCCESS ||
        clGetPlatformInfo(p, CL_PLATFORM_NAME, sizeof out->platform - 1, out->platform, NULL) !=
            CL_SUCCESS ||
        clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, NULL) != CL_SUCCESS)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "OpenCL device %d: its name or memory size cannot be "
                       "read (clGetDeviceInfo failed)",
                       index);
    out->global_mem = mem;
    return TT_OK;
}

/* The kernels compare bit for bit with the CPU only when division is correctly rounded. */
static tt_status check_fp(const tt_dev *d, cl_device_id id)
{
    cl_device_fp_config fp = 0;
    clGetDeviceInfo(id, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL);
    if (!(fp & CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT))
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "OpenCL device %d '%s' cannot divide float32 correctly rounded "
                       "(CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT): FakeQuant would not match the CPU",
                       d->info.index, d->info.name);
    return TT_OK;
}

static tt_status build_program(tt_dev *d, tt_cl_dev *c)
{
    const char *src = tt_cl_kernel_source;
    cl_int err;
    c->program = clCreateProgramWithSource(c->context, 1, &src, NULL, &err);
    if (err != CL_SUCCESS) return tt_cl_fail(d, "clCreateProgramWithSource", err, 0);
    err = clBuildProgram(c->program, 1, &c->device, "-cl-fp32-correctly-rounded-divide-sqrt", NULL,
                         NULL);
    if (err != CL_SUCCESS) {
        char log[1024] = "";
        clGetProgramBuildInfo(c->program, c->device, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log,
                              NULL);
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "OpenCL device %d '%s': the kernels do not build (error %d): %s",
                       d->info.index, d->info.name, (int)err, log);
    }
    return TT_OK;
}

static tt_status open_impl(tt_dev *d, tt_cl_dev *c)
{
    cl_platform_id p;
    TT_CHECK(tt_cl_find(d->info.index, &p, &c->device));
    TT_CHECK(check_fp(d, c->device));
    clGetDeviceInfo(c->device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof c->max_alloc, &c->max_alloc,
                    NULL);
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)p, 0};
    cl_int err;
    c->context = clCreateContext(props, 1, &c->device, NULL, NULL, &err);
    if (err != CL_SUCCESS) return tt_cl_fail(d, "clCreateContext", err, 0);
    c->queue = clCreateCommandQueue(c->context, c->device, 0, &err);
    if (err != CL_SUCCESS) return tt_cl_fail(d, "clCreateCommandQueue", err, 0);
    c->dummy = clCreateBuffer(c->context, CL_MEM_READ_ONLY, sizeof(cl_int), NULL, &err);
    if (err != CL_SUCCESS) return tt_cl_fail(d, "clCreateBuffer", err, sizeof(cl_int));
    TT_CHECK(build_program(d, c));
    tt_cl_load_clblast(d);
    return TT_OK;
}

static void cl_close(tt_dev *d)
{
    if (!d) return;
    tt_cl_dev *c = d->impl;
    if (c) {
        for (int i = 0; i < c->n_named; i++) clReleaseKernel(c->named[i].k);
        if (c->clblast) dlclose(c->clblast);
        if (c->program) clReleaseProgram(c->program);
        if (c->dummy) clReleaseMemObject(c->dummy);
        if (c->queue) clReleaseCommandQueue(c->queue);
        if (c->context) clReleaseContext(c->context);
        free(c);
    }
    free(d);
}

static tt_status cl_open(int index, tt_dev **out)
{
    TT_CHECK_NULL(out, "OpenCL device open");
    *out = NULL;
    tt_dev *d = calloc(1, sizeof *d);
    tt_cl_dev *c = calloc(1, sizeof *c);
    if (!d || !c) {
        free(d);
        free(c);
        return tt_fail(TT_ERR_NOMEM, "OpenCL device open: out of host memory");
    }
    d->ops = tt_device_opencl();
    d->impl = c;
    tt_status s = cl_describe(index, &d->info);
    if (s == TT_OK) s = open_impl(d, c);
    if (s != TT_OK) {
        cl_close(d);
        return s;
    }
    *out = d;
    return TT_OK;
}

static tt_status cl_alloc(tt_dev *d, size_t bytes, tt_dbuf **out)
{
    TT_CHECK_NULL(d, "OpenCL alloc");
    TT_CHECK_NULL(out, "OpenCL alloc");
    *out = NULL;
    tt_cl_dev *c = d->impl;
    /* PoCL and some drivers allocate lazily: refuse what cannot fit before the first use fails */
    if (bytes > c->max_alloc || bytes > d->info.global_mem) {
        char detail[96];
        snprintf(detail, sizeof detail, "at most %llu bytes per buffer",
                 (unsigned long long)c->max_alloc);
        return tt_dev_fail_nomem(d, bytes, detail);
    }
    tt_dbuf *b = calloc(1, sizeof *b);
    if (!b) return tt_fail(TT_ERR_NOMEM, "OpenCL alloc: out of host memory");
    cl_int err;
    cl_mem m = clCreateBuffer(c->context, CL_MEM_READ_WRITE, bytes ? bytes : 1, NULL, &err);
    if (err != CL_SUCCESS) {
        free(b);
        return tt_cl_fail(d, "clCreateBuffer", err, bytes);
    }
    b->bytes = bytes;
    b->impl = m;
    *out = b;
    return TT_OK;
}

static void cl_free(tt_dev *d, tt_dbuf *b)
{
    (void)d;
    if (!b) return;
    if (b->impl) clReleaseMemObject((cl_mem)b->impl);
    free(b);
}

static const tt_device_ops cl_ops = {
    .kind = TT_BACKEND_OPENCL,
    .count = cl_count,
    .describe = cl_describe,
    .open = cl_open,
    .close = cl_close,
    .alloc = cl_alloc,
    .free = cl_free,
    .sgemm_sb = tt_cl_sgemm_sb,
    .launch = tt_cl_launch,
    .copy = tt_cl_copy,
    .zero = tt_cl_zero,
    .write_at = tt_cl_write_at,
    .read_at = tt_cl_read_at,
};

const tt_device_ops *tt_device_opencl(void)
{
    return &cl_ops;
}
