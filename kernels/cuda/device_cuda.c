/* The CUDA backend's device layer, on the CUDA runtime API (linked statically, so a binary
 * built with TT_CUDA=ON starts on machines without CUDA and reports "no CUDA device"). The
 * kernels are in ops.cu. */
#include <cublas_api.h>
#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "autograd/internal.h"
#include "kernels/cuda/cuda_internal.h"
#include "kernels/shared/device.h"

static tt_status cuda_count(int *n)
{
    TT_CHECK_NULL(n, "CUDA device count");
    *n = 0;
    cudaError_t e = cudaGetDeviceCount(n);
    if (e != cudaSuccess) {
        *n = 0;
        cudaGetLastError(); /* not sticky: clear it */
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "no CUDA device (%s); a GPU and the NVIDIA driver are needed",
                       cudaGetErrorString(e));
    }
    if (*n == 0)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "no CUDA device (the driver reports none); a GPU is needed");
    return TT_OK;
}

static tt_status check_index(int index)
{
    int n = 0;
    TT_CHECK(cuda_count(&n));
    if (index < 0 || index >= n)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "CUDA device %d does not exist: this machine has %d (0..%d; see "
                       "'tinytrain backends')",
                       index, n, n - 1);
    return TT_OK;
}

static tt_status cuda_describe(int index, tt_backend_device *out)
{
    TT_CHECK_NULL(out, "CUDA device description");
    TT_CHECK(check_index(index));
    struct cudaDeviceProp p;
    cudaError_t e = cudaGetDeviceProperties(&p, index);
    if (e != cudaSuccess)
        return tt_fail(TT_ERR_UNSUPPORTED, "CUDA device %d: %s", index, cudaGetErrorString(e));
    int rt = 0;
    cudaRuntimeGetVersion(&rt);
    memset(out, 0, sizeof *out);
    out->kind = TT_BACKEND_CUDA;
    out->index = index;
    snprintf(out->name, sizeof out->name, "%.127s", p.name); /* p.name has 256 */
    snprintf(out->platform, sizeof out->platform, "CUDA runtime %d.%d, compute %d.%d", rt / 1000,
             (rt % 1000) / 10, p.major, p.minor);
    out->global_mem = (uint64_t)p.totalGlobalMem;
    return TT_OK;
}

/* A failed runtime call: out of memory is TT_ERR_NOMEM with the device-memory message. */
static tt_status cuda_fail(const tt_dev *d, const char *what, int err, size_t bytes)
{
    cudaGetLastError();
    if (err == cudaErrorMemoryAllocation) return tt_dev_fail_nomem(d, bytes, what);
    return tt_fail(TT_ERR_UNSUPPORTED, "CUDA device %d '%s': %s failed: %s", d->info.index,
                   d->info.name, what, cudaGetErrorString((cudaError_t)err));
}

/* The runtime's current device is per host thread: select ours before every call. */
static tt_status use(const tt_dev *d)
{
    cudaError_t e = cudaSetDevice(d->info.index);
    return e == cudaSuccess ? TT_OK : cuda_fail(d, "cudaSetDevice", e, 0);
}

/* cuBLAS, loaded at open when the machine has it (never linked: a TT_CUDA build must start
 * where only the driver, or nothing, is installed); without it GEMMs run the shared kernel. */
typedef struct cuda_impl {
    void *lib;
    cublasHandle_t h;
    cublasStatus_t (*destroy)(cublasHandle_t);
    cublasStatus_t (*sgemm)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                            const float *, const float *, int, const float *, int, const float *,
                            float *, int);
    cublasStatus_t (*sgemm_sb)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                               const float *, const float *, int, long long, const float *, int,
                               long long, const float *, float *, int, long long, int);
} cuda_impl;

static void load_cublas(tt_dev *d)
{
    cuda_impl *c = calloc(1, sizeof *c);
    if (!c) return;
    const char *names[] = {"libcublas.so.13", "libcublas.so.12", "libcublas.so"};
    for (size_t i = 0; i < sizeof names / sizeof *names && !c->lib; i++)
        c->lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    cublasStatus_t (*create)(cublasHandle_t *) = NULL;
    if (c->lib) {
        *(void **)&create = dlsym(c->lib, "cublasCreate_v2");
        *(void **)&c->destroy = dlsym(c->lib, "cublasDestroy_v2");
        *(void **)&c->sgemm = dlsym(c->lib, "cublasSgemm_v2");
        *(void **)&c->sgemm_sb = dlsym(c->lib, "cublasSgemmStridedBatched");
    }
    if (!create || !c->destroy || !c->sgemm || !c->sgemm_sb ||
        create(&c->h) != CUBLAS_STATUS_SUCCESS) {
        if (c->lib) dlclose(c->lib);
        free(c);
        return;
    }
    d->impl = c;
    size_t n = strlen(d->info.platform);
    snprintf(d->info.platform + n, sizeof d->info.platform - n, ", cuBLAS");
}

static tt_status cuda_open(int index, tt_dev **out)
{
    TT_CHECK_NULL(out, "CUDA device open");
    *out = NULL;
    tt_dev *d = calloc(1, sizeof *d);
    if (!d) return tt_fail(TT_ERR_NOMEM, "CUDA device open: out of host memory");
    d->ops = tt_device_cuda();
    tt_status s = cuda_describe(index, &d->info);
    if (s == TT_OK) s = use(d);
    if (s != TT_OK) {
        free(d);
        return s;
    }
    if (!getenv("TT_CUDA_NO_CUBLAS")) load_cublas(d);
    *out = d;
    return TT_OK;
}

static void cuda_close(tt_dev *d)
{
    if (!d) return;
    cuda_impl *c = d->impl;
    if (c) {
        if (use(d) == TT_OK) c->destroy(c->h);
        dlclose(c->lib);
        free(c);
    }
    free(d);
}

static tt_status cuda_alloc(tt_dev *d, size_t bytes, tt_dbuf **out)
{
    TT_CHECK_NULL(d, "CUDA alloc");
    TT_CHECK_NULL(out, "CUDA alloc");
    *out = NULL;
    TT_CHECK(use(d));
    tt_dbuf *b = calloc(1, sizeof *b);
    if (!b) return tt_fail(TT_ERR_NOMEM, "CUDA alloc: out of host memory");
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        free(b);
        return cuda_fail(d, "cudaMalloc", e, bytes);
    }
    b->bytes = bytes;
    b->impl = p;
    *out = b;
    return TT_OK;
}

static void cuda_free(tt_dev *d, tt_dbuf *b)
{
    if (!b) return;
    if (b->impl && use(d) == TT_OK) cudaFree(b->impl);
    free(b);
}

static tt_status copy(tt_dev *d, void *dst, const void *src, size_t bytes, int dir)
{
    if (bytes == 0) return TT_OK;
    TT_CHECK(use(d));
    cudaError_t e = cudaMemcpy(dst, src, bytes, (enum cudaMemcpyKind)dir);
    return e == cudaSuccess ? TT_OK : cuda_fail(d, "cudaMemcpy", e, bytes);
}

static void *ptr(const tt_dbuf *b)
{
    return b ? b->impl : NULL;
}

/* A launcher's result as a status. */
static tt_status done(const tt_dev *d, const char *kernel, int e)
{
    return e == 0 ? TT_OK : cuda_fail(d, kernel, e, 0);
}

/* Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: cuBLAS gets B first. */
static tt_status cuda_sgemm_sb(tt_dev *d, const tt_dev_sgemm_sb *a)
{
    TT_CHECK_NULL(d, "CUDA batched float32 GEMM");
    TT_CHECK(tt_dev_check_sgemm_sb(a));
    cuda_impl *c = d->impl;
    const tt_dev_sgemm *g = &a->g;
    bool fits = g->m <= INT32_MAX && g->n <= INT32_MAX && g->k <= INT32_MAX &&
                g->lda <= INT32_MAX && g->ldb <= INT32_MAX && g->ldc <= INT32_MAX &&
                a->batch <= INT32_MAX;
    if (!c || !fits) return tt_dev_sgemm_sb_kernel(d, a);
    if (g->m * g->n == 0) return TT_OK;
    TT_CHECK(use(d));
    cublasOperation_t ta = g->ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                      tb = g->tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    const float *pa = (const float *)ptr(g->a) + a->a_off,
                *pb = (const float *)ptr(g->b) + a->b_off;
    float *pc = (float *)ptr(g->c) + a->c_off;
    cublasStatus_t st = CUBLAS_STATUS_SUCCESS;
    if (!a->reduce) {
        st = c->sgemm_sb(c->h, tb, ta, (int)g->n, (int)g->m, (int)g->k, &g->alpha, pb, (int)g->ldb,
                         a->b_bs, pa, (int)g->lda, a->a_bs, &g->beta, pc, (int)g->ldc, a->c_bs,
                         (int)a->batch);
    } else {
        const float one = 1.0f;
        for (int64_t i = 0; i < a->batch && st == CUBLAS_STATUS_SUCCESS; i++)
            st = c->sgemm(c->h, tb, ta, (int)g->n, (int)g->m, (int)g->k, &g->alpha,
                          pb + i * a->b_bs, (int)g->ldb, pa + i * a->a_bs, (int)g->lda,
                          i == 0 ? &g->beta : &one, pc, (int)g->ldc);
    }
    if (st != CUBLAS_STATUS_SUCCESS)
        return tt_fail(TT_ERR_UNSUPPORTED, "CUDA device %d '%s': cuBLAS SGEMM failed (status %d)",
                       d->info.index, d->info.name, (int)st);
    cudaError_t e = cudaDeviceSynchronize();
    return e == cudaSuccess ? TT_OK : cuda_fail(d, "cuBLAS SGEMM", e, 0);
}

static tt_status cuda_launch(tt_dev *d, const char *name, int64_t items, int nargs,
                             const tt_karg *args)
{
    TT_CHECK(use(d));
    /* Each argument's value, typed as the kernel declares it; a NULL buffer is a NULL pointer
     * (the kernels read optional inputs only under their has_ flag). */
    union {
        void *p;
        int32_t i32;
        int64_t i64;
        float f;
    } val[32];
    void *ptrs[32];
    size_t sizes[32];
    for (int i = 0; i < nargs; i++) {
        switch (args[i].kind) {
        case TT_KARG_BUF:
            val[i].p = ptr(args[i].buf);
            sizes[i] = sizeof(void *);
            break;
        case TT_KARG_I32:
            val[i].i32 = (int32_t)args[i].i;
            sizes[i] = sizeof(int32_t);
            break;
        case TT_KARG_I64:
            val[i].i64 = args[i].i;
            sizes[i] = sizeof(int64_t);
            break;
        default:
            val[i].f = args[i].f;
            sizes[i] = sizeof(float);
            break;
        }
        ptrs[i] = &val[i];
    }
    int found = 0, bad = -1;
    int e = tt_cuda_launch(name, items, ptrs, sizes, nargs, &found, &bad);
    if (!found)
        return tt_fail(TT_ERR_INVALID_ARG, "CUDA device %d: no kernel named '%s' in this build",
                       d->info.index, name);
    if (bad >= 0)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "CUDA kernel %s: argument %d does not match its parameters (%d given)", name,
                       bad, nargs);
    return done(d, name, e);
}

static tt_status cuda_copy(tt_dev *d, tt_dbuf *dst, size_t dst_off, const tt_dbuf *src,
                           size_t src_off, size_t bytes)
{
    TT_CHECK_NULL(d, "CUDA copy");
    TT_CHECK(tt_dev_check_range("CUDA copy (destination)", dst, dst_off, bytes));
    TT_CHECK(tt_dev_check_range("CUDA copy (source)", src, src_off, bytes));
    return copy(d, (char *)dst->impl + dst_off, (const char *)src->impl + src_off, bytes,
                cudaMemcpyDeviceToDevice);
}

static tt_status cuda_zero(tt_dev *d, tt_dbuf *b, size_t off, size_t bytes)
{
    TT_CHECK_NULL(d, "CUDA zero");
    TT_CHECK(tt_dev_check_range("CUDA zero", b, off, bytes));
    if (bytes == 0) return TT_OK;
    TT_CHECK(use(d));
    cudaError_t e = cudaMemset((char *)b->impl + off, 0, bytes);
    return e == cudaSuccess ? TT_OK : cuda_fail(d, "cudaMemset", e, bytes);
}

static tt_status cuda_write_at(tt_dev *d, tt_dbuf *dst, size_t off, const void *src, size_t bytes)
{
    TT_CHECK_NULL(d, "CUDA write");
    TT_CHECK(tt_dev_check_range("CUDA write", dst, off, bytes));
    return copy(d, (char *)dst->impl + off, src, bytes, cudaMemcpyHostToDevice);
}

static tt_status cuda_read_at(tt_dev *d, const tt_dbuf *src, size_t off, void *dst, size_t bytes)
{
    TT_CHECK_NULL(d, "CUDA read");
    TT_CHECK(tt_dev_check_range("CUDA read", src, off, bytes));
    return copy(d, dst, (const char *)src->impl + off, bytes, cudaMemcpyDeviceToHost);
}

static const tt_device_ops cuda_ops = {
    .kind = TT_BACKEND_CUDA,
    .count = cuda_count,
    .describe = cuda_describe,
    .open = cuda_open,
    .close = cuda_close,
    .alloc = cuda_alloc,
    .free = cuda_free,
    .sgemm_sb = cuda_sgemm_sb,
    .launch = cuda_launch,
    .copy = cuda_copy,
    .zero = cuda_zero,
    .write_at = cuda_write_at,
    .read_at = cuda_read_at,
};

const tt_device_ops *tt_device_cuda(void)
{
    return &cuda_ops;
}
