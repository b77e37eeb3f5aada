/* Building and validating the graph IR. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "autograd/internal.h"
#include "autograd/op.h"
#include "tinytrain/graph.h"

#define TT_GRAPH_MAX_VALUES (1 << 20)

tt_attr tt_attr_int(const char *name, int64_t v)
{
    tt_attr a;
    memset(&a, 0, sizeof a);
    snprintf(a.name, sizeof a.name, "%s", name);
    a.type = TT_ATTR_INT;
    a.n = 1;
    a.ints[0] = v;
    return a;
}

tt_attr tt_attr_float(const char *name, float v)
{
    tt_attr a;
    memset(&a, 0, sizeof a);
    snprintf(a.name, sizeof a.name, "%s", name);
    a.type = TT_ATTR_FLOAT;
    a.f = v;
    return a;
}

tt_attr tt_attr_ints(const char *name, int n, const int64_t *v)
{
    tt_attr a;
    memset(&a, 0, sizeof a);
    snprintf(a.name, sizeof a.name, "%s", name);
    a.type = TT_ATTR_INTS;
    a.n = n < 0 ? 0 : (n > TT_MAX_ATTR_INTS ? TT_MAX_ATTR_INTS : n);
    for (int i = 0; i < a.n; i++) a.ints[i] = v[i];
    return a;
}

static const tt_attr *attr_find(const tt_node *n, const char *name)
{
    if (!n || !name) return NULL;
    for (int i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0) return &n->attrs[i];
    return NULL;
}

int64_t tt_node_attr_int(const tt_node *n, const char *name, int64_t dflt)
{
    const tt_attr *a = attr_find(n, name);
    if (!a) return dflt;
    if (a->type == TT_ATTR_FLOAT) return (int64_t)a->f;
    return a->n > 0 ? a->ints[0] : dflt;
}

float tt_node_attr_float(const tt_node *n, const char *name, float dflt)
{
    const tt_attr *a = attr_find(n, name);
    if (!a) return dflt;
    if (a->type == TT_ATTR_FLOAT) return a->f;
    return a->n > 0 ? (float)a->ints[0] : dflt;
}

int tt_node_attr_ints(const tt_node *n, const char *name, int64_t *out, int max)
{
    const tt_attr *a = attr_find(n, name);
    if (!a || a->type == TT_ATTR_FLOAT) return 0;
    for (int i = 0; i < a->n && i < max; i++) out[i] = a->ints[i];
    return a->n;
}

tt_status tt_graph_create(tt_graph **out)
{
    TT_CHECK_NULL(out, "tt_graph_create");
    *out = calloc(1, sizeof **out);
    if (!*out) return tt_fail(TT_ERR_NOMEM, "tt_graph_create: out of memory");
    return TT_OK;
}

void tt_graph_free(tt_graph *g)
{
    if (!g) return;
    for (int i = 0; i < g->n_values; i++) tt_tensor_free(g->values[i].data);
    free(g->values);
    free(g->nodes);
    free(g);
}

int tt_graph_find_value(const tt_graph *g, const char *name)
{
    if (!g || !name) return -1;
    for (int i = 0; i < g->n_values; i++)
        if (strcmp(g->values[i].name, name) == 0) return i;
    return -1;
}

static tt_status check_name(const tt_graph *g, const char *name, const char *fn)
{
    if (!name || !name[0]) return tt_fail(TT_ERR_INVALID_ARG, "%s: empty name", fn);
    if (strlen(name) >= TT_NAME_MAX)
        return tt_fail(TT_ERR_INVALID_ARG, "%s: name '%.20s...' is longer than %d characters", fn,
                       name, TT_NAME_MAX - 1);
    if (tt_graph_find_value(g, name) >= 0)
        return tt_fail(TT_ERR_INVALID_ARG, "%s: a value named '%s' already exists", fn, name);
    return TT_OK;
}

static tt_status push_value(tt_graph *g, const tt_value *v, int *id)
{
    if (g->n_values == g->cap_values) {
        if (g->cap_values >= TT_GRAPH_MAX_VALUES)
            return tt_fail(TT_ERR_NOMEM, "graph: more than %d values", TT_GRAPH_MAX_VALUES);
        int cap = g->cap_values ? g->cap_values * 2 : 32;
        tt_value *nv = realloc(g->values, (size_t)cap * sizeof *nv);
        if (!nv) return tt_fail(TT_ERR_NOMEM, "graph: cannot grow the value table");
        g->values = nv;
        g->cap_values = cap;
    }
    g->values[g->n_values] = *v;
    if (id) *id = g->n_values;
    g->n_values++;
    return TT_OK;
}

static tt_status check_dims(int ndim, const int64_t *dims, bool allow_batch, const char *fn,
                            const char *name)
{
    if (ndim < 1 || ndim > TT_MAX_DIMS)
        return tt_fail(TT_ERR_SHAPE, "%s('%s'): rank %d is outside 1..%d", fn, name, ndim,
                       TT_MAX_DIMS);
    if (!dims) return tt_fail(TT_ERR_INVALID_ARG, "%s('%s'): dims is NULL", fn, name);
    /* Cap one sample's (or a whole param's) size so later products cannot overflow. */
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] > 0) {
            if (numel > TT_TENSOR_MAX_BYTES / 4 / dims[i])
                return tt_fail(TT_ERR_NOMEM, "%s('%s'): shape exceeds the %lld-byte tensor cap", fn,
                               name, (long long)TT_TENSOR_MAX_BYTES);
            numel *= dims[i];
            continue;
        }
        if (i == 0 && allow_batch && dims[i] == TT_DIM_BATCH) continue;
        return tt_fail(TT_ERR_SHAPE, "%s('%s'): dimension %d is %lld; use sizes > 0%s", fn, name, i,
                       (long long)dims[i], allow_batch ? " (or TT_DIM_BATCH for dim 0)" : "");
    }
    return TT_OK;
}

tt_status tt_graph_add_input(tt_graph *g, const char *name, tt_dtype dt, int ndim,
                             const int64_t *dims, int *id)
{
    TT_CHECK_NULL(g, "tt_graph_add_input");
    TT_CHECK(check_name(g, name, "tt_graph_add_input"));
    TT_CHECK(check_dims(ndim, dims, true, "tt_graph_add_input", name));
    if (tt_dtype_size(dt) == 0)
        return tt_fail(TT_ERR_UNSUPPORTED, "tt_graph_add_input('%s'): unknown dtype %d", name,
                       (int)dt);
    tt_value v;
    memset(&v, 0, sizeof v);
    snprintf(v.name, sizeof v.name, "%s", name);
    v.kind = TT_VALUE_INPUT;
    v.dtype = dt;
    v.producer = -1;
    TT_CHECK(tt_shape_make(&v.shape, ndim, dims));
    return push_value(g, &v, id);
}

static tt_status add_param(tt_graph *g, const char *name, tt_dtype dt, int ndim,
                           const int64_t *dims, bool trainable, int *id, const char *where)
{
    TT_CHECK_NULL(g, where);
    TT_CHECK(check_name(g, name, where));
    TT_CHECK(check_dims(ndim, dims, false, where, name));
    if (tt_dtype_size(dt) == 0)
        return tt_fail(TT_ERR_UNSUPPORTED, "%s('%s'): unknown dtype %d", where, name, (int)dt);
    tt_value v;
    memset(&v, 0, sizeof v);
    snprintf(v.name, sizeof v.name, "%s", name);
    v.kind = TT_VALUE_PARAM;
    v.dtype = dt;
    v.trainable = trainable;
    v.producer = -1;
    TT_CHECK(tt_shape_make(&v.shape, ndim, dims));
    TT_CHECK(tt_tensor_alloc(&v.data, dt, ndim, dims));
    tt_status s = push_value(g, &v, id);
    if (s != TT_OK) tt_tensor_free(v.data);
    return s;
}

tt_status tt_graph_add_param(tt_graph *g, const char *name, int ndim, const int64_t *dims,
                             bool trainable, int *id)
{
    return add_param(g, name, TT_F32, ndim, dims, trainable, id, "tt_graph_add_param");
}

tt_status tt_graph_add_param_typed(tt_graph *g, const char *name, tt_dtype dt, int ndim,
                                   const int64_t *dims, int *id)
{
    return add_param(g, name, dt, ndim, dims, false, id, "tt_graph_add_param_typed");
}

float *tt_graph_param_data(tt_graph *g, int id)
{
    if (!g || id < 0 || id >= g->n_values || g->values[id].kind != TT_VALUE_PARAM) return NULL;
    return tt_tensor_f32(g->values[id].data);
}

/* Shape inference for one node from the graph's declared value shapes. */
static tt_status infer_node(const tt_graph *g, const tt_node *n, tt_tensor *outs)
{
    const tt_op_def *def = tt_op_def_get(n->op);
    tt_tensor in_t[TT_MAX_NODE_IO];
    const tt_tensor *in_p[TT_MAX_NODE_IO] = {0};
    memset(in_t, 0, sizeof in_t);
    memset(outs, 0, sizeof(tt_tensor) * TT_MAX_NODE_IO);
    for (int i = 0; i < n->n_in; i++) {
        if (n->in[i] < 0) continue;
        in_t[i].dtype = g->values[n->in[i]].dtype;
        in_t[i].shape = g->values[n->in[i]].shape;
        in_p[i] = &in_t[i];
    }
    return def->infer(n, in_p, outs);
}

static tt_status check_node_inputs(const tt_graph *g, const tt_node *n, int limit)
{
    const tt_op_def *def = tt_op_def_get(n->op);
    if (n->n_in < def->min_in || n->n_in > def->max_in)
        return tt_fail(TT_ERR_INVALID_ARG, "node '%s' (%s): %d inputs given, expected %d..%d",
                       n->name, def->name, n->n_in, def->min_in, def->max_in);
    for (int i = 0; i < n->n_in; i++) {
        bool optional = i >= def->min_in;
        if (n->in[i] == -1 && optional) continue;
        if (n->in[i] < 0 || n->in[i] >= limit)
            return tt_fail(TT_ERR_INVALID_ARG,
                           "node '%s' (%s): input %d refers to value id %d, "
                           "which does not exist before this node",
                           n->name, def->name, i, n->in[i]);
    }
    return TT_OK;
}

tt_status tt_graph_add_node(tt_graph *g, tt_op_type op, const char *name, int n_in,
                            const int *in_ids, int n_attrs, const tt_attr *attrs, int *out_ids)
{
    TT_CHECK_NULL(g, "tt_graph_add_node");
    if ((int)op < 0 || op >= TT_OP_COUNT)
        return tt_fail(TT_ERR_UNSUPPORTED, "tt_graph_add_node: unknown op type %d", (int)op);
    const tt_op_def *def = tt_op_def_get(op);
    if (!name || !name[0] || strlen(name) >= TT_NAME_MAX - 3)
        return tt_fail(TT_ERR_INVALID_ARG, "tt_graph_add_node(%s): name missing or longer than %d",
                       def->name, TT_NAME_MAX - 4);
    if (n_in < 0 || n_in > TT_MAX_NODE_IO || (n_in > 0 && !in_ids))
        return tt_fail(TT_ERR_INVALID_ARG, "node '%s' (%s): bad input list (%d inputs)", name,
                       def->name, n_in);
    if (n_attrs < 0 || n_attrs > TT_MAX_ATTRS || (n_attrs > 0 && !attrs))
        return tt_fail(TT_ERR_INVALID_ARG, "node '%s' (%s): bad attribute list (%d attributes)",
                       name, def->name, n_attrs);
    tt_node n;
    memset(&n, 0, sizeof n);
    n.op = op;
    snprintf(n.name, sizeof n.name, "%s", name);
    n.n_in = n_in;
    for (int i = 0; i < n_in; i++) n.in[i] = in_ids[i];
    n.n_attrs = n_attrs;
    for (int i = 0; i < n_attrs; i++) n.attrs[i] = attrs[i];
    n.n_out = def->n_out;
    TT_CHECK(check_node_inputs(g, &n, g->n_values));

    tt_tensor outs[TT_MAX_NODE_IO];
    TT_CHECK(infer_node(g, &n, outs));

    char oname[TT_NAME_MAX];
    for (int k = 0; k < n.n_out; k++) {
        if (k == 0)
            snprintf(oname, sizeof oname, "%s", name);
        else
            snprintf(oname, sizeof oname, "%s:%d", name, k);
        TT_CHECK(check_name(g, oname, "tt_graph_add_node"));
    }
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? g->cap_nodes * 2 : 32;
        tt_node *nn = realloc(g->nodes, (size_t)cap * sizeof *nn);
        if (!nn) return tt_fail(TT_ERR_NOMEM, "graph: cannot grow the node table");
        g->nodes = nn;
        g->cap_nodes = cap;
    }
    for (int k = 0; k < n.n_out; k++) {
        tt_value v;
        memset(&v, 0, sizeof v);
        if (k == 0)
            snprintf(v.name, sizeof v.name, "%s", name);
        else
            snprintf(v.name, sizeof v.name, "%s:%d", name, k);
        v.kind = TT_VALUE_ACT;
        v.dtype = outs[k].dtype;
        v.shape = outs[k].shape;
        v.producer = g->n_nodes;
        TT_CHECK(push_value(g, &v, &n.out[k]));
        if (out_ids) out_ids[k] = n.out[k];
    }
    g->nodes[g->n_nodes++] = n;
    return TT_OK;
}

tt_status tt_graph_validate(const tt_graph *g)
{
    TT_CHECK_NULL(g, "tt_graph_validate");
    for (int i = 0; i < g->n_nodes; i++) {
        const tt_node *n = &g->nodes[i];
        if ((int)n->op < 0 || n->op >= TT_OP_COUNT)
            return tt_fail(TT_ERR_UNSUPPORTED, "node %d ('%s'): unknown op type %d", i, n->name,
                           (int)n->op);
        int first_out = n->n_out > 0 ? n->out[0] : g->n_values;
        TT_CHECK(check_node_inputs(g, n, first_out));
        tt_tensor outs[TT_MAX_NODE_IO];
        TT_CHECK(infer_node(g, n, outs));
        for (int k = 0; k < n->n_out; k++) {
            const tt_value *v = &g->values[n->out[k]];
            if (!tt_shape_equal(&v->shape, &outs[k].shape) || v->dtype != outs[k].dtype) {
                char a[64], b[64];
                return tt_fail(TT_ERR_SHAPE,
                               "node '%s' (%s): output %d is declared %s %s but "
                               "infers to %s %s",
                               n->name, tt_op_name(n->op), k, tt_dtype_name(v->dtype),
                               tt_shape_str(&v->shape, a, sizeof a), tt_dtype_name(outs[k].dtype),
                               tt_shape_str(&outs[k].shape, b, sizeof b));
            }
        }
    }
    return TT_OK;
}
