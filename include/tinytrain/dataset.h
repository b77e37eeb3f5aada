/* Data sets: every data.kind of the config (docs/config.md) loaded into float samples, seeded
 * validation splits, per-channel normalisation, and the batcher (shuffling, random crop,
 * horizontal flip) that feeds the trainer.
 *
 * A data set is N samples of one per-sample input shape ([F] or [C, H, W]) with either int32
 * class labels or float targets of one per-sample shape. Pixel data (uint8 in IDX, NPY and
 * HDF5 files) is scaled to [0, 1] as (float)v / 255.
 *
 * Kinds (tt_dataset_load):
 *   fashion_mnist    dir/train-{images-idx3,labels-idx1}-ubyte.gz (t10k-* for the test split);
 *                    classification, 10 classes, samples [1, 28, 28].
 *   fashion_denoise  image_to_image: target = clean image; input = clamp(boxblur_r(clean) +
 *                    noise_std * N(0, 1), 0, 1), r = data.blur (a box blur of radius r pixels,
 *                    fractional radii weight the outermost taps by frac(r); 0 = none).
 *   fashion_quality  regression (no-reference quality): each image is degraded with a strength
 *                    s ~ U[0, 1): input = clamp(boxblur_s(clean) + 0.2 s N(0, 1), 0, 1), and
 *                    the target is the quality 1 - s (shape [1]; 1 = pristine). The noise makes
 *                    s visible in every image (most Fashion-MNIST pixels are flat background),
 *                    which is what makes it learnable to PLCC >= 0.95; PSNR was rejected as
 *                    the target because it depends on the image content as much as on the
 *                    distortion (a dark, flat image clips half its noise).
 *                    For both degradation kinds, the noise of sample i comes from its own PCG
 *                    stream (i), seeded with `seed` for the training split and with a fixed
 *                    constant for the test split, so the test set is the same in every run.
 *   idx, npy         train/test {inputs, targets} paths. Inputs [N, ...]: npy float32, float64
 *                    or uint8 (scaled); idx uint8 (scaled). Classification targets are integer
 *                    labels [N] or [N, 1] (npy int32/int64/uint8/int8, idx uint8);
 *                    regression / image_to_image targets are float [N, ...] (npy float32 or
 *                    float64, or integers converted as they are; idx uint8 is scaled).
 *   hdf5             train/test {file, inputs: dataset, targets: dataset}, with the same rules
 *                    (inputs float32/float64/uint8, labels any integer type). Read in blocks of
 *                    rows (hyperslabs), so the read itself needs bounded memory; a file whose
 *                    samples take more than TT_DATASET_RESIDENT_MAX_BYTES as floats is not
 *                    loaded at all but streamed: the batcher reads each batch's rows from the
 *                    file (the data set's `stream` is then non-NULL, inputs/targets NULL).
 *                    Each batch is one HDF5 read of its rows (sorted, runs merged).
 *   csv              train/test {file, target_column}: a header row of column names, then one
 *                    numeric row per sample; the target column is the label (classification:
 *                    integral values >= 0) or the float target (regression), every other
 *                    column is a feature, in file order (sample shape [F]).
 *   synthetic        seeded Gaussian blobs in the model's input shape: data.samples training
 *                    samples (ceil(samples / 4) in the test split) over n_outputs classes
 *                    (classification; class centres uniform in [0, 1]^D, noise std 1/8 of the
 *                    smallest distance between two centres, so it is learnable to ~100%), or
 *                    for regression targets tanh(A (x - 0.5) sqrt(12 / D)) of x ~ U[0, 1]^D
 *                    with a seeded Gaussian A (n_outputs targets). Centres and A depend only
 *                    on the seed, so both splits pose the same problem.
 *
 * Labels: n_classes is 10 for the fashion kinds; otherwise max label + 1, capped at
 * TT_DATASET_MAX_CLASSES. When the caller passes the model's output width (n_outputs > 0),
 * a label >= n_outputs is an error and n_classes becomes n_outputs.
 *
 * Validation, each message naming the file (and sample / line where there is one):
 *   missing file (for the fashion kinds also the Debian package dataset-fashion-mnist) ->
 *   TT_ERR_IO; truncated or corrupt file, wrong rank, wrong dtype, missing HDF5 dataset,
 *   inputs and targets with different sample counts, non-numeric or ragged CSV rows ->
 *   TT_ERR_FORMAT (TT_ERR_UNSUPPORTED for a dtype tinytrain cannot use); a negative label or
 *   one over the fixed class count -> TT_ERR_FORMAT; NaN or Inf in float inputs or targets ->
 *   TT_ERR_NUMERIC; shapes or labels that do not fit the model (sample_shape, n_outputs) ->
 *   TT_ERR_SHAPE; absurd sizes -> TT_ERR_NOMEM (before allocating).
 */
#ifndef TINYTRAIN_DATASET_H
#define TINYTRAIN_DATASET_H

#include <stdbool.h>
#include <stdint.h>
#include "tinytrain/config.h"
#include "tinytrain/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TT_DATASET_MAX_CLASSES  65536
#define TT_DATASET_MAX_SOURCES  4
#define TT_DATASET_MAX_CHANNELS 64
/* HDF5 data sets larger than this (as float32 inputs plus targets) are streamed, not loaded. */
#define TT_DATASET_RESIDENT_MAX_BYTES ((int64_t)1 << 31)
#define TT_FASHION_MNIST_PACKAGE      "dataset-fashion-mnist"

typedef enum tt_target_kind {
    TT_TARGET_LABEL = 0, /* int32 class labels in [0, n_classes) */
    TT_TARGET_FLOAT,     /* target_numel floats per sample */
} tt_target_kind;

/* One file a data set was read from, for run provenance. */
typedef struct tt_data_source {
    char path[TT_CONFIG_STR_MAX];
    char sha256[65]; /* lowercase hex digest of the file's bytes */
    int64_t bytes;
} tt_data_source;

typedef struct tt_dataset_stream tt_dataset_stream; /* an open HDF5 file (private) */

/* Read the fields; change them only through the functions below. */
typedef struct tt_dataset {
    int64_t n;            /* samples */
    tt_shape input_shape; /* per sample, without the batch dimension: [F] or [C, H, W] */
    int64_t input_numel;  /* elements per sample */
    tt_target_kind target_kind;
    int n_classes;         /* TT_TARGET_LABEL */
    tt_shape target_shape; /* per sample: [1] for labels and scalar targets */
    int64_t target_numel;

    /* Resident data (NULL for a streamed data set: use the batcher). */
    float *inputs;   /* n x input_numel */
    int32_t *labels; /* n, TT_TARGET_LABEL (also kept in memory when streamed) */
    float *targets;  /* n x target_numel, TT_TARGET_FLOAT */

    /* Normalisation applied by tt_dataset_normalize_inputs (n_norm 0: none). */
    int n_norm;
    float norm_mean[TT_DATASET_MAX_CHANNELS], norm_std[TT_DATASET_MAX_CHANNELS];

    int n_sources;
    tt_data_source sources[TT_DATASET_MAX_SOURCES];

    /* Private: for a streamed data set, the file and the file row of each sample. */
    tt_dataset_stream *stream;
    int64_t *rows;
} tt_dataset;

/* Load the training (train_split) or test split of cfg's data for a task.
 * sample_shape: the model's per-sample input shape (model.input), or NULL to keep the data's own
 *   ([N, H, W] images become [1, H, W]); data with another shape of the same size is reshaped
 *   to it, any other size is TT_ERR_SHAPE. Required for synthetic.
 * n_outputs: the model's output elements per sample, or 0 if unknown: checked against the
 *   labels (classification) or the target size (other tasks); synthetic uses it as the number
 *   of classes (default 10) or of regression targets (default 1).
 * seed: synthetic data and the training-split degradations of fashion_denoise/quality.
 * *out is NULL when the config has no test set (train_split false, data.test absent). The
 * function does not normalise: call tt_dataset_normalize_inputs with cfg->mean/std. */
tt_status tt_dataset_load(const tt_data_config *cfg, tt_task task, const tt_shape *sample_shape,
                          int64_t n_outputs, bool train_split, uint64_t seed, tt_dataset **out);

/* The hdf5 kind with the streaming choice made by the caller (tt_dataset_load streams only
 * data larger than TT_DATASET_RESIDENT_MAX_BYTES). Both modes give bit-identical batches. */
tt_status tt_dataset_load_hdf5(const char *file, const char *inputs, const char *targets,
                               tt_task task, const tt_shape *sample_shape, int64_t n_outputs,
                               bool stream, tt_dataset **out);

void tt_dataset_free(tt_dataset *ds);

/* Hold out round(n * val_fraction) samples (val_fraction in [0, 1)), chosen by a PCG seeded with
 * seed. Label data sets are stratified: each class gives its share, the quotas rounded by
 * largest remainder so they sum to the total. Both parts keep the original sample order.
 * *val is NULL when nothing is held out; *train is then a copy of ds. ds is left as it is. */
tt_status tt_dataset_split(const tt_dataset *ds, float val_fraction, uint64_t seed,
                           tt_dataset **train, tt_dataset **val);

/* Keep only the first n samples (n >= the sample count: no change). For quick runs. */
void tt_dataset_truncate(tt_dataset *ds, int64_t n);

/* Per-channel x = (x - mean[c]) / std[c]: n == 1 applies mean[0]/std[0] to every element,
 * otherwise n must be the channel count (input_shape.dims[0]; for [F] samples, F). std > 0.
 * Once per data set (TT_ERR_STATE the second time). */
tt_status tt_dataset_normalize_inputs(tt_dataset *ds, const float *mean, const float *std, int n);

/* Check that every label is below n_outputs (the model's class count): TT_ERR_SHAPE naming the
 * first offending sample otherwise. Float-target data sets need target_numel == n_outputs. */
tt_status tt_dataset_check_outputs(const tt_dataset *ds, int64_t n_outputs);

/* ---------------------------------------------------------------------------------------- */
/* Batcher */

typedef struct tt_augment {
    int crop_padding; /* random crop of the sample's size from the image padded by this */
    bool hflip;       /* mirror left-right with probability 1/2 */
} tt_augment;

typedef struct tt_batcher tt_batcher;

/* Batches of `batch` samples over ds (which must outlive the batcher). shuffle: a permutation
 * per epoch; aug (NULL: none) needs [C, H, W] samples. The order and every augmentation are
 * pure functions of (seed, epoch, sample index), so a run resumed at epoch k sees exactly the
 * batches of an uninterrupted one. Crops pad with the value a 0 pixel has after the data set's
 * normalisation ((0 - mean) / std, as torchvision pads before Normalize); image-to-image
 * targets of the input's shape get the same crop and flip (padded with 0). Created at
 * epoch 0. */
tt_status tt_batcher_create(const tt_dataset *ds, int64_t batch, bool shuffle,
                            const tt_augment *aug, uint64_t seed, tt_batcher **out);
void tt_batcher_free(tt_batcher *b);

/* Start epoch `epoch` (>= 0) from its first batch. */
void tt_batcher_reset(tt_batcher *b, int64_t epoch);
/* Skip to batch index `batch_index` of the current epoch (for resuming mid-epoch). */
void tt_batcher_seek(tt_batcher *b, int64_t batch_index);

/* Fill the next batch: x gets *n x input_numel floats; y (may be NULL) *n int32 labels or
 * *n x target_numel floats. The last batch of an epoch may be partial (*n < batch). Returns
 * false, with *n = 0, once the epoch is over -- or when reading a streamed file failed, which
 * tt_batcher_status tells apart: check it after the loop. Allocates nothing. */
bool tt_batcher_next(tt_batcher *b, float *x, void *y, int64_t *n);
/* TT_OK, or the error that ended the last next() (message in tt_last_error()). */
tt_status tt_batcher_status(const tt_batcher *b);
int64_t tt_batcher_num_batches(const tt_batcher *b);

/* The crop/flip of one [C, H, W] sample: dst[c][y][x] = src[c][y + dy - pad][xs + dx - pad]
 * with xs = W - 1 - x when flip (else x), and pad_value[c] outside the source. dy, dx in
 * [0, 2 pad]. pad_value NULL means 0. Exposed for tests and for tools that replay a batch. */
void tt_augment_sample(const float *src, float *dst, int64_t c, int64_t h, int64_t w, int pad,
                       int dy, int dx, bool flip, const float *pad_value);

#ifdef __cplusplus
}
#endif
#endif
