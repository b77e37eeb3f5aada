/* The gate's reports (tinytrain/gate.h): a Markdown table and a JSON file with the rows and a
 * run_provenance block with the keys every report shares (data/provenance.h: tool, command,
 * version, git_revision, argv, host, threads, finished_utc, wall_time_s), plus the inputs and
 * outputs with their SHA-256, the backend and the seeded inputs' generator. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "autograd/internal.h"
#include "data/provenance.h"
#include "runtime/registry_internal.h"
#include "tinytrain/gate.h"
#include "tinytrain/registry.h"
#include "tinytrain/tinytrain.h"

#define GENERATOR "tinytrain PCG32 (tt_rng_seed(seed, 0), tt_rng_uniform), not numpy default_rng"

static void add_num(cJSON *o, const char *k, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k); /* JSON has no NaN */
}

static void count(const tt_gate_row *rows, int n, int *pass, int *fail, int *skip)
{
    *pass = *fail = *skip = 0;
    for (int i = 0; i < n; i++) {
        if (rows[i].status == TT_GATE_ST_PASS)
            ++*pass;
        else if (rows[i].status == TT_GATE_ST_SKIPPED_FP32 ||
                 rows[i].status == TT_GATE_ST_UNAVAILABLE)
            ++*skip;
        else
            ++*fail;
    }
}

static const char *mode_name(const tt_gate_run *run)
{
    return run->opts && run->opts->mode == TT_RT_FLOAT ? "float" : "int8";
}

/* ---- Markdown ---- */

static void md_cell(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputs("\\|", f);
        else if (*s == '\n')
            fputc(' ', f);
        else
            fputc(*s, f);
    }
}

static void md_num(FILE *f, double v, const char *fmt)
{
    if (isfinite(v))
        fprintf(f, fmt, v);
    else
        fputs("n/a", f);
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* A row says where its samples came from once they were chosen: measured, or stopped at its
 * data file. One stopped earlier (a missing or altered model) never got that far. */
static bool inputs_known(const tt_gate_row *r)
{
    return r->measured || r->data_path[0];
}

/* Where the row's samples came from: the generator, or a file (name, array, hash prefix). */
static void md_inputs(FILE *f, const tt_gate_row *r, const tt_gate_opts *o)
{
    if (!inputs_known(r)) return;
    if (!r->data_path[0]) {
        fprintf(f, "drawn, seed %llu", (unsigned long long)(o ? o->seed : 0));
        return;
    }
    md_cell(f, base_name(r->data_path));
    if (r->data_array[0]) {
        fputs(" '", f);
        md_cell(f, r->data_array);
        fputc('\'', f);
    }
    if (r->data_sha256[0]) fprintf(f, " (sha256 %.12s...)", r->data_sha256);
}

static void md_row(FILE *f, const tt_gate_row *r, const tt_gate_opts *o)
{
    fputs("| ", f);
    md_cell(f, r->id);
    fputs(" | ", f);
    md_cell(f, r->backend);
    fprintf(f, " | %s | %s | ", r->mode, tt_gate_status_name(r->status));
    md_num(f, r->m.plcc, "%.6f");
    fputs(" | ", f);
    md_num(f, r->m.drop, "%.6f");
    fputs(" | ", f);
    md_num(f, r->status == TT_GATE_ST_SKIPPED_FP32 ? NAN : r->budget, "%.4f");
    fputs(" | ", f);
    md_num(f, r->m.worst_abs, "%.4f");
    fputs(" | ", f);
    md_num(f, r->measured ? r->run_s : NAN, "%.3f");
    fputs(" | ", f);
    md_inputs(f, r, o);
    fputs(" | ", f);
    md_cell(f, r->message);
    fputs(" |\n", f);
}

tt_status tt_gate_write_md(const char *path, const tt_gate_row *rows, int n, const tt_gate_run *run)
{
    TT_CHECK_NULL(path, "tt_gate_write_md");
    TT_CHECK_NULL(run, "tt_gate_write_md");
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return tt_fail(TT_ERR_NOMEM, "%s: out of memory", path);
    int pass, fail, skip;
    count(rows, n, &pass, &fail, &skip);
    const tt_gate_opts *o = run->opts;
    fprintf(f, "# tinytrain gate: %s\n\n", tt_gate_all_ok(rows, n) ? "PASS" : "FAIL");
    fprintf(f,
            "%d passed, %d failed, %d skipped. %lld samples per model, from the file the inputs "
            "column names or else drawn (uniform [0, 1), tinytrain PCG32 seeded %llu); runtime "
            "mode %s, backend %s; tinytrain %s (%s).\n\n",
            pass, fail, skip, (long long)(o && o->samples ? o->samples : TT_GATE_SAMPLES_DEFAULT),
            (unsigned long long)(o ? o->seed : 0), mode_name(run),
            run->backend ? run->backend : "cpu", tt_version(), tt_git_revision());
    fputs("| id | backend | mode | status | PLCC | drop | budget | worst_abs | wall s | inputs | "
          "note |\n"
          "|---|---|---|---|---:|---:|---:|---:|---:|---|---|\n",
          f);
    for (int i = 0; i < n; i++) md_row(f, &rows[i], o);
    fclose(f);
    tt_status s = text ? tt_json_write_file(path, text, "Markdown report")
                       : tt_fail(TT_ERR_NOMEM, "%s: out of memory", path);
    free(text);
    return s;
}

/* ---- JSON ---- */

/* {"source": "drawn", "seed", "generator"} or {"source": "file", "path", "sha256", "array"}. */
static cJSON *row_inputs_json(const tt_gate_row *r, const tt_gate_opts *o)
{
    cJSON *in = cJSON_CreateObject();
    if (!r->data_path[0]) {
        cJSON_AddStringToObject(in, "source", "drawn");
        cJSON_AddNumberToObject(in, "seed", (double)(o ? o->seed : 0));
        cJSON_AddStringToObject(in, "generator", GENERATOR);
        return in;
    }
    cJSON_AddStringToObject(in, "source", "file");
    cJSON_AddStringToObject(in, "path", r->data_path);
    if (r->data_sha256[0])
        cJSON_AddStringToObject(in, "sha256", r->data_sha256);
    else
        cJSON_AddNullToObject(in, "sha256");
    if (r->data_array[0])
        cJSON_AddStringToObject(in, "array", r->data_array);
    else
        cJSON_AddNullToObject(in, "array"); /* the file could not be read */
    return in;
}

static cJSON *row_json(const tt_gate_row *r, const tt_gate_opts *opts)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", r->id);
    cJSON_AddStringToObject(o, "quant_mode", r->mode);
    cJSON_AddStringToObject(o, "status", tt_gate_status_name(r->status));
    cJSON_AddStringToObject(o, "backend", r->backend);
    /* ok: the row does not fail the gate (a pass, or an fp32 entry skipped). */
    cJSON_AddBoolToObject(o, "ok", tt_gate_all_ok(r, 1));
    add_num(o, "plcc", r->m.plcc);
    add_num(o, "drop", r->m.drop);
    add_num(o, "budget", r->status == TT_GATE_ST_SKIPPED_FP32 ? NAN : r->budget);
    add_num(o, "worst_abs", r->m.worst_abs);
    cJSON_AddStringToObject(o, "fp32_path", r->fp32_path);
    if (r->status == TT_GATE_ST_SKIPPED_FP32)
        cJSON_AddNullToObject(o, "int8_path");
    else
        cJSON_AddStringToObject(o, "int8_path", r->int8_path);
    if (r->status == TT_GATE_ST_MISSING_MODEL) {
        cJSON_AddBoolToObject(o, "fp32_exists", r->fp32_exists);
        cJSON_AddBoolToObject(o, "int8_exists", r->int8_exists);
    }
    if (r->message[0]) cJSON_AddStringToObject(o, "message", r->message);
    if (inputs_known(r)) cJSON_AddItemToObject(o, "inputs", row_inputs_json(r, opts));
    if (r->measured) {
        cJSON_AddBoolToObject(o, "constant_output",
                              r->verdict == TT_GATE_CONSTANT ||
                                  r->verdict == TT_GATE_PASS_CONSTANT);
        cJSON_AddNumberToObject(o, "nonfinite_fp32", (double)r->m.nonfinite_fp32);
        cJSON_AddNumberToObject(o, "nonfinite_int8", (double)r->m.nonfinite_int8);
        add_num(o, "std_fp32", r->m.std_fp32);
        add_num(o, "std_int8", r->m.std_int8);
        cJSON_AddNumberToObject(o, "values", (double)r->m.n);
        cJSON_AddNumberToObject(o, "samples", (double)r->samples);
        cJSON_AddNumberToObject(o, "run_s", r->run_s);
        cJSON_AddStringToObject(o, "sample_shape", r->sample_shape);
        cJSON_AddStringToObject(o, "inputs_sha256", r->inputs_sha256);
    }
    return o;
}

static cJSON *file_json(const char *path, const char *sha256)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "path", path);
    if (sha256 && sha256[0])
        cJSON_AddStringToObject(o, "sha256", sha256);
    else
        cJSON_AddNullToObject(o, "sha256");
    return o;
}

static cJSON *hashed_file(const char *path)
{
    char hex[65] = "";
    if (tt_registry_file_sha256(path, hex) != TT_OK) hex[0] = '\0';
    return file_json(path, hex);
}

static cJSON *inputs_json(const tt_gate_row *rows, int n, const tt_gate_run *run)
{
    cJSON *in = cJSON_CreateObject();
    if (run->registry) cJSON_AddItemToObject(in, "registry", hashed_file(run->registry));
    cJSON *models = cJSON_AddArrayToObject(in, "models");
    for (int i = 0; i < n; i++) {
        if (rows[i].status == TT_GATE_ST_SKIPPED_FP32) continue;
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "id", rows[i].id);
        cJSON_AddItemToObject(m, "fp32", file_json(rows[i].fp32_path, rows[i].fp32_sha256));
        cJSON_AddItemToObject(m, "int8", file_json(rows[i].int8_path, rows[i].int8_sha256));
        if (rows[i].data_path[0])
            cJSON_AddItemToObject(m, "data", file_json(rows[i].data_path, rows[i].data_sha256));
        cJSON_AddItemToArray(models, m);
    }
    return in;
}

static cJSON *outputs_json(const char *json_path, const tt_gate_run *run)
{
    cJSON *out = cJSON_CreateObject();
    /* The report cannot hold its own hash. */
    cJSON_AddItemToObject(out, "report", file_json(json_path, NULL));
    if (run->out_md) cJSON_AddItemToObject(out, "markdown", hashed_file(run->out_md));
    if (run->dump_dir) cJSON_AddStringToObject(out, "dumped_inputs_dir", run->dump_dir);
    return out;
}

static cJSON *provenance_json(const char *json_path, const tt_gate_row *rows, int n,
                              const tt_gate_run *run)
{
    const tt_gate_opts *o = run->opts;
    cJSON *p = tt_provenance_open("gate", run->argc, run->argv);
    cJSON_AddItemToObject(p, "inputs", inputs_json(rows, n, run));
    cJSON_AddItemToObject(p, "outputs", outputs_json(json_path, run));
    cJSON_AddStringToObject(p, "backend", run->backend ? run->backend : "cpu");
    cJSON_AddStringToObject(p, "runtime_mode", mode_name(run));
    cJSON_AddNumberToObject(p, "samples",
                            (double)(o && o->samples ? o->samples : TT_GATE_SAMPLES_DEFAULT));
    cJSON_AddNumberToObject(p, "seed", (double)(o ? o->seed : 0));
    cJSON_AddStringToObject(p, "generator", GENERATOR);
    if (o && o->data) cJSON_AddStringToObject(p, "data", o->data);
    cJSON_AddBoolToObject(p, "synthetic", o && o->synthetic);
    tt_provenance_add_host(p);
    tt_provenance_add_time(p, "finished_utc", time(NULL), run->wall_s);
    return p;
}

tt_status tt_gate_write_json(const char *path, const tt_gate_row *rows, int n,
                             const tt_gate_run *run)
{
    TT_CHECK_NULL(path, "tt_gate_write_json");
    TT_CHECK_NULL(run, "tt_gate_write_json");
    cJSON *r = cJSON_CreateObject();
    cJSON_AddBoolToObject(r, "gate_pass", tt_gate_all_ok(rows, n));
    cJSON *models = cJSON_AddArrayToObject(r, "models");
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(models, row_json(&rows[i], run->opts));
    cJSON_AddItemToObject(r, "run_provenance", provenance_json(path, rows, n, run));
    return tt_json_write_report(r, path, "gate report");
}
