/* The registry against the disk (files inside its directory, their hashes and opset) and the
 * registry written back in one stable layout (tinytrain/registry.h). */
#define _XOPEN_SOURCE 700 /* realpath */
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "autograd/internal.h"
#include "data/atomic_file.h"
#include "data/dataset_internal.h"
#include "runtime/registry_internal.h"
#include "tinytrain/gate.h"
#include "tinytrain/onnx.h"
#include "tinytrain/registry.h"
#include "tinytrain/runtime.h"

tt_status tt_registry_file_sha256(const char *path, char hex[65])
{
    return tt_sha256_file(path, hex, NULL);
}

tt_status tt_registry_int8_sibling(const char *path, char *buf, size_t len)
{
    size_t n = strlen(path);
    if (n < 5 || strcmp(path + n - 5, ".onnx"))
        return tt_fail(TT_ERR_INVALID_ARG, "%s: not a .onnx path, so it has no .int8.onnx sibling",
                       path);
    if (n + 5 >= len) return tt_fail(TT_ERR_INVALID_ARG, "%s: path too long", path);
    snprintf(buf, len, "%.*s.int8.onnx", (int)(n - 5), path);
    return TT_OK;
}

tt_status tt_registry_model_path(const tt_registry *reg, const tt_registry_entry *e, bool int8,
                                 char *buf, size_t len)
{
    TT_CHECK_NULL(reg, "tt_registry_model_path");
    TT_CHECK_NULL(e, "tt_registry_model_path");
    int n = snprintf(buf, len, "%s/%s", reg->dir, e->onnx);
    if (n < 0 || (size_t)n >= len)
        return tt_fail(TT_ERR_INVALID_ARG, "%s/%s: path too long", reg->dir, e->onnx);
    if (!int8) return TT_OK;
    char fp32[PATH_MAX];
    snprintf(fp32, sizeof fp32, "%s", buf);
    return tt_registry_int8_sibling(fp32, buf, len);
}

/* label names the field in messages ("reg.json: models[0] (id 'x'): onnx"). */
static tt_status resolve(const tt_registry *reg, const char *rel, const char *label, char *buf,
                         size_t len)
{
    char joined[PATH_MAX + 2], real[PATH_MAX];
    int n = snprintf(joined, sizeof joined, "%s/%s", reg->dir, rel);
    if (n < 0 || (size_t)n >= sizeof joined)
        return tt_fail(TT_ERR_INVALID_ARG, "%s: %s/%s: path too long", label, reg->dir, rel);
    if (!realpath(joined, real))
        return tt_fail(TT_ERR_IO, "%s: %s does not exist or cannot be reached (%s)", label, joined,
                       strerror(errno));
    size_t d = strlen(reg->dir);
    bool root = d == 1 && reg->dir[0] == '/';
    if (!root && (strncmp(real, reg->dir, d) || real[d] != '/'))
        return tt_fail(TT_ERR_INVALID_ARG,
                       "%s: %s resolves to %s, outside the registry's directory %s (a symbolic "
                       "link?); registered files must live inside it",
                       label, joined, real, reg->dir);
    if (strlen(real) >= len)
        return tt_fail(TT_ERR_INVALID_ARG, "%s: %s: path too long", label, real);
    memcpy(buf, real, strlen(real) + 1);
    return TT_OK;
}

tt_status tt_registry_resolve(const tt_registry *reg, const char *rel, char *buf, size_t len)
{
    TT_CHECK_NULL(reg, "tt_registry_resolve");
    TT_CHECK_NULL(rel, "tt_registry_resolve");
    return resolve(reg, rel, reg->path, buf, len);
}

static void entry_label(const tt_registry *reg, const tt_registry_entry *e, const char *field,
                        char *buf, size_t len)
{
    long i = (reg->models && e >= reg->models && e < reg->models + reg->n) ? e - reg->models : -1;
    if (i >= 0)
        snprintf(buf, len, "%s: models[%ld] (id '%s'): %s", reg->path, i, e->id, field);
    else
        snprintf(buf, len, "%s: id '%s': %s", reg->path, e->id, field);
}

static tt_status check_hash(const char *label, const char *path, const char *want,
                            const char *field)
{
    char got[65];
    TT_CHECK(tt_sha256_file(path, got, NULL));
    if (strcmp(got, want))
        return tt_fail(TT_ERR_FORMAT,
                       "%s: sha256 mismatch: %s hashes to %s but the registry's %s is %s; if the "
                       "file was replaced on purpose, re-register it (tinytrain registry add "
                       "--replace)",
                       label, path, got, field, want);
    return TT_OK;
}

/* The gate data against the fp32 model at model_path: what the gate would read from it at its
 * default sample count. */
static tt_status check_gate_data(const char *label, const char *data, const char *model_path)
{
    tt_model *m = NULL;
    if (tt_onnx_import(model_path, NULL, &m) != TT_OK) {
        char why[1024];
        snprintf(why, sizeof why, "%s", tt_last_error());
        return tt_fail(TT_ERR_FORMAT, "%s: the model cannot be imported to check its input: %s",
                       label, why);
    }
    const tt_value *in = &m->graph->values[m->input_id];
    tt_shape sample;
    float *x = NULL;
    char array[TT_NAME_MAX];
    tt_status s = tt_gate_data_inputs(data, in->name, &in->shape, TT_GATE_SAMPLES_DEFAULT, &sample,
                                      &x, array, sizeof array);
    free(x);
    tt_model_free(m);
    if (s == TT_OK) return TT_OK;
    char why[1400];
    snprintf(why, sizeof why, "%s", tt_last_error());
    return tt_fail(s, "%s: %s", label, why);
}

tt_status tt_registry_check_files(const tt_registry *reg, const tt_registry_entry *e)
{
    TT_CHECK_NULL(reg, "tt_registry_check_files");
    TT_CHECK_NULL(e, "tt_registry_check_files");
    char label[1400], path[PATH_MAX], model[PATH_MAX];
    entry_label(reg, e, "onnx", label, sizeof label);
    TT_CHECK(resolve(reg, e->onnx, label, model, sizeof model));
    TT_CHECK(check_hash(label, model, e->sha256, "sha256"));
    memcpy(path, model, sizeof path);
    tt_onnx_info info;
    if (tt_onnx_inspect(path, &info) != TT_OK) {
        char why[1024];
        snprintf(why, sizeof why, "%s", tt_last_error());
        return tt_fail(TT_ERR_FORMAT, "%s: not a readable ONNX model: %s", label, why);
    }
    if (info.opset != e->opset)
        return tt_fail(TT_ERR_FORMAT,
                       "%s: the file declares opset %lld but the registry says %d; correct the "
                       "entry's opset",
                       label, (long long)info.opset, e->opset);
    if (e->quant_mode != TT_QUANT_FP32) {
        char rel[TT_REGISTRY_PATH_MAX + 16];
        TT_CHECK(tt_registry_int8_sibling(e->onnx, rel, sizeof rel));
        entry_label(reg, e, "int8 sibling", label, sizeof label);
        TT_CHECK(resolve(reg, rel, label, path, sizeof path));
        TT_CHECK(check_hash(label, path, e->int8_sha256, "int8_sha256"));
    }
    if (e->calibration[0]) {
        entry_label(reg, e, "quant_calibration_set", label, sizeof label);
        TT_CHECK(resolve(reg, e->calibration, label, path, sizeof path));
    }
    if (e->gate_data[0]) {
        entry_label(reg, e, "gate_data", label, sizeof label);
        TT_CHECK(resolve(reg, e->gate_data, label, path, sizeof path));
        TT_CHECK(check_hash(label, path, e->gate_data_sha256, "gate_data_sha256"));
        TT_CHECK(check_gate_data(label, path, model));
    }
    return TT_OK;
}

/* ---- writing: one layout for every JSON file the registry and the gate write ---- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void put(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void puts_(sbuf *b, const char *s)
{
    put(b, s, strlen(s));
}

static void indent(sbuf *b, int level)
{
    put(b, "\n", 1);
    for (int i = 0; i < level; i++) put(b, "  ", 2);
}

static void put_string(sbuf *b, const char *s)
{
    put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        switch (*p) {
        case '"':
            puts_(b, "\\\"");
            break;
        case '\\':
            puts_(b, "\\\\");
            break;
        case '\n':
            puts_(b, "\\n");
            break;
        case '\r':
            puts_(b, "\\r");
            break;
        case '\t':
            puts_(b, "\\t");
            break;
        case '\b':
            puts_(b, "\\b");
            break;
        case '\f':
            puts_(b, "\\f");
            break;
        default:
            if (*p < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", *p);
                puts_(b, esc);
            } else {
                put(b, (const char *)p, 1);
            }
        }
    }
    put(b, "\"", 1);
}

static void put_number(sbuf *b, double v)
{
    char num[40];
    if (!isfinite(v)) {
        puts_(b, "null"); /* JSON has no NaN or infinity */
        return;
    }
    if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        snprintf(num, sizeof num, "%.0f", v);
    } else {
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(num, sizeof num, "%.*g", prec, v);
            if (strtod(num, NULL) == v) break;
        }
    }
    puts_(b, num);
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

static void put_value(sbuf *b, const cJSON *v, int level);

static void put_object(sbuf *b, const cJSON *v, int level)
{
    int n = cJSON_GetArraySize(v);
    if (n == 0) {
        puts_(b, "{}");
        return;
    }
    const cJSON **kids = malloc((size_t)n * sizeof *kids);
    if (!kids) {
        b->oom = true;
        return;
    }
    int i = 0;
    for (const cJSON *c = v->child; c; c = c->next) kids[i++] = c;
    qsort(kids, (size_t)n, sizeof *kids, cmp_keys);
    put(b, "{", 1);
    for (i = 0; i < n; i++) {
        indent(b, level + 1);
        put_string(b, kids[i]->string);
        puts_(b, ": ");
        put_value(b, kids[i], level + 1);
        if (i + 1 < n) put(b, ",", 1);
    }
    indent(b, level);
    put(b, "}", 1);
    free(kids);
}

static void put_value(sbuf *b, const cJSON *v, int level)
{
    if (cJSON_IsObject(v)) {
        put_object(b, v, level);
    } else if (cJSON_IsArray(v)) {
        if (!v->child) {
            puts_(b, "[]");
            return;
        }
        put(b, "[", 1);
        for (const cJSON *c = v->child; c; c = c->next) {
            indent(b, level + 1);
            put_value(b, c, level + 1);
            if (c->next) put(b, ",", 1);
        }
        indent(b, level);
        put(b, "]", 1);
    } else if (cJSON_IsString(v)) {
        put_string(b, v->valuestring ? v->valuestring : "");
    } else if (cJSON_IsNumber(v)) {
        put_number(b, v->valuedouble);
    } else if (cJSON_IsBool(v)) {
        puts_(b, cJSON_IsTrue(v) ? "true" : "false");
    } else {
        puts_(b, "null");
    }
}

char *tt_json_print_sorted(const cJSON *item)
{
    sbuf b = {0};
    put_value(&b, item, 0);
    put(&b, "\n", 1);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

tt_status tt_json_write_file(const char *path, const char *text, const char *what)
{
    tt_atomic_file af;
    TT_CHECK(tt_atomic_open(&af, path));
    if (fputs(text, af.f) == EOF) {
        tt_atomic_abort(&af);
        return tt_fail(TT_ERR_IO, "%s: cannot write the %s (%s)", path, what, strerror(errno));
    }
    return tt_atomic_commit(&af);
}

tt_status tt_json_write_report(cJSON *j, const char *path, const char *what)
{
    char *text = tt_json_print_sorted(j);
    cJSON_Delete(j);
    if (!text) return tt_fail(TT_ERR_NOMEM, "%s: out of memory", path);
    tt_status s = tt_json_write_file(path, text, what);
    free(text);
    return s;
}

static cJSON *entry_json(const tt_registry_entry *e)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", e->id);
    cJSON_AddStringToObject(o, "kind", tt_model_kind_name(e->kind));
    cJSON_AddStringToObject(o, "onnx", e->onnx);
    cJSON_AddStringToObject(o, "sha256", e->sha256);
    cJSON_AddNumberToObject(o, "opset", e->opset);
    cJSON_AddStringToObject(o, "quant_mode", tt_quant_mode_name(e->quant_mode));
    if (e->int8_sha256[0]) cJSON_AddStringToObject(o, "int8_sha256", e->int8_sha256);
    if (e->budget_set) cJSON_AddNumberToObject(o, "quant_accuracy_budget_plcc", e->budget);
    if (e->calibration[0]) cJSON_AddStringToObject(o, "quant_calibration_set", e->calibration);
    if (e->notes_set) cJSON_AddStringToObject(o, "notes", e->notes);
    if (e->gate_data[0]) cJSON_AddStringToObject(o, "gate_data", e->gate_data);
    if (e->gate_data_sha256[0]) cJSON_AddStringToObject(o, "gate_data_sha256", e->gate_data_sha256);
    return o;
}

tt_status tt_registry_to_json(const tt_registry *reg, char **text)
{
    TT_CHECK_NULL(reg, "tt_registry_to_json");
    TT_CHECK_NULL(text, "tt_registry_to_json");
    cJSON *root = cJSON_CreateObject();
    if (reg->schema_ref[0]) cJSON_AddStringToObject(root, "$schema", reg->schema_ref);
    cJSON_AddNumberToObject(root, "schema_version", TT_REGISTRY_SCHEMA_VERSION);
    cJSON *models = cJSON_AddArrayToObject(root, "models");
    for (int i = 0; models && i < reg->n; i++)
        cJSON_AddItemToArray(models, entry_json(&reg->models[i]));
    *text = tt_json_print_sorted(root);
    cJSON_Delete(root);
    return *text ? TT_OK : tt_fail(TT_ERR_NOMEM, "%s: out of memory", reg->path);
}

tt_status tt_registry_save(const tt_registry *reg, const char *path)
{
    char *text = NULL;
    TT_CHECK(tt_registry_to_json(reg, &text));
    tt_status s = tt_json_write_file(path, text, "registry");
    free(text);
    return s;
}
