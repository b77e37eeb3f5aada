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
#include "kernels/backend.h"
#include "kernels/cpu/qgemm.h"
#include "testutil.h"
#include "tinytrain/quant.h"

static const tt_device_ops *g_ops;
static tt_dev *g_dev;

static tt_dbuf *upload(const void *host, size_t bytes)
{
    tt_dbuf *b = NULL;
    TT_ASSERT_OK(g_ops->alloc(g_dev, bytes, &b));
    if (host) TT_ASSERT_OK(g_ops->write_at(g_dev, b, 0, host, bytes));
    return b;
}

static void download(const tt_dbuf *b, void *host, size_t bytes)
{
    TT_ASSERT_OK(g_ops->read_at(g_dev, b, 0, host, bytes));
}

static void free_bufs(tt_dbuf *const *b, size_t n)
{
    for (size_t i = 0; i < n; i++) g_ops->free(g_dev, b[i]);
}

/* Bitwise equality of float arrays, the sign of zero included, and NaN payloads too unless
 * any_nan: where a NaN comes out of an arithmetic operation on NaN or inf operands, x86 returns
 * an operand's payload (or its default NaN) and CUDA its canonical NaN, so there only "is NaN"
 * is part of the contract. */
static void assert_same_f32(const char *what, const float *got, const float *want, int64_t n,
                            const float *x, bool any_nan)
{
    for (int64_t i = 0; i < n; i++)
        if (memcmp(&got[i], &want[i], sizeof(float)) != 0 &&
            !(any_nan && isnan(got[i]) && isnan(want[i]))) {
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
    TT_ASSERT_OK(tt_dev_fq_forward_kernel(g_dev, &a));
    download(by, y, fb);
    download(bc, code, (size_t)n);
    assert_same_f32("FakeQuant y", y, ref, n, c->x, false);
    assert_same_u8("FakeQuant code", code, code_ref, n);
    /* backward accumulates into dx: start from values (and -0.0, which shows whether "+ 0" is
     * kept for masked elements); the op's dx started from 0, so the sum is the reference */
    for (int64_t i = 0; i < n; i++) {
        dx[i] = i % 7 == 0 ? -0.0f : tt_rng_normal(rng);
        dx_ref[i] = dx[i] + dx_op[i];
    }
    tt_dbuf *bdy = upload(dy, fb), *bdx = upload(dx, fb);
    tt_dev_fq_bwd b = {n, bdy, bc, bdx};
    TT_ASSERT_OK(tt_dev_fq_backward_kernel(g_dev, &b));
    download(bdx, dx, fb);
    assert_same_f32("FakeQuant dx", dx, dx_ref, n, NULL, false);
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
    TT_ASSERT_OK(tt_dev_qgemm_kernel(g_dev, &a));
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

/* ---- Relu, Add, SGD: bit for bit against the CPU ops ---- */

static float *falloc(int64_t n)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    assert_non_null(p);
    return p;
}

/* The CPU op run through a graph and the executor on n_in inputs of n floats each (all
 * trainable): y = op(in...) in a training forward, then each input's gradient from dy (the
 * gradients start at 0). */
static void cpu_op(tt_op_type op, int n_in, const float *const *in, int64_t n, const float *dy,
                   float *y, float **grads)
{
    tt_graph *g;
    tt_exec *e;
    int ids[2], out;
    static const char *const names[2] = {"a", "b"};
    TT_ASSERT_OK(tt_graph_create(&g));
    for (int i = 0; i < n_in; i++) {
        TT_ASSERT_OK(tt_graph_add_param(g, names[i], 1, &n, true, &ids[i]));
        memcpy(tt_graph_param_data(g, ids[i]), in[i], (size_t)n * sizeof(float));
    }
    TT_ASSERT_OK(tt_graph_add_node(g, op, "op", n_in, ids, 0, NULL, &out));
    TT_ASSERT_OK(tt_exec_create(g, 1, &e));
    TT_ASSERT_OK(tt_exec_forward(e, 1, true));
    memcpy(y, tt_tensor_f32(tt_exec_value(e, out)), (size_t)n * sizeof(float));
    TT_ASSERT_OK(tt_exec_backward_from(e, out, dy));
    for (int i = 0; i < n_in; i++)
        memcpy(grads[i], tt_tensor_f32(tt_exec_grad(e, ids[i])), (size_t)n * sizeof(float));
    tt_exec_free(e);
    tt_graph_free(g);
}

/* Values every elementwise case starts with, then random normals: +-0, +-inf, NaN, subnormals,
 * the largest floats (whose sums overflow) and values just around 0. */
static void fill_edges(float *x, int64_t n, tt_rng *rng)
{
    static const float k[] = {0.0f,     -0.0f,   INFINITY, -INFINITY,     NAN,     FLT_TRUE_MIN,
                              -FLT_MIN, FLT_MAX, -FLT_MAX, 1e-30f,        -1e-30f, 1.0f,
                              -1.0f,    0.5f,    3.0e38f,  -FLT_TRUE_MIN, 2.0f};
    int64_t nk = (int64_t)(sizeof k / sizeof *k);
    for (int64_t i = 0; i < n; i++) x[i] = i < nk ? k[i] : tt_rng_normal(rng) * 4.0f;
}

/* Gradients already in dx (including -0.0, which shows whether "+ 0" is kept where no gradient
 * flows) plus the op's gradient, which the CPU computed from zero: the reference for a device
 * backward that accumulates into dx. */
static void start_grad(float *dx, float *dx_ref, const float *op_grad, int64_t n, tt_rng *rng)
{
    for (int64_t i = 0; i < n; i++) {
        dx[i] = i % 7 == 0 ? -0.0f : tt_rng_normal(rng);
        dx_ref[i] = dx[i] + op_grad[i];
    }
}

static void run_relu(int64_t n, tt_rng *rng)
{
    size_t fb = (size_t)n * sizeof(float);
    float *x = falloc(n), *dy = falloc(n), *y = falloc(n), *ref = falloc(n), *g = falloc(n);
    float *dx = falloc(n), *dx_ref = falloc(n);
    fill_edges(x, n, rng);
    for (int64_t i = 0; i < n; i++) dy[i] = tt_rng_normal(rng);
    cpu_op(TT_OP_RELU, 1, (const float *const[]){x}, n, dy, ref, (float *[]){g});
    tt_dbuf *bx = upload(x, fb), *by = upload(NULL, fb);
    TT_ASSERT_OK(tt_dev_relu_forward_kernel(g_dev, &(tt_dev_relu){n, bx, by}));
    download(by, y, fb);
    assert_same_f32("Relu y", y, ref, n, x, false);
    start_grad(dx, dx_ref, g, n, rng);
    tt_dbuf *bdy = upload(dy, fb), *bdx = upload(dx, fb);
    TT_ASSERT_OK(tt_dev_relu_backward_kernel(g_dev, &(tt_dev_relu_bwd){n, bx, bdy, bdx}));
    download(bdx, dx, fb);
    assert_same_f32("Relu dx", dx, dx_ref, n, x, false);
    free_bufs((tt_dbuf *[]){bx, by, bdy, bdx}, 4);
    free(x), free(dy), free(y), free(ref), free(g), free(dx), free(dx_ref);
}

/* Edge values (NaN, -0, +-inf, subnormals) and sizes from 1 to past the CPU's parallel
 * threshold (65536), where the op runs under OpenMP. */
static void test_relu(void **state)
{
    (void)state;
    tt_rng rng;
    tt_rng_seed(&rng, 85, 0);
    static const int64_t sizes[] = {1, 17, 1000, 70001};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) run_relu(sizes[i], &rng);
}

/* Add forward and backward; only_a leaves b without a gradient (NULL db). */
static void run_add(int64_t n, bool only_a, tt_rng *rng)
{
    size_t fb = (size_t)n * sizeof(float);
    float *a = falloc(n), *b = falloc(n), *dy = falloc(n), *y = falloc(n), *ref = falloc(n);
    float *ga = falloc(n), *gb = falloc(n), *da = falloc(n), *db = falloc(n);
    float *da_ref = falloc(n), *db_ref = falloc(n);
    fill_edges(a, n, rng);
    for (int64_t i = 0; i < n; i++) {
        b[i] = i % 3 == 0 ? a[(i * 5) % n] : tt_rng_normal(rng); /* inf - inf, -0 + -0, ... */
        if (i % 3 == 0 && i % 2) b[i] = -b[i];
        dy[i] = tt_rng_normal(rng);
    }
    cpu_op(TT_OP_ADD, 2, (const float *const[]){a, b}, n, dy, ref, (float *[]){ga, gb});
    tt_dbuf *bufa = upload(a, fb), *bufb = upload(b, fb), *by = upload(NULL, fb);
    TT_ASSERT_OK(tt_dev_add_forward_kernel(g_dev, &(tt_dev_add){n, bufa, bufb, by}));
    download(by, y, fb);
    assert_same_f32("Add y", y, ref, n, a, true);
    start_grad(da, da_ref, ga, n, rng);
    start_grad(db, db_ref, gb, n, rng);
    if (only_a) memcpy(db_ref, db, fb); /* untouched when b needs no gradient */
    tt_dbuf *bdy = upload(dy, fb), *bda = upload(da, fb), *bdb = upload(db, fb);
    TT_ASSERT_OK(
        tt_dev_add_backward_kernel(g_dev, &(tt_dev_add_bwd){n, bdy, bda, only_a ? NULL : bdb}));
    download(bda, da, fb);
    download(bdb, db, fb);
    assert_same_f32("Add da", da, da_ref, n, NULL, false);
    assert_same_f32("Add db", db, db_ref, n, NULL, false);
    free_bufs((tt_dbuf *[]){bufa, bufb, by, bdy, bda, bdb}, 6);
    free(a), free(b), free(dy), free(y), free(ref), free(ga), free(gb), free(da), free(db),
        free(da_ref), free(db_ref);
}

static void test_add(void **state)
{
    (void)state;
    tt_rng rng;
    tt_rng_seed(&rng, 86, 0);
    static const int64_t sizes[] = {1, 23, 999, 70001};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        run_add(sizes[i], false, &rng);
        run_add(sizes[i], true, &rng);
    }
}

/* A graph whose one trainable parameter w [n] the CPU optimiser updates; the executor has run
 * once so its gradient buffer exists, and the test writes gradients into it directly. */
typedef struct sgd_fixture {
    tt_graph *g;
    tt_exec *e;
    int w;
} sgd_fixture;

static void sgd_fixture_init(sgd_fixture *f, int64_t n, const float *w0)
{
    int out;
    TT_ASSERT_OK(tt_graph_create(&f->g));
    TT_ASSERT_OK(tt_graph_add_param(f->g, "w", 1, &n, true, &f->w));
    memcpy(tt_graph_param_data(f->g, f->w), w0, (size_t)n * sizeof(float));
    TT_ASSERT_OK(tt_graph_add_node(f->g, TT_OP_RELU, "r", 1, &f->w, 0, NULL, &out));
    TT_ASSERT_OK(tt_exec_create(f->g, 1, &f->e));
    TT_ASSERT_OK(tt_exec_forward(f->e, 1, true));
    float *seed = falloc(n);
    for (int64_t i = 0; i < n; i++) seed[i] = 1.0f;
    TT_ASSERT_OK(tt_exec_backward_from(f->e, out, seed));
    free(seed);
}

/* Four steps of cfg on the CPU optimiser and on the device, the parameter and the momentum
 * buffer compared bit for bit after each (the first step, which seeds the buffer, and the
 * later ones, which the CPU runs in its vectorised loop). */
static void run_sgd(const tt_optim_config *cfg, int64_t n, tt_rng *rng)
{
    size_t fb = (size_t)n * sizeof(float);
    float *w = falloc(n), *grad = falloc(n), *got = falloc(n);
    fill_edges(w, n, rng);
    for (int64_t i = 0; i < n && i < 5; i++) w[i] = (float)i * 0.25f; /* finite at the start */
    sgd_fixture f;
    sgd_fixture_init(&f, n, w);
    tt_optim *o;
    TT_ASSERT_OK(tt_optim_create(cfg, f.e, &o));
    tt_dbuf *bp = upload(w, fb), *bg = upload(NULL, fb);
    tt_dbuf *bb = cfg->momentum != 0.0f ? upload(NULL, fb) : NULL;
    static const float lrs[4] = {0.1f, 0.05f, 0.0123f, 0.3f};
    for (int step = 0; step < 4; step++) {
        for (int64_t i = 0; i < n; i++) grad[i] = i % 11 == 3 ? -0.0f : tt_rng_normal(rng);
        memcpy(tt_tensor_f32(tt_exec_grad(f.e, f.w)), grad, fb);
        TT_ASSERT_OK(tt_optim_step(o, lrs[step]));
        TT_ASSERT_OK(g_ops->write_at(g_dev, bg, 0, grad, fb));
        tt_dev_sgd a = {n,
                        bp,
                        bg,
                        bb,
                        lrs[step],
                        cfg->momentum,
                        cfg->dampening,
                        cfg->weight_decay,
                        cfg->nesterov,
                        step == 0};
        TT_ASSERT_OK(tt_dev_sgd_step_kernel(g_dev, &a));
        download(bp, got, fb);
        assert_same_f32("SGD p", got, tt_graph_param_data(f.g, f.w), n, NULL, true);
        if (bb) {
            float *buf;
            TT_ASSERT_OK(tt_optim_state_get(o, 0, NULL, &buf, NULL));
            download(bb, got, fb);
            assert_same_f32("SGD momentum buffer", got, buf, n, NULL, true);
        }
    }
    free_bufs((tt_dbuf *[]){bp, bg, bb}, bb ? 3 : 2);
    tt_optim_free(o);
    tt_exec_free(f.e);
    tt_graph_free(f.g);
    free(w), free(grad), free(got);
}

/* Plain SGD, momentum, momentum with dampening and weight decay, Nesterov with weight decay. */
static void test_sgd(void **state)
{
    (void)state;
    tt_rng rng;
    tt_rng_seed(&rng, 87, 0);
    float cfg[4][4] = {/* momentum, dampening, weight_decay, nesterov */
                       {0.0f, 0.0f, 0.0f, 0},
                       {0.9f, 0.0f, 0.0f, 0},
                       {0.8f, 0.3f, 0.01f, 0},
                       {0.9f, 0.0f, 5e-4f, 1}};
    static const int64_t sizes[] = {1, 333, 70001};
    for (int c = 0; c < 4; c++)
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
            tt_optim_config oc = tt_optim_defaults(TT_OPTIM_SGD);
            oc.momentum = cfg[c][0];
            oc.dampening = cfg[c][1];
            oc.weight_decay = cfg[c][2];
            oc.nesterov = cfg[c][3] != 0.0f;
            run_sgd(&oc, sizes[i], &rng);
        }
}

/* ---- float32 GEMM: NMSE against OpenBLAS ---- */

/* The device sums each output's k products in order; OpenBLAS blocks and vectorises the sum
 * (and may fuse multiply-adds), so the two differ by rounding. A recursive float32 sum of K
 * terms has an error of about sqrt(K) u |terms| with u = 2^-24 when the rounding errors are
 * independent, i.e. a relative error near u sqrt(K) for zero-mean data and an NMSE near
 * u^2 K = 3.6e-15 K per side: 3.7e-12 at K = 1024, the largest K tested. 1e-10 leaves a factor
 * of 25 for both sides' errors and the alpha / beta roundings; a real bug (a wrong index,
 * transpose or stride, a lost beta term) gives an NMSE of order 1. */
#define SGEMM_NMSE_MAX 1e-10

typedef struct sg_case {
    bool ta, tb;
    int64_t m, n, k, pad; /* pad: extra row stride on every operand */
    float alpha, beta;
    bool integers; /* small integer data: every sum exact, so bit for bit */
} sg_case;

static double nmse(const float *got, const float *want, int64_t n)
{
    double err = 0.0, ref = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)got[i] - (double)want[i];
        err += d * d;
        ref += (double)want[i] * (double)want[i];
    }
    return ref > 0.0 ? err / ref : (err > 0.0 ? INFINITY : 0.0);
}

static void sg_fill(float *x, int64_t n, bool integers, tt_rng *rng)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = integers ? (float)((int)tt_rng_below(rng, 17) - 8) : tt_rng_normal(rng);
}

static double run_sgemm(const sg_case *c, tt_rng *rng)
{
    int64_t ar = c->ta ? c->k : c->m, ac = c->ta ? c->m : c->k;
    int64_t br = c->tb ? c->n : c->k, bc = c->tb ? c->k : c->n;
    int64_t lda = ac + c->pad, ldb = bc + c->pad, ldc = c->n + c->pad;
    lda = lda > 0 ? lda : 1; /* BLAS's minimum, also for K = 0 */
    ldb = ldb > 0 ? ldb : 1;
    int64_t na = ar * lda, nb = br * ldb, nc = c->m * ldc;
    float *a = falloc(na), *b = falloc(nb), *cc = falloc(nc), *ref = falloc(nc), *got = falloc(nc);
    sg_fill(a, na, c->integers, rng);
    sg_fill(b, nb, c->integers, rng);
    sg_fill(cc, nc, c->integers, rng);
    if (c->beta == 0.0f) /* C must not be read */
        for (int64_t i = 0; i < nc; i++) cc[i] = i % 2 ? NAN : INFINITY;
    memcpy(ref, cc, (size_t)nc * sizeof(float));
    tt_backend_cpu()->sgemm(c->ta, c->tb, c->m, c->n, c->k, c->alpha, a, lda, b, ldb, c->beta, ref,
                            ldc);
    tt_dbuf *ba = upload(a, (size_t)na * sizeof(float)),
            *bb = upload(b, (size_t)nb * sizeof(float));
    tt_dbuf *bcc = upload(cc, (size_t)nc * sizeof(float));
    tt_dev_sgemm s = {c->ta, c->tb, c->m, c->n,    c->k, c->alpha, ba,
                      lda,   bb,    ldb,  c->beta, bcc,  ldc};
    TT_ASSERT_OK(tt_dev_sgemm_kernel(g_dev, &s));
    download(bcc, got, (size_t)nc * sizeof(float));
    /* the row padding of C is not output: both sides leave it as it was */
    for (int64_t i = 0; i < c->m; i++)
        for (int64_t j = c->n; j < ldc; j++)
            assert_memory_equal(&got[i * ldc + j], &cc[i * ldc + j], 4);
    double e = 0.0;
    if (c->integers)
        assert_same_f32("sgemm (exact integers)", got, ref, nc, NULL, false);
    else {
        for (int64_t i = 0; i < c->m; i++) /* compact the outputs for the NMSE */
            for (int64_t j = 0; j < c->n; j++) {
                got[i * c->n + j] = got[i * ldc + j];
                ref[i * c->n + j] = ref[i * ldc + j];
            }
        e = nmse(got, ref, c->m * c->n);
        if (!(e <= SGEMM_NMSE_MAX))
            print_error("sgemm ta %d tb %d m %" PRId64 " n %" PRId64 " k %" PRId64
                        ": NMSE %.3g > %.0e\n",
                        c->ta, c->tb, c->m, c->n, c->k, e, SGEMM_NMSE_MAX);
        assert_true(e <= SGEMM_NMSE_MAX);
    }
    free_bufs((tt_dbuf *[]){ba, bb, bcc}, 3);
    free(a), free(b), free(cc), free(ref), free(got);
    return e;
}

/* Every transpose combination on random shapes (K up to 1024), padded strides, alpha and beta
 * including beta 0 over a C full of NaN and inf (which must not be read), then integer data,
 * where both sides are exact and must agree bit for bit. */
static void test_sgemm(void **state)
{
    (void)state;
    tt_rng rng;
    tt_rng_seed(&rng, 88, 0);
    /* (alpha, beta); the integer cases keep to powers of two so that scaling is exact too */
    static const float ab[][2] = {{1.0f, 0.0f}, {0.5f, 1.0f}, {-1.3f, 0.7f}, {2.0f, -0.25f}};
    static const float ab_exact[][2] = {{1.0f, 1.0f}, {0.5f, 0.0f}, {-2.0f, 0.5f}, {0.25f, -1.0f}};
    double worst = 0.0;
    for (int t = 0; t < 24; t++) {
        sg_case c = {.ta = t & 1,
                     .tb = (t >> 1) & 1,
                     .m = 1 + tt_rng_below(&rng, 48),
                     .n = 1 + tt_rng_below(&rng, 48),
                     .k = t % 6 == 5 ? 1024 : 1 + tt_rng_below(&rng, 300),
                     .pad = t % 3 == 0 ? 3 : 0,
                     .alpha = ab[t % 4][0],
                     .beta = ab[(t / 4) % 4][1],
                     .integers = t >= 20};
        if (c.integers) c.alpha = ab_exact[t % 4][0], c.beta = ab_exact[t % 4][1];
        double e = run_sgemm(&c, &rng);
        if (e > worst) worst = e;
    }
    sg_case empty_k = {.m = 5, .n = 7, .k = 0, .alpha = 1.0f, .beta = 0.5f, .integers = true};
    run_sgemm(&empty_k, &rng); /* K = 0: C = beta C */
    print_message("float32 GEMM: worst NMSE against OpenBLAS %.3g (limit %.0e)\n", worst,
                  SGEMM_NMSE_MAX);
}

/* The strided batched GEMM (cuBLAS on CUDA when it loads, the shared kernel otherwise) against
 * OpenBLAS run matrix by matrix, at offsets, with gaps between the batch's matrices, and in
 * reduce mode (the batch summed into one C, as a convolution's weight gradient); the same NMSE
 * bound, K summed over the batch for reduce. */
static void test_sgemm_sb(void **state)
{
    (void)state;
    tt_rng rng;
    tt_rng_seed(&rng, 89, 0);
    double worst = 0.0;
    for (int t = 0; t < 16; t++) {
        bool ta = t & 1, tb = (t >> 1) & 1, reduce = (t >> 2) & 1;
        int64_t m = 1 + tt_rng_below(&rng, 40), n = 1 + tt_rng_below(&rng, 40);
        int64_t k = 1 + tt_rng_below(&rng, 200), batch = 1 + tt_rng_below(&rng, 5);
        float alpha = t % 3 ? 1.0f : 0.75f, beta = t % 4 == 3 ? 0.5f : 0.0f;
        int64_t lda = (ta ? m : k) + 1, ldb = (tb ? k : n) + 2, ldc = n + 1;
        int64_t sa = (ta ? k : m) * lda + 5, sb = (tb ? n : k) * ldb + 3, sc = m * ldc + 7;
        int64_t off = 11, na = off + batch * sa, nb = off + batch * sb, nc = off + batch * sc;
        float *a = falloc(na), *b = falloc(nb), *c0 = falloc(nc), *ref = falloc(nc),
              *got = falloc(nc);
        sg_fill(a, na, false, &rng);
        sg_fill(b, nb, false, &rng);
        sg_fill(c0, nc, false, &rng);
        memcpy(ref, c0, (size_t)nc * sizeof(float));
        for (int64_t i = 0; i < batch; i++)
            tt_backend_cpu()->sgemm(ta, tb, m, n, k, alpha, a + off + i * sa, lda, b + off + i * sb,
                                    ldb, reduce && i > 0 ? 1.0f : beta,
                                    ref + off + (reduce ? 0 : i * sc), ldc);
        tt_dbuf *ba = upload(a, (size_t)na * sizeof(float)),
                *bb = upload(b, (size_t)nb * sizeof(float)),
                *bc = upload(c0, (size_t)nc * sizeof(float));
        tt_dev_sgemm_sb s = {{ta, tb, m, n, k, alpha, ba, lda, bb, ldb, beta, bc, ldc},
                             off,
                             off,
                             off,
                             sa,
                             sb,
                             sc,
                             batch,
                             reduce};
        TT_ASSERT_OK(g_ops->sgemm_sb(g_dev, &s));
        download(bc, got, (size_t)nc * sizeof(float));
        double e = nmse(got, ref, nc);
        if (e > worst) worst = e;
        if (!(e <= SGEMM_NMSE_MAX))
            print_error("batched sgemm ta %d tb %d reduce %d m %" PRId64 " n %" PRId64 " k %" PRId64
                        " batch %" PRId64 ": NMSE %.3g\n",
                        ta, tb, reduce, m, n, k, batch, e);
        assert_true(e <= SGEMM_NMSE_MAX);
        /* outside the outputs nothing moved */
        for (int64_t i = 0; i < off; i++) assert_memory_equal(&got[i], &c0[i], 4);
        s.c_off = nc; /* past the end: refused before anything runs */
        assert_int_equal(g_ops->sgemm_sb(g_dev, &s), TT_ERR_INVALID_ARG);
        free_bufs((tt_dbuf *[]){ba, bb, bc}, 3);
        free(a), free(b), free(c0), free(ref), free(got);
    }
    print_message("batched float32 GEMM (%s): worst NMSE against OpenBLAS %.3g (limit %.0e)\n",
                  g_dev->info.platform, worst, SGEMM_NMSE_MAX);
}

/* ---- errors ---- */

/* Kernels launched by name check their argument lists before anything runs: a short list (on
 * OpenCL it would silently reuse the last launch's arguments), a long one, an unknown name, and
 * on CUDA a wrong type size (cudaFuncGetParamInfo; OpenCL drivers need not check sizes, PoCL
 * does not); then a correct launch still works. */
static void test_launch_checks(void **state)
{
    (void)state;
    float ones[5] = {0};
    tt_dbuf *b = upload(ones, sizeof ones);
    assert_int_equal(TT_DEV_LAUNCH(g_dev, "tt_fill_f32", 5, TT_KBUF(b), TT_KF32(1.0f)),
                     TT_ERR_INVALID_ARG);
    assert_int_equal(
        TT_DEV_LAUNCH(g_dev, "tt_fill_f32", 5, TT_KBUF(b), TT_KF32(1.0f), TT_KI64(5), TT_KI64(5)),
        TT_ERR_INVALID_ARG);
    if (g_dev->info.kind == TT_BACKEND_CUDA)
        assert_int_equal(
            TT_DEV_LAUNCH(g_dev, "tt_fill_f32", 5, TT_KBUF(b), TT_KF32(1.0f), TT_KI32(5)),
            TT_ERR_INVALID_ARG);
    assert_int_not_equal(TT_DEV_LAUNCH(g_dev, "tt_no_such_kernel", 5, TT_KBUF(b)), TT_OK);
    float back[5];
    download(b, back, sizeof back);
    for (int i = 0; i < 5; i++) assert_true(back[i] == 0.0f); /* nothing ran */
    TT_ASSERT_OK(TT_DEV_LAUNCH(g_dev, "tt_fill_f32", 5, TT_KBUF(b), TT_KF32(2.5f), TT_KI64(5)));
    download(b, back, sizeof back);
    for (int i = 0; i < 5; i++) assert_true(back[i] == 2.5f);
    free_bufs((tt_dbuf *[]){b}, 1);
}

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
    assert_int_equal(g_ops->write_at(g_dev, small, 0, bytes, 17), TT_ERR_INVALID_ARG);
    assert_int_equal(g_ops->read_at(g_dev, small, 0, bytes, 17), TT_ERR_INVALID_ARG);
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
    assert_int_equal(tt_dev_qgemm_kernel(g_dev, &a),
                     TT_ERR_INVALID_ARG); /* Y spans 3 * 5 + 3 + 1 bytes */
    assert_non_null(strstr(tt_last_error(), "Y needs 19 elements"));
    a.y_sm = 4;
    a.qmax = 300;
    assert_int_equal(tt_dev_qgemm_kernel(g_dev, &a), TT_ERR_INVALID_ARG);
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
    assert_int_equal(tt_dev_fq_forward_kernel(g_dev, &f), TT_ERR_SHAPE);
    f.channels = 1;
    assert_int_equal(tt_dev_fq_forward_kernel(g_dev, &f), TT_ERR_INVALID_ARG); /* x holds 1 float */
    g_ops->free(g_dev, small);
    g_ops->free(g_dev, bm);
}

/* The training ops' host checks: short buffers, bad sizes and strides, bad hyperparameters. */
static void test_bounds_train(void **state)
{
    (void)state;
    float four[4] = {0};
    tt_dbuf *b4 = upload(four, sizeof four), *b1 = upload(four, sizeof(float));
    assert_int_equal(tt_dev_relu_forward_kernel(g_dev, &(tt_dev_relu){4, b4, b1}),
                     TT_ERR_INVALID_ARG);
    assert_non_null(strstr(tt_last_error(), "y needs 4 elements"));
    assert_int_equal(tt_dev_relu_backward_kernel(g_dev, &(tt_dev_relu_bwd){-1, b4, b4, b4}),
                     TT_ERR_SHAPE);
    assert_int_equal(tt_dev_add_forward_kernel(g_dev, &(tt_dev_add){4, b4, NULL, b4}),
                     TT_ERR_INVALID_ARG);
    assert_int_equal(tt_dev_add_backward_kernel(g_dev, &(tt_dev_add_bwd){4, b4, b4, b1}),
                     TT_ERR_INVALID_ARG);
    TT_ASSERT_OK(tt_dev_add_backward_kernel(g_dev, &(tt_dev_add_bwd){4, b4, NULL, NULL}));
    tt_dev_sgd sgd = {.n = 4, .p = b4, .grad = b4, .lr = 0.1f, .momentum = 0.9f};
    assert_int_equal(tt_dev_sgd_step_kernel(g_dev, &sgd),
                     TT_ERR_INVALID_ARG); /* momentum, no buffer */
    assert_non_null(strstr(tt_last_error(), "momentum buffer"));
    sgd.buf = b4;
    sgd.lr = NAN;
    assert_int_equal(tt_dev_sgd_step_kernel(g_dev, &sgd), TT_ERR_INVALID_ARG);
    sgd.lr = 0.1f;
    sgd.nesterov = true;
    sgd.dampening = 0.1f;
    assert_int_equal(tt_dev_sgd_step_kernel(g_dev, &sgd), TT_ERR_INVALID_ARG);
    sgd.nesterov = false;
    sgd.buf = b1;
    assert_int_equal(tt_dev_sgd_step_kernel(g_dev, &sgd), TT_ERR_INVALID_ARG);
    tt_dev_sgemm g = {false, false, 2, 2, 2, 1.0f, b4, 1, b4, 2, 0.0f, b4, 2};
    assert_int_equal(tt_dev_sgemm_kernel(g_dev, &g), TT_ERR_SHAPE); /* lda 1 < K 2 */
    assert_non_null(strstr(tt_last_error(), "row stride"));
    g.lda = 2;
    g.ldc = 3;
    assert_int_equal(tt_dev_sgemm_kernel(g_dev, &g), TT_ERR_INVALID_ARG); /* C spans 3 + 2 floats */
    assert_non_null(strstr(tt_last_error(), "C needs 5 elements"));
    g.ldc = 2;
    g.ta = true;
    g.m = 3; /* A stored [K 2, M 3] */
    assert_int_equal(tt_dev_sgemm_kernel(g_dev, &g), TT_ERR_SHAPE);
    free_bufs((tt_dbuf *[]){b4, b1}, 2);
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
    if (ops->count(&n) == TT_OK && n > 0 && ops->open(0, &g_dev) != TT_OK) {
        /* a device is there but cannot be opened (kernels that do not build): a failure */
        printf("FAILED: %s device 0 is present but cannot be opened: %s\n", label, tt_last_error());
        return 1;
    }
    if (n == 0 || !g_dev) {
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
        cmocka_unit_test(test_relu),         cmocka_unit_test(test_add),
        cmocka_unit_test(test_sgd),          cmocka_unit_test(test_sgemm),
        cmocka_unit_test(test_sgemm_sb),     cmocka_unit_test(test_launch_checks),
        cmocka_unit_test(test_bounds_train),
    };
    int rc = cmocka_run_group_tests_name(label, tests, NULL, NULL);
    ops->close(g_dev);
    return rc;
}
