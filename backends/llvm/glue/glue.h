/* glue.h — what glue.c (compiled to bitcode) and llvm_model.c (in kiln)
 * share: the per-call job of a --threads N NAME_run. Both are built for
 * LP64 targets, so kiln's sizeof is the bitcode's. */
#ifndef KILN_LLVM_GLUE_H
#define KILN_LLVM_GLUE_H

#include <stddef.h>
#include <stdint.h>

/* kiln compile --threads takes 1..256. */
#define KILN_LLVM_MAX_THREADS 256

/* One kernel call split over a pool (krt_pool_for): NAME_run's one job,
 * reused call after call (the pool finishes a call before the next one).
 * Chunk t writes status[t]; the first failing chunk's status is the call's,
 * as krt_pool_run reports it. */
typedef struct kiln_llvm_job {
    void *const *ops;
    unsigned char *scratch;       /* thread t's: scratch + t * stride; NULL: none */
    size_t stride;
    int32_t status[KILN_LLVM_MAX_THREADS];   /* krt_status of chunk t */
} kiln_llvm_job;

#endif /* KILN_LLVM_GLUE_H */
