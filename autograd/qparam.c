/* Scale / zero-point rules of the quantised inference ops (see qparam.h). */
#include "autograd/qparam.h"
#include <math.h>
#include <stdio.h>
#include "autograd/internal.h"
#include "autograd/op.h"

tt_qtype tt_qp_qtype(tt_dtype dt)
{
    return dt == TT_U8 ? TT_QTYPE_U8 : dt == TT_I8 ? TT_QTYPE_S8 : TT_QTYPE_S32;
}

tt_qrange tt_qp_range(tt_dtype dt)
{
    if (dt != TT_U8 && dt != TT_I8 && dt != TT_I32) return (tt_qrange){0, 0};
    return tt_quant_range(tt_qp_qtype(dt), false, false);
}

/* Rank 0, or rank 1 (any length): the shapes a scale or zero point may have. */
static bool qp_shape_ok(const tt_shape *s)
{
    return s->ndim == 0 || (s->ndim == 1 && s->dims[0] >= 1);
}

static int64_t qp_count(const tt_shape *s)
{
    return s->ndim == 0 ? 1 : s->dims[0];
}

tt_status tt_qp_check_scale(const tt_node *n, const tt_tensor *s, int idx, const char *what,
                            bool per_axis, int64_t *count)
{
    if (!s)
        return tt_fail(TT_ERR_INVALID_ARG, "node '%s' (%s): input %d (%s) is missing", n->name,
                       tt_op_name(n->op), idx, what);
    if (s->dtype != TT_F32)
        return tt_fail(TT_ERR_SHAPE, "node '%s' (%s): input %d (%s) is %s; a scale must be float32",
                       n->name, tt_op_name(n->op), idx, what, tt_dtype_name(s->dtype));
    char b[64];
    if (!qp_shape_ok(&s->shape))
        return tt_fail(TT_ERR_SHAPE, "node '%s' (%s): input %d (%s) has shape %s; expected [1]%s",
                       n->name, tt_op_name(n->op), idx, what, tt_shape_str(&s->shape, b, sizeof b),
                       per_axis ? " (per tensor) or [C] (per channel)" : " (a single value)");
    *count = qp_count(&s->shape);
    if (*count > 1 && !per_axis)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "node '%s' (%s): input %d (%s) has shape %s; this op supports only a "
                       "per-tensor scale [1], not per-channel ones",
                       n->name, tt_op_name(n->op), idx, what, tt_shape_str(&s->shape, b, sizeof b));
    return TT_OK;
}

tt_status tt_qp_check_zp(const tt_node *n, const tt_tensor *z, int idx, const char *what,
                         tt_dtype dt, int64_t count)
{
    if (!z) return TT_OK;
    if (z->dtype != dt)
        return tt_fail(TT_ERR_SHAPE, "node '%s' (%s): input %d (%s) is %s; expected %s", n->name,
                       tt_op_name(n->op), idx, what, tt_dtype_name(z->dtype), tt_dtype_name(dt));
    if (!qp_shape_ok(&z->shape) || qp_count(&z->shape) != count) {
        char b[64];
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (%s): input %d (%s) has shape %s but its scale has %lld "
                       "element%s; a zero point must have its scale's shape",
                       n->name, tt_op_name(n->op), idx, what, tt_shape_str(&z->shape, b, sizeof b),
                       (long long)count, count == 1 ? "" : "s");
    }
    return TT_OK;
}

tt_status tt_qp_check_int_zp(const tt_node *n, const tt_tensor *z, int idx, const char *what,
                             tt_dtype dt, int64_t channels, const char *per)
{
    if (!z) return TT_OK;
    if (z->dtype != dt)
        return tt_fail(
            TT_ERR_SHAPE, "node '%s' (%s): input %d (%s) is %s; it must have its tensor's type %s",
            n->name, tt_op_name(n->op), idx, what, tt_dtype_name(z->dtype), tt_dtype_name(dt));
    int64_t k = qp_count(&z->shape);
    if (qp_shape_ok(&z->shape) && (k == 1 || (channels > 0 && k == channels))) return TT_OK;
    char b[64];
    tt_shape_str(&z->shape, b, sizeof b);
    if (channels > 0)
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (%s): input %d (%s) has shape %s; expected [1] or [%lld] (one "
                       "per %s)",
                       n->name, tt_op_name(n->op), idx, what, b, (long long)channels, per);
    return tt_fail(TT_ERR_UNSUPPORTED,
                   "node '%s' (%s): input %d (%s) has shape %s; only a single zero point [1] is "
                   "supported here, not one per %s",
                   n->name, tt_op_name(n->op), idx, what, b, per);
}

tt_status tt_qp_axis(const tt_node *n, const tt_shape *x, int64_t count, int *axis)
{
    int64_t a = tt_node_attr_int(n, "axis", 1), r = x->ndim;
    char b[64];
    if (a < -r || a >= r)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "node '%s' (%s): axis %lld is outside -%lld..%lld for the rank-%lld input "
                       "%s",
                       n->name, tt_op_name(n->op), (long long)a, (long long)r, (long long)(r - 1),
                       (long long)r, tt_shape_str(x, b, sizeof b));
    if (a < 0) a += r;
    if (x->dims[a] == TT_DIM_BATCH)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "node '%s' (%s): axis %lld of %s is the batch dimension; per-channel "
                       "parameters need a fixed-size axis",
                       n->name, tt_op_name(n->op), (long long)a, tt_shape_str(x, b, sizeof b));
    if (x->dims[a] != count)
        return tt_fail(TT_ERR_SHAPE,
                       "node '%s' (%s): the per-channel scale has %lld elements but axis %lld of "
                       "input %s has %lld; they must match",
                       n->name, tt_op_name(n->op), (long long)count, (long long)a,
                       tt_shape_str(x, b, sizeof b), (long long)x->dims[a]);
    *axis = (int)a;
    return TT_OK;
}

tt_status tt_qp_check_scale_values(const tt_node *n, const tt_tensor *s, int idx, const char *what)
{
    const float *v = tt_tensor_f32(s);
    int64_t k = tt_tensor_numel(s);
    for (int64_t i = 0; i < k; i++)
        if (!(v[i] > 0.0f) || !isfinite(v[i]))
            return tt_fail(TT_ERR_INVALID_ARG,
                           "node '%s' (%s): input %d (%s) element %lld is %g; a scale must be a "
                           "positive finite number",
                           n->name, tt_op_name(n->op), idx, what, (long long)i, (double)v[i]);
    return TT_OK;
}

void tt_qp_layout(const tt_shape *s, int axis, int64_t *outer, int64_t *channels, int64_t *inner)
{
    int64_t o = 1, i = 1;
    for (int d = 0; d < s->ndim; d++) {
        if (d < axis)
            o *= s->dims[d];
        else if (d > axis)
            i *= s->dims[d];
    }
    *outer = axis < 0 ? 1 : o;
    *channels = axis < 0 ? 1 : s->dims[axis];
    *inner = i;
}

tt_status tt_qp_node_error(const tt_node *n, tt_status s)
{
    char msg[768];
    snprintf(msg, sizeof msg, "%s", tt_last_error());
    return tt_fail(s, "node '%s' (%s): %s", n->name, tt_op_name(n->op), msg);
}
