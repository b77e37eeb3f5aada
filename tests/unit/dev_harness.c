/* The device op test matrix: see dev_harness.h. */
#include "dev_harness.h"
#include "tinytrain/backends.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TT_CHECK_H(expr)                                                                           \
    do {                                                                                           \
        tt_status st_ = (expr);                                                                    \
        if (st_ != TT_OK) {                                                                        \
            printf("%s: %s failed: %s\n", c->label, #expr, tt_last_error());                       \
            return st_;                                                                            \
        }                                                                                          \
    } while (0)

const char *tt_dh_backend(void)
{
    const char *b = getenv("TT_TEST_BACKEND");
    return b && *b ? b : "opencl";
}

int tt_dh_device_status(const char *backend)
{
    /* no device at all (or no such backend in this build): skip; anything else is a failure,
     * such as kernels that do not build on a device that is there */
    tt_backend_list l;
    if (tt_backends_list(&l) != TT_OK) return 1;
    for (int k = 0; k < TT_BACKEND_KIND_COUNT; k++) {
        const char *name = tt_backend_kind_name((tt_backend_kind)k);
        if (strncmp(backend, name, strlen(name)) || l.backends[k].n_devices > 0) continue;
        printf("skipped: no %s device: %s\n", backend,
               l.backends[k].built ? l.backends[k].reason : "not built");
        return 77;
    }
    if (tt_dh_have_device(backend)) return 0;
    printf("FAILED: the %s device is there but cannot run a graph\n", backend);
    return 1;
}

bool tt_dh_have_device(const char *backend)
{
    tt_graph *g = NULL;
    tt_exec *e = NULL;
    int id;
    int64_t one = 1;
    bool ok = tt_graph_create(&g) == TT_OK &&
              tt_graph_add_input(g, "x", TT_F32, 1, &one, &id) == TT_OK &&
              tt_graph_add_node(g, TT_OP_RELU, "r", 1, &id, 0, NULL, NULL) == TT_OK;
    if (ok && tt_exec_create_on(g, 1, backend, &e) != TT_OK) {
        printf("skipped: no %s device: %s\n", backend, tt_last_error());
        ok = false;
    }
    tt_exec_free(e);
    tt_graph_free(g);
    return ok;
}

static void fill(void *data, tt_dtype dt, int64_t n, double lo, double hi, tt_rng *r)
{
    for (int64_t i = 0; i < n; i++) {
        double u = tt_rng_uniform(r);
        if (dt == TT_F32) {
            ((float *)data)[i] = (float)(lo + (hi - lo) * u);
            continue;
        }
        int64_t v = (int64_t)floor(lo + (hi - lo + 1) * u);
        if (v > (int64_t)hi) v = (int64_t)hi;
        switch (dt) {
        case TT_I8:
            ((int8_t *)data)[i] = (int8_t)v;
            break;
        case TT_U8:
            ((uint8_t *)data)[i] = (uint8_t)v;
            break;
        case TT_I32:
            ((int32_t *)data)[i] = (int32_t)v;
            break;
        default:
            ((int64_t *)data)[i] = v;
            break;
        }
    }
}

typedef struct side {
    tt_graph *g;
    tt_exec *e;
    int ids[TT_MAX_NODE_IO];
    int out[TT_MAX_NODE_IO];
    int n_out;
} side;

static int64_t numel(const tt_dh_input *in)
{
    int64_t n = 1;
    for (int i = 0; i < in->ndim; i++) n *= in->dims[i];
    return n;
}

static tt_status build(const tt_dh_case *c, const char *backend, side *s)
{
    tt_rng r;
    tt_rng_seed(&r, c->seed, 17);
    TT_CHECK_H(tt_graph_create(&s->g));
    for (int i = 0; i < c->n_in; i++) {
        const tt_dh_input *in = &c->in[i];
        if (!in->name) {
            s->ids[i] = -1;
            continue;
        }
        if (in->kind == TT_DH_INPUT) {
            TT_CHECK_H(
                tt_graph_add_input(s->g, in->name, in->dtype, in->ndim, in->dims, &s->ids[i]));
            s->g->values[s->ids[i]].trainable = in->grad;
        } else if (in->kind == TT_DH_WEIGHT) {
            TT_CHECK_H(tt_graph_add_param(s->g, in->name, in->ndim, in->dims, true, &s->ids[i]));
        } else {
            TT_CHECK_H(tt_graph_add_param_typed(s->g, in->name, in->dtype, in->ndim, in->dims,
                                                &s->ids[i]));
        }
        if (in->kind != TT_DH_INPUT)
            fill(s->g->values[s->ids[i]].data->data, in->dtype, numel(in), in->lo, in->hi, &r);
    }
    int outs[TT_MAX_NODE_IO];
    TT_CHECK_H(tt_graph_add_node(s->g, c->op, "node", c->n_in, s->ids, c->n_attrs, c->attrs, outs));
    s->n_out = s->g->nodes[0].n_out;
    memcpy(s->out, outs, sizeof outs);
    int64_t batch = 1;
    TT_CHECK_H(tt_exec_create_on(s->g, batch, backend, &s->e));
    tt_exec_seed(s->e, c->seed);
    for (int i = 0; i < c->n_in; i++) {
        const tt_dh_input *in = &c->in[i];
        if (!in->name || in->kind != TT_DH_INPUT) continue;
        size_t bytes = (size_t)numel(in) * tt_dtype_size(in->dtype);
        void *buf = malloc(bytes ? bytes : 1);
        fill(buf, in->dtype, numel(in), in->lo, in->hi, &r);
        tt_status st = tt_exec_set_input(s->e, s->ids[i], buf, in->dims[0]);
        free(buf);
        TT_CHECK_H(st);
    }
    return TT_OK;
}

static void side_free(side *s)
{
    tt_exec_free(s->e);
    tt_graph_free(s->g);
}

/* 0 when dev matches cpu: equal bits (nmse 0 or not float), else NMSE within the tolerance. */
static int compare(const tt_dh_case *c, const char *what, const tt_tensor *cpu,
                   const tt_tensor *dev)
{
    if (!cpu || !dev || cpu->dtype != dev->dtype || !tt_shape_equal(&cpu->shape, &dev->shape)) {
        printf("%s: %s: missing or of another shape on the device\n", c->label, what);
        return 1;
    }
    int64_t n = tt_tensor_numel(cpu);
    size_t es = tt_dtype_size(cpu->dtype);
    if (cpu->dtype != TT_F32 || c->nmse == 0) {
        for (int64_t i = 0; i < n; i++)
            if (memcmp((const char *)cpu->data + i * es, (const char *)dev->data + i * es, es)) {
                double a = cpu->dtype == TT_F32 ? ((const float *)cpu->data)[i] : NAN;
                double b = cpu->dtype == TT_F32 ? ((const float *)dev->data)[i] : NAN;
                printf("%s: %s: element %lld differs (cpu %.9g, device %.9g; bit-exact wanted)\n",
                       c->label, what, (long long)i, a, b);
                return 1;
            }
        return 0;
    }
    const float *a = cpu->data, *b = dev->data;
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(a[i]) != isnan(b[i])) {
            printf("%s: %s: element %lld is NaN on one side only\n", c->label, what, (long long)i);
            return 1;
        }
        if (isnan(a[i])) continue;
        double d = (double)b[i] - a[i];
        num += d * d;
        den += (double)a[i] * a[i];
    }
    double nmse = den > 0 ? num / den : num;
    if (nmse <= c->nmse) return 0;
    printf("%s: %s: NMSE %.3g over the %.3g allowed\n", c->label, what, nmse, c->nmse);
    return 1;
}

static int compare_outputs(const tt_dh_case *c, side *cpu, side *dev)
{
    int bad = 0;
    char what[64];
    for (int j = 0; j < cpu->n_out; j++) {
        snprintf(what, sizeof what, "output %d", j);
        bad += compare(c, what, tt_exec_value(cpu->e, cpu->out[j]),
                       tt_exec_value(dev->e, dev->out[j]));
    }
    /* Parameters a training forward updates (running statistics) must move the same way. */
    if (tt_exec_params_to_host(dev->e) != TT_OK) return bad + 1;
    for (int i = 0; i < c->n_in; i++) {
        if (!c->in[i].name || c->in[i].kind == TT_DH_INPUT) continue;
        snprintf(what, sizeof what, "parameter %s after forward", c->in[i].name);
        bad += compare(c, what, cpu->g->values[cpu->ids[i]].data, dev->g->values[dev->ids[i]].data);
    }
    return bad;
}

static int compare_grads(const tt_dh_case *c, side *cpu, side *dev)
{
    tt_tensor *y = tt_exec_value(cpu->e, cpu->out[0]);
    if (y->dtype != TT_F32 || !tt_exec_grad(cpu->e, cpu->out[0])) return 0;
    int64_t n = tt_tensor_numel(y);
    float *seed = malloc((size_t)(n ? n : 1) * sizeof *seed);
    tt_rng r;
    tt_rng_seed(&r, c->seed, 99);
    fill(seed, TT_F32, n, -1.0, 1.0, &r);
    int bad = 0;
    if (tt_exec_backward_from(cpu->e, cpu->out[0], seed) != TT_OK ||
        tt_exec_backward_from(dev->e, dev->out[0], seed) != TT_OK) {
        printf("%s: backward failed: %s\n", c->label, tt_last_error());
        bad = 1;
    }
    free(seed);
    char what[64];
    for (int i = 0; !bad && i < c->n_in; i++) {
        if (!c->in[i].name) continue;
        tt_tensor *gc = tt_exec_grad(cpu->e, cpu->ids[i]);
        if (!gc) continue;
        snprintf(what, sizeof what, "gradient of %s", c->in[i].name);
        bad += compare(c, what, gc, tt_exec_grad(dev->e, dev->ids[i]));
    }
    return bad;
}

int tt_dh_run(const tt_dh_case *c, const char *backend)
{
    side cpu = {0}, dev = {0};
    int bad = -1;
    if (build(c, "cpu", &cpu) == TT_OK && build(c, backend, &dev) == TT_OK) {
        bool fwd = tt_exec_forward(cpu.e, 1, c->training) == TT_OK &&
                   tt_exec_forward(dev.e, 1, c->training) == TT_OK;
        if (!fwd)
            printf("%s: forward failed: %s\n", c->label, tt_last_error());
        else {
            bad = compare_outputs(c, &cpu, &dev);
            if (c->training) bad += compare_grads(c, &cpu, &dev);
        }
    }
    side_free(&cpu);
    side_free(&dev);
    return bad;
}
