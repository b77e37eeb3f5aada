/* Dynamic PTQ (tinytrain/ptq.h, TT_PTQ_DYNAMIC): the written graph read back with protobuf-c.
 * Weights are checked against ONNX Runtime's formulas written out here independently of
 * tinytrain's quant.h (scale = 2 max|w| / 254 in double, stored float; q = round-half-even(w /
 * scale) in float; uint8: zero point from the double scale); node order and names against what
 * quantize_dynamic writes for the same fixtures (tests/onnx/check_ptq_dynamic.py compares whole
 * files with ORT's); the files run on tinytrain's runtime and pass the gate; every refusal
 * writes nothing. */
#include "testutil.h"
#include <fenv.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "onnx.pb-c.h"
#include "tinytrain/gate.h"
#include "tinytrain/onnx.h"
#include "tinytrain/ptq.h"

static char g_dir[64];

static const char *fix(const char *rel, char *buf, size_t len)
{
    return tt_test_fixture(rel, buf, len);
}

static const char *tmp(const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", g_dir, name);
    return buf;
}

static Onnx__ModelProto *read_model(const char *path)
{
    size_t len;
    uint8_t *buf = tt_test_read_file(path, &len);
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, buf);
    free(buf);
    assert_non_null(m);
    return m;
}

static const Onnx__TensorProto *tensor(const Onnx__ModelProto *m, const char *name)
{
    for (size_t i = 0; i < m->graph->n_initializer; i++)
        if (!strcmp(m->graph->initializer[i]->name, name)) return m->graph->initializer[i];
    fail_msg("no initializer '%s'", name);
    return NULL;
}

/* Element i of a float or 8-bit initializer (raw_data or typed fields). */
static double value(const Onnx__TensorProto *t, size_t i)
{
    if (t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
        float f;
        if (t->raw_data.len)
            memcpy(&f, t->raw_data.data + 4 * i, 4);
        else
            f = t->float_data[i];
        return f;
    }
    if (!t->raw_data.len) return t->int32_data[i];
    uint8_t b = t->raw_data.data[i];
    return t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT8 ? (double)(int8_t)b : (double)b;
}

static tt_ptq_result quantize(const char *model_rel, const char *out, const tt_ptq_opts *o)
{
    char m[512], p[256];
    tt_ptq_result r;
    TT_ASSERT_OK(tt_ptq_quantize(fix(model_rel, m, sizeof m), NULL, tmp(out, p, sizeof p), o, &r));
    return r;
}

/* ORT's quantize_data for one channel of n values: returns the scale and zero point it stores
 * and checks every stored value. u8: asymmetric [0, 255] (or [0, 127]); s8: symmetric
 * [-127, 127] (or [-64, 64]); the values clip to the full type range. */
static void expect_channel(const double *w, size_t n, size_t stride, bool u8, bool rr,
                           const Onnx__TensorProto *q, size_t q0, double scale, double zp)
{
    double lo = 0, hi = 0; /* the range always holds 0 */
    for (size_t i = 0; i < n; i++) {
        lo = fmin(lo, w[i * stride]);
        hi = fmax(hi, w[i * stride]);
    }
    double qmin = u8 ? 0 : (rr ? -64 : -127), qmax = u8 ? (rr ? 127 : 255) : (rr ? 64 : 127);
    if (!u8) lo = -(hi = fmax(-lo, hi));
    double sd = (hi - lo) / (qmax - qmin);
    float s = (float)sd;
    double z = u8 ? nearbyint(qmin - lo / sd) : 0;
    assert_true(scale == (double)s);
    assert_true(zp == z);
    for (size_t i = 0; i < n; i++) {
        double v = nearbyintf((float)w[i * stride] / s) + z;
        v = fmin(fmax(v, u8 ? 0 : -128), u8 ? 255 : 127);
        if (value(q, q0 + i * stride) != v)
            fail_msg("element %zu: %g, want %g", q0 + i * stride, value(q, q0 + i * stride), v);
    }
}

/* tests/fixtures/gate/mlp.onnx: Gemm(transB=1) W [out, in] -> MatMul by W^T [in, out]. */
static void expect_weights(const char *out, const char *w, bool u8, bool rr, bool per_channel)
{
    char p[512], name[64];
    Onnx__ModelProto *src = read_model(fix("gate/mlp.onnx", p, sizeof p));
    Onnx__ModelProto *m = read_model(tmp(out, p, sizeof p));
    const Onnx__TensorProto *wt = tensor(src, w);
    size_t rows = (size_t)wt->dims[0], cols = (size_t)wt->dims[1];
    double *t = malloc(rows * cols * sizeof *t); /* W^T, [cols, rows] */
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++) t[j * rows + i] = value(wt, i * cols + j);
    snprintf(name, sizeof name, "%s_Transposed_quantized", w);
    const Onnx__TensorProto *q = tensor(m, name);
    assert_int_equal(q->data_type, u8 ? ONNX__TENSOR_PROTO__DATA_TYPE__UINT8
                                      : ONNX__TENSOR_PROTO__DATA_TYPE__INT8);
    assert_int_equal(q->n_dims, 2);
    assert_int_equal(q->dims[0], (int64_t)cols);
    assert_int_equal(q->dims[1], (int64_t)rows);
    snprintf(name, sizeof name, "%s_Transposed_scale", w);
    const Onnx__TensorProto *s = tensor(m, name);
    snprintf(name, sizeof name, "%s_Transposed_zero_point", w);
    const Onnx__TensorProto *z = tensor(m, name);
    assert_int_equal(s->n_dims, per_channel ? 1 : 0);
    assert_int_equal(z->data_type, q->data_type);
    if (per_channel) /* one scale per column of W^T */
        for (size_t c = 0; c < rows; c++)
            expect_channel(t + c, cols, rows, u8, rr, q, c, value(s, c), value(z, c));
    else
        expect_channel(t, rows * cols, 1, u8, rr, q, 0, value(s, 0), value(z, 0));
    free(t);
    onnx__model_proto__free_unpacked(src, NULL);
    onnx__model_proto__free_unpacked(m, NULL);
}

static void test_weights_are_ort_numbers(void **state)
{
    (void)state;
    assert_int_equal(fegetround(), FE_TONEAREST); /* nearbyint: half to even */
    static const struct {
        bool u8, rr, pc;
    } cases[] = {{0, 0, 0}, {0, 1, 0}, {0, 0, 1}, {0, 1, 1}, {1, 0, 0}, {1, 0, 1}, {1, 1, 1}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        tt_ptq_opts o = tt_ptq_dynamic_defaults();
        o.weight_u8 = cases[k].u8;
        o.reduce_range = cases[k].rr;
        o.per_tensor = !cases[k].pc;
        tt_ptq_result r = quantize("gate/mlp.onnx", "w.onnx", &o);
        assert_int_equal(r.weight_points, 2);
        expect_weights("w.onnx", "w1", cases[k].u8, cases[k].rr, cases[k].pc);
        expect_weights("w.onnx", "w2", cases[k].u8, cases[k].rr, cases[k].pc);
    }
}

/* quantize_dynamic's graph for the fixture MLP (unnamed Gemms), node for node. */
static void test_mlp_graph(void **state)
{
    (void)state;
    tt_ptq_opts o = tt_ptq_dynamic_defaults();
    tt_ptq_result r = quantize("gate/mlp.onnx", "mlp.onnx", &o);
    assert_int_equal(r.gemm_rewritten, 2);
    assert_int_equal(r.dynamic_quantize_nodes, 2);
    assert_int_equal(r.matmul_integer_nodes, 2);
    assert_int_equal(r.conv_integer_nodes, 0);
    static const char *const want[][3] = {
        {"DynamicQuantizeLinear", "input_QuantizeLinear", "input_quantized"},
        {"Mul", "input_scale_w1_Transposed_scale_mul", "input_scale_w1_Transposed_scale_mul:0"},
        {"MatMulInteger", "", "h_MatMul_output_quantized"},
        {"Cast", "h_MatMul_output_quantized_cast", "h_MatMul_output_quantized_cast_output"},
        {"Mul", "", "h_MatMul"},
        {"Add", "", "h"},
        {"Relu", "", "r"},
        {"DynamicQuantizeLinear", "r_QuantizeLinear", "r_quantized"},
        {"Mul", "r_scale_w2_Transposed_scale_mul", "r_scale_w2_Transposed_scale_mul:0"},
        {"MatMulInteger", "", "output_MatMul_output_quantized"},
        {"Cast", "output_MatMul_output_quantized_cast",
         "output_MatMul_output_quantized_cast_output"},
        {"Mul", "", "output_MatMul"},
        {"Add", "", "output"},
    };
    char p[256];
    Onnx__ModelProto *m = read_model(tmp("mlp.onnx", p, sizeof p));
    assert_int_equal(m->graph->n_node, sizeof want / sizeof *want);
    for (size_t i = 0; i < m->graph->n_node; i++) {
        const Onnx__NodeProto *n = m->graph->node[i];
        assert_string_equal(n->op_type, want[i][0]);
        assert_string_equal(n->name ? n->name : "", want[i][1]);
        assert_string_equal(n->output[0], want[i][2]);
    }
    assert_int_equal(m->graph->node[0]->n_output, 3);
    assert_string_equal(m->graph->node[0]->output[2], "input_zero_point");
    /* the float weights are gone, the biases stay float */
    assert_int_equal(m->graph->n_initializer, 8);
    assert_string_equal(m->graph->initializer[0]->name, "b1");
    assert_string_equal(m->producer_name, "tinytrain");
    onnx__model_proto__free_unpacked(m, NULL);
}

/* The PyTorch CNN: ConvInteger with the Conv's attributes sorted by name, per-tensor Conv
 * weights even with per_channel (MatMul's are per column), biases added back through Reshape.
 * The file runs on tinytrain's runtime and passes the gate against the fp32 model. */
static void test_cnn_conv_integer(void **state)
{
    (void)state;
    tt_ptq_opts o = tt_ptq_dynamic_defaults();
    o.per_tensor = false;
    tt_ptq_result r = quantize("torch_export/fashion_cnn.onnx", "cnn.onnx", &o);
    assert_int_equal(r.conv_integer_nodes, 3);
    assert_int_equal(r.matmul_integer_nodes, 1);
    assert_int_equal(r.dynamic_quantize_nodes, 4);
    assert_true(r.output_bytes < r.input_bytes / 3);
    char p[256], m32[512];
    tt_onnx_info info;
    TT_ASSERT_OK(tt_onnx_inspect(tmp("cnn.onnx", p, sizeof p), &info));
    assert_int_equal(tt_onnx_info_count(&info, "ConvInteger"), 3);
    assert_int_equal(tt_onnx_info_count(&info, "Reshape"), 3);
    assert_int_equal(tt_onnx_info_count(&info, "Conv"), 0);
    assert_int_equal(tt_onnx_info_count(&info, "Gemm"), 0);
    Onnx__ModelProto *m = read_model(p);
    assert_int_equal(tensor(m, "onnx::Conv_35_scale")->n_dims, 0);
    assert_int_equal(tensor(m, "13.weight_Transposed_scale")->dims[0], 10);
    const int64_t shape[4] = {1, -1, 1, 1};
    const Onnx__TensorProto *rs = tensor(m, "/0/Conv_output_0_bias_reshape_shape");
    for (int i = 0; i < 4; i++) {
        int64_t v;
        memcpy(&v, rs->raw_data.data + 8 * i, 8);
        assert_int_equal(v, shape[i]);
    }
    for (size_t i = 0; i < m->graph->n_node; i++) {
        const Onnx__NodeProto *n = m->graph->node[i];
        for (size_t a = 1; !strcmp(n->op_type, "ConvInteger") && a < n->n_attribute; a++)
            assert_true(strcmp(n->attribute[a - 1]->name, n->attribute[a]->name) < 0);
    }
    onnx__model_proto__free_unpacked(m, NULL);
    tt_gate_row row;
    tt_gate_opts go = {0}; /* the gate's defaults: 16 uniform samples, seed 0 */
    TT_ASSERT_OK(tt_gate_pair(fix("torch_export/fashion_cnn.onnx", m32, sizeof m32), p, "cnn", 1e-3,
                              &go, &row));
    /* measured drop 4e-5 (16 uniform inputs); 1e-3 is 25x that and 10x below the gate's 0.01 */
    assert_int_equal(row.status, TT_GATE_ST_PASS);
}

/* --exclude: a Gemm's name stands for its MatMul; a weight shared with an excluded node comes
 * back through DequantizeLinear, so its float initializer goes. */
static void test_exclude(void **state)
{
    (void)state;
    tt_ptq_opts o = tt_ptq_dynamic_defaults();
    const char *gemm[] = {"/13/Gemm"}, *mmb[] = {"mm_b"};
    o.n_exclude = 1;
    o.exclude = gemm;
    tt_ptq_result r = quantize("torch_export/fashion_cnn.onnx", "ex.onnx", &o);
    assert_int_equal(r.matmul_integer_nodes, 0);
    assert_int_equal(r.excluded_nodes, 1);
    char p[256];
    tt_onnx_info info;
    TT_ASSERT_OK(tt_onnx_inspect(tmp("ex.onnx", p, sizeof p), &info));
    assert_int_equal(tt_onnx_info_count(&info, "MatMul"), 1);
    o.exclude = mmb;
    r = quantize("ptq/shared_weight.onnx", "sw.onnx", &o);
    assert_int_equal(r.matmul_integer_nodes, 1);
    Onnx__ModelProto *m = read_model(tmp("sw.onnx", p, sizeof p));
    const Onnx__NodeProto *dq = m->graph->node[0];
    assert_string_equal(dq->op_type, "DequantizeLinear");
    assert_string_equal(dq->name, "B_DequantizeLinear");
    assert_string_equal(dq->output[0], "B");
    assert_int_equal(dq->n_attribute, 0); /* per tensor: no axis */
    for (size_t i = 0; i < m->graph->n_initializer; i++)
        assert_string_not_equal(m->graph->initializer[i]->name, "B");
    onnx__model_proto__free_unpacked(m, NULL);
}

static void test_deterministic_and_report(void **state)
{
    (void)state;
    tt_ptq_opts o = tt_ptq_dynamic_defaults();
    tt_ptq_result r = quantize("torch_export/fashion_cnn.onnx", "a.onnx", &o);
    quantize("torch_export/fashion_cnn.onnx", "b.onnx", &o);
    char a[256], b[256], rep[256], m[512];
    size_t la, lb;
    void *da = tt_test_read_file(tmp("a.onnx", a, sizeof a), &la);
    void *db = tt_test_read_file(tmp("b.onnx", b, sizeof b), &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(da, db, la);
    free(da);
    free(db);
    char *argv[] = {"ptq"};
    tt_ptq_run run = {.argc = 1,
                      .argv = argv,
                      .model = fix("torch_export/fashion_cnn.onnx", m, sizeof m),
                      .output = a};
    TT_ASSERT_OK(tt_ptq_write_report(tmp("r.json", rep, sizeof rep), &o, &r, &run));
    char *text = tt_test_read_file(rep, NULL);
    assert_non_null(strstr(text, "\"schema\": \"ptq-dynamic-report-v1\""));
    assert_non_null(strstr(text, "\"conv_integer\": 3"));
    assert_non_null(strstr(text, "\"per_channel\": false"));
    assert_null(strstr(text, "calibration"));
    free(text);
}

static void expect_refused(const char *model_rel, const char *calib, const tt_ptq_opts *o,
                           tt_status want, const char *msg)
{
    char m[512], w[256], c[512];
    tt_status s =
        tt_ptq_quantize(fix(model_rel, m, sizeof m), calib ? fix(calib, c, sizeof c) : NULL,
                        tmp("refused.onnx", w, sizeof w), o, NULL);
    if (s != want || !strstr(tt_last_error(), msg))
        fail_msg("%s: got %s '%s', want %s with '%s'", model_rel, tt_status_str(s), tt_last_error(),
                 tt_status_str(want), msg);
    assert_int_equal(access(w, F_OK), -1);
}

static void test_refusals(void **state)
{
    (void)state;
    tt_ptq_opts o = tt_ptq_dynamic_defaults();
    const char *cnn = "torch_export/fashion_cnn.onnx";
    expect_refused(cnn, "ptq/calib.npz", &o, TT_ERR_INVALID_ARG, "takes no calibration set");
    expect_refused("onnx_import/dynamic_quant.onnx", NULL, &o, TT_ERR_INVALID_ARG,
                   "already quantised");
    expect_refused("ptq/opset10.onnx", NULL, &o, TT_ERR_UNSUPPORTED, "opset 10");
    expect_refused("ptq/nan_weight.onnx", NULL, &o, TT_ERR_NUMERIC, "'W_Transposed' holds nan");
    expect_refused("onnx_import/unsupported_ops.onnx", NULL, &o, TT_ERR_UNSUPPORTED, "LSTM");
    expect_refused("ptq/missing.onnx", NULL, &o, TT_ERR_IO, "missing.onnx");
    expect_refused("ptq/x.npy", NULL, &o, TT_ERR_FORMAT, "not an ONNX model");
    const char *bad[] = {"conv9"};
    o.n_exclude = 1;
    o.exclude = bad;
    expect_refused(cnn, NULL, &o, TT_ERR_INVALID_ARG, "--exclude 'conv9'");
    o = tt_ptq_dynamic_defaults();
    o.activation_s8 = true;
    expect_refused(cnn, NULL, &o, TT_ERR_UNSUPPORTED, "uint8 only");
    o = tt_ptq_dynamic_defaults();
    o.mode = (tt_ptq_mode)7;
    expect_refused(cnn, NULL, &o, TT_ERR_INVALID_ARG, "mode 7 is unknown");
    char m[512];
    o = tt_ptq_dynamic_defaults();
    assert_int_equal(
        tt_ptq_quantize(fix(cnn, m, sizeof m), NULL, "/nonexistent/dir/x.onnx", &o, NULL),
        TT_ERR_IO);
}

static int setup(void **state)
{
    (void)state;
    tt_set_num_threads(2);
    return tt_test_tmpdir_make("tt_test_ptq_dynamic", g_dir, sizeof g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tt_test_tmpdir_remove(g_dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_weights_are_ort_numbers),  cmocka_unit_test(test_mlp_graph),
        cmocka_unit_test(test_cnn_conv_integer),         cmocka_unit_test(test_exclude),
        cmocka_unit_test(test_deterministic_and_report), cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
