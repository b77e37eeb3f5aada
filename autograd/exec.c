/* The executor: plans buffers once, then runs forward and reverse-mode backward over the
 * graph's node list (the static graph is the tape). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "autograd/internal.h"
#include "autograd/op.h"
#include "autograd/exec_internal.h"

static size_t align_up(size_t x)
{
    return (x + TT_ALIGN - 1) & ~(size_t)(TT_ALIGN - 1);
}

static tt_shape batch_shape(const tt_shape *s, int64_t n)
{
    tt_shape r = *s;
    if (r.ndim > 0 && r.dims[0] == TT_DIM_BATCH) r.dims[0] = n;
    return r;
}

static void gather_inputs(tt_exec *e, const tt_node *nd, tt_tensor **in)
{
    for (int i = 0; i < TT_MAX_NODE_IO; i++)
        in[i] = (i < nd->n_in && nd->in[i] >= 0) ? &e->val[nd->in[i]] : NULL;
}

/* Give every input and activation its shape at batch n, checking it fits its buffer. */
static tt_status set_shapes(tt_exec *e, int64_t n, bool check_capacity)
{
    tt_graph *g = e->g;
    for (int i = 0; i < g->n_values; i++) {
        if (g->values[i].kind != TT_VALUE_INPUT) continue;
        e->val[i].shape = batch_shape(&g->values[i].shape, n);
    }
    for (int k = 0; k < g->n_nodes; k++) {
        const tt_node *nd = &g->nodes[k];
        tt_tensor *in[TT_MAX_NODE_IO];
        tt_tensor outs[TT_MAX_NODE_IO];
        memset(outs, 0, sizeof outs);
        gather_inputs(e, nd, in);
        TT_CHECK(tt_op_def_get(nd->op)->infer(nd, (const tt_tensor *const *)in, outs));
        for (int j = 0; j < nd->n_out; j++) {
            tt_tensor *t = &e->val[nd->out[j]];
            size_t need = (size_t)tt_shape_numel(&outs[j].shape) * tt_dtype_size(outs[j].dtype);
            if (check_capacity && need > t->capacity)
                return tt_fail(TT_ERR_SHAPE,
                               "node '%s': output needs %zu bytes at batch %lld "
                               "but was planned for %zu",
                               nd->name, need, (long long)n, t->capacity);
            t->shape = outs[j].shape;
            t->dtype = outs[j].dtype;
            e->grad[nd->out[j]].shape = outs[j].shape;
        }
    }
    for (int i = 0; i < g->n_values; i++)
        if (g->values[i].kind == TT_VALUE_INPUT) e->grad[i].shape = e->val[i].shape;
    return TT_OK;
}

static void mark_needs_grad(tt_exec *e)
{
    tt_graph *g = e->g;
    for (int i = 0; i < g->n_values; i++) {
        const tt_value *v = &g->values[i];
        e->needs_grad[i] = v->trainable && v->dtype == TT_F32 && v->kind != TT_VALUE_ACT;
    }
    for (int k = 0; k < g->n_nodes; k++) {
        const tt_node *nd = &g->nodes[k];
        const tt_op_def *def = tt_op_def_get(nd->op);
        bool any = false;
        for (int i = 0; i < nd->n_in; i++)
            if (nd->in[i] >= 0 && !(def->nondiff_inputs & (1u << i)) && e->needs_grad[nd->in[i]])
                any = true;
        for (int j = 0; j < nd->n_out; j++)
            e->needs_grad[nd->out[j]] =
                any && def->backward && g->values[nd->out[j]].dtype == TT_F32;
    }
}

/* Planned sizes at max batch: value buffers, gradients, saved state per node, one scratch. */
static tt_status plan(tt_exec *e, size_t *total)
{
    tt_graph *g = e->g;
    size_t sum = 0;
    for (int i = 0; i < g->n_values; i++) {
        const tt_value *v = &g->values[i];
        size_t bytes = (size_t)tt_shape_numel(&e->val[i].shape) * tt_dtype_size(e->val[i].dtype);
        if (bytes > (size_t)TT_TENSOR_MAX_BYTES || sum > (size_t)TT_TENSOR_MAX_BYTES)
            return tt_fail(TT_ERR_NOMEM,
                           "tt_exec_create: value '%s' needs %zu bytes at batch "
                           "%lld, over the %lld-byte cap; use a smaller batch",
                           v->name, bytes, (long long)e->max_batch, (long long)TT_TENSOR_MAX_BYTES);
        if (v->kind != TT_VALUE_PARAM) {
            e->val[i].capacity = bytes;
            sum += align_up(bytes);
        }
        if (e->needs_grad[i]) {
            e->grad[i].capacity = bytes;
            sum += align_up(bytes);
        }
    }
    for (int k = 0; k < g->n_nodes; k++) {
        const tt_node *nd = &g->nodes[k];
        const tt_op_def *def = tt_op_def_get(nd->op);
        tt_tensor *in[TT_MAX_NODE_IO];
        gather_inputs(e, nd, in);
        const tt_tensor *out = &e->val[nd->out[0]];
        e->saved_bytes[k] =
            def->saved_size ? def->saved_size(nd, (const tt_tensor *const *)in, out) : 0;
        size_t sc =
            def->scratch_size ? def->scratch_size(nd, (const tt_tensor *const *)in, out) : 0;
        if (sc > e->scratch_bytes) e->scratch_bytes = sc;
        sum += align_up(e->saved_bytes[k]);
    }
    sum += align_up(e->scratch_bytes);
    if (sum > (size_t)TT_TENSOR_MAX_BYTES)
        return tt_fail(TT_ERR_NOMEM,
                       "tt_exec_create: the plan needs %zu bytes at batch %lld, "
                       "over the %lld-byte cap; use a smaller batch",
                       sum, (long long)e->max_batch, (long long)TT_TENSOR_MAX_BYTES);
    *total = sum;
    return TT_OK;
}

static void carve(tt_exec *e)
{
    tt_graph *g = e->g;
    char *p = e->arena;
    for (int i = 0; i < g->n_values; i++) {
        if (g->values[i].kind != TT_VALUE_PARAM) {
            e->val[i].data = p;
            p += align_up(e->val[i].capacity);
        }
        if (e->needs_grad[i]) {
            e->grad[i].data = p;
            p += align_up(e->grad[i].capacity);
        }
    }
    for (int k = 0; k < g->n_nodes; k++) {
        e->saved[k] = e->saved_bytes[k] ? p : NULL;
        p += align_up(e->saved_bytes[k]);
    }
    e->scratch = e->scratch_bytes ? p : NULL;
}

static tt_status exec_init(tt_exec *e)
{
    tt_graph *g = e->g;
    size_t nv = (size_t)g->n_values, nn = (size_t)g->n_nodes;
    e->val = calloc(nv ? nv : 1, sizeof *e->val);
    e->grad = calloc(nv ? nv : 1, sizeof *e->grad);
    e->needs_grad = calloc(nv ? nv : 1, sizeof *e->needs_grad);
    e->saved = calloc(nn ? nn : 1, sizeof *e->saved);
    e->saved_bytes = calloc(nn ? nn : 1, sizeof *e->saved_bytes);
    if (!e->val || !e->grad || !e->needs_grad || !e->saved || !e->saved_bytes)
        return tt_fail(TT_ERR_NOMEM, "tt_exec_create: out of memory");
    for (size_t i = 0; i < nv; i++) {
        const tt_value *v = &g->values[i];
        e->val[i].dtype = v->dtype;
        e->grad[i].dtype = TT_F32;
        e->val[i].shape = batch_shape(&v->shape, e->max_batch);
        e->grad[i].shape = e->val[i].shape;
        if (v->kind == TT_VALUE_PARAM) {
            e->val[i].data = v->data->data; /* a view: the graph owns parameters */
            e->val[i].capacity = 0;
        }
    }
    mark_needs_grad(e);
    TT_CHECK(set_shapes(e, e->max_batch, false));
    size_t total = 0;
    TT_CHECK(plan(e, &total));
    e->arena_bytes = total;
    e->arena = aligned_alloc(TT_ALIGN, align_up(total ? total : 1));
    if (!e->arena)
        return tt_fail(TT_ERR_NOMEM, "tt_exec_create: cannot allocate %zu bytes for batch %lld",
                       total, (long long)e->max_batch);
    memset(e->arena, 0, align_up(total ? total : 1));
    carve(e);
    return TT_OK;
}

tt_status tt_exec_create(tt_graph *g, int64_t max_batch, tt_exec **out)
{
    TT_CHECK_NULL(out, "tt_exec_create");
    *out = NULL;
    TT_CHECK_NULL(g, "tt_exec_create");
    if (max_batch < 1 || max_batch > (1 << 24))
        return tt_fail(TT_ERR_INVALID_ARG, "tt_exec_create: max_batch %lld is outside 1..%d",
                       (long long)max_batch, 1 << 24);
    TT_CHECK(tt_graph_validate(g));
    tt_exec *e = calloc(1, sizeof *e);
    if (!e) return tt_fail(TT_ERR_NOMEM, "tt_exec_create: out of memory");
    e->g = g;
    e->max_batch = max_batch;
    tt_rng_seed(&e->rng, 0, 0);
    tt_status s = exec_init(e);
    if (s != TT_OK) {
        tt_exec_free(e);
        return s;
    }
    *out = e;
    return TT_OK;
}

void tt_exec_free(tt_exec *e)
{
    if (!e) return;
    tt_exec_device_free(e);
    free(e->arena);
    free(e->val);
    free(e->grad);
    free(e->needs_grad);
    free(e->saved);
    free(e->saved_bytes);
    free(e);
}

static tt_status check_id(const tt_exec *e, int id, const char *fn)
{
    if (!e) return tt_fail(TT_ERR_INVALID_ARG, "%s: executor is NULL", fn);
    if (id < 0 || id >= e->g->n_values)
        return tt_fail(TT_ERR_INVALID_ARG, "%s: value id %d does not exist (graph has %d values)",
                       fn, id, e->g->n_values);
    return TT_OK;
}

tt_status tt_exec_set_input(tt_exec *e, int id, const void *data, int64_t n)
{
    TT_CHECK(check_id(e, id, "tt_exec_set_input"));
    TT_CHECK_NULL(data, "tt_exec_set_input");
    const tt_value *v = &e->g->values[id];
    if (v->kind != TT_VALUE_INPUT)
        return tt_fail(TT_ERR_INVALID_ARG, "tt_exec_set_input: '%s' is not a graph input", v->name);
    bool batched = v->shape.dims[0] == TT_DIM_BATCH;
    if (batched && (n < 1 || n > e->max_batch))
        return tt_fail(TT_ERR_INVALID_ARG, "tt_exec_set_input('%s'): batch %lld is outside 1..%lld",
                       v->name, (long long)n, (long long)e->max_batch);
    if (!batched && n != v->shape.dims[0])
        return tt_fail(TT_ERR_INVALID_ARG,
                       "tt_exec_set_input('%s'): fixed leading dimension is "
                       "%lld but %lld rows were given",
                       v->name, (long long)v->shape.dims[0], (long long)n);
    tt_shape s = batch_shape(&v->shape, n);
    size_t bytes = (size_t)tt_shape_numel(&s) * tt_dtype_size(v->dtype);
    memcpy(e->val[id].data, data, bytes);
    return e->dev ? tt_exec_device_set_input(e, id, bytes) : TT_OK;
}

static void make_ctx(tt_exec *e, int k, bool training, tt_op_ctx *c)
{
    const tt_node *nd = &e->g->nodes[k];
    const tt_op_def *def = tt_op_def_get(nd->op);
    memset(c, 0, sizeof *c);
    c->node = nd;
    for (int i = 0; i < nd->n_in; i++) {
        if (nd->in[i] < 0) continue;
        c->in[i] = &e->val[nd->in[i]];
        if (e->needs_grad[nd->in[i]] && !(def->nondiff_inputs & (1u << i)))
            c->din[i] = &e->grad[nd->in[i]];
    }
    for (int j = 0; j < nd->n_out; j++) {
        c->out[j] = &e->val[nd->out[j]];
        if (e->needs_grad[nd->out[j]]) c->dout[j] = &e->grad[nd->out[j]];
    }
    c->saved = e->saved[k];
    c->saved_bytes = e->saved_bytes[k];
    c->scratch = e->scratch;
    c->scratch_bytes = e->scratch_bytes;
    c->training = training;
    c->rng = &e->rng;
    c->be = tt_backend_cpu();
}

tt_status tt_exec_forward(tt_exec *e, int64_t n, bool training)
{
    TT_CHECK_NULL(e, "tt_exec_forward");
    if (n < 1 || n > e->max_batch)
        return tt_fail(TT_ERR_INVALID_ARG, "tt_exec_forward: batch %lld is outside 1..%lld",
                       (long long)n, (long long)e->max_batch);
    e->batch = 0;
    TT_CHECK(set_shapes(e, n, true));
    if (e->dev) {
        TT_CHECK(tt_exec_device_forward(e, training));
        e->batch = n;
        e->trained_fwd = training;
        return TT_OK;
    }
    for (int k = 0; k < e->g->n_nodes; k++) {
        tt_op_ctx c;
        make_ctx(e, k, training, &c);
        tt_status s = tt_op_def_get(e->g->nodes[k].op)->forward(&c);
        if (s != TT_OK) return s;
    }
    e->batch = n;
    e->trained_fwd = training;
    return TT_OK;
}

static void zero_grads(tt_exec *e)
{
    for (int i = 0; i < e->g->n_values; i++) {
        if (!e->needs_grad[i]) continue;
        tt_tensor *t = &e->grad[i];
        memset(t->data, 0, (size_t)tt_tensor_numel(t) * sizeof(float));
    }
}

static tt_status run_backward(tt_exec *e, int from_id)
{
    for (int k = e->g->n_nodes - 1; k >= 0; k--) {
        const tt_node *nd = &e->g->nodes[k];
        bool any = false;
        for (int j = 0; j < nd->n_out; j++) any |= e->needs_grad[nd->out[j]];
        if (!any || nd->out[0] > from_id) continue;
        tt_op_ctx c;
        make_ctx(e, k, true, &c);
        tt_status s = tt_op_def_get(nd->op)->backward(&c);
        if (s != TT_OK) return s;
    }
    return TT_OK;
}

static tt_status check_backward(tt_exec *e, int id, const char *fn)
{
    TT_CHECK(check_id(e, id, fn));
    if (e->batch == 0 || !e->trained_fwd)
        return tt_fail(TT_ERR_STATE, "%s: run tt_exec_forward(..., training=true) first", fn);
    if (!e->needs_grad[id])
        return tt_fail(TT_ERR_STATE, "%s: '%s' does not depend on any trainable value", fn,
                       e->g->values[id].name);
    return TT_OK;
}

tt_status tt_exec_backward(tt_exec *e, int loss_id)
{
    TT_CHECK(check_backward(e, loss_id, "tt_exec_backward"));
    const tt_value *lv = &e->g->values[loss_id];
    if (tt_tensor_numel(&e->val[loss_id]) != 1 || lv->dtype != TT_F32)
        return tt_fail(TT_ERR_SHAPE,
                       "tt_exec_backward: '%s' is not a scalar float loss; use "
                       "tt_exec_backward_from with a seed gradient",
                       lv->name);
    if (e->dev) {
        const float one = 1.0f;
        return tt_exec_device_backward(e, loss_id, &one);
    }
    zero_grads(e);
    tt_tensor_f32(&e->grad[loss_id])[0] = 1.0f;
    return run_backward(e, loss_id);
}

tt_status tt_exec_backward_from(tt_exec *e, int id, const float *seed)
{
    TT_CHECK(check_backward(e, id, "tt_exec_backward_from"));
    TT_CHECK_NULL(seed, "tt_exec_backward_from");
    if (e->dev) return tt_exec_device_backward(e, id, seed);
    zero_grads(e);
    tt_tensor *g = &e->grad[id];
    memcpy(g->data, seed, (size_t)tt_tensor_numel(g) * sizeof(float));
    return run_backward(e, id);
}

tt_tensor *tt_exec_value(tt_exec *e, int id)
{
    if (!e || id < 0 || id >= e->g->n_values) return NULL;
    if (e->dev && tt_exec_device_fetch(e, id, false) != TT_OK) return NULL;
    return &e->val[id];
}

tt_status tt_exec_read(tt_exec *e, int id, const tt_tensor **out)
{
    TT_CHECK_NULL(out, "tt_exec_read");
    TT_CHECK(check_id(e, id, "tt_exec_read"));
    if (e->dev) TT_CHECK(tt_exec_device_fetch(e, id, false));
    *out = &e->val[id];
    return TT_OK;
}

tt_tensor *tt_exec_grad(tt_exec *e, int id)
{
    if (!e || id < 0 || id >= e->g->n_values || !e->needs_grad[id]) return NULL;
    if (e->dev && tt_exec_device_fetch(e, id, true) != TT_OK) return NULL;
    return &e->grad[id];
}

void tt_exec_seed(tt_exec *e, uint64_t seed)
{
    if (e) tt_rng_seed(&e->rng, seed, 0x7474u);
}

tt_rng *tt_exec_rng(tt_exec *e)
{
    return e ? &e->rng : NULL;
}
tt_graph *tt_exec_graph(tt_exec *e)
{
    return e ? e->g : NULL;
}
size_t tt_exec_bytes(const tt_exec *e)
{
    return e ? e->arena_bytes : 0;
}
