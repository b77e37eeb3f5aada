/* ONNX quantisation nodes -> IR nodes: QDQ (QuantizeLinear, DequantizeLinear), the dynamic
 * path ORT's quantize_dynamic writes (DynamicQuantizeLinear, MatMulInteger, ConvInteger, Cast),
 * the QOperator ops (QLinearConv, QLinearMatMul), and the com.microsoft ones the runtime's
 * integer kernels implement (QGemm, QLinearAdd, QLinearGlobalAveragePool). The IR takes the
 * ONNX input order for all of them; scalars become [1]. */
#include <stdio.h>
#include <string.h>
#include "autograd/internal.h"
#include "export/onnx_import.h"

/* QuantizeLinear-21 / DequantizeLinear-21 blocked quantisation has no IR form. */
static tt_status check_block(tt_imp *im, const Onnx__NodeProto *p)
{
    int64_t block;
    TT_CHECK(tt_imp_attr_int(im, p, "block_size", 0, &block));
    if (block != 0)
        return tt_imp_fail(im, TT_ERR_UNSUPPORTED,
                           "block_size=%lld (blocked quantisation) is not supported; tinytrain "
                           "quantises per tensor or per channel",
                           (long long)block);
    return TT_OK;
}

static tt_status axis_attr(tt_imp *im, const Onnx__NodeProto *p, tt_attr *a)
{
    int64_t axis;
    TT_CHECK(tt_imp_attr_int(im, p, "axis", 1, &axis));
    *a = tt_attr_int("axis", axis);
    return TT_OK;
}

/* Without a zero point, QuantizeLinear-21's output_dtype picks the type: a zero constant of it
 * stands in (the IR's default is uint8). */
static tt_status quantize_zp(tt_imp *im, const Onnx__NodeProto *p, int *hzp)
{
    int64_t odt;
    TT_CHECK(tt_imp_attr_int(im, p, "output_dtype", 0, &odt));
    if (odt == 0) return TT_OK;
    tt_dtype dt;
    if (!tt_imp_dtype((int)odt, &dt) || (dt != TT_U8 && dt != TT_I8))
        return tt_imp_fail(im, TT_ERR_UNSUPPORTED,
                           "output_dtype %s is not supported; tinytrain quantises to UINT8 or INT8",
                           tt_imp_onnx_dtype_name((int)odt));
    if (*hzp != TT_IMP_ABSENT) {
        tt_imp_const *c = tt_imp_const_of(im, *hzp);
        if (c && c->dtype != dt)
            return tt_imp_fail(im, TT_ERR_SHAPE, "output_dtype and the zero point's type differ");
        return TT_OK;
    }
    int64_t one = 1;
    uint8_t zero = 0;
    char name[TT_NAME_MAX + 16];
    snprintf(name, sizeof name, "%.100s_zero_point", tt_imp_out_name(p, 0));
    return tt_imp_const_make(im, name, dt, 1, &one, &zero, hzp);
}

static tt_status map_quantize(tt_imp *im, const Onnx__NodeProto *p, const int *h)
{
    if (p->n_input < 2) return tt_imp_fail(im, TT_ERR_FORMAT, "expected 2 or 3 inputs");
    int hin[3] = {h[0], h[1], p->n_input > 2 ? h[2] : TT_IMP_ABSENT};
    tt_attr a;
    TT_CHECK(check_block(im, p));
    TT_CHECK(quantize_zp(im, p, &hin[2]));
    TT_CHECK(axis_attr(im, p, &a));
    return tt_imp_emit(im, p, TT_OP_QUANTIZE, hin[2] == TT_IMP_ABSENT ? 2 : 3, hin, 1, &a);
}

static tt_status map_dequantize(tt_imp *im, const Onnx__NodeProto *p, const int *h)
{
    if (p->n_input < 2) return tt_imp_fail(im, TT_ERR_FORMAT, "expected 2 or 3 inputs");
    tt_attr a;
    TT_CHECK(check_block(im, p));
    TT_CHECK(axis_attr(im, p, &a));
    return tt_imp_emit(im, p, TT_OP_DEQUANTIZE, (int)p->n_input, h, 1, &a);
}

static tt_status map_dynamic_quantize(tt_imp *im, const Onnx__NodeProto *p, const int *h)
{
    return tt_imp_emit(im, p, TT_OP_DYNAMIC_QUANTIZE, 1, h, 0, NULL);
}

static tt_status map_matmul_integer(tt_imp *im, const Onnx__NodeProto *p, const int *h)
{
    if (p->n_input < 2) return tt_imp_fail(im, TT_ERR_FORMAT, "expected 2 to 4 inputs");
    return tt_imp_emit(im, p, TT_OP_MATMUL_INTEGER, (int)p->n_input, h, 0, NULL);
}

static tt_status map_conv_integer(tt_imp *im, const Onnx__NodeProto *p, const int *h)
{
    tt_attr a[TT_MAX_ATTRS];
    int n = 0;
    if (p->n_input < 2) return tt_imp_fail(im, TT_ERR_FORMAT, "expected 2 to 4 inputs");
    TT_CHECK(tt_imp_conv_attrs(im, p, h[0], h[1], a, &n));
    return tt_imp_emit(im, p, TT_OP_CONV_INTEGER, (int)p->n_input, h, n, a);
}

static tt_status map_qlinear_conv(tt_imp *im, const Onnx__NodeProto *p, const int *h)
{
    tt_attr a[TT_MAX_ATTRS];
    int n = 0;
    if (p->n_input < 8) return tt_imp_fail(im, TT_ERR_FORMAT, "expected 8 or 9 inputs");
    TT_CHECK(tt_imp_conv_attrs(im, p, h[0], h[3], a, &n));
    return tt_imp_emit(im, p, TT_OP_QLINEAR_CONV, (int)p->n_input, h, n, a);
}

static tt_status map_qlinear_matmul(tt_imp *im, const Onnx__NodeProto *p, const int *h)
{
    if (p->n_input != 8) return tt_imp_fail(im, TT_ERR_FORMAT, "expected 8 inputs");
    return tt_imp_emit(im, p, TT_OP_QLINEAR_MATMUL, 8, h, 0, NULL);
}

static tt_status map_cast(tt_imp *im, const Onnx__NodeProto *p, const int *h)
{
    int64_t to;
    tt_dtype dt;
    TT_CHECK(tt_imp_attr_int(im, p, "to", 0, &to));
    if (!tt_imp_dtype((int)to, &dt))
        return tt_imp_fail(im, TT_ERR_UNSUPPORTED,
                           "casting to %s is not supported (FLOAT, UINT8, INT8, INT32, INT64)",
                           tt_imp_onnx_dtype_name((int)to));
    tt_attr a = tt_attr_int("to", dt);
    return tt_imp_emit(im, p, TT_OP_CAST, 1, h, 1, &a);
}

/* com.microsoft QGemm: A a_s a_zp B b_s b_zp C? y_s? y_zp? with transA, transB, alpha; the IR's
 * takes B as [M, K] and a quantised output. */
static tt_status map_qgemm(tt_imp *im, const Onnx__NodeProto *p, const int *h)
{
    int64_t ta, tb;
    float alpha;
    TT_CHECK(tt_imp_attr_int(im, p, "transA", 0, &ta));
    TT_CHECK(tt_imp_attr_int(im, p, "transB", 0, &tb));
    TT_CHECK(tt_imp_attr_float(im, p, "alpha", 1.0f, &alpha));
    if (ta || alpha != 1.0f)
        return tt_imp_fail(im, TT_ERR_UNSUPPORTED, "transA=1 or alpha != 1 is not supported");
    if (p->n_input < 9 || h[7] == TT_IMP_ABSENT)
        return tt_imp_fail(im, TT_ERR_UNSUPPORTED,
                           "QGemm without y_scale and y_zero_point (a float output) is not "
                           "supported");
    int hin[9];
    memcpy(hin, h, sizeof hin);
    if (!tb) TT_CHECK(tt_imp_transpose_const(im, h[3], "B (transB=0)", &hin[3]));
    return tt_imp_emit(im, p, TT_OP_QGEMM, 9, hin, 0, NULL);
}

static tt_status map_qlinear_add(tt_imp *im, const Onnx__NodeProto *p, const int *h)
{
    if (p->n_input != 8) return tt_imp_fail(im, TT_ERR_FORMAT, "expected 8 inputs");
    return tt_imp_emit(im, p, TT_OP_QLINEAR_ADD, 8, h, 0, NULL);
}

static tt_status map_qlinear_gap(tt_imp *im, const Onnx__NodeProto *p, const int *h)
{
    int64_t cl;
    TT_CHECK(tt_imp_attr_int(im, p, "channels_last", 0, &cl));
    if (cl) return tt_imp_fail(im, TT_ERR_UNSUPPORTED, "channels_last=1 is not supported (NCHW)");
    if (p->n_input != 5) return tt_imp_fail(im, TT_ERR_FORMAT, "expected 5 inputs");
    return tt_imp_emit(im, p, TT_OP_QLINEAR_GAP, 5, h, 0, NULL);
}

typedef tt_status (*map_fn)(tt_imp *im, const Onnx__NodeProto *p, const int *h);

static const struct {
    bool ms; /* com.microsoft, else the default domain */
    const char *op;
    map_fn fn;
    int n_required; /* leading inputs ONNX requires */
} q_ops[] = {
    {false, "QuantizeLinear", map_quantize, 2},
    {false, "DequantizeLinear", map_dequantize, 2},
    {false, "DynamicQuantizeLinear", map_dynamic_quantize, 1},
    {false, "MatMulInteger", map_matmul_integer, 2},
    {false, "ConvInteger", map_conv_integer, 2},
    {false, "Cast", map_cast, 1},
    {false, "QLinearConv", map_qlinear_conv, 8},
    {false, "QLinearMatMul", map_qlinear_matmul, 8},
    {true, "QGemm", map_qgemm, 6},
    {true, "QLinearAdd", map_qlinear_add, 8},
    {true, "QLinearGlobalAveragePool", map_qlinear_gap, 5},
};

#define N_Q_OPS (sizeof q_ops / sizeof *q_ops)

static map_fn q_op(const char *domain, const char *op, int *n_required)
{
    bool ms = domain && !strcmp(domain, "com.microsoft");
    bool dflt = !domain || !domain[0] || !strcmp(domain, "ai.onnx");
    for (size_t i = 0; i < N_Q_OPS; i++)
        if (((q_ops[i].ms && ms) || (!q_ops[i].ms && dflt)) && !strcmp(q_ops[i].op, op)) {
            *n_required = q_ops[i].n_required;
            return q_ops[i].fn;
        }
    return NULL;
}

bool tt_imp_qop_supported(const char *domain, const char *op_type, int *n_required)
{
    return q_op(domain, op_type, n_required) != NULL;
}

void tt_imp_qop_list(char *buf, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < N_Q_OPS && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "%s%s%s", q_ops[i].op,
                              q_ops[i].ms ? " (com.microsoft)" : "", i + 1 < N_Q_OPS ? ", " : "");
}

tt_status tt_imp_map_qop(tt_imp *im, const Onnx__NodeProto *p, const int *hin)
{
    int n;
    map_fn f = q_op(p->domain, p->op_type ? p->op_type : "", &n);
    if (!f) return tt_imp_fail(im, TT_ERR_STATE, "internal: no mapping");
    return f(im, p, hin);
}
