/* The export walk: which nodes the model output needs, which IR values share one ONNX tensor
 * (Dropout, FakeQuant in fp32, a BatchNorm folded into its Conv), and one pass in topological
 * order that writes each node in the chosen format. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "autograd/internal.h"
#include "export/onnx_lower.h"

int tt_onnx_root(const tt_onnx_lower *L, int v)
{
    while (v >= 0 && L->alias[v] >= 0) v = L->alias[v];
    return v;
}

tt_status tt_onnx_def_name(tt_onnx_lower *L, int v, const char *base, const char *suffix,
                           const char **out)
{
    if (v == L->out_root)
        *out = "output"; /* reserved when the graph outputs were declared */
    else
        TT_CHECK(tt_ob_tensor_name(L->b, base, suffix, out));
    L->name[v] = *out;
    return TT_OK;
}

tt_status tt_onnx_use(tt_onnx_lower *L, int v, const char **out)
{
    int r = tt_onnx_root(L, v);
    const tt_value *val = &L->g->values[r];
    if (!L->name[r]) {
        const char *nm;
        if (L->folded[r]) {
            /* a simulated-fold weight W * f written as float: named after W */
            const tt_node *f = &L->g->nodes[val->producer];
            const tt_value *w = &L->g->values[f->in[0]];
            TT_CHECK(tt_ob_tensor_name(L->b, w->name, "", &nm));
            TT_CHECK(tt_ob_init_f32(L->b, nm, val->shape.ndim, val->shape.dims, L->folded[r]));
        } else if (val->kind == TT_VALUE_PARAM) {
            TT_CHECK(tt_ob_tensor_name(L->b, val->name, "", &nm));
            TT_CHECK(tt_ob_init_f32(L->b, nm, val->shape.ndim, val->shape.dims,
                                    tt_tensor_f32(val->data)));
        } else {
            return tt_fail(TT_ERR_STATE, "ONNX export: value '%s' is read before it is computed",
                           val->name);
        }
        L->name[r] = nm;
    }
    *out = L->name[r];
    return TT_OK;
}

/* ---- which nodes, and which values share a tensor ---------------------------------------- */

static bool is_loss(tt_op_type op)
{
    return op == TT_OP_SOFTMAX_CE || op == TT_OP_MSE || op == TT_OP_L1 || op == TT_OP_SMOOTH_L1;
}

static tt_status mark_needed(tt_onnx_lower *L)
{
    const tt_graph *g = L->g;
    int *stack = malloc((size_t)g->n_values * sizeof *stack);
    bool *seen = calloc((size_t)g->n_values, sizeof *seen);
    tt_status s = TT_OK;
    if (!stack || !seen) s = tt_fail(TT_ERR_NOMEM, "ONNX export: out of memory");
    int top = 0;
    if (s == TT_OK) {
        stack[top++] = L->out_id;
        seen[L->out_id] = true;
    }
    while (s == TT_OK && top > 0) {
        int v = stack[--top];
        const tt_value *val = &g->values[v];
        if (val->kind == TT_VALUE_INPUT && v != L->in_id) {
            s = tt_fail(TT_ERR_INVALID_ARG,
                        "ONNX export: the output '%s' depends on the graph input '%s', which is "
                        "not the model input '%s'; export from the model output (not the loss)",
                        g->values[L->out_id].name, val->name, g->values[L->in_id].name);
            break;
        }
        int p = val->producer;
        if (p < 0 || L->needed[p]) continue;
        L->needed[p] = true;
        const tt_node *n = &g->nodes[p];
        if (is_loss(n->op)) {
            /* before its "target" input is reached: name the node, not the input */
            s = tt_fail(TT_ERR_UNSUPPORTED,
                        "ONNX export: node '%s' (%s) has no ONNX mapping: losses are "
                        "training-only; export from the model output, not from the loss",
                        n->name, tt_op_name(n->op));
            break;
        }
        for (int j = 0; j < n->n_in; j++) {
            int u = n->in[j];
            if (u >= 0 && !seen[u]) {
                seen[u] = true;
                stack[top++] = u;
            }
        }
    }
    free(stack);
    free(seen);
    return s;
}

static void count_consumers(tt_onnx_lower *L)
{
    const tt_graph *g = L->g;
    for (int i = 0; i < g->n_nodes; i++) {
        if (!L->needed[i]) continue;
        const tt_node *n = &g->nodes[i];
        for (int j = 0; j < n->n_in; j++)
            if (n->in[j] >= 0) {
                L->consumers[n->in[j]]++;
                L->consumer[n->in[j]] = i;
            }
    }
    L->consumers[L->out_id]++;
}

/* The only needed consumer of value v, if it is one node of op type op reading v as input 0. */
static const tt_node *sole_consumer(const tt_onnx_lower *L, int v, tt_op_type op)
{
    if (L->consumers[v] != 1 || v == L->out_id) return NULL;
    const tt_node *c = &L->g->nodes[L->consumer[v]];
    return c->op == op && c->in[0] == v ? c : NULL;
}

/* Simulated BN folding (qat.bn_fold: simulate): Conv/Gemm(x, [FakeQuant](BnFoldWeight(W, gamma,
 * var))) -> BnUnfold(., gamma, var) -> BatchNormalization(., gamma, beta, mean, var) is one
 * Conv/Gemm with the folded weight and bias. Returns the BN node index, or -1. */
static int simulated_bn(const tt_onnx_lower *L, const tt_node *n)
{
    const tt_graph *g = L->g;
    if (n->op != TT_OP_CONV && n->op != TT_OP_GEMM) return -1;
    const tt_node *u = sole_consumer(L, n->out[0], TT_OP_BN_UNFOLD);
    const tt_node *bn = u ? sole_consumer(L, u->out[0], TT_OP_BATCHNORM) : NULL;
    if (!bn || bn->in[1] != u->in[1] || bn->in[4] != u->in[2]) return -1;
    int w = n->in[1];
    const tt_node *p = g->values[w].producer >= 0 ? &g->nodes[g->values[w].producer] : NULL;
    if (p && p->op == TT_OP_FAKEQUANT)
        p = g->values[p->in[0]].producer >= 0 ? &g->nodes[g->values[p->in[0]].producer] : NULL;
    if (!p || p->op != TT_OP_BN_FOLD_WEIGHT || p->in[1] != u->in[1] || p->in[2] != u->in[2])
        return -1;
    return (int)(bn - g->nodes);
}

static void find_aliases(tt_onnx_lower *L)
{
    const tt_graph *g = L->g;
    for (int i = 0; i < g->n_nodes; i++) {
        const tt_node *n = &g->nodes[i];
        if (!L->needed[i]) continue;
        if (n->op == TT_OP_DROPOUT || n->op == TT_OP_BIAS_QUANT ||
            (n->op == TT_OP_FAKEQUANT && L->format == TT_ONNX_FP32))
            L->alias[n->out[0]] = n->in[0];
        int bn = simulated_bn(L, n);
        if (bn < 0) continue;
        const tt_node *u = &g->nodes[L->consumer[n->out[0]]];
        L->fold_bn[i] = bn;
        L->absorbed[u - g->nodes] = L->absorbed[bn] = true;
        L->alias[u->out[0]] = n->out[0];
        L->alias[g->nodes[bn].out[0]] = n->out[0];
    }
}

/* ---- folding --------------------------------------------------------------------------- */

static const float *param(const tt_onnx_lower *L, const tt_node *n, int j)
{
    const tt_value *v = &L->g->values[n->in[j]];
    return v->kind == TT_VALUE_PARAM ? tt_tensor_f32(v->data) : NULL;
}

/* BnFoldWeight: W * f, f = gamma / sqrt(var + eps) in double rounded to float once, multiplied
 * in float: exactly the op's forward, so the quantised weight is the one the FakeQuant saw. */
static tt_status fold_weight(tt_onnx_lower *L, const tt_node *n)
{
    const float *w = param(L, n, 0), *gamma = param(L, n, 1), *var = param(L, n, 2);
    if (!w || !gamma || !var)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "ONNX export: node '%s' (BnFoldWeight) has no ONNX mapping: its weight, "
                       "gamma and running_var must be parameters",
                       n->name);
    const tt_shape *s = &L->g->values[n->in[0]].shape;
    int64_t c = s->dims[0], per = tt_shape_numel(s) / c;
    double eps = tt_node_attr_float(n, "epsilon", 1e-5f);
    float *d = malloc((size_t)(c * per) * sizeof *d);
    if (!d) return tt_fail(TT_ERR_NOMEM, "ONNX export: out of memory");
    for (int64_t k = 0; k < c; k++) {
        float f = (float)((double)gamma[k] / sqrt((double)var[k] + eps));
        for (int64_t j = 0; j < per; j++) d[k * per + j] = w[k * per + j] * f;
    }
    L->folded[n->out[0]] = d;
    return TT_OK;
}

/* The bias of a Conv/Gemm with a simulated-folded BN: the BN in eval form is
 * y = f (z - mean) + beta with z = (conv + b) / f, so b' = beta + (b - mean) f (double, as the
 * fold mode of the QAT prepare pass computes it). */
static tt_status folded_bias(const tt_onnx_lower *L, const tt_node *n, const tt_node *bn,
                             float **out)
{
    const float *gamma = param(L, bn, 1), *beta = param(L, bn, 2), *mean = param(L, bn, 3);
    const float *var = param(L, bn, 4);
    const float *b = n->n_in > 2 && n->in[2] >= 0 ? param(L, n, 2) : NULL;
    if (!gamma || !beta || !mean || !var || (n->n_in > 2 && n->in[2] >= 0 && !b))
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "ONNX export: node '%s' (BatchNormalization) cannot be folded into '%s': "
                       "its statistics and the layer's bias must be parameters",
                       bn->name, n->name);
    int64_t c = L->g->values[bn->in[1]].shape.dims[0];
    double eps = tt_node_attr_float(bn, "epsilon", 1e-5f);
    float *d = malloc((size_t)c * sizeof *d);
    if (!d) return tt_fail(TT_ERR_NOMEM, "ONNX export: out of memory");
    for (int64_t k = 0; k < c; k++) {
        double f = (double)gamma[k] / sqrt((double)var[k] + eps);
        d[k] = (float)(beta[k] + ((b ? (double)b[k] : 0.0) - mean[k]) * f);
    }
    *out = d;
    return TT_OK;
}

/* ---- emission -------------------------------------------------------------------------- */

/* The bias tensor of Conv/Gemm n: int32 + DequantizeLinear when its input and weight are
 * quantised (QDQ), else float32. */
static tt_status bias_input(tt_onnx_lower *L, const tt_node *n, const float *bias, const char **out)
{
    /* Through a BiasFakeQuant to the float bias: the export rounds it the same way. */
    int bv = n->n_in > 2 ? tt_onnx_root(L, n->in[2]) : -1;
    int64_t m = L->g->values[n->in[1]].shape.dims[n->op == TT_OP_MATMUL ? 1 : 0];
    char base[TT_NAME_MAX + 8];
    if (bv >= 0)
        snprintf(base, sizeof base, "%s", L->g->values[bv].name);
    else
        snprintf(base, sizeof base, "%s.bias", n->name);
    const tt_value *bval = bv >= 0 ? &L->g->values[bv] : NULL;
    const float *data =
        bias ? bias : (bval && bval->kind == TT_VALUE_PARAM ? tt_tensor_f32(bval->data) : NULL);
    *out = NULL;
    if (L->format == TT_ONNX_QDQ && data)
        TT_CHECK(tt_onnx_qdq_bias(L, n->in[0], n->in[1], data, m, base, out));
    if (*out) return TT_OK;
    if (!bias) return tt_onnx_use(L, bv, out);
    TT_CHECK(tt_ob_tensor_name(L->b, base, "", out));
    return tt_ob_init_f32(L->b, *out, 1, &m, bias);
}

static tt_status emit_layer(tt_onnx_lower *L, int i)
{
    const tt_node *n = &L->g->nodes[i];
    const char *in[3] = {NULL, NULL, NULL}, *out;
    int n_in = 2;
    TT_CHECK(tt_onnx_use(L, n->in[0], &in[0]));
    if (L->pad_conv && L->pad_conv[i]) {
        in[0] = L->pad[n->in[0]].name;
        if (!in[0]) /* the input's FakeQuant comes first in topological order */
            return tt_fail(TT_ERR_STATE,
                           "ONNX export: node '%s' (Conv): its channel-padded input was not "
                           "written before it",
                           n->name);
    }
    TT_CHECK(tt_onnx_use(L, n->in[1], &in[1]));
    float *bias = NULL;
    if (L->fold_bn[i] >= 0) TT_CHECK(folded_bias(L, n, &L->g->nodes[L->fold_bn[i]], &bias));
    tt_status s = TT_OK;
    if (bias || (n->n_in > 2 && n->in[2] >= 0)) {
        s = bias_input(L, n, bias, &in[2]);
        n_in = 3;
    }
    free(bias);
    TT_CHECK(s);
    TT_CHECK(tt_onnx_def_name(L, n->out[0], n->name, "", &out));
    return tt_onnx_emit_op(L, n, n_in, in, out);
}

bool tt_onnx_is_weight_point(const tt_onnx_lower *L, const tt_node *n)
{
    const tt_value *x = &L->g->values[n->in[0]];
    return x->kind == TT_VALUE_PARAM ||
           (x->producer >= 0 && L->g->nodes[x->producer].op == TT_OP_BN_FOLD_WEIGHT);
}

static tt_status emit_fake_quant(tt_onnx_lower *L, const tt_node *n)
{
    if (!tt_onnx_is_weight_point(L, n)) return tt_onnx_qdq_activation(L, n);
    const tt_value *x = &L->g->values[n->in[0]];
    if (x->kind == TT_VALUE_PARAM) return tt_onnx_qdq_weight(L, n, tt_tensor_f32(x->data), x->name);
    const tt_node *f = &L->g->nodes[x->producer];
    return tt_onnx_qdq_weight(L, n, L->folded[n->in[0]], L->g->values[f->in[0]].name);
}

static tt_status emit_generic(tt_onnx_lower *L, const tt_node *n)
{
    const char *in[TT_MAX_NODE_IO], *out;
    for (int j = 0; j < n->n_in; j++) {
        in[j] = "";
        if (n->in[j] >= 0) TT_CHECK(tt_onnx_use(L, n->in[j], &in[j]));
    }
    int x = tt_onnx_root(L, n->in[0]);
    if (L->format == TT_ONNX_QDQ && tt_onnx_is_passthrough(n->op) && L->qi[x].quantized) {
        const char *raw;
        TT_CHECK(tt_ob_tensor_name(L->b, n->name, "", &raw));
        TT_CHECK(tt_onnx_emit_op(L, n, n->n_in, in, raw));
        return tt_onnx_qdq_passthrough(L, x, n->out[0], raw);
    }
    TT_CHECK(tt_onnx_def_name(L, n->out[0], n->name, "", &out));
    return tt_onnx_emit_op(L, n, n->n_in, in, out);
}

static tt_status emit_node(tt_onnx_lower *L, int i)
{
    const tt_node *n = &L->g->nodes[i];
    switch (n->op) {
    case TT_OP_DROPOUT:
    case TT_OP_BIAS_QUANT:
        return TT_OK; /* identity at inference / the layer writes the bias: aliased */
    case TT_OP_FAKEQUANT:
        return L->format == TT_ONNX_QDQ ? emit_fake_quant(L, n) : TT_OK;
    case TT_OP_BN_FOLD_WEIGHT:
        return fold_weight(L, n); /* written by its reader */
    case TT_OP_CONV:
    case TT_OP_GEMM:
    case TT_OP_MATMUL:
        return emit_layer(L, i);
    default:
        return emit_generic(L, n);
    }
}

static tt_status declare_io(tt_onnx_lower *L)
{
    const tt_value *in = &L->g->values[L->in_id], *out = &L->g->values[L->out_id];
    if (in->kind != TT_VALUE_INPUT || in->dtype != TT_F32)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "ONNX export: the model input '%s' must be a float32 graph input", in->name);
    if (out->dtype != TT_F32)
        return tt_fail(TT_ERR_INVALID_ARG, "ONNX export: the model output '%s' must be float32",
                       out->name);
    TT_CHECK(tt_ob_reserve_tensor_name(L->b, "input"));
    TT_CHECK(tt_ob_reserve_tensor_name(L->b, "output"));
    L->name[L->in_id] = "input";
    TT_CHECK(
        tt_ob_graph_io(L->b, false, "input", TT_ONNX_DT_FLOAT, in->shape.ndim, in->shape.dims));
    return tt_ob_graph_io(L->b, true, "output", TT_ONNX_DT_FLOAT, out->shape.ndim, out->shape.dims);
}

static tt_status lower(tt_onnx_lower *L)
{
    const tt_graph *g = L->g;
    TT_CHECK(mark_needed(L));
    count_consumers(L);
    if (L->format == TT_ONNX_QDQ) {
        int fq = 0;
        for (int i = 0; i < g->n_nodes; i++)
            fq += L->needed[i] && g->nodes[i].op == TT_OP_FAKEQUANT;
        if (fq == 0)
            return tt_fail(TT_ERR_INVALID_ARG,
                           "ONNX export: QDQ needs a fake-quantised (QAT) graph with trained "
                           "quantisation parameters and this one has no FakeQuant nodes; export "
                           "a checkpoint of `tinytrain qat`, or use the fp32 format");
    }
    find_aliases(L);
    if (L->format == TT_ONNX_QDQ && L->pad) tt_onnx_qdq_plan_pads(L);
    L->out_root = tt_onnx_root(L, L->out_id);
    TT_CHECK(declare_io(L));
    for (int i = 0; i < g->n_nodes; i++)
        if (L->needed[i] && !L->absorbed[i]) TT_CHECK(emit_node(L, i));
    const char *src;
    TT_CHECK(tt_onnx_use(L, L->out_root, &src));
    if (strcmp(src, "output") != 0) /* the output is the input itself, or a constant */
        TT_CHECK(tt_ob_node(L->b, "Identity", "output_Identity", 1, &src, "output", NULL));
    return TT_OK;
}

tt_status tt_onnx_lower_graph(const tt_graph *g, int in_id, int out_id, tt_onnx_format format,
                              int opset, bool channel_pad, tt_onnx_builder *b)
{
    if (in_id < 0 || in_id >= g->n_values || out_id < 0 || out_id >= g->n_values)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "ONNX export: input %d or output %d is not a value of the graph (%d "
                       "values)",
                       in_id, out_id, g->n_values);
    size_t nv = (size_t)g->n_values, nn = (size_t)g->n_nodes + 1;
    tt_onnx_lower L = {
        .g = g, .in_id = in_id, .out_id = out_id, .format = format, .opset = opset, .b = b};
    L.needed = calloc(nn, sizeof *L.needed);
    L.absorbed = calloc(nn, sizeof *L.absorbed);
    L.fold_bn = malloc(nn * sizeof *L.fold_bn);
    L.consumers = calloc(nv, sizeof *L.consumers);
    L.consumer = calloc(nv, sizeof *L.consumer);
    L.alias = malloc(nv * sizeof *L.alias);
    L.name = calloc(nv, sizeof *L.name);
    L.folded = calloc(nv, sizeof *L.folded);
    L.qi = calloc(nv, sizeof *L.qi);
    L.wi = calloc(nv, sizeof *L.wi);
    L.pad = channel_pad ? calloc(nv, sizeof *L.pad) : NULL;
    L.pad_conv = channel_pad ? calloc(nn, sizeof *L.pad_conv) : NULL;
    tt_status s;
    if (!L.needed || !L.absorbed || !L.fold_bn || !L.consumers || !L.consumer || !L.alias ||
        !L.name || !L.folded || !L.qi || !L.wi || (channel_pad && (!L.pad || !L.pad_conv))) {
        s = tt_fail(TT_ERR_NOMEM, "ONNX export: out of memory");
    } else {
        for (size_t i = 0; i < nn; i++) L.fold_bn[i] = -1;
        for (size_t v = 0; v < nv; v++) L.alias[v] = -1;
        s = lower(&L);
    }
    for (size_t v = 0; L.folded && v < nv; v++) free(L.folded[v]);
    free(L.needed), free(L.absorbed), free(L.fold_bn), free(L.consumers), free(L.consumer);
    free(L.alias), free(L.name), free(L.folded), free(L.qi), free(L.wi), free(L.pad);
    free(L.pad_conv);
    return s;
}
