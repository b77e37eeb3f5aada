/* tinytrain eval MODEL.onnx --data CONFIG.yaml|FILE.npz: an ONNX model's metrics on tinytrain's
 * runtime, fp32 against int8 with --compare, and the PTQ studies (docs/eval.md). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli/cli.h"
#include "tinytrain/backends.h"
#include "cli/eval_onnx.h"
#include "tinytrain/tinytrain.h"
#include "data/clock.h"

#define MAX_SIZES 32

static void usage(FILE *f)
{
    fprintf(
        f, "usage: tinytrain eval MODEL.onnx --data CONFIG.yaml|FILE.npz [options]\n\n"
           "Evaluate an ONNX model (fp32 or QDQ int8) on tinytrain's runtime: accuracy,\n"
           "per-class accuracy and confusion matrix for classifiers, PLCC/SROCC/RMSE for\n"
           "regressors, PSNR/PLCC for image-to-image models (docs/eval.md).\n\n"
           "data:\n"
           "  --data FILE          CONFIG.yaml: the config's data pipeline (split, normalisation,\n"
           "                       task); FILE.npz: arrays 'input' [N, ...] and 'target' (labels\n"
           "                       [N] or targets [N, ...]), as tinytrain calib writes them\n"
           "  --split S            test (default), val or train (config data)\n"
           "  --task T             .npz data: classification, regression or image_to_image\n"
           "                       (default: integer targets classify, float targets of the\n"
           "                       input's size are image_to_image, others regression)\n"
           "  --limit N            only the first N samples\n"
           "running:\n"
           "  --mode M             int8 (default: QDQ patterns on integer kernels) or float\n"
           "  --batch N            samples per runtime batch (default 64)\n"
           "  --threads N          threads (default: all cores)\n"
           "  --backend B          cpu (default), opencl[:N] or cuda[:N]: where the model runs\n"
           "comparing and studies:\n"
           "  --compare OTHER.onnx  also evaluate OTHER on the same data: side by side, deltas,\n"
           "                       top-1 agreement and the gate's output PLCC drop\n"
           "  --sensitivity        quantise one layer of the fp32 MODEL at a time (static PTQ)\n"
           "                       and rank the layers by the metric's drop; needs --calibration\n"
           "  --calib-sizes LIST   static PTQ with the first N calibration samples for each N\n"
           "                       of LIST (e.g. 32,64,128,256,512); needs --calibration\n"
           "  --calibration FILE   calibration set (.npz/.h5, as for tinytrain ptq)\n"
           "  --method M           the studies' calibration: minmax (default), entropy,\n"
           "                       percentile\n"
           "  --per-tensor         the studies' weights per tensor (default per channel)\n"
           "  --work-dir DIR       keep the studies' quantised models in DIR (default: a\n"
           "                       temporary directory, removed)\n"
           "output:\n"
           "  --confusion-svg F    confusion matrices as SVG (classifiers)\n"
           "  --sensitivity-svg F  the sensitivity ranking as an SVG bar chart\n"
           "  --out-json F         everything measured, with run_provenance\n"
           "  --quiet              no progress on stderr\n"
           "  -h, --help           this help\n");
}

typedef struct args {
    const char *model, *data, *split, *task, *limit, *mode, *batch, *threads, *compare, *backend;
    const char *calibration, *calib_sizes, *method, *work_dir, *confusion_svg, *sens_svg, *json;
    bool sensitivity, per_tensor, quiet;
} args;

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "tinytrain eval: %s%s%s (see 'tinytrain eval MODEL.onnx --help')\n", msg,
            arg ? " " : "", arg ? arg : "");
    return TT_EXIT_USAGE;
}

static bool ends_with(const char *s, const char *ext)
{
    size_t a = strlen(s), b = strlen(ext);
    return a > b && !strcmp(s + a - b, ext);
}

bool tt_eval_is_onnx(int argc, char **argv)
{
    /* A checkpoint is never .onnx, and --data is this command's alone: a mistyped model name
     * with --data still gets this command's messages. */
    for (int i = 1; i < argc; i++)
        if (ends_with(argv[i], ".onnx") || !strcmp(argv[i], "--data")) return true;
    return false;
}

static const char **value_slot(args *a, const char *flag)
{
    static const struct {
        const char *flag;
        size_t off;
    } flags[] = {
        {"--data", offsetof(args, data)},
        {"--split", offsetof(args, split)},
        {"--task", offsetof(args, task)},
        {"--limit", offsetof(args, limit)},
        {"--mode", offsetof(args, mode)},
        {"--batch", offsetof(args, batch)},
        {"--threads", offsetof(args, threads)},
        {"--backend", offsetof(args, backend)},
        {"--compare", offsetof(args, compare)},
        {"--calibration", offsetof(args, calibration)},
        {"--calib-sizes", offsetof(args, calib_sizes)},
        {"--method", offsetof(args, method)},
        {"--work-dir", offsetof(args, work_dir)},
        {"--confusion-svg", offsetof(args, confusion_svg)},
        {"--sensitivity-svg", offsetof(args, sens_svg)},
        {"--out-json", offsetof(args, json)},
    };
    for (size_t k = 0; k < sizeof flags / sizeof *flags; k++)
        if (!strcmp(flag, flags[k].flag)) return (const char **)((char *)a + flags[k].off);
    return NULL;
}

static int parse(int argc, char **argv, args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], **slot;
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            usage(stdout);
            return -1;
        }
        if (!strcmp(s, "--sensitivity"))
            a->sensitivity = true;
        else if (!strcmp(s, "--per-tensor"))
            a->per_tensor = true;
        else if (!strcmp(s, "--quiet"))
            a->quiet = true;
        else if ((slot = value_slot(a, s))) {
            if (!(*slot = tt_cli_value("eval", argc, argv, &i))) return TT_EXIT_USAGE;
        } else if (s[0] == '-' || a->model) {
            fprintf(stderr,
                    "tinytrain eval: unexpected argument '%s' (see 'tinytrain eval "
                    "MODEL.onnx --help')\n",
                    s);
            return TT_EXIT_USAGE;
        } else {
            a->model = s;
        }
    }
    return 0;
}

/* ---- checking the command line ---- */

/* A whole number in [1, max] into *out; false after printing the error. */
static bool positive(const char *flag, const char *v, uint64_t max, int64_t *out)
{
    uint64_t u = 0;
    if (!tt_cli_parse_u64(v, &u) || u < 1 || u > max) {
        char msg[96];
        snprintf(msg, sizeof msg, "%s must be a whole number from 1 to %llu, got", flag,
                 (unsigned long long)max);
        usage_error(msg, v);
        return false;
    }
    *out = (int64_t)u;
    return true;
}

static int parse_sizes(const char *list, int64_t *sizes, int *n)
{
    char buf[512];
    if (snprintf(buf, sizeof buf, "%s", list) >= (int)sizeof buf)
        return usage_error("--calib-sizes: list too long:", list);
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (*n == MAX_SIZES) return usage_error("--calib-sizes: at most 32 sizes, got", list);
        if (!positive("--calib-sizes: each size", tok, INT64_MAX, &sizes[(*n)++]))
            return TT_EXIT_USAGE;
    }
    if (*n == 0 || list[strlen(list) - 1] == ',' || list[0] == ',' || strstr(list, ",,"))
        return usage_error("--calib-sizes needs sizes separated by commas (32,64,128), got", list);
    return 0;
}

/* Everything decided from the command line alone. */
typedef struct plan {
    bool config; /* --data is a config (else an .npz) */
    tt_eval_data_opts data;
    tt_runtime_opts rt;
    int64_t threads;
    tt_ptq_opts ptq;
    int64_t sizes[MAX_SIZES];
    int n_sizes;
} plan;

static int check_data(const args *a, plan *p)
{
    if (!a->model) return usage_error("missing MODEL.onnx", NULL);
    if (!a->data) return usage_error("missing --data CONFIG.yaml|FILE.npz", NULL);
    p->config = ends_with(a->data, ".yaml") || ends_with(a->data, ".yml");
    if (!p->config && !ends_with(a->data, ".npz"))
        return usage_error("--data must be a CONFIG.yaml (or .yml) or an .npz, got", a->data);
    if (a->split && !p->config) return usage_error("--split applies to config data, not", a->data);
    if (a->task && p->config)
        return usage_error("--task applies to .npz data; a config names its task:", a->data);
    if (a->split && tt_eval_split_parse(a->split, &p->data.split) != TT_OK)
        return usage_error("--split must be test, val or train, got", a->split);
    if (a->task && tt_eval_task_parse(a->task, &p->data.task) != TT_OK)
        return usage_error("--task must be classification, regression or image_to_image, got",
                           a->task);
    p->data.task_given = a->task != NULL;
    if (a->limit && !positive("--limit", a->limit, INT64_MAX, &p->data.limit)) return TT_EXIT_USAGE;
    return 0;
}

static int check_run(const args *a, plan *p)
{
    if (a->mode && !strcmp(a->mode, "float"))
        p->rt.mode = TT_RT_FLOAT;
    else if (a->mode && strcmp(a->mode, "int8"))
        return usage_error("--mode must be int8 or float, got", a->mode);
    if (a->batch && !positive("--batch", a->batch, 1 << 20, &p->rt.max_batch)) return TT_EXIT_USAGE;
    if (a->threads && !positive("--threads", a->threads, 1024, &p->threads)) return TT_EXIT_USAGE;
    if (a->backend && tt_backend_check(a->backend) != TT_OK) {
        fprintf(stderr, "tinytrain eval: --backend: %s\n", tt_last_error());
        return TT_EXIT_USAGE;
    }
    p->rt.backend = a->backend;
    return 0;
}

static int check_studies(const args *a, plan *p)
{
    bool study = a->sensitivity || a->calib_sizes;
    if (study && !a->calibration)
        return usage_error(a->sensitivity ? "--sensitivity needs --calibration FILE"
                                          : "--calib-sizes needs --calibration FILE",
                           NULL);
    if (!study && (a->calibration || a->method || a->per_tensor || a->work_dir))
        return usage_error("--calibration, --method, --per-tensor and --work-dir go with "
                           "--sensitivity or --calib-sizes",
                           NULL);
    if (a->sens_svg && !a->sensitivity)
        return usage_error("--sensitivity-svg needs --sensitivity", NULL);
    if (a->compare && study)
        return usage_error("--compare and the PTQ studies are separate runs: the studies "
                           "compare the fp32 MODEL with its own quantised models",
                           NULL);
    p->ptq = tt_ptq_defaults();
    if (a->method && tt_calib_method_parse(a->method, &p->ptq.method) != TT_OK)
        return usage_error("--method must be minmax, entropy or percentile, got", a->method);
    p->ptq.calib = tt_calibrator_defaults(p->ptq.method);
    p->ptq.per_tensor = a->per_tensor;
    if (a->calib_sizes) return parse_sizes(a->calib_sizes, p->sizes, &p->n_sizes);
    return 0;
}

/* ---- running ---- */

typedef struct ui {
    bool quiet, tty;
} ui;

static void on_progress(const char *what, int64_t done, int64_t total, void *user)
{
    const ui *u = user;
    if (u->quiet || !u->tty) return;
    fprintf(stderr, "\r\033[K  evaluating %s: %lld/%lld", what, (long long)done, (long long)total);
    if (done == total) fprintf(stderr, "\r\033[K");
    fflush(stderr);
}

static void on_row(const tt_eval_quant_row *r, int i, int n, void *user)
{
    const ui *u = user;
    if (u->quiet) return;
    /* 0 - drop, not -drop: no "-0" for an unchanged metric. */
    fprintf(stderr,
            "tinytrain eval: [%d/%d] %s: %s %.6g (vs fp32 %+.6g), PTQ %.1f s, eval %.1f s\n", i + 1,
            n, r->label, tt_eval_main_metric_name(r->r.task), r->metric, 0.0 - r->drop, r->ptq_s,
            r->eval_s);
}

/* The per-sample input shape of a loaded model (its input shape without the batch). */
static tt_shape sample_shape(const tt_runtime *rt)
{
    const tt_shape *s = tt_runtime_input_shape(rt);
    tt_shape out = {.ndim = s->ndim - 1};
    for (int i = 1; i < s->ndim; i++) out.dims[i - 1] = s->dims[i];
    return out;
}

static int load_data(const args *a, const plan *p, const tt_runtime *rt, tt_eval_data *d)
{
    tt_status s;
    if (p->config) {
        tt_config *cfg = NULL;
        if (tt_config_load(a->data, &cfg) != TT_OK) {
            tt_cli_error("eval", a->data, true);
            return TT_EXIT_USAGE;
        }
        if (a->threads) tt_config_apply_override(cfg, "threads", a->threads);
        s = tt_eval_data_from_config(cfg, &p->data, tt_runtime_input_size(rt),
                                     tt_runtime_output_size(rt), d);
        tt_config_free(cfg);
    } else {
        tt_shape sample = sample_shape(rt);
        s = tt_eval_data_from_npz(a->data, &p->data, &sample, tt_runtime_output_size(rt), d);
    }
    if (s != TT_OK) {
        tt_cli_error("eval", "--data", true);
        return TT_EXIT_FAIL;
    }
    return 0;
}

/* One model over the data: its plan, outputs (*y, kept for the comparison) and metrics. */
static int eval_model(const char *path, const plan *p, const tt_eval_data *d, ui *u,
                      tt_eval_model *m, float **y, int64_t *out_numel)
{
    tt_runtime *rt = NULL;
    m->path = path;
    m->mode = p->rt.mode;
    double t0 = tt_clock_s();
    tt_status s = tt_runtime_load(path, &p->rt, &rt);
    if (s == TT_OK) {
        tt_runtime_get_stats(rt, &m->stats);
        s = tt_eval_predict(rt, d, path, on_progress, u, y);
    }
    if (s == TT_OK) {
        *out_numel = tt_runtime_output_size(rt);
        s = tt_eval_score(d, *y, *out_numel, &m->r);
    }
    m->seconds = tt_clock_s() - t0;
    tt_runtime_free(rt);
    if (s != TT_OK) {
        tt_cli_error("eval", path, true);
        return TT_EXIT_FAIL;
    }
    return 0;
}

/* The first model's runtime, only to size the data: both models must take the same data. */
static int open_models(const args *a, const plan *p, tt_eval_data *d)
{
    tt_runtime *rt = NULL, *other = NULL;
    if (tt_runtime_load(a->model, &p->rt, &rt) != TT_OK) {
        tt_cli_error("eval", a->model, true);
        return TT_EXIT_FAIL;
    }
    int rc = 0;
    if (a->compare && tt_runtime_load(a->compare, &p->rt, &other) != TT_OK) {
        tt_cli_error("eval", a->compare, true);
        rc = TT_EXIT_FAIL;
    } else if (other && (tt_runtime_input_size(other) != tt_runtime_input_size(rt) ||
                         tt_runtime_output_size(other) != tt_runtime_output_size(rt))) {
        fprintf(stderr,
                "tinytrain eval: --compare %s: its input or output size differs from %s's; "
                "compare a model with its own quantised sibling\n",
                a->compare, a->model);
        rc = TT_EXIT_FAIL;
    }
    if (!rc) rc = load_data(a, p, rt, d);
    tt_runtime_free(other);
    tt_runtime_free(rt);
    return rc;
}

typedef struct results {
    tt_eval_model models[2];
    int n_models;
    float *out[2];
    int64_t out_numel; /* per sample, the same for both models */
    tt_eval_agreement agree;
    tt_eval_study sens, sizes;
    bool has_sens, has_sizes;
} results;

static int run_studies(const args *a, const plan *p, const tt_eval_data *d, ui *u, results *r)
{
    tt_eval_study_opts so = {.model = a->model,
                             .calibration = a->calibration,
                             .data = d,
                             .fp32_out = r->out[0],
                             .fp32 = &r->models[0].r,
                             .ptq = p->ptq,
                             .rt = p->rt,
                             .work_dir = a->work_dir,
                             .cb = on_progress,
                             .on_row = on_row,
                             .user = u};
    if (a->sensitivity) {
        if (tt_eval_sensitivity(&so, &r->sens) != TT_OK) {
            tt_cli_error("eval", "--sensitivity", true);
            return TT_EXIT_FAIL;
        }
        r->has_sens = true;
        tt_eval_print_study(&r->sens, true, d->task);
    }
    if (a->calib_sizes) {
        if (tt_eval_calib_sizes(&so, p->sizes, p->n_sizes, &r->sizes) != TT_OK) {
            tt_cli_error("eval", "--calib-sizes", true);
            return TT_EXIT_FAIL;
        }
        r->has_sizes = true;
        tt_eval_print_study(&r->sizes, false, d->task);
    }
    return 0;
}

static int write_sens_svg(const char *path, const tt_eval_study *s, tt_task task)
{
    const char *labels[TT_PTQ_MAX_EXCLUDE + 1];
    double drops[TT_PTQ_MAX_EXCLUDE + 1];
    for (int i = 0; i < s->n_rows; i++) {
        labels[i] = s->rows[i].label;
        drops[i] = s->rows[i].drop;
    }
    char title[160], xlabel[96];
    snprintf(title, sizeof title, "Per-layer PTQ sensitivity (%s, one layer quantised)",
             tt_calib_method_name(s->ptq.method));
    snprintf(xlabel, sizeof xlabel, "%s drop vs fp32 (fp32 %.4g)", tt_eval_main_metric_name(task),
             s->fp32_metric);
    return tt_eval_write_bars_svg(path, title, xlabel, labels, drops, s->n_rows) == TT_OK;
}

static int write_outputs(const args *a, const tt_eval_data *d, results *r, int argc, char **argv,
                         double t0)
{
    if (a->confusion_svg &&
        tt_eval_write_confusion_svg(a->confusion_svg, r->models, r->n_models) != TT_OK) {
        tt_cli_error("eval", "--confusion-svg", true);
        return TT_EXIT_FAIL;
    }
    if (a->sens_svg && !write_sens_svg(a->sens_svg, &r->sens, d->task)) {
        tt_cli_error("eval", "--sensitivity-svg", true);
        return TT_EXIT_FAIL;
    }
    if (!a->json) return 0;
    tt_eval_report rep = {.data = d,
                          .models = r->models,
                          .n_models = r->n_models,
                          .agreement = r->n_models > 1 ? &r->agree : NULL,
                          .sensitivity = r->has_sens ? &r->sens : NULL,
                          .calib_sizes = r->has_sizes ? &r->sizes : NULL,
                          .argc = argc,
                          .argv = argv,
                          .wall_s = tt_clock_s() - t0};
    if (tt_eval_write_json(a->json, &rep) != TT_OK) {
        tt_cli_error("eval", "--out-json", true);
        return TT_EXIT_FAIL;
    }
    return 0;
}

static int run(const args *a, const plan *p, int argc, char **argv)
{
    double t0 = tt_clock_s();
    ui u = {.quiet = a->quiet, .tty = tt_cli_is_tty(stderr)};
    tt_eval_data d;
    memset(&d, 0, sizeof d);
    results *r = calloc(1, sizeof *r);
    if (!r) return TT_EXIT_FAIL;
    int rc = open_models(a, p, &d);
    if (!rc && p->threads) tt_set_num_threads((int)p->threads);
    const char *paths[2] = {a->model, a->compare};
    for (int i = 0; !rc && i < (a->compare ? 2 : 1); i++) {
        rc = eval_model(paths[i], p, &d, &u, &r->models[i], &r->out[i], &r->out_numel);
        r->n_models += !rc;
    }
    if (!rc) {
        if (r->n_models > 1) tt_eval_agree(r->out[0], r->out[1], d.ds->n, r->out_numel, &r->agree);
        tt_eval_print_header(&d, r->models, r->n_models);
        tt_eval_print_metrics(r->models, r->n_models, r->n_models > 1 ? &r->agree : NULL);
        for (int i = 0; i < r->n_models && d.task == TT_TASK_CLASSIFICATION; i++)
            tt_eval_print_confusion(&r->models[i]);
        fflush(stdout);
    }
    if (!rc) rc = run_studies(a, p, &d, &u, r);
    if (!rc) rc = write_outputs(a, &d, r, argc, argv, t0);
    free(r->out[0]);
    free(r->out[1]);
    tt_eval_study_free(&r->sens);
    tt_eval_study_free(&r->sizes);
    free(r);
    tt_eval_data_free(&d);
    return rc;
}

int tt_cmd_eval_onnx(int argc, char **argv)
{
    args a = {0};
    int rc = parse(argc, argv, &a);
    if (rc) return rc < 0 ? TT_EXIT_OK : rc;
    plan p;
    memset(&p, 0, sizeof p);
    if ((rc = check_data(&a, &p)) || (rc = check_run(&a, &p)) || (rc = check_studies(&a, &p)))
        return rc;
    return run(&a, &p, argc, argv);
}
