/* Calibration sets: stratified quotas, seeded reproducibility, values as the model sees them,
 * the .npz and .h5 round trips and the failures that must leave no damaged file. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "testutil.h"
#include "tinytrain/npz.h"

/* 3 classes of synthetic blobs in [2, 2, 2] samples, normalised per channel. */
static const char *CLS_YAML = "seed: 7\n"
                              "task: classification\n"
                              "data:\n"
                              "  kind: synthetic\n"
                              "  samples: 400\n"
                              "  normalize: {mean: [0.5, 0.4], std: [0.25, 0.5]}\n"
                              "model:\n"
                              "  input: [2, 2, 2]\n"
                              "  layers:\n"
                              "    - {type: flatten}\n"
                              "    - {type: linear, out_features: 3}\n";

static const char *REG_YAML = "seed: 11\n"
                              "task: regression\n"
                              "data: {kind: synthetic, samples: 300}\n"
                              "model:\n"
                              "  input: [4]\n"
                              "  layers:\n"
                              "    - {type: linear, out_features: 2}\n";

static tt_config *parse(const char *yaml)
{
    tt_config *c = NULL;
    TT_ASSERT_OK(tt_config_parse(yaml, strlen(yaml), "calib.yaml", &c));
    return c;
}

/* The split as tt_calib_build sees it: loaded and normalised the same way. */
static tt_dataset *reference(const tt_config *c, bool train, int64_t n_out)
{
    tt_shape in;
    TT_ASSERT_OK(tt_shape_make(&in, c->model.input_ndim, c->model.input));
    tt_dataset *ds = NULL;
    TT_ASSERT_OK(tt_dataset_load(&c->data, c->task, &in, n_out, train, c->seed, &ds));
    if (c->data.n_norm)
        TT_ASSERT_OK(tt_dataset_normalize_inputs(ds, c->data.mean, c->data.std, c->data.n_norm));
    return ds;
}

/* Rows, targets and indices of set agree with ds; indices ascending and in range. */
static void check_rows(const tt_calib_set *set, const tt_dataset *ds, int64_t n)
{
    assert_int_equal(set->input->shape.dims[0], n);
    assert_int_equal(set->index->dtype, TT_I64);
    const int64_t *idx = set->index->data;
    for (int64_t k = 0; k < n; k++) {
        assert_true(idx[k] >= 0 && idx[k] < ds->n);
        if (k) assert_true(idx[k] > idx[k - 1]);
        /* Exact: the same loader and normalisation produced both, no arithmetic in between. */
        assert_memory_equal((float *)set->input->data + k * ds->input_numel,
                            ds->inputs + idx[k] * ds->input_numel,
                            (size_t)ds->input_numel * sizeof(float));
        if (ds->target_kind == TT_TARGET_LABEL)
            assert_int_equal(((int32_t *)set->target->data)[k], ds->labels[idx[k]]);
        else
            assert_memory_equal((float *)set->target->data + k * ds->target_numel,
                                ds->targets + idx[k] * ds->target_numel,
                                (size_t)ds->target_numel * sizeof(float));
    }
}

static void stratified(void **state)
{
    (void)state;
    tt_config *c = parse(CLS_YAML);
    tt_dataset *ds = reference(c, true, 3);
    const int64_t n = 50;
    tt_calib_set set;
    TT_ASSERT_OK(tt_calib_build(c, n, c->seed, true, &set));
    assert_int_equal(set.input->shape.ndim, 4);
    assert_int_equal(set.input->shape.dims[1], 2);
    assert_int_equal(set.input->shape.dims[3], 2);
    assert_int_equal(set.target->dtype, TT_I32);
    assert_int_equal(set.seed, 7);
    check_rows(&set, ds, n);
    /* Quotas recomputed here in double: floor(count * n / total), then +1 for the largest
     * fractional parts. */
    int64_t count[3] = {0}, got[3] = {0}, want[3];
    double frac[3];
    for (int64_t i = 0; i < ds->n; i++) count[ds->labels[i]]++;
    int64_t given = 0;
    for (int cl = 0; cl < 3; cl++) {
        double q = (double)count[cl] * (double)n / (double)ds->n;
        want[cl] = (int64_t)q, frac[cl] = q - (double)want[cl], given += want[cl];
    }
    while (given < n) {
        int best = 0;
        for (int cl = 1; cl < 3; cl++)
            if (frac[cl] > frac[best]) best = cl;
        want[best]++, frac[best] = -1, given++;
    }
    for (int64_t k = 0; k < n; k++) got[((int32_t *)set.target->data)[k]]++;
    for (int cl = 0; cl < 3; cl++) assert_int_equal(got[cl], want[cl]);
    tt_calib_free(&set);

    /* The test split is its own draw over ceil(400 / 4) samples. */
    tt_dataset *te = reference(c, false, 3);
    TT_ASSERT_OK(tt_calib_build(c, 100, 1, false, &set));
    check_rows(&set, te, 100);
    tt_calib_free(&set);
    tt_dataset_free(te);
    tt_dataset_free(ds);
    tt_config_free(c);
}

static void regression_uniform(void **state)
{
    (void)state;
    tt_config *c = parse(REG_YAML);
    tt_dataset *ds = reference(c, true, 2);
    tt_calib_set set;
    TT_ASSERT_OK(tt_calib_build(c, 40, 5, true, &set));
    assert_int_equal(set.target->dtype, TT_F32);
    assert_int_equal(set.target->shape.ndim, 2);
    assert_int_equal(set.target->shape.dims[1], 2);
    check_rows(&set, ds, 40);
    /* The whole split is a valid sample too: every index once. */
    tt_calib_set all;
    TT_ASSERT_OK(tt_calib_build(c, ds->n, 5, true, &all));
    for (int64_t k = 0; k < ds->n; k++) assert_int_equal(((int64_t *)all.index->data)[k], k);
    tt_calib_free(&all);
    tt_calib_free(&set);
    tt_dataset_free(ds);
    tt_config_free(c);
}

static void determinism_and_npz(void **state)
{
    (void)state;
    char dir[64], a[128], b[128], d[128];
    assert_non_null(tt_test_tmpdir_make("tt_calib", dir, sizeof dir));
    snprintf(a, sizeof a, "%s/a.npz", dir);
    snprintf(b, sizeof b, "%s/b.npz", dir);
    snprintf(d, sizeof d, "%s/d.npz", dir);
    tt_config *c = parse(CLS_YAML);
    tt_calib_set s1, s2, s3;
    TT_ASSERT_OK(tt_calib_build(c, 30, 42, true, &s1));
    TT_ASSERT_OK(tt_calib_build(c, 30, 42, true, &s2));
    TT_ASSERT_OK(tt_calib_build(c, 30, 43, true, &s3));
    TT_ASSERT_OK(tt_calib_save(a, &s1));
    TT_ASSERT_OK(tt_calib_save(b, &s2));
    TT_ASSERT_OK(tt_calib_save(d, &s3));
    size_t la = 0, lb = 0, ld = 0;
    char *fa = tt_test_read_file(a, &la), *fb = tt_test_read_file(b, &lb),
         *fd = tt_test_read_file(d, &ld);
    assert_int_equal(la, lb);
    assert_memory_equal(fa, fb, la); /* same seed: byte-identical files */
    assert_true(la != ld || memcmp(fa, fd, la) != 0);
    /* Another seed picks other samples: 30 of ~133 per class colliding entirely is ~1e-30. */
    assert_memory_not_equal(s1.index->data, s3.index->data, 30 * sizeof(int64_t));
    free(fa), free(fb), free(fd);

    const char *names[3] = {"input", "target", "index"};
    const tt_tensor *mine[3] = {s1.input, s1.target, s1.index};
    for (int i = 0; i < 3; i++) {
        tt_tensor *t = NULL;
        TT_ASSERT_OK(tt_npz_load_file(a, names[i], &t));
        assert_int_equal(t->dtype, mine[i]->dtype);
        assert_true(tt_shape_equal(&t->shape, &mine[i]->shape));
        assert_memory_equal(t->data, mine[i]->data,
                            (size_t)tt_tensor_numel(t) * tt_dtype_size(t->dtype));
        tt_tensor_free(t);
    }
    tt_calib_free(&s1), tt_calib_free(&s2), tt_calib_free(&s3);
    tt_config_free(c);
    tt_test_tmpdir_remove(dir);
}

static void h5_round_trip(void **state)
{
    (void)state;
    char dir[64], p[128];
    assert_non_null(tt_test_tmpdir_make("tt_calib", dir, sizeof dir));
    snprintf(p, sizeof p, "%s/c.h5", dir);
    tt_config *c = parse(CLS_YAML);
    tt_calib_set s;
    TT_ASSERT_OK(tt_calib_build(c, 25, 3, true, &s));
    TT_ASSERT_OK(tt_calib_save(p, &s));
    /* The data set reader is an independent HDF5 reader of "input" and "target". */
    tt_dataset *ds = NULL;
    TT_ASSERT_OK(
        tt_dataset_load_hdf5(p, "input", "target", TT_TASK_CLASSIFICATION, NULL, 3, false, &ds));
    assert_int_equal(ds->n, 25);
    assert_true(tt_shape_equal(&ds->input_shape, &(tt_shape){.ndim = 3, .dims = {2, 2, 2}}));
    assert_memory_equal(ds->inputs, s.input->data, 25 * 8 * sizeof(float));
    assert_memory_equal(ds->labels, s.target->data, 25 * sizeof(int32_t));
    tt_dataset_free(ds);
    struct stat st;
    char tmp[140];
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    assert_int_not_equal(stat(tmp, &st), 0); /* the temporary was renamed away */
    tt_calib_free(&s);
    tt_config_free(c);
    tt_test_tmpdir_remove(dir);
}

static void errors(void **state)
{
    (void)state;
    tt_config *c = parse(CLS_YAML);
    tt_calib_set s;
    assert_int_equal(tt_calib_build(c, 401, 1, true, &s), TT_ERR_INVALID_ARG);
    assert_non_null(strstr(tt_last_error(), "only 400"));
    assert_null(s.input);
    assert_int_equal(tt_calib_build(c, 101, 1, false, &s), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_calib_build(c, 0, 1, true, &s), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_calib_build(c, -3, 1, true, &s), TT_ERR_INVALID_ARG);

    char dir[64], p[128], q[128], tmp[140];
    assert_non_null(tt_test_tmpdir_make("tt_calib", dir, sizeof dir));
    TT_ASSERT_OK(tt_calib_build(c, 10, 1, true, &s));
    snprintf(p, sizeof p, "%s/x.txt", dir);
    assert_int_equal(tt_calib_save(p, &s), TT_ERR_INVALID_ARG);
    assert_non_null(strstr(tt_last_error(), ".npz"));
    struct stat st;
    assert_int_not_equal(stat(p, &st), 0);
    snprintf(p, sizeof p, "%s/npz", dir); /* no extension at all */
    assert_int_equal(tt_calib_save(p, &s), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_calib_save("/nonexistent-tt-dir/c.npz", &s), TT_ERR_IO);
    assert_int_equal(tt_calib_save("/nonexistent-tt-dir/c.h5", &s), TT_ERR_IO);

    /* A good file, then a save that cannot create its temporary (a directory squats on the
     * name): the good file stays byte for byte, the directory is left alone. */
    const char *ext[2] = {"npz", "h5"};
    for (int e = 0; e < 2; e++) {
        snprintf(q, sizeof q, "%s/good.%s", dir, ext[e]);
        snprintf(tmp, sizeof tmp, "%s.tmp", q);
        TT_ASSERT_OK(tt_calib_save(q, &s));
        size_t l0 = 0, l1 = 0;
        char *before = tt_test_read_file(q, &l0);
        assert_int_equal(mkdir(tmp, 0700), 0);
        assert_int_equal(tt_calib_save(q, &s), TT_ERR_IO);
        char *after = tt_test_read_file(q, &l1);
        assert_int_equal(l0, l1);
        assert_memory_equal(before, after, l0);
        assert_int_equal(stat(tmp, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        free(before), free(after);
        rmdir(tmp), unlink(q);
    }
    tt_calib_free(&s);
    tt_config_free(c);
    tt_test_tmpdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stratified),
        cmocka_unit_test(regression_uniform),
        cmocka_unit_test(determinism_and_npz),
        cmocka_unit_test(h5_round_trip),
        cmocka_unit_test(errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
