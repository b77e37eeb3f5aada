/* IDX reader over zlib's gz* API, which reads gzip and plain files alike. */
#include <errno.h>
#include <string.h>
#include <zlib.h>
#include "autograd/internal.h"
#include "tinytrain/idx.h"

static tt_status read_exact(gzFile f, void *buf, size_t n, const char *path, const char *what)
{
    unsigned char *p = buf;
    while (n > 0) {
        unsigned chunk = n > (1u << 30) ? (1u << 30) : (unsigned)n;
        int got = gzread(f, p, chunk);
        if (got < 0) {
            int zerr;
            const char *msg = gzerror(f, &zerr);
            return tt_fail(TT_ERR_FORMAT, "%s: corrupt compressed data while reading the %s (%s)",
                           path, what, msg);
        }
        if (got == 0)
            return tt_fail(TT_ERR_FORMAT, "%s: file ends early while reading the %s (truncated?)",
                           path, what);
        p += got;
        n -= (size_t)got;
    }
    return TT_OK;
}

static tt_status parse_header(gzFile f, const char *path, int *ndim, int64_t *dims)
{
    unsigned char magic[4];
    TT_CHECK(read_exact(f, magic, 4, path, "header"));
    if (magic[0] != 0 || magic[1] != 0)
        return tt_fail(TT_ERR_FORMAT, "%s: not an IDX file (magic %02x %02x %02x %02x)", path,
                       magic[0], magic[1], magic[2], magic[3]);
    if (magic[2] != 0x08)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "%s: IDX element type 0x%02x is not supported (only "
                       "unsigned bytes, 0x08)",
                       path, magic[2]);
    if (magic[3] < 1 || magic[3] > TT_MAX_DIMS)
        return tt_fail(TT_ERR_FORMAT, "%s: IDX rank %d is outside 1..%d", path, magic[3],
                       TT_MAX_DIMS);
    *ndim = magic[3];
    int64_t total = 1;
    for (int i = 0; i < *ndim; i++) {
        unsigned char b[4];
        TT_CHECK(read_exact(f, b, 4, path, "dimensions"));
        dims[i] = ((int64_t)b[0] << 24) | ((int64_t)b[1] << 16) | ((int64_t)b[2] << 8) | b[3];
        if (dims[i] == 0 || total > TT_IDX_MAX_BYTES / dims[i])
            return tt_fail(TT_ERR_FORMAT,
                           "%s: dimension %d is %lld, giving an empty or absurd "
                           "size (cap %lld bytes)",
                           path, i, (long long)dims[i], (long long)TT_IDX_MAX_BYTES);
        total *= dims[i];
    }
    return TT_OK;
}

tt_status tt_idx_load(const char *path, tt_tensor **out)
{
    TT_CHECK_NULL(out, "tt_idx_load");
    *out = NULL;
    TT_CHECK_NULL(path, "tt_idx_load");
    gzFile f = gzopen(path, "rb");
    if (!f)
        return tt_fail(TT_ERR_IO, "%s: cannot open (%s)", path,
                       errno ? strerror(errno) : "out of memory");
    int ndim = 0;
    int64_t dims[TT_MAX_DIMS];
    tt_status s = parse_header(f, path, &ndim, dims);
    tt_tensor *t = NULL;
    if (s == TT_OK) s = tt_tensor_alloc(&t, TT_U8, ndim, dims);
    if (s == TT_OK) s = read_exact(f, t->data, t->capacity, path, "data");
    if (s == TT_OK) {
        unsigned char extra;
        if (gzread(f, &extra, 1) != 0)
            s = tt_fail(TT_ERR_FORMAT,
                        "%s: trailing bytes after the %zu-byte payload; the header "
                        "and the data disagree",
                        path, t->capacity);
    }
    gzclose(f);
    if (s != TT_OK) {
        tt_tensor_free(t);
        return s;
    }
    *out = t;
    return TT_OK;
}
