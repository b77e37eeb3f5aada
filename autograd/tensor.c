/* Tensor allocation and shape helpers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "autograd/internal.h"
#include "tinytrain/tensor.h"

size_t tt_dtype_size(tt_dtype dt)
{
    switch (dt) {
    case TT_F32:
        return 4;
    case TT_I8:
        return 1;
    case TT_U8:
        return 1;
    case TT_I32:
        return 4;
    case TT_I64:
        return 8;
    }
    return 0;
}

const char *tt_dtype_name(tt_dtype dt)
{
    switch (dt) {
    case TT_F32:
        return "float32";
    case TT_I8:
        return "int8";
    case TT_U8:
        return "uint8";
    case TT_I32:
        return "int32";
    case TT_I64:
        return "int64";
    }
    return "unknown";
}

int64_t tt_shape_numel(const tt_shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++) {
        if (s->dims[i] < 0) return -1;
        n *= s->dims[i];
    }
    return n;
}

char *tt_shape_str(const tt_shape *s, char *buf, size_t len)
{
    size_t used = 0;
    if (len == 0) return buf;
    buf[0] = '\0';
    used += (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < s->ndim && used < len; i++) {
        if (s->dims[i] == -1)
            used += (size_t)snprintf(buf + used, len - used, "%sN", i ? ", " : "");
        else
            used += (size_t)snprintf(buf + used, len - used, "%s%lld", i ? ", " : "",
                                     (long long)s->dims[i]);
    }
    if (used < len) snprintf(buf + used, len - used, "]");
    return buf;
}

int tt_shape_equal(const tt_shape *a, const tt_shape *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i]) return 0;
    return 1;
}

tt_status tt_shape_make(tt_shape *out, int ndim, const int64_t *dims)
{
    if (!out || (ndim > 0 && !dims))
        return tt_fail(TT_ERR_INVALID_ARG, "tt_shape_make: NULL shape or dims");
    if (ndim < 0 || ndim > TT_MAX_DIMS)
        return tt_fail(TT_ERR_SHAPE, "tt_shape_make: rank %d is outside 0..%d", ndim, TT_MAX_DIMS);
    memset(out, 0, sizeof *out);
    out->ndim = ndim;
    for (int i = 0; i < ndim; i++) out->dims[i] = dims[i];
    return TT_OK;
}

tt_status tt_tensor_alloc(tt_tensor **out, tt_dtype dt, int ndim, const int64_t *dims)
{
    TT_CHECK_NULL(out, "tt_tensor_alloc");
    *out = NULL;
    if (tt_dtype_size(dt) == 0)
        return tt_fail(TT_ERR_UNSUPPORTED, "tt_tensor_alloc: unknown dtype %d", (int)dt);
    tt_shape s;
    TT_CHECK(tt_shape_make(&s, ndim, dims));
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0)
            return tt_fail(TT_ERR_SHAPE, "tt_tensor_alloc: dimension %d is negative (%lld)", i,
                           (long long)dims[i]);
        if (dims[i] > 0 && numel > TT_TENSOR_MAX_BYTES / dims[i])
            return tt_fail(TT_ERR_NOMEM, "tt_tensor_alloc: shape exceeds the %lld-byte cap",
                           (long long)TT_TENSOR_MAX_BYTES);
        numel *= dims[i];
    }
    size_t esz = tt_dtype_size(dt);
    if (numel > TT_TENSOR_MAX_BYTES / (int64_t)esz)
        return tt_fail(TT_ERR_NOMEM, "tt_tensor_alloc: %lld elements exceed the %lld-byte cap",
                       (long long)numel, (long long)TT_TENSOR_MAX_BYTES);
    tt_tensor *t = calloc(1, sizeof *t);
    size_t bytes = (size_t)numel * esz;
    void *data = calloc(bytes ? bytes : 1, 1);
    if (!t || !data) {
        free(t);
        free(data);
        return tt_fail(TT_ERR_NOMEM, "tt_tensor_alloc: cannot allocate %zu bytes", bytes);
    }
    t->dtype = dt;
    t->shape = s;
    t->data = data;
    t->capacity = bytes ? bytes : 1; /* the 1-byte block of an empty tensor is owned too */
    *out = t;
    return TT_OK;
}

void tt_tensor_free(tt_tensor *t)
{
    if (!t) return;
    if (t->capacity) free(t->data);
    free(t);
}

int64_t tt_tensor_numel(const tt_tensor *t)
{
    return tt_shape_numel(&t->shape);
}
