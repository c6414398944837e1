/* test_token_relayout.c — kiln_token_relayout (passes/token_common.c), the
 * one place that follows a changed token count downstream: a graph is
 * parsed with N tokens, its input is given N' tokens, and the attributes
 * that spell the count must come out as written by hand for N' (mixed
 * radix: the strides over the token axis scale, the others stay), with
 * inference agreeing; a count that cannot be followed is refused naming
 * the node.
 */
#include "cunit_main.h"
#include "ir/text.h"
#include "passes/token_common.h"

#include <stdlib.h>
#include <string.h>

static kiln_ctx *ctx;

static int setup(void)
{
    ctx = kiln_ctx_create();
    return ctx ? 0 : 1;
}

static int cleanup(void)
{
    kiln_ctx_destroy(ctx);
    return 0;
}

/* Parse `text`, infer, snapshot, give input 0 `tokens` tokens on axis
 * `axis`, re-lay-out. Returns the status; the graph in *out. */
static kiln_status relayout(const char *text, int axis, int64_t tokens, kiln_graph **out)
{
    kiln_graph *g = NULL;
    kiln_ctx_clear(ctx);
    kiln_status st = kiln_text_parse(ctx, text, strlen(text), "t.kir", &g);
    CU_ASSERT_EQUAL_FATAL(st, KILN_OK);
    CU_ASSERT_EQUAL_FATAL(kiln_graph_infer(ctx, g), KILN_OK);
    kiln_shape *old = kiln_xcalloc(g->n_values, sizeof *old);
    for (uint32_t v = 0; v < g->n_values; v++)
        old[v] = g->values[v].shape;
    g->values[g->inputs[0]].shape.dim[axis] = tokens;
    st = kiln_token_relayout(ctx, g, old, g->n_values);
    free(old);
    *out = g;
    return st;
}

static const kiln_node *node_named(const kiln_graph *g, const char *out_name)
{
    uint32_t v = kiln_graph_find_value(g, out_name);
    CU_ASSERT_FATAL(v && g->values[v].producer);
    return &g->nodes[g->values[v].producer];
}

static void assert_ints(const kiln_graph *g, const kiln_node *n, const char *attr, const int64_t *want, uint32_t count)
{
    uint32_t got_n = 0;
    const int64_t *got = kiln_attr_ints(g, n, attr, &got_n);
    CU_ASSERT_EQUAL(got_n, count);
    for (uint32_t i = 0; got && i < count && i < got_n; i++)
        if (got[i] != want[i]) {
            CU_FAIL("attribute value differs");
            fprintf(stderr, "%s[%u] = %lld, want %lld\n", attr, i, (long long)got[i], (long long)want[i]);
        }
}

/* packed qkv [2, 5, 12] -> [2, 3, 12]; the merged output reshaped with a
 * constant that names 5; a kiln.TokenMerge reading the same keys */
static void test_packed(void)
{
    static const char text[] =
        "kiln-ir 1\n"
        "graph @t (%qkv: f32[2,5,12], %x: f32[2,5,4]) -> (%r, %m) {\n"
        "  const %shape: i64[4] = [2, 5, 2, 2]\n"
        "  %y = kiln.Attention(%qkv, %qkv, %qkv) {batch = 2, heads = 2, head_dim = 2, q_tokens = 5, "
        "kv_tokens = 5, scale = 0.5, q_layout = [0, 60, 2, 12], k_layout = [4, 60, 2, 12], "
        "v_layout = [8, 60, 2, 12], y_shape = [2, 5, 4], y_layout = [20, 2, 4]}\n"
        "  %r = Reshape(%y, %shape)\n"
        "  %m, %s = kiln.TokenMerge(%y, %qkv) {r = 1, heads = 2, head_dim = 2, k_layout = [4, 60, 2, 12]}\n"
        "}\n";
    kiln_graph *g;
    CU_ASSERT_EQUAL_FATAL(relayout(text, 1, 3, &g), KILN_OK);
    const kiln_node *a = node_named(g, "y");
    CU_ASSERT_EQUAL(kiln_attr_int(g, a, "q_tokens", 0), 3);
    CU_ASSERT_EQUAL(kiln_attr_int(g, a, "kv_tokens", 0), 3);
    assert_ints(g, a, "q_layout", (int64_t[]){0, 36, 2, 12}, 4);
    assert_ints(g, a, "k_layout", (int64_t[]){4, 36, 2, 12}, 4);
    assert_ints(g, a, "v_layout", (int64_t[]){8, 36, 2, 12}, 4);
    assert_ints(g, a, "y_shape", (int64_t[]){2, 3, 4}, 3);
    assert_ints(g, a, "y_layout", (int64_t[]){12, 2, 4}, 3);
    assert_ints(g, node_named(g, "m"), "k_layout", (int64_t[]){4, 36, 2, 12}, 4);
    const kiln_value *r = &g->values[kiln_graph_find_value(g, "r")];
    kiln_shape want_r = kiln_shape_make(4, (int64_t[]){2, 3, 2, 2});
    CU_ASSERT(kiln_shape_equal(&r->shape, &want_r));
    const kiln_value *m = &g->values[kiln_graph_find_value(g, "m")];
    kiln_shape want_m = kiln_shape_make(3, (int64_t[]){2, 2, 4});
    CU_ASSERT(kiln_shape_equal(&m->shape, &want_m));
    /* the shared constant is not edited: the Reshape reads a new one */
    const kiln_value *old = &g->values[kiln_graph_find_value(g, "shape")];
    CU_ASSERT_EQUAL(((const int64_t *)old->data)[1], 5);
    kiln_graph_destroy(g);
}

/* head-major q/k/v [B, H, N, D] = [2, 2, 5, 2]: the batch and head strides
 * are both over the token axis; Y written head-major [2, 2, 5, 2] */
static void test_head_major(void)
{
    static const char text[] =
        "kiln-ir 1\n"
        "graph @t (%q: f32[2,2,5,2]) -> (%y) {\n"
        "  %y = kiln.Attention(%q, %q, %q) {batch = 2, heads = 2, head_dim = 2, q_tokens = 5, "
        "kv_tokens = 5, scale = 0.5, q_layout = [0, 20, 10, 2], k_layout = [0, 20, 10, 2], "
        "v_layout = [0, 20, 10, 2], y_shape = [2, 2, 5, 2], y_layout = [20, 10, 2]}\n"
        "}\n";
    kiln_graph *g;
    CU_ASSERT_EQUAL_FATAL(relayout(text, 2, 3, &g), KILN_OK);
    const kiln_node *a = node_named(g, "y");
    assert_ints(g, a, "q_layout", (int64_t[]){0, 12, 6, 2}, 4);
    assert_ints(g, a, "y_shape", (int64_t[]){2, 2, 3, 2}, 4);
    assert_ints(g, a, "y_layout", (int64_t[]){12, 6, 2}, 3);
    kiln_graph_destroy(g);
}

/* a constant bias over the old 5 keys cannot follow: refused, naming the node */
static void test_constant_bias_refused(void)
{
    static const char text[] =
        "kiln-ir 1\n"
        "graph @t (%qkv: f32[1,5,12]) -> (%y) {\n"
        "  const %bias: f32[1,1,1,5] = [0, 0, 0, 0, 0]\n"
        "  %y = kiln.Attention(%qkv, %qkv, %qkv, %bias) {batch = 1, heads = 2, head_dim = 2, q_tokens = 5, "
        "kv_tokens = 5, scale = 0.5, q_layout = [0, 60, 2, 12], k_layout = [4, 60, 2, 12], "
        "v_layout = [8, 60, 2, 12], y_shape = [1, 5, 4], y_layout = [20, 2, 4]}\n"
        "}\n";
    kiln_graph *g;
    CU_ASSERT_EQUAL(relayout(text, 1, 3, &g), KILN_ERR_UNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(kiln_ctx_message(ctx), "producing 'y' (kiln.Attention)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(kiln_ctx_message(ctx), "attention bias [1,1,1,5] covers the old 5 tokens"));
    kiln_graph_destroy(g);
}

/* nothing changed: every attribute stays */
static void test_unchanged(void)
{
    static const char text[] =
        "kiln-ir 1\n"
        "graph @t (%qkv: f32[2,5,12]) -> (%y) {\n"
        "  %y = kiln.Attention(%qkv, %qkv, %qkv) {batch = 2, heads = 2, head_dim = 2, q_tokens = 5, "
        "kv_tokens = 5, scale = 0.5, q_layout = [0, 60, 2, 12], k_layout = [4, 60, 2, 12], "
        "v_layout = [8, 60, 2, 12], y_shape = [2, 5, 4], y_layout = [20, 2, 4]}\n"
        "}\n";
    kiln_graph *g;
    CU_ASSERT_EQUAL_FATAL(relayout(text, 1, 5, &g), KILN_OK);
    const kiln_node *a = node_named(g, "y");
    assert_ints(g, a, "q_layout", (int64_t[]){0, 60, 2, 12}, 4);
    assert_ints(g, a, "y_layout", (int64_t[]){20, 2, 4}, 3);
    kiln_graph_destroy(g);
}

static CU_TestInfo tests[] = {
    {"packed qkv, Reshape constant, TokenMerge k_layout", test_packed},
    {"head-major layouts", test_head_major},
    {"a constant bias over the old count is refused", test_constant_bias_refused},
    {"no change, no edit", test_unchanged},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"token_relayout", setup, cleanup, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
