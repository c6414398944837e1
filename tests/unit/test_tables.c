/* test_tables.c — every op in ops.def has exactly one entry in each
 * per-op table (inference, lowering), in the table of its family; a
 * missing one is named. The kernel table is complete. */
#include "cunit_main.h"
#include "ir/infer.h"
#include "ir/interp.h"
#include "ir/lower.h"

#include <stdio.h>

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

static CU_TestInfo table_tests[] = {
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
