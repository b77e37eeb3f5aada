/* The run directory: metrics.jsonl, curves.svg and report.json (with run_provenance). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "autograd/internal.h"
#include "data/atomic_file.h"
#include "data/provenance.h"
#include "data/sha256.h"
#include "tinytrain/report.h"
#include "tinytrain/tinytrain.h"
#include "train/trainer_internal.h"

static tt_status mkdir_p(const char *dir)
{
    char buf[TT_CONFIG_STR_MAX];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return tt_fail(TT_ERR_IO, "%s: cannot create directory (%s)", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return tt_fail(TT_ERR_IO,
                       "%s: cannot create the output directory (%s); set output_dir "
                       "or --out to a writable place",
                       buf, strerror(errno));
    if (access(buf, W_OK) != 0)
        return tt_fail(TT_ERR_IO, "%s: output directory is not writable; set output_dir or --out",
                       buf);
    return TT_OK;
}

tt_status tt_run_dir_prepare(const tt_trainer *t)
{
    return mkdir_p(t->cfg->output_dir);
}

static void add_num(cJSON *o, const char *k, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k); /* JSON has no NaN */
}

cJSON *tt_run_eval_json(const tt_eval_result *r, bool full)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "samples", (double)r->n);
    add_num(o, "loss", r->loss);
    switch (r->task) {
    case TT_TASK_CLASSIFICATION:
        add_num(o, "accuracy", r->accuracy);
        if (full && r->n_classes <= TT_EVAL_MAX_CLASSES) {
            cJSON *pc = cJSON_AddArrayToObject(o, "per_class_accuracy");
            cJSON *cm = cJSON_AddArrayToObject(o, "confusion");
            for (int k = 0; k < r->n_classes; k++) {
                cJSON_AddItemToArray(pc, cJSON_CreateNumber(r->class_accuracy[k]));
                cJSON *row = cJSON_CreateArray();
                for (int j = 0; j < r->n_classes; j++)
                    cJSON_AddItemToArray(
                        row, cJSON_CreateNumber((double)r->confusion[k * r->n_classes + j]));
                cJSON_AddItemToArray(cm, row);
            }
        }
        break;
    case TT_TASK_REGRESSION:
        add_num(o, "rmse", r->rmse);
        add_num(o, "plcc", r->plcc);
        add_num(o, "srocc", r->srocc);
        break;
    case TT_TASK_IMAGE_TO_IMAGE:
        add_num(o, "psnr", r->psnr);
        add_num(o, "psnr_input", r->psnr_input);
        add_num(o, "plcc", r->plcc);
        add_num(o, "rmse", r->rmse);
        break;
    }
    return o;
}

static cJSON *record_json(const tt_epoch_record *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "epoch", r->epoch);
    add_num(o, "lr", r->lr);
    add_num(o, "train_loss", r->train_loss);
    cJSON_AddStringToObject(o, "eval_split", r->val_split);
    cJSON_AddItemToObject(o, "eval", tt_run_eval_json(&r->val, false));
    add_num(o, "seconds", r->seconds);
    add_num(o, "samples_per_s", r->samples_per_s);
    cJSON_AddBoolToObject(o, "best", r->best);
    return o;
}

/* Rewritten whole (atomically) every epoch, so a crash never leaves a torn last line and a
 * resumed run's file holds exactly the epochs its checkpoint has. */
tt_status tt_run_write_metrics(const tt_trainer *t)
{
    char path[TT_CONFIG_STR_MAX + 32];
    tt_atomic_file af;
    TT_CHECK(tt_atomic_open(&af, tt_trainer_path(t, "metrics.jsonl", path, sizeof path)));
    for (int i = 0; i < t->n_history; i++) {
        cJSON *o = record_json(&t->history[i]);
        char *line = cJSON_PrintUnformatted(o);
        if (line) fprintf(af.f, "%s\n", line);
        cJSON_free(line);
        cJSON_Delete(o);
        if (!line) {
            tt_atomic_abort(&af);
            return tt_fail(TT_ERR_NOMEM, "%s: out of memory writing metrics", path);
        }
    }
    return tt_atomic_commit(&af);
}

static double json_num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static void record_from_json(const cJSON *o, tt_task task, tt_epoch_record *r)
{
    memset(r, 0, sizeof *r);
    r->epoch = (int)json_num(o, "epoch");
    r->lr = json_num(o, "lr");
    r->train_loss = json_num(o, "train_loss");
    const cJSON *split = cJSON_GetObjectItemCaseSensitive(o, "eval_split");
    r->val_split = cJSON_IsString(split) && !strcmp(split->valuestring, "val") ? "val" : "test";
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(o, "eval");
    r->val.task = task;
    r->val.n = (int64_t)json_num(ev, "samples");
    r->val.loss = json_num(ev, "loss");
    r->val.accuracy = json_num(ev, "accuracy");
    r->val.rmse = json_num(ev, "rmse");
    r->val.plcc = json_num(ev, "plcc");
    r->val.srocc = json_num(ev, "srocc");
    r->val.psnr = json_num(ev, "psnr");
    r->val.psnr_input = json_num(ev, "psnr_input");
    r->seconds = json_num(o, "seconds");
    r->samples_per_s = json_num(o, "samples_per_s");
    r->best = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "best"));
}

tt_status tt_run_reload_history(tt_trainer *t, int epochs)
{
    char path[TT_CONFIG_STR_MAX + 32];
    tt_trainer_path(t, "metrics.jsonl", path, sizeof path);
    t->n_history = 0;
    FILE *f = fopen(path, "r");
    if (!f && epochs > 0)
        return tt_fail(TT_ERR_IO, "%s: missing; cannot resume a run without its metrics", path);
    char line[8192];
    while (f && t->n_history < epochs && fgets(line, sizeof line, f)) {
        cJSON *o = cJSON_Parse(line);
        if (!o || (int)json_num(o, "epoch") != t->n_history + 1) {
            cJSON_Delete(o);
            fclose(f);
            return tt_fail(TT_ERR_FORMAT, "%s: line %d is not the record of epoch %d", path,
                           t->n_history + 1, t->n_history + 1);
        }
        record_from_json(o, t->cfg->task, &t->history[t->n_history++]);
        if (t->history[t->n_history - 1].best) t->best_epoch = t->n_history;
        cJSON_Delete(o);
    }
    if (f) fclose(f);
    if (t->n_history < epochs)
        return tt_fail(TT_ERR_FORMAT, "%s: holds %d epochs but the checkpoint has %d", path,
                       t->n_history, epochs);
    return TT_OK;
}

tt_status tt_run_write_curves(const tt_trainer *t)
{
    int n = t->n_history;
    double *buf = malloc(sizeof(double) * (size_t)(3 * (n ? n : 1)));
    if (!buf) return tt_fail(TT_ERR_NOMEM, "curves: out of memory");
    double *tl = buf, *vl = buf + n, *mm = buf + 2 * n;
    for (int i = 0; i < n; i++) {
        tl[i] = t->history[i].train_loss;
        vl[i] = t->history[i].val.loss;
        mm[i] = tt_eval_main_metric(&t->history[i].val);
    }
    const char *split = n ? t->history[0].val_split : "val";
    char vname[32], mname[48];
    snprintf(vname, sizeof vname, "%s loss", split);
    snprintf(mname, sizeof mname, "%s %s", split, tt_eval_main_metric_name(t->cfg->task));
    tt_series loss[2] = {{"train loss", tl}, {vname, vl}}, metric[1] = {{mname, mm}};
    tt_plot plots[2] = {{"Loss", "loss", loss, 2},
                        {tt_eval_main_metric_name(t->cfg->task), mname, metric, 1}};
    char path[TT_CONFIG_STR_MAX + 32];
    tt_status s =
        tt_svg_write_curves(tt_trainer_path(t, "curves.svg", path, sizeof path), plots, 2, n);
    free(buf);
    return s;
}

static cJSON *sources_json(const tt_dataset *ds, cJSON *arr)
{
    for (int i = 0; ds && i < ds->n_sources; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "path", ds->sources[i].path);
        cJSON_AddStringToObject(o, "sha256", ds->sources[i].sha256);
        cJSON_AddNumberToObject(o, "bytes", (double)ds->sources[i].bytes);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

static cJSON *provenance_json(const tt_trainer *t)
{
    cJSON *p = tt_provenance_open(NULL, t->argc, t->argv);
    cJSON *cfg = cJSON_AddObjectToObject(p, "config");
    cJSON_AddStringToObject(cfg, "path", t->cfg->path);
    char hex[65];
    if (tt_sha256_hex(t->cfg->text, t->cfg->text_len, hex) == TT_OK)
        cJSON_AddStringToObject(cfg, "sha256", hex);
    cJSON *data = cJSON_AddArrayToObject(p, "data");
    sources_json(t->train, data);
    sources_json(t->test, data);
    tt_provenance_add_host(p);
    cJSON_AddNumberToObject(p, "seed", (double)t->cfg->seed);
    cJSON_AddStringToObject(p, "backend", tt_trainer_backend(t));
    tt_provenance_add_time(p, "started_utc", t->started.tv_sec, t->wall_s);
    return p;
}

tt_status tt_run_write_report(const tt_trainer *t, const tt_eval_result *test)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "name", t->cfg->name);
    cJSON_AddStringToObject(r, "task", tt_task_name(t->cfg->task));
    cJSON_AddNumberToObject(r, "parameters", (double)tt_model_num_params(t->g));
    cJSON_AddNumberToObject(r, "epochs", t->n_history);
    cJSON_AddNumberToObject(r, "steps", (double)t->step);
    cJSON_AddStringToObject(r, "main_metric", tt_eval_main_metric_name(t->cfg->task));
    cJSON *best = cJSON_AddObjectToObject(r, "best");
    cJSON_AddNumberToObject(best, "epoch", t->best_epoch);
    add_num(best, "value", t->best);
    cJSON_AddStringToObject(best, "split", t->val ? "val" : "test");
    cJSON_AddItemToObject(r, "final_test", tt_run_eval_json(test, true));
    if (t->report_extra) t->report_extra(t, r, t->hook_user);
    cJSON_AddItemToObject(r, "run_provenance", provenance_json(t));
    char *text = cJSON_Print(r);
    cJSON_Delete(r);
    if (!text) return tt_fail(TT_ERR_NOMEM, "report.json: out of memory");
    char path[TT_CONFIG_STR_MAX + 32];
    tt_atomic_file af;
    tt_status s = tt_atomic_open(&af, tt_trainer_path(t, "report.json", path, sizeof path));
    if (s == TT_OK) {
        fprintf(af.f, "%s\n", text);
        s = tt_atomic_commit(&af);
    }
    cJSON_free(text);
    return s;
}
