/* The ModelProto builder (export/onnx_proto.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "autograd/internal.h"
#include "export/onnx_proto.h"

static tt_status oom(void)
{
    return tt_fail(TT_ERR_NOMEM, "ONNX export: out of memory building the model");
}

static tt_status list_push(tt_ob_list *l, void *item)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 32;
        void **p = realloc(l->items, cap * sizeof *p);
        if (!p) return oom();
        l->items = p;
        l->cap = cap;
    }
    l->items[l->n++] = item;
    return TT_OK;
}

/* A zeroed block freed with the builder; NULL (with the error set) when out of memory. */
static void *ob_alloc(tt_onnx_builder *b, size_t bytes)
{
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p) {
        oom();
        return NULL;
    }
    if (list_push(&b->allocs, p) != TT_OK) {
        free(p);
        return NULL;
    }
    return p;
}

#define OB_ALLOC(b, lhs, bytes)                                                                    \
    do {                                                                                           \
        if (!((lhs) = ob_alloc((b), (bytes)))) return TT_ERR_NOMEM;                                \
    } while (0)
#define OB_NEW(b, ptr) OB_ALLOC((b), (ptr), sizeof *(ptr))

void tt_ob_init(tt_onnx_builder *b)
{
    memset(b, 0, sizeof *b);
}

void tt_ob_free(tt_onnx_builder *b)
{
    if (!b) return;
    for (size_t i = 0; i < b->allocs.n; i++) free(b->allocs.items[i]);
    tt_ob_list *lists[] = {&b->allocs,  &b->nodes,        &b->inits,     &b->inputs,
                           &b->outputs, &b->tensor_names, &b->node_names};
    for (size_t i = 0; i < sizeof lists / sizeof *lists; i++) free(lists[i]->items);
    memset(b, 0, sizeof *b);
}

tt_status tt_ob_strdup(tt_onnx_builder *b, const char *s, char **out)
{
    size_t n = strlen(s) + 1;
    OB_ALLOC(b, *out, n);
    memcpy(*out, s, n);
    return TT_OK;
}

static bool name_taken(const tt_ob_list *names, const char *s)
{
    for (size_t i = 0; i < names->n; i++)
        if (!strcmp(names->items[i], s)) return true;
    return false;
}

/* base + suffix, made unique in names with "_2", "_3", ... and recorded there. */
static tt_status unique_name(tt_onnx_builder *b, tt_ob_list *names, const char *base,
                             const char *suffix, const char **out)
{
    size_t len = strlen(base) + strlen(suffix) + 24;
    char *s;
    OB_ALLOC(b, s, len);
    snprintf(s, len, "%s%s", base, suffix);
    for (int k = 2; name_taken(names, s); k++) snprintf(s, len, "%s%s_%d", base, suffix, k);
    TT_CHECK(list_push(names, s));
    *out = s;
    return TT_OK;
}

tt_status tt_ob_tensor_name(tt_onnx_builder *b, const char *base, const char *suffix,
                            const char **out)
{
    return unique_name(b, &b->tensor_names, base, suffix ? suffix : "", out);
}

tt_status tt_ob_reserve_tensor_name(tt_onnx_builder *b, const char *name)
{
    if (name_taken(&b->tensor_names, name))
        return tt_fail(TT_ERR_STATE, "ONNX export: tensor name '%s' is already used", name);
    char *s;
    TT_CHECK(tt_ob_strdup(b, name, &s));
    return list_push(&b->tensor_names, s);
}

tt_status tt_ob_node(tt_onnx_builder *b, const char *op_type, const char *name, int n_in,
                     const char *const *in, const char *out, Onnx__NodeProto **node)
{
    Onnx__NodeProto *n = NULL;
    OB_NEW(b, n);
    onnx__node_proto__init(n);
    const char *nm;
    TT_CHECK(unique_name(b, &b->node_names, name, "", &nm));
    n->name = (char *)nm;
    TT_CHECK(tt_ob_strdup(b, op_type, &n->op_type));
    n->n_input = (size_t)n_in;
    OB_ALLOC(b, n->input, (size_t)n_in * sizeof(char *));
    for (int i = 0; i < n_in; i++) TT_CHECK(tt_ob_strdup(b, in[i] ? in[i] : "", &n->input[i]));
    n->n_output = 1;
    OB_ALLOC(b, n->output, sizeof(char *));
    TT_CHECK(tt_ob_strdup(b, out, &n->output[0]));
    TT_CHECK(list_push(&b->nodes, n));
    if (node) *node = n;
    return TT_OK;
}

/* Append attribute a to node n (attributes are few: grow by one). */
static tt_status add_attr(tt_onnx_builder *b, Onnx__NodeProto *n, const char *name,
                          Onnx__AttributeProto **out)
{
    Onnx__AttributeProto *a = NULL, **arr = NULL;
    OB_NEW(b, a);
    onnx__attribute_proto__init(a);
    TT_CHECK(tt_ob_strdup(b, name, &a->name));
    OB_ALLOC(b, arr, (n->n_attribute + 1) * sizeof *arr);
    if (n->n_attribute) memcpy(arr, n->attribute, n->n_attribute * sizeof *arr);
    arr[n->n_attribute++] = a;
    n->attribute = arr;
    *out = a;
    return TT_OK;
}

tt_status tt_ob_attr_int(tt_onnx_builder *b, Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = NULL;
    TT_CHECK(add_attr(b, n, name, &a));
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->has_i = 1;
    a->i = v;
    return TT_OK;
}

tt_status tt_ob_attr_float(tt_onnx_builder *b, Onnx__NodeProto *n, const char *name, float v)
{
    Onnx__AttributeProto *a = NULL;
    TT_CHECK(add_attr(b, n, name, &a));
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    a->has_f = 1;
    a->f = v;
    return TT_OK;
}

tt_status tt_ob_attr_ints(tt_onnx_builder *b, Onnx__NodeProto *n, const char *name, int count,
                          const int64_t *v)
{
    Onnx__AttributeProto *a = NULL;
    TT_CHECK(add_attr(b, n, name, &a));
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    a->n_ints = (size_t)count;
    OB_ALLOC(b, a->ints, (size_t)count * sizeof *a->ints);
    memcpy(a->ints, v, (size_t)count * sizeof *a->ints);
    return TT_OK;
}

static int64_t numel(int ndim, const int64_t *dims)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= dims[i];
    return n;
}

/* A tensor initializer with room for its raw_data (bytes), which the caller fills. */
static tt_status new_init(tt_onnx_builder *b, const char *name, int dtype, int ndim,
                          const int64_t *dims, size_t bytes, uint8_t **raw)
{
    Onnx__TensorProto *t = NULL;
    OB_NEW(b, t);
    onnx__tensor_proto__init(t);
    TT_CHECK(tt_ob_strdup(b, name, &t->name));
    t->has_data_type = 1;
    t->data_type = dtype;
    t->n_dims = (size_t)ndim;
    OB_ALLOC(b, t->dims, (size_t)ndim * sizeof *t->dims);
    if (ndim) memcpy(t->dims, dims, (size_t)ndim * sizeof *t->dims);
    OB_ALLOC(b, *raw, bytes);
    t->has_raw_data = 1;
    t->raw_data.len = bytes;
    t->raw_data.data = *raw;
    return list_push(&b->inits, t);
}

/* raw_data is little-endian whatever the host: write each value's bytes explicitly. */
static void put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}

tt_status tt_ob_init_f32(tt_onnx_builder *b, const char *name, int ndim, const int64_t *dims,
                         const float *v)
{
    int64_t n = numel(ndim, dims);
    uint8_t *raw;
    TT_CHECK(new_init(b, name, TT_ONNX_DT_FLOAT, ndim, dims, (size_t)n * 4, &raw));
    for (int64_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &v[i], 4);
        put_le(raw + 4 * i, bits, 4);
    }
    return TT_OK;
}

tt_status tt_ob_init_i32(tt_onnx_builder *b, const char *name, int ndim, const int64_t *dims,
                         const int32_t *v)
{
    int64_t n = numel(ndim, dims);
    uint8_t *raw;
    TT_CHECK(new_init(b, name, TT_ONNX_DT_INT32, ndim, dims, (size_t)n * 4, &raw));
    for (int64_t i = 0; i < n; i++) put_le(raw + 4 * i, (uint32_t)v[i], 4);
    return TT_OK;
}

tt_status tt_ob_init_i64(tt_onnx_builder *b, const char *name, int ndim, const int64_t *dims,
                         const int64_t *v)
{
    int64_t n = numel(ndim, dims);
    uint8_t *raw;
    TT_CHECK(new_init(b, name, TT_ONNX_DT_INT64, ndim, dims, (size_t)n * 8, &raw));
    for (int64_t i = 0; i < n; i++) put_le(raw + 8 * i, (uint64_t)v[i], 8);
    return TT_OK;
}

tt_status tt_ob_init_8bit(tt_onnx_builder *b, const char *name, int dtype, int ndim,
                          const int64_t *dims, const int32_t *v)
{
    int64_t n = numel(ndim, dims);
    uint8_t *raw;
    TT_CHECK(new_init(b, name, dtype, ndim, dims, (size_t)n, &raw));
    for (int64_t i = 0; i < n; i++) raw[i] = (uint8_t)(v[i] & 0xff);
    return TT_OK;
}

tt_status tt_ob_graph_io(tt_onnx_builder *b, bool output, const char *name, int elem_type, int ndim,
                         const int64_t *dims)
{
    Onnx__ValueInfoProto *vi = NULL;
    Onnx__TypeProto *tp = NULL;
    Onnx__TypeProto__Tensor *tt = NULL;
    Onnx__TensorShapeProto *sh = NULL;
    OB_NEW(b, vi);
    OB_NEW(b, tp);
    OB_NEW(b, tt);
    OB_NEW(b, sh);
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    TT_CHECK(tt_ob_strdup(b, name, &vi->name));
    vi->type = tp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    tt->has_elem_type = 1;
    tt->elem_type = elem_type;
    tt->shape = sh;
    sh->n_dim = (size_t)ndim;
    OB_ALLOC(b, sh->dim, (size_t)ndim * sizeof *sh->dim);
    for (int i = 0; i < ndim; i++) {
        Onnx__TensorShapeProto__Dimension *d = NULL;
        OB_NEW(b, d);
        onnx__tensor_shape_proto__dimension__init(d);
        if (dims[i] < 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            TT_CHECK(tt_ob_strdup(b, "N", &d->dim_param));
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = dims[i];
        }
        sh->dim[i] = d;
    }
    return list_push(output ? &b->outputs : &b->inputs, vi);
}

static tt_status string_entry(tt_onnx_builder *b, const char *k, const char *v,
                              Onnx__StringStringEntryProto **out)
{
    Onnx__StringStringEntryProto *e = NULL;
    OB_NEW(b, e);
    onnx__string_string_entry_proto__init(e);
    TT_CHECK(tt_ob_strdup(b, k, &e->key));
    TT_CHECK(tt_ob_strdup(b, v, &e->value));
    *out = e;
    return TT_OK;
}

tt_status tt_ob_pack(tt_onnx_builder *b, const tt_ob_model_info *info, uint8_t **buf, size_t *len)
{
    Onnx__ModelProto *m = NULL;
    Onnx__GraphProto *g = NULL;
    Onnx__OperatorSetIdProto *ops = NULL;
    OB_NEW(b, m);
    OB_NEW(b, g);
    OB_NEW(b, ops);
    onnx__model_proto__init(m);
    onnx__graph_proto__init(g);
    onnx__operator_set_id_proto__init(ops);
    m->has_ir_version = 1;
    m->ir_version = info->ir_version;
    TT_CHECK(tt_ob_strdup(b, "", &ops->domain)); /* the default ONNX domain */
    ops->has_version = 1;
    ops->version = info->opset;
    m->n_opset_import = 1;
    OB_ALLOC(b, m->opset_import, sizeof *m->opset_import);
    m->opset_import[0] = ops;
    TT_CHECK(tt_ob_strdup(b, "tinytrain", &m->producer_name));
    TT_CHECK(tt_ob_strdup(b, info->producer_version, &m->producer_version));
    TT_CHECK(tt_ob_strdup(b, info->doc, &m->doc_string));
    m->n_metadata_props = (size_t)info->n_meta;
    OB_ALLOC(b, m->metadata_props, (size_t)info->n_meta * sizeof *m->metadata_props);
    for (int i = 0; i < info->n_meta; i++)
        TT_CHECK(string_entry(b, info->meta_keys[i], info->meta_values[i], &m->metadata_props[i]));
    TT_CHECK(tt_ob_strdup(b, info->graph_name, &g->name));
    g->n_node = b->nodes.n;
    g->node = (Onnx__NodeProto **)b->nodes.items;
    g->n_initializer = b->inits.n;
    g->initializer = (Onnx__TensorProto **)b->inits.items;
    g->n_input = b->inputs.n;
    g->input = (Onnx__ValueInfoProto **)b->inputs.items;
    g->n_output = b->outputs.n;
    g->output = (Onnx__ValueInfoProto **)b->outputs.items;
    m->graph = g;
    size_t n = onnx__model_proto__get_packed_size(m);
    *buf = malloc(n ? n : 1);
    if (!*buf) return oom();
    *len = onnx__model_proto__pack(m, *buf);
    if (*len != n) {
        free(*buf);
        *buf = NULL;
        return tt_fail(TT_ERR_STATE, "ONNX export: protobuf-c packed %zu bytes, expected %zu", *len,
                       n);
    }
    return TT_OK;
}
