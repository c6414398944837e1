/* pattern.h — dataflow patterns as data, and the one matcher that walks
 * them (STYLE.md, "Passes": one table entry per exporter spelling).
 *
 * A pattern is a small array of node patterns; entry 0 is the root (the
 * node whose output the fused op replaces) and every other entry is named
 * by an operand of another, so a walk from the root binds them all. An operand is another pattern node's output, a capture variable
 * (any value; the same variable twice means the same value), a captured
 * constant, or a scalar constant of a given value. Add and Mul commute:
 * the matcher tries every orientation of the commuting nodes. A match also
 * requires that no matched node but the root has a user outside the match
 * (and is not a graph output), so removing them is always legal.
 *
 *   {"erf, 0.5 last", {
 *       PAT(MUL, PAT_NODE(1), PAT_SCALAR(0.5)),        y = Mul(m, 0.5)
 *       PAT(MUL, PAT_VAR(0), PAT_NODE(2)),             m = Mul(x, a)
 *       ...
 */
#ifndef KILN_PATTERN_H
#define KILN_PATTERN_H

#include "ir/edit.h"

#define KILN_PAT_MAX_NODES 12
#define KILN_PAT_MAX_VARS 6
#define KILN_PAT_MAX_IN 2

typedef enum kiln_pat_kind {
    KILN_PAT_NONE,        /* no operand (the node has fewer inputs) */
    KILN_PAT_NODE,        /* output 0 of pattern node `index` */
    KILN_PAT_VAR,         /* any value, captured as var[index] */
    KILN_PAT_CONST,       /* a value with known data, captured as var[index] */
    KILN_PAT_SCALAR,      /* a one-element float constant equal to `value` (see pattern.c) */
} kiln_pat_kind;

typedef struct kiln_pat_arg {
    kiln_pat_kind kind;
    uint8_t index;        /* pattern node or variable */
    double value;         /* KILN_PAT_SCALAR */
} kiln_pat_arg;

#define PAT_NODE(k) {KILN_PAT_NODE, (k), 0.0}
#define PAT_VAR(k) {KILN_PAT_VAR, (k), 0.0}
#define PAT_CONST(k) {KILN_PAT_CONST, (k), 0.0}
#define PAT_SCALAR(x) {KILN_PAT_SCALAR, 0, (x)}
/* A pattern node: PAT(MUL, PAT_VAR(0), PAT_NODE(2)). */
#define PAT(op_, ...) {.op = KILN_OP_##op_, .in = {__VA_ARGS__}}

typedef struct kiln_pat_node {
    kiln_op op;
    kiln_pat_arg in[KILN_PAT_MAX_IN]; /* exactly the node's inputs */
    const char *attr;     /* optional int attribute that must equal attr_want */
    int64_t attr_dflt, attr_want;
} kiln_pat_node;

typedef struct kiln_pattern {
    const char *name;     /* the spelling, for comments and tests */
    kiln_pat_node node[KILN_PAT_MAX_NODES]; /* [0] is the root; ends at the first
                                               entry without operands */
} kiln_pattern;

typedef struct kiln_pat_match {
    uint32_t node[KILN_PAT_MAX_NODES];  /* graph node of each pattern node */
    uint32_t var[KILN_PAT_MAX_VARS];    /* value of each capture (0: unused) */
    uint32_t n_nodes;
} kiln_pat_match;

/* Match pattern p with its root at graph node `root`. True and *m filled
 * when every node, operand and attribute matches and no inner node's
 * output escapes the match (users: a snapshot of g's uses). */
bool kiln_pattern_match(const kiln_graph *g, const kiln_users *users, const kiln_pattern *p,
                        uint32_t root, kiln_pat_match *m /* OUT */);

/* The first of n patterns that matches at root, or -1. */
int kiln_pattern_match_any(const kiln_graph *g, const kiln_users *users, const kiln_pattern *p,
                           int n, uint32_t root, kiln_pat_match *m /* OUT */);

/* Why a pattern table did not match (for --remarks): the closest
 * attempt over every spelling and operand orientation, i.e. the one that
 * bound the most graph nodes before it failed, and its first failure. */
typedef struct kiln_pat_why {
    int spelling;         /* the closest spelling; -1: none got past its root */
    uint32_t root;        /* the graph node it was tried at */
    int bound;            /* graph nodes it bound (its root included) */
    int checked;          /* of those, the nodes it checked whole before failing */
    int size;             /* nodes in that spelling */
    bool reached;         /* kiln_pattern_explain_from: it bound the anchor */
    kiln_pat_match m;     /* what it bound (var/node slots may be 0) */
    char text[320];       /* the reason, e.g. "'d' is used outside the pattern, by node 'z' (Relu)" */
} kiln_pat_why;

/* Fill *why for root (any outcome: a table that matches at root gives
 * the "used outside" or nothing-wrong reason of its closest attempt).
 * Slow (every orientation is tried): for remarks only. */
void kiln_pattern_explain(const kiln_graph *g, const kiln_users *users, const kiln_pattern *p,
                          int n, uint32_t root, kiln_pat_why *why /* OUT */);

/* The near miss around node `anchor` (a node a fused form must contain,
 * e.g. the Erf of a GELU): kiln_pattern_explain at every node up to
 * max_hops uses downstream of it whose op is a spelling's root, keeping
 * the closest attempt that bound the anchor (why->reached), else the
 * closest of all. False when no root was found. */
bool kiln_pattern_explain_from(const kiln_graph *g, const kiln_users *users, const kiln_pattern *p,
                               int n, uint32_t anchor, int max_hops, kiln_pat_why *why /* OUT */);

/* A one-element f32/f64 constant's value in *out; false otherwise. */
bool kiln_pattern_scalar(const kiln_value *v, double *out /* OUT */);

/* Rewrite node `id` in place into op with the given inputs and no
 * attributes, keeping its outputs (so its position, the topological order
 * and graph output names stay valid); the matched inner nodes are then
 * removed by kiln_pattern_remove_inner. */
void kiln_pattern_rewrite_root(kiln_graph *g, uint32_t id, kiln_op op, const uint32_t *ins,
                               uint32_t n_in);
/* Remove every matched node but the root. */
void kiln_pattern_remove_inner(kiln_graph *g, const kiln_pat_match *m);

#endif /* KILN_PATTERN_H */
