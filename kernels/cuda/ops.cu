/* The shared kernels (kernels/shared/kernels.h) compiled as CUDA, and their launchers. The
 * float operations are the _rn intrinsics, so nvcc cannot contract them into FMA (whatever
 * -fmad says) and division is IEEE-exact, as on the CPU. */
#include <cuda_runtime.h>
#include <stdint.h>
#include <string.h>
#include "kernels/cuda/cuda_internal.h"

#define TT_KERNEL __global__
#define TT_GLOBAL
#define TT_FN            __device__ static inline
#define TT_GID()         ((tt_i64)blockIdx.x * blockDim.x + threadIdx.x)
#define TT_AS_U32(f)     __float_as_uint(f)
#define TT_AS_F32(u)     __uint_as_float(u)
#define TT_U32_AS_I32(u) ((tt_i32)(u))
#define TT_FADD(a, b)    __fadd_rn((a), (b))
#define TT_FSUB(a, b)    __fsub_rn((a), (b))
#define TT_FMUL(a, b)    __fmul_rn((a), (b))
#define TT_FDIV(a, b)    __fdiv_rn((a), (b))
#define TT_FFMA(a, b, c) __fmaf_rn((a), (b), (c))
#define TT_FSQRT(a)      __fsqrt_rn(a)
#define TT_EXPF(a)       expf(a)
#define TT_LOGF(a)       logf(a)
#define TT_TANHF(a)      tanhf(a)
typedef int8_t tt_i8;
typedef int32_t tt_i32;
typedef uint32_t tt_u32;
typedef int64_t tt_i64;
typedef uint8_t tt_u8;

#include "kernels/shared/kernels.h"
#include "kernels/shared/k_conv.h"
#include "kernels/shared/k_train.h"
#include "kernels/shared/k_int8.h"
#include "kernels/shared/k_qat.h"

/* Every kernel launched by name (tt_cuda_launch): the lists at the end of each source. */
#define TT_CUDA_ENTRY(k) {#k, (const void *)k},
static const struct {
    const char *name;
    const void *fn;
} tt_cuda_named[] = {TT_KLIST_CORE(TT_CUDA_ENTRY) TT_KLIST_CONV(TT_CUDA_ENTRY) TT_KLIST_TRAIN(
    TT_CUDA_ENTRY) TT_KLIST_INT8(TT_CUDA_ENTRY) TT_KLIST_QAT(TT_CUDA_ENTRY)};

static const int tt_cuda_block = 256;

static bool grid_for(int64_t items, unsigned *blocks)
{
    int64_t b = (items + tt_cuda_block - 1) / tt_cuda_block;
    if (b > INT32_MAX) return false;
    *blocks = (unsigned)b;
    return true;
}

/* The launch's error, else the kernel's. */
static int finish(void)
{
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess) e = cudaDeviceSynchronize();
    return (int)e;
}

/* The grid for items threads, or false with the error when it does not fit a launch. */
#define TT_CUDA_GRID(items, blocks)                                                                \
    do {                                                                                           \
        if ((items) == 0) return 0;                                                                \
        if (!grid_for((items), &(blocks))) return (int)cudaErrorInvalidConfiguration;              \
    } while (0)

/* -1 when the kernel takes exactly nargs parameters of these sizes, else the index of the first
 * that differs (nargs when the kernel takes more). */
static int check_params(const void *fn, int nargs, const size_t *sizes)
{
    size_t off, size;
    for (int i = 0; i < nargs; i++)
        if (cudaFuncGetParamInfo(fn, (size_t)i, &off, &size) != cudaSuccess || size != sizes[i]) {
            cudaGetLastError();
            return i;
        }
    if (cudaFuncGetParamInfo(fn, (size_t)nargs, &off, &size) == cudaSuccess) return nargs;
    cudaGetLastError();
    return -1;
}

extern "C" int tt_cuda_launch(const char *name, int64_t items, void **args, const size_t *sizes,
                              int nargs, int *found, int *bad_arg)
{
    *found = 0;
    *bad_arg = -1;
    for (size_t i = 0; i < sizeof tt_cuda_named / sizeof tt_cuda_named[0]; i++) {
        if (strcmp(tt_cuda_named[i].name, name) != 0) continue;
        *found = 1;
        if ((*bad_arg = check_params(tt_cuda_named[i].fn, nargs, sizes)) >= 0) return 0;
        unsigned blocks;
        TT_CUDA_GRID(items, blocks);
        cudaError_t e =
            cudaLaunchKernel(tt_cuda_named[i].fn, dim3(blocks), dim3(tt_cuda_block), args, 0, 0);
        if (e != cudaSuccess) return (int)e;
        return finish();
    }
    return 0;
}
