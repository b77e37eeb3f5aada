/* ONNX nodes -> IR nodes: the float ops (DESIGN §7) and the op table. Gemm is in
 * onnx_import_gemm.c, the quantisation ops in onnx_import_qops.c, the shared helpers in
 * onnx_import_emit.c and onnx_import_window.c. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "autograd/internal.h"
#include "export/onnx_import.h"

/* ---- the float ops --------------------------------------------------------------------------- */

typedef tt_status (*map_fn)(tt_imp *im, const Onnx__NodeProto *p, const int *h);

static tt_status map_unary(tt_imp *im, const Onnx__NodeProto *p, const int *h, tt_op_type op)
{
    return tt_imp_emit(im, p, op, 1, h, 0, NULL);
}

static tt_status map_relu(tt_imp *im, const Onnx__NodeProto *p, const int *h)
{
    return map_unary(im, p, h, TT_OP_RELU);
}

static tt_status map_sigmoid(tt_imp *im, const Onnx__NodeProto *p, const int *h)
{
    return map_unary(im, p, h, TT_OP_SIGMOID);
}

static tt_status map_tanh(tt_imp *im, const Onnx__NodeProto *p, const int *h)
{
    return map_unary(im, p, h, TT_OP_TANH);
}

static tt_status map_gap(tt_imp *im, const Onnx__NodeProto *p, const int *h)
{
    return map_unary(im, p, h, TT_OP_GLOBALAVGPOOL);
}

static tt_status map_binary(tt_imp *im, const Onnx__NodeProto *p, const int *h, tt_op_type op)
{
    if (p->n_input != 2) return tt_imp_fail(im, TT_ERR_FORMAT, "expected 2 inputs");
    return tt_imp_emit(im, p, op, 2, h, 0, NULL);
}

static tt_status map_add(tt_imp *im, const Onnx__NodeProto *p, const int *h)
{
    return map_binary(im, p, h, TT_OP_ADD);
}

static tt_status map_sub(tt_imp *im, const Onnx__NodeProto *p, const int *h)
{
    return map_binary(im, p, h, TT_OP_SUB);
}

static tt_status map_mul(tt_imp *im, const Onnx__NodeProto *p, const int *h)
{
    return map_binary(im, p, h, TT_OP_MUL);
}

static tt_status map_div(tt_imp *im, const Onnx__NodeProto *p, const int *h)
{
    return map_binary(im, p, h, TT_OP_DIV);
}

static tt_status map_matmul(tt_imp *im, const Onnx__NodeProto *p, const int *h)
{
    if (p->n_input != 2) return tt_imp_fail(im, TT_ERR_FORMAT, "expected 2 inputs");
    TT_CHECK(tt_imp_emit(im, p, TT_OP_MATMUL, 2, h, 0, NULL));
    tt_imp_mark_trainable(im, h[1]);
    return TT_OK;
}

static tt_status map_leakyrelu(tt_imp *im, const Onnx__NodeProto *p, const int *h)
{
    float alpha;
    TT_CHECK(tt_imp_attr_float(im, p, "alpha", 0.01f, &alpha));
    tt_attr a = tt_attr_float("alpha", alpha);
    return tt_imp_emit(im, p, TT_OP_LEAKYRELU, 1, h, 1, &a);
}

static tt_status map_clip(tt_imp *im, const Onnx__NodeProto *p, const int *h)
{
    float lo = -INFINITY, hi = INFINITY;
    if (im->opset < 11) {
        TT_CHECK(tt_imp_attr_float(im, p, "min", lo, &lo));
        TT_CHECK(tt_imp_attr_float(im, p, "max", hi, &hi));
    } else {
        if (p->n_input > 1 && h[1] != TT_IMP_ABSENT)
            TT_CHECK(tt_imp_const_scalar(im, h[1], "min (input 1)", &lo));
        if (p->n_input > 2 && h[2] != TT_IMP_ABSENT)
            TT_CHECK(tt_imp_const_scalar(im, h[2], "max (input 2)", &hi));
    }
    tt_attr a[2] = {tt_attr_float("min", lo), tt_attr_float("max", hi)};
    return tt_imp_emit(im, p, TT_OP_CLIP, 1, h, 2, a);
}

static tt_status map_conv(tt_imp *im, const Onnx__NodeProto *p, const int *h)
{
    if (p->n_input < 2) return tt_imp_fail(im, TT_ERR_FORMAT, "expected 2 or 3 inputs");
    tt_attr a[TT_MAX_ATTRS];
    int n = 0;
    TT_CHECK(tt_imp_conv_attrs(im, p, h[0], h[1], a, &n));
    TT_CHECK(tt_imp_emit(im, p, TT_OP_CONV, (int)p->n_input, h, n, a));
    tt_imp_mark_trainable(im, h[1]);
    if (p->n_input > 2) tt_imp_mark_trainable(im, h[2]);
    return TT_OK;
}

static tt_status map_pool(tt_imp *im, const Onnx__NodeProto *p, const int *h, tt_op_type op)
{
    tt_attr a[TT_MAX_ATTRS];
    int n;
    TT_CHECK(tt_imp_window_attrs(im, p, h[0], NULL, a, &n));
    TT_CHECK(tt_imp_check_ceil(im, p, h[0], a));
    if (op == TT_OP_AVGPOOL) {
        int64_t cip;
        TT_CHECK(tt_imp_attr_int(im, p, "count_include_pad", 0, &cip));
        a[n++] = tt_attr_int("count_include_pad", cip);
    }
    return tt_imp_emit(im, p, op, 1, h, n, a);
}

static tt_status map_maxpool(tt_imp *im, const Onnx__NodeProto *p, const int *h)
{
    return map_pool(im, p, h, TT_OP_MAXPOOL);
}

static tt_status map_avgpool(tt_imp *im, const Onnx__NodeProto *p, const int *h)
{
    return map_pool(im, p, h, TT_OP_AVGPOOL);
}

static tt_status map_flatten(tt_imp *im, const Onnx__NodeProto *p, const int *h)
{
    int64_t axis;
    TT_CHECK(tt_imp_attr_int(im, p, "axis", 1, &axis));
    tt_attr a = tt_attr_int("axis", axis);
    return tt_imp_emit(im, p, TT_OP_FLATTEN, 1, h, 1, &a);
}

static tt_status map_reshape(tt_imp *im, const Onnx__NodeProto *p, const int *h)
{
    int64_t shape[TT_MAX_ATTR_INTS], allowzero;
    int n;
    if (p->n_input != 2 || h[1] == TT_IMP_ABSENT)
        return tt_imp_fail(im, TT_ERR_UNSUPPORTED, "expected the data and a shape input");
    TT_CHECK(tt_imp_const_ints(im, h[1], "shape (input 1)", shape, TT_MAX_ATTR_INTS, &n));
    TT_CHECK(tt_imp_attr_int(im, p, "allowzero", 0, &allowzero));
    for (int i = 0; allowzero && i < n; i++)
        if (shape[i] == 0)
            return tt_imp_fail(im, TT_ERR_UNSUPPORTED,
                               "allowzero=1 with a 0 in the shape makes an empty tensor");
    tt_attr a = tt_attr_ints("shape", n, shape);
    return tt_imp_emit(im, p, TT_OP_RESHAPE, 1, h, 1, &a);
}

/* Squeeze and Unsqueeze as a Reshape to the shape they give (the batch stays dimension 0). */
static tt_status squeeze_axes(tt_imp *im, const Onnx__NodeProto *p, const int *h, int64_t *axes,
                              int *n)
{
    if (im->opset < 13) return tt_imp_attr_ints(im, p, "axes", axes, TT_MAX_DIMS + 1, n);
    *n = -1;
    if (p->n_input < 2 || h[1] == TT_IMP_ABSENT) return TT_OK;
    return tt_imp_const_ints(im, h[1], "axes (input 1)", axes, TT_MAX_DIMS + 1, n);
}

static tt_status squeeze_shape(tt_imp *im, const tt_shape *s, bool unsq, const int64_t *axes, int n,
                               int64_t *out, int *rank)
{
    int r_out = unsq ? s->ndim + n : s->ndim;
    bool pick[2 * TT_MAX_DIMS + 2] = {false};
    for (int i = 0; i < n; i++) {
        int64_t a = axes[i] < 0 ? axes[i] + r_out : axes[i];
        if (a < 0 || a >= r_out || pick[a])
            return tt_imp_fail(im, TT_ERR_SHAPE, "axis %lld is out of range or repeated",
                               (long long)axes[i]);
        pick[a] = true;
    }
    int k = 0, j = 0;
    for (int i = 0; i < r_out; i++) {
        if (unsq) {
            out[k++] = pick[i] ? 1 : s->dims[j++];
            continue;
        }
        bool drop = n < 0 ? s->dims[i] == 1 : pick[i];
        if (drop && s->dims[i] != 1)
            return tt_imp_fail(im, TT_ERR_SHAPE,
                               "dimension %d is %lld, not 1; only size-1 dimensions are squeezed%s",
                               i, (long long)s->dims[i],
                               s->dims[i] == TT_DIM_BATCH ? " (this one is the batch)" : "");
        if (!drop) out[k++] = s->dims[i];
    }
    if (k > TT_MAX_DIMS)
        return tt_imp_fail(im, TT_ERR_UNSUPPORTED, "the result has rank %d; at most %d", k,
                           TT_MAX_DIMS);
    if (k == 0) out[k++] = 1; /* a scalar is [1] here */
    *rank = k;
    return TT_OK;
}

static tt_status map_squeeze(tt_imp *im, const Onnx__NodeProto *p, const int *h, bool unsq)
{
    int64_t axes[TT_MAX_DIMS + 1], out[2 * TT_MAX_DIMS + 2];
    int n, rank = 0;
    TT_CHECK(squeeze_axes(im, p, h, axes, &n));
    if (unsq && n < 0) return tt_imp_fail(im, TT_ERR_FORMAT, "Unsqueeze needs axes");
    tt_dtype dt;
    const tt_shape *s = tt_imp_shape(im, h[0], &dt);
    TT_CHECK(squeeze_shape(im, s, unsq, axes, n, out, &rank));
    tt_imp_const *c = tt_imp_const_of(im, h[0]);
    if (c) { /* a constant stays one: its data under the new shape */
        const void *d;
        int nh;
        TT_CHECK(tt_imp_const_data(im, c, &d));
        TT_CHECK(tt_imp_const_make(im, tt_imp_out_name(p, 0), dt, rank, out, d, &nh));
        tt_imp_const_of(im, nh)->onnx_named = true;
        return tt_imp_bind(im, p, 0, nh);
    }
    bool batch = s->dims[0] == TT_DIM_BATCH;
    for (int i = 0; i < rank; i++)
        if (out[i] == TT_DIM_BATCH && i != 0)
            return tt_imp_fail(im, TT_ERR_UNSUPPORTED,
                               "the batch dimension would move to dimension %d", i);
    if (batch) out[0] = 0; /* Reshape: copy the input's dimension 0 */
    tt_attr a = tt_attr_ints("shape", rank, out);
    return tt_imp_emit(im, p, TT_OP_RESHAPE, 1, h, 1, &a);
}

static tt_status map_squeeze_op(tt_imp *im, const Onnx__NodeProto *p, const int *h)
{
    return map_squeeze(im, p, h, false);
}

static tt_status map_unsqueeze(tt_imp *im, const Onnx__NodeProto *p, const int *h)
{
    return map_squeeze(im, p, h, true);
}

static tt_status map_batchnorm(tt_imp *im, const Onnx__NodeProto *p, const int *h)
{
    int64_t training, spatial;
    float eps, momentum;
    if (p->n_input != 5) return tt_imp_fail(im, TT_ERR_FORMAT, "expected 5 inputs");
    TT_CHECK(tt_imp_attr_int(im, p, "training_mode", 0, &training));
    TT_CHECK(tt_imp_attr_int(im, p, "spatial", 1, &spatial));
    if (training || !spatial)
        return tt_imp_fail(im, TT_ERR_UNSUPPORTED, "%s; tinytrain imports the inference form",
                           training ? "training_mode=1" : "spatial=0");
    TT_CHECK(tt_imp_attr_float(im, p, "epsilon", 1e-5f, &eps));
    TT_CHECK(tt_imp_attr_float(im, p, "momentum", 0.9f, &momentum));
    /* ONNX's momentum weights the running value; tinytrain's (PyTorch's) the new batch. */
    tt_attr a[2] = {tt_attr_float("epsilon", eps), tt_attr_float("momentum", 1.0f - momentum)};
    TT_CHECK(tt_imp_emit(im, p, TT_OP_BATCHNORM, 5, h, 2, a));
    tt_imp_mark_trainable(im, h[1]);
    tt_imp_mark_trainable(im, h[2]);
    return TT_OK;
}

static tt_status map_softmax(tt_imp *im, const Onnx__NodeProto *p, const int *h)
{
    int64_t axis;
    int r = tt_imp_shape(im, h[0], NULL)->ndim;
    TT_CHECK(tt_imp_attr_int(im, p, "axis", im->opset < 13 ? 1 : -1, &axis));
    int64_t a_norm = axis < 0 ? axis + r : axis;
    /* Before opset 13 Softmax flattens to 2-D at axis: the same as per-axis on the last one. */
    if (im->opset < 13 && a_norm != r - 1)
        return tt_imp_fail(im, TT_ERR_UNSUPPORTED,
                           "opset %lld Softmax over dimensions %lld.. of a rank-%d input (the "
                           "flattened form) is not supported; only the last axis",
                           (long long)im->opset, (long long)a_norm, r);
    tt_attr a = tt_attr_int("axis", axis);
    return tt_imp_emit(im, p, TT_OP_SOFTMAX, 1, h, 1, &a);
}

static tt_status map_identity(tt_imp *im, const Onnx__NodeProto *p, const int *h)
{
    return tt_imp_bind(im, p, 0, h[0]);
}

/* Only the export's channel padding of a Conv input, undone before the nodes are mapped. */
static tt_status map_pad(tt_imp *im, const Onnx__NodeProto *p, const int *h)
{
    if (im->pad_alias && im->pad_alias[im->node_index]) return tt_imp_bind(im, p, 0, h[0]);
    return tt_imp_fail(im, TT_ERR_UNSUPPORTED,
                       "tinytrain imports a Pad only as the channel padding its own QDQ export "
                       "writes: constant mode, zeros everywhere in pads but trailing channels "
                       "(axis 1), read only by a per-tensor DequantizeLinear read only by a "
                       "Conv (group 1) whose 8-bit weight initializer is zero in the added "
                       "channels, used nowhere else and scaled per tensor or along axis 0; fold "
                       "other padding into the Conv's pads");
}

static tt_status map_dropout(tt_imp *im, const Onnx__NodeProto *p, const int *h)
{
    if (p->n_input > 2 && h[2] != TT_IMP_ABSENT)
        return tt_imp_fail(im, TT_ERR_UNSUPPORTED,
                           "the training_mode input is not supported; tinytrain imports "
                           "inference graphs");
    TT_CHECK(tt_imp_bind(im, p, 0, h[0]));
    return tt_imp_bind(im, p, 1, TT_IMP_UNAVAILABLE); /* the mask */
}

static tt_status map_constant(tt_imp *im, const Onnx__NodeProto *p, const int *h)
{
    (void)h;
    const char *o = tt_imp_out_name(p, 0);
    const Onnx__AttributeProto *a = p->n_attribute == 1 ? p->attribute[0] : NULL;
    const char *an = a && a->name ? a->name : "";
    int nh;
    int64_t n = 1;
    if (!strcmp(an, "value") && a->t) {
        TT_CHECK(tt_imp_const_add(im, o, a->t, &nh));
    } else if (!strcmp(an, "value_float") && a->has_f) {
        TT_CHECK(tt_imp_const_make(im, o, TT_F32, 0, &n, &a->f, &nh));
    } else if (!strcmp(an, "value_int") && a->has_i) {
        TT_CHECK(tt_imp_const_make(im, o, TT_I64, 0, &n, &a->i, &nh));
    } else if (!strcmp(an, "value_floats") && a->n_floats) {
        n = (int64_t)a->n_floats;
        TT_CHECK(tt_imp_const_make(im, o, TT_F32, 1, &n, a->floats, &nh));
    } else if (!strcmp(an, "value_ints") && a->n_ints) {
        n = (int64_t)a->n_ints;
        TT_CHECK(tt_imp_const_make(im, o, TT_I64, 1, &n, a->ints, &nh));
    } else {
        return tt_imp_fail(im, TT_ERR_UNSUPPORTED,
                           "a Constant needs one attribute: value (a tensor), value_float(s) or "
                           "value_int(s)%s%s",
                           an[0] ? "; not " : "", an);
    }
    tt_imp_const_of(im, nh)->onnx_named = true;
    return tt_imp_bind(im, p, 0, nh);
}

/* ---- the table ------------------------------------------------------------------------------- */

static const struct {
    const char *op;
    map_fn fn;
    int n_required; /* leading inputs ONNX requires */
} float_ops[] = {
    {"Gemm", tt_imp_map_gemm, 2},
    {"MatMul", map_matmul, 2},
    {"Add", map_add, 2},
    {"Sub", map_sub, 2},
    {"Mul", map_mul, 2},
    {"Div", map_div, 2},
    {"Conv", map_conv, 2},
    {"Relu", map_relu, 1},
    {"Clip", map_clip, 1},
    {"LeakyRelu", map_leakyrelu, 1},
    {"Sigmoid", map_sigmoid, 1},
    {"Tanh", map_tanh, 1},
    {"MaxPool", map_maxpool, 1},
    {"AveragePool", map_avgpool, 1},
    {"GlobalAveragePool", map_gap, 1},
    {"Flatten", map_flatten, 1},
    {"Reshape", map_reshape, 2},
    {"Squeeze", map_squeeze_op, 1},
    {"Unsqueeze", map_unsqueeze, 1},
    {"BatchNormalization", map_batchnorm, 5},
    {"Softmax", map_softmax, 1},
    {"Identity", map_identity, 1},
    {"Dropout", map_dropout, 1},
    {"Pad", map_pad, 2},
    {"Constant", map_constant, 0},
};

#define N_FLOAT_OPS (sizeof float_ops / sizeof *float_ops)

static bool default_domain(const char *d)
{
    return !d || !d[0] || !strcmp(d, "ai.onnx");
}

static map_fn float_op(const char *domain, const char *op, int *n_required)
{
    if (!default_domain(domain)) return NULL;
    for (size_t i = 0; i < N_FLOAT_OPS; i++)
        if (!strcmp(float_ops[i].op, op)) {
            *n_required = float_ops[i].n_required;
            return float_ops[i].fn;
        }
    return NULL;
}

bool tt_imp_op_supported(const char *domain, const char *op_type)
{
    int n;
    return float_op(domain, op_type, &n) || tt_imp_qop_supported(domain, op_type, &n);
}

void tt_imp_supported_list(char *buf, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < N_FLOAT_OPS && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "%s, ", float_ops[i].op);
    if (n < len) tt_imp_qop_list(buf + n, len - n);
}

tt_status tt_imp_map_node(tt_imp *im, const Onnx__NodeProto *p, const int *hin)
{
    const char *op = p->op_type ? p->op_type : "";
    int n_required = 0;
    map_fn f = float_op(p->domain, op, &n_required);
    if (!f && !tt_imp_qop_supported(p->domain, op, &n_required))
        return tt_imp_fail(im, TT_ERR_STATE, "internal: no mapping");
    /* The mappings read these inputs' shapes and values without checking again. */
    for (int j = 0; j < n_required; j++)
        if ((size_t)j >= p->n_input || hin[j] == TT_IMP_ABSENT)
            return tt_imp_fail(im, TT_ERR_FORMAT, "input %d is missing; %s needs %d", j, op,
                               n_required);
    return f ? f(im, p, hin) : tt_imp_map_qop(im, p, hin);
}
