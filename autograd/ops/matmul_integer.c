/* MatMulInteger (ONNX, inference only): y[i, j] = sum_k (a[i, k] - a_zp) (b[k, j] - b_zp[j])
 * in int32. A is uint8/int8 [..., K] (rank 2 to 4; its leading dims are rows, as numpy matmul
 * with a 2-D B), B uint8/int8 [K, M]; a_zero_point (A's type) a single value, b_zero_point (B's
 * type) one value or one per column [M]; absent zero points are 0. A per-row a_zero_point and a
 * batched (rank > 2) B are refused; ONNX Runtime's CPU kernel refuses the former too.
 *
 * A portable reference path: B - b_zp is widened once into int16 scratch, then every row is a
 * sum of scaled B rows. The sums wrap modulo 2^32 like int32 hardware (done in uint32, so there
 * is no signed overflow): exact whenever the true sum fits int32, which |a - a_zp|,
 * |b - b_zp| <= 255 guarantees up to K = 33025. */
#include "autograd/internal.h"
#include "autograd/op.h"
#include "autograd/qparam.h"

static tt_status mmi_infer(const tt_node *n, const tt_tensor *const *in, tt_tensor *out)
{
    for (int i = 0; i < 2; i++) {
        TT_CHECK(tt_op_expect_ndim(n, in[i], i, 2, i == 0 ? TT_MAX_DIMS : 2));
        if (!tt_qp_is_byte(in[i]->dtype))
            return tt_fail(TT_ERR_SHAPE,
                           "node '%s' (MatMulInteger): input %d is %s; expected uint8 or int8",
                           n->name, i, tt_dtype_name(in[i]->dtype));
    }
    const tt_shape *a = &in[0]->shape, *b = &in[1]->shape;
    char as[64], bs[64];
    tt_shape_str(a, as, sizeof as);
    tt_shape_str(b, bs, sizeof bs);
    int64_t k = a->dims[a->ndim - 1];
    if (b->dims[0] == TT_DIM_BATCH || b->dims[0] != k || b->dims[1] < 1 || k < 1)
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (MatMulInteger): A %s and B %s do not multiply; B must be a "
                       "fixed [K, M] with K = A's last dim",
                       n->name, as, bs);
    int64_t m = b->dims[1];
    TT_CHECK(tt_qp_check_int_zp(n, in[2], 2, "a_zero_point", in[0]->dtype, 0, "row of A"));
    TT_CHECK(tt_qp_check_int_zp(n, in[3], 3, "b_zero_point", in[1]->dtype, m, "column of B"));
    tt_shape o = *a;
    o.dims[o.ndim - 1] = m;
    out[0].dtype = TT_I32;
    out[0].shape = o;
    return TT_OK;
}

static size_t mmi_scratch(const tt_node *n, const tt_tensor *const *in, const tt_tensor *out)
{
    (void)n, (void)out;
    return (size_t)tt_tensor_numel(in[1]) * sizeof(int16_t);
}

/* Element i of a uint8 or int8 buffer. */
static inline int32_t load_q(const uint8_t *p, bool sgn, int64_t i)
{
    return sgn ? (int32_t)(p[i] ^ 0x80u) - 128 : (int32_t)p[i];
}

/* bw[k, j] = b[k, j] - b_zp[j] (or b_zp[0]). */
static void mmi_widen_b(const tt_tensor *b, const tt_tensor *bz, int16_t *bw)
{
    int64_t k = b->shape.dims[0], m = b->shape.dims[1];
    bool per_col = bz && tt_tensor_numel(bz) > 1, sgn = b->dtype == TT_I8;
    const uint8_t *bp = b->data;
    for (int64_t r = 0; r < k; r++)
        for (int64_t j = 0; j < m; j++)
            bw[r * m + j] = (int16_t)(load_q(bp, sgn, r * m + j) - tt_qp_zp(bz, per_col ? j : 0));
}

static tt_status mmi_forward(tt_op_ctx *c)
{
    const tt_tensor *a = c->in[0];
    int64_t k = c->in[1]->shape.dims[0], m = c->in[1]->shape.dims[1];
    int64_t rows = tt_tensor_numel(a) / k;
    int16_t *bw = c->scratch;
    mmi_widen_b(c->in[1], c->in[3], bw);
    const uint8_t *ap = a->data;
    bool sgn = a->dtype == TT_I8;
    int32_t az = tt_qp_zp(c->in[2], 0);
    int32_t *y = c->out[0]->data;
#pragma omp parallel for if (rows * k * m > 65536)
    for (int64_t i = 0; i < rows; i++) {
        uint32_t *acc = (uint32_t *)(y + i * m); /* int32's unsigned twin: wraps, no UB */
        for (int64_t j = 0; j < m; j++) acc[j] = 0;
        for (int64_t r = 0; r < k; r++) {
            int32_t av = load_q(ap, sgn, i * k + r) - az;
            if (av == 0) continue;
            const int16_t *br = bw + r * m;
            for (int64_t j = 0; j < m; j++) acc[j] += (uint32_t)(av * (int32_t)br[j]);
        }
    }
    return TT_OK;
}

const tt_op_def tt_op_matmul_integer = {
    .name = "MatMulInteger",
    .min_in = 2,
    .max_in = 4,
    .n_out = 1,
    .infer = mmi_infer,
    .scratch_size = mmi_scratch,
    .forward = mmi_forward,
};
