/* The gate's samples read from a file instead of drawn from the generator (tinytrain/gate.h,
 * docs/gate.md "Inputs from a file"): real data keeps a model inside the domain it was trained
 * on, where uniform noise can put it far outside. The whole array is loaded (gate files are a
 * few dozen samples) and checked before a model sees any of it. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "autograd/internal.h"
#include "data/dataset_internal.h"
#include "tinytrain/gate.h"
#include "tinytrain/npz.h"

/* The array to use: the one named after the model input, or the only one in the file. */
static tt_status pick_array(const tt_npz *z, const char *path, const char *input_name, char *array,
                            size_t len)
{
    int n = tt_npz_count(z);
    const char *name = NULL;
    if (input_name && tt_npz_has(z, input_name))
        name = input_name;
    else if (n == 1)
        name = tt_npz_name(z, 0);
    if (name) {
        snprintf(array, len, "%s", name);
        return TT_OK;
    }
    char list[600] = "";
    for (int i = 0; i < n && strlen(list) + 4 < sizeof list; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s'%s'", i ? ", " : "",
                 tt_npz_name(z, i));
    return tt_fail(TT_ERR_FORMAT,
                   "%s has no array named '%s' (the model input's name) and holds %d arrays%s%s; "
                   "name the samples after the model input (tinytrain calib writes \"input\"), "
                   "or keep one array in the file",
                   path, input_name ? input_name : "?", n, n ? ": " : "", list);
}

/* [N, d1, ...] against the sample shape [rows, d1, ...]: same rank, same dims after the first. */
static tt_status check_shape(const char *where, const tt_shape *have, const tt_shape *sample,
                             const char *input_name)
{
    bool ok = have->ndim == sample->ndim;
    for (int i = 1; ok && i < have->ndim; i++) ok = have->dims[i] == sample->dims[i];
    if (ok) return TT_OK;
    char got[96], want[96] = "[N";
    tt_shape_str(have, got, sizeof got);
    for (int i = 1; i < sample->ndim; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), ", %" PRId64, sample->dims[i]);
    snprintf(want + strlen(want), sizeof want - strlen(want), "]");
    return tt_fail(TT_ERR_SHAPE,
                   "%s has shape %s; the model input '%s' takes %s (samples stacked along "
                   "dimension 0, already normalised as the model expects)",
                   where, got, input_name ? input_name : "?", want);
}

static tt_status check_array(const char *where, const tt_tensor *t, const tt_shape *sample,
                             const char *input_name, int64_t n_samples)
{
    int64_t rows = sample->dims[0], need = n_samples * rows;
    if (t->dtype != TT_F32)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "%s has dtype %s; gate samples must be float32 (float64 is read as "
                       "float32), already normalised as the model expects",
                       where, tt_dtype_name(t->dtype));
    TT_CHECK(check_shape(where, &t->shape, sample, input_name));
    int64_t have = t->shape.dims[0];
    char runs[96] = "";
    if (rows > 1)
        snprintf(runs, sizeof runs, ": %" PRId64 " runs of the model's fixed batch of %" PRId64,
                 n_samples, rows);
    if (have < need)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "%s holds %" PRId64 " samples but the gate asks for %" PRId64
                       "%s (--samples, default %d); write more (tinytrain calib -n) or ask for "
                       "fewer",
                       where, have, need, runs, TT_GATE_SAMPLES_DEFAULT);
    int64_t per = tt_shape_numel(sample) / rows;
    /* Every value in the file, not only those used: a NaN anywhere means a broken file. */
    return tt_ds_check_finite(t->data, have, per, 0, where, "values");
}

tt_status tt_gate_data_inputs(const char *path, const char *input_name, const tt_shape *input_shape,
                              int64_t n_samples, tt_shape *sample, float **x, char *array,
                              size_t array_len)
{
    TT_CHECK_NULL(path, "tt_gate_data_inputs");
    TT_CHECK_NULL(input_shape, "tt_gate_data_inputs");
    TT_CHECK_NULL(sample, "tt_gate_data_inputs");
    TT_CHECK_NULL(x, "tt_gate_data_inputs");
    TT_CHECK_NULL(array, "tt_gate_data_inputs");
    *x = NULL;
    array[0] = '\0';
    size_t plen = strlen(path);
    if (plen < 5 || strcmp(path + plen - 4, ".npz"))
        return tt_fail(TT_ERR_INVALID_ARG,
                       "%s: gate samples come in an .npz file (np.savez, or tinytrain calib -o "
                       "F.npz)",
                       path);
    if (n_samples < 1 || n_samples > TT_GATE_SAMPLES_MAX)
        return tt_fail(TT_ERR_INVALID_ARG, "gate: %" PRId64 " samples; 1 .. %d allowed", n_samples,
                       TT_GATE_SAMPLES_MAX);
    *sample = *input_shape;
    for (int i = 0; i < sample->ndim; i++)
        if (sample->dims[i] < 0) sample->dims[i] = 1; /* symbolic: 1, as for drawn samples */
    tt_npz *z = NULL;
    tt_status s = tt_npz_open(path, &z);
    if (s != TT_OK) {
        char why[1024];
        snprintf(why, sizeof why, "%s", tt_last_error());
        return tt_fail(s, "cannot read the gate samples: %s", why);
    }
    s = pick_array(z, path, input_name, array, array_len);
    tt_tensor *t = NULL;
    if (s == TT_OK) s = tt_npz_load(z, array, &t);
    tt_npz_close(z);
    char where[1400];
    snprintf(where, sizeof where, "%s: array '%s'", path, array);
    int64_t per = tt_shape_numel(sample);
    if (s == TT_OK) s = check_array(where, t, sample, input_name, n_samples);
    if (s == TT_OK && !(*x = malloc((size_t)(per * n_samples) * sizeof(float))))
        s = tt_fail(TT_ERR_NOMEM, "%s: out of memory", where);
    if (s == TT_OK) memcpy(*x, t->data, (size_t)(per * n_samples) * sizeof(float));
    tt_tensor_free(t);
    return s;
}
