/* FakeQuant through the graph and the executor: forward values per tensor (uint8 asymmetric)
 * and per channel (int8 symmetric, axis 0 of [C,K] and [M,C,kh,kw] weights, axis 1 of an
 * [N,C,H,W] activation); the observers (running min/max, moving average, current tensor) and
 * the switches that freeze them or bypass the node; the straight-through backward with its
 * mask on the rounded, unclamped level; LSQ's scale gradient; and the errors.
 *
 * Forward outputs are compared bit for bit with tt_fake_quantize_val (tested against ONNX
 * Runtime in test_quant): the op must be exactly QuantizeLinear -> DequantizeLinear. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include "testutil.h"

typedef struct fq_fx {
    tt_graph *g;
    tt_exec *e;
    int x, scale, zp, mn, mx, y;
    int64_t c; /* channels (1 per tensor) */
    bool x_param;
} fq_fx;

static int64_t attr_or(int n, const tt_attr *a, const char *name, int64_t dflt)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(a[i].name, name)) return a[i].ints[0];
    return dflt;
}

/* y = FakeQuant(x). x is a trainable param (a weight) when x_param, else a batched input that
 * wants a gradient; dims[0] is ignored for an input. The state starts as the QAT prepare pass
 * leaves it: scale 1, zero point 0, min +inf, max -inf. */
static void fq_build(fq_fx *f, int ndim, const int64_t *dims, bool x_param, int n_attrs,
                     const tt_attr *attrs, bool scale_trainable, int64_t max_batch)
{
    memset(f, 0, sizeof *f);
    f->x_param = x_param;
    TT_ASSERT_OK(tt_graph_create(&f->g));
    int64_t d[4];
    for (int i = 0; i < ndim; i++) d[i] = dims[i];
    if (x_param) {
        TT_ASSERT_OK(tt_graph_add_param(f->g, "x", ndim, d, true, &f->x));
    } else {
        d[0] = TT_DIM_BATCH;
        TT_ASSERT_OK(tt_graph_add_input(f->g, "x", TT_F32, ndim, d, &f->x));
        f->g->values[f->x].trainable = true;
    }
    int64_t axis = attr_or(n_attrs, attrs, "axis", -1);
    f->c = axis < 0 ? 1 : dims[axis];
    TT_ASSERT_OK(tt_graph_add_param(f->g, "fq.scale", 1, &f->c, scale_trainable, &f->scale));
    TT_ASSERT_OK(tt_graph_add_param(f->g, "fq.zero_point", 1, &f->c, false, &f->zp));
    TT_ASSERT_OK(tt_graph_add_param(f->g, "fq.min", 1, &f->c, false, &f->mn));
    TT_ASSERT_OK(tt_graph_add_param(f->g, "fq.max", 1, &f->c, false, &f->mx));
    for (int64_t i = 0; i < f->c; i++) {
        tt_graph_param_data(f->g, f->scale)[i] = 1.0f;
        tt_graph_param_data(f->g, f->mn)[i] = INFINITY;
        tt_graph_param_data(f->g, f->mx)[i] = -INFINITY;
    }
    int in[5] = {f->x, f->scale, f->zp, f->mn, f->mx};
    TT_ASSERT_OK(tt_graph_add_node(f->g, TT_OP_FAKEQUANT, "fq", 5, in, n_attrs, attrs, &f->y));
    TT_ASSERT_OK(tt_exec_create(f->g, max_batch, &f->e));
}

static void fq_free(fq_fx *f)
{
    tt_exec_free(f->e);
    tt_graph_free(f->g);
}

/* Set (or add) an int attribute of the FakeQuant node, as the QAT recipe's switches do. */
static void fq_set(fq_fx *f, const char *name, int64_t v)
{
    tt_node *n = &f->g->nodes[0];
    for (int i = 0; i < n->n_attrs; i++)
        if (!strcmp(n->attrs[i].name, name)) {
            n->attrs[i].ints[0] = v;
            return;
        }
    assert_true(n->n_attrs < TT_MAX_ATTRS);
    n->attrs[n->n_attrs++] = tt_attr_int(name, v);
}

/* Feed x (n rows for an input; the whole param otherwise) and run forward. */
static tt_status fq_run(fq_fx *f, const float *x, int64_t n, bool training)
{
    if (f->x_param) {
        float *p = tt_graph_param_data(f->g, f->x);
        memcpy(p, x, (size_t)tt_tensor_numel(f->g->values[f->x].data) * sizeof(float));
        return tt_exec_forward(f->e, 1, training);
    }
    TT_ASSERT_OK(tt_exec_set_input(f->e, f->x, x, n));
    return tt_exec_forward(f->e, n, training);
}

static float *fq_p(fq_fx *f, int id)
{
    return tt_graph_param_data(f->g, id);
}

/* y[i] == tt_fake_quantize_val(x[i]) with channel (i / inner) % c, bit for bit. */
static void expect_fq(fq_fx *f, const float *x, int64_t numel, int64_t inner, int32_t qmin,
                      int32_t qmax)
{
    const float *y = tt_tensor_f32(tt_exec_value(f->e, f->y));
    const float *s = fq_p(f, f->scale), *z = fq_p(f, f->zp);
    for (int64_t i = 0; i < numel; i++) {
        int64_t c = (i / inner) % f->c;
        float want = tt_fake_quantize_val(x[i], s[c], (int32_t)z[c], qmin, qmax);
        if (memcmp(&y[i], &want, sizeof want) != 0)
            print_error("y[%lld] = %.9g, want %.9g (x %.9g, channel %lld)\n", (long long)i,
                        (double)y[i], (double)want, (double)x[i], (long long)c);
        assert_memory_equal(&y[i], &want, sizeof want);
    }
}

/* The qparams ORT would compute for a range. */
static void ort_qparams(float lo, float hi, int32_t qmin, int32_t qmax, bool sym, float *s,
                        int32_t *z)
{
    TT_ASSERT_OK(tt_quant_compute_scale_zp(lo, hi, qmin, qmax, sym, s, z));
}

/* ---- forward values ---- */

static void forward_per_tensor_u8_fixed(void **state)
{
    (void)state;
    /* Fixed qparams (observe=0): scale 0.5, zero point 128, uint8. x / s is exact here, so
     * the values are hand-checkable: ties go to even, the ends clamp, NaN goes to qmin. */
    tt_attr at[2] = {tt_attr_int("observe", 0), tt_attr_int("observer", TT_OBSERVER_MINMAX)};
    fq_fx f;
    int64_t d[2] = {0, 6};
    fq_build(&f, 2, d, false, 2, at, false, 3);
    fq_p(&f, f.scale)[0] = 0.5f;
    fq_p(&f, f.zp)[0] = 128.0f;
    float x[12] = {1.25f, 1.75f,  -1.25f, -1.75f, 0.0f,    0.3f,
                   63.5f, 63.75f, 64.0f,  -64.0f, -64.25f, NAN};
    float want[12] = {1.0f,  2.0f,  -1.0f, -2.0f,  0.0f,   0.5f,
                      63.5f, 63.5f, 63.5f, -64.0f, -64.0f, -64.0f};
    for (int mode = 0; mode < 2; mode++) {
        TT_ASSERT_OK(fq_run(&f, x, 2, mode == 1));
        const float *y = tt_tensor_f32(tt_exec_value(f.e, f.y));
        for (int i = 0; i < 12; i++) assert_true(y[i] == want[i]);
        expect_fq(&f, x, 12, 12, 0, 255);
    }
    /* Nothing was observed: the state is as built. */
    assert_true(fq_p(&f, f.mn)[0] == INFINITY && fq_p(&f, f.mx)[0] == -INFINITY);
    assert_true(fq_p(&f, f.scale)[0] == 0.5f && fq_p(&f, f.zp)[0] == 128.0f);
    fq_free(&f);
}

static void forward_divides_like_ort(void **state)
{
    (void)state;
    /* x / s is an exact tie k + 0.5 for these, x * (1/s) is not: ONNX Runtime's QuantizeLinear
     * (scale 0.0123, zero point 77, uint8) gives levels 1, 3, 5 (test_quant's QL_DIV_TIES);
     * multiplying by the reciprocal, as PyTorch does, would give 0, 2, 4. */
    const uint32_t xb[3] = {0xbf70e219u, 0xbf6a95eau, 0xbf6449bau};
    const int lvl[3] = {1, 3, 5};
    tt_attr at[1] = {tt_attr_int("observe", 0)};
    fq_fx f;
    int64_t d[2] = {0, 3};
    fq_build(&f, 2, d, false, 1, at, false, 1);
    fq_p(&f, f.scale)[0] = 0.0123f;
    fq_p(&f, f.zp)[0] = 77.0f;
    float x[3];
    memcpy(x, xb, sizeof x);
    TT_ASSERT_OK(fq_run(&f, x, 1, false));
    const float *y = tt_tensor_f32(tt_exec_value(f.e, f.y));
    for (int i = 0; i < 3; i++) assert_true(y[i] == (float)(lvl[i] - 77) * 0.0123f);
    fq_free(&f);
}

static void forward_per_tensor_u8_observed(void **state)
{
    (void)state;
    /* Defaults: uint8 [0,255], asymmetric, per tensor, moving average. The first training
     * batch sets the range and the qparams, and is itself quantised with them. */
    fq_fx f;
    int64_t d[2] = {0, 50};
    fq_build(&f, 2, d, false, 0, NULL, false, 4);
    tt_rng rng;
    tt_rng_seed(&rng, 3, 0);
    float x[200];
    tt_test_fill_uniform(x, 200, -0.8f, 2.3f, &rng);
    x[17] = -0.9f;
    x[101] = 2.4f;
    TT_ASSERT_OK(fq_run(&f, x, 4, true));
    assert_true(fq_p(&f, f.mn)[0] == -0.9f && fq_p(&f, f.mx)[0] == 2.4f);
    float s;
    int32_t z;
    ort_qparams(-0.9f, 2.4f, 0, 255, false, &s, &z);
    assert_true(fq_p(&f, f.scale)[0] == s);
    assert_true(fq_p(&f, f.zp)[0] == (float)z);
    assert_int_equal(z, 70); /* 0.9 / (3.3 / 255) = 69.5454 */
    expect_fq(&f, x, 200, 200, 0, 255);
    fq_free(&f);
}

static void forward_per_channel_s8_weights(void **state)
{
    (void)state;
    /* int8 symmetric [-127,127], axis 0, memoryless observer: scale[c] = max|w_c| / 127, zero
     * point 0, for a Gemm weight [C,K] and a Conv weight [M,C,kh,kw]. */
    tt_attr at[5] = {tt_attr_int("qmin", -127), tt_attr_int("qmax", 127),
                     tt_attr_int("symmetric", 1), tt_attr_int("axis", 0),
                     tt_attr_int("observer", TT_OBSERVER_LAST)};
    int64_t shapes[2][4] = {{5, 7, 0, 0}, {4, 3, 3, 2}};
    int ranks[2] = {2, 4};
    tt_rng rng;
    tt_rng_seed(&rng, 9, 0);
    for (int k = 0; k < 2; k++) {
        fq_fx f;
        fq_build(&f, ranks[k], shapes[k], true, 5, at, false, 1);
        int64_t numel = tt_tensor_numel(f.g->values[f.x].data), inner = numel / f.c;
        float *w = malloc((size_t)numel * sizeof *w);
        for (int64_t c = 0; c < f.c; c++) /* channels of very different magnitudes */
            tt_test_fill_uniform(w + c * inner, inner, -0.1f * (float)(c + 1),
                                 0.05f * (float)(c + 1), &rng);
        w[inner + 2] = 0.4f; /* channel 1's largest magnitude is positive */
        TT_ASSERT_OK(fq_run(&f, w, 1, true));
        for (int64_t c = 0; c < f.c; c++) {
            float lo = INFINITY, hi = -INFINITY;
            for (int64_t i = 0; i < inner; i++) {
                lo = fminf(lo, w[c * inner + i]);
                hi = fmaxf(hi, w[c * inner + i]);
            }
            float s;
            int32_t z;
            ort_qparams(lo, hi, -127, 127, true, &s, &z);
            assert_true(fq_p(&f, f.mn)[c] == lo && fq_p(&f, f.mx)[c] == hi);
            assert_true(fq_p(&f, f.scale)[c] == s);
            assert_true(s == (float)((double)fmaxf(-lo, hi) / 127.0));
            assert_true(fq_p(&f, f.zp)[c] == 0.0f);
        }
        expect_fq(&f, w, numel, inner, -127, 127);
        /* The extreme of each channel lands exactly on +-127 levels: no clamping error. */
        const float *y = tt_tensor_f32(tt_exec_value(f.e, f.y));
        assert_true(y[inner + 2] == 127.0f * fq_p(&f, f.scale)[1]);
        free(w);
        fq_free(&f);
    }
}

static void forward_per_channel_activation_axis1(void **state)
{
    (void)state;
    /* [N,C,H,W] activation, per channel along axis 1: each channel's range is over the batch
     * and the spatial positions together. Fixed per-channel scales first, then observed. */
    tt_attr at[5] = {tt_attr_int("qmin", -127), tt_attr_int("qmax", 127),
                     tt_attr_int("symmetric", 1), tt_attr_int("axis", 1),
                     tt_attr_int("observer", TT_OBSERVER_MINMAX)};
    fq_fx f;
    int64_t d[4] = {0, 3, 2, 3};
    fq_build(&f, 4, d, false, 5, at, false, 2);
    tt_rng rng;
    tt_rng_seed(&rng, 21, 0);
    float x[36];
    tt_test_fill_uniform(x, 36, -1.0f, 1.0f, &rng);
    for (int i = 0; i < 36; i++) x[i] *= (float)(1 + (i / 6) % 3); /* channel c spans c + 1 */
    TT_ASSERT_OK(fq_run(&f, x, 2, true));
    for (int c = 0; c < 3; c++) {
        float lo = INFINITY, hi = -INFINITY;
        for (int n = 0; n < 2; n++)
            for (int i = 0; i < 6; i++) {
                lo = fminf(lo, x[(n * 3 + c) * 6 + i]);
                hi = fmaxf(hi, x[(n * 3 + c) * 6 + i]);
            }
        float s;
        int32_t z;
        ort_qparams(lo, hi, -127, 127, true, &s, &z);
        assert_true(fq_p(&f, f.scale)[c] == s && fq_p(&f, f.zp)[c] == 0.0f);
    }
    expect_fq(&f, x, 36, 6, -127, 127);
    /* Hand values with set scales: channel 0 step 0.5, channel 1 step 0.25, channel 2 step 1. */
    fq_set(&f, "observe", 0);
    float sc[3] = {0.5f, 0.25f, 1.0f};
    memcpy(fq_p(&f, f.scale), sc, sizeof sc);
    float xv[18] = {0}, want[18] = {0};
    for (int c = 0; c < 3; c++) {
        xv[c * 6 + 0] = 2.5f * sc[c]; /* tie -> 2 */
        want[c * 6 + 0] = 2.0f * sc[c];
        xv[c * 6 + 1] = -3.5f * sc[c]; /* tie -> -4 */
        want[c * 6 + 1] = -4.0f * sc[c];
        xv[c * 6 + 2] = 200.0f * sc[c]; /* clamps to 127 */
        want[c * 6 + 2] = 127.0f * sc[c];
        xv[c * 6 + 3] = -127.5f * sc[c]; /* -128 after rounding, clamps to -127 */
        want[c * 6 + 3] = -127.0f * sc[c];
    }
    TT_ASSERT_OK(fq_run(&f, xv, 1, false));
    const float *y = tt_tensor_f32(tt_exec_value(f.e, f.y));
    for (int i = 0; i < 18; i++) assert_true(y[i] == want[i]);
    fq_free(&f);
}

/* ---- observers and switches ---- */

static void fill_range(float *x, int n, float lo, float hi, tt_rng *rng)
{
    tt_test_fill_uniform(x, n, lo, hi, rng);
    x[0] = lo;
    x[n - 1] = hi;
}

static void observer_minmax_accumulates(void **state)
{
    (void)state;
    tt_attr at[1] = {tt_attr_int("observer", TT_OBSERVER_MINMAX)};
    fq_fx f;
    int64_t d[2] = {0, 8};
    fq_build(&f, 2, d, false, 1, at, false, 2);
    tt_rng rng;
    tt_rng_seed(&rng, 1, 0);
    float x[16];
    const float r[3][2] = {{-1.0f, 2.0f}, {-0.5f, 3.0f}, {-2.0f, 1.0f}};
    const float want[3][2] = {{-1.0f, 2.0f}, {-1.0f, 3.0f}, {-2.0f, 3.0f}};
    for (int b = 0; b < 3; b++) {
        fill_range(x, 16, r[b][0], r[b][1], &rng);
        TT_ASSERT_OK(fq_run(&f, x, 2, true));
        assert_true(fq_p(&f, f.mn)[0] == want[b][0] && fq_p(&f, f.mx)[0] == want[b][1]);
        float s;
        int32_t z;
        ort_qparams(want[b][0], want[b][1], 0, 255, false, &s, &z);
        assert_true(fq_p(&f, f.scale)[0] == s && fq_p(&f, f.zp)[0] == (float)z);
        expect_fq(&f, x, 16, 16, 0, 255); /* each batch uses the range including itself */
    }
    fq_free(&f);
}

static void observer_moving_average(void **state)
{
    (void)state;
    /* PyTorch's MovingAverageMinMaxObserver: the first batch sets the range, then
     * m = m + c * (batch - m) in float32, c = 0.01 (the default). */
    fq_fx f;
    int64_t d[2] = {0, 8};
    fq_build(&f, 2, d, false, 0, NULL, false, 2);
    tt_rng rng;
    tt_rng_seed(&rng, 2, 0);
    float x[16];
    const float r[4][2] = {{-1.0f, 2.0f}, {-3.0f, 5.0f}, {0.5f, 1.0f}, {-0.25f, 7.0f}};
    float m_lo = 0, m_hi = 0;
    const float c = 0.01f;
    for (int b = 0; b < 4; b++) {
        fill_range(x, 16, r[b][0], r[b][1], &rng);
        TT_ASSERT_OK(fq_run(&f, x, 2, true));
        if (b == 0) {
            m_lo = r[0][0];
            m_hi = r[0][1];
        } else {
            float dl = r[b][0] - m_lo, dh = r[b][1] - m_hi;
            float sl = c * dl, sh = c * dh;
            m_lo = m_lo + sl;
            m_hi = m_hi + sh;
        }
        assert_true(fq_p(&f, f.mn)[0] == m_lo && fq_p(&f, f.mx)[0] == m_hi);
        if (b == 1) /* -1 + 0.01 * (-3 + 1) and 2 + 0.01 * (5 - 2), to float rounding */
            assert_true(fabsf(m_lo + 1.02f) < 1e-6f && fabsf(m_hi - 2.03f) < 1e-6f);
        float s;
        int32_t z;
        ort_qparams(m_lo, m_hi, 0, 255, false, &s, &z);
        assert_true(fq_p(&f, f.scale)[0] == s && fq_p(&f, f.zp)[0] == (float)z);
        expect_fq(&f, x, 16, 16, 0, 255);
    }
    /* A different constant is honoured. */
    fq_free(&f);
    tt_attr at[1] = {tt_attr_float("averaging_constant", 0.5f)};
    fq_build(&f, 2, d, false, 1, at, false, 2);
    fill_range(x, 16, -1.0f, 2.0f, &rng);
    TT_ASSERT_OK(fq_run(&f, x, 2, true));
    fill_range(x, 16, -3.0f, 4.0f, &rng);
    TT_ASSERT_OK(fq_run(&f, x, 2, true));
    assert_true(fq_p(&f, f.mn)[0] == -2.0f && fq_p(&f, f.mx)[0] == 3.0f);
    fq_free(&f);
}

static void observer_last_is_current(void **state)
{
    (void)state;
    tt_attr at[1] = {tt_attr_int("observer", TT_OBSERVER_LAST)};
    fq_fx f;
    int64_t d[2] = {0, 8};
    fq_build(&f, 2, d, false, 1, at, false, 2);
    tt_rng rng;
    tt_rng_seed(&rng, 4, 0);
    float x[16];
    const float r[3][2] = {{-1.0f, 2.0f}, {-0.25f, 0.5f}, {-4.0f, 0.125f}};
    for (int b = 0; b < 3; b++) {
        fill_range(x, 16, r[b][0], r[b][1], &rng);
        TT_ASSERT_OK(fq_run(&f, x, 2, true));
        assert_true(fq_p(&f, f.mn)[0] == r[b][0] && fq_p(&f, f.mx)[0] == r[b][1]);
        expect_fq(&f, x, 16, 16, 0, 255);
    }
    fq_free(&f);
}

static void observe_off_and_eval_freeze(void **state)
{
    (void)state;
    fq_fx f;
    int64_t d[2] = {0, 8};
    fq_build(&f, 2, d, false, 0, NULL, false, 2);
    tt_rng rng;
    tt_rng_seed(&rng, 5, 0);
    float x[16], st[4];
    fill_range(x, 16, -1.0f, 2.0f, &rng);
    TT_ASSERT_OK(fq_run(&f, x, 2, true));
    st[0] = fq_p(&f, f.mn)[0], st[1] = fq_p(&f, f.mx)[0];
    st[2] = fq_p(&f, f.scale)[0], st[3] = fq_p(&f, f.zp)[0];
    /* Eval forwards never observe, even with observe=1 (PyTorch's would: Lightning #8507). */
    fill_range(x, 16, -5.0f, 9.0f, &rng);
    TT_ASSERT_OK(fq_run(&f, x, 2, false));
    assert_true(fq_p(&f, f.mn)[0] == st[0] && fq_p(&f, f.mx)[0] == st[1]);
    assert_true(fq_p(&f, f.scale)[0] == st[2] && fq_p(&f, f.zp)[0] == st[3]);
    expect_fq(&f, x, 16, 16, 0, 255); /* and quantise with the frozen qparams */
    /* observe=0 freezes training forwards too. */
    fq_set(&f, "observe", 0);
    TT_ASSERT_OK(fq_run(&f, x, 2, true));
    assert_true(fq_p(&f, f.mn)[0] == st[0] && fq_p(&f, f.mx)[0] == st[1]);
    assert_true(fq_p(&f, f.scale)[0] == st[2] && fq_p(&f, f.zp)[0] == st[3]);
    expect_fq(&f, x, 16, 16, 0, 255);
    /* observe=1 again resumes. */
    fq_set(&f, "observe", 1);
    TT_ASSERT_OK(fq_run(&f, x, 2, true));
    assert_true(fq_p(&f, f.mn)[0] < st[0] && fq_p(&f, f.mx)[0] > st[1]);
    fq_free(&f);
}

static void enabled_off_passes_through(void **state)
{
    (void)state;
    /* enabled=0: y = x bit for bit and dX = dY; the observer still runs in training (this is
     * how calibration sees float activations). */
    tt_attr at[1] = {tt_attr_int("enabled", 0)};
    fq_fx f;
    int64_t d[2] = {0, 8};
    fq_build(&f, 2, d, false, 1, at, false, 2);
    tt_rng rng;
    tt_rng_seed(&rng, 6, 0);
    float x[16], dy[16];
    fill_range(x, 16, -1.0f, 2.0f, &rng);
    x[5] = 1e6f; /* far outside any range: still passed and still gets its gradient */
    tt_test_fill_uniform(dy, 16, -1.0f, 1.0f, &rng);
    TT_ASSERT_OK(fq_run(&f, x, 2, true));
    assert_memory_equal(tt_tensor_f32(tt_exec_value(f.e, f.y)), x, sizeof x);
    assert_true(fq_p(&f, f.mn)[0] == -1.0f && fq_p(&f, f.mx)[0] == 1e6f);
    TT_ASSERT_OK(tt_exec_backward_from(f.e, f.y, dy));
    assert_memory_equal(tt_tensor_f32(tt_exec_grad(f.e, f.x)), dy, sizeof dy);
    /* Switching it on quantises with the observed qparams. */
    fq_set(&f, "enabled", 1);
    TT_ASSERT_OK(fq_run(&f, x, 2, false));
    expect_fq(&f, x, 16, 16, 0, 255);
    fq_free(&f);
}

static void observer_skips_nan_refuses_inf(void **state)
{
    (void)state;
    fq_fx f;
    int64_t d[2] = {0, 4};
    fq_build(&f, 2, d, false, 0, NULL, false, 2);
    float x[8] = {NAN, -1.0f, 0.5f, 2.0f, NAN, 0.0f, 1.0f, NAN};
    TT_ASSERT_OK(fq_run(&f, x, 2, true));
    /* NaN is skipped by the observer (ORT's nanmin/nanmax) and quantises to qmin. */
    assert_true(fq_p(&f, f.mn)[0] == -1.0f && fq_p(&f, f.mx)[0] == 2.0f);
    const float *y = tt_tensor_f32(tt_exec_value(f.e, f.y));
    float s = fq_p(&f, f.scale)[0], z = fq_p(&f, f.zp)[0];
    assert_true(y[0] == (0.0f - z) * s);
    /* Inf is refused, naming the node, and the state is left as it was. */
    float xi[8] = {0.0f, 1.0f, INFINITY, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    assert_int_equal(fq_run(&f, xi, 2, true), TT_ERR_NUMERIC);
    assert_non_null(strstr(tt_last_error(), "'fq'"));
    assert_true(fq_p(&f, f.mn)[0] == -1.0f && fq_p(&f, f.mx)[0] == 2.0f);
    assert_true(fq_p(&f, f.scale)[0] == s && fq_p(&f, f.zp)[0] == z);
    /* An all-NaN batch observes nothing. */
    float xn[8] = {NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN};
    TT_ASSERT_OK(fq_run(&f, xn, 2, true));
    assert_true(fq_p(&f, f.mn)[0] == -1.0f && fq_p(&f, f.mx)[0] == 2.0f);
    fq_free(&f);
}

/* ---- straight-through backward ---- */

static void ste_mask(void **state)
{
    (void)state;
    /* int8 [-128,127], scale 0.5, zero point 0, fixed. Inputs in units of the scale (exact in
     * float, as is x / s): the mask is on the rounded, unclamped level, so 127.4 (-> 127) and
     * -128.5 (-> -128, tie to even) pass the gradient although -128.5 is beyond the range,
     * while 127.5 (-> 128), 127.6 and -128.6 (-> -129) do not. */
    tt_attr at[3] = {tt_attr_int("qmin", -128), tt_attr_int("qmax", 127),
                     tt_attr_int("observe", 0)};
    fq_fx f;
    int64_t d[2] = {0, 12};
    fq_build(&f, 2, d, false, 3, at, false, 1);
    fq_p(&f, f.scale)[0] = 0.5f;
    const float v[12] = {0.0f,   1.3f,    -60.5f,  126.5f,  127.4f,   127.5f,
                         127.6f, -128.5f, -128.6f, 1000.0f, -1000.0f, NAN};
    const int pass[12] = {1, 1, 1, 1, 1, 0, 0, 1, 0, 0, 0, 0};
    float x[12], dy[12];
    tt_rng rng;
    tt_rng_seed(&rng, 8, 0);
    tt_test_fill_uniform(dy, 12, 0.5f, 1.5f, &rng);
    for (int i = 0; i < 12; i++) x[i] = v[i] * 0.5f;
    TT_ASSERT_OK(fq_run(&f, x, 1, true));
    TT_ASSERT_OK(tt_exec_backward_from(f.e, f.y, dy));
    const float *dx = tt_tensor_f32(tt_exec_grad(f.e, f.x));
    for (int i = 0; i < 12; i++) {
        if (dx[i] != (pass[i] ? dy[i] : 0.0f))
            print_error("x/s = %g: dx %g, dy %g, expected %s\n", (double)v[i], (double)dx[i],
                        (double)dy[i], pass[i] ? "dy" : "0");
        assert_true(dx[i] == (pass[i] ? dy[i] : 0.0f)); /* exactly dY, not a rounding of it */
    }
    /* The non-learnable scale gets no gradient buffer at all. */
    assert_null(tt_exec_grad(f.e, f.scale));
    fq_free(&f);
}

static void ste_mask_per_channel(void **state)
{
    (void)state;
    /* Per channel the mask uses each channel's scale: the same x is inside one channel's
     * range and outside the other's. Weight [2,3], int8 symmetric. */
    tt_attr at[5] = {tt_attr_int("qmin", -127), tt_attr_int("qmax", 127), tt_attr_int("axis", 0),
                     tt_attr_int("symmetric", 1), tt_attr_int("observe", 0)};
    fq_fx f;
    int64_t d[2] = {2, 3};
    fq_build(&f, 2, d, true, 5, at, false, 1);
    fq_p(&f, f.scale)[0] = 0.01f;
    fq_p(&f, f.scale)[1] = 0.001f;
    float w[6] = {1.0f, -0.5f, 0.1f, 1.0f, -0.5f, 0.1f}, dy[6] = {1, 2, 3, 4, 5, 6};
    TT_ASSERT_OK(fq_run(&f, w, 1, true));
    TT_ASSERT_OK(tt_exec_backward_from(f.e, f.y, dy));
    const float *dw = tt_tensor_f32(tt_exec_grad(f.e, f.x));
    const float want[6] = {1, 2, 3, 0, 0, 6}; /* 1.0/0.001 = 1000 and -500 clamp */
    for (int i = 0; i < 6; i++) assert_true(dw[i] == want[i]);
    fq_free(&f);
}

/* ---- LSQ ---- */

/* LSQ's scale gradient in double, independent of the op: per element with v = x / s (float
 * division, as forward) and r = nearbyint(v) (default rounding mode = half to even),
 * t = r - v in range, qmin - z below, qmax - z above; ds = sum dy * t / sqrt(numel * qmax). */
static double lsq_expected(const float *x, const float *dy, int64_t n, float s, float z,
                           int32_t qmin, int32_t qmax, int64_t numel, double *abs_sum)
{
    double sum = 0.0, as = 0.0;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] / s;
        double r = nearbyint((double)v), q = r + z, t;
        if (q < qmin)
            t = qmin - z;
        else if (q > qmax)
            t = qmax - z;
        else
            t = r - (double)v;
        sum += t * dy[i];
        as += fabs(t * dy[i]);
    }
    double g = 1.0 / sqrt((double)numel * (double)qmax);
    *abs_sum = as * g;
    return sum * g;
}

static void lsq_scale_gradient_per_tensor(void **state)
{
    (void)state;
    /* uint8 asymmetric, scale 0.05, zero point 100, learnable; values spread so that about a
     * fifth clamp at each end. Tolerance: the op forms the same terms in float and sums them
     * in double (in chunks under OpenMP), then rounds the result to float, so the error is the
     * final rounding (6e-8 relative) plus double-summation noise (< 1e-12 of sum |terms|);
     * 1e-6 of sum |dy * t| separates that from any wrong term (a missing or sign-flipped
     * clamp term, the wrong gradient scale, or x / s instead of its rounding). The sizes
     * include 160,000 elements so the parallel chunked path runs. */
    tt_attr at[2] = {tt_attr_int("learnable", 1), tt_attr_int("observe", 0)};
    const int64_t widths[2] = {50, 40000};
    for (int k = 0; k < 2; k++) {
        fq_fx f;
        int64_t d[2] = {0, widths[k]};
        fq_build(&f, 2, d, false, 2, at, true, 4);
        fq_p(&f, f.scale)[0] = 0.05f;
        fq_p(&f, f.zp)[0] = 100.0f;
        int64_t n = 4 * widths[k];
        float *x = malloc((size_t)n * sizeof *x), *dy = malloc((size_t)n * sizeof *dy);
        tt_rng rng;
        tt_rng_seed(&rng, 10 + (uint64_t)k, 0);
        tt_test_fill_uniform(x, n, -8.0f, 11.0f, &rng);
        tt_test_fill_uniform(dy, n, -0.5f, 1.0f, &rng); /* biased: the sum is not ~0 */
        TT_ASSERT_OK(fq_run(&f, x, 4, true));
        TT_ASSERT_OK(tt_exec_backward_from(f.e, f.y, dy));
        double as, want = lsq_expected(x, dy, n, 0.05f, 100.0f, 0, 255, n, &as);
        float got = tt_tensor_f32(tt_exec_grad(f.e, f.scale))[0];
        print_message("n=%lld: LSQ ds %.9g, expected %.9g (sum |terms| %.3g)\n", (long long)n,
                      (double)got, want, as);
        assert_true(fabs((double)got - want) <= 1e-6 * as);
        assert_true(fabs(want) > 1e-3 * as); /* not a vacuous near-zero comparison */
        free(x);
        free(dy);
        fq_free(&f);
    }
}

static void lsq_scale_gradient_clamped_terms(void **state)
{
    (void)state;
    /* Only clamped values: ds = g * (sum over below dy) * (qmin - z) + (sum above dy) * (qmax
     * - z), exactly representable here, with g = 1 / sqrt(numel * qmax) = 1 / sqrt(4 * 127). */
    tt_attr at[5] = {tt_attr_int("learnable", 1), tt_attr_int("observe", 0),
                     tt_attr_int("qmin", -127), tt_attr_int("qmax", 127),
                     tt_attr_int("symmetric", 1)};
    fq_fx f;
    int64_t d[2] = {0, 4};
    fq_build(&f, 2, d, false, 5, at, true, 1);
    fq_p(&f, f.scale)[0] = 0.25f;
    float x[4] = {100.0f, -100.0f, 40.0f, -32.0f}, dy[4] = {1.0f, 0.5f, -2.0f, 0.25f};
    TT_ASSERT_OK(fq_run(&f, x, 1, true));
    TT_ASSERT_OK(tt_exec_backward_from(f.e, f.y, dy));
    /* 100 / 0.25 = 400 above; -400 below; 160 above; -128 below */
    double want = (1.0 * 127 + 0.5 * -127 + -2.0 * 127 + 0.25 * -127) / sqrt(4.0 * 127.0);
    float got = tt_tensor_f32(tt_exec_grad(f.e, f.scale))[0];
    assert_true(fabs((double)got - want) <= 1e-6 * fabs(want)); /* float rounding of the result */
    /* and the input gets nothing: every value clamps */
    const float *dx = tt_tensor_f32(tt_exec_grad(f.e, f.x));
    for (int i = 0; i < 4; i++) assert_true(dx[i] == 0.0f);
    fq_free(&f);
}

static void lsq_scale_gradient_per_channel(void **state)
{
    (void)state;
    /* Weight [3,10], axis 0, int8 symmetric, learnable: one gradient per channel, each the
     * channel's own sum, all with g = 1 / sqrt(30 * 127) (numel of the whole tensor, as
     * PyTorch's _LearnableFakeQuantize). Tolerance as in the per-tensor test. */
    tt_attr at[6] = {tt_attr_int("learnable", 1), tt_attr_int("observe", 0),
                     tt_attr_int("qmin", -127),   tt_attr_int("qmax", 127),
                     tt_attr_int("symmetric", 1), tt_attr_int("axis", 0)};
    fq_fx f;
    int64_t d[2] = {3, 10};
    fq_build(&f, 2, d, true, 6, at, true, 1);
    float sc[3] = {0.002f, 0.004f, 0.0015f};
    memcpy(fq_p(&f, f.scale), sc, sizeof sc);
    float w[30], dy[30];
    tt_rng rng;
    tt_rng_seed(&rng, 12, 0);
    tt_test_fill_uniform(w, 30, -0.3f, 0.3f, &rng);
    tt_test_fill_uniform(dy, 30, -1.0f, 1.0f, &rng);
    TT_ASSERT_OK(fq_run(&f, w, 1, true));
    TT_ASSERT_OK(tt_exec_backward_from(f.e, f.y, dy));
    const float *ds = tt_tensor_f32(tt_exec_grad(f.e, f.scale));
    for (int c = 0; c < 3; c++) {
        double as,
            want = lsq_expected(w + c * 10, dy + c * 10, 10, sc[c], 0.0f, -127, 127, 30, &as);
        assert_true(fabs((double)ds[c] - want) <= 1e-6 * as);
        assert_true(as > 0.0);
    }
    fq_free(&f);
}

static void lsq_scale_floor_and_switches(void **state)
{
    (void)state;
    /* A learned scale pushed to <= 0 by the optimiser is clamped to FLT_EPSILON (PyTorch's
     * _LearnableFakeQuantize) and written back in training; learnable=0 with a trainable
     * scale leaves its gradient zero; enabled=0 gives it none either. */
    tt_attr at[2] = {tt_attr_int("learnable", 1), tt_attr_int("observe", 0)};
    fq_fx f;
    int64_t d[2] = {0, 2};
    fq_build(&f, 2, d, false, 2, at, true, 1);
    fq_p(&f, f.scale)[0] = -0.5f;
    float x[2] = {1e-7f, -1e-7f}, dy[2] = {1.0f, 1.0f};
    TT_ASSERT_OK(fq_run(&f, x, 1, false)); /* eval: used, not written */
    assert_true(fq_p(&f, f.scale)[0] == -0.5f);
    TT_ASSERT_OK(fq_run(&f, x, 1, true));
    assert_true(fq_p(&f, f.scale)[0] == FLT_EPSILON);
    fq_set(&f, "learnable", 0);
    fq_p(&f, f.scale)[0] = 0.1f;
    float xs[2] = {0.33f, 0.17f};
    TT_ASSERT_OK(fq_run(&f, xs, 1, true));
    TT_ASSERT_OK(tt_exec_backward_from(f.e, f.y, dy));
    assert_true(tt_tensor_f32(tt_exec_grad(f.e, f.scale))[0] == 0.0f);
    fq_set(&f, "learnable", 1);
    fq_set(&f, "enabled", 0);
    TT_ASSERT_OK(fq_run(&f, xs, 1, true));
    TT_ASSERT_OK(tt_exec_backward_from(f.e, f.y, dy));
    assert_true(tt_tensor_f32(tt_exec_grad(f.e, f.scale))[0] == 0.0f);
    fq_free(&f);
}

/* ---- errors ---- */

static tt_status try_node(int ndim, const int64_t *xd, int64_t c, int n_attrs, const tt_attr *at,
                          int n_in)
{
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int x, p[4];
    TT_ASSERT_OK(tt_graph_add_input(g, "x", TT_F32, ndim, xd, &x));
    const char *names[4] = {"s", "z", "lo", "hi"};
    for (int i = 0; i < 4; i++) TT_ASSERT_OK(tt_graph_add_param(g, names[i], 1, &c, false, &p[i]));
    int in[5] = {x, p[0], p[1], p[2], p[3]};
    tt_status s = tt_graph_add_node(g, TT_OP_FAKEQUANT, "fqbad", n_in, in, n_attrs, at, NULL);
    tt_graph_free(g);
    return s;
}

static void infer_errors(void **state)
{
    (void)state;
    int64_t xd[4] = {TT_DIM_BATCH, 3, 4, 4};
    assert_int_equal(try_node(4, xd, 1, 0, NULL, 5), TT_OK);
    tt_attr ax1 = tt_attr_int("axis", 1);
    assert_int_equal(try_node(4, xd, 3, 1, &ax1, 5), TT_OK);
    /* per-channel params of the wrong length, per-tensor params of length 3 */
    assert_int_equal(try_node(4, xd, 4, 1, &ax1, 5), TT_ERR_SHAPE);
    assert_non_null(strstr(tt_last_error(), "fqbad"));
    assert_int_equal(try_node(4, xd, 3, 0, NULL, 5), TT_ERR_SHAPE);
    /* axis on the batch dimension, or out of range */
    tt_attr ax0 = tt_attr_int("axis", 0), ax4 = tt_attr_int("axis", 4),
            axm2 = tt_attr_int("axis", -2);
    assert_int_equal(try_node(4, xd, 1, 1, &ax0, 5), TT_ERR_SHAPE);
    assert_non_null(strstr(tt_last_error(), "batch"));
    assert_int_equal(try_node(4, xd, 1, 1, &ax4, 5), TT_ERR_INVALID_ARG);
    assert_int_equal(try_node(4, xd, 1, 1, &axm2, 5), TT_ERR_INVALID_ARG);
    /* bad attributes */
    tt_attr bad[][2] = {
        {tt_attr_int("qmin", 1), tt_attr_int("qmax", 255)},
        {tt_attr_int("qmin", -128), tt_attr_int("qmax", -1)},
        {tt_attr_int("qmin", 0), tt_attr_int("qmax", 0)},
        {tt_attr_int("qmin", 0), tt_attr_int("qmax", 1 << 25)},
        {tt_attr_int("observer", 0), tt_attr_int("observe", 1)},
        {tt_attr_int("observer", 4), tt_attr_int("observe", 1)},
        {tt_attr_float("averaging_constant", 0.0f), tt_attr_int("observe", 1)},
        {tt_attr_float("averaging_constant", 1.5f), tt_attr_int("observe", 1)},
        {tt_attr_float("averaging_constant", NAN), tt_attr_int("observe", 1)},
        {tt_attr_int("symmetric", 2), tt_attr_int("observe", 1)},
        {tt_attr_int("learnable", -1), tt_attr_int("observe", 1)},
        {tt_attr_int("enabled", 3), tt_attr_int("observe", 1)},
        {tt_attr_int("observe", 7), tt_attr_int("enabled", 1)},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tt_status s = try_node(4, xd, 1, 2, bad[i], 5);
        if (s != TT_ERR_INVALID_ARG) print_error("case %zu accepted\n", i);
        assert_int_equal(s, TT_ERR_INVALID_ARG);
        assert_non_null(strstr(tt_last_error(), "FakeQuant"));
    }
    /* arity: the observer state is required */
    assert_int_equal(try_node(4, xd, 1, 0, NULL, 3), TT_ERR_INVALID_ARG);
}

static void forward_errors(void **state)
{
    (void)state;
    tt_attr at[1] = {tt_attr_int("observe", 0)};
    fq_fx f;
    int64_t d[2] = {0, 2};
    fq_build(&f, 2, d, false, 1, at, false, 1);
    float x[2] = {0.5f, -0.5f};
    /* a scale never set by an observer (0 here), NaN, or a non-integer zero point */
    fq_p(&f, f.scale)[0] = 0.0f;
    assert_int_equal(fq_run(&f, x, 1, false), TT_ERR_NUMERIC);
    assert_non_null(strstr(tt_last_error(), "'fq'"));
    assert_non_null(strstr(tt_last_error(), "scale"));
    fq_p(&f, f.scale)[0] = NAN;
    assert_int_equal(fq_run(&f, x, 1, true), TT_ERR_NUMERIC);
    fq_p(&f, f.scale)[0] = 0.1f;
    fq_p(&f, f.zp)[0] = 3.5f;
    assert_int_equal(fq_run(&f, x, 1, false), TT_ERR_NUMERIC);
    assert_non_null(strstr(tt_last_error(), "zero_point"));
    fq_p(&f, f.zp)[0] = 256.0f;
    assert_int_equal(fq_run(&f, x, 1, false), TT_ERR_NUMERIC);
    fq_p(&f, f.zp)[0] = 3.0f;
    TT_ASSERT_OK(fq_run(&f, x, 1, false));
    fq_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(forward_per_tensor_u8_fixed),
        cmocka_unit_test(forward_divides_like_ort),
        cmocka_unit_test(forward_per_tensor_u8_observed),
        cmocka_unit_test(forward_per_channel_s8_weights),
        cmocka_unit_test(forward_per_channel_activation_axis1),
        cmocka_unit_test(observer_minmax_accumulates),
        cmocka_unit_test(observer_moving_average),
        cmocka_unit_test(observer_last_is_current),
        cmocka_unit_test(observe_off_and_eval_freeze),
        cmocka_unit_test(enabled_off_passes_through),
        cmocka_unit_test(observer_skips_nan_refuses_inf),
        cmocka_unit_test(ste_mask),
        cmocka_unit_test(ste_mask_per_channel),
        cmocka_unit_test(lsq_scale_gradient_per_tensor),
        cmocka_unit_test(lsq_scale_gradient_clamped_terms),
        cmocka_unit_test(lsq_scale_gradient_per_channel),
        cmocka_unit_test(lsq_scale_floor_and_switches),
        cmocka_unit_test(infer_errors),
        cmocka_unit_test(forward_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
