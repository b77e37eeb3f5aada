/* The integer GEMM (kernels/cpu/qgemm.h): every ISA path this CPU runs against a naive int64
 * reference requantised with tt_requantize, bit for bit, on random data (odd K, M and N off
 * every tile size, uint8/int8 activations and outputs, zero points 0/128/255, per-tensor and
 * per-channel multipliers, bias, fused Relu, strided Gemm layouts, weight zero points) and on
 * adversarial data: all-255 activations against +-127 weights with large K, where int16 pair
 * sums (vpmaddubsw) saturate, and multipliers that put many results exactly on .5. Also the
 * ISA selection through TT_QGEMM_ISA and the uint8 im2col with zero-point padding.
 * The VNNI path runs only on a CPU with AVX-512 VNNI (the test says when it is skipped); its
 * packed layouts, row sums and zero-point correction are checked everywhere through
 * tt_qgemm_cols_vnni_emulated, which replaces only the AVX-512 kernel and epilogue. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "testutil.h"
#include "kernels/cpu/qgemm.h"
#include "kernels/cpu/qgemm_isa.h"
#include "tinytrain/quant.h"

typedef struct qg_case {
    const char *what;
    int64_t m, n, k;
    bool x_signed, w_signed, y_signed;
    int32_t x_zp, w_zp, y_zp; /* w_zp: per tensor; per_zp adds a per-row offset */
    bool per_channel_mult, bias, relu, gemm_layout, per_zp;
    float mult_lo, mult_hi; /* multiplier range (log-uniform) */
} qg_case;

typedef struct qg_data {
    void *x, *w, *y, *y_ref;
    float *mult;
    int32_t *bias, *wzp;
    int64_t x_sk, x_sn, w_sm, w_sk, y_sm, y_sn;
} qg_data;

static int32_t qmin_of(bool s)
{
    return s ? -128 : 0;
}

static int32_t qmax_of(bool s)
{
    return s ? 127 : 255;
}

static int32_t get8(const void *p, int64_t i, bool s)
{
    return s ? (int32_t)((const int8_t *)p)[i] : (int32_t)((const uint8_t *)p)[i];
}

static void put8(void *p, int64_t i, bool s, int32_t v)
{
    if (s)
        ((int8_t *)p)[i] = (int8_t)v;
    else
        ((uint8_t *)p)[i] = (uint8_t)v;
}

/* The reference: the exact sum in int64, wrapped to int32 as every path's int32 accumulator
 * does, then the quantisation contract's tt_requantize. */
static void naive(const qg_case *c, const qg_data *d, int32_t qmin, int32_t qmax)
{
    for (int64_t m = 0; m < c->m; m++)
        for (int64_t n = 0; n < c->n; n++) {
            int64_t s = 0;
            for (int64_t k = 0; k < c->k; k++) {
                int64_t xv = get8(d->x, k * d->x_sk + n * d->x_sn, c->x_signed) - c->x_zp;
                int64_t wv = get8(d->w, m * d->w_sm + k * d->w_sk, c->w_signed) - d->wzp[m];
                s += xv * wv;
            }
            if (d->bias) s += d->bias[m];
            int32_t acc = (int32_t)(uint32_t)(uint64_t)s;
            float mult = d->mult[c->per_channel_mult ? m : 0];
            put8(d->y_ref, m * d->y_sm + n * d->y_sn, c->y_signed,
                 tt_requantize(acc, mult, c->y_zp, qmin, qmax));
        }
}

static void fill8(void *p, int64_t n, bool s, tt_rng *rng)
{
    for (int64_t i = 0; i < n; i++) put8(p, i, s, (int32_t)(tt_rng_u32(rng) % 256) + qmin_of(s));
}

static void make_data(const qg_case *c, qg_data *d, tt_rng *rng)
{
    memset(d, 0, sizeof *d);
    d->x = malloc((size_t)(c->k * c->n));
    d->w = malloc((size_t)(c->m * c->k));
    d->y = malloc((size_t)(c->m * c->n));
    d->y_ref = malloc((size_t)(c->m * c->n));
    d->mult = malloc((size_t)c->m * sizeof(float));
    d->wzp = malloc((size_t)c->m * sizeof(int32_t));
    assert_non_null(d->x);
    assert_non_null(d->w);
    assert_non_null(d->y);
    assert_non_null(d->y_ref);
    assert_non_null(d->mult);
    assert_non_null(d->wzp);
    if (c->gemm_layout) { /* A[n][k], W[m][k] as a MatMul's B[k][m], Y[n][m] */
        d->x_sk = 1, d->x_sn = c->k, d->w_sm = 1, d->w_sk = c->m, d->y_sm = 1, d->y_sn = c->m;
    } else { /* im2col: X[k][n], W[m][k], Y[m][n] */
        d->x_sk = c->n, d->x_sn = 1, d->w_sm = c->k, d->w_sk = 1, d->y_sm = c->n, d->y_sn = 1;
    }
    fill8(d->x, c->k * c->n, c->x_signed, rng);
    fill8(d->w, c->m * c->k, c->w_signed, rng);
    double l0 = log(c->mult_lo), l1 = log(c->mult_hi);
    for (int64_t m = 0; m < c->m; m++) {
        double u = (double)tt_rng_u32(rng) / 4294967296.0;
        d->mult[m] = (float)exp(l0 + (l1 - l0) * u);
        d->wzp[m] = c->w_zp + (c->per_zp ? (int32_t)(m % 7) - 3 : 0);
    }
    if (c->bias) {
        d->bias = malloc((size_t)c->m * sizeof(int32_t));
        assert_non_null(d->bias);
        for (int64_t m = 0; m < c->m; m++)
            d->bias[m] = (int32_t)(tt_rng_u32(rng) % 200001) - 100000;
    }
}

static void free_data(qg_data *d)
{
    free(d->x);
    free(d->w);
    free(d->y);
    free(d->y_ref);
    free(d->mult);
    free(d->bias);
    free(d->wzp);
}

/* Run one ISA over the whole matrix, the columns split into three uneven ranges (so blocks
 * start off their alignment), and count differences from the reference. emulate: the VNNI
 * layouts through tt_qgemm_cols_vnni_emulated (runs on any x86-64). */
static int64_t run_isa(tt_qgemm_isa isa, bool emulate, const qg_case *c, qg_data *d,
                       tt_qgemm_isa *ran)
{
    int32_t qmin = qmin_of(c->y_signed), qmax = qmax_of(c->y_signed);
    if (c->relu && c->y_zp > qmin) qmin = c->y_zp;
    naive(c, d, qmin, qmax);
    tt_qgemm_wdesc wd = {.m = c->m,
                         .k = c->k,
                         .data = d->w,
                         .is_signed = c->w_signed,
                         .sm = d->w_sm,
                         .sk = d->w_sk,
                         .zp = d->wzp,
                         .n_zp = c->m};
    void *pack = aligned_alloc(64, tt_qgemm_pack_size(c->m, c->k));
    void *work = aligned_alloc(64, tt_qgemm_work_size(c->k));
    assert_non_null(pack);
    assert_non_null(work);
    tt_qgemm_packed pw;
    tt_qgemm_pack(isa, &wd, pack, &pw);
    *ran = pw.isa;
    tt_qgemm_xdesc xd = {
        .data = d->x, .is_signed = c->x_signed, .sk = d->x_sk, .sn = d->x_sn, .zp = c->x_zp};
    tt_qgemm_out yd = {.data = d->y,
                       .is_signed = c->y_signed,
                       .sm = d->y_sm,
                       .sn = d->y_sn,
                       .multiplier = d->mult,
                       .n_mult = c->per_channel_mult ? c->m : 1,
                       .bias = d->bias,
                       .zp = c->y_zp,
                       .qmin = qmin,
                       .qmax = qmax};
    memset(d->y, 0xa5, (size_t)(c->m * c->n));
    int64_t cuts[4] = {0, c->n / 3, c->n - c->n / 5, c->n};
    for (int i = 0; i < 3; i++) {
#if TT_QGEMM_X86
        if (emulate && pw.isa == TT_QGEMM_VNNI) {
            tt_qgemm_cols_vnni_emulated(&pw, &xd, &yd, cuts[i], cuts[i + 1], work);
            continue;
        }
#endif
        tt_qgemm_cols(&pw, &xd, &yd, cuts[i], cuts[i + 1], work);
    }
    free(pack);
    free(work);
    int64_t bad = 0;
    for (int64_t i = 0; i < c->m * c->n; i++) {
        if (((uint8_t *)d->y)[i] == ((uint8_t *)d->y_ref)[i]) continue;
        if (bad++ < 3)
            print_error("%s [%s%s]: element %lld is %d, expected %d\n", c->what,
                        tt_qgemm_isa_name(isa), emulate ? " emulated" : "", (long long)i,
                        get8(d->y, i, c->y_signed), get8(d->y_ref, i, c->y_signed));
    }
    return bad;
}

/* Every ISA this CPU runs, plus the emulated VNNI path (its weight layout may fall back to
 * AVX2's, which then needs AVX2). */
static int64_t check_all_isas(const qg_case *c, qg_data *d)
{
    int64_t bad = 0;
    tt_qgemm_isa ran;
    for (int i = 0; i < TT_QGEMM_ISA_COUNT; i++) {
        if (!tt_qgemm_isa_available((tt_qgemm_isa)i)) continue;
        bad += run_isa((tt_qgemm_isa)i, false, c, d, &ran);
    }
#if TT_QGEMM_X86
    if (tt_qgemm_isa_available(TT_QGEMM_AVX2)) bad += run_isa(TT_QGEMM_VNNI, true, c, d, &ran);
#endif
    return bad;
}

static const qg_case random_cases[] = {
    /* what, m, n, k, xs, ws, ys, xzp, wzp, yzp, pcm, bias, relu, gemm, per_zp, mlo, mhi */
    {"tiny 1x1x1", 1, 1, 1, false, true, false, 0, 0, 0, false, false, false, false, false, 0.5f,
     0.5f},
    {"odd everything", 13, 37, 27, false, true, false, 128, 0, 128, true, true, false, false, false,
     1e-4f, 1e-2f},
    {"K odd 9, zp 255", 32, 100, 9, false, true, false, 255, 0, 3, true, true, true, false, false,
     1e-3f, 1e-1f},
    {"int8 x and y", 7, 45, 33, true, true, true, -5, 0, -10, true, true, true, false, false, 1e-4f,
     1e-2f},
    {"gemm layout", 10, 65, 301, false, true, false, 7, 0, 200, true, true, false, true, false,
     1e-5f, 1e-3f},
    {"gemm layout, K % 16 == 0", 21, 48, 64, false, true, false, 128, 0, 0, false, false, true,
     true, false, 1e-4f, 1e-2f},
    {"uint8 weights zp 128", 9, 40, 50, false, false, false, 100, 128, 128, true, true, false,
     false, false, 1e-4f, 1e-2f},
    {"int8 weights, per-row zp", 12, 33, 41, false, true, false, 3, 1, 50, true, false, false,
     false, true, 1e-4f, 1e-2f},
    {"big multipliers saturate", 6, 50, 20, false, true, false, 128, 0, 128, true, true, false,
     false, false, 0.1f, 10.0f},
    {"gemm layout, batch 3 (thin)", 13, 3, 301, true, true, false, -3, 0, 5, true, true, true, true,
     false, 1e-5f, 1e-3f},
    {"conv2-like", 64, 196, 288, false, true, false, 0, 0, 0, true, false, true, false, false,
     1e-5f, 1e-3f},
};

static void test_random(void **state)
{
    (void)state;
    tt_rng rng;
    tt_rng_seed(&rng, 6, 0);
    for (size_t i = 0; i < sizeof random_cases / sizeof random_cases[0]; i++) {
        qg_data d;
        make_data(&random_cases[i], &d, &rng);
        int64_t bad = check_all_isas(&random_cases[i], &d);
        free_data(&d);
        if (bad) print_error("%s: %lld mismatches\n", random_cases[i].what, (long long)bad);
        assert_int_equal(bad, 0);
    }
}

/* What a vpmaddubsw-based kernel computes: pairs of u8 x s8 products added in saturating
 * int16, then summed in int32. */
static int32_t saturating_pairs(const uint8_t *x, const int8_t *w, int64_t k)
{
    int32_t s = 0;
    for (int64_t i = 0; i < k; i += 2) {
        int32_t p = x[i] * w[i] + (i + 1 < k ? x[i + 1] * w[i + 1] : 0);
        s += p > 32767 ? 32767 : (p < -32768 ? -32768 : p);
    }
    return s;
}

/* All-255 activations against +-127 weights, K = 4099: every product pair is +-64770, far past
 * int16. Rows mix sign patterns so some sums are large and some cancel; multipliers scale the
 * largest to about the output range so the results are not all saturated. */
static void test_int16_saturation_case(void **state)
{
    (void)state;
    const qg_case c = {.what = "all 255 x +-127, K 4099",
                       .m = 11,
                       .n = 37,
                       .k = 4099,
                       .w_signed = true,
                       .per_channel_mult = true,
                       .mult_lo = 1.0f,
                       .mult_hi = 1.0f};
    qg_data d;
    tt_rng rng;
    tt_rng_seed(&rng, 66, 0);
    make_data(&c, &d, &rng);
    memset(d.x, 255, (size_t)(c.k * c.n));
    int8_t *w = d.w;
    for (int64_t m = 0; m < c.m; m++)
        for (int64_t k = 0; k < c.k; k++) {
            int pattern = (int)(m % 4);
            int8_t v = pattern == 0   ? 127
                       : pattern == 1 ? -127
                       : pattern == 2 ? (k % 2 ? 127 : -127)
                                      : (k % 5 == 0 ? -127 : 127);
            w[m * c.k + k] = v;
        }
    for (int64_t m = 0; m < c.m; m++) d.mult[m] = 200.0f / (255.0f * 127.0f * (float)c.k);
    /* The data really is adversarial: a saturating-int16 kernel gets a different sum. */
    assert_int_not_equal(saturating_pairs(d.x, w, c.k), 255 * 127 * (int32_t)c.k);
    int64_t bad = check_all_isas(&c, &d);
    /* and the exact outputs are not all clamped */
    int distinct = 0;
    for (int64_t i = 1; i < c.m * c.n; i += c.n)
        distinct += ((uint8_t *)d.y_ref)[i] != 0 && ((uint8_t *)d.y_ref)[i] != 255;
    free_data(&d);
    assert_int_equal(bad, 0);
    assert_true(distinct >= 2);
}

/* Multipliers 0.5 and 0.25 with small random accumulators: a large share of (float)acc * mult
 * lands exactly on .5, where round-half-to-even differs from round-half-away. */
static void test_ties(void **state)
{
    (void)state;
    const float mults[] = {0.5f, 0.25f, 1.5f};
    tt_rng rng;
    tt_rng_seed(&rng, 7, 0);
    for (int t = 0; t < 3; t++) {
        const qg_case c = {"ties", 9,     70,   3,      false, true,  false,    128,     0,
                           100,    false, true, t == 2, false, false, mults[t], mults[t]};
        qg_data d;
        make_data(&c, &d, &rng);
        d.mult[0] = mults[t];
        for (int64_t m = 0; m < c.m; m++) d.bias[m] = (int32_t)(tt_rng_u32(&rng) % 101) - 50;
        /* activations near the zero point keep the sums small */
        for (int64_t i = 0; i < c.k * c.n; i++)
            ((uint8_t *)d.x)[i] = (uint8_t)(128 + (int)(tt_rng_u32(&rng) % 9) - 4);
        int64_t bad = check_all_isas(&c, &d);
        /* count the ties the reference saw: there must be some, or the case tests nothing */
        int64_t ties = 0;
        for (int64_t m = 0; m < c.m; m++)
            for (int64_t n = 0; n < c.n; n++) {
                int32_t s = d.bias[m];
                for (int64_t k = 0; k < c.k; k++)
                    s += (((uint8_t *)d.x)[k * c.n + n] - 128) * ((int8_t *)d.w)[m * c.k + k];
                float v = (float)s * mults[t];
                ties += v - floorf(v) == 0.5f;
            }
        free_data(&d);
        assert_int_equal(bad, 0);
        assert_true(ties > 20);
    }
}

/* A weight zero point that takes w - zp outside int8: VNNI cannot use it and packs for AVX2
 * instead; the result is still exact. */
static void test_vnni_fallback(void **state)
{
    (void)state;
    int8_t w[4] = {-128, 0, 5, 127};
    int32_t zp = 10;
    tt_qgemm_wdesc wd = {
        .m = 1, .k = 4, .data = w, .is_signed = true, .sm = 4, .sk = 1, .zp = &zp, .n_zp = 1};
    void *pack = aligned_alloc(64, tt_qgemm_pack_size(1, 4));
    assert_non_null(pack);
    tt_qgemm_packed pw;
    tt_qgemm_pack(TT_QGEMM_VNNI, &wd, pack, &pw);
    assert_int_equal(pw.isa, TT_QGEMM_AVX2);
    zp = 0;
    tt_qgemm_pack(TT_QGEMM_VNNI, &wd, pack, &pw);
    assert_int_equal(pw.isa, TT_QGEMM_VNNI);
    assert_int_equal(pw.rowsum[0], -128 + 0 + 5 + 127);
    free(pack);
    if (!tt_qgemm_isa_available(TT_QGEMM_VNNI))
        print_message("note: this CPU has no AVX-512 VNNI; the VNNI kernels were not run\n");
}

static void test_isa_select(void **state)
{
    (void)state;
    tt_qgemm_isa isa;
    assert_int_equal(unsetenv("TT_QGEMM_ISA"), 0);
    TT_ASSERT_OK(tt_qgemm_isa_select(&isa));
    assert_true(tt_qgemm_isa_available(isa));
    if (tt_qgemm_isa_available(TT_QGEMM_AVX2)) assert_int_not_equal(isa, TT_QGEMM_C);
    assert_int_equal(setenv("TT_QGEMM_ISA", "c", 1), 0);
    TT_ASSERT_OK(tt_qgemm_isa_select(&isa));
    assert_int_equal(isa, TT_QGEMM_C);
    assert_int_equal(setenv("TT_QGEMM_ISA", "sse9", 1), 0);
    assert_int_equal(tt_qgemm_isa_select(&isa), TT_ERR_INVALID_ARG);
    assert_non_null(strstr(tt_last_error(), "TT_QGEMM_ISA=sse9"));
    for (int i = 0; i < TT_QGEMM_ISA_COUNT; i++) {
        assert_int_equal(setenv("TT_QGEMM_ISA", tt_qgemm_isa_name((tt_qgemm_isa)i), 1), 0);
        tt_status s = tt_qgemm_isa_select(&isa);
        assert_int_equal(s, tt_qgemm_isa_available((tt_qgemm_isa)i) ? TT_OK : TT_ERR_UNSUPPORTED);
    }
    assert_int_equal(unsetenv("TT_QGEMM_ISA"), 0);
}

/* im2col_u8 against a direct definition: pad value where the window leaves the image. */
static void test_im2col_u8(void **state)
{
    (void)state;
    /* rows of <= 8, <= 16 and > 16 bytes (one move, one wide move, 8-byte pieces), strided,
     * dilated, and a frame smaller than the padded image (bottom rows never read) */
    const tt_conv_geom geoms[] = {
        /* c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow */
        {2, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1, 5, 6},     /* 6-byte rows */
        {3, 7, 5, 3, 2, 2, 3, 1, 2, 2, 1, 3, 3},     /* strided, dilated */
        {2, 14, 13, 3, 3, 1, 1, 1, 1, 1, 1, 14, 13}, /* 13-byte rows */
        {1, 9, 23, 2, 3, 2, 1, 0, 2, 1, 2, 4, 23},   /* 23-byte rows, dilated */
        {2, 8, 7, 3, 3, 3, 1, 1, 0, 1, 1, 2, 5},     /* bottom rows never read */
    };
    tt_rng rng;
    tt_rng_seed(&rng, 8, 0);
    for (size_t t = 0; t < sizeof geoms / sizeof geoms[0]; t++) {
        const tt_conv_geom *g = &geoms[t];
        int64_t p = g->oh * g->ow, kk = g->c * g->kh * g->kw;
        uint8_t *img = malloc((size_t)(g->c * g->h * g->w)),
                *col = malloc((size_t)(kk * p) + TT_IM2COL_U8_SLACK);
        uint8_t *frame = malloc(tt_im2col_u8_frame_size(g));
        assert_non_null(img);
        assert_non_null(col);
        assert_non_null(frame);
        for (int64_t i = 0; i < g->c * g->h * g->w; i++) img[i] = (uint8_t)tt_rng_u32(&rng);
        tt_im2col_u8(g, img, col, p, 77, frame);
        for (int64_t r = 0; r < kk; r++)
            for (int64_t o = 0; o < p; o++) {
                int64_t c = r / (g->kh * g->kw), ki = r / g->kw % g->kh, kj = r % g->kw;
                int64_t iy = o / g->ow * g->sh - g->ph + ki * g->dh;
                int64_t ix = o % g->ow * g->sw - g->pw + kj * g->dw;
                bool in = iy >= 0 && iy < g->h && ix >= 0 && ix < g->w;
                uint8_t want = in ? img[(c * g->h + iy) * g->w + ix] : 77;
                assert_int_equal(col[r * p + o], want);
            }
        free(img);
        free(col);
        free(frame);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random),     cmocka_unit_test(test_int16_saturation_case),
        cmocka_unit_test(test_ties),       cmocka_unit_test(test_vnni_fallback),
        cmocka_unit_test(test_isa_select), cmocka_unit_test(test_im2col_u8),
    };
    for (int i = 0; i < TT_QGEMM_ISA_COUNT; i++)
        printf("qgemm ISA %s: %s\n", tt_qgemm_isa_name((tt_qgemm_isa)i),
               tt_qgemm_isa_available((tt_qgemm_isa)i) ? "runs here" : "not available, skipped");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
