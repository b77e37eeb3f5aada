/* tinytrain eval MODEL.onnx (docs/eval.md): the ONNX half of the eval command, and its tables. */
#ifndef TT_CLI_EVAL_ONNX_H
#define TT_CLI_EVAL_ONNX_H

#include <stdbool.h>
#include "tinytrain/eval.h"

/* Whether argv (the eval command's arguments) names an .onnx file: then it is this command. */
bool tt_eval_is_onnx(int argc, char **argv);
int tt_cmd_eval_onnx(int argc, char **argv);

/* eval_onnx_print.c: the human-readable report on stdout. */
void tt_eval_print_header(const tt_eval_data *d, const tt_eval_model *m, int n);
void tt_eval_print_metrics(const tt_eval_model *m, int n, const tt_eval_agreement *ag);
void tt_eval_print_confusion(const tt_eval_model *m);
void tt_eval_print_study(const tt_eval_study *s, bool sensitivity, tt_task task);

#endif
