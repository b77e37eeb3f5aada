/* Static post-training quantisation (docs/ptq.md, "tinytrain ptq"): an fp32 ONNX model and a
 * calibration set in, a QDQ ONNX model out, with the quantisation points, weight and bias
 * handling and numbers of ONNX Runtime's quantize_static (QDQ format).
 *
 * The model is imported (tt_onnx_import), BatchNormalization is folded, and fake-quant points
 * are placed by the QAT prepare pass (tt_qat_prepare) exactly where ORT puts Q/DQ pairs. The
 * float graph then runs on tinytrain's executor over the calibration set, batch by batch; each
 * activation point's tensor feeds one calibrator (tinytrain/calibrator.h). Histogram methods
 * read the set twice (a prescan pass fixes the histogram range, as quantize_static's single
 * histogram over all outputs), so memory does not grow with the number of samples: the set is
 * streamed from the file, one batch at a time. Ranges become scales and zero points with
 * tt_quant_compute_scale_zp; weights are quantised symmetric int8 per channel (or per tensor)
 * from their own min/max; a weight scale that would push its bias out of int32 is raised as ORT
 * raises it; the graph is written by tt_onnx_export (QDQ). */
#ifndef TINYTRAIN_PTQ_H
#define TINYTRAIN_PTQ_H

#include <stdbool.h>
#include <stdint.h>
#include "tinytrain/calibrator.h"
#include "tinytrain/graph.h"
#include "tinytrain/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TT_PTQ_BATCH_DEFAULT 64
#define TT_PTQ_MAX_EXCLUDE   64

typedef enum tt_ptq_mode {
    TT_PTQ_STATIC = 0,
    TT_PTQ_DYNAMIC, /* not available yet: refused with TT_ERR_UNSUPPORTED */
} tt_ptq_mode;

/* Start from tt_ptq_defaults() and change fields. */
typedef struct tt_ptq_opts {
    tt_ptq_mode mode;
    tt_calib_method method; /* MINMAX (ORT's quantize_static default) */
    /* Calibrator options, passed to every point's calibrator as they are: when changing
     * method, set them to tt_calibrator_defaults(method) too (percentile's default histogram
     * is symmetric, the others' not), then adjust (entropy: 2048 bins / 128 quantized bins,
     * percentile 99.999). */
    tt_calibrator_opts calib;
    bool per_tensor;            /* weights: one scale per tensor (default: per output channel) */
    bool activation_s8;         /* activations int8 asymmetric [-128, 127] (default uint8) */
    bool weight_u8;             /* uint8 weights: not available, refused */
    bool reduce_range;          /* weights on 7 bits: int8 [-64, 64] (ORT's reduce_range) */
    int n_exclude;              /* nodes left in float */
    const char *const *exclude; /* ONNX node names (or a node's first output name) */
    int64_t batch;              /* samples per forward pass; 0: TT_PTQ_BATCH_DEFAULT */
} tt_ptq_opts;

/* mode STATIC, method MINMAX with its calibrator defaults, per channel, u8 activations, s8
 * weights, no reduce_range, nothing excluded, batch TT_PTQ_BATCH_DEFAULT. */
tt_ptq_opts tt_ptq_defaults(void);

/* One activation quantisation point: the tensor (its name in the input ONNX file, the name
 * ORT's quantize_static gives its QuantizeLinear input), the calibrated range and the
 * parameters written. */
typedef struct tt_ptq_point {
    char tensor[TT_NAME_MAX];
    float rmin, rmax;
    float scale;
    int32_t zero_point;
    int64_t values; /* values the calibrator saw */
} tt_ptq_point;

typedef struct tt_ptq_result {
    int64_t input_bytes, output_bytes; /* the fp32 and the written QDQ file */
    char input_sha256[65], output_sha256[65];
    char calib_sha256[65];
    int64_t calib_bytes;
    char calib_array[TT_NAME_MAX]; /* the array read (the model input's name) */
    int64_t samples;               /* calibration samples */
    int64_t sample_shape[TT_MAX_DIMS];
    int sample_ndim;
    int64_t batches; /* forward passes per calibration pass */
    int passes;      /* 1 (MinMax) or 2 (histogram methods: prescan + update) */
    int weight_points, activation_points, folded_bn;
    int excluded_nodes;         /* nodes left in float by opts.exclude */
    int adjusted_weight_scales; /* weight scales raised so the int32 bias fits (as ORT) */
    int n_points;
    tt_ptq_point *points; /* activation points, in graph order (free with tt_ptq_result_free) */
    double calib_s, total_s;
} tt_ptq_result;

/* Quantise model_path with the calibration set calib_path (.npz or .h5 holding an array named
 * after the model input, shape [N, per-sample dims of the model input...], float32 or float64)
 * into out_path (written atomically). res may be NULL. Failures name the file, array, sample or
 * node concerned:
 *   TT_ERR_UNSUPPORTED  mode DYNAMIC, weight_u8, an op the prepare pass cannot quantise, an
 *                       --exclude target that cannot be left in float on its own
 *   TT_ERR_INVALID_ARG  bad options, an --exclude name that is not a node of the model
 *   TT_ERR_FORMAT       calibration array missing (the message lists the arrays present), an
 *                       unreadable calibration file
 *   TT_ERR_SHAPE        calibration samples of another shape than the model input
 *   TT_ERR_STATE        an empty calibration set (N = 0)
 *   TT_ERR_NUMERIC      NaN or Inf in the calibration data (the sample is named), a bias that
 *                       does not fit int32 even after the weight-scale adjustment */
tt_status tt_ptq_quantize(const char *model_path, const char *calib_path, const char *out_path,
                          const tt_ptq_opts *opts, tt_ptq_result *res);
void tt_ptq_result_free(tt_ptq_result *res);

/* What the report records about the run. */
typedef struct tt_ptq_run {
    int argc;
    char **argv;
    const char *model, *calibration, *output; /* the paths as given */
    double wall_s;
} tt_ptq_run;

/* The report (schema "ptq-static-report-v1"): sizes and hashes of both files, the settings,
 * the calibration file (path, sha256, bytes, array, samples, shape), per-point ranges, scales
 * and zero points, and run_provenance. Sorted keys, 2-space indent, written atomically. */
tt_status tt_ptq_write_report(const char *path, const tt_ptq_opts *opts, const tt_ptq_result *res,
                              const tt_ptq_run *run);

#ifdef __cplusplus
}
#endif
#endif
