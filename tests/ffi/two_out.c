/* two_out.c — a hand-written kiln model library with an int64 input, two
 * outputs (one named so that its file name needs sanitizing, one a
 * scalar) and a workspace:
 *   gathered:0 = x[idx]     f32[2]   (KILN_RUN_EINDEX if idx is outside [0, 4))
 *   count      = sum(idx)   i64[]    (KILN_RUN_EVALUE if x holds a NaN)
 * and, to show kiln what an unknown result looks like, 42 if idx[0] is -42.
 * It also checks what kiln promises: every pointer 64-byte aligned. */
#include "runtime/kiln_model.h"

#include <stdint.h>

extern const kiln_model_info two_out_info;
size_t two_out_workspace_size(void);
int two_out_run(const void *const *inputs, void *const *outputs, void *workspace);

static const kiln_model_tensor inputs[] = {
    {.name = "x", .dtype = KILN_MODEL_F32, .rank = 1, .dims = {4}, .nbytes = 16},
    {.name = "idx", .dtype = KILN_MODEL_I64, .rank = 1, .dims = {2}, .nbytes = 16},
};
static const kiln_model_tensor outputs[] = {
    {.name = "gathered:0", .dtype = KILN_MODEL_F32, .rank = 1, .dims = {2}, .nbytes = 8},
    {.name = "count", .dtype = KILN_MODEL_I64, .rank = 0, .nbytes = 8},
};

const kiln_model_info two_out_info = {
    .abi_version = KILN_MODEL_ABI_VERSION,
    .size = sizeof(kiln_model_info),
    .name = "two_out",
    .n_inputs = 2,
    .n_outputs = 2,
    .inputs = inputs,
    .outputs = outputs,
    .workspace_size = 100,
};

size_t two_out_workspace_size(void)
{
    return 100;
}

static int aligned(const void *p)
{
    return p && (uintptr_t)p % 64 == 0;
}

int two_out_run(const void *const *in, void *const *out, void *workspace)
{
    if (!in || !out || !aligned(in[0]) || !aligned(in[1]) || !aligned(out[0]) || !aligned(out[1]) ||
        !aligned(workspace))
        return KILN_RUN_EARG;
    const float *x = in[0];     /* (4) */
    const int64_t *idx = in[1]; /* (2) */
    float *scratch = workspace; /* (2): the gathered values before they are stored */
    int64_t sum = 0;
    for (int i = 0; i < 4; i++)
        if (x[i] != x[i])
            return KILN_RUN_EVALUE;
    if (idx[0] == -42)
        return 42;
    for (int i = 0; i < 2; i++) {
        if (idx[i] < 0 || idx[i] >= 4)
            return KILN_RUN_EINDEX;
        scratch[i] = x[idx[i]];
        sum += idx[i];
    }
    float *g = out[0];
    for (int i = 0; i < 2; i++)
        g[i] = scratch[i];
    *(int64_t *)out[1] = sum;
    return KILN_RUN_OK;
}
