/* ORT's HistogramCollector, one tensor at a time (qat/calib_internal.h).
 *
 * Two histograms, as ORT keeps them:
 * - collect_value (ENTROPY, asymmetric PERCENTILE): bins over [-t, t], t = max |x| of the
 *   first batch. A later batch with t' <= t is counted over the same edges. A batch with
 *   t' > t widens the histogram by h = (t' - t) // stride + 1 bins on each side (stride = 2t /
 *   bins), so old bins stay bins of the new one, all in float32; the old counts are added into
 *   the middle. A histogram whose t is still 0 (all values so far zero) is instead recounted
 *   over [-t', t'] with the same number of bins and the old counts added bin by bin.
 * - collect_absolute_value (symmetric PERCENTILE): bins of |x| over [min |x|, max |x|] of the
 *   first batch. A later batch reaching above the last edge appends bins of the first bin's
 *   width (np.arange, in double, then stored as float32); later batches are counted against
 *   the edge array (values below the first edge are dropped, as in ORT).
 * A prescanned ("fixed") histogram takes its range from all the data at once and counts every
 * batch over it with the equal-bin formula: what one np.histogram call over all values gives. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "autograd/internal.h"
#include "qat/calib_internal.h"
#include "tinytrain/calibrator.h"

void tt_calib_hist_init(tt_calib_hist *h, bool absval, int64_t nbins)
{
    memset(h, 0, sizeof *h);
    h->absval = absval;
    h->nbins = nbins;
}

void tt_calib_hist_free(tt_calib_hist *h)
{
    free(h->counts);
    free(h->edges);
    h->counts = NULL;
    h->edges = NULL;
}

void tt_calib_hist_fix(tt_calib_hist *h, const tt_calib_stats *pre)
{
    h->fixed = true;
    h->pre = *pre;
}

static tt_status too_big(double n)
{
    return tt_fail(TT_ERR_NOMEM,
                   "calibrator: the histogram would grow to %.0f bins (limit %lld): a batch "
                   "reached far beyond the range of the first; make a prescan pass "
                   "(tt_calibrator_prescan) so that the histogram spans the whole range from "
                   "the start",
                   n, (long long)TT_CALIB_MAX_BINS);
}

/* A new (counts, edges) pair of n bins; the caller frees both on failure. */
static tt_status alloc_hist(int64_t n, int64_t **counts, float **edges)
{
    if (n > TT_CALIB_MAX_BINS) return too_big((double)n);
    *counts = calloc((size_t)n, sizeof **counts);
    *edges = malloc((size_t)(n + 1) * sizeof **edges);
    if (!*counts || !*edges)
        return tt_fail(TT_ERR_NOMEM, "calibrator: cannot allocate a histogram of %lld bins",
                       (long long)n);
    return TT_OK;
}

static tt_status too_many_bins(float lo, float hi, int64_t n)
{
    return tt_fail(TT_ERR_NUMERIC,
                   "calibrator: %lld histogram bins over [%.9g, %.9g] would not all have a "
                   "float32 width (numpy: \"Too many bins for data range\"; ONNX Runtime fails "
                   "here too): the values are (almost) constant; use fewer bins, the minmax "
                   "method or an asymmetric percentile for this tensor",
                   (long long)n, (double)lo, (double)hi);
}

/* Replace h's arrays by a fresh histogram over outer(lo, hi) with n bins counting x. */
static tt_status fresh(tt_calib_hist *h, float lo, float hi, int64_t n, const float *x, int64_t nx,
                       int64_t **counts, float **edges)
{
    tt_np_outer_edges(&lo, &hi);
    TT_CHECK(alloc_hist(n, counts, edges));
    if (!tt_np_linspace_f32(lo, hi, n, *edges)) return too_many_bins(lo, hi, n);
    tt_np_hist_uniform(x, nx, h->absval, *edges, n, *counts);
    return TT_OK;
}

static void install(tt_calib_hist *h, int64_t n, int64_t *counts, float *edges)
{
    free(h->counts);
    free(h->edges);
    h->counts = counts;
    h->edges = edges;
    h->nbins = n;
}

/* t of collect_value: max(|min|, |max|), the first of the two on a tie (Python's max). */
static float max_abs(const tt_calib_stats *s)
{
    return fabsf(s->min) >= fabsf(s->max) ? fabsf(s->min) : fabsf(s->max);
}

static tt_status outside_prescan(const tt_calib_stats *s, const tt_calib_stats *pre)
{
    return tt_fail(TT_ERR_STATE,
                   "calibrator: a batch with values in [%.9g, %.9g] lies outside the prescanned "
                   "range [%.9g, %.9g]: the prescan pass and the update pass must see the same "
                   "batches",
                   (double)s->min, (double)s->max, (double)pre->min, (double)pre->max);
}

/* collect_value for a batch whose t' = bt exceeds a non-zero t. */
static tt_status grow_value(tt_calib_hist *h, const float *x, int64_t n, float bt)
{
    float stride = 2.0f * h->thr;
    stride = stride / (float)h->nbins;
    float half = tt_np_floor_divide_f32(bt - h->thr, stride) + 1.0f;
    if (!(half <= (float)TT_CALIB_MAX_BINS)) return too_big(2.0 * half + (double)h->nbins);
    int64_t hb = (int64_t)half;
    int64_t nn = h->nbins + 2 * hb;
    float t = (float)hb * stride;
    t = t + h->thr;
    int64_t *counts = NULL;
    float *edges = NULL;
    tt_status s = fresh(h, -t, t, nn, x, n, &counts, &edges);
    if (s != TT_OK) {
        free(counts);
        free(edges);
        return s;
    }
    for (int64_t i = 0; i < h->nbins; i++) counts[hb + i] += h->counts[i];
    install(h, nn, counts, edges);
    h->thr = t;
    return TT_OK;
}

static tt_status add_value(tt_calib_hist *h, const float *x, int64_t n, const tt_calib_stats *s)
{
    float bt = max_abs(s);
    if (bt <= h->thr) {
        tt_np_hist_uniform(x, n, false, h->edges, h->nbins, h->counts);
        return TT_OK;
    }
    if (h->thr != 0.0f) return grow_value(h, x, n, bt);
    int64_t *counts = NULL;
    float *edges = NULL;
    tt_status st = fresh(h, -bt, bt, h->nbins, x, n, &counts, &edges);
    if (st != TT_OK) {
        free(counts);
        free(edges);
        return st;
    }
    for (int64_t i = 0; i < h->nbins; i++) counts[i] += h->counts[i];
    install(h, h->nbins, counts, edges);
    h->thr = bt;
    return TT_OK;
}

/* collect_absolute_value for a later batch: append bins up to its max |x|, count it against
 * the (double) edges of this step, keep the edges as float32. */
static tt_status add_abs(tt_calib_hist *h, const float *x, int64_t n, const tt_calib_stats *s)
{
    if (h->fixed) {
        tt_np_hist_uniform(x, n, true, h->edges, h->nbins, h->counts);
        return TT_OK;
    }
    int64_t nb = h->nbins, extra = 0;
    float width = h->edges[1] - h->edges[0];
    float start = h->edges[nb] + width;
    if (s->amax > h->edges[nb]) extra = tt_np_arange_len(start, s->amax + width, width);
    if (extra > TT_CALIB_MAX_BINS - nb) return too_big((double)nb + (double)extra);
    int64_t nn = nb + extra;
    double *e = malloc((size_t)(nn + 1) * sizeof *e);
    int64_t *counts = NULL;
    float *edges = NULL;
    tt_status st =
        e ? alloc_hist(nn, &counts, &edges)
          : tt_fail(TT_ERR_NOMEM, "calibrator: cannot allocate %lld edges", (long long)(nn + 1));
    if (st == TT_OK) {
        for (int64_t i = 0; i <= nb; i++) e[i] = h->edges[i];
        for (int64_t k = 0; k < extra; k++) e[nb + 1 + k] = tt_np_arange_at(start, width, k);
        tt_np_hist_edges(x, n, true, e, nn, counts);
        for (int64_t i = 0; i < nb; i++) counts[i] += h->counts[i];
        for (int64_t i = 0; i <= nn; i++) edges[i] = (float)e[i];
        install(h, nn, counts, edges);
    } else {
        free(counts);
        free(edges);
    }
    free(e);
    return st;
}

static tt_status first_batch(tt_calib_hist *h, const float *x, int64_t n, const tt_calib_stats *s)
{
    const tt_calib_stats *r = h->fixed ? &h->pre : s;
    float lo, hi;
    if (h->absval) {
        lo = r->amin;
        hi = r->amax;
    } else {
        hi = max_abs(r);
        lo = -hi;
        h->thr = hi;
    }
    int64_t *counts = NULL;
    float *edges = NULL;
    tt_status st = fresh(h, lo, hi, h->nbins, x, n, &counts, &edges);
    if (st != TT_OK) {
        free(counts);
        free(edges);
        h->thr = 0.0f;
        return st;
    }
    install(h, h->nbins, counts, edges);
    h->started = true;
    return TT_OK;
}

tt_status tt_calib_hist_add(tt_calib_hist *h, const float *x, int64_t n, const tt_calib_stats *s)
{
    if (h->fixed) {
        bool inside = h->absval ? s->amin >= h->pre.amin && s->amax <= h->pre.amax
                                : max_abs(s) <= max_abs(&h->pre);
        if (!inside) return outside_prescan(s, &h->pre);
    }
    if (!h->started) return first_batch(h, x, n, s);
    return h->absval ? add_abs(h, x, n, s) : add_value(h, x, n, s);
}
