/* krt_pool.c — the thread pool behind krt_pool_run (see krt_pool.h).
 *
 * Design. A call cuts [0, n) into T fixed chunks (chunk t is
 * [t*n/T, (t+1)*n/T), with scratch slot t). Everything about the call in
 * flight lives in one atomic word, `state` = gen:32 | done:16 | next:16:
 * the caller publishes a job as a new gen with next = 1 (chunk 0 is its
 * own); a participant claims chunk `next` with a CAS (next + 1) and, after
 * running it, adds 1 to `done`. The caller runs chunk 0, then claims any
 * chunk still unclaimed (a worker that is asleep, descheduled or late
 * never holds a call up: its chunk is simply run by the caller), then waits
 * for done == T - 1. One word, so a hand-off and a completion each cost
 * one cache-line transfer between cores.
 * Who waits where:
 *
 *   workers  wait for a new gen in `state`     spin, then sleep on cond `wake`
 *   caller   waits for done == T-1 in `state`  spin, then sleep on cond `done`
 *
 * Why spin then sleep: a ViT inference is a few hundred kernel calls in a
 * row, many of them microseconds long. Waking a sleeping thread costs a
 * futex syscall plus a scheduler wake-up (tens of microseconds), more than
 * many of the calls; a worker that is still spinning sees the next gen
 * within a cache-line transfer. So a waiter pauses in a loop for PAUSE_NS,
 * then keeps polling with sched_yield in between (a spinning waiter must
 * not starve the threads it waits for on a busy machine), and sleeps once
 * spin_ns has passed, so an idle pool does not burn cores. With more
 * threads than CPUs to run them (online CPUs, or the process's affinity
 * mask) the budget drops to a few dozen polls.
 *
 * Sleeping without lost wake-ups (Dekker style, all seq_cst):
 *   worker: sleepers++; lock; while gen(state) == seen: wait(wake); unlock
 *   caller: store state; if sleepers > 0: lock; broadcast(wake); unlock
 * Either the caller sees the sleeper and broadcasts under the mutex, or
 * the worker sees the new gen before it blocks. The caller's sleep on
 * `done` is the mirror image, with `caller_waiting` and the done count.
 *
 * Invariants:
 *   - one job in flight: the caller rewrites the job fields (fn, arg, n)
 *     only after done == T - 1, i.e. after every claimed chunk has
 *     finished; a participant reads them only after a successful claim of
 *     the current gen (a stale CAS fails on the gen bits), so job fields and
 *     result slots are plain memory, ordered by `state`: the publishing
 *     store is a release read by an acquire load or CAS, and the claims and
 *     done increments are RMWs, a release sequence the caller's acquire
 *     load of done == T - 1 synchronizes with;
 *   - each chunk is claimed exactly once per gen, so `thread` (= chunk
 *     index = scratch slot = result slot) is exclusive within a call;
 *   - only the caller stores to `state`; everyone else only CASes `next`
 *     upward within the gen they read, or adds to `done` after a chunk it
 *     claimed in the current gen (so `done` never counts a stale chunk and
 *     never exceeds T - 1 < 2^16);
 *   - `stop` is set before the last gen bump of krt_pool_destroy;
 *   - result slots are cache-line sized, so chunks never share a line.
 */
#define _GNU_SOURCE               /* sched_getaffinity, CPU_COUNT (Linux only) */
#define _POSIX_C_SOURCE 200809L

#include "runtime/krt_pool.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef KRT_POOL_SPIN_NS
#define KRT_POOL_SPIN_NS 200000   /* how long a waiter polls before it sleeps */
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

/* `state`: the generation, the chunks done (of 1..T-1), the next unclaimed. */
#define GEN(s) ((uint32_t)((s) >> 32))
#define DONE(s) ((int)(((s) >> 16) & 0xffff))
#define NEXT(s) ((int)((s) & 0xffff))
#define ONE_DONE ((uint64_t)1 << 16)

/* One chunk's result in krt_pool_run, on its own cache line. */
typedef struct slot {
    alignas(CACHE_LINE) krt_status status;
    krt_error err;
    int64_t busy_ns;              /* profile: thread CPU time of the chunk */
    int32_t by_caller;            /* profile: the caller ran this chunk (t >= 1) */
} slot;

/* KRT_POOL_PROFILE=1 in the environment when the pool is created: every
 * kernel call records the thread CPU time (CLOCK_THREAD_CPUTIME_ID, so
 * preemption by other processes does not count) of each chunk, and
 * krt_pool_destroy prints per kernel: the total busy time, the sum over
 * calls of the busiest chunk (the call's critical path), and, for the
 * caller, the CPU time between calls (serial work outside the kernels).
 * From them, the speed-up the partition allows whatever the machine's load:
 *   ideal = (busy + serial) / (critical path + serial).
 * Off (the default), the only cost is one predictable branch per call. */
enum { PROF_KERNELS = 64 };
typedef struct prof_row {
    const char *name;             /* the kernel's; NULL: free row */
    int64_t calls, split;         /* calls; of which split over > 1 chunk */
    int64_t busy_ns, crit_ns;     /* sum of chunks; sum over calls of the largest */
    int64_t by_caller;            /* chunks t >= 1 the caller ran (no worker came) */
} prof_row;
typedef struct prof {
    prof_row rows[PROF_KERNELS];
    int64_t serial_ns;            /* caller CPU time between consecutive calls */
    int64_t last_end;             /* caller CPU clock at the end of the last call; 0: none */
    int64_t chunk_ns[2];          /* busy of chunk 0 (the caller) and of chunks >= 1 */
} prof;

struct krt_pool {
    int threads;                  /* chunks per call: caller + workers */
    int64_t spin_ns;              /* spin budget of a waiter */
    slot *slots;                  /* [threads] */
    pthread_t *workers;           /* [threads - 1] */

    /* The job: written by the caller, then published by storing state. */
    alignas(CACHE_LINE) _Atomic uint64_t state;  /* gen:32 | done:16 | next:16 */
    chunk_fn fn;
    void *arg;
    int64_t n;                    /* units [0, n) */

    alignas(CACHE_LINE) atomic_int sleepers;  /* workers asleep (or about to be) on wake */
    atomic_int caller_waiting;    /* the caller sleeps (or is about to) on done */
    atomic_bool stop;             /* workers exit at the next gen */
    pthread_mutex_t mu;
    pthread_cond_t wake;          /* gen moved */
    pthread_cond_t done;          /* done reached T - 1 */
    prof *prof;                   /* KRT_POOL_PROFILE: the statistics; NULL: off */
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

static int64_t clock_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

static int64_t cpu_ns(void)
{
    return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

/* First unit of chunk t of [0, n) over T chunks: t * n / T, computed
 * without forming t * n. */
static int64_t chunk_begin(int64_t n, int T, int t)
{
    return n / T * t + n % T * t / T;
}

/* Runs chunk t of the current job unless it is empty. */
static void run_chunk(krt_pool *p, int t)
{
    int64_t b = chunk_begin(p->n, p->threads, t), e = chunk_begin(p->n, p->threads, t + 1);
    if (b < e)
        p->fn(p->arg, b, e, t);
}

/* Claims the next chunk of generation `gen`: its index, or -1 when all
 * are taken or the gen has moved on. *s is the state as last seen (a
 * failed CAS refreshes it). */
static int claim(krt_pool *p, uint64_t *s, uint32_t gen)
{
    while (GEN(*s) == gen && NEXT(*s) < p->threads) {
        uint64_t want = *s + 1;
        if (atomic_compare_exchange_weak(&p->state, s, want)) {
            *s = want;
            return NEXT(want) - 1;
        }
    }
    return -1;
}

/* A waiter's spin state: when it started, how often it polled. */
typedef struct spin {
    int64_t start;                /* ns; 0 before the first clock read */
    unsigned polls;
    bool yielding;                /* past PAUSE_NS: give the CPU away between polls */
} spin;

/* Called after each failed poll: pause (or yield once pausing has lasted
 * PAUSE_NS); false once `budget` ns have passed. */
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

/* ---- the worker side --------------------------------------------------------- */

/* Blocks until the state shows a gen other than `seen`; returns it. */
static uint64_t wait_job(krt_pool *p, uint32_t seen)
{
    spin sp = {0, 0, false};
    uint64_t s;
    while (GEN(s = atomic_load_explicit(&p->state, memory_order_acquire)) == seen)
        if (!spin_again(&sp, p->spin_ns))
            break;
    if (GEN(s) != seen)
        return s;
    atomic_fetch_add(&p->sleepers, 1);
    pthread_mutex_lock(&p->mu);
    while (GEN(s = atomic_load(&p->state)) == seen)
        pthread_cond_wait(&p->wake, &p->mu);
    pthread_mutex_unlock(&p->mu);
    atomic_fetch_sub(&p->sleepers, 1);
    return s;
}

/* A worker finished a chunk; the one finishing the last wakes a sleeping
 * caller. No job field may be read after the increment. */
static void finish_chunk(krt_pool *p)
{
    uint64_t old = atomic_fetch_add(&p->state, ONE_DONE);
    if (DONE(old) + 1 == p->threads - 1 && atomic_load(&p->caller_waiting)) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_signal(&p->done);
        pthread_mutex_unlock(&p->mu);
    }
}

static void *worker_main(void *arg)
{
    krt_pool *p = arg;
    uint32_t seen = 0;            /* gen starts at 0, before any worker runs */
    for (;;) {
        uint64_t s = wait_job(p, seen);
        if (atomic_load(&p->stop))
            return NULL;
        seen = GEN(s);
        for (int t; (t = claim(p, &s, seen)) >= 0;) {
            run_chunk(p, t);
            finish_chunk(p);
        }
    }
}

/* ---- the caller side ----------------------------------------------------- */

/* Publishes job (fn, arg, n) as the next gen and wakes sleeping workers;
 * returns the gen. */
static uint32_t publish(krt_pool *p, chunk_fn fn, void *arg, int64_t n)
{
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    uint32_t gen = GEN(atomic_load_explicit(&p->state, memory_order_relaxed)) + 1;
    atomic_store(&p->state, (uint64_t)gen << 32 | 1);   /* none done; chunk 0 is the caller's */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    return gen;
}

/* Waits for chunks 1..T-1 to be done; s is the state as last seen. */
static void wait_workers(krt_pool *p, uint64_t s)
{
    int last = p->threads - 1;
    spin sp = {0, 0, false};
    while (DONE(s) != last && spin_again(&sp, p->spin_ns))
        s = atomic_load_explicit(&p->state, memory_order_acquire);
    if (DONE(s) == last)
        return;
    atomic_store(&p->caller_waiting, 1);
    pthread_mutex_lock(&p->mu);
    while (DONE(atomic_load(&p->state)) != last)
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
    uint32_t gen = publish(pool, fn, arg, n);
    run_chunk(pool, 0);
    /* Whatever no worker has claimed yet, the caller runs itself. */
    uint64_t s = atomic_load_explicit(&pool->state, memory_order_acquire);
    for (int t; (t = claim(pool, &s, gen)) >= 0;) {
        run_chunk(pool, t);
        s = atomic_fetch_add(&pool->state, ONE_DONE) + ONE_DONE;
    }
    wait_workers(pool, s);
}

/* ---- kernel calls ------------------------------------------------------------ */

typedef struct kernel_job {
    const krt_kernel_info *k;
    const void *desc;
    void *const *ops;
    char *scratch;                /* NULL: no scratch */
    size_t stride;                /* scratch bytes per chunk */
    krt_error init;               /* *err as the caller passed it */
    slot *slots;
    atomic_bool failed;           /* some chunk failed: only then are slots read */
    bool profile;                 /* time each chunk into its slot */
    pthread_t caller;             /* profile: who ran a chunk */
} kernel_job;

static void kernel_chunk(void *arg, int64_t begin, int64_t end, int thread)
{
    kernel_job *j = arg;
    slot *s = &j->slots[thread];
    void *scratch = j->scratch ? j->scratch + (size_t)thread * j->stride : NULL;
    s->err = j->init;
    int64_t t0 = j->profile ? cpu_ns() : 0;
    s->status = j->k->run(j->desc, j->ops, scratch, (krt_span){begin, end}, &s->err);
    if (j->profile) {
        s->busy_ns = cpu_ns() - t0;
        s->by_caller = thread > 0 && pthread_equal(pthread_self(), j->caller);
    }
    if (s->status != KRT_OK)
        atomic_store_explicit(&j->failed, true, memory_order_relaxed);
}

/* The profile row of kernel k (a free one on first sight; NULL when the
 * table is full). */
static prof_row *prof_row_of(prof *pr, const krt_kernel_info *k)
{
    for (int i = 0; i < PROF_KERNELS; i++) {
        if (pr->rows[i].name == k->name)
            return &pr->rows[i];
        if (!pr->rows[i].name) {
            pr->rows[i].name = k->name;
            return &pr->rows[i];
        }
    }
    return NULL;
}

/* Accounts one call: chunks [0, ran) of slots, or one inline call of busy_ns. */
static void prof_call(krt_pool *pool, const krt_kernel_info *k, int64_t start, int64_t units,
                      int64_t inline_ns)
{
    prof *pr = pool->prof;
    if (pr->last_end)
        pr->serial_ns += start - pr->last_end;
    prof_row *row = prof_row_of(pr, k);
    if (row) {
        row->calls++;
        if (inline_ns >= 0) {
            row->busy_ns += inline_ns;
            row->crit_ns += inline_ns;
            pr->chunk_ns[0] += inline_ns;
        } else {
            int64_t most = 0;
            row->split++;
            for (int t = 0; t < pool->threads; t++) {
                if (chunk_begin(units, pool->threads, t) == chunk_begin(units, pool->threads, t + 1))
                    continue;
                const slot *sl = &pool->slots[t];
                row->busy_ns += sl->busy_ns;
                row->by_caller += sl->by_caller;
                pr->chunk_ns[t > 0] += sl->busy_ns;
                most = sl->busy_ns > most ? sl->busy_ns : most;
            }
            row->crit_ns += most;
        }
    }
    pr->last_end = cpu_ns();
}

krt_status krt_pool_run(krt_pool *pool, const krt_kernel_info *k, const void *desc,
                        void *const *ops, void *scratch, size_t scratch_stride,
                        int64_t units, krt_error *err)
{
    if (units <= 0)
        return KRT_OK;
    if (!pool || pool->threads == 1 || units < 2) {
        if (!pool || !pool->prof)
            return k->run(desc, ops, scratch, (krt_span){0, units}, err);
        int64_t t0 = cpu_ns();
        krt_status st = k->run(desc, ops, scratch, (krt_span){0, units}, err);
        prof_call(pool, k, t0, units, cpu_ns() - t0);
        return st;
    }
    kernel_job j = {k, desc, ops, scratch, scratch_stride, *err, pool->slots, false,
                    pool->prof != NULL, pthread_self()};
    int64_t t0 = j.profile ? cpu_ns() : 0;
    krt_pool_for(pool, units, kernel_chunk, &j);
    if (j.profile)
        prof_call(pool, k, t0, units, -1);
    if (!atomic_load_explicit(&j.failed, memory_order_relaxed))
        return KRT_OK;            /* the common case reads no other chunk's slot */
    for (int t = 0; t < pool->threads; t++) {
        bool ran = chunk_begin(units, pool->threads, t) < chunk_begin(units, pool->threads, t + 1);
        if (ran && pool->slots[t].status != KRT_OK) {
            *err = pool->slots[t].err;
            return pool->slots[t].status;
        }
    }
    return KRT_OK;
}

/* KRT_POOL_PROFILE: the table on stderr, largest busy time first. */
static void prof_print(const krt_pool *p)
{
    prof *pr = p->prof;
    prof_row *r = pr->rows;
    int n = 0;
    while (n < PROF_KERNELS && r[n].name)
        n++;
    for (int i = 1; i < n; i++)      /* insertion sort by busy, descending */
        for (int j = i; j > 0 && r[j].busy_ns > r[j - 1].busy_ns; j--) {
            prof_row tmp = r[j];
            r[j] = r[j - 1];
            r[j - 1] = tmp;
        }
    int64_t busy = pr->serial_ns, crit = pr->serial_ns;
    fprintf(stderr, "krt_pool profile, %d threads (thread CPU time, ms)\n", p->threads);
    fprintf(stderr, "  %-16s %8s %8s %10s %10s %8s %8s\n", "kernel", "calls", "split", "busy",
            "critical", "balance", "stolen");
    for (int i = 0; i < n; i++) {
        busy += r[i].busy_ns;
        crit += r[i].crit_ns;
        double bal = r[i].crit_ns ? (double)r[i].busy_ns / ((double)r[i].crit_ns * p->threads) : 1;
        fprintf(stderr, "  %-16s %8lld %8lld %10.3f %10.3f %8.3f %8lld\n", r[i].name,
                (long long)r[i].calls, (long long)r[i].split, r[i].busy_ns / 1e6,
                r[i].crit_ns / 1e6, r[i].split ? bal : 0.0, (long long)r[i].by_caller);
    }
    fprintf(stderr, "  %-16s %8s %8s %10.3f %10.3f\n", "(between calls)", "", "",
            pr->serial_ns / 1e6, pr->serial_ns / 1e6);
    fprintf(stderr, "  total busy %.3f ms (chunk 0 %.3f, chunks >= 1 %.3f), critical path %.3f ms: "
            "ideal speed-up %.3f\n", busy / 1e6, pr->chunk_ns[0] / 1e6, pr->chunk_ns[1] / 1e6,
            crit / 1e6, crit ? (double)busy / (double)crit : 1.0);
}

/* ---- create / destroy ------------------------------------------------------ */

static size_t round_up(size_t x, size_t a)
{
    return (x + a - 1) / a * a;
}

/* Stops and joins the first `started` workers. */
static void stop_workers(krt_pool *p, int started)
{
    atomic_store(&p->stop, true);
    uint64_t s = atomic_load(&p->state);
    atomic_store(&p->state, (uint64_t)(GEN(s) + 1) << 32 | (uint32_t)p->threads);
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < started; i++)
        pthread_join(p->workers[i], NULL);
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

static void free_pool(krt_pool *p)
{
    free(p->prof);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* CPUs this process may run on (its affinity mask where known, e.g. under
 * taskset or a cpuset), else the online ones; <= 0 when unknown. */
static long usable_cpus(void)
{
#if defined(__linux__) && defined(CPU_COUNT)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        return CPU_COUNT(&set);
#endif
    return sysconf(_SC_NPROCESSORS_ONLN);
}

/* The spin budget: none to speak of when threads outnumber usable CPUs. */
static int64_t spin_budget(int threads)
{
    long cpus = usable_cpus();
    return cpus > 0 && threads > cpus ? 0 : KRT_POOL_SPIN_NS;
}

/* Starts the workers with every signal blocked, so that signals meant for
 * the program reach its own threads, never a worker; on failure stops the
 * ones already started. */
static bool start_workers(krt_pool *p)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int started = 0;
    while (started < p->threads - 1 &&
           pthread_create(&p->workers[started], NULL, worker_main, p) == 0)
        started++;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (started == p->threads - 1)
        return true;
    stop_workers(p, started);
    return false;
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
    atomic_init(&p->state, (uint64_t)threads);    /* gen 0, nothing to claim */
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->caller_waiting, 0);
    atomic_init(&p->stop, false);
    const char *profile = getenv("KRT_POOL_PROFILE");
    if (profile && *profile && strcmp(profile, "0") != 0 && !(p->prof = calloc(1, sizeof(prof)))) {
        free(p);
        return NULL;
    }
    if (!init_sync(p)) {
        free(p->prof);
        free(p);
        return NULL;
    }
    if (!start_workers(p)) {
        free_pool(p);
        return NULL;
    }
    return p;
}

void krt_pool_destroy(krt_pool *pool)
{
    if (!pool)
        return;
    stop_workers(pool, pool->threads - 1);
    if (pool->prof)
        prof_print(pool);
    free_pool(pool);
}

int krt_pool_threads(const krt_pool *pool)
{
    return pool ? pool->threads : 1;
}
