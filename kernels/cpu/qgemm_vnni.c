/* Integer GEMM, AVX-512 VNNI path (see qgemm.h and qgemm_isa.h for the layouts).
 *
 * vpdpbusd multiplies four unsigned bytes of the activations by four signed bytes of the
 * weights and adds the four products to an int32 lane without saturating (vpdpbusds is the
 * saturating form, not used). The activations are used raw (int8 data shifted to uint8 by
 * adding 128), so the zero point comes out afterwards: acc - x_zp * sum_k (w - w_zp), with the
 * row sums computed at packing. The tile is 8 rows x 32 columns (16 zmm accumulators).
 *
 * NOT RUN ON THE DEVELOPMENT MACHINE (AMD EPYC without AVX-512): it compiles with gcc 12 and
 * clang 14, and tt_qgemm_isa_available() keeps it off CPUs that lack the features. What runs
 * everywhere is tt_qgemm_cols_vnni_emulated: the same packed layouts (weights, row sums,
 * activation blocks from the same pack functions) and zero-point correction, with vpdpbusd
 * and the vector epilogue replaced by scalar code; the unit tests check it bit for bit. Only
 * the AVX-512 kernel and epilogue themselves are untested there. */
#include "kernels/cpu/qgemm_isa.h"
#include "tinytrain/quant.h"

#if TT_QGEMM_X86
#include <immintrin.h>
#include <string.h>

#define TT_VNNI __attribute__((target("avx2,avx512f,avx512bw,avx512vnni")))

enum { MR = TT_QG_VNNI_MR, NR = TT_QG_VNNI_NR };

/* x as the unsigned byte vpdpbusd reads: int8 data plus 128, uint8 data as is. */
static inline uint32_t x_u8(const tt_qgemm_xdesc *x, int64_t k, int64_t n)
{
    return (uint32_t)(tt_qg_x_at(x, k, n) + (x->is_signed ? 128 : 0));
}

/* Columns [n0, n0 + nc) as [K4][NR] byte quads; missing columns and k are 0 (their weights
 * are 0 too). Generic strides: tails and unusual layouts. */
static void pack_x_scalar(const tt_qgemm_xdesc *x, int64_t k, int64_t n0, int64_t nc, uint32_t *dst)
{
    const int64_t k4 = tt_qg_ceil(k, 4);
    for (int64_t j = 0; j < k4; j++)
        for (int64_t c = 0; c < NR; c++) {
            uint32_t word = 0;
            for (int q = 0; q < 4 && c < nc && 4 * j + q < k; q++)
                word |= x_u8(x, 4 * j + q, n0 + c) << (8 * q);
            dst[j * NR + c] = word;
        }
}

/* Full block with unit column stride (an im2col matrix): four rows of 16 bytes interleave
 * into 16 quads (bytes, then 16-bit pairs), twice per block. SSE2 only, without the AVX-512
 * target, so that the emulated path below runs it on any x86-64. */
static void pack_x_rows(const tt_qgemm_xdesc *x, int64_t k, int64_t n0, uint32_t *dst)
{
    const uint8_t *base = (const uint8_t *)x->data + n0;
    const __m128i flip = _mm_set1_epi8(x->is_signed ? (char)0x80 : 0);
    for (int64_t j = 0; 4 * j < k; j++)
        for (int h = 0; h < NR / 16; h++) {
            __m128i r[4];
            for (int q = 0; q < 4; q++)
                r[q] =
                    4 * j + q < k
                        ? _mm_xor_si128(_mm_loadu_si128(
                                            (const __m128i *)(base + (4 * j + q) * x->sk + 16 * h)),
                                        flip)
                        : _mm_setzero_si128();
            __m128i p01l = _mm_unpacklo_epi8(r[0], r[1]), p01h = _mm_unpackhi_epi8(r[0], r[1]);
            __m128i p23l = _mm_unpacklo_epi8(r[2], r[3]), p23h = _mm_unpackhi_epi8(r[2], r[3]);
            uint32_t *d = dst + j * NR + 16 * h;
            _mm_storeu_si128((__m128i *)d, _mm_unpacklo_epi16(p01l, p23l));
            _mm_storeu_si128((__m128i *)(d + 4), _mm_unpackhi_epi16(p01l, p23l));
            _mm_storeu_si128((__m128i *)(d + 8), _mm_unpacklo_epi16(p01h, p23h));
            _mm_storeu_si128((__m128i *)(d + 12), _mm_unpackhi_epi16(p01h, p23h));
        }
}

/* Full block whose k run contiguously (a Gemm's A[n][k]): each quad is one 32-bit load. */
static void pack_x_cols(const tt_qgemm_xdesc *x, int64_t k, int64_t n0, uint32_t *dst)
{
    const uint32_t flip = x->is_signed ? 0x80808080u : 0;
    const int64_t kq = k / 4;
    for (int64_t c = 0; c < NR; c++) {
        const uint8_t *col = (const uint8_t *)x->data + (n0 + c) * x->sn;
        for (int64_t j = 0; j < kq; j++) {
            uint32_t word;
            memcpy(&word, col + 4 * j, 4);
            dst[j * NR + c] = word ^ flip;
        }
        if (kq * 4 < k) {
            uint32_t word = 0;
            for (int64_t q = 0; kq * 4 + q < k; q++) word |= x_u8(x, kq * 4 + q, n0 + c) << (8 * q);
            dst[kq * NR + c] = word;
        }
    }
}

static void pack_x(const tt_qgemm_xdesc *x, int64_t k, int64_t n0, int64_t nc, uint32_t *dst)
{
    if (nc == NR && x->sn == 1)
        pack_x_rows(x, k, n0, dst);
    else if (nc == NR && x->sk == 1)
        pack_x_cols(x, k, n0, dst);
    else
        pack_x_scalar(x, k, n0, nc, dst);
}

/* The 8 x (16 * NV) tile over all of K; acc[r * 2 + v] is row r, column vector v. */
#define TT_QG_KERNEL(NAME, NV)                                                                     \
    TT_VNNI static void NAME(int64_t k4, const int32_t *wp, const uint32_t *xp, __m512i *acc)      \
    {                                                                                              \
        __m512i c[2 * MR];                                                                         \
        for (int i = 0; i < 2 * MR; i++) c[i] = _mm512_setzero_si512();                            \
        for (int64_t j = 0; j < k4; j++, wp += MR, xp += NR) {                                     \
            __m512i b0 = _mm512_loadu_si512(xp), b1 = b0;                                          \
            if (NV == 2) b1 = _mm512_loadu_si512(xp + 16);                                         \
            for (int r = 0; r < MR; r++) {                                                         \
                __m512i a = _mm512_set1_epi32(wp[r]);                                              \
                c[2 * r] = _mm512_dpbusd_epi32(c[2 * r], b0, a);                                   \
                if (NV == 2) c[2 * r + 1] = _mm512_dpbusd_epi32(c[2 * r + 1], b1, a);              \
            }                                                                                      \
        }                                                                                          \
        for (int i = 0; i < 2 * MR; i++) acc[i] = c[i];                                            \
    }
TT_QG_KERNEL(kernel_8x32, 2)
TT_QG_KERNEL(kernel_8x16, 1)
#undef TT_QG_KERNEL

/* tt_requantize on 16 lanes; see requant8 in qgemm_avx2.c for the order of operations. */
TT_VNNI static inline __m512i requant16(__m512i acc, __m512 mult, __m512 lo, __m512 hi, __m512i zp)
{
    __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), mult);
    f = _mm512_min_ps(_mm512_max_ps(f, lo), hi);
    f = _mm512_roundscale_ps(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    return _mm512_add_epi32(_mm512_cvttps_epi32(f), zp);
}

TT_VNNI static inline void store16(const tt_qgemm_out *y, int64_t m, int64_t n, __m512i v,
                                   int count)
{
    if (y->sn == 1) {
        /* vpmovdb truncates; the values are already within the output type */
        _mm512_mask_cvtepi32_storeu_epi8((uint8_t *)y->data + m * y->sm + n,
                                         (__mmask16)((1u << count) - 1u), v);
        return;
    }
    int32_t b[16];
    _mm512_storeu_si512(b, v);
    for (int i = 0; i < count; i++) tt_qg_y_put(y, m, n + i, b[i]);
}

TT_VNNI static void epilogue(const tt_qgemm_packed *w, const tt_qgemm_out *y, int32_t xzp,
                             const __m512i *acc, int64_t m0, int64_t rows, int64_t n, int64_t nc)
{
    const __m512 lo = _mm512_set1_ps((float)((int64_t)y->qmin - y->zp));
    const __m512 hi = _mm512_set1_ps((float)((int64_t)y->qmax - y->zp));
    const __m512i zp = _mm512_set1_epi32(y->zp);
    for (int64_t r = 0; r < rows; r++) {
        const int64_t m = m0 + r;
        /* bias - x_zp * rowsum, wrapping as the vector adds do */
        uint32_t corr = (uint32_t)tt_qg_bias(y, m) - (uint32_t)xzp * (uint32_t)w->rowsum[m];
        const __m512 mult = _mm512_set1_ps(tt_qg_mult(y, m));
        const __m512i add = _mm512_set1_epi32((int32_t)corr);
        for (int v = 0; v < 2 && 16 * v < nc; v++) {
            __m512i q = requant16(_mm512_add_epi32(acc[r * 2 + v], add), mult, lo, hi, zp);
            int64_t left = nc - 16 * v;
            store16(y, m, n + 16 * v, q, left >= 16 ? 16 : (int)left);
        }
    }
}

/* The scalar stand-in for kernel_8x32 + epilogue: vpdpbusd's four u8 x s8 products per lane,
 * wrapping int32 sums, bias - x_zp * rowsum, tt_requantize. */
static void emulated_tile(const tt_qgemm_packed *w, const tt_qgemm_out *y, int32_t xzp, int64_t k4,
                          const int32_t *wp, const uint32_t *xp, int64_t m0, int64_t rows,
                          int64_t n, int64_t nc)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < nc; c++) {
            uint32_t acc = 0;
            for (int64_t j = 0; j < k4; j++) {
                uint32_t xq = xp[j * NR + c], wq = (uint32_t)wp[j * MR + r];
                for (int q = 0; q < 4; q++)
                    acc += (uint32_t)((int32_t)(uint8_t)(xq >> (8 * q)) *
                                      (int32_t)(int8_t)(uint8_t)(wq >> (8 * q)));
            }
            const int64_t m = m0 + r;
            acc += (uint32_t)tt_qg_bias(y, m) - (uint32_t)xzp * (uint32_t)w->rowsum[m];
            tt_qg_y_put(y, m, n + c,
                        tt_requantize((int32_t)acc, tt_qg_mult(y, m), y->zp, y->qmin, y->qmax));
        }
}

void tt_qgemm_cols_vnni_emulated(const tt_qgemm_packed *w, const tt_qgemm_xdesc *x,
                                 const tt_qgemm_out *y, int64_t n0, int64_t n1, void *work)
{
    const int64_t k4 = tt_qg_ceil(w->k, 4), mblocks = tt_qg_ceil(w->m, MR);
    const int32_t xzp = x->zp + (x->is_signed ? 128 : 0);
    uint32_t *xp = work;
    for (int64_t n = n0; n < n1; n += NR) {
        const int64_t nc = n1 - n < NR ? n1 - n : NR;
        pack_x(x, w->k, n, nc, xp);
        for (int64_t b = 0; b < mblocks; b++) {
            int64_t rows = w->m - b * MR < MR ? w->m - b * MR : MR;
            emulated_tile(w, y, xzp, k4, (const int32_t *)w->w + b * k4 * MR, xp, b * MR, rows, n,
                          nc);
        }
    }
}

TT_VNNI void tt_qgemm_cols_vnni(const tt_qgemm_packed *w, const tt_qgemm_xdesc *x,
                                const tt_qgemm_out *y, int64_t n0, int64_t n1, void *work)
{
    const int64_t k4 = tt_qg_ceil(w->k, 4), mblocks = tt_qg_ceil(w->m, MR);
    const int32_t xzp = x->zp + (x->is_signed ? 128 : 0);
    const int32_t *wp = w->w;
    uint32_t *xp = work;
    __m512i acc[2 * MR];
    for (int64_t n = n0; n < n1; n += NR) {
        const int64_t nc = n1 - n < NR ? n1 - n : NR;
        pack_x(x, w->k, n, nc, xp);
        for (int64_t b = 0; b < mblocks; b++) {
            if (nc > 16)
                kernel_8x32(k4, wp + b * k4 * MR, xp, acc);
            else
                kernel_8x16(k4, wp + b * k4 * MR, xp, acc);
            int64_t rows = w->m - b * MR < MR ? w->m - b * MR : MR;
            epilogue(w, y, xzp, acc, b * MR, rows, n, nc);
        }
    }
}
#endif
