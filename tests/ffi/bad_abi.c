/* bad_abi.c — a model library from a future kiln: ABI version 2. */
#include "runtime/kiln_model.h"

extern const kiln_model_info bad_abi_info;
size_t bad_abi_workspace_size(void);
int bad_abi_run(const void *const *inputs, void *const *outputs, void *workspace);

const kiln_model_info bad_abi_info = {
    .abi_version = KILN_MODEL_ABI_VERSION + 1,
    .size = sizeof(kiln_model_info),
    .name = "bad_abi",
};

size_t bad_abi_workspace_size(void)
{
    return 0;
}

int bad_abi_run(const void *const *in, void *const *out, void *workspace)
{
    return KILN_RUN_EARG;
}
