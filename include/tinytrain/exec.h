/* The executor: runs a graph forward (train or eval mode) and backward by reverse-mode autodiff
 * over the node list. Every buffer (activations, gradients, saved state, scratch) is allocated
 * once in tt_exec_create for a maximum batch; forward and backward never allocate. */
#ifndef TINYTRAIN_EXEC_H
#define TINYTRAIN_EXEC_H

#include <stdbool.h>
#include "tinytrain/graph.h"
#include "tinytrain/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tt_exec tt_exec;

/* Plan g for batches of up to max_batch. The graph must outlive the executor and must not
 * gain nodes while it exists; parameters stay owned by the graph and are used in place. */
tt_status tt_exec_create(tt_graph *g, int64_t max_batch, tt_exec **out);
void tt_exec_free(tt_exec *e);
/* Plan g on a backend: "cpu" (tt_exec_create), "opencl" or "cuda", optionally ":N" for the Nth
 * device of that backend ('tinytrain backends' lists them). On a device every activation,
 * gradient, parameter and node state lives in device memory and every node runs a device kernel:
 * a graph with an op that has none is refused here, naming it; nothing falls back to the CPU.
 * tt_exec_value and tt_exec_grad then return host copies read back on each call (read-only;
 * for a parameter the copy is the graph's own host data, so it also overwrites any host change
 * not yet pushed with tt_exec_params_to_device). */
tt_status tt_exec_create_on(tt_graph *g, int64_t max_batch, const char *backend, tt_exec **out);
/* "cpu", or the device used: "opencl:0 (pthread-haswell-AMD EPYC 7B13)". */
const char *tt_exec_backend(const tt_exec *e);
/* A device executor works on its own copy of the parameters (and of BatchNorm's running
 * statistics): copy them into the graph before reading, saving or exporting it, and back after
 * changing them on the host (loading a checkpoint). Both do nothing on the CPU. */
tt_status tt_exec_params_to_host(tt_exec *e);
tt_status tt_exec_params_to_device(tt_exec *e);

/* Copy one batch into an input value (n rows of its per-sample shape, dtype as declared). */
tt_status tt_exec_set_input(tt_exec *e, int value_id, const void *data, int64_t n);

/* Run every node for a batch of n (n <= max_batch) in train or eval mode. Dropout draws from
 * the executor's RNG (seed it with tt_exec_seed). */
tt_status tt_exec_forward(tt_exec *e, int64_t n, bool training);

/* Backward from a scalar loss value produced by the last forward (which must have been a
 * training forward). Parameter gradients are overwritten, not accumulated across calls. */
tt_status tt_exec_backward(tt_exec *e, int loss_id);
/* Backward from any float value, seeding its gradient with `seed` (as many floats as the value
 * has at the current batch): vector-Jacobian products, gradient checks. */
tt_status tt_exec_backward_from(tt_exec *e, int value_id, const float *seed);

/* The tensor holding a value (activation, input or parameter) for the current batch; NULL for
 * an unknown id. Its shape has the current batch size. */
tt_tensor *tt_exec_value(tt_exec *e, int value_id);
/* tt_exec_value with a status: on a device the read-back can fail (tt_exec_value then returns
 * NULL); *out is set only on success. */
tt_status tt_exec_read(tt_exec *e, int value_id, const tt_tensor **out);
/* The gradient of a value after backward; NULL if the value needs none. */
tt_tensor *tt_exec_grad(tt_exec *e, int value_id);

void tt_exec_seed(tt_exec *e, uint64_t seed);
tt_rng *tt_exec_rng(tt_exec *e);
tt_graph *tt_exec_graph(tt_exec *e);
/* Bytes the executor allocated (activations, grads, saved state, scratch). */
size_t tt_exec_bytes(const tt_exec *e);

#ifdef __cplusplus
}
#endif
#endif
