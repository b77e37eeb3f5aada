/* tinytrain recommend's library part (tt_ptq_recommend, tinytrain/ptq.h) on the fixture MLP
 * (tests/fixtures/gate/mlp.onnx, input [N, 4]) with a calibration set made here: every candidate
 * is made and gated, cheapest first; the recommendation is the first that passes (the budget
 * decides, not the order alone); a candidate that cannot be made says why; the reports hold the
 * table; bad arguments are refused. */
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tinytrain/npz.h"
#include "tinytrain/ptq.h"

static char g_dir[64];

static const char *tmp(const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", g_dir, name);
    return buf;
}

static const char *model(char *buf, size_t len)
{
    return tt_test_fixture("gate/mlp.onnx", buf, len);
}

static tt_ptq_recommend_opts opts(double budget)
{
    tt_ptq_recommend_opts o = {.budget = budget, .dir = g_dir};
    return o;
}

static void recommend(double budget, const char *calib, tt_ptq_recommendation *r)
{
    char m[512], c[256];
    tt_ptq_recommend_opts o = opts(budget);
    TT_ASSERT_OK(
        tt_ptq_recommend(model(m, sizeof m), calib ? tmp(calib, c, sizeof c) : NULL, &o, r));
}

static void test_every_candidate_gated(void **state)
{
    (void)state;
    tt_ptq_recommendation r;
    recommend(1.0, "calib.npz", &r);
    assert_int_equal(r.n, TT_PTQ_CANDIDATES);
    static const char *const labels[] = {"dynamic", "static-minmax", "static-entropy",
                                         "static-percentile"};
    for (int i = 0; i < r.n; i++) {
        const tt_ptq_candidate *c = &r.c[i];
        assert_string_equal(c->label, labels[i]);
        assert_int_equal(c->opts.mode, i ? TT_PTQ_STATIC : TT_PTQ_DYNAMIC);
        assert_true(c->built && c->pass && c->gate.measured);
        assert_true(c->bytes > 0 && access(c->path, F_OK) == 0);
        assert_true(c->gate.m.drop >= 0.0 && c->gate.m.drop < 0.05);
        assert_int_equal(c->gate.samples, TT_GATE_SAMPLES_DEFAULT);
    }
    assert_int_equal(r.chosen, 0); /* every one passes: the cheapest wins */
    assert_true(r.fp32_bytes > 0);
}

/* A budget between the candidates' drops picks the first under it, whatever its place. */
static void test_budget_decides(void **state)
{
    (void)state;
    tt_ptq_recommendation r;
    recommend(1.0, "calib.npz", &r);
    double lo = INFINITY;
    int best = -1;
    for (int i = 0; i < r.n; i++)
        if (r.c[i].gate.m.drop < lo) lo = r.c[i].gate.m.drop, best = i;
    assert_true(lo > 0.0);
    recommend(lo, "calib.npz", &r);
    assert_true(r.chosen >= 0 && r.chosen <= best);
    assert_true(r.c[r.chosen].gate.m.drop <= lo);
    for (int i = 0; i < r.chosen; i++) assert_false(r.c[i].pass);
    recommend(lo / 2, "calib.npz", &r);
    assert_int_equal(r.chosen, -1); /* none inside: QAT */
    for (int i = 0; i < r.n; i++) assert_int_equal(r.c[i].gate.status, TT_GATE_ST_FAIL);
}

static void test_no_calibration(void **state)
{
    (void)state;
    tt_ptq_recommendation r;
    recommend(1.0, NULL, &r);
    assert_true(r.c[0].built && r.c[0].pass);
    for (int i = 1; i < r.n; i++) {
        assert_false(r.c[i].built);
        assert_non_null(strstr(r.c[i].message, "needs a calibration set"));
    }
    recommend(1.0, "missing.npz", &r); /* the static candidates say why */
    assert_int_equal(r.chosen, 0);
    assert_non_null(strstr(r.c[1].message, "missing.npz"));
}

static void test_reports(void **state)
{
    (void)state;
    tt_ptq_recommendation r;
    recommend(0.0, "calib.npz", &r);
    char m[512], md[256], js[256];
    tt_ptq_recommend_opts o = opts(0.0);
    char *argv[] = {"recommend"};
    tt_ptq_recommend_run run = {
        .argc = 1, .argv = argv, .model = model(m, sizeof m), .out_md = tmp("r.md", md, sizeof md)};
    TT_ASSERT_OK(tt_ptq_recommend_write_md(md, &r, &o, &run));
    TT_ASSERT_OK(tt_ptq_recommend_write_json(tmp("r.json", js, sizeof js), &r, &o, &run));
    char *text = tt_test_read_file(md, NULL);
    assert_non_null(strstr(text, "# tinytrain recommend: none inside the budget, use QAT"));
    assert_non_null(strstr(text, "| static-entropy | static | entropy | "));
    free(text);
    text = tt_test_read_file(js, NULL);
    assert_non_null(strstr(text, "\"schema\": \"ptq-recommend-report-v1\""));
    assert_non_null(strstr(text, "\"recommendation\": null"));
    assert_non_null(strstr(text, "use QAT (tinytrain qat)"));
    assert_non_null(strstr(text, "\"report_md\""));
    assert_null(strstr(text, "\"calibration\"")); /* run->calibration NULL: not recorded */
    free(text);
}

static void test_refusals(void **state)
{
    (void)state;
    char m[512];
    tt_ptq_recommendation r;
    tt_ptq_recommend_opts o = opts(-0.5);
    assert_int_equal(tt_ptq_recommend(model(m, sizeof m), NULL, &o, &r), TT_ERR_INVALID_ARG);
    o.budget = NAN;
    assert_int_equal(tt_ptq_recommend(m, NULL, &o, &r), TT_ERR_INVALID_ARG);
    o = opts(0.01);
    o.dir = "/nonexistent/dir";
    assert_int_equal(tt_ptq_recommend(m, NULL, &o, &r), TT_ERR_IO);
    assert_non_null(strstr(tt_last_error(), "not a directory"));
    o = opts(0.01);
    assert_int_equal(tt_ptq_recommend("/nonexistent.onnx", NULL, &o, &r), TT_ERR_IO);
    assert_int_equal(r.chosen, -1);
    assert_int_equal(tt_ptq_recommend(NULL, NULL, &o, &r), TT_ERR_INVALID_ARG);
}

static int setup(void **state)
{
    (void)state;
    tt_set_num_threads(2);
    if (!tt_test_tmpdir_make("tt_test_ptq_recommend", g_dir, sizeof g_dir)) return -1;
    enum { N = 32 };
    tt_tensor *t;
    if (tt_tensor_alloc(&t, TT_F32, 2, (int64_t[]){N, 4}) != TT_OK) return -1;
    tt_rng rng;
    tt_rng_seed(&rng, 5, 0);
    tt_test_fill_uniform(t->data, N * 4, 0.0f, 1.0f, &rng);
    const char *names[1] = {"input"};
    const tt_tensor *ts[1] = {t};
    char p[256];
    tt_status s = tt_npz_save(tmp("calib.npz", p, sizeof p), 1, names, ts, false);
    tt_tensor_free(t);
    return s == TT_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tt_test_tmpdir_remove(g_dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_candidate_gated),
        cmocka_unit_test(test_budget_decides),
        cmocka_unit_test(test_no_calibration),
        cmocka_unit_test(test_reports),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
