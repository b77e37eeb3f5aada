/* Activation-range calibrators for static post-training quantisation: one calibrator per
 * tensor, fed one batch of that tensor's values at a time, reporting the (rmin, rmax) that
 * ONNX Runtime's calibrators (onnxruntime.quantization.calibrate: MinMaxCalibrater,
 * EntropyCalibrater, PercentileCalibrater and their HistogramCollector) report for the same
 * batches. Memory does not grow with the number of values: MinMax keeps two floats per batch
 * at most, the histogram methods one histogram (docs/ptq.md, "Calibration methods").
 *
 *   MINMAX      min and max over all batches (numpy's min/max, exactly). symmetric: (-a, a)
 *               with a = max(|min|, |max|). moving_average: the mean of the per-batch minima
 *               and maxima within a chunk (ORT's nanmean), chunks merged by
 *               old + averaging_constant * (new - old) (ORT's merge_range between
 *               collect_data calls; chunk_batches = 0 means one chunk, as quantize_static).
 *   ENTROPY     ORT's KL-divergence threshold search over a histogram of x on [-t, t]
 *               (t = max |x|): each window of bins around zero is compared, as a distribution,
 *               with its quantisation to num_quantized_bins levels; the window with the
 *               smallest KL wins and its edges, clipped to [min, max], are the range.
 *               ORT's defaults (128 bins, 128 quantized bins) leave exactly one window, the
 *               whole histogram: the result is MinMax. tinytrain's default is 2048/128.
 *               symmetric has no effect, as in ORT (symmetry is applied later, by
 *               compute_scale_zp).
 *   PERCENTILE  the edge at which the histogram's CDF reaches percentile/100, clipped to
 *               [min, max]. symmetric (the default, as ORT's create_calibrator): a histogram
 *               of |x| on [min |x|, max |x|], range (-t, t); otherwise a histogram of x on
 *               [-t, t] cut at (100 - percentile) / 200 on each side.
 *
 * Histograms grow as ORT's do when a batch exceeds the range seen so far (value histograms by
 * whole bins on both sides, |x| histograms by bins appended on the right), so feeding batch
 * by batch matches ORT collecting batch by batch (collect_data per batch, as
 * CalibStridedMinMax does). ORT's quantize_static instead histograms all calibration outputs
 * in one go; to reproduce that exactly with flat memory, make two passes: tt_calibrator_prescan
 * on every batch, then tt_calibrator_update on the same batches. The histogram then spans the
 * final range from the start and never grows (tt_calibrator_wants_prescan says whether a
 * method uses the first pass; MinMax does not).
 *
 * Bad data is refused, never propagated: a batch holding NaN or +-inf fails with
 * TT_ERR_NUMERIC naming how many of each (ORT drops NaN from its histograms and nanmin, so a
 * broken input silently shrinks the sample, and fails on inf); histogram methods also refuse
 * |x| > TT_CALIB_MAX_ABS.
 * A refused batch leaves the calibrator as it was. An empty batch (n = 0) is a no-op. */
#ifndef TINYTRAIN_CALIBRATOR_H
#define TINYTRAIN_CALIBRATOR_H

#include <stdbool.h>
#include <stdint.h>
#include "tinytrain/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tt_calib_method {
    TT_CALIB_MINMAX = 0,
    TT_CALIB_ENTROPY,
    TT_CALIB_PERCENTILE,
} tt_calib_method;

/* Histograms stop growing here (TT_ERR_NOMEM): 2^20 bins is 12 MiB per tensor and already a
 * slow entropy search (its cost grows with the square of the bins). */
#define TT_CALIB_MAX_BINS (INT64_C(1) << 20)
/* Largest |x| a histogram method accepts: twice it must stay finite in float32. */
#define TT_CALIB_MAX_ABS 8.5e37f

typedef struct tt_calibrator_opts {
    int64_t num_bins;           /* ENTROPY, PERCENTILE: bins of the first histogram, >= 1 */
    int64_t num_quantized_bins; /* ENTROPY: 1 <= num_quantized_bins <= num_bins */
    double percentile;          /* PERCENTILE: in (0, 100] */
    bool symmetric;             /* see above; no effect on ENTROPY */
    bool moving_average;        /* MINMAX */
    float averaging_constant;   /* MINMAX with moving_average: in [0, 1] */
    int64_t chunk_batches;      /* MINMAX with moving_average: batches per chunk, 0 = all */
} tt_calibrator_opts;

/* The defaults of ORT's create_calibrator for the method, except ENTROPY's num_bins (2048,
 * where ORT's 128 makes it MinMax):
 *   MINMAX      symmetric false, moving_average false, averaging_constant 0.01, chunk 0
 *   ENTROPY     num_bins 2048, num_quantized_bins 128, symmetric false
 *   PERCENTILE  num_bins 2048, percentile 99.999, symmetric true
 * Every field is set, so a caller can change one and pass the struct on. */
tt_calibrator_opts tt_calibrator_defaults(tt_calib_method m);

/* "minmax", "entropy", "percentile"; "?" for an unknown value. */
const char *tt_calib_method_name(tt_calib_method m);
/* The inverse of tt_calib_method_name (exact, lower case); TT_ERR_INVALID_ARG listing the
 * names otherwise. */
tt_status tt_calib_method_parse(const char *name, tt_calib_method *out);

typedef struct tt_calibrator tt_calibrator; /* private */

/* A calibrator for one tensor. opts NULL means tt_calibrator_defaults(m). Options are checked
 * here (TT_ERR_INVALID_ARG naming the option, its value and the allowed range); fields that do
 * not apply to the method are ignored. *out is NULL on failure. */
tt_status tt_calibrator_create(tt_calib_method m, const tt_calibrator_opts *opts,
                               tt_calibrator **out);
void tt_calibrator_free(tt_calibrator *c);

/* Whether the method uses the optional first pass (ENTROPY, PERCENTILE). */
bool tt_calibrator_wants_prescan(const tt_calibrator *c);

/* First pass (optional, see above): n values of one batch. Only before the first update
 * (TT_ERR_STATE after). Accepted and ignored by MINMAX, after the same checks. */
tt_status tt_calibrator_prescan(tt_calibrator *c, const float *x, int64_t n);

/* One batch: n values of the tensor, any layout (the range is per tensor). After a prescan,
 * a batch outside the prescanned range is TT_ERR_STATE (the two passes saw different data). */
tt_status tt_calibrator_update(tt_calibrator *c, const float *x, int64_t n);

/* The range so far (the calibrator can keep being updated). TT_ERR_STATE before any value. */
tt_status tt_calibrator_range(const tt_calibrator *c, float *rmin, float *rmax);

/* Values and non-empty batches taken by update. */
int64_t tt_calibrator_count(const tt_calibrator *c);
int64_t tt_calibrator_batches(const tt_calibrator *c);

/* The histogram (ENTROPY, PERCENTILE) as ORT would hold it: *nbins counts and nbins + 1
 * float32 edges, valid until the next update. TT_ERR_STATE for MINMAX or before any value. */
tt_status tt_calibrator_histogram(const tt_calibrator *c, const int64_t **counts,
                                  const float **edges, int64_t *nbins);

#ifdef __cplusplus
}
#endif
#endif
