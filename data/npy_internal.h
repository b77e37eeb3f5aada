/* The .npy format pieces shared by the .npy file reader/writer (npy.c) and the .npz archive
 * reader/writer (npz.c), which meets the same bytes inside zip members. Not public API.
 *
 * Every function takes `where`, the prefix of its error messages that names the file (and
 * member), e.g. "tt_npy_load: 'x.npy'" or "tt_npz_load: 'd.npz' member 'x.npy'". */
#ifndef TT_NPY_INTERNAL_H
#define TT_NPY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "tinytrain/tensor.h"

/* Bytes of the longest preamble (magic, version, header length): 10 in v1.0, 12 in v2.0/3.0. */
#define TT_NPY_PREAMBLE_MAX 12
/* numpy itself refuses headers over 10000 bytes by default; a rank-4 header needs ~120. The cap
 * only bounds the header allocation, so it can be generous. */
#define TT_NPY_MAX_HEADER (1u << 20)
/* Room for what tt_npy_make_header writes (rank <= 4 needs ~130 bytes). */
#define TT_NPY_HEADER_BUF 256
/* Room for a `where` prefix; longer ones are cut, like every error message (1 KiB). */
#define TT_NPY_WHERE_MAX 1100

/* What a validated header says about the data that follows it. */
typedef struct tt_npy_layout {
    tt_dtype dtype;  /* of the tensor the data loads into */
    size_t file_esz; /* bytes per element in the file */
    bool from_f64;   /* '<f8' narrowed to float32 on load */
    int ndim;        /* 0..TT_MAX_DIMS; rank 0 loads as shape [1] */
    int64_t dims[TT_MAX_DIMS];
    int64_t numel;
    int64_t data_offset; /* preamble + header bytes: where the data starts */
    int64_t data_bytes;  /* numel * file_esz, within the tensor cap (x2 for '<f8') */
    char descr[32];
} tt_npy_layout;

static inline bool tt_npy_host_le(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* The preamble in pre[0..got) (got may be less than TT_NPY_PREAMBLE_MAX for short inputs):
 * magic and version, then the header length. On success *hdr_off is 10 or 12 and *hlen the
 * header length, not yet checked against anything. Bad magic, truncation -> TT_ERR_FORMAT;
 * an unknown version -> TT_ERR_UNSUPPORTED. */
tt_status tt_npy_parse_preamble(const unsigned char *pre, size_t got, const char *where,
                                size_t *hdr_off, uint32_t *hlen);

/* Validate the header dict hdr[0..hlen) (not NUL-terminated; NULs inside are an error) that
 * follows a preamble of hdr_off bytes, and describe the data in *lay: dtype, C order, rank and
 * the tensor size cap (TT_TENSOR_MAX_BYTES, TT_ERR_NOMEM) are checked here; how many bytes
 * really follow is the caller's business. */
tt_status tt_npy_parse_header(const char *hdr, size_t hlen, size_t hdr_off, const char *where,
                              tt_npy_layout *lay);

/* n elements from their file bytes at src into dst in the tensor's layout: '<f8' narrowed to
 * float32, multi-byte values byte-swapped on big-endian hosts. src == dst is allowed unless
 * lay->from_f64. */
void tt_npy_decode(const tt_npy_layout *lay, const void *src, void *dst, size_t n);

/* The version 1.0 preamble and header np.save writes for t (C order, little-endian, padded
 * with spaces and a '\n' so the data starts on a 64-byte boundary) into buf (at least
 * TT_NPY_HEADER_BUF bytes), its length in *len. Fails for an unknown dtype, a rank outside
 * 0..4, a symbolic dimension or missing data; *data_bytes is the size of the data after it. */
tt_status tt_npy_make_header(const tt_tensor *t, const char *where, unsigned char *buf, size_t *len,
                             int64_t *data_bytes);

#endif
