/* test_text.c — the text IR: exact expected text for a graph built through
 * the API, bit-exact round trips of every dtype, digest-only constants,
 * the weights sidecar, parse errors (message and position) and a small
 * fuzzer (random mutations of valid texts must never crash the parser, and
 * whatever parses must round-trip).
 *
 * Expected texts and digests were written by hand / computed with Python
 * (FNV-1a reference loop), not copied from the printer.
 */
#define _POSIX_C_SOURCE 200809L
#include "cunit_main.h"
#include "ir/interp.h"
#include "ir/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers -------------------------------------------------------------- */

static kiln_graph *parse_ok(kiln_ctx *ctx, const char *text, const char *path)
{
    kiln_graph *g = NULL;
    kiln_status st = kiln_text_parse(ctx, text, strlen(text), path, &g);
    if (st != KILN_OK)
        fprintf(stderr, "\n  unexpected parse error: %s\n", kiln_ctx_message(ctx));
    CU_ASSERT_EQUAL_FATAL(st, KILN_OK);
    return g;
}

/* format(parse(text)) must equal text, byte for byte. */
static void check_fixed_point(const char *text)
{
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = parse_ok(ctx, text, "t.kir");
    char *again = kiln_text_format(g);
    if (strcmp(again, text) != 0)
        fprintf(stderr, "\n--- want\n%s--- got\n%s", text, again);
    CU_ASSERT_STRING_EQUAL(again, text);
    free(again);
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
}

static uint64_t rng_next(uint64_t *s)  /* xorshift64*, state owned by the test */
{
    *s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

/* ---- digest ----------------------------------------------------------------- */

static void test_digest_vectors(void)
{
    /* published FNV-1a 64 test vectors */
    CU_ASSERT_EQUAL(kiln_digest("", 0), 0xcbf29ce484222325ull);
    CU_ASSERT_EQUAL(kiln_digest("a", 1), 0xaf63dc4c8601ec8cull);
    CU_ASSERT_EQUAL(kiln_digest("foobar", 6), 0x85944171f73967e8ull);
}

/* ---- a graph built through the API, printed ------------------------------------ */

/* attr_kinds: the Identity carries one attribute of every kind, which the
 * printer must write; the parser refuses them (Identity takes none), so
 * the texts that are parsed are built without. */
static kiln_graph *build_sample(bool attr_kinds)
{
    kiln_graph *g = kiln_graph_create("tiny net", "t.kir");
    kiln_graph_add_opset(g, "", 17);
    kiln_graph_add_opset(g, "com.microsoft", 1);
    uint32_t N = kiln_graph_symbol(g, "N"), s1 = kiln_graph_symbol(g, NULL), s2 = kiln_graph_symbol(g, NULL);
    kiln_shape xs = {.rank = 3, .dim = {KILN_DIM_SYM(N), 3, KILN_DIM_SYM(s2)}};
    kiln_shape ms = {.rank = 2, .dim = {KILN_DIM_SYM(N), KILN_DIM_SYM(s1)}};
    uint32_t x = kiln_input_add(g, "x", KILN_DT_F32, &xs);
    uint32_t m = kiln_input_add(g, "mask:0", KILN_DT_BOOL, &ms);
    (void)m;
    float scale[3] = {0.5f, -0.0f, 1e-45f};
    int64_t shape[2] = {-1, 6};
    float w[20];
    for (int i = 0; i < 20; i++)
        w[i] = 0.5f * (float)i;
    uint8_t bytes[2] = {0, 255};
    kiln_shape s3 = kiln_shape_make(1, (int64_t[]){3}), s2d = kiln_shape_make(1, (int64_t[]){2});
    kiln_shape s20 = kiln_shape_make(1, (int64_t[]){20});
    uint32_t c_scale = kiln_const_add(g, "scale", KILN_DT_F32, &s3, scale, sizeof scale, true);
    uint32_t c_shape = kiln_const_add(g, "shape", KILN_DT_I64, &s2d, shape, sizeof shape, true);
    kiln_const_add(g, "w", KILN_DT_F32, &s20, w, sizeof w, true);
    kiln_const_add(g, "", KILN_DT_U8, &s2d, bytes, sizeof bytes, true);

    uint32_t y = kiln_value_add(g, "y"), a = kiln_value_add(g, "a"), b = kiln_value_add(g, "b");
    uint32_t r = kiln_value_add(g, ""), out = kiln_value_add(g, "out");
    g->values[y].dtype = g->values[a].dtype = g->values[b].dtype = g->values[r].dtype = KILN_DT_F32;
    g->values[y].shape = xs;
    g->values[a].shape = (kiln_shape){.rank = 3, .dim = {KILN_DIM_SYM(N), 1, KILN_DIM_SYM(s2)}};
    g->values[b].shape = (kiln_shape){.rank = 3, .dim = {KILN_DIM_SYM(N), 2, KILN_DIM_SYM(s2)}};
    g->values[r].shape = (kiln_shape){.rank = 2, .dim = {KILN_DIM_SYM(N), 6}};
    kiln_node_add(g, KILN_OP_MUL, "/blocks.0/Mul", (uint32_t[]){x, c_scale}, 2, &y, 1);
    uint32_t split = kiln_node_add(g, KILN_OP_SPLIT, "", (uint32_t[]){y, 0}, 2, (uint32_t[]){a, b}, 2);
    kiln_attr_set_int(g, split, "axis", 1);
    uint32_t reshape = kiln_node_add(g, KILN_OP_RESHAPE, "", (uint32_t[]){a, c_shape}, 2, &r, 1);
    kiln_attr_set_int(g, reshape, "allowzero", 0);
    uint32_t id = kiln_node_add(g, KILN_OP_IDENTITY, "", &r, 1, &out, 1);
    if (!attr_kinds)
        goto done;
    kiln_attr_set_float(g, id, "f", 0.1f);
    kiln_attr_set_int(g, id, "i", -7);
    kiln_attr_set_string(g, id, "s", "a\"b\\c\n");
    kiln_attr_set_ints(g, id, "ints", (int64_t[]){1, -2}, 2);
    kiln_attr_set_floats(g, id, "floats", (float[]){1.0f, 0.25f}, 2);
    kiln_attr_set_strings(g, id, "strings", (const char *[]){"x", "y z"}, 2);
    kiln_attr_set_ints(g, id, "e", NULL, 0);
    kiln_tensor t = {.dtype = KILN_DT_I32, .shape = kiln_shape_make(1, (int64_t[]){2}),
                     .data = (int32_t[]){3, -4}, .nbytes = 8};
    kiln_attr_set_tensor(g, id, "t", &t);
    kiln_attr_set_int(g, id, "odd name", 1);
done:
    kiln_output_add(g, out);
    kiln_output_add(g, b);
    return g;
}

#define SAMPLE_HEAD                                                                                   \
    "kiln-ir 1\n"                                                                                     \
    "graph @\"tiny net\" opset(\"\"=17, \"com.microsoft\"=1) (%x: f32[N,3,?1], %\"mask:0\": bool[N,?2])" \
    " -> (%out, %b) {\n"                                                                              \
    "  const %scale: f32[3] = [0.5, -0.0, 1e-45]\n"                                                   \
    "  const %shape: i64[2] = [-1, 6]\n"                                                              \
    "  const %w: f32[20] digest 4dec23726a3ba098\n"                                                   \
    "  const %~1: u8[2] = [0, 255]\n"                                                                 \
    "  %y: f32[N,3,?1] = Mul(%x, %scale) #/blocks.0/Mul\n"                                            \
    "  %a: f32[N,1,?1], %b: f32[N,2,?1] = Split(%y, _) {axis = 1}\n"                                  \
    "  %~2: f32[N,6] = Reshape(%a, %shape) {allowzero = 0}\n"

/* build_sample(true) printed */
static const char sample_text[] =
    SAMPLE_HEAD
    "  %out = Identity(%~2) {e = ints[], f = 0.1, floats = [1.0, 0.25], i = -7, ints = [1, -2], "
    "\"odd name\" = 1, s = \"a\\\"b\\\\c\\n\", strings = [\"x\", \"y z\"], t = i32[2] [3, -4]}\n"
    "}\n";

/* build_sample(false) printed: what the parse tests read */
static const char parse_text[] = SAMPLE_HEAD "  %out = Identity(%~2)\n}\n";

static void test_format_sample(void)
{
    kiln_graph *g = build_sample(true);
    char *text = kiln_text_format(g);
    if (strcmp(text, sample_text) != 0)
        fprintf(stderr, "\n--- want\n%s--- got\n%s", sample_text, text);
    CU_ASSERT_STRING_EQUAL(text, sample_text);
    free(text);
    kiln_graph_destroy(g);
}

static void test_parse_sample_structure(void)
{
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = parse_ok(ctx, parse_text, "t.kir");
    CU_ASSERT_STRING_EQUAL(g->name, "tiny net");
    CU_ASSERT_EQUAL(g->n_inputs, 2);
    CU_ASSERT_EQUAL(g->n_outputs, 2);
    CU_ASSERT_EQUAL(g->n_nodes, 5);
    CU_ASSERT_EQUAL(kiln_graph_opset(g, "com.microsoft"), 1);
    uint32_t w = kiln_graph_find_value(g, "w");
    CU_ASSERT_PTR_NULL(g->values[w].data);            /* elided */
    CU_ASSERT_EQUAL(g->values[w].nbytes, 80);
    CU_ASSERT_EQUAL(g->values[w].digest, 0x4dec23726a3ba098ull);
    uint32_t scale = kiln_graph_find_value(g, "scale");
    const uint32_t *bits = g->values[scale].data;
    CU_ASSERT_EQUAL(bits[0], 0x3f000000u);            /* 0.5 */
    CU_ASSERT_EQUAL(bits[1], 0x80000000u);            /* -0.0 */
    CU_ASSERT_EQUAL(bits[2], 0x00000001u);            /* smallest denormal */
    const kiln_node *split = &g->nodes[2];
    CU_ASSERT_EQUAL(split->op, KILN_OP_SPLIT);
    CU_ASSERT_EQUAL(split->n_in, 2);
    CU_ASSERT_EQUAL(kiln_node_input(g, split, 1), 0); /* absent */
    CU_ASSERT_EQUAL(g->nodes[4].n_attr, 0);
    /* the two anonymous dims stay two different symbols */
    kiln_value *x = &g->values[g->inputs[0]];
    kiln_value *m = &g->values[g->inputs[1]];
    CU_ASSERT_NOT_EQUAL(x->shape.dim[2], m->shape.dim[1]);
    CU_ASSERT_EQUAL(x->shape.dim[0], m->shape.dim[0]);  /* N is N */
    CU_ASSERT_STRING_EQUAL(g->values[kiln_node_output(g, &g->nodes[3], 0)].name, "");
    kiln_graph_destroy(g);
    /* the printer's every-kind sample is refused: Identity takes no attribute */
    CU_ASSERT_EQUAL(kiln_text_parse(ctx, sample_text, strlen(sample_text), "t.kir", &g), KILN_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(kiln_ctx_message(ctx), "t.kir:10:25: node producing 'out' (Identity): "
                                                         "attribute 'e' is not one Identity takes; it takes none"));
    kiln_ctx_destroy(ctx);
    check_fixed_point(parse_text);
}

/* ---- exact literals ------------------------------------------------------------ */

/* A 16-element constant of dtype dt with random bit patterns (NaN payloads,
 * denormals, infinities included) must come back bit for bit. */
static void roundtrip_random_bits(kiln_dtype dt, uint64_t seed)
{
    size_t size = kiln_dtype_size(dt);
    unsigned char data[16 * 8];
    for (int k = 0; k < 16; k++) {
        uint64_t r = rng_next(&seed);
        if (k == 0)  /* a signalling NaN with a payload */
            r = dt == KILN_DT_F64 ? 0x7ff0000000000123ull : dt == KILN_DT_F32 ? 0xff800123u : 0xfc03u;
        if (dt == KILN_DT_BF16 && k == 0)
            r = 0xff81u;
        memcpy(data + k * size, &r, size);
    }
    kiln_graph *g = kiln_graph_create("bits", "b.kir");
    kiln_shape s = kiln_shape_make(1, (int64_t[]){16});
    uint32_t c = kiln_const_add(g, "c", dt, &s, data, 16 * size, true);
    kiln_output_add(g, c);
    char *text = kiln_text_format(g);
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *back = parse_ok(ctx, text, "b.kir");
    uint32_t c2 = kiln_graph_find_value(back, "c");
    CU_ASSERT_EQUAL(back->values[c2].nbytes, 16 * size);
    CU_ASSERT_EQUAL(memcmp(back->values[c2].data, data, 16 * size), 0);
    if (memcmp(back->values[c2].data, data, 16 * size))
        fprintf(stderr, "\n  %s literal did not round-trip:\n%s", kiln_dtype_name(dt), text);
    free(text);
    kiln_graph_destroy(back);
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
}

static void test_float_bits_roundtrip(void)
{
    static const kiln_dtype dts[] = {KILN_DT_F32, KILN_DT_F64, KILN_DT_F16, KILN_DT_BF16};
    for (size_t i = 0; i < sizeof dts / sizeof dts[0]; i++)
        for (uint64_t seed = 1; seed <= 200; seed++)
            roundtrip_random_bits(dts[i], seed * 0x9e3779b97f4a7c15ull);
}

static void test_int_bits_roundtrip(void)
{
    static const kiln_dtype dts[] = {KILN_DT_I8, KILN_DT_I16, KILN_DT_I32, KILN_DT_I64, KILN_DT_U8,
                                     KILN_DT_U16, KILN_DT_U32, KILN_DT_U64, KILN_DT_BOOL};
    for (size_t i = 0; i < sizeof dts / sizeof dts[0]; i++)
        for (uint64_t seed = 1; seed <= 20; seed++)
            roundtrip_random_bits(dts[i], seed * 0x9e3779b97f4a7c15ull);
}

static void test_short_float_text(void)
{
    /* shortest decimals that read back exactly (values checked with numpy) */
    check_fixed_point("kiln-ir 1\ngraph @g () -> (%c) {\n"
                      "  const %c: f32[6] = [0.1, 100.0, 1000000.0, 1e+07, 0.33333334, 1.5e-05]\n"
                      "  const %d: f64[2] = [0.1, 0.30000000000000004]\n"
                      "  const %h: f16[3] = [0.1, 65504.0, -inf]\n"
                      "  const %e: bf16[2] = [nan, -nan]\n"
                      "  const %u: u64[1] = [18446744073709551615]\n"
                      "  const %i: i64[1] = [-9223372036854775808]\n"
                      "  const %b: bool[3] = [true, false, 7]\n"
                      "  const %z: f32[0] = []\n"
                      "  const %s: i32[] = [42]\n"
                      "}\n");
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = parse_ok(ctx, "kiln-ir 1\ngraph @g () -> () {\n  const %h: f16[1] = [0.1]\n}\n", "t.kir");
    CU_ASSERT_EQUAL(*(const uint16_t *)g->values[1].data, 11878);  /* numpy: float16(0.1) */
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
}

/* ---- names ------------------------------------------------------------------------ */

static void test_names_and_duplicates(void)
{
    kiln_graph *g = kiln_graph_create("g", "n.kir");
    kiln_shape s = kiln_shape_make(1, (int64_t[]){2});
    uint32_t x = kiln_input_add(g, "x", KILN_DT_F32, &s);
    uint32_t d1 = kiln_value_add(g, "dup"), d2 = kiln_value_add(g, "dup"), u = kiln_value_add(g, "\xc3\xa9t\xc3\xa9 1");
    kiln_node_add(g, KILN_OP_RELU, "n 1", &x, 1, &d1, 1);
    kiln_node_add(g, KILN_OP_RELU, "", &d1, 1, &d2, 1);
    kiln_node_add(g, KILN_OP_ADD, "", (uint32_t[]){d1, d2}, 2, &u, 1);
    kiln_output_add(g, u);
    char *text = kiln_text_format(g);
    /* the second "dup" is printed anonymous: the text stays unambiguous */
    const char *want = "kiln-ir 1\ngraph @g (%x: f32[2]) -> (%\"\xc3\xa9t\xc3\xa9 1\") {\n"
                       "  %dup = Relu(%x) #\"n 1\"\n"
                       "  %~1 = Relu(%dup)\n"
                       "  %\"\xc3\xa9t\xc3\xa9 1\" = Add(%dup, %~1)\n"
                       "}\n";
    CU_ASSERT_STRING_EQUAL(text, want);
    check_fixed_point(text);
    free(text);
    kiln_graph_destroy(g);
}

static void test_forward_references(void)
{
    /* nodes out of order still parse (the verifier reports the order) */
    check_fixed_point("kiln-ir 1\ngraph @g (%x: f32[2]) -> (%b) {\n"
                      "  %b = Relu(%a)\n"
                      "  %a = Relu(%x)\n"
                      "  Identity(%b)\n"
                      "}\n");
}

/* ---- digest-only constants and the sidecar --------------------------------------------- */

static void test_elided_const_cannot_run(void)
{
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = parse_ok(ctx, "kiln-ir 1\ngraph @g (%x: f32[20]) -> (%y) {\n"
                                  "  const %w: f32[20] digest 4dec23726a3ba098\n"
                                  "  %y: f32[20] = Add(%x, %w)\n}\n", "e.kir");
    CU_ASSERT_EQUAL(kiln_graph_check_data(ctx, g), KILN_ERR_INVALID);
    CU_ASSERT_STRING_EQUAL(kiln_ctx_message(ctx),
                           "e.kir: constant 'w' has no data: its bytes were left out of the text IR "
                           "(digest only); save the graph with 'kiln dump -o FILE' to keep them");
    float x[20] = {0};
    kiln_tensor in = {.dtype = KILN_DT_F32, .shape = kiln_shape_make(1, (int64_t[]){20}), .data = x,
                      .nbytes = sizeof x};
    kiln_tensor out[1];
    kiln_ctx_clear(ctx);
    CU_ASSERT_EQUAL(kiln_interp_run(ctx, g, &in, 1, out), KILN_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(kiln_ctx_message(ctx), "constant 'w' has no data"));
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *p = malloc(1 << 20);
    *len = fread(p, 1, 1 << 20, f);
    fclose(f);
    return p;
}

static void test_save_and_load_with_sidecar(void)
{
    char dir[] = "/tmp/kiln_text_XXXXXX", path[256], side[300];
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/m.kir", dir);
    snprintf(side, sizeof side, "%s.weights", path);
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = build_sample(false);
    CU_ASSERT_EQUAL_FATAL(kiln_text_save(ctx, g, path), KILN_OK);
    size_t tlen = 0, slen = 0;
    char *text = slurp(path, &tlen), *weights = slurp(side, &slen);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_PTR_NOT_NULL_FATAL(weights);
    /* header (15 bytes) padded to 64, then the 80 bytes of %w */
    CU_ASSERT_EQUAL(slen, 64 + 80);
    CU_ASSERT_EQUAL(memcmp(weights, "kiln-weights 1\n", 15), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "const %w: f32[20] digest 4dec23726a3ba098 sidecar(64, 80)\n"));
    kiln_graph *back = NULL;
    CU_ASSERT_EQUAL_FATAL(kiln_text_load(ctx, path, &back), KILN_OK);
    uint32_t w = kiln_graph_find_value(back, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(back->values[w].data);
    const float *wd = back->values[w].data;
    for (int i = 0; i < 20; i++)
        CU_ASSERT_EQUAL(wd[i], 0.5f * (float)i);
    kiln_graph_destroy(back);

    /* a changed byte in the sidecar is caught by the digest */
    weights[64 + 5] ^= 1;
    FILE *f = fopen(side, "wb");
    fwrite(weights, 1, slen, f);
    fclose(f);
    CU_ASSERT_EQUAL(kiln_text_load(ctx, path, &back), KILN_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(kiln_ctx_message(ctx), "do not match the digest"));
    CU_ASSERT_PTR_NULL(back);
    unlink(side);
    CU_ASSERT_EQUAL(kiln_text_load(ctx, path, &back), KILN_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(kiln_ctx_message(ctx), "m.kir.weights: cannot open"));
    unlink(path);
    rmdir(dir);
    free(text);
    free(weights);
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
}

static void test_save_small_graph_has_no_sidecar(void)
{
    char dir[] = "/tmp/kiln_text_XXXXXX", path[256], side[300];
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/s.kir", dir);
    snprintf(side, sizeof side, "%s.weights", path);
    kiln_ctx *ctx = kiln_ctx_create();
    kiln_graph *g = parse_ok(ctx, "kiln-ir 1\ngraph @g () -> (%c) {\n  const %c: i8[2] = [1, -1]\n}\n", "s.kir");
    CU_ASSERT_EQUAL(kiln_text_save(ctx, g, path), KILN_OK);
    CU_ASSERT_EQUAL(access(path, R_OK), 0);
    CU_ASSERT_NOT_EQUAL(access(side, F_OK), 0);
    /* nothing left behind under a temporary name */
    char cmd[400];
    snprintf(cmd, sizeof cmd, "test $(ls %s | wc -l) -eq 1", dir);
    CU_ASSERT_EQUAL(system(cmd), 0);
    unlink(path);
    rmdir(dir);
    kiln_graph_destroy(g);
    kiln_ctx_destroy(ctx);
}

/* ---- parse errors ------------------------------------------------------------------------- */

static const struct bad_text {
    const char *text;
    const char *message;
} bad_texts[] = {
    {"", "e.kir:1:1: expected 'kiln-ir 1' on the first line"},
    {"kiln-ir 2\ngraph @g () -> () {\n}\n",
     "e.kir:1:1: unsupported text IR version 'kiln-ir 2' (this kiln reads 'kiln-ir 1')"},
    {"kiln-ir 1\ngraph @g () -> (%y) {\n}\n", "e.kir:2:17: value '%y' is used but never defined"},
    {"kiln-ir 1\ngraph @g () -> (%~3) {\n}\n", "e.kir:2:17: value '%~3' is used but never defined"},
    {"kiln-ir 1\ngraph @g (%x: f32[2]) -> (%y) {\n  %y = Foo(%x)\n}\n", "e.kir:3:8: unknown operator 'Foo'"},
    {"kiln-ir 1\ngraph @g (%x: f32[2]) -> (%x) {\n  %x = Relu(%x)\n}\n",
     "e.kir:3:3: value '%x' is defined twice (first at line 2, column 11)"},
    {"kiln-ir 1\ngraph @g (%x: f31[2]) -> (%x) {\n}\n",
     "e.kir:2:15: expected a dtype (f32 f64 f16 bf16 i8 i16 i32 i64 u8 u16 u32 u64 bool or ?), got 'f31'"},
    {"kiln-ir 1\ngraph @g () -> () {\n  const %c: f32[3] = [1, 2]\n}\n",
     "e.kir:3:22: 2 elements given, the type has 3"},
    {"kiln-ir 1\ngraph @g () -> () {\n  const %c: i8[1] = [200]\n}\n",
     "e.kir:3:22: integer '200' out of range [-128, 127]"},
    {"kiln-ir 1\ngraph @g (%x: f32[2]) -> (%y) {\n  %y = Relu(%x) #\"abc\n}\n", "e.kir:3:17: unterminated string"},
    {"kiln-ir 1\ngraph @g (%x: f32[2]) -> (%y) {\n  %y = Relu(%x)\n",
     "e.kir:4:1: expected '}' to close the graph, got end of input"},
    {"kiln-ir 1\ngraph @g (%x: f32[1,1,1,1,1,1,1,1,1]) -> () {\n}\n",
     "e.kir:2:35: more than 8 dimensions (kiln's maximum rank)"},
    {"kiln-ir 1\ngraph @g () -> () {\n  const %w: f32[20] digest 4dec23726a3ba098 sidecar(0, 80)\n}\n",
     "e.kir:3:45: this constant is in the weights sidecar: e.kir.weights: cannot open: No such file or directory"},
    {"kiln-ir 1\ngraph @g () -> () {\n  const %w: f32[20] digest 12ab\n}\n",
     "e.kir:3:28: expected a digest of 16 hex digits after 'digest'"},
    {"kiln-ir 1\ngraph @g (%x: f32[2]) -> (%y) {\n  %y = Relu(%x) {a = []}\n}\n",
     "e.kir:3:22: an empty list needs its kind: ints[], floats[] or strings[]"},
    {"kiln-ir 1\ngraph @g (%x: f32[2]) -> (%y) {\n  %y = Relu(%x) {a = 1, a = 2}\n}\n",
     "e.kir:3:25: attribute 'a' is given twice"},
    /* an attribute the op does not take: named at its place, with the node (named after the
     * attributes) and what the op takes */
    {"kiln-ir 1\ngraph @g (%x: f32[2]) -> (%y) {\n  %y = Relu(%x) {alpha = 1} #r\n}\n",
     "e.kir:3:18: node 'r' (Relu): attribute 'alpha' is not one Relu takes; it takes none (an attribute of "
     "an older opset may be an input in kiln's IR: docs/canonical-forms.md)"},
    {"kiln-ir 1\ngraph @g (%x: f32[2]) -> (%y) {\n  %y = HardSigmoid(%x) {alpha = 1,\n  gamma = 2, x = 3}\n}\n",
     "e.kir:4:3: node producing 'y' (HardSigmoid): attribute 'gamma' is not one HardSigmoid takes; it takes "
     "alpha, beta (an attribute of an older opset may be an input in kiln's IR: docs/canonical-forms.md)"},
    {"kiln-ir 1\ngraph @g (%x: f32[2]) -> (%y) {\n  %y = kiln.Gelu(%x) {approximate = \"tanh\", \"a\\tb\" = 1}\n}\n",
     "e.kir:3:45: node producing 'y' (kiln.Gelu): attribute 'a\\x09b' is not one kiln.Gelu takes; it takes "
     "approximate (an attribute of an older opset may be an input in kiln's IR: docs/canonical-forms.md)"},
    {"kiln-ir 1\ngraph @g (%x: f32[2]) -> (%y) {\n  %y = Relu(%x)\n}\nx",
     "e.kir:5:1: expected end of input after the graph, got 'x'"},
    {"kiln-ir 1\ngraph @g (%x: f32[2]) -> (%y) {\n  %y = Relu(%x) $\n}\n", "e.kir:3:17: unexpected character '$'"},
    {"kiln-ir 1\ngraph @g () -> () {\n  const %c: f32[1] = [nan(0x1)]\n}\n",
     "e.kir:3:27: '0x1' is not the bit pattern of a f32 NaN"},
    {"kiln-ir 1\ngraph @g (%x: f32[2]) -> (%y) {\n  _ = Relu(%x)\n}\n",
     "e.kir:3:3: expected a node, 'const' or '}', got '_'"},
    {"kiln-ir 1\ngraph @g (%x: f32[2], %x: f32[2]) -> () {\n}\n",
     "e.kir:2:23: graph input '%x' is given twice"},
    {"kiln-ir 1\ngraph @g (%x: f32[N]) -> () {\n  const %c: f32[N] = [1]\n}\n",
     "e.kir:3:9: a tensor needs a known dtype and a static shape"},
    {"kiln-ir 1\ngraph @g (%x: f32[2]) -> (%y) {\n  %y = Relu(%x, %x {}\n}\n", "e.kir:3:20: expected ')', got '{'"},
};

static void test_parse_errors(void)
{
    kiln_ctx *ctx = kiln_ctx_create();
    for (size_t i = 0; i < sizeof bad_texts / sizeof bad_texts[0]; i++) {
        kiln_graph *g = (kiln_graph *)&g;  /* must be reset to NULL */
        kiln_status st = kiln_text_parse(ctx, bad_texts[i].text, strlen(bad_texts[i].text), "e.kir", &g);
        CU_ASSERT_EQUAL(st, KILN_ERR_INVALID);
        CU_ASSERT_PTR_NULL(g);
        if (strcmp(kiln_ctx_message(ctx), bad_texts[i].message) != 0)
            fprintf(stderr, "\n  case %zu:\n    want %s\n    got  %s\n", i, bad_texts[i].message,
                    kiln_ctx_message(ctx));
        CU_ASSERT_STRING_EQUAL(kiln_ctx_message(ctx), bad_texts[i].message);
        kiln_ctx_clear(ctx);
    }
    kiln_ctx_destroy(ctx);
}

/* ---- fuzzing ------------------------------------------------------------------------------- */

static const char *const fuzz_tokens[] = {
    "%", "@", "#", "[", "]", "{", "}", "(", ")", ",", "=", ":", "_", "\"", "\\", "?", "?1", "*",
    "nan(", "0x", "-", "->", "1e999", "99999999999999999999", "const ", "digest ", "sidecar(64, 80)",
    "f16", "bool", "ints[", "\n", ";", "%~1", "Split", "\x00", "\xff", "-0.0", "inf",
};

static size_t mutate(char *buf, size_t len, size_t cap, uint64_t *rng)
{
    int edits = 1 + (int)(rng_next(rng) % 4);
    for (int e = 0; e < edits && len > 0; e++) {
        size_t at = rng_next(rng) % len, n = 1 + rng_next(rng) % 8;
        switch (rng_next(rng) % 4) {
        case 0: buf[at] = (char)(rng_next(rng) & 0xff); break;               /* flip a byte */
        case 1: if (at + n > len) n = len - at;                               /* delete */
                memmove(buf + at, buf + at + n, len - at - n), len -= n; break;
        case 2: if (len + n < cap && at + n <= len) {                          /* duplicate */
                    memmove(buf + at + n, buf + at, len - at), len += n; } break;
        default: {                                                             /* insert a token */
            const char *t = fuzz_tokens[rng_next(rng) % (sizeof fuzz_tokens / sizeof *fuzz_tokens)];
            size_t k = strlen(t) ? strlen(t) : 1;
            if (len + k < cap) {
                memmove(buf + at + k, buf + at, len - at);
                memcpy(buf + at, t, k);
                len += k;
            }
        }
        }
    }
    return len;
}

/* Whatever parses must print, parse again and print the same. */
static void check_parsed(kiln_ctx *ctx, kiln_graph *g, int *roundtrips)
{
    char *t1 = kiln_text_format(g), *t2 = NULL;
    kiln_graph *g2 = NULL;
    kiln_status st = kiln_text_parse(ctx, t1, strlen(t1), "fuzz2.kir", &g2);
    if (st != KILN_OK)
        fprintf(stderr, "\n  reparse failed: %s\n%s", kiln_ctx_message(ctx), t1);
    CU_ASSERT_EQUAL(st, KILN_OK);
    if (st == KILN_OK) {
        t2 = kiln_text_format(g2);
        CU_ASSERT_STRING_EQUAL(t1, t2);
        if (strcmp(t1, t2))
            fprintf(stderr, "\n--- first\n%s--- second\n%s", t1, t2);
        (*roundtrips)++;
    }
    free(t1);
    free(t2);
    kiln_graph_destroy(g2);
}

static void test_fuzz_parser(void)
{
    const char *seeds[] = {parse_text,
                           "kiln-ir 1\ngraph @g opset(\"\"=17) (%x: f32[N,4], %y: f32[N,4]) -> (%z) {\n"
                           "  const %c: f32[4] = [1.0, 2.0, 3.0, 4.0]\n"
                           "  %s: f32[N,4] = Add(%x, %y)\n  %t: f32[N,4] = Mul(%s, %c) #mul\n"
                           "  %z: f32[N,4] = LeakyRelu(%t) {alpha = nan(0x7fc00001)}\n}\n"};
    kiln_ctx *ctx = kiln_ctx_create();
    uint64_t rng = 0x1234567887654321ull;
    int parsed = 0, roundtrips = 0;
    enum { CAP = 4096 };
    for (int iter = 0; iter < 6000; iter++) {
        const char *seed = seeds[iter % 2];
        char work[CAP];
        size_t len = strlen(seed);
        memcpy(work, seed, len);
        len = mutate(work, len, CAP, &rng);
        char *exact = malloc(len ? len : 1);  /* no terminator: overreads show under ASan */
        memcpy(exact, work, len);
        kiln_graph *g = NULL;
        if (kiln_text_parse(ctx, exact, len, "fuzz.kir", &g) == KILN_OK) {
            parsed++;
            check_parsed(ctx, g, &roundtrips);
            kiln_graph_destroy(g);
        } else {
            CU_ASSERT_PTR_NULL(g);
            CU_ASSERT_PTR_NOT_NULL(strstr(kiln_ctx_message(ctx), "fuzz.kir"));
        }
        kiln_ctx_clear(ctx);
        free(exact);
    }
    CU_ASSERT(parsed > 0);  /* some mutations (in comments, names, numbers) stay valid */
    CU_ASSERT_EQUAL(roundtrips, parsed);
    kiln_ctx_destroy(ctx);
}

static CU_TestInfo text_tests[] = {
    {"digest matches FNV-1a test vectors", test_digest_vectors},
    {"format of an API-built graph", test_format_sample},
    {"parse gives the graph back", test_parse_sample_structure},
    {"float literals round-trip bit for bit", test_float_bits_roundtrip},
    {"integer literals round-trip", test_int_bits_roundtrip},
    {"shortest float text", test_short_float_text},
    {"quoted and duplicate names", test_names_and_duplicates},
    {"forward references", test_forward_references},
    {"elided constants cannot run", test_elided_const_cannot_run},
    {"save and load with a sidecar", test_save_and_load_with_sidecar},
    {"save without large constants", test_save_small_graph_has_no_sidecar},
    {"parse errors name file:line:col", test_parse_errors},
    {"fuzzed texts never crash and round-trip", test_fuzz_parser},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"text", NULL, NULL, NULL, NULL, text_tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
