/* Integer GEMM (see qgemm.h): ISA choice, weight packing and the portable C path. */
#include <stdlib.h>
#include <string.h>
#include "autograd/internal.h"
#include "kernels/cpu/qgemm_isa.h"
#include "tinytrain/quant.h"

static const char *const isa_names[TT_QGEMM_ISA_COUNT] = {"c", "avx2", "vnni"};

const char *tt_qgemm_isa_name(tt_qgemm_isa isa)
{
    return (unsigned)isa < TT_QGEMM_ISA_COUNT ? isa_names[isa] : "?";
}

bool tt_qgemm_isa_available(tt_qgemm_isa isa)
{
    switch (isa) {
    case TT_QGEMM_C:
        return true;
#if TT_QGEMM_X86
    case TT_QGEMM_AVX2:
        return __builtin_cpu_supports("avx2");
    case TT_QGEMM_VNNI:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni");
#endif
    default:
        return false;
    }
}

tt_status tt_qgemm_isa_select(tt_qgemm_isa *isa)
{
    TT_CHECK_NULL(isa, "tt_qgemm_isa_select");
    const char *env = getenv("TT_QGEMM_ISA");
    if (env && *env) {
        for (int i = 0; i < TT_QGEMM_ISA_COUNT; i++) {
            if (strcmp(env, isa_names[i]) != 0) continue;
            if (!tt_qgemm_isa_available((tt_qgemm_isa)i))
                return tt_fail(TT_ERR_UNSUPPORTED,
                               "TT_QGEMM_ISA=%s: this CPU (or build) cannot run the %s integer "
                               "kernels; unset it or choose c%s",
                               env, env, tt_qgemm_isa_available(TT_QGEMM_AVX2) ? " or avx2" : "");
            *isa = (tt_qgemm_isa)i;
            return TT_OK;
        }
        return tt_fail(TT_ERR_INVALID_ARG,
                       "TT_QGEMM_ISA=%s is not an integer kernel set; use c, avx2 or vnni (or "
                       "unset it for the best this CPU runs)",
                       env);
    }
    *isa = tt_qgemm_isa_available(TT_QGEMM_VNNI)   ? TT_QGEMM_VNNI
           : tt_qgemm_isa_available(TT_QGEMM_AVX2) ? TT_QGEMM_AVX2
                                                   : TT_QGEMM_C;
    return TT_OK;
}

static size_t round64(size_t b)
{
    return (b + 63) & ~(size_t)63;
}

static size_t c_pack_bytes(int64_t m, int64_t k)
{
    return round64((size_t)(m * k) * sizeof(int16_t));
}

static size_t avx2_pack_bytes(int64_t m, int64_t k)
{
    /* + 4 words read past the end by the thin path */
    return round64((size_t)(tt_qg_ceil(m, TT_QG_AVX2_MR) * TT_QG_AVX2_MR * tt_qg_ceil(k, 2) + 4) *
                   sizeof(int32_t));
}

static size_t vnni_pack_bytes(int64_t m, int64_t k)
{
    return round64((size_t)(tt_qg_ceil(m, TT_QG_VNNI_MR) * TT_QG_VNNI_MR * tt_qg_ceil(k, 4)) *
                   sizeof(int32_t)) +
           round64((size_t)m * sizeof(int32_t));
}

static size_t max3(size_t a, size_t b, size_t c)
{
    size_t m = a > b ? a : b;
    return m > c ? m : c;
}

size_t tt_qgemm_pack_size(int64_t m, int64_t k)
{
    return max3(c_pack_bytes(m, k), avx2_pack_bytes(m, k), vnni_pack_bytes(m, k));
}

size_t tt_qgemm_work_size(int64_t k)
{
    size_t c = round64((size_t)(k * TT_QG_C_NB) * sizeof(int16_t)) +
               round64(TT_QG_C_NB * sizeof(uint32_t));
    /* the regular block [K2][NR], or the thin one [THIN][ceil(K2 / 2)][8] */
    size_t a = round64((size_t)(tt_qg_ceil(k, 2) * TT_QG_AVX2_NR) * sizeof(int32_t));
    size_t t =
        round64((size_t)(TT_QG_AVX2_THIN * tt_qg_ceil(tt_qg_ceil(k, 2), 2) * 8) * sizeof(int32_t));
    a = a > t ? a : t;
    size_t v = round64((size_t)(tt_qg_ceil(k, 4) * TT_QG_VNNI_NR) * sizeof(int32_t));
    return max3(c, a, v);
}

/* Row m of W minus its zero point, k in [k0, k0 + n), as int16 (the loop vectorises for
 * contiguous rows). */
static void row16(const tt_qgemm_wdesc *w, int64_t m, int64_t k0, int64_t n, int16_t *out)
{
    const int32_t zp = w->zp ? w->zp[w->n_zp == 1 ? 0 : m] : 0;
    const int64_t sk = w->sk, at = m * w->sm + k0 * sk;
    if (w->is_signed) {
        const int8_t *p = (const int8_t *)w->data + at;
        for (int64_t i = 0; i < n; i++) out[i] = (int16_t)(p[i * sk] - zp);
    } else {
        const uint8_t *p = (const uint8_t *)w->data + at;
        for (int64_t i = 0; i < n; i++) out[i] = (int16_t)(p[i * sk] - zp);
    }
}

/* Rows are converted in chunks of this many k (a multiple of 4, so pairs and quads never
 * straddle two chunks). */
#define TT_QG_CHUNK 512

static void pack_c(const tt_qgemm_wdesc *w, int16_t *dst)
{
    for (int64_t m = 0; m < w->m; m++) row16(w, m, 0, w->k, dst + m * w->k);
}

/* Word j of a row: its int16 pair (k = 2j, 2j + 1), the even k in the low half. */
static void pack_avx2(const tt_qgemm_wdesc *w, uint32_t *dst)
{
    const int64_t mr = TT_QG_AVX2_MR, k2 = tt_qg_ceil(w->k, 2), nb = tt_qg_ceil(w->m, mr);
    int16_t buf[TT_QG_CHUNK];
    memset(dst, 0, (size_t)(nb * k2 * mr) * sizeof(uint32_t)); /* padding rows and k */
    for (int64_t m = 0; m < w->m; m++) {
        uint32_t *d = dst + (m / mr) * k2 * mr + m % mr;
        for (int64_t k0 = 0; k0 < w->k; k0 += TT_QG_CHUNK) {
            int64_t n = w->k - k0 < TT_QG_CHUNK ? w->k - k0 : TT_QG_CHUNK;
            row16(w, m, k0, n, buf);
            if (n % 2) buf[n] = 0;
            for (int64_t j = 0; 2 * j < n; j++) {
                uint32_t word;
                memcpy(&word, buf + 2 * j, sizeof word); /* little endian: k even is low */
                d[(k0 / 2 + j) * mr] = word;
            }
        }
    }
}

/* VNNI needs every w - zp in int8 (vpdpbusd's signed operand); false, with dst partly
 * written, when one is not. */
static bool pack_vnni(const tt_qgemm_wdesc *w, uint32_t *dst, int32_t *rowsum)
{
    const int64_t mr = TT_QG_VNNI_MR, k4 = tt_qg_ceil(w->k, 4), nb = tt_qg_ceil(w->m, mr);
    int16_t buf[TT_QG_CHUNK + 4];
    memset(dst, 0, (size_t)(nb * k4 * mr) * sizeof(uint32_t));
    for (int64_t m = 0; m < w->m; m++) {
        uint32_t *d = dst + (m / mr) * k4 * mr + m % mr;
        int32_t sum = 0; /* |sum| <= 128 * K: no overflow for any K the tensor cap allows */
        for (int64_t k0 = 0; k0 < w->k; k0 += TT_QG_CHUNK) {
            int64_t n = w->k - k0 < TT_QG_CHUNK ? w->k - k0 : TT_QG_CHUNK;
            row16(w, m, k0, n, buf);
            for (int64_t i = n; i % 4; i++) buf[i] = 0;
            int16_t lo = 0, hi = 0; /* min/max then one test: the loop vectorises */
            for (int64_t i = 0; i < n; i++) {
                lo = buf[i] < lo ? buf[i] : lo;
                hi = buf[i] > hi ? buf[i] : hi;
                sum += buf[i];
            }
            if (lo < -128 || hi > 127) return false;
            for (int64_t j = 0; 4 * j < n; j++) {
                const int16_t *q = buf + 4 * j;
                d[(k0 / 4 + j) * mr] = (uint32_t)(uint8_t)q[0] | (uint32_t)(uint8_t)q[1] << 8 |
                                       (uint32_t)(uint8_t)q[2] << 16 |
                                       (uint32_t)(uint8_t)q[3] << 24;
            }
        }
        rowsum[m] = sum;
    }
    return true;
}

void tt_qgemm_pack(tt_qgemm_isa isa, const tt_qgemm_wdesc *w, void *buf, tt_qgemm_packed *out)
{
    *out = (tt_qgemm_packed){.isa = isa, .m = w->m, .k = w->k, .w = buf, .rowsum = NULL};
    if (isa == TT_QGEMM_VNNI) {
        size_t words =
            (size_t)(tt_qg_ceil(w->m, TT_QG_VNNI_MR) * TT_QG_VNNI_MR * tt_qg_ceil(w->k, 4));
        out->rowsum = (int32_t *)((char *)buf + round64(words * sizeof(uint32_t)));
        if (pack_vnni(w, buf, out->rowsum)) return;
        out->isa = isa = TT_QGEMM_AVX2; /* some w - zp is outside int8 */
        out->rowsum = NULL;
    }
    if (isa == TT_QGEMM_AVX2) {
        pack_avx2(w, buf);
        return;
    }
    out->isa = TT_QGEMM_C;
    pack_c(w, buf);
}

/* The portable path, one block of up to TT_QG_C_NB columns: x - zp into int16, then per row an
 * accumulation over k that compilers vectorise. uint32 arithmetic wraps as the vector paths'
 * int32 adds do (each product fits int32: |x - zp|, |w - zp| <= 255). */
static void c_block(const tt_qgemm_packed *w, const tt_qgemm_xdesc *x, const tt_qgemm_out *y,
                    int64_t n0, int64_t nc, int16_t *xb, uint32_t *acc)
{
    const int64_t k = w->k;
    const int16_t *w16 = w->w;
    for (int64_t kk = 0; kk < k; kk++)
        for (int64_t j = 0; j < nc; j++)
            xb[kk * nc + j] = (int16_t)(tt_qg_x_at(x, kk, n0 + j) - x->zp);
    for (int64_t m = 0; m < w->m; m++) {
        for (int64_t j = 0; j < nc; j++) acc[j] = (uint32_t)tt_qg_bias(y, m);
        for (int64_t kk = 0; kk < k; kk++) {
            const int32_t wv = w16[m * k + kk];
            const int16_t *xr = xb + kk * nc;
            for (int64_t j = 0; j < nc; j++) acc[j] += (uint32_t)(wv * (int32_t)xr[j]);
        }
        const float mult = tt_qg_mult(y, m);
        for (int64_t j = 0; j < nc; j++)
            tt_qg_y_put(y, m, n0 + j,
                        tt_requantize((int32_t)acc[j], mult, y->zp, y->qmin, y->qmax));
    }
}

static void c_cols(const tt_qgemm_packed *w, const tt_qgemm_xdesc *x, const tt_qgemm_out *y,
                   int64_t n0, int64_t n1, void *work)
{
    int16_t *xb = work;
    uint32_t *acc = (uint32_t *)((char *)work + round64((size_t)(w->k * TT_QG_C_NB) * 2));
    for (int64_t n = n0; n < n1; n += TT_QG_C_NB)
        c_block(w, x, y, n, n1 - n < TT_QG_C_NB ? n1 - n : TT_QG_C_NB, xb, acc);
}

void tt_qgemm_cols(const tt_qgemm_packed *w, const tt_qgemm_xdesc *x, const tt_qgemm_out *y,
                   int64_t n0, int64_t n1, void *work)
{
    if (n1 <= n0 || w->m == 0) return;
    switch (w->isa) {
#if TT_QGEMM_X86
    case TT_QGEMM_AVX2:
        tt_qgemm_cols_avx2(w, x, y, n0, n1, work);
        return;
    case TT_QGEMM_VNNI:
        tt_qgemm_cols_vnni(w, x, y, n0, n1, work);
        return;
#endif
    default:
        c_cols(w, x, y, n0, n1, work);
        return;
    }
}
