/* The graph IR: ONNX-shaped values and nodes in topological order.
 * Layers build it, the executor runs it forward and backward, later stages rewrite or read it. */
#ifndef TINYTRAIN_GRAPH_H
#define TINYTRAIN_GRAPH_H

#include <stdbool.h>
#include "tinytrain/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Dimension 0 of activations is the batch; it is symbolic in the graph and set per run. */
#define TT_DIM_BATCH     (-1)
#define TT_MAX_NODE_IO   9  /* QLinearConv, the widest ONNX op we import, has 9 */
#define TT_MAX_ATTRS     12 /* FakeQuant has 10 */
#define TT_MAX_ATTR_INTS 8
#define TT_NAME_MAX      128 /* ONNX names from other exporters run long */

typedef enum tt_op_type {
    TT_OP_GEMM = 0, /* Y = X W^T + b (ONNX Gemm, transB=1): in X[N,K], W[M,K], b[M]? */
    TT_OP_MATMUL,   /* Y = A B, A[N,K] B[K,M] */
    TT_OP_CONV,     /* NCHW conv; attrs strides, pads, dilations, group; in X, W, b? */
    TT_OP_MAXPOOL,  /* attrs kernel_shape, strides, pads */
    TT_OP_AVGPOOL,  /* attrs kernel_shape, strides, pads; count_include_pad=0 */
    TT_OP_GLOBALAVGPOOL,
    TT_OP_FLATTEN, /* attr axis (default 1) */
    TT_OP_RESHAPE, /* attr shape; 0 copies the input dim, -1 is inferred */
    TT_OP_ADD,     /* numpy broadcasting */
    TT_OP_MUL,     /* numpy broadcasting */
    TT_OP_RELU,
    TT_OP_CLIP,      /* attrs min, max (floats); ReLU6 is Clip(0, 6) */
    TT_OP_LEAKYRELU, /* attr alpha (default 0.01) */
    TT_OP_SIGMOID,
    TT_OP_TANH,
    TT_OP_BATCHNORM,  /* in X, scale, bias, running_mean, running_var; attrs epsilon, momentum */
    TT_OP_DROPOUT,    /* attr ratio */
    TT_OP_SOFTMAX_CE, /* in logits[N,C], labels int32[N]; out mean loss [1] */
    TT_OP_MSE,        /* in pred, target (same shape); out mean loss [1] */
    TT_OP_L1,         /* in pred, target; out mean loss [1] */
    TT_OP_SMOOTH_L1,  /* in pred, target; attr beta (default 1); out mean loss [1] */
    TT_OP_FAKEQUANT,  /* in X, scale, zero_point, min, max; attrs in docs/ops.md */
    TT_OP_BN_FOLD_WEIGHT, /* in W, gamma, running_var; attr epsilon: W * gamma / sqrt(var + eps) */
    TT_OP_BN_UNFOLD,  /* in Y, gamma, running_var; attr epsilon: Y / (gamma / sqrt(var + eps)) */
    TT_OP_BIAS_QUANT, /* in bias, x_scale, w_scale: the int32-rounded bias (QAT) */
    /* Inference-only ops (imported ONNX, the int8 runtime): forward only. Scales are float32
     * params of shape [1] (per tensor) or [C] (per channel along attr axis); zero points are
     * u8/i8 params of the same shape; an ONNX scalar is imported as [1]. */
    TT_OP_SUB,        /* numpy broadcasting */
    TT_OP_DIV,        /* numpy broadcasting */
    TT_OP_SOFTMAX,    /* attr axis (default -1) */
    TT_OP_CAST,       /* attr to (a tt_dtype value) */
    TT_OP_QUANTIZE,   /* QuantizeLinear: X f32, scale, zero_point? (absent: u8 0); attr axis (1) */
    TT_OP_DEQUANTIZE, /* DequantizeLinear: X u8/i8/i32, scale, zero_point?; attr axis (1) */
    TT_OP_DYNAMIC_QUANTIZE, /* DynamicQuantizeLinear: X f32 -> y u8, y_scale f32[1], y_zp u8[1] */
    TT_OP_MATMUL_INTEGER,   /* A u8/i8 [N,K], B u8/i8 [K,M], a_zp?, b_zp? ([1] or [M]) -> i32 */
    TT_OP_CONV_INTEGER,     /* x u8/i8, w u8/i8, x_zp?, w_zp? ([1] or [M]); Conv attrs -> i32 */
    /* The fused integer kernels the runtime plans QDQ patterns into (ONNX input order). Attr
     * fused_relu (0/1) clamps the output at y_zp: a Relu between the op and its Q. */
    TT_OP_QLINEAR_CONV,   /* x x_s x_zp w w_s w_zp y_s y_zp b?(i32); Conv attrs */
    TT_OP_QLINEAR_MATMUL, /* a a_s a_zp b b_s b_zp y_s y_zp; b [K,M] */
    TT_OP_QGEMM,          /* a a_s a_zp b b_s b_zp c?(i32) y_s y_zp; b [M,K] (transB=1) */
    TT_OP_QLINEAR_ADD,    /* a a_s a_zp b b_s b_zp y_s y_zp (numpy broadcasting) */
    TT_OP_QLINEAR_GAP,    /* QLinearGlobalAveragePool: x x_s x_zp y_s y_zp */
    TT_OP_COUNT
} tt_op_type;

typedef enum tt_value_kind {
    TT_VALUE_INPUT = 0, /* fed per run (images, labels) */
    TT_VALUE_PARAM, /* owned by the graph: weights (trainable) and buffers such as BN running stats
                     */
    TT_VALUE_ACT,   /* produced by a node */
} tt_value_kind;

typedef struct tt_value {
    char name[TT_NAME_MAX];
    tt_value_kind kind;
    tt_dtype dtype;
    tt_shape shape;  /* dims[0] may be TT_DIM_BATCH for inputs and activations */
    bool trainable;  /* params: updated by optimisers; inputs: gradient wanted (gradient checks) */
    int producer;    /* node index, or -1 */
    tt_tensor *data; /* params only: the graph owns it */
} tt_value;

typedef enum tt_attr_type { TT_ATTR_INT = 0, TT_ATTR_FLOAT, TT_ATTR_INTS } tt_attr_type;

typedef struct tt_attr {
    char name[24];
    tt_attr_type type;
    int n; /* number of ints for TT_ATTR_INTS */
    int64_t ints[TT_MAX_ATTR_INTS];
    float f;
} tt_attr;

typedef struct tt_node {
    tt_op_type op;
    char name[TT_NAME_MAX];
    int n_in, n_out;
    int in[TT_MAX_NODE_IO]; /* value ids; -1 for an absent optional input */
    int out[TT_MAX_NODE_IO];
    int n_attrs;
    tt_attr attrs[TT_MAX_ATTRS];
} tt_node;

typedef struct tt_graph {
    tt_value *values;
    int n_values, cap_values;
    tt_node *nodes;
    int n_nodes, cap_nodes;
} tt_graph;

/* Attribute constructors, for building attribute lists inline. */
tt_attr tt_attr_int(const char *name, int64_t v);
tt_attr tt_attr_float(const char *name, float v);
tt_attr tt_attr_ints(const char *name, int n, const int64_t *v);

tt_status tt_graph_create(tt_graph **out);
void tt_graph_free(tt_graph *g);

/* A per-run input. Use TT_DIM_BATCH for dims[0]. */
tt_status tt_graph_add_input(tt_graph *g, const char *name, tt_dtype dt, int ndim,
                             const int64_t *dims, int *id);
/* A graph-owned constant of any dtype (imported initializers: int8 weights, int32 biases, zero
 * points); never trainable. Zero-filled; fill it through g->values[*id].data. */
tt_status tt_graph_add_param_typed(tt_graph *g, const char *name, tt_dtype dt, int ndim,
                                   const int64_t *dims, int *id);
/* A graph-owned float32 parameter (zero-filled; initialise through tt_graph_param_data). */
tt_status tt_graph_add_param(tt_graph *g, const char *name, int ndim, const int64_t *dims,
                             bool trainable, int *id);
/* Append a node; its outputs are new values named "<name>" (or "<name>:k"), whose shapes are
 * inferred and validated now. out_ids receives n_out ids (may be NULL). */
tt_status tt_graph_add_node(tt_graph *g, tt_op_type op, const char *name, int n_in,
                            const int *in_ids, int n_attrs, const tt_attr *attrs, int *out_ids);

int tt_graph_find_value(const tt_graph *g, const char *name); /* -1 if absent */
float *tt_graph_param_data(tt_graph *g, int id);              /* NULL unless a param */
const char *tt_op_name(tt_op_type op);                        /* "Conv", ... */
tt_op_type tt_op_from_name(const char *name);                 /* TT_OP_COUNT if unknown */

/* Attribute lookup with defaults. */
int64_t tt_node_attr_int(const tt_node *n, const char *name, int64_t dflt);
float tt_node_attr_float(const tt_node *n, const char *name, float dflt);
/* Copies up to max ints; returns how many the attribute has, or 0 (out untouched) if absent. */
int tt_node_attr_ints(const tt_node *n, const char *name, int64_t *out, int max);

/* Re-check every node's inputs and shapes (after a rewrite); names the first bad node. */
tt_status tt_graph_validate(const tt_graph *g);

#ifdef __cplusplus
}
#endif
#endif
