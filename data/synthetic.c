/* The synthetic kind: a seeded, learnable problem in the model's input shape, for smoke tests
 * and CI runs that must not depend on downloaded data.
 *   classification: Gaussian blobs around K class centres uniform in [0, 1]^D; the noise std
 *     is 1/8 of the smallest distance between two centres, so a sample is 4 std from the
 *     boundary between its class and the nearest other one (Bayes error ~3e-5 per pair).
 *   regression: x ~ U[0, 1]^D, y = tanh(A (x - 0.5) sqrt(12 / D)) with A ~ N(0, 1), so each
 *     target's pre-activation has unit variance (tanh neither saturated nor linear).
 * The centres and A depend only on the seed; each sample on (seed, split, index). */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include "data/dataset_internal.h"

#define SYN_MAX_CLASSES      1024
#define SYN_MAX_PARAM_FLOATS ((int64_t)1 << 26)    /* centres or A */
#define SALT_PARAMS          0x73796e2d70617261ULL /* "syn-para" */
#define SALT_TRAIN           0x73796e2d74726169ULL /* "syn-trai" */
#define SALT_TEST            0x73796e2d74657374ULL /* "syn-test" */

static double min_center_distance(const float *c, int64_t k, int64_t d)
{
    double best = INFINITY;
    for (int64_t a = 0; a < k; a++)
        for (int64_t b = a + 1; b < k; b++) {
            double s = 0.0;
            for (int64_t j = 0; j < d; j++) {
                double t = (double)c[a * d + j] - (double)c[b * d + j];
                s += t * t;
            }
            if (s < best) best = s;
        }
    return sqrt(best);
}

tt_status tt_ds_load_synthetic(int64_t samples, tt_task task, const tt_shape *sample_shape,
                               int64_t n_outputs, bool train_split, uint64_t seed, tt_dataset **out)
{
    *out = NULL;
    if (!sample_shape)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "data.kind synthetic needs the model's input shape (model.input)");
    if (task == TT_TASK_IMAGE_TO_IMAGE)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "data.kind synthetic makes classification or regression data, not "
                       "image_to_image");
    if (samples < 1)
        return tt_fail(TT_ERR_INVALID_ARG, "data.samples must be >= 1, got %" PRId64, samples);
    bool cls = task == TT_TASK_CLASSIFICATION;
    int64_t k = n_outputs > 0 ? n_outputs : (cls ? 10 : 1);
    if (cls && (k < 2 || k > SYN_MAX_CLASSES))
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "data.kind synthetic: %" PRId64 " classes (the model's outputs); it "
                       "makes 2..%d",
                       k, SYN_MAX_CLASSES);
    int64_t d = tt_shape_numel(sample_shape);
    if (k > SYN_MAX_PARAM_FLOATS / d)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "data.kind synthetic: %" PRId64 " outputs x %" PRId64 " inputs is "
                       "too large a problem",
                       k, d);
    int64_t n = train_split ? samples : (samples + 3) / 4;
    tt_shape tg_shape = {.ndim = 1, .dims = {k}};
    tt_dataset *ds;
    TT_CHECK(tt_ds_create(&ds, n, sample_shape, cls ? TT_TARGET_LABEL : TT_TARGET_FLOAT, &tg_shape,
                          true, "synthetic data"));
    float *param = malloc((size_t)(k * d) * sizeof *param);
    if (!param) {
        tt_dataset_free(ds);
        return tt_fail(TT_ERR_NOMEM, "synthetic data: out of memory");
    }
    tt_rng r;
    tt_rng_seed(&r, tt_ds_mix(seed ^ SALT_PARAMS), 0);
    for (int64_t i = 0; i < k * d; i++) param[i] = cls ? tt_rng_uniform(&r) : tt_rng_normal(&r);
    float sigma = cls ? (float)(min_center_distance(param, k, d) / 8.0) : 0.0f;
    float scale = (float)sqrt(12.0 / (double)d);
    uint64_t sample_seed = tt_ds_mix(seed ^ (train_split ? SALT_TRAIN : SALT_TEST));

#pragma omp parallel for if (n * d > 65536)
    for (int64_t i = 0; i < n; i++) {
        tt_rng sr;
        tt_rng_seed(&sr, sample_seed, (uint64_t)i);
        float *x = ds->inputs + i * d;
        if (cls) {
            int64_t y = (int64_t)tt_ds_below(&sr, (uint64_t)k);
            ds->labels[i] = (int32_t)y;
            for (int64_t j = 0; j < d; j++) x[j] = param[y * d + j] + sigma * tt_rng_normal(&sr);
            continue;
        }
        for (int64_t j = 0; j < d; j++) x[j] = tt_rng_uniform(&sr);
        for (int64_t t = 0; t < k; t++) {
            double acc = 0.0;
            for (int64_t j = 0; j < d; j++) acc += (double)param[t * d + j] * (x[j] - 0.5);
            ds->targets[i * k + t] = (float)tanh(acc * scale);
        }
    }
    free(param);
    ds->n_classes = cls ? (int)k : 0;
    *out = ds;
    return TT_OK;
}
