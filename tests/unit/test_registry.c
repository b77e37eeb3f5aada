/* The model registry (tinytrain/registry.h): the C validator against the JSON cases that
 * tests/onnx/check_gate.py runs through model/registry.schema.json (tests/fixtures/gate/
 * registry_cases, made by scripts/gen_gate_fixtures.py and, for gate_data, tests/fixtures/gate/
 * gen_gate_data.py: good_* valid, bad_* and cbad_* invalid), one message per broken rule, the
 * disk checks (missing file, hash and opset mismatch, a symbolic link out of the directory, a
 * missing calibration set, gate data missing, altered or unusable) on the fixture models, and
 * the writer:
 * sorted by id, byte-identical to Python's json.dumps(indent=2, sort_keys=True) of the same
 * registry. */
#include "testutil.h"
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "tinytrain/registry.h"

static char tmpdir[64];

/* The group's directory, removed with all below it by tt_test_tmpdir_teardown. */
static int make_tmpdir(void **state)
{
    *state = tt_test_tmpdir_make("tt_registry", tmpdir, sizeof tmpdir);
    return *state ? 0 : -1;
}

static void copy_fixture(const char *name, const char *dst_name)
{
    char src[512], dst[512];
    snprintf(dst, sizeof dst, "%s/%s", tmpdir, dst_name);
    size_t len;
    char *data = tt_test_read_file(tt_test_fixture(name, src, sizeof src), &len);
    tt_test_write_file(dst, data, len);
    free(data);
}

static tt_status parse_text(const char *text, tt_registry *reg)
{
    return tt_registry_parse(text, strlen(text), "reg.json", tmpdir, reg);
}

/* Parse text; it must fail with TT_ERR_FORMAT and a message containing want. */
static void expect_bad(const char *text, const char *want)
{
    tt_registry reg;
    tt_status s = parse_text(text, &reg);
    if (s == TT_OK || !strstr(tt_last_error(), want))
        print_error("want an error containing \"%s\"; got status %d, \"%s\"\n", want, s,
                    tt_last_error());
    assert_int_equal(s, TT_ERR_FORMAT);
    assert_non_null(strstr(tt_last_error(), want));
    assert_int_equal(reg.n, 0);
    assert_null(reg.models);
}

/* ---- the shared cases: the C validator agrees with the schema on every one ---- */

static const struct {
    const char *name, *message;
} bad_cases[] = {
    {"bad_unknown_field", "unknown field 'license'"},
    {"bad_unknown_top", "unknown field 'extra'"},
    {"bad_missing_models", "missing required field 'models'"},
    {"bad_version", "schema_version: must be 1"},
    {"bad_id_pattern", "id: 'Bad Id' must match ^[a-z0-9][a-z0-9_-]*$"},
    {"bad_id_leading_dash", "id: '-x' must match"},
    {"bad_id_long", "at most 64 characters"},
    {"bad_hash_short", "sha256: must be 64 lowercase hexadecimal digits"},
    {"bad_hash_upper", "sha256: must be 64 lowercase hexadecimal digits"},
    {"bad_path_dotdot", "has a '.' or '..' segment"},
    {"bad_path_absolute", "is absolute"},
    {"bad_path_dot", "has a '.' or '..' segment"},
    {"bad_path_not_onnx", "must name the fp32 model, ending in .onnx"},
    {"bad_path_int8", "not in .int8.onnx"},
    {"bad_missing_int8_sha", "quant_mode 'dynamic' needs int8_sha256"},
    {"bad_static_no_calibration", "quant_mode 'static' needs quant_calibration_set"},
    {"bad_fp32_with_int8_sha", "int8_sha256: given for quant_mode 'fp32'"},
    {"bad_kind", "kind: must be one of classifier, regressor, filter"},
    {"bad_mode", "quant_mode: must be one of fp32, dynamic, static, qat"},
    {"bad_opset_range", "opset: must be a whole number from 7 to 21"},
    {"bad_opset_fraction", "opset: must be a whole number from 7 to 21"},
    {"bad_budget_range", "quant_accuracy_budget_plcc: must be a number from 0 to 1"},
    {"bad_budget_type", "quant_accuracy_budget_plcc: must be a number from 0 to 1"},
    {"bad_missing_sha", "missing required field 'sha256'"},
    {"bad_missing_mode", "missing required field 'quant_mode'"},
    {"bad_notes_long", "notes: is longer than 512 characters"},
    {"bad_calibration_ext", "must be a .npz or .h5 file"},
    {"bad_models_not_array", "models: must be an array"},
    {"bad_gate_data_no_sha", "gate_data: is given without gate_data_sha256"},
    {"bad_gate_data_sha_alone", "gate_data_sha256: is given without gate_data"},
    {"bad_gate_data_ext", "gate_data: 'm.gate.h5' must be an .npz file"},
    {"bad_gate_data_path", "gate_data: '../m.gate.npz' must start with a lowercase letter"},
    {"bad_gate_data_hash", "gate_data_sha256: must be 64 lowercase hexadecimal digits"},
    {"bad_fp32_with_gate_data", "gate_data: given for quant_mode 'fp32'"},
    {"cbad_duplicate_id", "id 'm' is already used by models[0]; ids must be unique"},
    {"cbad_duplicate_key", "schema_version: given twice"},
};

static const char *const good_cases[] = {"good_empty", "good_fp32", "good_full",
                                         "good_integral_opset", "good_gate_data"};

static void load_case(const char *name, tt_registry *reg, tt_status *s)
{
    char rel[128], path[512];
    snprintf(rel, sizeof rel, "gate/registry_cases/%s.json", name);
    *s = tt_registry_load(tt_test_fixture(rel, path, sizeof path), reg);
}

static void test_shared_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof good_cases / sizeof good_cases[0]; i++) {
        tt_registry reg;
        tt_status s;
        load_case(good_cases[i], &reg, &s);
        if (s != TT_OK) print_error("%s: %s\n", good_cases[i], tt_last_error());
        assert_int_equal(s, TT_OK);
        tt_registry_free(&reg);
    }
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        tt_registry reg;
        tt_status s;
        load_case(bad_cases[i].name, &reg, &s);
        if (s != TT_ERR_FORMAT || !strstr(tt_last_error(), bad_cases[i].message))
            print_error("%s: want \"%s\", got %d \"%s\"\n", bad_cases[i].name, bad_cases[i].message,
                        s, tt_last_error());
        assert_int_equal(s, TT_ERR_FORMAT);
        assert_non_null(strstr(tt_last_error(), bad_cases[i].message));
        /* The file and the entry are named. */
        assert_non_null(strstr(tt_last_error(), bad_cases[i].name));
    }
}

/* Every case file in the directory is in one of the tables, so a new case cannot go unchecked. */
static void test_every_case_listed(void **state)
{
    (void)state;
    char dir[512];
    DIR *d = opendir(tt_test_fixture("gate/registry_cases", dir, sizeof dir));
    assert_non_null(d);
    int seen = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char name[256];
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".json")) continue;
        snprintf(name, sizeof name, "%.*s", (int)(n - 5), e->d_name);
        bool found = false;
        for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++)
            found |= !strcmp(bad_cases[i].name, name);
        for (size_t i = 0; i < sizeof good_cases / sizeof good_cases[0]; i++)
            found |= !strcmp(good_cases[i], name);
        if (!found) print_error("case %s is in no table of this test\n", name);
        assert_true(found);
        seen++;
    }
    closedir(d);
    assert_int_equal(seen, (int)(sizeof bad_cases / sizeof bad_cases[0] +
                                 sizeof good_cases / sizeof good_cases[0]));
}

/* ---- parsing details ---- */

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static void test_values_and_defaults(void **state)
{
    (void)state;
    const char *text = "{\"schema_version\": 1, \"models\": ["
                       "{\"id\": \"q\", \"kind\": \"regressor\", \"onnx\": \"d/q.onnx\", "
                       "\"sha256\": \"" SHA_A "\", \"opset\": 17, \"quant_mode\": \"qat\", "
                       "\"int8_sha256\": \"" SHA_B "\"},"
                       "{\"id\": \"d\", \"kind\": \"filter\", \"onnx\": \"d.onnx\", "
                       "\"sha256\": \"" SHA_A "\", \"opset\": 13, \"quant_mode\": \"dynamic\", "
                       "\"int8_sha256\": \"" SHA_B "\", \"quant_accuracy_budget_plcc\": 0.05}]}";
    tt_registry reg;
    TT_ASSERT_OK(parse_text(text, &reg));
    assert_int_equal(reg.n, 2);
    const tt_registry_entry *q = tt_registry_find(&reg, "q"), *d = tt_registry_find(&reg, "d");
    assert_non_null(q);
    assert_non_null(d);
    assert_null(tt_registry_find(&reg, "nope"));
    assert_int_equal(q->kind, TT_KIND_REGRESSOR);
    assert_int_equal(q->opset, 17);
    assert_int_equal(q->quant_mode, TT_QUANT_QAT);
    /* Absent budget: the default of the mode (0.002 for qat, DESIGN §8), not written back. */
    assert_false(q->budget_set);
    assert_true(q->budget == TT_REGISTRY_BUDGET_DEFAULT_QAT);
    assert_true(d->budget_set);
    assert_true(d->budget == 0.05);
    assert_string_equal(q->onnx, "d/q.onnx");
    char path[4200];
    TT_ASSERT_OK(tt_registry_model_path(&reg, q, true, path, sizeof path));
    assert_non_null(strstr(path, "/d/q.int8.onnx"));
    assert_int_equal(strncmp(path, reg.dir, strlen(reg.dir)), 0);
    tt_registry_free(&reg);
    assert_true(tt_registry_default_budget(TT_QUANT_DYNAMIC) == TT_REGISTRY_BUDGET_DEFAULT);
}

static void test_malformed_json(void **state)
{
    (void)state;
    expect_bad("{\"schema_version\": 1,\n \"models\": [}", "reg.json:2:");
    expect_bad("{\"schema_version\": 1, \"models\": []} trailing", "malformed JSON");
    expect_bad("[]", "must be an object");
    expect_bad("{\"models\": []}", "missing required field 'schema_version'");
    expect_bad("{\"schema_version\": 1, \"models\": [7]}", "models[0]: must be an object");
    tt_registry reg;
    assert_int_equal(tt_registry_parse("{\"a\":\0}", 7, "nul.json", tmpdir, &reg), TT_ERR_FORMAT);
    assert_non_null(strstr(tt_last_error(), "NUL byte"));
}

static void test_unreadable(void **state)
{
    (void)state;
    tt_registry reg;
    char path[128];
    snprintf(path, sizeof path, "%s/none.json", tmpdir);
    assert_int_equal(tt_registry_load(path, &reg), TT_ERR_IO);
    assert_non_null(strstr(tt_last_error(), "none.json"));
    assert_int_equal(tt_registry_load(tmpdir, &reg), TT_ERR_IO); /* a directory */
}

/* ---- the disk checks ---- */

static void sha_of(const char *name, char hex[65])
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    TT_ASSERT_OK(tt_registry_file_sha256(path, hex));
}

/* A registry in tmpdir with one entry, mode and hashes as given. */
static tt_status registry_for(const char *mode, const char *sha, const char *sha8, int opset,
                              const char *extra, tt_registry *reg)
{
    char text[2048];
    snprintf(text, sizeof text,
             "{\"schema_version\": 1, \"models\": [{\"id\": \"mlp\", \"kind\": \"regressor\", "
             "\"onnx\": \"mlp.onnx\", \"sha256\": \"%s\", \"opset\": %d, \"quant_mode\": "
             "\"%s\"%s%s%s%s}]}",
             sha, opset, mode, sha8 ? ", \"int8_sha256\": \"" : "", sha8 ? sha8 : "",
             sha8 ? "\"" : "", extra ? extra : "");
    return parse_text(text, reg);
}

static void expect_files(tt_registry *reg, tt_status want, const char *message)
{
    tt_status s = tt_registry_check_files(reg, &reg->models[0]);
    if (s != want || (message && !strstr(tt_last_error(), message)))
        print_error("want %d \"%s\", got %d \"%s\"\n", want, message ? message : "", s,
                    tt_last_error());
    assert_int_equal(s, want);
    if (message) assert_non_null(strstr(tt_last_error(), message));
    tt_registry_free(reg);
}

static void test_check_files(void **state)
{
    (void)state;
    copy_fixture("gate/mlp.onnx", "mlp.onnx");
    copy_fixture("gate/mlp.int8.onnx", "mlp.int8.onnx");
    char sha[65], sha8[65];
    sha_of("mlp.onnx", sha);
    sha_of("mlp.int8.onnx", sha8);
    tt_registry reg;

    TT_ASSERT_OK(registry_for("qat", sha, sha8, 13, NULL, &reg));
    expect_files(&reg, TT_OK, NULL);
    TT_ASSERT_OK(registry_for("fp32", sha, NULL, 13, NULL, &reg));
    expect_files(&reg, TT_OK, NULL);

    /* Bad hash: the file's and the registry's digest are both in the message. */
    TT_ASSERT_OK(registry_for("qat", SHA_A, sha8, 13, NULL, &reg));
    expect_files(&reg, TT_ERR_FORMAT, "sha256 mismatch");
    TT_ASSERT_OK(registry_for("qat", sha, SHA_B, 13, NULL, &reg));
    expect_files(&reg, TT_ERR_FORMAT, "registry's int8_sha256 is " SHA_B);
    TT_ASSERT_OK(registry_for("qat", sha, sha8, 17, NULL, &reg));
    expect_files(&reg, TT_ERR_FORMAT, "declares opset 13 but the registry says 17");

    /* Static: the calibration set must be there. */
    TT_ASSERT_OK(
        registry_for("static", sha, sha8, 13, ", \"quant_calibration_set\": \"c.npz\"", &reg));
    expect_files(&reg, TT_ERR_IO, "c.npz does not exist");
    copy_fixture("gate/mlp.onnx", "c.npz");
    TT_ASSERT_OK(
        registry_for("static", sha, sha8, 13, ", \"quant_calibration_set\": \"c.npz\"", &reg));
    expect_files(&reg, TT_OK, NULL);

    /* Missing files: the int8 sibling, then the model itself. */
    char p[256];
    snprintf(p, sizeof p, "%s/mlp.int8.onnx", tmpdir);
    unlink(p);
    TT_ASSERT_OK(registry_for("qat", sha, sha8, 13, NULL, &reg));
    expect_files(&reg, TT_ERR_IO, "mlp.int8.onnx does not exist");
    TT_ASSERT_OK(registry_for("fp32", sha, NULL, 13, NULL, &reg));
    expect_files(&reg, TT_OK, NULL); /* fp32 has no int8 sibling to miss */
    snprintf(p, sizeof p, "%s/mlp.onnx", tmpdir);
    unlink(p);
    TT_ASSERT_OK(registry_for("fp32", sha, NULL, 13, NULL, &reg));
    expect_files(&reg, TT_ERR_IO, "models[0] (id 'mlp'): onnx");
}

/* Gate data: present, the registered file, and what the gate can read at its default 16
 * samples against the model's input [N, 4] (tests/fixtures/gate/data). */
static void expect_gate_data(const char *fixture, const char *sha_or_null, tt_status want,
                             const char *message)
{
    char rel[128], sha[65], sha32[65], sha8[65], extra[256];
    snprintf(rel, sizeof rel, "gate/data/%s", fixture);
    copy_fixture(rel, "g.npz");
    sha_of("g.npz", sha);
    sha_of("mlp.onnx", sha32);
    sha_of("mlp.int8.onnx", sha8);
    snprintf(extra, sizeof extra, ", \"gate_data\": \"g.npz\", \"gate_data_sha256\": \"%s\"",
             sha_or_null ? sha_or_null : sha);
    tt_registry reg;
    TT_ASSERT_OK(registry_for("qat", sha32, sha8, 13, extra, &reg));
    expect_files(&reg, want, message);
}

static void test_check_gate_data(void **state)
{
    (void)state;
    copy_fixture("gate/mlp.onnx", "mlp.onnx");
    copy_fixture("gate/mlp.int8.onnx", "mlp.int8.onnx");
    expect_gate_data("mlp_good.npz", NULL, TT_OK, NULL);
    expect_gate_data("mlp_one.npz", NULL, TT_OK, NULL); /* the only array, whatever its name */
    expect_gate_data("mlp_good.npz", SHA_A, TT_ERR_FORMAT,
                     "models[0] (id 'mlp'): gate_data: sha256 mismatch");
    expect_gate_data("mlp_noname.npz", NULL, TT_ERR_FORMAT, "has no array named 'input'");
    /* The entry's label, then the reader's message. */
    expect_gate_data("mlp_shape.npz", NULL, TT_ERR_SHAPE, "models[0] (id 'mlp'): gate_data: ");
    expect_gate_data("mlp_shape.npz", NULL, TT_ERR_SHAPE,
                     "array 'input' has shape [16, 5]; the model input 'input' takes [N, 4]");
    expect_gate_data("mlp_dtype.npz", NULL, TT_ERR_UNSUPPORTED, "array 'input' has dtype int32");
    expect_gate_data("mlp_few.npz", NULL, TT_ERR_INVALID_ARG,
                     "holds 8 samples but the gate asks for 16");
    expect_gate_data("mlp_nan.npz", NULL, TT_ERR_NUMERIC, "sample 5 has NaN");
    char p[256];
    snprintf(p, sizeof p, "%s/g.npz", tmpdir);
    unlink(p);
    char sha32[65], sha8[65];
    sha_of("mlp.onnx", sha32);
    sha_of("mlp.int8.onnx", sha8);
    tt_registry reg;
    TT_ASSERT_OK(registry_for("qat", sha32, sha8, 13,
                              ", \"gate_data\": \"g.npz\", \"gate_data_sha256\": \"" SHA_A "\"",
                              &reg));
    expect_files(&reg, TT_ERR_IO, "models[0] (id 'mlp'): gate_data: ");
    TT_ASSERT_OK(registry_for("qat", sha32, sha8, 13,
                              ", \"gate_data\": \"g.npz\", \"gate_data_sha256\": \"" SHA_A "\"",
                              &reg));
    expect_files(&reg, TT_ERR_IO, "g.npz does not exist");
    /* The next test links mlp.onnx out of the directory. */
    snprintf(p, sizeof p, "%s/mlp.onnx", tmpdir);
    unlink(p);
    snprintf(p, sizeof p, "%s/mlp.int8.onnx", tmpdir);
    unlink(p);
}

/* A symbolic link inside the directory that points out of it is refused: the path rule alone
 * cannot see it. */
static void test_symlink_escape(void **state)
{
    (void)state;
    char outside[128], link[256];
    snprintf(outside, sizeof outside, "%s_outside.onnx", tmpdir);
    char src[512];
    size_t len;
    char *data = tt_test_read_file(tt_test_fixture("gate/mlp.onnx", src, sizeof src), &len);
    tt_test_write_file(outside, data, len);
    free(data);
    snprintf(link, sizeof link, "%s/mlp.onnx", tmpdir);
    assert_int_equal(symlink(outside, link), 0);
    char sha[65];
    TT_ASSERT_OK(tt_registry_file_sha256(outside, sha));
    tt_registry reg;
    TT_ASSERT_OK(registry_for("fp32", sha, NULL, 13, NULL, &reg));
    expect_files(&reg, TT_ERR_INVALID_ARG, "outside the registry's directory");
    unlink(link);
    unlink(outside);
}

/* ---- writing ---- */

static tt_registry_entry make_entry(const char *id, tt_quant_mode mode)
{
    tt_registry_entry e;
    memset(&e, 0, sizeof e);
    snprintf(e.id, sizeof e.id, "%s", id);
    snprintf(e.onnx, sizeof e.onnx, "%s.onnx", id);
    memcpy(e.sha256, SHA_A, 65);
    if (mode != TT_QUANT_FP32) memcpy(e.int8_sha256, SHA_B, 65);
    e.opset = 13;
    e.quant_mode = mode;
    return e;
}

static void test_insert_sorted(void **state)
{
    (void)state;
    tt_registry reg;
    TT_ASSERT_OK(parse_text("{\"schema_version\": 1, \"models\": []}", &reg));
    const char *ids[] = {"mlp", "cnn", "zeta", "a-b"};
    for (int i = 0; i < 4; i++) {
        tt_registry_entry e = make_entry(ids[i], i % 2 ? TT_QUANT_QAT : TT_QUANT_FP32);
        TT_ASSERT_OK(tt_registry_insert(&reg, &e, false));
    }
    assert_int_equal(reg.n, 4);
    assert_string_equal(reg.models[0].id, "a-b");
    assert_string_equal(reg.models[1].id, "cnn");
    assert_string_equal(reg.models[2].id, "mlp");
    assert_string_equal(reg.models[3].id, "zeta");
    /* A duplicate is refused unless replace. */
    tt_registry_entry e = make_entry("cnn", TT_QUANT_DYNAMIC);
    assert_int_equal(tt_registry_insert(&reg, &e, false), TT_ERR_INVALID_ARG);
    assert_non_null(strstr(tt_last_error(), "id 'cnn' is already registered"));
    TT_ASSERT_OK(tt_registry_insert(&reg, &e, true));
    assert_int_equal(reg.n, 4);
    assert_int_equal(tt_registry_find(&reg, "cnn")->quant_mode, TT_QUANT_DYNAMIC);
    /* An entry built in C keeps the file's rules. */
    e = make_entry("Bad", TT_QUANT_FP32);
    assert_int_equal(tt_registry_insert(&reg, &e, false), TT_ERR_FORMAT);
    assert_non_null(strstr(tt_last_error(), "must match ^[a-z0-9]"));
    e = make_entry("st", TT_QUANT_STATIC);
    assert_int_equal(tt_registry_insert(&reg, &e, false), TT_ERR_FORMAT);
    assert_non_null(strstr(tt_last_error(), "needs quant_calibration_set"));
    e = make_entry("q", TT_QUANT_QAT);
    e.int8_sha256[0] = '\0';
    assert_int_equal(tt_registry_insert(&reg, &e, false), TT_ERR_FORMAT);
    assert_non_null(strstr(tt_last_error(), "needs int8_sha256"));
    e = make_entry("up", TT_QUANT_FP32);
    snprintf(e.onnx, sizeof e.onnx, "../up.onnx");
    assert_int_equal(tt_registry_insert(&reg, &e, false), TT_ERR_FORMAT);
    /* gate_data: with its hash, an .npz, never for fp32. */
    e = make_entry("g", TT_QUANT_QAT);
    snprintf(e.gate_data, sizeof e.gate_data, "g.npz");
    assert_int_equal(tt_registry_insert(&reg, &e, false), TT_ERR_FORMAT);
    assert_non_null(strstr(tt_last_error(), "is given without gate_data_sha256"));
    memcpy(e.gate_data_sha256, SHA_A, 65);
    snprintf(e.gate_data, sizeof e.gate_data, "g.h5");
    assert_int_equal(tt_registry_insert(&reg, &e, false), TT_ERR_FORMAT);
    assert_non_null(strstr(tt_last_error(), "'g.h5' must be an .npz file"));
    e = make_entry("g", TT_QUANT_FP32);
    snprintf(e.gate_data, sizeof e.gate_data, "g.npz");
    memcpy(e.gate_data_sha256, SHA_A, 65);
    assert_int_equal(tt_registry_insert(&reg, &e, false), TT_ERR_FORMAT);
    assert_non_null(strstr(tt_last_error(), "gate_data: given for quant_mode 'fp32'"));
    assert_int_equal(reg.n, 4);

    /* Saved and read back: the same registry. */
    char path[128];
    snprintf(path, sizeof path, "%s/saved.json", tmpdir);
    TT_ASSERT_OK(tt_registry_save(&reg, path));
    tt_registry back;
    TT_ASSERT_OK(tt_registry_load(path, &back));
    assert_int_equal(back.n, 4);
    for (int i = 0; i < 4; i++) {
        assert_string_equal(back.models[i].id, reg.models[i].id);
        assert_int_equal(back.models[i].quant_mode, reg.models[i].quant_mode);
        assert_string_equal(back.models[i].sha256, reg.models[i].sha256);
    }
    tt_registry_free(&back);
    tt_registry_free(&reg);
}

/* The writer's layout is Python's json.dumps(indent=2, sort_keys=True, ensure_ascii=False):
 * scripts/gen_gate_fixtures.py wrote good_full.json and gen_gate_data.py good_gate_data.json that
 * way, and a load + save gives the same bytes (unicode notes, a fractional budget, "$schema",
 * nested paths, gate_data and its hash). */
static void test_layout_matches_python(void **state)
{
    (void)state;
    const char *cases[] = {"good_full", "good_gate_data"};
    for (int i = 0; i < 2; i++) {
        char rel[128], path[512];
        snprintf(rel, sizeof rel, "gate/registry_cases/%s.json", cases[i]);
        tt_test_fixture(rel, path, sizeof path);
        size_t len;
        char *want = tt_test_read_file(path, &len);
        tt_registry reg;
        TT_ASSERT_OK(tt_registry_load(path, &reg));
        char *got = NULL;
        TT_ASSERT_OK(tt_registry_to_json(&reg, &got));
        if (strcmp(got, want)) print_error("got:\n%s\nwant:\n%s\n", got, want);
        assert_string_equal(got, want);
        free(got);
        tt_registry_free(&reg);
        free(want);
    }
}

static void test_names(void **state)
{
    (void)state;
    tt_quant_mode m;
    tt_model_kind k;
    assert_true(tt_quant_mode_parse("static", &m));
    assert_int_equal(m, TT_QUANT_STATIC);
    assert_false(tt_quant_mode_parse("int8", &m));
    assert_true(tt_model_kind_parse("filter", &k));
    assert_false(tt_model_kind_parse("fr", &k));
    assert_string_equal(tt_quant_mode_name(TT_QUANT_QAT), "qat");
    assert_string_equal(tt_model_kind_name(TT_KIND_CLASSIFIER), "classifier");
    char buf[64];
    TT_ASSERT_OK(tt_registry_int8_sibling("a/b.onnx", buf, sizeof buf));
    assert_string_equal(buf, "a/b.int8.onnx");
    assert_int_equal(tt_registry_int8_sibling("a/b.txt", buf, sizeof buf), TT_ERR_INVALID_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_cases),
        cmocka_unit_test(test_every_case_listed),
        cmocka_unit_test(test_values_and_defaults),
        cmocka_unit_test(test_malformed_json),
        cmocka_unit_test(test_unreadable),
        cmocka_unit_test(test_check_files),
        cmocka_unit_test(test_check_gate_data),
        cmocka_unit_test(test_symlink_escape),
        cmocka_unit_test(test_insert_sorted),
        cmocka_unit_test(test_layout_matches_python),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, tt_test_tmpdir_teardown);
}
