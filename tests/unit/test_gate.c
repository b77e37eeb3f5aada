/* The gate's arithmetic and reports without a model (tinytrain/gate.h): PLCC against values
 * worked out by hand, the constant-output and non-finite rules, the budget edge, the seeded
 * inputs, the exact line formats of the seed's gate, and the JSON / Markdown reports.
 * The runs on real models are in tests/cli/test_gate.sh and tests/onnx/check_gate.py. */
#include "testutil.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "tinytrain/gate.h"

/* x = [1, 2, 3, 4], y = [1, 3, 2, 5]: means 2.5 and 2.75, centred sums sxy = 5.5, sxx = 5,
 * syy = 8.75, so PLCC = 5.5 / sqrt(43.75) = 0.83152184...; max |x - y| = 1. Double sums of
 * four small exact values: the result is the correctly rounded quotient within 1e-15. */
static void test_plcc_by_hand(void **state)
{
    (void)state;
    const float x[] = {1, 2, 3, 4}, y[] = {1, 3, 2, 5};
    tt_gate_metrics m;
    tt_gate_compare(x, y, 4, &m);
    assert_int_equal(m.n, 4);
    assert_true(fabs(m.plcc - 5.5 / sqrt(43.75)) < 1e-15);
    assert_true(fabs(m.plcc - 0.8315218406202999) < 1e-15);
    assert_true(fabs(m.drop - (1 - 5.5 / sqrt(43.75))) < 1e-15);
    assert_true(m.worst_abs == 1.0);
    assert_true(fabs(m.std_fp32 - sqrt(5.0 / 4)) < 1e-15);
    assert_true(fabs(m.std_int8 - sqrt(8.75 / 4)) < 1e-15);
    assert_int_equal(tt_gate_judge(&m, 0.2), TT_GATE_PASS); /* drop 0.168 */
    assert_int_equal(tt_gate_judge(&m, 0.1), TT_GATE_OVER_BUDGET);
}

/* A large common offset must not cost the digits a small drop lives in (two-pass sums): the
 * same values + 1e6 give the same PLCC (a one-pass sum of squares would be off by ~1e-5 here).
 * float32 holds 1e6 + k/8 exactly (its spacing there is 1/16). */
static void test_plcc_offset(void **state)
{
    (void)state;
    float x[64], y[64], xo[64], yo[64];
    for (int i = 0; i < 64; i++) {
        x[i] = (float)((i * 37) % 64) / 8;
        y[i] = x[i] + (float)((i % 3) - 1) / 8;
        xo[i] = 1e6f + x[i];
        yo[i] = 1e6f + y[i];
    }
    tt_gate_metrics a, b;
    tt_gate_compare(x, y, 64, &a);
    tt_gate_compare(xo, yo, 64, &b);
    assert_true(a.plcc < 1 && a.plcc > 0.9);
    assert_true(fabs(a.plcc - b.plcc) < 1e-12);
    assert_true(a.worst_abs == 0.125 && b.worst_abs == 0.125);
}

static void test_identical_and_anticorrelated(void **state)
{
    (void)state;
    const float x[] = {0.5f, -1, 3, 2}, neg[] = {-0.5f, 1, -3, -2};
    tt_gate_metrics m;
    tt_gate_compare(x, x, 4, &m);
    assert_true(m.plcc == 1.0 && m.drop == 0.0 && m.worst_abs == 0.0);
    assert_int_equal(tt_gate_judge(&m, 0), TT_GATE_PASS); /* drop 0 <= budget 0 */
    tt_gate_compare(x, neg, 4, &m);
    assert_true(fabs(m.plcc + 1) < 1e-15 && m.plcc >= -1);
    assert_int_equal(tt_gate_judge(&m, 1), TT_GATE_OVER_BUDGET); /* drop 2 */
}

/* The budget is inclusive: drop == budget passes, as the seed's `drop <= budget`. */
static void test_budget_edge(void **state)
{
    (void)state;
    tt_gate_metrics m = {.n = 4, .plcc = 0.99, .drop = 1 - 0.99, .worst_abs = 0.1};
    assert_int_equal(tt_gate_judge(&m, 1 - 0.99), TT_GATE_PASS);
    assert_int_equal(tt_gate_judge(&m, nextafter(1 - 0.99, 0)), TT_GATE_OVER_BUDGET);
}

static void test_constant_output(void **state)
{
    (void)state;
    const float c[] = {0.5f, 0.5f, 0.5f, 0.5f}, c2[] = {0.25f, 0.25f, 0.25f, 0.25f},
                v[] = {0.1f, 0.9f, 0.4f, 0.6f};
    tt_gate_metrics m;
    /* int8 constant, fp32 not: no PLCC, a failure whatever the budget. */
    tt_gate_compare(v, c, 4, &m);
    assert_true(isnan(m.plcc) && isnan(m.drop));
    assert_true(m.std_int8 == 0 && m.std_fp32 > 0.1);
    assert_int_equal(tt_gate_judge(&m, 1), TT_GATE_CONSTANT);
    /* Both constant, different: fails. */
    tt_gate_compare(c, c2, 4, &m);
    assert_int_equal(tt_gate_judge(&m, 1), TT_GATE_CONSTANT);
    assert_true(m.worst_abs == 0.25);
    /* Both constant and identical: passes as such. */
    tt_gate_compare(c, c, 4, &m);
    assert_int_equal(tt_gate_judge(&m, 0), TT_GATE_PASS_CONSTANT);
    assert_true(tt_gate_verdict_ok(TT_GATE_PASS_CONSTANT));
    assert_false(tt_gate_verdict_ok(TT_GATE_CONSTANT));
    /* Variation below 1e-12 counts as constant: values ~1e-14 apart. */
    const float tiny[] = {1e-13f, 1.1e-13f, 1e-13f, 1.1e-13f};
    tt_gate_compare(v, tiny, 4, &m);
    assert_true(m.std_int8 < TT_GATE_CONSTANT_STD);
    assert_int_equal(tt_gate_judge(&m, 1), TT_GATE_CONSTANT);
    /* A single value has no variance at all. */
    tt_gate_compare(v, v, 1, &m);
    assert_int_equal(tt_gate_judge(&m, 1), TT_GATE_PASS_CONSTANT);
}

static void test_nonfinite(void **state)
{
    (void)state;
    const float v[] = {0.1f, 0.9f, 0.4f, 0.6f};
    float bad[] = {0.1f, NAN, 0.4f, INFINITY};
    tt_gate_metrics m;
    tt_gate_compare(v, bad, 4, &m);
    assert_int_equal(m.nonfinite_fp32, 0);
    assert_int_equal(m.nonfinite_int8, 2);
    assert_true(isnan(m.plcc) && isnan(m.worst_abs));
    assert_int_equal(tt_gate_judge(&m, 1), TT_GATE_NONFINITE);
    tt_gate_compare(bad, bad, 4, &m); /* even identical: NaN is never a pass */
    assert_int_equal(tt_gate_judge(&m, 1), TT_GATE_NONFINITE);
    bad[1] = -INFINITY;
    bad[3] = 0;
    tt_gate_compare(bad, v, 4, &m);
    assert_int_equal(m.nonfinite_fp32, 1);
    assert_int_equal(tt_gate_judge(&m, 1), TT_GATE_NONFINITE);
}

/* Samples: symbolic dims become 1, values are tt_rng_uniform from (seed, stream 0) in order. */
static void test_inputs(void **state)
{
    (void)state;
    tt_shape in = {.ndim = 4, .dims = {TT_DIM_BATCH, 1, 3, 2}}, sample;
    float *x = NULL, *y = NULL;
    TT_ASSERT_OK(tt_gate_inputs(&in, 16, 0, &sample, &x));
    assert_int_equal(sample.ndim, 4);
    assert_int_equal(sample.dims[0], 1);
    assert_int_equal(tt_shape_numel(&sample), 6);
    tt_rng r;
    tt_rng_seed(&r, 0, 0);
    for (int i = 0; i < 16 * 6; i++) {
        assert_true(x[i] >= 0 && x[i] < 1);
        assert_true(x[i] == tt_rng_uniform(&r));
    }
    TT_ASSERT_OK(tt_gate_inputs(&in, 16, 1, &sample, &y));
    assert_true(memcmp(x, y, 16 * 6 * sizeof(float)) != 0);
    free(x);
    free(y);
    tt_shape fixed = {.ndim = 2, .dims = {4, 5}};
    TT_ASSERT_OK(tt_gate_inputs(&fixed, 2, 0, &sample, &x));
    assert_int_equal(sample.dims[0], 4); /* a batch the file fixes is kept */
    free(x);
    assert_int_equal(tt_gate_inputs(&fixed, 0, 0, &sample, &x), TT_ERR_INVALID_ARG);
    assert_null(x);
}

static tt_gate_row measured_row(const char *id, const char *mode, double plcc, double budget)
{
    tt_gate_row r;
    memset(&r, 0, sizeof r);
    snprintf(r.id, sizeof r.id, "%s", id);
    snprintf(r.mode, sizeof r.mode, "%s", mode);
    r.measured = true;
    r.budget = budget;
    r.m = (tt_gate_metrics){.n = 16, .plcc = plcc, .drop = 1 - plcc, .worst_abs = 0.03125};
    r.verdict = tt_gate_judge(&r.m, budget);
    r.status = tt_gate_verdict_ok(r.verdict) ? TT_GATE_ST_PASS : TT_GATE_ST_FAIL;
    r.samples = 16;
    return r;
}

/* The seed's formats, to the space: "[%s] {id:24s} mode={mode:7s} PLCC={:.6f}  drop={:.6f}
 * budget={:.4f}  worst_abs={:.4f}" and "[skip] <id> — quant_mode=fp32, ...". */
static void test_lines(void **state)
{
    (void)state;
    char line[512];
    tt_gate_row r = measured_row("fashion_cnn", "qat", 0.9999, 0.002);
    tt_gate_line(&r, line, sizeof line);
    assert_string_equal(line, "[PASS] fashion_cnn              mode=qat     PLCC=0.999900  "
                              "drop=0.000100  budget=0.0020  worst_abs=0.0312");
    r = measured_row("pair", "override", 0.95, 0.01);
    tt_gate_line(&r, line, sizeof line);
    assert_string_equal(line, "[FAIL] pair                     mode=override PLCC=0.950000  "
                              "drop=0.050000  budget=0.0100  worst_abs=0.0312");
    memset(&r, 0, sizeof r);
    snprintf(r.id, sizeof r.id, "mlp");
    r.status = TT_GATE_ST_SKIPPED_FP32;
    snprintf(r.message, sizeof r.message, "quant_mode=fp32, no quantised model to gate");
    tt_gate_line(&r, line, sizeof line);
    assert_string_equal(line,
                        "[skip] mlp \xe2\x80\x94 quant_mode=fp32, no quantised model to gate");
    r.status = TT_GATE_ST_MISSING_MODEL;
    snprintf(r.message, sizeof r.message, "missing int8 model m/x.int8.onnx");
    tt_gate_line(&r, line, sizeof line);
    assert_string_equal(line, "[FAIL] mlp \xe2\x80\x94 missing int8 model m/x.int8.onnx");
    r = measured_row("c", "dynamic", NAN, 0.01);
    r.verdict = TT_GATE_CONSTANT;
    r.status = TT_GATE_ST_FAIL;
    snprintf(r.message, sizeof r.message, "constant output: ...");
    tt_gate_line(&r, line, sizeof line);
    assert_non_null(strstr(line, "[FAIL] c "));
    assert_non_null(strstr(line, "constant output"));
    assert_null(strstr(line, "PLCC=")); /* no made-up number */
}

static void test_reports(void **state)
{
    (void)state;
    char dir[64];
    assert_non_null(tt_test_tmpdir_make("tt_gate", dir, sizeof dir));
    tt_gate_row rows[3];
    rows[0] = measured_row("good", "qat", 0.9999, 0.002);
    rows[1] = measured_row("bad|pipe", "dynamic", 0.9, 0.01);
    memset(&rows[2], 0, sizeof rows[2]);
    snprintf(rows[2].id, sizeof rows[2].id, "gone");
    snprintf(rows[2].mode, sizeof rows[2].mode, "static");
    rows[2].status = TT_GATE_ST_MISSING_MODEL;
    rows[2].fp32_exists = true;
    rows[2].m.plcc = rows[2].m.drop = rows[2].m.worst_abs = NAN;
    snprintf(rows[2].message, sizeof rows[2].message, "missing int8 model x.int8.onnx");
    for (int i = 0; i < 3; i++) snprintf(rows[i].backend, sizeof rows[i].backend, "cpu");
    assert_false(tt_gate_all_ok(rows, 3));
    assert_true(tt_gate_all_ok(rows, 1));
    char md[128], js[128];
    snprintf(md, sizeof md, "%s/g.md", dir);
    snprintf(js, sizeof js, "%s/g.json", dir);
    char *argv[] = {"tinytrain", "gate", "--gate"};
    tt_gate_opts o = {.samples = 16};
    tt_gate_run run = {
        .argc = 3, .argv = argv, .out_json = js, .out_md = md, .backend = "cpu", .opts = &o};
    TT_ASSERT_OK(tt_gate_write_md(md, rows, 3, &run));
    TT_ASSERT_OK(tt_gate_write_json(js, rows, 3, &run));

    char *text = tt_test_read_file(md, NULL);
    assert_non_null(strstr(text, "# tinytrain gate: FAIL"));
    assert_non_null(strstr(text, "| good | cpu | qat | pass | 0.999900 | 0.000100 | 0.0020 |"));
    assert_non_null(strstr(text, "| bad\\|pipe | cpu | dynamic | fail |"));
    assert_non_null(strstr(text, "| gone | cpu | static | missing_model | n/a | n/a |"));
    free(text);

    text = tt_test_read_file(js, NULL);
    assert_true(text[strlen(text) - 1] == '\n');
    assert_non_null(strstr(text, "\n  \"gate_pass\": false,\n")); /* 2-space indent */
    cJSON *root = cJSON_Parse(text);
    assert_non_null(root);
    cJSON *models = cJSON_GetObjectItem(root, "models");
    assert_int_equal(cJSON_GetArraySize(models), 3);
    cJSON *r0 = cJSON_GetArrayItem(models, 0), *r2 = cJSON_GetArrayItem(models, 2);
    assert_string_equal(cJSON_GetObjectItem(r0, "status")->valuestring, "pass");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r0, "ok")));
    assert_true(fabs(cJSON_GetObjectItem(r0, "plcc")->valuedouble - 0.9999) < 1e-15);
    assert_string_equal(cJSON_GetObjectItem(r2, "status")->valuestring, "missing_model");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(r2, "plcc"))); /* JSON has no NaN */
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(r2, "int8_exists")));
    cJSON *prov = cJSON_GetObjectItem(root, "run_provenance");
    assert_non_null(prov);
    assert_string_equal(cJSON_GetObjectItem(prov, "backend")->valuestring, "cpu");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(prov, "argv")), 3);
    assert_non_null(cJSON_GetObjectItem(prov, "git_revision"));
    assert_non_null(cJSON_GetObjectItem(prov, "host"));
    cJSON *outs = cJSON_GetObjectItem(prov, "outputs");
    const char *md_sha =
        cJSON_GetObjectItem(cJSON_GetObjectItem(outs, "markdown"), "sha256")->valuestring;
    char want[65];
    TT_ASSERT_OK(tt_registry_file_sha256(md, want));
    assert_string_equal(md_sha, want);
    cJSON_Delete(root);
    free(text);
    tt_test_tmpdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plcc_by_hand),
        cmocka_unit_test(test_plcc_offset),
        cmocka_unit_test(test_identical_and_anticorrelated),
        cmocka_unit_test(test_budget_edge),
        cmocka_unit_test(test_constant_output),
        cmocka_unit_test(test_nonfinite),
        cmocka_unit_test(test_inputs),
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_reports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
