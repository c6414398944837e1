/* lower_linalg.c — lowering of the linalg family: node -> kernel calls
 * (ir/lower.h). Entries move here from ir/eval_linalg.c op by op.
 */
#include "ir/lower.h"

const kiln_lower_fn kiln_lower_linalg[KILN_OP_COUNT] = {
    [0] = NULL,
};
