/* Device op matrix, conv group: Conv, MaxPool (float32, uint8, int8), AveragePool and
 * GlobalAveragePool, forward (training, and eval where it differs) and backward, against the
 * CPU ops. Runs on $TT_TEST_BACKEND (ctest: OpenCL, and CUDA as *_cuda); exits 77 without a
 * device.
 *
 * The pools are bit for bit: each output is the CPU's comparisons or its float sum in the same
 * order, and each input gradient adds the same terms in the CPU's scatter order. Conv is within
 * an NMSE (sum (dev - cpu)^2 / sum cpu^2) of 1e-10: the device sums each GEMM output's K
 * products in order (dW: each split's images and pixels in order, then the splits in order),
 * while OpenBLAS blocks and vectorises its sums. The usual estimate for a float32 sum of K
 * terms, a relative error near u sqrt(K) (u = 2^-24), gives an NMSE near u^2 K per side:
 * 2e-12 for the K = 576 of the 64-channel 3x3 layer, 6e-11 for the longest sum here (a dW
 * partial over one 128 x 128 image, 16384 products). Measured, worst over every case: 2.2e-13
 * on PoCL against OpenBLAS on an AMD EPYC, 5.4e-12 on CUDA (H100) against OpenBLAS on that
 * machine's Xeon (that dW, the long sum). 1e-10 holds with room, while an indexing, padding or
 * stride bug gives an NMSE of order 1. */
#include <stdio.h>
#include "dev_harness.h"
#include "testutil.h"

#define X4(nm, n, c, h, w)                                                                         \
    {                                                                                              \
        nm, TT_F32, 4, {n, c, h, w}, TT_DH_INPUT, true, -2.0, 2.0                                  \
    }
#define W4(nm, m, c, h, w)                                                                         \
    {                                                                                              \
        nm, TT_F32, 4, {m, c, h, w}, TT_DH_WEIGHT, true, -0.5, 0.5                                 \
    }
#define B1(nm, m)                                                                                  \
    {                                                                                              \
        nm, TT_F32, 1, {m}, TT_DH_WEIGHT, true, -0.5, 0.5                                          \
    }
#define CONV_NMSE 1e-10

/* One Conv case: x [n, c, h, w], weight [m, c/group, kh, kw], optional bias. */
typedef struct conv_case {
    const char *label;
    int64_t n, c, h, w, m, kh, kw;
    int64_t sh, sw, pads[4], dh, dw, group;
    bool bias, x_grad;
} conv_case;

static int run_conv(const conv_case *k, bool training, uint64_t seed)
{
    int64_t st[2] = {k->sh, k->sw}, dl[2] = {k->dh, k->dw};
    tt_dh_case c = {k->label,
                    TT_OP_CONV,
                    k->bias ? 3 : 2,
                    {X4("x", k->n, k->c, k->h, k->w), W4("w", k->m, k->c / k->group, k->kh, k->kw),
                     B1("b", k->m)},
                    4,
                    {tt_attr_ints("strides", 2, st), tt_attr_ints("pads", 4, k->pads),
                     tt_attr_ints("dilations", 2, dl), tt_attr_int("group", k->group)},
                    .training = training,
                    .nmse = CONV_NMSE,
                    .seed = seed};
    c.in[0].grad = k->x_grad;
    return tt_dh_run(&c, tt_dh_backend());
}

static void conv_cases(const conv_case *cases, int n, uint64_t seed)
{
    for (int i = 0; i < n; i++) {
        assert_int_equal(run_conv(&cases[i], true, seed + (uint64_t)i), 0);
        assert_int_equal(run_conv(&cases[i], false, seed + 100 + (uint64_t)i), 0);
    }
}

static void conv_odd(void **state)
{
    (void)state;
    const conv_case cases[] = {
        {"Conv 3x3 pad 1 bias", 3, 5, 9, 9, 7, 3, 3, 1, 1, {1, 1, 1, 1}, 1, 1, 1, true, true},
        {"Conv 3x3 pad 0 no bias", 3, 5, 9, 9, 7, 3, 3, 1, 1, {0, 0, 0, 0}, 1, 1, 1, false, true},
        {"Conv 3x3 stride 2 pad 1", 3, 5, 9, 9, 7, 3, 3, 2, 2, {1, 1, 1, 1}, 1, 1, 1, true, true},
        {"Conv 3x3 stride 2 pad 0", 3, 5, 10, 9, 7, 3, 3, 2, 2, {0, 0, 0, 0}, 1, 1, 1, false, true},
        {"Conv 2x3 strides 2,1 asymmetric pads dilation 2",
         2,
         3,
         11,
         8,
         5,
         2,
         3,
         2,
         1,
         {1, 0, 2, 1},
         2,
         2,
         1,
         true,
         true},
        {"Conv 1x1", 3, 6, 5, 7, 9, 1, 1, 1, 1, {0, 0, 0, 0}, 1, 1, 1, true, true},
        {"Conv 5x5 pad 2, one image", 1, 3, 9, 9, 5, 5, 5, 1, 1, {2, 2, 2, 2}, 1, 1, 1, true, true},
        /* the bias gradient in two splits of images (28 x 28 pixels: 5 images per split) */
        {"Conv bias, 7 images of 28x28",
         7,
         2,
         28,
         28,
         3,
         3,
         3,
         1,
         1,
         {1, 1, 1, 1},
         1,
         1,
         1,
         true,
         true},
    };
    conv_cases(cases, (int)(sizeof cases / sizeof cases[0]), 10);
}

static void conv_groups(void **state)
{
    (void)state;
    const conv_case cases[] = {
        {"Conv group 3", 3, 6, 9, 7, 9, 3, 3, 1, 1, {1, 1, 1, 1}, 1, 1, 3, true, true},
        {"Conv group 2 stride 2, 5 out channels per group",
         2,
         4,
         9,
         9,
         10,
         3,
         3,
         2,
         2,
         {1, 1, 1, 1},
         1,
         1,
         2,
         false,
         true},
        {"Conv depthwise", 3, 5, 9, 9, 5, 3, 3, 1, 1, {1, 1, 1, 1}, 1, 1, 5, true, true},
        {"Conv depthwise multiplier 2",
         2,
         5,
         8,
         9,
         10,
         3,
         3,
         2,
         1,
         {1, 1, 1, 1},
         1,
         1,
         5,
         true,
         true},
    };
    conv_cases(cases, (int)(sizeof cases / sizeof cases[0]), 30);
}

/* fashion_cnn's three convolutions (3x3, pad 1, no bias; the first has no input gradient, as
 * its input is the data) at small batches that still split the weight gradient into several
 * partials (1, 5 and 20 images per split at 784, 196 and 49 pixels). */
static void conv_fashion_cnn(void **state)
{
    (void)state;
    const conv_case cases[] = {
        {"fashion_cnn conv1", 3, 1, 28, 28, 32, 3, 3, 1, 1, {1, 1, 1, 1}, 1, 1, 1, false, false},
        {"fashion_cnn conv2", 7, 32, 14, 14, 64, 3, 3, 1, 1, {1, 1, 1, 1}, 1, 1, 1, false, true},
        {"fashion_cnn conv3", 45, 64, 7, 7, 64, 3, 3, 1, 1, {1, 1, 1, 1}, 1, 1, 1, false, true},
    };
    for (int i = 0; i < 3; i++) assert_int_equal(run_conv(&cases[i], true, 50 + (uint64_t)i), 0);
}

/* A col matrix of 37 MB per image against the 64 MiB chunk budget: one image per chunk. */
static void conv_chunks(void **state)
{
    (void)state;
    const conv_case k = {"Conv in chunks of one image",
                         3,
                         64,
                         128,
                         128,
                         3,
                         3,
                         3,
                         1,
                         1,
                         {1, 1, 1, 1},
                         1,
                         1,
                         1,
                         true,
                         true};
    assert_int_equal(run_conv(&k, true, 60), 0);
}

/* One pooling case; cip < 0 leaves count_include_pad unset. */
typedef struct pool_case {
    const char *label;
    tt_dtype dt;
    int64_t n, c, h, w, kh, kw, sh, sw, pads[4], dh, dw;
    double lo, hi;
} pool_case;

static int run_pool(tt_op_type op, const pool_case *k, int cip, bool training, uint64_t seed)
{
    int64_t ks[2] = {k->kh, k->kw}, st[2] = {k->sh, k->sw}, dl[2] = {k->dh, k->dw};
    tt_dh_case c = {
        k->label,
        op,
        1,
        {{"x", k->dt, 4, {k->n, k->c, k->h, k->w}, TT_DH_INPUT, k->dt == TT_F32, k->lo, k->hi}},
        cip >= 0 ? 5 : 4,
        {tt_attr_ints("kernel_shape", 2, ks), tt_attr_ints("strides", 2, st),
         tt_attr_ints("pads", 4, k->pads), tt_attr_ints("dilations", 2, dl),
         tt_attr_int("count_include_pad", cip)},
        .training = training,
        .seed = seed};
    return tt_dh_run(&c, tt_dh_backend());
}

static const pool_case float_pools[] = {
    {"2x2 stride 2, odd plane", TT_F32, 3, 5, 9, 9, 2, 2, 2, 2, {0, 0, 0, 0}, 1, 1, -2, 2},
    {"2x2 stride 2, even plane", TT_F32, 2, 3, 8, 10, 2, 2, 2, 2, {0, 0, 0, 0}, 1, 1, -2, 2},
    {"3x3 stride 2 pad 1 (overlapping)", TT_F32, 3, 5, 9, 7, 3, 3, 2, 2, {1, 1, 1, 1}, 1, 1, -2, 2},
    {"3x3 stride 1 pad 1", TT_F32, 2, 3, 7, 9, 3, 3, 1, 1, {1, 1, 1, 1}, 1, 1, -2, 2},
    {"2x3 strides 1,2 asymmetric pads dilation 2",
     TT_F32,
     3,
     2,
     7,
     7,
     2,
     3,
     1,
     2,
     {1, 2, 0, 1},
     2,
     2,
     -2,
     2},
    /* dilation 3 over 2 rows: the second output row's window lies wholly in padding (-inf and
     * no gradient for MaxPool, 0 for AveragePool) */
    {"2x2 dilations 3,1 pads 2,0,1,0, a window in padding",
     TT_F32,
     2,
     3,
     2,
     5,
     2,
     2,
     1,
     1,
     {2, 0, 1, 0},
     3,
     1,
     -2,
     2},
    /* every value equal: each window's first element wins, gradients pile up on it */
    {"3x3 stride 2 pad 1, all equal",
     TT_F32,
     2,
     3,
     9,
     7,
     3,
     3,
     2,
     2,
     {1, 1, 1, 1},
     1,
     1,
     0.75,
     0.75},
};
#define N_FLOAT_POOLS ((int)(sizeof float_pools / sizeof float_pools[0]))

static void maxpool_float(void **state)
{
    (void)state;
    for (int i = 0; i < N_FLOAT_POOLS; i++) {
        char label[128];
        pool_case k = float_pools[i];
        snprintf(label, sizeof label, "MaxPool %s", k.label);
        k.label = label;
        assert_int_equal(run_pool(TT_OP_MAXPOOL, &k, -1, true, 70 + (uint64_t)i), 0);
        assert_int_equal(run_pool(TT_OP_MAXPOOL, &k, -1, false, 80 + (uint64_t)i), 0);
    }
}

static void maxpool_quantised(void **state)
{
    (void)state;
    const pool_case cases[] = {
        {"MaxPool u8 2x2 stride 2", TT_U8, 3, 5, 9, 9, 2, 2, 2, 2, {0, 0, 0, 0}, 1, 1, 0, 255},
        {"MaxPool u8 3x3 stride 2 pad 1",
         TT_U8,
         3,
         5,
         9,
         7,
         3,
         3,
         2,
         2,
         {1, 1, 1, 1},
         1,
         1,
         0,
         255},
        {"MaxPool u8 few values", TT_U8, 2, 3, 8, 8, 2, 2, 2, 2, {0, 0, 0, 0}, 1, 1, 0, 3},
        {"MaxPool i8 2x2 stride 2", TT_I8, 3, 5, 9, 9, 2, 2, 2, 2, {0, 0, 0, 0}, 1, 1, -128, 127},
        {"MaxPool i8 3x3 stride 2 pad 1",
         TT_I8,
         3,
         5,
         9,
         7,
         3,
         3,
         2,
         2,
         {1, 1, 1, 1},
         1,
         1,
         -128,
         127},
        {"MaxPool i8 dilation 2", TT_I8, 3, 2, 7, 7, 2, 3, 1, 2, {1, 2, 0, 1}, 2, 2, -128, 127},
        {"MaxPool i8 window in padding",
         TT_I8,
         2,
         3,
         2,
         5,
         2,
         2,
         1,
         1,
         {2, 0, 1, 0},
         3,
         1,
         -128,
         127},
        {"MaxPool u8 window in padding", TT_U8, 2, 3, 2, 5, 2, 2, 1, 1, {2, 0, 1, 0}, 3, 1, 0, 255},
        {"MaxPool i8 negative", TT_I8, 2, 3, 8, 8, 2, 2, 2, 2, {0, 0, 0, 0}, 1, 1, -128, -100},
    };
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++)
        assert_int_equal(run_pool(TT_OP_MAXPOOL, &cases[i], -1, false, 90 + (uint64_t)i), 0);
}

static void avgpool(void **state)
{
    (void)state;
    for (int i = 0; i < N_FLOAT_POOLS; i++)
        for (int cip = -1; cip <= 1; cip++) {
            char label[128];
            pool_case k = float_pools[i];
            snprintf(label, sizeof label, "AveragePool %s, count_include_pad %d", k.label, cip);
            k.label = label;
            assert_int_equal(run_pool(TT_OP_AVGPOOL, &k, cip, true, 110 + (uint64_t)i), 0);
        }
}

static void global_avgpool(void **state)
{
    (void)state;
    const tt_dh_input xs[] = {
        {"x", TT_F32, 4, {3, 5, 9, 9}, TT_DH_INPUT, true, -2.0, 2.0},
        {"x", TT_F32, 4, {2, 3, 28, 28}, TT_DH_INPUT, true, -2.0, 2.0},
        {"x", TT_F32, 4, {3, 7, 1, 1}, TT_DH_INPUT, true, -2.0, 2.0},
        {"x", TT_F32, 3, {3, 5, 7}, TT_DH_INPUT, true, -2.0, 2.0},
    };
    for (int i = 0; i < (int)(sizeof xs / sizeof xs[0]); i++) {
        tt_dh_case c = {"GlobalAveragePool", TT_OP_GLOBALAVGPOOL,      1, {xs[i]},
                        .training = true,    .seed = 130 + (uint64_t)i};
        assert_int_equal(tt_dh_run(&c, tt_dh_backend()), 0);
    }
}

int main(void)
{
    int dev = tt_dh_device_status(tt_dh_backend());
    if (dev) return dev;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(conv_odd),         cmocka_unit_test(conv_groups),
        cmocka_unit_test(conv_fashion_cnn), cmocka_unit_test(conv_chunks),
        cmocka_unit_test(maxpool_float),    cmocka_unit_test(maxpool_quantised),
        cmocka_unit_test(avgpool),          cmocka_unit_test(global_avgpool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
