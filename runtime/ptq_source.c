/* The calibration array read a batch at a time, so calibrating on N samples holds one batch of
 * them, not N: an .npz member is inflated as a stream (libzip) behind its .npy header, an .h5
 * dataset is read by row hyperslabs. A second pass reopens the stream. Every batch is checked
 * for NaN/Inf before it reaches the model. */
#include <hdf5.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>
#include "autograd/internal.h"
#include "data/dataset_internal.h"
#include "data/npy_internal.h"
#include "runtime/ptq_internal.h"
#include "tinytrain/npz.h"

#define WHERE_MAX 1200

struct tt_ptq_source {
    char path[WHERE_MAX], name[TT_NAME_MAX], where[WHERE_MAX];
    bool h5;
    int64_t n, row, next; /* samples, floats per sample, next sample to read */
    /* .npz */
    zip_t *za;
    zip_uint64_t index;
    zip_file_t *zf;
    tt_npy_layout lay;
    unsigned char *buf; /* one batch of file bytes (float64 data only) */
    size_t buf_len;
    /* .h5 */
    hid_t fid, dset;
    int rank;
    hsize_t dims[TT_MAX_DIMS];
};

static bool has_ext(const char *s, const char *ext)
{
    size_t a = strlen(s), b = strlen(ext);
    return a > b && !strcmp(s + a - b, ext);
}

/* [N, sample...] against the model's per-sample shape: same rank and every non-batch dim. */
static tt_status check_shape(const tt_ptq_source *s, int ndim, const int64_t *dims,
                             const tt_shape *sample)
{
    bool ok = ndim == sample->ndim;
    for (int i = 1; ok && i < ndim; i++) ok = dims[i] == sample->dims[i];
    if (ok) return TT_OK;
    char have[128] = "[", want[128] = "[N";
    for (int i = 0; i < ndim; i++)
        snprintf(have + strlen(have), sizeof have - strlen(have), "%s%" PRId64, i ? ", " : "",
                 dims[i]);
    strcat(have, "]");
    for (int i = 1; i < sample->ndim; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), ", %" PRId64, sample->dims[i]);
    strcat(want, "]");
    return tt_fail(TT_ERR_SHAPE,
                   "%s has shape %s; the model input '%s' needs %s (N samples of the model's "
                   "input shape, already normalised as the model expects)",
                   s->where, have, s->name, want);
}

/* ---- .npz ---------------------------------------------------------------------------------- */

static tt_status zip_read_fail(const tt_ptq_source *s)
{
    zip_error_t *ze = zip_file_get_error(s->zf);
    return tt_fail(TT_ERR_FORMAT, "%s: reading failed (%s); the archive is truncated or corrupt",
                   s->where, zip_error_strerror(ze));
}

static tt_status zip_read(tt_ptq_source *s, void *dst, uint64_t n)
{
    unsigned char *p = dst;
    for (uint64_t got = 0; got < n;) {
        zip_int64_t r = zip_fread(s->zf, p + got, n - got);
        if (r < 0) return zip_read_fail(s);
        if (r == 0)
            return tt_fail(TT_ERR_FORMAT, "%s: the member ends early (truncated archive)",
                           s->where);
        got += (uint64_t)r;
    }
    return TT_OK;
}

static tt_status npz_header(tt_ptq_source *s, uint64_t size)
{
    unsigned char pre[TT_NPY_PREAMBLE_MAX];
    uint64_t first = size < 10 ? size : 10, more = 0;
    TT_CHECK(zip_read(s, pre, first));
    if (first == 10 && (pre[6] == 2 || pre[6] == 3) && pre[7] == 0 && size >= 12) {
        TT_CHECK(zip_read(s, pre + 10, 2));
        more = 2;
    }
    size_t hdr_off;
    uint32_t hlen;
    TT_CHECK(tt_npy_parse_preamble(pre, (size_t)(first + more), s->where, &hdr_off, &hlen));
    if (hlen > TT_NPY_MAX_HEADER || hdr_off + (uint64_t)hlen > size)
        return tt_fail(TT_ERR_FORMAT, "%s: header length %" PRIu32 " is corrupt", s->where, hlen);
    char *hdr = malloc((size_t)hlen + 1);
    if (!hdr) return tt_fail(TT_ERR_NOMEM, "%s: out of memory", s->where);
    tt_status st = zip_read(s, hdr, hlen);
    if (st == TT_OK) st = tt_npy_parse_header(hdr, hlen, hdr_off, s->where, &s->lay);
    free(hdr);
    TT_CHECK(st);
    if ((uint64_t)(s->lay.data_offset + s->lay.data_bytes) != size)
        return tt_fail(TT_ERR_FORMAT,
                       "%s: the member holds %" PRIu64 " bytes; its .npy header promises %" PRId64
                       " (truncated or with trailing bytes)",
                       s->where, (uint64_t)size, s->lay.data_offset + s->lay.data_bytes);
    return TT_OK;
}

/* Open the member's stream and read past the .npy header (which is checked the first time). */
static tt_status npz_start(tt_ptq_source *s, bool parse)
{
    if (s->zf) zip_fclose(s->zf);
    s->zf = zip_fopen_index(s->za, s->index, 0);
    if (!s->zf)
        return tt_fail(TT_ERR_FORMAT, "%s: cannot open the member (%s)", s->where,
                       zip_strerror(s->za));
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(s->za, s->index, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
        return tt_fail(TT_ERR_FORMAT, "%s: the zip directory does not give its size", s->where);
    if (parse) return npz_header(s, st.size);
    unsigned char skip[256];
    for (int64_t left = s->lay.data_offset; left > 0;) {
        int64_t k = left < (int64_t)sizeof skip ? left : (int64_t)sizeof skip;
        TT_CHECK(zip_read(s, skip, (uint64_t)k));
        left -= k;
    }
    return TT_OK;
}

static tt_status missing_array(const char *path, const char *name, char *const *names, int n)
{
    char list[600] = "";
    for (int i = 0; i < n && strlen(list) + 4 < sizeof list; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s'%s'", i ? ", " : "",
                 names[i]);
    return tt_fail(TT_ERR_FORMAT,
                   "%s has no array named '%s' (the model input's name); it holds %s%s. Write "
                   "the calibration samples under the model input's name (tinytrain calib "
                   "names it \"input\")",
                   path, name, n ? "" : "no arrays", list);
}

static tt_status npz_open(tt_ptq_source *s, const tt_shape *sample)
{
    /* tt_npz_open checks the archive's directory (duplicates, structure) once. */
    tt_npz *z;
    TT_CHECK(tt_npz_open(s->path, &z));
    if (!tt_npz_has(z, s->name)) {
        int n = tt_npz_count(z);
        char **names = malloc((size_t)(n ? n : 1) * sizeof *names);
        for (int i = 0; names && i < n; i++) names[i] = (char *)tt_npz_name(z, i);
        tt_status st = missing_array(s->path, s->name, names, names ? n : 0);
        free(names);
        tt_npz_close(z);
        return st;
    }
    tt_npz_close(z);
    int err = 0;
    s->za = zip_open(s->path, ZIP_RDONLY, &err);
    if (!s->za) return tt_fail(TT_ERR_IO, "%s: cannot open the archive again", s->path);
    char member[TT_NAME_MAX + 8];
    snprintf(member, sizeof member, "%s.npy", s->name);
    zip_int64_t idx = zip_name_locate(s->za, member, 0);
    if (idx < 0) idx = zip_name_locate(s->za, s->name, 0);
    if (idx < 0) return tt_fail(TT_ERR_FORMAT, "%s: member '%s' not found", s->path, member);
    s->index = (zip_uint64_t)idx;
    TT_CHECK(npz_start(s, true));
    if (s->lay.dtype != TT_F32)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "%s has dtype '%s'; calibration samples must be float32 or float64, "
                       "normalised as the model expects",
                       s->where, s->lay.descr);
    int64_t dims[TT_MAX_DIMS] = {s->lay.ndim ? s->lay.dims[0] : 1};
    int ndim = s->lay.ndim ? s->lay.ndim : 1;
    for (int i = 1; i < ndim; i++) dims[i] = s->lay.dims[i];
    TT_CHECK(check_shape(s, ndim, dims, sample));
    s->n = dims[0];
    return TT_OK;
}

static tt_status npz_read(tt_ptq_source *s, int64_t k, float *dst)
{
    size_t n = (size_t)(k * s->row);
    if (!s->lay.from_f64) {
        TT_CHECK(zip_read(s, dst, n * sizeof(float)));
        tt_npy_decode(&s->lay, dst, dst, n);
        return TT_OK;
    }
    if (s->buf_len < n * 8) {
        free(s->buf);
        s->buf_len = 0;
        if (!(s->buf = malloc(n * 8))) return tt_fail(TT_ERR_NOMEM, "%s: out of memory", s->where);
        s->buf_len = n * 8;
    }
    TT_CHECK(zip_read(s, s->buf, n * 8));
    tt_npy_decode(&s->lay, s->buf, dst, n);
    return TT_OK;
}

/* ---- .h5 ----------------------------------------------------------------------------------- */

static herr_t list_cb(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    (void)g, (void)info;
    char **acc = data;
    size_t have = *acc ? strlen(*acc) : 0;
    if (have > 500) return 0;
    char *n = realloc(*acc, have + strlen(name) + 5);
    if (!n) return -1;
    snprintf(n + have, strlen(name) + 5, "%s'%s'", have ? ", " : "", name);
    *acc = n;
    return 0;
}

static tt_status h5_missing(const tt_ptq_source *s)
{
    char *acc = NULL;
    H5Literate(s->fid, H5_INDEX_NAME, H5_ITER_INC, NULL, list_cb, &acc);
    char list[700];
    snprintf(list, sizeof list, "%s", acc ? acc : "no datasets");
    free(acc);
    return tt_fail(TT_ERR_FORMAT,
                   "%s has no dataset named '%s' (the model input's name) at its root; it holds "
                   "%s. Write the calibration samples under the model input's name (tinytrain "
                   "calib names it \"input\")",
                   s->path, s->name, list);
}

static tt_status h5_open(tt_ptq_source *s, const tt_shape *sample)
{
    if (H5Fis_hdf5(s->path) <= 0)
        return tt_fail(TT_ERR_FORMAT, "%s: not an HDF5 file (or it cannot be read)", s->path);
    s->fid = H5Fopen(s->path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (s->fid < 0) return tt_fail(TT_ERR_FORMAT, "%s: HDF5 cannot open it", s->path);
    if (H5Lexists(s->fid, s->name, H5P_DEFAULT) <= 0) return h5_missing(s);
    s->dset = H5Dopen2(s->fid, s->name, H5P_DEFAULT);
    if (s->dset < 0) return tt_fail(TT_ERR_FORMAT, "%s is not a dataset", s->where);
    hid_t type = H5Dget_type(s->dset), space = H5Dget_space(s->dset);
    H5T_class_t cls = type >= 0 ? H5Tget_class(type) : H5T_NO_CLASS;
    size_t size = type >= 0 ? H5Tget_size(type) : 0;
    s->rank = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    if (s->rank >= 1 && s->rank <= TT_MAX_DIMS) H5Sget_simple_extent_dims(space, s->dims, NULL);
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    if (cls != H5T_FLOAT || (size != 4 && size != 8))
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "%s is not float32 or float64; calibration samples must be floats, "
                       "normalised as the model expects",
                       s->where);
    if (s->rank < 1 || s->rank > TT_MAX_DIMS)
        return tt_fail(TT_ERR_SHAPE, "%s has rank %d; it must be [N, sample...] (rank 1..%d)",
                       s->where, s->rank, TT_MAX_DIMS);
    int64_t dims[TT_MAX_DIMS];
    for (int i = 0; i < s->rank; i++) dims[i] = (int64_t)s->dims[i];
    TT_CHECK(check_shape(s, s->rank, dims, sample));
    s->n = dims[0];
    return TT_OK;
}

static tt_status h5_read(tt_ptq_source *s, int64_t k, float *dst)
{
    hsize_t start[TT_MAX_DIMS] = {(hsize_t)s->next}, count[TT_MAX_DIMS] = {(hsize_t)k};
    for (int i = 1; i < s->rank; i++) count[i] = s->dims[i];
    hsize_t mdim = (hsize_t)(k * s->row);
    hid_t fs = H5Dget_space(s->dset), ms = H5Screate_simple(1, &mdim, NULL);
    herr_t e = fs < 0 || ms < 0 ? -1 : 0;
    if (e >= 0) e = H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    if (e >= 0) e = H5Dread(s->dset, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, dst);
    if (fs >= 0) H5Sclose(fs);
    if (ms >= 0) H5Sclose(ms);
    if (e < 0)
        return tt_fail(TT_ERR_FORMAT,
                       "%s: reading samples %" PRId64 "..%" PRId64 " failed; the file is "
                       "truncated or corrupt",
                       s->where, s->next, s->next + k - 1);
    return TT_OK;
}

/* ---- the interface --------------------------------------------------------------------------- */

tt_status tt_ptq_source_open(const char *path, const char *name, const tt_shape *sample,
                             tt_ptq_source **out)
{
    *out = NULL;
    bool npz = has_ext(path, ".npz"), h5 = has_ext(path, ".h5") || has_ext(path, ".hdf5");
    if (!npz && !h5)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "%s: a calibration set is an .npz or .h5 file (tinytrain calib writes "
                       "both)",
                       path);
    if (strlen(path) >= WHERE_MAX - TT_NAME_MAX - 40)
        return tt_fail(TT_ERR_INVALID_ARG, "%s: path too long", path);
    tt_ptq_source *s = calloc(1, sizeof *s);
    if (!s) return tt_fail(TT_ERR_NOMEM, "%s: out of memory", path);
    snprintf(s->path, sizeof s->path, "%s", path);
    snprintf(s->name, sizeof s->name, "%s", name);
    snprintf(s->where, sizeof s->where, "%s: array '%s'", path, name);
    s->h5 = h5;
    s->fid = s->dset = -1;
    s->row = 1;
    for (int i = 1; i < sample->ndim; i++) s->row *= sample->dims[i];
    H5E_auto2_t fn = NULL;
    void *fd = NULL;
    if (h5) {
        H5Eget_auto2(H5E_DEFAULT, &fn, &fd);
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* errors are reported as tt_fail messages */
    }
    tt_status st = h5 ? h5_open(s, sample) : npz_open(s, sample);
    if (h5) H5Eset_auto2(H5E_DEFAULT, fn, fd);
    if (st == TT_OK && s->n == 0)
        st = tt_fail(TT_ERR_STATE,
                     "%s holds 0 samples; calibration needs at least one (a few hundred is "
                     "usual: tinytrain calib CONFIG -n 256)",
                     s->where);
    if (st != TT_OK) {
        tt_ptq_source_close(s);
        return st;
    }
    *out = s;
    return TT_OK;
}

void tt_ptq_source_close(tt_ptq_source *s)
{
    if (!s) return;
    if (s->zf) zip_fclose(s->zf);
    if (s->za) zip_discard(s->za);
    if (s->dset >= 0) H5Dclose(s->dset);
    if (s->fid >= 0) H5Fclose(s->fid);
    free(s->buf);
    free(s);
}

int64_t tt_ptq_source_count(const tt_ptq_source *s)
{
    return s->n;
}

tt_status tt_ptq_source_rewind(tt_ptq_source *s)
{
    s->next = 0;
    return s->h5 || !s->zf ? TT_OK : npz_start(s, false);
}

tt_status tt_ptq_source_read(tt_ptq_source *s, int64_t k, float *dst)
{
    if (k < 0 || s->next + k > s->n)
        return tt_fail(TT_ERR_STATE, "%s: reading samples %" PRId64 "..%" PRId64 " of %" PRId64,
                       s->where, s->next, s->next + k - 1, s->n);
    H5E_auto2_t fn = NULL;
    void *fd = NULL;
    if (s->h5) {
        H5Eget_auto2(H5E_DEFAULT, &fn, &fd);
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    }
    tt_status st = s->h5 ? h5_read(s, k, dst) : npz_read(s, k, dst);
    if (s->h5) H5Eset_auto2(H5E_DEFAULT, fn, fd);
    TT_CHECK(st);
    TT_CHECK(tt_ds_check_finite(dst, k, s->row, s->next, s->where, "values"));
    s->next += k;
    return TT_OK;
}
