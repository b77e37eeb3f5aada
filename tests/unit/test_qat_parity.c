/* PyTorch parity of FakeQuant and its observers (fixtures in tests/fixtures/qat, written by
 * tests/fixtures/gen_qat_ref.py with torch 2.15.0 and onnxruntime 1.32.0).
 *
 * Forward and backward. Each fixture holds an input, the scale and zero point PyTorch used, its
 * output and its input gradient for a random upstream gradient. tinytrain gets the same scale
 * and zero point with its observer off (observe = 0), so the results can be compared bit for
 * bit, except where the two libraries legitimately differ: PyTorch quantises x * (1.0f / s),
 * tinytrain (like ONNX Runtime's QuantizeLinear and DESIGN.md section 5) x / s. The two products
 * can differ in their last bit, which changes the rounded level when x / s lies on or next to a
 * .5 tie. The generator computes both conventions in float32 numpy (asserting that the
 * multiplying one reproduces every PyTorch output and gradient bit for bit) and lists the
 * elements whose output (F.mvd_fwd) or backward mask (F.mvd_mask) differ. The test requires:
 *   - every element not listed in F.mvd_fwd bitwise equal to PyTorch, and every listed one
 *     different by exactly one quantisation level (and equal to tinytrain's scalar reference
 *     tt_fake_quantize_val, so the difference is the division and nothing else);
 *   - the input gradient equal (as values: PyTorch's masked-out dy * 0 is -0 where dy < 0,
 *     tinytrain's +0) except at F.mvd_mask, where exactly one of the two gradients is dy and
 *     the other 0;
 * and prints the counts, as a table at the end.
 *
 * Observers. PyTorch's MovingAverageMinMaxObserver computes m + 0.01f * (batch - m) in float32
 * tensors, one rounding per operation (the generator asserts a numpy float32 model of that
 * reproduces it), and tinytrain's observer does the same operations in float32, in separate
 * statements, with -std=c11 (no FP contraction into an FMA). Identical operations on identical
 * inputs round identically, so min/max are required to match exactly (0 ulp); a fused
 * multiply-add or double-precision EMA would show up here as 1-ulp differences. MinMax and the
 * per-channel observer are exact min/max reductions, also 0 ulp.
 * tinytrain computes (scale, zero point) from the range with ONNX Runtime's compute_scale_zp,
 * PyTorch with its own rule (float32 division, eps clamp), so tinytrain's qparams are compared
 * exactly with compute_scale_zp (run by the generator) applied to PyTorch's min/max, and where
 * PyTorch's own qparams differ the difference is printed (ulps of scale, levels of zero point).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "tinytrain/npy.h"
#include "tinytrain/quant.h"

#define N_OBS_BATCHES 20
#define MAX_ROWS      16

/* Rows of the summary table printed after the last test. */
typedef struct diff_row {
    char what[48];
    int64_t elements, fwd_diff, mask_diff;
} diff_row;

static diff_row g_rows[MAX_ROWS];
static int g_n_rows;

static void add_row(const char *what, int64_t elements, int64_t fwd, int64_t mask)
{
    if (g_n_rows >= MAX_ROWS) return;
    diff_row *r = &g_rows[g_n_rows++];
    snprintf(r->what, sizeof r->what, "%s", what);
    r->elements = elements;
    r->fwd_diff = fwd;
    r->mask_diff = mask;
}

static tt_tensor *load(const char *name)
{
    char rel[128], path[1024];
    snprintf(rel, sizeof rel, "qat/%s.npy", name);
    tt_test_fixture(rel, path, sizeof path);
    tt_tensor *t = NULL;
    TT_ASSERT_OK(tt_npy_load(path, &t));
    return t;
}

static tt_tensor *loadf(const char *fx, const char *part)
{
    char name[96];
    snprintf(name, sizeof name, "%s.%s", fx, part);
    return load(name);
}

static uint32_t bits(float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

/* Signed distance in ulps between two finite floats of the same sign (0 when equal). */
static int64_t ulps(float a, float b)
{
    int64_t ia = (int32_t)bits(a), ib = (int32_t)bits(b);
    if (ia < 0) ia = INT32_MIN - ia;
    if (ib < 0) ib = INT32_MIN - ib;
    return ia - ib;
}

/* ---- one FakeQuant node --------------------------------------------------------------- */

typedef struct fq_net {
    tt_graph *g;
    tt_exec *e;
    int x, y, scale, zp, mn, mx;
    int64_t batch; /* rows fed per forward; 1 when X is a parameter */
    int64_t channels;
} fq_net;

typedef struct fq_cfg {
    const tt_shape *xshape; /* full shape, dims[0] is the batch unless x_param */
    bool x_param;           /* X is a trainable parameter (a weight), not an input */
    int64_t axis, qmin, qmax, symmetric, observer, observe;
} fq_cfg;

static void fq_build(fq_net *f, const fq_cfg *c)
{
    memset(f, 0, sizeof *f);
    TT_ASSERT_OK(tt_graph_create(&f->g));
    int64_t dims[TT_MAX_DIMS];
    memcpy(dims, c->xshape->dims, sizeof dims);
    if (c->x_param) {
        TT_ASSERT_OK(tt_graph_add_param(f->g, "w", c->xshape->ndim, dims, true, &f->x));
        f->batch = 1;
    } else {
        f->batch = dims[0];
        dims[0] = TT_DIM_BATCH;
        TT_ASSERT_OK(tt_graph_add_input(f->g, "x", TT_F32, c->xshape->ndim, dims, &f->x));
        f->g->values[f->x].trainable = true; /* we want dX */
    }
    f->channels = c->axis < 0 ? 1 : c->xshape->dims[c->axis];
    int64_t cd[1] = {f->channels};
    TT_ASSERT_OK(tt_graph_add_param(f->g, "fq.scale", 1, cd, false, &f->scale));
    TT_ASSERT_OK(tt_graph_add_param(f->g, "fq.zero_point", 1, cd, false, &f->zp));
    TT_ASSERT_OK(tt_graph_add_param(f->g, "fq.min", 1, cd, false, &f->mn));
    TT_ASSERT_OK(tt_graph_add_param(f->g, "fq.max", 1, cd, false, &f->mx));
    float *mn = tt_graph_param_data(f->g, f->mn), *mx = tt_graph_param_data(f->g, f->mx);
    float *s = tt_graph_param_data(f->g, f->scale);
    for (int64_t i = 0; i < f->channels; i++) {
        mn[i] = INFINITY; /* nothing observed yet */
        mx[i] = -INFINITY;
        s[i] = 1.0f;
    }
    tt_attr at[9] = {tt_attr_int("qmin", c->qmin),
                     tt_attr_int("qmax", c->qmax),
                     tt_attr_int("axis", c->axis),
                     tt_attr_int("symmetric", c->symmetric),
                     tt_attr_int("observer", c->observer),
                     tt_attr_float("averaging_constant", 0.01f),
                     tt_attr_int("learnable", 0),
                     tt_attr_int("observe", c->observe),
                     tt_attr_int("enabled", 1)};
    int in[5] = {f->x, f->scale, f->zp, f->mn, f->mx};
    TT_ASSERT_OK(tt_graph_add_node(f->g, TT_OP_FAKEQUANT, "fq", 5, in, 9, at, &f->y));
    TT_ASSERT_OK(tt_exec_create(f->g, f->batch, &f->e));
}

static void fq_free(fq_net *f)
{
    tt_exec_free(f->e);
    tt_graph_free(f->g);
}

/* Set X: the input batch, or the parameter's data. */
static void fq_set_x(fq_net *f, const float *x, int64_t numel)
{
    if (f->g->values[f->x].kind == TT_VALUE_PARAM)
        memcpy(tt_graph_param_data(f->g, f->x), x, (size_t)numel * sizeof(float));
    else
        TT_ASSERT_OK(tt_exec_set_input(f->e, f->x, x, f->batch));
}

/* ---- forward / backward fixtures ------------------------------------------------------ */

typedef struct fq_fixture {
    tt_tensor *x, *scale, *zp, *meta, *y, *dy, *dx, *mvd_fwd, *mvd_mask;
} fq_fixture;

static void fixture_load(fq_fixture *fx, const char *name)
{
    fx->x = loadf(name, "x");
    fx->scale = loadf(name, "scale");
    fx->zp = loadf(name, "zp");
    fx->meta = loadf(name, "meta");
    fx->y = loadf(name, "y");
    fx->dy = loadf(name, "dy");
    fx->dx = loadf(name, "dx");
    fx->mvd_fwd = loadf(name, "mvd_fwd");
    fx->mvd_mask = loadf(name, "mvd_mask");
    assert_int_equal(fx->x->dtype, TT_F32);
    assert_int_equal(fx->zp->dtype, TT_I32);
    assert_int_equal(fx->meta->dtype, TT_I32);
    assert_int_equal(fx->mvd_fwd->dtype, TT_I32);
    assert_int_equal(fx->mvd_mask->dtype, TT_I32);
    assert_int_equal(tt_tensor_numel(fx->meta), 3);
    assert_true(tt_shape_equal(&fx->x->shape, &fx->y->shape));
    assert_true(tt_shape_equal(&fx->x->shape, &fx->dy->shape));
    assert_true(tt_shape_equal(&fx->x->shape, &fx->dx->shape));
    assert_int_equal(tt_tensor_numel(fx->scale), tt_tensor_numel(fx->zp));
}

static void fixture_free(fq_fixture *fx)
{
    tt_tensor *all[] = {fx->x,  fx->scale, fx->zp,      fx->meta,    fx->y,
                        fx->dy, fx->dx,    fx->mvd_fwd, fx->mvd_mask};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tt_tensor_free(all[i]);
}

/* listed[i] = 1 for every index in idx (which must be in range and unique). */
static unsigned char *index_set(const tt_tensor *idx, int64_t n)
{
    unsigned char *set = calloc((size_t)n, 1);
    assert_non_null(set);
    const int32_t *p = idx->data;
    for (int64_t k = 0; k < tt_tensor_numel(idx); k++) {
        assert_in_range(p[k], 0, n - 1);
        assert_int_equal(set[p[k]], 0);
        set[p[k]] = 1;
    }
    return set;
}

static void run_fixture(const char *name, bool x_param)
{
    fq_fixture fx;
    fixture_load(&fx, name);
    const int32_t *meta = fx.meta->data;
    int64_t qmin = meta[0], qmax = meta[1], axis = meta[2];
    fq_cfg cfg = {.xshape = &fx.x->shape,
                  .x_param = x_param,
                  .axis = axis,
                  .qmin = qmin,
                  .qmax = qmax,
                  .symmetric = axis >= 0,
                  .observer = TT_OBSERVER_MOVING_AVG,
                  .observe = 0};
    fq_net f;
    fq_build(&f, &cfg);
    int64_t n = tt_tensor_numel(fx.x), ch = f.channels;
    assert_int_equal(tt_tensor_numel(fx.scale), ch);
    float *sp = tt_graph_param_data(f.g, f.scale), *zpp = tt_graph_param_data(f.g, f.zp);
    const float *fs = tt_tensor_f32(fx.scale);
    const int32_t *fz = fx.zp->data;
    for (int64_t c = 0; c < ch; c++) {
        sp[c] = fs[c];
        zpp[c] = (float)fz[c];
    }
    /* element i lies in channel (i / inner) % ch */
    int64_t inner = 1;
    for (int d = (int)axis + 1; axis >= 0 && d < fx.x->shape.ndim; d++)
        inner *= fx.x->shape.dims[d];

    const float *x = tt_tensor_f32(fx.x), *ry = tt_tensor_f32(fx.y);
    const float *dy = tt_tensor_f32(fx.dy), *rdx = tt_tensor_f32(fx.dx);
    unsigned char *lf = index_set(fx.mvd_fwd, n), *lm = index_set(fx.mvd_mask, n);
    fq_set_x(&f, x, n);

    /* Eval first, then training: with the observer off both must give the same output and
     * leave scale, zero point and the (empty) range alone. */
    float *yeval = malloc((size_t)n * sizeof(float));
    assert_non_null(yeval);
    TT_ASSERT_OK(tt_exec_forward(f.e, f.batch, false));
    memcpy(yeval, tt_tensor_f32(tt_exec_value(f.e, f.y)), (size_t)n * sizeof(float));
    TT_ASSERT_OK(tt_exec_forward(f.e, f.batch, true));
    const float *y = tt_tensor_f32(tt_exec_value(f.e, f.y));
    assert_memory_equal(y, yeval, (size_t)n * sizeof(float));
    for (int64_t c = 0; c < ch; c++) {
        assert_true(bits(sp[c]) == bits(fs[c]));
        assert_true(zpp[c] == (float)fz[c]);
        assert_true(isinf(tt_graph_param_data(f.g, f.mn)[c]));
    }

    int64_t fwd_diff = 0, bad = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t c = axis < 0 ? 0 : (i / inner) % ch;
        float s = fs[c];
        int32_t z = fz[c];
        /* tinytrain's own scalar reference, the ONNX QuantizeLinear -> DequantizeLinear pair */
        float mine = tt_fake_quantize_val(x[i], s, z, (int32_t)qmin, (int32_t)qmax);
        bool same = bits(y[i]) == bits(ry[i]);
        double steps = fabs(rint((double)y[i] / s) - rint((double)ry[i] / s));
        bool ok = bits(y[i]) == bits(mine) && (lf[i] ? (!same && steps == 1.0) : same);
        if (!same) fwd_diff++;
        if (!ok && bad++ < 8)
            print_error("%s forward [%lld]: x %.9g (x/s %.9g), tinytrain %.9g, PyTorch %.9g, "
                        "scalar reference %.9g, %s\n",
                        name, (long long)i, x[i], (double)(x[i] / s), y[i], ry[i], mine,
                        lf[i] ? "listed as a multiply-vs-divide difference (must differ by "
                                "one level)"
                              : "not listed (must be equal)");
    }
    assert_int_equal(bad, 0);
    assert_int_equal(fwd_diff, tt_tensor_numel(fx.mvd_fwd));

    TT_ASSERT_OK(tt_exec_backward_from(f.e, f.y, dy));
    tt_tensor *gx = tt_exec_grad(f.e, f.x);
    assert_non_null(gx);
    const float *dx = tt_tensor_f32(gx);
    int64_t mask_diff = 0;
    for (int64_t i = 0; i < n; i++) {
        /* Compared as values: where the mask is closed PyTorch's dy * 0 is -0 for a negative
         * dy, while tinytrain accumulates +0 into the zeroed gradient. */
        bool same = dx[i] == rdx[i];
        /* one mask is open (dx = dy), the other closed (dx = 0) */
        bool flip = (dx[i] == dy[i] && rdx[i] == 0.0f) || (dx[i] == 0.0f && rdx[i] == dy[i]);
        bool ok = lm[i] ? (!same && flip && dy[i] != 0.0f) : same;
        if (!same) mask_diff++;
        if (!ok && bad++ < 8)
            print_error("%s backward [%lld]: x %.9g, dy %.9g, tinytrain dx %.9g, PyTorch %.9g, "
                        "%s\n",
                        name, (long long)i, x[i], dy[i], dx[i], rdx[i],
                        lm[i] ? "listed (masks must differ)" : "not listed (must be equal)");
    }
    assert_int_equal(bad, 0);
    assert_int_equal(mask_diff, tt_tensor_numel(fx.mvd_mask));

    printf("qat-parity %-9s %4lld elements, %s, %lld channel(s): bitwise equal to PyTorch "
           "except %lld outputs and %lld gradients (x/s vs x*(1/s), as listed)\n",
           name, (long long)n, axis < 0 ? "per tensor" : "per channel", (long long)ch,
           (long long)fwd_diff, (long long)mask_diff);
    add_row(name, n, fwd_diff, mask_diff);
    free(yeval);
    free(lf);
    free(lm);
    fq_free(&f);
    fixture_free(&fx);
}

static void test_fq_per_tensor(void **state)
{
    (void)state;
    run_fixture("pt_fn", false);
}

static void test_fq_per_tensor_pow2(void **state)
{
    (void)state;
    run_fixture("pt_pow2", false);
}

static void test_fq_module(void **state)
{
    (void)state;
    run_fixture("pt_module", false);
}

static void test_fq_per_channel_weight(void **state)
{
    (void)state;
    run_fixture("pc_w", true);
}

static void test_fq_per_channel_activation(void **state)
{
    (void)state;
    run_fixture("pc_act", false);
}

/* ---- observers ------------------------------------------------------------------------ */

typedef struct qp_ref {
    tt_tensor *mn, *mx, *scale, *zp, *ort_scale, *ort_zp;
} qp_ref;

static void qp_load(qp_ref *r, const char *prefix)
{
    r->mn = loadf(prefix, "min");
    r->mx = loadf(prefix, "max");
    r->scale = loadf(prefix, "scale");
    r->zp = loadf(prefix, "zp");
    r->ort_scale = loadf(prefix, "ort_scale");
    r->ort_zp = loadf(prefix, "ort_zp");
}

static void qp_free(qp_ref *r)
{
    tt_tensor_free(r->mn);
    tt_tensor_free(r->mx);
    tt_tensor_free(r->scale);
    tt_tensor_free(r->zp);
    tt_tensor_free(r->ort_scale);
    tt_tensor_free(r->ort_zp);
}

/* Compare one channel's state after step k against the reference entry j. Returns the number
 * of PyTorch-vs-tinytrain qparam differences (0 or 1), printing it. */
static int qp_check(const char *what, int k, int64_t c, const fq_net *f, const qp_ref *r, int64_t j,
                    int32_t qmin, int32_t qmax, bool symmetric)
{
    float mn = tt_graph_param_data(f->g, f->mn)[c], mx = tt_graph_param_data(f->g, f->mx)[c];
    float s = tt_graph_param_data(f->g, f->scale)[c];
    float zf = tt_graph_param_data(f->g, f->zp)[c];
    float tmn = tt_tensor_f32(r->mn)[j], tmx = tt_tensor_f32(r->mx)[j];
    float ts = tt_tensor_f32(r->scale)[j], os = tt_tensor_f32(r->ort_scale)[j];
    int32_t tz = ((const int32_t *)r->zp->data)[j], oz = ((const int32_t *)r->ort_zp->data)[j];
    if (bits(mn) != bits(tmn) || bits(mx) != bits(tmx))
        print_error("%s step %d channel %lld: range (%.9g, %.9g), PyTorch (%.9g, %.9g): "
                    "%lld / %lld ulp\n",
                    what, k, (long long)c, mn, mx, tmn, tmx, (long long)ulps(mn, tmn),
                    (long long)ulps(mx, tmx));
    assert_true(bits(mn) == bits(tmn)); /* 0 ulp: see the header comment */
    assert_true(bits(mx) == bits(tmx));
    /* The numerics alone: ORT's rule on PyTorch's range. */
    float cs;
    int32_t cz;
    TT_ASSERT_OK(tt_quant_compute_scale_zp(tmn, tmx, qmin, qmax, symmetric, &cs, &cz));
    assert_true(bits(cs) == bits(os));
    assert_int_equal(cz, oz);
    /* What the node stored. */
    if (bits(s) != bits(os) || zf != (float)oz)
        print_error("%s step %d channel %lld: node qparams (%.9g, %g), ORT rule (%.9g, %d)\n", what,
                    k, (long long)c, s, (double)zf, os, oz);
    assert_true(bits(s) == bits(os));
    assert_true(zf == (float)oz);
    if (bits(ts) == bits(os) && tz == oz) return 0;
    int64_t u = ulps(ts, os);
    char delta[64];
    if (llabs(u) < 1000)
        snprintf(delta, sizeof delta, "%+lld ulp", (long long)u);
    else
        snprintf(delta, sizeof delta, "x%.3g", (double)ts / (double)os);
    printf("qat-parity %-9s step %d channel %lld: range (%.9g, %.9g): tinytrain/ORT scale "
           "%.9g zp %d, PyTorch scale %.9g zp %d (scale %s, zp %+d)\n",
           what, k, (long long)c, tmn, tmx, os, oz, ts, tz, delta, tz - oz);
    return 1;
}

static void run_observer_seq(const char *prefix, int64_t observer)
{
    tt_tensor *xs = load("obs.x");
    assert_int_equal(xs->shape.ndim, 3);
    assert_int_equal(xs->shape.dims[0], N_OBS_BATCHES);
    qp_ref r;
    qp_load(&r, prefix);
    tt_shape bs;
    TT_ASSERT_OK(tt_shape_make(&bs, 2, &xs->shape.dims[1]));
    fq_cfg cfg = {.xshape = &bs,
                  .axis = -1,
                  .qmin = 0,
                  .qmax = 255,
                  .symmetric = 0,
                  .observer = observer,
                  .observe = 1};
    fq_net f;
    fq_build(&f, &cfg);
    int64_t per = tt_shape_numel(&bs);
    int differ = 0;
    for (int k = 0; k < N_OBS_BATCHES; k++) {
        const float *x = tt_tensor_f32(xs) + k * per;
        fq_set_x(&f, x, per);
        TT_ASSERT_OK(tt_exec_forward(f.e, f.batch, true));
        differ += qp_check(prefix, k, 0, &f, &r, k, 0, 255, false);
        /* PyTorch's FakeQuantize order: the batch is quantised with qparams that include it. */
        const float *y = tt_tensor_f32(tt_exec_value(f.e, f.y));
        float s = tt_tensor_f32(r.ort_scale)[k];
        int32_t z = ((const int32_t *)r.ort_zp->data)[k];
        for (int64_t i = 0; i < per; i++)
            assert_true(bits(y[i]) == bits(tt_fake_quantize_val(x[i], s, z, 0, 255)));
    }
    /* An eval forward never moves the observer (PyTorch's would: a documented difference). */
    float mn = tt_graph_param_data(f.g, f.mn)[0];
    fq_set_x(&f, tt_tensor_f32(xs), per);
    TT_ASSERT_OK(tt_exec_forward(f.e, f.batch, false));
    assert_true(bits(mn) == bits(tt_graph_param_data(f.g, f.mn)[0]));
    printf("qat-parity %-9s %d batches: min/max bitwise equal to PyTorch; qparams equal to "
           "ORT's rule; PyTorch's own qparams differ at %d steps\n",
           prefix, N_OBS_BATCHES, differ);
    char what[48];
    snprintf(what, sizeof what, "%s qparams (steps)", prefix);
    add_row(what, N_OBS_BATCHES, differ, -1);
    fq_free(&f);
    qp_free(&r);
    tt_tensor_free(xs);
}

static void test_observer_moving_average(void **state)
{
    (void)state;
    run_observer_seq("ema", TT_OBSERVER_MOVING_AVG);
}

static void test_observer_minmax(void **state)
{
    (void)state;
    run_observer_seq("mm", TT_OBSERVER_MINMAX);
}

/* PerChannelMinMaxObserver on a weight, then on a later step of it: a running min/max per
 * output channel, symmetric int8 [-127, 127]. */
static void test_observer_per_channel(void **state)
{
    (void)state;
    tt_tensor *w = load("pco.w"), *w2 = load("pco.w2");
    qp_ref r;
    qp_load(&r, "pco");
    int64_t ch = w->shape.dims[0];
    assert_int_equal(r.mn->shape.ndim, 2);
    assert_int_equal(r.mn->shape.dims[1], ch);
    fq_cfg cfg = {.xshape = &w->shape,
                  .x_param = true,
                  .axis = 0,
                  .qmin = -127,
                  .qmax = 127,
                  .symmetric = 1,
                  .observer = TT_OBSERVER_MINMAX,
                  .observe = 1};
    fq_net f;
    fq_build(&f, &cfg);
    int differ = 0;
    for (int k = 0; k < 2; k++) {
        const tt_tensor *wk = k == 0 ? w : w2;
        fq_set_x(&f, tt_tensor_f32(wk), tt_tensor_numel(wk));
        TT_ASSERT_OK(tt_exec_forward(f.e, f.batch, true));
        for (int64_t c = 0; c < ch; c++)
            differ += qp_check("pco", k, c, &f, &r, k * ch + c, -127, 127, true);
    }
    printf("qat-parity pco       2 steps x %lld channels: min/max bitwise equal to PyTorch; "
           "qparams equal to ORT's rule; PyTorch's own differ in %d\n",
           (long long)ch, differ);
    add_row("pco qparams (channel-steps)", 2 * ch, differ, -1);
    fq_free(&f);
    qp_free(&r);
    tt_tensor_free(w);
    tt_tensor_free(w2);
}

static int print_table(void **state)
{
    (void)state;
    printf("\nqat-parity: where tinytrain differs from PyTorch\n");
    printf("  %-28s %9s %16s %14s\n", "fixture", "elements", "outputs differ", "masks differ");
    for (int i = 0; i < g_n_rows; i++) {
        const diff_row *r = &g_rows[i];
        if (r->mask_diff < 0)
            printf("  %-28s %9lld %16lld %14s   (PyTorch qparam rule vs ORT's)\n", r->what,
                   (long long)r->elements, (long long)r->fwd_diff, "-");
        else
            printf("  %-28s %9lld %16lld %14lld   (x/s vs x*(1/s))\n", r->what,
                   (long long)r->elements, (long long)r->fwd_diff, (long long)r->mask_diff);
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fq_per_tensor),
        cmocka_unit_test(test_fq_per_tensor_pow2),
        cmocka_unit_test(test_fq_module),
        cmocka_unit_test(test_fq_per_channel_weight),
        cmocka_unit_test(test_fq_per_channel_activation),
        cmocka_unit_test(test_observer_moving_average),
        cmocka_unit_test(test_observer_minmax),
        cmocka_unit_test(test_observer_per_channel),
    };
    return cmocka_run_group_tests(tests, NULL, print_table);
}
