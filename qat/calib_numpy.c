/* numpy's float32 arithmetic as ONNX Runtime's calibrators meet it (qat/calib_internal.h).
 *
 * ORT's HistogramCollector works on float32 arrays with numpy scalars, so numpy's own rules
 * decide every edge and every count: np.linspace evaluated in float32, np.histogram's
 * equal-bin index formula, np.arange's length computed in float32 but its values in double,
 * the floor division of float32 scalars and np.sum's pairwise summation. Each function below
 * re-derives one of those from its definition and was checked against numpy 2.4 on random
 * inputs (scripts/gen_calibrator_fixtures.py holds the checked results). Each arithmetic step
 * is a separate float operation: the library is compiled as ISO C11, where GCC does not fuse
 * a multiply and an add into an FMA, which would round once where numpy rounds twice. */
#include <math.h>
#include "qat/calib_internal.h"

bool tt_np_linspace_f32(float lo, float hi, int64_t n, float *e)
{
    float delta = hi - lo;
    float fn = (float)n;
    float step = delta / fn;
    if (step == 0.0f) {
        /* numpy's path for a step that underflows: y / n * delta + lo */
        for (int64_t k = 0; k < n; k++) {
            float y = (float)k / fn;
            y = y * delta;
            e[k] = y + lo;
        }
    } else {
        for (int64_t k = 0; k < n; k++) {
            float y = (float)k * step;
            e[k] = y + lo;
        }
    }
    e[n] = hi;
    for (int64_t k = 0; k < n; k++)
        if (!(e[k] < e[k + 1])) return false;
    return true;
}

void tt_np_outer_edges(float *lo, float *hi)
{
    if (*lo == *hi) {
        *lo = *lo - 0.5f;
        *hi = *hi + 0.5f;
    }
}

void tt_np_hist_uniform(const float *x, int64_t n, bool absval, const float *e, int64_t nbins,
                        int64_t *cnt)
{
    float first = e[0], last = e[nbins];
    float denom = last - first;
    float fn = (float)nbins;
    for (int64_t i = 0; i < n; i++) {
        float v = absval ? fabsf(x[i]) : x[i];
        if (!(v >= first && v <= last)) continue;
        float f = (v - first) / denom;
        f = f * fn;
        int64_t k = (int64_t)f;
        if (k == nbins) k--;
        /* The formula can land one bin off near an edge; numpy corrects against the edges. */
        if (v < e[k])
            k--;
        else if (k != nbins - 1 && v >= e[k + 1])
            k++;
        cnt[k]++;
    }
}

void tt_np_hist_edges(const float *x, int64_t n, bool absval, const double *e, int64_t nbins,
                      int64_t *cnt)
{
    for (int64_t i = 0; i < n; i++) {
        double v = absval ? fabsf(x[i]) : x[i];
        if (!(v >= e[0] && v <= e[nbins])) continue;
        if (v == e[nbins]) {
            cnt[nbins - 1]++;
            continue;
        }
        /* largest k with e[k] <= v: np.searchsorted(..., 'left') on the sorted values */
        int64_t lo = 0, hi = nbins; /* e[lo] <= v < e[hi] */
        while (hi - lo > 1) {
            int64_t mid = lo + (hi - lo) / 2;
            if (e[mid] <= v)
                lo = mid;
            else
                hi = mid;
        }
        cnt[lo]++;
    }
}

int64_t tt_np_arange_len(float start, float stop, float step)
{
    /* numpy takes the length from the scalars' own (float32) subtraction and division */
    float span = stop - start;
    float q = span / step;
    double len = ceil((double)q);
    return len > 0 ? (int64_t)len : 0;
}

double tt_np_arange_at(float start, float step, int64_t k)
{
    /* element 1 is the float32 sum start + step; the rest are filled in double from it */
    float second = start + step;
    double delta = (double)second - (double)start;
    return (double)start + (double)k * delta;
}

float tt_np_floor_divide_f32(float a, float b)
{
    float mod = fmodf(a, b);
    float div = (a - mod) / b;
    if (mod != 0.0f && ((b < 0.0f) != (mod < 0.0f))) div -= 1.0f;
    if (div == 0.0f) return copysignf(0.0f, a / b);
    float fl = floorf(div);
    if (div - fl > 0.5f) fl += 1.0f;
    return fl;
}

static float pairwise_sum(const float *a, int64_t n)
{
    if (n < 8) {
        float r = 0.0f;
        for (int64_t i = 0; i < n; i++) r += a[i];
        return r;
    }
    if (n <= 128) {
        float r[8];
        for (int j = 0; j < 8; j++) r[j] = a[j];
        int64_t i = 8;
        for (; i < n - n % 8; i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + j];
        float res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    }
    int64_t n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

float tt_np_sum_f32(const float *a, int64_t n)
{
    return pairwise_sum(a, n);
}
