/* The three-phase QAT recipe behind `tinytrain qat` (docs/qat.md): fp32 warm start, prepare +
 * calibration, low-learning-rate fake-quant fine-tune. Each phase is an ordinary trainer run,
 * so the QAT run directory has the same checkpoints, metrics and report as a fit, plus the
 * qparams (graph parameters) in its checkpoints and a "qat" block in report.json. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "autograd/internal.h"
#include "tinytrain/metrics.h"
#include "tinytrain/onnx.h"
#include "tinytrain/qat.h"
#include "train/trainer_internal.h"
#include "data/clock.h"

/* The smoke run: every phase, on a slice of the data, in seconds. */
#define SMOKE_TRAIN       2048
#define SMOKE_TEST        1000
#define SMOKE_CALIBRATION 64

typedef struct recipe {
    const tt_config *cfg;
    const tt_qat_run_opts *o;
    tt_qat_config q;
    tt_trainer_opts topts;
    tt_qat_result *res;
    char warm[TT_CONFIG_STR_MAX];
    float *fp32_out, *qat_out; /* test-set outputs of the warm start and of the QAT model */
    int64_t out_cap;
    tt_config *c_fp32, *c_qat; /* copies of cfg with each phase's epochs, lr and directory */
} recipe;

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static void phase(const recipe *r, const char *name, const char *detail)
{
    if (r->o->on_phase) r->o->on_phase(name, detail, r->o->user);
}

static tt_status path_join(char *out, const char *dir, const char *file)
{
    if (snprintf(out, TT_CONFIG_STR_MAX, "%s/%s", dir, file) >= TT_CONFIG_STR_MAX)
        return tt_fail(TT_ERR_INVALID_ARG, "%s/%s: path longer than %d bytes", dir, file,
                       TT_CONFIG_STR_MAX - 1);
    return TT_OK;
}

/* Phase 1: train the fp32 model into <out>/fp32 (resuming it, or skipping it once its report
 * exists), unless a warm start was given. */
static tt_status phase_fp32(recipe *r)
{
    if (r->q.warm_start[0]) {
        snprintf(r->warm, sizeof r->warm, "%s", r->q.warm_start);
        if (!exists(r->warm))
            return tt_fail(TT_ERR_IO,
                           "%s: qat.warm_start %s does not exist; train it first with `tinytrain "
                           "fit %s` or drop warm_start to run the fp32 phase here",
                           r->cfg->path, r->warm, r->cfg->path);
        phase(r, "fp32", "warm start given: skipping the fp32 phase");
        return TT_OK;
    }
    char report[TT_CONFIG_STR_MAX], last[TT_CONFIG_STR_MAX];
    TT_CHECK(path_join(report, r->c_fp32->output_dir, "report.json"));
    TT_CHECK(path_join(last, r->c_fp32->output_dir, "last.h5"));
    snprintf(r->warm, sizeof r->warm, "%s", last);
    if (r->o->resume && exists(report) && exists(last)) {
        phase(r, "fp32", "already complete (resume)");
        return TT_OK;
    }
    char d[TT_CONFIG_STR_MAX + 64];
    snprintf(d, sizeof d, "%d epochs -> %s", r->c_fp32->epochs, r->c_fp32->output_dir);
    phase(r, "fp32", d);
    double t0 = tt_clock_s();
    tt_trainer *t = NULL;
    tt_trainer_opts fo = {.max_train = r->topts.max_train,
                          .max_test = r->topts.max_test,
                          .backend = r->topts.backend};
    tt_status s = tt_trainer_create_ex(r->c_fp32, true, &fo, &t);
    if (s == TT_OK) tt_trainer_set_argv(t, r->o->argc, r->o->argv);
    if (s == TT_OK && r->o->resume && exists(last)) s = tt_trainer_resume(t);
    if (s == TT_OK) s = tt_trainer_fit(t, r->o->cb);
    tt_trainer_free(t);
    r->res->fp32_s = tt_clock_s() - t0;
    return s;
}

/* The warm start's own metrics and outputs on the test set: the fp32 side of the report. */
static tt_status eval_fp32(recipe *r)
{
    tt_trainer *t = NULL;
    tt_trainer_opts eo = {.max_test = r->topts.max_test, .backend = r->topts.backend};
    tt_status s = tt_trainer_create_ex(r->cfg, false, &eo, &t);
    if (s == TT_OK && (s = tt_trainer_load_params(t, r->warm)) != TT_OK)
        s = tt_trainer_warm_start_failed(s, r->warm);
    if (s == TT_OK) s = tt_trainer_evaluate(t, true, &r->res->fp32);
    if (s == TT_OK) {
        r->out_cap = tt_trainer_test_size(t) * tt_trainer_output_numel(t);
        r->fp32_out = malloc((size_t)(r->out_cap ? r->out_cap : 1) * sizeof(float));
        r->qat_out = malloc((size_t)(r->out_cap ? r->out_cap : 1) * sizeof(float));
        int64_t n;
        s = !r->fp32_out || !r->qat_out
                ? tt_fail(TT_ERR_NOMEM, "tinytrain qat: out of memory for the test outputs")
                : tt_trainer_predict(t, r->fp32_out, r->out_cap, NULL, &n);
    }
    tt_trainer_free(t);
    return s;
}

/* The fake-quant model's test outputs against the warm start's. */
static tt_status agreement(recipe *r, tt_trainer *t)
{
    int64_t n, m = tt_trainer_output_numel(t);
    TT_CHECK(tt_trainer_predict(t, r->qat_out, r->out_cap, NULL, &n));
    tt_qat_agreement *a = &r->res->vs_fp32;
    a->plcc = tt_plcc(r->fp32_out, r->qat_out, n * m);
    a->max_abs_diff = 0;
    for (int64_t i = 0; i < n * m; i++)
        a->max_abs_diff = fmax(a->max_abs_diff, fabs((double)r->qat_out[i] - r->fp32_out[i]));
    a->top1_agreement = NAN;
    if (r->cfg->task != TT_TASK_CLASSIFICATION || n == 0) return TT_OK;
    int64_t same = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *f = r->fp32_out + i * m, *q = r->qat_out + i * m;
        int64_t af = 0, aq = 0;
        for (int64_t k = 1; k < m; k++) {
            if (f[k] > f[af]) af = k;
            if (q[k] > q[aq]) aq = k;
        }
        same += af == aq;
    }
    a->top1_agreement = 100.0 * (double)same / (double)n;
    return TT_OK;
}

/* Observers see n training samples (no augmentation) with fake quantisation off, so the
 * fine-tune starts from calibrated ranges instead of the first batch's. */
static tt_status calibrate(tt_trainer *t, int64_t n)
{
    if (n <= 0) return TT_OK;
    tt_batcher *b = NULL;
    TT_CHECK(tt_batcher_create(t->train, t->batch, false, NULL, t->cfg->seed, &b));
    tt_qat_set_fake_quant(t->g, false);
    tt_qat_set_observe(t->g, true);
    tt_status s = TT_OK;
    int64_t seen = 0, got;
    while (s == TT_OK && seen < n && tt_batcher_next(b, t->x, t->y, &got)) {
        if (got > n - seen) got = n - seen;
        s = tt_exec_set_input(t->e, t->in_id, t->x, got);
        if (s == TT_OK) s = tt_exec_set_input(t->e, t->target_id, t->y, got);
        if (s == TT_OK) s = tt_exec_forward(t->e, got, true);
        seen += got;
    }
    if (s == TT_OK) s = tt_batcher_status(b);
    tt_batcher_free(b);
    tt_qat_set_fake_quant(t->g, true);
    return s;
}

static tt_status before_epoch(tt_trainer *t, int epoch, void *user)
{
    const recipe *r = user;
    /* Learned scales replace the observers once calibrated; otherwise the observers follow the
     * weights and activations for the first freeze_observers_epoch epochs, then the qparams
     * stay fixed so the last epochs fine-tune against the scales that will ship. */
    bool observe = !r->q.learnable_scale && epoch <= r->q.freeze_observers_epoch;
    tt_qat_set_observe(t->g, observe);
    tt_qat_set_bn_frozen(t->g, epoch > r->q.freeze_bn_epoch);
    return TT_OK;
}

static void report_extra(const tt_trainer *t, cJSON *root, void *user)
{
    const recipe *r = user;
    cJSON *q = cJSON_AddObjectToObject(root, "qat");
    cJSON_AddStringToObject(q, "warm_start", r->warm);
    cJSON_AddBoolToObject(q, "smoke", r->o->smoke);
    cJSON_AddItemToObject(q, "fp32", tt_run_eval_json(&r->res->fp32, false));
    if (r->res->vs_fp32.plcc != 0 || r->res->vs_fp32.max_abs_diff != 0) {
        const tt_qat_agreement *a = &r->res->vs_fp32;
        cJSON *v = cJSON_AddObjectToObject(q, "vs_fp32");
        cJSON_AddNumberToObject(v, "plcc", a->plcc);
        cJSON_AddNumberToObject(v, "plcc_drop", 1.0 - a->plcc);
        cJSON_AddNumberToObject(v, "max_abs_diff", a->max_abs_diff);
        if (isfinite(a->top1_agreement))
            cJSON_AddNumberToObject(v, "top1_agreement", a->top1_agreement);
    }
    cJSON_AddNumberToObject(q, "fake_quant_nodes", t->qat.weight_points + t->qat.activation_points);
    cJSON_AddNumberToObject(q, "weight_points", t->qat.weight_points);
    cJSON_AddNumberToObject(q, "activation_points", t->qat.activation_points);
    cJSON_AddNumberToObject(q, "folded_batchnorm", t->qat.folded_bn);
    cJSON_AddStringToObject(q, "bn_fold",
                            r->q.bn_fold == TT_BN_FOLD_SIMULATE ? "simulate" : "fold");
    cJSON_AddNumberToObject(q, "freeze_bn_epoch", r->q.freeze_bn_epoch);
    cJSON_AddNumberToObject(q, "epochs_fp32", r->c_fp32->epochs);
    cJSON_AddNumberToObject(q, "epochs_qat", r->c_qat->epochs);
    cJSON_AddNumberToObject(q, "lr_qat", r->c_qat->optim.lr);
    cJSON_AddNumberToObject(q, "n_calibration", r->q.n_calibration);
    cJSON_AddNumberToObject(q, "freeze_observers_epoch", r->q.freeze_observers_epoch);
    cJSON_AddBoolToObject(q, "learnable_scale", r->q.learnable_scale);
    if (r->res->onnx_int8[0]) {
        cJSON *ox = cJSON_AddObjectToObject(q, "onnx");
        cJSON_AddStringToObject(ox, "fp32", r->res->onnx_fp32);
        cJSON_AddStringToObject(ox, "int8", r->res->onnx_int8);
    }
    cJSON *ph = cJSON_AddObjectToObject(q, "phase_seconds");
    cJSON_AddNumberToObject(ph, "fp32", r->res->fp32_s);
    cJSON_AddNumberToObject(ph, "calibration", r->res->calib_s);
    cJSON_AddNumberToObject(ph, "fine_tune", t->wall_s);
}

/* <name>.onnx from the warm start and <name>.int8.onnx (QDQ) from the fine-tuned last.h5. */
static tt_status export_pair(recipe *r)
{
    char last[TT_CONFIG_STR_MAX], f[TT_CONFIG_NAME_MAX + 16], q[TT_CONFIG_NAME_MAX + 16];
    snprintf(f, sizeof f, "%s.onnx", r->cfg->name);
    snprintf(q, sizeof q, "%s.int8.onnx", r->cfg->name);
    TT_CHECK(path_join(last, r->c_qat->output_dir, "last.h5"));
    TT_CHECK(path_join(r->res->onnx_fp32, r->c_qat->output_dir, f));
    TT_CHECK(path_join(r->res->onnx_int8, r->c_qat->output_dir, q));
    phase(r, "export", r->res->onnx_int8);
    tt_onnx_export_opts fo = {.format = TT_ONNX_FP32}, qo = {.format = TT_ONNX_QDQ};
    TT_CHECK(tt_onnx_export_checkpoint(r->warm, r->res->onnx_fp32, &fo));
    return tt_onnx_export_checkpoint(last, r->res->onnx_int8, &qo);
}

/* Phases 2 and 3: prepare (in the trainer), calibrate, fine-tune into <out>. */
static tt_status phase_qat(recipe *r, tt_trainer *t)
{
    char last[TT_CONFIG_STR_MAX];
    TT_CHECK(path_join(last, r->c_qat->output_dir, "last.h5"));
    t->before_epoch = before_epoch;
    t->report_extra = report_extra;
    t->hook_user = r;
    r->res->params = tt_trainer_num_params(t);
    r->res->summary = t->qat;
    if (r->o->resume && exists(last)) {
        phase(r, "qat", "resuming the fine-tune from last.h5");
        TT_CHECK(tt_trainer_resume(t));
    } else {
        char d[96];
        snprintf(d, sizeof d, "observing %d training samples", r->q.n_calibration);
        phase(r, "calibrate", d);
        double t0 = tt_clock_s();
        TT_CHECK(calibrate(t, r->q.n_calibration));
        r->res->calib_s = tt_clock_s() - t0;
    }
    char d[TT_CONFIG_STR_MAX + 96];
    snprintf(d, sizeof d, "%d epochs at lr %g, %d fake-quant points -> %s", r->c_qat->epochs,
             (double)r->c_qat->optim.lr, t->qat.weight_points + t->qat.activation_points,
             r->c_qat->output_dir);
    phase(r, "qat", d);
    double t0 = tt_clock_s();
    TT_CHECK(tt_trainer_fit(t, r->o->cb));
    r->res->qat_s = tt_clock_s() - t0;
    TT_CHECK(tt_trainer_evaluate(t, true, &r->res->fake_quant));
    /* The report fit wrote has no agreement or ONNX files yet: add them and write it again. */
    TT_CHECK(agreement(r, t));
    TT_CHECK(export_pair(r));
    return tt_run_write_report(t, &r->res->fake_quant);
}

static void apply_smoke(recipe *r)
{
    r->q.epochs_fp32 = 1;
    r->q.epochs_qat = 2; /* observers live in epoch 1 and are frozen in epoch 2 */
    r->q.freeze_observers_epoch = 1;
    if (r->q.n_calibration > SMOKE_CALIBRATION) r->q.n_calibration = SMOKE_CALIBRATION;
    r->q.warm_start[0] = '\0'; /* the smoke run exercises the fp32 phase too */
    r->topts.max_train = SMOKE_TRAIN;
    r->topts.max_test = SMOKE_TEST;
}

static tt_status setup(recipe *r)
{
    r->c_fp32 = malloc(sizeof *r->c_fp32);
    r->c_qat = malloc(sizeof *r->c_qat);
    if (!r->c_fp32 || !r->c_qat) return tt_fail(TT_ERR_NOMEM, "tinytrain qat: out of memory");
    *r->c_fp32 = *r->cfg;
    *r->c_qat = *r->cfg;
    r->c_fp32->epochs = r->q.epochs_fp32;
    TT_CHECK(path_join(r->c_fp32->output_dir, r->cfg->output_dir, "fp32"));
    r->c_qat->epochs = r->q.epochs_qat;
    r->c_qat->optim.lr = r->q.lr_qat > 0 ? r->q.lr_qat : r->cfg->optim.lr / 10.0f;
    r->c_qat->qat = r->q;
    return TT_OK;
}

tt_status tt_qat_run(const tt_config *cfg, const tt_qat_run_opts *o, tt_qat_result *res)
{
    TT_CHECK_NULL(cfg, "tt_qat_run");
    TT_CHECK_NULL(o, "tt_qat_run");
    TT_CHECK_NULL(res, "tt_qat_run");
    memset(res, 0, sizeof *res);
    recipe r = {.cfg = cfg, .o = o, .q = cfg->qat, .res = res, .topts = {.backend = o->backend}};
    if (o->smoke) apply_smoke(&r);
    tt_status s = setup(&r);
    if (s == TT_OK) s = phase_fp32(&r);
    if (s == TT_OK) s = eval_fp32(&r);
    tt_trainer *t = NULL;
    if (s == TT_OK) {
        phase(&r, "prepare", "folding BatchNorm and inserting fake-quant");
        r.topts.qat = true;
        r.topts.warm_start = r.warm;
        s = tt_trainer_create_ex(r.c_qat, true, &r.topts, &t);
    }
    if (s == TT_OK) {
        tt_trainer_set_argv(t, o->argc, o->argv);
        s = phase_qat(&r, t);
    }
    if (s == TT_OK) snprintf(res->warm_start, sizeof res->warm_start, "%s", r.warm);
    tt_trainer_free(t);
    free(r.c_fp32);
    free(r.c_qat);
    free(r.fp32_out);
    free(r.qat_out);
    return s;
}
