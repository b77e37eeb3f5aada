/* BatchNormalization: train and eval forward against a double-precision reference computed
 * here, running statistics against PyTorch's update rule (momentum m: running = (1 - m) running
 * + m * batch stat, with the unbiased variance), finite-difference gradients in train mode, and
 * shape/attribute errors. */
#include <math.h>
#include <stdlib.h>
#include "testutil.h"

typedef struct bn_fx {
    tt_graph *g;
    tt_exec *e;
    int x, scale, bias, rmean, rvar, y;
    int64_t c, sp; /* channels and spatial size per channel per sample */
} bn_fx;

/* BN over X of shape [batch, xdims[1..ndim-1]] with random scale/bias/running stats. */
static void bn_build(bn_fx *f, int ndim, const int64_t *xdims, int64_t max_batch, int n_attrs,
                     const tt_attr *attrs, bool x_trainable, tt_rng *rng)
{
    TT_ASSERT_OK(tt_graph_create(&f->g));
    int64_t d[4];
    d[0] = TT_DIM_BATCH;
    f->sp = 1;
    for (int i = 1; i < ndim; i++) d[i] = xdims[i];
    for (int i = 2; i < ndim; i++) f->sp *= xdims[i];
    f->c = xdims[1];
    TT_ASSERT_OK(tt_graph_add_input(f->g, "x", TT_F32, ndim, d, &f->x));
    f->g->values[f->x].trainable = x_trainable;
    TT_ASSERT_OK(tt_graph_add_param(f->g, "scale", 1, &f->c, true, &f->scale));
    TT_ASSERT_OK(tt_graph_add_param(f->g, "bias", 1, &f->c, true, &f->bias));
    TT_ASSERT_OK(tt_graph_add_param(f->g, "rmean", 1, &f->c, false, &f->rmean));
    TT_ASSERT_OK(tt_graph_add_param(f->g, "rvar", 1, &f->c, false, &f->rvar));
    int in[5] = {f->x, f->scale, f->bias, f->rmean, f->rvar};
    TT_ASSERT_OK(tt_graph_add_node(f->g, TT_OP_BATCHNORM, "bn", 5, in, n_attrs, attrs, &f->y));
    tt_test_fill_uniform(tt_graph_param_data(f->g, f->scale), f->c, 0.5f, 2.0f, rng);
    tt_test_fill_uniform(tt_graph_param_data(f->g, f->bias), f->c, -1.0f, 1.0f, rng);
    tt_test_fill_uniform(tt_graph_param_data(f->g, f->rmean), f->c, -0.5f, 0.5f, rng);
    tt_test_fill_uniform(tt_graph_param_data(f->g, f->rvar), f->c, 0.5f, 1.5f, rng);
    TT_ASSERT_OK(tt_exec_create(f->g, max_batch, &f->e));
}

static void bn_free(bn_fx *f)
{
    tt_exec_free(f->e);
    tt_graph_free(f->g);
}

/* Non-degenerate data: channel ch is uniform in [-1, 1) * (1 + ch) + 3 * ch, so channels have
 * different means and spreads. */
static void fill_x(float *x, int64_t n, int64_t c, int64_t sp, tt_rng *rng)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t j = 0; j < sp; j++)
                x[(i * c + ch) * sp + j] =
                    (2.0f * tt_rng_uniform(rng) - 1.0f) * (float)(1 + ch) + 3.0f * (float)ch;
}

/* Per-channel batch mean, biased and unbiased variance, in double. */
static void ref_stats(const float *x, int64_t n, int64_t c, int64_t sp, double *mean, double *var_b,
                      double *var_u)
{
    int64_t m = n * sp;
    for (int64_t ch = 0; ch < c; ch++) {
        double s = 0.0, ss = 0.0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < sp; j++) s += x[(i * c + ch) * sp + j];
        mean[ch] = s / (double)m;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < sp; j++) {
                double d = x[(i * c + ch) * sp + j] - mean[ch];
                ss += d * d;
            }
        var_b[ch] = ss / (double)m;
        var_u[ch] = ss / (double)(m - 1);
    }
}

/* y = (x - mu) / sqrt(var + eps) * scale + bias, in double, against the op's float output.
 * Tolerance 1e-5 * max(1, |y|): the op rounds mean, inv_std, x - mean, the product and the bias
 * add to float (a few ulps of O(1..10) values, < 2e-6), while the errors this guards against
 * (biased vs unbiased variance, missing epsilon at eps=1e-2, wrong channel stride) are > 1e-3. */
static void check_y(bn_fx *f, const float *x, int64_t n, const double *mu, const double *var,
                    double eps)
{
    const float *y = tt_tensor_f32(tt_exec_value(f->e, f->y));
    const float *sc = tt_graph_param_data(f->g, f->scale);
    const float *bi = tt_graph_param_data(f->g, f->bias);
    double worst = 0.0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t ch = 0; ch < f->c; ch++)
            for (int64_t j = 0; j < f->sp; j++) {
                int64_t k = (i * f->c + ch) * f->sp + j;
                double want = (x[k] - mu[ch]) / sqrt(var[ch] + eps) * sc[ch] + bi[ch];
                double err = fabs(y[k] - want) / (fabs(want) > 1.0 ? fabs(want) : 1.0);
                if (err > worst) worst = err;
                if (err > 1e-5)
                    print_error("y[%lld] = %.8g, want %.8g\n", (long long)k, y[k], want);
                assert_true(err <= 1e-5);
            }
    print_message("worst relative error in y: %.3g\n", worst);
}

/* Running statistics are stored as float after a double update: 1e-6 relative covers that
 * rounding (6e-8) plus a different summation order, and is far below the 33% jump a biased
 * variance at M = 4 would cause, or the effect of a swapped momentum convention. */
static void check_close_rel(float got, double want)
{
    double err = fabs(got - want) / (fabs(want) > 1e-3 ? fabs(want) : 1e-3);
    if (err > 1e-6) print_error("got %.9g, want %.9g\n", got, want);
    assert_true(err <= 1e-6);
}

/* Three training forwards on different batches, checking y after each and the running stats
 * after the first and the third against PyTorch's rule with momentum 0.3 (PyTorch's m, i.e.
 * ONNX momentum 0.7) and epsilon 1e-2 (large enough that dropping it would show). */
static void train_forward_and_running_stats(int ndim, const int64_t *xdims)
{
    tt_rng rng;
    tt_rng_seed(&rng, 11, 0);
    tt_attr at[2] = {tt_attr_float("epsilon", 1e-2f), tt_attr_float("momentum", 0.3f)};
    bn_fx f;
    bn_build(&f, ndim, xdims, xdims[0], 2, at, false, &rng);
    int64_t n = xdims[0], c = f.c, total = n * c * f.sp;
    double rm[16], rv[16], mu[16], vb[16], vu[16];
    const float *rmp = tt_graph_param_data(f.g, f.rmean), *rvp = tt_graph_param_data(f.g, f.rvar);
    for (int64_t ch = 0; ch < c; ch++) rm[ch] = rmp[ch], rv[ch] = rvp[ch];
    float *x = malloc((size_t)total * sizeof *x);
    const double m = (double)0.3f; /* the attribute is a float */
    for (int it = 0; it < 3; it++) {
        fill_x(x, n, c, f.sp, &rng);
        TT_ASSERT_OK(tt_exec_set_input(f.e, f.x, x, n));
        TT_ASSERT_OK(tt_exec_forward(f.e, n, true));
        ref_stats(x, n, c, f.sp, mu, vb, vu);
        check_y(&f, x, n, mu, vb, (double)1e-2f);
        for (int64_t ch = 0; ch < c; ch++) {
            /* PyTorch rounds the running stats to float after every update; so do we here. */
            rm[ch] = (float)((1.0 - m) * rm[ch] + m * mu[ch]);
            rv[ch] = (float)((1.0 - m) * rv[ch] + m * vu[ch]);
            if (it == 0 || it == 2) {
                check_close_rel(rmp[ch], rm[ch]);
                check_close_rel(rvp[ch], rv[ch]);
            }
        }
    }
    free(x);
    bn_free(&f);
}

static void train_forward_2d(void **state)
{
    (void)state;
    int64_t d[2] = {4, 3};
    train_forward_and_running_stats(2, d);
}

static void train_forward_4d(void **state)
{
    (void)state;
    int64_t d[4] = {2, 3, 2, 3};
    train_forward_and_running_stats(4, d);
}

static void train_forward_3d(void **state)
{
    (void)state;
    int64_t d[3] = {3, 2, 5};
    train_forward_and_running_stats(3, d);
}

/* Eval mode normalises with the running statistics and leaves them unchanged; defaults
 * epsilon 1e-5 and momentum 0.1 apply when the attributes are absent. */
static void eval_forward_and_defaults(void **state)
{
    (void)state;
    tt_rng rng;
    tt_rng_seed(&rng, 12, 0);
    int64_t d[4] = {3, 4, 2, 2};
    bn_fx f;
    bn_build(&f, 4, d, 3, 0, NULL, false, &rng);
    float x[48];
    fill_x(x, 3, 4, 4, &rng);
    TT_ASSERT_OK(tt_exec_set_input(f.e, f.x, x, 3));
    float rm0[4], rv0[4];
    memcpy(rm0, tt_graph_param_data(f.g, f.rmean), sizeof rm0);
    memcpy(rv0, tt_graph_param_data(f.g, f.rvar), sizeof rv0);
    TT_ASSERT_OK(tt_exec_forward(f.e, 3, false));
    double mu[4], var[4];
    for (int ch = 0; ch < 4; ch++) mu[ch] = rm0[ch], var[ch] = rv0[ch];
    check_y(&f, x, 3, mu, var, (double)1e-5f);
    assert_memory_equal(rm0, tt_graph_param_data(f.g, f.rmean), sizeof rm0);
    assert_memory_equal(rv0, tt_graph_param_data(f.g, f.rvar), sizeof rv0);

    /* Eval works for a single sample, where training statistics would be undefined. */
    TT_ASSERT_OK(tt_exec_forward(f.e, 1, false));
    check_y(&f, x, 1, mu, var, (double)1e-5f);

    /* A training forward with the default momentum 0.1. */
    TT_ASSERT_OK(tt_exec_forward(f.e, 3, true));
    double vb[4], vu[4];
    ref_stats(x, 3, 4, 4, mu, vb, vu);
    check_y(&f, x, 3, mu, vb, (double)1e-5f);
    const double m = (double)0.1f;
    for (int ch = 0; ch < 4; ch++) {
        check_close_rel(tt_graph_param_data(f.g, f.rmean)[ch], (1.0 - m) * rm0[ch] + m * mu[ch]);
        check_close_rel(tt_graph_param_data(f.g, f.rvar)[ch], (1.0 - m) * rv0[ch] + m * vu[ch]);
    }
    bn_free(&f);
}

/* Statistics stay accurate when |mean| >> std (the case a one-pass float E[x^2] - E[x]^2
 * gets wrong): channel means near 100 with a spread of 0.1. */
static void train_forward_large_mean(void **state)
{
    (void)state;
    tt_rng rng;
    tt_rng_seed(&rng, 13, 0);
    int64_t d[4] = {4, 2, 3, 3};
    bn_fx f;
    bn_build(&f, 4, d, 4, 0, NULL, false, &rng);
    float x[72];
    for (int i = 0; i < 72; i++) x[i] = 100.0f + 0.1f * (2.0f * tt_rng_uniform(&rng) - 1.0f);
    TT_ASSERT_OK(tt_exec_set_input(f.e, f.x, x, 4));
    TT_ASSERT_OK(tt_exec_forward(f.e, 4, true));
    double mu[2], vb[2], vu[2];
    ref_stats(x, 4, 2, 9, mu, vb, vu);
    /* The spread is ~1e-3 of the mean: a mean rounded to float would already be off by ~1e-4 of
     * the spread, so the 1e-5 bound checks that the op keeps the mean's low-order bits. */
    check_y(&f, x, 4, mu, vb, (double)1e-5f);
    bn_free(&f);
}

static void gradcheck_case(int ndim, const int64_t *xdims)
{
    tt_rng rng;
    tt_rng_seed(&rng, 21, 0);
    bn_fx f;
    bn_build(&f, ndim, xdims, xdims[0], 0, NULL, true, &rng);
    int64_t n = xdims[0], total = n * f.c * f.sp;
    float x[64];
    assert_true(total <= 64);
    fill_x(x, n, f.c, f.sp, &rng);
    TT_ASSERT_OK(tt_exec_set_input(f.e, f.x, x, n));
    tt_gradcheck_opts o = tt_gradcheck_defaults();
    double worst;
    assert_int_equal(tt_gradcheck(f.e, f.y, n, &o, &worst), 0);
    print_message("gradcheck worst relative error: %.3g\n", worst);
    /* Running stats are buffers, never differentiated. */
    assert_null(tt_exec_grad(f.e, f.rmean));
    assert_null(tt_exec_grad(f.e, f.rvar));
    bn_free(&f);
}

/* Train-mode gradients through the batch statistics, for X, scale and bias. */
static void gradcheck_train_2d(void **state)
{
    (void)state;
    int64_t d[2] = {4, 3};
    gradcheck_case(2, d);
}

static void gradcheck_train_4d(void **state)
{
    (void)state;
    int64_t d[4] = {4, 3, 2, 2};
    gradcheck_case(4, d);
}

/* A tensor big enough for the OpenMP path (> 65536 elements): forward against the reference and
 * backward against the closed-form gradient computed in double. */
static void large_train_forward_backward(void **state)
{
    (void)state;
    tt_rng rng;
    tt_rng_seed(&rng, 31, 0);
    int64_t d[4] = {16, 8, 24, 24};
    bn_fx f;
    bn_build(&f, 4, d, 16, 0, NULL, true, &rng);
    int64_t n = 16, c = 8, sp = 576, total = n * c * sp, m = n * sp;
    float *x = malloc((size_t)total * sizeof *x), *dy = malloc((size_t)total * sizeof *dy);
    fill_x(x, n, c, sp, &rng);
    tt_test_fill_uniform(dy, total, -1.0f, 1.0f, &rng);
    TT_ASSERT_OK(tt_exec_set_input(f.e, f.x, x, n));
    TT_ASSERT_OK(tt_exec_forward(f.e, n, true));
    double mu[8], vb[8], vu[8];
    ref_stats(x, n, c, sp, mu, vb, vu);
    check_y(&f, x, n, mu, vb, (double)1e-5f);
    TT_ASSERT_OK(tt_exec_backward_from(f.e, f.y, dy));
    const float *dx = tt_tensor_f32(tt_exec_grad(f.e, f.x));
    const float *ds = tt_tensor_f32(tt_exec_grad(f.e, f.scale));
    const float *db = tt_tensor_f32(tt_exec_grad(f.e, f.bias));
    const float *sc = tt_graph_param_data(f.g, f.scale);
    double worst = 0.0;
    for (int64_t ch = 0; ch < c; ch++) {
        double istd = 1.0 / sqrt(vb[ch] + (double)1e-5f), sdy = 0.0, sdyx = 0.0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < sp; j++) {
                int64_t k = (i * c + ch) * sp + j;
                sdy += dy[k];
                sdyx += dy[k] * (x[k] - mu[ch]) * istd;
            }
        /* Sums of 9216 terms of size ~1: float rounding of the result only, 1e-5 relative. */
        assert_true(fabs(db[ch] - sdy) <= 1e-5 * (fabs(sdy) + 1.0));
        assert_true(fabs(ds[ch] - sdyx) <= 1e-5 * (fabs(sdyx) + 1.0));
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < sp; j++) {
                int64_t k = (i * c + ch) * sp + j;
                double xh = (x[k] - mu[ch]) * istd;
                double want = sc[ch] * istd * (dy[k] - sdy / (double)m - xh * sdyx / (double)m);
                double err = fabs(dx[k] - want) / (fabs(want) > 1.0 ? fabs(want) : 1.0);
                if (err > worst) worst = err;
            }
    }
    /* dx is O(1) and computed in float from double sums: a few ulps. */
    print_message("worst dx error: %.3g\n", worst);
    assert_true(worst <= 1e-5);
    free(x);
    free(dy);
    bn_free(&f);
}

static void expect_node_error(tt_graph *g, int n_in, const int *in, int n_attrs,
                              const tt_attr *attrs, tt_status want, const char *needle)
{
    int y;
    int before = g->n_nodes;
    tt_status s = tt_graph_add_node(g, TT_OP_BATCHNORM, "bnbad", n_in, in, n_attrs, attrs, &y);
    if (s != want) print_error("got %s: %s\n", tt_status_str(s), tt_last_error());
    assert_int_equal(s, want);
    assert_int_equal(g->n_nodes, before);
    if (needle && !strstr(tt_last_error(), needle))
        print_error("message '%s' lacks '%s'\n", tt_last_error(), needle);
    if (needle) assert_non_null(strstr(tt_last_error(), needle));
}

static void shape_and_attr_errors(void **state)
{
    (void)state;
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int x, x1, xi, s3, s4, b3, m3, v3, v33;
    int64_t xd[4] = {TT_DIM_BATCH, 3, 4, 4}, x1d[1] = {3}, c3 = 3, c4 = 4, d33[2] = {3, 3};
    TT_ASSERT_OK(tt_graph_add_input(g, "x", TT_F32, 4, xd, &x));
    TT_ASSERT_OK(tt_graph_add_input(g, "x1", TT_F32, 1, x1d, &x1));
    TT_ASSERT_OK(tt_graph_add_input(g, "xi", TT_I32, 4, xd, &xi));
    TT_ASSERT_OK(tt_graph_add_param(g, "s3", 1, &c3, true, &s3));
    TT_ASSERT_OK(tt_graph_add_param(g, "s4", 1, &c4, true, &s4));
    TT_ASSERT_OK(tt_graph_add_param(g, "b3", 1, &c3, true, &b3));
    TT_ASSERT_OK(tt_graph_add_param(g, "m3", 1, &c3, false, &m3));
    TT_ASSERT_OK(tt_graph_add_param(g, "v3", 1, &c3, false, &v3));
    TT_ASSERT_OK(tt_graph_add_param(g, "v33", 2, d33, false, &v33));

    int ok[5] = {x, s3, b3, m3, v3};
    int y;
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_BATCHNORM, "bn", 5, ok, 0, NULL, &y));
    assert_int_equal(g->values[y].shape.dims[0], TT_DIM_BATCH); /* batch stays symbolic */
    assert_int_equal(g->values[y].shape.ndim, 4);

    int bad_scale[5] = {x, s4, b3, m3, v3};
    expect_node_error(g, 5, bad_scale, 0, NULL, TT_ERR_SHAPE, "'bnbad'");
    assert_non_null(strstr(tt_last_error(), "scale"));
    int bad_bias[5] = {x, s3, s4, m3, v3};
    expect_node_error(g, 5, bad_bias, 0, NULL, TT_ERR_SHAPE, "bias");
    int bad_mean[5] = {x, s3, b3, s4, v3};
    expect_node_error(g, 5, bad_mean, 0, NULL, TT_ERR_SHAPE, "running_mean");
    int bad_var[5] = {x, s3, b3, m3, v33};
    expect_node_error(g, 5, bad_var, 0, NULL, TT_ERR_SHAPE, "running_var");
    int rank1[5] = {x1, s3, b3, m3, v3};
    expect_node_error(g, 5, rank1, 0, NULL, TT_ERR_SHAPE, "'bnbad'");
    int ints[5] = {xi, s3, b3, m3, v3};
    expect_node_error(g, 5, ints, 0, NULL, TT_ERR_SHAPE, "'bnbad'");
    expect_node_error(g, 4, ok, 0, NULL, TT_ERR_INVALID_ARG, "'bnbad'");
    tt_attr eps0 = tt_attr_float("epsilon", 0.0f);
    expect_node_error(g, 5, ok, 1, &eps0, TT_ERR_INVALID_ARG, "epsilon");
    tt_attr mom2 = tt_attr_float("momentum", 1.5f);
    expect_node_error(g, 5, ok, 1, &mom2, TT_ERR_INVALID_ARG, "momentum");
    tt_graph_free(g);
}

/* Training needs more than one value per channel, as in PyTorch: [1, C] is refused with a clear
 * error at run time (the batch is only known then). */
static void train_single_value_per_channel_refused(void **state)
{
    (void)state;
    tt_rng rng;
    tt_rng_seed(&rng, 41, 0);
    int64_t d[2] = {4, 3};
    bn_fx f;
    bn_build(&f, 2, d, 4, 0, NULL, false, &rng);
    float x[3] = {1, 2, 3};
    TT_ASSERT_OK(tt_exec_set_input(f.e, f.x, x, 1));
    float rm0[3];
    memcpy(rm0, tt_graph_param_data(f.g, f.rmean), sizeof rm0);
    assert_int_equal(tt_exec_forward(f.e, 1, true), TT_ERR_SHAPE);
    assert_non_null(strstr(tt_last_error(), "'bn'"));
    assert_memory_equal(rm0, tt_graph_param_data(f.g, f.rmean), sizeof rm0);
    TT_ASSERT_OK(tt_exec_forward(f.e, 1, false));
    bn_free(&f);
}

/* frozen=1 (QAT's freeze_bn_epoch): a training forward equals the eval forward bit for bit,
 * leaves the running statistics alone, and backward is the gradient of that fixed affine map
 * (finite differences, and dX = dY * scale / sqrt(var + eps) exactly as computed in float). */
static void frozen_train_forward_backward(void **state)
{
    (void)state;
    tt_rng rng;
    tt_rng_seed(&rng, 33, 0);
    int64_t d[4] = {3, 2, 2, 2};
    tt_attr at = tt_attr_int("frozen", 1);
    bn_fx f;
    bn_build(&f, 4, d, 3, 1, &at, true, &rng);
    float x[24], rm[2], rv[2], y_eval[24];
    fill_x(x, 3, 2, 4, &rng);
    memcpy(rm, tt_graph_param_data(f.g, f.rmean), sizeof rm);
    memcpy(rv, tt_graph_param_data(f.g, f.rvar), sizeof rv);
    TT_ASSERT_OK(tt_exec_set_input(f.e, f.x, x, 3));
    TT_ASSERT_OK(tt_exec_forward(f.e, 3, false));
    memcpy(y_eval, tt_exec_value(f.e, f.y)->data, sizeof y_eval);
    TT_ASSERT_OK(tt_exec_forward(f.e, 3, true));
    assert_memory_equal(y_eval, tt_exec_value(f.e, f.y)->data, sizeof y_eval);
    assert_memory_equal(rm, tt_graph_param_data(f.g, f.rmean), sizeof rm);
    assert_memory_equal(rv, tt_graph_param_data(f.g, f.rvar), sizeof rv);
    float seed[24];
    for (int i = 0; i < 24; i++) seed[i] = 1.0f;
    TT_ASSERT_OK(tt_exec_backward_from(f.e, f.y, seed));
    const float *dx = tt_tensor_f32(tt_exec_grad(f.e, f.x));
    const float *sc = tt_graph_param_data(f.g, f.scale);
    for (int i = 0; i < 24; i++) {
        int ch = (i / 4) % 2;
        float k = sc[ch] * (float)(1.0 / sqrt((double)rv[ch] + 1e-5));
        assert_true(dx[i] == k);
    }
    tt_gradcheck_opts o = tt_gradcheck_defaults();
    double worst;
    assert_int_equal(tt_gradcheck(f.e, f.y, 3, &o, &worst), 0);
    assert_memory_equal(rm, tt_graph_param_data(f.g, f.rmean), sizeof rm);
    bn_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(train_forward_2d),
        cmocka_unit_test(train_forward_3d),
        cmocka_unit_test(train_forward_4d),
        cmocka_unit_test(eval_forward_and_defaults),
        cmocka_unit_test(train_forward_large_mean),
        cmocka_unit_test(gradcheck_train_2d),
        cmocka_unit_test(gradcheck_train_4d),
        cmocka_unit_test(large_train_forward_backward),
        cmocka_unit_test(shape_and_attr_errors),
        cmocka_unit_test(train_single_value_per_channel_refused),
        cmocka_unit_test(frozen_train_forward_backward),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
