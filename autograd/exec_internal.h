/* The executor's record, shared by its CPU path (exec.c), its device path (exec_device.c) and
 * the optimiser's device step. */
#ifndef TT_EXEC_INTERNAL_H
#define TT_EXEC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include "tinytrain/exec.h"
#include "kernels/shared/device.h"

#define TT_ALIGN 64

struct tt_exec {
    tt_graph *g;
    int64_t max_batch;
    int64_t batch;    /* batch of the last forward, 0 before any */
    bool trained_fwd; /* last forward was in training mode */
    tt_tensor *val;   /* per value: current tensor (view into the arena or a param) */
    tt_tensor *grad;  /* per value: gradient view, data NULL when not needed */
    bool *needs_grad; /* per value */
    void **saved;     /* per node */
    size_t *saved_bytes;
    void *scratch;
    size_t scratch_bytes;
    void *arena;
    size_t arena_bytes;
    tt_rng rng;
    /* Device mode (tt_exec_create_on): values, gradients, parameters and per-node state live in
     * device memory; the arena above is host staging for inputs and read-backs. */
    tt_dev *dev;
    tt_dbuf **dval, **dgrad, **dsaved; /* per value, per value, per node; NULL where unused */
    size_t *dsaved_bytes;
    tt_dbuf *dscratch;
    size_t dscratch_bytes;
    void *host;
    size_t host_bytes;
    char backend[192];
};

void tt_exec_device_free(tt_exec *e);
tt_status tt_exec_device_set_input(tt_exec *e, int id, size_t bytes);
tt_status tt_exec_device_forward(tt_exec *e, bool training);
tt_status tt_exec_device_backward(tt_exec *e, int id, const float *seed);
/* Read a value (or its gradient) back into its host tensor. */
tt_status tt_exec_device_fetch(tt_exec *e, int id, bool grad);

#endif
