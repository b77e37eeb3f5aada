/* Training checkpoints in HDF5 (layout and error contract in tinytrain/checkpoint.h).
 *
 * Writing is made deterministic by storing no object timestamps (track-times off on the file,
 * every group and every dataset) and by pinning the file-format version bounds, so the bytes
 * depend only on the content and the order it is written in: parameters in graph order, state
 * in the optimiser's order, RNGs sorted by name.
 *
 * Reading treats the file as hostile: every dataset's class, size, rank and dims are checked
 * against what the graph or optimiser expects before anything is read, every string is read
 * only after its size is checked against a cap, and all data goes to staging memory sized from
 * the graph (never from the file), so a failure leaves the caller's objects untouched. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <hdf5.h>
#include "autograd/internal.h"
#include "tinytrain/checkpoint.h"
#include "tinytrain/tinytrain.h"

#define CK_PARAMS "params"
#define CK_OPTIM  "optim"
#define CK_META   "meta"
#define CK_RNG    "rng"
/* The format attribute is compared whole; anything this long is not ours. */
#define CK_FORMAT_MAX 64
/* Missing / unexpected names listed in one message before "and N more". */
#define CK_LIST_MAX 8
/* A group with more links than this is garbage, not a model (ResNets have a few hundred). */
#define CK_MAX_LINKS (1 << 20)
/* Link names longer than this cannot match a graph value (TT_NAME_MAX) or a state name. */
#define CK_LINK_NAME_MAX (TT_NAME_MAX + 32)

typedef struct ck_ctx {
    const char *fn;   /* API function, for messages */
    const char *path; /* the file named in messages */
} ck_ctx;

/* ---------------------------------------------------------------------------------------- */
/* Errors */

typedef struct h5_detail {
    char buf[256];
} h5_detail;

static herr_t h5_walk_cb(unsigned n, const H5E_error2_t *err, void *data)
{
    h5_detail *d = data;
    /* Walking upward, entry 0 is the innermost, most specific failure ("truncated file: eof =
     * ...", "file signature not found"); the outer ones only say "unable to open file". */
    if (n == 0 && err && err->desc) snprintf(d->buf, sizeof d->buf, "%s", err->desc);
    return 0;
}

/* Record "FN: 'PATH': message (HDF5: detail)" and clear HDF5's error stack. */
static tt_status ck_fail(const ck_ctx *c, tt_status s, const char *fmt, ...) TT_PRINTF(3, 4);
static tt_status ck_fail(const ck_ctx *c, tt_status s, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    h5_detail d = {{0}};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, h5_walk_cb, &d);
    H5Eclear2(H5E_DEFAULT);
    if (d.buf[0]) return tt_fail(s, "%s: '%s': %s (HDF5: %s)", c->fn, c->path, msg, d.buf);
    return tt_fail(s, "%s: '%s': %s", c->fn, c->path, msg);
}

/* HDF5 prints every error stack to stderr by default; these calls report through tt_fail
 * instead. The caller's handler is put back on the way out. */
typedef struct h5_quiet {
    H5E_auto2_t func;
    void *data;
} h5_quiet;

static void h5_quiet_begin(h5_quiet *q)
{
    q->func = NULL;
    q->data = NULL;
    H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    H5Eclear2(H5E_DEFAULT);
}

static void h5_quiet_end(const h5_quiet *q)
{
    H5Eclear2(H5E_DEFAULT);
    H5Eset_auto2(H5E_DEFAULT, q->func, q->data);
}

static void close_id(hid_t *id)
{
    if (*id < 0) return;
    switch (H5Iget_type(*id)) {
    case H5I_FILE:
        H5Fclose(*id);
        break;
    case H5I_GROUP:
        H5Gclose(*id);
        break;
    case H5I_DATASET:
        H5Dclose(*id);
        break;
    case H5I_ATTR:
        H5Aclose(*id);
        break;
    case H5I_DATATYPE:
        H5Tclose(*id);
        break;
    case H5I_DATASPACE:
        H5Sclose(*id);
        break;
    case H5I_GENPROP_LST:
        H5Pclose(*id);
        break;
    default:
        break;
    }
    *id = H5I_INVALID_HID;
}

/* Why name cannot be an HDF5 link name, or NULL if it can. */
static const char *bad_name(const char *name)
{
    if (!name[0]) return "is empty";
    if (strchr(name, '/'))
        return "contains '/', which HDF5 reads as a group separator (rename the layer)";
    if (strcmp(name, ".") == 0) return "is '.', which HDF5 reads as the group itself";
    return NULL;
}

static const char *kind_name(tt_optim_kind k)
{
    switch (k) {
    case TT_OPTIM_SGD:
        return "sgd";
    case TT_OPTIM_ADAM:
        return "adam";
    case TT_OPTIM_ADAMW:
        return "adamw";
    }
    return "unknown";
}

/* "[6, 4]" for any rank HDF5 allows ("[]" for a scalar). */
static void dims_str(int ndim, const hsize_t *dims, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, i ? ", %llu" : "%llu",
                                 (unsigned long long)dims[i]);
    if (used < len) snprintf(buf + used, len - used, "]");
}

/* ---------------------------------------------------------------------------------------- */
/* Meta helpers */

void tt_checkpoint_meta_free(tt_checkpoint_meta *meta)
{
    if (!meta) return;
    free(meta->config_text);
    free(meta->extra_json);
    meta->config_text = NULL;
    meta->extra_json = NULL;
}

const tt_rng *tt_checkpoint_meta_rng(const tt_checkpoint_meta *meta, const char *name)
{
    if (!meta || !name || meta->n_rngs < 0) return NULL;
    for (int i = 0; i < meta->n_rngs && i < TT_CHECKPOINT_MAX_RNGS; i++)
        if (strncmp(meta->rngs[i].name, name, TT_CHECKPOINT_RNG_NAME_MAX) == 0)
            return &meta->rngs[i].rng;
    return NULL;
}

static tt_status check_rng_name(const char *fn, const char *name)
{
    size_t len = strnlen(name, TT_CHECKPOINT_RNG_NAME_MAX);
    if (len >= TT_CHECKPOINT_RNG_NAME_MAX)
        return tt_fail(TT_ERR_INVALID_ARG, "%s: RNG name '%.20s...' is longer than %d characters",
                       fn, name, TT_CHECKPOINT_RNG_NAME_MAX - 1);
    const char *why = bad_name(name);
    if (why) return tt_fail(TT_ERR_INVALID_ARG, "%s: RNG name '%s' %s", fn, name, why);
    return TT_OK;
}

tt_status tt_checkpoint_meta_add_rng(tt_checkpoint_meta *meta, const char *name, const tt_rng *rng)
{
    const char *fn = "tt_checkpoint_meta_add_rng";
    TT_CHECK_NULL(meta, fn);
    TT_CHECK_NULL(name, fn);
    TT_CHECK_NULL(rng, fn);
    TT_CHECK(check_rng_name(fn, name));
    if (meta->n_rngs < 0 || meta->n_rngs >= TT_CHECKPOINT_MAX_RNGS)
        return tt_fail(TT_ERR_INVALID_ARG, "%s: the meta already holds %d RNGs (at most %d)", fn,
                       meta->n_rngs, TT_CHECKPOINT_MAX_RNGS);
    if (tt_checkpoint_meta_rng(meta, name))
        return tt_fail(TT_ERR_INVALID_ARG, "%s: an RNG named '%s' is already in the meta", fn,
                       name);
    tt_checkpoint_rng *r = &meta->rngs[meta->n_rngs++];
    memset(r->name, 0, sizeof r->name);
    memcpy(r->name, name, strlen(name));
    r->rng = *rng;
    return TT_OK;
}

/* Everything about meta that can be checked before a file is created. */
static tt_status check_meta(const char *fn, const tt_checkpoint_meta *m)
{
    if (m->n_rngs < 0 || m->n_rngs > TT_CHECKPOINT_MAX_RNGS)
        return tt_fail(TT_ERR_INVALID_ARG, "%s: meta->n_rngs is %d; use 0..%d", fn, m->n_rngs,
                       TT_CHECKPOINT_MAX_RNGS);
    for (int i = 0; i < m->n_rngs; i++) {
        TT_CHECK(check_rng_name(fn, m->rngs[i].name));
        for (int j = 0; j < i; j++)
            if (strcmp(m->rngs[i].name, m->rngs[j].name) == 0)
                return tt_fail(TT_ERR_INVALID_ARG, "%s: two RNGs are named '%s'", fn,
                               m->rngs[i].name);
    }
    if (strnlen(m->version, TT_CHECKPOINT_VERSION_MAX) >= TT_CHECKPOINT_VERSION_MAX)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "%s: meta->version is not NUL-terminated within %d bytes", fn,
                       TT_CHECKPOINT_VERSION_MAX);
    const char *texts[2] = {m->config_text, m->extra_json};
    const char *what[2] = {"config_text", "extra_json"};
    for (int i = 0; i < 2; i++)
        if (texts[i] && strnlen(texts[i], TT_CHECKPOINT_TEXT_MAX + 1) > TT_CHECKPOINT_TEXT_MAX)
            return tt_fail(TT_ERR_INVALID_ARG, "%s: meta->%s is longer than %d bytes", fn, what[i],
                           TT_CHECKPOINT_TEXT_MAX);
    return TT_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Writing */

typedef struct ck_writer {
    ck_ctx c;
    hid_t file, gcpl, dcpl;
} ck_writer;

static tt_status create_group(ck_writer *w, hid_t loc, const char *name, hid_t *out)
{
    *out = H5Gcreate2(loc, name, H5P_DEFAULT, w->gcpl, H5P_DEFAULT);
    if (*out < 0) return ck_fail(&w->c, TT_ERR_IO, "cannot create group '/%s'", name);
    return TT_OK;
}

/* A float32 dataset loc/name of shape dims holding data. */
static tt_status write_f32(ck_writer *w, hid_t loc, const char *group, const char *name, int ndim,
                           const hsize_t *dims, const float *data)
{
    tt_status s = TT_OK;
    hid_t space = H5Screate_simple(ndim, dims, NULL), ds = H5I_INVALID_HID;
    if (space < 0) {
        s = ck_fail(&w->c, TT_ERR_IO, "cannot describe the shape of '/%s/%s'", group, name);
        goto done;
    }
    ds = H5Dcreate2(loc, name, H5T_IEEE_F32LE, space, H5P_DEFAULT, w->dcpl, H5P_DEFAULT);
    if (ds < 0) {
        s = ck_fail(&w->c, TT_ERR_IO, "cannot create dataset '/%s/%s'", group, name);
        goto done;
    }
    if (H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        s = ck_fail(&w->c, TT_ERR_IO, "cannot write dataset '/%s/%s'", group, name);
done:
    close_id(&ds);
    close_id(&space);
    return s;
}

/* A fixed-length, NUL-terminated ASCII string type holding len bytes of text. */
static hid_t str_type(size_t len)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return t;
    if (H5Tset_size(t, len + 1) < 0 || H5Tset_strpad(t, H5T_STR_NULLTERM) < 0) close_id(&t);
    return t;
}

static tt_status write_attr(ck_writer *w, hid_t obj, const char *objname, const char *name,
                            hid_t type, const void *value)
{
    tt_status s = TT_OK;
    hid_t space = H5Screate(H5S_SCALAR), a = H5I_INVALID_HID;
    if (space >= 0) a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, type, value) < 0)
        s = ck_fail(&w->c, TT_ERR_IO, "cannot write attribute '%s' of '/%s'", name, objname);
    close_id(&a);
    close_id(&space);
    return s;
}

static tt_status write_attr_str(ck_writer *w, hid_t obj, const char *objname, const char *name,
                                const char *value)
{
    hid_t t = str_type(strlen(value));
    if (t < 0) return ck_fail(&w->c, TT_ERR_IO, "cannot make a string type for '%s'", name);
    tt_status s = write_attr(w, obj, objname, name, t, value);
    close_id(&t);
    return s;
}

static tt_status write_text(ck_writer *w, hid_t loc, const char *name, const char *text)
{
    tt_status s = TT_OK;
    hid_t t = str_type(strlen(text)), space = H5Screate(H5S_SCALAR), ds = H5I_INVALID_HID;
    if (t >= 0 && space >= 0)
        ds = H5Dcreate2(loc, name, t, space, H5P_DEFAULT, w->dcpl, H5P_DEFAULT);
    if (ds < 0 || H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, text) < 0)
        s = ck_fail(&w->c, TT_ERR_IO, "cannot write dataset '/%s/%s'", CK_META, name);
    close_id(&ds);
    close_id(&space);
    close_id(&t);
    return s;
}

static tt_status write_meta(ck_writer *w, const tt_checkpoint_meta *m)
{
    hid_t grp = H5I_INVALID_HID;
    TT_CHECK(create_group(w, w->file, CK_META, &grp));
    const char *version = m->version[0] ? m->version : tt_version();
    tt_status s = write_attr_str(w, grp, CK_META, "format", TT_CHECKPOINT_FORMAT);
    if (s == TT_OK) s = write_attr_str(w, grp, CK_META, "version", version);
    if (s == TT_OK) s = write_attr(w, grp, CK_META, "epoch", H5T_NATIVE_INT64, &m->epoch);
    if (s == TT_OK) s = write_attr(w, grp, CK_META, "step", H5T_NATIVE_INT64, &m->step);
    if (s == TT_OK) s = write_attr(w, grp, CK_META, "best", H5T_NATIVE_DOUBLE, &m->best);
    if (s == TT_OK && m->config_text) s = write_text(w, grp, "config", m->config_text);
    if (s == TT_OK && m->extra_json) s = write_text(w, grp, "extra", m->extra_json);
    close_id(&grp);
    TT_CHECK(s);

    /* Sorted by name: the group's bytes depend on insertion order, and a meta that came back
     * from a load (sorted) must save to the same bytes as the one the trainer assembled. */
    int order[TT_CHECKPOINT_MAX_RNGS];
    for (int i = 0; i < m->n_rngs; i++) {
        int j = i;
        for (; j > 0 && strcmp(m->rngs[order[j - 1]].name, m->rngs[i].name) > 0; j--)
            order[j] = order[j - 1];
        order[j] = i;
    }
    TT_CHECK(create_group(w, w->file, CK_RNG, &grp));
    for (int k = 0; k < m->n_rngs && s == TT_OK; k++) {
        int i = order[k];
        uint64_t v[2] = {m->rngs[i].rng.state, m->rngs[i].rng.inc};
        hsize_t two = 2;
        hid_t space = H5Screate_simple(1, &two, NULL), ds = H5I_INVALID_HID;
        if (space >= 0)
            ds = H5Dcreate2(grp, m->rngs[i].name, H5T_STD_U64LE, space, H5P_DEFAULT, w->dcpl,
                            H5P_DEFAULT);
        if (ds < 0 || H5Dwrite(ds, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0)
            s = ck_fail(&w->c, TT_ERR_IO, "cannot write RNG '/%s/%s'", CK_RNG, m->rngs[i].name);
        close_id(&ds);
        close_id(&space);
    }
    close_id(&grp);
    return s;
}

/* Parameters are named and checked as they are written: a bad one fails the save midway, and
 * the caller's clean-up (remove the temporary) is the same as for any other failure. */
static tt_status write_params(ck_writer *w, const tt_graph *g)
{
    hid_t grp = H5I_INVALID_HID;
    TT_CHECK(create_group(w, w->file, CK_PARAMS, &grp));
    tt_status s = TT_OK;
    for (int i = 0; i < g->n_values && s == TT_OK; i++) {
        const tt_value *v = &g->values[i];
        if (v->kind != TT_VALUE_PARAM) continue;
        const char *why = bad_name(v->name);
        if (why) {
            s = ck_fail(&w->c, TT_ERR_INVALID_ARG, "parameter '%s' %s", v->name, why);
            break;
        }
        if (v->dtype != TT_F32 || !v->data || !v->data->data || v->data->dtype != TT_F32) {
            s = ck_fail(&w->c, TT_ERR_UNSUPPORTED,
                        "parameter '%s' is not a float32 tensor with data (dtype %s)", v->name,
                        tt_dtype_name(v->dtype));
            break;
        }
        hsize_t dims[TT_MAX_DIMS];
        const tt_shape *sh = &v->data->shape;
        for (int d = 0; d < sh->ndim; d++) dims[d] = (hsize_t)sh->dims[d];
        s = write_f32(w, grp, CK_PARAMS, v->name, sh->ndim, dims, tt_tensor_f32(v->data));
    }
    close_id(&grp);
    return s;
}

static tt_status write_optim(ck_writer *w, const tt_optim *opt)
{
    hid_t grp = H5I_INVALID_HID;
    TT_CHECK(create_group(w, w->file, CK_OPTIM, &grp));
    int64_t steps = tt_optim_steps(opt);
    tt_status s = write_attr_str(w, grp, CK_OPTIM, "kind", kind_name(tt_optim_get_kind(opt)));
    if (s == TT_OK) s = write_attr(w, grp, CK_OPTIM, "steps", H5T_NATIVE_INT64, &steps);
    int n = tt_optim_state_count(opt);
    for (int i = 0; i < n && s == TT_OK; i++) {
        const char *name;
        float *data;
        int64_t numel;
        s = tt_optim_state_get(opt, i, &name, &data, &numel);
        if (s != TT_OK) break;
        const char *why = bad_name(name);
        if (why) {
            s = ck_fail(&w->c, TT_ERR_INVALID_ARG, "optimiser state '%s' %s", name, why);
            break;
        }
        hsize_t dim = (hsize_t)numel;
        s = write_f32(w, grp, CK_OPTIM, name, 1, &dim, data);
    }
    close_id(&grp);
    return s;
}

static tt_status write_file(ck_writer *w, const tt_graph *g, const tt_optim *opt,
                            const tt_checkpoint_meta *m)
{
    tt_status s = TT_OK;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), fcpl = H5Pcreate(H5P_FILE_CREATE);
    w->gcpl = H5Pcreate(H5P_GROUP_CREATE);
    w->dcpl = H5Pcreate(H5P_DATASET_CREATE);
    w->file = H5I_INVALID_HID;
    /* No timestamps anywhere (the root group takes them from the fcpl), one fixed format
     * version, and contiguous datasets that are written once, so never pre-filled. */
    if (fapl < 0 || fcpl < 0 || w->gcpl < 0 || w->dcpl < 0 ||
        H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18) < 0 ||
        H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0 || H5Pset_obj_track_times(fcpl, 0) < 0 ||
        H5Pset_obj_track_times(w->gcpl, 0) < 0 || H5Pset_obj_track_times(w->dcpl, 0) < 0 ||
        H5Pset_fill_time(w->dcpl, H5D_FILL_TIME_NEVER) < 0) {
        s = ck_fail(&w->c, TT_ERR_IO, "cannot set up HDF5 property lists");
        goto done;
    }
    w->file = H5Fcreate(w->c.path, H5F_ACC_TRUNC, fcpl, fapl);
    if (w->file < 0) {
        s = ck_fail(&w->c, TT_ERR_IO,
                    "cannot create the file (is the directory writable and does it exist?)");
        goto done;
    }
    s = write_meta(w, m);
    if (s == TT_OK) s = write_params(w, g);
    if (s == TT_OK && opt) s = write_optim(w, opt);
    if (s == TT_OK && H5Fflush(w->file, H5F_SCOPE_LOCAL) < 0)
        s = ck_fail(&w->c, TT_ERR_IO, "cannot flush the file (disk full?)");
    if (s == TT_OK) {
        herr_t rc = H5Fclose(w->file);
        w->file = H5I_INVALID_HID;
        if (rc < 0) s = ck_fail(&w->c, TT_ERR_IO, "cannot close the file (disk full?)");
    }
done:
    close_id(&w->file);
    close_id(&w->dcpl);
    close_id(&w->gcpl);
    close_id(&fcpl);
    close_id(&fapl);
    return s;
}

/* fsync a file, or a directory. EINVAL means the file system cannot sync this kind of object,
 * which is not an error worth failing a save for. */
static tt_status sync_path(const char *fn, const char *p, bool dir)
{
    int fd = open(p, dir ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
    if (fd < 0)
        return tt_fail(TT_ERR_IO, "%s: cannot open '%s' to sync it: %s", fn, p, strerror(errno));
    int rc = fsync(fd), err = errno;
    close(fd);
    if (rc != 0 && err != EINVAL)
        return tt_fail(TT_ERR_IO, "%s: cannot sync '%s' to disk: %s", fn, p, strerror(err));
    return TT_OK;
}

tt_status tt_checkpoint_save(const char *path, const tt_graph *g, const tt_optim *opt,
                             const tt_checkpoint_meta *meta)
{
    const char *fn = "tt_checkpoint_save";
    TT_CHECK_NULL(path, fn);
    TT_CHECK_NULL(g, fn);
    if (!path[0]) return tt_fail(TT_ERR_INVALID_ARG, "%s: the path is empty", fn);
    tt_checkpoint_meta none = {.best = NAN};
    const tt_checkpoint_meta *m = meta ? meta : &none;
    TT_CHECK(check_meta(fn, m));

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5), *dir = malloc(plen + 2);
    if (!tmp || !dir) {
        free(tmp);
        free(dir);
        return tt_fail(TT_ERR_NOMEM, "%s: out of memory", fn);
    }
    snprintf(tmp, plen + 5, "%s.tmp", path);
    /* The directory to sync after the rename: everything before the last '/'. */
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, plen + 2, ".");
    else if (slash == path)
        snprintf(dir, plen + 2, "/");
    else
        snprintf(dir, plen + 2, "%.*s", (int)(slash - path), path);

    h5_quiet q;
    h5_quiet_begin(&q);
    ck_writer w = {.c = {fn, tmp}};
    tt_status s = write_file(&w, g, opt, m);
    h5_quiet_end(&q);
    if (s == TT_OK) s = sync_path(fn, tmp, false);
    if (s == TT_OK && rename(tmp, path) != 0)
        s = tt_fail(TT_ERR_IO, "%s: cannot rename '%s' to '%s': %s", fn, tmp, path,
                    strerror(errno));
    if (s != TT_OK) {
        /* Remove only a file: a directory squatting on the temporary name is not ours. */
        struct stat st;
        if (lstat(tmp, &st) == 0 && !S_ISDIR(st.st_mode)) unlink(tmp);
    } else {
        /* The checkpoint is in place; only its durability across a power cut is in doubt. */
        s = sync_path(fn, dir, true);
    }
    free(tmp);
    free(dir);
    return s;
}

/* ---------------------------------------------------------------------------------------- */
/* Reading */

typedef struct ck_reader {
    ck_ctx c;
    hid_t file;
} ck_reader;

static tt_status open_file(ck_reader *r)
{
    struct stat st;
    r->file = H5I_INVALID_HID;
    if (stat(r->c.path, &st) != 0)
        return tt_fail(TT_ERR_IO, "%s: cannot open '%s': %s", r->c.fn, r->c.path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return tt_fail(TT_ERR_IO, "%s: '%s' is a directory, not a checkpoint file", r->c.fn,
                       r->c.path);
    if (!S_ISREG(st.st_mode))
        return tt_fail(TT_ERR_IO, "%s: '%s' is not a regular file", r->c.fn, r->c.path);
    int fd = open(r->c.path, O_RDONLY);
    if (fd < 0)
        return tt_fail(TT_ERR_IO, "%s: cannot open '%s': %s", r->c.fn, r->c.path, strerror(errno));
    close(fd);
    if (st.st_size == 0)
        return tt_fail(TT_ERR_FORMAT, "%s: '%s' is empty, not a checkpoint", r->c.fn, r->c.path);

    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return ck_fail(&r->c, TT_ERR_IO, "cannot set up an HDF5 property list");
#if H5_VERSION_GE(1, 10, 7)
    /* A shared lock where the file system has locks, no failure where it has none. */
    H5Pset_file_locking(fapl, 1, 1);
#endif
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    r->file = H5Fopen(r->c.path, H5F_ACC_RDONLY, fapl);
    tt_status s = TT_OK;
    /* Before any other HDF5 call, which would clear the error stack the message quotes. */
    if (r->file < 0)
        s = ck_fail(&r->c, TT_ERR_FORMAT,
                    "not a readable HDF5 file (truncated, corrupt, or not HDF5 at all)");
    close_id(&fapl);
    return s;
}

static tt_status open_group(ck_reader *r, hid_t loc, const char *name, const char *missing,
                            tt_status missing_status, hid_t *out)
{
    *out = H5I_INVALID_HID;
    htri_t ex = H5Lexists(loc, name, H5P_DEFAULT);
    if (ex < 0) return ck_fail(&r->c, TT_ERR_FORMAT, "cannot look up '/%s'", name);
    if (ex == 0) return ck_fail(&r->c, missing_status, "%s", missing);
    *out = H5Gopen2(loc, name, H5P_DEFAULT);
    if (*out < 0) return ck_fail(&r->c, TT_ERR_FORMAT, "'/%s' is not a group", name);
    return TT_OK;
}

/* Shape of a dataset or attribute space: simple or scalar only. ndim <= H5S_MAX_RANK. */
static tt_status space_dims(ck_reader *r, hid_t space, const char *what, int *ndim, hsize_t *dims)
{
    H5S_class_t cls = space < 0 ? H5S_NO_CLASS : H5Sget_simple_extent_type(space);
    if (cls != H5S_SIMPLE && cls != H5S_SCALAR)
        return ck_fail(&r->c, TT_ERR_FORMAT, "%s has no data (null or unknown dataspace)", what);
    int n = H5Sget_simple_extent_ndims(space);
    if (n < 0 || n > H5S_MAX_RANK)
        return ck_fail(&r->c, TT_ERR_FORMAT, "%s has an unreadable dataspace", what);
    if (n > 0 && H5Sget_simple_extent_dims(space, dims, NULL) < 0)
        return ck_fail(&r->c, TT_ERR_FORMAT, "%s has an unreadable dataspace", what);
    *ndim = n;
    return TT_OK;
}

/* One element (scalar or [1]) of class cls, for attributes. */
static tt_status open_attr(ck_reader *r, hid_t obj, const char *objname, const char *name,
                           H5T_class_t cls, hid_t *attr, hid_t *type)
{
    char what[96];
    snprintf(what, sizeof what, "attribute '%s' of '/%s'", name, objname);
    *attr = *type = H5I_INVALID_HID;
    htri_t ex = H5Aexists(obj, name);
    if (ex <= 0)
        return ck_fail(&r->c, TT_ERR_FORMAT, "%s is missing; not a tinytrain checkpoint", what);
    *attr = H5Aopen(obj, name, H5P_DEFAULT);
    if (*attr < 0) return ck_fail(&r->c, TT_ERR_FORMAT, "cannot open %s", what);
    *type = H5Aget_type(*attr);
    hid_t space = H5Aget_space(*attr);
    int ndim = 0;
    hsize_t dims[H5S_MAX_RANK];
    tt_status s = space_dims(r, space, what, &ndim, dims);
    close_id(&space);
    if (s == TT_OK && (*type < 0 || H5Tget_class(*type) != cls))
        s = ck_fail(&r->c, TT_ERR_FORMAT, "%s has the wrong type", what);
    if (s == TT_OK && !(ndim == 0 || (ndim == 1 && dims[0] == 1)))
        s = ck_fail(&r->c, TT_ERR_FORMAT, "%s is not a single value", what);
    if (s != TT_OK) {
        close_id(type);
        close_id(attr);
    }
    return s;
}

static tt_status read_attr_num(ck_reader *r, hid_t obj, const char *objname, const char *name,
                               bool is_int, void *out)
{
    hid_t a, t;
    TT_CHECK(open_attr(r, obj, objname, name, is_int ? H5T_INTEGER : H5T_FLOAT, &a, &t));
    tt_status s = TT_OK;
    if (H5Aread(a, is_int ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE, out) < 0)
        s = ck_fail(&r->c, TT_ERR_FORMAT, "cannot read attribute '%s' of '/%s'", name, objname);
    close_id(&t);
    close_id(&a);
    return s;
}

/* A fixed-length string type of at most cap bytes (without the NUL): the memory type that
 * reads it whole and NUL-terminated is written to *mem and its size + 1 to *size. */
static tt_status string_mem_type(ck_reader *r, hid_t ftype, const char *what, size_t cap,
                                 hid_t *mem, size_t *size)
{
    *mem = H5I_INVALID_HID;
    if (ftype < 0 || H5Tget_class(ftype) != H5T_STRING)
        return ck_fail(&r->c, TT_ERR_FORMAT, "%s is not a string", what);
    if (H5Tis_variable_str(ftype) != 0)
        return ck_fail(&r->c, TT_ERR_FORMAT,
                       "%s is a variable-length string; tinytrain writes fixed-length ones", what);
    size_t n = H5Tget_size(ftype);
    if (n == 0 || n > cap + 1)
        return ck_fail(&r->c, TT_ERR_FORMAT, "%s is %zu bytes long (at most %zu)", what, n,
                       cap + 1);
    H5T_cset_t cset = H5Tget_cset(ftype);
    *mem = H5Tcopy(H5T_C_S1);
    if (*mem < 0 || H5Tset_size(*mem, n + 1) < 0 || H5Tset_strpad(*mem, H5T_STR_NULLTERM) < 0 ||
        cset < 0 || H5Tset_cset(*mem, cset) < 0) {
        close_id(mem);
        return ck_fail(&r->c, TT_ERR_FORMAT, "%s has an unusable string type", what);
    }
    *size = n + 1;
    return TT_OK;
}

static tt_status read_attr_str(ck_reader *r, hid_t obj, const char *objname, const char *name,
                               char *out, size_t cap)
{
    char what[96], buf[CK_FORMAT_MAX + 2];
    snprintf(what, sizeof what, "attribute '%s' of '/%s'", name, objname);
    hid_t a, t, mem;
    size_t size;
    TT_CHECK(open_attr(r, obj, objname, name, H5T_STRING, &a, &t));
    tt_status s =
        string_mem_type(r, t, what, cap - 1 < CK_FORMAT_MAX ? cap - 1 : CK_FORMAT_MAX, &mem, &size);
    if (s == TT_OK && H5Aread(a, mem, buf) < 0)
        s = ck_fail(&r->c, TT_ERR_FORMAT, "cannot read %s", what);
    if (s == TT_OK) {
        buf[size - 1] = '\0';
        if (strlen(buf) >= cap)
            s = ck_fail(&r->c, TT_ERR_FORMAT, "%s is longer than %zu characters", what, cap - 1);
        else
            memcpy(out, buf, strlen(buf) + 1);
    }
    close_id(&mem);
    close_id(&t);
    close_id(&a);
    return s;
}

/* The optional text dataset loc/name into a new string (*out NULL when absent). */
static tt_status read_text(ck_reader *r, hid_t loc, const char *name, char **out)
{
    char what[64];
    snprintf(what, sizeof what, "dataset '/%s/%s'", CK_META, name);
    *out = NULL;
    htri_t ex = H5Lexists(loc, name, H5P_DEFAULT);
    if (ex < 0) return ck_fail(&r->c, TT_ERR_FORMAT, "cannot look up %s", what);
    if (ex == 0) return TT_OK;
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT), t = H5I_INVALID_HID, mem = H5I_INVALID_HID;
    hid_t space = H5I_INVALID_HID;
    tt_status s = TT_OK;
    size_t size = 0;
    int ndim = 0;
    hsize_t dims[H5S_MAX_RANK];
    char *buf = NULL;
    if (ds < 0) {
        s = ck_fail(&r->c, TT_ERR_FORMAT, "%s is not a dataset", what);
        goto done;
    }
    t = H5Dget_type(ds);
    space = H5Dget_space(ds);
    s = space_dims(r, space, what, &ndim, dims);
    if (s == TT_OK && ndim != 0) s = ck_fail(&r->c, TT_ERR_FORMAT, "%s is not a scalar", what);
    if (s == TT_OK) s = string_mem_type(r, t, what, TT_CHECKPOINT_TEXT_MAX, &mem, &size);
    if (s != TT_OK) goto done;
    buf = malloc(size);
    if (!buf) {
        s = tt_fail(TT_ERR_NOMEM, "%s: '%s': out of memory for %s", r->c.fn, r->c.path, what);
        goto done;
    }
    if (H5Dread(ds, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        s = ck_fail(&r->c, TT_ERR_FORMAT, "cannot read %s", what);
        goto done;
    }
    buf[size - 1] = '\0';
    *out = buf;
    buf = NULL;
done:
    free(buf);
    close_id(&mem);
    close_id(&space);
    close_id(&t);
    close_id(&ds);
    return s;
}

/* The n-th link name of group grp into buf; *too_long when it did not fit. */
static tt_status link_name(ck_reader *r, hid_t grp, const char *gname, hsize_t idx, char *buf,
                           size_t cap, bool *too_long)
{
    ssize_t len =
        H5Lget_name_by_idx(grp, ".", H5_INDEX_NAME, H5_ITER_INC, idx, buf, cap, H5P_DEFAULT);
    if (len < 0) return ck_fail(&r->c, TT_ERR_FORMAT, "cannot list the entries of '/%s'", gname);
    *too_long = (size_t)len >= cap;
    return TT_OK;
}

static tt_status count_links(ck_reader *r, hid_t grp, const char *gname, hsize_t *n)
{
    H5G_info_t info;
    if (H5Gget_info(grp, &info) < 0)
        return ck_fail(&r->c, TT_ERR_FORMAT, "cannot list the entries of '/%s'", gname);
    if (info.nlinks > CK_MAX_LINKS)
        return ck_fail(&r->c, TT_ERR_FORMAT, "'/%s' has %llu entries (at most %d)", gname,
                       (unsigned long long)info.nlinks, CK_MAX_LINKS);
    *n = info.nlinks;
    return TT_OK;
}

static tt_status read_rngs(ck_reader *r, hid_t file, tt_checkpoint_meta *m)
{
    hid_t grp;
    TT_CHECK(open_group(r, file, CK_RNG, "has no '/rng' group; not a tinytrain checkpoint",
                        TT_ERR_FORMAT, &grp));
    hsize_t n = 0;
    tt_status s = count_links(r, grp, CK_RNG, &n);
    if (s == TT_OK && n > TT_CHECKPOINT_MAX_RNGS)
        s = ck_fail(&r->c, TT_ERR_FORMAT, "'/rng' holds %llu RNGs (at most %d)",
                    (unsigned long long)n, TT_CHECKPOINT_MAX_RNGS);
    for (hsize_t i = 0; i < n && s == TT_OK; i++) {
        tt_checkpoint_rng *cr = &m->rngs[i];
        bool too_long = false;
        s = link_name(r, grp, CK_RNG, i, cr->name, sizeof cr->name, &too_long);
        if (s != TT_OK) break;
        if (too_long) {
            s = ck_fail(&r->c, TT_ERR_FORMAT, "an RNG name in '/rng' is longer than %d characters",
                        TT_CHECKPOINT_RNG_NAME_MAX - 1);
            break;
        }
        char what[64];
        snprintf(what, sizeof what, "RNG '/rng/%s'", cr->name);
        hid_t ds = H5Dopen2(grp, cr->name, H5P_DEFAULT), t = H5I_INVALID_HID;
        hid_t space = H5I_INVALID_HID;
        int ndim = 0;
        hsize_t dims[H5S_MAX_RANK];
        uint64_t v[2];
        if (ds < 0) {
            s = ck_fail(&r->c, TT_ERR_FORMAT, "%s is not a dataset", what);
        } else {
            t = H5Dget_type(ds);
            space = H5Dget_space(ds);
            s = space_dims(r, space, what, &ndim, dims);
            if (s == TT_OK && (t < 0 || H5Tget_class(t) != H5T_INTEGER || H5Tget_size(t) != 8 ||
                               H5Tget_sign(t) != H5T_SGN_NONE))
                s = ck_fail(&r->c, TT_ERR_FORMAT, "%s is not uint64", what);
            if (s == TT_OK && !(ndim == 1 && dims[0] == 2))
                s = ck_fail(&r->c, TT_ERR_FORMAT, "%s is not [2] (state, inc)", what);
            if (s == TT_OK && H5Dread(ds, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0)
                s = ck_fail(&r->c, TT_ERR_FORMAT, "cannot read %s", what);
        }
        close_id(&space);
        close_id(&t);
        close_id(&ds);
        if (s == TT_OK) {
            cr->rng.state = v[0];
            cr->rng.inc = v[1];
        }
    }
    if (s == TT_OK) m->n_rngs = (int)n;
    close_id(&grp);
    return s;
}

/* Check the format and read every meta field into m (strings allocated; freed on failure). */
static tt_status read_meta(ck_reader *r, tt_checkpoint_meta *m)
{
    memset(m, 0, sizeof *m);
    hid_t grp;
    TT_CHECK(open_group(r, r->file, CK_META,
                        "has no '/meta' group; it is not a tinytrain checkpoint", TT_ERR_FORMAT,
                        &grp));
    char format[CK_FORMAT_MAX + 1];
    tt_status s = read_attr_str(r, grp, CK_META, "format", format, sizeof format);
    if (s == TT_OK && strcmp(format, TT_CHECKPOINT_FORMAT) != 0) {
        bool ours = strncmp(format, "tinytrain-checkpoint-", 21) == 0;
        s = ck_fail(&r->c, ours ? TT_ERR_UNSUPPORTED : TT_ERR_FORMAT, "format '%s' is not '%s'%s",
                    format, TT_CHECKPOINT_FORMAT,
                    ours ? "; it was written by a newer tinytrain" : "");
    }
    if (s == TT_OK) s = read_attr_str(r, grp, CK_META, "version", m->version, sizeof m->version);
    if (s == TT_OK) s = read_attr_num(r, grp, CK_META, "epoch", true, &m->epoch);
    if (s == TT_OK) s = read_attr_num(r, grp, CK_META, "step", true, &m->step);
    if (s == TT_OK) s = read_attr_num(r, grp, CK_META, "best", false, &m->best);
    if (s == TT_OK) s = read_text(r, grp, "config", &m->config_text);
    if (s == TT_OK) s = read_text(r, grp, "extra", &m->extra_json);
    close_id(&grp);
    if (s == TT_OK) s = read_rngs(r, r->file, m);
    if (s != TT_OK) tt_checkpoint_meta_free(m);
    return s;
}

tt_status tt_checkpoint_read_meta(const char *path, tt_checkpoint_meta *meta)
{
    const char *fn = "tt_checkpoint_read_meta";
    TT_CHECK_NULL(path, fn);
    TT_CHECK_NULL(meta, fn);
    h5_quiet q;
    h5_quiet_begin(&q);
    ck_reader r = {.c = {fn, path}};
    tt_checkpoint_meta m;
    tt_status s = open_file(&r);
    if (s == TT_OK) s = read_meta(&r, &m);
    close_id(&r.file);
    h5_quiet_end(&q);
    if (s == TT_OK) *meta = m;
    return s;
}

/* Append name to a "a, b, c and N more" list of at most CK_LIST_MAX names. */
static void list_add(char *buf, size_t cap, int *count, const char *name)
{
    if (*count < CK_LIST_MAX) {
        size_t used = strlen(buf);
        snprintf(buf + used, cap - used, "%s'%s'", *count ? ", " : "", name);
    }
    (*count)++;
}

static void list_finish(char *buf, size_t cap, int count)
{
    if (count > CK_LIST_MAX) {
        size_t used = strlen(buf);
        snprintf(buf + used, cap - used, " and %d more", count - CK_LIST_MAX);
    }
}

/* The names in group grp must be exactly names[0..n): lists the missing and the unexpected
 * ones. what is "parameter" or "optimiser state"; hint says what to do. */
static tt_status match_names(ck_reader *r, hid_t grp, const char *gname, const char *const *names,
                             int n, const char *what, const char *hint)
{
    char missing[CK_LIST_MAX * (TT_NAME_MAX + 20) + 32] = "";
    char extra[sizeof missing] = "";
    int n_missing = 0, n_extra = 0;
    for (int i = 0; i < n; i++) {
        htri_t ex = H5Lexists(grp, names[i], H5P_DEFAULT);
        if (ex < 0)
            return ck_fail(&r->c, TT_ERR_FORMAT, "cannot look up '/%s/%s'", gname, names[i]);
        if (ex == 0) list_add(missing, sizeof missing, &n_missing, names[i]);
    }
    hsize_t nl = 0;
    TT_CHECK(count_links(r, grp, gname, &nl));
    for (hsize_t k = 0; k < nl; k++) {
        char buf[CK_LINK_NAME_MAX];
        bool too_long = false;
        TT_CHECK(link_name(r, grp, gname, k, buf, sizeof buf, &too_long));
        bool known = false;
        for (int i = 0; i < n && !too_long && !known; i++) known = strcmp(buf, names[i]) == 0;
        if (!known) {
            if (too_long) snprintf(buf + sizeof buf - 4, 4, "...");
            list_add(extra, sizeof extra, &n_extra, buf);
        }
    }
    if (!n_missing && !n_extra) return TT_OK;
    list_finish(missing, sizeof missing, n_missing);
    list_finish(extra, sizeof extra, n_extra);
    return ck_fail(&r->c, TT_ERR_INVALID_ARG,
                   "%s set does not match: %d missing from the file%s%s%s; %d in the file but not "
                   "expected%s%s%s; %s",
                   what, n_missing, n_missing ? " (" : "", missing, n_missing ? ")" : "", n_extra,
                   n_extra ? " (" : "", extra, n_extra ? ")" : "", hint);
}

/* Read float32 dataset grp/name of exactly shape (ndim, dims) into out. */
static tt_status read_f32(ck_reader *r, hid_t grp, const char *gname, const char *name,
                          const char *what, int ndim, const hsize_t *dims, float *out)
{
    char where[TT_NAME_MAX + 64];
    snprintf(where, sizeof where, "%s '%s' (/%s/%s)", what, name, gname, name);
    hid_t ds = H5Dopen2(grp, name, H5P_DEFAULT), t = H5I_INVALID_HID, space = H5I_INVALID_HID;
    tt_status s = TT_OK;
    if (ds < 0) {
        s = ck_fail(&r->c, TT_ERR_FORMAT, "%s is not a dataset", where);
        goto done;
    }
    t = H5Dget_type(ds);
    H5T_class_t cls = t < 0 ? H5T_NO_CLASS : H5Tget_class(t);
    if (cls != H5T_FLOAT || H5Tget_size(t) != 4) {
        s = ck_fail(&r->c, TT_ERR_FORMAT, "%s is not float32 (HDF5 type class %d, %zu bytes)",
                    where, (int)cls, t < 0 ? (size_t)0 : H5Tget_size(t));
        goto done;
    }
    space = H5Dget_space(ds);
    int fnd = 0;
    hsize_t fdims[H5S_MAX_RANK];
    s = space_dims(r, space, where, &fnd, fdims);
    if (s != TT_OK) goto done;
    bool same = fnd == ndim;
    for (int d = 0; d < ndim && same; d++) same = fdims[d] == dims[d];
    if (!same) {
        char a[256], b[128];
        dims_str(fnd, fdims, a, sizeof a);
        dims_str(ndim, dims, b, sizeof b);
        s = ck_fail(&r->c, TT_ERR_SHAPE, "%s has shape %s in the checkpoint but %s here", where, a,
                    b);
        goto done;
    }
    if (H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
        s = ck_fail(&r->c, TT_ERR_FORMAT, "cannot read %s", where);
done:
    close_id(&space);
    close_id(&t);
    close_id(&ds);
    return s;
}

/* Everything tt_checkpoint_load reads before it commits. */
typedef struct ck_load {
    int n_params;
    const char **pnames; /* graph parameter names, then optimiser state names */
    int *pids;
    int n_states;
    float *stage; /* every parameter, then every state, in that order */
    int64_t steps;
} ck_load;

static tt_status read_params(ck_reader *r, tt_graph *g, ck_load *L, float *stage)
{
    hid_t grp;
    TT_CHECK(open_group(r, r->file, CK_PARAMS, "has no '/params' group; not a tinytrain checkpoint",
                        TT_ERR_FORMAT, &grp));
    tt_status s = match_names(r, grp, CK_PARAMS, L->pnames, L->n_params, "the parameter",
                              "the checkpoint is from a different model (compare the model "
                              "section of the config it was trained with)");
    for (int i = 0; i < L->n_params && s == TT_OK; i++) {
        const tt_value *v = &g->values[L->pids[i]];
        hsize_t dims[TT_MAX_DIMS];
        for (int d = 0; d < v->data->shape.ndim; d++) dims[d] = (hsize_t)v->data->shape.dims[d];
        s = read_f32(r, grp, CK_PARAMS, v->name, "parameter", v->data->shape.ndim, dims, stage);
        stage += tt_tensor_numel(v->data);
    }
    close_id(&grp);
    return s;
}

static tt_status read_optim(ck_reader *r, tt_optim *opt, ck_load *L, float *stage)
{
    hid_t grp;
    TT_CHECK(open_group(r, r->file, CK_OPTIM,
                        "holds no optimiser state (it was saved without one); load it without "
                        "an optimiser to use only the weights",
                        TT_ERR_INVALID_ARG, &grp));
    char kind[16];
    const char *want = kind_name(tt_optim_get_kind(opt));
    tt_status s = read_attr_str(r, grp, CK_OPTIM, "kind", kind, sizeof kind);
    if (s == TT_OK && strcmp(kind, want) != 0)
        s = ck_fail(&r->c, TT_ERR_INVALID_ARG,
                    "the optimiser state is for '%s' but this run uses '%s'; use the same "
                    "optimiser to resume, or load without an optimiser",
                    kind, want);
    if (s == TT_OK) s = read_attr_num(r, grp, CK_OPTIM, "steps", true, &L->steps);
    if (s == TT_OK && L->steps < 0)
        s = ck_fail(&r->c, TT_ERR_FORMAT, "the optimiser step count %lld is negative",
                    (long long)L->steps);
    if (s == TT_OK)
        s = match_names(r, grp, CK_OPTIM, L->pnames + L->n_params, L->n_states,
                        "the optimiser state",
                        "the optimiser settings differ (e.g. SGD momentum on vs off) or the "
                        "trainable parameters differ");
    for (int i = 0; i < L->n_states && s == TT_OK; i++) {
        const char *name = NULL;
        int64_t numel = 0;
        s = tt_optim_state_get(opt, i, &name, NULL, &numel);
        if (s != TT_OK) break;
        hsize_t dim = (hsize_t)numel;
        s = read_f32(r, grp, CK_OPTIM, name, "optimiser state", 1, &dim, stage);
        stage += numel;
    }
    close_id(&grp);
    return s;
}

tt_status tt_checkpoint_load(const char *path, tt_graph *g, tt_optim *opt, tt_checkpoint_meta *meta)
{
    const char *fn = "tt_checkpoint_load";
    TT_CHECK_NULL(path, fn);
    TT_CHECK_NULL(g, fn);

    /* Names and sizes first, from the graph and optimiser only. */
    ck_load L = {0};
    int64_t total = 0, param_total = 0;
    for (int i = 0; i < g->n_values; i++) {
        const tt_value *v = &g->values[i];
        if (v->kind != TT_VALUE_PARAM) continue;
        const char *why = bad_name(v->name);
        if (why)
            return tt_fail(TT_ERR_INVALID_ARG, "%s: '%s': the model's parameter '%s' %s", fn, path,
                           v->name, why);
        if (v->dtype != TT_F32 || !v->data || !v->data->data || v->data->dtype != TT_F32)
            return tt_fail(TT_ERR_UNSUPPORTED,
                           "%s: '%s': parameter '%s' is not a float32 tensor with data", fn, path,
                           v->name);
        L.n_params++;
        total += tt_tensor_numel(v->data);
    }
    param_total = total;
    L.n_states = opt ? tt_optim_state_count(opt) : 0;
    for (int i = 0; i < L.n_states; i++) {
        int64_t numel;
        TT_CHECK(tt_optim_state_get(opt, i, NULL, NULL, &numel));
        total += numel;
    }
    tt_status s = TT_OK;
    tt_checkpoint_meta m = {0};
    bool have_meta = false;
    L.pnames = malloc(((size_t)L.n_params + (size_t)L.n_states + 1) * sizeof *L.pnames);
    L.pids = malloc(((size_t)L.n_params + 1) * sizeof *L.pids);
    L.stage = malloc(((size_t)total + 1) * sizeof(float));
    if (!L.pnames || !L.pids || !L.stage) {
        s = tt_fail(TT_ERR_NOMEM, "%s: '%s': out of memory staging %lld floats", fn, path,
                    (long long)total);
        goto done;
    }
    for (int i = 0, k = 0; i < g->n_values; i++)
        if (g->values[i].kind == TT_VALUE_PARAM) {
            L.pids[k] = i;
            L.pnames[k++] = g->values[i].name;
        }
    for (int i = 0; i < L.n_states && s == TT_OK; i++)
        s = tt_optim_state_get(opt, i, &L.pnames[L.n_params + i], NULL, NULL);
    if (s != TT_OK) goto done;

    h5_quiet q;
    h5_quiet_begin(&q);
    ck_reader r = {.c = {fn, path}};
    s = open_file(&r);
    if (s == TT_OK) s = read_meta(&r, &m);
    have_meta = s == TT_OK;
    if (s == TT_OK) s = read_params(&r, g, &L, L.stage);
    if (s == TT_OK && opt) s = read_optim(&r, opt, &L, L.stage + param_total);
    close_id(&r.file);
    h5_quiet_end(&q);
    if (s != TT_OK) goto done;

    /* Everything is validated and read: commit. */
    const float *p = L.stage;
    for (int i = 0; i < L.n_params; i++) {
        tt_tensor *t = g->values[L.pids[i]].data;
        int64_t n = tt_tensor_numel(t);
        memcpy(t->data, p, (size_t)n * sizeof(float));
        p += n;
    }
    for (int i = 0; i < L.n_states; i++) {
        float *data;
        int64_t numel;
        tt_optim_state_get(opt, i, NULL, &data, &numel);
        memcpy(data, p, (size_t)numel * sizeof(float));
        p += numel;
    }
    if (opt) tt_optim_set_steps(opt, L.steps);
    if (meta) {
        *meta = m;
        have_meta = false; /* ownership of the strings moved to the caller */
    }
done:
    if (have_meta) tt_checkpoint_meta_free(&m);
    free(L.stage);
    free(L.pids);
    free(L.pnames);
    return s;
}
