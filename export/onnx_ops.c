/* tinytrain ops as their standard ONNX ops (opset 13..21): the attribute conversions, with
 * every window attribute written explicitly so the file does not depend on ONNX defaults. */
#include <math.h>
#include <stdio.h>
#include "autograd/internal.h"
#include "autograd/window.h"
#include "export/onnx_lower.h"

bool tt_onnx_is_passthrough(tt_op_type op)
{
    /* Ops ONNX Runtime runs directly on 8-bit data when the Q after them repeats the DQ before
     * them (the QAT graph puts no quantisation point after them either). */
    return op == TT_OP_MAXPOOL || op == TT_OP_FLATTEN || op == TT_OP_RESHAPE;
}

static tt_status no_mapping(const tt_node *n, const char *why)
{
    return tt_fail(TT_ERR_UNSUPPORTED, "ONNX export: node '%s' (%s) has no ONNX mapping: %s",
                   n->name, tt_op_name(n->op), why);
}

static tt_status window_attrs(tt_onnx_lower *L, const tt_node *n, Onnx__NodeProto *o,
                              const int64_t *kernel, bool with_dilations)
{
    tt_window2d w;
    TT_CHECK(tt_window_read(n, tt_op_name(n->op), "2-D windows", kernel, &w));
    int64_t ks[2] = {w.kh, w.kw}, st[2] = {w.sh, w.sw}, pads[4] = {w.pt, w.pl, w.pb, w.pr};
    int64_t dil[2] = {w.dh, w.dw};
    TT_CHECK(tt_ob_attr_ints(L->b, o, "kernel_shape", 2, ks));
    TT_CHECK(tt_ob_attr_ints(L->b, o, "strides", 2, st));
    TT_CHECK(tt_ob_attr_ints(L->b, o, "pads", 4, pads));
    bool dilated = w.dh != 1 || w.dw != 1;
    if (with_dilations) return tt_ob_attr_ints(L->b, o, "dilations", 2, dil);
    if (!dilated) return TT_OK;
    if (n->op == TT_OP_AVGPOOL && L->opset < 19)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "ONNX export: node '%s' (AveragePool) is dilated, which ONNX "
                       "AveragePool supports from opset 19; export with --opset 19 or later",
                       n->name);
    return tt_ob_attr_ints(L->b, o, "dilations", 2, dil);
}

/* A float32 scalar initializer "<node>_<what>" for Clip's min and max inputs. */
static tt_status scalar_input(tt_onnx_lower *L, const tt_node *n, const char *what, float v,
                              const char **name)
{
    char suffix[16];
    snprintf(suffix, sizeof suffix, "_%s", what);
    TT_CHECK(tt_ob_tensor_name(L->b, n->name, suffix, name));
    return tt_ob_init_f32(L->b, *name, 0, NULL, &v);
}

static tt_status emit_clip(tt_onnx_lower *L, const tt_node *n, const char *x, const char *out)
{
    float lo = tt_node_attr_float(n, "min", -INFINITY), hi = tt_node_attr_float(n, "max", INFINITY);
    /* Clip-11 and later take the bounds as (optional) inputs; an infinite bound is left out. */
    const char *in[3] = {x, "", ""};
    int n_in = 1;
    if (isfinite(lo)) {
        TT_CHECK(scalar_input(L, n, "min", lo, &in[1]));
        n_in = 2;
    }
    if (isfinite(hi)) {
        TT_CHECK(scalar_input(L, n, "max", hi, &in[2]));
        n_in = 3;
    }
    return tt_ob_node(L->b, "Clip", n->name, n_in, in, out, NULL);
}

static tt_status emit_reshape(tt_onnx_lower *L, const tt_node *n, const char *x, const char *out)
{
    int64_t shape[TT_MAX_ATTR_INTS];
    int k = tt_node_attr_ints(n, "shape", shape, TT_MAX_ATTR_INTS);
    const char *in[2] = {x, NULL};
    int64_t dims = k;
    TT_CHECK(tt_ob_tensor_name(L->b, n->name, "_shape", &in[1]));
    TT_CHECK(tt_ob_init_i64(L->b, in[1], 1, &dims, shape));
    return tt_ob_node(L->b, "Reshape", n->name, 2, in, out, NULL);
}

tt_status tt_onnx_emit_op(tt_onnx_lower *L, const tt_node *n, int n_in, const char *const *in,
                          const char *out)
{
    tt_onnx_builder *b = L->b;
    Onnx__NodeProto *o;
    switch (n->op) {
    case TT_OP_GEMM:
        /* tinytrain's Gemm is Y = X W^T + b, i.e. ONNX Gemm with transB = 1. */
        TT_CHECK(tt_ob_node(b, "Gemm", n->name, n_in, in, out, &o));
        return tt_ob_attr_int(b, o, "transB", 1);
    case TT_OP_MATMUL:
        return tt_ob_node(b, "MatMul", n->name, n_in, in, out, NULL);
    case TT_OP_CONV: {
        const int64_t *wd = L->g->values[n->in[1]].shape.dims;
        int64_t kernel[2] = {wd[2], wd[3]};
        TT_CHECK(tt_ob_node(b, "Conv", n->name, n_in, in, out, &o));
        TT_CHECK(window_attrs(L, n, o, kernel, true));
        return tt_ob_attr_int(b, o, "group", tt_node_attr_int(n, "group", 1));
    }
    case TT_OP_MAXPOOL:
        TT_CHECK(tt_ob_node(b, "MaxPool", n->name, 1, in, out, &o));
        return window_attrs(L, n, o, NULL, false);
    case TT_OP_AVGPOOL:
        TT_CHECK(tt_ob_node(b, "AveragePool", n->name, 1, in, out, &o));
        TT_CHECK(window_attrs(L, n, o, NULL, false));
        return tt_ob_attr_int(b, o, "count_include_pad",
                              tt_node_attr_int(n, "count_include_pad", 0));
    case TT_OP_GLOBALAVGPOOL:
        return tt_ob_node(b, "GlobalAveragePool", n->name, 1, in, out, NULL);
    case TT_OP_FLATTEN:
        TT_CHECK(tt_ob_node(b, "Flatten", n->name, 1, in, out, &o));
        return tt_ob_attr_int(b, o, "axis", tt_node_attr_int(n, "axis", 1));
    case TT_OP_RESHAPE:
        return emit_reshape(L, n, in[0], out);
    case TT_OP_ADD:
        return tt_ob_node(b, "Add", n->name, 2, in, out, NULL);
    case TT_OP_MUL:
        return tt_ob_node(b, "Mul", n->name, 2, in, out, NULL);
    case TT_OP_RELU:
        return tt_ob_node(b, "Relu", n->name, 1, in, out, NULL);
    case TT_OP_CLIP:
        return emit_clip(L, n, in[0], out);
    case TT_OP_LEAKYRELU:
        TT_CHECK(tt_ob_node(b, "LeakyRelu", n->name, 1, in, out, &o));
        return tt_ob_attr_float(b, o, "alpha", tt_node_attr_float(n, "alpha", 0.01f));
    case TT_OP_SIGMOID:
        return tt_ob_node(b, "Sigmoid", n->name, 1, in, out, NULL);
    case TT_OP_TANH:
        return tt_ob_node(b, "Tanh", n->name, 1, in, out, NULL);
    case TT_OP_BATCHNORM:
        TT_CHECK(tt_ob_node(b, "BatchNormalization", n->name, 5, in, out, &o));
        TT_CHECK(tt_ob_attr_float(b, o, "epsilon", tt_node_attr_float(n, "epsilon", 1e-5f)));
        /* tinytrain keeps PyTorch's momentum (weight of the new batch); ONNX's is the weight of
         * the running value. Inference ignores it; it is converted so the file says the same. */
        return tt_ob_attr_float(b, o, "momentum", 1.0f - tt_node_attr_float(n, "momentum", 0.1f));
    case TT_OP_SOFTMAX_CE:
    case TT_OP_MSE:
    case TT_OP_L1:
    case TT_OP_SMOOTH_L1:
        return no_mapping(n, "losses are training-only; export from the model output, not from "
                             "the loss");
    case TT_OP_BN_UNFOLD:
        return no_mapping(n, "this simulated-folding op is exported folded, which needs it to "
                             "follow a Conv/Gemm and to feed its BatchNormalization, each the "
                             "only user of the one before");
    case TT_OP_BN_FOLD_WEIGHT:
        return no_mapping(n, "this simulated-folding op must act on a weight parameter");
    case TT_OP_FAKEQUANT:
        return no_mapping(n, "this FakeQuant is neither on a weight nor on an activation");
    default:
        return no_mapping(n, "tinytrain has no ONNX form for this op");
    }
}
