/* The trainer's state, shared by trainer.c, evaluate.c and run_files.c. */
#ifndef TT_TRAINER_INTERNAL_H
#define TT_TRAINER_INTERNAL_H

#include <time.h>
#include "tinytrain/optim.h"
#include "tinytrain/qat.h"
#include "tinytrain/trainer.h"

struct cJSON;

struct tt_trainer {
    const tt_config *cfg;
    tt_dataset *train, *val, *test;
    tt_graph *g;
    tt_exec *e;
    tt_optim *opt;
    tt_batcher *batcher;
    int in_id, out_id, target_id, loss_id;
    int64_t batch, out_numel; /* out_numel: model outputs per sample */
    float *x;                 /* one batch of inputs */
    void *y;                  /* one batch of labels (int32) or float targets */
    float *pred, *truth;      /* evaluation: outputs and targets of a whole split */
    void *rank_scratch;
    int64_t pred_cap; /* floats pred/truth can hold */
    tt_schedule sched;
    int64_t steps_per_epoch;
    int epochs_done;
    int64_t step;
    double best;
    int best_epoch;
    tt_epoch_record *history; /* cfg->epochs entries */
    int n_history;
    int argc;
    char *const *argv;
    struct timespec started;
    double wall_s;
    tt_trainer_opts opts;
    tt_qat_summary qat; /* opts.qat: what the prepare pass did */
    /* Called before each epoch (1-based) of tt_trainer_fit, and while writing report.json to
     * add fields to its root object; both may be NULL. */
    tt_status (*before_epoch)(tt_trainer *t, int epoch, void *user);
    void (*report_extra)(const tt_trainer *t, struct cJSON *root, void *user);
    void *hook_user;
};

/* trainer.c: s with "qat warm start WS: <the last error> (what it must be)". */
tt_status tt_trainer_warm_start_failed(tt_status s, const char *ws);

/* evaluate.c */
tt_status tt_trainer_eval_split(tt_trainer *t, tt_dataset *ds, tt_eval_result *r);

/* run_files.c */
/* An evaluation as report.json writes it (full: per-class accuracy and confusion too). */
struct cJSON *tt_run_eval_json(const tt_eval_result *r, bool full);
tt_status tt_run_dir_prepare(const tt_trainer *t);
/* metrics.jsonl holds every epoch of t->history, rewritten whole each epoch. */
tt_status tt_run_write_metrics(const tt_trainer *t);
/* Reload the first `epochs` lines of metrics.jsonl into t->history (resume). */
tt_status tt_run_reload_history(tt_trainer *t, int epochs);
tt_status tt_run_write_curves(const tt_trainer *t);
tt_status tt_run_write_report(const tt_trainer *t, const tt_eval_result *test);

#endif
