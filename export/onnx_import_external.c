/* External data (TensorProto data_location EXTERNAL): the location must name a regular file
 * inside the model's directory (relative, no "..", real path inside the directory's real path),
 * and offset + length must lie within it and match the tensor; the bytes count towards the
 * model's size cap and are read only when the tensor is first used. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "autograd/internal.h"
#include "export/onnx_import.h"

static tt_status parse_size(tt_imp *im, const char *name, const char *key, const char *s,
                            int64_t *v)
{
    int64_t x = 0;
    bool ok = s && *s;
    for (const char *p = s; ok && *p; p++) {
        ok = *p >= '0' && *p <= '9' && x <= (INT64_MAX - 9) / 10;
        x = x * 10 + (*p - '0');
    }
    if (!ok)
        return tt_imp_fail(im, TT_ERR_FORMAT,
                           "initializer '%.200s': external data %s '%.40s' is not a non-negative "
                           "integer",
                           name, key, s ? s : "");
    *v = x;
    return TT_OK;
}

/* The location must name a file under the model's directory: relative, no "..", and its real
 * path (symlinks resolved) inside the directory's real path. */
static tt_status ext_locate(tt_imp *im, const char *name, const char *loc, char **out,
                            int64_t *size)
{
    if (!loc || !loc[0])
        return tt_imp_fail(im, TT_ERR_FORMAT,
                           "initializer '%.200s' is stored externally but names no location", name);
    if (loc[0] == '/')
        return tt_imp_fail(im, TT_ERR_FORMAT,
                           "initializer '%.200s': external data location '%.200s' is an absolute "
                           "path; only files inside the model's directory are read",
                           name, loc);
    for (const char *p = loc; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return tt_imp_fail(im, TT_ERR_FORMAT,
                               "initializer '%.200s': external data location '%.200s' leaves the "
                               "model's directory ('..'); only files inside it are read",
                               name, loc);
        p += n + (p[n] == '/');
    }
    if (!im->dir)
        return tt_imp_fail(im, TT_ERR_UNSUPPORTED,
                           "initializer '%.200s' is stored in the external file '%.200s', which "
                           "needs the model's directory: import the model from its file",
                           name, loc);
    size_t dl = strlen(im->dir);
    char *joined = malloc(dl + strlen(loc) + 2);
    if (!joined) return tt_fail(TT_ERR_NOMEM, "%s: out of memory", im->label);
    sprintf(joined, "%s/%s", im->dir, loc);
    char *real = realpath(joined, NULL);
    int err = errno;
    free(joined);
    if (!real)
        return tt_imp_fail(im, err == ENOENT ? TT_ERR_IO : TT_ERR_IO,
                           "initializer '%.200s': external data file '%.200s' %s (looked in "
                           "%.300s)",
                           name, loc, err == ENOENT ? "is missing" : strerror(err), im->dir);
    bool inside = strcmp(im->dir, "/") == 0 || (strncmp(real, im->dir, dl) == 0 && real[dl] == '/');
    struct stat st;
    tt_status s = TT_OK;
    if (!inside)
        s = tt_imp_fail(im, TT_ERR_FORMAT,
                        "initializer '%.200s': external data file '%.200s' resolves to '%.300s', "
                        "outside the model's directory (a symlink?); refused",
                        name, loc, real);
    else if (stat(real, &st) != 0 || !S_ISREG(st.st_mode))
        s = tt_imp_fail(im, TT_ERR_IO,
                        "initializer '%.200s': external data '%.200s' is not a regular file", name,
                        loc);
    if (s != TT_OK) {
        free(real);
        return s;
    }
    *out = real;
    *size = (int64_t)st.st_size;
    return TT_OK;
}

tt_status tt_imp_ext_resolve(tt_imp *im, const char *name, const Onnx__TensorProto *t, int64_t want,
                             tt_imp_const *c)
{
    const char *loc = NULL, *off = NULL, *len = NULL;
    for (size_t i = 0; i < t->n_external_data; i++) {
        const Onnx__StringStringEntryProto *e = t->external_data[i];
        if (!e->key) continue;
        if (!strcmp(e->key, "location")) loc = e->value;
        if (!strcmp(e->key, "offset")) off = e->value;
        if (!strcmp(e->key, "length")) len = e->value;
    }
    int64_t size = 0, offset = 0, length;
    TT_CHECK(ext_locate(im, name, loc, &c->ext_path, &size));
    tt_status s = off ? parse_size(im, name, "offset", off, &offset) : TT_OK;
    length = size - (offset < size ? offset : size);
    if (s == TT_OK && len) s = parse_size(im, name, "length", len, &length);
    if (s == TT_OK && (offset > size || length > size - offset))
        s = tt_imp_fail(im, TT_ERR_FORMAT,
                        "initializer '%.200s': external data offset %lld + length %lld is beyond "
                        "the end of '%.200s' (%lld bytes)",
                        name, (long long)offset, (long long)length, loc, (long long)size);
    if (s == TT_OK && length != want)
        s = tt_imp_fail(im, TT_ERR_FORMAT,
                        "initializer '%.200s': external data holds %lld bytes; its shape and type "
                        "need %lld",
                        name, (long long)length, (long long)want);
    if (s == TT_OK && length > im->ext_budget)
        s = tt_imp_fail(im, TT_ERR_NOMEM,
                        "initializer '%.200s': external data brings the model above its size cap "
                        "(tt_onnx_import_opts.max_bytes); refused",
                        name);
    if (s != TT_OK) {
        free(c->ext_path);
        c->ext_path = NULL;
        return s;
    }
    im->ext_budget -= length;
    c->ext_offset = offset;
    return TT_OK;
}

/* The typed field that holds t's values, and how many it has. */

tt_status tt_imp_ext_read(tt_imp *im, const tt_imp_const *c, uint8_t *buf, size_t bytes)
{
    FILE *f = fopen(c->ext_path, "rb");
    if (!f)
        return tt_imp_fail(im, TT_ERR_IO, "initializer '%.200s': cannot open '%.300s': %s", c->name,
                           c->ext_path, strerror(errno));
    bool ok = fseeko(f, (off_t)c->ext_offset, SEEK_SET) == 0 && fread(buf, 1, bytes, f) == bytes;
    fclose(f);
    if (!ok)
        return tt_imp_fail(im, TT_ERR_IO,
                           "initializer '%.200s': '%.300s' is shorter than it was a moment ago "
                           "(%zu bytes at offset %lld)",
                           c->name, c->ext_path, bytes, (long long)c->ext_offset);
    return TT_OK;
}
