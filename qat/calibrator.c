/* The calibrator object (tinytrain/calibrator.h): options, the per-batch scan, MinMax and the
 * percentile cut; the histograms live in calib_hist.c and the entropy search in
 * calib_entropy.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "autograd/internal.h"
#include "qat/calib_internal.h"
#include "tinytrain/calibrator.h"

struct tt_calibrator {
    tt_calib_method method;
    tt_calibrator_opts o;
    int64_t values, batches;
    float min, max; /* over all updates */
    /* MinMax, moving average: the per-batch minima and maxima of the open chunk */
    float *cmin, *cmax;
    int64_t chunk_n, chunk_cap;
    bool have_run; /* a closed chunk has set run_min/run_max */
    float run_min, run_max;
    /* prescan */
    bool prescanned;
    tt_calib_stats pre;
    tt_calib_hist hist;
};

static const char *const METHOD_NAMES[] = {"minmax", "entropy", "percentile"};

const char *tt_calib_method_name(tt_calib_method m)
{
    return (unsigned)m < 3 ? METHOD_NAMES[m] : "?";
}

tt_status tt_calib_method_parse(const char *name, tt_calib_method *out)
{
    TT_CHECK_NULL(name, "tt_calib_method_parse");
    TT_CHECK_NULL(out, "tt_calib_method_parse");
    for (int i = 0; i < 3; i++)
        if (strcmp(name, METHOD_NAMES[i]) == 0) {
            *out = (tt_calib_method)i;
            return TT_OK;
        }
    return tt_fail(TT_ERR_INVALID_ARG,
                   "unknown calibration method '%s': use minmax, entropy or percentile", name);
}

tt_calibrator_opts tt_calibrator_defaults(tt_calib_method m)
{
    tt_calibrator_opts o = {.num_bins = 2048,
                            .num_quantized_bins = 128,
                            .percentile = 99.999,
                            .symmetric = m == TT_CALIB_PERCENTILE,
                            .moving_average = false,
                            .averaging_constant = 0.01f,
                            .chunk_batches = 0};
    return o;
}

static tt_status check_opts(tt_calib_method m, const tt_calibrator_opts *o)
{
    const char *mn = tt_calib_method_name(m);
    if (m == TT_CALIB_MINMAX) {
        if (o->moving_average && !(o->averaging_constant >= 0.0f && o->averaging_constant <= 1.0f))
            return tt_fail(TT_ERR_INVALID_ARG,
                           "calibrator (minmax): averaging_constant %g is outside [0, 1]",
                           (double)o->averaging_constant);
        if (o->chunk_batches < 0)
            return tt_fail(TT_ERR_INVALID_ARG,
                           "calibrator (minmax): chunk_batches %lld is negative (0 = one chunk)",
                           (long long)o->chunk_batches);
        return TT_OK;
    }
    if (o->num_bins < 1 || o->num_bins > TT_CALIB_MAX_BINS)
        return tt_fail(TT_ERR_INVALID_ARG, "calibrator (%s): num_bins %lld is outside [1, %lld]",
                       mn, (long long)o->num_bins, (long long)TT_CALIB_MAX_BINS);
    if (m == TT_CALIB_ENTROPY && (o->num_quantized_bins < 1 || o->num_quantized_bins > o->num_bins))
        return tt_fail(TT_ERR_INVALID_ARG,
                       "calibrator (entropy): num_quantized_bins %lld is outside [1, num_bins = "
                       "%lld]; the search compares windows of at least num_quantized_bins bins",
                       (long long)o->num_quantized_bins, (long long)o->num_bins);
    if (m == TT_CALIB_PERCENTILE && !(o->percentile > 0.0 && o->percentile <= 100.0))
        return tt_fail(TT_ERR_INVALID_ARG,
                       "calibrator (percentile): percentile %g is outside (0, 100] (e.g. 99.999)",
                       o->percentile);
    return TT_OK;
}

tt_status tt_calibrator_create(tt_calib_method m, const tt_calibrator_opts *opts,
                               tt_calibrator **out)
{
    TT_CHECK_NULL(out, "tt_calibrator_create");
    *out = NULL;
    if ((unsigned)m > TT_CALIB_PERCENTILE)
        return tt_fail(TT_ERR_INVALID_ARG, "tt_calibrator_create: unknown method %d", (int)m);
    tt_calibrator_opts o = opts ? *opts : tt_calibrator_defaults(m);
    TT_CHECK(check_opts(m, &o));
    tt_calibrator *c = calloc(1, sizeof *c);
    if (!c) return tt_fail(TT_ERR_NOMEM, "tt_calibrator_create: out of memory");
    c->method = m;
    c->o = o;
    c->min = INFINITY;
    c->max = -INFINITY;
    bool absval = m == TT_CALIB_PERCENTILE && o.symmetric;
    tt_calib_hist_init(&c->hist, absval, o.num_bins);
    *out = c;
    return TT_OK;
}

void tt_calibrator_free(tt_calibrator *c)
{
    if (!c) return;
    free(c->cmin);
    free(c->cmax);
    tt_calib_hist_free(&c->hist);
    free(c);
}

bool tt_calibrator_wants_prescan(const tt_calibrator *c)
{
    return c && c->method != TT_CALIB_MINMAX;
}

int64_t tt_calibrator_count(const tt_calibrator *c)
{
    return c ? c->values : 0;
}
int64_t tt_calibrator_batches(const tt_calibrator *c)
{
    return c ? c->batches : 0;
}

/* min/max of x and |x|, refusing NaN, inf and (for histograms) values too large to bin. */
static tt_status scan(const tt_calibrator *c, const char *fn, const float *x, int64_t n,
                      tt_calib_stats *s)
{
    float mn = INFINITY, mx = -INFINITY, amn = INFINITY, amx = 0.0f;
    int64_t nan = 0, inf = 0;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i], a = fabsf(v);
        nan += v != v;
        inf += a == INFINITY;
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
        amn = a < amn ? a : amn;
        amx = a > amx ? a : amx;
    }
    if (nan || inf)
        return tt_fail(TT_ERR_NUMERIC,
                       "%s: batch %lld holds %lld NaN and %lld infinite values among %lld: "
                       "calibration data must be finite (check the calibration set and the "
                       "model's layers before this tensor)",
                       fn, (long long)c->batches, (long long)nan, (long long)inf, (long long)n);
    if (c->method != TT_CALIB_MINMAX && amx > TT_CALIB_MAX_ABS)
        return tt_fail(TT_ERR_NUMERIC,
                       "%s: batch %lld holds |x| = %g, beyond the %g a histogram can span in "
                       "float32; use the minmax method for this tensor",
                       fn, (long long)c->batches, (double)amx, (double)TT_CALIB_MAX_ABS);
    *s = (tt_calib_stats){mn, mx, amn, amx};
    return TT_OK;
}

static tt_status check_batch(const tt_calibrator *c, const char *fn, const float *x, int64_t n)
{
    TT_CHECK_NULL(c, fn);
    if (n < 0)
        return tt_fail(TT_ERR_INVALID_ARG, "%s: negative value count %lld", fn, (long long)n);
    if (n > 0) TT_CHECK_NULL(x, fn);
    return TT_OK;
}

tt_status tt_calibrator_prescan(tt_calibrator *c, const float *x, int64_t n)
{
    TT_CHECK(check_batch(c, "tt_calibrator_prescan", x, n));
    if (c->values > 0)
        return tt_fail(TT_ERR_STATE, "tt_calibrator_prescan: called after tt_calibrator_update; "
                                     "prescan every batch first, then update");
    if (n == 0) return TT_OK;
    tt_calib_stats s;
    TT_CHECK(scan(c, "tt_calibrator_prescan", x, n, &s));
    if (!c->prescanned) {
        c->pre = s;
        c->prescanned = true;
    } else {
        c->pre.min = s.min < c->pre.min ? s.min : c->pre.min;
        c->pre.max = s.max > c->pre.max ? s.max : c->pre.max;
        c->pre.amin = s.amin < c->pre.amin ? s.amin : c->pre.amin;
        c->pre.amax = s.amax > c->pre.amax ? s.amax : c->pre.amax;
    }
    return TT_OK;
}

/* ---- MinMax ---- */

static tt_status chunk_push(tt_calibrator *c, float mn, float mx)
{
    if (c->chunk_n == c->chunk_cap) {
        int64_t cap = c->chunk_cap ? 2 * c->chunk_cap : 64;
        float *a = realloc(c->cmin, (size_t)cap * sizeof *a);
        if (!a)
            return tt_fail(TT_ERR_NOMEM, "calibrator: out of memory (%lld batches)",
                           (long long)cap);
        c->cmin = a;
        float *b = realloc(c->cmax, (size_t)cap * sizeof *b);
        if (!b)
            return tt_fail(TT_ERR_NOMEM, "calibrator: out of memory (%lld batches)",
                           (long long)cap);
        c->cmax = b;
        c->chunk_cap = cap;
    }
    c->cmin[c->chunk_n] = mn;
    c->cmax[c->chunk_n] = mx;
    c->chunk_n++;
    return TT_OK;
}

/* One collect_data call's range (compute_data): nanmean of the per-batch minima and maxima
 * (a float32 pairwise sum divided by the count in double), symmetric if asked. */
static void chunk_range(const tt_calibrator *c, float *mn, float *mx)
{
    double k = (double)c->chunk_n;
    float lo = (float)((double)tt_np_sum_f32(c->cmin, c->chunk_n) / k);
    float hi = (float)((double)tt_np_sum_f32(c->cmax, c->chunk_n) / k);
    if (c->o.symmetric) {
        float a = fabsf(lo) >= fabsf(hi) ? fabsf(lo) : fabsf(hi);
        lo = -a;
        hi = a;
    }
    *mn = lo;
    *mx = hi;
}

/* merge_range with moving_average: old + c * (new - old), each step rounded to float32. */
static void chunk_merge(const tt_calibrator *c, float lo, float hi, float *rmin, float *rmax)
{
    if (!c->have_run) {
        *rmin = lo;
        *rmax = hi;
        return;
    }
    float k = c->o.averaging_constant;
    float dlo = lo - c->run_min, dhi = hi - c->run_max;
    float slo = k * dlo, shi = k * dhi;
    *rmin = c->run_min + slo;
    *rmax = c->run_max + shi;
}

static tt_status minmax_update(tt_calibrator *c, const tt_calib_stats *s)
{
    if (!c->o.moving_average) return TT_OK; /* the global min/max are kept for every method */
    TT_CHECK(chunk_push(c, s->min, s->max));
    if (c->o.chunk_batches > 0 && c->chunk_n == c->o.chunk_batches) {
        float lo, hi;
        chunk_range(c, &lo, &hi);
        chunk_merge(c, lo, hi, &c->run_min, &c->run_max);
        c->have_run = true;
        c->chunk_n = 0;
    }
    return TT_OK;
}

static void minmax_range(const tt_calibrator *c, float *rmin, float *rmax)
{
    if (!c->o.moving_average) {
        float lo = c->min, hi = c->max;
        if (c->o.symmetric) {
            float a = fabsf(lo) >= fabsf(hi) ? fabsf(lo) : fabsf(hi);
            lo = -a;
            hi = a;
        }
        *rmin = lo;
        *rmax = hi;
        return;
    }
    *rmin = c->run_min;
    *rmax = c->run_max;
    if (c->chunk_n > 0) { /* the open chunk counts as a last collect_data call */
        float lo, hi;
        chunk_range(c, &lo, &hi);
        chunk_merge(c, lo, hi, rmin, rmax);
    }
}

/* ---- update / range ---- */

tt_status tt_calibrator_update(tt_calibrator *c, const float *x, int64_t n)
{
    TT_CHECK(check_batch(c, "tt_calibrator_update", x, n));
    if (n == 0) return TT_OK;
    tt_calib_stats s;
    TT_CHECK(scan(c, "tt_calibrator_update", x, n, &s));
    if (c->method == TT_CALIB_MINMAX) {
        TT_CHECK(minmax_update(c, &s));
    } else {
        if (c->prescanned && !c->hist.started) tt_calib_hist_fix(&c->hist, &c->pre);
        TT_CHECK(tt_calib_hist_add(&c->hist, x, n, &s));
    }
    c->min = s.min < c->min ? s.min : c->min;
    c->max = s.max > c->max ? s.max : c->max;
    c->values += n;
    c->batches++;
    return TT_OK;
}

/* np.searchsorted(cdf, v): the first bin whose cumulative share reaches v (nbins if none). */
static int64_t cdf_search(const int64_t *counts, int64_t nbins, int64_t total, double v)
{
    double cdf = 0.0;
    for (int64_t i = 0; i < nbins; i++) {
        cdf += (double)counts[i] / (double)total;
        if (cdf >= v) return i;
    }
    return nbins;
}

/* compute_percentile: the cut edge(s), before clipping. */
static void percentile_range(const tt_calibrator *c, float *lo, float *hi)
{
    const tt_calib_hist *h = &c->hist;
    int64_t total = 0;
    for (int64_t i = 0; i < h->nbins; i++) total += h->counts[i];
    double p = c->o.percentile;
    if (c->o.symmetric) {
        float t = h->edges[cdf_search(h->counts, h->nbins, total, p / 100.0)];
        *lo = -t;
        *hi = t;
    } else {
        double cut = (100.0 - p) / 200.0;
        *hi = h->edges[cdf_search(h->counts, h->nbins, total, 1.0 - cut)];
        *lo = h->edges[cdf_search(h->counts, h->nbins, total, cut)];
    }
}

static tt_status entropy_range(const tt_calibrator *c, float *lo, float *hi)
{
    const tt_calib_hist *h = &c->hist;
    int64_t best, nq = c->o.num_quantized_bins;
    TT_CHECK(tt_calib_entropy_search(h->counts, h->nbins, nq, NULL, NULL, &best));
    int64_t i = nq / 2 + best, zb = h->nbins / 2;
    int64_t end = zb + i + 1 < h->nbins ? zb + i + 1 : h->nbins;
    *lo = h->edges[zb - i];
    *hi = h->edges[end];
    return TT_OK;
}

tt_status tt_calibrator_range(const tt_calibrator *c, float *rmin, float *rmax)
{
    TT_CHECK_NULL(c, "tt_calibrator_range");
    TT_CHECK_NULL(rmin, "tt_calibrator_range");
    TT_CHECK_NULL(rmax, "tt_calibrator_range");
    if (c->values == 0)
        return tt_fail(TT_ERR_STATE,
                       "tt_calibrator_range (%s): no values were calibrated (an empty "
                       "calibration set, or tt_calibrator_update never called with data)",
                       tt_calib_method_name(c->method));
    float lo, hi;
    if (c->method == TT_CALIB_MINMAX) {
        minmax_range(c, rmin, rmax);
        return TT_OK;
    }
    if (c->method == TT_CALIB_PERCENTILE)
        percentile_range(c, &lo, &hi);
    else
        TT_CHECK(entropy_range(c, &lo, &hi));
    /* both methods clip their thresholds to the values seen */
    *rmin = lo < c->min ? c->min : lo;
    *rmax = hi > c->max ? c->max : hi;
    return TT_OK;
}

tt_status tt_calibrator_histogram(const tt_calibrator *c, const int64_t **counts,
                                  const float **edges, int64_t *nbins)
{
    TT_CHECK_NULL(c, "tt_calibrator_histogram");
    if (c->method == TT_CALIB_MINMAX || !c->hist.started)
        return tt_fail(TT_ERR_STATE, "tt_calibrator_histogram: %s",
                       c->method == TT_CALIB_MINMAX ? "minmax keeps no histogram"
                                                    : "no values were calibrated yet");
    if (counts) *counts = c->hist.counts;
    if (edges) *edges = c->hist.edges;
    if (nbins) *nbins = c->hist.nbins;
    return TT_OK;
}
