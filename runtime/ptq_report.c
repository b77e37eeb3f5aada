/* The PTQ report (schema ptq-static-report-v1, after the seed's ptq_static.py report): mode,
 * input_bytes, output_bytes, size_ratio, per_channel, calibration_samples, calibration_inputs
 * as the seed writes them, plus the settings, the calibration file with its SHA-256, every
 * activation point's range and qparams, and run_provenance with the keys of the gate report. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "autograd/internal.h"
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
    cJSON_AddStringToObject(s, "weight_type", "int8");
    cJSON_AddBoolToObject(s, "activation_symmetric", false);
    cJSON_AddBoolToObject(s, "weight_symmetric", true);
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

tt_status tt_ptq_write_report(const char *path, const tt_ptq_opts *opts, const tt_ptq_result *r,
                              const tt_ptq_run *run)
{
    TT_CHECK_NULL(path, "tt_ptq_write_report");
    TT_CHECK_NULL(opts, "tt_ptq_write_report");
    TT_CHECK_NULL(r, "tt_ptq_write_report");
    TT_CHECK_NULL(run, "tt_ptq_write_report");
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "schema", "ptq-static-report-v1");
    cJSON_AddStringToObject(j, "mode", "static");
    cJSON_AddNumberToObject(j, "input_bytes", (double)r->input_bytes);
    cJSON_AddNumberToObject(j, "output_bytes", (double)r->output_bytes);
    add_num(j, "size_ratio",
            r->input_bytes > 0 ? (double)r->output_bytes / (double)r->input_bytes : NAN);
    cJSON_AddBoolToObject(j, "per_channel", !opts->per_tensor);
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
    cJSON_AddItemToObject(j, "run_provenance", provenance_json(path, r, run));
    char *text = tt_json_print_sorted(j);
    cJSON_Delete(j);
    if (!text) return tt_fail(TT_ERR_NOMEM, "%s: out of memory", path);
    tt_status s = tt_json_write_file(path, text, "PTQ report");
    free(text);
    return s;
}
