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
#include "tinytrain/npy.h"

#define NPY_MAGIC     "\x93NUMPY"
#define NPY_MAGIC_LEN 6
/* numpy itself refuses headers over 10000 bytes by default; a rank-4 header needs ~120. The
 * cap only bounds the header allocation, so it can be generous. */
#define NPY_MAX_HEADER (1u << 20)
/* More dimensions than this in a shape tuple is garbage, not a high-rank array. */
#define NPY_MAX_PARSE_DIMS 64

static bool host_is_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

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
    const char *path;
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
                   "tt_npy_load: '%s': malformed header dict: %s at header offset %td; the "
                   "file is not a valid .npy (rewrite it with numpy.save)",
                   p->path, what, p->s - p->start);
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
                       "tt_npy_load: '%s': the shape has a negative dimension; the header is "
                       "corrupt",
                       p->path);
    if (p->s >= p->end || *p->s < '0' || *p->s > '9')
        return parse_err(p, "expected a non-negative integer in the shape tuple");
    int64_t v = 0;
    while (p->s < p->end && *p->s >= '0' && *p->s <= '9') {
        int d = *p->s - '0';
        if (v > (INT64_MAX - d) / 10)
            return tt_fail(TT_ERR_NOMEM,
                           "tt_npy_load: '%s': a shape dimension does not fit in 64 bits; the "
                           "array would exceed the %" PRId64 "-byte tensor cap",
                           p->path, (int64_t)TT_TENSOR_MAX_BYTES);
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

static tt_status parse_header(const char *path, const char *hdr, size_t len, npy_meta *m)
{
    npy_parser p = {.s = hdr, .end = hdr + len, .path = path, .start = hdr};
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

static tt_status map_descr(const char *path, const npy_meta *m, npy_dtype *out)
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
                       "tt_npy_load: '%s': structured dtypes are not supported; save a plain "
                       "numeric array",
                       path);
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(m->descr, table[i].descr) == 0) {
            *out = table[i].d;
            return TT_OK;
        }
    if (m->descr[0] == '>')
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "tt_npy_load: '%s': big-endian dtype '%s' is not supported; convert "
                       "with arr.astype(arr.dtype.newbyteorder('<'))",
                       path, m->descr);
    return tt_fail(TT_ERR_UNSUPPORTED,
                   "tt_npy_load: '%s': dtype '%s' is not supported (use '<f4', '<f8', '<i4', "
                   "'<i8', '|u1' or '|i1')",
                   path, m->descr);
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

static tt_status read_f64_as_f32(FILE *f, const char *path, float *dst, int64_t n)
{
    unsigned char buf[8 * 4096];
    while (n > 0) {
        size_t k = n > 4096 ? 4096 : (size_t)n;
        if (fread(buf, 8, k, f) != k)
            return tt_fail(TT_ERR_IO, "tt_npy_load: '%s': read failed in the data: %s", path,
                           ferror(f) ? strerror(errno) : "unexpected end of file");
        for (size_t i = 0; i < k; i++) {
            uint64_t u = 0;
            for (int b = 7; b >= 0; b--) u = (u << 8) | buf[i * 8 + (size_t)b];
            double d;
            memcpy(&d, &u, sizeof d);
            dst[i] = f64_to_f32(d);
        }
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

    unsigned char pre[12];
    size_t got = fread(pre, 1, sizeof pre, f);
    if (got < NPY_MAGIC_LEN || memcmp(pre, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
        return tt_fail(TT_ERR_FORMAT,
                       "tt_npy_load: '%s': bad magic, not a .npy file (it must start with "
                       "\\x93NUMPY)",
                       path);
    int major = got > 6 ? pre[6] : -1, minor = got > 7 ? pre[7] : -1;
    size_t hdr_off, pre_len;
    if (major == 1 && minor == 0)
        pre_len = 10;
    else if ((major == 2 || major == 3) && minor == 0)
        pre_len = 12;
    else if (got < 8)
        return tt_fail(TT_ERR_FORMAT, "tt_npy_load: '%s': truncated preamble (%zu bytes)", path,
                       got);
    else
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "tt_npy_load: '%s': .npy format version %d.%d is not supported (1.0, "
                       "2.0 and 3.0 are)",
                       path, major, minor);
    if (got < pre_len)
        return tt_fail(TT_ERR_FORMAT, "tt_npy_load: '%s': truncated preamble (%zu bytes)", path,
                       got);
    uint32_t hlen = pre_len == 10 ? (uint32_t)pre[8] | (uint32_t)pre[9] << 8
                                  : (uint32_t)pre[8] | (uint32_t)pre[9] << 8 |
                                        (uint32_t)pre[10] << 16 | (uint32_t)pre[11] << 24;
    hdr_off = pre_len;
    if ((int64_t)hdr_off + (int64_t)hlen > size)
        return tt_fail(TT_ERR_FORMAT,
                       "tt_npy_load: '%s': header length %" PRIu32
                       " runs past the end of the file (%" PRId64 " bytes); the file is "
                       "truncated or corrupt",
                       path, hlen, size);
    if (hlen > NPY_MAX_HEADER)
        return tt_fail(TT_ERR_FORMAT,
                       "tt_npy_load: '%s': header length %" PRIu32 " is over the %u-byte limit",
                       path, hlen, NPY_MAX_HEADER);
    if (fseek(f, (long)hdr_off, SEEK_SET) != 0)
        return tt_fail(TT_ERR_IO, "tt_npy_load: '%s': seek failed: %s", path, strerror(errno));
    char *hdr = malloc((size_t)hlen + 1);
    if (!hdr) return tt_fail(TT_ERR_NOMEM, "tt_npy_load: '%s': out of memory", path);
    if (fread(hdr, 1, hlen, f) != hlen) {
        free(hdr);
        return tt_fail(TT_ERR_IO, "tt_npy_load: '%s': cannot read the header", path);
    }
    hdr[hlen] = '\0';
    npy_meta m;
    tt_status s = TT_OK;
    if (memchr(hdr, '\0', hlen))
        s = tt_fail(TT_ERR_FORMAT, "tt_npy_load: '%s': the header contains a NUL byte", path);
    else
        s = parse_header(path, hdr, hlen, &m);
    free(hdr);
    TT_CHECK(s);

    npy_dtype nd = {TT_F32, 4, false};
    TT_CHECK(map_descr(path, &m, &nd));
    if (m.fortran)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "tt_npy_load: '%s': fortran_order True is not supported; save "
                       "np.ascontiguousarray(arr)",
                       path);
    if (m.ndim > TT_MAX_DIMS)
        return tt_fail(TT_ERR_UNSUPPORTED, "tt_npy_load: '%s': rank %d is over the maximum %d",
                       path, m.ndim, TT_MAX_DIMS);

    /* Size the data with overflow checks, then compare with the cap and the real file size
     * before allocating anything: a 12-byte header must not cost a terabyte. */
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
                       "tt_npy_load: '%s': the shape in the header needs more than the "
                       "%" PRId64 "-byte tensor cap",
                       path, (int64_t)TT_TENSOR_MAX_BYTES);
    int64_t data_bytes = numel * (int64_t)nd.file_esz;
    int64_t data_off = (int64_t)hdr_off + (int64_t)hlen;
    int64_t avail = size - data_off;
    if (avail < data_bytes)
        return tt_fail(TT_ERR_FORMAT,
                       "tt_npy_load: '%s': truncated data: the header promises %" PRId64
                       " bytes (%" PRId64 " x '%s') but only %" PRId64 " follow it",
                       path, data_bytes, numel, m.descr, avail);
    if (avail > data_bytes)
        return tt_fail(TT_ERR_FORMAT,
                       "tt_npy_load: '%s': %" PRId64 " trailing bytes after the %" PRId64
                       "-byte data; the header does not describe the contents",
                       path, avail - data_bytes, data_bytes);

    int64_t one = 1;
    tt_tensor *t;
    TT_CHECK(tt_tensor_alloc(&t, nd.dt, m.ndim ? m.ndim : 1, m.ndim ? m.dims : &one));
    if (nd.from_f64) {
        s = read_f64_as_f32(f, path, tt_tensor_f32(t), numel);
    } else if (numel > 0) {
        if (fread(t->data, nd.file_esz, (size_t)numel, f) != (size_t)numel)
            s = tt_fail(TT_ERR_IO, "tt_npy_load: '%s': read failed in the data: %s", path,
                        ferror(f) ? strerror(errno) : "unexpected end of file");
        else if (nd.file_esz > 1 && !host_is_little_endian())
            swap_bytes(t->data, (size_t)numel, nd.file_esz);
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

static bool write_data(FILE *f, const tt_tensor *t, size_t numel)
{
    size_t esz = tt_dtype_size(t->dtype);
    if (numel == 0) return true;
    if (esz == 1 || host_is_little_endian()) return fwrite(t->data, esz, numel, f) == numel;
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
    const char *descr = descr_of(t->dtype);
    if (!descr)
        return tt_fail(TT_ERR_UNSUPPORTED, "tt_npy_save: '%s': unknown dtype %d", path,
                       (int)t->dtype);
    if (t->shape.ndim < 0 || t->shape.ndim > TT_MAX_DIMS)
        return tt_fail(TT_ERR_SHAPE, "tt_npy_save: '%s': rank %d is outside 0..%d", path,
                       t->shape.ndim, TT_MAX_DIMS);
    int64_t numel = tt_tensor_numel(t);
    if (numel < 0)
        return tt_fail(TT_ERR_SHAPE,
                       "tt_npy_save: '%s': the tensor has a negative (symbolic) dimension", path);
    if (numel > 0 && !t->data)
        return tt_fail(TT_ERR_INVALID_ARG, "tt_npy_save: '%s': the tensor has no data", path);

    /* Header: the dict, padded with spaces and a final '\n' so the data starts on a 64-byte
     * boundary, as numpy writes it. Rank <= 4 keeps it far below version 1.0's 64 KiB. */
    char shape[128];
    size_t sl = 0;
    shape[sl++] = '(';
    for (int i = 0; i < t->shape.ndim; i++)
        sl += (size_t)snprintf(shape + sl, sizeof shape - sl, "%s%" PRId64, i ? ", " : "",
                               t->shape.dims[i]);
    snprintf(shape + sl, sizeof shape - sl, "%s)", t->shape.ndim == 1 ? "," : "");
    char hdr[256];
    int hl = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                      descr, shape);
    size_t total = 10 + (size_t)hl + 1;
    size_t pad = (64 - total % 64) % 64;
    memset(hdr + hl, ' ', pad);
    hdr[(size_t)hl + pad] = '\n';
    size_t hlen = (size_t)hl + pad + 1;
    unsigned char pre[10] = {0x93,
                             'N',
                             'U',
                             'M',
                             'P',
                             'Y',
                             1,
                             0,
                             (unsigned char)(hlen & 0xff),
                             (unsigned char)(hlen >> 8)};

    tt_atomic_file af;
    TT_CHECK(tt_atomic_open(&af, path));
    /* A short write sets the stream's error flag, which tt_atomic_commit turns into an error
     * that removes the temporary file. */
    if (fwrite(pre, 1, sizeof pre, af.f) == sizeof pre && fwrite(hdr, 1, hlen, af.f) == hlen)
        write_data(af.f, t, (size_t)numel);
    return tt_atomic_commit(&af);
}
