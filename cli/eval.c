/* tinytrain eval CKPT: a checkpoint's metrics on its config's test set. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "tinytrain/trainer.h"

static void eval_usage(FILE *f)
{
    fprintf(f, "usage: tinytrain eval CKPT.h5 [--config CONFIG.yaml] [--json]\n\n"
               "Evaluate a tinytrain checkpoint on the test split of the config it was trained\n"
               "with (stored in the checkpoint), or of --config.\n\n"
               "options:\n"
               "  --config FILE   use this config's data and model instead of the stored one\n"
               "  --threads T     threads (0: all cores)\n"
               "  --json          print the metrics as one JSON object\n"
               "  -h, --help      this help\n");
}

static void print_human(const tt_eval_result *r, const char *ckpt)
{
    printf("%s: %lld test samples, loss %.4f\n", ckpt, (long long)r->n, r->loss);
    switch (r->task) {
    case TT_TASK_CLASSIFICATION:
        printf("accuracy %.2f%%\nper class:", r->accuracy);
        for (int k = 0; k < r->n_classes; k++) printf(" %d:%.1f", k, r->class_accuracy[k]);
        printf("\nconfusion (rows true, columns predicted):\n");
        for (int k = 0; k < r->n_classes; k++) {
            for (int j = 0; j < r->n_classes; j++)
                printf("%6lld", (long long)r->confusion[k * r->n_classes + j]);
            printf("\n");
        }
        break;
    case TT_TASK_REGRESSION:
        printf("PLCC %.4f  SROCC %.4f  RMSE %.5f\n", r->plcc, r->srocc, r->rmse);
        break;
    case TT_TASK_IMAGE_TO_IMAGE:
        printf("PSNR %.2f dB (input %.2f dB, gain %.2f dB)  PLCC %.4f\n", r->psnr, r->psnr_input,
               r->psnr - r->psnr_input, r->plcc);
        break;
    }
}

static void print_json(const tt_eval_result *r)
{
    printf("{\"samples\": %lld, \"loss\": %.6g, \"%s\": %.6g}\n", (long long)r->n, r->loss,
           tt_eval_main_metric_name(r->task), tt_eval_main_metric(r));
}

static tt_config *load_config(const char *ckpt, const char *cfg_path)
{
    tt_config *cfg = NULL;
    if (cfg_path) {
        if (tt_config_load(cfg_path, &cfg) != TT_OK) tt_cli_error("eval", cfg_path, true);
        return cfg;
    }
    tt_checkpoint_meta m;
    memset(&m, 0, sizeof m);
    if (tt_checkpoint_read_meta(ckpt, &m) != TT_OK) {
        tt_cli_error("eval", "reading the checkpoint", true);
        return NULL;
    }
    if (!m.config_text)
        fprintf(stderr, "tinytrain eval: %s stores no config; pass --config\n", ckpt);
    else if (tt_config_parse(m.config_text, strlen(m.config_text), ckpt, &cfg) != TT_OK)
        tt_cli_error("eval", "the stored config", true);
    tt_checkpoint_meta_free(&m);
    return cfg;
}

int tt_cmd_eval(int argc, char **argv)
{
    const char *ckpt = NULL, *cfg_path = NULL, *threads = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            eval_usage(stdout);
            return TT_EXIT_OK;
        } else if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "--config")) {
            if (!(cfg_path = tt_cli_value("eval", argc, argv, &i))) return TT_EXIT_USAGE;
        } else if (!strcmp(argv[i], "--threads")) {
            if (!(threads = tt_cli_value("eval", argc, argv, &i))) return TT_EXIT_USAGE;
        } else if (argv[i][0] == '-' || ckpt) {
            fprintf(stderr,
                    "tinytrain eval: unexpected argument '%s' (see 'tinytrain eval "
                    "--help')\n",
                    argv[i]);
            return TT_EXIT_USAGE;
        } else {
            ckpt = argv[i];
        }
    }
    if (!ckpt) {
        fprintf(stderr, "tinytrain eval: missing CKPT.h5 (see 'tinytrain eval --help')\n");
        return TT_EXIT_USAGE;
    }
    tt_config *cfg = load_config(ckpt, cfg_path);
    if (!cfg) return TT_EXIT_FAIL;
    if (threads && tt_config_apply_override(cfg, "threads", threads) != TT_OK) {
        fprintf(stderr, "tinytrain eval: %s\n", tt_last_error());
        tt_config_free(cfg);
        return TT_EXIT_USAGE;
    }
    tt_trainer *t = NULL;
    tt_eval_result r;
    int rc = TT_EXIT_OK;
    if (tt_trainer_create(cfg, false, &t) != TT_OK || tt_trainer_load_params(t, ckpt) != TT_OK ||
        tt_trainer_evaluate(t, true, &r) != TT_OK) {
        tt_cli_error("eval", ckpt, true);
        rc = TT_EXIT_FAIL;
    } else if (json) {
        print_json(&r);
    } else {
        print_human(&r, ckpt);
    }
    tt_trainer_free(t);
    tt_config_free(cfg);
    return rc;
}
