/* Flatten: [d0, ..., d(r-1)] -> [d0 * ... * d(axis-1), d(axis) * ... * d(r-1)] (attr "axis",
 * default 1; negative counts from the end, as in ONNX). A copy both ways: the executor has no
 * views, and the copy keeps every value in its own buffer. */
#include "autograd/copy_op.h"
#include "autograd/internal.h"
#include "autograd/op.h"

static tt_status flatten_infer(const tt_node *n, const tt_tensor *const *in, tt_tensor *out)
{
    if (!in[0])
        return tt_fail(TT_ERR_INVALID_ARG, "node '%s' (Flatten): input is missing", n->name);
    const tt_shape *s = &in[0]->shape;
    int r = s->ndim;
    int64_t axis = tt_node_attr_int(n, "axis", 1);
    if (axis < 0) axis += r;
    if (axis < 0 || axis > r)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "node '%s' (Flatten): axis %lld is outside -%d..%d for a rank-%d input",
                       n->name, (long long)tt_node_attr_int(n, "axis", 1), r, r, r);
    bool sym = r > 0 && s->dims[0] == TT_DIM_BATCH;
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < r; i++) {
        if (sym && i == 0) continue;
        int64_t *p = i < axis ? &outer : &inner;
        /* Capped so that an absurd declared shape cannot overflow the product. */
        if (s->dims[i] > TT_TENSOR_MAX_BYTES / *p)
            return tt_fail(TT_ERR_SHAPE, "node '%s' (Flatten): the input is too large", n->name);
        *p *= s->dims[i];
    }
    if (sym) {
        /* The batch must stay alone in dimension 0; N * k has no symbolic spelling. */
        if (axis == 0 || outer != 1) {
            char b[64];
            return tt_fail(TT_ERR_SHAPE,
                           "node '%s' (Flatten): axis %lld on %s would fold the batch dimension "
                           "into another; use axis 1",
                           n->name, (long long)axis, tt_shape_str(s, b, sizeof b));
        }
        outer = TT_DIM_BATCH;
    }
    out[0].dtype = in[0]->dtype;
    int64_t d[2] = {outer, inner};
    return tt_shape_make(&out[0].shape, 2, d);
}

const tt_op_def tt_op_flatten = {
    .name = "Flatten",
    .min_in = 1,
    .max_in = 1,
    .n_out = 1,
    .infer = flatten_infer,
    .forward = tt_copy_op_forward,
    .backward = tt_copy_op_backward,
};
