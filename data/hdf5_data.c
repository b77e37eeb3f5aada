/* The hdf5 kind: an inputs dataset and a targets dataset, [N, ...] each, in one HDF5 file.
 *
 * Everything is read in blocks of rows (hyperslabs of at most BLOCK_BYTES), so the read itself
 * needs bounded memory whatever the file's size. A resident data set then ends up in memory as
 * float32; a streamed one keeps the file open (tt_dataset_stream) and the batcher reads each
 * batch's rows from it, so a file larger than memory trains: only labels (4 bytes a sample)
 * and the row index (8) stay in memory. Loading still scans every float value once, so NaN/Inf
 * is reported up front with its sample index instead of in the middle of an epoch. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hdf5.h>
#include "data/dataset_internal.h"

#define BLOCK_BYTES ((int64_t)16 << 20)
/* Streamed data need not fit in memory, but a header asking for more elements than this is
 * corrupt rather than big. */
#define MAX_ELEMENTS ((int64_t)1 << 40)
/* Chunk cache per streamed dataset: random row reads from a chunked, compressed file would
 * otherwise decompress a whole chunk for every row. */
#define STREAM_CHUNK_CACHE ((size_t)64 << 20)

struct tt_dataset_stream {
    int refs;
    char path[TT_CONFIG_STR_MAX];
    hid_t file;
    hid_t dset[2]; /* inputs, float targets (-1 when the targets are labels) */
    int rank[2];
    hsize_t dims[2][TT_MAX_DIMS];
    bool u8[2];
    int64_t row_elems[2];
};

/* HDF5 prints its error stack to stderr by default; tinytrain reports errors itself. */
typedef struct h5_quiet {
    H5E_auto2_t fn;
    void *data;
} h5_quiet;

static void quiet_on(h5_quiet *q)
{
    H5Eget_auto2(H5E_DEFAULT, &q->fn, &q->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void quiet_off(const h5_quiet *q)
{
    H5Eset_auto2(H5E_DEFAULT, q->fn, q->data);
}

/* One [N, ...] dataset of the file, described. */
typedef struct h5_array {
    const char *name, *what; /* the dataset name; "inputs" / "targets" for messages */
    hid_t dset;
    int rank;
    hsize_t dims[TT_MAX_DIMS];
    int64_t idims[TT_MAX_DIMS];
    int64_t row_elems;
    H5T_class_t cls;
    size_t size;
    H5T_sign_t sign;
} h5_array;

static tt_status open_array(hid_t file, const char *path, h5_array *a)
{
    a->dset = -1;
    if (!a->name || !a->name[0])
        return tt_fail(TT_ERR_INVALID_ARG, "%s: no HDF5 dataset name given for the %s", path,
                       a->what);
    /* H5Lexists fails (rather than saying no) when a parent group is missing: both mean "no". */
    if (H5Lexists(file, a->name, H5P_DEFAULT) <= 0)
        return tt_fail(TT_ERR_FORMAT,
                       "%s: no dataset named '%s' (the %s); list the file with "
                       "h5ls -r",
                       path, a->name, a->what);
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    H5Pset_chunk_cache(dapl, 12421, STREAM_CHUNK_CACHE, 1.0);
    a->dset = H5Dopen2(file, a->name, dapl);
    H5Pclose(dapl);
    if (a->dset < 0)
        return tt_fail(TT_ERR_FORMAT, "%s: '%s' (the %s) is not a readable dataset", path, a->name,
                       a->what);
    hid_t space = H5Dget_space(a->dset);
    int rank = space >= 0 && H5Sget_simple_extent_type(space) == H5S_SIMPLE
                   ? H5Sget_simple_extent_ndims(space)
                   : 0;
    if (rank < 1 || rank > TT_MAX_DIMS) {
        if (space >= 0) H5Sclose(space);
        return tt_fail(TT_ERR_FORMAT,
                       "%s: dataset '%s' (the %s) has rank %d; it must be [N] to [N, C, H, W]",
                       path, a->name, a->what, rank);
    }
    H5Sget_simple_extent_dims(space, a->dims, NULL);
    H5Sclose(space);
    a->rank = rank;
    int64_t elems = 1;
    for (int i = 0; i < rank; i++) {
        if (a->dims[i] < 1 || a->dims[i] > (hsize_t)(MAX_ELEMENTS / elems))
            return tt_fail(TT_ERR_NOMEM,
                           "%s: dataset '%s' has dimension %d of %llu: empty, or an absurd "
                           "size (over %" PRId64 " elements)",
                           path, a->name, i, (unsigned long long)a->dims[i], MAX_ELEMENTS);
        a->idims[i] = (int64_t)a->dims[i];
        elems *= a->idims[i];
    }
    a->row_elems = elems / a->idims[0];
    hid_t type = H5Dget_type(a->dset);
    a->cls = H5Tget_class(type);
    a->size = H5Tget_size(type);
    a->sign = a->cls == H5T_INTEGER ? H5Tget_sign(type) : H5T_SGN_ERROR;
    H5Tclose(type);
    return TT_OK;
}

static bool is_u8(const h5_array *a)
{
    return a->cls == H5T_INTEGER && a->size == 1 && a->sign == H5T_SGN_NONE;
}

static bool is_float(const h5_array *a)
{
    return a->cls == H5T_FLOAT && (a->size == 4 || a->size == 8);
}

/* Rows [r0, r0 + k) of a into dst (k * row_elems values of mem_type). */
static tt_status read_block(hid_t dset, int rank, const hsize_t *dims, int64_t row_elems,
                            hid_t mem_type, int64_t r0, int64_t k, void *dst, const char *path,
                            const char *name)
{
    hsize_t start[TT_MAX_DIMS] = {(hsize_t)r0}, count[TT_MAX_DIMS] = {(hsize_t)k};
    for (int i = 1; i < rank; i++) count[i] = dims[i];
    hsize_t mdim = (hsize_t)(k * row_elems);
    hid_t fs = H5Dget_space(dset), ms = H5Screate_simple(1, &mdim, NULL);
    herr_t e = fs < 0 || ms < 0 ? -1 : 0;
    if (e >= 0) e = H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    if (e >= 0) e = H5Dread(dset, mem_type, ms, fs, H5P_DEFAULT, dst);
    if (fs >= 0) H5Sclose(fs);
    if (ms >= 0) H5Sclose(ms);
    if (e < 0)
        return tt_fail(TT_ERR_FORMAT,
                       "%s: reading rows %" PRId64 "..%" PRId64 " of dataset '%s' failed; the "
                       "file is truncated or corrupt",
                       path, r0, r0 + k - 1, name);
    return TT_OK;
}

static int64_t block_rows(int64_t row_elems, int64_t n)
{
    int64_t r = BLOCK_BYTES / (row_elems * 8);
    if (r < 1) r = 1;
    return r < n ? r : n;
}

/* Read a float array block by block: into resident (n x row_elems) when non-NULL, else into a
 * bounded scratch buffer, just to check it. uint8 data is scaled; floats are checked for
 * NaN/Inf (uint8 needs no check, and when streamed no pass at all). */
static tt_status scan_floats(const h5_array *a, const char *path, float *resident)
{
    bool u8 = is_u8(a);
    if (!resident && u8) return TT_OK;
    int64_t n = a->idims[0], step = block_rows(a->row_elems, n);
    float *scratch = NULL;
    if (!resident) {
        scratch = malloc((size_t)(step * a->row_elems) * sizeof *scratch);
        if (!scratch) return tt_fail(TT_ERR_NOMEM, "%s: out of memory", path);
    }
    tt_status s = TT_OK;
    for (int64_t r0 = 0; r0 < n && s == TT_OK; r0 += step) {
        int64_t k = n - r0 < step ? n - r0 : step;
        float *dst = resident ? resident + r0 * a->row_elems : scratch;
        s = read_block(a->dset, a->rank, a->dims, a->row_elems, H5T_NATIVE_FLOAT, r0, k, dst, path,
                       a->name);
        if (s != TT_OK) break;
        if (u8)
            for (int64_t i = 0; i < k * a->row_elems; i++) dst[i] /= 255.0f;
        else
            s = tt_ds_check_finite(dst, k, a->row_elems, r0, path, a->what);
    }
    free(scratch);
    return s;
}

static tt_status read_labels(tt_dataset *ds, const h5_array *a, const char *path)
{
    int64_t n = a->idims[0], step = block_rows(1, n);
    int64_t *buf = malloc((size_t)step * sizeof *buf);
    if (!buf) return tt_fail(TT_ERR_NOMEM, "%s: out of memory", path);
    tt_status s = TT_OK;
    for (int64_t r0 = 0; r0 < n && s == TT_OK; r0 += step) {
        int64_t k = n - r0 < step ? n - r0 : step;
        s = read_block(a->dset, a->rank, a->dims, 1, H5T_NATIVE_INT64, r0, k, buf, path, a->name);
        for (int64_t i = 0; i < k && s == TT_OK; i++) s = tt_ds_put_label(ds, r0 + i, buf[i], path);
    }
    free(buf);
    return s;
}

static void close_array(h5_array *a)
{
    if (a->dset >= 0) H5Dclose(a->dset);
    a->dset = -1;
}

static tt_status check_types(const h5_array *in, const h5_array *tg, bool labels, const char *path)
{
    if (!is_float(in) && !is_u8(in))
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "%s: dataset '%s' (the inputs) must hold float32/float64 values or "
                       "uint8 pixels",
                       path, in->name);
    if (tg->idims[0] != in->idims[0])
        return tt_fail(TT_ERR_FORMAT,
                       "%s: '%s' has %" PRId64 " samples but '%s' has %" PRId64 "; inputs and "
                       "targets must have one row per sample",
                       path, in->name, in->idims[0], tg->name, tg->idims[0]);
    if (labels) {
        if (tg->cls != H5T_INTEGER)
            return tt_fail(TT_ERR_FORMAT,
                           "%s: dataset '%s': classification labels must be integers", path,
                           tg->name);
        if (tg->rank > 2 || (tg->rank == 2 && tg->idims[1] != 1))
            return tt_fail(TT_ERR_FORMAT,
                           "%s: dataset '%s': classification labels must be [N] or [N, 1], got "
                           "rank %d",
                           path, tg->name, tg->rank);
    } else if (!is_float(tg) && tg->cls != H5T_INTEGER) {
        return tt_fail(TT_ERR_UNSUPPORTED, "%s: dataset '%s' (the targets) must be numeric", path,
                       tg->name);
    }
    return TT_OK;
}

static tt_status make_stream(tt_dataset *ds, hid_t file, h5_array *in, h5_array *tg,
                             bool float_targets, const char *path)
{
    tt_dataset_stream *st = calloc(1, sizeof *st);
    ds->rows = malloc((size_t)ds->n * sizeof *ds->rows);
    if (!st || !ds->rows) {
        free(st);
        return tt_fail(TT_ERR_NOMEM, "%s: out of memory", path);
    }
    for (int64_t i = 0; i < ds->n; i++) ds->rows[i] = i;
    st->refs = 1;
    snprintf(st->path, sizeof st->path, "%s", path);
    st->file = file;
    h5_array *arr[2] = {in, float_targets ? tg : NULL};
    for (int j = 0; j < 2; j++) {
        st->dset[j] = -1;
        if (!arr[j]) continue;
        st->dset[j] = arr[j]->dset;
        arr[j]->dset = -1; /* now owned by the stream */
        st->rank[j] = arr[j]->rank;
        memcpy(st->dims[j], arr[j]->dims, sizeof st->dims[j]);
        st->u8[j] = is_u8(arr[j]);
        st->row_elems[j] = arr[j]->row_elems;
    }
    ds->stream = st;
    return TT_OK;
}

tt_status tt_ds_load_hdf5(const char *file, const char *inputs, const char *targets, tt_task task,
                          const tt_shape *sample_shape, int64_t n_outputs, int mode,
                          tt_dataset **out)
{
    TT_CHECK_NULL(out, "tt_dataset_load_hdf5");
    *out = NULL;
    if (!file || !file[0])
        return tt_fail(TT_ERR_INVALID_ARG, "data.kind hdf5 needs a file (data.train.file)");
    FILE *probe = fopen(file, "rb");
    if (!probe) return tt_fail(TT_ERR_IO, "%s: cannot open (%s)", file, strerror(errno));
    fclose(probe);
    h5_quiet q;
    quiet_on(&q);
    tt_status s = TT_OK;
    hid_t fid = -1;
    h5_array in = {.name = inputs, .what = "inputs", .dset = -1};
    h5_array tg = {.name = targets, .what = "targets", .dset = -1};
    tt_dataset *ds = NULL;
    bool labels = task == TT_TASK_CLASSIFICATION;
    if (H5Fis_hdf5(file) <= 0) {
        s = tt_fail(TT_ERR_FORMAT, "%s: not an HDF5 file (or its superblock is damaged)", file);
        goto done;
    }
    fid = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (fid < 0) {
        s = tt_fail(TT_ERR_FORMAT, "%s: HDF5 cannot open it; the file is truncated or corrupt",
                    file);
        goto done;
    }
    s = open_array(fid, file, &in);
    if (s == TT_OK) s = open_array(fid, file, &tg);
    if (s == TT_OK) s = check_types(&in, &tg, labels, file);
    tt_shape in_shape, tg_shape = {.ndim = 1, .dims = {1}};
    if (s == TT_OK)
        s = tt_ds_sample_shape(in.rank, in.idims, sample_shape, file, "inputs", &in_shape);
    if (s == TT_OK && !labels) {
        s = tt_ds_sample_shape(tg.rank, tg.idims, NULL, file, "targets", &tg_shape);
        if (task == TT_TASK_IMAGE_TO_IMAGE && tt_shape_numel(&tg_shape) == in.row_elems)
            tg_shape = in_shape;
    }
    if (s != TT_OK) goto done;
    int64_t n = in.idims[0];
    /* No overflow: open_array capped each dataset at 2^40 elements. */
    int64_t bytes = n * in.row_elems * 4 + (labels ? 0 : n * tg.row_elems * 4);
    bool stream = mode == 2 || (mode == 0 && bytes > TT_DATASET_RESIDENT_MAX_BYTES);
    s = tt_ds_create(&ds, n, &in_shape, labels ? TT_TARGET_LABEL : TT_TARGET_FLOAT, &tg_shape,
                     !stream, file);
    if (s == TT_OK) s = scan_floats(&in, file, ds->inputs);
    if (s == TT_OK && labels) s = read_labels(ds, &tg, file);
    if (s == TT_OK && labels) s = tt_ds_finish_labels(ds, 0, n_outputs, file);
    if (s == TT_OK && !labels) s = scan_floats(&tg, file, ds->targets);
    if (s == TT_OK && !labels) s = tt_ds_check_target_size(ds, n_outputs, file);
    if (s == TT_OK) s = tt_ds_add_source(ds, file);
    if (s == TT_OK && stream) {
        s = make_stream(ds, fid, &in, &tg, !labels, file);
        if (s == TT_OK) fid = -1; /* owned by the stream */
    }
done:
    close_array(&in);
    close_array(&tg);
    if (fid >= 0) H5Fclose(fid);
    quiet_off(&q);
    if (s != TT_OK) {
        tt_dataset_free(ds);
        return s;
    }
    *out = ds;
    return TT_OK;
}

tt_status tt_dataset_load_hdf5(const char *file, const char *inputs, const char *targets,
                               tt_task task, const tt_shape *sample_shape, int64_t n_outputs,
                               bool stream, tt_dataset **out)
{
    return tt_ds_load_hdf5(file, inputs, targets, task, sample_shape, n_outputs, stream ? 2 : 1,
                           out);
}

/* ---------------------------------------------------------------------------------------- */

tt_status tt_ds_stream_read(tt_dataset_stream *st, bool targets, const int64_t *rows, int64_t k,
                            float *dst)
{
    int j = targets ? 1 : 0;
    if (st->dset[j] < 0)
        return tt_fail(TT_ERR_STATE, "%s: the stream has no float %s", st->path,
                       targets ? "targets" : "inputs");
    h5_quiet q;
    quiet_on(&q);
    hid_t fs = H5Dget_space(st->dset[j]);
    hsize_t mdim = (hsize_t)(k * st->row_elems[j]);
    hid_t ms = H5Screate_simple(1, &mdim, NULL);
    herr_t e = fs < 0 || ms < 0 ? -1 : H5Sselect_none(fs);
    /* One selection of runs of consecutive rows; HDF5 transfers a hyperslab selection in file
     * (row-major) order, which is the order of the ascending rows. */
    for (int64_t i = 0; i < k && e >= 0;) {
        int64_t len = 1;
        while (i + len < k && rows[i + len] == rows[i] + len) len++;
        hsize_t start[TT_MAX_DIMS] = {(hsize_t)rows[i]}, count[TT_MAX_DIMS] = {(hsize_t)len};
        for (int d = 1; d < st->rank[j]; d++) count[d] = st->dims[j][d];
        e = H5Sselect_hyperslab(fs, H5S_SELECT_OR, start, NULL, count, NULL);
        i += len;
    }
    if (e >= 0 && H5Sget_select_npoints(fs) != (hssize_t)mdim) e = -1; /* repeated rows */
    if (e >= 0) e = H5Dread(st->dset[j], H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, dst);
    if (fs >= 0) H5Sclose(fs);
    if (ms >= 0) H5Sclose(ms);
    quiet_off(&q);
    if (e < 0)
        return tt_fail(TT_ERR_IO, "%s: reading %" PRId64 " rows (from row %" PRId64 ") failed",
                       st->path, k, k > 0 ? rows[0] : 0);
    if (st->u8[j])
        for (int64_t i = 0; i < k * st->row_elems[j]; i++) dst[i] /= 255.0f;
    return TT_OK;
}

void tt_ds_stream_retain(tt_dataset_stream *st)
{
    st->refs++;
}

void tt_ds_stream_release(tt_dataset_stream *st)
{
    if (--st->refs > 0) return;
    h5_quiet q;
    quiet_on(&q);
    for (int j = 0; j < 2; j++)
        if (st->dset[j] >= 0) H5Dclose(st->dset[j]);
    H5Fclose(st->file);
    quiet_off(&q);
    free(st);
}
