/* Dense tensors: float32 NCHW (or N x F) activations plus integer storage for quantised data. */
#ifndef TINYTRAIN_TENSOR_H
#define TINYTRAIN_TENSOR_H

#include <stddef.h>
#include <stdint.h>
#include "tinytrain/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TT_MAX_DIMS 4
/* Refuse any single tensor above this many bytes: a corrupt shape must not become a 1 TB malloc. */
#define TT_TENSOR_MAX_BYTES ((int64_t)1 << 34)

typedef enum tt_dtype { TT_F32 = 0, TT_I8, TT_U8, TT_I32, TT_I64 } tt_dtype;

typedef struct tt_shape {
    int ndim;
    int64_t dims[TT_MAX_DIMS];
} tt_shape;

typedef struct tt_tensor {
    tt_dtype dtype;
    tt_shape shape;
    void *data;
    size_t capacity; /* bytes owned at data (0 for a view) */
} tt_tensor;

size_t tt_dtype_size(tt_dtype dt);
const char *tt_dtype_name(tt_dtype dt);

/* Number of elements; -1 if any dimension is negative (symbolic). */
int64_t tt_shape_numel(const tt_shape *s);
/* "[8, 1, 28, 28]" into buf (always NUL-terminated). Returns buf. */
char *tt_shape_str(const tt_shape *s, char *buf, size_t len);
int tt_shape_equal(const tt_shape *a, const tt_shape *b);
tt_status tt_shape_make(tt_shape *out, int ndim, const int64_t *dims);

/* Allocate a zero-filled tensor. Fails cleanly on bad rank, negative dims or sizes over the cap. */
tt_status tt_tensor_alloc(tt_tensor **out, tt_dtype dt, int ndim, const int64_t *dims);
void tt_tensor_free(tt_tensor *t);
int64_t tt_tensor_numel(const tt_tensor *t);
static inline float *tt_tensor_f32(const tt_tensor *t)
{
    return (float *)t->data;
}

#ifdef __cplusplus
}
#endif
#endif
