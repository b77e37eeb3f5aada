/* Integer GEMM, AVX2 path (see qgemm.h and qgemm_isa.h for the layouts).
 *
 * Both operands are int16 (x - x_zp and w - w_zp, each within [-255, 255]); vpmaddwd multiplies
 * pairs of them and adds each pair into an int32 lane. A pair sum is at most 2 * 255 * 255, so
 * nothing saturates: this is why the path does not use vpmaddubsw, whose int16 pair sums
 * overflow for full-range int8 weights (255 * 127 * 2 > 32767). The tile is 4 rows x 16
 * columns (8 accumulators); one block of 16 packed columns is reused by every row block.
 * The library is built without -mavx2: the target attribute enables it per function and
 * tt_qgemm_isa_available() checks the CPU before anything here runs. */
#include "kernels/cpu/qgemm_isa.h"

#if TT_QGEMM_X86
#include <immintrin.h>

#define TT_AVX2 __attribute__((target("avx2")))

enum { MR = TT_QG_AVX2_MR, NR = TT_QG_AVX2_NR };

/* The int16 pair (x[kk][n] - zp, x[kk + 1][n] - zp) as a word, the even k in the low half; k
 * at or past K reads as 0. */
static int32_t pair_at(const tt_qgemm_xdesc *x, int64_t k, int64_t kk, int64_t n)
{
    if (kk >= k) return 0;
    int32_t lo = tt_qg_x_at(x, kk, n) - x->zp;
    int32_t hi = kk + 1 < k ? tt_qg_x_at(x, kk + 1, n) - x->zp : 0;
    return (int32_t)((uint32_t)(uint16_t)lo | (uint32_t)(uint16_t)hi << 16);
}

/* Columns [n0, n0 + nc) (nc <= NR) as [K2][NR] int16 pairs; missing k and columns are 0.
 * Generic strides, one element at a time: tails and unusual layouts. */
static void pack_x_scalar(const tt_qgemm_xdesc *x, int64_t k, int64_t n0, int64_t nc, int32_t *dst)
{
    for (int64_t j = 0; j < tt_qg_ceil(k, 2); j++)
        for (int64_t c = 0; c < NR; c++)
            dst[j * NR + c] = c < nc ? pair_at(x, k, 2 * j, n0 + c) : 0;
}

TT_AVX2 static inline __m256i widen16(__m128i v, bool is_signed, __m256i zp)
{
    __m256i w = is_signed ? _mm256_cvtepi8_epi16(v) : _mm256_cvtepu8_epi16(v);
    return _mm256_sub_epi16(w, zp);
}

/* Full block of NR columns with unit column stride (an im2col matrix): two rows of 16 bytes
 * become 16 int16 pairs; unpack interleaves within 128-bit lanes, permute restores the order. */
TT_AVX2 static void pack_x_rows(const tt_qgemm_xdesc *x, int64_t k, int64_t n0, int32_t *dst)
{
    const uint8_t *base = (const uint8_t *)x->data + n0;
    const __m256i zp = _mm256_set1_epi16((int16_t)x->zp);
    for (int64_t j = 0; 2 * j < k; j++) {
        __m256i a0 =
            widen16(_mm_loadu_si128((const __m128i *)(base + 2 * j * x->sk)), x->is_signed, zp);
        __m256i a1 = _mm256_setzero_si256();
        if (2 * j + 1 < k)
            a1 = widen16(_mm_loadu_si128((const __m128i *)(base + (2 * j + 1) * x->sk)),
                         x->is_signed, zp);
        __m256i lo = _mm256_unpacklo_epi16(a0, a1), hi = _mm256_unpackhi_epi16(a0, a1);
        _mm256_storeu_si256((__m256i *)(dst + j * NR), _mm256_permute2x128_si256(lo, hi, 0x20));
        _mm256_storeu_si256((__m256i *)(dst + j * NR + 8), _mm256_permute2x128_si256(lo, hi, 0x31));
    }
}

/* Transpose of an 8 x 8 block of 32-bit words. */
TT_AVX2 static inline void transpose8(__m256i r[8])
{
    __m256i t0 = _mm256_unpacklo_epi32(r[0], r[1]), t1 = _mm256_unpackhi_epi32(r[0], r[1]);
    __m256i t2 = _mm256_unpacklo_epi32(r[2], r[3]), t3 = _mm256_unpackhi_epi32(r[2], r[3]);
    __m256i t4 = _mm256_unpacklo_epi32(r[4], r[5]), t5 = _mm256_unpackhi_epi32(r[4], r[5]);
    __m256i t6 = _mm256_unpacklo_epi32(r[6], r[7]), t7 = _mm256_unpackhi_epi32(r[6], r[7]);
    __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
    __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
    __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
    __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
    r[0] = _mm256_permute2x128_si256(u0, u4, 0x20);
    r[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
    r[2] = _mm256_permute2x128_si256(u2, u6, 0x20);
    r[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
    r[4] = _mm256_permute2x128_si256(u0, u4, 0x31);
    r[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
    r[6] = _mm256_permute2x128_si256(u2, u6, 0x31);
    r[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
}

/* Full block of NR columns whose k run contiguously (a Gemm's A[n][k]): 16 bytes of a column
 * are 8 pairs; eight columns at a time are transposed into place. The last k % 16 go one by
 * one. */
TT_AVX2 static void pack_x_cols(const tt_qgemm_xdesc *x, int64_t k, int64_t n0, int32_t *dst)
{
    const __m256i zp = _mm256_set1_epi16((int16_t)x->zp);
    int64_t kv = k / 16 * 16;
    for (int64_t c0 = 0; c0 < NR; c0 += 8)
        for (int64_t kk = 0; kk < kv; kk += 16) {
            __m256i r[8];
            for (int c = 0; c < 8; c++)
                r[c] = widen16(_mm_loadu_si128((const __m128i *)((const uint8_t *)x->data +
                                                                 (n0 + c0 + c) * x->sn + kk)),
                               x->is_signed, zp);
            transpose8(r);
            for (int i = 0; i < 8; i++)
                _mm256_storeu_si256((__m256i *)(dst + (kk / 2 + i) * NR + c0), r[i]);
        }
    for (int64_t j = kv / 2; 2 * j < k; j++)
        for (int64_t c = 0; c < NR; c++) dst[j * NR + c] = pair_at(x, k, 2 * j, n0 + c);
}

static void pack_x(const tt_qgemm_xdesc *x, int64_t k, int64_t n0, int64_t nc, int32_t *dst)
{
    if (nc == NR && x->sn == 1)
        pack_x_rows(x, k, n0, dst);
    else if (nc == NR && x->sk == 1)
        pack_x_cols(x, k, n0, dst);
    else
        pack_x_scalar(x, k, n0, nc, dst);
}

/* The 4 x (8 * nv) tile over all of K; acc[r * 2 + v] is row r, column vector v. Inlined into
 * the two callers below with nv constant, so the accumulators stay in registers. Unrolling
 * the k loop by 4 measured about 10% faster here (fewer loop instructions between the
 * vpmaddwd). */
TT_AVX2 static inline __attribute__((always_inline)) void
kernel_4xn(int64_t k2, const int32_t *wp, const int32_t *xp, __m256i *acc, const int nv)
{
    __m256i c[2 * MR];
    for (int i = 0; i < 2 * MR; i++) c[i] = _mm256_setzero_si256();
    _Pragma("GCC unroll 4") for (int64_t j = 0; j < k2; j++, wp += MR, xp += NR)
    {
        __m256i b0 = _mm256_loadu_si256((const __m256i *)xp), b1 = b0;
        if (nv == 2) b1 = _mm256_loadu_si256((const __m256i *)(xp + 8));
        for (int r = 0; r < MR; r++) {
            __m256i a = _mm256_set1_epi32(wp[r]);
            c[2 * r] = _mm256_add_epi32(c[2 * r], _mm256_madd_epi16(a, b0));
            if (nv == 2) c[2 * r + 1] = _mm256_add_epi32(c[2 * r + 1], _mm256_madd_epi16(a, b1));
        }
    }
    for (int i = 0; i < 2 * MR; i++) acc[i] = c[i];
}

TT_AVX2 static void kernel_4x16(int64_t k2, const int32_t *wp, const int32_t *xp, __m256i *acc)
{
    kernel_4xn(k2, wp, xp, acc, 2);
}

TT_AVX2 static void kernel_4x8(int64_t k2, const int32_t *wp, const int32_t *xp, __m256i *acc)
{
    kernel_4xn(k2, wp, xp, acc, 1);
}

/* tt_requantize on 8 lanes: (float)acc * mult, clamped in float to [qmin - zp, qmax - zp]
 * (max first, so a NaN becomes the lower bound, as tt_quant_round_clamp's first test does),
 * rounded half to even by an explicit rounding mode (not MXCSR's), + zp. The bounds are
 * integers, so clamping before rounding equals clamping after. */
TT_AVX2 static inline __m256i requant8(__m256i acc, __m256 mult, __m256 lo, __m256 hi, __m256i zp)
{
    __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), mult);
    f = _mm256_min_ps(_mm256_max_ps(f, lo), hi);
    f = _mm256_round_ps(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    return _mm256_add_epi32(_mm256_cvttps_epi32(f), zp);
}

/* Store lanes [0, count) of v (values within the output type) at row m, columns n.. . */
TT_AVX2 static inline void store8(const tt_qgemm_out *y, int64_t m, int64_t n, __m256i v, int count)
{
    __m128i p = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    p = y->is_signed ? _mm_packs_epi16(p, p) : _mm_packus_epi16(p, p);
    if (count == 8 && y->sn == 1) {
        _mm_storel_epi64((__m128i *)((uint8_t *)y->data + m * y->sm + n), p);
        return;
    }
    uint8_t b[16];
    _mm_storeu_si128((__m128i *)b, p);
    for (int i = 0; i < count; i++) {
        int32_t v8 = y->is_signed ? (int32_t)(int8_t)b[i] : (int32_t)b[i];
        tt_qg_y_put(y, m, n + i, v8);
    }
}

/* Both vectors of a full row with unit column stride: one pack sequence and one 16-byte
 * store. packs_epi32 interleaves the two inputs by 128-bit lane; the permute puts the four
 * 4-byte groups back in column order. */
TT_AVX2 static inline void store16(const tt_qgemm_out *y, int64_t m, int64_t n, __m256i v0,
                                   __m256i v1)
{
    __m256i p = _mm256_packs_epi32(v0, v1);
    p = y->is_signed ? _mm256_packs_epi16(p, p) : _mm256_packus_epi16(p, p);
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm_storeu_si128((__m128i *)((uint8_t *)y->data + m * y->sm + n), _mm256_castsi256_si128(p));
}

/* Requantise and store the valid rows and columns of one tile. */
TT_AVX2 static void epilogue(const tt_qgemm_out *y, const __m256i *acc, int64_t m0, int64_t rows,
                             int64_t n, int64_t nc)
{
    const __m256 lo = _mm256_set1_ps((float)((int64_t)y->qmin - y->zp));
    const __m256 hi = _mm256_set1_ps((float)((int64_t)y->qmax - y->zp));
    const __m256i zp = _mm256_set1_epi32(y->zp);
    const bool whole = nc == 16 && y->sn == 1;
    for (int64_t r = 0; r < rows; r++) {
        const int64_t m = m0 + r;
        const __m256 mult = _mm256_set1_ps(tt_qg_mult(y, m));
        const __m256i bias = _mm256_set1_epi32(tt_qg_bias(y, m));
        __m256i q0 = requant8(_mm256_add_epi32(acc[r * 2], bias), mult, lo, hi, zp);
        if (whole) {
            __m256i q1 = requant8(_mm256_add_epi32(acc[r * 2 + 1], bias), mult, lo, hi, zp);
            store16(y, m, n, q0, q1);
            continue;
        }
        store8(y, m, n, q0, nc >= 8 ? 8 : (int)nc);
        if (nc > 8) {
            __m256i q1 = requant8(_mm256_add_epi32(acc[r * 2 + 1], bias), mult, lo, hi, zp);
            store8(y, m, n + 8, q1, nc >= 16 ? 8 : (int)(nc - 8));
        }
    }
}

/* Thin blocks (at most TT_QG_AVX2_THIN columns: a Gemm at batch 1, a conv's last few columns)
 * waste most lanes of the 16-column tile. There, one vpmaddwd multiplies 8 packed weight words,
 * i.e. k pairs j and j + 1 of the block's 4 rows (adjacent in the layout), by the column's
 * pairs j and j + 1 each repeated 4 times; the two halves of the accumulator add up to the 4
 * rows' sums. The column side is packed in that repeated form: [column][K2 / 2][8] words, a
 * missing pair j + 1 as 0 (the weight words read there, the next block's or the slack after
 * the last, then add nothing). */
static void pack_x_thin(const tt_qgemm_xdesc *x, int64_t k, int64_t n0, int64_t nc, int32_t *dst)
{
    const int64_t h = tt_qg_ceil(tt_qg_ceil(k, 2), 2);
    for (int64_t c = 0; c < nc; c++)
        for (int64_t j = 0; j < h; j++) {
            int32_t w0 = pair_at(x, k, 4 * j, n0 + c), w1 = pair_at(x, k, 4 * j + 2, n0 + c);
            int32_t *d = dst + (c * h + j) * 8;
            d[0] = d[1] = d[2] = d[3] = w0;
            d[4] = d[5] = d[6] = d[7] = w1;
        }
}

/* Requantise the 4 row sums of one thin column and store the valid rows. */
TT_AVX2 static void thin_store(const tt_qgemm_out *y, __m128i acc, int64_t m0, int64_t rows,
                               int64_t n)
{
    float mult[4] = {0, 0, 0, 0};
    int32_t bias[4] = {0, 0, 0, 0}, out[4];
    for (int64_t r = 0; r < rows; r++) {
        mult[r] = tt_qg_mult(y, m0 + r);
        bias[r] = tt_qg_bias(y, m0 + r);
    }
    __m128 f = _mm_cvtepi32_ps(_mm_add_epi32(acc, _mm_loadu_si128((const __m128i *)bias)));
    f = _mm_mul_ps(f, _mm_loadu_ps(mult));
    f = _mm_max_ps(f, _mm_set1_ps((float)((int64_t)y->qmin - y->zp)));
    f = _mm_min_ps(f, _mm_set1_ps((float)((int64_t)y->qmax - y->zp)));
    f = _mm_round_ps(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm_storeu_si128((__m128i *)out, _mm_add_epi32(_mm_cvttps_epi32(f), _mm_set1_epi32(y->zp)));
    for (int64_t r = 0; r < rows; r++) tt_qg_y_put(y, m0 + r, n, out[r]);
}

TT_AVX2 static void thin_block(const tt_qgemm_packed *w, const tt_qgemm_out *y, const int32_t *xt,
                               int64_t n, int64_t nc)
{
    const int64_t k2 = tt_qg_ceil(w->k, 2), h = tt_qg_ceil(k2, 2), mblocks = tt_qg_ceil(w->m, MR);
    for (int64_t b = 0; b < mblocks; b++) {
        const int32_t *wb = (const int32_t *)w->w + b * k2 * MR;
        const int64_t rows = w->m - b * MR < MR ? w->m - b * MR : MR;
        for (int64_t c = 0; c < nc; c++) {
            const int32_t *xc = xt + c * h * 8;
            __m256i acc = _mm256_setzero_si256();
            for (int64_t j = 0; j < h; j++)
                acc = _mm256_add_epi32(
                    acc, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(wb + j * 8)),
                                           _mm256_loadu_si256((const __m256i *)(xc + j * 8))));
            __m128i s4 =
                _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
            thin_store(y, s4, b * MR, rows, n + c);
        }
    }
}

TT_AVX2 void tt_qgemm_cols_avx2(const tt_qgemm_packed *w, const tt_qgemm_xdesc *x,
                                const tt_qgemm_out *y, int64_t n0, int64_t n1, void *work)
{
    const int64_t k2 = tt_qg_ceil(w->k, 2), mblocks = tt_qg_ceil(w->m, MR);
    const int32_t *wp = w->w;
    int32_t *xp = work;
    __m256i acc[2 * MR];
    for (int64_t n = n0; n < n1; n += NR) {
        const int64_t nc = n1 - n < NR ? n1 - n : NR;
        if (nc <= TT_QG_AVX2_THIN) {
            pack_x_thin(x, w->k, n, nc, xp);
            thin_block(w, y, xp, n, nc);
            continue;
        }
        pack_x(x, w->k, n, nc, xp);
        for (int64_t b = 0; b < mblocks; b++) {
            if (nc > 8)
                kernel_4x16(k2, wp + b * k2 * MR, xp, acc);
            else
                kernel_4x8(k2, wp + b * k2 * MR, xp, acc);
            int64_t rows = w->m - b * MR < MR ? w->m - b * MR : MR;
            epilogue(y, acc, b * MR, rows, n, nc);
        }
    }
}
#endif
