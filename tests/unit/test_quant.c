/* Quantisation numerics (tinytrain/quant.h) against golden values from ONNX Runtime: its
 * compute_scale_zp table, its qmin/qmax table, QuantizeLinear's rounding (half to even, after a
 * float32 division), saturation, NaN, the int32 bias rule and requantisation.
 *
 * The compute_scale_zp values were produced with onnxruntime 1.32.0:
 *   python3 -c "import numpy as np; from onnxruntime.quantization.quant_utils import \
 *     compute_scale_zp as c; f=np.float32; i=np.int32; \
 *     zp, s = c(f(-1), f(2), i(-127), i(127), symmetric=True); print(zp, s, s.view(np.uint32))"
 * (one call per row of SCALE_ZP_GOLDEN; the four ORT test_quant_util rows are checked against
 * their closed forms too). The QuantizeLinear rows come from an ORT session running a one-node
 * QuantizeLinear model (opset 13, uint8, scale 0.0123, zero point 77); the generator is
 * in the comment above QL_DIV_TIES. Every comparison here is exact: these are the
 * values the exporter writes and ORT computes, so a one-ulp or one-level difference is a bug. */
#include <fenv.h>
#include <float.h>
#include <math.h>
#include "testutil.h"

static float f32_bits(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static uint32_t bits_f32(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

/* ---- qmin/qmax ---- */

static void qrange_table(void **state)
{
    (void)state;
    static const struct {
        tt_qtype t;
        bool sym, reduce;
        int32_t qmin, qmax;
    } rows[] = {
        {TT_QTYPE_U8, false, false, 0, 255},
        {TT_QTYPE_S8, false, false, -128, 127},
        {TT_QTYPE_U8, true, false, 0, 254},
        {TT_QTYPE_S8, true, false, -127, 127},
        {TT_QTYPE_U8, false, true, 0, 127},
        {TT_QTYPE_S8, false, true, -64, 64},
        /* reduce_range wins over symmetric, as in get_qmin_qmax_for_qType */
        {TT_QTYPE_U8, true, true, 0, 127},
        {TT_QTYPE_S8, true, true, -64, 64},
        {TT_QTYPE_S32, false, false, INT32_MIN, INT32_MAX},
        {TT_QTYPE_S32, true, false, -INT32_MAX, INT32_MAX},
        {TT_QTYPE_S32, false, true, -(1 << 30), 1 << 30},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        tt_qrange r = tt_quant_range(rows[i].t, rows[i].sym, rows[i].reduce);
        assert_int_equal(r.qmin, rows[i].qmin);
        assert_int_equal(r.qmax, rows[i].qmax);
    }
    tt_qrange bad = tt_quant_range((tt_qtype)42, false, false);
    assert_int_equal(bad.qmin, 0);
    assert_int_equal(bad.qmax, 0);
    assert_int_equal(tt_quant_storage_type(0, 255), TT_QTYPE_U8);
    assert_int_equal(tt_quant_storage_type(0, 127), TT_QTYPE_U8);
    assert_int_equal(tt_quant_storage_type(-127, 127), TT_QTYPE_S8);
    assert_int_equal(tt_quant_storage_type(-64, 64), TT_QTYPE_S8);
    assert_int_equal(tt_quant_storage_type(-128, 255), TT_QTYPE_S32);
    assert_string_equal(tt_qtype_name(TT_QTYPE_U8), "uint8");
    assert_string_equal(tt_qtype_name(TT_QTYPE_S8), "int8");
    assert_string_equal(tt_qtype_name(TT_QTYPE_S32), "int32");
}

/* ---- range -> (scale, zero point) ---- */

static const struct {
    float rmin, rmax;
    int32_t qmin, qmax;
    bool sym;
    uint32_t scale_bits;
    int32_t zp;
} SCALE_ZP_GOLDEN[] = {
    /* ORT's own test_quant_util table */
    {-1, 2, -127, 127, true, 0x3c810204u, 0},    /* 2/127 */
    {-1, 2, -127, 127, false, 0x3c418306u, -42}, /* 3/254 */
    {-1, 2, 0, 255, true, 0x3c808081u, 128},     /* 4/255 */
    {-1, 2, 0, 255, false, 0x3c40c0c1u, 85},     /* 3/255 */
    {0, 0, 0, 255, false, 0x3f800000u, 0},       /* empty range: scale 1 */
    {0, 0, -127, 127, true, 0x3f800000u, 0},
    /* below FLT_MIN (the smallest normal, not zero): scale 1, zp 0 */
    {-1e-39f, 1e-39f, 0, 255, false, 0x3f800000u, 0},
    {0, 1e-37f, 0, 255, false, 0x3f800000u, 0},
    /* just above FLT_MIN: kept (3e-36 / 255 = 1.18e-38 > FLT_MIN = 1.175e-38) */
    {0, 3e-36f, 0, 255, false, 0x00801b37u, 0},
    /* ranges that do not include zero are widened to include it */
    {0.5f, 3.0f, 0, 255, false, 0x3c40c0c1u, 0},
    {-4.0f, -1.0f, 0, 255, false, 0x3c808081u, 255},
    {-0.37f, 5.2f, 0, 255, false, 0x3cb2f061u, 17},
    /* 0 - (-1) / (2/255) = 127.5 exactly: the zero point rounds half to even */
    {-1.0f, 1.0f, 0, 255, false, 0x3c008081u, 128},
    {-3.0f, 1.0f, 0, 255, false, 0x3c808081u, 191},
    /* scale 1 and zero points exactly k + 0.5 with k even: half to even, not half away */
    {-126.5f, 128.5f, 0, 255, false, 0x3f800000u, 126},
    {-2.5f, 252.5f, 0, 255, false, 0x3f800000u, 2},
    {-1.5f, 253.5f, -128, 127, false, 0x3f800000u, -126},
    {-0.731f, 0.284f, -127, 127, true, 0x3bbc9c09u, 0},
    /* symmetric on the full int8 range: zp = round(-0.5) = 0 (half to even) */
    {-0.731f, 0.284f, -128, 127, true, 0x3bbbdeb0u, 0},
    {-0.731f, 0.284f, -128, 127, false, 0x3b826df3u, 56},
    /* symmetric uint8 [0, 254]: zero point 127 */
    {-2.0f, 1.0f, 0, 254, true, 0x3c810204u, 127},
    /* reduced ranges */
    {-6.5f, 2.25f, -64, 64, true, 0x3dd00000u, 0},
    {-6.5f, 2.25f, 0, 127, false, 0x3d8d1a34u, 94},
};

static void scale_zp_golden(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof SCALE_ZP_GOLDEN / sizeof SCALE_ZP_GOLDEN[0]; i++) {
        float s = -1;
        int32_t z = -999;
        TT_ASSERT_OK(tt_quant_compute_scale_zp(SCALE_ZP_GOLDEN[i].rmin, SCALE_ZP_GOLDEN[i].rmax,
                                               SCALE_ZP_GOLDEN[i].qmin, SCALE_ZP_GOLDEN[i].qmax,
                                               SCALE_ZP_GOLDEN[i].sym, &s, &z));
        if (bits_f32(s) != SCALE_ZP_GOLDEN[i].scale_bits || z != SCALE_ZP_GOLDEN[i].zp)
            print_error("row %zu: got scale %.9g (0x%08x) zp %d, want 0x%08x zp %d\n", i, (double)s,
                        bits_f32(s), z, SCALE_ZP_GOLDEN[i].scale_bits, SCALE_ZP_GOLDEN[i].zp);
        assert_int_equal(bits_f32(s), SCALE_ZP_GOLDEN[i].scale_bits);
        assert_int_equal(z, SCALE_ZP_GOLDEN[i].zp);
    }
    /* The ORT test rows against their closed forms (double division stored as float). */
    float s;
    int32_t z;
    TT_ASSERT_OK(tt_quant_compute_scale_zp(-1, 2, -127, 127, true, &s, &z));
    assert_true(s == (float)(2.0 / 127.0) && z == 0);
    TT_ASSERT_OK(tt_quant_compute_scale_zp(-1, 2, -127, 127, false, &s, &z));
    assert_true(s == (float)(3.0 / 254.0) && z == -42);
    TT_ASSERT_OK(tt_quant_compute_scale_zp(-1, 2, 0, 255, true, &s, &z));
    assert_true(s == (float)(4.0 / 255.0) && z == 128);
    TT_ASSERT_OK(tt_quant_compute_scale_zp(-1, 2, 0, 255, false, &s, &z));
    assert_true(s == (float)(3.0 / 255.0) && z == 85);
    /* tt_quant_range's symmetric uint8 range gives zero point 127. */
    tt_qrange r = tt_quant_range(TT_QTYPE_U8, true, false);
    TT_ASSERT_OK(tt_quant_compute_scale_zp(-0.3f, 0.9f, r.qmin, r.qmax, true, &s, &z));
    assert_int_equal(z, 127);
}

static void scale_zp_errors(void **state)
{
    (void)state;
    float s;
    int32_t z;
    /* qmin <= 0 <= qmax and qmin < qmax, as ORT requires */
    assert_int_equal(tt_quant_compute_scale_zp(-1, 1, 1, 255, false, &s, &z), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_quant_compute_scale_zp(-1, 1, -128, -1, false, &s, &z), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_quant_compute_scale_zp(-1, 1, 0, 0, false, &s, &z), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_quant_compute_scale_zp(NAN, 1, 0, 255, false, &s, &z), TT_ERR_NUMERIC);
    assert_int_equal(tt_quant_compute_scale_zp(-1, NAN, 0, 255, false, &s, &z), TT_ERR_NUMERIC);
    assert_int_equal(tt_quant_compute_scale_zp(-1, INFINITY, 0, 255, false, &s, &z),
                     TT_ERR_NUMERIC);
    assert_int_equal(tt_quant_compute_scale_zp(-INFINITY, 1, -127, 127, true, &s, &z),
                     TT_ERR_NUMERIC);
    assert_non_null(strstr(tt_last_error(), "Inf"));
    assert_int_equal(tt_quant_compute_scale_zp(-1, 1, 0, 255, false, NULL, &z), TT_ERR_INVALID_ARG);
    /* The widest finite range still gives a finite scale. */
    TT_ASSERT_OK(tt_quant_compute_scale_zp(-FLT_MAX, FLT_MAX, -127, 127, true, &s, &z));
    assert_true(isfinite(s) && z == 0);
}

/* ---- rounding ---- */

static void round_half_even(void **state)
{
    (void)state;
    /* volatile: keep the compiler from folding the calls at compile time */
    static const float in[] = {2.5f,  3.5f,   -2.5f,      -3.5f,      0.5f,        -0.5f,
                               1.5f,  -1.5f,  2.4999998f, 2.5000002f, 0.49999997f, 4194303.5f,
                               1e30f, -1e30f, 8388609.0f, -0.0f,      126.5f,      127.5f};
    static const float want[] = {2.0f,  4.0f,   -2.0f,      -4.0f, 0.0f,   0.0f,
                                 2.0f,  -2.0f,  2.0f,       3.0f,  0.0f,   4194304.0f,
                                 1e30f, -1e30f, 8388609.0f, 0.0f,  126.0f, 128.0f};
    int modes[] = {FE_TONEAREST, FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO};
    int saved = fegetround();
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        /* The result must not depend on the FP environment's rounding mode. */
        assert_int_equal(fesetround(modes[m]), 0);
        for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
            volatile float v = in[i];
            float r = tt_round_half_even(v);
            if (r != want[i])
                print_error("mode %zu: round(%.9g) = %.9g, want %.9g\n", m, (double)in[i],
                            (double)r, (double)want[i]);
            assert_true(r == want[i]);
        }
        volatile float nan_v = NAN, inf_v = INFINITY;
        assert_true(isnan(tt_round_half_even(nan_v)));
        assert_true(tt_round_half_even(inf_v) == INFINITY);
        assert_true(tt_round_half_even(-inf_v) == -INFINITY);
    }
    fesetround(saved);
}

/* ---- quantize / dequantize ---- */

static void quantize_ties_and_saturation(void **state)
{
    (void)state;
    /* scale 1, zero point 0, int8: ties to even in both directions */
    float x[] = {2.5f, 3.5f, -2.5f, -3.5f, 0.5f, -0.5f, 1.5f, -1.5f, 126.5f, -127.5f};
    int8_t want[] = {2, 4, -2, -4, 0, 0, 2, -2, 126, -128};
    int8_t q[10];
    TT_ASSERT_OK(tt_quantize(x, 10, 1.0f, 0, TT_QTYPE_S8, q));
    for (int i = 0; i < 10; i++) assert_int_equal(q[i], want[i]);
    /* the tie is on x / scale: 1.25 / 0.5 = 2.5 -> 2, 1.75 / 0.5 = 3.5 -> 4 */
    float x2[] = {1.25f, 1.75f, -1.25f, -1.75f};
    int8_t want2[] = {2, 4, -2, -4};
    TT_ASSERT_OK(tt_quantize(x2, 4, 0.5f, 0, TT_QTYPE_S8, q));
    for (int i = 0; i < 4; i++) assert_int_equal(q[i], want2[i]);
    /* the zero point is added after rounding: 0.5 -> 0 + 128, 1.5 -> 2 + 128 */
    float x3[] = {0.5f, 1.5f, -0.5f, -1.5f};
    uint8_t uq[4], uwant[] = {128, 130, 128, 126};
    TT_ASSERT_OK(tt_quantize(x3, 4, 1.0f, 128, TT_QTYPE_U8, uq));
    for (int i = 0; i < 4; i++) assert_int_equal(uq[i], uwant[i]);

    /* saturation at both ends of each type, infinities, and NaN -> qmin */
    float xs[] = {300.0f, -5.0f,  255.4f,   255.5f,    -0.5f, -0.6f,
                  1e30f,  -1e30f, INFINITY, -INFINITY, NAN};
    uint8_t usat[11], uwant_sat[] = {255, 0, 255, 255, 0, 0, 255, 0, 255, 0, 0};
    TT_ASSERT_OK(tt_quantize(xs, 11, 1.0f, 0, TT_QTYPE_U8, usat));
    for (int i = 0; i < 11; i++) assert_int_equal(usat[i], uwant_sat[i]);
    float xs8[] = {1000.0f, -1000.0f, 127.49f, -128.5f, -128.51f, INFINITY, -INFINITY, NAN};
    int8_t ssat[8], swant_sat[] = {127, -128, 127, -128, -128, 127, -128, -128};
    TT_ASSERT_OK(tt_quantize(xs8, 8, 1.0f, 0, TT_QTYPE_S8, ssat));
    for (int i = 0; i < 8; i++) assert_int_equal(ssat[i], swant_sat[i]);
    /* int32 saturates at its own bounds (2^31 is exactly representable in float) */
    float x32[] = {3e9f, -3e9f, 2147483648.0f, -2147483648.0f, 1e6f + 0.5f, NAN};
    int32_t q32[6];
    TT_ASSERT_OK(tt_quantize(x32, 6, 1.0f, 0, TT_QTYPE_S32, q32));
    assert_int_equal(q32[0], INT32_MAX);
    assert_int_equal(q32[1], INT32_MIN);
    assert_int_equal(q32[2], INT32_MAX);
    assert_int_equal(q32[3], INT32_MIN);
    assert_int_equal(q32[4], 1000000); /* 1000000.5 -> even */
    assert_int_equal(q32[5], INT32_MIN);
    /* the scalar helpers agree */
    assert_int_equal(tt_quantize_val(NAN, 0.1f, 5, -127, 127), -127);
    assert_int_equal(tt_quantize_val(0.25f, 0.1f, 0, -127, 127), 2); /* 2.5 in float */
    assert_true(tt_fake_quantize_val(1000.0f, 0.5f, 3, -127, 127) == (127 - 3) * 0.5f);
}

/* Ties under float32 division that are not ties under multiplication by the reciprocal:
 * ONNX Runtime (MlasQuantizeLinear) divides, so these tell the two apart. Generator (ORT 1.32):
 *   import numpy as np, onnxruntime as ort
 *   from onnx import helper as h, TensorProto as T
 *   F = np.float32; s = F(0.0123); inv = F(1) / s; xs = []
 *   for k in range(-77, 178):  # first x near (k + .5) * s that is a tie only for x / s
 *       x0 = F((k + .5) * float(s)); c = [x0]; lo = hi = x0
 *       for _ in range(64):
 *           lo = np.nextafter(lo, F(-np.inf)); hi = np.nextafter(hi, F(np.inf)); c += [lo, hi]
 *       for x in c:
 *           if F(x / s) == F(k + .5) and np.rint(F(x * inv)) != np.rint(F(k + .5)):
 *               xs.append(x); break
 *   x = np.array(xs[:8], F)
 *   vi = h.make_tensor_value_info
 *   g = h.make_graph([h.make_node("QuantizeLinear", ["x", "s", "z"], ["y"])], "q",
 *                    [vi("x", T.FLOAT, [8])], [vi("y", T.UINT8, [8])],
 *                    [h.make_tensor("s", T.FLOAT, [], [float(s)]),
 *                     h.make_tensor("z", T.UINT8, [], [77])])
 *   m = h.make_model(g, opset_imports=[h.make_opsetid("", 13)]); m.ir_version = 8
 *   y = ort.InferenceSession(m.SerializeToString()).run(None, {"x": x})[0]
 *   print(x.view(np.uint32), y)
 * QL_ORT are more inputs through the same session: exact ties of both conventions, the range
 * edges, +-0, +-1e30, +-inf and NaN. */
static const struct {
    uint32_t x_bits;
    uint8_t q;
} QL_DIV_TIES[] = {
    {0xbf70e219u, 1},  /* x/s = -76.5; x * (1/s) = -76.50001 would give 0 */
    {0xbf6a95eau, 3},  /* -74.5 */
    {0xbf6449bau, 5},  /* -72.5 */
    {0xbf5dfd8bu, 7},  /* -70.5 */
    {0xbf51652cu, 11}, /* -66.5 */
    {0xbf3e809du, 17}, /* -60.5 */
    {0xbf31e83eu, 21}, /* -56.5 */
    {0xbf254fdfu, 25}, /* -52.5 */
};

static const struct {
    uint32_t x_bits;
    uint8_t q;
} QL_ORT[] = {
    {0xbf7a5460u, 0},   {0xbf740831u, 0},   {0xbcfbe76cu, 75},  {0xbc972474u, 75},
    {0xbbc985f0u, 77},  {0x3bc985f0u, 77},  {0x3c972474u, 79},  {0x3cfbe76cu, 79},
    {0x3d305532u, 81},  {0x3f1f03afu, 127}, {0x400bba5eu, 255}, {0x400c83e4u, 255},
    {0x00000000u, 77},  {0x80000000u, 77},  {0x7149f2cau, 255}, {0xf149f2cau, 0},
    {0x7f800000u, 255}, {0xff800000u, 0},   {0x7fc00000u, 0},   {0x400c1f21u, 255},
    {0xbf727525u, 0},   {0x400c28f6u, 255}, {0xbf733333u, 0},
};

static void quantize_matches_ort_session(void **state)
{
    (void)state;
    const float s = 0.0123f;
    for (size_t i = 0; i < sizeof QL_DIV_TIES / sizeof QL_DIV_TIES[0]; i++) {
        float x = f32_bits(QL_DIV_TIES[i].x_bits);
        uint8_t q;
        TT_ASSERT_OK(tt_quantize(&x, 1, s, 77, TT_QTYPE_U8, &q));
        if (q != QL_DIV_TIES[i].q)
            print_error("x = %.9g: got %d, ORT %d\n", (double)x, q, QL_DIV_TIES[i].q);
        assert_int_equal(q, QL_DIV_TIES[i].q);
    }
    for (size_t i = 0; i < sizeof QL_ORT / sizeof QL_ORT[0]; i++) {
        float x = f32_bits(QL_ORT[i].x_bits);
        uint8_t q;
        TT_ASSERT_OK(tt_quantize(&x, 1, s, 77, TT_QTYPE_U8, &q));
        assert_int_equal(q, QL_ORT[i].q);
    }
}

static void dequantize_and_per_axis(void **state)
{
    (void)state;
    uint8_t uq[] = {0, 128, 255};
    float x[3];
    TT_ASSERT_OK(tt_dequantize(uq, TT_QTYPE_U8, 3, 0.5f, 128, x));
    assert_true(x[0] == -64.0f && x[1] == 0.0f && x[2] == 63.5f);
    int8_t sq[] = {-128, -1, 127};
    TT_ASSERT_OK(tt_dequantize(sq, TT_QTYPE_S8, 3, 0.25f, 0, x));
    assert_true(x[0] == -32.0f && x[1] == -0.25f && x[2] == 31.75f);
    int32_t bq[] = {INT32_MIN, 0, 1000};
    TT_ASSERT_OK(tt_dequantize(bq, TT_QTYPE_S32, 3, 1e-3f, 0, x));
    assert_true(x[0] == (float)INT32_MIN * 1e-3f && x[1] == 0.0f && x[2] == 1000.0f * 1e-3f);

    /* [2 outer, 3 channels, 2 inner]: channel c uses scale[c], zp[c] */
    float w[12] = {0.1f, -0.2f, 1.0f, 2.0f, -3.0f, 0.25f, 0.3f, 0.35f, -1.0f, 40.0f, 0.0f, -0.5f};
    float sc[3] = {0.1f, 0.5f, 0.25f};
    int32_t zp[3] = {0, 0, 0};
    int8_t q[12];
    TT_ASSERT_OK(tt_quantize_axis(w, 2, 3, 2, sc, zp, TT_QTYPE_S8, q));
    for (int i = 0; i < 12; i++) {
        int c = (i / 2) % 3;
        assert_int_equal(q[i], tt_quantize_val(w[i], sc[c], 0, -128, 127));
    }
    assert_int_equal(q[0], 1);
    assert_int_equal(q[3], 4);   /* 2.0 / 0.5 */
    assert_int_equal(q[9], 80);  /* 40 / 0.5 */
    assert_int_equal(q[11], -2); /* -0.5 / 0.25 */
    float back[12];
    TT_ASSERT_OK(tt_dequantize_axis(q, TT_QTYPE_S8, 2, 3, 2, sc, zp, back));
    for (int i = 0; i < 12; i++) {
        int c = (i / 2) % 3;
        assert_true(back[i] == (float)q[i] * sc[c]);
        assert_true(back[i] == tt_fake_quantize_val(w[i], sc[c], 0, -128, 127));
    }
}

static void quantize_errors(void **state)
{
    (void)state;
    float x[2] = {1, 2};
    uint8_t q[2];
    assert_int_equal(tt_quantize(x, 2, 0.0f, 0, TT_QTYPE_U8, q), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_quantize(x, 2, -1.0f, 0, TT_QTYPE_U8, q), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_quantize(x, 2, NAN, 0, TT_QTYPE_U8, q), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_quantize(x, 2, INFINITY, 0, TT_QTYPE_U8, q), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_quantize(x, 2, 1.0f, 256, TT_QTYPE_U8, q), TT_ERR_INVALID_ARG);
    assert_non_null(strstr(tt_last_error(), "zero_point"));
    assert_int_equal(tt_quantize(x, 2, 1.0f, -129, TT_QTYPE_S8, q), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_quantize(x, 2, 1.0f, 0, (tt_qtype)9, q), TT_ERR_UNSUPPORTED);
    assert_int_equal(tt_quantize(NULL, 2, 1.0f, 0, TT_QTYPE_U8, q), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_quantize(x, -1, 1.0f, 0, TT_QTYPE_U8, q), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_dequantize(q, TT_QTYPE_U8, 2, 0.0f, 0, x), TT_ERR_INVALID_ARG);
    TT_ASSERT_OK(tt_quantize(x, 0, 1.0f, 0, TT_QTYPE_U8, q)); /* nothing to do is fine */
}

/* ---- int32 bias and requantisation ---- */

static void bias_int32(void **state)
{
    (void)state;
    /* scale_b = x_scale * w_scale[c] in float32; q = round(b / scale_b) in double, as ORT's
     * quantize_bias_static_impl: 1.0 / (0.1f * 0.01f) = 999.99995 -> 1000,
     * -0.5 / (0.1f * 0.02f) = -249.999988 -> -250, 0.3f / (0.1f * 0.04f) = 74.9999994 -> 75
     * (numpy, float32 inputs, float64 division). */
    float b[3] = {1.0f, -0.5f, 0.3f};
    float ws[3] = {0.01f, 0.02f, 0.04f};
    int32_t q[3];
    TT_ASSERT_OK(tt_quantize_bias(b, 3, 0.1f, ws, 3, q));
    for (int i = 0; i < 3; i++) {
        float sb = tt_quant_bias_scale(0.1f, ws[i]);
        assert_true(sb == 0.1f * ws[i]);
        assert_int_equal(q[i], (int32_t)nearbyint((double)b[i] / (double)sb));
    }
    assert_int_equal(q[0], 1000);
    assert_int_equal(q[1], -250);
    assert_int_equal(q[2], 75);
    /* per-tensor weight scale; exact ties in double round half to even */
    float bt[4] = {2.5f, 3.5f, -2.5f, -3.5f};
    float one = 1.0f;
    int32_t qt[4];
    TT_ASSERT_OK(tt_quantize_bias(bt, 4, 1.0f, &one, 1, qt));
    assert_int_equal(qt[0], 2);
    assert_int_equal(qt[1], 4);
    assert_int_equal(qt[2], -2);
    assert_int_equal(qt[3], -4);
    /* the int32 edge: 2^31 - 128 fits, 2^31 does not */
    float edge[2] = {2147483520.0f, -2147483648.0f};
    TT_ASSERT_OK(tt_quantize_bias(edge, 2, 1.0f, &one, 1, qt));
    assert_int_equal(qt[0], 2147483520);
    assert_int_equal(qt[1], INT32_MIN);
}

static void bias_int32_overflow(void **state)
{
    (void)state;
    /* The failure ORT issues #11415/#21000 trace to: a tiny weight scale pushes b / scale past
     * int32. It is detected, the output saturated, and the message names the element. */
    float b[3] = {0.5f, 1e6f, -1e6f};
    float ws = 1e-6f, one = 1.0f;
    int32_t q[3];
    assert_int_equal(tt_quantize_bias(b, 3, 1e-3f, &ws, 1, q), TT_ERR_NUMERIC);
    assert_int_equal(q[0], 499999959); /* 0.5 / (1e-3f * 1e-6f) = 499999958.63 still fits */
    assert_int_equal(q[1], INT32_MAX);
    assert_int_equal(q[2], INT32_MIN);
    assert_non_null(strstr(tt_last_error(), "bias[1]"));
    assert_non_null(strstr(tt_last_error(), "int32"));
    float big = 2147483648.0f;
    assert_int_equal(tt_quantize_bias(&big, 1, 1.0f, &one, 1, q), TT_ERR_NUMERIC);
    assert_int_equal(q[0], INT32_MAX);
    /* a zero scale (x_scale * w_scale underflows) is refused, not divided by */
    float tiny = 1e-30f;
    assert_int_equal(tt_quantize_bias(b, 1, 1e-20f, &tiny, 1, q), TT_ERR_NUMERIC);
    assert_non_null(strstr(tt_last_error(), "scale"));
    /* argument errors */
    float two[2] = {1, 1};
    assert_int_equal(tt_quantize_bias(b, 3, 1.0f, two, 2, q), TT_ERR_INVALID_ARG);
    assert_int_equal(tt_quantize_bias(NULL, 3, 1.0f, two, 1, q), TT_ERR_INVALID_ARG);
}

static void requantize(void **state)
{
    (void)state;
    /* multiplier in float32: x_scale * w_scale / y_scale */
    float m = tt_requant_multiplier(0.02f, 0.005f, 0.1f);
    assert_true(m == 0.02f * 0.005f / 0.1f);
    /* 1000 * 0.0123 = 12.3 -> 12, + zp 10 */
    assert_int_equal(tt_requantize(1000, 0.0123f, 10, 0, 255), 22);
    /* ties (exact in float): 5 * 0.5 = 2.5 -> 2, 7 * 0.5 = 3.5 -> 4, -5 * 0.5 -> -2 */
    assert_int_equal(tt_requantize(5, 0.5f, 0, -128, 127), 2);
    assert_int_equal(tt_requantize(7, 0.5f, 0, -128, 127), 4);
    assert_int_equal(tt_requantize(-5, 0.5f, 0, -128, 127), -2);
    /* saturation after the zero point */
    assert_int_equal(tt_requantize(100000, 0.01f, 128, 0, 255), 255);
    assert_int_equal(tt_requantize(-100000, 0.01f, 128, 0, 255), 0);
    assert_int_equal(tt_requantize(INT32_MAX, 1.0f, 0, -128, 127), 127);
    assert_int_equal(tt_requantize(INT32_MIN, 1.0f, 0, -128, 127), -128);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(qrange_table),
        cmocka_unit_test(scale_zp_golden),
        cmocka_unit_test(scale_zp_errors),
        cmocka_unit_test(round_half_even),
        cmocka_unit_test(quantize_ties_and_saturation),
        cmocka_unit_test(quantize_matches_ort_session),
        cmocka_unit_test(dequantize_and_per_axis),
        cmocka_unit_test(quantize_errors),
        cmocka_unit_test(bias_int32),
        cmocka_unit_test(bias_int32_overflow),
        cmocka_unit_test(requantize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
