/* The batcher: epoch coverage, seeded and resumable order, partial last batch, crop/flip
 * against an independent reference, and streamed HDF5 batches equal to resident ones. */
#include "testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include "data/dataset_internal.h"
#include "tinytrain/dataset.h"

/* n samples of shape [1] with input i and label i % 7. */
static tt_dataset *counting(int64_t n)
{
    tt_shape one = {.ndim = 1, .dims = {1}};
    tt_dataset *ds;
    TT_ASSERT_OK(tt_ds_create(&ds, n, &one, TT_TARGET_LABEL, NULL, true, "test"));
    for (int64_t i = 0; i < n; i++) ds->inputs[i] = (float)i, ds->labels[i] = (int32_t)(i % 7);
    TT_ASSERT_OK(tt_ds_finish_labels(ds, 0, 0, "test"));
    return ds;
}

/* One epoch's sample order (inputs are sample indices); checks labels and batch sizes. */
static void epoch_order(tt_batcher *b, int64_t n, int64_t batch, int64_t *order)
{
    float x[64];
    int32_t y[64];
    int64_t k, got = 0, batches = 0;
    while (tt_batcher_next(b, x, y, &k)) {
        int64_t want = n - got < batch ? n - got : batch;
        assert_int_equal(k, want); /* full batches, then the partial rest */
        for (int64_t j = 0; j < k; j++) {
            order[got + j] = (int64_t)x[j];
            assert_int_equal(y[j], order[got + j] % 7);
        }
        got += k;
        batches++;
    }
    assert_int_equal(k, 0);
    assert_int_equal(tt_batcher_status(b), TT_OK);
    assert_int_equal(got, n);
    assert_int_equal(batches, tt_batcher_num_batches(b));
}

static void covers_each_sample_once(void **state)
{
    (void)state;
    const int64_t n = 103, batch = 10;
    tt_dataset *ds = counting(n);
    tt_batcher *b;
    TT_ASSERT_OK(tt_batcher_create(ds, batch, true, NULL, 42, &b));
    assert_int_equal(tt_batcher_num_batches(b), 11);
    int64_t order[103];
    for (int epoch = 0; epoch < 3; epoch++) {
        tt_batcher_reset(b, epoch);
        epoch_order(b, n, batch, order);
        int seen[103] = {0};
        for (int64_t i = 0; i < n; i++) seen[order[i]]++;
        for (int64_t i = 0; i < n; i++) assert_int_equal(seen[i], 1);
    }
    /* Without shuffling: file order. */
    tt_batcher_free(b);
    TT_ASSERT_OK(tt_batcher_create(ds, batch, false, NULL, 42, &b));
    epoch_order(b, n, batch, order);
    for (int64_t i = 0; i < n; i++) assert_int_equal(order[i], i);
    tt_batcher_free(b);
    tt_dataset_free(ds);
}

static void seeded_resumable_order(void **state)
{
    (void)state;
    const int64_t n = 50, batch = 8;
    tt_dataset *ds = counting(n);
    tt_batcher *a, *b, *c;
    TT_ASSERT_OK(tt_batcher_create(ds, batch, true, NULL, 9, &a));
    TT_ASSERT_OK(tt_batcher_create(ds, batch, true, NULL, 9, &b));
    TT_ASSERT_OK(tt_batcher_create(ds, batch, true, NULL, 10, &c));
    int64_t e0[50], e1[50], e2[50], r2[50], other[50];
    epoch_order(a, n, batch, e0);
    tt_batcher_reset(a, 1);
    epoch_order(a, n, batch, e1);
    tt_batcher_reset(a, 2);
    epoch_order(a, n, batch, e2);
    /* A fresh batcher jumping straight to epoch 2 (a resumed run) sees the same order. */
    tt_batcher_reset(b, 2);
    epoch_order(b, n, batch, r2);
    assert_memory_equal(e2, r2, sizeof e2);
    /* Different epochs and different seeds give different orders. */
    assert_memory_not_equal(e0, e1, sizeof e0);
    assert_memory_not_equal(e1, e2, sizeof e1);
    epoch_order(c, n, batch, other);
    assert_memory_not_equal(e0, other, sizeof e0);
    /* Mid-epoch resume: seek to batch 3 of epoch 2. */
    tt_batcher_reset(b, 2);
    tt_batcher_seek(b, 3);
    float x[8];
    int64_t k;
    assert_true(tt_batcher_next(b, x, NULL, &k));
    assert_int_equal(k, 8);
    for (int j = 0; j < 8; j++) assert_int_equal((int64_t)x[j], e2[24 + j]);
    tt_batcher_seek(b, 6); /* the partial last batch: samples 48, 49 */
    assert_true(tt_batcher_next(b, x, NULL, &k));
    assert_int_equal(k, 2);
    assert_false(tt_batcher_next(b, x, NULL, &k));
    tt_batcher_free(a);
    tt_batcher_free(b);
    tt_batcher_free(c);
    tt_dataset_free(ds);
}

static void partial_last_batch(void **state)
{
    (void)state;
    tt_dataset *ds = counting(10);
    tt_batcher *b;
    TT_ASSERT_OK(tt_batcher_create(ds, 4, false, NULL, 0, &b));
    float x[4];
    int32_t y[4];
    int64_t k, sizes[3];
    for (int i = 0; i < 3; i++) {
        assert_true(tt_batcher_next(b, x, y, &k));
        sizes[i] = k;
    }
    assert_int_equal(sizes[0], 4);
    assert_int_equal(sizes[1], 4);
    assert_int_equal(sizes[2], 2);
    assert_true(x[0] == 8.0f && x[1] == 9.0f && y[1] == 2);
    assert_false(tt_batcher_next(b, x, y, &k));
    assert_int_equal(k, 0);
    assert_false(tt_batcher_next(b, x, y, &k)); /* stays over until reset */
    tt_batcher_reset(b, 1);
    assert_true(tt_batcher_next(b, x, y, &k));
    assert_true(x[0] == 0.0f);
    tt_batcher_free(b);
    /* A batch larger than the data set: one partial batch. */
    TT_ASSERT_OK(tt_batcher_create(ds, 1000, true, NULL, 0, &b));
    assert_int_equal(tt_batcher_num_batches(b), 1);
    float big[10];
    assert_true(tt_batcher_next(b, big, NULL, &k));
    assert_int_equal(k, 10);
    tt_batcher_free(b);
    tt_dataset_free(ds);
}

/* Reference crop-then-flip, written from the definition: pad the image with `fill` by p on
 * every side, take the h x w window at (dy, dx), mirror it left-right if flip. */
static void reference(const float *src, float *dst, int h, int w, int p, int dy, int dx, bool flip,
                      float fill)
{
    float padded[16][16];
    for (int y = 0; y < h + 2 * p; y++)
        for (int x = 0; x < w + 2 * p; x++) {
            int sy = y - p, sx = x - p;
            padded[y][x] = sy >= 0 && sy < h && sx >= 0 && sx < w ? src[sy * w + sx] : fill;
        }
    float crop[16][16];
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) crop[y][x] = padded[y + dy][x + dx];
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) dst[y * w + x] = crop[y][flip ? w - 1 - x : x];
}

static void augment_sample_exact(void **state)
{
    (void)state;
    const float img[6] = {1, 2, 3, 4, 5, 6}; /* 2 x 3 */
    float out[6], ref[6];
    /* dy = dx = 0 with pad 1: shifted down-right by one, zeros entering. */
    tt_augment_sample(img, out, 1, 2, 3, 1, 0, 0, false, NULL);
    const float shifted[6] = {0, 0, 0, 0, 1, 2};
    assert_memory_equal(out, shifted, sizeof out);
    /* Centre window, flipped: the mirror image. */
    tt_augment_sample(img, out, 1, 2, 3, 1, 1, 1, true, NULL);
    const float mirrored[6] = {3, 2, 1, 6, 5, 4};
    assert_memory_equal(out, mirrored, sizeof out);
    /* Every offset and flip against the reference, with a pad value. */
    const float fill = -0.5f;
    for (int dy = 0; dy <= 4; dy++)
        for (int dx = 0; dx <= 4; dx++)
            for (int f = 0; f < 2; f++) {
                tt_augment_sample(img, out, 1, 2, 3, 2, dy, dx, f, &fill);
                reference(img, ref, 2, 3, 2, dy, dx, f, fill);
                assert_memory_equal(out, ref, sizeof out);
            }
}

/* Through the batcher: every augmented sample is one of the 18 crops/flips of a 3 x 3 image
 * with padding 1, the padding is the normalised value of a 0 pixel, image-to-image targets get
 * the same transform, and over 300 epochs all 18 variants occur. */
static void batcher_crop_flip(void **state)
{
    (void)state;
    tt_shape s = {.ndim = 3, .dims = {1, 3, 3}};
    tt_dataset *ds;
    TT_ASSERT_OK(tt_ds_create(&ds, 1, &s, TT_TARGET_FLOAT, &s, true, "test"));
    for (int i = 0; i < 9; i++) ds->inputs[i] = (float)(i + 1), ds->targets[i] = (float)(10 * i);
    const float mean = 1.0f, std = 2.0f;
    TT_ASSERT_OK(tt_dataset_normalize_inputs(ds, &mean, &std, 1));
    float norm[9];
    memcpy(norm, ds->inputs, sizeof norm);
    const float fill = (0.0f - mean) / std;
    tt_augment aug = {.crop_padding = 1, .hflip = true};
    tt_batcher *b;
    TT_ASSERT_OK(tt_batcher_create(ds, 4, true, &aug, 3, &b));
    int hits[3][3][2] = {{{0}}};
    for (int epoch = 0; epoch < 300; epoch++) {
        tt_batcher_reset(b, epoch);
        float x[9], y[9];
        int64_t k;
        assert_true(tt_batcher_next(b, x, y, &k));
        assert_int_equal(k, 1);
        int found = 0;
        for (int dy = 0; dy < 3; dy++)
            for (int dx = 0; dx < 3; dx++)
                for (int f = 0; f < 2; f++) {
                    float rx[9], ry[9];
                    reference(norm, rx, 3, 3, 1, dy, dx, f, fill);
                    reference(ds->targets, ry, 3, 3, 1, dy, dx, f, 0.0f);
                    if (memcmp(rx, x, sizeof rx) == 0 && memcmp(ry, y, sizeof ry) == 0) {
                        hits[dy][dx][f]++;
                        found++;
                    }
                }
        assert_int_equal(found, 1); /* the 18 variants of this image are all distinct */
    }
    for (int dy = 0; dy < 3; dy++)
        for (int dx = 0; dx < 3; dx++)
            for (int f = 0; f < 2; f++) assert_true(hits[dy][dx][f] > 0);
    tt_batcher_free(b);
    /* Augmentation needs images. */
    tt_dataset *flat = counting(4);
    assert_int_equal(tt_batcher_create(flat, 2, true, &aug, 0, &b), TT_ERR_SHAPE);
    assert_non_null(strstr(tt_last_error(), "[C, H, W]"));
    assert_int_equal(tt_batcher_create(flat, 0, true, NULL, 0, &b), TT_ERR_INVALID_ARG);
    tt_dataset_free(flat);
    tt_dataset_free(ds);
}

/* All batches of `epochs` epochs into x (n_x floats) and y. */
static void run_epochs(tt_batcher *b, int epochs, float *x, void *y, size_t y_size, int64_t x_per,
                       int64_t *total)
{
    *total = 0;
    float *bx = malloc((size_t)(7 * x_per) * sizeof *bx);
    unsigned char *by = malloc(7 * y_size);
    assert_non_null(bx);
    assert_non_null(by);
    for (int e = 0; e < epochs; e++) {
        tt_batcher_reset(b, e);
        int64_t k;
        while (tt_batcher_next(b, bx, by, &k)) {
            memcpy(x + *total * x_per, bx, (size_t)(k * x_per) * sizeof *bx);
            memcpy((unsigned char *)y + (size_t)*total * y_size, by, (size_t)k * y_size);
            *total += k;
        }
        assert_int_equal(tt_batcher_status(b), TT_OK);
    }
    free(bx);
    free(by);
}

/* Streamed HDF5 batches are bit-identical to resident ones: shuffled, augmented, normalised,
 * after a split, for labels and for image targets. */
static void streamed_equals_resident(void **state)
{
    (void)state;
    char h5[512];
    tt_test_fixture("data/small.h5", h5, sizeof h5);
    const char *targets[2] = {"grp/lab", "grp/clean"};
    for (int t = 0; t < 2; t++) {
        tt_task task = t ? TT_TASK_IMAGE_TO_IMAGE : TT_TASK_CLASSIFICATION;
        tt_dataset *full[2], *tr[2], *va[2];
        for (int m = 0; m < 2; m++) {
            TT_ASSERT_OK(
                tt_dataset_load_hdf5(h5, "grp/img", targets[t], task, NULL, 0, m == 1, &full[m]));
            const float mean = 0.25f, std = 0.5f;
            TT_ASSERT_OK(tt_dataset_normalize_inputs(full[m], &mean, &std, 1));
            TT_ASSERT_OK(tt_dataset_split(full[m], 0.2f, 11, &tr[m], &va[m]));
        }
        assert_non_null(tr[1]->stream);
        assert_int_equal(tr[0]->n, 40);
        size_t ysz = t ? 36 * sizeof(float) : sizeof(int32_t);
        tt_augment aug = {.crop_padding = 2, .hflip = true};
        static float x[2][3 * 50 * 36], y[2][3 * 50 * 36];
        int64_t total[2];
        for (int m = 0; m < 2; m++) {
            tt_batcher *b;
            TT_ASSERT_OK(tt_batcher_create(tr[m], 7, true, &aug, 5, &b));
            run_epochs(b, 3, x[m], y[m], ysz, 36, &total[m]);
            tt_batcher_free(b);
            TT_ASSERT_OK(tt_batcher_create(va[m], 7, false, NULL, 5, &b));
            int64_t vt;
            run_epochs(b, 1, x[m] + total[m] * 36, (unsigned char *)y[m] + total[m] * ysz, ysz, 36,
                       &vt);
            total[m] += vt;
            tt_batcher_free(b);
        }
        assert_int_equal(total[0], 3 * 40 + 10);
        assert_int_equal(total[1], total[0]);
        assert_memory_equal(x[0], x[1], (size_t)total[0] * 36 * sizeof(float));
        assert_memory_equal(y[0], y[1], (size_t)total[0] * ysz);
        for (int m = 0; m < 2; m++) {
            tt_dataset_free(full[m]);
            tt_dataset_free(tr[m]);
            tt_dataset_free(va[m]);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(covers_each_sample_once), cmocka_unit_test(seeded_resumable_order),
        cmocka_unit_test(partial_last_batch),      cmocka_unit_test(augment_sample_exact),
        cmocka_unit_test(batcher_crop_flip),       cmocka_unit_test(streamed_equals_resident),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
