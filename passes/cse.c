/* cse.c — pass `cse`: common subexpression elimination.
 *
 * Pattern: nodes with the same op, inputs (value indices), attributes (deep:
 * kind and value, floats bit for bit, lists and tensors by content) and
 * output count compute the same values: the later one's users read the
 * earlier one's outputs and the later one goes. Constants with the same
 * dtype, shape and bytes merge first, so duplicated initializers do not hide
 * equal nodes. Needs: topological order. One forward sweep, hash + compare:
 * a merge rewrites later inputs before they are keyed, so chains fold in one
 * run. Graph outputs keep their names (kiln_value_forward); a Dropout that
 * may train is never merged. One change per merged node or constant.
 *   before: %a = Relu(%x)          after: %a = Relu(%x)
 *           %b = Relu(%x)                 %y = Add(%a, %a)
 *           %y = Add(%a, %b)
 * (tests/ir/pass_cse.kir, tests/unit/test_passes.c)
 */
#include "ir/edit.h"
#include "ir/text.h"
#include "passes/pass.h"

#include <stdlib.h>
#include <string.h>

typedef struct cse {
    kiln_pass_ctx *pc;
    kiln_graph *g;
    uint32_t *repl;       /* value -> the earlier equal value its users read; 0: itself */
    bool *is_output;      /* value -> is a graph output (kept up to date) */
} cse;

/* ---- a hash table of node or value indices ----------------------------------- */

typedef bool (*same_fn)(const void *env, uint32_t a, uint32_t b);

typedef struct table {
    uint32_t *slot;       /* node or value index; 0: empty */
    uint64_t *hash;
    uint32_t mask;
    same_fn same;
    const void *env;      /* what `same` compares in */
} table;

static table table_create(uint32_t count, same_fn same, const void *env)
{
    uint32_t size = 16;
    while (size < 2 * count)
        size *= 2;
    table t = {.mask = size - 1, .same = same, .env = env};
    t.slot = kiln_xcalloc(size, sizeof *t.slot);
    t.hash = kiln_xcalloc(size, sizeof *t.hash);
    return t;
}

static void table_destroy(table *t)
{
    free(t->slot);
    free(t->hash);
}

/* The earlier entry equal to x, or 0 after adding x. The table never holds
 * more than half its slots, so probing ends. */
static uint32_t table_find_or_add(table *t, uint64_t h, uint32_t x)
{
    for (uint32_t i = (uint32_t)h & t->mask;; i = (i + 1) & t->mask) {
        if (!t->slot[i]) {
            t->slot[i] = x;
            t->hash[i] = h;
            return 0;
        }
        if (t->hash[i] == h && t->same(t->env, t->slot[i], x))
            return t->slot[i];
    }
}

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    return (h ^ kiln_digest(p, n)) * 0x100000001b3ull;
}

/* ---- constants ---------------------------------------------------------------- */

/* Type and a sample of the bytes: equal constants hash equal, and weights
 * of the same shape almost always differ in their first bytes already; the
 * full comparison is in same_const. */
static uint64_t const_hash(const kiln_value *v)
{
    uint64_t h = mix(0, &v->dtype, sizeof v->dtype);
    h = mix(h, &v->shape.rank, sizeof v->shape.rank);
    if (v->shape.rank > 0)
        h = mix(h, v->shape.dim, (size_t)v->shape.rank * sizeof v->shape.dim[0]);
    h = mix(h, &v->nbytes, sizeof v->nbytes);
    if (!v->data)
        return mix(h, &v->digest, sizeof v->digest);
    size_t head = v->nbytes < 256 ? v->nbytes : 256;
    h = mix(h, v->data, head);
    return mix(h, (const unsigned char *)v->data + v->nbytes - head, head);
}

/* Constants whose text elided the bytes compare by digest (FNV-1a 64). */
static bool same_const(const void *env, uint32_t a, uint32_t b)
{
    const kiln_value *x = &((const kiln_graph *)env)->values[a];
    const kiln_value *y = &((const kiln_graph *)env)->values[b];
    if (x->dtype != y->dtype || !kiln_shape_equal(&x->shape, &y->shape) || x->nbytes != y->nbytes ||
        !x->data != !y->data)
        return false;
    return x->data ? memcmp(x->data, y->data, x->nbytes) == 0 : x->digest == y->digest;
}

/* Constants go first: the node sweep then sees duplicated initializers as
 * one value. */
static void merge_constants(cse *c)
{
    kiln_graph *g = c->g;
    uint32_t *uses = kiln_graph_use_counts(g);
    table t = table_create(g->n_values, same_const, g);
    for (uint32_t v = 1; v < g->n_values; v++) {
        if (g->values[v].kind != KILN_VAL_CONST || !uses[v])
            continue;
        uint32_t first = table_find_or_add(&t, const_hash(&g->values[v]), v);
        if (first && !c->is_output[v]) {   /* a graph output cannot be renamed to a constant */
            c->repl[v] = first;
            c->pc->changes++;
        }
    }
    table_destroy(&t);
    free(uses);
}

/* ---- node keys: everything that decides what a node computes, as bytes ------- */

typedef struct keys {
    unsigned char *p;
    size_t n, cap;
    size_t *at;           /* node -> its key's offset */
    size_t *len;          /* node -> its key's length */
} keys;

static void put(keys *k, const void *p, size_t n)
{
    if (k->n + n > k->cap) {
        while (k->n + n > k->cap)
            k->cap = k->cap ? 2 * k->cap : 4096;
        k->p = kiln_xrealloc(k->p, k->cap);
    }
    if (n)
        memcpy(k->p + k->n, p, n);
    k->n += n;
}

static void put_u64(keys *k, uint64_t x) { put(k, &x, sizeof x); }

static void put_str(keys *k, const char *s)
{
    put_u64(k, strlen(s));
    put(k, s, strlen(s));
}

static void put_int(keys *k, const kiln_attr *a) { put(k, &a->u.i, sizeof a->u.i); }
static void put_float(keys *k, const kiln_attr *a) { put(k, &a->u.f, sizeof a->u.f); }
static void put_string(keys *k, const kiln_attr *a) { put_str(k, a->u.s); }
static void put_ints(keys *k, const kiln_attr *a) { put(k, a->u.ints, a->n * sizeof *a->u.ints); }
static void put_floats(keys *k, const kiln_attr *a) { put(k, a->u.floats, a->n * sizeof *a->u.floats); }

static void put_strings(keys *k, const kiln_attr *a)
{
    for (uint32_t i = 0; i < a->n; i++)
        put_str(k, a->u.strings[i]);
}

static void put_tensor(keys *k, const kiln_attr *a)
{
    const kiln_tensor *t = a->u.tensor;
    put_u64(k, (uint64_t)t->dtype);
    put_u64(k, (uint64_t)(int64_t)t->shape.rank);
    if (t->shape.rank > 0)
        put(k, t->shape.dim, (size_t)t->shape.rank * sizeof t->shape.dim[0]);
    put_u64(k, t->nbytes);
    put(k, t->data, t->nbytes);
}

static void (*const put_attr_value[KILN_ATTR_KIND_COUNT])(keys *, const kiln_attr *) = {
    [KILN_ATTR_INT] = put_int,         [KILN_ATTR_FLOAT] = put_float,
    [KILN_ATTR_STRING] = put_string,   [KILN_ATTR_INTS] = put_ints,
    [KILN_ATTR_FLOATS] = put_floats,   [KILN_ATTR_STRINGS] = put_strings,
    [KILN_ATTR_TENSOR] = put_tensor,
};

/* op, inputs, output count, attributes (sorted by name already). */
static void node_key(keys *k, const kiln_graph *g, uint32_t id)
{
    const kiln_node *n = &g->nodes[id];
    k->at[id] = k->n;
    put_u64(k, (uint64_t)n->op);
    put_u64(k, n->n_in);
    put(k, g->operands + n->in, n->n_in * sizeof *g->operands);
    put_u64(k, n->n_out);
    put_u64(k, n->n_attr);
    for (uint32_t i = 0; i < n->n_attr; i++) {
        const kiln_attr *a = &g->attrs[n->attr + i];
        put_str(k, a->name);
        put_u64(k, (uint64_t)a->kind);
        put_u64(k, a->n);
        put_attr_value[a->kind](k, a);
    }
    k->len[id] = k->n - k->at[id];
}

static bool same_key(const void *env, uint32_t a, uint32_t b)
{
    const keys *k = env;
    return k->len[a] == k->len[b] && memcmp(k->p + k->at[a], k->p + k->at[b], k->len[a]) == 0;
}

/* ---- nodes ------------------------------------------------------------------------ */

/* Dropout trains (drops at random) unless training_mode is absent or a
 * constant false; kiln rejects training at run time, but two such nodes
 * are still not the same computation in ONNX's terms. */
static bool dropout_may_train(const kiln_graph *g, uint32_t id)
{
    const kiln_node *n = &g->nodes[id];
    if (kiln_node_input(g, n, 2) == 0)
        return false;
    const kiln_value *t = kiln_const_input(g, id, 2);
    return !t || t->nbytes != 1 || *(const unsigned char *)t->data != 0;
}

/* Ops whose two evaluations may differ, each with when they may. */
static bool (*const may_be_random[KILN_OP_COUNT])(const kiln_graph *, uint32_t) = {
    [KILN_OP_DROPOUT] = dropout_may_train,
};

/* All of dup's outputs can be replaced by first's (graph output names kept). */
static bool can_merge(const cse *c, uint32_t first, uint32_t dup)
{
    const kiln_graph *g = c->g;
    const kiln_node *a = &g->nodes[first], *b = &g->nodes[dup];
    for (uint32_t i = 0; i < b->n_out; i++) {
        uint32_t from = g->operands[b->out + i], to = g->operands[a->out + i];
        if (c->is_output[from] && !kiln_value_can_forward(g, from, to))
            return false;
    }
    return true;
}

/* Users of dup's outputs come later and read first's through repl; a graph
 * output is forwarded at once (first's output takes its name). */
static void merge_node(cse *c, uint32_t first, uint32_t dup)
{
    kiln_graph *g = c->g;
    for (uint32_t i = 0; i < g->nodes[dup].n_out; i++) {
        uint32_t from = g->operands[g->nodes[dup].out + i], to = g->operands[g->nodes[first].out + i];
        c->repl[from] = to;
        if (c->is_output[from]) {
            kiln_value_forward(g, from, to);
            c->is_output[to] = true;
        }
    }
    kiln_node_remove(g, dup);
}

/* The node's inputs with every merged value replaced (no chains: what repl
 * points to is never merged itself, it came first). */
static void rewrite_inputs(cse *c, uint32_t id)
{
    for (uint32_t i = 0; i < c->g->nodes[id].n_in; i++) {
        uint32_t v = kiln_node_input(c->g, &c->g->nodes[id], i);
        if (c->repl[v])
            kiln_node_set_input(c->g, id, i, c->repl[v]);
    }
}

static void merge_nodes(cse *c)
{
    kiln_graph *g = c->g;
    keys k = {
        .at = kiln_xcalloc(g->n_nodes, sizeof *k.at),
        .len = kiln_xcalloc(g->n_nodes, sizeof *k.len),
    };
    table t = table_create(g->n_nodes, same_key, &k);
    for (uint32_t id = 1; id < g->n_nodes; id++) {
        kiln_op op = g->nodes[id].op;
        if (op == KILN_OP_COUNT)
            continue;
        rewrite_inputs(c, id);
        if (may_be_random[op] && may_be_random[op](g, id))
            continue;
        node_key(&k, g, id);
        uint32_t first = table_find_or_add(&t, kiln_digest(k.p + k.at[id], k.len[id]), id);
        if (first && can_merge(c, first, id)) {
            merge_node(c, first, id);
            c->pc->changes++;
        }
    }
    table_destroy(&t);
    free(k.p);
    free(k.at);
    free(k.len);
}

kiln_status kiln_pass_cse(kiln_pass_ctx *pc, kiln_graph *g)
{
    cse c = {
        .pc = pc,
        .g = g,
        .repl = kiln_xcalloc(g->n_values, sizeof *c.repl),
        .is_output = kiln_xcalloc(g->n_values, sizeof *c.is_output),
    };
    for (uint32_t i = 0; i < g->n_outputs; i++)
        c.is_output[g->outputs[i]] = true;
    merge_constants(&c);
    merge_nodes(&c);
    free(c.repl);
    free(c.is_output);
    return KILN_OK;
}
