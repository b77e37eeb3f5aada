/* Conv: the im2col/col2im kernels against naive loops; forward against hand-computed values and
 * a naive direct convolution (stride, asymmetric pads, dilation, groups, depthwise, batches below
 * the planned maximum); backward against finite differences on X, W and B; larger shapes (the
 * OpenMP loops, batch chunks) forward and backward against a double reference; shape validation
 * that names the node. */
#include <math.h>
#include <stdlib.h>
#include "testutil.h"
#include "kernels/backend.h"

typedef struct conv_case {
    const char *what;
    int64_t n, c, h, w, m, kh, kw, sh, sw;
    int64_t pads[4]; /* top, left, bottom, right */
    int64_t dh, dw, group;
    bool bias;
} conv_case;

static const conv_case cases[] = {
    {"3x3 pad 1", 3, 3, 7, 6, 4, 3, 3, 1, 1, {1, 1, 1, 1}, 1, 1, 1, true},
    {"stride 2, asymmetric pads", 3, 2, 8, 7, 3, 3, 2, 2, 2, {0, 1, 2, 0}, 1, 1, 1, true},
    {"dilation 2", 3, 2, 9, 8, 2, 3, 3, 1, 1, {2, 2, 2, 1}, 2, 2, 1, true},
    {"groups 2, stride (1,2)", 3, 4, 6, 6, 6, 3, 3, 1, 2, {1, 0, 1, 0}, 1, 1, 2, true},
    {"depthwise stride 2", 3, 4, 7, 7, 4, 3, 3, 2, 2, {1, 1, 1, 1}, 1, 1, 4, true},
    {"depthwise x2 dilated", 3, 3, 6, 5, 6, 3, 3, 1, 1, {1, 2, 0, 1}, 2, 1, 3, false},
    {"1x1 no bias", 3, 5, 4, 4, 3, 1, 1, 1, 1, {0, 0, 0, 0}, 1, 1, 1, false},
    {"single channel, big stride", 3, 1, 9, 10, 3, 4, 3, 3, 2, {1, 0, 0, 2}, 1, 1, 1, true},
};
#define N_CASES (sizeof cases / sizeof cases[0])

typedef struct conv_net {
    tt_graph *g;
    int x, w, b, y;
} conv_net;

static tt_status build_conv(const conv_case *k, conv_net *net, bool trainable_x)
{
    tt_graph *g;
    tt_status s = tt_graph_create(&g);
    if (s != TT_OK) return s;
    int64_t xd[4] = {TT_DIM_BATCH, k->c, k->h, k->w};
    int64_t wd[4] = {k->m, k->c / k->group, k->kh, k->kw};
    int64_t bd[1] = {k->m};
    net->g = g;
    net->b = -1;
    if ((s = tt_graph_add_input(g, "x", TT_F32, 4, xd, &net->x)) != TT_OK) return s;
    g->values[net->x].trainable = trainable_x;
    if ((s = tt_graph_add_param(g, "w", 4, wd, true, &net->w)) != TT_OK) return s;
    if (k->bias && (s = tt_graph_add_param(g, "b", 1, bd, true, &net->b)) != TT_OK) return s;
    int64_t st[2] = {k->sh, k->sw}, dl[2] = {k->dh, k->dw}, ks[2] = {k->kh, k->kw};
    tt_attr at[5] = {tt_attr_ints("kernel_shape", 2, ks), tt_attr_ints("strides", 2, st),
                     tt_attr_ints("pads", 4, k->pads), tt_attr_ints("dilations", 2, dl),
                     tt_attr_int("group", k->group)};
    int in[3] = {net->x, net->w, net->b};
    return tt_graph_add_node(g, TT_OP_CONV, "conv", k->bias ? 3 : 2, in, 5, at, &net->y);
}

static int64_t out_dim(int64_t in, int64_t p0, int64_t p1, int64_t k, int64_t d, int64_t s)
{
    return (in + p0 + p1 - d * (k - 1) - 1) / s + 1;
}

/* Direct convolution in double, straight from the ONNX definition. */
static void ref_conv(const conv_case *k, int64_t n, const float *x, const float *w, const float *b,
                     double *y)
{
    int64_t oh = out_dim(k->h, k->pads[0], k->pads[2], k->kh, k->dh, k->sh);
    int64_t ow = out_dim(k->w, k->pads[1], k->pads[3], k->kw, k->dw, k->sw);
    int64_t cg = k->c / k->group, mg = k->m / k->group;
    for (int64_t i = 0; i < n; i++)
        for (int64_t oc = 0; oc < k->m; oc++)
            for (int64_t oy = 0; oy < oh; oy++)
                for (int64_t ox = 0; ox < ow; ox++) {
                    double s = b ? b[oc] : 0.0;
                    int64_t g = oc / mg;
                    for (int64_t ci = 0; ci < cg; ci++)
                        for (int64_t ki = 0; ki < k->kh; ki++)
                            for (int64_t kj = 0; kj < k->kw; kj++) {
                                int64_t iy = oy * k->sh - k->pads[0] + ki * k->dh;
                                int64_t ix = ox * k->sw - k->pads[1] + kj * k->dw;
                                if (iy < 0 || iy >= k->h || ix < 0 || ix >= k->w) continue;
                                int64_t c = g * cg + ci;
                                s += (double)x[((i * k->c + c) * k->h + iy) * k->w + ix] *
                                     (double)w[((oc * cg + ci) * k->kh + ki) * k->kw + kj];
                            }
                    y[((i * k->m + oc) * oh + oy) * ow + ox] = s;
                }
}

static void conv_forward_hand(void **state)
{
    (void)state;
    /* X = 1..9 (3x3), W = [[1, 2], [3, 4]], b = 0.5, stride 2, pad 1: the four windows of the
     * zero-padded 5x5 input cover {1}, {2, 3}, {4, 7}, {5, 6, 8, 9}:
     * [4*1, 3*2 + 4*3, 2*4 + 4*7, 1*5 + 2*6 + 3*8 + 4*9] + 0.5. */
    conv_case k = {"hand", 1, 1, 3, 3, 1, 2, 2, 2, 2, {1, 1, 1, 1}, 1, 1, 1, true};
    conv_net net;
    TT_ASSERT_OK(build_conv(&k, &net, false));
    float wv[4] = {1, 2, 3, 4}, bv = 0.5f, xv[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    memcpy(tt_graph_param_data(net.g, net.w), wv, sizeof wv);
    tt_graph_param_data(net.g, net.b)[0] = bv;
    tt_exec *e;
    TT_ASSERT_OK(tt_exec_create(net.g, 1, &e));
    TT_ASSERT_OK(tt_exec_set_input(e, net.x, xv, 1));
    TT_ASSERT_OK(tt_exec_forward(e, 1, false));
    tt_tensor *y = tt_exec_value(e, net.y);
    assert_int_equal(y->shape.ndim, 4);
    assert_int_equal(y->shape.dims[2], 2);
    assert_int_equal(y->shape.dims[3], 2);
    float want[4] = {4.5f, 18.5f, 36.5f, 77.5f};
    /* Small integers: the float result is exact. */
    for (int i = 0; i < 4; i++) assert_float_equal(tt_tensor_f32(y)[i], want[i], 0.0);
    tt_exec_free(e);
    tt_graph_free(net.g);
}

/* |got - want| <= tol * max(1, |want|) for every element; returns the worst scaled error. */
static double worst_scaled(const float *got, const double *want, int64_t n)
{
    double worst = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]) / fmax(1.0, fabs(want[i]));
        if (d > worst) worst = d;
    }
    return worst;
}

/* Run case k at batch n on executor e and compare with the reference. Tolerance 1e-5, relative
 * for outputs above 1: outputs are sums of at most 144 products of values in [-1, 1], so float
 * rounding stays near 1e-6 of their magnitude. */
static void check_against_ref(const conv_case *k, conv_net *net, tt_exec *e, int64_t n, tt_rng *rng)
{
    int64_t xn = n * k->c * k->h * k->w;
    float *x = malloc((size_t)xn * sizeof *x);
    tt_test_fill_uniform(x, xn, -1, 1, rng);
    TT_ASSERT_OK(tt_exec_set_input(e, net->x, x, n));
    TT_ASSERT_OK(tt_exec_forward(e, n, true));
    tt_tensor *y = tt_exec_value(e, net->y);
    int64_t oh = out_dim(k->h, k->pads[0], k->pads[2], k->kh, k->dh, k->sh);
    int64_t ow = out_dim(k->w, k->pads[1], k->pads[3], k->kw, k->dw, k->sw);
    assert_int_equal(y->shape.dims[0], n);
    assert_int_equal(y->shape.dims[1], k->m);
    assert_int_equal(y->shape.dims[2], oh);
    assert_int_equal(y->shape.dims[3], ow);
    int64_t yn = n * k->m * oh * ow;
    double *ref = malloc((size_t)yn * sizeof *ref);
    ref_conv(k, n, x, tt_graph_param_data(net->g, net->w),
             k->bias ? tt_graph_param_data(net->g, net->b) : NULL, ref);
    double worst = worst_scaled(tt_tensor_f32(y), ref, yn);
    if (worst > 1e-5)
        print_error("case '%s' batch %lld: worst error %g\n", k->what, (long long)n, worst);
    assert_true(worst <= 1e-5);
    free(ref);
    free(x);
}

static void init_params(const conv_case *k, conv_net *net, tt_rng *rng)
{
    int64_t wn = k->m * (k->c / k->group) * k->kh * k->kw;
    tt_test_fill_uniform(tt_graph_param_data(net->g, net->w), wn, -1, 1, rng);
    if (k->bias) tt_test_fill_uniform(tt_graph_param_data(net->g, net->b), k->m, -1, 1, rng);
}

static void conv_forward_reference(void **state)
{
    (void)state;
    tt_rng rng;
    tt_rng_seed(&rng, 11, 0);
    for (size_t ci = 0; ci < N_CASES; ci++) {
        const conv_case *k = &cases[ci];
        conv_net net;
        TT_ASSERT_OK(build_conv(k, &net, false));
        init_params(k, &net, &rng);
        tt_exec *e;
        TT_ASSERT_OK(tt_exec_create(net.g, 4, &e));
        check_against_ref(k, &net, e, k->n, &rng);
        tt_exec_free(e);
        tt_graph_free(net.g);
    }
}

/* Planned for batch 4, run at 2, 4, then 1 (the single-image path writes the GEMM straight into
 * Y) and 2 again: the scratch and outputs must follow the batch. */
static void conv_batch_below_max(void **state)
{
    (void)state;
    tt_rng rng;
    tt_rng_seed(&rng, 12, 0);
    const int64_t batches[4] = {2, 4, 1, 2};
    for (size_t ci = 0; ci < N_CASES; ci++) {
        const conv_case *k = &cases[ci];
        conv_net net;
        TT_ASSERT_OK(build_conv(k, &net, false));
        init_params(k, &net, &rng);
        tt_exec *e;
        TT_ASSERT_OK(tt_exec_create(net.g, 4, &e));
        for (int r = 0; r < 4; r++) check_against_ref(k, &net, e, batches[r], &rng);
        tt_exec_free(e);
        tt_graph_free(net.g);
    }
}

static void conv_gradcheck(void **state)
{
    (void)state;
    tt_rng rng;
    tt_rng_seed(&rng, 13, 0);
    tt_gradcheck_opts o = tt_gradcheck_defaults();
    /* The output is linear in each of X, W and B, so central differences have no truncation
     * error at any step; a 1e-2 step keeps float rounding in the forward sums far below the
     * 1e-3 + 1e-2 * |g| tolerance. */
    o.eps = 1e-2f;
    for (size_t ci = 0; ci < N_CASES; ci++) {
        const conv_case *k = &cases[ci];
        conv_net net;
        TT_ASSERT_OK(build_conv(k, &net, true));
        init_params(k, &net, &rng);
        tt_exec *e;
        /* Batch 2 of max 3: enough to mix images in the batched im2col, small enough to be
         * fast (each element costs two forwards). */
        TT_ASSERT_OK(tt_exec_create(net.g, 3, &e));
        int64_t xn = 2 * k->c * k->h * k->w;
        float *x = malloc((size_t)xn * sizeof *x);
        tt_test_fill_uniform(x, xn, -1, 1, &rng);
        TT_ASSERT_OK(tt_exec_set_input(e, net.x, x, 2));
        double worst;
        int bad = tt_gradcheck(e, net.y, 2, &o, &worst);
        if (bad) print_error("case '%s': %d gradient mismatches\n", k->what, bad);
        assert_int_equal(bad, 0);
        assert_non_null(tt_exec_grad(e, net.x));
        assert_non_null(tt_exec_grad(e, net.w));
        if (k->bias) assert_non_null(tt_exec_grad(e, net.b));
        free(x);
        tt_exec_free(e);
        tt_graph_free(net.g);
    }
}

/* Only W trainable (the usual first layer): backward must skip dX and still get dW right. */
static void conv_grad_weight_only(void **state)
{
    (void)state;
    tt_rng rng;
    tt_rng_seed(&rng, 14, 0);
    tt_gradcheck_opts o = tt_gradcheck_defaults();
    o.eps = 1e-2f; /* linear in W: see conv_gradcheck */
    const conv_case *k = &cases[3];
    conv_net net;
    TT_ASSERT_OK(build_conv(k, &net, false));
    init_params(k, &net, &rng);
    tt_exec *e;
    TT_ASSERT_OK(tt_exec_create(net.g, 2, &e));
    int64_t xn = 2 * k->c * k->h * k->w;
    float *x = malloc((size_t)xn * sizeof *x);
    tt_test_fill_uniform(x, xn, -1, 1, &rng);
    TT_ASSERT_OK(tt_exec_set_input(e, net.x, x, 2));
    double worst;
    assert_int_equal(tt_gradcheck(e, net.y, 2, &o, &worst), 0);
    assert_null(tt_exec_grad(e, net.x));
    free(x);
    tt_exec_free(e);
    tt_graph_free(net.g);
}

/* Vector-Jacobian products of the direct convolution in double: dX, dW, dB for dY = r. */
static void ref_conv_vjp(const conv_case *k, int64_t n, const float *x, const float *w,
                         const float *r, double *dx, double *dw, double *db)
{
    int64_t oh = out_dim(k->h, k->pads[0], k->pads[2], k->kh, k->dh, k->sh);
    int64_t ow = out_dim(k->w, k->pads[1], k->pads[3], k->kw, k->dw, k->sw);
    int64_t cg = k->c / k->group, mg = k->m / k->group;
    memset(dx, 0, (size_t)(n * k->c * k->h * k->w) * sizeof *dx);
    memset(dw, 0, (size_t)(k->m * cg * k->kh * k->kw) * sizeof *dw);
    memset(db, 0, (size_t)k->m * sizeof *db);
    for (int64_t i = 0; i < n; i++)
        for (int64_t oc = 0; oc < k->m; oc++)
            for (int64_t oy = 0; oy < oh; oy++)
                for (int64_t ox = 0; ox < ow; ox++) {
                    double gy = r[((i * k->m + oc) * oh + oy) * ow + ox];
                    db[oc] += gy;
                    for (int64_t ci = 0; ci < cg; ci++)
                        for (int64_t ki = 0; ki < k->kh; ki++)
                            for (int64_t kj = 0; kj < k->kw; kj++) {
                                int64_t iy = oy * k->sh - k->pads[0] + ki * k->dh;
                                int64_t ix = ox * k->sw - k->pads[1] + kj * k->dw;
                                if (iy < 0 || iy >= k->h || ix < 0 || ix >= k->w) continue;
                                int64_t xo =
                                    ((i * k->c + oc / mg * cg + ci) * k->h + iy) * k->w + ix;
                                int64_t wo = ((oc * cg + ci) * k->kh + ki) * k->kw + kj;
                                dx[xo] += gy * w[wo];
                                dw[wo] += gy * x[xo];
                            }
                }
}

/* Shapes big enough that the OpenMP loops (im2col/col2im, scatter/gather, depthwise planes)
 * actually run in parallel and the batch is split into chunks, checked forward and backward
 * against the double reference. dW and dB sum up to N*OH*OW = 11520 products of values in
 * [-1, 1], so float accumulation error reaches ~1e-5 of the result; 1e-4 (relative, absolute
 * below 1) leaves margin while any indexing error is O(1). */
static void conv_large_vs_reference(void **state)
{
    (void)state;
    const conv_case big[] = {
        {"large groups 2", 4, 8, 24, 24, 32, 3, 3, 1, 1, {1, 1, 1, 1}, 1, 1, 2, true},
        {"large stride 2", 4, 16, 24, 23, 24, 3, 3, 2, 2, {0, 1, 1, 0}, 1, 1, 1, true},
        {"large depthwise", 4, 16, 24, 24, 32, 3, 3, 1, 1, {1, 1, 1, 1}, 1, 1, 16, true},
        /* col per image is 72 x 2304 floats (648 KiB): with conv.c's 2 MiB chunk budget the
         * batch runs in chunks of 3 images, the last chunks being partial or single images. */
        {"chunked", 4, 8, 48, 48, 8, 3, 3, 1, 1, {1, 1, 1, 1}, 1, 1, 1, true},
        {"chunked groups 2", 5, 16, 48, 48, 8, 3, 3, 1, 1, {1, 1, 1, 1}, 1, 1, 2, true},
    };
    tt_rng rng;
    tt_rng_seed(&rng, 15, 0);
    for (size_t ci = 0; ci < sizeof big / sizeof big[0]; ci++) {
        const conv_case *k = &big[ci];
        conv_net net;
        TT_ASSERT_OK(build_conv(k, &net, true));
        init_params(k, &net, &rng);
        tt_exec *e;
        TT_ASSERT_OK(tt_exec_create(net.g, k->n, &e));
        check_against_ref(k, &net, e, k->n, &rng);
        const float *x = tt_tensor_f32(tt_exec_value(e, net.x));
        int64_t xn = tt_tensor_numel(tt_exec_value(e, net.x));
        int64_t yn = tt_tensor_numel(tt_exec_value(e, net.y));
        int64_t wn = k->m * (k->c / k->group) * k->kh * k->kw;
        float *r = malloc((size_t)yn * sizeof *r);
        double *dx = malloc((size_t)xn * sizeof *dx), *dw = malloc((size_t)wn * sizeof *dw);
        double *db = malloc((size_t)k->m * sizeof *db);
        tt_test_fill_uniform(r, yn, -1, 1, &rng);
        TT_ASSERT_OK(tt_exec_backward_from(e, net.y, r));
        ref_conv_vjp(k, k->n, x, tt_graph_param_data(net.g, net.w), r, dx, dw, db);
        double ex = worst_scaled(tt_tensor_f32(tt_exec_grad(e, net.x)), dx, xn);
        double ew = worst_scaled(tt_tensor_f32(tt_exec_grad(e, net.w)), dw, wn);
        double eb = worst_scaled(tt_tensor_f32(tt_exec_grad(e, net.b)), db, k->m);
        if (ex > 1e-4 || ew > 1e-4 || eb > 1e-4)
            print_error("case '%s': dX %g dW %g dB %g\n", k->what, ex, ew, eb);
        assert_true(ex <= 1e-4);
        assert_true(ew <= 1e-4);
        assert_true(eb <= 1e-4);
        free(r);
        free(dx);
        free(dw);
        free(db);
        tt_exec_free(e);
        tt_graph_free(net.g);
    }
}

/* tt_im2col / tt_col2im directly against naive loops: general strides and dilations, the
 * stride-1 "same" fast path, negative padding (the conv op runs one tap at a time as a shifted
 * 1x1 geometry), and a row stride ldc wider than oh*ow whose tail must stay untouched. */
static void im2col_kernels(void **state)
{
    (void)state;
    const tt_conv_geom geoms[] = {
        /* c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow */
        {2, 5, 6, 3, 2, 1, 1, 1, 1, 1, 1, 5, 7},  {3, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 6, 6},
        {2, 7, 5, 2, 3, 2, 3, 0, 2, 2, 1, 3, 2},  {1, 4, 4, 1, 1, 1, 1, 0, 0, 1, 1, 4, 4},
        {1, 5, 5, 1, 1, 1, 1, -1, 1, 1, 1, 5, 5}, {2, 5, 5, 1, 1, 1, 1, 2, -2, 1, 1, 5, 5},
        {1, 3, 3, 2, 2, 1, 1, 3, 0, 1, 1, 6, 2},  {1, 3, 3, 2, 3, 1, 1, 3, 1, 1, 1, 6, 3},
        {1, 3, 3, 1, 1, 1, 1, 0, 5, 1, 1, 3, 3},  {2, 4, 3, 1, 1, 1, 1, -5, -1, 1, 1, 2, 3},
    };
    tt_rng rng;
    tt_rng_seed(&rng, 16, 0);
    for (size_t gi = 0; gi < sizeof geoms / sizeof geoms[0]; gi++) {
        const tt_conv_geom *g = &geoms[gi];
        int64_t rows = g->c * g->kh * g->kw, p = g->oh * g->ow, ldc = p + 3;
        int64_t xn = g->c * g->h * g->w, cn = rows * ldc;
        float *x = malloc((size_t)xn * sizeof *x), *col = malloc((size_t)cn * sizeof *col);
        float *r = malloc((size_t)cn * sizeof *r), *img = malloc((size_t)xn * sizeof *img);
        double *want = malloc((size_t)xn * sizeof *want);
        tt_test_fill_uniform(x, xn, -1, 1, &rng);
        tt_test_fill_uniform(r, cn, -1, 1, &rng);
        for (int64_t i = 0; i < cn; i++) col[i] = 1234.0f; /* sentinel */
        for (int64_t i = 0; i < xn; i++) img[i] = want[i] = 0.5;
        tt_im2col(g, x, col, ldc);
        tt_col2im(g, r, ldc, img);
        for (int64_t c = 0; c < g->c; c++)
            for (int64_t ki = 0; ki < g->kh; ki++)
                for (int64_t kj = 0; kj < g->kw; kj++) {
                    int64_t row = (c * g->kh + ki) * g->kw + kj;
                    for (int64_t oy = 0; oy < g->oh; oy++)
                        for (int64_t ox = 0; ox < g->ow; ox++) {
                            int64_t iy = oy * g->sh - g->ph + ki * g->dh;
                            int64_t ix = ox * g->sw - g->pw + kj * g->dw;
                            bool in = iy >= 0 && iy < g->h && ix >= 0 && ix < g->w;
                            int64_t xi = (c * g->h + iy) * g->w + ix;
                            /* A copy: exact. */
                            assert_float_equal(col[row * ldc + oy * g->ow + ox], in ? x[xi] : 0.0f,
                                               0.0);
                            if (in) want[xi] += r[row * ldc + oy * g->ow + ox];
                        }
                    for (int64_t o = p; o < ldc; o++)
                        assert_float_equal(col[row * ldc + o], 1234.0f, 0.0);
                }
        /* Each pixel sums at most kh*kw values in [-1, 1] onto 0.5: float error < 1e-6. */
        for (int64_t i = 0; i < xn; i++) assert_float_equal(img[i], want[i], 1e-6);
        free(x);
        free(col);
        free(r);
        free(img);
        free(want);
    }
}

/* Add a conv node with the given shapes and attributes; expect failure `want` naming 'bad'. */
static void expect_conv_error(int xr, const int64_t *xd, const int64_t *wd, int nb,
                              const int64_t *bd, int n_attrs, const tt_attr *at, tt_status want,
                              const char *needle)
{
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int x, w, b, y;
    TT_ASSERT_OK(tt_graph_add_input(g, "x", TT_F32, xr, xd, &x));
    TT_ASSERT_OK(tt_graph_add_param(g, "w", 4, wd, true, &w));
    int in[3] = {x, w, -1};
    if (nb) {
        TT_ASSERT_OK(tt_graph_add_param(g, "b", 1, bd, true, &b));
        in[2] = b;
    }
    tt_status s = tt_graph_add_node(g, TT_OP_CONV, "bad", nb ? 3 : 2, in, n_attrs, at, &y);
    if (s != want) print_error("got %s: %s\n", tt_status_str(s), tt_last_error());
    assert_int_equal(s, want);
    assert_non_null(strstr(tt_last_error(), "'bad'"));
    assert_non_null(strstr(tt_last_error(), "Conv"));
    if (needle) {
        if (!strstr(tt_last_error(), needle))
            print_error("'%s' not in: %s\n", needle, tt_last_error());
        assert_non_null(strstr(tt_last_error(), needle));
    }
    assert_int_equal(g->n_nodes, 0);
    tt_graph_free(g);
}

static void conv_shape_errors(void **state)
{
    (void)state;
    int64_t x4[4] = {TT_DIM_BATCH, 4, 8, 8}, x3[3] = {TT_DIM_BATCH, 4, 8};
    int64_t w_ok[4] = {6, 4, 3, 3}, w_c3[4] = {6, 3, 3, 3}, w_big[4] = {6, 4, 9, 9};
    int64_t w_g2[4] = {6, 2, 3, 3}, w_m5[4] = {5, 2, 3, 3};
    int64_t b5[1] = {5};
    tt_attr g3 = tt_attr_int("group", 3), g2 = tt_attr_int("group", 2);
    int64_t one[1] = {1}, zero2[2] = {0, 1}, pads1[4] = {1, 1, 1, 1}, ks[2] = {5, 5};
    tt_attr bad_strides = tt_attr_ints("strides", 1, one);
    tt_attr zero_stride = tt_attr_ints("strides", 2, zero2);
    tt_attr pads = tt_attr_ints("pads", 4, pads1);
    tt_attr kshape = tt_attr_ints("kernel_shape", 2, ks);

    /* Input has 4 channels, weight expects 3. */
    expect_conv_error(4, x4, w_c3, 0, NULL, 0, NULL, TT_ERR_SHAPE, "channels");
    /* group 3 divides neither 4 input channels nor 6 outputs. */
    expect_conv_error(4, x4, w_ok, 0, NULL, 1, &g3, TT_ERR_SHAPE, "group 3");
    /* group 2 divides C = 4 but not M = 5. */
    expect_conv_error(4, x4, w_m5, 0, NULL, 1, &g2, TT_ERR_SHAPE, "output channels");
    /* group 2 wants C/2 = 2 weight channels; the weight has 4. */
    expect_conv_error(4, x4, w_ok, 0, NULL, 1, &g2, TT_ERR_SHAPE, "per group");
    /* A 9x9 kernel on an unpadded 8x8 input. */
    expect_conv_error(4, x4, w_big, 0, NULL, 0, NULL, TT_ERR_SHAPE, "larger than");
    /* Rank 3 input. */
    expect_conv_error(3, x3, w_ok, 0, NULL, 0, NULL, TT_ERR_SHAPE, "rank");
    /* Bias of the wrong length. */
    expect_conv_error(4, x4, w_g2, 1, b5, 1, &g2, TT_ERR_SHAPE, "bias");
    /* Attribute errors: wrong count, zero stride, kernel_shape disagreeing with W. */
    expect_conv_error(4, x4, w_ok, 0, NULL, 1, &bad_strides, TT_ERR_INVALID_ARG, "strides");
    expect_conv_error(4, x4, w_ok, 0, NULL, 1, &zero_stride, TT_ERR_INVALID_ARG, "strides");
    expect_conv_error(4, x4, w_ok, 0, NULL, 1, &kshape, TT_ERR_SHAPE, "kernel_shape");
    /* Sanity: the same pieces with valid attributes are accepted. */
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int x, w, y;
    TT_ASSERT_OK(tt_graph_add_input(g, "x", TT_F32, 4, x4, &x));
    TT_ASSERT_OK(tt_graph_add_param(g, "w", 4, w_ok, true, &w));
    int in[2] = {x, w};
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_CONV, "ok", 2, in, 1, &pads, &y));
    assert_int_equal(g->values[y].shape.dims[0], TT_DIM_BATCH);
    assert_int_equal(g->values[y].shape.dims[2], 8);
    tt_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(im2col_kernels),          cmocka_unit_test(conv_forward_hand),
        cmocka_unit_test(conv_forward_reference),  cmocka_unit_test(conv_batch_below_max),
        cmocka_unit_test(conv_gradcheck),          cmocka_unit_test(conv_grad_weight_only),
        cmocka_unit_test(conv_large_vs_reference), cmocka_unit_test(conv_shape_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
