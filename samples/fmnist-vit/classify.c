/* classify.c — the demo's last step: turn logits into class predictions
 * and compare them with the true labels.
 *
 *   fmnist_classify LOGITS.npy LABELS.npy CLASSES.txt [REFERENCE.npy]
 *
 * LOGITS is f32 [N, C] (what `kiln run` or a compiled model wrote), LABELS
 * is i64 [N], CLASSES has C lines. Prints one line per image (predicted vs
 * true) and the accuracy; with REFERENCE (logits of the same images from
 * another executor, e.g. the interpreter), prints instead the accuracy, the
 * largest |difference| from the reference and how many predictions differ.
 * Exits 1 on malformed input. Uses only the runtime's .npy
 * reader, as a program embedding a kiln-compiled model would.
 */
#include "runtime/krt_npy.h"

#include <math.h>
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

/* Largest |a - b| over n logits, and how many rows' argmax differ. */
static void compare(const float *a, const float *b, int rows, int cols)
{
    double worst = 0;
    int differ = 0;
    for (int i = 0; i < rows * cols; i++)
        worst = fabs((double)a[i] - b[i]) > worst ? fabs((double)a[i] - b[i]) : worst;
    for (int i = 0; i < rows; i++)
        differ += argmax(a + (size_t)i * cols, cols) != argmax(b + (size_t)i * cols, cols);
    printf("vs the reference: max |diff| %.3g, %d of %d predictions differ\n", worst, differ, rows);
}

int main(int argc, char **argv)
{
    char err[512], names[MAX_CLASSES][64];
    krt_npy logits, labels, ref = {0};
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: fmnist_classify LOGITS.npy LABELS.npy CLASSES.txt [REFERENCE.npy]\n");
        return 2;
    }
    if (argc == 5 && krt_npy_read(argv[4], &ref, err, sizeof err)) {
        fprintf(stderr, "fmnist_classify: %s\n", err);
        return 1;
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
    if (ref.data && (ref.dtype != KRT_F32 || ref.rank != 2 || ref.dims[0] != logits.dims[0] ||
                     ref.dims[1] != logits.dims[1])) {
        fprintf(stderr, "fmnist_classify: the reference must be f32 [%d,%d] like the logits\n",
                (int)logits.dims[0], n_classes);
        return 1;
    }
    if (!ref.data)
        printf("  #  predicted     true\n");
    for (int i = 0; i < n; i++) {
        int p = argmax(l + (size_t)i * n_classes, n_classes);
        if (y[i] < 0 || y[i] >= n_classes) {
            fprintf(stderr, "fmnist_classify: label %lld of image %d is not a class\n", (long long)y[i], i);
            return 1;
        }
        right += p == y[i];
        if (!ref.data)
            printf("%3d  %-12s  %s%s\n", i, names[p], names[y[i]], p == y[i] ? "" : "   <- wrong");
    }
    printf("accuracy: %d/%d = %.1f%%\n", right, n, 100.0 * right / n);
    if (ref.data) {
        compare(l, ref.data, n, n_classes);
        krt_npy_free(&ref);
    }
    krt_npy_free(&logits);
    krt_npy_free(&labels);
    return 0;
}
