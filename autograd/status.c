/* Status names and the thread-local last-error message. */
#include <stdarg.h>
#include <stdio.h>
#include "autograd/internal.h"

static _Thread_local char tt_error_buf[1024];

const char *tt_status_str(tt_status s)
{
    switch (s) {
    case TT_OK:
        return "ok";
    case TT_ERR_INVALID_ARG:
        return "invalid argument";
    case TT_ERR_SHAPE:
        return "shape mismatch";
    case TT_ERR_UNSUPPORTED:
        return "unsupported";
    case TT_ERR_NOMEM:
        return "out of memory";
    case TT_ERR_IO:
        return "I/O error";
    case TT_ERR_FORMAT:
        return "bad file format";
    case TT_ERR_NUMERIC:
        return "numeric error";
    case TT_ERR_STATE:
        return "wrong state";
    }
    return "unknown status";
}

const char *tt_last_error(void)
{
    return tt_error_buf;
}

void tt_clear_error(void)
{
    tt_error_buf[0] = '\0';
}

tt_status tt_fail(tt_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tt_error_buf, sizeof tt_error_buf, fmt, ap);
    va_end(ap);
    return s;
}
