/* The inference-only ops (Sub, Div, Softmax, Cast, QuantizeLinear, DequantizeLinear,
 * DynamicQuantizeLinear, MatMulInteger, ConvInteger, QLinearAdd, QLinearGlobalAveragePool) and
 * MaxPool / Flatten / Reshape on integer data, against ONNX Runtime's outputs in
 * tests/fixtures/qops (made by scripts/gen_qops_fixtures.py, which documents the few cases
 * whose expected output is an exact numpy reference instead). Each fixture is one node: the
 * test builds it in the IR, checks the inferred dtypes and shapes, runs it through the executor
 * and compares every output element. Then the errors: shape and dtype checks at graph build
 * time and the value checks at run time, each naming the node and the problem. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "testutil.h"
#include "tinytrain/npz.h"

typedef struct qcase {
    const char *name;
    tt_op_type op;
} qcase;

/* Float outputs are compared exactly (NaN equal to NaN) except Softmax's: ORT's vectorised exp
 * and its multiply by 1/sum differ from expf and a division by a few float32 ulps (measured:
 * at most 2.1e-7 relative over the four fixtures). 1e-6 relative (about 8 ulps) covers that
 * with room and still fails any real error (a wrong axis, a missing max subtraction, a sum over
 * the wrong elements are all off by far more). Every other float
 * output (Sub, Div, DequantizeLinear, Cast to float, the DynamicQuantizeLinear scale) is one
 * IEEE operation per element, as in ORT, so it must match bit for bit. Integer outputs must
 * match exactly; ORT's QLinearAdd and QLinearGlobalAveragePool arithmetic is reproduced, so no
 * one-step allowance is needed. */
#define SOFTMAX_RTOL 1e-6

static const char *const cast_cases[] = {
    "cast_f32_f32",     "cast_f32_int32",     "cast_f32_int64",   "cast_f32_int8",
    "cast_f32_uint8",   "cast_int32_float32", "cast_int32_int64", "cast_int32_int8",
    "cast_int32_uint8", "cast_int64_float32", "cast_int64_int32", "cast_int64_int8",
    "cast_int64_uint8", "cast_int8_float32",  "cast_int8_int32",  "cast_int8_int64",
    "cast_int8_uint8",  "cast_uint8_float32", "cast_uint8_int32", "cast_uint8_int8"};
static const char *const ci_cases[] = {"ci_depthwise", "ci_group",     "ci_i8u8",
                                       "ci_i8u8_full", "ci_noz_1x1",   "ci_stride_pad_dil",
                                       "ci_u8u8_pad",  "ci_wzp_per_oc"};
static const char *const dq_cases[] = {"dq_axis1_i8", "dq_axis_i32", "dq_axisneg_u8", "dq_i32",
                                       "dq_i32_zp0",  "dq_i8",       "dq_noz",        "dq_u8"};
static const char *const dynq_cases[] = {"dynq_mixed", "dynq_nan", "dynq_neg",
                                         "dynq_pos",   "dynq_tie", "dynq_zeros"};
static const char *const maxpool_cases[] = {"maxpool_int8_2x2",     "maxpool_int8_allpad",
                                            "maxpool_int8_pad_dil", "maxpool_uint8_2x2",
                                            "maxpool_uint8_allpad", "maxpool_uint8_pad_dil"};
static const char *const mmi_cases[] = {"mmi_i8i8",      "mmi_i8u8",        "mmi_noz", "mmi_rank3",
                                        "mmi_u8i8_full", "mmi_u8i8_percol", "mmi_u8u8"};
static const char *const q_cases[] = {"q_axis0_param", "q_axis1_i8", "q_axisneg_u8", "q_i8_ties",
                                      "q_i8_zpmax",    "q_i8_zpmin", "q_noz",        "q_u8_ties",
                                      "q_u8_zp0",      "q_u8_zp255"};
static const char *const qadd_cases[] = {"qadd_i8_bcast", "qadd_i8_relu",   "qadd_i8_sat_zp",
                                         "qadd_i8_ties",  "qadd_u8_relu",   "qadd_u8_rowcol",
                                         "qadd_u8_same",  "qadd_u8_sat_zp", "qadd_u8_ties"};
static const char *const qgap_cases[] = {"qgap_i8_sat", "qgap_i8_ties", "qgap_u8",
                                         "qgap_u8_1x1", "qgap_u8_odd",  "qgap_u8_ties"};
static const char *const softmax_cases[] = {"softmax_axis0", "softmax_axis1", "softmax_last",
                                            "softmax_neg2"};
static const char *const sub_cases[] = {"sub_bcast", "sub_same"};
static const char *const div_cases[] = {"div_bcast", "div_bcast_batch", "div_scalar"};
static const char *const flatten_cases[] = {"flatten_int8", "flatten_uint8"};
static const char *const reshape_cases[] = {"reshape_int32", "reshape_int64", "reshape_int8",
                                            "reshape_uint8"};

enum { KIND_ABSENT = 0, KIND_BATCH = 1, KIND_PARAM = 2 };

/* A fixture's graph: the node's inputs (kept for set_input), its attributes and outputs. */
typedef struct fixture {
    tt_npz *z;
    int n_in, n_out, n_attrs;
    int64_t batch; /* dim 0 of the batched inputs; 0 when there are none */
    int in_ids[TT_MAX_NODE_IO], out_ids[TT_MAX_NODE_IO];
    tt_tensor *in[TT_MAX_NODE_IO], *want[TT_MAX_NODE_IO];
    tt_attr attrs[TT_MAX_ATTRS];
} fixture;

static void fixture_free(fixture *f)
{
    for (int i = 0; i < TT_MAX_NODE_IO; i++) {
        tt_tensor_free(f->in[i]);
        tt_tensor_free(f->want[i]);
    }
    tt_npz_close(f->z);
}

static void load_attrs(fixture *f)
{
    for (int i = 0; i < tt_npz_count(f->z); i++) {
        const char *nm = tt_npz_name(f->z, i);
        bool one = strncmp(nm, "attri_", 6) == 0, many = strncmp(nm, "attrs_", 6) == 0;
        if (!one && !many) continue;
        tt_tensor *t;
        TT_ASSERT_OK(tt_npz_load(f->z, nm, &t));
        assert_int_equal(t->dtype, TT_I64);
        assert_true(f->n_attrs < TT_MAX_ATTRS);
        const int64_t *v = t->data;
        f->attrs[f->n_attrs++] =
            one ? tt_attr_int(nm + 6, v[0]) : tt_attr_ints(nm + 6, (int)tt_tensor_numel(t), v);
        tt_tensor_free(t);
    }
}

/* Add input i of the fixture to g as a batched graph input or a graph-owned constant. */
static void add_fixture_input(fixture *f, tt_graph *g, int i, int64_t kind)
{
    char nm[16];
    snprintf(nm, sizeof nm, "in%d", i);
    TT_ASSERT_OK(tt_npz_load(f->z, nm, &f->in[i]));
    const tt_tensor *t = f->in[i];
    int64_t d[TT_MAX_DIMS];
    memcpy(d, t->shape.dims, sizeof d);
    if (kind == KIND_BATCH) {
        assert_true(f->batch == 0 || f->batch == d[0]);
        f->batch = d[0];
        d[0] = TT_DIM_BATCH;
        TT_ASSERT_OK(tt_graph_add_input(g, nm, t->dtype, t->shape.ndim, d, &f->in_ids[i]));
        return;
    }
    TT_ASSERT_OK(tt_graph_add_param_typed(g, nm, t->dtype, t->shape.ndim, d, &f->in_ids[i]));
    tt_tensor *p = g->values[f->in_ids[i]].data;
    memcpy(p->data, t->data, (size_t)tt_tensor_numel(t) * tt_dtype_size(t->dtype));
}

static void fixture_build(const char *name, tt_op_type op, tt_graph *g, fixture *f)
{
    char rel[96], path[512];
    memset(f, 0, sizeof *f);
    snprintf(rel, sizeof rel, "qops/%s.npz", name);
    TT_ASSERT_OK(tt_npz_open(tt_test_fixture(rel, path, sizeof path), &f->z));
    tt_tensor *kind;
    TT_ASSERT_OK(tt_npz_load(f->z, "kind", &kind));
    f->n_in = (int)tt_tensor_numel(kind);
    for (int i = 0; i < f->n_in; i++) {
        int64_t k = ((const int64_t *)kind->data)[i];
        f->in_ids[i] = -1;
        if (k != KIND_ABSENT) add_fixture_input(f, g, i, k);
    }
    tt_tensor_free(kind);
    load_attrs(f);
    char nm[16];
    for (f->n_out = 0; f->n_out < TT_MAX_NODE_IO; f->n_out++) {
        snprintf(nm, sizeof nm, "out%d", f->n_out);
        if (!tt_npz_has(f->z, nm)) break;
        TT_ASSERT_OK(tt_npz_load(f->z, nm, &f->want[f->n_out]));
    }
    TT_ASSERT_OK(
        tt_graph_add_node(g, op, "node", f->n_in, f->in_ids, f->n_attrs, f->attrs, f->out_ids));
}

/* The inferred (symbolic) output value matches the expected tensor: same dtype, same dims
 * except a TT_DIM_BATCH dim 0 standing for the batch. */
static void check_inferred(const tt_value *v, const tt_tensor *want, int64_t batch)
{
    assert_int_equal(v->dtype, want->dtype);
    assert_int_equal(v->shape.ndim, want->shape.ndim);
    for (int d = 0; d < v->shape.ndim; d++) {
        int64_t got = v->shape.dims[d];
        if (d == 0 && got == TT_DIM_BATCH) got = batch;
        assert_int_equal(got, want->shape.dims[d]);
    }
}

static bool float_close(float got, float want, double rtol)
{
    if (isnan(want)) return isnan(got);
    if (isinf(want)) return got == want;
    return fabs((double)got - (double)want) <= rtol * fabs((double)want);
}

/* Every element of got equals want (floats within rtol); prints the first mismatches. */
static int compare(const char *name, int k, const tt_tensor *got, const tt_tensor *want,
                   double rtol)
{
    assert_int_equal(got->dtype, want->dtype);
    assert_true(tt_shape_equal(&got->shape, &want->shape));
    int64_t n = tt_tensor_numel(want);
    size_t es = tt_dtype_size(want->dtype);
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        bool ok;
        if (want->dtype == TT_F32)
            ok = float_close(tt_tensor_f32(got)[i], tt_tensor_f32(want)[i], rtol);
        else
            ok = memcmp((const char *)got->data + i * es, (const char *)want->data + i * es, es) ==
                 0;
        if (!ok && bad++ < 5) {
            if (want->dtype == TT_F32)
                print_error("%s out%d[%lld]: got %.9g, want %.9g\n", name, k, (long long)i,
                            (double)tt_tensor_f32(got)[i], (double)tt_tensor_f32(want)[i]);
            else
                print_error("%s out%d[%lld]: bytes differ (%s)\n", name, k, (long long)i,
                            tt_dtype_name(want->dtype));
        }
    }
    return bad;
}

/* Builds and runs one fixture; returns how many output elements differ (printing the first). */
static int run_case(const char *name, tt_op_type op, double rtol)
{
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    fixture f;
    fixture_build(name, op, g, &f);
    for (int k = 0; k < f.n_out; k++) check_inferred(&g->values[f.out_ids[k]], f.want[k], f.batch);
    /* Planned for one sample more than it runs, so buffers sized at the maximum batch are used
     * at a smaller one, as in serving. */
    int64_t batch = f.batch ? f.batch : 1;
    tt_exec *e;
    TT_ASSERT_OK(tt_exec_create(g, batch + 1, &e));
    for (int i = 0; i < f.n_in; i++)
        if (f.in[i] && g->values[f.in_ids[i]].kind == TT_VALUE_INPUT)
            TT_ASSERT_OK(tt_exec_set_input(e, f.in_ids[i], f.in[i]->data, batch));
    TT_ASSERT_OK(tt_exec_forward(e, batch, false));
    int bad = 0;
    for (int k = 0; k < f.n_out; k++)
        bad += compare(name, k, tt_exec_value(e, f.out_ids[k]), f.want[k], rtol);
    if (bad) print_error("%s: %d elements differ\n", name, bad);
    tt_exec_free(e);
    tt_graph_free(g);
    fixture_free(&f);
    return bad;
}

/* Every case of a list runs (so one failure does not hide the others), then none may differ. */
#define RUN_ALL(list, op, rtol)                                                                    \
    do {                                                                                           \
        int bad_ = 0;                                                                              \
        for (size_t i_ = 0; i_ < sizeof(list) / sizeof(list[0]); i_++)                             \
            bad_ += run_case(list[i_], op, rtol);                                                  \
        assert_int_equal(bad_, 0);                                                                 \
    } while (0)

static void sub_div_values(void **state)
{
    (void)state;
    RUN_ALL(sub_cases, TT_OP_SUB, 0.0);
    RUN_ALL(div_cases, TT_OP_DIV, 0.0);
}

static void softmax_values(void **state)
{
    (void)state;
    RUN_ALL(softmax_cases, TT_OP_SOFTMAX, SOFTMAX_RTOL);
}

static void cast_values(void **state)
{
    (void)state;
    RUN_ALL(cast_cases, TT_OP_CAST, 0.0);
}

static void quantize_values(void **state)
{
    (void)state;
    RUN_ALL(q_cases, TT_OP_QUANTIZE, 0.0);
}

static void dequantize_values(void **state)
{
    (void)state;
    RUN_ALL(dq_cases, TT_OP_DEQUANTIZE, 0.0);
}

static void dynamic_quantize_values(void **state)
{
    (void)state;
    RUN_ALL(dynq_cases, TT_OP_DYNAMIC_QUANTIZE, 0.0);
}

static void matmul_integer_values(void **state)
{
    (void)state;
    RUN_ALL(mmi_cases, TT_OP_MATMUL_INTEGER, 0.0);
}

static void conv_integer_values(void **state)
{
    (void)state;
    RUN_ALL(ci_cases, TT_OP_CONV_INTEGER, 0.0);
}

static void qlinear_add_values(void **state)
{
    (void)state;
    RUN_ALL(qadd_cases, TT_OP_QLINEAR_ADD, 0.0);
}

static void qlinear_gap_values(void **state)
{
    (void)state;
    RUN_ALL(qgap_cases, TT_OP_QLINEAR_GAP, 0.0);
}

static void int_passthrough_values(void **state)
{
    (void)state;
    RUN_ALL(maxpool_cases, TT_OP_MAXPOOL, 0.0);
    RUN_ALL(flatten_cases, TT_OP_FLATTEN, 0.0);
    RUN_ALL(reshape_cases, TT_OP_RESHAPE, 0.0);
}

/* ---- errors ---------------------------------------------------------------------------- */

static int add_in(tt_graph *g, const char *name, tt_dtype dt, int ndim, const int64_t *d)
{
    int id;
    TT_ASSERT_OK(tt_graph_add_input(g, name, dt, ndim, d, &id));
    return id;
}

/* A constant of dtype dt and shape [n] whose elements are all v. */
static int add_const(tt_graph *g, const char *name, tt_dtype dt, int64_t n, double v)
{
    int id;
    TT_ASSERT_OK(tt_graph_add_param_typed(g, name, dt, 1, &n, &id));
    tt_tensor *t = g->values[id].data;
    for (int64_t i = 0; i < n; i++) switch (dt) {
        case TT_F32:
            tt_tensor_f32(t)[i] = (float)v;
            break;
        case TT_U8:
            ((uint8_t *)t->data)[i] = (uint8_t)v;
            break;
        case TT_I8:
            ((int8_t *)t->data)[i] = (int8_t)v;
            break;
        case TT_I32:
            ((int32_t *)t->data)[i] = (int32_t)v;
            break;
        default:
            ((int64_t *)t->data)[i] = (int64_t)v;
        }
    return id;
}

/* Adding node "bad" fails with status st, and the message names the node, its op and `what`. */
static void expect_fail(tt_graph *g, tt_op_type op, int n_in, const int *ids, int n_attrs,
                        const tt_attr *attrs, tt_status st, const char *what)
{
    tt_status s = tt_graph_add_node(g, op, "bad", n_in, ids, n_attrs, attrs, NULL);
    const char *msg = tt_last_error();
    char head[96];
    snprintf(head, sizeof head, "node 'bad' (%s)", tt_op_name(op));
    if (s != st || !strstr(msg, head) || !strstr(msg, what))
        print_error("status %s, message: %s\nwanted %s with '%s' and '%s'\n", tt_status_str(s), msg,
                    tt_status_str(st), head, what);
    assert_int_equal(s, st);
    assert_non_null(strstr(msg, head));
    assert_non_null(strstr(msg, what));
}

static void quantize_errors(void **state)
{
    (void)state;
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int64_t xd[3] = {TT_DIM_BATCH, 3, 4};
    int x = add_in(g, "x", TT_F32, 3, xd), xu = add_in(g, "xu", TT_U8, 3, xd);
    int s1 = add_const(g, "s1", TT_F32, 1, 0.1), s3 = add_const(g, "s3", TT_F32, 3, 0.1);
    int z3 = add_const(g, "z3", TT_U8, 3, 0), z4 = add_const(g, "z4", TT_U8, 4, 0);
    int zi32 = add_const(g, "zi32", TT_I32, 1, 0), su8 = add_const(g, "su8", TT_U8, 1, 1);
    int s4 = add_const(g, "s4", TT_F32, 4, 0.1), z1 = add_const(g, "z1", TT_U8, 1, 0);
    int zs8 = add_const(g, "zs8", TT_I8, 1, 0);
    tt_attr ax5 = tt_attr_int("axis", 5), ax0 = tt_attr_int("axis", 0);
    tt_attr axm1 = tt_attr_int("axis", -1), bs = tt_attr_int("block_size", 2);

    int a[3] = {x, s3, z4}; /* zero point [4] for a scale [3] */
    expect_fail(g, TT_OP_QUANTIZE, 3, a, 0, NULL, TT_ERR_SHAPE, "must have its scale's shape");
    int b[3] = {x, s4, z4}; /* per-axis [4] on axis 1 of size 3 */
    expect_fail(g, TT_OP_QUANTIZE, 3, b, 0, NULL, TT_ERR_SHAPE, "axis 1 of input");
    int c[3] = {x, s3, z3};
    expect_fail(g, TT_OP_QUANTIZE, 3, c, 1, &ax5, TT_ERR_INVALID_ARG, "axis 5 is outside -3..2");
    expect_fail(g, TT_OP_QUANTIZE, 3, c, 1, &ax0, TT_ERR_UNSUPPORTED, "batch dimension");
    expect_fail(g, TT_OP_QUANTIZE, 3, c, 1, &axm1, TT_ERR_SHAPE, "axis 2 of input");
    int d[3] = {xu, s1, z1};
    expect_fail(g, TT_OP_QUANTIZE, 3, d, 0, NULL, TT_ERR_SHAPE, "input 0 is uint8");
    int e[3] = {x, s1, zi32};
    expect_fail(g, TT_OP_QUANTIZE, 3, e, 0, NULL, TT_ERR_UNSUPPORTED, "only uint8 and int8");
    int f[3] = {x, su8, z1};
    expect_fail(g, TT_OP_QUANTIZE, 3, f, 0, NULL, TT_ERR_SHAPE, "a scale must be float32");
    int h[3] = {x, s1, z1};
    expect_fail(g, TT_OP_QUANTIZE, 3, h, 1, &bs, TT_ERR_UNSUPPORTED, "block_size");

    /* The good ones: a per-tensor [1] scale ignores the axis (even one out of range, as ORT),
     * the output takes the zero point's type, and no zero point means uint8. */
    int y, y2, y3;
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_QUANTIZE, "q_s8", 3, (int[]){x, s1, zs8}, 1, &ax5, &y));
    assert_int_equal(g->values[y].dtype, TT_I8);
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_QUANTIZE, "q_noz", 2, (int[]){x, s1}, 0, NULL, &y2));
    assert_int_equal(g->values[y2].dtype, TT_U8);
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_QUANTIZE, "q_ax", 3, (int[]){x, s3, z3}, 0, NULL, &y3));
    assert_int_equal(g->values[y3].shape.dims[0], TT_DIM_BATCH);
    tt_graph_free(g);
}

static void dequantize_errors(void **state)
{
    (void)state;
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int64_t xd[2] = {TT_DIM_BATCH, 3};
    int xf = add_in(g, "xf", TT_F32, 2, xd), xu = add_in(g, "xu", TT_U8, 2, xd);
    int xi = add_in(g, "xi", TT_I32, 2, xd);
    int s1 = add_const(g, "s1", TT_F32, 1, 0.5), s2 = add_const(g, "s2", TT_F32, 2, 0.5);
    int zs8 = add_const(g, "zs8", TT_I8, 1, 0), z2 = add_const(g, "z2", TT_U8, 2, 0);
    expect_fail(g, TT_OP_DEQUANTIZE, 2, (int[]){xf, s1}, 0, NULL, TT_ERR_SHAPE,
                "expected uint8, int8 or int32");
    expect_fail(g, TT_OP_DEQUANTIZE, 3, (int[]){xu, s1, zs8}, 0, NULL, TT_ERR_SHAPE,
                "input 2 (x_zero_point) is int8; expected uint8");
    expect_fail(g, TT_OP_DEQUANTIZE, 3, (int[]){xu, s2, z2}, 0, NULL, TT_ERR_SHAPE,
                "per-channel scale has 2 elements but axis 1");

    /* int32 with a non-zero zero point: infer cannot see values, the run refuses it. */
    int z5 = add_const(g, "z5", TT_I32, 1, 5), y;
    TT_ASSERT_OK(
        tt_graph_add_node(g, TT_OP_DEQUANTIZE, "dq_i32", 3, (int[]){xi, s1, z5}, 0, NULL, &y));
    tt_exec *e;
    TT_ASSERT_OK(tt_exec_create(g, 2, &e));
    int32_t xv[6] = {1, 2, 3, 4, 5, 6};
    TT_ASSERT_OK(tt_exec_set_input(e, xi, xv, 2));
    assert_int_equal(tt_exec_forward(e, 2, false), TT_ERR_INVALID_ARG);
    assert_non_null(strstr(tt_last_error(), "node 'dq_i32' (DequantizeLinear)"));
    assert_non_null(strstr(tt_last_error(), "x_zero_point must be 0"));
    /* With zero point 0 it runs: (x - 0) * 0.5. */
    ((int32_t *)g->values[z5].data->data)[0] = 0;
    TT_ASSERT_OK(tt_exec_forward(e, 2, false));
    assert_true(tt_tensor_f32(tt_exec_value(e, y))[5] == 3.0f);
    tt_exec_free(e);
    tt_graph_free(g);
}

/* Scales are checked when the node runs: zero, negative, NaN or infinite ones are refused. */
static void scale_value_errors(void **state)
{
    (void)state;
    const float bad[4] = {0.0f, -0.5f, NAN, INFINITY};
    for (int k = 0; k < 4; k++) {
        tt_graph *g;
        TT_ASSERT_OK(tt_graph_create(&g));
        int64_t xd[2] = {TT_DIM_BATCH, 2};
        int x = add_in(g, "x", TT_F32, 2, xd), s = add_const(g, "s", TT_F32, 2, 0.5);
        tt_tensor_f32(g->values[s].data)[1] = bad[k];
        TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_QUANTIZE, "q", 2, (int[]){x, s}, 0, NULL, NULL));
        tt_exec *e;
        TT_ASSERT_OK(tt_exec_create(g, 1, &e));
        float xv[2] = {1.0f, 2.0f};
        TT_ASSERT_OK(tt_exec_set_input(e, x, xv, 1));
        assert_int_equal(tt_exec_forward(e, 1, false), TT_ERR_INVALID_ARG);
        assert_non_null(strstr(tt_last_error(), "node 'q' (QuantizeLinear)"));
        assert_non_null(strstr(tt_last_error(), "element 1"));
        tt_exec_free(e);
        tt_graph_free(g);
    }
}

static void dynamic_quantize_errors(void **state)
{
    (void)state;
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int64_t xd[2] = {TT_DIM_BATCH, 3};
    int xu = add_in(g, "xu", TT_U8, 2, xd), x = add_in(g, "x", TT_F32, 2, xd);
    expect_fail(g, TT_OP_DYNAMIC_QUANTIZE, 1, &xu, 0, NULL, TT_ERR_SHAPE, "input 0 is uint8");
    int out[3];
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_DYNAMIC_QUANTIZE, "dq", 1, &x, 0, NULL, out));
    tt_exec *e;
    TT_ASSERT_OK(tt_exec_create(g, 1, &e));
    float xv[3] = {1.0f, INFINITY, -2.0f};
    TT_ASSERT_OK(tt_exec_set_input(e, x, xv, 1));
    assert_int_equal(tt_exec_forward(e, 1, false), TT_ERR_NUMERIC);
    assert_non_null(strstr(tt_last_error(), "node 'dq' (DynamicQuantizeLinear)"));
    tt_exec_free(e);
    tt_graph_free(g);
}

static void matmul_integer_errors(void **state)
{
    (void)state;
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int64_t ad[2] = {TT_DIM_BATCH, 4}, bd[2] = {4, 3}, b5d[2] = {5, 3}, ad3[3] = {2, 4, 4};
    int a = add_in(g, "a", TT_U8, 2, ad), af = add_in(g, "af", TT_F32, 2, ad);
    int b, b5, b3d;
    TT_ASSERT_OK(tt_graph_add_param_typed(g, "b", TT_I8, 2, bd, &b));
    TT_ASSERT_OK(tt_graph_add_param_typed(g, "b5", TT_I8, 2, b5d, &b5));
    TT_ASSERT_OK(tt_graph_add_param_typed(g, "b3d", TT_I8, 3, ad3, &b3d));
    int az = add_const(g, "az", TT_U8, 1, 1), az4 = add_const(g, "az4", TT_U8, 4, 1);
    int bz3 = add_const(g, "bz3", TT_I8, 3, 0), bz4 = add_const(g, "bz4", TT_I8, 4, 0);
    int bzu = add_const(g, "bzu", TT_U8, 1, 0);
    expect_fail(g, TT_OP_MATMUL_INTEGER, 2, (int[]){af, b}, 0, NULL, TT_ERR_SHAPE,
                "input 0 is float32; expected uint8 or int8");
    expect_fail(g, TT_OP_MATMUL_INTEGER, 2, (int[]){a, b5}, 0, NULL, TT_ERR_SHAPE,
                "do not multiply");
    expect_fail(g, TT_OP_MATMUL_INTEGER, 2, (int[]){a, b3d}, 0, NULL, TT_ERR_SHAPE,
                "expected rank 2..2");
    expect_fail(g, TT_OP_MATMUL_INTEGER, 3, (int[]){a, b, az4}, 0, NULL, TT_ERR_UNSUPPORTED,
                "not one per row of A");
    expect_fail(g, TT_OP_MATMUL_INTEGER, 4, (int[]){a, b, az, bz4}, 0, NULL, TT_ERR_SHAPE,
                "expected [1] or [3] (one per column of B)");
    expect_fail(g, TT_OP_MATMUL_INTEGER, 4, (int[]){a, b, az, bzu}, 0, NULL, TT_ERR_SHAPE,
                "it must have its tensor's type int8");
    TT_ASSERT_OK(
        tt_graph_add_node(g, TT_OP_MATMUL_INTEGER, "ok", 4, (int[]){a, b, az, bz3}, 0, NULL, NULL));
    tt_graph_free(g);
}

static void conv_integer_errors(void **state)
{
    (void)state;
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int64_t xd[4] = {TT_DIM_BATCH, 4, 5, 5}, wd[4] = {6, 2, 3, 3}, wd4[4] = {6, 4, 3, 3};
    int x = add_in(g, "x", TT_U8, 4, xd), w, w4;
    TT_ASSERT_OK(tt_graph_add_param_typed(g, "w", TT_U8, 4, wd, &w));
    TT_ASSERT_OK(tt_graph_add_param_typed(g, "w4", TT_I32, 4, wd4, &w4));
    int xz4 = add_const(g, "xz4", TT_U8, 4, 0), xz = add_const(g, "xz", TT_U8, 1, 0);
    int wz5 = add_const(g, "wz5", TT_U8, 5, 0), wz6 = add_const(g, "wz6", TT_U8, 6, 0);
    tt_attr g2 = tt_attr_int("group", 2), g3 = tt_attr_int("group", 3);
    tt_attr ks = tt_attr_ints("kernel_shape", 2, (int64_t[]){2, 2});
    expect_fail(g, TT_OP_CONV_INTEGER, 2, (int[]){x, w}, 0, NULL, TT_ERR_SHAPE,
                "do not fit group 1");
    expect_fail(g, TT_OP_CONV_INTEGER, 2, (int[]){x, w}, 1, &g3, TT_ERR_SHAPE,
                "do not fit group 3");
    expect_fail(g, TT_OP_CONV_INTEGER, 2, (int[]){x, w4}, 0, NULL, TT_ERR_SHAPE,
                "input 1 is int32");
    expect_fail(g, TT_OP_CONV_INTEGER, 3, (int[]){x, w, xz4}, 1, &g2, TT_ERR_UNSUPPORTED,
                "not one per input channel");
    expect_fail(g, TT_OP_CONV_INTEGER, 4, (int[]){x, w, xz, wz5}, 1, &g2, TT_ERR_SHAPE,
                "expected [1] or [6] (one per output channel)");
    tt_attr a2[2] = {g2, ks};
    expect_fail(g, TT_OP_CONV_INTEGER, 2, (int[]){x, w}, 2, a2, TT_ERR_SHAPE,
                "disagrees with the weight's kernel");
    int y;
    TT_ASSERT_OK(
        tt_graph_add_node(g, TT_OP_CONV_INTEGER, "ok", 4, (int[]){x, w, xz, wz6}, 1, &g2, &y));
    assert_int_equal(g->values[y].dtype, TT_I32);
    assert_int_equal(g->values[y].shape.dims[2], 3);
    tt_graph_free(g);
}

static void qlinear_errors(void **state)
{
    (void)state;
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int64_t xd[4] = {TT_DIM_BATCH, 3, 2, 2}, bd[2] = {2, 1};
    int a = add_in(g, "a", TT_U8, 4, xd), bi8 = add_in(g, "bi8", TT_I8, 4, xd);
    int s = add_const(g, "s", TT_F32, 1, 0.1), s3 = add_const(g, "s3", TT_F32, 3, 0.1);
    int z = add_const(g, "z", TT_U8, 1, 0), zi = add_const(g, "zi", TT_I8, 1, 0);
    int bb;
    TT_ASSERT_OK(tt_graph_add_param_typed(g, "bb", TT_U8, 2, bd, &bb));
    tt_attr relu2 = tt_attr_int("fused_relu", 2), cl = tt_attr_int("channels_last", 1);
    expect_fail(g, TT_OP_QLINEAR_ADD, 8, (int[]){a, s, z, bi8, s, zi, s, z}, 0, NULL, TT_ERR_SHAPE,
                "both must be uint8 or both int8");
    expect_fail(g, TT_OP_QLINEAR_ADD, 8, (int[]){a, s3, z, a, s, z, s, z}, 0, NULL,
                TT_ERR_UNSUPPORTED, "only a per-tensor scale");
    expect_fail(g, TT_OP_QLINEAR_ADD, 8, (int[]){a, s, z, a, s, zi, s, z}, 0, NULL, TT_ERR_SHAPE,
                "input 5 (b_zero_point) is int8");
    expect_fail(g, TT_OP_QLINEAR_ADD, 8, (int[]){a, s, z, a, s, z, s, z}, 1, &relu2,
                TT_ERR_INVALID_ARG, "fused_relu is 2");
    int64_t cd[2] = {4, 1};
    int bc;
    TT_ASSERT_OK(tt_graph_add_param_typed(g, "bc", TT_U8, 2, cd, &bc));
    expect_fail(g, TT_OP_QLINEAR_ADD, 8, (int[]){a, s, z, bc, s, z, s, z}, 0, NULL, TT_ERR_SHAPE,
                "do not broadcast");
    int y;
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_QLINEAR_ADD, "add_ok", 7, (int[]){a, s, z, bb, s, z, s},
                                   0, NULL, &y));
    assert_int_equal(g->values[y].dtype, TT_U8);

    expect_fail(g, TT_OP_QLINEAR_GAP, 5, (int[]){a, s, z, s, z}, 1, &cl, TT_ERR_UNSUPPORTED,
                "channels_last is 1");
    expect_fail(g, TT_OP_QLINEAR_GAP, 5, (int[]){a, s, zi, s, z}, 0, NULL, TT_ERR_SHAPE,
                "input 2 (x_zero_point) is int8; expected uint8");
    expect_fail(g, TT_OP_QLINEAR_GAP, 5, (int[]){a, s, z, s3, z}, 0, NULL, TT_ERR_UNSUPPORTED,
                "input 3 (y_scale)");
    TT_ASSERT_OK(
        tt_graph_add_node(g, TT_OP_QLINEAR_GAP, "gap_ok", 5, (int[]){a, s, z, s, z}, 0, NULL, &y));
    assert_int_equal(g->values[y].shape.dims[1], 3);
    assert_int_equal(g->values[y].shape.dims[3], 1);
    tt_graph_free(g);
}

static void float_op_errors(void **state)
{
    (void)state;
    tt_graph *g;
    TT_ASSERT_OK(tt_graph_create(&g));
    int64_t xd[2] = {TT_DIM_BATCH, 3}, yd[2] = {TT_DIM_BATCH, 4};
    int x = add_in(g, "x", TT_F32, 2, xd), x4 = add_in(g, "x4", TT_F32, 2, yd);
    int xi = add_in(g, "xi", TT_I32, 2, xd), xu = add_in(g, "xu", TT_U8, 2, xd);
    expect_fail(g, TT_OP_SUB, 2, (int[]){x, x4}, 0, NULL, TT_ERR_SHAPE, "do not broadcast");
    expect_fail(g, TT_OP_DIV, 2, (int[]){x, xi}, 0, NULL, TT_ERR_SHAPE, "input 1 is int32");
    tt_attr ax2 = tt_attr_int("axis", 2), axm3 = tt_attr_int("axis", -3);
    expect_fail(g, TT_OP_SOFTMAX, 1, &x, 1, &ax2, TT_ERR_INVALID_ARG, "axis 2 is outside -2..1");
    expect_fail(g, TT_OP_SOFTMAX, 1, &x, 1, &axm3, TT_ERR_INVALID_ARG, "axis -3");
    expect_fail(g, TT_OP_SOFTMAX, 1, &xu, 0, NULL, TT_ERR_SHAPE, "input 0 is uint8");
    tt_attr to9 = tt_attr_int("to", 9);
    expect_fail(g, TT_OP_CAST, 1, &x, 1, &to9, TT_ERR_INVALID_ARG, "attribute 'to' is 9");
    expect_fail(g, TT_OP_CAST, 1, &x, 0, NULL, TT_ERR_INVALID_ARG, "attribute 'to' is -1");
    /* MaxPool takes uint8 / int8 now, but still no other integer type. */
    int64_t pd[4] = {TT_DIM_BATCH, 1, 4, 4};
    int pi = add_in(g, "pi", TT_I32, 4, pd);
    tt_attr k2 = tt_attr_ints("kernel_shape", 2, (int64_t[]){2, 2});
    expect_fail(g, TT_OP_MAXPOOL, 1, &pi, 1, &k2, TT_ERR_SHAPE, "input 0 is int32");
    tt_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sub_div_values),
        cmocka_unit_test(softmax_values),
        cmocka_unit_test(cast_values),
        cmocka_unit_test(quantize_values),
        cmocka_unit_test(dequantize_values),
        cmocka_unit_test(dynamic_quantize_values),
        cmocka_unit_test(matmul_integer_values),
        cmocka_unit_test(conv_integer_values),
        cmocka_unit_test(qlinear_add_values),
        cmocka_unit_test(qlinear_gap_values),
        cmocka_unit_test(int_passthrough_values),
        cmocka_unit_test(quantize_errors),
        cmocka_unit_test(dequantize_errors),
        cmocka_unit_test(scale_value_errors),
        cmocka_unit_test(dynamic_quantize_errors),
        cmocka_unit_test(matmul_integer_errors),
        cmocka_unit_test(conv_integer_errors),
        cmocka_unit_test(qlinear_errors),
        cmocka_unit_test(float_op_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
