/* tinytrain qat CONFIG.yaml: fp32 warm start -> fake-quant -> low-lr fine-tune. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "cli/cli.h"
#include "tinytrain/qat.h"

static void qat_usage(FILE *f)
{
    fprintf(f,
            "usage: tinytrain qat CONFIG.yaml [options]\n\n"
            "Quantisation-aware training in three phases (docs/qat.md):\n"
            "  1. fp32: train the config's model into OUT/fp32 (skipped with qat.warm_start);\n"
            "  2. prepare: fold BatchNorm, insert fake-quant on weights (int8 per-channel) and\n"
            "     activations (uint8), calibrate the observers on qat.n_calibration samples;\n"
            "  3. fine-tune at qat.lr_qat for qat.epochs_qat epochs into OUT (checkpoints carry\n"
            "     the qparams; report.json compares fp32 and fake-quant metrics);\n"
            "  4. export OUT/NAME.onnx (fp32 warm start) and OUT/NAME.int8.onnx (QDQ, the\n"
            "     trained qparams) for ONNX Runtime (docs/onnx.md).\n\n"
            "options (override the config):\n"
            "  --epochs-fp32 N    phase 1 epochs (qat.epochs_fp32, default 20)\n"
            "  --epochs-qat N     fine-tune epochs (qat.epochs_qat, default 10)\n"
            "  --lr-qat LR        fine-tune learning rate (default optimizer.lr / 10)\n"
            "  --warm-start CKPT  start from this fp32 checkpoint (skips phase 1)\n"
            "  --seed S           seed\n"
            "  --out DIR          run directory\n"
            "  --threads T        threads (0: all cores)\n"
            "  --batch-size B     batch size\n"
            "  --smoke            tiny run that still goes through every phase (CI): 1 fp32\n"
            "                     epoch, 2 fine-tune epochs, 2048 training / 1000 test samples\n"
            "  --resume           continue an interrupted run from its checkpoints\n"
            "  --backend B        cpu (default), opencl[:N] or cuda[:N]: where every phase runs\n"
            "  --quiet            print nothing but errors\n"
            "  --json             one JSON object per epoch on stdout\n"
            "  -h, --help         this help\n");
}

static const tt_cli_flag qat_flags[] = {
    {"--epochs-fp32", "epochs_fp32"},
    {"--epochs-qat", "epochs_qat"},
    {"--lr-qat", "lr_qat"},
    {"--warm-start", "warm_start"},
    {"--seed", "seed"},
    {"--out", "out"},
    {"--threads", "threads"},
    {"--batch-size", "batch_size"},
};

static void on_phase(const char *phase, const char *detail, void *user)
{
    const tt_cli_ui *ui = user;
    if (ui->mode == TT_OUT_HUMAN) printf("[%s] %s\n", phase, detail);
    if (ui->mode == TT_OUT_JSON) printf("{\"phase\": \"%s\"}\n", phase);
    fflush(stdout);
}

static void print_summary(const tt_config *cfg, const tt_qat_result *r)
{
    char f[128], q[128];
    tt_cli_print_metric(&r->fp32, f, sizeof f);
    tt_cli_print_metric(&r->fake_quant, q, sizeof q);
    double d = tt_eval_main_metric(&r->fake_quant) - tt_eval_main_metric(&r->fp32);
    char agree[32] = "";
    if (!isnan(r->vs_fp32.top1_agreement))
        snprintf(agree, sizeof agree, "%.2f%%", r->vs_fp32.top1_agreement);
    printf("done: fp32 %s | fake-quant int8 %s | change %+.4g %s\n"
           "      outputs vs fp32: PLCC %.6f (drop %.2e)%s%s\n"
           "      %d weight + %d activation quantisation points, %d BatchNorm folded; "
           "report %s/report.json\n"
           "      ONNX: %s (fp32), %s (int8 QDQ)\n",
           f, q, d, tt_eval_main_metric_name(cfg->task), r->vs_fp32.plcc, 1.0 - r->vs_fp32.plcc,
           isnan(r->vs_fp32.top1_agreement) ? "" : ", top-1 agreement ", agree,
           r->summary.weight_points, r->summary.activation_points, r->summary.folded_bn,
           cfg->output_dir, r->onnx_fp32, r->onnx_int8);
}

int tt_cmd_qat(int argc, char **argv)
{
    tt_cli_train_args a = {.cmd = "qat",
                           .flags = qat_flags,
                           .n_flags = sizeof qat_flags / sizeof *qat_flags,
                           .usage = qat_usage,
                           .allow_smoke = true,
                           .allow_backend = true};
    tt_config *cfg = NULL;
    int rc = tt_cli_train_args_load(argc, argv, &a, &cfg);
    if (rc) return rc < 0 ? TT_EXIT_OK : rc;
    tt_cli_ui ui = {.mode = a.mode,
                    .tty = tt_cli_is_tty(stderr),
                    .metric = tt_eval_main_metric_name(cfg->task)};
    tt_fit_callbacks cb = {
        .on_progress = tt_cli_on_progress, .on_epoch = tt_cli_on_epoch, .user = &ui};
    tt_qat_run_opts o = {.smoke = a.smoke,
                         .resume = a.resume,
                         .backend = a.backend,
                         .argc = argc + 1,
                         .argv = argv - 1,
                         .cb = &cb,
                         .on_phase = on_phase,
                         .user = &ui};
    if (a.mode == TT_OUT_HUMAN)
        printf("tinytrain qat: %s (%s)%s -> %s\n", cfg->name, tt_task_name(cfg->task),
               a.smoke ? ", smoke run" : "", cfg->output_dir);
    tt_qat_result res;
    if (tt_qat_run(cfg, &o, &res) != TT_OK) {
        if (ui.tty && a.mode == TT_OUT_HUMAN) fprintf(stderr, "\n");
        tt_cli_error("qat", "failed", true);
        rc = TT_EXIT_FAIL;
    } else if (a.mode == TT_OUT_HUMAN) {
        print_summary(cfg, &res);
    }
    tt_config_free(cfg);
    return rc;
}
