/* two_models.c — one library, two models (y = -x and y = 2x on f32[3]):
 * kiln run must ask which (--name). */
#include "runtime/kiln_model.h"

extern const kiln_model_info alpha_info, beta_info;
size_t alpha_workspace_size(void), beta_workspace_size(void);
int alpha_run(const void *const *inputs, void *const *outputs, void *workspace);
int beta_run(const void *const *inputs, void *const *outputs, void *workspace);

static const kiln_model_tensor x[] = {
    {.name = "x", .dtype = KILN_MODEL_F32, .rank = 1, .dims = {3}, .nbytes = 12},
};
static const kiln_model_tensor y[] = {
    {.name = "y", .dtype = KILN_MODEL_F32, .rank = 1, .dims = {3}, .nbytes = 12},
};

const kiln_model_info alpha_info = {
    .abi_version = KILN_MODEL_ABI_VERSION,
    .size = sizeof(kiln_model_info),
    .name = "alpha",
    .n_inputs = 1,
    .n_outputs = 1,
    .inputs = x,
    .outputs = y,
};
const kiln_model_info beta_info = {
    .abi_version = KILN_MODEL_ABI_VERSION,
    .size = sizeof(kiln_model_info),
    .name = "beta",
    .n_inputs = 1,
    .n_outputs = 1,
    .inputs = x,
    .outputs = y,
};

size_t alpha_workspace_size(void)
{
    return 0;
}

size_t beta_workspace_size(void)
{
    return 0;
}

int alpha_run(const void *const *in, void *const *out, void *workspace)
{
    const float *a = in[0];
    float *b = out[0];
    for (int i = 0; i < 3; i++)
        b[i] = -a[i];
    return KILN_RUN_OK;
}

int beta_run(const void *const *in, void *const *out, void *workspace)
{
    const float *a = in[0];
    float *b = out[0];
    for (int i = 0; i < 3; i++)
        b[i] = 2 * a[i];
    return KILN_RUN_OK;
}
