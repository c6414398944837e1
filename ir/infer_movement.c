/* infer_movement.c — shape and dtype inference for the movement family.
 * (Being written: entries are added op by op; see ir/infer.h.) */
#include "ir/infer.h"

const kiln_infer_fn kiln_infer_movement[KILN_OP_COUNT] = {
    [KILN_OP_COUNT - 1] = NULL,
};
