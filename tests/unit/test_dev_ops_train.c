/* Device op matrix, train group: Gemm, MatMul, BatchNormalization, Dropout,
 * SoftmaxCrossEntropy, the MSE / L1 / SmoothL1 losses, Sigmoid, Tanh, LeakyRelu, Clip, Softmax,
 * Mul / Sub / Div of equal shapes, forward (training and eval where they differ) and backward
 * against the CPU executor, plus the Adam / AdamW step kernel against tt_optim_step. Shapes are
 * odd-sized (N = 5, C = 7, K = 13, ...). Runs on $TT_TEST_BACKEND; exits 77 without a device.
 *
 * Tolerances (NMSE = sum (dev - cpu)^2 / sum cpu^2; 0 demands equal bits):
 * - Gemm / MatMul: 1e-10. The device sums each output's K products in order with FMAs, OpenBLAS
 *   in blocks with its own vectorised order: a float sum of K zero-mean terms has a relative
 *   rounding error near u sqrt(K) (u = 2^-24), an NMSE near u^2 K = 1.8e-12 at K = 500, the
 *   largest here, per side; 1e-10 leaves a margin of about 25, while an indexing or transpose
 *   bug gives an NMSE of order 1 (docs/backends.md, the sgemm test). The bias gradient is the
 *   CPU's loop order but shares the case's tolerance.
 * - exp / log / tanh (SoftmaxCrossEntropy, Sigmoid, Tanh, Softmax): 1e-10. These are each
 *   platform's own functions (glibc's vs PoCL's or CUDA's), within a few ulp of each other, so
 *   each element differs by a relative 2^-22 or so at most, an NMSE below 1e-13; everything
 *   around them is the CPU's arithmetic in the CPU's order.
 * - Everything else is bit-exact: BatchNorm (the double sums in the CPU build's SIMD lane
 *   order, see k_train.h), Dropout (the same mask from the same RNG), the losses (one thread
 *   summing in the CPU's serial order), LeakyRelu, Clip, Mul, Sub, Div and the Adam step. */
#include "dev_harness.h"
#include "testutil.h"
#include "kernels/shared/device.h"
#include <math.h>
#include <stdlib.h>

#define IN(nm, nd, ...)                                                                            \
    {                                                                                              \
        nm, TT_F32, nd, {__VA_ARGS__}, TT_DH_INPUT, true, -2.0, 2.0                                \
    }
#define IN_NG(nm, nd, ...)                                                                         \
    {                                                                                              \
        nm, TT_F32, nd, {__VA_ARGS__}, TT_DH_INPUT, false, -2.0, 2.0                               \
    }
#define W(nm, nd, ...)                                                                             \
    {                                                                                              \
        nm, TT_F32, nd, {__VA_ARGS__}, TT_DH_WEIGHT, true, -1.0, 1.0                               \
    }
#define CONST(nm, lo, hi, nd, ...)                                                                 \
    {                                                                                              \
        nm, TT_F32, nd, {__VA_ARGS__}, TT_DH_CONST, false, lo, hi                                  \
    }
#define LABELS(nm, n, top)                                                                         \
    {                                                                                              \
        nm, TT_I32, 1, {n}, TT_DH_INPUT, false, 0.0, top                                           \
    }
#define NONE                                                                                       \
    {                                                                                              \
        NULL                                                                                       \
    }

#define GEMM_NMSE 1e-10
#define EXP_NMSE  1e-10

static void run(const tt_dh_case *c)
{
    assert_int_equal(tt_dh_run(c, tt_dh_backend()), 0);
}

/* ---- Gemm, MatMul ---- */

static void gemm(void **state)
{
    (void)state;
    tt_dh_case c = {"Gemm",
                    TT_OP_GEMM,
                    3,
                    {IN("x", 2, 5, 13), W("w", 2, 7, 13), W("b", 1, 7)},
                    .training = true,
                    .nmse = GEMM_NMSE,
                    .seed = 11};
    run(&c);
    c.label = "Gemm, no bias";
    c.in[2] = (tt_dh_input)NONE;
    run(&c);
    tt_dh_case big = {"Gemm, x without gradient, K = 500",
                      TT_OP_GEMM,
                      3,
                      {IN_NG("x", 2, 33, 500), W("w", 2, 17, 500), W("b", 1, 17)},
                      .training = true,
                      .nmse = GEMM_NMSE,
                      .seed = 12};
    run(&big);
    c.label = "Gemm eval";
    c.training = false;
    run(&c);
}

static void matmul(void **state)
{
    (void)state;
    tt_dh_case c = {
        "MatMul",         TT_OP_MATMUL,      2,         {IN("a", 2, 5, 13), W("b", 2, 13, 7)},
        .training = true, .nmse = GEMM_NMSE, .seed = 13};
    run(&c);
    c.label = "MatMul, a without gradient";
    c.in[0].grad = false;
    run(&c);
}

/* ---- BatchNormalization: X, scale, bias, running_mean, running_var ---- */

static tt_dh_case bn_case(const char *label, int nd, const int64_t *dims, uint64_t seed)
{
    int64_t ch = dims[1];
    tt_dh_case c = {label,
                    TT_OP_BATCHNORM,
                    5,
                    {{"x", TT_F32, nd, {0}, TT_DH_INPUT, true, -2.0, 3.0},
                     W("scale", 1, ch),
                     W("bias", 1, ch),
                     CONST("running_mean", -0.5, 0.5, 1, ch),
                     CONST("running_var", 0.5, 2.0, 1, ch)},
                    .training = true,
                    .seed = seed};
    for (int i = 0; i < nd; i++) c.in[0].dims[i] = dims[i];
    return c;
}

static void batchnorm_training(void **state)
{
    (void)state;
    /* spatial 9 (two lane blocks and a tail), 13, 1 (tail only), 4 (no tail) */
    const int64_t d4[4] = {5, 7, 3, 3}, d3[3] = {6, 3, 13}, d2[2] = {9, 5}, d4b[4] = {3, 2, 2, 2};
    tt_dh_case c = bn_case("BatchNorm training [5,7,3,3]", 4, d4, 21);
    run(&c);
    c = bn_case("BatchNorm training [6,3,13]", 3, d3, 22);
    run(&c);
    c = bn_case("BatchNorm training [9,5]", 2, d2, 23);
    run(&c);
    c = bn_case("BatchNorm training [3,2,2,2]", 4, d4b, 24);
    run(&c);
    /* |mean| >> std: the (hi, lo) pair of the mean matters */
    c = bn_case("BatchNorm training, large mean", 4, d4, 25);
    c.in[0].lo = 1000.0;
    c.in[0].hi = 1000.5;
    run(&c);
    /* momentum and epsilon attributes; scale and bias without gradients */
    c = bn_case("BatchNorm training, attributes", 3, d3, 26);
    c.n_attrs = 2;
    c.attrs[0] = tt_attr_float("momentum", 0.3f);
    c.attrs[1] = tt_attr_float("epsilon", 1e-3f);
    c.in[1].kind = c.in[2].kind = TT_DH_CONST;
    run(&c);
}

static void batchnorm_eval_frozen(void **state)
{
    (void)state;
    const int64_t d4[4] = {5, 7, 3, 3};
    tt_dh_case c = bn_case("BatchNorm eval", 4, d4, 31);
    c.training = false;
    run(&c);
    c = bn_case("BatchNorm frozen (training with running statistics)", 4, d4, 32);
    c.n_attrs = 1;
    c.attrs[0] = tt_attr_int("frozen", 1);
    run(&c);
}

/* ---- Dropout ---- */

static void dropout(void **state)
{
    (void)state;
    tt_dh_case c = {"Dropout 0.3",
                    TT_OP_DROPOUT,
                    1,
                    {IN("x", 3, 5, 7, 13)},
                    1,
                    {tt_attr_float("ratio", 0.3f)},
                    .training = true,
                    .seed = 41};
    run(&c);
    c.label = "Dropout default ratio";
    c.n_attrs = 0;
    c.seed = 42;
    run(&c);
    c.label = "Dropout ratio 0";
    c.n_attrs = 1;
    c.attrs[0] = tt_attr_float("ratio", 0.0f);
    run(&c);
    c.label = "Dropout eval";
    c.attrs[0] = tt_attr_float("ratio", 0.6f);
    c.training = false;
    run(&c);
}

/* ---- SoftmaxCrossEntropy ---- */

static void softmax_ce(void **state)
{
    (void)state;
    tt_dh_case c = {
        "SoftmaxCE",      TT_OP_SOFTMAX_CE, 2,         {IN("logits", 2, 5, 7), LABELS("y", 5, 6)},
        .training = true, .nmse = EXP_NMSE, .seed = 51};
    c.in[0].lo = -8.0;
    c.in[0].hi = 8.0;
    run(&c);
    tt_dh_case big = {"SoftmaxCE [37,10]",
                      TT_OP_SOFTMAX_CE,
                      2,
                      {IN("logits", 2, 37, 10), LABELS("y", 37, 9)},
                      .training = true,
                      .nmse = EXP_NMSE,
                      .seed = 52};
    run(&big);
}

/* A label outside 0..C-1 is refused on the device with the CPU op's message. The CPU refuses
 * first in the harness, so this runs the device executor alone. */
static void softmax_ce_bad_label(void **state)
{
    (void)state;
    tt_graph *g;
    int ids[2], out;
    int64_t zd[2] = {3, 4}, ld = 3;
    TT_ASSERT_OK(tt_graph_create(&g));
    TT_ASSERT_OK(tt_graph_add_input(g, "z", TT_F32, 2, zd, &ids[0]));
    TT_ASSERT_OK(tt_graph_add_input(g, "y", TT_I32, 1, &ld, &ids[1]));
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_SOFTMAX_CE, "ce", 2, ids, 0, NULL, &out));
    tt_exec *e;
    TT_ASSERT_OK(tt_exec_create_on(g, 1, tt_dh_backend(), &e));
    float z[12] = {0};
    int32_t y[3] = {1, 7, -1};
    TT_ASSERT_OK(tt_exec_set_input(e, ids[0], z, 3));
    TT_ASSERT_OK(tt_exec_set_input(e, ids[1], y, 3));
    assert_int_equal(tt_exec_forward(e, 1, true), TT_ERR_INVALID_ARG);
    assert_non_null(strstr(tt_last_error(), "label 7 of sample 1 is outside 0..3"));
    y[1] = 2; /* a good batch afterwards still runs */
    TT_ASSERT_OK(tt_exec_set_input(e, ids[1], y, 3));
    assert_int_equal(tt_exec_forward(e, 1, true), TT_ERR_INVALID_ARG);
    assert_non_null(strstr(tt_last_error(), "label -1 of sample 2"));
    y[2] = 0;
    TT_ASSERT_OK(tt_exec_set_input(e, ids[1], y, 3));
    TT_ASSERT_OK(tt_exec_forward(e, 1, true));
    tt_exec_free(e);
    tt_graph_free(g);
}

/* ---- MSELoss, L1Loss, SmoothL1Loss ---- */

static void losses(void **state)
{
    (void)state;
    tt_dh_case c = {"MSELoss",        TT_OP_MSE, 2, {IN("p", 3, 5, 7, 3), IN("t", 3, 5, 7, 3)},
                    .training = true, .seed = 61};
    run(&c);
    c.label = "L1Loss";
    c.op = TT_OP_L1;
    run(&c);
    c.label = "SmoothL1Loss";
    c.op = TT_OP_SMOOTH_L1;
    run(&c);
    c.label = "SmoothL1Loss beta 0.5, target without gradient";
    c.n_attrs = 1;
    c.attrs[0] = tt_attr_float("beta", 0.5f);
    c.in[1].grad = false;
    run(&c);
    c.label = "SmoothL1Loss beta 0";
    c.attrs[0] = tt_attr_float("beta", 0.0f);
    run(&c);
    /* p = t everywhere: sign(0) = 0 */
    c.label = "L1Loss, p = t = 0";
    c.op = TT_OP_L1;
    c.n_attrs = 0;
    c.in[0].lo = c.in[1].lo = 0.0;
    c.in[0].hi = c.in[1].hi = 0.0;
    run(&c);
}

/* ---- Sigmoid, Tanh, LeakyRelu, Clip, Softmax ---- */

static void activations(void **state)
{
    (void)state;
    tt_dh_case c = {"Sigmoid",        TT_OP_SIGMOID,    1,         {IN("x", 3, 5, 7, 13)},
                    .training = true, .nmse = EXP_NMSE, .seed = 71};
    c.in[0].lo = -8.0;
    c.in[0].hi = 8.0;
    run(&c);
    c.label = "Tanh";
    c.op = TT_OP_TANH;
    run(&c);
    c.label = "LeakyRelu default alpha";
    c.op = TT_OP_LEAKYRELU;
    c.nmse = 0;
    run(&c);
    c.label = "LeakyRelu alpha 0.2";
    c.n_attrs = 1;
    c.attrs[0] = tt_attr_float("alpha", 0.2f);
    run(&c);
    c.label = "Clip";
    c.op = TT_OP_CLIP;
    c.n_attrs = 2;
    c.attrs[0] = tt_attr_float("min", -0.5f);
    c.attrs[1] = tt_attr_float("max", 0.7f);
    run(&c);
    c.label = "Clip unbounded";
    c.n_attrs = 0;
    run(&c);
}

static void softmax(void **state)
{
    (void)state;
    tt_dh_case c = {"Softmax axis -1",        TT_OP_SOFTMAX,    1,
                    {IN_NG("x", 3, 5, 7, 3)}, .nmse = EXP_NMSE, .seed = 81};
    run(&c);
    c.label = "Softmax axis 1";
    c.n_attrs = 1;
    c.attrs[0] = tt_attr_int("axis", 1);
    run(&c);
    c.label = "Softmax axis 0";
    c.attrs[0] = tt_attr_int("axis", 0);
    run(&c);
}

/* ---- Mul, Sub, Div of equal shapes ---- */

static void binary(void **state)
{
    (void)state;
    tt_dh_case c = {
        "Mul",     TT_OP_MUL, 2, {IN("a", 3, 5, 7, 13), IN("b", 3, 5, 7, 13)}, .training = true,
        .seed = 91};
    run(&c);
    c.label = "Mul, b without gradient";
    c.in[1].grad = false;
    run(&c);
    c.label = "Sub";
    c.op = TT_OP_SUB;
    c.training = false;
    c.in[0].grad = false;
    run(&c);
    c.label = "Div";
    c.op = TT_OP_DIV;
    c.in[1].lo = 0.25;
    run(&c);
}

/* Broadcasting (core group, kernels.h tt_bcast_*): the CPU's plan, its loops and, for Mul's
 * reducing backward, its summation order, so bit for bit. */
static void binary_broadcast(void **state)
{
    (void)state;
    tt_op_type ops[3] = {TT_OP_MUL, TT_OP_SUB, TT_OP_DIV};
    for (int i = 0; i < 3; i++) {
        tt_dh_case c = {tt_op_name(ops[i]),
                        ops[i],
                        2,
                        {IN("a", 2, 4, 3), IN("b", 1, 3)},
                        .training = ops[i] == TT_OP_MUL,
                        .seed = 3};
        c.in[1].lo = 0.25; /* Div: no zero */
        run(&c);
        tt_dh_case outer = {tt_op_name(ops[i]),
                            ops[i],
                            2,
                            {IN("a", 2, 5, 1), IN("b", 2, 1, 6)},
                            .training = ops[i] == TT_OP_MUL,
                            .seed = 4};
        outer.in[1].lo = 0.25;
        run(&outer);
        tt_dh_case chan = {tt_op_name(ops[i]),
                           ops[i],
                           2,
                           {IN("a", 4, 3, 5, 7, 9), IN("b", 4, 1, 5, 1, 1)},
                           .training = ops[i] == TT_OP_MUL,
                           .seed = 5};
        chan.in[1].lo = 0.25;
        run(&chan);
    }
}

/* Mul(x, x): both contributions accumulate into the one gradient, as on the CPU. */
static void mul_same_input(void **state)
{
    (void)state;
    tt_graph *gs[2];
    tt_exec *es[2];
    const char *bk[2] = {"cpu", tt_dh_backend()};
    int64_t d = 23;
    float x[23], seed[23];
    tt_rng r;
    tt_rng_seed(&r, 5, 5);
    tt_test_fill_uniform(x, d, -2.0f, 2.0f, &r);
    tt_test_fill_uniform(seed, d, -1.0f, 1.0f, &r);
    for (int s = 0; s < 2; s++) {
        int id, ids[2], out;
        TT_ASSERT_OK(tt_graph_create(&gs[s]));
        TT_ASSERT_OK(tt_graph_add_input(gs[s], "x", TT_F32, 1, &d, &id));
        gs[s]->values[id].trainable = true;
        ids[0] = ids[1] = id;
        TT_ASSERT_OK(tt_graph_add_node(gs[s], TT_OP_MUL, "m", 2, ids, 0, NULL, &out));
        TT_ASSERT_OK(tt_exec_create_on(gs[s], 1, bk[s], &es[s]));
        TT_ASSERT_OK(tt_exec_set_input(es[s], id, x, d));
        TT_ASSERT_OK(tt_exec_forward(es[s], 1, true));
        TT_ASSERT_OK(tt_exec_backward_from(es[s], out, seed));
    }
    int id = gs[0]->nodes[0].in[0];
    tt_tensor *a = tt_exec_grad(es[0], id), *b = tt_exec_grad(es[1], id);
    assert_memory_equal(a->data, b->data, sizeof x);
    for (int s = 0; s < 2; s++) {
        tt_exec_free(es[s]);
        tt_graph_free(gs[s]);
    }
}

/* ---- Adam / AdamW: tt_train_adam_step against tt_optim_step, bit for bit ---- */

typedef struct adam_dev {
    tt_dev *d;
    tt_dbuf *p, *g, *m, *v;
} adam_dev;

static const tt_device_ops *backend_ops(void)
{
    return strncmp(tt_dh_backend(), "cuda", 4) == 0 ? tt_device_cuda() : tt_device_opencl();
}

static tt_dbuf *dev_buf(tt_dev *d, const float *src, int64_t n)
{
    tt_dbuf *b = NULL;
    size_t bytes = (size_t)n * sizeof(float);
    TT_ASSERT_OK(d->ops->alloc(d, bytes, &b));
    if (src)
        TT_ASSERT_OK(d->ops->write_at(d, b, 0, src, bytes));
    else
        TT_ASSERT_OK(d->ops->zero(d, b, 0, bytes));
    return b;
}

static void assert_dev_equals(const char *what, tt_dev *d, const tt_dbuf *b, const float *want,
                              int64_t n)
{
    float *got = malloc((size_t)n * sizeof *got);
    assert_non_null(got);
    TT_ASSERT_OK(d->ops->read_at(d, b, 0, got, (size_t)n * sizeof(float)));
    for (int64_t i = 0; i < n; i++)
        if (memcmp(&got[i], &want[i], sizeof(float)) != 0) {
            print_error("%s: element %lld: device %.9g, cpu %.9g\n", what, (long long)i,
                        (double)got[i], (double)want[i]);
            fail();
        }
    free(got);
}

/* The scalars as adam_update rounds them on the host, then the kernel. */
static tt_status adam_launch(const adam_dev *a, const tt_optim_config *c, int64_t n, float lr,
                             int64_t t)
{
    double bc1 = 1.0 - pow((double)c->beta1, (double)t);
    double bc2 = 1.0 - pow((double)c->beta2, (double)t);
    float w1 = (float)(1.0 - (double)c->beta1), w2 = (float)(1.0 - (double)c->beta2);
    float neg_step = (float)(-((double)lr / bc1));
    float bc2_sqrt = (float)sqrt(bc2);
    float decay = (float)(1.0 - (double)lr * (double)c->weight_decay);
    return TT_DEV_LAUNCH(a->d, "tt_train_adam_step", n, TT_KBUF(a->p), TT_KBUF(a->g), TT_KBUF(a->m),
                         TT_KBUF(a->v), TT_KI64(n), TT_KF32(c->weight_decay), TT_KF32(c->eps),
                         TT_KF32(c->beta2), TT_KF32(w1), TT_KF32(w2), TT_KF32(neg_step),
                         TT_KF32(bc2_sqrt), TT_KF32(decay), TT_KI32(c->kind == TT_OPTIM_ADAMW));
}

static void run_adam(tt_dev *d, const tt_optim_config *cfg, int64_t n, tt_rng *rng)
{
    size_t fb = (size_t)n * sizeof(float);
    float *w = malloc(fb), *grad = malloc(fb);
    assert_true(w && grad);
    tt_test_fill_uniform(w, n, -1.0f, 1.0f, rng);
    /* the CPU side: a graph whose one parameter the optimiser updates */
    tt_graph *g;
    tt_exec *e;
    int id, out;
    TT_ASSERT_OK(tt_graph_create(&g));
    TT_ASSERT_OK(tt_graph_add_param(g, "w", 1, &n, true, &id));
    memcpy(tt_graph_param_data(g, id), w, fb);
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_RELU, "r", 1, &id, 0, NULL, &out));
    TT_ASSERT_OK(tt_exec_create(g, 1, &e));
    TT_ASSERT_OK(tt_exec_forward(e, 1, true));
    for (int64_t i = 0; i < n; i++) grad[i] = 1.0f;
    TT_ASSERT_OK(tt_exec_backward_from(e, out, grad));
    tt_optim *o;
    TT_ASSERT_OK(tt_optim_create(cfg, e, &o));
    adam_dev a = {d, dev_buf(d, w, n), dev_buf(d, NULL, n), dev_buf(d, NULL, n),
                  dev_buf(d, NULL, n)};
    static const float lrs[5] = {1e-3f, 0.05f, 0.0123f, 0.3f, 1e-4f};
    for (int step = 0; step < 5; step++) {
        for (int64_t i = 0; i < n; i++) grad[i] = i % 7 == 3 ? 0.0f : tt_rng_normal(rng);
        memcpy(tt_tensor_f32(tt_exec_grad(e, id)), grad, fb);
        TT_ASSERT_OK(tt_optim_step(o, lrs[step]));
        TT_ASSERT_OK(d->ops->write_at(d, a.g, 0, grad, fb));
        TT_ASSERT_OK(adam_launch(&a, cfg, n, lrs[step], step + 1));
        float *m, *v;
        TT_ASSERT_OK(tt_optim_state_get(o, 0, NULL, &m, NULL));
        TT_ASSERT_OK(tt_optim_state_get(o, 1, NULL, &v, NULL));
        assert_dev_equals("Adam p", d, a.p, tt_graph_param_data(g, id), n);
        assert_dev_equals("Adam exp_avg", d, a.m, m, n);
        assert_dev_equals("Adam exp_avg_sq", d, a.v, v, n);
    }
    tt_dbuf *bufs[4] = {a.p, a.g, a.m, a.v};
    for (int i = 0; i < 4; i++) d->ops->free(d, bufs[i]);
    tt_optim_free(o);
    tt_exec_free(e);
    tt_graph_free(g);
    free(w), free(grad);
}

static void adam_step(void **state)
{
    (void)state;
    tt_dev *d = NULL;
    TT_ASSERT_OK(backend_ops()->open(0, &d));
    tt_rng rng;
    tt_rng_seed(&rng, 101, 0);
    /* kind, weight decay, beta1 (0.3: PyTorch's lerp takes its other form), beta2 */
    struct {
        tt_optim_kind kind;
        float wd, beta1, beta2;
    } cfgs[] = {{TT_OPTIM_ADAM, 0.0f, 0.9f, 0.999f},
                {TT_OPTIM_ADAM, 0.01f, 0.9f, 0.999f},
                {TT_OPTIM_ADAMW, 0.01f, 0.9f, 0.999f},
                {TT_OPTIM_ADAMW, 0.0f, 0.3f, 0.95f},
                {TT_OPTIM_ADAM, 5e-4f, 0.3f, 0.9f}};
    static const int64_t sizes[] = {1, 333, 4099};
    for (size_t k = 0; k < sizeof cfgs / sizeof *cfgs; k++)
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
            tt_optim_config oc = tt_optim_defaults(cfgs[k].kind);
            oc.weight_decay = cfgs[k].wd;
            oc.beta1 = cfgs[k].beta1;
            oc.beta2 = cfgs[k].beta2;
            run_adam(d, &oc, sizes[i], &rng);
        }
    d->ops->close(d);
}

int main(void)
{
    int dev = tt_dh_device_status(tt_dh_backend());
    if (dev) return dev;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gemm),
        cmocka_unit_test(matmul),
        cmocka_unit_test(batchnorm_training),
        cmocka_unit_test(batchnorm_eval_frozen),
        cmocka_unit_test(dropout),
        cmocka_unit_test(softmax_ce),
        cmocka_unit_test(softmax_ce_bad_label),
        cmocka_unit_test(losses),
        cmocka_unit_test(activations),
        cmocka_unit_test(softmax),
        cmocka_unit_test(binary),
        cmocka_unit_test(binary_broadcast),
        cmocka_unit_test(mul_same_input),
        cmocka_unit_test(adam_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
