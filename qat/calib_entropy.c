/* ORT's entropy threshold search, HistogramCollector.get_entropy_threshold (see
 * qat/calib_internal.h), in ORT's own precision.
 *
 * For a histogram of n bins and nq quantized bins, window c (i = nq/2 + c, c = 0 ..
 * n/2 - nq/2) covers bins [n/2 - i, min(n/2 + i + 1, n)). Per window, as ORT computes it:
 * - p: the window's counts, the counts left and right of it added to its first and last bin;
 * - q: the window (without the outliers) summed in nq groups of m = len / nq bins, the
 *   remainder bins added to the last group's sum; each group's sum divided by the number of
 *   its bins where p is non-zero, truncated to an integer, and written to all m bins of the
 *   group (the remainder bins stay 0);
 * - both smoothed (quant_utils.smooth_distribution: zeros become 1e-4, non-zeros lose
 *   1e-4 * zeros / non-zeros, in float32); a distribution with no non-zero bin has no
 *   smoothing and the window's KL is +inf;
 * - KL = sum p' log(p'/q') with p', q' normalised, all in float32 with numpy's pairwise sums.
 * The first window with the smallest KL wins. ORT asserts (and so fails) when the smoothing
 * would take a non-zero bin to <= 0 (more than 10^4 zero bins per non-zero one); tinytrain
 * gives that window +inf instead.
 *
 * The only operation not reproduced bit for bit is the logarithm: numpy's float32 log (SIMD)
 * is within about 3 ulp of the libm logf used here, so a window's KL can differ from ORT's by
 * about 1e-6 of its sum of |terms| (tests/unit/test_calibrator.c measures it), and two windows
 * that ORT finds within that distance of each other may be ordered differently. */
#include <math.h>
#include <stdlib.h>
#include "autograd/internal.h"
#include "qat/calib_internal.h"

typedef struct scratch {
    int64_t *pre;   /* n + 1 prefix sums of the counts */
    int64_t *p, *q; /* window */
    float *ps, *qs; /* smoothed, then normalised */
    float *terms;
} scratch;

static void scratch_free(scratch *w)
{
    free(w->pre);
    free(w->p);
    free(w->q);
    free(w->ps);
    free(w->qs);
    free(w->terms);
}

static bool scratch_alloc(scratch *w, int64_t n)
{
    size_t k = (size_t)n;
    w->pre = malloc((k + 1) * sizeof *w->pre);
    w->p = malloc(k * sizeof *w->p);
    w->q = malloc(k * sizeof *w->q);
    w->ps = malloc(k * sizeof *w->ps);
    w->qs = malloc(k * sizeof *w->qs);
    w->terms = malloc(k * sizeof *w->terms);
    return w->pre && w->p && w->q && w->ps && w->qs && w->terms;
}

int64_t tt_calib_entropy_windows(int64_t nbins, int64_t nq)
{
    return nbins / 2 - nq / 2 + 1;
}

/* smooth_distribution(p) into out; false where ORT returns None (or would assert). */
static bool smooth(const int64_t *p, int64_t n, float *out)
{
    int64_t zeros = 0;
    for (int64_t k = 0; k < n; k++) zeros += p[k] == 0;
    float n_zeros = (float)zeros;
    float n_nonzeros = (float)n - n_zeros;
    if (n_nonzeros == 0.0f) return false;
    /* eps * n_zeros / n_nonzeros in Python floats (double), then a float32 addend */
    double eps1 = 0.0001 * (double)n_zeros / (double)n_nonzeros;
    if (!(eps1 < 1.0)) return false;
    float take = -(float)eps1;
    for (int64_t k = 0; k < n; k++) {
        float v = p[k] == 0 ? 0.0f + 0.0001f : (float)p[k] + take;
        if (!(v > 0.0f)) return false;
        out[k] = v;
    }
    return true;
}

/* ORT's entropy(p, q) in float32 (its rel_entr: +inf where p or q is not positive). */
static float kl_f32(float *p, float *q, float *terms, int64_t n, double *absmass)
{
    float sp = tt_np_sum_f32(p, n), sq = tt_np_sum_f32(q, n);
    double mass = 0.0;
    for (int64_t k = 0; k < n; k++) {
        float pk = p[k] / sp, qk = q[k] / sq;
        float t;
        if (pk > 0.0f && qk > 0.0f) {
            float r = pk / qk;
            t = pk * logf(r);
        } else {
            t = INFINITY;
        }
        terms[k] = t;
        mass += fabs((double)t);
    }
    *absmass = mass;
    return tt_np_sum_f32(terms, n);
}

/* p and q of the window [start, end) of the counts (prefix sums in w->pre). */
static void window_pq(const int64_t *counts, int64_t n, int64_t nq, int64_t start, int64_t end,
                      scratch *w)
{
    const int64_t *pre = w->pre;
    int64_t len = end - start, m = len / nq;
    for (int64_t k = 0; k < len; k++) {
        w->p[k] = counts[start + k];
        w->q[k] = 0;
    }
    w->p[0] += pre[start];
    w->p[len - 1] += pre[n] - pre[end];
    for (int64_t j = 0; j < nq; j++) {
        int64_t a = start + j * m;
        int64_t sum = pre[a + m] - pre[a];
        if (j == nq - 1) sum += pre[end] - pre[start + nq * m];
        int64_t norm = 0;
        for (int64_t k = j * m; k < j * m + m; k++) norm += w->p[k] != 0;
        if (norm == 0) continue;
        /* a float64 quotient stored into an int64 array: truncated */
        int64_t v = (int64_t)((double)sum / (double)norm);
        for (int64_t k = j * m; k < j * m + m; k++) w->q[k] = v;
    }
}

tt_status tt_calib_entropy_search(const int64_t *counts, int64_t nbins, int64_t nq, double *kl,
                                  double *absmass, int64_t *best)
{
    scratch w = {0};
    if (!scratch_alloc(&w, nbins)) {
        scratch_free(&w);
        return tt_fail(TT_ERR_NOMEM,
                       "calibrator: cannot allocate the entropy search over %lld bins",
                       (long long)nbins);
    }
    w.pre[0] = 0;
    for (int64_t i = 0; i < nbins; i++) w.pre[i + 1] = w.pre[i] + counts[i];
    int64_t zb = nbins / 2, half = nq / 2, nwin = tt_calib_entropy_windows(nbins, nq);
    double best_kl = INFINITY;
    *best = 0;
    for (int64_t c = 0; c < nwin; c++) {
        int64_t i = half + c, start = zb - i;
        int64_t end = zb + i + 1 < nbins ? zb + i + 1 : nbins;
        int64_t len = end - start;
        window_pq(counts, nbins, nq, start, end, &w);
        double d = INFINITY, mass = INFINITY;
        if (smooth(w.p, len, w.ps) && smooth(w.q, len, w.qs))
            d = (double)kl_f32(w.ps, w.qs, w.terms, len, &mass);
        if (kl) kl[c] = d;
        if (absmass) absmass[c] = mass;
        /* np.argmin: the first smallest (an all-inf search picks window 0) */
        if (d < best_kl) {
            best_kl = d;
            *best = c;
        }
    }
    scratch_free(&w);
    return TT_OK;
}
