/* NumPy .npz archives: a zip file of .npy members, one per named array, as np.savez (stored)
 * and np.savez_compressed (deflated) write them. Calibration sets and data sets come in them.
 *
 * Reading: the archive is opened once (the zip central directory is read and checked by
 * libzip), its arrays are listed by name (the member name without ".npy": np.savez(f, x=a)
 * writes "x.npy", listed as "x"), and arrays are loaded one at a time by name. Each member's
 * .npy bytes go through the same validation as tt_npy_load (see npy.h: versions, dtypes,
 * '<f8' narrowed to float32, rank 0..4, the TT_TENSOR_MAX_BYTES cap), and messages name the
 * archive and the member.
 *
 * Every archive is treated as hostile; the failures, each with a message naming the file:
 *   cannot open or read the file, not a regular file                     -> TT_ERR_IO
 *   empty file, not a zip archive, truncated archive (no end-of-central-directory record),
 *   inconsistent central directory / local headers, two members with the same name (or
 *   names that are the same without ".npy")                               -> TT_ERR_FORMAT
 *   no member with the requested name (the message lists the names present) -> TT_ERR_FORMAT
 *   a member that is not a valid .npy (bad magic, malformed header, truncated data, trailing
 *   bytes), a member whose declared uncompressed size disagrees with its .npy header or
 *   with the bytes it really decompresses to (a zip bomb or a corrupt archive), a CRC
 *   mismatch, a corrupt deflate stream                                    -> TT_ERR_FORMAT
 *   an encrypted member, a compression method other than stored and deflate, a multi-disk
 *   archive, an .npy dtype/layout tinytrain cannot load                    -> TT_ERR_UNSUPPORTED
 *   an array over TT_TENSOR_MAX_BYTES, or more than TT_NPZ_MAX_MEMBERS members -> TT_ERR_NOMEM
 * The declared sizes are never trusted for allocation: a member is only allocated once its
 * .npy header has passed the size cap, its declared size equals what the header promises and
 * (for deflate) is reachable from its compressed size; reading stops one byte past the
 * promised size, so a member that inflates to more is caught without inflating it further.
 */
#ifndef TINYTRAIN_NPZ_H
#define TINYTRAIN_NPZ_H

#include <stdbool.h>
#include "tinytrain/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* More members than this is not a set of named arrays (each name costs memory to list). */
#define TT_NPZ_MAX_MEMBERS (1 << 20)
/* Longest array name tt_npz_save accepts, in bytes (zip itself allows 65535). */
#define TT_NPZ_MAX_NAME 255

typedef struct tt_npz tt_npz; /* an open archive (private) */

/* Open path for reading; *out is NULL on failure. Close with tt_npz_close. */
tt_status tt_npz_open(const char *path, tt_npz **out);
void tt_npz_close(tt_npz *z);

/* The number of arrays and the name of array i (0 <= i < count) in archive order, without
 * ".npy"; NULL for an i out of range. The string lives as long as the archive. */
int tt_npz_count(const tt_npz *z);
const char *tt_npz_name(const tt_npz *z, int i);
/* Whether the archive has an array of that name. */
bool tt_npz_has(const tt_npz *z, const char *name);

/* Load array `name` into a new tensor (*out, free with tt_tensor_free); *out is NULL on
 * failure. A name that is not in the archive is TT_ERR_FORMAT, listing the names present. */
tt_status tt_npz_load(tt_npz *z, const char *name, tt_tensor **out);

/* Open, load one array, close. */
tt_status tt_npz_load_file(const char *path, const char *name, tt_tensor **out);

/* Write n >= 1 arrays as an .npz that numpy.load reads: tensors[i] as member "<names[i]>.npy"
 * (version 1.0 .npy bytes, as tt_npy_save writes them), stored, or deflated when compressed
 * (np.savez / np.savez_compressed). Names must be non-empty, at most TT_NPZ_MAX_NAME bytes and
 * distinct (TT_ERR_INVALID_ARG). Members carry numpy's fixed 1980-01-01 timestamp, so the
 * same arrays give the same bytes. The archive goes to "<path>.tmp", which is renamed over
 * path only once completely written and flushed: any failure removes the temporary and
 * leaves an existing file at path as it was. */
tt_status tt_npz_save(const char *path, int n, const char *const names[],
                      const tt_tensor *const tensors[], bool compressed);

#ifdef __cplusplus
}
#endif
#endif
