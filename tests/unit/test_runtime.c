/* The runtime's int8 plan on a hand-built QDQ graph (the shape tinytrain's QDQ export and ORT's
 * quantize_static write): which patterns become integer kernels, which stay float, and that the
 * integer plan computes what the float reading of the same graph computes. The ONNX round trip
 * (export -> import -> runtime vs ONNX Runtime) is tests/onnx/check_runtime.py. */
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "tinytrain/runtime.h"

#define BATCH 8

typedef struct qdq_opts {
    int8_t conv_wzp;  /* a nonzero weight zero point: ORT does not fuse it, nor do we */
    float bias_scale; /* 1: bias scale = x_scale * w_scale (fusable); else scaled by this */
    bool relu_twice;  /* the Relu output also feeds the graph output path: not fusable */
} qdq_opts;

typedef struct builder {
    tt_graph *g;
    tt_rng rng;
    int k; /* name counter */
} builder;

static const char *nm(builder *b, const char *base)
{
    static char buf[8][TT_NAME_MAX];
    char *s = buf[b->k % 8];
    snprintf(s, TT_NAME_MAX, "%s_%d", base, b->k++);
    return s;
}

static int param(builder *b, tt_dtype dt, int ndim, const int64_t *dims)
{
    int id;
    TT_ASSERT_OK(tt_graph_add_param_typed(b->g, nm(b, "p"), dt, ndim, dims, &id));
    return id;
}

static int scalar_f(builder *b, float v)
{
    int id = param(b, TT_F32, 1, (int64_t[]){1});
    tt_tensor_f32(b->g->values[id].data)[0] = v;
    return id;
}

static int scalar_u8(builder *b, uint8_t v)
{
    int id = param(b, TT_U8, 1, (int64_t[]){1});
    ((uint8_t *)b->g->values[id].data->data)[0] = v;
    return id;
}

static int node(builder *b, tt_op_type op, int n_in, const int *in, int n_attr,
                const tt_attr *attrs)
{
    int out[TT_MAX_NODE_IO];
    TT_ASSERT_OK(tt_graph_add_node(b->g, op, nm(b, tt_op_name(op)), n_in, in, n_attr, attrs, out));
    return out[0];
}

static int q(builder *b, int x, int s, int zp)
{
    return node(b, TT_OP_QUANTIZE, 3, (int[]){x, s, zp}, 0, NULL);
}

static int dq(builder *b, int x, int s, int zp)
{
    return node(b, TT_OP_DEQUANTIZE, zp >= 0 ? 3 : 2, (int[]){x, s, zp}, 1,
                (tt_attr[]){tt_attr_int("axis", 0)});
}

/* int8 weight [m, per...] with per-channel scales, zero points wzp, and its int32 bias. */
static void weight(builder *b, int ndim, const int64_t *dims, int8_t wzp, float x_scale,
                   float bias_scale, int *dw, int *db)
{
    int64_t m = dims[0], n = 1;
    for (int i = 0; i < ndim; i++) n *= dims[i];
    int w = param(b, TT_I8, ndim, dims), ws = param(b, TT_F32, 1, &m), wz = param(b, TT_I8, 1, &m);
    int bq = param(b, TT_I32, 1, &m), bs = param(b, TT_F32, 1, &m);
    int8_t *wd = b->g->values[w].data->data;
    for (int64_t i = 0; i < n; i++) wd[i] = (int8_t)((int)tt_rng_below(&b->rng, 255) - 127);
    for (int64_t c = 0; c < m; c++) {
        float s = 0.002f + 0.001f * (float)c;
        tt_tensor_f32(b->g->values[ws].data)[c] = s;
        ((int8_t *)b->g->values[wz].data->data)[c] = wzp;
        tt_tensor_f32(b->g->values[bs].data)[c] = tt_quant_bias_scale(x_scale, s) * bias_scale;
        ((int32_t *)b->g->values[bq].data->data)[c] = (int32_t)tt_rng_below(&b->rng, 2001) - 1000;
    }
    *dw = dq(b, w, ws, wz);
    *db = dq(b, bq, bs, -1);
}

/* input -> Q -> DQ -> Conv(3x3, pad 1) -> Relu -> Q -> DQ -> MaxPool 2 -> Q -> DQ -> Flatten ->
 * Q -> DQ -> Gemm -> Q -> DQ -> output */
static tt_model *build(const qdq_opts *o)
{
    builder b = {0};
    tt_rng_seed(&b.rng, 7, 0);
    TT_ASSERT_OK(tt_graph_create(&b.g));
    tt_model *m = calloc(1, sizeof *m);
    assert_non_null(m);
    m->graph = b.g;
    TT_ASSERT_OK(tt_graph_add_input(b.g, "input", TT_F32, 4, (int64_t[]){TT_DIM_BATCH, 1, 6, 6},
                                    &m->input_id));
    const float s_in = 1.0f / 255, s1 = 0.05f, s4 = 0.1f;
    int si = scalar_f(&b, s_in), zi = scalar_u8(&b, 0);
    int x = dq(&b, q(&b, m->input_id, si, zi), si, zi);
    int dw, db;
    weight(&b, 4, (int64_t[]){4, 1, 3, 3}, o->conv_wzp, s_in, o->bias_scale, &dw, &db);
    int c = node(&b, TT_OP_CONV, 3, (int[]){x, dw, db}, 1,
                 (tt_attr[]){tt_attr_ints("pads", 4, (int64_t[]){1, 1, 1, 1})});
    int r = node(&b, TT_OP_RELU, 1, &c, 0, NULL);
    int sa = scalar_f(&b, s1), za = scalar_u8(&b, 0);
    int a = dq(&b, q(&b, r, sa, za), sa, za);
    tt_attr pool[] = {tt_attr_ints("kernel_shape", 2, (int64_t[]){2, 2}),
                      tt_attr_ints("strides", 2, (int64_t[]){2, 2})};
    int p = node(&b, TT_OP_MAXPOOL, 1, &a, 2, pool);
    p = dq(&b, q(&b, p, sa, za), sa, za);
    int f = node(&b, TT_OP_FLATTEN, 1, &p, 0, NULL);
    f = dq(&b, q(&b, f, sa, za), sa, za);
    weight(&b, 2, (int64_t[]){5, 36}, 0, s1, 1.0f, &dw, &db);
    int gm = node(&b, TT_OP_GEMM, 3, (int[]){f, dw, db}, 0, NULL);
    int so = scalar_f(&b, s4), zo = scalar_u8(&b, 128);
    int y = dq(&b, q(&b, gm, so, zo), so, zo);
    if (o->relu_twice) {
        /* A second reader of the Relu's float output (adding zero to the result): the conv can
         * no longer absorb the Relu and its Q. */
        int side = node(&b, TT_OP_GLOBALAVGPOOL, 1, &r, 0, NULL);
        side = node(&b, TT_OP_FLATTEN, 1, &side, 0, NULL);
        int zw = param(&b, TT_F32, 2, (int64_t[]){5, 4});
        side = node(&b, TT_OP_GEMM, 2, (int[]){side, zw}, 0, NULL);
        y = node(&b, TT_OP_ADD, 2, (int[]){y, side}, 0, NULL);
    }
    m->output_id = y;
    return m;
}

static float *run(const qdq_opts *o, tt_rt_mode mode, const float *x, tt_runtime_stats *st)
{
    tt_runtime *rt;
    tt_runtime_opts ro = {.mode = mode, .max_batch = 3}; /* 3: the last chunk is partial */
    TT_ASSERT_OK(tt_runtime_create(build(o), &ro, &rt));
    assert_int_equal(tt_runtime_input_size(rt), 36);
    assert_int_equal(tt_runtime_output_size(rt), 5);
    float *y = malloc(sizeof(float) * BATCH * 5);
    TT_ASSERT_OK(tt_runtime_run(rt, x, BATCH, y));
    tt_runtime_get_stats(rt, st);
    tt_runtime_free(rt);
    return y;
}

static void inputs(float *x)
{
    tt_rng r;
    tt_rng_seed(&r, 1, 0);
    tt_test_fill_uniform(x, BATCH * 36, 0.0f, 1.0f, &r);
}

/* The int8 plan against the float reading of the same graph. Both see the same quantised
 * input, weights and int32 bias; the integer kernels sum exactly where float sums round, so an
 * output can land one quantisation step (0.1) away when its value sits at a rounding boundary,
 * and no further. */
static void compare(const float *yi, const float *yf, int *exact)
{
    *exact = 0;
    for (int i = 0; i < BATCH * 5; i++) {
        float d = fabsf(yi[i] - yf[i]);
        assert_true(d <= 0.1f * 1.001f);
        *exact += d == 0.0f;
    }
}

static void fusable_graph_runs_on_integer_kernels(void **state)
{
    (void)state;
    qdq_opts o = {.bias_scale = 1.0f};
    float x[BATCH * 36];
    inputs(x);
    tt_runtime_stats si, sf;
    float *yi = run(&o, TT_RT_INT8, x, &si), *yf = run(&o, TT_RT_FLOAT, x, &sf);
    /* QLinearConv(+Relu), MaxPool and Flatten on uint8, QGemm; the input Q and the output DQ
     * stay (the runtime feeds and returns float). */
    assert_int_equal(si.n_int8_nodes, 2);
    assert_int_equal(si.n_float_compute, 0);
    assert_int_equal(si.n_qdq_float, 2);
    assert_int_equal(si.n_nodes, 6);
    assert_int_equal(sf.n_int8_nodes, 0);
    assert_int_equal(sf.n_float_compute, 2);
    int exact;
    compare(yi, yf, &exact);
    /* Boundary cases are rare: at least 90% of the 40 outputs agree exactly. */
    assert_true(exact >= 36);
    free(yi);
    free(yf);
}

/* What ORT would not fuse stays float, and the plan is still right. */
static void unfusable_patterns_stay_float(void **state)
{
    (void)state;
    float x[BATCH * 36];
    inputs(x);
    qdq_opts cases[] = {
        {.conv_wzp = 3, .bias_scale = 1.0f}, /* nonzero weight zero point */
        {.bias_scale = 1.5f},                /* bias scale != x_scale * w_scale */
        {.bias_scale = 1.0f, .relu_twice = true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tt_runtime_stats si, sf;
        float *yi = run(&cases[i], TT_RT_INT8, x, &si), *yf = run(&cases[i], TT_RT_FLOAT, x, &sf);
        /* The conv stays float; the Gemm after it is still fused. */
        assert_int_equal(si.n_int8_nodes, 1);
        assert_true(si.n_float_compute >= 1);
        int exact;
        compare(yi, yf, &exact);
        free(yi);
        free(yf);
    }
}

static void run_rejects_bad_arguments(void **state)
{
    (void)state;
    qdq_opts o = {.bias_scale = 1.0f};
    tt_runtime *rt;
    tt_runtime_opts bad = {.mode = (tt_rt_mode)7};
    assert_int_equal(tt_runtime_create(build(&o), &bad, &rt), TT_ERR_INVALID_ARG);
    TT_ASSERT_OK(tt_runtime_create(build(&o), NULL, &rt));
    float x[36], y[5];
    memset(x, 0, sizeof x);
    assert_int_equal(tt_runtime_run(rt, x, -1, y), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_runtime_run(rt, NULL, 1, y), TT_ERR_INVALID_ARG);
    TT_ASSERT_OK(tt_runtime_run(rt, x, 0, y));
    tt_runtime_free(rt);
}

/* A file may declare any input shape: one too large for a run is refused before the executor
 * allocates anything. */
static void huge_input_is_refused(void **state)
{
    (void)state;
    tt_model *m = calloc(1, sizeof *m);
    assert_non_null(m);
    TT_ASSERT_OK(tt_graph_create(&m->graph));
    TT_ASSERT_OK(tt_graph_add_input(m->graph, "input", TT_F32, 4,
                                    (int64_t[]){TT_DIM_BATCH, 1, 20000, 20000}, &m->input_id));
    TT_ASSERT_OK(
        tt_graph_add_node(m->graph, TT_OP_RELU, "relu", 1, &m->input_id, 0, NULL, &m->output_id));
    tt_runtime *rt = NULL;
    assert_int_equal(tt_runtime_create(m, NULL, &rt), TT_ERR_NOMEM);
    assert_null(rt);
    assert_non_null(strstr(tt_last_error(), "400000000 floats per sample"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fusable_graph_runs_on_integer_kernels),
        cmocka_unit_test(unfusable_patterns_stay_float),
        cmocka_unit_test(run_rejects_bad_arguments),
        cmocka_unit_test(huge_input_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
