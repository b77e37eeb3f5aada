/* Write-then-rename files, so a crash or a full disk never leaves a half-written artefact in
 * place of a good one. */
#ifndef TT_ATOMIC_FILE_H
#define TT_ATOMIC_FILE_H

#include <stdio.h>
#include "tinytrain/status.h"

typedef struct tt_atomic_file {
    FILE *f;
    char path[1024];
    char tmp[1040];
} tt_atomic_file;

/* Open "<path>.tmp" for writing. */
tt_status tt_atomic_open(tt_atomic_file *af, const char *path);
/* Flush, fsync and rename over path; on any write error remove the temp file and fail. */
tt_status tt_atomic_commit(tt_atomic_file *af);
/* Drop the temp file without touching path. */
void tt_atomic_abort(tt_atomic_file *af);

#endif
