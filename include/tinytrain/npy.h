/* NumPy .npy files: the format the parity fixtures and small data sets come in.
 *
 * Reading accepts format versions 1.0, 2.0 and 3.0, C order only, with these dtypes:
 *   '<f4' -> TT_F32   '<i4' -> TT_I32   '<i8' -> TT_I64   '|u1' -> TT_U8   '|i1' -> TT_I8
 *   '<f8' -> TT_F32 (converted on load, rounding to nearest; values beyond float range become
 *            +-inf: tinytrain computes in float32 and float64 fixtures are common).
 * One-byte dtypes are also accepted with a '<' or '>' byte-order mark, since byte order means
 * nothing for them. Rank 0..4; a rank-0 array loads as shape [1].
 *
 * Validation is strict, and every failure message names the file and the problem:
 *   bad magic, truncated preamble/header, malformed header dict  -> TT_ERR_FORMAT
 *   unknown version, fortran_order True, big-endian or unknown dtype, rank > 4
 *                                                                -> TT_ERR_UNSUPPORTED
 *   negative dimension                                           -> TT_ERR_FORMAT
 *   data larger than TT_TENSOR_MAX_BYTES (checked before any allocation) -> TT_ERR_NOMEM
 *   file shorter than the header promises (truncated data)       -> TT_ERR_FORMAT
 *   bytes after the data (trailing garbage)                      -> TT_ERR_FORMAT
 *   cannot open or read the file                                 -> TT_ERR_IO
 * Trailing bytes are rejected rather than ignored: np.save never writes them, so their
 * presence means the shape or dtype in the header does not describe the data.
 */
#ifndef TINYTRAIN_NPY_H
#define TINYTRAIN_NPY_H

#include "tinytrain/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Load path into a new tensor (*out, free with tt_tensor_free). *out is NULL on failure. */
tt_status tt_npy_load(const char *path, tt_tensor **out);

/* Save t as a version 1.0 .npy file (C order, little-endian; TT_F32 is written as '<f4').
 * The bytes go to "<path>.tmp", which is renamed over path only once completely written and
 * closed, so a failure never leaves a half-written file at path. */
tt_status tt_npy_save(const char *path, const tt_tensor *t);

#ifdef __cplusplus
}
#endif
#endif
