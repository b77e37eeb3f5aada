/* The batcher: per-epoch shuffling, random crop and horizontal flip, all pure functions of
 * (seed, epoch, sample index), so batches do not depend on what happened in earlier epochs, on
 * the thread count, or on whether the run was resumed. Every buffer is allocated at creation;
 * next() allocates nothing (HDF5 may, for a streamed data set). */
#include <stdlib.h>
#include <string.h>
#include "data/dataset_internal.h"

#define SALT_SHUFFLE 0x73687566666c6531ULL /* "shuffle1" */
#define SALT_AUGMENT 0x6175676d656e7431ULL /* "augment1" */

struct tt_batcher {
    const tt_dataset *ds;
    int64_t batch;
    bool shuffle;
    tt_augment aug;
    bool augment;
    bool augment_targets; /* image-to-image: targets are images of the input's shape */
    uint64_t seed;
    int64_t epoch;
    int64_t pos; /* next position in perm */
    int64_t *perm;
    float pad_value[TT_DATASET_MAX_CHANNELS];
    tt_status status;
    /* Streamed data sets: the batch's (row, slot) pairs sorted by row, and staging. */
    int64_t (*pairs)[2];
    int64_t *rows;
    float *stage_x, *stage_y;
};

void tt_augment_sample(const float *src, float *dst, int64_t c, int64_t h, int64_t w, int pad,
                       int dy, int dx, bool flip, const float *pad_value)
{
    for (int64_t ch = 0; ch < c; ch++) {
        float fill = pad_value ? pad_value[ch] : 0.0f;
        const float *s = src + ch * h * w;
        float *d = dst + ch * h * w;
        for (int64_t y = 0; y < h; y++) {
            int64_t sy = y + dy - pad;
            float *drow = d + y * w;
            if (sy < 0 || sy >= h) {
                for (int64_t x = 0; x < w; x++) drow[x] = fill;
                continue;
            }
            const float *srow = s + sy * w;
            for (int64_t x = 0; x < w; x++) {
                int64_t sx = (flip ? w - 1 - x : x) + dx - pad;
                drow[x] = sx >= 0 && sx < w ? srow[sx] : fill;
            }
        }
    }
}

tt_status tt_batcher_create(const tt_dataset *ds, int64_t batch, bool shuffle,
                            const tt_augment *aug, uint64_t seed, tt_batcher **out)
{
    TT_CHECK_NULL(out, "tt_batcher_create");
    *out = NULL;
    TT_CHECK_NULL(ds, "tt_batcher_create");
    if (batch < 1)
        return tt_fail(TT_ERR_INVALID_ARG, "tt_batcher_create: batch size %lld must be >= 1",
                       (long long)batch);
    tt_augment a = aug ? *aug : (tt_augment){0};
    bool augment = a.crop_padding > 0 || a.hflip;
    if (a.crop_padding < 0 || a.crop_padding > 64)
        return tt_fail(TT_ERR_INVALID_ARG, "data.augment.crop_padding must be in 0..64, got %d",
                       a.crop_padding);
    if (augment && ds->input_shape.ndim != 3) {
        char s[64];
        return tt_fail(TT_ERR_SHAPE,
                       "data.augment needs image samples [C, H, W]; these samples are %s",
                       tt_shape_str(&ds->input_shape, s, sizeof s));
    }
    if (augment && ds->input_shape.dims[0] > TT_DATASET_MAX_CHANNELS)
        return tt_fail(TT_ERR_UNSUPPORTED, "data.augment: at most %d channels",
                       TT_DATASET_MAX_CHANNELS);
    tt_batcher *b = calloc(1, sizeof *b);
    if (!b) return tt_fail(TT_ERR_NOMEM, "tt_batcher_create: out of memory");
    b->ds = ds;
    b->batch = batch < ds->n ? batch : ds->n;
    b->shuffle = shuffle;
    b->aug = a;
    b->augment = augment;
    b->augment_targets = augment && ds->target_kind == TT_TARGET_FLOAT &&
                         tt_shape_equal(&ds->target_shape, &ds->input_shape);
    b->seed = seed;
    b->perm = malloc((size_t)ds->n * sizeof *b->perm);
    bool ok = b->perm != NULL;
    if (ds->stream) {
        int64_t k = b->batch;
        b->pairs = malloc((size_t)k * sizeof *b->pairs);
        b->rows = malloc((size_t)k * sizeof *b->rows);
        b->stage_x = malloc((size_t)(k * ds->input_numel) * sizeof(float));
        ok = ok && b->pairs && b->rows && b->stage_x;
        if (ds->target_kind == TT_TARGET_FLOAT) {
            b->stage_y = malloc((size_t)(k * ds->target_numel) * sizeof(float));
            ok = ok && b->stage_y;
        }
    }
    if (!ok) {
        tt_batcher_free(b);
        return tt_fail(TT_ERR_NOMEM, "tt_batcher_create: out of memory");
    }
    /* Crop padding is 0 in pixel space, i.e. (0 - mean) / std after normalisation, as when
     * torchvision pads before Normalize. */
    if (augment)
        for (int64_t c = 0; c < ds->input_shape.dims[0]; c++) {
            int k = ds->n_norm == 1 ? 0 : (int)c;
            b->pad_value[c] = ds->n_norm > 0 ? (0.0f - ds->norm_mean[k]) / ds->norm_std[k] : 0.0f;
        }
    tt_batcher_reset(b, 0);
    *out = b;
    return TT_OK;
}

void tt_batcher_free(tt_batcher *b)
{
    if (!b) return;
    free(b->perm);
    free(b->pairs);
    free(b->rows);
    free(b->stage_x);
    free(b->stage_y);
    free(b);
}

void tt_batcher_reset(tt_batcher *b, int64_t epoch)
{
    int64_t n = b->ds->n;
    b->epoch = epoch < 0 ? 0 : epoch;
    b->pos = 0;
    b->status = TT_OK;
    for (int64_t i = 0; i < n; i++) b->perm[i] = i;
    if (!b->shuffle) return;
    tt_rng r;
    tt_rng_seed(&r, tt_ds_mix(b->seed ^ SALT_SHUFFLE), (uint64_t)b->epoch);
    for (int64_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
        int64_t j = (int64_t)tt_ds_below(&r, (uint64_t)(i + 1));
        int64_t t = b->perm[i];
        b->perm[i] = b->perm[j], b->perm[j] = t;
    }
}

void tt_batcher_seek(tt_batcher *b, int64_t batch_index)
{
    int64_t p = batch_index < 0 ? 0 : batch_index * b->batch;
    b->pos = p < b->ds->n ? p : b->ds->n;
}

int64_t tt_batcher_num_batches(const tt_batcher *b)
{
    return (b->ds->n + b->batch - 1) / b->batch;
}

tt_status tt_batcher_status(const tt_batcher *b)
{
    return b->status;
}

/* Sample `idx`'s crop offsets and flip for this epoch. */
static void draw_augment(const tt_batcher *b, int64_t idx, int *dy, int *dx, bool *flip)
{
    tt_rng r;
    tt_rng_seed(&r, tt_ds_mix(b->seed ^ SALT_AUGMENT) ^ tt_ds_mix((uint64_t)b->epoch),
                (uint64_t)idx);
    int span = 2 * b->aug.crop_padding + 1;
    *dy = (int)tt_rng_below(&r, (uint32_t)span);
    *dx = (int)tt_rng_below(&r, (uint32_t)span);
    *flip = b->aug.hflip && (tt_rng_u32(&r) >> 31);
}

/* Copy (augmenting) one sample's inputs and float targets (either may be NULL) to dst_x, dst_y.
 * Image-to-image targets get the same crop and flip as their input (padded with 0). */
static void emit(const tt_batcher *b, int64_t idx, const float *src_x, float *dst_x,
                 const float *src_y, float *dst_y)
{
    const tt_dataset *ds = b->ds;
    const tt_shape *s = &ds->input_shape;
    if (!b->augment) {
        memcpy(dst_x, src_x, (size_t)ds->input_numel * sizeof *dst_x);
        if (dst_y) memcpy(dst_y, src_y, (size_t)ds->target_numel * sizeof *dst_y);
        return;
    }
    int dy, dx;
    bool flip;
    draw_augment(b, idx, &dy, &dx, &flip);
    tt_augment_sample(src_x, dst_x, s->dims[0], s->dims[1], s->dims[2], b->aug.crop_padding, dy, dx,
                      flip, b->pad_value);
    if (dst_y && b->augment_targets)
        tt_augment_sample(src_y, dst_y, s->dims[0], s->dims[1], s->dims[2], b->aug.crop_padding, dy,
                          dx, flip, NULL);
    else if (dst_y)
        memcpy(dst_y, src_y, (size_t)ds->target_numel * sizeof *dst_y);
}

/* In-place heap sort of (row, slot) pairs by row: no allocation, O(k log k). */
static void sift(int64_t (*a)[2], int64_t root, int64_t n)
{
    for (;;) {
        int64_t c = 2 * root + 1;
        if (c >= n) return;
        if (c + 1 < n && a[c + 1][0] > a[c][0]) c++;
        if (a[root][0] >= a[c][0]) return;
        int64_t t0 = a[root][0], t1 = a[root][1];
        a[root][0] = a[c][0], a[root][1] = a[c][1];
        a[c][0] = t0, a[c][1] = t1;
        root = c;
    }
}

static void sort_pairs(int64_t (*a)[2], int64_t n)
{
    for (int64_t i = n / 2 - 1; i >= 0; i--) sift(a, i, n);
    for (int64_t end = n - 1; end > 0; end--) {
        int64_t t0 = a[0][0], t1 = a[0][1];
        a[0][0] = a[end][0], a[0][1] = a[end][1];
        a[end][0] = t0, a[end][1] = t1;
        sift(a, 0, end);
    }
}

static bool next_streamed(tt_batcher *b, const int64_t *idx, int64_t k, float *x, void *y)
{
    const tt_dataset *ds = b->ds;
    for (int64_t j = 0; j < k; j++) b->pairs[j][0] = ds->rows[idx[j]], b->pairs[j][1] = j;
    sort_pairs(b->pairs, k);
    for (int64_t j = 0; j < k; j++) b->rows[j] = b->pairs[j][0];
    tt_status s = tt_ds_stream_read(ds->stream, false, b->rows, k, b->stage_x);
    if (s == TT_OK && y && ds->target_kind == TT_TARGET_FLOAT)
        s = tt_ds_stream_read(ds->stream, true, b->rows, k, b->stage_y);
    if (s != TT_OK) {
        b->status = s;
        return false;
    }
    tt_ds_normalize_rows(ds, b->stage_x, k);
    int64_t in = ds->input_numel, tn = ds->target_numel;
    bool fy = y && ds->target_kind == TT_TARGET_FLOAT;
    for (int64_t j = 0; j < k; j++) {
        int64_t slot = b->pairs[j][1];
        emit(b, idx[slot], b->stage_x + j * in, x + slot * in, fy ? b->stage_y + j * tn : NULL,
             fy ? (float *)y + slot * tn : NULL);
    }
    return true;
}

bool tt_batcher_next(tt_batcher *b, float *x, void *y, int64_t *n)
{
    const tt_dataset *ds = b->ds;
    if (n) *n = 0;
    if (b->status != TT_OK || b->pos >= ds->n) return false;
    if (!x) {
        b->status = tt_fail(TT_ERR_INVALID_ARG, "tt_batcher_next: 'x' is NULL");
        return false;
    }
    int64_t k = ds->n - b->pos < b->batch ? ds->n - b->pos : b->batch;
    const int64_t *idx = b->perm + b->pos;
    if (ds->labels && y)
        for (int64_t j = 0; j < k; j++) ((int32_t *)y)[j] = ds->labels[idx[j]];
    if (ds->stream) {
        if (!next_streamed(b, idx, k, x, y)) return false;
    } else {
        int64_t in = ds->input_numel, tn = ds->target_numel;
        bool fy = y && ds->targets;
#pragma omp parallel for if (k * in > 65536)
        for (int64_t j = 0; j < k; j++)
            emit(b, idx[j], ds->inputs + idx[j] * in, x + j * in,
                 fy ? ds->targets + idx[j] * tn : NULL, fy ? (float *)y + j * tn : NULL);
    }
    b->pos += k;
    if (n) *n = k;
    return true;
}
