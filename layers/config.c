/* YAML config -> tt_config, strictly (schema: docs/config.md).
 *
 * libyaml's event API feeds a small tree of our own rather than yaml_parser_load's document:
 * events carry the position of every alias, anchor and tag, so they can be refused where they
 * are written (an alias is how a billion-laughs file multiplies itself), and the tree's nesting,
 * node count and map width are capped while it is built, before any of it is interpreted. Each
 * node knows its parent, so any error can name its key path ("model.layers[3].kernel"). */
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include "autograd/internal.h"
#include "tinytrain/config.h"

/* The deepest schema path is model.layers[i].key (4 levels); the rest is slack for qat:. */
#define Y_MAX_DEPTH       32
#define Y_MAX_NODES       100000
#define Y_MAX_MAP_ENTRIES 256
#define Y_EXCERPT         48 /* bytes of a bad value quoted back in a message */

#define MAX_EPOCHS  1000000
#define MAX_THREADS 1024
#define MAX_BATCH   65536
#define MAX_DIM     65536
#define MAX_KERNEL  64

enum { Y_SCALAR, Y_SEQ, Y_MAP };

typedef struct ynode {
    int kind;
    int line, col; /* 1-based */
    bool plain;    /* an unquoted scalar (numbers, booleans and null must be plain) */
    char *str;     /* scalar text, NUL-terminated */
    size_t len;
    struct ynode **items; /* seq: the items; map: key, value, key, value, ... */
    int n, cap;
    struct ynode *parent;
    int idx; /* position in parent->items */
} ynode;

typedef struct ydoc {
    const char *file;
    ynode *root;
    int n_nodes;
} ydoc;

/* ---- messages ---------------------------------------------------------------------------- */

/* A value quoted back in a message: truncated, control bytes replaced, always terminated. */
static void excerpt(const char *s, size_t len, char *buf, size_t cap)
{
    size_t n = len < Y_EXCERPT ? len : Y_EXCERPT, j = 0;
    for (size_t i = 0; i < n && j + 1 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        buf[j++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
    }
    if (n < len && j + 4 < cap) {
        memcpy(buf + j, "...", 3);
        j += 3;
    }
    buf[j] = '\0';
}

static void append(char *buf, size_t cap, const char *fmt, ...) TT_PRINTF(3, 4);
static void append(char *buf, size_t cap, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used + 1 >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, cap - used, fmt, ap);
    va_end(ap);
}

static void node_path(const ynode *n, char *buf, size_t cap)
{
    if (!n->parent) {
        buf[0] = '\0';
        return;
    }
    node_path(n->parent, buf, cap);
    const ynode *p = n->parent;
    if (p->kind == Y_SEQ) {
        append(buf, cap, "[%d]", n->idx);
        return;
    }
    const ynode *key = (n->idx % 2) ? p->items[n->idx - 1] : n;
    char k[Y_EXCERPT + 8] = "?";
    if (key->kind == Y_SCALAR) excerpt(key->str, key->len, k, sizeof k);
    append(buf, cap, "%s%s", buf[0] ? "." : "", k);
}

static tt_status yerr(const ydoc *d, const ynode *n, const char *fmt, ...) TT_PRINTF(3, 4);
static tt_status yerr(const ydoc *d, const ynode *n, const char *fmt, ...)
{
    char path[256], msg[640];
    node_path(n, path, sizeof path);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tt_fail(TT_ERR_INVALID_ARG, "%s:%d:%d: %s: %s", d->file, n->line, n->col,
                   path[0] ? path : "(top level)", msg);
}

/* "KEY.PATH: required key is missing", at the map that should hold it. */
static tt_status missing(const ydoc *d, const ynode *map, const char *key)
{
    char path[256];
    node_path(map, path, sizeof path);
    return tt_fail(TT_ERR_INVALID_ARG, "%s:%d:%d: %s%s%s: required key is missing", d->file,
                   map->line, map->col, path, path[0] ? "." : "", key);
}

static bool is_null(const ynode *n)
{
    if (n->kind != Y_SCALAR || !n->plain) return false;
    return n->len == 0 || !strcmp(n->str, "~") || !strcmp(n->str, "null") ||
           !strcmp(n->str, "Null") || !strcmp(n->str, "NULL");
}

/* What a node is, for "must be X, got Y". */
static const char *describe(const ynode *n, char *buf, size_t cap)
{
    if (n->kind == Y_MAP) return "a map";
    if (n->kind == Y_SEQ) return "a list";
    if (is_null(n)) return "null";
    char e[Y_EXCERPT + 8];
    excerpt(n->str, n->len, e, sizeof e);
    snprintf(buf, cap, n->plain ? "'%s'" : "the quoted string \"%s\"", e);
    return buf;
}

/* ---- the tree ------------------------------------------------------------------------------ */

static void ynode_free(ynode *n)
{
    if (!n) return;
    for (int i = 0; i < n->n; i++) ynode_free(n->items[i]);
    free(n->items);
    free(n->str);
    free(n);
}

static tt_status syntax_error(const ydoc *d, const yaml_parser_t *p, const char *text, size_t len)
{
    const char *problem = p->problem ? p->problem : "cannot parse";
    size_t line = p->problem_mark.line + 1, col = p->problem_mark.column + 1;
    if (p->error == YAML_READER_ERROR) {
        /* The reader (bad UTF-8, control bytes) reports a byte offset, not a mark. */
        line = 1;
        col = 1;
        for (size_t i = 0; i < p->problem_offset && i < len; i++) {
            if (text[i] == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
    }
    if (p->error == YAML_MEMORY_ERROR)
        return tt_fail(TT_ERR_NOMEM, "%s: out of memory while parsing YAML", d->file);
    if (p->context)
        return tt_fail(TT_ERR_FORMAT, "%s:%zu:%zu: malformed YAML: %s (%s at line %zu column %zu)",
                       d->file, line, col, problem, p->context, p->context_mark.line + 1,
                       p->context_mark.column + 1);
    return tt_fail(TT_ERR_FORMAT, "%s:%zu:%zu: malformed YAML: %s", d->file, line, col, problem);
}

/* Hang a new node under the innermost open container (or make it the root). */
static tt_status attach(ydoc *d, ynode **stack, int depth, ynode *n)
{
    if (depth == 0) {
        d->root = n;
        return TT_OK;
    }
    ynode *p = stack[depth - 1];
    if (p->n == p->cap) {
        int cap = p->cap ? p->cap * 2 : 8;
        ynode **items = realloc(p->items, (size_t)cap * sizeof *items);
        if (!items) {
            ynode_free(n);
            return tt_fail(TT_ERR_NOMEM, "%s: out of memory while parsing YAML", d->file);
        }
        p->items = items;
        p->cap = cap;
    }
    n->parent = p;
    n->idx = p->n;
    p->items[p->n++] = n;
    if (p->kind == Y_MAP && n->idx % 2 == 0) {
        if (n->kind != Y_SCALAR) {
            /* Placed at the key, named by the map: the key has no name of its own. */
            char path[256];
            node_path(p, path, sizeof path);
            return tt_fail(TT_ERR_INVALID_ARG,
                           "%s:%d:%d: %s: map keys must be plain strings, not %s", d->file, n->line,
                           n->col, path[0] ? path : "(top level)",
                           n->kind == Y_MAP ? "maps" : "lists");
        }
        if (n->idx / 2 >= Y_MAX_MAP_ENTRIES)
            return yerr(d, n, "too many keys in one map (at most %d)", Y_MAX_MAP_ENTRIES);
    }
    return TT_OK;
}

static tt_status check_duplicates(const ydoc *d, const ynode *m)
{
    /* Quadratic, but maps are capped at Y_MAX_MAP_ENTRIES keys. */
    for (int j = 2; j < m->n; j += 2)
        for (int i = 0; i < j; i += 2) {
            const ynode *a = m->items[i], *b = m->items[j];
            if (a->len == b->len && !memcmp(a->str, b->str, a->len))
                return yerr(d, b, "duplicate key (first given at line %d column %d)", a->line,
                            a->col);
        }
    return TT_OK;
}

static tt_status new_node(ydoc *d, int kind, const yaml_event_t *ev, ynode **out)
{
    if (++d->n_nodes > Y_MAX_NODES)
        return tt_fail(TT_ERR_INVALID_ARG, "%s:%zu:%zu: too many YAML nodes (at most %d)", d->file,
                       ev->start_mark.line + 1, ev->start_mark.column + 1, Y_MAX_NODES);
    ynode *n = calloc(1, sizeof *n);
    if (!n) return tt_fail(TT_ERR_NOMEM, "%s: out of memory while parsing YAML", d->file);
    n->kind = kind;
    n->line = (int)ev->start_mark.line + 1;
    n->col = (int)ev->start_mark.column + 1;
    if (kind == Y_SCALAR) {
        /* An alias becomes a scalar "*" stand-in, so a message can still name its key path. */
        bool alias = ev->type == YAML_ALIAS_EVENT;
        n->len = alias ? 1 : ev->data.scalar.length;
        n->plain = alias || ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        n->str = malloc(n->len + 1);
        if (!n->str) {
            free(n);
            return tt_fail(TT_ERR_NOMEM, "%s: out of memory while parsing YAML", d->file);
        }
        memcpy(n->str, alias ? "*" : (const char *)ev->data.scalar.value, n->len);
        n->str[n->len] = '\0';
    }
    *out = n;
    return TT_OK;
}

/* Refuse anchors, aliases and tags where they are written: the node is attached first so the
 * message can name its key path. */
static tt_status refuse_extras(ydoc *d, ynode *n, const yaml_event_t *ev)
{
    const yaml_char_t *anchor = NULL, *tag = NULL;
    if (ev->type == YAML_SCALAR_EVENT) {
        anchor = ev->data.scalar.anchor;
        tag = ev->data.scalar.tag;
    } else if (ev->type == YAML_SEQUENCE_START_EVENT) {
        anchor = ev->data.sequence_start.anchor;
        tag = ev->data.sequence_start.tag;
    } else if (ev->type == YAML_MAPPING_START_EVENT) {
        anchor = ev->data.mapping_start.anchor;
        tag = ev->data.mapping_start.tag;
    }
    char e[Y_EXCERPT + 8];
    if (anchor) {
        excerpt((const char *)anchor, strlen((const char *)anchor), e, sizeof e);
        return yerr(d, n, "YAML anchors (&%s) are not supported; write the value out", e);
    }
    if (tag) {
        excerpt((const char *)tag, strlen((const char *)tag), e, sizeof e);
        return yerr(d, n, "YAML tags (%s) are not supported; write the plain value", e);
    }
    return TT_OK;
}

static tt_status build_tree(ydoc *d, const char *text, size_t len)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return tt_fail(TT_ERR_NOMEM, "%s: cannot initialise the YAML parser", d->file);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    ynode *stack[Y_MAX_DEPTH];
    int depth = 0, docs = 0;
    tt_status st = TT_OK;
    for (bool done = false; !done && st == TT_OK;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            st = syntax_error(d, &p, text, len);
            break;
        }
        ynode *n = NULL;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1)
                st = tt_fail(TT_ERR_INVALID_ARG,
                             "%s:%zu:%zu: a second YAML document; a config is one document",
                             d->file, ev.start_mark.line + 1, ev.start_mark.column + 1);
            break;
        case YAML_ALIAS_EVENT:
            st = new_node(d, Y_SCALAR, &ev, &n);
            if (st == TT_OK) st = attach(d, stack, depth, n);
            if (st == TT_OK) {
                char e[Y_EXCERPT + 8];
                const char *a = (const char *)ev.data.alias.anchor;
                excerpt(a, strlen(a), e, sizeof e);
                st = yerr(d, n,
                          "YAML aliases (*%s) are not supported (they can expand a small "
                          "file without bound); write the value out",
                          e);
            }
            break;
        case YAML_SCALAR_EVENT:
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
            int kind = ev.type == YAML_SCALAR_EVENT           ? Y_SCALAR
                       : ev.type == YAML_SEQUENCE_START_EVENT ? Y_SEQ
                                                              : Y_MAP;
            st = new_node(d, kind, &ev, &n);
            if (st == TT_OK) st = attach(d, stack, depth, n);
            if (st == TT_OK) st = refuse_extras(d, n, &ev);
            if (st == TT_OK && kind != Y_SCALAR) {
                if (depth == Y_MAX_DEPTH)
                    st = yerr(d, n, "nested too deeply (at most %d levels)", Y_MAX_DEPTH);
                else
                    stack[depth++] = n;
            }
            break;
        }
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (depth > 0) {
                ynode *c = stack[--depth];
                if (c->kind == Y_MAP) st = check_duplicates(d, c);
            }
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    return st;
}

/* ---- scalar checks, shared by the file and the command-line overrides --------------------- */

/* Each returns true, or false with `why` set to "must be ..., got '...'". */

static bool text_int(const char *s, size_t len, int64_t lo, int64_t hi, int64_t *out, char *why,
                     size_t cap)
{
    char e[Y_EXCERPT + 8];
    excerpt(s, len, e, sizeof e);
    char range[96];
    if (hi == INT64_MAX)
        snprintf(range, sizeof range, "an integer >= %lld", (long long)lo);
    else
        snprintf(range, sizeof range, "an integer in %lld..%lld", (long long)lo, (long long)hi);
    size_t i = (len > 0 && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
    /* A leading zero is refused: YAML 1.1 reads 010 as octal 8. */
    bool digits = i < len && !(s[i] == '0' && i + 1 < len);
    for (size_t k = i; k < len; k++)
        if (s[k] < '0' || s[k] > '9') digits = false;
    if (!digits || strlen(s) != len) {
        snprintf(why, cap, "must be %s, got '%s'", range, e);
        return false;
    }
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno == ERANGE || v < lo || v > hi) {
        snprintf(why, cap, "must be %s, got %s", range, e);
        return false;
    }
    *out = (int64_t)v;
    return true;
}

typedef struct frange {
    double lo, hi; /* hi = INFINITY: no upper bound */
    bool lo_open, hi_open;
} frange;

static const frange F_ANY = {-INFINITY, INFINITY, false, false};
static const frange F_NONNEG = {0, INFINITY, false, false};
static const frange F_POS = {0, INFINITY, true, false};
static const frange F_UNIT = {0, 1, false, false};     /* [0, 1] */
static const frange F_UNIT_OPEN = {0, 1, false, true}; /* [0, 1) */
static const frange F_UNIT_POS = {0, 1, true, false};  /* (0, 1] */

static void frange_str(const frange *r, char *buf, size_t cap)
{
    if (r->lo == -INFINITY && r->hi == INFINITY)
        snprintf(buf, cap, "a finite number");
    else if (r->hi == INFINITY)
        snprintf(buf, cap, "a number %s %g", r->lo_open ? ">" : ">=", r->lo);
    else
        snprintf(buf, cap, "a number in %c%g, %g%c", r->lo_open ? '(' : '[', r->lo, r->hi,
                 r->hi_open ? ')' : ']');
}

static bool text_float(const char *s, size_t len, const frange *r, float *out, char *why,
                       size_t cap)
{
    char e[Y_EXCERPT + 8], range[96];
    excerpt(s, len, e, sizeof e);
    frange_str(r, range, sizeof range);
    /* strtod alone would also take "inf", "nan", hex floats and leading spaces. */
    bool ok = len > 0 && strlen(s) == len, digit = false;
    for (size_t k = 0; ok && k < len; k++) {
        char ch = s[k];
        if (ch >= '0' && ch <= '9')
            digit = true;
        else if (ch != '+' && ch != '-' && ch != '.' && ch != 'e' && ch != 'E')
            ok = false;
    }
    char *end = NULL;
    double v = (ok && digit) ? strtod(s, &end) : 0.0;
    if (!ok || !digit || end != s + len) {
        snprintf(why, cap, "must be %s, got '%s'", range, e);
        return false;
    }
    bool in = isfinite(v) && fabs(v) <= FLT_MAX;
    if (in) in = r->lo_open ? v > r->lo : v >= r->lo;
    if (in) in = r->hi_open ? v < r->hi : v <= r->hi;
    if (!in) {
        snprintf(why, cap, "must be %s, got %s", range, e);
        return false;
    }
    *out = (float)v;
    return true;
}

static bool text_str(const char *s, size_t len, size_t cap_bytes, char *out, char *why, size_t cap)
{
    if (len == 0) {
        snprintf(why, cap, "must not be empty");
        return false;
    }
    if (strlen(s) != len) {
        snprintf(why, cap, "must not contain NUL bytes");
        return false;
    }
    if (len >= cap_bytes) {
        snprintf(why, cap, "is too long (%zu bytes; at most %zu)", len, cap_bytes - 1);
        return false;
    }
    memcpy(out, s, len + 1);
    return true;
}

/* ---- typed getters on tree nodes --------------------------------------------------------- */

static tt_status get_int(const ydoc *d, const ynode *n, int64_t lo, int64_t hi, int64_t *out)
{
    char why[256], b[Y_EXCERPT + 32];
    if (n->kind != Y_SCALAR || !n->plain || is_null(n))
        return yerr(d, n, "must be an integer, got %s", describe(n, b, sizeof b));
    if (!text_int(n->str, n->len, lo, hi, out, why, sizeof why)) return yerr(d, n, "%s", why);
    return TT_OK;
}

static tt_status get_int32(const ydoc *d, const ynode *n, int lo, int hi, int *out)
{
    int64_t v;
    TT_CHECK(get_int(d, n, lo, hi, &v));
    *out = (int)v;
    return TT_OK;
}

static tt_status get_float(const ydoc *d, const ynode *n, const frange *r, float *out)
{
    char why[256], b[Y_EXCERPT + 32];
    if (n->kind != Y_SCALAR || !n->plain || is_null(n))
        return yerr(d, n, "must be a number, got %s", describe(n, b, sizeof b));
    if (!text_float(n->str, n->len, r, out, why, sizeof why)) return yerr(d, n, "%s", why);
    return TT_OK;
}

static tt_status get_bool(const ydoc *d, const ynode *n, bool *out)
{
    char b[Y_EXCERPT + 32];
    if (n->kind == Y_SCALAR && n->plain && !strcmp(n->str, "true")) {
        *out = true;
        return TT_OK;
    }
    if (n->kind == Y_SCALAR && n->plain && !strcmp(n->str, "false")) {
        *out = false;
        return TT_OK;
    }
    return yerr(d, n, "must be true or false, got %s", describe(n, b, sizeof b));
}

static tt_status get_str(const ydoc *d, const ynode *n, char *out, size_t cap)
{
    char why[256], b[Y_EXCERPT + 32];
    if (n->kind != Y_SCALAR || is_null(n))
        return yerr(d, n, "must be a string, got %s", describe(n, b, sizeof b));
    if (!text_str(n->str, n->len, cap, out, why, sizeof why)) return yerr(d, n, "%s", why);
    return TT_OK;
}

static void join(const char *const *names, int count, const char *sep, char *buf, size_t cap)
{
    buf[0] = '\0';
    for (int i = 0; i < count; i++) append(buf, cap, "%s%s", i ? sep : "", names[i]);
}

static tt_status get_enum(const ydoc *d, const ynode *n, const char *const *names, int count,
                          int *out)
{
    char b[Y_EXCERPT + 32], all[512];
    if (n->kind == Y_SCALAR && !is_null(n))
        for (int i = 0; i < count; i++)
            if (!strcmp(n->str, names[i]) && strlen(names[i]) == n->len) {
                *out = i;
                return TT_OK;
            }
    join(names, count, " | ", all, sizeof all);
    return yerr(d, n, "must be one of %s, got %s", all, describe(n, b, sizeof b));
}

static tt_status need_kind(const ydoc *d, const ynode *n, int kind)
{
    char b[Y_EXCERPT + 32];
    if (n->kind == kind) return TT_OK;
    return yerr(d, n, "must be %s, got %s", kind == Y_MAP ? "a map" : "a list",
                describe(n, b, sizeof b));
}

static const ynode *map_get(const ynode *m, const char *key)
{
    size_t kl = strlen(key);
    for (int i = 0; i + 1 < m->n; i += 2)
        if (m->items[i]->len == kl && !memcmp(m->items[i]->str, key, kl)) return m->items[i + 1];
    return NULL;
}

/* The key node of a map value, for messages about the key itself. */
static const ynode *key_of(const ynode *v)
{
    return v->parent->items[v->idx - 1];
}

/* Every key of m must be one of keys[]. */
static tt_status check_keys(const ydoc *d, const ynode *m, const char *const *keys, int count,
                            const char *takes)
{
    for (int i = 0; i + 1 < m->n; i += 2) {
        const ynode *k = m->items[i];
        bool known = false;
        for (int j = 0; j < count && !known; j++)
            known = strlen(keys[j]) == k->len && !memcmp(keys[j], k->str, k->len);
        if (!known) {
            char all[512];
            join(keys, count, ", ", all, sizeof all);
            return yerr(d, k, "unknown key; %s takes: %s", takes, all);
        }
    }
    return TT_OK;
}

/* ---- enum names -------------------------------------------------------------------------- */

static const char *const TASKS[] = {"classification", "regression", "image_to_image"};
static const char *const LOSSES[] = {"cross_entropy", "mse", "l1", "smooth_l1"};
static const char *const DATA_KINDS[] = {
    "fashion_mnist",   "idx", "hdf5", "npy", "csv", "synthetic", "fashion_denoise",
    "fashion_quality", "npz"};
static const char *const LAYER_KINDS[] = {
    "linear",  "conv2d",         "batchnorm",  "relu",    "relu6",   "sigmoid", "tanh",
    "flatten", "global_avgpool", "leaky_relu", "maxpool", "avgpool", "dropout", "residual"};
static const char *const OPTIMS[] = {"sgd", "adam", "adamw"};
static const char *const SCHEDS[] = {"constant", "step", "cosine"};
static const char *const OUTPUTS[] = {"none", "clamp_residual"};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

const char *tt_task_name(tt_task t)
{
    return (unsigned)t < (unsigned)COUNT(TASKS) ? TASKS[t] : "?";
}
const char *tt_loss_name(tt_loss_kind k)
{
    return (unsigned)k < (unsigned)COUNT(LOSSES) ? LOSSES[k] : "?";
}
const char *tt_data_kind_name(tt_data_kind k)
{
    return (unsigned)k < (unsigned)COUNT(DATA_KINDS) ? DATA_KINDS[k] : "?";
}
const char *tt_layer_kind_name(tt_layer_kind k)
{
    return (unsigned)k < (unsigned)COUNT(LAYER_KINDS) ? LAYER_KINDS[k] : "?";
}

/* ---- sections ---------------------------------------------------------------------------- */

static bool is_fashion(tt_data_kind k)
{
    return k == TT_DATA_FASHION_MNIST || k == TT_DATA_FASHION_DENOISE ||
           k == TT_DATA_FASHION_QUALITY;
}

static bool is_file_kind(tt_data_kind k)
{
    return k == TT_DATA_IDX || k == TT_DATA_HDF5 || k == TT_DATA_NPY || k == TT_DATA_CSV ||
           k == TT_DATA_NPZ;
}

static tt_status parse_files(const ydoc *d, const ynode *m, tt_data_kind kind, tt_data_files *f)
{
    TT_CHECK(need_kind(d, m, Y_MAP));
    static const char *const k_pair[] = {"inputs", "targets"};
    static const char *const k_hdf5[] = {"file", "inputs", "targets"};
    static const char *const k_csv[] = {"file", "target_column"};
    bool named = kind == TT_DATA_HDF5 || kind == TT_DATA_NPZ; /* a file and two names in it */
    const char *const *keys = named ? k_hdf5 : kind == TT_DATA_CSV ? k_csv : k_pair;
    int count = named ? 3 : 2;
    char takes[64];
    snprintf(takes, sizeof takes, "a %s file set", tt_data_kind_name(kind));
    TT_CHECK(check_keys(d, m, keys, count, takes));
    for (int i = 0; i < count; i++) {
        const ynode *v = map_get(m, keys[i]);
        if (!v) return missing(d, m, keys[i]);
        char *dst = !strcmp(keys[i], "file")      ? f->file
                    : !strcmp(keys[i], "inputs")  ? f->inputs
                    : !strcmp(keys[i], "targets") ? f->targets
                                                  : f->target_column;
        TT_CHECK(get_str(d, v, dst, TT_CONFIG_STR_MAX));
    }
    f->present = true;
    return TT_OK;
}

static tt_status parse_float_list(const ydoc *d, const ynode *l, const frange *r, float *out,
                                  int max, int *n_out)
{
    TT_CHECK(need_kind(d, l, Y_SEQ));
    if (l->n < 1 || l->n > max) return yerr(d, l, "must have 1 to %d entries, got %d", max, l->n);
    for (int i = 0; i < l->n; i++) TT_CHECK(get_float(d, l->items[i], r, &out[i]));
    *n_out = l->n;
    return TT_OK;
}

static tt_status parse_data(const ydoc *d, const ynode *m, tt_data_config *dc)
{
    static const char *const keys[] = {"kind",      "dir",     "train",     "test", "val_split",
                                       "normalize", "augment", "noise_std", "blur", "samples"};
    TT_CHECK(need_kind(d, m, Y_MAP));
    TT_CHECK(check_keys(d, m, keys, COUNT(keys), "data"));
    const ynode *v = map_get(m, "kind");
    if (!v) return missing(d, m, "kind");
    int kind = 0;
    TT_CHECK(get_enum(d, v, DATA_KINDS, COUNT(DATA_KINDS), &kind));
    dc->kind = (tt_data_kind)kind;

    /* Keys that only some kinds read: giving one to another kind is a mistake worth naming. */
    static const struct {
        const char *key;
        bool (*applies)(tt_data_kind);
        const char *which;
    } only[] = {{"dir", is_fashion, "fashion_mnist, fashion_denoise and fashion_quality"},
                {"train", is_file_kind, "idx, hdf5, npy, npz and csv"},
                {"test", is_file_kind, "idx, hdf5, npy, npz and csv"}};
    for (int i = 0; i < COUNT(only); i++)
        if ((v = map_get(m, only[i].key)) && !only[i].applies(dc->kind))
            return yerr(d, key_of(v), "only applies to data kinds %s (kind is %s)", only[i].which,
                        tt_data_kind_name(dc->kind));
    static const struct {
        const char *key;
        tt_data_kind kind;
    } only1[] = {{"noise_std", TT_DATA_FASHION_DENOISE},
                 {"blur", TT_DATA_FASHION_DENOISE},
                 {"samples", TT_DATA_SYNTHETIC}};
    for (int i = 0; i < COUNT(only1); i++)
        if ((v = map_get(m, only1[i].key)) && dc->kind != only1[i].kind)
            return yerr(d, key_of(v), "only applies to data kind %s (kind is %s)",
                        tt_data_kind_name(only1[i].kind), tt_data_kind_name(dc->kind));

    if ((v = map_get(m, "dir"))) TT_CHECK(get_str(d, v, dc->dir, sizeof dc->dir));
    if (is_file_kind(dc->kind)) {
        if (!(v = map_get(m, "train"))) return missing(d, m, "train");
        TT_CHECK(parse_files(d, v, dc->kind, &dc->train));
        if ((v = map_get(m, "test"))) TT_CHECK(parse_files(d, v, dc->kind, &dc->test));
    }
    static const frange split = {0, 0.5, false, false};
    if ((v = map_get(m, "val_split"))) TT_CHECK(get_float(d, v, &split, &dc->val_split));
    if ((v = map_get(m, "normalize"))) {
        static const char *const nk[] = {"mean", "std"};
        TT_CHECK(need_kind(d, v, Y_MAP));
        TT_CHECK(check_keys(d, v, nk, 2, "data.normalize"));
        const ynode *mean = map_get(v, "mean"), *sd = map_get(v, "std");
        if (!mean) return missing(d, v, "mean");
        if (!sd) return missing(d, v, "std");
        int nm, ns;
        TT_CHECK(parse_float_list(d, mean, &F_ANY, dc->mean, TT_CONFIG_MAX_CHANNELS, &nm));
        TT_CHECK(parse_float_list(d, sd, &F_POS, dc->std, TT_CONFIG_MAX_CHANNELS, &ns));
        if (nm != ns)
            return yerr(d, sd, "has %d entries but mean has %d; give one per channel", ns, nm);
        dc->n_norm = nm;
    }
    if ((v = map_get(m, "augment"))) {
        static const char *const ak[] = {"crop_padding", "hflip"};
        TT_CHECK(need_kind(d, v, Y_MAP));
        TT_CHECK(check_keys(d, v, ak, 2, "data.augment"));
        const ynode *a;
        if ((a = map_get(v, "crop_padding")))
            TT_CHECK(get_int32(d, a, 0, MAX_KERNEL, &dc->crop_padding));
        if ((a = map_get(v, "hflip"))) TT_CHECK(get_bool(d, a, &dc->hflip));
    }
    if ((v = map_get(m, "noise_std"))) TT_CHECK(get_float(d, v, &F_NONNEG, &dc->noise_std));
    if ((v = map_get(m, "blur"))) TT_CHECK(get_float(d, v, &F_NONNEG, &dc->blur));
    if ((v = map_get(m, "samples"))) TT_CHECK(get_int(d, v, 1, 1 << 24, &dc->samples));
    return TT_OK;
}

/* Keys each layer type takes besides "type". */
static const char *const *layer_keys(tt_layer_kind k, int *count)
{
    static const char *const lin[] = {"out_features", "bias"};
    static const char *const conv[] = {"out_channels", "kernel", "stride", "padding",
                                       "dilation",     "groups", "bias"};
    static const char *const bn[] = {"eps", "momentum"};
    static const char *const leaky[] = {"alpha"};
    static const char *const pool[] = {"kernel", "stride", "padding"};
    static const char *const drop[] = {"ratio"};
    static const char *const res[] = {"out_channels", "stride"};
    switch (k) {
    case TT_LAYER_LINEAR:
        *count = COUNT(lin);
        return lin;
    case TT_LAYER_CONV2D:
        *count = COUNT(conv);
        return conv;
    case TT_LAYER_BATCHNORM:
        *count = COUNT(bn);
        return bn;
    case TT_LAYER_LEAKY_RELU:
        *count = COUNT(leaky);
        return leaky;
    case TT_LAYER_MAXPOOL:
    case TT_LAYER_AVGPOOL:
        *count = COUNT(pool);
        return pool;
    case TT_LAYER_DROPOUT:
        *count = COUNT(drop);
        return drop;
    case TT_LAYER_RESIDUAL:
        *count = COUNT(res);
        return res;
    default:
        *count = 0;
        return NULL;
    }
}

static tt_status opt_int(const ydoc *d, const ynode *m, const char *key, int64_t lo, int64_t hi,
                         int64_t *out)
{
    const ynode *v = map_get(m, key);
    return v ? get_int(d, v, lo, hi, out) : TT_OK;
}

static tt_status req_int(const ydoc *d, const ynode *m, const char *key, int64_t lo, int64_t hi,
                         int64_t *out)
{
    const ynode *v = map_get(m, key);
    if (!v) return missing(d, m, key);
    return get_int(d, v, lo, hi, out);
}

static tt_status parse_layer(const ydoc *d, const ynode *m, tt_layer_spec *l)
{
    TT_CHECK(need_kind(d, m, Y_MAP));
    const ynode *v = map_get(m, "type");
    if (!v) return missing(d, m, "type");
    int kind = 0;
    TT_CHECK(get_enum(d, v, LAYER_KINDS, COUNT(LAYER_KINDS), &kind));
    l->kind = (tt_layer_kind)kind;
    l->line = m->line;
    l->col = m->col;
    int nk;
    const char *const *keys = layer_keys(l->kind, &nk);
    for (int i = 0; i + 1 < m->n; i += 2) {
        const ynode *k = m->items[i];
        bool known = k->len == 4 && !memcmp(k->str, "type", 4);
        for (int j = 0; j < nk && !known; j++)
            known = strlen(keys[j]) == k->len && !memcmp(keys[j], k->str, k->len);
        if (!known) {
            char all[256] = "";
            if (nk)
                join(keys, nk, ", ", all, sizeof all);
            else
                snprintf(all, sizeof all, "only 'type'");
            return yerr(d, k, "unknown key for layer type %s (it takes: %s)", LAYER_KINDS[l->kind],
                        all);
        }
    }
    switch (l->kind) {
    case TT_LAYER_LINEAR:
        l->bias = true;
        TT_CHECK(req_int(d, m, "out_features", 1, 1 << 20, &l->out));
        if ((v = map_get(m, "bias"))) TT_CHECK(get_bool(d, v, &l->bias));
        break;
    case TT_LAYER_CONV2D:
        l->kernel = 3;
        l->stride = 1;
        l->dilation = 1;
        l->groups = 1;
        l->bias = true;
        TT_CHECK(req_int(d, m, "out_channels", 1, MAX_DIM, &l->out));
        TT_CHECK(opt_int(d, m, "kernel", 1, MAX_KERNEL, &l->kernel));
        TT_CHECK(opt_int(d, m, "stride", 1, MAX_KERNEL, &l->stride));
        TT_CHECK(opt_int(d, m, "padding", 0, MAX_KERNEL, &l->padding));
        TT_CHECK(opt_int(d, m, "dilation", 1, MAX_KERNEL, &l->dilation));
        TT_CHECK(opt_int(d, m, "groups", 1, MAX_DIM, &l->groups));
        if ((v = map_get(m, "groups")) && l->out % l->groups)
            return yerr(d, v, "must divide out_channels (%lld), got %lld", (long long)l->out,
                        (long long)l->groups);
        if ((v = map_get(m, "bias"))) TT_CHECK(get_bool(d, v, &l->bias));
        break;
    case TT_LAYER_BATCHNORM:
        l->eps = 1e-5f;
        l->momentum = 0.1f;
        if ((v = map_get(m, "eps"))) TT_CHECK(get_float(d, v, &F_POS, &l->eps));
        if ((v = map_get(m, "momentum"))) TT_CHECK(get_float(d, v, &F_UNIT, &l->momentum));
        break;
    case TT_LAYER_LEAKY_RELU:
        l->alpha = 0.01f;
        if ((v = map_get(m, "alpha"))) TT_CHECK(get_float(d, v, &F_ANY, &l->alpha));
        break;
    case TT_LAYER_MAXPOOL:
    case TT_LAYER_AVGPOOL:
        l->kernel = 2;
        TT_CHECK(opt_int(d, m, "kernel", 1, MAX_KERNEL, &l->kernel));
        l->stride = l->kernel;
        TT_CHECK(opt_int(d, m, "stride", 1, MAX_KERNEL, &l->stride));
        TT_CHECK(opt_int(d, m, "padding", 0, MAX_KERNEL, &l->padding));
        if ((v = map_get(m, "padding")) && l->padding * 2 > l->kernel)
            return yerr(d, v, "must be at most kernel/2 (kernel is %lld), got %lld",
                        (long long)l->kernel, (long long)l->padding);
        break;
    case TT_LAYER_DROPOUT:
        l->ratio = 0.5f;
        if ((v = map_get(m, "ratio"))) TT_CHECK(get_float(d, v, &F_UNIT_OPEN, &l->ratio));
        break;
    case TT_LAYER_RESIDUAL:
        l->stride = 1;
        TT_CHECK(req_int(d, m, "out_channels", 1, MAX_DIM, &l->out));
        TT_CHECK(opt_int(d, m, "stride", 1, MAX_KERNEL, &l->stride));
        break;
    default:
        break;
    }
    return TT_OK;
}

static tt_status parse_model(const ydoc *d, const ynode *m, tt_model_config *mc)
{
    static const char *const keys[] = {"input", "layers", "output"};
    TT_CHECK(need_kind(d, m, Y_MAP));
    TT_CHECK(check_keys(d, m, keys, COUNT(keys), "model"));
    const ynode *v = map_get(m, "input");
    if (!v) return missing(d, m, "input");
    TT_CHECK(need_kind(d, v, Y_SEQ));
    if (v->n != 1 && v->n != 3)
        return yerr(d, v, "must be [C, H, W] or [F] (per sample, no batch), got %d entries", v->n);
    mc->input_ndim = v->n;
    int64_t numel = 1;
    for (int i = 0; i < v->n; i++) {
        TT_CHECK(get_int(d, v->items[i], 1, MAX_DIM, &mc->input[i]));
        numel *= mc->input[i];
        if (numel > ((int64_t)1 << 26))
            return yerr(d, v, "is too large (more than %lld values per sample)",
                        (long long)1 << 26);
    }
    const ynode *layers = map_get(m, "layers");
    if (!layers) return missing(d, m, "layers");
    TT_CHECK(need_kind(d, layers, Y_SEQ));
    if (layers->n == 0) return yerr(d, layers, "must list at least one layer");
    if (layers->n > TT_CONFIG_MAX_LAYERS)
        return yerr(d, layers->items[TT_CONFIG_MAX_LAYERS], "too many layers (at most %d)",
                    TT_CONFIG_MAX_LAYERS);
    for (int i = 0; i < layers->n; i++) TT_CHECK(parse_layer(d, layers->items[i], &mc->layers[i]));
    mc->n_layers = layers->n;
    mc->output_line = m->line;
    mc->output_col = m->col;
    if ((v = map_get(m, "output"))) {
        int o;
        TT_CHECK(get_enum(d, v, OUTPUTS, COUNT(OUTPUTS), &o));
        mc->output = (tt_model_output)o;
        mc->output_line = v->line;
        mc->output_col = v->col;
    }
    return TT_OK;
}

static tt_status parse_optimizer(const ydoc *d, const ynode *m, tt_optim_config *oc)
{
    static const char *const keys[] = {"kind",      "lr",           "momentum", "nesterov",
                                       "dampening", "weight_decay", "betas",    "eps"};
    TT_CHECK(need_kind(d, m, Y_MAP));
    TT_CHECK(check_keys(d, m, keys, COUNT(keys), "optimizer"));
    const ynode *v;
    int kind = TT_OPTIM_SGD;
    if ((v = map_get(m, "kind"))) TT_CHECK(get_enum(d, v, OPTIMS, COUNT(OPTIMS), &kind));
    *oc = tt_optim_defaults((tt_optim_kind)kind);
    static const char *const sgd_only[] = {"momentum", "nesterov", "dampening"};
    static const char *const adam_only[] = {"betas", "eps"};
    for (int i = 0; i < 3; i++)
        if ((v = map_get(m, sgd_only[i])) && kind != TT_OPTIM_SGD)
            return yerr(d, key_of(v), "only applies to kind sgd (kind is %s)", OPTIMS[kind]);
    for (int i = 0; i < 2; i++)
        if ((v = map_get(m, adam_only[i])) && kind == TT_OPTIM_SGD)
            return yerr(d, key_of(v), "only applies to kinds adam and adamw (kind is sgd)");
    if ((v = map_get(m, "lr"))) TT_CHECK(get_float(d, v, &F_POS, &oc->lr));
    if ((v = map_get(m, "momentum"))) TT_CHECK(get_float(d, v, &F_UNIT_OPEN, &oc->momentum));
    if ((v = map_get(m, "dampening"))) TT_CHECK(get_float(d, v, &F_UNIT, &oc->dampening));
    if ((v = map_get(m, "weight_decay"))) TT_CHECK(get_float(d, v, &F_NONNEG, &oc->weight_decay));
    if ((v = map_get(m, "eps"))) TT_CHECK(get_float(d, v, &F_POS, &oc->eps));
    if ((v = map_get(m, "betas"))) {
        TT_CHECK(need_kind(d, v, Y_SEQ));
        if (v->n != 2) return yerr(d, v, "must be [beta1, beta2], got %d entries", v->n);
        TT_CHECK(get_float(d, v->items[0], &F_UNIT_OPEN, &oc->beta1));
        TT_CHECK(get_float(d, v->items[1], &F_UNIT_OPEN, &oc->beta2));
    }
    if ((v = map_get(m, "nesterov"))) {
        TT_CHECK(get_bool(d, v, &oc->nesterov));
        if (oc->nesterov && (oc->momentum <= 0.0f || oc->dampening != 0.0f))
            return yerr(d, v,
                        "true needs momentum > 0 and dampening 0 (got momentum %g, "
                        "dampening %g)",
                        (double)oc->momentum, (double)oc->dampening);
    }
    return TT_OK;
}

static tt_status parse_schedule(const ydoc *d, const ynode *m, tt_schedule_config *sc)
{
    static const char *const keys[] = {"kind",    "step_epochs",   "gamma",
                                       "eta_min", "warmup_epochs", "warmup_start"};
    TT_CHECK(need_kind(d, m, Y_MAP));
    TT_CHECK(check_keys(d, m, keys, COUNT(keys), "schedule"));
    const ynode *v;
    int kind = TT_SCHED_CONSTANT;
    if ((v = map_get(m, "kind"))) TT_CHECK(get_enum(d, v, SCHEDS, COUNT(SCHEDS), &kind));
    sc->kind = (tt_sched_kind)kind;
    static const struct {
        const char *key;
        tt_sched_kind kind;
    } only[] = {
        {"step_epochs", TT_SCHED_STEP}, {"gamma", TT_SCHED_STEP}, {"eta_min", TT_SCHED_COSINE}};
    for (int i = 0; i < COUNT(only); i++)
        if ((v = map_get(m, only[i].key)) && sc->kind != only[i].kind)
            return yerr(d, key_of(v), "only applies to kind %s (kind is %s)", SCHEDS[only[i].kind],
                        SCHEDS[kind]);
    if ((v = map_get(m, "step_epochs"))) TT_CHECK(get_int32(d, v, 1, MAX_EPOCHS, &sc->step_epochs));
    if ((v = map_get(m, "gamma"))) TT_CHECK(get_float(d, v, &F_UNIT_POS, &sc->gamma));
    if ((v = map_get(m, "eta_min"))) TT_CHECK(get_float(d, v, &F_NONNEG, &sc->eta_min));
    if ((v = map_get(m, "warmup_epochs")))
        TT_CHECK(get_int32(d, v, 0, MAX_EPOCHS, &sc->warmup_epochs));
    if ((v = map_get(m, "warmup_start"))) TT_CHECK(get_float(d, v, &F_UNIT_POS, &sc->warmup_start));
    return TT_OK;
}

static const char *const QDTYPES[] = {"u8", "s8"};
static const char *const QOBSERVERS[] = {"minmax", "moving_average"};
static const char *const BN_FOLDS[] = {"fold", "simulate"};

static tt_status parse_qat_tensor(const ydoc *d, const ynode *m, bool weight,
                                  tt_qat_tensor_config *q)
{
    static const char *const wkeys[] = {"dtype",    "symmetric",    "per_channel",
                                        "observer", "reduce_range", "averaging_constant"};
    TT_CHECK(need_kind(d, m, Y_MAP));
    /* per_channel is the last weight-only key: activations take the list without it. */
    static const char *const akeys[] = {"dtype", "symmetric", "observer", "reduce_range",
                                        "averaging_constant"};
    TT_CHECK(weight ? check_keys(d, m, wkeys, COUNT(wkeys), "qat.weight")
                    : check_keys(d, m, akeys, COUNT(akeys), "qat.activation"));
    const ynode *v;
    int e;
    if ((v = map_get(m, "dtype"))) {
        TT_CHECK(get_enum(d, v, QDTYPES, COUNT(QDTYPES), &e));
        q->is_signed = e == 1;
    }
    if ((v = map_get(m, "symmetric"))) TT_CHECK(get_bool(d, v, &q->symmetric));
    if ((v = map_get(m, "per_channel"))) TT_CHECK(get_bool(d, v, &q->per_channel));
    if ((v = map_get(m, "reduce_range"))) TT_CHECK(get_bool(d, v, &q->reduce_range));
    if ((v = map_get(m, "observer"))) {
        TT_CHECK(get_enum(d, v, QOBSERVERS, COUNT(QOBSERVERS), &e));
        q->observer = (tt_qat_observer)e;
    }
    if ((v = map_get(m, "averaging_constant"))) {
        if (q->observer != TT_QAT_OBS_MOVING_AVERAGE)
            return yerr(d, key_of(v), "only applies to observer moving_average");
        TT_CHECK(get_float(d, v, &F_UNIT_POS, &q->averaging_constant));
    }
    return TT_OK;
}

static tt_status parse_qat(const ydoc *d, const ynode *m, tt_qat_config *q)
{
    static const char *const keys[] = {"epochs_fp32",     "epochs_qat",    "lr_qat",
                                       "warm_start",      "n_calibration", "freeze_observers_epoch",
                                       "freeze_bn_epoch", "bn_fold",       "learnable_scale",
                                       "weight",          "activation"};
    TT_CHECK(need_kind(d, m, Y_MAP));
    TT_CHECK(check_keys(d, m, keys, COUNT(keys), "qat"));
    const ynode *v;
    int e;
    if ((v = map_get(m, "epochs_fp32"))) TT_CHECK(get_int32(d, v, 1, MAX_EPOCHS, &q->epochs_fp32));
    if ((v = map_get(m, "epochs_qat"))) TT_CHECK(get_int32(d, v, 1, MAX_EPOCHS, &q->epochs_qat));
    if ((v = map_get(m, "lr_qat"))) TT_CHECK(get_float(d, v, &F_POS, &q->lr_qat));
    if ((v = map_get(m, "warm_start")))
        TT_CHECK(get_str(d, v, q->warm_start, sizeof q->warm_start));
    if ((v = map_get(m, "n_calibration")))
        TT_CHECK(get_int32(d, v, 0, 10000000, &q->n_calibration));
    if ((v = map_get(m, "freeze_observers_epoch")))
        TT_CHECK(get_int32(d, v, 0, MAX_EPOCHS, &q->freeze_observers_epoch));
    if ((v = map_get(m, "freeze_bn_epoch")))
        TT_CHECK(get_int32(d, v, 0, MAX_EPOCHS, &q->freeze_bn_epoch));
    if ((v = map_get(m, "bn_fold"))) {
        TT_CHECK(get_enum(d, v, BN_FOLDS, COUNT(BN_FOLDS), &e));
        q->bn_fold = (tt_bn_fold)e;
    }
    if ((v = map_get(m, "learnable_scale"))) TT_CHECK(get_bool(d, v, &q->learnable_scale));
    if ((v = map_get(m, "weight"))) TT_CHECK(parse_qat_tensor(d, v, true, &q->weight));
    if ((v = map_get(m, "activation"))) TT_CHECK(parse_qat_tensor(d, v, false, &q->activation));
    if (q->n_calibration == 0 && q->learnable_scale)
        return yerr(d, map_get(m, "n_calibration"),
                    "must be > 0 with learnable_scale: the learned scales start from the "
                    "calibrated ones");
    return TT_OK;
}

static bool name_ok(const char *s)
{
    if (!s[0] || s[0] == '.') return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return false;
    return true;
}

/* Default run name: the file name without directory and .yaml/.yml, made file-name safe. */
static void default_name(const char *file, char *out, size_t cap)
{
    if (file[0] == '<') { /* "<string>": no file name to use */
        snprintf(out, cap, "run");
        return;
    }
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    size_t n = strlen(base);
    if (n > 5 && !strcmp(base + n - 5, ".yaml"))
        n -= 5;
    else if (n > 4 && !strcmp(base + n - 4, ".yml"))
        n -= 4;
    if (n >= cap) n = cap - 1;
    for (size_t i = 0; i < n; i++) {
        char ch = base[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || (ch == '.' && i > 0);
        out[i] = ok ? ch : '_';
    }
    out[n] = '\0';
    if (n == 0) snprintf(out, cap, "run");
}

tt_qat_config tt_qat_defaults(void)
{
    tt_qat_config q = {.epochs_fp32 = 20,
                       .epochs_qat = 10,
                       .lr_qat = 0.0f,
                       .n_calibration = 64,
                       .freeze_observers_epoch = 4,
                       .freeze_bn_epoch = 3,
                       .bn_fold = TT_BN_FOLD_SIMULATE,
                       .learnable_scale = false};
    q.weight = (tt_qat_tensor_config){.is_signed = true,
                                      .symmetric = true,
                                      .per_channel = true,
                                      .observer = TT_QAT_OBS_MINMAX,
                                      .averaging_constant = 0.01f};
    q.activation = (tt_qat_tensor_config){.is_signed = false,
                                          .symmetric = false,
                                          .observer = TT_QAT_OBS_MOVING_AVERAGE,
                                          .averaging_constant = 0.01f};
    return q;
}

static void set_defaults(tt_config *c)
{
    c->seed = 0;
    c->threads = 0;
    c->task = TT_TASK_CLASSIFICATION;
    c->loss = TT_LOSS_CROSS_ENTROPY;
    c->optim = tt_optim_defaults(TT_OPTIM_SGD);
    c->schedule = (tt_schedule_config){.kind = TT_SCHED_CONSTANT,
                                       .step_epochs = 10,
                                       .gamma = 0.1f,
                                       .eta_min = 0.0f,
                                       .warmup_epochs = 0,
                                       .warmup_start = 0.1f};
    c->epochs = 10;
    c->batch_size = 128;
    c->grad_clip = 0.0f;
    snprintf(c->data.dir, sizeof c->data.dir, "/usr/share/datasets/fashion-mnist");
    c->data.noise_std = 0.1f;
    c->data.blur = 0.0f;
    c->data.samples = 1024;
    c->model.output = TT_OUTPUT_NONE;
    c->qat = tt_qat_defaults();
}

/* Checks that need more than one section. */
static tt_status cross_check(const ydoc *d, const ynode *root, tt_config *c)
{
    const ynode *task = map_get(root, "task"), *loss = map_get(root, "loss");
    const ynode *data = map_get(root, "data"), *model = map_get(root, "model");
    const ynode *dkind = map_get(data, "kind"), *input = map_get(model, "input");
    static const struct {
        tt_data_kind kind;
        tt_task task;
    } fixed[] = {{TT_DATA_FASHION_MNIST, TT_TASK_CLASSIFICATION},
                 {TT_DATA_FASHION_DENOISE, TT_TASK_IMAGE_TO_IMAGE},
                 {TT_DATA_FASHION_QUALITY, TT_TASK_REGRESSION}};
    for (int i = 0; i < COUNT(fixed); i++)
        if (c->data.kind == fixed[i].kind && c->task != fixed[i].task)
            return yerr(d, task ? task : dkind, "data kind %s needs task: %s (task is %s)",
                        DATA_KINDS[fixed[i].kind], TASKS[fixed[i].task], TASKS[c->task]);
    if (loss && (c->loss == TT_LOSS_CROSS_ENTROPY) != (c->task == TT_TASK_CLASSIFICATION))
        return yerr(d, loss,
                    "%s does not fit task %s (cross_entropy is for classification; "
                    "mse, l1 and smooth_l1 for the others)",
                    LOSSES[c->loss], TASKS[c->task]);
    if (c->model.output == TT_OUTPUT_CLAMP_RESIDUAL && c->task != TT_TASK_IMAGE_TO_IMAGE)
        return yerr(d, map_get(model, "output"),
                    "clamp_residual is an image_to_image head (task is %s)", TASKS[c->task]);
    if (c->model.output == TT_OUTPUT_CLAMP_RESIDUAL && c->data.n_norm)
        return yerr(d, map_get(data, "normalize"),
                    "cannot be used with model output clamp_residual, which adds the input to "
                    "the output and clamps to [0, 1]: the input must stay in pixel scale");
    if (is_fashion(c->data.kind)) {
        bool img = c->model.input_ndim == 3 && c->model.input[0] == 1 && c->model.input[1] == 28 &&
                   c->model.input[2] == 28;
        bool flat = c->model.input_ndim == 1 && c->model.input[0] == 784;
        if (!img && !flat)
            return yerr(d, input, "Fashion-MNIST samples are [1, 28, 28] (or [784])");
    }
    if (c->data.n_norm > 1 && (c->model.input_ndim != 3 || c->data.n_norm != c->model.input[0])) {
        const ynode *nm = map_get(map_get(data, "normalize"), "mean");
        return yerr(d, nm, "has %d entries; give 1 (all channels) or one per input channel (%lld)",
                    c->data.n_norm, (long long)(c->model.input_ndim == 3 ? c->model.input[0] : 1));
    }
    if ((c->data.crop_padding > 0 || c->data.hflip) && c->model.input_ndim != 3)
        return yerr(d, map_get(data, "augment"), "needs image samples (model.input [C, H, W])");
    return TT_OK;
}

static tt_status parse_root(const ydoc *d, tt_config *c)
{
    const ynode *root = d->root;
    if (!root || is_null(root))
        return tt_fail(TT_ERR_INVALID_ARG,
                       "%s:1:1: (top level): the config is empty; it must be a map with at least "
                       "data and model",
                       d->file);
    TT_CHECK(need_kind(d, root, Y_MAP));
    static const char *const keys[] = {
        "name", "seed",      "threads",  "output_dir", "task",       "data",      "model",
        "loss", "optimizer", "schedule", "epochs",     "batch_size", "grad_clip", "qat"};
    TT_CHECK(check_keys(d, root, keys, COUNT(keys), "the top level"));
    const ynode *v;
    int e;
    if ((v = map_get(root, "name"))) {
        TT_CHECK(get_str(d, v, c->name, sizeof c->name));
        if (!name_ok(c->name))
            return yerr(d, v,
                        "may only use letters, digits, '_', '-' and '.' (not first), "
                        "since it names files");
    } else {
        default_name(c->path, c->name, sizeof c->name);
    }
    if ((v = map_get(root, "seed"))) {
        int64_t s;
        TT_CHECK(get_int(d, v, 0, INT64_MAX, &s));
        c->seed = (uint64_t)s;
    }
    if ((v = map_get(root, "threads"))) TT_CHECK(get_int32(d, v, 0, MAX_THREADS, &c->threads));
    if ((v = map_get(root, "output_dir")))
        TT_CHECK(get_str(d, v, c->output_dir, sizeof c->output_dir));
    else
        snprintf(c->output_dir, sizeof c->output_dir, "runs/%s", c->name);
    if ((v = map_get(root, "task"))) {
        TT_CHECK(get_enum(d, v, TASKS, COUNT(TASKS), &e));
        c->task = (tt_task)e;
    }
    if (!(v = map_get(root, "data"))) return missing(d, root, "data");
    TT_CHECK(parse_data(d, v, &c->data));
    if (!(v = map_get(root, "model"))) return missing(d, root, "model");
    TT_CHECK(parse_model(d, v, &c->model));
    c->loss = c->task == TT_TASK_CLASSIFICATION ? TT_LOSS_CROSS_ENTROPY : TT_LOSS_MSE;
    if ((v = map_get(root, "loss"))) {
        TT_CHECK(get_enum(d, v, LOSSES, COUNT(LOSSES), &e));
        c->loss = (tt_loss_kind)e;
    }
    if ((v = map_get(root, "optimizer"))) TT_CHECK(parse_optimizer(d, v, &c->optim));
    if ((v = map_get(root, "schedule"))) TT_CHECK(parse_schedule(d, v, &c->schedule));
    if ((v = map_get(root, "epochs"))) TT_CHECK(get_int32(d, v, 1, MAX_EPOCHS, &c->epochs));
    if ((v = map_get(root, "batch_size"))) TT_CHECK(get_int32(d, v, 1, MAX_BATCH, &c->batch_size));
    if ((v = map_get(root, "grad_clip"))) TT_CHECK(get_float(d, v, &F_NONNEG, &c->grad_clip));
    if ((v = map_get(root, "qat"))) {
        TT_CHECK(parse_qat(d, v, &c->qat));
        c->has_qat = true;
        c->qat_line = v->line;
        c->qat_col = v->col;
    }
    return cross_check(d, root, c);
}

/* ---- public API -------------------------------------------------------------------------- */

void tt_config_free(tt_config *c)
{
    if (!c) return;
    free(c->text);
    free(c);
}

tt_status tt_config_parse(const char *text, size_t len, const char *display_name, tt_config **out)
{
    TT_CHECK_NULL(out, "tt_config_parse");
    *out = NULL;
    if (!text && len) return tt_fail(TT_ERR_INVALID_ARG, "tt_config_parse: text is NULL");
    const char *file = display_name ? display_name : "<string>";
    if (len > TT_CONFIG_MAX_BYTES)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "%s: config is %zu bytes; the limit is %d (1 MiB), is this the right file?",
                       file, len, TT_CONFIG_MAX_BYTES);
    tt_config *c = calloc(1, sizeof *c);
    if (!c) return tt_fail(TT_ERR_NOMEM, "tt_config_parse: out of memory");
    c->text = malloc(len + 1);
    if (!c->text) {
        free(c);
        return tt_fail(TT_ERR_NOMEM, "tt_config_parse: out of memory");
    }
    if (len) memcpy(c->text, text, len);
    c->text[len] = '\0';
    c->text_len = len;
    snprintf(c->path, sizeof c->path, "%s", file);
    set_defaults(c);

    ydoc d = {.file = c->path};
    tt_status st = build_tree(&d, c->text, len);
    if (st == TT_OK) st = parse_root(&d, c);
    ynode_free(d.root);
    if (st != TT_OK) {
        tt_config_free(c);
        return st;
    }
    *out = c;
    return TT_OK;
}

tt_status tt_config_load(const char *path, tt_config **out)
{
    TT_CHECK_NULL(path, "tt_config_load");
    TT_CHECK_NULL(out, "tt_config_load");
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return tt_fail(TT_ERR_IO, "%s: cannot open config file: %s", path, strerror(errno));
    /* Read at most one byte past the cap: enough to know the file is too big, without trusting
     * a size from stat (pipes, /dev/zero). */
    size_t cap = (size_t)TT_CONFIG_MAX_BYTES + 1, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return tt_fail(TT_ERR_NOMEM, "tt_config_load: out of memory");
    }
    while (n < cap) {
        size_t got = fread(buf + n, 1, cap - n, f);
        if (got == 0) break;
        n += got;
    }
    int err = ferror(f) ? errno : 0;
    fclose(f);
    tt_status st;
    if (err)
        st = tt_fail(TT_ERR_IO, "%s: cannot read config file: %s", path, strerror(err));
    else if (n > (size_t)TT_CONFIG_MAX_BYTES)
        st = tt_fail(TT_ERR_INVALID_ARG,
                     "%s: config file is over the %d-byte (1 MiB) limit; is this the right file?",
                     path, TT_CONFIG_MAX_BYTES);
    else
        st = tt_config_parse(buf, n, path, out);
    free(buf);
    return st;
}

tt_status tt_config_apply_override(tt_config *c, const char *key, const char *value)
{
    TT_CHECK_NULL(c, "tt_config_apply_override");
    TT_CHECK_NULL(key, "tt_config_apply_override");
    const char *flag = !strcmp(key, "batch_size") ? "batch-size" : key;
    if (!value) return tt_fail(TT_ERR_INVALID_ARG, "--%s: needs a value", flag);
    size_t len = strlen(value);
    char why[256];
    int64_t iv;
    float fv;
    bool ok;
    if (!strcmp(key, "epochs")) {
        if ((ok = text_int(value, len, 1, MAX_EPOCHS, &iv, why, sizeof why))) {
            c->epochs = (int)iv;
            c->overrides |= TT_CONFIG_OV_EPOCHS;
        }
    } else if (!strcmp(key, "seed")) {
        if ((ok = text_int(value, len, 0, INT64_MAX, &iv, why, sizeof why))) {
            c->seed = (uint64_t)iv;
            c->overrides |= TT_CONFIG_OV_SEED;
        }
    } else if (!strcmp(key, "threads")) {
        if ((ok = text_int(value, len, 0, MAX_THREADS, &iv, why, sizeof why))) {
            c->threads = (int)iv;
            c->overrides |= TT_CONFIG_OV_THREADS;
        }
    } else if (!strcmp(key, "batch_size") || !strcmp(key, "batch-size")) {
        if ((ok = text_int(value, len, 1, MAX_BATCH, &iv, why, sizeof why))) {
            c->batch_size = (int)iv;
            c->overrides |= TT_CONFIG_OV_BATCH_SIZE;
        }
    } else if (!strcmp(key, "lr")) {
        if ((ok = text_float(value, len, &F_POS, &fv, why, sizeof why))) {
            c->optim.lr = fv;
            c->overrides |= TT_CONFIG_OV_LR;
        }
    } else if (!strcmp(key, "epochs_fp32") || !strcmp(key, "epochs-fp32") ||
               !strcmp(key, "epochs_qat") || !strcmp(key, "epochs-qat")) {
        bool fp32 = strstr(key, "fp32") != NULL;
        flag = fp32 ? "epochs-fp32" : "epochs-qat";
        if ((ok = text_int(value, len, 1, MAX_EPOCHS, &iv, why, sizeof why))) {
            *(fp32 ? &c->qat.epochs_fp32 : &c->qat.epochs_qat) = (int)iv;
            c->overrides |= TT_CONFIG_OV_QAT;
        }
    } else if (!strcmp(key, "lr_qat") || !strcmp(key, "lr-qat")) {
        flag = "lr-qat";
        if ((ok = text_float(value, len, &F_POS, &fv, why, sizeof why))) {
            c->qat.lr_qat = fv;
            c->overrides |= TT_CONFIG_OV_QAT;
        }
    } else if (!strcmp(key, "warm_start") || !strcmp(key, "warm-start")) {
        flag = "warm-start";
        char tmp[TT_CONFIG_STR_MAX];
        if ((ok = text_str(value, len, sizeof tmp, tmp, why, sizeof why))) {
            memcpy(c->qat.warm_start, tmp, sizeof tmp);
            c->overrides |= TT_CONFIG_OV_QAT;
        }
    } else if (!strcmp(key, "out") || !strcmp(key, "output_dir")) {
        flag = "out";
        char tmp[TT_CONFIG_STR_MAX];
        if ((ok = text_str(value, len, sizeof tmp, tmp, why, sizeof why))) {
            memcpy(c->output_dir, tmp, sizeof tmp);
            c->overrides |= TT_CONFIG_OV_OUT;
        }
    } else {
        char e[Y_EXCERPT + 8];
        excerpt(key, strlen(key), e, sizeof e);
        return tt_fail(TT_ERR_INVALID_ARG,
                       "--%s: not a setting that can be overridden (epochs, seed, out, threads, "
                       "batch-size, lr, epochs-fp32, epochs-qat, lr-qat, warm-start)",
                       e);
    }
    if (!ok) return tt_fail(TT_ERR_INVALID_ARG, "--%s: %s", flag, why);
    return TT_OK;
}
