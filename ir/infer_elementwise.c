/* infer_elementwise.c — shape and dtype inference for the elementwise family.
 * (Being written: entries are added op by op; see ir/infer.h.) */
#include "ir/infer.h"

const kiln_infer_fn kiln_infer_elementwise[KILN_OP_COUNT] = {
    [KILN_OP_COUNT - 1] = NULL,
};
