/* BiasFakeQuant: the bias rounded to int32 at x_scale * w_scale, exactly as the export writes it
 * (tt_quantize_bias), per channel and per tensor; the straight-through gradient; pass-through
 * when disabled; and an int32 overflow refused with the node named. */
#include <math.h>
#include "testutil.h"

typedef struct fx {
    tt_graph *g;
    tt_exec *e;
    int b, xs, ws, y;
} fx;

static void build(fx *f, int64_t c, int64_t nws, float xs, const float *ws, int enabled)
{
    TT_ASSERT_OK(tt_graph_create(&f->g));
    int64_t one = 1;
    TT_ASSERT_OK(tt_graph_add_param(f->g, "b", 1, &c, true, &f->b));
    TT_ASSERT_OK(tt_graph_add_param(f->g, "xs", 1, &one, false, &f->xs));
    TT_ASSERT_OK(tt_graph_add_param(f->g, "ws", 1, &nws, false, &f->ws));
    tt_graph_param_data(f->g, f->xs)[0] = xs;
    memcpy(tt_graph_param_data(f->g, f->ws), ws, (size_t)nws * sizeof(float));
    int in[3] = {f->b, f->xs, f->ws};
    tt_attr at = tt_attr_int("enabled", enabled);
    TT_ASSERT_OK(tt_graph_add_node(f->g, TT_OP_BIAS_QUANT, "bq", 3, in, 1, &at, &f->y));
    TT_ASSERT_OK(tt_exec_create(f->g, 1, &f->e));
}

static void done(fx *f)
{
    tt_exec_free(f->e);
    tt_graph_free(f->g);
}

static void forward_matches_export(void **state)
{
    (void)state;
    const float ws[3] = {0.013f, 0.0021f, 0.5f}, b[3] = {0.37f, -1.234f, 0.0009f};
    for (int64_t nws = 1; nws <= 3; nws += 2) {
        fx f;
        build(&f, 3, nws, 0.0078f, ws, 1);
        memcpy(tt_graph_param_data(f.g, f.b), b, sizeof b);
        TT_ASSERT_OK(tt_exec_forward(f.e, 1, true));
        const float *y = tt_tensor_f32(tt_exec_value(f.e, f.y));
        int32_t q[3];
        TT_ASSERT_OK(tt_quantize_bias(b, 3, 0.0078f, ws, nws, q));
        for (int k = 0; k < 3; k++) {
            float s = tt_quant_bias_scale(0.0078f, ws[nws == 1 ? 0 : k]);
            assert_true(y[k] == (float)q[k] * s); /* bit for bit: the same two operations */
            assert_true(fabsf(y[k] - b[k]) <= 0.5f * s * 1.0001f);
        }
        /* Straight through: the upstream gradient reaches the bias unchanged. */
        float seed[3] = {0.5f, -2.0f, 3.0f};
        TT_ASSERT_OK(tt_exec_backward_from(f.e, f.y, seed));
        const float *db = tt_tensor_f32(tt_exec_grad(f.e, f.b));
        for (int k = 0; k < 3; k++) assert_true(db[k] == seed[k]);
        assert_null(tt_exec_grad(f.e, f.xs));
        done(&f);
    }
}

static void disabled_and_overflow(void **state)
{
    (void)state;
    const float ws[2] = {1e-6f, 1e-6f}, b[2] = {0.37f, 5e4f};
    fx f;
    build(&f, 2, 2, 1e-6f, ws, 0);
    memcpy(tt_graph_param_data(f.g, f.b), b, sizeof b);
    TT_ASSERT_OK(tt_exec_forward(f.e, 1, false));
    assert_memory_equal(tt_exec_value(f.e, f.y)->data, b, sizeof b);
    done(&f);
    /* 5e4 / 1e-12 is far beyond int32: refused, naming the node. */
    build(&f, 2, 2, 1e-6f, ws, 1);
    memcpy(tt_graph_param_data(f.g, f.b), b, sizeof b);
    assert_int_equal(tt_exec_forward(f.e, 1, false), TT_ERR_NUMERIC);
    assert_non_null(strstr(tt_last_error(), "node 'bq' (BiasFakeQuant)"));
    done(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(forward_matches_export),
        cmocka_unit_test(disabled_and_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
