/* QLinearConv (ONNX): y = quantize(conv(dequantize(x), dequantize(w)) + dequantize(B)), computed
 * exactly in integers: inputs x x_scale x_zero_point w w_scale w_zero_point y_scale
 * y_zero_point B?. x and y are uint8 or int8 (y's type is y_zero_point's), w int8 or uint8 with
 * per-tensor or per-output-channel [M] scales and zero points, B int32 [M] with scale
 * x_scale * w_scale[m]. Conv attributes as Conv's (strides, pads, dilations, group,
 * kernel_shape); attribute fused_relu (0/1) clamps the output at y_zero_point.
 *
 * Per image and group: im2col into uint8 columns with x_zero_point in the padding (so padded
 * taps contribute exactly zero), then the integer GEMM (kernels/cpu/qgemm.h) writes the
 * requantised output straight into NCHW. The weights are packed for the kernel once per
 * executor and kept in ctx->saved (see tt_qlinear_packs: weights are constants). Images are
 * split between threads (each with its own column buffer); a batch smaller than the thread
 * count splits each image's columns instead. */
#include "autograd/internal.h"
#include "autograd/op.h"
#include "autograd/qlinear.h"
#include "autograd/window.h"

enum { QC_X = 0, QC_XS, QC_XZP, QC_W, QC_WS, QC_WZP, QC_YS, QC_YZP, QC_B };

static const tt_qlinear_layout qc_layout = {.x = QC_X,
                                            .xs = QC_XS,
                                            .xzp = QC_XZP,
                                            .w = QC_W,
                                            .ws = QC_WS,
                                            .wzp = QC_WZP,
                                            .ys = QC_YS,
                                            .yzp = QC_YZP,
                                            .bias = QC_B};

static tt_status qc_read_attrs(const tt_node *n, const int64_t *wd, tt_window2d *a, int64_t *group)
{
    TT_CHECK(tt_window_read(n, "QLinearConv", "a 2-D convolution", wd + 2, a));
    if (a->kh != wd[2] || a->kw != wd[3])
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (QLinearConv): attribute kernel_shape [%lld, %lld] disagrees "
                       "with the weight's kernel %lld x %lld; drop the attribute or fix the weight",
                       n->name, (long long)a->kh, (long long)a->kw, (long long)wd[2],
                       (long long)wd[3]);
    *group = tt_node_attr_int(n, "group", 1);
    if (*group < 1)
        return tt_fail(TT_ERR_INVALID_ARG, "node '%s' (QLinearConv): group %lld must be at least 1",
                       n->name, (long long)*group);
    return TT_OK;
}

static tt_status qc_check_groups(const tt_node *n, const tt_shape *xs, const tt_shape *ws,
                                 int64_t group)
{
    char xb[64], wb[64];
    int64_t c = xs->dims[1], m = ws->dims[0];
    if (c % group != 0 || m % group != 0)
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (QLinearConv): group %lld must divide both the %lld input "
                       "channels of %s and the %lld output channels of weight %s",
                       n->name, (long long)group, (long long)c, tt_shape_str(xs, xb, sizeof xb),
                       (long long)m, tt_shape_str(ws, wb, sizeof wb));
    if (ws->dims[1] != c / group)
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (QLinearConv): input %s has %lld channels, so with group %lld "
                       "the weight needs %lld channels per group in dim 1, but it is %s",
                       n->name, tt_shape_str(xs, xb, sizeof xb), (long long)c, (long long)group,
                       (long long)(c / group), tt_shape_str(ws, wb, sizeof wb));
    return TT_OK;
}

static tt_status qc_infer(const tt_node *n, const tt_tensor *const *in, tt_tensor *out)
{
    TT_CHECK(tt_op_expect_ndim(n, in[QC_X], QC_X, 4, 4));
    TT_CHECK(tt_op_expect_ndim(n, in[QC_W], QC_W, 4, 4));
    TT_CHECK(tt_window_check_input(n, "QLinearConv", &in[QC_X]->shape));
    const int64_t *x = in[QC_X]->shape.dims, *w = in[QC_W]->shape.dims;
    if (w[0] < 1 || w[1] < 1 || w[2] < 1 || w[3] < 1) {
        char ws[64];
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (QLinearConv): weight shape %s has a non-positive dim", n->name,
                       tt_shape_str(&in[QC_W]->shape, ws, sizeof ws));
    }
    tt_window2d a;
    int64_t group;
    TT_CHECK(qc_read_attrs(n, w, &a, &group));
    TT_CHECK(qc_check_groups(n, &in[QC_X]->shape, &in[QC_W]->shape, group));
    tt_window_span sp = tt_window_span_of(&a, x[2], x[3]);
    if (sp.ekh > sp.ph || sp.ekw > sp.pw)
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (QLinearConv): the (dilated) kernel %lld x %lld is larger than "
                       "the padded input %lld x %lld, giving an empty output",
                       n->name, (long long)sp.ekh, (long long)sp.ekw, (long long)sp.ph,
                       (long long)sp.pw);
    TT_CHECK(tt_qlinear_check(n, in, &qc_layout, w[0], &out[0].dtype));
    int64_t d[4] = {x[0], w[0], sp.oh, sp.ow};
    return tt_shape_make(&out[0].shape, 4, d);
}

/* Sizes resolved from the node and concrete shapes. */
typedef struct qc_plan {
    int64_t n, c, h, w, m, group, cg, mg, k, p;
    tt_conv_geom geom; /* one group's channels */
    /* scratch: params, then per thread col, frame, work; saved: the group packs */
    size_t params, pack, col, frame, work;
} qc_plan;

static void qc_make_plan(const tt_node *nd, const tt_tensor *x, const tt_tensor *w,
                         const tt_tensor *y, qc_plan *p)
{
    tt_window2d a;
    (void)qc_read_attrs(nd, w->shape.dims, &a, &p->group); /* infer validated them */
    p->n = x->shape.dims[0];
    p->c = x->shape.dims[1];
    p->h = x->shape.dims[2];
    p->w = x->shape.dims[3];
    p->m = w->shape.dims[0];
    p->cg = p->c / p->group;
    p->mg = p->m / p->group;
    p->k = p->cg * a.kh * a.kw;
    p->p = y->shape.dims[2] * y->shape.dims[3];
    p->geom = (tt_conv_geom){.c = p->cg,
                             .h = p->h,
                             .w = p->w,
                             .kh = a.kh,
                             .kw = a.kw,
                             .sh = a.sh,
                             .sw = a.sw,
                             .ph = a.pt,
                             .pw = a.pl,
                             .dh = a.dh,
                             .dw = a.dw,
                             .oh = y->shape.dims[2],
                             .ow = y->shape.dims[3]};
    p->params = tt_qlinear_params_bytes(p->m);
    p->pack = tt_qgemm_pack_size(p->mg, p->k);
    p->col = tt_qlinear_round64((size_t)(p->k * p->p) + TT_IM2COL_U8_SLACK);
    p->frame = tt_qlinear_round64(tt_im2col_u8_frame_size(&p->geom));
    p->work = tt_qlinear_round64(tt_qgemm_work_size(p->k));
}

static size_t qc_saved(const tt_node *nd, const tt_tensor *const *in, const tt_tensor *out)
{
    qc_plan p;
    qc_make_plan(nd, in[QC_X], in[QC_W], out, &p);
    return tt_qlinear_saved_bytes(p.group, p.pack);
}

static size_t qc_scratch(const tt_node *nd, const tt_tensor *const *in, const tt_tensor *out)
{
    qc_plan p;
    qc_make_plan(nd, in[QC_X], in[QC_W], out, &p);
    return p.params + (size_t)tt_qlinear_threads() * (p.col + p.frame + p.work);
}

/* Group g's weights [M/group, C/group * kH * kW] (tt_qlinear_packs' callback). */
static void qc_pack(const tt_op_ctx *c, const tt_qlinear_params *q, int64_t g, void *buf,
                    tt_qgemm_packed *out)
{
    const int64_t *wd = c->in[QC_W]->shape.dims;
    const int64_t mg = wd[0] / tt_node_attr_int(c->node, "group", 1), k = wd[1] * wd[2] * wd[3];
    tt_qgemm_wdesc w = {.m = mg,
                        .k = k,
                        .data = (const int8_t *)c->in[QC_W]->data + g * mg * k,
                        .is_signed = q->w_signed,
                        .sm = k,
                        .sk = 1,
                        .zp = q->w_zp + g * mg,
                        .n_zp = mg};
    tt_qgemm_pack(q->isa, &w, buf, out);
}

/* Everything one image's GEMMs need. */
typedef struct qc_run {
    const qc_plan *p;
    const tt_qlinear_params *q;
    const tt_qgemm_packed *pw; /* per group */
    const uint8_t *x;
    uint8_t *y;
    const int32_t *bias;
} qc_run;

/* Image i, group g into col (the frame follows col in the thread's area). */
static void qc_im2col(const qc_run *r, int64_t i, int64_t g, uint8_t *col)
{
    const qc_plan *p = r->p;
    tt_im2col_u8(&p->geom, r->x + (i * p->c + g * p->cg) * p->h * p->w, col, p->p,
                 (uint8_t)r->q->x_zp, col + p->col);
}

/* Columns [c0, c1) of image i, group g, from its im2col matrix. */
static void qc_gemm(const qc_run *r, int64_t i, int64_t g, const uint8_t *col, int64_t c0,
                    int64_t c1, void *work)
{
    const qc_plan *p = r->p;
    tt_qgemm_xdesc xd = {
        .data = col, .is_signed = r->q->x_signed, .sk = p->p, .sn = 1, .zp = r->q->x_zp};
    tt_qgemm_out yd = tt_qlinear_out(r->q, r->bias, g * p->mg, p->mg,
                                     r->y + (i * p->m + g * p->mg) * p->p, p->p, 1);
    tt_qgemm_cols(&r->pw[g], &xd, &yd, c0, c1, work);
}

/* Batch at least the thread count: one image per task, each thread its own buffers. */
static void qc_by_image(const qc_run *r, char *area, int threads)
{
    const qc_plan *p = r->p;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int64_t i = 0; i < p->n; i++) {
        uint8_t *col =
            (uint8_t *)area + (size_t)tt_qlinear_thread_id() * (p->col + p->frame + p->work);
        for (int64_t g = 0; g < p->group; g++) {
            qc_im2col(r, i, g, col);
            qc_gemm(r, i, g, col, 0, p->p, col + p->col + p->frame);
        }
    }
}

/* Small batch: one shared column matrix per image and group, its columns split between
 * threads in blocks of 32 (whole tiles for the AVX2 and VNNI kernels alike). */
static void qc_by_columns(const qc_run *r, char *area, int threads)
{
    const qc_plan *p = r->p;
    uint8_t *col = (uint8_t *)area;
    const int64_t blk = 32, nb = (p->p + blk - 1) / blk;
    for (int64_t i = 0; i < p->n; i++)
        for (int64_t g = 0; g < p->group; g++) {
            qc_im2col(r, i, g, col);
#pragma omp parallel for num_threads(threads) schedule(static)
            for (int64_t b = 0; b < nb; b++) {
                char *work = area + (size_t)tt_qlinear_thread_id() * (p->col + p->frame + p->work) +
                             p->col + p->frame;
                int64_t c1 = (b + 1) * blk < p->p ? (b + 1) * blk : p->p;
                qc_gemm(r, i, g, col, b * blk, c1, work);
            }
        }
}

static tt_status qc_forward(tt_op_ctx *c)
{
    qc_plan p;
    qc_make_plan(c->node, c->in[QC_X], c->in[QC_W], c->out[0], &p);
    char *s = c->scratch, *area = s + p.params;
    tt_qlinear_params q;
    TT_CHECK(tt_qlinear_read(c, &qc_layout, p.m, s, &q));
    qc_run r = {.p = &p,
                .q = &q,
                .pw = tt_qlinear_packs(c, &q, p.group, p.pack, c->in[QC_W]->data, qc_pack),
                .x = c->in[QC_X]->data,
                .y = c->out[0]->data,
                .bias = c->in[QC_B] ? c->in[QC_B]->data : NULL};
    int threads =
        tt_qlinear_threads_fit(c->scratch_bytes - (size_t)(area - s), p.col + p.frame + p.work);
    if (p.n >= threads || p.p < 64)
        qc_by_image(&r, area, threads);
    else
        qc_by_columns(&r, area, threads);
    return TT_OK;
}

const tt_op_def tt_op_qlinear_conv = {
    .name = "QLinearConv",
    .min_in = 8,
    .max_in = 9,
    .n_out = 1,
    .infer = qc_infer,
    .saved_size = qc_saved,
    .scratch_size = qc_scratch,
    .forward = qc_forward,
};
