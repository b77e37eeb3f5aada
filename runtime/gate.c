/* tinytrain gate: an int8 model against its fp32 baseline on seeded inputs or samples from a
 * file, run on tinytrain's runtime (tinytrain/gate.h, docs/gate.md); the arithmetic is in
 * gate_metrics.c, the file's samples in gate_data.c. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "autograd/internal.h"
#include "data/clock.h"
#include "data/sha256.h"
#include "tinytrain/gate.h"
#include "tinytrain/npy.h"

/* snprintf into buf; a message or path longer than buf is cut, which is acceptable for both. */
static void TT_PRINTF(3, 4) fmt(char *buf, size_t len, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, len, f, ap);
    va_end(ap);
}

/* ---- running both models ---- */

typedef struct gate_run {
    tt_runtime *fp32, *int8;
    char input_name[TT_NAME_MAX]; /* the fp32 model's first input: the array a file names */
    tt_shape sample, out_sample;
    float *x, *y_fp32, *y_int8;
    int64_t in_per, out_per; /* values per sample */
} gate_run;

static void run_free(gate_run *r)
{
    tt_runtime_free(r->fp32);
    tt_runtime_free(r->int8);
    free(r->x);
    free(r->y_fp32);
    free(r->y_int8);
}

static tt_status load(const char *path, const char *which, const tt_gate_opts *o, tt_runtime **rt,
                      char *input_name)
{
    tt_runtime_opts ro = {.mode = o->mode, .backend = o->backend};
    tt_model *m = NULL;
    tt_status s = tt_onnx_import(path, NULL, &m);
    if (s == TT_OK) {
        snprintf(input_name, TT_NAME_MAX, "%s", m->graph->values[m->input_id].name);
        s = tt_runtime_create(m, &ro, rt);
    }
    if (s == TT_OK) return TT_OK;
    char why[1024];
    fmt(why, sizeof why, "%s", tt_last_error());
    /* The importer's message names the file. */
    if (strstr(why, path)) return tt_fail(TT_ERR_FORMAT, "%s model: %s", which, why);
    return tt_fail(TT_ERR_FORMAT, "%s model %s: %s", which, path, why);
}

static tt_status same_io(const gate_run *r, const char *fp32, const char *int8)
{
    const tt_shape *a = tt_runtime_input_shape(r->fp32), *b = tt_runtime_input_shape(r->int8);
    const tt_shape *oa = tt_runtime_output_shape(r->fp32), *ob = tt_runtime_output_shape(r->int8);
    if (tt_shape_equal(a, b) && tt_shape_equal(oa, ob)) return TT_OK;
    char sa[64], sb[64], soa[64], sob[64];
    return tt_fail(TT_ERR_SHAPE,
                   "the models do not match: %s maps %s -> %s but %s maps %s -> %s "
                   "(-1: symbolic batch)",
                   fp32, tt_shape_str(a, sa, sizeof sa), tt_shape_str(oa, soa, sizeof soa), int8,
                   tt_shape_str(b, sb, sizeof sb), tt_shape_str(ob, sob, sizeof sob));
}

/* One run per sample (batch = the sample's dim 0), as the seed's gate and an ORT harness do. */
static tt_status run_samples(gate_run *r, int64_t n)
{
    int64_t rows = r->sample.dims[0];
    for (int64_t s = 0; s < n; s++) {
        const float *x = r->x + s * r->in_per;
        TT_CHECK(tt_runtime_run(r->fp32, x, rows, r->y_fp32 + s * r->out_per));
        TT_CHECK(tt_runtime_run(r->int8, x, rows, r->y_int8 + s * r->out_per));
    }
    return TT_OK;
}

/* The samples: drawn, or read from the row's data file. */
static tt_status inputs(gate_run *r, const tt_gate_opts *o, int64_t n, tt_gate_row *row)
{
    const tt_shape *in = tt_runtime_input_shape(r->fp32);
    if (!row->data_path[0]) return tt_gate_inputs(in, n, o->seed, &r->sample, &r->x);
    return tt_gate_data_inputs(row->data_path, r->input_name, in, n, &r->sample, &r->x,
                               row->data_array, sizeof row->data_array);
}

static tt_status prepare(gate_run *r, const char *fp32, const char *int8, const tt_gate_opts *o,
                         int64_t n, tt_gate_row *row)
{
    char unused[TT_NAME_MAX];
    TT_CHECK(load(fp32, "fp32", o, &r->fp32, r->input_name));
    TT_CHECK(load(int8, "int8", o, &r->int8, unused));
    TT_CHECK(same_io(r, fp32, int8));
    TT_CHECK(inputs(r, o, n, row));
    int64_t rows = r->sample.dims[0];
    r->in_per = tt_shape_numel(&r->sample);
    r->out_sample = *tt_runtime_output_shape(r->fp32);
    r->out_sample.dims[0] = rows;
    r->out_per = rows * tt_runtime_output_size(r->fp32);
    if (r->in_per != rows * tt_runtime_input_size(r->fp32))
        return tt_fail(TT_ERR_SHAPE, "%s: input shape and input size disagree", fp32);
    size_t bytes = (size_t)(r->out_per * n) * sizeof(float);
    r->y_fp32 = malloc(bytes);
    r->y_int8 = malloc(bytes);
    if (!r->y_fp32 || !r->y_int8) return tt_fail(TT_ERR_NOMEM, "gate: out of memory");
    return TT_OK;
}

static tt_status mkdir_one(const char *dir)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return tt_fail(TT_ERR_IO, "%s: cannot create the --dump-inputs directory (%s)", dir,
                       strerror(errno));
    return TT_OK;
}

static tt_status save_npy(const char *dir, const char *name, const tt_shape *shape, float *data)
{
    char path[PATH_MAX];
    fmt(path, sizeof path, "%s/%s", dir, name);
    tt_tensor t = {.dtype = TT_F32, .shape = *shape, .data = data};
    return tt_npy_save(path, &t);
}

/* <dump_dir>/<id>/input_NN.npy (one per sample, in the model's input shape), fp32_output.npy
 * and int8_output.npy (all samples' outputs stacked along dim 0). */
static tt_status dump(const gate_run *r, const char *root, const char *id, int64_t n)
{
    char dir[PATH_MAX];
    if (strlen(root) + strlen(id) + 32 >= sizeof dir)
        return tt_fail(TT_ERR_INVALID_ARG, "%s: --dump-inputs path too long", root);
    fmt(dir, sizeof dir, "%s/%s", root, id);
    TT_CHECK(mkdir_one(root));
    TT_CHECK(mkdir_one(dir));
    for (int64_t s = 0; s < n; s++) {
        char name[32];
        snprintf(name, sizeof name, "input_%02lld.npy", (long long)s);
        TT_CHECK(save_npy(dir, name, &r->sample, r->x + s * r->in_per));
    }
    tt_shape out = r->out_sample;
    out.dims[0] *= n;
    TT_CHECK(save_npy(dir, "fp32_output.npy", &out, r->y_fp32));
    return save_npy(dir, "int8_output.npy", &out, r->y_int8);
}

static void set_message(tt_gate_row *row, tt_gate_status st, const char *msg)
{
    row->status = st;
    fmt(row->message, sizeof row->message, "%s", msg);
}

static void describe_failure(tt_gate_row *row)
{
    const tt_gate_metrics *m = &row->m;
    switch (row->verdict) {
    case TT_GATE_OVER_BUDGET:
        snprintf(row->message, sizeof row->message, "drop %.6f is over the budget %.4f", m->drop,
                 row->budget);
        break;
    case TT_GATE_CONSTANT:
        snprintf(row->message, sizeof row->message,
                 "constant output: fp32 std %.3g, int8 std %.3g (below %g), so PLCC is "
                 "undefined, and the outputs are not identical",
                 m->std_fp32, m->std_int8, TT_GATE_CONSTANT_STD);
        break;
    case TT_GATE_NONFINITE:
        snprintf(row->message, sizeof row->message,
                 "non-finite output: fp32 has %lld NaN/inf values and int8 %lld, of %lld",
                 (long long)m->nonfinite_fp32, (long long)m->nonfinite_int8, (long long)m->n);
        break;
    case TT_GATE_PASS_CONSTANT:
        snprintf(row->message, sizeof row->message,
                 "constant output, identical in fp32 and int8 (%.6g)", m->mean_fp32);
        break;
    default:
        row->message[0] = '\0';
    }
}

/* Load, run, compare and judge; row->status ERROR with the reason when it cannot run. */
static void measure(const char *fp32, const char *int8, const tt_gate_opts *o, tt_gate_row *row)
{
    int64_t n = o->samples > 0 ? o->samples : TT_GATE_SAMPLES_DEFAULT;
    row->samples = n;
    gate_run r = {0};
    tt_status s = prepare(&r, fp32, int8, o, n, row);
    if (s == TT_OK) {
        /* both executors were created on the same backend; name the device they got */
        fmt(row->backend, sizeof row->backend, "%s", tt_runtime_backend(r.int8));
        double t0 = tt_clock_s();
        s = run_samples(&r, n);
        row->run_s = tt_clock_s() - t0;
    }
    if (s == TT_OK)
        s = tt_sha256_hex(r.x, (size_t)(r.in_per * n) * sizeof(float), row->inputs_sha256);
    if (s == TT_OK && o->dump_dir) s = dump(&r, o->dump_dir, row->id, n);
    if (s != TT_OK) {
        set_message(row, TT_GATE_ST_ERROR, tt_last_error());
        run_free(&r);
        return;
    }
    tt_shape_str(&r.sample, row->sample_shape, sizeof row->sample_shape);
    tt_gate_compare(r.y_fp32, r.y_int8, r.out_per * n, &row->m);
    row->measured = true;
    row->verdict = tt_gate_judge(&row->m, row->budget);
    row->status = tt_gate_verdict_ok(row->verdict) ? TT_GATE_ST_PASS : TT_GATE_ST_FAIL;
    describe_failure(row);
    run_free(&r);
}

/* ---- one registry entry, one pair ---- */

/* Where a file is: its resolved path if it exists, else the path as given. */
static bool locate(const char *path, char *out, size_t len)
{
    char real[PATH_MAX];
    bool ok = realpath(path, real) != NULL;
    fmt(out, len, "%s", ok ? real : path);
    return ok;
}

static void missing_message(tt_gate_row *row, const char *fp32_shown, const char *int8_shown)
{
    char msg[sizeof row->message];
    if (!row->fp32_exists && !row->int8_exists)
        fmt(msg, sizeof msg, "missing fp32 model %s and int8 model %s", fp32_shown, int8_shown);
    else if (!row->fp32_exists)
        fmt(msg, sizeof msg, "missing fp32 model %s", fp32_shown);
    else
        fmt(msg, sizeof msg,
            "missing int8 model %s (a quantised entry is gated on its int8 file, never on "
            "the fp32 one)",
            int8_shown);
    set_message(row, TT_GATE_ST_MISSING_MODEL, msg);
}

static bool hash_ok(tt_gate_row *row, const char *path, const char *want, char got[65],
                    const char *field)
{
    if (tt_registry_file_sha256(path, got) != TT_OK) {
        set_message(row, TT_GATE_ST_ERROR, tt_last_error());
        return false;
    }
    if (!want || !strcmp(got, want)) return true;
    char msg[sizeof row->message];
    fmt(msg, sizeof msg,
        "sha256 mismatch: %s hashes to %.12s... but the registry's %s is %.12s...; not "
        "run (re-register a deliberately replaced file with tinytrain registry add "
        "--replace)",
        path, got, field, want);
    set_message(row, TT_GATE_ST_ERROR, msg);
    return false;
}

/* The file the row's samples come from: --data for every model, else the entry's gate_data (no
 * entry for a pair); none means drawn samples. False (the row done, an error) when the file is
 * missing or is not the one the registry hashed. */
static bool data_file(const tt_registry *reg, const tt_registry_entry *e, const tt_gate_opts *o,
                      tt_gate_row *row)
{
    char msg[sizeof row->message];
    if (o->data) {
        if (!locate(o->data, row->data_path, sizeof row->data_path)) {
            fmt(msg, sizeof msg, "missing gate data %s (--data): no such file", o->data);
            set_message(row, TT_GATE_ST_ERROR, msg);
            return false;
        }
        return hash_ok(row, row->data_path, NULL, row->data_sha256, NULL);
    }
    if (!e || o->synthetic || !e->gate_data[0]) return true;
    tt_status s = tt_registry_resolve(reg, e->gate_data, row->data_path, sizeof row->data_path);
    if (s == TT_ERR_IO) {
        fmt(row->data_path, sizeof row->data_path, "%s/%s", reg->dir, e->gate_data);
        fmt(msg, sizeof msg,
            "missing gate data %s (the entry's gate_data; restore it, or gate on drawn samples "
            "with --synthetic)",
            row->data_path);
        set_message(row, TT_GATE_ST_ERROR, msg);
        return false;
    }
    if (s != TT_OK) {
        set_message(row, TT_GATE_ST_ERROR, tt_last_error());
        return false;
    }
    return hash_ok(row, row->data_path, e->gate_data_sha256, row->data_sha256, "gate_data_sha256");
}

static void row_init(tt_gate_row *row, const char *id, const char *mode, double budget,
                     const tt_gate_opts *o)
{
    memset(row, 0, sizeof *row);
    snprintf(row->id, sizeof row->id, "%s", id);
    snprintf(row->mode, sizeof row->mode, "%s", mode);
    row->budget = budget;
    row->samples = o->samples > 0 ? o->samples : TT_GATE_SAMPLES_DEFAULT;
    snprintf(row->backend, sizeof row->backend, "%s", o->backend ? o->backend : "cpu");
    row->m.plcc = row->m.drop = row->m.worst_abs = NAN;
}

/* The registry's files for e: *_path absolute, *_exists set; false (row done) on an escape. */
static bool entry_files(const tt_registry *reg, const tt_registry_entry *e, tt_gate_row *row,
                        char *fp32_shown, char *int8_shown, size_t len)
{
    char rel8[TT_REGISTRY_PATH_MAX + 16];
    tt_registry_model_path(reg, e, false, fp32_shown, len);
    tt_registry_model_path(reg, e, true, int8_shown, len);
    tt_registry_int8_sibling(e->onnx, rel8, sizeof rel8);
    const char *rels[2] = {e->onnx, rel8};
    char *paths[2] = {row->fp32_path, row->int8_path};
    bool *exists[2] = {&row->fp32_exists, &row->int8_exists};
    const char *shown[2] = {fp32_shown, int8_shown};
    for (int k = 0; k < 2; k++) {
        tt_status s = tt_registry_resolve(reg, rels[k], paths[k], sizeof row->fp32_path);
        *exists[k] = s == TT_OK;
        if (s == TT_ERR_IO) fmt(paths[k], sizeof row->fp32_path, "%s", shown[k]);
        if (s != TT_OK && s != TT_ERR_IO) {
            set_message(row, TT_GATE_ST_ERROR, tt_last_error());
            return false;
        }
    }
    return true;
}

tt_status tt_gate_entry(const tt_registry *reg, const tt_registry_entry *e, const tt_gate_opts *o,
                        tt_gate_row *row)
{
    TT_CHECK_NULL(reg, "tt_gate_entry");
    TT_CHECK_NULL(e, "tt_gate_entry");
    TT_CHECK_NULL(o, "tt_gate_entry");
    TT_CHECK_NULL(row, "tt_gate_entry");
    row_init(row, e->id, tt_quant_mode_name(e->quant_mode), e->budget, o);
    if (e->quant_mode == TT_QUANT_FP32) {
        set_message(row, TT_GATE_ST_SKIPPED_FP32, "quant_mode=fp32, no quantised model to gate");
        tt_registry_model_path(reg, e, false, row->fp32_path, sizeof row->fp32_path);
        return TT_OK;
    }
    char fp32_shown[PATH_MAX], int8_shown[PATH_MAX];
    if (!entry_files(reg, e, row, fp32_shown, int8_shown, sizeof fp32_shown)) return TT_OK;
    if (!row->fp32_exists || !row->int8_exists) {
        missing_message(row, fp32_shown, int8_shown);
        return TT_OK;
    }
    if (!hash_ok(row, row->fp32_path, e->sha256, row->fp32_sha256, "sha256") ||
        !hash_ok(row, row->int8_path, e->int8_sha256, row->int8_sha256, "int8_sha256") ||
        !data_file(reg, e, o, row))
        return TT_OK;
    measure(row->fp32_path, row->int8_path, o, row);
    return TT_OK;
}

tt_status tt_gate_pair(const char *fp32, const char *int8, const char *id, double budget,
                       const tt_gate_opts *o, tt_gate_row *row)
{
    TT_CHECK_NULL(fp32, "tt_gate_pair");
    TT_CHECK_NULL(int8, "tt_gate_pair");
    TT_CHECK_NULL(o, "tt_gate_pair");
    TT_CHECK_NULL(row, "tt_gate_pair");
    char stem[TT_REGISTRY_ID_MAX + 1];
    if (!id) {
        const char *base = strrchr(fp32, '/') ? strrchr(fp32, '/') + 1 : fp32;
        size_t n = strlen(base);
        if (n > 5 && !strcmp(base + n - 5, ".onnx")) n -= 5;
        snprintf(stem, sizeof stem, "%.*s", (int)n, base);
        id = stem;
    }
    if (strlen(id) > TT_REGISTRY_ID_MAX || !id[0] || strchr(id, '/') || !strcmp(id, ".") ||
        !strcmp(id, ".."))
        return tt_fail(TT_ERR_INVALID_ARG,
                       "gate: id '%s' must be 1 to %d characters with no '/', and not '.' or "
                       "'..' (it names the --dump-inputs subdirectory)",
                       id, TT_REGISTRY_ID_MAX);
    if (!(budget >= 0 && budget <= 1))
        return tt_fail(TT_ERR_INVALID_ARG, "gate: budget %g is outside 0 .. 1", budget);
    row_init(row, id, "override", budget, o);
    row->fp32_exists = locate(fp32, row->fp32_path, sizeof row->fp32_path);
    row->int8_exists = locate(int8, row->int8_path, sizeof row->int8_path);
    if (!row->fp32_exists || !row->int8_exists) {
        missing_message(row, fp32, int8);
        return TT_OK;
    }
    if (!hash_ok(row, row->fp32_path, NULL, row->fp32_sha256, NULL) ||
        !hash_ok(row, row->int8_path, NULL, row->int8_sha256, NULL) ||
        !data_file(NULL, NULL, o, row))
        return TT_OK;
    measure(row->fp32_path, row->int8_path, o, row);
    return TT_OK;
}
