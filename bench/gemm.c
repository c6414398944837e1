/* bench/gemm.c — the f32 GEMM (runtime/krt_linalg_gemm.c) on the shapes of
 * issue 11, at 1 and 2 threads, through the `matmul` kernel and the thread
 * pool exactly as a compiled model calls it.
 *
 * Shapes are M x N x K: C[M,N] = A[M,K] @ B[K,N] (B row-major, as a MatMul
 * weight). For DeiT at 197 tokens, width 192:
 *   197x576x192  the fused q/k/v projection   (x @ W_qkv, 192 -> 576)
 *   197x768x192  MLP fc1                      (192 -> 768)
 *   197x192x768  MLP fc2                      (768 -> 192)
 *   197x192x576  192 outputs from 576 inputs  (the fourth shape)
 *   1024^3       a large square product
 * Each figure is the median of >= 20 timed calls after 3 warm-up calls
 * (wall clock), with the best call beside it; the fraction is of the peak
 * given by --peak (bench/out/peak measures it; `make -C bench run` passes
 * it on); --shape MxNxK times only that shape; --threads 1 skips the 2-thread runs; --cpu-time times by this
 * thread's CPU time instead of the wall clock (1 thread: on a loaded
 * machine it leaves out the time other processes held the core). B is packed inside every call, as today's kernel does.
 *
 *   make -C bench run
 */
#define _POSIX_C_SOURCE 200809L
#include "runtime/krt_linalg.h"
#include "runtime/krt_pool.h"
#include "bench/bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>



/* Median and best GFLOP/s of C = A @ B over `threads` threads. */
static void time_matmul(int64_t M, int64_t N, int64_t K, int threads, double *med, double *best)
{
    krt_matmul_desc d;
    int64_t ad[2] = {M, K}, bd[2] = {K, N};
    krt_matmul_desc_init(&d, 2, ad, 2, bd);
    d.dtype = KRT_F32;
    const krt_kernel_info *k = &krt_kernel_matmul;
    size_t stride = (k->scratch_size(&d) + 63) / 64 * 64;
    void *scratch = aligned_alloc(64, stride * (size_t)threads);
    float *A = randv(M * K), *B = randv(K * N), *C = randv(M * N);
    void *ops[3] = {A, B, C};
    krt_pool *pool = krt_pool_create(threads);
    double flop = 2.0 * (double)M * (double)N * (double)K, t_med, t_best;
    time_kernel(pool, k, &d, ops, scratch, stride, 0.5, &t_med, &t_best);
    *med = flop / t_med * 1e-9;
    *best = flop / t_best * 1e-9;
    krt_pool_destroy(pool);
    free(A), free(B), free(C), free(scratch);
}

int main(int argc, char **argv)
{
    double peak = 0;
    int max_threads = 2;
    for (int i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], "--peak") == 0)
            peak = atof(argv[i + 1]);
        if (strcmp(argv[i], "--threads") == 0)   /* at most this many (1 or 2) */
            max_threads = atoi(argv[i + 1]);
    }
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--cpu-time") == 0) {  /* this thread's CPU time: 1 thread only */
            bench_clock = CLOCK_THREAD_CPUTIME_ID;
            max_threads = 1;
        }
    static int64_t shapes[][3] = {
        {197, 576, 192}, {197, 768, 192}, {197, 192, 768}, {197, 192, 576}, {1024, 1024, 1024},
    };
    size_t n_shapes = sizeof shapes / sizeof shapes[0];
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--shape") == 0) {    /* only this one: MxNxK */
            long long m, n, k;
            if (sscanf(argv[i + 1], "%lldx%lldx%lld", &m, &n, &k) != 3 || m < 1 || n < 1 || k < 1) {
                fprintf(stderr, "gemm: --shape wants MxNxK, e.g. 197x576x192\n");
                return 2;
            }
            shapes[0][0] = m, shapes[0][1] = n, shapes[0][2] = k, n_shapes = 1;
        }
    printf("kernel: %s; peak %.1f GFLOP/s (1 thread)\n", krt_sgemm_kernel_name(), peak);
    printf("%-16s %8s %10s %10s %8s\n", "MxNxK", "threads", "median", "best", "of peak");
    for (size_t s = 0; s < n_shapes; s++)
        for (int threads = 1; threads <= max_threads; threads++) {
            double med, best;
            time_matmul(shapes[s][0], shapes[s][1], shapes[s][2], threads, &med, &best);
            char name[32];
            snprintf(name, sizeof name, "%lldx%lldx%lld", (long long)shapes[s][0],
                     (long long)shapes[s][1], (long long)shapes[s][2]);
            printf("%-16s %8d %10.1f %10.1f %7.1f%%\n", name, threads, med, best,
                   peak > 0 ? 100.0 * med / (peak * threads) : 0.0);
            fflush(stdout);
        }
    return 0;
}
