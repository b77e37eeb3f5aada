/* One definition per op: arity, shape inference, buffer sizes, forward and backward.
 * Each op lives in autograd/ops/<op>.c and is listed in autograd/op_registry.c. */
#ifndef TT_OP_H
#define TT_OP_H

#include <stdbool.h>
#include <stddef.h>
#include "tinytrain/graph.h"
#include "tinytrain/rng.h"
#include "kernels/backend.h"

/* What a kernel sees for one node. Input gradients (din) are accumulated into (+=): the
 * executor zeroes them before backward, which is how a value with several consumers gets the
 * sum of their contributions. din[i] is NULL when input i needs no gradient. */
typedef struct tt_op_ctx {
    const tt_node *node;
    tt_tensor *in[TT_MAX_NODE_IO]; /* NULL for an absent optional input */
    tt_tensor *out[TT_MAX_NODE_IO];
    tt_tensor *din[TT_MAX_NODE_IO];
    tt_tensor *dout[TT_MAX_NODE_IO];
    void *saved; /* kept from forward to backward (masks, indices, batch stats) */
    size_t saved_bytes;
    void *scratch; /* temporary, shared by all nodes; sized for the largest need */
    size_t scratch_bytes;
    bool training;
    tt_rng *rng;
    const tt_backend *be;
} tt_op_ctx;

typedef struct tt_op_def {
    const char *name; /* the ONNX op type where one exists */
    int min_in, max_in, n_out;
    /* Output shapes/dtypes from input shapes (dims[0] may be TT_DIM_BATCH). NULL entries in
     * `in` are absent optional inputs. Must name the node and the problem on failure. */
    tt_status (*infer)(const tt_node *n, const tt_tensor *const *in, tt_tensor *out);
    /* Bytes needed for ctx->saved and ctx->scratch at these concrete shapes (may be NULL). */
    size_t (*saved_size)(const tt_node *n, const tt_tensor *const *in, const tt_tensor *out);
    size_t (*scratch_size)(const tt_node *n, const tt_tensor *const *in, const tt_tensor *out);
    tt_status (*forward)(tt_op_ctx *c);
    tt_status (*backward)(tt_op_ctx *c); /* NULL: no gradient flows through this op */
    unsigned nondiff_inputs;             /* bit i set: input i never gets a gradient */
} tt_op_def;

const tt_op_def *tt_op_def_get(tt_op_type op);

/* Shared helpers for infer functions. `in` and `out` carry only dtype and shape. */
tt_status tt_op_expect_dtype(const tt_node *n, const tt_tensor *t, int idx, tt_dtype dt);
tt_status tt_op_expect_ndim(const tt_node *n, const tt_tensor *t, int idx, int lo, int hi);
/* Output with the same dtype and shape as input 0 (elementwise ops). */
tt_status tt_op_infer_same(const tt_node *n, const tt_tensor *const *in, tt_tensor *out);
/* A scalar float loss [1] from pred and a target of the same shape. */
tt_status tt_op_infer_loss_pair(const tt_node *n, const tt_tensor *const *in, tt_tensor *out);

#define TT_OP_DEF(sym) extern const tt_op_def sym
TT_OP_DEF(tt_op_gemm);
TT_OP_DEF(tt_op_matmul);
TT_OP_DEF(tt_op_conv);
TT_OP_DEF(tt_op_maxpool);
TT_OP_DEF(tt_op_avgpool);
TT_OP_DEF(tt_op_globalavgpool);
TT_OP_DEF(tt_op_flatten);
TT_OP_DEF(tt_op_reshape);
TT_OP_DEF(tt_op_add);
TT_OP_DEF(tt_op_mul);
TT_OP_DEF(tt_op_relu);
TT_OP_DEF(tt_op_clip);
TT_OP_DEF(tt_op_leakyrelu);
TT_OP_DEF(tt_op_sigmoid);
TT_OP_DEF(tt_op_tanh);
TT_OP_DEF(tt_op_batchnorm);
TT_OP_DEF(tt_op_dropout);
TT_OP_DEF(tt_op_softmax_ce);
TT_OP_DEF(tt_op_mse);
TT_OP_DEF(tt_op_l1);
TT_OP_DEF(tt_op_smooth_l1);
TT_OP_DEF(tt_op_fake_quant);
TT_OP_DEF(tt_op_bn_fold_weight);
TT_OP_DEF(tt_op_bn_unfold);
TT_OP_DEF(tt_op_bias_quant);
TT_OP_DEF(tt_op_sub);
TT_OP_DEF(tt_op_div);
TT_OP_DEF(tt_op_softmax);
TT_OP_DEF(tt_op_cast);
TT_OP_DEF(tt_op_quantize_linear);
TT_OP_DEF(tt_op_dequantize_linear);
TT_OP_DEF(tt_op_dynamic_quantize);
TT_OP_DEF(tt_op_matmul_integer);
TT_OP_DEF(tt_op_conv_integer);
TT_OP_DEF(tt_op_qlinear_conv);
TT_OP_DEF(tt_op_qlinear_matmul);
TT_OP_DEF(tt_op_qgemm);
TT_OP_DEF(tt_op_qlinear_add);
TT_OP_DEF(tt_op_qlinear_gap);
#undef TT_OP_DEF

#endif
