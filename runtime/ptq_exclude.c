/* --exclude: nodes left in float, as quantize_static's nodes_to_exclude. ORT then gives the
 * node no Q/DQ of its own: its weight and bias stay float, and a tensor next to it is quantised
 * only when a quantised neighbour asks for it. In the prepared graph that means bypassing the
 * node's weight FakeQuant and BiasFakeQuant, then every activation FakeQuant whose producer
 * (with a fused Relu/Clip, the layer before it) and consumers (through MaxPool, Flatten,
 * Reshape) are all excluded. Nodes that have no quantisation of their own (pass-through ops,
 * BatchNormalization folded into its layer, a Relu/Clip fused into its producer) are refused:
 * excluding them alone would change nothing or break the fusion. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "autograd/internal.h"
#include "export/onnx_import.h"
#include "onnx.pb-c.h"
#include "runtime/ptq_internal.h"

static bool is_passthrough(tt_op_type op)
{
    return op == TT_OP_MAXPOOL || op == TT_OP_FLATTEN || op == TT_OP_RESHAPE || op == TT_OP_DROPOUT;
}

static bool is_fusing_producer(tt_op_type op)
{
    return op == TT_OP_CONV || op == TT_OP_GEMM || op == TT_OP_MATMUL || op == TT_OP_ADD ||
           op == TT_OP_BATCHNORM;
}

static int find_node(const tt_graph *g, const char *name)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (!strcmp(g->nodes[i].name, name)) return i;
    return -1;
}

static int count_consumers(const tt_graph *g, int v, int out_id)
{
    int c = v == out_id;
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_in; j++) c += g->nodes[i].in[j] == v;
    return c;
}

static tt_status read_model(const char *path, Onnx__ModelProto **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return tt_fail(TT_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    uint8_t *buf = n > 0 && n <= TT_ONNX_IMPORT_MAX_BYTES ? malloc((size_t)n) : NULL;
    bool ok = buf && fseek(f, 0, SEEK_SET) == 0 && fread(buf, 1, (size_t)n, f) == (size_t)n;
    fclose(f);
    tt_status s = ok ? tt_imp_wire_check(buf, (size_t)n, path)
                     : tt_fail(TT_ERR_IO, "%s: cannot read it again for --exclude", path);
    if (s == TT_OK && !(*out = tt_imp_unpack(buf, (size_t)n, path))) s = TT_ERR_FORMAT;
    free(buf);
    return s;
}

static tt_status no_such_node(const Onnx__GraphProto *og, const char *want)
{
    char list[600] = "";
    for (size_t i = 0; i < og->n_node && strlen(list) < sizeof list - 60; i++) {
        const char *nm = og->node[i]->name && og->node[i]->name[0] ? og->node[i]->name : "?";
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s'%s'", i ? ", " : "", nm);
    }
    return tt_fail(TT_ERR_INVALID_ARG,
                   "--exclude '%s': the model has no node of that name (nor a node whose first "
                   "output has it); its nodes: %s%s",
                   want, list, strlen(list) >= sizeof list - 60 ? ", ..." : "");
}

/* The imported graph's node for an ONNX node name (or a first output name): *idx, or an error
 * saying why it has none. */
static tt_status resolve(const Onnx__GraphProto *og, const tt_graph *src, const char *want,
                         int *idx)
{
    const char *op = NULL, *ir_name = want;
    for (size_t i = 0; i < og->n_node; i++) {
        const Onnx__NodeProto *p = og->node[i];
        if (p->name && !strcmp(p->name, want)) {
            op = p->op_type;
            ir_name = p->n_output > 0 ? p->output[0] : "";
            break;
        }
    }
    *idx = find_node(src, ir_name);
    if (*idx >= 0) return TT_OK;
    if (op)
        return tt_fail(TT_ERR_INVALID_ARG,
                       "--exclude '%s' (%s): this node has no node of its own in tinytrain's "
                       "graph (Identity, Dropout and Constant disappear on import, and a very "
                       "long output name is shortened), so there is nothing to leave in float",
                       want, op);
    return no_such_node(og, want);
}

/* Whether src node i can be left in float on its own. */
static tt_status check_excludable(const tt_graph *src, int src_out, int i, const char *want)
{
    const tt_node *n = &src->nodes[i];
    if (is_passthrough(n->op))
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "--exclude '%s' (%s): this op has no quantisation of its own (it runs on "
                       "the quantised values of its input, unchanged), so it cannot be left in "
                       "float; exclude the layers around it",
                       want, tt_op_name(n->op));
    int x = n->in[0], p = x >= 0 ? src->values[x].producer : -1;
    if (n->op == TT_OP_BATCHNORM && p >= 0)
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "--exclude '%s' (BatchNormalization): it is folded into '%s' (%s); "
                       "exclude that node to keep both in float",
                       want, src->nodes[p].name, tt_op_name(src->nodes[p].op));
    if ((n->op == TT_OP_RELU || n->op == TT_OP_CLIP) && p >= 0 &&
        is_fusing_producer(src->nodes[p].op) && count_consumers(src, x, src_out) == 1) {
        /* A folded BN's Relu is fused into the layer before the BN. */
        const tt_node *layer = &src->nodes[p];
        if (layer->op == TT_OP_BATCHNORM && src->values[layer->in[0]].producer >= 0)
            layer = &src->nodes[src->values[layer->in[0]].producer];
        return tt_fail(TT_ERR_UNSUPPORTED,
                       "--exclude '%s' (%s): it is fused into '%s' (%s), whose quantisation "
                       "point comes after it; exclude '%s' to keep both in float",
                       want, tt_op_name(n->op), layer->name, tt_op_name(layer->op), layer->name);
    }
    return TT_OK;
}

/* The node producing value v through a FakeQuant-free fused Relu/Clip: the layer that owns the
 * quantisation point on v. */
static int owner(const tt_graph *g, int v)
{
    int p = g->values[v].producer;
    if (p < 0) return -1;
    const tt_node *n = &g->nodes[p];
    if (n->op != TT_OP_RELU && n->op != TT_OP_CLIP) return p;
    int q = g->values[n->in[0]].producer;
    if (q >= 0 && is_fusing_producer(g->nodes[q].op)) return q;
    return p;
}

/* Whether a node that is not excluded reads v (through pass-through ops). */
static bool read_by_quantised(const tt_graph *g, const bool *excl, int v)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const tt_node *c = &g->nodes[i];
        bool reads = false;
        for (int j = 0; j < c->n_in; j++) reads |= c->in[j] == v;
        if (!reads) continue;
        if (is_passthrough(c->op)) {
            if (read_by_quantised(g, excl, c->out[0])) return true;
        } else if (!excl[i]) {
            return true;
        }
    }
    return false;
}

static void rewire(tt_graph *g, int from, int to, int *out)
{
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_in; j++)
            if (g->nodes[i].in[j] == from) g->nodes[i].in[j] = to;
    if (*out == from) *out = to;
}

/* The float weight and bias back into an excluded layer. */
static void bypass_layer(tt_graph *g, tt_node *n)
{
    for (int j = 1; j < n->n_in && j < 3; j++) {
        int v = n->in[j], p = v >= 0 ? g->values[v].producer : -1;
        if (p >= 0 && (g->nodes[p].op == TT_OP_FAKEQUANT || g->nodes[p].op == TT_OP_BIAS_QUANT))
            n->in[j] = g->nodes[p].in[0];
    }
}

static void bypass_points(tt_graph *g, const bool *excl, int *dst_out)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const tt_node *n = &g->nodes[i];
        if (n->op != TT_OP_FAKEQUANT || tt_ptq_is_weight_point(g, n)) continue;
        int o = owner(g, n->in[0]);
        bool produced = o >= 0 && !excl[o];
        if (produced || read_by_quantised(g, excl, n->out[0])) continue;
        rewire(g, n->out[0], n->in[0], dst_out);
    }
}

static tt_status mark(const tt_graph *src, int src_out, tt_graph *dst, const Onnx__GraphProto *og,
                      const tt_ptq_opts *o, bool *excl, int *n_excluded)
{
    for (int k = 0; k < o->n_exclude; k++) {
        int si;
        TT_CHECK(resolve(og, src, o->exclude[k], &si));
        TT_CHECK(check_excludable(src, src_out, si, o->exclude[k]));
        int di = find_node(dst, src->nodes[si].name);
        if (di < 0)
            return tt_fail(TT_ERR_STATE, "--exclude '%s': node '%s' is not in the prepared graph",
                           o->exclude[k], src->nodes[si].name);
        *n_excluded += !excl[di];
        excl[di] = true;
    }
    return TT_OK;
}

tt_status tt_ptq_exclude(const char *model_path, const tt_graph *src, int src_out, tt_graph *dst,
                         int *dst_out, const tt_ptq_opts *o, int *n_excluded)
{
    *n_excluded = 0;
    if (o->n_exclude == 0) return TT_OK;
    Onnx__ModelProto *m;
    TT_CHECK(read_model(model_path, &m));
    bool *excl = calloc((size_t)dst->n_nodes, sizeof *excl);
    tt_status s = excl ? TT_OK : tt_fail(TT_ERR_NOMEM, "--exclude: out of memory");
    if (s == TT_OK && !m->graph) s = tt_fail(TT_ERR_FORMAT, "%s: no graph", model_path);
    if (s == TT_OK) s = mark(src, src_out, dst, m->graph, o, excl, n_excluded);
    if (s == TT_OK) {
        for (int i = 0; i < dst->n_nodes; i++)
            if (excl[i]) bypass_layer(dst, &dst->nodes[i]);
        bypass_points(dst, excl, dst_out);
    }
    free(excl);
    onnx__model_proto__free_unpacked(m, NULL);
    return s;
}
