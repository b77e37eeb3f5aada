/* Minimal SVG line charts for the run directory's curves.svg. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "autograd/internal.h"
#include "data/atomic_file.h"
#include "tinytrain/report.h"

#define PLOT_W   640
#define PLOT_H   260
#define MARGIN_L 70
#define MARGIN_R 20
#define MARGIN_T 34
#define MARGIN_B 40

static const char *const colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"};

static void y_range(const tt_plot *p, int64_t n, double *lo, double *hi)
{
    *lo = INFINITY, *hi = -INFINITY;
    for (int s = 0; s < p->n_series; s++)
        for (int64_t i = 0; i < n; i++) {
            double v = p->series[s].y[i];
            if (!isfinite(v)) continue;
            if (v < *lo) *lo = v;
            if (v > *hi) *hi = v;
        }
    if (!isfinite(*lo)) *lo = 0, *hi = 1;
    if (*hi - *lo < 1e-12) *lo -= 0.5, *hi += 0.5;
    double pad = 0.05 * (*hi - *lo);
    *lo -= pad, *hi += pad;
}

static void write_plot(FILE *f, const tt_plot *p, int64_t n, int top)
{
    double lo, hi;
    y_range(p, n, &lo, &hi);
    int w = PLOT_W - MARGIN_L - MARGIN_R, h = PLOT_H - MARGIN_T - MARGIN_B;
    int x0 = MARGIN_L, y0 = top + MARGIN_T;
    fprintf(f, "<text x='%d' y='%d' font-size='15' font-weight='bold'>%s</text>\n", x0, top + 20,
            p->title);
    fprintf(f, "<rect x='%d' y='%d' width='%d' height='%d' fill='none' stroke='#888'/>\n", x0, y0,
            w, h);
    for (int t = 0; t <= 4; t++) {
        double v = lo + (hi - lo) * t / 4.0;
        int y = y0 + h - (int)lround(h * t / 4.0);
        fprintf(f, "<text x='%d' y='%d' font-size='11' text-anchor='end'>%.4g</text>\n", x0 - 6,
                y + 4, v);
        fprintf(f, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='#eee'/>\n", x0, y, x0 + w, y);
    }
    fprintf(f, "<text x='%d' y='%d' font-size='11' text-anchor='middle'>epoch (1..%lld)</text>\n",
            x0 + w / 2, y0 + h + 28, (long long)n);
    fprintf(f,
            "<text x='14' y='%d' font-size='11' transform='rotate(-90 14 %d)' "
            "text-anchor='middle'>%s</text>\n",
            y0 + h / 2, y0 + h / 2, p->ylabel);
    for (int s = 0; s < p->n_series; s++) {
        const char *col = colours[s % 5];
        fprintf(f, "<polyline fill='none' stroke='%s' stroke-width='2' points='", col);
        for (int64_t i = 0; i < n; i++) {
            double v = p->series[s].y[i];
            if (!isfinite(v)) continue;
            double x = n > 1 ? x0 + (double)w * (double)i / (double)(n - 1) : x0 + w / 2.0;
            double y = y0 + h - h * (v - lo) / (hi - lo);
            fprintf(f, "%.1f,%.1f ", x, y);
        }
        fprintf(f, "'/>\n<text x='%d' y='%d' font-size='12' fill='%s'>%s</text>\n", x0 + w - 150,
                y0 + 16 + 15 * s, col, p->series[s].name);
    }
}

tt_status tt_svg_write_curves(const char *path, const tt_plot *plots, int n_plots, int64_t n)
{
    TT_CHECK_NULL(path, "tt_svg_write_curves");
    TT_CHECK_NULL(plots, "tt_svg_write_curves");
    tt_atomic_file af;
    TT_CHECK(tt_atomic_open(&af, path));
    FILE *f = af.f;
    fprintf(f,
            "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' "
            "font-family='sans-serif'>\n<rect width='100%%' height='100%%' fill='white'/>\n",
            PLOT_W, PLOT_H * n_plots);
    for (int p = 0; p < n_plots; p++) write_plot(f, &plots[p], n, p * PLOT_H);
    fprintf(f, "</svg>\n");
    return tt_atomic_commit(&af);
}
