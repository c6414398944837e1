/* pattern.c — the matcher for passes/pattern.h's pattern tables.
 *
 * Matching is a walk from the root over the pattern, with no search:
 * each commuting node (Add, Mul) has a fixed orientation per attempt, and
 * kiln_pattern_match tries the 2^k orientations of the k commuting nodes,
 * skipping every orientation that differs from a failed one only in bits
 * the failed attempt never read (most fail at the root after one or two
 * bits). That keeps the walk trivial and still finds a match whichever
 * operand order the exporter wrote.
 *
 * Scalars: a one-element f32 (or f64) constant matches `value` when, read
 * as f32, it lies within one f32 ulp of fl(value), the f32 rounding of the
 * exact constant. Exporters write fl(value) (1.4142135 is fl(sqrt 2)) or,
 * when the model computed it in f32 arithmetic (1/sqrt(2), sqrt(2/pi)), a
 * neighbour of it; anything further away is a different constant. Small
 * integers and halves (2, 3, 0.5, 1) are exact in f32, and a neighbour of
 * them is no exporter's spelling: those must be exact.
 */
#include "passes/pattern.h"

#include <math.h>
#include <string.h>

bool kiln_pattern_scalar(const kiln_value *v, double *out)
{
    if (!v || !v->data)
        return false;
    if (v->dtype == KILN_DT_F32 && v->nbytes == sizeof(float)) {
        float f;
        memcpy(&f, v->data, sizeof f);
        *out = f;
        return true;
    }
    if (v->dtype == KILN_DT_F64 && v->nbytes == sizeof(double)) {
        memcpy(out, v->data, sizeof *out);
        return true;
    }
    return false;
}

/* Exact in f32 with few bits (2, 3, 0.5, 1, 0.044715 is not). */
static bool is_simple(double x)
{
    return x * 4 == floor(x * 4) && fabs(x) <= 16;
}

static bool scalar_matches(const kiln_value *v, double want)
{
    double got;
    if (!kiln_pattern_scalar(v, &got))
        return false;
    if (is_simple(want))
        return got == want;
    float w = (float)want, c = (float)got;
    return c == w || c == nextafterf(w, INFINITY) || c == nextafterf(w, -INFINITY);
}

static bool commutes(kiln_op op)
{
    return op == KILN_OP_ADD || op == KILN_OP_MUL;
}

static int n_pattern_nodes(const kiln_pattern *p)
{
    int n = 0;
    while (n < KILN_PAT_MAX_NODES && p->node[n].in[0].kind != KILN_PAT_NONE)
        n++;
    return n;
}

static int n_args(const kiln_pat_node *pn)
{
    int n = 0;
    while (n < KILN_PAT_MAX_IN && pn->in[n].kind != KILN_PAT_NONE)
        n++;
    return n;
}

/* Bind a capture: the first use sets it, later ones must agree. */
static bool bind(uint32_t *slot, uint32_t v)
{
    if (*slot && *slot != v)
        return false;
    *slot = v;
    return true;
}

static bool match_arg(const kiln_graph *g, const kiln_pattern *p, const kiln_pat_arg *a,
                      uint32_t v, kiln_pat_match *m)
{
    switch (a->kind) {
    case KILN_PAT_NODE: {
        uint32_t n = kiln_match_op(g, v, p->node[a->index].op);
        return n && kiln_node_output(g, &g->nodes[n], 0) == v && bind(&m->node[a->index], n);
    }
    case KILN_PAT_VAR:
        return bind(&m->var[a->index], v);
    case KILN_PAT_CONST:
        return v && g->values[v].data && bind(&m->var[a->index], v);
    case KILN_PAT_SCALAR:
        return v && scalar_matches(&g->values[v], a->value);
    case KILN_PAT_NONE:
        return false;
    }
    return false;
}

/* Pattern node k against its bound graph node; swap: operands reversed. */
static bool match_node(const kiln_graph *g, const kiln_pattern *p, int k, bool swap,
                       kiln_pat_match *m)
{
    const kiln_pat_node *pn = &p->node[k];
    uint32_t id = m->node[k];
    const kiln_node *n = &g->nodes[id];
    int na = n_args(pn);
    if (!id || n->op != pn->op || (int)n->n_in != na)
        return false;
    if (pn->attr && !kiln_attr_int_equals(g, id, pn->attr, pn->attr_dflt, pn->attr_want))
        return false;
    for (int i = 0; i < na; i++) {
        int slot = swap && na == 2 ? 1 - i : i;
        if (!match_arg(g, p, &pn->in[i], kiln_node_input(g, n, (uint32_t)slot), m))
            return false;
    }
    return true;
}

static bool in_match(const kiln_pat_match *m, uint32_t node)
{
    for (uint32_t k = 0; k < m->n_nodes; k++)
        if (m->node[k] == node)
            return true;
    return false;
}

/* Distinct graph nodes, and every inner output used only inside. */
static bool closed(const kiln_users *u, const kiln_graph *g, const kiln_pat_match *m)
{
    for (uint32_t k = 1; k < m->n_nodes; k++) {
        for (uint32_t j = 0; j < k; j++)
            if (m->node[j] == m->node[k])
                return false;
        const kiln_node *n = &g->nodes[m->node[k]];
        for (uint32_t o = 0; o < n->n_out; o++) {
            uint32_t v = kiln_node_output(g, n, o);
            for (uint32_t i = v ? u->first[v] : 0; v && i < u->first[v + 1]; i++)
                if (u->use[i].node == 0 || !in_match(m, u->use[i].node))
                    return false;
        }
    }
    return true;
}

/* One attempt with commuting node c (of n_comm) swapped when bit
 * n_comm - 1 - c of mask is set: the first nodes are the high bits, so
 * the orientations that share a failed attempt's first choices are one
 * run of consecutive masks.
 * Nodes are checked once bound, in table order, sweeping again for those
 * bound by a later entry (the Reciprocal spelling of LayerNorm names the
 * Sqrt from its last entry); a node never bound fails the attempt. On
 * failure *read is one more than the last commuting node the attempt
 * read: masks that agree on the choices of nodes below it fail the same
 * way. */
static bool attempt(const kiln_graph *g, const kiln_pattern *p, int n, int n_comm, uint32_t root,
                    unsigned mask, kiln_pat_match *m, int *read)
{
    bool done[KILN_PAT_MAX_NODES] = {false};
    int bit[KILN_PAT_MAX_NODES];
    for (int k = 0, c = 0; k < n; k++)
        bit[k] = commutes(p->node[k].op) ? c++ : -1;
    memset(m, 0, sizeof *m);
    m->node[0] = root;
    m->n_nodes = (uint32_t)n;
    *read = 0;
    for (int left = n, progress = 1; left > 0;) {
        if (!progress)
            return false;
        progress = 0;
        for (int k = 0; k < n; k++) {
            if (done[k] || !m->node[k])
                continue;
            if (bit[k] >= *read)
                *read = bit[k] + 1;
            bool swap = bit[k] >= 0 && ((mask >> (n_comm - 1 - bit[k])) & 1u);
            if (!match_node(g, p, k, swap, m))
                return false;
            done[k] = true;
            left--;
            progress = 1;
        }
    }
    return true;
}

bool kiln_pattern_match(const kiln_graph *g, const kiln_users *users, const kiln_pattern *p,
                        uint32_t root, kiln_pat_match *m)
{
    int n = n_pattern_nodes(p), n_comm = 0, read;
    if (!n || g->nodes[root].op != p->node[0].op)
        return false;
    for (int k = 0; k < n; k++)
        n_comm += commutes(p->node[k].op);
    KILN_ASSERT(n_comm <= 16);
    for (unsigned mask = 0; mask < (1u << n_comm);) {
        if (attempt(g, p, n, n_comm, root, mask, m, &read)) {
            if (closed(users, g, m))
                return true;
            read = n_comm;  /* another orientation may bind other nodes */
        }
        mask = (mask | ((1u << (n_comm - read)) - 1)) + 1;  /* skip the run sharing those choices */
    }
    return false;
}

int kiln_pattern_match_any(const kiln_graph *g, const kiln_users *users, const kiln_pattern *p,
                           int n, uint32_t root, kiln_pat_match *m)
{
    for (int i = 0; i < n; i++)
        if (kiln_pattern_match(g, users, &p[i], root, m))
            return i;
    return -1;
}

void kiln_pattern_rewrite_root(kiln_graph *g, uint32_t id, kiln_op op, const uint32_t *ins,
                               uint32_t n_in)
{
    kiln_node_set_inputs(g, id, ins, n_in);
    g->nodes[id].op = op;
    while (g->nodes[id].n_attr)
        kiln_attr_remove(g, id, g->attrs[g->nodes[id].attr].name);
}

void kiln_pattern_remove_inner(kiln_graph *g, const kiln_pat_match *m)
{
    for (uint32_t k = 1; k < m->n_nodes; k++)
        kiln_node_remove(g, m->node[k]);
}
