/* krt_pool.h — a small pthread pool that splits one kernel call over threads.
 *
 * Generated code and the interpreter run a graph as a sequence of kernel
 * calls (krt_kernel.h). A call with units(desc) > 1 can be cut into
 * contiguous ranges of units, one per thread; because units are independent
 * slices of the output, the result is bit-identical for any thread count.
 *
 * The partition is fixed and documented, so a run is reproducible and a
 * test can check it: with T threads, chunk t (t = 0..T-1) is
 *
 *     [t * n / T, (t + 1) * n / T)        (integer division, no overflow)
 *
 * and uses scratch + t * scratch_stride; t is the `thread` index the
 * chunk's code sees. Chunks with no units are skipped (the kernel is not
 * called for them). The caller's own thread runs chunk 0; the workers
 * claim chunks 1..T-1, normally one each, and the caller runs any chunk
 * that no worker has claimed by the time it finishes its own, so a worker
 * that is asleep or not scheduled never delays a call (one preempted in
 * the middle of its chunk still does). Hence the index t,
 * not the OS thread, is what owns a scratch slot: within one call each t
 * runs exactly once, but which OS thread runs chunk t >= 1 may vary from
 * call to call (so kernels keep per-thread state in scratch, never in
 * thread-local storage).
 *
 * Threading contract: one pool is driven by one caller thread at a time
 * (krt_pool_run / krt_pool_for are not reentrant: a kernel running on the
 * pool must not call back into the same pool). Different pools may be used
 * from different threads at the same time. The only allocation happens in
 * krt_pool_create; running never allocates.
 *
 * Profile: with KRT_POOL_PROFILE=1 in the environment when a pool is
 * created, krt_pool_run times every chunk in thread CPU time and
 * krt_pool_destroy prints, per kernel, the busy time, the critical path
 * (sum over calls of the busiest chunk) and the CPU time between calls,
 * and from them the speed-up the partition allows; CPU time, so the
 * figures hold on a loaded machine where wall clocks do not.
 *
 * Plain C11 + pthreads; no kiln compiler headers.
 */
#ifndef KRT_POOL_H
#define KRT_POOL_H

#include "runtime/krt_kernel.h"

typedef struct krt_pool krt_pool;

/* A pool of `threads` threads in total, counting the caller's: threads - 1
 * workers are started (1: none, every call runs inline). NULL when threads
 * < 1 or > 1024, or on allocation or thread-creation failure. Pair with
 * krt_pool_destroy. */
krt_pool *krt_pool_create(int threads);

/* Stops and joins the workers and frees the pool. NULL is a no-op. Must not
 * be called while a krt_pool_run / krt_pool_for on the pool is in flight. */
void krt_pool_destroy(krt_pool *pool);

/* Threads taking part in a call, the caller's included; 1 for NULL. */
int krt_pool_threads(const krt_pool *pool);

/* Runs one kernel call k->run(desc, ops, ...) over units [0, units), split
 * as above: chunk t gets its range of units and scratch + t *
 * scratch_stride (scratch NULL: every chunk gets NULL), so the caller
 * provides krt_pool_threads(pool) * scratch_stride bytes; scratch_stride
 * must be at least the kernel's scratch_size and a multiple of 64 (the
 * kernel ABI promises 64-byte aligned scratch).
 *
 * Returns KRT_OK when every chunk succeeded; otherwise the status of the
 * lowest-numbered failing chunk, and *err is that chunk's error (each chunk
 * starts from a copy of *err as passed in, as an inline call would). On
 * success *err is unchanged.
 *
 * pool NULL, one thread, or units < 2: runs inline as one call over
 * [0, units) on the caller's thread with scratch and err as given. units <=
 * 0: nothing to compute, KRT_OK without calling the kernel. */
krt_status krt_pool_run(krt_pool *pool, const krt_kernel_info *k, const void *desc,
                        void *const *ops, void *scratch, size_t scratch_stride,
                        int64_t units, krt_error *err);

/* Generic form: fn(arg, begin, end, t) for each non-empty chunk t of
 * [0, n), split the same way (pool NULL, one thread or n < 2: one call
 * fn(arg, 0, n, 0) when n > 0). Returns when every chunk has finished; what
 * the chunks wrote is then visible to the caller. */
void krt_pool_for(krt_pool *pool, int64_t n,
                  void (*fn)(void *arg, int64_t begin, int64_t end, int thread), void *arg);

#endif /* KRT_POOL_H */
