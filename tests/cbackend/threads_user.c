/* threads_user.c — a user's program that links a model kiln generated,
 * through its header alone, and runs it from two threads at once.
 *
 *   cc -std=c11 -pthread -DMODEL=NAME [-DWEIGHTS_FILE] [-DPOOL_THREADS=T] -I GENDIR threads_user.c \
 *      GENDIR/NAME.c [GENDIR/NAME_weights.c] GENDIR/krt_*.c -lm
 *   ./a.out [WEIGHTS-PATH] [RUNS]
 *
 * The inputs are filled with fixed pseudo-random values (floats in
 * [-1, 1), integers 0). One run on the main thread gives the reference
 * outputs; then two threads, each with its own workspace (filled with
 * different garbage) and its own output buffers, run the model RUNS times
 * (default 8) at the same time and compare every output with the
 * reference byte for byte. With -DWEIGHTS_FILE (a model compiled with
 * --weights file) the weights are loaded once and both workspaces are
 * bound to the same image. With -DPOOL_THREADS=T (a model compiled with
 * --threads N >= T) each of the two threads binds its own pool of T
 * threads to its workspace (the reference run has none: one thread), so
 * the split calls must give the one-thread bytes. Exit 0 when every run
 * matched.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define Q(x) #x
#define QQ(x) Q(x)
#define CAT(a, b) a##b
#define XCAT(a, b) CAT(a, b)
#define SYM(s) XCAT(MODEL, s)
#include QQ(MODEL.h)
#ifdef POOL_THREADS
#include "krt_pool.h"
#endif

enum { MAX_IO = 64 };

static const kiln_model_info *m = &SYM(_info);
static const void *inputs[MAX_IO];
static void *reference[MAX_IO];
#ifdef WEIGHTS_FILE
static const void *weights;   /* the image both workspaces share */
#endif
static int runs = 8;

typedef struct worker {
    int id;
    int mismatches;             /* runs whose outputs differed from the reference */
    int failures;               /* runs that returned nonzero */
} worker;

static void *alloc64(size_t bytes, int fill)
{
    size_t size = (bytes + 63) / 64 * 64 + 64;
    void *p = aligned_alloc(64, size);
    if (!p) {
        fprintf(stderr, "threads_user: out of memory\n");
        exit(1);
    }
    memset(p, fill, size);
    return p;
}

static void *new_workspace(int fill)
{
    void *ws = alloc64(SYM(_workspace_size)(), fill);
#ifdef WEIGHTS_FILE
    int rc = SYM(_set_weights)(ws, weights);
    if (rc) {
        fprintf(stderr, "threads_user: %s_set_weights returned %d\n", m->name, rc);
        exit(1);
    }
#endif
    return ws;
}

static void *work(void *arg)
{
    worker *w = arg;
    void *outs[MAX_IO];
    void *ws = new_workspace(0x5a + w->id);
#ifdef POOL_THREADS
    krt_pool *pool = krt_pool_create(POOL_THREADS);
    if (!pool || SYM(_set_pool)(ws, pool) != KILN_RUN_OK) {
        fprintf(stderr, "threads_user: cannot bind a pool of %d threads\n", POOL_THREADS);
        exit(1);
    }
#endif
    for (uint32_t k = 0; k < m->n_outputs; k++)
        outs[k] = alloc64(m->outputs[k].nbytes, 0xff);
    for (int r = 0; r < runs; r++) {
        for (uint32_t k = 0; k < m->n_outputs; k++)
            memset(outs[k], 0xff, m->outputs[k].nbytes);
        if (SYM(_run)(inputs, outs, ws) != KILN_RUN_OK) {
            w->failures++;
            continue;
        }
        for (uint32_t k = 0; k < m->n_outputs; k++)
            if (memcmp(outs[k], reference[k], m->outputs[k].nbytes) != 0) {
                w->mismatches++;
                break;
            }
    }
    for (uint32_t k = 0; k < m->n_outputs; k++)
        free(outs[k]);
#ifdef POOL_THREADS
    krt_pool_destroy(pool);
#endif
    free(ws);
    return NULL;
}

static void fill_inputs(void)
{
    uint32_t state = 12345u;
    for (uint32_t i = 0; i < m->n_inputs; i++) {
        const kiln_model_tensor *t = &m->inputs[i];
        void *p = alloc64(t->nbytes, 0);
        if (t->dtype == KILN_MODEL_F32)
            for (uint64_t j = 0; j < t->nbytes / 4; j++) {
                state = state * 1664525u + 1013904223u;
                ((float *)p)[j] = (float)(state >> 8) / 8388608.0f - 1.0f;
            }
        inputs[i] = p;
    }
}

int main(int argc, char **argv)
{
    if (m->n_inputs > MAX_IO || m->n_outputs > MAX_IO)
        return fprintf(stderr, "threads_user: too many inputs or outputs\n"), 1;
#ifdef WEIGHTS_FILE
    if (argc < 2)
        return fprintf(stderr, "usage: threads_user WEIGHTS [RUNS]\n"), 2;
    void *image = alloc64(SYM(_weights_size)(), 0);
    int lrc = SYM(_load_weights)(argv[1], image);
    if (lrc)
        return fprintf(stderr, "threads_user: %s: %s_load_weights returned %d\n", argv[1], m->name, lrc), 1;
    weights = image;
    if (argc > 2)
        runs = atoi(argv[2]);
#else
    if (argc > 1)
        runs = atoi(argv[1]);
#endif
    fill_inputs();
    void *ws = new_workspace(0);
    for (uint32_t k = 0; k < m->n_outputs; k++)
        reference[k] = alloc64(m->outputs[k].nbytes, 0);
    int rc = SYM(_run)(inputs, reference, ws);
    free(ws);
    if (rc)
        return fprintf(stderr, "threads_user: %s_run returned %d on one thread\n", m->name, rc), 1;

    worker w[2] = {{.id = 0}, {.id = 1}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        if (pthread_create(&t[i], NULL, work, &w[i]) != 0)
            return fprintf(stderr, "threads_user: pthread_create failed\n"), 1;
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    int bad = 0;
    for (int i = 0; i < 2; i++) {
        printf("thread %d: %d runs, %d failed, %d differ from the one-thread run\n", i, runs,
               w[i].failures, w[i].mismatches);
        bad += w[i].failures + w[i].mismatches;
    }
    for (uint32_t k = 0; k < m->n_outputs; k++)
        free(reference[k]);
    for (uint32_t i = 0; i < m->n_inputs; i++)
        free((void *)inputs[i]);
#ifdef WEIGHTS_FILE
    free(image);
#endif
    return bad != 0;
}
