/* Initializers and Constant values: every declared size is checked against the caps and against
 * the bytes the file (or its external data file) really holds before anything is allocated for
 * it; values are decoded only when an op needs them, and become graph parameters only when a
 * node reads them as a value. External data: onnx_import_external.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "autograd/internal.h"
#include "export/onnx_import.h"

static const struct {
    int onnx;
    tt_dtype dt;
} dtype_map[] = {
    {ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, TT_F32}, {ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, TT_U8},
    {ONNX__TENSOR_PROTO__DATA_TYPE__INT8, TT_I8},   {ONNX__TENSOR_PROTO__DATA_TYPE__INT32, TT_I32},
    {ONNX__TENSOR_PROTO__DATA_TYPE__INT64, TT_I64},
};

bool tt_imp_dtype(int onnx, tt_dtype *dt)
{
    for (size_t i = 0; i < sizeof dtype_map / sizeof *dtype_map; i++)
        if (dtype_map[i].onnx == onnx) {
            *dt = dtype_map[i].dt;
            return true;
        }
    return false;
}

const char *tt_imp_onnx_dtype_name(int onnx)
{
    static const char *const names[] = {"UNDEFINED",  "FLOAT",   "UINT8",  "INT8",   "UINT16",
                                        "INT16",      "INT32",   "INT64",  "STRING", "BOOL",
                                        "FLOAT16",    "DOUBLE",  "UINT32", "UINT64", "COMPLEX64",
                                        "COMPLEX128", "BFLOAT16"};
    if (onnx >= 0 && onnx < (int)(sizeof names / sizeof *names)) return names[onnx];
    return "an unknown type";
}

/* ---- registration -------------------------------------------------------------------------- */

static tt_status push_const(tt_imp *im, const tt_imp_const *c, int *handle)
{
    if (im->n_consts == im->cap_consts) {
        int cap = im->cap_consts ? im->cap_consts * 2 : 64;
        tt_imp_const *n = realloc(im->consts, (size_t)cap * sizeof *n);
        if (!n) return tt_fail(TT_ERR_NOMEM, "%s: out of memory for the constants", im->label);
        im->consts = n;
        im->cap_consts = cap;
    }
    im->consts[im->n_consts] = *c;
    *handle = TT_IMP_CONST(im->n_consts);
    im->n_consts++;
    return TT_OK;
}

/* Dims: rank <= 4 (a scalar becomes [1]), each >= 1, bytes within the tensor cap. */
static tt_status check_shape(tt_imp *im, const char *what, const char *name, size_t n_dims,
                             const int64_t *dims, tt_dtype dt, tt_imp_const *c)
{
    if (n_dims > TT_MAX_DIMS)
        return tt_imp_fail(im, TT_ERR_UNSUPPORTED,
                           "%s '%.200s' has rank %zu; tinytrain tensors have rank 1 to %d", what,
                           name, n_dims, TT_MAX_DIMS);
    c->shape.ndim = n_dims ? (int)n_dims : 1;
    c->shape.dims[0] = 1;
    int64_t numel = 1, cap = TT_TENSOR_MAX_BYTES / (int64_t)tt_dtype_size(dt);
    for (size_t i = 0; i < n_dims; i++) {
        if (dims[i] < 1)
            return tt_imp_fail(im, dims[i] < 0 ? TT_ERR_FORMAT : TT_ERR_UNSUPPORTED,
                               "%s '%.200s': dimension %zu is %lld; tinytrain tensors have sizes "
                               ">= 1",
                               what, name, i, (long long)dims[i]);
        if (dims[i] > cap / numel)
            return tt_imp_fail(im, TT_ERR_NOMEM,
                               "%s '%.200s' declares more than %lld bytes (dimension %zu is "
                               "%lld); refused",
                               what, name, (long long)TT_TENSOR_MAX_BYTES, i, (long long)dims[i]);
        numel *= dims[i];
        c->shape.dims[i] = dims[i];
    }
    c->numel = numel;
    return TT_OK;
}

static size_t typed_count(const Onnx__TensorProto *t, tt_dtype dt, const char **field)
{
    switch (dt) {
    case TT_F32:
        *field = "float_data";
        return t->n_float_data;
    case TT_I64:
        *field = "int64_data";
        return t->n_int64_data;
    default:
        *field = "int32_data";
        return t->n_int32_data;
    }
}

static tt_status check_data(tt_imp *im, const char *name, const Onnx__TensorProto *t,
                            tt_imp_const *c)
{
    int64_t want = c->numel * (int64_t)tt_dtype_size(c->dtype);
    const char *field;
    size_t typed = typed_count(t, c->dtype, &field);
    size_t any_typed = t->n_float_data + t->n_int32_data + t->n_int64_data + t->n_double_data +
                       t->n_uint64_data + t->n_string_data;
    if (t->segment)
        return tt_imp_fail(im, TT_ERR_UNSUPPORTED,
                           "initializer '%.200s' is a segment of a larger tensor; not supported",
                           name);
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        if (t->raw_data.len || any_typed)
            return tt_imp_fail(im, TT_ERR_FORMAT,
                               "initializer '%.200s' is marked external but also holds data in "
                               "the file",
                               name);
        return tt_imp_ext_resolve(im, name, t, want, c);
    }
    if (t->has_raw_data || t->raw_data.len) {
        if (any_typed)
            return tt_imp_fail(im, TT_ERR_FORMAT,
                               "initializer '%.200s' holds both raw_data and typed values", name);
        if ((int64_t)t->raw_data.len != want)
            return tt_imp_fail(im, TT_ERR_FORMAT,
                               "initializer '%.200s': raw_data has %zu bytes; its shape and type "
                               "need %lld",
                               name, t->raw_data.len, (long long)want);
        return TT_OK;
    }
    if (typed != any_typed)
        return tt_imp_fail(im, TT_ERR_FORMAT,
                           "initializer '%.200s' (%s) keeps its values in a field other than %s",
                           name, tt_imp_onnx_dtype_name(t->data_type), field);
    if ((int64_t)typed != c->numel)
        return tt_imp_fail(im, TT_ERR_FORMAT,
                           "initializer '%.200s': %s has %zu values; its shape needs %lld", name,
                           field, typed, (long long)c->numel);
    return TT_OK;
}

tt_status tt_imp_const_add(tt_imp *im, const char *name, const Onnx__TensorProto *t, int *handle)
{
    tt_imp_const c;
    memset(&c, 0, sizeof c);
    c.t = t;
    c.param = -1;
    c.onnx_named = true;
    if (!t->has_data_type || !tt_imp_dtype(t->data_type, &c.dtype))
        return tt_imp_fail(im, TT_ERR_UNSUPPORTED,
                           "initializer '%.200s' has type %s (%d); tinytrain imports FLOAT, UINT8, "
                           "INT8, INT32 and INT64 tensors",
                           name, tt_imp_onnx_dtype_name(t->data_type), (int)t->data_type);
    TT_CHECK(check_shape(im, "initializer", name, t->n_dims, t->dims, c.dtype, &c));
    TT_CHECK(check_data(im, name, t, &c));
    c.name = strdup(name);
    tt_status s =
        c.name ? push_const(im, &c, handle) : tt_fail(TT_ERR_NOMEM, "%s: out of memory", im->label);
    if (s != TT_OK) {
        free(c.name);
        free(c.ext_path);
    }
    return s;
}

tt_status tt_imp_const_make(tt_imp *im, const char *name, tt_dtype dt, int ndim,
                            const int64_t *dims, const void *data, int *handle)
{
    tt_imp_const c;
    memset(&c, 0, sizeof c);
    c.param = -1;
    c.dtype = dt;
    TT_CHECK(check_shape(im, "constant", name, (size_t)ndim, dims, dt, &c));
    size_t bytes = (size_t)c.numel * tt_dtype_size(dt);
    c.name = strdup(name);
    c.data = malloc(bytes);
    tt_status s = c.name && c.data ? TT_OK : tt_fail(TT_ERR_NOMEM, "%s: out of memory", im->label);
    if (s == TT_OK) {
        memcpy(c.data, data, bytes);
        s = push_const(im, &c, handle);
    }
    if (s != TT_OK) {
        free(c.name);
        free(c.data);
    }
    return s;
}

tt_imp_const *tt_imp_const_of(tt_imp *im, int h)
{
    if (h > TT_IMP_CONST(0)) return NULL;
    int i = TT_IMP_CONST_IDX(h);
    return i < im->n_consts ? &im->consts[i] : NULL;
}

/* ---- decoding ------------------------------------------------------------------------------- */

/* Little-endian bytes (raw_data, external files) to host order. */
static void decode_le(const uint8_t *src, size_t esize, int64_t n, void *dst)
{
    uint8_t *d = dst;
    for (int64_t i = 0; i < n; i++) {
        uint64_t v = 0;
        for (size_t b = 0; b < esize; b++) v |= (uint64_t)src[i * esize + b] << (8 * b);
        switch (esize) {
        case 1:
            d[i] = (uint8_t)v;
            break;
        case 4: {
            uint32_t w = (uint32_t)v;
            memcpy(d + i * 4, &w, 4);
            break;
        }
        default:
            memcpy(d + i * 8, &v, 8);
        }
    }
}

static tt_status decode_typed(tt_imp *im, const tt_imp_const *c, void *dst)
{
    const Onnx__TensorProto *t = c->t;
    switch (c->dtype) {
    case TT_F32:
        memcpy(dst, t->float_data, (size_t)c->numel * 4);
        return TT_OK;
    case TT_I64:
        memcpy(dst, t->int64_data, (size_t)c->numel * 8);
        return TT_OK;
    case TT_I32:
        memcpy(dst, t->int32_data, (size_t)c->numel * 4);
        return TT_OK;
    default:
        break;
    }
    int32_t lo = c->dtype == TT_U8 ? 0 : -128, hi = c->dtype == TT_U8 ? 255 : 127;
    for (int64_t i = 0; i < c->numel; i++) {
        int32_t v = t->int32_data[i];
        if (v < lo || v > hi)
            return tt_imp_fail(im, TT_ERR_FORMAT,
                               "initializer '%.200s': int32_data[%lld] = %d is out of range for "
                               "%s",
                               c->name, (long long)i, (int)v, tt_dtype_name(c->dtype));
        if (c->dtype == TT_U8)
            ((uint8_t *)dst)[i] = (uint8_t)v;
        else
            ((int8_t *)dst)[i] = (int8_t)v;
    }
    return TT_OK;
}

tt_status tt_imp_const_data(tt_imp *im, tt_imp_const *c, const void **data)
{
    if (!c->data) {
        size_t es = tt_dtype_size(c->dtype), bytes = (size_t)c->numel * es;
        void *d = malloc(bytes);
        if (!d)
            return tt_fail(TT_ERR_NOMEM, "%s: out of memory for initializer '%.200s'", im->label,
                           c->name);
        tt_status s = TT_OK;
        if (c->ext_path) {
            uint8_t *raw = malloc(bytes);
            s = raw ? tt_imp_ext_read(im, c, raw, bytes)
                    : tt_fail(TT_ERR_NOMEM, "%s: out of memory", im->label);
            if (s == TT_OK) decode_le(raw, es, c->numel, d);
            free(raw);
        } else if (c->t->raw_data.len) {
            decode_le(c->t->raw_data.data, es, c->numel, d);
        } else {
            s = decode_typed(im, c, d);
        }
        if (s != TT_OK) {
            free(d);
            return s;
        }
        c->data = d;
    }
    *data = c->data;
    return TT_OK;
}

tt_status tt_imp_value(tt_imp *im, int h, int *id)
{
    if (h >= 0) {
        *id = h;
        return TT_OK;
    }
    tt_imp_const *c = tt_imp_const_of(im, h);
    if (!c) return tt_imp_fail(im, TT_ERR_STATE, "internal: bad value handle %d", h);
    if (c->param >= 0) {
        *id = c->param;
        return TT_OK;
    }
    const void *data;
    TT_CHECK(tt_imp_const_data(im, c, &data));
    char name[TT_NAME_MAX];
    if (c->onnx_named)
        TT_CHECK(tt_imp_value_name(im, c->name, name));
    else
        TT_CHECK(tt_imp_ir_name(im, c->name, "", name));
    int pid;
    tt_status s =
        c->dtype == TT_F32
            ? tt_graph_add_param(im->g, name, c->shape.ndim, c->shape.dims, false, &pid)
            : tt_graph_add_param_typed(im->g, name, c->dtype, c->shape.ndim, c->shape.dims, &pid);
    if (s != TT_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", tt_last_error());
        return tt_imp_fail(im, s, "%s", msg);
    }
    memcpy(im->g->values[pid].data->data, data, (size_t)c->numel * tt_dtype_size(c->dtype));
    c->param = *id = pid;
    return TT_OK;
}

void tt_imp_consts_free(tt_imp *im)
{
    for (int i = 0; i < im->n_consts; i++) {
        free(im->consts[i].name);
        free(im->consts[i].ext_path);
        free(im->consts[i].data);
    }
    free(im->consts);
    im->consts = NULL;
    im->n_consts = im->cap_consts = 0;
}
