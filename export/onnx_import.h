/* ONNX import internals (tinytrain/runtime.h: tt_onnx_import; docs/import.md).
 *
 * The import runs in four steps, each in its own file:
 *   onnx_import_wire.c    before protobuf-c: nesting depth and an allocation budget
 *   onnx_import.c         the model: opsets, op list, graph inputs, nodes in order, outputs
 *   onnx_import_tensor.c  initializers and Constant values: validated, decoded on first use
 *   onnx_import_external.c  external data, inside the model's directory only
 *   onnx_import_ops.c     one ONNX node -> IR nodes: the float ops and the op table; Gemm
 *   onnx_import_gemm.c    in its own file, the quantisation ops in onnx_import_qops.c, and
 *   onnx_import_qops.c    the helpers they share in onnx_import_emit.c (emitting, attributes,
 *   onnx_import_emit.c    constant inputs) and onnx_import_window.c (Conv/pool windows)
 *   onnx_import_window.c
 *   onnx_import_names.c   the name tables and IR naming
 *   onnx_import_unpad.c   the export's channel padding undone before the graph is built
 * Every ONNX value name maps to a handle: an IR value id (>= 0) or a constant (<= -3), so a
 * constant that an op needs as data (Reshape's shape, Clip's bounds) never becomes a graph
 * parameter, and Identity / Dropout only alias a name. */
#ifndef TT_EXPORT_ONNX_IMPORT_H
#define TT_EXPORT_ONNX_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "autograd/internal.h"
#include "onnx.pb-c.h"
#include "tinytrain/runtime.h"

/* What one file may declare (tiny models only; the IR's name lookups are linear). */
#define TT_IMPORT_MAX_NODES 16384
#define TT_IMPORT_MAX_INITS 16384
#define TT_IMPORT_MAX_IO    256
/* Nesting of graphs (attributes), types and functions in the protobuf. */
#define TT_IMPORT_MAX_DEPTH 32

/* The whole import from bytes already in memory (tt_onnx_import reads the file and calls this;
 * the fuzzer calls it directly). dir: the model's directory as realpath() gives it, for external
 * data (NULL: external data is refused); label: the model in messages (its path). opts->max_bytes
 * caps len plus all external data. */
tt_status tt_onnx_import_buffer(const uint8_t *buf, size_t len, const char *dir, const char *label,
                                const tt_onnx_import_opts *opts, tt_model **out);

/* ---- onnx_import_wire.c ---------------------------------------------------------------------- */

/* Refuse a buffer whose recursive messages (graphs in attributes, nested types, functions)
 * nest deeper than TT_IMPORT_MAX_DEPTH: protobuf-c recurses once per level. Malformed wire
 * data is left for protobuf-c to report. */
tt_status tt_imp_wire_check(const uint8_t *buf, size_t len, const char *label);
/* protobuf-c's unpack with every allocation counted against 64 MiB + 8 x len: a file of
 * many empty messages cannot expand into gigabytes. NULL with the error set on failure. */
Onnx__ModelProto *tt_imp_unpack(const uint8_t *buf, size_t len, const char *label);

/* ---- names ----------------------------------------------------------------------------------- */

/* Handles */
#define TT_IMP_ABSENT       (-1) /* an absent optional input; also "not defined yet" */
#define TT_IMP_UNAVAILABLE  (-2) /* declared by a node but not importable (Dropout's mask) */
#define TT_IMP_CONST(i)     (-3 - (i))
#define TT_IMP_CONST_IDX(h) (-3 - (h))

typedef struct tt_imp_names {
    char **keys; /* owned copies */
    int *vals;
    size_t cap, n;
} tt_imp_names;

/* *val of key, or NULL. */
int *tt_imp_names_get(const tt_imp_names *t, const char *key);
tt_status tt_imp_names_put(tt_imp_names *t, const char *key, int val);
void tt_imp_names_free(tt_imp_names *t);

/* ---- the import ------------------------------------------------------------------------------ */

/* An initializer or a Constant node's value: validated when registered, decoded on first use. */
typedef struct tt_imp_const {
    const Onnx__TensorProto *t; /* NULL for values the importer makes */
    char *name;                 /* for messages and the IR name */
    tt_dtype dtype;
    tt_shape shape; /* an ONNX scalar is [1] */
    int64_t numel;
    char *ext_path; /* resolved external data file, or NULL */
    int64_t ext_offset;
    void *data;      /* decoded values (host order), NULL until read */
    int param;       /* the IR parameter once one is made, else -1 */
    bool onnx_named; /* name is an ONNX value name (reserved for it), not a base to derive from */
} tt_imp_const;

typedef struct tt_imp {
    const char *label;  /* the model, for messages */
    const char *dir;    /* realpath of its directory, or NULL */
    int64_t ext_budget; /* bytes of external data still allowed */
    int64_t opset;      /* default domain */
    tt_graph *g;
    tt_imp_names onnx; /* ONNX value name -> handle */
    tt_imp_names ir;   /* IR value names taken, and every ONNX name (kept for its own value) */
    tt_imp_const *consts;
    int n_consts, cap_consts;
    const Onnx__NodeProto *node; /* the node being mapped, for messages */
    int node_index;
    bool *pad_alias; /* per node: a channel Pad undone by tt_imp_unpad_channels */
} tt_imp;

/* Fail with "<label>: node '<name>' (<op>): <message>" for the node being mapped (or just the
 * label outside a node). */
tt_status tt_imp_fail(const tt_imp *im, tt_status code, const char *fmt, ...) TT_PRINTF(3, 4);

/* An IR value name not taken yet: want when it is free and short enough, else want cut to fit
 * plus "~" and a hash, plus "_2", "_3", ... until free. Reserved on return. */
tt_status tt_imp_ir_name(tt_imp *im, const char *want, const char *suffix, char out[TT_NAME_MAX]);
/* Whether an ONNX name is used as the IR name of its value as it is (it is reserved for it when
 * the file is scanned); longer ones are shortened by tt_imp_ir_name. */
bool tt_imp_name_fits(const char *onnx_name);
tt_status tt_imp_value_name(tt_imp *im, const char *onnx_name, char out[TT_NAME_MAX]);

/* ---- onnx_import_unpad.c --------------------------------------------------------------------- */

/* tinytrain's QDQ export's channel padding of a Conv input (a Pad adding trailing channels,
 * read only by the Conv, through one DequantizeLinear or directly, whose weight is zero in
 * those channels): the weight initializer loses the channels in place and alias[i] is set for
 * the Pad, which the import then binds to its input. Other Pads are left alone. */
void tt_imp_unpad_channels(Onnx__GraphProto *g, bool *alias);

/* ---- onnx_import_tensor.c -------------------------------------------------------------------- */

/* ONNX TensorProto.DataType -> tt_dtype (FLOAT, UINT8, INT8, INT32, INT64); false for others. */
bool tt_imp_dtype(int onnx, tt_dtype *dt);
const char *tt_imp_onnx_dtype_name(int onnx); /* "FLOAT16", ... */

/* Register an initializer or a Constant node's tensor under name: dtype, rank, dims, size caps
 * and the bytes actually present (raw_data, typed fields or external data) are checked here,
 * before anything is allocated for it. *handle: its TT_IMP_CONST handle. */
tt_status tt_imp_const_add(tt_imp *im, const char *name, const Onnx__TensorProto *t, int *handle);
/* A constant the importer makes from values (a transposed weight, a Constant's value_floats):
 * data (numel elements of dt) is copied. */
tt_status tt_imp_const_make(tt_imp *im, const char *name, tt_dtype dt, int ndim,
                            const int64_t *dims, const void *data, int *handle);
/* External data of t (onnx_import_external.c): located and checked against want bytes, into
 * c->ext_path and c->ext_offset, and charged to im->ext_budget. */
tt_status tt_imp_ext_resolve(tt_imp *im, const char *name, const Onnx__TensorProto *t, int64_t want,
                             tt_imp_const *c);
/* Read the bytes of c's external data into buf. */
tt_status tt_imp_ext_read(tt_imp *im, const tt_imp_const *c, uint8_t *buf, size_t bytes);
/* The constant behind handle h, or NULL when h is not one. */
tt_imp_const *tt_imp_const_of(tt_imp *im, int h);
/* Its values, decoded (and external data read) on first use. */
tt_status tt_imp_const_data(tt_imp *im, tt_imp_const *c, const void **data);
/* The IR value of handle h (a constant becomes a graph parameter the first time). */
tt_status tt_imp_value(tt_imp *im, int h, int *id);
void tt_imp_consts_free(tt_imp *im);

/* ---- onnx_import_ops.c / onnx_import_qops.c -------------------------------------------------- */

/* The op types the import maps, for the unsupported-op message. */
bool tt_imp_op_supported(const char *domain, const char *op_type);
void tt_imp_supported_list(char *buf, size_t len);
/* The quantisation ops' share (onnx_import_qops.c). */
bool tt_imp_qop_supported(const char *domain, const char *op_type, int *n_required);
void tt_imp_qop_list(char *buf, size_t len);
tt_status tt_imp_map_qop(tt_imp *im, const Onnx__NodeProto *p, const int *hin);

/* Map node p (its inputs are resolved in hin: handles, TT_IMP_ABSENT for absent ones, and up
 * to TT_MAX_NODE_IO) into the graph and bind its outputs. The inputs ONNX requires of the op
 * are checked present here. */
tt_status tt_imp_map_node(tt_imp *im, const Onnx__NodeProto *p, const int *hin);

/* Shared by the op files (onnx_import_emit.c, onnx_import_window.c). */
/* tt_graph_add_node on IR ids, its message prefixed with the ONNX node. */
tt_status tt_imp_add_node(tt_imp *im, tt_op_type op, const char *name, int n_in, const int *ids,
                          int n_attrs, const tt_attr *attrs, int *out_ids);
/* IR ids of n_in handles (constants become parameters), -1 for absent ones. */
tt_status tt_imp_values(tt_imp *im, int n_in, const int *hin, int *ids);
/* A float parameter behind h (a weight or a bias) trains: an imported model is a QAT warm
 * start. */
void tt_imp_mark_trainable(tt_imp *im, int h);
/* The declared shape (and dtype, if dt) of a present handle. */
const tt_shape *tt_imp_shape(tt_imp *im, int h, tt_dtype *dt);
const char *tt_imp_attr_string(const Onnx__NodeProto *p, const char *name, char *buf,
                               size_t len); /* NULL when absent */
/* A float constant's record and values; fails naming `what` when h is not one. */
tt_status tt_imp_float_const(tt_imp *im, int h, const char *what, tt_imp_const **c,
                             const float **d);
tt_status tt_imp_emit(tt_imp *im, const Onnx__NodeProto *p, tt_op_type op, int n_in, const int *hin,
                      int n_attrs, const tt_attr *attrs);
tt_status tt_imp_bind(tt_imp *im, const Onnx__NodeProto *p, int k, int handle);
const char *tt_imp_out_name(const Onnx__NodeProto *p, int k); /* "" when absent */
const Onnx__AttributeProto *tt_imp_attr(const Onnx__NodeProto *p, const char *name);
tt_status tt_imp_attr_int(tt_imp *im, const Onnx__NodeProto *p, const char *name, int64_t dflt,
                          int64_t *v);
tt_status tt_imp_attr_float(tt_imp *im, const Onnx__NodeProto *p, const char *name, float dflt,
                            float *v);
/* Up to max ints; *n = -1 when absent. */
tt_status tt_imp_attr_ints(tt_imp *im, const Onnx__NodeProto *p, const char *name, int64_t *v,
                           int max, int *n);
/* A constant input's values as int64 (int32 or int64 constants) or as one float (a float
 * constant with one element); fails, naming the input, when it is not a constant. */
tt_status tt_imp_const_ints(tt_imp *im, int h, const char *what, int64_t *v, int max, int *n);
tt_status tt_imp_const_scalar(tt_imp *im, int h, const char *what, float *v);
/* Window attributes (kernel_shape, strides, dilations, pads; auto_pad resolved against input
 * x's shape) into attrs[0..3] in that order. kernel: the default kernel, or NULL when
 * kernel_shape is required (pools). */
tt_status tt_imp_window_attrs(tt_imp *im, const Onnx__NodeProto *p, int x, const int64_t *kernel,
                              tt_attr *attrs, int *n_attrs);
/* ceil_mode=1 is accepted only where it gives the floor output size; attrs from above. */
tt_status tt_imp_check_ceil(tt_imp *im, const Onnx__NodeProto *p, int x, const tt_attr *attrs);
tt_status tt_imp_map_gemm(tt_imp *im, const Onnx__NodeProto *p, const int *h);
/* Conv/ConvInteger/QLinearConv window attributes (auto_pad resolved against input x) and group
 * into attrs; returns how many. */
tt_status tt_imp_conv_attrs(tt_imp *im, const Onnx__NodeProto *p, int x, int w, tt_attr *attrs,
                            int *n_attrs);
/* Gemm-style weight [K,M] given as B: a constant copy transposed to [M,K] (any dtype). */
tt_status tt_imp_transpose_const(tt_imp *im, int h, const char *what, int *out);

#endif
