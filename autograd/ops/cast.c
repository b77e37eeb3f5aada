/* Cast (ONNX, inference only): y = x converted to attr "to" (a tt_dtype value: TT_F32, TT_I8,
 * TT_U8, TT_I32, TT_I64), same shape.
 *
 * integer -> float32: the nearest float (exact up to 2^24 in magnitude).
 * integer -> integer: the low bits of the two's complement value (wraps: int32 300 -> uint8 44,
 *   -1 -> uint8 255), as ONNX Runtime's static_cast.
 * float32 -> integer: truncation toward zero. ONNX leaves values outside the target's range
 *   undefined; tinytrain defines them as ONNX Runtime behaves on x86 (checked on 1.32): the
 *   truncated value goes through int32 (int64 for an int64 target), where NaN, +-inf and
 *   anything outside that range become the "integer indefinite" INT32_MIN (INT64_MIN), and
 *   uint8 / int8 targets then keep its low 8 bits (300.7 -> 44, -1.5 -> uint8 255, 3e9 -> 0).
 *   Nothing saturates. */
#include <math.h>
#include <string.h>
#include "autograd/internal.h"
#include "autograd/op.h"

static tt_status cast_target(const tt_node *n, tt_dtype *to)
{
    int64_t t = tt_node_attr_int(n, "to", -1);
    if (t < 0 || t > TT_I64 || tt_dtype_size((tt_dtype)t) == 0)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "node '%s' (Cast): attribute 'to' is %lld; expected a tt_dtype value "
                       "(%d float32, %d int8, %d uint8, %d int32, %d int64)",
                       n->name, (long long)t, TT_F32, TT_I8, TT_U8, TT_I32, TT_I64);
    *to = (tt_dtype)t;
    return TT_OK;
}

static tt_status cast_infer(const tt_node *n, const tt_tensor *const *in, tt_tensor *out)
{
    if (!in[0]) return tt_fail(TT_ERR_INVALID_ARG, "node '%s' (Cast): input is missing", n->name);
    TT_CHECK(cast_target(n, &out[0].dtype));
    out[0].shape = in[0]->shape;
    return TT_OK;
}

/* Element i of an integer tensor, widened. */
static inline int64_t load_int(const void *x, tt_dtype dt, int64_t i)
{
    switch (dt) {
    case TT_I8:
        return ((const int8_t *)x)[i];
    case TT_U8:
        return ((const uint8_t *)x)[i];
    case TT_I32:
        return ((const int32_t *)x)[i];
    default:
        return ((const int64_t *)x)[i];
    }
}

/* The low bits of v as the integer type dt, in two's complement (no implementation-defined
 * narrowing conversions). */
static inline int64_t wrap_to(int64_t v, tt_dtype dt)
{
    uint64_t u = (uint64_t)v;
    switch (dt) {
    case TT_U8:
        return (int64_t)(u & 0xffu);
    case TT_I8:
        return (int64_t)((u & 0xffu) ^ 0x80u) - 0x80;
    case TT_I32:
        return (int64_t)((u & 0xffffffffu) ^ 0x80000000u) - 0x80000000LL;
    default:
        return v;
    }
}

static inline void store_int(void *y, tt_dtype dt, int64_t i, int64_t v)
{
    switch (dt) {
    case TT_I8:
        ((int8_t *)y)[i] = (int8_t)v;
        break;
    case TT_U8:
        ((uint8_t *)y)[i] = (uint8_t)v;
        break;
    case TT_I32:
        ((int32_t *)y)[i] = (int32_t)v;
        break;
    default:
        ((int64_t *)y)[i] = v;
    }
}

/* float32 -> integer as x86 ONNX Runtime (see the top of the file). */
static inline int64_t float_to_int(float x, tt_dtype dt)
{
    float t = truncf(x);
    if (dt == TT_I64) return t >= -0x1p63f && t < 0x1p63f ? (int64_t)t : INT64_MIN;
    int64_t v = t >= -0x1p31f && t < 0x1p31f ? (int64_t)t : INT32_MIN;
    return wrap_to(v, dt);
}

static tt_status cast_forward(tt_op_ctx *c)
{
    const tt_tensor *xt = c->in[0];
    tt_tensor *yt = c->out[0];
    tt_dtype from = xt->dtype, to = yt->dtype;
    int64_t n = tt_tensor_numel(xt);
    const void *x = xt->data;
    void *y = yt->data;
    if (from == to) {
        memcpy(y, x, (size_t)n * tt_dtype_size(from));
    } else if (from == TT_F32) {
        const float *xf = x;
#pragma omp parallel for if (n > 65536)
        for (int64_t i = 0; i < n; i++) store_int(y, to, i, float_to_int(xf[i], to));
    } else if (to == TT_F32) {
        float *yf = y;
#pragma omp parallel for if (n > 65536)
        for (int64_t i = 0; i < n; i++) yf[i] = (float)load_int(x, from, i);
    } else {
#pragma omp parallel for if (n > 65536)
        for (int64_t i = 0; i < n; i++) store_int(y, to, i, wrap_to(load_int(x, from, i), to));
    }
    return TT_OK;
}

const tt_op_def tt_op_cast = {
    .name = "Cast",
    .min_in = 1,
    .max_in = 1,
    .n_out = 1,
    .infer = cast_infer,
    .forward = cast_forward,
};
