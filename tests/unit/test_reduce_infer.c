/* test_reduce_infer.c — shape/dtype inference of the reduce family (ir/infer_reduce.c)
 * and its lowering (ir/lower_reduce.c), run by the interpreter, on small one-node graphs:
 * output shapes worked out by hand from the ONNX spec, every error path
 * with a message that names the node, and end-to-end runs through
 * kiln_interp_run against hand-computed values.
 */
#include "cunit_main.h"
#include "ir/infer.h"
#include "ir/interp.h"

#include <math.h>
#include <string.h>

/* ---- graph building ---------------------------------------------------------- */

typedef struct fixture {
    kiln_ctx *ctx;
    kiln_graph *g;
    uint32_t node;
    uint32_t out[3];
} fixture;

static fixture fx;

static void start(void)
{
    fx.ctx = kiln_ctx_create();
    fx.g = kiln_graph_create("t", "t.onnx");
}

static void finish(void)
{
    kiln_graph_destroy(fx.g);
    kiln_ctx_destroy(fx.ctx);
}

static uint32_t in(const char *name, kiln_dtype dt, int rank, const int64_t *dims)
{
    kiln_shape s = kiln_shape_make(rank, dims);
    return kiln_input_add(fx.g, name, dt, &s);
}

static uint32_t ints(const char *name, int n, const int64_t *v)
{
    int64_t d = n;
    kiln_shape s = kiln_shape_make(1, &d);
    return kiln_const_add(fx.g, name, KILN_DT_I64, &s, v, (size_t)n * 8, true);
}

/* A node "n1" of op with the given inputs and n_out fresh outputs. */
static uint32_t node(kiln_op op, const uint32_t *ins, uint32_t n_in, uint32_t n_out)
{
    static const char *names[] = {"y", "y1", "y2"};
    for (uint32_t i = 0; i < n_out; i++)
        fx.out[i] = kiln_value_add(fx.g, names[i]);
    fx.node = kiln_node_add(fx.g, op, "n1", ins, n_in, fx.out, n_out);
    for (uint32_t i = 0; i < n_out; i++)
        kiln_output_add(fx.g, fx.out[i]);
    return fx.node;
}

static void set_int(const char *name, int64_t v)
{
    kiln_attr_set_int(fx.g, fx.node, name, v);
}

/* Forget the outputs' types from an earlier inference (they would count
 * as declared types), then infer. */
static kiln_status reinfer(void)
{
    for (uint32_t i = 0; i < fx.g->nodes[fx.node].n_out; i++) {
        fx.g->values[fx.out[i]].dtype = KILN_DT_UNDEF;
        fx.g->values[fx.out[i]].shape = kiln_shape_unknown();
    }
    return kiln_graph_infer(fx.ctx, fx.g);
}

/* Infer; true when the output has this dtype and shape (dims < 0 skipped). */
static bool infers(uint32_t out, kiln_dtype dt, int rank, const int64_t *dims)
{
    kiln_status st = reinfer();
    if (st) {
        fprintf(stderr, "\n  unexpected: %s", kiln_ctx_message(fx.ctx));
        return false;
    }
    const kiln_value *v = &fx.g->values[fx.out[out]];
    if (v->dtype != dt || v->shape.rank != rank)
        return false;
    for (int i = 0; i < rank; i++)
        if (dims && dims[i] >= 0 && v->shape.dim[i] != dims[i])
            return false;
    return true;
}

/* Inference fails with a message naming node n1 and containing `text`. */
static bool fails(const char *text)
{
    kiln_status st = reinfer();
    const char *msg = kiln_ctx_message(fx.ctx);
    bool ok = st != KILN_OK && strstr(msg, "t.onnx: node 'n1'") && strstr(msg, text);
    if (!ok)
        fprintf(stderr, "\n  status %d, message: %s (wanted '%s')", st, msg, text);
    return ok;
}

/* ---- Reduce* ----------------------------------------------------------------------- */

static const int64_t D234[] = {2, 3, 4};

static void test_reduce_shapes(void)
{
    static const int64_t axes[] = {1, -1}, k1[] = {2, 1, 1}, k0[] = {2}, all[] = {1, 1, 1};
    start();
    node(KILN_OP_REDUCESUM, (uint32_t[]){in("x", KILN_DT_F32, 3, D234), ints("axes", 2, axes)}, 2,
         1);
    CU_ASSERT(infers(0, KILN_DT_F32, 3, k1));
    set_int("keepdims", 0);
    CU_ASSERT(infers(0, KILN_DT_F32, 1, k0));
    finish();

    start(); /* no axes: everything; with noop_with_empty_axes: nothing */
    node(KILN_OP_REDUCEMEAN, (uint32_t[]){in("x", KILN_DT_F64, 3, D234)}, 1, 1);
    CU_ASSERT(infers(0, KILN_DT_F64, 3, all));
    set_int("keepdims", 0);
    CU_ASSERT(infers(0, KILN_DT_F64, 0, NULL));
    set_int("noop_with_empty_axes", 1);
    CU_ASSERT(infers(0, KILN_DT_F64, 3, D234));
    finish();

    start(); /* axes a graph input: [0] is known empty; [2] is known in count only */
    static const int64_t zero[] = {0}, two[] = {2}, sym[] = {-1, 3};
    node(KILN_OP_REDUCEMAX,
         (uint32_t[]){in("x", KILN_DT_I8, 3, D234), in("a", KILN_DT_I64, 1, zero)}, 2, 1);
    set_int("noop_with_empty_axes", 1);
    CU_ASSERT(infers(0, KILN_DT_I8, 3, D234));
    finish();

    start();
    node(KILN_OP_REDUCEL2,
         (uint32_t[]){in("x", KILN_DT_F32, 3, D234), in("a", KILN_DT_I64, 1, two)}, 2, 1);
    set_int("keepdims", 0);
    CU_ASSERT(infers(0, KILN_DT_F32, 1, NULL));
    CU_ASSERT(KILN_DIM_IS_SYM(fx.g->values[fx.out[0]].shape.dim[0]));
    set_int("keepdims", 1);
    CU_ASSERT(infers(0, KILN_DT_F32, 3, NULL));
    finish();

    start(); /* a symbolic dim stays symbolic */
    kiln_shape s = kiln_shape_make(2, sym);
    s.dim[0] = KILN_DIM_SYM(kiln_graph_symbol(fx.g, "N"));
    static const int64_t ax1[] = {1};
    node(KILN_OP_REDUCEPROD,
         (uint32_t[]){kiln_input_add(fx.g, "x", KILN_DT_I64, &s), ints("axes", 1, ax1)}, 2, 1);
    CU_ASSERT(infers(0, KILN_DT_I64, 2, (int64_t[]){-1, 1}));
    CU_ASSERT_EQUAL(fx.g->values[fx.out[0]].shape.dim[0], s.dim[0]);
    finish();
}

static void test_reduce_errors(void)
{
    static const int64_t bad[] = {3}, dup[] = {1, -2};
    start();
    node(KILN_OP_REDUCESUM, (uint32_t[]){in("x", KILN_DT_F32, 3, D234), ints("axes", 1, bad)}, 2,
         1);
    CU_ASSERT(fails("axis 3 is out of range [-3, 3) for rank 3"));
    finish();
    start();
    node(KILN_OP_REDUCESUM, (uint32_t[]){in("x", KILN_DT_F32, 3, D234), ints("axes", 2, dup)}, 2,
         1);
    CU_ASSERT(fails("axis -2 is given twice"));
    finish();
    start();
    node(KILN_OP_REDUCESUM, (uint32_t[]){in("x", KILN_DT_I8, 3, D234)}, 1, 1);
    CU_ASSERT(
        fails("input 0 ('x') is i8; it must be one of f32, f64, f16, bf16, i32, i64, u32, u64"));
    finish();
    start();
    node(KILN_OP_REDUCEMIN, (uint32_t[]){in("x", KILN_DT_BOOL, 3, D234)}, 1, 1);
    CU_ASSERT(fails("input 0 ('x') is bool"));
    finish();
    start();
    node(KILN_OP_REDUCESUM, (uint32_t[]){in("x", KILN_DT_F32, 3, D234)}, 1, 1);
    set_int("keepdims", 2);
    CU_ASSERT(fails("attribute 'keepdims' = 2 is out of range [0, 1]"));
    kiln_attr_set_float(fx.g, fx.node, "keepdims", 1.0f);
    CU_ASSERT(fails("attribute 'keepdims' must be an int"));
    finish();
    start();
    static const int64_t one[] = {1};
    node(KILN_OP_REDUCESUM,
         (uint32_t[]){in("x", KILN_DT_F32, 3, D234), in("a", KILN_DT_I32, 1, one)}, 2, 1);
    CU_ASSERT(fails("input 1 ('a', axes) must be a 1-D i64 tensor"));
    finish();
    start();
    static const int64_t unk[] = {-1};
    kiln_shape s = kiln_shape_make(1, unk);
    s.dim[0] = KILN_DIM_SYM(kiln_graph_symbol(fx.g, "K"));
    node(KILN_OP_REDUCESUM,
         (uint32_t[]){in("x", KILN_DT_F32, 3, D234), kiln_input_add(fx.g, "a", KILN_DT_I64, &s)}, 2,
         1);
    set_int("keepdims", 0);
    CU_ASSERT(fails("the output rank cannot be inferred"));
    CU_ASSERT_EQUAL(kiln_ctx_status(fx.ctx), KILN_ERR_UNSUPPORTED);
    finish();
}

/* ---- ArgMax, CumSum, Softmax ----------------------------------------------------------- */

static void test_arg_cumsum_softmax(void)
{
    static const int64_t k0[] = {2, 3}, k1[] = {2, 3, 1}, scalar_axis = 1;
    start();
    node(KILN_OP_ARGMIN, (uint32_t[]){in("x", KILN_DT_U16, 3, D234)}, 1, 1);
    set_int("axis", -1);
    CU_ASSERT(infers(0, KILN_DT_I64, 3, k1));
    set_int("keepdims", 0);
    CU_ASSERT(infers(0, KILN_DT_I64, 2, k0));
    set_int("axis", 3);
    CU_ASSERT(fails("attribute 'axis' = 3 is out of range [-3, 3) for rank 3"));
    set_int("axis", 0);
    set_int("select_last_index", 5);
    CU_ASSERT(fails("attribute 'select_last_index' = 5 is out of range [0, 1]"));
    finish();

    start();
    kiln_shape sc = kiln_shape_make(0, NULL);
    uint32_t ax = kiln_const_add(fx.g, "axis", KILN_DT_I64, &sc, &scalar_axis, 8, true);
    node(KILN_OP_CUMSUM, (uint32_t[]){in("x", KILN_DT_I32, 3, D234), ax}, 2, 1);
    CU_ASSERT(infers(0, KILN_DT_I32, 3, D234));
    finish();
    start();
    static const int64_t seven = 7, two[] = {2};
    uint32_t ax7 = kiln_const_add(fx.g, "axis", KILN_DT_I64, &sc, &seven, 8, true);
    node(KILN_OP_CUMSUM, (uint32_t[]){in("x", KILN_DT_F32, 3, D234), ax7}, 2, 1);
    CU_ASSERT(fails("input 1 (axis) = 7 is out of range [-3, 3)"));
    finish();
    start();
    node(KILN_OP_CUMSUM,
         (uint32_t[]){in("x", KILN_DT_F32, 3, D234), in("axis", KILN_DT_I64, 1, two)}, 2, 1);
    CU_ASSERT(fails("input 1 ('axis', axis) must be a scalar"));
    finish();

    start();
    node(KILN_OP_SOFTMAX, (uint32_t[]){in("x", KILN_DT_F16, 3, D234)}, 1, 1);
    CU_ASSERT(infers(0, KILN_DT_F16, 3, D234));
    finish();
    start();
    node(KILN_OP_LOGSOFTMAX, (uint32_t[]){in("x", KILN_DT_I32, 3, D234)}, 1, 1);
    CU_ASSERT(fails("input 0 ('x') is i32; it must be one of f32, f64, f16, bf16"));
    finish();
}

/* ---- normalizations ---------------------------------------------------------------------- */

static void test_norm_shapes(void)
{
    static const int64_t c3[] = {3}, c4[] = {4}, d2[] = {2, 3, 4, 5}, stat[] = {2, 3, 1, 1};
    start();
    node(KILN_OP_BATCHNORMALIZATION,
         (uint32_t[]){in("x", KILN_DT_F32, 4, d2), in("s", KILN_DT_F32, 1, c3),
                      in("b", KILN_DT_F32, 1, c3), in("m", KILN_DT_F64, 1, c3),
                      in("v", KILN_DT_F64, 1, c3)},
         5, 1);
    CU_ASSERT(infers(0, KILN_DT_F32, 4, d2));
    set_int("training_mode", 1);
    CU_ASSERT(fails("training_mode = 1 is not supported"));
    finish();
    start();
    node(KILN_OP_BATCHNORMALIZATION,
         (uint32_t[]){in("x", KILN_DT_F32, 4, d2), in("s", KILN_DT_F32, 1, c4),
                      in("b", KILN_DT_F32, 1, c3), in("m", KILN_DT_F32, 1, c3),
                      in("v", KILN_DT_F32, 1, c3)},
         5, 1);
    CU_ASSERT(fails("input 1 ('s') has 4 elements, need one per channel (3)"));
    finish();
    start();
    node(KILN_OP_BATCHNORMALIZATION,
         (uint32_t[]){in("x", KILN_DT_F32, 4, d2), in("s", KILN_DT_F32, 1, c3),
                      in("b", KILN_DT_F16, 1, c3), in("m", KILN_DT_F32, 1, c3),
                      in("v", KILN_DT_F32, 1, c3)},
         5, 1);
    CU_ASSERT(fails("input 2 ('b') is f16 but input 1 ('s') is f32; they must match"));
    finish();

    start();
    node(KILN_OP_INSTANCENORMALIZATION,
         (uint32_t[]){in("x", KILN_DT_F32, 2, d2), in("s", KILN_DT_F32, 1, c3),
                      in("b", KILN_DT_F32, 1, c3)},
         3, 1);
    CU_ASSERT(fails("input 0 ('x') has rank 2, need 3 to 8"));
    finish();

    start(); /* LayerNormalization, axis 2: Mean and InvStdDev are [2,3,1,1] f32 */
    static const int64_t sc[] = {4, 5}, bad[] = {3, 5}, one5[] = {1, 5};
    node(KILN_OP_LAYERNORMALIZATION,
         (uint32_t[]){in("x", KILN_DT_F16, 4, d2), in("s", KILN_DT_F16, 2, sc),
                      in("b", KILN_DT_F16, 2, one5)},
         3, 3);
    set_int("axis", 2);
    CU_ASSERT(infers(0, KILN_DT_F16, 4, d2));
    CU_ASSERT(infers(1, KILN_DT_F32, 4, stat));
    CU_ASSERT(infers(2, KILN_DT_F32, 4, stat));
    set_int("stash_type", 16);
    CU_ASSERT(infers(2, KILN_DT_BF16, 4, stat));
    set_int("stash_type", 2);
    CU_ASSERT(fails("attribute 'stash_type' = 2: must be 1 (float) or 16 (bfloat16)"));
    finish();
    start();
    node(KILN_OP_LAYERNORMALIZATION,
         (uint32_t[]){in("x", KILN_DT_F32, 4, d2), in("s", KILN_DT_F32, 2, bad)}, 2, 1);
    set_int("axis", -2);
    CU_ASSERT(fails(
        "input 1 ('s') does not broadcast to the normalized dims (axis 2 onwards of input 0)"));
    finish();

    start();
    node(KILN_OP_LPNORMALIZATION, (uint32_t[]){in("x", KILN_DT_F32, 4, d2)}, 1, 1);
    set_int("p", 3);
    CU_ASSERT(fails("attribute 'p' = 3 is out of range [1, 2]"));
    finish();
    start();
    node(KILN_OP_LRN, (uint32_t[]){in("x", KILN_DT_F32, 4, d2)}, 1, 1);
    CU_ASSERT(fails("attribute 'size' is required"));
    set_int("size", 0);
    CU_ASSERT(fails("attribute 'size' = 0 is out of range"));
    set_int("size", 3);
    CU_ASSERT(infers(0, KILN_DT_F32, 4, d2));
    finish();
    start(); /* MVN's default axes [0, 2, 3] need rank 4 */
    node(KILN_OP_MEANVARIANCENORMALIZATION, (uint32_t[]){in("x", KILN_DT_F32, 3, D234)}, 1, 1);
    CU_ASSERT(fails("attribute 'axes': axis 3 is out of range [-3, 3) for rank 3"));
    kiln_attr_set_ints(fx.g, fx.node, "axes", (int64_t[]){0, 0}, 2);
    CU_ASSERT(fails("attribute 'axes': axis 0 is given twice"));
    kiln_attr_set_ints(fx.g, fx.node, "axes", (int64_t[]){0, -1}, 2);
    CU_ASSERT(infers(0, KILN_DT_F32, 3, D234));
    finish();
}

/* ---- losses, TopK, Einsum, Det ----------------------------------------------------------------
 */

static void test_loss_shapes(void)
{
    static const int64_t xd[] = {2, 5, 3}, td[] = {2, 3}, badt[] = {2, 4}, c5[] = {5};
    start();
    node(KILN_OP_SOFTMAXCROSSENTROPYLOSS,
         (uint32_t[]){in("x", KILN_DT_F32, 3, xd), in("t", KILN_DT_I32, 2, td),
                      in("w", KILN_DT_F32, 1, c5)},
         3, 2);
    CU_ASSERT(infers(0, KILN_DT_F32, 0, NULL));
    CU_ASSERT(infers(1, KILN_DT_F32, 3, xd));
    kiln_attr_set_string(fx.g, fx.node, "reduction", "none");
    CU_ASSERT(infers(0, KILN_DT_F32, 2, td));
    kiln_attr_set_string(fx.g, fx.node, "reduction", "avg");
    CU_ASSERT(fails("attribute 'reduction' = 'avg': must be 'none', 'sum' or 'mean'"));
    finish();
    start();
    node(KILN_OP_NEGATIVELOGLIKELIHOODLOSS,
         (uint32_t[]){in("x", KILN_DT_F32, 3, xd), in("t", KILN_DT_I64, 2, badt)}, 2, 1);
    CU_ASSERT(fails("input 1 ('t') dim 1 is 4 but input 0 dim 2 is 3"));
    finish();
    start();
    node(KILN_OP_NEGATIVELOGLIKELIHOODLOSS,
         (uint32_t[]){in("x", KILN_DT_BF16, 3, xd), in("t", KILN_DT_I64, 2, td)}, 2, 1);
    CU_ASSERT(fails("input 0 ('x') is bf16"));
    finish();
}

static void test_topk_einsum_det_shapes(void)
{
    static const int64_t k2[] = {2}, k9[] = {9}, one[] = {1}, out[] = {2, 2, 4};
    start();
    node(KILN_OP_TOPK, (uint32_t[]){in("x", KILN_DT_F32, 3, D234), ints("k", 1, k2)}, 2, 2);
    set_int("axis", 1);
    CU_ASSERT(infers(0, KILN_DT_F32, 3, out));
    CU_ASSERT(infers(1, KILN_DT_I64, 3, out));
    finish();
    start();
    node(KILN_OP_TOPK, (uint32_t[]){in("x", KILN_DT_F32, 3, D234), ints("k", 1, k9)}, 2, 2);
    CU_ASSERT(fails("K = 9 is out of range [0, 4] (axis 2 of input 0)"));
    finish();
    start();
    node(KILN_OP_TOPK, (uint32_t[]){in("x", KILN_DT_F32, 3, D234), in("k", KILN_DT_I64, 1, one)}, 2,
         2);
    CU_ASSERT(infers(0, KILN_DT_F32, 3, (int64_t[]){2, 3, -1}));
    CU_ASSERT(KILN_DIM_IS_SYM(fx.g->values[fx.out[0]].shape.dim[2]));
    finish();

    static const int64_t a[] = {5, 2, 3}, b[] = {5, 3, 4}, c[] = {1, 3, 4}, bad[] = {5, 2, 4};
    start();
    node(KILN_OP_EINSUM, (uint32_t[]){in("a", KILN_DT_F64, 3, a), in("b", KILN_DT_F64, 3, c)}, 2,
         1);
    kiln_attr_set_string(fx.g, fx.node, "equation", "bij,bjk->bik");
    CU_ASSERT(infers(0, KILN_DT_F64, 3, (int64_t[]){5, 2, 4})); /* b broadcasts 1 -> 5 */
    kiln_attr_set_string(fx.g, fx.node, "equation", "bij,bjk");
    CU_ASSERT(infers(0, KILN_DT_F64, 2, (int64_t[]){2, 4})); /* implicit: letters seen once */
    kiln_attr_set_string(fx.g, fx.node, "equation", "bij,bjk->bik,");
    CU_ASSERT(fails("equation 'bij,bjk->bik,' has a character that is not a letter"));
    finish();
    start();
    node(KILN_OP_EINSUM, (uint32_t[]){in("a", KILN_DT_F32, 3, a), in("b", KILN_DT_F32, 3, bad)}, 2,
         1);
    kiln_attr_set_string(fx.g, fx.node, "equation", "bij,bjk->bik");
    CU_ASSERT(fails("input 1 dim 1 is 2 but the same equation letter has size 3 elsewhere"));
    finish();
    start();
    node(KILN_OP_EINSUM, (uint32_t[]){in("a", KILN_DT_F32, 3, a), in("b", KILN_DT_F64, 3, b)}, 2,
         1);
    kiln_attr_set_string(fx.g, fx.node, "equation", "bij,bjk->bik");
    CU_ASSERT(fails("input 1 ('b') is f64 but input 0 ('a') is f32"));
    finish();

    start();
    node(KILN_OP_DET, (uint32_t[]){in("x", KILN_DT_F32, 3, D234)}, 1, 1);
    CU_ASSERT(fails("has 3 x 4 matrices; Det needs square ones"));
    finish();
    start();
    node(KILN_OP_DET, (uint32_t[]){in("x", KILN_DT_F64, 3, (int64_t[]){7, 3, 3})}, 1, 1);
    CU_ASSERT(infers(0, KILN_DT_F64, 1, (int64_t[]){7}));
    finish();
}

/* ---- the interpreter
 * ------------------------------------------------------------------------------ */

static kiln_tensor tensor(kiln_dtype dt, int rank, const int64_t *dims, const void *data)
{
    kiln_tensor t = {.dtype = dt, .shape = kiln_shape_make(rank, dims), .data = data};
    int64_t n;
    kiln_shape_numel(&t.shape, &n);
    t.nbytes = (size_t)n * kiln_dtype_size(dt);
    return t;
}

static void test_run_reduce_and_topk(void)
{
    static const int64_t d[] = {2, 3}, axes[] = {-1};
    static const float x[] = {1, 2, 6, -1, 4, 0};
    kiln_tensor outs[2];
    start();
    node(KILN_OP_REDUCEMEAN, (uint32_t[]){in("x", KILN_DT_F32, 2, d), ints("axes", 1, axes)}, 2, 1);
    set_int("keepdims", 0);
    CU_ASSERT_FATAL(kiln_graph_infer(fx.ctx, fx.g) == KILN_OK);
    kiln_tensor t = tensor(KILN_DT_F32, 2, d, x);
    CU_ASSERT_FATAL(kiln_interp_run(fx.ctx, fx.g, &t, 1, outs) == KILN_OK);
    CU_ASSERT(outs[0].shape.rank == 1 && outs[0].shape.dim[0] == 2);
    CU_ASSERT(((float *)outs[0].data)[0] == 3 && ((float *)outs[0].data)[1] == 1);
    kiln_interp_free_outputs(outs, 1);
    finish();

    start(); /* K is a graph input: the shape is only known when running */
    static const int64_t one[] = {1}, k = 2;
    node(KILN_OP_TOPK, (uint32_t[]){in("x", KILN_DT_F32, 2, d), in("k", KILN_DT_I64, 1, one)}, 2,
         2);
    set_int("largest", 0);
    CU_ASSERT_FATAL(kiln_graph_infer(fx.ctx, fx.g) == KILN_OK);
    kiln_tensor ts[2] = {tensor(KILN_DT_F32, 2, d, x), tensor(KILN_DT_I64, 1, one, &k)};
    CU_ASSERT_FATAL(kiln_interp_run(fx.ctx, fx.g, ts, 2, outs) == KILN_OK);
    const float *v = outs[0].data;
    const int64_t *ix = outs[1].data;
    CU_ASSERT(outs[0].shape.dim[1] == 2 && v[0] == 1 && v[1] == 2 && v[2] == -1 && v[3] == 0);
    CU_ASSERT(ix[0] == 0 && ix[1] == 1 && ix[2] == 0 && ix[3] == 2);
    kiln_interp_free_outputs(outs, 2);
    finish();
}

static void test_run_layernorm_and_losses(void)
{
    static const int64_t d[] = {2, 2}, c2[] = {2}, t2[] = {2};
    static const float x[] = {1, 3, -2, 2}, s[] = {1, 2}, b[] = {0, 1};
    kiln_tensor outs[3];
    start();
    node(KILN_OP_LAYERNORMALIZATION,
         (uint32_t[]){in("x", KILN_DT_F32, 2, d), in("s", KILN_DT_F32, 1, c2),
                      in("b", KILN_DT_F32, 1, c2)},
         3, 3);
    set_int("axis", 1);
    kiln_attr_set_float(fx.g, fx.node, "epsilon", 0);
    CU_ASSERT_FATAL(kiln_graph_infer(fx.ctx, fx.g) == KILN_OK);
    kiln_tensor ts[3] = {tensor(KILN_DT_F32, 2, d, x), tensor(KILN_DT_F32, 1, c2, s),
                         tensor(KILN_DT_F32, 1, c2, b)};
    CU_ASSERT_FATAL(kiln_interp_run(fx.ctx, fx.g, ts, 3, outs) == KILN_OK);
    /* rows [1,3] and [-2,2]: means 2, 0; std 1, 2; normalized [-1, 1] both */
    const float *y = outs[0].data, *m = outs[1].data, *is = outs[2].data;
    CU_ASSERT(y[0] == -1 && y[1] == 3 && y[2] == -1 && y[3] == 3);
    CU_ASSERT(m[0] == 2 && m[1] == 0 && is[0] == 1 && is[1] == 0.5f);
    CU_ASSERT(outs[1].shape.rank == 2 && outs[1].shape.dim[1] == 1);
    kiln_interp_free_outputs(outs, 3);
    finish();

    start(); /* a class label out of range is a runtime error naming the node and input */
    static const int64_t bad_t[] = {1, 7};
    node(KILN_OP_NEGATIVELOGLIKELIHOODLOSS,
         (uint32_t[]){in("x", KILN_DT_F32, 2, d), in("target", KILN_DT_I64, 1, t2)}, 2, 1);
    CU_ASSERT_FATAL(kiln_graph_infer(fx.ctx, fx.g) == KILN_OK);
    kiln_tensor tl[2] = {tensor(KILN_DT_F32, 2, d, x), tensor(KILN_DT_I64, 1, t2, bad_t)};
    CU_ASSERT(kiln_interp_run(fx.ctx, fx.g, tl, 2, outs) == KILN_ERR_RUNTIME);
    CU_ASSERT_STRING_EQUAL(
        kiln_ctx_message(fx.ctx),
        "t.onnx: node 'n1' (NegativeLogLikelihoodLoss): class 7 out of range [0, 2) "
        "in input 1 ('target') at position 1");
    /* with ignore_index = 7 that sample is skipped: mean of -x[0][1] = -3 */
    set_int("ignore_index", 7);
    CU_ASSERT_FATAL(kiln_interp_run(fx.ctx, fx.g, tl, 2, outs) == KILN_OK);
    CU_ASSERT(((float *)outs[0].data)[0] == -3);
    kiln_interp_free_outputs(outs, 1);
    finish();
}

static void test_run_einsum_cumsum_unsupported(void)
{
    static const int64_t d[] = {2, 3};
    static const double x[] = {1, 2, 3, 4, 5, 6};
    kiln_tensor outs[1];
    start();
    node(KILN_OP_EINSUM, (uint32_t[]){in("x", KILN_DT_F64, 2, d)}, 1, 1);
    kiln_attr_set_string(fx.g, fx.node, "equation", "ij->j");
    CU_ASSERT_FATAL(kiln_graph_infer(fx.ctx, fx.g) == KILN_OK);
    kiln_tensor t = tensor(KILN_DT_F64, 2, d, x);
    CU_ASSERT_FATAL(kiln_interp_run(fx.ctx, fx.g, &t, 1, outs) == KILN_OK);
    const double *y = outs[0].data;
    CU_ASSERT(y[0] == 5 && y[1] == 7 && y[2] == 9);
    kiln_interp_free_outputs(outs, 1);
    finish();

    start(); /* axis from an i32 scalar constant, reverse */
    kiln_shape s0 = kiln_shape_make(0, NULL);
    int32_t ax = 0;
    uint32_t axv = kiln_const_add(fx.g, "axis", KILN_DT_I32, &s0, &ax, 4, true);
    node(KILN_OP_CUMSUM, (uint32_t[]){in("x", KILN_DT_F64, 2, d), axv}, 2, 1);
    set_int("reverse", 1);
    CU_ASSERT_FATAL(kiln_graph_infer(fx.ctx, fx.g) == KILN_OK);
    CU_ASSERT_FATAL(kiln_interp_run(fx.ctx, fx.g, &t, 1, outs) == KILN_OK);
    y = outs[0].data;
    CU_ASSERT(y[0] == 5 && y[2] == 9 && y[3] == 4 && y[5] == 6);
    kiln_interp_free_outputs(outs, 1);
    finish();

    start(); /* ReduceLogSumExp of i64 is valid ONNX, but has no kernel */
    static const int64_t xi[] = {1, 2, 3, 4, 5, 6};
    node(KILN_OP_REDUCELOGSUMEXP, (uint32_t[]){in("x", KILN_DT_I64, 2, d)}, 1, 1);
    CU_ASSERT_FATAL(kiln_graph_infer(fx.ctx, fx.g) == KILN_OK);
    kiln_tensor ti = tensor(KILN_DT_I64, 2, d, xi);
    CU_ASSERT(kiln_interp_run(fx.ctx, fx.g, &ti, 1, outs) == KILN_ERR_UNSUPPORTED);
    CU_ASSERT(strstr(kiln_ctx_message(fx.ctx),
                     "node 'n1' (ReduceLogSumExp): kiln has no "
                     "ReduceLogSumExp kernel for i64") != NULL);
    finish();
}

static void test_constant_folding(void)
{
    /* inference folds small all-constant nodes: ReduceProd of a shape-like constant */
    static const int64_t v[] = {2, 3, 4};
    start();
    uint32_t c = kiln_const_add(fx.g, "c", KILN_DT_I64, &(kiln_shape){1, {3}}, v, sizeof v, true);
    node(KILN_OP_REDUCEPROD, (uint32_t[]){c}, 1, 1);
    set_int("keepdims", 0);
    CU_ASSERT_FATAL(infers(0, KILN_DT_I64, 0, NULL));
    const kiln_value *y = &fx.g->values[fx.out[0]];
    CU_ASSERT(y->data && *(const int64_t *)y->data == 24);
    finish();
}

static CU_TestInfo infer_tests[] = {
    {"Reduce* shapes", test_reduce_shapes},
    {"Reduce* errors", test_reduce_errors},
    {"ArgMax, CumSum, Softmax", test_arg_cumsum_softmax},
    {"normalizations", test_norm_shapes},
    {"losses", test_loss_shapes},
    {"TopK, Einsum, Det", test_topk_einsum_det_shapes},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo run_tests[] = {
    {"ReduceMean, TopK with K at run time", test_run_reduce_and_topk},
    {"LayerNormalization, NLL loss and its errors", test_run_layernorm_and_losses},
    {"Einsum, CumSum, unsupported dtype", test_run_einsum_cumsum_unsupported},
    {"constant folding during inference", test_constant_folding},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"reduce-family inference", NULL, NULL, NULL, NULL, infer_tests},
    {"reduce-family interpreter", NULL, NULL, NULL, NULL, run_tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
