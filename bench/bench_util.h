/* bench/bench_util.h — what bench/gemm.c and bench/conv.c share: the
 * clock (the wall clock or this thread's CPU time, chosen by the program
 * through bench_clock), a double comparator for qsort (medians), and
 * reproducible pseudo-random f32 operands in [-1, 1), 64-byte aligned,
 * and the timing loop of one kernel call through the pool. */
#ifndef KILN_BENCH_UTIL_H
#define KILN_BENCH_UTIL_H

#include "runtime/krt_pool.h"

#include <stdint.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>

static clockid_t bench_clock = CLOCK_MONOTONIC;

static double now(void)
{
    struct timespec t;
    clock_gettime(bench_clock, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static float *randv(int64_t n)
{
    float *p = aligned_alloc(64, (size_t)((n * 4 + 63) / 64 * 64));
    uint32_t s = 1;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        p[i] = (float)((s >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
    return p;
}

enum { WARM = 3, MIN_REPS = 20, MAX_REPS = 400 };

/* Seconds per call of kernel k on desc over the whole unit range through
 * pool: WARM untimed calls, then at least MIN_REPS timed ones and more
 * until min_seconds have passed (at most MAX_REPS); the median and the
 * best into *med and *best. */
static void time_kernel(krt_pool *pool, const krt_kernel_info *k, const void *desc, void **ops,
                        void *scratch, size_t stride, double min_seconds, double *med, double *best)
{
    krt_error err;
    memset(&err, 0, sizeof err);
    double t[MAX_REPS], start = 0;
    int reps = 0;
    for (int r = 0; r < WARM + MAX_REPS; r++) {
        double t0 = now();
        krt_pool_run(pool, k, desc, ops, scratch, stride, k->units(desc), &err);
        double dt = now() - t0;
        if (r == WARM)
            start = t0;
        if (r >= WARM)
            t[reps++] = dt;
        if (reps >= MIN_REPS && now() - start > min_seconds)
            break;
    }
    qsort(t, (size_t)reps, sizeof t[0], cmp);
    *med = t[reps / 2], *best = t[0];
}

#endif
