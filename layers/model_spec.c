/* The config's model section -> IR, through the layers.h builders.
 *
 * Layers are named by type and a per-type counter (conv1, bn1, relu1, conv2, ..., fc1, block1),
 * so adding a layer of one type does not rename the others and parameter names stay readable
 * ("conv2.weight", "block1.conv1.weight"); docs/config.md lists the prefixes. */
#include <stdio.h>
#include <string.h>
#include "autograd/internal.h"
#include "tinytrain/config.h"
#include "tinytrain/layers.h"

static const char *const PREFIX[TT_LAYER_KIND_COUNT] = {
    [TT_LAYER_LINEAR] = "fc",          [TT_LAYER_CONV2D] = "conv",
    [TT_LAYER_BATCHNORM] = "bn",       [TT_LAYER_RELU] = "relu",
    [TT_LAYER_RELU6] = "relu6_",       [TT_LAYER_SIGMOID] = "sigmoid",
    [TT_LAYER_TANH] = "tanh",          [TT_LAYER_FLATTEN] = "flatten",
    [TT_LAYER_GLOBAL_AVGPOOL] = "gap", [TT_LAYER_LEAKY_RELU] = "leaky_relu",
    [TT_LAYER_MAXPOOL] = "maxpool",    [TT_LAYER_AVGPOOL] = "avgpool",
    [TT_LAYER_DROPOUT] = "dropout",    [TT_LAYER_RESIDUAL] = "block",
};

static tt_status build_layer(tt_graph *g, tt_rng *rng, const tt_layer_spec *l, const char *name,
                             int x, int *y)
{
    switch (l->kind) {
    case TT_LAYER_LINEAR:
        return tt_layer_linear(g, rng, name, x, l->out, l->bias, y);
    case TT_LAYER_CONV2D: {
        tt_conv2d_opts o = {.out_channels = l->out,
                            .kernel = l->kernel,
                            .stride = l->stride,
                            .padding = l->padding,
                            .dilation = l->dilation,
                            .groups = l->groups,
                            .bias = l->bias};
        return tt_layer_conv2d(g, rng, name, x, &o, y);
    }
    case TT_LAYER_BATCHNORM:
        return tt_layer_batchnorm(g, name, x, l->eps, l->momentum, y);
    case TT_LAYER_RELU:
        return tt_layer_simple(g, TT_OP_RELU, name, x, y);
    case TT_LAYER_RELU6:
        return tt_layer_relu6(g, name, x, y);
    case TT_LAYER_SIGMOID:
        return tt_layer_simple(g, TT_OP_SIGMOID, name, x, y);
    case TT_LAYER_TANH:
        return tt_layer_simple(g, TT_OP_TANH, name, x, y);
    case TT_LAYER_FLATTEN:
        return tt_layer_simple(g, TT_OP_FLATTEN, name, x, y);
    case TT_LAYER_GLOBAL_AVGPOOL:
        return tt_layer_simple(g, TT_OP_GLOBALAVGPOOL, name, x, y);
    case TT_LAYER_LEAKY_RELU:
        return tt_layer_leaky_relu(g, name, x, l->alpha, y);
    case TT_LAYER_MAXPOOL:
        return tt_layer_pool2d(g, TT_OP_MAXPOOL, name, x, l->kernel, l->stride, l->padding, y);
    case TT_LAYER_AVGPOOL:
        return tt_layer_pool2d(g, TT_OP_AVGPOOL, name, x, l->kernel, l->stride, l->padding, y);
    case TT_LAYER_DROPOUT:
        return tt_layer_dropout(g, name, x, l->ratio, y);
    case TT_LAYER_RESIDUAL:
        return tt_layer_residual_block(g, rng, name, x, l->out, l->stride, y);
    default:
        return tt_fail(TT_ERR_INVALID_ARG, "tt_model_build: unknown layer kind %d", (int)l->kind);
    }
}

/* The clamp_residual head: clamp(input + y, 0, 1). The shapes must already match, or Add's
 * broadcasting would quietly turn a wrong channel count into a valid graph. */
static tt_status clamp_residual(const tt_config *c, tt_graph *g, int x, int *y)
{
    const tt_shape *xs = &g->values[x].shape, *ys = &g->values[*y].shape;
    if (!tt_shape_equal(xs, ys)) {
        char a[96], b[96];
        return tt_fail(TT_ERR_SHAPE,
                       "%s:%d:%d: model.output: clamp_residual adds the input to the last "
                       "layer's output, so they need the same shape; input is %s, the last "
                       "layer gives %s",
                       c->path, c->model.output_line, c->model.output_col,
                       tt_shape_str(xs, a, sizeof a), tt_shape_str(ys, b, sizeof b));
    }
    int ins[2] = {*y, x}, sum;
    TT_CHECK(tt_graph_add_node(g, TT_OP_ADD, "head.add", 2, ins, 0, NULL, &sum));
    tt_attr at[2] = {tt_attr_float("min", 0.0f), tt_attr_float("max", 1.0f)};
    return tt_graph_add_node(g, TT_OP_CLIP, "head.clip", 1, &sum, 2, at, y);
}

tt_status tt_model_build(const tt_config *c, tt_graph *g, tt_rng *rng, int *input_id,
                         int *output_id)
{
    TT_CHECK_NULL(c, "tt_model_build");
    TT_CHECK_NULL(g, "tt_model_build");
    TT_CHECK_NULL(rng, "tt_model_build");
    const tt_model_config *m = &c->model;
    if (m->input_ndim != 1 && m->input_ndim != 3)
        return tt_fail(TT_ERR_INVALID_ARG, "tt_model_build: model input rank %d (need 1 or 3)",
                       m->input_ndim);
    if (m->n_layers < 1 || m->n_layers > TT_CONFIG_MAX_LAYERS)
        return tt_fail(TT_ERR_INVALID_ARG, "tt_model_build: %d layers (need 1..%d)", m->n_layers,
                       TT_CONFIG_MAX_LAYERS);
    int64_t dims[TT_MAX_DIMS] = {TT_DIM_BATCH};
    for (int i = 0; i < m->input_ndim; i++) dims[i + 1] = m->input[i];
    int x, y;
    TT_CHECK(tt_graph_add_input(g, "input", TT_F32, m->input_ndim + 1, dims, &x));
    y = x;
    int count[TT_LAYER_KIND_COUNT] = {0};
    for (int i = 0; i < m->n_layers; i++) {
        const tt_layer_spec *l = &m->layers[i];
        if ((unsigned)l->kind >= (unsigned)TT_LAYER_KIND_COUNT)
            return tt_fail(TT_ERR_INVALID_ARG, "tt_model_build: layer %d has unknown kind %d", i,
                           (int)l->kind);
        char name[TT_NAME_MAX];
        snprintf(name, sizeof name, "%s%d", PREFIX[l->kind], ++count[l->kind]);
        tt_status st = build_layer(g, rng, l, name, y, &y);
        if (st != TT_OK) {
            /* Copy first: tt_fail writes the buffer tt_last_error() points at. */
            char why[768];
            snprintf(why, sizeof why, "%s", tt_last_error());
            return tt_fail(st, "%s:%d:%d: model.layers[%d] (%s): %s", c->path, l->line, l->col, i,
                           tt_layer_kind_name(l->kind), why);
        }
    }
    if (m->output == TT_OUTPUT_CLAMP_RESIDUAL) TT_CHECK(clamp_residual(c, g, x, &y));
    if (input_id) *input_id = x;
    if (output_id) *output_id = y;
    return TT_OK;
}

int64_t tt_model_num_params(const tt_graph *g)
{
    if (!g) return 0;
    int64_t n = 0;
    for (int i = 0; i < g->n_values; i++) {
        const tt_value *v = &g->values[i];
        if (v->kind == TT_VALUE_PARAM && v->trainable) n += tt_shape_numel(&v->shape);
    }
    return n;
}
