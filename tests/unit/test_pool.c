/* MaxPool, AveragePool and GlobalAveragePool: forward against hand-computed values and a naive
 * reference (strides, asymmetric pads, dilation, batches below the planned maximum), backward
 * by hand (ties) and against finite differences, and shape validation that names the node. */
#include <math.h>
#include <stdlib.h>
#include "testutil.h"

typedef struct pool_case {
    const char *what;
    int64_t n, c, h, w, kh, kw, sh, sw;
    int64_t pads[4]; /* top, left, bottom, right */
    int64_t dh, dw;
} pool_case;

static const pool_case cases[] = {
    {"2x2 stride 2", 3, 2, 6, 6, 2, 2, 2, 2, {0, 0, 0, 0}, 1, 1},
    {"3x3 stride 2 pad 1", 3, 2, 7, 6, 3, 3, 2, 2, {1, 1, 1, 1}, 1, 1},
    {"asymmetric pads, stride 1", 3, 3, 5, 6, 3, 2, 1, 1, {0, 1, 2, 0}, 1, 1},
    {"dilation 2", 3, 2, 7, 7, 2, 3, 1, 2, {1, 2, 0, 1}, 2, 2},
};
#define N_CASES (sizeof cases / sizeof cases[0])

/* cip < 0: leave count_include_pad unset (ONNX default 0). */
static tt_status build_pool(tt_op_type op, const pool_case *k, int cip, tt_graph **g, int *x,
                            int *y)
{
    tt_status s = tt_graph_create(g);
    if (s != TT_OK) return s;
    int64_t xd[4] = {TT_DIM_BATCH, k->c, k->h, k->w};
    if ((s = tt_graph_add_input(*g, "x", TT_F32, 4, xd, x)) != TT_OK) return s;
    (*g)->values[*x].trainable = true;
    int64_t ks[2] = {k->kh, k->kw}, st[2] = {k->sh, k->sw}, dl[2] = {k->dh, k->dw};
    tt_attr at[5] = {tt_attr_ints("kernel_shape", 2, ks), tt_attr_ints("strides", 2, st),
                     tt_attr_ints("pads", 4, k->pads), tt_attr_ints("dilations", 2, dl),
                     tt_attr_int("count_include_pad", cip)};
    return tt_graph_add_node(*g, op, "pool", 1, x, cip >= 0 ? 5 : 4, at, y);
}

static int64_t out_dim(int64_t in, int64_t p0, int64_t p1, int64_t k, int64_t d, int64_t s)
{
    return (in + p0 + p1 - d * (k - 1) - 1) / s + 1;
}

/* Direct pooling from the ONNX definition: max (first maximum wins) or mean. */
static void ref_pool(tt_op_type op, const pool_case *k, bool include_pad, int64_t n, const float *x,
                     double *y)
{
    int64_t oh = out_dim(k->h, k->pads[0], k->pads[2], k->kh, k->dh, k->sh);
    int64_t ow = out_dim(k->w, k->pads[1], k->pads[3], k->kw, k->dw, k->sw);
    for (int64_t t = 0; t < n * k->c; t++)
        for (int64_t oy = 0; oy < oh; oy++)
            for (int64_t ox = 0; ox < ow; ox++) {
                double best = -INFINITY, sum = 0.0;
                int64_t cnt = 0;
                for (int64_t ki = 0; ki < k->kh; ki++)
                    for (int64_t kj = 0; kj < k->kw; kj++) {
                        int64_t iy = oy * k->sh - k->pads[0] + ki * k->dh;
                        int64_t ix = ox * k->sw - k->pads[1] + kj * k->dw;
                        if (iy < 0 || iy >= k->h || ix < 0 || ix >= k->w) continue;
                        double v = x[(t * k->h + iy) * k->w + ix];
                        if (v > best) best = v;
                        sum += v;
                        cnt++;
                    }
                if (include_pad) cnt = k->kh * k->kw;
                y[(t * oh + oy) * ow + ox] = op == TT_OP_MAXPOOL ? best : sum / (double)cnt;
            }
}

/* n distinct values evenly spaced in [-1, 1), in random order. The gradient checks use n <= 196
 * values, 0.01 or more apart, so finite differences with eps 1e-3 never change which cell wins
 * a max window. */
static void fill_distinct(float *x, int64_t n, tt_rng *rng)
{
    for (int64_t i = 0; i < n; i++) x[i] = -1.0f + 2.0f * (float)i / (float)n;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = tt_rng_below(rng, (uint32_t)(i + 1));
        float t = x[i];
        x[i] = x[j];
        x[j] = t;
    }
}

/* Forward at batch n and compare with ref_pool. Max is exact; means of at most 9 values in
 * [-1, 1] are within a few float ulps, so 1e-6 is ample. */
static void check_pool(tt_op_type op, const pool_case *k, int cip, tt_exec *e, int x, int y,
                       int64_t n, tt_rng *rng)
{
    int64_t xn = n * k->c * k->h * k->w;
    float *xv = malloc((size_t)xn * sizeof *xv);
    fill_distinct(xv, xn, rng);
    TT_ASSERT_OK(tt_exec_set_input(e, x, xv, n));
    TT_ASSERT_OK(tt_exec_forward(e, n, true));
    tt_tensor *yt = tt_exec_value(e, y);
    int64_t oh = out_dim(k->h, k->pads[0], k->pads[2], k->kh, k->dh, k->sh);
    int64_t ow = out_dim(k->w, k->pads[1], k->pads[3], k->kw, k->dw, k->sw);
    assert_int_equal(yt->shape.dims[0], n);
    assert_int_equal(yt->shape.dims[1], k->c);
    assert_int_equal(yt->shape.dims[2], oh);
    assert_int_equal(yt->shape.dims[3], ow);
    int64_t yn = n * k->c * oh * ow;
    double *ref = malloc((size_t)yn * sizeof *ref);
    ref_pool(op, k, cip == 1, n, xv, ref);
    for (int64_t i = 0; i < yn; i++) assert_float_equal(tt_tensor_f32(yt)[i], ref[i], 1e-6);
    free(ref);
    free(xv);
}

static void pool_cases(tt_op_type op, int cip, uint64_t seed)
{
    tt_rng rng;
    tt_rng_seed(&rng, seed, 0);
    const int64_t batches[3] = {2, 4, 1};
    for (size_t ci = 0; ci < N_CASES; ci++) {
        const pool_case *k = &cases[ci];
        tt_graph *g;
        int x, y;
        TT_ASSERT_OK(build_pool(op, k, cip, &g, &x, &y));
        tt_exec *e;
        TT_ASSERT_OK(tt_exec_create(g, 4, &e));
        /* The case's own batch, then batches below and at the planned maximum of 4. */
        check_pool(op, k, cip, e, x, y, k->n, &rng);
        for (int r = 0; r < 3; r++) check_pool(op, k, cip, e, x, y, batches[r], &rng);
        /* Gradient check at batch 2 (the input was left at batch 1: set it again). Default
         * tolerances; pooling is piecewise linear and fill_distinct keeps every max window
         * away from its kinks. */
        int64_t xn = 2 * k->c * k->h * k->w;
        float *xv = malloc((size_t)xn * sizeof *xv);
        fill_distinct(xv, xn, &rng);
        TT_ASSERT_OK(tt_exec_set_input(e, x, xv, 2));
        tt_gradcheck_opts o = tt_gradcheck_defaults();
        double worst;
        int bad = tt_gradcheck(e, y, 2, &o, &worst);
        if (bad) print_error("case '%s': %d gradient mismatches\n", k->what, bad);
        assert_int_equal(bad, 0);
        free(xv);
        tt_exec_free(e);
        tt_graph_free(g);
    }
}

/* Gradient of ref_pool for dY = r: max routes to the first maximum, mean spreads r / count. */
static void ref_pool_vjp(tt_op_type op, const pool_case *k, bool include_pad, int64_t n,
                         const float *x, const float *r, double *dx)
{
    int64_t oh = out_dim(k->h, k->pads[0], k->pads[2], k->kh, k->dh, k->sh);
    int64_t ow = out_dim(k->w, k->pads[1], k->pads[3], k->kw, k->dw, k->sw);
    memset(dx, 0, (size_t)(n * k->c * k->h * k->w) * sizeof *dx);
    for (int64_t t = 0; t < n * k->c; t++)
        for (int64_t oy = 0; oy < oh; oy++)
            for (int64_t ox = 0; ox < ow; ox++) {
                double best = -INFINITY, gy = r[(t * oh + oy) * ow + ox];
                int64_t arg = -1, cnt = 0;
                for (int pass = 0; pass < 2; pass++)
                    for (int64_t ki = 0; ki < k->kh; ki++)
                        for (int64_t kj = 0; kj < k->kw; kj++) {
                            int64_t iy = oy * k->sh - k->pads[0] + ki * k->dh;
                            int64_t ix = ox * k->sw - k->pads[1] + kj * k->dw;
                            if (iy < 0 || iy >= k->h || ix < 0 || ix >= k->w) continue;
                            int64_t xi = (t * k->h + iy) * k->w + ix;
                            if (pass == 0) {
                                if (x[xi] > best) best = x[xi], arg = xi;
                                cnt++;
                            } else if (op == TT_OP_AVGPOOL) {
                                dx[xi] += gy / (double)(include_pad ? k->kh * k->kw : cnt);
                            }
                        }
                if (op == TT_OP_MAXPOOL) dx[arg] += gy;
            }
}

/* Shapes big enough for the OpenMP plane loops to run in parallel, forward and backward against
 * the reference. Gradients are sums of at most 9 terms: 1e-5 is ample. */
/* MaxPool on uint8 and int8 data, 2x2 stride 2 (the int8 runtime's fast path, which works on
 * row chunks of 128 outputs) on planes wider than a chunk and with an odd width and height
 * (the last column and row are dropped), against ref_pool on the same values. Exact. */
static void maxpool_quantised_2x2(void **state)
{
    (void)state;
    const pool_case k = {"q 2x2", 2, 3, 7, 301, 2, 2, 2, 2, {0, 0, 0, 0}, 1, 1};
    const tt_dtype types[2] = {TT_U8, TT_I8};
    tt_rng rng;
    tt_rng_seed(&rng, 26, 0);
    for (int v = 0; v < 2; v++) {
        tt_graph *g;
        TT_ASSERT_OK(tt_graph_create(&g));
        int64_t xd[4] = {TT_DIM_BATCH, k.c, k.h, k.w};
        int x, y;
        TT_ASSERT_OK(tt_graph_add_input(g, "x", types[v], 4, xd, &x));
        int64_t ks[2] = {2, 2};
        tt_attr at[2] = {tt_attr_ints("kernel_shape", 2, ks), tt_attr_ints("strides", 2, ks)};
        TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_MAXPOOL, "pool", 1, &x, 2, at, &y));
        tt_exec *e;
        TT_ASSERT_OK(tt_exec_create(g, k.n, &e));
        int64_t xn = k.n * k.c * k.h * k.w;
        uint8_t *xv = malloc((size_t)xn);
        float *xf = malloc((size_t)xn * sizeof *xf);
        for (int64_t i = 0; i < xn; i++) {
            xv[i] = (uint8_t)tt_rng_below(&rng, 256);
            xf[i] = types[v] == TT_U8 ? (float)xv[i] : (float)(int8_t)xv[i];
        }
        TT_ASSERT_OK(tt_exec_set_input(e, x, xv, k.n));
        TT_ASSERT_OK(tt_exec_forward(e, k.n, false));
        const tt_tensor *yt = tt_exec_value(e, y);
        int64_t yn = tt_tensor_numel(yt);
        assert_int_equal(yn, k.n * k.c * 3 * 150);
        double *ref = malloc((size_t)yn * sizeof *ref);
        ref_pool(TT_OP_MAXPOOL, &k, false, k.n, xf, ref);
        const uint8_t *got = yt->data;
        for (int64_t i = 0; i < yn; i++) {
            double gv = types[v] == TT_U8 ? (double)got[i] : (double)(int8_t)got[i];
            assert_float_equal(gv, ref[i], 0.0);
        }
        free(ref);
        free(xf);
        free(xv);
        tt_exec_free(e);
        tt_graph_free(g);
    }
}

static void pool_large(void **state)
{
    (void)state;
    const pool_case k = {"large", 4, 16, 24, 23, 3, 3, 2, 2, {1, 1, 1, 0}, 1, 1};
    const tt_op_type ops[3] = {TT_OP_MAXPOOL, TT_OP_AVGPOOL, TT_OP_AVGPOOL};
    const int cips[3] = {-1, 0, 1};
    tt_rng rng;
    tt_rng_seed(&rng, 25, 0);
    for (int v = 0; v < 3; v++) {
        tt_graph *g;
        int x, y;
        TT_ASSERT_OK(build_pool(ops[v], &k, cips[v], &g, &x, &y));
        tt_exec *e;
        TT_ASSERT_OK(tt_exec_create(g, k.n, &e));
        check_pool(ops[v], &k, cips[v], e, x, y, k.n, &rng);
        const float *xv = tt_tensor_f32(tt_exec_value(e, x));
        int64_t xn = tt_tensor_numel(tt_exec_value(e, x)),
                yn = tt_tensor_numel(tt_exec_value(e, y));
        float *r = malloc((size_t)yn * sizeof *r);
        double *dx = malloc((size_t)xn * sizeof *dx);
        tt_test_fill_uniform(r, yn, -1, 1, &rng);
        TT_ASSERT_OK(tt_exec_backward_from(e, y, r));
        ref_pool_vjp(ops[v], &k, cips[v] == 1, k.n, xv, r, dx);
        const float *got = tt_tensor_f32(tt_exec_grad(e, x));
        for (int64_t i = 0; i < xn; i++) assert_float_equal(got[i], dx[i], 1e-5);
        free(r);
        free(dx);
        tt_exec_free(e);
        tt_graph_free(g);
    }
}

static void maxpool_reference_and_grad(void **state)
{
    (void)state;
    pool_cases(TT_OP_MAXPOOL, -1, 21);
}

static void avgpool_reference_and_grad(void **state)
{
    (void)state;
    pool_cases(TT_OP_AVGPOOL, -1, 22); /* ONNX default: count_include_pad = 0 */
    pool_cases(TT_OP_AVGPOOL, 0, 23);
    pool_cases(TT_OP_AVGPOOL, 1, 24);
}

/* Run a one-plane pool on x, check y, then backward with `seed` and check dX. Every value here
 * is a small dyadic fraction or exact mean, so results are compared to 1e-6. */
static void hand_case(tt_op_type op, const pool_case *k, int cip, const float *x,
                      const float *want_y, const float *seed, const float *want_dx)
{
    tt_graph *g;
    int xi, yi;
    TT_ASSERT_OK(build_pool(op, k, cip, &g, &xi, &yi));
    tt_exec *e;
    TT_ASSERT_OK(tt_exec_create(g, 2, &e));
    TT_ASSERT_OK(tt_exec_set_input(e, xi, x, 1));
    TT_ASSERT_OK(tt_exec_forward(e, 1, true));
    tt_tensor *yt = tt_exec_value(e, yi);
    int64_t yn = tt_tensor_numel(yt);
    for (int64_t i = 0; i < yn; i++) assert_float_equal(tt_tensor_f32(yt)[i], want_y[i], 1e-6);
    TT_ASSERT_OK(tt_exec_backward_from(e, yi, seed));
    tt_tensor *dx = tt_exec_grad(e, xi);
    for (int64_t i = 0; i < k->h * k->w; i++)
        assert_float_equal(tt_tensor_f32(dx)[i], want_dx[i], 1e-6);
    tt_exec_free(e);
    tt_graph_free(g);
}

static void maxpool_ties(void **state)
{
    (void)state;
    /* 2x2 windows, stride 2. Ties go to the first maximum in row-major window order (as in
     * PyTorch): the 3 at (0,1), the 3 at (0,2), the 5 at (2,0), the 0 at (2,2). */
    pool_case k = {"ties", 1, 1, 4, 4, 2, 2, 2, 2, {0, 0, 0, 0}, 1, 1};
    float x[16] = {1, 3, 3, 0, 2, 3, 1, 3, 5, 5, 0, 0, 5, 5, 0, 0};
    float y[4] = {3, 3, 5, 0}, seed[4] = {1, 2, 3, 4};
    float dx[16] = {0, 1, 2, 0, 0, 0, 0, 0, 3, 0, 4, 0, 0, 0, 0, 0};
    hand_case(TT_OP_MAXPOOL, &k, -1, x, y, seed, dx);
}

static void maxpool_negative_with_padding(void **state)
{
    (void)state;
    /* 2x2 windows, stride 1, pad 1 on a negative 2x2 input: padding is -inf, not 0, so every
     * output is an input value. Gradients add up where one cell wins several windows. */
    pool_case k = {"neg", 1, 1, 2, 2, 2, 2, 1, 1, {1, 1, 1, 1}, 1, 1};
    float x[4] = {-1, -2, -3, -4};
    float y[9] = {-1, -1, -2, -1, -1, -2, -3, -3, -4};
    float seed[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    float dx[4] = {4, 2, 2, 1};
    hand_case(TT_OP_MAXPOOL, &k, -1, x, y, seed, dx);
}

static void maxpool_nan(void **state)
{
    (void)state;
    /* NaN propagates and takes the gradient (the last NaN of the window, as PyTorch's
     * `val > max || isnan(val)` scan does); a NaN-free window is unaffected. */
    pool_case k = {"nan", 1, 1, 2, 4, 2, 2, 2, 2, {0, 0, 0, 0}, 1, 1};
    float x[8] = {1, NAN, 3, 4, NAN, 0, 5, 2}, seed[2] = {1, 2};
    tt_graph *g;
    int xi, yi;
    TT_ASSERT_OK(build_pool(TT_OP_MAXPOOL, &k, -1, &g, &xi, &yi));
    tt_exec *e;
    TT_ASSERT_OK(tt_exec_create(g, 1, &e));
    TT_ASSERT_OK(tt_exec_set_input(e, xi, x, 1));
    TT_ASSERT_OK(tt_exec_forward(e, 1, true));
    const float *y = tt_tensor_f32(tt_exec_value(e, yi));
    assert_true(isnan(y[0]));
    assert_float_equal(y[1], 5.0f, 0.0);
    TT_ASSERT_OK(tt_exec_backward_from(e, yi, seed));
    const float *dx = tt_tensor_f32(tt_exec_grad(e, xi));
    float want[8] = {0, 0, 0, 0, 1, 0, 2, 0};
    for (int i = 0; i < 8; i++) assert_float_equal(dx[i], want[i], 0.0);
    tt_exec_free(e);
    tt_graph_free(g);
}

static void avgpool_hand(void **state)
{
    (void)state;
    /* 2x2 windows, stride 2, pad 1 on 1..9: the windows cover {1}, {2, 3}, {4, 7},
     * {5, 6, 8, 9}. count_include_pad 0 divides by 1, 2, 2, 4; 1 divides by 4 throughout. */
    pool_case k = {"avg", 1, 1, 3, 3, 2, 2, 2, 2, {1, 1, 1, 1}, 1, 1};
    float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, seed[4] = {1, 1, 1, 1};
    float y0[4] = {1.0f, 2.5f, 5.5f, 7.0f};
    float dx0[9] = {1, 0.5f, 0.5f, 0.5f, 0.25f, 0.25f, 0.5f, 0.25f, 0.25f};
    hand_case(TT_OP_AVGPOOL, &k, 0, x, y0, seed, dx0);
    hand_case(TT_OP_AVGPOOL, &k, -1, x, y0, seed, dx0); /* the default is 0 */
    float y1[4] = {0.25f, 1.25f, 2.75f, 7.0f};
    float dx1[9] = {0.25f, 0.25f, 0.25f, 0.25f, 0.25f, 0.25f, 0.25f, 0.25f, 0.25f};
    hand_case(TT_OP_AVGPOOL, &k, 1, x, y1, seed, dx1);
}

static void global_avgpool(void **state)
{
    (void)state;
    for (int rank = 3; rank <= 4; rank++) {
        tt_graph *g;
        TT_ASSERT_OK(tt_graph_create(&g));
        int64_t xd[4] = {TT_DIM_BATCH, 3, 4, 5};
        int x, y;
        TT_ASSERT_OK(tt_graph_add_input(g, "x", TT_F32, rank, xd, &x));
        g->values[x].trainable = true;
        TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_GLOBALAVGPOOL, "gap", 1, &x, 0, NULL, &y));
        assert_int_equal(g->values[y].shape.ndim, rank);
        assert_int_equal(g->values[y].shape.dims[0], TT_DIM_BATCH);
        assert_int_equal(g->values[y].shape.dims[1], 3);
        for (int i = 2; i < rank; i++) assert_int_equal(g->values[y].shape.dims[i], 1);
        tt_exec *e;
        TT_ASSERT_OK(tt_exec_create(g, 4, &e));
        int64_t hw = rank == 4 ? 20 : 4, xn = 2 * 3 * hw;
        float xv[120];
        tt_rng rng;
        tt_rng_seed(&rng, 31, 0);
        tt_test_fill_uniform(xv, xn, -1, 1, &rng);
        TT_ASSERT_OK(tt_exec_set_input(e, x, xv, 2));
        TT_ASSERT_OK(tt_exec_forward(e, 2, true));
        tt_tensor *yt = tt_exec_value(e, y);
        assert_int_equal(tt_tensor_numel(yt), 6);
        for (int t = 0; t < 6; t++) {
            double s = 0.0;
            for (int64_t i = 0; i < hw; i++) s += xv[t * hw + i];
            /* Mean of at most 20 values in [-1, 1]: float error is a few 1e-7. */
            assert_float_equal(tt_tensor_f32(yt)[t], s / (double)hw, 1e-6);
        }
        tt_gradcheck_opts o = tt_gradcheck_defaults();
        double worst;
        assert_int_equal(tt_gradcheck(e, y, 2, &o, &worst), 0);
        tt_exec_free(e);
        tt_graph_free(g);
    }
}

/* Add a pool node on input shape xd (rank xr); expect status `want`, the node named, `needle`. */
static void expect_pool_error(tt_op_type op, int xr, const int64_t *xd, int n_attrs,
                              const tt_attr *at, tt_status want, const char *needle)
{
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int x, y;
    TT_ASSERT_OK(tt_graph_add_input(g, "x", TT_F32, xr, xd, &x));
    tt_status s = tt_graph_add_node(g, op, "badpool", 1, &x, n_attrs, at, &y);
    if (s != want) print_error("got %s: %s\n", tt_status_str(s), tt_last_error());
    assert_int_equal(s, want);
    assert_non_null(strstr(tt_last_error(), "'badpool'"));
    assert_non_null(strstr(tt_last_error(), tt_op_name(op)));
    if (!strstr(tt_last_error(), needle)) print_error("'%s' not in: %s\n", needle, tt_last_error());
    assert_non_null(strstr(tt_last_error(), needle));
    assert_int_equal(g->n_nodes, 0);
    tt_graph_free(g);
}

static void pool_shape_errors(void **state)
{
    (void)state;
    int64_t x4[4] = {TT_DIM_BATCH, 2, 5, 5}, x3[3] = {TT_DIM_BATCH, 2, 5},
            x2[2] = {TT_DIM_BATCH, 2};
    int64_t k2[2] = {2, 2}, k7[2] = {7, 7}, k3[3] = {2, 2, 2}, s0[2] = {0, 1};
    int64_t p3[4] = {3, 0, 0, 0}, p_short[2] = {1, 1};
    const tt_op_type ops[2] = {TT_OP_MAXPOOL, TT_OP_AVGPOOL};
    for (int i = 0; i < 2; i++) {
        tt_op_type op = ops[i];
        tt_attr k = tt_attr_ints("kernel_shape", 2, k2);
        expect_pool_error(op, 4, x4, 0, NULL, TT_ERR_INVALID_ARG, "kernel_shape");
        expect_pool_error(op, 3, x3, 1, &k, TT_ERR_SHAPE, "rank");
        tt_attr big = tt_attr_ints("kernel_shape", 2, k7);
        expect_pool_error(op, 4, x4, 1, &big, TT_ERR_SHAPE, "larger than");
        tt_attr k3d = tt_attr_ints("kernel_shape", 3, k3);
        expect_pool_error(op, 4, x4, 1, &k3d, TT_ERR_INVALID_ARG, "kernel_shape");
        tt_attr z[2] = {k, tt_attr_ints("strides", 2, s0)};
        expect_pool_error(op, 4, x4, 2, z, TT_ERR_INVALID_ARG, "strides");
        tt_attr ps[2] = {k, tt_attr_ints("pads", 2, p_short)};
        expect_pool_error(op, 4, x4, 2, ps, TT_ERR_INVALID_ARG, "pads");
        tt_attr pbig[2] = {k, tt_attr_ints("pads", 4, p3)};
        expect_pool_error(op, 4, x4, 2, pbig, TT_ERR_SHAPE, "pads");
        tt_attr ceil[2] = {k, tt_attr_int("ceil_mode", 1)};
        expect_pool_error(op, 4, x4, 2, ceil, TT_ERR_UNSUPPORTED, "ceil_mode");
    }
    tt_attr k = tt_attr_ints("kernel_shape", 2, k2);
    tt_attr cip[2] = {k, tt_attr_int("count_include_pad", 2)};
    expect_pool_error(TT_OP_AVGPOOL, 4, x4, 2, cip, TT_ERR_INVALID_ARG, "count_include_pad");
    expect_pool_error(TT_OP_GLOBALAVGPOOL, 2, x2, 0, NULL, TT_ERR_SHAPE, "rank");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(maxpool_ties),   cmocka_unit_test(maxpool_negative_with_padding),
        cmocka_unit_test(maxpool_nan),    cmocka_unit_test(maxpool_reference_and_grad),
        cmocka_unit_test(avgpool_hand),   cmocka_unit_test(avgpool_reference_and_grad),
        cmocka_unit_test(pool_large),     cmocka_unit_test(maxpool_quantised_2x2),
        cmocka_unit_test(global_avgpool), cmocka_unit_test(pool_shape_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
