/* The layers of an fp32 ONNX model that static PTQ quantises on their own (tinytrain/eval.h):
 * what the sensitivity study quantises one at a time. The rules are those tt_ptq_quantize
 * applies to --exclude targets (runtime/ptq_exclude.c): a node can be left in float alone
 * unless it is a pass-through op, a BatchNorm folded into its layer, or a Relu/Clip fused into
 * its producer's quantisation point. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "autograd/internal.h"
#include "data/whole_file.h"
#include "export/onnx_import.h"
#include "tinytrain/eval.h"

static bool fuses_activation(tt_op_type op)
{
    return op == TT_OP_CONV || op == TT_OP_GEMM || op == TT_OP_MATMUL || op == TT_OP_ADD ||
           op == TT_OP_BATCHNORM;
}

/* Readers of value v, the model output counting as one. */
static int readers(const tt_graph *g, int v, int out_id)
{
    int c = v == out_id;
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_in; j++) c += g->nodes[i].in[j] == v;
    return c;
}

static bool is_layer(const tt_graph *g, int i, int out_id)
{
    const tt_node *n = &g->nodes[i];
    switch (n->op) {
    case TT_OP_MAXPOOL:
    case TT_OP_FLATTEN:
    case TT_OP_RESHAPE:
    case TT_OP_DROPOUT:
        return false;
    default:
        break;
    }
    int x = n->n_in > 0 ? n->in[0] : -1, p = x >= 0 ? g->values[x].producer : -1;
    if (n->op == TT_OP_BATCHNORM) return p < 0;
    if (n->op == TT_OP_RELU || n->op == TT_OP_CLIP)
        return !(p >= 0 && fuses_activation(g->nodes[p].op) && readers(g, x, out_id) == 1);
    return true;
}

static int find_node(const tt_graph *g, const char *name)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (!strcmp(g->nodes[i].name, name)) return i;
    return -1;
}

/* Walk the ONNX nodes in file order: the imported graph names each node after its first output,
 * and --exclude wants the ONNX node name. */
static tt_status collect(const Onnx__GraphProto *og, const tt_model *m, tt_eval_layer *out, int *n)
{
    *n = 0;
    for (size_t k = 0; k < og->n_node; k++) {
        const Onnx__NodeProto *p = og->node[k];
        if (p->op_type && strstr(p->op_type, "QuantizeLinear"))
            return tt_fail(TT_ERR_INVALID_ARG,
                           "node '%s' (%s): the model is already quantised; the sensitivity "
                           "study quantises an fp32 model one layer at a time",
                           p->name ? p->name : "", p->op_type);
        if (p->n_output == 0) continue;
        int i = find_node(m->graph, p->output[0]);
        if (i < 0 || !is_layer(m->graph, i, m->output_id)) continue;
        const char *name = p->name && p->name[0] ? p->name : p->output[0];
        tt_eval_layer *l = &out[(*n)++];
        snprintf(l->node, sizeof l->node, "%s", name);
        snprintf(l->op, sizeof l->op, "%s", p->op_type);
    }
    return TT_OK;
}

tt_status tt_eval_layers(const char *path, tt_eval_layer **layers, int *n)
{
    TT_CHECK_NULL(layers, "tt_eval_layers");
    TT_CHECK_NULL(n, "tt_eval_layers");
    *layers = NULL;
    *n = 0;
    tt_model *m = NULL;
    TT_CHECK(tt_onnx_import(path, NULL, &m));
    void *buf = NULL;
    size_t len = 0;
    Onnx__ModelProto *mp = NULL;
    tt_status s = tt_read_whole_file(path, "ONNX model", TT_ONNX_IMPORT_MAX_BYTES, &buf, &len);
    if (s == TT_OK) s = tt_imp_wire_check(buf, len, path);
    if (s == TT_OK && !(mp = tt_imp_unpack(buf, len, path))) s = TT_ERR_FORMAT;
    if (s == TT_OK && !mp->graph) s = tt_fail(TT_ERR_FORMAT, "%s: the model has no graph", path);
    tt_eval_layer *out = NULL;
    if (s == TT_OK && !(out = calloc(mp->graph->n_node + 1, sizeof *out)))
        s = tt_fail(TT_ERR_NOMEM, "%s: out of memory", path);
    if (s == TT_OK) s = collect(mp->graph, m, out, n);
    if (s == TT_OK && *n == 0)
        s = tt_fail(TT_ERR_UNSUPPORTED, "%s: the model has no layer that static PTQ quantises",
                    path);
    if (s == TT_OK)
        *layers = out;
    else
        free(out);
    if (mp) onnx__model_proto__free_unpacked(mp, NULL);
    free(buf);
    tt_model_free(m);
    return s;
}
