/* ONNX -> IR (tinytrain/runtime.h: tt_onnx_import; docs/import.md): the file read under a size
 * cap, the model checked (opset, op types, names, counts) before any of it is built, then the
 * graph inputs, the nodes in the file's order and the first output. value_info is never read:
 * shapes come from the IR's own inference, so a stale or duplicated one changes nothing. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "autograd/internal.h"
#include "export/onnx_import.h"

static const char *str(const char *s)
{
    return s ? s : "";
}

static bool default_domain(const char *d)
{
    return !d || !d[0] || !strcmp(d, "ai.onnx");
}

/* ---- the model as a whole ------------------------------------------------------------------- */

static tt_status check_opset(tt_imp *im, const Onnx__ModelProto *m)
{
    bool found = false;
    for (size_t i = 0; i < m->n_opset_import; i++)
        if (default_domain(m->opset_import[i]->domain)) {
            im->opset = m->opset_import[i]->version;
            found = true;
        }
    if (!found)
        return tt_imp_fail(im, TT_ERR_FORMAT,
                           "the model declares no opset for the default ONNX domain "
                           "(opset_import); not an ONNX model tinytrain can read");
    if (im->opset < 7 || im->opset > 21)
        return tt_imp_fail(im, TT_ERR_UNSUPPORTED,
                           "opset %lld of the default domain is not supported; tinytrain imports "
                           "opsets 7 to 21 (convert the model with onnx.version_converter)",
                           (long long)im->opset);
    return TT_OK;
}

static tt_status check_counts(tt_imp *im, const Onnx__GraphProto *g)
{
    if (g->n_node > TT_IMPORT_MAX_NODES || g->n_initializer > TT_IMPORT_MAX_INITS ||
        g->n_input > TT_IMPORT_MAX_IO || g->n_output > TT_IMPORT_MAX_IO)
        return tt_imp_fail(im, TT_ERR_UNSUPPORTED,
                           "the graph has %zu nodes, %zu initializers, %zu inputs and %zu outputs; "
                           "tinytrain imports at most %d, %d, %d and %d",
                           g->n_node, g->n_initializer, g->n_input, g->n_output,
                           TT_IMPORT_MAX_NODES, TT_IMPORT_MAX_INITS, TT_IMPORT_MAX_IO,
                           TT_IMPORT_MAX_IO);
    if (g->n_sparse_initializer)
        return tt_imp_fail(im, TT_ERR_UNSUPPORTED,
                           "the graph has sparse initializers; tinytrain imports dense ones only");
    return TT_OK;
}

/* One error naming every op type the import has no mapping for, with counts. */
static tt_status check_ops(tt_imp *im, const Onnx__GraphProto *g)
{
    char list[400] = "";
    int kinds = 0;
    size_t used = 0;
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *p = g->node[i];
        if (tt_imp_op_supported(p->domain, str(p->op_type))) continue;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++) {
            const Onnx__NodeProto *q = g->node[j];
            seen = !strcmp(str(q->op_type), str(p->op_type)) &&
                   !strcmp(str(q->domain), str(p->domain));
        }
        if (seen) continue;
        int count = 0;
        for (size_t j = i; j < g->n_node; j++)
            count += !strcmp(str(g->node[j]->op_type), str(p->op_type)) &&
                     !strcmp(str(g->node[j]->domain), str(p->domain));
        /* The message has room for the first several kinds; the count says how many. */
        if (used < 300)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%.40s%s%.40s (x%d)",
                                     kinds ? ", " : "", str(p->op_type),
                                     default_domain(p->domain) ? "" : " in domain ",
                                     default_domain(p->domain) ? "" : p->domain, count);
        else if (used < 310)
            used += (size_t)snprintf(list + used, sizeof list - used, ", ...");
        kinds++;
    }
    if (!kinds) return TT_OK;
    char supported[640];
    tt_imp_supported_list(supported, sizeof supported);
    return tt_imp_fail(im, TT_ERR_UNSUPPORTED,
                       "%d unsupported op type%s: %s; tinytrain imports: %s", kinds,
                       kinds == 1 ? "" : "s", list, supported);
}

/* Every name a value gets (initializers, graph inputs, node outputs) is reserved first, so
 * names the import makes up never take one; a name defined twice is refused here. */
static tt_status reserve(tt_imp *im, const char *name, const char *what)
{
    if (!name || !name[0]) return tt_imp_fail(im, TT_ERR_FORMAT, "%s has an empty name", what);
    if (tt_imp_names_get(&im->onnx, name))
        return tt_imp_fail(im, TT_ERR_FORMAT,
                           "value '%.200s' is defined more than once (again as %s); ONNX values "
                           "have one definition",
                           name, what);
    TT_CHECK(tt_imp_names_put(&im->onnx, name, TT_IMP_ABSENT));
    return tt_imp_name_fits(name) ? tt_imp_names_put(&im->ir, name, 0) : TT_OK;
}

static tt_status reserve_names(tt_imp *im, const Onnx__GraphProto *g)
{
    char what[320];
    for (size_t i = 0; i < g->n_initializer; i++)
        TT_CHECK(reserve(im, g->initializer[i]->name, "an initializer"));
    for (size_t i = 0; i < g->n_input; i++) {
        const char *n = g->input[i]->name;
        int *h = n ? tt_imp_names_get(&im->onnx, n) : NULL;
        bool init = false;
        for (size_t j = 0; h && j < g->n_initializer && !init; j++)
            init = !strcmp(g->initializer[j]->name, n);
        if (!init) TT_CHECK(reserve(im, n, "a graph input"));
    }
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *p = g->node[i];
        snprintf(what, sizeof what, "an output of node '%.200s' (%.64s)", str(p->name),
                 str(p->op_type));
        for (size_t k = 0; k < p->n_output; k++)
            if (p->output[k] && p->output[k][0]) TT_CHECK(reserve(im, p->output[k], what));
    }
    return TT_OK;
}

/* ---- graph inputs ---------------------------------------------------------------------------- */

static tt_status input_shape(tt_imp *im, const Onnx__ValueInfoProto *v, bool first, tt_dtype *dt,
                             tt_shape *s)
{
    const Onnx__TypeProto *t = v->type;
    const Onnx__TypeProto__Tensor *tt =
        t && t->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ? t->tensor_type : NULL;
    if (!tt || !tt->shape)
        return tt_imp_fail(im, TT_ERR_UNSUPPORTED,
                           "graph input '%.200s' is not a tensor with a declared shape", v->name);
    if (!tt_imp_dtype(tt->elem_type, dt) || (first && *dt != TT_F32))
        return tt_imp_fail(im, TT_ERR_UNSUPPORTED, "graph input '%.200s' is %s; tinytrain feeds %s",
                           v->name, tt_imp_onnx_dtype_name(tt->elem_type),
                           first ? "a FLOAT first input" : "FLOAT, UINT8, INT8, INT32 or INT64");
    size_t r = tt->shape->n_dim;
    if (r < 1 || r > TT_MAX_DIMS)
        return tt_imp_fail(im, TT_ERR_UNSUPPORTED,
                           "graph input '%.200s' has rank %zu; tinytrain inputs have rank 1 to "
                           "%d, the first dimension being the batch",
                           v->name, r, TT_MAX_DIMS);
    s->ndim = (int)r;
    for (size_t d = 0; d < r; d++) {
        const Onnx__TensorShapeProto__Dimension *dim = tt->shape->dim[d];
        bool fixed = dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        if (d == 0 && !fixed) {
            s->dims[0] = TT_DIM_BATCH;
            continue;
        }
        if (!fixed || dim->dim_value < 1 || dim->dim_value > TT_TENSOR_MAX_BYTES / 4)
            return tt_imp_fail(im, TT_ERR_UNSUPPORTED,
                               "graph input '%.200s': dimension %zu is %s; tinytrain needs fixed "
                               "sizes >= 1 after the batch dimension",
                               v->name, d, fixed ? "out of range" : "symbolic");
        s->dims[d] = dim->dim_value;
    }
    return TT_OK;
}

static tt_status import_inputs(tt_imp *im, const Onnx__GraphProto *g, tt_model *model)
{
    model->input_id = -1;
    for (size_t i = 0; i < g->n_input; i++) {
        const Onnx__ValueInfoProto *v = g->input[i];
        int *h = tt_imp_names_get(&im->onnx, v->name);
        if (*h != TT_IMP_ABSENT) continue; /* an initializer listed as an input: a constant */
        bool first = model->input_id < 0;
        tt_dtype dt;
        tt_shape s;
        TT_CHECK(input_shape(im, v, first, &dt, &s));
        char name[TT_NAME_MAX];
        int id;
        TT_CHECK(tt_imp_value_name(im, v->name, name));
        if (tt_graph_add_input(im->g, name, dt, s.ndim, s.dims, &id) != TT_OK) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", tt_last_error());
            return tt_imp_fail(im, TT_ERR_UNSUPPORTED, "graph input '%.200s': %s", v->name, msg);
        }
        *tt_imp_names_get(&im->onnx, v->name) = id;
        if (!first) continue;
        model->input_id = id;
        model->fixed_batch = s.dims[0] == TT_DIM_BATCH ? 0 : s.dims[0];
    }
    if (model->input_id < 0)
        return tt_imp_fail(im, TT_ERR_UNSUPPORTED,
                           "the graph has no inputs%s; tinytrain models take one float input",
                           g->n_input ? " other than initializers" : "");
    return TT_OK;
}

/* ---- nodes ----------------------------------------------------------------------------------- */

static tt_status resolve_inputs(tt_imp *im, const Onnx__NodeProto *p, int *hin)
{
    if (p->n_input > TT_MAX_NODE_IO)
        return tt_imp_fail(im, TT_ERR_UNSUPPORTED, "%zu inputs; no op here takes more than %d",
                           p->n_input, TT_MAX_NODE_IO);
    for (int j = 0; j < TT_MAX_NODE_IO; j++) hin[j] = TT_IMP_ABSENT;
    for (size_t j = 0; j < p->n_input; j++) {
        const char *n = p->input[j];
        if (!n || !n[0]) continue; /* an absent optional input */
        int *h = tt_imp_names_get(&im->onnx, n);
        if (!h)
            return tt_imp_fail(im, TT_ERR_FORMAT,
                               "input %zu '%.200s' is not defined anywhere in the graph (no "
                               "initializer, graph input or node output has that name)",
                               j, n);
        if (*h == TT_IMP_ABSENT)
            return tt_imp_fail(im, TT_ERR_FORMAT,
                               "input %zu '%.200s' is used before the node that computes it; ONNX "
                               "nodes must be in topological order",
                               j, n);
        if (*h == TT_IMP_UNAVAILABLE)
            return tt_imp_fail(im, TT_ERR_UNSUPPORTED,
                               "input %zu '%.200s' is an output tinytrain does not compute "
                               "(Dropout's mask, MaxPool's indices, training-mode "
                               "BatchNormalization statistics)",
                               j, n);
        hin[j] = *h;
    }
    return TT_OK;
}

static tt_status import_nodes(tt_imp *im, const Onnx__GraphProto *g)
{
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *p = g->node[i];
        int hin[TT_MAX_NODE_IO];
        im->node = p;
        im->node_index = (int)i;
        TT_CHECK(resolve_inputs(im, p, hin));
        TT_CHECK(tt_imp_map_node(im, p, hin));
    }
    im->node = NULL;
    return TT_OK;
}

static tt_status import_outputs(tt_imp *im, const Onnx__GraphProto *g, tt_model *model)
{
    if (g->n_output == 0) return tt_imp_fail(im, TT_ERR_FORMAT, "the graph has no outputs");
    for (size_t i = 0; i < g->n_output; i++) {
        const char *n = g->output[i]->name;
        int *h = n ? tt_imp_names_get(&im->onnx, n) : NULL;
        if (!h || *h == TT_IMP_ABSENT || *h == TT_IMP_UNAVAILABLE)
            return tt_imp_fail(im, TT_ERR_FORMAT,
                               "graph output '%.200s' is not computed by any node, initializer "
                               "or input",
                               str(n));
        if (i == 0) TT_CHECK(tt_imp_value(im, *h, &model->output_id));
    }
    return TT_OK;
}

static tt_status import_model(tt_imp *im, Onnx__ModelProto *m, tt_model *model)
{
    Onnx__GraphProto *g = m->graph;
    if (!g)
        return tt_imp_fail(im, TT_ERR_FORMAT,
                           "not an ONNX model: it parses as a protobuf but has no graph");
    TT_CHECK(check_opset(im, m));
    TT_CHECK(check_counts(im, g));
    TT_CHECK(check_ops(im, g));
    if (g->n_node && !(im->pad_alias = calloc(g->n_node, sizeof *im->pad_alias)))
        return tt_imp_fail(im, TT_ERR_NOMEM, "out of memory");
    tt_imp_unpad_channels(g, im->pad_alias);
    TT_CHECK(reserve_names(im, g));
    for (size_t i = 0; i < g->n_initializer; i++) {
        int h;
        TT_CHECK(tt_imp_const_add(im, g->initializer[i]->name, g->initializer[i], &h));
        *tt_imp_names_get(&im->onnx, g->initializer[i]->name) = h;
    }
    TT_CHECK(import_inputs(im, g, model));
    TT_CHECK(import_nodes(im, g));
    TT_CHECK(import_outputs(im, g, model));
    model->ir_version = m->ir_version;
    model->opset = im->opset;
    snprintf(model->producer, sizeof model->producer, "%s", str(m->producer_name));
    return TT_OK;
}

/* ---- entry points ---------------------------------------------------------------------------- */

static tt_status max_bytes(const tt_onnx_import_opts *opts, int64_t *max)
{
    *max = opts && opts->max_bytes ? opts->max_bytes : TT_ONNX_IMPORT_MAX_BYTES;
    if (*max < 0)
        return tt_fail(TT_ERR_INVALID_ARG, "tt_onnx_import: max_bytes %lld is negative",
                       (long long)*max);
    return TT_OK;
}

tt_status tt_onnx_import_buffer(const uint8_t *buf, size_t len, const char *dir, const char *label,
                                const tt_onnx_import_opts *opts, tt_model **out)
{
    TT_CHECK_NULL(out, "tt_onnx_import_buffer");
    *out = NULL;
    if (!label) label = "ONNX model";
    int64_t max;
    TT_CHECK(max_bytes(opts, &max));
    if (!buf || len == 0) return tt_fail(TT_ERR_FORMAT, "%s: empty file; not an ONNX model", label);
    if ((uint64_t)len > (uint64_t)max)
        return tt_fail(TT_ERR_NOMEM,
                       "%s: %zu bytes, above the import cap of %lld bytes "
                       "(tt_onnx_import_opts.max_bytes)",
                       label, len, (long long)max);
    TT_CHECK(tt_imp_wire_check(buf, len, label));
    Onnx__ModelProto *m = tt_imp_unpack(buf, len, label);
    if (!m) return TT_ERR_FORMAT;
    tt_imp im = {.label = label, .dir = dir, .ext_budget = max - (int64_t)len};
    tt_model *model = calloc(1, sizeof *model);
    tt_status s =
        model ? tt_graph_create(&model->graph) : tt_fail(TT_ERR_NOMEM, "%s: out of memory", label);
    if (s == TT_OK) {
        im.g = model->graph;
        s = import_model(&im, m, model);
    }
    tt_imp_consts_free(&im);
    free(im.pad_alias);
    tt_imp_names_free(&im.onnx);
    tt_imp_names_free(&im.ir);
    onnx__model_proto__free_unpacked(m, NULL);
    if (s != TT_OK) {
        tt_model_free(model);
        return s;
    }
    *out = model;
    return TT_OK;
}

static tt_status read_file(const char *path, int64_t max, uint8_t **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return tt_fail(TT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    tt_status s = TT_OK;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode))
        s = tt_fail(TT_ERR_IO, "%s: not a regular file", path);
    else if (st.st_size == 0)
        s = tt_fail(TT_ERR_FORMAT, "%s: empty file; not an ONNX model", path);
    else if ((int64_t)st.st_size > max)
        s = tt_fail(TT_ERR_NOMEM,
                    "%s: %lld bytes, above the import cap of %lld bytes "
                    "(tt_onnx_import_opts.max_bytes)",
                    path, (long long)st.st_size, (long long)max);
    if (s == TT_OK) {
        *len = (size_t)st.st_size;
        *buf = malloc(*len);
        if (!*buf)
            s = tt_fail(TT_ERR_NOMEM, "%s: out of memory for %zu bytes", path, *len);
        else if (fread(*buf, 1, *len, f) != *len) {
            free(*buf);
            s = tt_fail(TT_ERR_IO, "%s: short read", path);
        }
    }
    fclose(f);
    return s;
}

tt_status tt_onnx_import(const char *path, const tt_onnx_import_opts *opts, tt_model **out)
{
    TT_CHECK_NULL(path, "tt_onnx_import");
    TT_CHECK_NULL(out, "tt_onnx_import");
    *out = NULL;
    int64_t max;
    TT_CHECK(max_bytes(opts, &max));
    uint8_t *buf = NULL;
    size_t len = 0;
    TT_CHECK(read_file(path, max, &buf, &len));
    /* External data is resolved against the real directory of the model. */
    char *real = realpath(path, NULL);
    tt_status s = real ? TT_OK : tt_fail(TT_ERR_IO, "%s: %s", path, strerror(errno));
    if (s == TT_OK) s = tt_onnx_import_buffer(buf, len, dirname(real), path, opts, out);
    free(real);
    free(buf);
    return s;
}

void tt_model_free(tt_model *m)
{
    if (!m) return;
    tt_graph_free(m->graph);
    free(m);
}
