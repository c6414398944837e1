/* context.c — the error context and the abort path for broken invariants.
 *
 * Library code never prints: it records one message (the latest error) and
 * any number of notes here, and the driver decides what to show.
 */
#include "ir/ir.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kiln_ctx {
    kiln_status status;
    char message[4096];
    char *notes;          /* malloc'd, newline-separated */
    size_t notes_len, notes_cap;
    uint32_t n_notes;     /* recorded, up to MAX_NOTES */
    uint64_t notes_dropped;
};

/* A hostile model can make a note per entry (100k value_info entries that
 * name nothing): keep the first ones, count the rest. */
enum { MAX_NOTES = 100 };

kiln_ctx *kiln_ctx_create(void)
{
    return kiln_xcalloc(1, sizeof(kiln_ctx));
}

void kiln_ctx_destroy(kiln_ctx *ctx)
{
    if (!ctx)
        return;
    free(ctx->notes);
    free(ctx);
}

/* A message is one line: a name from a hostile model may hold a newline or
 * a terminal escape, and not every message escapes its names, so the
 * control characters of the whole message are escaped here (kiln_escape:
 * names already escaped hold none). */
kiln_status kiln_error(kiln_ctx *ctx, kiln_status status, const char *fmt, ...)
{
    char raw[sizeof ctx->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    kiln_escape(raw, ctx->message, sizeof ctx->message);
    ctx->status = status;
    return status;
}

const char *kiln_ctx_message(const kiln_ctx *ctx) { return ctx->message; }
kiln_status kiln_ctx_status(const kiln_ctx *ctx) { return ctx->status; }

void kiln_ctx_clear(kiln_ctx *ctx)
{
    ctx->status = KILN_OK;
    ctx->message[0] = 0;
}

void kiln_ctx_clear_notes(kiln_ctx *ctx)
{
    free(ctx->notes);
    ctx->notes = NULL;
    ctx->notes_len = ctx->notes_cap = 0;
    ctx->n_notes = 0;
    ctx->notes_dropped = 0;
}

void kiln_note(kiln_ctx *ctx, const char *fmt, ...)
{
    char raw[1024], line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    kiln_escape(raw, line, sizeof line); /* one line each, as kiln_error */
    size_t n = strlen(line);
    if (ctx->n_notes == MAX_NOTES) {
        ctx->notes_dropped++;
        return;
    }
    ctx->n_notes++;
    /* room for this line and the "(N more notes)" line kiln_ctx_notes adds */
    if (ctx->notes_len + n + 64 > ctx->notes_cap) {
        ctx->notes_cap = (ctx->notes_len + n + 64) * 2;
        ctx->notes = kiln_xrealloc(ctx->notes, ctx->notes_cap);
    }
    memcpy(ctx->notes + ctx->notes_len, line, n);
    ctx->notes_len += n;
    ctx->notes[ctx->notes_len++] = '\n';
    ctx->notes[ctx->notes_len] = 0;
}

const char *kiln_ctx_notes(const kiln_ctx *ctx)
{
    if (!ctx->notes)
        return "";
    if (ctx->notes_dropped) /* the space was reserved with the last note */
        snprintf(ctx->notes + ctx->notes_len, ctx->notes_cap - ctx->notes_len,
                 "(%llu more notes not shown)\n", (unsigned long long)ctx->notes_dropped);
    return ctx->notes;
}

const char *kiln_status_name(kiln_status status)
{
    static const char *const names[KILN_STATUS_COUNT] = {
        [KILN_OK] = "ok",
        [KILN_ERR_INVALID] = "invalid",
        [KILN_ERR_UNSUPPORTED] = "unsupported",
        [KILN_ERR_IO] = "i/o error",
        [KILN_ERR_RUNTIME] = "runtime error",
    };
    return (unsigned)status < KILN_STATUS_COUNT ? names[status] : "?";
}

void kiln_panic(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "kiln: internal error at %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

void *kiln_xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    if (!q)
        kiln_panic(__FILE__, __LINE__, "out of memory (%zu bytes)", size);
    return q;
}

void *kiln_xcalloc(size_t n, size_t size)
{
    void *q = calloc(n ? n : 1, size ? size : 1);
    if (!q)
        kiln_panic(__FILE__, __LINE__, "out of memory (%zu x %zu bytes)", n, size);
    return q;
}
