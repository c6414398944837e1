/* npycmp.c — `npycmp GOT.npy WANT.npy [ATOL RTOL]`: exit 0 when the two
 * .npy files hold the same dtype, shape and bytes (headers may be spelled
 * differently: numpy writes the expected files, kiln the others), or,
 * given ATOL and RTOL, float values with |got - want| <= ATOL + RTOL *
 * |want| (NaN only for NaN); else say what differs and exit 1. */
#include "runtime/krt.h"
#include "runtime/krt_npy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int load(const char *path, krt_npy *a)
{
    char err[1024];
    if (krt_npy_read(path, a, err, sizeof err) == KRT_OK)
        return 1;
    fprintf(stderr, "npycmp: %s\n", err);
    return 0;
}

static double abs_tol = -1, rel_tol = 0;  /* abs_tol < 0: the bytes must be equal */

static int differ(const krt_npy *a, const krt_npy *b)
{
    if (a->dtype != b->dtype)
        return printf("dtype %s, expected %s\n", krt_dtype_name(a->dtype),
                      krt_dtype_name(b->dtype));
    if (a->rank != b->rank || memcmp(a->dims, b->dims, (size_t)a->rank * sizeof a->dims[0]) != 0)
        return printf("shape differs (rank %d, expected %d)\n", a->rank, b->rank);
    if (abs_tol >= 0 && a->nbytes == b->nbytes && (a->dtype == KRT_F32 || a->dtype == KRT_F64)) {
        int64_t n = (int64_t)(a->nbytes / krt_dtype_size(a->dtype));
        for (int64_t i = 0; i < n; i++) {
            double x = krt_load_f64(a->dtype, a->data, i), y = krt_load_f64(b->dtype, b->data, i);
            if (isnan(x) != isnan(y) || (!isnan(y) && !(fabs(x - y) <= abs_tol + rel_tol * fabs(y))))
                return printf("element %lld is %.9g, expected %.9g (atol %g, rtol %g)\n",
                              (long long)i, x, y, abs_tol, rel_tol);
        }
        return 0;
    }
    if (a->nbytes != b->nbytes || (a->nbytes && memcmp(a->data, b->data, a->nbytes) != 0))
        return printf("values differ\n");
    return 0;
}

int main(int argc, char **argv)
{
    krt_npy got = {0}, want = {0};
    if (argc != 3 && argc != 5) {
        fprintf(stderr, "usage: npycmp GOT.npy WANT.npy [ATOL RTOL]\n");
        return 2;
    }
    if (argc == 5)
        abs_tol = strtod(argv[3], NULL), rel_tol = strtod(argv[4], NULL);
    int bad = !load(argv[1], &got) || !load(argv[2], &want) || differ(&got, &want);
    krt_npy_free(&got);
    krt_npy_free(&want);
    return bad;
}
