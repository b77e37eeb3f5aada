/* QLinearConv, QLinearMatMul and QGemm in a graph against ONNX Runtime fixtures
 * (tests/fixtures/qlinear, made by scripts/gen_qlinear_fixtures.py): 3x3 and 1x1, stride 2
 * with pad 1, depthwise (group = channels) and group 2, asymmetric pads and dilation, int8
 * activations, uint8 weights with zero point 128, per-tensor and per-channel weight scales,
 * with and without bias.
 *
 * Two references per fixture:
 *   - y_exact, the op computed by the script in int64 numpy and requantised by quant.h's rule:
 *     tinytrain must equal it on every element, on every kernel ISA this CPU runs, at the full
 *     batch (images split between threads) and at batch 1 (columns split between threads).
 *   - y_ort, ONNX Runtime 1.32's output: identical on >= 99.9% of elements and never more than
 *     one step apart (issue 6's criterion). On the fixtures with 7-bit weights ([-63, 63]) ORT
 *     is in fact exact, so that bound has slack. The *_fullrange fixtures (weights +-127) are
 *     NOT compared with ORT: on an AVX2 CPU without VNNI, ORT's uint8 x int8 kernels add
 *     product pairs in saturating int16 and were measured up to tens of steps off the exact
 *     result on most elements there (regenerating the fixtures on a VNNI CPU would change y_ort);
 *     the test asserts tinytrain matches y_exact, prints how far ORT is, and shows (for QGemm)
 *     that an emulation of saturating int16 pairs reproduces ORT's numbers exactly.
 * Plus a fused Relu (max(y, y_zero_point)) and the shape, dtype, attribute and scale errors. */
#include <stdio.h>
#include <stdlib.h>
#include "testutil.h"
#include "kernels/cpu/qgemm.h"
#include "tinytrain/npz.h"
#include "tinytrain/quant.h"

typedef enum { K_CONV, K_MATMUL, K_QGEMM } op_kind;

typedef struct fixture {
    const char *name;
    op_kind kind;
    bool ort_exact_expected; /* 7-bit weights: ORT cannot saturate */
} fixture;

static const fixture fixtures[] = {
    {"conv3x3_pc", K_CONV, true},        {"conv1x1_pt", K_CONV, true},
    {"conv_dw_s2", K_CONV, true},        {"conv_g2_s2", K_CONV, true},
    {"conv_dil_s8", K_CONV, true},       {"conv3x3_fullrange", K_CONV, false},
    {"matmul_pt", K_MATMUL, true},       {"matmul_pc", K_MATMUL, true},
    {"qgemm_pc_bias", K_QGEMM, true},    {"qgemm_pt", K_QGEMM, true},
    {"qgemm_fullrange", K_QGEMM, false},
};
#define N_FIXTURES (sizeof fixtures / sizeof fixtures[0])

static const fixture *find_fixture(const char *name)
{
    for (size_t i = 0; i < N_FIXTURES; i++)
        if (!strcmp(fixtures[i].name, name)) return &fixtures[i];
    fail_msg("no fixture %s", name);
    return NULL;
}

static const char *const conv_inputs[] = {
    "x", "x_scale", "x_zero_point", "w", "w_scale", "w_zero_point", "y_scale", "y_zero_point", "B"};
static const char *const matmul_inputs[] = {
    "a", "a_scale", "a_zero_point", "b", "b_scale", "b_zero_point", "y_scale", "y_zero_point"};
static const char *const qgemm_inputs[] = {
    "a", "a_scale", "a_zero_point", "b", "b_scale", "b_zero_point", "c", "y_scale", "y_zero_point"};

typedef struct loaded {
    tt_npz *z;
    tt_tensor *in[9];
    int n_in;
    tt_tensor *y_ort, *y_exact, *attrs;
} loaded;

static void load(const fixture *f, loaded *l)
{
    char rel[128], path[512];
    snprintf(rel, sizeof rel, "qlinear/%s.npz", f->name);
    memset(l, 0, sizeof *l);
    TT_ASSERT_OK(tt_npz_open(tt_test_fixture(rel, path, sizeof path), &l->z));
    const char *const *names = f->kind == K_CONV     ? conv_inputs
                               : f->kind == K_MATMUL ? matmul_inputs
                                                     : qgemm_inputs;
    l->n_in = f->kind == K_MATMUL ? 8 : 9;
    for (int i = 0; i < l->n_in; i++)
        if (tt_npz_has(l->z, names[i])) TT_ASSERT_OK(tt_npz_load(l->z, names[i], &l->in[i]));
    TT_ASSERT_OK(tt_npz_load(l->z, "y_ort", &l->y_ort));
    TT_ASSERT_OK(tt_npz_load(l->z, "y_exact", &l->y_exact));
    if (f->kind == K_CONV) TT_ASSERT_OK(tt_npz_load(l->z, "attrs", &l->attrs));
}

static void unload(loaded *l)
{
    for (int i = 0; i < 9; i++) tt_tensor_free(l->in[i]);
    tt_tensor_free(l->y_ort);
    tt_tensor_free(l->y_exact);
    tt_tensor_free(l->attrs);
    tt_npz_close(l->z);
}

static int conv_attrs(const loaded *l, bool relu, tt_attr *at)
{
    const int64_t *a = l->attrs->data, *w = l->in[3]->shape.dims;
    int64_t st[2] = {a[0], a[1]}, pads[4] = {a[2], a[3], a[4], a[5]}, dl[2] = {a[6], a[7]};
    int64_t ks[2] = {w[2], w[3]};
    at[0] = tt_attr_ints("strides", 2, st);
    at[1] = tt_attr_ints("pads", 4, pads);
    at[2] = tt_attr_ints("dilations", 2, dl);
    at[3] = tt_attr_int("group", a[8]);
    at[4] = tt_attr_ints("kernel_shape", 2, ks);
    at[5] = tt_attr_int("fused_relu", relu);
    return 6;
}

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        tt_status s_ = (expr);                                                                     \
        if (s_ != TT_OK) return s_;                                                                \
    } while (0)

typedef struct net {
    tt_graph *g;
    int x, y;
} net;

/* The fixture's op as a one-node graph: input 0 fed per run (batch symbolic), the rest
 * constants. */
static tt_status build(const fixture *f, const loaded *l, bool relu, net *nt)
{
    TRY(tt_graph_create(&nt->g));
    int ids[9];
    const tt_tensor *x = l->in[0];
    int64_t xd[4];
    memcpy(xd, x->shape.dims, sizeof xd);
    xd[0] = TT_DIM_BATCH;
    TRY(tt_graph_add_input(nt->g, "x", x->dtype, x->shape.ndim, xd, &nt->x));
    ids[0] = nt->x;
    for (int i = 1; i < l->n_in; i++) {
        ids[i] = -1;
        if (!l->in[i]) continue;
        char name[16];
        snprintf(name, sizeof name, "in%d", i);
        const tt_tensor *t = l->in[i];
        TRY(tt_graph_add_param_typed(nt->g, name, t->dtype, t->shape.ndim, t->shape.dims, &ids[i]));
        memcpy(nt->g->values[ids[i]].data->data, t->data,
               (size_t)tt_tensor_numel(t) * tt_dtype_size(t->dtype));
    }
    tt_attr at[8];
    int na = 0;
    tt_op_type op = TT_OP_QGEMM;
    if (f->kind == K_CONV) {
        op = TT_OP_QLINEAR_CONV;
        na = conv_attrs(l, relu, at);
    } else if (f->kind == K_MATMUL) {
        op = TT_OP_QLINEAR_MATMUL;
    } else {
        at[na++] = tt_attr_int("fused_relu", relu);
    }
    return tt_graph_add_node(nt->g, op, "q", l->n_in, ids, na, at, &nt->y);
}

/* Run the graph at batch n (the fixture's first n samples) and copy the output. */
static void run(const fixture *f, const loaded *l, bool relu, int64_t n, uint8_t *out)
{
    net nt;
    TT_ASSERT_OK(build(f, l, relu, &nt));
    tt_exec *e;
    TT_ASSERT_OK(tt_exec_create(nt.g, l->in[0]->shape.dims[0], &e));
    TT_ASSERT_OK(tt_exec_set_input(e, nt.x, l->in[0]->data, n));
    TT_ASSERT_OK(tt_exec_forward(e, n, false));
    const tt_tensor *y = tt_exec_value(e, nt.y);
    assert_int_equal(y->dtype, l->y_exact->dtype);
    int64_t per = tt_tensor_numel(l->y_exact) / l->y_exact->shape.dims[0];
    assert_int_equal(tt_tensor_numel(y), per * n);
    memcpy(out, y->data, (size_t)(per * n));
    tt_exec_free(e);
    tt_graph_free(nt.g);
}

static int32_t val(const tt_tensor *t, const uint8_t *p, int64_t i)
{
    return t->dtype == TT_I8 ? (int32_t)(int8_t)p[i] : (int32_t)p[i];
}

/* Elements of got differing from want[0 .. count), and the largest difference. */
static int64_t count_diff(const tt_tensor *want, const uint8_t *got, int64_t count,
                          int32_t *max_diff)
{
    int64_t bad = 0;
    *max_diff = 0;
    for (int64_t i = 0; i < count; i++) {
        int32_t d = abs(val(want, want->data, i) - val(want, got, i));
        bad += d != 0;
        if (d > *max_diff) *max_diff = d;
    }
    return bad;
}

static void check_fixture(const fixture *f, tt_qgemm_isa isa)
{
    loaded l;
    load(f, &l);
    int64_t total = tt_tensor_numel(l.y_exact), n = l.y_exact->shape.dims[0];
    uint8_t *got = malloc((size_t)total);
    assert_non_null(got);
    int32_t dmax;
    for (int pass = 0; pass < 2; pass++) { /* full batch, then batch 1 */
        int64_t b = pass == 0 ? n : 1, count = total / n * b;
        run(f, &l, false, b, got);
        int64_t bad = count_diff(l.y_exact, got, count, &dmax);
        if (bad)
            print_error("%s [%s, batch %lld]: %lld of %lld differ from the exact result (max %d)\n",
                        f->name, tt_qgemm_isa_name(isa), (long long)b, (long long)bad,
                        (long long)count, dmax);
        assert_int_equal(bad, 0);
    }
    run(f, &l, false, n, got);
    int64_t ort_bad = count_diff(l.y_ort, got, total, &dmax);
    if (f->ort_exact_expected) {
        /* issue 6: identical on >= 99.9% of elements, never more than one step apart */
        assert_true(ort_bad * 1000 <= total);
        assert_true(dmax <= 1);
    } else {
        print_message("%s [%s]: ONNX Runtime differs from tinytrain (= exact) on %lld of %lld "
                      "outputs, by up to %d steps (its saturating int16 pairs; not compared)\n",
                      f->name, tt_qgemm_isa_name(isa), (long long)ort_bad, (long long)total, dmax);
    }
    free(got);
    unload(&l);
}

static void test_fixtures(void **state)
{
    (void)state;
    for (int i = 0; i < TT_QGEMM_ISA_COUNT; i++) {
        tt_qgemm_isa isa = (tt_qgemm_isa)i;
        if (!tt_qgemm_isa_available(isa)) {
            print_message("ISA %s not available on this CPU: skipped\n", tt_qgemm_isa_name(isa));
            continue;
        }
        assert_int_equal(setenv("TT_QGEMM_ISA", tt_qgemm_isa_name(isa), 1), 0);
        for (size_t k = 0; k < N_FIXTURES; k++) check_fixture(&fixtures[k], isa);
    }
    assert_int_equal(unsetenv("TT_QGEMM_ISA"), 0);
}

/* fused_relu = 1 gives max(y, y_zero_point), element by element. */
static void test_fused_relu(void **state)
{
    (void)state;
    const char *which[] = {"conv3x3_pc", "qgemm_pc_bias"};
    for (int t = 0; t < 2; t++) {
        const fixture *f = find_fixture(which[t]);
        loaded l;
        load(f, &l);
        int64_t total = tt_tensor_numel(l.y_exact);
        uint8_t *got = malloc((size_t)total);
        assert_non_null(got);
        run(f, &l, true, l.y_exact->shape.dims[0], got);
        const tt_tensor *yzp = l.in[f->kind == K_QGEMM ? 8 : 7];
        int32_t zp = val(yzp, yzp->data, 0);
        int64_t clamped = 0;
        for (int64_t i = 0; i < total; i++) {
            int32_t want = val(l.y_exact, l.y_exact->data, i);
            clamped += want < zp;
            assert_int_equal(val(l.y_exact, got, i), want > zp ? want : zp);
        }
        assert_true(clamped > 0); /* the Relu had something to do */
        free(got);
        unload(&l);
    }
}

/* The weights are packed into ctx->saved at the first forward and reused: several forwards on
 * one executor, with other inputs and batch sizes, stay exact, also when TT_QGEMM_ISA changes
 * between them (the pack is redone for the new ISA; a stale one could not be misread anyway,
 * since the kernel dispatches on the ISA recorded in the packed descriptor, so this cannot see
 * which ISA ran). */
static void test_pack_reuse(void **state)
{
    (void)state;
    const char *names[] = {"conv3x3_pc", "qgemm_pc_bias"};
    for (int t = 0; t < 2; t++) {
        const fixture *f = find_fixture(names[t]);
        loaded l;
        load(f, &l);
        net nt;
        TT_ASSERT_OK(build(f, &l, false, &nt));
        tt_exec *e;
        int64_t n = l.in[0]->shape.dims[0], per_x = tt_tensor_numel(l.in[0]) / n;
        int64_t per_y = tt_tensor_numel(l.y_exact) / n;
        TT_ASSERT_OK(tt_exec_create(nt.g, n, &e));
        const char *order[] = {"avx2", "c", "avx2", NULL};
        for (int k = 0; k < 4; k++) {
            if (order[k] && !tt_qgemm_isa_available(k == 1 ? TT_QGEMM_C : TT_QGEMM_AVX2)) continue;
            if (order[k])
                assert_int_equal(setenv("TT_QGEMM_ISA", order[k], 1), 0);
            else
                assert_int_equal(unsetenv("TT_QGEMM_ISA"), 0);
            int64_t first = k % 2, b = n - first; /* odd passes: skip the first sample */
            TT_ASSERT_OK(tt_exec_set_input(e, nt.x, (uint8_t *)l.in[0]->data + first * per_x, b));
            TT_ASSERT_OK(tt_exec_forward(e, b, false));
            const tt_tensor *y = tt_exec_value(e, nt.y);
            assert_memory_equal(y->data, (uint8_t *)l.y_exact->data + first * per_y,
                                (size_t)(b * per_y));
        }
        tt_exec_free(e);
        tt_graph_free(nt.g);
        unload(&l);
    }
}

/* Building a node with one input changed must fail with status want and mention `needle`. */
static void expect_build_error(const fixture *f, int replace, tt_dtype dt, int ndim,
                               const int64_t *dims, const tt_attr *extra, tt_status want,
                               const char *needle)
{
    loaded l;
    load(f, &l);
    if (replace >= 0) {
        tt_tensor_free(l.in[replace]);
        TT_ASSERT_OK(tt_tensor_alloc(&l.in[replace], dt, ndim, dims));
    }
    net nt;
    tt_status s;
    if (extra) { /* the fixture's node plus one attribute */
        TT_ASSERT_OK(tt_graph_create(&nt.g));
        int ids[9];
        int64_t xd[2] = {TT_DIM_BATCH, l.in[0]->shape.dims[1]};
        TT_ASSERT_OK(tt_graph_add_input(nt.g, "x", l.in[0]->dtype, 2, xd, &ids[0]));
        for (int i = 1; i < l.n_in; i++) {
            ids[i] = -1;
            if (!l.in[i]) continue;
            char name[16];
            snprintf(name, sizeof name, "in%d", i);
            TT_ASSERT_OK(tt_graph_add_param_typed(nt.g, name, l.in[i]->dtype, l.in[i]->shape.ndim,
                                                  l.in[i]->shape.dims, &ids[i]));
        }
        s = tt_graph_add_node(nt.g, TT_OP_QGEMM, "q", l.n_in, ids, 1, extra, NULL);
    } else {
        s = build(f, &l, false, &nt);
    }
    if (s != want || !strstr(tt_last_error(), needle))
        print_error("expected status %d mentioning '%s', got %d: %s\n", want, needle, s,
                    tt_last_error());
    assert_int_equal(s, want);
    assert_non_null(strstr(tt_last_error(), needle));
    tt_graph_free(nt.g);
    unload(&l);
}

static void test_errors(void **state)
{
    (void)state;
    const fixture *conv = find_fixture("conv3x3_pc"), *mm = find_fixture("matmul_pt");
    const fixture *qg = find_fixture("qgemm_pc_bias");
    int64_t d1[1] = {1}, d3[1] = {3}, x3[3] = {2, 3, 4}, x4[4] = {2, 3, 9, 8};
    expect_build_error(conv, 0, TT_F32, 4, x4, NULL, TT_ERR_SHAPE, "uint8 or int8");
    expect_build_error(conv, 4, TT_F32, 1, d3, NULL, TT_ERR_SHAPE, "weight scale");
    expect_build_error(conv, 2, TT_I8, 1, d1, NULL, TT_ERR_SHAPE, "input zero point");
    expect_build_error(conv, 8, TT_F32, 1, (int64_t[]){8}, NULL, TT_ERR_SHAPE, "bias");
    expect_build_error(conv, 3, TT_I8, 4, (int64_t[]){8, 2, 3, 3}, NULL, TT_ERR_SHAPE,
                       "channels per group");
    expect_build_error(mm, 0, TT_U8, 3, x3, NULL, TT_ERR_UNSUPPORTED, "only 2-D");
    expect_build_error(mm, 3, TT_I8, 2, (int64_t[]){36, 11}, NULL, TT_ERR_SHAPE, "do not multiply");
    tt_attr ta = tt_attr_int("transA", 1);
    expect_build_error(qg, -1, TT_F32, 0, NULL, &ta, TT_ERR_UNSUPPORTED, "transA");
    tt_attr fr = tt_attr_int("fused_relu", 2);
    expect_build_error(qg, -1, TT_F32, 0, NULL, &fr, TT_ERR_INVALID_ARG, "fused_relu");
}

/* Why ORT is off on full-range weights, checked rather than claimed: emulating a kernel that
 * adds raw uint8 x int8 products of consecutive k in saturating int16 pairs, subtracts
 * a_zero_point * sum_k b afterwards and requantises as quant.h does reproduces ORT's QGemm
 * output on qgemm_fullrange exactly, while the exact sum (tinytrain) does not. */
static void test_ort_fullrange_is_int16_saturation(void **state)
{
    (void)state;
    loaded l;
    load(find_fixture("qgemm_fullrange"), &l);
    const tt_tensor *a = l.in[0], *b = l.in[3];
    const int64_t n = a->shape.dims[0], k = a->shape.dims[1], m = b->shape.dims[0];
    const uint8_t *av = a->data, *yo = l.y_ort->data;
    const int8_t *bv = b->data;
    const int32_t azp = ((uint8_t *)l.in[2]->data)[0], yzp = ((uint8_t *)l.in[8]->data)[0];
    const int32_t *c = l.in[6]->data;
    const float as = ((float *)l.in[1]->data)[0], ys = ((float *)l.in[7]->data)[0];
    int64_t same = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < m; j++) {
            int32_t sum = 0, bsum = 0;
            for (int64_t q = 0; q < k; q += 2) {
                int32_t p = av[i * k + q] * bv[j * k + q];
                if (q + 1 < k) p += av[i * k + q + 1] * bv[j * k + q + 1];
                sum += p > 32767 ? 32767 : (p < -32768 ? -32768 : p);
            }
            for (int64_t q = 0; q < k; q++) bsum += bv[j * k + q];
            float mult = tt_requant_multiplier(as, ((float *)l.in[4]->data)[j], ys);
            int32_t y = tt_requantize(sum - azp * bsum + c[j], mult, yzp, 0, 255);
            same += y == yo[i * m + j];
        }
    assert_int_equal(same, n * m);
    unload(&l);
}

/* A zero scale passes shape inference (it is data) and fails at run time, naming the node. */
static void test_bad_scale(void **state)
{
    (void)state;
    loaded l;
    const fixture *f = find_fixture("conv3x3_pc");
    load(f, &l);
    ((float *)l.in[4]->data)[3] = 0.0f; /* w_scale[3] */
    net nt;
    TT_ASSERT_OK(build(f, &l, false, &nt));
    tt_exec *e;
    TT_ASSERT_OK(tt_exec_create(nt.g, 2, &e));
    TT_ASSERT_OK(tt_exec_set_input(e, nt.x, l.in[0]->data, 2));
    assert_int_equal(tt_exec_forward(e, 2, false), TT_ERR_NUMERIC);
    assert_non_null(strstr(tt_last_error(), "weight scale[3]"));
    assert_non_null(strstr(tt_last_error(), "'q'"));
    tt_exec_free(e);
    tt_graph_free(nt.g);
    unload(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_fused_relu),
        cmocka_unit_test(test_pack_reuse),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_ort_fullrange_is_int16_saturation),
        cmocka_unit_test(test_bad_scale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
