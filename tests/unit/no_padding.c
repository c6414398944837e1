/* no_padding.c — compiled (not run) by ctest with -Wpadded -Werror: every
 * struct of the runtime's kernel headers, above all the kernel descriptors
 * that the C backend emits as bytes, has no hidden padding. A hole must be
 * an explicit padN field, which the lowering zero-initialises, so that the
 * same descriptor is always the same bytes (deterministic generated code). */
#include "runtime/krt_elementwise.h"
#include "runtime/krt_kernel.h"
#include "runtime/krt_linalg.h"
#include "runtime/krt_movement.h"
#include "runtime/krt_reduce.h"
#include "runtime/krt_token.h"
