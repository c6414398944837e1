/* test_edit.c — the graph editing API (ir/edit.h): the users snapshot,
 * replace-all-uses and forwarding with graph output names kept, removal,
 * value -> constant, compaction (verified, deterministic, garbage gone),
 * the density check on graphs damaged the way a buggy pass would, and
 * the pattern helpers.
 *
 * Expected texts are written by hand from the renumbering rule in edit.h
 * (inputs, constants by first use, node outputs in node order), not copied
 * from the printer.
 */
#include "cunit_main.h"
#include "ir/edit.h"
#include "ir/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------------ */

/* x -> Add(x, w) -> a -> Relu -> r -> Mul(r, w) -> y */
static const char chain_text[] =
    "kiln-ir 1\n"
    "graph @g (%x: f32[2,3]) -> (%y) {\n"
    "  const %w: f32[3] = [1.0, 2.0, 3.0]\n"
    "  %a: f32[2,3] = Add(%x, %w)\n"
    "  %r: f32[2,3] = Relu(%a)\n"
    "  %y: f32[2,3] = Mul(%r, %w)\n"
    "}\n";

/* Parsed and inferred; the test fails (fatally) if not. */
static kiln_graph *parse(kiln_ctx *ctx, const char *text)
{
    kiln_graph *g = NULL;
    kiln_status st = kiln_text_parse(ctx, text, strlen(text), "t.kir", &g);
    if (st == KILN_OK)
        st = kiln_graph_infer(ctx, g);
    if (st != KILN_OK)
        fprintf(stderr, "\n  %s\n", kiln_ctx_message(ctx));
    CU_ASSERT_EQUAL_FATAL(st, KILN_OK);
    return g;
}

static void expect_text(const kiln_graph *g, const char *want)
{
    char *got = kiln_text_format(g);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "\n--- want\n%s--- got\n%s", want, got);
    CU_ASSERT_STRING_EQUAL(got, want);
    free(got);
}

static void expect_ok(kiln_ctx *ctx, kiln_status st)
{
    if (st != KILN_OK)
        fprintf(stderr, "\n  %s\n", kiln_ctx_message(ctx));
    CU_ASSERT_EQUAL(st, KILN_OK);
}

/* check_dense fails with exactly `message`. */
static void expect_not_dense(const kiln_graph *g, const char *message)
{
    kiln_ctx *ctx = kiln_ctx_create();
    CU_ASSERT_EQUAL(kiln_graph_check_dense(ctx, g), KILN_ERR_INVALID);
    if (strcmp(kiln_ctx_message(ctx), message) != 0)
        fprintf(stderr, "\n    want %s\n    got  %s\n", message, kiln_ctx_message(ctx));
    CU_ASSERT_STRING_EQUAL(kiln_ctx_message(ctx), message);
    kiln_ctx_destroy(ctx);
}

/* Compacted, verified and dense. */
static void compact_checked(kiln_ctx *ctx, kiln_graph *g)
{
    kiln_graph_compact(g);
    expect_ok(ctx, kiln_graph_verify(ctx, g));
    expect_ok(ctx, kiln_graph_check_dense(ctx, g));
}

static uint32_t val(const kiln_graph *g, const char *name)
{
    uint32_t v = kiln_graph_find_value(g, name);
    CU_ASSERT_NOT_EQUAL_FATAL(v, 0);
    return v;
}

/* ---- users -------------------------------------------------------------------- */

static void test_users_snapshot(void)
{
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = parse(ctx, chain_text);
    kiln_users *u = kiln_users_build(g);
    uint32_t x = val(g, "x"), w = val(g, "w"), a = val(g, "a"), r = val(g, "r"), y = val(g, "y");
    CU_ASSERT_EQUAL(u->n_values, g->n_values);
    CU_ASSERT_EQUAL(kiln_users_count(u, x), 1);
    CU_ASSERT_EQUAL(kiln_users_count(u, a), 1);
    CU_ASSERT_EQUAL(kiln_users_count(u, r), 1);
    CU_ASSERT_EQUAL(kiln_users_count(u, y), 1);
    /* w: input 1 of the Add (node 1), then input 1 of the Mul (node 3) */
    CU_ASSERT_EQUAL_FATAL(kiln_users_count(u, w), 2);
    CU_ASSERT_EQUAL(u->use[u->first[w]].node, 1);
    CU_ASSERT_EQUAL(u->use[u->first[w]].slot, 1);
    CU_ASSERT_EQUAL(u->use[u->first[w] + 1].node, 3);
    CU_ASSERT_EQUAL(u->use[u->first[w] + 1].slot, 1);
    /* y's only use is graph output 0 */
    CU_ASSERT_EQUAL(u->use[u->first[y]].node, 0);
    CU_ASSERT_EQUAL(u->use[u->first[y]].slot, 0);
    CU_ASSERT_TRUE(kiln_users_is_output(u, y));
    CU_ASSERT_FALSE(kiln_users_is_output(u, r));
    CU_ASSERT_FALSE(kiln_users_is_output(u, 0));
    CU_ASSERT_EQUAL(u->first[g->n_values], 6);   /* 5 node inputs + 1 graph output */
    kiln_users_destroy(u);
    /* a node using a value twice is two uses; removed nodes use nothing */
    kiln_node_set_input(g, 3, 1, r);             /* Mul(r, r) */
    kiln_node_remove(g, 1);
    u = kiln_users_build(g);
    CU_ASSERT_EQUAL(kiln_users_count(u, r), 2);
    CU_ASSERT_EQUAL(kiln_users_count(u, x), 0);
    CU_ASSERT_EQUAL(kiln_users_count(u, w), 0);
    kiln_users_destroy(u);
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
}

/* ---- edits ---------------------------------------------------------------------- */

static void test_replace_uses_remove_compact(void)
{
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = parse(ctx, chain_text);
    /* drop the Relu: its users read a instead */
    kiln_replace_all_uses(g, val(g, "r"), val(g, "a"));
    CU_ASSERT_EQUAL(kiln_node_input(g, &g->nodes[3], 0), val(g, "a"));
    kiln_node_remove(g, 2);
    CU_ASSERT_TRUE(kiln_node_is_removed(g, 2));
    CU_ASSERT_EQUAL(g->values[val(g, "r")].producer, 0);
    expect_not_dense(g, "t.kir: graph is not dense: node #2 is a tombstone (removed, not compacted)");
    compact_checked(ctx, g);
    CU_ASSERT_EQUAL(g->n_nodes, 3);
    CU_ASSERT_EQUAL(g->n_values, 5);             /* none, x, w, a, y */
    CU_ASSERT_EQUAL(kiln_graph_find_value(g, "r"), 0);
    static const char want[] =
        "kiln-ir 1\n"
        "graph @g (%x: f32[2,3]) -> (%y) {\n"
        "  const %w: f32[3] = [1.0, 2.0, 3.0]\n"
        "  %a: f32[2,3] = Add(%x, %w)\n"
        "  %y: f32[2,3] = Mul(%a, %w)\n"
        "}\n";
    expect_text(g, want);
    /* compacting a compact graph changes nothing */
    uint32_t ops[16];
    CU_ASSERT_FATAL(g->n_operands <= 16);
    memcpy(ops, g->operands, g->n_operands * sizeof *ops);
    compact_checked(ctx, g);
    expect_text(g, want);
    CU_ASSERT_EQUAL(memcmp(ops, g->operands, g->n_operands * sizeof *ops), 0);
    /* graph outputs are uses too */
    kiln_replace_all_uses(g, val(g, "y"), val(g, "a"));
    CU_ASSERT_EQUAL(g->outputs[0], val(g, "a"));
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
}

/* Built in a different order through the API, with an unused constant and a
 * removed node, and parsed from text: both compact to the same arrays. */
static const char two_ways_text[] =
    "kiln-ir 1\n"
    "graph @g (%x: f32[2,3]) -> (%y) {\n"
    "  const %b: f32[3] = [1.0, 2.0, 3.0]\n"
    "  const %s: f32[3] = [0.5, 0.5, 0.5]\n"
    "  %a: f32[2,3] = Add(%x, %b)\n"
    "  %y: f32[2,3] = Mul(%a, %s)\n"
    "}\n";

static kiln_graph *two_ways_by_api(kiln_ctx *ctx)
{
    kiln_graph *g = kiln_graph_create("g", "t.kir");
    kiln_shape s23 = kiln_shape_make(2, (int64_t[]){2, 3}), s3 = kiln_shape_make(1, (int64_t[]){3});
    float b[3] = {1, 2, 3}, s[3] = {0.5f, 0.5f, 0.5f}, junk[3] = {9, 9, 9};
    uint32_t x = kiln_input_add(g, "x", KILN_DT_F32, &s23);
    uint32_t y = kiln_value_add(g, "y"), dead = kiln_value_add(g, "dead");
    uint32_t sv = kiln_const_add(g, "s", KILN_DT_F32, &s3, s, sizeof s, true);
    kiln_const_add(g, "junk", KILN_DT_F32, &s3, junk, sizeof junk, true);
    uint32_t bv = kiln_const_add(g, "b", KILN_DT_F32, &s3, b, sizeof b, true);
    uint32_t a = kiln_value_add(g, "a");
    kiln_node_add(g, KILN_OP_ADD, "", (uint32_t[]){x, bv}, 2, &a, 1);
    uint32_t relu = kiln_node_add(g, KILN_OP_RELU, "", &a, 1, &dead, 1);
    kiln_node_add(g, KILN_OP_MUL, "", (uint32_t[]){a, sv}, 2, &y, 1);
    kiln_output_add(g, y);
    expect_ok(ctx, kiln_graph_infer(ctx, g));
    kiln_node_remove(g, relu);
    return g;
}

static void test_same_graph_two_ways(void)
{
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *p = parse(ctx, two_ways_text);
    kiln_graph *q = two_ways_by_api(ctx);
    compact_checked(ctx, p);
    compact_checked(ctx, q);
    expect_text(p, two_ways_text);
    expect_text(q, two_ways_text);
    CU_ASSERT_EQUAL_FATAL(p->n_values, q->n_values);
    CU_ASSERT_EQUAL_FATAL(p->n_nodes, q->n_nodes);
    CU_ASSERT_EQUAL_FATAL(p->n_operands, q->n_operands);
    CU_ASSERT_EQUAL(memcmp(p->operands, q->operands, p->n_operands * sizeof *p->operands), 0);
    for (uint32_t v = 1; v < p->n_values; v++) {
        CU_ASSERT_STRING_EQUAL(p->values[v].name, q->values[v].name);
        CU_ASSERT_EQUAL(p->values[v].kind, q->values[v].kind);
        CU_ASSERT_EQUAL(p->values[v].producer, q->values[v].producer);
    }
    for (uint32_t n = 1; n < p->n_nodes; n++) {
        CU_ASSERT_EQUAL(p->nodes[n].op, q->nodes[n].op);
        CU_ASSERT_EQUAL(p->nodes[n].in, q->nodes[n].in);
        CU_ASSERT_EQUAL(p->nodes[n].out, q->nodes[n].out);
    }
    /* numbering: x, then constants by first use (b, s), then a, y */
    CU_ASSERT_STRING_EQUAL(q->values[1].name, "x");
    CU_ASSERT_STRING_EQUAL(q->values[2].name, "b");
    CU_ASSERT_STRING_EQUAL(q->values[3].name, "s");
    CU_ASSERT_STRING_EQUAL(q->values[4].name, "a");
    CU_ASSERT_STRING_EQUAL(q->values[5].name, "y");
    kiln_graph_destroy(p);
    kiln_graph_destroy(q);
    kiln_ctx_destroy(ctx);
}

static void test_set_inputs_garbage_compacted(void)
{
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = parse(ctx, chain_text);
    expect_ok(ctx, kiln_graph_check_dense(ctx, g));
    /* the same inputs, in a fresh range: the old one is garbage */
    kiln_node_set_inputs(g, 3, (uint32_t[]){val(g, "r"), val(g, "w")}, 2);
    expect_not_dense(g, "t.kir: node producing 'y' (Mul): graph is not dense: its input range starts at 8, "
                        "the previous range ends at 5 (garbage in between)");
    CU_ASSERT_EQUAL(g->n_operands, 10);
    compact_checked(ctx, g);
    CU_ASSERT_EQUAL(g->n_operands, 8);
    expect_text(g, chain_text);
    /* set_input edits in place: still dense */
    kiln_node_set_input(g, 3, 0, val(g, "a"));
    expect_ok(ctx, kiln_graph_check_dense(ctx, g));
    CU_ASSERT_EQUAL(g->n_operands, 8);
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
}

static const char softmax_text[] =
    "kiln-ir 1\n"
    "graph @g (%x: f32[2,3]) -> (%t) {\n"
    "  %s: f32[2,3] = Softmax(%x) {axis = 1}\n"
    "  %t: f32[2,3] = Softmax(%s) {axis = -1}\n"
    "}\n";

static void test_attr_garbage_compacted(void)
{
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = parse(ctx, softmax_text);
    expect_ok(ctx, kiln_graph_check_dense(ctx, g));
    kiln_attr_set_int(g, 1, "axis", 0);
    expect_not_dense(g, "t.kir: node producing 's' (Softmax): graph is not dense: its attribute range starts at 2, "
                        "the previous range ends at 0 (garbage in between)");
    CU_ASSERT_EQUAL(g->n_attrs, 3);
    compact_checked(ctx, g);
    CU_ASSERT_EQUAL(g->n_attrs, 2);
    CU_ASSERT_EQUAL(g->nodes[1].attr, 0);
    CU_ASSERT_EQUAL(g->nodes[2].attr, 1);
    expect_text(g, "kiln-ir 1\n"
                   "graph @g (%x: f32[2,3]) -> (%t) {\n"
                   "  %s: f32[2,3] = Softmax(%x) {axis = 0}\n"
                   "  %t: f32[2,3] = Softmax(%s) {axis = -1}\n"
                   "}\n");
    /* a removed attribute leaves a slot behind */
    CU_ASSERT_TRUE(kiln_attr_remove(g, 2, "axis"));
    expect_not_dense(g, "t.kir: graph is not dense: the last 1 of 2 attributes belong to no node");
    compact_checked(ctx, g);
    CU_ASSERT_EQUAL(g->n_attrs, 1);
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
}

/* ---- the density check on planted damage ----------------------------------------- */

static void test_check_dense_catches_damage(void)
{
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = parse(ctx, chain_text);
    /* a range that overlaps the one before it */
    uint32_t saved = g->nodes[2].in;
    g->nodes[2].in = g->nodes[1].in;
    expect_not_dense(g, "t.kir: node producing 'r' (Relu): graph is not dense: its input range starts at 0, "
                        "the previous range ends at 3 (ranges overlap or out of node order)");
    g->nodes[2].in = saved;
    /* a value nothing refers to */
    uint32_t stray = kiln_value_add(g, "stray");
    char want[128];
    snprintf(want, sizeof want, "t.kir: graph is not dense: value #%u 'stray' is referred to by no node "
                                "and no graph output", stray);
    expect_not_dense(g, want);
    compact_checked(ctx, g);
    CU_ASSERT_EQUAL(kiln_graph_find_value(g, "stray"), 0);
    kiln_graph_destroy(g);
    /* an unused graph input stays, in its place */
    g = parse(ctx, "kiln-ir 1\ngraph @g (%x: f32[3], %u: f32[3]) -> (%y) {\n"
                   "  %y: f32[3] = Relu(%u)\n}\n");
    compact_checked(ctx, g);
    CU_ASSERT_EQUAL(g->n_inputs, 2);
    CU_ASSERT_EQUAL(g->inputs[0], 1);
    CU_ASSERT_STRING_EQUAL(g->values[1].name, "x");
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
}

/* ---- values ---------------------------------------------------------------------------- */

static void test_make_const_keeps_node_well_formed(void)
{
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = parse(ctx, chain_text);
    float data[6] = {1, 2, 3, 4, 5, 6};
    uint32_t a = val(g, "a");
    kiln_value_make_const(g, a, data, sizeof data);
    CU_ASSERT_EQUAL(g->values[a].kind, KILN_VAL_CONST);
    CU_ASSERT_EQUAL(g->values[a].producer, 0);
    CU_ASSERT_EQUAL(g->values[a].shape.dim[1], 3);
    /* the Add now produces a fresh anonymous value: the graph still verifies */
    uint32_t fresh = kiln_node_output(g, &g->nodes[1], 0);
    CU_ASSERT_NOT_EQUAL(fresh, a);
    CU_ASSERT_EQUAL(g->values[fresh].producer, 1);
    CU_ASSERT_STRING_EQUAL(g->values[fresh].name, "");
    expect_ok(ctx, kiln_graph_verify(ctx, g));
    kiln_node_remove(g, 1);
    compact_checked(ctx, g);
    /* a is first used by the Relu (node 1), w by the Mul (node 2) */
    expect_text(g, "kiln-ir 1\n"
                   "graph @g (%x: f32[2,3]) -> (%y) {\n"
                   "  const %a: f32[2,3] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]\n"
                   "  const %w: f32[3] = [1.0, 2.0, 3.0]\n"
                   "  %r: f32[2,3] = Relu(%a)\n"
                   "  %y: f32[2,3] = Mul(%r, %w)\n"
                   "}\n");
    kiln_value_rename(g, val(g, "r"), "relu out");
    CU_ASSERT_STRING_EQUAL(g->values[kiln_node_output(g, &g->nodes[1], 0)].name, "relu out");
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
}

static void test_forward_keeps_output_names(void)
{
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = parse(ctx, "kiln-ir 1\n"
                               "graph @g (%x: f32[2]) -> (%y, %z, %c2) {\n"
                               "  const %c: f32[2] = [1.0, 2.0]\n"
                               "  %a: f32[2] = Relu(%x)\n"
                               "  %y: f32[2] = Identity(%a)\n"
                               "  %z: f32[2] = Identity(%x)\n"
                               "  %c2: f32[2] = Identity(%c)\n"
                               "}\n");
    uint32_t x = val(g, "x"), a = val(g, "a"), y = val(g, "y"), z = val(g, "z");
    /* a graph output may not become an input or a constant under another name */
    CU_ASSERT_FALSE(kiln_value_can_forward(g, z, x));
    CU_ASSERT_FALSE(kiln_value_forward(g, z, x));
    CU_ASSERT_FALSE(kiln_value_can_forward(g, val(g, "c2"), val(g, "c")));
    CU_ASSERT_TRUE(kiln_value_can_forward(g, a, x));        /* a is no graph output */
    /* a node output takes over the graph output's name */
    CU_ASSERT_TRUE(kiln_value_forward(g, y, a));
    CU_ASSERT_EQUAL(g->outputs[0], a);
    CU_ASSERT_STRING_EQUAL(g->values[a].name, "y");
    CU_ASSERT_STRING_EQUAL(g->values[y].name, "");
    kiln_node_remove(g, 2);
    /* ...but not when it is a graph output already (two outputs, one name) */
    CU_ASSERT_FALSE(kiln_value_can_forward(g, z, a));
    compact_checked(ctx, g);
    expect_text(g, "kiln-ir 1\n"
                   "graph @g (%x: f32[2]) -> (%y, %z, %c2) {\n"
                   "  const %c: f32[2] = [1.0, 2.0]\n"
                   "  %y: f32[2] = Relu(%x)\n"
                   "  %z: f32[2] = Identity(%x)\n"
                   "  %c2: f32[2] = Identity(%c)\n"
                   "}\n");
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
}

/* ---- pattern helpers ----------------------------------------------------------------- */

static void test_pattern_helpers(void)
{
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = parse(ctx, chain_text);
    uint32_t x = val(g, "x"), w = val(g, "w"), a = val(g, "a"), r = val(g, "r"), y = val(g, "y");
    CU_ASSERT_EQUAL(kiln_match_op(g, r, KILN_OP_RELU), 2);
    CU_ASSERT_EQUAL(kiln_match_op(g, r, KILN_OP_ADD), 0);
    CU_ASSERT_EQUAL(kiln_match_op(g, a, KILN_OP_COUNT), 1);
    CU_ASSERT_EQUAL(kiln_match_op(g, x, KILN_OP_COUNT), 0);  /* a graph input */
    CU_ASSERT_EQUAL(kiln_match_op(g, w, KILN_OP_COUNT), 0);  /* a constant */
    CU_ASSERT_EQUAL(kiln_match_op(g, 0, KILN_OP_COUNT), 0);
    kiln_users *u = kiln_users_build(g);
    CU_ASSERT_EQUAL(kiln_single_user(u, a), 2);
    CU_ASSERT_EQUAL(kiln_single_user(u, r), 3);
    CU_ASSERT_EQUAL(kiln_single_user(u, w), 0);              /* two users */
    CU_ASSERT_EQUAL(kiln_single_user(u, y), 0);              /* a graph output */
    kiln_users_destroy(u);
    CU_ASSERT_PTR_EQUAL(kiln_const_input(g, 1, 1), &g->values[w]);
    CU_ASSERT_PTR_NULL(kiln_const_input(g, 1, 0));           /* x has no data */
    CU_ASSERT_PTR_NULL(kiln_const_input(g, 1, 5));           /* no such input */
    kiln_node_remove(g, 2);
    CU_ASSERT_EQUAL(kiln_match_op(g, r, KILN_OP_COUNT), 0);  /* its producer is gone */
    kiln_graph_destroy(g);
    g = parse(ctx, softmax_text);
    CU_ASSERT_TRUE(kiln_attr_int_equals(g, 1, "axis", -1, 1));
    CU_ASSERT_FALSE(kiln_attr_int_equals(g, 1, "axis", -1, -1));
    CU_ASSERT_TRUE(kiln_attr_int_equals(g, 2, "missing", 7, 7));
    CU_ASSERT_FALSE(kiln_attr_int_equals(g, 2, "missing", 7, 0));
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
}

static CU_TestInfo edit_tests[] = {
    {"users snapshot", test_users_snapshot},
    {"replace uses, remove, compact", test_replace_uses_remove_compact},
    {"the same graph two ways compacts the same", test_same_graph_two_ways},
    {"set_inputs garbage is compacted", test_set_inputs_garbage_compacted},
    {"attribute garbage is compacted", test_attr_garbage_compacted},
    {"check_dense catches planted damage", test_check_dense_catches_damage},
    {"make_const keeps the node well-formed", test_make_const_keeps_node_well_formed},
    {"forward keeps graph output names", test_forward_keeps_output_names},
    {"pattern helpers", test_pattern_helpers},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"edit", NULL, NULL, NULL, NULL, edit_tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
