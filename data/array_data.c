/* The idx and npy kinds: an inputs file and a targets file, each one [N, ...] array, read with
 * the IDX and NPY readers and turned into a data set; and the npz kind, both arrays from one
 * .npz archive. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "data/dataset_internal.h"
#include "tinytrain/idx.h"
#include "tinytrain/npy.h"
#include "tinytrain/npz.h"

static tt_status fill_inputs(tt_dataset *ds, const tt_tensor *in, const char *path)
{
    int64_t total = ds->n * ds->input_numel;
    if (in->dtype == TT_U8) {
        const uint8_t *src = in->data;
#pragma omp parallel for if (total > 65536)
        for (int64_t i = 0; i < total; i++) ds->inputs[i] = tt_ds_pixel(src[i]);
        return TT_OK;
    }
    memcpy(ds->inputs, in->data, (size_t)total * sizeof(float));
    return tt_ds_check_finite(ds->inputs, ds->n, ds->input_numel, 0, path, "inputs");
}

static int64_t int_at(const tt_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case TT_U8:
        return ((const uint8_t *)t->data)[i];
    case TT_I8:
        return ((const int8_t *)t->data)[i];
    case TT_I32:
        return ((const int32_t *)t->data)[i];
    default:
        return ((const int64_t *)t->data)[i];
    }
}

static tt_status fill_float_targets(tt_dataset *ds, const tt_tensor *tg, const char *path)
{
    int64_t total = ds->n * ds->target_numel;
    float *dst = ds->targets;
    if (tg->dtype == TT_F32) {
        memcpy(dst, tg->data, (size_t)total * sizeof(float));
        return tt_ds_check_finite(dst, ds->n, ds->target_numel, 0, path, "targets");
    }
    if (tg->dtype == TT_U8) { /* pixels, like the inputs */
        const uint8_t *src = tg->data;
        for (int64_t i = 0; i < total; i++) dst[i] = tt_ds_pixel(src[i]);
        return TT_OK;
    }
    for (int64_t i = 0; i < total; i++) dst[i] = (float)int_at(tg, i);
    return TT_OK;
}

/* tt_ds_from_tensors with the messages' names for the two arrays (in_path, tg_path) apart from
 * the files recorded as the data set's sources (one .npz holds both arrays). */
static tt_status from_tensors(const tt_tensor *in, const char *in_path, const tt_tensor *tg,
                              const char *tg_path, const char *const *sources, int n_sources,
                              tt_task task, const tt_shape *sample_shape, int fixed_classes,
                              int64_t n_outputs, tt_dataset **out)
{
    *out = NULL;
    if (in->dtype != TT_F32 && in->dtype != TT_U8)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "%s: inputs of dtype %s are not supported; use float32 (or float64) "
                       "values or uint8 pixels",
                       in_path, tt_dtype_name(in->dtype));
    tt_shape in_shape, tg_shape = {.ndim = 1, .dims = {1}};
    TT_CHECK(tt_ds_sample_shape(in->shape.ndim, in->shape.dims, sample_shape, in_path, "inputs",
                                &in_shape));
    int64_t n = in->shape.dims[0];
    if (tg->shape.dims[0] != n)
        return tt_fail(TT_ERR_FORMAT,
                       "%s has %" PRId64 " samples but %s has %" PRId64 "; inputs and targets "
                       "must have one row per sample",
                       in_path, n, tg_path, tg->shape.dims[0]);
    tt_target_kind tk = task == TT_TASK_CLASSIFICATION ? TT_TARGET_LABEL : TT_TARGET_FLOAT;
    if (tk == TT_TARGET_LABEL) {
        if (tg->dtype == TT_F32)
            return tt_fail(TT_ERR_FORMAT,
                           "%s: classification labels must be integers (int32, int64, uint8), "
                           "got float32",
                           tg_path);
        if (tg->shape.ndim > 2 || (tg->shape.ndim == 2 && tg->shape.dims[1] != 1))
            return tt_fail(TT_ERR_FORMAT,
                           "%s: classification labels must be [N] or [N, 1], got rank %d", tg_path,
                           tg->shape.ndim);
    } else {
        const tt_shape *want = NULL;
        tt_shape natural;
        TT_CHECK(
            tt_ds_sample_shape(tg->shape.ndim, tg->shape.dims, NULL, tg_path, "targets", &natural));
        /* An image-to-image target has the input's shape whatever its file layout. */
        if (task == TT_TASK_IMAGE_TO_IMAGE && tt_shape_numel(&natural) == tt_shape_numel(&in_shape))
            want = &in_shape;
        tg_shape = want ? *want : natural;
    }
    tt_dataset *ds;
    TT_CHECK(tt_ds_create(&ds, n, &in_shape, tk, &tg_shape, true, in_path));
    tt_status s = fill_inputs(ds, in, in_path);
    if (s == TT_OK && tk == TT_TARGET_LABEL) {
        for (int64_t i = 0; i < n && s == TT_OK; i++)
            s = tt_ds_put_label(ds, i, int_at(tg, i), tg_path);
        if (s == TT_OK) s = tt_ds_finish_labels(ds, fixed_classes, n_outputs, tg_path);
    } else if (s == TT_OK) {
        s = fill_float_targets(ds, tg, tg_path);
        if (s == TT_OK) s = tt_ds_check_target_size(ds, n_outputs, tg_path);
    }
    for (int i = 0; i < n_sources && s == TT_OK; i++) s = tt_ds_add_source(ds, sources[i]);
    if (s != TT_OK) {
        tt_dataset_free(ds);
        return s;
    }
    *out = ds;
    return TT_OK;
}

tt_status tt_ds_from_tensors(const tt_tensor *in, const char *in_path, const tt_tensor *tg,
                             const char *tg_path, tt_task task, const tt_shape *sample_shape,
                             int fixed_classes, int64_t n_outputs, tt_dataset **out)
{
    const char *const sources[2] = {in_path, tg_path};
    return from_tensors(in, in_path, tg, tg_path, sources, 2, task, sample_shape, fixed_classes,
                        n_outputs, out);
}

static tt_status check_paths(const char *inputs, const char *targets, const char *kind)
{
    if (!inputs || !inputs[0] || !targets || !targets[0])
        return tt_fail(TT_ERR_INVALID_ARG, "data.kind %s needs both an inputs and a targets path",
                       kind);
    if (strcmp(inputs, targets) == 0)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "%s: the same file is given as inputs and targets; they must be two "
                       "files",
                       inputs);
    return TT_OK;
}

typedef tt_status (*reader_fn)(const char *, tt_tensor **);

static tt_status load_pair(reader_fn rd, const char *kind, const char *inputs, const char *targets,
                           tt_task task, const tt_shape *sample_shape, int64_t n_outputs,
                           tt_dataset **out)
{
    *out = NULL;
    TT_CHECK(check_paths(inputs, targets, kind));
    tt_tensor *in = NULL, *tg = NULL;
    tt_status s = rd(inputs, &in);
    if (s == TT_OK) s = rd(targets, &tg);
    if (s == TT_OK)
        s = tt_ds_from_tensors(in, inputs, tg, targets, task, sample_shape, 0, n_outputs, out);
    tt_tensor_free(in);
    tt_tensor_free(tg);
    return s;
}

tt_status tt_ds_load_idx(const char *inputs, const char *targets, tt_task task,
                         const tt_shape *sample_shape, int64_t n_outputs, tt_dataset **out)
{
    return load_pair(tt_idx_load, "idx", inputs, targets, task, sample_shape, n_outputs, out);
}

tt_status tt_ds_load_npy(const char *inputs, const char *targets, tt_task task,
                         const tt_shape *sample_shape, int64_t n_outputs, tt_dataset **out)
{
    return load_pair(tt_npy_load, "npy", inputs, targets, task, sample_shape, n_outputs, out);
}

tt_status tt_ds_load_npz(const char *file, const char *inputs, const char *targets, tt_task task,
                         const tt_shape *sample_shape, int64_t n_outputs, tt_dataset **out)
{
    TT_CHECK_NULL(out, "tt_ds_load_npz");
    *out = NULL;
    if (!file || !file[0])
        return tt_fail(TT_ERR_INVALID_ARG, "data.kind npz needs a file (data.train.file)");
    if (!inputs || !inputs[0] || !targets || !targets[0])
        return tt_fail(TT_ERR_INVALID_ARG,
                       "%s: data.kind npz needs the names of both the inputs and the targets "
                       "arrays",
                       file);
    if (strcmp(inputs, targets) == 0)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "%s: the same array '%s' is given as inputs and targets; they must be two "
                       "arrays",
                       file, inputs);
    tt_npz *z;
    TT_CHECK(tt_npz_open(file, &z));
    tt_tensor *in = NULL, *tg = NULL;
    tt_status s = tt_npz_load(z, inputs, &in);
    if (s == TT_OK) s = tt_npz_load(z, targets, &tg);
    tt_npz_close(z);
    if (s == TT_OK) {
        /* Messages name the array as well as the file: "d.npz (array 'x')". */
        char in_what[TT_CONFIG_STR_MAX + 64], tg_what[TT_CONFIG_STR_MAX + 64];
        snprintf(in_what, sizeof in_what, "%s (array '%s')", file, inputs);
        snprintf(tg_what, sizeof tg_what, "%s (array '%s')", file, targets);
        const char *const sources[1] = {file};
        s = from_tensors(in, in_what, tg, tg_what, sources, 1, task, sample_shape, 0, n_outputs,
                         out);
    }
    tt_tensor_free(in);
    tt_tensor_free(tg);
    return s;
}
