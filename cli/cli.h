/* Shared pieces of the tinytrain command-line program. */
#ifndef TT_CLI_H
#define TT_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "tinytrain/config.h"
#include "tinytrain/trainer.h"

/* Exit codes: 0 success, 1 the work failed, 2 bad command line or config. */
enum { TT_EXIT_OK = 0, TT_EXIT_FAIL = 1, TT_EXIT_USAGE = 2 };

typedef enum { TT_OUT_HUMAN = 0, TT_OUT_QUIET, TT_OUT_JSON } tt_out_mode;

int tt_cmd_fit(int argc, char **argv);
int tt_cmd_qat(int argc, char **argv);
int tt_cmd_smoke(int argc, char **argv);
int tt_cmd_eval(int argc, char **argv);
int tt_cmd_export(int argc, char **argv);
int tt_cmd_calib(int argc, char **argv);
int tt_cmd_run(int argc, char **argv);
int tt_cmd_registry(int argc, char **argv);
int tt_cmd_gate(int argc, char **argv);
int tt_cmd_ptq(int argc, char **argv);
int tt_cmd_recommend(int argc, char **argv);
int tt_cmd_backends(int argc, char **argv);

/* "tinytrain <cmd>: <message>" on stderr, plus tt_last_error() if with_lib_error. */
void tt_cli_error(const char *cmd, const char *what, bool with_lib_error);
/* A flag's value: argv[*i + 1], advancing *i; NULL (after printing an error) if missing. */
const char *tt_cli_value(const char *cmd, int argc, char **argv, int *i);
/* A whole decimal number (no sign, nothing after it) that fits 64 bits into *out; false if not. */
bool tt_cli_parse_u64(const char *s, uint64_t *out);
bool tt_cli_is_tty(FILE *f);

/* Training command lines (train_args.c). */
#define TT_CLI_MAX_OVERRIDES 16
typedef struct tt_cli_flag {
    const char *flag; /* "--epochs" */
    const char *key;  /* tt_config_apply_override key */
} tt_cli_flag;

typedef struct tt_cli_train_args {
    /* set by the command */
    const char *cmd;
    const tt_cli_flag *flags;
    int n_flags;
    void (*usage)(FILE *f);
    bool allow_smoke;
    bool allow_backend; /* --backend cpu|opencl[:N]|cuda[:N] */
    /* parsed */
    const char *config;
    const char *backend; /* NULL: cpu */
    bool resume, smoke;
    tt_out_mode mode;
    const char *ov_key[TT_CLI_MAX_OVERRIDES], *ov_val[TT_CLI_MAX_OVERRIDES];
    int n_ov;
} tt_cli_train_args;

/* Parse argv (argv[0] is the command name), load the config and apply the overrides.
 * Returns 0 with *cfg set, -1 after --help, or an exit code after printing the error. */
int tt_cli_train_args_load(int argc, char **argv, tt_cli_train_args *a, tt_config **cfg);

/* Training progress (progress.c): pass a tt_cli_ui as the callbacks' user pointer. */
typedef struct tt_cli_ui {
    tt_out_mode mode;
    bool tty;
    double last_draw;
    const char *metric; /* main metric name, for JSON keys */
} tt_cli_ui;
void tt_cli_on_progress(const tt_progress *p, void *user);
void tt_cli_on_epoch(const tt_epoch_record *r, void *user);
/* "accuracy 91.20%", "PLCC ...", "PSNR ..." for an evaluation. */
void tt_cli_print_metric(const tt_eval_result *r, char *buf, size_t len);

#endif
