/* QLinearAdd (com.microsoft, inference only): C = quantize_C(dequantize_A(a) + dequantize_B(b))
 * with numpy broadcasting. Inputs a, a_scale, a_zp, b, b_scale, b_zp, c_scale, c_zp?; a, b and
 * the zero points share one type (uint8 or int8), which is C's; scales are single float32
 * values; an absent zero point is 0. Attr fused_relu (0/1) clamps C below at c_zp (a Relu
 * between the Add and its QuantizeLinear).
 *
 * The arithmetic is ONNX Runtime's x86-64 AVX2 kernel (MLAS QLinearAdd, the one ORT runs on
 * any AVX2 CPU), which folds the zero points into one float32 constant and uses fused
 * multiply-adds, each rounded once:
 *   ra = a_scale / c_scale, rb = b_scale / c_scale, k = c_zp - (ra * a_zp + rb * b_zp)
 *   c = saturate(round_half_even(fma(a, ra, fma(b, rb, k))))
 * and, where one operand is constant along the innermost run (a scalar, or a per-channel
 * operand over H x W), folds that operand into the constant first with a plain multiply and
 * add: k' = k + rb * b, c = fma(a, ra, k'). Evaluating the same sum with separate roundings
 * (ra * a + rb * b + k) is one step off on about 1 element in 1,300 of a residual block's Add
 * (the shipped filter), and the textbook form round(((a - a_zp) a_scale + (b - b_zp) b_scale) /
 * c_scale) + c_zp on ~25% of elements when the scales are powers of two. fmaf is exact on every
 * platform (hardware or glibc's emulation), so the result does not depend on the CPU. */
#include <math.h>
#include "autograd/broadcast.h"
#include "autograd/internal.h"
#include "autograd/op.h"
#include "autograd/qlinear.h"
#include "autograd/qparam.h"

/* Where the scales of a, b and c sit; each zero point follows its scale. */
static const int qadd_scale_idx[3] = {1, 4, 6};

static tt_status qadd_infer(const tt_node *n, const tt_tensor *const *in, tt_tensor *out)
{
    static const char *const names[8] = {"a",       "a_scale",      "a_zero_point", "b",
                                         "b_scale", "b_zero_point", "c_scale",      "c_zero_point"};
    if (!in[0] || !in[3])
        return tt_fail(TT_ERR_INVALID_ARG, "node '%s' (QLinearAdd): input %d (%s) is missing",
                       n->name, in[0] ? 3 : 0, in[0] ? "b" : "a");
    tt_dtype dt = in[0]->dtype;
    if (!tt_qp_is_byte(dt) || in[3]->dtype != dt)
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (QLinearAdd): a is %s and b is %s; both must be uint8 or both "
                       "int8",
                       n->name, tt_dtype_name(dt), tt_dtype_name(in[3]->dtype));
    for (int k = 0; k < 3; k++) {
        int64_t count;
        int si = qadd_scale_idx[k];
        TT_CHECK(tt_qp_check_scale(n, in[si], si, names[si], false, &count));
        TT_CHECK(tt_qp_check_zp(n, in[si + 1], si + 1, names[si + 1], dt, 1));
    }
    int64_t relu = tt_node_attr_int(n, "fused_relu", 0);
    if (relu != 0 && relu != 1)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "node '%s' (QLinearAdd): fused_relu is %lld; expected 0 or 1", n->name,
                       (long long)relu);
    out[0].dtype = dt;
    return tt_bcast_infer(n, &in[0]->shape, &in[3]->shape, &out[0].shape);
}

static inline int64_t qadd_off(const tt_bcast *p, int w, int64_t o)
{
    int64_t i2 = o % p->dims[2], t = o / p->dims[2];
    return t / p->dims[1] * p->st[w][0] + t % p->dims[1] * p->st[w][1] + i2 * p->st[w][2];
}

typedef tt_qadd_coef qadd_coef;

static inline float qadd_load(const uint8_t *p, bool sgn, int64_t i)
{
    return (float)(sgn ? (int32_t)(p[i] ^ 0x80u) - 128 : (int32_t)p[i]);
}

static inline uint8_t qadd_store(const qadd_coef *q, float v)
{
    int32_t r = tt_quant_round_clamp(v, 0, q->lo, q->hi);
    return (uint8_t)(q->sgn ? (uint32_t)r & 0xffu : (uint32_t)r);
}

/* One inner run of n outputs; a (b) advances by sa (sb) elements, 0 when it is constant. */
static void qadd_run(const qadd_coef *q, const uint8_t *a, int64_t sa, const uint8_t *b, int64_t sb,
                     int64_t n, uint8_t *y)
{
    if (sb == 0) {
        float k = q->k + q->rb * qadd_load(b, q->sgn, 0);
        for (int64_t j = 0; j < n; j++)
            y[j] = qadd_store(q, fmaf(qadd_load(a, q->sgn, j * sa), q->ra, k));
    } else if (sa == 0) {
        float k = q->k + q->ra * qadd_load(a, q->sgn, 0);
        for (int64_t j = 0; j < n; j++)
            y[j] = qadd_store(q, fmaf(qadd_load(b, q->sgn, j * sb), q->rb, k));
    } else {
        for (int64_t j = 0; j < n; j++) {
            float t = fmaf(qadd_load(b, q->sgn, j * sb), q->rb, q->k);
            y[j] = qadd_store(q, fmaf(qadd_load(a, q->sgn, j * sa), q->ra, t));
        }
    }
}

tt_status tt_qadd_coefs(const tt_node *n, const tt_tensor *const *in, tt_qadd_coef *q)
{
    for (int k = 0; k < 3; k++) {
        int si = qadd_scale_idx[k];
        TT_CHECK(tt_qp_check_scale_values(n, in[si], si, "scale"));
    }
    float as = tt_tensor_f32(in[1])[0], bs = tt_tensor_f32(in[4])[0];
    float cs = tt_tensor_f32(in[6])[0];
    int32_t az = tt_qp_zp(in[2], 0), bz = tt_qp_zp(in[5], 0);
    int32_t cz = tt_qp_zp(in[7], 0);
    tt_qrange r = tt_qp_range(in[0]->dtype);
    q->ra = as / cs;
    q->rb = bs / cs;
    float za = q->ra * (float)az, zb = q->rb * (float)bz; /* rounded apart, as ORT does */
    q->k = (float)cz - (za + zb);
    q->lo = tt_node_attr_int(n, "fused_relu", 0) ? cz : r.qmin;
    q->hi = r.qmax;
    q->sgn = in[0]->dtype == TT_I8;
    return TT_OK;
}

static tt_status qadd_forward(tt_op_ctx *c)
{
    qadd_coef q;
    TT_CHECK(tt_qadd_coefs(c->node, (const tt_tensor *const *)c->in, &q));
    tt_bcast p;
    tt_bcast_plan(&c->in[0]->shape, &c->in[3]->shape, &p);
    const uint8_t *a = c->in[0]->data, *b = c->in[3]->data;
    uint8_t *y = c->out[0]->data;
    int64_t inner = p.dims[3], outer = p.dims[0] * p.dims[1] * p.dims[2];
    int64_t s0 = p.st[0][3], s1 = p.st[1][3];
#pragma omp parallel for if (p.numel > 65536)
    for (int64_t o = 0; o < outer; o++) {
        const uint8_t *ap = a + qadd_off(&p, 0, o), *bp = b + qadd_off(&p, 1, o);
        qadd_run(&q, ap, s0, bp, s1, inner, y + o * inner);
    }
    return TT_OK;
}

const tt_op_def tt_op_qlinear_add = {
    .name = "QLinearAdd",
    .min_in = 7,
    .max_in = 8,
    .n_out = 1,
    .infer = qadd_infer,
    .forward = qadd_forward,
};
