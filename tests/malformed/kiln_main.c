/* kiln_main.c — the kiln driver's main() under another name, so that
 * malformed_run can run `kiln ARGS` in a forked child without exec'ing
 * the binary: the same code and the same argv, but without paying the
 * dynamic loader's ~50 ms (mostly libLLVM's relocations) 7,000 times. */
int kiln_tool_main(int argc, char **argv);
#define main kiln_tool_main
#include "tools/kiln.c"
