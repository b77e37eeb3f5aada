/* The csv kind: a header row of column names, then one row of numbers per sample. One column is
 * the target (named by target_column), every other column a feature, in file order. Every
 * error names the file and the 1-based line. */
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include "data/dataset_internal.h"

#define CSV_MAX_COLUMNS (1 << 20)

typedef struct csv_state {
    const char *path;
    FILE *f;
    char *line;
    size_t cap;
    int64_t lineno;
    char **fields;
    int64_t n_fields_cap;
    char **names;   /* header names (copies) */
    int64_t n_cols; /* header columns */
    int64_t target; /* index of the target column */
    float *x;       /* features, grown by doubling */
    int64_t x_cap;  /* floats */
    float *y;       /* target values (labels are checked to be integral) */
    int64_t y_cap;
    int64_t n;
} csv_state;

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t len = strlen(s);
    while (len > 0 &&
           (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r' || s[len - 1] == '\n'))
        s[--len] = '\0';
    if (len >= 2 && s[0] == '"' && s[len - 1] == '"') {
        s[len - 1] = '\0';
        s++;
    }
    return s;
}

static bool blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n') return false;
    return true;
}

/* Split st->line at commas into st->fields; returns the count (or -1 on out of memory). */
static int64_t split(csv_state *st)
{
    int64_t k = 0;
    char *p = st->line;
    for (;;) {
        if (k == st->n_fields_cap) {
            int64_t nc = st->n_fields_cap ? st->n_fields_cap * 2 : 64;
            char **nf = realloc(st->fields, (size_t)nc * sizeof *nf);
            if (!nf) return -1;
            st->fields = nf, st->n_fields_cap = nc;
        }
        st->fields[k++] = p;
        char *c = strchr(p, ',');
        if (!c) break;
        *c = '\0';
        p = c + 1;
        if (k > CSV_MAX_COLUMNS) break;
    }
    for (int64_t i = 0; i < k; i++) st->fields[i] = trim(st->fields[i]);
    return k;
}

/* The next non-blank line into st->line; false at the end of the file. */
static bool next_line(csv_state *st)
{
    for (;;) {
        ssize_t got = getline(&st->line, &st->cap, st->f);
        if (got < 0) return false;
        st->lineno++;
        if (!blank(st->line)) return true;
    }
}

static tt_status grow(float **buf, int64_t *cap, int64_t need, const char *path)
{
    if (need <= *cap) return TT_OK;
    int64_t nc = *cap ? *cap : 4096;
    while (nc < need) nc *= 2;
    if (nc > TT_TENSOR_MAX_BYTES / 4)
        return tt_fail(TT_ERR_NOMEM, "%s: the data exceeds the %" PRId64 "-byte cap", path,
                       (int64_t)TT_TENSOR_MAX_BYTES);
    float *nb = realloc(*buf, (size_t)nc * sizeof *nb);
    if (!nb) return tt_fail(TT_ERR_NOMEM, "%s: out of memory", path);
    *buf = nb, *cap = nc;
    return TT_OK;
}

static tt_status read_header(csv_state *st, const char *target_column)
{
    if (!next_line(st))
        return tt_fail(TT_ERR_FORMAT,
                       "%s: the file is empty; it needs a header row of column "
                       "names and one row per sample",
                       st->path);
    /* A UTF-8 byte-order mark, as spreadsheet programs write it. */
    if (strncmp(st->line, "\xEF\xBB\xBF", 3) == 0)
        memmove(st->line, st->line + 3, strlen(st->line) - 2);
    int64_t k = split(st);
    if (k < 0) return tt_fail(TT_ERR_NOMEM, "%s: out of memory", st->path);
    if (k > CSV_MAX_COLUMNS)
        return tt_fail(TT_ERR_FORMAT, "%s:%" PRId64 ": more than %d columns", st->path, st->lineno,
                       CSV_MAX_COLUMNS);
    st->names = calloc((size_t)k, sizeof *st->names);
    if (!st->names) return tt_fail(TT_ERR_NOMEM, "%s: out of memory", st->path);
    st->n_cols = k;
    st->target = -1;
    for (int64_t i = 0; i < k; i++) {
        if (!st->fields[i][0])
            return tt_fail(TT_ERR_FORMAT, "%s:%" PRId64 ": header column %" PRId64 " has no name",
                           st->path, st->lineno, i + 1);
        st->names[i] = strdup(st->fields[i]);
        if (!st->names[i]) return tt_fail(TT_ERR_NOMEM, "%s: out of memory", st->path);
        if (strcmp(st->names[i], target_column) == 0) {
            if (st->target >= 0)
                return tt_fail(TT_ERR_FORMAT,
                               "%s:%" PRId64 ": two columns are named '%s'; the target column "
                               "must be unique",
                               st->path, st->lineno, target_column);
            st->target = i;
        }
    }
    if (st->target < 0) {
        char list[256];
        size_t used = 0;
        list[0] = '\0';
        for (int64_t i = 0; i < k && used + 4 < sizeof list; i++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s'%s'", i ? ", " : "",
                                     st->names[i]);
        return tt_fail(TT_ERR_FORMAT,
                       "%s:%" PRId64 ": no column named '%s' (data.train.target_column); the "
                       "header has %s",
                       st->path, st->lineno, target_column, list);
    }
    if (k < 2)
        return tt_fail(TT_ERR_FORMAT,
                       "%s:%" PRId64 ": the only column is the target; there are no features",
                       st->path, st->lineno);
    return TT_OK;
}

static tt_status parse_value(csv_state *st, int64_t col, const char *text, float *out)
{
    if (!text[0])
        return tt_fail(TT_ERR_FORMAT,
                       "%s:%" PRId64 ": column '%s' is empty; every value must be a number",
                       st->path, st->lineno, st->names[col]);
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end != '\0')
        return tt_fail(TT_ERR_FORMAT, "%s:%" PRId64 ": column '%s': '%s' is not a number", st->path,
                       st->lineno, st->names[col], text);
    if (!isfinite(v) || fabs(v) > FLT_MAX)
        return tt_fail(TT_ERR_NUMERIC,
                       "%s:%" PRId64 ": column '%s' is %s (sample %" PRId64
                       "); values must be finite float32 numbers",
                       st->path, st->lineno, st->names[col], text, st->n);
    *out = (float)v;
    return TT_OK;
}

static tt_status read_rows(csv_state *st, bool labels)
{
    int64_t nf = st->n_cols - 1;
    while (next_line(st)) {
        int64_t k = split(st);
        if (k < 0) return tt_fail(TT_ERR_NOMEM, "%s: out of memory", st->path);
        if (k != st->n_cols)
            return tt_fail(TT_ERR_FORMAT,
                           "%s:%" PRId64 ": the row has %s%" PRId64 " fields but the header "
                           "has %" PRId64 " columns",
                           st->path, st->lineno, k > CSV_MAX_COLUMNS ? "over " : "", k, st->n_cols);
        TT_CHECK(grow(&st->x, &st->x_cap, (st->n + 1) * nf, st->path));
        TT_CHECK(grow(&st->y, &st->y_cap, st->n + 1, st->path));
        float *row = st->x + st->n * nf;
        for (int64_t i = 0, j = 0; i < k; i++) {
            float v = 0.0f;
            TT_CHECK(parse_value(st, i, st->fields[i], &v));
            if (i != st->target) {
                row[j++] = v;
                continue;
            }
            if (labels && (v != floorf(v) || v < 0.0f || v >= (float)TT_DATASET_MAX_CLASSES))
                return tt_fail(TT_ERR_FORMAT,
                               "%s:%" PRId64 ": target '%s' is %s, not a class label (an "
                               "integer in 0..%d)",
                               st->path, st->lineno, st->names[i], st->fields[i],
                               TT_DATASET_MAX_CLASSES - 1);
            st->y[st->n] = v;
        }
        st->n++;
    }
    if (ferror(st->f))
        return tt_fail(TT_ERR_IO, "%s: read failed after line %" PRId64 " (%s)", st->path,
                       st->lineno, strerror(errno));
    if (st->n == 0)
        return tt_fail(TT_ERR_FORMAT, "%s: the header is followed by no data rows", st->path);
    return TT_OK;
}

static tt_status build(csv_state *st, tt_task task, const tt_shape *sample_shape, int64_t n_outputs,
                       tt_dataset **out)
{
    int64_t nf = st->n_cols - 1, dims[2] = {st->n, nf};
    tt_shape in_shape, tg_shape = {.ndim = 1, .dims = {1}};
    TT_CHECK(tt_ds_sample_shape(2, dims, sample_shape, st->path, "feature", &in_shape));
    tt_target_kind tk = task == TT_TASK_CLASSIFICATION ? TT_TARGET_LABEL : TT_TARGET_FLOAT;
    tt_dataset *ds;
    TT_CHECK(tt_ds_create(&ds, st->n, &in_shape, tk, &tg_shape, true, st->path));
    memcpy(ds->inputs, st->x, (size_t)(st->n * nf) * sizeof(float));
    tt_status s = TT_OK;
    if (tk == TT_TARGET_LABEL) {
        for (int64_t i = 0; i < st->n; i++) ds->labels[i] = (int32_t)st->y[i];
        s = tt_ds_finish_labels(ds, 0, n_outputs, st->path);
    } else {
        memcpy(ds->targets, st->y, (size_t)st->n * sizeof(float));
        s = tt_ds_check_target_size(ds, n_outputs, st->path);
    }
    if (s == TT_OK) s = tt_ds_add_source(ds, st->path);
    if (s != TT_OK) {
        tt_dataset_free(ds);
        return s;
    }
    *out = ds;
    return TT_OK;
}

tt_status tt_ds_load_csv(const char *file, const char *target_column, tt_task task,
                         const tt_shape *sample_shape, int64_t n_outputs, tt_dataset **out)
{
    *out = NULL;
    if (!file || !file[0] || !target_column || !target_column[0])
        return tt_fail(TT_ERR_INVALID_ARG, "data.kind csv needs a file and a target_column");
    if (task == TT_TASK_IMAGE_TO_IMAGE)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "%s: data.kind csv has one target column; it cannot feed task "
                       "image_to_image",
                       file);
    csv_state st = {.path = file};
    st.f = fopen(file, "rb");
    if (!st.f) return tt_fail(TT_ERR_IO, "%s: cannot open (%s)", file, strerror(errno));
    tt_status s = read_header(&st, target_column);
    if (s == TT_OK) s = read_rows(&st, task == TT_TASK_CLASSIFICATION);
    if (s == TT_OK) s = build(&st, task, sample_shape, n_outputs, out);
    fclose(st.f);
    free(st.line);
    free(st.fields);
    for (int64_t i = 0; st.names && i < st.n_cols; i++) free(st.names[i]);
    free(st.names);
    free(st.x);
    free(st.y);
    return s;
}
