/* The data an ONNX model is evaluated on (tinytrain/eval.h): a config's split through the
 * trainer's own pipeline, or an .npz of model inputs and targets. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "autograd/internal.h"
#include "data/dataset_internal.h"
#include "data/sha256.h"
#include "tinytrain/eval.h"
#include "tinytrain/npz.h"
#include "train/trainer_internal.h"

static const char *const SPLITS[] = {"test", "val", "train"};

const char *tt_eval_split_name(tt_eval_split s)
{
    return s >= TT_EVAL_SPLIT_TEST && s <= TT_EVAL_SPLIT_TRAIN ? SPLITS[s] : "?";
}

tt_status tt_eval_split_parse(const char *name, tt_eval_split *out)
{
    for (int i = 0; name && i < 3; i++)
        if (!strcmp(name, SPLITS[i])) {
            *out = (tt_eval_split)i;
            return TT_OK;
        }
    return tt_fail(TT_ERR_INVALID_ARG, "split '%s' is unknown: test, val or train",
                   name ? name : "(null)");
}

tt_status tt_eval_task_parse(const char *name, tt_task *out)
{
    for (int t = TT_TASK_CLASSIFICATION; name && t <= TT_TASK_IMAGE_TO_IMAGE; t++)
        if (!strcmp(name, tt_task_name((tt_task)t))) {
            *out = (tt_task)t;
            return TT_OK;
        }
    return tt_fail(TT_ERR_INVALID_ARG,
                   "task '%s' is unknown: classification, regression or image_to_image",
                   name ? name : "(null)");
}

void tt_eval_data_free(tt_eval_data *d)
{
    if (!d) return;
    tt_dataset_free(d->ds);
    memset(d, 0, sizeof *d);
}

static tt_status set_path(tt_eval_data *d, const char *path)
{
    if (snprintf(d->path, sizeof d->path, "%s", path) >= (int)sizeof d->path)
        return tt_fail(TT_ERR_INVALID_ARG, "%s: path longer than %zu bytes", path,
                       sizeof d->path - 1);
    return TT_OK;
}

/* The data against the model: values per sample in and out, and resident in memory. */
static tt_status check_fit(const tt_eval_data *d, int64_t in_numel, int64_t out_numel,
                           int64_t data_out)
{
    const tt_dataset *ds = d->ds;
    char shp[96];
    if (ds->input_numel != in_numel)
        return tt_fail(TT_ERR_SHAPE,
                       "%s: the data's samples have %" PRId64 " values (%s) but the model's "
                       "input takes %" PRId64 "; evaluate the model on the data it was made for",
                       d->path, ds->input_numel, tt_shape_str(&ds->input_shape, shp, sizeof shp),
                       in_numel);
    if (data_out != out_numel)
        return tt_fail(TT_ERR_SHAPE,
                       "%s: the config's model gives %" PRId64 " outputs per sample but this "
                       "model gives %" PRId64 "; evaluate the model with the config it was "
                       "trained from",
                       d->path, data_out, out_numel);
    if (ds->stream)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "%s: the %s split is streamed from HDF5 (more than %" PRId64 " bytes as "
                       "floats); evaluating ONNX models needs data held in memory: use --limit "
                       "or a smaller file",
                       d->path, d->split ? d->split : "data", TT_DATASET_RESIDENT_MAX_BYTES);
    if (ds->n < 1) return tt_fail(TT_ERR_STATE, "%s: the data set holds no samples", d->path);
    return TT_OK;
}

/* The trainer's split, taken over from it so that it outlives the trainer. */
static tt_dataset **trainer_split(tt_trainer *t, tt_eval_split s)
{
    return s == TT_EVAL_SPLIT_TEST ? &t->test : s == TT_EVAL_SPLIT_VAL ? &t->val : &t->train;
}

tt_status tt_eval_data_from_config(const tt_config *cfg, const tt_eval_data_opts *o,
                                   int64_t in_numel, int64_t out_numel, tt_eval_data *out)
{
    TT_CHECK_NULL(out, "tt_eval_data_from_config");
    memset(out, 0, sizeof *out);
    TT_CHECK_NULL(cfg, "tt_eval_data_from_config");
    tt_eval_data_opts def = {0};
    if (!o) o = &def;
    /* The trainer loads, holds out and normalises exactly as fit does; only the test split
     * can be cut short while loading. */
    tt_trainer_opts topts = {.max_test = o->split == TT_EVAL_SPLIT_TEST ? o->limit : 0};
    tt_trainer *t = NULL;
    TT_CHECK(tt_trainer_create_ex(cfg, o->split != TT_EVAL_SPLIT_TEST, &topts, &t));
    tt_dataset **slot = trainer_split(t, o->split);
    out->ds = *slot;
    *slot = NULL;
    int64_t data_out = t->out_numel;
    tt_trainer_free(t);
    out->task = cfg->task;
    out->split = tt_eval_split_name(o->split);
    tt_status s = set_path(out, cfg->path);
    if (s == TT_OK && !out->ds)
        s = tt_fail(TT_ERR_INVALID_ARG, "%s: the config has no %s split (%s)", cfg->path,
                    out->split,
                    o->split == TT_EVAL_SPLIT_VAL ? "data.val_split is 0" : "no data.test");
    if (s == TT_OK && o->limit > 0) tt_dataset_truncate(out->ds, o->limit);
    if (s == TT_OK) s = check_fit(out, in_numel, out_numel, data_out);
    if (s == TT_OK) s = tt_sha256_hex(cfg->text, cfg->text_len, out->sha256);
    out->bytes = (int64_t)cfg->text_len;
    if (s != TT_OK) tt_eval_data_free(out);
    return s;
}

/* Classification for one integer per sample; image_to_image for targets of the input's size
 * (more than one value); regression otherwise. */
static tt_status infer_task(const char *path, const tt_shape *sample, tt_task *task)
{
    tt_tensor *tg = NULL;
    TT_CHECK(tt_npz_load_file(path, TT_EVAL_NPZ_TARGETS, &tg));
    int64_t per = tg->shape.dims[0] > 0 ? tt_tensor_numel(tg) / tg->shape.dims[0] : 0;
    int64_t in = tt_shape_numel(sample);
    if (tg->dtype != TT_F32 && per == 1)
        *task = TT_TASK_CLASSIFICATION;
    else
        *task = per == in && in > 1 ? TT_TASK_IMAGE_TO_IMAGE : TT_TASK_REGRESSION;
    tt_tensor_free(tg);
    return TT_OK;
}

/* Both arrays present, or a message saying which names eval reads and which the file has. */
static tt_status check_names(const char *path)
{
    tt_npz *z = NULL;
    TT_CHECK(tt_npz_open(path, &z));
    tt_status s = TT_OK;
    if (!tt_npz_has(z, TT_EVAL_NPZ_INPUTS) || !tt_npz_has(z, TT_EVAL_NPZ_TARGETS)) {
        char names[512] = "";
        for (int i = 0; i < tt_npz_count(z) && strlen(names) < sizeof names - 80; i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s'%s'", i ? ", " : "",
                     tt_npz_name(z, i));
        s = tt_fail(TT_ERR_FORMAT,
                    "%s: evaluation data needs the arrays '%s' (model inputs [N, ...]) and '%s' "
                    "(labels [N] or targets [N, ...]), as tinytrain calib writes them; the file "
                    "has %s",
                    path, TT_EVAL_NPZ_INPUTS, TT_EVAL_NPZ_TARGETS, names[0] ? names : "none");
    }
    tt_npz_close(z);
    return s;
}

tt_status tt_eval_data_from_npz(const char *path, const tt_eval_data_opts *o,
                                const tt_shape *sample, int64_t out_numel, tt_eval_data *out)
{
    TT_CHECK_NULL(out, "tt_eval_data_from_npz");
    memset(out, 0, sizeof *out);
    TT_CHECK_NULL(path, "tt_eval_data_from_npz");
    TT_CHECK_NULL(sample, "tt_eval_data_from_npz");
    tt_eval_data_opts def = {0};
    if (!o) o = &def;
    TT_CHECK(set_path(out, path));
    TT_CHECK(check_names(path));
    out->task = o->task;
    if (!o->task_given) TT_CHECK(infer_task(path, sample, &out->task));
    TT_CHECK(tt_ds_load_npz(path, TT_EVAL_NPZ_INPUTS, TT_EVAL_NPZ_TARGETS, out->task, sample,
                            out_numel, &out->ds));
    if (o->limit > 0) tt_dataset_truncate(out->ds, o->limit);
    tt_status s = check_fit(out, tt_shape_numel(sample), out_numel, out_numel);
    if (s == TT_OK) {
        memcpy(out->sha256, out->ds->sources[0].sha256, sizeof out->sha256);
        out->bytes = out->ds->sources[0].bytes;
    }
    if (s != TT_OK) tt_eval_data_free(out);
    return s;
}
