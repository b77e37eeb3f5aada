/* Calibrator internals (tinytrain/calibrator.h): numpy's float32 arithmetic as ORT's
 * calibrators use it (calib_numpy.c), ORT's HistogramCollector (calib_hist.c) and its KL
 * threshold search (calib_entropy.c). Every function here reproduces one numpy or ORT
 * computation operation for operation, in the same precision: the histograms (counts and
 * edges) and percentile thresholds come out bit for bit equal to ORT's. */
#ifndef TT_QAT_CALIB_INTERNAL_H
#define TT_QAT_CALIB_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include "tinytrain/status.h"

/* ---- numpy (calib_numpy.c) ---- */

/* np.linspace(lo, hi, n + 1, dtype=float32) into e[0..n]: e[k] = k * step + lo in float32
 * with step = (hi - lo) / n (or numpy's denormal-step variant), e[n] = hi. Returns false when
 * the edges are not strictly increasing (np.histogram's "Too many bins for data range"). */
bool tt_np_linspace_f32(float lo, float hi, int64_t n, float *e);

/* np.histogram's outer edges for an explicit or data range: (lo - 0.5, hi + 0.5) when
 * lo == hi, in float32. */
void tt_np_outer_edges(float *lo, float *hi);

/* np.histogram(v, bins=n, range=(e[0], e[n])) added into cnt, with v = x or |x|: numpy's
 * equal-bin algorithm (index from ((v - e[0]) / (e[n] - e[0])) * n in float32, corrected
 * by one against the edges); values outside [e[0], e[n]] are dropped. */
void tt_np_hist_uniform(const float *x, int64_t n, bool absval, const float *e, int64_t nbins,
                        int64_t *cnt);

/* np.histogram(v, bins=e) added into cnt (any non-decreasing edges, compared in double):
 * bin i holds e[i] <= v < e[i+1], the last bin also v == e[nbins]; others dropped. */
void tt_np_hist_edges(const float *x, int64_t n, bool absval, const double *e, int64_t nbins,
                      int64_t *cnt);

/* np.arange(start, stop, step) for float32 scalars (a float64 array): its length, and
 * element k. */
int64_t tt_np_arange_len(float start, float stop, float step);
double tt_np_arange_at(float start, float step, int64_t k);

/* a // b for float32 scalars (numpy's npy_floor_divide). */
float tt_np_floor_divide_f32(float a, float b);

/* np.sum of a contiguous float32 array: numpy's pairwise summation (blocks of 128, eight
 * accumulators), in float32. */
float tt_np_sum_f32(const float *a, int64_t n);

/* ---- ORT's HistogramCollector (calib_hist.c) ---- */

/* The statistics of one batch that the collector needs (NaN/inf already refused). */
typedef struct tt_calib_stats {
    float min, max;   /* of x */
    float amin, amax; /* of |x| */
} tt_calib_stats;

typedef struct tt_calib_hist {
    bool absval;        /* |x| histogram (collect_absolute_value) or x on [-t, t] (collect_value) */
    bool started;       /* the first batch has set the edges */
    bool fixed;         /* prescanned: the edges span all data, counted as one np.histogram */
    int64_t nbins;      /* current bins */
    int64_t *counts;    /* nbins */
    float *edges;       /* nbins + 1, float32 as ORT keeps them */
    float thr;          /* collect_value: the t of [-t, t] (0 possible: edges then +-0.5) */
    tt_calib_stats pre; /* the prescan's, when fixed */
} tt_calib_hist;

/* An empty collector with nbins initial bins. */
void tt_calib_hist_init(tt_calib_hist *h, bool absval, int64_t nbins);
void tt_calib_hist_free(tt_calib_hist *h);

/* Use `pre` (statistics of all batches) for the first batch's edges and count every batch
 * against them (one-shot histogram). Before the first add only. */
void tt_calib_hist_fix(tt_calib_hist *h, const tt_calib_stats *pre);

/* One batch of n > 0 finite values with statistics s (collect_value / collect_absolute_value,
 * growing and merging as ORT does). On failure h is unchanged. */
tt_status tt_calib_hist_add(tt_calib_hist *h, const float *x, int64_t n, const tt_calib_stats *s);

/* ---- ORT's threshold searches (calib_entropy.c) ---- */

/* get_entropy_threshold's search over counts[0..nbins): writes the index of the winning
 * window (window c spans bins [nbins/2 - i, min(nbins/2 + i + 1, nbins)), i = nq/2 + c) to
 * *best. kl (optional) gets every window's KL divergence, as ORT's float32 computation gives
 * it (+inf for a window ORT cannot smooth), absmass (optional) the sum of |p log(p/q)| over its
 * terms, in double; both need tt_calib_entropy_windows() entries. Needs
 * 1 <= nq <= nbins. TT_ERR_NOMEM if scratch cannot be allocated. */
int64_t tt_calib_entropy_windows(int64_t nbins, int64_t nq);
tt_status tt_calib_entropy_search(const int64_t *counts, int64_t nbins, int64_t nq, double *kl,
                                  double *absmass, int64_t *best);

#endif
