/* tiny_add.c — a hand-written kiln model library, as `kiln compile` would
 * emit it for y = a + b on f32[2,3]: only runtime/kiln_model.h, no kiln
 * code. The fixture `kiln run LIB.so` is tested against (tests/ffi). */
#include "runtime/kiln_model.h"

#include <stdint.h>

extern const kiln_model_info tiny_add_info;
size_t tiny_add_workspace_size(void);
int tiny_add_run(const void *const *inputs, void *const *outputs, void *workspace);

static const kiln_model_tensor inputs[] = {
    {.name = "a", .dtype = KILN_MODEL_F32, .rank = 2, .dims = {2, 3}, .nbytes = 24},
    {.name = "b", .dtype = KILN_MODEL_F32, .rank = 2, .dims = {2, 3}, .nbytes = 24},
};
static const kiln_model_tensor outputs[] = {
    {.name = "y", .dtype = KILN_MODEL_F32, .rank = 2, .dims = {2, 3}, .nbytes = 24},
};

const kiln_model_info tiny_add_info = {
    .abi_version = KILN_MODEL_ABI_VERSION,
    .size = sizeof(kiln_model_info),
    .name = "tiny_add",
    .n_inputs = 2,
    .n_outputs = 1,
    .inputs = inputs,
    .outputs = outputs,
    .workspace_size = 0,
};

size_t tiny_add_workspace_size(void)
{
    return 0;
}

int tiny_add_run(const void *const *in, void *const *out, void *workspace)
{
    if (!in || !out || !in[0] || !in[1] || !out[0] || !workspace)
        return KILN_RUN_EARG;
    const float *a = in[0], *b = in[1]; /* (2, 3) */
    float *y = out[0];                  /* (2, 3) */
    for (int i = 0; i < 6; i++)
        y[i] = a[i] + b[i];
    return KILN_RUN_OK;
}
