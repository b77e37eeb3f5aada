/* Layer builders: emit IR nodes and PyTorch-initialised parameters. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "autograd/internal.h"
#include "tinytrain/layers.h"

static tt_status check_x(const tt_graph *g, int x, const char *fn, const char *name)
{
    if (!g) return tt_fail(TT_ERR_INVALID_ARG, "%s: graph is NULL", fn);
    if (!name) return tt_fail(TT_ERR_INVALID_ARG, "%s: layer name is NULL", fn);
    if (x < 0 || x >= g->n_values)
        return tt_fail(TT_ERR_INVALID_ARG, "%s('%s'): input value id %d does not exist", fn, name,
                       x);
    return TT_OK;
}

static tt_status param_name(char *buf, size_t len, const char *layer, const char *what)
{
    int n = snprintf(buf, len, "%s.%s", layer, what);
    if (n < 0 || (size_t)n >= len)
        return tt_fail(TT_ERR_INVALID_ARG, "layer name '%s' is too long", layer);
    return TT_OK;
}

/* PyTorch's kaiming_uniform_(a=sqrt(5)) reduces to U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and so
 * does its default bias init; one helper serves both. */
static void fill_fan_in_uniform(float *p, int64_t n, int64_t fan_in, tt_rng *rng)
{
    float bound = fan_in > 0 ? (float)(1.0 / sqrt((double)fan_in)) : 0.0f;
    for (int64_t i = 0; i < n; i++) p[i] = (2.0f * tt_rng_uniform(rng) - 1.0f) * bound;
}

static tt_status add_init_param(tt_graph *g, tt_rng *rng, const char *layer, const char *what,
                                int ndim, const int64_t *dims, int64_t fan_in, int *id)
{
    char pn[TT_NAME_MAX];
    TT_CHECK(param_name(pn, sizeof pn, layer, what));
    TT_CHECK(tt_graph_add_param(g, pn, ndim, dims, true, id));
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= dims[i];
    fill_fan_in_uniform(tt_graph_param_data(g, *id), n, fan_in, rng);
    return TT_OK;
}

tt_status tt_layer_linear(tt_graph *g, tt_rng *rng, const char *name, int x, int64_t out_features,
                          bool bias, int *y)
{
    TT_CHECK(check_x(g, x, "tt_layer_linear", name));
    TT_CHECK_NULL(rng, "tt_layer_linear");
    const tt_value *xv = &g->values[x];
    if (xv->shape.ndim != 2)
        return tt_fail(TT_ERR_SHAPE,
                       "tt_layer_linear('%s'): input '%s' has rank %d; Linear takes "
                       "[N, features] (add a Flatten first)",
                       name, xv->name, xv->shape.ndim);
    if (out_features < 1)
        return tt_fail(TT_ERR_INVALID_ARG, "tt_layer_linear('%s'): out_features must be >= 1",
                       name);
    int64_t in_f = xv->shape.dims[1];
    int64_t wd[2] = {out_features, in_f};
    int ids[3] = {x, -1, -1};
    TT_CHECK(add_init_param(g, rng, name, "weight", 2, wd, in_f, &ids[1]));
    if (bias) TT_CHECK(add_init_param(g, rng, name, "bias", 1, &out_features, in_f, &ids[2]));
    return tt_graph_add_node(g, TT_OP_GEMM, name, bias ? 3 : 2, ids, 0, NULL, y);
}

tt_status tt_layer_conv2d(tt_graph *g, tt_rng *rng, const char *name, int x,
                          const tt_conv2d_opts *o, int *y)
{
    TT_CHECK(check_x(g, x, "tt_layer_conv2d", name));
    TT_CHECK_NULL(rng, "tt_layer_conv2d");
    TT_CHECK_NULL(o, "tt_layer_conv2d");
    const tt_value *xv = &g->values[x];
    if (xv->shape.ndim != 4)
        return tt_fail(TT_ERR_SHAPE,
                       "tt_layer_conv2d('%s'): input '%s' has rank %d; Conv2d takes "
                       "[N, C, H, W]",
                       name, xv->name, xv->shape.ndim);
    int64_t groups = o->groups ? o->groups : 1, stride = o->stride ? o->stride : 1;
    int64_t dil = o->dilation ? o->dilation : 1, cin = xv->shape.dims[1];
    if (o->out_channels < 1 || o->kernel < 1 || groups < 1 || stride < 1 || dil < 1 ||
        o->padding < 0)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "tt_layer_conv2d('%s'): out_channels, kernel, groups, "
                       "stride and dilation must be >= 1 and padding >= 0",
                       name);
    if (cin % groups || o->out_channels % groups)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "tt_layer_conv2d('%s'): groups %lld must divide in "
                       "channels %lld and out channels %lld",
                       name, (long long)groups, (long long)cin, (long long)o->out_channels);
    int64_t wd[4] = {o->out_channels, cin / groups, o->kernel, o->kernel};
    int64_t fan_in = wd[1] * wd[2] * wd[3];
    int ids[3] = {x, -1, -1};
    TT_CHECK(add_init_param(g, rng, name, "weight", 4, wd, fan_in, &ids[1]));
    if (o->bias) TT_CHECK(add_init_param(g, rng, name, "bias", 1, wd, fan_in, &ids[2]));
    int64_t ks[2] = {o->kernel, o->kernel}, st[2] = {stride, stride}, di[2] = {dil, dil};
    int64_t pads[4] = {o->padding, o->padding, o->padding, o->padding};
    tt_attr at[5] = {tt_attr_ints("kernel_shape", 2, ks), tt_attr_ints("strides", 2, st),
                     tt_attr_ints("pads", 4, pads), tt_attr_ints("dilations", 2, di),
                     tt_attr_int("group", groups)};
    return tt_graph_add_node(g, TT_OP_CONV, name, o->bias ? 3 : 2, ids, 5, at, y);
}

tt_status tt_layer_batchnorm(tt_graph *g, const char *name, int x, float eps, float momentum,
                             int *y)
{
    TT_CHECK(check_x(g, x, "tt_layer_batchnorm", name));
    const tt_value *xv = &g->values[x];
    if (xv->shape.ndim != 2 && xv->shape.ndim != 4)
        return tt_fail(TT_ERR_SHAPE,
                       "tt_layer_batchnorm('%s'): input '%s' has rank %d; "
                       "BatchNorm takes [N, C] or [N, C, H, W]",
                       name, xv->name, xv->shape.ndim);
    if (!(eps > 0.0f) || !(momentum >= 0.0f && momentum <= 1.0f))
        return tt_fail(TT_ERR_INVALID_ARG,
                       "tt_layer_batchnorm('%s'): need eps > 0 and momentum "
                       "in [0, 1]",
                       name);
    int64_t c = xv->shape.dims[1];
    static const char *const what[4] = {"weight", "bias", "running_mean", "running_var"};
    int ids[5] = {x, -1, -1, -1, -1};
    for (int i = 0; i < 4; i++) {
        char pn[TT_NAME_MAX];
        TT_CHECK(param_name(pn, sizeof pn, name, what[i]));
        TT_CHECK(tt_graph_add_param(g, pn, 1, &c, i < 2, &ids[i + 1]));
        float *p = tt_graph_param_data(g, ids[i + 1]);
        float v = (i == 0 || i == 3) ? 1.0f : 0.0f;
        for (int64_t k = 0; k < c; k++) p[k] = v;
    }
    tt_attr at[2] = {tt_attr_float("epsilon", eps), tt_attr_float("momentum", momentum)};
    return tt_graph_add_node(g, TT_OP_BATCHNORM, name, 5, ids, 2, at, y);
}

tt_status tt_layer_simple(tt_graph *g, tt_op_type op, const char *name, int x, int *y)
{
    TT_CHECK(check_x(g, x, "tt_layer_simple", name));
    switch (op) {
    case TT_OP_RELU:
    case TT_OP_SIGMOID:
    case TT_OP_TANH:
    case TT_OP_GLOBALAVGPOOL:
        return tt_graph_add_node(g, op, name, 1, &x, 0, NULL, y);
    case TT_OP_FLATTEN: {
        tt_attr axis = tt_attr_int("axis", 1);
        return tt_graph_add_node(g, op, name, 1, &x, 1, &axis, y);
    }
    default:
        return tt_fail(TT_ERR_INVALID_ARG,
                       "tt_layer_simple('%s'): %s needs parameters or "
                       "attributes; use its own builder",
                       name, tt_op_name(op));
    }
}

tt_status tt_layer_relu6(tt_graph *g, const char *name, int x, int *y)
{
    TT_CHECK(check_x(g, x, "tt_layer_relu6", name));
    tt_attr at[2] = {tt_attr_float("min", 0.0f), tt_attr_float("max", 6.0f)};
    return tt_graph_add_node(g, TT_OP_CLIP, name, 1, &x, 2, at, y);
}

tt_status tt_layer_leaky_relu(tt_graph *g, const char *name, int x, float alpha, int *y)
{
    TT_CHECK(check_x(g, x, "tt_layer_leaky_relu", name));
    tt_attr at = tt_attr_float("alpha", alpha);
    return tt_graph_add_node(g, TT_OP_LEAKYRELU, name, 1, &x, 1, &at, y);
}

tt_status tt_layer_dropout(tt_graph *g, const char *name, int x, float ratio, int *y)
{
    TT_CHECK(check_x(g, x, "tt_layer_dropout", name));
    tt_attr at = tt_attr_float("ratio", ratio);
    return tt_graph_add_node(g, TT_OP_DROPOUT, name, 1, &x, 1, &at, y);
}

tt_status tt_layer_pool2d(tt_graph *g, tt_op_type op, const char *name, int x, int64_t kernel,
                          int64_t stride, int64_t padding, int *y)
{
    TT_CHECK(check_x(g, x, "tt_layer_pool2d", name));
    if (op != TT_OP_MAXPOOL && op != TT_OP_AVGPOOL)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "tt_layer_pool2d('%s'): op must be MaxPool or "
                       "AveragePool, not %s",
                       name, tt_op_name(op));
    if (kernel < 1 || stride < 0 || padding < 0 || padding * 2 > kernel)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "tt_layer_pool2d('%s'): need kernel >= 1, stride >= 0 "
                       "and 0 <= padding <= kernel/2",
                       name);
    if (stride == 0) stride = kernel;
    int64_t ks[2] = {kernel, kernel}, st[2] = {stride, stride};
    int64_t pads[4] = {padding, padding, padding, padding};
    tt_attr at[3] = {tt_attr_ints("kernel_shape", 2, ks), tt_attr_ints("strides", 2, st),
                     tt_attr_ints("pads", 4, pads)};
    return tt_graph_add_node(g, op, name, 1, &x, 3, at, y);
}

/* conv -> BN, the unit a residual block is made of. */
static tt_status conv_bn(tt_graph *g, tt_rng *rng, const char *block, const char *conv,
                         const char *bn, int x, int64_t cout, int64_t k, int64_t stride, int *y)
{
    char cn[TT_NAME_MAX], bnn[TT_NAME_MAX];
    TT_CHECK(param_name(cn, sizeof cn, block, conv));
    TT_CHECK(param_name(bnn, sizeof bnn, block, bn));
    tt_conv2d_opts o = {.out_channels = cout, .kernel = k, .stride = stride, .padding = k / 2};
    int c;
    TT_CHECK(tt_layer_conv2d(g, rng, cn, x, &o, &c));
    return tt_layer_batchnorm(g, bnn, c, 1e-5f, 0.1f, y);
}

tt_status tt_layer_residual_block(tt_graph *g, tt_rng *rng, const char *name, int x,
                                  int64_t out_channels, int64_t stride, int *y)
{
    TT_CHECK(check_x(g, x, "tt_layer_residual_block", name));
    TT_CHECK_NULL(rng, "tt_layer_residual_block");
    if (g->values[x].shape.ndim != 4)
        return tt_fail(TT_ERR_SHAPE, "tt_layer_residual_block('%s'): input must be [N, C, H, W]",
                       name);
    if (stride < 1 || out_channels < 1)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "tt_layer_residual_block('%s'): stride and "
                       "out_channels must be >= 1",
                       name);
    char nm[TT_NAME_MAX];
    int a, r, b, shortcut = x, sum;
    TT_CHECK(conv_bn(g, rng, name, "conv1", "bn1", x, out_channels, 3, stride, &a));
    TT_CHECK(param_name(nm, sizeof nm, name, "relu1"));
    TT_CHECK(tt_layer_simple(g, TT_OP_RELU, nm, a, &r));
    TT_CHECK(conv_bn(g, rng, name, "conv2", "bn2", r, out_channels, 3, 1, &b));
    if (stride != 1 || g->values[x].shape.dims[1] != out_channels)
        TT_CHECK(conv_bn(g, rng, name, "shortcut.conv", "shortcut.bn", x, out_channels, 1, stride,
                         &shortcut));
    TT_CHECK(param_name(nm, sizeof nm, name, "add"));
    int ins[2] = {b, shortcut};
    TT_CHECK(tt_graph_add_node(g, TT_OP_ADD, nm, 2, ins, 0, NULL, &sum));
    TT_CHECK(param_name(nm, sizeof nm, name, "relu"));
    return tt_layer_simple(g, TT_OP_RELU, nm, sum, y);
}
