/* types.c — dtype and op tables generated from the .def files, and the
 * small shape helpers (all overflow-checked). */
#include "ir/ir.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    size_t size;
} dtypes[KILN_DT_COUNT] = {
#define KRT_DTYPE(e, text, size, ctype) [KILN_DT_##e] = {text, size},
#include "runtime/krt_dtypes.def"
#undef KRT_DTYPE
};

const char *kiln_dtype_name(kiln_dtype dt)
{
    return (unsigned)dt < KILN_DT_COUNT ? dtypes[dt].name : "?";
}

size_t kiln_dtype_size(kiln_dtype dt)
{
    return (unsigned)dt < KILN_DT_COUNT ? dtypes[dt].size : 0;
}

kiln_dtype kiln_dtype_from_name(const char *name)
{
    for (int i = 1; i < KILN_DT_COUNT; i++)
        if (strcmp(dtypes[i].name, name) == 0)
            return (kiln_dtype)i;
    return KILN_DT_UNDEF;
}

bool kiln_dtype_is_float(kiln_dtype dt)
{
    return dt == KILN_DT_F32 || dt == KILN_DT_F64 || dt == KILN_DT_F16 || dt == KILN_DT_BF16;
}

bool kiln_dtype_is_int(kiln_dtype dt)
{
    return dt >= KILN_DT_I8 && dt <= KILN_DT_U64;
}

bool kiln_dtype_is_signed(kiln_dtype dt)
{
    return kiln_dtype_is_float(dt) || (dt >= KILN_DT_I8 && dt <= KILN_DT_I64);
}

/* The ops.def columns, spelled short there, as the enums here. */
#define ONNX KILN_DOMAIN_ONNX
#define KILN KILN_DOMAIN_KILN
#define ELEMENTWISE KILN_FAMILY_ELEMENTWISE
#define REDUCE KILN_FAMILY_REDUCE
#define LINALG KILN_FAMILY_LINALG
#define MOVEMENT KILN_FAMILY_MOVEMENT
#define NONE KILN_OPF_NONE
#define EW KILN_OPF_EW
#define INPLACE KILN_OPF_INPLACE
const kiln_op_info kiln_op_infos[KILN_OP_COUNT] = {
#define KILN_OP(e, name, domain, family, flags, min_in, max_in, min_out, max_out) \
    [KILN_OP_##e] = {name, domain, family, flags, min_in, max_in, min_out, max_out},
#include "ir/ops.def"
#undef KILN_OP
};
#undef ONNX
#undef KILN
#undef ELEMENTWISE
#undef REDUCE
#undef LINALG
#undef MOVEMENT
#undef NONE
#undef EW
#undef INPLACE

static const char kiln_domain_prefix[] = "kiln.";

const char *kiln_op_name(kiln_op op)
{
    return (unsigned)op < KILN_OP_COUNT ? kiln_op_infos[op].name : "?";
}

const char *kiln_op_text_name(kiln_op op, char *buf, size_t size)
{
    bool own = (unsigned)op < KILN_OP_COUNT && kiln_op_infos[op].domain == KILN_DOMAIN_KILN;
    snprintf(buf, size, "%s%s", own ? kiln_domain_prefix : "", kiln_op_name(op));
    return buf;
}

kiln_op kiln_op_from_name(const char *name)
{
    size_t plen = sizeof kiln_domain_prefix - 1;
    kiln_op_domain domain = KILN_DOMAIN_ONNX;
    if (strncmp(name, kiln_domain_prefix, plen) == 0) {
        domain = KILN_DOMAIN_KILN;
        name += plen;
    }
    for (int i = 0; i < KILN_OP_COUNT; i++)
        if (kiln_op_infos[i].domain == domain && strcmp(kiln_op_infos[i].name, name) == 0)
            return (kiln_op)i;
    return KILN_OP_COUNT;
}

kiln_shape kiln_shape_make(int rank, const int64_t *dims)
{
    KILN_ASSERT(rank >= 0 && rank <= KILN_MAX_RANK);
    kiln_shape s = {.rank = rank};
    for (int i = 0; i < rank; i++)
        s.dim[i] = dims ? dims[i] : 0;
    return s;
}

kiln_shape kiln_shape_unknown(void)
{
    kiln_shape s = {.rank = -1};
    return s;
}

bool kiln_shape_is_static(const kiln_shape *s)
{
    if (s->rank < 0)
        return false;
    for (int i = 0; i < s->rank; i++)
        if (KILN_DIM_IS_SYM(s->dim[i]))
            return false;
    return true;
}

bool kiln_shape_equal(const kiln_shape *a, const kiln_shape *b)
{
    if (a->rank != b->rank)
        return false;
    for (int i = 0; i < a->rank; i++)
        if (a->dim[i] != b->dim[i])
            return false;
    return true;
}

bool kiln_mul_size(int64_t a, int64_t b, int64_t *out)
{
    if (a < 0 || b < 0)
        return false;
    return !__builtin_mul_overflow(a, b, out);
}

bool kiln_add_size(int64_t a, int64_t b, int64_t *out)
{
    if (a < 0 || b < 0)
        return false;
    return !__builtin_add_overflow(a, b, out);
}

bool kiln_shape_numel(const kiln_shape *s, int64_t *numel)
{
    int64_t n = 1;
    if (s->rank < 0)
        return false;
    for (int i = 0; i < s->rank; i++)
        if (!kiln_mul_size(n, s->dim[i], &n))
            return false;
    *numel = n;
    return true;
}
