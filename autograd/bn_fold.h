/* Simulated BatchNorm folding (BnFoldWeight, BnUnfold): the per-channel factor both the CPU op
 * (autograd/ops/bn_fold.c) and the device op (kernels/shared/dev_ops_qat.c) apply. */
#ifndef TT_BN_FOLD_H
#define TT_BN_FOLD_H

#include <stdbool.h>
#include <stdint.h>
#include "tinytrain/graph.h"

/* For c channels: sigma[k] = sqrt(var[k] + eps) in double and mult[k] = gamma / sigma rounded
 * to float (its inverse when unfold); eps is node n's "epsilon". TT_ERR_NUMERIC naming n when a
 * running_var is negative or NaN, or (unfold) a gamma is 0. sigma or mult may be NULL. */
tt_status tt_bn_fold_factors(const tt_node *n, const float *gamma, const float *var, int64_t c,
                             bool unfold, double *sigma, float *mult);

#endif
