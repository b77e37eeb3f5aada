/* NumPy .npy reader and writer. The reader treats every file as hostile: each length and
 * count is checked against the real file size before it is trusted, and nothing is allocated
 * until the header has been validated and the file is known to hold exactly the promised data. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "autograd/internal.h"
#include "data/atomic_file.h"
#include "data/npy_internal.h"
#include "tinytrain/npy.h"

#define NPY_MAGIC     "\x93NUMPY"
#define NPY_MAGIC_LEN 6
/* More dimensions than this in a shape tuple is garbage, not a high-rank array. */
#define NPY_MAX_PARSE_DIMS 64

static void swap_bytes(unsigned char *p, size_t n_elems, size_t esz)
{
    for (size_t i = 0; i < n_elems; i++, p += esz)
        for (size_t a = 0, b = esz - 1; a < b; a++, b--) {
            unsigned char t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

/* ---------------------------------------------------------------------------------------- */
/* Header dict parser: the subset of Python literal syntax np.save writes,
 * {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } plus either quote style,
 * arbitrary whitespace, optional trailing commas and Python 2's 'L' suffix on integers. */

typedef struct npy_meta {
    char descr[32];
    bool descr_is_list; /* structured dtype */
    bool fortran;
    int ndim;
    int64_t dims[NPY_MAX_PARSE_DIMS];
} npy_meta;

typedef struct npy_parser {
    const char *s, *end;
    const char *where;
    const char *start;
} npy_parser;

static void skip_ws(npy_parser *p)
{
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
        p->s++;
}

static tt_status parse_err(npy_parser *p, const char *what)
{
    return tt_fail(TT_ERR_FORMAT,
                   "%s: malformed header dict: %s at header offset %td; the file is not a "
                   "valid .npy (rewrite it with numpy.save)",
                   p->where, what, p->s - p->start);
}

static bool accept(npy_parser *p, char c)
{
    skip_ws(p);
    if (p->s < p->end && *p->s == c) {
        p->s++;
        return true;
    }
    return false;
}

/* A quoted string without escapes (np.save never writes any); copies up to cap-1 bytes. */
static tt_status parse_string(npy_parser *p, char *out, size_t cap)
{
    skip_ws(p);
    if (p->s >= p->end || (*p->s != '\'' && *p->s != '"'))
        return parse_err(p, "expected a quoted string");
    char q = *p->s++;
    size_t n = 0;
    while (p->s < p->end && *p->s != q) {
        if (*p->s == '\\') return parse_err(p, "escape sequences are not supported in strings");
        if (n + 1 < cap) out[n++] = *p->s;
        p->s++;
    }
    if (p->s >= p->end) return parse_err(p, "unterminated string");
    p->s++;
    out[n] = '\0';
    return TT_OK;
}

static bool match_word(npy_parser *p, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(p->end - p->s) < n || memcmp(p->s, w, n) != 0) return false;
    /* "Truex" is not True. */
    if ((size_t)(p->end - p->s) > n) {
        char c = p->s[n];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')
            return false;
    }
    p->s += n;
    return true;
}

static tt_status parse_dim(npy_parser *p, int64_t *out)
{
    skip_ws(p);
    if (p->s < p->end && *p->s == '-')
        return tt_fail(TT_ERR_FORMAT,
                       "%s: the shape has a negative dimension; the header is corrupt", p->where);
    if (p->s >= p->end || *p->s < '0' || *p->s > '9')
        return parse_err(p, "expected a non-negative integer in the shape tuple");
    int64_t v = 0;
    while (p->s < p->end && *p->s >= '0' && *p->s <= '9') {
        int d = *p->s - '0';
        if (v > (INT64_MAX - d) / 10)
            return tt_fail(TT_ERR_NOMEM,
                           "%s: a shape dimension does not fit in 64 bits; the array would "
                           "exceed the %" PRId64 "-byte tensor cap",
                           p->where, (int64_t)TT_TENSOR_MAX_BYTES);
        v = v * 10 + d;
        p->s++;
    }
    if (p->s < p->end && (*p->s == 'L' || *p->s == 'l')) p->s++;
    *out = v;
    return TT_OK;
}

static tt_status parse_shape(npy_parser *p, npy_meta *m)
{
    if (!accept(p, '(')) return parse_err(p, "'shape' must be a tuple");
    m->ndim = 0;
    if (accept(p, ')')) return TT_OK; /* () is rank 0 */
    bool trailing_comma = false;
    for (;;) {
        if (m->ndim >= NPY_MAX_PARSE_DIMS) return parse_err(p, "too many dimensions in shape");
        TT_CHECK(parse_dim(p, &m->dims[m->ndim]));
        m->ndim++;
        trailing_comma = accept(p, ',');
        if (accept(p, ')')) break;
        if (!trailing_comma) return parse_err(p, "expected ',' or ')' in the shape tuple");
    }
    /* (3) is the integer 3 in Python, not a tuple; numpy never writes it. */
    if (m->ndim == 1 && !trailing_comma) return parse_err(p, "a 1-tuple shape needs a ','");
    return TT_OK;
}

static tt_status parse_dict(const char *where, const char *hdr, size_t len, npy_meta *m)
{
    npy_parser p = {.s = hdr, .end = hdr + len, .where = where, .start = hdr};
    bool have_descr = false, have_fortran = false, have_shape = false;
    memset(m, 0, sizeof *m);
    if (!accept(&p, '{')) return parse_err(&p, "expected '{'");
    while (!accept(&p, '}')) {
        char key[32];
        TT_CHECK(parse_string(&p, key, sizeof key));
        if (!accept(&p, ':')) return parse_err(&p, "expected ':' after a key");
        skip_ws(&p);
        if (strcmp(key, "descr") == 0 && !have_descr) {
            if (p.s < p.end && *p.s == '[') {
                m->descr_is_list = true;
                /* Skip the list so the caller can report "structured dtype" rather than a
                 * parse error; brackets inside names are not worth handling. */
                int depth = 0;
                do {
                    if (*p.s == '[') depth++;
                    if (*p.s == ']') depth--;
                    p.s++;
                } while (p.s < p.end && depth > 0);
                if (depth != 0) return parse_err(&p, "unterminated descr list");
            } else {
                TT_CHECK(parse_string(&p, m->descr, sizeof m->descr));
            }
            have_descr = true;
        } else if (strcmp(key, "fortran_order") == 0 && !have_fortran) {
            if (match_word(&p, "True"))
                m->fortran = true;
            else if (match_word(&p, "False"))
                m->fortran = false;
            else
                return parse_err(&p, "'fortran_order' must be True or False");
            have_fortran = true;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            TT_CHECK(parse_shape(&p, m));
            have_shape = true;
        } else {
            return parse_err(&p, "unknown or repeated key (expected 'descr', 'fortran_order' "
                                 "and 'shape' once each)");
        }
        if (accept(&p, ',')) continue;
        if (accept(&p, '}')) break;
        return parse_err(&p, "expected ',' or '}' after a value");
    }
    skip_ws(&p);
    if (p.s != p.end) return parse_err(&p, "unexpected bytes after the closing '}'");
    if (!have_descr || !have_fortran || !have_shape)
        return parse_err(&p, "missing key (need 'descr', 'fortran_order' and 'shape')");
    return TT_OK;
}

/* ---------------------------------------------------------------------------------------- */

typedef struct npy_dtype {
    tt_dtype dt;
    size_t file_esz; /* bytes per element in the file */
    bool from_f64;   /* '<f8' narrowed to float32 */
} npy_dtype;

static tt_status map_descr(const char *where, const npy_meta *m, npy_dtype *out)
{
    static const struct {
        const char *descr;
        npy_dtype d;
    } table[] = {
        {"<f4", {TT_F32, 4, false}}, {"<f8", {TT_F32, 8, true}}, {"<i4", {TT_I32, 4, false}},
        {"<i8", {TT_I64, 8, false}}, {"|u1", {TT_U8, 1, false}}, {"<u1", {TT_U8, 1, false}},
        {">u1", {TT_U8, 1, false}},  {"|i1", {TT_I8, 1, false}}, {"<i1", {TT_I8, 1, false}},
        {">i1", {TT_I8, 1, false}},
    };
    if (m->descr_is_list)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "%s: structured dtypes are not supported; save a plain numeric array",
                       where);
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(m->descr, table[i].descr) == 0) {
            *out = table[i].d;
            return TT_OK;
        }
    if (m->descr[0] == '>')
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "%s: big-endian dtype '%s' is not supported; convert with "
                       "arr.astype(arr.dtype.newbyteorder('<'))",
                       where, m->descr);
    return tt_fail(TT_ERR_UNSUPPORTED,
                   "%s: dtype '%s' is not supported (use '<f4', '<f8', '<i4', '<i8', '|u1' or "
                   "'|i1')",
                   where, m->descr);
}

/* Round-to-nearest double -> float with overflow to +-inf made explicit: converting an
 * out-of-range double is undefined behaviour in C. 0x1.ffffffp127 is FLT_MAX plus half an
 * ulp; from there on IEEE rounding gives infinity. */
static float f64_to_f32(double v)
{
    if (v >= 0x1.ffffffp127) return (float)INFINITY;
    if (v <= -0x1.ffffffp127) return -(float)INFINITY;
    return (float)v;
}

void tt_npy_decode(const tt_npy_layout *lay, const void *src, void *dst, size_t n)
{
    if (lay->from_f64) {
        const unsigned char *s = src;
        float *d = dst;
        for (size_t i = 0; i < n; i++) {
            uint64_t u = 0;
            for (int b = 7; b >= 0; b--) u = (u << 8) | s[i * 8 + (size_t)b];
            double v;
            memcpy(&v, &u, sizeof v);
            d[i] = f64_to_f32(v);
        }
        return;
    }
    if (src != dst) memcpy(dst, src, n * lay->file_esz);
    if (lay->file_esz > 1 && !tt_npy_host_le()) swap_bytes(dst, n, lay->file_esz);
}

tt_status tt_npy_parse_preamble(const unsigned char *pre, size_t got, const char *where,
                                size_t *hdr_off, uint32_t *hlen)
{
    if (got < NPY_MAGIC_LEN || memcmp(pre, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
        return tt_fail(TT_ERR_FORMAT,
                       "%s: bad magic, not a .npy file (it must start with \\x93NUMPY)", where);
    int major = got > 6 ? pre[6] : -1, minor = got > 7 ? pre[7] : -1;
    size_t pre_len;
    if (major == 1 && minor == 0)
        pre_len = 10;
    else if ((major == 2 || major == 3) && minor == 0)
        pre_len = 12;
    else if (got < 8)
        return tt_fail(TT_ERR_FORMAT, "%s: truncated preamble (%zu bytes)", where, got);
    else
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "%s: .npy format version %d.%d is not supported (1.0, 2.0 and 3.0 are)",
                       where, major, minor);
    if (got < pre_len)
        return tt_fail(TT_ERR_FORMAT, "%s: truncated preamble (%zu bytes)", where, got);
    *hlen = pre_len == 10 ? (uint32_t)pre[8] | (uint32_t)pre[9] << 8
                          : (uint32_t)pre[8] | (uint32_t)pre[9] << 8 | (uint32_t)pre[10] << 16 |
                                (uint32_t)pre[11] << 24;
    *hdr_off = pre_len;
    return TT_OK;
}

tt_status tt_npy_parse_header(const char *hdr, size_t hlen, size_t hdr_off, const char *where,
                              tt_npy_layout *lay)
{
    memset(lay, 0, sizeof *lay);
    if (memchr(hdr, '\0', hlen))
        return tt_fail(TT_ERR_FORMAT, "%s: the header contains a NUL byte", where);
    npy_meta m;
    TT_CHECK(parse_dict(where, hdr, hlen, &m));
    npy_dtype nd = {TT_F32, 4, false};
    TT_CHECK(map_descr(where, &m, &nd));
    if (m.fortran)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "%s: fortran_order True is not supported; save "
                       "np.ascontiguousarray(arr)",
                       where);
    if (m.ndim > TT_MAX_DIMS)
        return tt_fail(TT_ERR_UNSUPPORTED, "%s: rank %d is over the maximum %d", where, m.ndim,
                       TT_MAX_DIMS);

    /* Size the data with overflow checks and compare with the cap, so that the caller can
     * check the real size before allocating anything: a 12-byte header must not cost a
     * terabyte. */
    int64_t numel = 1;
    for (int i = 0; i < m.ndim; i++) {
        int64_t d = m.dims[i];
        if (d > 0 && numel > INT64_MAX / 8 / d) {
            numel = -1;
            break;
        }
        numel *= d;
    }
    size_t tesz = tt_dtype_size(nd.dt);
    if (numel < 0 || numel > TT_TENSOR_MAX_BYTES / (int64_t)tesz)
        return tt_fail(TT_ERR_NOMEM,
                       "%s: the shape in the header needs more than the %" PRId64
                       "-byte tensor cap",
                       where, (int64_t)TT_TENSOR_MAX_BYTES);
    lay->dtype = nd.dt;
    lay->file_esz = nd.file_esz;
    lay->from_f64 = nd.from_f64;
    lay->ndim = m.ndim;
    for (int i = 0; i < m.ndim; i++) lay->dims[i] = m.dims[i];
    lay->numel = numel;
    lay->data_offset = (int64_t)hdr_off + (int64_t)hlen;
    lay->data_bytes = numel * (int64_t)nd.file_esz;
    snprintf(lay->descr, sizeof lay->descr, "%s", m.descr);
    return TT_OK;
}

static tt_status read_f64_as_f32(FILE *f, const char *where, const tt_npy_layout *lay, float *dst,
                                 int64_t n)
{
    unsigned char buf[8 * 4096];
    while (n > 0) {
        size_t k = n > 4096 ? 4096 : (size_t)n;
        if (fread(buf, 8, k, f) != k)
            return tt_fail(TT_ERR_IO, "%s: read failed in the data: %s", where,
                           ferror(f) ? strerror(errno) : "unexpected end of file");
        tt_npy_decode(lay, buf, dst, k);
        dst += k;
        n -= (int64_t)k;
    }
    return TT_OK;
}

static tt_status load_open(FILE *f, const char *path, tt_tensor **out)
{
    struct stat st;
    if (fstat(fileno(f), &st) != 0)
        return tt_fail(TT_ERR_IO, "tt_npy_load: cannot stat '%s': %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return tt_fail(TT_ERR_IO, "tt_npy_load: '%s' is not a regular file", path);
    int64_t size = (int64_t)st.st_size;
    char where[TT_NPY_WHERE_MAX];
    snprintf(where, sizeof where, "tt_npy_load: '%s'", path);

    unsigned char pre[TT_NPY_PREAMBLE_MAX];
    size_t got = fread(pre, 1, sizeof pre, f);
    size_t hdr_off;
    uint32_t hlen;
    TT_CHECK(tt_npy_parse_preamble(pre, got, where, &hdr_off, &hlen));
    if ((int64_t)hdr_off + (int64_t)hlen > size)
        return tt_fail(TT_ERR_FORMAT,
                       "%s: header length %" PRIu32 " runs past the end of the file (%" PRId64
                       " bytes); the file is truncated or corrupt",
                       where, hlen, size);
    if (hlen > TT_NPY_MAX_HEADER)
        return tt_fail(TT_ERR_FORMAT, "%s: header length %" PRIu32 " is over the %u-byte limit",
                       where, hlen, TT_NPY_MAX_HEADER);
    if (fseek(f, (long)hdr_off, SEEK_SET) != 0)
        return tt_fail(TT_ERR_IO, "%s: seek failed: %s", where, strerror(errno));
    char *hdr = malloc((size_t)hlen + 1);
    if (!hdr) return tt_fail(TT_ERR_NOMEM, "%s: out of memory", where);
    if (fread(hdr, 1, hlen, f) != hlen) {
        free(hdr);
        return tt_fail(TT_ERR_IO, "%s: cannot read the header", where);
    }
    tt_npy_layout lay;
    tt_status s = tt_npy_parse_header(hdr, hlen, hdr_off, where, &lay);
    free(hdr);
    TT_CHECK(s);

    /* The file must hold exactly the promised data before anything is allocated. */
    int64_t avail = size - lay.data_offset;
    if (avail < lay.data_bytes)
        return tt_fail(TT_ERR_FORMAT,
                       "%s: truncated data: the header promises %" PRId64 " bytes (%" PRId64
                       " x '%s') but only %" PRId64 " follow it",
                       where, lay.data_bytes, lay.numel, lay.descr, avail);
    if (avail > lay.data_bytes)
        return tt_fail(TT_ERR_FORMAT,
                       "%s: %" PRId64 " trailing bytes after the %" PRId64
                       "-byte data; the header does not describe the contents",
                       where, avail - lay.data_bytes, lay.data_bytes);

    int64_t one = 1;
    tt_tensor *t;
    TT_CHECK(tt_tensor_alloc(&t, lay.dtype, lay.ndim ? lay.ndim : 1, lay.ndim ? lay.dims : &one));
    if (lay.from_f64) {
        s = read_f64_as_f32(f, where, &lay, tt_tensor_f32(t), lay.numel);
    } else if (lay.numel > 0) {
        size_t n = (size_t)lay.numel;
        if (fread(t->data, lay.file_esz, n, f) != n)
            s = tt_fail(TT_ERR_IO, "%s: read failed in the data: %s", where,
                        ferror(f) ? strerror(errno) : "unexpected end of file");
        else
            tt_npy_decode(&lay, t->data, t->data, n);
    }
    if (s != TT_OK) {
        tt_tensor_free(t);
        return s;
    }
    *out = t;
    return TT_OK;
}

tt_status tt_npy_load(const char *path, tt_tensor **out)
{
    TT_CHECK_NULL(out, "tt_npy_load");
    *out = NULL;
    TT_CHECK_NULL(path, "tt_npy_load");
    FILE *f = fopen(path, "rb");
    if (!f) return tt_fail(TT_ERR_IO, "tt_npy_load: cannot open '%s': %s", path, strerror(errno));
    tt_status s = load_open(f, path, out);
    fclose(f);
    return s;
}

/* ---------------------------------------------------------------------------------------- */

static const char *descr_of(tt_dtype dt)
{
    switch (dt) {
    case TT_F32:
        return "<f4";
    case TT_I8:
        return "|i1";
    case TT_U8:
        return "|u1";
    case TT_I32:
        return "<i4";
    case TT_I64:
        return "<i8";
    }
    return NULL;
}

tt_status tt_npy_make_header(const tt_tensor *t, const char *where, unsigned char *buf, size_t *len,
                             int64_t *data_bytes)
{
    const char *descr = descr_of(t->dtype);
    if (!descr) return tt_fail(TT_ERR_UNSUPPORTED, "%s: unknown dtype %d", where, (int)t->dtype);
    if (t->shape.ndim < 0 || t->shape.ndim > TT_MAX_DIMS)
        return tt_fail(TT_ERR_SHAPE, "%s: rank %d is outside 0..%d", where, t->shape.ndim,
                       TT_MAX_DIMS);
    int64_t numel = tt_tensor_numel(t);
    if (numel < 0)
        return tt_fail(TT_ERR_SHAPE, "%s: the tensor has a negative (symbolic) dimension", where);
    if (numel > 0 && !t->data)
        return tt_fail(TT_ERR_INVALID_ARG, "%s: the tensor has no data", where);

    /* Header: the dict, padded with spaces and a final '\n' so the data starts on a 64-byte
     * boundary, as numpy writes it. Rank <= 4 keeps it far below version 1.0's 64 KiB. */
    char shape[128];
    size_t sl = 0;
    shape[sl++] = '(';
    for (int i = 0; i < t->shape.ndim; i++)
        sl += (size_t)snprintf(shape + sl, sizeof shape - sl, "%s%" PRId64, i ? ", " : "",
                               t->shape.dims[i]);
    snprintf(shape + sl, sizeof shape - sl, "%s)", t->shape.ndim == 1 ? "," : "");
    char *hdr = (char *)buf + 10;
    int hl = snprintf(hdr, TT_NPY_HEADER_BUF - 10,
                      "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
    size_t total = 10 + (size_t)hl + 1;
    size_t pad = (64 - total % 64) % 64;
    memset(hdr + hl, ' ', pad);
    hdr[(size_t)hl + pad] = '\n';
    size_t hlen = (size_t)hl + pad + 1;
    memcpy(buf, NPY_MAGIC, NPY_MAGIC_LEN);
    buf[6] = 1;
    buf[7] = 0;
    buf[8] = (unsigned char)(hlen & 0xff);
    buf[9] = (unsigned char)(hlen >> 8);
    *len = 10 + hlen;
    *data_bytes = numel * (int64_t)tt_dtype_size(t->dtype);
    return TT_OK;
}

static bool write_data(FILE *f, const tt_tensor *t, size_t numel)
{
    size_t esz = tt_dtype_size(t->dtype);
    if (numel == 0) return true;
    if (esz == 1 || tt_npy_host_le()) return fwrite(t->data, esz, numel, f) == numel;
    unsigned char buf[8 * 4096];
    const unsigned char *src = t->data;
    while (numel > 0) {
        size_t k = numel > 4096 ? 4096 : numel;
        memcpy(buf, src, k * esz);
        swap_bytes(buf, k, esz);
        if (fwrite(buf, esz, k, f) != k) return false;
        src += k * esz;
        numel -= k;
    }
    return true;
}

tt_status tt_npy_save(const char *path, const tt_tensor *t)
{
    TT_CHECK_NULL(path, "tt_npy_save");
    TT_CHECK_NULL(t, "tt_npy_save");
    char where[TT_NPY_WHERE_MAX];
    snprintf(where, sizeof where, "tt_npy_save: '%s'", path);
    unsigned char hdr[TT_NPY_HEADER_BUF];
    size_t hlen;
    int64_t data_bytes;
    TT_CHECK(tt_npy_make_header(t, where, hdr, &hlen, &data_bytes));

    tt_atomic_file af;
    TT_CHECK(tt_atomic_open(&af, path));
    /* A short write sets the stream's error flag, which tt_atomic_commit turns into an error
     * that removes the temporary file. */
    if (fwrite(hdr, 1, hlen, af.f) == hlen) write_data(af.f, t, (size_t)tt_tensor_numel(t));
    return tt_atomic_commit(&af);
}
