/* NumPy .npz reader and writer on libzip. libzip parses and checks the zip structure (central
 * directory, local headers, Zip64, CRCs, inflate); this file decides what to trust: every
 * member's .npy bytes go through the .npy validation (npy_internal.h), and no size a member
 * declares is used for an allocation until the .npy header, the size cap and the declared
 * sizes all agree. Writing streams every member through libzip into a tt_atomic_file, so
 * neither the archive nor a member is ever held in memory. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>
#include "autograd/internal.h"
#include "data/atomic_file.h"
#include "data/npy_internal.h"
#include "tinytrain/npz.h"

#define NPY_SUFFIX     ".npy"
#define NPY_SUFFIX_LEN 4
/* Deflate cannot expand data more than 1032:1 (a 258-byte match costs at least 2 bits); a
 * member that declares more than that from its compressed size is lying. The slack covers
 * block headers of tiny streams. */
#define DEFLATE_MAX_RATIO 1032u
#define DEFLATE_SLACK     1024u
/* The names listed in a "no array named" message, at most this many bytes of them. */
#define LIST_MAX 600

struct tt_npz {
    zip_t *za;
    char *path;
    int n;
    char **names;        /* array names (member names without ".npy") */
    zip_uint64_t *index; /* the zip entry of each */
};

/* ---------------------------------------------------------------------------------------- */
/* Opening and listing */

static tt_status open_error(const char *path, int zerr, int sys_errno, const char *dup)
{
    zip_error_t ze;
    zip_error_init_with_code(&ze, zerr);
    tt_status s;
    switch (zerr) {
    case ZIP_ER_NOZIP:
        s = tt_fail(TT_ERR_FORMAT,
                    "tt_npz_open: '%s' is not a zip archive, or it is truncated (no "
                    "end-of-central-directory record); an .npz is written by numpy.savez",
                    path);
        break;
    case ZIP_ER_INCONS:
        s = tt_fail(TT_ERR_FORMAT,
                    "tt_npz_open: '%s': the zip archive is inconsistent (%s): its central "
                    "directory and member headers disagree, or it is truncated or corrupt",
                    path, zip_error_strerror(&ze));
        break;
    case ZIP_ER_EXISTS:
        s = tt_fail(TT_ERR_FORMAT,
                    "tt_npz_open: '%s': two members are both named '%s'; the archive is "
                    "ambiguous (numpy.savez never writes one)",
                    path, dup ? dup : "?");
        break;
    case ZIP_ER_MULTIDISK:
        s = tt_fail(TT_ERR_UNSUPPORTED,
                    "tt_npz_open: '%s': multi-disk zip archives are not "
                    "supported",
                    path);
        break;
    case ZIP_ER_MEMORY:
        s = tt_fail(TT_ERR_NOMEM, "tt_npz_open: '%s': out of memory reading the zip directory",
                    path);
        break;
    case ZIP_ER_OPEN:
    case ZIP_ER_READ:
    case ZIP_ER_SEEK:
    case ZIP_ER_TELL:
        s = tt_fail(TT_ERR_IO, "tt_npz_open: '%s': %s (%s)", path, zip_error_strerror(&ze),
                    strerror(sys_errno));
        break;
    default:
        s = tt_fail(TT_ERR_FORMAT, "tt_npz_open: '%s': cannot read it as a zip archive: %s", path,
                    zip_error_strerror(&ze));
    }
    zip_error_fini(&ze);
    return s;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The name libzip refused as a duplicate: reopen without the consistency checks (which are
 * what reject it) just to say which one. Sorted, so a hostile directory of 65535 entries costs
 * n log n comparisons, not n^2. */
static char *find_duplicate(const char *path)
{
    zip_t *za = zip_open(path, ZIP_RDONLY, NULL);
    if (!za) return NULL;
    char *dup = NULL;
    zip_int64_t n = zip_get_num_entries(za, 0);
    const char **names =
        n > 0 && n <= TT_NPZ_MAX_MEMBERS ? malloc((size_t)n * sizeof *names) : NULL;
    if (names) {
        zip_int64_t k = 0;
        for (zip_int64_t i = 0; i < n; i++) {
            const char *nm = zip_get_name(za, (zip_uint64_t)i, 0);
            if (nm) names[k++] = nm;
        }
        qsort(names, (size_t)k, sizeof *names, cmp_str_ptr);
        for (zip_int64_t i = 1; i < k && !dup; i++)
            if (strcmp(names[i - 1], names[i]) == 0) dup = strdup(names[i]);
        free(names);
    }
    zip_discard(za);
    return dup;
}

static tt_status list_members(tt_npz *z)
{
    zip_int64_t ne = zip_get_num_entries(z->za, 0);
    if (ne < 0) ne = 0;
    if (ne > TT_NPZ_MAX_MEMBERS)
        return tt_fail(TT_ERR_NOMEM,
                       "tt_npz_open: '%s': %" PRId64 " members, over the limit of %d; this is "
                       "not a set of named arrays",
                       z->path, (int64_t)ne, TT_NPZ_MAX_MEMBERS);
    z->names = calloc((size_t)ne + 1, sizeof *z->names);
    z->index = calloc((size_t)ne + 1, sizeof *z->index);
    if (!z->names || !z->index)
        return tt_fail(TT_ERR_NOMEM, "tt_npz_open: '%s': out of memory listing %" PRId64 " members",
                       z->path, (int64_t)ne);
    for (zip_int64_t i = 0; i < ne; i++) {
        const char *nm = zip_get_name(z->za, (zip_uint64_t)i, 0);
        if (!nm)
            return tt_fail(TT_ERR_FORMAT,
                           "tt_npz_open: '%s': member %" PRId64 " has an unreadable name: %s",
                           z->path, (int64_t)i, zip_strerror(z->za));
        size_t len = strlen(nm);
        /* Directory entries hold no data; some zip tools add them. */
        if (len > 0 && nm[len - 1] == '/') continue;
        if (len >= NPY_SUFFIX_LEN && strcmp(nm + len - NPY_SUFFIX_LEN, NPY_SUFFIX) == 0)
            len -= NPY_SUFFIX_LEN;
        char *name = malloc(len + 1);
        if (!name) return tt_fail(TT_ERR_NOMEM, "tt_npz_open: '%s': out of memory", z->path);
        memcpy(name, nm, len);
        name[len] = '\0';
        z->names[z->n] = name;
        z->index[z->n] = (zip_uint64_t)i;
        z->n++;
    }
    /* libzip already refused identical member names; "x" and "x.npy" are still one array. */
    char **sorted = malloc(((size_t)z->n + 1) * sizeof *sorted);
    if (!sorted) return tt_fail(TT_ERR_NOMEM, "tt_npz_open: '%s': out of memory", z->path);
    memcpy(sorted, z->names, (size_t)z->n * sizeof *sorted);
    qsort(sorted, (size_t)z->n, sizeof *sorted, cmp_str_ptr);
    tt_status s = TT_OK;
    for (int i = 1; i < z->n && s == TT_OK; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0)
            s = tt_fail(TT_ERR_FORMAT,
                        "tt_npz_open: '%s': two members are both array '%s' (named '%s' and "
                        "'%s.npy'); the archive is ambiguous",
                        z->path, sorted[i], sorted[i], sorted[i]);
    free(sorted);
    return s;
}

tt_status tt_npz_open(const char *path, tt_npz **out)
{
    TT_CHECK_NULL(out, "tt_npz_open");
    *out = NULL;
    TT_CHECK_NULL(path, "tt_npz_open");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tt_fail(TT_ERR_IO, "tt_npz_open: cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return tt_fail(TT_ERR_IO, "tt_npz_open: cannot stat '%s': %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return tt_fail(TT_ERR_IO, "tt_npz_open: '%s' is not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return tt_fail(TT_ERR_FORMAT, "tt_npz_open: '%s' is empty, not an .npz archive", path);
    }
    int zerr = 0;
    /* CHECKCONS: compare every local header with the central directory, refuse duplicate
     * names and trailing garbage, rather than guess which copy of the truth to use. */
    zip_t *za = zip_fdopen(fd, ZIP_CHECKCONS, &zerr);
    if (!za) {
        int e = errno;
        close(fd);
        char *dup = zerr == ZIP_ER_EXISTS ? find_duplicate(path) : NULL;
        tt_status s = open_error(path, zerr, e, dup);
        free(dup);
        return s;
    }
    tt_npz *z = calloc(1, sizeof *z);
    char *p = strdup(path);
    if (!z || !p) {
        free(z);
        free(p);
        zip_discard(za);
        return tt_fail(TT_ERR_NOMEM, "tt_npz_open: '%s': out of memory", path);
    }
    z->za = za;
    z->path = p;
    tt_status s = list_members(z);
    if (s != TT_OK) {
        tt_npz_close(z);
        return s;
    }
    *out = z;
    return TT_OK;
}

void tt_npz_close(tt_npz *z)
{
    if (!z) return;
    if (z->za) zip_discard(z->za); /* read-only: nothing to write back */
    for (int i = 0; i < z->n; i++) free(z->names[i]);
    free(z->names);
    free(z->index);
    free(z->path);
    free(z);
}

int tt_npz_count(const tt_npz *z)
{
    return z ? z->n : 0;
}

const char *tt_npz_name(const tt_npz *z, int i)
{
    return z && i >= 0 && i < z->n ? z->names[i] : NULL;
}

static int find_name(const tt_npz *z, const char *name)
{
    for (int i = 0; i < z->n; i++)
        if (strcmp(z->names[i], name) == 0) return i;
    return -1;
}

bool tt_npz_has(const tt_npz *z, const char *name)
{
    return z && name && find_name(z, name) >= 0;
}

static tt_status missing_error(const tt_npz *z, const char *name)
{
    if (z->n == 0)
        return tt_fail(TT_ERR_FORMAT,
                       "tt_npz_load: '%s': no array named '%s'; the archive has "
                       "no arrays",
                       z->path, name);
    char list[LIST_MAX + 8];
    size_t len = 0;
    int shown = 0;
    for (; shown < z->n; shown++) {
        size_t need = strlen(z->names[shown]) + 2;
        if (len + need > LIST_MAX) break;
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", shown ? ", " : "",
                                z->names[shown]);
    }
    if (shown < z->n) snprintf(list + len, sizeof list - len, "%s...", shown ? ", " : "");
    return tt_fail(TT_ERR_FORMAT, "tt_npz_load: '%s': no array named '%s'; the archive has %d: %s",
                   z->path, name, z->n, list);
}

/* ---------------------------------------------------------------------------------------- */
/* Loading one member */

/* A libzip error met while reading a member, as a status and message. */
static tt_status read_error(const char *where, zip_error_t *ze)
{
    const char *msg = zip_error_strerror(ze);
    switch (zip_error_code_zip(ze)) {
    case ZIP_ER_CRC:
        return tt_fail(TT_ERR_FORMAT, "%s: CRC mismatch (%s); the member's data is corrupt", where,
                       msg);
    case ZIP_ER_ZLIB:
    case ZIP_ER_COMPRESSED_DATA:
        return tt_fail(TT_ERR_FORMAT, "%s: corrupt deflate data (%s)", where, msg);
    case ZIP_ER_EOF:
    case ZIP_ER_INCONS:
        return tt_fail(TT_ERR_FORMAT,
                       "%s: %s; the member does not match its directory entry (truncated or "
                       "corrupt archive)",
                       where, msg);
    case ZIP_ER_COMPNOTSUPP:
    case ZIP_ER_ENCRNOTSUPP:
    case ZIP_ER_NOPASSWD:
        return tt_fail(TT_ERR_UNSUPPORTED, "%s: %s", where, msg);
    case ZIP_ER_MEMORY:
        return tt_fail(TT_ERR_NOMEM, "%s: out of memory in libzip", where);
    case ZIP_ER_READ:
    case ZIP_ER_SEEK:
    case ZIP_ER_OPEN:
        return tt_fail(TT_ERR_IO, "%s: %s", where, msg);
    default:
        return tt_fail(TT_ERR_FORMAT, "%s: %s", where, msg);
    }
}

/* Read up to n bytes (fewer only at the end of the member); *got says how many. */
static tt_status read_upto(zip_file_t *zf, const char *where, void *buf, uint64_t n, uint64_t *got)
{
    unsigned char *p = buf;
    *got = 0;
    while (*got < n) {
        zip_int64_t r = zip_fread(zf, p + *got, n - *got);
        if (r < 0) return read_error(where, zip_file_get_error(zf));
        if (r == 0) break;
        *got += (uint64_t)r;
    }
    return TT_OK;
}

/* Exactly n bytes, which the declared size promised are there. */
static tt_status read_exact(zip_file_t *zf, const char *where, void *buf, uint64_t n,
                            uint64_t declared)
{
    uint64_t got;
    TT_CHECK(read_upto(zf, where, buf, n, &got));
    if (got < n)
        return tt_fail(TT_ERR_FORMAT,
                       "%s: the member ends early: it declares %" PRIu64 " bytes but holds fewer "
                       "(truncated or corrupt archive)",
                       where, declared);
    return TT_OK;
}

static tt_status check_stat(const char *where, const zip_stat_t *st)
{
    const zip_uint64_t need = ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD;
    if ((st->valid & need) != need)
        return tt_fail(TT_ERR_FORMAT, "%s: the zip directory does not give the member's sizes",
                       where);
    if ((st->valid & ZIP_STAT_ENCRYPTION_METHOD) && st->encryption_method != ZIP_EM_NONE)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "%s: the member is encrypted; save the arrays with numpy.savez", where);
    if (st->comp_method != ZIP_CM_STORE && st->comp_method != ZIP_CM_DEFLATE)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "%s: compression method %u is not supported (only stored and deflate, "
                       "as numpy.savez and numpy.savez_compressed write them)",
                       where, (unsigned)st->comp_method);
    if (st->comp_method == ZIP_CM_STORE && st->comp_size != st->size)
        return tt_fail(TT_ERR_FORMAT,
                       "%s: a stored member of %" PRIu64 " bytes takes %" PRIu64
                       " bytes in the archive; the directory is corrupt",
                       where, (uint64_t)st->size, (uint64_t)st->comp_size);
    if (st->comp_method == ZIP_CM_DEFLATE && st->comp_size < UINT64_MAX / DEFLATE_MAX_RATIO &&
        st->size > st->comp_size * DEFLATE_MAX_RATIO + DEFLATE_SLACK)
        return tt_fail(TT_ERR_FORMAT,
                       "%s: declares %" PRIu64 " bytes inflated from %" PRIu64
                       " compressed bytes, more than deflate can produce (%u:1); a zip bomb or "
                       "a corrupt archive",
                       where, (uint64_t)st->size, (uint64_t)st->comp_size, DEFLATE_MAX_RATIO);
    return TT_OK;
}

/* The .npy preamble and header at the start of the member; *lay on success. */
static tt_status read_npy_header(zip_file_t *zf, const char *where, uint64_t declared,
                                 tt_npy_layout *lay)
{
    /* 10 bytes first: a version 1.0 header may be shorter than the 2 more a v2 preamble has. */
    unsigned char pre[TT_NPY_PREAMBLE_MAX];
    uint64_t got, more = 0;
    TT_CHECK(read_upto(zf, where, pre, declared < 10 ? declared : 10, &got));
    if (got == 10 && (pre[6] == 2 || pre[6] == 3) && pre[7] == 0 && declared >= 12)
        TT_CHECK(read_upto(zf, where, pre + 10, 2, &more));
    size_t hdr_off;
    uint32_t hlen;
    TT_CHECK(tt_npy_parse_preamble(pre, (size_t)(got + more), where, &hdr_off, &hlen));
    if ((uint64_t)hdr_off + hlen > declared)
        return tt_fail(TT_ERR_FORMAT,
                       "%s: header length %" PRIu32 " runs past the end of the member (%" PRIu64
                       " bytes); the member is truncated or corrupt",
                       where, hlen, declared);
    if (hlen > TT_NPY_MAX_HEADER)
        return tt_fail(TT_ERR_FORMAT, "%s: header length %" PRIu32 " is over the %u-byte limit",
                       where, hlen, TT_NPY_MAX_HEADER);
    char *hdr = malloc((size_t)hlen + 1);
    if (!hdr) return tt_fail(TT_ERR_NOMEM, "%s: out of memory", where);
    tt_status s = read_exact(zf, where, hdr, hlen, declared);
    if (s == TT_OK) s = tt_npy_parse_header(hdr, hlen, hdr_off, where, lay);
    free(hdr);
    return s;
}

static tt_status read_data(zip_file_t *zf, const char *where, const tt_npy_layout *lay,
                           uint64_t declared, tt_tensor *t)
{
    if (!lay->from_f64) {
        TT_CHECK(read_exact(zf, where, t->data, (uint64_t)lay->data_bytes, declared));
        tt_npy_decode(lay, t->data, t->data, (size_t)lay->numel);
        return TT_OK;
    }
    unsigned char buf[8 * 4096];
    float *dst = tt_tensor_f32(t);
    for (int64_t left = lay->numel; left > 0;) {
        size_t k = left > 4096 ? 4096 : (size_t)left;
        TT_CHECK(read_exact(zf, where, buf, 8 * (uint64_t)k, declared));
        tt_npy_decode(lay, buf, dst, k);
        dst += k;
        left -= (int64_t)k;
    }
    return TT_OK;
}

static tt_status load_member(tt_npz *z, int i, tt_tensor **out)
{
    zip_uint64_t idx = z->index[i];
    char where[TT_NPY_WHERE_MAX];
    const char *mname = zip_get_name(z->za, idx, 0);
    snprintf(where, sizeof where, "tt_npz_load: '%s' member '%s'", z->path, mname ? mname : "?");
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(z->za, idx, 0, &st) != 0) return read_error(where, zip_get_error(z->za));
    TT_CHECK(check_stat(where, &st));
    uint64_t declared = st.size;

    zip_file_t *zf = zip_fopen_index(z->za, idx, 0);
    if (!zf) return read_error(where, zip_get_error(z->za));
    tt_npy_layout lay;
    tt_tensor *t = NULL;
    tt_status s = read_npy_header(zf, where, declared, &lay);
    /* The declared size must be exactly what the header promises before anything is
     * allocated: neither a truncated member nor one with bytes the header does not describe
     * is a valid .npy, and the header has already passed the tensor size cap. */
    if (s == TT_OK) {
        uint64_t expect = (uint64_t)lay.data_offset + (uint64_t)lay.data_bytes;
        if (declared < expect)
            s = tt_fail(TT_ERR_FORMAT,
                        "%s: truncated data: the header promises %" PRId64 " bytes (%" PRId64
                        " x '%s') but the member holds only %" PRIu64 " after it",
                        where, lay.data_bytes, lay.numel, lay.descr,
                        declared - (uint64_t)lay.data_offset);
        else if (declared > expect)
            s = tt_fail(TT_ERR_FORMAT,
                        "%s: %" PRIu64 " trailing bytes after the %" PRId64
                        "-byte data; the header does not describe the contents",
                        where, declared - expect, lay.data_bytes);
    }
    if (s == TT_OK) {
        int64_t one = 1;
        s = tt_tensor_alloc(&t, lay.dtype, lay.ndim ? lay.ndim : 1, lay.ndim ? lay.dims : &one);
    }
    if (s == TT_OK) s = read_data(zf, where, &lay, declared, t);
    if (s == TT_OK) {
        /* One byte more must be the end: this also makes libzip check the CRC and the size
         * it inflated against the directory, and stops a bomb after one byte. */
        unsigned char extra;
        zip_int64_t r = zip_fread(zf, &extra, 1);
        if (r < 0)
            s = read_error(where, zip_file_get_error(zf));
        else if (r > 0)
            s = tt_fail(TT_ERR_FORMAT,
                        "%s: the member inflates to more than its declared %" PRIu64
                        " bytes; a zip bomb or a corrupt archive",
                        where, declared);
    }
    int cerr = zip_fclose(zf);
    if (s == TT_OK && cerr != 0) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, cerr);
        s = read_error(where, &ze);
        zip_error_fini(&ze);
    }
    if (s != TT_OK) {
        tt_tensor_free(t);
        return s;
    }
    *out = t;
    return TT_OK;
}

tt_status tt_npz_load(tt_npz *z, const char *name, tt_tensor **out)
{
    TT_CHECK_NULL(out, "tt_npz_load");
    *out = NULL;
    TT_CHECK_NULL(z, "tt_npz_load");
    TT_CHECK_NULL(name, "tt_npz_load");
    int i = find_name(z, name);
    if (i < 0) return missing_error(z, name);
    return load_member(z, i, out);
}

tt_status tt_npz_load_file(const char *path, const char *name, tt_tensor **out)
{
    TT_CHECK_NULL(out, "tt_npz_load_file");
    *out = NULL;
    tt_npz *z;
    TT_CHECK(tt_npz_open(path, &z));
    tt_status s = tt_npz_load(z, name, out);
    tt_npz_close(z);
    return s;
}

/* ---------------------------------------------------------------------------------------- */
/* Writing */

/* One member as a libzip read source: the .npy header, then the tensor's bytes in
 * little-endian order, produced as libzip asks for them (no copy of the tensor). */
typedef struct member_src {
    const tt_tensor *t;
    unsigned char hdr[TT_NPY_HEADER_BUF];
    uint64_t hlen, data_bytes, pos;
    zip_error_t err;
} member_src;

static void copy_data(const member_src *m, uint64_t off, unsigned char *dst, uint64_t n)
{
    const unsigned char *src = m->t->data;
    size_t esz = tt_dtype_size(m->t->dtype);
    if (esz == 1 || tt_npy_host_le()) {
        memcpy(dst, src + off, (size_t)n);
        return;
    }
    for (uint64_t k = 0; k < n; k++) {
        uint64_t e = (off + k) / esz, b = (off + k) % esz;
        dst[k] = src[e * esz + esz - 1 - b];
    }
}

static zip_int64_t member_cb(void *ud, void *data, zip_uint64_t len, zip_source_cmd_t cmd)
{
    member_src *m = ud;
    switch (cmd) {
    case ZIP_SOURCE_OPEN:
        m->pos = 0;
        return 0;
    case ZIP_SOURCE_READ: {
        uint64_t n = m->hlen + m->data_bytes - m->pos, done = 0;
        if (n > len) n = len;
        unsigned char *dst = data;
        if (m->pos < m->hlen) {
            done = m->hlen - m->pos < n ? m->hlen - m->pos : n;
            memcpy(dst, m->hdr + m->pos, (size_t)done);
        }
        if (done < n) copy_data(m, m->pos + done - m->hlen, dst + done, n - done);
        m->pos += n;
        return (zip_int64_t)n;
    }
    case ZIP_SOURCE_CLOSE:
    case ZIP_SOURCE_FREE:
        return 0;
    case ZIP_SOURCE_STAT: {
        zip_stat_t *st = ZIP_SOURCE_GET_ARGS(zip_stat_t, data, len, &m->err);
        if (!st) return -1;
        zip_stat_init(st);
        st->size = m->hlen + m->data_bytes;
        st->valid |= ZIP_STAT_SIZE; /* known up front: libzip picks Zip64 from it */
        return sizeof *st;
    }
    case ZIP_SOURCE_ERROR:
        return zip_error_to_data(&m->err, data, len);
    case ZIP_SOURCE_SUPPORTS:
        return zip_source_make_command_bitmap(ZIP_SOURCE_OPEN, ZIP_SOURCE_READ, ZIP_SOURCE_CLOSE,
                                              ZIP_SOURCE_STAT, ZIP_SOURCE_ERROR, ZIP_SOURCE_FREE,
                                              -1);
    default:
        zip_error_set(&m->err, ZIP_ER_OPNOTSUPP, 0);
        return -1;
    }
}

/* The archive as a libzip write target: a new, empty archive whose bytes go to a
 * tt_atomic_file ("<path>.tmp", fsync, rename on commit; removed on rollback). */
typedef struct writer {
    const char *path;
    tt_atomic_file af;
    zip_error_t err;
    tt_status failed; /* a tt_atomic_* failure, its message kept in msg */
    char msg[1024];
} writer;

static void writer_fail(writer *w, tt_status s, int zerr, int sys)
{
    if (w->failed == TT_OK) {
        w->failed = s;
        snprintf(w->msg, sizeof w->msg, "%s", tt_last_error());
    }
    zip_error_set(&w->err, zerr, sys);
}

static zip_int64_t writer_cb(void *ud, void *data, zip_uint64_t len, zip_source_cmd_t cmd)
{
    writer *w = ud;
    switch (cmd) {
    case ZIP_SOURCE_STAT:
        /* "No such file": libzip then starts a new archive instead of reading this one. */
        zip_error_set(&w->err, ZIP_ER_READ, ENOENT);
        return -1;
    case ZIP_SOURCE_BEGIN_WRITE: {
        tt_status s = tt_atomic_open(&w->af, w->path);
        if (s != TT_OK) {
            writer_fail(w, s, ZIP_ER_TMPOPEN, errno);
            return -1;
        }
        return 0;
    }
    case ZIP_SOURCE_WRITE:
        if (!w->af.f || fwrite(data, 1, (size_t)len, w->af.f) != len) {
            zip_error_set(&w->err, ZIP_ER_WRITE, errno);
            return -1;
        }
        return (zip_int64_t)len;
    case ZIP_SOURCE_SEEK_WRITE: {
        zip_source_args_seek_t *a = ZIP_SOURCE_GET_ARGS(zip_source_args_seek_t, data, len, &w->err);
        if (!a) return -1;
        if (!w->af.f || fseeko(w->af.f, (off_t)a->offset, a->whence) != 0) {
            zip_error_set(&w->err, ZIP_ER_SEEK, errno);
            return -1;
        }
        return 0;
    }
    case ZIP_SOURCE_TELL_WRITE: {
        off_t at = w->af.f ? ftello(w->af.f) : -1;
        if (at < 0) {
            zip_error_set(&w->err, ZIP_ER_TELL, errno);
            return -1;
        }
        return (zip_int64_t)at;
    }
    case ZIP_SOURCE_COMMIT_WRITE: {
        tt_status s = tt_atomic_commit(&w->af);
        if (s != TT_OK) {
            writer_fail(w, s, ZIP_ER_WRITE, errno);
            return -1;
        }
        return 0;
    }
    case ZIP_SOURCE_ROLLBACK_WRITE:
    case ZIP_SOURCE_FREE:
        tt_atomic_abort(&w->af);
        return 0;
    case ZIP_SOURCE_REMOVE: /* only for an empty archive, which tt_npz_save never writes */
        return 0;
    case ZIP_SOURCE_ERROR:
        return zip_error_to_data(&w->err, data, len);
    case ZIP_SOURCE_SUPPORTS:
        return ZIP_SOURCE_SUPPORTS_WRITABLE;
    default: /* the reading commands: there is nothing to read in a new archive */
        zip_error_set(&w->err, ZIP_ER_OPNOTSUPP, 0);
        return -1;
    }
}

static tt_status check_names(const char *path, int n, const char *const names[])
{
    for (int i = 0; i < n; i++) {
        if (!names[i] || !names[i][0])
            return tt_fail(TT_ERR_INVALID_ARG, "tt_npz_save: '%s': array %d has no name", path, i);
        if (strlen(names[i]) > TT_NPZ_MAX_NAME)
            return tt_fail(TT_ERR_INVALID_ARG,
                           "tt_npz_save: '%s': the name of array %d is longer than %d bytes", path,
                           i, TT_NPZ_MAX_NAME);
    }
    const char **sorted = malloc((size_t)n * sizeof *sorted);
    if (!sorted) return tt_fail(TT_ERR_NOMEM, "tt_npz_save: '%s': out of memory", path);
    memcpy(sorted, names, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_str_ptr);
    tt_status s = TT_OK;
    for (int i = 1; i < n && s == TT_OK; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0)
            s = tt_fail(TT_ERR_INVALID_ARG,
                        "tt_npz_save: '%s': two arrays are named '%s'; names must be distinct",
                        path, sorted[i]);
    free(sorted);
    return s;
}

static tt_status add_members(zip_t *za, const char *path, int n, const char *const names[],
                             member_src *m, bool compressed)
{
    for (int i = 0; i < n; i++) {
        char mname[TT_NPZ_MAX_NAME + NPY_SUFFIX_LEN + 1];
        snprintf(mname, sizeof mname, "%s" NPY_SUFFIX, names[i]);
        zip_source_t *src = zip_source_function(za, member_cb, &m[i]);
        if (!src)
            return tt_fail(TT_ERR_NOMEM, "tt_npz_save: '%s': libzip: %s", path, zip_strerror(za));
        zip_int64_t idx = zip_file_add(za, mname, src, ZIP_FL_ENC_GUESS);
        if (idx < 0) {
            zip_source_free(src);
            return tt_fail(TT_ERR_INVALID_ARG, "tt_npz_save: '%s': cannot add member '%s': %s",
                           path, mname, zip_strerror(za));
        }
        /* 1980-01-01 00:00, the timestamp numpy.savez gives every member. */
        if (zip_set_file_compression(za, (zip_uint64_t)idx,
                                     compressed ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0) != 0 ||
            zip_file_set_dostime(za, (zip_uint64_t)idx, 0, (1 << 5) | 1, 0) != 0)
            return tt_fail(TT_ERR_UNSUPPORTED, "tt_npz_save: '%s': member '%s': %s", path, mname,
                           zip_strerror(za));
    }
    return TT_OK;
}

tt_status tt_npz_save(const char *path, int n, const char *const names[],
                      const tt_tensor *const tensors[], bool compressed)
{
    TT_CHECK_NULL(path, "tt_npz_save");
    TT_CHECK_NULL(names, "tt_npz_save");
    TT_CHECK_NULL(tensors, "tt_npz_save");
    if (n < 1 || n > TT_NPZ_MAX_MEMBERS)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "tt_npz_save: '%s': %d arrays; an .npz holds 1 to %d of them", path, n,
                       TT_NPZ_MAX_MEMBERS);
    TT_CHECK(check_names(path, n, names));
    member_src *m = calloc((size_t)n, sizeof *m);
    if (!m) return tt_fail(TT_ERR_NOMEM, "tt_npz_save: '%s': out of memory", path);
    /* Every array is checked (and its header made) before the file is created. */
    tt_status s = TT_OK;
    for (int i = 0; i < n && s == TT_OK; i++) {
        char where[TT_NPY_WHERE_MAX];
        snprintf(where, sizeof where, "tt_npz_save: '%s' array '%s'", path, names[i]);
        if (!tensors[i]) {
            s = tt_fail(TT_ERR_INVALID_ARG, "%s: the tensor is NULL", where);
            break;
        }
        size_t hlen;
        int64_t data_bytes;
        s = tt_npy_make_header(tensors[i], where, m[i].hdr, &hlen, &data_bytes);
        m[i].t = tensors[i];
        m[i].hlen = hlen;
        m[i].data_bytes = (uint64_t)data_bytes;
        zip_error_init(&m[i].err);
    }
    if (s != TT_OK) {
        free(m);
        return s;
    }

    writer w = {.path = path, .failed = TT_OK};
    zip_error_init(&w.err);
    zip_error_t ze;
    zip_error_init(&ze);
    zip_t *za = NULL;
    zip_source_t *target = zip_source_function_create(writer_cb, &w, &ze);
    if (target) za = zip_open_from_source(target, ZIP_CREATE | ZIP_TRUNCATE, &ze);
    if (!za) {
        s = tt_fail(zip_error_code_zip(&ze) == ZIP_ER_MEMORY ? TT_ERR_NOMEM : TT_ERR_IO,
                    "tt_npz_save: '%s': libzip cannot start an archive: %s", path,
                    zip_error_strerror(&ze));
        if (target) zip_source_free(target);
    } else {
        s = add_members(za, path, n, names, m, compressed);
        /* zip_close does all the writing: members, directory, then commit (the rename). */
        if (s == TT_OK && zip_close(za) == 0) {
            za = NULL;
        } else if (s == TT_OK) {
            if (w.failed != TT_OK)
                s = tt_fail(w.failed, "%s", w.msg);
            else
                s = tt_fail(TT_ERR_IO,
                            "tt_npz_save: '%s': writing the archive failed: %s; the previous "
                            "file (if any) is untouched",
                            path, zip_strerror(za));
        }
        if (za) zip_discard(za); /* rolls back: the temporary is removed */
    }
    zip_error_fini(&ze);
    zip_error_fini(&w.err);
    for (int i = 0; i < n; i++) zip_error_fini(&m[i].err);
    free(m);
    return s;
}
