/* Device op matrix, qat group: FakeQuant (min/max, moving-average and current-tensor observers,
 * per tensor and per channel, affine and symmetric, LSQ on and off, observing and fake
 * quantisation switched off), BnFoldWeight, BnUnfold and BiasFakeQuant, forward (training and
 * eval) and backward against the CPU executor; edge values (NaN, exact .5 ties, saturation, an
 * empty running range, LSQ's scale clamp) and the CPU's error paths on explicit data; and the
 * QAT graph of a small CNN end to end. Shapes are odd-sized. Runs on $TT_TEST_BACKEND; exits 77
 * without a device.
 *
 * Tolerance: none. Every op is bit-exact: the observer's min / max keep the CPU's serial
 * "first of equal values" rule (k_qat.h), the running range, scale, zero point, folding
 * multipliers and BiasFakeQuant's rounding are computed on the host by the CPU's own functions,
 * the FakeQuant forward and straight-through backward are kernels.h's exact kernels, and the
 * double sums (LSQ's scale gradient, the folded gamma's gradient) add exact terms in the CPU's
 * order. The whole-graph check has its own tolerance (see there). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "dev_harness.h"
#include "testutil.h"
#include "tinytrain/qat.h"

static void run(const tt_dh_case *c)
{
    assert_int_equal(tt_dh_run(c, tt_dh_backend()), 0);
}

/* ---- FakeQuant on random data (the harness) ---- */

typedef struct fq_opts {
    const char *label;
    int ndim;
    int64_t dims[TT_MAX_DIMS];
    bool x_weight; /* X a trainable parameter (a weight) rather than an input */
    int64_t axis, qmin, qmax, symmetric, observer, learnable, observe, enabled;
    float avg_c;
    bool empty;            /* running range not observed yet (min > max) */
    double s_lo, s_hi, zp; /* scale drawn from [s_lo, s_hi]; one zero point */
} fq_opts;

static tt_dh_input param(const char *name, int64_t ch, tt_dh_kind kind, double lo, double hi)
{
    tt_dh_input p = {name, TT_F32, 1, {ch}, kind, kind == TT_DH_WEIGHT, lo, hi};
    return p;
}

static tt_dh_case fq_case(const fq_opts *o, bool training, uint64_t seed)
{
    int64_t ch = o->axis < 0 ? 1 : o->dims[o->axis];
    tt_dh_case c = {o->label, TT_OP_FAKEQUANT, 5, .training = training, .seed = seed};
    tt_dh_input x = {"x",  TT_F32, o->ndim, {0}, o->x_weight ? TT_DH_WEIGHT : TT_DH_INPUT,
                     true, -2.0,   2.0};
    memcpy(x.dims, o->dims, sizeof x.dims);
    c.in[0] = x;
    c.in[1] = param("scale", ch, o->learnable ? TT_DH_WEIGHT : TT_DH_CONST, o->s_lo, o->s_hi);
    c.in[2] = param("zero_point", ch, TT_DH_CONST, o->zp, o->zp);
    c.in[3] = param("min", ch, TT_DH_CONST, o->empty ? 5.0 : -1.5, o->empty ? 6.0 : -0.5);
    c.in[4] = param("max", ch, TT_DH_CONST, o->empty ? -6.0 : 0.5, o->empty ? -5.0 : 1.5);
    tt_attr at[] = {
        tt_attr_int("qmin", o->qmin),           tt_attr_int("qmax", o->qmax),
        tt_attr_int("axis", o->axis),           tt_attr_int("symmetric", o->symmetric),
        tt_attr_int("observer", o->observer),   tt_attr_float("averaging_constant", o->avg_c),
        tt_attr_int("learnable", o->learnable), tt_attr_int("observe", o->observe),
        tt_attr_int("enabled", o->enabled)};
    c.n_attrs = (int)(sizeof at / sizeof at[0]);
    memcpy(c.attrs, at, sizeof at);
    return c;
}

/* Training forward (+ backward) and eval forward. */
static void fq_both(const fq_opts *o, uint64_t seed)
{
    char label[160];
    tt_dh_case c = fq_case(o, true, seed);
    snprintf(label, sizeof label, "%s, training", o->label);
    c.label = label;
    run(&c);
    c = fq_case(o, false, seed + 1000);
    snprintf(label, sizeof label, "%s, eval", o->label);
    c.label = label;
    run(&c);
}

/* Activations: affine [0, 255], per tensor. */
static fq_opts act(const char *label, int64_t observer)
{
    fq_opts o = {label, 4, {3, 5, 7, 9}, false, -1,   0,    255,  0, observer, 0,
                 1,     1, 0.01f,        false, 0.01, 0.03, 128.0};
    return o;
}

/* Weights [7, 3, 3, 5]: symmetric [-127, 127], per output channel (axis 0). */
static fq_opts wgt(const char *label, int64_t observer)
{
    fq_opts o = {label, 4, {7, 3, 3, 5}, true,  0,     -127, 127, 1, observer, 0,
                 1,     1, 0.01f,        false, 0.005, 0.02, 0.0};
    return o;
}

static void fq_per_tensor(void **state)
{
    (void)state;
    fq_opts o = act("FakeQuant per tensor, moving average", TT_OBSERVER_MOVING_AVG);
    fq_both(&o, 1);
    o = act("FakeQuant per tensor, moving average, first batch", TT_OBSERVER_MOVING_AVG);
    o.empty = true;
    o.avg_c = 0.3f;
    fq_both(&o, 2);
    o = act("FakeQuant per tensor, min/max", TT_OBSERVER_MINMAX);
    fq_both(&o, 3);
    o = act("FakeQuant per tensor, current tensor, symmetric int8", TT_OBSERVER_LAST);
    o.qmin = -127, o.qmax = 127, o.symmetric = 1, o.zp = 0.0;
    fq_both(&o, 4);
    o = act("FakeQuant per tensor, 4-bit affine [-8, 7]", TT_OBSERVER_MINMAX);
    o.qmin = -8, o.qmax = 7, o.zp = -1.0;
    fq_both(&o, 5);
}

static void fq_per_channel(void **state)
{
    (void)state;
    fq_opts o = wgt("FakeQuant weight per channel, current tensor", TT_OBSERVER_LAST);
    fq_both(&o, 11);
    o = wgt("FakeQuant weight per channel, min/max, first batch", TT_OBSERVER_MINMAX);
    o.empty = true;
    fq_both(&o, 12);
    /* an activation per channel along axis 1: outer 3, 5 channels, inner 63 */
    o = act("FakeQuant activation per channel (axis 1), moving average", TT_OBSERVER_MOVING_AVG);
    o.axis = 1;
    fq_both(&o, 13);
    o = act("FakeQuant per channel along the last axis, min/max", TT_OBSERVER_MINMAX);
    o.axis = 3;
    fq_both(&o, 14);
}

/* More elements than one observer thread (4096) or one CPU LSQ chunk (16384) covers. */
static void fq_large(void **state)
{
    (void)state;
    fq_opts o = act("FakeQuant per tensor, 3 x 7001 elements", TT_OBSERVER_MOVING_AVG);
    o.ndim = 2, o.dims[0] = 3, o.dims[1] = 7001, o.dims[2] = o.dims[3] = 0;
    o.learnable = 1;
    fq_both(&o, 21);
    o = act("FakeQuant per channel, 11 x 3 x 401 along axis 1", TT_OBSERVER_MINMAX);
    o.ndim = 3, o.dims[0] = 11, o.dims[1] = 3, o.dims[2] = 401, o.dims[3] = 0;
    o.axis = 1, o.learnable = 1;
    fq_both(&o, 22);
}

static void fq_lsq(void **state)
{
    (void)state;
    fq_opts o = act("FakeQuant LSQ per tensor, observers off", TT_OBSERVER_MOVING_AVG);
    o.learnable = 1, o.observe = 0;
    fq_both(&o, 31);
    o = act("FakeQuant LSQ per tensor, observing", TT_OBSERVER_MOVING_AVG);
    o.learnable = 1;
    fq_both(&o, 32);
    o = wgt("FakeQuant LSQ weight per channel", TT_OBSERVER_LAST);
    o.learnable = 1, o.observe = 0;
    fq_both(&o, 33);
    o = act("FakeQuant LSQ per channel (axis 1)", TT_OBSERVER_MINMAX);
    o.axis = 1, o.learnable = 1, o.observe = 0;
    fq_both(&o, 34);
    /* a learned scale below FLT_EPSILON: clamped (and written back by training forwards) */
    o = wgt("FakeQuant LSQ, scale below FLT_EPSILON", TT_OBSERVER_LAST);
    o.learnable = 1, o.observe = 0, o.s_lo = 1e-9, o.s_hi = 1e-8;
    fq_both(&o, 35);
}

static void fq_switches(void **state)
{
    (void)state;
    fq_opts o = act("FakeQuant disabled, observing", TT_OBSERVER_MOVING_AVG);
    o.enabled = 0;
    fq_both(&o, 41);
    o = wgt("FakeQuant LSQ disabled, observing", TT_OBSERVER_MINMAX);
    o.enabled = 0, o.learnable = 1;
    fq_both(&o, 42);
    o = act("FakeQuant observers off", TT_OBSERVER_MINMAX);
    o.observe = 0;
    fq_both(&o, 43);
    o = act("FakeQuant observers off, nothing observed, fake quant off", TT_OBSERVER_MINMAX);
    o.observe = 0, o.enabled = 0, o.empty = true;
    fq_both(&o, 44);
}

/* ---- Explicit data: edge values and error paths ---- */

typedef struct ex_in {
    const char *name;
    int ndim;
    int64_t dims[TT_MAX_DIMS];
    tt_dh_kind kind;
    const float *data;
} ex_in;

typedef struct ex_side {
    tt_graph *g;
    tt_exec *e;
    int ids[TT_MAX_NODE_IO];
    int y;
} ex_side;

static int64_t ex_numel(const ex_in *in)
{
    int64_t n = 1;
    for (int i = 0; i < in->ndim; i++) n *= in->dims[i];
    return n;
}

/* One node over explicit data on backend; returns the forward's status. */
static tt_status ex_forward(const char *backend, tt_op_type op, int n_in, const ex_in *in, int n_at,
                            const tt_attr *at, bool training, ex_side *s)
{
    memset(s, 0, sizeof *s);
    TT_ASSERT_OK(tt_graph_create(&s->g));
    for (int i = 0; i < n_in; i++) {
        if (in[i].kind == TT_DH_INPUT) {
            TT_ASSERT_OK(
                tt_graph_add_input(s->g, in[i].name, TT_F32, in[i].ndim, in[i].dims, &s->ids[i]));
            s->g->values[s->ids[i]].trainable = true;
            continue;
        }
        TT_ASSERT_OK(tt_graph_add_param(s->g, in[i].name, in[i].ndim, in[i].dims,
                                        in[i].kind == TT_DH_WEIGHT, &s->ids[i]));
        memcpy(tt_graph_param_data(s->g, s->ids[i]), in[i].data,
               (size_t)ex_numel(&in[i]) * sizeof(float));
    }
    TT_ASSERT_OK(tt_graph_add_node(s->g, op, "node", n_in, s->ids, n_at, at, &s->y));
    TT_ASSERT_OK(tt_exec_create_on(s->g, 1, backend, &s->e));
    for (int i = 0; i < n_in; i++)
        if (in[i].kind == TT_DH_INPUT)
            TT_ASSERT_OK(tt_exec_set_input(s->e, s->ids[i], in[i].data, in[i].dims[0]));
    return tt_exec_forward(s->e, 1, training);
}

static void ex_free(ex_side *s)
{
    tt_exec_free(s->e);
    tt_graph_free(s->g);
}

static void assert_same(const char *what, const tt_tensor *a, const tt_tensor *b)
{
    assert_non_null(a);
    assert_non_null(b);
    int64_t n = tt_tensor_numel(a);
    assert_int_equal(n, tt_tensor_numel(b));
    for (int64_t i = 0; i < n; i++) {
        const float *x = a->data, *y = b->data;
        if (memcmp(&x[i], &y[i], sizeof(float))) {
            printf("%s: element %lld differs: cpu %.9g, device %.9g\n", what, (long long)i,
                   (double)x[i], (double)y[i]);
            fail();
        }
    }
}

/* The node on the CPU and on the device: outputs, parameters after the forward and, in
 * training, every gradient from the seed dy, bit for bit. */
static void ex_compare(const char *label, tt_op_type op, int n_in, const ex_in *in, int n_at,
                       const tt_attr *at, bool training, const float *dy)
{
    ex_side cpu, dev;
    TT_ASSERT_OK(ex_forward("cpu", op, n_in, in, n_at, at, training, &cpu));
    TT_ASSERT_OK(ex_forward(tt_dh_backend(), op, n_in, in, n_at, at, training, &dev));
    char what[160];
    snprintf(what, sizeof what, "%s: output", label);
    assert_same(what, tt_exec_value(cpu.e, cpu.y), tt_exec_value(dev.e, dev.y));
    TT_ASSERT_OK(tt_exec_params_to_host(dev.e));
    for (int i = 0; i < n_in; i++) {
        if (in[i].kind == TT_DH_INPUT) continue;
        snprintf(what, sizeof what, "%s: %s after forward", label, in[i].name);
        assert_same(what, cpu.g->values[cpu.ids[i]].data, dev.g->values[dev.ids[i]].data);
    }
    if (training) {
        TT_ASSERT_OK(tt_exec_backward_from(cpu.e, cpu.y, dy));
        TT_ASSERT_OK(tt_exec_backward_from(dev.e, dev.y, dy));
        for (int i = 0; i < n_in; i++) {
            tt_tensor *g = tt_exec_grad(cpu.e, cpu.ids[i]);
            if (!g) continue;
            snprintf(what, sizeof what, "%s: gradient of %s", label, in[i].name);
            assert_same(what, g, tt_exec_grad(dev.e, dev.ids[i]));
        }
    }
    ex_free(&cpu);
    ex_free(&dev);
}

/* The forward fails on the CPU and on the device with the same status and message. */
static void ex_same_error(const char *label, tt_op_type op, int n_in, const ex_in *in, int n_at,
                          const tt_attr *at, bool training, const char *needle)
{
    ex_side cpu, dev;
    tt_status sc = ex_forward("cpu", op, n_in, in, n_at, at, training, &cpu);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", tt_last_error());
    tt_status sd = ex_forward(tt_dh_backend(), op, n_in, in, n_at, at, training, &dev);
    printf("%s: %s\n", label, tt_last_error());
    assert_int_not_equal(sc, TT_OK);
    assert_int_equal(sc, sd);
    assert_string_equal(msg, tt_last_error());
    assert_non_null(strstr(msg, needle));
    /* and both leave the parameters (the running range, learned scales) in the same state */
    TT_ASSERT_OK(tt_exec_params_to_host(dev.e));
    for (int i = 0; i < n_in; i++) {
        if (in[i].kind == TT_DH_INPUT) continue;
        assert_same(label, cpu.g->values[cpu.ids[i]].data, dev.g->values[dev.ids[i]].data);
    }
    ex_free(&cpu);
    ex_free(&dev);
}

#define EX_N 24

/* X [2, 3, 4] with NaN, exact .5 ties of x / s, saturation on both sides and +-0. */
static const float ex_x[EX_N] = {0.25f, -0.25f, 0.75f, 1.25f,  -1.75f, 100.0f,  -100.0f, NAN,
                                 0.0f,  -0.0f,  3.5f,  0.123f, -3.5f,  0.3125f, -0.875f, 12.75f,
                                 2.25f, NAN,    -0.5f, 0.5f,   1.0f,   -8.25f,  6.0f,    -6.0f};

static const float ex_dy[EX_N] = {0.5f,  -1.0f,  0.25f, 1.5f,  -0.75f, 2.0f,  -2.0f, 1.0f,
                                  -0.5f, 0.125f, 0.3f,  -0.7f, 0.9f,   -1.1f, 1.3f,  -1.7f,
                                  0.01f, 3.0f,   -3.0f, 0.6f,  -0.6f,  0.8f,  -0.8f, 1.9f};

static void fq_attrs(tt_attr *at, int64_t qmin, int64_t qmax, int64_t axis, int64_t observer,
                     int64_t learnable, int64_t observe)
{
    at[0] = tt_attr_int("qmin", qmin);
    at[1] = tt_attr_int("qmax", qmax);
    at[2] = tt_attr_int("axis", axis);
    at[3] = tt_attr_int("observer", observer);
    at[4] = tt_attr_int("learnable", learnable);
    at[5] = tt_attr_int("observe", observe);
    at[6] = tt_attr_float("averaging_constant", 0.25f);
}

static void fq_edges(void **state)
{
    (void)state;
    /* scale 0.5: x / s hits .5 ties (0.25, 0.75, 1.25, -1.75, ...) */
    float s1[1] = {0.5f}, z1[1] = {3.0f}, mn1[1] = {INFINITY}, mx1[1] = {-INFINITY};
    ex_in in[5] = {{"x", 3, {2, 3, 4}, TT_DH_INPUT, ex_x},
                   {"scale", 1, {1}, TT_DH_WEIGHT, s1},
                   {"zero_point", 1, {1}, TT_DH_CONST, z1},
                   {"min", 1, {1}, TT_DH_CONST, mn1},
                   {"max", 1, {1}, TT_DH_CONST, mx1}};
    tt_attr at[7];
    fq_attrs(at, -8, 7, -1, TT_OBSERVER_MINMAX, 1, 0);
    ex_compare("edges, ties, LSQ", TT_OP_FAKEQUANT, 5, in, 7, at, true, ex_dy);
    ex_compare("edges, ties, eval", TT_OP_FAKEQUANT, 5, in, 7, at, false, ex_dy);
    /* observing from an empty range, NaN skipped */
    fq_attrs(at, 0, 255, -1, TT_OBSERVER_MOVING_AVG, 1, 1);
    ex_compare("edges, first observation", TT_OP_FAKEQUANT, 5, in, 7, at, true, ex_dy);
    /* per channel along axis 1 (3 channels of 2 x 4 values) */
    float s3[3] = {0.5f, 0.25f, 2.0f}, z3[3] = {0.0f, -3.0f, 5.0f};
    float mn3[3] = {INFINITY, -1.0f, 0.5f}, mx3[3] = {-INFINITY, 1.0f, 0.75f};
    ex_in pc[5] = {{"x", 3, {2, 3, 4}, TT_DH_INPUT, ex_x},
                   {"scale", 1, {3}, TT_DH_WEIGHT, s3},
                   {"zero_point", 1, {3}, TT_DH_CONST, z3},
                   {"min", 1, {3}, TT_DH_CONST, mn3},
                   {"max", 1, {3}, TT_DH_CONST, mx3}};
    fq_attrs(at, -8, 7, 1, TT_OBSERVER_MOVING_AVG, 1, 0);
    ex_compare("edges per channel, LSQ", TT_OP_FAKEQUANT, 5, pc, 7, at, true, ex_dy);
    fq_attrs(at, -8, 7, 1, TT_OBSERVER_MOVING_AVG, 1, 1);
    ex_compare("edges per channel, observing", TT_OP_FAKEQUANT, 5, pc, 7, at, true, ex_dy);
    /* a channel with nothing but NaN keeps its empty range and its old scale */
    float xn[6] = {NAN, 1.0f, NAN, -2.0f, NAN, 0.5f};
    float s2[2] = {0.25f, 0.5f}, z2[2] = {0.0f, 1.0f}, mn2[2] = {INFINITY, INFINITY};
    float mx2[2] = {-INFINITY, -INFINITY};
    ex_in nanc[5] = {{"x", 2, {3, 2}, TT_DH_INPUT, xn},
                     {"scale", 1, {2}, TT_DH_CONST, s2},
                     {"zero_point", 1, {2}, TT_DH_CONST, z2},
                     {"min", 1, {2}, TT_DH_CONST, mn2},
                     {"max", 1, {2}, TT_DH_CONST, mx2}};
    fq_attrs(at, -8, 7, 1, TT_OBSERVER_MINMAX, 0, 1);
    ex_compare("a channel of NaN", TT_OP_FAKEQUANT, 5, nanc, 7, at, true, ex_dy);
    /* the minimum is a zero of both signs: the first one seen becomes the running min */
    float xz[6] = {0.5f, -0.0f, 1.0f, 0.0f, 2.0f, -0.0f}, xz2[6] = {1.5f, 0.0f, -0.0f, 0.25f};
    float s0[1] = {1.0f}, z0[1] = {0.0f}, mn0[1] = {INFINITY}, mx0[1] = {-INFINITY};
    ex_in zs[5] = {{"x", 2, {3, 2}, TT_DH_INPUT, xz},
                   {"scale", 1, {1}, TT_DH_CONST, s0},
                   {"zero_point", 1, {1}, TT_DH_CONST, z0},
                   {"min", 1, {1}, TT_DH_CONST, mn0},
                   {"max", 1, {1}, TT_DH_CONST, mx0}};
    fq_attrs(at, 0, 255, -1, TT_OBSERVER_LAST, 0, 1);
    ex_compare("signed zeros, -0 first", TT_OP_FAKEQUANT, 5, zs, 7, at, true, ex_dy);
    zs[0].data = xz2;
    ex_compare("signed zeros, +0 first", TT_OP_FAKEQUANT, 5, zs, 7, at, true, ex_dy);
}

static void fq_errors(void **state)
{
    (void)state;
    float x[6] = {0.5f, -1.0f, 2.0f, INFINITY, 0.25f, -0.75f};
    float s[2] = {0.1f, -1.0f}, z[2] = {0.0f, 0.0f}, mn[2] = {-1.0f, -1.0f}, mx[2] = {1.0f, 1.0f};
    ex_in in[5] = {{"x", 2, {3, 2}, TT_DH_INPUT, x},
                   {"scale", 1, {2}, TT_DH_CONST, s},
                   {"zero_point", 1, {2}, TT_DH_CONST, z},
                   {"min", 1, {2}, TT_DH_CONST, mn},
                   {"max", 1, {2}, TT_DH_CONST, mx}};
    tt_attr at[7];
    fq_attrs(at, -8, 7, 1, TT_OBSERVER_MINMAX, 0, 0);
    ex_same_error("scale -1", TT_OP_FAKEQUANT, 5, in, 7, at, false, "not a positive finite");
    fq_attrs(at, -8, 7, 1, TT_OBSERVER_MINMAX, 0, 1);
    ex_same_error("Inf observed", TT_OP_FAKEQUANT, 5, in, 7, at, true, "Inf values cannot");
    float x2[6] = {0.5f, -1.0f, 2.0f, 1.0f, 0.25f, -0.75f};
    in[0].data = x2;
    s[1] = 0.2f;
    z[0] = 1.5f;
    fq_attrs(at, -8, 7, 1, TT_OBSERVER_MINMAX, 0, 0);
    ex_same_error("zero point 1.5", TT_OP_FAKEQUANT, 5, in, 7, at, false, "is not an integer");
    /* LSQ in training: channel 0's scale is clamped and written back before channel 1 fails */
    z[0] = 0.0f;
    s[0] = 1e-12f;
    s[1] = NAN;
    in[1].kind = TT_DH_WEIGHT;
    fq_attrs(at, -8, 7, 1, TT_OBSERVER_MINMAX, 1, 0);
    ex_same_error("LSQ scale NaN", TT_OP_FAKEQUANT, 5, in, 7, at, true, "learning rate");
}

/* ---- BnFoldWeight, BnUnfold ---- */

#define IN(nm, nd, ...)                                                                            \
    {                                                                                              \
        nm, TT_F32, nd, {__VA_ARGS__}, TT_DH_INPUT, true, -2.0, 2.0                                \
    }
#define W(nm, lo, hi, nd, ...)                                                                     \
    {                                                                                              \
        nm, TT_F32, nd, {__VA_ARGS__}, TT_DH_WEIGHT, true, lo, hi                                  \
    }
#define CONST(nm, lo, hi, nd, ...)                                                                 \
    {                                                                                              \
        nm, TT_F32, nd, {__VA_ARGS__}, TT_DH_CONST, false, lo, hi                                  \
    }

static void bn_fold(void **state)
{
    (void)state;
    tt_dh_case c = {"BnFoldWeight",
                    TT_OP_BN_FOLD_WEIGHT,
                    3,
                    {W("w", -1.0, 1.0, 4, 7, 3, 3, 5), W("gamma", -1.5, 1.5, 1, 7),
                     CONST("running_var", 0.0, 2.0, 1, 7)},
                    .training = true,
                    .seed = 51};
    run(&c);
    c.label = "BnFoldWeight, eval";
    c.training = false;
    run(&c);
    tt_dh_case l = {"BnFoldWeight of a linear weight, epsilon 1e-3",
                    TT_OP_BN_FOLD_WEIGHT,
                    3,
                    {W("w", -1.0, 1.0, 2, 13, 9), CONST("gamma", 0.5, 1.5, 1, 13),
                     CONST("running_var", 0.0, 0.01, 1, 13)},
                    1,
                    {tt_attr_float("epsilon", 1e-3f)},
                    .training = true,
                    .seed = 52};
    run(&l);
    tt_dh_case u = {
        "BnUnfold",
        TT_OP_BN_UNFOLD,
        3,
        {IN("y", 4, 3, 5, 7, 9), W("gamma", 0.25, 1.5, 1, 5), CONST("running_var", 0.1, 2.0, 1, 5)},
        .training = true,
        .seed = 53};
    run(&u);
    u.label = "BnUnfold, eval";
    u.training = false;
    run(&u);
    tt_dh_case u2 = {"BnUnfold of [N, C], gamma constant",
                     TT_OP_BN_UNFOLD,
                     3,
                     {IN("y", 2, 11, 6), CONST("gamma", -1.5, -0.25, 1, 6),
                      CONST("running_var", 0.1, 2.0, 1, 6)},
                     .training = true,
                     .seed = 54};
    run(&u2);
}

static void bn_fold_errors(void **state)
{
    (void)state;
    float w[6] = {1, 2, 3, 4, 5, 6}, g[2] = {1.0f, 0.0f}, v[2] = {1.0f, 0.5f};
    ex_in in[3] = {{"y", 2, {3, 2}, TT_DH_INPUT, w},
                   {"gamma", 1, {2}, TT_DH_WEIGHT, g},
                   {"running_var", 1, {2}, TT_DH_CONST, v}};
    ex_same_error("BnUnfold gamma 0", TT_OP_BN_UNFOLD, 3, in, 0, NULL, true, "gamma != 0");
    g[1] = 2.0f;
    v[0] = -1.0f;
    ex_same_error("BnUnfold running_var -1", TT_OP_BN_UNFOLD, 3, in, 0, NULL, false,
                  "running_var >= 0");
}

/* ---- BiasFakeQuant ---- */

static void bias_quant(void **state)
{
    (void)state;
    tt_dh_case c = {"BiasFakeQuant per channel",
                    TT_OP_BIAS_QUANT,
                    3,
                    {W("bias", -1.0, 1.0, 1, 13), CONST("x_scale", 0.01, 0.05, 1, 1),
                     CONST("w_scale", 0.001, 0.02, 1, 13)},
                    .training = true,
                    .seed = 61};
    run(&c);
    c.label = "BiasFakeQuant per channel, eval";
    c.training = false;
    run(&c);
    tt_dh_case t = {"BiasFakeQuant per tensor",
                    TT_OP_BIAS_QUANT,
                    3,
                    {W("bias", -3.0, 3.0, 1, 9), CONST("x_scale", 0.01, 0.05, 1, 1),
                     CONST("w_scale", 0.001, 0.02, 1, 1)},
                    .training = true,
                    .seed = 62};
    run(&t);
    tt_dh_case d = {"BiasFakeQuant disabled",
                    TT_OP_BIAS_QUANT,
                    3,
                    {W("bias", -1.0, 1.0, 1, 5), CONST("x_scale", 0.01, 0.05, 1, 1),
                     CONST("w_scale", 0.001, 0.02, 1, 5)},
                    1,
                    {tt_attr_int("enabled", 0)},
                    .training = true,
                    .seed = 63};
    run(&d);
}

static void bias_quant_errors(void **state)
{
    (void)state;
    float b[3] = {0.5f, 1e30f, -0.25f}, xs[1] = {0.01f}, ws[3] = {0.1f, 0.1f, 0.1f};
    ex_in in[3] = {{"bias", 1, {3}, TT_DH_WEIGHT, b},
                   {"x_scale", 1, {1}, TT_DH_CONST, xs},
                   {"w_scale", 1, {3}, TT_DH_CONST, ws}};
    ex_same_error("BiasFakeQuant overflow", TT_OP_BIAS_QUANT, 3, in, 0, NULL, true,
                  "does not fit int32");
    b[1] = 0.5f;
    ws[2] = 0.0f;
    ex_same_error("BiasFakeQuant scale 0", TT_OP_BIAS_QUANT, 3, in, 0, NULL, false,
                  "not a positive finite");
}

/* ---- The QAT graph of a small CNN, end to end ----
 * TT_TEST_CNN_YAML (conv - bn - relu - maxpool - conv - bn - relu - flatten - dropout - linear)
 * prepared for QAT with simulated BN folding and LSQ scales, calibrated on the CPU, then one
 * training forward (observers on) and one backward on the CPU and on the device, and an eval
 * forward. The qat ops are exact, but Conv and Gemm sum in another order than OpenBLAS (within
 * an NMSE of 1e-10): such a difference can move a value across a rounding boundary of the next
 * FakeQuant, which changes it by a whole quantisation step. Outputs, gradients and parameters
 * therefore agree within an NMSE of 1e-4 (measured: 2.5e-9 on PoCL, 2.2e-9 on an H100), while
 * any indexing, observer or LSQ bug gives an NMSE of order 1. */
#define GRAPH_NMSE 1e-4

static double nmse(const tt_tensor *a, const tt_tensor *b)
{
    int64_t n = tt_tensor_numel(a);
    const float *x = a->data, *y = b->data;
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)y[i] - x[i];
        num += d * d;
        den += (double)x[i] * x[i];
    }
    return den > 0 ? num / den : num;
}

static void check_close(const char *what, const tt_tensor *a, const tt_tensor *b, double *worst)
{
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(tt_tensor_numel(a), tt_tensor_numel(b));
    double e = nmse(a, b);
    if (e > *worst) *worst = e;
    if (e > GRAPH_NMSE) {
        printf("QAT graph: %s: NMSE %.3g over %.3g\n", what, e, GRAPH_NMSE);
        fail();
    }
}

static void qat_graph(void **state)
{
    (void)state;
    tt_test_model m;
    tt_test_model_build(&m, TT_TEST_CNN_YAML);
    m.cfg->qat.bn_fold = TT_BN_FOLD_SIMULATE;
    m.cfg->qat.learnable_scale = true;
    tt_test_model_qat(&m);
    const int64_t batch = 5, per = 128;
    float *x = malloc((size_t)(batch * per) * sizeof *x);
    tt_rng rng;
    tt_rng_seed(&rng, 9, 0);
    tt_test_fill_uniform(x, batch * per, -1.0f, 1.5f, &rng);
    tt_exec *cpu = NULL, *dev = NULL;
    TT_ASSERT_OK(tt_exec_create(m.q, batch, &cpu));
    tt_status st = tt_exec_create_on(m.q, batch, tt_dh_backend(), &dev);
    if (st == TT_ERR_UNSUPPORTED) { /* another group's op has no device kernel yet */
        printf("skipped QAT graph: %s\n", tt_last_error());
        tt_exec_free(cpu);
        free(x);
        tt_test_model_free(&m);
        return;
    }
    TT_ASSERT_OK(st);
    tt_exec_seed(cpu, 4);
    tt_exec_seed(dev, 4);
    TT_ASSERT_OK(tt_exec_set_input(cpu, m.qin, x, batch));
    TT_ASSERT_OK(tt_exec_set_input(dev, m.qin, x, batch));
    TT_ASSERT_OK(tt_exec_forward(cpu, batch, true));
    TT_ASSERT_OK(tt_exec_forward(dev, batch, true));
    double worst = 0;
    check_close("training output", tt_exec_value(cpu, m.qout), tt_exec_value(dev, m.qout), &worst);
    int64_t n = tt_tensor_numel(tt_exec_value(cpu, m.qout));
    float *seed = malloc((size_t)n * sizeof *seed);
    tt_test_fill_uniform(seed, n, -1.0f, 1.0f, &rng);
    TT_ASSERT_OK(tt_exec_backward_from(cpu, m.qout, seed));
    TT_ASSERT_OK(tt_exec_backward_from(dev, m.qout, seed));
    int grads = 0;
    for (int v = 0; v < m.q->n_values; v++) {
        tt_tensor *g = tt_exec_grad(cpu, v);
        if (!g || m.q->values[v].kind != TT_VALUE_PARAM) continue;
        char what[160];
        snprintf(what, sizeof what, "gradient of %s", m.q->values[v].name);
        check_close(what, g, tt_exec_grad(dev, v), &worst);
        grads++;
    }
    /* the parameters the training forward moved (ranges, scales, BN statistics), as graphs */
    tt_graph *gc = m.q;
    float **before = calloc((size_t)gc->n_values, sizeof *before);
    for (int v = 0; v < gc->n_values; v++)
        if (gc->values[v].kind == TT_VALUE_PARAM) {
            const tt_tensor *t = gc->values[v].data;
            size_t bytes = (size_t)tt_tensor_numel(t) * sizeof(float);
            before[v] = malloc(bytes ? bytes : 1);
            memcpy(before[v], t->data, bytes); /* the CPU's values */
        }
    TT_ASSERT_OK(tt_exec_params_to_host(dev)); /* now the device's */
    for (int v = 0; v < gc->n_values; v++) {
        if (!before[v]) continue;
        tt_tensor c = *gc->values[v].data;
        c.data = before[v];
        char what[160];
        snprintf(what, sizeof what, "parameter %s after forward", gc->values[v].name);
        check_close(what, &c, gc->values[v].data, &worst);
        free(before[v]);
    }
    free(before);
    TT_ASSERT_OK(tt_exec_forward(cpu, batch, false));
    TT_ASSERT_OK(tt_exec_forward(dev, batch, false));
    check_close("eval output", tt_exec_value(cpu, m.qout), tt_exec_value(dev, m.qout), &worst);
    printf("QAT graph on %s: %d parameter gradients, worst NMSE %.3g\n", tt_exec_backend(dev),
           grads, worst);
    free(seed);
    free(x);
    tt_exec_free(cpu);
    tt_exec_free(dev);
    tt_test_model_free(&m);
}

int main(void)
{
    int dev = tt_dh_device_status(tt_dh_backend());
    if (dev) return dev;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fq_per_tensor),     cmocka_unit_test(fq_per_channel),
        cmocka_unit_test(fq_large),          cmocka_unit_test(fq_lsq),
        cmocka_unit_test(fq_switches),       cmocka_unit_test(fq_edges),
        cmocka_unit_test(fq_errors),         cmocka_unit_test(bn_fold),
        cmocka_unit_test(bn_fold_errors),    cmocka_unit_test(bias_quant),
        cmocka_unit_test(bias_quant_errors), cmocka_unit_test(qat_graph),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
