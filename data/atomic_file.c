/* Atomic file replacement: temp file in the same directory, fsync, rename. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "autograd/internal.h"
#include "data/atomic_file.h"

tt_status tt_atomic_open(tt_atomic_file *af, const char *path)
{
    TT_CHECK_NULL(af, "tt_atomic_open");
    TT_CHECK_NULL(path, "tt_atomic_open");
    memset(af, 0, sizeof *af);
    if (strlen(path) >= sizeof af->path)
        return tt_fail(TT_ERR_INVALID_ARG, "%s: path is too long", path);
    snprintf(af->path, sizeof af->path, "%s", path);
    snprintf(af->tmp, sizeof af->tmp, "%s.tmp", path);
    af->f = fopen(af->tmp, "wb");
    if (!af->f)
        return tt_fail(TT_ERR_IO,
                       "%s: cannot create (%s); check that the directory exists and "
                       "is writable",
                       af->tmp, strerror(errno));
    return TT_OK;
}

tt_status tt_atomic_commit(tt_atomic_file *af)
{
    TT_CHECK_NULL(af, "tt_atomic_commit");
    if (!af->f) return tt_fail(TT_ERR_STATE, "%s: file is not open", af->path);
    int bad = ferror(af->f) || fflush(af->f) != 0 || fsync(fileno(af->f)) != 0;
    int err = errno;
    bad |= fclose(af->f) != 0;
    af->f = NULL;
    if (bad) {
        remove(af->tmp);
        return tt_fail(TT_ERR_IO,
                       "%s: write failed (%s; disk full?); the previous file is "
                       "untouched",
                       af->path, strerror(err ? err : errno));
    }
    if (rename(af->tmp, af->path) != 0) {
        err = errno;
        remove(af->tmp);
        return tt_fail(TT_ERR_IO, "%s: cannot rename %s over it (%s)", af->path, af->tmp,
                       strerror(err));
    }
    return TT_OK;
}

void tt_atomic_abort(tt_atomic_file *af)
{
    if (!af || !af->f) return;
    fclose(af->f);
    af->f = NULL;
    remove(af->tmp);
}
