/* outputs_user.c — a user's program linking the object `kiln compile
 * outputs.kir -o outputs.o` writes, through nothing but outputs.h: it
 * checks the outputs no node writes, the pointer checks, and that the
 * object exports only the model's symbols (two models can link). */
#include "outputs.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    float x[12], left[6], left2[6], xo[12], z[6];
    int64_t c[3];
    for (int i = 0; i < 12; i++)
        x[i] = (float)i * 0.25f - 1.0f;
    const void *in[] = {x};
    void *out[] = {left, left2, xo, c, z};
    void *ws = aligned_alloc(64, 64 + outputs_workspace_size() / 64 * 64);
    int fails = 0;
    fails += outputs_run(in, out, ws) != KILN_RUN_OK;
    fails += c[0] != 7 || c[1] != -1 || c[2] != 9;
    fails += memcmp(xo, x, sizeof x) != 0 || memcmp(left, left2, sizeof left) != 0;
    fails += left[0] != x[0] || left[3] != x[6];
    fails += outputs_run(in, out, (char *)ws + 8) != KILN_RUN_EARG;
    fails += outputs_run(NULL, out, ws) != KILN_RUN_EARG;
    fails += outputs_info.n_inputs != 1 || outputs_info.n_outputs != 5 ||
             outputs_info.outputs[3].dtype != KILN_MODEL_I64 || outputs_info.inputs[0].dims[1] != 6;
    free(ws);
    printf("%s\n", fails ? "FAIL" : "ok");
    return fails != 0;
}
