/* Shared pieces of the tinytrain command-line program. */
#ifndef TT_CLI_H
#define TT_CLI_H

#include <stdbool.h>
#include <stdio.h>

/* Exit codes: 0 success, 1 the work failed, 2 bad command line or config. */
enum { TT_EXIT_OK = 0, TT_EXIT_FAIL = 1, TT_EXIT_USAGE = 2 };

typedef enum { TT_OUT_HUMAN = 0, TT_OUT_QUIET, TT_OUT_JSON } tt_out_mode;

int tt_cmd_fit(int argc, char **argv);
int tt_cmd_eval(int argc, char **argv);

/* "tinytrain <cmd>: <message>" on stderr, plus tt_last_error() if with_lib_error. */
void tt_cli_error(const char *cmd, const char *what, bool with_lib_error);
/* A flag's value: argv[*i + 1], advancing *i; NULL (after printing an error) if missing. */
const char *tt_cli_value(const char *cmd, int argc, char **argv, int *i);
bool tt_cli_is_tty(FILE *f);

#endif
