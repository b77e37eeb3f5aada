/* Channel padding undone on import. tinytrain's QDQ export pads a Conv's input channels to a
 * multiple of 4 for ONNX Runtime's int8 convolution (export/onnx_qdq.c, docs/onnx.md):
 *
 *   Q -> Pad(trailing channels, the zero point) -> DequantizeLinear -> Conv(DequantizeLinear(W)
 *   with zero weights in the added channels)
 *
 * The added channels contribute nothing, so before any of the graph is built the Pad becomes an
 * alias of its input and the weight initializer loses those channels, in place; the IR then holds
 * the Conv as it was trained. Any other Pad is left for the op mapping, which refuses it with its
 * reason. */
#include <string.h>
#include "export/onnx_import.h"

static bool is_op(const Onnx__NodeProto *p, const char *op)
{
    return p->op_type && !strcmp(p->op_type, op) &&
           (!p->domain || !p->domain[0] || !strcmp(p->domain, "ai.onnx"));
}

static bool same(const char *a, const char *b)
{
    return a && b && a[0] && !strcmp(a, b);
}

/* How many node inputs and graph outputs read name. */
static int uses(const Onnx__GraphProto *g, const char *name)
{
    int n = 0;
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t j = 0; j < g->node[i]->n_input; j++) n += same(g->node[i]->input[j], name);
    for (size_t i = 0; i < g->n_output; i++) n += same(g->output[i]->name, name);
    return n;
}

/* The only node reading name, as input 0 (NULL when there is not exactly one such use). */
static Onnx__NodeProto *sole_reader(const Onnx__GraphProto *g, const char *name)
{
    if (uses(g, name) != 1) return NULL;
    for (size_t i = 0; i < g->n_node; i++)
        if (g->node[i]->n_input > 0 && same(g->node[i]->input[0], name)) return g->node[i];
    return NULL;
}

static Onnx__NodeProto *producer(const Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; i < g->n_node; i++)
        if (g->node[i]->n_output > 0 && same(g->node[i]->output[0], name)) return g->node[i];
    return NULL;
}

static Onnx__TensorProto *initializer(const Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; i < g->n_initializer; i++)
        if (same(g->initializer[i]->name, name)) return g->initializer[i];
    return NULL;
}

static const Onnx__AttributeProto *attr(const Onnx__NodeProto *p, const char *name)
{
    for (size_t i = 0; i < p->n_attribute; i++)
        if (same(p->attribute[i]->name, name)) return p->attribute[i];
    return NULL;
}

static bool local(const Onnx__TensorProto *t)
{
    return !(t->has_data_location &&
             t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL);
}

/* The channels a Pad adds at the end of axis 1 and nowhere else (constant mode, pads a local
 * int64 initializer, no axes input), or 0; *rank: the rank the pads are for. */
static int64_t channel_pad(const Onnx__GraphProto *g, const Onnx__NodeProto *p, int64_t *rank)
{
    const Onnx__AttributeProto *mode = attr(p, "mode");
    if (mode && !(mode->s.len == 8 && !memcmp(mode->s.data, "constant", 8))) return 0;
    if (p->n_input < 2 || p->n_output != 1 || (p->n_input > 3 && p->input[3] && p->input[3][0]))
        return 0;
    const Onnx__TensorProto *t = initializer(g, p->input[1]);
    if (!t || !local(t) || t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__INT64 || t->n_dims != 1 ||
        t->dims[0] < 6 || t->dims[0] > 2 * TT_MAX_DIMS || t->dims[0] % 2)
        return 0;
    int64_t n = t->dims[0], v[2 * TT_MAX_DIMS];
    if (t->raw_data.len == (size_t)n * 8) {
        for (int64_t i = 0; i < n; i++) {
            uint64_t u = 0;
            for (int b = 7; b >= 0; b--) u = u << 8 | t->raw_data.data[i * 8 + b];
            v[i] = (int64_t)u;
        }
    } else if (!t->raw_data.len && t->n_int64_data == (size_t)n) {
        memcpy(v, t->int64_data, (size_t)n * sizeof *v);
    } else {
        return 0;
    }
    for (int64_t i = 0; i < n; i++)
        if (i != n / 2 + 1 && v[i] != 0) return 0;
    *rank = n / 2;
    return v[n / 2 + 1] > 0 ? v[n / 2 + 1] : 0;
}

static bool zero_initializer(const Onnx__GraphProto *g, const char *name)
{
    const Onnx__TensorProto *t = initializer(g, name);
    if (!t || !local(t)) return false;
    for (size_t i = 0; i < t->raw_data.len; i++)
        if (t->raw_data.data[i]) return false;
    for (size_t i = 0; i < t->n_int32_data; i++)
        if (t->int32_data[i]) return false;
    return true;
}

/* The Conv (group 1) that reads the Pad p's output through one per-tensor DequantizeLinear,
 * each the only reader of the one before; NULL if none. */
static const Onnx__NodeProto *padded_conv(const Onnx__GraphProto *g, const Onnx__NodeProto *p)
{
    Onnx__NodeProto *d = sole_reader(g, p->output[0]);
    if (!d || !is_op(d, "DequantizeLinear") || d->n_output != 1) return NULL;
    /* one scale for the whole tensor, or dropping channels would misalign per-channel ones */
    const Onnx__TensorProto *s = d->n_input > 1 ? initializer(g, d->input[1]) : NULL;
    if (!s || s->n_dims > 1 || (s->n_dims == 1 && s->dims[0] != 1)) return NULL;
    Onnx__NodeProto *c = sole_reader(g, d->output[0]);
    if (!c || !is_op(c, "Conv") || c->n_input < 2) return NULL;
    const Onnx__AttributeProto *group = attr(c, "group");
    return group && group->i != 1 ? NULL : c;
}

/* The weight initializer of conv when only it uses it: an int8/uint8 one behind a
 * DequantizeLinear with zero zero points; NULL otherwise. */
static Onnx__TensorProto *conv_weight(const Onnx__GraphProto *g, const Onnx__NodeProto *conv)
{
    const char *w = conv->input[1];
    if (uses(g, w) != 1) return NULL;
    const Onnx__NodeProto *d = producer(g, w);
    if (!d || !is_op(d, "DequantizeLinear") || d->n_input < 1 || uses(g, d->input[0]) != 1)
        return NULL;
    if (d->n_input > 2 && d->input[2] && d->input[2][0] && !zero_initializer(g, d->input[2]))
        return NULL;
    /* per-channel scales must run along the output channels (axis 0), which stay */
    const Onnx__TensorProto *s = d->n_input > 1 ? initializer(g, d->input[1]) : NULL;
    const Onnx__AttributeProto *axis = attr(d, "axis");
    bool per_tensor = s && (s->n_dims == 0 || (s->n_dims == 1 && s->dims[0] == 1));
    if (!s || (!per_tensor && !(axis && axis->i == 0))) return NULL;
    Onnx__TensorProto *t = initializer(g, d->input[0]);
    return t && (t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT8 ||
                 t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__UINT8)
               ? t
               : NULL;
}

/* Drop channels [c, c + pad) of the 8-bit weight t [M, c + pad, ...] (rank: the padded
 * tensor's) in place if they are all zero. */
static bool drop_channels(Onnx__TensorProto *t, int64_t pad, int64_t rank)
{
    if (!local(t) || (int64_t)t->n_dims != rank || t->n_dims > TT_MAX_DIMS || t->dims[1] <= pad)
        return false;
    /* the file's dims are not validated yet: keep every product far from overflow */
    const int64_t limit = (int64_t)1 << 34;
    int64_t numel = 1;
    for (size_t i = 0; i < t->n_dims; i++) {
        if (t->dims[i] <= 0 || t->dims[i] > limit / numel) return false;
        numel *= t->dims[i];
    }
    int64_t m = t->dims[0], cp = t->dims[1], k = numel / (m * cp), c = cp - pad;
    bool raw = t->raw_data.len > 0; /* else 8-bit values are in int32_data */
    if ((raw ? t->raw_data.len : t->n_int32_data) != (size_t)numel) return false;
    uint8_t *b = t->raw_data.data;
    int32_t *v = t->int32_data;
    for (int64_t o = 0; o < m; o++)
        for (int64_t e = o * cp * k + c * k; e < (o + 1) * cp * k; e++)
            if (raw ? b[e] != 0 : v[e] != 0) return false;
    for (int64_t o = 0; o < m; o++) {
        size_t dst = (size_t)(o * c * k), src = (size_t)(o * cp * k), n = (size_t)(c * k);
        if (raw)
            memmove(b + dst, b + src, n);
        else
            memmove(v + dst, v + src, n * sizeof *v);
    }
    if (raw)
        t->raw_data.len = (size_t)(m * c * k);
    else
        t->n_int32_data = (size_t)(m * c * k);
    t->dims[1] = c;
    return true;
}

/* The export writes one Pad per padded Conv; a file of many Pads would make the quadratic use
 * counting below slow, and is not one of its files. */
#define MAX_PADS 64

void tt_imp_unpad_channels(Onnx__GraphProto *g, bool *alias)
{
    /* A node with more inputs or outputs than any op takes is refused when it is mapped; with
     * them, counting uses could scan millions of names per Pad first. */
    for (size_t i = 0; i < g->n_node; i++)
        if (g->node[i]->n_input > TT_MAX_NODE_IO || g->node[i]->n_output > TT_MAX_NODE_IO) return;
    int seen = 0;
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *p = g->node[i];
        if (!is_op(p, "Pad") || ++seen > MAX_PADS) continue;
        int64_t rank = 0, pad = channel_pad(g, p, &rank);
        const Onnx__NodeProto *conv = pad ? padded_conv(g, p) : NULL;
        Onnx__TensorProto *w = conv ? conv_weight(g, conv) : NULL;
        alias[i] = w && drop_channels(w, pad, rank);
    }
}
