/* krt_pool.c — the thread pool behind krt_pool_run (see krt_pool.h).
 *
 * Design. A call publishes one job (fn, arg, n) in the pool and bumps an
 * atomic generation counter `gen`; every worker waits for `gen` to move,
 * runs its own chunk of [0, n) and decrements `pending`; the caller runs
 * chunk 0 itself and then waits for `pending` to reach 0. Who waits where:
 *
 *   workers  wait for a new `gen`   spin, then sleep on cond `wake`
 *   caller   waits for pending == 0 spin, then sleep on cond `done`
 *
 * Why spin then sleep: a ViT inference is a few hundred kernel calls in a
 * row, many of them microseconds long. Waking a sleeping thread costs a
 * futex syscall plus a scheduler wake-up (tens of microseconds), more than
 * many of the calls; a worker that is still spinning sees the next `gen`
 * within a cache-line transfer. So each side spins (with a CPU pause) for
 * up to spin_ns and only then sleeps, which keeps an idle pool from
 * burning a core for long. When there are more threads than online CPUs,
 * spinning would steal the CPU from the very threads being waited for, so
 * the budget drops to a few dozen polls.
 *
 * Sleeping without lost wake-ups (Dekker style, all seq_cst):
 *   worker: sleepers++; lock; while gen == seen: wait(wake); unlock
 *   caller: gen++; if sleepers > 0: lock; broadcast(wake); unlock
 * Either the caller sees the sleeper and broadcasts under the mutex, or
 * the worker sees the new gen before it blocks. The caller's sleep on
 * `done` is the mirror image, with `caller_waiting` and `pending`.
 *
 * Invariants:
 *   - one job in flight at a time: the caller writes the job fields only
 *     after it has seen pending == 0 for the previous job, and workers read
 *     them only between seeing a new gen and decrementing pending; gen
 *     (release/acquire) and pending (a release sequence of RMWs read with
 *     acquire) carry the happens-before edges, so the job fields and the
 *     per-thread result slots are plain memory;
 *   - every worker takes part in every generation (an empty chunk just
 *     decrements pending), so no worker can skip a gen or see a job twice;
 *   - fn == NULL is the stop job of krt_pool_destroy;
 *   - per-thread slots are cache-line sized, so threads never share a line
 *     when writing their results.
 */
#define _POSIX_C_SOURCE 200809L

#include "runtime/krt_pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef KRT_POOL_SPIN_NS
#define KRT_POOL_SPIN_NS 200000   /* how long a waiter spins before it sleeps */
#endif
#ifndef KRT_POOL_PAUSE_NS
#define KRT_POOL_PAUSE_NS 50000   /* ... of which the first part with a CPU pause */
#endif

enum {
    CACHE_LINE = 64,
    MAX_THREADS = 1024,           /* keeps the size computation far from overflow */
    POLLS_PER_CLOCK = 64,         /* spin polls between two clock reads */
    PAUSE_NS = KRT_POOL_PAUSE_NS,
};

typedef void (*chunk_fn)(void *arg, int64_t begin, int64_t end, int thread);

/* One thread's private line: its identity for the worker's start routine
 * and its result for krt_pool_run. */
typedef struct slot {
    alignas(CACHE_LINE) krt_pool *pool;
    int thread;
    krt_status status;            /* of this thread's chunk of the last kernel call */
    krt_error err;
} slot;

struct krt_pool {
    int threads;                  /* caller + workers */
    int64_t spin_ns;              /* spin budget of a waiter */
    slot *slots;                  /* [threads] */
    pthread_t *workers;           /* [threads - 1]; worker i runs thread i + 1 */

    /* The job: written by the caller, then published by bumping gen. */
    alignas(CACHE_LINE) atomic_uint gen;
    chunk_fn fn;                  /* NULL: stop */
    void *arg;
    int64_t n;                    /* units [0, n) */

    alignas(CACHE_LINE) atomic_int pending;   /* workers not done with this gen */

    alignas(CACHE_LINE) atomic_int sleepers;  /* workers asleep (or about to be) on wake */
    atomic_int caller_waiting;    /* the caller sleeps (or is about to) on done */
    pthread_mutex_t mu;
    pthread_cond_t wake;          /* gen moved */
    pthread_cond_t done;          /* pending reached 0 */
};

/* ---- helpers --------------------------------------------------------------- */

static inline void cpu_relax(void)
{
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_ia32_pause();
#elif defined(__GNUC__) && (defined(__aarch64__) || defined(__arm__))
    __asm__ __volatile__("yield");
#endif
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* First unit of chunk t of [0, n) over T threads: t * n / T, computed
 * without forming t * n. */
static int64_t chunk_begin(int64_t n, int T, int t)
{
    return n / T * t + n % T * t / T;
}

/* Runs thread t's chunk of the current job unless it is empty. */
static void run_chunk(krt_pool *p, int t)
{
    int64_t b = chunk_begin(p->n, p->threads, t), e = chunk_begin(p->n, p->threads, t + 1);
    if (b < e)
        p->fn(p->arg, b, e, t);
}

/* A waiter's spin state: when it started, how often it polled. */
typedef struct spin {
    int64_t start;                /* ns; 0 before the first clock read */
    unsigned polls;
    bool yielding;                /* past PAUSE_NS: give the CPU away between polls */
} spin;

/* Called after each failed poll: pause (or yield once pausing has lasted
 * PAUSE_NS, so a waiter cannot starve the threads it waits for on a busy
 * machine); false once `budget` ns have passed. */
static bool spin_again(spin *s, int64_t budget)
{
    if (s->yielding)
        sched_yield();
    else
        cpu_relax();
    if (++s->polls % POLLS_PER_CLOCK)
        return true;
    int64_t t = now_ns();
    if (!s->start)
        s->start = t;
    s->yielding = t - s->start >= PAUSE_NS;
    return t - s->start < budget;
}

/* Spins until gen != seen or the budget is spent; returns gen as last read. */
static unsigned spin_gen(krt_pool *p, unsigned seen)
{
    spin s = {0, 0, false};
    unsigned g;
    while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen &&
           spin_again(&s, p->spin_ns))
        ;
    return g;
}

/* Spins until pending == 0 or the budget is spent; true when it reached 0. */
static bool spin_done(krt_pool *p)
{
    spin s = {0, 0, false};
    bool done;
    while (!(done = atomic_load_explicit(&p->pending, memory_order_acquire) == 0) &&
           spin_again(&s, p->spin_ns))
        ;
    return done;
}

/* ---- the worker side --------------------------------------------------------- */

/* Blocks until a generation after `seen` is published; returns it. */
static unsigned wait_job(krt_pool *p, unsigned seen)
{
    unsigned g = spin_gen(p, seen);
    if (g != seen)
        return g;
    atomic_fetch_add(&p->sleepers, 1);
    pthread_mutex_lock(&p->mu);
    while ((g = atomic_load(&p->gen)) == seen)
        pthread_cond_wait(&p->wake, &p->mu);
    pthread_mutex_unlock(&p->mu);
    atomic_fetch_sub(&p->sleepers, 1);
    return g;
}

/* This worker is done with the job; the last one wakes a sleeping caller.
 * No job field may be touched after the decrement. */
static void finish_job(krt_pool *p)
{
    if (atomic_fetch_sub(&p->pending, 1) == 1 && atomic_load(&p->caller_waiting)) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_signal(&p->done);
        pthread_mutex_unlock(&p->mu);
    }
}

static void *worker_main(void *arg)
{
    slot *s = arg;
    krt_pool *p = s->pool;
    unsigned seen = 0;            /* gen starts at 0, before any worker runs */
    for (;;) {
        seen = wait_job(p, seen);
        if (!p->fn)
            return NULL;
        run_chunk(p, s->thread);
        finish_job(p);
    }
}

/* ---- the caller side ----------------------------------------------------- */

static void publish(krt_pool *p, chunk_fn fn, void *arg, int64_t n)
{
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    atomic_store_explicit(&p->pending, p->threads - 1, memory_order_relaxed);
    atomic_fetch_add(&p->gen, 1);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
}

static void wait_workers(krt_pool *p)
{
    if (spin_done(p))
        return;
    atomic_store(&p->caller_waiting, 1);
    pthread_mutex_lock(&p->mu);
    while (atomic_load(&p->pending) != 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
    atomic_store(&p->caller_waiting, 0);
}

void krt_pool_for(krt_pool *pool, int64_t n,
                  void (*fn)(void *arg, int64_t begin, int64_t end, int thread), void *arg)
{
    if (n <= 0)
        return;
    if (!pool || pool->threads == 1 || n < 2) {
        fn(arg, 0, n, 0);
        return;
    }
    publish(pool, fn, arg, n);
    run_chunk(pool, 0);
    wait_workers(pool);
}

/* ---- kernel calls ------------------------------------------------------------ */

typedef struct kernel_job {
    const krt_kernel_info *k;
    const void *desc;
    void *const *ops;
    char *scratch;                /* NULL: no scratch */
    size_t stride;                /* scratch bytes per thread */
    krt_error init;               /* *err as the caller passed it */
    slot *slots;
    atomic_bool failed;           /* some chunk failed: only then are slots read */
} kernel_job;

static void kernel_chunk(void *arg, int64_t begin, int64_t end, int thread)
{
    kernel_job *j = arg;
    slot *s = &j->slots[thread];
    void *scratch = j->scratch ? j->scratch + (size_t)thread * j->stride : NULL;
    s->err = j->init;
    s->status = j->k->run(j->desc, j->ops, scratch, (krt_span){begin, end}, &s->err);
    if (s->status != KRT_OK)
        atomic_store_explicit(&j->failed, true, memory_order_relaxed);
}

krt_status krt_pool_run(krt_pool *pool, const krt_kernel_info *k, const void *desc,
                        void *const *ops, void *scratch, size_t scratch_stride,
                        int64_t units, krt_error *err)
{
    if (units <= 0)
        return KRT_OK;
    if (!pool || pool->threads == 1 || units < 2)
        return k->run(desc, ops, scratch, (krt_span){0, units}, err);
    kernel_job j = {k, desc, ops, scratch, scratch_stride, *err, pool->slots, false};
    krt_pool_for(pool, units, kernel_chunk, &j);
    if (!atomic_load_explicit(&j.failed, memory_order_relaxed))
        return KRT_OK;            /* the common case reads no other thread's slot */
    for (int t = 0; t < pool->threads; t++) {
        bool ran = chunk_begin(units, pool->threads, t) < chunk_begin(units, pool->threads, t + 1);
        if (ran && pool->slots[t].status != KRT_OK) {
            *err = pool->slots[t].err;
            return pool->slots[t].status;
        }
    }
    return KRT_OK;
}

/* ---- create / destroy ------------------------------------------------------ */

static size_t round_up(size_t x, size_t a)
{
    return (x + a - 1) / a * a;
}

/* Stops and joins the first `started` workers. */
static void stop_workers(krt_pool *p, int started)
{
    p->fn = NULL;
    p->n = 0;
    atomic_fetch_add(&p->gen, 1);
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < started; i++)
        pthread_join(p->workers[i], NULL);
}

static void free_pool(krt_pool *p)
{
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* The mutex and condition variables; false (nothing left to destroy) on
 * failure. */
static bool init_sync(krt_pool *p)
{
    if (pthread_mutex_init(&p->mu, NULL) != 0)
        return false;
    if (pthread_cond_init(&p->wake, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        return false;
    }
    if (pthread_cond_init(&p->done, NULL) != 0) {
        pthread_cond_destroy(&p->wake);
        pthread_mutex_destroy(&p->mu);
        return false;
    }
    return true;
}

/* The spin budget: none to speak of when threads outnumber online CPUs. */
static int64_t spin_budget(int threads)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus > 0 && threads > cpus ? 0 : KRT_POOL_SPIN_NS;
}

krt_pool *krt_pool_create(int threads)
{
    if (threads < 1 || threads > MAX_THREADS)
        return NULL;
    /* One block: the pool, its slots, its worker handles. */
    size_t slots_at = round_up(sizeof(krt_pool), CACHE_LINE);
    size_t workers_at = slots_at + (size_t)threads * sizeof(slot);
    size_t size = round_up(workers_at + (size_t)threads * sizeof(pthread_t), CACHE_LINE);
    krt_pool *p = aligned_alloc(CACHE_LINE, size);
    if (!p)
        return NULL;
    memset(p, 0, size);
    p->threads = threads;
    p->spin_ns = spin_budget(threads);
    p->slots = (slot *)((char *)p + slots_at);
    p->workers = (pthread_t *)((char *)p + workers_at);
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->caller_waiting, 0);
    if (!init_sync(p)) {
        free(p);
        return NULL;
    }
    for (int t = 0; t < threads; t++)
        p->slots[t].pool = p, p->slots[t].thread = t;
    for (int i = 0; i < threads - 1; i++) {
        if (pthread_create(&p->workers[i], NULL, worker_main, &p->slots[i + 1]) != 0) {
            stop_workers(p, i);
            free_pool(p);
            return NULL;
        }
    }
    return p;
}

void krt_pool_destroy(krt_pool *pool)
{
    if (!pool)
        return;
    stop_workers(pool, pool->threads - 1);
    free_pool(pool);
}

int krt_pool_threads(const krt_pool *pool)
{
    return pool ? pool->threads : 1;
}
