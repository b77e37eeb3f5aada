/* The tables of tinytrain eval MODEL.onnx: metrics (side by side with deltas for --compare),
 * confusion matrices and the PTQ studies. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "cli/eval_onnx.h"

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

static const char *mode_name(tt_rt_mode m)
{
    return m == TT_RT_FLOAT ? "float" : "int8";
}

void tt_eval_print_header(const tt_eval_data *d, const tt_eval_model *m, int n)
{
    printf("data: %s", d->path);
    if (d->split) printf(" (%s split)", d->split);
    printf(", %lld samples, %s\n", (long long)d->ds->n, tt_task_name(d->task));
    for (int i = 0; i < n; i++)
        printf("model %s: %s mode, %d nodes (%d integer kernels, %d float Conv/Gemm/MatMul), "
               "%.2f s\n",
               m[i].path, mode_name(m[i].mode), m[i].stats.n_nodes, m[i].stats.n_int8_nodes,
               m[i].stats.n_float_compute, m[i].seconds);
}

/* One metric row: each model's value, then the last one's minus the first one's, both with the
 * precision of fmt ("%.2f"). */
static void row(const char *name, const tt_eval_model *m, int n, size_t off, const char *fmt,
                const char *unit)
{
    printf("%-18s", name);
    double first = NAN, last = NAN;
    char cell[48], delta_fmt[16];
    for (int i = 0; i < n; i++) {
        double v = *(const double *)((const char *)&m[i].r + off);
        snprintf(cell, sizeof cell, fmt, v);
        printf(" %21s%s", cell, unit);
        if (i == 0) first = v;
        last = v;
    }
    snprintf(delta_fmt, sizeof delta_fmt, "%%+%s", fmt + 1);
    snprintf(cell, sizeof cell, delta_fmt, last - first);
    if (n > 1) printf(" %12s", cell);
    printf("\n");
}

static void class_rows(const tt_eval_model *m, int n)
{
    int k = m[0].r.n_classes;
    if (k > TT_EVAL_MAX_CLASSES) return;
    for (int c = 0; c < k; c++) {
        char name[32];
        snprintf(name, sizeof name, "  class %d", c);
        row(name, m, n, offsetof(tt_eval_result, class_accuracy) + (size_t)c * sizeof(double),
            "%.2f", "%");
    }
}

void tt_eval_print_metrics(const tt_eval_model *m, int n, const tt_eval_agreement *ag)
{
    printf("%-18s", "");
    for (int i = 0; i < n; i++) printf(" %22s", base_name(m[i].path));
    if (n > 1) printf(" %12s", "delta");
    printf("\n");
    tt_task task = m[0].r.task;
    if (task == TT_TASK_CLASSIFICATION) {
        row("accuracy", m, n, offsetof(tt_eval_result, accuracy), "%.2f", "%");
        class_rows(m, n);
    } else {
        row("PLCC", m, n, offsetof(tt_eval_result, plcc), "%.5f", " ");
        if (task == TT_TASK_REGRESSION)
            row("SROCC", m, n, offsetof(tt_eval_result, srocc), "%.5f", " ");
        row("RMSE", m, n, offsetof(tt_eval_result, rmse), "%.5f", " ");
        if (task == TT_TASK_IMAGE_TO_IMAGE) {
            row("PSNR (dB)", m, n, offsetof(tt_eval_result, psnr), "%.3f", " ");
            if (!isnan(m[0].r.psnr_input))
                row("input PSNR (dB)", m, n, offsetof(tt_eval_result, psnr_input), "%.3f", " ");
        }
    }
    if (!ag) return;
    if (task == TT_TASK_CLASSIFICATION) printf("top-1 agreement %.2f%%; ", ag->top1);
    printf("outputs: PLCC %.6f, drop %.6f, worst_abs %.5g (the gate's measures)\n", ag->gate.plcc,
           ag->gate.drop, ag->gate.worst_abs);
}

void tt_eval_print_confusion(const tt_eval_model *m)
{
    const tt_eval_result *r = &m->r;
    int k = r->n_classes;
    if (k > TT_EVAL_MAX_CLASSES) return;
    printf("confusion of %s (rows true, columns predicted):\n%6s", base_name(m->path), "");
    for (int j = 0; j < k; j++) printf(" %6d", j);
    printf("\n");
    for (int i = 0; i < k; i++) {
        printf("%6d", i);
        for (int j = 0; j < k; j++) printf(" %6lld", (long long)r->confusion[i * k + j]);
        printf("\n");
    }
}

/* The main metric as the tables show it: accuracy in percent, PLCC, PSNR in dB. */
static void metric_str(tt_task task, double v, bool delta, char *buf, size_t len)
{
    const char *f = task == TT_TASK_CLASSIFICATION ? (delta ? "%+.2f pt" : "%.2f%%")
                    : task == TT_TASK_REGRESSION   ? (delta ? "%+.5f" : "%.5f")
                                                   : (delta ? "%+.3f dB" : "%.3f dB");
    snprintf(buf, len, f, v);
}

static void study_row(const tt_eval_quant_row *r, const char *lead, tt_task task, double fp32)
{
    char v[32], d[32];
    metric_str(task, r->metric, false, v, sizeof v);
    metric_str(task, r->metric - fp32, true, d, sizeof d);
    printf("%s %11s %11s %12.6f", lead, v, d, r->vs_fp32.gate.drop);
    if (task == TT_TASK_CLASSIFICATION) printf(" %10.2f%%", r->vs_fp32.top1);
    printf("\n");
}

void tt_eval_print_study(const tt_eval_study *s, bool sensitivity, tt_task task)
{
    const char *metric = tt_eval_main_metric_name(task);
    char fp32[32];
    metric_str(task, s->fp32_metric, false, fp32, sizeof fp32);
    printf("\n%s\n(static PTQ: %s calibration, weights %s, calibration set of %lld samples; "
           "fp32 %s %s):\n",
           sensitivity ? "per-layer sensitivity, one layer quantised at a time"
                       : "calibration-set size",
           tt_calib_method_name(s->ptq.method), s->ptq.per_tensor ? "per tensor" : "per channel",
           (long long)s->calib_samples, metric, fp32);
    char lead[256];
    if (sensitivity)
        printf("%4s %-28s %-18s", "rank", "layer", "op");
    else
        printf("%8s", "samples");
    printf(" %11s %11s %12s%s\n", metric, "vs fp32", "output drop",
           task == TT_TASK_CLASSIFICATION ? "  top-1 agr." : "");
    for (int i = 0; i < s->n_rows; i++) {
        const tt_eval_quant_row *r = &s->rows[i];
        if (sensitivity)
            snprintf(lead, sizeof lead, "%4d %-28s %-18s", i + 1, r->label, r->op);
        else
            snprintf(lead, sizeof lead, "%8lld", (long long)r->samples);
        study_row(r, lead, task, s->fp32_metric);
    }
    if (s->has_all) {
        snprintf(lead, sizeof lead, "%4s %-28s %-18s", "", "(all layers)", "");
        study_row(&s->all, lead, task, s->fp32_metric);
    }
}
