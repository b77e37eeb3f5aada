/* Range observers for FakeQuant (qat/observer.h). */
#include <math.h>
#include "qat/observer.h"

/* Elements above which a reduction is worth spreading over threads. */
#define OBS_PAR_MIN 65536

/* AVX2 clone: 8-wide vminps/vmaxps; the baseline build is SSE2-only. */
__attribute__((target_clones("avx2", "default"))) void
tt_observer_minmax(const float *x, int64_t outer, int64_t channels, int64_t inner, float *mn,
                   float *mx)
{
    int64_t total = outer * channels * inner;
    if (channels == 1) {
        /* min/max are exact, so the thread split cannot change the result. NaN compares false
         * and is skipped. */
        float lo = INFINITY, hi = -INFINITY;
#pragma omp parallel for reduction(min : lo) reduction(max : hi) if (total > OBS_PAR_MIN)
        for (int64_t i = 0; i < total; i++) {
            float v = x[i];
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        mn[0] = lo;
        mx[0] = hi;
        return;
    }
#pragma omp parallel for if (total > OBS_PAR_MIN)
    for (int64_t c = 0; c < channels; c++) {
        float lo = INFINITY, hi = -INFINITY;
        for (int64_t o = 0; o < outer; o++) {
            const float *p = x + (o * channels + c) * inner;
            for (int64_t i = 0; i < inner; i++) {
                float v = p[i];
                lo = v < lo ? v : lo;
                hi = v > hi ? v : hi;
            }
        }
        mn[c] = lo;
        mx[c] = hi;
    }
}

void tt_observer_update(tt_observer_kind kind, float c, const float *bmin, const float *bmax,
                        float *rmin, float *rmax, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float lo = bmin[i], hi = bmax[i];
        if (!(lo <= hi)) continue; /* nothing observed in this channel */
        if (!(rmin[i] <= rmax[i]) || kind == TT_OBSERVER_LAST) {
            rmin[i] = lo;
            rmax[i] = hi;
        } else if (kind == TT_OBSERVER_MOVING_AVG) {
            /* Separate statements: each operation rounds to float, as PyTorch's tensor ops. */
            float dlo = lo - rmin[i], dhi = hi - rmax[i];
            float slo = c * dlo, shi = c * dhi;
            rmin[i] = rmin[i] + slo;
            rmax[i] = rmax[i] + shi;
        } else {
            rmin[i] = lo < rmin[i] ? lo : rmin[i];
            rmax[i] = hi > rmax[i] ? hi : rmax[i];
        }
    }
}
