/* The CUDA backend against the CPU: the same checks as the OpenCL test
 * (device_ops_check.c). Without a CUDA device (this development machine) it prints "skipped:
 * no CUDA device (...)" and exits 77, which ctest reports as a skip.  test_cuda_no_device runs
 * it with --expect-no-device and CUDA_VISIBLE_DEVICES=-1 (every GPU hidden), checking the message.
 */
#include "device_ops_check.h"

int main(int argc, char **argv)
{
    return tt_devtest_main(tt_device_cuda(), "CUDA", "no CUDA device", argc, argv);
}
