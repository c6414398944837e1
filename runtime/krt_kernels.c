/* krt_kernels.c — the kernel table: id -> info, from krt_kernels.def. */
#include "runtime/krt_kernel.h"

const krt_kernel_info *const krt_kernels[KRT_K_COUNT] = {
#define KRT_KERNEL(id, name) [KRT_K_##id] = &krt_kernel_##name,
#include "runtime/krt_kernels.def"
#undef KRT_KERNEL
};

int64_t krt_kernel_units(krt_kernel_id id, const void *desc)
{
    const krt_kernel_info *k = krt_kernels[id];
    return k->units ? k->units(desc) : 1;
}

size_t krt_kernel_scratch(krt_kernel_id id, const void *desc)
{
    const krt_kernel_info *k = krt_kernels[id];
    return k->scratch_size ? k->scratch_size(desc) : 0;
}
