/* graph.c — creating, editing and querying a kiln graph.
 *
 * The graph is a handful of dense growable arrays (nodes, values, operands,
 * attributes) plus an arena for everything with a variable size. A node's
 * operands and attributes are contiguous ranges; editing a node's list
 * appends a fresh range and leaves the old one unused, which keeps every
 * other index stable.
 */
#include "ir/ir.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Grow `arr` (with count n and capacity cap) to hold `extra` more. */
#define GROW(arr, n, cap, extra)                                              \
    do {                                                                      \
        if ((n) + (extra) > (cap)) {                                          \
            uint32_t want_ = (cap) ? (cap) * 2 : 16;                          \
            while (want_ < (n) + (extra))                                     \
                want_ *= 2;                                                   \
            (arr) = kiln_xrealloc((arr), (size_t)want_ * sizeof *(arr));      \
            (cap) = want_;                                                    \
        }                                                                     \
    } while (0)

kiln_graph *kiln_graph_create(const char *name, const char *source)
{
    kiln_graph *g = kiln_xcalloc(1, sizeof *g);
    g->arena = kiln_arena_create();
    g->name = kiln_arena_strdup(g->arena, name ? name : "main");
    g->source = kiln_arena_strdup(g->arena, source ? source : "<graph>");
    /* index 0 of nodes, values and symbols means "none" */
    GROW(g->nodes, g->n_nodes, g->cap_nodes, 1);
    memset(&g->nodes[0], 0, sizeof g->nodes[0]);
    g->nodes[0].op = KILN_OP_COUNT;
    g->n_nodes = 1;
    GROW(g->values, g->n_values, g->cap_values, 1);
    memset(&g->values[0], 0, sizeof g->values[0]);
    g->values[0].name = "";
    g->values[0].shape.rank = -1;
    g->n_values = 1;
    GROW(g->syms, g->n_syms, g->cap_syms, 1);
    g->syms[0] = NULL;
    g->n_syms = 1;
    return g;
}

void kiln_graph_destroy(kiln_graph *g)
{
    if (!g)
        return;
    free(g->nodes);
    free(g->values);
    free(g->operands);
    free(g->attrs);
    free(g->inputs);
    free(g->outputs);
    free(g->syms);
    kiln_arena_destroy(g->arena);
    if (g->owner_free)
        g->owner_free(g->owner);
    free(g);
}

void kiln_graph_set_owner(kiln_graph *g, void *owner, void (*free_fn)(void *))
{
    KILN_ASSERT(!g->owner_free);
    g->owner = owner;
    g->owner_free = free_fn;
}

const char *kiln_graph_intern(kiln_graph *g, const char *s)
{
    return kiln_arena_strdup(g->arena, s ? s : "");
}

uint32_t kiln_graph_symbol(kiln_graph *g, const char *name)
{
    if (name)
        for (uint32_t i = 1; i < g->n_syms; i++)
            if (g->syms[i] && strcmp(g->syms[i], name) == 0)
                return i;
    GROW(g->syms, g->n_syms, g->cap_syms, 1);
    g->syms[g->n_syms] = name ? kiln_graph_intern(g, name) : NULL;
    return g->n_syms++;
}

const char *kiln_graph_symbol_name(const kiln_graph *g, uint32_t id)
{
    KILN_ASSERT(id > 0 && id < g->n_syms);
    return g->syms[id];
}

void kiln_graph_add_opset(kiln_graph *g, const char *domain, int64_t version)
{
    for (uint32_t i = 0; i < g->n_opsets; i++)
        if (strcmp(g->opsets[i].domain, domain) == 0) {
            g->opsets[i].version = version;
            return;
        }
    kiln_opset *o = kiln_arena_alloc(g->arena, (g->n_opsets + 1) * sizeof *o, 8);
    if (g->n_opsets)
        memcpy(o, g->opsets, g->n_opsets * sizeof *o);
    o[g->n_opsets].domain = kiln_graph_intern(g, domain);
    o[g->n_opsets].version = version;
    g->opsets = o;
    g->n_opsets++;
}

int64_t kiln_graph_opset(const kiln_graph *g, const char *domain)
{
    for (uint32_t i = 0; i < g->n_opsets; i++)
        if (strcmp(g->opsets[i].domain, domain) == 0)
            return g->opsets[i].version;
    return 0;
}

/* ---- values ------------------------------------------------------------ */

static uint32_t value_new(kiln_graph *g, const char *name, kiln_value_kind kind)
{
    GROW(g->values, g->n_values, g->cap_values, 1);
    kiln_value *v = &g->values[g->n_values];
    memset(v, 0, sizeof *v);
    v->name = kiln_graph_intern(g, name);
    v->kind = kind;
    v->dtype = KILN_DT_UNDEF;
    v->shape = kiln_shape_unknown();
    return g->n_values++;
}

uint32_t kiln_value_add(kiln_graph *g, const char *name)
{
    return value_new(g, name, KILN_VAL_NODE);
}

uint32_t kiln_input_add(kiln_graph *g, const char *name, kiln_dtype dt, const kiln_shape *shape)
{
    uint32_t v = value_new(g, name, KILN_VAL_INPUT);
    g->values[v].dtype = dt;
    g->values[v].shape = shape ? *shape : kiln_shape_unknown();
    GROW(g->inputs, g->n_inputs, g->cap_inputs, 1);
    g->inputs[g->n_inputs++] = v;
    return v;
}

uint32_t kiln_const_add(kiln_graph *g, const char *name, kiln_dtype dt,
                        const kiln_shape *shape, const void *data, size_t nbytes, bool copy)
{
    uint32_t v = value_new(g, name, KILN_VAL_CONST);
    kiln_value *val = &g->values[v];
    val->dtype = dt;
    val->shape = *shape;
    val->nbytes = nbytes;
    if (copy) {
        void *d = kiln_arena_alloc(g->arena, nbytes, 64);
        if (nbytes)
            memcpy(d, data, nbytes);
        val->data = d;
    } else {
        val->data = data;
    }
    return v;
}

void kiln_output_add(kiln_graph *g, uint32_t value)
{
    KILN_ASSERT(value > 0 && value < g->n_values);
    GROW(g->outputs, g->n_outputs, g->cap_outputs, 1);
    g->outputs[g->n_outputs++] = value;
}

/* ---- nodes ------------------------------------------------------------- */

static uint32_t operands_append(kiln_graph *g, const uint32_t *vals, uint32_t n)
{
    GROW(g->operands, g->n_operands, g->cap_operands, n);
    uint32_t at = g->n_operands;
    for (uint32_t i = 0; i < n; i++) {
        KILN_ASSERT(vals[i] < g->n_values);
        g->operands[at + i] = vals[i];
    }
    g->n_operands += n;
    return at;
}

uint32_t kiln_node_add(kiln_graph *g, kiln_op op, const char *name,
                       const uint32_t *ins, uint32_t n_in,
                       const uint32_t *outs, uint32_t n_out)
{
    KILN_ASSERT((unsigned)op < KILN_OP_COUNT);
    GROW(g->nodes, g->n_nodes, g->cap_nodes, 1);
    uint32_t id = g->n_nodes++;
    kiln_node *n = &g->nodes[id];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->name = kiln_graph_intern(g, name);
    n->in = operands_append(g, ins, n_in);
    n->n_in = n_in;
    n->out = operands_append(g, outs, n_out);
    n->n_out = n_out;
    n->attr = g->n_attrs;
    for (uint32_t i = 0; i < n_out; i++) {
        KILN_ASSERT(outs[i] != 0);
        kiln_value *v = &g->values[outs[i]];
        v->kind = KILN_VAL_NODE;
        v->producer = id;
    }
    return id;
}

void kiln_node_set_inputs(kiln_graph *g, uint32_t node, const uint32_t *ins, uint32_t n_in)
{
    uint32_t at = operands_append(g, ins, n_in);
    g->nodes[node].in = at;
    g->nodes[node].n_in = n_in;
}

/* ---- attributes ---------------------------------------------------------- */

/* Copy the node's attributes to the end of g->attrs with `a` inserted (or
 * replacing one of the same name), keeping them sorted by name. */
/* The node's attributes are the last ones in g->attrs (a node being built):
 * insert in place, so that adding n attributes takes O(n) memory (and O(1)
 * time each when they come sorted, as the loaders give them). */
static bool attr_insert_last(kiln_graph *g, uint32_t node, kiln_attr a)
{
    kiln_node *n = &g->nodes[node];
    if (n->attr + n->n_attr != g->n_attrs)
        return false;
    uint32_t lo = 0, hi = n->n_attr; /* first attribute not below a.name */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (strcmp(g->attrs[n->attr + mid].name, a.name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < n->n_attr && strcmp(g->attrs[n->attr + lo].name, a.name) == 0) {
        g->attrs[n->attr + lo] = a;
        return true;
    }
    GROW(g->attrs, g->n_attrs, g->cap_attrs, 1); /* g->attrs may be NULL before */
    n = &g->nodes[node];
    kiln_attr *at = &g->attrs[n->attr + lo];
    memmove(at + 1, at, (n->n_attr - lo) * sizeof *at);
    *at = a;
    n->n_attr++;
    g->n_attrs++;
    return true;
}

static void attr_put(kiln_graph *g, uint32_t node, kiln_attr a)
{
    if (attr_insert_last(g, node, a))
        return;
    kiln_node *n = &g->nodes[node];
    GROW(g->attrs, g->n_attrs, g->cap_attrs, n->n_attr + 1);
    n = &g->nodes[node];
    uint32_t at = g->n_attrs, k = 0;
    bool placed = false;
    for (uint32_t i = 0; i < n->n_attr; i++) {
        kiln_attr old = g->attrs[n->attr + i];
        int c = strcmp(old.name, a.name);
        if (!placed && c >= 0) {
            g->attrs[at + k++] = a;
            placed = true;
            if (c == 0)
                continue;
        }
        g->attrs[at + k++] = old;
    }
    if (!placed)
        g->attrs[at + k++] = a;
    n->attr = at;
    n->n_attr = k;
    g->n_attrs = at + k;
}

static kiln_attr attr_new(kiln_graph *g, const char *name, kiln_attr_kind kind)
{
    kiln_attr a = {.name = kiln_graph_intern(g, name), .kind = kind};
    return a;
}

void kiln_attr_set_int(kiln_graph *g, uint32_t node, const char *name, int64_t v)
{
    kiln_attr a = attr_new(g, name, KILN_ATTR_INT);
    a.u.i = v;
    attr_put(g, node, a);
}

void kiln_attr_set_float(kiln_graph *g, uint32_t node, const char *name, float v)
{
    kiln_attr a = attr_new(g, name, KILN_ATTR_FLOAT);
    a.u.f = v;
    attr_put(g, node, a);
}

void kiln_attr_set_string(kiln_graph *g, uint32_t node, const char *name, const char *v)
{
    kiln_attr a = attr_new(g, name, KILN_ATTR_STRING);
    a.u.s = kiln_graph_intern(g, v);
    attr_put(g, node, a);
}

static void *arena_copy(kiln_graph *g, const void *p, size_t bytes)
{
    void *d = kiln_arena_alloc(g->arena, bytes ? bytes : 1, 16);
    if (bytes)
        memcpy(d, p, bytes);
    return d;
}

void kiln_attr_set_ints(kiln_graph *g, uint32_t node, const char *name, const int64_t *v, uint32_t n)
{
    kiln_attr a = attr_new(g, name, KILN_ATTR_INTS);
    a.n = n;
    a.u.ints = arena_copy(g, v, n * sizeof *v);
    attr_put(g, node, a);
}

void kiln_attr_set_floats(kiln_graph *g, uint32_t node, const char *name, const float *v, uint32_t n)
{
    kiln_attr a = attr_new(g, name, KILN_ATTR_FLOATS);
    a.n = n;
    a.u.floats = arena_copy(g, v, n * sizeof *v);
    attr_put(g, node, a);
}

void kiln_attr_set_strings(kiln_graph *g, uint32_t node, const char *name, const char *const *v, uint32_t n)
{
    kiln_attr a = attr_new(g, name, KILN_ATTR_STRINGS);
    const char **copy = kiln_arena_alloc(g->arena, (n ? n : 1) * sizeof *copy, 8);
    for (uint32_t i = 0; i < n; i++)
        copy[i] = kiln_graph_intern(g, v[i]);
    a.n = n;
    a.u.strings = copy;
    attr_put(g, node, a);
}

void kiln_attr_set_tensor(kiln_graph *g, uint32_t node, const char *name, const kiln_tensor *t)
{
    kiln_attr a = attr_new(g, name, KILN_ATTR_TENSOR);
    kiln_tensor *copy = kiln_arena_alloc(g->arena, sizeof *copy, 8);
    *copy = *t;
    copy->data = arena_copy(g, t->data, t->nbytes);
    a.u.tensor = copy;
    attr_put(g, node, a);
}

bool kiln_attr_remove(kiln_graph *g, uint32_t node, const char *name)
{
    kiln_node *n = &g->nodes[node];
    for (uint32_t i = 0; i < n->n_attr; i++)
        if (strcmp(g->attrs[n->attr + i].name, name) == 0) {
            /* the range is private to this node: shift the tail down */
            memmove(&g->attrs[n->attr + i], &g->attrs[n->attr + i + 1],
                    (n->n_attr - i - 1) * sizeof(kiln_attr));
            n->n_attr--;
            return true;
        }
    return false;
}

const kiln_attr *kiln_attr_find(const kiln_graph *g, const kiln_node *n, const char *name)
{
    for (uint32_t i = 0; i < n->n_attr; i++)
        if (strcmp(g->attrs[n->attr + i].name, name) == 0)
            return &g->attrs[n->attr + i];
    return NULL;
}

static const kiln_attr *attr_of_kind(const kiln_graph *g, const kiln_node *n,
                                     const char *name, kiln_attr_kind kind)
{
    const kiln_attr *a = kiln_attr_find(g, n, name);
    return a && a->kind == kind ? a : NULL;
}

int64_t kiln_attr_int(const kiln_graph *g, const kiln_node *n, const char *name, int64_t dflt)
{
    const kiln_attr *a = attr_of_kind(g, n, name, KILN_ATTR_INT);
    return a ? a->u.i : dflt;
}

float kiln_attr_float(const kiln_graph *g, const kiln_node *n, const char *name, float dflt)
{
    const kiln_attr *a = attr_of_kind(g, n, name, KILN_ATTR_FLOAT);
    return a ? a->u.f : dflt;
}

const char *kiln_attr_string(const kiln_graph *g, const kiln_node *n, const char *name, const char *dflt)
{
    const kiln_attr *a = attr_of_kind(g, n, name, KILN_ATTR_STRING);
    return a ? a->u.s : dflt;
}

const int64_t *kiln_attr_ints(const kiln_graph *g, const kiln_node *n, const char *name, uint32_t *count)
{
    const kiln_attr *a = attr_of_kind(g, n, name, KILN_ATTR_INTS);
    *count = a ? a->n : 0;
    return a ? a->u.ints : NULL;
}

const float *kiln_attr_floats(const kiln_graph *g, const kiln_node *n, const char *name, uint32_t *count)
{
    const kiln_attr *a = attr_of_kind(g, n, name, KILN_ATTR_FLOATS);
    *count = a ? a->n : 0;
    return a ? a->u.floats : NULL;
}

const kiln_tensor *kiln_attr_tensor(const kiln_graph *g, const kiln_node *n, const char *name)
{
    const kiln_attr *a = attr_of_kind(g, n, name, KILN_ATTR_TENSOR);
    return a ? a->u.tensor : NULL;
}

/* ---- messages ------------------------------------------------------------ */

/* The first named output of an unnamed node; NULL when it has none (or the
 * node is malformed: the verifier describes nodes before checking them). */
static const char *first_output_name(const kiln_graph *g, const kiln_node *n)
{
    if (n->out > g->n_operands || n->n_out > g->n_operands - n->out)
        return NULL;
    for (uint32_t i = 0; i < n->n_out; i++) {
        uint32_t v = g->operands[n->out + i];
        if (v && v < g->n_values && g->values[v].name[0])
            return g->values[v].name;
    }
    return NULL;
}

const char *kiln_node_describe(const kiln_graph *g, uint32_t node, char *buf, size_t size)
{
    const kiln_node *n = &g->nodes[node];
    const char *out = n->name[0] ? NULL : first_output_name(g, n);
    char op[64], name[260];
    kiln_op_text_name(n->op, op, sizeof op);  /* kiln's own ops as kiln.<Name> */
    if (n->name[0])
        snprintf(buf, size, "'%s' (%s)", kiln_escape(n->name, name, sizeof name), op);
    else if (out)
        snprintf(buf, size, "producing '%s' (%s)", kiln_escape(out, name, sizeof name), op);
    else
        snprintf(buf, size, "#%u (%s)", node, op);
    return buf;
}

const char *kiln_escape(const char *s, char *buf, size_t size)
{
    size_t at = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        bool plain = c >= 0x20 && c != 0x7f; /* UTF-8 names stay readable */
        if (at + (plain ? 1 : 4) + 4 > size) { /* room for "..." and the NUL */
            memcpy(buf + at, "...", 4);
            return buf;
        }
        if (plain)
            buf[at++] = (char)c;
        else
            at += (size_t)snprintf(buf + at, size - at, "\\x%02x", c);
    }
    buf[at] = 0;
    return buf;
}

kiln_status kiln_node_verror(kiln_ctx *ctx, const kiln_graph *g, uint32_t node,
                             kiln_status status, const char *fmt, va_list ap)
{
    char what[512], msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    return kiln_error(ctx, status, "%s: node %s: %s", g->source,
                      kiln_node_describe(g, node, what, sizeof what), msg);
}

kiln_status kiln_node_error(kiln_ctx *ctx, const kiln_graph *g, uint32_t node,
                            kiln_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kiln_status st = kiln_node_verror(ctx, g, node, status, fmt, ap);
    va_end(ap);
    return st;
}

/* ---- queries --------------------------------------------------------------- */

uint32_t *kiln_graph_use_counts(const kiln_graph *g)
{
    uint32_t *uses = kiln_xcalloc(g->n_values, sizeof *uses);
    for (uint32_t i = 1; i < g->n_nodes; i++) {
        const kiln_node *n = &g->nodes[i];
        for (uint32_t k = 0; k < n->n_in; k++)
            uses[g->operands[n->in + k]]++;
    }
    for (uint32_t i = 0; i < g->n_outputs; i++)
        uses[g->outputs[i]]++;
    uses[0] = 0;
    return uses;
}

uint32_t kiln_graph_find_value(const kiln_graph *g, const char *name)
{
    for (uint32_t i = 0; i < g->n_inputs; i++)
        if (strcmp(g->values[g->inputs[i]].name, name) == 0)
            return g->inputs[i];
    for (uint32_t i = 0; i < g->n_outputs; i++)
        if (strcmp(g->values[g->outputs[i]].name, name) == 0)
            return g->outputs[i];
    for (uint32_t v = 1; v < g->n_values; v++)
        if (strcmp(g->values[v].name, name) == 0)
            return v;
    return 0;
}

/* ---- topological order ----------------------------------------------------- */

/* Depth-first post-order from each node in its current order: a node moves
 * only when one of its producers comes later, so a graph already in order
 * stays as it is. An explicit stack keeps deep graphs off the C stack. */
kiln_status kiln_graph_toposort(kiln_ctx *ctx, kiln_graph *g)
{
    enum { WHITE, GREY, BLACK };
    uint32_t n = g->n_nodes;
    uint8_t *color = kiln_xcalloc(n, 1);
    uint32_t *order = kiln_xcalloc(n, sizeof *order);
    uint32_t *stack = kiln_xcalloc(n, sizeof *stack);
    uint32_t *next_in = kiln_xcalloc(n, sizeof *next_in);
    uint32_t n_order = 1;
    kiln_status st = KILN_OK;

    for (uint32_t root = 1; root < n && st == KILN_OK; root++) {
        if (color[root] != WHITE)
            continue;
        uint32_t sp = 0;
        stack[sp++] = root;
        color[root] = GREY;
        while (sp && st == KILN_OK) {
            uint32_t id = stack[sp - 1];
            kiln_node *node = &g->nodes[id];
            if (next_in[id] == node->n_in) {
                color[id] = BLACK;
                order[n_order++] = id;
                sp--;
                continue;
            }
            uint32_t v = g->operands[node->in + next_in[id]++];
            if (!v || g->values[v].kind != KILN_VAL_NODE)
                continue;
            uint32_t p = g->values[v].producer;
            if (!p) {
                st = kiln_node_error(ctx, g, id, KILN_ERR_INVALID,
                                     "input '%s' is not produced by any node, graph input or constant",
                                     g->values[v].name);
            } else if (color[p] == GREY) {
                st = kiln_node_error(ctx, g, p, KILN_ERR_INVALID,
                                     "the graph has a cycle through this node (via '%s')",
                                     g->values[v].name);
            } else if (color[p] == WHITE) {
                color[p] = GREY;
                stack[sp++] = p;
            }
        }
    }
    if (st == KILN_OK) {
        /* order[k] is the old index of the node that goes to slot k */
        kiln_node *nodes = kiln_xcalloc(g->cap_nodes, sizeof *nodes);
        nodes[0] = g->nodes[0];
        for (uint32_t k = 1; k < n; k++) {
            nodes[k] = g->nodes[order[k]];
            for (uint32_t o = 0; o < nodes[k].n_out; o++) {
                uint32_t v = g->operands[nodes[k].out + o];
                if (v)
                    g->values[v].producer = k;
            }
        }
        free(g->nodes);
        g->nodes = nodes;
    }
    free(color);
    free(order);
    free(stack);
    free(next_in);
    return st;
}

/* ---- binding inputs ---------------------------------------------------------- */

static bool is_graph_input(const kiln_graph *g, uint32_t v, uint32_t *pos)
{
    for (uint32_t i = 0; i < g->n_inputs; i++)
        if (g->inputs[i] == v) {
            *pos = i;
            return true;
        }
    return false;
}

/* Does concrete shape `c` fit the declared (possibly symbolic) shape `decl`? */
static bool shape_fits(const kiln_shape *decl, const kiln_shape *c)
{
    if (decl->rank < 0)
        return true;
    if (decl->rank != c->rank)
        return false;
    for (int i = 0; i < c->rank; i++)
        if (!KILN_DIM_IS_SYM(decl->dim[i]) && decl->dim[i] != c->dim[i])
            return false;
    return true;
}

const char *kiln_shape_format(const kiln_graph *g, const kiln_shape *s, char *buf, size_t size)
{
    size_t at = 0;
    if (s->rank < 0) {
        snprintf(buf, size, "[*]");
        return buf;
    }
    at += snprintf(buf + at, size - at, "[");
    for (int i = 0; i < s->rank && at < size; i++) {
        const char *sep = i ? "," : "";
        kiln_dim d = s->dim[i];
        const char *sym = KILN_DIM_IS_SYM(d) && g && KILN_DIM_SYM_ID(d) < g->n_syms
                              ? g->syms[KILN_DIM_SYM_ID(d)] : NULL;
        if (!KILN_DIM_IS_SYM(d))
            at += snprintf(buf + at, size - at, "%s%lld", sep, (long long)d);
        else if (sym)
            at += snprintf(buf + at, size - at, "%s%s", sep, sym);
        else
            at += snprintf(buf + at, size - at, "%s?%u", sep, KILN_DIM_SYM_ID(d));
    }
    if (at < size)
        snprintf(buf + at, size - at, "]");
    return buf;
}

kiln_status kiln_graph_bind_input(kiln_ctx *ctx, kiln_graph *g, uint32_t value, const kiln_tensor *t)
{
    uint32_t pos;
    kiln_value *v = &g->values[value];
    char want[256], got[256];
    if (!is_graph_input(g, value, &pos))
        return kiln_error(ctx, KILN_ERR_INVALID, "%s: '%s' is not a graph input", g->source, v->name);
    if (v->dtype != KILN_DT_UNDEF && v->dtype != t->dtype)
        return kiln_error(ctx, KILN_ERR_INVALID, "%s: input '%s' has dtype %s, the data is %s",
                          g->source, v->name, kiln_dtype_name(v->dtype), kiln_dtype_name(t->dtype));
    if (!shape_fits(&v->shape, &t->shape)) {
        kiln_shape_format(g, &v->shape, want, sizeof want);
        kiln_shape_format(g, &t->shape, got, sizeof got);
        return kiln_error(ctx, KILN_ERR_INVALID, "%s: input '%s' has shape %s, the data has %s",
                          g->source, v->name, want, got);
    }
    void *d = kiln_arena_alloc(g->arena, t->nbytes ? t->nbytes : 1, 64);
    if (t->nbytes)
        memcpy(d, t->data, t->nbytes);
    v->kind = KILN_VAL_CONST;
    v->dtype = t->dtype;
    v->shape = t->shape;
    v->data = d;
    v->nbytes = t->nbytes;
    memmove(&g->inputs[pos], &g->inputs[pos + 1], (g->n_inputs - pos - 1) * sizeof *g->inputs);
    g->n_inputs--;
    return KILN_OK;
}

kiln_status kiln_graph_bind_shape(kiln_ctx *ctx, kiln_graph *g, uint32_t value, const kiln_shape *shape)
{
    uint32_t pos;
    kiln_value *v = &g->values[value];
    char want[256], got[256];
    if (!is_graph_input(g, value, &pos))
        return kiln_error(ctx, KILN_ERR_INVALID, "%s: '%s' is not a graph input", g->source, v->name);
    if (!shape_fits(&v->shape, shape)) {
        kiln_shape_format(g, &v->shape, want, sizeof want);
        kiln_shape_format(g, shape, got, sizeof got);
        return kiln_error(ctx, KILN_ERR_INVALID, "%s: input '%s' has shape %s, cannot bind it to %s",
                          g->source, v->name, want, got);
    }
    /* Symbols are graph-wide: binding N on this input binds N everywhere. */
    int64_t *bound = kiln_xcalloc(g->n_syms, sizeof *bound);
    for (uint32_t s = 0; s < g->n_syms; s++)
        bound[s] = -1;
    for (int i = 0; v->shape.rank > 0 && i < v->shape.rank; i++) {
        kiln_dim d = v->shape.dim[i];
        if (!KILN_DIM_IS_SYM(d))
            continue;
        int64_t *b = &bound[KILN_DIM_SYM_ID(d)];
        if (*b >= 0 && *b != shape->dim[i]) {
            kiln_shape_format(g, &v->shape, want, sizeof want);
            kiln_shape_format(g, shape, got, sizeof got);
            free(bound);
            return kiln_error(ctx, KILN_ERR_INVALID,
                              "%s: input '%s' has shape %s, cannot bind it to %s (one symbol, two sizes)",
                              g->source, v->name, want, got);
        }
        *b = shape->dim[i];
    }
    v->shape = *shape;
    for (uint32_t k = 0; k < g->n_inputs; k++) {
        kiln_value *in = &g->values[g->inputs[k]];
        for (int i = 0; i < in->shape.rank; i++) {
            kiln_dim d = in->shape.dim[i];
            if (KILN_DIM_IS_SYM(d) && bound[KILN_DIM_SYM_ID(d)] >= 0)
                in->shape.dim[i] = bound[KILN_DIM_SYM_ID(d)];
        }
    }
    free(bound);
    return KILN_OK;
}
