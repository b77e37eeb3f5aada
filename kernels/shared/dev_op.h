/* Graph ops on a device: the device executor (tt_exec_create_on) runs each node through one of
 * these instead of the CPU op of autograd/ops. The CPU op is the oracle: forward and backward
 * must compute what it computes (bit for bit where the arithmetic allows, else within the NMSE
 * of the op test matrix, tests/unit/test_dev_ops*.c). There is no fallback: a node whose op has
 * no device definition is refused when the executor is created. */
#ifndef TT_DEV_OP_H
#define TT_DEV_OP_H

#include <stdbool.h>
#include <stddef.h>
#include "tinytrain/graph.h"
#include "tinytrain/rng.h"
#include "kernels/shared/device.h"

/* What a device op sees for one node; the layout follows tt_op_ctx (autograd/op.h). */
typedef struct tt_dop_ctx {
    tt_dev *dev;
    const tt_node *node;
    /* Dtype and shape at the current batch. For a graph parameter, data is its host copy,
     * current only for constants (values no optimiser updates: imported weights, qparams);
     * for everything else data is host staging and must not be read. */
    const tt_tensor *in[TT_MAX_NODE_IO]; /* NULL for an absent optional input */
    const tt_tensor *out[TT_MAX_NODE_IO];
    tt_dbuf *x[TT_MAX_NODE_IO];  /* input buffers (NULL when absent) */
    tt_dbuf *y[TT_MAX_NODE_IO];  /* output buffers */
    tt_dbuf *dx[TT_MAX_NODE_IO]; /* input gradients to accumulate into (+=); NULL: none wanted */
    tt_dbuf *dy[TT_MAX_NODE_IO]; /* output gradients (backward only; NULL: none) */
    tt_dbuf *saved;              /* this node's, kept from forward to backward */
    size_t saved_bytes;
    tt_dbuf *scratch; /* shared by all nodes, for one call */
    size_t scratch_bytes;
    void *host; /* host scratch shared by all nodes (masks drawn on the host, small tables) */
    size_t host_bytes;
    bool training;
    tt_rng *rng; /* the executor's: dropout draws exactly what the CPU op draws */
} tt_dop_ctx;

typedef size_t (*tt_dop_size_fn)(const tt_node *n, const tt_tensor *const *in,
                                 const tt_tensor *out);

typedef struct tt_dop_def {
    tt_status (*forward)(tt_dop_ctx *c);
    tt_status (*backward)(tt_dop_ctx *c); /* NULL: forward only (inference ops) */
    tt_dop_size_fn saved_size;            /* device bytes per node; NULL: none */
    tt_dop_size_fn scratch_size;          /* device bytes shared; NULL: none */
    tt_dop_size_fn host_size;             /* host bytes shared; NULL: none */
} tt_dop_def;

/* The device definition of op, or NULL when there is none. */
const tt_dop_def *tt_dop_get(tt_op_type op);

/* The groups, one file each (kernels/shared/dev_ops_<group>.c); NULL for ops not theirs. */
const tt_dop_def *tt_dops_core(tt_op_type op);  /* Relu, Add/Sub/Mul/Div, Flatten, Reshape */
const tt_dop_def *tt_dops_conv(tt_op_type op);  /* Conv, pools */
const tt_dop_def *tt_dops_train(tt_op_type op); /* Gemm, BatchNorm, Dropout, losses, activations */
const tt_dop_def *tt_dops_int8(tt_op_type op);  /* the int8 runtime's ops */
const tt_dop_def *tt_dops_qat(tt_op_type op);   /* FakeQuant with observers, BN folding */

/* Helpers for op files. */
/* Elements of t at its current shape. */
int64_t tt_dop_numel(const tt_tensor *t);
/* dst[0..n) = value. */
tt_status tt_dop_fill(tt_dev *d, tt_dbuf *dst, float value, int64_t n);
/* dst[0..n) += src[0..n). */
tt_status tt_dop_accumulate(tt_dev *d, tt_dbuf *dst, const tt_dbuf *src, int64_t n);

#endif
