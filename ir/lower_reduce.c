/* lower_reduce.c — lowering of the reduce family: node -> kernel calls
 * (ir/lower.h). Entries move here from ir/eval_reduce.c op by op.
 */
#include "ir/lower.h"

const kiln_lower_fn kiln_lower_reduce[KILN_OP_COUNT] = {
    [0] = NULL,
};
