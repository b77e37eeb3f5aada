/* The device op test matrix (ggml's test-backend-ops is the model): one node, built twice from
 * the same seed, run on the CPU executor and on a device executor; every output, every input
 * gradient (backward from a random output gradient) and every parameter the forward updates
 * (BatchNorm's running statistics) must agree, bit for bit or within an NMSE. */
#ifndef TT_DEV_HARNESS_H
#define TT_DEV_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include "tinytrain/tinytrain.h"

typedef enum tt_dh_kind {
    TT_DH_INPUT = 0, /* fed with set_input; gets a gradient when grad is set (floats only) */
    TT_DH_CONST,     /* a graph parameter no optimiser updates (running stats, int8 weights) */
    TT_DH_WEIGHT,    /* a trainable float parameter: gets a gradient */
} tt_dh_kind;

typedef struct tt_dh_input {
    const char *name;
    tt_dtype dtype;
    int ndim;
    int64_t dims[TT_MAX_DIMS];
    tt_dh_kind kind;
    bool grad;
    double lo, hi; /* uniform range; integers are drawn from [lo, hi] inclusive */
} tt_dh_input;

typedef struct tt_dh_case {
    const char *label; /* printed on failure */
    tt_op_type op;
    int n_in;
    tt_dh_input in[TT_MAX_NODE_IO];
    int n_attrs;
    tt_attr attrs[TT_MAX_ATTRS];
    bool training;
    double nmse; /* float tolerance: sum (dev - cpu)^2 / sum cpu^2; 0 demands equal bits */
    uint64_t seed;
} tt_dh_case;

/* The backend under test: $TT_TEST_BACKEND, else "opencl". */
const char *tt_dh_backend(void);
/* Whether that backend has a device here that runs a graph (false prints why). */
bool tt_dh_have_device(const char *backend);
/* A test's start: 0 to run, 77 (ctest's skip) when the backend has no device here, 1 when a
 * device is there but cannot run a graph (kernels that do not build): a failure, not a skip. */
int tt_dh_device_status(const char *backend);
/* 0 when every comparison holds; else the number of failed ones (each printed with the case
 * label, what differed, the NMSE or the first differing element). -1 on a setup error. */
int tt_dh_run(const tt_dh_case *c, const char *backend);

#endif
