/* ONNX export: a tinytrain graph (fp32, or fake-quantised by QAT) as an ONNX model that ONNX
 * Runtime loads, and, for QAT graphs, fuses into integer kernels (docs/onnx.md).
 *
 *   fp32  every op as its standard ONNX form; FakeQuant nodes are dropped (identity), simulated
 *         BatchNorm folding is folded, Dropout is dropped.
 *   QDQ   a QAT graph with its trained quantisation parameters, unchanged: every activation
 *         FakeQuant becomes QuantizeLinear -> DequantizeLinear, every weight FakeQuant an int8
 *         initializer -> DequantizeLinear (per-channel axis written), every Conv/Gemm bias an
 *         int32 initializer (scale = input scale x weight scale) -> DequantizeLinear. A Conv
 *         whose input channels are not a multiple of 4 (a 1-channel image) gets them padded
 *         with zero-weight channels (a Pad between its input's Q and DQ): the numbers are
 *         unchanged and ONNX Runtime's fast int8 convolution applies (docs/onnx.md).
 *
 * Files are opset 13 by default (13..21 accepted), IR version of that opset's ONNX release,
 * graph input "input" and output "output" (float32, symbolic batch dimension "N"), no
 * initializers among the inputs, no value_info, and no timestamps: the same graph and options
 * give byte-identical files. Writing is atomic (a temporary file renamed over the path), and
 * nothing is written when the export fails. */
#ifndef TINYTRAIN_ONNX_H
#define TINYTRAIN_ONNX_H

#include <stdbool.h>
#include <stdint.h>
#include "tinytrain/graph.h"
#include "tinytrain/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TT_ONNX_OPSET_DEFAULT 13
#define TT_ONNX_OPSET_MIN     13 /* per-channel QuantizeLinear/DequantizeLinear (axis) */
#define TT_ONNX_OPSET_MAX     21

typedef enum tt_onnx_format {
    TT_ONNX_AUTO = 0, /* QDQ for a graph with FakeQuant nodes (a QAT checkpoint), else fp32 */
    TT_ONNX_FP32,
    TT_ONNX_QDQ,
} tt_onnx_format;

/* Zero-initialised: the defaults. */
typedef struct tt_onnx_export_opts {
    tt_onnx_format format;
    int opset;              /* 0: TT_ONNX_OPSET_DEFAULT */
    const char *graph_name; /* NULL: "tinytrain" (the checkpoint export uses the config name) */
    const char *doc;        /* the model's doc_string; NULL: a line naming tinytrain and format */
    const char *config_sha256; /* stored in metadata_props when not NULL */
    bool no_channel_pad;       /* QDQ: write Conv inputs with their own channel count */
} tt_onnx_export_opts;

/* Export the part of g that computes value output_id from value input_id (an INPUT; anything
 * else, such as a loss and its "target" input, is left out) to path. Fails, naming the node and
 * op, on a node with no ONNX mapping on that path (a loss, a BnUnfold that is not followed by
 * its BatchNormalization, ...); TT_ERR_INVALID_ARG for QDQ of a graph without FakeQuant nodes or
 * an opset out of range; TT_ERR_IO when path cannot be written (an existing file is kept). */
tt_status tt_onnx_export(const tt_graph *g, int input_id, int output_id,
                         const tt_onnx_export_opts *opts, const char *path);

/* Export a tinytrain checkpoint (from fit, or from qat: opts->format TT_ONNX_AUTO picks QDQ
 * for those) to out_path. The graph is rebuilt from the config stored in the checkpoint (the
 * data set is not needed) and the parameters are loaded; the metadata records the config's
 * sha256 and the graph is named after the config. opts may be NULL (defaults). */
tt_status tt_onnx_export_checkpoint(const char *ckpt, const char *out_path,
                                    const tt_onnx_export_opts *opts);

/* What an ONNX file holds, read back (tt_onnx_inspect). */
#define TT_ONNX_INFO_MAX_OPS 32
typedef struct tt_onnx_info {
    int64_t ir_version, opset; /* opset of the default domain */
    int n_nodes, n_initializers, n_inputs, n_outputs;
    int n_int8_initializers, n_int32_initializers;
    int n_op_types; /* distinct op types (at most TT_ONNX_INFO_MAX_OPS are listed) */
    char op_types[TT_ONNX_INFO_MAX_OPS][32];
    int op_counts[TT_ONNX_INFO_MAX_OPS];
} tt_onnx_info;

/* Parse the ONNX file at path (at most 256 MiB) and summarise it. TT_ERR_FORMAT for a file
 * that is not an ONNX model, TT_ERR_IO when it cannot be read. */
tt_status tt_onnx_inspect(const char *path, tt_onnx_info *info);
/* Nodes of op_type in info (0 if none). */
int tt_onnx_info_count(const tt_onnx_info *info, const char *op_type);

/* The IR version written for an opset: that of the ONNX release that introduced the opset
 * (13-14: 7, 15-18: 8, 19-20: 9, 21: 10); 0 for an opset outside 13..21. */
int tt_onnx_ir_version(int opset);

#ifdef __cplusplus
}
#endif
#endif
