/* ONNX import and the inference runtime (docs/runtime.md).
 *
 * Import reads an ONNX file (tinytrain's own exports, PyTorch exports of MLPs and CNNs, ORT's
 * quantize_static / quantize_dynamic outputs) into the graph IR. The runtime plans that graph
 * for inference on tinytrain's kernels: float ops on the training kernels, and in int8 mode the
 * QDQ patterns DQ -> Conv/Gemm/MatMul (-> Relu) -> Q, DQ -> Add -> Q and
 * DQ -> GlobalAveragePool -> Q become integer kernels (QLinearConv, QGemm, ...), with pools and
 * reshapes between a DQ and a Q of the same parameters running on the quantised data. */
#ifndef TINYTRAIN_RUNTIME_H
#define TINYTRAIN_RUNTIME_H

#include <stdint.h>
#include "tinytrain/graph.h"
#include "tinytrain/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A file above this is refused before it is read (tiny models only); 0 in the options. */
#define TT_ONNX_IMPORT_MAX_BYTES ((int64_t)256 << 20)

/* Zero-initialised: the defaults. */
typedef struct tt_onnx_import_opts {
    int64_t max_bytes; /* 0: TT_ONNX_IMPORT_MAX_BYTES, counting external data files too */
} tt_onnx_import_opts;

/* An imported model: the graph (initializers are PARAM values of their own dtype) and its
 * first graph input and first graph output. Dim 0 of the input is the batch: TT_DIM_BATCH in
 * the graph when the file declares it symbolic; when the file fixes it (often 1), the graph
 * keeps that number, fixed_batch says so, and the runtime runs batches of exactly that size. */
typedef struct tt_model {
    tt_graph *graph;
    int input_id, output_id;
    int64_t ir_version, opset; /* opset of the default domain */
    int64_t fixed_batch;       /* 0: symbolic batch; else the batch size the file declares */
    char producer[64];         /* producer_name, as written */
} tt_model;

/* Read path into *out (free with tt_model_free). Unsupported ops are refused with one error
 * listing all of them; external data is read only from inside the model's directory. */
tt_status tt_onnx_import(const char *path, const tt_onnx_import_opts *opts, tt_model **out);
void tt_model_free(tt_model *m);

typedef enum tt_rt_mode {
    TT_RT_INT8 = 0, /* default: QDQ patterns run on integer kernels */
    TT_RT_FLOAT,    /* every op as written: Q/DQ as float ops, float Conv/Gemm between them */
} tt_rt_mode;

/* Zero-initialised: the defaults. */
typedef struct tt_runtime_opts {
    tt_rt_mode mode;
    int64_t max_batch; /* 0: 64; larger batches given to tt_runtime_run are split */
    /* NULL or "cpu", "opencl[:N]", "cuda[:N]": where the planned graph runs (tt_exec_create_on;
     * a plan with an op that has no kernel there is refused, nothing falls back to the CPU). */
    const char *backend;
} tt_runtime_opts;

typedef struct tt_runtime tt_runtime;

/* What the plan made of the graph (for tests and `tinytrain eval --verbose`). */
typedef struct tt_runtime_stats {
    int n_nodes;         /* nodes in the planned graph */
    int n_int8_nodes;    /* QLinearConv / QGemm / QLinearMatMul / QLinearAdd / QLinearGAP */
    int n_qdq_float;     /* QuantizeLinear / DequantizeLinear left as float ops */
    int n_float_compute; /* Conv / Gemm / MatMul left in float */
} tt_runtime_stats;

/* Plan the model at path for inference. */
tt_status tt_runtime_load(const char *path, const tt_runtime_opts *opts, tt_runtime **out);
/* Plan an imported model; the runtime takes ownership of m (also on failure). */
tt_status tt_runtime_create(tt_model *m, const tt_runtime_opts *opts, tt_runtime **out);
void tt_runtime_free(tt_runtime *rt);

/* Per-sample shapes (dims[0] is the batch, reported as TT_DIM_BATCH when symbolic). */
const tt_shape *tt_runtime_input_shape(const tt_runtime *rt);
const tt_shape *tt_runtime_output_shape(const tt_runtime *rt);
/* Elements per sample of the first input and the first output. */
int64_t tt_runtime_input_size(const tt_runtime *rt);
int64_t tt_runtime_output_size(const tt_runtime *rt);
void tt_runtime_get_stats(const tt_runtime *rt, tt_runtime_stats *st);
const tt_graph *tt_runtime_graph(const tt_runtime *rt); /* the planned graph */
/* Where it runs: "cpu", or the device ("opencl:0 (name)"). */
const char *tt_runtime_backend(const tt_runtime *rt);

/* Run n samples: x holds n * input_size floats, y receives n * output_size floats. */
tt_status tt_runtime_run(tt_runtime *rt, const float *x, int64_t n, float *y);

#ifdef __cplusplus
}
#endif
#endif
