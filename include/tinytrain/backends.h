/* The compute backends available at run time: the CPU always, plus OpenCL and CUDA devices when
 * this build has those backends (CMake TT_OPENCL, TT_CUDA) and the machine has devices.
 *
 * Executors run on a backend through tt_exec_create_on (tinytrain/exec.h); docs/backends.md
 * lists the ops each device backend has. */
#ifndef TINYTRAIN_BACKENDS_H
#define TINYTRAIN_BACKENDS_H

#include <stdbool.h>
#include <stdint.h>
#include "tinytrain/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tt_backend_kind {
    TT_BACKEND_CPU = 0,
    TT_BACKEND_OPENCL,
    TT_BACKEND_CUDA,
    TT_BACKEND_KIND_COUNT
} tt_backend_kind;

const char *tt_backend_kind_name(tt_backend_kind k); /* "cpu", "opencl", "cuda" */

/* One device. */
typedef struct tt_backend_device {
    tt_backend_kind kind;
    int index;           /* within its backend, 0-based */
    char name[128];      /* "pthread-haswell-AMD EPYC", "NVIDIA H100 80GB HBM3", "cpu" */
    char platform[128];  /* OpenCL platform, CUDA "CUDA <runtime version>", "" for the CPU */
    uint64_t global_mem; /* bytes of device memory; 0 for the CPU */
} tt_backend_device;

#define TT_BACKENDS_MAX_DEVICES 16

/* Per backend: whether this build has it, and its devices or why there are none. */
typedef struct tt_backend_status {
    tt_backend_kind kind;
    bool built;
    int n_devices;
    char reason[256]; /* empty when n_devices > 0 */
} tt_backend_status;

typedef struct tt_backend_list {
    tt_backend_status backends[TT_BACKEND_KIND_COUNT];  /* indexed by tt_backend_kind */
    tt_backend_device devices[TT_BACKENDS_MAX_DEVICES]; /* the CPU first */
    int n_devices;
} tt_backend_list;

/* Probe every backend. A backend without devices is not an error (its reason says why); the
 * call fails only on a NULL argument. */
tt_status tt_backends_list(tt_backend_list *out);

/* Whether backend ("cpu", "opencl[:N]", "cuda[:N]") can run here: TT_OK, or the reason (a
 * malformed name, a backend this build lacks, no such device) as the error. */
tt_status tt_backend_check(const char *backend);

#ifdef __cplusplus
}
#endif
#endif
