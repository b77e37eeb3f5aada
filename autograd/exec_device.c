/* The executor on an OpenCL or CUDA device: the same plan as on the CPU (shapes, which values
 * need gradients, the node order), with every buffer in device memory and every node run by its
 * device op (kernels/shared/dev_op.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "autograd/exec_internal.h"
#include "autograd/internal.h"
#include "autograd/op.h"
#include "kernels/shared/dev_op.h"
#include "tinytrain/backends.h"

/* "opencl", "opencl:2", "cuda", "cuda:0" -> kind and index; "cpu" -> TT_BACKEND_CPU. */
static tt_status parse_backend(const char *s, tt_backend_kind *kind, int *index)
{
    *index = 0;
    const char *names[] = {"cpu", "opencl", "cuda"};
    for (int k = 0; k < 3; k++) {
        size_t n = strlen(names[k]);
        if (strncmp(s, names[k], n) != 0) continue;
        *kind = (tt_backend_kind)k;
        if (s[n] == '\0') return TT_OK;
        char *end = NULL;
        long v = s[n] == ':' ? strtol(s + n + 1, &end, 10) : -1;
        if (k != 0 && s[n] == ':' && end != s + n + 1 && *end == '\0' && v >= 0 && v < 1024) {
            *index = (int)v;
            return TT_OK;
        }
    }
    return tt_fail(TT_ERR_INVALID_ARG,
                   "backend '%s' is not one of cpu, opencl, opencl:N, cuda, cuda:N "
                   "('tinytrain backends' lists the devices)",
                   s);
}

static tt_status open_device(tt_backend_kind kind, int index, tt_dev **out)
{
    const tt_device_ops *ops = kind == TT_BACKEND_OPENCL ? tt_device_opencl() : tt_device_cuda();
    const char *name = tt_backend_kind_name(kind);
    if (!ops)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "this tinytrain was built without the %s backend (CMake TT_%s=OFF); "
                       "rebuild with it or use --backend cpu",
                       name, kind == TT_BACKEND_OPENCL ? "OPENCL" : "CUDA");
    int n = 0;
    TT_CHECK(ops->count(&n));
    if (index >= n)
        return tt_fail(TT_ERR_INVALID_ARG, "%s device %d does not exist: this machine has %d", name,
                       index, n);
    return ops->open(index, out);
}

tt_status tt_backend_check(const char *backend)
{
    TT_CHECK_NULL(backend, "tt_backend_check");
    tt_backend_kind kind;
    int index;
    TT_CHECK(parse_backend(backend, &kind, &index));
    if (kind == TT_BACKEND_CPU) return TT_OK;
    tt_dev *d = NULL;
    TT_CHECK(open_device(kind, index, &d));
    d->ops->close(d);
    return TT_OK;
}

static tt_status alloc(tt_exec *e, size_t bytes, tt_dbuf **out)
{
    return e->dev->ops->alloc(e->dev, bytes, out);
}

static size_t value_bytes(const tt_exec *e, int i)
{
    const tt_value *v = &e->g->values[i];
    if (v->kind == TT_VALUE_PARAM)
        return (size_t)tt_tensor_numel(v->data) * tt_dtype_size(v->data->dtype);
    return e->val[i].capacity;
}

static void gather(tt_exec *e, const tt_node *nd, const tt_tensor **in)
{
    for (int i = 0; i < TT_MAX_NODE_IO; i++)
        in[i] = (i < nd->n_in && nd->in[i] >= 0) ? &e->val[nd->in[i]] : NULL;
}

/* Every node needs a device forward; sizes of its state and of the shared scratch. */
static tt_status plan_nodes(tt_exec *e)
{
    const char *bk = tt_backend_kind_name(e->dev->info.kind);
    for (int k = 0; k < e->g->n_nodes; k++) {
        const tt_node *nd = &e->g->nodes[k];
        const tt_dop_def *d = tt_dop_get(nd->op);
        if (!d || !d->forward)
            return tt_fail(TT_ERR_UNSUPPORTED,
                           "node '%s': op %s has no %s kernel yet, so this graph cannot run on "
                           "%s (docs/backends.md lists the device ops); use --backend cpu",
                           nd->name, tt_op_name(nd->op), bk, bk);
        const tt_tensor *in[TT_MAX_NODE_IO];
        gather(e, nd, in);
        const tt_tensor *out = &e->val[nd->out[0]];
        e->dsaved_bytes[k] = d->saved_size ? d->saved_size(nd, in, out) : 0;
        size_t sc = d->scratch_size ? d->scratch_size(nd, in, out) : 0;
        size_t hs = d->host_size ? d->host_size(nd, in, out) : 0;
        if (sc > e->dscratch_bytes) e->dscratch_bytes = sc;
        if (hs > e->host_bytes) e->host_bytes = hs;
    }
    return TT_OK;
}

static tt_status alloc_all(tt_exec *e)
{
    tt_graph *g = e->g;
    for (int i = 0; i < g->n_values; i++) {
        TT_CHECK(alloc(e, value_bytes(e, i), &e->dval[i]));
        if (e->needs_grad[i]) TT_CHECK(alloc(e, e->grad[i].capacity, &e->dgrad[i]));
    }
    for (int k = 0; k < g->n_nodes; k++)
        if (e->dsaved_bytes[k]) TT_CHECK(alloc(e, e->dsaved_bytes[k], &e->dsaved[k]));
    if (e->dscratch_bytes) TT_CHECK(alloc(e, e->dscratch_bytes, &e->dscratch));
    if (e->host_bytes && !(e->host = malloc(e->host_bytes)))
        return tt_fail(TT_ERR_NOMEM, "tt_exec_create_on: out of host memory");
    return tt_exec_params_to_device(e);
}

static tt_status attach(tt_exec *e, tt_backend_kind kind, int index)
{
    TT_CHECK(open_device(kind, index, &e->dev));
    snprintf(e->backend, sizeof e->backend, "%s:%d (%s)", tt_backend_kind_name(kind), index,
             e->dev->info.name);
    size_t nv = (size_t)e->g->n_values, nn = (size_t)e->g->n_nodes;
    e->dval = calloc(nv ? nv : 1, sizeof *e->dval);
    e->dgrad = calloc(nv ? nv : 1, sizeof *e->dgrad);
    e->dsaved = calloc(nn ? nn : 1, sizeof *e->dsaved);
    e->dsaved_bytes = calloc(nn ? nn : 1, sizeof *e->dsaved_bytes);
    if (!e->dval || !e->dgrad || !e->dsaved || !e->dsaved_bytes)
        return tt_fail(TT_ERR_NOMEM, "tt_exec_create_on: out of host memory");
    TT_CHECK(plan_nodes(e));
    return alloc_all(e);
}

tt_status tt_exec_create_on(tt_graph *g, int64_t max_batch, const char *backend, tt_exec **out)
{
    TT_CHECK_NULL(out, "tt_exec_create_on");
    *out = NULL;
    TT_CHECK_NULL(backend, "tt_exec_create_on");
    tt_backend_kind kind;
    int index;
    TT_CHECK(parse_backend(backend, &kind, &index));
    tt_exec *e = NULL;
    TT_CHECK(tt_exec_create(g, max_batch, &e));
    if (kind == TT_BACKEND_CPU) {
        *out = e;
        return TT_OK;
    }
    tt_status s = attach(e, kind, index);
    if (s != TT_OK) {
        tt_exec_free(e);
        return s;
    }
    *out = e;
    return TT_OK;
}

void tt_exec_device_free(tt_exec *e)
{
    if (!e->dev) return;
    const tt_device_ops *ops = e->dev->ops;
    for (int i = 0; e->dval && i < e->g->n_values; i++) ops->free(e->dev, e->dval[i]);
    for (int i = 0; e->dgrad && i < e->g->n_values; i++) ops->free(e->dev, e->dgrad[i]);
    for (int k = 0; e->dsaved && k < e->g->n_nodes; k++) ops->free(e->dev, e->dsaved[k]);
    ops->free(e->dev, e->dscratch);
    free(e->dval);
    free(e->dgrad);
    free(e->dsaved);
    free(e->dsaved_bytes);
    free(e->host);
    ops->close(e->dev);
    e->dev = NULL;
}

const char *tt_exec_backend(const tt_exec *e)
{
    if (!e) return "";
    return e->dev ? e->backend : "cpu";
}

tt_status tt_exec_params_to_device(tt_exec *e)
{
    TT_CHECK_NULL(e, "tt_exec_params_to_device");
    if (!e->dev) return TT_OK;
    for (int i = 0; i < e->g->n_values; i++) {
        const tt_value *v = &e->g->values[i];
        if (v->kind != TT_VALUE_PARAM) continue;
        TT_CHECK(e->dev->ops->write_at(e->dev, e->dval[i], 0, v->data->data, value_bytes(e, i)));
    }
    return TT_OK;
}

tt_status tt_exec_params_to_host(tt_exec *e)
{
    TT_CHECK_NULL(e, "tt_exec_params_to_host");
    if (!e->dev) return TT_OK;
    for (int i = 0; i < e->g->n_values; i++) {
        const tt_value *v = &e->g->values[i];
        if (v->kind != TT_VALUE_PARAM) continue;
        TT_CHECK(e->dev->ops->read_at(e->dev, e->dval[i], 0, v->data->data, value_bytes(e, i)));
    }
    return TT_OK;
}

tt_status tt_exec_device_set_input(tt_exec *e, int id, size_t bytes)
{
    return e->dev->ops->write_at(e->dev, e->dval[id], 0, e->val[id].data, bytes);
}

tt_status tt_exec_device_fetch(tt_exec *e, int id, bool grad)
{
    const tt_tensor *t = grad ? &e->grad[id] : &e->val[id];
    tt_dbuf *b = grad ? e->dgrad[id] : e->dval[id];
    size_t bytes = (size_t)tt_tensor_numel(t) * tt_dtype_size(t->dtype);
    return e->dev->ops->read_at(e->dev, b, 0, t->data, bytes);
}

static void make_dctx(tt_exec *e, int k, bool training, tt_dop_ctx *c)
{
    const tt_node *nd = &e->g->nodes[k];
    const tt_op_def *def = tt_op_def_get(nd->op);
    memset(c, 0, sizeof *c);
    c->dev = e->dev;
    c->node = nd;
    for (int i = 0; i < nd->n_in; i++) {
        int v = nd->in[i];
        if (v < 0) continue;
        c->in[i] = &e->val[v];
        c->x[i] = e->dval[v];
        if (e->needs_grad[v] && !(def->nondiff_inputs & (1u << i))) c->dx[i] = e->dgrad[v];
    }
    for (int j = 0; j < nd->n_out; j++) {
        int v = nd->out[j];
        c->out[j] = &e->val[v];
        c->y[j] = e->dval[v];
        if (e->needs_grad[v]) c->dy[j] = e->dgrad[v];
    }
    c->saved = e->dsaved[k];
    c->saved_bytes = e->dsaved_bytes[k];
    c->scratch = e->dscratch;
    c->scratch_bytes = e->dscratch_bytes;
    c->host = e->host;
    c->host_bytes = e->host_bytes;
    c->training = training;
    c->rng = &e->rng;
}

tt_status tt_exec_device_forward(tt_exec *e, bool training)
{
    for (int k = 0; k < e->g->n_nodes; k++) {
        tt_dop_ctx c;
        make_dctx(e, k, training, &c);
        TT_CHECK(tt_dop_get(e->g->nodes[k].op)->forward(&c));
    }
    return TT_OK;
}

tt_status tt_exec_device_backward(tt_exec *e, int id, const float *seed)
{
    const tt_device_ops *ops = e->dev->ops;
    for (int i = 0; i < e->g->n_values; i++)
        if (e->needs_grad[i])
            TT_CHECK(ops->zero(e->dev, e->dgrad[i], 0,
                               (size_t)tt_tensor_numel(&e->grad[i]) * sizeof(float)));
    TT_CHECK(ops->write_at(e->dev, e->dgrad[id], 0, seed,
                           (size_t)tt_tensor_numel(&e->grad[id]) * sizeof(float)));
    for (int k = e->g->n_nodes - 1; k >= 0; k--) {
        const tt_node *nd = &e->g->nodes[k];
        bool any = false;
        for (int j = 0; j < nd->n_out; j++) any |= e->needs_grad[nd->out[j]];
        if (!any || nd->out[0] > id) continue;
        const tt_dop_def *d = tt_dop_get(nd->op);
        if (!d->backward)
            return tt_fail(TT_ERR_UNSUPPORTED,
                           "node '%s': op %s has no %s backward kernel yet; train it with "
                           "--backend cpu",
                           nd->name, tt_op_name(nd->op), tt_backend_kind_name(e->dev->info.kind));
        tt_dop_ctx c;
        make_dctx(e, k, true, &c);
        TT_CHECK(d->backward(&c));
    }
    return TT_OK;
}
