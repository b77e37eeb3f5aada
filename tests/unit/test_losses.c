/* Losses: MSE, L1, SmoothL1 and softmax cross-entropy against hand computations (PyTorch
 * definitions, reduction "mean"), finite-difference gradients for every differentiable input,
 * and the stability and label checks of cross-entropy. */
#include <math.h>
#include <stdlib.h>
#include "testutil.h"

typedef struct loss_fx {
    tt_graph *g;
    tt_exec *e;
    int p, t, l;
} loss_fx;

/* pred, target: trainable inputs [N, F]; l = op(pred, target). */
static tt_status loss_build(loss_fx *f, tt_op_type op, int n_attrs, const tt_attr *attrs,
                            int64_t feat, int64_t max_batch)
{
    TT_ASSERT_OK(tt_graph_create(&f->g));
    int64_t d[2] = {TT_DIM_BATCH, feat};
    TT_ASSERT_OK(tt_graph_add_input(f->g, "pred", TT_F32, 2, d, &f->p));
    TT_ASSERT_OK(tt_graph_add_input(f->g, "target", TT_F32, 2, d, &f->t));
    f->g->values[f->p].trainable = f->g->values[f->t].trainable = true;
    int in[2] = {f->p, f->t};
    tt_status s = tt_graph_add_node(f->g, op, "loss", 2, in, n_attrs, attrs, &f->l);
    if (s != TT_OK) return s;
    int64_t one = 1;
    assert_int_equal(f->g->values[f->l].shape.ndim, 1);
    assert_int_equal(f->g->values[f->l].shape.dims[0], one);
    TT_ASSERT_OK(tt_exec_create(f->g, max_batch, &f->e));
    return TT_OK;
}

static void loss_free(loss_fx *f)
{
    tt_exec_free(f->e);
    tt_graph_free(f->g);
}

static float loss_at(loss_fx *f, const float *pv, const float *tv, int64_t n)
{
    TT_ASSERT_OK(tt_exec_set_input(f->e, f->p, pv, n));
    TT_ASSERT_OK(tt_exec_set_input(f->e, f->t, tv, n));
    TT_ASSERT_OK(tt_exec_forward(f->e, n, true));
    return tt_tensor_f32(tt_exec_value(f->e, f->l))[0];
}

/* pred - target = {0.5, -2, 0, -0.5, 3, -1} over 2 x 3 elements. */
static const float P6[6] = {0.5f, -1.0f, 2.0f, 0.0f, 3.0f, -2.0f};
static const float T6[6] = {0.0f, 1.0f, 2.0f, 0.5f, 0.0f, -1.0f};

static void mse_l1_values(void **state)
{
    (void)state;
    loss_fx f;
    TT_ASSERT_OK(loss_build(&f, TT_OP_MSE, 0, NULL, 3, 2));
    /* (0.25 + 4 + 0 + 0.25 + 9 + 1) / 6; float result of a double sum: 1e-6 relative. */
    assert_float_equal(loss_at(&f, P6, T6, 2), 14.5 / 6.0, 1e-6);
    /* d loss / d pred = 2 d / n, d loss / d target = -2 d / n. */
    TT_ASSERT_OK(tt_exec_backward(f.e, f.l));
    const float *gp = tt_tensor_f32(tt_exec_grad(f.e, f.p));
    const float *gt = tt_tensor_f32(tt_exec_grad(f.e, f.t));
    for (int i = 0; i < 6; i++) {
        double d = (double)P6[i] - (double)T6[i];
        assert_float_equal(gp[i], 2.0 * d / 6.0, 1e-6);
        assert_float_equal(gt[i], -2.0 * d / 6.0, 1e-6);
    }
    loss_free(&f);

    TT_ASSERT_OK(loss_build(&f, TT_OP_L1, 0, NULL, 3, 2));
    assert_float_equal(loss_at(&f, P6, T6, 2), 7.0 / 6.0, 1e-6);
    TT_ASSERT_OK(tt_exec_backward(f.e, f.l));
    gp = tt_tensor_f32(tt_exec_grad(f.e, f.p));
    const float l1want[6] = {1, -1, 0, -1, 1, -1}; /* sign(d), 0 at d = 0 */
    for (int i = 0; i < 6; i++) assert_float_equal(gp[i], l1want[i] / 6.0, 1e-7);
    /* Batch 1 averages over its 3 elements only. */
    assert_float_equal(loss_at(&f, P6, T6, 1), 2.5 / 3.0, 1e-6);
    loss_free(&f);
}

static void smooth_l1_values(void **state)
{
    (void)state;
    loss_fx f;
    /* beta 1: z = {0.5, 2, 0, 0.5, 3, 1} -> {0.125, 1.5, 0, 0.125, 2.5, 0.5} (z = beta is on
     * the linear side, as in PyTorch: z < beta is quadratic). */
    TT_ASSERT_OK(loss_build(&f, TT_OP_SMOOTH_L1, 0, NULL, 3, 2));
    assert_float_equal(loss_at(&f, P6, T6, 2), 4.75 / 6.0, 1e-6);
    TT_ASSERT_OK(tt_exec_backward(f.e, f.l));
    const float *gp = tt_tensor_f32(tt_exec_grad(f.e, f.p));
    const float *gt = tt_tensor_f32(tt_exec_grad(f.e, f.t));
    const float want[6] = {0.5f, -1, 0, -0.5f, 1, -1}; /* clamp(d / beta, -1, 1) */
    for (int i = 0; i < 6; i++) {
        assert_float_equal(gp[i], want[i] / 6.0, 1e-7);
        assert_float_equal(gt[i], -want[i] / 6.0, 1e-7);
    }
    loss_free(&f);

    /* beta 0.5 on 4 elements: torch.nn.functional.smooth_l1_loss gives 0.7749999761581421
     * (by hand: (0.09 + 2.25 + 0.75 + 0.01) / 4). */
    tt_attr b05 = tt_attr_float("beta", 0.5f);
    TT_ASSERT_OK(loss_build(&f, TT_OP_SMOOTH_L1, 1, &b05, 4, 1));
    const float p4[4] = {0.3f, -2.0f, 1.5f, 0.0f}, t4[4] = {0.0f, 0.5f, 0.5f, 0.1f};
    assert_float_equal(loss_at(&f, p4, t4, 1), 0.7749999761581421, 1e-6);
    loss_free(&f);

    /* beta 0 is the L1 loss, gradient sign(d) with 0 at 0. */
    tt_attr b0 = tt_attr_float("beta", 0.0f);
    TT_ASSERT_OK(loss_build(&f, TT_OP_SMOOTH_L1, 1, &b0, 3, 2));
    assert_float_equal(loss_at(&f, P6, T6, 2), 7.0 / 6.0, 1e-6);
    TT_ASSERT_OK(tt_exec_backward(f.e, f.l));
    gp = tt_tensor_f32(tt_exec_grad(f.e, f.p));
    const float l1want[6] = {1, -1, 0, -1, 1, -1};
    for (int i = 0; i < 6; i++) assert_float_equal(gp[i], l1want[i] / 6.0, 1e-7);
    loss_free(&f);
}

static void pair_loss_gradcheck(void **state)
{
    (void)state;
    const tt_op_type ops[3] = {TT_OP_MSE, TT_OP_L1, TT_OP_SMOOTH_L1};
    for (int k = 0; k < 3; k++) {
        tt_attr beta = tt_attr_float("beta", 0.5f);
        loss_fx f;
        TT_ASSERT_OK(loss_build(&f, ops[k], ops[k] == TT_OP_SMOOTH_L1 ? 1 : 0, &beta, 4, 3));
        float pv[12], tv[12];
        tt_rng rng;
        tt_rng_seed(&rng, 20 + (uint64_t)k, 0);
        tt_test_fill_uniform(pv, 12, -2.0f, 2.0f, &rng);
        tt_test_fill_uniform(tv, 12, -2.0f, 2.0f, &rng);
        /* Keep |pred - target| >= 0.05 away from the L1 kink at 0 and the SmoothL1 switch at
         * beta (C1 there, but the step would straddle it), far beyond the 1e-3 FD step. */
        for (int i = 0; i < 12; i++) {
            float d = fabsf(pv[i] - tv[i]);
            if (d < 0.05f || fabsf(d - 0.5f) < 0.05f) pv[i] += 0.2f;
        }
        TT_ASSERT_OK(tt_exec_set_input(f.e, f.p, pv, 3));
        TT_ASSERT_OK(tt_exec_set_input(f.e, f.t, tv, 3));
        tt_gradcheck_opts o = tt_gradcheck_defaults();
        double worst;
        int bad = tt_gradcheck(f.e, f.l, 3, &o, &worst);
        if (bad) print_error("%s failed its gradient check\n", tt_op_name(ops[k]));
        assert_int_equal(bad, 0);
        loss_free(&f);
    }
}

/* pred feeds all three losses (target two of them), summed by Add: each loss's backward must
 * add into the shared gradients. */
static void pair_losses_accumulate(void **state)
{
    (void)state;
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int p, t, l1, l2, l3, s, y;
    int64_t d[2] = {TT_DIM_BATCH, 3};
    TT_ASSERT_OK(tt_graph_add_input(g, "p", TT_F32, 2, d, &p));
    TT_ASSERT_OK(tt_graph_add_input(g, "t", TT_F32, 2, d, &t));
    g->values[p].trainable = g->values[t].trainable = true;
    int pt[2] = {p, t}, tp[2] = {t, p};
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_MSE, "l1", 2, pt, 0, NULL, &l1));
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_L1, "l2", 2, tp, 0, NULL, &l2));
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_SMOOTH_L1, "l3", 2, pt, 0, NULL, &l3));
    int a[2] = {l1, l2}, b[2];
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_ADD, "s", 2, a, 0, NULL, &s));
    b[0] = s;
    b[1] = l3;
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_ADD, "y", 2, b, 0, NULL, &y));
    tt_exec *e;
    TT_ASSERT_OK(tt_exec_create(g, 2, &e));
    /* |p - t| in {0.7, 2.1, 0.4, 1.6, 0.3, 1.3}: away from 0 and from beta = 1. */
    const float pv[6] = {0.5f, -1.0f, 2.0f, 0.1f, 3.0f, -2.0f};
    const float tv[6] = {-0.2f, 1.1f, 1.6f, 1.7f, 2.7f, -0.7f};
    TT_ASSERT_OK(tt_exec_set_input(e, p, pv, 2));
    TT_ASSERT_OK(tt_exec_set_input(e, t, tv, 2));
    tt_gradcheck_opts o = tt_gradcheck_defaults();
    double worst;
    assert_int_equal(tt_gradcheck(e, y, 2, &o, &worst), 0);
    tt_exec_free(e);
    tt_graph_free(g);
}

static void pair_loss_errors(void **state)
{
    (void)state;
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int p, t, l;
    int64_t pd[2] = {TT_DIM_BATCH, 3}, td[2] = {TT_DIM_BATCH, 4};
    TT_ASSERT_OK(tt_graph_add_input(g, "p", TT_F32, 2, pd, &p));
    TT_ASSERT_OK(tt_graph_add_input(g, "t", TT_F32, 2, td, &t));
    int in[2] = {p, t};
    assert_int_equal(tt_graph_add_node(g, TT_OP_MSE, "mse", 2, in, 0, NULL, &l), TT_ERR_SHAPE);
    assert_non_null(strstr(tt_last_error(), "'mse'"));
    int same[2] = {p, p};
    tt_attr neg = tt_attr_float("beta", -1.0f);
    assert_int_equal(tt_graph_add_node(g, TT_OP_SMOOTH_L1, "sl1", 2, same, 1, &neg, &l),
                     TT_ERR_INVALID_ARG);
    assert_non_null(strstr(tt_last_error(), "'sl1'"));
    assert_int_equal(g->n_nodes, 0);
    tt_graph_free(g);
}

/* ---- softmax cross-entropy ----------------------------------------------------------------- */

typedef struct ce_fx {
    tt_graph *g;
    tt_exec *e;
    int z, lab, l;
} ce_fx;

static void ce_build(ce_fx *f, int64_t classes, int64_t max_batch)
{
    TT_ASSERT_OK(tt_graph_create(&f->g));
    int64_t zd[2] = {TT_DIM_BATCH, classes}, ld[1] = {TT_DIM_BATCH};
    TT_ASSERT_OK(tt_graph_add_input(f->g, "logits", TT_F32, 2, zd, &f->z));
    TT_ASSERT_OK(tt_graph_add_input(f->g, "labels", TT_I32, 1, ld, &f->lab));
    f->g->values[f->z].trainable = true;
    int in[2] = {f->z, f->lab};
    TT_ASSERT_OK(tt_graph_add_node(f->g, TT_OP_SOFTMAX_CE, "ce", 2, in, 0, NULL, &f->l));
    TT_ASSERT_OK(tt_exec_create(f->g, max_batch, &f->e));
}

static void ce_free(ce_fx *f)
{
    tt_exec_free(f->e);
    tt_graph_free(f->g);
}

static void ce_values(void **state)
{
    (void)state;
    ce_fx f;
    ce_build(&f, 3, 2);
    const float z[6] = {1, 2, 3, 0, 0, 0};
    const int32_t lab[2] = {2, 1};
    TT_ASSERT_OK(tt_exec_set_input(f.e, f.z, z, 2));
    TT_ASSERT_OK(tt_exec_set_input(f.e, f.lab, lab, 2));
    TT_ASSERT_OK(tt_exec_forward(f.e, 2, true));
    /* Row 1: log(e + e^2 + e^3) - 3; row 2: log 3. */
    double r1 = log(exp(1.0) + exp(2.0) + exp(3.0)) - 3.0, r2 = log(3.0);
    assert_float_equal(tt_tensor_f32(tt_exec_value(f.e, f.l))[0], (r1 + r2) / 2.0, 1e-6);
    /* Gradient: (softmax - onehot) / N. */
    TT_ASSERT_OK(tt_exec_backward(f.e, f.l));
    const float *g = tt_tensor_f32(tt_exec_grad(f.e, f.z));
    double s = exp(1.0) + exp(2.0) + exp(3.0);
    const double want[6] = {exp(1.0) / s / 2, exp(2.0) / s / 2,  (exp(3.0) / s - 1) / 2,
                            1.0 / 6,          (1.0 / 3 - 1) / 2, 1.0 / 6};
    for (int i = 0; i < 6; i++) assert_float_equal(g[i], want[i], 1e-6);
    ce_free(&f);
}

static void ce_huge_logits(void **state)
{
    (void)state;
    ce_fx f;
    ce_build(&f, 3, 2);
    /* exp(1000) overflows a float; the max-shifted form must not. Row 1 is confidently right
     * (loss ~ e^-1000 = 0), row 2 splits between two maxima (loss log 2). */
    const float z[6] = {1000, -1000, 0, -1000, 1000, 1000};
    const int32_t lab[2] = {0, 2};
    TT_ASSERT_OK(tt_exec_set_input(f.e, f.z, z, 2));
    TT_ASSERT_OK(tt_exec_set_input(f.e, f.lab, lab, 2));
    TT_ASSERT_OK(tt_exec_forward(f.e, 2, true));
    float loss = tt_tensor_f32(tt_exec_value(f.e, f.l))[0];
    assert_true(isfinite(loss));
    assert_float_equal(loss, log(2.0) / 2.0, 1e-6);
    TT_ASSERT_OK(tt_exec_backward(f.e, f.l));
    const float *g = tt_tensor_f32(tt_exec_grad(f.e, f.z));
    const double want[6] = {0, 0, 0, 0, 0.25, -0.25};
    for (int i = 0; i < 6; i++) {
        assert_true(isfinite(g[i]));
        assert_float_equal(g[i], want[i], 1e-6);
    }
    /* A confidently wrong sample: loss 2000, still finite. */
    const int32_t wrong[2] = {1, 0};
    TT_ASSERT_OK(tt_exec_set_input(f.e, f.lab, wrong, 1));
    TT_ASSERT_OK(tt_exec_forward(f.e, 1, true));
    assert_float_equal(tt_tensor_f32(tt_exec_value(f.e, f.l))[0], 2000.0, 1e-3);
    ce_free(&f);
}

static void ce_gradcheck(void **state)
{
    (void)state;
    ce_fx f;
    ce_build(&f, 5, 3);
    float z[15];
    tt_rng rng;
    tt_rng_seed(&rng, 31, 0);
    tt_test_fill_uniform(z, 15, -3.0f, 3.0f, &rng);
    const int32_t lab[3] = {4, 0, 2};
    TT_ASSERT_OK(tt_exec_set_input(f.e, f.z, z, 3));
    TT_ASSERT_OK(tt_exec_set_input(f.e, f.lab, lab, 3));
    tt_gradcheck_opts o = tt_gradcheck_defaults();
    double worst;
    assert_int_equal(tt_gradcheck(f.e, f.l, 3, &o, &worst), 0);
    ce_free(&f);
}

static void ce_bad_label(void **state)
{
    (void)state;
    ce_fx f;
    ce_build(&f, 3, 3);
    const float z[9] = {0};
    const int32_t bad_hi[3] = {0, 3, 1}, bad_neg[3] = {0, 1, -1};
    TT_ASSERT_OK(tt_exec_set_input(f.e, f.z, z, 3));
    TT_ASSERT_OK(tt_exec_set_input(f.e, f.lab, bad_hi, 3));
    assert_int_equal(tt_exec_forward(f.e, 3, true), TT_ERR_INVALID_ARG);
    assert_non_null(strstr(tt_last_error(), "sample 1"));
    assert_non_null(strstr(tt_last_error(), "'ce'"));
    /* A failed forward leaves nothing to differentiate. */
    assert_int_equal(tt_exec_backward(f.e, f.l), TT_ERR_STATE);
    TT_ASSERT_OK(tt_exec_set_input(f.e, f.lab, bad_neg, 3));
    assert_int_equal(tt_exec_forward(f.e, 3, false), TT_ERR_INVALID_ARG);
    assert_non_null(strstr(tt_last_error(), "sample 2"));
    ce_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mse_l1_values),          cmocka_unit_test(smooth_l1_values),
        cmocka_unit_test(pair_loss_gradcheck),    cmocka_unit_test(pair_loss_errors),
        cmocka_unit_test(pair_losses_accumulate), cmocka_unit_test(ce_values),
        cmocka_unit_test(ce_huge_logits),         cmocka_unit_test(ce_gradcheck),
        cmocka_unit_test(ce_bad_label),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
