#include "data/temp_dir.h"
#include "autograd/internal.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

tt_status tt_temp_dir_make(const char *prefix, char *buf, size_t len)
{
    const char *tmp = getenv("TMPDIR");
    int n = snprintf(buf, len, "%s/%sXXXXXX", tmp && tmp[0] ? tmp : "/tmp", prefix);
    if (n < 0 || (size_t)n >= len)
        return tt_fail(TT_ERR_INVALID_ARG, "temporary directory path under TMPDIR too long");
    if (!mkdtemp(buf))
        return tt_fail(TT_ERR_IO, "%s: cannot create a temporary directory (%s); set TMPDIR", buf,
                       strerror(errno));
    return TT_OK;
}
