/* The int8 plan (runtime/plan.h): find the QDQ patterns ONNX Runtime fuses and give each to one
 * integer node. Three passes over a read-only graph: match (which nodes become which integer
 * node), liveness (which nodes the output still needs), emit (a new graph). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "autograd/internal.h"
#include "runtime/plan.h"

/* Value ids standing for zero points the pattern lacks: the copy gets a zero constant. */
#define ZP_ZERO_U8 (-2)
#define ZP_ZERO_I8 (-3)

enum { ROLE_KEEP = 0, ROLE_FUSED, ROLE_ABSORBED };

typedef struct fusion {
    tt_op_type op;
    int n_in;
    int in[TT_MAX_NODE_IO]; /* old value ids, -1 absent, or a ZP_ZERO_* marker */
    int out;                /* the old value the integer node produces (a Q output) */
    int fused_relu;
} fusion;

typedef struct planner {
    const tt_graph *g;
    int out_id;
    int *n_cons, *cons; /* consumers per value; the consumer when there is exactly one */
    unsigned char *role, *live, *needed;
    fusion *fu;
    int *map; /* old value id -> new value id, -1 until made */
    tt_graph *ng;
} planner;

static const tt_node *node(const planner *p, int k)
{
    return &p->g->nodes[k];
}

static const tt_value *val(const planner *p, int v)
{
    return &p->g->values[v];
}

/* The node producing v when it is an op node of type op, else -1. */
static int producer_of(const planner *p, int v, tt_op_type op)
{
    if (v < 0) return -1;
    int k = val(p, v)->producer;
    return k >= 0 && node(p, k)->op == op ? k : -1;
}

/* The only consumer of v (the graph output counts as a consumer), else -1. */
static int only_consumer(const planner *p, int v)
{
    return p->n_cons[v] == 1 ? p->cons[v] : -1;
}

static bool is_param(const planner *p, int v, tt_dtype dt)
{
    return v >= 0 && val(p, v)->kind == TT_VALUE_PARAM && val(p, v)->dtype == dt;
}

static int64_t numel(const planner *p, int v)
{
    return tt_shape_numel(&val(p, v)->shape);
}

/* A constant whose every element is zero (an absent zero point counts as one). */
static bool all_zero(const planner *p, int v)
{
    if (v < 0) return true;
    if (val(p, v)->kind != TT_VALUE_PARAM) return false;
    const unsigned char *b = val(p, v)->data->data;
    size_t bytes = (size_t)numel(p, v) * tt_dtype_size(val(p, v)->dtype);
    for (size_t i = 0; i < bytes; i++)
        if (b[i]) return false;
    return true;
}

/* Equal constants (same dtype, shape and bytes), or the same value. */
static bool same_const(const planner *p, int a, int b)
{
    if (a == b) return true;
    if (a < 0 || b < 0) return all_zero(p, a) && all_zero(p, b);
    const tt_value *x = val(p, a), *y = val(p, b);
    if (x->kind != TT_VALUE_PARAM || y->kind != TT_VALUE_PARAM || x->dtype != y->dtype ||
        !tt_shape_equal(&x->shape, &y->shape))
        return false;
    return memcmp(x->data->data, y->data->data, (size_t)numel(p, a) * tt_dtype_size(x->dtype)) == 0;
}

/* A per-tensor uint8 activation DQ: x, scale [1] f32 const, zero point [1] u8 const or absent. */
typedef struct qact {
    int q, scale, zp;
} qact;

static bool match_act_dq(const planner *p, int v, qact *a)
{
    int k = producer_of(p, v, TT_OP_DEQUANTIZE);
    if (k < 0) return false;
    const tt_node *n = node(p, k);
    int zp = n->n_in > 2 ? n->in[2] : -1;
    if (val(p, n->in[0])->dtype != TT_U8 || !is_param(p, n->in[1], TT_F32) ||
        numel(p, n->in[1]) != 1)
        return false;
    if (zp >= 0 && (!is_param(p, zp, TT_U8) || numel(p, zp) != 1)) return false;
    a->q = n->in[0];
    a->scale = n->in[1];
    a->zp = zp >= 0 ? zp : ZP_ZERO_U8;
    return true;
}

/* A Q of the same kind at the end of a chain. */
static bool match_act_q(const planner *p, int k, qact *a)
{
    const tt_node *n = node(p, k);
    int zp = n->n_in > 2 ? n->in[2] : -1;
    if (n->op != TT_OP_QUANTIZE || !is_param(p, n->in[1], TT_F32) || numel(p, n->in[1]) != 1)
        return false;
    if (zp >= 0 && (!is_param(p, zp, TT_U8) || numel(p, zp) != 1)) return false;
    a->q = n->out[0];
    a->scale = n->in[1];
    a->zp = zp >= 0 ? zp : ZP_ZERO_U8;
    return true;
}

/* A constant weight DQ, per tensor or per channel along `axis` (m channels): int8 symmetric
 * (zero points 0), or uint8 with any zero points, one per scale (ORT's quantize_static writes
 * uint8 weights asymmetric per tensor; the integer kernels take a zero point per row). */
typedef struct qweight {
    int q, scale, zp;
} qweight;

static bool match_weight_zp(const planner *p, int zp, tt_dtype dt, int64_t ns)
{
    if (zp < 0) return true;
    if (!is_param(p, zp, dt)) return false;
    return dt == TT_U8 ? numel(p, zp) == ns : all_zero(p, zp);
}

static bool match_weight_dq(const planner *p, int v, int axis, int64_t m, qweight *w)
{
    int k = producer_of(p, v, TT_OP_DEQUANTIZE);
    if (k < 0) return false;
    const tt_node *n = node(p, k);
    int zp = n->n_in > 2 ? n->in[2] : -1;
    tt_dtype dt = n->in[0] >= 0 ? val(p, n->in[0])->dtype : TT_F32;
    if ((dt != TT_I8 && dt != TT_U8) || !is_param(p, n->in[0], dt) ||
        !is_param(p, n->in[1], TT_F32))
        return false;
    int64_t ns = numel(p, n->in[1]);
    if (ns != 1) {
        int64_t a = tt_node_attr_int(n, "axis", 1);
        if (a < 0) a += val(p, n->in[0])->shape.ndim;
        if (ns != m || a != axis) return false;
    }
    if (!match_weight_zp(p, zp, dt, ns)) return false;
    w->q = n->in[0];
    w->scale = n->in[1];
    w->zp = zp >= 0 ? zp : (dt == TT_U8 ? ZP_ZERO_U8 : ZP_ZERO_I8);
    return true;
}

/* An int32 bias DQ whose scale is x_scale * w_scale (as ORT requires to fuse), or no bias. */
static bool match_bias_dq(const planner *p, int v, const qact *x, const qweight *w, int *bias)
{
    *bias = -1;
    if (v < 0) return true;
    int k = producer_of(p, v, TT_OP_DEQUANTIZE);
    if (k < 0) return false;
    const tt_node *n = node(p, k);
    int zp = n->n_in > 2 ? n->in[2] : -1;
    if (!is_param(p, n->in[0], TT_I32) || !is_param(p, n->in[1], TT_F32) || !all_zero(p, zp))
        return false;
    int64_t nb = numel(p, n->in[0]), ns = numel(p, n->in[1]), nw = numel(p, w->scale);
    if (ns != 1 && ns != nb) return false;
    const float *bs = p->g->values[n->in[1]].data->data;
    const float *ws = p->g->values[w->scale].data->data;
    float xs = *(const float *)p->g->values[x->scale].data->data;
    for (int64_t c = 0; c < nb; c++) {
        float want = xs * ws[nw == 1 ? 0 : c], got = bs[ns == 1 ? 0 : c];
        /* The exporter writes the float32 product; allow a last-bit difference from other
         * tools that compute it in double. */
        if (!(got == want || (got - want) * (got - want) <= 1e-12f * want * want)) return false;
    }
    *bias = n->in[0];
    return true;
}

/* y -> [Relu ->] Q with no other consumer on the way. Returns the Q node or -1. */
static int match_tail(const planner *p, int y, int *relu)
{
    *relu = -1;
    int c = only_consumer(p, y);
    if (c >= 0 && node(p, c)->op == TT_OP_RELU) {
        *relu = c;
        c = only_consumer(p, node(p, c)->out[0]);
    }
    return c >= 0 && node(p, c)->op == TT_OP_QUANTIZE ? c : -1;
}

static void absorb(planner *p, int head, int relu, int q, fusion *f)
{
    p->role[head] = ROLE_FUSED;
    if (relu >= 0) p->role[relu] = ROLE_ABSORBED;
    p->role[q] = ROLE_ABSORBED;
    f->fused_relu = relu >= 0;
    p->fu[head] = *f;
}

static void set_in(fusion *f, int n, const int *ids)
{
    f->n_in = n;
    memcpy(f->in, ids, sizeof(int) * (size_t)n);
}

/* Conv, Gemm and MatMul with quantised input, weight and output. */
static void match_linear(planner *p, int k)
{
    const tt_node *n = node(p, k);
    const tt_value *wv = n->in[1] >= 0 ? val(p, n->in[1]) : NULL;
    if (!wv) return;
    bool mm = n->op == TT_OP_MATMUL;
    if (mm && wv->shape.ndim != 2) return;
    int64_t m = mm ? wv->shape.dims[1] : wv->shape.dims[0];
    qact x, y;
    qweight w;
    int relu, bias = -1;
    if (!match_act_dq(p, n->in[0], &x) || !match_weight_dq(p, n->in[1], mm ? 1 : 0, m, &w)) return;
    if (!mm && !match_bias_dq(p, n->n_in > 2 ? n->in[2] : -1, &x, &w, &bias)) return;
    int q = match_tail(p, n->out[0], &relu);
    if (q < 0 || !match_act_q(p, q, &y)) return;
    if (mm && relu >= 0) return; /* QLinearMatMul has no fused Relu in ONNX; keep it simple */
    fusion f = {.out = y.q};
    if (n->op == TT_OP_CONV) {
        f.op = TT_OP_QLINEAR_CONV;
        set_in(&f, 9, (int[]){x.q, x.scale, x.zp, w.q, w.scale, w.zp, y.scale, y.zp, bias});
    } else if (n->op == TT_OP_GEMM) {
        f.op = TT_OP_QGEMM;
        set_in(&f, 9, (int[]){x.q, x.scale, x.zp, w.q, w.scale, w.zp, bias, y.scale, y.zp});
    } else {
        f.op = TT_OP_QLINEAR_MATMUL;
        set_in(&f, 8, (int[]){x.q, x.scale, x.zp, w.q, w.scale, w.zp, y.scale, y.zp});
    }
    absorb(p, k, relu, q, &f);
}

static void match_add(planner *p, int k)
{
    const tt_node *n = node(p, k);
    qact a, b, y;
    int relu;
    if (!match_act_dq(p, n->in[0], &a) || !match_act_dq(p, n->in[1], &b)) return;
    int q = match_tail(p, n->out[0], &relu);
    if (q < 0 || !match_act_q(p, q, &y)) return;
    fusion f = {.op = TT_OP_QLINEAR_ADD, .out = y.q};
    set_in(&f, 8, (int[]){a.q, a.scale, a.zp, b.q, b.scale, b.zp, y.scale, y.zp});
    absorb(p, k, relu, q, &f);
}

static void match_gap(planner *p, int k)
{
    qact x, y;
    int q = only_consumer(p, node(p, k)->out[0]);
    if (!match_act_dq(p, node(p, k)->in[0], &x) || q < 0 || !match_act_q(p, q, &y)) return;
    fusion f = {.op = TT_OP_QLINEAR_GAP, .out = y.q};
    set_in(&f, 5, (int[]){x.q, x.scale, x.zp, y.scale, y.zp});
    absorb(p, k, -1, q, &f);
}

/* MaxPool, Flatten, Reshape between a DQ and a Q of the same parameters commute with them. */
static void match_passthrough(planner *p, int k)
{
    const tt_node *n = node(p, k);
    qact x, y;
    int q = only_consumer(p, n->out[0]);
    if (!match_act_dq(p, n->in[0], &x) || q < 0 || !match_act_q(p, q, &y)) return;
    if (!same_const(p, x.scale, y.scale) ||
        !same_const(p, x.zp < 0 ? -1 : x.zp, y.zp < 0 ? -1 : y.zp))
        return;
    fusion f = {.op = n->op, .out = y.q};
    set_in(&f, 1, (int[]){x.q});
    absorb(p, k, -1, q, &f);
}

static void match_all(planner *p)
{
    for (int k = 0; k < p->g->n_nodes; k++) {
        if (p->role[k] != ROLE_KEEP) continue;
        switch (node(p, k)->op) {
        case TT_OP_CONV:
        case TT_OP_GEMM:
        case TT_OP_MATMUL:
            match_linear(p, k);
            break;
        case TT_OP_ADD:
            match_add(p, k);
            break;
        case TT_OP_GLOBALAVGPOOL:
            match_gap(p, k);
            break;
        case TT_OP_MAXPOOL:
        case TT_OP_FLATTEN:
        case TT_OP_RESHAPE:
            match_passthrough(p, k);
            break;
        default:
            break;
        }
    }
}

static void mark_live(planner *p)
{
    p->needed[p->out_id] = 1;
    for (int k = p->g->n_nodes - 1; k >= 0; k--) {
        const tt_node *n = node(p, k);
        if (p->role[k] == ROLE_ABSORBED) continue;
        bool fused = p->role[k] == ROLE_FUSED;
        bool live = fused && p->needed[p->fu[k].out];
        for (int j = 0; !fused && j < n->n_out; j++) live = live || p->needed[n->out[j]];
        if (!live) continue;
        p->live[k] = 1;
        int nin = fused ? p->fu[k].n_in : n->n_in;
        const int *in = fused ? p->fu[k].in : n->in;
        for (int j = 0; j < nin; j++)
            if (in[j] >= 0) p->needed[in[j]] = 1;
    }
}

/* The copy's id for old value v: inputs and constants are made on first use. */
static tt_status map_value(planner *p, int v, const char *for_node, int *id)
{
    if (v == -1) {
        *id = -1;
        return TT_OK;
    }
    if (v == ZP_ZERO_U8 || v == ZP_ZERO_I8) {
        char name[TT_NAME_MAX + 8];
        snprintf(name, sizeof name, "%.*s.zp0", TT_NAME_MAX - 8, for_node);
        return tt_graph_add_param_typed(p->ng, name, v == ZP_ZERO_U8 ? TT_U8 : TT_I8, 1,
                                        (int64_t[]){1}, id);
    }
    if (p->map[v] >= 0) {
        *id = p->map[v];
        return TT_OK;
    }
    const tt_value *x = val(p, v);
    if (x->kind == TT_VALUE_INPUT) {
        TT_CHECK(tt_graph_add_input(p->ng, x->name, x->dtype, x->shape.ndim, x->shape.dims, id));
    } else if (x->kind == TT_VALUE_PARAM) {
        TT_CHECK(
            tt_graph_add_param_typed(p->ng, x->name, x->dtype, x->shape.ndim, x->shape.dims, id));
        tt_value *nv = &p->ng->values[*id];
        memcpy(nv->data->data, x->data->data,
               (size_t)tt_shape_numel(&x->shape) * tt_dtype_size(x->dtype));
    } else {
        return tt_fail(TT_ERR_STATE, "int8 plan: value '%s' is used before it is made", x->name);
    }
    p->map[v] = *id;
    return TT_OK;
}

static tt_status emit_node(planner *p, int k)
{
    const tt_node *n = node(p, k);
    bool fused = p->role[k] == ROLE_FUSED;
    const fusion *f = &p->fu[k];
    /* The integer node is named after the Q it replaces, so its output keeps that name. */
    const char *name = fused ? val(p, f->out)->name : n->name;
    int nin = fused ? f->n_in : n->n_in, in[TT_MAX_NODE_IO], out[TT_MAX_NODE_IO];
    for (int j = 0; j < nin; j++) TT_CHECK(map_value(p, fused ? f->in[j] : n->in[j], name, &in[j]));
    tt_attr attrs[TT_MAX_ATTRS];
    int na = n->n_attrs;
    memcpy(attrs, n->attrs, sizeof(tt_attr) * (size_t)na);
    bool linear = fused && f->op != n->op; /* not a pass-through */
    if (linear && f->op != TT_OP_QLINEAR_GAP && f->op != TT_OP_QLINEAR_MATMUL) {
        if (na == TT_MAX_ATTRS)
            return tt_fail(TT_ERR_UNSUPPORTED, "int8 plan: node '%s' has too many attributes",
                           n->name);
        attrs[na++] = tt_attr_int("fused_relu", f->fused_relu);
    }
    if (fused && f->op == TT_OP_QLINEAR_GAP) na = 0;
    TT_CHECK(tt_graph_add_node(p->ng, fused ? f->op : n->op, name, nin, in, na, attrs, out));
    if (fused) {
        p->map[f->out] = out[0];
    } else {
        for (int j = 0; j < n->n_out; j++) p->map[n->out[j]] = out[j];
    }
    return TT_OK;
}

static tt_status plan_alloc(planner *p, const tt_graph *g)
{
    int nv = g->n_values, nn = g->n_nodes;
    p->n_cons = calloc((size_t)nv, sizeof(int));
    p->cons = calloc((size_t)nv, sizeof(int));
    p->map = malloc((size_t)nv * sizeof(int));
    p->needed = calloc((size_t)nv, 1);
    p->role = calloc((size_t)nn + 1, 1);
    p->live = calloc((size_t)nn + 1, 1);
    p->fu = calloc((size_t)nn + 1, sizeof(fusion));
    if (!p->n_cons || !p->cons || !p->map || !p->needed || !p->role || !p->live || !p->fu)
        return tt_fail(TT_ERR_NOMEM, "int8 plan: out of memory for a %d-node graph", nn);
    for (int v = 0; v < nv; v++) p->map[v] = -1;
    for (int k = 0; k < nn; k++)
        for (int j = 0; j < g->nodes[k].n_in; j++) {
            int v = g->nodes[k].in[j];
            if (v < 0) continue;
            p->n_cons[v]++;
            p->cons[v] = k;
        }
    p->n_cons[p->out_id]++; /* the caller reads the output: it is never fused away */
    p->cons[p->out_id] = -1;
    return TT_OK;
}

static void plan_release(planner *p)
{
    free(p->n_cons);
    free(p->cons);
    free(p->map);
    free(p->needed);
    free(p->role);
    free(p->live);
    free(p->fu);
}

tt_status tt_plan_int8(const tt_graph *g, int *in_id, int *out_id, tt_graph **out)
{
    TT_CHECK_NULL(g, "tt_plan_int8");
    TT_CHECK_NULL(out, "tt_plan_int8");
    *out = NULL;
    if (*in_id < 0 || *in_id >= g->n_values || *out_id < 0 || *out_id >= g->n_values)
        return tt_fail(TT_ERR_INVALID_ARG, "tt_plan_int8: input or output id out of range");
    planner p = {.g = g, .out_id = *out_id};
    tt_status s = plan_alloc(&p, g);
    if (s == TT_OK) s = tt_graph_create(&p.ng);
    if (s == TT_OK) {
        match_all(&p);
        mark_live(&p);
        s = map_value(&p, *in_id, "input", in_id);
    }
    for (int k = 0; s == TT_OK && k < g->n_nodes; k++)
        if (p.live[k]) s = emit_node(&p, k);
    if (s == TT_OK && p.map[*out_id] < 0)
        s = tt_fail(TT_ERR_STATE, "int8 plan: the output '%s' is not computed",
                    g->values[*out_id].name);
    if (s == TT_OK) {
        *out_id = p.map[*out_id];
        *out = p.ng;
    } else {
        tt_graph_free(p.ng);
    }
    plan_release(&p);
    return s;
}
