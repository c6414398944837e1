/* cunit_main.h — one main() for every CUnit test program.
 *
 * A test file lists its suites in a table and ends with
 *     KILN_TEST_MAIN(suites)
 * CUnit's basic runner does not set the exit status, so main returns
 * nonzero when any test or suite failed (ctest relies on that).
 */
#ifndef KILN_CUNIT_MAIN_H
#define KILN_CUNIT_MAIN_H

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <stdio.h>

#define KILN_TEST_MAIN(suites)                                                \
    int main(void)                                                            \
    {                                                                         \
        if (CU_initialize_registry() != CUE_SUCCESS)                          \
            return 2;                                                         \
        if (CU_register_suites(suites) != CUE_SUCCESS) {                      \
            fprintf(stderr, "cannot register suites: %s\n", CU_get_error_msg()); \
            CU_cleanup_registry();                                            \
            return 2;                                                         \
        }                                                                     \
        CU_basic_set_mode(CU_BRM_NORMAL);                                     \
        CU_basic_run_tests();                                                 \
        unsigned failed = CU_get_number_of_failures() +                       \
                          CU_get_number_of_suites_failed() +                  \
                          CU_get_number_of_tests_failed();                    \
        CU_cleanup_registry();                                                \
        return failed ? 1 : 0;                                                \
    }

#endif
