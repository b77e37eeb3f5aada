/* PENDING: replaced by the real implementation in this session. */
#include "autograd/internal.h"
#include "autograd/op.h"

static tt_status pending_infer(const tt_node *n, const tt_tensor *const *in, tt_tensor *out)
{
    (void)in, (void)out;
    return tt_fail(TT_ERR_UNSUPPORTED, "node '%s': Reshape is pending", n->name);
}

const tt_op_def tt_op_reshape = {
    .name = "Reshape", .min_in = 1, .max_in = 4, .n_out = 1, .infer = pending_infer};
