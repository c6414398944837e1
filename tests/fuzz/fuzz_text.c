/* fuzz_text.c — the text-IR parser through the structural verifier, shape
 * inference and the full verifier; a text that parses must also print and
 * parse back to the same text (the round trip docs/text-ir.md promises). */
#define _POSIX_C_SOURCE 200809L
#include "ir/text.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void round_trip(kiln_ctx *ctx, const kiln_graph *g)
{
    char *once = kiln_text_format(g);
    kiln_graph *back = NULL;
    if (kiln_text_parse(ctx, once, strlen(once), "fuzz.kir", &back) != KILN_OK) {
        fprintf(stderr, "printed text does not parse: %s\n%s", kiln_ctx_message(ctx), once);
        abort();
    }
    char *twice = kiln_text_format(back);
    if (strcmp(once, twice) != 0) {
        fprintf(stderr, "round trip differs:\n%s---\n%s", once, twice);
        abort();
    }
    free(once);
    free(twice);
    kiln_graph_destroy(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = NULL;
    if (kiln_text_load(ctx, fuzz_file(data, size, "model.kir"), &g) == KILN_OK) {
        round_trip(ctx, g);
        if (kiln_graph_verify_structure(ctx, g) == KILN_OK && kiln_graph_infer(ctx, g) == KILN_OK)
            (void)kiln_graph_verify(ctx, g);
    }
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
    return 0;
}
