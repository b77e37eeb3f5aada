/* Lowering a tinytrain graph to ONNX nodes: the state shared by the walk (onnx_lower.c), the
 * standard op mappings (onnx_ops.c) and the quantisation pieces of the QDQ format
 * (onnx_qdq.c). */
#ifndef TT_EXPORT_ONNX_LOWER_H
#define TT_EXPORT_ONNX_LOWER_H

#include <stdbool.h>
#include <stdint.h>
#include "export/onnx_proto.h"
#include "tinytrain/graph.h"
#include "tinytrain/onnx.h"

/* How the tensor carrying a value is quantised (QDQ): it is a DequantizeLinear output whose
 * per-tensor scale and zero point are these initializers. */
typedef struct tt_onnx_qinfo {
    bool quantized;
    float scale;
    int32_t zero_point;
    const char *scale_name, *zp_name;
} tt_onnx_qinfo;

/* A weight DequantizeLinear's per-channel scales (the bias scale needs them). */
typedef struct tt_onnx_winfo {
    const float *scale; /* borrowed from the FakeQuant's scale parameter; NULL: not quantised */
    int64_t n_scale;
    int axis; /* -1: per tensor */
} tt_onnx_winfo;

/* Channel padding of a Conv input (tt_onnx_qdq_plan_pads): for an activation, the padded
 * DequantizeLinear output the padded Convs read; for a weight, its padded int8 initializer. */
typedef struct tt_onnx_pad {
    int64_t to;       /* channels after padding; 0: not padded */
    int readers;      /* activation: how many of its readers are padded Convs */
    const char *name; /* activation: the padded tensor, once written */
} tt_onnx_pad;

typedef struct tt_onnx_lower {
    const tt_graph *g;
    int in_id, out_id;
    int out_root;          /* the value whose tensor is named "output" (out_id through aliases) */
    tt_onnx_format format; /* TT_ONNX_FP32 or TT_ONNX_QDQ */
    int opset;
    tt_onnx_builder *b;
    bool *needed;      /* per node: on the path from the input to the output */
    bool *absorbed;    /* per node: folded into another node's emission */
    int *fold_bn;      /* per node: a Conv/Gemm's BnUnfold -> BatchNormalization, or -1 */
    int *consumers;    /* per value: needed nodes reading it (+1 for the model output) */
    int *consumer;     /* per value: the last needed node reading it */
    int *alias;        /* per value: the value whose tensor carries it, or -1 */
    const char **name; /* per value: ONNX tensor name, once emitted */
    float **folded;    /* per value: a BnFoldWeight output's data W * f (owned) */
    tt_onnx_qinfo *qi; /* per value (QDQ) */
    tt_onnx_winfo *wi; /* per value (QDQ): weight DequantizeLinear outputs */
    tt_onnx_pad *pad;  /* per value (QDQ with channel padding on), else NULL */
    bool *pad_conv;    /* per node: a Conv whose input and weight are padded (with pad) */
} tt_onnx_lower;

/* Lower the part of g from value in_id to value out_id into b (format FP32 or QDQ; channel_pad:
 * QDQ Conv inputs padded to a multiple of TT_ONNX_CHANNEL_ALIGN channels where it applies,
 * tt_onnx_qdq_plan_pads). */
tt_status tt_onnx_lower_graph(const tt_graph *g, int in_id, int out_id, tt_onnx_format format,
                              int opset, bool channel_pad, tt_onnx_builder *b);

/* The value whose tensor carries v (follows Dropout, fp32 FakeQuant and folded BatchNorm). */
int tt_onnx_root(const tt_onnx_lower *L, int v);
/* The name for the tensor that finally carries value v: "output" for the model output, else a
 * fresh unique base + suffix. */
tt_status tt_onnx_def_name(tt_onnx_lower *L, int v, const char *base, const char *suffix,
                           const char **out);
/* The tensor name of value v as an input: emitted tensors, or a parameter (or folded weight)
 * written now as a float32 initializer. */
tt_status tt_onnx_use(tt_onnx_lower *L, int v, const char **out);

/* onnx_ops.c: node n as its standard ONNX op reading tensors in[0..n_in) and writing out.
 * Fails, naming the node and op, for ops with no ONNX form. */
tt_status tt_onnx_emit_op(tt_onnx_lower *L, const tt_node *n, int n_in, const char *const *in,
                          const char *out);
bool tt_onnx_is_passthrough(tt_op_type op);
/* A FakeQuant node over a weight: a parameter, or a BnFoldWeight output. */
bool tt_onnx_is_weight_point(const tt_onnx_lower *L, const tt_node *n);

/* onnx_qdq.c */
/* ONNX Runtime's fast x86 int8 convolution (MLAS's symmetric ConvSym kernels) needs a multiple
 * of 4 input channels; below it QLinearConv falls back to im2col and a u8 x s8 GEMM, 2x slower
 * for a 1-channel image at batch 64, whose VPMADDUBSW (AVX2 without VNNI) saturates int16 pairs
 * of full-range weights. Zero-weight channels make up the difference without changing a
 * number. */
#define TT_ONNX_CHANNEL_ALIGN 4
/* Mark in L->pad the Conv inputs to pad: a Conv (group 1) whose input channels are not a
 * multiple of TT_ONNX_CHANNEL_ALIGN, reading an activation FakeQuant (per tensor) and a
 * symmetric int8 weight FakeQuant that nothing else reads. */
void tt_onnx_qdq_plan_pads(tt_onnx_lower *L);
/* Activation FakeQuant node n: QuantizeLinear -> DequantizeLinear on its input's tensor. */
tt_status tt_onnx_qdq_activation(tt_onnx_lower *L, const tt_node *n);
/* Weight FakeQuant node n over data w (the parameter, or W * f): an int8 initializer ->
 * DequantizeLinear; base names the weight ("conv1.weight"). */
tt_status tt_onnx_qdq_weight(tt_onnx_lower *L, const tt_node *n, const float *w, const char *base);
/* After a pass-through op (MaxPool, Flatten, Reshape) wrote raw from quantised input value
 * in_v: Q -> DQ with the input's scale and zero point, the tensor of value out_v. */
tt_status tt_onnx_qdq_passthrough(tt_onnx_lower *L, int in_v, int out_v, const char *raw);
/* The int32 bias of a Conv/Gemm whose input value x_v and weight value w_v are quantised:
 * its DequantizeLinear output in *out; *out NULL when x or w is not quantised (the caller
 * then writes a float bias). */
tt_status tt_onnx_qdq_bias(tt_onnx_lower *L, int x_v, int w_v, const float *bias, int64_t n,
                           const char *base, const char **out);

#endif
