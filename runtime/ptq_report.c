/* The PTQ reports, after the seed's ptq_static.py / ptq_dynamic.py reports: mode, input_bytes,
 * output_bytes, size_ratio, per_channel as the seed writes them, and run_provenance with the keys
 * of the gate report. ptq-static-report-v1 adds calibration_samples and calibration_inputs (the
 * seed's), the settings, the calibration file with its SHA-256 and every activation point's
 * range and qparams; ptq-dynamic-report-v1 adds the settings and the nodes made. And the
 * reports of tinytrain recommend (ptq-recommend-report-v1, and its Markdown table). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "autograd/internal.h"
#include "data/dataset_internal.h"
#include "data/provenance.h"
#include "runtime/ptq_internal.h"
#include "runtime/registry_internal.h"
#include "tinytrain/tinytrain.h"

static void add_num(cJSON *o, const char *k, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k); /* JSON has no NaN */
}

static cJSON *file_json(const char *path, int64_t bytes, const char *sha256)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "path", path ? path : "");
    if (bytes >= 0) cJSON_AddNumberToObject(o, "bytes", (double)bytes);
    if (sha256 && sha256[0])
        cJSON_AddStringToObject(o, "sha256", sha256);
    else
        cJSON_AddNullToObject(o, "sha256");
    return o;
}

static cJSON *settings_json(const tt_ptq_opts *o)
{
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "method", tt_calib_method_name(o->method));
    if (o->method != TT_CALIB_MINMAX) {
        cJSON_AddNumberToObject(s, "num_bins", (double)o->calib.num_bins);
        cJSON_AddBoolToObject(s, "symmetric_histogram", o->calib.symmetric);
    }
    if (o->method == TT_CALIB_ENTROPY)
        cJSON_AddNumberToObject(s, "num_quantized_bins", (double)o->calib.num_quantized_bins);
    if (o->method == TT_CALIB_PERCENTILE) add_num(s, "percentile", o->calib.percentile);
    cJSON_AddStringToObject(s, "quant_format", "QDQ");
    cJSON_AddStringToObject(s, "weight_granularity", o->per_tensor ? "per_tensor" : "per_channel");
    cJSON_AddStringToObject(s, "activation_type", o->activation_s8 ? "int8" : "uint8");
    cJSON_AddStringToObject(s, "weight_type", o->weight_u8 ? "uint8" : "int8");
    cJSON_AddBoolToObject(s, "activation_symmetric", false);
    cJSON_AddBoolToObject(s, "weight_symmetric", tt_ptq_weight_symmetric(o));
    cJSON_AddBoolToObject(s, "reduce_range", o->reduce_range);
    cJSON_AddNumberToObject(s, "batch", (double)(o->batch ? o->batch : TT_PTQ_BATCH_DEFAULT));
    cJSON *ex = cJSON_AddArrayToObject(s, "exclude");
    for (int i = 0; i < o->n_exclude; i++)
        cJSON_AddItemToArray(ex, cJSON_CreateString(o->exclude[i]));
    return s;
}

static cJSON *calibration_json(const tt_ptq_result *r, const tt_ptq_run *run)
{
    cJSON *c = file_json(run->calibration, r->calib_bytes, r->calib_sha256);
    cJSON_AddStringToObject(c, "array", r->calib_array);
    cJSON_AddNumberToObject(c, "samples", (double)r->samples);
    cJSON *shape = cJSON_AddArrayToObject(c, "sample_shape");
    for (int i = 0; i < r->sample_ndim; i++)
        cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)r->sample_shape[i]));
    cJSON_AddNumberToObject(c, "batches_per_pass", (double)r->batches);
    cJSON_AddNumberToObject(c, "passes", r->passes);
    add_num(c, "seconds", r->calib_s);
    return c;
}

static cJSON *points_json(const tt_ptq_result *r)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < r->n_points; i++) {
        const tt_ptq_point *p = &r->points[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "tensor", p->tensor);
        add_num(o, "rmin", p->rmin);
        add_num(o, "rmax", p->rmax);
        add_num(o, "scale", p->scale);
        cJSON_AddNumberToObject(o, "zero_point", p->zero_point);
        cJSON_AddNumberToObject(o, "values", (double)p->values);
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

static cJSON *provenance_json(const char *report, const tt_ptq_result *r, const tt_ptq_run *run)
{
    cJSON *p = tt_provenance_open("ptq", run->argc, run->argv);
    cJSON *in = cJSON_AddObjectToObject(p, "inputs");
    cJSON_AddItemToObject(in, "model", file_json(run->model, r->input_bytes, r->input_sha256));
    if (run->calibration)
        cJSON_AddItemToObject(in, "calibration",
                              file_json(run->calibration, r->calib_bytes, r->calib_sha256));
    cJSON *out = cJSON_AddObjectToObject(p, "outputs");
    cJSON_AddItemToObject(out, "model", file_json(run->output, r->output_bytes, r->output_sha256));
    /* The report cannot hold its own hash. */
    cJSON_AddItemToObject(out, "report", file_json(report, -1, NULL));
    cJSON_AddStringToObject(p, "backend", "cpu");
    tt_provenance_add_host(p);
    tt_provenance_add_time(p, "finished_utc", time(NULL), run->wall_s);
    return p;
}

/* The keys both reports share with the seed's. */
static cJSON *report_head(const char *mode, const tt_ptq_opts *opts, const tt_ptq_result *r)
{
    char schema[40];
    snprintf(schema, sizeof schema, "ptq-%s-report-v1", mode);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "schema", schema);
    cJSON_AddStringToObject(j, "mode", mode);
    cJSON_AddNumberToObject(j, "input_bytes", (double)r->input_bytes);
    cJSON_AddNumberToObject(j, "output_bytes", (double)r->output_bytes);
    add_num(j, "size_ratio",
            r->input_bytes > 0 ? (double)r->output_bytes / (double)r->input_bytes : NAN);
    cJSON_AddBoolToObject(j, "per_channel", !opts->per_tensor);
    return j;
}

/* quantize_dynamic's arguments and the fixed parts of its scheme. */
static cJSON *dynamic_settings_json(const tt_ptq_opts *o)
{
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "quant_format", "IntegerOps");
    cJSON_AddStringToObject(s, "weight_type", o->weight_u8 ? "uint8" : "int8");
    cJSON_AddBoolToObject(s, "weight_symmetric", tt_ptq_weight_symmetric(o));
    cJSON_AddStringToObject(s, "weight_granularity",
                            o->per_tensor ? "per_tensor" : "per_channel_matmul_per_tensor_conv");
    cJSON_AddStringToObject(s, "activation_type", "uint8");
    cJSON_AddStringToObject(s, "activation_quantization", "DynamicQuantizeLinear (run time)");
    cJSON_AddBoolToObject(s, "reduce_range", o->reduce_range);
    cJSON *ex = cJSON_AddArrayToObject(s, "exclude");
    for (int i = 0; i < o->n_exclude; i++)
        cJSON_AddItemToArray(ex, cJSON_CreateString(o->exclude[i]));
    return s;
}

static cJSON *dynamic_report(const tt_ptq_opts *opts, const tt_ptq_result *r)
{
    cJSON *j = report_head("dynamic", opts, r);
    cJSON_AddItemToObject(j, "settings", dynamic_settings_json(opts));
    cJSON *q = cJSON_AddObjectToObject(j, "quantisation");
    cJSON_AddNumberToObject(q, "dynamic_quantize_linear", r->dynamic_quantize_nodes);
    cJSON_AddNumberToObject(q, "matmul_integer", r->matmul_integer_nodes);
    cJSON_AddNumberToObject(q, "conv_integer", r->conv_integer_nodes);
    cJSON_AddNumberToObject(q, "gemm_to_matmul", r->gemm_rewritten);
    cJSON_AddNumberToObject(q, "weight_points", r->weight_points);
    cJSON_AddNumberToObject(q, "excluded_nodes", r->excluded_nodes);
    return j;
}

static cJSON *static_report(const tt_ptq_opts *opts, const tt_ptq_result *r, const tt_ptq_run *run)
{
    cJSON *j = report_head("static", opts, r);
    cJSON_AddNumberToObject(j, "calibration_samples", (double)r->samples);
    cJSON *ci = cJSON_AddArrayToObject(j, "calibration_inputs");
    cJSON_AddItemToArray(ci, cJSON_CreateString(r->calib_array));
    cJSON_AddItemToObject(j, "settings", settings_json(opts));
    cJSON_AddItemToObject(j, "calibration", calibration_json(r, run));
    cJSON *q = cJSON_AddObjectToObject(j, "quantisation");
    cJSON_AddNumberToObject(q, "weight_points", r->weight_points);
    cJSON_AddNumberToObject(q, "activation_points", r->activation_points);
    cJSON_AddNumberToObject(q, "folded_batchnorm", r->folded_bn);
    cJSON_AddNumberToObject(q, "excluded_nodes", r->excluded_nodes);
    cJSON_AddNumberToObject(q, "adjusted_weight_scales", r->adjusted_weight_scales);
    cJSON_AddItemToObject(j, "activation_points", points_json(r));
    return j;
}

tt_status tt_ptq_write_report(const char *path, const tt_ptq_opts *opts, const tt_ptq_result *r,
                              const tt_ptq_run *run)
{
    TT_CHECK_NULL(path, "tt_ptq_write_report");
    TT_CHECK_NULL(opts, "tt_ptq_write_report");
    TT_CHECK_NULL(r, "tt_ptq_write_report");
    TT_CHECK_NULL(run, "tt_ptq_write_report");
    cJSON *j = opts->mode == TT_PTQ_DYNAMIC ? dynamic_report(opts, r) : static_report(opts, r, run);
    cJSON_AddItemToObject(j, "run_provenance", provenance_json(path, r, run));
    return tt_json_write_report(j, path, "PTQ report");
}

/* ---- tinytrain recommend ------------------------------------------------------------------- */

static const char *candidate_verdict(const tt_ptq_candidate *c)
{
    if (!c->built) return "not_made";
    return c->pass ? "pass" : tt_gate_status_name(c->gate.status);
}

static double ratio(int64_t a, int64_t b)
{
    return a > 0 && b > 0 ? (double)a / (double)b : NAN;
}

static cJSON *candidate_json(const tt_ptq_candidate *c, const tt_ptq_recommendation *r, bool kept)
{
    cJSON *o = cJSON_CreateObject();
    bool dynamic = c->opts.mode == TT_PTQ_DYNAMIC;
    cJSON_AddStringToObject(o, "label", c->label);
    cJSON_AddStringToObject(o, "mode", dynamic ? "dynamic" : "static");
    if (dynamic)
        cJSON_AddNullToObject(o, "method");
    else
        cJSON_AddStringToObject(o, "method", tt_calib_method_name(c->opts.method));
    cJSON_AddBoolToObject(o, "per_channel", !c->opts.per_tensor);
    cJSON_AddStringToObject(o, "verdict", candidate_verdict(c));
    if (kept && c->built)
        cJSON_AddItemToObject(o, "file", file_json(c->path, c->bytes, NULL));
    else
        cJSON_AddNullToObject(o, "file");
    add_num(o, "bytes", c->built ? (double)c->bytes : NAN);
    add_num(o, "size_ratio", c->built ? ratio(c->bytes, r->fp32_bytes) : NAN);
    bool m = c->built && c->gate.measured;
    add_num(o, "plcc", m ? c->gate.m.plcc : NAN);
    add_num(o, "drop", m ? c->gate.m.drop : NAN);
    add_num(o, "worst_abs", m ? c->gate.m.worst_abs : NAN);
    cJSON_AddStringToObject(o, "message", c->message);
    return o;
}

static cJSON *gate_inputs_json(const tt_ptq_recommendation *r, const tt_ptq_recommend_opts *o)
{
    cJSON *g = cJSON_CreateObject();
    cJSON_AddNumberToObject(g, "samples",
                            (double)(o->gate.samples ? o->gate.samples : TT_GATE_SAMPLES_DEFAULT));
    cJSON_AddStringToObject(g, "runtime_mode", o->gate.mode == TT_RT_FLOAT ? "float" : "int8");
    const char *sha = NULL;
    const tt_gate_row *row = NULL; /* a measured row: where the samples came from */
    for (int i = 0; i < r->n && !sha; i++)
        if (r->c[i].gate.inputs_sha256[0]) {
            sha = r->c[i].gate.inputs_sha256;
            row = &r->c[i].gate;
        }
    if (!o->gate.data) {
        cJSON_AddNumberToObject(g, "seed", (double)o->gate.seed);
    } else {
        cJSON *d = cJSON_AddObjectToObject(g, "data");
        cJSON_AddStringToObject(d, "path", o->gate.data);
        if (row && row->data_sha256[0]) {
            cJSON_AddStringToObject(d, "sha256", row->data_sha256);
            cJSON_AddStringToObject(d, "array", row->data_array);
        }
    }
    if (sha)
        cJSON_AddStringToObject(g, "inputs_sha256", sha);
    else
        cJSON_AddNullToObject(g, "inputs_sha256");
    return g;
}

static cJSON *recommend_provenance(const char *report, const tt_ptq_recommendation *r,
                                   const tt_ptq_recommend_run *run)
{
    cJSON *p = tt_provenance_open("recommend", run->argc, run->argv);
    cJSON *in = cJSON_AddObjectToObject(p, "inputs");
    cJSON_AddItemToObject(in, "model", file_json(run->model, r->fp32_bytes, r->fp32_sha256));
    char sha[65] = "";
    int64_t bytes = -1;
    if (run->calibration && tt_sha256_file(run->calibration, sha, &bytes) != TT_OK) sha[0] = 0;
    if (run->calibration)
        cJSON_AddItemToObject(in, "calibration", file_json(run->calibration, bytes, sha));
    cJSON *out = cJSON_AddObjectToObject(p, "outputs");
    if (run->out_md) {
        char msha[65] = "";
        int64_t mb = -1;
        if (tt_sha256_file(run->out_md, msha, &mb) != TT_OK) msha[0] = 0;
        cJSON_AddItemToObject(out, "report_md", file_json(run->out_md, mb, msha));
    }
    cJSON_AddItemToObject(out, "report", file_json(report, -1, NULL));
    cJSON_AddStringToObject(p, "backend", "cpu");
    tt_provenance_add_host(p);
    tt_provenance_add_time(p, "finished_utc", time(NULL), run->wall_s);
    return p;
}

tt_status tt_ptq_recommend_write_json(const char *path, const tt_ptq_recommendation *r,
                                      const tt_ptq_recommend_opts *o,
                                      const tt_ptq_recommend_run *run)
{
    TT_CHECK_NULL(path, "tt_ptq_recommend_write_json");
    TT_CHECK_NULL(r, "tt_ptq_recommend_write_json");
    TT_CHECK_NULL(o, "tt_ptq_recommend_write_json");
    TT_CHECK_NULL(run, "tt_ptq_recommend_write_json");
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "schema", "ptq-recommend-report-v1");
    cJSON_AddItemToObject(j, "model", file_json(run->model, r->fp32_bytes, r->fp32_sha256));
    add_num(j, "budget", o->budget);
    cJSON_AddItemToObject(j, "gate_inputs", gate_inputs_json(r, o));
    cJSON *a = cJSON_AddArrayToObject(j, "candidates");
    for (int i = 0; i < r->n; i++) cJSON_AddItemToArray(a, candidate_json(&r->c[i], r, run->kept));
    if (r->chosen >= 0) {
        cJSON_AddStringToObject(j, "recommendation", r->c[r->chosen].label);
        cJSON_AddStringToObject(j, "advice", "ship the recommended candidate");
    } else {
        cJSON_AddNullToObject(j, "recommendation");
        cJSON_AddStringToObject(j, "advice", "none inside the budget: use QAT (tinytrain qat)");
    }
    cJSON_AddItemToObject(j, "run_provenance", recommend_provenance(path, r, run));
    return tt_json_write_report(j, path, "recommend report");
}

static void md_value(FILE *f, bool have, double v, const char *fmt)
{
    if (have && isfinite(v))
        fprintf(f, fmt, v);
    else
        fputs("-", f);
}

/* A table cell: '|' would end the cell, a line break the row. */
static void md_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '|') fputc('\\', f);
        fputc(*s == '\n' ? ' ' : *s, f);
    }
}

tt_status tt_ptq_recommend_write_md(const char *path, const tt_ptq_recommendation *r,
                                    const tt_ptq_recommend_opts *o, const tt_ptq_recommend_run *run)
{
    TT_CHECK_NULL(path, "tt_ptq_recommend_write_md");
    TT_CHECK_NULL(r, "tt_ptq_recommend_write_md");
    TT_CHECK_NULL(o, "tt_ptq_recommend_write_md");
    TT_CHECK_NULL(run, "tt_ptq_recommend_write_md");
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return tt_fail(TT_ERR_NOMEM, "%s: out of memory", path);
    fprintf(f, "# tinytrain recommend: %s\n\n",
            r->chosen >= 0 ? r->c[r->chosen].label : "none inside the budget, use QAT");
    fprintf(f, "Model `%s` (%lld bytes), budget %g on drop = 1 - PLCC, gate on %lld samples ",
            run->model, (long long)r->fp32_bytes, o->budget,
            (long long)(o->gate.samples ? o->gate.samples : TT_GATE_SAMPLES_DEFAULT));
    if (o->gate.data)
        fprintf(f, "of `%s`", o->gate.data);
    else
        fprintf(f, "(tinytrain gate's inputs, seed %llu)", (unsigned long long)o->gate.seed);
    fprintf(f, "; cheapest candidate first; tinytrain %s.\n\n", tt_version());
    fputs("| candidate | mode | method | drop | worst_abs | bytes | size | verdict | note |\n"
          "|---|---|---|---:|---:|---:|---:|---|---|\n",
          f);
    for (int i = 0; i < r->n; i++) {
        const tt_ptq_candidate *c = &r->c[i];
        bool dyn = c->opts.mode == TT_PTQ_DYNAMIC, m = c->built && c->gate.measured;
        fprintf(f, "| %s | %s | %s | ", c->label, dyn ? "dynamic" : "static",
                dyn ? "-" : tt_calib_method_name(c->opts.method));
        md_value(f, m, c->gate.m.drop, "%.6f");
        fputs(" | ", f);
        md_value(f, m, c->gate.m.worst_abs, "%.4f");
        fputs(" | ", f);
        md_value(f, c->built, (double)c->bytes, "%.0f");
        fputs(" | ", f);
        md_value(f, c->built, ratio(c->bytes, r->fp32_bytes), "%.2fx");
        fprintf(f, " | %s | ", candidate_verdict(c));
        md_text(f, c->message);
        fputs(" |\n", f);
    }
    fprintf(f, "\n%s\n",
            r->chosen >= 0 ? "Recommendation: the first candidate that passes (the cheapest)."
                           : "None inside the budget: use QAT (tinytrain qat).");
    fclose(f);
    tt_status s = text ? tt_json_write_file(path, text, "Markdown report")
                       : tt_fail(TT_ERR_NOMEM, "%s: out of memory", path);
    free(text);
    return s;
}
