/* tinytrain: training and quantisation-aware training of small MLPs and CNNs in C11. */
#ifndef TINYTRAIN_H
#define TINYTRAIN_H

#include "tinytrain/status.h"
#include "tinytrain/tensor.h"
#include "tinytrain/rng.h"
#include "tinytrain/graph.h"
#include "tinytrain/exec.h"
#include "tinytrain/layers.h"
#include "tinytrain/optim.h"
#include "tinytrain/config.h"
#include "tinytrain/checkpoint.h"
#include "tinytrain/dataset.h"
#include "tinytrain/quant.h"
#include "tinytrain/onnx.h"
#include "tinytrain/calib.h"
#include "tinytrain/calibrator.h"
#include "tinytrain/ptq.h"
#include "tinytrain/runtime.h"
#include "tinytrain/registry.h"
#include "tinytrain/gate.h"
#include "tinytrain/eval.h"

#define TT_VERSION_MAJOR  0
#define TT_VERSION_MINOR  1
#define TT_VERSION_PATCH  0
#define TT_VERSION_STRING "0.1.0"

#ifdef __cplusplus
extern "C" {
#endif

/* Threads used by tinytrain's kernels and by OpenBLAS. This and the log level are the only
 * process-wide settings. n <= 0 means all cores. */
void tt_set_num_threads(int n);
int tt_get_num_threads(void);
const char *tt_version(void);

#ifdef __cplusplus
}
#endif
#endif
