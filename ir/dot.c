/* dot.c — the graph as Graphviz DOT, for looking at what the compiler did.
 *
 * Graph inputs are ellipses, constants small grey boxes, nodes boxes with
 * the op, the node name and each output's dtype and shape; graph outputs
 * are bold ellipses. An edge is labelled with the value's name when its
 * producer has several outputs (otherwise the producer's box says it).
 * Output depends only on the graph, so it is deterministic.
 */
#include "ir/text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct dbuf {
    char *p;
    size_t n, cap;
} dbuf;

static void put(dbuf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + n + 1)
            cap *= 2;
        b->p = kiln_xrealloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n + 1);
    b->n += n;
}

static KILN_PRINTF(2, 3) void putf(dbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    put(b, tmp);
}

/* s inside a DOT "string": quotes and backslashes escaped, control
 * characters dropped. */
static void put_escaped(dbuf *b, const char *s)
{
    char c[3] = {0};
    for (; *s; s++) {
        c[0] = *s, c[1] = 0;
        if (*s == '"' || *s == '\\')
            c[0] = '\\', c[1] = *s;
        else if ((unsigned char)*s < 0x20)
            continue;
        put(b, c);
    }
}

/* "f32[N,3,224,224]" */
static void put_type(dbuf *b, const kiln_graph *g, const kiln_value *v)
{
    char shape[256];
    putf(b, "%s%s", kiln_dtype_name(v->dtype), kiln_shape_format(g, &v->shape, shape, sizeof shape));
}

static const char *value_label(const kiln_value *v)
{
    return v->name[0] ? v->name : "(anonymous)";
}

static void put_value_node(dbuf *b, const kiln_graph *g, uint32_t v, const char *style)
{
    const kiln_value *val = &g->values[v];
    putf(b, "  v%u [%s, label=\"", v, style);
    put_escaped(b, value_label(val));
    put(b, "\\n");
    put_type(b, g, val);
    put(b, "\"];\n");
}

static void put_op_node(dbuf *b, const kiln_graph *g, uint32_t id)
{
    const kiln_node *n = &g->nodes[id];
    char opname[64];
    putf(b, "  n%u [shape=box, style=rounded, label=\"%s", id, kiln_op_text_name(n->op, opname, sizeof opname));
    if (n->name[0]) {
        put(b, "\\n");
        put_escaped(b, n->name);
    }
    for (uint32_t i = 0; i < n->n_out; i++) {
        uint32_t v = g->operands[n->out + i];
        if (!v || v >= g->n_values)
            continue;
        put(b, "\\n");
        put_type(b, g, &g->values[v]);
    }
    put(b, "\"];\n");
}

/* The DOT node a value comes from: its producer, or its own ellipse. */
static void put_source(dbuf *b, const kiln_graph *g, uint32_t v)
{
    uint32_t p = g->values[v].producer;
    if (g->values[v].kind == KILN_VAL_NODE && p && p < g->n_nodes)
        putf(b, "n%u", p);
    else
        putf(b, "v%u", v);
}

static bool wants_label(const kiln_graph *g, uint32_t v)
{
    uint32_t p = g->values[v].producer;
    return g->values[v].kind == KILN_VAL_NODE && p && p < g->n_nodes && g->nodes[p].n_out > 1;
}

/* Which output of its producer v is, for anonymous values. */
static uint32_t output_index(const kiln_graph *g, uint32_t v)
{
    const kiln_node *n = &g->nodes[g->values[v].producer];
    for (uint32_t i = 0; i < n->n_out; i++)
        if (g->operands[n->out + i] == v)
            return i;
    return 0;
}

static void put_edge(dbuf *b, const kiln_graph *g, uint32_t v, const char *to)
{
    put(b, "  ");
    put_source(b, g, v);
    putf(b, " -> %s", to);
    if (wants_label(g, v)) {
        put(b, " [label=\"");
        if (g->values[v].name[0])
            put_escaped(b, g->values[v].name);
        else
            putf(b, "output %u", output_index(g, v));
        put(b, "\"]");
    }
    put(b, ";\n");
}

static void put_in_edges(dbuf *b, const kiln_graph *g, uint32_t id)
{
    const kiln_node *n = &g->nodes[id];
    char to[16];
    snprintf(to, sizeof to, "n%u", id);
    for (uint32_t i = 0; i < n->n_in; i++) {
        uint32_t v = g->operands[n->in + i];
        if (v && v < g->n_values)
            put_edge(b, g, v, to);
    }
}

/* Values a node reads that nothing defines (a broken graph) still get a box,
 * dashed, so that the picture shows the problem instead of hiding it. */
static void put_undefined(dbuf *b, const kiln_graph *g, bool *drawn, uint32_t v)
{
    const kiln_value *val = &g->values[v];
    if (drawn[v] || (val->kind == KILN_VAL_NODE && val->producer && val->producer < g->n_nodes))
        return;
    drawn[v] = true;
    put_value_node(b, g, v, "shape=ellipse, style=dashed");
}

static void put_values(dbuf *b, const kiln_graph *g, bool *drawn)
{
    for (uint32_t i = 0; i < g->n_inputs; i++)
        if (g->inputs[i] && g->inputs[i] < g->n_values && !drawn[g->inputs[i]]) {
            drawn[g->inputs[i]] = true;
            put_value_node(b, g, g->inputs[i], "shape=ellipse");
        }
    for (uint32_t v = 1; v < g->n_values; v++)
        if (g->values[v].kind == KILN_VAL_CONST && !drawn[v]) {
            drawn[v] = true;
            put_value_node(b, g, v, "shape=box, style=filled, fillcolor=lightgrey, fontsize=8, "
                                    "height=0.2, margin=0.03");
        }
    for (uint32_t id = 1; id < g->n_nodes; id++) {
        const kiln_node *n = &g->nodes[id];
        for (uint32_t i = 0; i < n->n_in; i++) {
            uint32_t v = g->operands[n->in + i];
            if (v && v < g->n_values)
                put_undefined(b, g, drawn, v);
        }
    }
}

static void put_outputs(dbuf *b, const kiln_graph *g, bool *drawn)
{
    char to[24];
    for (uint32_t i = 0; i < g->n_outputs; i++) {
        uint32_t v = g->outputs[i];
        if (!v || v >= g->n_values)
            continue;
        put_undefined(b, g, drawn, v);
        putf(b, "  out%u [shape=ellipse, style=bold, label=\"", i);
        put_escaped(b, value_label(&g->values[v]));
        put(b, "\"];\n");
        snprintf(to, sizeof to, "out%u", i);
        put_edge(b, g, v, to);
    }
}

char *kiln_dot_format(const kiln_graph *g)
{
    dbuf b = {0};
    bool *drawn = kiln_xcalloc(g->n_values, sizeof *drawn);
    put(&b, "digraph \"");
    put_escaped(&b, g->name);
    put(&b, "\" {\n  graph [rankdir=TB, fontname=\"Helvetica\"];\n"
            "  node [fontname=\"Helvetica\", fontsize=10];\n"
            "  edge [fontname=\"Helvetica\", fontsize=8];\n");
    put_values(&b, g, drawn);
    for (uint32_t id = 1; id < g->n_nodes; id++)
        put_op_node(&b, g, id);
    for (uint32_t id = 1; id < g->n_nodes; id++)
        put_in_edges(&b, g, id);
    put_outputs(&b, g, drawn);
    put(&b, "}\n");
    free(drawn);
    return b.p;
}
