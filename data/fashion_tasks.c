/* The Fashion-MNIST kinds: classification as shipped, and two derived tasks built from the same
 * images: denoising (image_to_image) and no-reference quality regression. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "data/dataset_internal.h"
#include "tinytrain/idx.h"

#define FASHION_H       28
#define FASHION_W       28
#define FASHION_CLASSES 10
/* Quality task: at strength s the image gets a box blur of radius s and noise of std
 * QUALITY_NOISE * s. */
#define QUALITY_NOISE 0.2f
/* The test split's degradations use this instead of the run's seed. */
#define TEST_SEED       0x66617368696f6e74ULL /* "fashiont" */
#define DEGRADE_SALT    0x6465677261646531ULL /* "degrade1" */
#define MAX_BLUR_RADIUS 64.0f

uint64_t tt_fashion_split_seed(bool train_split, uint64_t seed)
{
    return tt_ds_mix((train_split ? seed : TEST_SEED) ^ DEGRADE_SALT);
}

/* One pass of the 1-D box filter along rows (dx = 1) or columns. */
static void box_pass(const float *src, float *dst, int h, int w, int full, float edge, bool rows)
{
    int reach = full + (edge > 0.0f);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int pos = rows ? x : y, len = rows ? w : h;
            float sum = 0.0f, wsum = 0.0f;
            int lo = pos - reach < 0 ? 0 : pos - reach;
            int hi = pos + reach >= len ? len - 1 : pos + reach;
            for (int k = lo; k <= hi; k++) {
                int d = k > pos ? k - pos : pos - k;
                float wgt = d <= full ? 1.0f : edge;
                sum += wgt * (rows ? src[y * w + k] : src[k * w + x]);
                wsum += wgt;
            }
            dst[y * w + x] = sum / wsum;
        }
}

void tt_box_blur(const float *src, float *dst, float *tmp, int h, int w, float r)
{
    if (!(r > 0.0f)) {
        memcpy(dst, src, (size_t)h * (size_t)w * sizeof *dst);
        return;
    }
    if (r > MAX_BLUR_RADIUS) r = MAX_BLUR_RADIUS; /* wider than any image: the mean */
    int full = (int)floorf(r);
    float edge = r - (float)full;
    box_pass(src, tmp, h, w, full, edge, true);
    box_pass(tmp, dst, h, w, full, edge, false);
}

static float clamp01(float v)
{
    return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
}

void tt_fashion_denoise_sample(const float *clean, float *dst, float *tmp, int h, int w,
                               float noise_std, float blur, uint64_t split_seed, int64_t i)
{
    tt_rng r;
    tt_rng_seed(&r, split_seed, (uint64_t)i);
    tt_box_blur(clean, dst, tmp, h, w, blur);
    for (int j = 0; j < h * w; j++) dst[j] = clamp01(dst[j] + noise_std * tt_rng_normal(&r));
}

float tt_fashion_quality_sample(const float *clean, float *dst, float *tmp, int h, int w,
                                uint64_t split_seed, int64_t i)
{
    tt_rng r;
    tt_rng_seed(&r, split_seed, (uint64_t)i);
    float s = tt_rng_uniform(&r);
    tt_box_blur(clean, dst, tmp, h, w, s);
    float sd = QUALITY_NOISE * s;
    for (int j = 0; j < h * w; j++) dst[j] = clamp01(dst[j] + sd * tt_rng_normal(&r));
    return 1.0f - s; /* quality: 1 is pristine */
}

static tt_status fashion_path(char *buf, size_t len, const char *dir, const char *prefix,
                              const char *what)
{
    int k = snprintf(buf, len, "%s/%s-%s-ubyte.gz", dir, prefix, what);
    if (k < 0 || (size_t)k >= len)
        return tt_fail(TT_ERR_INVALID_ARG, "data.dir '%s' is too long", dir);
    if (access(buf, R_OK) != 0)
        return tt_fail(TT_ERR_IO,
                       "%s: cannot open (%s); Fashion-MNIST comes from the Debian package "
                       "%s (apt-get install %s), or set data.dir to a directory holding "
                       "the IDX .gz files",
                       buf, strerror(errno), TT_FASHION_MNIST_PACKAGE, TT_FASHION_MNIST_PACKAGE);
    return TT_OK;
}

static tt_status check_images(const tt_tensor *img, const char *path)
{
    if (img->shape.ndim != 3 || img->shape.dims[1] != FASHION_H ||
        img->shape.dims[2] != FASHION_W) {
        char a[64];
        return tt_fail(TT_ERR_FORMAT,
                       "%s: Fashion-MNIST images must be [N, 28, 28], the file holds %s", path,
                       tt_shape_str(&img->shape, a, sizeof a));
    }
    return TT_OK;
}

static tt_status degraded(const tt_tensor *img, const char *path, tt_data_kind kind,
                          float noise_std, float blur, const tt_shape *sample_shape,
                          int64_t n_outputs, bool train_split, uint64_t seed, tt_dataset **out)
{
    tt_shape in_shape, tg_shape = {.ndim = 1, .dims = {1}};
    TT_CHECK(tt_ds_sample_shape(3, img->shape.dims, sample_shape, path, "image", &in_shape));
    if (kind == TT_DATA_FASHION_DENOISE) tg_shape = in_shape;
    if (!(noise_std >= 0.0f) || !isfinite(noise_std) || !(blur >= 0.0f) || !isfinite(blur))
        return tt_fail(TT_ERR_INVALID_ARG,
                       "data.noise_std and data.blur must be finite and >= 0 (got %g, %g)",
                       (double)noise_std, (double)blur);
    int64_t n = img->shape.dims[0];
    tt_dataset *ds;
    TT_CHECK(tt_ds_create(&ds, n, &in_shape, TT_TARGET_FLOAT, &tg_shape, true, path));
    uint64_t split_seed = tt_fashion_split_seed(train_split, seed);
    const uint8_t *px = img->data;
    const int hw = FASHION_H * FASHION_W;
    /* Each sample draws from its own stream, so threads do not change the result. */
#pragma omp parallel for if (n > 256)
    for (int64_t i = 0; i < n; i++) {
        float clean[FASHION_H * FASHION_W], tmp[FASHION_H * FASHION_W];
        for (int j = 0; j < hw; j++) clean[j] = tt_ds_pixel(px[i * hw + j]);
        float *x = ds->inputs + i * hw;
        if (kind == TT_DATA_FASHION_DENOISE) {
            tt_fashion_denoise_sample(clean, x, tmp, FASHION_H, FASHION_W, noise_std, blur,
                                      split_seed, i);
            memcpy(ds->targets + i * hw, clean, sizeof clean);
        } else {
            ds->targets[i] =
                tt_fashion_quality_sample(clean, x, tmp, FASHION_H, FASHION_W, split_seed, i);
        }
    }
    tt_status s = tt_ds_check_target_size(ds, n_outputs, path);
    if (s == TT_OK) s = tt_ds_add_source(ds, path);
    if (s != TT_OK) {
        tt_dataset_free(ds);
        return s;
    }
    *out = ds;
    return TT_OK;
}

tt_status tt_ds_load_fashion(const char *dir, tt_data_kind kind, float noise_std, float blur,
                             tt_task task, const tt_shape *sample_shape, int64_t n_outputs,
                             bool train_split, uint64_t seed, tt_dataset **out)
{
    *out = NULL;
    static const struct {
        tt_data_kind kind;
        tt_task task;
        const char *name, *task_name;
    } fixed[] = {
        {TT_DATA_FASHION_MNIST, TT_TASK_CLASSIFICATION, "fashion_mnist", "classification"},
        {TT_DATA_FASHION_DENOISE, TT_TASK_IMAGE_TO_IMAGE, "fashion_denoise", "image_to_image"},
        {TT_DATA_FASHION_QUALITY, TT_TASK_REGRESSION, "fashion_quality", "regression"},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (fixed[i].kind == kind && fixed[i].task != task)
            return tt_fail(TT_ERR_INVALID_ARG, "data.kind %s needs task: %s", fixed[i].name,
                           fixed[i].task_name);
    if (!dir || !dir[0]) dir = "/usr/share/datasets/fashion-mnist";
    const char *prefix = train_split ? "train" : "t10k";
    char img_path[TT_CONFIG_STR_MAX + 64], lab_path[TT_CONFIG_STR_MAX + 64];
    TT_CHECK(fashion_path(img_path, sizeof img_path, dir, prefix, "images-idx3"));
    if (kind == TT_DATA_FASHION_MNIST)
        TT_CHECK(fashion_path(lab_path, sizeof lab_path, dir, prefix, "labels-idx1"));
    tt_tensor *img = NULL, *lab = NULL;
    tt_status s = tt_idx_load(img_path, &img);
    if (s == TT_OK) s = check_images(img, img_path);
    if (s == TT_OK && kind == TT_DATA_FASHION_MNIST) {
        s = tt_idx_load(lab_path, &lab);
        if (s == TT_OK && lab->shape.ndim != 1)
            s = tt_fail(TT_ERR_FORMAT, "%s: Fashion-MNIST labels must be [N], got rank %d",
                        lab_path, lab->shape.ndim);
        if (s == TT_OK)
            s = tt_ds_from_tensors(img, img_path, lab, lab_path, task, sample_shape,
                                   FASHION_CLASSES, n_outputs, out);
    } else if (s == TT_OK) {
        s = degraded(img, img_path, kind, noise_std, blur, sample_shape, n_outputs, train_split,
                     seed, out);
    }
    tt_tensor_free(img);
    tt_tensor_free(lab);
    return s;
}
