/* test_pool.c — the thread pool (runtime/krt_pool.h): every unit once, the
 * documented partition, private scratch per thread, the lowest failing
 * chunk's error, bit-identical copies for any thread count, long runs of
 * back-to-back calls, the sleep/wake paths, many pools, two pools at once.
 *
 * Test kernels learn their chunk index (the `thread` of krt_pool_for) from
 * the scratch pointer they get: t = (scratch - base) / stride, base passed
 * as an operand.
 *
 * KRT_POOL_BENCH=1 in the environment also prints dispatch overheads (not
 * checked: speed claims are measured, never asserted by a unit test).
 */
#define _POSIX_C_SOURCE 200809L

#include "cunit_main.h"
#include "runtime/krt_movement.h"
#include "runtime/krt_pool.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { MAX_T = 8, MAX_UNITS = 1000, STRIDE = 128 };

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, us % 1000000 * 1000};
    nanosleep(&ts, NULL);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The documented partition, written the obvious way. */
static int64_t expect_begin(int64_t n, int T, int t)
{
    return (int64_t)t * n / T;
}

/* ---- the recording kernel -------------------------------------------------- */

/* ops {counts (atomic_int[units]), owner (int[units]), calls (atomic_int[MAX_T]),
 *      scratch base (char *)} */
typedef struct rec_desc {
    int64_t units;
    int64_t slow_thread;          /* this chunk sleeps 2 ms: -1 none */
} rec_desc;

static int64_t rec_units(const void *desc)
{
    return ((const rec_desc *)desc)->units;
}

static krt_status rec_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                          krt_error *err)
{
    const rec_desc *d = desc;
    atomic_int *counts = ops[0], *calls = ops[2];
    int *owner = ops[1];
    int t = (int)(((char *)scratch - (char *)ops[3]) / STRIDE);
    atomic_fetch_add(&calls[t], 1);
    /* A pattern private to this call in this thread's scratch ... */
    unsigned char pat = (unsigned char)(t * 37 + r.begin);
    memset(scratch, pat, STRIDE);
    for (int64_t u = r.begin; u < r.end; u++) {
        atomic_fetch_add(&counts[u], 1);
        owner[u] = t;
    }
    if (t == d->slow_thread)
        sleep_us(2000);
    /* ... must still be there after the others ran. */
    for (int i = 0; i < STRIDE; i++)
        if (((unsigned char *)scratch)[i] != pat) {
            err->operand = 3, err->pos = i, err->what = "scratch clobbered";
            return KRT_EVALUE;
        }
    return KRT_OK;
}

static const krt_kernel_info rec_kernel = {"rec", rec_run, NULL, rec_units, sizeof(rec_desc)};

typedef struct rec {
    atomic_int counts[MAX_UNITS];
    int owner[MAX_UNITS];
    atomic_int calls[MAX_T];
    _Alignas(64) char scratch[MAX_T * STRIDE];
} rec;

static void rec_reset(rec *r)
{
    for (int i = 0; i < MAX_UNITS; i++)
        atomic_store(&r->counts[i], 0), r->owner[i] = -1;
    for (int t = 0; t < MAX_T; t++)
        atomic_store(&r->calls[t], 0);
}

/* Runs the recording kernel over n units and checks count, partition,
 * scratch and calls per thread. */
static void check_rec(krt_pool *pool, rec *r, int64_t n, int64_t slow_thread)
{
    int T = krt_pool_threads(pool);
    rec_desc d = {n, slow_thread};
    void *ops[4] = {r->counts, r->owner, r->calls, r->scratch};
    krt_error err = {.operand = -1};
    rec_reset(r);
    krt_status st = krt_pool_run(pool, &rec_kernel, &d, ops, r->scratch, STRIDE, n, &err);
    CU_ASSERT_EQUAL_FATAL(st, KRT_OK);
    CU_ASSERT_EQUAL(err.operand, -1);
    int inline_call = !pool || T == 1 || n < 2;
    for (int64_t u = 0; u < n; u++)
        CU_ASSERT_EQUAL(atomic_load(&r->counts[u]), 1);
    for (int t = 0; t < T; t++) {
        int64_t b = inline_call ? (t ? n : 0) : expect_begin(n, T, t);
        int64_t e = inline_call ? n : expect_begin(n, T, t + 1);
        CU_ASSERT_EQUAL(atomic_load(&r->calls[t]), b < e ? 1 : 0);   /* empty chunks skipped */
        for (int64_t u = b; u < e; u++)
            CU_ASSERT_EQUAL(r->owner[u], t);
    }
}

static void test_every_unit_once(void)
{
    static rec r;
    static const int64_t sizes[] = {1, 2, 3, 5, 7, 8, 9, 13, 31, 97, 999};
    for (int T = 1; T <= MAX_T; T++) {
        krt_pool *pool = krt_pool_create(T);
        CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
        CU_ASSERT_EQUAL(krt_pool_threads(pool), T);
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
            check_rec(pool, &r, sizes[i], -1);
        krt_pool_destroy(pool);
    }
}

static void test_inline(void)
{
    static rec r;
    check_rec(NULL, &r, 7, -1);
    CU_ASSERT_EQUAL(krt_pool_threads(NULL), 1);
    krt_pool_destroy(NULL);
    CU_ASSERT_PTR_NULL(krt_pool_create(0));
    CU_ASSERT_PTR_NULL(krt_pool_create(-3));
    /* units <= 0: the kernel is not called. */
    krt_pool *pool = krt_pool_create(2);
    rec_desc d = {0, -1};
    void *ops[4] = {r.counts, r.owner, r.calls, r.scratch};
    krt_error err = {.operand = -1};
    rec_reset(&r);
    CU_ASSERT_EQUAL(krt_pool_run(pool, &rec_kernel, &d, ops, r.scratch, STRIDE, 0, &err), KRT_OK);
    CU_ASSERT_EQUAL(atomic_load(&r.calls[0]) + atomic_load(&r.calls[1]), 0);
    krt_pool_destroy(pool);
}

/* The caller's thread and then a worker finish last, so both sides of the
 * wait take their sleeping path as well as the spinning one. */
static void test_slow_chunks(void)
{
    static rec r;
    krt_pool *pool = krt_pool_create(3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
    for (int slow = 0; slow < 3; slow++)
        check_rec(pool, &r, 10, slow);
    krt_pool_destroy(pool);
}

/* ---- krt_pool_for -------------------------------------------------------- */

typedef struct for_rec {
    int T;
    int owner[MAX_UNITS];
    atomic_int bad;
} for_rec;

static void for_fn(void *arg, int64_t begin, int64_t end, int thread)
{
    for_rec *f = arg;
    if (begin >= end || begin != expect_begin(MAX_UNITS, f->T, thread) ||
        end != expect_begin(MAX_UNITS, f->T, thread + 1))
        atomic_fetch_add(&f->bad, 1);
    for (int64_t u = begin; u < end; u++)
        f->owner[u] += 1 + thread;
}

static void test_for(void)
{
    static for_rec f;
    for (int T = 1; T <= MAX_T; T++) {
        krt_pool *pool = krt_pool_create(T);
        CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
        memset(f.owner, 0, sizeof f.owner);
        f.T = T;
        atomic_store(&f.bad, 0);
        krt_pool_for(pool, MAX_UNITS, for_fn, &f);
        CU_ASSERT_EQUAL(atomic_load(&f.bad), 0);
        for (int t = 0; t < T; t++)
            for (int64_t u = expect_begin(MAX_UNITS, T, t); u < expect_begin(MAX_UNITS, T, t + 1); u++)
                CU_ASSERT_EQUAL(f.owner[u], 1 + t);
        krt_pool_destroy(pool);
    }
}

/* ---- errors ------------------------------------------------------------------ */

/* Fails on units listed in bad[]: KRT_EINDEX on odd units, KRT_EVALUE on
 * even ones, err->value = the first bad unit of the range. */
typedef struct fail_desc {
    int64_t units;
    int n_bad;
    int64_t bad[4];
} fail_desc;

static int64_t fail_units(const void *desc)
{
    return ((const fail_desc *)desc)->units;
}

static krt_status fail_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                           krt_error *err)
{
    const fail_desc *d = desc;
    for (int64_t u = r.begin; u < r.end; u++)
        for (int i = 0; i < d->n_bad; i++)
            if (d->bad[i] == u) {
                err->operand = 1, err->value = u, err->lo = r.begin, err->hi = r.end;
                return u % 2 ? KRT_EINDEX : KRT_EVALUE;
            }
    return KRT_OK;
}

static const krt_kernel_info fail_kernel = {"fail", fail_run, NULL, fail_units, sizeof(fail_desc)};

static void check_fail(krt_pool *pool, fail_desc d, int64_t want_unit)
{
    krt_error err = {.operand = -1, .pos = 77, .what = "preset"};
    krt_status st = krt_pool_run(pool, &fail_kernel, &d, NULL, NULL, 0, d.units, &err);
    if (want_unit < 0) {
        CU_ASSERT_EQUAL(st, KRT_OK);
        CU_ASSERT_EQUAL(err.operand, -1);
        return;
    }
    int T = krt_pool_threads(pool);
    int t = 0;
    while (expect_begin(d.units, T, t + 1) <= want_unit)
        t++;
    CU_ASSERT_EQUAL(st, want_unit % 2 ? KRT_EINDEX : KRT_EVALUE);
    CU_ASSERT_EQUAL(err.operand, 1);
    CU_ASSERT_EQUAL(err.value, want_unit);
    CU_ASSERT_EQUAL(err.lo, expect_begin(d.units, T, t));     /* that chunk's own range */
    CU_ASSERT_EQUAL(err.hi, expect_begin(d.units, T, t + 1));
    CU_ASSERT_EQUAL(err.pos, 77);                              /* started from the caller's */
    CU_ASSERT_STRING_EQUAL(err.what, "preset");
}

static void test_lowest_error(void)
{
    krt_pool *pool = krt_pool_create(4);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
    /* 20 units over 4 threads: chunks [0,5) [5,10) [10,15) [15,20). */
    check_fail(pool, (fail_desc){20, 0, {0}}, -1);
    check_fail(pool, (fail_desc){20, 1, {17}}, 17);
    check_fail(pool, (fail_desc){20, 2, {18, 6}}, 6);         /* chunk 1 beats chunk 3 */
    check_fail(pool, (fail_desc){20, 3, {19, 12, 14}}, 12);   /* first bad unit in chunk 2 */
    check_fail(pool, (fail_desc){20, 3, {16, 9, 3}}, 3);      /* the caller's own chunk */
    check_fail(pool, (fail_desc){3, 2, {2, 1}}, 1);           /* with empty chunks */
    krt_pool_destroy(pool);
    check_fail(NULL, (fail_desc){20, 2, {18, 6}}, 6);
}

/* ---- the copy kernel ------------------------------------------------------- */

static void test_copy_identical(void)
{
    krt_copy_desc d = {3 * 1024 * 1024 + 12345};   /* the last unit is partial */
    int64_t units = krt_kernel_units(KRT_K_COPY, &d);
    CU_ASSERT_EQUAL(units, 49);
    unsigned char *src = malloc((size_t)d.nbytes), *dst[4];
    CU_ASSERT_PTR_NOT_NULL_FATAL(src);
    uint32_t x = 12345;
    for (int64_t i = 0; i < d.nbytes; i++)
        x = x * 1664525u + 1013904223u, src[i] = (unsigned char)(x >> 24);
    for (int T = 1; T <= 3; T++) {
        krt_pool *pool = krt_pool_create(T);
        dst[T] = calloc(1, (size_t)d.nbytes);
        CU_ASSERT_FATAL(pool && dst[T]);
        void *ops[2] = {src, dst[T]};
        krt_error err = {.operand = -1};
        CU_ASSERT_EQUAL(krt_pool_run(pool, &krt_kernel_copy, &d, ops, NULL, 0, units, &err), KRT_OK);
        CU_ASSERT_EQUAL(memcmp(dst[T], src, (size_t)d.nbytes), 0);
        krt_pool_destroy(pool);
    }
    CU_ASSERT_EQUAL(memcmp(dst[1], dst[2], (size_t)d.nbytes), 0);
    CU_ASSERT_EQUAL(memcmp(dst[1], dst[3], (size_t)d.nbytes), 0);
    for (int T = 1; T <= 3; T++)
        free(dst[T]);
    free(src);
}

/* ---- long runs, sleeping workers, many pools, two pools at once -------- */

typedef struct sum_job {
    int64_t *cells;               /* one cell per unit */
} sum_job;

static void sum_fn(void *arg, int64_t begin, int64_t end, int thread)
{
    sum_job *j = arg;
    for (int64_t u = begin; u < end; u++)
        j->cells[u]++;
}

/* `calls` back-to-back krt_pool_for over `n` units; every cell must end
 * at `calls`. */
static int run_many(krt_pool *pool, int calls, int64_t n)
{
    int64_t cells[64] = {0};
    sum_job j = {cells};
    for (int i = 0; i < calls; i++)
        krt_pool_for(pool, n, sum_fn, &j);
    for (int64_t u = 0; u < n; u++)
        if (cells[u] != calls)
            return 0;
    return 1;
}

static void test_back_to_back(void)
{
    krt_pool *pool = krt_pool_create(2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
    CU_ASSERT(run_many(pool, 10000, 2));
    CU_ASSERT(run_many(pool, 10000, 37));
    krt_pool_destroy(pool);
    pool = krt_pool_create(3);
    CU_ASSERT(run_many(pool, 3000, 5));
    krt_pool_destroy(pool);
    /* More threads than this machine may have cores. */
    pool = krt_pool_create(4);
    CU_ASSERT(run_many(pool, 2000, 64));
    krt_pool_destroy(pool);
}

/* Idle long enough for the workers to fall asleep, then call again. */
static void test_wake_after_sleep(void)
{
    krt_pool *pool = krt_pool_create(3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
    for (int i = 0; i < 5; i++) {
        sleep_us(3000);
        CU_ASSERT(run_many(pool, 3, 9));
    }
    krt_pool_destroy(pool);
}

/* Which OS thread ran each chunk: chunk 0 the caller, each chunk index once
 * per call; a chunk run by a worker runs with signals blocked. */
typedef struct who {
    pthread_t ran[MAX_T];
    atomic_int runs[MAX_T];
    int sigint_blocked[MAX_T];
    int64_t work_ns;              /* busy work per chunk */
} who;

static void who_fn(void *arg, int64_t begin, int64_t end, int thread)
{
    who *w = arg;
    sigset_t mask;
    pthread_sigmask(SIG_BLOCK, NULL, &mask);
    w->ran[thread] = pthread_self();
    w->sigint_blocked[thread] = sigismember(&mask, SIGINT);
    atomic_fetch_add(&w->runs[thread], 1);
    double until = now_s() + 1e-9 * (double)w->work_ns;
    while (now_s() < until)
        ;
}

static void test_os_threads(void)
{
    krt_pool *pool = krt_pool_create(3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
    int stolen = 0, by_worker = 0;
    for (int i = 0; i < 40; i++) {
        who w;
        for (int t = 0; t < MAX_T; t++)
            atomic_init(&w.runs[t], 0);
        w.work_ns = i % 2 ? 20000 : 0;
        if (i % 4 == 0)
            sleep_us(1000);       /* let the workers fall asleep now and then */
        krt_pool_for(pool, 3, who_fn, &w);
        for (int t = 0; t < 3; t++)
            CU_ASSERT_EQUAL(atomic_load(&w.runs[t]), 1);
        CU_ASSERT(pthread_equal(w.ran[0], pthread_self()));
        for (int t = 1; t < 3; t++) {
            if (pthread_equal(w.ran[t], pthread_self())) {
                stolen++;
            } else {
                by_worker++;
                CU_ASSERT_EQUAL(w.sigint_blocked[t], 1);   /* workers take no signals */
            }
        }
    }
    CU_ASSERT_EQUAL(stolen + by_worker, 80);
    /* However busy the machine, a worker gets a 100 us chunk now and then. */
    for (int i = 0; i < 2000 && by_worker == 0; i++) {
        who w = {.work_ns = 100000};
        krt_pool_for(pool, 3, who_fn, &w);
        for (int t = 1; t < 3; t++)
            if (!pthread_equal(w.ran[t], pthread_self())) {
                by_worker++;
                CU_ASSERT_EQUAL(w.sigint_blocked[t], 1);
            }
    }
    CU_ASSERT(by_worker > 0);
    krt_pool_destroy(pool);
}

static void test_many_pools(void)
{
    for (int i = 0; i < 100; i++) {
        krt_pool *pool = krt_pool_create(1 + i % 5);
        CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
        if (i % 2)                /* half are destroyed before any call */
            CU_ASSERT(run_many(pool, 3, 11));
        krt_pool_destroy(pool);
    }
}

static void *pool_user(void *arg)
{
    krt_pool *pool = krt_pool_create(2);
    int ok = pool && run_many(pool, 3000, 7);
    krt_pool_destroy(pool);
    *(int *)arg = ok;
    return NULL;
}

static void test_two_pools_at_once(void)
{
    pthread_t th[2];
    int ok[2] = {0, 0};
    for (int i = 0; i < 2; i++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, pool_user, &ok[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    CU_ASSERT(ok[0] && ok[1]);
}

/* ---- measurements (KRT_POOL_BENCH=1) ---------------------------------------- */

/* Kernel `probe`: `work_ns` of busy work per unit; counts, in its chunk's
 * scratch slot, the calls in which that chunk ran on a worker. */
typedef struct probe_desc {
    int64_t work_ns;
    int first_only;               /* only unit 0 (the caller's chunk) works */
    pthread_t caller;
} probe_desc;

typedef struct probe_slot {
    _Alignas(64) int64_t calls, on_worker;
} probe_slot;

static krt_status probe_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                            krt_error *err)
{
    const probe_desc *d = desc;
    probe_slot *s = scratch;
    s->calls++;
    s->on_worker += !pthread_equal(pthread_self(), d->caller);
    int64_t units = d->first_only ? (r.begin == 0) : r.end - r.begin;
    if (d->work_ns > 0 && units > 0) {
        double end = now_s() + 1e-9 * (double)(d->work_ns * units);
        while (now_s() < end)
            ;
    }
    return KRT_OK;
}

static const krt_kernel_info probe_kernel = {"probe", probe_run, NULL, NULL, sizeof(probe_desc)};

/* Mean microseconds of a 2-unit probe call; *by_worker: the share of
 * calls whose chunk 1 ran on a worker. */
static double probe_us(krt_pool *pool, int64_t work_ns, int first_only, int calls,
                       double *by_worker)
{
    probe_desc d = {work_ns, first_only, pthread_self()};
    probe_slot slots[2] = {{0, 0}, {0, 0}};
    krt_error err = {.operand = -1};
    for (int i = 0; i < calls / 10; i++)                 /* warm up */
        krt_pool_run(pool, &probe_kernel, &d, NULL, slots, sizeof *slots, 2, &err);
    slots[1].calls = slots[1].on_worker = 0;
    double t0 = now_s();
    for (int i = 0; i < calls; i++)
        krt_pool_run(pool, &probe_kernel, &d, NULL, slots, sizeof *slots, 2, &err);
    double us = (now_s() - t0) / calls * 1e6;
    *by_worker = slots[1].calls ? (double)slots[1].on_worker / (double)slots[1].calls : 0;
    return us;
}

static double copy_us(krt_pool *pool, void *const *ops, const krt_copy_desc *d, int reps)
{
    int64_t units = krt_kernel_units(KRT_K_COPY, d);
    krt_error err = {.operand = -1};
    for (int i = 0; i < 5; i++)
        krt_pool_run(pool, &krt_kernel_copy, d, ops, NULL, 0, units, &err);
    double t0 = now_s();
    for (int i = 0; i < reps; i++)
        krt_pool_run(pool, &krt_kernel_copy, d, ops, NULL, 0, units, &err);
    return (now_s() - t0) / reps * 1e6;
}

static void bench_calls(krt_pool *p1, krt_pool *p2)
{
    double w;
    fprintf(stderr, "\n  empty krt_pool_run (2 units), mean of 100k calls:\n");
    fprintf(stderr, "    NULL pool %.3f us, 1 thread %.3f us\n", probe_us(NULL, 0, 0, 100000, &w),
            probe_us(p1, 0, 0, 100000, &w));
    for (int rep = 0; rep < 5; rep++) {
        double us = probe_us(p2, 0, 0, 100000, &w);
        fprintf(stderr, "    2 threads %.3f us (chunk 1 ran on the worker in %.0f%% of calls)\n",
                us, 100 * w);
    }
    /* The hand-off itself: the caller's chunk busy for 2 us, so the worker
     * has time to claim its (empty) chunk and the caller waits for it. */
    fprintf(stderr, "  caller's chunk 2 us, worker's chunk empty, mean of 100k calls:\n");
    for (int rep = 0; rep < 3; rep++) {
        double one = probe_us(p1, 2000, 1, 100000, &w), two = probe_us(p2, 2000, 1, 100000, &w);
        fprintf(stderr, "    1 thread %.3f us, 2 threads %.3f us: +%.3f us (worker %.0f%%)\n",
                one, two, two - one, 100 * w);
    }
    static const int64_t work[] = {500, 2000, 10000, 50000};
    fprintf(stderr, "  2 units of busy work, mean of 20k calls (5k for 50 us):\n");
    for (size_t i = 0; i < sizeof work / sizeof *work; i++) {
        int calls = work[i] >= 50000 ? 5000 : 20000;
        double one = probe_us(p1, work[i], 0, calls, &w), two = probe_us(p2, work[i], 0, calls, &w);
        fprintf(stderr, "    %6.1f us/unit: 1 thread %8.2f us, 2 threads %8.2f us, x%.2f (worker %.0f%%)\n",
                1e-3 * (double)work[i], one, two, one / two, 100 * w);
    }
}

static void bench_cold(krt_pool *p2)
{
    /* After the workers fell asleep, the caller wakes them and, rather than
     * wait, runs chunk 1 itself unless a worker got to it first. */
    double cold = 0;
    int stolen = 0;
    for (int i = 0; i < 50; i++) {
        who w;
        atomic_init(&w.runs[0], 0), atomic_init(&w.runs[1], 0);
        w.work_ns = 0;
        sleep_us(2000);
        double t0 = now_s();
        krt_pool_for(p2, 2, who_fn, &w);
        cold += now_s() - t0;
        stolen += pthread_equal(w.ran[1], pthread_self());
    }
    fprintf(stderr, "  2 threads, empty call after 2 ms idle (mean of 50): %.3f us, chunk 1 run by the caller %d times\n",
            cold / 50 * 1e6, stolen);
}

static void bench_copy(krt_pool *p1, krt_pool *p2)
{
    krt_copy_desc d = {4 << 20};
    char *src = malloc((size_t)d.nbytes), *dst = malloc((size_t)d.nbytes);
    CU_ASSERT_FATAL(src && dst);
    memset(src, 1, (size_t)d.nbytes), memset(dst, 2, (size_t)d.nbytes);
    void *ops[2] = {src, dst};
    fprintf(stderr, "  4 MiB copy (64 units), mean of 500 calls:\n");
    for (int rep = 0; rep < 3; rep++) {
        double one = copy_us(p1, ops, &d, 500), two = copy_us(p2, ops, &d, 500);
        fprintf(stderr, "    1 thread %8.1f us   2 threads %8.1f us   speed-up %.2fx\n",
                one, two, one / two);
    }
    free(src), free(dst);
}

/* ---- KRT_POOL_PROFILE ---------------------------------------------------------- */

/* Unit u burns (u + 1) ms of this thread's CPU time. */
static krt_status burn_run(const void *desc, void *const *ops, void *scratch, krt_span r,
                           krt_error *err)
{
    (void)desc, (void)ops, (void)scratch, (void)err;
    for (int64_t u = r.begin; u < r.end; u++) {
        struct timespec t0, t;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
        do
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
        while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < (u + 1) * 1000000L);
    }
    return KRT_OK;
}

static int64_t burn_units(const void *desc)
{
    return *(const int64_t *)desc;
}

static const krt_kernel_info burn_kernel = {"burn", burn_run, NULL, burn_units, sizeof(int64_t)};

/* Two threads, units {0, 1, 2} (1 + 2 + 3 ms) cut as [0, 1) and [1, 3):
 * busy 6 ms, critical path 5 ms: the table says ideal speed-up 1.2 (thread
 * CPU time, so the machine's load does not move it much). */
static void test_profile(void)
{
    char path[] = "/tmp/kiln-test-pool-profile-XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    setenv("KRT_POOL_PROFILE", "1", 1);
    krt_pool *pool = krt_pool_create(2);
    unsetenv("KRT_POOL_PROFILE");
    CU_ASSERT_FATAL(pool != NULL);
    int64_t units = 3;
    krt_error err = {.operand = -1};
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(krt_pool_run(pool, &burn_kernel, &units, NULL, NULL, 0, units, &err), KRT_OK);
    krt_pool_destroy(pool);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char text[4096] = {0};
    CU_ASSERT(pread(fd, text, sizeof text - 1, 0) > 0);
    close(fd);
    unlink(path);
    long calls = 0, split = 0;
    double busy = 0, crit = 0, ideal = 0;
    const char *row = strstr(text, "  burn ");
    CU_ASSERT_FATAL(row != NULL);
    CU_ASSERT_EQUAL(sscanf(row, " burn %ld %ld %lf %lf", &calls, &split, &busy, &crit), 4);
    CU_ASSERT_EQUAL(calls, 3);
    CU_ASSERT_EQUAL(split, 3);
    CU_ASSERT(busy >= 18.0 && busy < 19.5);    /* 3 x 6 ms, plus the clock reads */
    CU_ASSERT(crit >= 15.0 && crit < 16.5);    /* 3 x 5 ms */
    const char *tail = strstr(text, "ideal speed-up ");
    CU_ASSERT_FATAL(tail != NULL);
    CU_ASSERT_EQUAL(sscanf(tail, "ideal speed-up %lf", &ideal), 1);
    CU_ASSERT(ideal > 1.15 && ideal < 1.25);
}

static void test_bench(void)
{
    const char *e = getenv("KRT_POOL_BENCH");
    if (!e || !*e || *e == '0')
        return;
    krt_pool *p1 = krt_pool_create(1), *p2 = krt_pool_create(2);
    CU_ASSERT_FATAL(p1 && p2);
    bench_calls(p1, p2);
    bench_cold(p2);
    bench_copy(p1, p2);
    krt_pool_destroy(p1), krt_pool_destroy(p2);
}

/* ---- suites ------------------------------------------------------------------ */

static CU_TestInfo pool_tests[] = {
    {"every unit once, documented partition, private scratch (1..8 threads)", test_every_unit_once},
    {"inline: NULL pool, bad thread counts, no units", test_inline},
    {"slow chunks: caller and workers sleep-wait", test_slow_chunks},
    {"krt_pool_for partition", test_for},
    {"lowest failing chunk's error", test_lowest_error},
    {"copy over 1, 2, 3 threads: identical bytes", test_copy_identical},
    {"10k back-to-back calls", test_back_to_back},
    {"wake after the workers slept", test_wake_after_sleep},
    {"chunks run on the caller or a worker, each once", test_os_threads},
    {"create/destroy 100 pools", test_many_pools},
    {"two pools from two threads at once", test_two_pools_at_once},
    {"KRT_POOL_PROFILE: busy, critical path, ideal speed-up", test_profile},
    {"overheads (KRT_POOL_BENCH=1 prints them)", test_bench},
    {NULL, NULL},
};

static CU_SuiteInfo suites[] = {
    {"thread pool", NULL, NULL, NULL, NULL, pool_tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
