/* shape_infer.c — pass `shape-infer`: infer every dtype and shape again.
 *
 * Import already infers; passes that create nodes infer the nodes they
 * create. This pass is for pipelines that want the whole graph re-derived
 * (and for tests: inference after a pass must agree with what it left).
 *   before: %y = Relu(%x)            (types unknown)
 *   after:  %y: f32[2,3] = Relu(%x)
 */
#include "passes/pass.h"

kiln_status kiln_pass_shape_infer(kiln_pass_ctx *pc, kiln_graph *g)
{
    return kiln_graph_infer(pc->ctx, g);
}
