/* The OpenCL backend (PoCL here) against the CPU, bit for bit: FakeQuant forward and backward,
 * per tensor and per channel, on edge values and random shapes; the int8 GEMM with
 * requantisation on random shapes, ties, saturation and a wrapping accumulator; a bogus device
 * index, an allocation beyond device memory, out-of-bounds shapes; and (run by ctest as
 * test_opencl_no_icd, --expect-no-device, with OCL_ICD_VENDORS at an empty directory) the
 * no-ICD message. Without an OpenCL device it prints "skipped: no OpenCL device" and exits 77.
 * The checks are shared with the CUDA test: tests/cuda/device_ops_check.c. */
#include "device_ops_check.h"

int main(int argc, char **argv)
{
    return tt_devtest_main(tt_device_opencl(), "OpenCL",
                           "no OpenCL device: install pocl-opencl-icd (Debian) or a GPU driver",
                           argc, argv);
}
