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
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The first failure of one attempt, when explaining (NULL when matching). */
typedef struct fail_note {
    char text[320];
} fail_note;

static bool fail(fail_note *f, const char *fmt, ...)
{
    if (f && !f->text[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(f->text, sizeof f->text, fmt, ap);
        va_end(ap);
    }
    return false;
}

/* 'name' or "an unnamed value" (value names go into remarks quoted). */
static const char *vname(const kiln_graph *g, uint32_t v)
{
    return v && g->values[v].name && g->values[v].name[0] ? g->values[v].name : "?";
}

/* What produces v, for a message: "Sub", "a constant", "a graph input". */
static const char *origin(const kiln_graph *g, uint32_t v, char *buf, size_t size)
{
    if (!v)
        return "nothing";
    switch (g->values[v].kind) {
    case KILN_VAL_INPUT:
        return "a graph input";
    case KILN_VAL_CONST:
        return "a constant";
    case KILN_VAL_NODE: {
        uint32_t p = kiln_match_op(g, v, KILN_OP_COUNT);
        return p ? kiln_op_text_name(g->nodes[p].op, buf, size) : "a removed node";
    }
    default:
        return "nothing";
    }
}

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
                      uint32_t v, kiln_pat_match *m, fail_note *f)
{
    char b1[64], b2[64];
    switch (a->kind) {
    case KILN_PAT_NODE: {
        uint32_t n = kiln_match_op(g, v, p->node[a->index].op);
        if (!n)
            return fail(f, "'%s' comes from %s where the pattern needs %s", vname(g, v),
                        origin(g, v, b1, sizeof b1),
                        kiln_op_text_name(p->node[a->index].op, b2, sizeof b2));
        if (kiln_node_output(g, &g->nodes[n], 0) != v)
            return fail(f, "'%s' is not the first output of its %s", vname(g, v),
                        origin(g, v, b1, sizeof b1));
        return bind(&m->node[a->index], n) ||
               fail(f, "'%s' is not the value the rest of the pattern uses there", vname(g, v));
    }
    case KILN_PAT_VAR:
        return bind(&m->var[a->index], v) ||
               fail(f, "'%s' where the pattern needs '%s' again", vname(g, v),
                    vname(g, m->var[a->index]));
    case KILN_PAT_CONST:
        if (!v || !g->values[v].data)
            return fail(f, "'%s' is not a constant (it comes from %s)", vname(g, v),
                        origin(g, v, b1, sizeof b1));
        return bind(&m->var[a->index], v) ||
               fail(f, "'%s' where the pattern needs '%s' again", vname(g, v),
                    vname(g, m->var[a->index]));
    case KILN_PAT_SCALAR: {
        double got;
        if (v && scalar_matches(&g->values[v], a->value))
            return true;
        if (!v || !kiln_pattern_scalar(&g->values[v], &got))
            return fail(f, "'%s' is not a one-element float constant (the pattern needs %.9g)",
                        vname(g, v), a->value);
        return fail(f, "'%s' is %.9g where the pattern needs %.9g%s", vname(g, v), got, a->value,
                    is_simple(a->value) ? " exactly" : " (within one f32 ulp)");
    }
    case KILN_PAT_NONE:
        return false;
    }
    return false;
}

/* Pattern node k against its bound graph node; swap: operands reversed. */
static bool match_node(const kiln_graph *g, const kiln_pattern *p, int k, bool swap,
                       kiln_pat_match *m, fail_note *f)
{
    const kiln_pat_node *pn = &p->node[k];
    uint32_t id = m->node[k];
    const kiln_node *n = &g->nodes[id];
    int na = n_args(pn);
    char what[300];
    if (!id || n->op != pn->op)
        return false;
    if ((int)n->n_in != na)
        return fail(f, "node %s has %u inputs where the pattern needs %d",
                    kiln_node_describe(g, id, what, sizeof what), n->n_in, na);
    if (pn->attr && !kiln_attr_int_equals(g, id, pn->attr, pn->attr_dflt, pn->attr_want))
        return fail(f, "node %s does not have %s = %lld", kiln_node_describe(g, id, what, sizeof what),
                    pn->attr, (long long)pn->attr_want);
    for (int i = 0; i < na; i++) {
        int slot = swap && na == 2 ? 1 - i : i;
        if (!match_arg(g, p, &pn->in[i], kiln_node_input(g, n, (uint32_t)slot), m, f))
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
static bool closed(const kiln_users *u, const kiln_graph *g, const kiln_pat_match *m, fail_note *f)
{
    char what[300];
    for (uint32_t k = 1; k < m->n_nodes; k++) {
        for (uint32_t j = 0; j < k; j++)
            if (m->node[j] == m->node[k])
                return fail(f, "node %s would play two parts of the pattern",
                            kiln_node_describe(g, m->node[k], what, sizeof what));
        const kiln_node *n = &g->nodes[m->node[k]];
        for (uint32_t o = 0; o < n->n_out; o++) {
            uint32_t v = kiln_node_output(g, n, o);
            for (uint32_t i = v ? u->first[v] : 0; v && i < u->first[v + 1]; i++) {
                if (u->use[i].node == 0)
                    return fail(f, "the inner value '%s' is also a graph output", vname(g, v));
                if (!in_match(m, u->use[i].node))
                    return fail(f, "the inner value '%s' is also used outside the pattern, by node %s",
                                vname(g, v), kiln_node_describe(g, u->use[i].node, what, sizeof what));
            }
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
                    unsigned mask, kiln_pat_match *m, int *read, fail_note *f, int *checked)
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
            if (!match_node(g, p, k, swap, m, f))
                return false;
            done[k] = true;
            left--;
            if (checked)
                (*checked)++;
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
        if (attempt(g, p, n, n_comm, root, mask, m, &read, NULL, NULL)) {
            if (closed(users, g, m, NULL))
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

static int n_bound(const kiln_pat_match *m)
{
    int b = 0;
    for (uint32_t k = 0; k < m->n_nodes; k++)
        b += m->node[k] != 0;
    return b;
}

void kiln_pattern_explain(const kiln_graph *g, const kiln_users *users, const kiln_pattern *p,
                          int n, uint32_t root, kiln_pat_why *why)
{
    memset(why, 0, sizeof *why);
    why->spelling = -1;
    why->root = root;
    for (int s = 0; s < n; s++) {
        int size = n_pattern_nodes(&p[s]), n_comm = 0, read;
        if (!size || g->nodes[root].op != p[s].node[0].op)
            continue;
        for (int k = 0; k < size; k++)
            n_comm += commutes(p[s].node[k].op);
        for (unsigned mask = 0; mask < (1u << n_comm); mask++) {
            kiln_pat_match m;
            fail_note f = {{0}};
            int checked = 0;
            bool ok = attempt(g, &p[s], size, n_comm, root, mask, &m, &read, &f, &checked) &&
                      closed(users, g, &m, &f);
            int b = ok ? size + 1 : n_bound(&m);   /* a full match beats any failure */
            if (b > why->bound || why->spelling < 0) {
                why->spelling = s;
                why->bound = b > size ? size : b;
                why->checked = checked;
                why->size = size;
                why->m = m;
                snprintf(why->text, sizeof why->text, "%s",
                         ok ? "" : f.text[0] ? f.text : "some of its nodes are not there");
            }
            if (ok)
                return;
        }
    }
}

static bool binds(const kiln_pat_match *m, uint32_t node)
{
    for (uint32_t k = 0; k < m->n_nodes; k++)
        if (m->node[k] == node)
            return true;
    return false;
}

bool kiln_pattern_explain_from(const kiln_graph *g, const kiln_users *users, const kiln_pattern *p,
                               int n, uint32_t anchor, int max_hops, kiln_pat_why *why)
{
    enum { MAX_SEEN = 64 };
    uint32_t seen[MAX_SEEN], hops[MAX_SEEN];
    int n_seen = 0;
    bool found = false;
    seen[n_seen] = anchor, hops[n_seen++] = 0;
    memset(why, 0, sizeof *why);
    why->spelling = -1;
    /* Breadth first over uses; the anchor itself is a candidate root too. */
    for (int q = 0; q < n_seen; q++) {
        uint32_t id = seen[q];
        bool is_root = false;
        for (int s = 0; s < n && !is_root; s++)
            is_root = p[s].node[0].op == g->nodes[id].op;
        if (is_root) {
            kiln_pat_why w;
            kiln_pattern_explain(g, users, p, n, id, &w);
            w.reached = w.spelling >= 0 && binds(&w.m, anchor);
            if (w.spelling >= 0 && (!found || w.reached > why->reached ||
                                    (w.reached == why->reached && w.bound > why->bound))) {
                *why = w;
                found = true;
            }
        }
        if ((int)hops[q] >= max_hops)
            continue;
        const kiln_node *nd = &g->nodes[id];
        for (uint32_t o = 0; o < nd->n_out; o++) {
            uint32_t v = kiln_node_output(g, nd, o);
            for (uint32_t i = v ? users->first[v] : 0; v && i < users->first[v + 1]; i++) {
                uint32_t u = users->use[i].node;
                bool dup = u == 0 || g->nodes[u].op == KILN_OP_COUNT;
                for (int j = 0; j < n_seen && !dup; j++)
                    dup = seen[j] == u;
                if (!dup && n_seen < MAX_SEEN)
                    seen[n_seen] = u, hops[n_seen++] = hops[q] + 1;
            }
        }
    }
    return found;
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
