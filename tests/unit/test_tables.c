/* test_tables.c — every op in ops.def has exactly one entry in each
 * per-op table (inference, evaluation); a missing one is named. */
#include "cunit_main.h"
#include "ir/infer.h"
#include "ir/interp.h"

#include <stdio.h>

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

static void test_eval_table_covers_every_op(void)
{
    const void *const *tables[] = {
        (const void *const *)kiln_eval_elementwise, (const void *const *)kiln_eval_reduce,
        (const void *const *)kiln_eval_linalg, (const void *const *)kiln_eval_movement,
    };
    check_tables("interpreter", tables, 4);
}

static void test_op_names_round_trip(void)
{
    for (int op = 0; op < KILN_OP_COUNT; op++)
        CU_ASSERT_EQUAL(kiln_op_from_name(kiln_op_name((kiln_op)op)), op);
    CU_ASSERT_EQUAL(kiln_op_from_name("NoSuchOp"), KILN_OP_COUNT);
}

static CU_TestInfo table_tests[] = {
    {"infer table covers every op", test_infer_table_covers_every_op},
    {"eval table covers every op", test_eval_table_covers_every_op},
    {"op names round-trip", test_op_names_round_trip},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"tables", NULL, NULL, NULL, NULL, table_tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
