/* cmd_passes.c — `kiln passes`: the pass table and what each -O level runs. */
#include "tools/driver.h"
#include "passes/pass.h"

#include <string.h>

int cmd_passes(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        printf("usage: kiln passes\n\nList every pass with a one-line summary, then the\n"
               "pipeline each optimization level runs (-O%d is the default).\n",
               KILN_DEFAULT_OPT_LEVEL);
        return EXIT_OK;
    }
    if (argc > 1)
        return driver_usage_error("passes", "unexpected argument '%s'", argv[1]);
    printf("passes (use with --passes P,Q,... or --print-ir-after P):\n");
    for (const kiln_pass_info *p = kiln_passes; p->name; p++)
        printf("  %-18s %s\n", p->name, p->summary);
    printf("\noptimization levels:\n");
    for (int level = 0; level <= 3; level++) {
        const char *text = kiln_pipeline_for_level(level);
        printf("  -O%d%s %s\n", level, level == KILN_DEFAULT_OPT_LEVEL ? " (default)" : "          ",
               text[0] ? text : "(no passes)");
    }
    printf("\nWith a token-reduction option (--token-prune, --token-pool, --token-merge,\n"
           "--attention-share), attention-share,token-pool,token-prune,token-merge run\n"
           "right after fuse-attention (docs/token-reduction.md).\n");
    return EXIT_OK;
}
