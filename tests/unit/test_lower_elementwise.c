/* test_lower_elementwise.c — the elementwise family at the kernel-call
 * level (ir/lower_elementwise.c -> runtime/krt_elementwise.h): one-node
 * graphs are lowered with kiln_lower_node and the calls are run here,
 * without the interpreter. Checked: the descriptors carry the node's
 * attributes and layouts, a call split into work ranges (run in reverse
 * order, over outputs poisoned beforehand) writes the same bytes as one
 * call over all units, a call run with its output sharing the buffer of
 * the input it names as `inplace` writes the same bytes as apart, and what
 * no kernel covers fails at lowering with a message naming the node.
 */
#include "cunit_main.h"
#include "ir/lower.h"
#include "runtime/krt_elementwise.h"
#include "runtime/krt_movement.h"

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
    void *ops[KRT_VARIADIC_MAX_IN + 2];
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

static void check_inplace(uint32_t nd, const kiln_lowered *low, int32_t want_k)
{
    CU_ASSERT_EQUAL_FATAL(low->calls[0].inplace, want_k);
    check_alias(nd, low, want_k);
}

/* ---- descriptors ------------------------------------------------------------------- */

static void test_unary_descriptors(void)
{
    static const int64_t d[] = {2, 3};
    kiln_lowered low;
    start();
    uint32_t x = input("x", KILN_DT_F32, 2, d);
    node(KILN_OP_LEAKYRELU, &x, 1, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    CU_ASSERT_EQUAL_FATAL(low.n_calls, 1);
    const krt_unary_desc *u = low.calls[0].desc;
    CU_ASSERT(low.calls[0].kernel == KRT_K_UNARY && u->op == KRT_UN_LEAKYRELU);
    CU_ASSERT(u->dt == KRT_F32 && u->n == 6 && u->p.alpha == 0.01f);
    CU_ASSERT(low.calls[0].n_ops == 2 && low.calls[0].ops[0] == x && low.calls[0].inplace == 0);

    start(); /* IsInf: bool output, never in place; its defaults */
    x = input("x", KILN_DT_F32, 2, d);
    node(KILN_OP_ISINF, &x, 1, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    u = low.calls[0].desc;
    CU_ASSERT(u->p.detect_positive == 1 && u->p.detect_negative == 1);
    CU_ASSERT_EQUAL(low.calls[0].inplace, -1);

    start(); /* Selu with one attribute set keeps the other's default */
    x = input("x", KILN_DT_F64, 2, d);
    uint32_t nd = node(KILN_OP_SELU, &x, 1, 1);
    kiln_attr_set_float(g, nd, "alpha", 2.0f);
    CU_ASSERT_EQUAL_FATAL(lower(nd, &low), KILN_OK);
    u = low.calls[0].desc;
    CU_ASSERT(u->p.alpha == 2.0f && u->p.gamma == 1.05070102214813232421875f);
    finish();
}

static void test_binary_descriptors(void)
{
    static const int64_t dx[] = {4, 5, 6}, db[] = {6}, dc[] = {5, 1};
    kiln_lowered low;
    start();
    uint32_t ins[2] = {input("x", KILN_DT_F32, 3, dx), input("b", KILN_DT_F32, 1, db)};
    node(KILN_OP_ADD, ins, 2, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    const krt_binary_desc *d = low.calls[0].desc;
    CU_ASSERT(low.calls[0].kernel == KRT_K_BINARY && d->op == KRT_BIN_ADD && d->bc.n_in == 2);
    CU_ASSERT(d->bc.rank == 3 && d->bc.dims[2] == 6);
    CU_ASSERT(d->bc.strides[0][0] == 30 && d->bc.strides[0][2] == 1);
    CU_ASSERT(d->bc.strides[1][0] == 0 && d->bc.strides[1][1] == 0 && d->bc.strides[1][2] == 1);
    CU_ASSERT_EQUAL(low.calls[0].inplace, 0);

    start(); /* the full-shape input second: y may take its buffer */
    ins[0] = input("c", KILN_DT_F32, 2, dc);
    ins[1] = input("x", KILN_DT_F32, 3, dx);
    node(KILN_OP_SUB, ins, 2, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    CU_ASSERT_EQUAL(low.calls[0].inplace, 1);

    start(); /* comparisons output bool: no in place; Mod picks fmod */
    ins[0] = input("x", KILN_DT_F32, 3, dx);
    ins[1] = input("y", KILN_DT_F32, 3, dx);
    node(KILN_OP_LESS, ins, 2, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    CU_ASSERT_EQUAL(low.calls[0].inplace, -1);
    start();
    ins[0] = input("x", KILN_DT_F32, 3, dx);
    ins[1] = input("y", KILN_DT_F32, 3, dx);
    uint32_t nd = node(KILN_OP_MOD, ins, 2, 1);
    kiln_attr_set_int(g, nd, "fmod", 1);
    CU_ASSERT_EQUAL_FATAL(lower(nd, &low), KILN_OK);
    CU_ASSERT_EQUAL(((const krt_binary_desc *)low.calls[0].desc)->op, KRT_BIN_FMOD);

    start(); /* Pow keeps the exponent's own dtype */
    ins[0] = input("x", KILN_DT_F32, 3, dx);
    ins[1] = input("e", KILN_DT_I64, 1, db);
    node(KILN_OP_POW, ins, 2, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    d = low.calls[0].desc;
    CU_ASSERT(d->op == KRT_BIN_POW && d->dt == KRT_F32 && d->b_dt == KRT_I64);
    CU_ASSERT_EQUAL(low.calls[0].inplace, 0);
    finish();
}

static void test_identity_and_dropout(void)
{
    static const int64_t d[] = {3, 4};
    kiln_lowered low;
    start();
    uint32_t x = input("x", KILN_DT_F16, 2, d);
    node(KILN_OP_DROPOUT, &x, 1, 2);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    CU_ASSERT_EQUAL_FATAL(low.n_calls, 2);
    CU_ASSERT(low.calls[0].kernel == KRT_K_COPY && low.calls[0].inplace == 0);
    CU_ASSERT_EQUAL(((const krt_copy_desc *)low.calls[0].desc)->nbytes, 24);
    CU_ASSERT(low.calls[1].kernel == KRT_K_FILL);
    exec(&low, false);
    const uint8_t *mask = buf[kiln_node_output(g, &g->nodes[1], 1)];
    CU_ASSERT(mask[0] == 1 && mask[11] == 1);
    CU_ASSERT_EQUAL(memcmp(buf[kiln_node_output(g, &g->nodes[1], 0)], buf[x], 24), 0);
    finish();
}

/* ---- work ranges ---------------------------------------------------------------------- */

static const int64_t big[] = {5, 100, 150}; /* 75000 elements: 5 units, rows cross unit edges */

static void test_split_unary_clip_cast(void)
{
    kiln_lowered low;
    start();
    uint32_t x = input("x", KILN_DT_F32, 3, big);
    node(KILN_OP_TANH, &x, 1, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    check_split(1, &low, 5);

    start();
    x = input("x", KILN_DT_F32, 3, big);
    float lo = -0.5f;
    uint32_t ins[3] = {x, kiln_const_add(g, "lo", KILN_DT_F32, &(kiln_shape){0}, &lo, 4, true), 0};
    buf[ins[1]] = (void *)g->values[ins[1]].data;
    node(KILN_OP_CLIP, ins, 3, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    CU_ASSERT(low.calls[0].ops[2] == 0); /* no max */
    check_split(1, &low, 5);

    start();
    x = input("x", KILN_DT_F64, 3, big);
    uint32_t nd = node(KILN_OP_CAST, &x, 1, 1);
    kiln_attr_set_string(g, nd, "to", "f16");
    CU_ASSERT_EQUAL_FATAL(lower(nd, &low), KILN_OK);
    CU_ASSERT(((const krt_cast_desc *)low.calls[0].desc)->to == KRT_F16);
    check_split(nd, &low, 5);
    finish();
}

static void test_split_broadcasts(void)
{
    static const int64_t col[] = {100, 1}, row[] = {150}, cond[] = {5, 1, 150};
    kiln_lowered low;
    start(); /* b is strided along the rows: the general row path */
    uint32_t ins[3] = {input("x", KILN_DT_F32, 3, big), input("b", KILN_DT_F32, 2, col)};
    node(KILN_OP_MUL, ins, 2, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    check_split(1, &low, 5);

    start(); /* a scalar-broadcast a, integer Pow with a float exponent */
    ins[0] = input("a", KILN_DT_I32, 2, col);
    ins[1] = input("e", KILN_DT_F32, 3, big);
    node(KILN_OP_POW, ins, 2, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    check_split(1, &low, 5);

    start();
    ins[0] = input("c", KILN_DT_BOOL, 3, cond);
    ins[1] = input("a", KILN_DT_F64, 3, big);
    ins[2] = input("b", KILN_DT_F64, 1, row);
    node(KILN_OP_WHERE, ins, 3, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    check_split(1, &low, 5);

    start(); /* Mean of three broadcasts */
    ins[0] = input("a", KILN_DT_F32, 1, row);
    ins[1] = input("b", KILN_DT_F32, 3, big);
    ins[2] = input("c", KILN_DT_F32, 2, col);
    node(KILN_OP_MEAN, ins, 3, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    CU_ASSERT_EQUAL(((const krt_variadic_desc *)low.calls[0].desc)->divisor, 3);
    check_split(1, &low, 5);
    finish();
}

/* ---- in place --------------------------------------------------------------------------- */

static void test_inplace(void)
{
    static const int64_t col[] = {100, 1};
    kiln_lowered low;
    start();
    uint32_t x = input("x", KILN_DT_F32, 3, big);
    node(KILN_OP_SIGMOID, &x, 1, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    check_inplace(1, &low, 0);

    start(); /* y over a while b broadcasts */
    uint32_t ins[3] = {input("a", KILN_DT_F32, 3, big), input("b", KILN_DT_F32, 2, col)};
    node(KILN_OP_DIV, ins, 2, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    check_inplace(1, &low, 0);

    start(); /* y over b while a broadcasts */
    ins[0] = input("a", KILN_DT_F32, 2, col);
    ins[1] = input("b", KILN_DT_F32, 3, big);
    node(KILN_OP_SUB, ins, 2, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    check_inplace(1, &low, 1);

    start(); /* Max over x1 (x0 broadcasts): x1 is read only in the first step */
    ins[0] = input("a", KILN_DT_F32, 2, col);
    ins[1] = input("b", KILN_DT_F32, 3, big);
    ins[2] = input("c", KILN_DT_F32, 3, big);
    node(KILN_OP_MAX, ins, 3, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    check_inplace(1, &low, 1);

    start(); /* ...but not when the same value comes again later */
    ins[0] = input("a", KILN_DT_F32, 3, big);
    ins[1] = input("b", KILN_DT_F32, 3, big);
    ins[2] = ins[0];
    node(KILN_OP_SUM, ins, 3, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    CU_ASSERT_EQUAL(low.calls[0].inplace, 1);

    start();
    x = input("x", KILN_DT_I32, 3, big);
    node(KILN_OP_CLIP, &x, 1, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    check_inplace(1, &low, 0);
    finish();
}

/* "x<i>" (a static buffer). */
static const char *name(int i)
{
    static char s[16];
    snprintf(s, sizeof s, "x%d", i);
    return s;
}

/* ---- many inputs, missing kernels ------------------------------------------------------------- */

static void test_variadic_chain(void)
{
    enum { N = 20 };
    static const int64_t d[] = {3};
    uint32_t ins[N];
    kiln_lowered low;
    start();
    for (int i = 0; i < N; i++)
        ins[i] = input(name(i), KILN_DT_F32, 1, d);
    node(KILN_OP_MEAN, ins, N, 1);
    CU_ASSERT_EQUAL_FATAL(lower(1, &low), KILN_OK);
    CU_ASSERT_EQUAL_FATAL(low.n_calls, 2);
    uint32_t y = kiln_node_output(g, &g->nodes[1], 0);
    const krt_variadic_desc *a = low.calls[0].desc, *b = low.calls[1].desc;
    CU_ASSERT(a->n_in == KRT_VARIADIC_MAX_IN && a->divisor == 0);
    CU_ASSERT(b->n_in == N - KRT_VARIADIC_MAX_IN + 1 && b->divisor == N);
    CU_ASSERT(low.calls[1].ops[0] == y && low.calls[1].ops[b->n_in] == y);
    exec(&low, false);
    for (int j = 0; j < 3; j++) {
        float s = ((const float *)buf[ins[0]])[j];
        for (int i = 1; i < N; i++)
            s += ((const float *)buf[ins[i]])[j];
        CU_ASSERT_EQUAL(((const float *)buf[y])[j], s / N);
    }

    start(); /* past what KILN_LOWER_MAX_CALLS calls fold */
    uint32_t many[70];
    for (int i = 0; i < 70; i++)
        many[i] = input(name(i), KILN_DT_F32, 1, d);
    node(KILN_OP_SUM, many, 70, 1);
    CU_ASSERT_EQUAL(lower(1, &low), KILN_ERR_UNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(kiln_ctx_message(ctx), "Sum of 70 inputs: kiln takes at most"));
    finish();
}

static void test_missing_kernel_fails_at_lowering(void)
{
    static const int64_t d[] = {2};
    kiln_lowered low;
    start(); /* the spec allows integer Erf; kiln has no kernel */
    uint32_t x = input("x", KILN_DT_I32, 1, d);
    node(KILN_OP_ERF, &x, 1, 1);
    CU_ASSERT_EQUAL(lower(1, &low), KILN_ERR_UNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(kiln_ctx_message(ctx), "node 'n' (Erf)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(kiln_ctx_message(ctx), "kiln has no Erf kernel for i32"));
    finish();
}

static CU_TestInfo tests[] = {
    {"unary descriptors and defaults", test_unary_descriptors},
    {"binary layouts and in-place choice", test_binary_descriptors},
    {"Identity, Dropout", test_identity_and_dropout},
    {"split ranges: unary, Clip, Cast", test_split_unary_clip_cast},
    {"split ranges: broadcasts, Pow, Where, Mean", test_split_broadcasts},
    {"in place", test_inplace},
    {"variadic over more than 16 inputs", test_variadic_chain},
    {"missing kernel fails at lowering", test_missing_kernel_fails_at_lowering},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"elementwise lowering", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
