/* ConvInteger (ONNX, inference only): y = conv(x - x_zp, w - w_zp) in int32, NCHW. x and w are
 * uint8/int8 (each either), w [M, C/group, kH, kW]; x_zero_point (x's type) a single value,
 * w_zero_point (w's type) one value or one per output channel [M]; absent zero points are 0.
 * Attributes as Conv: kernel_shape, strides, pads (top, left, bottom, right), dilations, group.
 * Padding holds x_zp, i.e. contributes 0 after the subtraction, as ONNX specifies. (ONNX
 * Runtime's CPU kernel accepts only a single w_zero_point; [M] here follows the ONNX spec.)
 *
 * A portable reference path: per image and group, im2col of x - x_zp into int16 scratch
 * [C/group * kH * kW, OH * OW], then each output row is a sum of scaled col rows with the
 * widened weights w - w_zp. Sums wrap modulo 2^32 like int32 hardware (done in uint32: no
 * signed overflow), exact whenever the true sum fits int32 (K = C/group * kH * kW <= 33025). */
#include "autograd/internal.h"
#include "autograd/op.h"
#include "autograd/qparam.h"
#include "autograd/window.h"

static tt_status convi_attrs(const tt_node *n, const int64_t *wd, tt_window2d *a, int64_t *group)
{
    TT_CHECK(tt_window_read(n, "ConvInteger", "a 2-D convolution", wd + 2, a));
    if (a->kh != wd[2] || a->kw != wd[3])
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (ConvInteger): attribute kernel_shape [%lld, %lld] disagrees "
                       "with the weight's kernel %lld x %lld",
                       n->name, (long long)a->kh, (long long)a->kw, (long long)wd[2],
                       (long long)wd[3]);
    *group = tt_node_attr_int(n, "group", 1);
    if (*group < 1)
        return tt_fail(TT_ERR_INVALID_ARG, "node '%s' (ConvInteger): group %lld must be at least 1",
                       n->name, (long long)*group);
    return TT_OK;
}

/* x [N, C, H, W] and w [M, C/group, kH, kW] agree with group. */
static tt_status convi_check_channels(const tt_node *n, const tt_shape *xs, const tt_shape *ws,
                                      int64_t group)
{
    const int64_t *x = xs->dims, *w = ws->dims;
    char xb[64], wb[64];
    if (x[1] % group != 0 || w[0] % group != 0 || w[1] != x[1] / group)
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (ConvInteger): input %s and weight %s do not fit group %lld; "
                       "group must divide C and M, and the weight needs C/group channels in dim 1",
                       n->name, tt_shape_str(xs, xb, sizeof xb), tt_shape_str(ws, wb, sizeof wb),
                       (long long)group);
    return TT_OK;
}

static tt_status convi_infer(const tt_node *n, const tt_tensor *const *in, tt_tensor *out)
{
    for (int i = 0; i < 2; i++) {
        TT_CHECK(tt_op_expect_ndim(n, in[i], i, 4, 4));
        if (!tt_qp_is_byte(in[i]->dtype))
            return tt_fail(TT_ERR_SHAPE,
                           "node '%s' (ConvInteger): input %d is %s; expected uint8 or int8",
                           n->name, i, tt_dtype_name(in[i]->dtype));
    }
    TT_CHECK(tt_window_check_input(n, "ConvInteger", &in[0]->shape));
    const int64_t *x = in[0]->shape.dims, *w = in[1]->shape.dims;
    if (w[0] < 1 || w[1] < 1 || w[2] < 1 || w[3] < 1) {
        char wb[64];
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (ConvInteger): weight shape %s has a non-positive dim", n->name,
                       tt_shape_str(&in[1]->shape, wb, sizeof wb));
    }
    tt_window2d a;
    int64_t group;
    TT_CHECK(convi_attrs(n, w, &a, &group));
    TT_CHECK(convi_check_channels(n, &in[0]->shape, &in[1]->shape, group));
    tt_window_span sp = tt_window_span_of(&a, x[2], x[3]);
    if (sp.ekh > sp.ph || sp.ekw > sp.pw)
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (ConvInteger): the (dilated) kernel %lld x %lld is larger than "
                       "the padded input %lld x %lld, giving an empty output",
                       n->name, (long long)sp.ekh, (long long)sp.ekw, (long long)sp.ph,
                       (long long)sp.pw);
    TT_CHECK(tt_qp_check_int_zp(n, in[2], 2, "x_zero_point", in[0]->dtype, 0, "input channel"));
    TT_CHECK(tt_qp_check_int_zp(n, in[3], 3, "w_zero_point", in[1]->dtype, w[0], "output channel"));
    int64_t d[4] = {x[0], w[0], sp.oh, sp.ow};
    out[0].dtype = TT_I32;
    return tt_shape_make(&out[0].shape, 4, d);
}

typedef struct convi_plan {
    tt_window2d a;
    int64_t group, n, c, h, w, m, oh, ow, cg, mg, k, p;
} convi_plan;

static void convi_make_plan(const tt_op_ctx *c, convi_plan *p)
{
    const int64_t *x = c->in[0]->shape.dims, *w = c->in[1]->shape.dims;
    (void)convi_attrs(c->node, w, &p->a, &p->group); /* infer validated them */
    p->n = x[0];
    p->c = x[1];
    p->h = x[2];
    p->w = x[3];
    p->m = w[0];
    p->oh = c->out[0]->shape.dims[2];
    p->ow = c->out[0]->shape.dims[3];
    p->cg = p->c / p->group;
    p->mg = p->m / p->group;
    p->k = p->cg * p->a.kh * p->a.kw;
    p->p = p->oh * p->ow;
}

static size_t convi_scratch(const tt_node *nd, const tt_tensor *const *in, const tt_tensor *out)
{
    const int64_t *w = in[1]->shape.dims;
    int64_t k = w[1] * w[2] * w[3], p = out->shape.dims[2] * out->shape.dims[3];
    return (size_t)(w[0] * k + k * p) * sizeof(int16_t);
}

static inline int32_t load_q(const uint8_t *p, bool sgn, int64_t i)
{
    return sgn ? (int32_t)(p[i] ^ 0x80u) - 128 : (int32_t)p[i];
}

/* Col row (ch, ki, kj) of one image plane: x - x_zp at each output position's tap, 0 in the
 * padding. */
static void convi_col_row(const convi_plan *p, const uint8_t *plane, bool sgn, int32_t xz,
                          int64_t ki, int64_t kj, int16_t *row)
{
    const tt_window2d *a = &p->a;
    for (int64_t oy = 0; oy < p->oh; oy++) {
        int64_t iy = oy * a->sh - a->pt + ki * a->dh;
        int16_t *r = row + oy * p->ow;
        if (iy < 0 || iy >= p->h) {
            for (int64_t ox = 0; ox < p->ow; ox++) r[ox] = 0;
            continue;
        }
        for (int64_t ox = 0; ox < p->ow; ox++) {
            int64_t ix = ox * a->sw - a->pl + kj * a->dw;
            r[ox] = ix >= 0 && ix < p->w ? (int16_t)(load_q(plane, sgn, iy * p->w + ix) - xz) : 0;
        }
    }
}

static tt_status convi_forward(tt_op_ctx *c)
{
    convi_plan p;
    convi_make_plan(c, &p);
    const tt_tensor *wt = c->in[1], *wz = c->in[3];
    bool xs = c->in[0]->dtype == TT_I8, ws = wt->dtype == TT_I8;
    bool per_oc = wz && tt_tensor_numel(wz) > 1;
    int32_t xz = tt_qp_zp(c->in[2], 0);
    int16_t *wq = c->scratch, *col = wq + p.m * p.k;
    for (int64_t oc = 0; oc < p.m; oc++)
        for (int64_t r = 0; r < p.k; r++)
            wq[oc * p.k + r] =
                (int16_t)(load_q(wt->data, ws, oc * p.k + r) - tt_qp_zp(wz, per_oc ? oc : 0));
    const uint8_t *x = c->in[0]->data;
    int32_t *y = c->out[0]->data;
    int64_t taps = p.a.kh * p.a.kw, plane = p.h * p.w;
    for (int64_t i = 0; i < p.n; i++)
        for (int64_t g = 0; g < p.group; g++) {
            const uint8_t *xg = x + (i * p.c + g * p.cg) * plane;
#pragma omp parallel for if (p.k * p.p > 32768)
            for (int64_t r = 0; r < p.k; r++)
                convi_col_row(&p, xg + r / taps * plane, xs, xz, r % taps / p.a.kw, r % p.a.kw,
                              col + r * p.p);
#pragma omp parallel for if (p.mg * p.k * p.p > 65536)
            for (int64_t j = 0; j < p.mg; j++) {
                int64_t oc = g * p.mg + j;
                uint32_t *acc = (uint32_t *)(y + (i * p.m + oc) * p.p); /* wraps, no UB */
                const int16_t *wr = wq + oc * p.k;
                for (int64_t q = 0; q < p.p; q++) acc[q] = 0;
                for (int64_t r = 0; r < p.k; r++) {
                    int32_t wv = wr[r];
                    if (wv == 0) continue;
                    const int16_t *cr = col + r * p.p;
                    for (int64_t q = 0; q < p.p; q++) acc[q] += (uint32_t)(wv * (int32_t)cr[q]);
                }
            }
        }
    return TT_OK;
}

const tt_op_def tt_op_conv_integer = {
    .name = "ConvInteger",
    .min_in = 2,
    .max_in = 4,
    .n_out = 1,
    .infer = convi_infer,
    .scratch_size = convi_scratch,
    .forward = convi_forward,
};
