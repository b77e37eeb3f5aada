/* Internal to the integer GEMM (qgemm*.c): packed layouts and the per-ISA column loops.
 *
 * Packed weights, as 32-bit words:
 *   C:    int16 w[m][k] - zp, row-major (not words).
 *   AVX2: rows in blocks of TT_QG_AVX2_MR; word (b * K2 + j) * MR + r holds the int16 pair
 *         (w[b*MR + r][2j], w[b*MR + r][2j + 1]) - zp, the even k in the low half; K2 = ceil(K/2).
 *   VNNI: rows in blocks of TT_QG_VNNI_MR; word (b * K4 + j) * MR + r holds the four int8
 *         w[b*MR + r][4j .. 4j + 3] - zp, lowest k in the lowest byte; K4 = ceil(K/4).
 * Rows past M and k past K are zero, so they add nothing. The AVX2 thin path reads 8 words at a
 * time and may read 4 words past the last block: tt_qgemm_pack_size leaves slack for it. The
 * activations are packed per block of NR columns in the matching form ([K2][NR] int16 pairs of x -
 * x_zp; [K4][NR] byte quads of raw x, int8 flipped to uint8 by adding 128), inside the column
 * loops. */
#ifndef TT_QGEMM_ISA_H
#define TT_QGEMM_ISA_H

#include "kernels/cpu/qgemm.h"

#if defined(__x86_64__) || defined(__i386__)
#define TT_QGEMM_X86 1
#else
#define TT_QGEMM_X86 0
#endif

#define TT_QG_AVX2_MR   4
#define TT_QG_AVX2_NR   16
#define TT_QG_AVX2_THIN 4 /* blocks of at most this many columns take the thin path */
#define TT_QG_VNNI_MR   8
#define TT_QG_VNNI_NR   32
#define TT_QG_C_NB      64 /* columns per block in the C path */

static inline int64_t tt_qg_ceil(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

/* One element of X as a signed value (int8 data, or uint8 data 0..255). */
static inline int32_t tt_qg_x_at(const tt_qgemm_xdesc *x, int64_t k, int64_t n)
{
    int64_t i = k * x->sk + n * x->sn;
    return x->is_signed ? (int32_t)((const int8_t *)x->data)[i]
                        : (int32_t)((const uint8_t *)x->data)[i];
}

/* Store one requantised value (already within [qmin, qmax]). */
static inline void tt_qg_y_put(const tt_qgemm_out *y, int64_t m, int64_t n, int32_t v)
{
    int64_t i = m * y->sm + n * y->sn;
    if (y->is_signed)
        ((int8_t *)y->data)[i] = (int8_t)v;
    else
        ((uint8_t *)y->data)[i] = (uint8_t)v;
}

static inline float tt_qg_mult(const tt_qgemm_out *y, int64_t m)
{
    return y->multiplier[y->n_mult == 1 ? 0 : m];
}

static inline int32_t tt_qg_bias(const tt_qgemm_out *y, int64_t m)
{
    return y->bias ? y->bias[m] : 0;
}

#if TT_QGEMM_X86
void tt_qgemm_cols_avx2(const tt_qgemm_packed *w, const tt_qgemm_xdesc *x, const tt_qgemm_out *y,
                        int64_t n0, int64_t n1, void *work);
void tt_qgemm_cols_vnni(const tt_qgemm_packed *w, const tt_qgemm_xdesc *x, const tt_qgemm_out *y,
                        int64_t n0, int64_t n1, void *work);
/* For tests on CPUs without VNNI: tt_qgemm_cols_vnni with the AVX-512 kernel and epilogue
 * replaced by scalar code, on the same packed data (w packed for TT_QGEMM_VNNI). */
void tt_qgemm_cols_vnni_emulated(const tt_qgemm_packed *w, const tt_qgemm_xdesc *x,
                                 const tt_qgemm_out *y, int64_t n0, int64_t n1, void *work);
#endif

#endif
