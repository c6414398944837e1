/* kiln.c — the driver's entry point: dispatch to a subcommand.
 *
 * Each subcommand lives in tools/cmd_<name>.c, parses its own options and
 * returns the exit status: 0 success, 1 user error (bad model or input,
 * unsupported op: one clear message), 2 usage error.
 */
#include "tools/driver.h"

#include <stdio.h>
#include <string.h>

static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"info", cmd_info, "inputs, outputs, opsets, op histogram, parameters, FLOPs, memory plan"},
    {"dump", cmd_dump, "print the IR as text or as a Graphviz graph"},
    {"run", cmd_run, "run a model on .npy / .pb inputs and write .npy outputs"},
    {"compile", cmd_compile, "compile a model into C sources, an object, a library or an executable"},
    {"tune", cmd_tune, "search token-reduction configurations for the cheapest within an accuracy budget"},
    {"passes", cmd_passes, "list the passes and what each -O level runs"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: kiln <command> [options]\n\n"
                 "kiln is an ahead-of-time compiler for ONNX models.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'kiln <command> --help' describes a command's options.\n"
                 "Exit status: 0 success, 1 error in the model or inputs, 2 usage error.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("kiln 0.1.0\n");
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "kiln: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
