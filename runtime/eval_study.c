/* The PTQ studies of tinytrain eval (tinytrain/eval.h): per-layer sensitivity and the
 * calibration-set size. Each row is one tt_ptq_quantize into a work directory, the quantised
 * model run on tinytrain's runtime over the study's data, and its metrics next to the fp32
 * model's. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "autograd/internal.h"
#include "data/dataset_internal.h"
#include "runtime/ptq_internal.h"
#include "tinytrain/eval.h"
#include "tinytrain/npz.h"
#include "data/clock.h"
#include "data/temp_dir.h"

#define PATH_MAX_EVAL 1024

/* Where the quantised models and calibration subsets go: the caller's directory (kept), or a
 * fresh one under $TMPDIR that is emptied and removed at the end. */
typedef struct work_dir {
    char dir[PATH_MAX_EVAL];
    bool temporary;
} work_dir;

static tt_status work_open(const char *given, work_dir *w)
{
    memset(w, 0, sizeof *w);
    if (given) {
        if (mkdir(given, 0777) != 0 && errno != EEXIST)
            return tt_fail(TT_ERR_IO, "%s: cannot create the work directory (%s)", given,
                           strerror(errno));
        if (snprintf(w->dir, sizeof w->dir, "%s", given) >= (int)sizeof w->dir - 160)
            return tt_fail(TT_ERR_INVALID_ARG, "%s: work directory path too long", given);
        return TT_OK;
    }
    TT_CHECK(tt_temp_dir_make("tinytrain-eval-", w->dir, sizeof w->dir));
    w->temporary = true;
    return TT_OK;
}

/* "<dir>/<prefix><name, with anything but letters, digits, '.', '-' and '_' as '_'><ext>". */
static void work_path(const work_dir *w, const char *prefix, const char *name, const char *ext,
                      char *buf, size_t len)
{
    int k = snprintf(buf, len, "%s/%s", w->dir, prefix);
    for (const char *c = name; *c && k + 1 < (int)len - 16; c++)
        buf[k++] = isalnum((unsigned char)*c) || strchr(".-_", *c) ? *c : '_';
    snprintf(buf + k, len - (size_t)k, "%s", ext);
}

static void work_done(const work_dir *w, const char *path)
{
    if (w->temporary) remove(path);
}

static void work_close(const work_dir *w)
{
    if (w->temporary) rmdir(w->dir);
}

/* s with "<what> <name>: <the last error>" (copied first: tt_fail writes the buffer it reads). */
static tt_status explain(tt_status s, const char *what, const char *name)
{
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", tt_last_error());
    return tt_fail(s, "%s%s%s: %s", what, name[0] ? " " : "", name, msg);
}

/* Quantise o->model with calib into path, run it over the data and fill row. */
static tt_status quantise_and_eval(const tt_eval_study_opts *o, const char *calib, const char *path,
                                   const tt_ptq_opts *po, tt_eval_quant_row *row)
{
    double t0 = tt_clock_s();
    tt_ptq_result res;
    memset(&res, 0, sizeof res);
    TT_CHECK(tt_ptq_quantize(o->model, calib, path, po, &res));
    row->samples = res.samples;
    tt_ptq_result_free(&res);
    double t1 = tt_clock_s();
    tt_runtime *rt = NULL;
    float *y = NULL;
    tt_status s = tt_runtime_load(path, &o->rt, &rt);
    if (s == TT_OK)
        s = tt_eval_predict(rt, o->data, row->label[0] ? row->label : path, o->cb, o->user, &y);
    int64_t m = rt ? tt_runtime_output_size(rt) : 0;
    if (s == TT_OK) s = tt_eval_score(o->data, y, m, &row->r);
    if (s == TT_OK) {
        tt_eval_agree(o->fp32_out, y, o->data->ds->n, m, &row->vs_fp32);
        row->metric = tt_eval_main_metric(&row->r);
        row->drop = tt_eval_main_metric(o->fp32) - row->metric;
    }
    row->ptq_s = t1 - t0;
    row->eval_s = tt_clock_s() - t1;
    free(y);
    tt_runtime_free(rt);
    return s;
}

static tt_status study_open(const tt_eval_study_opts *o, int n_rows, tt_eval_study *out)
{
    memset(out, 0, sizeof *out);
    TT_CHECK_NULL(o, "tinytrain eval study");
    if (!o->model || !o->calibration || !o->data || !o->fp32_out || !o->fp32)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "a PTQ study needs the fp32 model, its outputs and metrics, the data "
                       "and a calibration set");
    out->ptq = o->ptq;
    out->ptq.n_exclude = 0;
    out->ptq.exclude = NULL;
    snprintf(out->calibration, sizeof out->calibration, "%s", o->calibration);
    TT_CHECK(tt_sha256_file(o->calibration, out->calib_sha256, &out->calib_bytes));
    out->fp32_metric = tt_eval_main_metric(o->fp32);
    out->rows = calloc((size_t)n_rows + 1, sizeof *out->rows);
    if (!out->rows) return tt_fail(TT_ERR_NOMEM, "tinytrain eval: out of memory for the study");
    return TT_OK;
}

void tt_eval_study_free(tt_eval_study *s)
{
    if (!s) return;
    free(s->rows);
    memset(s, 0, sizeof *s);
}

/* Largest drop first; NaN drops last; ties by the output PLCC drop. */
static int by_drop(const void *pa, const void *pb)
{
    const tt_eval_quant_row *a = pa, *b = pb;
    double da = isnan(a->drop) ? -INFINITY : a->drop, db = isnan(b->drop) ? -INFINITY : b->drop;
    if (da != db) return da < db ? 1 : -1;
    double ga = a->vs_fp32.gate.drop, gb = b->vs_fp32.gate.drop;
    if (isnan(ga) || isnan(gb) || ga == gb) return strcmp(a->label, b->label);
    return ga < gb ? 1 : -1;
}

static tt_status sensitivity_rows(const tt_eval_study_opts *o, const work_dir *w,
                                  const tt_eval_layer *layers, int n, tt_eval_study *out)
{
    const char **exclude = malloc((size_t)n * sizeof *exclude);
    if (!exclude) return tt_fail(TT_ERR_NOMEM, "tinytrain eval: out of memory");
    tt_status s = TT_OK;
    for (int i = 0; i < n; i++) {
        tt_ptq_opts po = out->ptq;
        for (int j = 0, k = 0; j < n; j++)
            if (j != i) exclude[k++] = layers[j].node;
        po.exclude = exclude;
        po.n_exclude = n - 1;
        tt_eval_quant_row *row = &out->rows[i];
        snprintf(row->label, sizeof row->label, "%s", layers[i].node);
        snprintf(row->op, sizeof row->op, "%s", layers[i].op);
        char path[PATH_MAX_EVAL];
        char prefix[32];
        snprintf(prefix, sizeof prefix, "layer%03d_", i);
        work_path(w, prefix, layers[i].node, ".int8.onnx", path, sizeof path);
        s = quantise_and_eval(o, o->calibration, path, &po, row);
        work_done(w, path);
        if (s != TT_OK) {
            free(exclude);
            return explain(s, "quantising only layer", layers[i].node);
        }
        out->calib_samples = row->samples;
        if (o->on_row) o->on_row(row, i, n, o->user);
        out->n_rows = i + 1;
    }
    free(exclude);
    return s;
}

/* The reference row: every layer quantised (a plain tt_ptq_quantize). */
static tt_status all_layers_row(const tt_eval_study_opts *o, const work_dir *w, tt_eval_study *out)
{
    char path[PATH_MAX_EVAL];
    work_path(w, "all_layers", "", ".int8.onnx", path, sizeof path);
    snprintf(out->all.label, sizeof out->all.label, "(all layers)");
    tt_status s = quantise_and_eval(o, o->calibration, path, &out->ptq, &out->all);
    work_done(w, path);
    out->has_all = s == TT_OK;
    return s == TT_OK ? s : explain(s, "quantising every layer", "");
}

tt_status tt_eval_sensitivity(const tt_eval_study_opts *o, tt_eval_study *out)
{
    TT_CHECK_NULL(out, "tt_eval_sensitivity");
    tt_eval_layer *layers = NULL;
    int n = 0;
    TT_CHECK_NULL(o, "tt_eval_sensitivity");
    TT_CHECK(tt_eval_layers(o->model, &layers, &n));
    tt_status s = n - 1 > TT_PTQ_MAX_EXCLUDE
                      ? tt_fail(TT_ERR_UNSUPPORTED,
                                "%s: %d layers; the sensitivity study quantises one and leaves "
                                "the others in float, and PTQ excludes at most %d nodes",
                                o->model, n, TT_PTQ_MAX_EXCLUDE)
                      : study_open(o, n, out);
    work_dir w;
    if (s == TT_OK) s = work_open(o->work_dir, &w);
    if (s == TT_OK) {
        s = sensitivity_rows(o, &w, layers, n, out);
        if (s == TT_OK) s = all_layers_row(o, &w, out);
        work_close(&w);
    }
    if (s == TT_OK) qsort(out->rows, (size_t)out->n_rows, sizeof *out->rows, by_drop);
    free(layers);
    if (s != TT_OK) tt_eval_study_free(out);
    return s;
}

/* ---- calibration-set sizes ---- */

/* The model input's name and shape: the calibration array tt_ptq_quantize reads. */
static tt_status model_input(const char *path, char *name, size_t len, tt_shape *shape)
{
    tt_model *m = NULL;
    TT_CHECK(tt_onnx_import(path, NULL, &m));
    const tt_value *v = &m->graph->values[m->input_id];
    snprintf(name, len, "%s", v->name);
    *shape = v->shape;
    tt_model_free(m);
    return TT_OK;
}

/* The first n samples of the calibration array as an .npz of that one array. */
static tt_status write_subset(const char *path, const char *name, const tt_shape *sample,
                              const float *x, int64_t n)
{
    int64_t dims[TT_MAX_DIMS];
    memcpy(dims, sample->dims, sizeof dims);
    dims[0] = n;
    tt_tensor *t = NULL;
    TT_CHECK(tt_tensor_alloc(&t, TT_F32, sample->ndim, dims));
    memcpy(t->data, x, (size_t)tt_tensor_numel(t) * sizeof(float));
    const char *names[1] = {name};
    const tt_tensor *ts[1] = {t};
    tt_status s = tt_npz_save(path, 1, names, ts, false);
    tt_tensor_free(t);
    return s;
}

/* The first `most` calibration samples (validated by the PTQ reader: shape, NaN, Inf). */
static tt_status read_first(const tt_eval_study_opts *o, const char *name, const tt_shape *shape,
                            const int64_t *sizes, int n_sizes, float **x, int64_t *have)
{
    tt_ptq_source *src = NULL;
    TT_CHECK(tt_ptq_source_open(o->calibration, name, shape, &src));
    *have = tt_ptq_source_count(src);
    int64_t most = 0, row = 1;
    for (int i = 1; i < shape->ndim; i++) row *= shape->dims[i];
    tt_status s = TT_OK;
    for (int i = 0; i < n_sizes && s == TT_OK; i++) {
        if (sizes[i] < 1 || sizes[i] > *have)
            s = tt_fail(TT_ERR_INVALID_ARG,
                        "--calib-sizes %" PRId64 ": %s holds %" PRId64 " samples; every size "
                        "must be from 1 to that",
                        sizes[i], o->calibration, *have);
        if (sizes[i] > most) most = sizes[i];
    }
    if (s == TT_OK && !(*x = malloc((size_t)(most * row) * sizeof **x)))
        s = tt_fail(TT_ERR_NOMEM, "%s: out of memory for %" PRId64 " samples", o->calibration,
                    most);
    if (s == TT_OK) s = tt_ptq_source_read(src, most, *x);
    tt_ptq_source_close(src);
    return s;
}

static tt_status size_row(const tt_eval_study_opts *o, const work_dir *w, const char *name,
                          const tt_shape *shape, const float *x, int64_t n, tt_eval_quant_row *row)
{
    char calib[PATH_MAX_EVAL], model[PATH_MAX_EVAL], tag[32];
    snprintf(tag, sizeof tag, "%" PRId64, n);
    work_path(w, "calib_", tag, ".npz", calib, sizeof calib);
    work_path(w, "calib_", tag, ".int8.onnx", model, sizeof model);
    tt_status s = write_subset(calib, name, shape, x, n);
    tt_ptq_opts po = o->ptq;
    po.n_exclude = 0;
    po.exclude = NULL;
    if (s == TT_OK) s = quantise_and_eval(o, calib, model, &po, row);
    work_done(w, calib);
    work_done(w, model);
    return s;
}

tt_status tt_eval_calib_sizes(const tt_eval_study_opts *o, const int64_t *sizes, int n_sizes,
                              tt_eval_study *out)
{
    TT_CHECK_NULL(out, "tt_eval_calib_sizes");
    memset(out, 0, sizeof *out);
    TT_CHECK_NULL(o, "tt_eval_calib_sizes");
    TT_CHECK_NULL(sizes, "tt_eval_calib_sizes");
    if (n_sizes < 1) return tt_fail(TT_ERR_INVALID_ARG, "--calib-sizes: no sizes given");
    char name[TT_NAME_MAX];
    tt_shape shape;
    float *x = NULL;
    TT_CHECK(study_open(o, n_sizes, out));
    tt_status s = model_input(o->model, name, sizeof name, &shape);
    if (s == TT_OK) s = read_first(o, name, &shape, sizes, n_sizes, &x, &out->calib_samples);
    work_dir w;
    bool opened = s == TT_OK && (s = work_open(o->work_dir, &w)) == TT_OK;
    for (int i = 0; s == TT_OK && i < n_sizes; i++) {
        tt_eval_quant_row *row = &out->rows[i];
        snprintf(row->label, sizeof row->label, "%" PRId64 " samples", sizes[i]);
        s = size_row(o, &w, name, &shape, x, sizes[i], row);
        if (s != TT_OK) {
            s = explain(s, "calibrating on", row->label);
        } else if (o->on_row) {
            o->on_row(row, i, n_sizes, o->user);
        }
        out->n_rows = i + 1;
    }
    if (opened) work_close(&w);
    free(x);
    if (s != TT_OK) tt_eval_study_free(out);
    return s;
}
