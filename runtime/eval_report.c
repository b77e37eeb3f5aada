/* The JSON report of tinytrain eval (schema eval-report-v1, tinytrain/eval.h): the data, each
 * model's metrics and plan, the comparison, the PTQ studies and run_provenance. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>
#include "autograd/internal.h"
#include "data/dataset_internal.h"
#include "data/provenance.h"
#include "runtime/registry_internal.h"
#include "tinytrain/eval.h"

/* JSON has no NaN: a metric that does not exist is null. */
static void put(cJSON *o, const char *key, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

/* {path, bytes, sha256} of a file, hashed here (null sha256 when it cannot be read). */
static cJSON *hashed_file(const char *path)
{
    char hex[65] = "";
    int64_t bytes = -1;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "path", path);
    if (tt_sha256_file(path, hex, &bytes) != TT_OK) {
        cJSON_AddNullToObject(o, "sha256");
        return o;
    }
    cJSON_AddNumberToObject(o, "bytes", (double)bytes);
    cJSON_AddStringToObject(o, "sha256", hex);
    return o;
}

static cJSON *metrics_json(const tt_eval_result *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "samples", (double)r->n);
    if (r->task != TT_TASK_CLASSIFICATION) {
        put(o, "plcc", r->plcc);
        put(o, "rmse", r->rmse);
        if (r->task == TT_TASK_REGRESSION) put(o, "srocc", r->srocc);
        if (r->task == TT_TASK_IMAGE_TO_IMAGE) put(o, "psnr", r->psnr);
        if (r->task == TT_TASK_IMAGE_TO_IMAGE) put(o, "psnr_input", r->psnr_input);
        return o;
    }
    put(o, "accuracy", r->accuracy);
    if (r->n_classes > TT_EVAL_MAX_CLASSES) return o;
    int k = r->n_classes;
    cJSON *ca = cJSON_AddArrayToObject(o, "class_accuracy");
    cJSON *cm = cJSON_AddArrayToObject(o, "confusion");
    for (int i = 0; i < k; i++) {
        cJSON_AddItemToArray(ca, isfinite(r->class_accuracy[i])
                                     ? cJSON_CreateNumber(r->class_accuracy[i])
                                     : cJSON_CreateNull());
        cJSON *row = cJSON_CreateArray();
        for (int j = 0; j < k; j++)
            cJSON_AddItemToArray(row, cJSON_CreateNumber((double)r->confusion[i * k + j]));
        cJSON_AddItemToArray(cm, row);
    }
    return o;
}

static cJSON *data_json(const tt_eval_data *d)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "source", d->split ? "config" : "npz");
    cJSON_AddStringToObject(o, "path", d->path);
    cJSON_AddStringToObject(o, "sha256", d->sha256);
    cJSON_AddNumberToObject(o, "bytes", (double)d->bytes);
    if (d->split) cJSON_AddStringToObject(o, "split", d->split);
    cJSON_AddStringToObject(o, "task", tt_task_name(d->task));
    cJSON_AddNumberToObject(o, "samples", (double)d->ds->n);
    cJSON *shape = cJSON_AddArrayToObject(o, "sample_shape");
    for (int i = 0; i < d->ds->input_shape.ndim; i++)
        cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)d->ds->input_shape.dims[i]));
    cJSON *files = cJSON_AddArrayToObject(o, "files");
    for (int i = 0; i < d->ds->n_sources; i++) {
        const tt_data_source *src = &d->ds->sources[i];
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "path", src->path);
        cJSON_AddStringToObject(f, "sha256", src->sha256);
        cJSON_AddNumberToObject(f, "bytes", (double)src->bytes);
        cJSON_AddItemToArray(files, f);
    }
    return o;
}

static cJSON *model_json(const tt_eval_model *m)
{
    cJSON *o = hashed_file(m->path);
    cJSON_AddStringToObject(o, "mode", m->mode == TT_RT_FLOAT ? "float" : "int8");
    cJSON *plan = cJSON_AddObjectToObject(o, "plan");
    cJSON_AddNumberToObject(plan, "nodes", m->stats.n_nodes);
    cJSON_AddNumberToObject(plan, "integer_kernels", m->stats.n_int8_nodes);
    cJSON_AddNumberToObject(plan, "float_compute", m->stats.n_float_compute);
    cJSON_AddNumberToObject(plan, "qdq_in_float", m->stats.n_qdq_float);
    put(o, "seconds", m->seconds);
    cJSON_AddItemToObject(o, "metrics", metrics_json(&m->r));
    return o;
}

/* The agreement of b with a; top1 only for classifiers (an argmax means nothing elsewhere). */
static void agreement_json(cJSON *o, const tt_eval_agreement *ag, tt_task task)
{
    if (task == TT_TASK_CLASSIFICATION) put(o, "top1_agreement", ag->top1);
    put(o, "output_plcc", ag->gate.plcc);
    put(o, "output_plcc_drop", ag->gate.drop);
    put(o, "output_worst_abs", ag->gate.worst_abs);
}

static cJSON *comparison_json(const tt_eval_report *rep)
{
    const tt_eval_result *a = &rep->models[0].r, *b = &rep->models[1].r;
    cJSON *o = cJSON_CreateObject();
    agreement_json(o, rep->agreement, a->task);
    cJSON *d = cJSON_AddObjectToObject(o, "delta");
    if (a->task == TT_TASK_CLASSIFICATION) {
        put(d, "accuracy", b->accuracy - a->accuracy);
        return o;
    }
    put(d, "plcc", b->plcc - a->plcc);
    put(d, "rmse", b->rmse - a->rmse);
    if (a->task == TT_TASK_REGRESSION) put(d, "srocc", b->srocc - a->srocc);
    if (a->task == TT_TASK_IMAGE_TO_IMAGE) put(d, "psnr", b->psnr - a->psnr);
    return o;
}

static cJSON *row_json(const tt_eval_quant_row *r, bool layer)
{
    cJSON *o = cJSON_CreateObject();
    if (layer) {
        cJSON_AddStringToObject(o, "node", r->label);
        cJSON_AddStringToObject(o, "op", r->op);
    }
    cJSON_AddNumberToObject(o, "calibration_samples", (double)r->samples);
    put(o, tt_eval_main_metric_name(r->r.task), r->metric);
    put(o, "drop", r->drop);
    agreement_json(o, &r->vs_fp32, r->r.task);
    put(o, "ptq_seconds", r->ptq_s);
    put(o, "eval_seconds", r->eval_s);
    cJSON_AddItemToObject(o, "metrics", metrics_json(&r->r));
    return o;
}

static cJSON *study_json(const tt_eval_study *s, bool sensitivity)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "method", tt_calib_method_name(s->ptq.method));
    cJSON_AddStringToObject(o, "weight_granularity",
                            s->ptq.per_tensor ? "per_tensor" : "per_channel");
    cJSON *c = cJSON_AddObjectToObject(o, "calibration");
    cJSON_AddStringToObject(c, "path", s->calibration);
    cJSON_AddStringToObject(c, "sha256", s->calib_sha256);
    cJSON_AddNumberToObject(c, "bytes", (double)s->calib_bytes);
    cJSON_AddNumberToObject(c, "samples", (double)s->calib_samples);
    put(o, "fp32_metric", s->fp32_metric);
    cJSON *rows = cJSON_AddArrayToObject(o, sensitivity ? "layers" : "sizes");
    for (int i = 0; i < s->n_rows; i++) {
        cJSON *r = row_json(&s->rows[i], sensitivity);
        if (sensitivity) cJSON_AddNumberToObject(r, "rank", i + 1);
        cJSON_AddItemToArray(rows, r);
    }
    if (s->has_all) cJSON_AddItemToObject(o, "all_layers", row_json(&s->all, false));
    return o;
}

static cJSON *provenance_json(const tt_eval_report *rep)
{
    cJSON *p = tt_provenance_open("eval", rep->argc, rep->argv);
    cJSON *in = cJSON_AddObjectToObject(p, "inputs");
    cJSON *models = cJSON_AddArrayToObject(in, "models");
    for (int i = 0; i < rep->n_models; i++)
        cJSON_AddItemToArray(models, hashed_file(rep->models[i].path));
    cJSON *data = cJSON_AddObjectToObject(in, "data");
    cJSON_AddStringToObject(data, "path", rep->data->path);
    cJSON_AddStringToObject(data, "sha256", rep->data->sha256);
    const tt_eval_study *cal = rep->sensitivity ? rep->sensitivity : rep->calib_sizes;
    if (cal) cJSON_AddItemToObject(in, "calibration", hashed_file(cal->calibration));
    cJSON_AddStringToObject(p, "backend", "cpu");
    tt_provenance_add_host(p);
    tt_provenance_add_time(p, "finished_utc", time(NULL), rep->wall_s);
    return p;
}

tt_status tt_eval_write_json(const char *path, const tt_eval_report *rep)
{
    TT_CHECK_NULL(path, "tt_eval_write_json");
    TT_CHECK_NULL(rep, "tt_eval_write_json");
    if (!rep->data || !rep->models || rep->n_models < 1)
        return tt_fail(TT_ERR_INVALID_ARG, "tt_eval_write_json: no data or no model");
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "schema", "eval-report-v1");
    cJSON_AddItemToObject(j, "data", data_json(rep->data));
    cJSON *models = cJSON_AddArrayToObject(j, "models");
    for (int i = 0; i < rep->n_models; i++)
        cJSON_AddItemToArray(models, model_json(&rep->models[i]));
    if (rep->agreement && rep->n_models > 1)
        cJSON_AddItemToObject(j, "comparison", comparison_json(rep));
    if (rep->sensitivity)
        cJSON_AddItemToObject(j, "sensitivity", study_json(rep->sensitivity, true));
    if (rep->calib_sizes)
        cJSON_AddItemToObject(j, "calib_sizes", study_json(rep->calib_sizes, false));
    cJSON_AddItemToObject(j, "run_provenance", provenance_json(rep));
    return tt_json_write_report(j, path, "eval report");
}
