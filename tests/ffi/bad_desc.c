/* bad_desc.c — a broken model library: its output's nbytes disagrees
 * with the dtype and shape (f32[2,3] is 24 bytes, it says 20). */
#include "runtime/kiln_model.h"

extern const kiln_model_info bad_desc_info;
size_t bad_desc_workspace_size(void);
int bad_desc_run(const void *const *inputs, void *const *outputs, void *workspace);

static const kiln_model_tensor outputs[] = {
    {.name = "y", .dtype = KILN_MODEL_F32, .rank = 2, .dims = {2, 3}, .nbytes = 20},
};

const kiln_model_info bad_desc_info = {
    .abi_version = KILN_MODEL_ABI_VERSION,
    .size = sizeof(kiln_model_info),
    .name = "bad_desc",
    .n_outputs = 1,
    .outputs = outputs,
};

size_t bad_desc_workspace_size(void)
{
    return 0;
}

int bad_desc_run(const void *const *in, void *const *out, void *workspace)
{
    return KILN_RUN_OK;
}
