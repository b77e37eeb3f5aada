/* Reshape to the attribute "shape" (ONNX semantics with allowzero = 0): 0 copies the input
 * dimension at that position and one -1 is inferred from the element count. With a symbolic
 * batch, dimension 0 of the result must be the batch, spelled 0 (copy) or -1 (infer, when the
 * remaining dims hold exactly one sample). A copy both ways; the executor has no views. */
#include "autograd/copy_op.h"
#include "autograd/internal.h"
#include "autograd/op.h"

/* Product of d[from..to) skipping index `skip`; -1 once it passes the tensor size cap, so that
 * absurd attribute values cannot overflow. */
static int64_t prod_capped(const int64_t *d, int from, int to, int skip)
{
    int64_t p = 1;
    for (int i = from; i < to; i++) {
        if (i == skip) continue;
        if (d[i] > TT_TENSOR_MAX_BYTES / p) return -1;
        p *= d[i];
    }
    return p;
}

static tt_status reshape_infer(const tt_node *n, const tt_tensor *const *in, tt_tensor *out)
{
    if (!in[0])
        return tt_fail(TT_ERR_INVALID_ARG, "node '%s' (Reshape): input is missing", n->name);
    const tt_shape *s = &in[0]->shape;
    int64_t want[TT_MAX_ATTR_INTS];
    int k = tt_node_attr_ints(n, "shape", want, TT_MAX_ATTR_INTS);
    if (k < 1)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "node '%s' (Reshape): the ints attribute 'shape' is missing or empty",
                       n->name);
    if (k > TT_MAX_DIMS)
        return tt_fail(TT_ERR_SHAPE, "node '%s' (Reshape): target rank %d is above the maximum %d",
                       n->name, k, TT_MAX_DIMS);
    bool sym = s->ndim > 0 && s->dims[0] == TT_DIM_BATCH;
    int64_t d[TT_MAX_DIMS];
    int neg = -1;
    for (int i = 0; i < k; i++) {
        if (want[i] == 0) {
            if (i >= s->ndim)
                return tt_fail(TT_ERR_SHAPE,
                               "node '%s' (Reshape): shape[%d] = 0 copies input dimension %d, "
                               "but the input has rank %d",
                               n->name, i, i, s->ndim);
            d[i] = s->dims[i];
        } else if (want[i] == -1) {
            if (neg >= 0)
                return tt_fail(TT_ERR_SHAPE,
                               "node '%s' (Reshape): shape has -1 at positions %d and %d; only "
                               "one dimension can be inferred",
                               n->name, neg, i);
            neg = i;
            d[i] = 1;
        } else if (want[i] < 0) {
            return tt_fail(TT_ERR_SHAPE, "node '%s' (Reshape): shape[%d] = %lld is invalid",
                           n->name, i, (long long)want[i]);
        } else {
            d[i] = want[i];
        }
    }
    if (sym && want[0] != 0 && want[0] != -1)
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (Reshape): the input has a batch dimension, so shape[0] must "
                       "be 0 or -1 to keep it (got %lld)",
                       n->name, (long long)want[0]);
    /* Element counts, per sample when the batch is symbolic (dimension 0 then stays the batch). */
    int64_t have = prod_capped(s->dims, sym ? 1 : 0, s->ndim, -1);
    int64_t known = prod_capped(d, sym ? 1 : 0, k, neg);
    int64_t inferred = 1;
    bool ok = known > 0 && have > 0;
    if (ok && neg > (sym ? 0 : -1)) {
        ok = have % known == 0;
        inferred = ok ? have / known : 1;
    } else if (ok) {
        ok = known == have;
    }
    if (!ok) {
        char a[64];
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (Reshape): cannot reshape %s (%lld elements%s) to the "
                       "requested shape; the element counts differ",
                       n->name, tt_shape_str(s, a, sizeof a), (long long)have,
                       sym ? " per sample" : "");
    }
    if (neg >= 0) d[neg] = inferred;
    if (sym) d[0] = TT_DIM_BATCH;
    out[0].dtype = in[0]->dtype;
    return tt_shape_make(&out[0].shape, k, d);
}

const tt_op_def tt_op_reshape = {
    .name = "Reshape",
    .min_in = 1,
    .max_in = 1,
    .n_out = 1,
    .infer = reshape_infer,
    .forward = tt_copy_op_forward,
    .backward = tt_copy_op_backward,
};
