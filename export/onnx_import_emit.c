/* What every ONNX node mapping shares: emitting IR nodes named after the ONNX outputs and
 * binding those outputs, attributes read with their types checked, and constant inputs read as
 * numbers (a Reshape's shape, Clip's bounds) or made into new constants (a transposed weight). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "autograd/internal.h"
#include "autograd/op.h"
#include "export/onnx_import.h"

/* ---- emitting ------------------------------------------------------------------------------ */

const char *tt_imp_out_name(const Onnx__NodeProto *p, int k)
{
    return (size_t)k < p->n_output && p->output[k] ? p->output[k] : "";
}

tt_status tt_imp_bind(tt_imp *im, const Onnx__NodeProto *p, int k, int handle)
{
    const char *n = tt_imp_out_name(p, k);
    if (!n[0]) return TT_OK;
    return tt_imp_names_put(&im->onnx, n, handle);
}

/* The IR node's name: its first output's ONNX name, with ":1", ":2" free for the others. */
static tt_status node_name(tt_imp *im, const Onnx__NodeProto *p, int n_out, char *name)
{
    const char *o = tt_imp_out_name(p, 0);
    if (!o[0]) return tt_imp_fail(im, TT_ERR_FORMAT, "the node's first output has no name");
    TT_CHECK(tt_imp_value_name(im, o, name));
    for (int tries = 0; n_out > 1; tries++) {
        char k1[TT_NAME_MAX + 4], k2[TT_NAME_MAX + 4];
        snprintf(k1, sizeof k1, "%s:1", name);
        snprintf(k2, sizeof k2, "%s:2", name);
        if (!tt_imp_names_get(&im->ir, k1) && (n_out < 3 || !tt_imp_names_get(&im->ir, k2))) {
            TT_CHECK(tt_imp_names_put(&im->ir, k1, 0));
            return n_out < 3 ? TT_OK : tt_imp_names_put(&im->ir, k2, 0);
        }
        if (tries > 100) return tt_imp_fail(im, TT_ERR_INVALID_ARG, "no free output names");
        TT_CHECK(tt_imp_ir_name(im, o, "", name));
    }
    return TT_OK;
}

/* tt_graph_add_node on IR ids, its message prefixed with the ONNX node. */
tt_status tt_imp_add_node(tt_imp *im, tt_op_type op, const char *name, int n_in, const int *ids,
                          int n_attrs, const tt_attr *attrs, int *out_ids)
{
    tt_status s = tt_graph_add_node(im->g, op, name, n_in, ids, n_attrs, attrs, out_ids);
    if (s == TT_OK) return TT_OK;
    char msg[768];
    snprintf(msg, sizeof msg, "%s", tt_last_error());
    return tt_imp_fail(im, s, "%s", msg);
}

tt_status tt_imp_values(tt_imp *im, int n_in, const int *hin, int *ids)
{
    for (int j = 0; j < n_in; j++) {
        ids[j] = -1;
        if (hin[j] != TT_IMP_ABSENT) TT_CHECK(tt_imp_value(im, hin[j], &ids[j]));
    }
    return TT_OK;
}

tt_status tt_imp_emit(tt_imp *im, const Onnx__NodeProto *p, tt_op_type op, int n_in, const int *hin,
                      int n_attrs, const tt_attr *attrs)
{
    int ids[TT_MAX_NODE_IO], outs[TT_MAX_NODE_IO];
    int n_out = tt_op_def_get(op)->n_out;
    char name[TT_NAME_MAX];
    TT_CHECK(tt_imp_values(im, n_in, hin, ids));
    TT_CHECK(node_name(im, p, n_out, name));
    TT_CHECK(tt_imp_add_node(im, op, name, n_in, ids, n_attrs, attrs, outs));
    for (int k = 0; k < n_out; k++) TT_CHECK(tt_imp_bind(im, p, k, outs[k]));
    /* Outputs tinytrain does not compute fail where they are read. */
    for (int k = n_out; (size_t)k < p->n_output; k++)
        TT_CHECK(tt_imp_bind(im, p, k, TT_IMP_UNAVAILABLE));
    return TT_OK;
}

/* Weights and biases of an imported float model train (a QAT warm start); other float
 * constants (BN statistics, scales, normalisation constants) stay fixed. */
void tt_imp_mark_trainable(tt_imp *im, int h)
{
    tt_imp_const *c = tt_imp_const_of(im, h);
    int id = c ? c->param : h;
    if (id < 0) return;
    tt_value *v = &im->g->values[id];
    if (v->kind == TT_VALUE_PARAM && v->dtype == TT_F32) v->trainable = true;
}

/* The declared shape of handle h (a constant's, or the IR value's). */
const tt_shape *tt_imp_shape(tt_imp *im, int h, tt_dtype *dt)
{
    tt_imp_const *c = tt_imp_const_of(im, h);
    if (c) {
        if (dt) *dt = c->dtype;
        return &c->shape;
    }
    if (dt) *dt = im->g->values[h].dtype;
    return &im->g->values[h].shape;
}

/* ---- attributes and constant inputs ---------------------------------------------------------- */

const Onnx__AttributeProto *tt_imp_attr(const Onnx__NodeProto *p, const char *name)
{
    for (size_t i = 0; i < p->n_attribute; i++)
        if (p->attribute[i]->name && !strcmp(p->attribute[i]->name, name)) return p->attribute[i];
    return NULL;
}

static tt_status attr_type(tt_imp *im, const Onnx__AttributeProto *a, int want, const char *what)
{
    if (a->has_type && (int)a->type == want) return TT_OK;
    return tt_imp_fail(im, TT_ERR_FORMAT, "attribute '%.64s' must be %s", a->name, what);
}

tt_status tt_imp_attr_int(tt_imp *im, const Onnx__NodeProto *p, const char *name, int64_t dflt,
                          int64_t *v)
{
    const Onnx__AttributeProto *a = tt_imp_attr(p, name);
    *v = dflt;
    if (!a) return TT_OK;
    TT_CHECK(attr_type(im, a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT, "an int"));
    *v = a->i;
    return TT_OK;
}

tt_status tt_imp_attr_float(tt_imp *im, const Onnx__NodeProto *p, const char *name, float dflt,
                            float *v)
{
    const Onnx__AttributeProto *a = tt_imp_attr(p, name);
    *v = dflt;
    if (!a) return TT_OK;
    TT_CHECK(attr_type(im, a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT, "a float"));
    *v = a->f;
    return TT_OK;
}

tt_status tt_imp_attr_ints(tt_imp *im, const Onnx__NodeProto *p, const char *name, int64_t *v,
                           int max, int *n)
{
    const Onnx__AttributeProto *a = tt_imp_attr(p, name);
    *n = -1;
    if (!a) return TT_OK;
    TT_CHECK(attr_type(im, a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS, "a list of ints"));
    if (a->n_ints > (size_t)max)
        return tt_imp_fail(im, TT_ERR_UNSUPPORTED, "attribute '%s' has %zu values; at most %d here",
                           name, a->n_ints, max);
    for (size_t i = 0; i < a->n_ints; i++) v[i] = a->ints[i];
    *n = (int)a->n_ints;
    return TT_OK;
}

const char *tt_imp_attr_string(const Onnx__NodeProto *p, const char *name, char *buf, size_t len)
{
    const Onnx__AttributeProto *a = tt_imp_attr(p, name);
    if (!a || !a->has_s) return NULL;
    size_t n = a->s.len < len - 1 ? a->s.len : len - 1;
    memcpy(buf, a->s.data, n);
    buf[n] = 0;
    return buf;
}

static tt_status need_const(tt_imp *im, int h, const char *what, tt_imp_const **c)
{
    *c = tt_imp_const_of(im, h);
    if (!*c)
        return tt_imp_fail(im, TT_ERR_UNSUPPORTED,
                           "its %s must be a constant (an initializer or a Constant node); "
                           "tinytrain does not compute it at run time",
                           what);
    return TT_OK;
}

tt_status tt_imp_const_ints(tt_imp *im, int h, const char *what, int64_t *v, int max, int *n)
{
    tt_imp_const *c;
    const void *d;
    TT_CHECK(need_const(im, h, what, &c));
    if (c->dtype != TT_I64 && c->dtype != TT_I32)
        return tt_imp_fail(im, TT_ERR_SHAPE, "its %s is %s; expected int64", what,
                           tt_dtype_name(c->dtype));
    if (c->numel > max)
        return tt_imp_fail(im, TT_ERR_UNSUPPORTED, "its %s has %lld values; at most %d here", what,
                           (long long)c->numel, max);
    TT_CHECK(tt_imp_const_data(im, c, &d));
    for (int64_t i = 0; i < c->numel; i++)
        v[i] = c->dtype == TT_I64 ? ((const int64_t *)d)[i] : ((const int32_t *)d)[i];
    *n = (int)c->numel;
    return TT_OK;
}

tt_status tt_imp_const_scalar(tt_imp *im, int h, const char *what, float *v)
{
    tt_imp_const *c;
    const void *d;
    TT_CHECK(need_const(im, h, what, &c));
    if (c->dtype != TT_F32 || c->numel != 1)
        return tt_imp_fail(im, TT_ERR_SHAPE, "its %s must be one float (it is %s with %lld values)",
                           what, tt_dtype_name(c->dtype), (long long)c->numel);
    TT_CHECK(tt_imp_const_data(im, c, &d));
    *v = *(const float *)d;
    return TT_OK;
}

tt_status tt_imp_float_const(tt_imp *im, int h, const char *what, tt_imp_const **c, const float **d)
{
    TT_CHECK(need_const(im, h, what, c));
    if ((*c)->dtype != TT_F32)
        return tt_imp_fail(im, TT_ERR_SHAPE, "its %s is %s; expected float", what,
                           tt_dtype_name((*c)->dtype));
    return tt_imp_const_data(im, *c, (const void **)d);
}

tt_status tt_imp_transpose_const(tt_imp *im, int h, const char *what, int *out)
{
    tt_imp_const *c;
    const void *d;
    TT_CHECK(need_const(im, h, what, &c));
    if (c->shape.ndim != 2)
        return tt_imp_fail(im, TT_ERR_SHAPE, "its %s must be 2-D to be transposed", what);
    TT_CHECK(tt_imp_const_data(im, c, &d));
    int64_t r = c->shape.dims[0], k = c->shape.dims[1], dims[2] = {k, r};
    size_t es = tt_dtype_size(c->dtype);
    uint8_t *t = malloc((size_t)c->numel * es);
    if (!t) return tt_fail(TT_ERR_NOMEM, "%s: out of memory", im->label);
    for (int64_t i = 0; i < r; i++)
        for (int64_t j = 0; j < k; j++)
            memcpy(t + (size_t)(j * r + i) * es, (const uint8_t *)d + (size_t)(i * k + j) * es, es);
    char base[TT_NAME_MAX + 8];
    snprintf(base, sizeof base, "%.100s.T", c->name);
    tt_status s = tt_imp_const_make(im, base, c->dtype, 2, dims, t, out);
    free(t);
    return s;
}
