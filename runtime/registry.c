/* model/registry.json read and validated (tinytrain/registry.h). The rules are those of
 * model/registry.schema.json, checked in the same order for every entry so that each broken
 * rule has its own message; see docs/gate.md. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "autograd/internal.h"
#include "data/whole_file.h"
#include "tinytrain/registry.h"

#define REGISTRY_MAX_BYTES (16L << 20) /* far above any real registry; refuses a runaway file */

static const char *const kind_names[] = {"classifier", "regressor", "filter"};
static const char *const mode_names[] = {"fp32", "dynamic", "static", "qat"};

const char *tt_model_kind_name(tt_model_kind k)
{
    return (unsigned)k < 3 ? kind_names[k] : "?";
}

const char *tt_quant_mode_name(tt_quant_mode m)
{
    return (unsigned)m < 4 ? mode_names[m] : "?";
}

bool tt_model_kind_parse(const char *s, tt_model_kind *out)
{
    for (int i = 0; i < 3; i++)
        if (s && !strcmp(s, kind_names[i])) {
            *out = (tt_model_kind)i;
            return true;
        }
    return false;
}

bool tt_quant_mode_parse(const char *s, tt_quant_mode *out)
{
    for (int i = 0; i < 4; i++)
        if (s && !strcmp(s, mode_names[i])) {
            *out = (tt_quant_mode)i;
            return true;
        }
    return false;
}

double tt_registry_default_budget(tt_quant_mode m)
{
    return m == TT_QUANT_QAT ? TT_REGISTRY_BUDGET_DEFAULT_QAT : TT_REGISTRY_BUDGET_DEFAULT;
}

/* ---- the string rules (the schema's patterns) ---- */

/* Code points of valid UTF-8 (JSON Schema's maxLength counts those); -1 if s is not UTF-8. */
static long utf8_length(const char *s)
{
    long n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; n++) {
        int extra = *p < 0x80         ? 0
                    : (*p >> 5) == 6  ? 1
                    : (*p >> 4) == 14 ? 2
                    : (*p >> 3) == 30 ? 3
                                      : -1;
        if (extra < 0) return -1;
        p++;
        for (int i = 0; i < extra; i++, p++)
            if ((*p & 0xC0) != 0x80) return -1;
    }
    return n;
}

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* ^[a-z0-9][a-z0-9_-]*$, at most TT_REGISTRY_ID_MAX */
static bool id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > TT_REGISTRY_ID_MAX || !is_lower_alnum(s[0])) return false;
    for (size_t i = 1; i < n; i++)
        if (!is_lower_alnum(s[i]) && s[i] != '_' && s[i] != '-') return false;
    return true;
}

static bool sha_ok(const char *s)
{
    if (strlen(s) != 64) return false;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* The relpath rule; NULL if path keeps it, else what is wrong. */
static const char *relpath_problem(const char *s)
{
    size_t n = strlen(s);
    if (n == 0) return "is empty";
    if (n > TT_REGISTRY_PATH_MAX) return "is longer than 256 characters";
    if (s[0] == '/') return "is absolute";
    if (!is_lower_alnum(s[0]))
        return "must start with a lowercase letter or digit (no '.', '..' or '/' at the start)";
    for (size_t i = 0; i < n; i++)
        if (!is_lower_alnum(s[i]) && !strchr("_./-", s[i]))
            return "may hold only lowercase letters, digits and '_', '.', '/', '-'";
    if (strstr(s, "//")) return "has an empty segment ('//')";
    for (const char *seg = s; seg; seg = strchr(seg, '/') ? strchr(seg, '/') + 1 : NULL) {
        size_t len = strcspn(seg, "/");
        if ((len == 1 && seg[0] == '.') || (len == 2 && !strncmp(seg, "..", 2)))
            return "has a '.' or '..' segment: it would leave or alias the registry's directory";
    }
    return NULL;
}

/* ---- parsing ---- */

typedef struct parse_ctx {
    const char *name; /* the file, for messages */
    char where[160];  /* "models[2] (id 'cnn')" */
} parse_ctx;

static tt_status bad(const parse_ctx *c, const char *field, const char *fmt, const char *arg)
{
    char what[512];
    snprintf(what, sizeof what, fmt, arg ? arg : "");
    return tt_fail(TT_ERR_FORMAT, "%s: %s%s%s: %s", c->name, c->where, field ? ": " : "",
                   field ? field : "", what);
}

static tt_status get_string(const parse_ctx *c, const cJSON *v, char *dst, size_t cap,
                            long max_chars)
{
    if (!cJSON_IsString(v) || !v->valuestring) return bad(c, v->string, "must be a string%s", NULL);
    long chars = utf8_length(v->valuestring);
    if (chars < 0) return bad(c, v->string, "is not valid UTF-8%s", NULL);
    if (chars > max_chars || strlen(v->valuestring) >= cap) {
        char lim[64];
        snprintf(lim, sizeof lim, "%ld", max_chars);
        return bad(c, v->string, "is longer than %s characters", lim);
    }
    memcpy(dst, v->valuestring, strlen(v->valuestring) + 1);
    return TT_OK;
}

/* A JSON number that is a whole number (JSON Schema's "integer": 13 and 13.0 both are). */
static bool get_int(const cJSON *v, long lo, long hi, int *out)
{
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return false;
    double d = v->valuedouble;
    if (d != floor(d) || d < lo || d > hi) return false;
    *out = (int)d;
    return true;
}

static tt_status parse_path_field(const parse_ctx *c, const cJSON *v, char *dst)
{
    TT_CHECK(get_string(c, v, dst, TT_REGISTRY_PATH_MAX + 1, TT_REGISTRY_PATH_MAX));
    const char *why = relpath_problem(dst);
    if (why) {
        char msg[400];
        snprintf(msg, sizeof msg,
                 "'%s' %s; paths are relative to the registry's directory and stay inside it", dst,
                 why);
        return bad(c, v->string, "%s", msg);
    }
    return TT_OK;
}

static tt_status parse_sha(const parse_ctx *c, const cJSON *v, char dst[65])
{
    if (!cJSON_IsString(v) || !v->valuestring || !sha_ok(v->valuestring))
        return bad(c, v->string,
                   "must be 64 lowercase hexadecimal digits (a SHA-256, as sha256sum prints "
                   "it)%s",
                   NULL);
    memcpy(dst, v->valuestring, 65);
    return TT_OK;
}

static tt_status parse_enum(const parse_ctx *c, const cJSON *v, bool is_kind, int *out)
{
    const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
    tt_model_kind k;
    tt_quant_mode m;
    if (is_kind && s && tt_model_kind_parse(s, &k)) {
        *out = (int)k;
        return TT_OK;
    }
    if (!is_kind && s && tt_quant_mode_parse(s, &m)) {
        *out = (int)m;
        return TT_OK;
    }
    return bad(c, v->string, "%s",
               is_kind ? "must be one of classifier, regressor, filter"
                       : "must be one of fp32, dynamic, static, qat");
}

static tt_status bad_id(const parse_ctx *c, const char *id)
{
    return bad(c, "id",
               "'%.80s' must match ^[a-z0-9][a-z0-9_-]*$ (lowercase letters, digits, '_', '-'; "
               "not starting with '_' or '-') and be at most 64 characters",
               id);
}

enum field_bit {
    F_ID = 1 << 0,
    F_KIND = 1 << 1,
    F_ONNX = 1 << 2,
    F_SHA = 1 << 3,
    F_OPSET = 1 << 4,
    F_MODE = 1 << 5,
    F_INT8 = 1 << 6,
    F_BUDGET = 1 << 7,
    F_CALIB = 1 << 8,
    F_NOTES = 1 << 9,
    F_GDATA = 1 << 10,
    F_GDSHA = 1 << 11,
};

static const char *const field_names[] = {"id",
                                          "kind",
                                          "onnx",
                                          "sha256",
                                          "opset",
                                          "quant_mode",
                                          "int8_sha256",
                                          "quant_accuracy_budget_plcc",
                                          "quant_calibration_set",
                                          "notes",
                                          "gate_data",
                                          "gate_data_sha256"};
#define N_FIELDS 12

static int field_index(const char *key)
{
    for (int i = 0; i < N_FIELDS; i++)
        if (!strcmp(key, field_names[i])) return i;
    return -1;
}

static tt_status parse_field(const parse_ctx *c, const cJSON *v, int f, tt_registry_entry *e)
{
    int tmp;
    switch (1 << f) {
    case F_ID:
        if (!cJSON_IsString(v) || !id_ok(v->valuestring))
            return bad_id(c, cJSON_IsString(v) ? v->valuestring : "(not a string)");
        memcpy(e->id, v->valuestring, strlen(v->valuestring) + 1);
        return TT_OK;
    case F_KIND:
        TT_CHECK(parse_enum(c, v, true, &tmp));
        e->kind = (tt_model_kind)tmp;
        return TT_OK;
    case F_ONNX:
        TT_CHECK(parse_path_field(c, v, e->onnx));
        if (!ends_with(e->onnx, ".onnx") || ends_with(e->onnx, ".int8.onnx"))
            return bad(c, "onnx",
                       "'%s' must name the fp32 model, ending in .onnx and not in .int8.onnx "
                       "(the int8 sibling is found from it)",
                       e->onnx);
        return TT_OK;
    case F_SHA:
        return parse_sha(c, v, e->sha256);
    case F_OPSET:
        if (!get_int(v, TT_REGISTRY_OPSET_MIN, TT_REGISTRY_OPSET_MAX, &e->opset))
            return bad(c, "opset", "must be a whole number from 7 to 21%s", NULL);
        return TT_OK;
    case F_MODE:
        TT_CHECK(parse_enum(c, v, false, &tmp));
        e->quant_mode = (tt_quant_mode)tmp;
        return TT_OK;
    case F_INT8:
        return parse_sha(c, v, e->int8_sha256);
    case F_BUDGET:
        if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 1))
            return bad(c, "quant_accuracy_budget_plcc",
                       "must be a number from 0 to 1 (the largest accepted 1 - PLCC)%s", NULL);
        e->budget = v->valuedouble;
        e->budget_set = true;
        return TT_OK;
    case F_CALIB:
        TT_CHECK(parse_path_field(c, v, e->calibration));
        if (!ends_with(e->calibration, ".npz") && !ends_with(e->calibration, ".h5"))
            return bad(c, "quant_calibration_set",
                       "'%s' must be a .npz or .h5 file (as tinytrain calib writes)",
                       e->calibration);
        return TT_OK;
    case F_GDATA:
        TT_CHECK(parse_path_field(c, v, e->gate_data));
        if (!ends_with(e->gate_data, ".npz"))
            return bad(c, "gate_data",
                       "'%s' must be an .npz file (the gate's samples, e.g. from tinytrain calib)",
                       e->gate_data);
        return TT_OK;
    case F_GDSHA:
        return parse_sha(c, v, e->gate_data_sha256);
    default:
        TT_CHECK(get_string(c, v, e->notes, sizeof e->notes, TT_REGISTRY_NOTES_MAX));
        e->notes_set = true;
        return TT_OK;
    }
}

/* The rules between fields (the schema's if/then/else). */
static tt_status check_modes(const parse_ctx *c, unsigned seen, const tt_registry_entry *e)
{
    static const struct {
        unsigned bit;
        const char *name;
    } required[] = {{F_ID, "id"},      {F_KIND, "kind"},   {F_ONNX, "onnx"},
                    {F_SHA, "sha256"}, {F_OPSET, "opset"}, {F_MODE, "quant_mode"}};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!(seen & required[i].bit))
            return bad(c, NULL, "missing required field '%s'", required[i].name);
    const char *mode = tt_quant_mode_name(e->quant_mode);
    if (e->quant_mode == TT_QUANT_FP32) {
        const char *extra = (seen & F_INT8)     ? "int8_sha256"
                            : (seen & F_BUDGET) ? "quant_accuracy_budget_plcc"
                            : (seen & F_CALIB)  ? "quant_calibration_set"
                            : (seen & F_GDATA)  ? "gate_data"
                            : (seen & F_GDSHA)  ? "gate_data_sha256"
                                                : NULL;
        if (extra)
            return bad(c, extra,
                       "given for quant_mode 'fp32', which has no int8 model; set quant_mode "
                       "to dynamic, static or qat, or remove the field%s",
                       NULL);
        return TT_OK;
    }
    if (!(seen & F_INT8)) {
        char msg[300];
        snprintf(msg, sizeof msg,
                 "quant_mode '%s' needs int8_sha256, the SHA-256 of the int8 sibling; "
                 "'tinytrain registry add --replace' computes it",
                 mode);
        return bad(c, NULL, "%s", msg);
    }
    if (e->quant_mode == TT_QUANT_STATIC && !(seen & F_CALIB))
        return bad(c, NULL,
                   "quant_mode 'static' needs quant_calibration_set, the calibration data the "
                   "int8 model was made with%s",
                   NULL);
    if ((seen & F_GDATA) && !(seen & F_GDSHA))
        return bad(c, "gate_data",
                   "is given without gate_data_sha256, the file's SHA-256 ('tinytrain registry "
                   "add --gate-data F --replace' computes it)%s",
                   NULL);
    if ((seen & F_GDSHA) && !(seen & F_GDATA))
        return bad(c, "gate_data_sha256", "is given without gate_data, the file it hashes%s", NULL);
    return TT_OK;
}

static void set_where(parse_ctx *c, int i, const cJSON *obj)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "id");
    if (cJSON_IsString(id) && id->valuestring && strlen(id->valuestring) <= 80)
        snprintf(c->where, sizeof c->where, "models[%d] (id '%s')", i, id->valuestring);
    else
        snprintf(c->where, sizeof c->where, "models[%d]", i);
}

/* A key given twice: JSON parsers disagree on which one wins, so neither is trusted. */
static tt_status check_duplicate_keys(const parse_ctx *c, const cJSON *obj)
{
    for (const cJSON *a = obj->child; a; a = a->next)
        for (const cJSON *b = a->next; b; b = b->next)
            if (a->string && b->string && !strcmp(a->string, b->string))
                return bad(c, a->string, "given twice in one object%s", NULL);
    return TT_OK;
}

static tt_status parse_entry(parse_ctx *c, int i, const cJSON *obj, tt_registry_entry *e)
{
    memset(e, 0, sizeof *e);
    set_where(c, i, obj);
    if (!cJSON_IsObject(obj)) return bad(c, NULL, "must be an object%s", NULL);
    TT_CHECK(check_duplicate_keys(c, obj));
    unsigned seen = 0;
    for (const cJSON *v = obj->child; v; v = v->next) {
        int f = field_index(v->string);
        if (f < 0)
            return bad(c, NULL,
                       "unknown field '%s' (allowed: id, kind, onnx, sha256, opset, quant_mode, "
                       "int8_sha256, quant_accuracy_budget_plcc, quant_calibration_set, notes, "
                       "gate_data, gate_data_sha256)",
                       v->string);
        TT_CHECK(parse_field(c, v, f, e));
        seen |= 1u << f;
    }
    TT_CHECK(check_modes(c, seen, e));
    if (!e->budget_set) e->budget = tt_registry_default_budget(e->quant_mode);
    return TT_OK;
}

static tt_status check_unique(const char *name, const tt_registry *reg)
{
    for (int i = 0; i < reg->n; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(reg->models[i].id, reg->models[j].id))
                return tt_fail(TT_ERR_FORMAT,
                               "%s: models[%d]: id '%s' is already used by models[%d]; ids must "
                               "be unique",
                               name, i, reg->models[i].id, j);
    return TT_OK;
}

static tt_status parse_root(parse_ctx *c, const cJSON *root, tt_registry *reg)
{
    snprintf(c->where, sizeof c->where, "top level");
    if (!cJSON_IsObject(root))
        return bad(c, NULL, "must be an object with schema_version and models%s", NULL);
    TT_CHECK(check_duplicate_keys(c, root));
    const cJSON *models = NULL;
    bool have_version = false;
    for (const cJSON *v = root->child; v; v = v->next) {
        if (!strcmp(v->string, "schema_version")) {
            if (!get_int(v, TT_REGISTRY_SCHEMA_VERSION, TT_REGISTRY_SCHEMA_VERSION,
                         &reg->schema_version))
                return bad(c, "schema_version",
                           "must be 1 (the only version this tinytrain reads)%s", NULL);
            have_version = true;
        } else if (!strcmp(v->string, "models")) {
            if (!cJSON_IsArray(v)) return bad(c, "models", "must be an array%s", NULL);
            models = v;
        } else if (!strcmp(v->string, "$schema")) {
            TT_CHECK(
                get_string(c, v, reg->schema_ref, sizeof reg->schema_ref, TT_REGISTRY_PATH_MAX));
        } else {
            return bad(c, NULL, "unknown field '%s' (allowed: $schema, schema_version, models)",
                       v->string);
        }
    }
    if (!have_version) return bad(c, NULL, "missing required field 'schema_version'%s", NULL);
    if (!models) return bad(c, NULL, "missing required field 'models'%s", NULL);
    int n = cJSON_GetArraySize(models);
    reg->models = calloc(n > 0 ? (size_t)n : 1, sizeof *reg->models);
    if (!reg->models) return tt_fail(TT_ERR_NOMEM, "%s: out of memory", c->name);
    int i = 0;
    for (const cJSON *m = models->child; m; m = m->next, i++) {
        TT_CHECK(parse_entry(c, i, m, &reg->models[i]));
        reg->n = i + 1;
    }
    return check_unique(c->name, reg);
}

/* "file:line:col" of a parse error at p in text. */
static tt_status json_syntax_error(const char *name, const char *text, const char *p)
{
    int line = 1, col = 1;
    for (const char *q = text; p && q < p && *q; q++) {
        if (*q == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    return tt_fail(TT_ERR_FORMAT,
                   "%s:%d:%d: malformed JSON (check for a missing comma, quote or bracket, or "
                   "text after the closing brace)",
                   name, line, col);
}

static tt_status set_dir(tt_registry *reg, const char *dir)
{
    char resolved[PATH_MAX];
    const char *d = dir && dir[0] ? dir : ".";
    const char *use = realpath(d, resolved) ? resolved : d;
    if (strlen(use) >= sizeof reg->dir)
        return tt_fail(TT_ERR_INVALID_ARG, "%s: the registry's directory path is too long", use);
    memcpy(reg->dir, use, strlen(use) + 1);
    return TT_OK;
}

tt_status tt_registry_parse(const char *text, size_t len, const char *name, const char *dir,
                            tt_registry *reg)
{
    TT_CHECK_NULL(text, "tt_registry_parse");
    TT_CHECK_NULL(reg, "tt_registry_parse");
    memset(reg, 0, sizeof *reg);
    if (!name) name = "registry";
    snprintf(reg->path, sizeof reg->path, "%s", name);
    TT_CHECK(set_dir(reg, dir));
    char *copy = malloc(len + 1);
    if (!copy) return tt_fail(TT_ERR_NOMEM, "%s: out of memory", name);
    memcpy(copy, text, len);
    copy[len] = '\0';
    if (strlen(copy) != len) {
        free(copy);
        return tt_fail(TT_ERR_FORMAT, "%s: holds a NUL byte; not a JSON text file", name);
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(copy, &end, 1);
    tt_status s;
    if (!root) {
        s = json_syntax_error(name, copy, end ? end : cJSON_GetErrorPtr());
    } else {
        parse_ctx c = {.name = name};
        s = parse_root(&c, root, reg);
    }
    cJSON_Delete(root);
    free(copy);
    if (s != TT_OK) tt_registry_free(reg);
    return s;
}

tt_status tt_registry_load(const char *path, tt_registry *reg)
{
    TT_CHECK_NULL(path, "tt_registry_load");
    TT_CHECK_NULL(reg, "tt_registry_load");
    memset(reg, 0, sizeof *reg);
    void *text = NULL;
    size_t len = 0;
    TT_CHECK(tt_read_whole_file(path, "registry", REGISTRY_MAX_BYTES, &text, &len));
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else
        slash[slash == dir ? 1 : 0] = '\0';
    tt_status s = tt_registry_parse(text, len, path, dir, reg);
    free(text);
    return s;
}

void tt_registry_free(tt_registry *reg)
{
    if (!reg) return;
    free(reg->models);
    reg->models = NULL;
    reg->n = 0;
}

const tt_registry_entry *tt_registry_find(const tt_registry *reg, const char *id)
{
    for (int i = 0; reg && id && i < reg->n; i++)
        if (!strcmp(reg->models[i].id, id)) return &reg->models[i];
    return NULL;
}

/* An entry built in C (tinytrain registry add) passes the rules a loaded one does. */
static tt_status validate_entry(const char *name, const tt_registry_entry *e)
{
    parse_ctx c = {.name = name};
    snprintf(c.where, sizeof c.where, "new entry (id '%.64s')", e->id);
    if (!id_ok(e->id)) return bad_id(&c, e->id);
    const char *why = relpath_problem(e->onnx);
    if (why) return bad(&c, "onnx", "path %s", why);
    if (!ends_with(e->onnx, ".onnx") || ends_with(e->onnx, ".int8.onnx"))
        return bad(&c, "onnx", "'%s' must end in .onnx and not in .int8.onnx", e->onnx);
    if (e->calibration[0] && (why = relpath_problem(e->calibration)))
        return bad(&c, "quant_calibration_set", "path %s", why);
    if (e->calibration[0] && !ends_with(e->calibration, ".npz") &&
        !ends_with(e->calibration, ".h5"))
        return bad(&c, "quant_calibration_set", "'%s' must be a .npz or .h5 file", e->calibration);
    if (e->gate_data[0] && (why = relpath_problem(e->gate_data)))
        return bad(&c, "gate_data", "path %s", why);
    if (e->gate_data[0] && !ends_with(e->gate_data, ".npz"))
        return bad(&c, "gate_data", "'%s' must be an .npz file", e->gate_data);
    if (e->gate_data_sha256[0] && !sha_ok(e->gate_data_sha256))
        return bad(&c, "gate_data_sha256", "is not a SHA-256 hex digest%s", NULL);
    if (!sha_ok(e->sha256)) return bad(&c, "sha256", "is not a SHA-256 hex digest%s", NULL);
    if (e->int8_sha256[0] && !sha_ok(e->int8_sha256))
        return bad(&c, "int8_sha256", "is not a SHA-256 hex digest%s", NULL);
    if (e->opset < TT_REGISTRY_OPSET_MIN || e->opset > TT_REGISTRY_OPSET_MAX) {
        char o[32];
        snprintf(o, sizeof o, "%d", e->opset);
        return bad(&c, "opset", "%s is outside 7..21", o);
    }
    if (e->budget_set && !(e->budget >= 0 && e->budget <= 1))
        return bad(&c, "quant_accuracy_budget_plcc", "must be from 0 to 1%s", NULL);
    if (utf8_length(e->notes) < 0 || utf8_length(e->notes) > TT_REGISTRY_NOTES_MAX)
        return bad(&c, "notes", "must be UTF-8 of at most 512 characters%s", NULL);
    unsigned seen = F_ID | F_KIND | F_ONNX | F_SHA | F_OPSET | F_MODE;
    seen |= (e->int8_sha256[0] ? F_INT8 : 0) | (e->budget_set ? F_BUDGET : 0) |
            (e->calibration[0] ? F_CALIB : 0) | (e->gate_data[0] ? F_GDATA : 0) |
            (e->gate_data_sha256[0] ? F_GDSHA : 0);
    return check_modes(&c, seen, e);
}

tt_status tt_registry_insert(tt_registry *reg, const tt_registry_entry *e, bool replace)
{
    TT_CHECK_NULL(reg, "tt_registry_insert");
    TT_CHECK_NULL(e, "tt_registry_insert");
    TT_CHECK(validate_entry(reg->path, e));
    tt_registry_entry *old = (tt_registry_entry *)tt_registry_find(reg, e->id);
    if (old && !replace)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "%s: id '%s' is already registered (onnx %s); pass --replace to "
                       "overwrite that entry",
                       reg->path, e->id, old->onnx);
    if (old) {
        *old = *e;
        return TT_OK;
    }
    tt_registry_entry *m = realloc(reg->models, (size_t)(reg->n + 1) * sizeof *m);
    if (!m) return tt_fail(TT_ERR_NOMEM, "%s: out of memory", reg->path);
    reg->models = m;
    int at = 0;
    while (at < reg->n && strcmp(m[at].id, e->id) < 0) at++;
    memmove(&m[at + 1], &m[at], (size_t)(reg->n - at) * sizeof *m);
    m[at] = *e;
    if (!m[at].budget_set) m[at].budget = tt_registry_default_budget(e->quant_mode);
    reg->n++;
    return TT_OK;
}
