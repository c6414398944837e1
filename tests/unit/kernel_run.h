/* kernel_run.h — calling one kernel (runtime/krt_kernel.h) from a unit
 * test: scratch sized by the kernel and filled with garbage (a kernel must
 * not rely on zeroed scratch), over the whole unit range or split into
 * several ranges, as a thread pool would.
 *
 *     CU_ASSERT_EQUAL(kernel_run(&krt_kernel_conv, &d, OPS(x, w, b, y)), KRT_OK);
 */
#ifndef KILN_TEST_KERNEL_RUN_H
#define KILN_TEST_KERNEL_RUN_H

#include "runtime/krt_kernel.h"

#include <stdlib.h>
#include <string.h>

/* An operand list: inputs then outputs, NULL for an absent one. */
#define OPS(...) ((void *const[]){__VA_ARGS__})

static inline int64_t kernel_units(const krt_kernel_info *k, const void *desc)
{
    return k->units ? k->units(desc) : 1;
}

/* Runs units [begin, end) with fresh scratch; err may be NULL. */
static inline krt_status kernel_run_range(const krt_kernel_info *k, const void *desc,
                                          void *const *ops, int64_t begin, int64_t end,
                                          krt_error *err)
{
    size_t bytes = k->scratch_size ? k->scratch_size(desc) : 0;
    void *s = bytes ? aligned_alloc(64, (bytes + 63) / 64 * 64) : NULL;
    krt_error e = {.operand = -1};
    if (s)
        memset(s, 0xa5, bytes);
    krt_status st = k->run(desc, ops, s, (krt_span){begin, end}, err ? err : &e);
    free(s);
    return st;
}

/* The whole call: every unit at once. */
static inline krt_status kernel_run(const krt_kernel_info *k, const void *desc, void *const *ops)
{
    return kernel_run_range(k, desc, ops, 0, kernel_units(k, desc), NULL);
}

/* The call as `parts` consecutive ranges of unequal sizes (as many as
 * there are units at most), each with its own scratch. */
static inline krt_status kernel_run_split(const krt_kernel_info *k, const void *desc,
                                          void *const *ops, int64_t parts)
{
    int64_t units = kernel_units(k, desc), at = 0;
    krt_status st = KRT_OK;
    for (int64_t p = 1; p <= parts && st == KRT_OK; p++) {
        int64_t end = p == parts ? units : units * p * p / (parts * parts);
        if (end > at)
            st = kernel_run_range(k, desc, ops, at, end, NULL);
        at = end > at ? end : at;
    }
    return st;
}

#endif /* KILN_TEST_KERNEL_RUN_H */
