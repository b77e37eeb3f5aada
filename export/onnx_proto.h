/* A small builder over protobuf-c's generated ONNX structs (onnx.pb-c.h, generated at build time
 * from Debian's onnx.proto): it owns every allocation of one ModelProto under construction,
 * keeps tensor and node names unique, and encodes initializer data little-endian, so the
 * lowering code only says what to add. */
#ifndef TT_EXPORT_ONNX_PROTO_H
#define TT_EXPORT_ONNX_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "onnx.pb-c.h"
#include "tinytrain/status.h"

/* ONNX TensorProto.DataType codes used by the exporter. */
enum {
    TT_ONNX_DT_FLOAT = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT,
    TT_ONNX_DT_UINT8 = ONNX__TENSOR_PROTO__DATA_TYPE__UINT8,
    TT_ONNX_DT_INT8 = ONNX__TENSOR_PROTO__DATA_TYPE__INT8,
    TT_ONNX_DT_INT32 = ONNX__TENSOR_PROTO__DATA_TYPE__INT32,
    TT_ONNX_DT_INT64 = ONNX__TENSOR_PROTO__DATA_TYPE__INT64,
};

typedef struct tt_ob_list {
    void **items;
    size_t n, cap;
} tt_ob_list;

typedef struct tt_onnx_builder {
    tt_ob_list allocs;       /* every block to free */
    tt_ob_list nodes;        /* Onnx__NodeProto *, in emission (topological) order */
    tt_ob_list inits;        /* Onnx__TensorProto * */
    tt_ob_list inputs;       /* Onnx__ValueInfoProto * */
    tt_ob_list outputs;      /* Onnx__ValueInfoProto * */
    tt_ob_list tensor_names; /* char *: names given to tensors so far */
    tt_ob_list node_names;   /* char *: names given to nodes so far */
} tt_onnx_builder;

void tt_ob_init(tt_onnx_builder *b);
void tt_ob_free(tt_onnx_builder *b);

/* A copy of s owned by the builder. */
tt_status tt_ob_strdup(tt_onnx_builder *b, const char *s, char **out);

/* A tensor name not used yet: base + suffix, or base + suffix + "_2", "_3", ... when taken.
 * The name is reserved. */
tt_status tt_ob_tensor_name(tt_onnx_builder *b, const char *base, const char *suffix,
                            const char **out);
/* Reserve exactly name (fails if it is taken: the graph's "input" and "output"). */
tt_status tt_ob_reserve_tensor_name(tt_onnx_builder *b, const char *name);

/* Append a node op_type (standard domain) named after name (made unique) with n_in inputs
 * ("" for an absent optional input) and one output. */
tt_status tt_ob_node(tt_onnx_builder *b, const char *op_type, const char *name, int n_in,
                     const char *const *in, const char *out, Onnx__NodeProto **node);
tt_status tt_ob_attr_int(tt_onnx_builder *b, Onnx__NodeProto *n, const char *name, int64_t v);
tt_status tt_ob_attr_float(tt_onnx_builder *b, Onnx__NodeProto *n, const char *name, float v);
tt_status tt_ob_attr_ints(tt_onnx_builder *b, Onnx__NodeProto *n, const char *name, int count,
                          const int64_t *v);

/* Initializers: name is used as given (reserve it first through tt_ob_tensor_name); dims may
 * be NULL for a scalar (ndim 0). Data is copied. */
tt_status tt_ob_init_f32(tt_onnx_builder *b, const char *name, int ndim, const int64_t *dims,
                         const float *v);
tt_status tt_ob_init_i32(tt_onnx_builder *b, const char *name, int ndim, const int64_t *dims,
                         const int32_t *v);
tt_status tt_ob_init_i64(tt_onnx_builder *b, const char *name, int ndim, const int64_t *dims,
                         const int64_t *v);
/* UINT8 or INT8 (dtype) from int32 values already in the type's range. */
tt_status tt_ob_init_8bit(tt_onnx_builder *b, const char *name, int dtype, int ndim,
                          const int64_t *dims, const int32_t *v);

/* A graph input or output: a tensor of elem_type whose dims < 0 are the symbolic "N". */
tt_status tt_ob_graph_io(tt_onnx_builder *b, bool output, const char *name, int elem_type, int ndim,
                         const int64_t *dims);

typedef struct tt_ob_model_info {
    int64_t ir_version;
    int64_t opset;
    const char *graph_name;
    const char *doc;
    const char *producer_version;
    int n_meta;
    const char *const *meta_keys;
    const char *const *meta_values;
} tt_ob_model_info;

/* Serialise the model: *buf (malloc'ed, caller frees) of *len bytes. */
tt_status tt_ob_pack(tt_onnx_builder *b, const tt_ob_model_info *info, uint8_t **buf, size_t *len);

#endif
