/* bench/conv.c — the f32 convolution kernel (runtime/krt_linalg_conv.c) on
 * the layer shapes of ResNet-18 and MobileNetV2 at 224x224, batch 1,
 * through the `conv` kernel and the thread pool exactly as a compiled
 * model calls it (bias on, no epilogue: kiln.FusedConv runs the same
 * code with an activation applied per tile).
 *
 * Each figure is GFLOP/s (2 per multiply-add) of the median of >= 20
 * timed calls after 3 warm-up calls, with the best call beside it. By
 * default the clock is this thread's CPU time and only 1 thread runs:
 * the machine is shared, and CPU time leaves out the time other processes
 * held the core (--wall: the wall clock, and 1 and 2 threads). The last
 * line is the whole network's conv time at the median of each layer
 * (each layer weighted by how many times the network has it).
 *
 *   make -C bench conv-run            (or out/conv --net resnet18 --layer 3)
 */
#define _POSIX_C_SOURCE 200809L
#include "runtime/krt_linalg.h"
#include "runtime/krt_pool.h"
#include "bench/bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


/* One conv layer: input channels, size, output channels, kernel, stride,
 * pad, group, and how many times the network has this shape. */
typedef struct layer {
    const char *net, *what;
    int64_t c, hw, m, k, s, p, g, count;
} layer;

static const layer layers[] = {
    {"resnet18", "conv1 7x7/2", 3, 224, 64, 7, 2, 3, 1, 1},
    {"resnet18", "layer1 3x3", 64, 56, 64, 3, 1, 1, 1, 4},
    {"resnet18", "layer2 3x3/2", 64, 56, 128, 3, 2, 1, 1, 1},
    {"resnet18", "layer2 3x3", 128, 28, 128, 3, 1, 1, 1, 3},
    {"resnet18", "layer2 down 1x1/2", 64, 56, 128, 1, 2, 0, 1, 1},
    {"resnet18", "layer3 3x3/2", 128, 28, 256, 3, 2, 1, 1, 1},
    {"resnet18", "layer3 3x3", 256, 14, 256, 3, 1, 1, 1, 3},
    {"resnet18", "layer3 down 1x1/2", 128, 28, 256, 1, 2, 0, 1, 1},
    {"resnet18", "layer4 3x3/2", 256, 14, 512, 3, 2, 1, 1, 1},
    {"resnet18", "layer4 3x3", 512, 7, 512, 3, 1, 1, 1, 3},
    {"resnet18", "layer4 down 1x1/2", 256, 14, 512, 1, 2, 0, 1, 1},
    {"mobilenetv2", "stem 3x3/2", 3, 224, 32, 3, 2, 1, 1, 1},
    {"mobilenetv2", "dw 3x3 112", 32, 112, 32, 3, 1, 1, 32, 1},
    {"mobilenetv2", "pw 32->16 112", 32, 112, 16, 1, 1, 0, 1, 1},
    {"mobilenetv2", "pw 16->96 112", 16, 112, 96, 1, 1, 0, 1, 1},
    {"mobilenetv2", "dw 3x3/2 96", 96, 112, 96, 3, 2, 1, 96, 1},
    {"mobilenetv2", "pw 96->24 56", 96, 56, 24, 1, 1, 0, 1, 1},
    {"mobilenetv2", "pw 24->144 56", 24, 56, 144, 1, 1, 0, 1, 2},
    {"mobilenetv2", "dw 3x3 144 56", 144, 56, 144, 3, 1, 1, 144, 1},
    {"mobilenetv2", "pw 144->24 56", 144, 56, 24, 1, 1, 0, 1, 1},
    {"mobilenetv2", "dw 3x3/2 144", 144, 56, 144, 3, 2, 1, 144, 1},
    {"mobilenetv2", "pw 144->32 28", 144, 28, 32, 1, 1, 0, 1, 1},
    {"mobilenetv2", "pw 32->192 28", 32, 28, 192, 1, 1, 0, 1, 3},
    {"mobilenetv2", "dw 3x3 192 28", 192, 28, 192, 3, 1, 1, 192, 2},
    {"mobilenetv2", "pw 192->32 28", 192, 28, 32, 1, 1, 0, 1, 2},
    {"mobilenetv2", "dw 3x3/2 192", 192, 28, 192, 3, 2, 1, 192, 1},
    {"mobilenetv2", "pw 192->64 14", 192, 14, 64, 1, 1, 0, 1, 1},
    {"mobilenetv2", "pw 64->384 14", 64, 14, 384, 1, 1, 0, 1, 4},
    {"mobilenetv2", "dw 3x3 384 14", 384, 14, 384, 3, 1, 1, 384, 4},
    {"mobilenetv2", "pw 384->64 14", 384, 14, 64, 1, 1, 0, 1, 3},
    {"mobilenetv2", "pw 384->96 14", 384, 14, 96, 1, 1, 0, 1, 1},
    {"mobilenetv2", "pw 96->576 14", 96, 14, 576, 1, 1, 0, 1, 3},
    {"mobilenetv2", "dw 3x3 576 14", 576, 14, 576, 3, 1, 1, 576, 2},
    {"mobilenetv2", "pw 576->96 14", 576, 14, 96, 1, 1, 0, 1, 2},
    {"mobilenetv2", "dw 3x3/2 576", 576, 14, 576, 3, 2, 1, 576, 1},
    {"mobilenetv2", "pw 576->160 7", 576, 7, 160, 1, 1, 0, 1, 1},
    {"mobilenetv2", "pw 160->960 7", 160, 7, 960, 1, 1, 0, 1, 3},
    {"mobilenetv2", "dw 3x3 960 7", 960, 7, 960, 3, 1, 1, 960, 3},
    {"mobilenetv2", "pw 960->160 7", 960, 7, 160, 1, 1, 0, 1, 2},
    {"mobilenetv2", "pw 960->320 7", 960, 7, 320, 1, 1, 0, 1, 1},
    {"mobilenetv2", "pw 320->1280 7", 320, 7, 1280, 1, 1, 0, 1, 1},
};


static krt_conv_desc desc_of(const layer *l)
{
    int64_t out = (l->hw + 2 * l->p - l->k) / l->s + 1;
    krt_conv_desc d = {.dtype = KRT_F32, .nd = 2, .batch = 1, .in_ch = l->c, .out_ch = l->m,
                       .group = l->g};
    for (int i = 0; i < 2; i++) {
        d.in[i] = l->hw, d.out[i] = out, d.kernel[i] = l->k, d.stride[i] = l->s;
        d.dilation[i] = 1, d.pad[i] = l->p;
    }
    return d;
}

/* Median and best seconds of one call over `threads` threads; *flop set. */
static void time_conv(const layer *l, int threads, double *med, double *best, double *flop)
{
    krt_conv_desc d = desc_of(l);
    const krt_kernel_info *k = &krt_kernel_conv;
    size_t stride = (k->scratch_size(&d) + 63) / 64 * 64;
    void *scratch = aligned_alloc(64, stride * (size_t)threads);
    int64_t out = d.out[0] * d.out[1];
    float *X = randv(l->c * l->hw * l->hw), *W = randv(l->m * (l->c / l->g) * l->k * l->k);
    float *B = randv(l->m), *Y = randv(l->m * out);
    void *ops[4] = {X, W, B, Y};
    krt_pool *pool = krt_pool_create(threads);
    *flop = 2.0 * (double)l->m * (double)out * (double)(l->c / l->g * l->k * l->k);
    time_kernel(pool, k, &d, ops, scratch, stride, 0.3, med, best);
    krt_pool_destroy(pool);
    free(X), free(W), free(B), free(Y), free(scratch);
}

int main(int argc, char **argv)
{
    const char *net = NULL;
    int only = -1, max_threads = 1;
    bench_clock = CLOCK_THREAD_CPUTIME_ID;  /* the default here: see the header */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--net") == 0 && i + 1 < argc)
            net = argv[++i];
        else if (strcmp(argv[i], "--layer") == 0 && i + 1 < argc)
            only = atoi(argv[++i]);
        else if (strcmp(argv[i], "--wall") == 0)
            bench_clock = CLOCK_MONOTONIC, max_threads = 2;
        else {
            fprintf(stderr, "usage: conv [--net resnet18|mobilenetv2] [--layer i] [--wall]\n");
            return 2;
        }
    }
    printf("gemm kernel: %s; clock: %s\n", krt_sgemm_kernel_name(),
           bench_clock == CLOCK_MONOTONIC ? "wall" : "thread CPU time (1 thread)");
    printf("%3s %-12s %-20s %8s %10s %10s %9s\n", "#", "net", "layer", "threads", "median",
           "best", "ms");
    double total[2][2] = {{0}};  /* [net][threads-1] ms, weighted */
    int n = (int)(sizeof layers / sizeof layers[0]);
    for (int i = 0; i < n; i++) {
        const layer *l = &layers[i];
        if ((net && strcmp(net, l->net) != 0) || (only >= 0 && only != i))
            continue;
        for (int threads = 1; threads <= max_threads; threads++) {
            double med, best, flop;
            time_conv(l, threads, &med, &best, &flop);
            printf("%3d %-12s %-20s %8d %10.1f %10.1f %9.3f\n", i, l->net, l->what, threads,
                   flop / med * 1e-9, flop / best * 1e-9, med * 1e3);
            fflush(stdout);
            total[strcmp(l->net, "resnet18") != 0][threads - 1] += med * 1e3 * (double)l->count;
        }
    }
    for (int t = 0; t < max_threads; t++)
        printf("total conv ms, %d thread(s): resnet18 %.2f, mobilenetv2 %.2f\n", t + 1,
               total[0][t], total[1][t]);
    return 0;
}
