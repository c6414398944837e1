/* krt_profile.c — the clock of NAME_run_profiled and the profile table.
 *
 * Which runs count: the faster half by whole-call time (at least one).
 * The machines this runs on are often shared, and a run another process
 * preempted is slow in whichever nodes it was preempted in; the slower
 * half is dropped as a whole. Over the runs kept, every figure is a mean,
 * not a median: means add up, so the nodes' times sum to the whole call's
 * (less its argument checks, output copies and clock reads) and the shares
 * of the op kinds add to 100%.
 */
#define _POSIX_C_SOURCE 200809L
#include "runtime/krt_profile.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t krt_profile_now(void)
{
#if defined(CLOCK_MONOTONIC)
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
#else
    return (uint64_t)((double)clock() * (1e9 / CLOCKS_PER_SEC));
#endif
}

/* Run indices ordered by whole-call time (qsort has no context argument:
 * a pair of time and index sorts the same). */
typedef struct run_time {
    uint64_t ns;
    uint32_t run;
} run_time;

static int compare_runs(const void *a, const void *b)
{
    const run_time *x = a, *y = b;
    return x->ns != y->ns ? (x->ns < y->ns ? -1 : 1) : (x->run > y->run) - (x->run < y->run);
}

/* One row of either table. */
typedef struct row {
    const char *name, *op;
    uint32_t count;
    double ns, flops;
} row;

static int compare_rows(const void *a, const void *b)
{
    const row *x = a, *y = b;
    if (x->ns != y->ns)
        return x->ns > y->ns ? -1 : 1;
    int c = strcmp(x->op, y->op);
    return c ? c : strcmp(x->name, y->name);
}

/* "GFLOP/s" of flops done in ns, or "-" when nothing is counted. */
static void rate(char *buf, size_t size, double flops, double ns)
{
    if (flops > 0 && ns > 0)
        snprintf(buf, size, "%.2f", flops / ns);
    else
        snprintf(buf, size, "-");
}

/* s cut to its last `width` characters ("...tail"): the end of a node
 * name (".../attn/qkv/MatMul") says more than its start. */
static const char *tail(const char *s, size_t width, char *buf, size_t size)
{
    size_t n = strlen(s);
    if (n <= width)
        return s;
    snprintf(buf, size, "...%s", s + n - (width - 3));
    return buf;
}

/* The op-kind table: one row per distinct op, sorted by time. */
static uint32_t group(const row *nodes, uint32_t n, row *kinds)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t j = 0;
        while (j < k && strcmp(kinds[j].op, nodes[i].op) != 0)
            j++;
        if (j == k)
            kinds[k++] = (row){.name = nodes[i].op, .op = nodes[i].op};
        kinds[j].count++;
        kinds[j].ns += nodes[i].ns;
        kinds[j].flops += nodes[i].flops;
    }
    qsort(kinds, k, sizeof *kinds, compare_rows);
    return k;
}

static void print_kinds(FILE *out, const row *kinds, uint32_t k, double sum)
{
    char r[32], t[64];
    fprintf(out, "\nby op kind:\n  %-28s %6s %11s %7s %9s\n", "op", "nodes", "total ms", "share", "GFLOP/s");
    for (uint32_t i = 0; i < k; i++) {
        rate(r, sizeof r, kinds[i].flops, kinds[i].ns);
        fprintf(out, "  %-28s %6u %11.4f %6.1f%% %9s\n", tail(kinds[i].op, 28, t, sizeof t), kinds[i].count,
                kinds[i].ns * 1e-6, sum > 0 ? 100 * kinds[i].ns / sum : 0, r);
    }
}

static void print_nodes(FILE *out, const row *nodes, uint32_t n, uint32_t top, double sum)
{
    char r[32], t[2][96];
    uint32_t shown = top < n ? top : n;
    fprintf(out, "\ntop %u of %u nodes:\n  %-44s %-22s %9s %7s %9s %14s\n", shown, n, "node", "op", "ms",
            "share", "GFLOP/s", "FLOP");
    for (uint32_t i = 0; i < shown; i++) {
        rate(r, sizeof r, nodes[i].flops, nodes[i].ns);
        fprintf(out, "  %-44s %-22s %9.4f %6.1f%% %9s %14.0f\n", tail(nodes[i].name, 44, t[0], sizeof t[0]),
                tail(nodes[i].op, 22, t[1], sizeof t[1]), nodes[i].ns * 1e-6,
                sum > 0 ? 100 * nodes[i].ns / sum : 0, r, nodes[i].flops);
    }
}

int krt_profile_report(FILE *out, const char *title, const kiln_model_profile *p,
                       const uint64_t *ns, const uint64_t *run_ns, uint32_t runs, uint32_t top)
{
    uint32_t n = p->n_nodes, keep = (runs + 1) / 2;
    row *nodes = calloc(n ? n : 1, sizeof *nodes), *kinds = calloc(n ? n : 1, sizeof *kinds);
    run_time *order = calloc(runs ? runs : 1, sizeof *order);
    double sum = 0, flops = 0, total = 0;
    if (!runs || !nodes || !kinds || !order) {
        free(nodes), free(kinds), free(order);
        return -1;
    }
    for (uint32_t r = 0; r < runs; r++)
        order[r] = (run_time){run_ns[r], r};
    qsort(order, runs, sizeof *order, compare_runs);
    for (uint32_t i = 0; i < n; i++) {
        const kiln_model_node *d = &p->nodes[i];
        nodes[i] = (row){.name = d->name ? d->name : "", .op = d->op ? d->op : "?", .count = 1, .flops = d->flops};
        for (uint32_t k = 0; k < keep; k++)
            nodes[i].ns += (double)ns[(size_t)order[k].run * n + i] / keep;
        sum += nodes[i].ns;
        flops += d->flops;
    }
    for (uint32_t k = 0; k < keep; k++)
        total += (double)order[k].ns / keep;
    uint32_t n_kinds = group(nodes, n, kinds);
    qsort(nodes, n, sizeof *nodes, compare_rows);
    fprintf(out, "profile: %s\nthe faster %u of %u runs (after a warm-up run); every time is the mean over them\n",
            title, keep, runs);
    fprintf(out, "total %.4f ms per run (the whole call); the %u nodes sum to %.4f ms (%.1f%%)\n",
            total * 1e-6, n, sum * 1e-6, total > 0 ? 100 * sum / total : 0);
    fprintf(out, "work  %.6f GFLOP per run, %.2f GFLOP/s over the nodes' sum\n", flops * 1e-9,
            sum > 0 ? flops / sum : 0);
    print_kinds(out, kinds, n_kinds, sum);
    print_nodes(out, nodes, n, top, sum);
    free(nodes), free(kinds), free(order);
    return 0;
}
