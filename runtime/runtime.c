/* The inference runtime (tinytrain/runtime.h): an imported model, planned (int8 mode) and run
 * by the same executor training uses, in chunks of at most max_batch samples. */
#include <stdlib.h>
#include <string.h>
#include "autograd/internal.h"
#include "runtime/plan.h"
#include "tinytrain/exec.h"
#include "tinytrain/runtime.h"

#define DEFAULT_MAX_BATCH 64
/* One chunk's input above this is refused before the executor allocates anything: a file may
 * declare any input shape, and activations grow with it. */
#define MAX_CHUNK_INPUT_BYTES ((int64_t)256 << 20)

struct tt_runtime {
    tt_model *model;
    tt_graph *plan; /* the graph executed: the model's own (float mode) or the int8 copy */
    bool own_plan;
    int in_id, out_id;
    tt_exec *exec;
    int64_t chunk; /* samples per executor run */
    bool fixed;    /* the file fixes the batch: every run is exactly `chunk` samples */
    tt_shape in_shape, out_shape;
    int64_t in_size, out_size;
    tt_runtime_stats stats;
};

static int64_t per_sample(const tt_shape *s)
{
    int64_t n = 1;
    for (int i = 1; i < s->ndim; i++) n *= s->dims[i];
    return n;
}

static void count_stats(const tt_graph *g, tt_runtime_stats *st)
{
    memset(st, 0, sizeof *st);
    st->n_nodes = g->n_nodes;
    for (int k = 0; k < g->n_nodes; k++) {
        switch (g->nodes[k].op) {
        case TT_OP_QLINEAR_CONV:
        case TT_OP_QLINEAR_MATMUL:
        case TT_OP_QGEMM:
        case TT_OP_QLINEAR_ADD:
        case TT_OP_QLINEAR_GAP:
            st->n_int8_nodes++;
            break;
        case TT_OP_QUANTIZE:
        case TT_OP_DEQUANTIZE:
            st->n_qdq_float++;
            break;
        case TT_OP_CONV:
        case TT_OP_GEMM:
        case TT_OP_MATMUL:
            st->n_float_compute++;
            break;
        default:
            break;
        }
    }
}

/* Only the first input is fed: a graph that reads another input cannot run here. */
static tt_status check_io(const tt_graph *g, int in_id, int out_id)
{
    const tt_value *in = &g->values[in_id], *out = &g->values[out_id];
    if (in->dtype != TT_F32 || out->dtype != TT_F32)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "runtime: input '%s' is %s and output '%s' is %s; the runtime feeds and "
                       "reads float32 only",
                       in->name, tt_dtype_name(in->dtype), out->name, tt_dtype_name(out->dtype));
    for (int k = 0; k < g->n_nodes; k++)
        for (int j = 0; j < g->nodes[k].n_in; j++) {
            int v = g->nodes[k].in[j];
            if (v >= 0 && v != in_id && g->values[v].kind == TT_VALUE_INPUT)
                return tt_fail(TT_ERR_UNSUPPORTED,
                               "runtime: node '%s' reads input '%s'; only models with one input "
                               "('%s') can be run",
                               g->nodes[k].name, g->values[v].name, in->name);
        }
    if (out->shape.ndim < 1 || in->shape.ndim < 1)
        return tt_fail(TT_ERR_SHAPE, "runtime: input and output need a batch dimension");
    return TT_OK;
}

static tt_status runtime_init(tt_runtime *rt, const tt_runtime_opts *o)
{
    tt_model *m = rt->model;
    rt->in_id = m->input_id;
    rt->out_id = m->output_id;
    rt->plan = m->graph;
    if (o->mode == TT_RT_INT8) {
        TT_CHECK(tt_plan_int8(m->graph, &rt->in_id, &rt->out_id, &rt->plan));
        rt->own_plan = true;
    }
    TT_CHECK(check_io(rt->plan, rt->in_id, rt->out_id));
    rt->in_shape = rt->plan->values[rt->in_id].shape;
    rt->out_shape = rt->plan->values[rt->out_id].shape;
    rt->in_size = per_sample(&rt->in_shape);
    rt->out_size = per_sample(&rt->out_shape);
    rt->fixed = m->fixed_batch > 0;
    rt->chunk = rt->fixed ? m->fixed_batch : (o->max_batch > 0 ? o->max_batch : DEFAULT_MAX_BATCH);
    if (rt->in_size > MAX_CHUNK_INPUT_BYTES / 4 / rt->chunk) {
        char b[96];
        return tt_fail(TT_ERR_NOMEM,
                       "runtime: input '%s' %s is %lld floats per sample; %lld samples per run "
                       "would need more than %lld MiB (lower max_batch, or the model is not a "
                       "tiny one)",
                       rt->plan->values[rt->in_id].name, tt_shape_str(&rt->in_shape, b, sizeof b),
                       (long long)rt->in_size, (long long)rt->chunk,
                       (long long)(MAX_CHUNK_INPUT_BYTES >> 20));
    }
    count_stats(rt->plan, &rt->stats);
    return tt_exec_create_on(rt->plan, rt->chunk, o->backend ? o->backend : "cpu", &rt->exec);
}

const char *tt_runtime_backend(const tt_runtime *rt)
{
    return rt ? tt_exec_backend(rt->exec) : "";
}

tt_status tt_runtime_create(tt_model *m, const tt_runtime_opts *opts, tt_runtime **out)
{
    if (!out || !m) {
        tt_model_free(m);
        return tt_fail(TT_ERR_INVALID_ARG, "tt_runtime_create: model and out must not be NULL");
    }
    *out = NULL;
    tt_runtime_opts o = {0};
    if (opts) o = *opts;
    if (o.mode != TT_RT_INT8 && o.mode != TT_RT_FLOAT) {
        tt_model_free(m);
        return tt_fail(TT_ERR_INVALID_ARG, "tt_runtime_create: unknown mode %d", (int)o.mode);
    }
    tt_runtime *rt = calloc(1, sizeof *rt);
    if (!rt) {
        tt_model_free(m);
        return tt_fail(TT_ERR_NOMEM, "tt_runtime_create: out of memory");
    }
    rt->model = m;
    tt_status s = runtime_init(rt, &o);
    if (s != TT_OK) {
        tt_runtime_free(rt);
        return s;
    }
    *out = rt;
    return TT_OK;
}

tt_status tt_runtime_load(const char *path, const tt_runtime_opts *opts, tt_runtime **out)
{
    TT_CHECK_NULL(out, "tt_runtime_load");
    *out = NULL;
    tt_model *m = NULL;
    TT_CHECK(tt_onnx_import(path, NULL, &m));
    return tt_runtime_create(m, opts, out);
}

void tt_runtime_free(tt_runtime *rt)
{
    if (!rt) return;
    tt_exec_free(rt->exec);
    if (rt->own_plan) tt_graph_free(rt->plan);
    tt_model_free(rt->model);
    free(rt);
}

const tt_shape *tt_runtime_input_shape(const tt_runtime *rt)
{
    return &rt->in_shape;
}

const tt_shape *tt_runtime_output_shape(const tt_runtime *rt)
{
    return &rt->out_shape;
}

int64_t tt_runtime_input_size(const tt_runtime *rt)
{
    return rt->in_size;
}

int64_t tt_runtime_output_size(const tt_runtime *rt)
{
    return rt->out_size;
}

void tt_runtime_get_stats(const tt_runtime *rt, tt_runtime_stats *st)
{
    *st = rt->stats;
}

const tt_graph *tt_runtime_graph(const tt_runtime *rt)
{
    return rt->plan;
}

tt_status tt_runtime_run(tt_runtime *rt, const float *x, int64_t n, float *y)
{
    TT_CHECK_NULL(rt, "tt_runtime_run");
    TT_CHECK_NULL(x, "tt_runtime_run");
    TT_CHECK_NULL(y, "tt_runtime_run");
    if (n < 0)
        return tt_fail(TT_ERR_INVALID_ARG, "tt_runtime_run: negative batch %lld", (long long)n);
    if (rt->fixed && n % rt->chunk != 0)
        return tt_fail(TT_ERR_SHAPE,
                       "tt_runtime_run: the model fixes its batch at %lld; %lld samples is not a "
                       "multiple of it",
                       (long long)rt->chunk, (long long)n);
    for (int64_t at = 0; at < n; at += rt->chunk) {
        int64_t b = n - at < rt->chunk ? n - at : rt->chunk;
        TT_CHECK(tt_exec_set_input(rt->exec, rt->in_id, x + at * rt->in_size, b));
        TT_CHECK(tt_exec_forward(rt->exec, b, false));
        const tt_tensor *t;
        TT_CHECK(tt_exec_read(rt->exec, rt->out_id, &t));
        memcpy(y + at * rt->out_size, t->data, (size_t)(b * rt->out_size) * sizeof(float));
    }
    return TT_OK;
}
