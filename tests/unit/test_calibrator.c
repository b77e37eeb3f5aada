/* Calibrators (tinytrain/calibrator.h) against ONNX Runtime's own calibrators.
 *
 * The fixtures (tests/fixtures/calibrator/<dataset>.npz, made by
 * scripts/gen_calibrator_fixtures.py with onnxruntime 1.32.0 and numpy 2.4.6; its docstring
 * lists the members) hold fixed float32 batches and what ORT's MinMaxCalibrater and
 * HistogramCollector report for them: ranges, final histograms (counts and edges) and, for one
 * entropy experiment per data set, the KL divergence of every candidate window. Here the same
 * batches go through tinytrain's calibrators, batch by batch ("stream": ORT's collect per
 * batch, histograms growing and merging) or with a prescan ("oneshot": ORT's single collect
 * over all data).
 *
 * Tolerances, and why:
 * - MinMax ranges (plain, symmetric, moving average with and without chunks), histogram counts
 *   and edges, and percentile ranges: exact, bit for bit. Every operation there is a float32 or
 *   float64 operation that numpy does in the same order (float32 edges from float32 linspace,
 *   float64 np.arange edges rounded to float32, a float64 CDF), so any difference is a bug.
 * - Entropy KL per window: |kl - kl_ort| <= 2e-6 * sum|terms| + 1e-7. The one operation not
 *   reproduced is the logarithm: numpy's SIMD float32 log is up to 3.2 ulp from the exact value
 *   (measured over 2e5 inputs; glibc's logf under 1 ulp), so each term p log(p/q) may differ
 *   by ~4 ulp of the log, 4 * 2^-23 * |term| = 4.8e-7 |term|, and the float32 pairwise sum of
 *   slightly different terms may round each of its ~log2(n) levels differently, up to about
 *   12 * 2^-24 * sum|terms|. The sum of both is ~1.2e-6 sum|terms|; 2e-6 leaves room without
 *   hiding a real error (a misplaced outlier or a wrong q spreading moves KL by 1e-3 or more).
 *   Measured: about 90 % of the windows are bit-exact, the worst is 0.1 of the tolerance.
 * - Entropy threshold: the same window as ORT's, hence the same edges, exactly; a different
 *   window is accepted only where ORT's own KL values of the two windows are within the sum of
 *   their tolerances (a tie that the logarithm's last bits decide). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "testutil.h"
#include "qat/calib_internal.h"
#include "tinytrain/calibrator.h"
#include "tinytrain/npz.h"

static const char *const DATASETS[] = {"signed", "relu",      "negative", "zeros",
                                       "const",  "zero_then", "single"};
#define N_DATASETS ((int)(sizeof DATASETS / sizeof DATASETS[0]))

typedef struct fixture {
    tt_npz *z;
    tt_tensor *x, *sizes;
} fixture;

static tt_tensor *load(tt_npz *z, const char *name)
{
    tt_tensor *t = NULL;
    TT_ASSERT_OK(tt_npz_load(z, name, &t));
    return t;
}

static void fixture_open(fixture *f, const char *ds)
{
    char rel[128], path[512];
    snprintf(rel, sizeof rel, "calibrator/%s.npz", ds);
    TT_ASSERT_OK(tt_npz_open(tt_test_fixture(rel, path, sizeof path), &f->z));
    f->x = load(f->z, "x");
    f->sizes = load(f->z, "sizes");
    assert_int_equal(f->sizes->dtype, TT_I64);
}

static void fixture_close(fixture *f)
{
    tt_tensor_free(f->x);
    tt_tensor_free(f->sizes);
    tt_npz_close(f->z);
}

static const int64_t *i64(const tt_tensor *t)
{
    return (const int64_t *)t->data;
}

/* Feed every batch of f (after a prescan pass over them all when prescan is set). */
static void feed(tt_calibrator *c, const fixture *f, bool prescan)
{
    const float *x = tt_tensor_f32(f->x);
    int64_t nb = tt_tensor_numel(f->sizes);
    for (int pass = prescan ? 0 : 1; pass < 2; pass++) {
        int64_t off = 0;
        for (int64_t b = 0; b < nb; b++) {
            int64_t n = i64(f->sizes)[b];
            if (pass == 0)
                TT_ASSERT_OK(tt_calibrator_prescan(c, x + off, n));
            else
                TT_ASSERT_OK(tt_calibrator_update(c, x + off, n));
            off += n;
        }
        assert_int_equal(off, tt_tensor_numel(f->x));
    }
}

static void assert_same_float(float got, float want, const char *what, const char *ds)
{
    if (memcmp(&got, &want, sizeof got) != 0)
        fail_msg("%s (%s): got %.9g, ORT %.9g", what, ds, (double)got, (double)want);
}

/* ---- MinMax ---- */

static void minmax_matches_numpy_and_ort(void **state)
{
    (void)state;
    static const struct {
        bool sym, ma;
        int64_t chunk;
    } exps[5] = {{false, false, 0},
                 {true, false, 0},
                 {false, true, 0},
                 {false, true, 2},
                 {true, true, 2}}; /* the script's MM_EXPS, in order */
    for (int d = 0; d < N_DATASETS; d++) {
        fixture f;
        fixture_open(&f, DATASETS[d]);
        tt_tensor *np_mm = load(f.z, "np_minmax"), *mm = load(f.z, "mm_ranges");
        assert_int_equal(tt_tensor_numel(mm), 10);
        for (int e = 0; e < 5; e++) {
            tt_calibrator_opts o = tt_calibrator_defaults(TT_CALIB_MINMAX);
            o.symmetric = exps[e].sym;
            o.moving_average = exps[e].ma;
            o.chunk_batches = exps[e].chunk;
            tt_calibrator *c;
            TT_ASSERT_OK(tt_calibrator_create(TT_CALIB_MINMAX, &o, &c));
            feed(c, &f, false);
            float lo, hi;
            TT_ASSERT_OK(tt_calibrator_range(c, &lo, &hi));
            assert_same_float(lo, tt_tensor_f32(mm)[2 * e], "minmax rmin", DATASETS[d]);
            assert_same_float(hi, tt_tensor_f32(mm)[2 * e + 1], "minmax rmax", DATASETS[d]);
            if (e == 0) { /* numpy's min and max of all values */
                assert_same_float(lo, tt_tensor_f32(np_mm)[0], "np.min", DATASETS[d]);
                assert_same_float(hi, tt_tensor_f32(np_mm)[1], "np.max", DATASETS[d]);
            }
            assert_int_equal(tt_calibrator_count(c), tt_tensor_numel(f.x));
            tt_calibrator_free(c);
        }
        tt_tensor_free(np_mm);
        tt_tensor_free(mm);
        fixture_close(&f);
    }
}

/* ---- histogram methods ---- */

typedef struct hexp {
    tt_calib_method m;
    tt_calibrator_opts o;
    bool oneshot;
    int64_t len;
} hexp;

static hexp hexp_row(const int64_t *r)
{
    hexp e;
    e.m = r[0] == 1 ? TT_CALIB_ENTROPY : TT_CALIB_PERCENTILE;
    e.o = tt_calibrator_defaults(e.m);
    e.o.num_bins = r[1];
    e.o.num_quantized_bins = r[2];
    e.o.symmetric = r[3] != 0;
    e.o.percentile = (double)r[4] / 1000.0; /* 99999 / 1000.0 is the double 99.999 */
    e.oneshot = r[5] != 0;
    e.len = r[6];
    return e;
}

static double kl_tol(double absmass)
{
    return 4e-6 * absmass + 1e-7;
}

/* Every window's KL against ORT's; the worst error relative to the tolerance goes to *worst. */
static void check_kl(const tt_calibrator *c, const hexp *e, tt_tensor *kl_ort, const char *ds,
                     double *worst)
{
    const int64_t *counts;
    int64_t nb;
    TT_ASSERT_OK(tt_calibrator_histogram(c, &counts, NULL, &nb));
    int64_t nw = tt_calib_entropy_windows(nb, e->o.num_quantized_bins), best;
    assert_int_equal(nw, tt_tensor_numel(kl_ort));
    double *kl = malloc((size_t)nw * sizeof *kl), *mass = malloc((size_t)nw * sizeof *mass);
    assert_non_null(kl);
    assert_non_null(mass);
    TT_ASSERT_OK(tt_calib_entropy_search(counts, nb, e->o.num_quantized_bins, kl, mass, &best));
    int64_t exact = 0;
    for (int64_t w = 0; w < nw; w++) {
        double want = tt_tensor_f32(kl_ort)[w];
        if (isinf(want) || isinf(kl[w])) {
            if (!(isinf(want) && isinf(kl[w])))
                fail_msg("%s window %lld: KL %g, ORT %g", ds, (long long)w, kl[w], want);
            continue;
        }
        double err = fabs(kl[w] - want);
        exact += err == 0.0;
        if (err / kl_tol(mass[w]) > *worst) *worst = err / kl_tol(mass[w]);
        if (err > kl_tol(mass[w]))
            fail_msg("%s window %lld: KL %.9g, ORT %.9g (sum|terms| %.3g)", ds, (long long)w, kl[w],
                     want, mass[w]);
    }
    print_message("  %s: %lld windows, %lld bit-exact KL\n", ds, (long long)nw, (long long)exact);
    free(kl);
    free(mass);
}

/* The entropy window tinytrain picks is ORT's, or ties with it within the KL tolerance. */
static void check_entropy_choice(const tt_calibrator *c, const hexp *e, int64_t ort_best,
                                 tt_tensor *kl_ort, const char *ds, int k)
{
    const int64_t *counts;
    int64_t nb, best;
    TT_ASSERT_OK(tt_calibrator_histogram(c, &counts, NULL, &nb));
    int64_t nw = tt_calib_entropy_windows(nb, e->o.num_quantized_bins);
    double *kl = malloc((size_t)nw * sizeof *kl), *mass = malloc((size_t)nw * sizeof *mass);
    assert_non_null(kl);
    assert_non_null(mass);
    TT_ASSERT_OK(tt_calib_entropy_search(counts, nb, e->o.num_quantized_bins, kl, mass, &best));
    if (best != ort_best) {
        if (!kl_ort)
            fail_msg("%s experiment %d: window %lld, ORT %lld (no KL stored to judge a tie)", ds, k,
                     (long long)best, (long long)ort_best);
        double a = tt_tensor_f32(kl_ort)[best], b = tt_tensor_f32(kl_ort)[ort_best];
        if (!(a - b <= kl_tol(mass[best]) + kl_tol(mass[ort_best])))
            fail_msg("%s experiment %d: window %lld (ORT's KL %.9g), ORT %lld (%.9g)", ds, k,
                     (long long)best, a, (long long)ort_best, b);
        print_message("  %s experiment %d: near-tie, window %lld vs ORT's %lld\n", ds, k,
                      (long long)best, (long long)ort_best);
    }
    free(kl);
    free(mass);
}

typedef struct hist_fixture {
    tt_tensor *hexp, *ranges, *ends, *hists, *best, *edges_exp, *edges, *kl_exp, *kl;
} hist_fixture;

static void hist_fixture_load(hist_fixture *h, tt_npz *z)
{
    memset(h, 0, sizeof *h);
    h->hexp = load(z, "hexp");
    h->ranges = load(z, "hranges");
    h->ends = load(z, "hedge_ends");
    h->hists = load(z, "hists");
    h->best = load(z, "best");
    if (tt_npz_has(z, "edges")) {
        h->edges_exp = load(z, "edges_exp");
        h->edges = load(z, "edges");
    }
    if (tt_npz_has(z, "kl")) {
        h->kl_exp = load(z, "kl_exp");
        h->kl = load(z, "kl");
    }
}

static void hist_fixture_free(hist_fixture *h)
{
    tt_tensor *all[] = {h->hexp,      h->ranges, h->ends,   h->hists, h->best,
                        h->edges_exp, h->edges,  h->kl_exp, h->kl};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tt_tensor_free(all[i]);
}

static void check_histogram(const tt_calibrator *c, const hexp *e, const int64_t *want,
                            const float *ends, const tt_tensor *edges, const char *ds, int k)
{
    const int64_t *counts;
    const float *got_edges;
    int64_t nb;
    TT_ASSERT_OK(tt_calibrator_histogram(c, &counts, &got_edges, &nb));
    if (nb != e->len)
        fail_msg("%s experiment %d: %lld bins, ORT %lld", ds, k, (long long)nb, (long long)e->len);
    for (int64_t i = 0; i < nb; i++)
        if (counts[i] != want[i])
            fail_msg("%s experiment %d: bin %lld holds %lld, ORT %lld", ds, k, (long long)i,
                     (long long)counts[i], (long long)want[i]);
    assert_same_float(got_edges[0], ends[0], "first edge", ds);
    assert_same_float(got_edges[nb], ends[1], "last edge", ds);
    if (edges) {
        assert_int_equal(tt_tensor_numel(edges), nb + 1);
        for (int64_t i = 0; i <= nb; i++)
            assert_same_float(got_edges[i], tt_tensor_f32(edges)[i], "edge", ds);
    }
}

static void histogram_methods_match_ort(void **state)
{
    (void)state;
    double worst = 0.0;
    for (int d = 0; d < N_DATASETS; d++) {
        fixture f;
        hist_fixture h;
        fixture_open(&f, DATASETS[d]);
        hist_fixture_load(&h, f.z);
        int nexp = (int)h.hexp->shape.dims[0];
        assert_int_equal(h.hexp->shape.dims[1], 7);
        int64_t off = 0;
        for (int k = 0; k < nexp; k++) {
            hexp e = hexp_row(i64(h.hexp) + 7 * k);
            tt_calibrator *c;
            TT_ASSERT_OK(tt_calibrator_create(e.m, &e.o, &c));
            feed(c, &f, e.oneshot);
            bool has_edges = h.edges && i64(h.edges_exp)[0] == k;
            bool has_kl = h.kl && i64(h.kl_exp)[0] == k;
            check_histogram(c, &e, i64(h.hists) + off, tt_tensor_f32(h.ends) + 2 * k,
                            has_edges ? h.edges : NULL, DATASETS[d], k);
            if (has_kl) check_kl(c, &e, h.kl, DATASETS[d], &worst);
            if (e.m == TT_CALIB_ENTROPY)
                check_entropy_choice(c, &e, i64(h.best)[k], has_kl ? h.kl : NULL, DATASETS[d], k);
            float lo, hi;
            TT_ASSERT_OK(tt_calibrator_range(c, &lo, &hi));
            /* a tie resolved differently would move the edges; none occurs in these fixtures */
            assert_same_float(lo, tt_tensor_f32(h.ranges)[2 * k], "rmin", DATASETS[d]);
            assert_same_float(hi, tt_tensor_f32(h.ranges)[2 * k + 1], "rmax", DATASETS[d]);
            off += e.len;
            tt_calibrator_free(c);
        }
        assert_int_equal(off, tt_tensor_numel(h.hists));
        hist_fixture_free(&h);
        fixture_close(&f);
    }
    print_message("  worst KL error: %.3f of its tolerance\n", worst);
}

/* ---- behaviour checked directly ---- */

static tt_calibrator *make(tt_calib_method m)
{
    tt_calibrator *c;
    TT_ASSERT_OK(tt_calibrator_create(m, NULL, &c));
    return c;
}

static void ramp(float *x, int64_t n, float lo, float hi)
{
    for (int64_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * (float)i / (float)(n - 1);
}

/* ORT's 128/128 entropy over one histogram has one window, the whole range: it is MinMax. */
static void entropy_128_128_is_minmax(void **state)
{
    (void)state;
    float x[1000];
    tt_rng rng;
    tt_rng_seed(&rng, 7, 0);
    tt_test_fill_uniform(x, 1000, -0.3f, 2.1f, &rng);
    x[17] = 9.5f; /* an outlier a real search would clip */
    tt_calibrator_opts o = tt_calibrator_defaults(TT_CALIB_ENTROPY);
    o.num_bins = o.num_quantized_bins = 128;
    tt_calibrator *e, *m = make(TT_CALIB_MINMAX), *r;
    TT_ASSERT_OK(tt_calibrator_create(TT_CALIB_ENTROPY, &o, &e));
    TT_ASSERT_OK(tt_calibrator_create(TT_CALIB_ENTROPY, NULL, &r)); /* 2048/128 */
    TT_ASSERT_OK(tt_calibrator_update(e, x, 1000));
    TT_ASSERT_OK(tt_calibrator_update(m, x, 1000));
    TT_ASSERT_OK(tt_calibrator_update(r, x, 1000));
    float a, b, c, d, p, q;
    TT_ASSERT_OK(tt_calibrator_range(e, &a, &b));
    TT_ASSERT_OK(tt_calibrator_range(m, &c, &d));
    TT_ASSERT_OK(tt_calibrator_range(r, &p, &q));
    assert_true(a == c && b == d);
    assert_true(b == 9.5f);
    assert_true(q < 9.5f); /* the default searches, and clips the outlier */
    tt_calibrator_free(e);
    tt_calibrator_free(m);
    tt_calibrator_free(r);
}

static void edge_cases(void **state)
{
    (void)state;
    float zeros[64] = {0}, cst[64], neg[200];
    for (int i = 0; i < 64; i++) cst[i] = -2.5f;
    ramp(neg, 200, -7.0f, -0.25f);
    for (int m = 0; m < 3; m++) {
        float lo, hi;
        tt_calibrator *c = make((tt_calib_method)m);
        TT_ASSERT_OK(tt_calibrator_update(c, zeros, 64));
        TT_ASSERT_OK(tt_calibrator_update(c, zeros, 64));
        TT_ASSERT_OK(tt_calibrator_range(c, &lo, &hi));
        assert_true(lo == 0.0f && hi == 0.0f);
        tt_calibrator_free(c);

        c = make((tt_calib_method)m);
        TT_ASSERT_OK(tt_calibrator_update(c, cst, 64));
        TT_ASSERT_OK(tt_calibrator_range(c, &lo, &hi));
        assert_true(lo == -2.5f && hi == -2.5f);
        tt_calibrator_free(c);

        /* negative-only data: every method stays inside [min, max] */
        c = make((tt_calib_method)m);
        TT_ASSERT_OK(tt_calibrator_update(c, neg, 200));
        TT_ASSERT_OK(tt_calibrator_range(c, &lo, &hi));
        assert_true(lo >= -7.0f && hi <= -0.25f && lo <= hi);
        if (m == TT_CALIB_MINMAX) assert_true(lo == -7.0f && hi == -0.25f);
        tt_calibrator_free(c);
    }
}

/* Symmetric percentile on ReLU-like data: (-t, t) clipped to the data, so rmin is 0. */
static void percentile_clips_to_data(void **state)
{
    (void)state;
    float x[4000];
    ramp(x, 4000, -1.0f, 3.0f);
    for (int i = 0; i < 4000; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
    tt_calibrator *c = make(TT_CALIB_PERCENTILE);
    TT_ASSERT_OK(tt_calibrator_update(c, x, 4000));
    float lo, hi;
    TT_ASSERT_OK(tt_calibrator_range(c, &lo, &hi));
    assert_true(lo == 0.0f);
    assert_true(hi > 2.9f && hi <= 3.0f);
    tt_calibrator_free(c);
}

/* Memory stays flat: the histogram does not grow with the number of batches. */
static void streaming_is_flat(void **state)
{
    (void)state;
    float x[512];
    ramp(x, 512, -1.0f, 1.0f);
    for (int m = 1; m < 3; m++) {
        tt_calibrator *c = make((tt_calib_method)m);
        for (int b = 0; b < 2000; b++) TT_ASSERT_OK(tt_calibrator_update(c, x, 512));
        int64_t nb;
        const int64_t *counts;
        TT_ASSERT_OK(tt_calibrator_histogram(c, &counts, NULL, &nb));
        assert_int_equal(nb, 2048);
        int64_t total = 0;
        for (int64_t i = 0; i < nb; i++) total += counts[i];
        assert_int_equal(total, 2000 * 512);
        assert_int_equal(tt_calibrator_batches(c), 2000);
        tt_calibrator_free(c);
    }
}

static void expect_bad_opts(tt_calib_method m, tt_calibrator_opts o, const char *needle)
{
    tt_calibrator *c = (tt_calibrator *)&o; /* any non-NULL value: create must reset it */
    assert_int_equal(tt_calibrator_create(m, &o, &c), TT_ERR_INVALID_ARG);
    assert_null(c);
    if (!strstr(tt_last_error(), needle))
        fail_msg("message '%s' does not name '%s'", tt_last_error(), needle);
}

static void bad_options(void **state)
{
    (void)state;
    tt_calibrator_opts o = tt_calibrator_defaults(TT_CALIB_ENTROPY);
    o.num_quantized_bins = 4096;
    expect_bad_opts(TT_CALIB_ENTROPY, o, "num_quantized_bins 4096");
    o.num_quantized_bins = 0;
    expect_bad_opts(TT_CALIB_ENTROPY, o, "num_quantized_bins 0");
    o = tt_calibrator_defaults(TT_CALIB_ENTROPY);
    o.num_bins = 0;
    expect_bad_opts(TT_CALIB_ENTROPY, o, "num_bins 0");
    o = tt_calibrator_defaults(TT_CALIB_PERCENTILE);
    o.num_bins = 0;
    expect_bad_opts(TT_CALIB_PERCENTILE, o, "num_bins 0");
    const double bad_pct[] = {0.0, -1.0, 100.5, NAN};
    for (int i = 0; i < 4; i++) {
        o = tt_calibrator_defaults(TT_CALIB_PERCENTILE);
        o.percentile = bad_pct[i];
        expect_bad_opts(TT_CALIB_PERCENTILE, o, "percentile");
    }
    o = tt_calibrator_defaults(TT_CALIB_PERCENTILE);
    o.percentile = 100.0; /* (0, 100] includes 100 */
    tt_calibrator *c;
    TT_ASSERT_OK(tt_calibrator_create(TT_CALIB_PERCENTILE, &o, &c));
    tt_calibrator_free(c);
    o = tt_calibrator_defaults(TT_CALIB_MINMAX);
    o.moving_average = true;
    o.averaging_constant = 1.5f;
    expect_bad_opts(TT_CALIB_MINMAX, o, "averaging_constant");
    o = tt_calibrator_defaults(TT_CALIB_MINMAX);
    o.chunk_batches = -1;
    expect_bad_opts(TT_CALIB_MINMAX, o, "chunk_batches");
    expect_bad_opts((tt_calib_method)7, tt_calibrator_defaults(TT_CALIB_MINMAX), "method");

    tt_calib_method m;
    TT_ASSERT_OK(tt_calib_method_parse("percentile", &m));
    assert_int_equal(m, TT_CALIB_PERCENTILE);
    assert_string_equal(tt_calib_method_name(TT_CALIB_ENTROPY), "entropy");
    assert_int_equal(tt_calib_method_parse("kl", &m), TT_ERR_INVALID_ARG);
    assert_non_null(strstr(tt_last_error(), "minmax, entropy or percentile"));
}

/* NaN/inf are refused with their counts, and the calibrator is left as it was. */
static void non_finite_refused(void **state)
{
    (void)state;
    float x[100], lo, hi;
    ramp(x, 100, -1.0f, 1.0f);
    for (int m = 0; m < 3; m++) {
        tt_calibrator *c = make((tt_calib_method)m);
        TT_ASSERT_OK(tt_calibrator_update(c, x, 100));
        float y[100];
        memcpy(y, x, sizeof y);
        y[3] = NAN;
        y[50] = NAN;
        y[70] = -INFINITY;
        y[99] = 1e6f;
        assert_int_equal(tt_calibrator_update(c, y, 100), TT_ERR_NUMERIC);
        assert_non_null(strstr(tt_last_error(), "2 NaN and 1 infinite values among 100"));
        assert_int_equal(tt_calibrator_count(c), 100);
        TT_ASSERT_OK(tt_calibrator_range(c, &lo, &hi));
        assert_true(hi <= 1.0f && lo >= -1.0f);
        tt_calibrator_free(c);
        c = make((tt_calib_method)m); /* the prescan pass checks too */
        assert_int_equal(tt_calibrator_prescan(c, y, 100), TT_ERR_NUMERIC);
        assert_non_null(strstr(tt_last_error(), "tt_calibrator_prescan: batch 0 holds 2 NaN"));
        tt_calibrator_free(c);
    }
    /* beyond what a histogram can span in float32; MinMax takes it */
    float big[2] = {-1.0f, 1e38f};
    tt_calibrator *c = make(TT_CALIB_ENTROPY);
    assert_int_equal(tt_calibrator_update(c, big, 2), TT_ERR_NUMERIC);
    tt_calibrator_free(c);
    c = make(TT_CALIB_MINMAX);
    TT_ASSERT_OK(tt_calibrator_update(c, big, 2));
    TT_ASSERT_OK(tt_calibrator_range(c, &lo, &hi));
    assert_true(lo == -1.0f && hi == 1e38f);
    tt_calibrator_free(c);
}

static void call_order(void **state)
{
    (void)state;
    float x[10], lo, hi;
    ramp(x, 10, 0.0f, 1.0f);
    tt_calibrator *c = make(TT_CALIB_PERCENTILE);
    assert_true(tt_calibrator_wants_prescan(c));
    assert_int_equal(tt_calibrator_range(c, &lo, &hi), TT_ERR_STATE);
    assert_non_null(strstr(tt_last_error(), "no values"));
    assert_int_equal(tt_calibrator_histogram(c, NULL, NULL, NULL), TT_ERR_STATE);
    TT_ASSERT_OK(tt_calibrator_update(c, x, 0)); /* an empty batch is a no-op */
    assert_int_equal(tt_calibrator_range(c, &lo, &hi), TT_ERR_STATE);
    assert_int_equal(tt_calibrator_update(c, NULL, 5), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_calibrator_update(c, x, -1), TT_ERR_INVALID_ARG);
    TT_ASSERT_OK(tt_calibrator_prescan(c, x, 10));
    TT_ASSERT_OK(tt_calibrator_update(c, x, 10));
    assert_int_equal(tt_calibrator_prescan(c, x, 10), TT_ERR_STATE);
    /* a second-pass batch outside the prescanned range */
    float y[2] = {0.5f, 1.5f};
    assert_int_equal(tt_calibrator_update(c, y, 2), TT_ERR_STATE);
    assert_non_null(strstr(tt_last_error(), "prescan"));
    assert_int_equal(tt_calibrator_count(c), 10);
    TT_ASSERT_OK(tt_calibrator_range(c, &lo, &hi));
    tt_calibrator_free(c);

    c = make(TT_CALIB_MINMAX);
    assert_false(tt_calibrator_wants_prescan(c));
    TT_ASSERT_OK(tt_calibrator_prescan(c, x, 10)); /* accepted, ignored */
    assert_int_equal(tt_calibrator_range(c, &lo, &hi), TT_ERR_STATE);
    assert_int_equal(tt_calibrator_histogram(c, NULL, NULL, NULL), TT_ERR_STATE);
    tt_calibrator_free(c);
    tt_calibrator_free(NULL);
}

/* Histograms that cannot be built: too narrow a |x| range for the bins (ORT fails the same
 * way), or growth past TT_CALIB_MAX_BINS. Both leave the calibrator usable. */
static void histogram_limits(void **state)
{
    (void)state;
    float x[2] = {1.0f, 1.0000001f}, lo, hi;
    tt_calibrator *c = make(TT_CALIB_PERCENTILE); /* symmetric: |x| on [1, 1.0000001] */
    assert_int_equal(tt_calibrator_update(c, x, 2), TT_ERR_NUMERIC);
    assert_non_null(strstr(tt_last_error(), "Too many bins"));
    assert_int_equal(tt_calibrator_range(c, &lo, &hi), TT_ERR_STATE);
    tt_calibrator_free(c);

    float small[2] = {-1e-6f, 1e-6f}, large[2] = {0.0f, 1e3f};
    c = make(TT_CALIB_ENTROPY);
    TT_ASSERT_OK(tt_calibrator_update(c, small, 2));
    assert_int_equal(tt_calibrator_update(c, large, 2), TT_ERR_NOMEM);
    assert_non_null(strstr(tt_last_error(), "prescan"));
    TT_ASSERT_OK(tt_calibrator_range(c, &lo, &hi));
    assert_true(hi <= 1e-6f);
    tt_calibrator_free(c);

    /* with a prescan the same data never grows the histogram */
    c = make(TT_CALIB_ENTROPY);
    TT_ASSERT_OK(tt_calibrator_prescan(c, small, 2));
    TT_ASSERT_OK(tt_calibrator_prescan(c, large, 2));
    TT_ASSERT_OK(tt_calibrator_update(c, small, 2));
    TT_ASSERT_OK(tt_calibrator_update(c, large, 2));
    int64_t nb;
    TT_ASSERT_OK(tt_calibrator_histogram(c, NULL, NULL, &nb));
    assert_int_equal(nb, 2048);
    tt_calibrator_free(c);
}

static float f32_bits(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

/* Bin of one value in numpy's equal-bin histogram over [-t, t]. */
static int64_t uniform_bin(float t, int64_t n, float v)
{
    float e[129];
    int64_t cnt[128] = {0};
    assert_true(n <= 128 && tt_np_linspace_f32(-t, t, n, e));
    tt_np_hist_uniform(&v, 1, false, e, n, cnt);
    for (int64_t i = 0; i < n; i++)
        if (cnt[i]) return i;
    return -1;
}

/* numpy facts the fixtures may not reach, each found by a search over random inputs and
 * confirmed with numpy 2.4.6 (the expression in each comment). */
static void numpy_helpers(void **state)
{
    (void)state;
    /* np.float32(1.0) // np.float32(0.1) == 9.0, where floorf(1.0f / 0.1f) is 10 */
    assert_true(tt_np_floor_divide_f32(1.0f, 0.1f) == 9.0f);
    assert_true(tt_np_floor_divide_f32(7.0f, 2.0f) == 3.0f);
    assert_true(tt_np_floor_divide_f32(-7.0f, 2.0f) == -4.0f);
    float a[300];
    for (int i = 0; i < 300; i++) a[i] = 1.0f;
    assert_true(tt_np_sum_f32(a, 300) == 300.0f);
    float e[5];
    assert_true(tt_np_linspace_f32(-1.0f, 1.0f, 4, e));
    assert_true(e[0] == -1.0f && e[1] == -0.5f && e[2] == 0.0f && e[3] == 0.5f && e[4] == 1.0f);
    int64_t cnt[4] = {0};
    float v[6] = {-1.0f, -0.5f, -0.25f, 0.5f, 1.0f, 1.5f};
    tt_np_hist_uniform(v, 6, false, e, 4, cnt); /* 1.5 is outside; 1.0 joins the last bin */
    assert_true(cnt[0] == 1 && cnt[1] == 2 && cnt[2] == 0 && cnt[3] == 2);
    assert_false(tt_np_linspace_f32(1.0f, 1.0000001f, 4, e)); /* no float32 room for 4 bins */
    /* np.histogram(np.float32(v), 128, range=(-t, t)): the index formula gives 112 (0), the
     * edges put v in bin 111 (1) */
    assert_int_equal(uniform_bin(0.121844634f, 128, f32_bits(1035675457u)), 111);
    assert_int_equal(uniform_bin(0.08024044f, 128, f32_bits(3181495238u)), 1);
    /* len(np.arange(start, stop, step)) with float32 scalars is 1183; in double it is 1184 */
    assert_int_equal(
        tt_np_arange_len(f32_bits(1085433803u), f32_bits(1085811395u), f32_bits(958371651u)), 1183);
    /* np.arange(np.float32(1.1), np.float32(5), np.float32(0.3))[7] (a float64 array) */
    assert_int_equal(tt_np_arange_len(1.1f, 5.0f, 0.3f), 13);
    assert_true(tt_np_arange_at(1.1f, 0.3f, 7) == 3.200000524520874);
}

/* np.searchsorted's "first cdf >= p": exact ties, with ORT's answers (HistogramCollector,
 * 2048 bins, percentile 50): symmetric on {0, 1} gives (-0.0, 0.0), asymmetric on
 * {-1, -0.5, 0.5, 1} gives (-1, 0.5). */
static void percentile_cdf_ties(void **state)
{
    (void)state;
    tt_calibrator_opts o = tt_calibrator_defaults(TT_CALIB_PERCENTILE);
    o.percentile = 50.0;
    float lo, hi, x1[2] = {0.0f, 1.0f}, x2[4] = {-1.0f, -0.5f, 0.5f, 1.0f};
    tt_calibrator *c;
    TT_ASSERT_OK(tt_calibrator_create(TT_CALIB_PERCENTILE, &o, &c));
    TT_ASSERT_OK(tt_calibrator_update(c, x1, 2));
    TT_ASSERT_OK(tt_calibrator_range(c, &lo, &hi));
    assert_true(lo == 0.0f && signbit(lo) && hi == 0.0f);
    tt_calibrator_free(c);
    o.symmetric = false;
    TT_ASSERT_OK(tt_calibrator_create(TT_CALIB_PERCENTILE, &o, &c));
    TT_ASSERT_OK(tt_calibrator_update(c, x2, 4));
    TT_ASSERT_OK(tt_calibrator_range(c, &lo, &hi));
    assert_true(lo == -1.0f && hi == 0.5f);
    tt_calibrator_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(minmax_matches_numpy_and_ort),
        cmocka_unit_test(histogram_methods_match_ort),
        cmocka_unit_test(entropy_128_128_is_minmax),
        cmocka_unit_test(edge_cases),
        cmocka_unit_test(percentile_clips_to_data),
        cmocka_unit_test(streaming_is_flat),
        cmocka_unit_test(bad_options),
        cmocka_unit_test(non_finite_refused),
        cmocka_unit_test(call_order),
        cmocka_unit_test(histogram_limits),
        cmocka_unit_test(numpy_helpers),
        cmocka_unit_test(percentile_cdf_ties),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
