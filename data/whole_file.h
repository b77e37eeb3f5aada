/* Reading a whole file into memory for the parsers that need all of it at once (the registry's
 * JSON, an ONNX model summarised by tt_onnx_inspect): refused before anything is read when it is
 * no regular file or above the caller's cap, so a hostile path cannot make it allocate. */
#ifndef TT_DATA_WHOLE_FILE_H
#define TT_DATA_WHOLE_FILE_H

#include <stddef.h>
#include <stdint.h>
#include "tinytrain/status.h"

/* *buf: path's bytes in a malloc'd buffer with a NUL after the last (so text can be used as a
 * string), *len its size (0 for an empty file). what names the file in the messages ("registry",
 * "ONNX model"): TT_ERR_IO when it cannot be opened, is not a regular file or is cut short;
 * TT_ERR_FORMAT when it is above max bytes; TT_ERR_NOMEM. */
tt_status tt_read_whole_file(const char *path, const char *what, int64_t max, void **buf,
                             size_t *len);

#endif
