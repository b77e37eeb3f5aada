/* Whole-file reads with their size checked first (data/whole_file.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "autograd/internal.h"
#include "data/whole_file.h"

/* The checks on the open file, before anything is allocated: fstat, not the path, so what is
 * checked is what is read. */
static tt_status check_size(FILE *f, const char *path, const char *what, int64_t max, size_t *len)
{
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode))
        return tt_fail(TT_ERR_IO, "%s: cannot read the %s: not a regular file", path, what);
    if ((int64_t)st.st_size > max)
        return tt_fail(TT_ERR_FORMAT, "%s: %lld bytes; the %s limit is %lld bytes", path,
                       (long long)st.st_size, what, (long long)max);
    *len = (size_t)st.st_size;
    return TT_OK;
}

tt_status tt_read_whole_file(const char *path, const char *what, int64_t max, void **buf,
                             size_t *len)
{
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return tt_fail(TT_ERR_IO, "%s: cannot open the %s (%s)", path, what, strerror(errno));
    size_t n = 0;
    tt_status s = check_size(f, path, what, max, &n);
    char *b = s == TT_OK ? malloc(n + 1) : NULL;
    if (s == TT_OK && !b) s = tt_fail(TT_ERR_NOMEM, "%s: out of memory for %zu bytes", path, n);
    if (s == TT_OK && (fread(b, 1, n, f) != n || ferror(f)))
        s = tt_fail(TT_ERR_IO, "%s: short read of the %s", path, what);
    fclose(f);
    if (s != TT_OK) {
        free(b);
        return s;
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return TT_OK;
}
