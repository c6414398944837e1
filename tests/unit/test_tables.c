/* test_tables.c — every op in ops.def has exactly one entry in each
 * per-op table (inference, lowering), in the table of its family; a
 * missing one is named. The kernel table is complete. */
#include "cunit_main.h"
#include "ir/infer.h"
#include "ir/interp.h"
#include "ir/lower.h"

#include <stdio.h>
#include <string.h>

/* The family tables indexed by kiln_op_family. */
static const void *const *const infer_tables[KILN_FAMILY_COUNT] = {
    [KILN_FAMILY_ELEMENTWISE] = (const void *const *)kiln_infer_elementwise,
    [KILN_FAMILY_REDUCE] = (const void *const *)kiln_infer_reduce,
    [KILN_FAMILY_LINALG] = (const void *const *)kiln_infer_linalg,
    [KILN_FAMILY_MOVEMENT] = (const void *const *)kiln_infer_movement,
};

static const char *const family_names[KILN_FAMILY_COUNT] = {
    "elementwise", "reduce", "linalg", "movement",
};

/* Each op's inference entry sits in the table of the family ops.def gives. */
static void test_infer_entry_in_its_family(void)
{
    int wrong = 0;
    for (int op = 0; op < KILN_OP_COUNT; op++) {
        kiln_op_family f = kiln_op_infos[op].family;
        CU_ASSERT_FATAL((unsigned)f < KILN_FAMILY_COUNT);
        if (!infer_tables[f][op]) {
            fprintf(stderr, "\n  op %s: no entry in ir/infer_%s.c", kiln_op_name((kiln_op)op),
                    family_names[f]);
            wrong++;
        }
    }
    CU_ASSERT_EQUAL(wrong, 0);
}

/* Flags that contradict each other or the arity. */
static void test_op_flags_consistent(void)
{
    for (int op = 0; op < KILN_OP_COUNT; op++) {
        const kiln_op_info *i = &kiln_op_infos[op];
        if (i->flags & KILN_OPF_INPLACE)  /* in place needs an output 0 and an input */
            CU_ASSERT(i->min_out >= 1 && i->min_in >= 1);
        if (i->flags & KILN_OPF_EW)
            CU_ASSERT_EQUAL(i->family, KILN_FAMILY_ELEMENTWISE);
        CU_ASSERT((unsigned)i->domain < KILN_DOMAIN_COUNT);
    }
}

/* Counts the families that have an entry for op in tables[0..n). */
static int entries(const void *const *tables[], int n, kiln_op op)
{
    int found = 0;
    for (int i = 0; i < n; i++)
        found += tables[i][op] != NULL;
    return found;
}

static void check_tables(const char *what, const void *const *tables[], int n)
{
    int missing = 0;
    for (int op = 0; op < KILN_OP_COUNT; op++) {
        int e = entries(tables, n, (kiln_op)op);
        if (e != 1) {
            fprintf(stderr, "\n  %s: op %s has %d entries (want 1)", what, kiln_op_name((kiln_op)op), e);
            missing++;
        }
    }
    CU_ASSERT_EQUAL(missing, 0);
}

static void test_infer_table_covers_every_op(void)
{
    const void *const *tables[] = {
        (const void *const *)kiln_infer_elementwise, (const void *const *)kiln_infer_reduce,
        (const void *const *)kiln_infer_linalg, (const void *const *)kiln_infer_movement,
    };
    check_tables("shape inference", tables, 4);
}

/* Every op runs: it has exactly one lowering (ir/lower_<family>.c). */
static void test_lower_table_covers_every_op(void)
{
    const void *const *tables[] = {
        (const void *const *)kiln_lower_elementwise, (const void *const *)kiln_lower_reduce,
        (const void *const *)kiln_lower_linalg, (const void *const *)kiln_lower_movement,
    };
    check_tables("lowering", tables, 4);
}

/* A lowering sits in the table of the op's family. */
static void test_lower_entry_in_its_family(void)
{
    const void *const *lower_tables[KILN_FAMILY_COUNT] = {
        [KILN_FAMILY_ELEMENTWISE] = (const void *const *)kiln_lower_elementwise,
        [KILN_FAMILY_REDUCE] = (const void *const *)kiln_lower_reduce,
        [KILN_FAMILY_LINALG] = (const void *const *)kiln_lower_linalg,
        [KILN_FAMILY_MOVEMENT] = (const void *const *)kiln_lower_movement,
    };
    for (int op = 0; op < KILN_OP_COUNT; op++)
        for (int f = 0; f < KILN_FAMILY_COUNT; f++)
            if (lower_tables[f][op] && f != (int)kiln_op_infos[op].family) {
                fprintf(stderr, "\n  op %s: lowering in the %s table, family is %s",
                        kiln_op_name((kiln_op)op), family_names[f],
                        family_names[kiln_op_infos[op].family]);
                CU_FAIL("lowering outside its family");
            }
}

/* Every kernel id has an info with a name, a run function and a size. */
static void test_kernel_table_complete(void)
{
    CU_ASSERT_PTR_NULL(krt_kernels[KRT_K_NONE]);
    for (int k = 1; k < KRT_K_COUNT; k++) {
        CU_ASSERT_PTR_NOT_NULL_FATAL(krt_kernels[k]);
        CU_ASSERT_PTR_NOT_NULL(krt_kernels[k]->name);
        CU_ASSERT_PTR_NOT_NULL(krt_kernels[k]->run);
        CU_ASSERT(krt_kernels[k]->desc_size > 0);
    }
}

static void test_op_names_round_trip(void)
{
    char buf[64];
    for (int op = 0; op < KILN_OP_COUNT; op++)
        CU_ASSERT_EQUAL(kiln_op_from_name(kiln_op_text_name((kiln_op)op, buf, sizeof buf)), op);
    CU_ASSERT_EQUAL(kiln_op_from_name("NoSuchOp"), KILN_OP_COUNT);
}

/* Every op has a row of attribute names (ir/op_attrs.c): bare words one
 * space apart, in strictly increasing order (so none is listed twice), and
 * each is found by kiln_op_takes_attr. */
static void test_attr_table_covers_every_op(void)
{
    int bad = 0;
    for (int op = 0; op < KILN_OP_COUNT; op++) {
        const char *row = kiln_op_attrs((kiln_op)op);
        if (!row) {
            fprintf(stderr, "\n  op %s: no row in ir/op_attrs.c", kiln_op_name((kiln_op)op));
            bad++;
            continue;
        }
        char prev[64] = "", word[64];
        for (const char *p = row; *p;) {
            size_t n = strcspn(p, " ");
            CU_ASSERT_FATAL(n > 0 && n < sizeof word);
            memcpy(word, p, n);
            word[n] = 0;
            CU_ASSERT_EQUAL(strspn(word, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789"), n);
            if (strcmp(prev, word) >= 0) {
                fprintf(stderr, "\n  op %s: '%s' after '%s' (not in order, or twice)", kiln_op_name((kiln_op)op),
                        word, prev);
                bad++;
            }
            CU_ASSERT(kiln_op_takes_attr((kiln_op)op, word));
            memcpy(prev, word, n + 1);
            p += n;
            if (*p == ' ')
                CU_ASSERT(*++p != 0 && *p != ' ');
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
}

/* Whole names only; what the canonical form moved to inputs is not taken. */
static void test_op_takes_attr(void)
{
    CU_ASSERT(kiln_op_takes_attr(KILN_OP_CONV, "auto_pad")); /* first */
    CU_ASSERT(kiln_op_takes_attr(KILN_OP_CONV, "group"));
    CU_ASSERT(kiln_op_takes_attr(KILN_OP_CONV, "strides")); /* last */
    CU_ASSERT_FALSE(kiln_op_takes_attr(KILN_OP_CONV, "grou"));
    CU_ASSERT_FALSE(kiln_op_takes_attr(KILN_OP_CONV, "groups"));
    CU_ASSERT_FALSE(kiln_op_takes_attr(KILN_OP_CONV, ""));
    CU_ASSERT_FALSE(kiln_op_takes_attr(KILN_OP_CONV, "group strides"));
    CU_ASSERT_FALSE(kiln_op_takes_attr(KILN_OP_RELU, "alpha"));
    CU_ASSERT(kiln_op_takes_attr(KILN_OP_LEAKYRELU, "alpha"));
    CU_ASSERT_FALSE(kiln_op_takes_attr(KILN_OP_REDUCESUM, "axes"));
    CU_ASSERT_FALSE(kiln_op_takes_attr(KILN_OP_REDUCEMEAN, "axes")); /* an input since opset 18 */
    CU_ASSERT(kiln_op_takes_attr(KILN_OP_REDUCEMEAN, "noop_with_empty_axes"));
    CU_ASSERT_FALSE(kiln_op_takes_attr(KILN_OP_SLICE, "starts"));
    CU_ASSERT_FALSE(kiln_op_takes_attr(KILN_OP_CLIP, "min"));
    CU_ASSERT(kiln_op_takes_attr(KILN_OP_SPLIT, "num_outputs"));
    CU_ASSERT_FALSE(kiln_op_takes_attr(KILN_OP_RESIZE, "keep_aspect_ratio_policy"));
    CU_ASSERT(kiln_op_takes_attr(KILN_OP_ATTENTION, "y_shape"));
    CU_ASSERT(kiln_op_takes_attr(KILN_OP_FUSEDMATMUL, "activation"));
    CU_ASSERT_FALSE(kiln_op_takes_attr(KILN_OP_GELU, "alpha"));
    CU_ASSERT(kiln_op_takes_attr(KILN_OP_COUNT, "x")); /* no row: nothing to check against */
}

static CU_TestInfo table_tests[] = {
    {"attribute table covers every op", test_attr_table_covers_every_op},
    {"op takes attribute", test_op_takes_attr},
    {"infer table covers every op", test_infer_table_covers_every_op},
    {"lowering covers every op", test_lower_table_covers_every_op},
    {"lowering entry in its family", test_lower_entry_in_its_family},
    {"kernel table complete", test_kernel_table_complete},
    {"op names round-trip", test_op_names_round_trip},
    {"infer entry in its family", test_infer_entry_in_its_family},
    {"op flags consistent", test_op_flags_consistent},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"tables", NULL, NULL, NULL, NULL, table_tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
