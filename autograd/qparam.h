/* Scale and zero-point inputs of the inference-only quantised ops (QuantizeLinear,
 * DequantizeLinear, the integer and QLinear ops): the shape rules their infer functions share,
 * the run-time checks of the values, and reading a zero point whatever its integer type.
 *
 * IR convention (graph.h): a scale is float32 [1] (per tensor) or [C] (per channel along the
 * node's attr axis); its zero point has the same shape. ONNX scalars arrive as [1]; rank 0 is
 * accepted too. A [1] scale is per tensor whatever the axis, as in ONNX Runtime. */
#ifndef TT_QPARAM_H
#define TT_QPARAM_H

#include <stdbool.h>
#include <stdint.h>
#include "tinytrain/graph.h"
#include "tinytrain/quant.h"

/* True for the one-byte quantised types (uint8, int8). */
static inline bool tt_qp_is_byte(tt_dtype dt)
{
    return dt == TT_U8 || dt == TT_I8;
}

/* The full range of a quantised storage type (uint8, int8, int32); {0, 0} for others. */
tt_qrange tt_qp_range(tt_dtype dt);
/* The quant.h storage type of uint8, int8 or int32. */
tt_qtype tt_qp_qtype(tt_dtype dt);

/* Input idx of node n is a float32 scale: one value, or [C] when per_axis is allowed. *count
 * receives its number of elements (1 or C). `what` names it in messages ("y_scale"). */
tt_status tt_qp_check_scale(const tt_node *n, const tt_tensor *s, int idx, const char *what,
                            bool per_axis, int64_t *count);

/* Input idx of node n is a zero point (z may be NULL: absent) of dtype dt whose shape matches
 * the scale's (count elements). */
tt_status tt_qp_check_zp(const tt_node *n, const tt_tensor *z, int idx, const char *what,
                         tt_dtype dt, int64_t count);

/* Input idx of node n is the zero point of an integer op (MatMulInteger, ConvInteger; z may be
 * NULL: absent) of dtype dt holding one value, or `channels` values when channels > 0. `per`
 * says what a channel is in messages ("output channel"). */
tt_status tt_qp_check_int_zp(const tt_node *n, const tt_tensor *z, int idx, const char *what,
                             tt_dtype dt, int64_t channels, const char *per);

/* The channel axis of a per-axis scale with `count` elements over a tensor of shape x: attr
 * "axis" (default 1, negative counts from the end), which must name a concrete dimension of
 * size count. */
tt_status tt_qp_axis(const tt_node *n, const tt_shape *x, int64_t count, int *axis);

/* The [outer, channels, inner] view of shape s (concrete) around a per-channel axis; axis -1
 * (per tensor) gives one channel holding everything. */
void tt_qp_layout(const tt_shape *s, int axis, int64_t *outer, int64_t *channels, int64_t *inner);

/* A failure s of a quant.h call made for node n: its message, prefixed with the node. */
tt_status tt_qp_node_error(const tt_node *n, tt_status s);

/* Zero point element i as int32; 0 when z is NULL (absent). */
static inline int32_t tt_qp_zp(const tt_tensor *z, int64_t i)
{
    if (!z) return 0;
    switch (z->dtype) {
    case TT_U8:
        return ((const uint8_t *)z->data)[i];
    case TT_I8:
        return ((const int8_t *)z->data)[i];
    case TT_I32:
        return ((const int32_t *)z->data)[i];
    default:
        return 0;
    }
}

/* Run time: every element of scale input idx is a positive finite number (a zero, negative or
 * NaN scale would turn the op's output into saturated garbage). */
tt_status tt_qp_check_scale_values(const tt_node *n, const tt_tensor *s, int idx, const char *what);

#endif
