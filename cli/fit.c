/* tinytrain fit CONFIG.yaml: fp32 training with progress and a run directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "tinytrain/trainer.h"

static void fit_usage(FILE *f)
{
    fprintf(f, "usage: tinytrain fit CONFIG.yaml [options]\n\n"
               "Train the config's model in fp32, writing the run directory (output_dir):\n"
               "last.h5 and best.h5 checkpoints, metrics.jsonl, report.json and curves.svg.\n\n"
               "options (override the config):\n"
               "  --epochs N         epochs to train\n"
               "  --seed S           seed for init, shuffling, dropout and augmentation\n"
               "  --out DIR          run directory\n"
               "  --threads T        threads (0: all cores)\n"
               "  --batch-size B     batch size\n"
               "  --lr LR            base learning rate\n"
               "  --resume           continue from DIR/last.h5 (bit-identical to an uninterrupted "
               "run)\n"
               "  --backend B        cpu (default), opencl, opencl:N, cuda or cuda:N: where the\n"
               "                     model trains ('tinytrain backends' lists the devices)\n"
               "  --quiet            print nothing but errors\n"
               "  --json             one JSON object per epoch on stdout\n"
               "  -h, --help         this help\n");
}

static const tt_cli_flag fit_flags[] = {
    {"--epochs", "epochs"},         {"--seed", "seed"}, {"--out", "out"}, {"--threads", "threads"},
    {"--batch-size", "batch_size"}, {"--lr", "lr"},
};

static int run(tt_config *cfg, const tt_cli_train_args *a, int argc, char **argv)
{
    tt_trainer *t = NULL;
    tt_trainer_opts o = {.backend = a->backend};
    if (tt_trainer_create_ex(cfg, true, &o, &t) != TT_OK) {
        tt_cli_error("fit", "setting up the run", true);
        return TT_EXIT_FAIL;
    }
    tt_trainer_set_argv(t, argc, argv);
    tt_cli_ui ui = {.mode = a->mode,
                    .tty = tt_cli_is_tty(stderr),
                    .metric = tt_eval_main_metric_name(cfg->task)};
    if (a->resume && tt_trainer_resume(t) != TT_OK) {
        tt_cli_error("fit", "cannot resume", true);
        tt_trainer_free(t);
        return TT_EXIT_FAIL;
    }
    if (a->mode == TT_OUT_HUMAN)
        printf("tinytrain fit: %s (%s), %lld parameters, %d epochs, batch %d, on %s -> %s\n",
               cfg->name, tt_task_name(cfg->task), (long long)tt_trainer_num_params(t), cfg->epochs,
               cfg->batch_size, tt_trainer_backend(t), cfg->output_dir);
    tt_fit_callbacks cb = {
        .on_progress = tt_cli_on_progress, .on_epoch = tt_cli_on_epoch, .user = &ui};
    int rc = TT_EXIT_OK;
    if (tt_trainer_fit(t, &cb) != TT_OK) {
        if (ui.tty && a->mode == TT_OUT_HUMAN) fprintf(stderr, "\n");
        tt_cli_error("fit", "training failed", true);
        rc = TT_EXIT_FAIL;
    } else if (a->mode == TT_OUT_HUMAN) {
        tt_eval_result r;
        char m[128] = "";
        if (tt_trainer_evaluate(t, true, &r) == TT_OK) tt_cli_print_metric(&r, m, sizeof m);
        printf("done: test %s; report %s/report.json\n", m, cfg->output_dir);
    }
    tt_trainer_free(t);
    return rc;
}

int tt_cmd_fit(int argc, char **argv)
{
    tt_cli_train_args a = {.cmd = "fit",
                           .flags = fit_flags,
                           .n_flags = sizeof fit_flags / sizeof *fit_flags,
                           .usage = fit_usage,
                           .allow_backend = true};
    tt_config *cfg = NULL;
    int rc = tt_cli_train_args_load(argc, argv, &a, &cfg);
    if (rc) return rc < 0 ? TT_EXIT_OK : rc;
    rc = run(cfg, &a, argc + 1, argv - 1);
    tt_config_free(cfg);
    return rc;
}
