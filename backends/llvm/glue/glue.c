/* glue.c — the helpers the C backend prints into every NAME.c
 * (backends/c/cgen_model.c: run_call, check_args, stamp, and with
 * --threads N the pool's run_call, NAME_set_pool and bound_pool), as C, compiled to
 * bitcode with the runtime's kernels: the LLVM backend's NAME_run calls
 * them, so both backends check and call kernels with the same code. After
 * inlining at O3 nothing of them is left but the checks.
 *
 * Only ever compiled by clang to bitcode (backends/llvm/CMakeLists.txt),
 * never into kiln itself.
 */
#include "backends/llvm/glue/glue.h"
#include "runtime/kiln_model.h"
#include "runtime/krt_kernel.h"
#include "runtime/krt_pool.h"
#include "runtime/krt_profile.h"

#include <string.h>

int kiln_llvm_run_call(const krt_kernel_info *k, const void *desc, void *const *ops, void *scratch,
                       size_t scratch_bytes, int64_t units);
int kiln_llvm_check_args(const kiln_model_info *m, const void *const *inputs,
                         void *const *outputs, void *workspace);
void kiln_llvm_profile_start(const uint64_t *ns, uint64_t *last);
void kiln_llvm_profile_stamp(uint64_t *ns, uint32_t i, uint64_t *last);

/* One kernel call over all its units; a kernel's error as a KILN_RUN_*
 * code. The scratch was planned with kiln's build of the kernel: a build
 * that wants more is refused, not overrun. */
int kiln_llvm_run_call(const krt_kernel_info *k, const void *desc, void *const *ops, void *scratch,
                       size_t scratch_bytes, int64_t units)
{
    krt_error err = {.operand = -1};
    if (k->scratch_size && k->scratch_size(desc) > scratch_bytes)
        return KILN_RUN_EVALUE;
    krt_status st = k->run(desc, ops, scratch, (krt_span){0, units}, &err);
    return st == KRT_OK ? KILN_RUN_OK : st == KRT_EINDEX ? KILN_RUN_EINDEX : KILN_RUN_EVALUE;
}

/* NULL pointers (for tensors with data) and a misaligned workspace. */
int kiln_llvm_check_args(const kiln_model_info *m, const void *const *inputs,
                         void *const *outputs, void *workspace)
{
    if ((m->n_inputs && !inputs) || (m->n_outputs && !outputs))
        return KILN_RUN_EARG;
    if (m->workspace_size && (!workspace || (uintptr_t)workspace % 64 != 0))
        return KILN_RUN_EARG;
    for (uint32_t i = 0; i < m->n_inputs; i++)
        if (!inputs[i] && m->inputs[i].nbytes)
            return KILN_RUN_EARG;
    for (uint32_t i = 0; i < m->n_outputs; i++)
        if (!outputs[i] && m->outputs[i].nbytes)
            return KILN_RUN_EARG;
    return KILN_RUN_OK;
}

/* ---- --threads N: the pool bound to the workspace --------------------------------- */

/* The C backend's NAME_set_pool / bound_pool (backends/c/cgen_model.c): the
 * pool's address in bytes 24..31 of the workspace's 64-byte header, behind
 * a tag in 16..23, so a workspace never bound runs on the caller's thread. */
#define POOL_TAG UINT64_C(0x6b696c6e706f6f6c) /* "kilnpool" */

int kiln_llvm_set_pool(void *workspace, krt_pool *pool, int max_threads);
krt_pool *kiln_llvm_bound_pool(const void *workspace);
void kiln_llvm_chunk(const krt_kernel_info *k, const void *desc, kiln_llvm_job *j, int64_t begin,
                     int64_t end, int thread);
int kiln_llvm_run_pool(krt_pool *pool, const krt_kernel_info *k, const void *desc,
                       void (*chunk)(void *, int64_t, int64_t, int), kiln_llvm_job *j,
                       void *const *ops, void *scratch, size_t stride, int64_t units);

int kiln_llvm_set_pool(void *workspace, krt_pool *pool, int max_threads)
{
    uint64_t tag = POOL_TAG;
    if (!workspace || (uintptr_t)workspace % 64 != 0)
        return KILN_RUN_EARG;
    if (pool && krt_pool_threads(pool) > max_threads)
        return KILN_RUN_EARG;  /* the scratch was planned for max_threads */
    memcpy((unsigned char *)workspace + 16, &tag, sizeof tag);
    memcpy((unsigned char *)workspace + 24, &pool, sizeof pool);
    return KILN_RUN_OK;
}

krt_pool *kiln_llvm_bound_pool(const void *workspace)
{
    uint64_t tag;
    krt_pool *pool;
    memcpy(&tag, (const unsigned char *)workspace + 16, sizeof tag);
    if (tag != POOL_TAG)
        return NULL;
    memcpy(&pool, (const unsigned char *)workspace + 24, sizeof pool);
    return pool;
}

/* Chunk `thread` of one call: units [begin, end) on scratch slice `thread`.
 * NAME_run has one chunk function per call site that calls this with the
 * call's kernel and descriptor as constants; inlined there, k->run folds
 * to the kernel, which is inlined in turn and specialized for the
 * descriptor, as the one-thread kiln_llvm_run_call is. */
void kiln_llvm_chunk(const krt_kernel_info *k, const void *desc, kiln_llvm_job *j, int64_t begin,
                     int64_t end, int thread)
{
    krt_error err = {.operand = -1};
    void *scratch = j->scratch ? j->scratch + (size_t)thread * j->stride : NULL;
    j->status[thread] = k->run(desc, j->ops, scratch, (krt_span){begin, end}, &err);
}

/* The C backend's threaded run_call: one kernel call over all its units,
 * split over the pool (NULL: one chunk on this thread) exactly as
 * krt_pool_run splits it, so the outputs are the C backend's bits for any
 * thread count; the lowest failing chunk's status as a KILN_RUN_* code. */
int kiln_llvm_run_pool(krt_pool *pool, const krt_kernel_info *k, const void *desc,
                       void (*chunk)(void *, int64_t, int64_t, int), kiln_llvm_job *j,
                       void *const *ops, void *scratch, size_t stride, int64_t units)
{
    int threads = krt_pool_threads(pool);
    if (k->scratch_size && k->scratch_size(desc) > stride)
        return KILN_RUN_EVALUE;
    j->ops = ops, j->scratch = scratch, j->stride = stride;
    for (int t = 0; t < threads && t < KILN_LLVM_MAX_THREADS; t++)
        j->status[t] = KRT_OK;   /* a chunk with no units does not run */
    krt_pool_for(pool, units, chunk, j);
    for (int t = 0; t < threads && t < KILN_LLVM_MAX_THREADS; t++)
        if (j->status[t] != KRT_OK)
            return j->status[t] == KRT_EINDEX ? KILN_RUN_EINDEX : KILN_RUN_EVALUE;
    return KILN_RUN_OK;
}

/* NAME_run_profiled (ns not NULL): the clock when the first node starts. */
void kiln_llvm_profile_start(const uint64_t *ns, uint64_t *last)
{
    *last = ns ? krt_profile_now() : 0;
}

/* Node i's time since *last into ns[i]; *last becomes now, the next
 * node's start (the C backend's stamp). */
void kiln_llvm_profile_stamp(uint64_t *ns, uint32_t i, uint64_t *last)
{
    uint64_t now = krt_profile_now();
    ns[i] = now - *last;
    *last = now;
}
