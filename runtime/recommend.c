/* tinytrain recommend (tinytrain/ptq.h, docs/ptq.md): the seed's policy "pick the cheapest mode
 * that stays inside the budget", run rather than assumed. Each candidate, cheapest first, is made
 * with tt_ptq_quantize and measured against the fp32 model by tt_gate_pair, the gate's own
 * inputs, metrics and verdict, so a recommended file is one `tinytrain gate` passes. All of them
 * are measured (the table shows what each mode costs in accuracy); the first that passes is the
 * recommendation, and none passing points to QAT. The reports are written by ptq_report.c. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include "data/dataset_internal.h"
#include "tinytrain/ptq.h"
#include "tinytrain/runtime.h"

static const struct {
    const char *label;
    tt_ptq_mode mode;
    tt_calib_method method;
} kinds[TT_PTQ_CANDIDATES] = {
    {"dynamic", TT_PTQ_DYNAMIC, TT_CALIB_MINMAX},
    {"static-minmax", TT_PTQ_STATIC, TT_CALIB_MINMAX},
    {"static-entropy", TT_PTQ_STATIC, TT_CALIB_ENTROPY},
    {"static-percentile", TT_PTQ_STATIC, TT_CALIB_PERCENTILE},
};

/* Each mode with the defaults `tinytrain ptq` gives it. */
static tt_ptq_opts kind_opts(int k)
{
    if (kinds[k].mode == TT_PTQ_DYNAMIC) return tt_ptq_dynamic_defaults();
    tt_ptq_opts o = tt_ptq_defaults();
    o.method = kinds[k].method;
    o.calib = tt_calibrator_defaults(kinds[k].method);
    return o;
}

static void run_candidate(const char *model, const char *calib, const tt_ptq_recommend_opts *o,
                          tt_ptq_candidate *c)
{
    bool dynamic = c->opts.mode == TT_PTQ_DYNAMIC;
    if (!dynamic && !calib) {
        snprintf(c->message, sizeof c->message, "not made: static PTQ needs a calibration set");
        return;
    }
    tt_ptq_result res;
    if (tt_ptq_quantize(model, dynamic ? NULL : calib, c->path, &c->opts, &res) != TT_OK) {
        snprintf(c->message, sizeof c->message, "not made: %s", tt_last_error());
        return;
    }
    c->built = true;
    c->bytes = res.output_bytes;
    tt_ptq_result_free(&res);
    if (tt_gate_pair(model, c->path, c->label, o->budget, &o->gate, &c->gate) != TT_OK) {
        snprintf(c->message, sizeof c->message, "not gated: %s", tt_last_error());
        return;
    }
    c->pass = c->gate.status == TT_GATE_ST_PASS;
    snprintf(c->message, sizeof c->message, "%s", c->gate.message);
}

static tt_status check_args(const char *model, const tt_ptq_recommend_opts *o)
{
    TT_CHECK_NULL(model, "tt_ptq_recommend");
    TT_CHECK_NULL(o, "tt_ptq_recommend");
    TT_CHECK_NULL(o->dir, "tt_ptq_recommend");
    if (!(o->budget >= 0.0 && o->budget <= 1.0))
        return tt_fail(TT_ERR_INVALID_ARG,
                       "budget %g: the gate's budget on drop = 1 - PLCC is a number in [0, 1]",
                       o->budget);
    struct stat st;
    if (stat(o->dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return tt_fail(TT_ERR_IO, "%s: not a directory; the candidates are written there", o->dir);
    if (strlen(o->dir) > 4000)
        return tt_fail(TT_ERR_INVALID_ARG, "%s: directory path too long", o->dir);
    return TT_OK;
}

tt_status tt_ptq_recommend(const char *model, const char *calib_path,
                           const tt_ptq_recommend_opts *o, tt_ptq_recommendation *r)
{
    TT_CHECK_NULL(r, "tt_ptq_recommend");
    memset(r, 0, sizeof *r);
    r->chosen = -1;
    TT_CHECK(check_args(model, o));
    /* One clear error for a model no candidate could be made from. */
    tt_model *m = NULL;
    TT_CHECK(tt_onnx_import(model, NULL, &m));
    tt_model_free(m);
    TT_CHECK(tt_sha256_file(model, r->fp32_sha256, &r->fp32_bytes));
    r->n = TT_PTQ_CANDIDATES;
    for (int k = 0; k < r->n; k++) {
        tt_ptq_candidate *c = &r->c[k];
        c->label = kinds[k].label;
        c->opts = kind_opts(k);
        snprintf(c->path, sizeof c->path, "%s/%s.int8.onnx", o->dir, c->label);
        run_candidate(model, calib_path, o, c);
        if (c->pass && r->chosen < 0) r->chosen = k;
    }
    return TT_OK;
}
