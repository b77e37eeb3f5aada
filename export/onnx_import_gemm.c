/* Gemm -> the IR's Gemm (Y = X W^T + b, W [M, K]): transB=0 and alpha folded into a constant
 * weight, beta and a broadcast bias into a constant [M] bias, a computed bias of another shape
 * added after the Gemm. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "autograd/internal.h"
#include "export/onnx_import.h"

/* ---- Gemm ------------------------------------------------------------------------------------ */

/* B as the IR's [M, K] weight: transposed (transB=0) and scaled by alpha at import, which
 * needs it constant. */
static tt_status gemm_weight(tt_imp *im, int hb, int64_t trans_b, float alpha, int *w)
{
    *w = hb;
    if (trans_b && alpha == 1.0f) return TT_OK;
    if (!trans_b) TT_CHECK(tt_imp_transpose_const(im, hb, "B (transB=0)", w));
    if (alpha == 1.0f) return TT_OK;
    tt_imp_const *c;
    const float *d;
    TT_CHECK(tt_imp_float_const(im, *w, "B (alpha != 1 is folded into it)", &c, &d));
    float *s = malloc((size_t)c->numel * sizeof *s);
    if (!s) return tt_fail(TT_ERR_NOMEM, "%s: out of memory", im->label);
    for (int64_t i = 0; i < c->numel; i++) s[i] = alpha * d[i];
    char base[TT_NAME_MAX + 8];
    snprintf(base, sizeof base, "%.100s.scaled", c->name);
    tt_status st = tt_imp_const_make(im, base, TT_F32, 2, c->shape.dims, s, w);
    free(s);
    return st;
}

/* C as the IR's [M] bias when it is one (or a constant that broadcasts to one, times beta);
 * *b = TT_IMP_ABSENT and *add = true when it must be added after the Gemm. */
static tt_status gemm_bias(tt_imp *im, int hc, float beta, int64_t m, int *b, bool *add)
{
    *b = TT_IMP_ABSENT;
    *add = false;
    if (hc == TT_IMP_ABSENT || beta == 0.0f) return TT_OK;
    tt_imp_const *c = tt_imp_const_of(im, hc);
    const tt_shape *s = tt_imp_shape(im, hc, NULL);
    if (!c) {
        if (beta != 1.0f)
            return tt_imp_fail(im, TT_ERR_UNSUPPORTED,
                               "beta=%g needs a constant C to fold into; C is computed",
                               (double)beta);
        *add = !(s->ndim == 1 && s->dims[0] == m);
        *b = *add ? TT_IMP_ABSENT : hc;
        return TT_OK;
    }
    const float *d;
    TT_CHECK(tt_imp_float_const(im, hc, "C", &c, &d));
    if (c->numel != 1 && c->numel != m)
        return tt_imp_fail(im, TT_ERR_UNSUPPORTED,
                           "C has %lld values; tinytrain's Gemm adds a bias of 1 or M = %lld",
                           (long long)c->numel, (long long)m);
    if (beta == 1.0f && s->ndim == 1 && s->dims[0] == m) {
        *b = hc;
        return TT_OK;
    }
    float *v = malloc((size_t)m * sizeof *v);
    if (!v) return tt_fail(TT_ERR_NOMEM, "%s: out of memory", im->label);
    for (int64_t i = 0; i < m; i++) v[i] = beta * d[c->numel == 1 ? 0 : i];
    char base[TT_NAME_MAX + 8];
    snprintf(base, sizeof base, "%.100s.bias", c->name);
    tt_status st = tt_imp_const_make(im, base, TT_F32, 1, &m, v, b);
    free(v);
    return st;
}

tt_status tt_imp_map_gemm(tt_imp *im, const Onnx__NodeProto *p, const int *h)
{
    int64_t ta, tb;
    float alpha, beta;
    if (p->n_input < 2) return tt_imp_fail(im, TT_ERR_FORMAT, "expected 2 or 3 inputs");
    TT_CHECK(tt_imp_attr_int(im, p, "transA", 0, &ta));
    TT_CHECK(tt_imp_attr_int(im, p, "transB", 0, &tb));
    TT_CHECK(tt_imp_attr_float(im, p, "alpha", 1.0f, &alpha));
    TT_CHECK(tt_imp_attr_float(im, p, "beta", 1.0f, &beta));
    if (ta) return tt_imp_fail(im, TT_ERR_UNSUPPORTED, "transA=1 is not supported");
    int hin[3] = {h[0], TT_IMP_ABSENT, TT_IMP_ABSENT};
    bool add;
    TT_CHECK(gemm_weight(im, h[1], tb, alpha, &hin[1]));
    const tt_shape *ws = tt_imp_shape(im, hin[1], NULL);
    if (ws->ndim != 2 || ws->dims[0] < 1)
        return tt_imp_fail(im, TT_ERR_SHAPE, "B must be 2-D with fixed sizes");
    TT_CHECK(
        gemm_bias(im, p->n_input > 2 ? h[2] : TT_IMP_ABSENT, beta, ws->dims[0], &hin[2], &add));
    tt_imp_mark_trainable(im, hin[1]);
    if (!add) {
        TT_CHECK(tt_imp_emit(im, p, TT_OP_GEMM, hin[2] == TT_IMP_ABSENT ? 2 : 3, hin, 0, NULL));
    } else { /* a computed C of another shape: Gemm, then a broadcasting Add */
        int ids[2], y;
        char name[TT_NAME_MAX];
        TT_CHECK(tt_imp_values(im, 2, hin, ids));
        TT_CHECK(tt_imp_ir_name(im, tt_imp_out_name(p, 0), "_gemm", name));
        TT_CHECK(tt_imp_add_node(im, TT_OP_GEMM, name, 2, ids, 0, NULL, &y));
        int hadd[2] = {y, h[2]};
        TT_CHECK(tt_imp_emit(im, p, TT_OP_ADD, 2, hadd, 0, NULL));
    }
    for (int j = 1; j < 3; j++) tt_imp_mark_trainable(im, hin[j]);
    return TT_OK;
}
