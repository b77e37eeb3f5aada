/* Device ops of the int8 group (kernels/shared/k_int8.h holds their kernels): the int8
 * runtime's inference ops, forward only, bit-identical to the CPU ops of autograd/ops.
 *
 * What the CPU op computes on the host from its quantisation parameters is computed here by
 * the same code: QLinearConv / QGemm / QLinearMatMul call the CPU's own tt_qlinear_read (the
 * requantisation multipliers x_scale * w_scale / y_scale and the zero points expanded per output
 * channel, with its checks and messages) on the parameters' host copies, which are current
 * because they are graph constants (dev_op.h), and upload that table to the node's saved
 * buffer each forward. QLinearAdd's coefficients and QLinearGlobalAveragePool's multiplier are
 * the CPU op's float32 expressions, passed as kernel arguments. Zero points that may be
 * computed at run time (MatMulInteger's and ConvInteger's, from a DynamicQuantizeLinear) are read
 * by the kernels from device memory instead. */
#include <math.h>
#include "autograd/broadcast.h"
#include "autograd/internal.h"
#include "autograd/op.h"
#include "autograd/qlinear.h"
#include "autograd/qparam.h"
#include "autograd/window.h"
#include "kernels/shared/dev_op.h"

/* The bytes of t at its current shape must fit b (the executor sizes buffers from the same
 * shapes; this keeps a kernel from ever indexing outside one). */
static tt_status fits(const tt_dbuf *b, const tt_tensor *t)
{
    return tt_dev_check_range("int8 device op", b, 0,
                              (size_t)tt_dop_numel(t) * tt_dtype_size(t->dtype));
}

static int is_i8(const tt_tensor *t)
{
    return t && t->dtype == TT_I8;
}

/* ---- QuantizeLinear, DequantizeLinear ---- */

/* The [outer, channels, inner] view of input 0 for a scale at input 1 (per tensor: one
 * channel); infer has validated the axis. */
static tt_status qdq_layout(const tt_dop_ctx *c, int64_t *outer, int64_t *channels, int64_t *inner)
{
    int64_t count = tt_dop_numel(c->in[1]);
    int axis = -1;
    if (count > 1) TT_CHECK(tt_qp_axis(c->node, &c->in[0]->shape, count, &axis));
    tt_qp_layout(&c->in[0]->shape, axis, outer, channels, inner);
    return TT_OK;
}

static tt_status quantize_forward(tt_dop_ctx *c)
{
    int64_t outer, channels, inner, n = tt_dop_numel(c->in[0]);
    TT_CHECK(qdq_layout(c, &outer, &channels, &inner));
    TT_CHECK(tt_qp_check_scale_values(c->node, c->in[1], 1, "y_scale"));
    TT_CHECK(fits(c->x[0], c->in[0]));
    TT_CHECK(fits(c->y[0], c->out[0]));
    tt_qrange r = tt_qp_range(c->out[0]->dtype);
    return TT_DEV_LAUNCH(c->dev, "tt_int8_quantize", n, TT_KBUF(c->x[0]), TT_KBUF(c->y[0]),
                         TT_KI64(n), TT_KI64(channels), TT_KI64(inner), TT_KBUF(c->x[1]),
                         TT_KBUF(c->x[2]), TT_KI32(c->x[2] != NULL), TT_KI32(is_i8(c->out[0])),
                         TT_KI32(r.qmin), TT_KI32(r.qmax));
}

/* An int32 x is a quantised bias: its zero point must be 0, as the CPU op insists. */
static tt_status dequantize_i32_zp(const tt_dop_ctx *c)
{
    for (int64_t i = 0; c->in[2] && i < tt_dop_numel(c->in[2]); i++) {
        int32_t z = tt_qp_zp(c->in[2], i);
        if (z != 0)
            return tt_fail(TT_ERR_INVALID_ARG,
                           "node '%s' (DequantizeLinear): x is int32, so x_zero_point must be 0, "
                           "but element %lld is %d",
                           c->node->name, (long long)i, (int)z);
    }
    return TT_OK;
}

static tt_status dequantize_forward(tt_dop_ctx *c)
{
    int64_t outer, channels, inner, n = tt_dop_numel(c->in[0]);
    TT_CHECK(qdq_layout(c, &outer, &channels, &inner));
    TT_CHECK(tt_qp_check_scale_values(c->node, c->in[1], 1, "x_scale"));
    TT_CHECK(fits(c->x[0], c->in[0]));
    TT_CHECK(fits(c->y[0], c->out[0]));
    if (c->in[0]->dtype == TT_I32) {
        TT_CHECK(dequantize_i32_zp(c));
        return TT_DEV_LAUNCH(c->dev, "tt_int8_dequantize_i32", n, TT_KBUF(c->x[0]),
                             TT_KBUF(c->y[0]), TT_KI64(n), TT_KI64(channels), TT_KI64(inner),
                             TT_KBUF(c->x[1]));
    }
    return TT_DEV_LAUNCH(c->dev, "tt_int8_dequantize", n, TT_KBUF(c->x[0]),
                         TT_KI32(is_i8(c->in[0])), TT_KBUF(c->y[0]), TT_KI64(n), TT_KI64(channels),
                         TT_KI64(inner), TT_KBUF(c->x[1]), TT_KBUF(c->x[2]),
                         TT_KI32(c->x[2] != NULL));
}

/* ---- QLinearConv, QGemm, QLinearMatMul: the requantisation table ---- */

/* Input positions, as the CPU ops number them. */
static const tt_qlinear_layout qc_layout = {
    .x = 0, .xs = 1, .xzp = 2, .w = 3, .ws = 4, .wzp = 5, .ys = 6, .yzp = 7, .bias = 8};
static const tt_qlinear_layout qg_layout = {
    .x = 0, .xs = 1, .xzp = 2, .w = 3, .ws = 4, .wzp = 5, .bias = 6, .ys = 7, .yzp = 8};
static const tt_qlinear_layout qm_layout = {
    .x = 0, .xs = 1, .xzp = 2, .w = 3, .ws = 4, .wzp = 5, .ys = 6, .yzp = 7, .bias = -1};

/* Output channels: the weight's dim 0, except QLinearMatMul's b [K, M]. */
static int64_t qlin_m(tt_op_type op, const tt_tensor *const *in)
{
    return op == TT_OP_QLINEAR_MATMUL ? in[3]->shape.dims[1] : in[3]->shape.dims[0];
}

static size_t qlin_table_size(const tt_node *n, const tt_tensor *const *in, const tt_tensor *out)
{
    (void)out;
    return tt_qlinear_params_bytes(qlin_m(n->op, in));
}

/* The CPU's parameters for m output channels, read by tt_qlinear_read itself (into the host
 * scratch) and uploaded to c->saved: multiplier[m] at element 0, w_zp[m] at *wzp_off. */
static tt_status qlin_table(tt_dop_ctx *c, const tt_qlinear_layout *l, int64_t m,
                            tt_qlinear_params *q, int64_t *wzp_off)
{
    tt_op_ctx oc = {.node = c->node};
    for (int i = 0; i < TT_MAX_NODE_IO; i++) oc.in[i] = (tt_tensor *)c->in[i];
    size_t bytes = tt_qlinear_params_bytes(m);
    if (!c->host || c->host_bytes < bytes || !c->saved || c->saved_bytes < bytes)
        return tt_fail(TT_ERR_STATE, "node '%s' (%s): its parameter table was not planned",
                       c->node->name, tt_op_name(c->node->op));
    TT_CHECK(tt_qlinear_read(&oc, l, m, c->host, q));
    *wzp_off = (int64_t)((const char *)q->w_zp - (const char *)c->host) / (int64_t)sizeof(int32_t);
    TT_CHECK(fits(c->x[l->x], c->in[l->x]));
    TT_CHECK(fits(c->x[l->w], c->in[l->w]));
    if (l->bias >= 0 && c->in[l->bias]) TT_CHECK(fits(c->x[l->bias], c->in[l->bias]));
    TT_CHECK(fits(c->y[0], c->out[0]));
    return c->dev->ops->write_at(c->dev, c->saved, 0, c->host, bytes);
}

static tt_status qconv_forward(tt_dop_ctx *c)
{
    const int64_t *xd = c->in[0]->shape.dims, *wd = c->in[3]->shape.dims;
    const int64_t *yd = c->out[0]->shape.dims;
    tt_window2d a;
    TT_CHECK(tt_window_read(c->node, "QLinearConv", "a 2-D convolution", wd + 2, &a));
    int64_t group = tt_node_attr_int(c->node, "group", 1), off;
    tt_qlinear_params q;
    TT_CHECK(qlin_table(c, &qc_layout, wd[0], &q, &off));
    const tt_dbuf *bias = c->in[8] ? c->x[8] : NULL;
    int64_t total = tt_dop_numel(c->out[0]);
    return TT_DEV_LAUNCH(
        c->dev, "tt_int8_qconv", total, TT_KBUF(c->x[0]), TT_KI32(q.x_signed), TT_KI32(q.x_zp),
        TT_KBUF(c->x[3]), TT_KI32(q.w_signed), TT_KBUF(c->saved), TT_KBUF(c->saved), TT_KI64(off),
        TT_KBUF(bias), TT_KI32(bias != NULL), TT_KBUF(c->y[0]), TT_KI32(q.y_zp), TT_KI32(q.qmin),
        TT_KI32(q.qmax), TT_KI64(total), TT_KI64(xd[1]), TT_KI64(xd[2]), TT_KI64(xd[3]),
        TT_KI64(wd[0]), TT_KI64(yd[2]), TT_KI64(yd[3]), TT_KI64(a.kh), TT_KI64(a.kw), TT_KI64(a.sh),
        TT_KI64(a.sw), TT_KI64(a.pt), TT_KI64(a.pl), TT_KI64(a.dh), TT_KI64(a.dw), TT_KI64(group));
}

/* QGemm (b [M, K], bias at 6) and QLinearMatMul (b [K, M], no bias): y [N, M]. */
static tt_status qdense_forward(tt_dop_ctx *c)
{
    bool mm = c->node->op == TT_OP_QLINEAR_MATMUL;
    const tt_qlinear_layout *l = mm ? &qm_layout : &qg_layout;
    int64_t m = qlin_m(c->node->op, c->in), rows = c->in[0]->shape.dims[0];
    int64_t k = c->in[0]->shape.dims[1], off;
    tt_qlinear_params q;
    TT_CHECK(qlin_table(c, l, m, &q, &off));
    const tt_dbuf *bias = !mm && c->in[6] ? c->x[6] : NULL;
    return TT_DEV_LAUNCH(c->dev, "tt_int8_qdense", rows * m, TT_KBUF(c->x[0]), TT_KI32(q.x_signed),
                         TT_KI32(q.x_zp), TT_KBUF(c->x[3]), TT_KI32(q.w_signed),
                         TT_KI64(mm ? 1 : k), TT_KI64(mm ? m : 1), TT_KBUF(c->saved),
                         TT_KBUF(c->saved), TT_KI64(off), TT_KBUF(bias), TT_KI32(bias != NULL),
                         TT_KBUF(c->y[0]), TT_KI32(q.y_zp), TT_KI32(q.qmin), TT_KI32(q.qmax),
                         TT_KI64(rows), TT_KI64(m), TT_KI64(k));
}

/* ---- QLinearAdd ---- */

static tt_status qadd_forward(tt_dop_ctx *c)
{
    tt_qadd_coef q; /* the CPU op's own coefficients */
    TT_CHECK(tt_qadd_coefs(c->node, c->in, &q));
    TT_CHECK(fits(c->x[0], c->in[0]));
    TT_CHECK(fits(c->x[3], c->in[3]));
    TT_CHECK(fits(c->y[0], c->out[0]));
    tt_bcast p;
    tt_bcast_plan(&c->in[0]->shape, &c->in[3]->shape, &p);
    return TT_DEV_LAUNCH(c->dev, "tt_int8_qadd", p.numel, TT_KBUF(c->x[0]), TT_KBUF(c->x[3]),
                         TT_KBUF(c->y[0]), TT_KI32(is_i8(c->in[0])), TT_KF32(q.ra), TT_KF32(q.rb),
                         TT_KF32(q.k), TT_KI32(q.lo), TT_KI32(q.hi), TT_KI64(p.dims[1]),
                         TT_KI64(p.dims[2]), TT_KI64(p.dims[3]), TT_KI64(p.st[0][0]),
                         TT_KI64(p.st[0][1]), TT_KI64(p.st[0][2]), TT_KI64(p.st[0][3]),
                         TT_KI64(p.st[1][0]), TT_KI64(p.st[1][1]), TT_KI64(p.st[1][2]),
                         TT_KI64(p.st[1][3]), TT_KI64(p.numel));
}

/* ---- QLinearGlobalAveragePool ---- */

static tt_status qgap_forward(tt_dop_ctx *c)
{
    const tt_shape *s = &c->in[0]->shape;
    int64_t planes = s->dims[0] * s->dims[1], hw = 1;
    for (int i = 2; i < s->ndim; i++) hw *= s->dims[i];
    tt_qgap_params q; /* the CPU op's own multiplier and zero points */
    TT_CHECK(tt_qgap_params_read(c->node, c->in, hw, &q));
    TT_CHECK(fits(c->x[0], c->in[0]));
    TT_CHECK(fits(c->y[0], c->out[0]));
    int sgn = is_i8(c->in[0]);
    return TT_DEV_LAUNCH(c->dev, "tt_int8_qgap", planes, TT_KBUF(c->x[0]), TT_KI32(sgn),
                         TT_KBUF(c->y[0]), TT_KI64(planes), TT_KI64(hw),
                         TT_KI64((int64_t)q.x_zp + (sgn ? 128 : 0)), TT_KF32(q.mult),
                         TT_KI32(q.y_zp), TT_KI32(q.r.qmin), TT_KI32(q.r.qmax));
}

/* ---- MatMulInteger, ConvInteger ---- */

/* A zero point's element count as the kernels take it: 0 when absent. */
static int64_t zp_count(const tt_tensor *z)
{
    return z ? tt_dop_numel(z) : 0;
}

static tt_status mmi_forward(tt_dop_ctx *c)
{
    int64_t k = c->in[1]->shape.dims[0], m = c->in[1]->shape.dims[1];
    int64_t rows = tt_dop_numel(c->in[0]) / k;
    TT_CHECK(fits(c->x[0], c->in[0]));
    TT_CHECK(fits(c->x[1], c->in[1]));
    TT_CHECK(fits(c->y[0], c->out[0]));
    return TT_DEV_LAUNCH(c->dev, "tt_int8_matmul_integer", rows * m, TT_KBUF(c->x[0]),
                         TT_KI32(is_i8(c->in[0])), TT_KBUF(c->x[2]), TT_KI32(c->x[2] != NULL),
                         TT_KBUF(c->x[1]), TT_KI32(is_i8(c->in[1])), TT_KBUF(c->x[3]),
                         TT_KI64(zp_count(c->in[3])), TT_KBUF(c->y[0]), TT_KI64(rows), TT_KI64(m),
                         TT_KI64(k));
}

static tt_status convi_forward(tt_dop_ctx *c)
{
    const int64_t *xd = c->in[0]->shape.dims, *wd = c->in[1]->shape.dims;
    const int64_t *yd = c->out[0]->shape.dims;
    tt_window2d a;
    TT_CHECK(tt_window_read(c->node, "ConvInteger", "a 2-D convolution", wd + 2, &a));
    TT_CHECK(fits(c->x[0], c->in[0]));
    TT_CHECK(fits(c->x[1], c->in[1]));
    TT_CHECK(fits(c->y[0], c->out[0]));
    int64_t total = tt_dop_numel(c->out[0]), group = tt_node_attr_int(c->node, "group", 1);
    return TT_DEV_LAUNCH(
        c->dev, "tt_int8_conv_integer", total, TT_KBUF(c->x[0]), TT_KI32(is_i8(c->in[0])),
        TT_KBUF(c->x[2]), TT_KI32(c->x[2] != NULL), TT_KBUF(c->x[1]), TT_KI32(is_i8(c->in[1])),
        TT_KBUF(c->x[3]), TT_KI64(zp_count(c->in[3])), TT_KBUF(c->y[0]), TT_KI64(total),
        TT_KI64(xd[1]), TT_KI64(xd[2]), TT_KI64(xd[3]), TT_KI64(wd[0]), TT_KI64(yd[2]),
        TT_KI64(yd[3]), TT_KI64(a.kh), TT_KI64(a.kw), TT_KI64(a.sh), TT_KI64(a.sw), TT_KI64(a.pt),
        TT_KI64(a.pl), TT_KI64(a.dh), TT_KI64(a.dw), TT_KI64(group));
}

/* ---- DynamicQuantizeLinear ---- */

/* Elements per thread of the range pass: few enough partials to fold on the host cheaply. */
#define DYNQ_CHUNK 4096

static int64_t dynq_parts(const tt_tensor *x)
{
    return (tt_dop_numel(x) + DYNQ_CHUNK - 1) / DYNQ_CHUNK;
}

static size_t dynq_size(const tt_node *n, const tt_tensor *const *in, const tt_tensor *out)
{
    (void)n, (void)out;
    return (size_t)dynq_parts(in[0]) * 2 * sizeof(float);
}

/* The CPU's min(0, min x), max(0, max x): the device's partials folded with the same
 * comparisons (NaN never wins them). */
static tt_status dynq_range(tt_dop_ctx *c, float *lo, float *hi)
{
    int64_t n = tt_dop_numel(c->in[0]), parts = dynq_parts(c->in[0]);
    size_t bytes = (size_t)parts * 2 * sizeof(float);
    *lo = *hi = 0.0f;
    if (parts == 0) return TT_OK;
    if (c->scratch_bytes < bytes || c->host_bytes < bytes)
        return tt_fail(TT_ERR_STATE, "node '%s' (DynamicQuantizeLinear): scratch not planned",
                       c->node->name);
    TT_CHECK(TT_DEV_LAUNCH(c->dev, "tt_int8_minmax", parts, TT_KBUF(c->x[0]), TT_KI64(n),
                           TT_KI64(DYNQ_CHUNK), TT_KBUF(c->scratch), TT_KI64(parts)));
    TT_CHECK(c->dev->ops->read_at(c->dev, c->scratch, 0, c->host, bytes));
    const float *p = c->host;
    for (int64_t t = 0; t < parts; t++) {
        *lo = p[2 * t] < *lo ? p[2 * t] : *lo;
        *hi = p[2 * t + 1] > *hi ? p[2 * t + 1] : *hi;
    }
    return TT_OK;
}

static tt_status dynq_forward(tt_dop_ctx *c)
{
    TT_CHECK(fits(c->x[0], c->in[0]));
    TT_CHECK(fits(c->y[0], c->out[0]));
    float lo, hi, scale = 1.0f;
    int32_t zp = 0;
    TT_CHECK(dynq_range(c, &lo, &hi));
    TT_CHECK(tt_dynq_qparams(c->node, lo, hi, &scale, &zp)); /* the CPU op's own formula */
    /* tt_quantize's own checks of (scale, zp), run on no elements: its message on failure */
    float none = 0.0f;
    uint8_t none_q = 0;
    tt_status s = tt_quantize(&none, 0, scale, zp, TT_QTYPE_U8, &none_q);
    if (s != TT_OK) return tt_qp_node_error(c->node, s);
    uint8_t zb = (uint8_t)zp;
    TT_CHECK(c->dev->ops->write_at(c->dev, c->y[1], 0, &scale, sizeof scale));
    TT_CHECK(c->dev->ops->write_at(c->dev, c->y[2], 0, &zb, 1));
    int64_t n = tt_dop_numel(c->in[0]);
    return TT_DEV_LAUNCH(c->dev, "tt_int8_quantize", n, TT_KBUF(c->x[0]), TT_KBUF(c->y[0]),
                         TT_KI64(n), TT_KI64(1), TT_KI64(n), TT_KBUF(c->y[1]), TT_KBUF(c->y[2]),
                         TT_KI32(1), TT_KI32(0), TT_KI32(0), TT_KI32(255));
}

/* ---- Cast ---- */

/* The kernel's code for a dtype: 0 float32, 1 int8, 2 uint8, 3 int32, 4 int64. */
static int cast_kind(tt_dtype dt)
{
    switch (dt) {
    case TT_I8:
        return 1;
    case TT_U8:
        return 2;
    case TT_I32:
        return 3;
    case TT_I64:
        return 4;
    default:
        return 0;
    }
}

static tt_status cast_forward(tt_dop_ctx *c)
{
    tt_dtype from = c->in[0]->dtype, to = c->out[0]->dtype;
    int64_t n = tt_dop_numel(c->in[0]);
    TT_CHECK(fits(c->x[0], c->in[0]));
    TT_CHECK(fits(c->y[0], c->out[0]));
    if (from == to)
        return c->dev->ops->copy(c->dev, c->y[0], 0, c->x[0], 0, (size_t)n * tt_dtype_size(from));
    if ((from != TT_F32 && !cast_kind(from)) || (to != TT_F32 && !cast_kind(to)))
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "node '%s': Cast from %s to %s has no device kernel yet; use --backend cpu",
                       c->node->name, tt_dtype_name(from), tt_dtype_name(to));
    const tt_dbuf *x = c->x[0], *y = c->y[0];
    return TT_DEV_LAUNCH(c->dev, "tt_int8_cast", n, TT_KBUF(x), TT_KBUF(x), TT_KBUF(x), TT_KBUF(x),
                         TT_KI32(cast_kind(from)), TT_KBUF(y), TT_KBUF(y), TT_KBUF(y), TT_KBUF(y),
                         TT_KI32(cast_kind(to)), TT_KI64(n));
}

static const tt_dop_def quantize = {.forward = quantize_forward};
static const tt_dop_def dequantize = {.forward = dequantize_forward};
static const tt_dop_def qconv = {
    .forward = qconv_forward, .saved_size = qlin_table_size, .host_size = qlin_table_size};
static const tt_dop_def qdense = {
    .forward = qdense_forward, .saved_size = qlin_table_size, .host_size = qlin_table_size};
static const tt_dop_def qadd = {.forward = qadd_forward};
static const tt_dop_def qgap = {.forward = qgap_forward};
static const tt_dop_def mmi = {.forward = mmi_forward};
static const tt_dop_def convi = {.forward = convi_forward};
static const tt_dop_def dynq = {
    .forward = dynq_forward, .scratch_size = dynq_size, .host_size = dynq_size};
static const tt_dop_def cast = {.forward = cast_forward};

const tt_dop_def *tt_dops_int8(tt_op_type op)
{
    switch (op) {
    case TT_OP_QUANTIZE:
        return &quantize;
    case TT_OP_DEQUANTIZE:
        return &dequantize;
    case TT_OP_QLINEAR_CONV:
        return &qconv;
    case TT_OP_QGEMM:
    case TT_OP_QLINEAR_MATMUL:
        return &qdense;
    case TT_OP_QLINEAR_ADD:
        return &qadd;
    case TT_OP_QLINEAR_GAP:
        return &qgap;
    case TT_OP_MATMUL_INTEGER:
        return &mmi;
    case TT_OP_CONV_INTEGER:
        return &convi;
    case TT_OP_DYNAMIC_QUANTIZE:
        return &dynq;
    case TT_OP_CAST:
        return &cast;
    default:
        return NULL;
    }
}
