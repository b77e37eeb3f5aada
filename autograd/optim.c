/* SGD, Adam and AdamW with PyTorch's update rules (torch.optim, single-tensor path), and global
 * gradient-norm clipping as torch.nn.utils.clip_grad_norm_.
 *
 * Element arithmetic is float32 in the same order as PyTorch's CPU kernels, with the per-step
 * scalars (bias corrections, step size, 1 - beta) computed in double and rounded to float where
 * PyTorch rounds its Python-float scalars, so parity fixtures agree to a few ulps. All state is
 * allocated in tt_optim_create; tt_optim_step never allocates. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "autograd/exec_internal.h"
#include "autograd/internal.h"
#include "tinytrain/optim.h"

/* Parameters above this many elements are updated by several threads. */
#define TT_OPTIM_PAR_MIN 65536

typedef struct tt_optim_param {
    int id;
    int64_t numel;
    float *s1;        /* SGD momentum buffer or Adam exp_avg; NULL when unused */
    float *s2;        /* Adam exp_avg_sq */
    tt_dbuf *d1, *d2; /* their device copies when the executor is on a device */
    char name1[TT_NAME_MAX + 16], name2[TT_NAME_MAX + 16]; /* state names for checkpoints */
} tt_optim_param;

struct tt_optim {
    tt_optim_config cfg;
    tt_exec *e;
    int n_params;
    tt_optim_param *params;
    float *state; /* one block holding every s1/s2 */
    int64_t steps;
};

tt_optim_config tt_optim_defaults(tt_optim_kind kind)
{
    tt_optim_config c = {.kind = kind, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    switch (kind) {
    case TT_OPTIM_SGD:
        c.lr = 0.01f;
        break;
    case TT_OPTIM_ADAM:
        c.lr = 1e-3f;
        break;
    case TT_OPTIM_ADAMW:
        c.lr = 1e-3f;
        c.weight_decay = 0.01f;
        break;
    default:
        break; /* tt_optim_create rejects the unknown kind */
    }
    return c;
}

static tt_status check_config(const tt_optim_config *c)
{
    const char *fn = "tt_optim_create";
    if (c->kind != TT_OPTIM_SGD && c->kind != TT_OPTIM_ADAM && c->kind != TT_OPTIM_ADAMW)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "%s: unknown optimiser kind %d (use TT_OPTIM_SGD, "
                       "TT_OPTIM_ADAM or TT_OPTIM_ADAMW)",
                       fn, (int)c->kind);
    if (!(c->lr >= 0.0f) || !isfinite(c->lr))
        return tt_fail(TT_ERR_INVALID_ARG, "%s: learning rate %g must be finite and >= 0", fn,
                       (double)c->lr);
    if (!(c->weight_decay >= 0.0f) || !isfinite(c->weight_decay))
        return tt_fail(TT_ERR_INVALID_ARG, "%s: weight_decay %g must be finite and >= 0", fn,
                       (double)c->weight_decay);
    if (c->kind == TT_OPTIM_SGD) {
        if (!(c->momentum >= 0.0f) || !isfinite(c->momentum))
            return tt_fail(TT_ERR_INVALID_ARG, "%s: SGD momentum %g must be finite and >= 0", fn,
                           (double)c->momentum);
        if (!isfinite(c->dampening))
            return tt_fail(TT_ERR_INVALID_ARG, "%s: SGD dampening %g must be finite", fn,
                           (double)c->dampening);
        if (c->nesterov && (c->momentum <= 0.0f || c->dampening != 0.0f))
            return tt_fail(TT_ERR_INVALID_ARG,
                           "%s: Nesterov SGD needs momentum > 0 and dampening 0 (got momentum "
                           "%g, dampening %g)",
                           fn, (double)c->momentum, (double)c->dampening);
        return TT_OK;
    }
    const char *name = c->kind == TT_OPTIM_ADAM ? "Adam" : "AdamW";
    if (!(c->beta1 >= 0.0f && c->beta1 < 1.0f))
        return tt_fail(TT_ERR_INVALID_ARG, "%s: %s beta1 %g is outside [0, 1)", fn, name,
                       (double)c->beta1);
    if (!(c->beta2 >= 0.0f && c->beta2 < 1.0f))
        return tt_fail(TT_ERR_INVALID_ARG, "%s: %s beta2 %g is outside [0, 1)", fn, name,
                       (double)c->beta2);
    if (!(c->eps > 0.0f) || !isfinite(c->eps))
        return tt_fail(TT_ERR_INVALID_ARG, "%s: %s eps %g must be finite and > 0", fn, name,
                       (double)c->eps);
    return TT_OK;
}

void tt_optim_free(tt_optim *o)
{
    if (!o) return;
    for (int k = 0; o->params && o->e->dev && k < o->n_params; k++) {
        o->e->dev->ops->free(o->e->dev, o->params[k].d1);
        o->e->dev->ops->free(o->e->dev, o->params[k].d2);
    }
    free(o->params);
    free(o->state);
    free(o);
}

/* On a device the state lives there too, zeroed as the host copy is. */
static tt_status alloc_device_state(tt_optim *o)
{
    tt_dev *d = o->e->dev;
    if (!d) return TT_OK;
    for (int k = 0; k < o->n_params; k++) {
        tt_optim_param *pp = &o->params[k];
        size_t bytes = (size_t)pp->numel * sizeof(float);
        tt_dbuf **bufs[2] = {pp->s1 ? &pp->d1 : NULL, pp->s2 ? &pp->d2 : NULL};
        for (int i = 0; i < 2; i++) {
            if (!bufs[i]) continue;
            TT_CHECK(d->ops->alloc(d, bytes, bufs[i]));
            TT_CHECK(d->ops->zero(d, *bufs[i], 0, bytes));
        }
    }
    return TT_OK;
}

/* Copy the state between the host (checkpoints) and the device (steps). */
static tt_status state_transfer(tt_optim *o, bool to_host)
{
    tt_dev *d = o->e->dev;
    if (!d) return TT_OK;
    for (int k = 0; k < o->n_params; k++) {
        tt_optim_param *pp = &o->params[k];
        size_t bytes = (size_t)pp->numel * sizeof(float);
        float *h[2] = {pp->s1, pp->s2};
        tt_dbuf *b[2] = {pp->d1, pp->d2};
        for (int i = 0; i < 2; i++) {
            if (!h[i]) continue;
            TT_CHECK(to_host ? d->ops->read_at(d, b[i], 0, h[i], bytes)
                             : d->ops->write_at(d, b[i], 0, h[i], bytes));
        }
    }
    return TT_OK;
}

tt_status tt_optim_state_to_host(tt_optim *o)
{
    TT_CHECK_NULL(o, "tt_optim_state_to_host");
    return state_transfer(o, true);
}

tt_status tt_optim_state_to_device(tt_optim *o)
{
    TT_CHECK_NULL(o, "tt_optim_state_to_device");
    return state_transfer(o, false);
}

tt_status tt_optim_create(const tt_optim_config *cfg, tt_exec *e, tt_optim **out)
{
    const char *fn = "tt_optim_create";
    TT_CHECK_NULL(out, fn);
    *out = NULL;
    TT_CHECK_NULL(cfg, fn);
    TT_CHECK_NULL(e, fn);
    TT_CHECK(check_config(cfg));
    tt_graph *g = tt_exec_graph(e);

    int n = 0;
    for (int i = 0; i < g->n_values; i++)
        if (g->values[i].kind == TT_VALUE_PARAM && g->values[i].trainable) n++;
    if (n == 0)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "%s: the graph has no trainable parameters, so there is nothing to "
                       "optimise",
                       fn);

    int per = cfg->kind == TT_OPTIM_SGD ? (cfg->momentum != 0.0f ? 1 : 0) : 2;
    tt_optim *o = calloc(1, sizeof *o);
    if (!o) return tt_fail(TT_ERR_NOMEM, "%s: out of memory", fn);
    o->cfg = *cfg;
    o->e = e;
    o->n_params = n;
    o->params = calloc((size_t)n, sizeof *o->params);
    if (!o->params) {
        tt_optim_free(o);
        return tt_fail(TT_ERR_NOMEM, "%s: out of memory", fn);
    }
    int64_t total = 0;
    int k = 0;
    for (int i = 0; i < g->n_values; i++) {
        const tt_value *v = &g->values[i];
        if (v->kind != TT_VALUE_PARAM || !v->trainable) continue;
        if (!e->needs_grad[i]) { /* no read-back: on a device that would copy the gradient */
            tt_optim_free(o);
            return tt_fail(TT_ERR_STATE,
                           "%s: trainable parameter '%s' has no gradient buffer in this "
                           "executor (was it marked trainable after tt_exec_create?)",
                           fn, v->name);
        }
        o->params[k].id = i;
        snprintf(o->params[k].name1, sizeof o->params[k].name1,
                 cfg->kind == TT_OPTIM_SGD ? "%s.momentum_buffer" : "%s.exp_avg", v->name);
        snprintf(o->params[k].name2, sizeof o->params[k].name2, "%s.exp_avg_sq", v->name);
        o->params[k].numel = tt_tensor_numel(v->data);
        total += o->params[k].numel;
        k++;
    }
    if ((double)total * per * sizeof(float) > (double)TT_TENSOR_MAX_BYTES) {
        tt_optim_free(o);
        return tt_fail(TT_ERR_NOMEM, "%s: optimiser state for %lld parameters exceeds the cap", fn,
                       (long long)total);
    }
    if (per > 0 && total > 0) {
        o->state = calloc((size_t)(total * per), sizeof(float));
        if (!o->state) {
            tt_optim_free(o);
            return tt_fail(TT_ERR_NOMEM, "%s: cannot allocate state for %lld parameters", fn,
                           (long long)total);
        }
        float *p = o->state;
        for (int j = 0; j < n; j++) {
            o->params[j].s1 = p;
            p += o->params[j].numel;
            if (per == 2) {
                o->params[j].s2 = p;
                p += o->params[j].numel;
            }
        }
    }
    tt_status s = alloc_device_state(o);
    if (s != TT_OK) {
        tt_optim_free(o);
        return s;
    }
    *out = o;
    return TT_OK;
}

int64_t tt_optim_steps(const tt_optim *o)
{
    return o ? o->steps : 0;
}

tt_optim_kind tt_optim_get_kind(const tt_optim *o)
{
    return o ? o->cfg.kind : TT_OPTIM_SGD;
}

/* Buffers per parameter: s1 only (SGD with momentum), s1 and s2 (Adam), none (plain SGD). */
static int states_per_param(const tt_optim *o)
{
    if (o->cfg.kind != TT_OPTIM_SGD) return 2;
    return o->cfg.momentum != 0.0f ? 1 : 0;
}

int tt_optim_state_count(const tt_optim *o)
{
    return o ? o->n_params * states_per_param(o) : 0;
}

tt_status tt_optim_state_get(const tt_optim *o, int i, const char **name, float **data,
                             int64_t *numel)
{
    const char *fn = "tt_optim_state_get";
    TT_CHECK_NULL(o, fn);
    int per = states_per_param(o);
    if (i < 0 || i >= o->n_params * per)
        return tt_fail(TT_ERR_INVALID_ARG, "%s: index %d is outside 0..%d", fn, i,
                       o->n_params * per - 1);
    const tt_optim_param *pp = &o->params[i / per];
    bool second = i % per == 1;
    if (name) *name = second ? pp->name2 : pp->name1;
    if (data) *data = second ? pp->s2 : pp->s1;
    if (numel) *numel = pp->numel;
    return TT_OK;
}

tt_status tt_optim_set_steps(tt_optim *o, int64_t steps)
{
    TT_CHECK_NULL(o, "tt_optim_set_steps");
    if (steps < 0)
        return tt_fail(TT_ERR_INVALID_ARG, "tt_optim_set_steps: step count %lld is negative",
                       (long long)steps);
    o->steps = steps;
    return TT_OK;
}

/* torch.optim.SGD: g += wd p; buf = g on the first step, else buf = mom buf + (1 - damp) g;
 * g = nesterov ? g + mom buf : buf; p -= lr g. */
static void sgd_update(const tt_optim_config *c, float *p, const float *gr, float *buf, int64_t n,
                       float lr, bool first)
{
    float wd = c->weight_decay, mom = c->momentum;
    float damp1 = (float)(1.0 - (double)c->dampening), neg_lr = -lr;
    bool nesterov = c->nesterov;
    if (buf && !first) {
        /* Every step after the first: the loop-invariant tests become selects, so it
         * vectorises; the arithmetic is the same as the general loop below. */
#pragma omp parallel for simd if (n > TT_OPTIM_PAR_MIN)
        for (int64_t i = 0; i < n; i++) {
            float g = gr[i];
            if (wd != 0.0f) g = g + wd * p[i];
            float b = buf[i] * mom + damp1 * g;
            buf[i] = b;
            p[i] = p[i] + neg_lr * (nesterov ? g + mom * b : b);
        }
        return;
    }
#pragma omp parallel for if (n > TT_OPTIM_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float g = gr[i];
        if (wd != 0.0f) g = g + wd * p[i];
        if (buf) {
            buf[i] = first ? g : buf[i] * mom + damp1 * g;
            g = nesterov ? g + mom * buf[i] : buf[i];
        }
        p[i] = p[i] + neg_lr * g;
    }
}

/* torch.optim.Adam / AdamW at step t (from 1):
 *   AdamW: p *= 1 - lr wd;  Adam: g += wd p
 *   m = lerp(m, g, 1 - beta1);  v = beta2 v + (1 - beta2) g^2
 *   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps) */
/* The step's scalars, computed in double and rounded where PyTorch rounds its Python floats;
 * shared by the CPU loop and the device kernel so both see the same bits. */
typedef struct adam_scalars {
    bool decoupled;
    float wd, eps, b2, w1, w2, neg_step, bc2_sqrt, decay;
} adam_scalars;

static adam_scalars adam_scalars_at(const tt_optim_config *c, float lr, int64_t t)
{
    double bc1 = 1.0 - pow((double)c->beta1, (double)t);
    double bc2 = 1.0 - pow((double)c->beta2, (double)t);
    return (adam_scalars){
        .decoupled = c->kind == TT_OPTIM_ADAMW,
        .wd = c->weight_decay,
        .eps = c->eps,
        .b2 = c->beta2,
        .w1 = (float)(1.0 - (double)c->beta1),
        .w2 = (float)(1.0 - (double)c->beta2),
        .neg_step = (float)(-((double)lr / bc1)),
        .bc2_sqrt = (float)sqrt(bc2),
        .decay = (float)(1.0 - (double)lr * (double)c->weight_decay),
    };
}

static void adam_update(const tt_optim_config *c, float *p, const float *gr, float *m, float *v,
                        int64_t n, float lr, int64_t t)
{
    adam_scalars k = adam_scalars_at(c, lr, t);
    bool decoupled = k.decoupled;
    float wd = k.wd, eps = k.eps, b2 = k.b2, w1 = k.w1, w2 = k.w2, neg_step = k.neg_step;
    float bc2_sqrt = k.bc2_sqrt, decay = k.decay;
#pragma omp parallel for if (n > TT_OPTIM_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float g = gr[i];
        if (wd != 0.0f) {
            if (decoupled)
                p[i] = p[i] * decay;
            else
                g = g + wd * p[i];
        }
        /* PyTorch's lerp, which picks the form that is exact at its nearer end. */
        m[i] = w1 < 0.5f ? m[i] + w1 * (g - m[i]) : g - (g - m[i]) * (1.0f - w1);
        v[i] = v[i] * b2 + w2 * g * g;
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        p[i] = p[i] + neg_step * m[i] / denom;
    }
}

static tt_status device_adam(tt_optim *o, tt_optim_param *pp, tt_dbuf *p, tt_dbuf *gr, float lr,
                             int64_t t)
{
    adam_scalars k = adam_scalars_at(&o->cfg, lr, t);
    return TT_DEV_LAUNCH(o->e->dev, "tt_train_adam_step", pp->numel, TT_KBUF(p), TT_KBUF(gr),
                         TT_KBUF(pp->d1), TT_KBUF(pp->d2), TT_KI64(pp->numel), TT_KF32(k.wd),
                         TT_KF32(k.eps), TT_KF32(k.b2), TT_KF32(k.w1), TT_KF32(k.w2),
                         TT_KF32(k.neg_step), TT_KF32(k.bc2_sqrt), TT_KF32(k.decay),
                         TT_KI32(k.decoupled));
}

/* The same updates with the device's kernels (kernels/shared: tt_sgd_step, tt_train_adam_step),
 * which compute what sgd_update and adam_update compute, operation for operation. */
static tt_status device_step(tt_optim *o, float lr, bool first)
{
    tt_exec *e = o->e;
    const tt_optim_config *c = &o->cfg;
    for (int k = 0; k < o->n_params; k++) {
        tt_optim_param *pp = &o->params[k];
        tt_dbuf *p = e->dval[pp->id], *gr = e->dgrad[pp->id];
        if (c->kind == TT_OPTIM_SGD) {
            tt_dev_sgd a = {pp->numel,   p,           gr,           pp->d1,
                            lr,          c->momentum, c->dampening, c->weight_decay,
                            c->nesterov, first};
            TT_CHECK(tt_dev_sgd_step_kernel(e->dev, &a));
        } else {
            TT_CHECK(device_adam(o, pp, p, gr, lr, o->steps + 1));
        }
    }
    return TT_OK;
}

tt_status tt_optim_step(tt_optim *o, float lr)
{
    TT_CHECK_NULL(o, "tt_optim_step");
    if (!(lr >= 0.0f) || !isfinite(lr))
        return tt_fail(TT_ERR_INVALID_ARG,
                       "tt_optim_step: learning rate %g must be finite and >= 0 (check the "
                       "schedule)",
                       (double)lr);
    tt_graph *g = tt_exec_graph(o->e);
    bool first = o->steps == 0;
    if (o->e->dev) {
        TT_CHECK(device_step(o, lr, first));
        o->steps++;
        return TT_OK;
    }
    for (int k = 0; k < o->n_params; k++) {
        tt_optim_param *pp = &o->params[k];
        float *p = tt_tensor_f32(g->values[pp->id].data);
        const float *gr = tt_tensor_f32(tt_exec_grad(o->e, pp->id));
        if (o->cfg.kind == TT_OPTIM_SGD)
            sgd_update(&o->cfg, p, gr, pp->s1, pp->numel, lr, first);
        else
            adam_update(&o->cfg, p, gr, pp->s1, pp->s2, pp->numel, lr, o->steps + 1);
    }
    o->steps++;
    return TT_OK;
}

/* A gradient that could not be read back from the device: the device's error, kept. */
static tt_status read_failed(const char *fn, const char *name)
{
    char why[512];
    snprintf(why, sizeof why, "%s", tt_last_error());
    return tt_fail(TT_ERR_UNSUPPORTED, "%s: reading the gradient of '%s' from the device: %s", fn,
                   name, why);
}

tt_status tt_clip_grad_norm(tt_exec *e, float max_norm, float *norm_out)
{
    TT_CHECK_NULL(e, "tt_clip_grad_norm");
    if (!(max_norm > 0.0f) || !isfinite(max_norm))
        return tt_fail(TT_ERR_INVALID_ARG, "tt_clip_grad_norm: max_norm %g must be finite and > 0",
                       (double)max_norm);
    tt_graph *g = tt_exec_graph(e);
    double ss = 0.0;
    for (int i = 0; i < g->n_values; i++) {
        if (g->values[i].kind != TT_VALUE_PARAM || !g->values[i].trainable) continue;
        tt_tensor *gt = tt_exec_grad(e, i);
        if (!gt && e->dev && e->needs_grad[i])
            return read_failed("tt_clip_grad_norm", g->values[i].name);
        if (!gt) continue;
        const float *d = tt_tensor_f32(gt);
        int64_t n = tt_tensor_numel(gt);
        double part = 0.0;
#pragma omp parallel for reduction(+ : part) if (n > TT_OPTIM_PAR_MIN)
        for (int64_t j = 0; j < n; j++) part += (double)d[j] * (double)d[j];
        ss += part;
    }
    double total = sqrt(ss);
    if (norm_out) *norm_out = (float)total;
    if (!isfinite(total))
        return tt_fail(TT_ERR_NUMERIC,
                       "tt_clip_grad_norm: the gradient norm is %g (NaN or Inf in a "
                       "gradient); lower the learning rate or check the loss",
                       total);
    double coef = (double)max_norm / (total + 1e-6);
    if (coef >= 1.0) return TT_OK;
    float cf = (float)coef;
    for (int i = 0; i < g->n_values; i++) {
        if (g->values[i].kind != TT_VALUE_PARAM || !g->values[i].trainable) continue;
        tt_tensor *gt = tt_exec_grad(e, i);
        if (!gt && e->dev && e->needs_grad[i])
            return read_failed("tt_clip_grad_norm", g->values[i].name);
        if (!gt) continue;
        float *d = tt_tensor_f32(gt);
        int64_t n = tt_tensor_numel(gt);
#pragma omp parallel for if (n > TT_OPTIM_PAR_MIN)
        for (int64_t j = 0; j < n; j++) d[j] *= cf;
        /* on a device d is a read-back copy: store the clipped gradient back */
        if (e->dev)
            TT_CHECK(e->dev->ops->write_at(e->dev, e->dgrad[i], 0, d, (size_t)n * sizeof(float)));
    }
    return TT_OK;
}
