/* tinytrain smoke: the CI round trip on a built-in tiny model and synthetic data (no data set
 * needed): fit -> qat -> export fp32 + QDQ -> read both files back -> re-export and compare. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli/cli.h"
#include "tinytrain/onnx.h"
#include "tinytrain/qat.h"

/* conv-BN-relu-pool and a linear head on 16x16 synthetic blobs: every QAT mechanism (BN
 * folding, per-channel weights, fused relu, pass-through pool) in seconds. */
static const char SMOKE_YAML[] = "name: smoke\n"
                                 "seed: 1\n"
                                 "task: classification\n"
                                 "data: {kind: synthetic, samples: 4096}\n"
                                 "model:\n"
                                 "  input: [1, 16, 16]\n"
                                 "  layers:\n"
                                 "    - {type: conv2d, out_channels: 8, kernel: 3, padding: 1, "
                                 "bias: false}\n"
                                 "    - {type: batchnorm}\n"
                                 "    - {type: relu}\n"
                                 "    - {type: maxpool, kernel: 2}\n"
                                 "    - {type: flatten}\n"
                                 "    - {type: linear, out_features: 4}\n"
                                 "loss: cross_entropy\n"
                                 "optimizer: {kind: sgd, lr: 0.05, momentum: 0.9}\n"
                                 "batch_size: 32\n";

/* The fake-quant model may lose at most this much accuracy against fp32 on the smoke task
 * (blobs a linear model separates to ~97%): far more than int8 costs, far less than a broken
 * quantisation path (chance is 25%). */
#define SMOKE_MAX_DROP 5.0

static void smoke_usage(FILE *f)
{
    fprintf(f, "usage: tinytrain smoke [--out DIR] [--threads T]\n\n"
               "The CI round trip on a built-in tiny CNN and synthetic data: fit (1 epoch), qat\n"
               "(calibration + 2 fake-quant epochs), export fp32 and int8 QDQ ONNX, read both\n"
               "files back, re-export the checkpoint and compare bytes. Prints one line per\n"
               "check; exit 0 when all pass, 1 otherwise.\n\n"
               "options:\n"
               "  --out DIR     run directory (default: a new directory under /tmp, kept)\n"
               "  --threads T   threads (0: all cores)\n"
               "  -h, --help    this help\n");
}

typedef struct checks {
    int passed, failed;
} checks;

static void check(checks *c, bool ok, const char *what)
{
    printf("[%s] %s\n", ok ? "PASS" : "FAIL", what);
    if (ok)
        c->passed++;
    else
        c->failed++;
}

static bool same_bytes(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    bool same = fa && fb;
    while (same) {
        int x = fgetc(fa), y = fgetc(fb);
        same = x == y;
        if (x == EOF || y == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

static void check_files(checks *c, const tt_qat_result *r, const char *dir)
{
    tt_onnx_info f, q;
    bool fok = tt_onnx_inspect(r->onnx_fp32, &f) == TT_OK;
    check(c,
          fok && tt_onnx_info_count(&f, "Conv") == 1 && tt_onnx_info_count(&f, "Gemm") == 1 &&
              tt_onnx_info_count(&f, "QuantizeLinear") == 0,
          "fp32 ONNX reads back: one Conv, one Gemm, no QuantizeLinear");
    bool qok = tt_onnx_inspect(r->onnx_int8, &q) == TT_OK;
    check(c, qok && q.opset >= TT_ONNX_OPSET_MIN && tt_onnx_info_count(&q, "QuantizeLinear") >= 3,
          "int8 ONNX reads back: opset >= 13, Q/DQ around the input, conv and logits");
    /* Each layer's weight and its zero points are int8, its bias and zero points int32. */
    check(c,
          qok && q.n_int8_initializers == 4 && q.n_int32_initializers == 4 &&
              tt_onnx_info_count(&q, "BatchNormalization") == 0,
          "int8 ONNX holds int8 weights and int32 biases for both layers, BN folded");
    char again[TT_CONFIG_STR_MAX + 32], last[TT_CONFIG_STR_MAX + 16];
    snprintf(again, sizeof again, "%s/reexport.int8.onnx", dir);
    snprintf(last, sizeof last, "%s/last.h5", dir);
    tt_onnx_export_opts o = {.format = TT_ONNX_QDQ};
    bool rok = tt_onnx_export_checkpoint(last, again, &o) == TT_OK;
    check(c, rok && same_bytes(again, r->onnx_int8),
          "re-exporting last.h5 gives the same bytes (deterministic export)");
}

static int run(tt_config *cfg, int argc, char **argv)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    tt_qat_run_opts o = {.smoke = true, .argc = argc, .argv = argv};
    tt_qat_result r;
    printf("tinytrain smoke -> %s\n", cfg->output_dir);
    fflush(stdout);
    checks c = {0};
    tt_status s = tt_qat_run(cfg, &o, &r);
    check(&c, s == TT_OK, "fit -> calibrate -> fake-quant fine-tune -> export");
    if (s != TT_OK) {
        fprintf(stderr, "tinytrain smoke: %s\n", tt_last_error());
    } else {
        char what[160];
        snprintf(what, sizeof what,
                 "fake-quant accuracy %.2f%% within %.0f pt of fp32 %.2f%% (top-1 agreement "
                 "%.2f%%)",
                 r.fake_quant.accuracy, SMOKE_MAX_DROP, r.fp32.accuracy, r.vs_fp32.top1_agreement);
        check(&c, r.fake_quant.accuracy >= r.fp32.accuracy - SMOKE_MAX_DROP, what);
        check_files(&c, &r, cfg->output_dir);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("smoke: %d passed, %d failed in %.1f s\n", c.passed, c.failed, secs);
    return c.failed ? TT_EXIT_FAIL : TT_EXIT_OK;
}

int tt_cmd_smoke(int argc, char **argv)
{
    const char *out = NULL, *threads = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            smoke_usage(stdout);
            return TT_EXIT_OK;
        } else if (!strcmp(argv[i], "--out")) {
            if (!(out = tt_cli_value("smoke", argc, argv, &i))) return TT_EXIT_USAGE;
        } else if (!strcmp(argv[i], "--threads")) {
            if (!(threads = tt_cli_value("smoke", argc, argv, &i))) return TT_EXIT_USAGE;
        } else {
            fprintf(stderr, "tinytrain smoke: unexpected argument '%s' (see --help)\n", argv[i]);
            return TT_EXIT_USAGE;
        }
    }
    char tmp[] = "/tmp/tinytrain-smoke-XXXXXX";
    if (!out && !(out = mkdtemp(tmp))) {
        perror("tinytrain smoke: cannot create a directory under /tmp");
        return TT_EXIT_FAIL;
    }
    tt_config *cfg = NULL;
    if (tt_config_parse(SMOKE_YAML, sizeof SMOKE_YAML - 1, "smoke.yaml", &cfg) != TT_OK ||
        tt_config_apply_override(cfg, "out", out) != TT_OK ||
        (threads && tt_config_apply_override(cfg, "threads", threads) != TT_OK)) {
        fprintf(stderr, "tinytrain smoke: %s\n", tt_last_error());
        tt_config_free(cfg);
        return TT_EXIT_USAGE;
    }
    int rc = run(cfg, argc + 1, argv - 1);
    tt_config_free(cfg);
    return rc;
}
