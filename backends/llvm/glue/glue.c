/* glue.c — the helpers the C backend prints into every NAME.c
 * (backends/c/cgen_model.c: run_call, check_args, stamp), as C, compiled to
 * bitcode with the runtime's kernels: the LLVM backend's NAME_run calls
 * them, so both backends check and call kernels with the same code. After
 * inlining at O3 nothing of them is left but the checks.
 *
 * Only ever compiled by clang to bitcode (backends/llvm/CMakeLists.txt),
 * never into kiln itself.
 */
#include "runtime/kiln_model.h"
#include "runtime/krt_kernel.h"
#include "runtime/krt_profile.h"

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
