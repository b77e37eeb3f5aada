/* The FakeQuant node as its CPU op (autograd/ops/fake_quant.c) and its device op
 * (kernels/shared/dev_ops_qat.c) both read it: attributes with their defaults (docs/ops.md),
 * input positions, and X viewed as [outer, channels, inner] around the quantisation axis. */
#ifndef TT_FAKE_QUANT_H
#define TT_FAKE_QUANT_H

#include <stdint.h>
#include "tinytrain/graph.h"

enum { TT_FQ_X = 0, TT_FQ_SCALE, TT_FQ_ZP, TT_FQ_MIN, TT_FQ_MAX };

/* Per-tensor work (observer ranges, the LSQ scale gradient) is split in chunks of this many
 * elements; the partial sums, and so the results, depend on it. */
#define TT_FQ_CHUNK 16384

typedef struct tt_fq_attrs {
    int64_t qmin, qmax, axis, symmetric, observer, learnable, observe, enabled;
    float avg_c;
} tt_fq_attrs;

/* The node's attributes, defaults filled in (the graph checked them when it was built). */
tt_fq_attrs tt_fq_get_attrs(const tt_node *n);
/* X as [outer, channels, inner]: channels 1 and inner numel for per tensor (axis < 0). */
void tt_fq_layout(const tt_tensor *x, int64_t axis, int64_t *outer, int64_t *ch, int64_t *inner);

#endif
