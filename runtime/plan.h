/* Inference planning inside the runtime (not public). */
#ifndef TT_RUNTIME_PLAN_H
#define TT_RUNTIME_PLAN_H

#include "tinytrain/graph.h"

/* A copy of g in which every QDQ pattern the integer kernels implement is replaced by one
 * integer node, and the nodes nobody needs any more are gone:
 *   DQ(x) -> Conv(., DQ(w), DQ(b)?) [-> Relu] -> Q    =>  QLinearConv(fused_relu)
 *   DQ(x) -> Gemm(., DQ(w), DQ(b)?) [-> Relu] -> Q    =>  QGemm(fused_relu)
 *   DQ(a) -> MatMul(., DQ(w)) -> Q                     =>  QLinearMatMul
 *   DQ(a), DQ(b) -> Add [-> Relu] -> Q                 =>  QLinearAdd(fused_relu)
 *   DQ(x) -> GlobalAveragePool -> Q                    =>  QLinearGlobalAveragePool
 *   DQ(x) -> MaxPool/Flatten/Reshape -> Q (same qparams) =>  the op on the quantised data
 * A pattern matches only when the intermediate float values have no other consumer, the
 * weights are int8 constants with zero point 0 and the bias is int32 with scale x_scale *
 * w_scale (what ORT fuses); anything else stays as written, so the result is always runnable.
 * *in_id / *out_id are updated to the ids of the same values in the copy. */
tt_status tt_plan_int8(const tt_graph *g, int *in_id, int *out_id, tt_graph **out);

#endif
