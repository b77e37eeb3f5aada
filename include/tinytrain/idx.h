/* IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed. */
#ifndef TINYTRAIN_IDX_H
#define TINYTRAIN_IDX_H

#include "tinytrain/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Refuse IDX payloads above this: the real data sets are tens of MB, and the header alone must
 * not be able to ask for more. */
#define TT_IDX_MAX_BYTES ((int64_t)1 << 32)

/* Load an unsigned-byte IDX file (.gz or not; detected from the content) into a TT_U8 tensor of
 * its declared shape (rank 1..4). Errors name the file and the problem: missing file, bad magic,
 * unsupported element type, absurd or truncated size. */
tt_status tt_idx_load(const char *path, tt_tensor **out);

#ifdef __cplusplus
}
#endif
#endif
