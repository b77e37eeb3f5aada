/* Pieces shared by the data set loaders under data/, not part of the public API. */
#ifndef TT_DATASET_INTERNAL_H
#define TT_DATASET_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include "autograd/internal.h"
#include "tinytrain/dataset.h"
#include "tinytrain/rng.h"

/* ---- dataset.c: construction and checks ---- */

/* A zeroed data set of n samples with the given per-sample shapes; resident: allocate inputs and
 * labels or targets (the size checked against TT_TENSOR_MAX_BYTES first). target_shape is
 * ignored for TT_TARGET_LABEL. `what` names the data in the size error. */
tt_status tt_ds_create(tt_dataset **out, int64_t n, const tt_shape *input_shape, tt_target_kind tk,
                       const tt_shape *target_shape, bool resident, const char *what);

/* The per-sample shape of [N, d1, ...] data: [d1] for rank 2, [1, d1, d2] for rank 3 (a single
 * channel image), [d1, d2, d3] for rank 4, [1] for rank 1. Then, if want is non-NULL, the shape
 * the model asks for when it has the same number of elements (TT_ERR_SHAPE otherwise). */
tt_status tt_ds_sample_shape(int rank, const int64_t *dims, const tt_shape *want, const char *path,
                             const char *what, tt_shape *out);

/* TT_ERR_NUMERIC naming path and the sample (first_sample + i) with a NaN or Inf. */
tt_status tt_ds_check_finite(const float *x, int64_t n_samples, int64_t per_sample,
                             int64_t first_sample, const char *path, const char *what);

/* Fill ds->n_classes from ds->labels: fixed_classes > 0 bounds them (fashion: 10); otherwise
 * max + 1 up to TT_DATASET_MAX_CLASSES. n_outputs > 0 also bounds them and becomes n_classes. */
tt_status tt_ds_finish_labels(tt_dataset *ds, int fixed_classes, int64_t n_outputs,
                              const char *path);
/* A float-target data set's target size against the model's output size. */
tt_status tt_ds_check_target_size(const tt_dataset *ds, int64_t n_outputs, const char *path);

/* (float)v / 255, the one pixel scaling used everywhere (so every path gives the same bits). */
static inline float tt_ds_pixel(uint8_t v)
{
    return (float)v / 255.0f;
}

/* Uniform in [0, n) for n up to 2^64 - 1 (n > 0), without modulo bias. */
static inline uint64_t tt_ds_below(tt_rng *r, uint64_t n)
{
    if (n <= UINT32_MAX) return tt_rng_below(r, (uint32_t)n);
    uint64_t threshold = (uint64_t)(-n) % n;
    for (;;) {
        uint64_t hi = tt_rng_u32(r); /* two statements: argument order is unspecified */
        uint64_t x = hi << 32 | tt_rng_u32(r);
        if (x >= threshold) return x % n;
    }
}

/* Mark k random samples of ds in mark (ds->n bytes, zeroed by the caller): for labels, each
 * class gets its share by largest remainder (lowest class first on ties), then a partial
 * Fisher-Yates draw within the class; otherwise a draw over all samples. tt_dataset_split's
 * validation hold-out and tinytrain calib both use it. */
tt_status tt_ds_choose(const tt_dataset *ds, int64_t k, tt_rng *rng, unsigned char *mark);

/* A label after the range check every loader does: TT_ERR_FORMAT naming path and sample. */
tt_status tt_ds_put_label(tt_dataset *ds, int64_t i, int64_t v, const char *path);

/* Apply ds's normalisation (n_norm > 0) to k samples at x. */
void tt_ds_normalize_rows(const tt_dataset *ds, float *x, int64_t k);

/* splitmix64: derives independent seeds from (seed, purpose, epoch). */
static inline uint64_t tt_ds_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* ---- provenance.c ---- */

/* Append path (its size and SHA-256) to ds->sources. */
tt_status tt_ds_add_source(tt_dataset *ds, const char *path);
/* SHA-256 of a file's bytes as 64 lowercase hex digits plus NUL. */
tt_status tt_sha256_file(const char *path, char hex[65], int64_t *bytes);

/* ---- the loaders, one per file ---- */

/* array_data.c: idx and npy (inputs/targets are file paths). */
tt_status tt_ds_load_idx(const char *inputs, const char *targets, tt_task task,
                         const tt_shape *sample_shape, int64_t n_outputs, tt_dataset **out);
/* Both arrays of a data set from one .npz (np.savez / np.savez_compressed): the arrays named
 * inputs ([N, ...], float32/float64 or uint8 pixels) and targets (integer labels [N] or [N, 1]
 * for classification, [N, ...] otherwise), with the rules of the npy kind (dataset.h). Messages
 * name the file and the array ("d.npz (array 'x')"); the file is the one recorded source. A
 * missing array is TT_ERR_FORMAT listing the arrays present. */
tt_status tt_ds_load_npz(const char *file, const char *inputs, const char *targets, tt_task task,
                         const tt_shape *sample_shape, int64_t n_outputs, tt_dataset **out);
tt_status tt_ds_load_npy(const char *inputs, const char *targets, tt_task task,
                         const tt_shape *sample_shape, int64_t n_outputs, tt_dataset **out);
/* The data set from an input tensor ([N, ...], F32 or U8) and a target tensor ([N] or [N, ...]).
 * Labels for TT_TARGET_LABEL (integer dtypes), floats otherwise. Paths only name the files. */
tt_status tt_ds_from_tensors(const tt_tensor *in, const char *in_path, const tt_tensor *tg,
                             const char *tg_path, tt_task task, const tt_shape *sample_shape,
                             int fixed_classes, int64_t n_outputs, tt_dataset **out);

/* csv.c */
tt_status tt_ds_load_csv(const char *file, const char *target_column, tt_task task,
                         const tt_shape *sample_shape, int64_t n_outputs, tt_dataset **out);

/* synthetic.c */
tt_status tt_ds_load_synthetic(int64_t samples, tt_task task, const tt_shape *sample_shape,
                               int64_t n_outputs, bool train_split, uint64_t seed,
                               tt_dataset **out);

/* fashion_tasks.c: the three Fashion-MNIST kinds. */
tt_status tt_ds_load_fashion(const char *dir, tt_data_kind kind, float noise_std, float blur,
                             tt_task task, const tt_shape *sample_shape, int64_t n_outputs,
                             bool train_split, uint64_t seed, tt_dataset **out);
/* Box blur of an h x w image with radius r >= 0 (fractional radii weight the outermost taps by
 * frac(r)); taps outside the image are left out of the average. tmp: h * w floats. */
void tt_box_blur(const float *src, float *dst, float *tmp, int h, int w, float r);
/* The degradations, exposed for tests: sample i's input from its clean image. */
void tt_fashion_denoise_sample(const float *clean, float *dst, float *tmp, int h, int w,
                               float noise_std, float blur, uint64_t split_seed, int64_t i);
float tt_fashion_quality_sample(const float *clean, float *dst, float *tmp, int h, int w,
                                uint64_t split_seed, int64_t i);
/* The seed of a split's degradations: seed for training, a constant for the test split. */
uint64_t tt_fashion_split_seed(bool train_split, uint64_t seed);

/* ---- hdf5_data.c ---- */

/* mode: 0 streams only data larger than TT_DATASET_RESIDENT_MAX_BYTES, 1 loads, 2 streams. */
tt_status tt_ds_load_hdf5(const char *file, const char *inputs, const char *targets, tt_task task,
                          const tt_shape *sample_shape, int64_t n_outputs, int mode,
                          tt_dataset **out);

/* Rows [rows[0], ...] (ascending, k of them) of the inputs (targets: false) or the float
 * targets (true), as floats (uint8 scaled), one after another into dst. */
tt_status tt_ds_stream_read(tt_dataset_stream *s, bool targets, const int64_t *rows, int64_t k,
                            float *dst);
void tt_ds_stream_retain(tt_dataset_stream *s);
void tt_ds_stream_release(tt_dataset_stream *s);

#endif
