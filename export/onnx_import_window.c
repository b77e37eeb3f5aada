/* Window attributes of Conv, ConvInteger, QLinearConv, MaxPool and AveragePool: read and
 * range-checked before any arithmetic, auto_pad turned into explicit pads, and ceil_mode=1
 * accepted where it changes nothing. */
#include <string.h>
#include "autograd/internal.h"
#include "export/onnx_import.h"

/* Far beyond any image tinytrain runs; keeps the window arithmetic in range. */
#define WINDOW_MAX (1 << 24)

/* ---- windows (Conv, pools) ------------------------------------------------------------------ */

/* pads from auto_pad: SAME_* keeps ceil(in / stride) outputs, the odd pad after (UPPER) or
 * before (LOWER); VALID pads nothing. */
static tt_status auto_pads(tt_imp *im, const char *mode, const tt_shape *x, const int64_t *k,
                           const int64_t *st, const int64_t *dil, int64_t *pads)
{
    bool upper = !strcmp(mode, "SAME_UPPER"), lower = !strcmp(mode, "SAME_LOWER");
    if (!strcmp(mode, "VALID")) {
        memset(pads, 0, 4 * sizeof *pads);
        return TT_OK;
    }
    if (!upper && !lower)
        return tt_imp_fail(im, TT_ERR_UNSUPPORTED,
                           "auto_pad '%.32s' is not supported (NOTSET, VALID, SAME_UPPER, "
                           "SAME_LOWER)",
                           mode);
    if (x->ndim != 4) return tt_imp_fail(im, TT_ERR_SHAPE, "auto_pad needs a 4-D NCHW input");
    for (int d = 0; d < 2; d++) {
        int64_t in = x->dims[2 + d], out = (in + st[d] - 1) / st[d];
        int64_t total = (out - 1) * st[d] + (k[d] - 1) * dil[d] + 1 - in;
        if (total < 0) total = 0;
        int64_t small = total / 2, big = total - small;
        pads[d] = upper ? small : big;
        pads[2 + d] = upper ? big : small;
    }
    return TT_OK;
}

/* kernel: the default kernel (Conv: the weight's), or NULL (pools: kernel_shape required). */
tt_status tt_imp_window_attrs(tt_imp *im, const Onnx__NodeProto *p, int x, const int64_t *kernel,
                              tt_attr *attrs, int *n_attrs)
{
    int64_t ks[4] = {0, 0}, st[4] = {1, 1}, dil[4] = {1, 1}, pads[4] = {0, 0, 0, 0};
    int nk, ns, nd, np;
    TT_CHECK(tt_imp_attr_ints(im, p, "kernel_shape", ks, 4, &nk));
    TT_CHECK(tt_imp_attr_ints(im, p, "strides", st, 4, &ns));
    TT_CHECK(tt_imp_attr_ints(im, p, "dilations", dil, 4, &nd));
    TT_CHECK(tt_imp_attr_ints(im, p, "pads", pads, 4, &np));
    if (nk < 0 && kernel) {
        ks[0] = kernel[0];
        ks[1] = kernel[1];
        nk = 2;
    }
    if (nk != 2 || (ns >= 0 && ns != 2) || (nd >= 0 && nd != 2) || (np >= 0 && np != 4))
        return tt_imp_fail(im, TT_ERR_UNSUPPORTED,
                           "tinytrain has 2-D windows only (kernel_shape, strides and dilations "
                           "of 2 values, pads of 4)%s",
                           nk < 0 ? "; kernel_shape is missing" : "");
    /* Checked before auto_pad and ceil_mode divide by strides or multiply by dilations. */
    for (int i = 0; i < 4; i++) {
        bool bad = pads[i] < 0 || pads[i] > WINDOW_MAX;
        if (i < 2)
            bad = bad || ks[i] < 1 || st[i] < 1 || dil[i] < 1 || ks[i] > WINDOW_MAX ||
                  st[i] > WINDOW_MAX || dil[i] > WINDOW_MAX;
        if (bad)
            return tt_imp_fail(im, TT_ERR_FORMAT,
                               "window attributes out of range (kernel_shape, strides and "
                               "dilations must be 1..%d, pads 0..%d)",
                               WINDOW_MAX, WINDOW_MAX);
    }
    char mode[32];
    const char *ap = tt_imp_attr_string(p, "auto_pad", mode, sizeof mode);
    if (ap && ap[0] && strcmp(ap, "NOTSET") != 0) {
        TT_CHECK(auto_pads(im, ap, tt_imp_shape(im, x, NULL), ks, st, dil, pads));
        np = 4;
    }
    int n = 0;
    attrs[n++] = tt_attr_ints("kernel_shape", 2, ks);
    attrs[n++] = tt_attr_ints("strides", 2, st);
    attrs[n++] = tt_attr_ints("dilations", 2, dil);
    attrs[n++] = tt_attr_ints("pads", 4, pads);
    *n_attrs = n;
    return TT_OK;
}

tt_status tt_imp_conv_attrs(tt_imp *im, const Onnx__NodeProto *p, int x, int w, tt_attr *attrs,
                            int *n_attrs)
{
    const tt_shape *ws = tt_imp_shape(im, w, NULL);
    const int64_t *kernel = ws->ndim == 4 ? ws->dims + 2 : NULL;
    if (ws->ndim != 4)
        return tt_imp_fail(im, TT_ERR_UNSUPPORTED,
                           "the weight has rank %d; tinytrain convolves 2-D images (weight "
                           "[M, C/group, kH, kW])",
                           ws->ndim);
    TT_CHECK(tt_imp_window_attrs(im, p, x, kernel, attrs, n_attrs));
    int64_t group;
    TT_CHECK(tt_imp_attr_int(im, p, "group", 1, &group));
    attrs[(*n_attrs)++] = tt_attr_int("group", group);
    return TT_OK;
}

/* ceil_mode=1 is accepted where it gives the floor size anyway (the windows fit exactly). */
tt_status tt_imp_check_ceil(tt_imp *im, const Onnx__NodeProto *p, int x, const tt_attr *attrs)
{
    int64_t ceil_mode;
    TT_CHECK(tt_imp_attr_int(im, p, "ceil_mode", 0, &ceil_mode));
    if (!ceil_mode) return TT_OK;
    const tt_shape *s = tt_imp_shape(im, x, NULL);
    const int64_t *ks = attrs[0].ints, *st = attrs[1].ints, *dil = attrs[2].ints,
                  *pads = attrs[3].ints;
    for (int d = 0; s->ndim == 4 && d < 2; d++) {
        int64_t span = s->dims[2 + d] + pads[d] + pads[2 + d] - ((ks[d] - 1) * dil[d] + 1);
        if (span >= 0 && span % st[d] != 0)
            return tt_imp_fail(im, TT_ERR_UNSUPPORTED,
                               "ceil_mode=1 adds a partial window here, which tinytrain's pools "
                               "do not have; export with ceil_mode=0");
    }
    return TT_OK;
}
