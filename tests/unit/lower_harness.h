/* lower_harness.h — the shared harness of test_lower_elementwise.c and
 * test_lower_reduce.c: a one-node graph whose values get buffers by value
 * id, lowered with kiln_lower_node, its calls run here (whole, split into
 * work ranges in reverse order over poisoned outputs, or with y in x's
 * buffer) without the interpreter. Define LOWER_HARNESS_MAX_OPS (the most
 * operands a call of the family has) before including it. */
#ifndef LOWER_HARNESS_H
#define LOWER_HARNESS_H

#include "cunit_main.h"
#include "ir/lower.h"

#include <stdlib.h>
#include <string.h>

/* ---- harness: a one-node graph, buffers by value id ------------------------------ */

enum { MAXV = 128 };

static kiln_ctx *ctx;
static kiln_graph *g;
static kiln_arena *arena;
static void *buf[MAXV];     /* data of value v while a test runs */
static bool owned[MAXV];
static uint32_t seed = 12345;

static double rnd(void) /* [-2, 2) */
{
    seed = seed * 1664525u + 1013904223u;
    return -2 + 4 * (double)(seed >> 8) / 16777216.0;
}

static void finish(void)
{
    for (int v = 0; v < MAXV; v++) {
        if (owned[v])
            free(buf[v]);
        buf[v] = NULL;
        owned[v] = false;
    }
    if (g)
        kiln_graph_destroy(g);
    if (arena)
        kiln_arena_destroy(arena);
    if (ctx)
        kiln_ctx_destroy(ctx);
    g = NULL, arena = NULL, ctx = NULL;
}

static void start(void)
{
    finish();
    ctx = kiln_ctx_create();
    g = kiln_graph_create("t", "t.onnx");
    arena = kiln_arena_create();
}

static size_t value_bytes(uint32_t v)
{
    int64_t n = 0;
    kiln_shape_numel(&g->values[v].shape, &n);
    return (size_t)n * kiln_dtype_size(g->values[v].dtype);
}

/* A graph input with random data. */
static uint32_t input(const char *name, kiln_dtype dt, int rank, const int64_t *dims)
{
    kiln_shape s = kiln_shape_make(rank, dims);
    uint32_t v = kiln_input_add(g, name, dt, &s);
    int64_t n = krt_numel(rank, dims);
    KILN_ASSERT(v < MAXV);
    buf[v] = malloc((size_t)n * kiln_dtype_size(dt) + 1);
    owned[v] = true;
    for (int64_t i = 0; i < n; i++)
        krt_store_f64((krt_dtype)dt, buf[v], i, rnd());
    return v;
}

/* Node 'n' of op with outputs y, y1, ... that are graph outputs. */
static uint32_t node(kiln_op op, const uint32_t *ins, uint32_t n_in, uint32_t n_out)
{
    static const char *const names[] = {"y", "y1", "y2"};
    uint32_t outs[3];
    for (uint32_t i = 0; i < n_out; i++) {
        outs[i] = kiln_value_add(g, names[i]);
        kiln_output_add(g, outs[i]);
    }
    return kiln_node_add(g, op, "n", ins, n_in, outs, n_out);
}

/* Infer and lower node nd; its outputs get buffers. */
static kiln_status lower(uint32_t nd, kiln_lowered *low)
{
    kiln_status st = kiln_graph_infer(ctx, g);
    if (st == KILN_OK)
        st = kiln_lower_node(ctx, g, g->values, nd, arena, low);
    if (st != KILN_OK)
        return st;
    for (uint32_t i = 0; i < g->nodes[nd].n_out; i++) {
        uint32_t v = kiln_node_output(g, &g->nodes[nd], i);
        buf[v] = malloc(value_bytes(v) + 1);
        owned[v] = true;
    }
    return KILN_OK;
}

static void run_span(const kiln_kernel_call *c, int64_t b, int64_t e)
{
    void *ops[LOWER_HARNESS_MAX_OPS];
    void *scratch = calloc(1, c->scratch + 64);
    krt_error err = {.operand = -1};
    for (uint32_t i = 0; i < c->n_ops; i++)
        ops[i] = c->ops[i] ? buf[c->ops[i]] : NULL;
    CU_ASSERT_EQUAL(krt_kernels[c->kernel]->run(c->desc, ops, scratch, (krt_span){b, e}, &err),
                    KRT_OK);
    free(scratch);
}

/* Every call in order: over all its units at once, or split into
 * [3, units), [1, 3), [0, 1) run in that order. */
static void exec(const kiln_lowered *low, bool split)
{
    for (uint32_t k = 0; k < low->n_calls; k++) {
        const kiln_kernel_call *c = &low->calls[k];
        int64_t cut[4] = {0, 1, 3, c->units};
        if (!split)
            run_span(c, 0, c->units);
        for (int i = 2; split && i >= 0; i--)
            if (cut[i] < c->units && cut[i] < cut[i + 1])
                run_span(c, cut[i], cut[i + 1] < c->units ? cut[i + 1] : c->units);
    }
}

/* Output i of nd after exec, into a new buffer (free it). */
static void *run_copy(uint32_t nd, uint32_t i, const kiln_lowered *low, bool split)
{
    uint32_t v = kiln_node_output(g, &g->nodes[nd], i);
    memset(buf[v], 0xa5, value_bytes(v)); /* poison: every byte must be written */
    exec(low, split);
    void *copy = malloc(value_bytes(v) + 1);
    memcpy(copy, buf[v], value_bytes(v));
    return copy;
}

/* The split run writes the bytes of the whole run; call 0 has at least
 * min_units units. */
static void check_split(uint32_t nd, const kiln_lowered *low, int64_t min_units)
{
    CU_ASSERT(low->calls[0].units >= min_units);
    for (uint32_t i = 0; i < g->nodes[nd].n_out; i++) {
        uint32_t v = kiln_node_output(g, &g->nodes[nd], i);
        if (!v)
            continue;
        void *whole = run_copy(nd, i, low, false), *split = run_copy(nd, i, low, true);
        CU_ASSERT_EQUAL(memcmp(whole, split, value_bytes(v)), 0);
        free(whole);
        free(split);
    }
}

/* Output 0 in the buffer of call 0's operand k (as a memory plan would
 * place it) gives the bytes it gives in a buffer of its own. */
static void check_alias(uint32_t nd, const kiln_lowered *low, int32_t k)
{
    uint32_t y = kiln_node_output(g, &g->nodes[nd], 0), x = low->calls[0].ops[k];
    size_t n = value_bytes(y);
    CU_ASSERT_FATAL(k >= 0 && value_bytes(x) == n);
    void *want = run_copy(nd, 0, low, false), *keep_x = buf[x], *keep_y = buf[y];
    void *shared = malloc(n + 1);
    memcpy(shared, keep_x, n);
    buf[x] = buf[y] = shared;
    exec(low, true);
    CU_ASSERT_EQUAL(memcmp(shared, want, n), 0);
    buf[x] = keep_x, buf[y] = keep_y;
    free(shared);
    free(want);
}

#endif /* LOWER_HARNESS_H */
