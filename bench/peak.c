/* bench/peak.c — this core's f32 FMA peak, measured, not assumed.
 *
 * A loop of independent vector FMAs (24 accumulators: more than the FMA
 * latency times the number of pipes, so dependencies never stall) on the
 * widest vectors the CPU runs: AVX-512 when present, else AVX2, else the
 * compile target's. Prints GFLOP/s per thread, the median of 21 runs of
 * ~50 ms after a warm-up, at 1 and 2 threads (one loop per thread).
 * Time is each thread's CPU time, so on a shared machine the time other
 * processes hold the core is left out (it still counts a sibling
 * hyperthread's or the host's interference); WALL=1 uses the wall clock.
 *
 *   make -C bench peak && bench/out/peak
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef float v16f __attribute__((vector_size(64)));
typedef float v8f __attribute__((vector_size(32)));

enum { ACC = 24, RUNS = 21 };

static double now(void)
{
    struct timespec t;
    clock_gettime(getenv("WALL") ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* iters x ACC FMAs of `lanes` floats; returns a value that depends on them. */
#define FMA_LOOP(name, V, lanes, target)                                          \
    target __attribute__((optimize("fp-contract=fast"))) static float name(long iters) \
    {                                                                             \
        V acc[ACC], x = (V){0} + 0.999999f, y = (V){0} + 1e-7f;                    \
        for (int i = 0; i < ACC; i++)                                             \
            acc[i] = (V){0} + (float)i;                                           \
        for (long n = 0; n < iters; n++) {                                        \
            _Pragma("GCC unroll 24") for (int i = 0; i < ACC; i++)                \
                acc[i] = acc[i] * x + y;                                          \
            __asm__ volatile("" : "+v"(x));  /* keep the loop honest */           \
        }                                                                         \
        float s = 0;                                                              \
        for (int i = 0; i < ACC; i++)                                             \
            for (int l = 0; l < lanes; l++)                                       \
                s += acc[i][l];                                                   \
        return s;                                                                 \
    }
FMA_LOOP(fma512, v16f, 16, __attribute__((target("avx512f,fma"))))
FMA_LOOP(fma256, v8f, 8, __attribute__((target("avx2,fma"))))

static int lanes;
static float (*loop)(long);
static volatile float sink;

typedef struct job { long iters; double secs; } job;

static void *run(void *arg)
{
    job *j = arg;
    double t0 = now();
    sink = loop(j->iters);
    j->secs = now() - t0;
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median GFLOP/s per thread with `threads` threads running the loop. */
static double measure(int threads, long iters)
{
    double g[RUNS];
    for (int r = 0; r < RUNS; r++) {
        pthread_t t[2];
        job j[2] = {{iters, 0}, {iters, 0}};
        for (int i = 1; i < threads; i++)
            pthread_create(&t[i], NULL, run, &j[i]);
        run(&j[0]);
        double worst = j[0].secs;
        for (int i = 1; i < threads; i++) {
            pthread_join(t[i], NULL);
            worst = j[i].secs > worst ? j[i].secs : worst;
        }
        g[r] = 2.0 * lanes * ACC * (double)iters / worst * 1e-9;
    }
    qsort(g, RUNS, sizeof g[0], cmp);
    return g[RUNS / 2];
}

int main(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        loop = fma512, lanes = 16;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        loop = fma256, lanes = 8;
    else {
        fprintf(stderr, "peak: needs AVX2+FMA or AVX-512\n");
        return 1;
    }
    long iters = 2000;
    while (1) {                       /* calibrate to ~50 ms, which is also the warm-up */
        double t0 = now();
        sink = loop(iters);
        if (now() - t0 > 0.05)
            break;
        iters *= 2;
    }
    double one = measure(1, iters), two = measure(2, iters);
    printf("f32 FMA peak (%s, %d accumulators): 1 thread %.1f GFLOP/s; "
           "2 threads %.1f GFLOP/s per thread\n",
           lanes == 16 ? "AVX-512" : "AVX2", ACC, one, two);
    printf("peak_gflops %.1f\n", one);
    return 0;
}
