/* test_profile.c — runtime/krt_profile.c's table on made-up times: which
 * runs count (the faster half by whole-call time), the means, the op-kind
 * grouping, the order, and GFLOP/s. */
#define _POSIX_C_SOURCE 200809L
#include "cunit_main.h"
#include "runtime/krt_profile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The table into buf (NUL-terminated). */
static void report(const kiln_model_profile *p, const uint64_t *ns, const uint64_t *run_ns,
                   uint32_t runs, uint32_t top, char *buf, size_t size)
{
    FILE *f = tmpfile();
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT_EQUAL(krt_profile_report(f, "t", p, ns, run_ns, runs, top), 0);
    rewind(f);
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = 0;
    fclose(f);
}

static void test_faster_half_and_means(void)
{
    static const kiln_model_node nodes[3] = {
        {"a", "MatMul", 2e6}, {"b", "Add", 0}, {"c", "MatMul", 1e6}};
    kiln_model_profile p = {sizeof p, 3, nodes};
    /* 4 runs; run 2 was slowed (its whole call 100 us): dropped with run 3,
     * the slower of the rest. Kept: runs 0 and 1. */
    const uint64_t ns[4 * 3] = {
        1000, 200, 500,     /* run 0: 1700 */
        3000, 200, 700,     /* run 1: 3900 */
        90000, 200, 500,    /* run 2 */
        3000, 400, 900,     /* run 3: 4300 */
    };
    const uint64_t run_ns[4] = {2000, 4000, 100000, 5000};
    static char t[8192];
    report(&p, ns, run_ns, 4, 2, t, sizeof t);
    /* means over runs 0 and 1: a 2000 ns, b 200, c 600; whole call 3000 */
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "the faster 2 of 4 runs"));
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "total 0.0030 ms per run (the whole call); the 3 nodes sum to 0.0028 ms (93.3%)"));
    /* MatMul: 2 nodes, 2600 ns, 3e6 FLOP -> 1153.85 GFLOP/s; share 2600/2800 */
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "  MatMul                            2      0.0026   92.9%   1153.85\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "  Add                               1      0.0002    7.1%         -\n"));
    /* top 2 nodes, slowest first: a (2e6 FLOP in 2000 ns = 1000 GFLOP/s), then c */
    char *a = strstr(t, "\n  a "), *c = strstr(t, "\n  c ");
    CU_ASSERT(a && c && a < c);
    CU_ASSERT_PTR_NULL(strstr(t, "\n  b "));
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "top 2 of 3 nodes:"));
    CU_ASSERT(a && strstr(a, "1000.00") && strstr(a, "2000000"));
}

static void test_no_runs_refused(void)
{
    kiln_model_profile p = {sizeof p, 0, NULL};
    CU_ASSERT_EQUAL(krt_profile_report(stderr, "t", &p, NULL, NULL, 0, 20), -1);
}

static void test_clock_moves(void)
{
    uint64_t a = krt_profile_now(), b = krt_profile_now();
    CU_ASSERT(b >= a);
}

static CU_TestInfo tests[] = {
    {"the faster half, means, kinds and order", test_faster_half_and_means},
    {"no runs refused", test_no_runs_refused},
    {"the clock is monotonic", test_clock_moves},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"profile", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
