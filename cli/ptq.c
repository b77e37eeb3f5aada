/* tinytrain ptq MODEL.onnx --mode static --calibration FILE | --mode dynamic: post-training
 * quantisation of an fp32 ONNX model into int8 ONNX, static QDQ or ORT's dynamic IntegerOps
 * graph (docs/ptq.md). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli/cli.h"
#include "tinytrain/ptq.h"
#include "tinytrain/tinytrain.h"
#include "data/clock.h"

static void ptq_usage(FILE *f)
{
    fprintf(f,
            "usage: tinytrain ptq MODEL.onnx --mode static --calibration FILE [options]\n"
            "       tinytrain ptq MODEL.onnx --mode dynamic [options]\n\n"
            "Quantise an fp32 ONNX model to int8 ONNX (docs/ptq.md):\n"
            "  static   QDQ (uint8 activations, int8 weights, int32 biases) as ONNX Runtime's\n"
            "           quantize_static does, calibrating activation ranges on tinytrain's own\n"
            "           runtime;\n"
            "  dynamic  the graph ONNX Runtime's quantize_dynamic writes: MatMul (Gemm) and Conv\n"
            "           -> DynamicQuantizeLinear + MatMulInteger/ConvInteger, activation ranges\n"
            "           computed at run time; no calibration set.\n\n"
            "options:\n"
            "  --mode M               static or dynamic (required)\n"
            "  --calibration FILE     static: .npz or .h5 with an array named after the model\n"
            "                         input, [N, input shape...] (tinytrain calib writes one);\n"
            "                         refused with dynamic\n"
            "  --method M             static: minmax (default), entropy or percentile\n"
            "  --percentile P         static, percentile: in (0, 100] (default 99.999)\n"
            "  --num-bins N           static, entropy/percentile histogram bins (default 2048)\n"
            "  --per-channel          one weight scale per output channel (static default;\n"
            "                         dynamic: per MatMul column, Conv weights stay per tensor)\n"
            "  --per-tensor           one weight scale per weight tensor (dynamic default)\n"
            "  --activation-type T    u8 (default) or s8 (static only: int8 asymmetric)\n"
            "  --weight-type T        s8 (default, symmetric) or u8 (static: symmetric per\n"
            "                         channel, zero point 128, asymmetric per tensor; dynamic:\n"
            "                         asymmetric)\n"
            "  --reduce-range         7-bit weights, int8 [-64, 64] / uint8 [0, 127] (for AVX2\n"
            "                         without VNNI)\n"
            "  --no-channel-pad       static: keep a Conv's input channels as they are (by\n"
            "                         default a count that is not a multiple of 4 is padded\n"
            "                         with zero-weight channels for ONNX Runtime's fast int8\n"
            "                         conv; docs/onnx.md)\n"
            "  --exclude NODE...      leave these nodes (ONNX node names) in float; dynamic:\n"
            "                         names of the rewritten graph, a Gemm's name standing for\n"
            "                         its MatMul\n"
            "  -o, --output FILE      the int8 model (default: MODEL.int8.onnx beside MODEL)\n"
            "  --report-out FILE      write a JSON report (sizes, settings, provenance)\n"
            "  --batch N              static: samples per calibration forward pass (default %d)\n"
            "  --threads T            kernel threads (default: all cores)\n"
            "  -h, --help             this help\n\n"
            "exit status: 0 written; 1 the model or calibration set could not be used (names,\n"
            "shapes, NaN, unsupported ops) or the file not written; 2 bad command line\n",
            TT_PTQ_BATCH_DEFAULT);
}

typedef struct ptq_args {
    const char *model, *out, *report, *calib, *mode, *method, *percentile, *bins, *act, *wt;
    const char *batch, *threads;
    bool per_channel, per_tensor, reduce_range, no_channel_pad;
    const char *exclude[TT_PTQ_MAX_EXCLUDE];
    int n_exclude;
} ptq_args;

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "tinytrain ptq: %s%s%s (see 'tinytrain ptq --help')\n", msg, arg ? " " : "",
            arg ? arg : "");
    return TT_EXIT_USAGE;
}

static const char **value_slot(ptq_args *a, const char *flag)
{
    static const char *const names[] = {
        "-o",           "--output",   "--report-out",      "--calibration", "--mode",  "--method",
        "--percentile", "--num-bins", "--activation-type", "--weight-type", "--batch", "--threads"};
    const char **slots[] = {&a->out,  &a->out,    &a->report,     &a->calib,
                            &a->mode, &a->method, &a->percentile, &a->bins,
                            &a->act,  &a->wt,     &a->batch,      &a->threads};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(flag, names[i])) return slots[i];
    return NULL;
}

/* --exclude NODE...: every following argument up to the next option. */
static int take_excludes(ptq_args *a, int argc, char **argv, int *i)
{
    int start = a->n_exclude;
    while (*i + 1 < argc && argv[*i + 1][0] != '-') {
        if (a->n_exclude == TT_PTQ_MAX_EXCLUDE)
            return usage_error("too many --exclude names", NULL);
        a->exclude[a->n_exclude++] = argv[++*i];
    }
    return a->n_exclude > start ? 0 : usage_error("--exclude needs at least one node name", NULL);
}

static int parse(int argc, char **argv, ptq_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char **slot = value_slot(a, argv[i]);
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            ptq_usage(stdout);
            return -1;
        } else if (slot) {
            if (!(*slot = tt_cli_value("ptq", argc, argv, &i))) return TT_EXIT_USAGE;
        } else if (!strcmp(argv[i], "--per-channel")) {
            a->per_channel = true;
        } else if (!strcmp(argv[i], "--per-tensor")) {
            a->per_tensor = true;
        } else if (!strcmp(argv[i], "--reduce-range")) {
            a->reduce_range = true;
        } else if (!strcmp(argv[i], "--no-channel-pad")) {
            a->no_channel_pad = true;
        } else if (!strcmp(argv[i], "--exclude")) {
            int rc = take_excludes(a, argc, argv, &i);
            if (rc) return rc;
        } else if (argv[i][0] == '-' || a->model) {
            fprintf(stderr,
                    "tinytrain ptq: unexpected argument '%s' (see 'tinytrain ptq --help')\n",
                    argv[i]);
            return TT_EXIT_USAGE;
        } else {
            a->model = argv[i];
        }
    }
    if (!a->model) return usage_error("missing MODEL.onnx", NULL);
    return 0;
}

static bool parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!s[0] || *end || errno || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static int read_method(const ptq_args *a, tt_ptq_opts *o)
{
    if (a->method && tt_calib_method_parse(a->method, &o->method) != TT_OK)
        return usage_error("--method: must be minmax, entropy or percentile, got", a->method);
    o->calib = tt_calibrator_defaults(o->method);
    if (a->percentile) {
        if (o->method != TT_CALIB_PERCENTILE)
            return usage_error("--percentile needs --method percentile", NULL);
        char *end;
        errno = 0;
        double p = strtod(a->percentile, &end);
        if (!a->percentile[0] || *end || errno || !(p > 0.0 && p <= 100.0))
            return usage_error("--percentile: must be a number in (0, 100], got", a->percentile);
        o->calib.percentile = p;
    }
    if (a->bins) {
        if (o->method == TT_CALIB_MINMAX)
            return usage_error("--num-bins needs --method entropy or percentile", NULL);
        if (!parse_i64(a->bins, 1, 1 << 20, &o->calib.num_bins))
            return usage_error("--num-bins: must be a whole number from 1 to 1048576, got",
                               a->bins);
        if (o->calib.num_quantized_bins > o->calib.num_bins)
            o->calib.num_quantized_bins = o->calib.num_bins;
    }
    return 0;
}

static int read_types(const ptq_args *a, tt_ptq_opts *o)
{
    o->per_tensor = a->per_tensor;
    if (a->act && strcmp(a->act, "u8") && strcmp(a->act, "s8"))
        return usage_error("--activation-type: must be u8 or s8, got", a->act);
    o->activation_s8 = a->act && !strcmp(a->act, "s8");
    if (a->wt && strcmp(a->wt, "s8") && strcmp(a->wt, "u8"))
        return usage_error("--weight-type: must be s8 or u8, got", a->wt);
    o->weight_u8 = a->wt && !strcmp(a->wt, "u8");
    if (o->weight_u8 && o->activation_s8)
        return usage_error("--weight-type u8 needs uint8 activations (ONNX Runtime's "
                           "quantize_static refuses int8 activations with uint8 weights); drop "
                           "--activation-type s8 or use --weight-type s8",
                           NULL);
    return 0;
}

static int read_static(const ptq_args *a, tt_ptq_opts *o)
{
    *o = tt_ptq_defaults();
    if (!a->calib)
        return usage_error("--mode static needs --calibration FILE (.npz or .h5; make one with "
                           "'tinytrain calib CONFIG -n 256 -o calib.npz')",
                           NULL);
    int rc = read_method(a, o);
    if (!rc) rc = read_types(a, o);
    if (rc) return rc;
    if (a->batch && !parse_i64(a->batch, 1, 1 << 20, &o->batch))
        return usage_error("--batch: must be a whole number >= 1, got", a->batch);
    return 0;
}

/* quantize_dynamic's settings: calibration options are refused rather than ignored. */
static int read_dynamic(const ptq_args *a, tt_ptq_opts *o)
{
    *o = tt_ptq_dynamic_defaults();
    if (a->calib)
        return usage_error("--mode dynamic takes no --calibration: DynamicQuantizeLinear computes "
                           "the activation ranges at run time (drop it, or use --mode static)",
                           NULL);
    const char *flag = a->method       ? "--method"
                       : a->percentile ? "--percentile"
                       : a->bins       ? "--num-bins"
                       : a->batch      ? "--batch"
                                       : NULL;
    if (flag) {
        fprintf(stderr,
                "tinytrain ptq: %s is a calibration option of --mode static; --mode dynamic has "
                "no calibration (see 'tinytrain ptq --help')\n",
                flag);
        return TT_EXIT_USAGE;
    }
    if (a->act && strcmp(a->act, "u8"))
        return usage_error("--mode dynamic quantises activations to u8 only "
                           "(DynamicQuantizeLinear), got --activation-type",
                           a->act);
    if (a->wt && strcmp(a->wt, "s8") && strcmp(a->wt, "u8"))
        return usage_error("--weight-type: must be s8 or u8, got", a->wt);
    o->weight_u8 = a->wt && !strcmp(a->wt, "u8");
    o->per_tensor = !a->per_channel;
    return 0;
}

/* Everything on the command line into o; 0 or an exit code after printing the error. */
static int read_options(const ptq_args *a, tt_ptq_opts *o)
{
    if (!a->mode) return usage_error("missing --mode static or --mode dynamic", NULL);
    bool dynamic = !strcmp(a->mode, "dynamic");
    if (!dynamic && strcmp(a->mode, "static"))
        return usage_error("--mode: must be static or dynamic, got", a->mode);
    if (a->per_channel && a->per_tensor)
        return usage_error("--per-channel and --per-tensor exclude each other", NULL);
    if (dynamic && a->no_channel_pad)
        return usage_error("--no-channel-pad applies to --mode static (the dynamic graph has no "
                           "QDQ Conv to pad)",
                           NULL);
    int rc = dynamic ? read_dynamic(a, o) : read_static(a, o);
    if (rc) return rc;
    o->reduce_range = a->reduce_range;
    o->no_channel_pad = a->no_channel_pad;
    int64_t t = 0;
    if (a->threads && !parse_i64(a->threads, 1, 1024, &t))
        return usage_error("--threads: must be a whole number from 1 to 1024, got", a->threads);
    if (t) tt_set_num_threads((int)t);
    o->n_exclude = a->n_exclude;
    o->exclude = a->exclude;
    return 0;
}

/* MODEL.onnx -> MODEL.int8.onnx (a name without .onnx gets .int8.onnx appended). */
static char *default_output(const char *model)
{
    size_t n = strlen(model);
    if (n > 5 && !strcmp(model + n - 5, ".onnx")) n -= 5;
    char *out = malloc(n + 11);
    if (out) snprintf(out, n + 11, "%.*s.int8.onnx", (int)n, model);
    return out;
}

static void dynamic_summary(const ptq_args *a, const char *out, const tt_ptq_opts *o,
                            const tt_ptq_result *r)
{
    printf("tinytrain ptq: %s -> %s (dynamic int8 as ONNX Runtime's quantize_dynamic, weights "
           "%s %s%s)\n",
           a->model, out, o->weight_u8 ? "uint8" : "int8",
           o->per_tensor ? "per tensor" : "per channel (MatMul)", o->reduce_range ? ", 7-bit" : "");
    printf("  %d DynamicQuantizeLinear, %d MatMulInteger, %d ConvInteger (%d Gemm -> MatMul), %d "
           "node%s left in float; %" PRId64 " -> %" PRId64 " bytes (%.2fx)\n",
           r->dynamic_quantize_nodes, r->matmul_integer_nodes, r->conv_integer_nodes,
           r->gemm_rewritten, r->excluded_nodes, r->excluded_nodes == 1 ? "" : "s", r->input_bytes,
           r->output_bytes,
           r->input_bytes ? (double)r->output_bytes / (double)r->input_bytes : 0.0);
}

static void summary(const ptq_args *a, const char *out, const tt_ptq_opts *o,
                    const tt_ptq_result *r)
{
    if (o->mode == TT_PTQ_DYNAMIC) {
        dynamic_summary(a, out, o, r);
        return;
    }
    printf("tinytrain ptq: %s -> %s (static QDQ int8, %s calibration on %" PRId64
           " samples, %s weights %s%s%s)\n",
           a->model, out, tt_calib_method_name(o->method), r->samples,
           o->weight_u8 ? "uint8" : "int8", o->per_tensor ? "per tensor" : "per channel",
           o->reduce_range ? ", 7-bit" : "", o->activation_s8 ? ", int8 activations" : "");
    printf("  %d activation + %d weight quantisation points, %d BatchNorm folded, %d node%s left "
           "in float; %" PRId64 " -> %" PRId64 " bytes (%.2fx); calibration %.2f s\n",
           r->activation_points, r->weight_points, r->folded_bn, r->excluded_nodes,
           r->excluded_nodes == 1 ? "" : "s", r->input_bytes, r->output_bytes,
           r->input_bytes ? (double)r->output_bytes / (double)r->input_bytes : 0.0, r->calib_s);
    if (r->adjusted_weight_scales)
        printf("  %d weight scale%s raised so the int32 bias fits (as ONNX Runtime does)\n",
               r->adjusted_weight_scales, r->adjusted_weight_scales == 1 ? "" : "s");
}

int tt_cmd_ptq(int argc, char **argv)
{
    double t0 = tt_clock_s();
    ptq_args a = {0};
    int rc = parse(argc, argv, &a);
    if (rc) return rc < 0 ? TT_EXIT_OK : rc;
    tt_ptq_opts o;
    if ((rc = read_options(&a, &o))) return rc;
    char *def = a.out ? NULL : default_output(a.model);
    const char *out = a.out ? a.out : def;
    if (!out) {
        tt_cli_error("ptq", "out of memory", false);
        return TT_EXIT_FAIL;
    }
    if (!strcmp(out, a.model)) {
        free(def);
        return usage_error("-o names the input model; write the int8 model elsewhere", NULL);
    }
    tt_ptq_result r;
    rc = TT_EXIT_OK;
    if (tt_ptq_quantize(a.model, a.calib, out, &o, &r) != TT_OK) {
        /* most messages name the model already */
        bool named = !strncmp(tt_last_error(), a.model, strlen(a.model));
        tt_cli_error("ptq", named ? tt_last_error() : a.model, !named);
        free(def);
        return TT_EXIT_FAIL;
    }
    summary(&a, out, &o, &r);
    if (a.report) {
        tt_ptq_run run = {.argc = argc,
                          .argv = argv,
                          .model = a.model,
                          .calibration = a.calib,
                          .output = out,
                          .wall_s = tt_clock_s() - t0};
        if (tt_ptq_write_report(a.report, &o, &r, &run) != TT_OK) {
            tt_cli_error("ptq", a.report, true);
            rc = TT_EXIT_FAIL;
        } else {
            printf("  report %s\n", a.report);
        }
    }
    tt_ptq_result_free(&r);
    free(def);
    return rc;
}
