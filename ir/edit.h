/* edit.h — editing a graph: the small API every pass rewrites through
 * (DESIGN.md, "Editing the graph").
 *
 * Edits are cheap and leave tombstones: a removed node keeps its slot with
 * op KILN_OP_COUNT and no operands until kiln_graph_compact renumbers the
 * dense arrays. Replacing an input list or an attribute appends a new range
 * and leaves the old one as garbage; compact drops it too. Passes edit
 * freely and the pass manager compacts after each pass, so every pass
 * starts from a dense graph in topological order with no garbage (the
 * verifier's kiln_graph_check_dense checks exactly that in tests).
 *
 * Uses are computed, not stored: kiln_users_build gives every value's
 * users in one pass over the graph; it is a snapshot, rebuilt by a pass
 * after the edits that invalidate it.
 */
#ifndef KILN_EDIT_H
#define KILN_EDIT_H

#include "ir/ir.h"

/* ---- uses --------------------------------------------------------------- */

/* One use of a value: input `slot` of node `node`, or graph output `slot`
 * when node == 0. */
typedef struct kiln_use {
    uint32_t node;
    uint32_t slot;
} kiln_use;

/* Every value's uses (CSR): uses of v are use[first[v] .. first[v + 1]),
 * nodes in graph order, then graph outputs. Create with kiln_users_build,
 * destroy with kiln_users_destroy. */
typedef struct kiln_users {
    uint32_t n_values;
    uint32_t *first;          /* [n_values + 1] */
    kiln_use *use;
} kiln_users;

kiln_users *kiln_users_build(const kiln_graph *g);
void kiln_users_destroy(kiln_users *u);
static inline uint32_t kiln_users_count(const kiln_users *u, uint32_t v)
{
    return u->first[v + 1] - u->first[v];
}
/* True when v is a graph output (some use has node == 0). */
bool kiln_users_is_output(const kiln_users *u, uint32_t v);

/* ---- edits ---------------------------------------------------------------- */

/* Every use of `from` (node inputs and graph outputs) becomes `to`. The
 * caller keeps types consistent (to has from's dtype and shape). */
void kiln_replace_all_uses(kiln_graph *g, uint32_t from, uint32_t to);
/* Whether every use of `from` can become `to` with every graph output
 * keeping its name (users read outputs by name): yes when from is not a
 * graph output; otherwise only when to is a live node's output that is not
 * a graph output itself (it takes over from's name). A graph output never
 * becomes a graph input or a constant this way (keep the node instead). */
bool kiln_value_can_forward(const kiln_graph *g, uint32_t from, uint32_t to);
/* kiln_replace_all_uses(from, to) that keeps graph output names: when from
 * is a graph output, to is renamed to from's name and from's name cleared.
 * False, changing nothing, when kiln_value_can_forward says no. */
bool kiln_value_forward(kiln_graph *g, uint32_t from, uint32_t to);
/* Input `slot` of `node` becomes value v (0: absent). In place, no garbage. */
void kiln_node_set_input(kiln_graph *g, uint32_t node, uint32_t slot, uint32_t v);
/* Remove a node: it becomes a tombstone (op KILN_OP_COUNT, no operands) and
 * its outputs lose their producer. The caller has already redirected the
 * uses of its outputs (an output still used is a verifier error). */
void kiln_node_remove(kiln_graph *g, uint32_t node);
static inline bool kiln_node_is_removed(const kiln_graph *g, uint32_t node)
{
    return g->nodes[node].op == KILN_OP_COUNT;
}
/* Turn node-output value v into a constant holding `data` (copied into
 * the arena), keeping its name, dtype and shape; its producer is cleared.
 * The producing node gets a fresh anonymous output of the same type in
 * v's slot, so it stays well-formed: remove it once none of its outputs is
 * used (or leave it to dce). */
void kiln_value_make_const(kiln_graph *g, uint32_t v, const void *data, size_t nbytes);
/* Rename a value (the name is copied). */
void kiln_value_rename(kiln_graph *g, uint32_t v, const char *name);

/* Renumber the dense arrays: drop tombstone nodes, values nothing refers
 * to (except graph inputs), and operand and attribute garbage. Symbols are
 * kept, used or not (their ids appear in shapes). Nodes keep their
 * relative order; values are renumbered in order of first appearance
 * (inputs, constants by first use in node inputs then graph outputs, node
 * outputs in node order), so the same graph always compacts to the same
 * arrays. Indices held across a compact
 * are invalid afterwards. */
void kiln_graph_compact(kiln_graph *g);

/* ---- pattern helpers ------------------------------------------------------ */

/* The node producing v when it is an `op` node (KILN_OP_COUNT: any op),
 * else 0. */
uint32_t kiln_match_op(const kiln_graph *g, uint32_t v, kiln_op op);
/* The single node using v (v used exactly once, by a node, not a graph
 * output), else 0. */
uint32_t kiln_single_user(const kiln_users *u, uint32_t v);
/* Input i of node as a constant: its value when it has data (a constant or
 * a computed value), else NULL. */
const kiln_value *kiln_const_input(const kiln_graph *g, uint32_t node, uint32_t i);
/* Input i of node as one f32 constant in *out: true when it is one, and
 * when the input is absent (*out unchanged: the caller's default, e.g.
 * Clip's missing bound); false otherwise. */
bool kiln_const_input_f32(const kiln_graph *g, uint32_t node, uint32_t i, float *out);
/* The node's int attribute equals want (absent counts as dflt). */
bool kiln_attr_int_equals(const kiln_graph *g, uint32_t node, const char *name, int64_t dflt,
                          int64_t want);

/* ---- checks -------------------------------------------------------------------- */

/* The graph is dense: no tombstones, no garbage operand or attribute
 * ranges (every range belongs to exactly one node, in node order), every
 * value is referred to. KILN_ERR_INVALID naming what is left behind. */
kiln_status kiln_graph_check_dense(kiln_ctx *ctx, const kiln_graph *g);

#endif /* KILN_EDIT_H */
