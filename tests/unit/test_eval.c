/* tinytrain eval's library part (tinytrain/eval.h): metrics of hand-made outputs against values
 * worked out by hand, the agreement of two models, the data loaders (the .npz fixtures of
 * tests/fixtures/eval and a synthetic config), the layer list the sensitivity study walks, the
 * two studies on a 4-input MLP, and the SVG and JSON writers. The command line and the models
 * of model/ are in tests/cli/test_eval_onnx.sh; the metrics against ONNX Runtime in
 * tests/onnx/check_eval.py. */
#include "testutil.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "data/dataset_internal.h"
#include "tinytrain/eval.h"
#include "tinytrain/npz.h"

/* A resident data set of n samples of m values with labels or float targets. */
static tt_eval_data make_data(tt_task task, int64_t n, int64_t m, const float *x, const void *y)
{
    tt_eval_data d;
    memset(&d, 0, sizeof d);
    tt_shape in = {.ndim = 1, .dims = {m}}, tg = {.ndim = 1, .dims = {m}};
    tt_target_kind tk = task == TT_TASK_CLASSIFICATION ? TT_TARGET_LABEL : TT_TARGET_FLOAT;
    TT_ASSERT_OK(tt_ds_create(&d.ds, n, &in, tk, &tg, true, "test"));
    memcpy(d.ds->inputs, x, (size_t)(n * m) * sizeof(float));
    if (tk == TT_TARGET_LABEL)
        memcpy(d.ds->labels, y, (size_t)n * sizeof(int32_t));
    else
        memcpy(d.ds->targets, y, (size_t)(n * m) * sizeof(float));
    d.task = task;
    snprintf(d.path, sizeof d.path, "hand-made");
    return d;
}

/* Five samples of three classes; sample 1's tie (3, 3) goes to the first maximum, class 1.
 * Correct: samples 0, 2, 4 -> 60%; class 0: 1 of 1, class 1: 1 of 2, class 2: 1 of 2. */
static void test_classification(void **state)
{
    (void)state;
    const float z[] = {2, 1, 0, 0, 3, 3, 0, 0, 5, 1, 0, 0, 0, 2, 1};
    const int32_t labels[] = {0, 2, 2, 1, 1};
    tt_eval_data d = make_data(TT_TASK_CLASSIFICATION, 5, 3, z, labels);
    tt_eval_result r;
    TT_ASSERT_OK(tt_eval_score(&d, z, 3, &r));
    assert_int_equal(r.n, 5);
    assert_int_equal(r.n_classes, 3);
    assert_true(r.accuracy == 60.0);
    assert_true(r.class_accuracy[0] == 100.0 && r.class_accuracy[1] == 50.0);
    assert_true(r.class_accuracy[2] == 50.0);
    const int64_t want[9] = {1, 0, 0, 1, 1, 0, 0, 1, 1}; /* [true][predicted] */
    for (int i = 0; i < 9; i++) assert_int_equal(r.confusion[i], want[i]);
    assert_true(isnan(r.loss) && isnan(r.plcc) && isnan(r.psnr));
    assert_true(tt_eval_main_metric(&r) == 60.0);
    tt_eval_data_free(&d);
}

/* Outputs [1, 2, 3, 4] against targets [1, 3, 2, 5]: PLCC 5.5 / sqrt(43.75) (test_gate.c),
 * RMSE sqrt(3 / 4), SROCC 1 - 6 * 2 / (4 * 15) = 0.8 (ranks 0123 against 0213). */
static void test_regression(void **state)
{
    (void)state;
    const float y[] = {1, 2, 3, 4}, t[] = {1, 3, 2, 5};
    tt_eval_data d = make_data(TT_TASK_REGRESSION, 4, 1, y, t);
    tt_eval_result r;
    TT_ASSERT_OK(tt_eval_score(&d, y, 1, &r));
    assert_true(fabs(r.plcc - 5.5 / sqrt(43.75)) < 1e-12);
    assert_true(fabs(r.rmse - sqrt(0.75)) < 1e-7);
    assert_true(fabs(r.srocc - 0.8) < 1e-12);
    assert_true(isnan(r.accuracy) && isnan(r.psnr));
    assert_int_equal(tt_eval_score(&d, y, 2, &r), TT_ERR_SHAPE); /* 2 outputs, 1 target */
    tt_eval_data_free(&d);
}

/* Two images of four values: the first output equals its target (counted as 100 dB, the
 * trainer's cap), the second is off by 0.1 everywhere (MSE 0.01: 20 dB); mean 60 dB. The raw
 * inputs are off by 0.1 from both targets: input PSNR 20 dB. */
static void test_image(void **state)
{
    (void)state;
    const float t[] = {0.2f, 0.4f, 0.6f, 0.8f, 0.1f, 0.3f, 0.5f, 0.7f};
    float y[8], x[8];
    for (int i = 0; i < 8; i++) {
        y[i] = i < 4 ? t[i] : t[i] + 0.1f;
        x[i] = t[i] + 0.1f;
    }
    tt_eval_data d = make_data(TT_TASK_IMAGE_TO_IMAGE, 2, 4, x, t);
    tt_eval_result r;
    TT_ASSERT_OK(tt_eval_score(&d, y, 4, &r));
    assert_true(fabs(r.psnr - 60.0) < 1e-4); /* float32 0.1 steps: ~1e-6 dB off */
    assert_true(fabs(r.psnr_input - 20.0) < 1e-4);
    assert_true(r.plcc > 0.9 && r.plcc < 1.0);
    assert_true(isnan(r.srocc));
    /* Normalised inputs are no images in [0, 1]: no input PSNR. */
    d.ds->n_norm = 1;
    TT_ASSERT_OK(tt_eval_score(&d, y, 4, &r));
    assert_true(isnan(r.psnr_input));
    tt_eval_data_free(&d);
}

/* Agreement: argmax equal on 2 of 3 samples; the PLCC is the gate's over all six values. */
static void test_agreement(void **state)
{
    (void)state;
    const float a[] = {1, 0, 0, 1, 2, 1}, b[] = {2, 0, 1, 0, 3, 1};
    tt_eval_agreement ag;
    tt_eval_agree(a, b, 3, 2, &ag);
    assert_true(fabs(ag.top1 - 200.0 / 3) < 1e-12);
    tt_gate_metrics g;
    tt_gate_compare(a, b, 6, &g);
    assert_true(ag.gate.plcc == g.plcc && ag.gate.worst_abs == 1.0);
    const float z[] = {1, 3, 3, 2};
    assert_int_equal(tt_eval_argmax(z, 4), 1);
}

/* A model that fixes its batch at 4 on 6 samples: the last two run padded with zeros to a whole
 * batch, and only their outputs are kept. y = x W + b, W = [[1, 0], [0, 1], [1, 1]],
 * b = [0.5, -0.5] (tests/fixtures/eval/fixed4.onnx), worked out here in float. */
static void test_fixed_batch(void **state)
{
    (void)state;
    char p[512];
    tt_runtime *rt = NULL;
    TT_ASSERT_OK(tt_runtime_load(tt_test_fixture("eval/fixed4.onnx", p, sizeof p), NULL, &rt));
    float x[18];
    for (int i = 0; i < 18; i++) x[i] = (float)(i % 7) - 2.0f;
    const int32_t labels[6] = {0, 1, 0, 1, 0, 1};
    tt_eval_data d = make_data(TT_TASK_CLASSIFICATION, 6, 3, x, labels);
    float *y = NULL;
    TT_ASSERT_OK(tt_eval_predict(rt, &d, "fixed4", NULL, NULL, &y));
    for (int i = 0; i < 6; i++) {
        const float *r = x + 3 * i;
        assert_true(y[2 * i] == r[0] + r[2] + 0.5f);
        assert_true(y[2 * i + 1] == r[1] + r[2] - 0.5f);
    }
    free(y);
    tt_eval_data_free(&d);
    tt_runtime_free(rt);
}

static void test_names(void **state)
{
    (void)state;
    tt_eval_split s;
    tt_task t;
    TT_ASSERT_OK(tt_eval_split_parse("val", &s));
    assert_int_equal(s, TT_EVAL_SPLIT_VAL);
    assert_string_equal(tt_eval_split_name(TT_EVAL_SPLIT_TRAIN), "train");
    assert_int_equal(tt_eval_split_parse("dev", &s), TT_ERR_INVALID_ARG);
    TT_ASSERT_OK(tt_eval_task_parse("image_to_image", &t));
    assert_int_equal(t, TT_TASK_IMAGE_TO_IMAGE);
    assert_int_equal(tt_eval_task_parse("Classification", &t), TT_ERR_INVALID_ARG);
}

static const tt_shape IMAGE = {.ndim = 3, .dims = {1, 28, 28}};

static void test_npz_data(void **state)
{
    (void)state;
    char p[512];
    tt_eval_data d;
    tt_eval_data_opts o = {.limit = 10};
    TT_ASSERT_OK(tt_eval_data_from_npz(tt_test_fixture("eval/fashion100.npz", p, sizeof p), &o,
                                       &IMAGE, 10, &d));
    assert_int_equal(d.ds->n, 10);
    assert_int_equal(d.task, TT_TASK_CLASSIFICATION);
    assert_null(d.split);
    assert_int_equal(strlen(d.sha256), 64);
    tt_eval_data_free(&d);
    TT_ASSERT_OK(tt_eval_data_from_npz(tt_test_fixture("eval/image8.npz", p, sizeof p), NULL,
                                       &IMAGE, 784, &d));
    assert_int_equal(d.task, TT_TASK_IMAGE_TO_IMAGE); /* uint8 targets of the input's size */
    assert_true(d.ds->targets[0] >= 0 && d.ds->targets[0] <= 1);
    tt_eval_data_free(&d);
    TT_ASSERT_OK(tt_eval_data_from_npz(tt_test_fixture("eval/regress16.npz", p, sizeof p), NULL,
                                       &IMAGE, 1, &d));
    assert_int_equal(d.task, TT_TASK_REGRESSION);
    tt_eval_data_free(&d);
    o = (tt_eval_data_opts){.task_given = true, .task = TT_TASK_CLASSIFICATION};
    assert_int_equal(tt_eval_data_from_npz(p, &o, &IMAGE, 1, &d), TT_ERR_FORMAT);
    assert_null(d.ds);
    assert_int_equal(
        tt_eval_data_from_npz(tt_test_fixture("eval/names.npz", p, sizeof p), NULL, &IMAGE, 10, &d),
        TT_ERR_FORMAT);
    assert_non_null(strstr(tt_last_error(), "the file has 'x', 'y'"));
    assert_int_equal(tt_eval_data_from_npz(tt_test_fixture("eval/label10.npz", p, sizeof p), NULL,
                                           &IMAGE, 10, &d),
                     TT_ERR_SHAPE);
    assert_int_equal(
        tt_eval_data_from_npz(tt_test_fixture("eval/nan.npz", p, sizeof p), NULL, &IMAGE, 10, &d),
        TT_ERR_NUMERIC);
}

static void test_config_data(void **state)
{
    (void)state;
    char p[512];
    tt_config *cfg = NULL;
    TT_ASSERT_OK(tt_config_load(tt_test_fixture("eval/synthetic28.yaml", p, sizeof p), &cfg));
    tt_eval_data d;
    tt_eval_data_opts o = {.split = TT_EVAL_SPLIT_VAL};
    TT_ASSERT_OK(tt_eval_data_from_config(cfg, &o, 784, 10, &d));
    assert_int_equal(d.ds->n, 16); /* 0.25 of 64 */
    assert_string_equal(d.split, "val");
    assert_int_equal(d.ds->n_norm, 1); /* normalised as the trainer normalises */
    tt_eval_data_free(&d);
    o = (tt_eval_data_opts){.split = TT_EVAL_SPLIT_TRAIN, .limit = 5};
    TT_ASSERT_OK(tt_eval_data_from_config(cfg, &o, 784, 10, &d));
    assert_int_equal(d.ds->n, 5);
    tt_eval_data_free(&d);
    assert_int_equal(tt_eval_data_from_config(cfg, NULL, 100, 10, &d), TT_ERR_SHAPE);
    assert_non_null(strstr(tt_last_error(), "the model's input takes 100"));
    assert_int_equal(tt_eval_data_from_config(cfg, NULL, 784, 3, &d), TT_ERR_SHAPE);
    tt_config_free(cfg);
    TT_ASSERT_OK(tt_config_load(tt_test_fixture("ptq/synthetic28.yaml", p, sizeof p), &cfg));
    o = (tt_eval_data_opts){.split = TT_EVAL_SPLIT_VAL};
    assert_int_equal(tt_eval_data_from_config(cfg, &o, 784, 10, &d), TT_ERR_INVALID_ARG);
    assert_non_null(strstr(tt_last_error(), "no val split"));
    tt_config_free(cfg);
}

/* The layers are the nodes PTQ quantises alone: BatchNorm, fused Relu, MaxPool and Flatten are
 * not; the residual Adds and the pool with its own point are. */
static void test_layers(void **state)
{
    (void)state;
    char p[512];
    tt_eval_layer *l = NULL;
    int n = 0;
    TT_ASSERT_OK(
        tt_eval_layers(tt_test_fixture("torch_export/fashion_cnn.onnx", p, sizeof p), &l, &n));
    assert_int_equal(n, 4);
    assert_string_equal(l[0].node, "/0/Conv");
    assert_string_equal(l[3].node, "/13/Gemm");
    assert_string_equal(l[3].op, "Gemm");
    free(l);
    TT_ASSERT_OK(
        tt_eval_layers(tt_test_fixture("torch_export/fashion_resnet8.onnx", p, sizeof p), &l, &n));
    assert_int_equal(n, 14);
    int adds = 0, pools = 0;
    for (int i = 0; i < n; i++) {
        adds += !strcmp(l[i].op, "Add");
        pools += !strcmp(l[i].op, "GlobalAveragePool");
    }
    assert_int_equal(adds, 3);
    assert_int_equal(pools, 1);
    free(l);
    TT_ASSERT_OK(tt_eval_layers(tt_test_fixture("gate/mlp.onnx", p, sizeof p), &l, &n));
    assert_int_equal(n, 2); /* unnamed nodes go by their outputs */
    assert_string_equal(l[0].node, "h");
    assert_string_equal(l[1].node, "output");
    free(l);
    assert_int_equal(tt_eval_layers(tt_test_fixture("gate/mlp.int8.onnx", p, sizeof p), &l, &n),
                     TT_ERR_INVALID_ARG);
    assert_non_null(strstr(tt_last_error(), "already quantised"));
    assert_null(l);
}

/* gate/mlp.onnx (4 inputs, 3 classes) on 32 uniform samples labelled by its own fp32 argmax. */
typedef struct study_fixture {
    char dir[256], calib[300], model[512];
    tt_eval_data d;
    float *y;
    tt_eval_result fp32;
} study_fixture;

static void study_setup(study_fixture *f)
{
    assert_non_null(tt_test_tmpdir_make("tt_eval", f->dir, sizeof f->dir));
    tt_test_fixture("gate/mlp.onnx", f->model, sizeof f->model);
    tt_rng rng;
    tt_rng_seed(&rng, 5, 0);
    float x[32 * 4];
    tt_test_fill_uniform(x, 32 * 4, -1, 2, &rng);
    tt_runtime *rt = NULL;
    TT_ASSERT_OK(tt_runtime_load(f->model, NULL, &rt));
    float y[32 * 3];
    TT_ASSERT_OK(tt_runtime_run(rt, x, 32, y));
    int32_t labels[32];
    for (int i = 0; i < 32; i++) labels[i] = (int32_t)tt_eval_argmax(y + 3 * i, 3);
    labels[0] = (labels[0] + 1) % 3; /* one wrong label: the fp32 accuracy is 31/32 */
    f->d = make_data(TT_TASK_CLASSIFICATION, 32, 4, x, labels);
    TT_ASSERT_OK(tt_eval_predict(rt, &f->d, "mlp", NULL, NULL, &f->y));
    TT_ASSERT_OK(tt_eval_score(&f->d, f->y, 3, &f->fp32));
    assert_true(f->fp32.accuracy == 100.0 * 31 / 32);
    tt_runtime_free(rt);
    int64_t dims[2] = {8, 4};
    tt_tensor *c = NULL;
    TT_ASSERT_OK(tt_tensor_alloc(&c, TT_F32, 2, dims));
    memcpy(c->data, x, sizeof(float) * 32);
    snprintf(f->calib, sizeof f->calib, "%s/calib.npz", f->dir);
    const char *names[1] = {"input"};
    const tt_tensor *ts[1] = {c};
    TT_ASSERT_OK(tt_npz_save(f->calib, 1, names, ts, false));
    tt_tensor_free(c);
}

static void study_teardown(study_fixture *f)
{
    free(f->y);
    tt_eval_data_free(&f->d);
    tt_test_tmpdir_remove(f->dir);
}

static void test_studies(void **state)
{
    (void)state;
    study_fixture f;
    study_setup(&f);
    tt_eval_study_opts o = {.model = f.model,
                            .calibration = f.calib,
                            .data = &f.d,
                            .fp32_out = f.y,
                            .fp32 = &f.fp32,
                            .ptq = tt_ptq_defaults()};
    tt_eval_study s;
    TT_ASSERT_OK(tt_eval_sensitivity(&o, &s));
    assert_int_equal(s.n_rows, 2);
    assert_int_equal(s.calib_samples, 8);
    assert_true(s.fp32_metric == f.fp32.accuracy);
    assert_true(s.rows[0].drop >= s.rows[1].drop);
    if (s.rows[0].drop == s.rows[1].drop) /* ties go by the output PLCC drop */
        assert_true(s.rows[0].vs_fp32.gate.drop >= s.rows[1].vs_fp32.gate.drop);
    assert_true(s.has_all);
    for (int i = 0; i < 2; i++) {
        assert_true(s.rows[i].vs_fp32.gate.plcc > 0.99); /* one 8-bit layer of a tiny MLP */
        assert_true(s.rows[i].drop == f.fp32.accuracy - s.rows[i].metric);
    }
    tt_eval_study_free(&s);
    const int64_t sizes[2] = {2, 8};
    TT_ASSERT_OK(tt_eval_calib_sizes(&o, sizes, 2, &s));
    assert_int_equal(s.n_rows, 2);
    assert_int_equal(s.rows[0].samples, 2);
    assert_int_equal(s.rows[1].samples, 8);
    assert_string_equal(s.rows[1].label, "8 samples");
    tt_eval_study_free(&s);
    const int64_t too_many[1] = {9};
    assert_int_equal(tt_eval_calib_sizes(&o, too_many, 1, &s), TT_ERR_INVALID_ARG);
    assert_non_null(strstr(tt_last_error(), "holds 8 samples"));
    o.model = tt_test_fixture("gate/mlp.int8.onnx", f.model, sizeof f.model);
    assert_int_equal(tt_eval_sensitivity(&o, &s), TT_ERR_INVALID_ARG);
    study_teardown(&f);
}

static int count(const char *text, const char *what)
{
    int k = 0;
    for (const char *p = text; (p = strstr(p, what)); p++) k++;
    return k;
}

static void test_svg(void **state)
{
    (void)state;
    char dir[256], path[300];
    assert_non_null(tt_test_tmpdir_make("tt_eval_svg", dir, sizeof dir));
    snprintf(path, sizeof path, "%s/bars.svg", dir);
    const char *labels[3] = {"conv<1>", "a&b", "fc"};
    const double v[3] = {1.5, -0.5, NAN};
    TT_ASSERT_OK(tt_eval_write_bars_svg(path, "drop", "pt", labels, v, 3));
    char *text = tt_test_read_file(path, NULL);
    assert_non_null(strstr(text, "conv&lt;1&gt;"));
    assert_non_null(strstr(text, "a&amp;b"));
    assert_int_equal(count(text, "<rect"), 3); /* background and two finite bars */
    free(text);
    const float z[] = {2, 1, 0, 0, 3, 3, 0, 0, 5, 1, 0, 0, 0, 2, 1};
    const int32_t labels3[] = {0, 2, 2, 1, 1};
    tt_eval_data d = make_data(TT_TASK_CLASSIFICATION, 5, 3, z, labels3);
    tt_eval_model m = {.path = "dir/m.onnx"};
    TT_ASSERT_OK(tt_eval_score(&d, z, 3, &m.r));
    snprintf(path, sizeof path, "%s/cm.svg", dir);
    TT_ASSERT_OK(tt_eval_write_confusion_svg(path, &m, 1));
    text = tt_test_read_file(path, NULL);
    assert_int_equal(count(text, "<rect"), 10);
    assert_non_null(strstr(text, "m.onnx: accuracy 60.00%"));
    free(text);
    m.r.task = TT_TASK_REGRESSION;
    snprintf(path, sizeof path, "%s/no.svg", dir);
    assert_int_equal(tt_eval_write_confusion_svg(path, &m, 1), TT_ERR_INVALID_ARG);
    tt_eval_data_free(&d);
    tt_test_tmpdir_remove(dir);
}

static void test_json(void **state)
{
    (void)state;
    char dir[256], path[300], data[512], model[512];
    assert_non_null(tt_test_tmpdir_make("tt_eval_json", dir, sizeof dir));
    tt_eval_data d;
    TT_ASSERT_OK(tt_eval_data_from_npz(tt_test_fixture("eval/fashion100.npz", data, sizeof data),
                                       NULL, &IMAGE, 10, &d));
    float *z = calloc(100 * 10, sizeof *z); /* all zero: class 0 wins every sample */
    tt_eval_model m[2] = {{.path = tt_test_fixture("gate/mlp.onnx", model, sizeof model)}};
    TT_ASSERT_OK(tt_eval_score(&d, z, 10, &m[0].r));
    m[1] = m[0];
    m[1].r.accuracy = 12.5;
    tt_eval_agreement ag;
    tt_eval_agree(z, z, 100, 10, &ag);
    char *argv[2] = {"tinytrain", "eval"};
    tt_eval_report rep = {.data = &d,
                          .models = m,
                          .n_models = 2,
                          .agreement = &ag,
                          .argc = 2,
                          .argv = argv,
                          .wall_s = 1.5};
    snprintf(path, sizeof path, "%s/r.json", dir);
    TT_ASSERT_OK(tt_eval_write_json(path, &rep));
    char *text = tt_test_read_file(path, NULL);
    cJSON *j = cJSON_Parse(text);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "schema")->valuestring, "eval-report-v1");
    cJSON *dj = cJSON_GetObjectItem(j, "data");
    assert_string_equal(cJSON_GetObjectItem(dj, "task")->valuestring, "classification");
    assert_int_equal(cJSON_GetObjectItem(dj, "samples")->valueint, 100);
    cJSON *m0 =
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "models"), 0), "metrics");
    assert_true(cJSON_GetObjectItem(m0, "accuracy")->valuedouble == 10.0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(m0, "confusion")), 10);
    cJSON *cmp = cJSON_GetObjectItem(j, "comparison");
    assert_true(cJSON_GetObjectItem(cJSON_GetObjectItem(cmp, "delta"), "accuracy")->valuedouble ==
                2.5);
    assert_true(cJSON_GetObjectItem(cmp, "top1_agreement")->valuedouble == 100.0);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cmp, "output_plcc"))); /* constant: no PLCC */
    cJSON *prov = cJSON_GetObjectItem(j, "run_provenance");
    assert_string_equal(cJSON_GetObjectItem(prov, "command")->valuestring, "eval");
    cJSON_Delete(j);
    free(text);
    free(z);
    tt_eval_data_free(&d);
    tt_test_tmpdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classification),
        cmocka_unit_test(test_regression),
        cmocka_unit_test(test_image),
        cmocka_unit_test(test_agreement),
        cmocka_unit_test(test_fixed_batch),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_npz_data),
        cmocka_unit_test(test_config_data),
        cmocka_unit_test(test_layers),
        cmocka_unit_test(test_studies),
        cmocka_unit_test(test_svg),
        cmocka_unit_test(test_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
