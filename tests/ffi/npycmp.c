/* npycmp.c — `npycmp GOT.npy WANT.npy`: exit 0 when the two .npy files
 * hold the same dtype, shape and bytes (headers may be spelled
 * differently: numpy writes the expected files, kiln the others); else
 * say what differs and exit 1. */
#include "runtime/krt_npy.h"

#include <stdio.h>
#include <string.h>

static int load(const char *path, krt_npy *a)
{
    char err[1024];
    if (krt_npy_read(path, a, err, sizeof err) == KRT_OK)
        return 1;
    fprintf(stderr, "npycmp: %s\n", err);
    return 0;
}

static int differ(const krt_npy *a, const krt_npy *b)
{
    if (a->dtype != b->dtype)
        return printf("dtype %s, expected %s\n", krt_dtype_name(a->dtype),
                      krt_dtype_name(b->dtype));
    if (a->rank != b->rank || memcmp(a->dims, b->dims, (size_t)a->rank * sizeof a->dims[0]) != 0)
        return printf("shape differs (rank %d, expected %d)\n", a->rank, b->rank);
    if (a->nbytes != b->nbytes || (a->nbytes && memcmp(a->data, b->data, a->nbytes) != 0))
        return printf("values differ\n");
    return 0;
}

int main(int argc, char **argv)
{
    krt_npy got = {0}, want = {0};
    if (argc != 3) {
        fprintf(stderr, "usage: npycmp GOT.npy WANT.npy\n");
        return 2;
    }
    int bad = !load(argv[1], &got) || !load(argv[2], &want) || differ(&got, &want);
    krt_npy_free(&got);
    krt_npy_free(&want);
    return bad;
}
