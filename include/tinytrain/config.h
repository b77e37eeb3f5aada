/* Run configuration: the YAML file read by `tinytrain fit` / `tinytrain qat` (schema in
 * docs/config.md), parsed strictly into a plain C struct, and the model section turned into IR.
 *
 * Every parse error is TT_ERR_INVALID_ARG (TT_ERR_FORMAT for malformed YAML, TT_ERR_IO for a file
 * that cannot be read) with a tt_last_error() message "FILE:LINE:COL: KEY.PATH: problem", the
 * line and column (1-based) being those of the offending key or value. */
#ifndef TINYTRAIN_CONFIG_H
#define TINYTRAIN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "tinytrain/graph.h"
#include "tinytrain/optim.h"
#include "tinytrain/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TT_CONFIG_MAX_BYTES    (1 << 20) /* larger files are refused before parsing */
#define TT_CONFIG_MAX_LAYERS   64
#define TT_CONFIG_MAX_CHANNELS 16  /* normalize.mean / normalize.std entries */
#define TT_CONFIG_STR_MAX      512 /* paths and other strings, including the NUL */
#define TT_CONFIG_NAME_MAX     64  /* run name, including the NUL */

typedef enum tt_task {
    TT_TASK_CLASSIFICATION = 0,
    TT_TASK_REGRESSION,
    TT_TASK_IMAGE_TO_IMAGE,
} tt_task;

typedef enum tt_loss_kind {
    TT_LOSS_CROSS_ENTROPY = 0,
    TT_LOSS_MSE,
    TT_LOSS_L1,
    TT_LOSS_SMOOTH_L1,
} tt_loss_kind;

typedef enum tt_data_kind {
    TT_DATA_FASHION_MNIST = 0,
    TT_DATA_IDX,
    TT_DATA_HDF5,
    TT_DATA_NPY,
    TT_DATA_CSV,
    TT_DATA_SYNTHETIC,
    TT_DATA_FASHION_DENOISE,
    TT_DATA_FASHION_QUALITY,
    TT_DATA_NPZ,
} tt_data_kind;

/* data.train / data.test for the file-based kinds. Strings are "" when not given. */
typedef struct tt_data_files {
    bool present;
    char file[TT_CONFIG_STR_MAX];          /* hdf5, csv, npz: the file */
    char inputs[TT_CONFIG_STR_MAX];        /* idx, npy: a path; hdf5: a dataset; npz: an array */
    char targets[TT_CONFIG_STR_MAX];       /* idx, npy: a path; hdf5: a dataset; npz: an array */
    char target_column[TT_CONFIG_STR_MAX]; /* csv */
} tt_data_files;

typedef struct tt_data_config {
    tt_data_kind kind;
    char dir[TT_CONFIG_STR_MAX]; /* fashion_* kinds */
    tt_data_files train, test;   /* idx, hdf5, npy, csv */
    float val_split;
    int n_norm; /* 0: no normalisation; else 1 (all channels) or the number of input channels */
    float mean[TT_CONFIG_MAX_CHANNELS], std[TT_CONFIG_MAX_CHANNELS];
    int crop_padding; /* augmentation, training only */
    bool hflip;
    float noise_std, blur; /* fashion_denoise */
    int64_t samples;       /* synthetic */
} tt_data_config;

typedef enum tt_layer_kind {
    TT_LAYER_LINEAR = 0,
    TT_LAYER_CONV2D,
    TT_LAYER_BATCHNORM,
    TT_LAYER_RELU,
    TT_LAYER_RELU6,
    TT_LAYER_SIGMOID,
    TT_LAYER_TANH,
    TT_LAYER_FLATTEN,
    TT_LAYER_GLOBAL_AVGPOOL,
    TT_LAYER_LEAKY_RELU,
    TT_LAYER_MAXPOOL,
    TT_LAYER_AVGPOOL,
    TT_LAYER_DROPOUT,
    TT_LAYER_RESIDUAL,
    TT_LAYER_KIND_COUNT
} tt_layer_kind;

/* One entry of model.layers; only the fields of its kind are meaningful (the rest are 0). */
typedef struct tt_layer_spec {
    tt_layer_kind kind;
    int line, col;            /* 1-based position of the layer's map in the YAML, for messages */
    int64_t out;              /* linear: out_features; conv2d, residual: out_channels */
    int64_t kernel;           /* conv2d, maxpool, avgpool */
    int64_t stride;           /* conv2d, maxpool, avgpool (= kernel when not given), residual */
    int64_t padding;          /* conv2d, maxpool, avgpool */
    int64_t dilation, groups; /* conv2d */
    bool bias;                /* linear, conv2d */
    float eps, momentum;      /* batchnorm */
    float alpha;              /* leaky_relu */
    float ratio;              /* dropout */
} tt_layer_spec;

typedef enum tt_model_output {
    TT_OUTPUT_NONE = 0,
    TT_OUTPUT_CLAMP_RESIDUAL, /* clamp(input + last layer, 0, 1) */
} tt_model_output;

typedef struct tt_model_config {
    int input_ndim;   /* 1 (F) or 3 (C, H, W) */
    int64_t input[3]; /* per-sample shape, without the batch dimension */
    int n_layers;     /* 1 .. TT_CONFIG_MAX_LAYERS */
    tt_layer_spec layers[TT_CONFIG_MAX_LAYERS];
    tt_model_output output;
    int output_line, output_col; /* position of model.output (or of model) for messages */
} tt_model_config;

typedef struct tt_schedule_config {
    tt_sched_kind kind;
    int step_epochs;    /* step */
    float gamma;        /* step */
    float eta_min;      /* cosine */
    int warmup_epochs;  /* any kind */
    float warmup_start; /* warm-up starts at lr * warmup_start */
} tt_schedule_config;

/* How a tensor class (weights or activations) is fake-quantised by `tinytrain qat`. */
typedef enum tt_qat_observer {
    TT_QAT_OBS_MINMAX = 0,     /* activations: running min/max; weights: the current tensor's */
    TT_QAT_OBS_MOVING_AVERAGE, /* exponential moving average of batch min/max */
} tt_qat_observer;

typedef struct tt_qat_tensor_config {
    bool is_signed;    /* dtype s8 (else u8) */
    bool symmetric;    /* zero point fixed at the middle of the range (0 for s8 [-127, 127]) */
    bool per_channel;  /* weights only: one scale per output channel */
    bool reduce_range; /* 7-bit range (ONNX Runtime applies it to weights only) */
    tt_qat_observer observer;
    float averaging_constant; /* moving_average */
} tt_qat_tensor_config;

typedef enum tt_bn_fold {
    TT_BN_FOLD_FOLD = 0, /* fold BN into the conv/linear before fine-tuning */
    TT_BN_FOLD_SIMULATE, /* keep BN live; fake-quantise the folded weight (PyTorch's ConvBn2d) */
} tt_bn_fold;

/* The qat: block (docs/qat.md). Defaults apply when the block or a key is absent. */
typedef struct tt_qat_config {
    int epochs_fp32;                    /* phase 1 epochs, unless warm_start is given (20) */
    int epochs_qat;                     /* fine-tune epochs (10) */
    float lr_qat;                       /* fine-tune lr; 0: optimizer.lr / 10 */
    char warm_start[TT_CONFIG_STR_MAX]; /* "" or a tinytrain checkpoint */
    int n_calibration;                  /* training samples observed before fine-tuning (64) */
    int freeze_observers_epoch;         /* observers update in the first N fine-tune epochs (4) */
    int freeze_bn_epoch;                /* BN statistics update in the first N (3; simulate only) */
    tt_bn_fold bn_fold;
    bool learnable_scale; /* LSQ: scales are trained after calibration */
    tt_qat_tensor_config weight, activation;
} tt_qat_config;

/* Bits of tt_config.overrides: which fields tt_config_apply_override changed. */
enum {
    TT_CONFIG_OV_EPOCHS = 1u << 0,
    TT_CONFIG_OV_SEED = 1u << 1,
    TT_CONFIG_OV_OUT = 1u << 2,
    TT_CONFIG_OV_THREADS = 1u << 3,
    TT_CONFIG_OV_BATCH_SIZE = 1u << 4,
    TT_CONFIG_OV_LR = 1u << 5,
    TT_CONFIG_OV_QAT = 1u << 6, /* epochs_fp32, epochs_qat, lr_qat or warm_start */
};

typedef struct tt_config {
    char path[TT_CONFIG_STR_MAX]; /* the file (display name) used in messages */
    char *text;                   /* the raw YAML, NUL-terminated, kept for provenance */
    size_t text_len;

    char name[TT_CONFIG_NAME_MAX];
    uint64_t seed;
    int threads; /* 0: all cores */
    char output_dir[TT_CONFIG_STR_MAX];
    tt_task task;
    tt_data_config data;
    tt_model_config model;
    tt_loss_kind loss;
    tt_optim_config optim;
    tt_schedule_config schedule;
    int epochs;
    int batch_size;
    float grad_clip; /* 0: off */
    bool has_qat;    /* a qat: map is present */
    int qat_line, qat_col;
    tt_qat_config qat;  /* defaults when has_qat is false */
    unsigned overrides; /* TT_CONFIG_OV_* */
} tt_config;

/* Read and parse a config file (at most TT_CONFIG_MAX_BYTES). */
tt_status tt_config_load(const char *path, tt_config **out);
/* Parse YAML text of len bytes; display_name ("x.yaml") names it in messages and gives the
 * default run name. NULL display_name means "<string>". */
tt_status tt_config_parse(const char *text, size_t len, const char *display_name, tt_config **out);
void tt_config_free(tt_config *c);
/* The qat: block's defaults (docs/qat.md). */
tt_qat_config tt_qat_defaults(void);

/* Command-line override: key is one of epochs, seed, out, threads, batch_size (or batch-size),
 * lr, epochs_fp32, epochs_qat, lr_qat, warm_start (dashes or underscores); value is the flag's
 * text, checked as strictly as in the file. Errors name the flag
 * ("--epochs: must be an integer >= 1, got '0'"). */
tt_status tt_config_apply_override(tt_config *c, const char *key, const char *value);

/* Names as written in YAML ("conv2d", "image_to_image", ...). Never NULL. */
const char *tt_task_name(tt_task t);
const char *tt_loss_name(tt_loss_kind k);
const char *tt_data_kind_name(tt_data_kind k);
const char *tt_layer_kind_name(tt_layer_kind k);

/* Build c's model into g: an input value "input" of shape [TT_DIM_BATCH, model.input...], the
 * layers through the tinytrain/layers.h builders (names in docs/config.md), and the output
 * head. Parameters are initialised from rng. The loss is not added. A builder error comes back
 * as "FILE:LINE:COL: model.layers[i] (type): <builder message>". */
tt_status tt_model_build(const tt_config *c, tt_graph *g, tt_rng *rng, int *input_id,
                         int *output_id);

/* Number of trainable parameter elements in g (weights and biases; not BN running stats). */
int64_t tt_model_num_params(const tt_graph *g);

#ifdef __cplusplus
}
#endif
#endif
