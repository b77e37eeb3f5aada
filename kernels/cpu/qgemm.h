/* Integer GEMM with requantisation: the kernel under QLinearConv, QLinearMatMul and QGemm.
 *
 *   acc[m][n] = sum_k (x[k][n] - x_zp) * (w[m][k] - w_zp[m])        exact, in int32
 *   y[m][n]   = tt_requantize(acc + bias[m], multiplier[m], y_zp, qmin, qmax)
 *
 * W (the weights, M x K) is int8 or uint8 with a zero point per tensor or per row; X (the
 * activations, K x N) is uint8 or int8 with one zero point; Y is uint8 or int8. Strides are
 * free, so the same call serves an im2col matrix (X[k][n] at k*P + n, Y row-major [M, P]) and
 * a Gemm (X[k][n] = A[n][k], Y[n][m]).
 *
 * Exactness: every code path computes the same int32 accumulator (modulo 2^32, so even a K
 * large enough to overflow int32 wraps identically everywhere) and requantises it exactly as
 * tt_requantize does, so all paths give bit-identical outputs:
 *   - C: portable scalar loops, int16 operands, int32 products (the reference);
 *   - AVX2: operands widened to int16 (zero points subtracted while packing) and multiplied
 *     with vpmaddwd, whose pair sums are at most 2 * 255 * 255: there is no int16 saturation
 *     anywhere (unlike vpmaddubsw, which saturates its pair sums for full-range int8 weights);
 *   - AVX-512 VNNI: vpdpbusd (u8 x s8, four products summed into int32, non-saturating) on the
 *     raw activations, with x_zp * sum_k w[m][k] subtracted afterwards. It needs w - w_zp to fit
 *     int8; weights that do not (an int8 weight with a nonzero zero point) are packed for AVX2.
 *     The development machine has no AVX-512: the VNNI kernel is compiled but has never run;
 *     its packing and zero-point correction are tested through a scalar emulation of the
 *     kernel (qgemm_isa.h).
 * Requantisation clamps in float as tt_quant_round_clamp does and then rounds with an explicit
 * round-to-nearest-even instruction, as tt_round_half_even does whatever MXCSR says (the
 * int-to-float conversion and the product use the current rounding mode, on every path alike
 * and in tt_requantize too).
 *
 * Use: pick an ISA (tt_qgemm_isa_select), pack W once (tt_qgemm_pack), then compute column
 * ranges with tt_qgemm_cols, each calling thread with its own work buffer. */
#ifndef TT_QGEMM_H
#define TT_QGEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kernels/backend.h"
#include "tinytrain/status.h"

typedef enum tt_qgemm_isa {
    TT_QGEMM_C = 0,
    TT_QGEMM_AVX2,
    TT_QGEMM_VNNI, /* AVX-512 F + BW + VNNI */
    TT_QGEMM_ISA_COUNT
} tt_qgemm_isa;

const char *tt_qgemm_isa_name(tt_qgemm_isa isa); /* "c", "avx2", "vnni" */
/* Compiled in and supported by this CPU (and its OS). */
bool tt_qgemm_isa_available(tt_qgemm_isa isa);
/* The ISA the int8 ops use: the environment variable TT_QGEMM_ISA (c, avx2 or vnni) when set,
 * else the best available. An unknown name, or one this CPU cannot run, is an error. */
tt_status tt_qgemm_isa_select(tt_qgemm_isa *isa);

/* The weights: W[m][k] = data[m * sm + k * sk], int8 (is_signed) or uint8, minus zp[m] (n_zp ==
 * m) or zp[0] (n_zp == 1); zp NULL means 0. */
typedef struct tt_qgemm_wdesc {
    int64_t m, k;
    const void *data;
    bool is_signed;
    int64_t sm, sk;
    const int32_t *zp;
    int64_t n_zp;
} tt_qgemm_wdesc;

/* Packed weights. isa is the one the kernel will run: the one asked for, except VNNI falls back
 * to AVX2 when some w - zp is outside [-128, 127]. */
typedef struct tt_qgemm_packed {
    tt_qgemm_isa isa;
    int64_t m, k;
    void *w;         /* ISA-specific layout */
    int32_t *rowsum; /* VNNI: sum over k of (w - zp) per row; NULL otherwise */
} tt_qgemm_packed;

/* Bytes tt_qgemm_pack needs for an m x k weight matrix, enough for any ISA. */
size_t tt_qgemm_pack_size(int64_t m, int64_t k);
/* Pack w for isa (which must be available) into buf (tt_qgemm_pack_size bytes, 64-byte aligned
 * for speed). out keeps pointers into buf. */
void tt_qgemm_pack(tt_qgemm_isa isa, const tt_qgemm_wdesc *w, void *buf, tt_qgemm_packed *out);

/* The activations: X[k][n] = data[k * sk + n * sn], uint8 or int8 (is_signed), zero point zp in
 * the same type's range. */
typedef struct tt_qgemm_xdesc {
    const void *data;
    bool is_signed;
    int64_t sk, sn;
    int32_t zp;
} tt_qgemm_xdesc;

/* The output and its requantisation: Y[m][n] = data[m * sm + n * sn], uint8 or int8
 * (is_signed); multiplier[m] (n_mult == M) or multiplier[0] (n_mult == 1), from
 * tt_requant_multiplier; bias NULL or [M] int32, added to the accumulator; [qmin, qmax] within
 * the output type (a fused Relu raises qmin to zp). */
typedef struct tt_qgemm_out {
    void *data;
    bool is_signed;
    int64_t sm, sn;
    const float *multiplier;
    int64_t n_mult;
    const int32_t *bias;
    int32_t zp, qmin, qmax;
} tt_qgemm_out;

/* Bytes of work buffer one tt_qgemm_cols call needs for this K, for any ISA. */
size_t tt_qgemm_work_size(int64_t k);

/* Columns [n0, n1) of Y. work: tt_qgemm_work_size(k) bytes of the calling thread's own. Single
 * threaded: callers split the columns (or independent GEMMs) between threads. */
void tt_qgemm_cols(const tt_qgemm_packed *w, const tt_qgemm_xdesc *x, const tt_qgemm_out *y,
                   int64_t n0, int64_t n1, void *work);

/* im2col for uint8/int8 data: as tt_im2col, with pad (x's zero point, as a byte) where the
 * window falls in padding, so that padding contributes exactly zero after the zero point is
 * subtracted. col must have TT_IM2COL_U8_SLACK writable bytes of slack after its last row
 * (k * ldc bytes); frame is a work buffer of tt_im2col_u8_frame_size bytes. */
#define TT_IM2COL_U8_SLACK 16
size_t tt_im2col_u8_frame_size(const tt_conv_geom *g);
void tt_im2col_u8(const tt_conv_geom *g, const uint8_t *img, uint8_t *col, int64_t ldc, uint8_t pad,
                  uint8_t *frame);

#endif
