/* Forward and backward of ops that pass their input through unchanged under a new shape
 * (Flatten, Reshape). They copy instead of aliasing because the executor has no views: every
 * value keeps its own buffer. */
#ifndef TT_COPY_OP_H
#define TT_COPY_OP_H

#include "autograd/op.h"

/* out[0] = in[0], byte for byte (any dtype). */
tt_status tt_copy_op_forward(tt_op_ctx *c);
/* din[0] += dout[0], element for element (float32). */
tt_status tt_copy_op_backward(tt_op_ctx *c);

#endif
