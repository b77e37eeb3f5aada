/* tinytrain export CKPT -o OUT.onnx: a checkpoint as an fp32 or QDQ ONNX model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "tinytrain/onnx.h"
#include "tinytrain/trainer.h"

static void export_usage(FILE *f)
{
    fprintf(
        f,
        "usage: tinytrain export CKPT.h5 -o OUT.onnx [--format fp32|qdq] [--opset N]\n"
        "                        [--no-channel-pad]\n\n"
        "Write a tinytrain checkpoint as an ONNX model for ONNX Runtime (docs/onnx.md).\n"
        "The model is rebuilt from the config stored in the checkpoint; the data set is\n"
        "not needed.\n\n"
        "options:\n"
        "  -o, --output FILE  the .onnx file to write (replaced atomically)\n"
        "  --format F         fp32: float model; qdq: QuantizeLinear/DequantizeLinear model\n"
        "                     with the trained quantisation parameters (QAT checkpoints only).\n"
        "                     Default: qdq for a checkpoint of tinytrain qat, else fp32\n"
        "  --opset N          ONNX opset, %d..%d (default %d)\n"
        "  --no-channel-pad   qdq: keep a Conv's input channels as they are. By default a\n"
        "                     Conv with a channel count that is not a multiple of 4 (a\n"
        "                     1-channel image) gets zero-weight channels added by a Pad, which\n"
        "                     changes no number and lets ONNX Runtime use its fast int8 conv\n"
        "  -h, --help         this help\n",
        TT_ONNX_OPSET_MIN, TT_ONNX_OPSET_MAX, TT_ONNX_OPSET_DEFAULT);
}

typedef struct export_args {
    const char *ckpt, *out, *format, *opset;
    bool no_channel_pad;
} export_args;

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "tinytrain export: %s%s%s (see 'tinytrain export --help')\n", msg,
            arg ? " " : "", arg ? arg : "");
    return TT_EXIT_USAGE;
}

static int parse(int argc, char **argv, export_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char **slot = NULL;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            export_usage(stdout);
            return -1;
        }
        if (!strcmp(argv[i], "--no-channel-pad")) {
            a->no_channel_pad = true;
            continue;
        }
        if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output"))
            slot = &a->out;
        else if (!strcmp(argv[i], "--format"))
            slot = &a->format;
        else if (!strcmp(argv[i], "--opset"))
            slot = &a->opset;
        if (slot) {
            if (!(*slot = tt_cli_value("export", argc, argv, &i))) return TT_EXIT_USAGE;
        } else if (argv[i][0] == '-' || a->ckpt) {
            fprintf(stderr,
                    "tinytrain export: unexpected argument '%s' (see 'tinytrain export --help')\n",
                    argv[i]);
            return TT_EXIT_USAGE;
        } else {
            a->ckpt = argv[i];
        }
    }
    if (!a->ckpt) return usage_error("missing CKPT.h5", NULL);
    if (!a->out) return usage_error("missing -o OUT.onnx", NULL);
    return 0;
}

/* --format and --opset into o; 0 or an exit code after printing the error. */
static int read_options(const export_args *a, tt_onnx_export_opts *o)
{
    if (a->format && !strcmp(a->format, "fp32"))
        o->format = TT_ONNX_FP32;
    else if (a->format && !strcmp(a->format, "qdq"))
        o->format = TT_ONNX_QDQ;
    else if (a->format) {
        fprintf(stderr, "tinytrain export: --format: must be fp32 or qdq, got '%s'\n", a->format);
        return TT_EXIT_USAGE;
    }
    o->opset = TT_ONNX_OPSET_DEFAULT;
    if (a->opset) {
        char *end;
        long v = strtol(a->opset, &end, 10);
        if (!*a->opset || *end || v < TT_ONNX_OPSET_MIN || v > TT_ONNX_OPSET_MAX) {
            fprintf(stderr,
                    "tinytrain export: --opset: must be an integer from %d to %d, got '%s'\n",
                    TT_ONNX_OPSET_MIN, TT_ONNX_OPSET_MAX, a->opset);
            return TT_EXIT_USAGE;
        }
        o->opset = (int)v;
    }
    return 0;
}

int tt_cmd_export(int argc, char **argv)
{
    export_args a = {0};
    int rc = parse(argc, argv, &a);
    if (rc) return rc < 0 ? TT_EXIT_OK : rc;
    tt_onnx_export_opts o = {.no_channel_pad = a.no_channel_pad};
    if ((rc = read_options(&a, &o))) return rc;
    if (o.format == TT_ONNX_AUTO) {
        /* Resolved here so the summary line can say what was written. */
        tt_trainer_opts t;
        if (tt_trainer_opts_for_checkpoint(a.ckpt, &t) != TT_OK) {
            tt_cli_error("export", a.ckpt, true);
            return TT_EXIT_FAIL;
        }
        o.format = t.qat ? TT_ONNX_QDQ : TT_ONNX_FP32;
    }
    if (tt_onnx_export_checkpoint(a.ckpt, a.out, &o) != TT_OK) {
        char what[1100];
        snprintf(what, sizeof what, "%s -> %s", a.ckpt, a.out);
        tt_cli_error("export", what, true);
        return TT_EXIT_FAIL;
    }
    printf("wrote %s (%s, opset %d, IR version %d) from %s\n", a.out,
           o.format == TT_ONNX_QDQ ? "QDQ int8" : "fp32", o.opset, tt_onnx_ir_version(o.opset),
           a.ckpt);
    return TT_EXIT_OK;
}
