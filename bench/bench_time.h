/* Timing helpers shared by the benchmark programs (each bench .c file is
 * its own executable, so they share a header rather than an object). */
#ifndef CK_BENCH_TIME_H
#define CK_BENCH_TIME_H

#include <time.h>

static inline double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* qsort order for doubles, for medians. */
static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#endif
