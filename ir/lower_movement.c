/* lower_movement.c — lowering of the movement family: node -> kernel calls
 * (ir/lower.h).
 *
 * Ops that only reinterpret their input's shape (Identity, Reshape,
 * Flatten, Squeeze, Unsqueeze) are a byte copy that may run in place: with
 * the memory plan, the output shares the input's buffer and the copy
 * becomes a no-op (krt_kernel_copy skips src == dst).
 */
#include "ir/lower.h"
#include "runtime/krt_movement.h"

static kiln_status lower_copy(kiln_lower *l)
{
    const kiln_value *x = kiln_lower_in(l, 0), *y = kiln_lower_out(l, 0);
    if (kiln_lower_numel(x) != kiln_lower_numel(y) || x->dtype != y->dtype)
        return kiln_lower_fail(l, "output has %lld elements, input %lld",
                               (long long)kiln_lower_numel(y), (long long)kiln_lower_numel(x));
    krt_copy_desc d = {.nbytes = kiln_lower_numel(y) * (int64_t)kiln_dtype_size(y->dtype)};
    uint32_t ops[] = {kiln_lower_in_id(l, 0), kiln_lower_out_id(l, 0)};
    kiln_lower_emit(l, KRT_K_COPY, &d, ops, 2)->inplace = 0;
    return KILN_OK;
}

const kiln_lower_fn kiln_lower_movement[KILN_OP_COUNT] = {
    [KILN_OP_RESHAPE] = lower_copy,
    [KILN_OP_FLATTEN] = lower_copy,
    [KILN_OP_SQUEEZE] = lower_copy,
    [KILN_OP_UNSQUEEZE] = lower_copy,
};
