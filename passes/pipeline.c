/* pipeline.c — the pass manager: the pass table, the -O levels, parsing a
 * pipeline string and running it.
 *
 * The levels are written out here and nowhere else, so that a reader sees
 * in one place what `-O2` does. After each pass the manager compacts the
 * graph (the pass's tombstones and garbage go), re-checks it when asked
 * (tests, debug builds), prints the IR when asked, and times the pass.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include "passes/pass.h"
#include "ir/edit.h"
#include "ir/text.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const kiln_pass_info kiln_passes[] = {
#define KILN_PASS(fn, name, summary) {name, summary, kiln_pass_##fn},
#include "passes/passes.def"
#undef KILN_PASS
    {NULL, NULL, NULL},
};

const kiln_pass_info *kiln_pass_find(const char *name)
{
    for (const kiln_pass_info *p = kiln_passes; p->name; p++)
        if (strcmp(p->name, name) == 0)
            return p;
    return NULL;
}

/* What each -O level runs. -O0 runs nothing: the graph as imported and
 * inferred, which is what the interpreter is checked against. The fusions
 * run after fold and cse (constants folded, duplicated constants merged,
 * so their constant operands are plain constants) and before dce. */
const char *kiln_pipeline_for_level(int level)
{
    static const char *const levels[] = {
        [0] = "",
        [1] = "fold,dce",
        [2] = "fold,cleanup,cse,fold-batchnorm,fuse-layernorm,fuse-gelu,fuse-attention,fuse-epilogue,fuse-elementwise,dce,pack-qkv,pack-weights",
        [3] = "fold,cleanup,cse,fold-batchnorm,fuse-layernorm,fuse-gelu,fuse-attention,fuse-epilogue,fuse-elementwise,dce,pack-qkv,pack-weights",
    };
    if (level < 0)
        level = 0;
    return levels[level > 3 ? 3 : level];
}

/* "known passes: a, b, c" for error messages. */
static void known_passes(char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    for (const kiln_pass_info *p = kiln_passes; p->name && n < size; p++)
        n += (size_t)snprintf(buf + n, size - n, "%s%s", p == kiln_passes ? "" : ", ", p->name);
}

kiln_status kiln_pipeline_parse(kiln_ctx *ctx, const char *text, kiln_pipeline *out)
{
    out->n = 0;
    for (const char *s = text; *s;) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        char name[64], known[1024];
        if (len == 0 || len >= sizeof name)
            return kiln_error(ctx, KILN_ERR_INVALID, "pipeline '%s': empty or overlong pass name", text);
        memcpy(name, s, len);
        name[len] = '\0';
        const kiln_pass_info *p = kiln_pass_find(name);
        if (!p) {
            known_passes(known, sizeof known);
            return kiln_error(ctx, KILN_ERR_INVALID, "unknown pass '%s' (known passes: %s)", name, known);
        }
        if (out->n == KILN_PIPELINE_MAX)
            return kiln_error(ctx, KILN_ERR_INVALID, "pipeline '%s': more than %d passes", text,
                              KILN_PIPELINE_MAX);
        out->pass[out->n++] = p;
        s += len + (e != NULL);
    }
    return KILN_OK;
}

void kiln_pass_remark(kiln_pass_ctx *pc, const kiln_graph *g, uint32_t node, const char *fmt, ...)
{
    char what[300];
    va_list ap;
    if (!pc->remarks)
        return;
    fprintf(pc->remarks, "remark: %s: %s: node %s: ", pc->pass ? pc->pass : "?",
            g->source && g->source[0] ? g->source : "<graph>", kiln_node_describe(g, node, what, sizeof what));
    va_start(ap, fmt);
    vfprintf(pc->remarks, fmt, ap);
    va_end(ap);
    fputc('\n', pc->remarks);
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static bool verify_always(void)
{
#ifndef NDEBUG
    return true;
#else
    return false;
#endif
}

/* Check the graph a pass left: verified and dense. The message names the
 * pass, since a broken graph after a pass is that pass's bug. */
static kiln_status check_after(kiln_ctx *ctx, const kiln_graph *g, const char *pass)
{
    kiln_status st = kiln_graph_verify(ctx, g);
    if (st == KILN_OK)
        st = kiln_graph_check_dense(ctx, g);
    if (st != KILN_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", kiln_ctx_message(ctx));
        return kiln_error(ctx, KILN_ERR_INVALID, "after pass '%s': %s", pass, msg);
    }
    return KILN_OK;
}

static void print_ir(FILE *out, const kiln_graph *g, const char *pass)
{
    char *text = kiln_text_format(g);
    fprintf(out, "; ---- IR after %s\n%s", pass, text);  /* a text-IR comment */
    free(text);
}

/* Hand a pass's product to the caller (replacing, and freeing, an earlier
 * one), or free it when the caller did not ask. */
static void take_result(kiln_pass_ctx *pc, const kiln_pipeline_run_opts *opts)
{
    if (!pc->result)
        return;
    if (opts->plan) {
        if (*opts->plan)
            pc->result_free(*opts->plan);
        *opts->plan = pc->result;
    } else {
        pc->result_free(pc->result);
    }
    pc->result = NULL;
}

kiln_status kiln_pipeline_run(kiln_ctx *ctx, kiln_graph *g, const kiln_pipeline *p,
                              const kiln_pipeline_run_opts *opts)
{
    static const kiln_pipeline_run_opts none;
    static const kiln_pass_options defaults;
    if (!opts)
        opts = &none;
    FILE *trace = opts->trace ? opts->trace : stderr;
    kiln_pass_ctx pc = {.ctx = ctx, .opts = opts->pass ? opts->pass : &defaults,
                        .remarks = opts->remarks ? trace : NULL};
    if (opts->time_passes)
        fprintf(trace, "%-22s %10s %8s %8s\n", "pass", "ms", "changes", "nodes");
    if (p->n)
        kiln_graph_compact(g);  /* every pass starts from a dense graph */
    for (uint32_t i = 0; i < p->n; i++) {
        const kiln_pass_info *pass = p->pass[i];
        double t0 = now_ms();
        pc.changes = 0;
        pc.pass = pass->name;
        kiln_status st = pass->run(&pc, g);
        if (st != KILN_OK)
            return st;
        /* A pass that changed nothing left nothing to compact (the check
         * below proves it), so what it computed about the graph, such as
         * the memory plan, keeps its indices. */
        if (pc.changes)
            kiln_graph_compact(g);
        double ms = now_ms() - t0;
        if ((opts->verify || verify_always()) && (st = check_after(ctx, g, pass->name)) != KILN_OK)
            return st;
        if (opts->time_passes)
            fprintf(trace, "%-22s %10.3f %8u %8u\n", pass->name, ms, pc.changes, g->n_nodes - 1);
        if (opts->print_after &&
            (strcmp(opts->print_after, "all") == 0 || strcmp(opts->print_after, pass->name) == 0))
            print_ir(trace, g, pass->name);
        take_result(&pc, opts);
        if (opts->stop_after && strcmp(opts->stop_after, pass->name) == 0)
            break;
    }
    return KILN_OK;
}
