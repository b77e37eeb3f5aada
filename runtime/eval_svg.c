/* The figures of tinytrain eval (tinytrain/eval.h): confusion matrices as heat maps and the
 * sensitivity ranking as a bar chart, self-contained SVG written atomically. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "autograd/internal.h"
#include "data/atomic_file.h"
#include "tinytrain/eval.h"

#define FONT "font-family='sans-serif'"

/* Text content with the XML specials escaped (node names come from any exporter). */
static void put_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '\'':
            fputs("&apos;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

static void svg_open(FILE *f, int w, int h)
{
    fprintf(f,
            "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' " FONT ">\n"
            "<rect width='100%%' height='100%%' fill='white'/>\n",
            w, h);
}

/* The last path component: titles name the model, not where it lives. */
static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

/* ---- confusion matrices ---- */

#define CM_MARGIN 70 /* room for the axis titles and class numbers */
#define CM_SIDE   400

static void confusion_panel(FILE *f, const tt_eval_model *m, int x0)
{
    const tt_eval_result *r = &m->r;
    int k = r->n_classes, cell = CM_SIDE / k, y0 = CM_MARGIN;
    fprintf(f, "<text x='%d' y='24' font-size='14' font-weight='bold'>", x0);
    put_text(f, base_name(m->path));
    fprintf(f, ": accuracy %.2f%%</text>\n", r->accuracy);
    fprintf(f, "<text x='%d' y='%d' font-size='12' text-anchor='middle'>predicted</text>\n",
            x0 + k * cell / 2, y0 - 24);
    fprintf(f,
            "<text x='%d' y='%d' font-size='12' text-anchor='middle' "
            "transform='rotate(-90 %d %d)'>true</text>\n",
            x0 - 36, y0 + k * cell / 2, x0 - 36, y0 + k * cell / 2);
    for (int i = 0; i < k; i++) {
        int64_t row = 0;
        for (int j = 0; j < k; j++) row += r->confusion[i * k + j];
        fprintf(f, "<text x='%d' y='%d' font-size='10' text-anchor='middle'>%d</text>\n",
                x0 + i * cell + cell / 2, y0 - 6, i);
        fprintf(f, "<text x='%d' y='%d' font-size='10' text-anchor='end'>%d</text>\n", x0 - 6,
                y0 + i * cell + cell / 2 + 4, i);
        for (int j = 0; j < k; j++) {
            int64_t c = r->confusion[i * k + j];
            double share = row ? (double)c / (double)row : 0.0;
            int shade = (int)lround(255.0 * (1.0 - share)); /* white (0) to blue (the row) */
            fprintf(f,
                    "<rect x='%d' y='%d' width='%d' height='%d' fill='rgb(%d,%d,255)' "
                    "stroke='#ccc'/>\n",
                    x0 + j * cell, y0 + i * cell, cell, cell, shade, shade);
            if (cell >= 22 && c > 0)
                fprintf(f,
                        "<text x='%d' y='%d' font-size='%d' text-anchor='middle' "
                        "fill='%s'>%lld</text>\n",
                        x0 + j * cell + cell / 2, y0 + i * cell + cell / 2 + 4, cell >= 36 ? 11 : 8,
                        share > 0.5 ? "white" : "black", (long long)c);
        }
    }
}

tt_status tt_eval_write_confusion_svg(const char *path, const tt_eval_model *models, int n)
{
    TT_CHECK_NULL(path, "tt_eval_write_confusion_svg");
    TT_CHECK_NULL(models, "tt_eval_write_confusion_svg");
    for (int i = 0; i < n; i++)
        if (models[i].r.task != TT_TASK_CLASSIFICATION || models[i].r.n_classes < 1 ||
            models[i].r.n_classes > TT_EVAL_MAX_CLASSES)
            return tt_fail(TT_ERR_INVALID_ARG,
                           "%s: a confusion matrix needs a classifier of 1 to %d classes", path,
                           TT_EVAL_MAX_CLASSES);
    tt_atomic_file af;
    TT_CHECK(tt_atomic_open(&af, path));
    int panel = CM_SIDE + 2 * CM_MARGIN;
    svg_open(af.f, panel * n, CM_SIDE + CM_MARGIN + 30);
    for (int i = 0; i < n; i++) confusion_panel(af.f, &models[i], CM_MARGIN + i * panel);
    fprintf(af.f, "</svg>\n");
    return tt_atomic_commit(&af);
}

/* ---- bar chart ---- */

#define BAR_LABEL_W 220
#define BAR_W       420
#define BAR_H       22
#define BAR_TOP     50

tt_status tt_eval_write_bars_svg(const char *path, const char *title, const char *xlabel,
                                 const char *const *labels, const double *values, int n)
{
    TT_CHECK_NULL(path, "tt_eval_write_bars_svg");
    if (n < 1 || !labels || !values)
        return tt_fail(TT_ERR_INVALID_ARG, "%s: a bar chart needs at least one bar", path);
    /* Bars grow right for positive values and left for negative ones, from a zero line placed
     * so that both fit. */
    double lo = 0, hi = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(values[i])) lo = fmin(lo, values[i]), hi = fmax(hi, values[i]);
    if (hi - lo < 1e-12) hi = lo + 1;
    double px = BAR_W / (hi - lo);
    int zero = BAR_LABEL_W + (int)lround(-lo * px);
    tt_atomic_file af;
    TT_CHECK(tt_atomic_open(&af, path));
    FILE *f = af.f;
    int height = BAR_TOP + n * BAR_H + 50;
    svg_open(f, BAR_LABEL_W + BAR_W + 90, height);
    fprintf(f, "<text x='10' y='24' font-size='14' font-weight='bold'>");
    put_text(f, title);
    fprintf(f, "</text>\n");
    for (int i = 0; i < n; i++) {
        int y = BAR_TOP + i * BAR_H;
        double v = values[i];
        fprintf(f, "<text x='%d' y='%d' font-size='11' text-anchor='end'>", BAR_LABEL_W - 8,
                y + BAR_H / 2 + 4);
        put_text(f, labels[i]);
        fprintf(f, "</text>\n");
        if (!isfinite(v)) continue;
        int len = (int)lround(fabs(v) * px), x = v < 0 ? zero - len : zero;
        fprintf(f,
                "<rect x='%d' y='%d' width='%d' height='%d' fill='%s'/>\n"
                "<text x='%d' y='%d' font-size='10'>%.4g</text>\n",
                x, y + 3, len > 0 ? len : 1, BAR_H - 6, v < 0 ? "#2ca02c" : "#d62728",
                (v < 0 ? zero : x + len) + 4, y + BAR_H / 2 + 4, v);
    }
    fprintf(f, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='#444'/>\n", zero, BAR_TOP - 4, zero,
            BAR_TOP + n * BAR_H + 4);
    fprintf(f, "<text x='%d' y='%d' font-size='11' text-anchor='middle'>", BAR_LABEL_W + BAR_W / 2,
            height - 16);
    put_text(f, xlabel ? xlabel : "");
    fprintf(f, "</text>\n</svg>\n");
    return tt_atomic_commit(&af);
}
