/* The QAT prepare pass: where FakeQuant goes, BatchNorm folding (exact up to float rounding),
 * what it refuses, and the switches the recipe flips. */
#include <math.h>
#include <stdlib.h>
#include "testutil.h"
#include "tinytrain/qat.h"

#define CNN_YAML TT_TEST_CNN_YAML

typedef struct model {
    tt_config *cfg;
    tt_graph *g;
    int in, out;
} model;

static void model_build(model *m, const char *yaml)
{
    TT_ASSERT_OK(tt_config_parse(yaml, strlen(yaml), "m.yaml", &m->cfg));
    TT_ASSERT_OK(tt_graph_create(&m->g));
    tt_rng rng;
    tt_rng_seed(&rng, 3, 0);
    TT_ASSERT_OK(tt_model_build(m->cfg, m->g, &rng, &m->in, &m->out));
    /* Non-trivial BN statistics and affine parameters, so folding has something to fold. */
    for (int v = 0; v < m->g->n_values; v++) {
        tt_value *val = &m->g->values[v];
        if (val->kind != TT_VALUE_PARAM) continue;
        float *d = tt_graph_param_data(m->g, v);
        int64_t n = tt_shape_numel(&val->shape);
        bool var = strstr(val->name, "running_var") != NULL;
        bool bn = strstr(val->name, "bn") != NULL; /* BN layers are named bn1, bn2, ... */
        if (bn) tt_test_fill_uniform(d, n, var ? 0.5f : -0.5f, var ? 2.0f : 0.5f, &rng);
    }
}

static void model_free(model *m)
{
    tt_graph_free(m->g);
    tt_config_free(m->cfg);
}

static int count_op(const tt_graph *g, tt_op_type op)
{
    int c = 0;
    for (int i = 0; i < g->n_nodes; i++) c += g->nodes[i].op == op;
    return c;
}

static const tt_node *producer(const tt_graph *g, int v)
{
    return g->values[v].producer >= 0 ? &g->nodes[g->values[v].producer] : NULL;
}

/* Eval-mode outputs of g for a fixed input batch. */
static float *run_eval(tt_graph *g, int in, int out, int64_t n, const float *x)
{
    tt_exec *e;
    TT_ASSERT_OK(tt_exec_create(g, n, &e));
    TT_ASSERT_OK(tt_exec_set_input(e, in, x, n));
    TT_ASSERT_OK(tt_exec_forward(e, n, false));
    tt_tensor *y = tt_exec_value(e, out);
    size_t bytes = (size_t)tt_tensor_numel(y) * sizeof(float);
    float *r = malloc(bytes);
    memcpy(r, y->data, bytes);
    tt_exec_free(e);
    return r;
}

/* A batch of n inputs for CNN_YAML's [2, 8, 8] model, uniform in [-1, 1). */
static float *cnn_inputs(int64_t n, uint64_t seed)
{
    float *x = malloc((size_t)(n * 128) * sizeof(float));
    tt_rng rng;
    tt_rng_seed(&rng, seed, 0);
    tt_test_fill_uniform(x, n * 128, -1.0f, 1.0f, &rng);
    return x;
}

/* g (prepared from m, fake quantisation off) computes m's fp32 eval output on x to 1e-5 of the
 * output's scale; returns the fp32 outputs (caller frees). */
static float *assert_matches_fp32(model *m, tt_graph *g, int in, int out, int64_t n, const float *x)
{
    tt_qat_set_fake_quant(g, false);
    float *ref = run_eval(m->g, m->in, m->out, n, x);
    float *got = run_eval(g, in, out, n, x);
    double big = 0, worst = 0;
    for (int64_t i = 0; i < n * 5; i++) big = fmax(big, fabs(ref[i]));
    for (int64_t i = 0; i < n * 5; i++) worst = fmax(worst, fabs(ref[i] - got[i]));
    assert_true(big > 0.1);
    assert_true(worst <= 1e-5 * big);
    free(got);
    return ref;
}

static void test_cnn_points(void **state)
{
    (void)state;
    model m;
    model_build(&m, CNN_YAML);
    tt_qat_config q = tt_qat_defaults();
    q.bn_fold = TT_BN_FOLD_FOLD; /* not the default: this test reads the folded structure */
    tt_graph *g;
    int in, out;
    tt_qat_summary s;
    TT_ASSERT_OK(tt_qat_prepare(m.g, m.in, m.out, &q, &g, &in, &out, &s));
    /* 3 weights (2 convs, 1 linear); activations: input, the two conv+relu outputs (after the
     * relu, which the export fuses) and the logits. MaxPool/Flatten/Dropout add none. */
    assert_int_equal(s.weight_points, 3);
    assert_int_equal(s.activation_points, 4);
    assert_int_equal(s.folded_bn, 2);
    assert_int_equal(tt_qat_count(g), 7);
    assert_int_equal(count_op(g, TT_OP_BATCHNORM), 0);
    assert_int_equal(count_op(g, TT_OP_CONV), 2);
    for (int i = 0; i < g->n_nodes; i++) {
        const tt_node *n = &g->nodes[i];
        if (n->op == TT_OP_CONV || n->op == TT_OP_GEMM) {
            /* Folded layers have a bias, and their weight arrives through a FakeQuant. The bias
             * is rounded at the input's scale times the weight's (BiasFakeQuant). */
            assert_int_equal(n->n_in, 3);
            assert_true(n->in[2] >= 0);
            const tt_node *wq = producer(g, n->in[1]), *bq = producer(g, n->in[2]);
            assert_int_equal(wq->op, TT_OP_FAKEQUANT);
            assert_int_equal(bq->op, TT_OP_BIAS_QUANT);
            assert_int_equal(bq->in[2], wq->in[1]);
            assert_int_equal(g->values[bq->in[1]].shape.dims[0], 1);
            assert_non_null(strstr(g->values[bq->in[1]].name, ".q.scale"));
            assert_int_equal(producer(g, n->in[0])->op == TT_OP_FAKEQUANT ||
                                 producer(g, n->in[0])->op == TT_OP_MAXPOOL ||
                                 producer(g, n->in[0])->op == TT_OP_DROPOUT,
                             1);
        }
        if (n->op == TT_OP_RELU) {
            /* The relu reads the conv directly: no quantisation point between them. */
            assert_int_equal(producer(g, n->in[0])->op, TT_OP_CONV);
        }
    }
    assert_int_equal(producer(g, out)->op, TT_OP_FAKEQUANT);
    /* Per-channel weight qparams: one scale per output channel of each layer. */
    int ws = tt_graph_find_value(g, "conv2.weight.q.scale");
    assert_true(ws >= 0);
    assert_int_equal(g->values[ws].shape.dims[0], 6);
    assert_true(g->values[in].kind == TT_VALUE_INPUT);
    tt_graph_free(g);
    model_free(&m);
}

/* With fake quantisation off, the prepared graph is the fp32 model with BN folded: its eval
 * output equals the fp32 graph's. Folding reassociates (W*f) x instead of (W x)*f and adds the
 * folded bias, so the outputs agree to float rounding: 1e-5 relative to the output's scale is
 * about 100 ulp of the largest logit, far below any real folding error (a wrong eps or a
 * missing mean term moves logits by 1e-2 and more). */
static void test_fold_is_exact(void **state)
{
    (void)state;
    model m;
    model_build(&m, CNN_YAML);
    tt_qat_config q = tt_qat_defaults();
    tt_graph *g;
    int in, out;
    TT_ASSERT_OK(tt_qat_prepare(m.g, m.in, m.out, &q, &g, &in, &out, NULL));
    const int64_t n = 8;
    float *x = cnn_inputs(n, 9);
    float *ref = assert_matches_fp32(&m, g, in, out, n, x);
    double big = 0;
    for (int64_t i = 0; i < n * 5; i++) big = fmax(big, fabs(ref[i]));

    /* Fake quantisation on (after observing the same batch in a training forward): the logits
     * land on the output's quantisation grid, and stay close to fp32 (8-bit everywhere on a
     * 3-layer net: within a few percent of the logit range). */
    tt_qat_set_fake_quant(g, true);
    tt_exec *e;
    TT_ASSERT_OK(tt_exec_create(g, n, &e));
    TT_ASSERT_OK(tt_exec_set_input(e, in, x, n));
    TT_ASSERT_OK(tt_exec_forward(e, n, true));
    TT_ASSERT_OK(tt_exec_forward(e, n, false));
    const float *y = tt_tensor_f32(tt_exec_value(e, out));
    int sid = tt_graph_find_value(g, "fc1.q.scale");
    int zid = tt_graph_find_value(g, "fc1.q.zero_point");
    assert_true(sid >= 0 && zid >= 0);
    float sc = tt_graph_param_data(g, sid)[0], zp = tt_graph_param_data(g, zid)[0];
    assert_true(sc > 0);
    double qerr = 0;
    for (int64_t i = 0; i < n * 5; i++) {
        float k = y[i] / sc + zp;
        assert_true(fabsf(k - nearbyintf(k)) < 1e-3f); /* on the grid */
        qerr = fmax(qerr, fabs(y[i] - ref[i]));
    }
    assert_true(qerr < 0.1 * big);
    tt_exec_free(e);
    free(x);
    free(ref);
    tt_graph_free(g);
    model_free(&m);
}

/* bn_fold: simulate keeps BN live behind BnFoldWeight/BnUnfold. The quantisation points are
 * the same (named after the weights, as in fold mode), and in eval mode with fake quantisation
 * off the graph computes the fp32 model: conv(x, W f) / f = conv(x, W), and conv2's bias,
 * absorbed into the BN's running mean, changes nothing. Tolerance as in test_fold_is_exact. */
static void test_simulate(void **state)
{
    (void)state;
    model m;
    model_build(&m, CNN_YAML);
    tt_qat_config q = tt_qat_defaults();
    q.bn_fold = TT_BN_FOLD_SIMULATE;
    tt_graph *g;
    int in, out;
    tt_qat_summary s;
    TT_ASSERT_OK(tt_qat_prepare(m.g, m.in, m.out, &q, &g, &in, &out, &s));
    assert_int_equal(s.weight_points, 3);
    assert_int_equal(s.activation_points, 4);
    assert_int_equal(s.folded_bn, 2);
    assert_int_equal(count_op(g, TT_OP_BATCHNORM), 2);
    assert_int_equal(count_op(g, TT_OP_BN_FOLD_WEIGHT), 2);
    assert_int_equal(count_op(g, TT_OP_BN_UNFOLD), 2);
    assert_true(tt_graph_find_value(g, "conv1.weight.q.scale") >= 0);
    for (int i = 0; i < g->n_nodes; i++) {
        const tt_node *n = &g->nodes[i];
        if (n->op == TT_OP_CONV) {
            assert_int_equal(producer(g, n->in[1])->op, TT_OP_FAKEQUANT);
            assert_true(n->n_in < 3 || n->in[2] < 0); /* the bias went into the BN */
        }
        if (n->op == TT_OP_BATCHNORM) assert_int_equal(producer(g, n->in[0])->op, TT_OP_BN_UNFOLD);
        if (n->op == TT_OP_RELU) assert_int_equal(producer(g, n->in[0])->op, TT_OP_BATCHNORM);
    }
    float *x = cnn_inputs(8, 10);
    float *ref = assert_matches_fp32(&m, g, in, out, 8, x);
    /* Freezing reaches every BN. */
    tt_qat_set_bn_frozen(g, true);
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == TT_OP_BATCHNORM)
            assert_int_equal(tt_node_attr_int(&g->nodes[i], "frozen", 0), 1);
    free(x);
    free(ref);
    tt_graph_free(g);
    model_free(&m);
}

static void test_residual_points(void **state)
{
    (void)state;
    const char *yaml = "data: {kind: synthetic, samples: 64}\n"
                       "model:\n"
                       "  input: [1, 8, 8]\n"
                       "  layers:\n"
                       "    - {type: conv2d, out_channels: 4, kernel: 3, padding: 1, bias: false}\n"
                       "    - {type: batchnorm}\n"
                       "    - {type: relu}\n"
                       "    - {type: residual, out_channels: 8, stride: 2}\n"
                       "    - {type: global_avgpool}\n"
                       "    - {type: flatten}\n"
                       "    - {type: linear, out_features: 3}\n";
    model m;
    model_build(&m, yaml);
    tt_qat_config q = tt_qat_defaults();
    tt_graph *g;
    int in, out;
    tt_qat_summary s;
    TT_ASSERT_OK(tt_qat_prepare(m.g, m.in, m.out, &q, &g, &in, &out, &s));
    /* Weights: stem, conv1, conv2, shortcut conv, linear. Activations: input, stem relu,
     * block relu1, conv2 out and shortcut out (each feeds the Add, which needs both
     * quantised), the Add's relu, the global average pool, the logits. */
    assert_int_equal(s.weight_points, 5);
    assert_int_equal(s.folded_bn, 4);
    assert_int_equal(s.activation_points, 8);
    for (int i = 0; i < g->n_nodes; i++) {
        const tt_node *n = &g->nodes[i];
        if (n->op != TT_OP_ADD) continue;
        assert_int_equal(producer(g, n->in[0])->op, TT_OP_FAKEQUANT);
        assert_int_equal(producer(g, n->in[1])->op, TT_OP_FAKEQUANT);
    }
    tt_graph_free(g);
    model_free(&m);
}

static void test_refusals(void **state)
{
    (void)state;
    /* A BatchNorm on the input has no layer to fold into. */
    const char *yaml = "data: {kind: synthetic, samples: 64}\n"
                       "model:\n"
                       "  input: [6]\n"
                       "  layers:\n"
                       "    - {type: batchnorm}\n"
                       "    - {type: linear, out_features: 3}\n";
    model m;
    model_build(&m, yaml);
    tt_qat_config q = tt_qat_defaults();
    tt_graph *g = (tt_graph *)&m; /* must be reset to NULL on failure */
    assert_int_equal(tt_qat_prepare(m.g, m.in, m.out, &q, &g, NULL, NULL, NULL),
                     TT_ERR_UNSUPPORTED);
    assert_null(g);
    assert_non_null(strstr(tt_last_error(), "node 'bn1' (BatchNormalization)"));
    assert_non_null(strstr(tt_last_error(), "the model input"));

    model_free(&m);

    /* An op with no int8 form (a loss left in the graph) is named. */
    int64_t d = TT_DIM_BATCH;
    int t, l;
    model_build(&m, "data: {kind: synthetic, samples: 64}\n"
                    "model: {input: [6], layers: [{type: linear, out_features: 3}]}\n");
    TT_ASSERT_OK(tt_graph_add_input(m.g, "target", TT_F32, 2, (int64_t[]){d, 3}, &t));
    TT_ASSERT_OK(tt_graph_add_node(m.g, TT_OP_MSE, "the_loss", 2, (int[]){m.out, t}, 0, NULL, &l));
    assert_int_equal(tt_qat_prepare(m.g, m.in, l, &q, &g, NULL, NULL, NULL), TT_ERR_UNSUPPORTED);
    assert_non_null(strstr(tt_last_error(), "node 'the_loss' (MSELoss): QAT cannot quantise"));
    model_free(&m);
}

static int64_t attr(const tt_node *n, const char *name)
{
    return tt_node_attr_int(n, name, -7);
}

static void test_switches(void **state)
{
    (void)state;
    model m;
    model_build(&m, CNN_YAML);
    tt_qat_config q = tt_qat_defaults();
    q.bn_fold = TT_BN_FOLD_FOLD; /* weights are then params, which the checks below rely on */
    q.learnable_scale = true;
    tt_graph *g;
    int in, out;
    TT_ASSERT_OK(tt_qat_prepare(m.g, m.in, m.out, &q, &g, &in, &out, NULL));
    tt_qat_set_observe(g, false);
    tt_qat_set_fake_quant(g, false);
    int seen = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const tt_node *n = &g->nodes[i];
        if (n->op != TT_OP_FAKEQUANT) continue;
        seen++;
        assert_int_equal(attr(n, "observe"), 0);
        assert_int_equal(attr(n, "enabled"), 0);
        assert_int_equal(attr(n, "learnable"), 1);
        assert_true(g->values[n->in[1]].trainable);  /* LSQ scale */
        assert_false(g->values[n->in[2]].trainable); /* zero point never */
        bool weight = g->values[n->in[0]].kind == TT_VALUE_PARAM;
        /* Weights: int8 symmetric per channel, current-tensor observer; activations: uint8
         * per tensor, moving average. */
        assert_int_equal(attr(n, "qmin"), weight ? -127 : 0);
        assert_int_equal(attr(n, "qmax"), weight ? 127 : 255);
        assert_int_equal(attr(n, "axis"), weight ? 0 : -1);
        assert_int_equal(attr(n, "observer"), weight ? 3 : 2);
    }
    assert_int_equal(seen, 7);
    tt_qat_set_observe(g, true);
    tt_qat_set_fake_quant(g, true);
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == TT_OP_FAKEQUANT) {
            assert_int_equal(attr(&g->nodes[i], "observe"), 1);
            assert_int_equal(attr(&g->nodes[i], "enabled"), 1);
        }
    assert_int_equal(tt_qat_count(m.g), 0);
    tt_graph_free(g);
    model_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cnn_points),      cmocka_unit_test(test_fold_is_exact),
        cmocka_unit_test(test_residual_points), cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_switches),        cmocka_unit_test(test_simulate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
