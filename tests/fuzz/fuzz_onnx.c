/* fuzz_onnx.c — the ONNX loader through import, the structural verifier,
 * shape inference and the full verifier: any input must end in KILN_OK or
 * an error message, never a crash, a sanitizer report or a hang. */
#define _POSIX_C_SOURCE 200809L
#include "frontend/frontend.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = NULL;
    if (kiln_onnx_load(ctx, fuzz_file(data, size, "model.onnx"), &g) == KILN_OK &&
        kiln_graph_verify_structure(ctx, g) == KILN_OK && kiln_graph_infer(ctx, g) == KILN_OK)
        (void)kiln_graph_verify(ctx, g);
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
    return 0;
}
