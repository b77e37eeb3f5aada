/* Argument checks shared by the device backends (device.h): every index a kernel will touch is
 * proven inside its buffer on the host first, because a device has no bounds checks. */
#include <inttypes.h>
#include <math.h>
#include "autograd/internal.h"
#include "kernels/shared/device.h"

/* The largest element index of a strided 2-D view [rows, cols] plus one, i.e. the elements the
 * buffer must hold; -1 on a negative stride or overflow. */
static int64_t extent2(int64_t rows, int64_t cols, int64_t s_row, int64_t s_col)
{
    if (rows == 0 || cols == 0) return 0;
    if (s_row < 0 || s_col < 0) return -1;
    if ((rows - 1) > 0 && s_row > (INT64_MAX / 4) / (rows - 1)) return -1;
    if ((cols - 1) > 0 && s_col > (INT64_MAX / 4) / (cols - 1)) return -1;
    return (rows - 1) * s_row + (cols - 1) * s_col + 1;
}

static tt_status need(const char *op, const char *what, const tt_dbuf *b, int64_t elems,
                      size_t elem_size)
{
    if (elems < 0)
        return tt_fail(TT_ERR_INVALID_ARG, "%s: the strides of %s are negative or overflow", op,
                       what);
    if (elems == 0) return TT_OK;
    if (!b || !b->impl) return tt_fail(TT_ERR_INVALID_ARG, "%s: buffer %s is NULL", op, what);
    if ((uint64_t)elems > b->bytes / elem_size)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "%s: %s needs %" PRId64 " elements of %zu bytes but its device buffer "
                       "holds %zu bytes",
                       op, what, elems, elem_size, b->bytes);
    return TT_OK;
}

tt_status tt_dev_check_fq(const tt_dev_fq *a)
{
    const char *op = "device FakeQuant forward";
    TT_CHECK_NULL(a, op);
    if (a->n < 0 || a->channels < 1 || a->inner < 1 || a->n % (a->channels * a->inner) != 0)
        return tt_fail(TT_ERR_SHAPE,
                       "%s: %" PRId64 " elements are not [outer, %" PRId64 " channels, %" PRId64
                       " inner]",
                       op, a->n, a->channels, a->inner);
    if (!(a->qmin <= 0.0f && a->qmax >= 0.0f && a->qmin < a->qmax))
        return tt_fail(TT_ERR_INVALID_ARG, "%s: qmin %g / qmax %g need qmin <= 0 <= qmax", op,
                       (double)a->qmin, (double)a->qmax);
    TT_CHECK(need(op, "x", a->x, a->n, sizeof(float)));
    TT_CHECK(need(op, "y", a->y, a->n, sizeof(float)));
    TT_CHECK(need(op, "code", a->code, a->n, 1));
    TT_CHECK(need(op, "scale", a->scale, a->channels, sizeof(float)));
    return need(op, "zero_point", a->zero_point, a->channels, sizeof(float));
}

tt_status tt_dev_check_fq_bwd(const tt_dev_fq_bwd *a)
{
    const char *op = "device FakeQuant backward";
    TT_CHECK_NULL(a, op);
    if (a->n < 0) return tt_fail(TT_ERR_SHAPE, "%s: %" PRId64 " elements", op, a->n);
    TT_CHECK(need(op, "dy", a->dy, a->n, sizeof(float)));
    TT_CHECK(need(op, "code", a->code, a->n, 1));
    return need(op, "dx", a->dx, a->n, sizeof(float));
}

static tt_status check_qgemm_values(const char *op, const tt_dev_qgemm *a)
{
    int32_t lo = a->y_signed ? -128 : 0, hi = a->y_signed ? 127 : 255;
    if (a->qmin < lo || a->qmax > hi || a->qmin > a->qmax || a->y_zp < lo || a->y_zp > hi)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "%s: output range [%d, %d] with zero point %d does not fit %s", op, a->qmin,
                       a->qmax, a->y_zp, a->y_signed ? "int8" : "uint8");
    if ((a->x_signed && (a->x_zp < -128 || a->x_zp > 127)) ||
        (!a->x_signed && (a->x_zp < 0 || a->x_zp > 255)))
        return tt_fail(TT_ERR_INVALID_ARG, "%s: x zero point %d is outside %s", op, a->x_zp,
                       a->x_signed ? "int8" : "uint8");
    if (a->n_mult != 1 && a->n_mult != a->m)
        return tt_fail(TT_ERR_SHAPE, "%s: %" PRId64 " multipliers for %" PRId64 " rows (1 or M)",
                       op, a->n_mult, a->m);
    if (a->w_zp && a->n_wzp != 1 && a->n_wzp != a->m)
        return tt_fail(TT_ERR_SHAPE,
                       "%s: %" PRId64 " weight zero points for %" PRId64 " rows (1 or M)", op,
                       a->n_wzp, a->m);
    return TT_OK;
}

tt_status tt_dev_check_qgemm(const tt_dev_qgemm *a)
{
    const char *op = "device int8 GEMM";
    TT_CHECK_NULL(a, op);
    if (a->m < 0 || a->n < 0 || a->k < 0)
        return tt_fail(TT_ERR_SHAPE, "%s: M %" PRId64 ", N %" PRId64 ", K %" PRId64, op, a->m, a->n,
                       a->k);
    TT_CHECK(check_qgemm_values(op, a));
    TT_CHECK(need(op, "W", a->w, extent2(a->m, a->k, a->w_sm, a->w_sk), 1));
    TT_CHECK(need(op, "X", a->x, extent2(a->k, a->n, a->x_sk, a->x_sn), 1));
    TT_CHECK(need(op, "Y", a->y, extent2(a->m, a->n, a->y_sm, a->y_sn), 1));
    TT_CHECK(need(op, "multiplier", a->mult, a->m ? a->n_mult : 0, sizeof(float)));
    if (a->w_zp) TT_CHECK(need(op, "weight zero point", a->w_zp, a->n_wzp, sizeof(int32_t)));
    if (a->bias) TT_CHECK(need(op, "bias", a->bias, a->m, sizeof(int32_t)));
    return TT_OK;
}

/* n >= 0 and each named buffer holds n floats (a NULL entry of optional is allowed). */
static tt_status check_floats(const char *op, int64_t n, int count, const char *const *names,
                              const tt_dbuf *const *bufs, const bool *optional)
{
    if (n < 0) return tt_fail(TT_ERR_SHAPE, "%s: %" PRId64 " elements", op, n);
    for (int i = 0; i < count; i++)
        if (bufs[i] || !optional || !optional[i])
            TT_CHECK(need(op, names[i], bufs[i], n, sizeof(float)));
    return TT_OK;
}

tt_status tt_dev_check_relu(const tt_dev_relu *a)
{
    TT_CHECK_NULL(a, "device Relu forward");
    return check_floats("device Relu forward", a->n, 2, (const char *const[]){"x", "y"},
                        (const tt_dbuf *const[]){a->x, a->y}, NULL);
}

tt_status tt_dev_check_relu_bwd(const tt_dev_relu_bwd *a)
{
    TT_CHECK_NULL(a, "device Relu backward");
    return check_floats("device Relu backward", a->n, 3, (const char *const[]){"x", "dy", "dx"},
                        (const tt_dbuf *const[]){a->x, a->dy, a->dx}, NULL);
}

tt_status tt_dev_check_add(const tt_dev_add *a)
{
    TT_CHECK_NULL(a, "device Add forward");
    return check_floats("device Add forward", a->n, 3, (const char *const[]){"a", "b", "y"},
                        (const tt_dbuf *const[]){a->a, a->b, a->y}, NULL);
}

tt_status tt_dev_check_add_bwd(const tt_dev_add_bwd *a)
{
    TT_CHECK_NULL(a, "device Add backward");
    return check_floats("device Add backward", a->n, 3, (const char *const[]){"dy", "da", "db"},
                        (const tt_dbuf *const[]){a->dy, a->da, a->db},
                        (const bool[]){false, true, true});
}

/* The hyperparameters tt_optim_create accepts for SGD, and the buffer that goes with them. */
static tt_status check_sgd_values(const char *op, const tt_dev_sgd *a)
{
    float v[3] = {a->lr, a->momentum, a->weight_decay};
    static const char *const names[3] = {"learning rate", "momentum", "weight_decay"};
    for (int i = 0; i < 3; i++)
        if (!(v[i] >= 0.0f) || !isfinite(v[i]))
            return tt_fail(TT_ERR_INVALID_ARG, "%s: %s %g must be finite and >= 0", op, names[i],
                           (double)v[i]);
    if (!isfinite(a->dampening))
        return tt_fail(TT_ERR_INVALID_ARG, "%s: dampening %g must be finite", op,
                       (double)a->dampening);
    if (a->nesterov && (a->momentum <= 0.0f || a->dampening != 0.0f))
        return tt_fail(TT_ERR_INVALID_ARG, "%s: Nesterov needs momentum > 0 and dampening 0", op);
    if ((a->buf != NULL) != (a->momentum != 0.0f))
        return tt_fail(TT_ERR_INVALID_ARG,
                       "%s: momentum %g %s a momentum buffer (pass one exactly when momentum "
                       "!= 0)",
                       op, (double)a->momentum, a->buf ? "with" : "without");
    return TT_OK;
}

tt_status tt_dev_check_sgd(const tt_dev_sgd *a)
{
    const char *op = "device SGD step";
    TT_CHECK_NULL(a, op);
    TT_CHECK(check_sgd_values(op, a));
    return check_floats(op, a->n, 3, (const char *const[]){"p", "grad", "momentum buffer"},
                        (const tt_dbuf *const[]){a->p, a->grad, a->buf},
                        (const bool[]){false, false, true});
}

/* A row-major [rows, cols] operand with row stride ld: ld >= cols, as BLAS requires. */
static tt_status check_matrix(const char *op, const char *what, const tt_dbuf *b, int64_t rows,
                              int64_t cols, int64_t ld)
{
    if (ld < (cols > 1 ? cols : 1))
        return tt_fail(TT_ERR_SHAPE,
                       "%s: %s is [%" PRId64 ", %" PRId64 "] but its row stride is %" PRId64
                       " (needs >= %" PRId64 ")",
                       op, what, rows, cols, ld, cols > 1 ? cols : 1);
    return need(op, what, b, extent2(rows, cols, ld, 1), sizeof(float));
}

tt_status tt_dev_check_sgemm(const tt_dev_sgemm *a)
{
    const char *op = "device float32 GEMM";
    TT_CHECK_NULL(a, op);
    if (a->m < 0 || a->n < 0 || a->k < 0)
        return tt_fail(TT_ERR_SHAPE, "%s: M %" PRId64 ", N %" PRId64 ", K %" PRId64, op, a->m, a->n,
                       a->k);
    TT_CHECK(check_matrix(op, "A", a->a, a->ta ? a->k : a->m, a->ta ? a->m : a->k, a->lda));
    TT_CHECK(check_matrix(op, "B", a->b, a->tb ? a->n : a->k, a->tb ? a->k : a->n, a->ldb));
    return check_matrix(op, "C", a->c, a->m, a->n, a->ldc);
}

/* A strided batch of matrices: the last one's end, from offset off, within the buffer. */
static tt_status check_batch(const char *op, const char *what, const tt_dbuf *b, int64_t rows,
                             int64_t cols, int64_t ld, int64_t off, int64_t bs, int64_t batch)
{
    if (ld < (cols > 1 ? cols : 1))
        return tt_fail(TT_ERR_SHAPE,
                       "%s: %s is [%" PRId64 ", %" PRId64 "] but its row stride is %" PRId64, op,
                       what, rows, cols, ld);
    int64_t one = extent2(rows, cols, ld, 1), last = extent2(batch, 1, bs, 1);
    if (one == 0) return TT_OK;
    if (off < 0 || one < 0 || last < 0 || off > INT64_MAX / 4 - one - last)
        return need(op, what, b, -1, sizeof(float));
    return need(op, what, b, off + last - 1 + one, sizeof(float));
}

tt_status tt_dev_check_sgemm_sb(const tt_dev_sgemm_sb *a)
{
    const char *op = "device batched float32 GEMM";
    TT_CHECK_NULL(a, op);
    const tt_dev_sgemm *g = &a->g;
    if (g->m < 0 || g->n < 0 || g->k < 0 || a->batch < 1)
        return tt_fail(TT_ERR_SHAPE,
                       "%s: M %" PRId64 ", N %" PRId64 ", K %" PRId64 ", batch %" PRId64, op, g->m,
                       g->n, g->k, a->batch);
    TT_CHECK(check_batch(op, "A", g->a, g->ta ? g->k : g->m, g->ta ? g->m : g->k, g->lda, a->a_off,
                         a->a_bs, a->batch));
    TT_CHECK(check_batch(op, "B", g->b, g->tb ? g->n : g->k, g->tb ? g->k : g->n, g->ldb, a->b_off,
                         a->b_bs, a->batch));
    return check_batch(op, "C", g->c, g->m, g->n, g->ldc, a->c_off, a->reduce ? 0 : a->c_bs,
                       a->reduce ? 1 : a->batch);
}

tt_status tt_dev_fail_nomem(const tt_dev *d, size_t bytes, const char *detail)
{
    return tt_fail(TT_ERR_NOMEM,
                   "out of device memory: %zu bytes requested on %s device %d '%s' (%.2f GiB of "
                   "global memory)%s%s; use smaller batches or another device",
                   bytes, tt_backend_kind_name(d->info.kind), d->info.index, d->info.name,
                   (double)d->info.global_mem / (1024.0 * 1024.0 * 1024.0), detail ? ": " : "",
                   detail ? detail : "");
}

tt_status tt_dev_check_range(const char *what, const tt_dbuf *b, size_t off, size_t bytes)
{
    if (!b || !b->impl) return tt_fail(TT_ERR_INVALID_ARG, "%s: the device buffer is NULL", what);
    if (off > b->bytes || bytes > b->bytes - off)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "%s: bytes %zu..%zu requested but the device buffer holds %zu", what, off,
                       off + bytes, b->bytes);
    return TT_OK;
}

tt_status tt_dev_launch(tt_dev *d, const char *name, int64_t items, int nargs, const tt_karg *args)
{
    TT_CHECK_NULL(d, "device kernel launch");
    TT_CHECK_NULL(name, "device kernel launch");
    if (items < 0 || nargs < 0 || nargs > 32 || (nargs > 0 && !args))
        return tt_fail(TT_ERR_INVALID_ARG,
                       "device kernel %s: %lld items with %d arguments is not a launch", name,
                       (long long)items, nargs);
    for (int i = 0; i < nargs; i++)
        if (args[i].kind < TT_KARG_BUF || args[i].kind > TT_KARG_F32 ||
            (args[i].kind == TT_KARG_BUF && args[i].buf && !args[i].buf->impl))
            return tt_fail(TT_ERR_INVALID_ARG, "device kernel %s: argument %d is malformed", name,
                           i);
    if (items == 0) return TT_OK;
    return d->ops->launch(d, name, items, nargs, args);
}
