/* One model over an evaluation data set, the task's metrics, and two models' agreement
 * (tinytrain/eval.h). The metrics are the trainer's (tinytrain/metrics.h), applied to outputs
 * kept whole: SROCC and the comparison need every sample at once. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "autograd/internal.h"
#include "tinytrain/eval.h"
#include "tinytrain/metrics.h"

/* Samples per tt_runtime_run call: the progress callback's step (the runtime splits each call
 * into its own batches). */
#define EVAL_CHUNK 1024

/* The last k samples of a model that fixes its batch at fb, padded with zeros to a whole batch
 * (the runtime runs exactly fb samples at a time); only the k real outputs are kept. */
static tt_status run_padded(tt_runtime *rt, const float *x, int64_t k, int64_t fb, float *y)
{
    int64_t in = tt_runtime_input_size(rt), m = tt_runtime_output_size(rt);
    int64_t padded = (k + fb - 1) / fb * fb;
    float *px = calloc((size_t)(padded * in), sizeof *px);
    float *py = malloc((size_t)(padded * m) * sizeof *py);
    tt_status s = px && py ? TT_OK : tt_fail(TT_ERR_NOMEM, "tt_eval_predict: out of memory");
    if (s == TT_OK) {
        memcpy(px, x, (size_t)(k * in) * sizeof *px);
        s = tt_runtime_run(rt, px, padded, py);
    }
    if (s == TT_OK) memcpy(y, py, (size_t)(k * m) * sizeof *py);
    free(px);
    free(py);
    return s;
}

tt_status tt_eval_predict(tt_runtime *rt, const tt_eval_data *d, const char *what,
                          tt_eval_progress_fn cb, void *user, float **out)
{
    TT_CHECK_NULL(out, "tt_eval_predict");
    *out = NULL;
    TT_CHECK_NULL(rt, "tt_eval_predict");
    TT_CHECK_NULL(d, "tt_eval_predict");
    const tt_dataset *ds = d->ds;
    int64_t in = tt_runtime_input_size(rt), m = tt_runtime_output_size(rt);
    if (!ds || !ds->inputs || ds->input_numel != in)
        return tt_fail(TT_ERR_SHAPE, "%s: the data does not fit the model's input (%lld values)",
                       what ? what : "eval", (long long)in);
    int64_t fb = tt_runtime_input_shape(rt)->dims[0], chunk = EVAL_CHUNK;
    if (fb > 0) chunk = (EVAL_CHUNK + fb - 1) / fb * fb; /* whole fixed batches */
    float *y = malloc((size_t)(ds->n * m) * sizeof *y);
    if (!y) return tt_fail(TT_ERR_NOMEM, "%s: out of memory for the outputs", what);
    for (int64_t i = 0; i < ds->n; i += chunk) {
        int64_t k = ds->n - i < chunk ? ds->n - i : chunk;
        tt_status s = fb > 1 && k % fb ? run_padded(rt, ds->inputs + i * in, k, fb, y + i * m)
                                       : tt_runtime_run(rt, ds->inputs + i * in, k, y + i * m);
        if (s != TT_OK) {
            free(y);
            return s;
        }
        if (cb) cb(what, i + k, ds->n, user);
    }
    *out = y;
    return TT_OK;
}

static void reset(tt_eval_result *r, tt_task task, int64_t n)
{
    tt_eval_result_reset(r, task);
    r->n = n;
}

static tt_status classify(const tt_dataset *ds, const float *y, int64_t m, tt_eval_result *r)
{
    tt_confusion c;
    TT_CHECK(tt_confusion_init(&c, (int)m));
    tt_status s = tt_confusion_add(&c, y, ds->labels, ds->n);
    if (s == TT_OK) tt_eval_result_set_classes(r, &c);
    tt_confusion_free(&c);
    return s;
}

static tt_status regress(const tt_eval_data *d, const float *y, int64_t m, tt_eval_result *r)
{
    const tt_dataset *ds = d->ds;
    int64_t total = ds->n * m;
    r->rmse = tt_rmse(y, ds->targets, total);
    r->plcc = tt_plcc(y, ds->targets, total);
    if (d->task == TT_TASK_IMAGE_TO_IMAGE) {
        r->psnr = tt_psnr_mean(y, ds->targets, ds->n, m);
        /* The degraded input's own PSNR, the baseline a filter must beat: only where the
         * inputs are the raw values (a normalised input is not an image in [0, 1]). */
        if (ds->n_norm == 0 && ds->input_numel == m)
            r->psnr_input = tt_psnr_mean(ds->inputs, ds->targets, ds->n, m);
        return TT_OK;
    }
    void *scratch = malloc(tt_srocc_scratch_bytes(total));
    if (!scratch) return tt_fail(TT_ERR_NOMEM, "%s: out of memory for SROCC", d->path);
    r->srocc = tt_srocc(y, ds->targets, total, scratch);
    free(scratch);
    return TT_OK;
}

tt_status tt_eval_score(const tt_eval_data *d, const float *outputs, int64_t out_numel,
                        tt_eval_result *r)
{
    TT_CHECK_NULL(d, "tt_eval_score");
    TT_CHECK_NULL(outputs, "tt_eval_score");
    TT_CHECK_NULL(r, "tt_eval_score");
    if (!d->ds || out_numel < 1)
        return tt_fail(TT_ERR_INVALID_ARG, "tt_eval_score: no data or no outputs");
    reset(r, d->task, d->ds->n);
    if (d->task == TT_TASK_CLASSIFICATION) return classify(d->ds, outputs, out_numel, r);
    if (d->ds->target_numel != out_numel)
        return tt_fail(TT_ERR_SHAPE, "%s: targets of %lld values against %lld outputs", d->path,
                       (long long)d->ds->target_numel, (long long)out_numel);
    return regress(d, outputs, out_numel, r);
}

int64_t tt_eval_argmax(const float *z, int64_t m)
{
    int64_t best = 0;
    for (int64_t k = 1; k < m; k++)
        if (z[k] > z[best]) best = k;
    return best;
}

void tt_eval_agree(const float *a, const float *b, int64_t n, int64_t m, tt_eval_agreement *ag)
{
    memset(ag, 0, sizeof *ag);
    tt_gate_compare(a, b, n * m, &ag->gate);
    int64_t same = 0;
    for (int64_t i = 0; i < n; i++)
        same += tt_eval_argmax(a + i * m, m) == tt_eval_argmax(b + i * m, m);
    ag->top1 = n > 0 ? 100.0 * (double)same / (double)n : NAN;
}
