/* PyTorch parity: an MLP and a small BN CNN built with the public API, loaded with PyTorch's
 * initial state (tests/fixtures/parity, written by tests/fixtures/gen_parity.py), must
 * reproduce PyTorch's logits, loss, every gradient and the BN running statistics of one
 * training step, and the losses and parameters of 5 SGD and 5 AdamW steps.
 *
 * Tolerances. float32 results depend on summation order, and OpenBLAS, our im2col conv and
 * PyTorch's kernels all sum in different orders, so exact equality is impossible. The scale of
 * that noise was measured by re-running the PyTorch reference in float64 from the same float32
 * init (gen_parity.py --f64-check): float32 vs float64 differs by at most
 *   forward (logits, loss, running stats) 4e-7, gradients 2e-6, SGD params 3.4e-6,
 *   AdamW params 8.7e-5 (see below), all relative to the tensor's max |value|.
 * Two float32 implementations differ by about as much as either differs from float64, so:
 *   - forward: max|err| <= 1e-5 * max(1, max|ref|)                        (25x the noise)
 *   - gradients: max|err| <= 1e-4 * max|ref|                             (50x)
 *   - params and BN buffers after 5 SGD steps: max|err| <= 1e-4 * max|ref| (30x)
 *   - params after 5 AdamW steps: max|err| <= 5e-4 * max|ref|. Adam divides by sqrt(v) + eps
 *     with eps 1e-8, so an element whose gradient is itself ~1e-8 (a hidden unit active for
 *     one sample only; fc1.weight has such elements) turns 1e-10 of gradient rounding noise
 *     into ~1e-2 * lr of update: float64 moves fc1.weight by 8.7e-5 of its max. 5e-4 is 6x.
 *   - losses of the optimiser runs: 1e-4 * max(1, |ref|): the trajectory compounds the
 *     parameter noise, and the CNN's SGD run (loss 2.6 -> 9.7 -> 2.9) amplifies it.
 * An element-wise bound relative to the whole tensor is blind to small systematic errors: the
 * weight decay term moves SGD/AdamW params by only ~5e-5 of their max over 5 steps. So every
 * optimised parameter is also checked on its update d = p_final - p_init:
 *   ||d_ours - d_torch||_2 <= 1e-4 * ||d_torch||_2
 * float32 noise there is <= 3.1e-5 (measured), while dropping the weight decay would give
 * 1e-4 .. 1.9e-3 on most tensors and Adam-style (coupled) decay in AdamW 2e-3 .. 1.2.
 *
 * One degenerate direction. A conv bias followed by a training-mode BatchNorm cannot change
 * the loss (BN subtracts the batch mean), so its gradient is analytically zero and computed as
 * rounding noise (PyTorch: 7e-7 for conv1.bias against 0.32 for conv1.weight). Its gradient is
 * therefore compared on the scale of the conv weight's gradient. SGD moves it by lr * noise,
 * harmless; but AdamW normalises the noise to a step of up to lr per step in a random
 * direction (PyTorch float32 vs float64: 4.4e-3). Adam's step is at most
 * lr * |m_hat| / sqrt(v_hat) <= lr * sqrt(sum_i w_i^2 / u_i) (Cauchy-Schwarz over the EMA
 * weights w of m_hat and u of v_hat) = 1.011 * lr for 5 steps with betas (0.9, 0.999). So after
 * AdamW the conv biases are only held to |err| <= 1.1 * 2 * STEPS * lr (two runs, each moving
 * at most 1.011 lr per step, plus the weight decay term), and the BN running_mean, which
 * averages those biases in with momentum 0.1 (forward k sees biases after k steps), to
 * |err| <= 1.1 * 2 * 0.1 * sum_k 0.9^(STEPS-1-k) * k * lr ~= 2.0e-3. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "tinytrain/npy.h"

#define STEPS 5

#define TOL_FWD        1e-5
#define TOL_GRAD       1e-4
#define TOL_SGD        1e-4
#define TOL_ADAMW      5e-4
#define TOL_LOSSES     1e-4
#define TOL_UPDATE_L2  1e-4
#define ADAMW_LR       1e-3
#define BIAS_ADAMW_ABS (2.0 * STEPS * ADAMW_LR)
#define RMEAN_ADAMW_ABS                                                                            \
    (1.1 * 2.0 * 0.1 * (0.9 * 0.9 * 0.9 * 1 + 0.9 * 0.9 * 2 + 0.9 * 3 + 4) * ADAMW_LR)

typedef struct model {
    const char *dir; /* "mlp" or "cnn" under parity/ */
    tt_graph *g;
    tt_exec *e;
    int x, y, logits, loss;
    int64_t batch;
} model;

/* Conv biases that feed a training-mode BN (see the header comment) and their weights. */
static const char *degenerate_bias(const char *name)
{
    if (strcmp(name, "conv1.bias") == 0) return "conv1.weight";
    if (strcmp(name, "conv2.bias") == 0) return "conv2.weight";
    return NULL;
}

static bool is_running_mean(const char *name)
{
    size_t n = strlen(name);
    return n > 13 && strcmp(name + n - 13, ".running_mean") == 0;
}

static tt_tensor *load_fx(const model *m, const char *name)
{
    char rel[200], path[1024];
    snprintf(rel, sizeof rel, "parity/%s/%s.npy", m->dir, name);
    tt_test_fixture(rel, path, sizeof path);
    tt_tensor *t = NULL;
    TT_ASSERT_OK(tt_npy_load(path, &t));
    return t;
}

static void expect_shape(const char *what, const tt_shape *got, const tt_tensor *ref)
{
    if (!tt_shape_equal(got, &ref->shape)) {
        char a[64], b[64];
        print_error("%s: shape %s, reference %s\n", what, tt_shape_str(got, a, sizeof a),
                    tt_shape_str(&ref->shape, b, sizeof b));
    }
    assert_true(tt_shape_equal(got, &ref->shape));
}

/* max |got - ref| / max(floor, scale or max|ref|) <= tol; prints the measurement either way so
 * the numbers can be quoted. scale <= 0 means "use max|ref|". Returns the ratio. */
static double check_close(const model *m, const char *what, const float *got, const tt_tensor *ref,
                          double scale, double floor, double tol)
{
    assert_int_equal(ref->dtype, TT_F32);
    const float *r = tt_tensor_f32(ref);
    int64_t n = tt_tensor_numel(ref), worst_at = 0;
    double err = 0.0, mx = 0.0;
    bool nan = false;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)r[i]);
        if (isnan(d)) nan = true;
        if (d > err) err = d, worst_at = i;
        if (fabs((double)r[i]) > mx) mx = fabs((double)r[i]);
    }
    double s = scale > 0 ? scale : mx;
    if (s < floor) s = floor;
    double ratio = nan ? INFINITY : err / s;
    printf("parity %s %-30s max|err| %.3e  scale %.3e  ratio %.3e  (tol %.2g)\n", m->dir, what, err,
           s, ratio, tol);
    if (!(ratio <= tol))
        print_error("parity %s %s: element %lld is %.9g, PyTorch %.9g (max|err| %.3e > %.0e * "
                    "%.3e)%s\n",
                    m->dir, what, (long long)worst_at, got[worst_at], r[worst_at], err, tol, s,
                    nan ? " [NaN present]" : "");
    assert_true(ratio <= tol);
    return ratio;
}

/* ||(got - init) - (ref - init)|| / ||ref - init|| <= tol. */
static void check_update(const model *m, const char *what, const float *got, const tt_tensor *init,
                         const tt_tensor *ref, double tol)
{
    const float *p0 = tt_tensor_f32(init), *r = tt_tensor_f32(ref);
    double num = 0.0, den = 0.0;
    for (int64_t i = 0; i < tt_tensor_numel(ref); i++) {
        double dt = (double)r[i] - (double)p0[i];
        double dd = ((double)got[i] - (double)p0[i]) - dt;
        num += dd * dd;
        den += dt * dt;
    }
    double ratio = den > 0 ? sqrt(num / den) : (num > 0 ? INFINITY : 0.0);
    printf("parity %s %-30s update rel-L2 err %.3e  (tol %.0e)\n", m->dir, what, ratio, tol);
    if (!(ratio <= tol))
        print_error("parity %s %s: the update differs from PyTorch's by %.3e of its L2 norm\n",
                    m->dir, what, ratio);
    assert_true(ratio <= tol);
}

/* ---------------------------------------------------------------------------------------- */

static void add_inputs(model *m, int ndim, const int64_t *dims)
{
    TT_ASSERT_OK(tt_graph_create(&m->g));
    TT_ASSERT_OK(tt_graph_add_input(m->g, "x", TT_F32, ndim, dims, &m->x));
    int64_t yd[1] = {TT_DIM_BATCH};
    TT_ASSERT_OK(tt_graph_add_input(m->g, "y", TT_I32, 1, yd, &m->y));
}

static void add_loss(model *m)
{
    int in[2] = {m->logits, m->y};
    TT_ASSERT_OK(tt_graph_add_node(m->g, TT_OP_SOFTMAX_CE, "loss", 2, in, 0, NULL, &m->loss));
}

static void build_mlp(model *m)
{
    memset(m, 0, sizeof *m);
    m->dir = "mlp";
    m->batch = 16;
    int64_t xd[2] = {TT_DIM_BATCH, 784};
    add_inputs(m, 2, xd);
    tt_rng rng;
    tt_rng_seed(&rng, 1, 0); /* the init is overwritten with PyTorch's */
    int h;
    TT_ASSERT_OK(tt_layer_linear(m->g, &rng, "fc1", m->x, 256, true, &h));
    TT_ASSERT_OK(tt_layer_simple(m->g, TT_OP_RELU, "relu1", h, &h));
    TT_ASSERT_OK(tt_layer_linear(m->g, &rng, "fc2", h, 128, true, &h));
    TT_ASSERT_OK(tt_layer_simple(m->g, TT_OP_RELU, "relu2", h, &h));
    TT_ASSERT_OK(tt_layer_linear(m->g, &rng, "fc3", h, 10, true, &m->logits));
    add_loss(m);
}

static void build_cnn(model *m)
{
    memset(m, 0, sizeof *m);
    m->dir = "cnn";
    m->batch = 8;
    int64_t xd[4] = {TT_DIM_BATCH, 1, 28, 28};
    add_inputs(m, 4, xd);
    tt_rng rng;
    tt_rng_seed(&rng, 1, 0);
    int h;
    tt_conv2d_opts c1 = {.out_channels = 8, .kernel = 3, .stride = 1, .padding = 1, .bias = true};
    tt_conv2d_opts c2 = c1;
    c2.out_channels = 16;
    TT_ASSERT_OK(tt_layer_conv2d(m->g, &rng, "conv1", m->x, &c1, &h));
    TT_ASSERT_OK(tt_layer_batchnorm(m->g, "bn1", h, 1e-5f, 0.1f, &h));
    TT_ASSERT_OK(tt_layer_simple(m->g, TT_OP_RELU, "relu1", h, &h));
    TT_ASSERT_OK(tt_layer_pool2d(m->g, TT_OP_MAXPOOL, "pool1", h, 2, 0, 0, &h));
    TT_ASSERT_OK(tt_layer_conv2d(m->g, &rng, "conv2", h, &c2, &h));
    TT_ASSERT_OK(tt_layer_batchnorm(m->g, "bn2", h, 1e-5f, 0.1f, &h));
    TT_ASSERT_OK(tt_layer_simple(m->g, TT_OP_RELU, "relu2", h, &h));
    TT_ASSERT_OK(tt_layer_pool2d(m->g, TT_OP_MAXPOOL, "pool2", h, 2, 0, 0, &h));
    TT_ASSERT_OK(tt_layer_simple(m->g, TT_OP_FLATTEN, "flatten", h, &h));
    TT_ASSERT_OK(tt_layer_linear(m->g, &rng, "fc", h, 10, true, &m->logits));
    add_loss(m);
}

/* Every fixture file with this prefix must name a graph parameter (trainable ones only for
 * "grad."), so a parameter PyTorch has and we lack cannot go unnoticed. Returns the count. */
static int check_fixture_names(const model *m, const char *prefix, bool trainable_only)
{
    char rel[64], dir[1024];
    snprintf(rel, sizeof rel, "parity/%s", m->dir);
    tt_test_fixture(rel, dir, sizeof dir);
    DIR *d = opendir(dir);
    if (!d) print_error("cannot open fixture directory %s (is TT_FIXTURES set?)\n", dir);
    assert_non_null(d);
    size_t pl = strlen(prefix);
    int count = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n <= pl + 4 || strncmp(de->d_name, prefix, pl) != 0 ||
            strcmp(de->d_name + n - 4, ".npy") != 0)
            continue;
        char name[TT_NAME_MAX];
        snprintf(name, sizeof name, "%.*s", (int)(n - pl - 4), de->d_name + pl);
        int id = tt_graph_find_value(m->g, name);
        bool ok = id >= 0 && m->g->values[id].kind == TT_VALUE_PARAM &&
                  (!trainable_only || m->g->values[id].trainable);
        if (!ok) print_error("fixture %s%s.npy has no matching graph parameter\n", prefix, name);
        assert_true(ok);
        count++;
    }
    closedir(d);
    return count;
}

/* Copy init.<name> into every graph parameter (weights and BN buffers). */
static void load_init(model *m)
{
    int n_params = 0;
    for (int v = 0; v < m->g->n_values; v++) {
        tt_value *val = &m->g->values[v];
        if (val->kind != TT_VALUE_PARAM) continue;
        char name[TT_NAME_MAX + 8];
        snprintf(name, sizeof name, "init.%s", val->name);
        tt_tensor *t = load_fx(m, name);
        expect_shape(name, &val->shape, t);
        memcpy(tt_graph_param_data(m->g, v), t->data, (size_t)tt_tensor_numel(t) * sizeof(float));
        tt_tensor_free(t);
        n_params++;
    }
    assert_int_equal(check_fixture_names(m, "init.", false), n_params);
}

static void start(model *m)
{
    load_init(m);
    TT_ASSERT_OK(tt_exec_create(m->g, m->batch, &m->e));
    tt_tensor *x = load_fx(m, "x"), *y = load_fx(m, "y");
    assert_int_equal(x->shape.dims[0], m->batch);
    assert_int_equal(y->dtype, TT_I32);
    TT_ASSERT_OK(tt_exec_set_input(m->e, m->x, x->data, m->batch));
    TT_ASSERT_OK(tt_exec_set_input(m->e, m->y, y->data, m->batch));
    tt_tensor_free(x);
    tt_tensor_free(y);
}

static void finish(model *m)
{
    tt_exec_free(m->e);
    tt_graph_free(m->g);
}

static void forward_backward(model *m)
{
    start(m);
    TT_ASSERT_OK(tt_exec_forward(m->e, m->batch, true));

    tt_tensor *ref = load_fx(m, "logits");
    tt_tensor *got = tt_exec_value(m->e, m->logits);
    expect_shape("logits", &got->shape, ref);
    check_close(m, "logits", tt_tensor_f32(got), ref, 0, 1.0, TOL_FWD);
    tt_tensor_free(ref);
    ref = load_fx(m, "loss");
    check_close(m, "loss", tt_tensor_f32(tt_exec_value(m->e, m->loss)), ref, 0, 1.0, TOL_FWD);
    tt_tensor_free(ref);

    /* BN running statistics after one training forward. */
    int n_bn = 0;
    for (int v = 0; v < m->g->n_values; v++) {
        tt_value *val = &m->g->values[v];
        if (val->kind != TT_VALUE_PARAM || val->trainable) continue;
        char name[TT_NAME_MAX + 16];
        snprintf(name, sizeof name, "after_fwd.%s", val->name);
        ref = load_fx(m, name);
        check_close(m, name, tt_graph_param_data(m->g, v), ref, 0, 1.0, TOL_FWD);
        tt_tensor_free(ref);
        n_bn++;
    }
    assert_int_equal(check_fixture_names(m, "after_fwd.", false), n_bn);

    TT_ASSERT_OK(tt_exec_backward(m->e, m->loss));
    int n_grad = 0;
    for (int v = 0; v < m->g->n_values; v++) {
        tt_value *val = &m->g->values[v];
        if (val->kind != TT_VALUE_PARAM || !val->trainable) continue;
        char name[TT_NAME_MAX + 8];
        snprintf(name, sizeof name, "grad.%s", val->name);
        ref = load_fx(m, name);
        tt_tensor *g = tt_exec_grad(m->e, v);
        assert_non_null(g);
        expect_shape(name, &g->shape, ref);
        double scale = 0;
        const char *w = degenerate_bias(val->name);
        if (w) {
            /* Analytically zero: judge the noise on the scale of the weight's gradient. */
            char wname[TT_NAME_MAX + 8];
            snprintf(wname, sizeof wname, "grad.%s", w);
            tt_tensor *wref = load_fx(m, wname);
            for (int64_t i = 0; i < tt_tensor_numel(wref); i++)
                scale = fmax(scale, fabs(tt_tensor_f32(wref)[i]));
            tt_tensor_free(wref);
        }
        check_close(m, name, tt_tensor_f32(g), ref, scale, 0.0, TOL_GRAD);
        tt_tensor_free(ref);
        n_grad++;
    }
    assert_int_equal(check_fixture_names(m, "grad.", true), n_grad);
    assert_true(n_grad >= 6);
    finish(m);
}

static void optimise(model *m, tt_optim_kind kind)
{
    bool adamw = kind == TT_OPTIM_ADAMW;
    const char *prefix = adamw ? "adamw" : "sgd";
    start(m);
    tt_optim_config cfg = tt_optim_defaults(kind);
    if (adamw) {
        cfg.lr = (float)ADAMW_LR;
        cfg.beta1 = 0.9f;
        cfg.beta2 = 0.999f;
        cfg.eps = 1e-8f;
        cfg.weight_decay = 1e-2f;
    } else {
        cfg.lr = 0.05f;
        cfg.momentum = 0.9f;
        cfg.dampening = 0.0f;
        cfg.nesterov = false;
        cfg.weight_decay = 1e-4f;
    }
    tt_optim *o;
    TT_ASSERT_OK(tt_optim_create(&cfg, m->e, &o));
    float losses[STEPS];
    for (int s = 0; s < STEPS; s++) {
        TT_ASSERT_OK(tt_exec_forward(m->e, m->batch, true));
        losses[s] = tt_tensor_f32(tt_exec_value(m->e, m->loss))[0];
        TT_ASSERT_OK(tt_exec_backward(m->e, m->loss));
        TT_ASSERT_OK(tt_optim_step(o, cfg.lr));
    }
    assert_int_equal(tt_optim_steps(o), STEPS);
    char name[TT_NAME_MAX + 16];
    snprintf(name, sizeof name, "%s_losses", prefix);
    tt_tensor *ref = load_fx(m, name);
    assert_int_equal(tt_tensor_numel(ref), STEPS);
    double mx = 0;
    for (int s = 0; s < STEPS; s++) mx = fmax(mx, fabs(tt_tensor_f32(ref)[s]));
    printf("parity %s %s losses:", m->dir, prefix);
    for (int s = 0; s < STEPS; s++) printf(" %.6f/%.6f", losses[s], tt_tensor_f32(ref)[s]);
    printf("  (ours/PyTorch)\n");
    check_close(m, name, losses, ref, 0, 1.0, TOL_LOSSES);
    tt_tensor_free(ref);

    int n_checked = 0;
    for (int v = 0; v < m->g->n_values; v++) {
        tt_value *val = &m->g->values[v];
        if (val->kind != TT_VALUE_PARAM) continue;
        snprintf(name, sizeof name, "%s.%s", prefix, val->name);
        ref = load_fx(m, name);
        expect_shape(name, &val->shape, ref);
        const float *got = tt_graph_param_data(m->g, v);
        n_checked++;
        if (adamw && degenerate_bias(val->name)) {
            /* Noise normalised by Adam: only "moved no more than AdamW can" is meaningful. */
            check_close(m, name, got, ref, 1.0, 0.0, BIAS_ADAMW_ABS);
        } else if (adamw && is_running_mean(val->name)) {
            check_close(m, name, got, ref, 1.0, 0.0, RMEAN_ADAMW_ABS);
        } else {
            check_close(m, name, got, ref, 0, 0.0, adamw ? TOL_ADAMW : TOL_SGD);
            if (val->trainable && !degenerate_bias(val->name)) {
                char iname[TT_NAME_MAX + 8];
                snprintf(iname, sizeof iname, "init.%s", val->name);
                tt_tensor *init = load_fx(m, iname);
                check_update(m, name, got, init, ref, TOL_UPDATE_L2);
                tt_tensor_free(init);
            }
        }
        tt_tensor_free(ref);
    }
    snprintf(name, sizeof name, "%s.", prefix);
    assert_int_equal(check_fixture_names(m, name, false), n_checked);
    tt_optim_free(o);
    finish(m);
}

static void mlp_forward_backward(void **state)
{
    (void)state;
    model m;
    build_mlp(&m);
    forward_backward(&m);
}

static void mlp_sgd(void **state)
{
    (void)state;
    model m;
    build_mlp(&m);
    optimise(&m, TT_OPTIM_SGD);
}

static void mlp_adamw(void **state)
{
    (void)state;
    model m;
    build_mlp(&m);
    optimise(&m, TT_OPTIM_ADAMW);
}

static void cnn_forward_backward(void **state)
{
    (void)state;
    model m;
    build_cnn(&m);
    forward_backward(&m);
}

static void cnn_sgd(void **state)
{
    (void)state;
    model m;
    build_cnn(&m);
    optimise(&m, TT_OPTIM_SGD);
}

static void cnn_adamw(void **state)
{
    (void)state;
    model m;
    build_cnn(&m);
    optimise(&m, TT_OPTIM_ADAMW);
}

int main(void)
{
    /* Line-buffered so the measurements interleave correctly with cmocka's output. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mlp_forward_backward),
        cmocka_unit_test(mlp_sgd),
        cmocka_unit_test(mlp_adamw),
        cmocka_unit_test(cnn_forward_backward),
        cmocka_unit_test(cnn_sgd),
        cmocka_unit_test(cnn_adamw),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
