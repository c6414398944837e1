/* model_user.c — a user's program around one model compiled by kiln, built
 * outside kiln's tree against the *installed* runtime only:
 *
 *   cc -std=c11 -DMODEL=NAME -I GENDIR model_user.c MODEL-OBJECTS \
 *      $(pkg-config --cflags --libs kiln-runtime)
 *   ./a.out IN.npy WANT.npy
 *
 * It includes nothing of the model but NAME.h, reads input 0 with the
 * runtime's .npy reader (krt_npy.h from the installed headers), runs the
 * model, and compares output 0 with WANT.npy (what `kiln run`, the
 * interpreter, wrote): f32 within |got - want| <= 1e-5 + 1e-4 |want|,
 * other dtypes byte for byte. Exit 0 when they agree, 1 otherwise.
 */
#include "krt_npy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define Q(x) #x
#define QQ(x) Q(x)
#define CAT(a, b) a##b
#define XCAT(a, b) CAT(a, b)
#define SYM(s) XCAT(MODEL, s)
#include QQ(MODEL.h)

static int load(const char *path, krt_npy *a)
{
    char err[1024];
    if (krt_npy_read(path, a, err, sizeof err) == KRT_OK)
        return 1;
    fprintf(stderr, "model_user: %s\n", err);
    return 0;
}

static int compare(const kiln_model_tensor *t, const void *got, const krt_npy *want)
{
    if (want->nbytes != t->nbytes) {
        fprintf(stderr, "model_user: output '%s' has %llu bytes, %s %zu\n", t->name,
                (unsigned long long)t->nbytes, "the reference", want->nbytes);
        return 1;
    }
    if (t->dtype != KILN_MODEL_F32)
        return memcmp(got, want->data, want->nbytes) != 0;
    const float *g = got, *w = want->data;
    double worst = 0;
    size_t bad = 0, n = want->nbytes / sizeof(float);
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)g[i] - w[i]);
        worst = d > worst ? d : worst;
        bad += !(d <= 1e-5 + 1e-4 * fabs((double)w[i]));
    }
    printf("%s: %zu values, max |diff| %.3g vs the interpreter, %zu outside tolerance\n", t->name, n,
           worst, bad);
    return bad != 0;
}

int main(int argc, char **argv)
{
    const kiln_model_info *m = &SYM(_info);
    krt_npy in = {0}, want = {0};
    if (argc != 3 || m->n_inputs != 1 || m->n_outputs < 1) {
        fprintf(stderr, "usage: model_user IN.npy WANT.npy (a model with one input)\n");
        return 2;
    }
    if (!load(argv[1], &in) || !load(argv[2], &want))
        return 1;
    if (in.nbytes != m->inputs[0].nbytes) {
        fprintf(stderr, "model_user: %s has %zu bytes, input '%s' takes %llu\n", argv[1], in.nbytes,
                m->inputs[0].name, (unsigned long long)m->inputs[0].nbytes);
        return 1;
    }
    void *outs[64] = {0};
    for (uint32_t k = 0; k < m->n_outputs && k < 64; k++)
        outs[k] = malloc(m->outputs[k].nbytes ? m->outputs[k].nbytes : 1);
    size_t ws_size = SYM(_workspace_size)();
    void *ws = aligned_alloc(64, (ws_size + 63) / 64 * 64 + 64);
    const void *ins[1] = {in.data};
    int rc = SYM(_run)(ins, outs, ws);
    int bad = rc != KILN_RUN_OK || compare(&m->outputs[0], outs[0], &want);
    if (rc != KILN_RUN_OK)
        fprintf(stderr, "model_user: %s_run returned %d\n", m->name, rc);
    for (uint32_t k = 0; k < m->n_outputs && k < 64; k++)
        free(outs[k]);
    free(ws);
    krt_npy_free(&in);
    krt_npy_free(&want);
    return bad;
}
