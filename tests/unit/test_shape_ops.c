/* Flatten, Reshape and MatMul: inferred shapes (symbolic batch kept), values, finite-difference
 * gradients and the errors for shapes that do not fit. */
#include <math.h>
#include <stdlib.h>
#include "testutil.h"

static void check_shape(const tt_shape *s, int ndim, const int64_t *dims)
{
    assert_int_equal(s->ndim, ndim);
    for (int i = 0; i < ndim; i++) assert_int_equal(s->dims[i], dims[i]);
}

/* x (trainable input of the given shape) -> op(attrs) -> y; checks the inferred shape, that the
 * forward is a plain copy of the data at batch 2 with the concrete shape, and gradcheck. */
static void copy_op_case(tt_op_type op, int xn, const int64_t *xd, int n_attrs, const tt_attr *a,
                         int yn, const int64_t *yd)
{
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int x, y;
    TT_ASSERT_OK(tt_graph_add_input(g, "x", TT_F32, xn, xd, &x));
    g->values[x].trainable = true;
    TT_ASSERT_OK(tt_graph_add_node(g, op, "y", 1, &x, n_attrs, a, &y));
    check_shape(&g->values[y].shape, yn, yd);
    tt_exec *e;
    TT_ASSERT_OK(tt_exec_create(g, 2, &e));
    int64_t per = 1;
    for (int i = 1; i < xn; i++) per *= xd[i];
    float xv[64];
    assert_true(2 * per <= 64);
    tt_rng rng;
    tt_rng_seed(&rng, 1, 0);
    tt_test_fill_uniform(xv, 2 * per, -1.0f, 1.0f, &rng);
    TT_ASSERT_OK(tt_exec_set_input(e, x, xv, 2));
    TT_ASSERT_OK(tt_exec_forward(e, 2, false));
    tt_tensor *yt = tt_exec_value(e, y);
    int64_t ycon[4];
    for (int i = 0; i < yn; i++) ycon[i] = yd[i] == TT_DIM_BATCH ? 2 : yd[i];
    check_shape(&yt->shape, yn, ycon);
    assert_memory_equal(yt->data, xv, (size_t)(2 * per) * sizeof(float));
    tt_gradcheck_opts o = tt_gradcheck_defaults();
    double worst;
    assert_int_equal(tt_gradcheck(e, y, 2, &o, &worst), 0);
    tt_exec_free(e);
    tt_graph_free(g);
}

static void flatten_values(void **state)
{
    (void)state;
    int64_t x4[4] = {TT_DIM_BATCH, 2, 3, 2}, y2[2] = {TT_DIM_BATCH, 12};
    copy_op_case(TT_OP_FLATTEN, 4, x4, 0, NULL, 2, y2);
    /* axis 2 on [N, 1, 3, 2]: the unit dim folds into the batch harmlessly. */
    int64_t x1[4] = {TT_DIM_BATCH, 1, 3, 2}, y6[2] = {TT_DIM_BATCH, 6};
    tt_attr ax2 = tt_attr_int("axis", 2);
    copy_op_case(TT_OP_FLATTEN, 4, x1, 1, &ax2, 2, y6);
    /* Negative axis counts from the end: axis -3 on rank 4 is axis 1. */
    tt_attr axm = tt_attr_int("axis", -3);
    copy_op_case(TT_OP_FLATTEN, 4, x4, 1, &axm, 2, y2);
}

static void flatten_fixed_shapes(void **state)
{
    (void)state;
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int p, y0, y2, y3;
    int64_t pd[3] = {2, 3, 4};
    TT_ASSERT_OK(tt_graph_add_param(g, "p", 3, pd, true, &p));
    tt_attr a0 = tt_attr_int("axis", 0), a2 = tt_attr_int("axis", 2), a3 = tt_attr_int("axis", 3);
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_FLATTEN, "f0", 1, &p, 1, &a0, &y0));
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_FLATTEN, "f2", 1, &p, 1, &a2, &y2));
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_FLATTEN, "f3", 1, &p, 1, &a3, &y3));
    int64_t w0[2] = {1, 24}, w2[2] = {6, 4}, w3[2] = {24, 1};
    check_shape(&g->values[y0].shape, 2, w0);
    check_shape(&g->values[y2].shape, 2, w2);
    check_shape(&g->values[y3].shape, 2, w3);
    tt_graph_free(g);
}

static void flatten_errors(void **state)
{
    (void)state;
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int x, y;
    int64_t xd[3] = {TT_DIM_BATCH, 3, 4};
    TT_ASSERT_OK(tt_graph_add_input(g, "x", TT_F32, 3, xd, &x));
    tt_attr a5 = tt_attr_int("axis", 5), a0 = tt_attr_int("axis", 0), a2 = tt_attr_int("axis", 2);
    assert_int_equal(tt_graph_add_node(g, TT_OP_FLATTEN, "fl", 1, &x, 1, &a5, &y),
                     TT_ERR_INVALID_ARG);
    assert_non_null(strstr(tt_last_error(), "'fl'"));
    /* axis 0 or 2 would fold the batch into a bigger dimension (N*12 or N*3). */
    assert_int_equal(tt_graph_add_node(g, TT_OP_FLATTEN, "fl", 1, &x, 1, &a0, &y), TT_ERR_SHAPE);
    assert_int_equal(tt_graph_add_node(g, TT_OP_FLATTEN, "fl", 1, &x, 1, &a2, &y), TT_ERR_SHAPE);
    assert_non_null(strstr(tt_last_error(), "'fl'"));
    assert_int_equal(g->n_nodes, 0);
    tt_graph_free(g);
}

static void reshape_values(void **state)
{
    (void)state;
    /* 0 copies the batch, -1 infers 4 from the 12 elements per sample. */
    int64_t x3[3] = {TT_DIM_BATCH, 2, 6}, s1[3] = {0, 3, -1}, y1[3] = {TT_DIM_BATCH, 3, 4};
    tt_attr a1 = tt_attr_ints("shape", 3, s1);
    copy_op_case(TT_OP_RESHAPE, 3, x3, 1, &a1, 3, y1);
    /* -1 in position 0 is the batch when the rest holds exactly one sample. */
    int64_t x2[2] = {TT_DIM_BATCH, 12}, s2[3] = {-1, 3, 4};
    tt_attr a2 = tt_attr_ints("shape", 3, s2);
    copy_op_case(TT_OP_RESHAPE, 2, x2, 1, &a2, 3, y1);
    /* Down to [N, 12], and 0 copying a non-batch dim. */
    int64_t s3[2] = {0, -1}, y3[2] = {TT_DIM_BATCH, 12};
    tt_attr a3 = tt_attr_ints("shape", 2, s3);
    copy_op_case(TT_OP_RESHAPE, 3, x3, 1, &a3, 2, y3);
    int64_t s4[4] = {0, 0, 3, 2}, y4[4] = {TT_DIM_BATCH, 2, 3, 2};
    tt_attr a4 = tt_attr_ints("shape", 4, s4);
    copy_op_case(TT_OP_RESHAPE, 3, x3, 1, &a4, 4, y4);
}

static void reshape_fixed_shapes(void **state)
{
    (void)state;
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int p, y1, y2;
    int64_t pd[3] = {2, 3, 4}, s1[2] = {4, -1}, s2[3] = {0, -1, 2};
    TT_ASSERT_OK(tt_graph_add_param(g, "p", 3, pd, true, &p));
    tt_attr a1 = tt_attr_ints("shape", 2, s1), a2 = tt_attr_ints("shape", 3, s2);
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_RESHAPE, "r1", 1, &p, 1, &a1, &y1));
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_RESHAPE, "r2", 1, &p, 1, &a2, &y2));
    int64_t w1[2] = {4, 6}, w2[3] = {2, 6, 2};
    check_shape(&g->values[y1].shape, 2, w1);
    check_shape(&g->values[y2].shape, 3, w2);
    tt_graph_free(g);
}

static void expect_reshape_error(tt_graph *g, int x, int n, const int64_t *shape, tt_status want)
{
    tt_attr a = tt_attr_ints("shape", n, shape);
    int y;
    tt_status s = tt_graph_add_node(g, TT_OP_RESHAPE, "bad_reshape", 1, &x, 1, &a, &y);
    assert_int_equal(s, want);
    assert_non_null(strstr(tt_last_error(), "'bad_reshape'"));
}

static void reshape_errors(void **state)
{
    (void)state;
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int x, p, y;
    int64_t xd[2] = {TT_DIM_BATCH, 12}, pd[2] = {3, 4};
    TT_ASSERT_OK(tt_graph_add_input(g, "x", TT_F32, 2, xd, &x));
    TT_ASSERT_OK(tt_graph_add_param(g, "p", 2, pd, true, &p));
    const int64_t count[2] = {0, 5};           /* 5 per sample, 12 available */
    const int64_t two_neg[3] = {0, -1, -1};    /* two inferred dims */
    const int64_t no_batch[2] = {3, -1};       /* fixed leading dim drops the batch */
    const int64_t neg_batch[2] = {-1, 6};      /* -1 in dim 0 would be 2N */
    const int64_t zero_oob[3] = {0, 0, 0};     /* 0 past the input rank */
    const int64_t neg2[2] = {0, -2};           /* negative size */
    const int64_t indivisible[3] = {0, 5, -1}; /* 12 is not a multiple of 5 */
    expect_reshape_error(g, x, 2, count, TT_ERR_SHAPE);
    expect_reshape_error(g, x, 3, two_neg, TT_ERR_SHAPE);
    expect_reshape_error(g, x, 2, no_batch, TT_ERR_SHAPE);
    expect_reshape_error(g, x, 2, neg_batch, TT_ERR_SHAPE);
    expect_reshape_error(g, x, 3, zero_oob, TT_ERR_SHAPE);
    expect_reshape_error(g, x, 2, neg2, TT_ERR_SHAPE);
    expect_reshape_error(g, x, 3, indivisible, TT_ERR_SHAPE);
    /* Absurd sizes must be refused, not overflow: 2^40 * 2^40 elements. */
    const int64_t huge[2] = {(int64_t)1 << 40, (int64_t)1 << 40};
    expect_reshape_error(g, p, 2, huge, TT_ERR_SHAPE);
    const int64_t count_fixed[2] = {5, 3};
    expect_reshape_error(g, p, 2, count_fixed, TT_ERR_SHAPE);
    /* Rank above 4. */
    const int64_t rank5[5] = {0, 1, 1, 3, 4};
    expect_reshape_error(g, x, 5, rank5, TT_ERR_SHAPE);
    /* No shape attribute at all. */
    assert_int_equal(tt_graph_add_node(g, TT_OP_RESHAPE, "bad_reshape", 1, &x, 0, NULL, &y),
                     TT_ERR_INVALID_ARG);
    assert_non_null(strstr(tt_last_error(), "'bad_reshape'"));
    assert_int_equal(g->n_nodes, 0);
    tt_graph_free(g);
}

static void matmul_values(void **state)
{
    (void)state;
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int a, b, y;
    int64_t ad[2] = {TT_DIM_BATCH, 3}, bd[2] = {3, 2};
    TT_ASSERT_OK(tt_graph_add_input(g, "a", TT_F32, 2, ad, &a));
    TT_ASSERT_OK(tt_graph_add_param(g, "b", 2, bd, true, &b));
    int in[2] = {a, b};
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_MATMUL, "y", 2, in, 0, NULL, &y));
    int64_t yd[2] = {TT_DIM_BATCH, 2};
    check_shape(&g->values[y].shape, 2, yd);
    const float bv[6] = {1, -1, 2, 0, 0.5f, 3};
    memcpy(tt_graph_param_data(g, b), bv, sizeof bv);
    tt_exec *e;
    TT_ASSERT_OK(tt_exec_create(g, 4, &e));
    const float av[6] = {1, 2, 3, -1, 0, 2};
    TT_ASSERT_OK(tt_exec_set_input(e, a, av, 2));
    TT_ASSERT_OK(tt_exec_forward(e, 2, true));
    /* Row 1: [1 + 4 + 1.5, -1 + 0 + 9]; row 2: [-1 + 0 + 1, 1 + 0 + 6]. */
    const float want[4] = {6.5f, 8.0f, 0.0f, 7.0f};
    const float *yv = tt_tensor_f32(tt_exec_value(e, y));
    for (int i = 0; i < 4; i++) assert_float_equal(yv[i], want[i], 1e-6);
    /* dB = A^T dY with dY = ones: column sums of A repeated: [0, 2, 5] per output column. */
    const float ones[4] = {1, 1, 1, 1};
    TT_ASSERT_OK(tt_exec_backward_from(e, y, ones));
    const float *gb = tt_tensor_f32(tt_exec_grad(e, b));
    const float gwant[6] = {0, 0, 2, 2, 5, 5};
    for (int i = 0; i < 6; i++) assert_float_equal(gb[i], gwant[i], 1e-6);
    assert_null(tt_exec_grad(e, a)); /* a is not trainable */
    tt_exec_free(e);
    tt_graph_free(g);
}

static void matmul_gradcheck(void **state)
{
    (void)state;
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int a, b, y;
    int64_t ad[2] = {TT_DIM_BATCH, 4}, bd[2] = {4, 3};
    TT_ASSERT_OK(tt_graph_add_input(g, "a", TT_F32, 2, ad, &a));
    g->values[a].trainable = true;
    TT_ASSERT_OK(tt_graph_add_param(g, "b", 2, bd, true, &b));
    int in[2] = {a, b};
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_MATMUL, "y", 2, in, 0, NULL, &y));
    tt_rng rng;
    tt_rng_seed(&rng, 6, 0);
    tt_test_fill_uniform(tt_graph_param_data(g, b), 12, -1, 1, &rng);
    tt_exec *e;
    TT_ASSERT_OK(tt_exec_create(g, 3, &e));
    float av[12];
    tt_test_fill_uniform(av, 12, -1, 1, &rng);
    TT_ASSERT_OK(tt_exec_set_input(e, a, av, 3));
    tt_gradcheck_opts o = tt_gradcheck_defaults();
    double worst;
    assert_int_equal(tt_gradcheck(e, y, 3, &o, &worst), 0);
    tt_exec_free(e);
    tt_graph_free(g);
}

static void matmul_errors(void **state)
{
    (void)state;
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int a, b, v, y;
    int64_t ad[2] = {TT_DIM_BATCH, 3}, bd[2] = {4, 2}, vd[2] = {TT_DIM_BATCH, 2};
    TT_ASSERT_OK(tt_graph_add_input(g, "a", TT_F32, 2, ad, &a));
    TT_ASSERT_OK(tt_graph_add_param(g, "b", 2, bd, true, &b));
    TT_ASSERT_OK(tt_graph_add_input(g, "v", TT_F32, 2, vd, &v));
    int ab[2] = {a, b};
    assert_int_equal(tt_graph_add_node(g, TT_OP_MATMUL, "mm", 2, ab, 0, NULL, &y), TT_ERR_SHAPE);
    assert_non_null(strstr(tt_last_error(), "'mm'"));
    /* B may not be batched: contracting over the batch has no fixed shape. */
    int vv[2] = {a, v};
    assert_int_equal(tt_graph_add_node(g, TT_OP_MATMUL, "mm", 2, vv, 0, NULL, &y), TT_ERR_SHAPE);
    assert_int_equal(g->n_nodes, 0);
    tt_graph_free(g);
}

/* x feeds Flatten, Reshape and (as A) MatMul twice; every backward must add into dx. */
static void shape_ops_accumulate(void **state)
{
    (void)state;
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int x, b, f, r, m1, m2, s1, s2, y;
    int64_t xd[2] = {TT_DIM_BATCH, 3}, bd[2] = {3, 3}, rs[2] = {0, -1};
    TT_ASSERT_OK(tt_graph_add_input(g, "x", TT_F32, 2, xd, &x));
    g->values[x].trainable = true;
    TT_ASSERT_OK(tt_graph_add_param(g, "b", 2, bd, true, &b));
    tt_attr shape = tt_attr_ints("shape", 2, rs);
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_FLATTEN, "f", 1, &x, 0, NULL, &f));
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_RESHAPE, "r", 1, &x, 1, &shape, &r));
    int xb[2] = {x, b};
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_MATMUL, "m1", 2, xb, 0, NULL, &m1));
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_MATMUL, "m2", 2, xb, 0, NULL, &m2));
    int fr[2] = {f, r}, mm[2] = {m1, m2};
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_ADD, "s1", 2, fr, 0, NULL, &s1));
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_ADD, "s2", 2, mm, 0, NULL, &s2));
    int ss[2] = {s1, s2};
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_ADD, "y", 2, ss, 0, NULL, &y));
    tt_rng rng;
    tt_rng_seed(&rng, 12, 0);
    tt_test_fill_uniform(tt_graph_param_data(g, b), 9, -1, 1, &rng);
    tt_exec *e;
    TT_ASSERT_OK(tt_exec_create(g, 2, &e));
    float xv[6];
    tt_test_fill_uniform(xv, 6, -1, 1, &rng);
    TT_ASSERT_OK(tt_exec_set_input(e, x, xv, 2));
    /* By hand with dy = ones: dx = 2 (copies) + 2 * row sums of B. */
    const float ones[6] = {1, 1, 1, 1, 1, 1};
    TT_ASSERT_OK(tt_exec_forward(e, 2, true));
    TT_ASSERT_OK(tt_exec_backward_from(e, y, ones));
    const float *bv = tt_graph_param_data(g, b), *dx = tt_tensor_f32(tt_exec_grad(e, x));
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 3; k++)
            assert_float_equal(dx[i * 3 + k],
                               2.0 + 2.0 * (bv[k * 3] + bv[k * 3 + 1] + bv[k * 3 + 2]), 1e-5);
    tt_gradcheck_opts o = tt_gradcheck_defaults();
    double worst;
    assert_int_equal(tt_gradcheck(e, y, 2, &o, &worst), 0);
    tt_exec_free(e);
    tt_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(flatten_values),       cmocka_unit_test(flatten_fixed_shapes),
        cmocka_unit_test(flatten_errors),       cmocka_unit_test(reshape_values),
        cmocka_unit_test(reshape_fixed_shapes), cmocka_unit_test(reshape_errors),
        cmocka_unit_test(matmul_values),        cmocka_unit_test(matmul_gradcheck),
        cmocka_unit_test(matmul_errors),        cmocka_unit_test(shape_ops_accumulate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
