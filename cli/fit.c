/* tinytrain fit CONFIG.yaml: fp32 training with progress and a run directory. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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
               "  --quiet            print nothing but errors\n"
               "  --json             one JSON object per epoch on stdout\n"
               "  -h, --help         this help\n");
}

typedef struct fit_ui {
    tt_out_mode mode;
    bool tty;
    double last_draw;
    const char *metric;
} fit_ui;

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void on_progress(const tt_progress *p, void *user)
{
    fit_ui *ui = user;
    if (ui->mode != TT_OUT_HUMAN || !ui->tty) return;
    double now = wall();
    if (now - ui->last_draw < 0.1 && p->batch != p->batches) return;
    ui->last_draw = now;
    int width = 24, fill = (int)((double)width * (double)p->batch / (double)p->batches);
    char bar[32];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    fprintf(stderr, "\r\033[Kepoch %d/%d [%s] %lld/%lld  loss %.4f  %.0f samples/s  ETA %.0fs",
            p->epoch, p->epochs, bar, (long long)p->batch, (long long)p->batches, p->loss,
            p->samples_per_s, p->eta_s);
    fflush(stderr);
}

static void print_metric(const tt_eval_result *r, char *buf, size_t len)
{
    switch (r->task) {
    case TT_TASK_CLASSIFICATION:
        snprintf(buf, len, "accuracy %.2f%%", r->accuracy);
        break;
    case TT_TASK_REGRESSION:
        snprintf(buf, len, "PLCC %.4f SROCC %.4f RMSE %.4f", r->plcc, r->srocc, r->rmse);
        break;
    case TT_TASK_IMAGE_TO_IMAGE:
        snprintf(buf, len, "PSNR %.2f dB (input %.2f dB)", r->psnr, r->psnr_input);
        break;
    }
}

static void on_epoch(const tt_epoch_record *r, void *user)
{
    fit_ui *ui = user;
    char m[128];
    print_metric(&r->val, m, sizeof m);
    if (ui->mode == TT_OUT_JSON) {
        printf("{\"epoch\": %d, \"train_loss\": %.6g, \"%s_loss\": %.6g, \"%s_%s\": %.6g, "
               "\"lr\": %.6g, \"seconds\": %.3f, \"best\": %s}\n",
               r->epoch, r->train_loss, r->val_split, r->val.loss, r->val_split, ui->metric,
               tt_eval_main_metric(&r->val), r->lr, r->seconds, r->best ? "true" : "false");
    } else if (ui->mode == TT_OUT_HUMAN) {
        if (ui->tty) fprintf(stderr, "\r\033[K");
        printf("epoch %d  train loss %.4f  %s loss %.4f  %s  %.1f s (%.0f samples/s)%s\n", r->epoch,
               r->train_loss, r->val_split, r->val.loss, m, r->seconds, r->samples_per_s,
               r->best ? "  *best" : "");
    }
    fflush(stdout);
}

static const char *const override_flags[][2] = {
    {"--epochs", "epochs"},         {"--seed", "seed"}, {"--out", "out"}, {"--threads", "threads"},
    {"--batch-size", "batch_size"}, {"--lr", "lr"},
};

typedef struct fit_args {
    const char *config;
    bool resume;
    tt_out_mode mode;
    const char *ov_key[8], *ov_val[8];
    int n_ov;
} fit_args;

static int parse(int argc, char **argv, fit_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            fit_usage(stdout);
            return -1;
        }
        if (!strcmp(s, "--resume")) {
            a->resume = true;
            continue;
        }
        if (!strcmp(s, "--quiet") || !strcmp(s, "--json")) {
            a->mode = s[2] == 'q' ? TT_OUT_QUIET : TT_OUT_JSON;
            continue;
        }
        bool known = false;
        for (size_t k = 0; k < sizeof override_flags / sizeof *override_flags; k++) {
            if (strcmp(s, override_flags[k][0])) continue;
            const char *v = tt_cli_value("fit", argc, argv, &i);
            if (!v) return TT_EXIT_USAGE;
            a->ov_key[a->n_ov] = override_flags[k][1];
            a->ov_val[a->n_ov++] = v;
            known = true;
            break;
        }
        if (known) continue;
        if (s[0] == '-' || a->config) {
            fprintf(stderr,
                    "tinytrain fit: unexpected argument '%s' (see 'tinytrain fit "
                    "--help')\n",
                    s);
            return TT_EXIT_USAGE;
        }
        a->config = s;
    }
    if (!a->config) {
        fprintf(stderr, "tinytrain fit: missing CONFIG.yaml (see 'tinytrain fit --help')\n");
        return TT_EXIT_USAGE;
    }
    return 0;
}

static int run(tt_config *cfg, const fit_args *a, int argc, char **argv)
{
    tt_trainer *t = NULL;
    if (tt_trainer_create(cfg, true, &t) != TT_OK) {
        tt_cli_error("fit", "setting up the run", true);
        return TT_EXIT_FAIL;
    }
    tt_trainer_set_argv(t, argc, argv);
    fit_ui ui = {.mode = a->mode,
                 .tty = tt_cli_is_tty(stderr),
                 .metric = tt_eval_main_metric_name(cfg->task)};
    if (a->resume && tt_trainer_resume(t) != TT_OK) {
        tt_cli_error("fit", "cannot resume", true);
        tt_trainer_free(t);
        return TT_EXIT_FAIL;
    }
    if (a->mode == TT_OUT_HUMAN)
        printf("tinytrain fit: %s (%s), %lld parameters, %d epochs, batch %d -> %s\n", cfg->name,
               tt_task_name(cfg->task), (long long)tt_trainer_num_params(t), cfg->epochs,
               cfg->batch_size, cfg->output_dir);
    tt_fit_callbacks cb = {.on_progress = on_progress, .on_epoch = on_epoch, .user = &ui};
    int rc = TT_EXIT_OK;
    if (tt_trainer_fit(t, &cb) != TT_OK) {
        if (ui.tty && a->mode == TT_OUT_HUMAN) fprintf(stderr, "\n");
        tt_cli_error("fit", "training failed", true);
        rc = TT_EXIT_FAIL;
    } else if (a->mode == TT_OUT_HUMAN) {
        tt_eval_result r;
        char m[128] = "";
        if (tt_trainer_evaluate(t, true, &r) == TT_OK) print_metric(&r, m, sizeof m);
        printf("done: test %s; report %s/report.json\n", m, cfg->output_dir);
    }
    tt_trainer_free(t);
    return rc;
}

int tt_cmd_fit(int argc, char **argv)
{
    fit_args a = {0};
    int rc = parse(argc, argv, &a);
    if (rc) return rc < 0 ? TT_EXIT_OK : rc;
    tt_config *cfg = NULL;
    if (tt_config_load(a.config, &cfg) != TT_OK) {
        fprintf(stderr, "tinytrain fit: %s\n", tt_last_error());
        return TT_EXIT_USAGE;
    }
    for (int k = 0; k < a.n_ov; k++)
        if (tt_config_apply_override(cfg, a.ov_key[k], a.ov_val[k]) != TT_OK) {
            fprintf(stderr, "tinytrain fit: %s\n", tt_last_error());
            tt_config_free(cfg);
            return TT_EXIT_USAGE;
        }
    rc = run(cfg, &a, argc + 1, argv - 1);
    tt_config_free(cfg);
    return rc;
}
