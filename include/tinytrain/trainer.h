/* The fp32 trainer behind `tinytrain fit`: data, model, optimiser and schedule from a config;
 * an epoch loop with progress callbacks; evaluation; and the run directory (checkpoints
 * last.h5/best.h5, metrics.jsonl, report.json, curves.svg). */
#ifndef TINYTRAIN_TRAINER_H
#define TINYTRAIN_TRAINER_H

#include <stdbool.h>
#include <stdint.h>
#include "tinytrain/checkpoint.h"
#include "tinytrain/config.h"
#include "tinytrain/dataset.h"
#include "tinytrain/exec.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TT_EVAL_MAX_CLASSES 64

/* Metrics of one pass over a data set. Fields that do not apply to the task are NaN. */
typedef struct tt_eval_result {
    tt_task task;
    int64_t n;
    double loss;
    double accuracy; /* classification, percent */
    int n_classes;   /* classification */
    double class_accuracy[TT_EVAL_MAX_CLASSES];
    int64_t confusion[TT_EVAL_MAX_CLASSES * TT_EVAL_MAX_CLASSES]; /* [true][pred], <= 64 classes */
    double rmse, plcc, srocc; /* regression (and plcc for image_to_image) */
    double psnr, psnr_input;  /* image_to_image: output and input vs target */
} tt_eval_result;

/* Every metric NaN, the task set: the start of any evaluation (the trainer's and eval's). */
void tt_eval_result_reset(tt_eval_result *r, tt_task task);
/* Accuracy, per-class accuracy and the confusion matrix (up to TT_EVAL_MAX_CLASSES classes;
 * accuracy only beyond) from a filled confusion (tinytrain/metrics.h). */
struct tt_confusion;
void tt_eval_result_set_classes(tt_eval_result *r, const struct tt_confusion *c);

/* The metric a run is judged by: accuracy, PLCC or PSNR (higher is better for all three). */
double tt_eval_main_metric(const tt_eval_result *r);
const char *tt_eval_main_metric_name(tt_task task);

typedef struct tt_progress {
    int epoch, epochs;           /* 1-based current epoch */
    int64_t batch, batches;      /* 1-based batch within the epoch */
    double loss;                 /* running mean over the epoch so far */
    double samples_per_s, eta_s; /* ETA for the whole run */
} tt_progress;

typedef struct tt_epoch_record {
    int epoch;
    double lr;             /* learning rate at the epoch's last step */
    double train_loss;     /* mean over the epoch's batches */
    tt_eval_result val;    /* validation split, or the test set when there is none */
    const char *val_split; /* "val" or "test" */
    double seconds, samples_per_s;
    bool best; /* this epoch improved the main metric (best.h5 written) */
} tt_epoch_record;

typedef struct tt_fit_callbacks {
    void (*on_progress)(const tt_progress *p, void *user); /* after every batch */
    void (*on_epoch)(const tt_epoch_record *r, void *user);
    void *user;
} tt_fit_callbacks;

typedef struct tt_trainer tt_trainer;

/* How tt_trainer_create_ex departs from a plain fp32 run. Zero-initialised: a plain fp32 run. */
typedef struct tt_trainer_opts {
    /* Fake-quantise the model (the fine-tune phase of tinytrain qat): the config's fp32 model is
     * built, warm_start is loaded into it, and tt_qat_prepare (tinytrain/qat.h) with cfg->qat
     * gives the graph that is trained. */
    bool qat;
    /* With qat: the BatchNorm handling the graph is rebuilt with, when it must not come from
     * the config (a checkpoint records the one it was trained with; tinytrain before 0.1.0's
     * default change folded). bn_fold_set false: cfg->qat.bn_fold. */
    bool bn_fold_set;
    tt_bn_fold bn_fold;
    const char *warm_start; /* a checkpoint of the config's fp32 model, or NULL */
    /* Keep only the first N samples of the training data (before the validation split) and of
     * the test set; 0 keeps all. For smoke runs. */
    int64_t max_train, max_test;
    /* Where the model runs: NULL or "cpu", "opencl[:N]", "cuda[:N]" (tt_exec_create_on). On a
     * device, training, evaluation and the optimiser step all run there; checkpoints are
     * written from parameters copied back to the host. */
    const char *backend;
} tt_trainer_opts;

/* Load the data (train_data false: only the test split, for evaluation), build the model and
 * plan it. The config must outlive the trainer. */
tt_status tt_trainer_create(const tt_config *cfg, bool train_data, tt_trainer **out);
/* tt_trainer_create with options (opts may be NULL). */
tt_status tt_trainer_create_ex(const tt_config *cfg, bool train_data, const tt_trainer_opts *opts,
                               tt_trainer **out);
void tt_trainer_free(tt_trainer *t);

/* Record argv for the report's run_provenance (borrowed; must outlive the trainer). */
void tt_trainer_set_argv(tt_trainer *t, int argc, char *const *argv);

/* Continue from the run directory's last.h5 (parameters, optimiser, RNGs, epoch and history).
 * TT_ERR_IO if there is none. */
tt_status tt_trainer_resume(tt_trainer *t);

/* Train the remaining epochs, writing the run directory as it goes; then the final report. */
tt_status tt_trainer_fit(tt_trainer *t, const tt_fit_callbacks *cb);

/* Load parameters from a checkpoint (any tinytrain checkpoint of this config's model). */
tt_status tt_trainer_load_params(tt_trainer *t, const char *ckpt_path);
/* Evaluate on the test split (test true) or the validation split. */
tt_status tt_trainer_evaluate(tt_trainer *t, bool test, tt_eval_result *r);

/* The model's outputs (eval mode) for every sample of the test split, in order: *n samples of
 * tt_trainer_output_numel floats each, into out (cap floats). TT_ERR_INVALID_ARG when out is
 * too small (nothing written beyond cap). inputs (may be NULL) receives the model inputs as
 * fed (normalised), tt_trainer_input_numel floats per sample: it must hold the whole split. */
tt_status tt_trainer_predict(tt_trainer *t, float *out, int64_t cap, float *inputs, int64_t *n);
int64_t tt_trainer_output_numel(const tt_trainer *t);
int64_t tt_trainer_input_numel(const tt_trainer *t);
/* Samples in the test split (0 without one). */
int64_t tt_trainer_test_size(const tt_trainer *t);

/* With a device backend the parameters live on the device during training: the graph's host
 * copies are current after tt_trainer_fit, a checkpoint save and tt_trainer_load_params. */
tt_graph *tt_trainer_graph(tt_trainer *t);
/* The model's input and output values in tt_trainer_graph (the loss and its "target" input come
 * after the output: an exporter walks from input to output). */
int tt_trainer_input_id(const tt_trainer *t);
int tt_trainer_output_id(const tt_trainer *t);
/* Whether the trainer runs the fake-quantised (QAT) graph. */
bool tt_trainer_is_qat(const tt_trainer *t);

/* Options that rebuild the graph a checkpoint was saved from: opts->qat is set when the
 * checkpoint's meta says it is a QAT checkpoint (extra_json {"qat": true, "bn_fold": ...},
 * written by tinytrain qat), and opts->bn_fold to the BN handling it was trained with (fold
 * when the checkpoint predates that key: fold was the default then), so
 * tt_trainer_create_ex + tt_trainer_load_params load it whatever the config's default is. */
tt_status tt_trainer_opts_for_checkpoint(const char *ckpt_path, tt_trainer_opts *opts);
int64_t tt_trainer_num_params(const tt_trainer *t);
/* Where the model runs: tt_exec_backend of its executor ("cpu", "opencl:0 (device name)"). */
const char *tt_trainer_backend(const tt_trainer *t);
/* "<output_dir>/<file>" into buf. */
const char *tt_trainer_path(const tt_trainer *t, const char *file, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
