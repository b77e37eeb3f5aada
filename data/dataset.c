/* The data set object: construction, the checks every loader shares, the kind dispatch,
 * seeded (stratified) splits and per-channel normalisation. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "data/dataset_internal.h"

/* Seeds the split RNG apart from the batcher and the synthetic data, which share `seed`. */
#define SPLIT_PURPOSE 0x73706c6974ULL /* "split" */

static bool mul_ok(int64_t a, int64_t b, int64_t cap, int64_t *out)
{
    if (a < 0 || b < 0) return false;
    if (a != 0 && b > cap / a) return false;
    *out = a * b;
    return true;
}

tt_status tt_ds_create(tt_dataset **out, int64_t n, const tt_shape *input_shape, tt_target_kind tk,
                       const tt_shape *target_shape, bool resident, const char *what)
{
    *out = NULL;
    const tt_shape scalar = {.ndim = 1, .dims = {1}};
    const tt_shape *ts = tk == TT_TARGET_LABEL ? &scalar : target_shape;
    int64_t in_numel = tt_shape_numel(input_shape), tg_numel = tt_shape_numel(ts);
    int64_t in_bytes = 0, tg_bytes = 0;
    if (n < 1 || in_numel < 1 || tg_numel < 1)
        return tt_fail(TT_ERR_FORMAT, "%s: no samples, or an empty sample shape", what);
    /* What stays in memory must fit the cap: labels always, the rest unless streamed. */
    int64_t cap = TT_TENSOR_MAX_BYTES;
    bool tg_resident = tk == TT_TARGET_LABEL || resident;
    if ((tg_resident && !mul_ok(n, tg_numel * 4, cap, &tg_bytes)) ||
        (resident && (!mul_ok(n, in_numel * 4, cap, &in_bytes) || in_bytes > cap - tg_bytes)))
        return tt_fail(TT_ERR_NOMEM,
                       "%s: %" PRId64 " samples of %" PRId64 " inputs need more than the "
                       "%" PRId64 "-byte cap as float32",
                       what, n, in_numel, (int64_t)TT_TENSOR_MAX_BYTES);
    tt_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) return tt_fail(TT_ERR_NOMEM, "%s: out of memory", what);
    ds->n = n;
    ds->input_shape = *input_shape;
    ds->input_numel = in_numel;
    ds->target_kind = tk;
    ds->target_shape = *ts;
    ds->target_numel = tg_numel;
    bool ok = true;
    if (tk == TT_TARGET_LABEL) {
        ds->labels = malloc((size_t)n * sizeof *ds->labels);
        ok = ds->labels != NULL;
    }
    if (resident) {
        ds->inputs = malloc((size_t)in_bytes);
        ok = ok && ds->inputs;
        if (tk == TT_TARGET_FLOAT) {
            ds->targets = malloc((size_t)tg_bytes);
            ok = ok && ds->targets;
        }
    }
    if (!ok) {
        tt_dataset_free(ds);
        return tt_fail(TT_ERR_NOMEM, "%s: out of memory for %" PRId64 " samples", what, n);
    }
    *out = ds;
    return TT_OK;
}

void tt_dataset_free(tt_dataset *ds)
{
    if (!ds) return;
    free(ds->inputs);
    free(ds->labels);
    free(ds->targets);
    free(ds->rows);
    if (ds->stream) tt_ds_stream_release(ds->stream);
    free(ds);
}

tt_status tt_ds_sample_shape(int rank, const int64_t *dims, const tt_shape *want, const char *path,
                             const char *what, tt_shape *out)
{
    tt_shape s = {0};
    switch (rank) {
    case 1:
        s.ndim = 1, s.dims[0] = 1;
        break;
    case 2:
        s.ndim = 1, s.dims[0] = dims[1];
        break;
    case 3:
        s.ndim = 3, s.dims[0] = 1, s.dims[1] = dims[1], s.dims[2] = dims[2];
        break;
    case 4:
        s.ndim = 3, s.dims[0] = dims[1], s.dims[1] = dims[2], s.dims[2] = dims[3];
        break;
    default:
        return tt_fail(TT_ERR_FORMAT,
                       "%s: the %s array has rank %d; it must be [N], [N, F], [N, H, W] or "
                       "[N, C, H, W]",
                       path, what, rank);
    }
    for (int i = 0; i < s.ndim; i++)
        if (s.dims[i] < 1)
            return tt_fail(TT_ERR_FORMAT, "%s: the %s array has an empty dimension", path, what);
    if (want) {
        char a[64], b[64];
        int64_t have = tt_shape_numel(&s), need = tt_shape_numel(want);
        if (have != need)
            return tt_fail(TT_ERR_SHAPE,
                           "%s: %s samples are %s (%" PRId64 " values) but model.input is %s "
                           "(%" PRId64 " values)",
                           path, what, tt_shape_str(&s, a, sizeof a), have,
                           tt_shape_str(want, b, sizeof b), need);
        s = *want;
    }
    *out = s;
    return TT_OK;
}

tt_status tt_ds_check_finite(const float *x, int64_t n_samples, int64_t per_sample,
                             int64_t first_sample, const char *path, const char *what)
{
    for (int64_t i = 0; i < n_samples; i++) {
        const float *p = x + i * per_sample;
        for (int64_t j = 0; j < per_sample; j++)
            if (!isfinite(p[j]))
                return tt_fail(TT_ERR_NUMERIC,
                               "%s: sample %" PRId64 " has %s in its %s (element %" PRId64
                               "); remove or repair it",
                               path, first_sample + i, isnan(p[j]) ? "NaN" : "Inf", what, j);
    }
    return TT_OK;
}

tt_status tt_ds_put_label(tt_dataset *ds, int64_t i, int64_t v, const char *path)
{
    if (v < 0 || v >= TT_DATASET_MAX_CLASSES)
        return tt_fail(TT_ERR_FORMAT,
                       "%s: sample %" PRId64 " has label %" PRId64
                       "; class labels must be integers in 0..%d",
                       path, i, v, TT_DATASET_MAX_CLASSES - 1);
    ds->labels[i] = (int32_t)v;
    return TT_OK;
}

static tt_status labels_below(const tt_dataset *ds, int64_t n_outputs, const char *path);

tt_status tt_ds_finish_labels(tt_dataset *ds, int fixed_classes, int64_t n_outputs,
                              const char *path)
{
    int32_t max = 0;
    int64_t at = 0;
    for (int64_t i = 0; i < ds->n; i++)
        if (ds->labels[i] > max) max = ds->labels[i], at = i;
    if (fixed_classes > 0 && max >= fixed_classes)
        return tt_fail(TT_ERR_FORMAT,
                       "%s: sample %" PRId64 " has label %d, outside 0..%d (the data set has %d "
                       "classes); the file is corrupt",
                       path, at, (int)max, fixed_classes - 1, fixed_classes);
    ds->n_classes = fixed_classes > 0 ? fixed_classes : max + 1;
    if (n_outputs > 0) {
        TT_CHECK(labels_below(ds, n_outputs, path));
        ds->n_classes =
            (int)(n_outputs < TT_DATASET_MAX_CLASSES ? n_outputs : TT_DATASET_MAX_CLASSES);
    }
    return TT_OK;
}

tt_status tt_ds_check_target_size(const tt_dataset *ds, int64_t n_outputs, const char *path)
{
    if (n_outputs > 0 && ds->target_numel != n_outputs) {
        char a[64];
        return tt_fail(TT_ERR_SHAPE,
                       "%s: targets are %s per sample (%" PRId64 " values) but the model "
                       "outputs %" PRId64 " values per sample",
                       path, tt_shape_str(&ds->target_shape, a, sizeof a), ds->target_numel,
                       n_outputs);
    }
    return TT_OK;
}

static tt_status labels_below(const tt_dataset *ds, int64_t n_outputs, const char *path)
{
    if (n_outputs > TT_DATASET_MAX_CLASSES) n_outputs = TT_DATASET_MAX_CLASSES;
    for (int64_t i = 0; i < ds->n; i++)
        if (ds->labels[i] >= n_outputs)
            return tt_fail(TT_ERR_SHAPE,
                           "%s: sample %" PRId64 " has label %d but the model has %" PRId64
                           " outputs (classes 0..%" PRId64 "); widen the last layer or fix "
                           "the labels",
                           path, i, (int)ds->labels[i], n_outputs, n_outputs - 1);
    return TT_OK;
}

tt_status tt_dataset_check_outputs(const tt_dataset *ds, int64_t n_outputs)
{
    TT_CHECK_NULL(ds, "tt_dataset_check_outputs");
    /* The targets file when there is one (idx, npy, fashion_mnist), else the only file. */
    const char *path = ds->n_sources ? ds->sources[ds->n_sources - 1].path : "data set";
    if (ds->target_kind == TT_TARGET_FLOAT) return tt_ds_check_target_size(ds, n_outputs, path);
    return labels_below(ds, n_outputs, path);
}

/* ---------------------------------------------------------------------------------------- */

tt_status tt_dataset_load(const tt_data_config *cfg, tt_task task, const tt_shape *sample_shape,
                          int64_t n_outputs, bool train_split, uint64_t seed, tt_dataset **out)
{
    TT_CHECK_NULL(out, "tt_dataset_load");
    *out = NULL;
    TT_CHECK_NULL(cfg, "tt_dataset_load");
    if (sample_shape &&
        (sample_shape->ndim < 1 || sample_shape->ndim > 3 || tt_shape_numel(sample_shape) < 1))
        return tt_fail(TT_ERR_INVALID_ARG,
                       "tt_dataset_load: the sample shape must be [F] or [C, H, W] with "
                       "positive sizes");
    const tt_data_files *files = train_split ? &cfg->train : &cfg->test;
    switch (cfg->kind) {
    case TT_DATA_FASHION_MNIST:
    case TT_DATA_FASHION_DENOISE:
    case TT_DATA_FASHION_QUALITY:
        return tt_ds_load_fashion(cfg->dir, cfg->kind, cfg->noise_std, cfg->blur, task,
                                  sample_shape, n_outputs, train_split, seed, out);
    case TT_DATA_SYNTHETIC:
        return tt_ds_load_synthetic(cfg->samples, task, sample_shape, n_outputs, train_split, seed,
                                    out);
    case TT_DATA_IDX:
    case TT_DATA_NPY:
    case TT_DATA_HDF5:
    case TT_DATA_CSV:
    case TT_DATA_NPZ:
        break;
    default:
        return tt_fail(TT_ERR_INVALID_ARG, "tt_dataset_load: unknown data.kind %d", (int)cfg->kind);
    }
    if (!files->present) {
        if (train_split)
            return tt_fail(TT_ERR_INVALID_ARG, "data.train is required for data.kind %s",
                           tt_data_kind_name(cfg->kind));
        return TT_OK; /* no test set */
    }
    switch (cfg->kind) {
    case TT_DATA_IDX:
        return tt_ds_load_idx(files->inputs, files->targets, task, sample_shape, n_outputs, out);
    case TT_DATA_NPY:
        return tt_ds_load_npy(files->inputs, files->targets, task, sample_shape, n_outputs, out);
    case TT_DATA_NPZ:
        return tt_ds_load_npz(files->file, files->inputs, files->targets, task, sample_shape,
                              n_outputs, out);
    case TT_DATA_HDF5:
        return tt_ds_load_hdf5(files->file, files->inputs, files->targets, task, sample_shape,
                               n_outputs, 0, out);
    default:
        return tt_ds_load_csv(files->file, files->target_column, task, sample_shape, n_outputs,
                              out);
    }
}

/* ---------------------------------------------------------------------------------------- */

/* A new data set holding samples idx[0..k) of ds, in that order. */
static tt_status subset(const tt_dataset *ds, const int64_t *idx, int64_t k, tt_dataset **out)
{
    bool streamed = ds->stream != NULL;
    tt_dataset *d;
    TT_CHECK(tt_ds_create(&d, k, &ds->input_shape, ds->target_kind, &ds->target_shape, !streamed,
                          "tt_dataset_split"));
    d->n_classes = ds->n_classes;
    d->n_norm = ds->n_norm;
    memcpy(d->norm_mean, ds->norm_mean, sizeof d->norm_mean);
    memcpy(d->norm_std, ds->norm_std, sizeof d->norm_std);
    d->n_sources = ds->n_sources;
    memcpy(d->sources, ds->sources, sizeof d->sources);
    if (streamed) {
        d->rows = malloc((size_t)k * sizeof *d->rows);
        if (!d->rows) {
            tt_dataset_free(d);
            return tt_fail(TT_ERR_NOMEM, "tt_dataset_split: out of memory");
        }
        d->stream = ds->stream;
        tt_ds_stream_retain(d->stream);
    }
    size_t in_sz = (size_t)ds->input_numel * sizeof(float);
    size_t tg_sz = (size_t)ds->target_numel * sizeof(float);
    for (int64_t j = 0; j < k; j++) {
        int64_t i = idx[j];
        if (ds->labels) d->labels[j] = ds->labels[i];
        if (streamed) {
            d->rows[j] = ds->rows[i];
            continue;
        }
        memcpy(d->inputs + j * ds->input_numel, ds->inputs + i * ds->input_numel, in_sz);
        if (ds->targets)
            memcpy(d->targets + j * ds->target_numel, ds->targets + i * ds->target_numel, tg_sz);
    }
    *out = d;
    return TT_OK;
}

/* Mark k of the m indices at pool (partial Fisher-Yates) in mark. */
static void draw(int64_t *pool, int64_t m, int64_t k, tt_rng *rng, unsigned char *mark)
{
    for (int64_t j = 0; j < k; j++) {
        int64_t r = j + (int64_t)tt_ds_below(rng, (uint64_t)(m - j));
        int64_t t = pool[j];
        pool[j] = pool[r], pool[r] = t;
        mark[pool[j]] = 1;
    }
}

tt_status tt_ds_choose(const tt_dataset *ds, int64_t k, tt_rng *rng, unsigned char *mark)
{
    int64_t n = ds->n;
    int64_t *pool = malloc((size_t)n * sizeof *pool);
    if (!pool) return tt_fail(TT_ERR_NOMEM, "choosing %" PRId64 " samples: out of memory", k);
    if (ds->target_kind != TT_TARGET_LABEL) {
        for (int64_t i = 0; i < n; i++) pool[i] = i;
        draw(pool, n, k, rng, mark);
        free(pool);
        return TT_OK;
    }
    int nc = ds->n_classes;
    int64_t *count = calloc((size_t)nc, sizeof *count), *quota = calloc((size_t)nc, sizeof *quota);
    int64_t *rem = calloc((size_t)nc, sizeof *rem);
    if (!count || !quota || !rem) {
        free(pool), free(count), free(quota), free(rem);
        return tt_fail(TT_ERR_NOMEM, "choosing %" PRId64 " samples: out of memory", k);
    }
    for (int64_t i = 0; i < n; i++) count[ds->labels[i]]++;
    /* Largest remainder: each class gets floor(count * k / n), then the classes with the
     * largest fractional parts (lowest class first on ties) one more until k is reached. */
    int64_t given = 0;
    for (int c = 0; c < nc; c++) {
        /* count * k fits: both are below 2^34 (the data cap). */
        quota[c] = count[c] * k / n;
        rem[c] = count[c] * k % n;
        given += quota[c];
    }
    while (given < k) {
        int best = -1;
        for (int c = 0; c < nc; c++)
            if (rem[c] > 0 && (best < 0 || rem[c] > rem[best])) best = c;
        quota[best]++, rem[best] = 0, given++;
    }
    for (int c = 0; c < nc; c++) {
        if (quota[c] == 0) continue;
        int64_t m = 0;
        for (int64_t i = 0; i < n; i++)
            if (ds->labels[i] == c) pool[m++] = i;
        draw(pool, m, quota[c], rng, mark);
    }
    free(pool), free(count), free(quota), free(rem);
    return TT_OK;
}

tt_status tt_dataset_split(const tt_dataset *ds, float val_fraction, uint64_t seed,
                           tt_dataset **train, tt_dataset **val)
{
    TT_CHECK_NULL(train, "tt_dataset_split");
    TT_CHECK_NULL(val, "tt_dataset_split");
    *train = *val = NULL;
    TT_CHECK_NULL(ds, "tt_dataset_split");
    if (!(val_fraction >= 0.0f && val_fraction < 1.0f))
        return tt_fail(TT_ERR_INVALID_ARG,
                       "tt_dataset_split: the validation fraction must be in [0, 1), got %g",
                       (double)val_fraction);
    int64_t n = ds->n;
    int64_t n_val = (int64_t)llround((double)n * (double)val_fraction);
    if (n_val >= n)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "tt_dataset_split: holding out %g of %" PRId64 " samples leaves none to "
                       "train on",
                       (double)val_fraction, n);
    unsigned char *is_val = calloc((size_t)n, 1);
    int64_t *idx = calloc((size_t)n, sizeof *idx);
    if (!is_val || !idx) {
        free(is_val), free(idx);
        return tt_fail(TT_ERR_NOMEM, "tt_dataset_split: out of memory");
    }
    tt_rng rng;
    tt_rng_seed(&rng, tt_ds_mix(seed ^ SPLIT_PURPOSE), 0);
    tt_status s = n_val > 0 ? tt_ds_choose(ds, n_val, &rng, is_val) : TT_OK;
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++)
        if (!is_val[i]) idx[k++] = i;
    if (s == TT_OK) s = subset(ds, idx, k, train);
    if (s == TT_OK && n_val > 0) {
        k = 0;
        for (int64_t i = 0; i < n; i++)
            if (is_val[i]) idx[k++] = i;
        s = subset(ds, idx, k, val);
    }
    free(is_val), free(idx);
    if (s != TT_OK) {
        tt_dataset_free(*train);
        *train = NULL;
    }
    return s;
}

/* ---------------------------------------------------------------------------------------- */

void tt_ds_normalize_rows(const tt_dataset *ds, float *x, int64_t k)
{
    if (ds->n_norm <= 0) return;
    int64_t per = ds->input_numel;
    int64_t ch_size = per / ds->n_norm; /* elements sharing one mean/std */
    int64_t total = k * per;
#pragma omp parallel for if (total > 65536)
    for (int64_t i = 0; i < k; i++) {
        float *p = x + i * per;
        for (int c = 0; c < ds->n_norm; c++) {
            float m = ds->norm_mean[c], sd = ds->norm_std[c];
            float *q = p + c * ch_size;
            for (int64_t j = 0; j < ch_size; j++) q[j] = (q[j] - m) / sd;
        }
    }
}

tt_status tt_dataset_normalize_inputs(tt_dataset *ds, const float *mean, const float *std, int n)
{
    TT_CHECK_NULL(ds, "tt_dataset_normalize_inputs");
    TT_CHECK_NULL(mean, "tt_dataset_normalize_inputs");
    TT_CHECK_NULL(std, "tt_dataset_normalize_inputs");
    if (ds->n_norm > 0)
        return tt_fail(TT_ERR_STATE, "tt_dataset_normalize_inputs: the data set is already "
                                     "normalised");
    int64_t channels = ds->input_shape.dims[0];
    if (n != 1 && n != channels) {
        char a[64];
        return tt_fail(TT_ERR_SHAPE,
                       "data.normalize: %d mean/std entries for samples of shape %s; give 1 "
                       "(all channels) or %" PRId64 " (one per channel)",
                       n, tt_shape_str(&ds->input_shape, a, sizeof a), channels);
    }
    if (n > TT_DATASET_MAX_CHANNELS)
        return tt_fail(TT_ERR_UNSUPPORTED, "data.normalize: at most %d channels, got %d",
                       TT_DATASET_MAX_CHANNELS, n);
    for (int c = 0; c < n; c++)
        if (!isfinite(mean[c]) || !isfinite(std[c]) || !(std[c] > 0.0f))
            return tt_fail(TT_ERR_INVALID_ARG,
                           "data.normalize: channel %d has mean %g, std %g; both must be finite "
                           "and std > 0",
                           c, (double)mean[c], (double)std[c]);
    ds->n_norm = n;
    memcpy(ds->norm_mean, mean, (size_t)n * sizeof *mean);
    memcpy(ds->norm_std, std, (size_t)n * sizeof *std);
    /* Streamed samples are normalised as the batcher reads them. */
    if (ds->inputs) tt_ds_normalize_rows(ds, ds->inputs, ds->n);
    return TT_OK;
}

void tt_dataset_truncate(tt_dataset *ds, int64_t n)
{
    /* The arrays (and a stream's row table) are indexed by sample, so a prefix is a shorter n. */
    if (ds && n >= 0 && n < ds->n) ds->n = n;
}
