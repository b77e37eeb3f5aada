/* 2-D window attributes and shape rules for Conv, MaxPool and AveragePool (see window.h). */
#include "autograd/window.h"
#include "autograd/internal.h"
#include "autograd/op.h"

tt_status tt_window_check_input(const tt_node *n, const char *op, const tt_shape *x)
{
    const int64_t *d = x->dims;
    if ((d[0] < 1 && d[0] != TT_DIM_BATCH) || d[1] < 1 || d[2] < 1 || d[3] < 1) {
        char xs[64];
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (%s): input shape %s must be [N, C, H, W] with positive C, H, W",
                       n->name, op, tt_shape_str(x, xs, sizeof xs));
    }
    return TT_OK;
}

/* Read an INTS attribute of exactly `want` values, each >= lo; absent keeps the defaults. */
static tt_status read_ints(const tt_node *n, const char *op, const char *what, const char *name,
                           int want, int64_t lo, int64_t *out)
{
    int64_t v[TT_MAX_ATTR_INTS];
    int got = tt_node_attr_ints(n, name, v, TT_MAX_ATTR_INTS);
    if (got == 0) return TT_OK;
    if (got != want)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "node '%s' (%s): attribute '%s' has %d values; expected %d for %s", n->name,
                       op, name, got, want, what);
    for (int i = 0; i < want; i++) {
        if (v[i] < lo)
            return tt_fail(TT_ERR_INVALID_ARG,
                           "node '%s' (%s): attribute '%s' value %lld is below %lld", n->name, op,
                           name, (long long)v[i], (long long)lo);
        out[i] = v[i];
    }
    return TT_OK;
}

tt_status tt_window_read(const tt_node *n, const char *op, const char *what, const int64_t *kernel,
                         tt_window2d *w)
{
    int64_t ks[2] = {0, 0}, st[2] = {1, 1}, pads[4] = {0, 0, 0, 0}, dil[2] = {1, 1};
    if (kernel) {
        ks[0] = kernel[0];
        ks[1] = kernel[1];
    } else if (tt_node_attr_ints(n, "kernel_shape", ks, 2) == 0) {
        return tt_fail(TT_ERR_INVALID_ARG,
                       "node '%s' (%s): attribute 'kernel_shape' is required (2 ints)", n->name,
                       op);
    }
    TT_CHECK(read_ints(n, op, what, "kernel_shape", 2, 1, ks));
    TT_CHECK(read_ints(n, op, what, "strides", 2, 1, st));
    TT_CHECK(read_ints(n, op, what, "pads", 4, 0, pads));
    TT_CHECK(read_ints(n, op, what, "dilations", 2, 1, dil));
    *w = (tt_window2d){.kh = ks[0],
                       .kw = ks[1],
                       .sh = st[0],
                       .sw = st[1],
                       .pt = pads[0],
                       .pl = pads[1],
                       .pb = pads[2],
                       .pr = pads[3],
                       .dh = dil[0],
                       .dw = dil[1]};
    return TT_OK;
}

tt_window_span tt_window_span_of(const tt_window2d *w, int64_t h, int64_t wd)
{
    tt_window_span s = {.ekh = w->dh * (w->kh - 1) + 1,
                        .ekw = w->dw * (w->kw - 1) + 1,
                        .ph = h + w->pt + w->pb,
                        .pw = wd + w->pl + w->pr};
    s.oh = (s.ph - s.ekh) / w->sh + 1;
    s.ow = (s.pw - s.ekw) / w->sw + 1;
    return s;
}

tt_status tt_pool_read(const tt_node *n, const tt_pool_spec *s, tt_window2d *w, bool *include_pad)
{
    if (include_pad) *include_pad = false;
    TT_CHECK(tt_window_read(n, s->op, "2-D pooling", NULL, w));
    if (tt_node_attr_int(n, "ceil_mode", 0) != 0)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "node '%s' (%s): ceil_mode=1 is not supported; use ceil_mode=0%s", n->name,
                       s->op, s->ceil_hint);
    if (!s->count_include_pad) return TT_OK;
    int64_t cip = tt_node_attr_int(n, "count_include_pad", 0);
    if (cip != 0 && cip != 1)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "node '%s' (%s): count_include_pad is %lld; expected 0 or 1", n->name, s->op,
                       (long long)cip);
    if (include_pad) *include_pad = cip == 1;
    return TT_OK;
}

tt_status tt_pool_infer(const tt_node *n, const tt_tensor *const *in, const tt_pool_spec *s,
                        tt_tensor *out)
{
    TT_CHECK(tt_op_expect_dtype(n, in[0], 0, TT_F32));
    TT_CHECK(tt_op_expect_ndim(n, in[0], 0, 4, 4));
    TT_CHECK(tt_window_check_input(n, s->op, &in[0]->shape));
    const int64_t *x = in[0]->shape.dims;
    char xs[64];
    tt_shape_str(&in[0]->shape, xs, sizeof xs);
    tt_window2d a;
    TT_CHECK(tt_pool_read(n, s, &a, NULL));
    tt_window_span sp = tt_window_span_of(&a, x[2], x[3]);
    if (a.pt >= sp.ekh || a.pb >= sp.ekh || a.pl >= sp.ekw || a.pr >= sp.ekw)
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (%s): pads [%lld, %lld, %lld, %lld] must be smaller than the "
                       "(dilated) kernel %lld x %lld, or whole windows fall in padding",
                       n->name, s->op, (long long)a.pt, (long long)a.pl, (long long)a.pb,
                       (long long)a.pr, (long long)sp.ekh, (long long)sp.ekw);
    if (sp.ekh > sp.ph || sp.ekw > sp.pw)
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (%s): the (dilated) kernel %lld x %lld is larger than the "
                       "padded input %lld x %lld of %s, giving an empty output",
                       n->name, s->op, (long long)sp.ekh, (long long)sp.ekw, (long long)sp.ph,
                       (long long)sp.pw, xs);
    if (s->int32_argmax && x[2] * x[3] > INT32_MAX)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "node '%s' (%s): %s planes are too large for int32 argmax indices", n->name,
                       s->op, xs);
    int64_t d[4] = {x[0], x[1], sp.oh, sp.ow};
    out[0].dtype = TT_F32;
    return tt_shape_make(&out[0].shape, 4, d);
}
