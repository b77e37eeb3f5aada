/* tinytrain recommend MODEL.onnx --calibration FILE --budget X: every PTQ mode tried, cheapest
 * first, each gated against the fp32 model; the cheapest inside the budget is recommended, or
 * QAT when none is (docs/ptq.md, "tinytrain recommend"). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "cli/cli.h"
#include "tinytrain/ptq.h"
#include "tinytrain/tinytrain.h"
#include "data/clock.h"
#include "data/temp_dir.h"

int tt_cmd_recommend(int argc, char **argv);

static void recommend_usage(FILE *f)
{
    fprintf(f,
            "usage: tinytrain recommend MODEL.onnx --calibration FILE --budget X [options]\n\n"
            "Pick the cheapest int8 mode that stays inside the budget (the seed's policy):\n"
            "make every candidate, cheapest first -- dynamic PTQ, then static PTQ per channel\n"
            "with MinMax, Entropy and Percentile calibration (tinytrain ptq's defaults) --\n"
            "gate each against MODEL as 'tinytrain gate --fp32 MODEL --int8 CANDIDATE' does\n"
            "(drop = 1 - PLCC on the gate's inputs), print the table and recommend the first\n"
            "that passes; when none does, QAT (tinytrain qat). Details: docs/ptq.md.\n\n"
            "options:\n"
            "  --calibration FILE  calibration set of the static candidates (.npz or .h5 with\n"
            "                      an array named after the model input; tinytrain calib)\n"
            "  --budget X          the largest acceptable drop, 0..1 (required)\n"
            "  --gate-inputs N     gate samples (default %d: uniform [0, 1), seed %d, as\n"
            "                      tinytrain gate draws them)\n"
            "  --data F.npz        gate on the first N samples of F instead (real inputs, as\n"
            "                      tinytrain gate --data; for models whose inputs are not\n"
            "                      uniform [0, 1), e.g. normalised images)\n"
            "  -o, --output-dir DIR  keep the candidates there as <candidate>.int8.onnx\n"
            "                      (created if missing; default: a temporary directory,\n"
            "                      removed at the end)\n"
            "  --out-json FILE     write the report as JSON (ptq-recommend-report-v1)\n"
            "  --out-md FILE       write the table as Markdown\n"
            "  --threads T         kernel threads (default: all cores)\n"
            "  -h, --help          this help\n\n"
            "exit status: 0 a mode is inside the budget (recommended); 1 none is (use QAT),\n"
            "the model cannot be read, or a report cannot be written; 2 bad command line\n",
            TT_GATE_SAMPLES_DEFAULT, TT_GATE_SEED_DEFAULT);
}

typedef struct rec_args {
    const char *model, *calib, *budget, *inputs, *data, *dir, *json, *md, *threads;
} rec_args;

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "tinytrain recommend: %s%s%s (see 'tinytrain recommend --help')\n", msg,
            arg ? " " : "", arg ? arg : "");
    return TT_EXIT_USAGE;
}

static const char **value_slot(rec_args *a, const char *flag)
{
    static const char *const names[] = {"--calibration", "--budget", "--gate-inputs",
                                        "--data",        "-o",       "--output-dir",
                                        "--out-json",    "--out-md", "--threads"};
    const char **slots[] = {&a->calib, &a->budget, &a->inputs, &a->data,   &a->dir,
                            &a->dir,   &a->json,   &a->md,     &a->threads};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(flag, names[i])) return slots[i];
    return NULL;
}

static int parse(int argc, char **argv, rec_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char **slot = value_slot(a, argv[i]);
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            recommend_usage(stdout);
            return -1;
        } else if (slot) {
            if (!(*slot = tt_cli_value("recommend", argc, argv, &i))) return TT_EXIT_USAGE;
        } else if (argv[i][0] == '-' || a->model) {
            return usage_error("unexpected argument", argv[i]);
        } else {
            a->model = argv[i];
        }
    }
    if (!a->model) return usage_error("missing MODEL.onnx", NULL);
    if (!a->calib)
        return usage_error("missing --calibration FILE (the static candidates' calibration "
                           "set; make one with 'tinytrain calib CONFIG -n 256 -o calib.npz')",
                           NULL);
    if (!a->budget) return usage_error("missing --budget X (the largest acceptable drop)", NULL);
    return 0;
}

static int read_options(const rec_args *a, tt_ptq_recommend_opts *o)
{
    memset(o, 0, sizeof *o);
    char *end;
    errno = 0;
    o->budget = strtod(a->budget, &end);
    if (!a->budget[0] || *end || errno || !(o->budget >= 0.0 && o->budget <= 1.0))
        return usage_error("--budget: must be a number from 0 to 1, got", a->budget);
    uint64_t v;
    if (a->inputs && (!tt_cli_parse_u64(a->inputs, &v) || v < 1 || v > TT_GATE_SAMPLES_MAX))
        return usage_error("--gate-inputs: must be a whole number from 1 to 65536, got", a->inputs);
    if (a->inputs) o->gate.samples = (int64_t)v;
    o->gate.data = a->data;
    if (a->threads && (!tt_cli_parse_u64(a->threads, &v) || v < 1 || v > 1024))
        return usage_error("--threads: must be a whole number from 1 to 1024, got", a->threads);
    if (a->threads) tt_set_num_threads((int)v);
    return 0;
}

/* The candidates' directory: -o DIR (made if missing) or a fresh temporary one. */
static int make_dir(const rec_args *a, char *dir, size_t len)
{
    if (a->dir) {
        struct stat st;
        if (mkdir(a->dir, 0777) != 0 &&
            (errno != EEXIST || stat(a->dir, &st) != 0 || !S_ISDIR(st.st_mode))) {
            fprintf(stderr, "tinytrain recommend: -o %s: cannot make the directory: %s\n", a->dir,
                    strerror(errno == EEXIST ? ENOTDIR : errno));
            return TT_EXIT_FAIL;
        }
        snprintf(dir, len, "%s", a->dir);
        return 0;
    }
    if (tt_temp_dir_make("tinytrain-recommend-", dir, len) != TT_OK) {
        fprintf(stderr, "tinytrain recommend: %s\n", tt_last_error());
        return TT_EXIT_FAIL;
    }
    return 0;
}

static void remove_dir(const char *dir, const tt_ptq_recommendation *r)
{
    for (int i = 0; i < r->n; i++) unlink(r->c[i].path);
    if (rmdir(dir) != 0)
        fprintf(stderr, "tinytrain recommend: warning: could not remove %s: %s\n", dir,
                strerror(errno));
}

static void print_value(bool have, double v, const char *fmt, int width)
{
    char buf[32] = "-";
    if (have && isfinite(v)) snprintf(buf, sizeof buf, fmt, v);
    printf("  %-*s", width, buf);
}

static void print_table(const char *model, const tt_ptq_recommendation *r,
                        const tt_ptq_recommend_opts *o)
{
    long long n = (long long)(o->gate.samples ? o->gate.samples : TT_GATE_SAMPLES_DEFAULT);
    printf("tinytrain recommend: %s (%" PRId64 " bytes), budget %g, gate on %lld samples ", model,
           r->fp32_bytes, o->budget, n);
    if (o->gate.data)
        printf("of %s\n", o->gate.data);
    else
        printf("(seed %llu)\n", (unsigned long long)o->gate.seed);
    printf("  %-8s  %-10s  %-9s  %-8s  %-8s  %-6s  %s\n", "mode", "method", "drop", "worst_abs",
           "bytes", "size", "verdict");
    for (int i = 0; i < r->n; i++) {
        const tt_ptq_candidate *c = &r->c[i];
        bool dyn = c->opts.mode == TT_PTQ_DYNAMIC, m = c->built && c->gate.measured;
        printf("  %-8s  %-10s", dyn ? "dynamic" : "static",
               dyn ? "-" : tt_calib_method_name(c->opts.method));
        print_value(m, c->gate.m.drop, "%.6f", 9);
        print_value(m, c->gate.m.worst_abs, "%.4f", 9);
        print_value(c->built, (double)c->bytes, "%.0f", 8);
        print_value(c->built, c->built ? (double)c->bytes / (double)r->fp32_bytes : NAN, "%.2fx",
                    6);
        printf("  %s%s%s\n", c->pass ? "pass" : "FAIL", c->message[0] ? ": " : "", c->message);
    }
}

static int write_reports(const rec_args *a, const tt_ptq_recommendation *r,
                         const tt_ptq_recommend_opts *o, int argc, char **argv, double t0)
{
    tt_ptq_recommend_run run = {.argc = argc,
                                .argv = argv,
                                .model = a->model,
                                .calibration = a->calib,
                                .out_json = a->json,
                                .out_md = a->md,
                                .kept = a->dir != NULL,
                                .wall_s = tt_clock_s() - t0};
    if (a->md && tt_ptq_recommend_write_md(a->md, r, o, &run) != TT_OK) {
        tt_cli_error("recommend", a->md, true);
        return TT_EXIT_FAIL;
    }
    if (a->json && tt_ptq_recommend_write_json(a->json, r, o, &run) != TT_OK) {
        tt_cli_error("recommend", a->json, true);
        return TT_EXIT_FAIL;
    }
    return 0;
}

int tt_cmd_recommend(int argc, char **argv)
{
    double t0 = tt_clock_s();
    rec_args a = {0};
    int rc = parse(argc, argv, &a);
    if (rc) return rc < 0 ? TT_EXIT_OK : rc;
    tt_ptq_recommend_opts o;
    if ((rc = read_options(&a, &o))) return rc;
    char dir[4096];
    if ((rc = make_dir(&a, dir, sizeof dir))) return rc;
    o.dir = dir;
    tt_ptq_recommendation r;
    if (tt_ptq_recommend(a.model, a.calib, &o, &r) != TT_OK) {
        bool named = !strncmp(tt_last_error(), a.model, strlen(a.model));
        tt_cli_error("recommend", named ? tt_last_error() : a.model, !named);
        if (!a.dir) rmdir(dir);
        return TT_EXIT_FAIL;
    }
    print_table(a.model, &r, &o);
    rc = write_reports(&a, &r, &o, argc, argv, t0);
    if (r.chosen >= 0)
        printf("recommendation: %s, the cheapest mode inside the budget%s%s\n", r.c[r.chosen].label,
               a.dir ? " -> " : "", a.dir ? r.c[r.chosen].path : "");
    else
        printf("none inside the budget: use QAT (tinytrain qat)\n");
    if (!a.dir) remove_dir(dir, &r);
    return rc ? rc : (r.chosen >= 0 ? TT_EXIT_OK : TT_EXIT_FAIL);
}
