/* PTQ (tinytrain/ptq.h): the options checked, DYNAMIC handed to ptq_dynamic.c; STATIC here:
 * import -> prepare (BatchNorm folded, fake-quant points where ORT
 * puts Q/DQ) -> calibrate activations on the float graph -> weight and activation qparams ->
 * QDQ export. The prepared graph is the QAT graph, so the exporter writes exactly the scales
 * and zero points computed here, as it does for a QAT checkpoint. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "autograd/internal.h"
#include "data/dataset_internal.h"
#include "runtime/ptq_dynamic.h"
#include "runtime/ptq_internal.h"
#include "tinytrain/onnx.h"
#include "tinytrain/qat.h"
#include "tinytrain/quant.h"
#include "tinytrain/runtime.h"
#include "data/clock.h"

tt_ptq_opts tt_ptq_defaults(void)
{
    tt_ptq_opts o = {0};
    o.mode = TT_PTQ_STATIC;
    o.method = TT_CALIB_MINMAX;
    o.calib = tt_calibrator_defaults(TT_CALIB_MINMAX);
    o.batch = TT_PTQ_BATCH_DEFAULT;
    return o;
}

tt_ptq_opts tt_ptq_dynamic_defaults(void)
{
    tt_ptq_opts o = tt_ptq_defaults();
    o.mode = TT_PTQ_DYNAMIC;
    o.per_tensor = true; /* quantize_dynamic's per_channel=False */
    return o;
}

static tt_status check_dynamic(const tt_ptq_opts *o, const char *calib_path)
{
    if (calib_path)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "dynamic PTQ takes no calibration set (%s): DynamicQuantizeLinear computes "
                       "the activation ranges at run time; pass none, or use static PTQ",
                       calib_path);
    if (o->activation_s8)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "dynamic PTQ quantises activations to uint8 only (DynamicQuantizeLinear, "
                       "as ONNX Runtime's quantize_dynamic); int8 activations need static PTQ");
    return TT_OK;
}

static tt_status check_opts(const tt_ptq_opts *o, const char *calib_path)
{
    if (o->mode != TT_PTQ_STATIC && o->mode != TT_PTQ_DYNAMIC)
        return tt_fail(TT_ERR_INVALID_ARG, "PTQ mode %d is unknown (static or dynamic)",
                       (int)o->mode);
    if (o->n_exclude < 0 || o->n_exclude > TT_PTQ_MAX_EXCLUDE || (o->n_exclude && !o->exclude))
        return tt_fail(TT_ERR_INVALID_ARG, "exclude: %d names (at most %d)", o->n_exclude,
                       TT_PTQ_MAX_EXCLUDE);
    if (o->mode == TT_PTQ_DYNAMIC) return check_dynamic(o, calib_path);
    if (o->weight_u8 && o->activation_s8)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "uint8 weights need uint8 activations: ONNX Runtime's quantize_static "
                       "refuses int8 activations with uint8 weights; use uint8 activations or "
                       "int8 weights");
    if (o->method < TT_CALIB_MINMAX || o->method > TT_CALIB_PERCENTILE)
        return tt_fail(TT_ERR_INVALID_ARG, "calibration method %d is unknown", (int)o->method);
    if (o->batch < 0)
        return tt_fail(TT_ERR_INVALID_ARG, "batch %" PRId64 " must be >= 1 (0: %d)", o->batch,
                       TT_PTQ_BATCH_DEFAULT);
    if (!calib_path)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "static PTQ needs a calibration set (.npz or .h5 with an array named "
                       "after the model input); make one with tinytrain calib CONFIG -n 256 -o "
                       "calib.npz");
    return TT_OK;
}

bool tt_ptq_weight_symmetric(const tt_ptq_opts *o)
{
    /* quantize_static (QDQ) makes int8 weights symmetric (WeightSymmetric's default follows the
     * sign of the type) and every per-channel weight symmetric whatever its type, so that the
     * channels share one zero point; quantize_dynamic makes uint8 weights asymmetric. */
    return !o->weight_u8 || (o->mode == TT_PTQ_STATIC && !o->per_tensor);
}

/* The weights' ranges as quantize_static has them: qparams computed over `calc`, values
 * saturated to `clamp`. int8: [-127, 127] (7 bits: [-64, 64]) for both, as in every earlier
 * tinytrain file (no int8 weight gets past it: |w| / scale is at most 127 or 64 to a few
 * ulps). uint8: [0, 255] or [0, 127], symmetric ones too (ORT 1.32 has no symmetric uint8
 * range: zero point 128, or 64), saturated to the whole type as ORT's quantize_nparray does,
 * which lets a 7-bit symmetric weight reach 128. */
static void weight_ranges(const tt_ptq_opts *o, tt_qrange *calc, tt_qrange *clamp)
{
    *calc = o->weight_u8 ? tt_quant_range(TT_QTYPE_U8, false, o->reduce_range)
                         : tt_quant_range(TT_QTYPE_S8, true, o->reduce_range);
    *clamp = o->weight_u8 ? tt_quant_range(TT_QTYPE_U8, false, false) : *calc;
}

/* quantize_static's settings as a QAT config: BN folded, weights int8 symmetric or uint8
 * (symmetric per channel, asymmetric per tensor), per channel or per tensor, 7 bits with
 * reduce_range, activations 8-bit asymmetric. */
static tt_qat_config qat_config(const tt_ptq_opts *o)
{
    tt_qat_config q = tt_qat_defaults();
    q.bn_fold = TT_BN_FOLD_FOLD;
    q.learnable_scale = false;
    q.weight.is_signed = !o->weight_u8;
    q.weight.symmetric = tt_ptq_weight_symmetric(o);
    q.weight.per_channel = !o->per_tensor;
    q.weight.reduce_range = o->reduce_range;
    q.weight.observer = TT_QAT_OBS_MINMAX;
    q.activation.is_signed = o->activation_s8;
    q.activation.symmetric = false;
    q.activation.reduce_range = false; /* ORT applies reduce_range to weights only */
    q.activation.observer = TT_QAT_OBS_MINMAX;
    return q;
}

typedef struct job {
    const tt_ptq_opts *o;
    const char *model_path, *calib_path, *out_path;
    tt_model *m;
    tt_graph *q;
    int qin, qout;
    tt_ptq_source *src;
    int *points, n_points;
    tt_ptq_result *r;
} job;

/* Whether anything reads value v (the output counts). */
static bool is_read(const tt_graph *g, int v, int out)
{
    if (v == out) return true;
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_in; j++)
            if (g->nodes[i].in[j] == v) return true;
    return false;
}

/* The input model's name for the tensor a prepared-graph point quantises: node names are
 * kept by the prepare pass, except that a folded BatchNormalization's output is carried by
 * its layer. */
static void source_tensor(const job *j, int x, char *out)
{
    const tt_graph *src = j->m->graph, *g = j->q;
    snprintf(out, TT_NAME_MAX, "%s", g->values[x].name);
    int p = g->values[x].producer;
    if (p < 0) return;
    const tt_node *n = &g->nodes[p];
    for (int i = 0; i < src->n_nodes; i++) {
        const tt_node *s = &src->nodes[i];
        if (strcmp(s->name, n->name) != 0) continue;
        int k = 0;
        while (k < n->n_out && n->out[k] != x) k++;
        int v = s->out[k < s->n_out ? k : 0];
        /* a layer whose BN was folded: the point is on the BN's output */
        for (int b = i + 1; b < src->n_nodes; b++)
            if (src->nodes[b].op == TT_OP_BATCHNORM && src->nodes[b].in[0] == v &&
                (s->op == TT_OP_CONV || s->op == TT_OP_GEMM))
                v = src->nodes[b].out[0];
        snprintf(out, TT_NAME_MAX, "%s", src->values[v].name);
        return;
    }
}

static tt_status find_points(job *j)
{
    const tt_graph *g = j->q;
    j->points = malloc((size_t)(g->n_nodes + 1) * sizeof *j->points);
    if (!j->points) return tt_fail(TT_ERR_NOMEM, "ptq: out of memory");
    for (int i = 0; i < g->n_nodes; i++) {
        const tt_node *n = &g->nodes[i];
        if (n->op != TT_OP_FAKEQUANT || !is_read(g, n->out[0], j->qout)) continue;
        if (tt_ptq_is_weight_point(g, n))
            j->r->weight_points++;
        else
            j->points[j->n_points++] = i;
    }
    j->r->activation_points = j->n_points;
    return TT_OK;
}

/* The integer range FakeQuant node n quantises to (and computes its qparams over). */
static tt_qrange node_range(const tt_node *n)
{
    return (tt_qrange){(int32_t)tt_node_attr_int(n, "qmin", 0),
                       (int32_t)tt_node_attr_int(n, "qmax", 255)};
}

/* Scale and zero point of FakeQuant node n, channel c, from the range (rmin, rmax) over the
 * integer range q. */
static tt_status set_qparams(tt_graph *g, const tt_node *n, int64_t c, float rmin, float rmax,
                             tt_qrange q)
{
    float s;
    int32_t z;
    tt_status st = tt_quant_compute_scale_zp(rmin, rmax, q.qmin, q.qmax,
                                             tt_node_attr_int(n, "symmetric", 0) != 0, &s, &z);
    if (st != TT_OK) {
        char why[800];
        snprintf(why, sizeof why, "%s", tt_last_error());
        return tt_fail(st, "'%s', range (%g, %g): %s", g->values[n->in[0]].name, (double)rmin,
                       (double)rmax, why);
    }
    tt_graph_param_data(g, n->in[1])[c] = s;
    tt_graph_param_data(g, n->in[2])[c] = (float)z;
    tt_graph_param_data(g, n->in[3])[c] = rmin;
    tt_graph_param_data(g, n->in[4])[c] = rmax;
    return TT_OK;
}

/* Weight qparams from the weight's own min/max over the range calc, per channel along the
 * node's axis. */
static tt_status weight_qparams(tt_graph *g, const tt_node *n, tt_qrange calc)
{
    const tt_value *w = &g->values[n->in[0]];
    const float *d = tt_tensor_f32(w->data);
    int64_t axis = tt_node_attr_int(n, "axis", -1), outer = 1, ch = 1, inner = 1;
    for (int i = 0; i < w->shape.ndim; i++) {
        if (axis < 0 || i > axis)
            inner *= w->shape.dims[i];
        else if (i < axis)
            outer *= w->shape.dims[i];
        else
            ch = w->shape.dims[i];
    }
    for (int64_t c = 0; c < ch; c++) {
        float lo = INFINITY, hi = -INFINITY;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t k = 0; k < inner; k++) {
                float v = d[(o * ch + c) * inner + k];
                lo = v < lo ? v : lo;
                hi = v > hi ? v : hi;
            }
        TT_CHECK(set_qparams(g, n, c, lo, hi, calc));
    }
    return TT_OK;
}

/* ORT's _adjust_weight_scale_for_int32_bias: when input scale x weight scale is too small for
 * the bias to fit int32, the weight scale grows to 1.0001 * 2|b| / (2^32 - 2) / input scale
 * (per channel; per tensor over the bias's absmax), in float64, stored float32. ORT does it for
 * int8 weights with zero points 0 only, never for uint8 ones (quantise() skips them). */
static int adjust_for_bias(tt_graph *g, const tt_node *bq)
{
    const tt_value *bv = &g->values[bq->in[0]];
    const float *b = tt_tensor_f32(bv->data);
    int64_t nb = tt_shape_numel(&bv->shape), nw = tt_shape_numel(&g->values[bq->in[2]].shape);
    double xs = tt_graph_param_data(g, bq->in[1])[0];
    float *ws = tt_graph_param_data(g, bq->in[2]);
    const double qrange = 2147483647.0 - (-2147483647.0);
    int changed = 0;
    double absmax = 0;
    for (int64_t i = 0; i < nb; i++) absmax = fmax(absmax, fabs((double)b[i]));
    for (int64_t c = 0; c < nw; c++) {
        double need = 1.0001 * 2.0 * (nw == 1 ? absmax : fabs((double)b[c])) / qrange;
        double cand = xs * (double)ws[c];
        if (cand < need && cand > 0.0) {
            ws[c] = (float)((double)ws[c] * (need / cand));
            changed++;
        }
    }
    return changed;
}

/* Node n's integer attribute `name` (present: the prepare pass writes every FakeQuant's). */
static void set_int_attr(tt_node *n, const char *name, int64_t v)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (!strcmp(n->attrs[i].name, name) && n->attrs[i].type == TT_ATTR_INT)
            n->attrs[i].ints[0] = v;
}

/* A weight point's qparams over calc; its values saturate to clamp (the exporter quantises the
 * weight to the node's qmin/qmax, and writes it in the narrowest type holding them). */
static tt_status quantise_weight(tt_graph *g, tt_node *n, tt_qrange calc, tt_qrange clamp)
{
    set_int_attr(n, "qmin", clamp.qmin);
    set_int_attr(n, "qmax", clamp.qmax);
    return weight_qparams(g, n, calc);
}

static tt_status quantise(job *j, const tt_ptq_cal_out *cal)
{
    tt_graph *g = j->q;
    for (int i = 0; i < j->n_points; i++) {
        tt_ptq_point *p = &j->r->points[i];
        const tt_node *n = &g->nodes[j->points[i]];
        TT_CHECK(set_qparams(g, n, 0, cal->rmin[i], cal->rmax[i], node_range(n)));
        source_tensor(j, n->in[0], p->tensor);
        p->rmin = cal->rmin[i];
        p->rmax = cal->rmax[i];
        p->scale = tt_graph_param_data(g, n->in[1])[0];
        p->zero_point = (int32_t)tt_graph_param_data(g, n->in[2])[0];
        p->values = cal->values[i];
    }
    tt_qrange calc, clamp;
    weight_ranges(j->o, &calc, &clamp);
    for (int i = 0; i < g->n_nodes; i++)
        if (tt_ptq_is_weight_point(g, &g->nodes[i]))
            TT_CHECK(quantise_weight(g, &g->nodes[i], calc, clamp));
    for (int i = 0; i < g->n_nodes && !j->o->weight_u8; i++)
        if (g->nodes[i].op == TT_OP_BIAS_QUANT && is_read(g, g->nodes[i].out[0], j->qout))
            j->r->adjusted_weight_scales += adjust_for_bias(g, &g->nodes[i]);
    return TT_OK;
}

static tt_status calibrate(job *j)
{
    const tt_graph *src = j->m->graph;
    const tt_value *in = &src->values[j->m->input_id];
    snprintf(j->r->calib_array, sizeof j->r->calib_array, "%s", in->name);
    TT_CHECK(tt_ptq_source_open(j->calib_path, in->name, &in->shape, &j->src));
    j->r->samples = tt_ptq_source_count(j->src);
    j->r->sample_ndim = in->shape.ndim - 1;
    for (int i = 1; i < in->shape.ndim; i++) j->r->sample_shape[i - 1] = in->shape.dims[i];
    tt_ptq_cal_out cal = {0};
    j->r->points = calloc((size_t)(j->n_points ? j->n_points : 1), sizeof *j->r->points);
    cal.rmin = malloc((size_t)(j->n_points + 1) * sizeof *cal.rmin);
    cal.rmax = malloc((size_t)(j->n_points + 1) * sizeof *cal.rmax);
    cal.values = malloc((size_t)(j->n_points + 1) * sizeof *cal.values);
    tt_status s = TT_OK;
    if (!j->r->points || !cal.rmin || !cal.rmax || !cal.values)
        s = tt_fail(TT_ERR_NOMEM, "ptq: out of memory");
    bool fixed = j->m->fixed_batch > 0;
    int64_t batch = fixed ? j->m->fixed_batch : (j->o->batch ? j->o->batch : TT_PTQ_BATCH_DEFAULT);
    double t0 = tt_clock_s();
    if (s == TT_OK)
        s = tt_ptq_calibrate(j->q, j->qin, j->src, batch, fixed, j->o->method, &j->o->calib,
                             j->n_points, j->points, &cal);
    j->r->calib_s = tt_clock_s() - t0;
    j->r->n_points = j->n_points;
    j->r->batches = cal.batches;
    j->r->passes = cal.passes;
    if (s == TT_OK) s = quantise(j, &cal);
    free(cal.rmin);
    free(cal.rmax);
    free(cal.values);
    return s;
}

static tt_status prepare(job *j)
{
    tt_qat_config qc = qat_config(j->o);
    tt_qat_summary sum;
    TT_CHECK(tt_onnx_import(j->model_path, NULL, &j->m));
    tt_status s = tt_qat_prepare(j->m->graph, j->m->input_id, j->m->output_id, &qc, &j->q, &j->qin,
                                 &j->qout, &sum);
    if (s != TT_OK) {
        char why[800];
        snprintf(why, sizeof why, "%s", tt_last_error());
        return tt_fail(s, "%s: %s", j->model_path, why);
    }
    j->r->folded_bn = sum.folded_bn;
    /* Calibration sees the float model: no rounding, and no observer touches a range. */
    tt_qat_set_fake_quant(j->q, false);
    tt_qat_set_observe(j->q, false);
    TT_CHECK(tt_ptq_exclude(j->model_path, j->m->graph, j->m->output_id, j->q, &j->qout, j->o,
                            &j->r->excluded_nodes));
    return find_points(j);
}

static tt_status file_info(const char *path, int64_t *bytes, char sha[65])
{
    return tt_sha256_file(path, sha, bytes);
}

static tt_status write_model(job *j)
{
    char doc[512];
    snprintf(doc, sizeof doc,
             "tinytrain ptq: static QDQ int8 of %s (%s calibration on %" PRId64 " samples, "
             "%s weights %s)",
             j->model_path, tt_calib_method_name(j->o->method), j->r->samples,
             j->o->weight_u8 ? "uint8" : "int8", j->o->per_tensor ? "per tensor" : "per channel");
    tt_onnx_export_opts eo = {
        .format = TT_ONNX_QDQ, .doc = doc, .no_channel_pad = j->o->no_channel_pad};
    tt_qat_set_fake_quant(j->q, true); /* the graph as exported: quantised */
    TT_CHECK(tt_onnx_export(j->q, j->qin, j->qout, &eo, j->out_path));
    TT_CHECK(file_info(j->model_path, &j->r->input_bytes, j->r->input_sha256));
    TT_CHECK(file_info(j->out_path, &j->r->output_bytes, j->r->output_sha256));
    return file_info(j->calib_path, &j->r->calib_bytes, j->r->calib_sha256);
}

tt_status tt_ptq_quantize(const char *model_path, const char *calib_path, const char *out_path,
                          const tt_ptq_opts *opts, tt_ptq_result *res)
{
    TT_CHECK_NULL(model_path, "tt_ptq_quantize");
    TT_CHECK_NULL(out_path, "tt_ptq_quantize");
    tt_ptq_opts def = tt_ptq_defaults();
    const tt_ptq_opts *o = opts ? opts : &def;
    tt_ptq_result local;
    tt_ptq_result *r = res ? res : &local;
    memset(r, 0, sizeof *r);
    TT_CHECK(check_opts(o, calib_path));
    double t0 = tt_clock_s();
    if (o->mode == TT_PTQ_DYNAMIC) {
        tt_status s = tt_ptq_dynamic(model_path, out_path, o, r);
        r->total_s = tt_clock_s() - t0;
        if (s != TT_OK || !res) tt_ptq_result_free(r);
        return s;
    }
    job j = {
        .o = o, .model_path = model_path, .calib_path = calib_path, .out_path = out_path, .r = r};
    tt_status s = prepare(&j);
    if (s == TT_OK) s = calibrate(&j);
    if (s == TT_OK) s = write_model(&j);
    r->total_s = tt_clock_s() - t0;
    tt_ptq_source_close(j.src);
    free(j.points);
    tt_graph_free(j.q);
    tt_model_free(j.m);
    if (s != TT_OK || !res) tt_ptq_result_free(r);
    return s;
}

void tt_ptq_result_free(tt_ptq_result *res)
{
    if (!res) return;
    free(res->points);
    res->points = NULL;
    res->n_points = 0;
}
