/* dce.c — pass `dce`: dead code elimination.
 *
 * Pattern: a node none of whose outputs is used by a node or a graph output.
 * Needs: nodes in topological order (every pass starts from one), so one
 * backward sweep removes whole dead chains: a node's users all come after it
 * and are decided first. Produces: the same graph without dead nodes;
 * constants and values only dead nodes used disappear in the compaction the
 * pass manager runs afterwards. Counts one change per removed node.
 *   before: %a = Relu(%x)          after: %y = Neg(%x)
 *           %b = Exp(%a)      (%a, %b unused)
 *           %y = Neg(%x)
 * (tests/ir/pass_dce.kir, tests/unit/test_passes.c)
 */
#include "ir/edit.h"
#include "passes/pass.h"

#include <stdlib.h>

static bool node_dead(const kiln_graph *g, const uint32_t *uses, uint32_t id)
{
    const kiln_node *n = &g->nodes[id];
    for (uint32_t i = 0; i < n->n_out; i++)
        if (uses[g->operands[n->out + i]])
            return false;
    return true;
}

static void remove_dead(kiln_graph *g, uint32_t *uses, uint32_t id)
{
    const kiln_node *n = &g->nodes[id];
    for (uint32_t i = 0; i < n->n_in; i++)
        if (g->operands[n->in + i])
            uses[g->operands[n->in + i]]--;
    kiln_node_remove(g, id);
}

kiln_status kiln_pass_dce(kiln_pass_ctx *pc, kiln_graph *g)
{
    uint32_t *uses = kiln_graph_use_counts(g);   /* graph outputs count as uses */
    for (uint32_t id = g->n_nodes - 1; id >= 1; id--) {
        if (kiln_node_is_removed(g, id) || !node_dead(g, uses, id))
            continue;
        remove_dead(g, uses, id);
        pc->changes++;
    }
    free(uses);
    return KILN_OK;
}
