/* krt_kernel.h — the one calling convention of every kernel call.
 *
 * Every executor of a kiln graph — the reference interpreter, the C
 * backend's generated code, the LLVM backend's generated code — runs a node
 * as one or more *kernel calls*, produced in one place (ir/lower.h):
 *
 *     krt_kernels[id]->run(desc, ops, scratch, range, err)
 *
 *   desc     the kernel's descriptor: a plain struct of its own type
 *            (krt_<name>_desc) holding dtypes, shapes, strides and
 *            attributes; no pointers and no hidden padding (holes are
 *            explicit padN fields, zeroed; tests/unit/no_padding.c checks
 *            it with -Wpadded), so a code generator can emit it as
 *            constant bytes and equal descriptors are equal bytes
 *   ops      data pointers, in the order the kernel documents (inputs,
 *            then outputs); NULL for an absent optional operand
 *   scratch  scratch_size(desc) bytes, 64-byte aligned, private to this
 *            call and thread (NULL when scratch_size is NULL or 0)
 *   range    the slice [begin, end) of the kernel's units(desc) parallel
 *            work units that this call computes; a kernel without a units
 *            function has one unit. Units are independent slices of the
 *            outputs (rows, channels, batch items): splitting a call into
 *            ranges never changes any summation order, so results are
 *            bit-identical for any thread count.
 *   err      filled on KRT_EINDEX / KRT_EVALUE with what was wrong, for
 *            the caller's message (which operand, which index)
 *
 * Kernels never allocate, keep no state between calls, and touch only
 * their operands and scratch. The table krt_kernels (krt_kernels.c, from
 * krt_kernels.def) maps an id to the kernel's info; adding a kernel is a
 * row there and a `const krt_kernel_info krt_kernel_<name>` in the
 * family's source.
 */
#ifndef KRT_KERNEL_H
#define KRT_KERNEL_H

#include "runtime/krt.h"

typedef struct krt_span {
    int64_t begin, end;               /* units [begin, end) */
} krt_span;

/* What a kernel found wrong, for a message naming the node and operand. */
typedef struct krt_error {
    int32_t operand;                  /* index into ops of the culprit; -1 unknown */
    int32_t pad0;                     /* explicit padding (every runtime struct has none hidden) */
    int64_t value;                    /* the offending value (an index...) */
    int64_t lo, hi;                   /* the valid range [lo, hi) */
    int64_t pos;                      /* element position within the operand */
    const char *what;                 /* static text, e.g. "sequence length"; may be NULL */
} krt_error;

typedef krt_status (*krt_kernel_fn)(const void *desc, void *const *ops, void *scratch,
                                    krt_span range, krt_error *err);

typedef struct krt_kernel_info {
    const char *name;                 /* "matmul": descriptor krt_matmul_desc */
    krt_kernel_fn run;
    size_t (*scratch_size)(const void *desc);  /* bytes per thread; NULL: none */
    int64_t (*units)(const void *desc);        /* parallel units; NULL: one */
    size_t desc_size;                 /* sizeof the descriptor */
} krt_kernel_info;

typedef enum krt_kernel_id {
    KRT_K_NONE = 0,
#define KRT_KERNEL(id, name) KRT_K_##id,
#include "runtime/krt_kernels.def"
#undef KRT_KERNEL
    KRT_K_COUNT
} krt_kernel_id;

#define KRT_KERNEL(id, name) extern const krt_kernel_info krt_kernel_##name;
#include "runtime/krt_kernels.def"
#undef KRT_KERNEL

/* Indexed by krt_kernel_id; [KRT_K_NONE] is NULL. */
extern const krt_kernel_info *const krt_kernels[KRT_K_COUNT];

/* The number of parallel units of a call (1 when the kernel has none). */
int64_t krt_kernel_units(krt_kernel_id id, const void *desc);
/* Scratch bytes one thread needs for a call (0 when none). */
size_t krt_kernel_scratch(krt_kernel_id id, const void *desc);

#endif /* KRT_KERNEL_H */
