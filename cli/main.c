/* tinytrain: the command-line front end over the library. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/cli.h"
#include "tinytrain/status.h"
#include "tinytrain/tinytrain.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: tinytrain <command> [options]\n\n"
               "commands:\n"
               "  fit CONFIG.yaml      train a model in fp32 (see docs/config.md)\n"
               "  qat CONFIG.yaml      quantisation-aware training: fp32 -> fake-quant -> "
               "fine-tune (docs/qat.md)\n"
               "  smoke                the CI round trip: fit -> qat -> export -> read back\n"
               "  eval CKPT            metrics of a checkpoint on its config's test set\n"
               "  eval MODEL.onnx --data CONFIG|F.npz  metrics of an ONNX model (--compare,\n"
               "                       --sensitivity, --calib-sizes; docs/eval.md)\n"
               "  export CKPT -o F     fp32 or QDQ ONNX from a checkpoint (docs/onnx.md)\n"
               "  calib CONFIG -n N -o F  calibration set (.npz/.h5) for PTQ (docs/calib.md)\n"
               "  ptq MODEL.onnx --mode static --calibration F  int8 QDQ by PTQ (docs/ptq.md)\n"
               "  ptq MODEL.onnx --mode dynamic  int8 as ONNX Runtime's quantize_dynamic\n"
               "  recommend MODEL.onnx --calibration F --budget X  the cheapest int8 mode\n"
               "                       inside the budget, or QAT (docs/ptq.md)\n"
               "  registry verify|add  the model registry: check it, register a model "
               "(docs/gate.md)\n"
               "  gate [ID...]         int8 models against their fp32 baselines (docs/gate.md)\n"
               "  run MODEL.onnx --input X.npy -o Y.npy  an ONNX model on tinytrain's runtime "
               "(docs/runtime.md)\n"
               "  backends             the CPU, OpenCL and CUDA devices available "
               "(docs/backends.md)\n"
               "  version              print the version\n\n"
               "Run 'tinytrain <command> --help' for a command's options.\n");
}

void tt_cli_error(const char *cmd, const char *what, bool with_lib_error)
{
    if (with_lib_error && tt_last_error()[0])
        fprintf(stderr, "tinytrain %s: %s: %s\n", cmd, what, tt_last_error());
    else
        fprintf(stderr, "tinytrain %s: %s\n", cmd, what);
}

const char *tt_cli_value(const char *cmd, int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "tinytrain %s: %s needs a value (see 'tinytrain %s --help')\n", cmd,
                argv[*i], cmd);
        return NULL;
    }
    return argv[++*i];
}

bool tt_cli_parse_u64(const char *s, uint64_t *out)
{
    /* strtoull would take "-1" as 2^64 - 1 */
    if (!s[0] || s[0] == '-') return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return false;
    *out = v;
    return true;
}

bool tt_cli_is_tty(FILE *f)
{
    return isatty(fileno(f)) != 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return TT_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return TT_EXIT_OK;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("tinytrain %s\n", tt_version());
        return TT_EXIT_OK;
    }
    if (!strcmp(cmd, "fit")) return tt_cmd_fit(argc - 1, argv + 1);
    if (!strcmp(cmd, "qat")) return tt_cmd_qat(argc - 1, argv + 1);
    if (!strcmp(cmd, "smoke")) return tt_cmd_smoke(argc - 1, argv + 1);
    if (!strcmp(cmd, "eval")) return tt_cmd_eval(argc - 1, argv + 1);
    if (!strcmp(cmd, "export")) return tt_cmd_export(argc - 1, argv + 1);
    if (!strcmp(cmd, "calib")) return tt_cmd_calib(argc - 1, argv + 1);
    if (!strcmp(cmd, "ptq")) return tt_cmd_ptq(argc - 1, argv + 1);
    if (!strcmp(cmd, "recommend")) return tt_cmd_recommend(argc - 1, argv + 1);
    if (!strcmp(cmd, "registry")) return tt_cmd_registry(argc - 1, argv + 1);
    if (!strcmp(cmd, "gate")) return tt_cmd_gate(argc - 1, argv + 1);
    if (!strcmp(cmd, "run")) return tt_cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "backends")) return tt_cmd_backends(argc - 1, argv + 1);
    fprintf(stderr, "tinytrain: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return TT_EXIT_USAGE;
}
