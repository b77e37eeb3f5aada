/* Names during import: a string hash table (ONNX value name -> handle, and the set of IR names
 * taken), and the rule that turns an ONNX name into an IR value name. The IR's own lookup is a
 * linear scan, so the import keeps its own table. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "autograd/internal.h"
#include "export/onnx_import.h"

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static size_t slot(const tt_imp_names *t, const char *key)
{
    size_t i = fnv1a(key) & (t->cap - 1);
    while (t->keys[i] && strcmp(t->keys[i], key) != 0) i = (i + 1) & (t->cap - 1);
    return i;
}

int *tt_imp_names_get(const tt_imp_names *t, const char *key)
{
    if (!t->cap) return NULL;
    size_t i = slot(t, key);
    return t->keys[i] ? &t->vals[i] : NULL;
}

static tt_status grow(tt_imp_names *t)
{
    size_t cap = t->cap ? t->cap * 2 : 64;
    tt_imp_names n = {.keys = calloc(cap, sizeof(char *)),
                      .vals = calloc(cap, sizeof(int)),
                      .cap = cap,
                      .n = t->n};
    if (!n.keys || !n.vals) {
        free(n.keys);
        free(n.vals);
        return tt_fail(TT_ERR_NOMEM, "ONNX import: out of memory for the name table");
    }
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->keys[i]) continue;
        size_t j = slot(&n, t->keys[i]);
        n.keys[j] = t->keys[i];
        n.vals[j] = t->vals[i];
    }
    free(t->keys);
    free(t->vals);
    *t = n;
    return TT_OK;
}

tt_status tt_imp_names_put(tt_imp_names *t, const char *key, int val)
{
    if (2 * (t->n + 1) > t->cap) TT_CHECK(grow(t));
    size_t i = slot(t, key);
    if (!t->keys[i]) {
        t->keys[i] = strdup(key);
        if (!t->keys[i]) return tt_fail(TT_ERR_NOMEM, "ONNX import: out of memory for a name");
        t->n++;
    }
    t->vals[i] = val;
    return TT_OK;
}

void tt_imp_names_free(tt_imp_names *t)
{
    for (size_t i = 0; i < t->cap; i++) free(t->keys[i]);
    free(t->keys);
    free(t->vals);
    memset(t, 0, sizeof *t);
}

tt_status tt_imp_fail(const tt_imp *im, tt_status code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const Onnx__NodeProto *p = im->node;
    if (!p) return tt_fail(code, "%s: %s", im->label, msg);
    const char *name = p->name && p->name[0] ? p->name : NULL;
    const char *op = p->op_type ? p->op_type : "";
    if (name) return tt_fail(code, "%s: node '%.200s' (%.64s): %s", im->label, name, op, msg);
    return tt_fail(code, "%s: node #%d (%.64s, no name): %s", im->label, im->node_index, op, msg);
}

/* IR node names leave room for the ":k" of a second or third output. */
#define IR_NAME_ROOM (TT_NAME_MAX - 4)

static bool taken(const tt_imp *im, const char *s)
{
    return tt_imp_names_get(&im->ir, s) != NULL;
}

tt_status tt_imp_ir_name(tt_imp *im, const char *want, const char *suffix, char out[TT_NAME_MAX])
{
    char base[IR_NAME_ROOM];
    size_t wl = strlen(want), sl = strlen(suffix);
    if (wl + sl < IR_NAME_ROOM - 8) {
        memcpy(base, want, wl);
        memcpy(base + wl, suffix, sl + 1);
    } else {
        /* Long names (other exporters' scoped names): a prefix and a hash of the whole, so the
         * result is the same on every import and two long names sharing a prefix differ. */
        char full_hash[12];
        snprintf(full_hash, sizeof full_hash, "~%08x", (unsigned)(fnv1a(want) ^ fnv1a(suffix)));
        int keep = IR_NAME_ROOM - 24 - (int)(sl < 12 ? sl : 12);
        snprintf(base, sizeof base, "%.*s%s%.12s", keep, want, full_hash, suffix);
    }
    snprintf(out, TT_NAME_MAX, "%s", base);
    for (int k = 2; taken(im, out); k++) {
        if (k > 1000000)
            return tt_imp_fail(im, TT_ERR_INVALID_ARG, "cannot find a free name for '%.100s'",
                               want);
        snprintf(out, TT_NAME_MAX, "%.*s_%d", IR_NAME_ROOM - 12, base, k);
    }
    return tt_imp_names_put(&im->ir, out, 0);
}

bool tt_imp_name_fits(const char *onnx_name)
{
    return strlen(onnx_name) < IR_NAME_ROOM;
}

tt_status tt_imp_value_name(tt_imp *im, const char *onnx_name, char out[TT_NAME_MAX])
{
    /* A name that fits was reserved for this value when the file was scanned (ONNX names are
     * unique), so it is used as it is. */
    if (tt_imp_name_fits(onnx_name) && onnx_name[0]) {
        snprintf(out, TT_NAME_MAX, "%s", onnx_name);
        return TT_OK;
    }
    return tt_imp_ir_name(im, onnx_name[0] ? onnx_name : "value", "", out);
}
