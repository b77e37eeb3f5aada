/* Reading an ONNX file back for a summary (tinytrain/onnx.h: tt_onnx_inspect): the smoke round
 * trip checks what it exported without a runtime. Hostile files are refused by size before
 * anything is read, and by protobuf-c's own validation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "autograd/internal.h"
#include "data/whole_file.h"
#include "onnx.pb-c.h"
#include "tinytrain/onnx.h"

/* Tiny models only: a file above this is not one tinytrain made. */
#define INSPECT_MAX_BYTES ((long)256 << 20)

static void count_op(tt_onnx_info *s, const char *op)
{
    for (int i = 0; i < s->n_op_types; i++)
        if (!strcmp(s->op_types[i], op)) {
            s->op_counts[i]++;
            return;
        }
    if (s->n_op_types == TT_ONNX_INFO_MAX_OPS) return;
    snprintf(s->op_types[s->n_op_types], sizeof s->op_types[0], "%s", op);
    s->op_counts[s->n_op_types++] = 1;
}

tt_status tt_onnx_inspect(const char *path, tt_onnx_info *s)
{
    TT_CHECK_NULL(path, "tt_onnx_inspect");
    TT_CHECK_NULL(s, "tt_onnx_inspect");
    memset(s, 0, sizeof *s);
    void *buf = NULL;
    size_t len = 0;
    TT_CHECK(tt_read_whole_file(path, "ONNX model", INSPECT_MAX_BYTES, &buf, &len));
    if (len == 0) {
        free(buf);
        return tt_fail(TT_ERR_FORMAT, "%s: empty file; not an ONNX model", path);
    }
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, buf);
    free(buf);
    if (!m || !m->graph)
        return tt_fail(TT_ERR_FORMAT, "%s: not an ONNX model (the protobuf does not parse)", path);
    s->ir_version = m->ir_version;
    for (size_t i = 0; i < m->n_opset_import; i++)
        if (!m->opset_import[i]->domain || !m->opset_import[i]->domain[0])
            s->opset = m->opset_import[i]->version;
    const Onnx__GraphProto *g = m->graph;
    s->n_nodes = (int)g->n_node;
    s->n_initializers = (int)g->n_initializer;
    s->n_inputs = (int)g->n_input;
    s->n_outputs = (int)g->n_output;
    for (size_t i = 0; i < g->n_node; i++)
        count_op(s, g->node[i]->op_type ? g->node[i]->op_type : "");
    for (size_t i = 0; i < g->n_initializer; i++) {
        int dt = g->initializer[i]->data_type;
        s->n_int8_initializers += dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT8;
        s->n_int32_initializers += dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT32;
    }
    onnx__model_proto__free_unpacked(m, NULL);
    return TT_OK;
}

int tt_onnx_info_count(const tt_onnx_info *s, const char *op_type)
{
    for (int i = 0; i < s->n_op_types; i++)
        if (!strcmp(s->op_types[i], op_type)) return s->op_counts[i];
    return 0;
}
