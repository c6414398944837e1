/* test_cgen.c — the C backend's tables and text helpers:
 * every kernel has a descriptor type whose size is the kernel's desc_size,
 * every kernel is defined by some embedded runtime source (so selecting
 * files by kernel never drops one), and names from a model cannot break
 * the generated C (string literals, comments, identifiers). */
#include "../unit/cunit_main.h"
#include "backends/c/cgen_internal.h"

#include <stdlib.h>
#include <string.h>

static void test_every_kernel_has_a_desc_type(void)
{
    for (int k = 1; k < KRT_K_COUNT; k++) {
        const char *type = kiln_cgen_desc_type((krt_kernel_id)k);
        if (!type) {
            fprintf(stderr, "\n  kernel %s: no row in backends/c/cgen_kernels.c", krt_kernels[k]->name);
            CU_FAIL("kernel without a descriptor type");
            continue;
        }
        if (kiln_cgen_desc_size((krt_kernel_id)k) != krt_kernels[k]->desc_size) {
            fprintf(stderr, "\n  kernel %s: %s is %zu bytes, the kernel says %zu", krt_kernels[k]->name,
                    type, kiln_cgen_desc_size((krt_kernel_id)k), krt_kernels[k]->desc_size);
            CU_FAIL("descriptor type of the wrong size");
        }
        CU_ASSERT_PTR_NOT_NULL(kiln_cgen_desc_header((krt_kernel_id)k));
    }
}

/* Selecting one kernel keeps the source that defines it (and krt_common.c). */
static void test_every_kernel_has_a_source(void)
{
    bool *keep = calloc(kiln_cgen_n_runtime_files, sizeof *keep);
    bool none[KRT_K_COUNT] = {0};
    unsigned base = kiln_cgen_runtime_select(none, false, keep);
    for (int k = 1; k < KRT_K_COUNT; k++) {
        bool used[KRT_K_COUNT] = {0};
        used[k] = true;
        if (kiln_cgen_runtime_select(used, false, keep) <= base) {
            fprintf(stderr, "\n  kernel %s: no embedded runtime source defines it", krt_kernels[k]->name);
            CU_FAIL("kernel without a source");
        }
    }
    CU_ASSERT_PTR_NOT_NULL(kiln_cgen_find_file("krt_common.c"));
    CU_ASSERT_PTR_NOT_NULL(kiln_cgen_find_file("kiln_model.h"));
    CU_ASSERT_PTR_NOT_NULL(kiln_cgen_find_file("testbench.c.in"));
    free(keep);
}

static void test_c_string_escapes(void)
{
    cbuf b = {0};
    cbuf_c_string(&b, "a\"b\\c?\?/d\n\xc3\xa9");
    CU_ASSERT_STRING_EQUAL(b.p, "a\\\"b\\\\c\\?\\?/d\\012\\303\\251");
    cbuf_free(&b);
}

static void test_comment_escapes(void)
{
    cbuf b = {0};
    cbuf_comment(&b, "x*/y/*z?\?/\\\n\xff");
    CU_ASSERT_STRING_EQUAL(b.p, "x* /y/ *z? ?/\\x5c\\x0a\\xff");
    CU_ASSERT_PTR_NULL(strstr(b.p, "*/"));
    cbuf_free(&b);
}

static void test_identifiers(void)
{
    cbuf b = {0};
    char name[64];
    cbuf_ident(&b, 't', 12, "encoder/attn.q:0");
    CU_ASSERT_STRING_EQUAL(b.p, "t12_encoder_attn_q_0");
    cbuf_free(&b);
    cbuf_ident(&b, 'w', 3, "");
    CU_ASSERT_STRING_EQUAL(b.p, "w3");
    cbuf_free(&b);
    CU_ASSERT_STRING_EQUAL(kiln_cgen_c_name("deit-tiny.v2", name, sizeof name), "deit_tiny_v2");
    CU_ASSERT_STRING_EQUAL(kiln_cgen_c_name("3net", name, sizeof name), "m3net");
    CU_ASSERT_STRING_EQUAL(kiln_cgen_c_name("", name, sizeof name), "model");
}

static void test_flatten_includes(void)
{
    static const unsigned char text[] = "#include \"runtime/krt.h\"\nint x;\n#include <stdio.h>\n";
    kiln_cgen_file f = {"t.c", text, sizeof text - 1};
    cbuf b = {0};
    kiln_cgen_flatten_includes(&b, &f);
    CU_ASSERT_STRING_EQUAL(b.p, "#include \"krt.h\"\nint x;\n#include <stdio.h>\n");
    cbuf_free(&b);
}

static CU_TestInfo cgen_tests[] = {
    {"every kernel has a descriptor type", test_every_kernel_has_a_desc_type},
    {"every kernel has a runtime source", test_every_kernel_has_a_source},
    {"C string escapes", test_c_string_escapes},
    {"comment escapes", test_comment_escapes},
    {"identifiers", test_identifiers},
    {"flat includes", test_flatten_includes},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"cgen", NULL, NULL, NULL, NULL, cgen_tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
