/* test_plan.c — the static memory plan (passes/plan.h) and the interpreter
 * session that runs on it.
 *
 * Small hand-built graphs whose liveness and optimal peak are known: a
 * chain of equal tensors needs two buffers, or one when each step runs in
 * place; in place is refused when the input is read later, is a graph
 * input or output, or the output is a graph output. The independent checker
 * must catch a planted overlap, a misaligned offset, a block past the peak,
 * an overlapping scratch, an illegal in-place claim and a stale plan. The
 * live lower bound is the hand-computed one on a graph of uneven lifetimes,
 * and on 200 random DAGs (1 and 2 threads) every plan checks, its peak is
 * at least the bound, and the bound equals one recomputed from the graph
 * alone (liveness, in-place chains as one buffer, scratch). Every
 * sample model is planned as imported (-O0) and after the default pipeline
 * (-O2), for 1, 2 and 4 threads (scratch scales with threads): checked,
 * within 5% of the live lower bound, the same plan when planned twice; a
 * table of peak, bound, ratio and planning time is printed. A session gives
 * the same outputs on two consecutive runs.
 *
 * Transpose keeps the chains honest: it can never run in place, whatever
 * ops gain in-place lowerings later; Reshape lowers to an in-place copy.
 */
#include "cunit_main.h"
#include "frontend/frontend.h"
#include "ir/interp.h"
#include "ir/lower.h"
#include "passes/pass.h"
#include "passes/plan.h"
#include "runtime/krt_npy.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static kiln_ctx *ctx;
static kiln_graph *g;

static void fresh(void)
{
    if (g)
        kiln_graph_destroy(g);
    if (!ctx)
        ctx = kiln_ctx_create();
    kiln_ctx_clear(ctx);
    g = kiln_graph_create("t", "t.onnx");
}

static int cleanup(void)
{
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
    g = NULL;
    ctx = NULL;
    return 0;
}

static uint32_t input(const char *name, int64_t d0, int64_t d1)
{
    int64_t d[2] = {d0, d1};
    kiln_shape s = kiln_shape_make(2, d);
    return kiln_input_add(g, name, KILN_DT_F32, &s);
}

static uint32_t unary(kiln_op op, uint32_t x, const char *name)
{
    uint32_t y = kiln_value_add(g, name);
    kiln_node_add(g, op, name, &x, 1, &y, 1);
    return y;
}

static uint32_t binary(kiln_op op, uint32_t a, uint32_t b, const char *name)
{
    uint32_t ins[2] = {a, b}, y = kiln_value_add(g, name);
    kiln_node_add(g, op, name, ins, 2, &y, 1);
    return y;
}

/* Reshape x to (d0, d1). */
static uint32_t reshape(uint32_t x, int64_t d0, int64_t d1, const char *name)
{
    int64_t dims[2] = {d0, d1}, two = 2;
    char cname[64];
    snprintf(cname, sizeof cname, "%s_shape", name);
    kiln_shape s = kiln_shape_make(1, &two);
    uint32_t shape = kiln_const_add(g, cname, KILN_DT_I64, &s, dims, sizeof dims, true);
    return binary(KILN_OP_RESHAPE, x, shape, name);
}

static kiln_plan *plan_of(int threads)
{
    kiln_plan_opts opts = {.threads = threads};
    kiln_plan *p = NULL;
    kiln_status st = kiln_graph_infer(ctx, g);
    if (st == KILN_OK)
        st = kiln_plan_memory(ctx, g, &opts, &p);
    if (st)
        fprintf(stderr, "\n  %s", kiln_ctx_message(ctx));
    CU_ASSERT_EQUAL(st, KILN_OK);
    return p;
}

static bool check_ok(const kiln_plan *p)
{
    kiln_status st = kiln_plan_check(ctx, g, p);
    if (st)
        fprintf(stderr, "\n  %s", kiln_ctx_message(ctx));
    return st == KILN_OK;
}

static bool check_fails_with(const kiln_plan *p, const char *text)
{
    kiln_status st = kiln_plan_check(ctx, g, p);
    bool ok = st == KILN_ERR_INVALID && strstr(kiln_ctx_message(ctx), text);
    if (!ok)
        fprintf(stderr, "\n  wanted '%s', got: %s", text, kiln_ctx_message(ctx));
    kiln_ctx_clear(ctx);
    return ok;
}

/* ---- known liveness ------------------------------------------------------ */

/* x -> a -> b -> c -> y, each 256 bytes: a and c share a buffer, b the other. */
static uint32_t chain(uint32_t *a, uint32_t *b, uint32_t *c)
{
    uint32_t x = input("x", 4, 16);
    *a = unary(KILN_OP_TRANSPOSE, x, "a");   /* (16, 4) */
    *b = unary(KILN_OP_TRANSPOSE, *a, "b");  /* (4, 16) */
    *c = unary(KILN_OP_TRANSPOSE, *b, "c");  /* (16, 4) */
    uint32_t y = unary(KILN_OP_TRANSPOSE, *c, "y");
    kiln_output_add(g, y);
    return y;
}

static void test_chain_needs_two_buffers(void)
{
    uint32_t a, b, c;
    fresh();
    chain(&a, &b, &c);
    kiln_plan *p = plan_of(1);
    CU_ASSERT_FATAL(p != NULL);
    CU_ASSERT_EQUAL(p->n_tensors, 3);
    CU_ASSERT_EQUAL(p->n_inplace, 0);
    CU_ASSERT_EQUAL(p->peak, 512);
    CU_ASSERT_EQUAL(p->lower_bound, 512);
    CU_ASSERT_EQUAL(p->offset[a], p->offset[c]);
    CU_ASSERT_NOT_EQUAL(p->offset[a], p->offset[b]);
    CU_ASSERT_EQUAL(p->bytes[b], 256);
    CU_ASSERT_EQUAL(p->offset[g->inputs[0]], KILN_PLAN_NONE);
    CU_ASSERT_EQUAL(p->offset[g->outputs[0]], KILN_PLAN_NONE);
    CU_ASSERT(check_ok(p));
    kiln_plan_destroy(p);
}

/* x -> a = Transpose -> b = Reshape(a) -> c = Reshape(b) -> y = Transpose:
 * b and c run in place, one buffer; and the interpreter gets y == x. */
static void test_chain_in_place_needs_one_buffer(void)
{
    fresh();
    uint32_t x = input("x", 4, 16);
    uint32_t a = unary(KILN_OP_TRANSPOSE, x, "a");  /* (16, 4) */
    uint32_t b = reshape(a, 8, 8, "b");
    uint32_t c = reshape(b, 16, 4, "c");
    kiln_output_add(g, unary(KILN_OP_TRANSPOSE, c, "y"));
    kiln_plan *p = plan_of(1);
    CU_ASSERT_FATAL(p != NULL);
    CU_ASSERT_EQUAL(p->n_inplace, 2);
    CU_ASSERT_EQUAL(p->inplace[b], a);
    CU_ASSERT_EQUAL(p->inplace[c], b);
    CU_ASSERT_EQUAL(p->offset[a], p->offset[b]);
    CU_ASSERT_EQUAL(p->offset[b], p->offset[c]);
    CU_ASSERT_EQUAL(p->peak, 256);
    CU_ASSERT_EQUAL(p->lower_bound, 256);
    CU_ASSERT(check_ok(p));
    kiln_plan_destroy(p);

    float xs[64];
    for (int i = 0; i < 64; i++)
        xs[i] = (float)i - 20.5f;
    kiln_tensor in = {.dtype = KILN_DT_F32, .shape = g->values[x].shape, .data = xs, .nbytes = sizeof xs};
    kiln_tensor out;
    CU_ASSERT_EQUAL_FATAL(kiln_interp_run(ctx, g, &in, 1, &out), KILN_OK);
    CU_ASSERT_EQUAL(out.nbytes, sizeof xs);
    CU_ASSERT(memcmp(out.data, xs, sizeof xs) == 0);
    kiln_interp_free_outputs(&out, 1);
}

static void test_no_in_place_when_input_read_later(void)
{
    fresh();
    uint32_t x = input("x", 4, 16);
    uint32_t a = unary(KILN_OP_TRANSPOSE, x, "a");
    uint32_t b = reshape(a, 16, 4, "b");
    kiln_output_add(g, binary(KILN_OP_ADD, b, a, "y"));  /* a read after b exists */
    kiln_plan *p = plan_of(1);
    CU_ASSERT_FATAL(p != NULL);
    CU_ASSERT_EQUAL(p->n_inplace, 0);
    CU_ASSERT_EQUAL(p->inplace[b], 0);
    CU_ASSERT_NOT_EQUAL(p->offset[a], p->offset[b]);
    CU_ASSERT_EQUAL(p->peak, 512);
    CU_ASSERT(check_ok(p));
    /* claiming the pair anyway is caught */
    p->inplace[b] = a;
    p->offset[b] = p->offset[a];
    CU_ASSERT(check_fails_with(p, "not a legal in-place pair"));
    kiln_plan_destroy(p);
}

static void test_no_in_place_over_graph_input_or_output(void)
{
    /* the input of the Reshape is a graph input */
    fresh();
    uint32_t x = input("x", 4, 16);
    uint32_t a = reshape(x, 8, 8, "a");
    kiln_output_add(g, unary(KILN_OP_TRANSPOSE, a, "y"));
    kiln_plan *p = plan_of(1);
    CU_ASSERT_FATAL(p != NULL);
    CU_ASSERT_EQUAL(p->n_inplace, 0);
    CU_ASSERT_EQUAL(p->offset[a], 0);
    CU_ASSERT(check_ok(p));
    kiln_plan_destroy(p);

    /* ... a graph output */
    fresh();
    x = input("x", 4, 16);
    a = unary(KILN_OP_TRANSPOSE, x, "a");
    uint32_t b = reshape(a, 8, 8, "b");
    kiln_output_add(g, a);
    kiln_output_add(g, unary(KILN_OP_TRANSPOSE, b, "y"));
    p = plan_of(1);
    CU_ASSERT_FATAL(p != NULL);
    CU_ASSERT_EQUAL(p->n_inplace, 0);
    CU_ASSERT_EQUAL(p->offset[a], KILN_PLAN_NONE);
    CU_ASSERT_EQUAL(p->n_tensors, 1);
    CU_ASSERT(check_ok(p));
    kiln_plan_destroy(p);

    /* the output of the Reshape is a graph output */
    fresh();
    x = input("x", 4, 16);
    a = unary(KILN_OP_TRANSPOSE, x, "a");
    kiln_output_add(g, reshape(a, 8, 8, "y"));
    p = plan_of(1);
    CU_ASSERT_FATAL(p != NULL);
    CU_ASSERT_EQUAL(p->n_inplace, 0);
    CU_ASSERT_EQUAL(p->n_tensors, 1);
    CU_ASSERT(check_ok(p));
    kiln_plan_destroy(p);
}

/* Scratch: threads slices of the largest aligned call scratch, checked. */
static void test_scratch_follows_lowering(void)
{
    fresh();
    uint32_t x = input("x", 8, 16);
    float w[16 * 8] = {0};
    int64_t wd[2] = {16, 8};
    kiln_shape ws = kiln_shape_make(2, wd);
    uint32_t wv = kiln_const_add(g, "w", KILN_DT_F32, &ws, w, sizeof w, true);
    uint32_t t = binary(KILN_OP_MATMUL, x, wv, "t");
    kiln_output_add(g, unary(KILN_OP_TRANSPOSE, t, "y"));
    kiln_plan *p = plan_of(3);
    CU_ASSERT_FATAL(p != NULL);
    uint32_t mm = g->values[t].producer;
    size_t want = 0;
    kiln_lowered low;
    kiln_arena *arena = kiln_arena_create();
    if (kiln_lower_lookup(KILN_OP_MATMUL) &&
        kiln_lower_node(ctx, g, g->values, mm, arena, &low) == KILN_OK)
        for (uint32_t i = 0; i < low.n_calls; i++)
            if ((low.calls[i].scratch + 63) / 64 * 64 * 3 > want)
                want = (low.calls[i].scratch + 63) / 64 * 64 * 3;
    kiln_arena_destroy(arena);
    CU_ASSERT_EQUAL(p->threads, 3);
    CU_ASSERT_EQUAL(p->scratch_bytes[mm], want);
    CU_ASSERT(p->lower_bound >= 256 + want);
    CU_ASSERT(check_ok(p));
    kiln_plan_destroy(p);
}

/* ---- the live lower bound ------------------------------------------------ */

/* Tensors of different sizes whose lifetimes overlap unevenly:
 *   n1 a = T(x1) 512 B   live n1..n4
 *   n2 b = T(x2) 256 B   live n2..n3
 *   n3 c = T(b)  256 B   live n3..n5
 *   n4 d = T(a)  512 B   live n4..n6
 *   n5 e = T(c)  256 B   live n5..n7
 *   n6 y1 = T(d), n7 y2 = T(e): graph outputs, outside the arena.
 * Bytes live per node: 512, 768, 1024, 1280 (a c d), 1024, 768, 256; the
 * bound is 1280, and a placement reaches it (a 0, c 512, d 768, b 768
 * while d is not yet born, e 0 once a is dead). */
static void test_bound_is_most_bytes_live_at_one_node(void)
{
    fresh();
    uint32_t x1 = input("x1", 8, 16), x2 = input("x2", 4, 16);
    uint32_t a = unary(KILN_OP_TRANSPOSE, x1, "a");
    uint32_t b = unary(KILN_OP_TRANSPOSE, x2, "b");
    uint32_t c = unary(KILN_OP_TRANSPOSE, b, "c");
    uint32_t d = unary(KILN_OP_TRANSPOSE, a, "d");
    uint32_t e = unary(KILN_OP_TRANSPOSE, c, "e");
    kiln_output_add(g, unary(KILN_OP_TRANSPOSE, d, "y1"));
    kiln_output_add(g, unary(KILN_OP_TRANSPOSE, e, "y2"));
    kiln_plan *p = plan_of(1);
    CU_ASSERT_FATAL(p != NULL);
    CU_ASSERT_EQUAL(p->n_tensors, 5);
    CU_ASSERT_EQUAL(p->bytes[a], 512);
    CU_ASSERT_EQUAL(p->bytes[e], 256);
    CU_ASSERT_EQUAL(p->lower_bound, 1280);
    CU_ASSERT_EQUAL(p->peak, 1280);
    CU_ASSERT(check_ok(p));
    kiln_plan_destroy(p);
}

/* A deterministic generator for the random graphs (xorshift32). */
static uint32_t rnd(uint32_t *s, uint32_t n)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s % n;
}

/* A random DAG: 1-3 inputs of random 2-D shapes, then Transpose, Relu
 * (in place when legal), Add of two same-shaped values and Reshape, each
 * reading values picked at random (mostly recent ones, so lifetimes vary);
 * every value nothing reads is a graph output. */
static void random_graph(uint32_t seed, int n_nodes)
{
    uint32_t vals[128], n_vals = 0, s = seed * 2654435761u + 1;
    bool read[128] = {0};
    fresh();
    for (uint32_t k = 0, n_in = 1 + rnd(&s, 3); k < n_in; k++) {
        char name[16];
        snprintf(name, sizeof name, "x%u", k);
        vals[n_vals++] = input(name, 1 + rnd(&s, 24), 1 + rnd(&s, 24));
    }
    for (int n = 0; n < n_nodes && n_vals < 128; n++) {
        char name[16];
        uint32_t i = n_vals - 1 - rnd(&s, n_vals < 6 ? n_vals : 6), v = vals[i], y;
        snprintf(name, sizeof name, "v%d", n);
        kiln_graph_infer(ctx, g);
        const kiln_shape *sh = &g->values[v].shape;
        uint32_t kind = rnd(&s, 4), other = 0;
        for (uint32_t j = 0; kind == 2 && !other && j < n_vals; j++)
            if (j != i && kiln_shape_equal(&g->values[vals[j]].shape, sh))
                other = vals[j], read[j] = true;
        if (kind == 0 || (kind == 2 && !other))
            y = unary(KILN_OP_TRANSPOSE, v, name);
        else if (kind == 1)
            y = unary(KILN_OP_RELU, v, name);
        else if (kind == 2)
            y = binary(KILN_OP_ADD, v, other, name);
        else
            y = reshape(v, sh->dim[1], sh->dim[0], name);
        read[i] = true;
        vals[n_vals++] = y;
    }
    for (uint32_t j = 0; j < n_vals; j++)
        if (!read[j] && g->values[vals[j]].kind == KILN_VAL_NODE)
            kiln_output_add(g, vals[j]);
}

/* The bound recomputed from the graph and the plan's sizes alone: a value
 * lives from its producer to its last reader; an in-place chain is one
 * buffer, live from its first producer to its last reader; a node's scratch
 * lives at that node. The most bytes live at one node. */
static size_t bound_by_hand(const kiln_plan *p)
{
    size_t *live = calloc(g->n_nodes, sizeof *live), most = 0;
    uint32_t *last = calloc(g->n_values, sizeof *last), *root = calloc(g->n_values, sizeof *root);
    uint32_t *end = calloc(g->n_values, sizeof *end);
    for (uint32_t v = 0; v < g->n_values; v++)
        last[v] = g->values[v].producer, root[v] = v;
    for (uint32_t n = 1; n < g->n_nodes; n++)
        for (uint32_t i = 0; i < g->nodes[n].n_in; i++)
            last[kiln_node_input(g, &g->nodes[n], i)] = n;
    for (uint32_t v = 1; v < g->n_values; v++)  /* producers come first: roots are resolved */
        if (p->inplace[v])
            root[v] = root[p->inplace[v]];
    for (uint32_t v = 1; v < g->n_values; v++)
        if (p->bytes[v] && last[v] > end[root[v]])
            end[root[v]] = last[v];
    for (uint32_t v = 1; v < g->n_values; v++)
        if (p->bytes[v] && root[v] == v)
            for (uint32_t n = g->values[v].producer; n <= end[v]; n++)
                live[n] += (p->bytes[v] + 63) / 64 * 64;
    for (uint32_t n = 1; n < g->n_nodes; n++) {
        live[n] += p->scratch_bytes[n];
        most = live[n] > most ? live[n] : most;
    }
    free(live);
    free(last);
    free(root);
    free(end);
    return most;
}

/* 200 random graphs at 1 and 2 threads: every plan checks, its peak is at
 * least the bound (no valid placement beats it) and the bound is the one
 * recomputed by hand. */
static void test_random_graphs_peak_at_least_bound(void)
{
    int above = 0, inplace = 0;
    for (uint32_t seed = 1; seed <= 200; seed++) {
        random_graph(seed, 8 + (int)(seed % 40));
        for (int threads = 1; threads <= 2; threads++) {
            kiln_plan *p = plan_of(threads);
            CU_ASSERT_FATAL(p != NULL);
            CU_ASSERT(check_ok(p));
            CU_ASSERT(p->peak >= p->lower_bound);
            CU_ASSERT_EQUAL(p->lower_bound, bound_by_hand(p));
            if (p->lower_bound != bound_by_hand(p) || p->peak < p->lower_bound)
                fprintf(stderr, "\n  seed %u, %d threads: peak %zu, bound %zu, by hand %zu", seed,
                        threads, p->peak, p->lower_bound, bound_by_hand(p));
            above += p->peak > p->lower_bound;
            inplace += p->n_inplace > 0;
            kiln_plan_destroy(p);
        }
    }
    printf("\n  400 plans: %d above the bound, %d with tensors in place\n", above, inplace);
    CU_ASSERT(inplace > 0);  /* the in-place chains of the bound were exercised */
}

/* ---- the checker catches what it must ---------------------------------- */

static void test_checker_catches_overlap(void)
{
    uint32_t a, b, c;
    fresh();
    chain(&a, &b, &c);
    kiln_plan *p = plan_of(1);
    CU_ASSERT_FATAL(p != NULL);
    size_t ob = p->offset[b];
    p->offset[b] = p->offset[a];  /* a and b are both live at b's producer */
    CU_ASSERT(check_fails_with(p, "overlap while both are live"));
    p->offset[b] = ob;
    CU_ASSERT(check_ok(p));
    kiln_plan_destroy(p);
}

static void test_checker_catches_misalignment_and_bounds(void)
{
    uint32_t a, b, c;
    fresh();
    chain(&a, &b, &c);
    kiln_plan *p = plan_of(1);
    CU_ASSERT_FATAL(p != NULL);
    size_t oa = p->offset[a], peak = p->peak;
    p->offset[a] = oa + 32;
    p->peak = peak + 64;
    CU_ASSERT(check_fails_with(p, "not 64-byte aligned"));
    p->offset[a] = oa;
    p->peak = 256;  /* the second buffer sticks out */
    CU_ASSERT(check_fails_with(p, "past the peak"));
    p->peak = peak + 32;
    CU_ASSERT(check_fails_with(p, "peak"));
    p->peak = peak;
    CU_ASSERT(check_ok(p));
    kiln_plan_destroy(p);
}

static void test_checker_catches_scratch_overlap_and_staleness(void)
{
    uint32_t a, b, c;
    fresh();
    chain(&a, &b, &c);
    kiln_plan *p = plan_of(1);
    CU_ASSERT_FATAL(p != NULL);
    uint32_t nb = g->values[b].producer;
    p->scratch_bytes[nb] = 64;  /* scratch of b's producer over a, read by that node */
    p->scratch_offset[nb] = p->offset[a];
    CU_ASSERT(check_fails_with(p, "scratch of node"));
    p->scratch_offset[nb] = p->peak;  /* past the end */
    CU_ASSERT(check_fails_with(p, "past the peak"));
    p->scratch_bytes[nb] = 0;
    CU_ASSERT(check_ok(p));
    unary(KILN_OP_TRANSPOSE, c, "late");  /* the graph changed after planning */
    CU_ASSERT(check_fails_with(p, "stale"));
    kiln_plan_destroy(p);
}

/* ---- dynamic and empty tensors ---------------------------------------------- */

static void test_dynamic_values_left_to_run_time(void)
{
    fresh();
    int64_t d[2] = {KILN_DIM_SYM(kiln_graph_symbol(g, "N")), 4};
    kiln_shape s = kiln_shape_make(2, d);
    uint32_t x = kiln_input_add(g, "x", KILN_DT_F32, &s);
    uint32_t a = unary(KILN_OP_TRANSPOSE, x, "a");
    kiln_output_add(g, unary(KILN_OP_TRANSPOSE, a, "y"));
    kiln_plan *p = plan_of(1);
    CU_ASSERT_FATAL(p != NULL);
    CU_ASSERT_EQUAL(p->offset[a], KILN_PLAN_DYNAMIC);
    CU_ASSERT_EQUAL(p->n_dynamic, 1);
    CU_ASSERT_EQUAL(p->n_tensors, 0);
    CU_ASSERT_EQUAL(p->peak, 0);
    CU_ASSERT(check_ok(p));
    kiln_plan_destroy(p);

    float xs[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    int64_t xd[2] = {3, 4};
    kiln_tensor in = {.dtype = KILN_DT_F32, .shape = kiln_shape_make(2, xd), .data = xs, .nbytes = sizeof xs};
    kiln_tensor out;
    CU_ASSERT_EQUAL_FATAL(kiln_interp_run(ctx, g, &in, 1, &out), KILN_OK);
    CU_ASSERT(out.nbytes == sizeof xs && memcmp(out.data, xs, sizeof xs) == 0);
    kiln_interp_free_outputs(&out, 1);
}

static void test_empty_tensors(void)
{
    fresh();
    uint32_t x = input("x", 0, 4);
    uint32_t a = unary(KILN_OP_TRANSPOSE, x, "a");
    kiln_output_add(g, unary(KILN_OP_TRANSPOSE, a, "y"));
    kiln_plan *p = plan_of(1);
    CU_ASSERT_FATAL(p != NULL);
    CU_ASSERT_EQUAL(p->bytes[a], 0);
    CU_ASSERT_EQUAL(p->peak, 0);
    CU_ASSERT(check_ok(p));
    kiln_plan_destroy(p);
    kiln_tensor in = {.dtype = KILN_DT_F32, .shape = g->values[x].shape, .data = "", .nbytes = 0};
    kiln_tensor out;
    CU_ASSERT_EQUAL_FATAL(kiln_interp_run(ctx, g, &in, 1, &out), KILN_OK);
    CU_ASSERT_EQUAL(out.nbytes, 0);
    kiln_interp_free_outputs(&out, 1);
}

/* ---- the pass ---------------------------------------------------------------- */

static void test_pass_hands_over_plan_and_notes(void)
{
    uint32_t a, b, c;
    fresh();
    chain(&a, &b, &c);
    CU_ASSERT_EQUAL_FATAL(kiln_graph_infer(ctx, g), KILN_OK);
    kiln_pass_options opts = {.threads = 2};
    kiln_pass_ctx pc = {.ctx = ctx, .opts = &opts};
    kiln_ctx_clear_notes(ctx);
    CU_ASSERT_EQUAL_FATAL(kiln_pass_plan_memory(&pc, g), KILN_OK);
    CU_ASSERT_FATAL(pc.result != NULL && pc.result_free != NULL);
    const kiln_plan *p = pc.result;
    CU_ASSERT_EQUAL(p->threads, 2);
    CU_ASSERT_EQUAL(p->peak, 512);
    CU_ASSERT_PTR_NOT_NULL(strstr(kiln_ctx_notes(ctx),
                                  "plan-memory: arena 512 B peak, live lower bound 512 B (1.00x), "
                                  "0 tensors in place"));
    pc.result_free(pc.result);
}

/* ---- every sample ------------------------------------------------------------ */

/* Shapes the samples need bound before they plan at all (kiln info --shape). */
static const struct {
    const char *path, *input;
    int64_t dims[4];
} sample_shapes[] = {
    {"samples/zoo/vit-dynbatch/model.onnx", "image", {1, 3, 56, 56}},
};

static kiln_status bind_sample_shape(const char *path, kiln_graph *m)
{
    for (size_t k = 0; k < sizeof sample_shapes / sizeof sample_shapes[0]; k++) {
        if (strcmp(sample_shapes[k].path, path) != 0)
            continue;
        kiln_shape s = kiln_shape_make(4, sample_shapes[k].dims);
        uint32_t v = kiln_graph_find_value(m, sample_shapes[k].input);
        CU_ASSERT_FATAL(v != 0);
        return kiln_graph_bind_shape(ctx, m, v, &s);
    }
    return KILN_OK;
}

/* The sample at path, imported and inferred, then through the passes of
 * -O<level> (the interpreter's default plan is the -O0 graph's; kiln info
 * and the backends plan the -O2 one). NULL with a message on failure. */
static kiln_graph *load_sample_at(const char *path, int level)
{
    kiln_graph *m = NULL;
    kiln_pipeline pipe;
    kiln_pipeline_run_opts run = {.verify = true};
    kiln_status st = kiln_onnx_load(ctx, path, &m);
    if (st == KILN_OK && level >= 0)
        st = bind_sample_shape(path, m);
    if (st == KILN_OK)
        st = kiln_graph_infer(ctx, m);
    if (st == KILN_OK && level > 0)
        st = kiln_pipeline_parse(ctx, kiln_pipeline_for_level(level), &pipe);
    if (st == KILN_OK && level > 0)
        st = kiln_pipeline_run(ctx, m, &pipe, &run);
    if (st) {
        fprintf(stderr, "\n  %s: %s", path, kiln_ctx_message(ctx));
        kiln_graph_destroy(m);
        return NULL;
    }
    return m;
}

/* As imported, no shape bound (vit-dynbatch keeps its batch symbolic). */
static kiln_graph *load_sample(const char *path)
{
    return load_sample_at(path, -1);
}

static int by_path(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* samples/zoo/<name>/model.onnx in name order, then
 * samples/fmnist-vit/model.onnx (the tests run from the source root);
 * returns the count. */
static int sample_paths(char paths[][512], int max)
{
    int n = 0;
    DIR *d = opendir("samples/zoo");
    struct dirent *e;
    while (d && (e = readdir(d)) && n < max) {
        FILE *f;
        snprintf(paths[n], 512, "samples/zoo/%.200s/model.onnx", e->d_name);
        if (e->d_name[0] != '.' && (f = fopen(paths[n], "rb")))
            fclose(f), n++;
    }
    if (d)
        closedir(d);
    qsort(paths, (size_t)n, sizeof paths[0], by_path);
    if (n < max)
        snprintf(paths[n++], 512, "samples/fmnist-vit/model.onnx");
    return n;
}

static double seconds_now(void)
{
    struct timespec t;
    timespec_get(&t, TIME_UTC);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

typedef struct sample_plan {
    size_t peak, bound;
    double ratio, ms;        /* peak / bound; planning time */
    uint32_t n_tensors, n_dynamic;
} sample_plan;

/* Planning m again gives p to the byte: the planner is deterministic. */
static bool same_plan(const kiln_plan *p, const kiln_graph *m, int threads)
{
    kiln_plan_opts opts = {.threads = threads};
    kiln_plan *q = NULL;
    if (kiln_plan_memory(ctx, m, &opts, &q) != KILN_OK)
        return false;
    bool same = q->peak == p->peak &&
                memcmp(q->offset, p->offset, p->n_values * sizeof *p->offset) == 0 &&
                memcmp(q->scratch_offset, p->scratch_offset, p->n_nodes * sizeof *p->scratch_offset) == 0;
    kiln_plan_destroy(q);
    return same;
}

/* Plan m for threads threads: checked, peak within 5% of the live bound,
 * the same plan when planned again. */
static sample_plan plan_sample(const char *path, kiln_graph *m, int threads)
{
    kiln_plan_opts opts = {.threads = threads};
    kiln_plan *p = NULL;
    sample_plan r = {0};
    double t0 = seconds_now();
    kiln_status st = kiln_plan_memory(ctx, m, &opts, &p);
    r.ms = (seconds_now() - t0) * 1e3;
    if (st)
        fprintf(stderr, "\n  %s: %s", path, kiln_ctx_message(ctx));
    CU_ASSERT_EQUAL_FATAL(st, KILN_OK);
    st = kiln_plan_check(ctx, m, p);
    if (st)
        fprintf(stderr, "\n  %s (%d threads): %s", path, threads, kiln_ctx_message(ctx));
    CU_ASSERT_EQUAL(st, KILN_OK);
    r.peak = p->peak, r.bound = p->lower_bound;
    r.ratio = p->lower_bound ? (double)p->peak / (double)p->lower_bound : 1.0;
    r.n_tensors = p->n_tensors, r.n_dynamic = p->n_dynamic;
    CU_ASSERT(p->peak >= p->lower_bound);
    if (r.ratio > 1.05)
        fprintf(stderr, "\n  %s (%d threads): peak %zu is %.3fx the bound %zu", path, threads,
                p->peak, r.ratio, p->lower_bound);
    CU_ASSERT(r.ratio <= 1.05);
    CU_ASSERT(same_plan(p, m, threads));
    kiln_plan_destroy(p);
    return r;
}

/* Every sample at -O<level> planned for 1, 2 and 4 threads; one line each:
 * peak, bound and ratio for 1 and 2 threads, the ratio for 4, and the
 * slowest of the three plannings. */
static void plan_every_sample(int level)
{
    static char paths[64][512];
    static const int threads[] = {1, 2, 4};
    fresh();
    int n = sample_paths(paths, 64);
    CU_ASSERT(n >= 2);
    printf("\n  -O%d %-44s %5s %7s  %9s %9s %6s  %9s %9s %6s  %6s %8s", level, "sample", "nodes",
           "tensors", "peak t1", "bound t1", "ratio", "peak t2", "bound t2", "ratio", "t4", "plan ms");
    for (int i = 0; i < n; i++) {
        kiln_graph *m = load_sample_at(paths[i], level);
        CU_ASSERT_PTR_NOT_NULL(m);
        if (!m)
            continue;
        sample_plan r[3];
        double ms = 0;
        for (int t = 0; t < 3; t++) {
            r[t] = plan_sample(paths[i], m, threads[t]);
            ms = r[t].ms > ms ? r[t].ms : ms;
        }
        printf("\n  -O%d %-44s %5u %7u  %9zu %9zu %5.3fx  %9zu %9zu %5.3fx  %5.3fx %8.2f", level,
               paths[i], m->n_nodes - 1, r[0].n_tensors, r[0].peak, r[0].bound, r[0].ratio,
               r[1].peak, r[1].bound, r[1].ratio, r[2].ratio, ms);
        kiln_graph_destroy(m);
    }
    printf("\n");
}

static void test_every_sample_plans_near_the_bound_O0(void)
{
    plan_every_sample(0);
}

static void test_every_sample_plans_near_the_bound_O2(void)
{
    plan_every_sample(KILN_DEFAULT_OPT_LEVEL);
}

/* vit-dynbatch with its batch left symbolic: most tensors wait for run
 * time, the rest still plan and check. */
static void test_dynamic_sample_plans(void)
{
    fresh();
    kiln_graph *m = load_sample("samples/zoo/vit-dynbatch/model.onnx");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    sample_plan r = plan_sample("samples/zoo/vit-dynbatch/model.onnx", m, 2);
    CU_ASSERT(r.n_dynamic > 0);
    kiln_graph_destroy(m);
}

/* ---- a session runs twice the same ------------------------------------------- */

static kiln_tensor npy_tensor(krt_npy *a)
{
    return (kiln_tensor){.dtype = (kiln_dtype)a->dtype, .shape = kiln_shape_make(a->rank, a->dims),
                         .data = a->data, .nbytes = a->nbytes};
}

static bool close_to(const kiln_tensor *got, const krt_npy *want)
{
    const float *x = got->data, *y = want->data;
    if (got->nbytes != want->nbytes || got->dtype != KILN_DT_F32)
        return false;
    for (size_t i = 0; i < got->nbytes / 4; i++)
        if (!(fabsf(x[i] - y[i]) <= 1e-4f + 1e-3f * fabsf(y[i])))
            return false;
    return true;
}

static void session_twice(const char *dir)
{
    char path[512], err[256];
    krt_npy in, want;
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    kiln_graph *m = load_sample(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    snprintf(path, sizeof path, "%s/input_0.npy", dir);
    CU_ASSERT_EQUAL_FATAL(krt_npy_read(path, &in, err, sizeof err), KRT_OK);
    snprintf(path, sizeof path, "%s/output_0.npy", dir);
    CU_ASSERT_EQUAL_FATAL(krt_npy_read(path, &want, err, sizeof err), KRT_OK);

    kiln_interp *it = NULL;
    kiln_tensor x = npy_tensor(&in), first, second;
    CU_ASSERT_EQUAL_FATAL(kiln_interp_create(ctx, m, NULL, &it), KILN_OK);
    CU_ASSERT(kiln_interp_plan(it)->peak > 0);
    CU_ASSERT_EQUAL_FATAL(kiln_interp_exec(it, &x, 1, &first), KILN_OK);
    CU_ASSERT_EQUAL_FATAL(kiln_interp_exec(it, &x, 1, &second), KILN_OK);
    CU_ASSERT(first.nbytes == second.nbytes && memcmp(first.data, second.data, first.nbytes) == 0);
    CU_ASSERT(close_to(&first, &want));
    kiln_interp_free_outputs(&first, 1);
    kiln_interp_free_outputs(&second, 1);
    kiln_interp_destroy(it);
    krt_npy_free(&in);
    krt_npy_free(&want);
    kiln_graph_destroy(m);
}

static void test_session_runs_twice_the_same(void)
{
    fresh();
    session_twice("samples/fmnist-vit");
    session_twice("samples/zoo/swin-t");  /* hundreds of in-place pairs */
}

static CU_TestInfo tests[] = {
    {"chain of equal tensors needs two buffers", test_chain_needs_two_buffers},
    {"chain in place needs one buffer", test_chain_in_place_needs_one_buffer},
    {"no in place when the input is read later", test_no_in_place_when_input_read_later},
    {"no in place over graph inputs and outputs", test_no_in_place_over_graph_input_or_output},
    {"scratch follows the lowering", test_scratch_follows_lowering},
    {"the bound is the most bytes live at one node", test_bound_is_most_bytes_live_at_one_node},
    {"random graphs: peak at least the bound, the bound by hand", test_random_graphs_peak_at_least_bound},
    {"checker catches an overlap", test_checker_catches_overlap},
    {"checker catches misalignment and bounds", test_checker_catches_misalignment_and_bounds},
    {"checker catches scratch overlap and staleness", test_checker_catches_scratch_overlap_and_staleness},
    {"dynamic values are left to run time", test_dynamic_values_left_to_run_time},
    {"empty tensors", test_empty_tensors},
    {"the pass hands over the plan and notes it", test_pass_hands_over_plan_and_notes},
    {"every sample at -O0 plans within 5% of the bound", test_every_sample_plans_near_the_bound_O0},
    {"every sample at -O2 plans within 5% of the bound", test_every_sample_plans_near_the_bound_O2},
    {"a sample with a symbolic batch plans", test_dynamic_sample_plans},
    {"a session runs twice the same", test_session_runs_twice_the_same},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"memory plan", NULL, cleanup, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
