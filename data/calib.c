/* Calibration sets: a seeded, stratified choice of normalised samples, saved as .npz or .h5. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <hdf5.h>
#include "tinytrain/calib.h"
#include "tinytrain/dataset.h"
#include "tinytrain/graph.h"
#include "tinytrain/npz.h"
#include "autograd/internal.h"
#include "tinytrain/rng.h"
#include "data/dataset_internal.h"
#include "data/sha256.h"

#define CALIB_PURPOSE 0x63616c6962ULL /* "calib": independent of the validation split's draw */

/* The model's per-sample input shape and output width, from a throwaway build of the model:
 * the data loader needs both to reshape and check the data as the trainer does. */
static tt_status model_io(const tt_config *cfg, tt_shape *in, int64_t *out_numel)
{
    tt_graph *g = NULL;
    TT_CHECK(tt_graph_create(&g));
    tt_rng rng;
    tt_rng_seed(&rng, cfg->seed, 0);
    int in_id, out_id;
    tt_status s = tt_model_build(cfg, g, &rng, &in_id, &out_id);
    if (s == TT_OK) {
        const tt_shape *is = &g->values[in_id].shape, *os = &g->values[out_id].shape;
        s = tt_shape_make(in, is->ndim - 1, is->dims + 1);
        *out_numel = 1;
        for (int i = 1; i < os->ndim; i++) *out_numel *= os->dims[i];
    }
    tt_graph_free(g);
    return s;
}

static tt_status fill(const tt_dataset *ds, const unsigned char *chosen, int64_t n,
                      tt_calib_set *out)
{
    int64_t dims[TT_MAX_DIMS] = {n};
    for (int i = 0; i < ds->input_shape.ndim; i++) dims[i + 1] = ds->input_shape.dims[i];
    TT_CHECK(tt_tensor_alloc(&out->input, TT_F32, ds->input_shape.ndim + 1, dims));
    TT_CHECK(tt_tensor_alloc(&out->index, TT_I64, 1, dims));
    bool labels = ds->target_kind == TT_TARGET_LABEL;
    if (labels) {
        TT_CHECK(tt_tensor_alloc(&out->target, TT_I32, 1, dims));
    } else {
        if (ds->target_shape.ndim + 1 > TT_MAX_DIMS)
            return tt_fail(TT_ERR_UNSUPPORTED,
                           "tt_calib_build: targets of rank %d do not fit a [N, ...] array",
                           ds->target_shape.ndim);
        for (int i = 0; i < ds->target_shape.ndim; i++) dims[i + 1] = ds->target_shape.dims[i];
        TT_CHECK(tt_tensor_alloc(&out->target, TT_F32, ds->target_shape.ndim + 1, dims));
    }
    float *x = out->input->data;
    int64_t *idx = out->index->data;
    int64_t k = 0;
    for (int64_t i = 0; i < ds->n; i++) {
        if (!chosen[i]) continue;
        idx[k] = i;
        memcpy(x + k * ds->input_numel, ds->inputs + i * ds->input_numel,
               (size_t)ds->input_numel * sizeof(float));
        if (labels)
            ((int32_t *)out->target->data)[k] = ds->labels[i];
        else
            memcpy((float *)out->target->data + k * ds->target_numel,
                   ds->targets + i * ds->target_numel, (size_t)ds->target_numel * sizeof(float));
        k++;
    }
    return TT_OK;
}

tt_status tt_calib_build(const tt_config *cfg, int64_t n, uint64_t seed, bool train_split,
                         tt_calib_set *out)
{
    const char *fn = "tt_calib_build";
    TT_CHECK_NULL(out, fn);
    memset(out, 0, sizeof *out);
    TT_CHECK_NULL(cfg, fn);
    const char *split = train_split ? "train" : "test";
    if (n < 1)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "%s: %s: the calibration set needs at least 1 sample, "
                       "got %" PRId64,
                       fn, cfg->path, n);
    tt_shape in;
    int64_t out_numel = 0;
    TT_CHECK(model_io(cfg, &in, &out_numel));
    tt_dataset *ds = NULL;
    TT_CHECK(tt_dataset_load(&cfg->data, cfg->task, &in, out_numel, train_split, cfg->seed, &ds));
    tt_status s = TT_OK;
    if (!ds)
        s = tt_fail(TT_ERR_INVALID_ARG,
                    "%s: %s: the data section gives no test split (use the "
                    "train split or add data.test)",
                    fn, cfg->path);
    else if (ds->stream)
        s = tt_fail(TT_ERR_UNSUPPORTED,
                    "%s: %s: the %s split is too large to hold in memory "
                    "(streamed HDF5); calibration from streamed data is not supported yet",
                    fn, cfg->path, split);
    else if (n > ds->n)
        s = tt_fail(TT_ERR_INVALID_ARG,
                    "%s: %s: asked for %" PRId64 " samples but the %s split "
                    "has only %" PRId64 " (lower -n)",
                    fn, cfg->path, n, split, ds->n);
    if (s == TT_OK && cfg->data.n_norm > 0)
        s = tt_dataset_normalize_inputs(ds, cfg->data.mean, cfg->data.std, cfg->data.n_norm);
    unsigned char *chosen = NULL;
    if (s == TT_OK) {
        chosen = calloc((size_t)ds->n, 1);
        if (!chosen) s = tt_fail(TT_ERR_NOMEM, "%s: out of memory", fn);
    }
    if (s == TT_OK) {
        tt_rng rng;
        tt_rng_seed(&rng, tt_ds_mix(seed ^ CALIB_PURPOSE), 0);
        s = tt_ds_choose(ds, n, &rng, chosen);
    }
    if (s == TT_OK) s = fill(ds, chosen, n, out);
    if (s == TT_OK) s = tt_sha256_hex(cfg->text, cfg->text_len, out->config_sha256);
    out->seed = seed;
    free(chosen);
    tt_dataset_free(ds);
    if (s != TT_OK) tt_calib_free(out);
    return s;
}

void tt_calib_free(tt_calib_set *set)
{
    if (!set) return;
    tt_tensor_free(set->input);
    tt_tensor_free(set->target);
    tt_tensor_free(set->index);
    memset(set, 0, sizeof *set);
}

/* ---------------------------------------------------------------------------------------- */
/* HDF5 */

static bool h5_dataset(hid_t file, const char *name, const tt_tensor *t)
{
    hsize_t dims[TT_MAX_DIMS];
    for (int i = 0; i < t->shape.ndim; i++) dims[i] = (hsize_t)t->shape.dims[i];
    hid_t ftype = t->dtype == TT_F32   ? H5T_IEEE_F32LE
                  : t->dtype == TT_I32 ? H5T_STD_I32LE
                                       : H5T_STD_I64LE;
    hid_t mtype = t->dtype == TT_F32   ? H5T_NATIVE_FLOAT
                  : t->dtype == TT_I32 ? H5T_NATIVE_INT32
                                       : H5T_NATIVE_INT64;
    hid_t space = H5Screate_simple(t->shape.ndim, dims, NULL), ds = H5I_INVALID_HID;
    if (space >= 0)
        ds = H5Dcreate2(file, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    bool ok = ds >= 0 && H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, t->data) >= 0;
    if (ds >= 0) ok = H5Dclose(ds) >= 0 && ok;
    if (space >= 0) H5Sclose(space);
    return ok;
}

static bool h5_attrs(hid_t file, const tt_calib_set *set)
{
    hid_t st = H5Tcopy(H5T_C_S1), sc = H5Screate(H5S_SCALAR), a = H5I_INVALID_HID;
    bool ok =
        st >= 0 && sc >= 0 && H5Tset_size(st, 65) >= 0 && H5Tset_strpad(st, H5T_STR_NULLTERM) >= 0;
    if (ok) a = H5Acreate2(file, "config_sha256", st, sc, H5P_DEFAULT, H5P_DEFAULT);
    ok = ok && a >= 0 && H5Awrite(a, st, set->config_sha256) >= 0;
    if (a >= 0) H5Aclose(a);
    a = H5I_INVALID_HID;
    if (ok) a = H5Acreate2(file, "seed", H5T_STD_U64LE, sc, H5P_DEFAULT, H5P_DEFAULT);
    ok = ok && a >= 0 && H5Awrite(a, H5T_NATIVE_UINT64, &set->seed) >= 0;
    if (a >= 0) H5Aclose(a);
    if (sc >= 0) H5Sclose(sc);
    if (st >= 0) H5Tclose(st);
    return ok;
}

static tt_status save_h5(const char *path, const char *tmp, const tt_calib_set *set)
{
    H5E_auto2_t efunc;
    void *edata;
    H5Eget_auto2(H5E_DEFAULT, &efunc, &edata);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* our message says what failed, not HDF5's stack */
    tt_status s = TT_OK;
    hid_t file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0) {
        s = tt_fail(TT_ERR_IO,
                    "tt_calib_save: %s: cannot create '%s' (does the directory exist "
                    "and is it writable?)",
                    path, tmp);
    } else {
        bool ok = h5_dataset(file, "input", set->input) &&
                  h5_dataset(file, "target", set->target) &&
                  h5_dataset(file, "index", set->index) && h5_attrs(file, set) &&
                  H5Fflush(file, H5F_SCOPE_LOCAL) >= 0;
        ok = H5Fclose(file) >= 0 && ok;
        if (!ok)
            s = tt_fail(TT_ERR_IO, "tt_calib_save: %s: cannot write '%s' (disk full?)", path, tmp);
    }
    H5Eclear2(H5E_DEFAULT);
    H5Eset_auto2(H5E_DEFAULT, efunc, edata);
    if (s == TT_OK) {
        int fd = open(tmp, O_RDONLY);
        if (fd >= 0) (void)fsync(fd), close(fd);
        if (rename(tmp, path) != 0)
            s = tt_fail(TT_ERR_IO, "tt_calib_save: cannot rename '%s' to '%s': %s", tmp, path,
                        strerror(errno));
    }
    if (s != TT_OK) {
        struct stat sb; /* remove only a file: a directory on the temporary name is not ours */
        if (lstat(tmp, &sb) == 0 && !S_ISDIR(sb.st_mode)) unlink(tmp);
    }
    return s;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a > b && !strcmp(s + a - b, suffix);
}

tt_status tt_calib_save(const char *path, const tt_calib_set *set)
{
    const char *fn = "tt_calib_save";
    TT_CHECK_NULL(path, fn);
    TT_CHECK_NULL(set, fn);
    if (!set->input || !set->target || !set->index)
        return tt_fail(TT_ERR_INVALID_ARG, "%s: the set is empty (build it first)", fn);
    if (ends_with(path, ".npz")) {
        const char *names[3] = {"input", "target", "index"};
        const tt_tensor *ts[3] = {set->input, set->target, set->index};
        return tt_npz_save(path, 3, names, ts, false);
    }
    if (!ends_with(path, ".h5"))
        return tt_fail(TT_ERR_INVALID_ARG,
                       "%s: '%s': unknown extension, use .npz (NumPy) or .h5 (HDF5)", fn, path);
    size_t len = strlen(path) + 5;
    char *tmp = malloc(len);
    if (!tmp) return tt_fail(TT_ERR_NOMEM, "%s: out of memory", fn);
    snprintf(tmp, len, "%s.tmp", path);
    tt_status s = save_h5(path, tmp, set);
    free(tmp);
    return s;
}
