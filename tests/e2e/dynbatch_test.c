/* dynbatch_test.c — samples/zoo/vit-dynbatch (batch symbolic) through
 * `kiln run` at batch sizes other than the sample's 2: -O2, where
 * fuse-attention leaves kiln.Attention nodes that read the batch at run
 * time (batch = 0), must give -O0's outputs, and both must give PyTorch's
 * rows for the images the sample's own output covers.
 *
 *   kiln_dynbatch_test --kiln build/kiln --dir samples/zoo/vit-dynbatch
 *                      --work DIR [--atol A] [--rtol R]
 *
 * Batch 1 is the sample's image 0; batch 3 is images 1, 0 and their
 * mean (the third row has no PyTorch reference: -O0 is its reference).
 * The -O2 graph is also dumped: it must hold 4 kiln.Attention nodes
 * (export.py's ViT has depth 4), all with batch = 0. Exit status: the
 * number of failed checks.
 */
#define _GNU_SOURCE
#include "runtime/krt_npy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;

static void check(int ok, const char *fmt, const char *what)
{
    printf("%s: %s%s\n", ok ? "ok" : "FAIL", fmt, what);
    failures += !ok;
}

static int run_command(char *const argv[])
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        execv(argv[0], argv);
        perror(argv[0]);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static krt_npy read_npy(const char *path)
{
    krt_npy a;
    char err[256];
    if (krt_npy_read(path, &a, err, sizeof err) != KRT_OK || a.dtype != KRT_F32) {
        fprintf(stderr, "%s: %s\n", path, err);
        exit(99);
    }
    return a;
}

/* Largest |a - b| - (atol + rtol |b|) over n floats (<= 0: within). */
static double excess(const float *a, const float *b, size_t n, double atol, double rtol)
{
    double worst = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) - (atol + rtol * fabs((double)b[i]));
        worst = isnan(d) ? INFINITY : d > worst ? d : worst;
    }
    return worst;
}

/* `kiln run MODEL LEVEL -i IN -o OUT`; the logits it wrote. */
static krt_npy kiln_run(const char *kiln, const char *model, const char *level, const char *in,
                        const char *out)
{
    char *argv[] = {(char *)kiln, "run", (char *)model, (char *)level, "-i", (char *)in, "-o", (char *)out, NULL};
    char path[1200];
    int rc = run_command(argv);
    if (rc != 0) {
        fprintf(stderr, "kiln run %s %s -i %s: exit %d\n", model, level, in, rc);
        exit(99);
    }
    snprintf(path, sizeof path, "%s/logits.npy", out);
    return read_npy(path);
}

static int count(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)); p += strlen(what))
        n++;
    return n;
}

int main(int argc, char **argv)
{
    const char *kiln = NULL, *dir = NULL, *work = NULL;
    double atol = 1e-4, rtol = 1e-3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--kiln"))
            kiln = argv[i + 1];
        else if (!strcmp(argv[i], "--dir"))
            dir = argv[i + 1];
        else if (!strcmp(argv[i], "--work"))
            work = argv[i + 1];
        else if (!strcmp(argv[i], "--atol"))
            atol = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--rtol"))
            rtol = atof(argv[i + 1]);
    }
    if (!kiln || !dir || !work) {
        fprintf(stderr, "usage: %s --kiln KILN --dir SAMPLE_DIR --work DIR [--atol A] [--rtol R]\n", argv[0]);
        return 2;
    }
    mkdir(work, 0777);
    char model[1200], path[1200], in[2][1200], out[1200], err[256];
    snprintf(model, sizeof model, "%s/model.onnx", dir);
    snprintf(path, sizeof path, "%s/input_0.npy", dir);
    krt_npy x = read_npy(path);
    snprintf(path, sizeof path, "%s/output_0.npy", dir);
    krt_npy ref = read_npy(path);
    if (x.rank != 4 || x.dims[0] != 2 || ref.rank != 2 || ref.dims[0] != 2) {
        fprintf(stderr, "%s: expected 2 images and 2 rows of logits\n", dir);
        return 99;
    }
    size_t img = x.nbytes / 2 / sizeof(float), classes = (size_t)ref.dims[1];
    const float *x0 = x.data, *x1 = (const float *)x.data + img, *r0 = ref.data, *r1 = (const float *)ref.data + classes;

    /* batch 1: image 0; batch 3: images 1, 0 and their mean */
    float *b3 = malloc(3 * img * sizeof *b3);
    memcpy(b3, x1, img * sizeof *b3);
    memcpy(b3 + img, x0, img * sizeof *b3);
    for (size_t i = 0; i < img; i++)
        b3[2 * img + i] = 0.5f * (x0[i] + x1[i]);
    int64_t dims[4] = {1, x.dims[1], x.dims[2], x.dims[3]};
    snprintf(in[0], sizeof in[0], "%s/batch1.npy", work);
    snprintf(in[1], sizeof in[1], "%s/batch3.npy", work);
    if (krt_npy_write(in[0], KRT_F32, 4, dims, x0, err, sizeof err) != KRT_OK ||
        (dims[0] = 3, krt_npy_write(in[1], KRT_F32, 4, dims, b3, err, sizeof err)) != KRT_OK) {
        fprintf(stderr, "%s\n", err);
        return 99;
    }

    for (int b = 0; b < 2; b++) {
        int64_t B = b ? 3 : 1;
        char what[64];
        snprintf(out, sizeof out, "%s/O0_batch%lld", work, (long long)B);
        krt_npy y0 = kiln_run(kiln, model, "-O0", in[b], out);
        snprintf(out, sizeof out, "%s/O2_batch%lld", work, (long long)B);
        krt_npy y2 = kiln_run(kiln, model, "-O2", in[b], out);
        snprintf(what, sizeof what, "%lld", (long long)B);
        check(y0.rank == 2 && y0.dims[0] == B && y2.rank == 2 && y2.dims[0] == B &&
                  y0.dims[1] == (int64_t)classes && y2.dims[1] == (int64_t)classes,
              "logits of shape [B, classes] at -O0 and -O2, B = ", what);
        if (failures)
            return failures;
        double e = excess(y2.data, y0.data, (size_t)B * classes, atol, rtol);
        printf("  batch %lld: -O2 vs -O0 excess over tolerance %.3g\n", (long long)B, e);
        check(e <= 0, "-O2 equals -O0 within the sample's tolerance, B = ", what);
        /* PyTorch's rows: batch 1 row 0 = image 0; batch 3 rows 0, 1 = images 1, 0 */
        const float *want[2] = {b ? r1 : r0, r0};
        for (int r = 0; r < (b ? 2 : 1); r++) {
            double e0 = excess((const float *)y0.data + r * classes, want[r], classes, atol, rtol);
            double e2 = excess((const float *)y2.data + r * classes, want[r], classes, atol, rtol);
            check(e0 <= 0 && e2 <= 0, "rows with a PyTorch reference agree with it at -O0 and -O2, B = ", what);
        }
        krt_npy_free(&y0);
        krt_npy_free(&y2);
    }

    /* the -O2 graph: 4 blocks fused, each reading the batch at run time */
    snprintf(path, sizeof path, "%s/O2.kir", work);
    char *argv_dump[] = {(char *)kiln, "dump", model, "-O2", "-o", path, NULL};
    check(run_command(argv_dump) == 0, "kiln dump -O2 ", model);
    FILE *f = fopen(path, "rb");
    static char text[1 << 20];
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[n] = 0;
    if (f)
        fclose(f);
    check(count(text, "kiln.Attention(") == 4, "4 kiln.Attention nodes after -O2 in ", path);
    check(count(text, "{batch = 0,") == 4, "each with batch = 0 (read at run time) in ", path);
    check(count(text, "Softmax(") == 0, "no Softmax left in ", path);
    free(b3);
    krt_npy_free(&x);
    krt_npy_free(&ref);
    return failures;
}
