/* ONNX export (tinytrain/onnx.h): the written files are read back with protobuf-c and checked
 * for structure (op order, names, dtypes, axes, graph I/O, opset/IR, metadata), exact
 * quantised values against the numerics module, determinism, and clean refusals. Numerics in
 * ONNX Runtime are checked by the Python tests (tests/onnx). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "data/sha256.h"
#include "onnx.pb-c.h"
#include "testutil.h"
#include "tinytrain/onnx.h"
#include "tinytrain/qat.h"

/* conv (no bias) - bn - relu - maxpool - conv (bias) - bn - relu - flatten - dropout - linear */
/* Folded BN (not the default) unless a test says otherwise: the QDQ checks below read the
 * folded layer's parameters straight from the graph. */
#define BASE_YAML "name: tnet\n" TT_TEST_CNN_YAML
#define CNN_YAML  BASE_YAML "qat: {bn_fold: fold}\n"

#define SIMULATE_YAML BASE_YAML "qat: {bn_fold: simulate}\n"

#define OPS_YAML "name: tops\n" TT_TEST_OPS_YAML

/* An image-to-image model whose input is read by its first Conv and by the residual head. */
#define RESIDUAL_YAML                                                                              \
    "name: tres\ntask: image_to_image\ndata: {kind: synthetic, samples: 64}\n"                     \
    "model:\n  input: [1, 8, 8]\n  layers:\n"                                                      \
    "    - {type: conv2d, out_channels: 4, kernel: 3, padding: 1}\n"                               \
    "    - {type: relu}\n"                                                                         \
    "    - {type: conv2d, out_channels: 1, kernel: 3, padding: 1}\n"                               \
    "  output: clamp_residual\nloss: mse\n"

static char tmpdir[64];

/* The group's directory, removed with all below it by tt_test_tmpdir_teardown. */
static int setup(void **state)
{
    *state = tt_test_tmpdir_make("tt_onnx", tmpdir, sizeof tmpdir);
    return *state ? 0 : -1;
}

static const char *tmp_path(const char *file, char *buf)
{
    snprintf(buf, 256, "%s/%s", tmpdir, file);
    return buf;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- reading the file back ------------------------------------------------------------- */

static Onnx__ModelProto *load(const char *path)
{
    size_t len;
    uint8_t *buf = tt_test_read_file(path, &len);
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, buf);
    free(buf);
    assert_non_null(m);
    assert_non_null(m->graph);
    return m;
}

static void unload(Onnx__ModelProto *m)
{
    onnx__model_proto__free_unpacked(m, NULL);
}

static Onnx__TensorProto *init_named(const Onnx__ModelProto *m, const char *name)
{
    for (size_t i = 0; i < m->graph->n_initializer; i++)
        if (!strcmp(m->graph->initializer[i]->name, name)) return m->graph->initializer[i];
    print_error("no initializer '%s'\n", name);
    fail();
    return NULL;
}

static Onnx__NodeProto *node_writing(const Onnx__ModelProto *m, const char *tensor)
{
    for (size_t i = 0; i < m->graph->n_node; i++)
        if (!strcmp(m->graph->node[i]->output[0], tensor)) return m->graph->node[i];
    print_error("no node writes '%s'\n", tensor);
    fail();
    return NULL;
}

static Onnx__NodeProto *node_named(const Onnx__ModelProto *m, const char *name)
{
    for (size_t i = 0; i < m->graph->n_node; i++)
        if (!strcmp(m->graph->node[i]->name, name)) return m->graph->node[i];
    print_error("no node '%s'\n", name);
    fail();
    return NULL;
}

static Onnx__AttributeProto *attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (!strcmp(n->attribute[i]->name, name)) return n->attribute[i];
    return NULL;
}

static int64_t attr_i(const Onnx__NodeProto *n, const char *name)
{
    Onnx__AttributeProto *a = attr(n, name);
    assert_non_null(a);
    assert_true(a->has_i);
    return a->i;
}

static void assert_attr_ints(const Onnx__NodeProto *n, const char *name, int count,
                             const int64_t *want)
{
    Onnx__AttributeProto *a = attr(n, name);
    assert_non_null(a);
    assert_int_equal(a->n_ints, count);
    for (int i = 0; i < count; i++) assert_int_equal(a->ints[i], want[i]);
}

static void assert_ops(const Onnx__ModelProto *m, const char *const *want, size_t n)
{
    for (size_t i = 0; i < m->graph->n_node && i < n; i++)
        if (strcmp(m->graph->node[i]->op_type, want[i]) != 0) {
            print_error("node %zu is %s, expected %s\n", i, m->graph->node[i]->op_type, want[i]);
            fail();
        }
    assert_int_equal(m->graph->n_node, n);
}

static float f32_at(const Onnx__TensorProto *t, size_t i)
{
    const uint8_t *p = t->raw_data.data + 4 * i;
    uint32_t bits =
        (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static int32_t i32_at(const Onnx__TensorProto *t, size_t i)
{
    const uint8_t *p = t->raw_data.data + 4 * i;
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                     (uint32_t)p[3] << 24);
}

static size_t t_numel(const Onnx__TensorProto *t)
{
    size_t n = 1;
    for (size_t i = 0; i < t->n_dims; i++) n *= (size_t)t->dims[i];
    return n;
}

static const char *meta(const Onnx__ModelProto *m, const char *key)
{
    for (size_t i = 0; i < m->n_metadata_props; i++)
        if (!strcmp(m->metadata_props[i]->key, key)) return m->metadata_props[i]->value;
    return NULL;
}

/* What every export must be: one float input "input" [N, ...] and one float output "output"
 * [N, ...], no initializer listed as an input, no value_info. */
static void assert_io(const Onnx__ModelProto *m, const tt_value *in, const tt_value *out)
{
    const Onnx__GraphProto *g = m->graph;
    assert_int_equal(g->n_input, 1);
    assert_int_equal(g->n_output, 1);
    assert_int_equal(g->n_value_info, 0);
    const Onnx__ValueInfoProto *io[2] = {g->input[0], g->output[0]};
    const tt_value *v[2] = {in, out};
    for (int k = 0; k < 2; k++) {
        assert_string_equal(io[k]->name, k ? "output" : "input");
        Onnx__TypeProto__Tensor *tt = io[k]->type->tensor_type;
        assert_int_equal(tt->elem_type, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
        assert_int_equal(tt->shape->n_dim, v[k]->shape.ndim);
        assert_int_equal(tt->shape->dim[0]->value_case,
                         ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM);
        assert_string_equal(tt->shape->dim[0]->dim_param, "N");
        for (int d = 1; d < v[k]->shape.ndim; d++)
            assert_int_equal(tt->shape->dim[d]->dim_value, v[k]->shape.dims[d]);
    }
    for (size_t i = 0; i < g->n_initializer; i++) {
        assert_string_not_equal(g->initializer[i]->name, "input");
        assert_string_not_equal(g->initializer[i]->name, "output");
    }
    assert_string_equal(g->node[0]->input[0], "input");
    assert_string_equal(g->node[g->n_node - 1]->output[0], "output");
}

static const tt_node *node_of(const tt_graph *g, const char *name)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (!strcmp(g->nodes[i].name, name)) return &g->nodes[i];
    fail_msg("no IR node '%s'", name);
    return NULL;
}

static const float *param_of(const tt_graph *g, const char *name)
{
    int v = tt_graph_find_value(g, name);
    assert_true(v >= 0);
    return tt_tensor_f32(g->values[v].data);
}

static bool files_equal(const char *a, const char *b)
{
    size_t la, lb;
    uint8_t *x = tt_test_read_file(a, &la), *y = tt_test_read_file(b, &lb);
    bool eq = la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return eq;
}

/* ---- fp32 --------------------------------------------------------------------------------- */

static void test_fp32_structure(void **state)
{
    (void)state;
    tt_test_model m;
    tt_test_model_build(&m, CNN_YAML);
    char path[256];
    tt_onnx_export_opts o = {.format = TT_ONNX_FP32, .config_sha256 = "abc123"};
    TT_ASSERT_OK(tt_onnx_export(m.g, m.in, m.out, &o, tmp_path("f.onnx", path)));
    Onnx__ModelProto *x = load(path);
    assert_int_equal(x->ir_version, 7);
    assert_int_equal(x->n_opset_import, 1);
    assert_string_equal(x->opset_import[0]->domain, "");
    assert_int_equal(x->opset_import[0]->version, 13);
    assert_string_equal(x->producer_name, "tinytrain");
    assert_string_equal(x->producer_version, tt_version());
    assert_string_equal(meta(x, "tinytrain_version"), tt_version());
    assert_string_equal(meta(x, "tinytrain_format"), "fp32");
    assert_string_equal(meta(x, "config_sha256"), "abc123");
    assert_string_equal(x->graph->name, "tinytrain");
    /* Dropout is gone (identity at inference). */
    static const char *const ops[] = {"Conv", "BatchNormalization", "Relu", "MaxPool",
                                      "Conv", "BatchNormalization", "Relu", "Flatten",
                                      "Gemm"};
    assert_ops(x, ops, 9);
    assert_io(x, &m.g->values[m.in], &m.g->values[m.out]);

    Onnx__NodeProto *conv = node_named(x, "conv1");
    assert_int_equal(conv->n_input, 2); /* bias: false */
    assert_string_equal(conv->input[1], "conv1.weight");
    static const int64_t k3[2] = {3, 3}, one[2] = {1, 1}, pad1[4] = {1, 1, 1, 1}, two[2] = {2, 2};
    static const int64_t pad0[4] = {0, 0, 0, 0};
    assert_attr_ints(conv, "kernel_shape", 2, k3);
    assert_attr_ints(conv, "strides", 2, one);
    assert_attr_ints(conv, "pads", 4, pad1);
    assert_attr_ints(conv, "dilations", 2, one);
    assert_int_equal(attr_i(conv, "group"), 1);
    assert_int_equal(node_named(x, "conv2")->n_input, 3);
    Onnx__NodeProto *pool = node_named(x, "maxpool1");
    assert_attr_ints(pool, "kernel_shape", 2, two);
    assert_attr_ints(pool, "strides", 2, two);
    assert_attr_ints(pool, "pads", 4, pad0);
    assert_null(attr(pool, "dilations"));
    assert_int_equal(attr_i(node_named(x, "fc1"), "transB"), 1);
    assert_int_equal(attr_i(node_named(x, "flatten1"), "axis"), 1);
    Onnx__NodeProto *bn = node_named(x, "bn1");
    assert_int_equal(bn->n_input, 5);
    assert_string_equal(bn->input[3], "bn1.running_mean");
    /* ONNX momentum is the weight of the running value: 1 - PyTorch's 0.1 */
    assert_float_equal(attr(bn, "momentum")->f, 1.0f - 0.1f, 0.0);
    assert_float_equal(attr(bn, "epsilon")->f, 1e-5f, 0.0);

    /* Parameters are copied exactly, little-endian float32. */
    const char *names[] = {"conv1.weight", "bn2.running_var", "fc1.weight", "fc1.bias"};
    for (int k = 0; k < 4; k++) {
        Onnx__TensorProto *t = init_named(x, names[k]);
        int v = tt_graph_find_value(m.g, names[k]);
        assert_int_equal(t->data_type, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
        assert_int_equal(t->n_dims, m.g->values[v].shape.ndim);
        for (size_t d = 0; d < t->n_dims; d++)
            assert_int_equal(t->dims[d], m.g->values[v].shape.dims[d]);
        const float *p = param_of(m.g, names[k]);
        for (size_t i = 0; i < t_numel(t); i++) assert_true(f32_at(t, i) == p[i]);
    }
    /* conv1.weight, conv2.weight and .bias, 2 x 4 BN parameters, fc1.weight and .bias */
    assert_int_equal(x->graph->n_initializer, 13);
    unload(x);
    tt_test_model_free(&m);
}

/* The trainer's graph carries a loss and its "target" input after the model output: export
 * leaves them out, and refuses to export the loss itself. */
static void test_loss_and_target_dropped(void **state)
{
    (void)state;
    tt_test_model m;
    tt_test_model_build(&m, CNN_YAML);
    int64_t d = TT_DIM_BATCH;
    int target, loss, ins[2];
    TT_ASSERT_OK(tt_graph_add_input(m.g, "target", TT_I32, 1, &d, &target));
    ins[0] = m.out;
    ins[1] = target;
    TT_ASSERT_OK(tt_graph_add_node(m.g, TT_OP_SOFTMAX_CE, "loss", 2, ins, 0, NULL, &loss));
    char path[256];
    TT_ASSERT_OK(tt_onnx_export(m.g, m.in, m.out, NULL, tmp_path("l.onnx", path)));
    Onnx__ModelProto *x = load(path);
    assert_io(x, &m.g->values[m.in], &m.g->values[m.out]);
    for (size_t i = 0; i < x->graph->n_node; i++)
        for (size_t j = 0; j < x->graph->node[i]->n_input; j++)
            assert_string_not_equal(x->graph->node[i]->input[j], "target");
    unload(x);

    tmp_path("loss.onnx", path);
    assert_int_equal(tt_onnx_export(m.g, m.in, loss, NULL, path), TT_ERR_UNSUPPORTED);
    assert_non_null(strstr(tt_last_error(), "'loss' (SoftmaxCrossEntropy)"));
    assert_non_null(strstr(tt_last_error(), "no ONNX mapping"));
    assert_false(exists(path));
    tt_test_model_free(&m);
}

/* ---- QDQ ---------------------------------------------------------------------------------- */

/* The scalar float of a scale initializer and the uint8 zero point beside it. */
static float act_scale(const Onnx__ModelProto *x, const char *point, int32_t *zp)
{
    char name[128];
    snprintf(name, sizeof name, "%s_scale", point);
    Onnx__TensorProto *s = init_named(x, name);
    assert_int_equal(s->n_dims, 0);
    assert_int_equal(s->data_type, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
    snprintf(name, sizeof name, "%s_zero_point", point);
    Onnx__TensorProto *z = init_named(x, name);
    assert_int_equal(z->n_dims, 0);
    assert_int_equal(z->data_type, ONNX__TENSOR_PROTO__DATA_TYPE__UINT8);
    *zp = z->raw_data.data[0];
    return f32_at(s, 0);
}

/* The IR FakeQuant named fq: its scale parameter. */
static const float *fq_scale(const tt_graph *g, const char *fq)
{
    return tt_tensor_f32(g->values[node_of(g, fq)->in[1]].data);
}

/* A weight point: int8 values = quantize(w) with the FakeQuant's own scale (bit-exact), the
 * scale copied, zero points int8 zeros, DequantizeLinear with axis 0. */
static void check_weight(const Onnx__ModelProto *x, const tt_graph *g, const char *w,
                         const float *data)
{
    char name[128], fq[128];
    snprintf(fq, sizeof fq, "%s.q", w);
    const tt_node *n = node_of(g, fq);
    const float *s = fq_scale(g, fq);
    const tt_shape *sh = &g->values[n->in[0]].shape;
    int64_t c = sh->dims[0], per = tt_shape_numel(sh) / c;
    snprintf(name, sizeof name, "%s_quantized", w);
    Onnx__TensorProto *q = init_named(x, name);
    assert_int_equal(q->data_type, ONNX__TENSOR_PROTO__DATA_TYPE__INT8);
    assert_int_equal(q->n_dims, sh->ndim);
    for (int64_t i = 0; i < tt_shape_numel(sh); i++)
        assert_int_equal((int8_t)q->raw_data.data[i],
                         tt_quantize_val(data[i], s[i / per], 0, -127, 127));
    snprintf(name, sizeof name, "%s_scale", w);
    Onnx__TensorProto *ts = init_named(x, name);
    assert_int_equal(ts->n_dims, 1);
    assert_int_equal(ts->dims[0], c);
    for (int64_t k = 0; k < c; k++) assert_true(f32_at(ts, (size_t)k) == s[k]);
    snprintf(name, sizeof name, "%s_zero_point", w);
    Onnx__TensorProto *tz = init_named(x, name);
    assert_int_equal(tz->data_type, ONNX__TENSOR_PROTO__DATA_TYPE__INT8);
    assert_int_equal(tz->dims[0], c);
    for (int64_t k = 0; k < c; k++) assert_int_equal(tz->raw_data.data[k], 0);
    snprintf(name, sizeof name, "%s_DequantizeLinear_Output", w);
    assert_int_equal(attr_i(node_writing(x, name), "axis"), 0);
}

/* A bias point: int32 = tt_quantize_bias with the input activation's scale and the weight's
 * per-channel scales; bias scale = their product; DequantizeLinear axis 0. */
static void check_bias(const Onnx__ModelProto *x, const tt_graph *g, const char *b,
                       const float *bias, int64_t n, float x_scale, const float *w_scale)
{
    char name[128];
    int32_t *want = malloc((size_t)n * sizeof *want);
    TT_ASSERT_OK(tt_quantize_bias(bias, n, x_scale, w_scale, n, want));
    snprintf(name, sizeof name, "%s_quantized", b);
    Onnx__TensorProto *q = init_named(x, name);
    assert_int_equal(q->data_type, ONNX__TENSOR_PROTO__DATA_TYPE__INT32);
    assert_int_equal(t_numel(q), n);
    for (int64_t k = 0; k < n; k++) assert_int_equal(i32_at(q, (size_t)k), want[k]);
    snprintf(name, sizeof name, "%s_scale", b);
    Onnx__TensorProto *s = init_named(x, name);
    for (int64_t k = 0; k < n; k++)
        assert_true(f32_at(s, (size_t)k) == tt_quant_bias_scale(x_scale, w_scale[k]));
    snprintf(name, sizeof name, "%s_zero_point", b);
    Onnx__TensorProto *z = init_named(x, name);
    assert_int_equal(z->data_type, ONNX__TENSOR_PROTO__DATA_TYPE__INT32);
    for (int64_t k = 0; k < n; k++) assert_int_equal(i32_at(z, (size_t)k), 0);
    snprintf(name, sizeof name, "%s_DequantizeLinear_Output", b);
    assert_int_equal(attr_i(node_writing(x, name), "axis"), 0);
    free(want);
    (void)g;
}

static void test_qdq_structure(void **state)
{
    (void)state;
    tt_test_model m;
    tt_test_model_build(&m, CNN_YAML);
    tt_test_model_qat(&m);
    char path[256];
    /* The layout without channel padding (test_qdq_channel_pad covers it). */
    tt_onnx_export_opts o = {.format = TT_ONNX_QDQ, .no_channel_pad = true};
    TT_ASSERT_OK(tt_onnx_export(m.q, m.qin, m.qout, &o, tmp_path("q.onnx", path)));
    Onnx__ModelProto *x = load(path);
    assert_string_equal(meta(x, "tinytrain_format"), "qdq");
    assert_null(meta(x, "config_sha256"));
    /* ORT's layout: Q/DQ on the input; DQ(w), DQ(b) -> Conv -> Relu -> Q -> DQ; MaxPool and
     * Flatten re-quantised with their input's qparams; the output DQ last. */
    static const char *const ops[] = {"QuantizeLinear",
                                      "DequantizeLinear", /* input */
                                      "DequantizeLinear",
                                      "DequantizeLinear",
                                      "Conv",
                                      "Relu", /* conv1 */
                                      "QuantizeLinear",
                                      "DequantizeLinear", /* relu1 */
                                      "MaxPool",
                                      "QuantizeLinear",
                                      "DequantizeLinear", /* maxpool1 */
                                      "DequantizeLinear",
                                      "DequantizeLinear",
                                      "Conv",
                                      "Relu", /* conv2 */
                                      "QuantizeLinear",
                                      "DequantizeLinear", /* relu2 */
                                      "Flatten",
                                      "QuantizeLinear",
                                      "DequantizeLinear", /* flatten1 */
                                      "DequantizeLinear",
                                      "DequantizeLinear",
                                      "Gemm", /* fc1 */
                                      "QuantizeLinear",
                                      "DequantizeLinear"}; /* output */
    assert_ops(x, ops, sizeof ops / sizeof *ops);
    assert_io(x, &m.q->values[m.qin], &m.q->values[m.qout]);
    assert_string_equal(node_writing(x, "output")->op_type, "DequantizeLinear");

    /* Activation points: trained scale and zero point, scalar, uint8. */
    int32_t zp;
    const char *points[][2] = {
        {"input", "input.q"}, {"relu1", "relu1.q"}, {"relu2", "relu2.q"}, {"fc1", "fc1.q"}};
    for (int k = 0; k < 4; k++) {
        const tt_node *fq = node_of(m.q, points[k][1]);
        float s = act_scale(x, points[k][0], &zp);
        assert_true(s == tt_tensor_f32(m.q->values[fq->in[1]].data)[0]);
        assert_int_equal(zp, (int32_t)tt_tensor_f32(m.q->values[fq->in[2]].data)[0]);
    }
    float in_s = act_scale(x, "input", &zp), relu2_s = act_scale(x, "relu2", &zp);
    /* After a Relu the range starts at 0: zero point 0, which lets ORT drop the Relu. */
    float relu1_s = act_scale(x, "relu1", &zp);
    assert_int_equal(zp, 0);
    /* MaxPool's output Q/DQ reuses relu1's initializers. */
    Onnx__NodeProto *pq = node_writing(x, "maxpool1_QuantizeLinear_Output");
    assert_string_equal(pq->input[0], "maxpool1");
    assert_string_equal(pq->input[1], "relu1_scale");
    assert_string_equal(pq->input[2], "relu1_zero_point");

    /* Weights (BN folded by the prepare pass) and biases: conv2's input scale is relu1's
     * (through MaxPool), fc1's is relu2's (through Flatten and Dropout). */
    check_weight(x, m.q, "conv1.weight", param_of(m.q, "conv1.weight"));
    check_weight(x, m.q, "conv2.weight", param_of(m.q, "conv2.weight"));
    check_weight(x, m.q, "fc1.weight", param_of(m.q, "fc1.weight"));
    check_bias(x, m.q, "conv1.bias", param_of(m.q, "conv1.bias"), 4, in_s,
               fq_scale(m.q, "conv1.weight.q"));
    check_bias(x, m.q, "conv2.bias", param_of(m.q, "conv2.bias"), 6, relu1_s,
               fq_scale(m.q, "conv2.weight.q"));
    check_bias(x, m.q, "fc1.bias", param_of(m.q, "fc1.bias"), 5, relu2_s,
               fq_scale(m.q, "fc1.weight.q"));
    /* No float weight or bias is left for the quantised layers. */
    for (size_t i = 0; i < x->graph->n_node; i++) {
        Onnx__NodeProto *n = x->graph->node[i];
        if (strcmp(n->op_type, "Conv") && strcmp(n->op_type, "Gemm")) continue;
        for (size_t j = 0; j < n->n_input; j++)
            assert_string_equal(node_writing(x, n->input[j])->op_type, "DequantizeLinear");
    }
    unload(x);

    /* fp32 of the same QAT graph: FakeQuant dropped, the float weights. */
    TT_ASSERT_OK(tt_onnx_export(m.q, m.qin, m.qout, &(tt_onnx_export_opts){.format = TT_ONNX_FP32},
                                tmp_path("qf.onnx", path)));
    x = load(path);
    static const char *const fops[] = {"Conv", "Relu",    "MaxPool", "Conv",
                                       "Relu", "Flatten", "Gemm"};
    assert_ops(x, fops, 7);
    assert_true(f32_at(init_named(x, "conv2.bias"), 3) == param_of(m.q, "conv2.bias")[3]);
    unload(x);
    tt_test_model_free(&m);
}

/* bn_fold: simulate: Conv(x, FQ(BnFoldWeight(W))) -> BnUnfold -> BN is written as one Conv
 * with W * f quantised by the FakeQuant's scale and bias beta - f * mean. */
static void test_qdq_simulate_folds_bn(void **state)
{
    (void)state;
    tt_test_model m;
    tt_test_model_build(&m, SIMULATE_YAML);
    tt_test_model_qat(&m);
    char path[256];
    TT_ASSERT_OK(tt_onnx_export(m.q, m.qin, m.qout, &(tt_onnx_export_opts){.no_channel_pad = true},
                                tmp_path("s.onnx", path)));
    Onnx__ModelProto *x = load(path);
    assert_string_equal(meta(x, "tinytrain_format"), "qdq"); /* AUTO: the graph has FakeQuant */
    for (size_t i = 0; i < x->graph->n_node; i++)
        assert_string_not_equal(x->graph->node[i]->op_type, "BatchNormalization");
    assert_int_equal(x->graph->n_node, 25); /* the same layout as the folded model */
    assert_io(x, &m.q->values[m.qin], &m.q->values[m.qout]);

    const tt_node *fw = node_of(m.q, "conv1.fold");
    const float *w = param_of(m.q, "conv1.weight"), *gamma = param_of(m.q, "bn1.weight");
    const float *beta = param_of(m.q, "bn1.bias"), *mean = param_of(m.q, "bn1.running_mean");
    const float *var = param_of(m.q, "bn1.running_var");
    double eps = tt_node_attr_float(fw, "epsilon", 1e-5f);
    float wf[4 * 2 * 9], bf[4];
    for (int c = 0; c < 4; c++) {
        double f = gamma[c] / sqrt((double)var[c] + eps);
        for (int j = 0; j < 18; j++) wf[c * 18 + j] = w[c * 18 + j] * (float)f;
        bf[c] = (float)(beta[c] - mean[c] * f);
    }
    check_weight(x, m.q, "conv1.weight", wf);
    int32_t zp;
    check_bias(x, m.q, "conv1.bias", bf, 4, act_scale(x, "input", &zp),
               fq_scale(m.q, "conv1.weight.q"));
    assert_string_equal(node_named(x, "conv1")->input[2], "conv1.bias_DequantizeLinear_Output");

    /* With the default channel padding the folded weight is the same in its first 2 of 4
     * channels, zero in the rest. */
    Onnx__ModelProto *xp;
    TT_ASSERT_OK(tt_onnx_export(m.q, m.qin, m.qout, NULL, tmp_path("sp.onnx", path)));
    xp = load(path);
    Onnx__TensorProto *wq = init_named(x, "conv1.weight_quantized");
    Onnx__TensorProto *wp = init_named(xp, "conv1.weight_quantized");
    assert_int_equal(wp->dims[1], 4);
    for (int o = 0; o < 4; o++)
        for (int c = 0; c < 4; c++)
            for (int k = 0; k < 9; k++)
                assert_int_equal(wp->raw_data.data[(o * 4 + c) * 9 + k],
                                 c < 2 ? wq->raw_data.data[(o * 2 + c) * 9 + k] : 0);
    assert_int_equal(xp->graph->n_node, 26);
    unload(xp);
    unload(x);

    /* fp32: the same folding, float weights. */
    TT_ASSERT_OK(tt_onnx_export(m.q, m.qin, m.qout, &(tt_onnx_export_opts){.format = TT_ONNX_FP32},
                                tmp_path("sf.onnx", path)));
    x = load(path);
    static const char *const fops[] = {"Conv", "Relu",    "MaxPool", "Conv",
                                       "Relu", "Flatten", "Gemm"};
    assert_ops(x, fops, 7);
    Onnx__TensorProto *tw = init_named(x, "conv1.weight"), *tb = init_named(x, "conv1.bias");
    for (int i = 0; i < 72; i++) assert_true(f32_at(tw, (size_t)i) == wf[i]);
    for (int c = 0; c < 4; c++) assert_true(f32_at(tb, (size_t)c) == bf[c]);
    unload(x);
    tt_test_model_free(&m);
}

/* Everything else the configs offer: Clip (opset 13: bounds as inputs), LeakyRelu, Sigmoid,
 * Tanh, AveragePool, GlobalAveragePool, the residual Add; in fp32 and QDQ. */
static void test_other_ops(void **state)
{
    (void)state;
    tt_test_model m;
    tt_test_model_build(&m, OPS_YAML);
    tt_test_model_qat(&m);
    char path[256];
    TT_ASSERT_OK(tt_onnx_export(m.g, m.in, m.out, NULL, tmp_path("o.onnx", path)));
    Onnx__ModelProto *x = load(path);
    assert_io(x, &m.g->values[m.in], &m.g->values[m.out]);
    Onnx__NodeProto *clip = node_named(x, "relu6_1");
    assert_string_equal(clip->op_type, "Clip");
    assert_int_equal(clip->n_attribute, 0);
    assert_int_equal(clip->n_input, 3);
    assert_true(f32_at(init_named(x, clip->input[1]), 0) == 0.0f);
    assert_true(f32_at(init_named(x, clip->input[2]), 0) == 6.0f);
    assert_float_equal(attr(node_named(x, "leaky_relu1"), "alpha")->f, 0.1f, 0.0);
    assert_string_equal(node_named(x, "sigmoid1")->op_type, "Sigmoid");
    assert_string_equal(node_named(x, "tanh1")->op_type, "Tanh");
    assert_string_equal(node_named(x, "gap1")->op_type, "GlobalAveragePool");
    assert_string_equal(node_named(x, "block1.add")->op_type, "Add");
    Onnx__NodeProto *ap = node_named(x, "avgpool1");
    assert_string_equal(ap->op_type, "AveragePool");
    assert_int_equal(attr_i(ap, "count_include_pad"), 0);
    assert_string_equal(node_writing(x, "output")->op_type, "Tanh");
    unload(x);

    TT_ASSERT_OK(tt_onnx_export(m.q, m.qin, m.qout, NULL, tmp_path("oq.onnx", path)));
    x = load(path);
    assert_io(x, &m.q->values[m.qin], &m.q->values[m.qout]);
    /* Every input of every compute op comes from a DequantizeLinear (a channel Pad sits
     * between a Q and its DQ). */
    for (size_t i = 0; i < x->graph->n_node; i++) {
        Onnx__NodeProto *n = x->graph->node[i];
        if (!strcmp(n->op_type, "Pad"))
            assert_string_equal(node_writing(x, n->input[0])->op_type, "QuantizeLinear");
        if (!strcmp(n->op_type, "QuantizeLinear") || !strcmp(n->op_type, "DequantizeLinear") ||
            !strcmp(n->op_type, "Clip") || !strcmp(n->op_type, "Relu") ||
            !strcmp(n->op_type, "Pad"))
            continue;
        for (size_t j = 0; j < n->n_input; j++)
            assert_string_equal(node_writing(x, n->input[j])->op_type, "DequantizeLinear");
    }
    unload(x);
    tt_test_model_free(&m);
}

/* Conv inputs whose channel count is not a multiple of 4 (conv1 reads 2) are padded for ONNX
 * Runtime's int8 conv: Q -> Pad(zero point) -> DQ, the weight's new channels zero, the rest
 * of the file as without padding; conv2 (4 channels) is left alone. */
static void test_qdq_channel_pad(void **state)
{
    (void)state;
    tt_test_model m;
    tt_test_model_build(&m, CNN_YAML);
    tt_test_model_qat(&m);
    char path[256], plain[256];
    TT_ASSERT_OK(tt_onnx_export(m.q, m.qin, m.qout, NULL, tmp_path("p.onnx", path)));
    tt_onnx_export_opts o = {.no_channel_pad = true};
    TT_ASSERT_OK(tt_onnx_export(m.q, m.qin, m.qout, &o, tmp_path("np.onnx", plain)));
    Onnx__ModelProto *x = load(path), *y = load(plain);
    assert_int_equal(x->graph->n_node, y->graph->n_node + 1);
    static const char *const head[] = {"QuantizeLinear", "Pad", "DequantizeLinear"};
    for (int i = 0; i < 3; i++) assert_string_equal(x->graph->node[i]->op_type, head[i]);
    Onnx__NodeProto *pad = x->graph->node[1];
    assert_int_equal(pad->n_input, 3);
    assert_string_equal(pad->input[0], "input_QuantizeLinear_Output");
    assert_string_equal(pad->input[2], "input_zero_point");
    assert_int_equal(pad->n_attribute, 0); /* mode: constant, the default */
    Onnx__TensorProto *pads = init_named(x, pad->input[1]);
    assert_int_equal(pads->data_type, ONNX__TENSOR_PROTO__DATA_TYPE__INT64);
    assert_int_equal(pads->n_dims, 1);
    assert_int_equal(pads->dims[0], 8);
    assert_int_equal(pads->raw_data.len, 64);
    for (int i = 0; i < 8; i++) { /* [N, C, H, W] begins, then ends: 2 channels added */
        int64_t v = 0;
        for (int b = 7; b >= 0; b--) v = v * 256 + pads->raw_data.data[8 * i + b];
        assert_int_equal(v, i == 5 ? 2 : 0);
    }
    assert_string_equal(node_writing(x, "input_DequantizeLinear_Output")->input[0], pad->output[0]);

    Onnx__TensorProto *wp = init_named(x, "conv1.weight_quantized");
    Onnx__TensorProto *w = init_named(y, "conv1.weight_quantized");
    static const int64_t dims[4] = {4, 4, 3, 3};
    assert_int_equal(wp->n_dims, 4);
    for (int d = 0; d < 4; d++) assert_int_equal(wp->dims[d], dims[d]);
    for (int o = 0; o < 4; o++)
        for (int c = 0; c < 4; c++)
            for (int k = 0; k < 9; k++)
                assert_int_equal(wp->raw_data.data[(o * 4 + c) * 9 + k],
                                 c < 2 ? w->raw_data.data[(o * 2 + c) * 9 + k] : 0);
    assert_int_equal(init_named(x, "conv2.weight_quantized")->dims[1], 4);
    int pads_seen = 0;
    for (size_t i = 0; i < x->graph->n_node; i++)
        pads_seen += !strcmp(x->graph->node[i]->op_type, "Pad");
    assert_int_equal(pads_seen, 1);
    unload(x);
    unload(y);

    /* fp32 has no quantised conv to pad. */
    o = (tt_onnx_export_opts){.format = TT_ONNX_FP32};
    TT_ASSERT_OK(tt_onnx_export(m.q, m.qin, m.qout, &o, path));
    x = load(path);
    for (size_t i = 0; i < x->graph->n_node; i++)
        assert_string_not_equal(x->graph->node[i]->op_type, "Pad");
    unload(x);
    tt_test_model_free(&m);

    /* An input that the residual head also reads keeps its unpadded DQ for it; the Conv reads
     * a second, padded one. */
    tt_test_model_build(&m, RESIDUAL_YAML);
    tt_test_model_qat(&m);
    TT_ASSERT_OK(tt_onnx_export(m.q, m.qin, m.qout, NULL, path));
    x = load(path);
    Onnx__NodeProto *conv = node_named(x, "conv1");
    Onnx__NodeProto *dq = node_writing(x, conv->input[0]);
    assert_string_equal(dq->output[0], "input_Pad_DequantizeLinear_Output");
    assert_string_equal(node_writing(x, dq->input[0])->op_type, "Pad");
    assert_int_equal(init_named(x, "conv1.weight_quantized")->dims[1], 4);
    int readers = 0; /* the unpadded DQ is read by the residual Add, not by conv1 */
    for (size_t i = 0; i < x->graph->n_node; i++)
        for (size_t j = 0; j < x->graph->node[i]->n_input; j++)
            if (!strcmp(x->graph->node[i]->input[j], "input_DequantizeLinear_Output")) {
                readers++;
                assert_string_not_equal(x->graph->node[i]->name, "conv1");
            }
    assert_true(readers >= 1);
    unload(x);
    tt_test_model_free(&m);
}

/* ---- files, options, determinism ----------------------------------------------------------- */

static void test_deterministic_and_opsets(void **state)
{
    (void)state;
    tt_test_model m;
    tt_test_model_build(&m, CNN_YAML);
    tt_test_model_qat(&m);
    char a[256], b[256];
    TT_ASSERT_OK(tt_onnx_export(m.q, m.qin, m.qout, NULL, tmp_path("d1.onnx", a)));
    TT_ASSERT_OK(tt_onnx_export(m.q, m.qin, m.qout, NULL, tmp_path("d2.onnx", b)));
    assert_true(files_equal(a, b));
    const int opsets[] = {13, 14, 15, 17, 18, 19, 20, 21}, irs[] = {7, 7, 8, 8, 8, 9, 9, 10};
    for (int k = 0; k < 8; k++) {
        tt_onnx_export_opts o = {.opset = opsets[k]};
        TT_ASSERT_OK(tt_onnx_export(m.q, m.qin, m.qout, &o, a));
        Onnx__ModelProto *x = load(a);
        assert_int_equal(x->opset_import[0]->version, opsets[k]);
        assert_int_equal(x->ir_version, irs[k]);
        assert_int_equal(tt_onnx_ir_version(opsets[k]), irs[k]);
        unload(x);
    }
    /* Out of range: refused, nothing written (and an existing file is kept). */
    TT_ASSERT_OK(tt_onnx_export(m.q, m.qin, m.qout, NULL, a));
    const int bad[] = {12, 22, -1};
    for (int k = 0; k < 3; k++) {
        tt_onnx_export_opts o = {.opset = bad[k]};
        assert_int_equal(tt_onnx_export(m.q, m.qin, m.qout, &o, a), TT_ERR_INVALID_ARG);
        assert_non_null(strstr(tt_last_error(), "opset"));
        assert_int_equal(tt_onnx_ir_version(bad[k]), 0);
    }
    assert_true(files_equal(a, b));
    /* QDQ needs a QAT graph. */
    tmp_path("none.onnx", a);
    tt_onnx_export_opts o = {.format = TT_ONNX_QDQ};
    assert_int_equal(tt_onnx_export(m.g, m.in, m.out, &o, a), TT_ERR_INVALID_ARG);
    assert_non_null(strstr(tt_last_error(), "no FakeQuant nodes"));
    assert_false(exists(a));
    tt_test_model_free(&m);
}

/* Conv -> BnUnfold as the output, with no BatchNormalization after it: no ONNX form. */
static void test_unmapped_op(void **state)
{
    (void)state;
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int64_t xd[4] = {TT_DIM_BATCH, 2, 4, 4}, wd[4] = {3, 2, 3, 3}, cd = 3;
    int x, w, gamma, var, wf, y, u;
    TT_ASSERT_OK(tt_graph_add_input(g, "input", TT_F32, 4, xd, &x));
    TT_ASSERT_OK(tt_graph_add_param(g, "conv.weight", 4, wd, true, &w));
    TT_ASSERT_OK(tt_graph_add_param(g, "bn.weight", 1, &cd, true, &gamma));
    TT_ASSERT_OK(tt_graph_add_param(g, "bn.running_var", 1, &cd, false, &var));
    for (int c = 0; c < 3; c++)
        tt_graph_param_data(g, gamma)[c] = tt_graph_param_data(g, var)[c] = 1;
    int fin[3] = {w, gamma, var};
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_BN_FOLD_WEIGHT, "conv.fold", 3, fin, 0, NULL, &wf));
    int cin[2] = {x, wf};
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_CONV, "conv", 2, cin, 0, NULL, &y));
    int uin[3] = {y, gamma, var};
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_BN_UNFOLD, "conv.unfold", 3, uin, 0, NULL, &u));
    char path[256];
    tmp_path("u.onnx", path);
    assert_int_equal(tt_onnx_export(g, x, u, NULL, path), TT_ERR_UNSUPPORTED);
    assert_non_null(strstr(tt_last_error(), "'conv.unfold' (BnUnfold)"));
    assert_non_null(strstr(tt_last_error(), "no ONNX mapping"));
    assert_false(exists(path));
    /* Without the BnUnfold the folded weight is just a weight: exportable. */
    TT_ASSERT_OK(tt_onnx_export(g, x, y, NULL, path));
    tt_graph_free(g);
}

static void test_unwritable_output(void **state)
{
    (void)state;
    tt_test_model m;
    tt_test_model_build(&m, CNN_YAML);
    char path[256], dir[256];
    tmp_path("no/such/dir/m.onnx", path);
    assert_int_equal(tt_onnx_export(m.g, m.in, m.out, NULL, path), TT_ERR_IO);
    assert_non_null(strstr(tt_last_error(), path));
    /* A directory in the way: the rename fails and the temporary file is removed. */
    tmp_path("adir", dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(tt_onnx_export(m.g, m.in, m.out, NULL, dir), TT_ERR_IO);
    assert_non_null(strstr(tt_last_error(), dir));
    strcat(dir, ".tmp");
    assert_false(exists(dir));
    tt_test_model_free(&m);
}

/* ---- checkpoints ---------------------------------------------------------------------------- */

static void save_ckpt(const char *path, const tt_graph *g, const char *yaml, bool qat)
{
    tt_checkpoint_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.config_text = (char *)yaml;
    if (qat) meta.extra_json = (char *)"{\"qat\": true}";
    TT_ASSERT_OK(tt_checkpoint_save(path, g, NULL, &meta));
}

static void test_checkpoint_export(void **state)
{
    (void)state;
    tt_test_model m;
    tt_test_model_build(&m, CNN_YAML);
    tt_test_model_qat(&m);
    char ck[256], qck[256], out[256], ref[256], sha[65];
    save_ckpt(tmp_path("fp32.h5", ck), m.g, CNN_YAML, false);
    save_ckpt(tmp_path("qat.h5", qck), m.q, CNN_YAML, true);
    TT_ASSERT_OK(tt_sha256_hex(CNN_YAML, strlen(CNN_YAML), sha));

    /* fp32 checkpoint, defaults: fp32, named after the config, its sha256 recorded; the same
     * bytes as exporting the graph it was saved from. */
    TT_ASSERT_OK(tt_onnx_export_checkpoint(ck, tmp_path("c.onnx", out), NULL));
    tt_onnx_export_opts o = {.format = TT_ONNX_FP32, .graph_name = "tnet", .config_sha256 = sha};
    TT_ASSERT_OK(tt_onnx_export(m.g, m.in, m.out, &o, tmp_path("cref.onnx", ref)));
    assert_true(files_equal(out, ref));
    Onnx__ModelProto *x = load(out);
    assert_string_equal(x->graph->name, "tnet");
    assert_string_equal(meta(x, "config_sha256"), sha);
    assert_string_equal(meta(x, "tinytrain_format"), "fp32");
    unload(x);

    /* QAT checkpoint: QDQ by default, identical to the graph's own export. */
    TT_ASSERT_OK(tt_onnx_export_checkpoint(qck, out, NULL));
    o.format = TT_ONNX_QDQ;
    TT_ASSERT_OK(tt_onnx_export(m.q, m.qin, m.qout, &o, ref));
    assert_true(files_equal(out, ref));
    TT_ASSERT_OK(
        tt_onnx_export_checkpoint(qck, out, &(tt_onnx_export_opts){.format = TT_ONNX_FP32}));
    x = load(out);
    assert_string_equal(meta(x, "tinytrain_format"), "fp32");
    unload(x);

    /* QDQ of an fp32 checkpoint: refused, naming the file. */
    tmp_path("bad.onnx", out);
    o = (tt_onnx_export_opts){.format = TT_ONNX_QDQ};
    assert_int_equal(tt_onnx_export_checkpoint(ck, out, &o), TT_ERR_INVALID_ARG);
    assert_non_null(strstr(tt_last_error(), ck));
    assert_non_null(strstr(tt_last_error(), "fp32 checkpoint"));
    assert_false(exists(out));
    tt_test_model_free(&m);
}

static void test_checkpoint_errors(void **state)
{
    (void)state;
    char ck[256], out[256];
    tmp_path("e.onnx", out);
    tmp_path("missing.h5", ck);
    assert_int_equal(tt_onnx_export_checkpoint(ck, out, NULL), TT_ERR_IO);
    assert_non_null(strstr(tt_last_error(), ck));
    FILE *f = fopen(tmp_path("corrupt.h5", ck), "wb");
    assert_non_null(f);
    fputs("this is not an HDF5 file, whatever its name says", f);
    fclose(f);
    assert_int_equal(tt_onnx_export_checkpoint(ck, out, NULL), TT_ERR_FORMAT);
    assert_non_null(strstr(tt_last_error(), ck));
    assert_false(exists(out));
    assert_int_equal(tt_onnx_export_checkpoint(NULL, out, NULL), TT_ERR_INVALID_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fp32_structure),
        cmocka_unit_test(test_loss_and_target_dropped),
        cmocka_unit_test(test_qdq_structure),
        cmocka_unit_test(test_qdq_simulate_folds_bn),
        cmocka_unit_test(test_other_ops),
        cmocka_unit_test(test_qdq_channel_pad),
        cmocka_unit_test(test_deterministic_and_opsets),
        cmocka_unit_test(test_unmapped_op),
        cmocka_unit_test(test_unwritable_output),
        cmocka_unit_test(test_checkpoint_export),
        cmocka_unit_test(test_checkpoint_errors),
    };
    return cmocka_run_group_tests(tests, setup, tt_test_tmpdir_teardown);
}
