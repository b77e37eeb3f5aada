/* The device table's fixed kernels (FakeQuant, the int8 GEMM, Relu, Add, the SGD step, the
 * float32 GEMM), once for both backends: each checks its arguments, then launches its shared
 * kernel by name (kernels/shared/kernels.h) through the backend's launch. */
#include "autograd/internal.h"
#include "kernels/shared/device.h"

tt_status tt_dev_fq_forward_kernel(tt_dev *d, const tt_dev_fq *p)
{
    TT_CHECK_NULL(d, "device FakeQuant forward");
    TT_CHECK(tt_dev_check_fq(p));
    return TT_DEV_LAUNCH(d, "tt_fq_forward", p->n, TT_KBUF(p->x), TT_KBUF(p->y), TT_KBUF(p->code),
                         TT_KI64(p->n), TT_KI64(p->channels), TT_KI64(p->inner), TT_KBUF(p->scale),
                         TT_KBUF(p->zero_point), TT_KF32(p->qmin), TT_KF32(p->qmax));
}

tt_status tt_dev_fq_backward_kernel(tt_dev *d, const tt_dev_fq_bwd *p)
{
    TT_CHECK_NULL(d, "device FakeQuant backward");
    TT_CHECK(tt_dev_check_fq_bwd(p));
    return TT_DEV_LAUNCH(d, "tt_fq_backward", p->n, TT_KBUF(p->dy), TT_KBUF(p->code),
                         TT_KBUF(p->dx), TT_KI64(p->n));
}

tt_status tt_dev_qgemm_kernel(tt_dev *d, const tt_dev_qgemm *p)
{
    TT_CHECK_NULL(d, "device int8 GEMM");
    TT_CHECK(tt_dev_check_qgemm(p));
    return TT_DEV_LAUNCH(
        d, "tt_qgemm", p->m * p->n, TT_KBUF(p->w), TT_KI32(p->w_signed), TT_KI64(p->w_sm),
        TT_KI64(p->w_sk), TT_KBUF(p->w_zp), TT_KI64(p->w_zp ? p->n_wzp : 0), TT_KBUF(p->x),
        TT_KI32(p->x_signed), TT_KI64(p->x_sk), TT_KI64(p->x_sn), TT_KI32(p->x_zp), TT_KBUF(p->y),
        TT_KI64(p->y_sm), TT_KI64(p->y_sn), TT_KBUF(p->mult), TT_KI64(p->n_mult), TT_KBUF(p->bias),
        TT_KI32(p->bias != NULL), TT_KI32(p->y_zp), TT_KI32(p->qmin), TT_KI32(p->qmax),
        TT_KI64(p->m), TT_KI64(p->n), TT_KI64(p->k));
}

tt_status tt_dev_relu_forward_kernel(tt_dev *d, const tt_dev_relu *p)
{
    TT_CHECK_NULL(d, "device Relu forward");
    TT_CHECK(tt_dev_check_relu(p));
    return TT_DEV_LAUNCH(d, "tt_relu_forward", p->n, TT_KBUF(p->x), TT_KBUF(p->y), TT_KI64(p->n));
}

tt_status tt_dev_relu_backward_kernel(tt_dev *d, const tt_dev_relu_bwd *p)
{
    TT_CHECK_NULL(d, "device Relu backward");
    TT_CHECK(tt_dev_check_relu_bwd(p));
    return TT_DEV_LAUNCH(d, "tt_relu_backward", p->n, TT_KBUF(p->x), TT_KBUF(p->dy), TT_KBUF(p->dx),
                         TT_KI64(p->n));
}

tt_status tt_dev_add_forward_kernel(tt_dev *d, const tt_dev_add *p)
{
    TT_CHECK_NULL(d, "device Add forward");
    TT_CHECK(tt_dev_check_add(p));
    return TT_DEV_LAUNCH(d, "tt_add_forward", p->n, TT_KBUF(p->a), TT_KBUF(p->b), TT_KBUF(p->y),
                         TT_KI64(p->n));
}

tt_status tt_dev_add_backward_kernel(tt_dev *d, const tt_dev_add_bwd *p)
{
    TT_CHECK_NULL(d, "device Add backward");
    TT_CHECK(tt_dev_check_add_bwd(p));
    tt_dbuf *grads[2] = {p->da, p->db};
    for (int i = 0; i < 2; i++)
        if (grads[i])
            TT_CHECK(TT_DEV_LAUNCH(d, "tt_accumulate", p->n, TT_KBUF(p->dy), TT_KBUF(grads[i]),
                                   TT_KI64(p->n)));
    return TT_OK;
}

/* 1 - dampening and -lr are rounded here as autograd/optim.c rounds them. */
tt_status tt_dev_sgd_step_kernel(tt_dev *d, const tt_dev_sgd *p)
{
    TT_CHECK_NULL(d, "device SGD step");
    TT_CHECK(tt_dev_check_sgd(p));
    return TT_DEV_LAUNCH(d, "tt_sgd_step", p->n, TT_KBUF(p->p), TT_KBUF(p->grad), TT_KBUF(p->buf),
                         TT_KI32(p->buf != NULL), TT_KI64(p->n), TT_KF32(p->weight_decay),
                         TT_KF32(p->momentum), TT_KF32((float)(1.0 - (double)p->dampening)),
                         TT_KF32(-p->lr), TT_KI32(p->nesterov), TT_KI32(p->first));
}

tt_status tt_dev_sgemm_kernel(tt_dev *d, const tt_dev_sgemm *p)
{
    TT_CHECK_NULL(d, "device float32 GEMM");
    TT_CHECK(tt_dev_check_sgemm(p));
    return TT_DEV_LAUNCH(d, "tt_sgemm", p->m * p->n, TT_KI32(p->ta), TT_KI32(p->tb), TT_KI64(p->m),
                         TT_KI64(p->n), TT_KI64(p->k), TT_KF32(p->alpha), TT_KBUF(p->a),
                         TT_KI64(p->lda), TT_KBUF(p->b), TT_KI64(p->ldb), TT_KF32(p->beta),
                         TT_KBUF(p->c), TT_KI64(p->ldc));
}

tt_status tt_dev_sgemm_sb_kernel(tt_dev *d, const tt_dev_sgemm_sb *a)
{
    const tt_dev_sgemm *g = &a->g;
    int64_t outputs = g->m * g->n * (a->reduce ? 1 : a->batch);
    return TT_DEV_LAUNCH(d, "tt_sgemm_sb", outputs, TT_KI32(g->ta), TT_KI32(g->tb), TT_KI64(g->m),
                         TT_KI64(g->n), TT_KI64(g->k), TT_KF32(g->alpha), TT_KBUF(g->a),
                         TT_KI64(a->a_off), TT_KI64(g->lda), TT_KI64(a->a_bs), TT_KBUF(g->b),
                         TT_KI64(a->b_off), TT_KI64(g->ldb), TT_KI64(a->b_bs), TT_KF32(g->beta),
                         TT_KBUF(g->c), TT_KI64(a->c_off), TT_KI64(g->ldc), TT_KI64(a->c_bs),
                         TT_KI64(a->batch), TT_KI32(a->reduce));
}
