/* Evaluating ONNX models on labelled data (`tinytrain eval MODEL.onnx`, docs/eval.md).
 *
 * Data comes either through a config's own pipeline (the trainer's loader, validation hold-out
 * and normalisation, so the numbers are those `tinytrain eval CKPT` and fit report) or from an
 * .npz holding the model inputs and the targets as `tinytrain calib` writes them. Every sample
 * runs through tinytrain's runtime (tinytrain/runtime.h), and the task's metrics are the
 * trainer's (tinytrain/metrics.h): accuracy, per-class accuracy and the confusion matrix for
 * classifiers; PLCC, SROCC and RMSE for regressors; mean per-image PSNR and PLCC for
 * image-to-image models. On top of one evaluation: the agreement of two models on the same data
 * (fp32 against int8), and the two PTQ studies, each a static PTQ (tinytrain/ptq.h) followed by
 * an evaluation: one quantised layer at a time (sensitivity), and calibration sets of growing
 * size. */
#ifndef TINYTRAIN_EVAL_H
#define TINYTRAIN_EVAL_H

#include <stdbool.h>
#include <stdint.h>
#include "tinytrain/config.h"
#include "tinytrain/dataset.h"
#include "tinytrain/gate.h"
#include "tinytrain/ptq.h"
#include "tinytrain/runtime.h"
#include "tinytrain/trainer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The arrays of an evaluation .npz: the model inputs [N, per-sample input...] (float32, float64
 * or uint8 pixels scaled by 1/255) and the targets (integer labels [N] or [N, 1], or float
 * targets [N, per-sample output...]). `tinytrain calib` writes these names. */
#define TT_EVAL_NPZ_INPUTS  "input"
#define TT_EVAL_NPZ_TARGETS "target"

typedef enum tt_eval_split {
    TT_EVAL_SPLIT_TEST = 0,
    TT_EVAL_SPLIT_VAL,   /* the validation hold-out of the training split (data.val_split) */
    TT_EVAL_SPLIT_TRAIN, /* the training split without that hold-out: what fit trained on */
} tt_eval_split;

/* "test", "val", "train"; the inverse is TT_ERR_INVALID_ARG for any other name. */
const char *tt_eval_split_name(tt_eval_split s);
tt_status tt_eval_split_parse(const char *name, tt_eval_split *out);
/* "classification", "regression", "image_to_image" (tt_task_name) back into a task. */
tt_status tt_eval_task_parse(const char *name, tt_task *out);

/* Zero-initialised: the test split, every sample, the task from the data. */
typedef struct tt_eval_data_opts {
    tt_eval_split split; /* config data only */
    int64_t limit;       /* keep the first limit samples; 0: all */
    bool task_given;     /* npz data: take task, instead of inferring it from the targets */
    tt_task task;
} tt_eval_data_opts;

/* A data set to evaluate on, resident in memory, and where it came from. */
typedef struct tt_eval_data {
    tt_dataset *ds;
    tt_task task;
    const char *split; /* "test", "val" or "train" for a config; NULL for an .npz */
    char path[TT_CONFIG_STR_MAX];
    char sha256[65]; /* of the config's text or the .npz file */
    int64_t bytes;
} tt_eval_data;

/* cfg's split through the trainer's data pipeline. The data must fit the model: in_numel values
 * per sample in, out_numel out (TT_ERR_SHAPE otherwise, naming both). A streamed HDF5 data set
 * is TT_ERR_UNSUPPORTED; a config without the split asked for is TT_ERR_INVALID_ARG. The config
 * may be freed afterwards. */
tt_status tt_eval_data_from_config(const tt_config *cfg, const tt_eval_data_opts *o,
                                   int64_t in_numel, int64_t out_numel, tt_eval_data *out);
/* The arrays TT_EVAL_NPZ_INPUTS and TT_EVAL_NPZ_TARGETS of path, checked as a config's npz data
 * (shapes against the model's per-sample input shape `sample` and out_numel, labels in
 * [0, out_numel), no NaN or Inf). Without o->task_given the task is classification for one
 * integer per sample, image_to_image for targets of the input's size (more than one value), and
 * regression for any other targets. */
tt_status tt_eval_data_from_npz(const char *path, const tt_eval_data_opts *o,
                                const tt_shape *sample, int64_t out_numel, tt_eval_data *out);
void tt_eval_data_free(tt_eval_data *d);

/* Called after each chunk of samples (done of total) with what is running ("fp32.onnx"). */
typedef void (*tt_eval_progress_fn)(const char *what, int64_t done, int64_t total, void *user);

/* Every sample of d through rt: *out receives n * tt_runtime_output_size(rt) floats (free with
 * free()). Non-finite outputs are kept (the metrics turn NaN). */
tt_status tt_eval_predict(tt_runtime *rt, const tt_eval_data *d, const char *what,
                          tt_eval_progress_fn cb, void *user, float **out);

/* The task's metrics of outputs (d->ds->n samples of out_numel values) against d's targets,
 * with the trainer's definitions; loss is NaN (an ONNX model has no loss). A classifier of more
 * than TT_EVAL_MAX_CLASSES classes gets its accuracy but no per-class figures. */
tt_status tt_eval_score(const tt_eval_data *d, const float *outputs, int64_t out_numel,
                        tt_eval_result *r);

/* How closely b's outputs follow a's on the same n samples of m values. */
typedef struct tt_eval_agreement {
    double top1;          /* percent of samples with the same argmax (first maximum wins) */
    tt_gate_metrics gate; /* the gate's PLCC, drop = 1 - PLCC and worst_abs over all outputs */
} tt_eval_agreement;

void tt_eval_agree(const float *a, const float *b, int64_t n, int64_t m, tt_eval_agreement *ag);
/* Index of the first maximum of z[0..m). */
int64_t tt_eval_argmax(const float *z, int64_t m);

/* ---- PTQ studies ------------------------------------------------------------------------- */

/* A node that static PTQ quantises on its own: a Conv, Gemm or MatMul (with the BatchNorm and
 * the Relu/Clip fused into it), an Add, a pool or an activation with a quantisation point of
 * its own. Pass-through ops (MaxPool, Flatten, Reshape, Dropout), folded BatchNorms and fused
 * Relu/Clip are not layers: tt_ptq_quantize cannot leave them in float on their own. */
typedef struct tt_eval_layer {
    char node[TT_NAME_MAX]; /* the ONNX node name (its first output's name when it has none) */
    char op[32];            /* the ONNX op type */
} tt_eval_layer;

/* The layers of the fp32 model at path, in graph order (*layers: free with free()). */
tt_status tt_eval_layers(const char *path, tt_eval_layer **layers, int *n);

/* One quantised model of a study and its evaluation. */
typedef struct tt_eval_quant_row {
    char label[TT_NAME_MAX]; /* the layer quantised, or "N samples" */
    char op[32];
    int64_t samples;  /* calibration samples */
    tt_eval_result r; /* on the study's data */
    double metric;    /* tt_eval_main_metric(&r) */
    double drop;      /* the fp32 model's main metric - metric (positive: worse) */
    tt_eval_agreement vs_fp32;
    double ptq_s, eval_s;
} tt_eval_quant_row;

typedef struct tt_eval_study {
    tt_ptq_opts ptq; /* exclude: filled per row by the sensitivity study */
    char calibration[TT_CONFIG_STR_MAX];
    char calib_sha256[65];
    int64_t calib_bytes, calib_samples;
    double fp32_metric;
    int n_rows;
    tt_eval_quant_row *rows; /* sensitivity: ranked, largest drop first */
    bool has_all;            /* sensitivity: all, every layer quantised, for reference */
    tt_eval_quant_row all;
} tt_eval_study;

void tt_eval_study_free(tt_eval_study *s);

/* What both studies run on: the fp32 model, its outputs on d, the calibration set (.npz or .h5
 * with an array named after the model input, as for tinytrain ptq), the PTQ settings (exclude
 * is ignored), how quantised models run, and a directory for the files made along the way (NULL:
 * a fresh one under $TMPDIR or /tmp, removed afterwards). */
typedef struct tt_eval_study_opts {
    const char *model;
    const char *calibration;
    const tt_eval_data *data;
    const float *fp32_out;
    const tt_eval_result *fp32;
    tt_ptq_opts ptq;
    tt_runtime_opts rt;
    const char *work_dir;
    tt_eval_progress_fn cb;
    void (*on_row)(const tt_eval_quant_row *row, int i, int n, void *user); /* may be NULL */
    void *user;
} tt_eval_study_opts;

/* Quantise one layer at a time (every other layer listed in opts.exclude) and rank the layers
 * by drop, then by output PLCC drop; then quantise them all, for reference. At most
 * TT_PTQ_MAX_EXCLUDE + 1 layers. */
tt_status tt_eval_sensitivity(const tt_eval_study_opts *o, tt_eval_study *out);
/* Static PTQ with the first sizes[i] samples of the calibration set, for each i (each at most
 * the set's size, TT_ERR_INVALID_ARG otherwise). Rows in the order of sizes. */
tt_status tt_eval_calib_sizes(const tt_eval_study_opts *o, const int64_t *sizes, int n_sizes,
                              tt_eval_study *out);

/* ---- output ------------------------------------------------------------------------------ */

/* One evaluated model. */
typedef struct tt_eval_model {
    const char *path;
    tt_rt_mode mode;
    tt_runtime_stats stats;
    tt_eval_result r;
    double seconds;
} tt_eval_model;

/* Everything one `tinytrain eval` measured; NULL / 0 for what it did not do. */
typedef struct tt_eval_report {
    const tt_eval_data *data;
    const tt_eval_model *models; /* 1, or 2 with --compare (the second is OTHER) */
    int n_models;
    const tt_eval_agreement *agreement; /* models[1] against models[0] */
    const tt_eval_study *sensitivity, *calib_sizes;
    int argc;
    char **argv;
    double wall_s;
} tt_eval_report;

/* The JSON report (schema "eval-report-v1": data, models with their metrics, comparison,
 * studies, run_provenance; sorted keys, 2-space indent, written atomically). */
tt_status tt_eval_write_json(const char *path, const tt_eval_report *rep);
/* The confusion matrices of the classifiers in models, side by side, as an SVG heat map (cells
 * shaded by the share of the true class's row, counts written in). */
tt_status tt_eval_write_confusion_svg(const char *path, const tt_eval_model *models, int n);
/* A horizontal bar chart of values (one bar per label, in order) titled title. */
tt_status tt_eval_write_bars_svg(const char *path, const char *title, const char *xlabel,
                                 const char *const *labels, const double *values, int n);

#ifdef __cplusplus
}
#endif
#endif
