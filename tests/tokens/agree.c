/* agree.c — kiln's token-reduction passes against the PyTorch reference
 * (samples/fmnist-vit/reduce_ref.py), for every configuration of
 * reduce_ref/manifest.tsv.
 *
 *   kiln_token_agree --kiln KILN --root SOURCE_DIR [--backend interp|llvm|c]
 *
 * For each configuration (name, option string, MACs, tokens entering each
 * block's attention):
 *  - `kiln run model-dynbatch.onnx --shape image=200x1x28x28 OPTIONS` on
 *    reduce_ref/images.npy (the first 200 test images, as reduce_ref.py
 *    normalised them) through the chosen backend (c: `kiln compile` to a
 *    library, run through its ABI); the logits are compared
 *    with reduce_ref/<name>.npy. An image "flipped" when its top-1
 *    differs, or when its top-1 agrees but a logit is off by more than
 *    1e-4: a near-tie in a discrete choice (which tokens merge or are
 *    kept) went the other way under different f32 rounding, which
 *    TOKEN-REDUCTION.md allows, and which changes the logits a little
 *    without changing top-1. At most 0.5% of the images may flip (the
 *    issue's 99.5% top-1 agreement, applied to both kinds), and every
 *    other image must be within 1e-4. The flipped images are listed.
 *    (Seen: merge16 through the LLVM JIT, image 27 off by 4.2e-4 while
 *    the interpreter matches it within 9e-7 and every other image within
 *    3.3e-6.)
 *  - `kiln info model.onnx OPTIONS`: the MACs per image after the token
 *    passes and the tokens entering each block's attention must equal the
 *    manifest's (reduce_ref.py's count_macs and token list) exactly.
 * Prints one row per configuration; exit status 1 when any check fails.
 */
#define _POSIX_C_SOURCE 200809L
#include "runtime/krt_npy.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { N_IMAGES = 200, N_CLASSES = 10 };
#define MIN_AGREEMENT 0.995
#define MAX_LOGIT_DIFF 1e-4

typedef struct config {
    char name[64], options[512], tokens[128];
    long long macs;
} config;

static const char *kiln, *root, *backend = "interp";

static bool load_logits(const char *path, krt_npy *a)
{
    char err[256];
    if (krt_npy_read(path, a, err, sizeof err) != KRT_OK) {
        printf("FAIL %s: %s\n", path, err);
        return false;
    }
    if (a->dtype != KRT_F32 || a->rank != 2 || a->dims[0] != N_IMAGES || a->dims[1] != N_CLASSES) {
        printf("FAIL %s: want f32 [%d, %d]\n", path, N_IMAGES, N_CLASSES);
        krt_npy_free(a);
        return false;
    }
    return true;
}

static int argmax(const float *row)
{
    int best = 0;
    for (int k = 1; k < N_CLASSES; k++)
        if (row[k] > row[best])
            best = k;
    return best;
}

/* Run kiln on the 200 images and compare with the reference logits. */
static bool check_logits(const config *c, const char *tmp)
{
    char cmd[4096], path[1024];
    if (strcmp(backend, "c") == 0)
        /* the C backend: a library compiled with the options, run through its ABI */
        snprintf(cmd, sizeof cmd,
                 "'%s' compile '%s/samples/fmnist-vit/model-dynbatch.onnx' --shape image=%dx1x28x28 %s "
                 "--quiet -o '%s/%s.so' && '%s' run '%s/%s.so' -i '%s/samples/fmnist-vit/reduce_ref/images.npy' "
                 "-o '%s/%s' >/dev/null",
                 kiln, root, N_IMAGES, c->options, tmp, c->name, kiln, tmp, c->name, root, tmp, c->name);
    else
        snprintf(cmd, sizeof cmd,
                 "'%s' run '%s/samples/fmnist-vit/model-dynbatch.onnx' --shape image=%dx1x28x28 %s --backend %s "
                 "-i '%s/samples/fmnist-vit/reduce_ref/images.npy' -o '%s/%s' >/dev/null",
                 kiln, root, N_IMAGES, c->options, backend, root, tmp, c->name);
    if (system(cmd) != 0) {
        printf("FAIL %s: kiln failed: %s\n", c->name, cmd);
        return false;
    }
    krt_npy got, want;
    snprintf(path, sizeof path, "%s/%s/logits.npy", tmp, c->name);
    if (!load_logits(path, &got))
        return false;
    snprintf(path, sizeof path, "%s/samples/fmnist-vit/reduce_ref/%s.npy", root, c->name);
    if (!load_logits(path, &want)) {
        krt_npy_free(&got);
        return false;
    }
    const float *a = got.data, *b = want.data;
    int agree = 0, flipped = 0;
    double worst = 0;
    char list[256] = "";
    for (int i = 0; i < N_IMAGES; i++) {
        bool same_top1 = argmax(a + i * N_CLASSES) == argmax(b + i * N_CLASSES);
        double image_worst = 0;
        for (int k = 0; k < N_CLASSES; k++) {
            double d = fabs((double)a[i * N_CLASSES + k] - (double)b[i * N_CLASSES + k]);
            if (!(d <= image_worst))
                image_worst = isnan(d) ? INFINITY : d;
        }
        agree += same_top1;
        if (!same_top1 || !(image_worst <= MAX_LOGIT_DIFF)) {
            flipped++;
            size_t at = strlen(list);
            snprintf(list + at, sizeof list - at, " %d%s(%.1e)", i, same_top1 ? "" : "*", image_worst);
        } else if (image_worst > worst) {
            worst = image_worst;
        }
    }
    krt_npy_free(&got);
    krt_npy_free(&want);
    bool ok = agree >= MIN_AGREEMENT * N_IMAGES && N_IMAGES - flipped >= MIN_AGREEMENT * N_IMAGES;
    printf("%s %-22s top-1 agreement %3d/%d  max |logit diff| elsewhere %.2e  flipped:%s\n", ok ? "ok  " : "FAIL",
           c->name, agree, N_IMAGES, worst, flipped ? list : " none");
    return ok;
}

/* `kiln info` with the options: the MACs and tokens after the passes. */
static bool check_census(const config *c)
{
    char cmd[4096], line[1024], macs[64] = "", tokens[256] = "";
    snprintf(cmd, sizeof cmd, "'%s' info '%s/samples/fmnist-vit/model.onnx' %s", kiln, root, c->options);
    FILE *p = popen(cmd, "r");
    if (!p) {
        printf("FAIL %s: cannot run %s\n", c->name, cmd);
        return false;
    }
    while (fgets(line, sizeof line, p)) {
        char *at;
        if ((at = strstr(line, "MACs per image (")) && (at = strstr(at, ")  ")))
            sscanf(at + 3, "%63s", macs);
        if ((at = strstr(line, "tokens entering each block's attention ")) && (at = strstr(at, "-> ")))
            sscanf(at + 3, "%255s", tokens);
    }
    if (pclose(p) != 0) {
        printf("FAIL %s: kiln info failed: %s\n", c->name, cmd);
        return false;
    }
    /* "38,133,120" -> 38133120 */
    long long m = 0;
    for (const char *s = macs; *s; s++)
        if (*s >= '0' && *s <= '9')
            m = m * 10 + (*s - '0');
    bool tokens_ok = !c->options[0] || strcmp(tokens, c->tokens) == 0;
    bool ok = macs[0] && m == c->macs && tokens_ok;
    printf("%s %-22s MACs per image %lld (reference %lld)  tokens %s (reference %s)\n", ok ? "ok  " : "FAIL",
           c->name, m, c->macs, c->options[0] ? tokens : "(no options)", c->tokens);
    return ok;
}

/* "name\toptions\taccuracy\tagreement\tmacs\ttokens" */
static bool parse_row(char *line, config *c)
{
    char *field[6];
    int n = 0;
    line[strcspn(line, "\r\n")] = 0;
    for (char *s = line; n < 6; n++) {
        field[n] = s;
        char *tab = strchr(s, '\t');
        if (!tab) {
            n++;
            break;
        }
        *tab = 0;
        s = tab + 1;
    }
    if (n != 6)
        return false;
    snprintf(c->name, sizeof c->name, "%s", field[0]);
    snprintf(c->options, sizeof c->options, "%s", field[1]);
    c->macs = atoll(field[4]);
    snprintf(c->tokens, sizeof c->tokens, "%s", field[5]);
    return c->name[0] && c->macs > 0;
}

int main(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--kiln") == 0)
            kiln = argv[i + 1];
        else if (strcmp(argv[i], "--root") == 0)
            root = argv[i + 1];
        else if (strcmp(argv[i], "--backend") == 0)
            backend = argv[i + 1];
    }
    if (!kiln || !root) {
        fprintf(stderr, "usage: kiln_token_agree --kiln KILN --root SOURCE_DIR [--backend interp|llvm|c]\n");
        return 2;
    }
    char path[1024], line[2048], tmp[] = "/tmp/kiln_token_agree_XXXXXX";
    snprintf(path, sizeof path, "%s/samples/fmnist-vit/reduce_ref/manifest.tsv", root);
    FILE *f = fopen(path, "r");
    if (!f || !mkdtemp(tmp)) {
        fprintf(stderr, "kiln_token_agree: cannot read %s or make a temporary directory\n", path);
        return 2;
    }
    int n = 0, failed = 0;
    while (fgets(line, sizeof line, f)) {
        config c;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (!parse_row(line, &c)) {
            printf("FAIL manifest row: %s\n", line);
            failed++;
            continue;
        }
        n++;
        failed += !check_logits(&c, tmp);
        failed += !check_census(&c);
    }
    fclose(f);
    snprintf(line, sizeof line, "rm -rf '%s'", tmp);
    if (system(line) != 0)
        fprintf(stderr, "kiln_token_agree: could not remove %s\n", tmp);
    printf("token reduction vs reduce_ref.py (%s): %d configurations, %d checks failed\n", backend, n, failed);
    return failed || n == 0 ? 1 : 0;
}
