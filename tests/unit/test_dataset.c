/* Data set loaders (every data.kind), validation errors, splits and normalisation. Fixture
 * values are formulas of their indices (tests/fixtures/gen_data.py), so each check below
 * recomputes what the file must hold. Float comparisons of loaded values are exact: the
 * loaders copy float32 values, and convert uint8 and float64 with one correctly rounded
 * operation that the checks repeat. */
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>
#include "data/dataset_internal.h"
#include "tinytrain/dataset.h"
#include "tinytrain/npy.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

static char fx[512];
static const char *fixture(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "data/%s", name);
    return tt_test_fixture(rel, fx, sizeof fx);
}

/* A per-process temporary path; several can be alive at once (slot 0..7). */
static const char *tmp_path(int slot, const char *suffix)
{
    static char buf[8][128];
    snprintf(buf[slot], sizeof buf[slot], "/tmp/tt_dataset_test_%d_%d%s", (int)getpid(), slot,
             suffix);
    return buf[slot];
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void write_idx_gz(const char *path, const int64_t *dims, int rank, const uint8_t *data)
{
    gzFile f = gzopen(path, "wb");
    assert_non_null(f);
    unsigned char hdr[4 + 4 * 4] = {0, 0, 8, (unsigned char)rank};
    int64_t total = 1;
    for (int i = 0; i < rank; i++) {
        hdr[4 + 4 * i + 0] = (unsigned char)(dims[i] >> 24);
        hdr[4 + 4 * i + 1] = (unsigned char)(dims[i] >> 16);
        hdr[4 + 4 * i + 2] = (unsigned char)(dims[i] >> 8);
        hdr[4 + 4 * i + 3] = (unsigned char)dims[i];
        total *= dims[i];
    }
    assert_int_equal(gzwrite(f, hdr, 4 + 4 * (unsigned)rank), 4 + 4 * rank);
    assert_int_equal(gzwrite(f, data, (unsigned)total), (int)total);
    gzclose(f);
}

static void save_npy(const char *path, tt_dtype dt, int ndim, const int64_t *dims, const void *d)
{
    tt_tensor *t;
    TT_ASSERT_OK(tt_tensor_alloc(&t, dt, ndim, dims));
    memcpy(t->data, d, (size_t)tt_tensor_numel(t) * tt_dtype_size(dt));
    TT_ASSERT_OK(tt_npy_save(path, t));
    tt_tensor_free(t);
}

/* The call failed with `want`, and the message holds each non-NULL needle. */
static void expect_fail(tt_status got, tt_status want, const char *n1, const char *n2,
                        const char *expr)
{
    const char *m = tt_last_error();
    if (got != want) fail_msg("%s: status %d, want %d: %s", expr, (int)got, (int)want, m);
    if (n1 && !strstr(m, n1)) fail_msg("%s: '%s' not in message: %s", expr, n1, m);
    if (n2 && !strstr(m, n2)) fail_msg("%s: '%s' not in message: %s", expr, n2, m);
}
#define EXPECT_FAIL(call, want, n1, n2) expect_fail((call), (want), (n1), (n2), #call)

static tt_data_config files_config(tt_data_kind kind)
{
    tt_data_config c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.train.present = true;
    return c;
}

/* ---------------------------------------------------------------------------------------- */

static void sha256_known_vector(void **state)
{
    (void)state;
    const char *p = tmp_path(0, ".txt");
    write_text(p, "abc");
    char hex[65];
    int64_t bytes = 0;
    TT_ASSERT_OK(tt_sha256_file(p, hex, &bytes));
    /* FIPS 180-2 example. */
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(bytes, 3);
    unlink(p);
}

static void npy_classification(void **state)
{
    (void)state;
    char xp[512], yp[512];
    snprintf(xp, sizeof xp, "%s", fixture("x_f32.npy"));
    snprintf(yp, sizeof yp, "%s", fixture("y_i64.npy"));
    tt_data_config c = files_config(TT_DATA_NPY);
    snprintf(c.train.inputs, sizeof c.train.inputs, "%s", xp);
    snprintf(c.train.targets, sizeof c.train.targets, "%s", yp);
    tt_dataset *ds;
    TT_ASSERT_OK(tt_dataset_load(&c, TT_TASK_CLASSIFICATION, NULL, 0, true, 0, &ds));
    assert_int_equal(ds->n, 12);
    assert_int_equal(ds->input_shape.ndim, 1);
    assert_int_equal(ds->input_shape.dims[0], 3);
    assert_int_equal(ds->target_kind, TT_TARGET_LABEL);
    assert_int_equal(ds->n_classes, 3); /* labels (2i) % 4 are 0 and 2: max + 1 */
    for (int i = 0; i < 12; i++) {
        assert_int_equal(ds->labels[i], (2 * i) % 4);
        for (int k = 0; k < 3; k++) assert_true(ds->inputs[i * 3 + k] == (float)(i - k / 4.0));
    }
    assert_int_equal(ds->n_sources, 2);
    assert_string_equal(ds->sources[0].path, xp);
    assert_int_equal(strlen(ds->sources[1].sha256), 64);
    assert_true(ds->sources[0].bytes > 128);
    tt_dataset_free(ds);

    /* The model's class count widens n_classes, and a label beyond it is refused. */
    TT_ASSERT_OK(tt_dataset_load(&c, TT_TASK_CLASSIFICATION, NULL, 4, true, 0, &ds));
    assert_int_equal(ds->n_classes, 4);
    tt_dataset_free(ds);
    EXPECT_FAIL(tt_dataset_load(&c, TT_TASK_CLASSIFICATION, NULL, 2, true, 0, &ds), TT_ERR_SHAPE,
                "sample 1 has label 2", "2 outputs");
    assert_null(ds);

    /* Reshaped to the model's sample shape when the sizes agree; refused otherwise. */
    tt_shape img = {.ndim = 3, .dims = {1, 1, 3}}, bad = {.ndim = 1, .dims = {4}};
    TT_ASSERT_OK(tt_dataset_load(&c, TT_TASK_CLASSIFICATION, &img, 0, true, 0, &ds));
    assert_int_equal(ds->input_shape.ndim, 3);
    assert_int_equal(ds->input_numel, 3);
    tt_dataset_free(ds);
    EXPECT_FAIL(tt_dataset_load(&c, TT_TASK_CLASSIFICATION, &bad, 0, true, 0, &ds), TT_ERR_SHAPE,
                xp, "model.input is [4]");

    /* No data.test: no test set, and no error. */
    TT_ASSERT_OK(tt_dataset_load(&c, TT_TASK_CLASSIFICATION, NULL, 0, false, 0, &ds));
    assert_null(ds);
    c.train.present = false;
    EXPECT_FAIL(tt_dataset_load(&c, TT_TASK_CLASSIFICATION, NULL, 0, true, 0, &ds),
                TT_ERR_INVALID_ARG, "data.train", NULL);
}

static void npy_pixels_and_regression(void **state)
{
    (void)state;
    char xp[512], yp[512];
    snprintf(xp, sizeof xp, "%s", fixture("x_u8.npy"));
    snprintf(yp, sizeof yp, "%s", fixture("yr_f32.npy"));
    tt_dataset *ds;
    TT_ASSERT_OK(tt_ds_load_npy(xp, yp, TT_TASK_REGRESSION, NULL, 1, &ds));
    /* [12, 2, 3] uint8 images are single-channel [1, 2, 3] samples scaled to [0, 1]. */
    assert_int_equal(ds->input_shape.ndim, 3);
    assert_int_equal(ds->input_shape.dims[0], 1);
    assert_int_equal(ds->input_shape.dims[2], 3);
    assert_int_equal(ds->target_kind, TT_TARGET_FLOAT);
    assert_int_equal(ds->target_numel, 1);
    for (int i = 0; i < 12; i++) {
        assert_true(ds->targets[i] == (float)(i / 8.0));
        for (int j = 0; j < 6; j++)
            assert_true(ds->inputs[i * 6 + j] == (float)((20 * i + 3 * j) % 256) / 255.0f);
    }
    tt_dataset_free(ds);
    /* One target per sample, a model with 2 outputs. */
    EXPECT_FAIL(tt_ds_load_npy(xp, yp, TT_TASK_REGRESSION, NULL, 2, &ds), TT_ERR_SHAPE, yp,
                "outputs 2");
}

static void npy_errors(void **state)
{
    (void)state;
    char xp[512], yp[512], infp[512];
    snprintf(xp, sizeof xp, "%s", fixture("x_f32.npy"));
    snprintf(yp, sizeof yp, "%s", fixture("y_i64.npy"));
    snprintf(infp, sizeof infp, "%s", fixture("x_inf.npy"));
    tt_dataset *ds;
    EXPECT_FAIL(tt_ds_load_npy(infp, yp, TT_TASK_CLASSIFICATION, NULL, 0, &ds), TT_ERR_NUMERIC,
                infp, "sample 5");
    EXPECT_FAIL(tt_ds_load_npy("/nonexistent/x.npy", yp, TT_TASK_CLASSIFICATION, NULL, 0, &ds),
                TT_ERR_IO, "/nonexistent/x.npy", NULL);
    /* Float labels for a classifier. */
    EXPECT_FAIL(tt_ds_load_npy(xp, fixture("yr_f32.npy"), TT_TASK_CLASSIFICATION, NULL, 0, &ds),
                TT_ERR_FORMAT, "must be integers", NULL);

    const char *p1 = tmp_path(1, ".npy"), *p2 = tmp_path(2, ".npy");
    int64_t n12 = 12, n11 = 11;
    int32_t lab[12] = {0, 1, 2, 0, -1, 1, 2, 0, 1, 2, 0, 1};
    save_npy(p1, TT_I32, 1, &n12, lab);
    EXPECT_FAIL(tt_ds_load_npy(xp, p1, TT_TASK_CLASSIFICATION, NULL, 0, &ds), TT_ERR_FORMAT,
                "sample 4 has label -1", p1);
    lab[4] = 70000; /* over TT_DATASET_MAX_CLASSES */
    save_npy(p1, TT_I32, 1, &n12, lab);
    EXPECT_FAIL(tt_ds_load_npy(xp, p1, TT_TASK_CLASSIFICATION, NULL, 0, &ds), TT_ERR_FORMAT,
                "sample 4 has label 70000", NULL);
    save_npy(p1, TT_I32, 1, &n11, lab);
    EXPECT_FAIL(tt_ds_load_npy(xp, p1, TT_TASK_CLASSIFICATION, NULL, 0, &ds), TT_ERR_FORMAT,
                "12 samples", "11");
    /* NaN in float targets. */
    float tg[12] = {0};
    tg[9] = NAN;
    save_npy(p1, TT_F32, 1, &n12, tg);
    EXPECT_FAIL(tt_ds_load_npy(xp, p1, TT_TASK_REGRESSION, NULL, 0, &ds), TT_ERR_NUMERIC,
                "sample 9", "NaN");
    /* A truncated copy of the inputs: the reader's own message, naming the file. */
    FILE *src = fopen(xp, "rb");
    assert_non_null(src);
    unsigned char buf[512];
    size_t got = fread(buf, 1, sizeof buf, src);
    fclose(src);
    FILE *dst = fopen(p2, "wb");
    assert_non_null(dst);
    fwrite(buf, 1, got - 10, dst);
    fclose(dst);
    EXPECT_FAIL(tt_ds_load_npy(p2, yp, TT_TASK_CLASSIFICATION, NULL, 0, &ds), TT_ERR_FORMAT, p2,
                "truncated");
    EXPECT_FAIL(tt_ds_load_npy(xp, xp, TT_TASK_CLASSIFICATION, NULL, 0, &ds), TT_ERR_INVALID_ARG,
                "same file", NULL);
    assert_null(ds);
    unlink(p1);
    unlink(p2);
}

static void idx_files(void **state)
{
    (void)state;
    const char *xp = tmp_path(1, "-images.gz"), *yp = tmp_path(2, "-labels.gz");
    uint8_t img[5 * 2 * 2], lab[5] = {3, 0, 200, 1, 3};
    for (int i = 0; i < 20; i++) img[i] = (uint8_t)(i * 13);
    int64_t idims[3] = {5, 2, 2}, ldims[1] = {5};
    write_idx_gz(xp, idims, 3, img);
    write_idx_gz(yp, ldims, 1, lab);
    tt_data_config c = files_config(TT_DATA_IDX);
    snprintf(c.train.inputs, sizeof c.train.inputs, "%s", xp);
    snprintf(c.train.targets, sizeof c.train.targets, "%s", yp);
    tt_dataset *ds;
    TT_ASSERT_OK(tt_dataset_load(&c, TT_TASK_CLASSIFICATION, NULL, 0, true, 0, &ds));
    assert_int_equal(ds->n, 5);
    assert_int_equal(ds->input_shape.ndim, 3); /* [N, H, W] -> [1, H, W] */
    assert_int_equal(ds->n_classes, 201);
    assert_int_equal(ds->labels[2], 200);
    for (int i = 0; i < 20; i++) assert_true(ds->inputs[i] == (float)img[i] / 255.0f);
    tt_dataset_free(ds);
    /* A 10-class model: label 200 is out of its range. */
    EXPECT_FAIL(tt_dataset_load(&c, TT_TASK_CLASSIFICATION, NULL, 10, true, 0, &ds), TT_ERR_SHAPE,
                "sample 2 has label 200", yp);
    /* Truncated: the header promises 5 labels, 4 follow. */
    write_idx_gz(yp, ldims, 1, lab);
    gzFile f = gzopen(yp, "wb");
    unsigned char hdr[8] = {0, 0, 8, 1, 0, 0, 0, 5};
    gzwrite(f, hdr, 8);
    gzwrite(f, lab, 4);
    gzclose(f);
    EXPECT_FAIL(tt_dataset_load(&c, TT_TASK_CLASSIFICATION, NULL, 0, true, 0, &ds), TT_ERR_FORMAT,
                yp, "truncated");
    unlink(xp);
    unlink(yp);
}

static void hdf5_resident(void **state)
{
    (void)state;
    char h5[512];
    snprintf(h5, sizeof h5, "%s", fixture("small.h5"));
    tt_data_config c = files_config(TT_DATA_HDF5);
    snprintf(c.train.file, sizeof c.train.file, "%s", h5);
    snprintf(c.train.inputs, sizeof c.train.inputs, "x");
    snprintf(c.train.targets, sizeof c.train.targets, "y");
    tt_dataset *ds;
    TT_ASSERT_OK(tt_dataset_load(&c, TT_TASK_CLASSIFICATION, NULL, 0, true, 0, &ds));
    assert_null(ds->stream); /* small: loaded */
    assert_int_equal(ds->n, 20);
    assert_int_equal(ds->input_shape.ndim, 3);
    assert_int_equal(ds->input_shape.dims[0], 1);
    assert_int_equal(ds->input_shape.dims[1], 4);
    assert_int_equal(ds->n_classes, 3);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(ds->labels[i], i % 3);
        for (int j = 0; j < 16; j++) assert_true(ds->inputs[i * 16 + j] == (float)(i + j / 16.0));
    }
    assert_int_equal(ds->n_sources, 1);
    assert_string_equal(ds->sources[0].path, h5);
    tt_dataset_free(ds);

    /* [N, 1] uint8 labels; float64 regression targets [N, 2]; uint8 images in a group. */
    TT_ASSERT_OK(tt_ds_load_hdf5(h5, "x", "y_col", TT_TASK_CLASSIFICATION, NULL, 0, 0, &ds));
    assert_int_equal(ds->labels[19], 19 % 3);
    tt_dataset_free(ds);
    TT_ASSERT_OK(tt_ds_load_hdf5(h5, "x", "yf", TT_TASK_REGRESSION, NULL, 2, 0, &ds));
    assert_int_equal(ds->target_numel, 2);
    for (int i = 0; i < 20; i++)
        for (int k = 0; k < 2; k++) assert_true(ds->targets[i * 2 + k] == (float)(i * 0.5 + k));
    tt_dataset_free(ds);
    TT_ASSERT_OK(
        tt_ds_load_hdf5(h5, "/grp/img", "/grp/lab", TT_TASK_CLASSIFICATION, NULL, 5, 0, &ds));
    assert_int_equal(ds->n, 50);
    assert_int_equal(ds->input_numel, 36);
    for (int i = 0; i < 50; i++)
        for (int j = 0; j < 36; j++)
            assert_true(ds->inputs[i * 36 + j] == (float)((7 * i + j) % 256) / 255.0f);
    tt_dataset_free(ds);
}

static void hdf5_streamed(void **state)
{
    (void)state;
    char h5[512];
    snprintf(h5, sizeof h5, "%s", fixture("small.h5"));
    tt_dataset *ds;
    TT_ASSERT_OK(
        tt_dataset_load_hdf5(h5, "grp/img", "grp/lab", TT_TASK_CLASSIFICATION, NULL, 0, true, &ds));
    assert_non_null(ds->stream);
    assert_null(ds->inputs);
    assert_non_null(ds->labels); /* labels stay in memory */
    assert_int_equal(ds->n_classes, 5);
    /* Rows 3, 4, 5 and 40 (two runs) read straight from the file. */
    int64_t rows[4] = {3, 4, 5, 40};
    float got[4 * 36];
    TT_ASSERT_OK(tt_ds_stream_read(ds->stream, false, rows, 4, got));
    for (int r = 0; r < 4; r++)
        for (int j = 0; j < 36; j++)
            assert_true(got[r * 36 + j] == (float)((7 * rows[r] + j) % 256) / 255.0f);
    /* Repeated rows are refused rather than silently misaligned. */
    int64_t dup[2] = {7, 7};
    assert_int_equal(tt_ds_stream_read(ds->stream, false, dup, 2, got), TT_ERR_IO);
    tt_dataset_free(ds);
}

static void hdf5_errors(void **state)
{
    (void)state;
    char h5[512];
    snprintf(h5, sizeof h5, "%s", fixture("small.h5"));
    tt_dataset *ds;
    const tt_task C = TT_TASK_CLASSIFICATION;
    EXPECT_FAIL(tt_ds_load_hdf5(h5, "nope", "y", C, NULL, 0, 0, &ds), TT_ERR_FORMAT,
                "no dataset named 'nope'", h5);
    EXPECT_FAIL(tt_ds_load_hdf5(h5, "x", "missing/group/y", C, NULL, 0, 0, &ds), TT_ERR_FORMAT,
                "'missing/group/y'", NULL);
    EXPECT_FAIL(tt_ds_load_hdf5(h5, "x_rank5", "y", C, NULL, 0, 0, &ds), TT_ERR_FORMAT, "rank 5",
                NULL);
    EXPECT_FAIL(tt_ds_load_hdf5(h5, "scalar", "y", C, NULL, 0, 0, &ds), TT_ERR_FORMAT, "rank 0",
                NULL);
    EXPECT_FAIL(tt_ds_load_hdf5(h5, "x_nan", "y", C, NULL, 0, 0, &ds), TT_ERR_NUMERIC, "sample 7",
                h5);
    /* Streamed data is scanned at load too: the NaN is reported before training starts. */
    EXPECT_FAIL(tt_ds_load_hdf5(h5, "x_nan", "y", C, NULL, 0, 2, &ds), TT_ERR_NUMERIC, "sample 7",
                NULL);
    EXPECT_FAIL(tt_ds_load_hdf5(h5, "x", "y_neg", C, NULL, 0, 0, &ds), TT_ERR_FORMAT,
                "sample 3 has label -1", NULL);
    EXPECT_FAIL(tt_ds_load_hdf5(h5, "x", "y_short", C, NULL, 0, 0, &ds), TT_ERR_FORMAT,
                "20 samples", "19");
    EXPECT_FAIL(tt_ds_load_hdf5(h5, "x_huge", "y", C, NULL, 0, 0, &ds), TT_ERR_NOMEM, "absurd",
                NULL);
    EXPECT_FAIL(tt_ds_load_hdf5(h5, "x_i16", "y", C, NULL, 0, 0, &ds), TT_ERR_UNSUPPORTED, "x_i16",
                NULL);
    EXPECT_FAIL(tt_ds_load_hdf5(h5, "x", "y_float", C, NULL, 0, 0, &ds), TT_ERR_FORMAT,
                "must be integers", NULL);
    EXPECT_FAIL(tt_ds_load_hdf5("/nonexistent/d.h5", "x", "y", C, NULL, 0, 0, &ds), TT_ERR_IO,
                "/nonexistent/d.h5", NULL);
    char csv[512];
    snprintf(csv, sizeof csv, "%s", fixture("small.csv"));
    EXPECT_FAIL(tt_ds_load_hdf5(csv, "x", "y", C, NULL, 0, 0, &ds), TT_ERR_FORMAT,
                "not an HDF5 file", NULL);
    /* A truncated copy: the superblock survives, the data does not. */
    FILE *src = fopen(h5, "rb");
    assert_non_null(src);
    static unsigned char buf[1 << 16];
    size_t got = fread(buf, 1, sizeof buf, src);
    fclose(src);
    const char *cut = tmp_path(3, ".h5");
    FILE *dst = fopen(cut, "wb");
    assert_non_null(dst);
    fwrite(buf, 1, got / 3, dst);
    fclose(dst);
    EXPECT_FAIL(tt_ds_load_hdf5(cut, "x", "y", C, NULL, 0, 0, &ds), TT_ERR_FORMAT, cut, NULL);
    assert_null(ds);
    unlink(cut);
}

static void csv_files(void **state)
{
    (void)state;
    char p[512];
    snprintf(p, sizeof p, "%s", fixture("small.csv"));
    tt_data_config c = files_config(TT_DATA_CSV);
    snprintf(c.train.file, sizeof c.train.file, "%s", p);
    snprintf(c.train.target_column, sizeof c.train.target_column, "label");
    tt_dataset *ds;
    TT_ASSERT_OK(tt_dataset_load(&c, TT_TASK_CLASSIFICATION, NULL, 0, true, 0, &ds));
    assert_int_equal(ds->n, 6);
    assert_int_equal(ds->input_numel, 2); /* a and b */
    assert_int_equal(ds->n_classes, 2);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(ds->labels[i], i % 2);
        assert_true(ds->inputs[2 * i] == (float)(i / 2.0));
        assert_true(ds->inputs[2 * i + 1] == (float)(10 - i));
    }
    tt_dataset_free(ds);
    /* Regression on b: the features are a and label. */
    TT_ASSERT_OK(tt_ds_load_csv(p, "b", TT_TASK_REGRESSION, NULL, 1, &ds));
    assert_true(ds->targets[5] == 5.0f);
    assert_true(ds->inputs[2 * 3 + 1] == 1.0f);
    tt_dataset_free(ds);
    EXPECT_FAIL(tt_ds_load_csv(p, "nosuch", TT_TASK_REGRESSION, NULL, 0, &ds), TT_ERR_FORMAT,
                "no column named 'nosuch'", "'a', 'label', 'b'");

    /* Blank lines, CRLF, spaces and a byte-order mark are fine. */
    const char *t = tmp_path(4, ".csv");
    write_text(t, "\xEF\xBB\xBFx, y\r\n1, 0\r\n\r\n 2.5 ,1\r\n");
    TT_ASSERT_OK(tt_ds_load_csv(t, "y", TT_TASK_CLASSIFICATION, NULL, 0, &ds));
    assert_int_equal(ds->n, 2);
    assert_true(ds->inputs[1] == 2.5f);
    tt_dataset_free(ds);

    struct {
        const char *text;
        tt_task task;
        tt_status want;
        const char *n1, *n2;
    } bad[] = {
        {"a,b,y\n1,2,0\n3,4\n", TT_TASK_CLASSIFICATION, TT_ERR_FORMAT, ":3:", "2 fields"},
        {"a,b,y\n1,2,0\n3,4,1,5\n", TT_TASK_CLASSIFICATION, TT_ERR_FORMAT, ":3:", "3 columns"},
        {"a,b,y\n1,2,0\n\n3,x1,1\n", TT_TASK_CLASSIFICATION, TT_ERR_FORMAT,
         ":4:", "column 'b': 'x1' is not a number"},
        {"a,b,y\n1,,0\n", TT_TASK_CLASSIFICATION, TT_ERR_FORMAT, ":2:", "'b' is empty"},
        {"a,b,y\nnan,2,0\n", TT_TASK_CLASSIFICATION, TT_ERR_NUMERIC, ":2:", "sample 0"},
        {"a,b,y\n1,2,0\n1,1e39,0\n", TT_TASK_REGRESSION, TT_ERR_NUMERIC, ":3:", "1e39"},
        {"a,b,y\n1,2,1.5\n", TT_TASK_CLASSIFICATION, TT_ERR_FORMAT, ":2:", "not a class label"},
        {"a,b,y\n1,2,-1\n", TT_TASK_CLASSIFICATION, TT_ERR_FORMAT, ":2:", "not a class label"},
        {"a,y,y\n1,2,0\n", TT_TASK_CLASSIFICATION, TT_ERR_FORMAT, ":1:", "two columns"},
        {"y\n1\n", TT_TASK_CLASSIFICATION, TT_ERR_FORMAT, "no features", NULL},
        {"a,y\n", TT_TASK_CLASSIFICATION, TT_ERR_FORMAT, "no data rows", NULL},
        {"", TT_TASK_CLASSIFICATION, TT_ERR_FORMAT, "empty", NULL},
        {"a,y\n1,0\n", TT_TASK_IMAGE_TO_IMAGE, TT_ERR_UNSUPPORTED, "image_to_image", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text(t, bad[i].text);
        tt_status s = tt_ds_load_csv(t, "y", bad[i].task, NULL, 0, &ds);
        if (s != bad[i].want) fail_msg("case %zu: status %d: %s", i, s, tt_last_error());
        if (!strstr(tt_last_error(), t)) fail_msg("case %zu: no path in %s", i, tt_last_error());
        if (bad[i].n1 && !strstr(tt_last_error(), bad[i].n1))
            fail_msg("case %zu: '%s' not in %s", i, bad[i].n1, tt_last_error());
        if (bad[i].n2 && !strstr(tt_last_error(), bad[i].n2))
            fail_msg("case %zu: '%s' not in %s", i, bad[i].n2, tt_last_error());
        assert_null(ds);
    }
    EXPECT_FAIL(tt_ds_load_csv("/nonexistent/t.csv", "y", TT_TASK_REGRESSION, NULL, 0, &ds),
                TT_ERR_IO, "/nonexistent/t.csv", NULL);
    unlink(t);
}

/* The real data set from the Debian package: sizes, labels, pixel range, class balance. */
static void fashion_mnist_real(void **state)
{
    (void)state;
    tt_data_config c;
    memset(&c, 0, sizeof c);
    c.kind = TT_DATA_FASHION_MNIST;
    snprintf(c.dir, sizeof c.dir, FASHION_DIR);
    tt_shape flat = {.ndim = 1, .dims = {784}};
    for (int split = 0; split < 2; split++) {
        tt_dataset *ds;
        TT_ASSERT_OK(
            tt_dataset_load(&c, TT_TASK_CLASSIFICATION, split ? &flat : NULL, 10, !split, 0, &ds));
        int64_t n = split ? 10000 : 60000;
        assert_int_equal(ds->n, n);
        assert_int_equal(ds->n_classes, 10);
        assert_int_equal(ds->input_shape.ndim, split ? 1 : 3);
        assert_int_equal(ds->input_numel, 784);
        int64_t count[10] = {0};
        for (int64_t i = 0; i < n; i++) {
            assert_true(ds->labels[i] >= 0 && ds->labels[i] < 10);
            count[ds->labels[i]]++;
        }
        for (int k = 0; k < 10; k++) assert_int_equal(count[k], n / 10); /* balanced */
        float lo = 1.0f, hi = 0.0f;
        for (int64_t i = 0; i < n * 784; i++) {
            float v = ds->inputs[i];
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        assert_true(lo == 0.0f && hi == 1.0f);
        assert_int_equal(ds->n_sources, 2);
        assert_non_null(strstr(ds->sources[0].path, split ? "t10k-images" : "train-images"));
        assert_int_equal(strlen(ds->sources[1].sha256), 64);
        tt_dataset_free(ds);
    }
    tt_dataset *ds;
    snprintf(c.dir, sizeof c.dir, "/nonexistent/fmnist");
    EXPECT_FAIL(tt_dataset_load(&c, TT_TASK_CLASSIFICATION, NULL, 0, true, 0, &ds), TT_ERR_IO,
                "/nonexistent/fmnist/train-images-idx3-ubyte.gz", "dataset-fashion-mnist");
    EXPECT_FAIL(tt_dataset_load(&c, TT_TASK_REGRESSION, NULL, 0, true, 0, &ds), TT_ERR_INVALID_ARG,
                "task: classification", NULL);
}

/* A fake Fashion-MNIST directory: 6 constant mid-grey images and a 10-image test split. */
static const char *fake_fashion_dir(void)
{
    static char dir[128];
    snprintf(dir, sizeof dir, "/tmp/tt_dataset_fashion_%d", (int)getpid());
    char cmd[160];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    assert_int_equal(system(cmd), 0);
    static uint8_t img[10 * 784];
    memset(img, 128, sizeof img);
    uint8_t lab[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    const char *split[2] = {"train", "t10k"};
    for (int s = 0; s < 2; s++) {
        int64_t n = s ? 10 : 6, idims[3] = {n, 28, 28};
        char p[256];
        snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte.gz", dir, split[s]);
        write_idx_gz(p, idims, 3, img);
        snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte.gz", dir, split[s]);
        write_idx_gz(p, &n, 1, lab);
    }
    return dir;
}

static void remove_dir(const char *dir)
{
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void box_blur(void **state)
{
    (void)state;
    float img[25] = {0}, out[25], tmp[25];
    img[12] = 1.0f; /* an impulse in the centre of 5x5 */
    tt_box_blur(img, out, tmp, 5, 5, 1.0f);
    /* Radius 1: the 3x3 mean. Exact in float? 1/3 per axis is rounded, so compare to 1e-7. */
    for (int y = 0; y < 5; y++)
        for (int x = 0; x < 5; x++) {
            bool in = y >= 1 && y <= 3 && x >= 1 && x <= 3;
            assert_true(fabsf(out[y * 5 + x] - (in ? 1.0f / 9.0f : 0.0f)) < 1e-7f);
        }
    /* Radius 0.5: taps 1/2, 1, 1/2 (sum 2) per axis: 1/4 centre, 1/8 sides, 1/16 corners. */
    tt_box_blur(img, out, tmp, 5, 5, 0.5f);
    assert_true(out[12] == 0.25f && out[11] == 0.125f && out[7] == 0.125f && out[6] == 0.0625f);
    assert_true(out[0] == 0.0f);
    /* Taps outside the image are left out, so a constant image stays constant. */
    for (int i = 0; i < 25; i++) img[i] = 0.75f;
    tt_box_blur(img, out, tmp, 5, 5, 1.7f);
    for (int i = 0; i < 25; i++) assert_true(fabsf(out[i] - 0.75f) < 1e-6f);
    tt_box_blur(img, out, tmp, 5, 5, 0.0f);
    assert_memory_equal(out, img, sizeof img);
}

static void fashion_degradations(void **state)
{
    (void)state;
    const char *dir = fake_fashion_dir();
    tt_data_config c;
    memset(&c, 0, sizeof c);
    snprintf(c.dir, sizeof c.dir, "%s", dir);
    c.kind = TT_DATA_FASHION_DENOISE;
    c.noise_std = 0.1f;
    const float grey = 128.0f / 255.0f;
    tt_dataset *a, *b, *t1, *t2;
    TT_ASSERT_OK(tt_dataset_load(&c, TT_TASK_IMAGE_TO_IMAGE, NULL, 784, true, 1, &a));
    assert_int_equal(a->n, 6);
    assert_int_equal(a->target_kind, TT_TARGET_FLOAT);
    assert_true(tt_shape_equal(&a->target_shape, &a->input_shape));
    double sum2 = 0.0;
    for (int64_t i = 0; i < 6 * 784; i++) {
        assert_true(a->targets[i] == grey);
        assert_true(a->inputs[i] >= 0.0f && a->inputs[i] <= 1.0f);
        double d = (double)a->inputs[i] - grey;
        sum2 += d * d;
    }
    /* The noise std over 4704 values: sampling error ~0.1 / sqrt(2 * 4704) = 0.001, and grey
     * 0.5 +- 5 std is never clamped; 0.005 is 5 sampling errors. */
    assert_true(fabs(sqrt(sum2 / (6 * 784)) - 0.1) < 0.005);
    /* Fixed per (seed, index): same seed, same data; another seed, other noise; the test split
     * does not depend on the seed at all. */
    TT_ASSERT_OK(tt_dataset_load(&c, TT_TASK_IMAGE_TO_IMAGE, NULL, 0, true, 1, &b));
    assert_memory_equal(a->inputs, b->inputs, 6 * 784 * sizeof(float));
    tt_dataset_free(b);
    TT_ASSERT_OK(tt_dataset_load(&c, TT_TASK_IMAGE_TO_IMAGE, NULL, 0, true, 2, &b));
    assert_memory_not_equal(a->inputs, b->inputs, 6 * 784 * sizeof(float));
    tt_dataset_free(b);
    TT_ASSERT_OK(tt_dataset_load(&c, TT_TASK_IMAGE_TO_IMAGE, NULL, 0, false, 1, &t1));
    TT_ASSERT_OK(tt_dataset_load(&c, TT_TASK_IMAGE_TO_IMAGE, NULL, 0, false, 2, &t2));
    assert_int_equal(t1->n, 10);
    assert_memory_equal(t1->inputs, t2->inputs, 10 * 784 * sizeof(float));
    tt_dataset_free(t1);
    tt_dataset_free(t2);
    tt_dataset_free(a);
    EXPECT_FAIL(tt_dataset_load(&c, TT_TASK_CLASSIFICATION, NULL, 0, true, 1, &a),
                TT_ERR_INVALID_ARG, "fashion_denoise needs task: image_to_image", NULL);

    /* Quality: target 1 - s; on a constant image the blur changes nothing, so the input's
     * deviation from grey is noise of std 0.2 s. Over 784 pixels the estimate's sampling
     * error is 0.2 s / sqrt(1568) < 0.006; 0.02 allows 3 of them. */
    c.kind = TT_DATA_FASHION_QUALITY;
    TT_ASSERT_OK(tt_dataset_load(&c, TT_TASK_REGRESSION, NULL, 1, true, 3, &a));
    assert_int_equal(a->target_numel, 1);
    for (int64_t i = 0; i < 6; i++) {
        float q = a->targets[i];
        assert_true(q > 0.0f && q <= 1.0f);
        double s2 = 0.0;
        for (int j = 0; j < 784; j++) {
            double d = (double)a->inputs[i * 784 + j] - grey;
            s2 += d * d;
        }
        assert_true(fabs(sqrt(s2 / 784) - 0.2 * (1.0 - q)) < 0.02);
    }
    tt_dataset_free(a);
    EXPECT_FAIL(tt_dataset_load(&c, TT_TASK_REGRESSION, NULL, 2, true, 3, &a), TT_ERR_SHAPE,
                "outputs 2", NULL);
    remove_dir(dir);
}

static void synthetic_data(void **state)
{
    (void)state;
    tt_data_config c;
    memset(&c, 0, sizeof c);
    c.kind = TT_DATA_SYNTHETIC;
    c.samples = 400;
    tt_shape shape = {.ndim = 3, .dims = {1, 4, 4}};
    tt_dataset *tr, *te, *again;
    TT_ASSERT_OK(tt_dataset_load(&c, TT_TASK_CLASSIFICATION, &shape, 3, true, 5, &tr));
    TT_ASSERT_OK(tt_dataset_load(&c, TT_TASK_CLASSIFICATION, &shape, 3, false, 5, &te));
    TT_ASSERT_OK(tt_dataset_load(&c, TT_TASK_CLASSIFICATION, &shape, 3, true, 5, &again));
    assert_int_equal(tr->n, 400);
    assert_int_equal(te->n, 100);
    assert_int_equal(tr->n_classes, 3);
    assert_true(tt_shape_equal(&tr->input_shape, &shape));
    assert_memory_equal(tr->inputs, again->inputs, 400 * 16 * sizeof(float));
    assert_memory_equal(tr->labels, again->labels, 400 * sizeof(int32_t));
    /* Learnable, and the same problem in both splits: nearest class mean from the training
     * split labels the test split. Blobs 4 std from each boundary leave ~1e-4 errors, so
     * 99% has a wide margin. */
    double mean[3][16] = {{0}};
    int cnt[3] = {0};
    for (int i = 0; i < 400; i++) {
        cnt[tr->labels[i]]++;
        for (int j = 0; j < 16; j++) mean[tr->labels[i]][j] += tr->inputs[i * 16 + j];
    }
    for (int k = 0; k < 3; k++) {
        assert_true(cnt[k] > 80); /* random labels, about 133 each */
        for (int j = 0; j < 16; j++) mean[k][j] /= cnt[k];
    }
    int correct = 0;
    for (int i = 0; i < 100; i++) {
        int best = 0;
        double bd = INFINITY;
        for (int k = 0; k < 3; k++) {
            double d = 0.0;
            for (int j = 0; j < 16; j++) {
                double t = te->inputs[i * 16 + j] - mean[k][j];
                d += t * t;
            }
            if (d < bd) bd = d, best = k;
        }
        correct += best == te->labels[i];
    }
    assert_true(correct >= 99);
    tt_dataset_free(tr);
    tt_dataset_free(te);
    tt_dataset_free(again);

    TT_ASSERT_OK(tt_dataset_load(&c, TT_TASK_REGRESSION, &shape, 2, true, 5, &tr));
    assert_int_equal(tr->target_numel, 2);
    double s = 0.0, s2 = 0.0;
    for (int i = 0; i < 800; i++) {
        float v = tr->targets[i];
        assert_true(v > -1.0f && v < 1.0f);
        s += v, s2 += (double)v * v;
    }
    /* tanh of a unit-variance value has variance ~0.39; [0.2, 0.6] only rules out constant or
     * saturated targets. */
    double var = s2 / 800 - (s / 800) * (s / 800);
    assert_true(var > 0.2 && var < 0.6);
    tt_dataset_free(tr);
    EXPECT_FAIL(tt_dataset_load(&c, TT_TASK_CLASSIFICATION, NULL, 3, true, 5, &tr),
                TT_ERR_INVALID_ARG, "model.input", NULL);
    EXPECT_FAIL(tt_dataset_load(&c, TT_TASK_IMAGE_TO_IMAGE, &shape, 3, true, 5, &tr),
                TT_ERR_UNSUPPORTED, "image_to_image", NULL);
}

/* ---------------------------------------------------------------------------------------- */

/* n samples with input i (one value) and label lab(i). */
static tt_dataset *labelled(int64_t n, int (*lab)(int64_t))
{
    tt_shape one = {.ndim = 1, .dims = {1}};
    tt_dataset *ds;
    TT_ASSERT_OK(tt_ds_create(&ds, n, &one, TT_TARGET_LABEL, NULL, true, "test"));
    for (int64_t i = 0; i < n; i++) ds->inputs[i] = (float)i, ds->labels[i] = lab(i);
    TT_ASSERT_OK(tt_ds_finish_labels(ds, 0, 0, "test"));
    return ds;
}

static int lab_50_30_20(int64_t i)
{
    return i % 10 < 5 ? 0 : (i % 10 < 8 ? 1 : 2); /* 50% / 30% / 20% */
}

static void split_stratified(void **state)
{
    (void)state;
    tt_dataset *ds = labelled(100, lab_50_30_20), *tr, *va, *tr2, *va2;
    TT_ASSERT_OK(tt_dataset_split(ds, 0.2f, 7, &tr, &va));
    assert_int_equal(tr->n, 80);
    assert_int_equal(va->n, 20);
    int cnt[3] = {0};
    for (int64_t i = 0; i < va->n; i++) cnt[va->labels[i]]++;
    assert_int_equal(cnt[0], 10); /* 20% of each class */
    assert_int_equal(cnt[1], 6);
    assert_int_equal(cnt[2], 4);
    /* Disjoint, covering, in the original order, labels travelling with inputs. */
    int seen[100] = {0};
    tt_dataset *parts[2] = {tr, va};
    for (int p = 0; p < 2; p++)
        for (int64_t i = 0; i < parts[p]->n; i++) {
            int v = (int)parts[p]->inputs[i];
            seen[v]++;
            assert_int_equal(parts[p]->labels[i], lab_50_30_20(v));
            if (i > 0) assert_true(parts[p]->inputs[i] > parts[p]->inputs[i - 1]);
        }
    for (int i = 0; i < 100; i++) assert_int_equal(seen[i], 1);
    /* Seeded: the same seed picks the same samples, another seed others. */
    TT_ASSERT_OK(tt_dataset_split(ds, 0.2f, 7, &tr2, &va2));
    assert_memory_equal(va->inputs, va2->inputs, 20 * sizeof(float));
    tt_dataset_free(tr2);
    tt_dataset_free(va2);
    TT_ASSERT_OK(tt_dataset_split(ds, 0.2f, 8, &tr2, &va2));
    assert_memory_not_equal(va->inputs, va2->inputs, 20 * sizeof(float));
    tt_dataset_free(tr2);
    tt_dataset_free(va2);
    tt_dataset_free(tr);
    tt_dataset_free(va);

    /* Uneven quotas: 0.15 of 100 is 15, shared 7.5 / 4.5 / 3 by largest remainder (ties to
     * the lower class): 8, 4, 3. */
    TT_ASSERT_OK(tt_dataset_split(ds, 0.15f, 1, &tr, &va));
    memset(cnt, 0, sizeof cnt);
    for (int64_t i = 0; i < va->n; i++) cnt[va->labels[i]]++;
    assert_int_equal(va->n, 15);
    assert_int_equal(cnt[0], 8);
    assert_int_equal(cnt[1], 4);
    assert_int_equal(cnt[2], 3);
    tt_dataset_free(tr);
    tt_dataset_free(va);

    /* Nothing held out: a copy and no validation set. */
    TT_ASSERT_OK(tt_dataset_split(ds, 0.0f, 1, &tr, &va));
    assert_null(va);
    assert_int_equal(tr->n, 100);
    assert_memory_equal(tr->inputs, ds->inputs, 100 * sizeof(float));
    tt_dataset_free(tr);
    EXPECT_FAIL(tt_dataset_split(ds, 1.0f, 1, &tr, &va), TT_ERR_INVALID_ARG, "[0, 1)", NULL);
    EXPECT_FAIL(tt_dataset_split(ds, NAN, 1, &tr, &va), TT_ERR_INVALID_ARG, NULL, NULL);
    EXPECT_FAIL(tt_dataset_split(ds, 0.996f, 1, &tr, &va), TT_ERR_INVALID_ARG, "none to train",
                NULL);
    tt_dataset_free(ds);

    /* Float targets: plain random, round(n * f) held out. */
    tt_shape one = {.ndim = 1, .dims = {1}};
    TT_ASSERT_OK(tt_ds_create(&ds, 33, &one, TT_TARGET_FLOAT, &one, true, "test"));
    for (int i = 0; i < 33; i++) ds->inputs[i] = (float)i, ds->targets[i] = (float)(2 * i);
    TT_ASSERT_OK(tt_dataset_split(ds, 0.1f, 3, &tr, &va));
    assert_int_equal(va->n, 3);
    assert_int_equal(tr->n, 30);
    for (int i = 0; i < 3; i++) assert_true(va->targets[i] == 2.0f * va->inputs[i]);
    tt_dataset_free(tr);
    tt_dataset_free(va);
    tt_dataset_free(ds);
}

static void normalize(void **state)
{
    (void)state;
    tt_shape s = {.ndim = 3, .dims = {2, 1, 2}};
    tt_dataset *ds;
    TT_ASSERT_OK(tt_ds_create(&ds, 2, &s, TT_TARGET_LABEL, NULL, true, "test"));
    const float x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    memcpy(ds->inputs, x, sizeof x);
    ds->labels[0] = ds->labels[1] = 0;
    const float mean[2] = {1.0f, 2.0f}, std[2] = {2.0f, 0.5f};
    EXPECT_FAIL(tt_dataset_normalize_inputs(ds, mean, std, 3), TT_ERR_SHAPE, "3 mean/std", NULL);
    const float zero[2] = {1.0f, 0.0f};
    EXPECT_FAIL(tt_dataset_normalize_inputs(ds, mean, zero, 2), TT_ERR_INVALID_ARG, "std > 0",
                NULL);
    TT_ASSERT_OK(tt_dataset_normalize_inputs(ds, mean, std, 2));
    /* Channel 0 holds elements 0-1 of each sample, channel 1 elements 2-3. Exact: every
     * value and quotient is a small dyadic rational. */
    const float want[8] = {0, 0.5f, 2, 4, 2, 2.5f, 10, 12};
    assert_memory_equal(ds->inputs, want, sizeof want);
    assert_int_equal(ds->n_norm, 2);
    EXPECT_FAIL(tt_dataset_normalize_inputs(ds, mean, std, 2), TT_ERR_STATE, "already", NULL);
    tt_dataset_free(ds);
    /* One entry applies to every channel. */
    TT_ASSERT_OK(tt_ds_create(&ds, 2, &s, TT_TARGET_LABEL, NULL, true, "test"));
    memcpy(ds->inputs, x, sizeof x);
    TT_ASSERT_OK(tt_dataset_normalize_inputs(ds, mean, std, 1));
    assert_true(ds->inputs[7] == 3.5f);
    tt_dataset_free(ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sha256_known_vector),
        cmocka_unit_test(npy_classification),
        cmocka_unit_test(npy_pixels_and_regression),
        cmocka_unit_test(npy_errors),
        cmocka_unit_test(idx_files),
        cmocka_unit_test(hdf5_resident),
        cmocka_unit_test(hdf5_streamed),
        cmocka_unit_test(hdf5_errors),
        cmocka_unit_test(csv_files),
        cmocka_unit_test(fashion_mnist_real),
        cmocka_unit_test(box_blur),
        cmocka_unit_test(fashion_degradations),
        cmocka_unit_test(synthetic_data),
        cmocka_unit_test(split_stratified),
        cmocka_unit_test(normalize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
