/* The fp32 training loop of `tinytrain fit`. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "autograd/internal.h"
#include "tinytrain/metrics.h"
#include "tinytrain/tinytrain.h"
#include "train/trainer_internal.h"
#include "data/clock.h"

/* The loss node and its target input, checked against the task. */
static tt_status add_loss(tt_trainer *t)
{
    const tt_config *c = t->cfg;
    const tt_value *out = &t->g->values[t->out_id];
    if (c->task == TT_TASK_CLASSIFICATION) {
        if (c->loss != TT_LOSS_CROSS_ENTROPY)
            return tt_fail(TT_ERR_INVALID_ARG,
                           "%s: loss %s does not fit task classification; "
                           "use loss: cross_entropy",
                           c->path, tt_loss_name(c->loss));
        if (out->shape.ndim != 2)
            return tt_fail(TT_ERR_SHAPE,
                           "%s: a classifier must end in [N, classes] (add flatten "
                           "and linear layers); the model ends in rank %d",
                           c->path, out->shape.ndim);
        int64_t d = TT_DIM_BATCH;
        TT_CHECK(tt_graph_add_input(t->g, "target", TT_I32, 1, &d, &t->target_id));
        int ins[2] = {t->out_id, t->target_id};
        return tt_graph_add_node(t->g, TT_OP_SOFTMAX_CE, "loss", 2, ins, 0, NULL, &t->loss_id);
    }
    if (c->loss == TT_LOSS_CROSS_ENTROPY)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "%s: loss cross_entropy needs task classification; "
                       "use mse, l1 or smooth_l1 for %s",
                       c->path, tt_task_name(c->task));
    TT_CHECK(tt_graph_add_input(t->g, "target", TT_F32, out->shape.ndim, out->shape.dims,
                                &t->target_id));
    static const tt_op_type ops[] = {
        [TT_LOSS_MSE] = TT_OP_MSE, [TT_LOSS_L1] = TT_OP_L1, [TT_LOSS_SMOOTH_L1] = TT_OP_SMOOTH_L1};
    int ins[2] = {t->out_id, t->target_id};
    return tt_graph_add_node(t->g, ops[c->loss], "loss", 2, ins, 0, NULL, &t->loss_id);
}

tt_status tt_trainer_warm_start_failed(tt_status s, const char *ws)
{
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", tt_last_error());
    return tt_fail(s,
                   "qat warm start %s: %s (it must be a checkpoint of this config's model, "
                   "e.g. last.h5 of a `tinytrain fit` run of the same config)",
                   ws, msg);
}

/* The fake-quantised model: the fp32 model with the warm start loaded, through the prepare
 * pass. The fp32 graph only lives here. */
static tt_status build_qat_model(tt_trainer *t, tt_graph *fp32, int in_id, int out_id)
{
    const char *ws = t->opts.warm_start;
    tt_status s = ws ? tt_checkpoint_load(ws, fp32, NULL, NULL) : TT_OK;
    if (s != TT_OK) return tt_trainer_warm_start_failed(s, ws);
    tt_qat_config q = t->cfg->qat;
    if (t->opts.bn_fold_set) q.bn_fold = t->opts.bn_fold;
    return tt_qat_prepare(fp32, in_id, out_id, &q, &t->g, &t->in_id, &t->out_id, &t->qat);
}

static tt_status build_model(tt_trainer *t)
{
    tt_rng rng;
    tt_rng_seed(&rng, t->cfg->seed, 0);
    if (t->opts.qat) {
        tt_graph *fp32 = NULL;
        int in_id, out_id;
        tt_status s = tt_graph_create(&fp32);
        if (s == TT_OK) s = tt_model_build(t->cfg, fp32, &rng, &in_id, &out_id);
        if (s == TT_OK) s = build_qat_model(t, fp32, in_id, out_id);
        tt_graph_free(fp32);
        TT_CHECK(s);
    } else {
        TT_CHECK(tt_graph_create(&t->g));
        TT_CHECK(tt_model_build(t->cfg, t->g, &rng, &t->in_id, &t->out_id));
    }
    const tt_shape *os = &t->g->values[t->out_id].shape;
    t->out_numel = 1;
    for (int i = 1; i < os->ndim; i++) t->out_numel *= os->dims[i];
    return add_loss(t);
}

static tt_status normalize(const tt_config *c, tt_dataset *ds)
{
    if (!ds || c->data.n_norm == 0) return TT_OK;
    return tt_dataset_normalize_inputs(ds, c->data.mean, c->data.std, c->data.n_norm);
}

static tt_status load_data(tt_trainer *t, bool train_data)
{
    const tt_config *c = t->cfg;
    tt_shape in;
    const tt_value *iv = &t->g->values[t->in_id];
    TT_CHECK(tt_shape_make(&in, iv->shape.ndim - 1, iv->shape.dims + 1));
    TT_CHECK(tt_dataset_load(&c->data, c->task, &in, t->out_numel, false, c->seed, &t->test));
    if (t->test && t->opts.max_test > 0) tt_dataset_truncate(t->test, t->opts.max_test);
    TT_CHECK(normalize(c, t->test));
    if (!train_data) return TT_OK;
    tt_dataset *full = NULL;
    TT_CHECK(tt_dataset_load(&c->data, c->task, &in, t->out_numel, true, c->seed, &full));
    if (t->opts.max_train > 0) tt_dataset_truncate(full, t->opts.max_train);
    tt_status s = tt_dataset_split(full, c->data.val_split, c->seed, &t->train, &t->val);
    tt_dataset_free(full);
    TT_CHECK(s);
    TT_CHECK(normalize(c, t->train));
    return normalize(c, t->val);
}

static tt_status alloc_buffers(tt_trainer *t)
{
    const tt_dataset *ref = t->train ? t->train : t->test;
    if (!ref)
        return tt_fail(TT_ERR_INVALID_ARG, "%s: the data section gives no test set to evaluate",
                       t->cfg->path);
    int64_t tnum = ref->target_kind == TT_TARGET_LABEL ? 1 : ref->target_numel;
    t->x = malloc((size_t)(t->batch * ref->input_numel) * sizeof(float));
    t->y = malloc((size_t)(t->batch * tnum) * sizeof(float));
    int64_t n = 0;
    const tt_dataset *sets[3] = {t->train, t->val, t->test};
    for (int i = 1; i < 3; i++)
        if (sets[i] && sets[i]->n > n) n = sets[i]->n;
    t->pred_cap = n * (t->out_numel > tnum ? t->out_numel : tnum);
    t->pred = malloc((size_t)(t->pred_cap ? t->pred_cap : 1) * sizeof(float));
    t->truth = malloc((size_t)(t->pred_cap ? t->pred_cap : 1) * sizeof(float));
    t->rank_scratch = malloc(tt_srocc_scratch_bytes(t->pred_cap ? t->pred_cap : 1));
    t->history = calloc((size_t)t->cfg->epochs, sizeof *t->history);
    if (!t->x || !t->y || !t->pred || !t->truth || !t->rank_scratch || !t->history)
        return tt_fail(TT_ERR_NOMEM, "%s: out of memory for batch and evaluation buffers",
                       t->cfg->path);
    return TT_OK;
}

static void make_schedule(tt_trainer *t)
{
    const tt_config *c = t->cfg;
    int64_t spe = t->steps_per_epoch;
    t->sched = (tt_schedule){
        .kind = c->schedule.kind,
        .base_lr = c->optim.lr,
        .step_size = (int64_t)c->schedule.step_epochs * spe,
        .gamma = c->schedule.gamma,
        .t_max = (int64_t)c->epochs * spe,
        .eta_min = c->schedule.eta_min,
        .warmup = (int64_t)c->schedule.warmup_epochs * spe,
        .warmup_start = c->schedule.warmup_start,
    };
    if (t->sched.step_size < 1) t->sched.step_size = 1;
}

static tt_status trainer_init(tt_trainer *t, bool train_data)
{
    const tt_config *c = t->cfg;
    tt_set_num_threads(c->threads);
    TT_CHECK(build_model(t));
    TT_CHECK(load_data(t, train_data));
    TT_CHECK(alloc_buffers(t));
    TT_CHECK(tt_exec_create_on(t->g, t->batch, t->opts.backend ? t->opts.backend : "cpu", &t->e));
    tt_exec_seed(t->e, c->seed);
    if (!train_data) return TT_OK;
    TT_CHECK(tt_optim_create(&c->optim, t->e, &t->opt));
    tt_augment aug = {.crop_padding = c->data.crop_padding, .hflip = c->data.hflip};
    TT_CHECK(tt_batcher_create(t->train, t->batch, true, &aug, c->seed, &t->batcher));
    t->steps_per_epoch = tt_batcher_num_batches(t->batcher);
    make_schedule(t);
    return TT_OK;
}

tt_status tt_trainer_create(const tt_config *cfg, bool train_data, tt_trainer **out)
{
    return tt_trainer_create_ex(cfg, train_data, NULL, out);
}

tt_status tt_trainer_create_ex(const tt_config *cfg, bool train_data, const tt_trainer_opts *opts,
                               tt_trainer **out)
{
    TT_CHECK_NULL(out, "tt_trainer_create");
    *out = NULL;
    TT_CHECK_NULL(cfg, "tt_trainer_create");
    tt_trainer *t = calloc(1, sizeof *t);
    if (!t) return tt_fail(TT_ERR_NOMEM, "tt_trainer_create: out of memory");
    t->cfg = cfg;
    if (opts) t->opts = *opts;
    t->batch = cfg->batch_size;
    t->best = NAN;
    clock_gettime(CLOCK_REALTIME, &t->started);
    tt_status s = trainer_init(t, train_data);
    if (s != TT_OK) {
        tt_trainer_free(t);
        return s;
    }
    *out = t;
    return TT_OK;
}

void tt_trainer_free(tt_trainer *t)
{
    if (!t) return;
    tt_batcher_free(t->batcher);
    tt_optim_free(t->opt);
    tt_exec_free(t->e);
    tt_graph_free(t->g);
    tt_dataset_free(t->train);
    tt_dataset_free(t->val);
    tt_dataset_free(t->test);
    free(t->x), free(t->y), free(t->pred), free(t->truth), free(t->rank_scratch);
    free(t->history);
    free(t);
}

void tt_trainer_set_argv(tt_trainer *t, int argc, char *const *argv)
{
    if (!t) return;
    t->argc = argc;
    t->argv = argv;
}

int tt_trainer_input_id(const tt_trainer *t)
{
    return t ? t->in_id : -1;
}

int tt_trainer_output_id(const tt_trainer *t)
{
    return t ? t->out_id : -1;
}

bool tt_trainer_is_qat(const tt_trainer *t)
{
    return t && t->opts.qat;
}

tt_status tt_trainer_opts_for_checkpoint(const char *ckpt_path, tt_trainer_opts *opts)
{
    TT_CHECK_NULL(ckpt_path, "tt_trainer_opts_for_checkpoint");
    TT_CHECK_NULL(opts, "tt_trainer_opts_for_checkpoint");
    tt_checkpoint_meta m;
    memset(&m, 0, sizeof m);
    TT_CHECK(tt_checkpoint_read_meta(ckpt_path, &m));
    memset(opts, 0, sizeof *opts);
    opts->qat = m.extra_json && strstr(m.extra_json, "\"qat\": true") != NULL;
    if (opts->qat && strstr(m.extra_json, "\"bn_fold\"")) {
        opts->bn_fold_set = true;
        opts->bn_fold = strstr(m.extra_json, "\"bn_fold\": \"simulate\"") ? TT_BN_FOLD_SIMULATE
                                                                          : TT_BN_FOLD_FOLD;
    } else if (opts->qat && !(m.config_text && strstr(m.config_text, "bn_fold"))) {
        /* Written before checkpoints recorded it, from a config that left it to the default of
         * the time, which was fold. A config that names it is taken as it is. */
        opts->bn_fold_set = true;
        opts->bn_fold = TT_BN_FOLD_FOLD;
    }
    tt_checkpoint_meta_free(&m);
    return TT_OK;
}

tt_graph *tt_trainer_graph(tt_trainer *t)
{
    return t ? t->g : NULL;
}
int64_t tt_trainer_num_params(const tt_trainer *t)
{
    return t ? tt_model_num_params(t->g) : 0;
}

const char *tt_trainer_backend(const tt_trainer *t)
{
    return t ? tt_exec_backend(t->e) : "";
}

const char *tt_trainer_path(const tt_trainer *t, const char *file, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", t->cfg->output_dir, file);
    return buf;
}

static tt_status save_checkpoint(tt_trainer *t, const char *file)
{
    char path[TT_CONFIG_STR_MAX + 32];
    tt_checkpoint_meta m;
    memset(&m, 0, sizeof m);
    m.epoch = t->epochs_done;
    m.step = t->step;
    m.best = t->best;
    m.config_text = t->cfg->text;
    /* How to rebuild the graph: a QAT graph is the config's model through tt_qat_prepare. */
    if (t->opts.qat) {
        bool sim = t->opts.bn_fold_set ? t->opts.bn_fold == TT_BN_FOLD_SIMULATE
                                       : t->cfg->qat.bn_fold == TT_BN_FOLD_SIMULATE;
        m.extra_json = sim ? (char *)"{\"qat\": true, \"bn_fold\": \"simulate\"}"
                           : (char *)"{\"qat\": true, \"bn_fold\": \"fold\"}";
    }
    TT_CHECK(tt_checkpoint_meta_add_rng(&m, "dropout", tt_exec_rng(t->e)));
    TT_CHECK(tt_exec_params_to_host(t->e));
    if (t->opt) TT_CHECK(tt_optim_state_to_host(t->opt));
    return tt_checkpoint_save(tt_trainer_path(t, file, path, sizeof path), t->g, t->opt, &m);
}

tt_status tt_trainer_resume(tt_trainer *t)
{
    TT_CHECK_NULL(t, "tt_trainer_resume");
    if (!t->opt) return tt_fail(TT_ERR_STATE, "tt_trainer_resume: trainer has no training data");
    char path[TT_CONFIG_STR_MAX + 32];
    tt_trainer_path(t, "last.h5", path, sizeof path);
    tt_checkpoint_meta m;
    memset(&m, 0, sizeof m);
    TT_CHECK(tt_checkpoint_load(path, t->g, t->opt, &m));
    tt_status s = TT_OK;
    const tt_rng *r = tt_checkpoint_meta_rng(&m, "dropout");
    if (!r)
        s = tt_fail(TT_ERR_FORMAT, "%s: no 'dropout' RNG state; not written by tinytrain fit",
                    path);
    else if (m.epoch < 0 || m.epoch > t->cfg->epochs)
        s = tt_fail(TT_ERR_INVALID_ARG,
                    "%s: checkpoint is at epoch %lld but the config runs %d "
                    "epochs",
                    path, (long long)m.epoch, t->cfg->epochs);
    else if (m.config_text && strcmp(m.config_text, t->cfg->text) != 0)
        s = tt_fail(TT_ERR_INVALID_ARG,
                    "%s: the checkpoint was written with a different config; "
                    "resume with the same config file",
                    path);
    if (s == TT_OK) {
        *tt_exec_rng(t->e) = *r;
        t->epochs_done = (int)m.epoch;
        t->step = m.step;
        t->best = m.best;
        s = tt_run_reload_history(t, t->epochs_done);
    }
    if (s == TT_OK) s = tt_exec_params_to_device(t->e);
    if (s == TT_OK) s = tt_optim_state_to_device(t->opt);
    tt_checkpoint_meta_free(&m);
    return s;
}

tt_status tt_trainer_load_params(tt_trainer *t, const char *ckpt_path)
{
    TT_CHECK_NULL(t, "tt_trainer_load_params");
    TT_CHECK_NULL(ckpt_path, "tt_trainer_load_params");
    TT_CHECK(tt_checkpoint_load(ckpt_path, t->g, NULL, NULL));
    return tt_exec_params_to_device(t->e);
}

tt_status tt_trainer_evaluate(tt_trainer *t, bool test, tt_eval_result *r)
{
    TT_CHECK_NULL(t, "tt_trainer_evaluate");
    tt_dataset *ds = test ? t->test : t->val;
    if (!ds)
        return tt_fail(TT_ERR_INVALID_ARG, "%s: no %s split to evaluate", t->cfg->path,
                       test ? "test" : "validation");
    return tt_trainer_eval_split(t, ds, r);
}

/* One optimiser step on the batch already in t->x / t->y. */
static tt_status train_step(tt_trainer *t, int64_t n, double *loss)
{
    TT_CHECK(tt_exec_set_input(t->e, t->in_id, t->x, n));
    TT_CHECK(tt_exec_set_input(t->e, t->target_id, t->y, n));
    TT_CHECK(tt_exec_forward(t->e, n, true));
    const tt_tensor *lt;
    TT_CHECK(tt_exec_read(t->e, t->loss_id, &lt));
    *loss = tt_tensor_f32(lt)[0];
    if (!isfinite(*loss))
        return tt_fail(TT_ERR_NUMERIC,
                       "training diverged at epoch %d, step %lld: the loss is "
                       "%g. The last good checkpoint (%s/last.h5, epoch %d) is untouched; lower "
                       "optimizer.lr or set grad_clip",
                       t->epochs_done + 1, (long long)t->step, *loss, t->cfg->output_dir,
                       t->epochs_done);
    TT_CHECK(tt_exec_backward(t->e, t->loss_id));
    if (t->cfg->grad_clip > 0) TT_CHECK(tt_clip_grad_norm(t->e, t->cfg->grad_clip, NULL));
    TT_CHECK(tt_optim_step(t->opt, tt_schedule_lr(&t->sched, t->step)));
    t->step++;
    return TT_OK;
}

static tt_status run_epoch(tt_trainer *t, const tt_fit_callbacks *cb, double t0, double *mean)
{
    int64_t n, batch = 0, seen = 0;
    double sum = 0;
    tt_batcher_reset(t->batcher, t->epochs_done);
    int64_t total_steps = t->steps_per_epoch * (int64_t)(t->cfg->epochs - t->epochs_done);
    while (tt_batcher_next(t->batcher, t->x, t->y, &n)) {
        double loss;
        TT_CHECK(train_step(t, n, &loss));
        sum += loss;
        seen += n;
        batch++;
        if (cb && cb->on_progress) {
            double el = tt_clock_s() - t0;
            tt_progress p = {.epoch = t->epochs_done + 1,
                             .epochs = t->cfg->epochs,
                             .batch = batch,
                             .batches = t->steps_per_epoch,
                             .loss = sum / (double)batch,
                             .samples_per_s = seen / el,
                             .eta_s = el / (double)batch * (double)(total_steps - batch)};
            cb->on_progress(&p, cb->user);
        }
    }
    TT_CHECK(tt_batcher_status(t->batcher));
    *mean = batch ? sum / (double)batch : NAN;
    return TT_OK;
}

static tt_status finish_epoch(tt_trainer *t, double train_loss, double secs,
                              const tt_fit_callbacks *cb)
{
    tt_epoch_record *r = &t->history[t->epochs_done];
    memset(r, 0, sizeof *r);
    r->epoch = t->epochs_done + 1;
    r->lr = tt_schedule_lr(&t->sched, t->step > 0 ? t->step - 1 : 0);
    r->train_loss = train_loss;
    r->val_split = t->val ? "val" : "test";
    TT_CHECK(tt_trainer_eval_split(t, t->val ? t->val : t->test, &r->val));
    r->seconds = secs;
    r->samples_per_s = (double)t->train->n / secs;
    double m = tt_eval_main_metric(&r->val);
    t->epochs_done++;
    t->n_history = t->epochs_done;
    if (isfinite(m) && (isnan(t->best) || m > t->best)) {
        t->best = m;
        t->best_epoch = r->epoch;
        r->best = true;
        TT_CHECK(save_checkpoint(t, "best.h5"));
    }
    TT_CHECK(save_checkpoint(t, "last.h5"));
    TT_CHECK(tt_run_write_metrics(t));
    TT_CHECK(tt_run_write_curves(t));
    if (cb && cb->on_epoch) cb->on_epoch(r, cb->user);
    return TT_OK;
}

tt_status tt_trainer_fit(tt_trainer *t, const tt_fit_callbacks *cb)
{
    TT_CHECK_NULL(t, "tt_trainer_fit");
    if (!t->opt) return tt_fail(TT_ERR_STATE, "tt_trainer_fit: trainer has no training data");
    TT_CHECK(tt_run_dir_prepare(t));
    double run0 = tt_clock_s();
    while (t->epochs_done < t->cfg->epochs) {
        if (t->before_epoch) TT_CHECK(t->before_epoch(t, t->epochs_done + 1, t->hook_user));
        double e0 = tt_clock_s(), mean;
        TT_CHECK(run_epoch(t, cb, e0, &mean));
        TT_CHECK(finish_epoch(t, mean, tt_clock_s() - e0, cb));
    }
    t->wall_s += tt_clock_s() - run0;
    tt_eval_result test;
    TT_CHECK(tt_trainer_evaluate(t, true, &test));
    TT_CHECK(tt_exec_params_to_host(t->e)); /* tt_trainer_graph's copies are current */
    return tt_run_write_report(t, &test);
}
