/* krt_common.c — dtype facts shared by all kernel families. */
#include "runtime/krt.h"

static const struct {
    const char *name;
    size_t size;
} dtypes[KRT_DTYPE_COUNT] = {
#define KRT_DTYPE(e, text, size, ctype) [KRT_##e] = {text, size},
#include "runtime/krt_dtypes.def"
#undef KRT_DTYPE
};

size_t krt_dtype_size(krt_dtype dt)
{
    return (unsigned)dt < KRT_DTYPE_COUNT ? dtypes[dt].size : 0;
}

const char *krt_dtype_name(krt_dtype dt)
{
    return (unsigned)dt < KRT_DTYPE_COUNT ? dtypes[dt].name : "?";
}
