/* Metrics over whole evaluation sets. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "autograd/internal.h"
#include "tinytrain/metrics.h"

tt_status tt_confusion_init(tt_confusion *c, int n_classes)
{
    TT_CHECK_NULL(c, "tt_confusion_init");
    memset(c, 0, sizeof *c);
    if (n_classes < 1 || n_classes > TT_METRICS_MAX_CLASSES)
        return tt_fail(TT_ERR_INVALID_ARG, "tt_confusion_init: %d classes is outside 1..%d",
                       n_classes, TT_METRICS_MAX_CLASSES);
    c->counts = calloc((size_t)n_classes * (size_t)n_classes, sizeof *c->counts);
    if (!c->counts) return tt_fail(TT_ERR_NOMEM, "tt_confusion_init: out of memory");
    c->n_classes = n_classes;
    return TT_OK;
}

void tt_confusion_free(tt_confusion *c)
{
    if (!c) return;
    free(c->counts);
    c->counts = NULL;
}

tt_status tt_confusion_add(tt_confusion *c, const float *logits, const int32_t *labels, int64_t n)
{
    TT_CHECK_NULL(c, "tt_confusion_add");
    TT_CHECK_NULL(logits, "tt_confusion_add");
    TT_CHECK_NULL(labels, "tt_confusion_add");
    int k = c->n_classes;
    for (int64_t i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= k)
            return tt_fail(TT_ERR_INVALID_ARG,
                           "tt_confusion_add: label %d of sample %lld is "
                           "outside 0..%d",
                           labels[i], (long long)i, k - 1);
        const float *z = logits + i * k;
        int best = 0;
        for (int j = 1; j < k; j++)
            if (z[j] > z[best]) best = j;
        c->counts[(int64_t)labels[i] * k + best]++;
        c->total++;
    }
    return TT_OK;
}

double tt_confusion_accuracy(const tt_confusion *c)
{
    if (!c || c->total == 0) return NAN;
    int64_t hit = 0;
    for (int j = 0; j < c->n_classes; j++) hit += c->counts[(int64_t)j * c->n_classes + j];
    return 100.0 * (double)hit / (double)c->total;
}

double tt_confusion_class_accuracy(const tt_confusion *c, int k)
{
    if (!c || k < 0 || k >= c->n_classes) return NAN;
    int64_t row = 0;
    for (int j = 0; j < c->n_classes; j++) row += c->counts[(int64_t)k * c->n_classes + j];
    return row ? 100.0 * (double)c->counts[(int64_t)k * c->n_classes + k] / (double)row : NAN;
}

/* Pearson over either float or double arrays (SROCC feeds it ranks as doubles). */
static double pearson(const float *af, const float *bf, const double *ad, const double *bd,
                      int64_t n)
{
    if (n < 2) return NAN;
    double ma = 0, mb = 0;
    for (int64_t i = 0; i < n; i++) {
        ma += ad ? ad[i] : af[i];
        mb += bd ? bd[i] : bf[i];
    }
    ma /= (double)n, mb /= (double)n;
    double sab = 0, saa = 0, sbb = 0;
    for (int64_t i = 0; i < n; i++) {
        double da = (ad ? ad[i] : af[i]) - ma, db = (bd ? bd[i] : bf[i]) - mb;
        sab += da * db, saa += da * da, sbb += db * db;
    }
    if (saa == 0 || sbb == 0) return NAN;
    return sab / sqrt(saa * sbb);
}

double tt_plcc(const float *a, const float *b, int64_t n)
{
    if (!a || !b) return NAN;
    return pearson(a, b, NULL, NULL, n);
}

typedef struct keyed {
    float v;
    int64_t i;
} keyed;

size_t tt_srocc_scratch_bytes(int64_t n)
{
    return n > 0 ? (size_t)n * (2 * sizeof(double) + sizeof(keyed)) : 0;
}

static int cmp_keyed(const void *x, const void *y)
{
    const keyed *a = x, *b = y;
    if (a->v != b->v) return (a->v > b->v) - (a->v < b->v);
    return (a->i > b->i) - (a->i < b->i);
}

/* Average (fractional) ranks, so ties get the mean of the ranks they span. */
static void rank(const float *v, int64_t n, keyed *k, double *r)
{
    for (int64_t i = 0; i < n; i++) k[i] = (keyed){v[i], i};
    qsort(k, (size_t)n, sizeof *k, cmp_keyed);
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        while (j + 1 < n && k[j + 1].v == k[i].v) j++;
        double avg = 0.5 * (double)(i + j) + 1.0;
        for (int64_t m = i; m <= j; m++) r[k[m].i] = avg;
        i = j + 1;
    }
}

double tt_srocc(const float *a, const float *b, int64_t n, void *scratch)
{
    if (!a || !b || !scratch || n < 2) return NAN;
    double *ra = scratch, *rb = ra + n;
    keyed *k = (keyed *)(rb + n);
    rank(a, n, k, ra);
    rank(b, n, k, rb);
    return pearson(NULL, NULL, ra, rb, n);
}

double tt_rmse(const float *a, const float *b, int64_t n)
{
    if (!a || !b || n < 1) return NAN;
    double s = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        s += d * d;
    }
    return sqrt(s / (double)n);
}

double tt_psnr(const float *a, const float *b, int64_t n, double peak)
{
    double r = tt_rmse(a, b, n);
    if (isnan(r)) return NAN;
    if (r == 0) return INFINITY;
    return 20.0 * log10(peak / r);
}

double tt_psnr_mean(const float *a, const float *b, int64_t n, int64_t m)
{
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        double p = tt_psnr(a + i * m, b + i * m, m, 1.0);
        sum += isinf(p) ? 100.0 : p;
    }
    return sum / (double)n;
}
