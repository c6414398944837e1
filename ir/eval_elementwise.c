/* eval_elementwise.c — interpreter entries for the elementwise family: unpack the
 * node, call the runtime kernels. (Being written; see ir/interp.h.) */
#include "ir/interp.h"

const kiln_eval_fn kiln_eval_elementwise[KILN_OP_COUNT] = {
    [KILN_OP_COUNT - 1] = NULL,
};
