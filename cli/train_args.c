/* The command line shared by the training commands (fit, qat): a config, overrides of its
 * values, --resume, --quiet/--json, and command-specific switches. */
#include <stdio.h>
#include <string.h>
#include "cli/cli.h"
#include "tinytrain/backends.h"

static int parse(int argc, char **argv, tt_cli_train_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            a->usage(stdout);
            return -1;
        }
        if (!strcmp(s, "--resume")) {
            a->resume = true;
            continue;
        }
        if (a->allow_smoke && !strcmp(s, "--smoke")) {
            a->smoke = true;
            continue;
        }
        if (a->allow_backend && !strcmp(s, "--backend")) {
            if (!(a->backend = tt_cli_value(a->cmd, argc, argv, &i))) return TT_EXIT_USAGE;
            continue;
        }
        if (!strcmp(s, "--quiet") || !strcmp(s, "--json")) {
            a->mode = s[2] == 'q' ? TT_OUT_QUIET : TT_OUT_JSON;
            continue;
        }
        int k = 0;
        while (k < a->n_flags && strcmp(s, a->flags[k].flag)) k++;
        if (k < a->n_flags) {
            const char *v = tt_cli_value(a->cmd, argc, argv, &i);
            if (!v) return TT_EXIT_USAGE;
            if (a->n_ov == TT_CLI_MAX_OVERRIDES) {
                fprintf(stderr, "tinytrain %s: too many options (at most %d overrides)\n", a->cmd,
                        TT_CLI_MAX_OVERRIDES);
                return TT_EXIT_USAGE;
            }
            a->ov_key[a->n_ov] = a->flags[k].key;
            a->ov_val[a->n_ov++] = v;
            continue;
        }
        if (s[0] == '-' || a->config) {
            fprintf(stderr, "tinytrain %s: unexpected argument '%s' (see 'tinytrain %s --help')\n",
                    a->cmd, s, a->cmd);
            return TT_EXIT_USAGE;
        }
        a->config = s;
    }
    if (a->backend && tt_backend_check(a->backend) != TT_OK) {
        fprintf(stderr, "tinytrain %s: --backend: %s\n", a->cmd, tt_last_error());
        return TT_EXIT_USAGE;
    }
    if (!a->config) {
        fprintf(stderr, "tinytrain %s: missing CONFIG.yaml (see 'tinytrain %s --help')\n", a->cmd,
                a->cmd);
        return TT_EXIT_USAGE;
    }
    return 0;
}

int tt_cli_train_args_load(int argc, char **argv, tt_cli_train_args *a, tt_config **cfg)
{
    *cfg = NULL;
    int rc = parse(argc, argv, a);
    if (rc) return rc;
    if (tt_config_load(a->config, cfg) != TT_OK) {
        fprintf(stderr, "tinytrain %s: %s\n", a->cmd, tt_last_error());
        return TT_EXIT_USAGE;
    }
    for (int k = 0; k < a->n_ov; k++)
        if (tt_config_apply_override(*cfg, a->ov_key[k], a->ov_val[k]) != TT_OK) {
            fprintf(stderr, "tinytrain %s: %s\n", a->cmd, tt_last_error());
            tt_config_free(*cfg);
            *cfg = NULL;
            return TT_EXIT_USAGE;
        }
    return 0;
}
