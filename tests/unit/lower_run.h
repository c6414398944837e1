/* lower_run.h — a one-node graph lowered and run at the kernel-call level,
 * for the lowering tests (test_lower_*.c): build the node, infer it, give
 * the graph inputs data and every node output a buffer, lower it with
 * kiln_lower_node, then run the calls whole or split (kernel_run.h).
 *
 * One test program at a time uses it: the graph and its run are file
 * statics, reset by each test (suite setup/teardown are setup/teardown).
 */
#ifndef KILN_TEST_LOWER_RUN_H
#define KILN_TEST_LOWER_RUN_H

#include "ir/lower.h"
#include "kernel_run.h"

#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static kiln_ctx *ctx;
static kiln_graph *g;
static kiln_arena *arena;
static kiln_value *vals;        /* the run's copy of g->values, with data */
static uint32_t node_id;
static uint32_t rng = 99;

static inline int setup(void)
{
    ctx = kiln_ctx_create();
    g = kiln_graph_create("t", "t.onnx");
    arena = kiln_arena_create();
    return 0;
}

static inline int teardown(void)
{
    for (uint32_t v = 1; vals && v < g->n_values; v++)
        if (vals[v].kind == KILN_VAL_NODE)
            free((void *)vals[v].data);
    free(vals);
    vals = NULL;
    kiln_arena_destroy(arena);
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
    return 0;
}

static inline void reset(void)
{
    teardown();
    setup();
}

static inline float frand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xffff) / 32768.0f - 1.0f;
}

#define DIMS(...) (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__}

/* A graph input of dtype dt (its data comes with lower()). */
static inline uint32_t input_of(const char *name, kiln_dtype dt, int rank, const int64_t *dims)
{
    kiln_shape s = kiln_shape_make(rank, dims);
    return kiln_input_add(g, name, dt, &s);
}

/* A graph input of random f32 data (kept in `data`, freed by the caller). */
static inline uint32_t input(const char *name, int rank, const int64_t *dims, float **data)
{
    kiln_shape s = kiln_shape_make(rank, dims);
    int64_t n = 1;
    kiln_shape_numel(&s, &n);
    *data = malloc((size_t)(n ? n : 1) * sizeof **data);
    for (int64_t i = 0; i < n; i++)
        (*data)[i] = frand();
    return kiln_input_add(g, name, KILN_DT_F32, &s);
}

/* A 1-D i64 constant (copied). */
static inline uint32_t ints(const char *name, const int64_t *v, int n)
{
    kiln_shape s = kiln_shape_make(1, (int64_t[]){n});
    return kiln_const_add(g, name, KILN_DT_I64, &s, v, (size_t)n * sizeof *v, true);
}
#define INTS(name, ...) ints(name, (int64_t[]){__VA_ARGS__}, \
                             (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))

/* Node 'n' of op with n_out outputs, all graph outputs. */
static inline void node_outs(kiln_op op, const uint32_t *ins, uint32_t n_in, uint32_t n_out)
{
    uint32_t outs[8];
    for (uint32_t i = 0; i < n_out; i++) {
        char name[16];
        snprintf(name, sizeof name, "y%u", i);
        outs[i] = kiln_value_add(g, name);
    }
    node_id = kiln_node_add(g, op, "n", ins, n_in, outs, n_out);
    for (uint32_t i = 0; i < n_out; i++)
        kiln_output_add(g, outs[i]);
}
#define NODE(op, n_out, ...) node_outs(op, (uint32_t[]){__VA_ARGS__}, \
                                       sizeof((uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t), n_out)

/* Infers the graph, gives graph input i the data datas[i] and every node
 * output a buffer, and lowers the node into *low. */
static inline kiln_status lower(const void *const *datas, kiln_lowered *low)
{
    kiln_status st = kiln_graph_infer(ctx, g);
    CU_ASSERT_EQUAL_FATAL(st, KILN_OK);
    vals = calloc(g->n_values, sizeof *vals);
    memcpy(vals, g->values, g->n_values * sizeof *vals);
    for (uint32_t i = 0; i < g->n_inputs; i++)
        vals[g->inputs[i]].data = datas[i];
    for (uint32_t v = 1; v < g->n_values; v++) {
        int64_t n = 0;
        if (vals[v].kind != KILN_VAL_NODE)
            continue;
        vals[v].data = NULL;
        if (!kiln_shape_numel(&vals[v].shape, &n))
            continue;
        vals[v].nbytes = (size_t)n * kiln_dtype_size(vals[v].dtype);
        vals[v].data = calloc(1, vals[v].nbytes + 1);
    }
    return kiln_lower_node(ctx, g, vals, node_id, arena, low);
}

/* The call's operands resolved to the run's buffers. */
static inline void resolve(const kiln_kernel_call *c, void **ops)
{
    for (uint32_t i = 0; i < c->n_ops; i++)
        ops[i] = c->ops[i] ? (void *)vals[c->ops[i]].data : NULL;
}

static inline size_t out_bytes(uint32_t i)
{
    return vals[kiln_node_output(g, &g->nodes[node_id], i)].nbytes;
}

static inline void *out_data(uint32_t i)
{
    return (void *)vals[kiln_node_output(g, &g->nodes[node_id], i)].data;
}

/* Runs every call of low whole, in order; the kernel status of the first
 * failure, its error in *err. */
static inline krt_status run_calls(const kiln_lowered *low, krt_error *err)
{
    void *ops[128];
    krt_status st = KRT_OK;
    for (uint32_t i = 0; i < low->n_calls && st == KRT_OK; i++) {
        const kiln_kernel_call *c = &low->calls[i];
        CU_ASSERT_FATAL(c->n_ops <= 128);
        resolve(c, ops);
        st = kernel_run_range(krt_kernels[c->kernel], c->desc, ops, 0, c->units, err);
    }
    return st;
}

/* Runs c whole (the outputs keep that result) and split into 2, 3 and 5
 * ranges: outputs 0 .. n_out-1 must come out identical each time. */
static inline void run_whole_and_split(const kiln_kernel_call *c, uint32_t n_out)
{
    void *ops[128], *whole[8];
    CU_ASSERT_FATAL(c->n_ops <= 128 && n_out <= 8);
    resolve(c, ops);
    CU_ASSERT_FATAL(c->units > 2);
    for (uint32_t i = 0; i < n_out; i++)  /* a call may write part of an output */
        memset(out_data(i), 0xcd, out_bytes(i));
    CU_ASSERT_EQUAL(kernel_run(krt_kernels[c->kernel], c->desc, ops), KRT_OK);
    for (uint32_t i = 0; i < n_out; i++) {
        whole[i] = malloc(out_bytes(i) + 1);
        memcpy(whole[i], out_data(i), out_bytes(i));
    }
    for (int parts = 2; parts <= 5; parts += parts == 2 ? 1 : 2) {
        for (uint32_t i = 0; i < n_out; i++)
            memset(out_data(i), 0xcd, out_bytes(i));
        CU_ASSERT_EQUAL(kernel_run_split(krt_kernels[c->kernel], c->desc, ops, parts), KRT_OK);
        for (uint32_t i = 0; i < n_out; i++)
            CU_ASSERT_EQUAL(memcmp(whole[i], out_data(i), out_bytes(i)), 0);
    }
    for (uint32_t i = 0; i < n_out; i++)
        free(whole[i]);
}

#endif /* KILN_TEST_LOWER_RUN_H */
