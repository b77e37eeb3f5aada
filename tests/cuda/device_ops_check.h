/* The device-op checks shared by the OpenCL test (tests/unit/test_opencl_ops.c) and the CUDA
 * test (tests/cuda/test_cuda_ops.c): one body, run against whichever backend table it is given,
 * every result compared bit for bit with the CPU. */
#ifndef TT_DEVICE_OPS_CHECK_H
#define TT_DEVICE_OPS_CHECK_H

#include "kernels/shared/device.h"

/* The test program's main. ops NULL (backend not built) or no device: prints "skipped: no
 * <label> device (...)" and returns 77, ctest's SKIP_RETURN_CODE. With --expect-no-device
 * (run by ctest with the backend's driver hidden) it instead checks that discovery fails with
 * TT_ERR_UNSUPPORTED and a message containing no_device_msg, and that `open` does too. */
int tt_devtest_main(const tt_device_ops *ops, const char *label, const char *no_device_msg,
                    int argc, char **argv);

#endif
