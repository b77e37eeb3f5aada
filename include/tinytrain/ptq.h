/* Post-training quantisation (docs/ptq.md, "tinytrain ptq"): an fp32 ONNX model in, an int8
 * ONNX model out, in one of two modes.
 *
 * TT_PTQ_STATIC: with a calibration set, a QDQ model with the quantisation points, weight and
 * bias handling and numbers of ONNX Runtime's quantize_static (QDQ format). The model is imported
 * (tt_onnx_import), BatchNormalization is folded, and fake-quant points are placed by the QAT
 * prepare pass (tt_qat_prepare) exactly where ORT puts Q/DQ pairs. The float graph then runs on
 * tinytrain's executor over the calibration set, batch by batch; each activation point's tensor
 * feeds one calibrator (tinytrain/calibrator.h). Histogram methods read the set twice (a prescan
 * pass fixes the histogram range, as quantize_static's single histogram over all outputs), so
 * memory does not grow with the number of samples: the set is streamed from the file, one batch
 * at a time. Ranges become scales and zero points with tt_quant_compute_scale_zp; weights are
 * quantised per channel (or per tensor) from their own min/max, symmetric int8, or uint8 as
 * quantize_static's QUInt8 (symmetric per channel, zero point 128, asymmetric per tensor, codes
 * saturated to [0, 255]); a weight scale that would push its bias out of int32 is raised as ORT
 * raises it (int8 weights only, as ORT); the graph is written by tt_onnx_export (QDQ).
 *
 * TT_PTQ_DYNAMIC: no calibration; the model's own ONNX graph rewritten node for node as ONNX
 * Runtime's quantize_dynamic (IntegerOps) writes it: Gemm -> MatMul (+ Add), then every MatMul
 * with a constant B and every Conv -> DynamicQuantizeLinear (uint8 activations, parameters
 * computed at run time) -> MatMulInteger / ConvInteger -> Cast -> Mul by the scales (a Conv bias
 * added back through Reshape + Add), with ORT's node and tensor names, initializer order and
 * topological node order, and weights bit-identical to ORT's: int8 symmetric (zero point 0) or
 * uint8 asymmetric, per tensor, or per column for MatMul with per_channel (ORT keeps Conv weights
 * per tensor). Other nodes, the opsets, inputs, outputs and value_info are kept as they are. */
#ifndef TINYTRAIN_PTQ_H
#define TINYTRAIN_PTQ_H

#include <stdbool.h>
#include <stdint.h>
#include "tinytrain/calibrator.h"
#include "tinytrain/gate.h"
#include "tinytrain/graph.h"
#include "tinytrain/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TT_PTQ_BATCH_DEFAULT 64
#define TT_PTQ_MAX_EXCLUDE   64

typedef enum tt_ptq_mode {
    TT_PTQ_STATIC = 0,
    TT_PTQ_DYNAMIC, /* quantize_dynamic's graph; no calibration set */
} tt_ptq_mode;

/* Start from tt_ptq_defaults() (static) or tt_ptq_dynamic_defaults() and change fields. */
typedef struct tt_ptq_opts {
    tt_ptq_mode mode;
    /* STATIC only: */
    tt_calib_method method; /* MINMAX (ORT's quantize_static default) */
    /* Calibrator options, passed to every point's calibrator as they are: when changing
     * method, set them to tt_calibrator_defaults(method) too (percentile's default histogram
     * is symmetric, the others' not), then adjust (entropy: 2048 bins / 128 quantized bins,
     * percentile 99.999). */
    tt_calibrator_opts calib;
    /* both modes: */
    bool per_tensor;    /* weights: one scale per tensor (default: per output channel; DYNAMIC: per
                         * MatMul column, Conv weights staying per tensor as in ORT) */
    bool activation_s8; /* STATIC: int8 asymmetric activations [-128, 127] (default uint8);
                         * DYNAMIC refuses it: DynamicQuantizeLinear is uint8 only */
    bool weight_u8;     /* uint8 weights (ORT's QUInt8): DYNAMIC asymmetric; STATIC symmetric
                         * per channel (zero point 128, 64 with reduce_range), asymmetric per
                         * tensor; STATIC refuses it with activation_s8, as ORT does */
    bool reduce_range;  /* weights on 7 bits: int8 [-64, 64], uint8 [0, 127] (ORT's) */
    int n_exclude;      /* nodes left in float */
    /* STATIC: ONNX node names (or a node's first output name); DYNAMIC: node names of the
     * rewritten graph (ORT's nodes_to_exclude), a Gemm's name standing for its MatMul */
    const char *const *exclude;
    int64_t batch;       /* STATIC: samples per forward pass; 0: TT_PTQ_BATCH_DEFAULT */
    bool no_channel_pad; /* STATIC: no channel padding of Conv inputs (tt_onnx_export_opts) */
} tt_ptq_opts;

/* mode STATIC, method MINMAX with its calibrator defaults, per channel, u8 activations, s8
 * weights, no reduce_range, nothing excluded, batch TT_PTQ_BATCH_DEFAULT. */
tt_ptq_opts tt_ptq_defaults(void);
/* mode DYNAMIC with quantize_dynamic's defaults: s8 weights per tensor, no reduce_range. */
tt_ptq_opts tt_ptq_dynamic_defaults(void);

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
    /* DYNAMIC (activation_points counts the DynamicQuantizeLinear nodes, weight_points the
     * weights quantised): */
    int dynamic_quantize_nodes, matmul_integer_nodes, conv_integer_nodes;
    int gemm_rewritten; /* Gemm nodes that became MatMul (+ Add) */
    double calib_s, total_s;
} tt_ptq_result;

/* Quantise model_path into out_path (written atomically; nothing is written on failure). STATIC
 * reads the calibration set calib_path (.npz or .h5 holding an array named after the model input,
 * shape [N, per-sample dims of the model input...], float32 or float64); DYNAMIC takes none
 * (calib_path must be NULL). res may be NULL. Failures name the file, array, sample or node
 * concerned:
 *   TT_ERR_UNSUPPORTED  STATIC: weight_u8 with activation_s8, an op the prepare pass cannot
 *                       quantise, an --exclude target that cannot be left in float on its own;
 *                       DYNAMIC: activation_s8,
 *                       an opset below 11, a subgraph, a Conv whose weight is not an
 *                       initializer, an op quantize_dynamic would quantise that tinytrain does
 *                       not (Gather, LSTM, Attention, ...: --exclude it); both: a model the
 *                       importer refuses
 *   TT_ERR_INVALID_ARG  bad options, an --exclude name that is not a node of the model, a
 *                       calibration set with DYNAMIC, a model that is already quantised
 *                       (DYNAMIC)
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
    const char *model, *calibration, *output; /* the paths as given (calibration NULL: none) */
    double wall_s;
} tt_ptq_run;

/* The report, schema "ptq-static-report-v1": sizes and hashes of both files, the settings,
 * the calibration file (path, sha256, bytes, array, samples, shape), per-point ranges, scales
 * and zero points, and run_provenance; or, for mode DYNAMIC, "ptq-dynamic-report-v1": sizes,
 * settings, the nodes made and run_provenance (no calibration: run->calibration is NULL). Sorted
 * keys, 2-space indent, written atomically. */
tt_status tt_ptq_write_report(const char *path, const tt_ptq_opts *opts, const tt_ptq_result *res,
                              const tt_ptq_run *run);

/* ---- tinytrain recommend: the seed's "cheapest mode inside the budget" ---------------------- */

/* The candidates, cheapest first: dynamic (quantize_dynamic's defaults), then static per
 * channel with MinMax, Entropy and Percentile calibration (each with its CLI defaults). */
#define TT_PTQ_CANDIDATES 4

typedef struct tt_ptq_recommend_opts {
    double budget;     /* the gate's budget on drop = 1 - PLCC, 0..1 */
    const char *dir;   /* an existing directory the candidate files are written to */
    tt_gate_opts gate; /* the gate's inputs and runtime mode (zero: its 16 uniform samples) */
} tt_ptq_recommend_opts;

typedef struct tt_ptq_candidate {
    const char *label; /* "dynamic", "static-minmax", "static-entropy", "static-percentile" */
    tt_ptq_opts opts;  /* the settings it was made with */
    char path[4096];   /* DIR/<label>.int8.onnx */
    bool built;        /* quantised (else message says why not) */
    tt_gate_row gate;  /* measured when built: gate.status, gate.m.drop, gate.m.worst_abs */
    int64_t bytes;     /* of the file written */
    bool pass;         /* built and the gate passed */
    char message[1024];
} tt_ptq_candidate;

typedef struct tt_ptq_recommendation {
    int n;
    tt_ptq_candidate c[TT_PTQ_CANDIDATES];
    int chosen;         /* the first (cheapest) passing candidate; -1: none, use QAT */
    int64_t fp32_bytes; /* of the model */
    char fp32_sha256[65];
} tt_ptq_recommendation;

/* Make every candidate of model into o->dir (calib_path: the static candidates' calibration
 * set; NULL leaves them out, with a message) and gate each against the model with
 * tt_gate_pair. Returns TT_OK whatever the candidates' fates (a candidate that cannot be made
 * records why); an error for bad arguments or a model that cannot be read at all. */
tt_status tt_ptq_recommend(const char *model, const char *calib_path,
                           const tt_ptq_recommend_opts *o, tt_ptq_recommendation *r);

/* What the recommend reports record about the run. */
typedef struct tt_ptq_recommend_run {
    int argc;
    char **argv;
    const char *model, *calibration; /* as given */
    const char *out_json, *out_md;   /* NULL when not written */
    bool kept;                       /* the candidate files stay (-o DIR) */
    double wall_s;
} tt_ptq_recommend_run;

/* The table as Markdown, and the JSON report (schema "ptq-recommend-report-v1": the budget, the
 * gate's inputs, every candidate with its settings, file, bytes, size ratio, drop, worst_abs
 * and verdict, the recommendation or null with the advice to use QAT, run_provenance); each
 * written atomically. Write the Markdown first: the JSON records its SHA-256. */
tt_status tt_ptq_recommend_write_md(const char *path, const tt_ptq_recommendation *r,
                                    const tt_ptq_recommend_opts *o,
                                    const tt_ptq_recommend_run *run);
tt_status tt_ptq_recommend_write_json(const char *path, const tt_ptq_recommendation *r,
                                      const tt_ptq_recommend_opts *o,
                                      const tt_ptq_recommend_run *run);

#ifdef __cplusplus
}
#endif
#endif
