/* Seconds on the monotonic clock, for wall times in reports and progress output. */
#ifndef TT_DATA_CLOCK_H
#define TT_DATA_CLOCK_H

#include <time.h>

static inline double tt_clock_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#endif
