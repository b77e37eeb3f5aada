/* Layer builders: each appends IR nodes and parameters to a graph and initialises the
 * parameters as PyTorch does (Kaiming-uniform weights, fan-in uniform biases, BN 1/0), drawing
 * from the caller's seeded RNG. Parameters are named "<layer>.weight", "<layer>.bias",
 * "<layer>.running_mean", "<layer>.running_var" like PyTorch's state_dict keys. */
#ifndef TINYTRAIN_LAYERS_H
#define TINYTRAIN_LAYERS_H

#include "tinytrain/graph.h"
#include "tinytrain/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

tt_status tt_layer_linear(tt_graph *g, tt_rng *rng, const char *name, int x, int64_t out_features,
                          bool bias, int *y);

typedef struct tt_conv2d_opts {
    int64_t out_channels;
    int64_t kernel;   /* square kernel */
    int64_t stride;   /* default 1 when 0 */
    int64_t padding;  /* symmetric */
    int64_t dilation; /* default 1 when 0 */
    int64_t groups;   /* default 1 when 0; in_channels for depthwise */
    bool bias;
} tt_conv2d_opts;

tt_status tt_layer_conv2d(tt_graph *g, tt_rng *rng, const char *name, int x,
                          const tt_conv2d_opts *o, int *y);
/* BatchNorm over channel dim 1 of [N,C] or [N,C,H,W]; PyTorch defaults eps 1e-5, momentum 0.1. */
tt_status tt_layer_batchnorm(tt_graph *g, const char *name, int x, float eps, float momentum,
                             int *y);
/* Parameter-free layers: TT_OP_RELU, TT_OP_SIGMOID, TT_OP_TANH, TT_OP_GLOBALAVGPOOL,
 * TT_OP_FLATTEN (axis 1). */
tt_status tt_layer_simple(tt_graph *g, tt_op_type op, const char *name, int x, int *y);
tt_status tt_layer_relu6(tt_graph *g, const char *name, int x, int *y);
tt_status tt_layer_leaky_relu(tt_graph *g, const char *name, int x, float alpha, int *y);
tt_status tt_layer_dropout(tt_graph *g, const char *name, int x, float ratio, int *y);
/* MaxPool2d / AvgPool2d with a square kernel; stride 0 means stride = kernel as in PyTorch. */
tt_status tt_layer_pool2d(tt_graph *g, tt_op_type op, const char *name, int x, int64_t kernel,
                          int64_t stride, int64_t padding, int *y);
/* ResNet basic block: conv3x3(stride)-BN-ReLU-conv3x3-BN, plus the input (through a 1x1
 * conv-BN when stride or channels change), then ReLU. */
tt_status tt_layer_residual_block(tt_graph *g, tt_rng *rng, const char *name, int x,
                                  int64_t out_channels, int64_t stride, int *y);

#ifdef __cplusplus
}
#endif
#endif
