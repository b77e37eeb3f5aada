/* Status codes and error messages shared by every tinytrain function. */
#ifndef TINYTRAIN_STATUS_H
#define TINYTRAIN_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tt_status {
    TT_OK = 0,
    TT_ERR_INVALID_ARG, /* NULL pointer, out-of-range value, unknown name */
    TT_ERR_SHAPE,       /* shapes or dtypes that do not fit together */
    TT_ERR_UNSUPPORTED, /* an op, dtype or feature tinytrain does not have */
    TT_ERR_NOMEM,       /* allocation failed or the request exceeds the size cap */
    TT_ERR_IO,          /* open/read/write/rename failed */
    TT_ERR_FORMAT,      /* a file is corrupt, truncated or not what it claims to be */
    TT_ERR_NUMERIC,     /* NaN/Inf in data, a diverging loss */
    TT_ERR_STATE,       /* a call made in the wrong order */
} tt_status;

/* Short fixed name of a status ("invalid argument"). Never NULL. */
const char *tt_status_str(tt_status s);

/* The message of the last failing call on this thread: what failed, where, and what to do.
 * The buffer is thread-local and overwritten by the next failure; copy it to keep it. */
const char *tt_last_error(void);

/* Clear the thread's last error message. */
void tt_clear_error(void);

#ifdef __cplusplus
}
#endif
#endif
