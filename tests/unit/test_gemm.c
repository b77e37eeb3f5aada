/* Gemm forward against hand-computed values; backward against finite differences. */
#include "testutil.h"

static void gemm_forward_values(void **state)
{
    (void)state;
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int x, w, b, y;
    int64_t xd[2] = {TT_DIM_BATCH, 3}, wd[2] = {2, 3}, bd[1] = {2};
    TT_ASSERT_OK(tt_graph_add_input(g, "x", TT_F32, 2, xd, &x));
    TT_ASSERT_OK(tt_graph_add_param(g, "w", 2, wd, true, &w));
    TT_ASSERT_OK(tt_graph_add_param(g, "b", 1, bd, true, &b));
    int in[3] = {x, w, b};
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_GEMM, "y", 3, in, 0, NULL, &y));
    float wv[6] = {1, 2, 3, -1, 0, 1}, bv[2] = {0.5f, -2};
    memcpy(tt_graph_param_data(g, w), wv, sizeof wv);
    memcpy(tt_graph_param_data(g, b), bv, sizeof bv);
    tt_exec *e;
    TT_ASSERT_OK(tt_exec_create(g, 4, &e));
    float xv[6] = {1, 1, 1, 2, 0, -1};
    TT_ASSERT_OK(tt_exec_set_input(e, x, xv, 2));
    TT_ASSERT_OK(tt_exec_forward(e, 2, false));
    const float *yv = tt_tensor_f32(tt_exec_value(e, y));
    /* Row 1: [1+2+3+0.5, -1+0+1-2]; row 2: [2+0-3+0.5, -2+0-1-2]. */
    float want[4] = {6.5f, -2.0f, -0.5f, -5.0f};
    for (int i = 0; i < 4; i++) assert_float_equal(yv[i], want[i], 1e-6);
    assert_int_equal(tt_exec_value(e, y)->shape.dims[0], 2);
    tt_exec_free(e);
    tt_graph_free(g);
}

static void gemm_gradcheck(void **state)
{
    (void)state;
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int x, w, b, y;
    int64_t xd[2] = {TT_DIM_BATCH, 5}, wd[2] = {4, 5}, bd[1] = {4};
    TT_ASSERT_OK(tt_graph_add_input(g, "x", TT_F32, 2, xd, &x));
    g->values[x].trainable = true;
    TT_ASSERT_OK(tt_graph_add_param(g, "w", 2, wd, true, &w));
    TT_ASSERT_OK(tt_graph_add_param(g, "b", 1, bd, true, &b));
    int in[3] = {x, w, b};
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_GEMM, "y", 3, in, 0, NULL, &y));
    tt_rng rng;
    tt_rng_seed(&rng, 5, 0);
    tt_test_fill_uniform(tt_graph_param_data(g, w), 20, -1, 1, &rng);
    tt_test_fill_uniform(tt_graph_param_data(g, b), 4, -1, 1, &rng);
    tt_exec *e;
    TT_ASSERT_OK(tt_exec_create(g, 3, &e));
    float xv[15];
    tt_test_fill_uniform(xv, 15, -1, 1, &rng);
    TT_ASSERT_OK(tt_exec_set_input(e, x, xv, 3));
    tt_gradcheck_opts o = tt_gradcheck_defaults();
    double worst;
    assert_int_equal(tt_gradcheck(e, y, 3, &o, &worst), 0);
    tt_exec_free(e);
    tt_graph_free(g);
}

static void gemm_shape_errors(void **state)
{
    (void)state;
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int x, w, y;
    int64_t xd[2] = {TT_DIM_BATCH, 3}, wd[2] = {2, 4};
    TT_ASSERT_OK(tt_graph_add_input(g, "x", TT_F32, 2, xd, &x));
    TT_ASSERT_OK(tt_graph_add_param(g, "w", 2, wd, true, &w));
    int in[2] = {x, w};
    assert_int_equal(tt_graph_add_node(g, TT_OP_GEMM, "y", 2, in, 0, NULL, &y), TT_ERR_SHAPE);
    assert_non_null(strstr(tt_last_error(), "'y'"));
    int bad[2] = {x, 99};
    assert_int_equal(tt_graph_add_node(g, TT_OP_GEMM, "y", 2, bad, 0, NULL, &y),
                     TT_ERR_INVALID_ARG);
    assert_int_equal(tt_graph_add_node(g, TT_OP_GEMM, "y", 1, in, 0, NULL, &y), TT_ERR_INVALID_ARG);
    assert_int_equal(g->n_nodes, 0);
    tt_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gemm_forward_values),
        cmocka_unit_test(gemm_gradcheck),
        cmocka_unit_test(gemm_shape_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
