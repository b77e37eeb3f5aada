/* Static PTQ (tinytrain/ptq.h) on the PyTorch export of fashion_cnn (random weights, no
 * BatchNorm: tests/fixtures/torch_export): MinMax ranges are numpy's min/max of the float
 * model's activations, computed here by running the imported graph; the written QDQ file
 * imports back and runs fused on the int8 runtime; per-tensor, reduce_range, --exclude, .h5
 * input, the two-pass histogram methods, uint8 weights as ORT writes them; and every
 * refusal. */
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tinytrain/npz.h"
#include "tinytrain/ptq.h"
#include "tinytrain/runtime.h"

#define N_CAL  37 /* not a multiple of the batch: the last batch is short */
#define BATCH  16
#define SAMPLE (28 * 28)

static char g_dir[64];

static const char *model_path(char *buf, size_t len)
{
    return tt_test_fixture("torch_export/fashion_cnn.onnx", buf, len);
}

static const char *tmp(const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", g_dir, name);
    return buf;
}

/* n samples [n, 1, 28, 28] uniform in [-1, 2): negative values too, so the input point's
 * zero point is not 0. */
static float *samples(int64_t n, uint64_t seed)
{
    float *x = malloc((size_t)(n * SAMPLE) * sizeof *x);
    tt_rng rng;
    tt_rng_seed(&rng, seed, 0);
    tt_test_fill_uniform(x, n * SAMPLE, -1.0f, 2.0f, &rng);
    return x;
}

static void save_npz(const char *path, const char *name, const float *x, int ndim,
                     const int64_t *dims)
{
    tt_tensor *t;
    TT_ASSERT_OK(tt_tensor_alloc(&t, TT_F32, ndim, dims));
    memcpy(t->data, x, (size_t)tt_tensor_numel(t) * sizeof(float));
    const char *names[1] = {name};
    const tt_tensor *ts[1] = {t};
    TT_ASSERT_OK(tt_npz_save(path, 1, names, ts, false));
    tt_tensor_free(t);
}

static void save_calib(const char *path, const float *x, int64_t n)
{
    save_npz(path, "input", x, 4, (int64_t[]){n, 1, 28, 28});
}

static int setup(void **state)
{
    (void)state;
    tt_set_num_threads(2);
    if (!tt_test_tmpdir_make("tt_test_ptq", g_dir, sizeof g_dir)) return -1;
    float *x = samples(N_CAL, 11);
    char p[256];
    save_calib(tmp("calib.npz", p, sizeof p), x, N_CAL);
    free(x);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tt_test_tmpdir_remove(g_dir);
    return 0;
}

static tt_ptq_opts opts(void)
{
    tt_ptq_opts o = tt_ptq_defaults();
    o.batch = BATCH;
    return o;
}

static void quantize(const tt_ptq_opts *o, const char *calib, const char *out, tt_ptq_result *r)
{
    char m[512], c[256], w[256];
    TT_ASSERT_OK(tt_ptq_quantize(model_path(m, sizeof m), tmp(calib, c, sizeof c),
                                 tmp(out, w, sizeof w), o, r));
}

/* MinMax: each point's range is the min and max of its tensor over the calibration set, as
 * numpy.min/max give them, computed here on the imported float graph with the same batches.
 * The prepared graph copies the weights unchanged (no BatchNorm to fold) and runs the same
 * kernels on the same batches, so the values are the same floats: equality is exact. */
static void test_minmax_ranges_are_numpy_minmax(void **state)
{
    (void)state;
    tt_ptq_result r;
    tt_ptq_opts o = opts();
    quantize(&o, "calib.npz", "minmax.onnx", &r);
    /* input, three Relu outputs (each fused into its Conv), the Gemm output; MaxPool and
     * Flatten pass the quantised values through */
    assert_int_equal(r.n_points, 5);
    assert_int_equal(r.weight_points, 4);
    assert_int_equal(r.samples, N_CAL);
    assert_int_equal(r.batches, (N_CAL + BATCH - 1) / BATCH);
    assert_int_equal(r.passes, 1);
    assert_string_equal(r.points[0].tensor, "input");
    assert_string_equal(r.points[4].tensor, "output");

    char m[512];
    tt_model *mod;
    TT_ASSERT_OK(tt_onnx_import(model_path(m, sizeof m), NULL, &mod));
    tt_exec *e;
    TT_ASSERT_OK(tt_exec_create(mod->graph, BATCH, &e));
    float *x = samples(N_CAL, 11);
    float lo[5], hi[5];
    int ids[5];
    for (int i = 0; i < 5; i++) {
        ids[i] = tt_graph_find_value(mod->graph, r.points[i].tensor);
        assert_true(ids[i] >= 0);
        lo[i] = INFINITY;
        hi[i] = -INFINITY;
    }
    for (int64_t b = 0; b < N_CAL; b += BATCH) {
        int64_t k = N_CAL - b < BATCH ? N_CAL - b : BATCH;
        TT_ASSERT_OK(tt_exec_set_input(e, mod->input_id, x + b * SAMPLE, k));
        TT_ASSERT_OK(tt_exec_forward(e, k, false));
        for (int i = 0; i < 5; i++) {
            const tt_tensor *t = tt_exec_value(e, ids[i]);
            for (int64_t j = 0; j < tt_tensor_numel(t); j++) {
                lo[i] = fminf(lo[i], tt_tensor_f32(t)[j]);
                hi[i] = fmaxf(hi[i], tt_tensor_f32(t)[j]);
            }
        }
    }
    for (int i = 0; i < 5; i++) {
        assert_true(r.points[i].rmin == lo[i]);
        assert_true(r.points[i].rmax == hi[i]);
        float s;
        int32_t z;
        TT_ASSERT_OK(tt_quant_compute_scale_zp(lo[i], hi[i], 0, 255, false, &s, &z));
        assert_true(r.points[i].scale == s);
        assert_int_equal(r.points[i].zero_point, z);
    }
    assert_true(r.points[0].zero_point > 0); /* the input has negative values */
    assert_true(r.points[1].rmin == 0.0f);   /* a Relu output */
    free(x);
    tt_exec_free(e);
    tt_model_free(mod);
    tt_ptq_result_free(&r);
}

static tt_runtime *load_int8(const char *name)
{
    char p[256];
    tt_runtime *rt;
    tt_runtime_opts ro = {.mode = TT_RT_INT8};
    TT_ASSERT_OK(tt_runtime_load(tmp(name, p, sizeof p), &ro, &rt));
    return rt;
}

/* The QDQ file of the MinMax run is fully fused by tinytrain's int8 runtime (every Conv and
 * the Gemm become integer kernels), and the integer plan computes what the float reading of
 * the same QDQ graph computes, to one output step (a requantisation tie can round the other
 * way: docs/runtime.md). */
static void test_written_model_runs_fused(void **state)
{
    (void)state;
    tt_ptq_result r;
    tt_ptq_opts o = opts();
    quantize(&o, "calib.npz", "fused.onnx", &r);
    tt_runtime *rt = load_int8("fused.onnx");
    tt_runtime_stats st;
    tt_runtime_get_stats(rt, &st);
    assert_int_equal(st.n_float_compute, 0);
    assert_true(st.n_int8_nodes >= 4);
    char p[256];
    tt_runtime *rf;
    tt_runtime_opts fo = {.mode = TT_RT_FLOAT};
    TT_ASSERT_OK(tt_runtime_load(tmp("fused.onnx", p, sizeof p), &fo, &rf));
    int64_t n = 8, k = tt_runtime_output_size(rt);
    float *x = samples(n, 12), *yi = malloc((size_t)(n * k) * sizeof *yi),
          *yf = malloc((size_t)(n * k) * sizeof *yf);
    TT_ASSERT_OK(tt_runtime_run(rt, x, n, yi));
    TT_ASSERT_OK(tt_runtime_run(rf, x, n, yf));
    float step = r.points[4].scale;
    for (int64_t i = 0; i < n * k; i++) assert_true(fabsf(yi[i] - yf[i]) <= step * 1.0001f);
    tt_ptq_result_free(&r);
    free(x), free(yi), free(yf);
    tt_runtime_free(rt);
    tt_runtime_free(rf);
}

/* The weights' DequantizeLinear in the written file: the scales of every int8 initializer. */
static void weight_scales(const char *name, int *n_weights, int64_t *max_scales, int *max_abs_q)
{
    char p[256];
    tt_model *m;
    TT_ASSERT_OK(tt_onnx_import(tmp(name, p, sizeof p), NULL, &m));
    const tt_graph *g = m->graph;
    *n_weights = 0;
    *max_scales = 0;
    *max_abs_q = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const tt_node *n = &g->nodes[i];
        const tt_value *q = &g->values[n->in[0]];
        if (n->op != TT_OP_DEQUANTIZE || q->kind != TT_VALUE_PARAM || q->dtype != TT_I8) continue;
        ++*n_weights;
        int64_t c = tt_shape_numel(&g->values[n->in[1]].shape);
        *max_scales = c > *max_scales ? c : *max_scales;
        const int8_t *d = (const int8_t *)q->data->data;
        for (int64_t j = 0; j < tt_tensor_numel(q->data); j++)
            *max_abs_q = abs(d[j]) > *max_abs_q ? abs(d[j]) : *max_abs_q;
    }
    tt_model_free(m);
}

static void test_per_tensor_and_reduce_range(void **state)
{
    (void)state;
    int nw;
    int64_t ns;
    int qa;
    tt_ptq_result r;
    tt_ptq_opts o = opts();
    quantize(&o, "calib.npz", "pc.onnx", &r);
    tt_ptq_result_free(&r);
    weight_scales("pc.onnx", &nw, &ns, &qa);
    assert_int_equal(nw, 4);
    assert_int_equal(ns, 64); /* per channel: the widest layer has 64 output channels */
    assert_int_equal(qa, 127);
    o.per_tensor = true;
    o.reduce_range = true;
    quantize(&o, "calib.npz", "pt.onnx", &r);
    tt_ptq_result_free(&r);
    weight_scales("pt.onnx", &nw, &ns, &qa);
    assert_int_equal(nw, 4);
    assert_int_equal(ns, 1);
    assert_int_equal(qa, 64); /* 7-bit weights: [-64, 64] */
    tt_runtime *rt = load_int8("pt.onnx");
    tt_runtime_stats st;
    tt_runtime_get_stats(rt, &st);
    assert_int_equal(st.n_float_compute, 0);
    tt_runtime_free(rt);
}

/* --exclude: the named Conv (ONNX node name) stays float, the other layers are fused; the
 * same node named by its output tensor works too. */
static void test_exclude(void **state)
{
    (void)state;
    const char *ex[1] = {"/4/Conv"};
    tt_ptq_result r;
    tt_ptq_opts o = opts();
    o.n_exclude = 1;
    o.exclude = ex;
    quantize(&o, "calib.npz", "ex.onnx", &r);
    assert_int_equal(r.excluded_nodes, 1);
    assert_int_equal(r.weight_points, 3);
    tt_ptq_result_free(&r);
    tt_runtime *rt = load_int8("ex.onnx");
    tt_runtime_stats st;
    tt_runtime_get_stats(rt, &st);
    assert_int_equal(st.n_float_compute, 1);
    tt_runtime_free(rt);

    ex[0] = "/4/Conv_output_0";
    quantize(&o, "calib.npz", "ex2.onnx", &r);
    assert_int_equal(r.excluded_nodes, 1);
    tt_ptq_result_free(&r);

    char m[512], c[256], w[256];
    const char *bad[] = {"/6/Relu", "/3/MaxPool", "nope"};
    tt_status want[] = {TT_ERR_UNSUPPORTED, TT_ERR_UNSUPPORTED, TT_ERR_INVALID_ARG};
    const char *msg[] = {"fused into", "no quantisation of its own", "no node of that name"};
    for (int i = 0; i < 3; i++) {
        ex[0] = bad[i];
        tt_status s = tt_ptq_quantize(model_path(m, sizeof m), tmp("calib.npz", c, sizeof c),
                                      tmp("bad.onnx", w, sizeof w), &o, NULL);
        assert_int_equal(s, want[i]);
        assert_non_null(strstr(tt_last_error(), msg[i]));
    }
    assert_int_equal(access(w, F_OK), -1); /* nothing written */
}

/* The histogram methods read the set twice (prescan, then update), so the answer does not
 * depend on how it is cut into batches: one histogram over all values, as quantize_static.
 * Batch 16 and batch 37 (one batch) must give the same ranges, bit for bit (the float graph's
 * values are the same for every batching: see the MinMax test). The same holds for .h5. */
static void test_histogram_methods_two_pass(void **state)
{
    (void)state;
    tt_calib_method ms[2] = {TT_CALIB_ENTROPY, TT_CALIB_PERCENTILE};
    for (int k = 0; k < 2; k++) {
        tt_ptq_result a, b;
        tt_ptq_opts o = opts();
        o.method = ms[k];
        o.calib = tt_calibrator_defaults(ms[k]);
        quantize(&o, "calib.npz", "h1.onnx", &a);
        o.batch = N_CAL;
        quantize(&o, "calib.npz", "h2.onnx", &b);
        assert_int_equal(a.passes, 2);
        assert_int_equal(b.batches, 1);
        for (int i = 0; i < a.n_points; i++) {
            assert_true(a.points[i].rmin == b.points[i].rmin);
            assert_true(a.points[i].rmax == b.points[i].rmax);
        }
        tt_ptq_result_free(&a);
        tt_ptq_result_free(&b);
    }
}

static void test_h5_calibration(void **state)
{
    (void)state;
    float *x = samples(N_CAL, 11);
    tt_calib_set set = {0};
    TT_ASSERT_OK(tt_tensor_alloc(&set.input, TT_F32, 4, (int64_t[]){N_CAL, 1, 28, 28}));
    TT_ASSERT_OK(tt_tensor_alloc(&set.target, TT_I32, 1, (int64_t[]){N_CAL}));
    TT_ASSERT_OK(tt_tensor_alloc(&set.index, TT_I64, 1, (int64_t[]){N_CAL}));
    memcpy(set.input->data, x, sizeof(float) * N_CAL * SAMPLE);
    char p[256];
    TT_ASSERT_OK(tt_calib_save(tmp("calib.h5", p, sizeof p), &set));
    tt_calib_free(&set);
    free(x);
    tt_ptq_result a, b;
    tt_ptq_opts o = opts();
    quantize(&o, "calib.npz", "n.onnx", &a);
    quantize(&o, "calib.h5", "h.onnx", &b);
    for (int i = 0; i < a.n_points; i++) {
        assert_true(a.points[i].rmin == b.points[i].rmin);
        assert_true(a.points[i].rmax == b.points[i].rmax);
    }
    tt_ptq_result_free(&a);
    tt_ptq_result_free(&b);
}

static void expect_fail(const char *calib, const tt_ptq_opts *o, tt_status want, const char *msg)
{
    char m[512], c[256], w[256];
    tt_status s = tt_ptq_quantize(model_path(m, sizeof m), calib ? tmp(calib, c, sizeof c) : NULL,
                                  tmp("fail.onnx", w, sizeof w), o, NULL);
    if (s != want || !strstr(tt_last_error(), msg))
        fail_msg("%s: got %s '%s', want %s with '%s'", calib ? calib : "(none)", tt_status_str(s),
                 tt_last_error(), tt_status_str(want), msg);
    assert_int_equal(access(w, F_OK), -1);
}

static void test_refusals(void **state)
{
    (void)state;
    char p[256];
    float *x = samples(6, 13);
    save_npz(tmp("named.npz", p, sizeof p), "x", x, 4, (int64_t[]){6, 1, 28, 28});
    save_npz(tmp("shape.npz", p, sizeof p), "input", x, 4, (int64_t[]){6, 1, 28, 27});
    save_npz(tmp("flat.npz", p, sizeof p), "input", x, 2, (int64_t[]){6, 784});
    x[3 * SAMPLE + 100] = NAN;
    save_calib(tmp("nan.npz", p, sizeof p), x, 6);
    free(x);
    tt_ptq_opts o = opts();
    expect_fail("named.npz", &o, TT_ERR_FORMAT, "no array named 'input'");
    expect_fail("named.npz", &o, TT_ERR_FORMAT, "it holds 'x'");
    expect_fail("shape.npz", &o, TT_ERR_SHAPE, "has shape [6, 1, 28, 27]");
    expect_fail("flat.npz", &o, TT_ERR_SHAPE, "needs [N, 1, 28, 28]");
    expect_fail("nan.npz", &o, TT_ERR_NUMERIC, "sample 3 has NaN");
    expect_fail("missing.npz", &o, TT_ERR_IO, "missing.npz");
    expect_fail("calib.txt", &o, TT_ERR_INVALID_ARG, ".npz or .h5");
    expect_fail(NULL, &o, TT_ERR_INVALID_ARG, "needs a calibration set");
    o.mode = TT_PTQ_DYNAMIC; /* test_ptq_dynamic.c has the rest */
    expect_fail("calib.npz", &o, TT_ERR_INVALID_ARG, "dynamic PTQ takes no calibration set");
    o = opts();
    o.weight_u8 = true;
    o.activation_s8 = true; /* quantize_static refuses this pair too */
    expect_fail("calib.npz", &o, TT_ERR_UNSUPPORTED, "uint8 weights need uint8 activations");
}

/* How far the uint8 weights of a written file are from ONNX Runtime's quantize_static rule,
 * derived here from the fp32 weights (the fixture has no BatchNorm: the file's weights are the
 * model's): per channel symmetric over [0, 255] (zero point 128) or [0, 127] (64) with
 * reduce_range, per tensor asymmetric over the same ranges, the codes saturated to the whole
 * uint8 type. Counts the weights and returns the largest code and the zero points seen. */
typedef struct u8_seen {
    int weights, max_code, min_zp, max_zp;
    int64_t max_scales;
} u8_seen;

static u8_seen check_u8_weights(const char *name, bool per_tensor, bool reduce_range)
{
    char p[256], m[512];
    tt_model *q, *f;
    TT_ASSERT_OK(tt_onnx_import(tmp(name, p, sizeof p), NULL, &q));
    TT_ASSERT_OK(tt_onnx_import(model_path(m, sizeof m), NULL, &f));
    u8_seen seen = {.min_zp = 255};
    int32_t qmax = reduce_range ? 127 : 255;
    for (int i = 0; i < q->graph->n_nodes; i++) {
        const tt_node *n = &q->graph->nodes[i];
        const tt_value *wq = &q->graph->values[n->in[0]];
        if (n->op != TT_OP_DEQUANTIZE || wq->kind != TT_VALUE_PARAM) continue;
        assert_true(wq->dtype != TT_I8); /* every weight uint8 */
        if (wq->dtype != TT_U8) continue;
        char src[TT_NAME_MAX];
        snprintf(src, sizeof src, "%.*s", (int)(strlen(wq->name) - strlen("_quantized")), wq->name);
        int v = tt_graph_find_value(f->graph, src);
        assert_true(v >= 0);
        const float *w = tt_tensor_f32(f->graph->values[v].data);
        const float *sc = tt_tensor_f32(q->graph->values[n->in[1]].data);
        const uint8_t *zp = q->graph->values[n->in[2]].data->data, *code = wq->data->data;
        int64_t c = tt_shape_numel(&q->graph->values[n->in[1]].shape);
        int64_t axis = tt_node_attr_int(n, "axis", 1), total = tt_shape_numel(&wq->shape);
        int64_t inner =
            c == 1 ? total : total / wq->shape.dims[axis] / (axis ? wq->shape.dims[0] : 1);
        assert_true(per_tensor ? c == 1 : c > 1);
        float *lo = malloc((size_t)c * sizeof *lo), *hi = malloc((size_t)c * sizeof *hi);
        for (int64_t ch = 0; ch < c; ch++) lo[ch] = INFINITY, hi[ch] = -INFINITY;
        for (int64_t k = 0; k < total; k++) {
            int64_t ch = (k / inner) % c;
            lo[ch] = fminf(lo[ch], w[k]);
            hi[ch] = fmaxf(hi[ch], w[k]);
        }
        for (int64_t k = 0; k < total; k++) {
            int64_t ch = (k / inner) % c;
            float s;
            int32_t z;
            TT_ASSERT_OK(tt_quant_compute_scale_zp(lo[ch], hi[ch], 0, qmax, !per_tensor, &s, &z));
            assert_true(sc[ch] == s);
            assert_int_equal(zp[ch], z);
            assert_int_equal(code[k], tt_quantize_val(w[k], s, z, 0, 255));
            seen.max_code = code[k] > seen.max_code ? code[k] : seen.max_code;
            seen.min_zp = zp[ch] < seen.min_zp ? zp[ch] : seen.min_zp;
            seen.max_zp = zp[ch] > seen.max_zp ? zp[ch] : seen.max_zp;
        }
        free(lo);
        free(hi);
        seen.max_scales = c > seen.max_scales ? c : seen.max_scales;
        seen.weights++;
    }
    tt_model_free(q);
    tt_model_free(f);
    return seen;
}

/* --weight-type u8: the weights follow ORT's rule bit for bit (per channel, per tensor, 7
 * bits: a symmetric 7-bit weight reaches 128, past [0, 127], as ORT writes it), and the file
 * runs fully fused on tinytrain's int8 runtime (uint8 weights with their zero points). */
static void test_uint8_weights(void **state)
{
    (void)state;
    const bool pts[4] = {false, false, true, true}, rrs[4] = {false, true, false, true};
    for (int k = 0; k < 4; k++) {
        tt_ptq_result r;
        tt_ptq_opts o = opts();
        o.weight_u8 = true;
        o.per_tensor = pts[k];
        o.reduce_range = rrs[k];
        quantize(&o, "calib.npz", "u8.onnx", &r);
        assert_int_equal(r.weight_points, 4);
        assert_int_equal(r.adjusted_weight_scales, 0); /* ORT adjusts int8 weights only */
        tt_ptq_result_free(&r);
        u8_seen seen = check_u8_weights("u8.onnx", pts[k], rrs[k]);
        assert_int_equal(seen.weights, 4);
        if (!pts[k]) { /* symmetric: the mid-range zero point everywhere */
            assert_int_equal(seen.min_zp, rrs[k] ? 64 : 128);
            assert_int_equal(seen.max_zp, rrs[k] ? 64 : 128);
            assert_int_equal(seen.max_scales, 64);
        } else {
            assert_true(seen.min_zp != seen.max_zp || seen.min_zp != 128); /* asymmetric */
        }
        assert_true(seen.max_code >= (rrs[k] ? 127 : 254));
        assert_true(seen.max_code <= (rrs[k] ? 128 : 255));
        tt_runtime *rt = load_int8("u8.onnx");
        tt_runtime_stats st;
        tt_runtime_get_stats(rt, &st);
        assert_int_equal(st.n_float_compute, 0);
        assert_true(st.n_int8_nodes >= 4);
        tt_runtime_free(rt);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minmax_ranges_are_numpy_minmax),
        cmocka_unit_test(test_written_model_runs_fused),
        cmocka_unit_test(test_per_tensor_and_reduce_range),
        cmocka_unit_test(test_exclude),
        cmocka_unit_test(test_histogram_methods_two_pass),
        cmocka_unit_test(test_h5_calibration),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_uint8_weights),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
