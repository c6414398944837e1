/* no_model.c — a library that exports a NAME_info and a NAME_run but no
 * NAME_workspace_size: not a kiln model (the three go together). */
#include <stddef.h>

extern const int thing_info;
int thing_run(const void *const *inputs, void *const *outputs, void *workspace);

const int thing_info = 1;

int thing_run(const void *const *in, void *const *out, void *workspace)
{
    return 0;
}
