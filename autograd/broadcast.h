/* Numpy broadcasting for binary elementwise ops (Add, Sub, Mul, Div): shape inference with a
 * symbolic batch dimension, and strided loops over concrete shapes for forward and the reducing
 * backward. Shapes are right-aligned; a dimension broadcasts when it is 1. */
#ifndef TT_BROADCAST_H
#define TT_BROADCAST_H

#include <stdbool.h>
#include <stdint.h>
#include "tinytrain/graph.h"

/* A broadcast over concrete shapes, with unit output dims dropped and adjacent dims merged
 * where both operands stay contiguous (or both stay broadcast), so that the common cases
 * (same shape, bias [N,C,H,W]+[1,C,1,1], [N,F]+[F], outer product) become 1 to 3 plain loops. */
typedef struct tt_bcast {
    int nd;                     /* merged rank, 1..TT_MAX_DIMS */
    int64_t dims[TT_MAX_DIMS];  /* merged output dims */
    int64_t st[2][TT_MAX_DIMS]; /* element strides of operand 0 and 1; 0 where broadcast */
    int64_t numel;              /* output elements */
    bool same;                  /* both operands have the output's shape: flat loops */
} tt_bcast;

/* Output shape of broadcasting a with b, for shape inference. dims may be TT_DIM_BATCH, which
 * broadcasts with TT_DIM_BATCH or 1 and must end up as the output's leading dimension. On
 * failure returns TT_ERR_SHAPE naming node n. */
tt_status tt_bcast_infer(const tt_node *n, const tt_shape *a, const tt_shape *b, tt_shape *out);

/* Plan a broadcast of two concrete shapes that tt_bcast_infer accepted. */
void tt_bcast_plan(const tt_shape *a, const tt_shape *b, tt_bcast *p);

typedef enum tt_bcast_op { TT_BCAST_ADD = 0, TT_BCAST_SUB, TT_BCAST_MUL, TT_BCAST_DIV } tt_bcast_op;

/* y = a (op) b over the output shape of p. */
void tt_bcast_binary(const tt_bcast *p, tt_bcast_op op, const float *a, const float *b, float *y);

/* Backward for operand `which` (0 or 1): dst[at(which)] += dy[i] * other[at(1 - which)], summed
 * over every output element i that reads that dst element; other == NULL means 1. */
void tt_bcast_accum(const tt_bcast *p, int which, float *dst, const float *dy, const float *other);

#endif
