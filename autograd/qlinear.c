/* Shared checks and run-time parameters of the fused integer ops (see qlinear.h). */
#include <math.h>
#include <stdio.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "autograd/internal.h"
#include "autograd/qlinear.h"
#include "tinytrain/quant.h"
#include "tinytrain/tinytrain.h"

size_t tt_qlinear_round64(size_t b)
{
    return (b + 63) & ~(size_t)63;
}

/* The input and what it is, for messages. */
static tt_status bad_input(const tt_node *n, int idx, const char *role, const tt_tensor *t,
                           const char *want)
{
    char s[64];
    return tt_fail(TT_ERR_SHAPE, "node '%s' (%s): input %d (%s) is %s %s; expected %s", n->name,
                   tt_op_name(n->op), idx, role, tt_dtype_name(t->dtype),
                   tt_shape_str(&t->shape, s, sizeof s), want);
}

static bool one_element(const tt_tensor *t)
{
    return tt_shape_numel(&t->shape) == 1;
}

/* One element, or a vector of m when per_channel is allowed. */
static bool count_ok(const tt_tensor *t, int64_t m, bool per_channel)
{
    return one_element(t) || (per_channel && t->shape.ndim == 1 && t->shape.dims[0] == m);
}

static tt_status check_scale(const tt_node *n, const tt_tensor *const *in, int idx,
                             const char *role, int64_t m, bool per_channel)
{
    if (!in[idx])
        return tt_fail(TT_ERR_INVALID_ARG, "node '%s' (%s): input %d (%s) is required", n->name,
                       tt_op_name(n->op), idx, role);
    if (in[idx]->dtype != TT_F32 || !count_ok(in[idx], m, per_channel)) {
        char want[64];
        snprintf(want, sizeof want, "float32 with one element%s", per_channel ? " or [M]" : "");
        return bad_input(n, idx, role, in[idx], want);
    }
    return TT_OK;
}

/* A zero point: absent, or the type of its tensor (dt) with one (or m) elements. */
static tt_status check_zp(const tt_node *n, const tt_tensor *const *in, int idx, const char *role,
                          tt_dtype dt, int64_t m, bool per_channel)
{
    if (idx < 0 || !in[idx]) return TT_OK;
    if (in[idx]->dtype != dt || !count_ok(in[idx], m, per_channel)) {
        char want[80];
        snprintf(want, sizeof want, "%s (the type of its tensor) with one element%s",
                 tt_dtype_name(dt), per_channel ? " or [M]" : "");
        return bad_input(n, idx, role, in[idx], want);
    }
    return TT_OK;
}

static bool byte_type(tt_dtype dt)
{
    return dt == TT_U8 || dt == TT_I8;
}

tt_status tt_qlinear_check(const tt_node *n, const tt_tensor *const *in, const tt_qlinear_layout *l,
                           int64_t m, tt_dtype *y_dtype)
{
    if (!in[l->x] || !byte_type(in[l->x]->dtype))
        return in[l->x] ? bad_input(n, l->x, "input", in[l->x], "uint8 or int8")
                        : tt_fail(TT_ERR_INVALID_ARG, "node '%s' (%s): input %d is required",
                                  n->name, tt_op_name(n->op), l->x);
    if (!in[l->w] || !byte_type(in[l->w]->dtype))
        return in[l->w] ? bad_input(n, l->w, "weight", in[l->w], "int8 or uint8")
                        : tt_fail(TT_ERR_INVALID_ARG, "node '%s' (%s): input %d is required",
                                  n->name, tt_op_name(n->op), l->w);
    TT_CHECK(check_scale(n, in, l->xs, "input scale", m, false));
    TT_CHECK(check_scale(n, in, l->ws, "weight scale", m, true));
    TT_CHECK(check_scale(n, in, l->ys, "output scale", m, false));
    TT_CHECK(check_zp(n, in, l->xzp, "input zero point", in[l->x]->dtype, m, false));
    TT_CHECK(check_zp(n, in, l->wzp, "weight zero point", in[l->w]->dtype, m, true));
    const tt_tensor *yzp = in[l->yzp];
    if (yzp && (!byte_type(yzp->dtype) || !one_element(yzp)))
        return bad_input(n, l->yzp, "output zero point", yzp, "uint8 or int8 with one element");
    *y_dtype = yzp ? yzp->dtype : TT_U8;
    if (l->bias >= 0 && in[l->bias]) {
        const tt_tensor *b = in[l->bias];
        if (b->dtype != TT_I32 || b->shape.ndim != 1 || b->shape.dims[0] != m) {
            char want[64];
            snprintf(want, sizeof want, "int32 [%lld] (one per output channel)", (long long)m);
            return bad_input(n, l->bias, "bias", b, want);
        }
    }
    int64_t relu = tt_node_attr_int(n, "fused_relu", 0);
    if (relu != 0 && relu != 1)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "node '%s' (%s): attribute fused_relu is %lld; use 0 or 1", n->name,
                       tt_op_name(n->op), (long long)relu);
    return TT_OK;
}

size_t tt_qlinear_params_bytes(int64_t m)
{
    return tt_qlinear_round64((size_t)m * sizeof(float)) +
           tt_qlinear_round64((size_t)m * sizeof(int32_t));
}

/* Element i (or 0 for a one-element tensor) of a zero point; absent is 0. */
static int32_t zp_at(const tt_tensor *t, int64_t i)
{
    if (!t) return 0;
    if (one_element(t)) i = 0;
    return t->dtype == TT_I8 ? (int32_t)((const int8_t *)t->data)[i]
                             : (int32_t)((const uint8_t *)t->data)[i];
}

static bool scale_ok(float s)
{
    return isfinite(s) && s > 0.0f;
}

static tt_status bad_scale(const tt_op_ctx *c, const char *what, int64_t i, float v)
{
    return tt_fail(TT_ERR_NUMERIC,
                   "node '%s' (%s): %s[%lld] is %g; scales must be positive and finite (check the "
                   "model's quantisation parameters)",
                   c->node->name, tt_op_name(c->node->op), what, (long long)i, (double)v);
}

tt_status tt_qlinear_read(const tt_op_ctx *c, const tt_qlinear_layout *l, int64_t m, void *buf,
                          tt_qlinear_params *p)
{
    p->multiplier = buf;
    p->w_zp = (int32_t *)((char *)buf + tt_qlinear_round64((size_t)m * sizeof(float)));
    const float xs = tt_tensor_f32(c->in[l->xs])[0], ys = tt_tensor_f32(c->in[l->ys])[0];
    const tt_tensor *wst = c->in[l->ws];
    const float *ws = tt_tensor_f32(wst);
    bool ws_one = one_element(wst);
    if (!scale_ok(xs)) return bad_scale(c, "input scale", 0, xs);
    if (!scale_ok(ys)) return bad_scale(c, "output scale", 0, ys);
    for (int64_t i = 0; i < m; i++) {
        float w = ws[ws_one ? 0 : i];
        if (!scale_ok(w)) return bad_scale(c, "weight scale", ws_one ? 0 : i, w);
        p->multiplier[i] = tt_requant_multiplier(xs, w, ys);
        if (!scale_ok(p->multiplier[i]))
            return tt_fail(TT_ERR_NUMERIC,
                           "node '%s' (%s): requantisation multiplier %g * %g / %g for output "
                           "channel %lld is not a positive finite float",
                           c->node->name, tt_op_name(c->node->op), (double)xs, (double)w,
                           (double)ys, (long long)i);
        p->w_zp[i] = zp_at(l->wzp >= 0 ? c->in[l->wzp] : NULL, i);
    }
    const tt_tensor *yzp = c->in[l->yzp];
    p->x_signed = c->in[l->x]->dtype == TT_I8;
    p->w_signed = c->in[l->w]->dtype == TT_I8;
    p->y_signed = yzp && yzp->dtype == TT_I8;
    p->x_zp = zp_at(l->xzp >= 0 ? c->in[l->xzp] : NULL, 0);
    p->y_zp = zp_at(yzp, 0);
    tt_qrange r = tt_quant_range(p->y_signed ? TT_QTYPE_S8 : TT_QTYPE_U8, false, false);
    p->qmin = r.qmin;
    p->qmax = r.qmax;
    /* Relu then Q: quantize(max(v, 0)) = max(quantize(v), quantize(0)) = max(.., y_zp), since
     * quantisation is monotonic. */
    if (tt_node_attr_int(c->node, "fused_relu", 0) && p->y_zp > p->qmin) p->qmin = p->y_zp;
    return tt_qgemm_isa_select(&p->isa);
}

tt_qgemm_out tt_qlinear_out(const tt_qlinear_params *p, const int32_t *bias, int64_t m0,
                            int64_t rows, void *data, int64_t sm, int64_t sn)
{
    return (tt_qgemm_out){.data = data,
                          .is_signed = p->y_signed,
                          .sm = sm,
                          .sn = sn,
                          .multiplier = p->multiplier + m0,
                          .n_mult = rows, /* the multipliers are expanded per channel */
                          .bias = bias ? bias + m0 : NULL,
                          .zp = p->y_zp,
                          .qmin = p->qmin,
                          .qmax = p->qmax};
}

int tt_qlinear_threads(void)
{
    int t = tt_get_num_threads();
    if (t < 1) t = 1;
    return t > TT_QLINEAR_MAX_THREADS ? TT_QLINEAR_MAX_THREADS : t;
}

int tt_qlinear_threads_fit(size_t left, size_t per_thread)
{
    int t = tt_qlinear_threads();
    if (per_thread == 0) return t;
    size_t fit = left / per_thread;
    if (fit < 1) fit = 1; /* the caller planned at least one */
    return (size_t)t < fit ? t : (int)fit;
}

int tt_qlinear_thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* What c->saved starts with. All zero in a fresh executor: nothing packed. */
typedef struct saved_head {
    int packed;
    tt_qgemm_isa isa; /* asked for (a pack may fall back from VNNI to AVX2) */
    const void *w;    /* the weight data packed */
} saved_head;

size_t tt_qlinear_saved_bytes(int64_t groups, size_t pack_bytes)
{
    return tt_qlinear_round64(sizeof(saved_head)) +
           tt_qlinear_round64((size_t)groups * sizeof(tt_qgemm_packed)) +
           (size_t)groups * tt_qlinear_round64(pack_bytes);
}

const tt_qgemm_packed *tt_qlinear_packs(const tt_op_ctx *c, const tt_qlinear_params *q,
                                        int64_t groups, size_t pack_bytes, const void *w,
                                        tt_qlinear_pack_fn pack)
{
    saved_head *h = c->saved;
    tt_qgemm_packed *d = (tt_qgemm_packed *)((char *)c->saved + tt_qlinear_round64(sizeof *h));
    if (h->packed && h->isa == q->isa && h->w == w) return d;
    char *buf = (char *)d + tt_qlinear_round64((size_t)groups * sizeof(tt_qgemm_packed));
    for (int64_t g = 0; g < groups; g++)
        pack(c, q, g, buf + (size_t)g * tt_qlinear_round64(pack_bytes), &d[g]);
    *h = (saved_head){.packed = 1, .isa = q->isa, .w = w};
    return d;
}

size_t tt_qlinear_dense_saved(int64_t m, int64_t k)
{
    return tt_qlinear_saved_bytes(1, tt_qgemm_pack_size(m, k));
}

size_t tt_qlinear_dense_scratch(int64_t m, int64_t k)
{
    return tt_qlinear_params_bytes(m) +
           (size_t)tt_qlinear_threads() * tt_qlinear_round64(tt_qgemm_work_size(k));
}

/* The dense weight's element (m, k) at w_sm * m + w_sk * k: the strides ride in the node's
 * shapes, so the pack callback recovers them from the op. */
static void dense_pack(const tt_op_ctx *c, const tt_qlinear_params *q, int64_t group, void *buf,
                       tt_qgemm_packed *out)
{
    (void)group;
    const tt_tensor *b = c->in[3];                     /* the weight is input 3 in both ops */
    bool matmul = c->node->op == TT_OP_QLINEAR_MATMUL; /* b [K, M]; QGemm's b is [M, K] */
    int64_t m = matmul ? b->shape.dims[1] : b->shape.dims[0];
    int64_t k = matmul ? b->shape.dims[0] : b->shape.dims[1];
    tt_qgemm_wdesc wd = {.m = m,
                         .k = k,
                         .data = b->data,
                         .is_signed = q->w_signed,
                         .sm = matmul ? 1 : k,
                         .sk = matmul ? m : 1,
                         .zp = q->w_zp,
                         .n_zp = m};
    tt_qgemm_pack(q->isa, &wd, buf, out);
}

tt_status tt_qlinear_dense_forward(tt_op_ctx *c, const tt_qlinear_layout *l, int64_t m)
{
    const tt_tensor *a = c->in[l->x];
    const int64_t n = a->shape.dims[0], k = a->shape.dims[1];
    char *s = c->scratch, *area = s + tt_qlinear_params_bytes(m);
    const size_t work = tt_qlinear_round64(tt_qgemm_work_size(k));
    tt_qlinear_params q;
    TT_CHECK(tt_qlinear_read(c, l, m, s, &q));
    const tt_qgemm_packed *pw =
        tt_qlinear_packs(c, &q, 1, tt_qgemm_pack_size(m, k), c->in[l->w]->data, dense_pack);
    tt_qgemm_xdesc xd = {.data = a->data, .is_signed = q.x_signed, .sk = 1, .sn = k, .zp = q.x_zp};
    const int32_t *bias = l->bias >= 0 && c->in[l->bias] ? c->in[l->bias]->data : NULL;
    tt_qgemm_out yd = tt_qlinear_out(&q, bias, 0, m, c->out[0]->data, 1, m);
    /* Blocks of 32 batch rows: whole tiles for both vector paths. */
    const int64_t blk = 32, nb = (n + blk - 1) / blk;
    int threads = tt_qlinear_threads_fit(c->scratch_bytes - (size_t)(area - s), work);
#pragma omp parallel for num_threads(threads) schedule(static) if (nb > 1)
    for (int64_t b = 0; b < nb; b++) {
        int64_t n1 = (b + 1) * blk < n ? (b + 1) * blk : n;
        tt_qgemm_cols(pw, &xd, &yd, b * blk, n1, area + (size_t)tt_qlinear_thread_id() * work);
    }
    return TT_OK;
}
