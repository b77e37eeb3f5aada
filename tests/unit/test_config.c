/* YAML config parsing (docs/config.md): the shipped configs parse and build, defaults apply,
 * every kind of bad input is refused with "FILE:LINE:COL: KEY.PATH: problem", overrides are
 * checked, and model building names layers and reports shape errors with their YAML line. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "testutil.h"
#include "tinytrain/config.h"

/* Whether a call failed with `status` and a message containing `want`; prints what it got if
 * not, so a table of cases reports every mismatch in one run. */
static bool fails_with(tt_status got, tt_status status, const char *want, const char *what)
{
    if (got == status && strstr(tt_last_error(), want)) return true;
    print_error("%s: got %s '%s', want %s containing '%s'\n", what, tt_status_str(got),
                tt_last_error(), tt_status_str(status), want);
    return false;
}

/* Assert a failing call's status and that its message contains `want`. */
#define ASSERT_FAILS(expr, status, want)                                                           \
    do {                                                                                           \
        tt_status s_ = (expr);                                                                     \
        if (s_ != (status) || !strstr(tt_last_error(), (want)))                                    \
            print_error("%s: got %s '%s', want %s containing '%s'\n", #expr, tt_status_str(s_),    \
                        tt_last_error(), tt_status_str(status), (want));                           \
        assert_int_equal(s_, (status));                                                            \
        assert_non_null(strstr(tt_last_error(), (want)));                                          \
    } while (0)

static tt_config *load_fixture(const char *rel)
{
    char path[1024];
    tt_config *c = NULL;
    TT_ASSERT_OK(tt_config_load(tt_test_fixture(rel, path, sizeof path), &c));
    return c;
}

static tt_config *parse_str(const char *yaml)
{
    tt_config *c = NULL;
    TT_ASSERT_OK(tt_config_parse(yaml, strlen(yaml), "inline.yaml", &c));
    return c;
}

/* Build c's model; returns the graph and sets the input/output ids. */
static tt_graph *build(const tt_config *c, int *in, int *out)
{
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    tt_rng rng;
    tt_rng_seed(&rng, c->seed, 0);
    TT_ASSERT_OK(tt_model_build(c, g, &rng, in, out));
    return g;
}

static void assert_shape(const tt_graph *g, int id, int ndim, const int64_t *dims)
{
    const tt_shape *s = &g->values[id].shape;
    assert_int_equal(s->ndim, ndim);
    for (int i = 0; i < ndim; i++) assert_int_equal(s->dims[i], dims[i]);
}

static void assert_has_value(const tt_graph *g, const char *name)
{
    if (tt_graph_find_value(g, name) < 0) print_error("no value named '%s'\n", name);
    assert_true(tt_graph_find_value(g, name) >= 0);
}

/* ---- the shipped configs ---------------------------------------------------------------- */

static void shipped_configs_parse_and_build(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        int out_ndim;
        int64_t out_dims[4];
        int64_t max_params; /* a sanity ceiling; fashion_cnn's 100K is the requirement */
        const char *values[3];
    } cases[] = {
        {"../../configs/fashion_mlp.yaml", 2, {-1, 10}, 300000, {"fc1.weight", "fc3.bias", NULL}},
        {"../../configs/fashion_cnn.yaml",
         2,
         {-1, 10},
         100000 - 1,
         {"conv3.weight", "bn3.running_var", "fc1.weight"}},
        {"../../configs/fashion_resnet8.yaml",
         2,
         {-1, 10},
         100000,
         {"block1.conv1.weight", "block3.shortcut.conv.weight", "block3.bn2.bias"}},
        {"../../configs/fashion_filter.yaml",
         4,
         {-1, 1, 28, 28},
         50000,
         {"head.clip", "block3.conv2.weight", "conv2.bias"}},
        {"../../configs/fashion_nr.yaml", 2, {-1, 1}, 50000, {"conv3.weight", "fc1.bias", NULL}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tt_config *c = load_fixture(cases[i].file);
        int in, out;
        tt_graph *g = build(c, &in, &out);
        int64_t in_dims[4] = {-1, 1, 28, 28};
        assert_shape(g, in, 4, in_dims);
        assert_shape(g, out, cases[i].out_ndim, cases[i].out_dims);
        int64_t np = tt_model_num_params(g);
        print_message("%s: %lld parameters\n", c->name, (long long)np);
        assert_true(np > 0 && np <= cases[i].max_params);
        /* Two counts pinned by hand, so the architecture cannot drift unnoticed. */
        if (i == 0) assert_int_equal(np, 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);
        if (i == 1) /* 3 convs without bias, 3 BNs (scale, shift), linear 64*7*7 -> 10 */
            assert_int_equal(np, 1 * 32 * 9 + 32 * 64 * 9 + 64 * 64 * 9 + 2 * (32 + 64 + 64) +
                                     64 * 7 * 7 * 10 + 10);
        for (int k = 0; k < 3; k++)
            if (cases[i].values[k]) assert_has_value(g, cases[i].values[k]);
        tt_graph_free(g);
        tt_config_free(c);
    }
}

static void shipped_config_values(void **state)
{
    (void)state;
    tt_config *c = load_fixture("../../configs/fashion_mlp.yaml");
    assert_string_equal(c->name, "fashion_mlp");
    assert_int_equal(c->data.kind, TT_DATA_FASHION_MNIST);
    assert_int_equal(c->optim.kind, TT_OPTIM_SGD);
    /* Values written in decimal are stored as the nearest float: compare exactly against that. */
    assert_true(c->optim.lr == 0.05f && c->optim.momentum == 0.9f);
    assert_true(c->optim.weight_decay == 5.0e-4f);
    assert_int_equal(c->schedule.kind, TT_SCHED_COSINE);
    assert_int_equal(c->epochs, 20);
    assert_int_equal(c->batch_size, 128);
    assert_int_equal(c->data.n_norm, 1);
    assert_true(c->data.mean[0] == 0.2860f && c->data.std[0] == 0.3530f);
    tt_config_free(c);

    c = load_fixture("../../configs/fashion_resnet8.yaml");
    assert_int_equal(c->data.crop_padding, 0);
    assert_true(c->data.hflip);
    assert_int_equal(c->epochs, 15);
    tt_config_free(c);

    c = load_fixture("../../configs/fashion_filter.yaml");
    assert_int_equal(c->task, TT_TASK_IMAGE_TO_IMAGE);
    assert_int_equal(c->data.kind, TT_DATA_FASHION_DENOISE);
    assert_int_equal(c->loss, TT_LOSS_MSE);
    assert_int_equal(c->model.output, TT_OUTPUT_CLAMP_RESIDUAL);
    assert_int_equal(c->optim.kind, TT_OPTIM_ADAM);
    tt_config_free(c);

    c = load_fixture("../../configs/fashion_nr.yaml");
    assert_int_equal(c->task, TT_TASK_REGRESSION);
    assert_int_equal(c->data.kind, TT_DATA_FASHION_QUALITY);
    tt_config_free(c);
}

/* ---- defaults and every key ------------------------------------------------------------- */

static void defaults_applied(void **state)
{
    (void)state;
    tt_config *c = load_fixture("configs/minimal.yaml");
    assert_string_equal(c->name, "minimal");
    assert_string_equal(c->output_dir, "runs/minimal");
    assert_int_equal(c->seed, 0);
    assert_int_equal(c->threads, 0);
    assert_int_equal(c->task, TT_TASK_CLASSIFICATION);
    assert_int_equal(c->loss, TT_LOSS_CROSS_ENTROPY);
    assert_int_equal(c->optim.kind, TT_OPTIM_SGD);
    assert_true(c->optim.lr == 0.01f && c->optim.momentum == 0.0f && !c->optim.nesterov);
    assert_true(c->optim.dampening == 0.0f && c->optim.weight_decay == 0.0f);
    assert_int_equal(c->schedule.kind, TT_SCHED_CONSTANT);
    assert_int_equal(c->schedule.step_epochs, 10);
    assert_true(c->schedule.gamma == 0.1f && c->schedule.eta_min == 0.0f);
    assert_int_equal(c->schedule.warmup_epochs, 0);
    assert_true(c->schedule.warmup_start == 0.1f);
    assert_int_equal(c->epochs, 10);
    assert_int_equal(c->batch_size, 128);
    assert_true(c->grad_clip == 0.0f);
    assert_string_equal(c->data.dir, "/usr/share/datasets/fashion-mnist");
    assert_true(c->data.val_split == 0.0f);
    assert_int_equal(c->data.n_norm, 0);
    assert_int_equal(c->data.crop_padding, 0);
    assert_false(c->data.hflip);
    assert_true(c->data.noise_std == 0.1f && c->data.blur == 0.0f);
    assert_int_equal(c->data.samples, 1024);
    assert_false(c->data.train.present);
    assert_int_equal(c->model.output, TT_OUTPUT_NONE);
    assert_int_equal(c->model.n_layers, 2);
    assert_int_equal(c->model.layers[1].kind, TT_LAYER_LINEAR);
    assert_int_equal(c->model.layers[1].out, 10);
    assert_true(c->model.layers[1].bias);
    assert_int_equal(c->model.layers[1].line, 8);
    assert_int_equal(c->model.layers[1].col, 7);
    int in, out;
    tt_graph *g = build(c, &in, &out);
    assert_int_equal(tt_model_num_params(g), 784 * 10 + 10);
    tt_graph_free(g);
    assert_false(c->has_qat);
    assert_int_equal(c->overrides, 0);
    /* The raw text is kept byte for byte, for checkpoints and provenance. */
    char path[1024];
    FILE *f = fopen(tt_test_fixture("configs/minimal.yaml", path, sizeof path), "rb");
    assert_non_null(f);
    char raw[4096];
    size_t n = fread(raw, 1, sizeof raw, f);
    fclose(f);
    assert_int_equal(c->text_len, n);
    assert_memory_equal(c->text, raw, n);
    assert_int_equal(c->text[n], '\0');
    tt_config_free(c);

    /* Per-kind and per-layer defaults. */
    c = parse_str("task: regression\n"
                  "data: {kind: synthetic}\n"
                  "model:\n"
                  "  input: [4]\n"
                  "  layers:\n"
                  "    - {type: batchnorm}\n"
                  "    - {type: leaky_relu}\n"
                  "    - {type: dropout}\n"
                  "    - {type: linear, out_features: 1}\n"
                  "optimizer: {kind: adamw}\n");
    assert_string_equal(c->name, "inline");
    assert_int_equal(c->loss, TT_LOSS_MSE); /* non-classification tasks default to mse */
    assert_true(c->optim.lr == 1e-3f && c->optim.weight_decay == 0.01f);
    assert_true(c->optim.beta1 == 0.9f && c->optim.beta2 == 0.999f && c->optim.eps == 1e-8f);
    assert_true(c->model.layers[0].eps == 1e-5f && c->model.layers[0].momentum == 0.1f);
    assert_true(c->model.layers[1].alpha == 0.01f);
    assert_true(c->model.layers[2].ratio == 0.5f);
    tt_config_free(c);

    c = parse_str("data: {kind: fashion_mnist}\n"
                  "model:\n"
                  "  input: [1, 28, 28]\n"
                  "  layers:\n"
                  "    - {type: conv2d, out_channels: 4}\n"
                  "    - {type: maxpool}\n"
                  "    - {type: avgpool, kernel: 3}\n"
                  "    - {type: residual, out_channels: 8}\n"
                  "    - {type: flatten}\n"
                  "    - {type: linear, out_features: 10}\n"
                  "optimizer: {kind: adam}\n");
    const tt_layer_spec *l = c->model.layers;
    assert_int_equal(l[0].kernel, 3);
    assert_int_equal(l[0].stride, 1);
    assert_int_equal(l[0].padding, 0);
    assert_int_equal(l[0].dilation, 1);
    assert_int_equal(l[0].groups, 1);
    assert_true(l[0].bias);
    assert_int_equal(l[1].kernel, 2);
    assert_int_equal(l[1].stride, 2);
    assert_int_equal(l[2].stride, 3); /* stride defaults to the kernel */
    assert_int_equal(l[3].stride, 1);
    assert_true(c->optim.lr == 1e-3f && c->optim.weight_decay == 0.0f);
    tt_config_free(c);

    /* Without a file there is no name to take: "run". */
    const char *y = "data: {kind: fashion_mnist}\nmodel: {input: [784], layers: [{type: linear, "
                    "out_features: 10}]}\n";
    TT_ASSERT_OK(tt_config_parse(y, strlen(y), NULL, &c));
    assert_string_equal(c->name, "run");
    assert_string_equal(c->output_dir, "runs/run");
    tt_config_free(c);
}

static void all_keys_parsed(void **state)
{
    (void)state;
    tt_config *c = load_fixture("configs/all_keys.yaml");
    assert_string_equal(c->name, "all-keys.v1");
    assert_int_equal(c->seed, 42);
    assert_int_equal(c->threads, 2);
    assert_string_equal(c->output_dir, "/tmp/tt-all-keys");
    assert_int_equal(c->data.kind, TT_DATA_IDX);
    assert_true(c->data.train.present && c->data.test.present);
    assert_string_equal(c->data.train.inputs, "train-images.idx");
    assert_string_equal(c->data.test.targets, "test-labels.idx");
    assert_true(c->data.val_split == 0.1f);
    assert_int_equal(c->data.n_norm, 3);
    assert_true(c->data.mean[2] == 0.3f && c->data.std[1] == 0.2f);
    assert_int_equal(c->data.crop_padding, 4);
    assert_true(c->data.hflip);
    assert_int_equal(c->model.input_ndim, 3);
    assert_int_equal(c->model.input[0], 3);
    assert_int_equal(c->model.n_layers, 15);
    const tt_layer_spec *l = c->model.layers;
    assert_int_equal(l[0].kind, TT_LAYER_CONV2D);
    assert_false(l[0].bias);
    assert_true(l[1].eps == 1e-3f && l[1].momentum == 0.2f);
    assert_int_equal(l[2].kind, TT_LAYER_RELU6);
    assert_int_equal(l[3].groups, 8);
    assert_int_equal(l[3].dilation, 2);
    assert_int_equal(l[3].padding, 2);
    assert_true(l[4].alpha == 0.1f);
    assert_int_equal(l[6].kind, TT_LAYER_RESIDUAL);
    assert_int_equal(l[6].stride, 2);
    assert_int_equal(l[7].kind, TT_LAYER_AVGPOOL);
    assert_int_equal(l[7].stride, 1);
    assert_true(l[13].ratio == 0.25f);
    assert_false(l[14].bias);
    assert_int_equal(c->optim.kind, TT_OPTIM_ADAMW);
    assert_true(c->optim.lr == 3.0e-4f && c->optim.weight_decay == 0.05f);
    assert_true(c->optim.beta1 == 0.8f && c->optim.beta2 == 0.99f && c->optim.eps == 1.0e-7f);
    assert_int_equal(c->schedule.kind, TT_SCHED_COSINE);
    assert_true(c->schedule.eta_min == 1.0e-5f && c->schedule.warmup_start == 0.01f);
    assert_int_equal(c->schedule.warmup_epochs, 2);
    assert_int_equal(c->epochs, 7);
    assert_int_equal(c->batch_size, 32);
    assert_true(c->grad_clip == 5.0f);
    assert_true(c->has_qat);
    assert_int_equal(c->qat_line, 40);
    const tt_qat_config *q = &c->qat;
    assert_int_equal(q->epochs_fp32, 3);
    assert_int_equal(q->epochs_qat, 2);
    assert_true(q->lr_qat == 0.001f);
    assert_string_equal(q->warm_start, "runs/x/last.h5");
    assert_int_equal(q->n_calibration, 32);
    assert_int_equal(q->freeze_observers_epoch, 1);
    assert_int_equal(q->freeze_bn_epoch, 0);
    assert_int_equal(q->bn_fold, TT_BN_FOLD_FOLD); /* all_keys.yaml sets fold */
    assert_true(q->learnable_scale);
    assert_true(q->weight.is_signed && q->weight.symmetric && !q->weight.per_channel);
    assert_true(q->weight.reduce_range && q->weight.averaging_constant == 0.5f);
    assert_int_equal(q->weight.observer, TT_QAT_OBS_MOVING_AVERAGE);
    assert_true(!q->activation.is_signed && !q->activation.symmetric);
    assert_int_equal(q->activation.observer, TT_QAT_OBS_MINMAX);

    /* Every layer type builds, with readable per-type names. */
    int in, out;
    tt_graph *g = build(c, &in, &out);
    int64_t want[2] = {-1, 10};
    assert_shape(g, out, 2, want);
    static const char *const names[] = {
        "conv1.weight", "bn1.running_mean", "relu6_1",   "conv2.bias", "leaky_relu1", "maxpool1",
        "block1.add",   "avgpool1",         "sigmoid1",  "tanh1",      "relu1",       "gap1",
        "flatten1",     "dropout1",         "fc1.weight"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) assert_has_value(g, names[i]);
    assert_int_equal(tt_graph_find_value(g, "fc1.bias"), -1); /* bias: false */
    tt_graph_free(g);
    tt_config_free(c);

    /* sgd-only keys, step schedule, file kinds with their own key sets. */
    c = parse_str("data:\n"
                  "  kind: csv\n"
                  "  train: {file: train.csv, target_column: price}\n"
                  "task: regression\n"
                  "loss: smooth_l1\n"
                  "model: {input: [8], layers: [{type: linear, out_features: 1}]}\n"
                  "optimizer: {lr: 0.1, momentum: 0.5, nesterov: true, dampening: 0}\n"
                  "schedule: {kind: step, step_epochs: 3, gamma: 0.5}\n");
    assert_string_equal(c->data.train.file, "train.csv");
    assert_string_equal(c->data.train.target_column, "price");
    assert_false(c->data.test.present);
    assert_int_equal(c->loss, TT_LOSS_SMOOTH_L1);
    assert_true(c->optim.nesterov && c->optim.momentum == 0.5f);
    assert_int_equal(c->schedule.step_epochs, 3);
    assert_true(c->schedule.gamma == 0.5f);
    tt_config_free(c);

    c = parse_str("data:\n"
                  "  kind: hdf5\n"
                  "  train: {file: d.h5, inputs: x, targets: y}\n"
                  "model: {input: [2], layers: [{type: linear, out_features: 3}]}\n");
    assert_string_equal(c->data.train.file, "d.h5");
    assert_string_equal(c->data.train.inputs, "x");
    tt_config_free(c);

    c = parse_str("data:\n"
                  "  kind: npz\n"
                  "  train: {file: d.npz, inputs: x, targets: y}\n"
                  "  test: {file: t.npz, inputs: xt, targets: yt}\n"
                  "model: {input: [2], layers: [{type: linear, out_features: 3}]}\n");
    assert_int_equal(c->data.kind, TT_DATA_NPZ);
    assert_string_equal(c->data.train.file, "d.npz");
    assert_string_equal(c->data.test.targets, "yt");
    tt_config_free(c);

    c = parse_str("task: image_to_image\n"
                  "data: {kind: fashion_denoise, noise_std: 0.25, blur: 1, dir: /data/fm}\n"
                  "model:\n"
                  "  input: [1, 28, 28]\n"
                  "  layers: [{type: conv2d, out_channels: 1, padding: 1}]\n"
                  "  output: clamp_residual\n");
    assert_true(c->data.noise_std == 0.25f && c->data.blur == 1.0f);
    assert_string_equal(c->data.dir, "/data/fm");
    assert_int_equal(c->loss, TT_LOSS_MSE);
    tt_config_free(c);
}

/* ---- refused input ---------------------------------------------------------------------- */

static void bad_fixture_files(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        tt_status status;
        const char *want;
    } cases[] = {
        {"configs/bad_malformed.yaml", TT_ERR_FORMAT,
         "bad_malformed.yaml:7:7: malformed YAML: did not find expected ',' or '}'"},
        {"configs/bad_unknown_top.yaml", TT_ERR_INVALID_ARG,
         "bad_unknown_top.yaml:8:1: epochz: unknown key"},
        {"configs/bad_unknown_data.yaml", TT_ERR_INVALID_ARG,
         "bad_unknown_data.yaml:3:3: data.shuffle: unknown key"},
        {"configs/bad_unknown_layer_key.yaml", TT_ERR_INVALID_ARG,
         "bad_unknown_layer_key.yaml:7:40: model.layers[1].padding: unknown key for layer type "
         "linear (it takes: out_features, bias)"},
        {"configs/bad_wrong_type.yaml", TT_ERR_INVALID_ARG,
         "bad_wrong_type.yaml:7:36: model.layers[1].out_features: must be an integer, got the "
         "quoted string \"10\""},
        {"configs/bad_out_of_range.yaml", TT_ERR_INVALID_ARG,
         "bad_out_of_range.yaml:10:7: optimizer.lr: must be a number > 0, got -1"},
        {"configs/bad_duplicate.yaml", TT_ERR_INVALID_ARG,
         "bad_duplicate.yaml:10:1: epochs: duplicate key (first given at line 8 column 1)"},
        {"configs/bad_missing.yaml", TT_ERR_INVALID_ARG,
         "bad_missing.yaml:4:3: model.input: required key is missing"},
        {"configs/bad_alias.yaml", TT_ERR_INVALID_ARG,
         "bad_alias.yaml:1:11: defaults: YAML anchors (&d) are not supported"},
        {"configs/bad_alias_only.yaml", TT_ERR_INVALID_ARG,
         "bad_alias_only.yaml:7:36: model.layers[1].out_features: YAML aliases (*ten) are not "
         "supported"},
        {"configs/bad_empty.yaml", TT_ERR_INVALID_ARG,
         "bad_empty.yaml:1:1: (top level): the config is empty"},
        {"configs/bad_comment_only.yaml", TT_ERR_INVALID_ARG,
         "bad_comment_only.yaml:1:1: (top level): the config is empty"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[1024];
        tt_config *c = (tt_config *)0x1;
        ASSERT_FAILS(tt_config_load(tt_test_fixture(cases[i].file, path, sizeof path), &c),
                     cases[i].status, cases[i].want);
        assert_null(c); /* *out is cleared on failure */
    }
}

/* Lines 1-7 of every inline case: a valid config, so the line under test is the only error. */
#define BASE                                                                                       \
    "data:\n"                                                                                      \
    "  kind: fashion_mnist\n"                                                                      \
    "model:\n"                                                                                     \
    "  input: [1, 28, 28]\n"                                                                       \
    "  layers:\n"                                                                                  \
    "    - {type: flatten}\n"                                                                      \
    "    - {type: linear, out_features: 10}\n"

static void bad_inline(void **state)
{
    (void)state;
    static const struct {
        const char *yaml;
        tt_status status;
        const char *want;
    } cases[] = {
        /* wrong types */
        {BASE "epochs: 1.5\n", TT_ERR_INVALID_ARG, "inline.yaml:8:9: epochs: must be an integer"},
        {BASE "epochs: \"5\"\n", TT_ERR_INVALID_ARG,
         "8:9: epochs: must be an integer, got the quoted string \"5\""},
        {BASE "epochs: [5]\n", TT_ERR_INVALID_ARG, "8:9: epochs: must be an integer, got a list"},
        {BASE "epochs:\n", TT_ERR_INVALID_ARG, "epochs: must be an integer, got null"},
        {BASE "epochs: 010\n", TT_ERR_INVALID_ARG, "8:9: epochs: must be an integer"},
        {BASE "epochs: 0x10\n", TT_ERR_INVALID_ARG, "8:9: epochs: must be an integer"},
        {BASE "threads: yes\n", TT_ERR_INVALID_ARG, "8:10: threads: must be an integer"},
        {BASE "grad_clip: abc\n", TT_ERR_INVALID_ARG, "8:12: grad_clip: must be a number >= 0"},
        {BASE "grad_clip: .inf\n", TT_ERR_INVALID_ARG, "8:12: grad_clip: must be a number"},
        {BASE "grad_clip: nan\n", TT_ERR_INVALID_ARG, "8:12: grad_clip: must be a number"},
        {BASE "grad_clip: 1e39\n", TT_ERR_INVALID_ARG, "8:12: grad_clip: must be a number >= 0"},
        {BASE "optimizer: {kind: sgd, momentum: 0.9, nesterov: yes}\n", TT_ERR_INVALID_ARG,
         "8:49: optimizer.nesterov: must be true or false, got 'yes'"},
        {BASE "optimizer: {nesterov: True}\n", TT_ERR_INVALID_ARG,
         "optimizer.nesterov: must be true or false, got 'True'"},
        {BASE "optimizer: [sgd]\n", TT_ERR_INVALID_ARG,
         "8:12: optimizer: must be a map, got a list"},
        {BASE "data2: {}\n", TT_ERR_INVALID_ARG, "8:1: data2: unknown key"},
        {BASE "name: [a]\n", TT_ERR_INVALID_ARG, "8:7: name: must be a string, got a list"},
        {BASE "name: a b\n", TT_ERR_INVALID_ARG, "8:7: name: may only use"},
        {BASE "output_dir: ''\n", TT_ERR_INVALID_ARG, "8:13: output_dir: must not be empty"},
        {BASE "qat: 3\n", TT_ERR_INVALID_ARG, "8:6: qat: must be a map"},
        {BASE "qat: {epochs: 3}\n", TT_ERR_INVALID_ARG, "8:7: qat.epochs: unknown key; qat takes"},
        {BASE "qat: {epochs_qat: 0}\n", TT_ERR_INVALID_ARG,
         "8:19: qat.epochs_qat: must be an integer in 1..1000000, got 0"},
        {BASE "qat: {lr_qat: -1}\n", TT_ERR_INVALID_ARG, "qat.lr_qat: must be a number > 0"},
        {BASE "qat: {n_calibration: many}\n", TT_ERR_INVALID_ARG,
         "qat.n_calibration: must be an integer"},
        {BASE "qat: {bn_fold: merge}\n", TT_ERR_INVALID_ARG,
         "qat.bn_fold: must be one of fold | simulate, got"},
        {BASE "qat: {weight: {dtype: int4}}\n", TT_ERR_INVALID_ARG,
         "qat.weight.dtype: must be one of u8 | s8"},
        {BASE "qat: {activation: {per_channel: true}}\n", TT_ERR_INVALID_ARG,
         "qat.activation.per_channel: unknown key; qat.activation takes"},
        {BASE "qat: {weight: {averaging_constant: 0.1}}\n", TT_ERR_INVALID_ARG,
         "qat.weight.averaging_constant: only applies to observer moving_average"},
        {BASE "qat: {activation: {observer: ema}}\n", TT_ERR_INVALID_ARG,
         "qat.activation.observer: must be one of minmax | moving_average"},
        {BASE "qat: {learnable_scale: true, n_calibration: 0}\n", TT_ERR_INVALID_ARG,
         "qat.n_calibration: must be > 0 with learnable_scale"},
        {BASE "qat: {learnable_scale: 1}\n", TT_ERR_INVALID_ARG,
         "qat.learnable_scale: must be true or false"},
        {BASE "{a: 1}: 2\n", TT_ERR_INVALID_ARG,
         "inline.yaml:8:1: (top level): map keys must be plain strings, not maps"},
        /* out of range */
        {BASE "epochs: 0\n", TT_ERR_INVALID_ARG,
         "8:9: epochs: must be an integer in 1..1000000, got 0"},
        {BASE "epochs: 99999999999999999999\n", TT_ERR_INVALID_ARG, "8:9: epochs: must be"},
        {BASE "batch_size: 70000\n", TT_ERR_INVALID_ARG,
         "8:13: batch_size: must be an integer in 1..65536, got 70000"},
        {BASE "seed: -1\n", TT_ERR_INVALID_ARG, "8:7: seed: must be an integer >= 0, got -1"},
        {BASE "grad_clip: -0.5\n", TT_ERR_INVALID_ARG, "8:12: grad_clip: must be a number >= 0"},
        {BASE "optimizer: {lr: 0}\n", TT_ERR_INVALID_ARG,
         "8:17: optimizer.lr: must be a number > 0"},
        {BASE "optimizer: {momentum: 1}\n", TT_ERR_INVALID_ARG,
         "optimizer.momentum: must be a number in [0, 1), got 1"},
        {BASE "optimizer: {kind: adam, betas: [0.9]}\n", TT_ERR_INVALID_ARG,
         "8:32: optimizer.betas: must be [beta1, beta2]"},
        {BASE "optimizer: {kind: adam, betas: [0.9, 1.0]}\n", TT_ERR_INVALID_ARG,
         "8:38: optimizer.betas[1]: must be a number in [0, 1)"},
        {BASE "optimizer: {nesterov: true}\n", TT_ERR_INVALID_ARG,
         "optimizer.nesterov: true needs momentum > 0"},
        {BASE "schedule: {kind: step, gamma: 0}\n", TT_ERR_INVALID_ARG,
         "8:31: schedule.gamma: must be a number in (0, 1]"},
        /* enums and kind-specific keys */
        {BASE "schedule: {kind: linear}\n", TT_ERR_INVALID_ARG,
         "8:18: schedule.kind: must be one of constant | step | cosine, got 'linear'"},
        {BASE "schedule: {eta_min: 0.1}\n", TT_ERR_INVALID_ARG,
         "8:12: schedule.eta_min: only applies to kind cosine (kind is constant)"},
        {BASE "optimizer: {kind: adam, momentum: 0.9}\n", TT_ERR_INVALID_ARG,
         "8:25: optimizer.momentum: only applies to kind sgd (kind is adam)"},
        {BASE "optimizer: {eps: 1.0e-8}\n", TT_ERR_INVALID_ARG,
         "optimizer.eps: only applies to kinds adam and adamw"},
        {BASE "loss: mse\n", TT_ERR_INVALID_ARG, "8:7: loss: mse does not fit task classification"},
        {BASE "loss: hinge\n", TT_ERR_INVALID_ARG, "8:7: loss: must be one of"},
        {BASE "task: regression\n", TT_ERR_INVALID_ARG,
         "8:7: task: data kind fashion_mnist needs task: classification"},
        /* duplicates, anchors, aliases, tags, documents, nesting */
        {BASE "epochs: 3\nepochs: 4\n", TT_ERR_INVALID_ARG,
         "9:1: epochs: duplicate key (first given at line 8 column 1)"},
        {BASE "data: {kind: fashion_mnist}\n", TT_ERR_INVALID_ARG,
         "8:1: data: duplicate key (first given at line 1 column 1)"},
        {BASE "epochs: *n\n", TT_ERR_INVALID_ARG,
         "8:9: epochs: YAML aliases (*n) are not supported"},
        {BASE "epochs: &n 3\n", TT_ERR_INVALID_ARG, "8:9: epochs: YAML anchors (&n)"},
        {BASE "epochs: !!int 3\n", TT_ERR_INVALID_ARG, "8:9: epochs: YAML tags"},
        {BASE "---\nepochs: 3\n", TT_ERR_INVALID_ARG, "inline.yaml:8:1: a second YAML document"},
        {BASE
         "qat: "
         "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
         TT_ERR_INVALID_ARG, "qat[0][0][0]"},
        {"- 1\n- 2\n", TT_ERR_INVALID_ARG,
         "inline.yaml:1:1: (top level): must be a map, got a list"},
        {"just text\n", TT_ERR_INVALID_ARG, "inline.yaml:1:1: (top level): must be a map"},
        {"---\n", TT_ERR_INVALID_ARG, "inline.yaml:1:1: (top level): the config is empty"},
        {"a: b: c\n", TT_ERR_FORMAT, "inline.yaml:1:5: malformed YAML"},
        {"data: {kind: x}\n\x01\n", TT_ERR_FORMAT, "inline.yaml:2:1: malformed YAML"},
        /* data */
        {"data: {}\nmodel: {input: [1], layers: [{type: relu}]}\n", TT_ERR_INVALID_ARG,
         "inline.yaml:1:7: data.kind: required key is missing"},
        {"model: {input: [1], layers: [{type: relu}]}\n", TT_ERR_INVALID_ARG,
         "inline.yaml:1:1: data: required key is missing"},
        {"data: {kind: fashion_mnist}\n", TT_ERR_INVALID_ARG,
         "inline.yaml:1:1: model: required key is missing"},
        {"data: {kind: mnist}\n", TT_ERR_INVALID_ARG,
         "1:14: data.kind: must be one of fashion_mnist | idx |"},
        {"data: {kind: npy}\nmodel: {input: [1], layers: [{type: relu}]}\n", TT_ERR_INVALID_ARG,
         "1:7: data.train: required key is missing"},
        {"data: {kind: npy, train: {inputs: a.npy}}\n", TT_ERR_INVALID_ARG,
         "1:26: data.train.targets: required key is missing"},
        {"data: {kind: npy, train: {inputs: a.npy, targets: b.npy, file: c}}\n", TT_ERR_INVALID_ARG,
         "1:58: data.train.file: unknown key; a npy file set takes: inputs, targets"},
        {"data: {kind: fashion_mnist, samples: 5}\n", TT_ERR_INVALID_ARG,
         "1:29: data.samples: only applies to data kind synthetic (kind is fashion_mnist)"},
        {"data: {kind: synthetic, dir: /x}\n", TT_ERR_INVALID_ARG,
         "1:25: data.dir: only applies to data kinds fashion_mnist"},
        {"data: {kind: fashion_mnist, val_split: 0.6}\n", TT_ERR_INVALID_ARG,
         "1:40: data.val_split: must be a number in [0, 0.5], got 0.6"},
        {"data: {kind: fashion_mnist, normalize: {mean: [0.5], std: [0]}}\n", TT_ERR_INVALID_ARG,
         "1:60: data.normalize.std[0]: must be a number > 0, got 0"},
        {"data: {kind: fashion_mnist, normalize: {mean: [0.5], std: [1, 2]}}\n", TT_ERR_INVALID_ARG,
         "1:59: data.normalize.std: has 2 entries but mean has 1"},
        {"data: {kind: fashion_mnist, normalize: {mean: [0.5]}}\n", TT_ERR_INVALID_ARG,
         "1:40: data.normalize.std: required key is missing"},
        {"data: {kind: fashion_mnist, augment: {hflip: 1}}\n", TT_ERR_INVALID_ARG,
         "1:46: data.augment.hflip: must be true or false, got '1'"},
        {"data: {kind: fashion_mnist, augment: {crop_padding: -2}}\n", TT_ERR_INVALID_ARG,
         "1:53: data.augment.crop_padding: must be an integer in 0..64, got -2"},
        {"data: {kind: fashion_mnist, augment: {rotate: 5}}\n", TT_ERR_INVALID_ARG,
         "1:39: data.augment.rotate: unknown key; data.augment takes: crop_padding, hflip"},
        {"data: {kind: fashion_mnist, normalize: {mean: [0.1, 0.2], std: [1, 1]}}\n"
         "model: {input: [1, 28, 28], layers: [{type: flatten}]}\n",
         TT_ERR_INVALID_ARG, "1:47: data.normalize.mean: has 2 entries"},
        {"data: {kind: fashion_mnist}\nmodel: {input: [3, 32, 32], layers: [{type: flatten}]}\n",
         TT_ERR_INVALID_ARG, "2:16: model.input: Fashion-MNIST samples are [1, 28, 28]"},
        {"data: {kind: synthetic, augment: {hflip: true}}\n"
         "model: {input: [4], layers: [{type: relu}]}\n",
         TT_ERR_INVALID_ARG, "1:34: data.augment: needs image samples"},
        /* model and layers */
        {"data: {kind: synthetic}\nmodel: {input: [1, 28], layers: [{type: relu}]}\n",
         TT_ERR_INVALID_ARG, "2:16: model.input: must be [C, H, W] or [F]"},
        {"data: {kind: synthetic}\nmodel: {input: [0], layers: [{type: relu}]}\n",
         TT_ERR_INVALID_ARG, "2:17: model.input[0]: must be an integer in 1..65536, got 0"},
        {"data: {kind: synthetic}\nmodel: {input: [4], layers: []}\n", TT_ERR_INVALID_ARG,
         "2:29: model.layers: must list at least one layer"},
        {"data: {kind: synthetic}\nmodel: {input: [4], layers: [relu]}\n", TT_ERR_INVALID_ARG,
         "2:30: model.layers[0]: must be a map, got 'relu'"},
        {"data: {kind: synthetic}\nmodel: {input: [4], layers: [{type: conv3d}]}\n",
         TT_ERR_INVALID_ARG, "2:37: model.layers[0].type: must be one of linear | conv2d |"},
        {"data: {kind: synthetic}\nmodel: {input: [4], layers: [{out_features: 3}]}\n",
         TT_ERR_INVALID_ARG, "2:30: model.layers[0].type: required key is missing"},
        {"data: {kind: synthetic}\nmodel: {input: [4], layers: [{type: linear}]}\n",
         TT_ERR_INVALID_ARG, "2:30: model.layers[0].out_features: required key is missing"},
        {"data: {kind: synthetic}\nmodel: {input: [4], layers: [{type: relu, inplace: true}]}\n",
         TT_ERR_INVALID_ARG,
         "2:43: model.layers[0].inplace: unknown key for layer type relu (it takes: only 'type')"},
        {"data: {kind: synthetic}\nmodel:\n  input: [1, 8, 8]\n  layers:\n"
         "    - {type: conv2d, out_channels: 4, kernel: 0}\n",
         TT_ERR_INVALID_ARG, "5:47: model.layers[0].kernel: must be an integer in 1..64, got 0"},
        {"data: {kind: synthetic}\nmodel:\n  input: [1, 8, 8]\n  layers:\n"
         "    - {type: conv2d, out_channels: 4, groups: 3}\n",
         TT_ERR_INVALID_ARG, "5:47: model.layers[0].groups: must divide out_channels (4), got 3"},
        {"data: {kind: synthetic}\nmodel:\n  input: [1, 8, 8]\n  layers:\n"
         "    - {type: maxpool, kernel: 2, padding: 2}\n",
         TT_ERR_INVALID_ARG, "5:43: model.layers[0].padding: must be at most kernel/2"},
        {"data: {kind: synthetic}\nmodel:\n  input: [4]\n  layers:\n"
         "    - {type: dropout, ratio: 1.0}\n",
         TT_ERR_INVALID_ARG, "5:30: model.layers[0].ratio: must be a number in [0, 1), got 1.0"},
        {"data: {kind: synthetic}\nmodel:\n  input: [4]\n  layers:\n"
         "    - {type: batchnorm, momentum: 2}\n",
         TT_ERR_INVALID_ARG, "5:35: model.layers[0].momentum: must be a number in [0, 1]"},
        {"data: {kind: synthetic}\nmodel:\n  input: [4]\n  layers:\n"
         "    - {type: linear, out_features: 2, bias: 0}\n",
         TT_ERR_INVALID_ARG, "5:45: model.layers[0].bias: must be true or false, got '0'"},
        {"data: {kind: synthetic}\nmodel: {input: [4], layers: [{type: relu}], output: clamp}\n",
         TT_ERR_INVALID_ARG, "2:53: model.output: must be one of none | clamp_residual"},
        {"data: {kind: synthetic}\nmodel: {input: [4], layers: [{type: relu}], output: "
         "clamp_residual}\n",
         TT_ERR_INVALID_ARG, "2:53: model.output: clamp_residual is an image_to_image head"},
        {"task: image_to_image\ndata: {kind: fashion_denoise, normalize: {mean: [0.5], std: [1]}}\n"
         "model: {input: [1, 28, 28], layers: [{type: relu}], output: clamp_residual}\n",
         TT_ERR_INVALID_ARG,
         "2:42: data.normalize: cannot be used with model output clamp_residual"},
        {"data: {kind: fashion_mnist}\nmodel: {input: [1, 28, 28], layers: [{type: relu}], "
         "extra: 1}\n",
         TT_ERR_INVALID_ARG, "2:53: model.extra: unknown key; model takes: input, layers, output"},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tt_config *c = NULL;
        tt_status s = tt_config_parse(cases[i].yaml, strlen(cases[i].yaml), "inline.yaml", &c);
        bad += !fails_with(s, cases[i].status, cases[i].want, cases[i].yaml);
        assert_null(c);
    }
    assert_int_equal(bad, 0);
}

static void too_many_layers(void **state)
{
    (void)state;
    /* 65 layers, one per line from line 5: the 65th (index 64) is on line 69. */
    char yaml[8192] = "data: {kind: synthetic}\nmodel:\n  input: [4]\n  layers:\n";
    for (int i = 0; i < TT_CONFIG_MAX_LAYERS + 1; i++) strcat(yaml, "    - {type: relu}\n");
    tt_config *c = NULL;
    ASSERT_FAILS(tt_config_parse(yaml, strlen(yaml), "many.yaml", &c), TT_ERR_INVALID_ARG,
                 "many.yaml:69:7: model.layers[64]: too many layers (at most 64)");
    /* Exactly at the cap is fine. */
    char *last = strrchr(yaml, '-');
    *(last - 4) = '\0';
    TT_ASSERT_OK(tt_config_parse(yaml, strlen(yaml), "many.yaml", &c));
    assert_int_equal(c->model.n_layers, TT_CONFIG_MAX_LAYERS);
    tt_config_free(c);
}

static void hostile_input(void **state)
{
    (void)state;
    tt_config *c = NULL;
    /* Over the 1 MiB cap: refused before parsing, from memory and from a file. */
    size_t big = (size_t)TT_CONFIG_MAX_BYTES + 1;
    char *buf = malloc(big);
    assert_non_null(buf);
    memset(buf, '#', big);
    ASSERT_FAILS(tt_config_parse(buf, big, "huge.yaml", &c), TT_ERR_INVALID_ARG,
                 "huge.yaml: config is 1048577 bytes; the limit is 1048576");
    char path[] = "/tmp/tt_test_config_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, big, f), big);
    fclose(f);
    char want[64];
    snprintf(want, sizeof want, "%s: config file is over the", path);
    ASSERT_FAILS(tt_config_load(path, &c), TT_ERR_INVALID_ARG, want);
    remove(path);
    free(buf);

    /* Deep nesting stops at the depth cap, well before libyaml's own stack grows. */
    size_t depth = 100000;
    buf = malloc(2 * depth + 16);
    assert_non_null(buf);
    memcpy(buf, "qat: ", 5);
    memset(buf + 5, '[', depth);
    memset(buf + 5 + depth, ']', depth);
    ASSERT_FAILS(tt_config_parse(buf, 5 + 2 * depth, "deep.yaml", &c), TT_ERR_INVALID_ARG,
                 "nested too deeply (at most 32 levels)");
    free(buf);

    /* A billion-laughs file: refused at its first alias, with nothing expanded. */
    const char *lol = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                      "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                      "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n";
    ASSERT_FAILS(tt_config_parse(lol, strlen(lol), "lol.yaml", &c), TT_ERR_INVALID_ARG,
                 "lol.yaml:1:4: a: YAML anchors (&a) are not supported");

    /* A map with more keys than any section has. */
    size_t cap = 300 * 16;
    buf = malloc(cap);
    assert_non_null(buf);
    buf[0] = '\0';
    for (int i = 0; i < 300; i++) snprintf(buf + strlen(buf), cap - strlen(buf), "k%d: 1\n", i);
    ASSERT_FAILS(tt_config_parse(buf, strlen(buf), "wide.yaml", &c), TT_ERR_INVALID_ARG,
                 "wide.yaml:257:1: k256: too many keys in one map (at most 256)");
    free(buf);

    /* NUL bytes inside the text and inside a quoted scalar. */
    const char nul[] = BASE "name: \"a\\0b\"\n";
    ASSERT_FAILS(tt_config_parse(nul, strlen(nul), "nul.yaml", &c), TT_ERR_INVALID_ARG,
                 "nul.yaml:8:7: name: must not contain NUL bytes");
    const char raw_nul[] = "data: {kind: x}\0\n";
    assert_int_not_equal(tt_config_parse(raw_nul, sizeof raw_nul - 1, "nul.yaml", &c), TT_OK);
    assert_null(c);

    /* Missing, unreadable and NULL inputs. */
    ASSERT_FAILS(tt_config_load("/nonexistent/tt/config.yaml", &c), TT_ERR_IO,
                 "/nonexistent/tt/config.yaml: cannot open config file");
    ASSERT_FAILS(tt_config_load("/", &c), TT_ERR_IO, "/: cannot read config file");
    assert_int_equal(tt_config_load(NULL, &c), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_config_parse("a: 1", 4, "x", NULL), TT_ERR_INVALID_ARG);
    ASSERT_FAILS(tt_config_parse(NULL, 0, "null.yaml", &c), TT_ERR_INVALID_ARG,
                 "null.yaml:1:1: (top level): the config is empty");
    tt_config_free(NULL);
}

/* ---- overrides -------------------------------------------------------------------------- */

static void overrides(void **state)
{
    (void)state;
    tt_config *c = load_fixture("configs/minimal.yaml");
    TT_ASSERT_OK(tt_config_apply_override(c, "epochs", "3"));
    TT_ASSERT_OK(tt_config_apply_override(c, "seed", "123"));
    TT_ASSERT_OK(tt_config_apply_override(c, "out", "runs/x"));
    TT_ASSERT_OK(tt_config_apply_override(c, "threads", "4"));
    TT_ASSERT_OK(tt_config_apply_override(c, "batch-size", "64"));
    TT_ASSERT_OK(tt_config_apply_override(c, "lr", "2.5e-2"));
    assert_int_equal(c->epochs, 3);
    assert_int_equal(c->seed, 123);
    assert_string_equal(c->output_dir, "runs/x");
    assert_int_equal(c->threads, 4);
    assert_int_equal(c->batch_size, 64);
    assert_true(c->optim.lr == 2.5e-2f);
    assert_int_equal(c->overrides, TT_CONFIG_OV_EPOCHS | TT_CONFIG_OV_SEED | TT_CONFIG_OV_OUT |
                                       TT_CONFIG_OV_THREADS | TT_CONFIG_OV_BATCH_SIZE |
                                       TT_CONFIG_OV_LR);
    TT_ASSERT_OK(tt_config_apply_override(c, "batch_size", "1"));
    assert_int_equal(c->batch_size, 1);

    static const struct {
        const char *key, *value, *want;
    } bad[] = {
        {"epochs", "0", "--epochs: must be an integer in 1..1000000, got 0"},
        {"epochs", "1.5", "--epochs: must be an integer in 1..1000000, got '1.5'"},
        {"epochs", "", "--epochs: must be an integer"},
        {"epochs", " 3", "--epochs: must be an integer"},
        {"seed", "-5", "--seed: must be an integer >= 0, got -5"},
        {"threads", "2000", "--threads: must be an integer in 0..1024, got 2000"},
        {"batch-size", "70000", "--batch-size: must be an integer in 1..65536, got 70000"},
        {"batch_size", "x", "--batch-size: must be an integer"},
        {"lr", "-1", "--lr: must be a number > 0, got -1"},
        {"lr", "abc", "--lr: must be a number > 0, got 'abc'"},
        {"lr", "inf", "--lr: must be a number > 0"},
        {"out", "", "--out: must not be empty"},
        {"optimizer", "adam", "--optimizer: not a setting that can be overridden"},
        {"epochs", NULL, "--epochs: needs a value"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ASSERT_FAILS(tt_config_apply_override(c, bad[i].key, bad[i].value), TT_ERR_INVALID_ARG,
                     bad[i].want);
    /* A refused override leaves the config as it was. */
    assert_int_equal(c->epochs, 3);
    assert_true(c->optim.lr == 2.5e-2f);
    assert_string_equal(c->output_dir, "runs/x");
    assert_int_equal(tt_config_apply_override(NULL, "epochs", "1"), TT_ERR_INVALID_ARG);
    tt_config_free(c);
}

/* ---- model building --------------------------------------------------------------------- */

static void build_errors_name_the_layer(void **state)
{
    (void)state;
    /* Linear on an image without a Flatten: the builder's shape error, placed in the YAML. */
    tt_config *c = parse_str("data: {kind: fashion_mnist}\n"
                             "model:\n"
                             "  input: [1, 28, 28]\n"
                             "  layers:\n"
                             "    - {type: relu}\n"
                             "    - {type: linear, out_features: 10}\n");
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    tt_rng rng;
    tt_rng_seed(&rng, 0, 0);
    int in, out;
    ASSERT_FAILS(tt_model_build(c, g, &rng, &in, &out), TT_ERR_SHAPE,
                 "inline.yaml:6:7: model.layers[1] (linear): tt_layer_linear('fc1')");
    tt_graph_free(g);
    tt_config_free(c);

    /* A conv on a flat input. */
    c = parse_str("data: {kind: synthetic}\nmodel: {input: [4], layers: [{type: conv2d, "
                  "out_channels: 2}]}\n");
    TT_ASSERT_OK(tt_graph_create(&g));
    ASSERT_FAILS(tt_model_build(c, g, &rng, &in, &out), TT_ERR_SHAPE,
                 "inline.yaml:2:30: model.layers[0] (conv2d): ");
    tt_graph_free(g);
    tt_config_free(c);

    /* clamp_residual needs the last layer to give the input's shape back. */
    c = parse_str("task: image_to_image\n"
                  "data: {kind: fashion_denoise}\n"
                  "model:\n"
                  "  input: [1, 28, 28]\n"
                  "  layers: [{type: conv2d, out_channels: 2, padding: 1}]\n"
                  "  output: clamp_residual\n");
    TT_ASSERT_OK(tt_graph_create(&g));
    ASSERT_FAILS(tt_model_build(c, g, &rng, &in, &out), TT_ERR_SHAPE,
                 "inline.yaml:6:11: model.output: clamp_residual adds the input");
    tt_graph_free(g);
    tt_config_free(c);

    assert_int_equal(tt_model_build(NULL, g, &rng, &in, &out), TT_ERR_INVALID_ARG);
}

static void filter_head_clamps_and_build_is_seeded(void **state)
{
    (void)state;
    tt_config *c = load_fixture("../../configs/fashion_filter.yaml");
    int in, out, in2, out2;
    tt_graph *g = build(c, &in, &out);
    tt_graph *g2 = build(c, &in2, &out2);
    assert_int_equal(g->nodes[g->n_nodes - 1].op, TT_OP_CLIP);
    assert_int_equal(g->nodes[g->n_nodes - 2].op, TT_OP_ADD);
    /* Same seed, same parameters, bit for bit. */
    assert_int_equal(g->n_values, g2->n_values);
    for (int i = 0; i < g->n_values; i++) {
        if (g->values[i].kind != TT_VALUE_PARAM) continue;
        int64_t n = tt_shape_numel(&g->values[i].shape);
        assert_memory_equal(tt_graph_param_data(g, i), tt_graph_param_data(g2, i),
                            (size_t)n * sizeof(float));
    }
    /* Whatever the untrained network adds, the output stays in [0, 1] (exact: it is a Clip). */
    tt_exec *e;
    TT_ASSERT_OK(tt_exec_create(g, 2, &e));
    float x[2 * 28 * 28];
    tt_rng rng;
    tt_rng_seed(&rng, 9, 0);
    tt_test_fill_uniform(x, 2 * 28 * 28, 0.0f, 1.0f, &rng);
    TT_ASSERT_OK(tt_exec_set_input(e, in, x, 2));
    TT_ASSERT_OK(tt_exec_forward(e, 2, false));
    const tt_tensor *y = tt_exec_value(e, out);
    assert_int_equal(tt_tensor_numel(y), 2 * 28 * 28);
    const float *yv = tt_tensor_f32(y);
    int moved = 0;
    for (int i = 0; i < 2 * 28 * 28; i++) {
        assert_true(yv[i] >= 0.0f && yv[i] <= 1.0f);
        moved += yv[i] != x[i];
    }
    assert_true(moved > 0); /* the layers really contribute */
    tt_exec_free(e);
    tt_graph_free(g2);
    tt_graph_free(g);
    tt_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shipped_configs_parse_and_build),
        cmocka_unit_test(shipped_config_values),
        cmocka_unit_test(defaults_applied),
        cmocka_unit_test(all_keys_parsed),
        cmocka_unit_test(bad_fixture_files),
        cmocka_unit_test(bad_inline),
        cmocka_unit_test(too_many_layers),
        cmocka_unit_test(hostile_input),
        cmocka_unit_test(overrides),
        cmocka_unit_test(build_errors_name_the_layer),
        cmocka_unit_test(filter_head_clamps_and_build_is_seeded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
