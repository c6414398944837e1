/* classify.c — the demo's last step: turn logits into class predictions
 * and compare them with the true labels.
 *
 *   fmnist_classify LOGITS.npy LABELS.npy CLASSES.txt
 *
 * LOGITS is f32 [N, C] (what `kiln run` wrote), LABELS is i64 [N], CLASSES
 * has C lines. Prints one line per image (predicted vs true) and the
 * accuracy; exits 1 on malformed input. Uses only the runtime's .npy
 * reader, as a program embedding a kiln-compiled model would.
 */
#include "runtime/krt_npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_CLASSES = 64 };

static int load_classes(const char *path, char names[][64], int max)
{
    FILE *f = fopen(path, "r");
    int n = 0;
    if (!f)
        return -1;
    while (n < max && fgets(names[n], 64, f)) {
        names[n][strcspn(names[n], "\r\n")] = 0;
        if (names[n][0])
            n++;
    }
    fclose(f);
    return n;
}

static int argmax(const float *row, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (row[i] > row[best])
            best = i;
    return best;
}

int main(int argc, char **argv)
{
    char err[512], names[MAX_CLASSES][64];
    krt_npy logits, labels;
    if (argc != 4) {
        fprintf(stderr, "usage: fmnist_classify LOGITS.npy LABELS.npy CLASSES.txt\n");
        return 2;
    }
    if (krt_npy_read(argv[1], &logits, err, sizeof err) || krt_npy_read(argv[2], &labels, err, sizeof err)) {
        fprintf(stderr, "fmnist_classify: %s\n", err);
        return 1;
    }
    int n_classes = load_classes(argv[3], names, MAX_CLASSES);
    if (logits.dtype != KRT_F32 || logits.rank != 2 || labels.dtype != KRT_I64 || labels.rank != 1 ||
        labels.dims[0] != logits.dims[0] || n_classes != logits.dims[1]) {
        fprintf(stderr, "fmnist_classify: want f32 logits [N,%d], i64 labels [N] and %d class names\n",
                n_classes, n_classes);
        return 1;
    }
    const float *l = logits.data;
    const int64_t *y = labels.data;
    int n = (int)logits.dims[0], right = 0;
    printf("  #  predicted     true\n");
    for (int i = 0; i < n; i++) {
        int p = argmax(l + (size_t)i * n_classes, n_classes);
        if (y[i] < 0 || y[i] >= n_classes) {
            fprintf(stderr, "fmnist_classify: label %lld of image %d is not a class\n", (long long)y[i], i);
            return 1;
        }
        right += p == y[i];
        printf("%3d  %-12s  %s%s\n", i, names[p], names[y[i]], p == y[i] ? "" : "   <- wrong");
    }
    printf("accuracy: %d/%d = %.1f%%\n", right, n, 100.0 * right / n);
    krt_npy_free(&logits);
    krt_npy_free(&labels);
    return 0;
}
