/* Helpers shared inside the library, not part of the public API. */
#ifndef TT_INTERNAL_H
#define TT_INTERNAL_H

#include "tinytrain/status.h"

#if defined(__GNUC__)
#define TT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define TT_PRINTF(a, b)
#endif

/* Record a message for tt_last_error() and return s, so callers write `return tt_fail(...)`. */
tt_status tt_fail(tt_status s, const char *fmt, ...) TT_PRINTF(2, 3);

#define TT_CHECK(expr)                                                                             \
    do {                                                                                           \
        tt_status tt_check_s_ = (expr);                                                            \
        if (tt_check_s_ != TT_OK) return tt_check_s_;                                              \
    } while (0)

#define TT_CHECK_NULL(p, fn)                                                                       \
    do {                                                                                           \
        if ((p) == NULL) return tt_fail(TT_ERR_INVALID_ARG, "%s: '%s' is NULL", (fn), #p);         \
    } while (0)

#endif
