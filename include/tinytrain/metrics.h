/* Evaluation metrics: classification accuracy and confusion, regression RMSE/PLCC/SROCC, and
 * image-to-image PSNR. Sums run in double so results do not depend on the batch split. */
#ifndef TINYTRAIN_METRICS_H
#define TINYTRAIN_METRICS_H

#include <stdint.h>
#include "tinytrain/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TT_METRICS_MAX_CLASSES 1000

/* Confusion-matrix accumulator for classifiers. */
typedef struct tt_confusion {
    int n_classes;
    int64_t *counts; /* [true][predicted], n_classes^2 */
    int64_t total;
} tt_confusion;

tt_status tt_confusion_init(tt_confusion *c, int n_classes);
void tt_confusion_free(tt_confusion *c);
/* Add a batch: logits [n, n_classes] (argmax, first maximum wins) against labels. */
tt_status tt_confusion_add(tt_confusion *c, const float *logits, const int32_t *labels, int64_t n);
double tt_confusion_accuracy(const tt_confusion *c);              /* percent */
double tt_confusion_class_accuracy(const tt_confusion *c, int k); /* percent; NaN if no samples */

/* Pearson linear correlation; NaN if either side is constant or n < 2. */
double tt_plcc(const float *a, const float *b, int64_t n);
/* Spearman rank correlation (average ranks for ties); scratch of tt_srocc_scratch_bytes(n). */
double tt_srocc(const float *a, const float *b, int64_t n, void *scratch);
size_t tt_srocc_scratch_bytes(int64_t n);
double tt_rmse(const float *a, const float *b, int64_t n);
/* Peak signal-to-noise ratio for signals in [0, peak]; +inf for identical inputs. */
double tt_psnr(const float *a, const float *b, int64_t n, double peak);
/* The mean over n images of m values of each image's PSNR against b's (peak 1). An identical
 * image counts as 100 dB, so that one cannot make the mean infinite. */
double tt_psnr_mean(const float *a, const float *b, int64_t n, int64_t m);

#ifdef __cplusplus
}
#endif
#endif
