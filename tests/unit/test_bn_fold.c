/* BnFoldWeight and BnUnfold (simulated BN folding for QAT): forward against the formula in
 * double, finite-difference gradients for the data and gamma, no gradient for running_var, and
 * the refusals (zero gamma for BnUnfold, mismatched shapes). */
#include <math.h>
#include <stdlib.h>
#include "testutil.h"

typedef struct fx {
    tt_graph *g;
    tt_exec *e;
    int x, gamma, var, y;
} fx;

/* op over X (an input of shape dims, dims[0] the batch when batched) with C = dims[axis]. */
static void build(fx *f, tt_op_type op, int ndim, const int64_t *dims, bool batched, tt_rng *rng)
{
    int axis = op == TT_OP_BN_UNFOLD ? 1 : 0;
    int64_t c = dims[axis], d[4];
    for (int i = 0; i < ndim; i++) d[i] = dims[i];
    if (batched) d[0] = TT_DIM_BATCH;
    TT_ASSERT_OK(tt_graph_create(&f->g));
    if (batched) { /* an activation */
        TT_ASSERT_OK(tt_graph_add_input(f->g, "x", TT_F32, ndim, d, &f->x));
        f->g->values[f->x].trainable = true;
    } else { /* a weight */
        TT_ASSERT_OK(tt_graph_add_param(f->g, "x", ndim, d, true, &f->x));
    }
    TT_ASSERT_OK(tt_graph_add_param(f->g, "gamma", 1, &c, true, &f->gamma));
    TT_ASSERT_OK(tt_graph_add_param(f->g, "var", 1, &c, false, &f->var));
    /* gamma away from 0 (BnUnfold divides by it), both signs. */
    float *g = tt_graph_param_data(f->g, f->gamma);
    for (int64_t k = 0; k < c; k++) g[k] = (k % 2 ? -1.0f : 1.0f) * (0.5f + tt_rng_uniform(rng));
    tt_test_fill_uniform(tt_graph_param_data(f->g, f->var), c, 0.2f, 2.0f, rng);
    int in[3] = {f->x, f->gamma, f->var};
    tt_attr at = tt_attr_float("epsilon", 1e-3f);
    TT_ASSERT_OK(tt_graph_add_node(f->g, op, "bf", 3, in, 1, &at, &f->y));
    TT_ASSERT_OK(tt_exec_create(f->g, batched ? dims[0] : 1, &f->e));
}

static void done(fx *f)
{
    tt_exec_free(f->e);
    tt_graph_free(f->g);
}

static void check(tt_op_type op, int ndim, const int64_t *dims, bool batched)
{
    tt_rng rng;
    tt_rng_seed(&rng, 7, (uint64_t)op);
    fx f;
    build(&f, op, ndim, dims, batched, &rng);
    int axis = op == TT_OP_BN_UNFOLD ? 1 : 0;
    int64_t n = 1, c = dims[axis], inner = 1;
    for (int i = 0; i < ndim; i++) n *= dims[i];
    for (int i = axis + 1; i < ndim; i++) inner *= dims[i];
    float *x = malloc((size_t)n * sizeof *x);
    tt_test_fill_uniform(x, n, -2.0f, 2.0f, &rng);
    if (batched)
        TT_ASSERT_OK(tt_exec_set_input(f.e, f.x, x, dims[0]));
    else
        memcpy(tt_graph_param_data(f.g, f.x), x, (size_t)n * sizeof *x);
    TT_ASSERT_OK(tt_exec_forward(f.e, batched ? dims[0] : 1, true));
    const float *y = tt_tensor_f32(tt_exec_value(f.e, f.y));
    const float *g = tt_graph_param_data(f.g, f.gamma), *v = tt_graph_param_data(f.g, f.var);
    for (int64_t i = 0; i < n; i++) {
        int64_t k = (i / inner) % c;
        double fk = (double)g[k] / sqrt((double)v[k] + 1e-3);
        double want = op == TT_OP_BN_UNFOLD ? x[i] / fk : x[i] * fk;
        /* One float multiply by a multiplier rounded once from double: within 2 ulp. */
        assert_true(fabs(y[i] - want) <= 2.5e-7 * fabs(want) + 1e-30);
    }
    tt_gradcheck_opts o = tt_gradcheck_defaults();
    double worst;
    assert_int_equal(tt_gradcheck(f.e, f.y, batched ? dims[0] : 1, &o, &worst), 0);
    assert_null(tt_exec_grad(f.e, f.var));
    assert_non_null(tt_exec_grad(f.e, f.gamma));
    free(x);
    done(&f);
}

static void fold_weight_conv(void **state)
{
    (void)state;
    int64_t d[4] = {3, 2, 2, 2}; /* [M, C, kh, kw] */
    check(TT_OP_BN_FOLD_WEIGHT, 4, d, false);
}

static void fold_weight_linear(void **state)
{
    (void)state;
    int64_t d[2] = {4, 5}; /* [M, K] */
    check(TT_OP_BN_FOLD_WEIGHT, 2, d, false);
}

static void unfold_conv(void **state)
{
    (void)state;
    int64_t d[4] = {2, 3, 2, 2}; /* [N, M, H, W] */
    check(TT_OP_BN_UNFOLD, 4, d, true);
}

static void unfold_linear(void **state)
{
    (void)state;
    int64_t d[2] = {3, 4}; /* [N, M] */
    check(TT_OP_BN_UNFOLD, 2, d, true);
}

static void refusals(void **state)
{
    (void)state;
    tt_rng rng;
    tt_rng_seed(&rng, 1, 0);
    fx f;
    int64_t d[2] = {2, 3};
    build(&f, TT_OP_BN_UNFOLD, 2, d, true, &rng);
    tt_graph_param_data(f.g, f.gamma)[1] = 0.0f;
    float x[6] = {0};
    TT_ASSERT_OK(tt_exec_set_input(f.e, f.x, x, 2));
    assert_int_equal(tt_exec_forward(f.e, 2, false), TT_ERR_NUMERIC);
    assert_non_null(strstr(tt_last_error(), "node 'bf' (BnUnfold): channel 1"));
    done(&f);

    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int64_t wd[2] = {4, 5}, c3 = 3;
    int w, gm, v, y;
    TT_ASSERT_OK(tt_graph_add_param(g, "w", 2, wd, true, &w));
    TT_ASSERT_OK(tt_graph_add_param(g, "g", 1, &c3, true, &gm));
    TT_ASSERT_OK(tt_graph_add_param(g, "v", 1, &c3, false, &v));
    int in[3] = {w, gm, v};
    assert_int_equal(tt_graph_add_node(g, TT_OP_BN_FOLD_WEIGHT, "fw", 3, in, 0, NULL, &y),
                     TT_ERR_SHAPE);
    assert_non_null(strstr(tt_last_error(), "node 'fw' (BnFoldWeight): input 1 has shape [3]"));
    tt_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fold_weight_conv), cmocka_unit_test(fold_weight_linear),
        cmocka_unit_test(unfold_conv),      cmocka_unit_test(unfold_linear),
        cmocka_unit_test(refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
