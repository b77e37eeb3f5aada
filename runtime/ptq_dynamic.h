/* Dynamic PTQ (ptq_dynamic.c), called by tt_ptq_quantize for TT_PTQ_DYNAMIC. */
#ifndef TT_PTQ_DYNAMIC_H
#define TT_PTQ_DYNAMIC_H

#include "tinytrain/ptq.h"

/* model_path rewritten as ONNX Runtime's quantize_dynamic writes it into out_path (atomically),
 * with o (mode DYNAMIC, already checked by the caller); r is filled (the caller zeroed it). */
tt_status tt_ptq_dynamic(const char *model_path, const char *out_path, const tt_ptq_opts *o,
                         tt_ptq_result *r);

#endif
