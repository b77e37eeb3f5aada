/* Run artefacts: SVG plots of training curves. */
#ifndef TINYTRAIN_REPORT_H
#define TINYTRAIN_REPORT_H

#include <stdint.h>
#include "tinytrain/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tt_series {
    const char *name; /* legend text */
    const double *y;  /* one value per epoch; NaN values are skipped */
} tt_series;

typedef struct tt_plot {
    const char *title;
    const char *ylabel;
    const tt_series *series;
    int n_series;
} tt_plot;

/* Write the plots stacked vertically, x = epoch 1..n, into an SVG file (atomically: temp file
 * then rename). */
tt_status tt_svg_write_curves(const char *path, const tt_plot *plots, int n_plots, int64_t n);

#ifdef __cplusplus
}
#endif
#endif
