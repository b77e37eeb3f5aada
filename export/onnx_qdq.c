/* The QDQ format's quantisation pieces: FakeQuant nodes become QuantizeLinear/DequantizeLinear
 * with exactly their trained scale and zero point (no re-calibration), weights int8
 * initializers, biases int32 initializers (ORT's layout and names: ort-quantization.md §3).
 * Every number comes from tinytrain/quant.h, the single numerics module. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "autograd/internal.h"
#include "export/onnx_lower.h"
#include "tinytrain/quant.h"

/* A FakeQuant node's qparams, checked: what ONNX Runtime would be given must be valid. */
typedef struct fq_params {
    const float *scale, *zp; /* [c] */
    int64_t c;
    int axis; /* -1 per tensor */
    int32_t qmin, qmax;
    int dtype; /* TT_ONNX_DT_UINT8 or TT_ONNX_DT_INT8 */
} fq_params;

static tt_status read_fq(const tt_onnx_lower *L, const tt_node *n, fq_params *p)
{
    const tt_value *s = &L->g->values[n->in[1]], *z = &L->g->values[n->in[2]];
    if (s->kind != TT_VALUE_PARAM || z->kind != TT_VALUE_PARAM)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "ONNX export: node '%s' (FakeQuant): its scale and zero point must be "
                       "parameters",
                       n->name);
    p->scale = tt_tensor_f32(s->data);
    p->zp = tt_tensor_f32(z->data);
    p->c = tt_shape_numel(&s->shape);
    p->axis = (int)tt_node_attr_int(n, "axis", -1);
    p->qmin = (int32_t)tt_node_attr_int(n, "qmin", 0);
    p->qmax = (int32_t)tt_node_attr_int(n, "qmax", 255);
    tt_qtype t = tt_quant_storage_type(p->qmin, p->qmax);
    if (t == TT_QTYPE_S32)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "ONNX export: node '%s' (FakeQuant): range [%d, %d] needs more than 8 "
                       "bits; QDQ export writes uint8 or int8",
                       n->name, (int)p->qmin, (int)p->qmax);
    p->dtype = t == TT_QTYPE_U8 ? TT_ONNX_DT_UINT8 : TT_ONNX_DT_INT8;
    for (int64_t k = 0; k < p->c; k++) {
        if (!(p->scale[k] > 0.0f) || !isfinite(p->scale[k]) || p->zp[k] != rintf(p->zp[k]) ||
            p->zp[k] < (float)p->qmin || p->zp[k] > (float)p->qmax)
            return tt_fail(TT_ERR_NUMERIC,
                           "ONNX export: node '%s' (FakeQuant): channel %lld has scale %g and "
                           "zero point %g; need a positive finite scale and an integer zero "
                           "point in [%d, %d] (was the checkpoint calibrated?)",
                           n->name, (long long)k, (double)p->scale[k], (double)p->zp[k],
                           (int)p->qmin, (int)p->qmax);
    }
    return TT_OK;
}

/* "<base>_scale" (float) and "<base>_zero_point" (dtype): scalars, or [c] vectors when
 * per-channel. */
static tt_status qparam_inits(tt_onnx_lower *L, const char *base, const float *scale,
                              const int32_t *zp, int64_t c, bool vector, int zp_dtype,
                              const char **scale_name, const char **zp_name)
{
    int nd = vector ? 1 : 0;
    TT_CHECK(tt_ob_tensor_name(L->b, base, "_scale", scale_name));
    TT_CHECK(tt_ob_init_f32(L->b, *scale_name, nd, &c, scale));
    TT_CHECK(tt_ob_tensor_name(L->b, base, "_zero_point", zp_name));
    if (zp_dtype == TT_ONNX_DT_INT32) return tt_ob_init_i32(L->b, *zp_name, nd, &c, zp);
    return tt_ob_init_8bit(L->b, *zp_name, zp_dtype, nd, &c, zp);
}

/* A QuantizeLinear or DequantizeLinear node "<base>_<op>" (axis written when >= 0). */
static tt_status q_node(tt_onnx_lower *L, const char *op, const char *base, const char *x,
                        const char *scale, const char *zp, int axis, const char *out)
{
    char name[TT_NAME_MAX * 3 + 48];
    snprintf(name, sizeof name, "%s_%s", base, op);
    const char *in[3] = {x, scale, zp};
    Onnx__NodeProto *o;
    TT_CHECK(tt_ob_node(L->b, op, name, 3, in, out, &o));
    return axis >= 0 ? tt_ob_attr_int(L->b, o, "axis", axis) : TT_OK;
}

/* The zero points as int32 (read_fq checked they are integers in range). */
static tt_status zp_ints(const fq_params *p, int32_t **out)
{
    *out = malloc((size_t)p->c * sizeof **out);
    if (!*out) return tt_fail(TT_ERR_NOMEM, "ONNX export: out of memory");
    for (int64_t k = 0; k < p->c; k++) (*out)[k] = (int32_t)p->zp[k];
    return TT_OK;
}

/* Pad(*q, channels at the end of axis 1 up to to, the zero point): *q becomes its output.
 * The padded channels dequantise to 0 and meet zero weights. */
static tt_status pad_channels(tt_onnx_lower *L, const char *base, const tt_shape *s, int64_t to,
                              const char *zp, const char **q)
{
    int64_t pads[2 * TT_MAX_DIMS] = {0}, n = 2 * s->ndim;
    pads[s->ndim + 1] = to - s->dims[1];
    const char *pn, *out;
    TT_CHECK(tt_ob_tensor_name(L->b, base, "_pads", &pn));
    TT_CHECK(tt_ob_init_i64(L->b, pn, 1, &n, pads));
    TT_CHECK(tt_ob_tensor_name(L->b, base, "_Pad_Output", &out));
    char name[TT_NAME_MAX + 8];
    snprintf(name, sizeof name, "%s_Pad", base);
    const char *in[3] = {*q, pn, zp};
    TT_CHECK(tt_ob_node(L->b, "Pad", name, 3, in, out, NULL));
    *q = out;
    return TT_OK;
}

/* The FakeQuant node producing v (not the model output; only c reading it when sole), or
 * NULL. */
static const tt_node *fq_of(const tt_onnx_lower *L, int v, const tt_node *c, bool sole)
{
    const tt_graph *g = L->g;
    if (v < 0 || v == L->out_id ||
        (sole && (L->consumers[v] != 1 || &g->nodes[L->consumer[v]] != c)))
        return NULL;
    int p = g->values[v].producer;
    return p >= 0 && g->nodes[p].op == TT_OP_FAKEQUANT ? &g->nodes[p] : NULL;
}

static bool padding_applies(const tt_onnx_lower *L, const tt_node *conv)
{
    const tt_graph *g = L->g;
    const tt_shape *w = &g->values[conv->in[1]].shape;
    if (tt_node_attr_int(conv, "group", 1) != 1 || w->ndim < 3 ||
        w->dims[1] % TT_ONNX_CHANNEL_ALIGN == 0)
        return false;
    /* the activation may have other readers (they keep an unpadded DQ); the weight may not */
    const tt_node *fx = fq_of(L, conv->in[0], conv, false), *fw = fq_of(L, conv->in[1], conv, true);
    if (!fx || !fw || tt_onnx_is_weight_point(L, fx) || !tt_onnx_is_weight_point(L, fw))
        return false;
    fq_params px, pw;
    /* read_fq's errors surface again when the node is written; here they only mean "no" */
    bool valid = read_fq(L, fx, &px) == TT_OK && read_fq(L, fw, &pw) == TT_OK;
    tt_clear_error();
    if (!valid) return false;
    if (px.axis >= 0 || pw.axis > 0 || pw.dtype != TT_ONNX_DT_INT8) return false;
    for (int64_t k = 0; k < pw.c; k++)
        if (pw.zp[k] != 0.0f) return false;
    return true;
}

void tt_onnx_qdq_plan_pads(tt_onnx_lower *L)
{
    const tt_graph *g = L->g;
    for (int i = 0; i < g->n_nodes; i++) {
        const tt_node *n = &g->nodes[i];
        if (!L->needed[i] || L->absorbed[i] || n->op != TT_OP_CONV || !padding_applies(L, n))
            continue;
        int64_t c = g->values[n->in[1]].shape.dims[1], a = TT_ONNX_CHANNEL_ALIGN;
        L->pad[n->in[0]].to = L->pad[n->in[1]].to = (c + a - 1) / a * a;
        L->pad[n->in[0]].readers++;
        L->pad_conv[i] = true;
    }
}

tt_status tt_onnx_qdq_activation(tt_onnx_lower *L, const tt_node *n)
{
    fq_params p;
    TT_CHECK(read_fq(L, n, &p));
    const char *x, *sn, *zn, *q, *dq;
    TT_CHECK(tt_onnx_use(L, n->in[0], &x));
    int32_t *zp;
    TT_CHECK(zp_ints(&p, &zp));
    tt_status s = qparam_inits(L, x, p.scale, zp, p.c, p.axis >= 0, p.dtype, &sn, &zn);
    int32_t zp0 = zp[0];
    free(zp);
    TT_CHECK(s);
    TT_CHECK(tt_ob_tensor_name(L->b, x, "_QuantizeLinear_Output", &q));
    TT_CHECK(q_node(L, "QuantizeLinear", x, x, sn, zn, p.axis, q));
    int v = n->out[0];
    tt_onnx_pad *pad = L->pad && L->pad[v].to > 0 ? &L->pad[v] : NULL;
    /* The unpadded DQ only when something other than a padded Conv reads the value. */
    if (!pad || L->consumers[v] > pad->readers) {
        TT_CHECK(tt_onnx_def_name(L, v, x, "_DequantizeLinear_Output", &dq));
        TT_CHECK(q_node(L, "DequantizeLinear", x, q, sn, zn, p.axis, dq));
    }
    if (pad) {
        TT_CHECK(pad_channels(L, x, &L->g->values[n->in[0]].shape, pad->to, zn, &q));
        if (L->name[v])
            TT_CHECK(tt_ob_tensor_name(L->b, x, "_Pad_DequantizeLinear_Output", &dq));
        else
            TT_CHECK(tt_onnx_def_name(L, v, x, "_DequantizeLinear_Output", &dq));
        char base[TT_NAME_MAX * 2 + 8];
        snprintf(base, sizeof base, "%s_Pad", x);
        TT_CHECK(q_node(L, "DequantizeLinear", base, q, sn, zn, p.axis, dq));
        pad->name = dq;
    }
    /* Per-channel activations are written but not propagated: biases and pass-through ops
     * need one scale. */
    L->qi[n->out[0]] = (tt_onnx_qinfo){.quantized = p.axis < 0,
                                       .scale = p.scale[0],
                                       .zero_point = zp0,
                                       .scale_name = sn,
                                       .zp_name = zn};
    return TT_OK;
}

/* Conv weight values *q [M, C, ...] as [M, to, ...] with zeros in the new channels; dims[1]
 * becomes to. */
static tt_status pad_weight(int64_t to, int ndim, int64_t *dims, int32_t **q)
{
    int64_t m = dims[0], c = dims[1], k = 1;
    for (int i = 2; i < ndim; i++) k *= dims[i];
    int32_t *p = calloc((size_t)(m * to * k), sizeof *p);
    if (!p) return tt_fail(TT_ERR_NOMEM, "ONNX export: out of memory");
    for (int64_t o = 0; o < m; o++)
        memcpy(p + o * to * k, *q + o * c * k, (size_t)(c * k) * sizeof *p);
    free(*q);
    *q = p;
    dims[1] = to;
    return TT_OK;
}

tt_status tt_onnx_qdq_weight(tt_onnx_lower *L, const tt_node *n, const float *w, const char *base)
{
    fq_params p;
    TT_CHECK(read_fq(L, n, &p));
    const tt_shape *sh = &L->g->values[n->in[0]].shape;
    int64_t outer = 1, inner = 1, c = p.axis >= 0 ? sh->dims[p.axis] : 1,
            total = tt_shape_numel(sh);
    for (int i = 0; p.axis >= 0 && i < p.axis; i++) outer *= sh->dims[i];
    for (int i = p.axis + 1; p.axis >= 0 && i < sh->ndim; i++) inner *= sh->dims[i];
    if (p.axis < 0) inner = total;
    if (c != p.c)
        return tt_fail(TT_ERR_SHAPE,
                       "ONNX export: node '%s' (FakeQuant) has %lld scales for %lld channels",
                       n->name, (long long)p.c, (long long)c);
    int32_t *q = malloc((size_t)total * sizeof *q), *zp = NULL;
    tt_status s = q ? zp_ints(&p, &zp) : tt_fail(TT_ERR_NOMEM, "ONNX export: out of memory");
    if (s == TT_OK) {
        /* exactly the FakeQuant's forward: the trained scale, no re-calibration */
        for (int64_t o = 0; o < outer; o++)
            for (int64_t k = 0; k < c; k++)
                for (int64_t j = 0; j < inner; j++) {
                    int64_t i = (o * c + k) * inner + j;
                    q[i] = tt_quantize_val(w[i], p.scale[k], zp[k], p.qmin, p.qmax);
                }
    }
    int64_t dims[TT_MAX_DIMS];
    memcpy(dims, sh->dims, (size_t)sh->ndim * sizeof *dims);
    if (s == TT_OK && L->pad && L->pad[n->out[0]].to > 0)
        s = pad_weight(L->pad[n->out[0]].to, sh->ndim, dims, &q);
    const char *qn, *sn, *zn, *dq;
    if (s == TT_OK) s = tt_ob_tensor_name(L->b, base, "_quantized", &qn);
    if (s == TT_OK) s = tt_ob_init_8bit(L->b, qn, p.dtype, sh->ndim, dims, q);
    if (s == TT_OK) s = qparam_inits(L, base, p.scale, zp, p.c, p.axis >= 0, p.dtype, &sn, &zn);
    free(q);
    free(zp);
    TT_CHECK(s);
    TT_CHECK(tt_onnx_def_name(L, n->out[0], base, "_DequantizeLinear_Output", &dq));
    TT_CHECK(q_node(L, "DequantizeLinear", base, qn, sn, zn, p.axis, dq));
    L->wi[n->out[0]] = (tt_onnx_winfo){.scale = p.scale, .n_scale = p.c, .axis = p.axis};
    return TT_OK;
}

tt_status tt_onnx_qdq_passthrough(tt_onnx_lower *L, int in_v, int out_v, const char *raw)
{
    /* The input's scale and zero point again: ONNX Runtime then drops this pair and the DQ
     * before the op, and runs the op on the 8-bit tensor (its output reuses the input's qparams;
     * ort-quantization.md §3). The values are already on that grid, so the pair is exact. */
    tt_onnx_qinfo qi = L->qi[in_v];
    const char *q, *dq;
    TT_CHECK(tt_ob_tensor_name(L->b, raw, "_QuantizeLinear_Output", &q));
    TT_CHECK(q_node(L, "QuantizeLinear", raw, raw, qi.scale_name, qi.zp_name, -1, q));
    TT_CHECK(tt_onnx_def_name(L, out_v, raw, "_DequantizeLinear_Output", &dq));
    TT_CHECK(q_node(L, "DequantizeLinear", raw, q, qi.scale_name, qi.zp_name, -1, dq));
    L->qi[out_v] = qi;
    return TT_OK;
}

tt_status tt_onnx_qdq_bias(tt_onnx_lower *L, int x_v, int w_v, const float *bias, int64_t n,
                           const char *base, const char **out)
{
    const tt_onnx_qinfo *x = &L->qi[tt_onnx_root(L, x_v)];
    const tt_onnx_winfo *w = &L->wi[tt_onnx_root(L, w_v)];
    *out = NULL;
    if (!x->quantized || !w->scale || (w->n_scale != 1 && w->n_scale != n)) return TT_OK;
    bool vector = w->axis >= 0;
    int64_t c = vector ? n : 1;
    int32_t *q = malloc((size_t)n * sizeof *q), *zp = calloc((size_t)c, sizeof *zp);
    float *scale = malloc((size_t)c * sizeof *scale);
    tt_status s = q && zp && scale ? TT_OK : tt_fail(TT_ERR_NOMEM, "ONNX export: out of memory");
    if (s == TT_OK) {
        s = tt_quantize_bias(bias, n, x->scale, w->scale, w->n_scale, q);
        if (s != TT_OK) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", tt_last_error());
            s = tt_fail(s,
                        "ONNX export: bias '%s' does not fit int32 at scale input scale x "
                        "weight scale (%s); the weights' scales are too small for this bias",
                        base, msg);
        }
    }
    for (int64_t k = 0; s == TT_OK && k < c; k++)
        scale[k] = tt_quant_bias_scale(x->scale, w->scale[w->n_scale == 1 ? 0 : k]);
    const char *qn, *sn, *zn;
    if (s == TT_OK) s = tt_ob_tensor_name(L->b, base, "_quantized", &qn);
    if (s == TT_OK) s = tt_ob_init_i32(L->b, qn, 1, &n, q);
    if (s == TT_OK) s = qparam_inits(L, base, scale, zp, c, vector, TT_ONNX_DT_INT32, &sn, &zn);
    free(q);
    free(zp);
    free(scale);
    TT_CHECK(s);
    const char *dq;
    TT_CHECK(tt_ob_tensor_name(L->b, base, "_DequantizeLinear_Output", &dq));
    TT_CHECK(q_node(L, "DequantizeLinear", base, qn, sn, zn, vector ? 0 : -1, dq));
    *out = dq;
    return TT_OK;
}
