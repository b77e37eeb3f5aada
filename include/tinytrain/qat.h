/* Quantisation-aware training: the prepare pass that turns an fp32 model graph into its
 * fake-quantised twin, and the switches the QAT recipe flips between phases (docs/qat.md).
 *
 * The prepared graph holds, for every point that becomes a QuantizeLinear/DequantizeLinear pair
 * in the exported int8 model, a FakeQuant node whose scale, zero point and observer state are
 * ordinary graph parameters ("<point>.q.scale", ".q.zero_point", ".q.min", ".q.max"), so
 * checkpoints carry the qparams with no extra format. */
#ifndef TINYTRAIN_QAT_H
#define TINYTRAIN_QAT_H

#include "tinytrain/config.h"
#include "tinytrain/graph.h"
#include "tinytrain/trainer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Summary of a prepare pass. */
typedef struct tt_qat_summary {
    int weight_points;     /* FakeQuant nodes on weights */
    int activation_points; /* FakeQuant nodes on activations (the model input included) */
    int folded_bn;         /* BatchNormalization nodes folded (or, simulate, fold-simulated) */
} tt_qat_summary;

/* Build *dst, the fake-quantised version of the model graph src (no loss node; input value
 * src_in, output value src_out), following q:
 *  - every Conv/Gemm/MatMul weight gets a per-channel (or per-tensor) weight FakeQuant;
 *  - with learnable_scale, every scale is a trainable parameter (LSQ): the observers set it
 *    during calibration and the optimiser trains it once they are switched off;
 *  - with bn_fold: fold, a BatchNormalization whose input is a Conv/Gemm output with no other
 *    consumer is folded into that layer's weight and bias (running statistics), and removed;
 *    with simulate, it stays: the layer computes with FakeQuant(BnFoldWeight(W)) = the folded
 *    weight the export will hold, its output is scaled back by BnUnfold, and the live BN
 *    follows (PyTorch's ConvBn2d); the quantisation point is after the BN (and its Relu);
 *  - the model input and the output of every Conv, Gemm, MatMul, Add, Mul, pooling-by-average
 *    and activation op get an activation FakeQuant, placed after a following Relu/Clip that is
 *    the value's only consumer (the fusion ONNX Runtime applies); MaxPool, Flatten, Reshape and
 *    Dropout pass quantised values through unchanged.
 * Parameter values are copied from src (folded where BN was folded), so src can be freed after.
 * Fails, naming the node, on an op that QAT does not support. */
tt_status tt_qat_prepare(const tt_graph *src, int src_in, int src_out, const tt_qat_config *q,
                         tt_graph **dst, int *dst_in, int *dst_out, tt_qat_summary *summary);

/* Observers on or off in every FakeQuant node (they only ever update in training forwards). */
void tt_qat_set_observe(tt_graph *g, bool on);
/* Fake quantisation on or off (off: FakeQuant passes values through; calibration uses this). */
void tt_qat_set_fake_quant(tt_graph *g, bool on);
/* BatchNorm statistics frozen (running statistics used and kept) or live, in every
 * BatchNormalization node: simulated folding's freeze_bn_epoch. */
void tt_qat_set_bn_frozen(tt_graph *g, bool on);
/* Number of FakeQuant nodes in g (0 for an fp32 graph). */
int tt_qat_count(const tt_graph *g);

/* ---- The recipe (tinytrain qat) ------------------------------------------------------- */

typedef struct tt_qat_run_opts {
    /* A tiny run for CI that still goes through every phase: 1 fp32 epoch (warm_start
     * ignored), calibration on 64 samples, 2 fine-tune epochs (observers frozen for the
     * second), on the first 2048 training and 1000 test samples. */
    bool smoke;
    bool resume; /* continue an interrupted run from its checkpoints */
    /* NULL or "cpu", "opencl[:N]", "cuda[:N]": every phase (fp32 training, calibration, the
     * fake-quant fine-tune and the evaluations) runs there (tt_trainer_opts.backend). */
    const char *backend;
    int argc; /* recorded in the reports' run_provenance */
    char *const *argv;
    const tt_fit_callbacks *cb; /* progress of each training phase (may be NULL) */
    void (*on_phase)(const char *phase, const char *detail, void *user); /* may be NULL */
    void *user;
} tt_qat_run_opts;

/* How closely the fake-quant model's outputs follow the fp32 model's on the test set. */
typedef struct tt_qat_agreement {
    double plcc;           /* Pearson correlation of all outputs; 1 - plcc is the "PLCC drop" */
    double max_abs_diff;   /* largest |fake-quant - fp32| output difference */
    double top1_agreement; /* classification: percent of samples with the same argmax, else NaN */
} tt_qat_agreement;

typedef struct tt_qat_result {
    tt_eval_result fp32;       /* the warm start on the test set */
    tt_eval_result fake_quant; /* the fine-tuned fake-quant model on the test set */
    tt_qat_agreement vs_fp32;  /* fake-quant outputs against the warm start's */
    int64_t params;            /* trainable parameters of the QAT graph */
    tt_qat_summary summary;
    double fp32_s, calib_s, qat_s; /* phase wall times (0 for a skipped phase) */
    /* The exported pair: <output_dir>/<name>.onnx (the warm start, fp32) and
     * <output_dir>/<name>.int8.onnx (the fine-tuned model as QDQ with its trained qparams). */
    char onnx_fp32[TT_CONFIG_STR_MAX], onnx_int8[TT_CONFIG_STR_MAX];
    char warm_start[TT_CONFIG_STR_MAX];
} tt_qat_result;

/* Run cfg's qat recipe: phase 1 trains the fp32 model into <output_dir>/fp32 (unless
 * qat.warm_start names a checkpoint), then the fake-quant model is prepared from it,
 * calibrated on qat.n_calibration training samples and fine-tuned for qat.epochs_qat epochs
 * at qat.lr_qat into output_dir (checkpoints with qparams, metrics.jsonl, report.json with a
 * "qat" block: fp32 vs fake-quant metrics, output agreement, parameter count, phase timings),
 * and exports the pair <name>.onnx (fp32 warm start) and <name>.int8.onnx (QDQ) beside them. */
tt_status tt_qat_run(const tt_config *cfg, const tt_qat_run_opts *o, tt_qat_result *res);

#ifdef __cplusplus
}
#endif
#endif
