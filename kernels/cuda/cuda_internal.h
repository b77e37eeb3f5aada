/* Inside the CUDA backend: the launcher ops.cu exports to the C device layer. It launches one
 * shared kernel (kernels/shared/k*.h) by name with one thread per item, waits for it, and
 * returns the cudaError_t as an int (0 on success). */
#ifndef TT_CUDA_INTERNAL_H
#define TT_CUDA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

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
