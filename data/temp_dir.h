/* A fresh private directory for a command's intermediate files. */
#ifndef TT_DATA_TEMP_DIR_H
#define TT_DATA_TEMP_DIR_H

#include <stddef.h>
#include "tinytrain/status.h"

/* Make $TMPDIR/<prefix>XXXXXX (/tmp when TMPDIR is unset or empty) with mkdtemp and write its
 * path into buf. TT_ERR_IO naming the path and the reason when it cannot be made. */
tt_status tt_temp_dir_make(const char *prefix, char *buf, size_t len);

#endif
