/* The op table and the infer helpers shared by ops. Adding an op: a file in autograd/ops/, an
 * enum value in graph.h, a declaration in op.h and a row here. */
#include <string.h>
#include "autograd/internal.h"
#include "autograd/op.h"

static const tt_op_def *const op_table[TT_OP_COUNT] = {
    [TT_OP_GEMM] = &tt_op_gemm,
    [TT_OP_MATMUL] = &tt_op_matmul,
    [TT_OP_CONV] = &tt_op_conv,
    [TT_OP_MAXPOOL] = &tt_op_maxpool,
    [TT_OP_AVGPOOL] = &tt_op_avgpool,
    [TT_OP_GLOBALAVGPOOL] = &tt_op_globalavgpool,
    [TT_OP_FLATTEN] = &tt_op_flatten,
    [TT_OP_RESHAPE] = &tt_op_reshape,
    [TT_OP_ADD] = &tt_op_add,
    [TT_OP_MUL] = &tt_op_mul,
    [TT_OP_RELU] = &tt_op_relu,
    [TT_OP_CLIP] = &tt_op_clip,
    [TT_OP_LEAKYRELU] = &tt_op_leakyrelu,
    [TT_OP_SIGMOID] = &tt_op_sigmoid,
    [TT_OP_TANH] = &tt_op_tanh,
    [TT_OP_BATCHNORM] = &tt_op_batchnorm,
    [TT_OP_DROPOUT] = &tt_op_dropout,
    [TT_OP_SOFTMAX_CE] = &tt_op_softmax_ce,
    [TT_OP_MSE] = &tt_op_mse,
    [TT_OP_L1] = &tt_op_l1,
    [TT_OP_SMOOTH_L1] = &tt_op_smooth_l1,
    [TT_OP_FAKEQUANT] = &tt_op_fake_quant,
    [TT_OP_BN_FOLD_WEIGHT] = &tt_op_bn_fold_weight,
    [TT_OP_BN_UNFOLD] = &tt_op_bn_unfold,
    [TT_OP_BIAS_QUANT] = &tt_op_bias_quant,
    [TT_OP_SUB] = &tt_op_sub,
    [TT_OP_DIV] = &tt_op_div,
    [TT_OP_SOFTMAX] = &tt_op_softmax,
    [TT_OP_CAST] = &tt_op_cast,
    [TT_OP_QUANTIZE] = &tt_op_quantize_linear,
    [TT_OP_DEQUANTIZE] = &tt_op_dequantize_linear,
    [TT_OP_DYNAMIC_QUANTIZE] = &tt_op_dynamic_quantize,
    [TT_OP_MATMUL_INTEGER] = &tt_op_matmul_integer,
    [TT_OP_CONV_INTEGER] = &tt_op_conv_integer,
    [TT_OP_QLINEAR_CONV] = &tt_op_qlinear_conv,
    [TT_OP_QLINEAR_MATMUL] = &tt_op_qlinear_matmul,
    [TT_OP_QGEMM] = &tt_op_qgemm,
    [TT_OP_QLINEAR_ADD] = &tt_op_qlinear_add,
    [TT_OP_QLINEAR_GAP] = &tt_op_qlinear_gap,
};

const tt_op_def *tt_op_def_get(tt_op_type op)
{
    if ((int)op < 0 || op >= TT_OP_COUNT) return NULL;
    return op_table[op];
}

const char *tt_op_name(tt_op_type op)
{
    const tt_op_def *d = tt_op_def_get(op);
    return d ? d->name : "?";
}

tt_op_type tt_op_from_name(const char *name)
{
    if (!name) return TT_OP_COUNT;
    for (int i = 0; i < TT_OP_COUNT; i++)
        if (strcmp(op_table[i]->name, name) == 0) return (tt_op_type)i;
    return TT_OP_COUNT;
}

tt_status tt_op_expect_dtype(const tt_node *n, const tt_tensor *t, int idx, tt_dtype dt)
{
    if (!t)
        return tt_fail(TT_ERR_INVALID_ARG, "node '%s' (%s): input %d is missing", n->name,
                       tt_op_name(n->op), idx);
    if (t->dtype != dt)
        return tt_fail(TT_ERR_SHAPE, "node '%s' (%s): input %d is %s, expected %s", n->name,
                       tt_op_name(n->op), idx, tt_dtype_name(t->dtype), tt_dtype_name(dt));
    return TT_OK;
}

tt_status tt_op_expect_ndim(const tt_node *n, const tt_tensor *t, int idx, int lo, int hi)
{
    if (!t)
        return tt_fail(TT_ERR_INVALID_ARG, "node '%s' (%s): input %d is missing", n->name,
                       tt_op_name(n->op), idx);
    if (t->shape.ndim < lo || t->shape.ndim > hi) {
        char b[64];
        return tt_fail(TT_ERR_SHAPE, "node '%s' (%s): input %d has shape %s; expected rank %d..%d",
                       n->name, tt_op_name(n->op), idx, tt_shape_str(&t->shape, b, sizeof b), lo,
                       hi);
    }
    return TT_OK;
}

tt_status tt_op_infer_same(const tt_node *n, const tt_tensor *const *in, tt_tensor *out)
{
    TT_CHECK(tt_op_expect_dtype(n, in[0], 0, TT_F32));
    out[0].dtype = TT_F32;
    out[0].shape = in[0]->shape;
    return TT_OK;
}

tt_status tt_op_infer_loss_pair(const tt_node *n, const tt_tensor *const *in, tt_tensor *out)
{
    TT_CHECK(tt_op_expect_dtype(n, in[0], 0, TT_F32));
    TT_CHECK(tt_op_expect_dtype(n, in[1], 1, TT_F32));
    if (!tt_shape_equal(&in[0]->shape, &in[1]->shape)) {
        char a[64], b[64];
        return tt_fail(TT_ERR_SHAPE, "node '%s' (%s): prediction %s and target %s differ in shape",
                       n->name, tt_op_name(n->op), tt_shape_str(&in[0]->shape, a, sizeof a),
                       tt_shape_str(&in[1]->shape, b, sizeof b));
    }
    out[0].dtype = TT_F32;
    int64_t one = 1;
    return tt_shape_make(&out[0].shape, 1, &one);
}
