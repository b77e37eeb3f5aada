/* The gate on samples from a file (tinytrain/gate.h, docs/gate.md "Inputs from a file"): the
 * reader (which array, dtype, shape, count, NaN/Inf, a fixed batch), each refusal with its own
 * message; tt_gate_pair with --data and tt_gate_entry with a registry entry's gate_data on the
 * fixture MLP (tests/fixtures/gate: input "input" [N, 4]), including a hash mismatch, a missing
 * file, --synthetic and --data overriding the entry; and what the reports say about the inputs. */
#include "testutil.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "data/sha256.h"
#include "tinytrain/gate.h"
#include "tinytrain/npz.h"

static char tmpdir[64];

static int make_tmpdir(void **state)
{
    *state = tt_test_tmpdir_make("tt_gate_data", tmpdir, sizeof tmpdir);
    return *state ? 0 : -1;
}

static const char *tmp_path(const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", tmpdir, name);
    return buf;
}

/* Value i of the float arrays the tests write: distinct and easy to recognise. */
static float value_at(int64_t i)
{
    return 0.25f + (float)i / 64;
}

static tt_tensor *make_array(tt_dtype dt, int ndim, const int64_t *dims)
{
    tt_tensor *t = NULL;
    TT_ASSERT_OK(tt_tensor_alloc(&t, dt, ndim, dims));
    if (dt == TT_F32)
        for (int64_t i = 0; i < tt_tensor_numel(t); i++) tt_tensor_f32(t)[i] = value_at(i);
    return t;
}

/* An .npz in tmpdir with arrays names[i] of shapes dims[i] (rank 2 unless d2 > 0). */
static const char *write_npz(const char *file, int n, const char *const *names, tt_dtype dt,
                             int64_t rows, int64_t cols, int64_t d2, char *buf, size_t len)
{
    tt_tensor *t[4];
    int64_t dims[3] = {rows, cols, d2};
    for (int i = 0; i < n; i++) t[i] = make_array(dt, d2 > 0 ? 3 : 2, dims);
    TT_ASSERT_OK(
        tt_npz_save(tmp_path(file, buf, len), n, names, (const tt_tensor *const *)t, false));
    for (int i = 0; i < n; i++) tt_tensor_free(t[i]);
    return buf;
}

static const tt_shape MLP_IN = {.ndim = 2, .dims = {TT_DIM_BATCH, 4}};
static const char *const INPUT[] = {"input", "index"};

/* ---- the reader ---- */

static void test_reads_named_array(void **state)
{
    (void)state;
    char path[256], array[TT_NAME_MAX];
    write_npz("good.npz", 2, INPUT, TT_F32, 20, 4, 0, path, sizeof path);
    tt_shape sample;
    float *x = NULL;
    TT_ASSERT_OK(tt_gate_data_inputs(path, "input", &MLP_IN, 16, &sample, &x, array, sizeof array));
    assert_string_equal(array, "input");
    assert_int_equal(sample.ndim, 2);
    assert_int_equal(sample.dims[0], 1); /* a symbolic batch: one row per sample */
    assert_int_equal(sample.dims[1], 4);
    for (int i = 0; i < 16 * 4; i++) assert_true(x[i] == value_at(i)); /* the first 16, in order */
    free(x);
    /* The file's only array is used whatever its name. */
    const char *only[] = {"samples"};
    write_npz("one.npz", 1, only, TT_F32, 16, 4, 0, path, sizeof path);
    TT_ASSERT_OK(tt_gate_data_inputs(path, "input", &MLP_IN, 16, &sample, &x, array, sizeof array));
    assert_string_equal(array, "samples");
    free(x);
}

/* A model whose file fixes the batch at 2: each sample is two rows. */
static void test_fixed_batch(void **state)
{
    (void)state;
    char path[256], array[TT_NAME_MAX];
    write_npz("rows.npz", 1, INPUT, TT_F32, 7, 4, 0, path, sizeof path);
    tt_shape fixed = {.ndim = 2, .dims = {2, 4}}, sample;
    float *x = NULL;
    TT_ASSERT_OK(tt_gate_data_inputs(path, "input", &fixed, 3, &sample, &x, array, sizeof array));
    assert_int_equal(sample.dims[0], 2);
    for (int i = 0; i < 3 * 2 * 4; i++) assert_true(x[i] == value_at(i));
    free(x);
    assert_int_equal(
        tt_gate_data_inputs(path, "input", &fixed, 4, &sample, &x, array, sizeof array),
        TT_ERR_INVALID_ARG);
    assert_non_null(strstr(tt_last_error(), "holds 7 samples but the gate asks for 8: 4 runs of "
                                            "the model's fixed batch of 2"));
    assert_null(x);
}

static void expect_refused(const char *path, const tt_shape *in, int64_t n, tt_status want,
                           const char *message)
{
    tt_shape sample;
    float *x = (float *)1;
    char array[TT_NAME_MAX];
    tt_status s = tt_gate_data_inputs(path, "input", in, n, &sample, &x, array, sizeof array);
    if (s != want || !strstr(tt_last_error(), message))
        print_error("%s: want %d \"%s\", got %d \"%s\"\n", path, want, message, s, tt_last_error());
    assert_int_equal(s, want);
    assert_non_null(strstr(tt_last_error(), message));
    assert_null(x);
}

static void test_refusals(void **state)
{
    (void)state;
    char path[256];
    const char *two[] = {"a", "b"};
    write_npz("noname.npz", 2, two, TT_F32, 16, 4, 0, path, sizeof path);
    expect_refused(path, &MLP_IN, 16, TT_ERR_FORMAT,
                   "has no array named 'input' (the model input's name) and holds 2 arrays: "
                   "'a', 'b'");
    write_npz("dtype.npz", 1, INPUT, TT_I32, 16, 4, 0, path, sizeof path);
    expect_refused(path, &MLP_IN, 16, TT_ERR_UNSUPPORTED, "array 'input' has dtype int32");
    write_npz("shape.npz", 1, INPUT, TT_F32, 16, 5, 0, path, sizeof path);
    expect_refused(path, &MLP_IN, 16, TT_ERR_SHAPE,
                   "array 'input' has shape [16, 5]; the model input 'input' takes [N, 4]");
    write_npz("rank.npz", 1, INPUT, TT_F32, 16, 2, 2, path, sizeof path);
    expect_refused(path, &MLP_IN, 16, TT_ERR_SHAPE, "has shape [16, 2, 2]");
    write_npz("few.npz", 1, INPUT, TT_F32, 8, 4, 0, path, sizeof path);
    expect_refused(path, &MLP_IN, 16, TT_ERR_INVALID_ARG,
                   "holds 8 samples but the gate asks for 16 (--samples");
    expect_refused(path, &MLP_IN, 0, TT_ERR_INVALID_ARG, "0 samples; 1 .. 65536 allowed");
    expect_refused(tmp_path("none.npz", path, sizeof path), &MLP_IN, 16, TT_ERR_IO,
                   "cannot read the gate samples");
    expect_refused(tmp_path("x.h5", path, sizeof path), &MLP_IN, 16, TT_ERR_INVALID_ARG,
                   "gate samples come in an .npz file");
    /* Not a zip at all: the archive reader's own message. */
    tt_test_write_file(tmp_path("text.npz", path, sizeof path), "hello", 5);
    expect_refused(path, &MLP_IN, 16, TT_ERR_FORMAT, "cannot read the gate samples");
    /* NaN or infinity anywhere in the array, even past the samples used. */
    const int64_t dims[2] = {20, 4};
    const char *bad_values[] = {"nan", "inf"};
    for (int k = 0; k < 2; k++) {
        tt_tensor *t = make_array(TT_F32, 2, dims);
        tt_tensor_f32(t)[18 * 4 + 1] = k ? INFINITY : NAN;
        char file[32], want[64];
        snprintf(file, sizeof file, "%s.npz", bad_values[k]);
        TT_ASSERT_OK(tt_npz_save(tmp_path(file, path, sizeof path), 1, INPUT,
                                 (const tt_tensor *const *)&t, false));
        tt_tensor_free(t);
        snprintf(want, sizeof want, "sample 18 has %s in its values (element 1)",
                 k ? "Inf" : "NaN");
        expect_refused(path, &MLP_IN, 16, TT_ERR_NUMERIC, want);
    }
}

/* ---- the gate on the fixture MLP ---- */

static void copy_fixture(const char *name)
{
    char src[512], dst[256];
    size_t len;
    char rel[128];
    snprintf(rel, sizeof rel, "gate/%s", name);
    char *data = tt_test_read_file(tt_test_fixture(rel, src, sizeof src), &len);
    tt_test_write_file(tmp_path(name, dst, sizeof dst), data, len);
    free(data);
}

/* The SHA-256 of the first n samples' float32 bytes of the test arrays (value_at order). */
static void first_samples_sha(int64_t n_values, char hex[65])
{
    float *v = malloc((size_t)n_values * sizeof *v);
    for (int64_t i = 0; i < n_values; i++) v[i] = value_at(i);
    TT_ASSERT_OK(tt_sha256_hex(v, (size_t)n_values * sizeof *v, hex));
    free(v);
}

static void test_pair_with_data(void **state)
{
    (void)state;
    copy_fixture("mlp.onnx");
    copy_fixture("mlp.int8.onnx");
    char fp32[256], int8[256], data[256], want[65], file_sha[65];
    tmp_path("mlp.onnx", fp32, sizeof fp32);
    tmp_path("mlp.int8.onnx", int8, sizeof int8);
    write_npz("pair.npz", 2, INPUT, TT_F32, 24, 4, 0, data, sizeof data);
    tt_gate_opts o = {.samples = 16, .data = data};
    tt_gate_row row, drawn;
    TT_ASSERT_OK(tt_gate_pair(fp32, int8, "p", 0.01, &o, &row));
    if (!row.measured) print_error("%s\n", row.message);
    assert_true(row.measured);
    first_samples_sha(16 * 4, want);
    assert_string_equal(row.inputs_sha256, want); /* exactly the file's first 16 samples */
    TT_ASSERT_OK(tt_registry_file_sha256(data, file_sha));
    assert_string_equal(row.data_sha256, file_sha);
    assert_string_equal(row.data_array, "input");
    assert_true(row.data_path[0] == '/');
    assert_true(row.m.n == 16 * 3);
    /* Without data: drawn samples, other inputs. */
    o.data = NULL;
    TT_ASSERT_OK(tt_gate_pair(fp32, int8, "p", 0.01, &o, &drawn));
    assert_true(drawn.measured);
    assert_string_equal(drawn.data_path, "");
    assert_string_not_equal(drawn.inputs_sha256, row.inputs_sha256);
    /* A missing file and an unusable one: error rows with the reason, nothing measured. */
    o.data = tmp_path("gone.npz", data, sizeof data);
    TT_ASSERT_OK(tt_gate_pair(fp32, int8, "p", 0.01, &o, &row));
    assert_int_equal(row.status, TT_GATE_ST_ERROR);
    assert_false(row.measured);
    assert_non_null(strstr(row.message, "missing gate data"));
    o.data = write_npz("wide.npz", 1, INPUT, TT_F32, 16, 5, 0, data, sizeof data);
    TT_ASSERT_OK(tt_gate_pair(fp32, int8, "p", 0.01, &o, &row));
    assert_int_equal(row.status, TT_GATE_ST_ERROR);
    assert_non_null(strstr(row.message, "the model input 'input' takes [N, 4]"));
}

/* A registry in tmpdir whose one entry (the MLP, qat) has gate_data d.npz with sha. */
static void registry_with_data(const char *sha, tt_registry *reg)
{
    char fp32[256], int8[256], s32[65], s8[65], text[2048];
    TT_ASSERT_OK(tt_registry_file_sha256(tmp_path("mlp.onnx", fp32, sizeof fp32), s32));
    TT_ASSERT_OK(tt_registry_file_sha256(tmp_path("mlp.int8.onnx", int8, sizeof int8), s8));
    snprintf(text, sizeof text,
             "{\"schema_version\": 1, \"models\": [{\"id\": \"mlp\", \"kind\": \"regressor\", "
             "\"onnx\": \"mlp.onnx\", \"sha256\": \"%s\", \"opset\": 13, \"quant_mode\": \"qat\", "
             "\"int8_sha256\": \"%s\", \"gate_data\": \"d.npz\", \"gate_data_sha256\": \"%s\"}]}",
             s32, s8, sha);
    TT_ASSERT_OK(tt_registry_parse(text, strlen(text), "reg.json", tmpdir, reg));
}

static void test_entry_with_data(void **state)
{
    (void)state;
    copy_fixture("mlp.onnx");
    copy_fixture("mlp.int8.onnx");
    char data[256], sha[65], want[65];
    write_npz("d.npz", 1, INPUT, TT_F32, 16, 4, 0, data, sizeof data);
    TT_ASSERT_OK(tt_registry_file_sha256(data, sha));
    tt_registry reg;
    registry_with_data(sha, &reg);
    tt_gate_opts o = {.samples = 16};
    tt_gate_row row;
    TT_ASSERT_OK(tt_gate_entry(&reg, &reg.models[0], &o, &row));
    if (!row.measured) print_error("%s\n", row.message);
    assert_true(row.measured);
    first_samples_sha(16 * 4, want);
    assert_string_equal(row.inputs_sha256, want);
    assert_string_equal(row.data_sha256, sha);
    /* --synthetic: the seed's drawn samples, the file untouched. */
    o.synthetic = true;
    TT_ASSERT_OK(tt_gate_entry(&reg, &reg.models[0], &o, &row));
    assert_true(row.measured);
    assert_string_equal(row.data_path, "");
    assert_string_not_equal(row.inputs_sha256, want);
    /* --data wins over the entry's file. */
    char other[256];
    const char *only[] = {"x"};
    o = (tt_gate_opts){.samples = 2,
                       .data = write_npz("o.npz", 1, only, TT_F32, 2, 4, 0, other, sizeof other)};
    TT_ASSERT_OK(tt_gate_entry(&reg, &reg.models[0], &o, &row));
    assert_true(row.measured);
    assert_string_equal(row.data_array, "x");
    tt_registry_free(&reg);

    /* A file that is not the registered one: nothing runs. */
    registry_with_data("cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc", &reg);
    o = (tt_gate_opts){.samples = 16};
    TT_ASSERT_OK(tt_gate_entry(&reg, &reg.models[0], &o, &row));
    assert_int_equal(row.status, TT_GATE_ST_ERROR);
    assert_false(row.measured);
    assert_non_null(strstr(row.message, "sha256 mismatch"));
    assert_non_null(strstr(row.message, "gate_data_sha256"));
    /* A missing file: an error naming it and the way out. */
    unlink(data);
    TT_ASSERT_OK(tt_gate_entry(&reg, &reg.models[0], &o, &row));
    assert_int_equal(row.status, TT_GATE_ST_ERROR);
    assert_non_null(strstr(row.message, "missing gate data"));
    assert_non_null(strstr(row.message, "d.npz"));
    assert_non_null(strstr(row.message, "--synthetic"));
    tt_registry_free(&reg);
}

/* ---- the reports say where the inputs came from ---- */

static void test_reports_name_inputs(void **state)
{
    (void)state;
    tt_gate_row rows[2];
    memset(rows, 0, sizeof rows);
    for (int i = 0; i < 2; i++) {
        snprintf(rows[i].id, sizeof rows[i].id, "m%d", i);
        snprintf(rows[i].mode, sizeof rows[i].mode, "qat");
        rows[i].measured = true;
        rows[i].status = TT_GATE_ST_PASS;
        rows[i].m = (tt_gate_metrics){.n = 16, .plcc = 0.999, .drop = 0.001, .worst_abs = 0.1};
    }
    snprintf(rows[1].data_path, sizeof rows[1].data_path, "/x/m.gate.npz");
    memset(rows[1].data_sha256, 'a', 64);
    snprintf(rows[1].data_array, sizeof rows[1].data_array, "input");
    char md[256], js[256];
    tmp_path("r.md", md, sizeof md);
    tmp_path("r.json", js, sizeof js);
    char *argv[] = {"tinytrain", "gate"};
    tt_gate_opts o = {.samples = 16, .seed = 7};
    tt_gate_run run = {.argc = 2, .argv = argv, .out_md = md, .backend = "cpu", .opts = &o};
    TT_ASSERT_OK(tt_gate_write_md(md, rows, 2, &run));
    TT_ASSERT_OK(tt_gate_write_json(js, rows, 2, &run));
    char *text = tt_test_read_file(md, NULL);
    assert_non_null(strstr(text, "| worst_abs | wall s | inputs | note |"));
    assert_non_null(strstr(text, "| drawn, seed 7 |"));
    assert_non_null(strstr(text, "| m.gate.npz 'input' (sha256 aaaaaaaaaaaa...) |"));
    free(text);
    text = tt_test_read_file(js, NULL);
    cJSON *root = cJSON_Parse(text);
    cJSON *models = cJSON_GetObjectItem(root, "models");
    cJSON *in0 = cJSON_GetObjectItem(cJSON_GetArrayItem(models, 0), "inputs");
    cJSON *in1 = cJSON_GetObjectItem(cJSON_GetArrayItem(models, 1), "inputs");
    assert_string_equal(cJSON_GetObjectItem(in0, "source")->valuestring, "drawn");
    assert_int_equal((int)cJSON_GetObjectItem(in0, "seed")->valuedouble, 7);
    assert_string_equal(cJSON_GetObjectItem(in1, "source")->valuestring, "file");
    assert_string_equal(cJSON_GetObjectItem(in1, "path")->valuestring, "/x/m.gate.npz");
    assert_string_equal(cJSON_GetObjectItem(in1, "array")->valuestring, "input");
    assert_int_equal(strlen(cJSON_GetObjectItem(in1, "sha256")->valuestring), 64);
    /* run_provenance lists the data file with the model files. */
    cJSON *pm = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(root, "run_provenance"), "inputs"), "models");
    assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(pm, 0), "data"));
    cJSON *d1 = cJSON_GetObjectItem(cJSON_GetArrayItem(pm, 1), "data");
    assert_non_null(d1);
    assert_string_equal(cJSON_GetObjectItem(d1, "path")->valuestring, "/x/m.gate.npz");
    cJSON_Delete(root);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_named_array), cmocka_unit_test(test_fixed_batch),
        cmocka_unit_test(test_refusals),          cmocka_unit_test(test_pair_with_data),
        cmocka_unit_test(test_entry_with_data),   cmocka_unit_test(test_reports_name_inputs),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, tt_test_tmpdir_teardown);
}
