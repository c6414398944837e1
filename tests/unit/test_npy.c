/* test_npy.c — .npy headers as numpy 1.24 writes them (bytes captured from
 * numpy.save), rejections with their reasons, and write/read round trips. */
#define _XOPEN_SOURCE 700
#include "cunit_main.h"
#include "runtime/krt_npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* numpy.save headers: v1.0, header length 0x76 = 118, padded to 128 bytes. */
#define HEADER(dict) "\x93NUMPY\x01\x00v\x00" dict

static krt_status parse(const char *dict_with_prefix, krt_npy *a, char *err)
{
    char buf[256];
    memset(buf, ' ', sizeof buf);
    size_t n = strlen(dict_with_prefix + 10) + 10; /* the magic holds a NUL-free prefix */
    memcpy(buf, dict_with_prefix, n);
    buf[127] = '\n';
    size_t off;
    krt_status st = krt_npy_parse_header(buf, sizeof buf, a, &off, err, 256);
    if (st == KRT_OK)
        CU_ASSERT_EQUAL(off, 128);
    return st;
}

static void test_numpy_headers(void)
{
    krt_npy a;
    char err[256];
    CU_ASSERT_EQUAL(parse(HEADER("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"), &a, err), KRT_OK);
    CU_ASSERT_EQUAL(a.dtype, KRT_F32);
    CU_ASSERT_EQUAL(a.rank, 2);
    CU_ASSERT_EQUAL(a.dims[1], 3);
    CU_ASSERT_EQUAL(a.nbytes, 24);
    CU_ASSERT_EQUAL(parse(HEADER("{'descr': '|b1', 'fortran_order': False, 'shape': (), }"), &a, err), KRT_OK);
    CU_ASSERT_EQUAL(a.dtype, KRT_BOOL);
    CU_ASSERT_EQUAL(a.rank, 0);
    CU_ASSERT_EQUAL(a.nbytes, 1);
    CU_ASSERT_EQUAL(parse(HEADER("{'descr': '<i8', 'fortran_order': False, 'shape': (5,), }"), &a, err), KRT_OK);
    CU_ASSERT_EQUAL(a.dims[0], 5);
    CU_ASSERT_EQUAL(a.nbytes, 40);
}

static void test_rejections_say_why(void)
{
    krt_npy a;
    char err[256];
    CU_ASSERT_EQUAL(parse(HEADER("{'descr': '>f4', 'fortran_order': False, 'shape': (5,), }"), &a, err), KRT_EVALUE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "big-endian"));
    CU_ASSERT_EQUAL(parse(HEADER("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }"), &a, err), KRT_EVALUE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "Fortran"));
    CU_ASSERT_EQUAL(parse(HEADER("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }"), &a, err), KRT_EVALUE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "unsupported dtype '<c8'"));
    CU_ASSERT_EQUAL(parse(HEADER("{'descr': '<f4', 'shape': (1,), }"), &a, err), KRT_EVALUE);
    CU_ASSERT_EQUAL(parse(HEADER("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }"), &a, err), KRT_EVALUE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "too large"));
    CU_ASSERT_EQUAL(parse(HEADER("{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }"), &a, err), KRT_EVALUE);
    size_t off;
    CU_ASSERT_EQUAL(krt_npy_parse_header("\x93NUMPX\x01\x00", 8, &a, &off, err, sizeof err), KRT_EVALUE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "magic"));
}

static void test_write_read_round_trip(void)
{
    char path[] = "/tmp/kiln_npy_testXXXXXX", err[256];
    int fd = mkstemp(path);
    CU_ASSERT_TRUE(fd >= 0);
    close(fd);
    int64_t dims[3] = {2, 1, 3};
    float data[6] = {1.5f, -2, 3, 4, 5, 6e-20f};
    CU_ASSERT_EQUAL(krt_npy_write(path, KRT_F32, 3, dims, data, err, sizeof err), KRT_OK);
    krt_npy a;
    CU_ASSERT_EQUAL(krt_npy_read(path, &a, err, sizeof err), KRT_OK);
    CU_ASSERT_EQUAL(a.rank, 3);
    CU_ASSERT_EQUAL(a.dims[2], 3);
    CU_ASSERT_EQUAL((uintptr_t)a.data % 64, 0);
    CU_ASSERT_EQUAL(memcmp(a.data, data, sizeof data), 0);
    krt_npy_free(&a);
    /* a truncated file is refused */
    CU_ASSERT_EQUAL(truncate(path, 128 + 20), 0);
    CU_ASSERT_EQUAL(krt_npy_read(path, &a, err, sizeof err), KRT_EVALUE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "truncated"));
    unlink(path);
    CU_ASSERT_EQUAL(krt_npy_read("/nonexistent/x.npy", &a, err, sizeof err), KRT_EVALUE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/x.npy"));
}

static CU_TestInfo npy_tests[] = {
    {"headers written by numpy", test_numpy_headers},
    {"rejections say why", test_rejections_say_why},
    {"write then read", test_write_read_round_trip},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"npy", NULL, NULL, NULL, NULL, npy_tests},
    CU_SUITE_INFO_NULL,
};

KILN_TEST_MAIN(suites)
