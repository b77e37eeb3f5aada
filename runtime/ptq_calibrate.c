/* The calibration passes: the prepared float graph runs over the calibration set one batch at a
 * time (eval mode, fake quantisation off), and the tensor entering each activation FakeQuant
 * goes to that point's calibrator. Histogram methods get the prescan pass first, so their one
 * histogram spans all the data from the start: the counts of quantize_static's single
 * np.histogram over every calibration output, with one batch in memory. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include "autograd/internal.h"
#include "runtime/ptq_internal.h"
#include "tinytrain/exec.h"

bool tt_ptq_is_weight_point(const tt_graph *g, const tt_node *n)
{
    return n->op == TT_OP_FAKEQUANT && g->values[n->in[0]].kind == TT_VALUE_PARAM;
}

typedef struct cal_run {
    tt_graph *g;
    tt_exec *e;
    float *x;
    int in_id;
    tt_ptq_source *src;
    int64_t batch, n;
    bool fixed;
    int n_points;
    const int *points;
    tt_calibrator **cal;
} cal_run;

/* A calibrator failure, prefixed with the point (its tensor) and where it happened. */
static tt_status point_fail(const cal_run *r, int i, tt_status s, const char *when)
{
    char why[800];
    snprintf(why, sizeof why, "%s", tt_last_error());
    const tt_node *n = &r->g->nodes[r->points[i]];
    return tt_fail(s, "calibrating '%s' (%s): %s", r->g->values[n->in[0]].name, when, why);
}

static tt_status one_pass(cal_run *r, bool prescan, int64_t *batches)
{
    TT_CHECK(tt_ptq_source_rewind(r->src));
    int64_t b = 0;
    for (int64_t done = 0; done < r->n; done += r->batch, b++) {
        int64_t k = r->n - done < r->batch ? r->n - done : r->batch;
        TT_CHECK(tt_ptq_source_read(r->src, k, r->x));
        TT_CHECK(tt_exec_set_input(r->e, r->in_id, r->x, k));
        TT_CHECK(tt_exec_forward(r->e, k, false));
        for (int i = 0; i < r->n_points; i++) {
            const tt_tensor *t = tt_exec_value(r->e, r->g->nodes[r->points[i]].in[0]);
            const float *v = tt_tensor_f32(t);
            int64_t nv = tt_tensor_numel(t);
            tt_status s = prescan ? tt_calibrator_prescan(r->cal[i], v, nv)
                                  : tt_calibrator_update(r->cal[i], v, nv);
            if (s != TT_OK) {
                char when[64];
                snprintf(when, sizeof when, "%s pass, batch %" PRId64,
                         prescan ? "prescan" : "calibration", b);
                return point_fail(r, i, s, when);
            }
        }
    }
    *batches = b;
    return TT_OK;
}

static tt_status run(cal_run *r, tt_calib_method m, const tt_calibrator_opts *co,
                     tt_ptq_cal_out *out)
{
    for (int i = 0; i < r->n_points; i++) TT_CHECK(tt_calibrator_create(m, co, &r->cal[i]));
    r->n = tt_ptq_source_count(r->src);
    if (r->fixed && r->n % r->batch)
        return tt_fail(TT_ERR_SHAPE,
                       "the model declares a fixed batch of %" PRId64 " and the calibration set "
                       "has %" PRId64 " samples, not a multiple of it; export the model with a "
                       "symbolic batch dimension or trim the set",
                       r->batch, r->n);
    if (!r->fixed && r->batch > r->n) r->batch = r->n; /* no executor memory beyond the set */
    const tt_shape *in = &r->g->values[r->in_id].shape;
    int64_t row = 1;
    for (int i = 1; i < in->ndim; i++) row *= in->dims[i];
    r->x = malloc((size_t)(r->batch * row) * sizeof *r->x);
    if (!r->x) return tt_fail(TT_ERR_NOMEM, "calibration: out of memory for one batch");
    TT_CHECK(tt_exec_create(r->g, r->batch, &r->e));
    out->passes = tt_calibrator_wants_prescan(r->cal[0]) ? 2 : 1;
    if (out->passes == 2) TT_CHECK(one_pass(r, true, &out->batches));
    TT_CHECK(one_pass(r, false, &out->batches));
    for (int i = 0; i < r->n_points; i++) {
        tt_status s = tt_calibrator_range(r->cal[i], &out->rmin[i], &out->rmax[i]);
        if (s != TT_OK) return point_fail(r, i, s, "its range");
        out->values[i] = tt_calibrator_count(r->cal[i]);
    }
    return TT_OK;
}

tt_status tt_ptq_calibrate(tt_graph *g, int in_id, tt_ptq_source *src, int64_t batch, bool fixed,
                           tt_calib_method m, const tt_calibrator_opts *co, int n_points,
                           const int *points, tt_ptq_cal_out *out)
{
    if (n_points < 1)
        return tt_fail(TT_ERR_STATE, "calibration: the model has no activation to calibrate");
    cal_run r = {.g = g,
                 .in_id = in_id,
                 .src = src,
                 .batch = batch,
                 .fixed = fixed,
                 .n_points = n_points,
                 .points = points};
    r.cal = calloc((size_t)n_points, sizeof *r.cal);
    tt_status s = r.cal ? run(&r, m, co, out) : tt_fail(TT_ERR_NOMEM, "calibration: out of memory");
    for (int i = 0; r.cal && i < n_points; i++) tt_calibrator_free(r.cal[i]);
    free(r.cal);
    tt_exec_free(r.e);
    free(r.x);
    return s;
}
