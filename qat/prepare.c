/* The QAT prepare pass: an fp32 model graph -> its fake-quantised twin (tinytrain/qat.h).
 *
 * The pass copies the source graph node by node into a new graph (the IR is append-only, and a
 * copy leaves the fp32 graph usable for the fp32 evaluation), folding BatchNormalization into
 * the layer before it and inserting FakeQuant nodes exactly where the QDQ export will put
 * QuantizeLinear/DequantizeLinear pairs, so the fine-tuned model is the model that ships. */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "autograd/internal.h"
#include "tinytrain/qat.h"
#include "tinytrain/quant.h"

/* fold[] codes for BN nodes (layers hold their BN's index). */
enum { FOLDED_BN = -2, NO_FOLD = -1, SIMULATED_BN = -3 };

typedef struct prep {
    const tt_graph *src;
    tt_graph *dst;
    const tt_qat_config *q;
    int src_out;
    int *map;       /* src value -> dst value carrying it (its quantised form where it has one) */
    int *consumers; /* src value -> consuming nodes, +1 for the model output */
    int *consumer;  /* src value -> the last node consuming it */
    int *fold;      /* src Conv/Gemm node -> its BN node; BN node -> FOLDED_BN/SIMULATED_BN */
    int *gamma_var; /* src layer node -> dst ids of its BN's gamma and running_var (simulate) */
    tt_qat_summary sum;
} prep;

static bool is_passthrough(tt_op_type op)
{
    /* Max of quantised values and copies stay on the same grid: ONNX Runtime runs them on int8
     * with the input's scale, so no new quantisation point is needed. */
    return op == TT_OP_MAXPOOL || op == TT_OP_FLATTEN || op == TT_OP_RESHAPE || op == TT_OP_DROPOUT;
}

static bool is_weighted(tt_op_type op)
{
    return op == TT_OP_CONV || op == TT_OP_GEMM || op == TT_OP_MATMUL;
}

static bool is_supported(tt_op_type op)
{
    switch (op) {
    case TT_OP_GEMM:
    case TT_OP_MATMUL:
    case TT_OP_CONV:
    case TT_OP_MAXPOOL:
    case TT_OP_AVGPOOL:
    case TT_OP_GLOBALAVGPOOL:
    case TT_OP_FLATTEN:
    case TT_OP_RESHAPE:
    case TT_OP_ADD:
    case TT_OP_MUL:
    case TT_OP_RELU:
    case TT_OP_CLIP:
    case TT_OP_LEAKYRELU:
    case TT_OP_SIGMOID:
    case TT_OP_TANH:
    case TT_OP_BATCHNORM:
    case TT_OP_DROPOUT:
        return true;
    default:
        return false;
    }
}

static tt_status unsupported(const tt_node *n)
{
    return tt_fail(TT_ERR_UNSUPPORTED,
                   "node '%s' (%s): QAT cannot quantise this op (it has no int8 form in the "
                   "exported model); QAT supports Conv, Gemm, MatMul, BatchNormalization after "
                   "a Conv or Gemm, Relu, Clip, LeakyRelu, Sigmoid, Tanh, Add, Mul, MaxPool, "
                   "AveragePool, GlobalAveragePool, Flatten, Reshape and Dropout",
                   n->name, tt_op_name(n->op));
}

static tt_status scan(prep *p)
{
    const tt_graph *s = p->src;
    for (int v = 0; v < s->n_values; v++) p->map[v] = -1;
    for (int i = 0; i < s->n_nodes; i++) {
        const tt_node *n = &s->nodes[i];
        p->fold[i] = NO_FOLD;
        p->gamma_var[2 * i] = p->gamma_var[2 * i + 1] = -1;
        if (!is_supported(n->op)) return unsupported(n);
        for (int j = 0; j < n->n_in; j++)
            if (n->in[j] >= 0) {
                p->consumers[n->in[j]]++;
                p->consumer[n->in[j]] = i;
            }
    }
    p->consumers[p->src_out]++;
    for (int i = 0; i < s->n_nodes; i++) {
        const tt_node *n = &s->nodes[i];
        if (n->op != TT_OP_BATCHNORM) continue;
        int x = n->in[0], prod = s->values[x].producer;
        bool foldable =
            prod >= 0 && (s->nodes[prod].op == TT_OP_CONV || s->nodes[prod].op == TT_OP_GEMM) &&
            p->consumers[x] == 1 && s->values[s->nodes[prod].in[1]].kind == TT_VALUE_PARAM;
        if (!foldable)
            return tt_fail(TT_ERR_UNSUPPORTED,
                           "node '%s' (BatchNormalization): QAT folds BatchNormalization into "
                           "the Conv or Gemm that feeds it, and this one follows %s%s; put it "
                           "right after a conv2d or linear layer",
                           n->name, prod >= 0 ? tt_op_name(s->nodes[prod].op) : "the model input",
                           prod >= 0 && p->consumers[x] > 1 ? " whose output has other users" : "");
        p->fold[prod] = i;
        p->fold[i] = p->q->bn_fold == TT_BN_FOLD_SIMULATE ? SIMULATED_BN : FOLDED_BN;
    }
    return TT_OK;
}

/* A dst parameter copied from src value v (once; later uses share it). */
static tt_status copy_param(prep *p, int v, int *out)
{
    if (p->map[v] >= 0) {
        *out = p->map[v];
        return TT_OK;
    }
    const tt_value *sv = &p->src->values[v];
    int id;
    TT_CHECK(
        tt_graph_add_param(p->dst, sv->name, sv->shape.ndim, sv->shape.dims, sv->trainable, &id));
    memcpy(tt_graph_param_data(p->dst, id), sv->data->data,
           (size_t)tt_tensor_numel(sv->data) * sizeof(float));
    p->map[v] = *out = id;
    return TT_OK;
}

/* "<base>.<suffix>" into name (TT_NAME_MAX bytes). */
static tt_status qat_name(char *name, const char *base, const char *suffix)
{
    if (snprintf(name, TT_NAME_MAX, "%s.%s", base, suffix) < TT_NAME_MAX) return TT_OK;
    return tt_fail(TT_ERR_INVALID_ARG,
                   "QAT prepare: the name '%s.%s' is longer than %d characters; use shorter "
                   "layer names",
                   base, suffix, TT_NAME_MAX - 1);
}

static tt_status new_param(prep *p, const char *base, const char *suffix, int64_t c, bool trainable,
                           float init, int *id)
{
    char name[TT_NAME_MAX];
    TT_CHECK(qat_name(name, base, suffix));
    TT_CHECK(tt_graph_add_param(p->dst, name, 1, &c, trainable, id));
    float *d = tt_graph_param_data(p->dst, *id);
    for (int64_t i = 0; i < c; i++) d[i] = init;
    return TT_OK;
}

static int observer_code(const tt_qat_tensor_config *tc, bool weight)
{
    /* A weight is the whole population at every step, so its minmax is the current tensor's
     * (PyTorch's running MinMax would never let a weight range shrink). */
    if (tc->observer == TT_QAT_OBS_MOVING_AVERAGE) return TT_OBSERVER_MOVING_AVG;
    return weight ? TT_OBSERVER_LAST : TT_OBSERVER_MINMAX;
}

/* y = FakeQuant(x) named "<base>.q" (base: x's name when NULL); axis -1 per-tensor. */
static tt_status add_fake_quant(prep *p, int x, const char *base, bool weight, int axis, int *y)
{
    const tt_qat_tensor_config *tc = weight ? &p->q->weight : &p->q->activation;
    const tt_value *xv = &p->dst->values[x];
    char name[TT_NAME_MAX];
    TT_CHECK(qat_name(name, base ? base : xv->name, "q"));
    int64_t c = axis >= 0 ? xv->shape.dims[axis] : 1;
    tt_qrange r =
        tt_quant_range(tc->is_signed ? TT_QTYPE_S8 : TT_QTYPE_U8, tc->symmetric, tc->reduce_range);
    int ins[5] = {x};
    TT_CHECK(new_param(p, name, "scale", c, p->q->learnable_scale, 1.0f, &ins[1]));
    TT_CHECK(new_param(p, name, "zero_point", c, false, 0.0f, &ins[2]));
    TT_CHECK(new_param(p, name, "min", c, false, INFINITY, &ins[3]));
    TT_CHECK(new_param(p, name, "max", c, false, -INFINITY, &ins[4]));
    tt_attr at[8] = {tt_attr_int("qmin", r.qmin),
                     tt_attr_int("qmax", r.qmax),
                     tt_attr_int("axis", axis),
                     tt_attr_int("symmetric", tc->symmetric),
                     tt_attr_int("observer", observer_code(tc, weight)),
                     tt_attr_float("averaging_constant", tc->averaging_constant),
                     tt_attr_int("learnable", p->q->learnable_scale),
                     tt_attr_int("observe", 1)};
    TT_CHECK(tt_graph_add_node(p->dst, TT_OP_FAKEQUANT, name, 5, ins, 8, at, y));
    if (weight)
        p->sum.weight_points++;
    else
        p->sum.activation_points++;
    return TT_OK;
}

/* Fold BN node b into the copied weight w (and bias, created if the layer has none):
 * W'[c] = W[c] * f, b'[c] = beta + (b - mean) * f with f = gamma / sqrt(var + eps), in double. */
static tt_status fold_bn(prep *p, const tt_node *layer, const tt_node *bn, int w, int *bias)
{
    const tt_graph *s = p->src;
    const float *gamma = tt_tensor_f32(s->values[bn->in[1]].data);
    const float *beta = tt_tensor_f32(s->values[bn->in[2]].data);
    const float *mean = tt_tensor_f32(s->values[bn->in[3]].data);
    const float *var = tt_tensor_f32(s->values[bn->in[4]].data);
    double eps = tt_node_attr_float(bn, "epsilon", 1e-5f);
    const tt_value *wv = &p->dst->values[w];
    int64_t m = wv->shape.dims[0], per = tt_shape_numel(&wv->shape) / m;
    if (*bias < 0) TT_CHECK(new_param(p, layer->name, "bias", m, true, 0.0f, bias));
    float *wd = tt_graph_param_data(p->dst, w), *bd = tt_graph_param_data(p->dst, *bias);
    for (int64_t c = 0; c < m; c++) {
        double f = gamma[c] / sqrt((double)var[c] + eps);
        for (int64_t k = 0; k < per; k++) wd[c * per + k] = (float)(wd[c * per + k] * f);
        bd[c] = (float)(beta[c] + ((double)bd[c] - mean[c]) * f);
    }
    p->sum.folded_bn++;
    return TT_OK;
}

/* Simulated folding: the layer sees W * f (BnFoldWeight, whose output is what gets
 * fake-quantised) and its output is scaled back by 1/f (BnUnfold) before the live BN. A layer
 * bias is absorbed into the BN: batch statistics cancel it, and the running mean (which saw it)
 * drops it, so eval output is unchanged. */
static tt_status simulate_fold(prep *p, const tt_node *n, const tt_node *bn, int *ins, int *n_in)
{
    int layer = (int)(n - p->src->nodes);
    int gamma, var, mean;
    TT_CHECK(copy_param(p, bn->in[1], &gamma));
    TT_CHECK(copy_param(p, bn->in[4], &var));
    if (n->n_in > 2 && ins[2] >= 0) {
        TT_CHECK(copy_param(p, bn->in[3], &mean));
        float *rm = tt_graph_param_data(p->dst, mean);
        const float *b = tt_graph_param_data(p->dst, ins[2]);
        for (int64_t c = 0; c < tt_shape_numel(&p->dst->values[mean].shape); c++) rm[c] -= b[c];
        ins[2] = -1;
    }
    *n_in = 2;
    p->sum.folded_bn++;
    p->gamma_var[2 * layer] = gamma;
    p->gamma_var[2 * layer + 1] = var;
    char name[TT_NAME_MAX];
    TT_CHECK(qat_name(name, n->name, "fold"));
    tt_attr eps = tt_attr_float("epsilon", tt_node_attr_float(bn, "epsilon", 1e-5f));
    int fin[3] = {ins[1], gamma, var};
    return tt_graph_add_node(p->dst, TT_OP_BN_FOLD_WEIGHT, name, 3, fin, 1, &eps, &ins[1]);
}

static tt_status add_unfold(prep *p, const tt_node *n, int y, int *out)
{
    int layer = (int)(n - p->src->nodes);
    const tt_node *bn = &p->src->nodes[p->fold[layer]];
    char name[TT_NAME_MAX];
    TT_CHECK(qat_name(name, n->name, "unfold"));
    tt_attr eps = tt_attr_float("epsilon", tt_node_attr_float(bn, "epsilon", 1e-5f));
    int in[3] = {y, p->gamma_var[2 * layer], p->gamma_var[2 * layer + 1]};
    return tt_graph_add_node(p->dst, TT_OP_BN_UNFOLD, name, 3, in, 1, &eps, out);
}

/* The scale param of the activation FakeQuant whose output reaches value v through
 * pass-through ops, or -1. */
static int input_scale(const prep *p, int v)
{
    for (;;) {
        int prod = p->dst->values[v].producer;
        if (prod < 0) return -1;
        const tt_node *n = &p->dst->nodes[prod];
        if (n->op == TT_OP_FAKEQUANT) return n->in[1];
        if (!is_passthrough(n->op)) return -1;
        v = n->in[0];
    }
}

/* The bias as the int8 model holds it: int32 at scale x_scale * w_scale (BiasFakeQuant), so the
 * fake-quant forward adds exactly the bias ONNX Runtime adds. ins: the layer's dst inputs, the
 * weight already through its FakeQuant. A layer whose input is not quantised keeps a float
 * bias. */
static tt_status add_bias_quant(prep *p, int *ins)
{
    int xs = input_scale(p, ins[0]);
    if (xs < 0 || p->dst->values[xs].shape.dims[0] != 1) return TT_OK;
    int ws = p->dst->nodes[p->dst->values[ins[1]].producer].in[1];
    char name[TT_NAME_MAX];
    TT_CHECK(qat_name(name, p->dst->values[ins[2]].name, "q"));
    int in[3] = {ins[2], xs, ws};
    return tt_graph_add_node(p->dst, TT_OP_BIAS_QUANT, name, 3, in, 0, NULL, &ins[2]);
}

/* Whether a value produced by op needs its own quantisation point. */
static bool needs_fake_quant(const prep *p, tt_op_type op, int v)
{
    if (is_passthrough(op)) return false;
    if (v == p->src_out) return true;
    /* A Relu/Clip that is the only consumer takes the point over: ONNX Runtime removes it and
     * lets the producer's QuantizeLinear clamp, with the activation's [0, max] range. */
    if (p->consumers[v] == 1) {
        tt_op_type next = p->src->nodes[p->consumer[v]].op;
        bool fusable = is_weighted(op) || op == TT_OP_ADD || op == TT_OP_BATCHNORM;
        if (fusable && (next == TT_OP_RELU || next == TT_OP_CLIP)) return false;
    }
    return true;
}

/* The inputs of node n in dst: mapped activations, copied parameters, quantised weights. */
static tt_status node_inputs(prep *p, const tt_node *n, int *ins, int *n_in)
{
    const tt_graph *s = p->src;
    *n_in = n->n_in;
    for (int j = 0; j < n->n_in; j++) {
        int v = n->in[j];
        ins[j] = -1;
        if (v < 0) continue;
        if (s->values[v].kind != TT_VALUE_PARAM) {
            ins[j] = p->map[v];
            continue;
        }
        TT_CHECK(copy_param(p, v, &ins[j]));
    }
    if (!is_weighted(n->op) || s->values[n->in[1]].kind != TT_VALUE_PARAM) return TT_OK;
    int bn = p->fold[n - s->nodes];
    char wname[TT_NAME_MAX];
    snprintf(wname, sizeof wname, "%s", p->dst->values[ins[1]].name);
    if (bn >= 0 && p->q->bn_fold == TT_BN_FOLD_SIMULATE) {
        TT_CHECK(simulate_fold(p, n, &s->nodes[bn], ins, n_in));
    } else if (bn >= 0) {
        int bias = n->n_in > 2 ? ins[2] : -1;
        TT_CHECK(fold_bn(p, n, &s->nodes[bn], ins[1], &bias));
        ins[2] = bias;
        *n_in = 3;
    }
    /* Conv and Gemm (transB) weights are [out, ...]; MatMul's B is [in, out]. The point is
     * named after the weight in both folding modes ("conv1.weight.q"). */
    int axis = !p->q->weight.per_channel ? -1 : n->op == TT_OP_MATMUL ? 1 : 0;
    TT_CHECK(add_fake_quant(p, ins[1], wname, true, axis, &ins[1]));
    return *n_in > 2 && ins[2] >= 0 ? add_bias_quant(p, ins) : TT_OK;
}

static tt_status copy_node(prep *p, int i)
{
    const tt_graph *s = p->src;
    const tt_node *n = &s->nodes[i];
    if (p->fold[i] == FOLDED_BN) return TT_OK; /* its output was mapped by its producer */
    int ins[TT_MAX_NODE_IO], outs[TT_MAX_NODE_IO], n_in;
    for (int j = 0; j < n->n_in; j++)
        if (n->in[j] >= 0 && s->values[n->in[j]].kind != TT_VALUE_PARAM && p->map[n->in[j]] < 0)
            return tt_fail(TT_ERR_STATE, "QAT prepare: node '%s' reads '%s' before it is made",
                           n->name, s->values[n->in[j]].name);
    TT_CHECK(node_inputs(p, n, ins, &n_in));
    TT_CHECK(tt_graph_add_node(p->dst, n->op, n->name, n_in, ins, n->n_attrs, n->attrs, outs));
    if (p->fold[i] >= 0 && p->q->bn_fold == TT_BN_FOLD_SIMULATE) {
        /* The quantisation point comes after the live BN (and its Relu). */
        return add_unfold(p, n, outs[0], &p->map[n->out[0]]);
    }
    for (int k = 0; k < n->n_out; k++) {
        int v = n->out[k];
        if (k == 0 && p->fold[i] >= 0) v = s->nodes[p->fold[i]].out[0]; /* BN's output */
        p->map[v] = outs[k];
        if (s->values[v].dtype == TT_F32 && needs_fake_quant(p, n->op, v))
            TT_CHECK(add_fake_quant(p, outs[k], NULL, false, -1, &p->map[v]));
    }
    return TT_OK;
}

static tt_status copy_inputs(prep *p, int src_in)
{
    const tt_graph *s = p->src;
    for (int v = 0; v < s->n_values; v++) {
        const tt_value *sv = &s->values[v];
        if (sv->kind != TT_VALUE_INPUT) continue;
        TT_CHECK(tt_graph_add_input(p->dst, sv->name, sv->dtype, sv->shape.ndim, sv->shape.dims,
                                    &p->map[v]));
        if (v == src_in && sv->dtype == TT_F32)
            TT_CHECK(add_fake_quant(p, p->map[v], NULL, false, -1, &p->map[v]));
    }
    return TT_OK;
}

static tt_status prepare(prep *p, int src_in, int *dst_in)
{
    TT_CHECK(scan(p));
    TT_CHECK(tt_graph_create(&p->dst));
    TT_CHECK(copy_inputs(p, src_in));
    /* The raw input id: copy_inputs mapped src_in to its FakeQuant output. */
    *dst_in = tt_graph_find_value(p->dst, p->src->values[src_in].name);
    for (int i = 0; i < p->src->n_nodes; i++) TT_CHECK(copy_node(p, i));
    return tt_graph_validate(p->dst);
}

tt_status tt_qat_prepare(const tt_graph *src, int src_in, int src_out, const tt_qat_config *q,
                         tt_graph **dst, int *dst_in, int *dst_out, tt_qat_summary *summary)
{
    TT_CHECK_NULL(src, "tt_qat_prepare");
    TT_CHECK_NULL(q, "tt_qat_prepare");
    TT_CHECK_NULL(dst, "tt_qat_prepare");
    *dst = NULL;
    if (src_in < 0 || src_in >= src->n_values || src_out < 0 || src_out >= src->n_values)
        return tt_fail(TT_ERR_INVALID_ARG, "tt_qat_prepare: input %d or output %d is not a value",
                       src_in, src_out);
    size_t nv = (size_t)src->n_values, nn = (size_t)src->n_nodes + 1;
    prep p = {.src = src, .q = q, .src_out = src_out};
    p.map = malloc(nv * sizeof *p.map);
    p.consumers = calloc(nv, sizeof *p.consumers);
    p.consumer = calloc(nv, sizeof *p.consumer);
    p.fold = malloc(nn * sizeof *p.fold);
    p.gamma_var = malloc(2 * nn * sizeof *p.gamma_var);
    tt_status s = TT_ERR_NOMEM;
    int in_id = -1;
    if (!p.map || !p.consumers || !p.consumer || !p.fold || !p.gamma_var)
        tt_fail(TT_ERR_NOMEM, "tt_qat_prepare: out of memory");
    else
        s = prepare(&p, src_in, &in_id);
    if (s == TT_OK) {
        *dst = p.dst;
        if (dst_in) *dst_in = in_id;
        if (dst_out) *dst_out = p.map[src_out];
        if (summary) *summary = p.sum;
    } else {
        tt_graph_free(p.dst);
    }
    free(p.map);
    free(p.consumers);
    free(p.consumer);
    free(p.fold);
    free(p.gamma_var);
    return s;
}

/* Set (or add) an int attribute of a node. */
static void set_attr(tt_node *n, const char *name, int64_t v)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (!strcmp(n->attrs[i].name, name)) {
            n->attrs[i].ints[0] = v;
            return;
        }
    assert(n->n_attrs < TT_MAX_ATTRS);
    n->attrs[n->n_attrs++] = tt_attr_int(name, v);
}

static void set_all(tt_graph *g, tt_op_type op, const char *name, bool on)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == op) set_attr(&g->nodes[i], name, on);
}

void tt_qat_set_observe(tt_graph *g, bool on)
{
    set_all(g, TT_OP_FAKEQUANT, "observe", on);
}

void tt_qat_set_fake_quant(tt_graph *g, bool on)
{
    set_all(g, TT_OP_FAKEQUANT, "enabled", on);
    set_all(g, TT_OP_BIAS_QUANT, "enabled", on);
}

void tt_qat_set_bn_frozen(tt_graph *g, bool on)
{
    set_all(g, TT_OP_BATCHNORM, "frozen", on);
}

int tt_qat_count(const tt_graph *g)
{
    int c = 0;
    for (int i = 0; g && i < g->n_nodes; i++) c += g->nodes[i].op == TT_OP_FAKEQUANT;
    return c;
}
