/* Elementwise ops: forward values against references computed here, gradients against finite
 * differences, the gradient conventions at kinks, numpy broadcasting for Add/Mul, and Dropout's
 * train/eval behaviour. */
#include <math.h>
#include <stdlib.h>
#include "testutil.h"

/* ---- helpers ---------------------------------------------------------------------------- */

/* x[N, F] (trainable input) -> op -> y. */
typedef struct unary_fx {
    tt_graph *g;
    tt_exec *e;
    int x, y;
} unary_fx;

static void unary_build(unary_fx *f, tt_op_type op, int n_attrs, const tt_attr *attrs, int64_t feat,
                        int64_t max_batch)
{
    TT_ASSERT_OK(tt_graph_create(&f->g));
    int64_t xd[2] = {TT_DIM_BATCH, feat};
    TT_ASSERT_OK(tt_graph_add_input(f->g, "x", TT_F32, 2, xd, &f->x));
    f->g->values[f->x].trainable = true;
    TT_ASSERT_OK(tt_graph_add_node(f->g, op, "y", 1, &f->x, n_attrs, attrs, &f->y));
    TT_ASSERT_OK(tt_exec_create(f->g, max_batch, &f->e));
}

static void unary_free(unary_fx *f)
{
    tt_exec_free(f->e);
    tt_graph_free(f->g);
}

/* Gradient of sum(y) with respect to x at the given points (one row of n features). */
static void unary_grad_at(unary_fx *f, const float *xv, int64_t n, float *dx)
{
    TT_ASSERT_OK(tt_exec_set_input(f->e, f->x, xv, 1));
    TT_ASSERT_OK(tt_exec_forward(f->e, 1, true));
    float ones[64];
    assert_true(n <= 64);
    for (int64_t i = 0; i < n; i++) ones[i] = 1.0f;
    TT_ASSERT_OK(tt_exec_backward_from(f->e, f->y, ones));
    memcpy(dx, tt_exec_grad(f->e, f->x)->data, (size_t)n * sizeof *dx);
}

typedef enum { U_RELU, U_CLIP, U_CLIP_DEFAULT, U_LEAKY, U_LEAKY_DEFAULT, U_SIGMOID, U_TANH } ukind;

static tt_op_type ukind_op(ukind k, int *n_attrs, tt_attr *attrs)
{
    *n_attrs = 0;
    switch (k) {
    case U_RELU:
        return TT_OP_RELU;
    case U_CLIP:
        attrs[0] = tt_attr_float("min", -1.0f);
        attrs[1] = tt_attr_float("max", 2.0f);
        *n_attrs = 2;
        return TT_OP_CLIP;
    case U_CLIP_DEFAULT:
        return TT_OP_CLIP;
    case U_LEAKY:
        attrs[0] = tt_attr_float("alpha", 0.2f);
        *n_attrs = 1;
        return TT_OP_LEAKYRELU;
    case U_LEAKY_DEFAULT:
        return TT_OP_LEAKYRELU;
    case U_SIGMOID:
        return TT_OP_SIGMOID;
    case U_TANH:
        return TT_OP_TANH;
    }
    return TT_OP_COUNT;
}

static double ukind_ref(ukind k, double x)
{
    switch (k) {
    case U_RELU:
        return x > 0 ? x : 0;
    case U_CLIP:
        return x < -1 ? -1 : (x > 2 ? 2 : x);
    case U_CLIP_DEFAULT:
        return x;
    case U_LEAKY:
        return x > 0 ? x : (double)0.2f * x;
    case U_LEAKY_DEFAULT:
        return x > 0 ? x : (double)0.01f * x;
    case U_SIGMOID:
        return 1.0 / (1.0 + exp(-x));
    case U_TANH:
        return tanh(x);
    }
    return NAN;
}

/* ---- unary ops -------------------------------------------------------------------------- */

static void unary_forward_values(void **state)
{
    (void)state;
    const float xv[8] = {-3.0f, -1.5f, -0.25f, 0.5f, 1.75f, 2.5f, 4.0f, -0.75f};
    for (int k = U_RELU; k <= U_TANH; k++) {
        tt_attr attrs[2];
        int na;
        tt_op_type op = ukind_op((ukind)k, &na, attrs);
        unary_fx f;
        unary_build(&f, op, na, attrs, 4, 2);
        TT_ASSERT_OK(tt_exec_set_input(f.e, f.x, xv, 2));
        TT_ASSERT_OK(tt_exec_forward(f.e, 2, false));
        const float *y = tt_tensor_f32(tt_exec_value(f.e, f.y));
        /* The references are double; expf/tanhf are within a few ulp and |y| <= 4, so 1e-6
         * absolute is a few float ulp. */
        for (int i = 0; i < 8; i++) assert_float_equal(y[i], ukind_ref((ukind)k, xv[i]), 1e-6);
        unary_free(&f);
    }
}

static void unary_gradcheck(void **state)
{
    (void)state;
    for (int k = U_RELU; k <= U_TANH; k++) {
        tt_attr attrs[2];
        int na;
        tt_op_type op = ukind_op((ukind)k, &na, attrs);
        unary_fx f;
        unary_build(&f, op, na, attrs, 4, 3);
        float xv[12];
        tt_rng rng;
        tt_rng_seed(&rng, 11 + (uint64_t)k, 0);
        tt_test_fill_uniform(xv, 12, -3.0f, 3.0f, &rng);
        /* Keep every point >= 0.05 from the kinks at -1, 0 and 2 (Clip/Relu/LeakyRelu), far
         * beyond the finite-difference step 1e-3, so no central difference straddles a kink. */
        for (int i = 0; i < 12; i++) {
            const float kinks[3] = {-1.0f, 0.0f, 2.0f};
            for (int j = 0; j < 3; j++)
                if (fabsf(xv[i] - kinks[j]) < 0.05f) xv[i] = kinks[j] + 0.1f;
        }
        TT_ASSERT_OK(tt_exec_set_input(f.e, f.x, xv, 3));
        tt_gradcheck_opts o = tt_gradcheck_defaults();
        double worst;
        int bad = tt_gradcheck(f.e, f.y, 3, &o, &worst);
        if (bad) print_error("op %s failed its gradient check\n", tt_op_name(op));
        assert_int_equal(bad, 0);
        unary_free(&f);
    }
}

/* x feeds two copies of the op whose outputs are added: each backward must add (+=) into
 * dx, not overwrite it, or the check sees half the gradient. */
static void unary_accumulates(void **state)
{
    (void)state;
    for (int k = U_RELU; k <= U_TANH + 1; k++) {
        tt_attr attrs[2];
        int na = 1;
        tt_op_type op = TT_OP_DROPOUT;
        attrs[0] = tt_attr_float("ratio", 0.5f);
        if (k <= U_TANH) op = ukind_op((ukind)k, &na, attrs);
        tt_graph *g;
        TT_ASSERT_OK(tt_graph_create(&g));
        int x, u1, u2, y;
        int64_t xd[2] = {TT_DIM_BATCH, 5};
        TT_ASSERT_OK(tt_graph_add_input(g, "x", TT_F32, 2, xd, &x));
        g->values[x].trainable = true;
        TT_ASSERT_OK(tt_graph_add_node(g, op, "u1", 1, &x, na, attrs, &u1));
        TT_ASSERT_OK(tt_graph_add_node(g, op, "u2", 1, &x, na, attrs, &u2));
        int in[2] = {u1, u2};
        TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_ADD, "y", 2, in, 0, NULL, &y));
        tt_exec *e;
        TT_ASSERT_OK(tt_exec_create(g, 2, &e));
        /* Away from every kink (-1, 0, 2) by more than 0.1. */
        const float xv[10] = {-2.5f, -0.6f, 0.3f, 1.2f, 2.7f, 0.8f, -1.4f, 1.6f, -0.2f, 3.1f};
        TT_ASSERT_OK(tt_exec_set_input(e, x, xv, 2));
        tt_gradcheck_opts o = tt_gradcheck_defaults();
        double worst;
        int bad = tt_gradcheck(e, y, 2, &o, &worst);
        if (bad) print_error("op %s does not accumulate its gradient\n", tt_op_name(op));
        assert_int_equal(bad, 0);
        tt_exec_free(e);
        tt_graph_free(g);
    }
}

/* Gradients exactly at kinks, where finite differences say nothing: the conventions PyTorch
 * 2.x uses (checked with torch: relu'(0) = 0, clamp(x, 0, 6)' = 0 at 0 and 6, leaky_relu'(0) =
 * alpha, l1_loss' = sign(0) = 0). */
static void kink_conventions(void **state)
{
    (void)state;
    float dx[8];
    unary_fx f;

    const float rx[3] = {-1.0f, 0.0f, 1.0f};
    unary_build(&f, TT_OP_RELU, 0, NULL, 3, 1);
    unary_grad_at(&f, rx, 3, dx);
    assert_true(dx[0] == 0.0f && dx[1] == 0.0f && dx[2] == 1.0f);
    unary_free(&f);

    /* ReLU6 = Clip(0, 6): gradient only strictly inside the bounds. */
    tt_attr c6[2] = {tt_attr_float("min", 0.0f), tt_attr_float("max", 6.0f)};
    const float cx[6] = {-1.0f, 0.0f, 3.0f, 6.0f, 7.0f, 5.999f};
    unary_build(&f, TT_OP_CLIP, 2, c6, 6, 1);
    unary_grad_at(&f, cx, 6, dx);
    const float cwant[6] = {0, 0, 1, 0, 0, 1};
    for (int i = 0; i < 6; i++) assert_true(dx[i] == cwant[i]);
    const float *y = tt_tensor_f32(tt_exec_value(f.e, f.y));
    const float cy[6] = {0, 0, 3, 6, 6, 5.999f};
    for (int i = 0; i < 6; i++) assert_true(y[i] == cy[i]);
    unary_free(&f);

    tt_attr la = tt_attr_float("alpha", 0.1f);
    const float lx[3] = {-1.0f, 0.0f, 1.0f};
    unary_build(&f, TT_OP_LEAKYRELU, 1, &la, 3, 1);
    unary_grad_at(&f, lx, 3, dx);
    assert_true(dx[0] == 0.1f && dx[1] == 0.1f && dx[2] == 1.0f);
    unary_free(&f);

    /* L1 at pred == target: gradient 0 for both inputs; elsewhere +-1/n. */
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int p, t, l;
    int64_t d[2] = {TT_DIM_BATCH, 4};
    TT_ASSERT_OK(tt_graph_add_input(g, "p", TT_F32, 2, d, &p));
    TT_ASSERT_OK(tt_graph_add_input(g, "t", TT_F32, 2, d, &t));
    g->values[p].trainable = g->values[t].trainable = true;
    int in[2] = {p, t};
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_L1, "l", 2, in, 0, NULL, &l));
    tt_exec *e;
    TT_ASSERT_OK(tt_exec_create(g, 1, &e));
    const float pv[4] = {1.0f, 2.0f, -3.0f, 0.5f}, tv[4] = {1.0f, 1.0f, -2.0f, 0.5f};
    TT_ASSERT_OK(tt_exec_set_input(e, p, pv, 1));
    TT_ASSERT_OK(tt_exec_set_input(e, t, tv, 1));
    TT_ASSERT_OK(tt_exec_forward(e, 1, true));
    TT_ASSERT_OK(tt_exec_backward(e, l));
    const float *gp = tt_tensor_f32(tt_exec_grad(e, p)), *gt = tt_tensor_f32(tt_exec_grad(e, t));
    const float want[4] = {0.0f, 0.25f, -0.25f, 0.0f};
    for (int i = 0; i < 4; i++) {
        assert_true(gp[i] == want[i]);
        assert_true(gt[i] == -want[i]);
    }
    tt_exec_free(e);
    tt_graph_free(g);
}

static void sigmoid_tanh_extremes(void **state)
{
    (void)state;
    const float xv[6] = {-1000.0f, -100.0f, -88.0f, 88.0f, 100.0f, 1000.0f};
    for (int k = U_SIGMOID; k <= U_TANH; k++) {
        tt_attr attrs[2];
        int na;
        unary_fx f;
        tt_op_type op = ukind_op((ukind)k, &na, attrs);
        unary_build(&f, op, na, attrs, 6, 1);
        float dx[6];
        unary_grad_at(&f, xv, 6, dx);
        const float *y = tt_tensor_f32(tt_exec_value(f.e, f.y));
        for (int i = 0; i < 6; i++) {
            assert_true(isfinite(y[i]) && isfinite(dx[i]));
            assert_true(dx[i] >= 0.0f);
        }
        if (k == U_SIGMOID) {
            assert_true(y[0] >= 0.0f && y[0] < 1e-30f); /* exp(-1000) underflows to 0 */
            /* exp(-100) = 3.7e-44 is a float denormal: e / (1 + e) keeps it, while the naive
             * 1 / (1 + exp(100)) overflows exp to inf and returns 0. */
            assert_true(y[1] > 0.0f && y[1] < 1e-40f);
            assert_true(y[4] == 1.0f && y[5] == 1.0f);
        } else {
            assert_true(y[0] == -1.0f && y[5] == 1.0f);
        }
        unary_free(&f);
    }
}

static void unary_attr_errors(void **state)
{
    (void)state;
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int x, y;
    int64_t xd[2] = {TT_DIM_BATCH, 3};
    TT_ASSERT_OK(tt_graph_add_input(g, "x", TT_F32, 2, xd, &x));
    tt_attr bad[2] = {tt_attr_float("min", 2.0f), tt_attr_float("max", 1.0f)};
    assert_int_equal(tt_graph_add_node(g, TT_OP_CLIP, "clip1", 1, &x, 2, bad, &y),
                     TT_ERR_INVALID_ARG);
    assert_non_null(strstr(tt_last_error(), "'clip1'"));
    tt_attr nan_a = tt_attr_float("alpha", NAN);
    assert_int_equal(tt_graph_add_node(g, TT_OP_LEAKYRELU, "lr", 1, &x, 1, &nan_a, &y),
                     TT_ERR_INVALID_ARG);
    assert_non_null(strstr(tt_last_error(), "'lr'"));
    int lab;
    TT_ASSERT_OK(tt_graph_add_input(g, "lab", TT_I32, 1, xd, &lab));
    assert_int_equal(tt_graph_add_node(g, TT_OP_SIGMOID, "s", 1, &lab, 0, NULL, &y), TT_ERR_SHAPE);
    assert_int_equal(g->n_nodes, 0);
    tt_graph_free(g);
}

/* ---- broadcasting ----------------------------------------------------------------------- */

typedef struct operand {
    int ndim;
    int64_t dims[4]; /* dims[0] == TT_DIM_BATCH makes it a trainable input, else a param */
} operand;

static tt_shape concrete(const operand *o, int64_t n)
{
    tt_shape s;
    s.ndim = o->ndim;
    for (int i = 0; i < 4; i++) s.dims[i] = i < o->ndim ? o->dims[i] : 0;
    if (s.dims[0] == TT_DIM_BATCH) s.dims[0] = n;
    return s;
}

/* Offset into an operand of shape s for output multi-index idx (rank r), numpy style. */
static int64_t bcast_offset(const tt_shape *s, const int64_t *idx, int r)
{
    int64_t off = 0;
    for (int i = 0; i < s->ndim; i++) {
        int64_t k = idx[i + r - s->ndim];
        off = off * s->dims[i] + (s->dims[i] == 1 ? 0 : k);
    }
    return off;
}

/* Build a (op) b, check the inferred shape, forward values, backward against a direct
 * reference accumulation, and finite differences on both operands. */
static void bcast_case(tt_op_type op, operand a, operand b, int ny, const int64_t *ywant,
                       int64_t batch, bool big)
{
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    const operand *ops[2] = {&a, &b};
    int id[2], y;
    for (int w = 0; w < 2; w++) {
        const char *name = w ? "b" : "a";
        if (ops[w]->dims[0] == TT_DIM_BATCH) {
            TT_ASSERT_OK(tt_graph_add_input(g, name, TT_F32, ops[w]->ndim, ops[w]->dims, &id[w]));
            g->values[id[w]].trainable = true;
        } else {
            TT_ASSERT_OK(tt_graph_add_param(g, name, ops[w]->ndim, ops[w]->dims, true, &id[w]));
        }
    }
    TT_ASSERT_OK(tt_graph_add_node(g, op, "y", 2, id, 0, NULL, &y));
    assert_int_equal(g->values[y].shape.ndim, ny);
    for (int i = 0; i < ny; i++) assert_int_equal(g->values[y].shape.dims[i], ywant[i]);

    tt_exec *e;
    TT_ASSERT_OK(tt_exec_create(g, batch, &e));
    tt_rng rng;
    tt_rng_seed(&rng, 42, 0);
    tt_shape s[2];
    float *data[2];
    for (int w = 0; w < 2; w++) {
        s[w] = concrete(ops[w], batch);
        int64_t n = tt_shape_numel(&s[w]);
        data[w] = malloc((size_t)n * sizeof(float));
        tt_test_fill_uniform(data[w], n, -1.0f, 1.0f, &rng);
        if (ops[w]->dims[0] == TT_DIM_BATCH)
            TT_ASSERT_OK(tt_exec_set_input(e, id[w], data[w], batch));
        else
            memcpy(tt_graph_param_data(g, id[w]), data[w], (size_t)n * sizeof(float));
    }
    TT_ASSERT_OK(tt_exec_forward(e, batch, true));
    tt_tensor *yt = tt_exec_value(e, y);
    int64_t ny_el = tt_tensor_numel(yt);
    const float *yv = tt_tensor_f32(yt);
    float *seed = malloc((size_t)ny_el * sizeof(float));
    double *ref[2];
    tt_test_fill_uniform(seed, ny_el, -1.0f, 1.0f, &rng);
    for (int w = 0; w < 2; w++) ref[w] = calloc((size_t)tt_shape_numel(&s[w]), sizeof(double));
    int r = yt->shape.ndim;
    int64_t idx[4] = {0, 0, 0, 0};
    for (int64_t i = 0; i < ny_el; i++) {
        int64_t rem = i;
        for (int d = r - 1; d >= 0; d--) {
            idx[d] = rem % yt->shape.dims[d];
            rem /= yt->shape.dims[d];
        }
        int64_t oa = bcast_offset(&s[0], idx, r), ob = bcast_offset(&s[1], idx, r);
        float va = data[0][oa], vb = data[1][ob];
        /* One float add or multiply per element, the same operation the op does: exact. */
        float want = op == TT_OP_ADD ? va + vb : va * vb;
        if (yv[i] != want) {
            print_error("%s[%lld] = %g, want %g\n", tt_op_name(op), (long long)i, yv[i], want);
            fail();
        }
        ref[0][oa] += (double)seed[i] * (op == TT_OP_MUL ? vb : 1.0f);
        ref[1][ob] += (double)seed[i] * (op == TT_OP_MUL ? va : 1.0f);
    }
    TT_ASSERT_OK(tt_exec_backward_from(e, y, seed));
    for (int w = 0; w < 2; w++) {
        const float *gv = tt_tensor_f32(tt_exec_grad(e, id[w]));
        for (int64_t i = 0; i < tt_shape_numel(&s[w]); i++)
            /* Float sums of up to ~1e5 terms of size <= 1 against double: 1e-5 relative to
             * the number of terms summed covers the rounding. */
            assert_float_equal(gv[i], ref[w][i], 1e-5 * (double)(ny_el / tt_shape_numel(&s[w])));
    }
    if (!big) {
        tt_gradcheck_opts o = tt_gradcheck_defaults();
        double worst;
        assert_int_equal(tt_gradcheck(e, y, batch, &o, &worst), 0);
    }
    for (int w = 0; w < 2; w++) {
        free(data[w]);
        free(ref[w]);
    }
    free(seed);
    tt_exec_free(e);
    tt_graph_free(g);
}

static void bcast_bias_nchw(void **state)
{
    (void)state;
    operand x = {4, {TT_DIM_BATCH, 3, 2, 2}}, b = {4, {1, 3, 1, 1}};
    int64_t yd[4] = {TT_DIM_BATCH, 3, 2, 2};
    bcast_case(TT_OP_ADD, x, b, 4, yd, 2, false);
    bcast_case(TT_OP_MUL, x, b, 4, yd, 2, false);
    bcast_case(TT_OP_ADD, b, x, 4, yd, 2, false); /* operand order does not matter */
}

static void bcast_row_vector(void **state)
{
    (void)state;
    operand x = {2, {TT_DIM_BATCH, 5}}, b = {1, {5}};
    int64_t yd[2] = {TT_DIM_BATCH, 5};
    bcast_case(TT_OP_ADD, x, b, 2, yd, 3, false);
    bcast_case(TT_OP_MUL, b, x, 2, yd, 3, false);
}

static void bcast_outer_product(void **state)
{
    (void)state;
    operand col = {2, {TT_DIM_BATCH, 1}}, row = {2, {1, 4}};
    int64_t yd[2] = {TT_DIM_BATCH, 4};
    bcast_case(TT_OP_MUL, col, row, 2, yd, 3, false);
    bcast_case(TT_OP_ADD, col, row, 2, yd, 3, false);
}

static void bcast_general(void **state)
{
    (void)state;
    /* Both operands broadcast along different axes, ranks differ: [N,1,3] * [2,1] -> [N,2,3]. */
    operand a = {3, {TT_DIM_BATCH, 1, 3}}, b = {2, {2, 1}};
    int64_t yd[3] = {TT_DIM_BATCH, 2, 3};
    bcast_case(TT_OP_MUL, a, b, 3, yd, 2, false);
    bcast_case(TT_OP_ADD, b, a, 3, yd, 2, false);
    /* Two batched inputs, one broadcast along features: [N,1] + [N,3]. */
    operand c = {2, {TT_DIM_BATCH, 1}}, d = {2, {TT_DIM_BATCH, 3}};
    int64_t yd2[2] = {TT_DIM_BATCH, 3};
    bcast_case(TT_OP_ADD, c, d, 2, yd2, 3, false);
    /* Same shape (the flat fast path) and a scalar [1]. */
    bcast_case(TT_OP_MUL, d, d, 2, yd2, 2, false);
    operand one = {1, {1}};
    bcast_case(TT_OP_MUL, d, one, 2, yd2, 2, false);
}

/* Above the OpenMP threshold (65536 elements) the parallel loops run; same reference. */
static void bcast_large(void **state)
{
    (void)state;
    operand x = {2, {TT_DIM_BATCH, 40000}}, w = {2, {1, 40000}};
    int64_t yd[2] = {TT_DIM_BATCH, 40000};
    bcast_case(TT_OP_MUL, x, w, 2, yd, 3, true);
    bcast_case(TT_OP_ADD, x, x, 2, yd, 3, true);
    operand c = {4, {TT_DIM_BATCH, 4, 100, 100}}, cb = {4, {1, 4, 1, 1}};
    int64_t yd4[4] = {TT_DIM_BATCH, 4, 100, 100};
    bcast_case(TT_OP_ADD, c, cb, 4, yd4, 3, true);
}

static void bcast_errors(void **state)
{
    (void)state;
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int x, v, p, q, y;
    int64_t xd[2] = {TT_DIM_BATCH, 3}, vd[1] = {TT_DIM_BATCH}, pd[2] = {4, 3}, qd[2] = {3, 1};
    TT_ASSERT_OK(tt_graph_add_input(g, "x", TT_F32, 2, xd, &x));
    TT_ASSERT_OK(tt_graph_add_input(g, "v", TT_F32, 1, vd, &v));
    TT_ASSERT_OK(tt_graph_add_param(g, "p", 2, pd, true, &p));
    TT_ASSERT_OK(tt_graph_add_param(g, "q", 2, qd, true, &q));
    /* The batch N only broadcasts with N or 1, never with a fixed 4. */
    int xp[2] = {x, p};
    assert_int_equal(tt_graph_add_node(g, TT_OP_ADD, "add_np", 2, xp, 0, NULL, &y), TT_ERR_SHAPE);
    assert_non_null(strstr(tt_last_error(), "'add_np'"));
    /* [N] * [3, 1] would put the batch in dimension 1. */
    int vq[2] = {v, q};
    assert_int_equal(tt_graph_add_node(g, TT_OP_MUL, "mul_vq", 2, vq, 0, NULL, &y), TT_ERR_SHAPE);
    assert_non_null(strstr(tt_last_error(), "'mul_vq'"));
    /* [N, 3] + [3, 1]: 3 against N in dimension 0. */
    int xq[2] = {x, q};
    assert_int_equal(tt_graph_add_node(g, TT_OP_ADD, "add_xq", 2, xq, 0, NULL, &y), TT_ERR_SHAPE);
    /* [4, 3] + [3, 1]: 4 vs 3. */
    int pq[2] = {p, q};
    assert_int_equal(tt_graph_add_node(g, TT_OP_ADD, "add_pq", 2, pq, 0, NULL, &y), TT_ERR_SHAPE);
    assert_non_null(strstr(tt_last_error(), "'add_pq'"));
    assert_int_equal(g->n_nodes, 0);
    tt_graph_free(g);
}

/* ---- dropout ---------------------------------------------------------------------------- */

static void dropout_build(unary_fx *f, float ratio, int64_t feat, int64_t max_batch)
{
    tt_attr r = tt_attr_float("ratio", ratio);
    unary_build(f, TT_OP_DROPOUT, 1, &r, feat, max_batch);
}

static void dropout_eval_identity(void **state)
{
    (void)state;
    unary_fx f;
    dropout_build(&f, 0.5f, 100, 2);
    float xv[200];
    tt_rng rng;
    tt_rng_seed(&rng, 3, 0);
    tt_test_fill_uniform(xv, 200, -2.0f, 2.0f, &rng);
    TT_ASSERT_OK(tt_exec_set_input(f.e, f.x, xv, 2));
    TT_ASSERT_OK(tt_exec_forward(f.e, 2, false));
    assert_memory_equal(tt_exec_value(f.e, f.y)->data, xv, sizeof xv);
    unary_free(&f);
    /* ratio 0 is the identity in training as well, with gradient dy. */
    dropout_build(&f, 0.0f, 100, 2);
    TT_ASSERT_OK(tt_exec_set_input(f.e, f.x, xv, 2));
    TT_ASSERT_OK(tt_exec_forward(f.e, 2, true));
    assert_memory_equal(tt_exec_value(f.e, f.y)->data, xv, sizeof xv);
    TT_ASSERT_OK(tt_exec_backward_from(f.e, f.y, xv));
    assert_memory_equal(tt_exec_grad(f.e, f.x)->data, xv, sizeof xv);
    unary_free(&f);
}

static void dropout_training_stats(void **state)
{
    (void)state;
    const float ratio = 0.3f;
    const int64_t feat = 5000, batch = 4, n = feat * batch;
    unary_fx f;
    dropout_build(&f, ratio, feat, batch);
    float *xv = malloc((size_t)n * sizeof *xv), *seed = malloc((size_t)n * sizeof *seed);
    tt_rng rng;
    tt_rng_seed(&rng, 8, 0);
    tt_test_fill_uniform(xv, n, 0.5f, 1.5f, &rng); /* nonzero, so a 0 output means dropped */
    tt_test_fill_uniform(seed, n, -1.0f, 1.0f, &rng);
    TT_ASSERT_OK(tt_exec_set_input(f.e, f.x, xv, batch));
    tt_exec_seed(f.e, 77);
    TT_ASSERT_OK(tt_exec_forward(f.e, batch, true));
    const float *y = tt_tensor_f32(tt_exec_value(f.e, f.y));
    const float scale = 1.0f / (1.0f - ratio);
    int64_t kept = 0;
    for (int64_t i = 0; i < n; i++) {
        if (y[i] == 0.0f) continue;
        kept++;
        assert_true(y[i] == xv[i] * scale); /* the same single float multiply */
    }
    /* kept ~ Binomial(n, 0.7): sd = sqrt(n p (1-p)) = 65 elements. Five sd (|frac - 0.7| <
     * 0.0163) would fail a correct mask with probability < 1e-6; the draw is seeded anyway. */
    double frac = (double)kept / (double)n, tol = 5.0 * sqrt(0.7 * 0.3 / (double)n);
    assert_true(fabs(frac - 0.7) < tol);
    /* Backward uses the same mask: dx = dy * scale where kept, 0 where dropped. */
    TT_ASSERT_OK(tt_exec_backward_from(f.e, f.y, seed));
    const float *dx = tt_tensor_f32(tt_exec_grad(f.e, f.x));
    for (int64_t i = 0; i < n; i++) assert_true(dx[i] == (y[i] != 0.0f ? seed[i] * scale : 0.0f));

    /* Same seed -> the same mask; another seed -> a different one. */
    float *y1 = malloc((size_t)n * sizeof *y1);
    memcpy(y1, y, (size_t)n * sizeof *y1);
    tt_exec_seed(f.e, 77);
    TT_ASSERT_OK(tt_exec_forward(f.e, batch, true));
    assert_memory_equal(tt_exec_value(f.e, f.y)->data, y1, (size_t)n * sizeof *y1);
    tt_exec_seed(f.e, 78);
    TT_ASSERT_OK(tt_exec_forward(f.e, batch, true));
    assert_memory_not_equal(tt_exec_value(f.e, f.y)->data, y1, (size_t)n * sizeof *y1);
    free(y1);
    free(xv);
    free(seed);
    unary_free(&f);
}

static void dropout_gradcheck(void **state)
{
    (void)state;
    unary_fx f;
    dropout_build(&f, 0.5f, 6, 3);
    float xv[18];
    tt_rng rng;
    tt_rng_seed(&rng, 9, 0);
    tt_test_fill_uniform(xv, 18, -1.0f, 1.0f, &rng);
    TT_ASSERT_OK(tt_exec_set_input(f.e, f.x, xv, 3));
    /* tt_gradcheck re-seeds the executor before every forward: the mask is fixed. */
    tt_gradcheck_opts o = tt_gradcheck_defaults();
    o.seed = 2024;
    double worst;
    assert_int_equal(tt_gradcheck(f.e, f.y, 3, &o, &worst), 0);
    unary_free(&f);
}

static void dropout_bad_ratio(void **state)
{
    (void)state;
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int x, y;
    int64_t xd[2] = {TT_DIM_BATCH, 3};
    TT_ASSERT_OK(tt_graph_add_input(g, "x", TT_F32, 2, xd, &x));
    const float bad[3] = {1.0f, -0.1f, NAN};
    for (int i = 0; i < 3; i++) {
        tt_attr r = tt_attr_float("ratio", bad[i]);
        assert_int_equal(tt_graph_add_node(g, TT_OP_DROPOUT, "drop", 1, &x, 1, &r, &y),
                         TT_ERR_INVALID_ARG);
        assert_non_null(strstr(tt_last_error(), "'drop'"));
    }
    assert_int_equal(g->n_nodes, 0);
    tt_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unary_forward_values),  cmocka_unit_test(unary_gradcheck),
        cmocka_unit_test(unary_accumulates),     cmocka_unit_test(kink_conventions),
        cmocka_unit_test(sigmoid_tanh_extremes), cmocka_unit_test(unary_attr_errors),
        cmocka_unit_test(bcast_bias_nchw),       cmocka_unit_test(bcast_row_vector),
        cmocka_unit_test(bcast_outer_product),   cmocka_unit_test(bcast_general),
        cmocka_unit_test(bcast_large),           cmocka_unit_test(bcast_errors),
        cmocka_unit_test(dropout_eval_identity), cmocka_unit_test(dropout_training_stats),
        cmocka_unit_test(dropout_gradcheck),     cmocka_unit_test(dropout_bad_ratio),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
