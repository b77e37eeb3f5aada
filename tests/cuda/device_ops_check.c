/* Device ops against the CPU, bit for bit (see device_ops_check.h). The CPU side is the
 * FakeQuant op itself, run through a graph and the executor (its private per-element code is
 * recomputed from quant.h as the op defines it), and the CPU int8 GEMM (tt_qgemm_cols, the
 * portable C path and the ISA this CPU selects). No tolerance anywhere: the kernels
 * do the same float32 operations in the same order, so any difference is a bug. */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "device_ops_check.h"
#include "kernels/cpu/qgemm.h"
#include "testutil.h"
#include "tinytrain/quant.h"

static const tt_device_ops *g_ops;
static tt_dev *g_dev;

static tt_dbuf *upload(const void *host, size_t bytes)
{
    tt_dbuf *b = NULL;
    TT_ASSERT_OK(g_ops->alloc(g_dev, bytes, &b));
    if (host) TT_ASSERT_OK(g_ops->write(g_dev, b, host, bytes));
    return b;
}

static void download(const tt_dbuf *b, void *host, size_t bytes)
{
    TT_ASSERT_OK(g_ops->read(g_dev, b, host, bytes));
}

/* Bitwise equality of float arrays (NaN payloads and the sign of zero included). */
static void assert_same_f32(const char *what, const float *got, const float *want, int64_t n,
                            const float *x)
{
    for (int64_t i = 0; i < n; i++)
        if (memcmp(&got[i], &want[i], sizeof(float)) != 0) {
            print_error("%s[%" PRId64 "]: device %a, cpu %a (x = %a)\n", what, i, (double)got[i],
                        (double)want[i], x ? (double)x[i] : 0.0);
            fail();
        }
}

static void assert_same_u8(const char *what, const uint8_t *got, const uint8_t *want, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (got[i] != want[i]) {
            print_error("%s[%" PRId64 "]: device %u, cpu %u\n", what, i, got[i], want[i]);
            fail();
        }
}

/* ---- FakeQuant ---- */

typedef struct fq_case {
    int64_t outer, ch, inner;
    float *x, *scale, *zp;
    float qmin, qmax;
} fq_case;

/* The saved code of the CPU op, which it keeps private: 0 when the rounded, unclamped level
 * round(x / s) + z is in [qmin, qmax], 1 below (or NaN), 2 above (autograd/ops/fake_quant.c). */
static void cpu_fq_code(const fq_case *c, uint8_t *code)
{
    int64_t n = c->outer * c->ch * c->inner;
    for (int64_t i = 0; i < n; i++) {
        int64_t ch = (i / c->inner) % c->ch;
        float q = tt_round_half_even(c->x[i] / c->scale[ch]) + c->zp[ch];
        code[i] = !(q >= c->qmin) ? 1 : (q > c->qmax ? 2 : 0);
    }
}

/* The CPU FakeQuant op itself (graph + executor, observers off): y = FakeQuant(x) in a
 * training forward, then dx from dy through its straight-through backward (grads start at 0). */
static void cpu_fq_op(const fq_case *c, const float *dy, float *y, float *dx)
{
    int64_t dims[3] = {c->outer, c->ch, c->inner}, n = c->outer * c->ch * c->inner;
    tt_graph *g;
    tt_exec *e;
    int x, p[4], out;
    TT_ASSERT_OK(tt_graph_create(&g));
    TT_ASSERT_OK(tt_graph_add_param(g, "x", 3, dims, true, &x));
    static const char *const names[4] = {"fq.scale", "fq.zero_point", "fq.min", "fq.max"};
    for (int i = 0; i < 4; i++)
        TT_ASSERT_OK(tt_graph_add_param(g, names[i], 1, &c->ch, false, &p[i]));
    memcpy(tt_graph_param_data(g, x), c->x, (size_t)n * sizeof(float));
    for (int64_t i = 0; i < c->ch; i++) {
        tt_graph_param_data(g, p[0])[i] = c->scale[i];
        tt_graph_param_data(g, p[1])[i] = c->zp[i];
        tt_graph_param_data(g, p[2])[i] = INFINITY;
        tt_graph_param_data(g, p[3])[i] = -INFINITY;
    }
    tt_attr at[4] = {tt_attr_int("qmin", (int64_t)c->qmin), tt_attr_int("qmax", (int64_t)c->qmax),
                     tt_attr_int("axis", c->ch > 1 ? 1 : -1), tt_attr_int("observe", 0)};
    int in[5] = {x, p[0], p[1], p[2], p[3]};
    TT_ASSERT_OK(tt_graph_add_node(g, TT_OP_FAKEQUANT, "fq", 5, in, 4, at, &out));
    TT_ASSERT_OK(tt_exec_create(g, 1, &e));
    TT_ASSERT_OK(tt_exec_forward(e, 1, true));
    memcpy(y, tt_tensor_f32(tt_exec_value(e, out)), (size_t)n * sizeof(float));
    TT_ASSERT_OK(tt_exec_backward_from(e, out, dy));
    memcpy(dx, tt_tensor_f32(tt_exec_grad(e, x)), (size_t)n * sizeof(float));
    tt_exec_free(e);
    tt_graph_free(g);
}

/* Forward and backward of one case on the device, both compared with the CPU op. */
static void run_fq(const fq_case *c, tt_rng *rng)
{
    int64_t n = c->outer * c->ch * c->inner;
    size_t fb = (size_t)n * sizeof(float);
    float *y = malloc(fb + 1), *ref = malloc(fb + 1), *dy = malloc(fb + 1), *dx = malloc(fb + 1);
    float *dx_ref = malloc(fb + 1), *dx_op = malloc(fb + 1);
    uint8_t *code = malloc((size_t)n + 1), *code_ref = malloc((size_t)n + 1);
    assert_non_null(y && ref && dy && dx && dx_ref && dx_op && code && code_ref);
    for (int64_t i = 0; i < n; i++) dy[i] = tt_rng_normal(rng);
    cpu_fq_op(c, dy, ref, dx_op);
    cpu_fq_code(c, code_ref);
    tt_dbuf *bx = upload(c->x, fb), *by = upload(NULL, fb), *bc = upload(NULL, (size_t)n);
    tt_dbuf *bs = upload(c->scale, (size_t)c->ch * sizeof(float));
    tt_dbuf *bz = upload(c->zp, (size_t)c->ch * sizeof(float));
    tt_dev_fq a = {n, c->ch, c->inner, bx, bs, bz, by, bc, c->qmin, c->qmax};
    TT_ASSERT_OK(g_ops->fq_forward(g_dev, &a));
    download(by, y, fb);
    download(bc, code, (size_t)n);
    assert_same_f32("FakeQuant y", y, ref, n, c->x);
    assert_same_u8("FakeQuant code", code, code_ref, n);
    /* backward accumulates into dx: start from values (and -0.0, which shows whether "+ 0" is
     * kept for masked elements); the op's dx started from 0, so the sum is the reference */
    for (int64_t i = 0; i < n; i++) {
        dx[i] = i % 7 == 0 ? -0.0f : tt_rng_normal(rng);
        dx_ref[i] = dx[i] + dx_op[i];
    }
    tt_dbuf *bdy = upload(dy, fb), *bdx = upload(dx, fb);
    tt_dev_fq_bwd b = {n, bdy, bc, bdx};
    TT_ASSERT_OK(g_ops->fq_backward(g_dev, &b));
    download(bdx, dx, fb);
    assert_same_f32("FakeQuant dx", dx, dx_ref, n, NULL);
    tt_dbuf *all[] = {bx, by, bc, bs, bz, bdy, bdx};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) g_ops->free(g_dev, all[i]);
    free(y), free(ref), free(dy), free(dx), free(dx_ref), free(dx_op), free(code), free(code_ref);
}

/* Values that probe every branch: exact ties at .5 (power-of-two scales make x / s exact),
 * both sides of them, saturation far out, NaN, +-inf, +-0, subnormals, and |x / s| near 2^23
 * and 2^24 where the rounding's fast path changes. */
static int64_t edge_values(float s, float *x)
{
    static const float k[] = {0.5f,        1.5f,        2.5f,         -0.5f,   -1.5f,  -2.5f,
                              126.5f,      127.5f,      -127.5f,      -128.5f, 254.5f, 255.5f,
                              0.49999997f, 0.50000006f, -0.49999997f, 1e9f,    -1e9f,  8388607.5f,
                              8388608.0f,  -8388609.0f, 16777217.0f,  3.0e38f};
    int64_t n = 0;
    for (size_t i = 0; i < sizeof k / sizeof *k; i++) x[n++] = k[i] * s;
    x[n++] = NAN;
    x[n++] = -NAN;
    x[n++] = INFINITY;
    x[n++] = -INFINITY;
    x[n++] = 0.0f;
    x[n++] = -0.0f;
    x[n++] = FLT_TRUE_MIN;
    x[n++] = -FLT_MIN / 3.0f;
    x[n++] = FLT_MAX;
    return n; /* 31 */
}

static void test_fq_edges(void **state)
{
    (void)state;
    tt_rng rng;
    tt_rng_seed(&rng, 81, 0);
    /* (scale, zero point, qmin, qmax): uint8 asymmetric, int8 symmetric, 4-bit, a wide range,
     * a zero point at the range's edge, a scale that makes most quotients inexact, a tiny one */
    static const float cfg[][4] = {
        {0.25f, 128, 0, 255},       {0.5f, 0, -127, 127},    {1.0f, 3, -8, 7},
        {0.125f, 0, -65536, 65535}, {2.0f, 255, 0, 255},     {0.0123f, 17, 0, 255},
        {1e-30f, -5, -128, 127},    {3.0f, -128, -128, 127},
    };
    float x[64], s[1], z[1];
    for (size_t i = 0; i < sizeof cfg / sizeof *cfg; i++) {
        s[0] = cfg[i][0];
        z[0] = cfg[i][1];
        int64_t n = edge_values(s[0], x);
        fq_case c = {1, 1, n, x, s, z, cfg[i][2], cfg[i][3]};
        run_fq(&c, &rng);
    }
}

/* Random shapes, per tensor and per channel (axis in the middle, first and last). */
static void test_fq_random(void **state)
{
    (void)state;
    tt_rng rng;
    tt_rng_seed(&rng, 82, 0);
    for (int t = 0; t < 24; t++) {
        int64_t outer = 1 + tt_rng_below(&rng, 5), ch = t % 3 == 0 ? 1 : 1 + tt_rng_below(&rng, 9);
        int64_t inner = 1 + tt_rng_below(&rng, t % 4 == 0 ? 1 : 700);
        int64_t n = outer * ch * inner;
        float *x = malloc((size_t)n * sizeof(float)), s[16], z[16];
        assert_non_null(x);
        bool sym = t % 2;
        float qmin = sym ? -127.0f : 0.0f, qmax = sym ? 127.0f : 255.0f;
        for (int64_t c = 0; c < ch; c++) {
            s[c] = c % 2 ? 0.5f : 0.001f + tt_rng_uniform(&rng) * 0.05f; /* exact ties too */
            z[c] = sym ? 0.0f : (float)tt_rng_below(&rng, 256);
        }
        for (int64_t i = 0; i < n; i++) {
            float v = (tt_rng_uniform(&rng) - 0.5f) * 8.0f;
            /* every fifth on an exact half step of a power-of-two scale */
            x[i] = i % 5 == 0 ? (floorf(v * 4.0f) + 0.5f) * 0.5f : v;
            if (i % 97 == 13) x[i] = NAN;
        }
        fq_case cs = {outer, ch, inner, x, s, z, qmin, qmax};
        run_fq(&cs, &rng);
        free(x);
    }
}

/* ---- int8 GEMM ---- */

typedef struct qg_case {
    int64_t m, n, k;
    bool w_signed, x_signed, y_signed, per_row_zp, per_row_mult, bias, gemm_layout;
    int32_t x_zp, y_zp, qmin, qmax;
    float mult_lo, mult_hi;
    int32_t bias_base; /* added to every bias: near INT32_MAX the accumulator wraps */
} qg_case;

typedef struct qg_data {
    uint8_t *w, *x, *y, *y_c, *y_isa;
    int32_t *wzp, *bias;
    float *mult;
    int64_t n_wzp, n_mult;
    int64_t w_sm, w_sk, x_sk, x_sn, y_sm, y_sn;
} qg_data;

static void qg_fill(const qg_case *c, tt_rng *rng, qg_data *d)
{
    int64_t m = c->m, n = c->n, k = c->k;
    d->w = malloc((size_t)(m * k));
    d->x = malloc((size_t)(k * n));
    d->y = calloc((size_t)(m * n), 1);
    d->y_c = calloc((size_t)(m * n), 1);
    d->y_isa = calloc((size_t)(m * n), 1);
    d->wzp = malloc((size_t)m * sizeof(int32_t));
    d->bias = malloc((size_t)m * sizeof(int32_t));
    d->mult = malloc((size_t)m * sizeof(float));
    assert_non_null(d->w && d->x && d->y && d->y_c && d->y_isa && d->wzp && d->bias && d->mult);
    for (int64_t i = 0; i < m * k; i++) d->w[i] = (uint8_t)tt_rng_u32(rng);
    for (int64_t i = 0; i < k * n; i++) d->x[i] = (uint8_t)tt_rng_u32(rng);
    d->n_wzp = c->per_row_zp ? m : 1;
    d->n_mult = c->per_row_mult ? m : 1;
    for (int64_t i = 0; i < m; i++) {
        d->wzp[i] =
            c->w_signed ? (int32_t)tt_rng_below(rng, 21) - 10 : (int32_t)tt_rng_below(rng, 256);
        int64_t b = (int64_t)c->bias_base + (int64_t)tt_rng_below(rng, 20001) - 10000;
        d->bias[i] = (int32_t)(b > INT32_MAX ? INT32_MAX : b);
        d->mult[i] = c->mult_lo + (c->mult_hi - c->mult_lo) * tt_rng_uniform(rng);
    }
    /* row-major W [M,K]; X [K,N] (an im2col matrix) or [N,K] (a Gemm's A); Y [M,N] or [N,M] */
    d->w_sm = k, d->w_sk = 1;
    d->x_sk = c->gemm_layout ? 1 : n, d->x_sn = c->gemm_layout ? k : 1;
    d->y_sm = c->gemm_layout ? 1 : n, d->y_sn = c->gemm_layout ? m : 1;
}

static void qg_cpu(const qg_case *c, const qg_data *d, tt_qgemm_isa isa, uint8_t *y)
{
    tt_qgemm_wdesc wd = {c->m, c->k, d->w, c->w_signed, d->w_sm, d->w_sk, d->wzp, d->n_wzp};
    void *pack = aligned_alloc(64, (tt_qgemm_pack_size(c->m, c->k) + 63) & ~(size_t)63);
    void *work = aligned_alloc(64, (tt_qgemm_work_size(c->k) + 63) & ~(size_t)63);
    assert_non_null(pack && work);
    tt_qgemm_packed p;
    tt_qgemm_pack(isa, &wd, pack, &p);
    tt_qgemm_xdesc xd = {d->x, c->x_signed, d->x_sk, d->x_sn, c->x_zp};
    tt_qgemm_out od = {
        y,       c->y_signed, d->y_sm, d->y_sn, d->mult, d->n_mult, c->bias ? d->bias : NULL,
        c->y_zp, c->qmin,     c->qmax};
    tt_qgemm_cols(&p, &xd, &od, 0, c->n, work);
    free(pack);
    free(work);
}

static void run_qgemm(const qg_case *c, tt_rng *rng)
{
    qg_data d;
    qg_fill(c, rng, &d);
    int64_t m = c->m, n = c->n, k = c->k;
    tt_qgemm_isa isa;
    TT_ASSERT_OK(tt_qgemm_isa_select(&isa));
    qg_cpu(c, &d, TT_QGEMM_C, d.y_c);
    qg_cpu(c, &d, isa, d.y_isa);
    assert_same_u8("cpu c vs isa", d.y_isa, d.y_c, m * n); /* the oracle agrees with itself */
    tt_dbuf *bw = upload(d.w, (size_t)(m * k)), *bx = upload(d.x, (size_t)(k * n));
    tt_dbuf *by = upload(NULL, (size_t)(m * n));
    tt_dbuf *bz = upload(d.wzp, (size_t)d.n_wzp * sizeof(int32_t));
    tt_dbuf *bb = upload(d.bias, (size_t)m * sizeof(int32_t));
    tt_dbuf *bm = upload(d.mult, (size_t)d.n_mult * sizeof(float));
    tt_dev_qgemm a = {.m = m,
                      .n = n,
                      .k = k,
                      .w = bw,
                      .w_signed = c->w_signed,
                      .w_sm = d.w_sm,
                      .w_sk = d.w_sk,
                      .w_zp = bz,
                      .n_wzp = d.n_wzp,
                      .x = bx,
                      .x_signed = c->x_signed,
                      .x_sk = d.x_sk,
                      .x_sn = d.x_sn,
                      .x_zp = c->x_zp,
                      .y = by,
                      .y_signed = c->y_signed,
                      .y_sm = d.y_sm,
                      .y_sn = d.y_sn,
                      .mult = bm,
                      .n_mult = d.n_mult,
                      .bias = c->bias ? bb : NULL,
                      .y_zp = c->y_zp,
                      .qmin = c->qmin,
                      .qmax = c->qmax};
    TT_ASSERT_OK(g_ops->qgemm(g_dev, &a));
    download(by, d.y, (size_t)(m * n));
    assert_same_u8("int8 GEMM y", d.y, d.y_c, m * n);
    tt_dbuf *all[] = {bw, bx, by, bz, bb, bm};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) g_ops->free(g_dev, all[i]);
    free(d.w), free(d.x), free(d.y), free(d.y_c), free(d.y_isa), free(d.wzp), free(d.bias),
        free(d.mult);
}

static void test_qgemm_random(void **state)
{
    (void)state;
    tt_rng rng;
    tt_rng_seed(&rng, 83, 0);
    for (int t = 0; t < 32; t++) {
        qg_case c = {.m = 1 + tt_rng_below(&rng, 40),
                     .n = 1 + tt_rng_below(&rng, 70),
                     .k = 1 + tt_rng_below(&rng, 300),
                     .w_signed = t % 2,
                     .x_signed = t % 3 == 0,
                     .y_signed = t % 4 < 2,
                     .per_row_zp = t % 5 != 0,
                     .per_row_mult = t % 2,
                     .bias = t % 3 != 1,
                     .gemm_layout = t % 4 == 3};
        c.x_zp =
            c.x_signed ? (int32_t)tt_rng_below(&rng, 256) - 128 : (int32_t)tt_rng_below(&rng, 256);
        c.y_zp =
            c.y_signed ? (int32_t)tt_rng_below(&rng, 256) - 128 : (int32_t)tt_rng_below(&rng, 256);
        c.qmin = c.y_signed ? -128 : 0;
        c.qmax = c.y_signed ? 127 : 255;
        if (t % 6 == 5) c.qmin = c.y_zp; /* a fused Relu */
        /* multipliers that land most outputs inside the range, and a few that saturate */
        c.mult_lo = 1e-5f;
        c.mult_hi = t % 7 == 0 ? 0.05f : 2e-4f;
        run_qgemm(&c, &rng);
    }
}

/* Requantisation ties (multiplier 0.5 makes every odd accumulator an exact .5), saturation on
 * both sides, and an int32 accumulator that wraps (bias near INT32_MAX). */
static void test_qgemm_edges(void **state)
{
    (void)state;
    tt_rng rng;
    tt_rng_seed(&rng, 84, 0);
    qg_case ties = {.m = 7,
                    .n = 33,
                    .k = 1,
                    .w_signed = true,
                    .x_signed = false,
                    .y_signed = true,
                    .per_row_zp = false,
                    .bias = true,
                    .x_zp = 0,
                    .y_zp = 0,
                    .qmin = -128,
                    .qmax = 127,
                    .mult_lo = 0.5f,
                    .mult_hi = 0.5f,
                    .bias_base = 0};
    run_qgemm(&ties, &rng);
    qg_case sat = {.m = 9,
                   .n = 17,
                   .k = 64,
                   .w_signed = false,
                   .x_signed = false,
                   .y_signed = false,
                   .per_row_zp = true,
                   .per_row_mult = true,
                   .x_zp = 3,
                   .y_zp = 128,
                   .qmin = 0,
                   .qmax = 255,
                   .mult_lo = 0.01f,
                   .mult_hi = 1.0f};
    run_qgemm(&sat, &rng);
    qg_case wrap = {.m = 5,
                    .n = 11,
                    .k = 200,
                    .w_signed = true,
                    .x_signed = true,
                    .y_signed = true,
                    .bias = true,
                    .x_zp = -128,
                    .y_zp = -3,
                    .qmin = -128,
                    .qmax = 127,
                    .mult_lo = 1e-9f,
                    .mult_hi = 1e-8f,
                    .bias_base = INT32_MAX - 10000};
    run_qgemm(&wrap, &rng);
    qg_case empty = {.m = 3,
                     .n = 4,
                     .k = 0,
                     .y_signed = false,
                     .bias = true,
                     .qmin = 0,
                     .qmax = 255,
                     .y_zp = 10,
                     .mult_lo = 0.25f,
                     .mult_hi = 0.25f};
    run_qgemm(&empty, &rng); /* K = 0: bias only */
}

/* ---- errors ---- */

static void test_bad_index(void **state)
{
    (void)state;
    tt_dev *d = (tt_dev *)1;
    assert_int_equal(g_ops->open(99, &d), TT_ERR_INVALID_ARG);
    assert_null(d);
    assert_non_null(strstr(tt_last_error(), "device 99 does not exist"));
    assert_int_equal(g_ops->open(-1, &d), TT_ERR_INVALID_ARG);
    tt_backend_device info;
    assert_int_equal(g_ops->describe(1000, &info), TT_ERR_INVALID_ARG);
}

/* More than the device has: the out-of-device-memory error, and the device still works. */
static void test_out_of_memory(void **state)
{
    (void)state;
    tt_dbuf *b = (tt_dbuf *)1;
    size_t sizes[] = {(size_t)g_dev->info.global_mem + 1, SIZE_MAX / 2};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(g_ops->alloc(g_dev, sizes[i], &b), TT_ERR_NOMEM);
        assert_null(b);
        assert_non_null(strstr(tt_last_error(), "out of device memory"));
    }
    float one = 1.0f, back = 0.0f;
    b = upload(&one, sizeof one);
    download(b, &back, sizeof back);
    assert_true(back == 1.0f);
    g_ops->free(g_dev, b);
}

/* Shapes and copies that would reach outside a buffer are refused before anything runs. */
static void test_bounds(void **state)
{
    (void)state;
    uint8_t bytes[16] = {0};
    tt_dbuf *small = upload(bytes, sizeof bytes);
    assert_int_equal(g_ops->write(g_dev, small, bytes, 17), TT_ERR_INVALID_ARG);
    assert_int_equal(g_ops->read(g_dev, small, bytes, 17), TT_ERR_INVALID_ARG);
    float mult = 0.5f;
    tt_dbuf *bm = upload(&mult, sizeof mult);
    tt_dev_qgemm a = {.m = 4,
                      .n = 4,
                      .k = 2,
                      .w = small,
                      .w_sm = 2,
                      .w_sk = 1,
                      .x = small,
                      .x_sk = 4,
                      .x_sn = 1,
                      .y = small,
                      .y_sm = 5,
                      .y_sn = 1,
                      .mult = bm,
                      .n_mult = 1,
                      .qmin = 0,
                      .qmax = 255};
    assert_int_equal(g_ops->qgemm(g_dev, &a), TT_ERR_INVALID_ARG); /* Y spans 3 * 5 + 3 + 1 bytes */
    assert_non_null(strstr(tt_last_error(), "Y needs 19 elements"));
    a.y_sm = 4;
    a.qmax = 300;
    assert_int_equal(g_ops->qgemm(g_dev, &a), TT_ERR_INVALID_ARG);
    tt_dev_fq f = {.n = 16,
                   .channels = 3,
                   .inner = 1,
                   .x = bm,
                   .y = bm,
                   .code = small,
                   .scale = bm,
                   .zero_point = bm,
                   .qmin = 0,
                   .qmax = 255};
    assert_int_equal(g_ops->fq_forward(g_dev, &f), TT_ERR_SHAPE);
    f.channels = 1;
    assert_int_equal(g_ops->fq_forward(g_dev, &f), TT_ERR_INVALID_ARG); /* x holds 1 float */
    g_ops->free(g_dev, small);
    g_ops->free(g_dev, bm);
}

/* The public listing shows this backend with its devices. */
static void test_listed(void **state)
{
    (void)state;
    tt_backend_list l;
    TT_ASSERT_OK(tt_backends_list(&l));
    assert_int_equal(l.devices[0].kind, TT_BACKEND_CPU);
    const tt_backend_status *s = &l.backends[g_ops->kind];
    assert_true(s->built);
    assert_true(s->n_devices >= 1);
    int found = 0;
    for (int i = 0; i < l.n_devices; i++)
        found += l.devices[i].kind == g_ops->kind && !strcmp(l.devices[i].name, g_dev->info.name);
    assert_true(found >= 1);
}

static int expect_no_device(const tt_device_ops *ops, const char *label, const char *msg)
{
    int n = -1;
    tt_dev *d = NULL;
    tt_status s = ops->count(&n);
    printf("%s discovery with the driver hidden: %s (%s)\n", label, tt_status_str(s),
           tt_last_error());
    bool ok = s == TT_ERR_UNSUPPORTED && n == 0 && strstr(tt_last_error(), msg);
    s = ops->open(0, &d);
    ok = ok && s == TT_ERR_UNSUPPORTED && d == NULL && strstr(tt_last_error(), msg);
    tt_backend_list l;
    ok = ok && tt_backends_list(&l) == TT_OK && l.backends[ops->kind].n_devices == 0 &&
         strstr(l.backends[ops->kind].reason, msg);
    printf("%s\n", ok ? "ok: the no-device path gives the clear message"
                      : "FAILED: expected TT_ERR_UNSUPPORTED with that message");
    return ok ? 0 : 1;
}

int tt_devtest_main(const tt_device_ops *ops, const char *label, const char *no_device_msg,
                    int argc, char **argv)
{
    if (!ops) {
        printf("skipped: no %s device (this build has no %s backend)\n", label, label);
        return 77;
    }
    if (argc > 1 && !strcmp(argv[1], "--expect-no-device"))
        return expect_no_device(ops, label, no_device_msg);
    int n = 0;
    if (ops->count(&n) != TT_OK || n == 0 || ops->open(0, &g_dev) != TT_OK) {
        const char *why = tt_last_error();
        if (!strncmp(why, "no ", 3)) /* the backend's own "no <label> device..." */
            printf("skipped: %s\n", why);
        else
            printf("skipped: no %s device (%s)\n", label, why);
        return 77;
    }
    g_ops = ops;
    printf("%s device 0: %s (%s), %.2f GiB\n", label, g_dev->info.name, g_dev->info.platform,
           (double)g_dev->info.global_mem / (1024.0 * 1024.0 * 1024.0));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fq_edges),     cmocka_unit_test(test_fq_random),
        cmocka_unit_test(test_qgemm_random), cmocka_unit_test(test_qgemm_edges),
        cmocka_unit_test(test_bad_index),    cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_bounds),       cmocka_unit_test(test_listed),
    };
    int rc = cmocka_run_group_tests_name(label, tests, NULL, NULL);
    ops->close(g_dev);
    return rc;
}
