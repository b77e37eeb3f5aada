/* The process-wide thread count (documented global state): OpenMP loops and OpenBLAS. */
#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "tinytrain/tinytrain.h"

static int tt_threads = 0;

void tt_set_num_threads(int n)
{
#ifdef _OPENMP
    if (n <= 0) n = omp_get_num_procs();
    omp_set_num_threads(n);
#else
    if (n <= 0) n = 1;
#endif
    openblas_set_num_threads(n);
    tt_threads = n;
}

int tt_get_num_threads(void)
{
    if (tt_threads > 0) return tt_threads;
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

const char *tt_version(void)
{
    return TT_VERSION_STRING;
}
