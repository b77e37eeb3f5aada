/* tinytrain eval CKPT: a checkpoint's metrics on its config's test set. An .onnx argument makes it
 * tinytrain eval MODEL.onnx (cli/eval_onnx.c). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "tinytrain/backends.h"
#include "cli/eval_onnx.h"
#include "tinytrain/npy.h"
#include "tinytrain/trainer.h"

static void eval_usage(FILE *f)
{
    fprintf(f,
            "usage: tinytrain eval CKPT.h5 [--config CONFIG.yaml] [--json]\n"
            "       tinytrain eval MODEL.onnx --data CONFIG.yaml|FILE.npz [options]\n"
            "       (an ONNX model on tinytrain's runtime: 'tinytrain eval MODEL.onnx --help',\n"
            "       docs/eval.md)\n\n"
            "Evaluate a tinytrain checkpoint (fp32 from fit, or fake-quant from qat) on the\n"
            "test split of the config it was trained with (stored in the checkpoint), or of\n"
            "--config.\n\n"
            "options:\n"
            "  --config FILE         use this config's data and model instead of the stored one\n"
            "  --threads T           threads (0: all cores)\n"
            "  --backend B           cpu (default), opencl[:N] or cuda[:N]: where it runs\n"
            "  --limit N             only the first N test samples\n"
            "  --save-inputs F.npy   also write the test inputs as fed to the model [N, ...]\n"
            "  --save-outputs F.npy  also write the model's outputs [N, ...]\n"
            "  --json                print the metrics as one JSON object\n"
            "  -h, --help            this help\n");
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

/* --save-inputs / --save-outputs: the test split as fed to the model and what it returned, as
 * .npy arrays [N, ...] (for comparing with another runtime on identical inputs). */
static tt_status save_arrays(tt_trainer *t, const char *in_path, const char *out_path)
{
    int64_t n = tt_trainer_test_size(t), mi = tt_trainer_input_numel(t);
    int64_t mo = tt_trainer_output_numel(t);
    tt_tensor *x = NULL, *y = NULL;
    int64_t xd[2] = {n, mi}, yd[2] = {n, mo}, got = 0;
    tt_status s = tt_tensor_alloc(&x, TT_F32, 2, xd);
    if (s == TT_OK) s = tt_tensor_alloc(&y, TT_F32, 2, yd);
    if (s == TT_OK) s = tt_trainer_predict(t, tt_tensor_f32(y), n * mo, tt_tensor_f32(x), &got);
    if (s == TT_OK && in_path) s = tt_npy_save(in_path, x);
    if (s == TT_OK && out_path) s = tt_npy_save(out_path, y);
    tt_tensor_free(x);
    tt_tensor_free(y);
    return s;
}

typedef struct eval_args {
    const char *ckpt, *cfg_path, *threads, *limit, *save_in, *save_out, *backend;
    bool json;
} eval_args;

static int parse(int argc, char **argv, eval_args *a)
{
    static const struct {
        const char *flag;
        size_t off;
    } vals[] = {{"--config", offsetof(eval_args, cfg_path)},
                {"--threads", offsetof(eval_args, threads)},
                {"--backend", offsetof(eval_args, backend)},
                {"--limit", offsetof(eval_args, limit)},
                {"--save-inputs", offsetof(eval_args, save_in)},
                {"--save-outputs", offsetof(eval_args, save_out)}};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            eval_usage(stdout);
            return -1;
        }
        if (!strcmp(argv[i], "--json")) {
            a->json = true;
            continue;
        }
        size_t k = 0;
        while (k < sizeof vals / sizeof *vals && strcmp(argv[i], vals[k].flag)) k++;
        if (k < sizeof vals / sizeof *vals) {
            const char *v = tt_cli_value("eval", argc, argv, &i);
            if (!v) return TT_EXIT_USAGE;
            *(const char **)((char *)a + vals[k].off) = v;
        } else if (argv[i][0] == '-' || a->ckpt) {
            fprintf(stderr,
                    "tinytrain eval: unexpected argument '%s' (see 'tinytrain eval --help')\n",
                    argv[i]);
            return TT_EXIT_USAGE;
        } else {
            a->ckpt = argv[i];
        }
    }
    if (!a->ckpt) {
        fprintf(stderr, "tinytrain eval: missing CKPT.h5 (see 'tinytrain eval --help')\n");
        return TT_EXIT_USAGE;
    }
    if (a->backend && tt_backend_check(a->backend) != TT_OK) {
        fprintf(stderr, "tinytrain eval: --backend: %s\n", tt_last_error());
        return TT_EXIT_USAGE;
    }
    return 0;
}

static int run(const eval_args *a, tt_config *cfg)
{
    tt_trainer_opts o;
    if (tt_trainer_opts_for_checkpoint(a->ckpt, &o) != TT_OK) {
        tt_cli_error("eval", a->ckpt, true);
        return TT_EXIT_FAIL;
    }
    if (a->limit) {
        char *end;
        long long v = strtoll(a->limit, &end, 10);
        if (*end || v < 1) {
            fprintf(stderr, "tinytrain eval: --limit: must be an integer >= 1, got '%s'\n",
                    a->limit);
            return TT_EXIT_USAGE;
        }
        o.max_test = v;
    }
    o.backend = a->backend;
    tt_trainer *t = NULL;
    tt_eval_result r;
    int rc = TT_EXIT_OK;
    if (tt_trainer_create_ex(cfg, false, &o, &t) != TT_OK ||
        tt_trainer_load_params(t, a->ckpt) != TT_OK || tt_trainer_evaluate(t, true, &r) != TT_OK) {
        tt_cli_error("eval", a->ckpt, true);
        rc = TT_EXIT_FAIL;
    } else if ((a->save_in || a->save_out) && save_arrays(t, a->save_in, a->save_out) != TT_OK) {
        tt_cli_error("eval", "saving the arrays", true);
        rc = TT_EXIT_FAIL;
    } else if (a->json) {
        print_json(&r);
    } else {
        print_human(&r, a->ckpt);
    }
    tt_trainer_free(t);
    return rc;
}

int tt_cmd_eval(int argc, char **argv)
{
    if (tt_eval_is_onnx(argc, argv)) return tt_cmd_eval_onnx(argc, argv);
    eval_args a = {0};
    int rc = parse(argc, argv, &a);
    if (rc) return rc < 0 ? TT_EXIT_OK : rc;
    tt_config *cfg = load_config(a.ckpt, a.cfg_path);
    if (!cfg) return TT_EXIT_FAIL;
    if (a.threads && tt_config_apply_override(cfg, "threads", a.threads) != TT_OK) {
        fprintf(stderr, "tinytrain eval: %s\n", tt_last_error());
        tt_config_free(cfg);
        return TT_EXIT_USAGE;
    }
    rc = run(&a, cfg);
    tt_config_free(cfg);
    return rc;
}
