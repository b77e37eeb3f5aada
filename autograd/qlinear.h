/* What QLinearConv, QLinearMatMul and QGemm share: checking their quantisation inputs (scales,
 * zero points, bias, fused_relu), reading them at run time into the integer GEMM's
 * requantisation parameters, and splitting work between threads. */
#ifndef TT_QLINEAR_H
#define TT_QLINEAR_H

#include "autograd/op.h"
#include "kernels/cpu/qgemm.h"
#include "tinytrain/quant.h"

/* Input positions of one op (-1: the op has no such input). */
typedef struct tt_qlinear_layout {
    int x, xs, xzp, w, ws, wzp, ys, yzp, bias;
} tt_qlinear_layout;

/* Infer-time checks of everything but the shapes of x and w: x uint8/int8, w int8/uint8,
 * scales float32 with one element (w_scale: one or m), zero points of their tensor's type with
 * one element (w_zp: one or m; any absent zero point is 0), bias int32 [m], fused_relu 0 or 1.
 * Sets *y_dtype from y_zp (uint8 when absent). */
tt_status tt_qlinear_check(const tt_node *n, const tt_tensor *const *in, const tt_qlinear_layout *l,
                           int64_t m, tt_dtype *y_dtype);

/* Run-time parameters: multiplier[m] and w_zp[m] (expanded per output channel). */
typedef struct tt_qlinear_params {
    float *multiplier; /* [m] */
    int32_t *w_zp;     /* [m] */
    int32_t x_zp, y_zp, qmin, qmax;
    bool x_signed, w_signed, y_signed;
    tt_qgemm_isa isa;
} tt_qlinear_params;

/* Scratch bytes tt_qlinear_read needs for m output channels. */
size_t tt_qlinear_params_bytes(int64_t m);
/* Read the scales and zero points at run time into p, using the scratch at buf: scales must be
 * positive and finite, and so must each multiplier x_scale * w_scale / y_scale. Also selects
 * the kernel ISA (tt_qgemm_isa_select). */
tt_status tt_qlinear_read(const tt_op_ctx *c, const tt_qlinear_layout *l, int64_t m, void *buf,
                          tt_qlinear_params *p);

/* The GEMM's output description for output channels [m0, m0 + rows) of p (bias: the op's
 * int32 bias or NULL); data, sm and sn are the caller's. */
tt_qgemm_out tt_qlinear_out(const tt_qlinear_params *p, const int32_t *bias, int64_t m0,
                            int64_t rows, void *data, int64_t sm, int64_t sn);

/* Threads a node may use: the library's setting, at most TT_QLINEAR_MAX_THREADS (per-thread
 * work buffers are planned in scratch for that many). */
#define TT_QLINEAR_MAX_THREADS 64
int tt_qlinear_threads(void);
/* How many threads fit when each needs per_thread bytes of what is left of the scratch. */
int tt_qlinear_threads_fit(size_t left, size_t per_thread);
int tt_qlinear_thread_id(void);

size_t tt_qlinear_round64(size_t b);

/* The weights packed for the kernel, kept in ctx->saved from one forward to the next: the
 * executor zeroes its buffers once at creation and never again, so the first forward packs and
 * later ones reuse the pack (packing costs O(M * K), over 10% of a batch-1 forward). The pack is
 * redone when the ISA asked for or the weight tensor's data pointer changes. Weights are
 * constants of the model: changing a weight's values in place after the first forward needs a
 * new executor. */
size_t tt_qlinear_saved_bytes(int64_t groups, size_t pack_bytes);
/* groups descriptors in c->saved, packed (groups weight matrices of pack_bytes each, by pack)
 * unless already packed for isa and this weight data. */
typedef void (*tt_qlinear_pack_fn)(const tt_op_ctx *c, const tt_qlinear_params *q, int64_t group,
                                   void *buf, tt_qgemm_packed *out);
const tt_qgemm_packed *tt_qlinear_packs(const tt_op_ctx *c, const tt_qlinear_params *q,
                                        int64_t groups, size_t pack_bytes, const void *w,
                                        tt_qlinear_pack_fn pack);

/* QLinearMatMul (weight b [K, M]) and QGemm (b [M, K]), weight at input 3: Y[N, M] = A[N, K]
 * times the weight, requantised; the batch rows are split between threads. */
size_t tt_qlinear_dense_saved(int64_t m, int64_t k);
size_t tt_qlinear_dense_scratch(int64_t m, int64_t k);
tt_status tt_qlinear_dense_forward(tt_op_ctx *c, const tt_qlinear_layout *l, int64_t m);

/* The float coefficients of QLinearAdd (ORT's AVX2 kernel): y = clamp(round(fma(a, ra, fma(b,
 * rb, k)))) with a, b the stored integers; scales checked (positive, finite) on the way. Shared
 * by the CPU op and the device ops so both requantise with the same bits. */
typedef struct tt_qadd_coef {
    float ra, rb, k;
    int32_t lo, hi; /* output clamp: the type's range, or [c_zp, max] with fused_relu */
    bool sgn;
} tt_qadd_coef;
tt_status tt_qadd_coefs(const tt_node *n, const tt_tensor *const *in, tt_qadd_coef *q);

/* QLinearGlobalAveragePool over planes of hw values: y = clamp(round(sum * mult) + y_zp) with
 * sum over (x - x_zp), mult = x_scale / (y_scale * hw) in float32. */
typedef struct tt_qgap_params {
    float mult;
    int32_t x_zp, y_zp;
    tt_qrange r;
} tt_qgap_params;
tt_status tt_qgap_params_read(const tt_node *n, const tt_tensor *const *in, int64_t hw,
                              tt_qgap_params *p);

/* DynamicQuantizeLinear's uint8 scale and zero point for an input range [lo, hi] (lo <= 0 <=
 * hi, as the op widens it), with ORT's formula and the op's error for a non-finite scale. */
tt_status tt_dynq_qparams(const tt_node *n, float lo, float hi, float *scale, int32_t *zp);

#endif
