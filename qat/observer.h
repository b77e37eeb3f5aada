/* Range observers for FakeQuant (internal): the min/max of a tensor per tensor or per channel,
 * and the rules that fold one batch's range into a running range. */
#ifndef TT_QAT_OBSERVER_H
#define TT_QAT_OBSERVER_H

#include <stdbool.h>
#include <stdint.h>
#include "tinytrain/quant.h"

/* Min and max of x viewed as [outer, channels, inner] (row-major), one pair per channel
 * (per tensor: channels = 1). NaN values are skipped, as ORT's calibrator (nanmin/nanmax)
 * does; a channel with no other value gets mn = +inf, mx = -inf (an empty range). */
void tt_observer_minmax(const float *x, int64_t outer, int64_t channels, int64_t inner, float *mn,
                        float *mx);

/* Fold a batch range (bmin, bmax) into the running range (rmin, rmax), n channels. An empty
 * running range (rmin > rmax; the initial +inf/-inf) takes the batch range whatever the kind;
 * an empty batch range leaves the running one alone. Then:
 *   MINMAX:     rmin = min(rmin, bmin), rmax = max(rmax, bmax)
 *   MOVING_AVG: rmin += c * (bmin - rmin), rmax likewise, in float32 (PyTorch's
 *               MovingAverageMinMaxObserver, op for op)
 *   LAST:       rmin = bmin, rmax = bmax */
void tt_observer_update(tt_observer_kind kind, float c, const float *bmin, const float *bmax,
                        float *rmin, float *rmax, int64_t n);

#endif
