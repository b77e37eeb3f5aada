/* One evaluation pass over a split: loss and the task's metrics. */
#include <math.h>
#include <string.h>
#include "autograd/internal.h"
#include "tinytrain/metrics.h"
#include "train/trainer_internal.h"

double tt_eval_main_metric(const tt_eval_result *r)
{
    switch (r->task) {
    case TT_TASK_CLASSIFICATION:
        return r->accuracy;
    case TT_TASK_REGRESSION:
        return r->plcc;
    case TT_TASK_IMAGE_TO_IMAGE:
        return r->psnr;
    }
    return NAN;
}

const char *tt_eval_main_metric_name(tt_task task)
{
    switch (task) {
    case TT_TASK_CLASSIFICATION:
        return "accuracy";
    case TT_TASK_REGRESSION:
        return "plcc";
    case TT_TASK_IMAGE_TO_IMAGE:
        return "psnr";
    }
    return "?";
}

void tt_eval_result_reset(tt_eval_result *r, tt_task task)
{
    memset(r, 0, sizeof *r);
    r->task = task;
    r->loss = r->accuracy = r->rmse = r->plcc = r->srocc = r->psnr = r->psnr_input = NAN;
    for (int k = 0; k < TT_EVAL_MAX_CLASSES; k++) r->class_accuracy[k] = NAN;
}

void tt_eval_result_set_classes(tt_eval_result *r, const tt_confusion *c)
{
    r->accuracy = tt_confusion_accuracy(c);
    r->n_classes = c->n_classes;
    if (c->n_classes > TT_EVAL_MAX_CLASSES) return;
    for (int k = 0; k < c->n_classes; k++) r->class_accuracy[k] = tt_confusion_class_accuracy(c, k);
    memcpy(r->confusion, c->counts, sizeof(int64_t) * (size_t)c->n_classes * (size_t)c->n_classes);
}

static void float_metrics(tt_trainer *t, int64_t n, tt_eval_result *r)
{
    int64_t total = n * t->out_numel;
    r->rmse = tt_rmse(t->pred, t->truth, total);
    r->plcc = tt_plcc(t->pred, t->truth, total);
    if (t->cfg->task == TT_TASK_REGRESSION) {
        r->srocc = tt_srocc(t->pred, t->truth, total, t->rank_scratch);
        return;
    }
    r->psnr = tt_psnr_mean(t->pred, t->truth, n, t->out_numel);
}

/* The degraded inputs against the clean targets: the baseline a filter must beat. Inputs are
 * un-normalised first when the config normalises them. */
static void input_psnr(tt_trainer *t, const tt_dataset *ds, tt_eval_result *r)
{
    if (t->cfg->task != TT_TASK_IMAGE_TO_IMAGE || !ds->inputs || ds->input_numel != t->out_numel)
        return;
    int64_t m = ds->input_numel, hw = m / (ds->input_shape.dims[0] ? ds->input_shape.dims[0] : 1);
    double s = 0;
    for (int64_t i = 0; i < ds->n; i++) {
        float *x = t->pred; /* reuse as scratch for one image */
        for (int64_t k = 0; k < m; k++) {
            int c = ds->n_norm > 1 ? (int)(k / hw) : 0;
            x[k] = ds->n_norm ? ds->inputs[i * m + k] * ds->norm_std[c] + ds->norm_mean[c]
                              : ds->inputs[i * m + k];
        }
        double p = tt_psnr(x, ds->targets + i * m, m, 1.0);
        s += isinf(p) ? 100.0 : p;
    }
    r->psnr_input = s / (double)ds->n;
}

tt_status tt_trainer_eval_split(tt_trainer *t, tt_dataset *ds, tt_eval_result *r)
{
    TT_CHECK_NULL(r, "tt_trainer_evaluate");
    tt_eval_result_reset(r, t->cfg->task);
    bool labels = ds->target_kind == TT_TARGET_LABEL;
    tt_confusion conf = {0};
    if (labels) TT_CHECK(tt_confusion_init(&conf, (int)t->out_numel));
    tt_batcher *b = NULL;
    tt_status s = tt_batcher_create(ds, t->batch, false, NULL, 0, &b);
    int64_t n, done = 0;
    double loss_sum = 0;
    while (s == TT_OK && tt_batcher_next(b, t->x, t->y, &n)) {
        s = tt_exec_set_input(t->e, t->in_id, t->x, n);
        if (s == TT_OK) s = tt_exec_set_input(t->e, t->target_id, t->y, n);
        if (s == TT_OK) s = tt_exec_forward(t->e, n, false);
        const tt_tensor *lt, *ot;
        if (s == TT_OK) s = tt_exec_read(t->e, t->loss_id, &lt);
        if (s == TT_OK) s = tt_exec_read(t->e, t->out_id, &ot);
        if (s != TT_OK) break;
        loss_sum += (double)tt_tensor_f32(lt)[0] * (double)n;
        const float *out = tt_tensor_f32(ot);
        if (labels) {
            s = tt_confusion_add(&conf, out, t->y, n);
        } else if ((done + n) * t->out_numel <= t->pred_cap) {
            memcpy(t->pred + done * t->out_numel, out, (size_t)(n * t->out_numel) * sizeof(float));
            memcpy(t->truth + done * t->out_numel, t->y,
                   (size_t)(n * t->out_numel) * sizeof(float));
        }
        done += n;
    }
    if (s == TT_OK && b) s = tt_batcher_status(b);
    tt_batcher_free(b);
    if (s == TT_OK && done > 0) {
        r->n = done;
        r->loss = loss_sum / (double)done;
        if (labels)
            tt_eval_result_set_classes(r, &conf);
        else
            float_metrics(t, done, r);
        input_psnr(t, ds, r);
    }
    tt_confusion_free(&conf);
    return s;
}

int64_t tt_trainer_output_numel(const tt_trainer *t)
{
    return t ? t->out_numel : 0;
}

int64_t tt_trainer_test_size(const tt_trainer *t)
{
    return t && t->test ? t->test->n : 0;
}

int64_t tt_trainer_input_numel(const tt_trainer *t)
{
    return t && t->test ? t->test->input_numel : 0;
}

tt_status tt_trainer_predict(tt_trainer *t, float *out, int64_t cap, float *inputs, int64_t *n)
{
    TT_CHECK_NULL(t, "tt_trainer_predict");
    TT_CHECK_NULL(out, "tt_trainer_predict");
    TT_CHECK_NULL(n, "tt_trainer_predict");
    *n = 0;
    if (!t->test) return tt_fail(TT_ERR_INVALID_ARG, "%s: no test split to predict", t->cfg->path);
    if (t->test->n * t->out_numel > cap)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "tt_trainer_predict: %lld samples x %lld outputs do not fit in %lld floats",
                       (long long)t->test->n, (long long)t->out_numel, (long long)cap);
    tt_batcher *b = NULL;
    TT_CHECK(tt_batcher_create(t->test, t->batch, false, NULL, 0, &b));
    tt_status s = TT_OK;
    int64_t got;
    while (s == TT_OK && tt_batcher_next(b, t->x, t->y, &got)) {
        s = tt_exec_set_input(t->e, t->in_id, t->x, got);
        if (s == TT_OK) s = tt_exec_set_input(t->e, t->target_id, t->y, got);
        if (s == TT_OK) s = tt_exec_forward(t->e, got, false);
        const tt_tensor *ot;
        if (s == TT_OK) s = tt_exec_read(t->e, t->out_id, &ot);
        if (s != TT_OK) break;
        memcpy(out + *n * t->out_numel, tt_tensor_f32(ot),
               (size_t)(got * t->out_numel) * sizeof(float));
        if (inputs) {
            int64_t m = t->test->input_numel;
            memcpy(inputs + *n * m, t->x, (size_t)(got * m) * sizeof(float));
        }
        *n += got;
    }
    if (s == TT_OK) s = tt_batcher_status(b);
    tt_batcher_free(b);
    return s;
}
