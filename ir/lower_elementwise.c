/* lower_elementwise.c — lowering of the elementwise family: node -> kernel calls
 * (ir/lower.h). Entries move here from ir/eval_elementwise.c op by op.
 */
#include "ir/lower.h"

const kiln_lower_fn kiln_lower_elementwise[KILN_OP_COUNT] = {
    [0] = NULL,
};
